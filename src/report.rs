//! What one crawl run did: why it stopped, its counters, the closing summary line and the
//! `--report` JSON (which adds the database's [`Status`] at the end).

use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::error::Result;
use crate::status::{status, Status};
use crate::store::{Counters, Store};

/// Why the crawl stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// Nothing is left in the queue.
    Finished,
    /// `--max-pages` outcomes are stored; the rest stays queued.
    MaxPages,
    /// A stop was requested (by this signal number); the rest stays queued.
    Interrupted(i32),
    /// `--max-time` passed: requests in flight were let finish; the rest stays queued.
    MaxTime,
    /// The bodies stored reached `--max-bytes`: requests in flight were let finish; the rest
    /// stays queued.
    MaxBytes,
    /// The database's disk had less free space than `--min-free-disk`: stopped as on a
    /// signal, before the disk filled; the rest stays queued.
    DiskLow,
}

impl StopReason {
    /// The process's exit code for a run that stopped so, the same for a crawl of its own and a
    /// worker of a shared one: 0 for a run that did what it was asked (finished, or stopped at
    /// a limit it was given), 1 when the disk ran low (nothing lost, but the crawl cannot go on
    /// until there is room), 128 + the signal's number when one stopped it, as shells report.
    pub fn exit_code(self) -> u8 {
        match self {
            StopReason::Finished
            | StopReason::MaxPages
            | StopReason::MaxTime
            | StopReason::MaxBytes => 0,
            StopReason::DiskLow => 1,
            StopReason::Interrupted(signal) => (128 + signal).clamp(0, 255) as u8,
        }
    }

    /// `finished`, `max_pages`, `max_time`, `max_bytes`, `disk_low` or `interrupted`, as the
    /// report says it.
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::Finished => "finished",
            StopReason::MaxPages => "max_pages",
            StopReason::MaxTime => "max_time",
            StopReason::MaxBytes => "max_bytes",
            StopReason::DiskLow => "disk_low",
            StopReason::Interrupted(_) => "interrupted",
        }
    }
}

/// What one run did, counted by the engine as outcomes are stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RunCounters {
    /// Outcomes stored (done + failed).
    pub stored: u64,
    /// Of which done.
    pub done: u64,
    /// Of which failed.
    pub failed: u64,
    /// Body bytes of the outcomes stored (what `--max-bytes` counts, with the database's).
    pub bytes: u64,
    /// URLs blocked by robots.txt.
    pub blocked: u64,
    /// Requests re-queued for another try (429/503 and transient failures).
    pub retried: u64,
    /// Rechecks of stored pages settled (`--recrawl`; not in `stored`).
    pub checked: u64,
    /// Discovered URLs the trap rules on paths kept out of the queue, by rule.
    pub traps: crate::traps::TrapCounts,
    /// robots.txt fetches made (not in the report).
    #[serde(skip)]
    pub robots_fetched: u64,
}

/// What a crawl run did, for the closing summary.
#[derive(Clone, Debug)]
pub struct Summary {
    /// What this run did.
    pub run: RunCounters,
    /// Database totals at the end of the run.
    pub totals: Counters,
    /// The recrawl round the run worked on, as it stands at the end.
    pub round: Option<crate::store::rounds::Round>,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Why it stopped.
    pub stop: StopReason,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.elapsed.as_secs_f64();
        let rate = if secs > 0.0 {
            self.run.stored as f64 / secs
        } else {
            0.0
        };
        write!(
            f,
            "{}: stored {} ({} done, {} failed), {} blocked by robots.txt, {} retried, in {:.1}s, {:.1} pages/s; database: {} done, {} failed, {} blocked, {} left in queue",
            match self.stop {
                StopReason::Finished => "crawl finished",
                StopReason::MaxPages => "page budget reached",
                StopReason::MaxTime => "time limit reached",
                StopReason::MaxBytes => "byte budget reached",
                StopReason::DiskLow => "crawl stopped: the database's disk is nearly full",
                StopReason::Interrupted(_) => "crawl stopped",
            },
            self.run.stored,
            self.run.done,
            self.run.failed,
            self.run.blocked,
            self.run.retried,
            secs,
            rate,
            self.totals.done,
            self.totals.failed,
            self.totals.blocked,
            self.totals.queued + self.totals.in_flight,
        )?;
        if let Some(r) = &self.round {
            write!(f, "; recrawl round {}: {}", r.number, r.tally)?;
        }
        let t = &self.run.traps;
        if t.total() > 0 {
            write!(
                f,
                "; trap rules kept out {} links (repeated_segment {}, too_many_segments {}, too_many_params {}, pattern_budget {})",
                t.total(),
                t.repeated_segment,
                t.too_many_segments,
                t.too_many_params,
                t.pattern_budget
            )?;
        }
        let copies = t.duplicate_content + t.soft_404 + t.canonical;
        if copies > 0 {
            write!(
                f,
                "; {copies} pages were copies, their links not followed (duplicate_content {}, soft_404 {}, canonical {})",
                t.duplicate_content, t.soft_404, t.canonical
            )?;
        }
        Ok(())
    }
}

/// The `--report` of a crawl run: what this run did, and the database's [`Status`] at its end.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// When the run started (RFC 3339).
    pub started_at: String,
    /// When it ended.
    pub ended_at: String,
    /// `finished`, `max_pages` or `interrupted`.
    pub stop: String,
    /// This run's numbers.
    pub run: RunReport,
    /// The database at the end of the run (the same object as `status --json`).
    pub status: Status,
}

/// What one run did, with its pace.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    /// The run's counters.
    #[serde(flatten)]
    pub counters: RunCounters,
    /// Wall time in seconds.
    pub elapsed_s: f64,
    /// Outcomes stored per second.
    pub pages_per_s: f64,
}

impl Report {
    /// The report of a run that started at `started` and ended with `summary`.
    pub fn new(store: &Store, summary: &Summary, started: SystemTime) -> Result<Self> {
        let secs = summary.elapsed.as_secs_f64();
        Ok(Report {
            started_at: humantime::format_rfc3339_millis(started).to_string(),
            ended_at: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            stop: summary.stop.as_str().into(),
            run: RunReport {
                counters: summary.run,
                elapsed_s: secs,
                pages_per_s: if secs > 0.0 {
                    summary.run.stored as f64 / secs
                } else {
                    0.0
                },
            },
            status: status(store)?,
        })
    }
}
