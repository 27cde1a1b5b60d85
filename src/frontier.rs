//! The persistent frontier: the seen-set, one FIFO queue per origin, and leases.
//!
//! A URL's life is queued → leased (in memory: it stays queued in the database) → done |
//! failed. Each change is one sled transaction over the trees described in
//! [`crate::store`]; an outcome commits the page record, the URL's final
//! state, the URLs it revealed (with their seen-set entries) and the counters together, so a
//! crash leaves either all of it or none of it.
//!
//! Queue keys are `origin id ++ depth ++ sequence number`, all big-endian: a prefix scan yields
//! one origin's shallowest URL first, then discovery order (breadth-first per origin), and the
//! scheduler can pick any ready origin without scanning past the URLs of a slow one. The
//! seen-set maps each URL to its queue key, so a URL found again at a smaller depth while
//! still queued moves up to that depth: concurrent workers finishing out of order do not
//! inflate depths (and `--max-depth` cuts at the true link distance).

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use sled::transaction::{
    ConflictableTransactionError, Transactional, TransactionalTree, UnabortableTransactionError,
};
use url::Url;

use crate::canon;
use crate::error::{Error, Result};
use crate::seen::SeenMemo;
use crate::store::bodies::BodyRef;
use crate::store::{
    decode, encode, Counters, HostRecord, PageRecord, Store, UrlState, KEY_COUNTERS,
};

/// Small dense number standing for an origin in queue keys.
pub type OriginId = u64;

/// A queued URL. Attempts travel with it, so a retried or resumed URL keeps its count.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueEntry {
    /// Normalized URL.
    pub url: String,
    /// Link distance from a seed.
    pub depth: u32,
    /// Page that linked here.
    pub referrer: Option<String>,
    /// Requests already made for this URL.
    pub attempts: u32,
    /// It is a sitemap (read for URLs, queued by `--sitemaps`), not a page.
    pub sitemap: bool,
    /// The redirects that led to it, first hop first.
    pub redirect_chain: Vec<String>,
}

/// A URL handed to a worker: it is in the `inflight` tree until its outcome is settled.
#[derive(Clone, Debug)]
pub struct Lease {
    /// Its key in `queue` and `inflight`.
    pub key: QueueKey,
    /// Which origin it belongs to.
    pub origin_id: OriginId,
    /// The queued entry.
    pub entry: QueueEntry,
    /// The origin has more queued after this one.
    pub more: bool,
}

/// A URL found on a page (or a redirect target), already normalized and in scope.
#[derive(Clone, Debug)]
pub struct Candidate {
    /// The URL.
    pub url: Url,
    /// Its depth.
    pub depth: u32,
    /// Where it was found.
    pub referrer: Option<String>,
    /// It is a sitemap.
    pub sitemap: bool,
    /// The redirects that led to it.
    pub redirect_chain: Vec<String>,
}

/// One URL newly put in the queue, reported so the scheduler can wake its origin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enqueued {
    /// The origin's id.
    pub origin_id: OriginId,
    /// The origin, e.g. `http://example.com`.
    pub origin: String,
}

type TxResult<T> = std::result::Result<T, ConflictableTransactionError<Error>>;

/// Key of a queued URL: origin id (8 bytes) ++ depth (4) ++ sequence number (8).
pub type QueueKey = [u8; 20];

fn queue_key(origin_id: OriginId, depth: u32, seq: u64) -> QueueKey {
    let mut k = [0u8; 20];
    k[..8].copy_from_slice(&origin_id.to_be_bytes());
    k[8..12].copy_from_slice(&depth.to_be_bytes());
    k[12..].copy_from_slice(&seq.to_be_bytes());
    k
}

fn depth_of_key(key: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(key.get(8..12)?.try_into().ok()?))
}

fn origin_of_key(key: &[u8]) -> Option<OriginId> {
    Some(u64::from_be_bytes(key.get(..8)?.try_into().ok()?))
}

