//! URL rules: seed parsing, normalization and scope — which spellings are one URL, and which URLs
//! this crawl follows.
//! Everything here is pure, so it is unit-tested without a network.

use std::collections::HashSet;

use regex::RegexSet;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{Error, Result};

/// Brings a parsed URL to the one spelling the seen-set keys on, or `None` when it is not
/// crawlable. The url crate already lowercases scheme and host, drops default ports, resolves
/// dot segments and gives an empty path `/`; what remains is dropping the fragment (never sent
/// to a server) and refusing non-http(s) schemes and host-less URLs.
pub fn normalize(mut url: Url) -> Option<Url> {
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    if url.host_str().is_none_or(str::is_empty) {
        return None;
    }
    url.set_fragment(None);
    // Userinfo is a login, not part of the resource: it is never stored or exported (a seed's
    // is taken as its origin's credentials first, see `config::request`).
    if !url.username().is_empty() || url.password().is_some() {
        let _ = url.set_username("");
        let _ = url.set_password(None);
    }
    // `?` with nothing after it is the same resource on every server we know of.
    if url.query() == Some("") {
        url.set_query(None);
    }
    Some(url)
}

/// Resolves `href` against `base` and normalizes it. Whitespace around an href is ignored, as
/// browsers do.
pub fn resolve(base: &Url, href: &str) -> Option<Url> {
    let href = href.trim();
    if href.is_empty() {
        return None;
    }
    base.join(href).ok().and_then(normalize)
}

/// The origin a URL is rate-limited under: scheme, host and port (default port omitted).
pub fn origin_key(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// The `host[:port]` label used in status counts.
pub fn host_label(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => String::new(),
    }
}

/// The registrable domain (`www.example.co.uk` → `example.co.uk`) from the public-suffix list;
/// an IP address or a name with no public suffix is its own domain.
pub fn registrable_domain(host: &str) -> String {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[') {
        return host;
    }
    psl::domain_str(&host).map(str::to_string).unwrap_or(host)
}

/// Which discovered URLs are followed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ScopeKind {
    /// Only the seeds' hosts (scheme, host and port)
    #[default]
    Host,
    /// Any host under the seeds' registrable domains (public-suffix list)
    Domain,
    /// Any http(s) URL (bound the crawl with --max-depth/--max-pages/--include)
    Any,
    /// Only URLs under a seed's directory (wget's --no-parent): its scheme, host, port and
    /// path up to the last `/`
    Prefix,
}

/// The set of URLs a crawl follows, built once from the config.
#[derive(Debug)]
pub struct Scope {
    kind: ScopeKind,
    hosts: HashSet<String>,
    domains: HashSet<String>,
    /// `--scope prefix`: each seed origin's directories (path up to its last `/`).
    prefixes: std::collections::HashMap<String, Vec<String>>,
    /// Origins whose seeds-file lines said `scope=prefix`, with their directories: whatever the
    /// crawl's `--scope`, only URLs under one of them are followed there, unless another seed
    /// of that origin has no such limit (it is then in `whole`).
    restricted: std::collections::HashMap<String, Vec<String>>,
    /// Origins with a seed not limited to its directory.
    whole: HashSet<String>,
    include: Option<RegexSet>,
    exclude: Option<RegexSet>,
    max_url_length: usize,
    /// The trap rules on paths (see [`crate::traps`]); none in a scope built without them.
    rules: Option<crate::traps::PathRules>,
    /// Seed origins learnt while the crawl runs (see [`LateOrigins`]).
    late: LateOrigins,
}

/// Seed origins a running crawl learns of after its scope was built: a shared crawl's worker
/// reads those another `crawl --frontier --seeds-file` adds while it works. The scope is shared
/// read-only by every fetch task, so these sit behind a lock of their own, read only for a URL
/// the origins known at the start refuse.
#[derive(Clone, Debug)]
pub struct LateOrigins {
    kind: ScopeKind,
    added: std::sync::Arc<std::sync::RwLock<Option<Box<Scope>>>>,
}

