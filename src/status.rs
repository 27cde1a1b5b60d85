//! Where a crawl stands, read from its database: totals, and counts by HTTP status, host and
//! error kind. [`Status`] is also what a shared crawl's status is made of
//! (`cluster/status.rs` reads that from PostgreSQL), so `status --json` has one schema for
//! both. The JSON form is a stable interface (documented in docs/GUIDE.md).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::config::CrawlConfig;
use crate::error::Result;
use std::time::{Duration, UNIX_EPOCH};

use crate::runtime::unix_ms;
use crate::store::rounds::RoundTally;
use crate::store::{Counters, HostRecord, OverrideRecord, RobotsRecord, RobotsVerdict, Store};

/// A crawl's state: one schema for a crawl of its own (`status --db`) and a shared crawl
/// (`status --frontier … --crawl NAME`), so that a script reads both the same way and the two
/// cannot drift apart. What only one kind of crawl can tell is `null` in the other (each such
/// field says why). Field names are the `status --json` keys.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// The database directory; `null` for a shared crawl, whose pages are in each worker's
    /// store (`shared.workers[].store`).
    pub db: Option<String>,
    /// Seeds recorded for this crawl.
    pub seeds: Vec<String>,
    /// The running totals (`queued`, `in_flight`, `done`, `failed`, `blocked`, `bytes` in the
    /// JSON); a shared crawl's are over every worker.
    #[serde(flatten)]
    pub totals: Counters,
    /// Stored responses by HTTP status code (as a string key); `null` for a shared crawl, as
    /// PostgreSQL keeps each page's outcome class but not its status (that is in the worker's
    /// store), and counting them there would read every record.
    pub by_status: Option<BTreeMap<String, u64>>,
    /// Stored URLs by `host[:port]`; `null` for a shared crawl, whose per-origin counts are in
    /// `hosts` (the origins with most work only: a full count would be another pass over every
    /// page at each call).
    pub by_host: Option<BTreeMap<String, u64>>,
    /// Failed and blocked URLs by error kind; `null` for a shared crawl, for the reason of
    /// `by_status`.
    pub by_error: Option<BTreeMap<String, u64>>,
    /// Politeness state per origin: a crawl of its own lists every origin that has any, by
    /// origin; a shared crawl the [`MAX_SHARED_HOSTS`] with most work, most first.
    pub hosts: Vec<HostStatus>,
    /// Settings changed by flags on resumes, oldest first (none in a shared crawl: it keeps its
    /// saved settings).
    pub overrides: Vec<OverrideRecord>,
    /// The crawl's saved settings.
    pub settings: Option<CrawlConfig>,
    /// The latest recrawl round, when the crawl had one.
    pub recrawl: Option<RecrawlStatus>,
    /// What sharing adds: the crawl's name, shards and workers; `null` for a crawl of its own.
    pub shared: Option<SharedStatus>,
}

/// Origins a shared crawl's status lists at most (the busiest first); its totals count every
/// one. A crawl over 100,000 hosts would otherwise print 100,000 rows read over the network.
pub const MAX_SHARED_HOSTS: usize = 200;

/// What a shared crawl's status adds (`status --json`'s `shared`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SharedStatus {
    /// The crawl's name.
    pub crawl: String,
    /// Its shard count.
    pub shards: i32,
    /// Every worker that ever joined, oldest first.
    pub workers: Vec<WorkerStatus>,
    /// Origins in the crawl (`hosts` lists at most [`MAX_SHARED_HOSTS`]).
    pub hosts_total: u64,
}

/// One worker of a shared crawl.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkerStatus {
    /// Its id.
    pub id: String,
    /// Its process id.
    pub pid: i32,
    /// The machine it runs on.
    pub host: String,
    /// Its own store (`--db`).
    pub store: String,
    /// Seconds since its last heartbeat.
    pub heartbeat_age_s: f64,
    /// `running` (holds shard leases), `idle` (holds none: it just joined, has no share, or
    /// is gone; `heartbeat_age_s` tells which) or `stopped` (left cleanly).
    pub state: String,
    /// Shards it holds now (unexpired leases).
    pub shards: Vec<i32>,
}

