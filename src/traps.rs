//! Requests that would be spent on nothing: URL spaces with no end and copies of one page under
//! many URLs. Two defences decided from the URL alone, on by default (issue "Polite means not
//! wasteful"); [`crate::copies`] judges fetched pages, [`crate::shapes`] budgets URL shapes:
//!
//! - **The dedupe key** (Heritrix's canonicalisation rules, applied to the seen-set key, never
//!   to the URL fetched): session IDs (`;jsessionid=`, `?sid=`, `PHPSESSID`, ColdFusion's
//!   `CFID`/`CFTOKEN`, ...), tracking parameters (`utm_*`, `gclid`, `fbclid`, ...), print and
//!   share views (`--dedupe-drop`) and the order of query parameters do not make a new URL. The URL queued and fetched is the first
//!   one found, as the page wrote it: sorting the *requested* URL breaks sites (Browsertrix
//!   crawler issue 982).
//! - **Path rules** (Heritrix's `PathologicalPathDecideRule` and
//!   `TooManyPathSegmentsDecideRule`, Nutch's repeated-segment filter): a path segment repeated
//!   more than twice (`/docs/a/docs/a/docs/a/`, the mark of a relative-link bug), more than
//!   `--max-path-segments` segments, more than `--max-query-params` query parameters. A URL one
//!   of them refuses is not queued, and counted under the rule's name.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};

use url::Url;

/// Query parameters that always carry a session: the same page for every visitor.
const SESSION_PARAMS: &[&str] = &[
    "jsessionid",
    "phpsessid",
    "cfid",
    "cftoken",
    "zenid",
    "oscsid",
];

/// Names that carry a session when their value looks like one (16 or more letters, digits or
/// dashes, as Heritrix's `sid=` rule asks 32 hex digits): `?sid=2` may well name a page.
const SESSION_LIKE_PARAMS: &[&str] = &["sid", "sessionid", "session_id", "sessid", "s"];

/// Query parameters that say where a visitor came from, not what the page is.
const TRACKING_PARAMS: &[&str] = &[
    "gclid",
    "gclsrc",
    "dclid",
    "fbclid",
    "msclkid",
    "mc_cid",
    "mc_eid",
    "_ga",
    "_gl",
    "yclid",
    "igshid",
    "twclid",
    "ttclid",
    "li_fat_id",
    "wickedid",
    "_hsenc",
    "_hsmi",
    "mkt_tok",
    "ref_src",
];

/// Parameters that ask for another view of the same page (`--dedupe-drop`'s defaults): a
/// printer-friendly copy, a share button's link (WordPress's Jetpack `?share=twitter`), a
/// comment reply form (WordPress's `?replytocom=`, which Yoast strips for the same reason).
/// Heritrix leaves them to its duplicate-content check, which spends a request on each.
const VIEW_PARAMS: &[&str] = &[
    "print",
    "printable",
    "share",
    "replytocom",
    "format=print",
    "output=print",
    "view=print",
];

/// `--dedupe-drop`'s default list.
pub fn default_dedupe_drop() -> Vec<String> {
    VIEW_PARAMS.iter().map(|p| p.to_string()).collect()
}

/// The crawl's `--dedupe-drop` list, lowercased: (name, value or any). Process-wide, as the
/// seen-set's key is computed in many places that know no settings; `None` until a crawl sets
/// it: the defaults.
static DEDUPE_DROP: std::sync::RwLock<Option<Vec<DropParam>>> = std::sync::RwLock::new(None);

/// One `--dedupe-drop` entry: a name, and the one value it drops (any when `None`).
type DropParam = (String, Option<String>);

/// Sets the `--dedupe-drop` list for this process (see [`dedupe_key`]); empty entries are
/// ignored, so `--dedupe-drop=` drops none.
pub fn set_dedupe_drop(list: &[String]) {
    let parsed = list
        .iter()
        .map(|p| p.trim().to_ascii_lowercase())
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (p, None),
        })
        .collect();
    // A poisoned lock only means a panic elsewhere while it was held; the list is whole.
    *DEDUPE_DROP.write().unwrap_or_else(|e| e.into_inner()) = Some(parsed);
}

/// Whether `--dedupe-drop` (or its defaults) names this parameter.
fn is_view_param(name: &str, value: &str) -> bool {
    let list = DEDUPE_DROP.read().unwrap_or_else(|e| e.into_inner());
    let matches =
        |n: &str, v: Option<&str>| n == name && v.is_none_or(|v| v.eq_ignore_ascii_case(value));
    match list.as_ref() {
        Some(list) => list.iter().any(|(n, v)| matches(n, v.as_deref())),
        None => VIEW_PARAMS.iter().any(|p| match p.split_once('=') {
            Some((n, v)) => matches(n, Some(v)),
            None => matches(p, None),
        }),
    }
}

