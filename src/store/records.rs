//! The records the database holds: a URL's outcome, an origin's robots.txt verdict and
//! politeness state, the running totals. Plain data (postcard-encoded by [`super::encode`]).

use serde::{Deserialize, Serialize};

use crate::failure::Failure;

/// Running totals, kept in the same transactions as the records they count, so they always
/// agree with the trees.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// URLs waiting in the queue (retries waiting for their time included).
    pub queued: u64,
    /// Always 0 in the database: leases live in the running crawl's memory (leased URLs stay
    /// counted as queued). Kept for `status --json`'s `in_flight` field; a running crawl's live
    /// numbers carry the real count.
    pub in_flight: u64,
    /// URLs with a stored successful response.
    pub done: u64,
    /// URLs stored as failed (error status or no response).
    pub failed: u64,
    /// URLs never requested because a rule refuses them: robots.txt, or one of the crawler's
    /// own (a sitemap nested past one level of index, a non-public address).
    pub blocked: u64,
    /// Body bytes stored.
    pub bytes: u64,
}

impl Counters {
    /// Outcomes of requests made, which is what `--max-pages` counts (blocked URLs cost no
    /// request and are not counted).
    pub fn stored(&self) -> u64 {
        self.done + self.failed
    }
}

/// The breakdowns `status` shows, kept in `meta/breakdown` by the transactions that store and
/// un-store records, so `status` reads one value instead of every record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Breakdown {
    /// Records per HTTP status.
    pub by_status: std::collections::BTreeMap<u16, u64>,
    /// Failed records per error kind (its `as_str` name).
    pub by_error: std::collections::BTreeMap<String, u64>,
}

impl Breakdown {
    /// Counts `rec` in (`add`) or out.
    pub fn count(&mut self, rec: &PageRecord, add: bool) {
        if let Some(code) = rec.status {
            bump(self.by_status.entry(code).or_default(), add);
        }
        if let Some(err) = &rec.error {
            bump(
                self.by_error
                    .entry(err.kind.as_str().to_string())
                    .or_default(),
                add,
            );
        }
        self.by_status.retain(|_, n| *n > 0);
        self.by_error.retain(|_, n| *n > 0);
    }
}

/// What one origin has stored, kept in the `host_pages` tree (key: the origin) by the same
/// transactions: `status`'s per-host counts and `--max-pages-per-host`'s budget.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostTally {
    /// Records of the origin's URLs (blocked ones included).
    pub records: u64,
    /// Of those, outcomes of requests (done or failed).
    pub requests: u64,
}

impl HostTally {
    /// Counts `rec` in (`add`) or out.
    pub fn count(&mut self, rec: &PageRecord, add: bool) {
        bump(&mut self.records, add);
        if rec.state != UrlState::Blocked {
            bump(&mut self.requests, add);
        }
    }
}

fn bump(n: &mut u64, add: bool) {
    *n = if add {
        n.saturating_add(1)
    } else {
        n.saturating_sub(1)
    };
}

/// Final state of a URL with a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UrlState {
    /// A response was stored (2xx or a redirect).
    Done,
    /// The server answered with an error status, or no usable response came.
    Failed,
    /// robots.txt disallows it: never requested.
    Blocked,
}

impl UrlState {
    /// The lowercase name used in exports and status.
    pub fn as_str(self) -> &'static str {
        match self {
            UrlState::Done => "done",
            UrlState::Failed => "failed",
            UrlState::Blocked => "blocked",
        }
    }
}

