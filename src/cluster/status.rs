//! `status --frontier … --crawl NAME`: where a shared crawl stands, read from PostgreSQL alone
//! (no worker's store is needed): totals over every worker, each worker with its shards and
//! heartbeat, and each origin with its queue, its outcomes, its holder and its politeness.

use serde::Serialize;

use super::crawls;
use crate::error::Result;
use crate::frontier::postgres::connect::{FrontierUrl, STATEMENT_HINT};
use crate::frontier::postgres::queue::SharedQueue;
use crate::store::{decode, Counters, HostRecord};

/// Origins listed at most (the busiest first); the totals count every one.
const MAX_HOSTS: i64 = 200;

/// A shared crawl's status.
#[derive(Clone, Debug, Serialize)]
pub struct ClusterStatus {
    /// The crawl's name.
    pub crawl: String,
    /// Its shard count.
    pub shards: i32,
    /// Totals over every worker (leased URLs count as queued).
    pub totals: Counters,
    /// Every worker that ever joined, oldest first.
    pub workers: Vec<WorkerRow>,
    /// Origins, most work first (at most 200).
    pub hosts: Vec<HostRow>,
    /// Origins in the crawl.
    pub hosts_total: i64,
}

/// One worker.
#[derive(Clone, Debug, Serialize)]
pub struct WorkerRow {
    /// Its id.
    pub id: String,
    /// Its process id and machine.
    pub pid: i32,
    /// The machine it runs on.
    pub host: String,
    /// Its own store (`--db`).
    pub store: String,
    /// Seconds since its last heartbeat.
    pub heartbeat_age_s: f64,
    /// `running` (holds shard leases), `idle` (holds none: it just joined, has no share, or
    /// is gone; `heartbeat_age_s` tells which) or `stopped` (left cleanly).
    pub state: String,
    /// Shards it holds now (unexpired leases).
    pub shards: Vec<i32>,
}

/// One origin.
#[derive(Clone, Debug, Serialize)]
pub struct HostRow {
    /// The origin.
    pub origin: String,
    /// Its shard.
    pub shard: i32,
    /// The worker holding its shard now, if any.
    pub holder: Option<String>,
    /// URLs queued or parked.
    pub queued: i64,
    /// Stored outcomes: done, failed, blocked.
    pub done: i64,
    /// Failed outcomes.
    pub failed: i64,
    /// Not fetched: robots.txt.
    pub blocked: i64,
    /// Times the host asked for a pause (429/503), as saved with its shard.
    pub pauses: u64,
    /// Its back-off between starts now, ms.
    pub backoff_ms: u64,
}

/// Reads the status of crawl `name`.
pub fn status(url: &FrontierUrl, name: &str) -> Result<ClusterStatus> {
    let mut client = url.connect()?;
    let (crawl, _) = crawls::open(&mut client, url, name)?;
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
            WorkerRow {
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
    let mut hosts = Vec::new();
    for r in client
        .query(
            "SELECT o.origin, o.shard,
                    (SELECT s.holder FROM shards s WHERE s.crawl = o.crawl AND s.shard = o.shard
                     AND s.expires_at > now()),
                    (SELECT count(*) FROM urls u WHERE u.crawl = o.crawl AND u.origin = o.id
                     AND u.state < 2) AS queued,
                    count(*) FILTER (WHERE p.outcome = 0),
                    count(*) FILTER (WHERE p.outcome = 1),
                    count(*) FILTER (WHERE p.outcome = 2),
                    o.politeness
             FROM origins o LEFT JOIN pages p ON p.crawl = o.crawl AND p.origin = o.id
             WHERE o.crawl = $1
             GROUP BY o.crawl, o.id, o.origin, o.shard, o.politeness
             ORDER BY queued DESC, count(p.url) DESC, o.origin LIMIT $2",
            &[&crawl.id, &MAX_HOSTS],
        )
        .map_err(err)?
    {
        let politeness: Option<Vec<u8>> = r.get(7);
        let saved: HostRecord = match politeness {
            Some(v) => decode("origins.politeness", &v)?,
            None => HostRecord::default(),
        };
        hosts.push(HostRow {
            origin: r.get(0),
            shard: r.get(1),
            holder: r.get(2),
            queued: r.get(3),
            done: r.get(4),
            failed: r.get(5),
            blocked: r.get(6),
            pauses: saved.pauses,
            backoff_ms: saved.backoff_ms,
        });
    }
    Ok(ClusterStatus {
        crawl: crawl.name,
        shards: crawl.shards,
        totals,
        workers,
        hosts,
        hosts_total,
    })
}

impl std::fmt::Display for ClusterStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = &self.totals;
        writeln!(
            f,
            "crawl {:?} ({} shards): {} queued, {} done, {} failed, {} blocked, {} stored",
            self.crawl,
            self.shards,
            t.queued,
            t.done,
            t.failed,
            t.blocked,
            bytesize::ByteSize(t.bytes)
        )?;
        writeln!(f, "workers:")?;
        for w in &self.workers {
            writeln!(
                f,
                "  {:<24} {:<8} pid {:<7} on {}, heartbeat {:.1}s ago, {} shards {:?}, store {}",
                w.id,
                w.state,
                w.pid,
                w.host,
                w.heartbeat_age_s,
                w.shards.len(),
                w.shards,
                w.store
            )?;
        }
        writeln!(
            f,
            "hosts ({} of {}, most work first):",
            self.hosts.len(),
            self.hosts_total
        )?;
        for h in &self.hosts {
            writeln!(
                f,
                "  {:<40} shard {:<3} {:<24} {} queued, {} done, {} failed, {} blocked, {} pauses, back-off {} ms",
                h.origin,
                h.shard,
                h.holder.as_deref().unwrap_or("(no holder)"),
                h.queued,
                h.done,
                h.failed,
                h.blocked,
                h.pauses,
                h.backoff_ms
            )?;
        }
        Ok(())
    }
}
