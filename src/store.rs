//! The crawl database: one sled directory holding the frontier and the fetched pages.
//!
//! Trees and key layout (all integers big-endian, so sled's byte order is numeric order):
//!
//! | tree       | key                         | value                                   |
//! |------------|-----------------------------|-----------------------------------------|
//! | `meta`     | `schema_version`, `counters`, `config`, `seeds` | u32 / postcard / JSON / JSON |
//! | `seen`     | normalized URL              | its queue key (the URL was queued once, ever) |
//! | `queue`    | origin id (u64) ++ depth (u32) ++ seq (u64) | [`QueueEntry`] (postcard) |
//! | `delayed`  | due unix ms (u64) ++ queue key | [`QueueEntry`] waiting for a retry    |
//! | `origins`  | `n` ++ origin / `i` ++ id   | id (u64) / origin string                |
//! | `pages`    | normalized URL              | [`PageRecord`] (postcard)               |
//! | `bodies`   | normalized URL              | [`BodyRef`]: where the body is in `bodies/` |
//! | `recent`   | body position (segment u32 ++ offset u64) | URL: bodies maybe not yet synced |
//! | `robots`   | origin                      | [`RobotsRecord`] (postcard)             |
//! | `hosts`    | origin id (u64)             | [`HostRecord`]: politeness state        |
//!
//! Bodies live apart from records so `status` and filters never read them, and outside sled
//! altogether, in append-only segment files (see [`crate::bodies`]). Every change that
//! must stay consistent (a lease, an outcome with its discovered URLs and counters) is one
//! transaction; see [`crate::frontier`].

use std::path::{Path, PathBuf};

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use sled::transaction::TransactionError;
use sled::Tree;

use crate::bodies::{BodyLog, BodyRef};
use crate::error::{Error, Result};

/// On-disk format version; bumped whenever a record layout changes.
pub const SCHEMA_VERSION: u32 = 2;

/// Name of the file in the database directory where the writer records its pid, so a second
/// process can say who holds the lock.
const PID_FILE: &str = "politecrawl.pid";

/// While a crawl runs, dirty pages are written to disk this often (see [`Store::flusher`]): a
/// power cut costs at most the outcomes of this window, and those URLs are simply fetched again.
pub const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

/// sled's page cache. Measured on the benchmark site: 32 MiB keeps peak RSS 20–25 MB lower than
/// 64 MiB at the same throughput; 16 MiB saves little more.
pub const SLED_CACHE_BYTES: u64 = 32 * 1024 * 1024;

const KEY_SCHEMA: &[u8] = b"schema_version";
pub(crate) const KEY_COUNTERS: &[u8] = b"counters";
const KEY_CONFIG: &[u8] = b"config";
const KEY_OVERRIDES: &[u8] = b"overrides";

/// Running totals, kept in the same transactions as the records they count, so they always
/// agree with the trees.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// URLs waiting in the queue (retries waiting for their time included).
    pub queued: u64,
    /// Always 0 in the database: leases live in the running crawl's memory (leased URLs stay
    /// counted as queued). Kept for `status --json`'s `in_flight` field; a running crawl's live
    /// numbers carry the real count.
    pub in_flight: u64,
    /// URLs with a stored successful response.
    pub done: u64,
    /// URLs stored as failed (error status or no response).
    pub failed: u64,
    /// URLs not fetched because robots.txt disallows them.
    pub blocked: u64,
    /// Body bytes stored.
    pub bytes: u64,
}

impl Counters {
    /// Outcomes of requests made, which is what `--max-pages` counts (blocked URLs cost no
    /// request and are not counted).
    pub fn stored(&self) -> u64 {
        self.done + self.failed
    }
}

/// Final state of a URL with a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UrlState {
    /// A response was stored (2xx or a redirect).
    Done,
    /// The server answered with an error status, or no usable response came.
    Failed,
    /// robots.txt disallows it: never requested.
    Blocked,
}

