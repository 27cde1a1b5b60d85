//! [`ClusterFrontier`]: the [`Frontier`] of one worker in a crawl shared over PostgreSQL.
//!
//! - **Queue and seen-set** are PostgreSQL's (`urls`): URLs found here are queued there in one
//!   batched statement per commit, whichever shard they belong to; this worker leases only
//!   from the shards it holds, a few URLs of an origin read ahead at a time.
//! - **Records and bodies** stay in this worker's own store. A commit writes them there first
//!   (page log, then a local transaction without any queue change, then a sync of both and of
//!   the bodies), then one fenced PostgreSQL
//!   transaction marks the URLs settled, records which store holds each page (by record
//!   stamp), queues the links found and saves the origins' politeness state. A crash between
//!   the two leaves a local record nothing points at (the URL is fetched again, within the
//!   in-flight bound); a fence that refuses (the shard moved) does the same.
//! - **Shards** are renewed every third of their lease; lost ones are reported to the engine
//!   ([`Frontier::refresh`]) and closed to the send gate at once ([`SendPermits`]).
//! - **PostgreSQL unreachable**: every statement is sent again once a new connection is made
//!   (each is idempotent), for up to [`RECONNECT_FOR`]; meanwhile the leases' local deadlines
//!   run out and the send gate stops every request.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use url::Url;

use super::crawls::ClusterCrawl;
use super::warc::{Counted, Pending};
use crate::error::{Error, Result};
use crate::frontier::entry::key_of;
use crate::frontier::entry::seq_of_key;
use crate::frontier::memo::SeenMemo;
use crate::frontier::postgres::connect::FrontierUrl;
use crate::frontier::postgres::queue::{outcome, Queued, Settled, SharedQueue};
use crate::frontier::postgres::shards::ShardLeases;
use crate::frontier::{
    Candidate, CountedRecords, Enqueued, Frontier, Lease, OriginId, OriginScan, QueueEntry,
    QueueKey, Refresh, SendPermits, Settlement,
};
use crate::shutdown::StopSignal;
use crate::store::{decode, encode, Counters, HostRecord, RobotsRecord, Store, UrlState};

/// URLs of one origin read ahead per lease query.
const READ_AHEAD: i64 = 16;

/// How often a worker looks for URLs other workers queued in its shards.
const RESCAN_EVERY: Duration = Duration::from_secs(2);

/// How long the totals (progress lines, `--max-pages`) are reused: a read of the kept
/// `totals` rows, one round trip, which a commit need not pay each time.
const TOTALS_EVERY: Duration = Duration::from_secs(2);

/// How long the "anything left anywhere" answer is reused by an idle worker.
const DONE_EVERY: Duration = Duration::from_millis(500);

/// How often shards are ticked while they change hands (see `Changes::settling`), so a handoff
/// takes a fraction of a second, not a third of the lease.
const SETTLING_TICK: Duration = Duration::from_millis(250);

/// How many times in a row a statement that lost a deadlock (to another worker's) runs again.
const MAX_CONFLICTS: u32 = 20;

/// How long a worker keeps trying to reach PostgreSQL again before it stops with the error.
pub const RECONNECT_FOR: Duration = Duration::from_secs(300);

/// One worker's view of the shared frontier.
pub struct ClusterFrontier<'a> {
    store: &'a Store,
    pg: Pg,
    queue: SharedQueue,
    shards: ShardLeases,
    permits: Arc<SendPermits>,
    /// Origins this worker has seen: name and shard.
    origins: HashMap<OriginId, (String, i32)>,
    /// Per origin: the sequence numbers leased, and URLs read ahead.
    leased: HashMap<OriginId, HashSet<i64>>,
    ahead: HashMap<OriginId, VecDeque<Queued>>,
    next_tick: Instant,
    next_scan: Instant,
    totals: Option<(Instant, Counters)>,
    done: Option<(Instant, bool)>,
    /// URLs known to be in `urls` (committed by this worker): links found again are not sent.
    memo: SeenMemo,
    /// Pages this worker committed since `totals` were read.
    stored_since_totals: u64,
    /// Outcomes whose commit the fence refused (their shard had moved on).
    pub refused: u64,
    /// Stamps of records stored here whose commit is not decided yet (for `--warc`).
    pending: Arc<Pending>,
    /// The scope's late seed origins, and the last `seed_origins` row put there (see
    /// [`ClusterFrontier::watch_seed_origins`]).
    late: Option<(crate::canon::LateOrigins, i64)>,
    /// Command-line seeds' origins read before the fetcher's logins were in hand (see
    /// [`Frontier::watch_logins`]).
    seed_origins_read: Vec<String>,
    /// The fetcher's logins, and the crawl's credentials as last read (see
    /// [`Frontier::watch_logins`]).
    logins: Option<(
        crate::config::request::Logins,
        crate::config::request::Credentials,
    )>,
    crawl_id: i64,
}

