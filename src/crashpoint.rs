//! Named points where a test can make the process die on the spot, to prove that a crash at
//! exactly that moment loses nothing: with `POLITECRAWL_CRASH_AT=NAME` (or `NAME:N`, the Nth
//! time) in the environment, the process aborts (as `kill -9` would stop it) when it reaches
//! the point called NAME. Unset, each point costs one comparison.
//!
//! Points: `seen-run-written` (a checkpoint's new run is on disk, the manifest does not name it
//! yet), `seen-manifest-switched` (the manifest names it, the replaced runs are not deleted
//! yet), `queue-group-folded` (a queue checkpoint has written one batch of origin-and-depth
//! groups' chunks, others not yet; `POLITECRAWL_QUEUE_FOLD_BATCH=1` makes each group a batch),
//! `queue-chunks-written` (all chunks rewritten, the log not yet dropped),
//! `queue-log-part-removed` (one batch of the folded log's values removed, the newer ones
//! not yet; `POLITECRAWL_QUEUE_LOG_BATCH=1` makes each value a batch), `compact-copied`
//! (compaction's copies of every body and record are synced, the page log's span not yet
//! moved to them), `compact-switched` (it is, the old segments are still there),
//! `upgrade-seen-built` (an upgrade from schema 2 built its run, the database is still schema
//! 2), `upgrade-pages-built` (an upgrade from schema 3 wrote the page log and the tallies, the
//! database is still schema 3), `recheck-batch-queued` (a recrawl's planning queued one batch
//! of rechecks, not yet the rest; `POLITECRAWL_RECHECK_BATCH=N` makes batches of N).
//!
//! One point fails instead of aborting: `http-client-dies` (from the Nth request on, every
//! request panics as isahc's does once curl's agent thread has died).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The point the environment names, and from which time on.
fn named() -> Option<&'static (String, u64)> {
    static AT: OnceLock<Option<(String, u64)>> = OnceLock::new();
    AT.get_or_init(|| {
        let v = std::env::var("POLITECRAWL_CRASH_AT").ok()?;
        Some(match v.split_once(':') {
            Some((n, k)) => (n.to_string(), k.parse().unwrap_or(1)),
            None => (v, 1),
        })
    })
    .as_ref()
}

/// How often the named point has been reached.
static HITS: AtomicU64 = AtomicU64::new(0);

/// Aborts the process if the environment names this point (and this is the named time).
pub fn hit(name: &str) {
    if pass(name).is_some_and(|(k, nth)| k == nth) {
        eprintln!("politecrawl: crash point {name} reached, aborting (POLITECRAWL_CRASH_AT)");
        std::process::abort();
    }
}

/// Whether the environment names `name` and this pass is its named time or a later one: a
/// failure that lasts, where [`hit`] aborts.
pub fn failing_from(name: &str) -> bool {
    pass(name).is_some_and(|(k, nth)| k >= nth)
}

/// Counts a pass through `name` when the environment names it: (this pass's number, the
/// named one).
fn pass(name: &str) -> Option<(u64, u64)> {
    let (point, nth) = named()?;
    (point == name).then(|| (HITS.fetch_add(1, Ordering::Relaxed) + 1, *nth))
}

/// A positive number from the environment variable `name`, else `default`: the tuning knobs
/// tests turn down (`POLITECRAWL_SEEN_CHECKPOINT`, `POLITECRAWL_QUEUE_CHECKPOINT`,
/// `POLITECRAWL_QUEUE_FOLD_BATCH`, `POLITECRAWL_QUEUE_LOG_BATCH`, `POLITECRAWL_RECHECK_BATCH`) to make checkpoints happen often and in small steps,
/// and `POLITECRAWL_PRUNE_EVERY_MS` to drop idle hosts' state sooner.
pub fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or(default)
}