/// What is stored for each URL that reached a final state (in the page log, see
/// [`super::page_log`]; the body is kept apart, in the body segments).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageRecord {
    /// The normalized URL requested.
    pub url: String,
    /// Where the response says the resource is: the redirect target for a 3xx with
    /// `Location`, else `url` itself.
    pub final_url: String,
    /// Done or failed.
    pub state: UrlState,
    /// HTTP status, when a response came.
    pub status: Option<u16>,
    /// Response headers in the order received.
    pub headers: Vec<(String, String)>,
    /// The Content-Type header, when present.
    pub content_type: Option<String>,
    /// Bytes of body stored (after transfer decoding, see docs/GUIDE.md).
    pub body_len: u64,
    /// The body was longer than `--max-body` and was cut.
    pub truncated: bool,
    /// The body was not downloaded: its type is not in `--accept-type`.
    pub body_skipped: bool,
    /// The redirects that led here, first hop first (empty when reached by a link).
    pub redirect_chain: Vec<String>,
    /// When the response finished, RFC 3339 UTC.
    pub fetched_at: String,
    /// Time from request start to the end of the body.
    pub elapsed_ms: u64,
    /// Link distance from a seed.
    pub depth: u32,
    /// The page where the URL was found (the redirecting URL for a redirect target).
    pub referrer: Option<String>,
    /// Requests made for this URL, this one included.
    pub attempts: u32,
    /// Why it failed, for failed URLs.
    pub error: Option<Failure>,
    /// The response's protocol version (`HTTP/1.1`, `HTTP/2`), when a response came. Stored
    /// after the frame's base record (see [`super::page_log`]), so records written before it
    /// existed read as `None`.
    #[serde(skip)]
    pub http_version: Option<String>,
    /// When the record was stored: Unix time in microseconds, strictly increasing in the order
    /// records are stored (so `export --since` increments are exact). Stored after the frame's
    /// base record like `http_version`; `None` for records from before it was kept.
    #[serde(skip)]
    pub stored_at_us: Option<u64>,
    /// Its place in the URL's history across recrawls (see [`super::versions`]); `None` for
    /// a first capture outside a recrawl (version 1). Stored after `stored_at_us`.
    #[serde(skip)]
    pub version: Option<super::versions::Version>,
    /// URLs the response named past `--max-links` (an HTML page's link targets as written,
    /// repeats included, or a sitemap's entries), not taken: 0 when none was dropped. Stored
    /// after `version`, when not 0.
    #[serde(skip)]
    pub links_dropped: u64,
    /// The address the response came from (`127.0.0.1`, `2001:db8::1`; the proxy's behind
    /// `--proxy`): the WARC export's `WARC-IP-Address`. Stored after `links_dropped`, when
    /// known; `None` without a response and for records from before it was kept.
    #[serde(skip)]
    pub ip: Option<String>,
    /// The page is a copy of another (same body as a page stored before, or the answer the
    /// origin gives for paths that cannot exist): its links were not followed. Stored after
    /// `ip`, when set.
    #[serde(skip)]
    pub duplicate: Option<Duplicate>,
}

#[cfg(test)]
impl PageRecord {
    /// A stored 200 of 4 bytes for `url`, the rest empty: the record tests start from.
    pub(crate) fn done_for_test(url: &str) -> PageRecord {
        PageRecord {
            url: url.into(),
            final_url: url.into(),
            state: UrlState::Done,
            status: Some(200),
            headers: vec![],
            content_type: None,
            body_len: 4,
            truncated: false,
            body_skipped: false,
            redirect_chain: vec![],
            fetched_at: String::new(),
            elapsed_ms: 0,
            depth: 0,
            referrer: None,
            attempts: 1,
            error: None,
            http_version: Some("HTTP/1.1".into()),
            stored_at_us: None,
            version: None,
            links_dropped: 0,
            ip: None,
            duplicate: None,
        }
    }
}

/// What a stored page is a copy of (see [`crate::traps`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Duplicate {
    /// The URL of the page it copies: the first page stored with the same body, or the probe
    /// of a path that cannot exist.
    pub of: String,
    /// Which rule found it.
    pub kind: DuplicateKind,
}

/// Which rule found a copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DuplicateKind {
    /// Its body's SHA-1 is that of a page stored before in this crawl (`duplicate_content`).
    Content,
    /// It answers like the origin's probe of a path that cannot exist (`soft_404`).
    Soft404,
    /// Its `<link rel=canonical>` names a URL that differs from its own only in the query
    /// (`canonical`, schema 7).
    Canonical,
}

