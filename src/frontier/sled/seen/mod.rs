//! The seen-set: every URL ever queued in this database, as a 64-bit fingerprint with the depth
//! and sequence number of its queue key, so a URL is queued once and a URL found again at a
//! smaller depth can be moved up.
//!
//! Why not one sled key per URL (schema 2): sled's memory follows its number of keys, so the
//! seen-set alone made a 10 M URL crawl need gigabytes. Here it is, Mercator's and Heritrix's way:
//! - **runs**: immutable files of sorted 20-byte entries (see [`run`]) in `DIR/seen/`, named
//!   in the database's manifest (`meta/seen_runs`);
//! - **the inbox**: the entries committed since the last checkpoint. Each transaction that
//!   queues URLs writes their entries as one value of the `seen_inbox` tree, in the same
//!   transaction as the outcome that found them, so a crash keeps both or neither; in memory
//!   they are a hash map, rebuilt from the tree at open;
//! - **a checkpoint** (when the inbox holds [`CHECKPOINT_ENTRIES`], or 1/16 more after a
//!   reopen that found one due: see `SeenSet::open_at`) writes the inbox as a new run (synced
//!   before anything refers to it), merged with the newest runs while they are less
//!   than [`MERGE_RATIO`] times bigger, so there are O(log n) runs; then one transaction
//!   switches the manifest and empties the inbox tree; old files are deleted once that is on
//!   disk. A crash at any point leaves the old manifest with its inbox, or the new one: files
//!   no manifest names are leftovers, deleted at the next open.
//!
//! A lookup asks the inbox, then each run newest first (one 4 KiB block read each); the
//! bounded [`SeenMemo`](crate::frontier::memo::SeenMemo) in front of it spares most of them. Memory: the inbox (at most one
//! checkpoint's entries) and 8 bytes per 204 URLs for the runs' block indexes.
//!
//! The seen-set holds nothing the other trees do not: every URL ever queued is queued, parked
//! for a retry, or has a page record. So a damaged or missing run costs no URL: [`rebuild`]
//! (`politecrawl repair`, and the upgrade from schema 2) derives the set again from those.

pub mod run;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sled::transaction::Transactional;

pub use run::Entry;
use run::{Run, RunError};

use crate::crashpoint;
use crate::error::{Error, Result};

/// The folder of run files inside the database directory.
pub const DIR: &str = "seen";

/// Inbox entries that trigger a checkpoint: 13/16 of 2^18, so the inbox's hash map, made with
/// room for 2^18 buckets' 7/8 (229,376 entries, ~6.5 MiB), never grows into the next size
/// (2^19 buckets, ~13 MiB, and both at once while it moves): a transaction's batch past the
/// threshold (up to ~16 k entries) still fits. At exactly 2^18 the map peaked at ~20 MiB.
pub const CHECKPOINT_ENTRIES: usize = (1 << 18) / 16 * 13;

/// What the inbox's hash map is made to hold (see [`CHECKPOINT_ENTRIES`]).
const INBOX_CAPACITY: usize = (1 << 18) / 8 * 7;

/// A new run is merged with the newest existing one while that one holds fewer than this many
/// times its entries: run sizes grow geometrically, so a lookup reads O(log n) runs.
pub const MERGE_RATIO: u64 = 4;

/// Entries per run while a rebuild sorts them (20 MiB in memory at a time).
const REBUILD_CHUNK: usize = 1 << 20;

/// The key in `meta` naming the runs in use.
pub(crate) const KEY_MANIFEST: &[u8] = b"seen_runs";

/// The runs in use, oldest first, and the number the next run file gets.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// File names in [`DIR`], oldest first.
    pub runs: Vec<String>,
    /// Number of the next run file.
    pub next: u64,
}

/// The open seen-set (see the module doc).
#[derive(Debug)]
pub struct SeenSet {
    dir: PathBuf,
    manifest: Manifest,
    runs: Vec<Run>,
    inbox: HashMap<u64, (u32, u64)>,
    inbox_keys: Vec<u64>,
    checkpoint_at: usize,
    /// Inbox size at which the next checkpoint is due: `checkpoint_at`, or a little more when
    /// the inbox read at open already held that many (see [`SeenSet::open_at`]).
    due_at: usize,
}

impl SeenSet {
    /// Opens the runs the manifest names, and the inbox from its tree. With `writer` (a crawl
    /// is about to write), every block of every run is checked first, so a damaged run stops
    /// the crawl before it changes anything, and run files the manifest does not name (left
    /// by a crash mid-checkpoint) are deleted once every run it names has opened.
    pub(crate) fn open(
        db_dir: &Path,
        manifest: Manifest,
        inbox: &sled::Tree,
        writer: bool,
    ) -> Result<SeenSet> {
        let every = crashpoint::knob("POLITECRAWL_SEEN_CHECKPOINT", CHECKPOINT_ENTRIES);
        SeenSet::open_at(db_dir, manifest, inbox, writer, every)
    }

