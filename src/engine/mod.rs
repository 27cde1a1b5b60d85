//! The engine loop: the one thread that writes the frontier while a crawl runs, through the
//! [`Frontier`] seam only. It asks the scheduler which origin may start, leases URLs, checks them
//! against robots.txt, hands jobs to workers, and settles every outcome (page, robots.txt,
//! retry); final page outcomes are committed in batches (see [`COMMIT_EVERY`]). It never runs on
//! the async executor, so database work cannot stall fetches.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

mod publish;
mod robots_txt;
#[cfg(test)]
mod seam_tests;
mod settle;
#[cfg(test)]
mod tests;

use url::Url;

use crate::canon::Scope;
use crate::config::CrawlConfig;
use crate::error::{Error, Result};
use crate::failure::{ErrorKind, Failure};
use crate::frontier::{self, Frontier, OriginId, QueueEntry, SitemapRole};
use crate::politeness::RobotsState;
use crate::progress::{self, Progress};
use crate::report::{RunCounters, StopReason};
use crate::robots::Decision;
use crate::scheduler::{Next, Scheduler};
use crate::shutdown::StopSignal;
use crate::store::{HostRecord, UrlState};
use crate::worker::{self, Job, Outcome, PageOutcome};

/// Longest the engine waits without looking at the stop flag and the flusher.
const POLL: Duration = Duration::from_millis(100);

/// Origins with queued work taken from the database per step of a resume's scan: enough to
/// start at once, few enough that the first request does not wait for a scan of every origin.
const SCAN_CHUNK: usize = 256;

/// A resume's scan for origins with queued work pauses while this many origins are tracked:
/// per-origin state in memory stays bounded however many hosts the frontier holds (the rest
/// wait in the database until tracked origins run dry and are pruned).
const ACTIVE_ORIGINS: usize = 10_000;

/// Most page outcomes stored in one transaction: enough to pay a commit once for all the
/// outcomes of a busy moment, few enough to keep a transaction's memory small.
const MAX_BATCH: usize = 64;

/// Longest an outcome waits to be committed with others. sled writes and syncs its log buffer
/// at every transaction's end, so one transaction per outcome meant one disk write per page
/// (measured: ~4,000 log writes for 5,000 pages, and 5.8x the written bytes at the block
/// layer; 5 ms brought that to ~500 writes). A crash loses at most these outcomes, which are
/// fetched again, like requests in flight; 2–50 ms measured the same CPU per page.
const COMMIT_EVERY: Duration = Duration::from_millis(5);

/// How often the free space on the database's disk is read (`--min-free-disk`): one statvfs.
const DISK_CHECK_EVERY: Duration = Duration::from_secs(1);

/// How often idle host slots are dropped, so memory follows the hosts in use (milliseconds;
/// tests turn it down with `POLITECRAWL_PRUNE_EVERY_MS`).
const PRUNE_EVERY_MS: usize = 10_000;

/// What connects the engine to the rest of a run.
pub struct EngineIo<'a> {
    /// The crawl's directory (for `live-status.json` and error messages).
    pub dir: &'a std::path::Path,
    /// Jobs to the workers.
    pub jobs: async_channel::Sender<Job>,
    /// Their outcomes.
    pub outcomes: mpsc::Receiver<Outcome>,
    /// The database flusher, whose failure stops the crawl.
    pub flusher: &'a crate::store::Flusher,
    /// Raised to stop the crawl.
    pub stop: StopSignal,
    /// Kept up to date for displays.
    pub progress: Progress,
    /// The recrawl round this run works on (see [`crate::recrawl`]), if any.
    pub round: Option<u32>,
    /// Told each origin whose slot was dropped (idle: no work left, limits rested; or its
    /// shard taken by another worker), so what the rest of the run keeps per host (the
    /// fetcher's DNS answers) follows the hosts with work too.
    pub idle_origins: Option<&'a dyn Fn(&str)>,
    /// The skip report, told the links a pattern budget keeps out (see [`crate::skips`]).
    pub skips: Option<&'a crate::skips::SkipLog>,
}

