//! Crawls registered in the shared frontier: created by `crawl --frontier … --crawl NAME` with
//! its settings and shard count, joined by name by every other command.

use crate::config::CrawlConfig;
use crate::error::{Error, Result};
use crate::frontier::postgres::connect::{FrontierUrl, STATEMENT_HINT};
use crate::frontier::postgres::schema;

/// Shards a crawl's origins are spread over unless `--shards` says otherwise: enough that a
/// handful of workers each get several (so one joining or leaving moves a small share), few
/// enough that renewing them all is one statement.
pub const DEFAULT_SHARDS: i32 = 64;

/// A crawl in the shared frontier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterCrawl {
    /// Its row id.
    pub id: i64,
    /// Its `--crawl` name.
    pub name: String,
    /// How many shards its origins are spread over (fixed when it was created).
    pub shards: i32,
}

/// Checks a `--crawl` name: letters, digits, `.`, `_` and `-`, at most 100 of them.
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "--crawl {name:?}: a crawl name is 1 to 100 letters, digits, '.', '_' or '-'"
        )))
    }
}

/// Creates crawl `name` with `settings` and `shards` shards, installing the tables first when
/// the database has none; a crawl of that name already there is returned as it is, with its
/// saved settings (the caller resumes it).
pub fn create(
    client: &mut postgres::Client,
    url: &FrontierUrl,
    name: &str,
    settings: &CrawlConfig,
    shards: i32,
) -> Result<(ClusterCrawl, CrawlConfig)> {
    check_name(name)?;
    schema::install(client, url)?;
    let json = settings_json(settings)?;
    let err = |e: postgres::Error| url.error("creating the crawl", &e, STATEMENT_HINT);
    let mut tx = client.transaction().map_err(err)?;
    let inserted = tx
        .query_opt(
            "INSERT INTO crawls (name, settings, shards) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO NOTHING RETURNING id",
            &[&name, &json, &shards],
        )
        .map_err(err)?;
    if let Some(row) = inserted {
        let id: i64 = row.get(0);
        tx.execute(
            "INSERT INTO shards (crawl, shard) SELECT $1, s FROM generate_series(0, $2 - 1) s",
            &[&id, &shards],
        )
        .map_err(err)?;
    }
    tx.commit().map_err(err)?;
    read(client, url, name)
}

/// Adds `seeds` not already among crawl `crawl`'s saved seeds to them (workers that join from
/// then on have their sites in scope); returns the settings when they changed.
pub fn add_seeds(
    client: &mut postgres::Client,
    url: &FrontierUrl,
    crawl: &ClusterCrawl,
    seeds: &[url::Url],
) -> Result<Option<CrawlConfig>> {
    let err = |e: postgres::Error| url.error("adding seeds to the crawl", &e, STATEMENT_HINT);
    let mut tx = client.transaction().map_err(err)?;
    let row = tx
        .query_one(
            "SELECT settings FROM crawls WHERE id = $1 FOR UPDATE",
            &[&crawl.id],
        )
        .map_err(err)?;
    let mut config = parse_settings(&crawl.name, row.get(0))?;
    let before = config.seeds.len();
    crate::config::add_new_seeds(&mut config.seeds, seeds.to_vec());
    if config.seeds.len() == before {
        return Ok(None);
    }
    tx.execute(
        "UPDATE crawls SET settings = $2 WHERE id = $1",
        &[&crawl.id, &settings_json(&config)?],
    )
    .map_err(err)?;
    tx.commit().map_err(err)?;
    Ok(Some(config))
}

/// The crawl named `name` and its saved settings; a clear error when the database holds no
/// politecrawl tables or no such crawl.
pub fn open(
    client: &mut postgres::Client,
    url: &FrontierUrl,
    name: &str,
) -> Result<(ClusterCrawl, CrawlConfig)> {
    check_name(name)?;
    schema::upgrade(client, url)?;
    if !schema::check(client, url)? {
        return Err(no_such(url, name, Vec::new()));
    }
    read(client, url, name)
}

/// [`open`] for a worker about to work on the crawl: a database of an older layout is upgraded
/// first (`status` and `export` only read, so they leave it as it is and refuse it).
pub fn open_to_work(
    client: &mut postgres::Client,
    url: &FrontierUrl,
    name: &str,
) -> Result<(ClusterCrawl, CrawlConfig)> {
    check_name(name)?;
    if !schema::check_or_upgrade(client, url)? {
        return Err(no_such(url, name, Vec::new()));
    }
    read(client, url, name)
}

/// The crawl `name` of a database whose schema is checked, and its settings.
fn read(
    client: &mut postgres::Client,
    url: &FrontierUrl,
    name: &str,
) -> Result<(ClusterCrawl, CrawlConfig)> {
    let err = |e: postgres::Error| url.error("reading the crawl", &e, STATEMENT_HINT);
    let row = client
        .query_opt(
            "SELECT id, shards, settings FROM crawls WHERE name = $1",
            &[&name],
        )
        .map_err(err)?;
    let Some(row) = row else {
        let known = client
            .query("SELECT name FROM crawls ORDER BY name LIMIT 20", &[])
            .map_err(err)?
            .iter()
            .map(|r| r.get(0))
            .collect();
        return Err(no_such(url, name, known));
    };
    let config = parse_settings(name, row.get(2))?;
    Ok((
        ClusterCrawl {
            id: row.get(0),
            name: name.to_string(),
            shards: row.get(1),
        },
        config,
    ))
}

/// A crawl's settings as saved.
fn settings_json(config: &CrawlConfig) -> Result<String> {
    serde_json::to_string(config).map_err(|e| Error::Encode {
        what: "the crawl's settings",
        reason: e.to_string(),
    })
}

/// A crawl's saved settings.
fn parse_settings(name: &str, settings: String) -> Result<CrawlConfig> {
    serde_json::from_str(&settings).map_err(|e| Error::Corrupt {
        key: format!("crawls.settings of {name:?}"),
        reason: e.to_string(),
    })
}

/// The error for a crawl name the database does not hold, naming those it does.
fn no_such(url: &FrontierUrl, name: &str, known: Vec<String>) -> Error {
    Error::NoSuchCrawl {
        url: url.shown().to_string(),
        name: name.to_string(),
        known: if known.is_empty() {
            String::new()
        } else {
            format!(" (it holds: {})", known.join(", "))
        },
    }
}
