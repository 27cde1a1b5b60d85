//! The shared frontier's tables, and the version that keeps builds that speak another layout
//! out. Installed by the first `crawl --frontier`, checked by every command before it reads or
//! writes anything else: a database of another version is refused untouched.
//!
//! | table | one row per | holds |
//! |---|---|---|
//! | `politecrawl_schema` | database | the layout's version |
//! | `crawls` | crawl | its name, settings (JSON, as `crawl` saved them), shard count |
//! | `shards` | shard of a crawl | its holder, fencing epoch and lease expiry |
//! | `workers` | worker process | pid, host, local store, last heartbeat |
//! | `origins` | origin of a crawl | its id, shard, politeness state and robots.txt verdict (which move with the shard) |
//! | `urls` | URL ever queued in a crawl | the seen-set and queue: state (0 queued, 1 parked until `due_ms`, 2 settled), depth, order, entry |
//! | `pages` | stored outcome | which worker's store holds it (by record stamp), its outcome and body size |
//! | `seed_origins` | seeds-file origin (and directory) of a crawl | what its scope is built from besides the settings' seeds (version 2) |
//! | `crawl_secrets` | crawl | its logins and credential header values, apart from `settings` (version 2) |
//!
//! A database of an older version is upgraded by [`install`] (and by a worker joining): the
//! additions of each later version ([`ADDED`]) are idempotent DDL applied in one transaction.

use super::connect::{FrontierUrl, STATEMENT_HINT};
use crate::error::{Error, Result};

/// The layout this build reads and writes.
pub const VERSION: i32 = 2;

/// Serialises installs from processes starting at once (a `pg_advisory_xact_lock` key).
const INSTALL_LOCK: i64 = 0x706f_6c69_7465; // "polite"