impl DuplicateKind {
    /// The name used in exports and counts.
    pub fn as_str(self) -> &'static str {
        match self {
            DuplicateKind::Content => "content",
            DuplicateKind::Soft404 => "soft_404",
            DuplicateKind::Canonical => "canonical",
        }
    }
}

/// What was learned from an origin's robots.txt, cached so a resumed crawl does not fetch it
/// again within a day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RobotsRecord {
    /// Unix time in milliseconds of the fetch (or of the latest failed try).
    pub fetched_at_ms: u64,
    /// What the fetch gave.
    pub verdict: RobotsVerdict,
    /// The robots.txt body (capped), when there were rules.
    pub body: Vec<u8>,
    /// `Sitemap:` lines.
    pub sitemaps: Vec<String>,
    /// `Crawl-delay` for our group, in milliseconds, before the cap.
    pub crawl_delay_ms: Option<u64>,
}

/// How a robots.txt fetch ended, per RFC 9309.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RobotsVerdict {
    /// 2xx: the body's rules apply.
    Rules {
        /// HTTP status.
        status: u16,
    },
    /// 4xx (not 429), or too many redirects: everything is allowed.
    AllowAll {
        /// Why, in words (e.g. "404").
        reason: String,
    },
    /// 5xx, 429 or a network failure: nothing may be fetched for now.
    Unreachable {
        /// Why, in words.
        reason: String,
        /// Unix ms of the first failure in this streak.
        since_ms: u64,
        /// Failed tries in this streak.
        tries: u32,
    },
    /// Unreachable for longer than `--robots-give-up`: the host's URLs failed.
    GaveUp {
        /// Why, in words.
        reason: String,
    },
    /// Failed in a way waiting does not heal (a certificate that fails its check, a name that
    /// does not resolve): the host's URLs failed with that kind. Last, so older records keep
    /// their variant numbers.
    Failed {
        /// What kind of failure (`tls_untrusted`, `dns`, ...).
        kind: crate::failure::ErrorKind,
        /// Why, in words, with what to do.
        reason: String,
    },
}

/// One origin's persisted politeness state, so a resumed crawl does not burst a host it was
/// backing off from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostRecord {
    /// The origin.
    pub origin: String,
    /// Unix ms before which no request may start (0: none).
    pub not_before_ms: u64,
    /// Current back-off delay between starts, from 429/503 without Retry-After.
    pub backoff_ms: u64,
    /// Current response-time throttle delay between starts.
    pub throttle_ms: u64,
    /// Times the host was paused (Retry-After or back-off).
    pub pauses: u64,
    /// The latest Retry-After values seen, in seconds (at most 10 kept).
    pub retry_after_seen: Vec<u64>,
    /// URLs of this host blocked by robots.txt.
    pub blocked: u64,
}

/// Settings a resume changed, and when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverrideRecord {
    /// RFC 3339 time of the resume.
    pub at: String,
    /// The flags that changed saved settings, as `--flag=value`.
    pub changes: Vec<String>,
}

impl PageRecord {
    /// A failed record of `url` with nothing known yet (no response, depth 0, no attempt): what
    /// an outcome starts from before the request is made.
    pub(crate) fn blank(url: &str) -> PageRecord {
        PageRecord {
            url: url.into(),
            final_url: url.into(),
            state: UrlState::Failed,
            status: None,
            headers: Vec::new(),
            content_type: None,
            body_len: 0,
            truncated: false,
            body_skipped: false,
            redirect_chain: Vec::new(),
            fetched_at: String::new(),
            elapsed_ms: 0,
            depth: 0,
            referrer: None,
            attempts: 0,
            error: None,
            http_version: None,
            ip: None,
            stored_at_us: None,
            version: None,
            links_dropped: 0,
            duplicate: None,
        }
    }
}
