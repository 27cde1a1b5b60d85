//! Validated crawl settings with every default in one place. After [`CrawlConfig`] is built no
//! module looks at the command line, so tests and the CLI set up a crawl the same way.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::canon::{self, Scope, ScopeKind};
use crate::error::{Error, Result};

/// Default number of fetches in flight across all hosts.
pub const DEFAULT_CONCURRENCY: usize = 16;
/// Default number of fetches in flight to one origin.
pub const DEFAULT_PER_HOST_CONCURRENCY: usize = 2;
/// Default requests per second to one origin: one, the customary polite rate.
pub const DEFAULT_RATE: f64 = 1.0;
/// Default cap on a stored body; the rest of the body is read no further.
pub const DEFAULT_MAX_BODY: u64 = 10 * 1024 * 1024;
/// Default longest URL queued; longer ones are almost always traps or junk.
pub const DEFAULT_MAX_URL_LENGTH: usize = 2048;
/// Default time allowed to open a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time allowed for a whole request, body included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Default time a body may stall (or trickle under 1 KiB) before it is cut off.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time requests in flight get to finish after a stop signal.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);
/// Default redirect hops followed from one URL.
pub const DEFAULT_MAX_REDIRECTS: usize = 10;
/// Default cap on a robots.txt `Crawl-delay`; a longer one is recorded and the cap applied.
pub const DEFAULT_MAX_CRAWL_DELAY: Duration = Duration::from_secs(30);
/// Default cap on a `Retry-After` pause.
pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(600);
/// Default number of re-tries of a URL after a transient failure (so at most 4 requests).
pub const DEFAULT_RETRIES: u32 = 3;
/// Default time a host's robots.txt may stay unreachable before the host's URLs are failed.
pub const DEFAULT_ROBOTS_GIVE_UP: Duration = Duration::from_secs(600);

/// The User-Agent sent when none is given: product token, version and where to read about us,
/// so a site owner who sees us in their logs can find out what we are.
pub fn default_user_agent() -> String {
    format!(
        "politecrawl/{} (+{})",
        env!("CARGO_PKG_VERSION"),
        env!("CARGO_PKG_REPOSITORY")
    )
}

/// Everything a crawl needs to know, checked once. Saved in the database as JSON; fields missing
/// from an older save take their defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CrawlConfig {
    /// Where the crawl lives on disk (a sled directory).
    pub db: PathBuf,
    /// Start URLs, normalized. May be empty when the database already has queued work.
    pub seeds: Vec<Url>,
    /// Fetches in flight across all hosts.
    pub concurrency: usize,
    /// Fetches in flight to one origin.
    pub per_host_concurrency: usize,
    /// Requests per second to one origin; 0 means unlimited (benchmarks on your own servers).
    pub rate: f64,
    /// Which hosts are followed.
    pub scope: ScopeKind,
    /// Regexes over the full URL; when any is given, a URL must match one to be queued.
    pub include: Vec<String>,
    /// Regexes over the full URL; a URL matching any is never queued.
    pub exclude: Vec<String>,
    /// Links further than this from a seed are not queued (seeds are depth 0).
    pub max_depth: Option<u32>,
    /// Stop once this many URL outcomes are stored in the database, across runs.
    pub max_pages: Option<u64>,
    /// Bytes of body stored per page; the rest is not read and the record says `truncated`.
    pub max_body: u64,
    /// Longer URLs are dropped when discovered.
    pub max_url_length: usize,
    /// User-Agent header of every request.
    pub user_agent: String,
    /// Time allowed to connect.
    pub connect_timeout: Duration,
    /// Time allowed for a whole request, body included.
    pub timeout: Duration,
    /// Skip robots.txt entirely. Impolite: only for sites you own or may crawl regardless.
    pub ignore_robots: bool,
    /// Longest robots.txt `Crawl-delay` honored.
    pub max_crawl_delay: Duration,
    /// Longest `Retry-After` pause honored.
    pub max_retry_after: Duration,
    /// Re-tries of a URL after a transient failure (see [`crate::retry`]).
    pub retries: u32,
    /// How long a host's robots.txt may stay unreachable (5xx, 429, timeouts) before the host's
    /// queued URLs are recorded as failed.
    pub robots_give_up: Duration,
    /// Fetch the sitemaps named in robots.txt and queue their in-scope URLs.
    pub sitemaps: bool,
    /// A body stalled this long, or slower than 1 KiB per this long, is cut off (timeout).
    pub read_timeout: Duration,
    /// MIME types (`image/*` allowed) whose bodies are downloaded and stored; empty: all.
    /// HTML is always read, for its links.
    pub accept_types: Vec<String>,
    /// Redirect hops followed from one URL before `too_many_redirects`.
    pub max_redirects: usize,
    /// After a stop signal, how long requests in flight may take to finish.
    pub grace: Duration,
}