impl<'a> ClusterFrontier<'a> {
    /// Joins `crawl` as worker `worker`, keeping records and bodies in `store`; holds no shard
    /// until its first [`Frontier::refresh`].
    pub fn join(
        store: &'a Store,
        url: FrontierUrl,
        crawl: &ClusterCrawl,
        worker: &str,
        (ttl, hold): (Duration, Duration),
        stop: StopSignal,
    ) -> Result<Self> {
        let mut pg = Pg::connect(url, stop, ttl / 2)?;
        let path = store.path();
        let shown = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        let shown = shown.display().to_string();
        let mut shards = ShardLeases::join(
            &mut pg.client,
            &pg.url,
            (crawl.id, crawl.shards),
            worker,
            &shown,
            ttl,
        )?;
        shards.set_hold(hold);
        Ok(ClusterFrontier {
            store,
            pg,
            queue: SharedQueue::new(crawl.id, crawl.shards).with_writer(worker),
            shards,
            permits: Arc::new(SendPermits::new(crawl.shards as usize)),
            origins: HashMap::new(),
            leased: HashMap::new(),
            ahead: HashMap::new(),
            next_tick: Instant::now(),
            next_scan: Instant::now() + RESCAN_EVERY,
            totals: None,
            done: None,
            memo: SeenMemo::default(),
            stored_since_totals: 0,
            refused: 0,
            pending: Arc::default(),
            late: None,
            seed_origins_read: Vec::new(),
            logins: None,
            crawl_id: crawl.id,
        })
    }

    /// Calls `add` with each of the crawl's seed origins (`seed_origins`) after row `after`;
    /// returns the last row's id.
    pub fn seed_origins(
        &mut self,
        after: i64,
        add: &mut dyn FnMut(&str, &[String]),
    ) -> Result<i64> {
        let crawl = self.crawl_id;
        let (found, last) = self
            .pg
            .run(|c, url| super::seeds::since(c, url, crawl, after))?;
        for ((origin, dir), seed) in &found {
            add(origin, &super::seeds::dirs_of(dir));
            if *seed {
                // The credential headers go to a command-line seed's origin.
                match &self.logins {
                    Some((logins, _)) => logins.add_seed_origin(origin),
                    None => self.seed_origins_read.push(origin.clone()),
                }
            }
        }
        Ok(last)
    }

    /// From now on, each scan for work (every few seconds, and before any URL queued since can
    /// be leased here) first puts the seed origins added after row `after` into `late`: a seeds
    /// file given to another `crawl --frontier` while this worker runs is in its scope.
    pub fn watch_seed_origins(&mut self, late: crate::canon::LateOrigins, after: i64) {
        self.late = Some((late, after));
    }

    /// Logins another `crawl --frontier` added to the crawl since they were last read: into
    /// the fetcher, and into this worker's private copy in its store.
    fn learn_logins(&mut self) -> Result<()> {
        let Some((logins, mut known)) = self.logins.take() else {
            return Ok(());
        };
        let crawl = self.crawl_id;
        let found = self.pg.run(|c, url| super::secrets::load(c, url, crawl));
        let result = match found {
            Ok(now) if now != known => {
                logins.replace(&now);
                log::info!("the crawl's logins changed: taken into this worker");
                let saved = now.save(self.store.path());
                known = now;
                saved
            }
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        };
        self.logins = Some((logins, known));
        result
    }

