//! The shared seen-set and queue: one `urls` row per URL ever queued in the crawl, whichever
//! worker found it (the primary key is the dedupe), with its state, depth and order. Writes go
//! in batches (`unnest` arrays), so discovering a page's links costs one round trip, not one
//! per link. Reads are limited to the shards the caller holds; the caller fences its commits
//! (see [`super::shards`]).
//!
//! A leased URL stays `queued` in the table: leases live in the worker's memory, like the sled
//! frontier's, so a worker that dies gives its leases back by dying, and the next holder of the
//! shard finds them queued.

use std::collections::HashMap;

use postgres::GenericClient;

use super::connect::{FrontierUrl, STATEMENT_HINT};
use super::shard_of;
use crate::error::{Error, Result};
use crate::frontier::entry::{decode_entry, encode_entry, queue_key, QueueEntry, QueueKey};
use crate::store::Counters;

/// A `urls` row's state.
pub mod state {
    /// Waiting to be leased.
    pub const QUEUED: i16 = 0;
    /// Waiting until its `due_ms` (a retry).
    pub const PARKED: i16 = 1;
    /// Its outcome is stored.
    pub const SETTLED: i16 = 2;
}

/// A stored outcome's class in `pages.outcome`, for the totals.
pub mod outcome {
    /// A successful response.
    pub const DONE: i16 = 0;
    /// An error status or no response.
    pub const FAILED: i16 = 1;
    /// Not requested: robots.txt disallows it.
    pub const BLOCKED: i16 = 2;
}

/// One crawl's queue, with the origin ids this process has learned.
#[derive(Debug)]
pub struct SharedQueue {
    crawl: i64,
    shards: i32,
    ids: HashMap<String, i64>,
    /// Whose row of `totals` this process's changes go to (see [`bump_totals`]).
    writer: String,
}

/// A change to the crawl's totals, made in the transaction that changes what they count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delta {
    /// URLs queued or parked.
    pub queued: i64,
    /// Latest outcomes that are responses.
    pub done: i64,
    /// Latest outcomes that are failures.
    pub failed: i64,
    /// Latest outcomes that are robots.txt refusals.
    pub blocked: i64,
    /// The latest outcomes' body bytes.
    pub bytes: i64,
}

impl Delta {
    /// One latest outcome of `class` with `bytes` more (`sign` 1) or fewer (`sign` -1).
    fn outcome(&mut self, class: i16, n: i64, bytes: i64, sign: i64) {
        match class {
            outcome::DONE => self.done += sign * n,
            outcome::FAILED => self.failed += sign * n,
            _ => self.blocked += sign * n,
        }
        self.bytes += sign * bytes;
    }
}

/// Adds `d` to `writer`'s row of crawl `crawl`'s totals, inside the caller's transaction: the
/// totals are kept, not counted, so `status --frontier`, progress lines and `--max-pages` read
/// a few rows however big the crawl (counting `urls` every 2 s was most of PostgreSQL's work
/// per URL at 10 M queued, BENCHMARKS 4b). Each process writes its own row (a worker's id; the
/// `''` row only retry planners, which wait for each other on the crawl's row first), so two
/// commits never wait for each other here; the crawl's totals are the rows' sum.
pub fn bump_totals(
    tx: &mut impl GenericClient,
    url: &FrontierUrl,
    crawl: i64,
    writer: &str,
    d: &Delta,
) -> Result<()> {
    if *d == Delta::default() {
        return Ok(());
    }
    tx.execute(
        "INSERT INTO totals AS t (crawl, writer, queued, done, failed, blocked, bytes)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (crawl, writer) DO UPDATE SET
             queued = t.queued + EXCLUDED.queued, done = t.done + EXCLUDED.done,
             failed = t.failed + EXCLUDED.failed, blocked = t.blocked + EXCLUDED.blocked,
             bytes = t.bytes + EXCLUDED.bytes",
        &[
            &crawl, &writer, &d.queued, &d.done, &d.failed, &d.blocked, &d.bytes,
        ],
    )
    .map_err(|e| url.error("keeping the crawl's totals", &e, STATEMENT_HINT))?;
    Ok(())
}

/// An origin's saved politeness state and robots.txt verdict, encoded, as stored.
pub type OriginState = (Option<Vec<u8>>, Option<Vec<u8>>);