impl UrlState {
    /// The lowercase name used in exports and status.
    pub fn as_str(self) -> &'static str {
        match self {
            UrlState::Done => "done",
            UrlState::Failed => "failed",
            UrlState::Blocked => "blocked",
        }
    }
}

/// The closed set of reasons a URL can fail. Local failures are never disguised as HTTP
/// statuses: `http_status` is the only kind that comes with a status code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The server answered with a 4xx or 5xx status.
    HttpStatus,
    /// The connect or whole-request time limit passed.
    Timeout,
    /// The TCP connection could not be made.
    Connect,
    /// The host name did not resolve.
    Dns,
    /// The TLS handshake or certificate check failed.
    Tls,
    /// The connection broke while the response was being read.
    Reset,
    /// The response was not valid HTTP.
    InvalidResponse,
    /// The body's Content-Encoding (gzip, deflate, br) did not decode.
    Decode,
    /// A redirect led back to a URL already in its own chain.
    RedirectLoop,
    /// More than `--max-redirects` redirects in a row.
    TooManyRedirects,
    /// A redirect to something that is not an http(s) URL (recorded, not followed).
    UnsupportedRedirect,
    /// robots.txt disallows the URL (state `blocked`; the message names the rule).
    RobotsDisallowed,
    /// The host's robots.txt stayed unreachable past `--robots-give-up`.
    RobotsUnreachable,
    /// Anything the HTTP client reports that fits none of the above.
    Other,
}

impl ErrorKind {
    /// The snake_case name used in exports and status.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::HttpStatus => "http_status",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Connect => "connect",
            ErrorKind::Dns => "dns",
            ErrorKind::Tls => "tls",
            ErrorKind::Reset => "reset",
            ErrorKind::InvalidResponse => "invalid_response",
            ErrorKind::Decode => "decode",
            ErrorKind::RedirectLoop => "redirect_loop",
            ErrorKind::TooManyRedirects => "too_many_redirects",
            ErrorKind::UnsupportedRedirect => "unsupported_redirect",
            ErrorKind::RobotsDisallowed => "robots_disallowed",
            ErrorKind::RobotsUnreachable => "robots_unreachable",
            ErrorKind::Other => "other",
        }
    }

    /// A plain-words explanation, put in front of the client's own message.
    pub fn describe(self) -> &'static str {
        match self {
            ErrorKind::HttpStatus => "the server answered with an error status",
            ErrorKind::Timeout => "no complete response within the time limit",
            ErrorKind::Connect => "could not connect to the server",
            ErrorKind::Dns => "the host name did not resolve",
            ErrorKind::Tls => "the TLS handshake or certificate check failed",
            ErrorKind::Reset => "the connection broke before the response was complete",
            ErrorKind::InvalidResponse => "the response was not valid HTTP",
            ErrorKind::Decode => "the body did not decode",
            ErrorKind::RedirectLoop => "the redirect leads back into its own chain",
            ErrorKind::TooManyRedirects => "too many redirects in a row",
            ErrorKind::UnsupportedRedirect => "the redirect is not to an http(s) URL",
            ErrorKind::RobotsDisallowed => "robots.txt disallows it",
            ErrorKind::RobotsUnreachable => "the host's robots.txt stayed unreachable",
            ErrorKind::Other => "the HTTP client failed",
        }
    }
}

/// Why a URL failed: a kind to group by and the client's own words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// Human-readable detail.
    pub message: String,
}

