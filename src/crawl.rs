//! The engine: wires frontier, scheduler, workers and store into one crawl, and owns the async
//! runtime seam (every `async_std` spawn and `block_on` of the library is in this file).
//!
//! Threads: the calling thread runs the engine loop, which alone writes to sled (leases and
//! outcomes, one transaction each) and alone asks the scheduler which origin goes next; it never
//! runs on the async executor, so sled work cannot stall fetches. `--concurrency` async-std
//! tasks fetch; parsing runs on blocking threads, a bounded number at a time.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use url::Url;

use crate::canon::Scope;
use crate::config::CrawlConfig;
use crate::error::{Error, Result};
use crate::fetch::Fetcher;
use crate::frontier::{self, Lease};
use crate::scheduler::{Next, Scheduler};
use crate::store::{Counters, ErrorKind, Failure, OpenMode, Store, UrlState};
use crate::worker::{self, Job, Outcome, WorkerContext};

/// How often idle host slots are dropped, so memory follows the hosts in use.
const PRUNE_EVERY: Duration = Duration::from_secs(10);

/// Why the crawl stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// Nothing is left in the queue.
    Finished,
    /// `--max-pages` outcomes are stored; the rest stays queued.
    MaxPages,
}

/// What a crawl run did, for the closing summary.
#[derive(Clone, Debug)]
pub struct Summary {
    /// Outcomes stored by this run.
    pub stored: u64,
    /// Of which done.
    pub done: u64,
    /// Of which failed.
    pub failed: u64,
    /// Database totals at the end of the run.
    pub totals: Counters,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Why it stopped.
    pub stop: StopReason,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.elapsed.as_secs_f64();
        let rate = if secs > 0.0 {
            self.stored as f64 / secs
        } else {
            0.0
        };
        write!(
            f,
            "{}: stored {} ({} done, {} failed) in {:.1}s, {:.1} pages/s; database: {} done, {} failed, {} left in queue",
            match self.stop {
                StopReason::Finished => "crawl finished",
                StopReason::MaxPages => "page budget reached",
            },
            self.stored,
            self.done,
            self.failed,
            secs,
            rate,
            self.totals.done,
            self.totals.failed,
            self.totals.queued + self.totals.in_flight,
        )
    }
}

/// Runs a crawl to its end: opens (or creates) the database, queues the seeds, and fetches
/// until the queue is empty or the page budget is spent.
pub fn run(config: &CrawlConfig) -> Result<Summary> {
    config.validate()?;
    let store = Store::open(&config.db, OpenMode::CreateOrOpen)?;
    run_on(config, &store)
}

/// [`run`] on an already open store.
pub fn run_on(config: &CrawlConfig, store: &Store) -> Result<Summary> {
    let started = Instant::now();
    frontier::recover_leases(store)?;
    let prior: Option<CrawlConfig> = store.load_config()?;
    let prior_seeds = prior.map(|p| p.seeds).unwrap_or_default();
    let scope = Scope::new(config, &prior_seeds)?;
    frontier::add_seeds(store, &config.seeds)?;
    let mut saved = config.clone();
    for s in prior_seeds {
        if !saved.seeds.contains(&s) {
            saved.seeds.push(s);
        }
    }
    if saved.seeds.is_empty() {
        return Err(Error::Config(
            "no seed URLs given and the database has none; give at least one URL".into(),
        ));
    }
    store.save_config(&saved)?;

    let mut sched = Scheduler::new(config.per_host_concurrency, config.request_interval());
    for (id, (origin, n)) in frontier::queued_by_origin(store)? {
        sched.add_queued(id, &origin, n);
    }
    let parse_slots = std::thread::available_parallelism().map_or(2, |n| n.get());
    let ctx = Arc::new(WorkerContext {
        fetcher: Fetcher::new(config)?,
        scope,
        max_depth: config.max_depth,
        parse_slots: async_lock::Semaphore::new(parse_slots),
    });

    let (job_tx, job_rx) = async_channel::unbounded::<Job>();
    let (out_tx, out_rx) = mpsc::channel::<Outcome>();
    let workers: Vec<_> = (0..config.concurrency)
        .map(|_| {
            let (ctx, jobs, outcomes) = (Arc::clone(&ctx), job_rx.clone(), out_tx.clone());
            async_std::task::spawn(async move {
                while let Ok(job) = jobs.recv().await {
                    if outcomes.send(worker::process(&ctx, job).await).is_err() {
                        break;
                    }
                }
            })
        })
        .collect();
    drop(out_tx);

    let mut engine = Engine {
        config,
        store,
        sched,
        jobs: job_tx,
        outcomes: out_rx,
        in_flight: 0,
        stored: 0,
        done: 0,
        failed: 0,
    };
    let result = engine.run();
    let (stored, done, failed) = (engine.stored, engine.done, engine.failed);
    // Closing the job channel lets every worker finish its current fetch and exit.
    drop(engine);
    async_std::task::block_on(async {
        for w in workers {
            w.await;
        }
    });
    store.flush()?;
    let stop = result?;
    Ok(Summary {
        stored,
        done,
        failed,
        totals: store.counters()?,
        elapsed: started.elapsed(),
        stop,
    })
}

