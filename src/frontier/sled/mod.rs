//! The sled backend of the frontier: the queue in the crawl's own sled database (its chunks,
//! overlay and log) and [`SledFrontier`], the default [`Frontier`]. (The seen-set's runs are
//! still `seen/`, and the queue's transactions `frontier/mod.rs`'s.)

pub mod chunk;
pub mod queue;
pub(crate) mod seen;

use url::Url;

use super::Frontier;
use super::{
    add_candidates, add_seeds, delay, lease_key, lease_next, next_due, origins_with_work,
    recover_bodies, release_due, requeue, settle_batch, stored_pages, Candidate, Enqueued, Lease,
    Leases, OriginId, OriginScan, QueueKey, Settlement,
};
use crate::error::Result;
use crate::frontier::memo::SeenMemo;
use crate::store::{Counters, HostRecord, RobotsRecord, Store};

/// The frontier in the crawl's own sled database (see [`crate::store`] for its trees): leases
/// live in this process's memory, the seen-set has a bounded memo in front of it.
pub struct SledFrontier<'a> {
    store: &'a Store,
    leases: Leases,
    memo: SeenMemo,
}

impl<'a> SledFrontier<'a> {
    /// The frontier of `store`, after start-up recovery: URLs whose bodies did not reach the
    /// disk before the last stop go back to the queue (see [`recover_bodies`]).
    pub fn open(store: &'a Store) -> Result<Self> {
        let lost = recover_bodies(store)?;
        if lost > 0 {
            log::info!("{lost} URLs whose bodies were lost in the last stop are queued again");
        }
        Ok(SledFrontier {
            store,
            leases: Leases::default(),
            memo: SeenMemo::default(),
        })
    }
}

impl Frontier for SledFrontier<'_> {
    fn add_seeds(&mut self, seeds: &[Url]) -> Result<Vec<Enqueued>> {
        add_seeds(self.store, seeds)
    }

    fn add(&mut self, candidates: &[Candidate]) -> Result<Vec<Enqueued>> {
        add_candidates(self.store, candidates)
    }

    fn origins_with_work(&mut self, from: OriginId, max: usize) -> Result<OriginScan> {
        origins_with_work(self.store, from, max)
    }

    fn lease(&mut self, origin: OriginId, new_urls: bool) -> Result<Option<Lease>> {
        lease_next(self.store, origin, &mut self.leases, new_urls)
    }

    fn lease_key(&mut self, origin: OriginId, key: &QueueKey) -> Result<Option<Lease>> {
        lease_key(self.store, origin, key, &mut self.leases)
    }

    fn settle(&mut self, batch: &[Settlement<'_>]) -> Result<Vec<Vec<Enqueued>>> {
        let added = settle_batch(self.store, batch, &mut self.memo, &self.leases)?;
        for s in batch {
            self.leases.release(&s.lease.key);
        }
        Ok(added)
    }

    fn requeue(&mut self, lease: &Lease, host: &HostRecord) -> Result<()> {
        requeue(self.store, lease, host)?;
        self.leases.release(&lease.key);
        Ok(())
    }

    fn delay(&mut self, lease: &Lease, due_ms: u64, host: Option<&HostRecord>) -> Result<()> {
        delay(self.store, lease, due_ms, host)?;
        self.leases.release(&lease.key);
        Ok(())
    }

    fn next_due(&mut self) -> Result<Option<u64>> {
        next_due(self.store)
    }

    fn release_due(&mut self, now_ms: u64) -> Result<Vec<(OriginId, String)>> {
        release_due(self.store, now_ms)
    }

    fn host(&mut self, origin: OriginId) -> Result<Option<HostRecord>> {
        self.store.host(origin)
    }

    fn robots(&mut self, origin: &str) -> Result<Option<RobotsRecord>> {
        self.store.robots(origin)
    }

    fn put_robots(&mut self, origin: &str, record: &RobotsRecord) -> Result<()> {
        self.store.put_robots(origin, record)
    }

    fn counters(&mut self) -> Result<Counters> {
        self.store.counters()
    }

    fn stored_pages(&mut self, origin: &str, up_to: u64) -> Result<u64> {
        stored_pages(self.store, origin, up_to)
    }

    fn abandon(&mut self, lease: &Lease) {
        self.leases.release(&lease.key);
    }

    fn claim_digest(&mut self, digest: &[u8; 20], url: &str) -> Result<Option<String>> {
        self.store.claim_digest(digest, url)
    }
}