impl LateOrigins {
    fn new(kind: ScopeKind) -> Self {
        LateOrigins {
            kind,
            added: Default::default(),
        }
    }

    /// Puts a seed origin in scope from now on (as [`Scope::add_origin`]).
    pub fn add(&self, origin: &str, dirs: &[String]) {
        let mut added = self.added.write().unwrap_or_else(|p| p.into_inner());
        added
            .get_or_insert_with(|| Box::new(Scope::bare(self.kind)))
            .add_origin(origin, dirs);
    }

    /// Whether one of the origins added allows `url`'s host and path.
    fn allows_host(&self, url: &Url) -> bool {
        let added = self.added.read().unwrap_or_else(|p| p.into_inner());
        added.as_ref().is_some_and(|s| s.allows_host(url))
    }
}

impl Scope {
    /// The scope with the trap rules on paths: a URL they refuse is out of it.
    pub fn with_path_rules(mut self, rules: crate::traps::PathRules) -> Self {
        self.rules = Some(rules);
        self
    }

    /// How many URLs each trap rule kept out so far.
    pub fn trap_counts(&self) -> crate::traps::TrapCounts {
        self.rules.as_ref().map(|r| r.counts()).unwrap_or_default()
    }

    /// The scope of `kind` around `seeds`, filtered by the `include` and `exclude` regexes and
    /// the longest URL followed.
    pub fn new<'a>(
        kind: ScopeKind,
        seeds: impl IntoIterator<Item = &'a Url>,
        include: &[String],
        exclude: &[String],
        max_url_length: usize,
    ) -> Result<Self> {
        let set = |res: &[String]| -> Result<Option<RegexSet>> {
            if res.is_empty() {
                return Ok(None);
            }
            RegexSet::new(res)
                .map(Some)
                .map_err(|e| Error::Config(format!("bad --include/--exclude regex: {e}")))
        };
        let mut hosts = HashSet::new();
        let mut whole = HashSet::new();
        let mut domains = HashSet::new();
        let mut prefixes: std::collections::HashMap<String, Vec<String>> = Default::default();
        for seed in seeds {
            let path = seed.path();
            let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
            let dirs = prefixes.entry(origin_key(seed)).or_default();
            if !dirs.iter().any(|d| d == dir) {
                dirs.push(dir.to_string());
            }
            hosts.insert(origin_key(seed));
            whole.insert(origin_key(seed));
            if let Some(h) = seed.host_str() {
                domains.insert(registrable_domain(h));
            }
        }
        Ok(Scope {
            hosts,
            domains,
            prefixes,
            whole,
            include: set(include)?,
            exclude: set(exclude)?,
            max_url_length,
            ..Scope::bare(kind)
        })
    }

    /// A scope of `kind` with no seed and no filter (what [`LateOrigins`] add to).
    fn bare(kind: ScopeKind) -> Scope {
        Scope {
            kind,
            hosts: HashSet::new(),
            domains: HashSet::new(),
            prefixes: Default::default(),
            restricted: Default::default(),
            whole: HashSet::new(),
            include: None,
            exclude: None,
            max_url_length: usize::MAX,
            rules: None,
            late: LateOrigins::new(kind),
        }
    }

    /// The handle that adds seed origins to this scope while the crawl runs.
    pub fn late_origins(&self) -> LateOrigins {
        self.late.clone()
    }

    /// Adds a seeds file's seed origin (`https://host:port`) to the hosts and domains in scope:
    /// its whole host, or with `dirs` (its lines said `scope=prefix`) only under those
    /// directories, whatever `--scope` is.
    pub fn add_origin(&mut self, origin: &str, dirs: &[String]) {
        if let Ok(u) = Url::parse(origin) {
            let key = origin_key(&u);
            if dirs.is_empty() {
                self.prefixes
                    .entry(key.clone())
                    .or_default()
                    .push("/".into());
                self.whole.insert(key.clone());
            } else {
                self.prefixes
                    .entry(key.clone())
                    .or_default()
                    .extend(dirs.iter().cloned());
                self.restricted
                    .entry(key.clone())
                    .or_default()
                    .extend(dirs.iter().cloned());
            }
            self.hosts.insert(key);
            if let Some(h) = u.host_str() {
                self.domains.insert(registrable_domain(h));
            }
        }
    }

    /// The host names (or IP literals, as URLs write them) of the seeds' origins.
    pub fn seed_hosts(&self) -> impl Iterator<Item = String> + '_ {
        self.hosts
            .iter()
            .filter_map(|origin| Url::parse(origin).ok()?.host_str().map(str::to_string))
    }

    /// Why the scope refuses `url`, in words naming the setting (`None`: it is followed); for
    /// `politecrawl explain`.
    pub fn refusal(&self, url: &Url) -> Option<String> {
        self.check(url).err().map(|r| r.describe(self))
    }

    /// The first check `url` fails, in [`Scope::allows`]' order. Cheap: nothing is formatted
    /// until a refusal is described (most links a page has are refused by the scope).
    pub fn check(&self, url: &Url) -> Result<(), Refusal> {
        let s = url.as_str();
        if s.len() > self.max_url_length {
            return Err(Refusal::TooLong(s.len()));
        }
        if !self.allows_host(url) && !self.late.allows_host(url) {
            return Err(Refusal::OutOfScope);
        }
        if self.include.as_ref().is_some_and(|set| !set.is_match(s)) {
            return Err(Refusal::NoInclude);
        }
        if let Some(set) = &self.exclude {
            if let Some(i) = set.matches(s).iter().next() {
                return Err(Refusal::Exclude(i));
            }
        }
        // Last, so only URLs in scope otherwise are counted under a rule.
        match self.rules.as_ref().and_then(|r| r.refuses(url)) {
            Some(rule) => Err(Refusal::Trap(rule)),
            None => Ok(()),
        }
    }

    fn allows_host(&self, url: &Url) -> bool {
        if !self.restricted.is_empty() {
            let key = origin_key(url);
            if let Some(dirs) = self
                .restricted
                .get(&key)
                .filter(|_| !self.whole.contains(&key))
            {
                if !dirs.iter().any(|d| url.path().starts_with(d.as_str())) {
                    return false;
                }
            }
        }
        match self.kind {
            ScopeKind::Any => true,
            ScopeKind::Host => self.hosts.contains(&origin_key(url)),
            ScopeKind::Domain => url
                .host_str()
                .is_some_and(|h| self.domains.contains(&registrable_domain(h))),
            ScopeKind::Prefix => self
                .prefixes
                .get(&origin_key(url))
                .is_some_and(|dirs| dirs.iter().any(|d| url.path().starts_with(d.as_str()))),
        }
    }

    /// Whether a discovered (already normalized) URL is followed.
    pub fn allows(&self, url: &Url) -> bool {
        self.check(url).is_ok()
    }
}

