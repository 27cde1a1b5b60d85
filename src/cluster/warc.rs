//! `crawl --frontier … --warc PREFIX`: each worker writes its own live WARC files, named
//! `PREFIX-<worker id>-00000.warc.gz` (the id is the one in the worker's `--db`
//! `cluster.json`, so workers sharing a folder never write the same file, and a worker
//! restarted on its `--db` goes on with its own files), and together they hold each page of
//! the crawl exactly once.
//!
//! A worker stores a record in its own store before the fenced PostgreSQL commit that counts
//! it; that commit can be refused (the shard moved: another worker fetches the URL again) or
//! cut by a kill -9. The follower of the page log (`export::live`) therefore asks
//! [`Counted`] about each record before it writes it:
//! - a record whose commit is under way in this process (its stamp is in [`Pending`], put
//!   there before the record reaches the page log, taken out once the commit succeeded or was
//!   refused) is not decided yet: the follower waits at it;
//! - any other record is decided, and PostgreSQL's `pages` says how: the crawl counts it when
//!   `pages` has its URL and stamp under this worker (as `export --frontier` keeps it). That
//!   covers records of an earlier run cut off by a kill -9: their commit happened or never
//!   will.
//!
//! A commit that failed for another reason (PostgreSQL gone past the reconnect time) stays
//! pending, so this run never writes it; the next start asks PostgreSQL.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use crate::error::Result;
use crate::frontier::postgres::connect::{FrontierUrl, STATEMENT_HINT};
use crate::frontier::CountedRecords;

/// The prefix worker `worker` writes its files under, for the crawl's `--warc PREFIX`.
pub fn worker_prefix(prefix: &str, worker: &str) -> String {
    format!("{prefix}-{worker}")
}

/// Stamps of records stored here whose PostgreSQL commit is not decided yet.
#[derive(Debug, Default)]
pub struct Pending(Mutex<HashSet<u64>>);

impl Pending {
    fn set(&self) -> std::sync::MutexGuard<'_, HashSet<u64>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Before the records reach the page log: the follower must not take them as decided.
    pub fn add(&self, stamps: &[u64]) {
        self.set().extend(stamps.iter().copied());
    }

    /// Once their commit succeeded or was refused: PostgreSQL now says which count.
    pub fn decided(&self, stamps: &[u64]) {
        let mut set = self.set();
        for s in stamps {
            set.remove(s);
        }
    }
}

/// What a shared-crawl worker's live WARC asks (see the module doc); its own connection, made
/// when first needed and made again after an error.
pub struct Counted {
    pending: Arc<Pending>,
    url: FrontierUrl,
    crawl: i64,
    worker: String,
    client: Option<postgres::Client>,
    /// Whether the last question went unanswered (said once, not at every look).
    failing: bool,
}

impl Counted {
    /// For worker `worker` of crawl `crawl`.
    pub fn new(pending: Arc<Pending>, url: FrontierUrl, crawl: i64, worker: &str) -> Counted {
        Counted {
            pending,
            url,
            crawl,
            worker: worker.to_string(),
            client: None,
            failing: false,
        }
    }

    /// Which of `records` `pages` has under this worker.
    fn in_pages(&mut self, records: &[(u64, &str)]) -> Result<HashSet<(u64, String)>> {
        if records.is_empty() {
            return Ok(HashSet::new());
        }
        let client = match &mut self.client {
            Some(c) => c,
            None => self.client.insert(self.url.connect()?),
        };
        let urls: Vec<&str> = records.iter().map(|(_, u)| *u).collect();
        let stamps: Vec<i64> = records.iter().map(|(s, _)| *s as i64).collect();
        // By (url, stamp): the primary key's order, so each is one index look-up.
        let rows = client
            .query(
                "SELECT p.stamp, p.url FROM unnest($2::text[], $3::bigint[]) AS t(u, s)
                 JOIN pages p ON p.crawl = $1 AND p.url = t.u AND p.stamp = t.s
                 WHERE p.worker = $4",
                &[&self.crawl, &urls, &stamps, &self.worker],
            )
            .map_err(|e| {
                self.url
                    .error("reading which pages the crawl counts", &e, STATEMENT_HINT)
            })?;
        Ok(rows
            .iter()
            .map(|r| (r.get::<_, i64>(0) as u64, r.get(1)))
            .collect())
    }
}

impl CountedRecords for Counted {
    fn counted(&mut self, records: &[(u64, &str)]) -> Vec<Option<bool>> {
        // Read before PostgreSQL: a stamp not pending now had its commit decided before.
        let decided = {
            let pending = self.pending.set();
            records
                .iter()
                .position(|(s, _)| pending.contains(s))
                .unwrap_or(records.len())
        };
        let (ask, wait) = records.split_at(decided);
        let found = match self.in_pages(ask) {
            Ok(found) => {
                if std::mem::take(&mut self.failing) {
                    log::info!("live WARC: PostgreSQL answers again; writing on");
                }
                found
            }
            Err(e) => {
                // Nothing decided: asked again at the follower's next look.
                if !std::mem::replace(&mut self.failing, true) {
                    log::warn!("live WARC: {e}; its records wait until PostgreSQL answers");
                }
                self.client = None;
                return vec![None; records.len()];
            }
        };
        ask.iter()
            .map(|(s, u)| Some(found.contains(&(*s, u.to_string()))))
            .chain(wait.iter().map(|_| None))
            .collect()
    }
}