    /// [`SeenSet::open`], checkpointing every `checkpoint_at` entries. An inbox that reads back
    /// already due (the process was killed before or during its checkpoint, which can merge
    /// the largest runs) is not folded at the first transaction after the open, a crawl's
    /// seeds, before its first request, but once it has grown by 1/16 of a checkpoint more,
    /// as for the queue (`QueueSet::open_at`). Until then the inbox's map may outgrow the room
    /// it was made with (~6.5 MiB more at most, given back at that checkpoint).
    pub(crate) fn open_at(
        db_dir: &Path,
        manifest: Manifest,
        inbox: &sled::Tree,
        writer: bool,
        checkpoint_at: usize,
    ) -> Result<SeenSet> {
        let dir = db_dir.join(DIR);
        let mut runs = Vec::with_capacity(manifest.runs.len());
        for name in &manifest.runs {
            let run = Run::open(&dir.join(name)).map_err(|e| damaged(db_dir, e))?;
            if writer {
                run.verify().map_err(|e| damaged(db_dir, e))?;
            }
            runs.push(run);
        }
        let mut set = SeenSet {
            dir,
            manifest,
            runs,
            inbox: HashMap::with_capacity(INBOX_CAPACITY),
            inbox_keys: Vec::new(),
            checkpoint_at,
            due_at: checkpoint_at,
        };
        for kv in inbox.iter() {
            let (k, v) = kv.map_err(|cause| Error::Db {
                path: db_dir.to_path_buf(),
                action: "reading the seen-set inbox",
                cause,
            })?;
            let key = u64::from_be_bytes(k.as_ref().try_into().map_err(|_| Error::Corrupt {
                key: "seen_inbox".into(),
                reason: format!("key of {} bytes", k.len()),
            })?);
            set.record(key, &unpack(&v)?);
        }
        set.due_at = checkpoint_at.max(set.inbox.len() + checkpoint_at / 16);
        if writer {
            set.remove_unnamed_files()?;
        }
        Ok(set)
    }

    /// Where `fp` was queued (depth, sequence number), if it ever was.
    pub fn lookup(&self, fp: u64) -> Result<Option<(u32, u64)>> {
        if let Some(&hit) = self.inbox.get(&fp) {
            return Ok(Some(hit));
        }
        for run in self.runs.iter().rev() {
            if let Some(e) = run.get(fp).map_err(|e| self.damaged(e))? {
                return Ok(Some((e.depth, e.seq)));
            }
        }
        Ok(None)
    }

    /// Takes in the entries of inbox value `key`, once its transaction has committed.
    pub(crate) fn record(&mut self, key: u64, entries: &[Entry]) {
        self.inbox_keys.push(key);
        for e in entries {
            self.inbox.insert(e.fp, (e.depth, e.seq));
        }
    }

    /// Checkpoints every `n` entries from now on (tests).
    #[cfg(test)]
    pub(crate) fn set_checkpoint_at(&mut self, n: usize) {
        self.checkpoint_at = n.max(1);
        self.due_at = self.checkpoint_at;
    }

    /// Run files in use.
    #[cfg(test)]
    pub(crate) fn runs(&self) -> usize {
        self.runs.len()
    }

    /// The runs' files, oldest first.
    pub fn run_paths(&self) -> impl Iterator<Item = &Path> {
        self.runs.iter().map(Run::path)
    }

    /// Whether the inbox is due to be folded into a run.
    pub fn needs_checkpoint(&self) -> bool {
        self.inbox.len() >= self.due_at
    }

