//! Planning a round: which stored pages are due, queued as rechecks (see the module doc of
//! [`crate::recrawl`]).

use std::time::{SystemTime, UNIX_EPOCH};

use super::Schedule;
use crate::config::CrawlConfig;
use crate::error::{Error, Result};
use crate::failure::ErrorKind;
use crate::frontier::{queue_rechecks, QueueEntry, SitemapRole};
use crate::store::page_log::StoredPage;
use crate::store::rounds::Round;
use crate::store::versions::{sha1, History, Prior, Revisit, Version};
use crate::store::{Store, UrlState};

/// Rechecks queued per transaction.
const BATCH: usize = 10_000;

/// What [`prepare`] found or did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prepared {
    /// The round this run works on.
    pub round: u32,
    /// Rechecks this run's planning queued (0 when it continues a planned round).
    pub queued: u64,
    /// Rechecks of the round still to settle.
    pub left: u64,
    /// It continues a round an earlier run began.
    pub continued: bool,
}

/// Sets up the recrawl of this run: continues the latest round when it is unfinished, or,
/// with `--recrawl`, plans a new one when any page is due. `None`: no round is running (no
/// `--recrawl`, or nothing due).
///
/// `crawl --retry-failed` plans a round of its own, of the URLs whose latest record is failed
/// (of the kinds asked), whatever their age: the same rechecks, so a success is stored as a new
/// version and its links followed, a failure again leaves the record as it was.
pub fn prepare(store: &Store, config: &CrawlConfig) -> Result<Option<Prepared>> {
    let last = store.round()?;
    let wanted = config.recrawl || config.retry_failed.is_some();
    let round = match last {
        Some(r) if !r.planned && wanted => r,
        Some(r) if r.unfinished() => {
            if !r.planned {
                log::warn!(
                    "round {} was cut short while it was being planned: what it queued is \
                     checked now; give the same --recrawl or --retry-failed again to plan the rest",
                    r.number
                );
            }
            if config.retry_failed.is_some() {
                log::warn!(
                    "--retry-failed: recrawl round {} is not finished; this run finishes it, \
                     give --retry-failed again after",
                    r.number
                );
            }
            return Ok(Some(Prepared {
                round: r.number,
                queued: 0,
                left: r.tally.left(),
                continued: true,
            }));
        }
        _ if !wanted => return Ok(None),
        last => Round {
            number: last.map_or(1, |r| r.number + 1),
            started_at: humantime::format_rfc3339_seconds(config.clock.wall()).to_string(),
            due_before_ms: config.clock.unix_ms(),
            ..Round::default()
        },
    };
    let continued = round.scanned > 0;
    let schedule = Schedule {
        refresh: config.refresh,
        older_than: config.older_than,
    };
    let select = match &config.retry_failed {
        Some(kinds) => Select::Failed(kinds),
        None => Select::Due,
    };
    let round = plan(store, round, &schedule, &select)?;
    if round.tally.queued == 0 {
        match select {
            Select::Failed(_) => log::warn!("--retry-failed: no failed URL to request again"),
            Select::Due => {
                log::info!("recrawl: no stored page was checked longer ago than its interval")
            }
        }
        return Ok(None);
    }
    Ok(Some(Prepared {
        round: round.number,
        queued: round.tally.queued,
        left: round.tally.left(),
        continued,
    }))
}

/// Goes through the page log from where `round` left off, queueing every due page, a batch per
/// transaction with the round's progress; returns the round as saved (nothing is saved for a
/// new round with nothing due).
fn plan(store: &Store, mut round: Round, schedule: &Schedule, select: &Select) -> Result<Round> {
    let history = History::read(store.stored())?;
    let batch_size = crate::crashpoint::knob("POLITECRAWL_RECHECK_BATCH", BATCH);
    let mut batch = Vec::new();
    for (i, page) in store.stored().enumerate() {
        let page = page?;
        if (i as u64) < round.scanned {
            continue;
        }
        round.scanned = i as u64 + 1;
        if page.record.stored_at_us.is_none() {
            return Err(Error::Config(format!(
                "{}: {} was stored by a build that did not stamp records, so its versions \
                 cannot be linked; run `politecrawl compact --db {}` once (it stamps them), \
                 then --recrawl",
                store.path().display(),
                page.record.url,
                store.path().display()
            )));
        }
        let chosen = match select {
            Select::Due => is_due(&page, schedule, round.due_before_ms),
            Select::Failed(kinds) => is_failed_of(&page, kinds),
        };
        if !history.is_latest(&page.record) || !chosen {
            continue;
        }
        if let Some(entry) = recheck_of(&page, round.number, schedule) {
            batch.push(entry);
        }
        if batch.len() >= batch_size {
            round.tally.queued += batch.len() as u64;
            queue_rechecks(store, &batch, &round)?;
            batch.clear();
            crate::crashpoint::hit("recheck-batch-queued");
        }
    }
    round.planned = true;
    if round.tally.queued + batch.len() as u64 > 0 {
        round.tally.queued += batch.len() as u64;
        queue_rechecks(store, &batch, &round)?;
    }
    Ok(round)
}

