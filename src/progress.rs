//! What a running crawl shows about itself. The engine keeps a [`Snapshot`] up to date in a
//! shared [`Progress`] (a few times a second); the binary renders it as a progress bar on a
//! terminal or as a plain line every few seconds elsewhere. Nothing here prints.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The numbers a progress display needs.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    /// Outcomes stored by this run.
    pub stored: u64,
    /// Database totals.
    pub done: u64,
    /// Failed URLs in the database.
    pub failed: u64,
    /// Blocked URLs in the database.
    pub blocked: u64,
    /// URLs waiting (retries included).
    pub queued: u64,
    /// Requests in flight.
    pub in_flight: u64,
    /// Body bytes stored in the database.
    pub bytes: u64,
    /// Requests re-queued by this run.
    pub retried: u64,
    /// Hosts paused by Retry-After, back-off or an unreachable robots.txt right now.
    pub hosts_paused: u64,
    /// `--max-pages`, for an ETA.
    pub max_pages: Option<u64>,
    /// `--concurrency`: fetch slots in all.
    #[serde(default)]
    pub concurrency: u64,
    /// Hosts with work that could start a request now but wait for a free fetch slot.
    #[serde(default)]
    pub hosts_ready: u64,
    /// Seconds since the run started.
    pub elapsed: f64,
}

impl Snapshot {
    /// Outcomes stored by this run per second.
    pub fn rate(&self) -> f64 {
        if self.elapsed > 0.0 {
            self.stored as f64 / self.elapsed
        } else {
            0.0
        }
    }

    /// One plain line, as printed every few seconds off a terminal.
    pub fn line(&self) -> String {
        format!(
            "progress: {} done, {} failed, {} blocked, {} queued, {} in flight, {:.1} pages/s, {} stored, {} hosts paused{}",
            self.done,
            self.failed,
            self.blocked,
            self.queued,
            self.in_flight,
            self.rate(),
            human_bytes(self.bytes),
            self.hosts_paused,
            self.bottleneck().map(|b| format!("; {b}")).unwrap_or_default()
        )
    }

    /// When every fetch slot is busy while hosts wait that could be fetched now, the crawl is
    /// held back by `--concurrency`, not by politeness: says so, with the flag to raise.
    pub fn bottleneck(&self) -> Option<String> {
        let busy = self.concurrency > 0 && self.in_flight >= self.concurrency;
        (busy && self.hosts_ready > 0).then(|| {
            format!(
                "all {} fetch slots busy, {} hosts ready: raise --concurrency",
                self.concurrency, self.hosts_ready
            )
        })
    }
}

/// `1.5 MiB`-style sizes.
pub fn human_bytes(n: u64) -> String {
    bytesize::ByteSize::b(n).display().iec().to_string()
}

/// A snapshot shared between the engine and whoever displays it.
#[derive(Clone, Debug, Default)]
pub struct Progress {
    inner: Arc<Mutex<Snapshot>>,
    started: Arc<Mutex<Option<Instant>>>,
}

impl Progress {
    /// An empty progress handle.
    pub fn new() -> Self {
        Self::default()
    }

    /// The latest snapshot.
    pub fn get(&self) -> Snapshot {
        self.inner.lock().map(|s| *s).unwrap_or_default()
    }

    /// Replaces the snapshot (the engine calls this).
    pub fn set(&self, mut s: Snapshot) {
        if let Ok(mut started) = self.started.lock() {
            s.elapsed = started
                .get_or_insert_with(Instant::now)
                .elapsed()
                .as_secs_f64();
        }
        if let Ok(mut inner) = self.inner.lock() {
            *inner = s;
        }
    }
}

/// How often the engine refreshes the snapshot.
pub const REFRESH: Duration = Duration::from_millis(250);

/// How often a running crawl writes its [`Live`] file into the database directory.
pub const LIVE_EVERY: Duration = Duration::from_secs(2);

/// File in the database directory where a running crawl publishes its numbers, so `status`
/// can show them while sled's lock keeps other processes out of the database itself.
pub const LIVE_FILE: &str = "live-status.json";

/// What `status` shows of a crawl that is running.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Live {
    /// When it was written (RFC 3339).
    pub at: String,
    /// The crawling process.
    pub pid: u32,
    /// Its numbers.
    #[serde(flatten)]
    pub snapshot: Snapshot,
}

impl Live {
    /// Publishes `snapshot` into `dir` (written beside and renamed, so readers never see half).
    pub fn write(dir: &std::path::Path, snapshot: Snapshot) -> std::io::Result<()> {
        let live = Live {
            at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            pid: std::process::id(),
            snapshot,
        };
        let json = serde_json::to_vec_pretty(&live).map_err(std::io::Error::other)?;
        crate::replace_file::replace(&dir.join(LIVE_FILE), &json, Default::default())
    }

    /// The numbers a running crawl last published in `dir`, if any.
    pub fn read(dir: &std::path::Path) -> Option<Live> {
        serde_json::from_slice(&std::fs::read(dir.join(LIVE_FILE)).ok()?).ok()
    }

    /// Removes the file when a run ends: the database itself is readable again.
    pub fn remove(dir: &std::path::Path) {
        let _ = std::fs::remove_file(dir.join(LIVE_FILE));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_says_when_concurrency_holds_the_crawl_back() {
        let mut s = Snapshot {
            in_flight: 16,
            concurrency: 16,
            hosts_ready: 40,
            ..Snapshot::default()
        };
        assert!(
            s.line()
                .ends_with("; all 16 fetch slots busy, 40 hosts ready: raise --concurrency"),
            "{}",
            s.line()
        );
        s.in_flight = 15;
        assert_eq!(
            s.bottleneck(),
            None,
            "a free slot: politeness is what waits"
        );
        (s.in_flight, s.hosts_ready) = (16, 0);
        assert_eq!(s.bottleneck(), None, "no host waiting for a slot");
    }

    #[test]
    fn snapshot_line_reads_well() {
        let s = Snapshot {
            stored: 50,
            done: 48,
            failed: 2,
            queued: 10,
            bytes: 1536,
            elapsed: 10.0,
            ..Snapshot::default()
        };
        assert_eq!(
            s.line(),
            "progress: 48 done, 2 failed, 0 blocked, 10 queued, 0 in flight, 5.0 pages/s, 1.5 KiB stored, 0 hosts paused"
        );
    }
}
