//! The upgrade of a schema 3 database, whose page records and body positions were one sled key
//! each (`pages`, `bodies`): the records move into the page log (see [`super::page_log`]) with
//! their body positions, and the tallies `status` reads are counted once.
//!
//! Never half-converted: the log and the tallies are written while nothing refers to them (a
//! schema 3 build reads neither); one transaction then sets the schema version, the log's span
//! and the breakdown, and swaps the `recent` entries; only after that is on disk are the old
//! trees dropped. A crash before the switch leaves a schema 3 database (the upgrade starts
//! again at the next open, clearing what the interrupted one wrote); after it, a schema 4 one.
//!
//! Schema 3's `recent` names pages whose bodies may not have reached the disk before the last
//! stop. Those records go last, in that order, each with a schema 4 `recent` entry, so that
//! start-up recovery checks them exactly as it checks the pages of a crawl cut by a power loss.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use sled::transaction::{ConflictableTransactionError, Transactional};
use sled::Tree;

use super::bodies::{position_key, BodyRef};
use super::page_log::{self, PageLog, Span};
use super::{decode, encode, origin_of_url, Breakdown, HostTally, PageRecord, KEY_SCHEMA};
use super::{KEY_BREAKDOWN, SCHEMA_VERSION};
use crate::crashpoint;
use crate::error::{Error, Result};

/// The schema this step upgrades from.
pub(super) const FROM: u32 = 3;

/// Trees of schema 3 that schema 4 replaced.
pub(super) const OLD_TREES: [&str; 2] = ["pages", "bodies"];

/// Upgrades a schema 3 database to schema 4, in place.
pub(super) fn from_3(
    path: &Path,
    db: &sled::Db,
    meta: &Tree,
    host_pages: &Tree,
    recent: &Tree,
) -> Result<()> {
    log::warn!(
        "upgrading {} from schema 3 to {SCHEMA_VERSION}: page records move to {}/; every \
         record is read once",
        path.display(),
        page_log::DIR
    );
    let dir = path.join(page_log::DIR);
    match std::fs::remove_dir_all(&dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(Error::io(
                format!("removing {} left by an interrupted upgrade", dir.display()),
                e,
            ))
        }
        _ => {}
    }
    host_pages
        .clear()
        .map_err(|cause| db_err(path, "clearing an interrupted upgrade", cause))?;
    let tree = |name| {
        db.open_tree(name)
            .map_err(|cause| db_err(path, "opening a schema 3 tree", cause))
    };
    let (pages, bodies) = (tree("pages")?, tree("bodies")?);
    let old_recent: Vec<(sled::IVec, sled::IVec)> = recent
        .iter()
        .collect::<std::result::Result<_, _>>()
        .map_err(|cause| db_err(path, "reading recent bodies", cause))?;
    let last: HashSet<&[u8]> = old_recent.iter().map(|(_, url)| url.as_ref()).collect();
    let log = PageLog::open(path, Span::default(), true).map_err(|e| pages_err(path, e))?;
    let mut breakdown = Breakdown::default();
    let mut tallies: BTreeMap<String, HostTally> = BTreeMap::new();
    let mut put = |url: &[u8], v: &[u8]| -> Result<((u32, u64), Vec<u8>)> {
        let rec: PageRecord = decode(&String::from_utf8_lossy(url), v)?;
        let body: Option<BodyRef> = bodies
            .get(url)
            .map_err(|cause| db_err(path, "reading body positions", cause))?
            .map(|v| decode("bodies", &v))
            .transpose()?;
        breakdown.count(&rec, true);
        tallies
            .entry(origin_of_url(&rec.url))
            .or_default()
            .count(&rec, true);
        log.append(&rec, body.as_ref())
            .map_err(|e| pages_err(path, e))
    };
    let mut n = 0u64;
    for kv in pages.iter() {
        let (url, v) = kv.map_err(|cause| db_err(path, "reading pages", cause))?;
        if !last.contains(url.as_ref()) {
            put(&url, &v)?;
            n += 1;
        }
    }
    let mut new_recent = Vec::new();
    for (_, url) in &old_recent {
        if let Some(v) = pages
            .get(url)
            .map_err(|cause| db_err(path, "reading pages", cause))?
        {
            let (pos, payload) = put(url, &v)?;
            new_recent.push((position_key(pos.0, pos.1), payload));
            n += 1;
        }
    }
    log.sync().map_err(|e| pages_err(path, e))?;
    let mut batch = sled::Batch::default();
    for (origin, t) in &tallies {
        batch.insert(origin.as_bytes(), encode(t));
    }
    host_pages
        .apply_batch(batch)
        .map_err(|cause| db_err(path, "writing host tallies", cause))?;
    crashpoint::hit("upgrade-pages-built");
    let span = encode(&Span {
        first: 1,
        end: log.end(),
    });
    let breakdown = encode(&breakdown);
    (meta, recent)
        .transaction(|(meta, recent)| {
            for (k, _) in &old_recent {
                recent.remove(k)?;
            }
            for (k, v) in &new_recent {
                recent.insert(&k[..], v.as_slice())?;
            }
            meta.insert(page_log::KEY_SPAN, span.as_slice())?;
            meta.insert(KEY_BREAKDOWN, breakdown.as_slice())?;
            meta.insert(KEY_SCHEMA, &SCHEMA_VERSION.to_be_bytes())?;
            Ok::<_, ConflictableTransactionError<()>>(())
        })
        .map_err(|e| match e {
            sled::transaction::TransactionError::Storage(cause) => {
                db_err(path, "switching to schema 4", cause)
            }
            sled::transaction::TransactionError::Abort(()) => Error::Corrupt {
                key: "meta".into(),
                reason: "the switch to schema 4 aborted".into(),
            },
        })?;
    db.flush()
        .map_err(|cause| db_err(path, "syncing the upgrade", cause))?;
    super::upgrade::drop_trees(path, db, &OLD_TREES)?;
    log::warn!(
        "upgraded {} to schema {SCHEMA_VERSION}: {n} page records moved",
        path.display()
    );
    Ok(())
}

fn pages_err(path: &Path, cause: std::io::Error) -> Error {
    Error::Bodies {
        path: path.to_path_buf(),
        action: "writing the page records' log",
        cause,
    }
}

fn db_err(path: &Path, action: &'static str, cause: sled::Error) -> Error {
    Error::Db {
        path: path.to_path_buf(),
        action,
        cause,
    }
}
