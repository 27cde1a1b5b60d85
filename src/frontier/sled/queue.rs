//! Where the queue lives (schema 3): per-origin chunks in sled, the changes since the last
//! checkpoint in memory, and a log of them in sled.
//!
//! Logically the queue is a sorted map from queue key (origin, depth, sequence) to entry, as
//! before. Physically:
//! - **chunks** (`queue_chunks` tree, see `chunk.rs`): runs of consecutive keys of one
//!   origin and depth packed under the key of their first entry. Chunks never overlap: each
//!   covers the keys from its first up to the next chunk's first;
//! - **the overlay**: every insert and removal since the last checkpoint, key → entry or
//!   removed, in memory. It wins over the chunks;
//! - **the log** (`queue_log` tree): each transaction that changes the queue writes its
//!   changes as one value, in the same transaction as the outcome, so after a crash the
//!   overlay is rebuilt from it at open, and nothing is lost or applied twice.
//!
//! A checkpoint (when the overlay holds [`CHECKPOINT_OPS`] changes, or 1/16 more after a reopen
//! that found one due: see `QueueSet::open_at`) folds the overlay into the
//! chunks one origin-and-depth group at a time, whole groups written together in atomic sled
//! batches of ~1 MiB, and then removes the log values. A crash in between is harmless: the log
//! still holds every change, so the rebuilt overlay says the final word on every key the
//! checkpoint touched, whichever groups it had rewritten. Appending to a chunk rewrites it, so a chunk takes appended URLs only
//! until it is 1 KiB long (sealed); a rewrite longer than 4 KiB is split (`chunk.rs`).
//!
//! Leasing an origin's first URL would step over every URL settled since the last
//! checkpoint (removed in the overlay, still in a chunk). A per-origin floor in memory, below
//! which nothing is queued but leased or removed URLs, keeps that one step; any insert below
//! it lowers it.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use sled::transaction::{
    ConflictableTransactionError, TransactionalTree, UnabortableTransactionError,
};

use super::chunk;
use crate::error::{Error, Result};
use crate::frontier::entry::{
    decode_entry, decode_ops, encode_entry, encode_ops, origin_of_key, queue_key, Op, OriginId,
    QueueEntry, QueueKey, RECHECKS,
};

type TxResult<T> = std::result::Result<T, ConflictableTransactionError<Error>>;

fn storage(e: sled::Error) -> ConflictableTransactionError<Error> {
    UnabortableTransactionError::from(e).into()
}

/// Overlay changes that trigger a checkpoint. Each checkpoint rewrites the tail chunk of every
/// origin it touches, so fewer, larger ones write less; the overlay (one packed allocation per
/// change) and the log values sled holds grow with it. Measured on 2 M URLs over 100 k hosts
/// (2026-12-03, sled cache 8 MiB): 2^19 gave 81 k URLs/s at 281 MB peak RSS, 2^18 66 k URLs/s
/// at 248 MB.
pub const CHECKPOINT_OPS: usize = 1 << 18;
/// A fold found due at open waits for `checkpoint_at / RESTART_GRACE` changes more
/// ([`QueueSet::open_at`]).
const RESTART_GRACE: usize = 16;

/// The queue's storage (see the module doc).
pub struct QueueSet {
    path: PathBuf,
    chunks: sled::Tree,
    log: sled::Tree,
    overlay: BTreeMap<QueueKey, Packed>,
    log_keys: Vec<u64>,
    floors: HashMap<OriginId, QueueKey>,
    checkpoint_at: usize,
    /// Overlay size at which the next fold is due: `checkpoint_at`, or, when the log replayed
    /// at open already held that many changes (a crash or kill -9 cut the fold it was due
    /// for), a little more (see [`QueueSet::open_at`]).
    due_at: usize,
    fold_batch_bytes: usize,
    log_removal_batch: usize,
    /// Some recheck may be queued (one was in the chunks at open, or was queued since), so
    /// leasing looks at the recheck queues; a crawl that never recrawled skips that seek.
    rechecks: bool,
}

impl QueueSet {
    /// Opens the queue over its two trees, replaying the log into the overlay.
    pub(crate) fn open(path: &Path, chunks: sled::Tree, log: sled::Tree) -> Result<QueueSet> {
        let every = crate::crashpoint::knob("POLITECRAWL_QUEUE_CHECKPOINT", CHECKPOINT_OPS);
        QueueSet::open_at(path, chunks, log, every)
    }

