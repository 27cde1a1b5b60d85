//! Sets a crawl up and runs it: works out its settings (new or resumed), opens the store, queues
//! the seeds, starts the workers and the engine, and shuts them down in order. One path for both
//! backends ([`Backend`]): a crawl of its own in its sled store, or one worker of a crawl shared
//! over PostgreSQL, whose differences (the crawl reached or created, where its settings and
//! credentials come from, its frontier and scope, leaving it) are asked of
//! [`crate::cluster::worker`] at the step they belong to.
//!
//! Threads: the calling thread runs the engine loop, which alone writes the frontier (through
//! [`Frontier`]; outcomes committed in batches) and alone asks the scheduler which origin goes
//! next; it never runs on the async executor, so database work cannot stall fetches.
//! `--concurrency` tasks fetch; parsing runs on a pool of parse threads, one per CPU.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Instant;

use futures_lite::FutureExt;
use url::Url;

use crate::cluster::worker::{Join, Shared};
use crate::cluster::ClusterFrontier;
use crate::config::request::{Credentials, Login};
use crate::config::{CrawlConfig, Overrides};
use crate::engine::{Engine, EngineIo};
use crate::error::{Error, Result};
use crate::fetch::Fetcher;
use crate::frontier::{Frontier, SledFrontier};
use crate::progress::Progress;
use crate::report::{Report, StopReason, Summary};
use crate::runtime;
use crate::shutdown::StopSignal;
use crate::store::{OpenMode, Store};
use crate::worker::{self, Job, Outcome, WorkerContext};

/// What [`start`] did before crawling: whether it resumed, and which saved settings the command
/// line changed.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The settings in force.
    pub config: CrawlConfig,
    /// The database already held a crawl.
    pub resumed: bool,
    /// Flags that changed saved settings (recorded in the database).
    pub overridden: Vec<String>,
    /// What `--seeds-file` brought.
    pub seeds_file: Option<crate::seeds_file::Loaded>,
}

/// Works out a run's settings: a database holding a crawl continues with its saved settings, a
/// new one starts from the defaults; `new_seeds` are added, `overrides` (the flags given) change
/// either, and on a resume the change is recorded.
fn plan(db: &Path, new_seeds: Vec<Url>, overrides: &Overrides, store: &Store) -> Result<Plan> {
    let saved: Option<CrawlConfig> = store.load_config()?;
    let resumed = saved.is_some();
    let mut config = saved.unwrap_or_default();
    config.db = db.to_path_buf();
    // The saved settings show credential headers `<redacted>`: their values are with the
    // logins. So does `config`'s output, given back as a --config file: the same values.
    let secrets = Credentials::load(db)?.headers;
    config.headers.fill(&secrets);
    let mut overrides = overrides.clone();
    crate::config::request::fill_redacted(&mut overrides.headers, &secrets);
    crate::config::add_new_seeds(&mut config.seeds, new_seeds);
    let overridden = config.apply(&overrides);
    config.validate()?;
    if resumed && !overridden.is_empty() {
        store.record_overrides(&overridden)?;
    }
    Ok(Plan {
        config,
        resumed,
        overridden,
        seeds_file: None,
    })
}

/// The logins of this run: those saved in `db`, then the seeds' userinfo, then `login` for
/// every seed's origin; and the values of the credential headers in force. Saved back when
/// they changed.
fn logins(
    db: &Path,
    config: &CrawlConfig,
    from_seeds: Credentials,
    login: Option<&Login>,
) -> Result<Credentials> {
    let saved = Credentials::load(db)?;
    let mut all = saved.clone();
    all.extend(&from_seeds);
    if let Some(login) = login {
        for seed in &config.seeds {
            all.set(seed, login.clone());
        }
    }
    all.headers = config.headers.secrets();
    if all != saved {
        all.save(db)?;
    }
    Ok(all)
}

/// What one `crawl` command brings besides its settings.
#[derive(Debug, Default)]
pub struct Inputs {
    /// Seed URLs as typed.
    pub seeds: Vec<String>,
    /// `--user`/`--password`: for every seed's origin (a seed's own userinfo is for its
    /// origin). Both are kept in the database's credentials file for the next resume.
    pub login: Option<Login>,
    /// `--cookies FILE` (Netscape cookies.txt), merged into the crawl's cookie jar first.
    pub cookies: Option<PathBuf>,
    /// `--seeds-file FILE` (`-`: stdin), streamed into the frontier.
    pub seeds_file: Option<PathBuf>,
    /// `--strict`: a seeds file with a bad line is refused whole.
    pub strict: bool,
    /// `--retry-failed [--kind ...]`: the failed URLs to request again this run (all kinds
    /// when empty).
    pub retry_failed: Option<Vec<crate::failure::ErrorKind>>,
}

