//! robots.txt per RFC 9309, parsed with `texting_robots` and matched by our product token.
//!
//! Verdicts: a 2xx body gives rules; a 4xx (other than 429) or a chain of more than five
//! redirects allows everything; a 5xx, a 429 or a network failure means the file is unreachable
//! and **nothing** of the origin is fetched until a later try succeeds (tries back off, and after
//! `--robots-give-up` the origin's URLs are recorded as failed). Verdicts are cached in the
//! database and trusted for 24 hours, so a resumed crawl does not fetch robots.txt again.

use std::sync::Arc;
use std::time::Duration;

use texting_robots::Robot;
use url::Url;

use crate::failure::{ErrorKind, Failure};
use crate::store::{RobotsRecord, RobotsVerdict};

/// Bytes of robots.txt read and parsed (RFC 9309 asks for at least 500 KiB).
pub const MAX_BYTES: u64 = 512 * 1024;
/// Redirects followed to reach a robots.txt (RFC 9309: at least five).
pub const MAX_REDIRECTS: usize = 5;
/// How long a cached verdict is trusted.
pub const TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// Longest wait between tries of an unreachable robots.txt.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(60);

/// Wait before the next try after `tries` failed ones: 1 s, 2 s, 4 s, … up to a minute.
pub fn retry_delay(tries: u32) -> Duration {
    let secs = 1u64 << tries.saturating_sub(1).min(16);
    Duration::from_secs(secs).min(MAX_RETRY_DELAY)
}

/// What a URL's origin's robots.txt says about it.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// Fetch it.
    Allow,
    /// Do not: the string names the rule.
    Block(String),
    /// The origin's robots.txt stayed unreachable, or failed in a way waiting does not heal:
    /// fail the URL without a request, with this failure.
    GiveUp(Failure),
}

/// The rules in force for one origin.
pub struct Policy {
    rules: Rules,
    /// `Crawl-delay` of our group (or the file's global one), uncapped.
    pub crawl_delay: Option<Duration>,
    /// `Sitemap:` URLs.
    pub sitemaps: Vec<String>,
}

enum Rules {
    AllowAll,
    Parsed {
        robot: Box<Robot>,
        body: Arc<[u8]>,
        token: String,
    },
    GiveUp(Failure),
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.rules {
            Rules::AllowAll => "allow-all",
            Rules::Parsed { .. } => "rules",
            Rules::GiveUp(_) => "gave-up",
        };
        write!(f, "Policy({kind}, crawl_delay {:?})", self.crawl_delay)
    }
}

impl Policy {
    /// Everything allowed: `--ignore-robots`, or a 4xx robots.txt.
    pub fn allow_all() -> Self {
        Policy {
            rules: Rules::AllowAll,
            crawl_delay: None,
            sitemaps: Vec::new(),
        }
    }

    /// Parses a robots.txt body for `token`. A body the parser rejects allows everything (the
    /// verdict records why), as RFC 9309 asks parsers to be lenient.
    pub fn parse(body: &[u8], token: &str) -> Self {
        let body = &body[..body.len().min(MAX_BYTES as usize)];
        let normal = for_matching(body);
        let body = normal.as_slice();
        match Robot::new(token, body) {
            Ok(robot) => Policy {
                crawl_delay: robot
                    .delay
                    .filter(|d| d.is_finite() && *d > 0.0)
                    .map(|d| Duration::from_secs_f64(f64::from(d).min(86_400.0))),
                sitemaps: robot.sitemaps.clone(),
                rules: Rules::Parsed {
                    robot: Box::new(robot),
                    body: Arc::from(body),
                    token: token.to_string(),
                },
            },
            Err(_) => Policy::allow_all(),
        }
    }

    fn give_up(failure: Failure) -> Self {
        Policy {
            rules: Rules::GiveUp(failure),
            crawl_delay: None,
            sitemaps: Vec::new(),
        }
    }

    /// The policy a cached verdict stands for; `None` when the verdict says "unreachable" (the
    /// file must be fetched again).
    pub fn from_record(rec: &RobotsRecord, token: &str) -> Option<Self> {
        match &rec.verdict {
            RobotsVerdict::Rules { .. } => Some(Policy::parse(&rec.body, token)),
            RobotsVerdict::AllowAll { .. } => Some(Policy::allow_all()),
            RobotsVerdict::GaveUp { reason } => Some(Policy::give_up(Failure {
                kind: ErrorKind::RobotsUnreachable,
                message: reason.clone(),
            })),
            RobotsVerdict::Failed { kind, reason } => Some(Policy::give_up(Failure {
                kind: *kind,
                message: reason.clone(),
            })),
            RobotsVerdict::Unreachable { .. } => None,
        }
    }

