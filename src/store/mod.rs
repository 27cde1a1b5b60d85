//! The crawl database: one sled directory holding the frontier and the fetched pages.
//!
//! Trees and key layout (all integers big-endian, so sled's byte order is numeric order):
//!
//! | tree       | key                         | value                                   |
//! |------------|-----------------------------|-----------------------------------------|
//! | `meta`     | `schema_version`, `counters`, `config`, `overrides`, `seen_runs` | u32 / postcard / JSON / JSON / postcard |
//! | `seen_inbox` | sequence number (u64)     | the seen-set entries of one transaction (see `frontier::sled::seen`) |
//! | `queue_chunks` | origin id (u64) ++ depth (u32) ++ seq (u64) of its first entry | queued entries of one origin and depth, packed (see [`crate::frontier::sled::queue`]) |
//! | `queue_log` | sequence number (u64)      | the queue changes of one transaction, until a checkpoint folds them into chunks |
//! | `delayed`  | due unix ms (u64) ++ queue key | [`QueueEntry`](crate::frontier::QueueEntry) waiting for a retry |
//! | `origins`  | `n` ++ origin / `i` ++ id   | id (u64) / origin string                |
//! | `meta`     | `pages_span`, `breakdown`   | the committed page records ([`page_log::Span`]) / [`Breakdown`] |
//! | `host_pages` | origin                    | [`HostTally`]: records stored per origin |
//! | `recent`   | page-log position (segment u32 ++ offset u64) | the frame's payload: records maybe not yet synced |
//! | `robots`   | origin                      | [`RobotsRecord`] (postcard)             |
//! | `hosts`    | origin id (u64)             | [`HostRecord`]: politeness state        |
//! | `meta`     | `recrawl_round`             | the latest recrawl [`rounds::Round`]     |
//! | `recrawl_hosts` | origin                 | [`rounds::HostRound`]: its counts in the latest round |
//! | `digests`  | SHA-1 of a body (20 bytes) ++ origin | the URL of that origin first stored with it (see [`crate::copies`]) |
//!
//! The seen-set lives mostly outside sled, in sorted run files under `seen/` (see
//! `frontier::sled::seen`). Page records live outside sled in append-only segment files under
//! `pages/` (see [`page_log`]), so a stored page costs no sled key; `status` reads the kept
//! tallies instead of the records. Bodies live apart from records so exports without bodies
//! and filters never read them, in their own segment files (see [`bodies`]). Every change that
//! must stay consistent (a lease, an outcome with its discovered URLs and counters) is one
//! transaction; see [`crate::frontier`].

pub mod bodies;
mod codec;
pub mod compact;
mod flusher;
pub mod marker;
mod sled_copy;
pub use flusher::{Durable, COMMITTED_FILE, DURABLE_FILE, SETTINGS_FILE};
mod open;
pub mod page_log;
mod records;
pub mod rounds;
mod upgrade;
mod upgrade_pages;
pub mod versions;

use std::path::{Path, PathBuf};

use serde::{de::DeserializeOwned, Serialize};
use sled::transaction::TransactionError;
use sled::Tree;

use crate::error::{Error, Result};
use crate::frontier::entry::Op;
use crate::frontier::sled::queue::QueueSet;
use crate::frontier::sled::seen::{Entry, SeenSet};
use bodies::{BodyLog, BodyRef};
pub(crate) use codec::{decode, encode};
pub use flusher::Flusher;
use page_log::{PageLog, Span, StoredPage};
pub use records::{
    Breakdown, Counters, Duplicate, DuplicateKind, HostRecord, HostTally, OverrideRecord,
    PageRecord, RobotsRecord, RobotsVerdict, UrlState,
};

/// On-disk format version; bumped whenever a record layout changes.
pub const SCHEMA_VERSION: u32 = 7;

/// Name of the file in the database directory where the writer records its pid, so a second
/// process can say who holds the lock.
pub(crate) const PID_FILE: &str = "politecrawl.pid";

/// The status a clean close leaves beside the database (see `crate::status_snapshot`), so
/// `status` on a stopped crawl needs no copy of sled's files. Every writer removes it before
/// it changes anything ([`Store::open`]).
pub const STATUS_SNAPSHOT_FILE: &str = "status-snapshot.json";

/// While a crawl runs, dirty pages are written to disk this often (see [`Store::flusher`]): a
/// power cut costs at most the outcomes of this window, and those URLs are simply fetched again.
pub const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

