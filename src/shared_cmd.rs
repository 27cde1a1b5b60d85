//! The subcommands of a crawl shared over PostgreSQL (`crawl --frontier`, `worker`, `status
//! --frontier`, `export --frontier`): argument checks, one library call each, and what they
//! print. Kept apart from `main.rs`, which dispatches here.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use politecrawl::cluster::export::ClusterSource;
use politecrawl::cluster::worker::{self, Join};
use politecrawl::cluster::{status, FrontierUrl, DEFAULT_SHARDS};
use politecrawl::export::Source;
use politecrawl::progress::Progress;
use politecrawl::{CrawlConfig, StopReason, StopSignal};

use crate::cli::{CrawlArgs, WorkerArgs};
use crate::terminal;

/// `crawl --frontier URL --crawl NAME`: creates the crawl (its settings and seeds in
/// PostgreSQL) when new, then works on it as one worker.
pub fn crawl(args: &CrawlArgs, db: &Path, frontier: &str, name: &str) -> Result<ExitCode> {
    let has_login = |raw: &str| {
        url::Url::parse(raw.trim())
            .is_ok_and(|u| !u.username().is_empty() || u.password().is_some())
    };
    let unsupported = [
        (args.seeds_file.is_some(), "--seeds-file"),
        (args.user.is_some(), "--user/--password"),
        // Credentials are kept in one store's credentials file only; these would have to be in
        // the shared settings, which every worker and `status` read.
        (
            args.seeds.iter().any(|s| has_login(s)),
            "a seed with user:password@",
        ),
        (
            args.settings.proxy.as_deref().is_some_and(has_login),
            "--proxy with a login",
        ),
        (
            !politecrawl::Headers::from(args.settings.headers.clone())
                .secrets()
                .is_empty(),
            "--header with a credential (Cookie, or a name with key, token, secret, auth or \
             session)",
        ),
    ];
    if let Some((_, flag)) = unsupported.iter().find(|(given, _)| *given) {
        return Err(politecrawl::Error::Config(format!(
            "{flag} is not supported with --frontier yet; give it to a crawl of its own"
        ))
        .into());
    }
    let mut config = CrawlConfig::new(db, &args.seeds)?;
    config.apply(&args.settings);
    config.retry_failed = args.retry_failed.then(|| args.kind.clone());
    config.validate()?;
    // One machine's address: this worker's, not the shared crawl's.
    let bind = config.bind_address.take();
    let join = Join {
        frontier,
        crawl: name,
        db,
        create: Some((config, args.shards.unwrap_or(DEFAULT_SHARDS))),
        lease: args.shard_lease,
        bind,
        report: args.report.as_deref(),
        cookies: args.cookies.as_deref(),
    };
    work(&join, args.no_progress, args.progress_every)
}

/// `worker`: joins a shared crawl with its saved settings.
pub fn worker(args: &WorkerArgs) -> Result<ExitCode> {
    let join = Join {
        frontier: &args.frontier,
        crawl: &args.crawl,
        db: &args.db,
        create: None,
        lease: args.shard_lease,
        bind: args.bind_address.clone(),
        report: args.report.as_deref(),
        cookies: args.cookies.as_deref(),
    };
    work(&join, args.no_progress, args.progress_every)
}

fn work(join: &Join<'_>, no_progress: bool, every: Duration) -> Result<ExitCode> {
    let stop = StopSignal::new();
    terminal::watch_signals(stop.clone())?;
    let progress = Progress::new();
    let display = terminal::ProgressDisplay::start(progress.clone(), no_progress, every);
    let result = worker::run(join, &stop, &progress);
    display.finish();
    let summary = result?;
    eprintln!("{summary}");
    if matches!(
        summary.stop,
        StopReason::Interrupted(_) | StopReason::DiskLow
    ) {
        eprintln!(
            "this worker left crawl {:?}; the others go on. To rejoin{}: politecrawl worker \
             --frontier URL --crawl {} --db {}",
            join.crawl,
            if summary.stop == StopReason::DiskLow {
                " once there is room"
            } else {
                ""
            },
            join.crawl,
            join.db.display()
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