    /// See [`ClusterFrontier::watch_seed_origins`].
    fn learn_seed_origins(&mut self) -> Result<()> {
        let Some((late, after)) = self.late.take() else {
            return Ok(());
        };
        let result = self.seed_origins(after, &mut |origin, dirs| late.add(origin, dirs));
        let after = *result.as_ref().unwrap_or(&after);
        self.late = Some((late, after));
        result.map(|_| ())
    }

    /// The crawl's totals read now (for a summary), not the copy progress lines reuse.
    pub fn totals_now(&mut self) -> Result<Counters> {
        self.totals = None;
        self.counters()
    }

    /// Gives every shard back (a clean stop): the other workers take them at once.
    pub fn leave(mut self) -> Result<()> {
        self.shards.leave(&mut self.pg.client, &self.pg.url)
    }

    fn origin_shard(&self, id: OriginId) -> Option<i32> {
        self.origins.get(&id).map(|(_, s)| *s)
    }

    /// Whether this worker may hand out URLs of `shard` now.
    fn may_lease(&self, shard: i32) -> bool {
        self.shards.may_send(shard) && !self.shards.draining().contains(&shard)
    }

    fn learn(&mut self, id: OriginId, origin: &str) -> i32 {
        let shard = self.queue.shard_of(origin);
        if self
            .origins
            .insert(id, (origin.to_string(), shard))
            .is_none()
        {
            self.permits.learn(id, shard as u32);
        }
        shard
    }

    /// The entries whose URLs are not known to be queued in the crawl already.
    fn unknown(&self, entries: Vec<QueueEntry>) -> Vec<QueueEntry> {
        entries
            .into_iter()
            .filter(|e| !self.memo.covers(key_of(&e.url), u32::MAX))
            .collect()
    }

    /// Remembers entries now committed to `urls` (no move-up here: depth 0 covers any find).
    fn committed(&mut self, entries: &[QueueEntry]) {
        for e in entries {
            self.memo.insert(key_of(&e.url), 0);
        }
    }

    /// Queues `entries`; returns those newly queued in shards this worker may lease from.
    fn queue_entries(&mut self, entries: &[QueueEntry]) -> Result<Vec<Enqueued>> {
        let queue = &mut self.queue;
        let added = self.pg.run(|c, url| {
            let mut tx = c.transaction().map_err(|e| {
                url.error(
                    "queueing URLs",
                    &e,
                    crate::frontier::postgres::connect::STATEMENT_HINT,
                )
            })?;
            let added = queue.add(&mut tx, url, entries)?;
            tx.commit().map_err(|e| {
                url.error(
                    "queueing URLs",
                    &e,
                    crate::frontier::postgres::connect::STATEMENT_HINT,
                )
            })?;
            Ok(added)
        })?;
        self.committed(entries);
        Ok(self.ours(added))
    }

    /// The newly queued URLs this worker may lease, as the engine wants them; the read-ahead
    /// of their origins is dropped (a shallower URL may now come first).
    fn ours(&mut self, added: Vec<(i64, String)>) -> Vec<Enqueued> {
        let mut out = Vec::new();
        for (id, origin) in added {
            let id = id as OriginId;
            let shard = self.learn(id, &origin);
            self.ahead.remove(&id);
            if self.may_lease(shard) {
                out.push(Enqueued {
                    origin_id: id,
                    origin,
                });
            }
        }
        out
    }