/// sled's page cache. Since schema 4 it holds no page records, only the queue's chunks and log,
/// the origins and tallies. A trade between the two benchmarks (2026-12-03): inserting 2 M URLs
/// over 100 k hosts peaked at 248 MB with 8 MiB, 269 MB with 16 and 279 MB with 32; the
/// single-origin crawl (20,000 pages) at 109–115 MB with 8 MiB, 94–104 MB with 16 or 32, at the
/// same pages/s. The frontier's bound is the tighter one, so 8.
pub const SLED_CACHE_BYTES: u64 = 8 * 1024 * 1024;

/// How often sled's own thread runs (it reclaims log segments; see `open.rs`).
pub const SLED_GC_EVERY_MS: u64 = 500;

pub(crate) const KEY_SCHEMA: &[u8] = b"schema_version";
pub(crate) const KEY_COUNTERS: &[u8] = b"counters";
const KEY_CONFIG: &[u8] = b"config";
const KEY_OVERRIDES: &[u8] = b"overrides";
pub(crate) const KEY_BREAKDOWN: &[u8] = b"breakdown";

/// The open database. One per process: sled locks the directory.
pub struct Store {
    path: PathBuf,
    pub(crate) db: sled::Db,
    pub(crate) meta: Tree,
    pub(crate) seen_inbox: Tree,
    pub(crate) seen_set: std::sync::Mutex<SeenSet>,
    pub(crate) queue_log: Tree,
    pub(crate) queue_set: std::sync::Mutex<QueueSet>,
    pub(crate) delayed: Tree,
    pub(crate) origins: Tree,
    pub(crate) host_pages: Tree,
    pub(crate) recent: Tree,
    pub(crate) page_log: std::sync::Arc<PageLog>,
    pub(crate) body_log: std::sync::Arc<BodyLog>,
    pub(crate) robots: Tree,
    pub(crate) hosts: Tree,
    /// Origins of seeds from `--seeds-file`, which are not in the saved settings (see
    /// [`crate::seeds_file`]).
    pub(crate) seed_origins: Tree,
    /// Each origin's counts in the latest recrawl round (see [`rounds`]).
    pub(crate) recrawl_hosts: Tree,
    /// Each body digest's first page, for duplicate content (see [`Store::claim_digest`]).
    pub(crate) digests: Tree,
    /// The committed span as of the latest flush: pages up to it survive any crash (what a
    /// live WARC may write, see [`crate::export::live`]).
    pub(crate) durable: std::sync::Arc<std::sync::Mutex<Option<Span>>>,
    /// For a store opened to read only: the private copy sled runs on (see `sled_copy.rs`),
    /// removed when the store is dropped.
    pub(crate) _sled_copy: Option<sled_copy::SledCopy>,
    /// Last, so it is dropped after every handle on sled above: waits until sled's lock on the
    /// database is given up (see [`open::Released`]).
    pub(crate) _released: Option<open::Released>,
}

/// Whether opening may create a new database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// `crawl`: create the directory and database when missing.
    CreateOrOpen,
    /// `status`, `export`: the database must exist, and is only read (sled runs on a private
    /// copy of its files, see `sled_copy.rs`).
    Existing,
    /// `compact`: the database must exist, and is written in place.
    ExistingWritable,
    /// `repair`: the database must exist; its seen-set is rebuilt from the queue, the parked
    /// retries and the page records before it is opened.
    Repair,
}

impl Store {
    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The running totals.
    pub fn counters(&self) -> Result<Counters> {
        match self
            .meta
            .get(KEY_COUNTERS)
            .map_err(|e| self.db_err("reading counters", e))?
        {
            Some(v) => decode("meta/counters", &v),
            None => Ok(Counters::default()),
        }
    }

    /// URLs waiting: queued or parked for a retry, counted from the trees (for checks and
    /// repairs; the counters keep the same number).
    pub(crate) fn count_queued(&self) -> Result<u64> {
        let mut queued = self.delayed.len() as u64;
        for kv in self.queue_set().iter()? {
            kv?;
            queued += 1;
        }
        Ok(queued)
    }

