//! politecrawl: a polite, concurrent, resumable web crawler.
//!
//! ```text
//! seed ──► frontier (sled) ──► scheduler ──► politeness (per-origin rate + cap)
//!   ▲                                              │
//!   │ new links (normalize, scope, dedupe)         ▼
//! worker ◄── extract (blocking thread) ◄── fetch (one surf client, curl backend)
//!   │
//!   ▼
//! store (sled: pages, bodies, per-URL state, counters) ──► status / export
//! ```
//!
//! - [`config`]: validated settings, every default in one place.
//! - [`bodies`]: page bodies in append-only segment files, written by the workers.
//! - [`canon`]: URL normalization and scope.
//! - [`frontier`]: persistent queue, seen-set and leases (sled transactions).
//! - [`robots`]: robots.txt per RFC 9309: verdicts, rules, Crawl-delay.
//! - [`politeness`]: one origin's rate limiter, in-flight cap, delays and back-off.
//! - [`scheduler`]: which origin may start a request now.
//! - [`seen`]: a bounded memo of the seen-set, sparing the database most re-found links.
//! - [`sendgate`]: the gap checked again when a request is actually sent.
//! - [`fetch`]: the shared HTTP client, timeouts, body decoding and caps, failure kinds.
//! - [`retry`]: which failures get another try, and when (full-jitter back-off).
//! - [`charset`]: HTML bytes to text by the declared charset (encoding_rs).
//! - [`extract`]: link extraction with scraper.
//! - [`sitemap`]: sitemap and sitemap-index reading (`--sitemaps`).
//! - [`worker`]: a leased URL to an outcome.
//! - [`engine`]: the loop that schedules, leases and settles (the only database writer).
//! - [`crawl`]: sets a crawl up, and the async runtime seam.
//! - [`store`]: the sled database, its trees and records.
//! - [`progress`]: the live numbers a progress display shows.
//! - [`shutdown`]: the stop flag behind Ctrl-C/SIGTERM and the grace period.
//! - [`status`]: where a crawl stands.
//! - [`export`]: page dumps (JSON Lines).
//! - [`serve`]: the small static-site HTTP server used by tests and `demo`.
//! - [`demo`]: the bundled fixture crawl.
//! - [`error`]: the library's error type.
#![warn(missing_docs)]

pub mod canon;
pub mod charset;
pub mod config;
pub mod crawl;
pub mod demo;
pub mod engine;
pub mod error;
pub mod export;
pub mod extract;
pub mod failure;
pub mod fetch;
pub mod frontier;
mod http_status;
pub mod politeness;
pub mod progress;
pub mod report;
pub mod retry;
pub mod robots;
pub mod runtime;
pub mod scheduler;
pub mod seen;
pub mod sendgate;
pub mod serve;
pub mod shutdown;
pub mod sitemap;
pub mod status;
pub mod store;
pub mod worker;

pub use canon::ScopeKind;
pub use config::{CrawlConfig, Overrides};
pub use crawl::run;
pub use error::{Error, Result};
pub use failure::{ErrorKind, Failure};
pub use report::{RunCounters, StopReason, Summary};
pub use shutdown::StopSignal;
pub use store::{OpenMode, Store};