    /// Renews, takes and gives back shards; returns the origins lost.
    fn tick(&mut self) -> Result<(Vec<OriginId>, bool)> {
        let busy: BTreeSet<i32> = self
            .leased
            .iter()
            .filter(|(_, seqs)| !seqs.is_empty())
            .filter_map(|(id, _)| self.origin_shard(*id))
            .collect();
        self.shards.set_busy(busy);
        let shards = &mut self.shards;
        let changes = self.pg.run(|c, url| shards.tick(c, url))?;
        let pace = match changes.settling {
            true => SETTLING_TICK.min(self.shards.ttl() / 3),
            false => self.shards.ttl() / 3,
        };
        self.next_tick = Instant::now() + pace;
        if !changes.gained.is_empty() || !changes.lost.is_empty() {
            log::info!(
                "worker {}: shards gained {:?}, lost {:?}; holding {}",
                self.shards.worker(),
                changes.gained,
                changes.lost,
                self.shards.held().len()
            );
        }
        for s in 0..self.queue.shards() {
            let until = Some(s)
                .filter(|s| self.may_lease(*s))
                .and_then(|s| self.shards.held().get(&s))
                .map(|h| h.until);
            self.permits.set(s as u32, until);
        }
        let gone: HashSet<i32> = changes
            .lost
            .iter()
            .chain(&changes.draining)
            .copied()
            .collect();
        let lost: Vec<OriginId> = self
            .origins
            .iter()
            .filter(|(_, (_, s))| gone.contains(s))
            .map(|(id, _)| *id)
            .collect();
        for id in &lost {
            self.ahead.remove(id);
        }
        Ok((lost, !changes.gained.is_empty()))
    }

    /// Hands out the first read-ahead URL of the origin not leased, reading more when none is.
    fn next_of(&mut self, id: OriginId) -> Result<Option<Lease>> {
        if !self.fill(id)? {
            return Ok(None);
        }
        let Some((key, entry)) = self.ahead.get_mut(&id).and_then(VecDeque::pop_front) else {
            return Ok(None);
        };
        self.leased
            .entry(id)
            .or_default()
            .insert(seq_of_key(&key) as i64);
        // The scheduler keeps the origin in rotation only while it hears there is more: read
        // ahead again now when this was the last one read.
        let more = self.fill(id)?;
        Ok(Some(Lease {
            key,
            origin_id: id,
            entry,
            more,
        }))
    }

    /// Whether the origin has a queued URL not leased, reading the next ones ahead when none
    /// is left of those read before.
    fn fill(&mut self, id: OriginId) -> Result<bool> {
        let leased = self.leased.entry(id).or_default();
        let ahead = self.ahead.entry(id).or_default();
        ahead.retain(|(k, _)| !leased.contains(&(seq_of_key(k) as i64)));
        if ahead.is_empty() {
            let skip: Vec<i64> = leased.iter().copied().collect();
            let queue = &self.queue;
            let rows = self
                .pg
                .run(|c, url| queue.first(c, url, id as i64, &skip, READ_AHEAD))?;
            self.ahead.insert(id, rows.into());
        }
        Ok(self.ahead.get(&id).is_some_and(|a| !a.is_empty()))
    }

    fn release(&mut self, lease: &Lease) {
        if let Some(seqs) = self.leased.get_mut(&lease.origin_id) {
            seqs.remove(&(seq_of_key(&lease.key) as i64));
        }
    }

    /// Puts a leased URL back (queued now, or parked until `due_ms`) with one more attempt,
    /// saving the origin's politeness state, in one fenced transaction. A fence that refuses
    /// changes nothing: the shard's new holder has the URL queued as it was.
    fn put_back(
        &mut self,
        lease: &Lease,
        due_ms: Option<u64>,
        host: Option<&HostRecord>,
    ) -> Result<()> {
        self.release(lease);
        self.ahead.remove(&lease.origin_id);
        let Some(shard) = self.origin_shard(lease.origin_id) else {
            return Ok(());
        };
        let mut entry = lease.entry.clone();
        entry.attempts += 1;
        let host: Vec<(i64, Vec<u8>)> = host
            .map(|h| (lease.origin_id as i64, encode(h)))
            .into_iter()
            .collect();
        let (queue, shards) = (&self.queue, &self.shards);
        let done = self.pg.run(|c, url| {
            let err = |e: postgres::Error| {
                url.error(
                    "putting a URL back",
                    &e,
                    crate::frontier::postgres::connect::STATEMENT_HINT,
                )
            };
            let mut tx = c.transaction().map_err(err)?;
            shards.fence(&mut tx, url, &[shard])?;
            queue.put_back(&mut tx, url, &entry, due_ms.map(|d| d as i64))?;
            queue.put_politeness(&mut tx, url, &host)?;
            tx.commit().map_err(err)
        });
        match done {
            Err(Error::StaleShard { .. }) => {
                log::info!("{}: not put back here, its shard moved", entry.url);
                Ok(())
            }
            other => other,
        }
    }

