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
//! seen-set (`sled::seen`) holds each URL's fingerprint with the depth and sequence number
//! of its queue key, so a URL found again at a smaller depth while still queued moves up to
//! that depth: concurrent workers finishing out of order do not
//! inflate depths (and `--max-depth` cuts at the true link distance).

mod backend;
pub mod entry;
pub(crate) mod memo;
pub mod postgres;
mod rechecks;
mod recover;
mod scan;
mod settle;
pub mod sled;
mod tally;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};

use ::sled::transaction::{
    ConflictableTransactionError, Transactional, TransactionalTree, UnabortableTransactionError,
};
use url::Url;

use crate::canon;
use crate::error::{Error, Result};
use crate::store::{decode, encode, Counters, Store, KEY_COUNTERS};
use entry::Op;
pub use entry::{
    depth_of_key, origin_of_key, queue_key, OriginId, QueueEntry, QueueKey, SitemapRole, RECHECKS,
};
use memo::SeenMemo;
use sled::queue::{QueueSet, QueueWrites};
use sled::seen::{self, Entry, SeenSet};

/// A URL handed to a worker. Leases live in the engine's memory ([`Leases`]): the URL stays in
/// `queue` until its outcome is settled, so a crash simply hands it out again.
#[derive(Clone, Debug)]
pub struct Lease {
    /// Its key in `queue`.
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
    /// Whether it is a sitemap, and at which level.
    pub sitemap: SitemapRole,
    /// The redirects that led to it.
    pub redirect_chain: Vec<String>,
}

impl Candidate {
    /// Its queue entry: no attempt made yet.
    pub fn entry(&self) -> QueueEntry {
        QueueEntry {
            referrer: self.referrer.clone(),
            sitemap: self.sitemap,
            redirect_chain: self.redirect_chain.clone(),
            ..QueueEntry::new(self.url.as_str(), self.depth)
        }
    }

    /// A seed: depth 0, found nowhere.
    pub fn seed(url: Url) -> Self {
        Candidate {
            url,
            depth: 0,
            referrer: None,
            sitemap: SitemapRole::Page,
            redirect_chain: Vec::new(),
        }
    }
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

fn storage(e: ::sled::Error) -> ConflictableTransactionError<Error> {
    UnabortableTransactionError::from(e).into()
}

/// What a transaction will ask of the seen-set and the queue, read before it starts: sled's
/// transactions hold a lock that plain reads of other trees wait for, so the queue's chunks
/// cannot be read inside one. Nothing changes in between: the engine's thread is the only
/// writer. Read for each candidate the seen-set does not know from the memo, and, for those
/// found again shallower (a move-up), the queue entry they would move; and for the given keys.
#[derive(Default)]
pub(crate) struct Prefetch {
    seen: HashMap<u64, Option<(u32, u64)>>,
    queue: HashMap<QueueKey, Option<QueueEntry>>,
}

impl Prefetch {
    fn read<'c>(
        store: &Store,
        (queue, seen, memo): (&QueueSet, &SeenSet, &SeenMemo),
        candidates: impl IntoIterator<Item = &'c Candidate>,
        keys: impl IntoIterator<Item = &'c QueueKey>,
    ) -> Result<Prefetch> {
        let mut pre = Prefetch::default();
        for c in candidates {
            let fp = entry::key_of(c.url.as_str());
            if memo.covers(fp, c.depth) || pre.seen.contains_key(&fp) {
                continue;
            }
            let hit = seen.lookup(fp)?;
            pre.seen.insert(fp, hit);
            let Some((depth, seq)) = hit.filter(|(d, _)| c.depth < *d) else {
                continue;
            };
            let name_key = [b"n", canon::origin_key(&c.url).as_bytes()].concat();
            let id = store
                .origins
                .get(name_key)
                .map_err(|e| store.db_err("reading origins", e))?
                .and_then(|v| origin_of_key(&v));
            if let Some(id) = id {
                let key = queue_key(id, depth, seq);
                pre.queue.insert(key, queue.get(&key)?);
            }
        }
        for k in keys {
            pre.queue.insert(*k, queue.get(k)?);
        }
        Ok(pre)
    }
}

