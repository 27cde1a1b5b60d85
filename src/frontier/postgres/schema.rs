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

use super::connect::{FrontierUrl, STATEMENT_HINT};
use crate::error::{Error, Result};

/// The layout this build reads and writes.
pub const VERSION: i32 = 1;

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

/// Creates the tables when the database has none (one transaction, one process at a time),
/// after [`check`]ing the version of any found.
pub fn install(client: &mut postgres::Client, url: &FrontierUrl) -> Result<()> {
    let err = |e: postgres::Error| url.error("creating the politecrawl tables", &e, STATEMENT_HINT);
    let mut tx = client.transaction().map_err(err)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&INSTALL_LOCK])
        .map_err(err)?;
    if check(&mut tx, url)? {
        return tx.commit().map_err(err);
    }
    tx.batch_execute("CREATE TABLE IF NOT EXISTS politecrawl_schema (version integer NOT NULL)")
        .map_err(err)?;
    tx.batch_execute(TABLES).map_err(err)?;
    tx.execute(
        "INSERT INTO politecrawl_schema (version) VALUES ($1)",
        &[&VERSION],
    )
    .map_err(err)?;
    tx.commit().map_err(err)
}
