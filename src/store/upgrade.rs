//! Building the seen-set from the other trees: the upgrade of a schema 2 database (whose
//! seen-set was one sled key per URL) and `politecrawl repair` (a run file damaged or lost).
//!
//! Every URL ever queued is in exactly one of `queue`, `delayed` (a retry waiting) or `pages`
//! (an outcome stored), so the seen-set can always be derived from them: the queue key gives a
//! queued URL's depth and sequence number, a page record its depth.
//!
//! Never half-converted: the new run is written and synced while nothing refers to it; one
//! atomic batch on `meta` then names it and, for an upgrade, sets the schema version; only
//! after that is on disk is the old `seen` tree dropped. A crash before the switch leaves a
//! schema 2 database (the stray file is removed and the upgrade starts again at the next
//! open); after it, a schema 3 one (a left-over `seen` tree is dropped at the next open).

use std::path::Path;

use serde::Deserialize;
use sled::Tree;

use super::{decode, PageRecord, KEY_SCHEMA, SCHEMA_VERSION};
use crate::crashpoint;
use crate::error::{Error, Result};
use crate::seen::{self, Entry, Manifest};

/// The schema this build upgrades from.
pub(super) const FROM: u32 = 2;

/// The trees the seen-set is derived from.
#[derive(Clone, Copy)]
pub(super) struct Derived<'a> {
    pub queue: &'a Tree,
    pub delayed: &'a Tree,
    pub pages: &'a Tree,
}

/// Sequence number of a URL that is not queued (its page is stored): no queue key has it.
pub(crate) const NOT_QUEUED: u64 = u64::MAX;

/// Upgrades a schema 2 database to this schema, in place.
pub(super) fn from_2(path: &Path, db: &sled::Db, meta: &Tree, trees: Derived<'_>) -> Result<()> {
    log::warn!(
        "upgrading {} from schema 2 to {SCHEMA_VERSION}: the seen-set moves to run files; \
         every queued URL and page record is read once",
        path.display()
    );
    remove_runs(path)?;
    let manifest = seen::rebuild(path, 0, entries(path, trees))?;
    crashpoint::hit("upgrade-seen-built");
    let mut batch = sled::Batch::default();
    batch.insert(seen::KEY_MANIFEST, super::encode(&manifest));
    batch.insert(KEY_SCHEMA, &SCHEMA_VERSION.to_be_bytes());
    meta.apply_batch(batch)
        .map_err(|cause| db_err(path, "switching to schema 3", cause))?;
    db.flush()
        .map_err(|cause| db_err(path, "syncing the upgrade", cause))?;
    drop_old_seen_tree(path, db)?;
    log::warn!("upgraded {} to schema {SCHEMA_VERSION}", path.display());
    Ok(())
}

/// Drops the schema 2 `seen` tree if an upgrade left it (it is dead once the schema is 3).
pub(super) fn drop_old_seen_tree(path: &Path, db: &sled::Db) -> Result<()> {
    if !db.tree_names().iter().any(|n| n.as_ref() == b"seen") {
        return Ok(());
    }
    db.drop_tree("seen")
        .map_err(|cause| db_err(path, "dropping the schema 2 seen-set", cause))?;
    db.flush()
        .map_err(|cause| db_err(path, "syncing the upgrade", cause))
        .map(drop)
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
    let queued = t.queue.iter().map(move |kv| {
        let (k, v) = kv.map_err(|cause| db_err(path, "reading the queue", cause))?;
        queued_entry(&k, &v)
    });
    let parked = t.delayed.iter().map(move |kv| {
        let (k, v) = kv.map_err(|cause| db_err(path, "reading parked retries", cause))?;
        queued_entry(k.get(8..).unwrap_or_default(), &v)
    });
    let stored = t.pages.iter().map(move |kv| {
        let (k, v) = kv.map_err(|cause| db_err(path, "reading pages", cause))?;
        let url = String::from_utf8_lossy(&k);
        let rec: PageRecord = decode(&url, &v)?;
        Ok(Entry {
            fp: seen::fingerprint(&url),
            depth: rec.depth,
            seq: NOT_QUEUED,
        })
    });
    queued.chain(parked).chain(stored)
}

/// The entry of a queued URL from its queue key and entry (only the URL, its first field, is
/// decoded).
fn queued_entry(key: &[u8], value: &[u8]) -> Result<Entry> {
    #[derive(Deserialize)]
    struct UrlFirst {
        url: String,
    }
    let bad = |reason: String| Error::Corrupt {
        key: "queue".into(),
        reason,
    };
    if key.len() != 20 {
        return Err(bad(format!("a key of {} bytes", key.len())));
    }
    let (first, _) =
        postcard::take_from_bytes::<UrlFirst>(value).map_err(|e| bad(e.to_string()))?;
    Ok(Entry {
        fp: seen::fingerprint(&first.url),
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
