//! Pages that copy other pages, found once fetched (issue "Polite means not wasteful"): the
//! dedupe key ([`crate::traps`]) keeps copies it can tell from the URL out of the queue; these
//! rules catch the ones only the answer gives away, and follow none of their links, so a copy
//! costs one request instead of opening a whole second tree of URLs.
//!
//! - **Duplicate content** (`--duplicate-content`): a page whose body's SHA-1 is that of a page
//!   stored before in this crawl is recorded as its duplicate (`duplicate_of`; a WARC export
//!   writes a `revisit` record with the `identical-payload-digest` profile). The digest →
//!   first URL map is the store's `digests` tree, so it lasts across resumes. A shared crawl's
//!   worker knows the digests of the pages in its own store only.
//!
//! The worker computes a page's [`Sign`] beside its parse (one SHA-1 pass over the body); the
//! engine judges it when it settles the outcome, through the [`Frontier`] seam, so both
//! backends apply the same rules.

use crate::error::Result;
use crate::frontier::Frontier;
use crate::store::{Duplicate, DuplicateKind, UrlState};
use crate::worker::PageOutcome;

/// What a 2xx body is judged by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sign {
    /// SHA-1 of the body as stored.
    pub digest: [u8; 20],
    /// The body's length in bytes.
    pub len: u64,
}

impl Sign {
    /// The sign of a body.
    pub fn of(body: &[u8]) -> Sign {
        Sign {
            digest: crate::store::versions::sha1(body),
            len: body.len() as u64,
        }
    }
}

/// The rules that judge fetched pages, with what they found in this run.
#[derive(Debug)]
pub struct Copies {
    duplicate_content: bool,
}

/// What [`Copies::judge`] made of a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Not a copy (or not judged: not a 2xx first capture).
    Page,
    /// A duplicate of a page stored before.
    Duplicate,
}

impl Copies {
    /// The rules as the crawl's settings have them.
    pub fn new(config: &crate::config::CrawlConfig) -> Copies {
        Copies {
            duplicate_content: config.duplicate_content,
        }
    }

    /// Judges a final page outcome before it is stored: a copy gets its `duplicate` and loses
    /// its links. Rechecks (`--recrawl`) are left alone: the same URL's versions are compared
    /// by [`crate::recrawl`].
    pub fn judge(&mut self, o: &mut PageOutcome, frontier: &mut dyn Frontier) -> Result<Verdict> {
        let ok = o.record.state == UrlState::Done
            && o.record.status.is_some_and(|s| (200..300).contains(&s));
        if !ok || o.lease.entry.revisit.is_some() {
            return Ok(Verdict::Page);
        }
        let Some(sign) = &o.sign else {
            return Ok(Verdict::Page);
        };
        if self.duplicate_content {
            if let Some(first) = frontier.claim_digest(&sign.digest, &o.record.url)? {
                o.record.duplicate = Some(Duplicate {
                    of: first,
                    kind: DuplicateKind::Content,
                });
                o.found.clear();
                return Ok(Verdict::Duplicate);
            }
        }
        Ok(Verdict::Page)
    }
}
