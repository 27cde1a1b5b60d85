//! A shared crawl's credentials: HTTP Basic logins (`--user/--password`, a seed's
//! `user:password@`), the login of `--proxy`, and the values of credential `--header`s.
//!
//! Every worker needs them, including one started later with only `worker --frontier … --crawl
//! NAME --db DIR`, so they live in PostgreSQL; but not in `crawls.settings`, which `status`
//! prints and every log of settings may show: in a table of their own, `crawl_secrets`, as
//! the JSON of [`Credentials`]. Each worker keeps its copy in its store's private credentials
//! file (mode 0600), as a crawl of its own does. Whoever can read the crawl's tables can read
//! them, which is no more than they can do already: with the same access they can run a worker
//! of the crawl, which sends them.

use crate::config::request::Credentials;
use crate::error::{Error, Result};
use crate::frontier::postgres::connect::{FrontierUrl, STATEMENT_HINT};

/// Crawl `crawl`'s credentials (none when it has no row).
pub fn load(
    client: &mut impl postgres::GenericClient,
    url: &FrontierUrl,
    crawl: i64,
) -> Result<Credentials> {
    let row = client
        .query_opt(
            "SELECT credentials FROM crawl_secrets WHERE crawl = $1",
            &[&crawl],
        )
        .map_err(|e| url.error("reading the crawl's credentials", &e, STATEMENT_HINT))?;
    row.map_or(Ok(Credentials::default()), |r| parse(r.get(0)))
}

/// Adds `given` to crawl `crawl`'s credentials and returns them all: a login replaces the one of
/// its origin (and the proxy's, the proxy's); the credential headers' values are the crawl's
/// from its creation on, as its settings are (a later `crawl --frontier` with other values is
/// warned about by the caller, like any setting it gives an existing crawl).
pub fn merge(
    client: &mut postgres::Client,
    url: &FrontierUrl,
    crawl: i64,
    given: &Credentials,
) -> Result<Credentials> {
    let err = |e: postgres::Error| url.error("saving the crawl's credentials", &e, STATEMENT_HINT);
    let mut tx = client.transaction().map_err(err)?;
    let row = tx
        .query_opt(
            "SELECT credentials FROM crawl_secrets WHERE crawl = $1 FOR UPDATE",
            &[&crawl],
        )
        .map_err(err)?;
    let stored = match row {
        Some(r) => parse(r.get(0))?,
        None => Credentials::default(),
    };
    let mut all = stored.clone();
    all.extend(given);
    if all.headers.is_empty() {
        all.headers.clone_from(&given.headers);
    }
    if all != stored {
        let json = serde_json::to_string(&all).map_err(|e| Error::Encode {
            what: "the crawl's credentials",
            reason: e.to_string(),
        })?;
        tx.execute(
            "INSERT INTO crawl_secrets (crawl, credentials) VALUES ($1, $2)
             ON CONFLICT (crawl) DO UPDATE SET credentials = EXCLUDED.credentials",
            &[&crawl, &json],
        )
        .map_err(err)?;
    }
    tx.commit().map_err(err)?;
    Ok(all)
}

fn parse(json: String) -> Result<Credentials> {
    serde_json::from_str(&json).map_err(|e| Error::Corrupt {
        key: "crawl_secrets.credentials".into(),
        // Not serde_json's message, which can quote the text (a password).
        reason: format!("unreadable at line {} column {}", e.line(), e.column()),
    })
}