/// The engine's state.
pub struct Engine<'a> {
    config: &'a CrawlConfig,
    scope: &'a Scope,
    frontier: &'a mut dyn Frontier,
    dir: &'a std::path::Path,
    /// What every decision of time reads (the config's; see [`crate::runtime::Clock`]).
    clock: crate::runtime::Clock,
    sched: Scheduler,
    jobs: async_channel::Sender<Job>,
    outcomes: mpsc::Receiver<Outcome>,
    in_flight: usize,
    pages_in_flight: u64,
    /// Unix ms of the earliest parked retry.
    next_due: Option<u64>,
    flusher: &'a crate::store::Flusher,
    stop: StopSignal,
    progress: Progress,
    last_progress: Instant,
    last_live: Instant,
    /// When requests in flight must be done by, once a stop was requested.
    drain_until: Option<Instant>,
    /// The free space found under `--min-free-disk`, once found: the run stops.
    disk_low: Option<u64>,
    /// What this run did.
    pub stats: RunCounters,
    /// Where the scan for origins with queued work (on a resume) continues; `None`: done.
    origin_scan: Option<OriginId>,
    /// Final page outcomes waiting to be committed together (see [`COMMIT_EVERY`]).
    pending: Vec<(PageOutcome, Option<HostRecord>)>,
    /// The recrawl round this run works on: its rechecks still go once `--max-pages` holds
    /// new URLs back, and pages first stored meanwhile count as its new pages.
    round: Option<u32>,
    /// When the oldest of them arrived.
    pending_since: Option<Instant>,
    idle_origins: Option<&'a dyn Fn(&str)>,
    /// The rules that judge fetched pages (see [`crate::copies`]).
    copies: crate::copies::Copies,
    /// Shapes closed to their own links (see [`crate::shapes`]).
    shapes: crate::shapes::PatternBudget,
    skips: Option<&'a crate::skips::SkipLog>,
}

impl<'a> Engine<'a> {
    /// An engine over `frontier`, sending jobs to workers and reading their outcomes.
    pub fn new(
        config: &'a CrawlConfig,
        scope: &'a Scope,
        frontier: &'a mut dyn Frontier,
        io: EngineIo<'a>,
    ) -> Result<Self> {
        let EngineIo {
            dir,
            jobs,
            outcomes,
            flusher,
            stop,
            progress,
            round,
            idle_origins,
            skips,
        } = io;
        let sched = Scheduler::new(
            config.per_host_concurrency,
            config.request_interval(),
            !config.ignore_robots,
            config.clock.clone(),
        );
        let mut engine = Engine {
            next_due: frontier.next_due()?,
            config,
            scope,
            frontier,
            dir,
            clock: config.clock.clone(),
            sched,
            jobs,
            outcomes,
            in_flight: 0,
            pages_in_flight: 0,
            flusher,
            stop,
            progress,
            // Progress is shown to people: its pace keeps real time, whatever the clock.
            last_progress: Instant::now() - progress::REFRESH,
            last_live: Instant::now() - progress::LIVE_EVERY,
            drain_until: None,
            disk_low: None,
            stats: RunCounters::default(),
            pending: Vec::new(),
            pending_since: None,
            origin_scan: Some(0),
            round,
            idle_origins,
            copies: crate::copies::Copies::new(config),
            shapes: crate::shapes::PatternBudget::new(
                config.pattern_budget,
                config.path_pattern_budget,
            ),
            skips,
        };
        engine.register_queued_origins()?;
        Ok(engine)
    }

    /// `--min-free-disk`: the free bytes on the database's disk when under the floor. A disk
    /// whose space cannot be read is not a reason to stop.
    fn check_free_disk(&self) -> Option<u64> {
        let floor = self.config.min_free_disk;
        if floor == 0 {
            return None;
        }
        let free = fs2::available_space(self.dir).ok()?;
        if free >= floor {
            return None;
        }
        log::warn!(
            "{}: only {} free on its disk (--min-free-disk {}): stopping, so nothing is lost to \
             a full disk; free some space and run the same command to resume",
            self.dir.display(),
            bytesize::ByteSize(free),
            bytesize::ByteSize(floor)
        );
        Some(free)
    }