/// Runs a blocking closure off the async executor (parsing, CPU work).
pub(crate) async fn run_blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    async_std::task::spawn_blocking(f).await
}

/// The engine loop's state: the only writer to the store while a crawl runs.
struct Engine<'a> {
    config: &'a CrawlConfig,
    store: &'a Store,
    sched: Scheduler,
    jobs: async_channel::Sender<Job>,
    outcomes: mpsc::Receiver<Outcome>,
    in_flight: usize,
    stored: u64,
    done: u64,
    failed: u64,
}

impl Engine<'_> {
    fn run(&mut self) -> Result<StopReason> {
        let stored_before = self.store.counters()?.stored();
        let mut last_prune = Instant::now();
        loop {
            if last_prune.elapsed() >= PRUNE_EVERY {
                self.sched.prune(Instant::now());
                last_prune = Instant::now();
            }
            let budget = self
                .config
                .max_pages
                .map(|m| m.saturating_sub(stored_before + self.stored + self.in_flight as u64));
            let wake = self.dispatch(budget)?;
            if self.in_flight == 0 {
                if budget == Some(0) {
                    return Ok(StopReason::MaxPages);
                }
                if wake.is_none() {
                    return Ok(StopReason::Finished);
                }
            }
            let timeout = wake
                .map(|t| t.saturating_duration_since(Instant::now()))
                .unwrap_or(Duration::from_secs(1));
            match self.outcomes.recv_timeout(timeout) {
                Ok(outcome) => {
                    self.settle(outcome)?;
                    while let Ok(outcome) = self.outcomes.try_recv() {
                        self.settle(outcome)?;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(Error::Client(
                        "all fetch workers stopped unexpectedly".into(),
                    ))
                }
            }
        }
    }

    /// Starts every request that may start now. Returns when the next one may start (`None`
    /// when nothing is waiting on time).
    fn dispatch(&mut self, mut budget: Option<u64>) -> Result<Option<Instant>> {
        while self.in_flight < self.config.concurrency && budget != Some(0) {
            let id = match self.sched.next(Instant::now()) {
                Next::Start(id) => id,
                Next::WaitUntil(t) => return Ok(Some(t)),
                Next::Idle => return Ok(None),
            };
            let Some(lease) = frontier::lease(self.store, id)? else {
                self.sched.nothing_queued(id);
                continue;
            };
            self.in_flight += 1;
            budget = budget.map(|b| b - 1);
            match Url::parse(&lease.entry.url) {
                Ok(url) => {
                    // The receivers live until the engine is dropped; a failed send means the
                    // workers are gone, which the next recv reports.
                    let _ = self.jobs.try_send(Job { lease, url });
                }
                Err(e) => self.settle(unparseable(lease, e))?,
            }
        }
        Ok(None)
    }

    fn settle(&mut self, o: Outcome) -> Result<()> {
        self.in_flight -= 1;
        self.sched.finished(o.lease.origin_id);
        let added = frontier::settle(self.store, &o.lease, &o.record, &o.body, &o.found)?;
        for e in added {
            self.sched.add_queued(e.origin_id, &e.origin, 1);
        }
        self.stored += 1;
        match o.record.state {
            UrlState::Done => self.done += 1,
            UrlState::Failed => self.failed += 1,
        }
        Ok(())
    }
}

/// A queued URL that no longer parses (only a damaged database can hold one): it fails without
/// a request.
fn unparseable(lease: Lease, e: url::ParseError) -> Outcome {
    let failure = Failure {
        kind: ErrorKind::Other,
        message: format!("queued URL does not parse: {e}"),
    };
    Outcome {
        record: worker::failed_record(&lease.entry, Some(failure)),
        lease,
        body: Vec::new(),
        found: Vec::new(),
    }
}