    /// Folds the inbox into a run (see the module doc): the new run is synced, then the
    /// manifest switch and the inbox's removal commit together, then replaced files go.
    pub(crate) fn checkpoint(
        &mut self,
        db: &sled::Db,
        meta: &sled::Tree,
        inbox: &sled::Tree,
    ) -> Result<()> {
        if self.inbox.is_empty() {
            return Ok(());
        }
        std::fs::create_dir_all(&self.dir).map_err(|e| self.io("creating", &self.dir, e))?;
        let mut fresh: Vec<Entry> = self
            .inbox
            .iter()
            .map(|(&fp, &(depth, seq))| Entry { fp, depth, seq })
            .collect();
        fresh.sort_unstable_by_key(|e| e.fp);
        let mut size = fresh.len() as u64;
        let mut merged = 0;
        while let Some(r) = self
            .runs
            .len()
            .checked_sub(merged + 1)
            .map(|i| &self.runs[i])
        {
            if r.len() >= size * MERGE_RATIO {
                break;
            }
            size += r.len();
            merged += 1;
        }
        let name = format!("run-{:08}.fp", self.manifest.next);
        let path = self.dir.join(&name);
        let new_run = if merged == 0 {
            Run::write(&path, fresh).map_err(|e| self.io("writing", &path, e))?
        } else {
            let staged = self
                .dir
                .join(format!("run-{:08}.new.fp", self.manifest.next));
            let staged_run =
                Run::write(&staged, fresh).map_err(|e| self.io("writing", &staged, e))?;
            let keep = self.runs.len() - merged;
            let mut sources: Vec<&Run> = vec![&staged_run];
            sources.extend(self.runs[keep..].iter().rev());
            let out = run::merge(&sources, &path).map_err(|e| self.damaged(e))?;
            let _ = std::fs::remove_file(&staged);
            out
        };
        crashpoint::hit("seen-run-written");
        let keep = self.runs.len() - merged;
        let mut manifest = Manifest {
            runs: self.manifest.runs[..keep].to_vec(),
            next: self.manifest.next + 1,
        };
        manifest.runs.push(name);
        // Encoding a plain struct into a Vec cannot fail.
        let encoded = postcard::to_stdvec(&manifest).expect("postcard encodes plain structs");
        let keys = std::mem::take(&mut self.inbox_keys);
        (meta, inbox)
            .transaction(|(meta, inbox)| {
                meta.insert(KEY_MANIFEST, encoded.as_slice())?;
                for k in &keys {
                    inbox.remove(&k.to_be_bytes())?;
                }
                Ok(())
            })
            .map_err(|e: sled::transaction::TransactionError<Error>| {
                self.tx("switching to the new seen-set run", e)
            })?;
        db.flush()
            .map_err(|cause| self.db("syncing the seen-set switch", cause))?;
        crashpoint::hit("seen-manifest-switched");
        let replaced: Vec<Run> = self.runs.drain(keep..).collect();
        for r in &replaced {
            let _ = std::fs::remove_file(r.path());
        }
        self.runs.push(new_run);
        self.manifest = manifest;
        self.inbox = HashMap::with_capacity(INBOX_CAPACITY);
        self.due_at = self.checkpoint_at;
        Ok(())
    }

    fn remove_unnamed_files(&self) -> Result<()> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(self.io("reading", &self.dir, e)),
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let ours =
                name.starts_with("run-") && (name.ends_with(".fp") || name.ends_with(".tmp"));
            if ours && !self.manifest.runs.contains(&name) {
                log::info!("removing {name}, left by an interrupted seen-set checkpoint");
                std::fs::remove_file(entry.path())
                    .map_err(|e| self.io("removing", &entry.path(), e))?;
            }
        }
        Ok(())
    }

    fn db_dir(&self) -> &Path {
        self.dir.parent().unwrap_or(&self.dir)
    }

    fn damaged(&self, e: RunError) -> Error {
        damaged(self.db_dir(), e)
    }

    fn io(&self, what: &str, path: &Path, cause: std::io::Error) -> Error {
        Error::Bodies {
            path: self.db_dir().to_path_buf(),
            action: "writing the seen-set",
            cause: std::io::Error::new(cause.kind(), format!("{what} {}: {cause}", path.display())),
        }
    }

    fn db(&self, action: &'static str, cause: sled::Error) -> Error {
        Error::Db {
            path: self.db_dir().to_path_buf(),
            action,
            cause,
        }
    }

    fn tx(&self, action: &'static str, e: sled::transaction::TransactionError<Error>) -> Error {
        match e {
            sled::transaction::TransactionError::Abort(e) => e,
            sled::transaction::TransactionError::Storage(cause) => self.db(action, cause),
        }
    }
}

fn damaged(db_dir: &Path, e: RunError) -> Error {
    Error::SeenRun {
        db: db_dir.to_path_buf(),
        file: e.path,
        reason: e.reason,
    }
}

/// Entries as an inbox value: 20 bytes each, as in a run.
pub(crate) fn pack(entries: &[Entry]) -> Vec<u8> {
    let mut v = Vec::with_capacity(entries.len() * 20);
    for e in entries {
        v.extend_from_slice(&e.fp.to_be_bytes());
        v.extend_from_slice(&e.depth.to_be_bytes());
        v.extend_from_slice(&e.seq.to_be_bytes());
    }
    v
}