/// Settings given explicitly on a command line. `None` (or an empty list) keeps the value the
/// crawl already has: its saved value when resuming, the default when new.
#[derive(Clone, Debug, Default)]
#[allow(missing_docs)] // each field is the `CrawlConfig` field of the same name
pub struct Overrides {
    pub concurrency: Option<usize>,
    pub per_host_concurrency: Option<usize>,
    pub rate: Option<f64>,
    pub scope: Option<ScopeKind>,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub max_depth: Option<u32>,
    pub max_pages: Option<u64>,
    pub max_body: Option<u64>,
    pub max_url_length: Option<usize>,
    pub user_agent: Option<String>,
    pub connect_timeout: Option<Duration>,
    pub timeout: Option<Duration>,
    pub read_timeout: Option<Duration>,
    pub accept_types: Vec<String>,
    pub max_redirects: Option<usize>,
    pub retries: Option<u32>,
    pub max_retry_after: Option<Duration>,
    pub max_crawl_delay: Option<Duration>,
    pub robots_give_up: Option<Duration>,
    pub sitemaps: Option<bool>,
    pub ignore_robots: Option<bool>,
    pub grace: Option<Duration>,
}

/// Sets `$cfg.$field` from `$o.$field` when given, noting `--flag=value` when it changes.
macro_rules! override_fields {
    ($cfg:ident, $o:ident, $changed:ident; $($field:ident $(=> $wrap:path)?: $flag:literal),* $(,)?) => {$(
        if let Some(given) = $o.$field.clone() {
            let v = $($wrap)?(given);
            if $cfg.$field != v {
                $changed.push(format!("--{}={:?}", $flag, v));
                $cfg.$field = v;
            }
        }
    )*};
}

/// Same for list flags: a non-empty list replaces the saved one.
macro_rules! override_lists {
    ($cfg:ident, $o:ident, $changed:ident; $($field:ident: $flag:literal),* $(,)?) => {$(
        if !$o.$field.is_empty() && $cfg.$field != $o.$field {
            $changed.push(format!("--{}={:?}", $flag, $o.$field));
            $cfg.$field = $o.$field.clone();
        }
    )*};
}

impl Default for CrawlConfig {
    fn default() -> Self {
        CrawlConfig::new(PathBuf::new(), &[] as &[&str]).unwrap_or_else(|_| unreachable!())
    }
}

