//! Pages that copy other pages, found once fetched (issue "Polite means not wasteful"): the
//! dedupe key ([`crate::traps`]) keeps copies it can tell from the URL out of the queue; these
//! rules catch the ones only the answer gives away, and follow none of their links, so a copy
//! costs one request instead of opening a whole second tree of URLs.
//!
//! - **Duplicate content** (`--duplicate-content`): a page whose body's SHA-1 is that of a page
//!   of the same origin stored before in this crawl is recorded as its duplicate (`duplicate_of`; a WARC export
//!   writes a `revisit` record with the `identical-payload-digest` profile). Per origin: a
//!   host serving the same pages as another (a mirror, a test site on two ports) is crawled
//!   too. The digest → first URL map is the store's `digests` tree, so it lasts across
//!   resumes. A shared crawl's
//!   worker knows the digests of the pages in its own store only.
//! - **Canonical links** (`--canonical`): a page whose `<link rel=canonical>` names its own
//!   path with another query (`/list?sort=price` naming `/list`) is recorded as a copy of that
//!   URL (`duplicate_kind` `canonical`) and only the canonical URL among its links is queued.
//!   Another path is left alone: broken templates name the home page from every page.
//! - **Soft 404s** (`--soft-404`): some servers answer 200 for paths that do not exist, often
//!   with more links to paths that do not exist ("we could not find /kb/x, try these"). When a
//!   page's `<title>` names its own path, as such generated error pages do, the crawl asks its
//!   directory (the origin's root or top-level directory: `/kb/` for `/kb/a/b`) for a path that
//!   cannot exist (`/kb/politecrawl-404-<random>`), as search engines do. The probe is an
//!   ordinary queued URL (robots.txt, the rate and the budget apply), queued at depth 0 so it
//!   goes before the directory's other queued URLs. When it answers 2xx, a page of that
//!   directory that answers like it is recorded as a soft 404 of the probe (`duplicate_kind`
//!   `soft_404`), its links not followed: the same body, or, when the probe's title named the
//!   probe's own path too, the same title without the path and a length within 15 %. Soft 404s
//!   whose bodies are all alike are duplicate content already. Probe answers are kept in
//!   memory for the run; each run probes with a new path.
//!
//! The worker computes a page's [`Sign`] beside its parse (one SHA-1 pass over the body); the
//! engine judges it when it settles the outcome, through the [`Frontier`] seam, so both
//! backends apply the same rules.

use std::collections::HashMap;

use url::Url;

use crate::canon::Scope;
use crate::error::Result;
use crate::frontier::{Candidate, Frontier, SitemapRole};
use crate::store::{Duplicate, DuplicateKind, UrlState};
use crate::worker::PageOutcome;

/// The last path segment of a soft-404 probe starts with this.
pub const PROBE_PREFIX: &str = "politecrawl-404-";

/// Directories probed per origin at most: a site with more keeps the rest unprobed.
const PROBES_PER_ORIGIN: usize = 32;

/// Directories probed in one run at most (about 200 bytes each), so memory stays bounded on a
/// crawl of many origins: later directories are not probed.
const PROBES_PER_RUN: usize = 100_000;

/// Bytes of a page searched for its `<title>`.
const TITLE_WITHIN: usize = 32 * 1024;

/// What a 2xx body is judged by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sign {
    /// SHA-1 of the body as stored.
    pub digest: [u8; 20],
    /// The body's length in bytes.
    pub len: u64,
    /// An HTML page's `<title>`, whitespace collapsed.
    pub title: Option<String>,
    /// An HTML page's `<link rel=canonical>` target.
    pub canonical: Option<Url>,
}

impl Sign {
    /// The sign of a body, with the title of its decoded text when it is HTML.
    pub fn of(body: &[u8], html: Option<&str>) -> Sign {
        Sign {
            digest: crate::store::versions::sha1(body),
            len: body.len() as u64,
            title: html.and_then(title_of),
            canonical: None,
        }
    }
}

/// A run's random part of probe paths: 12 letters and digits from a generator of its own,
/// seeded from the time and the process, so the thread's generator (whose sequence retry
/// jitter tests fix with a seed) is left alone.
fn probe_token() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut rng = fastrand::Rng::with_seed(now ^ (u64::from(std::process::id()) << 32));
    std::iter::repeat_with(|| rng.alphanumeric())
        .take(12)
        .collect::<String>()
        .to_ascii_lowercase()
}

