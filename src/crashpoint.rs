//! Named points where a test can make the process die on the spot, to prove that a crash at
//! exactly that moment loses nothing: with `POLITECRAWL_CRASH_AT=NAME` in the environment, the
//! process aborts (as `kill -9` would stop it) when it reaches the point called NAME. Unset,
//! each point costs one comparison.
//!
//! Points: `seen-run-written` (a checkpoint's new run is on disk, the manifest does not name it
//! yet), `seen-manifest-switched` (the manifest names it, the replaced runs are not deleted
//! yet), `upgrade-seen-built` (an upgrade from schema 2 built its run, the database is still
//! schema 2).

use std::sync::OnceLock;

/// Aborts the process if the environment names this point.
pub fn hit(name: &str) {
    static AT: OnceLock<Option<String>> = OnceLock::new();
    let at = AT.get_or_init(|| std::env::var("POLITECRAWL_CRASH_AT").ok());
    if at.as_deref() == Some(name) {
        eprintln!("politecrawl: crash point {name} reached, aborting (POLITECRAWL_CRASH_AT)");
        std::process::abort();
    }
}