/// Where a crawl's queue lives. Everything else about setting a crawl up (the store, the
/// credentials, cookies, the seeds file, the scope, the engine, the report and the summary) is
/// the same for both, and written once here; what differs is asked of
/// [`crate::cluster::worker`] at each step.
#[derive(Debug, Default)]
pub enum Backend<'a> {
    /// A crawl of its own, in its sled store.
    #[default]
    Own,
    /// A worker of a crawl shared over PostgreSQL (`crawl --frontier`, `worker`).
    Shared(Join<'a>),
}

/// The `crawl` command: checks the seeds, opens (or creates) the database at `db`, works out the
/// run's settings (saved ones on a resume, changed by `overrides`), and crawls until the queue is
/// empty, the page budget is spent, or `stop` is raised; then writes the `--report`.
pub fn start(
    db: &Path,
    inputs: &Inputs,
    overrides: &Overrides,
    stop: &StopSignal,
    progress: &Progress,
    report: Option<&Path>,
) -> Result<(Plan, Summary)> {
    start_on(&Backend::Own, db, inputs, overrides, stop, progress, report)
}

/// [`start`] on either backend. For [`Backend::Shared`], `db` is the worker's own store, and
/// `inputs` and `overrides` are what `crawl --frontier` gives a crawl it creates (or adds to
/// one already there: seeds, a seeds file, logins); `worker` gives none.
pub fn start_on(
    backend: &Backend<'_>,
    db: &Path,
    inputs: &Inputs,
    overrides: &Overrides,
    stop: &StopSignal,
    progress: &Progress,
    report: Option<&Path>,
) -> Result<(Plan, Summary)> {
    let (seeds, login) = (&inputs.seeds, inputs.login.as_ref());
    // A proxy's login is kept with the credentials, never in the saved settings.
    let mut overrides = overrides.clone();
    let mut given = CrawlConfig::new(db, seeds)?;
    if let Some(raw) = overrides.proxy.take() {
        let (url, login) = crate::config::proxy::parse(&raw)?;
        overrides.proxy = Some(url);
        given.credentials.proxy = login;
    }
    let overrides = &overrides;
    // Bad seeds, a bad seeds file with --strict, and bad settings for a new crawl, fail before
    // anything is created.
    if !db.exists() || matches!(backend, Backend::Shared(_)) {
        given.apply(overrides);
        given.validate()?;
    }
    let seeds_file = match &inputs.seeds_file {
        Some(path) => Some(crate::seeds_file::SeedsFile::open(path, inputs.strict)?),
        None => None,
    };
    let mut shared = match backend {
        Backend::Own => None,
        Backend::Shared(join) => {
            // One machine's address: this worker's, not the shared crawl's.
            let join = Join {
                bind: join.bind.clone().or(given.bind_address.take()),
                ..*join
            };
            let given = join.create.is_some().then_some(&given);
            Some(crate::cluster::worker::open_crawl(&join, given, login)?)
        }
    };
    let started = std::time::SystemTime::now();
    let store = Store::open(db, OpenMode::CreateOrOpen)?;
    let mut plan = match &mut shared {
        None => plan(db, given.seeds.clone(), overrides, &store)?,
        Some(shared) => {
            let (config, resumed) = shared.settings(db, &store)?;
            Plan {
                config,
                resumed,
                overridden: Vec::new(),
                seeds_file: None,
            }
        }
    };
    plan.config.credentials = match &shared {
        None => logins(db, &plan.config, given.credentials, login)?,
        Some(shared) => shared.credentials(db)?,
    };
    // The recrawl round's failed URLs (a shared crawl's too, once it takes --retry-failed).
    plan.config.retry_failed.clone_from(&inputs.retry_failed);
    if let Some(file) = seeds_file {
        plan.seeds_file = Some(match &shared {
            None => file.load(&store)?,
            Some(shared) => file.load_into(&mut shared.seed_sink()?)?,
        });
    }
    if let Some(file) = &inputs.cookies {
        let n = crate::fetch::cookies::import(db, file)?;
        log::info!("{}: {n} cookies taken into the crawl's jar", file.display());
    }
    let summary = run_on(shared.as_ref(), &plan.config, &store, stop, progress)?;
    if let Some(path) = report {
        // A worker's report: its run, and its own store's status (`status --frontier` has the
        // crawl's).
        write_report(&store, &summary, started, path)?;
    }
    crate::status_snapshot::close(store)?;
    Ok((plan, summary))
}

