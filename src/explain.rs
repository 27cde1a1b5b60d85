//! `politecrawl explain URL --db DIR`: what happened to one URL, and why. A crawl's first
//! question after "how far is it" is "why was this page not fetched", and the answer is spread
//! over the page record (state, status, error kind with the robots.txt rule that blocked it),
//! the dedupe key the seen-set knows the URL by, the scope and filters, the trap rules and the
//! origin's robots.txt. This reads them all, read-only, and says which decided.
//!
//! A URL that was never queued keeps no record of its own (a page links thousands that the
//! scope refuses): when the skip report sampled it (see [`crate::skips`]) its reason then is
//! given, and the rules are evaluated as the crawl's saved settings stand now.

use serde::Serialize;
use url::Url;

use crate::config::CrawlConfig;
use crate::error::{Error, Result};
use crate::robots::{Decision, Policy};
use crate::store::{PageRecord, RobotsVerdict, Store};

/// What `explain` found about one URL.
#[derive(Debug, Serialize)]
pub struct Explanation {
    /// The URL as the crawler normalizes it (fragment dropped, host lowercased, ...).
    pub url: String,
    /// The key the seen-set knows it by, when it differs from the URL (session IDs, tracking
    /// parameters and parameter order left out): another URL with this key is the same page.
    pub dedupe_key: Option<String>,
    /// The URL's stored record, when it has one.
    pub record: Option<PageRecord>,
    /// Why the scope, the filters or a trap rule refuse it now; `None`: followed.
    pub scope: Option<String>,
    /// The skip report's entry for it, when it was sampled (the reason then, and where it was
    /// found).
    pub skipped: Option<crate::skips::Skip>,
    /// What the origin's robots.txt, as last fetched, says of it.
    pub robots: String,
    /// The decision in one sentence.
    pub verdict: String,
}

/// Explains `raw` from the crawl in `store`.
pub fn explain(store: &Store, raw: &str) -> Result<Explanation> {
    let url = Url::parse(raw.trim())
        .ok()
        .and_then(crate::canon::normalize)
        .ok_or_else(|| {
            Error::Config(format!(
                "{raw:?} is not an absolute http(s) URL; give the URL as the crawl would see it"
            ))
        })?;
    let config: CrawlConfig = store
        .load_config()?
        .ok_or_else(|| Error::Config(format!("{} holds no crawl yet", store.path().display())))?;
    let mut scope = config.scope(&[])?;
    for origin in store.seed_origins() {
        let (origin, dirs) = origin?;
        scope.add_origin(&origin, &dirs);
    }
    let key = crate::traps::dedupe_key(url.as_str());
    let dedupe_key = (key != url.as_str()).then(|| key.into_owned());
    let record = store.find_page(url.as_str())?;
    let scope_refusal = scope.refusal(&url);
    let robots = robots_of(store, &url, &config)?;
    let skipped = crate::skips::read(store.path())?.find(|s| s.url == url.as_str());
    let verdict = match (&record, &skipped, &scope_refusal) {
        (Some(r), _, _) => {
            let what = match (&r.status, &r.error) {
                (_, Some(e)) => {
                    format!("{} ({}): {}", r.state.as_str(), e.kind.as_str(), e.message)
                }
                (Some(s), None) => format!("{} with status {s}", r.state.as_str()),
                (None, None) => r.state.as_str().to_string(),
            };
            format!("stored {what}")
        }
        (None, Some(s), _) => format!(
            "not queued: {}{}",
            s.detail,
            s.found_on
                .as_deref()
                .map(|p| format!(" (found on {p})"))
                .unwrap_or_default()
        ),
        (None, None, Some(why)) => format!("not queued: {why}"),
        (None, None, None) => match &dedupe_key {
            Some(k) => format!(
                "not stored under this URL: queued, not found yet, or known by its dedupe key \
                 {k} under another URL (`politecrawl export` lists the stored ones)"
            ),
            None => "not stored: queued, or not found by the crawl yet".to_string(),
        },
    };
    Ok(Explanation {
        url: url.to_string(),
        dedupe_key,
        record,
        scope: scope_refusal,
        skipped,
        robots,
        verdict,
    })
}

/// The origin's robots.txt verdict on `url`, as last fetched.
fn robots_of(store: &Store, url: &Url, config: &CrawlConfig) -> Result<String> {
    if config.ignore_robots {
        return Ok("not consulted (--ignore-robots)".into());
    }
    let origin = crate::canon::origin_key(url);
    let Some(rec) = store.robots(&origin)? else {
        return Ok(format!("{origin}/robots.txt not fetched yet"));
    };
    Ok(match rec.verdict {
        RobotsVerdict::Rules { status } => {
            match Policy::parse(&rec.body, config.product_token()).decide(url) {
                Decision::Allow => format!("allowed (robots.txt answered {status})"),
                Decision::Block(rule) => format!("disallowed: {rule}"),
                Decision::GiveUp(f) => format!("given up: {}", f.message),
            }
        }
        RobotsVerdict::AllowAll { reason } => format!("allowed: {reason}"),
        RobotsVerdict::Unreachable { reason, tries, .. } => {
            format!("unreachable for now after {tries} tries ({reason}): nothing is fetched")
        }
        RobotsVerdict::GaveUp { reason } => format!("given up ({reason}): its URLs failed"),
        RobotsVerdict::Failed { kind, reason } => {
            format!("failed ({}): {reason}", kind.as_str())
        }
    })
}

impl std::fmt::Display for Explanation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "url       {}", self.url)?;
        if let Some(k) = &self.dedupe_key {
            writeln!(f, "key       {k}  (the seen-set's: session IDs, tracking parameters and parameter order left out)")?;
        }
        if let Some(r) = &self.record {
            writeln!(
                f,
                "record    depth {}, found on {}, fetched {}",
                r.depth,
                r.referrer.as_deref().unwrap_or("(a seed)"),
                if r.fetched_at.is_empty() {
                    "never"
                } else {
                    &r.fetched_at
                }
            )?;
        }
        writeln!(
            f,
            "scope     {}",
            self.scope
                .as_deref()
                .unwrap_or("followed (scope, filters and trap rules as saved)")
        )?;
        writeln!(f, "robots    {}", self.robots)?;
        writeln!(f, "verdict   {}", self.verdict)
    }
}