/// What is stored for each URL that reached a final state. The body is kept apart, under the
/// same key in the `bodies` tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageRecord {
    /// The normalized URL requested.
    pub url: String,
    /// Where the response says the resource is: the redirect target for a 3xx with
    /// `Location`, else `url` itself.
    pub final_url: String,
    /// Done or failed.
    pub state: UrlState,
    /// HTTP status, when a response came.
    pub status: Option<u16>,
    /// Response headers in the order received.
    pub headers: Vec<(String, String)>,
    /// The Content-Type header, when present.
    pub content_type: Option<String>,
    /// Bytes of body stored (after transfer decoding, see the README).
    pub body_len: u64,
    /// The body was longer than `--max-body` and was cut.
    pub truncated: bool,
    /// The body was not downloaded: its type is not in `--accept-type`.
    pub body_skipped: bool,
    /// The redirects that led here, first hop first (empty when reached by a link).
    pub redirect_chain: Vec<String>,
    /// When the response finished, RFC 3339 UTC.
    pub fetched_at: String,
    /// Time from request start to the end of the body.
    pub elapsed_ms: u64,
    /// Link distance from a seed.
    pub depth: u32,
    /// The page where the URL was found (the redirecting URL for a redirect target).
    pub referrer: Option<String>,
    /// Requests made for this URL, this one included.
    pub attempts: u32,
    /// Why it failed, for failed URLs.
    pub error: Option<Failure>,
}

/// What was learned from an origin's robots.txt, cached so a resumed crawl does not fetch it
/// again within a day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RobotsRecord {
    /// Unix time in milliseconds of the fetch (or of the latest failed try).
    pub fetched_at_ms: u64,
    /// What the fetch gave.
    pub verdict: RobotsVerdict,
    /// The robots.txt body (capped), when there were rules.
    pub body: Vec<u8>,
    /// `Sitemap:` lines.
    pub sitemaps: Vec<String>,
    /// `Crawl-delay` for our group, in milliseconds, before the cap.
    pub crawl_delay_ms: Option<u64>,
}

/// How a robots.txt fetch ended, per RFC 9309.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RobotsVerdict {
    /// 2xx: the body's rules apply.
    Rules {
        /// HTTP status.
        status: u16,
    },
    /// 4xx (not 429), or too many redirects: everything is allowed.
    AllowAll {
        /// Why, in words (e.g. "404").
        reason: String,
    },
    /// 5xx, 429 or a network failure: nothing may be fetched for now.
    Unreachable {
        /// Why, in words.
        reason: String,
        /// Unix ms of the first failure in this streak.
        since_ms: u64,
        /// Failed tries in this streak.
        tries: u32,
    },
    /// Unreachable for longer than `--robots-give-up`: the host's URLs failed.
    GaveUp {
        /// Why, in words.
        reason: String,
    },
}

/// One origin's persisted politeness state, so a resumed crawl does not burst a host it was
/// backing off from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostRecord {
    /// The origin.
    pub origin: String,
    /// Unix ms before which no request may start (0: none).
    pub not_before_ms: u64,
    /// Current back-off delay between starts, from 429/503 without Retry-After.
    pub backoff_ms: u64,
    /// Current response-time throttle delay between starts.
    pub throttle_ms: u64,
    /// Times the host was paused (Retry-After or back-off).
    pub pauses: u64,
    /// The latest Retry-After values seen, in seconds (at most 10 kept).
    pub retry_after_seen: Vec<u64>,
    /// URLs of this host blocked by robots.txt.
    pub blocked: u64,
}

/// Settings a resume changed, and when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverrideRecord {
    /// RFC 3339 time of the resume.
    pub at: String,
    /// The flags that changed saved settings, as `--flag=value`.
    pub changes: Vec<String>,
}

/// The open database. One per process: sled locks the directory.
pub struct Store {
    path: PathBuf,
    pub(crate) db: sled::Db,
    pub(crate) meta: Tree,
    pub(crate) seen: Tree,
    pub(crate) queue: Tree,
    pub(crate) delayed: Tree,
    pub(crate) origins: Tree,
    pub(crate) pages: Tree,
    pub(crate) bodies: Tree,
    pub(crate) recent: Tree,
    pub(crate) body_log: std::sync::Arc<BodyLog>,
    pub(crate) robots: Tree,
    pub(crate) hosts: Tree,
}

/// Whether opening may create a new database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// `crawl`: create the directory and database when missing.
    CreateOrOpen,
    /// `status`, `export`: the database must exist.
    Existing,
}