/// An inbox value's entries.
pub(crate) fn unpack(v: &[u8]) -> Result<Vec<Entry>> {
    if v.len() % 20 != 0 {
        return Err(Error::Corrupt {
            key: "seen_inbox".into(),
            reason: format!("a value of {} bytes, not a multiple of 20", v.len()),
        });
    }
    Ok(v.chunks_exact(20)
        .map(|c| Entry {
            fp: u64::from_be_bytes(c[..8].try_into().unwrap_or_default()),
            depth: u32::from_be_bytes(c[8..12].try_into().unwrap_or_default()),
            seq: u64::from_be_bytes(c[12..20].try_into().unwrap_or_default()),
        })
        .collect())
}

/// Builds the seen-set again from `entries` (every URL queued, parked or stored) as one run
/// in `DIR/seen/`, named by the returned manifest (numbered from `next`). Nothing refers to
/// the file until the caller commits the manifest. Sorts [`REBUILD_CHUNK`] entries at a
/// time, so memory stays flat whatever the database's size.
pub(crate) fn rebuild(
    db_dir: &Path,
    next: u64,
    entries: impl Iterator<Item = Result<Entry>>,
) -> Result<Manifest> {
    let dir = db_dir.join(DIR);
    let io = |what: &str, p: &Path, cause: std::io::Error| Error::Bodies {
        path: db_dir.to_path_buf(),
        action: "rebuilding the seen-set",
        cause: std::io::Error::new(cause.kind(), format!("{what} {}: {cause}", p.display())),
    };
    std::fs::create_dir_all(&dir).map_err(|e| io("creating", &dir, e))?;
    let mut parts: Vec<Run> = Vec::new();
    let mut chunk: Vec<Entry> = Vec::new();
    let mut seen_total = 0u64;
    let flush = |chunk: &mut Vec<Entry>, parts: &mut Vec<Run>| -> Result<()> {
        chunk.sort_unstable_by_key(|e| e.fp);
        chunk.dedup_by_key(|e| e.fp);
        let p = dir.join(format!("run-{:08}.part{}.fp", next, parts.len()));
        parts.push(Run::write(&p, chunk.drain(..)).map_err(|e| io("writing", &p, e))?);
        Ok(())
    };
    for e in entries {
        chunk.push(e?);
        seen_total += 1;
        if chunk.len() >= REBUILD_CHUNK {
            flush(&mut chunk, &mut parts)?;
            log::info!("seen-set: {seen_total} URLs sorted");
        }
    }
    flush(&mut chunk, &mut parts)?;
    let name = format!("run-{next:08}.fp");
    let path = dir.join(&name);
    let sources: Vec<&Run> = parts.iter().collect();
    run::merge(&sources, &path).map_err(|e| damaged(db_dir, e))?;
    for p in &parts {
        let _ = std::fs::remove_file(p.path());
    }
    Ok(Manifest {
        runs: vec![name],
        next: next + 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(from: u64, n: u64) -> Vec<Entry> {
        (from..from + n)
            .map(|i| Entry {
                fp: i * 7 + 1,
                depth: 0,
                seq: i,
            })
            .collect()
    }

    /// An inbox left due by a kill -9 is not folded at the first transaction after the reopen
    /// (a crawl's seeds, before its first request), but once it has grown by a sixteenth of a
    /// checkpoint; after that checkpoint, every `checkpoint_at` entries again.
    #[test]
    fn an_inbox_left_due_by_a_crash_waits_for_more_entries_after_the_reopen() {
        let d = tempfile::Builder::new()
            .prefix("seen-due")
            .tempdir()
            .unwrap();
        let db = sled::Config::new().temporary(true).open().unwrap();
        let (meta, inbox) = (db.open_tree("m").unwrap(), db.open_tree("i").unwrap());
        inbox
            .insert(1u64.to_be_bytes(), pack(&entries(0, 10)))
            .unwrap();
        let open = || SeenSet::open_at(d.path(), Manifest::default(), &inbox, true, 64).unwrap();
        let mut s = open();
        assert!(!s.needs_checkpoint(), "an ordinary reopen: 10 of 64");
        drop(s);

        // Killed with its checkpoint due: 70 entries in the inbox, due at 70 + 64 / 16.
        inbox
            .insert(2u64.to_be_bytes(), pack(&entries(10, 60)))
            .unwrap();
        s = open();
        assert!(!s.needs_checkpoint(), "not due right after the reopen");
        s.record(3, &entries(70, 3));
        assert!(!s.needs_checkpoint(), "73 entries");
        s.record(4, &entries(73, 1));
        assert!(s.needs_checkpoint(), "74 entries");
        s.checkpoint(&db, &meta, &inbox).unwrap();
        assert_eq!(s.lookup(1).unwrap(), Some((0, 0)), "kept in the run");
        s.record(5, &entries(200, 63));
        assert!(!s.needs_checkpoint(), "63 entries after the checkpoint");
        s.record(6, &entries(263, 1));
        assert!(s.needs_checkpoint(), "64 entries after the checkpoint");
    }
}
