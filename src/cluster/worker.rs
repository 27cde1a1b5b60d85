//! One worker process of a shared crawl: `crawl --frontier … --crawl NAME` (creates the crawl
//! when it is new, queues its seeds, and works on it) and `worker --frontier … --crawl NAME`
//! (joins it with the settings saved there). Each worker keeps its page records and bodies in
//! its own `--db` directory, which remembers the crawl and the worker's id in
//! [`IDENTITY_FILE`], so a worker restarted on the same directory is the same worker.

use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::frontier::ClusterFrontier;
use super::{crawls, ClusterCrawl};
use crate::config::CrawlConfig;
use crate::error::{Error, Result};
use crate::frontier::postgres::connect::FrontierUrl;
use crate::frontier::Frontier;
use crate::progress::Progress;
use crate::report::Summary;
use crate::shutdown::StopSignal;
use crate::store::{OpenMode, Store};

/// The file in a worker's `--db` directory naming its crawl and its worker id.
pub const IDENTITY_FILE: &str = "cluster.json";

/// How long a shard lease lasts without a renewal unless `--shard-lease` says otherwise: a
/// killed worker's shards wait this long for a new holder, and a worker cut off from
/// PostgreSQL stops sending after it.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(10);

/// What a worker's directory remembers of its crawl.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The crawl's name.
    pub crawl: String,
    /// This worker's id in it (in `workers`, `shards.holder` and `pages.worker`).
    pub worker: String,
}

impl Identity {
    /// The identity saved in `db`, if any.
    pub fn read(db: &Path) -> Result<Option<Identity>> {
        let path = db.join(IDENTITY_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| Error::Corrupt {
                    key: path.display().to_string(),
                    reason: e.to_string(),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(format!("reading {}", path.display()), e)),
        }
    }

    /// The identity of `db` in crawl `crawl`: the saved one, or a new id saved now; a
    /// directory that belongs to another crawl (or to a crawl of its own) is refused.
    fn of(db: &Path, store: &Store, crawl: &str) -> Result<Identity> {
        if let Some(id) = Identity::read(db)? {
            if id.crawl != crawl {
                return Err(Error::Config(format!(
                    "{} is worker {} of crawl {:?}, not {crawl:?}; give each crawl's workers \
                     their own --db",
                    db.display(),
                    id.worker,
                    id.crawl
                )));
            }
            return Ok(id);
        }
        if store.load_config::<CrawlConfig>()?.is_some() {
            return Err(Error::Config(format!(
                "{} holds a crawl of its own; give a worker of crawl {crawl:?} a new --db",
                db.display()
            )));
        }
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_default();
        let id = Identity {
            crawl: crawl.to_string(),
            worker: format!("{host}-{:08x}", fastrand::u32(..)),
        };
        let json = serde_json::to_vec_pretty(&id).map_err(|e| Error::Encode {
            what: "the worker's identity",
            reason: e.to_string(),
        })?;
        crate::replace_file::replace(
            &db.join(IDENTITY_FILE),
            &json,
            crate::replace_file::How {
                durable: true,
                private: false,
            },
        )
        .map_err(|e| Error::io(format!("writing {}", db.join(IDENTITY_FILE).display()), e))?;
        Ok(id)
    }
}

/// How a worker starts.
#[derive(Debug)]
pub struct Join<'a> {
    /// `--frontier`, as typed.
    pub frontier: &'a str,
    /// `--crawl`.
    pub crawl: &'a str,
    /// `--db`: this worker's own store.
    pub db: &'a Path,
    /// `crawl` (not `worker`): the settings and seeds of a crawl to create, with its shard
    /// count; a crawl of that name already there keeps its own settings and gets the seeds.
    pub create: Option<(CrawlConfig, i32)>,
    /// `--shard-lease`.
    pub lease: Duration,
    /// `--bind-address`: this worker's own (never saved in the shared settings).
    pub bind: Option<String>,
    /// `--report FILE`: this worker's run report, written at the end (also after Ctrl-C).
    pub report: Option<&'a Path>,
    /// `--cookies FILE`: a cookies.txt merged into this worker's jar before it starts (each
    /// worker keeps its own jar, in its store).
    pub cookies: Option<&'a Path>,
}