/// Writes the run report (`--report FILE`) of a run that started at `started` and ended with
/// `summary`, with `store`'s status: a crawl's own, or a worker's store in a shared crawl.
pub(crate) fn write_report(
    store: &Store,
    summary: &Summary,
    started: std::time::SystemTime,
    path: &Path,
) -> Result<()> {
    let r = Report::new(store, summary, started)?;
    let json = serde_json::to_vec_pretty(&r).map_err(|e| Error::Encode {
        what: "the run report",
        reason: e.to_string(),
    })?;
    std::fs::write(path, json)
        .map_err(|e| Error::io(format!("writing the report {}", path.display()), e))
}

/// Runs a crawl of `config` on an open store until the queue is empty, the page budget is
/// spent, or `stop` is raised, keeping `progress` up to date. Seeds from earlier runs of the
/// store stay in scope; the settings are saved for `status` and the next resume.
pub fn run(
    config: &CrawlConfig,
    store: &Store,
    stop: &StopSignal,
    progress: &Progress,
) -> Result<Summary> {
    run_on(None, config, store, stop, progress)
}

/// The frontier a run works on: a crawl's own, or this worker's view of a shared one.
enum Opened<'s> {
    Own(SledFrontier<'s>),
    Shared(Box<ClusterFrontier<'s>>),
}

impl Opened<'_> {
    fn frontier(&mut self) -> &mut dyn Frontier {
        match self {
            Opened::Own(f) => f,
            Opened::Shared(f) => f.as_mut(),
        }
    }
}

/// [`run`] on either backend (`shared`: a worker of that crawl).
fn run_on(
    shared: Option<&Shared>,
    config: &CrawlConfig,
    store: &Store,
    stop: &StopSignal,
    progress: &Progress,
) -> Result<Summary> {
    let started = Instant::now();
    crate::traps::set_dedupe_drop(&config.dedupe_drop);
    let (mut opened, scope, recrawl) = match shared {
        None => {
            let mut frontier = SledFrontier::open(store)?;
            let (scope, recrawl) = own_setup(config, store, &mut frontier)?;
            (Opened::Own(frontier), scope, recrawl)
        }
        Some(shared) => {
            let mut frontier = shared.join(store, config, stop)?;
            let scope = shared.scope(config, &mut frontier)?;
            // The place for a shared crawl's recrawl round, prepared over PostgreSQL.
            (Opened::Shared(Box::new(frontier)), scope, None)
        }
    };
    let round = recrawl.as_ref().map(|p| p.round);
    let (result, stats) = drive(
        config,
        store,
        opened.frontier(),
        scope,
        stop,
        progress,
        round,
    )?;
    let totals = match &mut opened {
        Opened::Own(_) => store.counters()?,
        Opened::Shared(frontier) => frontier.totals_now()?,
    };
    let stop = result?;
    if let (Opened::Shared(frontier), Some(shared)) = (opened, shared) {
        if frontier.refused > 0 {
            log::warn!(
                "worker {}: {} outcomes were not committed because their shard had moved to \
                 another worker (which fetches them again)",
                shared.worker(),
                frontier.refused
            );
        }
        // A clean stop: the other workers take this one's shards at once.
        frontier.leave()?;
    }
    Ok(Summary {
        run: stats,
        totals,
        round: match recrawl {
            Some(_) => store.round()?,
            None => None,
        },
        elapsed: started.elapsed(),
        stop,
    })
}

/// What a crawl of its own does before its engine starts: the scope (this run's seeds, those
/// of earlier runs, the seeds files' origins), the seeds queued, the settings saved, and the
/// recrawl round prepared.
fn own_setup(
    config: &CrawlConfig,
    store: &Store,
    frontier: &mut SledFrontier<'_>,
) -> Result<(crate::canon::Scope, Option<crate::recrawl::Prepared>)> {
    let prior: Option<CrawlConfig> = store.load_config()?;
    let prior_seeds = prior.map(|p| p.seeds).unwrap_or_default();
    let mut scope = config.scope(&prior_seeds)?;
    for origin in store.seed_origins() {
        let (origin, dirs) = origin?;
        scope.add_origin(&origin, &dirs);
    }
    frontier.add_seeds(&config.seeds)?;
    let mut saved = config.clone();
    crate::config::add_new_seeds(&mut saved.seeds, prior_seeds);
    if saved.seeds.is_empty() && store.seed_origins().next().is_none() {
        return Err(Error::Config(format!(
            "{} holds no crawl and no seed URL was given; give at least one URL to start",
            store.path().display()
        )));
    }
    store.save_config(&saved)?;
    let recrawl = crate::recrawl::prepare(store, config)?;
    if let Some(p) = &recrawl {
        log::info!(
            "recrawl round {}: {} rechecks queued{}, {} to go",
            p.round,
            p.queued,
            if p.continued { " (continued)" } else { "" },
            p.left
        );
    }
    // For `export` while this run holds the database (see `export::source`).
    if let Ok(json) = serde_json::to_vec(&saved) {
        let _ = std::fs::write(store.path().join(crate::store::SETTINGS_FILE), json);
    }
    Ok((scope, recrawl))
}

