//! Where a crawl stands, read from its database: totals, and counts by HTTP status, host and
//! error kind. The JSON form is a stable interface (documented in the README).

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use url::Url;

use crate::canon;
use crate::config::CrawlConfig;
use crate::error::Result;
use crate::store::Store;

/// A crawl's state. Field names are the `status --json` keys.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Status {
    /// The database directory.
    pub db: String,
    /// Seeds recorded for this crawl.
    pub seeds: Vec<String>,
    /// URLs waiting in the queue.
    pub queued: u64,
    /// URLs leased when the database was last written (0 after a clean stop).
    pub in_flight: u64,
    /// URLs stored with a response.
    pub done: u64,
    /// URLs stored as failed.
    pub failed: u64,
    /// Body bytes stored.
    pub bytes: u64,
    /// Stored responses by HTTP status code (as a string key).
    pub by_status: BTreeMap<String, u64>,
    /// Stored URLs by `host[:port]`.
    pub by_host: BTreeMap<String, u64>,
    /// Failed URLs by error kind.
    pub by_error: BTreeMap<String, u64>,
}

/// Reads the status of an open database. Counters come from the kept totals; the breakdowns
/// from one pass over the page records (bodies are not read).
pub fn status(store: &Store) -> Result<Status> {
    let c = store.counters()?;
    let config: Option<CrawlConfig> = store.load_config()?;
    let mut s = Status {
        db: store.path().display().to_string(),
        seeds: config
            .map(|c| c.seeds.iter().map(Url::to_string).collect())
            .unwrap_or_default(),
        queued: c.queued,
        in_flight: c.in_flight,
        done: c.done,
        failed: c.failed,
        bytes: c.bytes,
        ..Status::default()
    };
    for rec in store.pages() {
        let rec = rec?;
        if let Some(code) = rec.status {
            *s.by_status.entry(code.to_string()).or_default() += 1;
        }
        if let Some(err) = &rec.error {
            *s.by_error.entry(err.kind.as_str().to_string()).or_default() += 1;
        }
        let host = Url::parse(&rec.url)
            .map(|u| canon::host_label(&u))
            .unwrap_or_default();
        *s.by_host.entry(host).or_default() += 1;
    }
    Ok(s)
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "database  {}", self.db)?;
        if !self.seeds.is_empty() {
            writeln!(f, "seeds     {}", self.seeds.join(" "))?;
        }
        writeln!(
            f,
            "urls      {} queued, {} in flight, {} done, {} failed",
            self.queued, self.in_flight, self.done, self.failed
        )?;
        writeln!(f, "stored    {} bytes of body", self.bytes)?;
        let line = |f: &mut fmt::Formatter<'_>, title: &str, m: &BTreeMap<String, u64>| {
            if m.is_empty() {
                return Ok(());
            }
            let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            writeln!(f, "{title:<9} {}", parts.join(", "))
        };
        line(f, "status", &self.by_status)?;
        line(f, "errors", &self.by_error)?;
        line(f, "hosts", &self.by_host)
    }
}