    /// Runs until the queue is empty or the page budget is spent.
    pub fn run(&mut self) -> Result<StopReason> {
        let before = self.frontier.counters()?;
        let (stored_before, bytes_before) = (before.stored(), before.bytes);
        let mut last_prune = self.clock.now();
        // `--max-time`: from here, on the crawl's clock (so a test moves it, not waits).
        let time_up = self.config.max_time.map(|d| self.clock.now() + d);
        let mut next_disk_check = self.clock.now();
        let prune_every = Duration::from_millis(crate::crashpoint::knob(
            "POLITECRAWL_PRUNE_EVERY_MS",
            PRUNE_EVERY_MS,
        ) as u64);
        loop {
            if self.clock.now().duration_since(last_prune) >= prune_every {
                // An outcome waiting for its commit has freed its origin's slot, but the links
                // it found are not queued yet: settled first, so that origin is not taken for
                // one without work (and its DNS answer forgotten, to be asked again).
                self.settle_pending()?;
                let idle = self.idle_origins;
                self.sched.prune(self.clock.now(), |origin| {
                    if let Some(idle) = idle {
                        idle(origin);
                    }
                });
                last_prune = self.clock.now();
            }
            let budget = match self.config.max_pages {
                // Pages stored in the crawl: this run's on top of what was there, unless other
                // processes store pages too (a shared crawl), whose total the frontier knows.
                Some(max) => {
                    let stored = match self.frontier.stored_total()? {
                        Some(total) => total,
                        None => stored_before + self.stats.stored,
                    };
                    Some(max.saturating_sub(stored + self.pages_in_flight))
                }
                None => None,
            };
            if let Some(e) = self.flusher.error() {
                return Err(e);
            }
            self.settle_due()?;
            if self.sched.hosts() < ACTIVE_ORIGINS {
                self.register_queued_origins()?;
            }
            self.report_progress()?;
            let out_of_time = time_up.is_some_and(|t| self.clock.now() >= t);
            let out_of_bytes = self
                .config
                .max_bytes
                .is_some_and(|max| bytes_before + self.stats.bytes >= max);
            if self.disk_low.is_none() && self.clock.now() >= next_disk_check {
                next_disk_check = self.clock.now() + DISK_CHECK_EVERY;
                self.disk_low = self.check_free_disk();
            }
            let stop = match self.stop.requested() {
                Some(signal) => Some(StopReason::Interrupted(signal)),
                None if self.disk_low.is_some() => Some(StopReason::DiskLow),
                None if out_of_time => Some(StopReason::MaxTime),
                None => out_of_bytes.then_some(StopReason::MaxBytes),
            };
            if let Some(reason) = stop {
                // As for a signal: nothing new starts, what is in flight may finish.
                let until = *self
                    .drain_until
                    .get_or_insert(self.clock.now() + self.config.grace);
                if self.in_flight == 0 || self.clock.now() >= until {
                    self.settle_pending()?;
                    return Ok(reason);
                }
                self.wait_for_outcomes(Some(until))?;
                continue;
            }
            let refresh_at = self.refresh()?;
            self.release_due()?;
            let next_start = self.dispatch(budget)?;
            if next_start.is_none()
                && self.in_flight < self.config.concurrency
                && !self.pending.is_empty()
            {
                // Workers are idle for want of work: the waiting outcomes may bring some.
                self.settle_pending()?;
                continue;
            }
            let wake = [
                next_start,
                self.next_due_instant(),
                self.pending_since.map(|t| t + COMMIT_EVERY),
            ]
            .into_iter()
            .flatten()
            .min();
            if self.in_flight == 0 && self.pending.is_empty() {
                if budget == Some(0) && self.round.is_none() {
                    return Ok(StopReason::MaxPages);
                }
                if wake.is_none() && self.origin_scan.is_some() {
                    // Nothing tracked has work: take more origins whatever the cap.
                    self.register_queued_origins()?;
                    continue;
                }
                if wake.is_none() && budget == Some(0) {
                    return Ok(StopReason::MaxPages);
                }
                // Nothing here: the crawl is over unless other workers (a shared frontier)
                // still hold work that may reach this one; then look again at the refresh.
                if wake.is_none() && self.frontier.crawl_done()? {
                    return Ok(StopReason::Finished);
                }
            }
            // Woken at the time limit too, which is not work: it never keeps the crawl going.
            let wait = wake.into_iter().chain(refresh_at).chain(time_up).min();
            self.wait_for_outcomes(wait)?;
        }
    }

