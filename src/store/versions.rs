//! Versions of a URL across recrawls (see [`crate::recrawl`]): what each stored record says
//! about the one before it, and what a queued recheck carries so the worker can ask the server
//! whether the page changed.
//!
//! Records are never rewritten: a recrawl appends a new record for the URL, pointing back at
//! the URL's previous record (`prev_us`) and at the content it replaces or confirms
//! (`content_us`), both by their `stored_at_us` stamp (compaction keeps stamps, not
//! positions). So "the latest record of each URL" is every record no later one points back
//! at, found with one pass over the log and a sorted list of 8 bytes per recrawl record.

use serde::{Deserialize, Serialize};

use super::bodies::BodyRef;
use super::{PageRecord, UrlState};
use crate::failure::ErrorKind;

/// What a record says about the URL's content.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// The URL's first record.
    New,
    /// A recheck got different content (status or payload): a new version.
    Changed,
    /// A recheck got a 200 with the same status and payload digest as the version it checked.
    Unchanged,
    /// A recheck got `304 Not Modified` to its conditional request.
    NotModified,
    /// A recheck got 404 or 410: the page is gone (a new version; the old ones are kept).
    Gone,
    /// A recheck failed another way (a timeout, a 500 after its retries): the version it
    /// checked stays the URL's latest.
    CheckFailed,
}

impl Change {
    /// The lowercase name used in exports and status.
    pub fn as_str(self) -> &'static str {
        match self {
            Change::New => "new",
            Change::Changed => "changed",
            Change::Unchanged => "unchanged",
            Change::NotModified => "not_modified",
            Change::Gone => "gone",
            Change::CheckFailed => "check_failed",
        }
    }

    /// Whether the record holds a version of the content (a first capture, a changed page, a
    /// page gone), rather than a check of one (a revisit in WARC terms).
    pub fn is_content(self) -> bool {
        matches!(self, Change::New | Change::Changed | Change::Gone)
    }
}

/// A record's place in its URL's history. Records of a crawl that never recrawled have none
/// (read as version 1, new).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    /// The content version: 1 for the first capture, one more for each change; a check keeps
    /// the number of the version it confirmed.
    pub number: u32,
    /// What the record says.
    pub change: Change,
    /// The recrawl round that stored it (0: the first crawl).
    pub round: u32,
    /// The URL's previous record (its `stored_at_us`), for a recheck.
    pub prev_us: Option<u64>,
    /// The content record this one replaces (a new version) or confirms (a check).
    pub content_us: Option<u64>,
    /// When the content record it replaces or confirms was fetched (RFC 3339): a WARC
    /// revisit's `WARC-Refers-To-Date`.
    pub content_date: Option<String>,
    /// SHA-1 of the payload, when known (rechecks compute it; first captures do not, which
    /// keeps the first crawl's CPU per page as it was).
    pub digest: Option<[u8; 20]>,
    /// The interval until this URL's next check, in seconds (`--refresh adaptive`).
    pub interval_s: Option<u64>,
    /// For a recheck: the outcome of the content it confirmed (which the totals still count)
    /// or replaced (which they counted before).
    pub prior: Option<Prior>,
}

impl Version {
    /// The version of a record (version 1, new, for records that carry none).
    pub fn of(rec: &PageRecord) -> std::borrow::Cow<'_, Version> {
        match &rec.version {
            Some(v) => std::borrow::Cow::Borrowed(v),
            None => std::borrow::Cow::Owned(Version::first(0)),
        }
    }

    /// A first capture stored in `round`.
    pub fn first(round: u32) -> Version {
        Version {
            number: 1,
            change: Change::New,
            round,
            prev_us: None,
            content_us: None,
            content_date: None,
            digest: None,
            interval_s: None,
            prior: None,
        }
    }
}

