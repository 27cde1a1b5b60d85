//! Publishing where a running crawl stands: the shared snapshot a progress display reads a few
//! times a second, and `live-status.json` in the database directory every two seconds for
//! `status` run from another process.

use std::time::Instant;

use super::Engine;
use crate::error::Result;
use crate::progress::{self, Live, Snapshot};

impl Engine<'_> {
    /// Refreshes the shared progress snapshot, a few times a second.
    pub(super) fn report_progress(&mut self) -> Result<()> {
        if self.last_progress.elapsed() < progress::REFRESH {
            return Ok(());
        }
        self.last_progress = Instant::now();
        let c = self.frontier.counters()?;
        let now = Instant::now();
        let paused = self
            .sched
            .slots()
            .filter(|(_, s)| s.pause_until.is_some_and(|t| t > now))
            .count() as u64;
        let snapshot = Snapshot {
            stored: self.stats.stored,
            done: c.done,
            failed: c.failed,
            blocked: c.blocked,
            // Leased URLs stay queued in the database until settled.
            queued: c.queued.saturating_sub(self.pages_in_flight),
            in_flight: self.in_flight as u64,
            bytes: c.bytes,
            retried: self.stats.retried,
            hosts_paused: paused,
            max_pages: self.config.max_pages,
            concurrency: self.config.concurrency as u64,
            hosts_ready: self.sched.ready_now(now) as u64,
            elapsed: 0.0,
        };
        self.progress.set(snapshot);
        if self.last_live.elapsed() >= progress::LIVE_EVERY {
            self.last_live = Instant::now();
            let mut live = self.progress.get();
            live.in_flight = snapshot.in_flight;
            if let Err(e) = Live::write(self.dir, live) {
                log::warn!("cannot write {}: {e}", progress::LIVE_FILE);
            }
        }
        Ok(())
    }
}