/// The queue as one transaction sees it: its own changes, what was read for it beforehand
/// ([`Prefetch`]) and the overlay; it writes its changes to the queue log at its end
/// ([`QueueTx::finish`]), and they reach the overlay once it has committed
/// ([`Store::queue_committed`]).
pub(crate) struct QueueTx<'a> {
    set: &'a QueueSet,
    pre: &'a Prefetch,
    writes: QueueWrites,
    log: &'a TransactionalTree,
}

impl<'a> QueueTx<'a> {
    fn new(set: &'a QueueSet, pre: &'a Prefetch, log: &'a TransactionalTree) -> Self {
        QueueTx {
            set,
            pre,
            writes: QueueWrites::default(),
            log,
        }
    }

    /// The entry under `key`. A key neither written here, read beforehand nor changed since
    /// the last checkpoint counts as not queued (so it is not moved up); every caller reads
    /// the keys it needs beforehand.
    fn get(&self, key: &QueueKey) -> TxResult<Option<QueueEntry>> {
        if let Some(v) = self.writes.get(key) {
            return Ok(v);
        }
        if let Some(v) = self.pre.queue.get(key) {
            return Ok(v.clone());
        }
        let found = self.set.overlay_get(key);
        Ok(found
            .map_err(ConflictableTransactionError::Abort)?
            .flatten())
    }

    fn insert(&mut self, key: QueueKey, entry: QueueEntry) {
        self.writes.insert(key, entry);
    }

    /// Removes `key`; returns whether it was queued.
    fn remove(&mut self, key: &QueueKey) -> TxResult<bool> {
        let was = self.get(key)?.is_some();
        self.writes.remove(key);
        Ok(was)
    }

    fn next_seq(&self) -> TxResult<u64> {
        QueueWrites::next_seq(self.log)
    }

    /// Writes the changes to the log: the log key (`None`: no change) and the changes.
    fn finish(self) -> TxResult<(Option<u64>, Vec<Op>)> {
        let key = self.writes.write(self.log)?;
        Ok((key, self.writes.ops))
    }
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

/// Seen-set entries a transaction writes: visible to the rest of the transaction (a page's
/// links repeat), written as one inbox value at its end, and taken into the seen-set once it
/// has committed ([`Store::seen_committed`]). Made afresh inside the closure, since sled may
/// run it more than once.
#[derive(Default)]
pub(crate) struct SeenWrites {
    entries: Vec<Entry>,
    by_fp: HashMap<u64, (u32, u64)>,
}

impl SeenWrites {
    fn lookup(&self, seen: &SeenSet, pre: &Prefetch, fp: u64) -> TxResult<Option<(u32, u64)>> {
        if let Some(&hit) = self.by_fp.get(&fp) {
            return Ok(Some(hit));
        }
        if let Some(&hit) = pre.seen.get(&fp) {
            return Ok(hit);
        }
        seen.lookup(fp).map_err(ConflictableTransactionError::Abort)
    }

    fn put(&mut self, e: Entry) {
        self.by_fp.insert(e.fp, (e.depth, e.seq));
        self.entries.push(e);
    }

