//! What is a shared crawl's own in setting up one worker process of it: `crawl --frontier …
//! --crawl NAME` (creates the crawl when it is new, queues its seeds, and works on it) and
//! `worker --frontier … --crawl NAME` (joins it with the settings saved there). The rest of the
//! setup is a crawl's like any other, in [`crate::crawl`], which calls these at its steps.
//! Each worker keeps its page records and bodies in its own `--db` directory, which remembers
//! the crawl and the worker's id in [`IDENTITY_FILE`], so a worker restarted on the same
//! directory is the same worker.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use super::frontier::ClusterFrontier;
use super::{crawls, ClusterCrawl};
use crate::config::request::{Credentials, Login};
use crate::config::CrawlConfig;
use crate::error::{Error, Result};
use crate::frontier::postgres::connect::FrontierUrl;
use crate::frontier::postgres::queue::SharedQueue;
use crate::shutdown::StopSignal;
use crate::store::Store;

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

/// How a worker joins a shared crawl: the flags of `crawl --frontier` and `worker` that are not
/// the crawl's settings.
#[derive(Debug)]
pub struct Join<'a> {
    /// `--frontier`, as typed.
    pub frontier: &'a str,
    /// `--crawl`.
    pub crawl: &'a str,
    /// `crawl` (not `worker`): the shard count of the crawl to create; a crawl of that name
    /// already there keeps its own settings and gets the seeds.
    pub create: Option<i32>,
    /// `--shard-lease`.
    pub lease: Duration,
    /// `--bind-address`: this worker's own (never saved in the shared settings).
    pub bind: Option<String>,
}

/// A shared crawl reached (and created, for `crawl`): what [`crate::crawl`] needs of it at the
/// steps where a worker differs from a crawl of its own.
pub(crate) struct Shared {
    url: FrontierUrl,
    crawl: ClusterCrawl,
    /// The crawl's settings as saved in PostgreSQL (credential headers `<redacted>` until
    /// [`Shared::settings`] fills them).
    config: CrawlConfig,
    /// The crawl's credentials, from `crawl_secrets`.
    credentials: Credentials,
    /// The seeds this command gives (queued by this worker).
    seeds: Vec<Url>,
    lease: Duration,
    bind: Option<String>,
    /// This worker's id, once its store is open.
    worker: Option<String>,
}

