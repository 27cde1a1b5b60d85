//! A shared crawl's seeds-file origins (`crawl --frontier … --seeds-file FILE`), kept in the
//! `seed_origins` table: the seeds file's URLs are queued in `urls` like any seed, but their
//! origins are not put in `crawls.settings` (a list of 100,000 sites would make every worker's
//! start, and `status`, read and print them all), so the scope of every worker is built from the
//! settings' seeds and these rows, as a crawl of its own builds it from its `seed_origins` tree.
//!
//! A worker reads them all when it starts, then only the rows added since (by `id`) each time it
//! looks for new work ([`crate::cluster::ClusterFrontier`], every couple of seconds): a file
//! given to another `crawl --frontier` while it runs writes each batch's origins before the
//! batch's URLs, so a worker that leases one of those URLs has its origin in scope already.

use crate::error::Result;
use crate::frontier::postgres::connect::{FrontierUrl, STATEMENT_HINT};

/// One seed origin: `https://host:port`, and the directory its seeds were limited to
/// (`scope=prefix` lines), `None` for the whole origin.
pub type SeedOrigin = (String, Option<String>);

/// Adds `origins` to crawl `crawl`'s seed origins (those already there are left as they are);
/// `seed`: they are command-line seeds' (the credential `--header`s go to them), not a seeds
/// file's.
pub fn add(
    client: &mut impl postgres::GenericClient,
    url: &FrontierUrl,
    crawl: i64,
    origins: &[SeedOrigin],
    seed: bool,
) -> Result<()> {
    if origins.is_empty() {
        return Ok(());
    }
    // Sorted: two processes adding some of the same rows lock them in the same order.
    let mut rows: Vec<(&str, &str)> = origins
        .iter()
        .map(|(o, d)| (o.as_str(), d.as_deref().unwrap_or("")))
        .collect();
    rows.sort_unstable();
    rows.dedup();
    let (names, dirs): (Vec<&str>, Vec<&str>) = rows.into_iter().unzip();
    client
        .execute(
            "INSERT INTO seed_origins (crawl, origin, dir, seed)
             SELECT $1, o, d, $4 FROM unnest($2::text[], $3::text[]) AS t(o, d)
             ON CONFLICT (crawl, origin, dir, seed) DO NOTHING",
            &[&crawl, &names, &dirs, &seed],
        )
        .map_err(|e| url.error("keeping the seeds' origins", &e, STATEMENT_HINT))?;
    Ok(())
}

/// Crawl `crawl`'s seed origins added after row `after` (0: all), each with whether it is a
/// command-line seed's, and the last row's id (`after` when there is none).
pub fn since(
    client: &mut impl postgres::GenericClient,
    url: &FrontierUrl,
    crawl: i64,
    after: i64,
) -> Result<(Vec<(SeedOrigin, bool)>, i64)> {
    let rows = client
        .query(
            "SELECT id, origin, dir, seed FROM seed_origins WHERE crawl = $1 AND id > $2
             ORDER BY id",
            &[&crawl, &after],
        )
        .map_err(|e| url.error("reading the seeds' origins", &e, STATEMENT_HINT))?;
    let last = rows.last().map_or(after, |r| r.get(0));
    let origins = rows
        .iter()
        .map(|r| {
            let dir: String = r.get(2);
            ((r.get(1), (!dir.is_empty()).then_some(dir)), r.get(3))
        })
        .collect();
    Ok((origins, last))
}

/// The directories to give [`crate::canon::Scope::add_origin`] for one seed origin.
pub fn dirs_of(dir: &Option<String>) -> Vec<String> {
    dir.iter().cloned().collect()
}
