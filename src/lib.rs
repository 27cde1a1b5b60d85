//! politecrawl: a polite, concurrent, resumable web crawler.
//!
//! ```text
//!            crawl · worker · demo                           status · export
//!  (crawl.rs sets a run up; main.rs only dispatches)        (read what the crawl stored)
//!                 │                                                  │
//!                 ▼                                                  │
//!  seeds ──► engine thread ──────── Job ────────►  workers (async tasks, --concurrency)
//!            writes the frontier and the records    send gate → fetch → extract → discover
//!            scheduler · politeness · retry  ◄── Outcome ──  page record + URLs found, or a
//!            robots.txt life cycle · leases               robots.txt verdict
//!                 │                                                  │
//!                 ├──► frontier (the Frontier trait): queue,         │
//!                 │    seen-set, leases, per-origin state; one of:   │
//!                 │    SledFrontier, a crawl of its own (--db):      │
//!                 │      sled trees queue_chunks, queue_log,         │
//!                 │      delayed, seen_inbox, origins, hosts,        │
//!                 │      robots; the seen-set's runs in seen/        │
//!                 │    ClusterFrontier, workers sharing a crawl      │
//!                 │    (--frontier): PostgreSQL tables crawls,       │
//!                 │      shards (leases, fencing epochs), workers,   │
//!                 │      origins, urls, pages (whose store has it)   │
//!                 │ outcomes: one transaction per batch              │ bodies: appended
//!                 ▼ (shared crawl: the store first, then PostgreSQL) ▼
//!  store (--db, each worker its own): page records in pages/, bodies in bodies/ (segment files);
//!        sled trees meta, host_pages, recent, recrawl_hosts, seed_origins, digests; synced every 200 ms
//! ```
//!
//! Settings (read once, then passed down):
//! - [`config`]: the crawl settings, declared once (field, flag, default, override).
//! - [`config_file`]: crawl flags as a TOML file (`--config`), and a crawl's settings back as one.
//! - [`canon`]: URL rules: seed parsing, normalization, scope.
//! - [`error`]: what stops a command; [`failure`]: why one URL failed (data, not an error).
//!
//! Engine side (one thread, the only writer of the frontier and the page records):
//! - `engine`: the loop that schedules, leases, dispatches jobs and settles outcomes.
//! - `scheduler`: which origin may start a request now.
//! - `politeness`: one origin's rate, in-flight cap, pauses and back-off.
//! - `retry`: which failures get another try, and when.
//! - [`skips`]: the skip report: the URLs not followed, sampled and counted by reason.
//! - [`traps`]: requests spent on nothing: the seen-set's dedupe key (session IDs, tracking
//!   parameters, parameter order) and the trap rules on paths.
//! - [`copies`]: pages that copy others, judged once fetched: duplicate content by body
//!   digest, soft 404s against a probe; their links are not followed.
//! - [`shapes`]: pattern budgets: a URL shape whose pages stop leading anywhere else is closed.
//! - [`frontier`]: the queue, seen-set and leases behind the [`frontier::Frontier`] seam the engine
//!   talks to; [`frontier::SledFrontier`] keeps them in the crawl's sled database (the
//!   seen-set as fingerprint runs and an inbox of new ones, a memo in front),
//!   [`frontier::postgres`] in PostgreSQL: shards of origins leased with fencing epochs, the
//!   shared seen-set and queue.
//! - [`cluster`]: a crawl shared by several workers over PostgreSQL: crawls by name,
//!   [`cluster::ClusterFrontier`] behind the same seam, what a worker does differently (set up
//!   by [`crawl`] like any crawl), the seeds-file origins ([`cluster::seeds`]) and credentials
//!   ([`cluster::secrets`]) every worker reads, the crawl's status and export, and each
//!   worker's live WARC ([`cluster::warc`]).
//! - [`recrawl`]: rechecks of stored pages (`--recrawl`): rounds, conditional requests, versions.
//!
//! Worker side (async tasks; of the store they write only bodies):
//! - `worker`: a leased URL to an outcome: fetch, robots.txt, discovery.
//! - `fetch`: the one shared HTTP client (surf over curl), timeouts, body caps and decoding.
//! - `sendgate`: the per-origin gap checked again at the moment a request is sent.
//! - `robots`: RFC 9309 rules, verdicts and Crawl-delay.
//! - [`extract`], [`charset`], `sitemap`: links out of HTML, bytes to text, sitemap entries.
//!
//! Persistence:
//! - [`store`]: the sled database (records, open checks, upgrade, flusher), the page log and
//!   the body segments. `crashpoint`: named points where tests make the process abort.
//!
//! Commands on top, and what they share:
//! - [`crawl`]: sets a run up (new or resumed) and runs it; [`report`]: what a run did.
//! - [`seeds_file`]: `--seeds-file`, seed URLs streamed from a file or stdin.
//! - [`status`]: where a crawl stands ([`status_snapshot`]: as a clean stop left it, read
//!   without opening the database); [`progress`]: the live numbers of a running one;
//!   [`explain`]: what happened to one URL, and which rule decided.
//! - [`export`]: JSON Lines and CSV (with fields computed from the bodies), WARC, WACZ, CDXJ
//!   and mirror dumps.
//! - [`allocator`]: mimalloc's settings, shared with the benchmarks.
//! - [`demo`]: the bundled fixture crawl; [`serve`]: the loopback test-site server.
//! - [`shutdown`]: the stop signal; `runtime`: the async-runtime seam, the parse threads and
//!   the clock; `http_status`: reason phrases for the WARC writer and the test server;
//!   `replace_file`: small files replaced whole (written beside, then renamed); `secrets`: which
//!   header values are credentials, and passwords masked in URLs shown.
//!
//! The binary (`src/main.rs`, with `cli.rs`, `shared_cmd.rs` and `terminal.rs`) parses the
//! command line and calls one of these per subcommand; docs/ARCHITECTURE.md maps every file.
#![warn(missing_docs)]

// Settings.
pub mod canon;
pub mod config;
pub mod config_file;
pub mod error;
pub mod failure;

// Engine side.
pub mod cluster;
pub mod copies;
mod engine;
pub mod frontier;
mod politeness;
pub mod recrawl;
mod retry;
mod scheduler;
pub mod shapes;
pub mod skips;
pub mod traps;

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
pub mod explain;
pub mod export;
mod http_status;
pub mod progress;
mod replace_file;
pub mod report;
mod runtime;
mod secrets;
pub mod seeds_file;
pub mod serve;
pub mod shutdown;
pub mod status;
pub mod status_snapshot;

pub use canon::ScopeKind;
pub use config::request::{Credentials, Headers, Login};
pub use config::{CrawlConfig, Overrides};
pub use error::{Error, Result};
pub use failure::{ErrorKind, Failure};
pub use report::{RunCounters, StopReason, Summary};
pub use runtime::Clock;
pub use shutdown::StopSignal;
pub use store::{OpenMode, Store};