/// The latest recrawl round (`status --json`'s `recrawl`): its counts for the crawl and per
/// origin.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RecrawlStatus {
    /// 1 for the first recrawl.
    pub round: u32,
    /// When it was planned (RFC 3339).
    pub started_at: String,
    /// Every due page is queued.
    pub planned: bool,
    /// Rechecks still queued.
    pub left: u64,
    /// The counts (`queued`, `checked`, `not_modified`, `unchanged`, `changed`, `gone`,
    /// `failed`, `new`).
    #[serde(flatten)]
    pub tally: RoundTally,
    /// The same counts per origin.
    pub by_origin: BTreeMap<String, RoundTally>,
}

/// One origin: its politeness state, and in a shared crawl its counts and where it is.
/// Both kinds of crawl print every field, `null` where that kind cannot tell.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HostStatus {
    /// The origin.
    pub origin: String,
    /// Its shard (shared crawl; `null` in a crawl of its own, which has none).
    pub shard: Option<i32>,
    /// The worker holding its shard now (shared crawl; `null` when none holds it, and in a
    /// crawl of its own).
    pub holder: Option<String>,
    /// URLs queued or waiting for a retry (shared crawl; `null` in a crawl of its own, whose
    /// queue keeps no count per origin).
    pub queued: Option<u64>,
    /// URLs stored with a successful response (shared crawl; `null` in a crawl of its own,
    /// whose tallies per origin do not tell done from failed).
    pub done: Option<u64>,
    /// URLs stored as failed (shared crawl; `null` in a crawl of its own, as `done`).
    pub failed: Option<u64>,
    /// URLs blocked by its robots.txt.
    pub blocked: u64,
    /// `rules`, `allow_all`, `unreachable`, `gave_up` or `unknown` (not fetched, or ignored).
    pub robots: String,
    /// Why (status or error), when robots.txt is not plain rules.
    pub robots_detail: Option<String>,
    /// robots.txt `Crawl-delay` in seconds, uncapped.
    pub crawl_delay_s: Option<f64>,
    /// `Sitemap:` lines of its robots.txt.
    pub sitemaps: Vec<String>,
    /// Current back-off delay between starts, in milliseconds.
    pub backoff_ms: u64,
    /// Current response-time throttle delay, in milliseconds.
    pub throttle_ms: u64,
    /// No request before this time (RFC 3339), when in the future.
    pub paused_until: Option<String>,
    /// Times the host was paused by 429/503.
    pub pauses: u64,
    /// Latest Retry-After values seen, in seconds.
    pub retry_after_seen: Vec<u64>,
}

impl HostStatus {
    /// An origin with nothing known about it yet.
    pub fn new(origin: String) -> HostStatus {
        HostStatus {
            origin,
            robots: "unknown".into(),
            ..HostStatus::default()
        }
    }

    /// Fills in the saved politeness state, as of `now_ms`. Both kinds of crawl save the same
    /// [`HostRecord`], so both read it here.
    pub fn set_politeness(&mut self, h: &HostRecord, now_ms: u64) {
        self.backoff_ms = h.backoff_ms;
        self.throttle_ms = h.throttle_ms;
        self.paused_until = (h.not_before_ms > now_ms).then(|| {
            let t = UNIX_EPOCH + Duration::from_millis(h.not_before_ms);
            humantime::format_rfc3339_millis(t).to_string()
        });
        self.pauses = h.pauses;
        self.retry_after_seen.clone_from(&h.retry_after_seen);
        self.blocked = h.blocked;
    }