impl CrawlConfig {
    /// A configuration with every default, for `seeds` into `db`. Seeds are checked here so a
    /// typo fails before the database is touched.
    pub fn new<S: AsRef<str>>(db: impl Into<PathBuf>, seeds: &[S]) -> Result<Self> {
        let seeds = seeds
            .iter()
            .map(|s| canon::parse_seed(s.as_ref()))
            .collect::<Result<Vec<_>>>()?;
        Ok(CrawlConfig {
            db: db.into(),
            seeds,
            concurrency: DEFAULT_CONCURRENCY,
            per_host_concurrency: DEFAULT_PER_HOST_CONCURRENCY,
            rate: DEFAULT_RATE,
            scope: ScopeKind::Host,
            include: Vec::new(),
            exclude: Vec::new(),
            max_depth: None,
            max_pages: None,
            max_body: DEFAULT_MAX_BODY,
            max_url_length: DEFAULT_MAX_URL_LENGTH,
            user_agent: default_user_agent(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
            ignore_robots: false,
            max_crawl_delay: DEFAULT_MAX_CRAWL_DELAY,
            max_retry_after: DEFAULT_MAX_RETRY_AFTER,
            retries: DEFAULT_RETRIES,
            robots_give_up: DEFAULT_ROBOTS_GIVE_UP,
            sitemaps: false,
            read_timeout: DEFAULT_READ_TIMEOUT,
            accept_types: Vec::new(),
            max_redirects: DEFAULT_MAX_REDIRECTS,
            grace: DEFAULT_GRACE,
        })
    }

    /// Applies the settings given on a command line; returns the changes, as flags, so a
    /// resumed crawl can record what was overridden.
    pub fn apply(&mut self, o: &Overrides) -> Vec<String> {
        let mut changed = Vec::new();
        override_fields!(self, o, changed;
            concurrency: "concurrency",
            per_host_concurrency: "per-host-concurrency",
            rate: "rate",
            scope: "scope",
            max_depth => Some: "max-depth",
            max_pages => Some: "max-pages",
            max_body: "max-body",
            max_url_length: "max-url-length",
            user_agent: "user-agent",
            connect_timeout: "connect-timeout",
            timeout: "timeout",
            read_timeout: "read-timeout",
            max_redirects: "max-redirects",
            retries: "retries",
            max_retry_after: "max-retry-after",
            max_crawl_delay: "max-crawl-delay",
            robots_give_up: "robots-give-up",
            sitemaps: "sitemaps",
            ignore_robots: "ignore-robots",
            grace: "grace",
        );
        override_lists!(self, o, changed;
            include: "include",
            exclude: "exclude",
            accept_types: "accept-type",
        );
        changed
    }

    /// Rejects settings that cannot work, with the flag to fix named in the message.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::Config(m.to_string()));
        if self.concurrency == 0 {
            return bad("--concurrency must be at least 1");
        }
        if self.per_host_concurrency == 0 {
            return bad("--per-host-concurrency must be at least 1");
        }
        if !(self.rate.is_finite() && self.rate >= 0.0) {
            return bad("--rate must be a number of requests per second, 0 for unlimited");
        }
        if self.rate > 0.0 && self.rate < 1.0 / 86_400.0 {
            return bad("--rate below one request a day is not useful; use a larger value");
        }
        if self.max_url_length < 16 {
            return bad("--max-url-length must be at least 16");
        }
        if self.product_token().is_empty() {
            return bad("--user-agent must start with a product token, e.g. mybot/1.0");
        }
        if self.timeout.is_zero() || self.connect_timeout.is_zero() || self.read_timeout.is_zero() {
            return bad("--timeout, --connect-timeout and --read-timeout must be above zero");
        }
        for re in self.include.iter().chain(&self.exclude) {
            if let Err(e) = regex::Regex::new(re) {
                return Err(Error::Config(format!(
                    "bad --include/--exclude regex {re:?}: {e}"
                )));
            }
        }
        Ok(())
    }

    /// The robots.txt product token: the User-Agent up to its first `/` or space
    /// (`politecrawl/0.1 (+url)` → `politecrawl`), which is what robots.txt groups name.
    pub fn product_token(&self) -> &str {
        let ua = self.user_agent.trim();
        let end = ua
            .find(|c: char| c == '/' || c.is_whitespace())
            .unwrap_or(ua.len());
        &ua[..end]
    }

    /// The URLs this crawl follows: the seeds' hosts (and those of `earlier_seeds`, from
    /// earlier runs of the same database) under `--scope`, `--include` and `--exclude`.
    pub fn scope(&self, earlier_seeds: &[Url]) -> Result<Scope> {
        let seeds = self.seeds.iter().chain(earlier_seeds);
        Scope::new(
            self.scope,
            seeds,
            &self.include,
            &self.exclude,
            self.max_url_length,
        )
    }

    /// Time between two request starts to one origin, or `None` when unlimited.
    pub fn request_interval(&self) -> Option<Duration> {
        (self.rate > 0.0).then(|| Duration::from_secs_f64(1.0 / self.rate))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_token_is_the_first_word_of_the_user_agent() {
        let mut c = CrawlConfig::new("db", &["http://a.test/"]).unwrap();
        assert_eq!(c.product_token(), "politecrawl");
        c.user_agent = "MyBot (+http://x)".into();
        assert_eq!(c.product_token(), "MyBot");
    }

    #[test]
    fn overrides_change_only_what_is_given_and_say_so() {
        let mut c = CrawlConfig::new("db", &["http://a.test/"]).unwrap();
        c.rate = 5.0;
        c.exclude = vec!["x".into()];
        let o = Overrides {
            rate: Some(5.0),
            max_pages: Some(10),
            include: vec!["/docs/".into()],
            ..Overrides::default()
        };
        let changed = c.apply(&o);
        assert_eq!(changed, ["--max-pages=Some(10)", "--include=[\"/docs/\"]"]);
        assert_eq!((c.rate, c.max_pages), (5.0, Some(10)));
        assert_eq!(c.exclude, ["x"], "not given: kept");
    }

    #[test]
    fn validation_names_the_flag() {
        let mut c = CrawlConfig::new("db", &["http://a.test/"]).unwrap();
        c.concurrency = 0;
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("--concurrency"));
        c.concurrency = 1;
        c.exclude.push("(".into());
        assert!(c.validate().unwrap_err().to_string().contains("regex"));
    }
}
