//! The frontier of a crawl shared over PostgreSQL: what PostgreSQL holds for the workers of
//! one crawl, beside `frontier/`'s own sled backend. (`cluster/` sets a shared crawl up and
//! runs its workers on it.)
//!
//! - [`connect`]: the `--frontier` URL and its errors; [`pgpass`]: its password from libpq's
//!   `PGPASSWORD` or password file;
//! - [`schema`]: the tables and their version;
//! - [`queue`]: the shared seen-set and queue, written in batches;
//! - [`shards`]: shard leases with fencing epochs, renewed, taken over and rebalanced.

pub mod connect;
pub mod pgpass;
pub mod queue;
pub mod schema;
pub mod shards;

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