fn storage(e: sled::Error) -> ConflictableTransactionError<Error> {
    UnabortableTransactionError::from(e).into()
}

fn read_counters(meta: &TransactionalTree) -> TxResult<Counters> {
    match meta.get(KEY_COUNTERS)? {
        Some(v) => decode("meta/counters", &v).map_err(ConflictableTransactionError::Abort),
        None => Ok(Counters::default()),
    }
}

fn write_counters(meta: &TransactionalTree, c: &Counters) -> TxResult<()> {
    meta.insert(KEY_COUNTERS, encode(c))?;
    Ok(())
}

/// The id of `origin`, assigned on first sight inside the caller's transaction.
fn origin_id_tx(origins: &TransactionalTree, origin: &str) -> TxResult<OriginId> {
    let name_key = [b"n", origin.as_bytes()].concat();
    if let Some(v) = origins.get(&name_key)? {
        return origin_of_key(&v).ok_or_else(|| {
            ConflictableTransactionError::Abort(Error::Corrupt {
                key: format!("origins/{origin}"),
                reason: "id is not 8 bytes".into(),
            })
        });
    }
    let id = origins.generate_id().map_err(storage)?;
    origins.insert(name_key, &id.to_be_bytes())?;
    origins.insert([&b"i"[..], &id.to_be_bytes()].concat(), origin.as_bytes())?;
    Ok(id)
}

/// Queues each candidate not seen before; the trees are the caller's transaction views.
/// Candidates `memo` already covers skip the database; every URL looked up is added to
/// `learned` (hash, depth), for the caller to remember once the transaction has committed.
fn enqueue_tx(
    (seen, queue, origins): (&TransactionalTree, &TransactionalTree, &TransactionalTree),
    candidates: &[Candidate],
    counters: &mut Counters,
    (memo, leases): (&SeenMemo, &Leases),
    learned: &mut Vec<(u128, u32)>,
) -> TxResult<Vec<Enqueued>> {
    let mut added = Vec::new();
    // Origins already looked up in this call (a page's links mostly share one).
    let mut ids: Vec<(String, OriginId)> = Vec::new();
    for c in candidates {
        let url = c.url.as_str();
        let hash = SeenMemo::key(url);
        if memo.covers(hash, c.depth) {
            continue;
        }
        let entry = QueueEntry {
            url: url.to_string(),
            depth: c.depth,
            referrer: c.referrer.clone(),
            attempts: 0,
            sitemap: c.sitemap,
            redirect_chain: c.redirect_chain.clone(),
        };
        if let Some(old_key) = seen.get(url)? {
            let depth = if leases.contains(&old_key) {
                depth_of_key(&old_key).unwrap_or(0)
            } else {
                move_up_if_shallower(queue, seen, &old_key, &entry)?
            };
            learned.push((hash, depth));
            continue;
        }
        let origin = canon::origin_key(&c.url);
        let origin_id = match ids.iter().rev().find(|(o, _)| *o == origin) {
            Some((_, id)) => *id,
            None => {
                let id = origin_id_tx(origins, &origin)?;
                if ids.len() >= 8 {
                    ids.remove(0);
                }
                ids.push((origin.clone(), id));
                id
            }
        };
        push_tx((seen, queue), origin_id, &entry, counters)?;
        learned.push((hash, c.depth));
        added.push(Enqueued { origin_id, origin });
    }
    Ok(added)
}

/// Queues a new URL at the end of its origin's queue at its depth, and records its queue key
/// in the seen-set.
fn push_tx(
    (seen, queue): (&TransactionalTree, &TransactionalTree),
    origin_id: OriginId,
    entry: &QueueEntry,
    counters: &mut Counters,
) -> TxResult<()> {
    let seq = queue.generate_id().map_err(storage)?;
    let key = queue_key(origin_id, entry.depth, seq);
    seen.insert(entry.url.as_bytes(), &key)?;
    queue.insert(&key, encode(entry))?;
    counters.queued += 1;
    Ok(())
}