impl Store {
    /// Opens (or creates) the database at `path`, checks it is ours and of our schema, and
    /// records this process as its writer.
    pub fn open(path: &Path, mode: OpenMode) -> Result<Store> {
        check_directory(path, mode)?;
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(SLED_CACHE_BYTES)
            .mode(sled::Mode::HighThroughput)
            // Our own flusher (below) instead of sled's: sled's thread can outlive the handle
            // for a moment and keep the directory locked after the store is dropped.
            .flush_every_ms(None);
        let db = open_sled(path, &db)?;
        let tree = |name: &str| {
            db.open_tree(name).map_err(|cause| Error::Db {
                path: path.to_path_buf(),
                action: "opening a tree",
                cause,
            })
        };
        let (meta, seen, queue, origins) = (
            tree("meta")?,
            tree("seen")?,
            tree("queue")?,
            tree("origins")?,
        );
        let (pages, robots) = (tree("pages")?, tree("robots")?);
        check_schema(path, &db, &meta, [&seen, &queue, &pages, &origins, &robots])?;
        // Only once the database is known to be ours and of this schema.
        let body_log = BodyLog::open(path).map_err(|cause| Error::Bodies {
            path: path.to_path_buf(),
            action: "opening the body segments",
            cause,
        })?;
        let store = Store {
            path: path.to_path_buf(),
            meta,
            seen,
            queue,
            delayed: tree("delayed")?,
            origins,
            pages,
            bodies: tree("bodies")?,
            recent: tree("recent")?,
            robots,
            hosts: tree("hosts")?,
            body_log: std::sync::Arc::new(body_log),
            db,
        };
        // Best effort: the pid only improves the message a second process prints.
        let _ = std::fs::write(path.join(PID_FILE), std::process::id().to_string());
        Ok(store)
    }

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

    /// Saves the settings of the latest run, so `status` can show them and a resume can reuse
    /// them.
    pub fn save_config<T: Serialize>(&self, config: &T) -> Result<()> {
        let json = serde_json::to_vec(config).map_err(|e| Error::Config(e.to_string()))?;
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
        let json = serde_json::to_vec(&history).map_err(|e| Error::Config(e.to_string()))?;
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

    /// The stored record of `url`, if it has one.
    pub fn page(&self, url: &str) -> Result<Option<PageRecord>> {
        self.pages
            .get(url)
            .map_err(|e| self.db_err("reading a page", e))?
            .map(|v| decode(url, &v))
            .transpose()
    }

    /// The stored body of `url`, if it has one.
    pub fn body(&self, url: &str) -> Result<Option<Vec<u8>>> {
        let Some(r) = self.body_ref(url)? else {
            return Ok(None);
        };
        self.body_log
            .read(&r)
            .map(Some)
            .map_err(|cause| Error::Bodies {
                path: self.path.clone(),
                action: "reading a page body",
                cause,
            })
    }

    /// Where the body of `url` is, if it has one.
    pub fn body_ref(&self, url: &str) -> Result<Option<BodyRef>> {
        self.bodies
            .get(url)
            .map_err(|e| self.db_err("reading a body", e))?
            .map(|v| decode(url, &v))
            .transpose()
    }

    /// Writes a body to the segments (see [`crate::bodies`]), for an outcome about to be
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

    /// Every stored record in URL order, read lazily so memory stays flat.
    pub fn pages(&self) -> impl Iterator<Item = Result<PageRecord>> + '_ {
        self.pages.iter().map(move |kv| {
            let (k, v) = kv.map_err(|e| self.db_err("iterating pages", e))?;
            decode(&String::from_utf8_lossy(&k), &v)
        })
    }

    /// The cached robots.txt verdict of an origin.
    pub fn robots(&self, origin: &str) -> Result<Option<RobotsRecord>> {
        self.robots
            .get(origin)
            .map_err(|e| self.db_err("reading robots", e))?
            .map(|v| decode(origin, &v))
            .transpose()
    }