    /// Settles outcomes as they come, until `wake` (at most [`POLL`], so a stop request or a
    /// flush failure is seen promptly). On a manual clock with nothing in flight, no outcome can
    /// come: the clock moves on to `wake` at once.
    fn wait_for_outcomes(&mut self, wake: Option<Instant>) -> Result<()> {
        if let (true, 0, Some(t)) = (self.clock.is_manual(), self.in_flight, wake) {
            self.clock.advance_to(t);
            return Ok(());
        }
        let timeout = wake
            .map(|t| t.saturating_duration_since(self.clock.now()))
            .unwrap_or(POLL)
            .min(POLL);
        match self.outcomes.recv_timeout(timeout) {
            Ok(outcome) => {
                let mut next = Some(outcome);
                while let Some(outcome) = next.take().or_else(|| self.outcomes.try_recv().ok()) {
                    self.in_flight -= 1;
                    match outcome {
                        Outcome::Page(o) => {
                            if let Some(o) = self.on_page(*o)? {
                                let now = self.clock.now();
                                self.pending_since.get_or_insert(now);
                                self.pending.push(o);
                            }
                        }
                        Outcome::Robots(o) => self.on_robots(o)?,
                        Outcome::NotSent { origin_id, lease } => {
                            if let Some(lease) = lease {
                                self.frontier.abandon(&lease);
                                self.pages_in_flight -= 1;
                            }
                            // Its shard moved: a refresh brings it back if it is ours again.
                            self.forget_origin(origin_id);
                        }
                    }
                    self.settle_due()?;
                }
                Ok(())
            }
            Err(RecvTimeoutError::Timeout) => Ok(()),
            Err(RecvTimeoutError::Disconnected) => Err(Error::WorkersStopped),
        }
    }

    /// Whether a request's connection is worth keeping for its origin's next one: not while more
    /// origins are at work than the client's pool holds (see `Job::Page`).
    fn keep_alive(&self) -> bool {
        self.sched.hosts() <= crate::fetch::connection_pool_size(self.config)
    }

    /// Starts every request that may start now; returns when the next may (`None`: nothing is
    /// waiting on time).
    fn dispatch(&mut self, budget: Option<u64>) -> Result<Option<Instant>> {
        let mut started = 0u64;
        while self.in_flight < self.config.concurrency {
            // `--max-pages` holds back new URLs only: rechecks store no new page.
            let new_urls = budget.is_none_or(|b| started < b);
            match self.sched.next(self.clock.now()) {
                Next::Start(id) => {
                    if self.start_page(id, new_urls)? == Some(true) {
                        started += 1;
                    }
                }
                Next::Robots(id) => self.start_robots(id),
                Next::WaitUntil(t) => return Ok(Some(t)),
                Next::Idle => return Ok(None),
            }
        }
        Ok(None)
    }