/// A URL already queued deeper than `entry` moves to `entry`'s depth (same origin, same
/// sequence number). Stored URLs are left alone (and leased ones, by the caller). Returns the
/// depth the URL's seen-set entry has afterwards.
fn move_up_if_shallower(
    queue: &TransactionalTree,
    seen: &TransactionalTree,
    old_key: &[u8],
    entry: &QueueEntry,
) -> TxResult<u32> {
    let (Some(old_depth), Some(origin_id)) = (depth_of_key(old_key), origin_of_key(old_key)) else {
        return Ok(0);
    };
    if entry.depth >= old_depth || queue.get(old_key)?.is_none() {
        return Ok(old_depth);
    }
    let seq = u64::from_be_bytes(old_key[12..20].try_into().unwrap_or([0; 8]));
    let key = queue_key(origin_id, entry.depth, seq);
    queue.remove(old_key)?;
    queue.insert(&key, encode(entry))?;
    seen.insert(entry.url.as_bytes(), &key)?;
    Ok(entry.depth)
}

/// Adds seeds (depth 0) unless this database has seen them already.
pub fn add_seeds(store: &Store, seeds: &[Url]) -> Result<Vec<Enqueued>> {
    let candidates: Vec<Candidate> = seeds
        .iter()
        .map(|u| Candidate {
            url: u.clone(),
            depth: 0,
            referrer: None,
            sitemap: false,
            redirect_chain: Vec::new(),
        })
        .collect();
    add_candidates(store, &candidates)
}

/// Queues URLs found outside a page outcome (seeds, robots.txt sitemaps) unless seen already.
pub fn add_candidates(store: &Store, candidates: &[Candidate]) -> Result<Vec<Enqueued>> {
    (&store.meta, &store.seen, &store.queue, &store.origins)
        .transaction(|(meta, seen, queue, origins)| {
            let mut c = read_counters(meta)?;
            let (memo, leases) = (SeenMemo::with_generation(1), Leases::default());
            let known = (&memo, &leases);
            let added = enqueue_tx(
                (seen, queue, origins),
                candidates,
                &mut c,
                known,
                &mut Vec::new(),
            )?;
            write_counters(meta, &c)?;
            Ok(added)
        })
        .map_err(|e| store.tx_err("queueing URLs", e))
}

/// The URLs leased to workers in this run. A leased URL stays in `queue` until its outcome
/// is settled (which removes it in the same transaction that stores the outcome), so leasing
/// costs no database write, and a crash simply leaves it queued; this set keeps it from being
/// handed out twice meanwhile.
#[derive(Debug, Default)]
pub struct Leases {
    keys: HashSet<QueueKey>,
}

impl Leases {
    /// URLs leased and not yet settled or given back.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Nothing leased.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The lease is over (settled, re-queued or parked).
    pub fn release(&mut self, key: &QueueKey) {
        self.keys.remove(key);
    }

    fn contains(&self, key: &[u8]) -> bool {
        <&QueueKey>::try_from(key).is_ok_and(|k| self.keys.contains(k))
    }
}