/// Which check of the [`Scope`] refused a URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Longer than `--max-url-length` (its length).
    TooLong(usize),
    /// Not on a seed's origin, domain or directory (`--scope`).
    OutOfScope,
    /// Matches no `--include`.
    NoInclude,
    /// Matches this `--exclude` (its index).
    Exclude(usize),
    /// Refused by this trap rule on paths.
    Trap(&'static str),
}

impl Refusal {
    /// The reason's name, as the skip report and `explain` give it.
    pub fn name(self) -> &'static str {
        match self {
            Refusal::TooLong(_) => "max_url_length",
            Refusal::OutOfScope => "out_of_scope",
            Refusal::NoInclude => "include",
            Refusal::Exclude(_) => "exclude",
            Refusal::Trap(rule) => rule,
        }
    }

    /// In words naming the setting.
    pub fn describe(self, scope: &Scope) -> String {
        match self {
            Refusal::TooLong(n) => format!(
                "longer than --max-url-length ({n} > {} bytes)",
                scope.max_url_length
            ),
            Refusal::OutOfScope => {
                let (kind, what) = match scope.kind {
                    ScopeKind::Any => ("any", "origin"),
                    ScopeKind::Host => ("host", "origin"),
                    ScopeKind::Domain => ("domain", "registrable domain"),
                    ScopeKind::Prefix => ("prefix", "origin under its directory"),
                };
                format!("out of --scope {kind}: not on a seed's {what}")
            }
            Refusal::NoInclude => "matches no --include".into(),
            Refusal::Exclude(i) => {
                let pattern = scope.exclude.as_ref().and_then(|s| s.patterns().get(i));
                format!("matches --exclude {:?}", pattern.map_or("", String::as_str))
            }
            Refusal::Trap(rule) => format!("refused by the trap rule {rule}"),
        }
    }
}

