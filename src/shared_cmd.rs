//! The subcommands of a crawl shared over PostgreSQL (`crawl --frontier`, `worker`, `status
//! --frontier`, `export --frontier`): argument checks, one library call each, and what they
//! print. Kept apart from `main.rs`, which dispatches here.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use politecrawl::cluster::export::ClusterSource;
use politecrawl::cluster::worker::Join;
use politecrawl::cluster::{status, FrontierUrl, DEFAULT_SHARDS};
use politecrawl::crawl::{Backend, Inputs};
use politecrawl::export::Source;
use politecrawl::progress::Progress;
use politecrawl::{Overrides, StopReason, StopSignal};

use crate::cli::{CrawlArgs, WorkerArgs};
use crate::terminal;

/// `crawl --frontier URL --crawl NAME`: creates the crawl (its settings and seeds in
/// PostgreSQL, its credentials apart from them) when new, adds the seeds, the seeds file and
/// the logins given to it, then works on it as one worker.
pub fn crawl(
    args: &CrawlArgs,
    db: &Path,
    frontier: &str,
    name: &str,
    login: Option<politecrawl::Login>,
) -> Result<ExitCode> {
    let join = Join {
        frontier,
        crawl: name,
        create: Some(args.shards.unwrap_or(DEFAULT_SHARDS)),
        lease: args.shard_lease,
        bind: None,
    };
    let inputs = args.inputs(login);
    let run = Run {
        db,
        report: args.report.as_deref(),
        no_progress: args.no_progress,
        every: args.progress_every,
    };
    work(join, &inputs, &args.settings, &run)
}

/// `worker`: joins a shared crawl with its saved settings and credentials.
pub fn worker(args: &WorkerArgs) -> Result<ExitCode> {
    let join = Join {
        frontier: &args.frontier,
        crawl: &args.crawl,
        create: None,
        lease: args.shard_lease,
        bind: args.bind_address.clone(),
    };
    let inputs = politecrawl::crawl::Inputs {
        cookies: args.cookies.clone(),
        ..Default::default()
    };
    let run = Run {
        db: &args.db,
        report: args.report.as_deref(),
        no_progress: args.no_progress,
        every: args.progress_every,
    };
    work(join, &inputs, &Overrides::default(), &run)
}

/// What a worker's command line says about its own run.
struct Run<'a> {
    db: &'a Path,
    report: Option<&'a Path>,
    no_progress: bool,
    every: Duration,
}

fn work(join: Join<'_>, inputs: &Inputs, overrides: &Overrides, run: &Run<'_>) -> Result<ExitCode> {
    let stop = StopSignal::new();
    terminal::watch_signals(stop.clone())?;
    let progress = Progress::new();
    let display = terminal::ProgressDisplay::start(progress.clone(), run.no_progress, run.every);
    let name = join.crawl;
    let backend = Backend::Shared(join);
    let result = politecrawl::crawl::start_on(
        &backend, run.db, inputs, overrides, &stop, &progress, run.report,
    );
    display.finish();
    let (plan, summary) = result?;
    if let Some(l) = plan.seeds_file {
        eprintln!(
            "seeds file: {} seeds ({} new to crawl {:?}), {} bad lines skipped",
            l.seeds, l.queued, name, l.bad
        );
    }
    eprintln!("{summary}");
    if matches!(
        summary.stop,
        StopReason::Interrupted(_) | StopReason::DiskLow
    ) {
        eprintln!(
            "this worker left crawl {:?}; the others go on. To rejoin{}: politecrawl worker \
             --frontier URL --crawl {} --db {}",
            name,
            if summary.stop == StopReason::DiskLow {
                " once there is room"
            } else {
                ""
            },
            name,
            run.db.display()
        );
    }
    // The same codes as a crawl of its own (see `StopReason::exit_code`).
    Ok(ExitCode::from(summary.stop.exit_code()))
}

/// `status --frontier URL --crawl NAME [--json]`.
pub fn status(frontier: &str, name: &str, json: bool) -> Result<ExitCode> {
    let url = FrontierUrl::parse(frontier)?;
    let s = status::status(&url, name)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        print!("{s}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `export --frontier URL --crawl NAME --db W1 --db W2 …`: the workers' stores as one source.
pub fn source(
    frontier: &str,
    name: &str,
    dbs: &[PathBuf],
    open: impl Fn(&Path) -> Result<Box<dyn Source>>,
) -> Result<ClusterSource> {
    let url = FrontierUrl::parse(frontier)?;
    let stores = dbs
        .iter()
        .map(|db| Ok((db.clone(), open(db)?)))
        .collect::<Result<Vec<_>>>()?;
    let source = ClusterSource::open(&url, name, stores)
        .with_context(|| format!("exporting shared crawl {name:?}"))?;
    for (worker, store, pages) in &source.missing {
        eprintln!(
            "warning: {pages} pages of crawl {name:?} are in worker {worker}'s store ({store}), \
             which was not given: add --db {store} to export them"
        );
    }
    Ok(source)
}