/// Leases the oldest shallowest queued URL of `origin_id` not leased already, or `None` when
/// it has none.
pub fn lease(store: &Store, origin_id: OriginId, leases: &mut Leases) -> Result<Option<Lease>> {
    let mut found = None;
    let mut more = false;
    for kv in store.queue.scan_prefix(origin_id.to_be_bytes()) {
        let (k, v) = kv.map_err(|e| store.db_err("reading the queue", e))?;
        if leases.contains(&k) {
            continue;
        }
        if found.is_some() {
            more = true;
            break;
        }
        found = Some((k, v));
    }
    let Some((k, v)) = found else {
        return Ok(None);
    };
    let key: QueueKey = k.as_ref().try_into().map_err(|_| Error::Corrupt {
        key: "queue".into(),
        reason: format!("key of {} bytes", k.len()),
    })?;
    let entry: QueueEntry = decode("queue entry", &v)?;
    leases.keys.insert(key);
    Ok(Some(Lease {
        key,
        origin_id,
        entry,
        more,
    }))
}

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
    type Encoded = (Vec<u8>, Option<Vec<u8>>, Option<Vec<u8>>);
    let encoded: Vec<Encoded> = batch
        .iter()
        .map(|s| (encode(s.record), s.host.map(encode), s.body.map(encode)))
        .collect();
    let trees = (
        &store.meta,
        &store.seen,
        &store.queue,
        &store.origins,
        &store.pages,
        &store.bodies,
        &store.hosts,
        &store.recent,
    );
    let known = (&*memo, leases);
    let (added, learned) = trees
        .transaction(
            |(meta, seen, queue, origins, pages, bodies, hosts, recent)| {
                let mut c = read_counters(meta)?;
                let mut learned = Vec::new();
                let mut added = Vec::with_capacity(batch.len());
                for (s, (rec, host, body)) in batch.iter().zip(&encoded) {
                    let url = s.lease.entry.url.as_bytes();
                    if queue.remove(&s.lease.key)?.is_some() {
                        c.queued = c.queued.saturating_sub(1);
                    }
                    pages.insert(url, rec.as_slice())?;
                    if let (Some(r), Some(encoded)) = (s.body, body) {
                        bodies.insert(url, encoded.as_slice())?;
                        recent.insert(&r.position_key(), url)?;
                        c.bytes += r.len;
                    }
                    match s.record.state {
                        UrlState::Done => c.done += 1,
                        UrlState::Failed => c.failed += 1,
                        UrlState::Blocked => c.blocked += 1,
                    }
                    if let Some(h) = host {
                        hosts.insert(&s.lease.origin_id.to_be_bytes(), h.as_slice())?;
                    }
                    let trees = (seen, queue, origins);
                    added.push(enqueue_tx(trees, s.found, &mut c, known, &mut learned)?);
                }
                write_counters(meta, &c)?;
                Ok((added, learned))
            },
        )
        .map_err(|e| store.tx_err("storing an outcome", e))?;
    for (hash, depth) in learned {
        memo.insert(hash, depth);
    }
    Ok(added)
}

/// Gives a lease back to the queue at its old place with one more attempt counted (a 429 or
/// 503 to retry after the host's pause), saving the host's state in the same transaction.
/// The caller releases the lease.
pub fn requeue(store: &Store, lease: &Lease, host: &HostRecord) -> Result<()> {
    let mut entry = lease.entry.clone();
    entry.attempts += 1;
    let entry = encode(&entry);
    let host = encode(host);
    (&store.queue, &store.hosts)
        .transaction(|(queue, hosts)| {
            queue.insert(&lease.key, entry.as_slice())?;
            hosts.insert(&lease.origin_id.to_be_bytes(), host.as_slice())?;
            Ok(())
        })
        .map_err(|e| store.tx_err("re-queueing a URL", e))
}

/// Parks a lease until `due_ms` (unix ms) with one more attempt counted: a transient failure
/// to retry after its back-off. The host's state is saved in the same transaction. The caller
/// releases the lease.
pub fn delay(store: &Store, lease: &Lease, due_ms: u64, host: Option<&HostRecord>) -> Result<()> {
    let mut entry = lease.entry.clone();
    entry.attempts += 1;
    let entry = encode(&entry);
    let host = host.map(encode);
    let key = [&due_ms.to_be_bytes()[..], &lease.key[..]].concat();
    (&store.delayed, &store.queue, &store.hosts)
        .transaction(|(delayed, queue, hosts)| {
            queue.remove(&lease.key)?;
            delayed.insert(key.as_slice(), entry.as_slice())?;
            if let Some(h) = &host {
                hosts.insert(&lease.origin_id.to_be_bytes(), h.as_slice())?;
            }
            Ok(())
        })
        .map_err(|e| store.tx_err("delaying a retry", e))
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
    (&store.queue, &store.delayed)
        .transaction(|(queue, delayed)| {
            for (k, v) in &due {
                delayed.remove(k)?;
                queue.insert(&k[8..], v)?;
            }
            Ok(())
        })
        .map_err(|e| store.tx_err("releasing retries", e))?;
    due.iter()
        .filter_map(|(k, _)| origin_of_key(&k[8..]))
        .map(|id| Ok((id, origin_name(store, id)?)))
        .collect()
}

