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
//! | `pages` | stored outcome | which worker's store holds it (by record stamp), its outcome, error kind and body size, whether it is the URL's latest |
//! | `rounds` | round of a crawl (`--retry-failed`) | what it queued again, so every worker joins the same one |
//! | `seed_origins` | seeds-file origin (and directory) of a crawl | what its scope is built from besides the settings' seeds (version 3) |
//! | `crawl_secrets` | crawl | its logins and credential header values, apart from `settings` (version 3) |
//! | `totals` | process that writes to a crawl | its part of the crawl's totals, kept in the commits that change them (version 4) |
//!
//! A database of an older version is upgraded by [`install`] (and [`upgrade`]): the additions
//! of each later version are idempotent DDL, applied in one transaction under the install lock.

use super::connect::{FrontierUrl, STATEMENT_HINT};
use crate::error::{Error, Result};

/// The layout this build reads and writes.
pub const VERSION: i32 = 4;

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

/// Version 2 (`--retry-failed` with `--frontier`): a stored outcome's error kind (so `--kind`
/// picks failures in PostgreSQL, not in the store of whichever worker fetched them) and
/// whether it is its URL's latest (a URL fetched again has two rows; totals and exports count
/// the latest); a URL's retry round; the crawl's rounds.
const ADDITIONS_2: &str = "
ALTER TABLE pages ADD COLUMN IF NOT EXISTS kind text;
ALTER TABLE pages ADD COLUMN IF NOT EXISTS latest boolean NOT NULL DEFAULT true;
CREATE INDEX IF NOT EXISTS pages_failed ON pages (crawl) WHERE latest AND outcome = 1;
ALTER TABLE urls ADD COLUMN IF NOT EXISTS round integer;
CREATE INDEX IF NOT EXISTS urls_round ON urls (crawl, round) WHERE round IS NOT NULL AND state < 2;
CREATE TABLE IF NOT EXISTS rounds (
    crawl      bigint NOT NULL REFERENCES crawls(id),
    round      integer NOT NULL,
    kinds      text[] NOT NULL,
    queued     bigint NOT NULL,
    planned_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (crawl, round)
);
";

/// Version 3 (issue 32, one setup path): the seeds-file origins a crawl's scope is built from,
/// which every worker reads (and a running worker polls, see `cluster::seeds`), and the
/// crawl's credentials, kept out of `crawls.settings` because `status` prints that (see
/// `cluster::secrets`). Each row has an `id` so a worker can read only the new ones; `seed`
/// marks a command-line seed's origin (credential headers go there, not to a seeds file's).
const ADDITIONS_3: &str = "
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

/// Version 4 (issue 35): the crawl's totals kept, not counted: a row per process that writes
/// (a worker's id; `''` for the planner of a retry round and for what an upgrade found), added
/// to in the transaction that changes what they count (`queue::bump_totals`). An upgrade
/// counts an existing crawl once, into the `''` row.
const ADDITIONS_4: &str = "
CREATE TABLE IF NOT EXISTS totals (
    crawl   bigint NOT NULL REFERENCES crawls(id),
    writer  text NOT NULL,
    queued  bigint NOT NULL DEFAULT 0,
    done    bigint NOT NULL DEFAULT 0,
    failed  bigint NOT NULL DEFAULT 0,
    blocked bigint NOT NULL DEFAULT 0,
    bytes   bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (crawl, writer)
);
INSERT INTO totals (crawl, writer, queued, done, failed, blocked, bytes)
SELECT c.id, '',
       (SELECT count(*) FROM urls u WHERE u.crawl = c.id AND u.state < 2),
       (SELECT count(*) FROM pages p WHERE p.crawl = c.id AND p.latest AND p.outcome = 0),
       (SELECT count(*) FROM pages p WHERE p.crawl = c.id AND p.latest AND p.outcome = 1),
       (SELECT count(*) FROM pages p WHERE p.crawl = c.id AND p.latest AND p.outcome > 1),
       (SELECT coalesce(sum(p.bytes), 0) FROM pages p WHERE p.crawl = c.id AND p.latest)
FROM crawls c WHERE NOT EXISTS (SELECT 1 FROM totals t WHERE t.crawl = c.id)
ON CONFLICT DO NOTHING;
";

/// The additions of each version after the first, in order: `(version, DDL)`.
const ADDITIONS: &[(i32, &str)] = &[(2, ADDITIONS_2), (3, ADDITIONS_3), (4, ADDITIONS_4)];

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
        // Older layouts are upgraded by `install`/`upgrade`; callers upgrade first.
        Some(found) => Err(Error::ClusterSchema {
            url: url.shown().to_string(),
            found,
            expected: VERSION,
        }),
    }
}

/// Creates the tables when the database has none, or upgrades an older layout (one
/// transaction, one process at a time); refuses a newer one.
pub fn install(client: &mut postgres::Client, url: &FrontierUrl) -> Result<()> {
    setup(client, url, true)
}

/// Upgrades a database of an older layout (as [`install`]); one with no politecrawl tables is
/// left empty (joining a crawl creates nothing).
pub fn upgrade(client: &mut postgres::Client, url: &FrontierUrl) -> Result<()> {
    setup(client, url, false)
}

fn setup(client: &mut postgres::Client, url: &FrontierUrl, create: bool) -> Result<()> {
    let err = |e: postgres::Error| url.error("creating the politecrawl tables", &e, STATEMENT_HINT);
    let mut tx = client.transaction().map_err(err)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&INSTALL_LOCK])
        .map_err(err)?;
    let from = match found(&mut tx, url)? {
        None if !create => return tx.commit().map_err(err),
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
        Some(v) if (1..VERSION).contains(&v) => {
            log::info!("upgrading the shared frontier's tables from version {v} to {VERSION}");
            v
        }
        Some(_) => {
            check(&mut tx, url)?;
            return tx.commit().map_err(err);
        }
    };
    for (version, ddl) in ADDITIONS.iter().filter(|(v, _)| *v > from) {
        tx.batch_execute(ddl).map_err(err)?;
        tx.execute("UPDATE politecrawl_schema SET version = $1", &[version])
            .map_err(err)?;
    }
    tx.commit().map_err(err)
}

/// [`check`], upgrading a database of an older version first (a worker joining a crawl made by
/// an older build); `Ok(false)` when it holds no politecrawl tables.
pub fn check_or_upgrade(client: &mut postgres::Client, url: &FrontierUrl) -> Result<bool> {
    upgrade(client, url)?;
    check(client, url)
}
