//! `status --frontier … --crawl NAME`: where a shared crawl stands, read from PostgreSQL alone
//! (no worker's store is needed), as the same [`Status`] a crawl of its own prints: totals over
//! every worker, each origin with its queue, its outcomes, its politeness and robots.txt
//! verdict, and what sharing adds ([`SharedStatus`]): each worker with its shards and heartbeat,
//! each origin's shard and holder.

use super::crawls;
use crate::error::Result;
use crate::frontier::postgres::connect::{FrontierUrl, STATEMENT_HINT};
use crate::frontier::postgres::queue::SharedQueue;
use crate::runtime::unix_ms;
use crate::status::{HostStatus, SharedStatus, Status, WorkerStatus, MAX_SHARED_HOSTS};
use crate::store::{decode, HostRecord, RobotsRecord};
use url::Url;

/// Reads the status of crawl `name`. `by_status`, `by_host` and `by_error` stay `None`:
/// PostgreSQL does not hold what they count without reading every page (see [`Status`]).
pub fn status(url: &FrontierUrl, name: &str) -> Result<Status> {
    let mut client = url.connect()?;
    let (crawl, settings) = crawls::open(&mut client, url, name)?;
    let err = |e: postgres::Error| url.error("reading the crawl's status", &e, STATEMENT_HINT);
    let totals = SharedQueue::new(crawl.id, crawl.shards).counters(&mut client, url)?;
    let workers = client
        .query(
            "SELECT w.id, w.pid, w.host, w.store,
                    extract(epoch FROM now() - w.heartbeat_at)::float8,
                    w.stopped_at IS NOT NULL,
                    coalesce((SELECT array_agg(s.shard ORDER BY s.shard) FROM shards s
                              WHERE s.crawl = w.crawl AND s.holder = w.id
                              AND s.expires_at > now()), '{}')
             FROM workers w WHERE w.crawl = $1 ORDER BY w.started_at, w.id",
            &[&crawl.id],
        )
        .map_err(err)?
        .iter()
        .map(|r| {
            let (stopped, shards): (bool, Vec<i32>) = (r.get(5), r.get(6));
            WorkerStatus {
                id: r.get(0),
                pid: r.get(1),
                host: r.get(2),
                store: r.get(3),
                heartbeat_age_s: r.get(4),
                state: match (stopped, shards.is_empty()) {
                    (true, _) => "stopped",
                    (false, false) => "running",
                    (false, true) => "idle",
                }
                .into(),
                shards,
            }
        })
        .collect();
    let hosts_total: i64 = client
        .query_one(
            "SELECT count(*) FROM origins WHERE crawl = $1",
            &[&crawl.id],
        )
        .map_err(err)?
        .get(0);
    // The origins' queues and outcomes are counted in subqueries grouped by origin id alone:
    // one pass over `urls` and one over `pages` (a correlated count per origin was a pass per
    // origin: 80 s for 200,000 URLs over 10,000 origins), and the saved politeness and
    // robots.txt (bytea, the latter up to the robots.txt cap) are read for the listed origins
    // only, not grouped on.
    let mut hosts = Vec::new();
    let now = unix_ms();
    for r in client
        .query(
            "SELECT o.origin, o.shard,
                    (SELECT s.holder FROM shards s WHERE s.crawl = o.crawl AND s.shard = o.shard
                     AND s.expires_at > now()),
                    coalesce(q.queued, 0) AS queued,
                    coalesce(p.done, 0), coalesce(p.failed, 0),
                    o.politeness, o.robots
             FROM origins o LEFT JOIN (
                 SELECT origin, count(*) AS queued FROM urls
                 WHERE crawl = $1 AND state < 2 GROUP BY origin) q ON q.origin = o.id
             LEFT JOIN (
                 SELECT origin, count(*) AS total,
                        count(*) FILTER (WHERE outcome = 0) AS done,
                        count(*) FILTER (WHERE outcome = 1) AS failed
                 FROM pages WHERE crawl = $1 AND latest GROUP BY origin) p ON p.origin = o.id
             WHERE o.crawl = $1
             ORDER BY queued DESC, coalesce(p.total, 0) DESC, o.origin LIMIT $2",
            &[&crawl.id, &(MAX_SHARED_HOSTS as i64)],
        )
        .map_err(err)?
    {
        let mut h = HostStatus::new(r.get(0));
        h.shard = Some(r.get(1));
        h.holder = r.get(2);
        let count = |i: usize| Some(r.get::<_, i64>(i).max(0) as u64);
        (h.queued, h.done, h.failed) = (count(3), count(4), count(5));
        let politeness: Option<Vec<u8>> = r.get(6);
        if let Some(v) = politeness {
            h.set_politeness(&decode::<HostRecord>("origins.politeness", &v)?, now);
        }
        let robots: Option<Vec<u8>> = r.get(7);
        if let Some(v) = robots {
            h.set_robots(decode::<RobotsRecord>("origins.robots", &v)?);
        }
        hosts.push(h);
    }
    Ok(Status {
        db: None,
        seeds: settings.seeds.iter().map(Url::to_string).collect(),
        totals,
        by_status: None,
        by_host: None,
        by_error: None,
        hosts,
        overrides: Vec::new(),
        settings: Some(settings),
        recrawl: None,
        shared: Some(SharedStatus {
            crawl: crawl.name,
            shards: crawl.shards,
            workers,
            hosts_total: hosts_total.max(0) as u64,
        }),
    })
}
