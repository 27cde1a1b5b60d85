//! Compaction of the body segments (`politecrawl compact`): the space of bodies nothing refers
//! to (written for an outcome that was never stored: a crash before its commit, a retried
//! 429/503) comes back.
//!
//! Both logs first move to fresh segments; then every stored page is copied, in order: its
//! body (when it lies before the new segments) to the body log, its record, pointing at the
//! copy, to the page log. The copies are synced, then one transaction moves the page log's
//! span to the new segments. Only once that is on disk are the old segment files deleted. A
//! crash before the switch leaves every record and body where it was (the copies are
//! garbage: the page log's are cut off at the next open, the bodies' reclaimed by the next
//! `compact`); after it, the old files are what is garbage, deleted by the next open or
//! `compact`. The copy needs as much free disk as the live bodies and records.

use super::page_log::{Span, KEY_SPAN};
use super::{encode, Store};
use crate::error::{Error, Result};

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
        // Queued rechecks may hold the place of the body they compare with (see
        // `versions::Revisit::body`), which compaction moves.
        if let Some(r) = self.round()?.filter(|r| r.unfinished()) {
            return Err(Error::Config(format!(
                "{}: recrawl round {} still has {} rechecks queued, which refer to bodies \
                 compaction would move; finish it first (politecrawl crawl --db {}), then compact",
                self.path.display(),
                r.number,
                r.tally.left(),
                self.path.display()
            )));
        }
        // Every `recent` entry goes: nothing written before this point can be lost any more.
        self.flush()?;
        let bytes_before = self.segment_bytes()?;
        let old_span = self.span()?;
        let first_body = self
            .body_log
            .rotate()
            .map_err(|e| io("starting a new body segment", e))?;
        let first_page = self
            .page_log
            .rotate()
            .map_err(|e| io("starting a new page records segment", e))?;
        let mut moved = 0u64;
        for page in self.page_log.iter(&self.path, old_span) {
            let (_, mut page) = page?;
            if let Some(r) = page.body.as_mut() {
                let body = self
                    .body_log
                    .read(r)
                    .map_err(|e| io("reading a body to move", e))?;
                *r = self
                    .body_log
                    .append(&body)
                    .map_err(|e| io("writing a moved body", e))?;
                moved += 1;
            }
            self.page_log
                .append(&page.record, page.body.as_ref())
                .map_err(|e| io("writing a moved page record", e))?;
        }
        self.body_log
            .sync()
            .map_err(|e| io("syncing moved bodies", e))?;
        self.page_log
            .sync()
            .map_err(|e| io("syncing moved page records", e))?;
        crate::crashpoint::hit("compact-copied");
        let span = encode(&Span {
            first: first_page,
            end: self.page_log.end(),
        });
        self.meta
            .insert(KEY_SPAN, span)
            .map_err(|e| self.db_err("switching to the compacted segments", e))?;
        self.db
            .flush()
            .map_err(|e| self.db_err("syncing the compacted span", e))?;
        crate::crashpoint::hit("compact-switched");
        for s in self
            .body_log
            .segments()
            .map_err(|e| io("listing body segments", e))?
        {
            if s < first_body {
                self.body_log
                    .remove_segment(s)
                    .map_err(|e| io("removing an old body segment", e))?;
            }
        }
        for s in self
            .page_log
            .segments()
            .map_err(|e| io("listing page segments", e))?
        {
            if s < first_page {
                self.page_log
                    .remove_segment(s)
                    .map_err(|e| io("removing an old page records segment", e))?;
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
