//! Per-origin politeness state: a governor rate limiter (burst 1) for `--rate`, an in-flight cap,
//! and the delays that may only lengthen the gap between two request starts: robots.txt
//! `Crawl-delay`, back-off after 429/503, and a response-time throttle. The scheduler asks a
//! slot whether a request may start now and, when not, until when to wait, so no worker ever
//! sleeps on one host's limits.
//!
//! Back-off and throttle rules (documented in docs/GUIDE.md):
//! - 429 or 503 with `Retry-After` (seconds or HTTP-date, capped by `--max-retry-after`): the
//!   host is paused until then.
//! - 429 or 503 without it: the host's back-off delay doubles (from its current gap, at least
//!   1 s, at most [`MAX_BACKOFF`]) and the host is paused for one such delay.
//! - Each healthy response (any other status) halves the back-off delay; below 100 ms it is gone.
//! - Throttle (as Scrapy's AutoThrottle, target concurrency = `--per-host-concurrency`): after
//!   each response taking `latency`, `target = latency / K`, and the throttle delay becomes
//!   `max(target, (throttle + target) / 2)`, at most [`MAX_THROTTLE`]; error responses may raise
//!   it but never lower it. Off with `--rate 0`.

use std::collections::HashSet;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use crate::frontier::QueueKey;
use crate::robots::Policy;
use crate::runtime::Clock;
use crate::store::HostRecord;

/// A host's `--rate` limiter, on the crawl's clock.
type Limiter = RateLimiter<NotKeyed, InMemoryState, Clock, NoOpMiddleware<Instant>>;

/// governor reads the crawl's clock, so a manual one moves the rate limit too.
impl governor::clock::Clock for Clock {
    type Instant = Instant;

    fn now(&self) -> Instant {
        Clock::now(self)
    }
}

/// Longest back-off delay between starts after 429/503 responses.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Longest response-time throttle delay.
pub const MAX_THROTTLE: Duration = Duration::from_secs(60);
/// Retry-After values kept per host for `status`.
const RETRY_AFTER_KEPT: usize = 10;

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

/// Where an origin stands with its robots.txt.
#[derive(Clone, Debug)]
pub enum RobotsState {
    /// Not known yet: the next start fetches it.
    Unknown,
    /// Being fetched: nothing else starts until it is known.
    Fetching,
    /// Known: these rules apply.
    Known(Arc<Policy>),
}

/// One origin's politeness state.
pub struct HostSlot {
    /// The origin, e.g. `http://example.com:8080`.
    pub origin: String,
    /// URLs of this origin waiting in the frontier.
    pub queued: u64,
    /// Requests to this origin started and not finished.
    pub in_flight: usize,
    /// No request starts before this (Retry-After, back-off, restored state).
    pub pause_until: Option<Instant>,
    /// Start of the latest request.
    pub last_start: Option<Instant>,
    prev_start: Option<Instant>,
    /// `--rate` interval (`None`: unlimited).
    base: Option<Duration>,
    /// robots.txt Crawl-delay in force (already capped).
    pub crawl_delay: Duration,
    /// Back-off delay after 429/503.
    pub backoff: Duration,
    /// Response-time throttle delay.
    pub throttle: Duration,
    /// robots.txt state.
    pub robots: RobotsState,
    /// When the known robots.txt verdict goes stale and is fetched again (24 h after its fetch).
    pub robots_expires: Option<Instant>,
    /// Failed robots.txt tries in the current streak, and when the streak began (unix ms).
    pub robots_failures: Option<(u32, u64)>,
    /// Counters persisted with the host.
    pub pauses: u64,
    /// Latest Retry-After values seen, in seconds.
    pub retry_after_seen: Vec<u64>,
    /// URLs blocked by robots.txt.
    pub blocked: u64,
    /// Pages of this origin counted against `--max-pages-per-host`: outcomes already stored
    /// (from the database when the slot was made) plus the URLs requested since.
    pub budget_used: u64,
    /// The URLs counted in `budget_used` whose outcome is not stored yet (in flight or waiting
    /// for a retry), so a URL's retries are the same page and may go when the budget is spent.
    pub budget_counted: HashSet<QueueKey>,
    limiter: Option<Limiter>,
}

