//! The frontier seam holds: the engine crawls to the end on a frontier that is not sled at all
//! (a plain in-memory one written here), so a second backend plugs in without touching the
//! engine or the workers.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use url::Url;

use super::tests::{describe, lease_of, no_response, page, run_with, setup, FakeWorker};
use crate::error::Result;
use crate::failure::ErrorKind;
use crate::frontier::{
    Candidate, Enqueued, Frontier, Lease, OriginId, OriginScan, QueueEntry, QueueKey, Settlement,
};
use crate::report::StopReason;
use crate::store::{Counters, HostRecord, PageRecord, RobotsRecord, UrlState};

/// A frontier in memory: one FIFO per origin, a seen-set, leases and parked retries.
#[derive(Default)]
struct MemFrontier {
    ids: HashMap<String, OriginId>,
    queues: BTreeMap<OriginId, VecDeque<(QueueKey, QueueEntry)>>,
    leased: HashSet<QueueKey>,
    parked: Vec<(u64, OriginId, QueueKey, QueueEntry)>,
    seen: HashSet<String>,
    pages: BTreeMap<String, PageRecord>,
    hosts: HashMap<OriginId, HostRecord>,
    robots: HashMap<String, RobotsRecord>,
    counters: Counters,
    seq: u64,
    digests: HashMap<[u8; 20], String>,
}

impl MemFrontier {
    fn queue(&mut self, c: &Candidate) -> Option<Enqueued> {
        if !self.seen.insert(c.url.to_string()) {
            return None;
        }
        let origin = c.url.origin().ascii_serialization();
        let next_id = self.ids.len() as OriginId;
        let id = *self.ids.entry(origin.clone()).or_insert(next_id);
        self.seq += 1;
        let mut key = [0u8; 20];
        key[..8].copy_from_slice(&self.seq.to_be_bytes());
        let entry = QueueEntry {
            url: c.url.to_string(),
            depth: c.depth,
            referrer: c.referrer.clone(),
            attempts: 0,
            sitemap: c.sitemap,
            redirect_chain: c.redirect_chain.clone(),
            revisit: None,
        };
        self.queues.entry(id).or_default().push_back((key, entry));
        self.counters.queued += 1;
        Some(Enqueued {
            origin_id: id,
            origin,
        })
    }

    fn take(&mut self, lease: &Lease) -> Option<QueueEntry> {
        self.leased.remove(&lease.key);
        let q = self.queues.get_mut(&lease.origin_id)?;
        let at = q.iter().position(|(k, _)| *k == lease.key)?;
        q.remove(at).map(|(_, e)| e)
    }
}

impl Frontier for MemFrontier {
    fn add_seeds(&mut self, seeds: &[Url]) -> Result<Vec<Enqueued>> {
        let seeds: Vec<Candidate> = seeds.iter().cloned().map(Candidate::seed).collect();
        self.add(&seeds)
    }

    fn add(&mut self, candidates: &[Candidate]) -> Result<Vec<Enqueued>> {
        Ok(candidates.iter().filter_map(|c| self.queue(c)).collect())
    }

    fn origins_with_work(&mut self, from: OriginId, max: usize) -> Result<OriginScan> {
        let names: HashMap<OriginId, String> =
            self.ids.iter().map(|(o, id)| (*id, o.clone())).collect();
        let found: Vec<(OriginId, String)> = self
            .queues
            .range(from..)
            .filter(|(_, q)| !q.is_empty())
            .take(max)
            .map(|(id, _)| (*id, names[id].clone()))
            .collect();
        let next = (found.len() == max).then(|| found[max - 1].0 + 1);
        Ok((found, next))
    }

    fn lease(&mut self, origin: OriginId, new_urls: bool) -> Result<Option<Lease>> {
        // This frontier holds no rechecks: without new URLs it has nothing to hand out.
        let Some(q) = self.queues.get(&origin).filter(|_| new_urls) else {
            return Ok(None);
        };
        let mut free = q.iter().filter(|(k, _)| !self.leased.contains(k));
        let Some((key, entry)) = free.next().cloned() else {
            return Ok(None);
        };
        let more = free.next().is_some();
        self.leased.insert(key);
        Ok(Some(Lease {
            key,
            origin_id: origin,
            entry,
            more,
        }))
    }

    fn lease_key(&mut self, origin: OriginId, key: &QueueKey) -> Result<Option<Lease>> {
        let Some(q) = self.queues.get(&origin) else {
            return Ok(None);
        };
        let found = q.iter().find(|(k, _)| k == key && !self.leased.contains(k));
        let Some((key, entry)) = found.cloned() else {
            return Ok(None);
        };
        self.leased.insert(key);
        Ok(Some(Lease {
            key,
            origin_id: origin,
            entry,
            more: false,
        }))
    }