/// What a queued recheck carries (in [`crate::frontier::QueueEntry::revisit`]): the conditional
/// request's validators, and what the answer is compared with and counted against.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revisit {
    /// The round that queued it.
    pub round: u32,
    /// The URL's latest record when it was queued.
    pub prev_us: u64,
    /// The URL's latest content record.
    pub content_us: u64,
    /// That content's version number.
    pub version: u32,
    /// When that content was fetched (RFC 3339).
    pub content_date: String,
    /// Its outcome, which the totals count until a new version replaces it.
    pub prior: Prior,
    /// `If-None-Match`: its `ETag`.
    pub etag: Option<String>,
    /// `If-Modified-Since`: its `Last-Modified`.
    pub last_modified: Option<String>,
    /// Its payload's SHA-1, when known.
    pub digest: Option<[u8; 20]>,
    /// Its body, to digest when the digest is not known yet (the first recheck of a first
    /// capture). Positions move only in `compact`, which refuses to run while rechecks are
    /// queued.
    pub body: Option<BodyRef>,
    /// The interval that made it due, in seconds.
    pub interval_s: u64,
}

impl Revisit {
    /// The recheck a stored recheck record answered, as far as the record tells (for start-up
    /// recovery, which queues it again when a power cut lost the record): its validators and,
    /// for a new version, the old digest are not kept, so the new request is unconditional
    /// and a changed page is found changed again.
    pub fn answered_by(rec: &PageRecord) -> Option<Revisit> {
        let v = rec.version.as_ref()?;
        let content = v.change.is_content();
        Some(Revisit {
            round: v.round,
            prev_us: v.prev_us?,
            content_us: v.content_us?,
            version: if content {
                v.number.saturating_sub(1)
            } else {
                v.number
            },
            content_date: v.content_date.clone()?,
            prior: v.prior.clone()?,
            etag: None,
            last_modified: None,
            digest: if content { None } else { v.digest },
            body: None,
            interval_s: v.interval_s.unwrap_or_default(),
        })
    }
}

/// The outcome of the version a recheck checks: what the totals and breakdowns count for the
/// URL until a new version replaces it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prior {
    /// Its state.
    pub state: UrlState,
    /// Its HTTP status.
    pub status: Option<u16>,
    /// Its error kind.
    pub error: Option<ErrorKind>,
}

impl Prior {
    /// The outcome of `rec`.
    pub fn of(rec: &PageRecord) -> Prior {
        Prior {
            state: rec.state,
            status: rec.status,
            error: rec.error.as_ref().map(|f| f.kind),
        }
    }

    /// A record with only this outcome, to count out of the totals.
    pub fn as_record(&self, url: &str) -> PageRecord {
        let mut r = PageRecord::blank(url);
        r.state = self.state;
        r.status = self.status;
        r.error = self.error.map(|kind| crate::failure::Failure {
            kind,
            message: String::new(),
        });
        r
    }
}

/// Which records are the latest of their URL, read from the whole log: the stamps later
/// records point back at, sorted (8 bytes per record a recrawl stored; nothing for a crawl that
/// never recrawled).
#[derive(Debug, Default)]
pub struct History {
    /// `prev_us` of every record: records some later record of the URL follows.
    followed: Vec<u64>,
    /// `content_us` of every new version: content records a later version replaced.
    replaced: Vec<u64>,
}

impl History {
    /// Reads the history of `pages` (every stored page, in any order).
    pub fn read(
        pages: impl Iterator<Item = crate::error::Result<super::page_log::StoredPage>>,
    ) -> crate::error::Result<History> {
        let mut h = History::default();
        for p in pages {
            let p = p?;
            let Some(v) = &p.record.version else { continue };
            h.followed.extend(v.prev_us);
            if v.change.is_content() {
                h.replaced.extend(v.content_us);
            }
        }
        h.followed.sort_unstable();
        h.replaced.sort_unstable();
        Ok(h)
    }