    /// Whether `url` may be fetched.
    pub fn decide(&self, url: &Url) -> Decision {
        match &self.rules {
            Rules::AllowAll => Decision::Allow,
            Rules::GiveUp(reason) => Decision::GiveUp(reason.clone()),
            Rules::Parsed { robot, body, token } => {
                if robot.allowed(&upper_hex(url.as_str())) {
                    Decision::Allow
                } else {
                    Decision::Block(explain(body, token, url))
                }
            }
        }
    }
}

/// The file as the rules are matched (RFC 9309 §2.1, §2.2.2): `Allow`/`Disallow` lines before
/// the first `User-agent` line belong to no group and are dropped (a parser that took them into
/// the first group would block what the file does not), and percent-encoded octets in rules
/// are upper-cased, as the URL's are when it is matched, so `/%aa` matches `/%AA`.
fn for_matching(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut grouped = false;
    for line in body.split_inclusive(|&b| b == b'\n') {
        let text = String::from_utf8_lossy(line);
        let key = text
            .split(':')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match key.as_str() {
            "user-agent" => grouped = true,
            "allow" | "disallow" if !grouped => continue,
            "allow" | "disallow" => {
                out.extend_from_slice(upper_hex(&text).as_bytes());
                continue;
            }
            _ => {}
        }
        out.extend_from_slice(line);
    }
    out
}

/// `s` with every `%xx` escape's hex digits upper-cased (RFC 3986 §2.1: they are equivalent).
fn upper_hex(s: &str) -> std::borrow::Cow<'_, str> {
    let bytes = s.as_bytes();
    let escape_at = |i: usize| {
        bytes[i] == b'%'
            && i + 2 < bytes.len()
            && bytes[i + 1].is_ascii_hexdigit()
            && bytes[i + 2].is_ascii_hexdigit()
    };
    let lower = |i: usize| {
        escape_at(i) && (bytes[i + 1].is_ascii_lowercase() || bytes[i + 2].is_ascii_lowercase())
    };
    if !(0..bytes.len()).any(lower) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = bytes.to_vec();
    for i in (0..bytes.len()).filter(|&i| escape_at(i)) {
        out[i + 1].make_ascii_uppercase();
        out[i + 2].make_ascii_uppercase();
    }
    std::borrow::Cow::Owned(String::from_utf8(out).expect("only ASCII hex digits changed"))
}

/// Names the rule that blocks `url`: the longest `Disallow` pattern of the group that applies
/// to `token` which matches it. Only called for blocked URLs.
fn explain(body: &[u8], token: &str, url: &Url) -> String {
    let text = String::from_utf8_lossy(body);
    let lines: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| {
            let l = l.split('#').next().unwrap_or("");
            let (k, v) = l.split_once(':')?;
            Some((k.trim().to_ascii_lowercase(), v.trim().to_string()))
        })
        .collect();
    let names_us = lines
        .iter()
        .any(|(k, v)| k == "user-agent" && v.eq_ignore_ascii_case(token));
    let target = if names_us { token } else { "*" };
    let (mut in_group, mut after_rules) = (false, false);
    let mut best: Option<String> = None;
    for (k, v) in &lines {
        if k == "user-agent" {
            if after_rules {
                in_group = false;
                after_rules = false;
            }
            in_group |= v.eq_ignore_ascii_case(target);
            continue;
        }
        after_rules = true;
        let longer = best.as_ref().is_none_or(|b| v.len() > b.len());
        if in_group && k == "disallow" && !v.is_empty() && longer && single_rule_blocks(v, url) {
            best = Some(v.clone());
        }
    }
    match best {
        Some(rule) => format!("Disallow: {rule} (robots.txt, group {target})"),
        None => format!("disallowed by robots.txt (group {target})"),
    }
}

fn single_rule_blocks(pattern: &str, url: &Url) -> bool {
    let one = format!("User-agent: *\nDisallow: {pattern}\n");
    Robot::new("x", one.as_bytes()).is_ok_and(|r| !r.allowed(&upper_hex(url.as_str())))
}

/// The verdict for a robots.txt response status (after redirects).
pub fn verdict_for_status(status: u16) -> Option<RobotsVerdict> {
    match status {
        200..=299 => Some(RobotsVerdict::Rules { status }),
        429 | 500..=599 => None,
        400..=499 => Some(RobotsVerdict::AllowAll {
            reason: format!("robots.txt answered {status}"),
        }),
        _ => None,
    }
}