/// Runs the engine and the workers on `frontier` until the crawl stops, then shuts them down
/// in order and makes the store durable; returns how the engine ended and what this run did.
/// The same for both backends: a crawl of its own and a worker of a shared crawl.
pub(crate) fn drive(
    config: &CrawlConfig,
    store: &Store,
    frontier: &mut dyn Frontier,
    scope: crate::canon::Scope,
    stop: &StopSignal,
    progress: &Progress,
    round: Option<u32>,
) -> Result<(Result<StopReason>, crate::report::RunCounters)> {
    // Both backends come here: the seen-set's key follows this crawl's --dedupe-drop.
    crate::traps::set_dedupe_drop(&config.dedupe_drop);
    let parse_slots = std::thread::available_parallelism().map_or(2, |n| n.get());
    let addresses =
        crate::fetch::address::AddressRule::new(config.allow_private, scope.seed_hosts());
    let ctx = Arc::new(WorkerContext {
        fetcher: Fetcher::new(config)?.with_address_rule(addresses),
        scope,
        skips: crate::skips::SkipLog::open(store.path())?,
        max_depth: config.max_depth,
        requisites: config.requisites,
        parse_pool: runtime::Pool::new("parse", parse_slots)
            .map_err(|e| Error::io("starting the parse threads", e))?,
        token: config.product_token().to_string(),
        max_redirects: config.max_redirects,
        max_links: config.max_links,
        send_gate: crate::sendgate::SendGate::with_permits(frontier.send_permits()),
        bodies: store.body_log(),
        recheck: crate::recrawl::Schedule {
            refresh: config.refresh,
            older_than: config.older_than,
        },
        clock: config.clock.clone(),
        stop: stop.clone(),
    });

    frontier.watch_logins(ctx.fetcher.logins());

    let (job_tx, job_rx) = async_channel::unbounded::<Job>();
    let (out_tx, out_rx) = mpsc::channel::<Outcome>();
    let workers: Vec<_> = (0..config.concurrency)
        .map(|_| {
            let (ctx, jobs, outcomes) = (Arc::clone(&ctx), job_rx.clone(), out_tx.clone());
            runtime::spawn(async move {
                while let Ok(job) = jobs.recv().await {
                    // A bug that panics while processing one URL must not leave its lease
                    // unanswered (the engine would wait for it forever): it becomes a failure.
                    let fallback = job.internal_error();
                    let outcome = AssertUnwindSafe(worker::process(&ctx, job))
                        .catch_unwind()
                        .await
                        .unwrap_or(fallback);
                    if outcomes.send(outcome).is_err() {
                        break;
                    }
                }
            })
        })
        .collect();
    drop(out_tx);

    let flusher = store.flusher();
    // Both backends: the live WARC (`--warc`) of this run, this worker's in a shared crawl.
    let live_warc =
        crate::export::live::LiveWarc::start(store, config, frontier.counted_records())?;
    let forget = |origin: &str| ctx.fetcher.forget_origin(origin);
    let io = EngineIo {
        dir: store.path(),
        jobs: job_tx,
        outcomes: out_rx,
        flusher: &flusher,
        stop: stop.clone(),
        progress: progress.clone(),
        round,
        idle_origins: Some(&forget),
        skips: Some(&ctx.skips),
    };
    let mut engine = Engine::new(config, &ctx.scope, frontier, io)?;
    let result = engine.run();
    let mut stats = engine.stats;
    stats.traps = stats.traps.with_path_rules(ctx.scope.trap_counts());
    ctx.skips.finish();
    // Closing the job channel lets every worker finish its current fetch and exit. After a
    // stop whose grace ran out, fetches still running are left behind (their leases stay in
    // the database and are fetched again on resume) rather than waited for.
    drop(engine);
    if !matches!(result, Ok(StopReason::Interrupted(_))) {
        runtime::block_on(async {
            for w in workers {
                w.await;
            }
        });
    }
    drop(flusher);
    if let Some(w) = live_warc {
        // After the last flush: every page stored in this run is durable, so it is written.
        w.finish()?;
    }
    ctx.fetcher.save_cookies()?;
    crate::progress::Live::remove(store.path());
    crate::store::Durable::remove(store.path());
    store.checkpoint()?;
    store.flush()?;
    if let Some(why) = ctx.fetcher.stopped() {
        return Err(Error::ClientStopped(why.to_string()));
    }
    Ok((result, stats))
}