/// One stored outcome, for [`SharedQueue::settle`].
#[derive(Clone, Copy, Debug)]
pub struct Settled<'a> {
    /// The URL.
    pub url: &'a str,
    /// Its origin's id.
    pub origin: i64,
    /// The worker whose store holds the record.
    pub worker: &'a str,
    /// The record's `stored_at_us`.
    pub stamp: i64,
    /// Its [`outcome`] class.
    pub class: i16,
    /// Its body's size.
    pub bytes: i64,
    /// Its error kind (`ErrorKind::as_str`), for a failure: what `--retry-failed --kind`
    /// picks by.
    pub kind: Option<&'a str>,
}

/// A queued URL handed out: its key (origin id, depth, sequence, as the sled queue's) and
/// entry.
pub type Queued = (QueueKey, QueueEntry);

impl SharedQueue {
    /// The queue of crawl `crawl`, whose origins are spread over `shards` shards.
    pub fn new(crawl: i64, shards: i32) -> SharedQueue {
        SharedQueue {
            crawl,
            shards,
            ids: HashMap::new(),
            writer: String::new(),
        }
    }

    /// The same, its changes to the totals kept in `writer`'s row (a worker's id).
    pub fn with_writer(mut self, writer: &str) -> SharedQueue {
        self.writer = writer.to_string();
        self
    }

    /// How many shards the crawl's origins are spread over.
    pub fn shards(&self) -> i32 {
        self.shards
    }

    /// The shard of `origin` in this crawl.
    pub fn shard_of(&self, origin: &str) -> i32 {
        shard_of(origin, self.shards)
    }

    /// The ids of `origins`, assigned on first sight.
    pub fn origin_ids(
        &mut self,
        tx: &mut impl GenericClient,
        url: &FrontierUrl,
        origins: &[&str],
    ) -> Result<Vec<i64>> {
        let err = |e: postgres::Error| url.error("registering origins", &e, STATEMENT_HINT);
        let mut missing: Vec<&str> = origins
            .iter()
            .copied()
            .filter(|o| !self.ids.contains_key(*o))
            .collect();
        // Sorted, as URLs are (see `add`): no two workers wait for each other's inserts.
        missing.sort_unstable();
        missing.dedup();
        if !missing.is_empty() {
            let shards: Vec<i32> = missing.iter().map(|o| self.shard_of(o)).collect();
            tx.execute(
                "INSERT INTO origins (crawl, origin, shard)
                 SELECT $1, o, s FROM unnest($2::text[], $3::int[]) AS t(o, s)
                 ON CONFLICT (crawl, origin) DO NOTHING",
                &[&self.crawl, &missing, &shards],
            )
            .map_err(err)?;
            for row in tx
                .query(
                    "SELECT origin, id FROM origins WHERE crawl = $1 AND origin = ANY($2)",
                    &[&self.crawl, &missing],
                )
                .map_err(err)?
            {
                self.ids.insert(row.get(0), row.get(1));
            }
        }
        origins
            .iter()
            .map(|o| {
                // Inserted or found just above, in the same transaction.
                self.ids.get(*o).copied().ok_or_else(|| Error::Corrupt {
                    key: format!("origins.id of {o}"),
                    reason: "not found after it was inserted".into(),
                })
            })
            .collect()
    }

