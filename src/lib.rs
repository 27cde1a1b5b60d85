//! politecrawl: a polite, concurrent, resumable web crawler.
//!
//! ```text
//!            crawl · demo                                   status · export
//!  (crawl.rs sets a run up; main.rs only dispatches)        (read the store when no crawl runs)
//!                 │                                                  │
//!                 ▼                                                  │
//!  seeds ──► engine thread ──────── Job ────────►  workers (async tasks, --concurrency)
//!            the only database writer               send gate → fetch → extract → discover
//!            scheduler · politeness · retry  ◄── Outcome ──  page record + URLs found, or a
//!            robots.txt life cycle · leases               robots.txt verdict; never touch sled
//!                 │ outcomes: one transaction per batch              │ bodies: appended
//!                 ▼                                                  ▼
//!  store: sled trees (frontier: queue, seen_inbox, delayed, origins; pages, bodies, robots, hosts,
//!         meta) + seen-set runs and body segments beside them; sled and bodies synced every 200 ms
//! ```
//!
//! Settings (read once, then passed down):
//! - [`config`]: the crawl settings, declared once (field, flag, default, override).
//! - [`canon`]: URL rules: seed parsing, normalization, scope.
//! - [`error`]: what stops a command; [`failure`]: why one URL failed (data, not an error).
//!
//! Engine side (one thread, the only database writer):
//! - `engine`: the loop that schedules, leases, dispatches jobs and settles outcomes.
//! - `scheduler`: which origin may start a request now.
//! - `politeness`: one origin's rate, in-flight cap, pauses and back-off.
//! - `retry`: which failures get another try, and when.
//! - `seen`: the seen-set: fingerprint runs, the inbox of new ones, the memo in front.
//! - [`frontier`]: the queue, seen-set and leases behind the [`frontier::Frontier`] seam the engine
//!   talks to; [`frontier::SledFrontier`] keeps them in the crawl's sled database.
//! - [`cluster`]: a crawl shared by several workers over PostgreSQL: shards of origins leased
//!   with fencing epochs, the shared seen-set and queue, [`cluster::ClusterFrontier`] behind the
//!   same seam, a worker process, and the crawl's status and export.
//!
//! Worker side (async tasks, never touching the database):
//! - `worker`: a leased URL to an outcome: fetch, robots.txt, discovery.
//! - `fetch`: the one shared HTTP client (surf over curl), timeouts, body caps and decoding.
//! - `sendgate`: the per-origin gap checked again at the moment a request is sent.
//! - `robots`: RFC 9309 rules, verdicts and Crawl-delay.
//! - [`extract`], [`charset`], `sitemap`: links out of HTML, bytes to text, sitemap entries.
//!
//! Persistence:
//! - [`store`]: the sled database (records, open checks, upgrade, flusher) and the body
//!   segments. `crashpoint`: named points where tests make the process abort.
//!
//! Commands on top:
//! - [`crawl`]: sets a run up (new or resumed) and runs it; [`report`]: what a run did.
//! - [`recrawl`]: rechecks of stored pages (`--recrawl`): rounds, conditional requests, versions.
//! - [`status`]: where a crawl stands; [`progress`]: the live numbers of a running one.
//! - [`export`]: JSON Lines, CSV, WARC and mirror dumps.
//! - [`allocator`]: mimalloc's settings, shared with the benchmarks.
//! - [`demo`]: the bundled fixture crawl; [`serve`]: the loopback test-site server.
//! - [`shutdown`]: the stop signal; `runtime`: the async-runtime seam and the clock;
//!   `http_status`: reason phrases for the WARC writer and the test server.
#![warn(missing_docs)]

// Settings.
pub mod canon;
pub mod config;
pub mod config_file;
pub mod error;
pub mod failure;

// Engine side.
pub mod cluster;
mod engine;
pub mod frontier;
mod politeness;
pub mod recrawl;
mod retry;
mod scheduler;
mod seen;

// Worker side.
pub mod charset;
pub mod extract;

mod fetch;
mod robots;
mod sendgate;
mod sitemap;
mod worker;

// Persistence.
mod crashpoint;
pub mod store;

// Commands and what they share.
pub mod allocator;
pub mod crawl;
pub mod demo;
pub mod export;
mod http_status;
pub mod progress;
mod replace_file;
pub mod report;
mod runtime;
pub mod seeds_file;
pub mod serve;
pub mod shutdown;
pub mod status;

pub use canon::ScopeKind;
pub use config::{CrawlConfig, Overrides};
pub use error::{Error, Result};
pub use failure::{ErrorKind, Failure};
pub use fetch::request::{Credentials, Login};
pub use report::{RunCounters, StopReason, Summary};
pub use shutdown::StopSignal;
pub use store::{OpenMode, Store};