    /// Fills in the cached robots.txt verdict.
    pub fn set_robots(&mut self, r: RobotsRecord) {
        let (state, detail) = match r.verdict {
            RobotsVerdict::Rules { .. } => ("rules", None),
            RobotsVerdict::AllowAll { reason } => ("allow_all", Some(reason)),
            RobotsVerdict::Unreachable { reason, tries, .. } => {
                ("unreachable", Some(format!("{reason} ({tries} tries)")))
            }
            RobotsVerdict::GaveUp { reason } | RobotsVerdict::Failed { reason, .. } => {
                ("gave_up", Some(reason))
            }
        };
        self.robots = state.to_string();
        self.robots_detail = detail;
        self.crawl_delay_s = r.crawl_delay_ms.map(|ms| ms as f64 / 1000.0);
        self.sitemaps = r.sitemaps;
    }
}

/// Reads the status of an open database, from the kept totals and tallies alone: no page
/// record is read, so it takes the same time for 10 pages and for 10 million.
pub fn status(store: &Store) -> Result<Status> {
    let config: Option<CrawlConfig> = store.load_config()?;
    let mut s = Status {
        db: Some(store.path().display().to_string()),
        seeds: config
            .as_ref()
            .map(|c| c.seeds.iter().map(Url::to_string).collect())
            .unwrap_or_default(),
        settings: config,
        totals: store.counters()?,
        ..Status::default()
    };
    let breakdown = store.breakdown()?;
    s.by_status = Some(
        breakdown
            .by_status
            .iter()
            .map(|(code, n)| (code.to_string(), *n))
            .collect(),
    );
    s.by_error = Some(breakdown.by_error);
    let mut by_host = BTreeMap::new();
    for t in store.host_tallies() {
        let (origin, t) = t?;
        if t.records == 0 {
            continue;
        }
        // An origin is `scheme://host[:port]`, the port only when not the default: what
        // follows the scheme is the host label.
        let host = origin.split_once("://").map_or(&origin[..], |(_, h)| h);
        *by_host.entry(host.to_string()).or_default() += t.records;
    }
    s.by_host = Some(by_host);
    s.hosts = hosts(store)?;
    s.overrides = store.overrides()?;
    s.recrawl = recrawl(store)?;
    Ok(s)
}

/// The latest round's counts, with those of each origin that took part in it.
fn recrawl(store: &Store) -> Result<Option<RecrawlStatus>> {
    let Some(r) = store.round()? else {
        return Ok(None);
    };
    let mut by_origin = BTreeMap::new();
    for h in store.host_rounds() {
        let (origin, h) = h?;
        if h.round == r.number {
            by_origin.insert(origin, h.tally);
        }
    }
    Ok(Some(RecrawlStatus {
        round: r.number,
        started_at: r.started_at,
        planned: r.planned,
        left: r.tally.left(),
        tally: r.tally,
        by_origin,
    }))
}

impl fmt::Display for RoundTally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} of {} checked ({} not modified, {} unchanged, {} changed, {} gone, {} failed), {} new",
            self.checked,
            self.queued,
            self.not_modified,
            self.unchanged,
            self.changed,
            self.gone,
            self.failed,
            self.new
        )
    }
}

/// Joins the persisted host states with the cached robots.txt verdicts, by origin.
fn hosts(store: &Store) -> Result<Vec<HostStatus>> {
    let mut by_origin: BTreeMap<String, HostStatus> = BTreeMap::new();
    let now = unix_ms();
    for h in store.all_hosts() {
        let h = h?;
        by_origin
            .entry(h.origin.clone())
            .or_insert_with_key(|o| HostStatus::new(o.clone()))
            .set_politeness(&h, now);
    }
    for r in store.all_robots() {
        let (origin, r) = r?;
        by_origin
            .entry(origin)
            .or_insert_with_key(|o| HostStatus::new(o.clone()))
            .set_robots(r);
    }
    Ok(by_origin.into_values().collect())
}

