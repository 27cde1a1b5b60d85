//! Compaction of the body segments (`politecrawl compact`): the space of bodies nothing refers
//! to (written for an outcome that was never stored: a crash before its commit, a retried
//! 429/503) comes back.
//!
//! The log first moves to a fresh segment; then every live body in an older segment is copied
//! there, [`BATCH`] at a time: the copies are synced, then one atomic batch on the `bodies`
//! tree points their records at them. Only once every record points at the new segments, and
//! that is on disk, are the old segment files deleted. A crash at any point leaves every record
//! pointing at intact bytes (old or new); the next `compact` finishes the job, and the bytes
//! copied for a batch that was not switched are garbage it reclaims too.

use super::bodies::BodyRef;
use super::{decode, encode, Store};
use crate::error::{Error, Result};

/// Bodies moved per switch.
pub const BATCH: usize = 1024;

/// What a compaction did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Compacted {
    /// Bodies copied to the new segments.
    pub moved: u64,
    /// Bytes of segment files before.
    pub bytes_before: u64,
    /// Bytes of segment files after.
    pub bytes_after: u64,
}

impl Store {
    /// Compacts the body segments (see the module doc). Run with no crawl on the database (its
    /// lock guarantees it) and after start-up recovery, so every record's body is intact.
    pub fn compact_bodies(&self) -> Result<Compacted> {
        let io = |action: &'static str, cause: std::io::Error| Error::Bodies {
            path: self.path.clone(),
            action,
            cause,
        };
        let log = &self.body_log;
        let bytes_before = self.segment_bytes()?;
        let first_new = log
            .rotate()
            .map_err(|e| io("starting a new body segment", e))?;
        let batch_size = crate::crashpoint::knob("POLITECRAWL_COMPACT_BATCH", BATCH);
        let mut moved = 0u64;
        let mut pending: Vec<(sled::IVec, BodyRef)> = Vec::new();
        let mut switch = |pending: &mut Vec<(sled::IVec, BodyRef)>| -> Result<()> {
            if pending.is_empty() {
                return Ok(());
            }
            log.sync().map_err(|e| io("syncing moved bodies", e))?;
            let mut batch = sled::Batch::default();
            for (url, r) in pending.drain(..) {
                batch.insert(url, encode(&r));
                moved += 1;
            }
            self.bodies
                .apply_batch(batch)
                .map_err(|e| self.db_err("pointing records at moved bodies", e))?;
            crate::crashpoint::hit("compact-batch-switched");
            Ok(())
        };
        for kv in self.bodies.iter() {
            let (url, v) = kv.map_err(|e| self.db_err("reading body positions", e))?;
            let r: BodyRef = decode(&String::from_utf8_lossy(&url), &v)?;
            if r.segment >= first_new {
                continue;
            }
            let body = log.read(&r).map_err(|e| io("reading a body to move", e))?;
            let new = log
                .append(&body)
                .map_err(|e| io("writing a moved body", e))?;
            pending.push((url, new));
            if pending.len() >= batch_size {
                switch(&mut pending)?;
            }
        }
        switch(&mut pending)?;
        self.db
            .flush()
            .map_err(|e| self.db_err("syncing the moved body positions", e))?;
        for s in log.segments().map_err(|e| io("listing body segments", e))? {
            if s < first_new {
                log.remove_segment(s)
                    .map_err(|e| io("removing an old body segment", e))?;
            }
        }
        Ok(Compacted {
            moved,
            bytes_before,
            bytes_after: self.segment_bytes()?,
        })
    }

    /// Bytes of all body segment files.
    pub fn segment_bytes(&self) -> Result<u64> {
        let io = |cause| Error::Bodies {
            path: self.path.clone(),
            action: "reading body segment sizes",
            cause,
        };
        let mut total = 0;
        for entry in std::fs::read_dir(self.body_log.dir()).map_err(io)? {
            let entry = entry.map_err(io)?;
            if entry.file_name().to_string_lossy().ends_with(".seg") {
                total += entry.metadata().map_err(io)?.len();
            }
        }
        Ok(total)
    }
}