/// The text of the first `<title>` element (in the first 32 KiB), whitespace collapsed.
fn title_of(html: &str) -> Option<String> {
    let mut end = TITLE_WITHIN.min(html.len());
    while !html.is_char_boundary(end) {
        end -= 1;
    }
    let head = &html[..end];
    let open = find_ascii_ci(head.as_bytes(), b"<title")?;
    let start = open + head[open..].find('>')? + 1;
    let stop = start + find_ascii_ci(&head.as_bytes()[start..], b"</title")?;
    Some(
        head[start..stop]
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// Where `needle` (ASCII, lowercase) first occurs in `hay`, ignoring ASCII case: no lowercased
/// copy of every page's head.
fn find_ascii_ci(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
}

/// A title with the page's own path (and its last segment) taken out: "Sorry, we could not
/// find /kb/x" and the probe's "Sorry, we could not find /kb/politecrawl-404-…" are the same.
fn without_path(title: &str, url: &Url) -> String {
    let path = url.path();
    let mut t = title.replace(path, " ");
    let last = path.rsplit('/').find(|s| !s.is_empty()).unwrap_or("");
    if last.len() >= 3 {
        t = t.replace(last, " ");
    }
    t.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The directory a URL's soft-404 probe is for: its origin and top-level directory
/// (`http://a.test/kb/` for `/kb/x/y`), or the origin's root for a page at the top.
fn probe_dir(url: &Url) -> String {
    let origin = url.origin().ascii_serialization();
    let path = url.path();
    match path[1..].find('/') {
        Some(i) => format!("{origin}{}", &path[..i + 2]),
        None => format!("{origin}/"),
    }
}

/// Whether `url` is a variant of `canonical` by its query alone: the same origin and path, and
/// another dedupe key (a canonical link naming the page itself, or differing only in a
/// session ID or a tracking parameter, is no copy). Only the query, because a canonical link
/// to another path is what broken templates write (every page naming the home page).
fn variant(canonical: &Url, url: &Url) -> bool {
    canonical.origin() == url.origin()
        && canonical.path() == url.path()
        && crate::traps::dedupe_key(canonical.as_str()) != crate::traps::dedupe_key(url.as_str())
}

/// Whether a URL is a soft-404 probe.
fn is_probe(url: &Url) -> bool {
    url.path_segments()
        .and_then(|mut s| s.next_back())
        .is_some_and(|last| last.starts_with(PROBE_PREFIX))
}

/// A directory's probe: asked, or answered (with what a 2xx answer looked like).
#[derive(Debug)]
enum Probe {
    Asked,
    Answered(Option<ProbeAnswer>),
}

/// A probe's 2xx answer.
#[derive(Debug)]
struct ProbeAnswer {
    url: String,
    digest: [u8; 20],
    len: u64,
    /// Its title without the probe's path, when the title named that path.
    title: Option<String>,
}

impl ProbeAnswer {
    /// Whether a page answered like the probe.
    fn matches(&self, sign: &Sign, url: &Url) -> bool {
        if self.digest == sign.digest {
            return true;
        }
        let (Some(probe), Some(title)) = (&self.title, &sign.title) else {
            return false;
        };
        let (a, b) = (self.len as f64, sign.len as f64);
        !probe.is_empty() && *probe == without_path(title, url) && (a - b).abs() <= 0.15 * a.max(b)
    }
}

/// The rules that judge fetched pages, with what they found in this run.
#[derive(Debug)]
pub struct Copies {
    duplicate_content: bool,
    canonical: bool,
    soft_404: bool,
    /// This run's random part of probe paths.
    token: String,
    /// Each probed directory's probe, by the directory's URL.
    probes: HashMap<String, Probe>,
    /// Directories probed per origin.
    per_origin: HashMap<String, usize>,
}

/// What [`Copies::judge`] made of a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Not a copy (or not judged: not a 2xx first capture).
    Page,
    /// A duplicate of a page stored before.
    Duplicate,
    /// It answers like a path that cannot exist.
    Soft404,
    /// Its canonical link names the same path with another query.
    Canonical,
    /// A soft-404 probe's answer, now known.
    Probe,
}

impl Copies {
    /// The rules as the crawl's settings have them.
    pub fn new(config: &crate::config::CrawlConfig) -> Copies {
        Copies {
            duplicate_content: config.duplicate_content,
            canonical: config.canonical,
            soft_404: config.soft_404,
            token: probe_token(),
            probes: HashMap::new(),
            per_origin: HashMap::new(),
        }
    }

    /// Judges a final page outcome before it is stored: a copy gets its `duplicate` and loses
    /// its links; a page whose title names its path gets its directory's probe queued first
    /// among its links (when `scope` allows it and it was not asked yet). Rechecks (`--recrawl`) are left alone: the same URL's
    /// versions are compared by [`crate::recrawl`].
    pub fn judge(
        &mut self,
        o: &mut PageOutcome,
        frontier: &mut dyn Frontier,
        scope: &Scope,
    ) -> Result<Verdict> {
        if o.lease.entry.revisit.is_some() {
            return Ok(Verdict::Page);
        }
        let Ok(url) = Url::parse(&o.record.url) else {
            return Ok(Verdict::Page);
        };
        let ok = o.record.state == UrlState::Done
            && o.record.status.is_some_and(|s| (200..300).contains(&s));
        if self.soft_404 && is_probe(&url) {
            let answer = o.sign.as_ref().filter(|_| ok).map(|s| ProbeAnswer {
                url: o.record.url.clone(),
                digest: s.digest,
                len: s.len,
                title: s.title.as_deref().and_then(|t| {
                    let without = without_path(t, &url);
                    (without != *t).then_some(without)
                }),
            });
            if let Some(probe) = self.probes.get_mut(&probe_dir(&url)) {
                *probe = Probe::Answered(answer);
            }
            o.found.clear();
            return Ok(Verdict::Probe);
        }
        let Some(sign) = o.sign.as_ref().filter(|_| ok) else {
            return Ok(Verdict::Page);
        };
        let dir = probe_dir(&url);
        if let Some(Probe::Answered(Some(probe))) = self.probes.get(&dir) {
            if probe.matches(sign, &url) {
                o.record.duplicate = Some(Duplicate {
                    of: probe.url.clone(),
                    kind: DuplicateKind::Soft404,
                });
                o.found.clear();
                return Ok(Verdict::Soft404);
            }
        }
        if let Some(of) = sign
            .canonical
            .as_ref()
            .filter(|c| self.canonical && variant(c, &url))
        {
            o.record.duplicate = Some(Duplicate {
                of: of.to_string(),
                kind: DuplicateKind::Canonical,
            });
            // The page it names is queued; nothing else it links. Judged before the
            // digest, which it does not claim: the page it names, fetched later with the
            // same body, is the original.
            o.found.retain(|c| c.url == *of);
            return Ok(Verdict::Canonical);
        }
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
        if self.soft_404 {
            // A title naming the page's own path ("we could not find /kb/x") is what a
            // generated error page says: its directory is probed.
            let echoes = |t: &String| url.path().len() >= 4 && t.contains(url.path());
            if sign.title.as_ref().is_some_and(echoes) {
                self.probe(&url, dir, o, scope);
            }
        }
        Ok(Verdict::Page)
    }

    /// Queues the probe of `dir` with the page's links, first, unless it was asked already
    /// or the caps are reached.
    fn probe(&mut self, url: &Url, dir: String, o: &mut PageOutcome, scope: &Scope) {
        if self.probes.contains_key(&dir) || self.probes.len() >= PROBES_PER_RUN {
            return;
        }
        let origin = url.origin().ascii_serialization();
        let n = self.per_origin.entry(origin).or_default();
        if *n >= PROBES_PER_ORIGIN {
            return;
        }
        *n += 1;
        let probe = Url::parse(&format!("{dir}{PROBE_PREFIX}{}", self.token))
            .ok()
            .filter(|p| scope.allows(p));
        let Some(probe) = probe else {
            self.probes.insert(dir, Probe::Answered(None));
            return;
        };
        self.probes.insert(dir, Probe::Asked);
        // Depth 0: the origin's queue leases the lowest depth first, so the probe goes next.
        o.found.insert(
            0,
            Candidate {
                url: probe,
                depth: 0,
                referrer: Some(o.record.url.clone()),
                sitemap: SitemapRole::Page,
                redirect_chain: Vec::new(),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_directories_and_probes() {
        let u = |s: &str| Url::parse(s).unwrap();
        assert_eq!(
            title_of("<html><head><TITLE lang=en>\n Not  found </title>").as_deref(),
            Some("Not found")
        );
        assert_eq!(title_of("<p>no title</p>"), None);
        assert_eq!(probe_dir(&u("http://a.test/kb/x/y")), "http://a.test/kb/");
        assert_eq!(probe_dir(&u("http://a.test/kb/")), "http://a.test/kb/");
        assert_eq!(probe_dir(&u("http://a.test/about")), "http://a.test/");
        assert_eq!(probe_dir(&u("http://a.test/")), "http://a.test/");
        assert!(is_probe(&u("http://a.test/kb/politecrawl-404-abc")));
        assert!(!is_probe(&u("http://a.test/kb/")));
        let probe = u("http://a.test/kb/politecrawl-404-abc");
        let answer = ProbeAnswer {
            url: probe.to_string(),
            digest: [0; 20],
            len: 1000,
            title: Some(without_path(
                "Sorry, /kb/politecrawl-404-abc is not here",
                &probe,
            )),
        };
        let sign = |title: &str, len| Sign {
            digest: [1; 20],
            len,
            title: Some(title.into()),
            canonical: None,
        };
        let page = u("http://a.test/kb/search/cookies");
        assert!(answer.matches(&sign("Sorry, /kb/search/cookies is not here", 1100), &page));
        assert!(!answer.matches(&sign("Sorry, /kb/search/cookies is not here", 1300), &page));
        assert!(!answer.matches(&sign("Cookies", 1000), &page));
        let same = Sign {
            digest: [0; 20],
            len: 5,
            title: None,
            canonical: None,
        };
        assert!(answer.matches(&same, &page));
    }
}
