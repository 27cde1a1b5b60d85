//! Keeping a crawl fresh (`crawl --recrawl`): stored pages whose latest check is older than
//! `--older-than` are queued again as **rechecks**, asked for with `If-None-Match` and
//! `If-Modified-Since`, and each answer stored as a new record of the URL beside the old ones
//! (see [`crate::store::versions`]):
//!
//! | answer                                   | record       | totals, `--versions latest` |
//! |------------------------------------------|--------------|-----------------------------|
//! | `304 Not Modified`                       | not_modified | unchanged (a check)         |
//! | same status and payload SHA-1 as before  | unchanged    | unchanged (a check)         |
//! | 404 or 410 (and it was not so before)    | gone         | a new version               |
//! | anything else with a response            | changed      | a new version, links followed again |
//! | no answer, or an error after the retries | check_failed | unchanged (a check)         |
//!
//! Work goes in **rounds**. A run with `--recrawl` whose last round is finished plans a new
//! one ([`prepare`]): it reads the page log twice (once for which records are the latest, once to
//! queue the due ones) and queues rechecks 10,000 per transaction, each transaction moving the
//! round's cursor, so a planning cut short by a crash goes on from its last batch. Rechecks
//! have a queue of their own per origin, leased before the origin's new URLs, shallowest first
//! (so seeds first); politeness is the origin's as for any request. A round is finished when
//! every recheck it queued is settled; a run started before that continues it.
//!
//! `--refresh adaptive` gives each page its own interval, starting at `--older-than`: a page
//! found changed comes back after 0.8 of its interval, one found unchanged after 1.4 times it
//! (Nutch's AdaptiveFetchSchedule rates), within `--older-than` / 10 and × 10.

mod check;
mod plan;

use std::time::Duration;

pub use crate::config::refresh::Refresh;
pub use check::{conditional_headers, finish_record, recheck_outcome, Answer};
pub use plan::{prepare, Prepared};

use crate::store::versions::Version;

/// How rechecks are timed: the mode and `--older-than`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// `--refresh`.
    pub refresh: Refresh,
    /// `--older-than`.
    pub older_than: Duration,
}

impl Schedule {
    /// The interval a page's latest record gives it: `--older-than`, or with `--refresh
    /// adaptive` the record's own once it has one.
    pub fn interval_of(&self, version: Option<&Version>) -> Duration {
        match (self.refresh, version.and_then(|v| v.interval_s)) {
            (Refresh::Adaptive, Some(s)) => Duration::from_secs(s),
            _ => self.older_than,
        }
    }

    /// The interval until the next check of a page checked after `interval_s`, that `changed`
    /// or not.
    pub fn next_interval(&self, interval_s: u64, changed: bool) -> u64 {
        let base = self.older_than.as_secs();
        match self.refresh {
            Refresh::Fixed => base,
            Refresh::Adaptive => {
                let rate = if changed { 0.8 } else { 1.4 };
                let next = (interval_s as f64 * rate).round() as u64;
                next.clamp(base / 10, base.saturating_mul(10))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adaptive_intervals_shrink_on_change_grow_without_and_stay_in_bounds() {
        let s = Schedule {
            refresh: Refresh::Adaptive,
            older_than: Duration::from_secs(1000),
        };
        assert_eq!(s.next_interval(1000, true), 800);
        assert_eq!(s.next_interval(1000, false), 1400);
        assert_eq!(s.next_interval(9000, false), 10_000, "at most x10");
        assert_eq!(s.next_interval(110, true), 100, "at least /10");
        let fixed = Schedule {
            refresh: Refresh::Fixed,
            ..s
        };
        assert_eq!(fixed.next_interval(5, true), 1000);
    }
}