/// Parses one seed as the user typed it; only absolute http(s) URLs are accepted.
pub fn parse_seed(raw: &str) -> Result<Url> {
    let bad = |reason: &str| Error::BadSeed {
        url: crate::secrets::hide_password(raw),
        reason: reason.to_string(),
    };
    let url = Url::parse(raw.trim()).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad(&format!("scheme {:?} is not crawlable", url.scheme())));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("it has no host"));
    }
    normalize(url).ok_or_else(|| bad("it cannot be normalized"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> Option<String> {
        normalize(Url::parse(s).ok()?).map(|u| u.to_string())
    }

    #[test]
    fn spellings_of_one_url_normalize_alike() {
        let want = Some("http://example.com/a/b.html".to_string());
        for s in [
            "HTTP://EXAMPLE.com/a/b.html",
            "http://example.com:80/a/b.html",
            "http://example.com/a/./b.html",
            "http://example.com/a/c/../b.html",
            "http://example.com/a/b.html#frag",
            "http://Example.Com/a/b.html?",
        ] {
            assert_eq!(norm(s), want, "{s}");
        }
        assert_eq!(
            norm("https://example.com:443"),
            Some("https://example.com/".into())
        );
        assert_eq!(
            norm("http://example.com:8080"),
            Some("http://example.com:8080/".into())
        );
        // The query is part of the resource; only the fragment goes.
        assert_eq!(
            norm("http://e.com/p?b=2&a=1#x"),
            Some("http://e.com/p?b=2&a=1".into())
        );
        // IDNs are keyed in punycode.
        assert_eq!(
            norm("http://bücher.de/"),
            Some("http://xn--bcher-kva.de/".into())
        );
    }

    #[test]
    fn non_http_urls_are_dropped() {
        for s in [
            "mailto:a@b.c",
            "javascript:void(0)",
            "tel:+1",
            "ftp://e.com/",
            "data:,x",
        ] {
            assert_eq!(norm(s), None, "{s}");
        }
    }

    #[test]
    fn resolve_handles_relative_forms() {
        let base = Url::parse("http://e.com/dir/page.html").unwrap();
        let r = |h| resolve(&base, h).map(|u| u.to_string());
        assert_eq!(r("other.html"), Some("http://e.com/dir/other.html".into()));
        assert_eq!(r("../up.html"), Some("http://e.com/up.html".into()));
        assert_eq!(r("/root.html"), Some("http://e.com/root.html".into()));
        assert_eq!(r("//cdn.e.com/x"), Some("http://cdn.e.com/x".into()));
        assert_eq!(
            r("  spaced.html \n"),
            Some("http://e.com/dir/spaced.html".into())
        );
        assert_eq!(r("#top"), Some("http://e.com/dir/page.html".into()));
        assert_eq!(r(""), None);
        assert_eq!(r("http://[::1"), None);
    }

    fn scope(kind: ScopeKind, include: &[&str], exclude: &[&str]) -> Scope {
        let seeds =
            ["http://www.example.co.uk/", "http://a.test:8080/"].map(|s| parse_seed(s).unwrap());
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        Scope::new(kind, &seeds, &strings(include), &strings(exclude), 40).unwrap()
    }

    #[test]
    fn prefix_scope_keeps_to_each_seeds_directory() {
        let seeds = ["http://a.test/docs/guide/index.html", "http://b.test/blog"]
            .map(|s| parse_seed(s).unwrap());
        let s = Scope::new(ScopeKind::Prefix, &seeds, &[], &[], 200).unwrap();
        let url = |u: &str| Url::parse(u).unwrap();
        assert!(s.allows(&url("http://a.test/docs/guide/intro.html")));
        assert!(s.allows(&url("http://a.test/docs/guide/sub/x.html?q=1")));
        assert!(
            !s.allows(&url("http://a.test/docs/other.html")),
            "the parent"
        );
        assert!(!s.allows(&url("http://a.test/")));
        assert!(
            !s.allows(&url("https://a.test/docs/guide/intro.html")),
            "another origin"
        );
        // A seed without a trailing slash names a file in its parent directory, as wget reads it.
        assert!(s.allows(&url("http://b.test/anything")));
        assert!(!s.allows(&url("http://c.test/docs/guide/")));
    }

    #[test]
    fn late_origins_join_a_scope_in_use_under_its_filters() {
        let s = scope(ScopeKind::Host, &[], &["/private"]);
        let late = s.late_origins();
        let url = |u: &str| Url::parse(u).unwrap();
        assert!(!s.allows(&url("http://late.test/a")));
        late.add("http://late.test", &[]);
        late.add("http://dir.test", &["/docs/".to_string()]);
        // The scope already built (shared read-only by the fetch tasks) follows them now.
        assert!(s.allows(&url("http://late.test/a")));
        assert!(s.allows(&url("http://dir.test/docs/x")));
        assert!(
            !s.allows(&url("http://dir.test/other")),
            "its directory only"
        );
        assert!(!s.allows(&url("https://late.test/a")), "another origin");
        assert!(
            !s.allows(&url("http://late.test/private")),
            "--exclude still applies"
        );
    }

    #[test]
    fn seeds_must_be_absolute_http() {
        assert!(parse_seed("http://Example.COM:80").is_ok());
        assert_eq!(
            parse_seed("http://Example.COM:80").unwrap().as_str(),
            "http://example.com/"
        );
        for bad in [
            "example.com",
            "ftp://example.com/",
            "mailto:a@b.c",
            "http://",
            "/x",
        ] {
            assert!(parse_seed(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn host_scope_matches_origin_exactly() {
        let s = scope(ScopeKind::Host, &[], &[]);
        let ok = |u: &str| s.allows(&Url::parse(u).unwrap());
        assert!(ok("http://www.example.co.uk/x"));
        assert!(ok("http://a.test:8080/y"));
        assert!(!ok("http://a.test/y"), "other port is another origin");
        assert!(
            !ok("https://www.example.co.uk/x"),
            "other scheme is another origin"
        );
        assert!(!ok("http://shop.example.co.uk/x"));
        assert!(!ok(
            "http://www.example.co.uk/a-very-long-path-over-forty-bytes"
        ));
    }

    #[test]
    fn domain_scope_uses_public_suffix_list() {
        let s = scope(ScopeKind::Domain, &[], &[]);
        let ok = |u: &str| s.allows(&Url::parse(u).unwrap());
        assert!(ok("http://shop.example.co.uk/x"));
        assert!(ok("https://example.co.uk/"));
        assert!(
            !ok("http://other.co.uk/"),
            "co.uk is a public suffix, not a shared domain"
        );
        assert!(ok("http://b.a.test/"), "unknown TLD: the last two labels");
        assert_eq!(registrable_domain("127.0.0.1"), "127.0.0.1");
    }

    #[test]
    fn include_and_exclude_filter_full_urls() {
        let s = scope(ScopeKind::Any, &["/docs/"], &["private"]);
        let ok = |u: &str| s.allows(&Url::parse(u).unwrap());
        assert!(ok("http://x.org/docs/a"));
        assert!(!ok("http://x.org/blog/a"));
        assert!(!ok("http://x.org/docs/private"));
    }
}