    /// Writes the entries as one inbox value; returns its key (`None`: nothing to write).
    fn write(&self, inbox: &TransactionalTree) -> TxResult<Option<u64>> {
        if self.entries.is_empty() {
            return Ok(None);
        }
        let key = inbox.generate_id().map_err(storage)?;
        inbox.insert(&key.to_be_bytes(), seen::pack(&self.entries))?;
        Ok(Some(key))
    }
}

/// What an enqueue checks a candidate against: the memo, the leases, the seen-set and what was
/// read for it beforehand.
type Known<'a> = (&'a SeenMemo, &'a Leases, &'a SeenSet, &'a Prefetch);

/// Queues each candidate not seen before; the trees are the caller's transaction views.
/// Candidates `memo` already covers skip the seen-set; every URL looked up is added to
/// `learned` (fingerprint, depth), for the caller to remember once the transaction has
/// committed.
fn enqueue_tx(
    (queue, origins): (&mut QueueTx<'_>, &TransactionalTree),
    candidates: &[Candidate],
    counters: &mut Counters,
    (memo, leases, seen, pre): Known<'_>,
    (writes, learned): (&mut SeenWrites, &mut Vec<(u64, u32)>),
) -> TxResult<Vec<Enqueued>> {
    let mut added = Vec::new();
    // Origins already looked up in this call (a page's links mostly share one).
    let mut ids: Vec<(String, OriginId)> = Vec::new();
    let mut origin_id = |origin: &str| -> TxResult<OriginId> {
        if let Some((_, id)) = ids.iter().rev().find(|(o, _)| o == origin) {
            return Ok(*id);
        }
        let id = origin_id_tx(origins, origin)?;
        if ids.len() >= 8 {
            ids.remove(0);
        }
        ids.push((origin.to_string(), id));
        Ok(id)
    };
    for c in candidates {
        let url = c.url.as_str();
        let fp = entry::key_of(url);
        if memo.covers(fp, c.depth) {
            continue;
        }
        let entry = c.entry();
        let origin = canon::origin_key(&c.url);
        if let Some((depth, seq)) = writes.lookup(seen, pre, fp)? {
            let depth = if c.depth >= depth {
                depth
            } else {
                let old_key = queue_key(origin_id(&origin)?, depth, seq);
                if leases.contains(&old_key) {
                    depth
                } else {
                    move_up_if_shallower(queue, writes, &old_key, &entry, fp)?
                }
            };
            learned.push((fp, depth));
            continue;
        }
        let origin_id = origin_id(&origin)?;
        push_tx(queue, writes, origin_id, &entry, counters)?;
        learned.push((fp, c.depth));
        added.push(Enqueued { origin_id, origin });
    }
    Ok(added)
}

/// Queues a new URL at the end of its origin's queue at its depth, and records its queue key
/// in the seen-set.
fn push_tx(
    queue: &mut QueueTx<'_>,
    writes: &mut SeenWrites,
    origin_id: OriginId,
    entry: &QueueEntry,
    counters: &mut Counters,
) -> TxResult<()> {
    let seq = queue.next_seq()?;
    let key = queue_key(origin_id, entry.depth, seq);
    queue.insert(key, entry.clone());
    writes.put(Entry {
        fp: entry::key_of(&entry.url),
        depth: entry.depth,
        seq,
    });
    counters.queued += 1;
    Ok(())
}

/// A URL still queued deeper than `entry` moves to `entry`'s depth (same origin, same
/// sequence number). Stored and parked URLs are not in the queue and stay where they are
/// (leased ones too, by the caller). Returns the depth the URL's seen-set entry has
/// afterwards.
fn move_up_if_shallower(
    queue: &mut QueueTx<'_>,
    writes: &mut SeenWrites,
    old_key: &QueueKey,
    entry: &QueueEntry,
    fp: u64,
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
    queue.insert(key, entry.clone());
    writes.put(Entry {
        fp,
        depth: entry.depth,
        seq,
    });
    Ok(entry.depth)
}

/// Adds seeds (depth 0) unless this database has seen them already.
pub fn add_seeds(store: &Store, seeds: &[Url]) -> Result<Vec<Enqueued>> {
    let candidates: Vec<Candidate> = seeds.iter().cloned().map(Candidate::seed).collect();
    add_candidates(store, &candidates)
}

/// Queues URLs found outside a page outcome (seeds, robots.txt sitemaps) unless seen already.
pub fn add_candidates(store: &Store, candidates: &[Candidate]) -> Result<Vec<Enqueued>> {
    let mut seen = store.seen_set();
    let mut qs = store.queue_set();
    let (memo, leases) = (SeenMemo::with_generation(1), Leases::default());
    let pre = Prefetch::read(store, (&qs, &seen, &memo), candidates, [])?;
    let known = (&memo, &leases, &*seen, &pre);
    let trees = (
        &store.meta,
        &store.seen_inbox,
        &store.queue_log,
        &store.origins,
    );
    let (added, key, writes, (qkey, ops)) = trees
        .transaction(|(meta, inbox, log, origins)| {
            let mut c = read_counters(meta)?;
            let mut writes = SeenWrites::default();
            let learned = &mut Vec::new();
            let mut queue = QueueTx::new(&qs, &pre, log);
            let trees = (&mut queue, origins);
            let added = enqueue_tx(trees, candidates, &mut c, known, (&mut writes, learned))?;
            write_counters(meta, &c)?;
            Ok((added, writes.write(inbox)?, writes, queue.finish()?))
        })
        .map_err(|e| store.tx_err("queueing URLs", e))?;
    store.queue_committed(&mut qs, qkey, ops)?;
    store.seen_committed(&mut seen, key, &writes.entries)?;
    Ok(added)
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
    /// The lease is over (settled, re-queued or parked).
    pub fn release(&mut self, key: &QueueKey) {
        self.keys.remove(key);
    }

    fn contains(&self, key: &[u8]) -> bool {
        <&QueueKey>::try_from(key).is_ok_and(|k| self.keys.contains(k))
    }
}

/// Leases the origin's next queued URL not leased already, or `None` when it has none: its
/// shallowest, oldest recheck, else (with `new_urls`) its shallowest, oldest new URL.
pub fn lease(store: &Store, origin_id: OriginId, leases: &mut Leases) -> Result<Option<Lease>> {
    lease_next(store, origin_id, leases, true)
}

/// [`lease`], new URLs only when `new_urls` (rechecks always).
pub fn lease_next(
    store: &Store,
    origin_id: OriginId,
    leases: &mut Leases,
    new_urls: bool,
) -> Result<Option<Lease>> {
    let mut qs = store.queue_set();
    let leased = |k: &QueueKey| leases.keys.contains(k);
    // Rechecks first (see `RECHECKS`); new URLs only when the caller's budgets allow them.
    let (mut found, mut more) = qs.first(origin_id | RECHECKS, &leased)?;
    if new_urls && (found.is_none() || !more) {
        let (new, more_new) = qs.first(origin_id, &leased)?;
        if found.is_none() {
            (found, more) = (new, more_new);
        } else {
            more = new.is_some();
        }
    }
    drop(qs);
    let Some((key, entry)) = found else {
        return Ok(None);
    };
    leases.keys.insert(key);
    Ok(Some(Lease {
        key,
        origin_id,
        entry,
        more,
    }))
}

/// Leases one given queued URL of `origin_id` (a retry its host's budget already counts), or
/// `None` when it is not queued (settled, parked) or leased already.
pub fn lease_key(
    store: &Store,
    origin_id: OriginId,
    key: &QueueKey,
    leases: &mut Leases,
) -> Result<Option<Lease>> {
    if leases.keys.contains(key) {
        return Ok(None);
    }
    let Some(entry) = store.queue_set().get(key)? else {
        return Ok(None);
    };
    leases.keys.insert(*key);
    Ok(Some(Lease {
        key: *key,
        origin_id,
        entry,
        more: false,
    }))
}

pub use backend::{CountedRecords, Frontier, Refresh, SendPermits};
pub use rechecks::queue_rechecks;
pub use recover::recover_bodies;
pub use scan::{
    is_seen, origin_name, origins_with_work, queued_by_origin, recount, recount_tallies,
    stored_pages, OriginScan,
};
pub use settle::{delay, next_due, release_due, requeue, settle, settle_batch, Settlement};
pub use sled::SledFrontier;
