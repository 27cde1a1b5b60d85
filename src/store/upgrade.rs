//! The upgrade of a schema 2 database (whose queue and seen-set were one sled key per URL) and
//! `politecrawl repair` (a seen-set run damaged or lost): both build the seen-set from the
//! other trees; the upgrade first packs the old queue into chunks.
//!
//! Every URL ever queued is in exactly one of `queue`, `delayed` (a retry waiting) or `pages`
//! (an outcome stored), so the seen-set can always be derived from them: the queue key gives a
//! queued URL's depth and sequence number, a page record its depth.
//!
//! Never half-converted: the chunks and the new run are written while nothing refers to them
//! (a schema 2 build reads neither); one atomic batch on `meta` then names the run and sets the
//! schema version; only after that is on disk are the old `queue` and `seen` trees dropped. A
//! crash before the switch leaves a schema 2 database (the upgrade starts again from the old
//! trees at the next open, clearing what the interrupted one wrote); after it, a schema 3 one
//! (left-over old trees are dropped at the next open).

use std::path::Path;

use sled::Tree;

use super::{decode, PageRecord, KEY_SCHEMA};
use crate::crashpoint;
use crate::error::{Error, Result};
use crate::frontier::entry::{self, QueueEntry};
use crate::frontier::sled::queue::{self, QueueSet};
use crate::frontier::sled::seen::{self, Entry, Manifest};

/// The schema this build upgrades from.
pub(super) const FROM: u32 = 2;

/// The schema this step upgrades to (the next step, [`super::upgrade_pages`], goes on to 4).
const TO: u32 = 3;

/// What the seen-set is derived from: the queue, the parked retries, and every stored page's
/// URL and depth.
pub(super) struct Derived<'a> {
    pub queue: &'a QueueSet,
    pub delayed: &'a Tree,
    pub stored: Box<dyn Iterator<Item = Result<(String, u32)>> + 'a>,
}

/// Trees of schema 2 that schema 3 replaced.
pub(super) const OLD_TREES: [&str; 2] = ["seen", "queue"];

/// A schema 3 `pages` tree's URLs and depths.
pub(super) fn tree_pages<'a>(
    path: &'a Path,
    pages: &'a Tree,
) -> Box<dyn Iterator<Item = Result<(String, u32)>> + 'a> {
    Box::new(pages.iter().map(move |kv| {
        let (k, v) = kv.map_err(|cause| db_err(path, "reading pages", cause))?;
        let url = String::from_utf8_lossy(&k).into_owned();
        let rec: PageRecord = decode(&url, &v)?;
        Ok((url, rec.depth))
    }))
}

/// Sequence number of a URL that is not queued (its page is stored): no queue key has it.
pub(crate) const NOT_QUEUED: u64 = u64::MAX;

/// Upgrades a schema 2 database to this schema, in place.
pub(super) fn from_2(
    path: &Path,
    db: &sled::Db,
    meta: &Tree,
    (chunks, log): (&Tree, &Tree),
    (delayed, pages): (&Tree, &Tree),
) -> Result<()> {
    log::warn!(
        "upgrading {} from schema 2 to {TO}: the queue moves to chunks and the \
         seen-set to run files; every queued URL and page record is read once",
        path.display()
    );
    remove_runs(path)?;
    for t in [chunks, log] {
        t.clear()
            .map_err(|cause| db_err(path, "clearing an interrupted upgrade", cause))?;
    }
    let old_queue = db
        .open_tree("queue")
        .map_err(|cause| db_err(path, "opening the schema 2 queue", cause))?;
    let packed = pack_queue(path, &old_queue, chunks)?;
    log::warn!(
        "{}: {packed} queued URLs packed into chunks",
        path.display()
    );
    let queue = QueueSet::open(path, chunks.clone(), log.clone())?;
    let derived = Derived {
        queue: &queue,
        delayed,
        stored: tree_pages(path, pages),
    };
    let manifest = seen::rebuild(path, 0, entries(path, derived))?;
    crashpoint::hit("upgrade-seen-built");
    let mut batch = sled::Batch::default();
    batch.insert(seen::KEY_MANIFEST, super::encode(&manifest));
    batch.insert(KEY_SCHEMA, &TO.to_be_bytes());
    meta.apply_batch(batch)
        .map_err(|cause| db_err(path, "switching to schema 3", cause))?;
    db.flush()
        .map_err(|cause| db_err(path, "syncing the upgrade", cause))?;
    drop_trees(path, db, &OLD_TREES)?;
    log::warn!("upgraded {} to schema {TO}", path.display());
    Ok(())
}

/// Packs the schema 2 queue (one key per URL, in key order) into chunks; returns the URLs.
fn pack_queue(path: &Path, old: &Tree, chunks: &Tree) -> Result<u64> {
    let mut group: Option<[u8; 12]> = None;
    let mut run: Vec<(u64, QueueEntry)> = Vec::new();
    let mut batch = sled::Batch::default();
    let (mut n, mut in_batch) = (0u64, 0usize);
    let write = |batch: sled::Batch| {
        chunks
            .apply_batch(batch)
            .map_err(|cause| db_err(path, "writing queue chunks", cause))
    };
    for kv in old.iter() {
        let (k, v) = kv.map_err(|cause| db_err(path, "reading the schema 2 queue", cause))?;
        let key: [u8; 20] = k.as_ref().try_into().map_err(|_| Error::Corrupt {
            key: "queue".into(),
            reason: format!("a key of {} bytes", k.len()),
        })?;
        let g: [u8; 12] = key[..12].try_into().unwrap_or_default();
        if group != Some(g) || run.len() >= 64 {
            if let Some(prev) = group {
                queue::put_chunks(&mut batch, prev, &run);
                in_batch += 1;
            }
            run.clear();
            group = Some(g);
        }
        let seq = u64::from_be_bytes(key[12..].try_into().unwrap_or_default());
        run.push((seq, decode("queue entry", &v)?));
        n += 1;
        if in_batch >= 1024 {
            write(std::mem::take(&mut batch))?;
            in_batch = 0;
        }
    }
    if let Some(prev) = group {
        queue::put_chunks(&mut batch, prev, &run);
    }
    write(batch)?;
    Ok(n)
}

