//! The last check before a request leaves: no two request starts to one origin closer than its
//! gap, measured from when the previous request actually went out, not from when it was handed
//! to the HTTP client.
//!
//! The scheduler already spaces hand-outs by the gap, so this gate is almost always open. Two
//! things can still bring two starts closer on the wire:
//! - the executor stalls after a hand-out (a burst of parsing, a slow disk), and two URLs of one
//!   origin handed out 200 ms apart leave together when the stall ends;
//! - curl's agent thread puts a request on the wire some time after the hand-over, and under
//!   CPU load that delay varies from request to request. Measured with the kernel's timestamps
//!   at the server (tests/integration/wire_timing.rs), a crawler pinned to a busy core sent
//!   starts 36 ms apart at a 40 ms gap when the gap was counted from the hand-over.
//!
//! So each request carries a [`Departure`]: curl's agent thread stamps it once curl has sent
//! the request (our patch to isahc, vendor/PATCHED.md), and the next request to the origin
//! waits for that stamp plus the gap. Every stamp is at or after the real send, so the gap on
//! the wire is never short; what it costs is the delay between curl's send and its stamp
//! (microseconds: the same agent-thread loop). With `--per-host-concurrency` above 1 a request
//! also waits until the one before it has left, which is at most a few milliseconds after its
//! hand-over unless its connection is slow to open.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::frontier::{OriginId, SendPermits};

/// Entries older than this are dropped at the next sweep, so the map follows active origins.
const FORGET_AFTER: Duration = Duration::from_secs(120);
/// The map is swept once it holds this many origins, and then again each time it has doubled
/// since the last sweep: a sweep is a walk of the whole map, so with 10,000 origins at work it
/// must not run at every request.
const SWEEP_FROM: usize = 4096;

/// When one request handed to the HTTP client left, once known: the agent thread's stamp once
/// curl has sent it, or, for a request that ended without one (refused, failed, dropped), the
/// moment it ended. Either is at or after the real send.
#[derive(Debug, Default)]
pub struct Departure {
    /// Given to the request; curl's agent thread stamps it. `None` when no gap follows it
    /// (`--rate 0`): curl then skips the progress callbacks that stamp it.
    metrics: Option<isahc::Metrics>,
    ended: OnceLock<Instant>,
}

impl Departure {
    fn tracked() -> Departure {
        Departure {
            metrics: Some(isahc::Metrics::new()),
            ended: OnceLock::new(),
        }
    }

    /// The object the HTTP client stamps (a request extension, see `fetch::client`), when the
    /// gate follows this request.
    pub fn metrics(&self) -> Option<&isahc::Metrics> {
        self.metrics.as_ref()
    }

    /// At or after when the request went out; `None` while it may still be going.
    fn left_by(&self) -> Option<Instant> {
        self.metrics
            .as_ref()
            .and_then(|m| m.request_sent_at())
            .or_else(|| self.ended.get().copied())
    }

    /// The request is over: if curl never stamped it, it left (if at all) by `at`.
    fn end(&self, at: Instant) {
        let _ = self.ended.set(at);
    }
}

/// A claimed send slot. Dropping it ends the request's [`Departure`]: a request that never
/// went out, or whose stamp was lost, counts as sent when it ended.
#[derive(Debug)]
pub struct SendTicket(Arc<Departure>);

impl SendTicket {
    /// A ticket no gap follows (`--rate 0`).
    pub fn untracked() -> SendTicket {
        SendTicket(Arc::default())
    }

    /// The departure to hand to the HTTP client with the request.
    pub fn departure(&self) -> &Departure {
        &self.0
    }
}

impl Drop for SendTicket {
    fn drop(&mut self) {
        self.0.end(Instant::now());
    }
}

/// One origin's sends: the latest known departure, and the requests handed over whose
/// departure is not known yet.
#[derive(Debug, Default)]
struct OriginSends {
    last: Option<Instant>,
    going: Vec<Arc<Departure>>,
}

/// The key an origin's sends are spaced by: a hash of its serialization
/// (`https://host:port`), not the frontier's origin id, so that a request to an origin the
/// frontier does not hold (a robots.txt redirect to another host) keeps that origin's gap
/// too, together with the crawl's own requests to it.
pub type GateKey = u64;

/// The gate's key for `origin` (as [`crate::canon::origin_key`] writes it).
pub fn gate_key(origin: &str) -> GateKey {
    xxhash_rust::xxh3::xxh3_64(origin.as_bytes())
}

/// The latest departures per origin, and (a crawl shared by several workers) which origins
/// this process may still send to at all.
#[derive(Debug, Default)]
pub struct SendGate {
    origins: Mutex<Origins>,
    permits: Option<std::sync::Arc<SendPermits>>,
}

/// The origins' sends, and the size at which they are next swept.
#[derive(Debug, Default)]
struct Origins {
    by_key: HashMap<GateKey, OriginSends>,
    sweep_at: usize,
}

impl SendGate {
    /// A gate with no history.
    #[cfg(test)] // crawls build theirs with `with_permits`
    pub fn new() -> Self {
        Self::default()
    }