    /// Queues the entries whose URLs were never queued in this crawl (by any worker); returns,
    /// per newly queued URL, its origin id and origin.
    pub fn add(
        &mut self,
        tx: &mut impl GenericClient,
        url: &FrontierUrl,
        entries: &[QueueEntry],
    ) -> Result<Vec<(i64, String)>> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        // In URL order, so two workers inserting some of the same URLs lock them in the same
        // order and never wait for each other in a cycle.
        let mut sorted: Vec<&QueueEntry> = entries.iter().collect();
        sorted.sort_by(|a, b| a.url.cmp(&b.url));
        sorted.dedup_by(|a, b| a.url == b.url);
        let entries = sorted;
        let origins: Vec<String> = entries
            .iter()
            .map(|e| crate::store::origin_of_url(&e.url))
            .collect();
        let names: Vec<&str> = origins.iter().map(String::as_str).collect();
        let ids = self.origin_ids(tx, url, &names)?;
        let urls: Vec<&str> = entries.iter().map(|e| e.url.as_str()).collect();
        let shards: Vec<i32> = names.iter().map(|o| self.shard_of(o)).collect();
        let depths: Vec<i32> = entries.iter().map(|e| e.depth as i32).collect();
        let blobs: Vec<Vec<u8>> = entries.iter().map(|e| encode_entry(e)).collect();
        let rows = tx
            .query(
                "INSERT INTO urls (crawl, url, shard, origin, depth, state, entry)
                 SELECT $1, u, s, o, d, 0, e
                 FROM unnest($2::text[], $3::int[], $4::bigint[], $5::int[], $6::bytea[])
                      AS t(u, s, o, d, e)
                 ON CONFLICT (crawl, url) DO NOTHING RETURNING origin",
                &[&self.crawl, &urls, &shards, &ids, &depths, &blobs],
            )
            .map_err(|e| url.error("queueing URLs", &e, STATEMENT_HINT))?;
        let queued = Delta {
            queued: rows.len() as i64,
            ..Delta::default()
        };
        bump_totals(tx, url, self.crawl, &self.writer, &queued)?;
        let by_id: HashMap<i64, &str> = ids.iter().copied().zip(names.iter().copied()).collect();
        Ok(rows
            .iter()
            .map(|r| {
                let id: i64 = r.get(0);
                (id, by_id.get(&id).copied().unwrap_or_default().to_string())
            })
            .collect())
    }

    /// Up to `max` origins of the `held` shards with queued URLs, from origin id `from` on,
    /// in id order.
    pub fn origins_with_work(
        &self,
        client: &mut impl GenericClient,
        url: &FrontierUrl,
        held: &[i32],
        from: i64,
        max: i64,
    ) -> Result<Vec<(i64, String)>> {
        let rows = client
            .query(
                "SELECT o.id, o.origin FROM origins o
                 WHERE o.crawl = $1 AND o.shard = ANY($2) AND o.id >= $3
                 AND EXISTS (SELECT 1 FROM urls u WHERE u.crawl = $1 AND u.shard = o.shard
                             AND u.origin = o.id AND u.state = 0)
                 ORDER BY o.id LIMIT $4",
                &[&self.crawl, &held, &from, &max],
            )
            .map_err(|e| url.error("finding origins with work", &e, STATEMENT_HINT))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// The origin's first queued URLs (shallowest, oldest) whose sequence numbers are not in
    /// `leased`, at most `limit` of them.
    pub fn first(
        &self,
        client: &mut impl GenericClient,
        url: &FrontierUrl,
        origin: i64,
        leased: &[i64],
        limit: i64,
    ) -> Result<Vec<Queued>> {
        let rows = client
            .query(
                "SELECT depth, seq, entry FROM urls
                 WHERE crawl = $1 AND origin = $2 AND state = 0 AND NOT (seq = ANY($3))
                 ORDER BY depth, seq LIMIT $4",
                &[&self.crawl, &origin, &leased, &limit],
            )
            .map_err(|e| url.error("leasing URLs", &e, STATEMENT_HINT))?;
        rows.iter()
            .map(|r| {
                let (depth, seq): (i32, i64) = (r.get(0), r.get(1));
                let entry = decode_entry("urls.entry", r.get(2))?;
                Ok((queue_key(origin as u64, depth as u32, seq as u64), entry))
            })
            .collect()
    }

    /// Inside a fenced commit: marks URLs settled and records which worker's store holds each
    /// outcome (by the record's stamp). Idempotent, so a commit whose answer was lost with the
    /// connection can be sent again.
    pub fn settle(
        &self,
        tx: &mut impl GenericClient,
        url: &FrontierUrl,
        pages: &[Settled<'_>],
    ) -> Result<()> {
        if pages.is_empty() {
            return Ok(());
        }
        let err = |e: postgres::Error| url.error("storing an outcome", &e, STATEMENT_HINT);
        let urls: Vec<&str> = pages.iter().map(|p| p.url).collect();
        let origins: Vec<i64> = pages.iter().map(|p| p.origin).collect();
        let workers: Vec<&str> = pages.iter().map(|p| p.worker).collect();
        let stamps: Vec<i64> = pages.iter().map(|p| p.stamp).collect();
        let classes: Vec<i16> = pages.iter().map(|p| p.class).collect();
        let bytes: Vec<i64> = pages.iter().map(|p| p.bytes).collect();
        let kinds: Vec<Option<&str>> = pages.iter().map(|p| p.kind).collect();
        // Only URLs still queued or parked change (a commit sent again changes nothing).
        let settled = tx
            .execute(
                "UPDATE urls SET state = 2, due_ms = NULL
                 WHERE crawl = $1 AND url = ANY($2) AND state < 2",
                &[&self.crawl, &urls],
            )
            .map_err(err)?;
        let mut d = Delta {
            queued: -(settled as i64),
            ..Delta::default()
        };
        // A URL fetched again (`--retry-failed`): its earlier outcome stops counting (in the
        // same statement, one round trip). Not the row of this very outcome, so a commit sent
        // again leaves it the latest.
        // What the totals lose (the earlier outcomes) and gain (those inserted), by class.
        let changed = tx
            .query(
                "WITH earlier AS (
                 UPDATE pages p SET latest = false FROM unnest($2::text[], $5::bigint[]) AS t(u, s)
                 WHERE p.crawl = $1 AND p.url = t.u AND p.stamp <> t.s AND p.latest
                 RETURNING p.outcome, p.bytes),
             inserted AS (
             INSERT INTO pages (crawl, url, origin, worker, stamp, outcome, bytes, kind)
             SELECT $1, u, o, w, s, c, b, k
             FROM unnest($2::text[], $3::bigint[], $4::text[], $5::bigint[], $6::smallint[],
                         $7::bigint[], $8::text[]) AS t(u, o, w, s, c, b, k)
             ON CONFLICT DO NOTHING RETURNING outcome, bytes)
             SELECT -1::bigint, outcome, count(*), coalesce(sum(bytes), 0)::bigint
             FROM earlier GROUP BY outcome
             UNION ALL
             SELECT 1::bigint, outcome, count(*), coalesce(sum(bytes), 0)::bigint
             FROM inserted GROUP BY outcome",
                &[
                    &self.crawl,
                    &urls,
                    &origins,
                    &workers,
                    &stamps,
                    &classes,
                    &bytes,
                    &kinds,
                ],
            )
            .map_err(err)?;
        for r in &changed {
            let (sign, class, n, bytes): (i64, i16, i64, i64) =
                (r.get(0), r.get(1), r.get(2), r.get(3));
            d.outcome(class, n, bytes, sign);
        }
        bump_totals(tx, url, self.crawl, &self.writer, &d)
    }

    /// Inside a fenced commit: saves origins' politeness state (it moves with the shard).
    pub fn put_politeness(
        &self,
        tx: &mut impl GenericClient,
        url: &FrontierUrl,
        states: &[(i64, Vec<u8>)],
    ) -> Result<()> {
        if states.is_empty() {
            return Ok(());
        }
        let ids: Vec<i64> = states.iter().map(|(id, _)| *id).collect();
        let values: Vec<&[u8]> = states.iter().map(|(_, v)| v.as_slice()).collect();
        tx.execute(
            "UPDATE origins SET politeness = t.v
             FROM unnest($2::bigint[], $3::bytea[]) AS t(id, v)
             WHERE origins.crawl = $1 AND origins.id = t.id",
            &[&self.crawl, &ids, &values],
        )
        .map_err(|e| url.error("saving politeness state", &e, STATEMENT_HINT))?;
        Ok(())
    }

    /// An origin's saved politeness state and robots.txt verdict (encoded).
    pub fn origin_state(
        &self,
        client: &mut impl GenericClient,
        url: &FrontierUrl,
        origin: &str,
    ) -> Result<OriginState> {
        let row = client
            .query_opt(
                "SELECT politeness, robots FROM origins WHERE crawl = $1 AND origin = $2",
                &[&self.crawl, &origin],
            )
            .map_err(|e| url.error("reading an origin's state", &e, STATEMENT_HINT))?;
        Ok(row.map_or((None, None), |r| (r.get(0), r.get(1))))
    }

    /// Saves an origin's robots.txt verdict (encoded).
    pub fn put_robots(
        &mut self,
        client: &mut impl GenericClient,
        url: &FrontierUrl,
        origin: &str,
        record: &[u8],
    ) -> Result<()> {
        let id = self.origin_ids(client, url, &[origin])?;
        client
            .execute(
                "UPDATE origins SET robots = $3 WHERE crawl = $1 AND id = $2",
                &[&self.crawl, &id[0], &record],
            )
            .map_err(|e| url.error("saving a robots.txt verdict", &e, STATEMENT_HINT))?;
        Ok(())
    }

    /// How many outcomes of requests (done or failed) the origin has stored, over every
    /// worker (for `--max-pages-per-host`).
    pub fn stored_pages(
        &self,
        client: &mut impl GenericClient,
        url: &FrontierUrl,
        origin: &str,
    ) -> Result<u64> {
        let n: i64 = client
            .query_one(
                "SELECT count(*) FROM pages p JOIN origins o ON o.crawl = p.crawl AND o.id = p.origin
                 WHERE p.crawl = $1 AND o.origin = $2 AND p.outcome < 2 AND p.latest",
                &[&self.crawl, &origin],
            )
            .map_err(|e| url.error("counting an origin's pages", &e, STATEMENT_HINT))?
            .get(0);
        Ok(n as u64)
    }

    /// The queued URL of `origin` with sequence number `seq`, if it is still queued.
    pub fn queued(
        &self,
        client: &mut impl GenericClient,
        url: &FrontierUrl,
        origin: i64,
        seq: i64,
    ) -> Result<Option<Queued>> {
        let row = client
            .query_opt(
                "SELECT depth, entry FROM urls
                 WHERE crawl = $1 AND origin = $2 AND seq = $3 AND state = 0",
                &[&self.crawl, &origin, &seq],
            )
            .map_err(|e| url.error("leasing a URL", &e, STATEMENT_HINT))?;
        row.map(|r| {
            let depth: i32 = r.get(0);
            let entry = decode_entry("urls.entry", r.get(1))?;
            Ok((queue_key(origin as u64, depth as u32, seq as u64), entry))
        })
        .transpose()
    }

    /// Whether the crawl has no URL queued or parked, in any shard.
    pub fn all_settled(&self, client: &mut impl GenericClient, url: &FrontierUrl) -> Result<bool> {
        let row = client
            .query_one(
                "SELECT NOT EXISTS (SELECT 1 FROM urls WHERE crawl = $1 AND state = 0)
                    AND NOT EXISTS (SELECT 1 FROM urls WHERE crawl = $1 AND state = 1)",
                &[&self.crawl],
            )
            .map_err(|e| url.error("reading whether work is left", &e, STATEMENT_HINT))?;
        Ok(row.get(0))
    }

    /// Inside a fenced commit: puts a leased URL back with its new entry (one more attempt),
    /// queued now or parked until `due_ms`.
    pub fn put_back(
        &self,
        tx: &mut impl GenericClient,
        url: &FrontierUrl,
        entry: &QueueEntry,
        due_ms: Option<i64>,
    ) -> Result<()> {
        let st = if due_ms.is_some() {
            state::PARKED
        } else {
            state::QUEUED
        };
        tx.execute(
            "UPDATE urls SET state = $3, due_ms = $4, entry = $5 WHERE crawl = $1 AND url = $2",
            &[&self.crawl, &entry.url, &st, &due_ms, &encode_entry(entry)],
        )
        .map_err(|e| url.error("putting a URL back", &e, STATEMENT_HINT))?;
        Ok(())
    }

    /// When the earliest parked URL of the `held` shards is due, if any is parked.
    pub fn next_due(
        &self,
        client: &mut impl GenericClient,
        url: &FrontierUrl,
        held: &[i32],
    ) -> Result<Option<i64>> {
        let row = client
            .query_one(
                "SELECT min(due_ms) FROM urls WHERE crawl = $1 AND shard = ANY($2) AND state = 1",
                &[&self.crawl, &held],
            )
            .map_err(|e| url.error("reading parked URLs", &e, STATEMENT_HINT))?;
        Ok(row.get(0))
    }

    /// Queues again the parked URLs of the `held` shards due by `now_ms`; returns their
    /// origins.
    pub fn release_due(
        &self,
        client: &mut impl GenericClient,
        url: &FrontierUrl,
        held: &[i32],
        now_ms: i64,
    ) -> Result<Vec<(i64, String)>> {
        let rows = client
            .query(
                "WITH due AS (
                     UPDATE urls SET state = 0, due_ms = NULL
                     WHERE crawl = $1 AND shard = ANY($2) AND state = 1 AND due_ms <= $3
                     RETURNING origin)
                 SELECT DISTINCT o.id, o.origin FROM due JOIN origins o ON o.id = due.origin",
                &[&self.crawl, &held, &now_ms],
            )
            .map_err(|e| url.error("releasing parked URLs", &e, STATEMENT_HINT))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// The crawl's totals: URLs queued or parked, and stored outcomes by class, over every
    /// worker.
    pub fn counters(&self, client: &mut impl GenericClient, url: &FrontierUrl) -> Result<Counters> {
        let row = client
            .query_one(
                "SELECT coalesce(sum(queued), 0)::bigint, coalesce(sum(done), 0)::bigint,
                        coalesce(sum(failed), 0)::bigint, coalesce(sum(blocked), 0)::bigint,
                        coalesce(sum(bytes), 0)::bigint
                 FROM totals WHERE crawl = $1",
                &[&self.crawl],
            )
            .map_err(|e| url.error("reading the totals", &e, STATEMENT_HINT))?;
        let n = |i: usize| r_u64(row.get::<_, i64>(i));
        Ok(Counters {
            queued: n(0),
            done: n(1),
            failed: n(2),
            blocked: n(3),
            bytes: n(4),
            ..Counters::default()
        })
    }
}

/// A kept total as a count (never below zero, whatever a bug did to it).
fn r_u64(v: i64) -> u64 {
    v.max(0) as u64
}