/// The text form: a shared crawl starts with its name, shards and workers, a crawl of its own
/// with its database; both then give the same lines for the same fields.
impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.totals;
        if let Some(sh) = &self.shared {
            writeln!(
                f,
                "crawl {:?} ({} shards): {} queued, {} done, {} failed, {} blocked, {} stored",
                sh.crawl,
                sh.shards,
                t.queued,
                t.done,
                t.failed,
                t.blocked,
                bytesize::ByteSize(t.bytes)
            )?;
            if !self.seeds.is_empty() {
                writeln!(f, "seeds     {}", self.seeds.join(" "))?;
            }
            writeln!(f, "workers:")?;
            for w in &sh.workers {
                writeln!(
                    f,
                    "  {:<24} {:<8} pid {:<7} on {}, heartbeat {:.1}s ago, {} shards {:?}, store {}",
                    w.id,
                    w.state,
                    w.pid,
                    w.host,
                    w.heartbeat_age_s,
                    w.shards.len(),
                    w.shards,
                    w.store
                )?;
            }
        } else {
            if let Some(db) = &self.db {
                writeln!(f, "database  {db}")?;
            }
            if !self.seeds.is_empty() {
                writeln!(f, "seeds     {}", self.seeds.join(" "))?;
            }
            writeln!(
                f,
                "urls      {} queued, {} in flight, {} done, {} failed, {} blocked by robots.txt",
                t.queued, t.in_flight, t.done, t.failed, t.blocked
            )?;
            writeln!(f, "stored    {} bytes of body", t.bytes)?;
        }
        let line = |f: &mut fmt::Formatter<'_>, title: &str, m: &Option<BTreeMap<String, u64>>| {
            let Some(m) = m.as_ref().filter(|m| !m.is_empty()) else {
                return Ok(());
            };
            let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            writeln!(f, "{title:<9} {}", parts.join(", "))
        };
        line(f, "status", &self.by_status)?;
        line(f, "errors", &self.by_error)?;
        line(f, "hosts", &self.by_host)?;
        for o in &self.overrides {
            writeln!(f, "resumed   {} with {}", o.at, o.changes.join(" "))?;
        }
        if let Some(r) = &self.recrawl {
            let planning = if r.planned { "" } else { ", planning" };
            writeln!(
                f,
                "recrawl   round {} ({}{planning}): {}",
                r.round, r.started_at, r.tally
            )?;
            for (origin, t) in &r.by_origin {
                writeln!(f, "  {origin}  {t}")?;
            }
        }
        if let Some(sh) = &self.shared {
            writeln!(
                f,
                "hosts ({} of {}, most work first):",
                self.hosts.len(),
                sh.hosts_total
            )?;
        } else if !self.hosts.is_empty() {
            writeln!(f, "politeness (per origin):")?;
        }
        for h in &self.hosts {
            write!(f, "  {}", h.origin)?;
            if let Some(shard) = h.shard {
                write!(
                    f,
                    "  shard {shard} {}",
                    h.holder.as_deref().unwrap_or("(no holder)")
                )?;
            }
            if let (Some(q), Some(d), Some(x)) = (h.queued, h.done, h.failed) {
                write!(
                    f,
                    ": {q} queued, {d} done, {x} failed; robots: {}",
                    h.robots
                )?;
            } else {
                write!(f, "  robots: {}", h.robots)?;
            }
            if let Some(d) = &h.robots_detail {
                write!(f, " ({d})")?;
            }
            if let Some(cd) = h.crawl_delay_s {
                write!(f, ", crawl-delay {cd}s")?;
            }
            if h.backoff_ms > 0 || h.throttle_ms > 0 {
                write!(f, ", delay +{}ms", h.backoff_ms.max(h.throttle_ms))?;
            }
            if let Some(p) = &h.paused_until {
                write!(f, ", paused until {p}")?;
            }
            if h.pauses > 0 {
                write!(f, ", {} pauses", h.pauses)?;
            }
            if h.blocked > 0 {
                write!(f, ", {} blocked", h.blocked)?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}
