//! What every format exports: the [`Filter`] of stored URLs, `--versions`, and the records and
//! bodies read through them. A leaf of `export/`, so each format takes it without reaching back
//! into `export/mod.rs`, which calls the formats.

use url::Url;

use super::source::Source;
use crate::canon;
use crate::error::{Error, Result};
use crate::store::page_log::StoredPage;
use crate::store::{PageRecord, UrlState};

/// Which of a URL's records an export writes (`--versions`; see [`crate::recrawl`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Versions {
    /// Each URL's current content: its latest version (a first capture, a changed page, a page
    /// gone), never the checks that confirmed it.
    #[default]
    Latest,
    /// Every record: each version and each check (WARC revisit records), in the order stored.
    All,
}

/// Which stored URLs an export includes. Empty lists allow everything; within a list any value
/// may match, and all lists must match.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// HTTP status codes.
    pub statuses: Vec<u16>,
    /// Hosts, as `host` or `host:port`.
    pub hosts: Vec<String>,
    /// Content-Type prefixes, e.g. `text/html` or `image/`.
    pub content_types: Vec<String>,
    /// States.
    pub states: Vec<UrlState>,
    /// Only records stored after this time (Unix microseconds; `--since`).
    pub since_us: Option<u64>,
    /// Which records of each URL (`--versions`).
    pub versions: Versions,
    /// The latest store time among the records read so far, whatever the filter: where the
    /// export reaches, for the next `--since`.
    pub read_up_to: std::cell::Cell<Option<u64>>,
    /// Leave out a record whose body is damaged (`--skip-damaged`) instead of stopping.
    pub skip_damaged: bool,
    /// The records left out so far for a damaged body.
    pub damaged: std::cell::Cell<u64>,
}

impl Filter {
    /// Whether `rec` is exported.
    pub fn matches(&self, rec: &PageRecord) -> bool {
        let status =
            self.statuses.is_empty() || rec.status.is_some_and(|s| self.statuses.contains(&s));
        let state = self.states.is_empty() || self.states.contains(&rec.state);
        let ctype = self.content_types.is_empty()
            || rec.content_type.as_deref().is_some_and(|ct| {
                let ct = ct.trim().to_ascii_lowercase();
                self.content_types
                    .iter()
                    .any(|p| ct.starts_with(&p.to_ascii_lowercase()))
            });
        let host = self.hosts.is_empty()
            || Url::parse(&rec.url).is_ok_and(|u| {
                let label = canon::host_label(&u);
                let name = u.host_str().unwrap_or("");
                self.hosts
                    .iter()
                    .any(|h| h.eq_ignore_ascii_case(&label) || h.eq_ignore_ascii_case(name))
            });
        let since = self
            .since_us
            .is_none_or(|t| rec.stored_at_us.is_some_and(|s| s > t));
        status && state && ctype && host && since
    }
}

/// Stored pages of `store` whose records pass `filter`, lazily, in the order stored.
pub fn records<'a>(
    store: &'a dyn Source,
    filter: &'a Filter,
) -> impl Iterator<Item = Result<StoredPage>> + 'a {
    let history = match filter.versions {
        Versions::All => Ok(None),
        Versions::Latest => store.history(),
    };
    let (history, err) = match history {
        Ok(h) => (h, None),
        Err(e) => (None, Some(e)),
    };
    let pages = store.pages().filter(move |r| {
        r.as_ref().map_or(true, |p| {
            if let Some(t) = p.record.stored_at_us {
                filter.read_up_to.set(Some(t));
            }
            filter.matches(&p.record)
                && (filter.versions == Versions::All
                    || store.is_current(&p.record, history.as_ref()))
        })
    });
    err.map(Err).into_iter().chain(pages)
}

/// The body of `page`; `None` for a damaged one when `filter` skips those (it is named in a
/// warning and counted in `filter.damaged`).
pub fn body(store: &dyn Source, page: &StoredPage, filter: &Filter) -> Result<Option<Vec<u8>>> {
    match store.body_of(page) {
        Ok(body) => Ok(Some(body)),
        Err(e @ Error::DamagedBody { .. }) if filter.skip_damaged => {
            log::warn!("skipped: {e}");
            filter.damaged.set(filter.damaged.get() + 1);
            Ok(None)
        }
        Err(e) => Err(e),
    }
}
