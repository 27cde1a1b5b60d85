//! `crawl --frontier … --retry-failed [--kind …]`: the failed URLs of the shared crawl queued
//! again, as a **round** of the crawl's, not of one worker's. The failures are found in
//! PostgreSQL (`pages`: the latest outcome of each URL, its class and error kind), whichever
//! worker's store holds their records, so any worker can plan the round and any may fetch its
//! URLs (the shards decide). A success is stored as a new record in the store of the worker
//! that fetched it, and `pages` marks it its URL's latest (totals and `export --versions
//! latest` count that one).
//!
//! Planning is one transaction under the crawl's row lock: a kill -9 in it leaves nothing
//! half done, and two workers started with the flag at once plan one round. A worker started
//! with the flag while the last round still has URLs queued joins that round (a restarted
//! worker does not queue the URLs again); once it is finished, the flag plans a new one.

use postgres::GenericClient;

use super::crawls::ClusterCrawl;
use crate::error::Result;
use crate::failure::ErrorKind;
use crate::frontier::entry::{decode_entry, encode_entry};
use crate::frontier::postgres::connect::{FrontierUrl, STATEMENT_HINT};
use crate::frontier::postgres::queue::{bump_totals, outcome, state, Delta};

/// What `--retry-failed` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Planned {
    /// A new round queued failed URLs again.
    New {
        /// Its number in the crawl (1 for the first).
        round: i32,
        /// How many URLs it queued.
        queued: u64,
    },
    /// The crawl's last round was not finished: this worker joins it.
    Joined {
        /// Its number.
        round: i32,
        /// Its URLs still queued or parked.
        left: u64,
    },
    /// No failed URL (of those kinds): nothing queued.
    Nothing,
}

/// Plans a round of the failed URLs of `kinds` (all when empty), or joins the unfinished one.
pub fn plan_or_join(
    client: &mut postgres::Client,
    url: &FrontierUrl,
    crawl: &ClusterCrawl,
    kinds: &[ErrorKind],
) -> Result<Planned> {
    let err = |e: postgres::Error| url.error("queueing the failed URLs again", &e, STATEMENT_HINT);
    let mut tx = client.transaction().map_err(err)?;
    // Planners of one crawl wait for each other here.
    tx.execute(
        "SELECT 1 FROM crawls WHERE id = $1 FOR UPDATE",
        &[&crawl.id],
    )
    .map_err(err)?;
    let last: Option<i32> = tx
        .query_one(
            "SELECT max(round) FROM rounds WHERE crawl = $1",
            &[&crawl.id],
        )
        .map_err(err)?
        .get(0);
    if let Some(round) = last {
        let left: i64 = tx
            .query_one(
                "SELECT count(*) FROM urls WHERE crawl = $1 AND round = $2 AND state < 2",
                &[&crawl.id, &round],
            )
            .map_err(err)?
            .get(0);
        if left > 0 {
            tx.commit().map_err(err)?;
            return Ok(Planned::Joined {
                round,
                left: left as u64,
            });
        }
    }
    let round = last.unwrap_or(0) + 1;
    let queued = requeue(&mut tx, url, crawl.id, round, kinds)?;
    if queued == 0 {
        return Ok(Planned::Nothing);
    }
    let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
    tx.execute(
        "INSERT INTO rounds (crawl, round, kinds, queued) VALUES ($1, $2, $3, $4)",
        &[&crawl.id, &round, &names, &(queued as i64)],
    )
    .map_err(err)?;
    tx.commit().map_err(err)?;
    Ok(Planned::New { round, queued })
}

/// Queues again, with no attempts made (the retries of a transient failure start over), the
/// settled URLs whose latest outcome is a failure of `kinds`; returns how many.
fn requeue(
    tx: &mut impl GenericClient,
    url: &FrontierUrl,
    crawl: i64,
    round: i32,
    kinds: &[ErrorKind],
) -> Result<u64> {
    let err = |e: postgres::Error| url.error("queueing the failed URLs again", &e, STATEMENT_HINT);
    let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
    // In URL order, as every batch of `urls` writes (no lock cycle with a worker's commit).
    let rows = tx
        .query(
            "SELECT u.url, u.entry FROM urls u
             JOIN pages p ON p.crawl = u.crawl AND p.url = u.url
             WHERE u.crawl = $1 AND u.state = $2 AND p.latest AND p.outcome = $3
               AND (cardinality($4::text[]) = 0 OR p.kind = ANY($4))
             ORDER BY u.url FOR UPDATE OF u",
            &[&crawl, &state::SETTLED, &outcome::FAILED, &names],
        )
        .map_err(err)?;
    let mut urls = Vec::with_capacity(rows.len());
    let mut entries = Vec::with_capacity(rows.len());
    for r in &rows {
        let mut entry = decode_entry("urls.entry", r.get(1))?;
        entry.attempts = 0;
        urls.push(r.get::<_, String>(0));
        entries.push(encode_entry(&entry));
    }
    if urls.is_empty() {
        return Ok(0);
    }
    tx.execute(
        "UPDATE urls SET state = $2, due_ms = NULL, round = $3, entry = t.e
         FROM unnest($4::text[], $5::bytea[]) AS t(u, e)
         WHERE urls.crawl = $1 AND urls.url = t.u",
        &[&crawl, &state::QUEUED, &round, &urls, &entries],
    )
    .map_err(err)?;
    // Settled → queued: the planner's part of the totals (the `''` row: planners of one crawl
    // wait for each other on the crawl's row above, so nobody else holds it).
    let queued = Delta {
        queued: urls.len() as i64,
        ..Delta::default()
    };
    bump_totals(tx, url, crawl, "", &queued)?;
    Ok(urls.len() as u64)
}

/// [`plan_or_join`] on a connection of its own, saying on stderr what it did.
pub fn announce(url: &FrontierUrl, crawl: &ClusterCrawl, kinds: &[ErrorKind]) -> Result<Planned> {
    let mut client = url.connect()?;
    let planned = plan_or_join(&mut client, url, crawl, kinds)?;
    match planned {
        Planned::New { round, queued } => log::warn!(
            "--retry-failed: {queued} failed URLs of crawl {:?} queued again (round {round})",
            crawl.name
        ),
        Planned::Joined { round, left } => log::warn!(
            "--retry-failed: round {round} of crawl {:?} is not finished ({left} URLs left); \
             this worker joins it, give --retry-failed again after",
            crawl.name
        ),
        Planned::Nothing => log::warn!("--retry-failed: no failed URL to request again"),
    }
    Ok(planned)
}