    /// Whether no record of the URL came after `rec`.
    pub fn is_latest(&self, rec: &PageRecord) -> bool {
        rec.stored_at_us
            .is_none_or(|t| self.followed.binary_search(&t).is_err())
    }

    /// Whether `rec` holds the URL's current content: a content record no later version
    /// replaced (what `export --versions latest` writes and the totals count).
    pub fn is_current(&self, rec: &PageRecord) -> bool {
        Version::of(rec).change.is_content()
            && rec
                .stored_at_us
                .is_none_or(|t| self.replaced.binary_search(&t).is_err())
    }
}

/// SHA-1 of a payload.
pub fn sha1(bytes: &[u8]) -> [u8; 20] {
    use sha1::Digest;
    sha1::Sha1::digest(bytes).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontier::entry::{decode_entry, decode_ops, encode_entry, encode_ops, QueueEntry};

    fn revisit() -> Revisit {
        Revisit {
            round: 2,
            prev_us: 10,
            content_us: 7,
            version: 3,
            content_date: "2026-01-01T00:00:00Z".into(),
            prior: Prior {
                state: UrlState::Done,
                status: Some(200),
                error: None,
            },
            etag: Some("\"x\"".into()),
            last_modified: None,
            digest: Some([9; 20]),
            body: None,
            interval_s: 60,
        }
    }

    fn entry(url: &str, revisit: Option<Revisit>) -> QueueEntry {
        QueueEntry {
            url: url.into(),
            depth: 1,
            referrer: Some("http://a.test/".into()),
            attempts: 0,
            sitemap: crate::frontier::entry::SitemapRole::Page,
            redirect_chain: vec![],
            revisit: revisit.map(Box::new),
        }
    }

    #[test]
    fn rechecks_survive_every_queue_encoding_and_old_values_still_read() {
        let (plain, re) = (
            entry("http://a.test/1", None),
            entry("http://a.test/2", Some(revisit())),
        );
        for e in [&plain, &re] {
            assert_eq!(&decode_entry("t", &encode_entry(e)).unwrap(), e);
        }
        // A schema 4 value is the base fields alone.
        assert_eq!(encode_entry(&plain), crate::store::encode(&plain));
        let ops = vec![
            ([1; 20], Some(plain.clone())),
            ([2; 20], None),
            ([3; 20], Some(re.clone())),
        ];
        assert_eq!(decode_ops(&encode_ops(&ops)).unwrap(), ops);
        let entries = vec![(5, plain.clone()), (6, re.clone()), (9, plain.clone())];
        let bytes = crate::frontier::sled::chunk::encode(&entries);
        assert_eq!(
            crate::frontier::sled::chunk::decode(5, 1, &bytes).unwrap(),
            entries
        );
        // A revisit pointing past the list is damage, not a panic.
        let mut bad = crate::store::encode(&vec![([1u8; 20], Some(plain.clone()))]);
        bad.extend_from_slice(&crate::store::encode(&vec![(4u32, revisit())]));
        assert!(decode_ops(&bad).is_err());
    }

    #[test]
    fn a_record_keeps_its_version_through_the_page_log() {
        let dir = std::env::temp_dir().join(format!("pc-versions-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let log = crate::store::page_log::PageLog::open(&dir, Default::default(), true).unwrap();
        let mut rec = PageRecord::blank("http://a.test/");
        rec.version = Some(Version {
            change: Change::NotModified,
            prev_us: Some(3),
            digest: Some([1; 20]),
            ..Version::first(4)
        });
        let (_, payload) = log.append(&rec, None).unwrap();
        let back = crate::store::page_log::decode_frame(&payload)
            .unwrap()
            .record;
        assert_eq!(back.version, rec.version);
        rec.version = None;
        let (_, payload) = log.append(&rec, None).unwrap();
        let back = crate::store::page_log::decode_frame(&payload)
            .unwrap()
            .record;
        assert_eq!((Version::of(&back).number, back.version), (1, None));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