    /// Leases the origin's next URL and sends it to a worker, unless robots.txt forbids it.
    /// Returns whether a request was started: `Some(true)` for a new URL, `Some(false)` for a
    /// recheck, `None` for none. With `new_urls` false (`--max-pages` reached), or the
    /// origin's own budget spent, only rechecks and the retries the budget counts may go.
    fn start_page(&mut self, id: OriginId, new_urls: bool) -> Result<Option<bool>> {
        let over_budget = self.over_host_budget(id);
        let counted = match over_budget {
            true => self.lease_counted(id)?,
            false => None,
        };
        let lease = match counted {
            Some(lease) => lease,
            None => match self.frontier.lease(id, new_urls && !over_budget)? {
                Some(lease) => lease,
                None if over_budget || !new_urls => {
                    // The rest stays queued and the origin leaves the rotation.
                    if let Some(slot) = self.sched.slot(id) {
                        slot.queued = 0;
                    }
                    self.sched.cancel_start(id);
                    return Ok(None);
                }
                None => {
                    self.sched.nothing_queued(id);
                    return Ok(None);
                }
            },
        };
        let recheck = lease.entry.revisit.is_some();
        if lease.more {
            self.sched.more_queued(id);
        }
        let url = match Url::parse(&lease.entry.url) {
            Ok(url) => url,
            Err(e) => {
                self.sched.cancel_start(id);
                let failure = Failure {
                    kind: ErrorKind::Other,
                    message: format!("queued URL does not parse: {e}"),
                };
                return self.settle_without_request(lease, UrlState::Failed, failure);
            }
        };
        if !recheck && lease.entry.depth > 0 && !self.scope.allows(&url) {
            // Queued under other settings (an `--exclude` added on a resume, say): the scope
            // as it stands now decides, before anything is sent. Seeds always go.
            self.sched.cancel_start(id);
            let failure = Failure {
                kind: ErrorKind::OutOfScope,
                message: format!(
                    "{} (the scope and filters as they stand now)",
                    ErrorKind::OutOfScope.describe()
                ),
            };
            return self.settle_without_request(lease, UrlState::Blocked, failure);
        }
        if lease.entry.sitemap == SitemapRole::Refused {
            self.sched.cancel_start(id);
            let failure = nested_sitemap(&lease.entry);
            return self.settle_without_request(lease, UrlState::Blocked, failure);
        }
        let decision = match self.sched.slot(id).map(|s| s.robots.clone()) {
            Some(RobotsState::Known(policy)) => policy.decide(&url),
            _ => Decision::Allow,
        };
        match decision {
            Decision::Allow => {
                self.in_flight += 1;
                self.pages_in_flight += 1;
                if self.config.max_pages_per_host.is_some() && !recheck {
                    if let Some(slot) = self.sched.slot(id) {
                        if slot.budget_counted.insert(lease.key) {
                            slot.budget_used += 1;
                        }
                    }
                }
                // Receivers live as long as the engine; a failed send shows as a closed
                // outcome channel on the next receive.
                let gap = self.sched.slot(id).map_or(Duration::ZERO, |s| s.gap());
                let keep_alive = self.keep_alive();
                let _ = self.jobs.try_send(Job::Page {
                    lease,
                    url,
                    gap,
                    keep_alive,
                });
                Ok(Some(!recheck))
            }
            Decision::Block(rule) => {
                self.sched.cancel_start(id);
                if let Some(slot) = self.sched.slot(id) {
                    slot.blocked += 1;
                }
                let failure = Failure {
                    kind: ErrorKind::RobotsDisallowed,
                    message: rule,
                };
                self.settle_without_request(lease, UrlState::Blocked, failure)
            }
            Decision::GiveUp(failure) => {
                self.sched.cancel_start(id);
                let state = match failure.kind {
                    // Its host was refused, not tried: never requested, as robots.txt blocks.
                    ErrorKind::PrivateAddress => UrlState::Blocked,
                    _ => UrlState::Failed,
                };
                self.settle_without_request(lease, state, failure)
            }
        }
    }

    /// The origin has used its `--max-pages-per-host`.
    fn over_host_budget(&mut self, id: OriginId) -> bool {
        let Some(max) = self.config.max_pages_per_host else {
            return false;
        };
        self.sched.slot(id).is_some_and(|s| s.budget_used >= max)
    }