const TABLES: &str = "
CREATE TABLE IF NOT EXISTS crawls (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    settings    text NOT NULL,
    shards      integer NOT NULL CHECK (shards > 0),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS shards (
    crawl       bigint NOT NULL REFERENCES crawls(id),
    shard       integer NOT NULL,
    holder      text,
    epoch       bigint NOT NULL DEFAULT 0,
    expires_at  timestamptz,
    PRIMARY KEY (crawl, shard)
);
CREATE TABLE IF NOT EXISTS workers (
    crawl        bigint NOT NULL REFERENCES crawls(id),
    id           text NOT NULL,
    pid          integer NOT NULL,
    host         text NOT NULL,
    store        text NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    stopped_at   timestamptz,
    PRIMARY KEY (crawl, id)
);
CREATE TABLE IF NOT EXISTS origins (
    crawl      bigint NOT NULL REFERENCES crawls(id),
    id         bigserial UNIQUE,
    origin     text NOT NULL,
    shard      integer NOT NULL,
    politeness bytea,
    robots     bytea,
    PRIMARY KEY (crawl, origin)
);
CREATE TABLE IF NOT EXISTS urls (
    crawl   bigint NOT NULL REFERENCES crawls(id),
    url     text NOT NULL,
    shard   integer NOT NULL,
    origin  bigint NOT NULL,
    depth   integer NOT NULL,
    seq     bigserial,
    state   smallint NOT NULL,
    due_ms  bigint,
    entry   bytea NOT NULL,
    PRIMARY KEY (crawl, url)
);
CREATE INDEX IF NOT EXISTS urls_queued ON urls (crawl, origin, depth, seq) WHERE state = 0;
CREATE INDEX IF NOT EXISTS urls_work ON urls (crawl, shard, origin) WHERE state = 0;
CREATE INDEX IF NOT EXISTS urls_parked ON urls (crawl, shard, due_ms) WHERE state = 1;
CREATE TABLE IF NOT EXISTS pages (
    crawl   bigint NOT NULL REFERENCES crawls(id),
    url     text NOT NULL,
    origin  bigint NOT NULL,
    worker  text NOT NULL,
    stamp   bigint NOT NULL,
    outcome smallint NOT NULL,
    bytes   bigint NOT NULL,
    PRIMARY KEY (crawl, url, stamp)
);
CREATE INDEX IF NOT EXISTS pages_origin ON pages (crawl, origin);
";

/// Version 2 (issue 32, one setup path): the seeds-file origins a crawl's scope is built from,
/// which every worker reads (and a running worker polls, see `cluster::seeds`), and the
/// crawl's credentials, kept out of `crawls.settings` because `status` prints that (see
/// `cluster::secrets`). Each row has an `id` so a worker can read only the new ones; `seed`
/// marks a command-line seed's origin (credential headers go there, not to a seeds file's).
const V2: &str = "
CREATE TABLE IF NOT EXISTS seed_origins (
    crawl   bigint NOT NULL REFERENCES crawls(id),
    id      bigserial,
    origin  text NOT NULL,
    dir     text NOT NULL DEFAULT '',
    seed    boolean NOT NULL DEFAULT false,
    PRIMARY KEY (crawl, origin, dir, seed)
);
CREATE INDEX IF NOT EXISTS seed_origins_id ON seed_origins (crawl, id);
CREATE TABLE IF NOT EXISTS crawl_secrets (
    crawl       bigint PRIMARY KEY REFERENCES crawls(id),
    credentials text NOT NULL
);
";

/// What each version after the first adds, in order: `(version, DDL)`. A database of version
/// `v` gets every entry above `v`.
pub const ADDED: [(i32, &str); 1] = [(2, V2)];

/// The version the database holds, `None` when it holds no politecrawl tables.
pub fn found(client: &mut impl postgres::GenericClient, url: &FrontierUrl) -> Result<Option<i32>> {
    let exists: bool = client
        .query_one("SELECT to_regclass('politecrawl_schema') IS NOT NULL", &[])
        .map_err(|e| url.error("reading the schema version", &e, STATEMENT_HINT))?
        .get(0);
    if !exists {
        return Ok(None);
    }
    let row = client
        .query_opt("SELECT version FROM politecrawl_schema LIMIT 1", &[])
        .map_err(|e| url.error("reading the schema version", &e, STATEMENT_HINT))?;
    Ok(row.map(|r| r.get(0)))
}

/// Refuses a database of another version; `Ok(false)` when it holds no politecrawl tables.
pub fn check(client: &mut impl postgres::GenericClient, url: &FrontierUrl) -> Result<bool> {
    match found(client, url)? {
        None => Ok(false),
        Some(VERSION) => Ok(true),
        Some(found) => Err(Error::ClusterSchema {
            url: url.shown().to_string(),
            found,
            expected: VERSION,
        }),
    }
}

/// Creates the tables when the database has none, or upgrades those of an older version by the
/// additions of the versions after it (one transaction, one process at a time); a database of
/// a newer version is refused untouched.
pub fn install(client: &mut postgres::Client, url: &FrontierUrl) -> Result<()> {
    let err = |e: postgres::Error| url.error("creating the politecrawl tables", &e, STATEMENT_HINT);
    let mut tx = client.transaction().map_err(err)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&INSTALL_LOCK])
        .map_err(err)?;
    let fresh = found(&mut tx, url)?.is_none();
    let from = match found(&mut tx, url)? {
        Some(VERSION) => return tx.commit().map_err(err),
        Some(v) if v > VERSION => {
            return Err(Error::ClusterSchema {
                url: url.shown().to_string(),
                found: v,
                expected: VERSION,
            })
        }
        Some(v) => v,
        None => {
            tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS politecrawl_schema (version integer NOT NULL)",
            )
            .map_err(err)?;
            tx.batch_execute(TABLES).map_err(err)?;
            tx.execute("INSERT INTO politecrawl_schema (version) VALUES (1)", &[])
                .map_err(err)?;
            1
        }
    };
    for (_, ddl) in ADDED.iter().filter(|(v, _)| *v > from) {
        tx.batch_execute(ddl).map_err(err)?;
    }
    tx.execute("UPDATE politecrawl_schema SET version = $1", &[&VERSION])
        .map_err(err)?;
    if !fresh {
        log::info!("the politecrawl tables were upgraded from version {from} to {VERSION}");
    }
    tx.commit().map_err(err)
}

/// [`check`], upgrading a database of an older version first (a worker joining a crawl made by
/// an older build); `Ok(false)` when it holds no politecrawl tables.
pub fn check_or_upgrade(client: &mut postgres::Client, url: &FrontierUrl) -> Result<bool> {
    match found(client, url)? {
        None => Ok(false),
        Some(v) if v < VERSION => install(client, url).map(|()| true),
        Some(_) => check(client, url),
    }
}
