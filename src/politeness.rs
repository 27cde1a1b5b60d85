//! Per-origin politeness state: a governor rate limiter (burst 1), an in-flight count and a
//! `not_before` pause. The scheduler asks a slot whether it may start a request now and, when
//! not, until when to wait, so no worker ever sleeps on one host's limit.

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// What a slot says when asked for a request start.
#[derive(Debug, PartialEq, Eq)]
pub enum Readiness {
    /// Start one now (the limiter's cell is taken).
    Go,
    /// Nothing may start before this instant.
    WaitUntil(Instant),
    /// The in-flight cap is reached; ask again when a request finishes.
    Full,
}

/// One origin's politeness state.
pub struct HostSlot {
    /// The origin, e.g. `http://example.com:8080`.
    pub origin: String,
    /// URLs of this origin waiting in the frontier.
    pub queued: u64,
    /// Requests to this origin started and not finished.
    pub in_flight: usize,
    /// No request starts before this (back-off, Retry-After, Crawl-delay pauses).
    pub not_before: Option<Instant>,
    /// Start of the latest request; idle slots are pruned once their rate no longer matters.
    pub last_start: Option<Instant>,
    limiter: Option<DefaultDirectRateLimiter>,
}

impl HostSlot {
    /// A slot allowing one request start per `interval` (none for unlimited). Burst is 1: a
    /// fresh limiter lets exactly one request through, then spaces the rest.
    pub fn new(origin: String, interval: Option<Duration>, clock: &DefaultClock) -> Self {
        let limiter = interval
            .and_then(Quota::with_period)
            .map(|q| RateLimiter::direct_with_clock(q.allow_burst(NonZeroU32::MIN), clock.clone()));
        HostSlot {
            origin,
            queued: 0,
            in_flight: 0,
            not_before: None,
            last_start: None,
            limiter,
        }
    }

    /// Asks to start one request at `now` with at most `cap` in flight. On [`Readiness::Go`]
    /// the caller must start it: the rate cell is already spent.
    pub fn try_start(&mut self, now: Instant, cap: usize, clock: &DefaultClock) -> Readiness {
        if self.in_flight >= cap {
            return Readiness::Full;
        }
        if let Some(t) = self.not_before.filter(|t| *t > now) {
            return Readiness::WaitUntil(t);
        }
        if let Some(limiter) = &self.limiter {
            if let Err(not_until) = limiter.check() {
                return Readiness::WaitUntil(now + not_until.wait_time_from(clock.now()));
            }
        }
        self.in_flight += 1;
        self.last_start = Some(now);
        Readiness::Go
    }

    /// Whether the slot holds nothing worth keeping: no work, and its last request is long
    /// enough ago that a fresh limiter would allow the next one anyway.
    pub fn is_idle(&self, now: Instant, interval: Option<Duration>) -> bool {
        let rested = self
            .last_start
            .is_none_or(|t| now.duration_since(t) >= interval.unwrap_or_default());
        let unpaused = self.not_before.is_none_or(|t| t <= now);
        self.queued == 0 && self.in_flight == 0 && rested && unpaused
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    #[test]
    fn burst_is_one_then_spaced_by_the_interval() {
        // governor's fake clock proves the quota maths without sleeping.
        let clock = FakeRelativeClock::default();
        let q = Quota::with_period(Duration::from_millis(500))
            .unwrap()
            .allow_burst(NonZeroU32::MIN);
        let lim = RateLimiter::direct_with_clock(q, clock.clone());
        assert!(lim.check().is_ok());
        assert!(lim.check().is_err(), "burst must be 1");
        clock.advance(Duration::from_millis(499));
        assert!(lim.check().is_err());
        clock.advance(Duration::from_millis(1));
        assert!(lim.check().is_ok());
    }

    #[test]
    fn cap_and_pause_hold_requests() {
        let clock = DefaultClock::default();
        let mut s = HostSlot::new("http://a".into(), None, &clock);
        let now = Instant::now();
        assert_eq!(s.try_start(now, 2, &clock), Readiness::Go);
        assert_eq!(s.try_start(now, 2, &clock), Readiness::Go);
        assert_eq!(s.try_start(now, 2, &clock), Readiness::Full);
        s.in_flight = 0;
        let later = now + Duration::from_secs(5);
        s.not_before = Some(later);
        assert_eq!(s.try_start(now, 2, &clock), Readiness::WaitUntil(later));
    }

    #[test]
    fn a_limited_slot_reports_when_to_come_back() {
        let clock = DefaultClock::default();
        let mut s = HostSlot::new("http://a".into(), Some(Duration::from_secs(10)), &clock);
        let now = Instant::now();
        assert_eq!(s.try_start(now, 5, &clock), Readiness::Go);
        match s.try_start(now, 5, &clock) {
            Readiness::WaitUntil(t) => {
                let wait = t - now;
                assert!(
                    wait > Duration::from_secs(9) && wait <= Duration::from_secs(10),
                    "{wait:?}"
                );
            }
            other => panic!("expected a wait, got {other:?}"),
        }
        assert!(!s.is_idle(now, Some(Duration::from_secs(10))));
    }
}