    fn settle(&mut self, batch: &[Settlement<'_>]) -> Result<Vec<Vec<Enqueued>>> {
        let mut added = Vec::new();
        for s in batch {
            self.take(s.lease);
            self.counters.queued -= 1;
            match s.record.state {
                UrlState::Done => self.counters.done += 1,
                UrlState::Failed => self.counters.failed += 1,
                UrlState::Blocked => self.counters.blocked += 1,
            }
            self.pages.insert(s.record.url.clone(), s.record.clone());
            added.push(s.found.iter().filter_map(|c| self.queue(c)).collect());
        }
        Ok(added)
    }

    fn requeue(&mut self, lease: &Lease, host: &HostRecord) -> Result<()> {
        let mut entry = self.take(lease).expect("a leased URL is queued");
        entry.attempts += 1;
        let q = self.queues.entry(lease.origin_id).or_default();
        q.push_front((lease.key, entry));
        self.hosts.insert(lease.origin_id, host.clone());
        Ok(())
    }

    fn delay(&mut self, lease: &Lease, due_ms: u64, host: Option<&HostRecord>) -> Result<()> {
        let mut entry = self.take(lease).expect("a leased URL is queued");
        entry.attempts += 1;
        self.parked
            .push((due_ms, lease.origin_id, lease.key, entry));
        if let Some(h) = host {
            self.hosts.insert(lease.origin_id, h.clone());
        }
        Ok(())
    }

    fn next_due(&mut self) -> Result<Option<u64>> {
        Ok(self.parked.iter().map(|p| p.0).min())
    }

    fn release_due(&mut self, now_ms: u64) -> Result<Vec<(OriginId, String)>> {
        let (due, later) = std::mem::take(&mut self.parked)
            .into_iter()
            .partition(|p| p.0 <= now_ms);
        self.parked = later;
        let names: HashMap<OriginId, String> =
            self.ids.iter().map(|(o, id)| (*id, o.clone())).collect();
        let mut released = Vec::new();
        for (_, id, key, entry) in due {
            self.queues.entry(id).or_default().push_front((key, entry));
            released.push((id, names[&id].clone()));
        }
        Ok(released)
    }

    fn host(&mut self, origin: OriginId) -> Result<Option<HostRecord>> {
        Ok(self.hosts.get(&origin).cloned())
    }

    fn robots(&mut self, origin: &str) -> Result<Option<RobotsRecord>> {
        Ok(self.robots.get(origin).cloned())
    }

    fn put_robots(&mut self, origin: &str, record: &RobotsRecord) -> Result<()> {
        self.robots.insert(origin.to_string(), record.clone());
        Ok(())
    }

    fn counters(&mut self) -> Result<Counters> {
        Ok(self.counters)
    }

    fn stored_pages(&mut self, origin: &str, up_to: u64) -> Result<u64> {
        let prefix = format!("{origin}/");
        let n = self.pages.keys().filter(|u| u.starts_with(&prefix)).count() as u64;
        Ok(n.min(up_to))
    }

    fn abandon(&mut self, lease: &Lease) {
        self.leased.remove(&lease.key);
    }

    fn claim_digest(&mut self, digest: &[u8; 20], url: &str) -> Result<Option<String>> {
        let first = self
            .digests
            .entry(*digest)
            .or_insert_with(|| url.to_string());
        Ok(Some(first.clone()).filter(|f| f != url))
    }
}

#[test]
fn the_engine_crawls_to_the_end_on_a_frontier_that_is_not_sled() {
    // The store gives the flusher and the directory only; the frontier is in memory.
    let (_dir, store, config) = setup(&[]);
    let mut config = config;
    config.seeds = ["http://a.test/", "http://b.test/"]
        .map(|u| Url::parse(u).unwrap())
        .to_vec();
    let mut mem = MemFrontier::default();
    mem.add_seeds(&config.seeds).unwrap();
    let links: BTreeMap<&str, &[&str]> = BTreeMap::from([
        (
            "http://a.test/",
            &["http://a.test/1", "http://b.test/1"][..],
        ),
        (
            "http://a.test/1",
            &["http://a.test/", "http://a.test/2"][..],
        ),
        (
            "http://b.test/",
            &["http://b.test/1", "http://b.test/flaky"][..],
        ),
    ]);
    let (result, stats, fetched) = run_with(&config, &mut mem, &store, |w: FakeWorker| {
        let mut fetched = Vec::new();
        while let Some(job) = w.next() {
            fetched.push(describe(&job));
            let lease = lease_of(job);
            let url = lease.entry.url.clone();
            let outcome = if url.ends_with("/flaky") && lease.entry.attempts == 0 {
                no_response(lease, ErrorKind::Reset)
            } else {
                page(lease, 200, links.get(url.as_str()).copied().unwrap_or(&[]))
            };
            w.send(crate::worker::Outcome::Page(outcome));
        }
        fetched
    });
    assert_eq!(result.unwrap(), StopReason::Finished);
    fetched
        .iter()
        .for_each(|f| assert!(f.ends_with(" #1") || f == "http://b.test/flaky #2"));
    assert_eq!(fetched.len(), 7, "6 URLs, the flaky one twice: {fetched:?}");
    let urls: BTreeMap<&str, u32> = mem
        .pages
        .iter()
        .map(|(u, r)| (u.as_str(), r.attempts))
        .collect();
    assert_eq!(
        urls,
        BTreeMap::from([
            ("http://a.test/", 1),
            ("http://a.test/1", 1),
            ("http://a.test/2", 1),
            ("http://b.test/", 1),
            ("http://b.test/1", 1),
            ("http://b.test/flaky", 2),
        ])
    );
    assert_eq!((stats.stored, stats.done, stats.retried), (6, 6, 1));
    let c = mem.counters;
    assert_eq!(
        (c.queued, c.done, c.failed),
        (0, 6, 0),
        "counters follow the records"
    );
    assert!(
        mem.leased.is_empty() && mem.parked.is_empty(),
        "every lease ended"
    );
    // Nothing went to the sled store: it is only the crawl's local directory here.
    assert_eq!(store.counters().unwrap(), Counters::default());
}