    /// The origin an id stands for (`origins`: `i` ++ id), if it has one.
    pub(crate) fn origin_by_id(&self, id: u64) -> Result<Option<String>> {
        let name_key = [&b"i"[..], &id.to_be_bytes()].concat();
        Ok(self
            .origins
            .get(name_key)
            .map_err(|e| self.db_err("reading origins", e))?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Saves the settings of the latest run, so `status` can show them and a resume can reuse
    /// them.
    pub fn save_config<T: Serialize>(&self, config: &T) -> Result<()> {
        let json = serde_json::to_vec(config).map_err(|e| Error::Encode {
            what: "the crawl settings",
            reason: e.to_string(),
        })?;
        self.meta
            .insert(KEY_CONFIG, json)
            .map_err(|e| self.db_err("saving the config", e))?;
        Ok(())
    }

    /// The settings of the latest run, when one was saved.
    pub fn load_config<T: DeserializeOwned>(&self) -> Result<Option<T>> {
        let Some(v) = self
            .meta
            .get(KEY_CONFIG)
            .map_err(|e| self.db_err("reading the config", e))?
        else {
            return Ok(None);
        };
        serde_json::from_slice(&v)
            .map(Some)
            .map_err(|e| Error::Corrupt {
                key: "meta/config".into(),
                reason: e.to_string(),
            })
    }

    /// Appends a resume's changed settings to the database's history, with the time.
    pub fn record_overrides(&self, changes: &[String]) -> Result<()> {
        let mut history = self.overrides()?;
        history.push(OverrideRecord {
            at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            changes: changes.to_vec(),
        });
        let json = serde_json::to_vec(&history).map_err(|e| Error::Encode {
            what: "the override history",
            reason: e.to_string(),
        })?;
        self.meta
            .insert(KEY_OVERRIDES, json)
            .map(drop)
            .map_err(|e| self.db_err("recording overrides", e))
    }

    /// Every recorded override, oldest first.
    pub fn overrides(&self) -> Result<Vec<OverrideRecord>> {
        match self
            .meta
            .get(KEY_OVERRIDES)
            .map_err(|e| self.db_err("reading meta", e))?
        {
            None => Ok(Vec::new()),
            Some(v) => serde_json::from_slice(&v).map_err(|e| Error::Corrupt {
                key: "meta/overrides".into(),
                reason: e.to_string(),
            }),
        }
    }

    /// The stored record of `url`, if it has one. Reads the records until it finds it (they
    /// are not indexed by URL): for tests and one-off lookups, not for a loop.
    pub fn find_page(&self, url: &str) -> Result<Option<PageRecord>> {
        Ok(self.find(url)?.map(|p| p.record))
    }

    /// The stored body of `url`, if it has one; as slow as [`Store::find_page`].
    pub fn find_body(&self, url: &str) -> Result<Option<Vec<u8>>> {
        match self.find(url)? {
            Some(StoredPage { body: Some(r), .. }) => self.read_body(&r).map(Some),
            _ => Ok(None),
        }
    }

    fn find(&self, url: &str) -> Result<Option<StoredPage>> {
        for p in self.stored() {
            let p = p?;
            if p.record.url == url {
                return Ok(Some(p));
            }
        }
        Ok(None)
    }

    /// Reads a stored body back (checked against its CRC).
    pub fn read_body(&self, r: &BodyRef) -> Result<Vec<u8>> {
        self.body_log.read(r).map_err(|cause| Error::Bodies {
            path: self.path.clone(),
            action: "reading a page body",
            cause,
        })
    }

    /// The body of a stored page (empty when it has none); one that does not read back whole
    /// is [`Error::DamagedBody`], naming its segment file and the page's URL.
    pub fn body_of(&self, page: &StoredPage) -> Result<Vec<u8>> {
        let Some(r) = &page.body else {
            return Ok(Vec::new());
        };
        self.body_log.read(r).map_err(|cause| {
            body_read_error(&self.path, &self.body_log, r, &page.record.url, cause)
        })
    }

    /// Writes a body to the segments (see [`bodies`]), for an outcome about to be
    /// settled.
    pub fn write_body(&self, body: &[u8]) -> Result<BodyRef> {
        self.body_log.append(body).map_err(|cause| Error::Bodies {
            path: self.path.clone(),
            action: "writing a page body",
            cause,
        })
    }

    /// The body segments, shared with the workers that write them.
    pub fn body_log(&self) -> std::sync::Arc<BodyLog> {
        std::sync::Arc::clone(&self.body_log)
    }

    /// Every stored record in the order stored, read lazily so memory stays flat.
    pub fn pages(&self) -> impl Iterator<Item = Result<PageRecord>> + '_ {
        self.stored().map(|p| p.map(|p| p.record))
    }

    /// Every stored page (record and body position) in the order stored.
    pub fn stored(&self) -> impl Iterator<Item = Result<StoredPage>> + '_ {
        let (iter, err) = match self.span() {
            Ok(span) => (Some(self.page_log.iter(&self.path, span)), None),
            Err(e) => (None, Some(e)),
        };
        err.map(Err)
            .into_iter()
            .chain(iter.into_iter().flatten().map(|r| r.map(|(_, p)| p)))
    }