    /// Caches a robots.txt verdict.
    pub fn put_robots(&self, origin: &str, rec: &RobotsRecord) -> Result<()> {
        self.robots
            .insert(origin, encode(rec))
            .map(drop)
            .map_err(|e| self.db_err("writing robots", e))
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
        self.hosts
            .get(origin_id.to_be_bytes())
            .map_err(|e| self.db_err("reading hosts", e))?
            .map(|v| decode("hosts", &v))
            .transpose()
    }

    /// Every persisted host state.
    pub fn all_hosts(&self) -> impl Iterator<Item = Result<HostRecord>> + '_ {
        self.hosts.iter().map(move |kv| {
            let (_, v) = kv.map_err(|e| self.db_err("iterating hosts", e))?;
            decode("hosts", &v)
        })
    }

    /// Starts a thread that flushes every [`FLUSH_EVERY`] until the returned guard is dropped
    /// (which flushes once more and joins it). A flush failure (disk full) is kept for
    /// [`Flusher::error`].
    pub fn flusher(&self) -> Flusher {
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        let (db, log, recent) = (self.db.clone(), self.body_log(), self.recent.clone());
        let error = std::sync::Arc::new(std::sync::Mutex::new(None));
        let err2 = error.clone();
        let handle = std::thread::Builder::new()
            .name("politecrawl-flush".into())
            .spawn(move || loop {
                let stop = !matches!(
                    stop_rx.recv_timeout(FLUSH_EVERY),
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout)
                );
                if let Err(e) = flush_all(&db, &log, &recent) {
                    if let Ok(mut slot) = err2.lock() {
                        slot.get_or_insert(e);
                    }
                }
                if stop {
                    return;
                }
            })
            .ok();
        Flusher {
            stop: Some(stop_tx),
            handle,
            error,
            path: self.path.clone(),
        }
    }

    /// Writes every dirty page to disk; what a crash cannot take back.
    pub fn flush(&self) -> Result<()> {
        flush_all(&self.db, &self.body_log, &self.recent).map_err(|cause| Error::Io {
            context: format!("database {}: flushing to disk failed", self.path.display()),
            cause,
        })
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

/// The periodic flusher of a running crawl; see [`Store::flusher`].
pub struct Flusher {
    stop: Option<std::sync::mpsc::Sender<()>>,
    handle: Option<std::thread::JoinHandle<()>>,
    error: std::sync::Arc<std::sync::Mutex<Option<std::io::Error>>>,
    path: PathBuf,
}

impl Flusher {
    /// The first flush failure, if any: the crawl must stop, its latest outcomes are not safe.
    pub fn error(&self) -> Option<Error> {
        let e = self.error.lock().ok()?.as_ref()?.to_string();
        Some(Error::Io {
            context: format!("database {}: flushing to disk failed", self.path.display()),
            cause: std::io::Error::other(e),
        })
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Checks the schema version of an opened database, or writes ours into a new one; a sled
/// database holding data but no version is not ours.
fn check_schema(path: &Path, db: &sled::Db, meta: &Tree, others: [&Tree; 5]) -> Result<()> {
    let db_err = |action, cause| Error::Db {
        path: path.to_path_buf(),
        action,
        cause,
    };
    let Some(v) = meta
        .get(KEY_SCHEMA)
        .map_err(|e| db_err("reading meta", e))?
    else {
        if others.iter().any(|t| !t.is_empty()) || !db.is_empty() {
            return Err(Error::NotADatabase {
                path: path.to_path_buf(),
                reason: "a sled database without a politecrawl schema version".into(),
            });
        }
        meta.insert(KEY_SCHEMA, &SCHEMA_VERSION.to_be_bytes())
            .map_err(|e| db_err("writing the schema version", e))?;
        return Ok(());
    };
    let found = v
        .as_ref()
        .try_into()
        .map(u32::from_be_bytes)
        .map_err(|_| Error::Corrupt {
            key: "meta/schema_version".into(),
            reason: format!("{} bytes, expected 4", v.len()),
        })?;
    if found != SCHEMA_VERSION {
        return Err(Error::SchemaVersion {
            path: path.to_path_buf(),
            found,
            expected: SCHEMA_VERSION,
        });
    }
    Ok(())
}

/// One durable point: bodies first, then the records pointing at them (see
/// [`crate::bodies`]); then the `recent` entries of bodies now known durable are dropped.
fn flush_all(db: &sled::Db, log: &BodyLog, recent: &Tree) -> std::io::Result<()> {
    let (segment, offset) = log.position();
    log.sync()?;
    db.flush().map_err(std::io::Error::other)?;
    let synced = crate::bodies::position_key(segment, offset);
    for key in recent.range(..&synced[..]).keys() {
        let key = key.map_err(std::io::Error::other)?;
        recent.remove(key).map_err(std::io::Error::other)?;
    }
    Ok(())
}

/// Refuses directories that are clearly not a sled database before sled writes into them.
fn check_directory(path: &Path, mode: OpenMode) -> Result<()> {
    match std::fs::read_dir(path) {
        Ok(mut entries) => {
            let empty = entries.next().is_none();
            if !empty && !path.join("db").is_file() {
                return Err(Error::NotADatabase {
                    path: path.to_path_buf(),
                    reason: "the directory holds other files".into(),
                });
            }
            if empty && mode == OpenMode::Existing {
                return Err(Error::NoDatabase(path.to_path_buf()));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => match mode {
            OpenMode::Existing => Err(Error::NoDatabase(path.to_path_buf())),
            OpenMode::CreateOrOpen => Ok(()),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory || path.is_file() => {
            Err(Error::NotADatabase {
                path: path.to_path_buf(),
                reason: "it is a file, not a directory".into(),
            })
        }
        Err(e) => Err(Error::io(format!("cannot read {}", path.display()), e)),
    }
}

/// Opens sled. A store this process dropped a moment ago can hold the lock while sled's I/O
/// threads finish their last writes: that is waited for (up to a second), another process's
/// lock is not.
fn open_sled(path: &Path, config: &sled::Config) -> Result<sled::Db> {
    let ours = || {
        std::fs::read_to_string(path.join(PID_FILE))
            .is_ok_and(|s| s.trim() == std::process::id().to_string())
    };
    for _ in 0..50 {
        match config.open() {
            Err(e) if is_locked(&e) && ours() => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            other => return other.map_err(|e| open_error(path, e)),
        }
    }
    config.open().map_err(|e| open_error(path, e))
}

fn is_locked(e: &sled::Error) -> bool {
    matches!(e, sled::Error::Io(io) if io.kind() == std::io::ErrorKind::WouldBlock
        || io.to_string().contains("could not acquire lock"))
}

fn open_error(path: &Path, e: sled::Error) -> Error {
    if is_locked(&e) {
        let holder = std::fs::read_to_string(path.join(PID_FILE))
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
            .map(|pid| format!(" by another politecrawl process (pid {pid})"))
            .unwrap_or_default();
        return Error::Locked {
            path: path.to_path_buf(),
            holder,
        };
    }
    if let sled::Error::Corruption { .. } = e {
        return Error::NotADatabase {
            path: path.to_path_buf(),
            reason: format!("sled reports corruption: {e}"),
        };
    }
    Error::Db {
        path: path.to_path_buf(),
        action: "opening",
        cause: e,
    }
}

/// Decodes a postcard value, naming the key when the bytes are damaged.
pub(crate) fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T> {
    postcard::from_bytes(bytes).map_err(|e| Error::Corrupt {
        key: key.to_string(),
        reason: e.to_string(),
    })
}

/// Encodes a value for storage. Encoding plain structs into a Vec cannot fail.
pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    postcard::to_stdvec(value).expect("postcard encodes plain structs into a Vec")
}

#[cfg(test)]
mod tests {
    use super::*;

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
