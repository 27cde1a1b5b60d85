//! `export --frontier … --crawl NAME --db w1 --db w2`: one dump from the workers' stores, each
//! page exactly once. A store can hold records PostgreSQL does not point at (an outcome whose
//! commit a fence refused, or one a crash cut off between the local write and the shared
//! commit; the URL was fetched again elsewhere); `pages` says which store's record counts, by
//! the record's stamp, so only those are exported. A URL fetched again (`--retry-failed`) has
//! a row per fetch, perhaps in different stores: `--versions latest` writes the one PostgreSQL
//! marks its latest, `--versions all` every one.

use std::collections::HashMap;
use std::path::PathBuf;

use super::crawls;
use super::worker::Identity;
use crate::config::CrawlConfig;
use crate::error::{Error, Result};
use crate::export::Source;
use crate::frontier::postgres::connect::{FrontierUrl, STATEMENT_HINT};
use crate::store::page_log::StoredPage;
use crate::store::versions::History;
use crate::store::PageRecord;

/// The workers' stores as one export source.
pub struct ClusterSource {
    stores: Vec<Box<dyn Source>>,
    /// (record stamp, URL hash) → the store whose record PostgreSQL points at, and whether
    /// it is its URL's latest.
    keep: HashMap<(u64, u64), (usize, bool)>,
    /// Pages held by workers whose stores were not given: (worker, its store, pages).
    pub missing: Vec<(String, String, i64)>,
}

fn key(record: &PageRecord) -> (u64, u64) {
    (
        record.stored_at_us.unwrap_or(0),
        xxhash_rust::xxh3::xxh3_64(record.url.as_bytes()),
    )
}

impl ClusterSource {
    /// The pages of crawl `name` held by the given stores (`--db` directories and their opened
    /// sources).
    pub fn open(
        url: &FrontierUrl,
        name: &str,
        stores: Vec<(PathBuf, Box<dyn Source>)>,
    ) -> Result<ClusterSource> {
        let mut client = url.connect()?;
        let (crawl, _) = crawls::open(&mut client, url, name)?;
        let err = |e: postgres::Error| {
            url.error("reading which store holds each page", &e, STATEMENT_HINT)
        };
        let mut keep = HashMap::new();
        let mut workers = Vec::new();
        let mut sources = Vec::new();
        for (i, (dir, source)) in stores.into_iter().enumerate() {
            let id = Identity::read(&dir)?.ok_or_else(|| {
                Error::Config(format!(
                    "{} is not a worker's store of a shared crawl (it has no {}); give the --db \
                     of each worker of crawl {name:?}",
                    dir.display(),
                    super::worker::IDENTITY_FILE
                ))
            })?;
            if id.crawl != name {
                return Err(Error::Config(format!(
                    "{} is a worker of crawl {:?}, not {name:?}",
                    dir.display(),
                    id.crawl
                )));
            }
            for row in client
                .query(
                    "SELECT stamp, url, latest FROM pages WHERE crawl = $1 AND worker = $2",
                    &[&crawl.id, &id.worker],
                )
                .map_err(err)?
            {
                let (stamp, page_url, latest): (i64, String, bool) =
                    (row.get(0), row.get(1), row.get(2));
                keep.insert(
                    (
                        stamp as u64,
                        xxhash_rust::xxh3::xxh3_64(page_url.as_bytes()),
                    ),
                    (i, latest),
                );
            }
            workers.push(id.worker);
            sources.push(source);
        }
        let missing = client
            .query(
                "SELECT p.worker, coalesce(w.store, ''), count(*) FROM pages p
                 LEFT JOIN workers w ON w.crawl = p.crawl AND w.id = p.worker
                 WHERE p.crawl = $1 AND NOT (p.worker = ANY($2))
                 GROUP BY p.worker, w.store ORDER BY p.worker",
                &[&crawl.id, &workers],
            )
            .map_err(err)?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        Ok(ClusterSource {
            stores: sources,
            keep,
            missing,
        })
    }
}

impl Source for ClusterSource {
    fn pages(&self) -> Box<dyn Iterator<Item = Result<StoredPage>> + '_> {
        Box::new(self.stores.iter().enumerate().flat_map(move |(i, s)| {
            s.pages().filter(move |p| match p {
                Ok(p) => self.keep.get(&key(&p.record)).map(|k| k.0) == Some(i),
                Err(_) => true,
            })
        }))
    }

    fn body_of(&self, page: &StoredPage) -> Result<Vec<u8>> {
        match self
            .keep
            .get(&key(&page.record))
            .and_then(|k| self.stores.get(k.0))
        {
            Some(store) => store.body_of(page),
            None => Ok(Vec::new()),
        }
    }

    fn settings(&self) -> Result<Option<CrawlConfig>> {
        match self.stores.first() {
            Some(s) => s.settings(),
            None => Ok(None),
        }
    }

    fn history(&self) -> Result<Option<History>> {
        // Which record is a URL's latest is PostgreSQL's to say (see `is_current`).
        Ok(None)
    }

    fn is_current(&self, rec: &PageRecord, _: Option<&History>) -> bool {
        self.keep.get(&key(rec)).is_some_and(|k| k.1)
    }
}