    /// A queued URL of the origin that its budget already counts (a retry back in the queue).
    fn lease_counted(&mut self, id: OriginId) -> Result<Option<frontier::Lease>> {
        let keys: Vec<_> = self
            .sched
            .slot(id)
            .map(|s| s.budget_counted.iter().copied().collect())
            .unwrap_or_default();
        for key in keys {
            if let Some(lease) = self.frontier.lease_key(id, &key)? {
                return Ok(Some(lease));
            }
        }
        Ok(None)
    }

    fn settle_without_request(
        &mut self,
        lease: frontier::Lease,
        state: UrlState,
        failure: Failure,
    ) -> Result<Option<bool>> {
        let mut record = worker::failed_record(&lease.entry, Some(failure));
        record.state = state;
        crate::recrawl::finish_record(&lease.entry, &mut record, self.round);
        let host = self
            .sched
            .slot(lease.origin_id)
            .map(|s| s.to_record(&self.clock));
        let settled = frontier::Settlement {
            lease: &lease,
            record: &record,
            body: None,
            found: &[],
            host: host.as_ref(),
        };
        self.frontier.settle(&[settled])?;
        match state {
            _ if lease.entry.revisit.is_some() => self.stats.checked += 1,
            UrlState::Blocked => self.stats.blocked += 1,
            _ => {
                self.stats.stored += 1;
                self.stats.failed += 1;
            }
        }
        Ok(None)
    }

    /// Drops an origin this process may no longer crawl, and what the run keeps for its host.
    fn forget_origin(&mut self, id: OriginId) {
        if let (Some(origin), Some(idle)) = (self.sched.forget(id), self.idle_origins) {
            idle(&origin);
        }
    }

    /// Takes what the frontier learned (origins lost to other workers, work to scan for);
    /// returns when to look again.
    fn refresh(&mut self) -> Result<Option<Instant>> {
        let r = self.frontier.refresh()?;
        for id in r.lost {
            self.forget_origin(id);
        }
        if r.rescan {
            self.origin_scan = Some(0);
            self.next_due = self.frontier.next_due()?;
            self.register_queued_origins()?;
        }
        Ok(r.next)
    }

    /// Gives the scheduler the next chunk of origins that have queued work from earlier runs.
    /// Each starts with a count of one; leases that find more raise it.
    fn register_queued_origins(&mut self) -> Result<()> {
        let Some(from) = self.origin_scan else {
            return Ok(());
        };
        let (found, next) = self.frontier.origins_with_work(from, SCAN_CHUNK)?;
        self.origin_scan = next;
        for (id, origin) in found {
            self.add_work(id, &origin, 1)?;
        }
        Ok(())
    }

    /// Tells the scheduler about queued URLs; an origin new to this run gets its saved
    /// politeness state and (fresh) robots.txt verdict back from the database.
    fn add_work(&mut self, id: OriginId, origin: &str, n: u64) -> Result<()> {
        if !self.sched.add_queued(id, origin, n) {
            return Ok(());
        }
        if let (Some(rec), Some(slot)) = (self.frontier.host(id)?, self.sched.slot(id)) {
            slot.restore(&rec, &self.clock);
        }
        if let Some(max) = self.config.max_pages_per_host {
            let used = self.frontier.stored_pages(origin, max)?;
            if let Some(slot) = self.sched.slot(id) {
                slot.budget_used = used;
            }
        }
        self.restore_robots(id, origin)
    }
}

/// Why a sitemap at a second level of index is not fetched: sitemaps.org lets an index list
/// sitemaps, not other indexes, so the crawl follows one level and records the rest (a server
/// nesting indexes without end once made 14,562 requests in 15 s).
fn nested_sitemap(entry: &QueueEntry) -> Failure {
    let named_by = entry.referrer.as_deref().unwrap_or("a sitemap");
    Failure {
        kind: ErrorKind::NestedSitemap,
        message: format!(
            "named by {named_by}, itself a sitemap named by a sitemap index: sitemaps.org has one level of index"
        ),
    }
}