    /// [`QueueSet::open`], folding every `checkpoint_at` changes. A log that replays to a fold
    /// already due (the process was killed before or during it) does not fold at the first
    /// change after the open: that was a crawl's seeds, so a resume after kill -9 folded up to
    /// 2^18 changes before its first request (1.8 s at 11 M queued URLs, docs/BENCHMARKS.md 3e).
    /// The fold waits for [`RESTART_GRACE`] of a checkpoint's changes more, which the crawl's
    /// own pages bring; the overlay stays bounded (at most 17/16 of a checkpoint and a batch).
    pub(crate) fn open_at(
        path: &Path,
        chunks: sled::Tree,
        log: sled::Tree,
        checkpoint_at: usize,
    ) -> Result<QueueSet> {
        let mut q = QueueSet {
            path: path.to_path_buf(),
            chunks,
            log,
            overlay: BTreeMap::new(),
            log_keys: Vec::new(),
            floors: HashMap::new(),
            checkpoint_at,
            due_at: checkpoint_at,
            fold_batch_bytes: crate::crashpoint::knob(
                "POLITECRAWL_QUEUE_FOLD_BATCH",
                FOLD_BATCH_BYTES,
            ),
            log_removal_batch: crate::crashpoint::knob(
                "POLITECRAWL_QUEUE_LOG_BATCH",
                LOG_REMOVAL_BATCH,
            ),
            rechecks: false,
        };
        q.rechecks = q
            .chunks
            .range(queue_key(RECHECKS, 0, 0)..)
            .next()
            .transpose()
            .map_err(|e| q.db_err("reading the queue", e))?
            .is_some();
        for kv in q.log.iter() {
            let (k, v) = kv.map_err(|e| q.db_err("reading the queue log", e))?;
            let key = u64::from_be_bytes(k.as_ref().try_into().map_err(|_| Error::Corrupt {
                key: "queue_log".into(),
                reason: format!("key of {} bytes", k.len()),
            })?);
            let ops = decode_ops(&v)?;
            q.apply(Some(key), ops);
        }
        q.due_at = q
            .checkpoint_at
            .max(q.overlay.len() + q.checkpoint_at / RESTART_GRACE);
        Ok(q)
    }

    /// What the overlay says of `key`: `None` if nothing since the last checkpoint,
    /// `Some(None)` if it was removed. Reads no tree, so a transaction may ask.
    pub(crate) fn overlay_get(&self, key: &QueueKey) -> Result<Option<Option<QueueEntry>>> {
        self.overlay.get(key).map(unpack).transpose()
    }

    /// The entry under `key`, if it is queued. Reads the chunks: never inside a transaction
    /// (sled's transactions hold a lock that plain reads wait for).
    pub fn get(&self, key: &QueueKey) -> Result<Option<QueueEntry>> {
        if let Some(v) = self.overlay.get(key) {
            return unpack(v);
        }
        let Some((ck, cv)) = self.containing_chunk(key)? else {
            return Ok(None);
        };
        let seq = seq_of(key);
        Ok(decode_chunk(&self.path, &ck, &cv)?
            .into_iter()
            .find(|(s, _)| *s == seq)
            .map(|(_, e)| e))
    }

    /// The origin's first queued entry that `leased` does not exclude, and whether it has
    /// another such after it.
    pub fn first(
        &mut self,
        origin: OriginId,
        leased: &dyn Fn(&QueueKey) -> bool,
    ) -> Result<(Option<(QueueKey, QueueEntry)>, bool)> {
        if origin & RECHECKS != 0 && !self.rechecks {
            return Ok((None, false));
        }
        let from = self
            .floors
            .get(&origin)
            .copied()
            .unwrap_or_else(|| queue_key(origin, 0, 0));
        let (mut found, mut more, mut floor) = (None, false, None);
        for item in self.merged(from, Some(origin))? {
            let (k, e) = item?;
            floor.get_or_insert(k);
            if leased(&k) {
                continue;
            }
            if found.is_some() {
                more = true;
                break;
            }
            found = Some((k, e));
        }
        // An origin with nothing queued keeps no floor: memory follows the origins with work.
        match floor {
            Some(f) => self.floors.insert(origin, f),
            None => self.floors.remove(&origin),
        };
        Ok((found, more))
    }