/// Drops the trees of an older schema an upgrade left (dead once the switch is on disk).
pub(super) fn drop_trees(path: &Path, db: &sled::Db, old_trees: &[&str]) -> Result<()> {
    let names = db.tree_names();
    let mut dropped = false;
    for old in old_trees {
        if names.iter().any(|n| n.as_ref() == old.as_bytes()) {
            db.drop_tree(old)
                .map_err(|cause| db_err(path, "dropping an old schema's tree", cause))?;
            dropped = true;
        }
    }
    if dropped {
        db.flush()
            .map_err(|cause| db_err(path, "syncing the upgrade", cause))?;
    }
    Ok(())
}

/// Replaces the seen-set with one derived from the other trees (`politecrawl repair`): the
/// new run, then the manifest naming it, then the inbox is emptied (the trees hold its URLs
/// too, so a crash between the two only leaves duplicates), then the old runs go.
pub(super) fn rebuild_seen(
    path: &Path,
    db: &sled::Db,
    meta: &Tree,
    inbox: &Tree,
    trees: Derived<'_>,
) -> Result<()> {
    let old: Manifest = match meta
        .get(seen::KEY_MANIFEST)
        .map_err(|cause| db_err(path, "reading the seen-set manifest", cause))?
    {
        Some(v) => decode("meta/seen_runs", &v).unwrap_or_default(),
        None => Manifest::default(),
    };
    // Numbered past every file there, named in the manifest or not.
    let next = old.next.max(highest_run_number(path) + 1);
    let manifest = seen::rebuild(path, next, entries(path, trees))?;
    log::warn!(
        "{}: the seen-set was rebuilt from the queue, the retries and the pages",
        path.display()
    );
    meta.insert(seen::KEY_MANIFEST, super::encode(&manifest))
        .map_err(|cause| db_err(path, "switching to the rebuilt seen-set", cause))?;
    inbox
        .clear()
        .map_err(|cause| db_err(path, "emptying the seen-set inbox", cause))?;
    db.flush()
        .map_err(|cause| db_err(path, "syncing the rebuilt seen-set", cause))?;
    for name in old.runs {
        let _ = std::fs::remove_file(path.join(seen::DIR).join(name));
    }
    Ok(())
}

/// Every URL the trees hold, as a seen-set entry.
fn entries<'a>(path: &'a Path, t: Derived<'a>) -> impl Iterator<Item = Result<Entry>> + 'a {
    let queued = match t.queue.iter() {
        Ok(it) => Box::new(it.map(|kv| {
            let (k, e) = kv?;
            queued_entry(&k, &e.url)
        })) as Box<dyn Iterator<Item = Result<Entry>>>,
        Err(e) => Box::new(std::iter::once(Err(e))),
    };
    let parked = t.delayed.iter().map(move |kv| {
        let (k, v) = kv.map_err(|cause| db_err(path, "reading parked retries", cause))?;
        let e: QueueEntry = entry::decode_entry("delayed", &v)?;
        queued_entry(k.get(8..).unwrap_or_default(), &e.url)
    });
    let stored = t.stored.map(|page| {
        let (url, depth) = page?;
        Ok(Entry {
            fp: entry::key_of(&url),
            depth,
            seq: NOT_QUEUED,
        })
    });
    queued.chain(parked).chain(stored)
}

/// The seen-set entry of a queued URL.
fn queued_entry(key: &[u8], url: &str) -> Result<Entry> {
    if key.len() != 20 {
        return Err(Error::Corrupt {
            key: "queue".into(),
            reason: format!("a key of {} bytes", key.len()),
        });
    }
    Ok(Entry {
        fp: entry::key_of(url),
        depth: u32::from_be_bytes(key[8..12].try_into().unwrap_or_default()),
        seq: u64::from_be_bytes(key[12..20].try_into().unwrap_or_default()),
    })
}

/// Removes run files (an interrupted upgrade's): a schema 2 database has none of its own.
fn remove_runs(path: &Path) -> Result<()> {
    let dir = path.join(seen::DIR);
    match std::fs::remove_dir_all(&dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(
            format!("removing {} left by an interrupted upgrade", dir.display()),
            e,
        )),
        _ => Ok(()),
    }
}

fn highest_run_number(path: &Path) -> u64 {
    std::fs::read_dir(path.join(seen::DIR))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_prefix("run-")?.get(..8)?.parse().ok()
        })
        .max()
        .unwrap_or(0)
}

fn db_err(path: &Path, action: &'static str, cause: sled::Error) -> Error {
    Error::Db {
        path: path.to_path_buf(),
        action,
        cause,
    }
}