/// Which stored pages a round rechecks.
enum Select<'a> {
    /// Those whose latest check is older than their interval (`--recrawl`).
    Due,
    /// Those stored as failed, of these kinds (all when empty: `--retry-failed`).
    Failed(&'a [ErrorKind]),
}

/// Whether the page is stored as failed with one of `kinds` (any kind when empty). A failure
/// by status has the kind `http_status`.
fn is_failed_of(page: &StoredPage, kinds: &[ErrorKind]) -> bool {
    let rec = &page.record;
    if rec.state != UrlState::Failed {
        return false;
    }
    let kind = match &rec.error {
        Some(e) => e.kind,
        None => ErrorKind::HttpStatus,
    };
    kinds.is_empty() || kinds.contains(&kind)
}

/// Whether the page's latest check is older than its interval at `due_before_ms`.
fn is_due(page: &StoredPage, schedule: &Schedule, due_before_ms: u64) -> bool {
    let rec = &page.record;
    let interval = schedule.interval_of(rec.version.as_ref());
    let Ok(at) = humantime::parse_rfc3339_weak(&rec.fetched_at) else {
        return true; // no time recorded: check it
    };
    unix_ms(at).saturating_add(interval.as_millis() as u64) <= due_before_ms
}

/// The recheck of a URL whose latest record is `page`, or `None` for a URL never requested
/// (robots.txt blocked it).
fn recheck_of(page: &StoredPage, round: u32, schedule: &Schedule) -> Option<QueueEntry> {
    let rec = &page.record;
    let v = Version::of(rec);
    let stamp = rec.stored_at_us?;
    let (content_us, content_date, prior, digest, body) = if v.change.is_content() {
        if rec.state == UrlState::Blocked {
            return None;
        }
        let body = page.body.filter(|_| v.digest.is_none());
        // A response with no body stored (empty, or of a type not downloaded) digests as empty.
        let empty = (body.is_none() && rec.status.is_some()).then(|| sha1(b""));
        (
            stamp,
            rec.fetched_at.clone(),
            Prior::of(rec),
            v.digest.or(empty),
            body,
        )
    } else {
        let prior = v.prior.clone()?;
        (
            v.content_us?,
            v.content_date.clone()?,
            prior,
            v.digest,
            None,
        )
    };
    let header = |name: &str| {
        rec.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    Some(QueueEntry {
        url: rec.url.clone(),
        depth: rec.depth,
        referrer: rec.referrer.clone(),
        attempts: 0,
        sitemap: SitemapRole::Page,
        redirect_chain: Vec::new(),
        revisit: Some(Box::new(Revisit {
            round,
            prev_us: stamp,
            content_us,
            version: v.number,
            content_date,
            prior,
            etag: header("etag"),
            last_modified: header("last-modified"),
            digest,
            body,
            interval_s: schedule.interval_of(rec.version.as_ref()).as_secs(),
        })),
    })
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recrawl::Refresh;
    use crate::store::PageRecord;
    use std::time::Duration;

    fn page(fetched_at: &str, interval_s: Option<u64>) -> StoredPage {
        let mut record = PageRecord::blank("http://a.test/");
        record.fetched_at = fetched_at.into();
        record.version = interval_s.map(|s| Version {
            interval_s: Some(s),
            ..Version::first(1)
        });
        StoredPage { record, body: None }
    }

    #[test]
    fn a_page_is_due_once_its_interval_has_passed_to_the_millisecond() {
        let at = unix_ms(humantime::parse_rfc3339("2026-12-01T00:00:00Z").unwrap());
        let fixed = Schedule {
            refresh: Refresh::Fixed,
            older_than: Duration::from_secs(3600),
        };
        let p = page("2026-12-01T00:00:00.000Z", Some(60));
        assert!(!is_due(&p, &fixed, at + 3_599_999));
        assert!(is_due(&p, &fixed, at + 3_600_000));
        // Adaptive: the page's own interval, or --older-than before it has one.
        let adaptive = Schedule {
            refresh: Refresh::Adaptive,
            ..fixed
        };
        assert!(!is_due(&p, &adaptive, at + 59_999));
        assert!(is_due(&p, &adaptive, at + 60_000));
        let first = page("2026-12-01T00:00:00Z", None);
        assert!(!is_due(&first, &adaptive, at + 3_599_999));
        assert!(is_due(&first, &adaptive, at + 3_600_000));
        assert!(is_due(&page("", None), &fixed, 0), "no time recorded: due");
    }
}