    /// The committed page records' span.
    pub(crate) fn span(&self) -> Result<Span> {
        match self
            .meta
            .get(page_log::KEY_SPAN)
            .map_err(|e| self.db_err("reading the page records' span", e))?
        {
            Some(v) => decode("meta/pages_span", &v),
            None => Ok(Span::default()),
        }
    }

    /// Keeps the origin of a `--seeds-file` seed for the crawl's scope.
    pub fn add_seed_origin(&self, origin: &str, dir: Option<&str>) -> Result<()> {
        // The value: empty for the whole origin (as every entry before `scope=prefix` lines
        // were read), else the directories its seeds are limited to, one a line. A seed of the
        // whole origin lifts the limit for good.
        let err = |e| self.db_err("keeping a seed's origin", e);
        let old = self.seed_origins.get(origin.as_bytes()).map_err(err)?;
        let new = match (old.as_deref(), dir) {
            (Some([]), _) | (_, None) => Vec::new(),
            (None, Some(d)) => d.as_bytes().to_vec(),
            (Some(dirs), Some(d)) => {
                let text = String::from_utf8_lossy(dirs);
                if text.lines().any(|l| l == d) {
                    return Ok(());
                }
                format!("{text}\n{d}").into_bytes()
            }
        };
        if old.as_deref() == Some(&new[..]) {
            return Ok(());
        }
        self.seed_origins
            .insert(origin.as_bytes(), new)
            .map(|_| ())
            .map_err(err)
    }