    /// The first origin from `from` on with a queued entry.
    pub fn next_origin(&self, from: OriginId) -> Result<Option<OriginId>> {
        let mut from = from;
        loop {
            let in_chunks = self
                .chunks
                .range(from.to_be_bytes()..)
                .keys()
                .next()
                .transpose()
                .map_err(|e| self.db_err("reading the queue", e))?
                .and_then(|k| origin_of_key(&k));
            let in_overlay = self
                .overlay
                .range(queue_key(from, 0, 0)..)
                .find(|(_, v)| v.is_some())
                .and_then(|(k, _)| origin_of_key(k));
            let Some(origin) = in_chunks.into_iter().chain(in_overlay).min() else {
                return Ok(None);
            };
            // Its chunk entries may all have been removed since the last checkpoint.
            if self
                .merged(queue_key(origin, 0, 0), Some(origin))?
                .next()
                .transpose()?
                .is_some()
            {
                return Ok(Some(origin));
            }
            match origin.checked_add(1) {
                Some(n) => from = n,
                None => return Ok(None),
            }
        }
    }

    /// Every queued entry in key order, read lazily (for counts, checks and rebuilds).
    pub fn iter(&self) -> Result<impl Iterator<Item = Result<(QueueKey, QueueEntry)>> + '_> {
        self.merged(queue_key(0, 0, 0), None)
    }

    /// Takes in the changes of log value `log_key`, once its transaction has committed.
    pub(crate) fn apply(&mut self, log_key: Option<u64>, ops: Vec<Op>) {
        if let Some(k) = log_key {
            self.log_keys.push(k);
        }
        for (k, v) in ops {
            if v.is_some() {
                if let Some(origin) = origin_of_key(&k) {
                    self.rechecks |= origin & RECHECKS != 0;
                    if let Some(f) = self.floors.get_mut(&origin) {
                        *f = (*f).min(k);
                    }
                }
            }
            self.overlay.insert(k, pack(v.as_ref()));
        }
    }

    /// Whether the overlay is due to be folded into the chunks.
    pub fn needs_checkpoint(&self) -> bool {
        self.overlay.len() >= self.due_at
    }

    /// Checkpoints every `n` changes from now on (tests).
    #[cfg(test)]
    pub(crate) fn set_checkpoint_at(&mut self, n: usize) {
        self.checkpoint_at = n.max(1);
        self.due_at = self.checkpoint_at;
    }

    /// Folds the overlay into the chunks (see the module doc), then drops the log.
    pub(crate) fn checkpoint(&mut self) -> Result<()> {
        if self.overlay.is_empty() && self.log_keys.is_empty() {
            return Ok(());
        }
        // Groups are written together, [`FOLD_BATCH_BYTES`] at a time: one sled batch per
        // group made the batch overhead most of a checkpoint's cost. Each batch still holds
        // whole groups, so no reader ever sees half of a group's rewrite.
        let mut batch = FoldBatch::default();
        let mut it = self.overlay.iter().peekable();
        while let Some((k, v)) = it.next() {
            let group: [u8; 12] = group_of(k);
            let mut ops = vec![(seq_of(k), unpack(v)?)];
            while let Some((k2, v2)) = it.next_if(|(k2, _)| group_of(k2) == group) {
                ops.push((seq_of(k2), unpack(v2)?));
            }
            self.fold_group(group, ops, &mut batch)?;
            if batch.bytes >= self.fold_batch_bytes {
                self.write_fold(&mut batch)?;
                crate::crashpoint::hit("queue-group-folded");
            }
        }
        self.write_fold(&mut batch)?;
        crate::crashpoint::hit("queue-chunks-written");
        // The log goes a few values at a time: sled reads back every node a batch touches and
        // frees none before the batch ends, and the log's values are the checkpoint's whole
        // overlay. A crash part-way leaves the newest values, whose replay over the written
        // chunks changes nothing (each key ends as its last change).
        for keys in self.log_keys.chunks(self.log_removal_batch) {
            let mut batch = sled::Batch::default();
            for k in keys {
                batch.remove(&k.to_be_bytes());
            }
            self.log
                .apply_batch(batch)
                .map_err(|e| self.db_err("removing the folded queue log", e))?;
            crate::crashpoint::hit("queue-log-part-removed");
        }
        self.log_keys.clear();
        self.overlay.clear();
        self.due_at = self.checkpoint_at;
        Ok(())
    }

    /// Writes the groups gathered in `batch` in one atomic sled batch and empties it.
    fn write_fold(&self, batch: &mut FoldBatch) -> Result<()> {
        let full = std::mem::take(batch);
        if full.bytes == 0 {
            return Ok(());
        }
        self.chunks
            .apply_batch(full.batch)
            .map_err(|e| self.db_err("writing queue chunks", e))
    }

    /// Adds to `batch` the rewrite of the chunks of one origin and depth that `ops` (sorted
    /// by sequence number) touch.
    fn fold_group(
        &self,
        group: [u8; 12],
        ops: Vec<(u64, Option<QueueEntry>)>,
        batch: &mut FoldBatch,
    ) -> Result<()> {
        // Chunks loaded (by key): their entries and whether they take appended URLs.
        let mut loaded: BTreeMap<QueueKey, (Vec<(u64, QueueEntry)>, bool)> = BTreeMap::new();
        // New entries in a gap between chunks (keyed by the chunk before the gap, None: before
        // the first), written as chunks of their own.
        let mut gaps: BTreeMap<Option<QueueKey>, Vec<(u64, QueueEntry)>> = BTreeMap::new();
        // The chunk the last op fell in (None: before the group's first) and where the next
        // one starts: ops are sorted, so most fall where the one before did, at no lookup.
        let mut current: Option<(Option<QueueKey>, Option<QueueKey>)> = None;
        for (seq, op) in ops {
            let key = key_of(group, seq);
            let ck = match current {
                Some((ck, next)) if next.is_none_or(|n| key < n) => ck,
                _ => {
                    let ck = match self.containing_chunk(&key)? {
                        None => None,
                        Some((ck, cv)) => {
                            let ck: QueueKey = to_key(&ck)?;
                            if let std::collections::btree_map::Entry::Vacant(v) = loaded.entry(ck)
                            {
                                let open = cv.len() < chunk::SEAL_BYTES;
                                v.insert((decode_chunk(&self.path, &ck, &cv)?, open));
                            }
                            Some(ck)
                        }
                    };
                    current = Some((ck, self.next_chunk(&ck.unwrap_or(key))?));
                    ck
                }
            };
            let Some(ck) = ck else {
                if let Some(e) = op {
                    gaps.entry(None).or_default().push((seq, e));
                }
                continue;
            };
            let Some((entries, open)) = loaded.get_mut(&ck) else {
                continue; // unreachable: `current` is always loaded
            };
            let past_end = entries.last().is_none_or(|(last, _)| seq > *last);
            match (op, past_end && !*open) {
                (Some(e), true) => gaps.entry(Some(ck)).or_default().push((seq, e)),
                (Some(e), false) => match entries.binary_search_by_key(&seq, |(s, _)| *s) {
                    Ok(i) => entries[i].1 = e,
                    Err(i) => entries.insert(i, (seq, e)),
                },
                (None, _) => {
                    if let Ok(i) = entries.binary_search_by_key(&seq, |(s, _)| *s) {
                        entries.remove(i);
                    }
                }
            }
        }
        for (ck, (entries, _)) in &loaded {
            batch.batch.remove(&ck[..]);
            batch.bytes += put_chunks(&mut batch.batch, group, entries).max(1);
        }
        for entries in gaps.values() {
            batch.bytes += put_chunks(&mut batch.batch, group, entries);
        }
        Ok(())
    }

    /// The key of the first chunk after `ck` in its origin and depth, if any.
    fn next_chunk(&self, ck: &QueueKey) -> Result<Option<QueueKey>> {
        let group = group_of(ck);
        let mut end = [0xffu8; 20];
        end[..12].copy_from_slice(&group);
        let found = self
            .chunks
            .range::<&[u8], _>((
                std::ops::Bound::Excluded(&ck[..]),
                std::ops::Bound::Included(&end[..]),
            ))
            .keys()
            .next()
            .transpose()
            .map_err(|e| self.db_err("reading the queue", e))?;
        found.map(|k| to_key(&k)).transpose()
    }

    /// The chunk whose range holds `key`: the last chunk of its origin and depth starting at
    /// or before it.
    fn containing_chunk(&self, key: &QueueKey) -> Result<Option<(sled::IVec, sled::IVec)>> {
        let group = group_of(key);
        let found = self
            .chunks
            .range(&group[..]..=&key[..])
            .next_back()
            .transpose()
            .map_err(|e| self.db_err("reading the queue", e))?;
        Ok(found)
    }

    /// Queued entries from `from` on (of `origin` only, if given), chunks and overlay merged in
    /// key order, removed ones left out.
    fn merged(
        &self,
        from: QueueKey,
        origin: Option<OriginId>,
    ) -> Result<impl Iterator<Item = Result<(QueueKey, QueueEntry)>> + '_> {
        let in_range = move |k: &[u8]| origin.is_none_or(|o| origin_of_key(k) == Some(o));
        // Start at the chunk holding `from`, if any, else at `from`.
        let start: Vec<u8> = match self.containing_chunk(&from)? {
            Some((ck, _)) => ck.to_vec(),
            None => from.to_vec(),
        };
        let chunk_entries = self
            .chunks
            .range(start..)
            .take_while(move |kv| kv.as_ref().map_or(true, |(k, _)| in_range(k)))
            .flat_map(move |kv| {
                let decoded = kv
                    .map_err(|e| self.db_err("reading the queue", e))
                    .and_then(|(k, v)| {
                        let ck = to_key(&k)?;
                        let group = group_of(&ck);
                        Ok(decode_chunk(&self.path, &ck, &v)?
                            .into_iter()
                            .map(|(s, e)| (key_of(group, s), e))
                            .collect::<Vec<_>>())
                    });
                match decoded {
                    Ok(v) => v.into_iter().map(Ok).collect::<Vec<_>>(),
                    Err(e) => vec![Err(e)],
                }
            })
            .filter(move |r| r.as_ref().map_or(true, |(k, _)| *k >= from));
        let overlay = self
            .overlay
            .range(from..)
            .take_while(move |(k, _)| in_range(&k[..]));
        Ok(Merge {
            chunks: chunk_entries.peekable(),
            overlay: overlay.peekable(),
        })
    }

    /// Removes every chunk that does not decode (`politecrawl repair`); returns what each
    /// was (an [`Error::DamagedChunk`]). Their URLs are lost from the queue: the caller then
    /// rebuilds the seen-set without them, so a link found later queues them again. Entries
    /// the overlay holds in their range stay, and the next checkpoint writes them as chunks.
    pub(crate) fn drop_damaged_chunks(&mut self) -> Result<Vec<Error>> {
        let mut damaged = Vec::new();
        for kv in self.chunks.iter() {
            let (k, v) = kv.map_err(|e| self.db_err("reading the queue", e))?;
            if let Err(e) = decode_chunk(&self.path, &k, &v) {
                damaged.push((k, e));
            }
        }
        let mut batch = sled::Batch::default();
        for (k, _) in &damaged {
            batch.remove(k);
        }
        self.chunks
            .apply_batch(batch)
            .map_err(|e| self.db_err("removing damaged queue chunks", e))?;
        // Floors may point into a removed chunk's range; they are rebuilt as origins are read.
        self.floors.clear();
        Ok(damaged.into_iter().map(|(_, e)| e).collect())
    }

    fn db_err(&self, action: &'static str, cause: sled::Error) -> Error {
        Error::Db {
            path: self.path.clone(),
            action,
            cause,
        }
    }
}