/// Checks the `--frontier` URL and reaches the crawl: creates it with `given` (the settings,
/// seeds and credentials of `crawl --frontier`) or joins it (`worker`: `given` is `None`); a
/// `login` is for every seed's origin of the crawl. Nothing is written locally before this
/// succeeds.
pub(crate) fn open_crawl(
    join: &Join<'_>,
    given: Option<&CrawlConfig>,
    login: Option<&Login>,
) -> Result<Shared> {
    crawls::check_name(join.crawl)?;
    let url = FrontierUrl::parse(join.frontier)?;
    if let Some(config) = given {
        refuse_unsupported(config)?;
    }
    let mut client = url.connect()?;
    let (crawl, config, credentials) = match (given, join.create) {
        // A crawl of that name already there keeps its saved settings; the seeds are added.
        (Some(given), Some(shards)) => {
            let (crawl, saved) = crawls::create(&mut client, &url, join.crawl, given, shards)?;
            let mut same = saved.clone();
            (same.db, same.seeds) = (given.db.clone(), given.seeds.clone());
            same.retry_failed.clone_from(&given.retry_failed);
            if same.headers.redacted() == given.headers.redacted() {
                same.headers = given.headers.clone();
            }
            if same != *given {
                log::warn!(
                    "crawl {:?} exists: its saved settings are used, not the flags given (they \
                     are the crawl's, shared by every worker)",
                    join.crawl
                );
            }
            let config = crawls::add_seeds(&mut client, &url, &crawl, &given.seeds)?;
            let config = config.unwrap_or(saved);
            // Workers already running built their scope from the seeds saved when they
            // started: they learn these origins from `seed_origins`, before the seeds are
            // queued (see `Shared::join`).
            let origins: Vec<super::seeds::SeedOrigin> = given
                .seeds
                .iter()
                .map(|u| {
                    let dir = (config.scope == crate::canon::ScopeKind::Prefix).then(|| {
                        let path = u.path();
                        path[..path.rfind('/').map_or(0, |i| i + 1)].to_string()
                    });
                    (crate::canon::origin_key(u), dir)
                })
                .collect();
            super::seeds::add(&mut client, &url, crawl.id, &origins, true)?;
            let mut mine = given.credentials.clone();
            if let Some(login) = login {
                for seed in &config.seeds {
                    mine.set(seed, login.clone());
                }
            }
            mine.headers = given.headers.secrets();
            let credentials = super::secrets::merge(&mut client, &url, crawl.id, &mine)?;
            (crawl, config, credentials)
        }
        _ => {
            let (crawl, config) = crawls::open_to_work(&mut client, &url, join.crawl)?;
            let credentials = super::secrets::load(&mut client, &url, crawl.id)?;
            (crawl, config, credentials)
        }
    };
    refuse_unsupported(&config)?;
    Ok(Shared {
        url,
        crawl,
        config,
        credentials,
        seeds: given.map(|g| g.seeds.clone()).unwrap_or_default(),
        lease: join.lease,
        bind: join.bind.clone(),
        worker: None,
    })
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

impl Shared {
    /// The crawl's settings for this worker, with `db` its store: its identity checked (or
    /// made), the credential headers' values put back, the settings kept in the store (for a
    /// local export's warcinfo and `status --db`), and what a power cut left half-written
    /// dropped. Returns them with whether this store had worked on the crawl before.
    pub(crate) fn settings(&mut self, db: &Path, store: &Store) -> Result<(CrawlConfig, bool)> {
        let resumed = Identity::read(db)?.is_some();
        let id = Identity::of(db, store, &self.crawl.name)?;
        let mut config = self.config.clone();
        config.db = db.to_path_buf();
        if self.bind.is_some() {
            config.bind_address.clone_from(&self.bind);
        }
        config.headers.fill(&self.credentials.headers);
        // Each worker writes its own live WARC files: see `cluster::warc`.
        config.warc = config
            .warc
            .as_deref()
            .map(|p| super::warc::worker_prefix(p, &id.worker));
        config.validate()?;
        store.save_config(&config)?;
        // A power cut can leave records this store counts but did not write whole. None of
        // them reached PostgreSQL (each commit is synced here first), which still has their
        // URLs queued: cut the page log back so the store reads clean (the copies recovery
        // queues in this store's own queue are never leased from it).
        let lost = crate::frontier::recover_bodies(store)?;
        if lost > 0 {
            log::info!("{lost} records cut by the last stop were dropped from this worker's store");
        }
        self.worker = Some(id.worker);
        Ok((config, resumed))
    }

    /// The crawl's credentials, with this worker's copy in its store's private credentials
    /// file brought up to date (a crawl of its own keeps its own there the same way).
    pub(crate) fn credentials(&self, db: &Path) -> Result<Credentials> {
        if Credentials::load(db)? != self.credentials {
            self.credentials.save(db)?;
        }
        Ok(self.credentials.clone())
    }

    /// Where a `--seeds-file` given to `crawl --frontier` goes: the shared queue, its origins in
    /// `seed_origins`.
    pub(crate) fn seed_sink(&self) -> Result<SharedSeeds<'_>> {
        Ok(SharedSeeds {
            shared: self,
            client: self.url.connect()?,
            queue: SharedQueue::new(self.crawl.id, self.crawl.shards).with_writer(self.worker()),
        })
    }

    /// Joins the crawl's frontier as this worker and queues the seeds this command gave.
    pub(crate) fn join<'s>(
        &self,
        store: &'s Store,
        config: &CrawlConfig,
        stop: &StopSignal,
    ) -> Result<ClusterFrontier<'s>> {
        let worker = self.worker.as_deref().unwrap_or("?");
        if let Some(kinds) = &config.retry_failed {
            // A round of the crawl's: planned here once, or joined (see `cluster::retry`).
            super::retry::announce(&self.url, &self.crawl, kinds)?;
        }
        // A shard changes hands only after the crawl's gap: see `ShardLeases::set_hold`.
        let hold = config.request_interval().unwrap_or_default();
        let mut frontier = ClusterFrontier::join(
            store,
            self.url.clone(),
            &self.crawl,
            worker,
            (self.lease, hold),
            stop.clone(),
        )?;
        log::info!("worker {worker} joined crawl {:?}", self.crawl.name);
        crate::frontier::Frontier::add_seeds(&mut frontier, &self.seeds)?;
        Ok(frontier)
    }

    /// The crawl's scope: its settings' seeds and every seed origin in `seed_origins`, those
    /// added from now on (another `crawl --frontier --seeds-file`) learnt by `frontier` as it
    /// looks for work.
    pub(crate) fn scope(
        &self,
        config: &CrawlConfig,
        frontier: &mut ClusterFrontier<'_>,
    ) -> Result<crate::canon::Scope> {
        let mut scope = config.scope(&[])?;
        let after = frontier.seed_origins(0, &mut |origin, dirs| scope.add_origin(origin, dirs))?;
        frontier.watch_seed_origins(scope.late_origins(), after);
        Ok(scope)
    }

    /// This worker's id.
    pub(crate) fn worker(&self) -> &str {
        self.worker.as_deref().unwrap_or("?")
    }
}

/// A seeds file's batches into a shared crawl: one transaction each, its new origins first.
pub(crate) struct SharedSeeds<'a> {
    shared: &'a Shared,
    client: postgres::Client,
    queue: SharedQueue,
}

impl crate::seeds_file::SeedSink for SharedSeeds<'_> {
    fn origins(&mut self, origins: &[(String, Option<String>)]) -> Result<()> {
        let s = self.shared;
        super::seeds::add(&mut self.client, &s.url, s.crawl.id, origins, false)
    }

    fn queue(&mut self, seeds: &[Url]) -> Result<u64> {
        let url = &self.shared.url;
        let err = |e: postgres::Error| {
            url.error(
                "queueing the seeds file",
                &e,
                crate::frontier::postgres::connect::STATEMENT_HINT,
            )
        };
        let entries: Vec<crate::frontier::QueueEntry> = seeds
            .iter()
            .map(|u| crate::frontier::QueueEntry::new(u.as_str(), 0))
            .collect();
        let mut tx = self.client.transaction().map_err(err)?;
        let added = self.queue.add(&mut tx, url, &entries)?;
        tx.commit().map_err(err)?;
        Ok(added.len() as u64)
    }
}