/// The origin an id stands for.
pub fn origin_name(store: &Store, id: OriginId) -> Result<String> {
    let name_key = [&b"i"[..], &id.to_be_bytes()].concat();
    Ok(store
        .origins
        .get(name_key)
        .map_err(|e| store.db_err("reading origins", e))?
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .unwrap_or_else(|| format!("origin#{id}")))
}

/// Checks the bodies written just before the last stop (the `recent` tree, see
/// [`crate::store::bodies`]) and sends every URL whose body did not reach the disk back to the queue,
/// as if its outcome had never been stored. Run at start-up; returns how many went back.
pub fn recover_bodies(store: &Store) -> Result<u64> {
    let recent: Vec<(sled::IVec, sled::IVec)> = store
        .recent
        .iter()
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| store.db_err("reading recent bodies", e))?;
    let mut lost = Vec::new();
    for (_, url) in &recent {
        let url = String::from_utf8_lossy(url).into_owned();
        let Some(r) = store.body_ref(&url)? else {
            continue;
        };
        if !store.body_log.is_intact(&r) {
            if let Some(rec) = store.page(&url)? {
                lost.push((rec, r));
            }
        }
    }
    let trees = (
        &store.meta,
        &store.seen,
        &store.queue,
        &store.origins,
        &store.pages,
        &store.bodies,
        &store.recent,
    );
    trees
        .transaction(|(meta, seen, queue, origins, pages, bodies, recent_tx)| {
            let mut c = read_counters(meta)?;
            for (rec, r) in &lost {
                log::warn!(
                    "{}: its body did not reach the disk; fetching it again",
                    rec.url
                );
                pages.remove(rec.url.as_bytes())?;
                bodies.remove(rec.url.as_bytes())?;
                match rec.state {
                    UrlState::Done => c.done = c.done.saturating_sub(1),
                    UrlState::Failed => c.failed = c.failed.saturating_sub(1),
                    UrlState::Blocked => c.blocked = c.blocked.saturating_sub(1),
                }
                c.bytes = c.bytes.saturating_sub(r.len);
                let entry = QueueEntry {
                    url: rec.url.clone(),
                    depth: rec.depth,
                    referrer: rec.referrer.clone(),
                    attempts: rec.attempts,
                    sitemap: false,
                    redirect_chain: rec.redirect_chain.clone(),
                };
                let origin = Url::parse(&rec.url)
                    .map(|u| canon::origin_key(&u))
                    .unwrap_or_default();
                let origin_id = origin_id_tx(origins, &origin)?;
                push_tx((seen, queue), origin_id, &entry, &mut c)?;
            }
            for (k, _) in &recent {
                recent_tx.remove(k)?;
            }
            write_counters(meta, &c)
        })
        .map_err(|e| store.tx_err("re-queueing URLs whose bodies were lost", e))?;
    Ok(lost.len() as u64)
}

/// A chunk of origins with queued work (id, origin) and where the scan continues.
pub type OriginScan = (Vec<(OriginId, String)>, Option<OriginId>);