    /// A gate that also asks `permits` (a shared frontier's shard leases) before every send.
    pub fn with_permits(permits: Option<std::sync::Arc<SendPermits>>) -> Self {
        SendGate {
            permits,
            ..Self::default()
        }
    }

    /// Whether this process may send to `origin` at all now (always, without permits).
    pub fn permitted(&self, origin: OriginId) -> bool {
        self.permits.as_ref().is_none_or(|p| p.allows(origin))
    }

    /// Claims a send slot for `origin` at `now` if every earlier request to it has left and the
    /// latest left at least `gap` ago; otherwise returns how long to wait before asking again.
    /// With no gap (`--rate 0`) nothing is spaced and nothing is tracked.
    pub fn try_send(
        &self,
        origin: GateKey,
        gap: Duration,
        now: Instant,
    ) -> Result<SendTicket, Duration> {
        if gap.is_zero() {
            return Ok(SendTicket::untracked());
        }
        let mut origins = self.origins.lock().unwrap_or_else(|e| e.into_inner());
        if origins.by_key.len() >= origins.sweep_at.max(SWEEP_FROM) {
            origins.by_key.retain(|_, o| {
                !o.going.is_empty() || o.last.is_some_and(|t| now.duration_since(t) < FORGET_AFTER)
            });
            origins.sweep_at = 2 * origins.by_key.len();
        }
        let o = origins.by_key.entry(origin).or_default();
        let mut last = o.last;
        o.going.retain(|d| match d.left_by() {
            Some(t) => {
                last = last.max(Some(t));
                false
            }
            None => true,
        });
        o.last = last;
        if !o.going.is_empty() {
            // Usually a few milliseconds; asked again often enough to lose little of the gap.
            return Err((gap / 20).clamp(Duration::from_millis(1), Duration::from_millis(20)));
        }
        if let Some(next) = o.last.map(|t| t + gap).filter(|&next| next > now) {
            return Err(next - now);
        }
        let departure = Arc::new(Departure::tracked());
        o.going.push(departure.clone());
        Ok(SendTicket(departure))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(t: Result<SendTicket, Duration>, at: Instant) -> SendTicket {
        let ticket = t.expect("a send slot");
        ticket.departure().end(at);
        ticket
    }

    #[test]
    fn sends_to_one_origin_keep_the_gap_from_when_the_previous_left() {
        let g = SendGate::new();
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let gap = ms(200);
        let first = g.try_send(1, gap, t0).expect("the first send");
        assert_eq!(
            g.try_send(1, gap, t0 + ms(6)).unwrap_err(),
            ms(10),
            "the first has not left yet: ask again soon"
        );
        // It left 30 ms after its hand-over (curl's agent thread was busy).
        first.departure().end(t0 + ms(30));
        assert_eq!(g.try_send(1, gap, t0 + ms(6)).unwrap_err(), ms(224));
        assert_eq!(g.try_send(1, gap, t0 + gap).unwrap_err(), ms(30));
        let _second = sent(g.try_send(1, gap, t0 + ms(230)), t0 + ms(231));
        assert_eq!(g.try_send(1, gap, t0 + ms(430)).unwrap_err(), ms(1));
        assert!(g.try_send(2, gap, t0 + ms(6)).is_ok(), "another origin");
        assert!(g.try_send(3, Duration::ZERO, t0).is_ok());
        assert!(g.try_send(3, Duration::ZERO, t0).is_ok(), "no gap, no wait");
    }

    #[test]
    fn a_request_that_never_left_counts_as_sent_when_its_ticket_drops() {
        let g = SendGate::new();
        let gap = Duration::from_millis(100);
        let ticket = g.try_send(1, gap, Instant::now()).unwrap();
        let before = Instant::now();
        drop(ticket);
        let after = Instant::now();
        // The drop happened between `before` and `after`: the wait is the gap less at most
        // that span, however slow the machine.
        let wait = g.try_send(1, gap, after).unwrap_err();
        assert!(
            wait <= gap && wait >= gap - (after - before),
            "the gap counts from the drop: {wait:?} after {:?}",
            after - before
        );
    }

    #[test]
    fn a_shard_permit_allows_sends_until_its_deadline_only() {
        let permits = std::sync::Arc::new(SendPermits::new(4));
        let g = SendGate::with_permits(Some(permits.clone()));
        assert!(!g.permitted(7), "an origin never handed out");
        permits.learn(7, 2);
        assert!(!g.permitted(7), "its shard is not held");
        permits.set(2, Some(Instant::now() + Duration::from_secs(60)));
        assert!(g.permitted(7));
        permits.set(2, Some(Instant::now() - Duration::from_millis(1)));
        assert!(!g.permitted(7), "the lease's local deadline passed");
        permits.set(2, Some(Instant::now() + Duration::from_secs(60)));
        permits.set(2, None);
        assert!(!g.permitted(7), "the shard was lost");
        assert!(
            SendGate::new().permitted(7),
            "no permits: a crawl of its own"
        );
    }
}