/// Whether a cached verdict fetched at `fetched_at_ms` is still trusted at `now_ms`.
pub fn is_fresh(rec: &RobotsRecord, now_ms: u64) -> bool {
    now_ms.saturating_sub(rec.fetched_at_ms) < TTL.as_millis() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_before_any_user_agent_belong_to_no_group() {
        let body = b"Disallow: /everything\nUser-agent: *\nDisallow: /private\n";
        let p = Policy::parse(body, "politecrawl");
        let url = |path: &str| Url::parse(&format!("http://e.com{path}")).unwrap();
        assert_eq!(p.decide(&url("/everything")), Decision::Allow);
        assert!(matches!(p.decide(&url("/private/x")), Decision::Block(_)));
    }

    #[test]
    fn percent_escapes_compare_without_regard_to_hex_case() {
        let url = |path: &str| Url::parse(&format!("http://e.com{path}")).unwrap();
        let p = Policy::parse(b"User-agent: *\nDisallow: /%aa\n", "politecrawl");
        assert!(matches!(p.decide(&url("/%AA/x")), Decision::Block(_)));
        assert!(matches!(p.decide(&url("/%aa/x")), Decision::Block(_)));
        let p = Policy::parse(b"User-agent: *\nDisallow: /%C3%A9t%C3%A9\n", "politecrawl");
        match p.decide(&url("/%c3%a9t%c3%a9/page")) {
            Decision::Block(rule) => assert!(rule.contains("/%C3%A9t%C3%A9"), "{rule}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(upper_hex("/a%2fb%zz%"), "/a%2Fb%zz%");
        assert!(matches!(upper_hex("/plain"), std::borrow::Cow::Borrowed(_)));
    }

    fn decide(body: &str, url: &str) -> Decision {
        Policy::parse(body.as_bytes(), "politecrawl").decide(&Url::parse(url).unwrap())
    }

    fn allowed(body: &str, path: &str) -> bool {
        decide(body, &format!("http://e.com{path}")) == Decision::Allow
    }

    #[test]
    fn longest_match_wins_and_ties_allow() {
        let body = "User-agent: *\nDisallow: /a\nAllow: /a/b\nDisallow: /a/b/c\n";
        assert!(!allowed(body, "/a/x"));
        assert!(allowed(body, "/a/b/x"));
        assert!(!allowed(body, "/a/b/c/d"));
        let tie = "User-agent: *\nDisallow: /same\nAllow: /same\n";
        assert!(allowed(tie, "/same/x"), "equal length: allow wins");
    }

    #[test]
    fn wildcards_and_end_anchor() {
        let body = "User-agent: *\nDisallow: /*.pdf$\nDisallow: /search*q=\n";
        assert!(!allowed(body, "/docs/a.pdf"));
        assert!(allowed(body, "/docs/a.pdf?x=1"), "$ anchors the end");
        assert!(!allowed(body, "/search?x=1&q=2"));
        assert!(allowed(body, "/searching"));
    }

    #[test]
    fn our_group_is_chosen_by_product_token_and_robots_txt_is_always_allowed() {
        let body = "User-agent: *\nDisallow: /\n\nUser-agent: PoliteCrawl\nDisallow: /private\n";
        assert!(allowed(body, "/public"), "our own group replaces *");
        assert!(!allowed(body, "/private/x"));
        assert!(allowed("User-agent: *\nDisallow: /\n", "/robots.txt"));
    }

    #[test]
    fn blocked_urls_name_the_rule() {
        let body =
            "User-agent: other\nDisallow: /a/b/c\n\nUser-agent: *\nDisallow: /a\nDisallow: /a/b\n";
        match decide(body, "http://e.com/a/b/c") {
            Decision::Block(rule) => assert!(rule.starts_with("Disallow: /a/b "), "{rule}"),
            d => panic!("{d:?}"),
        }
    }

    #[test]
    fn crawl_delay_and_sitemaps_are_read() {
        let p = Policy::parse(
            b"User-agent: *\nCrawl-delay: 2.5\nSitemap: http://e.com/s.xml\n",
            "politecrawl",
        );
        assert_eq!(p.crawl_delay, Some(Duration::from_millis(2500)));
        assert_eq!(p.sitemaps, ["http://e.com/s.xml"]);
    }

    #[test]
    fn statuses_map_to_rfc_9309_verdicts() {
        assert!(matches!(
            verdict_for_status(200),
            Some(RobotsVerdict::Rules { .. })
        ));
        assert!(matches!(
            verdict_for_status(404),
            Some(RobotsVerdict::AllowAll { .. })
        ));
        assert!(matches!(
            verdict_for_status(403),
            Some(RobotsVerdict::AllowAll { .. })
        ));
        assert_eq!(
            verdict_for_status(429),
            None,
            "429 is unreachable, not allow-all"
        );
        assert_eq!(verdict_for_status(503), None);
        assert_eq!(retry_delay(1), Duration::from_secs(1));
        assert_eq!(retry_delay(3), Duration::from_secs(4));
        assert_eq!(retry_delay(30), MAX_RETRY_DELAY);
    }
}