    /// The origins of every `--seeds-file` seed so far, each with the directories its seeds
    /// are limited to (`scope=prefix` lines; none: the whole origin).
    pub fn seed_origins(&self) -> impl Iterator<Item = Result<(String, Vec<String>)>> + '_ {
        self.seed_origins.iter().map(|kv| {
            kv.map(|(k, v)| {
                let dirs = String::from_utf8_lossy(&v)
                    .lines()
                    .map(str::to_string)
                    .collect();
                (String::from_utf8_lossy(&k).into_owned(), dirs)
            })
            .map_err(|e| self.db_err("reading the seeds' origins", e))
        })
    }

    /// Records per status and per error kind, as kept by the transactions.
    pub fn breakdown(&self) -> Result<Breakdown> {
        self.get(&self.meta, KEY_BREAKDOWN, "meta/breakdown", "reading meta")
            .map(Option::unwrap_or_default)
    }

    /// What `origin` has stored.
    pub fn host_tally(&self, origin: &str) -> Result<HostTally> {
        self.get(&self.host_pages, origin, origin, "reading host tallies")
            .map(Option::unwrap_or_default)
    }

    /// Every origin's tally, by origin.
    pub fn host_tallies(&self) -> impl Iterator<Item = Result<(String, HostTally)>> + '_ {
        self.host_pages.iter().map(move |kv| {
            let (k, v) = kv.map_err(|e| self.db_err("iterating host tallies", e))?;
            let origin = String::from_utf8_lossy(&k).into_owned();
            let t = decode(&origin, &v)?;
            Ok((origin, t))
        })
    }

    /// The cached robots.txt verdict of an origin.
    pub fn robots(&self, origin: &str) -> Result<Option<RobotsRecord>> {
        self.get(&self.robots, origin, origin, "reading robots")
    }

    /// Caches a robots.txt verdict.
    pub fn put_robots(&self, origin: &str, rec: &RobotsRecord) -> Result<()> {
        self.robots
            .insert(origin, encode(rec))
            .map(drop)
            .map_err(|e| self.db_err("writing robots", e))
    }

    /// The URL of `url`'s origin first stored with this body digest, when it is not `url`;
    /// otherwise records `url` as that page and returns `None`. Written outside the outcome's
    /// transaction: a crash before the commit leaves `url` the digest's page, and `url`, still
    /// queued, is fetched again and claims it again (a page is never a copy of itself).
    pub fn claim_digest(&self, digest: &[u8; 20], url: &str) -> Result<Option<String>> {
        // Per origin: a host serving another's pages (a mirror) is crawled in its own right.
        let mut key = digest.to_vec();
        key.extend_from_slice(origin_of_url(url).as_bytes());
        let old = self
            .digests
            .compare_and_swap(key, None as Option<&[u8]>, Some(url.as_bytes()))
            .map_err(|e| self.db_err("writing a body digest", e))?;
        Ok(match old {
            Ok(()) => None,
            Err(e) => e
                .current
                .map(|v| String::from_utf8_lossy(&v).into_owned())
                .filter(|first| first != url),
        })
    }

    /// Every cached robots.txt verdict, by origin.
    pub fn all_robots(&self) -> impl Iterator<Item = Result<(String, RobotsRecord)>> + '_ {
        self.robots.iter().map(move |kv| {
            let (k, v) = kv.map_err(|e| self.db_err("iterating robots", e))?;
            let origin = String::from_utf8_lossy(&k).into_owned();
            Ok((origin.clone(), decode(&origin, &v)?))
        })
    }

    /// The persisted politeness state of an origin.
    pub fn host(&self, origin_id: u64) -> Result<Option<HostRecord>> {
        self.get(
            &self.hosts,
            origin_id.to_be_bytes(),
            "hosts",
            "reading hosts",
        )
    }

    /// Every persisted host state.
    pub fn all_hosts(&self) -> impl Iterator<Item = Result<HostRecord>> + '_ {
        self.hosts.iter().map(move |kv| {
            let (_, v) = kv.map_err(|e| self.db_err("iterating hosts", e))?;
            decode("hosts", &v)
        })
    }

    /// The open seen-set. Only the engine's thread writes; the lock is never contended.
    pub(crate) fn seen_set(&self) -> std::sync::MutexGuard<'_, SeenSet> {
        // A panic while holding it cannot leave it half-changed: it changes only after a commit.
        self.seen_set.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The queue's storage. Only the engine's thread writes; the lock is never contended.
    pub(crate) fn queue_set(&self) -> std::sync::MutexGuard<'_, QueueSet> {
        // It changes only after a commit, so a panic cannot leave it half-changed.
        self.queue_set.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes in the queue changes a committed transaction wrote as log value `key`, and folds
    /// them into the chunks when a checkpoint is due.
    pub(crate) fn queue_committed(
        &self,
        queue: &mut QueueSet,
        key: Option<u64>,
        ops: Vec<Op>,
    ) -> Result<()> {
        queue.apply(key, ops);
        if queue.needs_checkpoint() {
            queue.checkpoint()?;
        }
        Ok(())
    }

    /// The seen-set's run files in use, oldest first (every other file in `seen/` is a
    /// leftover of an interrupted checkpoint, removed when a crawl opens the database).
    pub fn seen_run_files(&self) -> Vec<PathBuf> {
        self.seen_set().run_paths().map(Path::to_path_buf).collect()
    }

    /// Takes in the seen-set entries a committed transaction wrote as inbox value `key`, and
    /// folds the inbox into a run when it is due.
    pub(crate) fn seen_committed(
        &self,
        seen: &mut SeenSet,
        key: Option<u64>,
        entries: &[Entry],
    ) -> Result<()> {
        if let Some(key) = key {
            seen.record(key, entries);
        }
        if seen.needs_checkpoint() {
            seen.checkpoint(&self.db, &self.meta, &self.seen_inbox)?;
        }
        Ok(())
    }

    /// The trees an outcome touches, for one transaction over all of them: meta, seen_inbox,
    /// queue_log, origins, host_pages, hosts, recent and recrawl_hosts.
    pub(crate) fn outcome_trees(&self) -> OutcomeTrees<'_> {
        let s = self;
        (
            &s.meta,
            &s.seen_inbox,
            &s.queue_log,
            &s.origins,
            &s.host_pages,
            &s.hosts,
            &s.recent,
            &s.recrawl_hosts,
        )
    }

    /// The record under `key` in `tree`, decoded; `name` says which in a corruption message.
    pub(crate) fn get<T: DeserializeOwned>(
        &self,
        tree: &Tree,
        key: impl AsRef<[u8]>,
        name: &str,
        action: &'static str,
    ) -> Result<Option<T>> {
        tree.get(key)
            .map_err(|e| self.db_err(action, e))?
            .map(|v| decode(name, &v))
            .transpose()
    }

    pub(crate) fn db_err(&self, action: &'static str, cause: sled::Error) -> Error {
        Error::Db {
            path: self.path.clone(),
            action,
            cause,
        }
    }

    pub(crate) fn tx_err(&self, action: &'static str, e: TransactionError<Error>) -> Error {
        match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(cause) => self.db_err(action, cause),
        }
    }
}

