//! Where a crawl stands, read from its database: totals, and counts by HTTP status, host and
//! error kind. The JSON form is a stable interface (documented in docs/GUIDE.md).

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use url::Url;

use crate::config::CrawlConfig;
use crate::error::Result;
use std::time::{Duration, UNIX_EPOCH};

use crate::runtime::unix_ms;
use crate::store::rounds::RoundTally;
use crate::store::{Counters, OverrideRecord, RobotsVerdict, Store};

/// A crawl's state. Field names are the `status --json` keys.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Status {
    /// The database directory.
    pub db: String,
    /// Seeds recorded for this crawl.
    pub seeds: Vec<String>,
    /// The database's running totals (`queued`, `in_flight`, `done`, `failed`, `blocked`,
    /// `bytes` in the JSON).
    #[serde(flatten)]
    pub totals: Counters,
    /// Stored responses by HTTP status code (as a string key).
    pub by_status: BTreeMap<String, u64>,
    /// Stored URLs by `host[:port]`.
    pub by_host: BTreeMap<String, u64>,
    /// Failed and blocked URLs by error kind.
    pub by_error: BTreeMap<String, u64>,
    /// Politeness state per origin that has any.
    pub hosts: Vec<HostStatus>,
    /// Settings changed by flags on resumes, oldest first.
    pub overrides: Vec<OverrideRecord>,
    /// The crawl's saved settings.
    pub settings: Option<CrawlConfig>,
    /// The latest recrawl round, when the crawl had one.
    pub recrawl: Option<RecrawlStatus>,
}

/// The latest recrawl round (`status --json`'s `recrawl`): its counts for the crawl and per
/// origin.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
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

/// One origin's politeness state.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct HostStatus {
    /// The origin.
    pub origin: String,
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
    /// URLs blocked by its robots.txt.
    pub blocked: u64,
}

/// Reads the status of an open database, from the kept totals and tallies alone: no page
/// record is read, so it takes the same time for 10 pages and for 10 million.
pub fn status(store: &Store) -> Result<Status> {
    let config: Option<CrawlConfig> = store.load_config()?;
    let mut s = Status {
        db: store.path().display().to_string(),
        seeds: config
            .as_ref()
            .map(|c| c.seeds.iter().map(Url::to_string).collect())
            .unwrap_or_default(),
        settings: config,
        totals: store.counters()?,
        ..Status::default()
    };
    let breakdown = store.breakdown()?;
    s.by_status = breakdown
        .by_status
        .iter()
        .map(|(code, n)| (code.to_string(), *n))
        .collect();
    s.by_error = breakdown.by_error;
    for t in store.host_tallies() {
        let (origin, t) = t?;
        if t.records == 0 {
            continue;
        }
        // An origin is `scheme://host[:port]`, the port only when not the default: what
        // follows the scheme is the host label.
        let host = origin.split_once("://").map_or(&origin[..], |(_, h)| h);
        *s.by_host.entry(host.to_string()).or_default() += t.records;
    }
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
        let e = by_origin.entry(h.origin.clone()).or_default();
        e.backoff_ms = h.backoff_ms;
        e.throttle_ms = h.throttle_ms;
        e.paused_until = (h.not_before_ms > now).then(|| {
            let t = UNIX_EPOCH + Duration::from_millis(h.not_before_ms);
            humantime::format_rfc3339_millis(t).to_string()
        });
        e.pauses = h.pauses;
        e.retry_after_seen = h.retry_after_seen;
        e.blocked = h.blocked;
    }
    for r in store.all_robots() {
        let (origin, r) = r?;
        let e = by_origin.entry(origin).or_default();
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
        e.robots = state.to_string();
        e.robots_detail = detail;
        e.crawl_delay_s = r.crawl_delay_ms.map(|ms| ms as f64 / 1000.0);
        e.sitemaps = r.sitemaps;
    }
    Ok(by_origin
        .into_iter()
        .map(|(origin, mut h)| {
            if h.robots.is_empty() {
                h.robots = "unknown".into();
            }
            h.origin = origin;
            h
        })
        .collect())
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "database  {}", self.db)?;
        if !self.seeds.is_empty() {
            writeln!(f, "seeds     {}", self.seeds.join(" "))?;
        }
        writeln!(
            f,
            "urls      {} queued, {} in flight, {} done, {} failed, {} blocked by robots.txt",
            self.totals.queued,
            self.totals.in_flight,
            self.totals.done,
            self.totals.failed,
            self.totals.blocked
        )?;
        writeln!(f, "stored    {} bytes of body", self.totals.bytes)?;
        let line = |f: &mut fmt::Formatter<'_>, title: &str, m: &BTreeMap<String, u64>| {
            if m.is_empty() {
                return Ok(());
            }
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
        if !self.hosts.is_empty() {
            writeln!(f, "politeness (per origin):")?;
            for h in &self.hosts {
                write!(f, "  {}  robots: {}", h.origin, h.robots)?;
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
        }
        Ok(())
    }
}