/// Whether a `name=value` parameter is dropped from the dedupe key.
fn is_dropped_param(pair: &str) -> bool {
    let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
    let lower = name.to_ascii_lowercase();
    if is_view_param(&lower, value) {
        return true;
    }
    let session_like = || {
        value.len() >= 16
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    lower.starts_with("utm_")
        || lower.starts_with("aspsessionid")
        || SESSION_PARAMS.contains(&lower.as_str())
        || TRACKING_PARAMS.contains(&lower.as_str())
        || (SESSION_LIKE_PARAMS.contains(&lower.as_str()) && session_like())
}

/// The key the seen-set knows `url` by: the URL less session IDs (in the path or the query)
/// and tracking parameters, with its query parameters sorted. Borrowed when the URL is its own
/// key (no `;` in the path, no query): most URLs.
pub fn dedupe_key(url: &str) -> Cow<'_, str> {
    let (before_query, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    // A path parameter (`/cart;jsessionid=ABC`) sits after the last `;` of a segment.
    let path_has_param = before_query
        .find("://")
        .map(|i| &before_query[i + 3..])
        .is_some_and(|rest| rest.contains(';'));
    if query.is_none() && !path_has_param {
        return Cow::Borrowed(url);
    }
    let mut key = String::with_capacity(url.len());
    if path_has_param {
        key.push_str(&strip_path_sessions(before_query));
    } else {
        key.push_str(before_query);
    }
    if let Some(q) = query {
        let mut pairs: Vec<&str> = q
            .split('&')
            .filter(|p| !p.is_empty())
            .filter(|p| !is_dropped_param(p))
            .collect();
        pairs.sort_unstable();
        if !pairs.is_empty() {
            key.push('?');
            key.push_str(&pairs.join("&"));
        }
    }
    Cow::Owned(key)
}

/// `/a;jsessionid=X/b;foo=1` → `/a/b;foo=1`: only session parameters go.
fn strip_path_sessions(before_query: &str) -> String {
    let (scheme_host, path) = match before_query.find("://") {
        Some(i) => match before_query[i + 3..].find('/') {
            Some(j) => before_query.split_at(i + 3 + j),
            None => (before_query, ""),
        },
        None => ("", before_query),
    };
    let segments: Vec<String> = path
        .split('/')
        .map(|segment| {
            let mut parts = segment.split(';');
            let head = parts.next().unwrap_or("");
            let kept: Vec<&str> = parts.filter(|p| !is_dropped_param(p)).collect();
            std::iter::once(head)
                .chain(kept)
                .collect::<Vec<_>>()
                .join(";")
        })
        .collect();
    format!("{scheme_host}{}", segments.join("/"))
}

/// The path rules' names, as counted and shown.
pub const RULES: [&str; 3] = ["repeated_segment", "too_many_segments", "too_many_params"];

/// How many discovered URLs each path rule kept out of the queue (a URL found on several
/// pages is counted each time it is found), and how many fetched pages the rules of
/// [`crate::copies`] found to be copies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct TrapCounts {
    /// A path segment repeated more than twice.
    pub repeated_segment: u64,
    /// More than `--max-path-segments` segments.
    pub too_many_segments: u64,
    /// More than `--max-query-params` query parameters.
    pub too_many_params: u64,
    /// Pages stored as duplicates of a page with the same body (links not followed).
    pub duplicate_content: u64,
    /// Pages stored as soft 404s: answering like a path that cannot exist (links not followed).
    pub soft_404: u64,
    /// Pages stored as copies of the URL their `<link rel=canonical>` names, which differs
    /// from theirs only in the query (links not followed).
    pub canonical: u64,
    /// Soft-404 probes answered (paths that cannot exist, asked on purpose).
    pub soft_404_probes: u64,
    /// Discovered URLs not queued: their shape's pages had stopped leading anywhere else.
    pub pattern_budget: u64,
    /// Pages whose shape was not tracked (over the caps of [`crate::shapes`]).
    pub shapes_untracked: u64,
}

impl TrapCounts {
    /// All rules that keep discovered URLs out of the queue together.
    pub fn total(&self) -> u64 {
        self.repeated_segment + self.too_many_segments + self.too_many_params + self.pattern_budget
    }

    /// These counts with the path rules' taken from `paths` (which the scope counts).
    pub fn with_path_rules(self, paths: TrapCounts) -> TrapCounts {
        TrapCounts {
            repeated_segment: paths.repeated_segment,
            too_many_segments: paths.too_many_segments,
            too_many_params: paths.too_many_params,
            ..self
        }
    }
}

/// The path rules and how many URLs each refused in this run.
#[derive(Debug)]
pub struct PathRules {
    max_segments: usize,
    max_params: usize,
    refused: [AtomicU64; 3],
}

impl PathRules {
    /// The rules with their limits (`--max-path-segments`, `--max-query-params`).
    pub fn new(max_segments: usize, max_params: usize) -> PathRules {
        PathRules {
            max_segments,
            max_params,
            refused: Default::default(),
        }
    }