/// See [`Store::outcome_trees`].
pub(crate) type OutcomeTrees<'a> = (
    &'a Tree,
    &'a Tree,
    &'a Tree,
    &'a Tree,
    &'a Tree,
    &'a Tree,
    &'a Tree,
    &'a Tree,
);

/// The origin a stored URL's tallies are kept under (empty for a URL that does not parse,
/// which no stored record has).
pub fn origin_of_url(url: &str) -> String {
    url::Url::parse(url)
        .map(|u| crate::canon::origin_key(&u))
        .unwrap_or_default()
}

/// Why a body did not read back: cut, overwritten or missing (damaged data, named with its
/// segment file and URL), or the disk's own failure.
pub(crate) fn body_read_error(
    db: &Path,
    bodies: &BodyLog,
    r: &BodyRef,
    url: &str,
    cause: std::io::Error,
) -> Error {
    use std::io::ErrorKind::{InvalidData, NotFound, UnexpectedEof};
    match cause.kind() {
        UnexpectedEof | InvalidData | NotFound => Error::DamagedBody {
            segment: bodies.segment_path(r.segment),
            url: url.to_string(),
            reason: cause.to_string(),
        },
        _ => Error::Bodies {
            path: db.to_path_buf(),
            action: "reading a page body",
            cause,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failure::{ErrorKind, Failure};

    #[test]
    fn records_round_trip() {
        let r = PageRecord {
            url: "http://a/".into(),
            final_url: "http://a/".into(),
            state: UrlState::Failed,
            status: Some(404),
            headers: vec![("content-type".into(), "text/html".into())],
            content_type: Some("text/html".into()),
            body_len: 3,
            truncated: false,
            body_skipped: false,
            redirect_chain: vec![],
            fetched_at: "2026-01-01T00:00:00Z".into(),
            elapsed_ms: 5,
            depth: 2,
            referrer: None,
            attempts: 1,
            error: Some(Failure {
                kind: ErrorKind::HttpStatus,
                message: "404 Not Found".into(),
            }),
            http_version: None,
            ip: None,
            stored_at_us: None,
            version: None,
            links_dropped: 0,
            duplicate: None,
        };
        assert_eq!(decode::<PageRecord>("k", &encode(&r)).unwrap(), r);
        assert!(decode::<PageRecord>("k", b"\xff\xff").is_err());
    }

    #[test]
    fn a_directory_of_other_files_is_refused_untouched() {
        let dir = tempdir("other");
        std::fs::write(dir.join("notes.txt"), "mine").unwrap();
        let err = Store::open(&dir, OpenMode::CreateOrOpen).err().unwrap();
        assert!(matches!(err, Error::NotADatabase { .. }), "{err}");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
    }

    #[test]
    fn future_schema_is_refused() {
        let dir = tempdir("schema");
        {
            let s = Store::open(&dir, OpenMode::CreateOrOpen).unwrap();
            s.meta.insert(KEY_SCHEMA, &99u32.to_be_bytes()).unwrap();
            s.flush().unwrap();
        }
        let err = Store::open(&dir, OpenMode::Existing).err().unwrap();
        assert!(err.to_string().contains("schema version 99"), "{err}");
    }

    #[test]
    fn second_open_reports_the_lock() {
        let dir = tempdir("lock");
        let _first = Store::open(&dir, OpenMode::CreateOrOpen).unwrap();
        let err = Store::open(&dir, OpenMode::Existing).err().unwrap();
        let msg = err.to_string();
        assert!(
            msg.contains("in use") && msg.contains(&std::process::id().to_string()),
            "{msg}"
        );
    }

    fn tempdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("pc-store-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
