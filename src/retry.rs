//! Which failures get another try, and when. A retry is never a sleep in a worker: the URL goes
//! back to the frontier with a `not_before` time and passes through its host's limits again.
//!
//! - 429 and 503 are the host saying "slow down": the host pauses (see [`crate::politeness`]) and
//!   the URL is re-queued at its old place.
//! - Other transient failures (connect errors, timeouts, resets, a name server that failed or
//!   did not answer, 408, 500, 502, 504 and other 5xx) wait a full-jitter exponential back-off: a random time in
//!   `[0, min(`[`CAP`]`, `[`BASE`]` × 2^(attempt-1))]`.
//! - Everything else (other 4xx, invalid responses, decode errors, redirect errors, DNS and TLS
//!   failures, a name that does not exist) is final at once.
//!
//! Both kinds count against `--retries`, and the attempt count travels with the URL, so a
//! resumed crawl does not reset it.

use std::time::Duration;

use crate::failure::ErrorKind;
use crate::store::PageRecord;

/// First back-off step.
pub const BASE: Duration = Duration::from_secs(1);
/// Longest back-off.
pub const CAP: Duration = Duration::from_secs(60);

/// What to do with a page outcome.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    /// Store it as it is.
    Final,
    /// Pause the host and re-queue (429, 503).
    HostOverloaded,
    /// Re-queue after this long.
    RetryAfter(Duration),
}

/// Decides for an outcome after `record.attempts` requests, with `retries` re-tries allowed.
/// `unit` is a uniform random number in `[0, 1)` (the jitter), passed in so tests are exact.
pub fn decide(record: &PageRecord, retries: u32, unit: f64) -> Verdict {
    if record.attempts > retries {
        return Verdict::Final;
    }
    let status = record.status.map(crate::http_status::acted_as);
    match (status, record.error.as_ref().map(|e| e.kind)) {
        (Some(429 | 503), _) => Verdict::HostOverloaded,
        (Some(408 | 500..=599), _) => Verdict::RetryAfter(backoff(record.attempts, unit)),
        (None, Some(kind)) if is_transient(kind) => {
            Verdict::RetryAfter(backoff(record.attempts, unit))
        }
        _ => Verdict::Final,
    }
}

/// Whether a failure with no response may heal by trying again later (a timeout, a refused or
/// reset connection); DNS, TLS, invalid responses and the rest do not. The robots.txt life cycle
/// follows the same rule.
pub fn is_transient(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::Timeout | ErrorKind::Connect | ErrorKind::Reset | ErrorKind::DnsUnavailable
    )
}

/// Full-jitter back-off before the retry that follows attempt number `attempt` (1-based).
pub fn backoff(attempt: u32, unit: f64) -> Duration {
    let ceiling = BASE
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
        .min(CAP);
    ceiling.mul_f64(unit.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failure::Failure;
    use crate::store::UrlState;

    fn rec(status: Option<u16>, kind: Option<ErrorKind>, attempts: u32) -> PageRecord {
        let mut r = crate::worker::failed_record(
            &crate::frontier::QueueEntry {
                url: "http://a/".into(),
                depth: 0,
                referrer: None,
                attempts,
                sitemap: crate::frontier::SitemapRole::Page,
                redirect_chain: vec![],
                revisit: None,
            },
            kind.map(|kind| Failure {
                kind,
                message: String::new(),
            }),
        );
        r.status = status;
        r.state = UrlState::Failed;
        r
    }

    #[test]
    fn transient_failures_retry_until_the_budget_is_spent() {
        assert_eq!(
            decide(&rec(Some(503), None, 1), 3, 0.5),
            Verdict::HostOverloaded
        );
        assert_eq!(
            decide(&rec(Some(429), None, 3), 3, 0.5),
            Verdict::HostOverloaded
        );
        assert_eq!(decide(&rec(Some(429), None, 4), 3, 0.5), Verdict::Final);
        assert_eq!(
            decide(&rec(Some(502), None, 2), 3, 0.5),
            Verdict::RetryAfter(Duration::from_secs(1))
        );
        let timeout = rec(None, Some(ErrorKind::Timeout), 1);
        assert_eq!(decide(&timeout, 3, 1.0), Verdict::RetryAfter(BASE));
        assert_eq!(decide(&timeout, 0, 1.0), Verdict::Final, "--retries 0");
    }

    #[test]
    fn permanent_failures_are_final() {
        for (status, kind) in [
            (Some(404), Some(ErrorKind::HttpStatus)),
            (Some(200), None),
            (None, Some(ErrorKind::InvalidResponse)),
            (None, Some(ErrorKind::Dns)),
            (None, Some(ErrorKind::TooManyRedirects)),
        ] {
            assert_eq!(
                decide(&rec(status, kind, 1), 3, 0.5),
                Verdict::Final,
                "{status:?} {kind:?}"
            );
        }
    }

    #[test]
    fn backoff_is_full_jitter_under_a_doubling_ceiling() {
        assert_eq!(backoff(1, 1.0), Duration::from_secs(1));
        assert_eq!(backoff(3, 1.0), Duration::from_secs(4));
        assert_eq!(backoff(3, 0.25), Duration::from_secs(1));
        assert_eq!(backoff(30, 1.0), CAP);
        assert_eq!(backoff(2, 0.0), Duration::ZERO);
    }
}
