//! Where an export reads its pages: the database, or, while a crawl holds the database (sled
//! admits one process), the page-record and body files themselves, up to the running crawl's
//! latest flush. Those files are append-only and the flushed part never changes, so that is a
//! consistent dump of every page stored up to that point, read without the database.

use std::path::{Path, PathBuf};

use crate::config::CrawlConfig;
use crate::error::{Error, Result};
use crate::store::bodies::BodyLog;
use crate::store::page_log::{PageLog, StoredPage};
use crate::store::versions::History;
use crate::store::{Durable, DURABLE_FILE, SETTINGS_FILE};
use crate::store::{PageRecord, Store};

/// What an export reads.
pub trait Source {
    /// Every stored page, in the order stored.
    fn pages(&self) -> Box<dyn Iterator<Item = Result<StoredPage>> + '_>;
    /// The body of a page (empty when it has none).
    fn body_of(&self, page: &StoredPage) -> Result<Vec<u8>>;
    /// The crawl's settings (for the WARC `warcinfo`).
    fn settings(&self) -> Result<Option<CrawlConfig>>;
    /// Which records are each URL's latest (see [`History`]); `None` when the crawl never
    /// recrawled, so every record is.
    fn history(&self) -> Result<Option<History>> {
        History::read(self.pages()).map(Some)
    }
    /// Whether `rec` is written by `--versions latest`, given the [`history`](Source::history)
    /// read for it. A shared crawl's stores answer from PostgreSQL instead: a URL fetched
    /// again by another worker has its earlier record in a store that cannot see the later.
    fn is_current(&self, rec: &PageRecord, history: Option<&History>) -> bool {
        history.is_none_or(|h| h.is_current(rec))
    }
}

impl Source for Store {
    fn pages(&self) -> Box<dyn Iterator<Item = Result<StoredPage>> + '_> {
        Box::new(self.stored())
    }
    fn body_of(&self, page: &StoredPage) -> Result<Vec<u8>> {
        Store::body_of(self, page)
    }
    fn settings(&self) -> Result<Option<CrawlConfig>> {
        self.load_config()
    }
    fn history(&self) -> Result<Option<History>> {
        // A database stores a second record of a URL only in a recrawl round.
        match self.round()? {
            None => Ok(None),
            Some(_) => History::read(self.stored()).map(Some),
        }
    }
}

/// The pages of a database a crawl is writing, up to its latest flush.
pub struct Running {
    dir: PathBuf,
    /// What the crawl published.
    pub durable: Durable,
    pages: PageLog,
    bodies: BodyLog,
    settings: Option<CrawlConfig>,
}

impl Running {
    /// Opens the files of the crawl running on `dir`; `None` when it published nothing (a
    /// crawl from before this was kept, or one that just started).
    pub fn open(dir: &Path) -> Result<Option<Running>> {
        let Ok(bytes) = std::fs::read(dir.join(DURABLE_FILE)) else {
            return Ok(None);
        };
        let durable: Durable = serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
            key: dir.join(DURABLE_FILE).display().to_string(),
            reason: e.to_string(),
        })?;
        let io = |cause| Error::Bodies {
            path: dir.to_path_buf(),
            action: "opening the page files of a running crawl",
            cause,
        };
        let pages = PageLog::open(dir, durable.span, false).map_err(io)?;
        let bodies = BodyLog::open_in_mode(dir.join(crate::store::bodies::DIR), false);
        let bodies = bodies.map_err(io)?;
        let settings = std::fs::read(dir.join(SETTINGS_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        Ok(Some(Running {
            dir: dir.to_path_buf(),
            durable,
            pages,
            bodies,
            settings,
        }))
    }
}

impl Source for Running {
    fn pages(&self) -> Box<dyn Iterator<Item = Result<StoredPage>> + '_> {
        Box::new(
            self.pages
                .iter(&self.dir, self.durable.span)
                .map(|r| r.map(|(_, p)| p)),
        )
    }
    fn body_of(&self, page: &StoredPage) -> Result<Vec<u8>> {
        match &page.body {
            None => Ok(Vec::new()),
            Some(r) => self.bodies.read(r).map_err(|cause| {
                crate::store::body_read_error(&self.dir, &self.bodies, r, &page.record.url, cause)
            }),
        }
    }
    fn settings(&self) -> Result<Option<CrawlConfig>> {
        Ok(self.settings.clone())
    }
}
