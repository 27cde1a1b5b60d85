//! The frontier seam: every call the engine makes on the queue, the seen-set, leases and the
//! per-origin state it saves, as one trait. The engine and the workers know only [`Frontier`];
//! [`SledFrontier`](super::SledFrontier) (the crawl's own sled database) is the default, and a
//! shared frontier for several workers plugs in here without touching either.
//!
//! A lease is the frontier's business: an implementation hands a URL out once until it is
//! settled, re-queued or parked, and a crash (the process gone) gives every lease back.

use url::Url;

use super::{Candidate, Enqueued, Lease, OriginId, OriginScan, QueueKey, Settlement};
use crate::error::Result;
use crate::store::{Counters, HostRecord, RobotsRecord};

/// What the engine asks of a frontier. Every call that changes state is atomic: after a crash
/// either all of it happened or none of it.
pub trait Frontier {
    /// Queues seed URLs (depth 0) not queued before; returns those newly queued.
    fn add_seeds(&mut self, seeds: &[Url]) -> Result<Vec<Enqueued>>;

    /// Queues found URLs (sitemap entries) not queued before; returns those newly queued.
    fn add(&mut self, candidates: &[Candidate]) -> Result<Vec<Enqueued>>;

    /// Up to `max` origins with queued work, from origin id `from` on, and where the scan goes
    /// on (`None`: all seen). A resume finds its work a chunk at a time this way.
    fn origins_with_work(&mut self, from: OriginId, max: usize) -> Result<OriginScan>;

    /// Hands out the origin's next queued URL not leased already, or `None`: its shallowest,
    /// oldest recheck (`--recrawl`) first, then, when `new_urls` (the page budgets allow
    /// them), its shallowest, oldest new URL.
    fn lease(&mut self, origin: OriginId, new_urls: bool) -> Result<Option<Lease>>;

    /// Hands out one given queued URL of the origin (a retry that its host's budget already
    /// counts), or `None` when it is not queued or is leased already.
    fn lease_key(&mut self, origin: OriginId, key: &QueueKey) -> Result<Option<Lease>>;

