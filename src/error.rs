//! Typed errors of the library. Only failures that stop a whole command live here: a URL that
//! fails is data (a [`crate::failure::Failure`]), stored with its kind and the crawl goes on.

use std::path::PathBuf;

/// Why a command could not run or had to stop. Every message says what failed and what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A seed or option value was rejected before any work started.
    #[error("invalid configuration: {0}")]
    Config(String),

    /// A seed URL could not be parsed or is not http(s).
    #[error("invalid seed URL {url:?}: {reason}; give an absolute http:// or https:// URL")]
    BadSeed {
        /// The seed as the user typed it.
        url: String,
        /// What is wrong with it.
        reason: String,
    },

    /// Another process (or another handle in this one) holds the database.
    #[error("database {path} is in use{holder}; wait for that crawl to finish or stop it, or use another --db")]
    Locked {
        /// The database directory.
        path: PathBuf,
        /// " by pid N" when the holder wrote its pid, else empty.
        holder: String,
    },

    /// The directory exists but is not a politecrawl database.
    #[error("{path} is not a politecrawl database ({reason}); give a new or existing crawl --db directory")]
    NotADatabase {
        /// The directory given.
        path: PathBuf,
        /// What was found instead.
        reason: String,
    },

    /// Internal to `Store::open`: a copy opened to read only found an older schema, which is
    /// upgraded in place instead. Never reaches a user.
    #[error("the database needs an upgrade")]
    NeedsUpgrade,

    /// A politecrawl database whose sled file does not read back whole: cut, overwritten or
    /// flipped bytes. Nothing was changed by the command that found it.
    #[error("database {path} is damaged: {file} {reason}; restore the directory from a backup (the page records and bodies in its pages/ and bodies/ folders are separate files and may be intact)")]
    Damaged {
        /// The database directory.
        path: PathBuf,
        /// The damaged file.
        file: PathBuf,
        /// What was found wrong.
        reason: String,
    },

    /// The body segments beside the database could not be opened, read or written.
    #[error("database {path}: {action} failed: {cause}; check the path is writable and the disk has space")]
    Bodies {
        /// The database directory.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The I/O error.
        cause: std::io::Error,
    },

    /// A stored body does not read back: its segment file was cut, overwritten or removed.
    /// Nothing was changed by the command that found it.
    #[error("the body of {url} in {} is damaged ({reason}); export the other records with --skip-damaged, or restore the database from a backup", segment.display())]
    DamagedBody {
        /// The body segment file.
        segment: PathBuf,
        /// The URL whose body it is.
        url: String,
        /// What was found wrong.
        reason: String,
    },

    /// The database was written by a different schema version of politecrawl.
    #[error("database {path} has schema version {found}, this politecrawl reads version {expected}; use the matching politecrawl release")]
    SchemaVersion {
        /// The database directory.
        path: PathBuf,
        /// Version found in the database.
        found: u32,
        /// Version this build understands.
        expected: u32,
    },

    /// A status or export asked for a database that does not exist.
    #[error("no database at {0}; run `politecrawl crawl URL --db {0}` first")]
    NoDatabase(PathBuf),

    /// The database could not be opened, read or written (disk full, permissions, corruption).
    #[error("database {path}: {action} failed: {cause}; check the path is writable and the disk has space")]
    Db {
        /// The database directory.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The underlying sled error (in the message, not repeated as a source).
        cause: sled::Error,
    },

    /// A seen-set run file is missing, cut short or fails its checksums.
    #[error("seen-set file {} is damaged ({reason}); the database was not changed: run `politecrawl repair --db {}` to rebuild the seen-set from the queue and the stored pages (no URL is lost)", file.display(), db.display())]
    SeenRun {
        /// The database directory.
        db: PathBuf,
        /// The run file.
        file: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// A page records file is missing, cut short or fails its checksum inside the committed
    /// records.
    #[error("page records file {} is damaged at byte {offset} ({reason}); the database was not changed. If the last crawl was cut by a power loss, resume it (`politecrawl crawl --db {}`): start-up recovery queues the pages it lost again. Otherwise the file was damaged after it was written; restore it from a backup", file.display(), db.display())]
    PageLog {
        /// The database directory.
        db: PathBuf,
        /// The segment file.
        file: PathBuf,
        /// Where the damaged record starts.
        offset: u64,
        /// What is wrong with it.
        reason: String,
    },

    /// A queue chunk does not decode: the URLs it holds cannot be leased.
    #[error("database {}: the queue chunk of origin #{origin} at depth {depth} (from sequence {first_seq}) is damaged ({reason}). `politecrawl repair --db {}` removes it (the URLs it holds, at most ~100 of that origin at that depth, are lost from the queue and may be found again) and keeps everything else; or restore the database from a backup", db.display(), db.display())]
    DamagedChunk {
        /// The database directory.
        db: PathBuf,
        /// The origin whose URLs it holds.
        origin: u64,
        /// Their depth.
        depth: u32,
        /// The sequence number of its first URL (its key).
        first_seq: u64,
        /// The decoder's message.
        reason: String,
    },

    /// A stored record could not be decoded: the database is damaged.
    #[error("database record {key} is unreadable ({reason}); the database may be corrupt")]
    Corrupt {
        /// Which record.
        key: String,
        /// The decoder's message.
        reason: String,
    },

    /// The HTTP client could not be built (bad User-Agent, libcurl failure).
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),

    /// The HTTP client stopped for good in the middle of a crawl (curl's agent thread died).
    #[error("the HTTP client stopped ({0}); the crawl stopped too, and the URLs it could not fetch are still queued: run the same crawl command again to resume")]
    ClientStopped(String),

    /// A record or report could not be encoded as JSON (a bug: every value we write encodes).
    #[error("cannot encode {what} as JSON: {reason}; this is a bug, please report it")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// The encoder's message.
        reason: String,
    },

    /// Every fetch worker ended while the engine still had work for them (a bug: workers
    /// outlive the engine). Nothing is lost: the crawl resumes from its last commit.
    #[error("all fetch workers stopped unexpectedly; this is a bug, please report it, then run the same command to resume")]
    WorkersStopped,

    /// The shared frontier's PostgreSQL could not be reached, or refused a statement.
    #[error("PostgreSQL frontier {url}: {action} failed: {cause}; {hint}")]
    Postgres {
        /// The `--frontier` URL, its password hidden.
        url: String,
        /// What was being done.
        action: &'static str,
        /// The client's message.
        cause: String,
        /// What to check.
        hint: &'static str,
        /// The statement lost a deadlock or a serialization conflict: it may run again.
        transient: bool,
    },

    /// The `--frontier` database holds politecrawl tables of another version.
    #[error("PostgreSQL frontier {url} holds politecrawl schema version {found}, this politecrawl speaks version {expected}; nothing was changed: use the matching politecrawl release, or another database")]
    ClusterSchema {
        /// The `--frontier` URL, its password hidden.
        url: String,
        /// Version found.
        found: i32,
        /// Version this build speaks.
        expected: i32,
    },

    /// `worker`, `status` or `export` named a crawl the shared frontier does not hold.
    #[error("PostgreSQL frontier {url} holds no crawl named {name:?}{known}; start it with `politecrawl crawl URL --frontier {url} --crawl {name} --db DIR`")]
    NoSuchCrawl {
        /// The `--frontier` URL, its password hidden.
        url: String,
        /// The `--crawl` name given.
        name: String,
        /// " (it holds: a, b)" when it holds others, else empty.
        known: String,
    },

    /// A commit was made under a shard lease that another worker has taken over since (this
    /// worker stalled past its lease): it is refused, and the new holder fetches those URLs.
    #[error("shard {shard} was taken over (epoch {epoch} held here, {now} now): this worker stalled past its lease, so its outcomes for that shard were not stored; the new holder fetches those URLs")]
    StaleShard {
        /// The shard.
        shard: i32,
        /// The epoch this worker held it at (-1: it held it not at all).
        epoch: i64,
        /// The shard's epoch now (-1: no such shard).
        now: i64,
    },

    /// Writing an export, or serving files, failed.
    #[error("{context}: {cause}")]
    Io {
        /// What was being read or written.
        context: String,
        /// The I/O error.
        cause: std::io::Error,
    },
}

/// Result with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an I/O error with what was being done, for messages like "writing out.jsonl: ...".
    pub fn io(context: impl Into<String>, cause: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            cause,
        }
    }
}