/// Chunk entries and overlay changes merged in key order; the overlay wins on equal keys and
/// its removals hide chunk entries.
struct Merge<C: Iterator, O: Iterator> {
    chunks: std::iter::Peekable<C>,
    overlay: std::iter::Peekable<O>,
}

impl<'a, C, O> Iterator for Merge<C, O>
where
    C: Iterator<Item = Result<(QueueKey, QueueEntry)>>,
    O: Iterator<Item = (&'a QueueKey, &'a Packed)>,
{
    type Item = Result<(QueueKey, QueueEntry)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let chunk_key = match self.chunks.peek() {
                Some(Ok((k, _))) => Some(*k),
                Some(Err(_)) => return self.chunks.next(),
                None => None,
            };
            let overlay_key = self.overlay.peek().map(|(k, _)| **k);
            let take_overlay = match (chunk_key, overlay_key) {
                (None, None) => return None,
                (Some(_), None) => false,
                (None, Some(_)) => true,
                (Some(c), Some(o)) => {
                    if c == o {
                        self.chunks.next(); // shadowed by the overlay
                    }
                    o <= c
                }
            };
            if !take_overlay {
                return self.chunks.next();
            }
            if let Some((k, v)) = self.overlay.next() {
                match unpack(v) {
                    Ok(Some(e)) => return Some(Ok((*k, e))),
                    Ok(None) => {}
                    Err(e) => return Some(Err(e)),
                }
            }
        }
    }
}

