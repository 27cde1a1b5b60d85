//! A crawl shared by several worker processes over PostgreSQL (`--frontier postgres://…`).
//!
//! Every crawler that stays polite at scale gives each host to exactly one fetcher at a time
//! (Nutch's host-partitioned fetch lists, StormCrawler's grouping by host, Heritrix's
//! HashCrawlMapper). Here an origin hashes to one of the crawl's shards, fixed when the crawl is
//! created; a worker leases whole shards, with an expiry and a fencing epoch, so the politeness
//! of an origin is one worker's business at any moment. The seen-set and queue live in
//! PostgreSQL (an existing, trusted engine rather than a protocol of our own); page records and
//! bodies stay in each worker's own store, and PostgreSQL says which store holds each page.
//!
//! The PostgreSQL side of the frontier (the `--frontier` URL, the tables, the shards and the
//! shared queue) is [`crate::frontier::postgres`]; here:
//! - [`crawls`]: crawls by name, with their settings and shard count;
//! - [`frontier`]: one worker's [`crate::frontier::Frontier`] over all of these;
//! - [`worker`]: what a worker process does that a crawl of its own does not: joining (or
//!   creating) a crawl, its identity; the rest of its setup is [`crate::crawl`]'s;
//! - [`seeds`]: the seeds-file origins every worker's scope is built from;
//! - [`secrets`]: the crawl's logins and credential header values, apart from its settings;
//! - [`retry`]: `--retry-failed`: the crawl's failed URLs queued again, as a round of the crawl;
//! - [`status`], [`export`]: the crawl as a whole, from PostgreSQL and the workers' stores;
//! - [`warc`]: `--warc`, each worker's live WARC files holding only the records the crawl counts.

pub mod crawls;
pub mod export;
pub mod frontier;
pub mod retry;
pub mod secrets;
pub mod seeds;
pub mod status;
pub mod warc;
pub mod worker;

pub use crate::frontier::postgres::connect::FrontierUrl;
pub use crawls::{ClusterCrawl, DEFAULT_SHARDS};
pub use frontier::ClusterFrontier;