/// Checks the `--frontier` URL and reaches the crawl (creating it for `crawl`); nothing is
/// written locally before this succeeds.
pub fn open_crawl(join: &Join<'_>) -> Result<(FrontierUrl, ClusterCrawl, CrawlConfig)> {
    crawls::check_name(join.crawl)?;
    let url = FrontierUrl::parse(join.frontier)?;
    if let Some((config, _)) = &join.create {
        refuse_unsupported(config)?;
    }
    let mut client = url.connect()?;
    let (crawl, config) = match &join.create {
        // A crawl of that name already there keeps its saved settings; the seeds are added.
        Some((given, shards)) => {
            let (crawl, saved) = crawls::create(&mut client, &url, join.crawl, given, *shards)?;
            let mut same = saved.clone();
            (same.db, same.seeds) = (given.db.clone(), given.seeds.clone());
            same.retry_failed.clone_from(&given.retry_failed);
            if same != *given {
                log::warn!(
                    "crawl {:?} exists: its saved settings are used, not the flags given (they \
                     are the crawl's, shared by every worker)",
                    join.crawl
                );
            }
            let config = crawls::add_seeds(&mut client, &url, &crawl, &given.seeds)?;
            (crawl, config.unwrap_or(saved))
        }
        None => crawls::open(&mut client, &url, join.crawl)?,
    };
    refuse_unsupported(&config)?;
    Ok((url, crawl, config))
}

/// Settings a shared crawl does not support yet.
fn refuse_unsupported(config: &CrawlConfig) -> Result<()> {
    if config.recrawl {
        return Err(Error::Config(
            "--recrawl is not supported with --frontier yet (a recheck needs its previous \
             version's validators and digest, which only the store of the worker that fetched \
             it holds); recrawl a crawl of its own"
                .into(),
        ));
    }
    Ok(())
}

/// Works on the shared crawl until nothing is left in it anywhere, or `stop` is raised; gives
/// the shards back at the end (a clean stop), so the other workers take them at once.
pub fn run(join: &Join<'_>, stop: &StopSignal, progress: &Progress) -> Result<Summary> {
    let started = Instant::now();
    let started_wall = std::time::SystemTime::now();
    let (url, crawl, mut config) = open_crawl(join)?;
    config.db = join.db.to_path_buf();
    if join.bind.is_some() {
        config.bind_address = join.bind.clone();
        config.validate()?;
    }
    let store = Store::open(join.db, OpenMode::CreateOrOpen)?;
    let id = Identity::of(join.db, &store, join.crawl)?;
    // Each worker writes its own live WARC files: see `cluster::warc`.
    config.warc = config
        .warc
        .as_deref()
        .map(|p| super::warc::worker_prefix(p, &id.worker));
    // For a local export's WARC warcinfo, and `status --db` on this worker's store.
    store.save_config(&config)?;
    // A power cut can leave records this store counts but did not write whole. None of them
    // reached PostgreSQL (each commit is synced here first), which still has their URLs
    // queued: cut the page log back so the store reads clean (the copies recovery queues in
    // this store's own queue are never leased from it).
    if let Some(file) = join.cookies {
        let n = crate::fetch::cookies::import(join.db, file)?;
        log::info!(
            "{}: {n} cookies taken into this worker's jar",
            file.display()
        );
    }
    if let Some((
        CrawlConfig {
            retry_failed: Some(kinds),
            ..
        },
        _,
    )) = &join.create
    {
        super::retry::announce(&url, &crawl, kinds)?;
    }
    let lost = crate::frontier::recover_bodies(&store)?;
    if lost > 0 {
        log::info!("{lost} records cut by the last stop were dropped from this worker's store");
    }
    let seeds = match &join.create {
        Some((given, _)) => given.seeds.clone(),
        None => Vec::new(),
    };
    // A shard changes hands only after the crawl's gap: see `ShardLeases::set_hold`.
    let hold = config.request_interval().unwrap_or_default();
    let leases = (join.lease, hold);
    let mut frontier =
        ClusterFrontier::join(&store, url, &crawl, &id.worker, leases, stop.clone())?;
    log::info!("worker {} joined crawl {:?}", id.worker, crawl.name);
    frontier.add_seeds(&seeds)?;
    let scope = config.scope(&[])?;
    let (result, stats) =
        crate::crawl::drive(&config, &store, &mut frontier, scope, stop, progress, None)?;
    let refused = frontier.refused;
    if refused > 0 {
        log::warn!(
            "worker {}: {refused} outcomes were not committed because their shard had moved to \
             another worker (which fetches them again)",
            id.worker
        );
    }
    let totals = frontier.totals_now()?;
    let stop_reason = result?;
    frontier.leave()?;
    let summary = Summary {
        run: stats,
        totals,
        round: None,
        elapsed: started.elapsed(),
        stop: stop_reason,
    };
    if let Some(path) = join.report {
        // This worker's run, and its own store's status (`status --frontier` has the crawl's).
        crate::crawl::write_report(&store, &summary, started_wall, path)?;
    }
    crate::status_snapshot::close(store)?;
    Ok(summary)
}