/// Changes a transaction makes to the queue: visible to the rest of the transaction, written
/// as one log value at its end, applied to the overlay once it has committed.
#[derive(Default)]
pub(crate) struct QueueWrites {
    pub(crate) ops: Vec<Op>,
    /// Key → index of its latest change in `ops` (one copy of each entry, not two).
    local: HashMap<QueueKey, usize>,
}

impl QueueWrites {
    /// What this transaction did to `key`: `None` if nothing, `Some(None)` if it removed it.
    pub(crate) fn get(&self, key: &QueueKey) -> Option<Option<QueueEntry>> {
        self.local.get(key).map(|&i| self.ops[i].1.clone())
    }

    /// Puts an entry under `key`.
    pub(crate) fn insert(&mut self, key: QueueKey, entry: QueueEntry) {
        self.local.insert(key, self.ops.len());
        self.ops.push((key, Some(entry)));
    }

    /// Removes `key`.
    pub(crate) fn remove(&mut self, key: &QueueKey) {
        self.local.insert(*key, self.ops.len());
        self.ops.push((*key, None));
    }

    /// A new sequence number.
    pub(crate) fn next_seq(log: &TransactionalTree) -> TxResult<u64> {
        log.generate_id().map_err(storage)
    }

    /// Writes the changes as one log value; returns its key (`None`: no change).
    pub(crate) fn write(&self, log: &TransactionalTree) -> TxResult<Option<u64>> {
        if self.ops.is_empty() {
            return Ok(None);
        }
        let key = log.generate_id().map_err(storage)?;
        log.insert(&key.to_be_bytes(), encode_ops(&self.ops))?;
        Ok(Some(key))
    }
}