/// Up to `max` origins with queued work, from origin id `from` up, and the id to continue
/// from (`None`: no more). One seek per origin found (a skip-scan of the queue's origin
/// prefixes), so a resume reads them a chunk at a time as it needs them instead of scanning
/// the whole queue before its first request.
pub fn origins_with_work(store: &Store, from: OriginId, max: usize) -> Result<OriginScan> {
    let mut out = Vec::new();
    let mut from = from;
    while out.len() < max {
        let next = store
            .queue
            .range(from.to_be_bytes()..)
            .keys()
            .next()
            .transpose()
            .map_err(|e| store.db_err("reading the queue", e))?;
        let Some(id) = next.as_deref().and_then(origin_of_key) else {
            return Ok((out, None));
        };
        out.push((id, origin_name(store, id)?));
        match id.checked_add(1) {
            Some(n) => from = n,
            None => return Ok((out, None)),
        }
    }
    Ok((out, Some(from)))
}

/// Queued URLs per origin, counted over the whole queue (for tests and checks; start-up uses
/// [`origins_with_work`]).
pub fn queued_by_origin(store: &Store) -> Result<BTreeMap<OriginId, (String, u64)>> {
    let mut counts: BTreeMap<OriginId, u64> = BTreeMap::new();
    for k in store.queue.iter().keys() {
        let k = k.map_err(|e| store.db_err("reading the queue", e))?;
        if let Some(id) = origin_of_key(&k) {
            *counts.entry(id).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .map(|(id, n)| Ok((id, (origin_name(store, id)?, n))))
        .collect()
}

/// Whether `url` was ever queued in this database.
pub fn is_seen(store: &Store, url: &str) -> Result<bool> {
    store
        .seen
        .contains_key(url)
        .map_err(|e| store.db_err("reading the seen-set", e))
}

/// Counters recomputed from the trees, for checking that the kept totals are right.
pub fn recount(store: &Store) -> Result<Counters> {
    let mut c = Counters {
        queued: (store.queue.len() + store.delayed.len()) as u64,
        ..Counters::default()
    };
    for rec in store.pages() {
        let rec = rec?;
        match rec.state {
            UrlState::Done => c.done += 1,
            UrlState::Failed => c.failed += 1,
            UrlState::Blocked => c.blocked += 1,
        }
        c.bytes += rec.body_len;
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::OpenMode;

    fn open(tag: &str) -> Store {
        let d = std::env::temp_dir().join(format!("pc-frontier-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        Store::open(&d, OpenMode::CreateOrOpen).unwrap()
    }

    fn cand(u: &str, depth: u32) -> Candidate {
        Candidate {
            url: Url::parse(u).unwrap(),
            depth,
            referrer: None,
            sitemap: false,
            redirect_chain: vec![],
        }
    }

    fn record(url: &str) -> PageRecord {
        PageRecord {
            url: url.into(),
            final_url: url.into(),
            state: UrlState::Done,
            status: Some(200),
            headers: vec![],
            content_type: None,
            body_len: 4,
            truncated: false,
            body_skipped: false,
            redirect_chain: vec![],
            fetched_at: String::new(),
            elapsed_ms: 0,
            depth: 0,
            referrer: None,
            attempts: 1,
            error: None,
        }
    }

    #[test]
    fn queue_key_orders_by_origin_then_sequence() {
        assert!(queue_key(1, 9, u64::MAX) < queue_key(2, 0, 0));
        assert!(queue_key(7, 1, 256) < queue_key(7, 2, 1), "shallower first");
        assert!(queue_key(7, 1, 255) < queue_key(7, 1, 256));
        assert_eq!(origin_of_key(&queue_key(42, 3, 9)), Some(42));
        assert_eq!(depth_of_key(&queue_key(42, 3, 9)), Some(3));
    }

    #[test]
    fn lease_settle_and_dedupe_keep_counters_true() {
        let s = open("life");
        let added = add_seeds(&s, &[Url::parse("http://a.test/").unwrap()]).unwrap();
        assert_eq!(added.len(), 1);
        assert!(add_seeds(&s, &[Url::parse("http://a.test/").unwrap()])
            .unwrap()
            .is_empty());
        let a = added[0].origin_id;

        let mut leases = Leases::default();
        let l = lease(&s, a, &mut leases).unwrap().unwrap();
        assert_eq!(l.entry.url, "http://a.test/");
        assert!(lease(&s, a, &mut leases).unwrap().is_none(), "leased once");
        let found = [
            cand("http://a.test/x", 1),
            cand("http://a.test/", 1),
            cand("http://b.test/y", 1),
        ];
        let added = settle(&s, &l, &record("http://a.test/"), b"body", &found, None).unwrap();
        assert_eq!(added.len(), 2, "the page itself is not queued again");
        assert_ne!(added[0].origin_id, added[1].origin_id);
        assert_eq!(added[0].origin_id, a);
        let c = s.counters().unwrap();
        assert_eq!((c.queued, c.in_flight, c.done, c.bytes), (2, 0, 1, 4));
        assert_eq!(recount(&s).unwrap(), c);
        assert_eq!(&s.body("http://a.test/").unwrap().unwrap()[..], b"body");
        let by = queued_by_origin(&s).unwrap();
        assert_eq!(by[&a], ("http://a.test".to_string(), 1));
    }

    #[test]
    fn a_url_found_again_shallower_moves_up() {
        let s = open("depth");
        let added = add_seeds(&s, &[Url::parse("http://a.test/").unwrap()]).unwrap();
        let a = added[0].origin_id;
        let l = lease(&s, a, &mut Leases::default()).unwrap().unwrap();
        let found = [cand("http://a.test/deep", 5), cand("http://a.test/x", 1)];
        settle(&s, &l, &record("http://a.test/"), b"body", &found, None).unwrap();
        let l = lease(&s, a, &mut Leases::default()).unwrap().unwrap();
        assert_eq!(l.entry.url, "http://a.test/x", "shallowest first");
        settle(
            &s,
            &l,
            &record("http://a.test/x"),
            b"body",
            &[cand("http://a.test/deep", 2)],
            None,
        )
        .unwrap();
        let l = lease(&s, a, &mut Leases::default()).unwrap().unwrap();
        assert_eq!(
            (l.entry.url.as_str(), l.entry.depth),
            ("http://a.test/deep", 2)
        );
        assert_eq!(recount(&s).unwrap(), s.counters().unwrap());
    }

    #[test]
    fn delayed_retries_come_back_when_due_at_their_place() {
        let s = open("delay");
        let added = add_seeds(
            &s,
            &[
                Url::parse("http://a.test/1").unwrap(),
                Url::parse("http://a.test/2").unwrap(),
            ],
        )
        .unwrap();
        let a = added[0].origin_id;
        let l = lease(&s, a, &mut Leases::default()).unwrap().unwrap();
        delay(&s, &l, 5_000, None).unwrap();
        assert_eq!(next_due(&s).unwrap(), Some(5_000));
        assert_eq!(recount(&s).unwrap(), s.counters().unwrap());
        assert!(release_due(&s, 4_999).unwrap().is_empty());
        assert_eq!(
            release_due(&s, 5_000).unwrap(),
            [(a, "http://a.test".to_string())]
        );
        let again = lease(&s, a, &mut Leases::default()).unwrap().unwrap();
        assert_eq!(
            (again.entry.url.as_str(), again.entry.attempts),
            ("http://a.test/1", 1)
        );
        assert_eq!(next_due(&s).unwrap(), None);
        assert_eq!(recount(&s).unwrap(), s.counters().unwrap());
    }

    #[test]
    fn a_leased_url_is_handed_out_once_and_comes_back_after_a_crash() {
        let s = open("recover");
        let urls = ["http://a.test/1", "http://a.test/2"].map(|u| Url::parse(u).unwrap());
        let added = add_seeds(&s, &urls).unwrap();
        let a = added[0].origin_id;
        let mut leases = Leases::default();
        let l = lease(&s, a, &mut leases).unwrap().unwrap();
        assert_eq!(l.entry.url, "http://a.test/1", "FIFO per origin");
        assert!(l.more);
        let l2 = lease(&s, a, &mut leases).unwrap().unwrap();
        assert_eq!((l2.entry.url.as_str(), l2.more), ("http://a.test/2", false));
        assert!(lease(&s, a, &mut leases).unwrap().is_none());
        // A shallower find of a leased URL must not move it: its settle removes its key.
        let found = [cand("http://a.test/1", 0)];
        let mut memo = SeenMemo::default();
        let no_body = PageRecord {
            body_len: 0,
            ..record("http://a.test/2")
        };
        let one = Settlement {
            lease: &l2,
            record: &no_body,
            body: None,
            found: &found,
            host: None,
        };
        settle_batch(&s, &[one], &mut memo, &leases).unwrap();
        // A crash: the leases are gone with the process, the URL is still queued.
        drop(leases);
        let again = lease(&s, a, &mut Leases::default()).unwrap().unwrap();
        assert_eq!(
            (again.entry.url.as_str(), again.key),
            ("http://a.test/1", l.key),
            "the leased URL keeps its place"
        );
        assert_eq!(recount(&s).unwrap(), s.counters().unwrap());
    }

    #[test]
    fn a_body_lost_in_a_power_cut_sends_its_url_back_to_the_queue() {
        let s = open("powercut");
        let added = add_seeds(&s, &[Url::parse("http://a.test/").unwrap()]).unwrap();
        let a = added[0].origin_id;
        let l = lease(&s, a, &mut Leases::default()).unwrap().unwrap();
        let found = [cand("http://a.test/x", 1)];
        let body = b"<html>the page</html>";
        settle(&s, &l, &record("http://a.test/"), body, &found, None).unwrap();
        assert_eq!(s.counters().unwrap().done, 1);
        // The record reached the disk, its body did not (the segment is cut back).
        let seg = s
            .path()
            .join(crate::store::bodies::DIR)
            .join("00000001.seg");
        std::fs::OpenOptions::new()
            .write(true)
            .open(&seg)
            .unwrap()
            .set_len(5)
            .unwrap();
        assert_eq!(recover_bodies(&s).unwrap(), 1);
        assert!(s.page("http://a.test/").unwrap().is_none());
        assert!(s.body("http://a.test/").unwrap().is_none());
        let c = s.counters().unwrap();
        assert_eq!((c.done, c.queued, c.bytes), (0, 2, 0));
        assert_eq!(recount(&s).unwrap(), c);
        let again = lease(&s, a, &mut Leases::default()).unwrap().unwrap();
        assert_eq!(again.entry.url, "http://a.test/", "fetched again, first");
        // Intact bodies are kept, and the check is done once.
        assert_eq!(recover_bodies(&s).unwrap(), 0);
    }

    #[test]
    fn origins_with_work_come_in_chunks_and_skip_empty_origins() {
        let s = open("scan");
        let urls: Vec<Url> = (0..5)
            .map(|h| Url::parse(&format!("http://h{h}.test/a")).unwrap())
            .collect();
        let added = add_seeds(&s, &urls).unwrap();
        // Origin h1 runs dry: its only URL is settled.
        let l = lease(&s, added[1].origin_id, &mut Leases::default())
            .unwrap()
            .unwrap();
        settle(&s, &l, &record("http://h1.test/a"), b"", &[], None).unwrap();
        let (first, next) = origins_with_work(&s, 0, 2).unwrap();
        let names: Vec<&str> = first.iter().map(|(_, o)| o.as_str()).collect();
        assert_eq!(names, ["http://h0.test", "http://h2.test"]);
        let (rest, end) = origins_with_work(&s, next.unwrap(), 10).unwrap();
        let names: Vec<&str> = rest.iter().map(|(_, o)| o.as_str()).collect();
        assert_eq!(names, ["http://h3.test", "http://h4.test"]);
        assert_eq!(end, None);
    }
}
