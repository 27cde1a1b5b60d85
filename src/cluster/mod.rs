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
//! - [`connect`]: the `--frontier` URL and its errors; [`pgpass`]: its password from libpq's
//!   `PGPASSWORD` or password file;
//! - [`schema`]: the tables and their version;
//! - [`crawls`]: crawls by name, with their settings and shard count;
//! - [`queue`]: the shared seen-set and queue, written in batches;
//! - [`shards`]: shard leases with fencing epochs, renewed, taken over and rebalanced;
//! - [`frontier`]: one worker's [`crate::frontier::Frontier`] over all of these;
//! - [`worker`]: a worker process: joining (or creating) a crawl and working on it;
//! - [`status`], [`export`]: the crawl as a whole, from PostgreSQL and the workers' stores.

pub mod connect;
pub mod crawls;
pub mod export;
pub mod frontier;
pub mod pgpass;
pub mod queue;
pub mod schema;
pub mod shards;
pub mod status;
pub mod worker;

pub use connect::FrontierUrl;
pub use crawls::{ClusterCrawl, DEFAULT_SHARDS};
pub use frontier::ClusterFrontier;

/// The shard an origin belongs to: a stable hash (xxh3, the same on every machine and release)
/// modulo the crawl's shard count.
pub fn shard_of(origin: &str, shards: i32) -> i32 {
    let n = shards.max(1) as u64;
    (xxhash_rust::xxh3::xxh3_64(origin.as_bytes()) % n) as i32
}

#[cfg(test)]
mod tests {
    #[test]
    fn origins_spread_over_every_shard_and_keep_theirs() {
        let mut seen = [0usize; 8];
        for i in 0..800 {
            seen[super::shard_of(&format!("http://host{i}.test"), 8) as usize] += 1;
        }
        assert!(seen.iter().all(|&n| (60..=140).contains(&n)), "{seen:?}");
        // The hash is fixed: a crawl created by one release is sharded the same by the next.
        let fixed: Vec<i32> = [
            "http://a.test",
            "https://b.test:8443",
            "http://127.0.0.2:80",
        ]
        .iter()
        .map(|o| super::shard_of(o, 64))
        .collect();
        assert_eq!(fixed, [26, 45, 3]);
    }
}
