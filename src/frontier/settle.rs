//! Settling leases: an outcome stored with the URLs it revealed (one transaction per batch), a
//! retry put back at the head of its origin's queue or parked in `delayed` until it is due.

use sled::transaction::Transactional;

use super::scan::origin_name;
use super::tally::{RoundTallies, Tallies};
use super::{
    enqueue_tx, origin_of_key, read_counters, write_counters, Candidate, Enqueued, Lease, Leases,
    OriginId, Prefetch, QueueEntry, QueueKey, QueueTx, SeenWrites,
};
use crate::error::Error;
use crate::error::Result;
use crate::frontier::memo::SeenMemo;
use crate::store::bodies::{position_key, BodyRef};
use crate::store::versions::{Revisit, Version};
use crate::store::{encode, HostRecord, PageRecord, Store};

/// One outcome to settle: see [`settle_batch`].
#[derive(Clone, Copy, Debug)]
pub struct Settlement<'a> {
    /// The lease it answers.
    pub lease: &'a Lease,
    /// The page record.
    pub record: &'a PageRecord,
    /// Where its body was written, when it has one.
    pub body: Option<&'a BodyRef>,
    /// In-scope URLs found (deduplicated here).
    pub found: &'a [Candidate],
    /// The host's politeness state to save.
    pub host: Option<&'a HostRecord>,
}

/// Settles a lease: writes the body, then stores the record, counts it, queues the new URLs it
/// revealed and saves the host's politeness state, all in one transaction. Returns the URLs
/// actually added (the unseen ones).
pub fn settle(
    store: &Store,
    lease: &Lease,
    record: &PageRecord,
    body: &[u8],
    found: &[Candidate],
    host: Option<&HostRecord>,
) -> Result<Vec<Enqueued>> {
    let body = match body {
        [] => None,
        b => Some(store.write_body(b)?),
    };
    let one = Settlement {
        lease,
        record,
        body: body.as_ref(),
        found,
        host,
    };
    let mut memo = SeenMemo::with_generation(1);
    Ok(settle_batch(store, &[one], &mut memo, &Leases::default())?
        .pop()
        .unwrap_or_default())
}

