//! The last check before a request leaves: no two request starts to one origin closer than its
//! gap, measured when the request is actually sent, not when the scheduler handed it out.
//!
//! The scheduler already spaces hand-outs by the gap, so this gate is almost always open. It
//! exists for the moment the executor stalls (a burst of parsing, a slow disk): two URLs of one
//! origin handed out 200 ms apart could otherwise leave together when the stall ends, and with
//! `--per-host-concurrency` above 1 the server would see them arrive at once. Measured from the
//! server's side, that happened about once in six multi-host benchmark runs before this gate.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::frontier::{OriginId, SendPermits};

/// Entries older than this are dropped on the next insert, so the map follows active origins.
const FORGET_AFTER: Duration = Duration::from_secs(120);

/// The latest send time per origin, and (a crawl shared by several workers) which origins
/// this process may still send to at all.
#[derive(Debug, Default)]
pub struct SendGate {
    last: Mutex<HashMap<OriginId, Instant>>,
    permits: Option<std::sync::Arc<SendPermits>>,
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

    /// Claims a send slot for `origin` at `now` if the previous send was at least `gap` ago;
    /// otherwise returns how long to wait before asking again.
    pub fn try_send(&self, origin: OriginId, gap: Duration, now: Instant) -> Result<(), Duration> {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(prev) = last.get(&origin) {
            let next = *prev + gap;
            if next > now {
                return Err(next - now);
            }
        }
        if last.len() > 4096 {
            last.retain(|_, t| now.duration_since(*t) < FORGET_AFTER);
        }
        last.insert(origin, now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_to_one_origin_keep_the_gap() {
        let g = SendGate::new();
        let t0 = Instant::now();
        let gap = Duration::from_millis(200);
        assert_eq!(g.try_send(1, gap, t0), Ok(()));
        assert_eq!(
            g.try_send(1, gap, t0 + Duration::from_millis(6)),
            Err(Duration::from_millis(194))
        );
        assert_eq!(
            g.try_send(2, gap, t0 + Duration::from_millis(6)),
            Ok(()),
            "another origin"
        );
        assert_eq!(g.try_send(1, gap, t0 + gap), Ok(()));
        assert_eq!(g.try_send(3, Duration::ZERO, t0), Ok(()));
        assert_eq!(g.try_send(3, Duration::ZERO, t0), Ok(()), "no gap, no wait");
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