    /// The rule that refuses `url`, if any (and counts it).
    pub fn refuses(&self, url: &Url) -> Option<&'static str> {
        let rule = self.rule_for(url)?;
        self.refused[rule].fetch_add(1, Ordering::Relaxed);
        Some(RULES[rule])
    }

    fn rule_for(&self, url: &Url) -> Option<usize> {
        let segments: Vec<&str> = url
            .path_segments()
            .map(|s| s.filter(|s| !s.is_empty()).collect())
            .unwrap_or_default();
        if repeats_a_segment(&segments) {
            return Some(0);
        }
        if segments.len() > self.max_segments {
            return Some(1);
        }
        let params = url
            .query()
            .map_or(0, |q| q.split('&').filter(|p| !p.is_empty()).count());
        (params > self.max_params).then_some(2)
    }

    /// How many URLs each rule refused so far.
    pub fn counts(&self) -> TrapCounts {
        let n = |i: usize| self.refused[i].load(Ordering::Relaxed);
        TrapCounts {
            repeated_segment: n(0),
            too_many_segments: n(1),
            too_many_params: n(2),
            ..TrapCounts::default()
        }
    }
}

/// Whether one segment occurs more than twice in a path (`/docs/a/docs/a/docs/`): the mark of
/// a relative link resolved against itself again and again. Real paths repeat a name at most
/// twice (`/en/docs/en/`) in the corpora measured.
fn repeats_a_segment(segments: &[&str]) -> bool {
    if segments.len() < 3 {
        return false;
    }
    let mut seen: std::collections::HashMap<&str, u8> = std::collections::HashMap::new();
    segments.iter().any(|s| {
        let n = seen.entry(s).or_default();
        *n += 1;
        *n > 2
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_tracking_and_order_do_not_make_a_new_key() {
        let same = [
            "http://a.test/p?x=1&y=2",
            "http://a.test/p?y=2&x=1",
            "http://a.test/p?x=1&utm_source=news&y=2&gclid=abc",
            "http://a.test/p?sid=93a8f0c1d2e3f4a5&x=1&y=2",
            "http://a.test/p?PHPSESSID=1&y=2&x=1&fbclid=z",
        ];
        for url in same {
            assert_eq!(dedupe_key(url), "http://a.test/p?x=1&y=2", "{url}");
        }
        assert_eq!(
            dedupe_key("http://a.test/cart;jsessionid=0AB12/item;v=2?utm_medium=x"),
            "http://a.test/cart/item;v=2"
        );
        assert_eq!(
            dedupe_key("http://a.test/p?utm_campaign=x"),
            "http://a.test/p"
        );
        // Most URLs are their own key, borrowed.
        assert!(matches!(
            dedupe_key("http://a.test/docs/x.html"),
            Cow::Borrowed(_)
        ));
        // Parameters that name the page stay, in their order of value.
        assert_ne!(
            dedupe_key("http://a.test/p?id=1"),
            dedupe_key("http://a.test/p?id=2")
        );
        assert_eq!(
            dedupe_key("http://a.test/p?session=1"),
            "http://a.test/p?session=1"
        );
        assert_eq!(dedupe_key("http://a.test/p?sid=2"), "http://a.test/p?sid=2");
        // Print and share views of a page (the default --dedupe-drop list).
        for url in [
            "http://a.test/p?x=1&print=1",
            "http://a.test/p?share=twitter&x=1",
            "http://a.test/p?x=1&replytocom=42",
            "http://a.test/p?x=1&format=print",
            "http://a.test/p?VIEW=Print&x=1",
        ] {
            assert_eq!(dedupe_key(url), "http://a.test/p?x=1", "{url}");
        }
        assert_eq!(
            dedupe_key("http://a.test/p?format=pdf"),
            "http://a.test/p?format=pdf"
        );
    }

    #[test]
    fn path_rules_refuse_repeats_depth_and_parameter_floods() {
        let rules = PathRules::new(20, 10);
        let url = |s: &str| Url::parse(s).unwrap();
        assert_eq!(
            rules.refuses(&url("http://a.test/docs/a/docs/a/docs/a/")),
            Some("repeated_segment")
        );
        assert_eq!(rules.refuses(&url("http://a.test/docs/a/docs/a/")), None);
        assert_eq!(rules.refuses(&url("http://a.test/en/docs/en/x")), None);
        let deep = format!(
            "http://a.test/{}",
            (0..21).map(|i| format!("s{i}/")).collect::<String>()
        );
        assert_eq!(rules.refuses(&url(&deep)), Some("too_many_segments"));
        let q = (0..11)
            .map(|i| format!("p{i}=1"))
            .collect::<Vec<_>>()
            .join("&");
        assert_eq!(
            rules.refuses(&url(&format!("http://a.test/s?{q}"))),
            Some("too_many_params")
        );
        assert_eq!(rules.refuses(&url("http://a.test/s?a=1&b=2")), None);
        let counts = rules.counts();
        assert_eq!(
            (
                counts.repeated_segment,
                counts.too_many_segments,
                counts.too_many_params
            ),
            (1, 1, 1)
        );
    }
}