impl HostSlot {
    /// A slot allowing one request start per `interval` (none for unlimited). Burst is 1: a
    /// fresh limiter lets exactly one request through, then spaces the rest.
    pub fn new(origin: String, interval: Option<Duration>, clock: &Clock) -> Self {
        HostSlot {
            origin,
            queued: 0,
            in_flight: 0,
            pause_until: None,
            last_start: None,
            prev_start: None,
            base: interval,
            crawl_delay: Duration::ZERO,
            backoff: Duration::ZERO,
            throttle: Duration::ZERO,
            robots: RobotsState::Unknown,
            robots_expires: None,
            robots_failures: None,
            pauses: 0,
            retry_after_seen: Vec::new(),
            blocked: 0,
            budget_used: 0,
            budget_counted: HashSet::new(),
            limiter: new_limiter(interval, clock),
        }
    }

    /// The gap the next start keeps after the previous one.
    pub fn gap(&self) -> Duration {
        self.base
            .unwrap_or_default()
            .max(self.crawl_delay)
            .max(self.backoff)
            .max(self.throttle)
    }

    /// Asks to start one request at `now` with at most `cap` in flight. On [`Readiness::Go`]
    /// the caller must start it (or call [`HostSlot::cancel_start`]).
    pub fn try_start(&mut self, now: Instant, cap: usize, clock: &Clock) -> Readiness {
        if self.in_flight >= cap {
            return Readiness::Full;
        }
        if let Some(t) = self.pause_until.filter(|t| *t > now) {
            return Readiness::WaitUntil(t);
        }
        let extra = self.crawl_delay.max(self.backoff).max(self.throttle);
        if let Some(t) = self.last_start.map(|s| s + extra).filter(|t| *t > now) {
            return Readiness::WaitUntil(t);
        }
        if let Some(limiter) = &self.limiter {
            if let Err(not_until) = limiter.check() {
                return Readiness::WaitUntil(now + not_until.wait_time_from(clock.now()));
            }
        }
        self.in_flight += 1;
        self.prev_start = self.last_start;
        self.last_start = Some(now);
        Readiness::Go
    }

    /// Takes back a start that made no request (a URL blocked by robots.txt): the next real
    /// request keeps its gap from the previous real one, not from this non-request.
    pub fn cancel_start(&mut self, clock: &Clock) {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.last_start = self.prev_start;
        self.limiter = new_limiter(self.base, clock);
        if let (Some(prev), Some(base)) = (self.prev_start, self.base) {
            let t = prev + base;
            self.pause_until = Some(self.pause_until.map_or(t, |p| p.max(t)));
        }
    }

    /// A 429 or 503: pause per `Retry-After` (capped), or double the back-off delay. Returns
    /// the instant the host may be asked again.
    pub fn overloaded(
        &mut self,
        now: Instant,
        retry_after: Option<Duration>,
        cap: Duration,
    ) -> Instant {
        self.pauses += 1;
        let pause = match retry_after {
            Some(d) => {
                if self.retry_after_seen.len() == RETRY_AFTER_KEPT {
                    self.retry_after_seen.remove(0);
                }
                self.retry_after_seen.push(d.as_secs());
                d.min(cap)
            }
            None => {
                self.backoff = (self.gap() * 2)
                    .max(Duration::from_secs(1))
                    .min(MAX_BACKOFF);
                self.backoff
            }
        };
        let until = now + pause;
        self.pause_until = Some(self.pause_until.map_or(until, |p| p.max(until)));
        until
    }

