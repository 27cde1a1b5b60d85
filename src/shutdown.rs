//! Stopping a crawl on request. The binary turns SIGINT/SIGTERM into [`StopSignal::request`];
//! the engine then starts nothing new, lets requests in flight finish within `--grace`, and
//! returns so the run can flush and report. A lease still open at the deadline stays in the
//! database and is fetched again on resume: a stop never loses a URL.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

/// A shared "please stop" flag carrying the signal number that asked (0: none).
#[derive(Clone, Debug, Default)]
pub struct StopSignal(Arc<AtomicI32>);

impl StopSignal {
    /// A flag no one has raised.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the crawl to stop; `signal` is reported back (2 for SIGINT, 15 for SIGTERM).
    /// Returns `false` when a stop was already requested (the caller may then exit at once).
    pub fn request(&self, signal: i32) -> bool {
        self.0
            .compare_exchange(0, signal.max(1), Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    /// The signal that asked for a stop, if any.
    pub fn requested(&self) -> Option<i32> {
        match self.0.load(Ordering::SeqCst) {
            0 => None,
            s => Some(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_request_wins() {
        let s = StopSignal::new();
        assert_eq!(s.requested(), None);
        assert!(s.request(15));
        assert!(!s.request(2), "a second signal is not a first one");
        assert_eq!(s.clone().requested(), Some(15));
    }
}