    /// Stores the batch's records in this worker's store; returns each one's stamp.
    fn store_locally(&self, batch: &[Settlement<'_>]) -> Result<Vec<u64>> {
        let records: Vec<_> = batch
            .iter()
            .map(|s| {
                let mut r = s.record.clone();
                r.stored_at_us = Some(self.store.page_log.next_stamp());
                r
            })
            .collect();
        // Before the page log has them: the live WARC must wait for their commit.
        let stamps: Vec<u64> = records.iter().filter_map(|r| r.stored_at_us).collect();
        self.pending.add(&stamps);
        let local: Vec<Settlement<'_>> = batch
            .iter()
            .zip(&records)
            .map(|(s, record)| Settlement {
                record,
                found: &[],
                host: None,
                ..*s
            })
            .collect();
        let mut memo = SeenMemo::with_generation(1);
        let leases = crate::frontier::Leases::default();
        crate::frontier::settle_batch(self.store, &local, &mut memo, &leases)?;
        Ok(records
            .iter()
            .map(|r| r.stored_at_us.unwrap_or(0))
            .collect())
    }

    /// One fenced PostgreSQL transaction for outcomes already in the local store (with their
    /// records' stamps).
    fn commit(&mut self, batch: &[(Settlement<'_>, u64)]) -> Result<Vec<(i64, String)>> {
        let worker = self.shards.worker().to_string();
        let mut shards: Vec<i32> = Vec::new();
        let mut rows = Vec::with_capacity(batch.len());
        let mut found = Vec::new();
        let mut hosts = Vec::new();
        for (s, stamp) in batch {
            let shard = self.origin_shard(s.lease.origin_id).unwrap_or(-1);
            if !shards.contains(&shard) {
                shards.push(shard);
            }
            rows.push(Settled {
                url: s.lease.entry.url.as_str(),
                origin: s.lease.origin_id as i64,
                worker: &worker,
                stamp: *stamp as i64,
                class: match s.record.state {
                    UrlState::Done => outcome::DONE,
                    UrlState::Blocked => outcome::BLOCKED,
                    _ => outcome::FAILED,
                },
                bytes: s.record.body_len as i64,
                kind: s.record.error.as_ref().map(|f| f.kind.as_str()),
            });
            found.extend(
                s.found
                    .iter()
                    .filter(|c| !self.memo.covers(key_of(c.url.as_str()), u32::MAX))
                    .map(Candidate::entry),
            );
            if let Some(h) = s.host {
                hosts.push((s.lease.origin_id as i64, encode(h)));
            }
        }
        let (queue, fence) = (&mut self.queue, &self.shards);
        let added = self.pg.run(|c, url| {
            let err = |e: postgres::Error| {
                url.error(
                    "storing outcomes",
                    &e,
                    crate::frontier::postgres::connect::STATEMENT_HINT,
                )
            };
            let mut tx = c.transaction().map_err(err)?;
            fence.fence(&mut tx, url, &shards)?;
            queue.settle(&mut tx, url, &rows)?;
            let added = queue.add(&mut tx, url, &found)?;
            queue.put_politeness(&mut tx, url, &hosts)?;
            tx.commit().map_err(err)?;
            Ok(added)
        })?;
        self.committed(&found);
        Ok(added)
    }

    /// Whether this worker holds the shard of `origin` (draining or not).
    fn holds(&self, origin: OriginId) -> bool {
        self.origin_shard(origin)
            .is_some_and(|s| self.shards.held().contains_key(&s))
    }
}

/// The connection to PostgreSQL, and what connecting again needs.
struct Pg {
    client: postgres::Client,
    url: FrontierUrl,
    /// Ends a wait for PostgreSQL to come back.
    stop: StopSignal,
    /// Half the shard lease: a worker paused inside a transaction (SIGSTOP, a stall) holds row
    /// locks that would keep the others from taking its shards over; the server cuts it off
    /// (`idle_in_transaction_session_timeout`) before its leases run out.
    idle: Duration,
}

impl Pg {
    fn connect(url: FrontierUrl, stop: StopSignal, idle: Duration) -> Result<Pg> {
        let client = Pg::session(&url, idle)?;
        Ok(Pg {
            client,
            url,
            stop,
            idle,
        })
    }

    fn session(url: &FrontierUrl, idle: Duration) -> Result<postgres::Client> {
        let mut client = url.connect()?;
        let set = format!(
            "SET idle_in_transaction_session_timeout = {}",
            idle.as_millis().max(1)
        );
        client.batch_execute(&set).map_err(|e| {
            url.error(
                "setting up the session",
                &e,
                crate::frontier::postgres::connect::STATEMENT_HINT,
            )
        })?;
        Ok(client)
    }

    /// Runs `f` on the connection; when the connection is gone, connects again (until
    /// [`RECONNECT_FOR`] or a stop request) and runs it again. Every statement sent through
    /// here is idempotent, so one whose answer was lost may be sent twice. A statement that
    /// lost a deadlock runs again at once.
    fn run<T>(
        &mut self,
        mut f: impl FnMut(&mut postgres::Client, &FrontierUrl) -> Result<T>,
    ) -> Result<T> {
        let mut since: Option<Instant> = None;
        let mut wait = Duration::from_millis(100);
        let mut conflicts = 0;
        loop {
            let e = match f(&mut self.client, &self.url) {
                Ok(v) => return Ok(v),
                Err(Error::Postgres {
                    transient: true, ..
                }) if conflicts < MAX_CONFLICTS => {
                    conflicts += 1;
                    continue;
                }
                Err(e @ Error::Postgres { .. }) => e,
                Err(e) => return Err(e),
            };
            if !self.client.is_closed() && self.client.is_valid(Duration::from_secs(2)).is_ok() {
                return Err(e);
            }
            let first = *since.get_or_insert_with(Instant::now);
            log::warn!("lost the shared frontier ({e}); sending nothing until it is back");
            loop {
                if first.elapsed() >= RECONNECT_FOR || self.stop.requested().is_some() {
                    return Err(e);
                }
                std::thread::sleep(wait);
                wait = (wait * 2).min(Duration::from_secs(2));
                if let Ok(c) = Pg::session(&self.url, self.idle) {
                    self.client = c;
                    log::warn!("reached the shared frontier again: continuing");
                    break;
                }
            }
        }
    }
}

impl Frontier for ClusterFrontier<'_> {
    fn add_seeds(&mut self, seeds: &[Url]) -> Result<Vec<Enqueued>> {
        let entries = seeds.iter().map(|u| QueueEntry::new(u.as_str(), 0));
        let entries = self.unknown(entries.collect());
        self.queue_entries(&entries)
    }

    fn add(&mut self, candidates: &[Candidate]) -> Result<Vec<Enqueued>> {
        let entries = self.unknown(candidates.iter().map(Candidate::entry).collect());
        self.queue_entries(&entries)
    }

    fn watch_logins(&mut self, logins: crate::config::request::Logins) {
        let known =
            crate::config::request::Credentials::load(self.store.path()).unwrap_or_default();
        for origin in self.seed_origins_read.drain(..) {
            logins.add_seed_origin(&origin);
        }
        self.logins = Some((logins, known));
    }

    fn origins_with_work(&mut self, from: OriginId, max: usize) -> Result<OriginScan> {
        if from == 0 {
            // Before any URL this scan finds: their seed origins are in scope first, and their
            // logins in hand.
            self.learn_seed_origins()?;
            self.learn_logins()?;
        }
        let held: Vec<i32> = self
            .shards
            .held()
            .keys()
            .copied()
            .filter(|s| self.may_lease(*s))
            .collect();
        let queue = &self.queue;
        let found = self
            .pg
            .run(|c, url| queue.origins_with_work(c, url, &held, from as i64, max as i64))?;
        let next = match found.last() {
            Some((id, _)) if found.len() == max => Some(*id as OriginId + 1),
            _ => None,
        };
        let found = found
            .into_iter()
            .map(|(id, origin)| {
                self.learn(id as OriginId, &origin);
                (id as OriginId, origin)
            })
            .collect();
        Ok((found, next))
    }

    fn lease(&mut self, origin: OriginId, new_urls: bool) -> Result<Option<Lease>> {
        // No rechecks in a shared crawl (refused at its start): only new URLs.
        match self.origin_shard(origin) {
            Some(shard) if new_urls && self.may_lease(shard) => self.next_of(origin),
            _ => Ok(None),
        }
    }

    fn lease_key(&mut self, origin: OriginId, key: &QueueKey) -> Result<Option<Lease>> {
        let seq = seq_of_key(key) as i64;
        let allowed = self.origin_shard(origin).is_some_and(|s| self.may_lease(s));
        if !allowed || self.leased.get(&origin).is_some_and(|l| l.contains(&seq)) {
            return Ok(None);
        }
        let queue = &self.queue;
        let row = self
            .pg
            .run(|c, url| queue.queued(c, url, origin as i64, seq))?;
        Ok(row.map(|(key, entry)| {
            self.leased.entry(origin).or_default().insert(seq);
            Lease {
                key,
                origin_id: origin,
                entry,
                more: true,
            }
        }))
    }

    fn settle(&mut self, batch: &[Settlement<'_>]) -> Result<Vec<Vec<Enqueued>>> {
        let mut out = vec![Vec::new(); batch.len()];
        for s in batch {
            self.release(s.lease);
        }
        // Outcomes of shards already known lost are dropped: the new holder fetches them.
        let keep: Vec<Settlement<'_>> = batch
            .iter()
            .filter(|s| self.holds(s.lease.origin_id))
            .copied()
            .collect();
        self.refused += (batch.len() - keep.len()) as u64;
        if keep.is_empty() {
            return Ok(out);
        }
        let stamps = self.store_locally(&keep)?;
        let all = stamps.clone();
        // Durable here before PostgreSQL points at them: neither kill -9 (sled keeps its
        // newest writes in memory) nor a power cut may lose a page counted as stored.
        self.store.flush()?;
        let mut keep: Vec<(Settlement<'_>, u64)> = keep.into_iter().zip(stamps).collect();
        let added = match self.commit(&keep) {
            Err(Error::StaleShard { shard, epoch, now }) => {
                // Paused past the lease: learn what moved, and commit the rest.
                log::warn!(
                    "worker {}: shard {shard} moved on (epoch {epoch} → {now}) while this worker was not looking; its outcomes are left to the new holder",
                    self.shards.worker()
                );
                self.tick()?;
                let before = keep.len();
                keep.retain(|(s, _)| self.holds(s.lease.origin_id));
                self.refused += (before - keep.len()) as u64;
                if keep.is_empty() {
                    self.pending.decided(&all);
                    return Ok(out);
                }
                self.commit(&keep)?
            }
            other => other?,
        };
        // Committed or refused (an error leaves them pending: the next start asks PostgreSQL).
        self.pending.decided(&all);
        self.stored_since_totals += keep
            .iter()
            .filter(|(s, _)| s.record.state != UrlState::Blocked)
            .count() as u64;
        out[0] = self.ours(added);
        Ok(out)
    }

    fn requeue(&mut self, lease: &Lease, host: &HostRecord) -> Result<()> {
        self.put_back(lease, None, Some(host))
    }

    fn delay(&mut self, lease: &Lease, due_ms: u64, host: Option<&HostRecord>) -> Result<()> {
        self.put_back(lease, Some(due_ms), host)
    }

    fn next_due(&mut self) -> Result<Option<u64>> {
        let held: Vec<i32> = self.shards.held().keys().copied().collect();
        let queue = &self.queue;
        let due = self.pg.run(|c, url| queue.next_due(c, url, &held))?;
        Ok(due.map(|d| d.max(0) as u64))
    }

    fn release_due(&mut self, now_ms: u64) -> Result<Vec<(OriginId, String)>> {
        let held: Vec<i32> = self.shards.held().keys().copied().collect();
        let queue = &self.queue;
        let due = self
            .pg
            .run(|c, url| queue.release_due(c, url, &held, now_ms as i64))?;
        Ok(due
            .into_iter()
            .map(|(id, origin)| {
                let id = id as OriginId;
                self.learn(id, &origin);
                self.ahead.remove(&id);
                (id, origin)
            })
            .collect())
    }

    fn host(&mut self, origin: OriginId) -> Result<Option<HostRecord>> {
        let Some((name, _)) = self.origins.get(&origin).cloned() else {
            return Ok(None);
        };
        let queue = &self.queue;
        let (politeness, _) = self.pg.run(|c, url| queue.origin_state(c, url, &name))?;
        politeness
            .map(|v| decode("origins.politeness", &v))
            .transpose()
    }

    fn robots(&mut self, origin: &str) -> Result<Option<RobotsRecord>> {
        let queue = &self.queue;
        let (_, robots) = self.pg.run(|c, url| queue.origin_state(c, url, origin))?;
        robots.map(|v| decode("origins.robots", &v)).transpose()
    }

    fn put_robots(&mut self, origin: &str, record: &RobotsRecord) -> Result<()> {
        let value = encode(record);
        let queue = &mut self.queue;
        self.pg
            .run(|c, url| queue.put_robots(c, url, origin, &value))
    }

    fn counters(&mut self) -> Result<Counters> {
        if let Some((at, c)) = &self.totals {
            if at.elapsed() < TOTALS_EVERY {
                return Ok(*c);
            }
        }
        let queue = &self.queue;
        let c = self.pg.run(|c, url| queue.counters(c, url))?;
        self.totals = Some((Instant::now(), c));
        self.stored_since_totals = 0;
        Ok(c)
    }

    fn stored_pages(&mut self, origin: &str, up_to: u64) -> Result<u64> {
        let queue = &self.queue;
        let n = self.pg.run(|c, url| queue.stored_pages(c, url, origin))?;
        Ok(n.min(up_to))
    }

    fn abandon(&mut self, lease: &Lease) {
        self.release(lease);
    }

    fn claim_digest(&mut self, digest: &[u8; 20], url: &str) -> Result<Option<String>> {
        self.store.claim_digest(digest, url)
    }

    fn refresh(&mut self) -> Result<Refresh> {
        let now = Instant::now();
        let mut r = Refresh::default();
        if now >= self.next_tick {
            let (lost, gained) = self.tick()?;
            r.lost = lost;
            r.rescan = gained;
        }
        if now >= self.next_scan {
            // Other workers queue URLs in this worker's shards: look for them.
            r.rescan = true;
        }
        if r.rescan {
            self.next_scan = now + RESCAN_EVERY;
            self.done = None;
        }
        r.next = Some(self.next_tick.min(self.next_scan));
        Ok(r)
    }

    fn crawl_done(&mut self) -> Result<bool> {
        if let Some((at, done)) = self.done {
            if at.elapsed() < DONE_EVERY {
                return Ok(done);
            }
        }
        let queue = &self.queue;
        let done = self.pg.run(|c, url| queue.all_settled(c, url))?;
        self.done = Some((Instant::now(), done));
        Ok(done)
    }

    fn stored_total(&mut self) -> Result<Option<u64>> {
        // The totals as last read (at most TOTALS_EVERY old), plus what this worker stored
        // since: only the other workers' last moments can be missing.
        let read = self.counters()?.stored();
        Ok(Some(read + self.stored_since_totals))
    }

    fn send_permits(&self) -> Option<Arc<SendPermits>> {
        Some(Arc::clone(&self.permits))
    }

    fn counted_records(&self) -> Option<Box<dyn CountedRecords>> {
        let pending = Arc::clone(&self.pending);
        let worker = self.shards.worker();
        let url = self.pg.url.clone();
        Some(Box::new(Counted::new(pending, url, self.crawl_id, worker)))
    }
}