    /// A healthy response: the back-off eases by half.
    pub fn healthy(&mut self) {
        self.backoff /= 2;
        if self.backoff < Duration::from_millis(100) {
            self.backoff = Duration::ZERO;
        }
    }

    /// Feeds a response time to the throttle (not with `--rate 0`).
    pub fn observe_latency(&mut self, latency: Duration, cap: usize, ok: bool) {
        if self.base.is_none() {
            return;
        }
        let target = latency / cap.max(1) as u32;
        let next = target.max((self.throttle + target) / 2).min(MAX_THROTTLE);
        if ok || next > self.throttle {
            self.throttle = next;
        }
    }

    /// Whether the slot holds nothing worth keeping in memory (its state is in the database).
    pub fn is_idle(&self, now: Instant) -> bool {
        let rested = self
            .last_start
            .is_none_or(|t| now.duration_since(t) >= self.gap());
        let unpaused = self.pause_until.is_none_or(|t| t <= now);
        self.queued == 0
            && self.in_flight == 0
            && rested
            && unpaused
            && !matches!(self.robots, RobotsState::Fetching)
    }

    /// The state to persist: pauses and gaps become wall-clock times.
    pub fn to_record(&self, clock: &Clock) -> HostRecord {
        let now = clock.now();
        let next = self
            .pause_until
            .into_iter()
            .chain(self.last_start.map(|s| s + self.gap()))
            .max()
            .filter(|t| *t > now);
        HostRecord {
            origin: self.origin.clone(),
            not_before_ms: next.map_or(0, |t| clock.unix_ms() + (t - now).as_millis() as u64),
            backoff_ms: self.backoff.as_millis() as u64,
            throttle_ms: self.throttle.as_millis() as u64,
            pauses: self.pauses,
            retry_after_seen: self.retry_after_seen.clone(),
            blocked: self.blocked,
        }
    }

    /// Restores persisted state (a resumed crawl keeps backing off where it was).
    pub fn restore(&mut self, rec: &HostRecord, clock: &Clock) {
        let wait = rec.not_before_ms.saturating_sub(clock.unix_ms());
        if wait > 0 {
            self.pause_until = Some(clock.now() + Duration::from_millis(wait));
        }
        self.backoff = Duration::from_millis(rec.backoff_ms);
        self.throttle = Duration::from_millis(rec.throttle_ms);
        self.pauses = rec.pauses;
        self.retry_after_seen = rec.retry_after_seen.clone();
        self.blocked = rec.blocked;
    }
}

fn new_limiter(interval: Option<Duration>, clock: &Clock) -> Option<Limiter> {
    interval
        .and_then(Quota::with_period)
        .map(|q| RateLimiter::direct_with_clock(q.allow_burst(NonZeroU32::MIN), clock.clone()))
}