    /// Stores final outcomes (record, body position, the URLs each revealed, the origin's
    /// politeness state) and ends their leases; returns, per outcome, the URLs newly queued.
    fn settle(&mut self, batch: &[Settlement<'_>]) -> Result<Vec<Vec<Enqueued>>>;

    /// Puts a leased URL back at the head of its origin's queue (its host asked for a pause),
    /// one attempt more, with the origin's politeness state; ends the lease.
    fn requeue(&mut self, lease: &Lease, host: &HostRecord) -> Result<()>;

    /// Parks a leased URL until `due_ms` (Unix ms) for another try; ends the lease.
    fn delay(&mut self, lease: &Lease, due_ms: u64, host: Option<&HostRecord>) -> Result<()>;

    /// When the earliest parked URL is due (Unix ms), if any is parked.
    fn next_due(&mut self) -> Result<Option<u64>>;

    /// Queues again every parked URL due by `now_ms`; returns their origins.
    fn release_due(&mut self, now_ms: u64) -> Result<Vec<(OriginId, String)>>;

    /// The saved politeness state of an origin.
    fn host(&mut self, origin: OriginId) -> Result<Option<HostRecord>>;

    /// The saved robots.txt verdict of an origin.
    fn robots(&mut self, origin: &str) -> Result<Option<RobotsRecord>>;

    /// Saves an origin's robots.txt verdict.
    fn put_robots(&mut self, origin: &str, record: &RobotsRecord) -> Result<()>;

    /// The crawl's totals (leased URLs count as queued).
    fn counters(&mut self) -> Result<Counters>;

    /// How many outcomes of requests (done or failed, not blocked) the origin has stored,
    /// counting no further than `up_to` (for `--max-pages-per-host`).
    fn stored_pages(&mut self, origin: &str, up_to: u64) -> Result<u64>;

    /// Ends a lease without any change: its request was never sent (see
    /// [`Frontier::send_permits`]), so the URL stays queued as it was.
    fn abandon(&mut self, lease: &Lease);

    /// The page first stored with this body digest, when it is not `url` (which then becomes
    /// that page): duplicate content (see [`crate::traps`]). Kept in the store this process
    /// writes, so a shared crawl's workers each know the digests of their own pages.
    fn claim_digest(&mut self, digest: &[u8; 20], url: &str) -> Result<Option<String>>;

    /// What changed that the engine cannot see coming, checked every turn of its loop. A
    /// frontier that is the whole crawl (the default) has nothing to say; a shared one reports
    /// origins it may no longer hand out (their shard moved to another worker) and asks for a
    /// new scan when it gained shards or other workers may have queued URLs for its origins.
    fn refresh(&mut self) -> Result<Refresh> {
        Ok(Refresh::default())
    }

    /// Whether the crawl has nothing left anywhere, asked once this process has nothing queued,
    /// parked or in flight. The default (the frontier is the whole crawl) is yes; a shared
    /// frontier says no while other workers still hold work that may yet reach this one.
    fn crawl_done(&mut self) -> Result<bool> {
        Ok(true)
    }

    /// Pages stored in the whole crawl, when processes other than this one store pages too
    /// (a shared frontier's other workers), for `--max-pages`; `None` (the default): this
    /// process alone stores pages, and counts them itself.
    fn stored_total(&mut self) -> Result<Option<u64>> {
        Ok(None)
    }

    /// Which origins' requests a worker may still send, checked again at the moment of
    /// sending; `None` (the default): every origin, always.
    fn send_permits(&self) -> Option<std::sync::Arc<SendPermits>> {
        None
    }

    /// Hands the frontier the logins requests are sent with, for one that learns of new ones
    /// while the crawl runs (a shared crawl's); the default ignores them.
    fn watch_logins(&mut self, _logins: crate::config::request::Logins) {}

    /// Which records of the store this process writes the crawl counts, for the live WARC
    /// (`--warc`), which follows the store's page log while the crawl runs; `None` (the
    /// default): every durable record is the crawl's. A shared frontier stores a record before
    /// PostgreSQL counts it, and a refused or cut commit leaves one the crawl does not count.
    fn counted_records(&self) -> Option<Box<dyn CountedRecords>> {
        None
    }
}

/// Tells a reader of the page log which records the crawl counts (see
/// [`Frontier::counted_records`]); it runs on the reader's own thread.
pub trait CountedRecords: Send {
    /// For each record, in page-log order, given as its stamp (`stored_at_us`) and URL:
    /// `Some(true)` the crawl counts it, `Some(false)` it never will, `None` not known yet (its
    /// commit is still under way, or the answer could not be had): the reader stops there and
    /// asks again later.
    fn counted(&mut self, records: &[(u64, &str)]) -> Vec<Option<bool>>;
}

/// What [`Frontier::refresh`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Refresh {
    /// Origins this process may no longer hand out: the engine forgets them.
    pub lost: Vec<OriginId>,
    /// Scan for origins with work again from the start (and re-read the parked retries).
    pub rescan: bool,
    /// When to call again at the latest (`None`: only on the next turn).
    pub next: Option<std::time::Instant>,
}

/// Which origins this process may send requests to, shared with the workers: a shared frontier
/// sets a deadline per shard (a lease this worker holds, conservatively on the local monotonic
/// clock) and the shard of each origin it hands out. Asked at the send gate, so a worker
/// paused past its lease sends nothing for a shard it may have lost, even before it hears so.
#[derive(Debug)]
pub struct SendPermits {
    base: std::time::Instant,
    /// Per shard: until when (ms after `base`) sends are allowed; 0: not at all.
    until_ms: Vec<std::sync::atomic::AtomicU64>,
    shard_of: std::sync::Mutex<std::collections::HashMap<OriginId, u32>>,
}

impl SendPermits {
    /// Permits for `shards` shards, none granted yet.
    pub fn new(shards: usize) -> SendPermits {
        SendPermits {
            base: std::time::Instant::now(),
            until_ms: (0..shards).map(|_| Default::default()).collect(),
            shard_of: Default::default(),
        }
    }

    /// Sends for `shard` are allowed until `until` (`None`: no longer).
    pub fn set(&self, shard: u32, until: Option<std::time::Instant>) {
        let ms = until.map_or(0, |t| {
            t.saturating_duration_since(self.base).as_millis() as u64
        });
        if let Some(slot) = self.until_ms.get(shard as usize) {
            slot.store(ms, std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// Records the shard of an origin about to be handed out.
    pub fn learn(&self, origin: OriginId, shard: u32) {
        let mut map = self.shard_of.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(origin, shard);
    }

    /// Whether a request to `origin` may be sent now: its shard's deadline is ahead. An origin
    /// never handed out through these permits has none.
    pub fn allows(&self, origin: OriginId) -> bool {
        let shard = {
            let map = self.shard_of.lock().unwrap_or_else(|e| e.into_inner());
            map.get(&origin).copied()
        };
        let Some(until) = shard.and_then(|s| self.until_ms.get(s as usize)) else {
            return false;
        };
        let now = self.base.elapsed().as_millis() as u64;
        now < until.load(std::sync::atomic::Ordering::SeqCst)
    }
}