/// Settles several outcomes in one transaction (each as [`settle`] would, in order), so the
/// commit's fixed cost is paid once for all the outcomes that arrived together; the batch is
/// stored whole or not at all. Seen-set lookups go through `memo`, which learns every URL
/// looked up once the transaction has committed; URLs in `leases` are never moved. Returns,
/// per outcome, the URLs it added. The caller releases the batch's leases.
pub fn settle_batch(
    store: &Store,
    batch: &[Settlement<'_>],
    memo: &mut SeenMemo,
    leases: &Leases,
) -> Result<Vec<Vec<Enqueued>>> {
    let hosts_encoded: Vec<Option<Vec<u8>>> = batch.iter().map(|s| s.host.map(encode)).collect();
    // The records go to the page log before the transaction that counts them (see
    // `store::page_log`); if it does not commit, they are cut off again.
    let start = store.page_log.end();
    let frames = match write_frames(store, batch) {
        Ok(f) => f,
        Err(e) => return Err(cut_back(store, start, e)),
    };
    let end = store.page_log.end();
    let trees = store.outcome_trees();
    let mut seen = store.seen_set();
    let mut qs = store.queue_set();
    let found = batch.iter().flat_map(|s| s.found);
    let keys = batch.iter().map(|s| &s.lease.key);
    let pre = Prefetch::read(store, (&qs, &seen, memo), found, keys)?;
    let known = (&*memo, leases, &*seen, &pre);
    let committed = trees.transaction(
        |(meta, inbox, log, origins, host_pages, hosts, recent, rounds)| {
            let mut c = read_counters(meta)?;
            let mut tallies = Tallies::read(meta)?;
            let mut round = RoundTallies::read(meta)?;
            let mut learned = Vec::new();
            let mut writes = SeenWrites::default();
            let mut queue = QueueTx::new(&qs, &pre, log);
            let mut added = Vec::with_capacity(batch.len());
            for ((s, host), (pos, payload)) in batch.iter().zip(&hosts_encoded).zip(&frames) {
                if queue.remove(&s.lease.key)? {
                    c.queued = c.queued.saturating_sub(1);
                }
                recent.insert(pos, payload.as_slice())?;
                let outcome = (s.record, s.body, s.lease.entry.revisit.as_deref());
                count_outcome(&mut tallies, host_pages, outcome, &mut c, true)?;
                round.count(rounds, s.record)?;
                if let Some(h) = host {
                    hosts.insert(&s.lease.origin_id.to_be_bytes(), h.as_slice())?;
                }
                let found = (&mut writes, &mut learned);
                let trees = (&mut queue, origins);
                added.push(enqueue_tx(trees, s.found, &mut c, known, found)?);
            }
            write_counters(meta, &c)?;
            tallies.write(meta, end)?;
            round.write(meta)?;
            let key = writes.write(inbox)?;
            Ok((added, learned, key, writes, queue.finish()?))
        },
    );
    let (added, learned, key, writes, (qkey, ops)) = match committed {
        Ok(v) => v,
        Err(e) => {
            return Err(cut_back(
                store,
                start,
                store.tx_err("storing an outcome", e),
            ))
        }
    };
    store.queue_committed(&mut qs, qkey, ops)?;
    store.seen_committed(&mut seen, key, &writes.entries)?;
    for (hash, depth) in learned {
        memo.insert(hash, depth);
    }
    Ok(added)
}

/// Counts an outcome in (`add`: settled) or out (taken back by start-up recovery) of the
/// totals. A URL has one outcome in them, its latest content's: a recheck (`revisit`) that
/// stores a new version (changed, gone) takes the place of the one it checked, and a check (not
/// modified, unchanged, failed) changes none of them.
pub(super) fn count_outcome(
    tallies: &mut Tallies,
    host_pages: &sled::transaction::TransactionalTree,
    (record, body, revisit): (&PageRecord, Option<&BodyRef>, Option<&Revisit>),
    c: &mut crate::store::Counters,
    add: bool,
) -> super::TxResult<()> {
    let Some(r) = revisit else {
        return tallies.count(host_pages, record, body, c, add);
    };
    if !Version::of(record).change.is_content() {
        return Ok(());
    }
    let prior = r.prior.as_record(&record.url);
    tallies.count(host_pages, &prior, None, c, !add)?;
    tallies.count(host_pages, record, body, c, add)
}

/// Appends the batch's records to the page log; returns each frame's `recent` key and payload.
fn write_frames(store: &Store, batch: &[Settlement<'_>]) -> Result<Vec<([u8; 12], Vec<u8>)>> {
    batch
        .iter()
        .map(|s| {
            let ((segment, offset), payload) =
                store
                    .page_log
                    .append(s.record, s.body)
                    .map_err(|cause| Error::Bodies {
                        path: store.path().to_path_buf(),
                        action: "writing a page record",
                        cause,
                    })?;
            Ok((position_key(segment, offset), payload))
        })
        .collect()
}

/// Cuts the page log back to `start` after a batch failed to commit, and returns the batch's
/// error (or the cut's, which then matters more: the log holds records nothing counts).
fn cut_back(store: &Store, start: (u32, u64), e: Error) -> Error {
    match store.page_log.truncate(start) {
        Ok(()) => e,
        Err(cause) => Error::Bodies {
            path: store.path().to_path_buf(),
            action: "cutting back the records of a failed commit",
            cause,
        },
    }
}

/// Gives a lease back to the queue at its old place with one more attempt counted (a 429 or
/// 503 to retry after the host's pause), saving the host's state in the same transaction.
/// The caller releases the lease.
pub fn requeue(store: &Store, lease: &Lease, host: &HostRecord) -> Result<()> {
    let mut entry = lease.entry.clone();
    entry.attempts += 1;
    let host = encode(host);
    let mut qs = store.queue_set();
    let pre = Prefetch::default();
    let (qkey, ops) = (&store.queue_log, &store.hosts)
        .transaction(|(log, hosts)| {
            let mut queue = QueueTx::new(&qs, &pre, log);
            queue.insert(lease.key, entry.clone());
            hosts.insert(&lease.origin_id.to_be_bytes(), host.as_slice())?;
            queue.finish()
        })
        .map_err(|e| store.tx_err("re-queueing a URL", e))?;
    store.queue_committed(&mut qs, qkey, ops)
}

/// Parks a lease until `due_ms` (unix ms) with one more attempt counted: a transient failure
/// to retry after its back-off. The host's state is saved in the same transaction. The caller
/// releases the lease.
pub fn delay(store: &Store, lease: &Lease, due_ms: u64, host: Option<&HostRecord>) -> Result<()> {
    let mut entry = lease.entry.clone();
    entry.attempts += 1;
    let entry = crate::frontier::entry::encode_entry(&entry);
    let host = host.map(encode);
    let key = [&due_ms.to_be_bytes()[..], &lease.key[..]].concat();
    let mut qs = store.queue_set();
    let pre = Prefetch::default();
    let (qkey, ops) = (&store.delayed, &store.queue_log, &store.hosts)
        .transaction(|(delayed, log, hosts)| {
            let mut queue = QueueTx::new(&qs, &pre, log);
            queue.remove(&lease.key)?;
            delayed.insert(key.as_slice(), entry.as_slice())?;
            if let Some(h) = &host {
                hosts.insert(&lease.origin_id.to_be_bytes(), h.as_slice())?;
            }
            queue.finish()
        })
        .map_err(|e| store.tx_err("delaying a retry", e))?;
    store.queue_committed(&mut qs, qkey, ops)
}

/// When the earliest parked retry is due (unix ms), if any.
pub fn next_due(store: &Store) -> Result<Option<u64>> {
    let first = store
        .delayed
        .first()
        .map_err(|e| store.db_err("reading retries", e))?;
    Ok(first.and_then(|(k, _)| Some(u64::from_be_bytes(k.get(..8)?.try_into().ok()?))))
}

/// Moves every retry due by `now_ms` back to its old place in the queue; returns the origins
/// (id, name) that got work back.
pub fn release_due(store: &Store, now_ms: u64) -> Result<Vec<(OriginId, String)>> {
    let end = (now_ms + 1).to_be_bytes();
    let due: Vec<(sled::IVec, sled::IVec)> = store
        .delayed
        .range(..&end[..])
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| store.db_err("reading retries", e))?;
    if due.is_empty() {
        return Ok(Vec::new());
    }
    let parked: Vec<(QueueKey, QueueEntry)> = due
        .iter()
        .map(|(k, v)| {
            let key: QueueKey =
                k.get(8..)
                    .and_then(|k| k.try_into().ok())
                    .ok_or_else(|| Error::Corrupt {
                        key: "delayed".into(),
                        reason: format!("key of {} bytes", k.len()),
                    })?;
            Ok((key, crate::frontier::entry::decode_entry("delayed", v)?))
        })
        .collect::<Result<_>>()?;
    let mut qs = store.queue_set();
    let pre = Prefetch::default();
    let (qkey, ops) = (&store.queue_log, &store.delayed)
        .transaction(|(log, delayed)| {
            let mut queue = QueueTx::new(&qs, &pre, log);
            for ((k, _), (key, entry)) in due.iter().zip(&parked) {
                delayed.remove(k)?;
                queue.insert(*key, entry.clone());
            }
            queue.finish()
        })
        .map_err(|e| store.tx_err("releasing retries", e))?;
    store.queue_committed(&mut qs, qkey, ops)?;
    drop(qs);
    due.iter()
        .filter_map(|(k, _)| origin_of_key(&k[8..]).map(crate::frontier::entry::host_of))
        .map(|id| Ok((id, origin_name(store, id)?)))
        .collect()
}