/// Reads a `Retry-After` value: delta-seconds or an HTTP-date (a date in the past is zero).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;
    use std::time::UNIX_EPOCH;

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

    /// A slot on a manual clock (it moves only when a test says).
    fn slot(interval: Option<Duration>) -> (HostSlot, Clock) {
        let clock = Clock::manual();
        (HostSlot::new("http://a".into(), interval, &clock), clock)
    }

    #[test]
    fn cap_and_pause_hold_requests() {
        let (mut s, clock) = slot(None);
        let now = clock.now();
        assert_eq!(s.try_start(now, 2, &clock), Readiness::Go);
        assert_eq!(s.try_start(now, 2, &clock), Readiness::Go);
        assert_eq!(s.try_start(now, 2, &clock), Readiness::Full);
        s.in_flight = 0;
        let later = now + Duration::from_secs(5);
        s.pause_until = Some(later);
        assert_eq!(s.try_start(now, 2, &clock), Readiness::WaitUntil(later));
    }

    #[test]
    fn a_limited_slot_reports_when_to_come_back() {
        let (mut s, clock) = slot(Some(Duration::from_secs(10)));
        let now = clock.now();
        assert_eq!(s.try_start(now, 5, &clock), Readiness::Go);
        let back = now + Duration::from_secs(10);
        assert_eq!(s.try_start(now, 5, &clock), Readiness::WaitUntil(back));
        assert!(!s.is_idle(now));
        clock.advance(Duration::from_millis(9_999));
        let t = clock.now();
        assert_eq!(s.try_start(t, 5, &clock), Readiness::WaitUntil(back));
        clock.advance(Duration::from_millis(1));
        s.in_flight = 0;
        assert_eq!(s.try_start(back, 5, &clock), Readiness::Go);
    }

    #[test]
    fn crawl_delay_lengthens_the_gap() {
        let (mut s, clock) = slot(Some(Duration::from_millis(100)));
        s.crawl_delay = Duration::from_secs(1);
        let now = clock.now();
        assert_eq!(s.try_start(now, 5, &clock), Readiness::Go);
        s.in_flight = 0;
        let later = now + Duration::from_millis(500);
        assert_eq!(
            s.try_start(later, 5, &clock),
            Readiness::WaitUntil(now + Duration::from_secs(1))
        );
    }

    #[test]
    fn backoff_doubles_then_eases() {
        let (mut s, _) = slot(Some(Duration::from_secs(1)));
        let now = Instant::now();
        s.overloaded(now, None, Duration::from_secs(600));
        assert_eq!(s.backoff, Duration::from_secs(2));
        s.overloaded(now, None, Duration::from_secs(600));
        assert_eq!(s.backoff, Duration::from_secs(4));
        for _ in 0..10 {
            s.overloaded(now, None, Duration::from_secs(600));
        }
        assert_eq!(s.backoff, MAX_BACKOFF);
        s.healthy();
        assert_eq!(s.backoff, MAX_BACKOFF / 2);
        let until = s.overloaded(
            now,
            Some(Duration::from_secs(3600)),
            Duration::from_secs(600),
        );
        assert_eq!(
            until,
            now + Duration::from_secs(600),
            "Retry-After is capped"
        );
        assert_eq!(s.retry_after_seen, [3600]);
        assert_eq!(s.pauses, 13);
    }

    #[test]
    fn throttle_follows_slow_responses_and_not_down_on_errors() {
        let (mut s, _) = slot(Some(Duration::from_millis(100)));
        s.observe_latency(Duration::from_secs(4), 2, true);
        assert_eq!(s.throttle, Duration::from_secs(2));
        s.observe_latency(Duration::from_millis(10), 2, false);
        assert_eq!(
            s.throttle,
            Duration::from_secs(2),
            "an error response cannot speed up"
        );
        s.observe_latency(Duration::from_millis(10), 2, true);
        assert!(s.throttle < Duration::from_millis(1100));
        let (mut unlimited, _) = slot(None);
        unlimited.observe_latency(Duration::from_secs(4), 2, true);
        assert_eq!(
            unlimited.throttle,
            Duration::ZERO,
            "--rate 0 means no throttle"
        );
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        let date = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(parse_retry_after(&date, now), Some(Duration::from_secs(30)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(parse_retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn state_round_trips_through_the_record() {
        let (mut s, clock) = slot(Some(Duration::from_secs(1)));
        let now = clock.now();
        s.overloaded(now, Some(Duration::from_secs(30)), Duration::from_secs(600));
        let rec = s.to_record(&clock);
        assert_eq!(rec.not_before_ms, clock.unix_ms() + 30_000);
        // Restored 10 s later: 20 s of the pause are left.
        clock.advance(Duration::from_secs(10));
        let mut t = HostSlot::new("http://a".into(), Some(Duration::from_secs(1)), &clock);
        t.restore(&rec, &clock);
        assert_eq!(t.pause_until, Some(now + Duration::from_secs(30)));
        assert_eq!(t.retry_after_seen, [30]);
    }
}