/// Writes `entries` (sorted, one origin and depth) as chunks of at most
/// [`chunk::MAX_BYTES`] each (halved until they fit); returns the bytes written.
pub(crate) fn put_chunks(
    batch: &mut sled::Batch,
    group: [u8; 12],
    entries: &[(u64, QueueEntry)],
) -> usize {
    let Some((first, _)) = entries.first() else {
        return 0;
    };
    let bytes = chunk::encode(entries);
    if bytes.len() > chunk::MAX_BYTES && entries.len() > 1 {
        let (a, b) = entries.split_at(entries.len() / 2);
        return put_chunks(batch, group, a) + put_chunks(batch, group, b);
    }
    let n = bytes.len();
    batch.insert(&key_of(group, *first)[..], bytes);
    n
}

/// An overlay change as the overlay keeps it: the entry encoded (postcard), or `None` for a
/// removal. Packed because the overlay holds up to [`CHECKPOINT_OPS`] of them: one allocation
/// of ~90 bytes for a typical URL and referrer, where the struct took ~90 bytes in the map
/// plus two or three allocations of its own.
type Packed = Option<Box<[u8]>>;

fn pack(e: Option<&QueueEntry>) -> Packed {
    e.map(|e| encode_entry(e).into_boxed_slice())
}

fn unpack(p: &Packed) -> Result<Option<QueueEntry>> {
    p.as_deref()
        .map(|b| decode_entry("queue overlay", b))
        .transpose()
}

/// Chunk rewrites of whole groups waiting to be written together.
#[derive(Default)]
struct FoldBatch {
    batch: sled::Batch,
    /// Chunk bytes in `batch` (a removal counts one), so 0 means empty.
    bytes: usize,
}

/// Chunk bytes a checkpoint writes per sled batch: large enough that a batch's fixed cost
/// fades, small enough that a batch is no memory peak.
const FOLD_BATCH_BYTES: usize = 1 << 20;

/// Log values removed per sled batch once a checkpoint has written the chunks. In one batch,
/// a 100,000-host crawl's RSS leapt from ~120 MB to 214 MB for the removal (2026-12-07).
const LOG_REMOVAL_BATCH: usize = 64;

