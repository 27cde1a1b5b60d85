//! Shard leases: which worker may crawl which origins now.
//!
//! A worker holds a shard until its lease (`expires_at`, PostgreSQL's clock, so the workers'
//! clocks never have to agree) runs out; [`ShardLeases::tick`] renews what it holds, takes its
//! fair share of the free and expired ones, and gives back what it holds beyond its share
//! while another live worker has less (a worker joining or leaving rebalances). Every take
//! raises the shard's **epoch**: a commit names the epochs it was made under and is refused
//! once any moved on ([`ShardLeases::fence`]), so a worker stalled past its lease (SIGSTOP, a
//! long pause) cannot store stale outcomes over the new holder's. Before it sends a request, a
//! worker also asks [`ShardLeases::may_send`]: a lease counts as held only until the local
//! monotonic deadline measured from *before* the renewal was sent, so a stalled worker stops
//! sending even before it learns that it lost the shard.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use postgres::GenericClient;

use super::connect::{FrontierUrl, STATEMENT_HINT};
use crate::error::{Error, Result};

/// A worker's claim on one shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Held {
    /// The epoch it was taken at: commits are made under it.
    pub epoch: i64,
    /// Until when this process may act on it (monotonic, conservative).
    pub until: Instant,
}

/// What one [`ShardLeases::tick`] changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Shards taken (free, expired, or given back by another worker).
    pub gained: Vec<i32>,
    /// Shards this worker no longer holds (taken over after a stall, or given back).
    pub lost: Vec<i32>,
    /// Shards beyond the fair share, to be given back: this worker starts nothing more for
    /// them (and its send gate lets nothing more out) from now on, and a later tick gives
    /// them back once no request of theirs is in flight, so the next holder's first request
    /// comes after this one's last.
    pub draining: Vec<i32>,
    /// Shards are changing hands (this worker drains some, or is below its share while some
    /// are free or another worker drains): tick again soon rather than at the usual pace.
    pub settling: bool,
}

/// One worker's shard leases in one crawl.
#[derive(Debug)]
pub struct ShardLeases {
    crawl: i64,
    shards: i32,
    worker: String,
    ttl: Duration,
    held: BTreeMap<i32, Held>,
    busy: std::collections::BTreeSet<i32>,
    /// Shards marked to be given back at the previous tick (see [`Changes::draining`]).
    draining: std::collections::BTreeSet<i32>,
    hold: Duration,
}

impl ShardLeases {
    /// Registers worker `worker` (its pid, host and local store, for `status`) in crawl `crawl`
    /// of `shards` shards; it holds nothing until its first [`tick`](Self::tick).
    pub fn join(
        client: &mut postgres::Client,
        url: &FrontierUrl,
        (crawl, shards): (i64, i32),
        worker: &str,
        store: &str,
        ttl: Duration,
    ) -> Result<ShardLeases> {
        let host = hostname();
        client
            .execute(
                "INSERT INTO workers (crawl, id, pid, host, store) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (crawl, id) DO UPDATE
                 SET heartbeat_at = now(), stopped_at = NULL, pid = $3, host = $4, store = $5",
                &[&crawl, &worker, &(std::process::id() as i32), &host, &store],
            )
            .map_err(|e| url.error("registering the worker", &e, STATEMENT_HINT))?;
        Ok(ShardLeases {
            crawl,
            shards,
            worker: worker.to_string(),
            ttl,
            held: BTreeMap::new(),
            busy: Default::default(),
            draining: Default::default(),
            hold: Duration::ZERO,
        })
    }

    /// The worker's id.
    pub fn worker(&self) -> &str {
        &self.worker
    }

    /// The shards held, with their epochs.
    pub fn held(&self) -> &BTreeMap<i32, Held> {
        &self.held
    }

    /// The shards being drained to be given back (see [`Changes::draining`]): no new request
    /// starts for them.
    pub fn draining(&self) -> &std::collections::BTreeSet<i32> {
        &self.draining
    }

    /// How long a lease lasts without a renewal.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// How long a shard stays free after its holder let it go (given back, left, or its lease
    /// ran out) before another worker may take it: the crawl's gap between two requests to an
    /// origin. The last holder sent nothing after that moment (a shard is given back idle, and
    /// a holder stops sending at its lease's local deadline, which is before the server's
    /// expiry), so the next holder's first request keeps the gap after the last one.
    pub fn set_hold(&mut self, hold: Duration) {
        self.hold = hold;
    }

