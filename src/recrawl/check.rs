//! A recheck's request and what its answer makes of the record (the table in the module doc of
//! [`crate::recrawl`]).

use super::Schedule;
use crate::frontier::QueueEntry;
use crate::store::versions::{Change, Revisit, Version};
use crate::store::PageRecord;

/// The conditional headers of a recheck: `If-None-Match` with the stored `ETag`,
/// `If-Modified-Since` with the stored `Last-Modified` (RFC 9110 §13.1).
pub fn conditional_headers(r: &Revisit) -> Vec<(&'static str, String)> {
    let mut h = Vec::new();
    if let Some(etag) = &r.etag {
        h.push(("if-none-match", etag.clone()));
    }
    if let Some(lm) = &r.last_modified {
        h.push(("if-modified-since", lm.clone()));
    }
    h
}

/// What a recheck's response says, before links are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// `304 Not Modified`: nothing else to do.
    NotModified,
    /// The same status and payload as the content checked: nothing else to do.
    Same,
    /// Anything else: the page is read as any page (its body stored, its links followed).
    Different,
}

impl Answer {
    /// Classifies a response of `status` whose payload has SHA-1 `digest`, against the content
    /// `r` checks, whose digest is `old` (when known).
    pub fn of(r: &Revisit, status: u16, digest: [u8; 20], old: Option<[u8; 20]>) -> Answer {
        if status == 304 {
            Answer::NotModified
        } else if r.prior.status == Some(status) && old == Some(digest) {
            Answer::Same
        } else {
            Answer::Different
        }
    }
}

/// The version of a check record (`change` is not modified, unchanged or failed) of the
/// content `r` checks.
pub(super) fn check_version(
    r: &Revisit,
    change: Change,
    digest: Option<[u8; 20]>,
    interval_s: u64,
) -> Version {
    Version {
        number: r.version,
        change,
        round: r.round,
        prev_us: Some(r.prev_us),
        content_us: Some(r.content_us),
        content_date: Some(r.content_date.clone()),
        digest: digest.or(r.digest),
        interval_s: Some(interval_s),
        prior: Some(r.prior.clone()),
    }
}

/// Gives a recheck's final record its version: `answer` (`None`: no response came), the
/// payload's digest when one came, and the checked content's digest when known.
pub fn recheck_outcome(
    r: &Revisit,
    record: &mut PageRecord,
    answer: Option<Answer>,
    (digest, old): (Option<[u8; 20]>, Option<[u8; 20]>),
    schedule: &Schedule,
) {
    let status = record.status;
    let change = match answer {
        Some(Answer::NotModified) => Change::NotModified,
        Some(Answer::Same) => Change::Unchanged,
        Some(Answer::Different) if matches!(status, Some(404 | 410)) => Change::Gone,
        // An error status (a 500 after its retries, a 403) says nothing about the content.
        Some(Answer::Different) if status.is_some_and(|s| s >= 400) => Change::CheckFailed,
        Some(Answer::Different) => Change::Changed,
        None => Change::CheckFailed,
    };
    let changed = matches!(change, Change::Changed | Change::Gone);
    let interval_s = schedule.next_interval(r.interval_s, changed);
    record.version = Some(if changed {
        Version {
            number: r.version + 1,
            change,
            round: r.round,
            prev_us: Some(r.prev_us),
            content_us: Some(r.content_us),
            content_date: Some(r.content_date.clone()),
            digest,
            interval_s: Some(interval_s),
            // What the totals counted before: a power cut that loses this record gives it back.
            prior: Some(r.prior.clone()),
        }
    } else {
        check_version(r, change, old, interval_s)
    });
}

/// Gives a record about to be stored its version, where the worker did not: a recheck that
/// ended without a request (robots.txt now disallows it, its host gave up) is a failed check;
/// a page stored for the first time while round `round` runs is that round's new page.
pub fn finish_record(entry: &QueueEntry, record: &mut PageRecord, round: Option<u32>) {
    if record.version.is_some() {
        return;
    }
    record.version = match (&entry.revisit, round) {
        (Some(r), _) => Some(check_version(r, Change::CheckFailed, None, r.interval_s)),
        (None, Some(n)) => Some(Version::first(n)),
        (None, None) => None,
    };
}