fn decode_chunk(db: &Path, key: &[u8], value: &[u8]) -> Result<Vec<(u64, QueueEntry)>> {
    let k = to_key(key)?;
    let depth = u32::from_be_bytes(k[8..12].try_into().unwrap_or_default());
    chunk::decode(seq_of(&k), depth, value).map_err(|e| match e {
        // Name the chunk: which origin's URLs at which depth it holds.
        Error::Corrupt { reason, .. } => Error::DamagedChunk {
            db: db.to_path_buf(),
            origin: origin_of_key(&k).unwrap_or_default(),
            depth,
            first_seq: seq_of(&k),
            reason,
        },
        other => other,
    })
}

fn to_key(k: &[u8]) -> Result<QueueKey> {
    k.try_into().map_err(|_| Error::Corrupt {
        key: "queue_chunks".into(),
        reason: format!("key of {} bytes", k.len()),
    })
}

fn group_of(k: &QueueKey) -> [u8; 12] {
    let mut g = [0u8; 12];
    g.copy_from_slice(&k[..12]);
    g
}

fn seq_of(k: &QueueKey) -> u64 {
    u64::from_be_bytes(k[12..20].try_into().unwrap_or_default())
}

fn key_of(group: [u8; 12], seq: u64) -> QueueKey {
    let mut k = [0u8; 20];
    k[..12].copy_from_slice(&group);
    k[12..].copy_from_slice(&seq.to_be_bytes());
    k
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontier::entry::SitemapRole;
    use serde::Serialize;

    fn entry(url: String, depth: u32) -> QueueEntry {
        QueueEntry::new(url, depth)
    }

    /// An entry written when the sitemap role was a flag reads with the role the flag meant;
    /// a role written now reads back as itself.
    #[test]
    fn entries_written_with_the_sitemap_flag_read_as_roles() {
        #[derive(Serialize)]
        struct Before {
            url: String,
            depth: u32,
            referrer: Option<String>,
            attempts: u32,
            sitemap: bool,
            redirect_chain: Vec<String>,
        }
        for (flag, role) in [(false, SitemapRole::Page), (true, SitemapRole::Named)] {
            let old = Before {
                url: "http://a.test/s.xml".into(),
                depth: 0,
                referrer: Some("http://a.test/".into()),
                attempts: 1,
                sitemap: flag,
                redirect_chain: vec![],
            };
            let read = decode_entry("test", &crate::store::encode(&old)).unwrap();
            assert_eq!((read.url.as_str(), read.sitemap), (old.url.as_str(), role));
        }
        for role in [SitemapRole::Indexed, SitemapRole::Refused] {
            let e = QueueEntry {
                sitemap: role,
                ..entry("http://a.test/x.xml".into(), 0)
            };
            assert_eq!(decode_entry("test", &encode_entry(&e)).unwrap(), e);
        }
    }

    /// A fold left due by a kill -9 is not done at the first change after the reopen (a
    /// crawl's seeds, before its first request), but once the overlay has grown by a
    /// sixteenth of a checkpoint; after it, folds come every `checkpoint_at` changes again.
    #[test]
    fn a_fold_left_due_by_a_crash_waits_for_more_changes_after_the_reopen() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let (chunks, log) = (db.open_tree("c").unwrap(), db.open_tree("l").unwrap());
        let puts = |from: u64, n: u64| -> Vec<Op> {
            (from..from + n)
                .map(|s| {
                    let e = entry(format!("http://h{}.test/{s}", s % 3), 0);
                    (queue_key(s % 3, 0, s), Some(e))
                })
                .collect()
        };
        // An ordinary stop: fewer changes in the log than a checkpoint, due at 64 as always.
        log.insert(1u64.to_be_bytes(), encode_ops(&puts(0, 10)))
            .unwrap();
        let mut q = QueueSet::open_at(Path::new("mem"), chunks.clone(), log.clone(), 64).unwrap();
        q.apply(None, puts(10, 53));
        assert!(!q.needs_checkpoint(), "63 changes");
        q.apply(None, puts(63, 1));
        assert!(q.needs_checkpoint(), "64 changes");
        drop(q);

        // Killed with its fold due: 70 changes in the log, due at 70 + 64 / 16 after the replay.
        log.insert(2u64.to_be_bytes(), encode_ops(&puts(100, 60)))
            .unwrap();
        let mut q = QueueSet::open_at(Path::new("mem"), chunks, log, 64).unwrap();
        assert_eq!(q.overlay.len(), 70);
        assert!(!q.needs_checkpoint(), "not due right after the reopen");
        q.apply(None, puts(200, 3));
        assert!(!q.needs_checkpoint(), "73 changes");
        q.apply(None, puts(203, 1));
        assert!(q.needs_checkpoint(), "74 changes");
        q.checkpoint().unwrap();
        q.apply(None, puts(300, 63));
        assert!(!q.needs_checkpoint(), "63 changes after the fold");
        q.apply(None, puts(363, 1));
        assert!(q.needs_checkpoint(), "64 changes after the fold");
    }

    /// Random puts (appends, and re-puts of queued keys in the middle of chunks) and removals
    /// over a few groups, with URLs long and unlike each other so chunks seal and split, folded
    /// at random intervals: after each checkpoint the queue equals the model, and the chunks
    /// of a group never overlap.
    #[test]
    fn checkpoints_fold_appends_rewrites_and_removals_into_chunks_exactly() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let (chunks, log) = (db.open_tree("c").unwrap(), db.open_tree("l").unwrap());
        let mut q = QueueSet::open(Path::new("mem"), chunks.clone(), log).unwrap();
        let mut rng = fastrand::Rng::with_seed(7);
        let mut model: BTreeMap<QueueKey, QueueEntry> = BTreeMap::new();
        let mut seq = 0u64;
        for round in 0..60 {
            let mut ops: Vec<Op> = Vec::new();
            for _ in 0..rng.usize(1..400) {
                let (origin, depth) = (rng.u64(0..3), rng.u32(0..2));
                let noise: String = (0..rng.usize(20..120))
                    .map(|_| rng.alphanumeric())
                    .collect();
                let queued: Vec<QueueKey> = model.keys().copied().collect();
                match rng.u8(0..10) {
                    0..=5 => {
                        seq += 1 + rng.u64(0..3);
                        let k = queue_key(origin, depth, seq);
                        let e = entry(format!("http://h{origin}.test/{seq}/{noise}"), depth);
                        model.insert(k, e.clone());
                        ops.push((k, Some(e)));
                    }
                    6..=7 if !queued.is_empty() => {
                        let k = queued[rng.usize(0..queued.len())];
                        model.remove(&k);
                        ops.push((k, None));
                    }
                    _ if !queued.is_empty() => {
                        let k = queued[rng.usize(0..queued.len())];
                        let mut e = model[&k].clone();
                        e.attempts += 1;
                        model.insert(k, e.clone());
                        ops.push((k, Some(e)));
                    }
                    _ => {}
                }
            }
            q.apply(None, ops);
            if rng.u8(0..3) > 0 {
                q.checkpoint().unwrap();
                assert!(q.overlay.is_empty());
            }
            let got: Vec<(QueueKey, QueueEntry)> = q.iter().unwrap().map(|r| r.unwrap()).collect();
            let want: Vec<(QueueKey, QueueEntry)> =
                model.iter().map(|(k, e)| (*k, e.clone())).collect();
            assert_eq!(got.len(), want.len(), "round {round}");
            assert!(got == want, "round {round}");
            // Each chunk's entries lie below the next chunk of its group.
            let mut prev: Option<(QueueKey, QueueKey)> = None; // (chunk key, its last entry)
            for kv in chunks.iter() {
                let (k, v) = kv.unwrap();
                let ck = to_key(&k).unwrap();
                let es = decode_chunk(Path::new("mem"), &ck, &v).unwrap();
                assert!(!es.is_empty(), "round {round}: an empty chunk");
                assert!(v.len() <= chunk::MAX_BYTES || es.len() == 1);
                assert_eq!(es[0].0, seq_of(&ck), "a chunk is keyed by its first entry");
                let last = key_of(group_of(&ck), es[es.len() - 1].0);
                if let Some((_, prev_last)) = prev {
                    assert!(prev_last < ck, "round {round}: chunks overlap");
                }
                prev = Some((ck, last));
            }
        }
        assert!(chunks.len() > 20, "the test must make many chunks");
    }
}