    /// The shards with requests in flight now: a rebalance gives them back only once idle.
    pub fn set_busy(&mut self, busy: std::collections::BTreeSet<i32>) {
        self.busy = busy;
    }

    /// Whether this process may still send requests for origins of `shard` now.
    pub fn may_send(&self, shard: i32) -> bool {
        self.held
            .get(&shard)
            .is_some_and(|h| Instant::now() < h.until)
    }

    /// Renews, takes and gives back (see the module doc), in one transaction; a heartbeat too.
    pub fn tick(&mut self, client: &mut postgres::Client, url: &FrontierUrl) -> Result<Changes> {
        let err = |e: postgres::Error| url.error("renewing the shard leases", &e, STATEMENT_HINT);
        // The local deadline starts before the statement is sent: the server's expiry is later.
        let until = Instant::now() + self.ttl;
        let ttl_ms = self.ttl.as_millis() as i64;
        let mut tx = client.transaction().map_err(err)?;
        tx.execute(
            "UPDATE workers SET heartbeat_at = now() WHERE crawl = $1 AND id = $2",
            &[&self.crawl, &self.worker],
        )
        .map_err(err)?;
        let mine: BTreeMap<i32, i64> = tx
            .query(
                "UPDATE shards SET expires_at = now() + $3::bigint * interval '1 millisecond'
                 WHERE crawl = $1 AND holder = $2 RETURNING shard, epoch",
                &[&self.crawl, &self.worker, &ttl_ms],
            )
            .map_err(err)?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let mut changes = Changes::default();
        for (shard, held) in &self.held {
            if mine.get(shard) != Some(&held.epoch) {
                changes.lost.push(*shard);
            }
        }
        let live: i64 = tx
            .query_one(
                "SELECT count(*) FROM workers WHERE crawl = $1 AND stopped_at IS NULL
                 AND (id = $2 OR heartbeat_at > now() - $3::bigint * interval '1 millisecond')",
                &[&self.crawl, &self.worker, &ttl_ms],
            )
            .map_err(err)?
            .get(0);
        let share = (self.shards as i64 + live - 1) / live.max(1);
        let mut now_held: BTreeMap<i32, i64> = mine;
        let have = now_held.len() as i64;
        if have < share {
            let hold_ms = self.hold.as_millis() as i64;
            let taken = tx
                .query(
                    "UPDATE shards SET holder = $2, epoch = epoch + 1,
                         expires_at = now() + $3::bigint * interval '1 millisecond'
                     WHERE crawl = $1 AND shard IN (
                         SELECT shard FROM shards
                         WHERE crawl = $1 AND (holder IS NULL OR expires_at < now())
                         AND (expires_at IS NULL
                              OR expires_at < now() - $5::bigint * interval '1 millisecond')
                         ORDER BY shard LIMIT $4 FOR UPDATE SKIP LOCKED)
                     RETURNING shard, epoch",
                    &[
                        &self.crawl,
                        &self.worker,
                        &ttl_ms,
                        &(share - have),
                        &hold_ms,
                    ],
                )
                .map_err(err)?;
            for r in taken {
                changes.gained.push(r.get(0));
                now_held.insert(r.get(0), r.get(1));
            }
        } else if have > share && others_want(&mut tx, self, share, ttl_ms).map_err(err)? {
            // Beyond the fair share while another live worker is below it: the highest go
            // back, so the others' next tick takes them; each is drained first (marked at one
            // tick, given back at a later one once idle).
            let excess: Vec<i32>;
            (excess, changes.draining) = now_held
                .keys()
                .rev()
                .take((have - share) as usize)
                .partition(|s| self.draining.contains(s) && !self.busy.contains(s));
            tx.execute(
                "UPDATE shards SET holder = NULL, expires_at = now()
                 WHERE crawl = $1 AND holder = $2 AND shard = ANY($3)",
                &[&self.crawl, &self.worker, &excess],
            )
            .map_err(err)?;
            for s in excess {
                now_held.remove(&s);
                changes.lost.push(s);
            }
        }
        // Below the share while shards are free (in their hold) or another worker is above
        // it (draining them): a handoff is under way, so the next tick should come soon.
        changes.settling = !changes.draining.is_empty();
        if (now_held.len() as i64) < share {
            let row = tx
                .query_one(
                    "SELECT (SELECT count(*) FROM shards WHERE crawl = $1
                             AND (holder IS NULL OR expires_at < now())),
                            (SELECT count(*) FROM (SELECT holder FROM shards
                             WHERE crawl = $1 AND holder <> $2 AND expires_at > now()
                             GROUP BY holder HAVING count(*) > $3) t)",
                    &[&self.crawl, &self.worker, &share],
                )
                .map_err(err)?;
            let (free, over): (i64, i64) = (row.get(0), row.get(1));
            changes.settling |= free > 0 || over > 0;
        }
        tx.commit().map_err(err)?;
        changes.gained.sort_unstable();
        changes.lost.sort_unstable();
        changes.draining.sort_unstable();
        self.draining = changes.draining.iter().copied().collect();
        self.held = now_held
            .into_iter()
            .map(|(s, epoch)| (s, Held { epoch, until }))
            .collect();
        Ok(changes)
    }

    /// Inside a commit's transaction: locks the rows of `shards` against a takeover until the
    /// commit ends, and refuses the commit ([`Error::StaleShard`]) unless this worker still
    /// holds every one of them at the epoch it took it at.
    pub fn fence(
        &self,
        tx: &mut impl GenericClient,
        url: &FrontierUrl,
        shards: &[i32],
    ) -> Result<()> {
        let rows = tx
            .query(
                "SELECT shard, holder, epoch FROM shards
                 WHERE crawl = $1 AND shard = ANY($2) FOR SHARE",
                &[&self.crawl, &shards],
            )
            .map_err(|e| url.error("checking the shard epochs", &e, STATEMENT_HINT))?;
        let current: BTreeMap<i32, (Option<String>, i64)> = rows
            .iter()
            .map(|r| (r.get(0), (r.get(1), r.get(2))))
            .collect();
        for shard in shards {
            let held = self.held.get(shard).map(|h| h.epoch);
            let now = current.get(shard);
            let ours = now.is_some_and(|(holder, epoch)| {
                holder.as_deref() == Some(self.worker.as_str()) && Some(*epoch) == held
            });
            if !ours {
                return Err(Error::StaleShard {
                    shard: *shard,
                    epoch: held.unwrap_or(-1),
                    now: now.map_or(-1, |(_, e)| *e),
                });
            }
        }
        Ok(())
    }

    /// Gives every shard back and marks the worker stopped (a clean exit): the others take
    /// them at their next tick instead of after the lease runs out.
    pub fn leave(&mut self, client: &mut postgres::Client, url: &FrontierUrl) -> Result<()> {
        let err = |e: postgres::Error| url.error("leaving the crawl", &e, STATEMENT_HINT);
        let mut tx = client.transaction().map_err(err)?;
        tx.execute(
            "UPDATE shards SET holder = NULL, expires_at = now() WHERE crawl = $1 AND holder = $2",
            &[&self.crawl, &self.worker],
        )
        .map_err(err)?;
        tx.execute(
            "UPDATE workers SET stopped_at = now() WHERE crawl = $1 AND id = $2",
            &[&self.crawl, &self.worker],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        self.held.clear();
        Ok(())
    }
}

/// Whether another live worker holds fewer than `share` shards.
fn others_want(
    tx: &mut postgres::Transaction<'_>,
    me: &ShardLeases,
    share: i64,
    ttl_ms: i64,
) -> std::result::Result<bool, postgres::Error> {
    let row = tx.query_one(
        "SELECT count(*) FROM workers w WHERE w.crawl = $1 AND w.id <> $2
         AND w.stopped_at IS NULL AND w.heartbeat_at > now() - $4::bigint * interval '1 millisecond'
         AND (SELECT count(*) FROM shards s WHERE s.crawl = $1 AND s.holder = w.id
              AND s.expires_at > now()) < $3",
        &[&me.crawl, &me.worker, &share, &ttl_ms],
    )?;
    Ok(row.get::<_, i64>(0) > 0)
}

/// This machine's name, for `status` (best effort).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}
