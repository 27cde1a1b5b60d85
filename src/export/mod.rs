//! Page dumps for the tools people already use: JSON Lines (jq, pandas), CSV (spreadsheets,
//! pandas), WARC 1.1 (warcio, pywb) and a browsable mirror (a browser). Each format streams records straight from the database
//! in URL order, one body at a time, so memory stays flat whatever the crawl's size; every
//! format takes the same [`Filter`].

pub mod csv;
pub mod jsonl;
pub mod mirror;
pub mod warc;

use std::io::Write;

use url::Url;

use crate::canon;
use crate::error::Result;
use crate::store::{PageRecord, Store, UrlState};

/// An export format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per stored URL.
    Jsonl,
    /// One CSV row per stored URL (no bodies).
    Csv,
    /// WARC 1.1 request/response records, gzip per record.
    Warc,
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
        status && state && ctype && host
    }
}

/// Records of `store` passing `filter`, lazily, in URL order.
pub fn records<'a>(
    store: &'a Store,
    filter: &'a Filter,
) -> impl Iterator<Item = Result<PageRecord>> + 'a {
    store
        .pages()
        .filter(move |r| r.as_ref().map_or(true, |r| filter.matches(r)))
}

/// Writes the records of `store` passing `filter` in `format` (not WARC, which writes files:
/// see [`warc::write_files`]); returns the number of records.
pub fn export(store: &Store, format: Format, filter: &Filter, out: &mut dyn Write) -> Result<u64> {
    match format {
        Format::Jsonl => jsonl::write(store, filter, out),
        Format::Csv => csv::write(store, filter, out),
        Format::Warc => warc::write(store, filter, out, &warc::Info::default()).map(|(n, _)| n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_combine() {
        let mut r = PageRecord::blank("http://a.test:8080/x");
        r.status = Some(404);
        r.content_type = Some("Text/HTML; charset=utf-8".into());
        let all = Filter::default();
        assert!(all.matches(&r));
        let f = Filter {
            statuses: vec![200, 404],
            hosts: vec!["a.test".into()],
            content_types: vec!["text/html".into()],
            states: vec![UrlState::Failed],
        };
        assert!(f.matches(&r));
        assert!(Filter {
            hosts: vec!["a.test:8080".into()],
            ..all.clone()
        }
        .matches(&r));
        assert!(!Filter {
            hosts: vec!["b.test".into()],
            ..all.clone()
        }
        .matches(&r));
        assert!(!Filter {
            statuses: vec![200],
            ..all.clone()
        }
        .matches(&r));
        assert!(!Filter {
            states: vec![UrlState::Done],
            ..all.clone()
        }
        .matches(&r));
        assert!(!Filter {
            content_types: vec!["image/".into()],
            ..all
        }
        .matches(&r));
    }
}
