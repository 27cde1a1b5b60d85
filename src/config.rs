//! Validated crawl settings with every default in one place: the `crawl_settings!` table declares
//! each setting once (doc, flag, saved field, default, override). The library never parses a
//! command line: the binary flattens [`Overrides`] into its clap types, tests build a
//! [`CrawlConfig`] directly, and after it is built nothing looks at flags again.

pub(crate) mod dns;
pub(crate) mod proxy;
pub(crate) mod refresh;
pub(crate) mod request;
pub(crate) mod tls;

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::canon::{self, Scope, ScopeKind};
use crate::error::{Error, Result};
use refresh::Refresh;
use request::{Credentials, Headers};

/// Default number of fetches in flight across all hosts.
pub const DEFAULT_CONCURRENCY: usize = 16;
/// Default number of fetches in flight to one origin.
pub const DEFAULT_PER_HOST_CONCURRENCY: usize = 2;
/// Default requests per second to one origin: one, the customary polite rate.
pub const DEFAULT_RATE: f64 = 1.0;
/// Default cap on a stored body; the rest of the body is read no further.
pub const DEFAULT_MAX_BODY: u64 = 10 * 1024 * 1024;
/// Default cap on the URLs taken from one response: the 50,000 a sitemap may hold
/// (sitemaps.org), and far more links than any real page has.
pub const DEFAULT_MAX_LINKS: usize = 50_000;
/// Default longest URL queued; longer ones are almost always traps or junk.
pub const DEFAULT_MAX_URL_LENGTH: usize = 2048;
/// `--min-free-disk`: room for a few flushes of bodies and sled's log after the stop.
pub const DEFAULT_MIN_FREE_DISK: u64 = 256 * 1024 * 1024;
/// `--max-path-segments`: Heritrix's `TooManyPathSegmentsDecideRule` default.
pub const DEFAULT_MAX_PATH_SEGMENTS: usize = 20;
/// `--max-query-params`: more than a faceted page's filters, sort and page together.
pub const DEFAULT_MAX_QUERY_PARAMS: usize = 10;
/// `--pattern-budget`: pages of a query or date shape in a row that led nowhere before it is
/// closed. 5 closes the trap site's calendars and facets after a few requests (BENCHMARKS 7);
/// a real listing leads to its items and stays open.
pub const DEFAULT_PATTERN_BUDGET: u32 = 5;
/// `--path-pattern-budget`: the same for shapes that differ only in path numbers; 0, off, by
/// default: on the bundled fixture site 10 cuts a 20-page chain (each page links only the
/// next), and a site whose pages are all of one shape (`/n/N`) loses its last pages.
pub const DEFAULT_PATH_PATTERN_BUDGET: u32 = 0;
/// Default time allowed to open a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time allowed for a whole request, body included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Default time a body may stall (or trickle under 1 KiB) before it is cut off.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default size at which `--warc` starts its next file.
pub const DEFAULT_WARC_MAX_SIZE: u64 = 1_000_000_000;
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
/// Default age of a page's latest check before `--recrawl` checks it again.
pub const DEFAULT_OLDER_THAN: Duration = Duration::from_secs(7 * 86_400);
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

/// Declares the crawl settings once. Each entry gives the setting's doc (also its `--help`
/// text), its clap `#[arg]`, its field and type in [`CrawlConfig`], its default, and its type
/// in [`Overrides`] (`Option<T>`, or a list). From that one entry come the saved field, the
/// flag, the default and the override: adding a setting is adding an entry (and its row in
/// docs/GUIDE.md, which a test checks).
macro_rules! crawl_settings {
    ($(
        $(#[doc = $doc:expr])*
        #[arg($($arg:tt)*)]
        $field:ident: $ty:ty = $default:expr, given $given:ty;
    )*) => {
        /// Everything a crawl needs to know, checked once. Saved in the database as JSON; fields
        /// missing from an older save take their defaults.
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        #[serde(default)]
        pub struct CrawlConfig {
            /// Where the crawl lives on disk (a sled directory).
            pub db: PathBuf,
            /// Start URLs, normalized. May be empty when the database already has queued work.
            pub seeds: Vec<Url>,
            /// HTTP Basic logins by origin: never saved with the settings (see
            /// [`Credentials`]).
            #[serde(skip)]
            pub credentials: Credentials,
            /// The clock the crawl decides by: the system's, or in tests a manual one (see
            /// [`Clock`](crate::runtime::Clock)). Never saved, and no flag sets it.
            #[serde(skip)]
            pub clock: crate::runtime::Clock,
            /// `crawl --retry-failed [--kind ...]`: this run requests the URLs stored as failed
            /// again (of these kinds; all when empty). One run's choice: never saved.
            #[serde(skip)]
            pub retry_failed: Option<Vec<crate::failure::ErrorKind>>,
            $($(#[doc = $doc])* pub $field: $ty,)*
        }

        /// Settings given explicitly on a command line (the `crawl` flags). `None` (or an empty
        /// list) keeps the value the crawl already has: its saved value when resuming, the
        /// default when new.
        #[derive(Clone, Debug, Default, clap::Args)]
        pub struct Overrides {
            $($(#[doc = $doc])* #[arg($($arg)*)] pub $field: $given,)*
        }

        impl CrawlConfig {
            /// A configuration with every default, for `seeds` into `db`. Seeds are checked
            /// here so a typo fails before the database is touched.
            /// A seed's userinfo (`https://user:pass@host/`) becomes its origin's login.
            pub fn new<S: AsRef<str>>(db: impl Into<PathBuf>, seeds: &[S]) -> Result<Self> {
                let mut credentials = Credentials::default();
                let seeds = seeds
                    .iter()
                    .map(|s| {
                        if let Some(login) = Url::parse(s.as_ref().trim())
                            .ok()
                            .and_then(|u| Credentials::from_userinfo(&u))
                        {
                            let url = canon::parse_seed(s.as_ref())?;
                            credentials.set(&url, login);
                        }
                        canon::parse_seed(s.as_ref())
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok(CrawlConfig {
                    db: db.into(),
                    seeds,
                    credentials,
                    clock: crate::runtime::Clock::system(),
                    retry_failed: None,
                    $($field: $default,)*
                })
            }

            /// Every setting as its flag would set it: the flag's long name, its values as
            /// typed, and its kind (a setting left unset, or an empty list, is left out).
            pub fn as_flags(&self) -> Vec<(String, Vec<String>, FlagKind)> {
                let mut out = Vec::new();
                $(
                    let values = Flag::values(&self.$field);
                    if !values.is_empty() {
                        out.push((long_name(stringify!($field)), values, Flag::kind(&self.$field)));
                    }
                )*
                out
            }

            /// Applies the settings given on a command line; returns the changes as flags
            /// (`--max-pages=10`), so a resumed crawl can record what was overridden.
            pub fn apply(&mut self, o: &Overrides) -> Vec<String> {
                let mut changed = Vec::new();
                $(
                    if let Some(shown) = Merge::merge(&mut self.$field, &o.$field) {
                        changed.push(flag_text(stringify!($field), shown));
                    }
                )*
                changed
            }
        }
    };
}

crawl_settings! {
    /// Fetches in flight across all hosts [default: 16]
    #[arg(long, value_name = "N")]
    concurrency: usize = DEFAULT_CONCURRENCY, given Option<usize>;
    /// Fetches in flight to one host (scheme, host and port) [default: 2]
    #[arg(long, value_name = "K")]
    per_host_concurrency: usize = DEFAULT_PER_HOST_CONCURRENCY, given Option<usize>;
    /// Request starts per second to one host; 0 = unlimited (only for servers you own) [default: 1]
    #[arg(long, value_name = "R")]
    rate: f64 = DEFAULT_RATE, given Option<f64>;
    /// Which discovered URLs are followed [default: host]
    #[arg(long, value_enum)]
    scope: ScopeKind = ScopeKind::Host, given Option<ScopeKind>;
    /// Only queue URLs matching this regex (full URL; repeatable: any may match)
    #[arg(long, value_name = "REGEX")]
    include: Vec<String> = Vec::new(), given Vec<String>;
    /// Never queue URLs matching this regex (full URL; repeatable)
    #[arg(long, value_name = "REGEX")]
    exclude: Vec<String> = Vec::new(), given Vec<String>;
    /// Do not follow links further than N hops from a seed (seeds are depth 0)
    #[arg(long, value_name = "N")]
    max_depth: Option<u32> = None, given Option<u32>;
    /// Stop this run cleanly after this long (requests in flight finish within --grace); the
    /// rest stays queued for the next run [default: no limit]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    max_time: Option<Duration> = None, given Option<Duration>;
    /// Stop cleanly once the bodies stored in this database reach this size (`500MB`, `2GiB`),
    /// across runs; requests in flight finish, so it may pass by up to --concurrency bodies
    /// [default: no limit]
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_bytes: Option<u64> = None, given Option<u64>;
    /// Stop cleanly (resumable) when the database's disk has less free space than this; 0 = no
    /// check [default: 256MiB]
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    min_free_disk: u64 = DEFAULT_MIN_FREE_DISK, given Option<u64>;
    /// Stop once N URL outcomes (done + failed) are stored in this database, across runs
    #[arg(long, value_name = "N")]
    max_pages: Option<u64> = None, given Option<u64>;
    /// Request at most N pages of one host (scheme, host and port), counting its stored outcomes
    /// across runs; its other URLs stay queued (a later run with a larger N continues)
    #[arg(long, value_name = "N")]
    max_pages_per_host: Option<u64> = None, given Option<u64>;
    /// Body bytes stored per page; longer bodies are cut and marked truncated [default: 10MiB]
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_body: u64 = DEFAULT_MAX_BODY, given Option<u64>;
    /// URLs taken from one response: an HTML page's links (Link headers included) or a
    /// sitemap's entries; the rest are dropped and counted in the record's links_dropped, so
    /// memory stays bounded whatever one server sends [default: 50000]
    #[arg(long, value_name = "N")]
    max_links: usize = DEFAULT_MAX_LINKS, given Option<usize>;
    /// Longer discovered URLs are dropped [default: 2048]
    #[arg(long, value_name = "N")]
    max_url_length: usize = DEFAULT_MAX_URL_LENGTH, given Option<usize>;
    /// Discovered URLs with more path segments are not queued (a trap rule, counted) [default: 20]
    #[arg(long, value_name = "N")]
    max_path_segments: usize = DEFAULT_MAX_PATH_SEGMENTS, given Option<usize>;
    /// Discovered URLs with more query parameters are not queued (a trap rule, counted)
    /// [default: 10]
    #[arg(long, value_name = "N")]
    max_query_params: usize = DEFAULT_MAX_QUERY_PARAMS, given Option<usize>;
    /// A page whose body is byte for byte that of a page of the same origin stored before in
    /// this crawl is recorded as its duplicate (duplicate_of) and its links are not followed (a trap rule,
    /// counted); `--duplicate-content=false` turns it off [default: true]
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    duplicate_content: bool = true, given Option<bool>;
    /// A page whose `<link rel=canonical>` names a URL differing from its own only in the
    /// query (a sort order, a filter, a session) is recorded as a copy of that URL
    /// (duplicate_of), its links not followed, the canonical URL queued (a trap rule,
    /// counted); `--canonical=false` turns it off [default: true]
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    canonical: bool = true, given Option<bool>;
    /// When a page's title names its own path (as generated error pages do), ask its directory
    /// (the origin's root or a top-level one) for a path that cannot exist; its pages that
    /// answer like a 2xx probe are recorded as soft 404s and their links are not followed (a
    /// trap rule, counted);
    /// `--soft-404=false` turns it off [default: true]
    #[arg(long = "soft-404", value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    soft_404: bool = true, given Option<bool>;
    /// A URL shape with a query or a date in its path (origin and path, digits left out, and
    /// whether it has a query) whose last N fetched pages led to nothing new of another shape
    /// is closed: its own pages' links of that shape are no longer queued (a trap rule,
    /// counted); 0 turns it off [default: 5]
    #[arg(long, value_name = "N")]
    pattern_budget: u32 = DEFAULT_PATTERN_BUDGET, given Option<u32>;
    /// The same rule for shapes that differ only in numbers in the path (`/chain/05.html`).
    /// Off by default: it also cuts a chain of pages each linking only the next, and sites of
    /// one shape [default: 0, off]
    #[arg(long, value_name = "N")]
    path_pattern_budget: u32 = DEFAULT_PATH_PATTERN_BUDGET, given Option<u32>;
    /// Query parameters left out of the seen-set's key, so a URL differing only in them is not
    /// fetched again (repeatable; NAME drops any value, NAME=VALUE that value only; a given
    /// list replaces the defaults, `--dedupe-drop=` drops none)
    /// [default: print, printable, share, replytocom, format=print, output=print, view=print]
    #[arg(long, value_name = "PARAM")]
    dedupe_drop: Vec<String> = crate::traps::default_dedupe_drop(), given Vec<String>;
    /// User-Agent header; its first word is the robots.txt product token
    /// [default: politecrawl/VERSION (+project URL)]
    #[arg(long, value_name = "UA", value_parser = parse_user_agent)]
    user_agent: String = default_user_agent(), given Option<String>;
    /// Time allowed to connect [default: 10s]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    connect_timeout: Duration = DEFAULT_CONNECT_TIMEOUT, given Option<Duration>;
    /// Time allowed for a whole request, body included [default: 30s]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    timeout: Duration = DEFAULT_TIMEOUT, given Option<Duration>;
    /// A response not begun --connect-timeout + this after the request started, a body read
    /// waiting this long, or a body bringing under 1 KiB per this long, is cut off [default: 10s]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    read_timeout: Duration = DEFAULT_READ_TIMEOUT, given Option<Duration>;
    /// Download and store bodies only of these types (repeatable, `image/*` allowed); HTML is
    /// always read for its links [default: all types]
    #[arg(long = "accept-type", value_name = "MIME")]
    accept_types: Vec<String> = Vec::new(), given Vec<String>;
    /// Redirect hops followed in a row before too_many_redirects [default: 10]
    #[arg(long, value_name = "N")]
    max_redirects: usize = DEFAULT_MAX_REDIRECTS, given Option<usize>;
    /// Re-tries after a transient failure: 429/503 after the host's pause; other 5xx, 408,
    /// timeouts, connection errors and resets after a jittered back-off [default: 3]
    #[arg(long, value_name = "N")]
    retries: u32 = DEFAULT_RETRIES, given Option<u32>;
    /// Longest Retry-After pause honored after a 429 or 503 [default: 10m]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    max_retry_after: Duration = DEFAULT_MAX_RETRY_AFTER, given Option<Duration>;
    /// Longest robots.txt Crawl-delay honored (a longer one is recorded and capped) [default: 30s]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    max_crawl_delay: Duration = DEFAULT_MAX_CRAWL_DELAY, given Option<Duration>;
    /// How long a host's robots.txt may stay unreachable (5xx, 429, network errors) before that
    /// host's URLs are recorded as failed; until then none is fetched [default: 10m]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    robots_give_up: Duration = DEFAULT_ROBOTS_GIVE_UP, given Option<Duration>;
    /// Also fetch what pages need to display offline (images and srcset, scripts, stylesheets,
    /// icons, video posters), for a mirror export that works without the network;
    /// `--requisites=false` turns it off on a resume
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    requisites: bool = false, given Option<bool>;
    /// Also read the sitemaps robots.txt names (indexes and .xml.gz too) and queue their
    /// in-scope URLs; `--sitemaps=false` turns it off on a resume
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    sitemaps: bool = false, given Option<bool>;
    /// IMPOLITE: do not fetch or obey robots.txt. Only for sites you own or may crawl regardless;
    /// `--ignore-robots=false` turns it off on a resume
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    ignore_robots: bool = false, given Option<bool>;
    /// Send this header with every request, 'Name: value' (repeatable); not Host, User-Agent
    /// (--user-agent), Authorization (--user/--password) or Accept-Encoding. The value of a
    /// Cookie, Proxy-Authorization or *key*, *token*, *secret*, *auth* or *session* header is kept
    /// in DIR/credentials and shown as `<redacted>`
    #[arg(long = "header", value_name = "HEADER")]
    headers: Headers = Headers::default(), given Vec<String>;
    /// Neither keep nor send cookies (by default what servers set is sent back, RFC 6265);
    /// `--no-cookies=false` turns it off on a resume
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    no_cookies: bool = false, given Option<bool>;
    /// Also fetch hosts at loopback, private, link-local (cloud metadata), CGNAT, unique-local
    /// and other non-public addresses; without it only the kinds of address the seeds
    /// themselves are at may be reached; `--allow-private=false` turns it off on a resume
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    allow_private: bool = false, given Option<bool>;
    /// Send requests through this proxy: http://, https://, socks5:// or socks5h:// (the proxy
    /// resolves names), socks4://; a login in it is kept apart, never in the saved settings
    /// [default: curl's http_proxy, https_proxy, ALL_PROXY and NO_PROXY variables]
    #[arg(long, value_name = "URL")]
    proxy: Option<String> = None, given Option<String>;
    /// Use no proxy, whatever the environment says; `--no-proxy=false` turns it off on a resume
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    no_proxy: bool = false, given Option<bool>;
    /// Also trust the CA certificates in this PEM file, on top of the system's (repeatable)
    #[arg(long = "ca-cert", value_name = "FILE", value_parser = absolute_path)]
    ca_certs: Vec<String> = Vec::new(), given Vec<String>;
    /// DANGEROUS: do not check server certificates at all (any server can pose as any site);
    /// said at start and recorded in the settings and the WARC warcinfo; `--insecure=false` turns
    /// it off on a resume
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    insecure: bool = false, given Option<bool>;
    /// Client certificate (PEM) sent to servers that ask for one; its key in it or in --client-key
    #[arg(long, value_name = "FILE", value_parser = absolute_path)]
    client_cert: Option<String> = None, given Option<String>;
    /// The private key (PEM, unencrypted) of --client-cert, when it is in its own file
    #[arg(long, value_name = "FILE", value_parser = absolute_path)]
    client_key: Option<String> = None, given Option<String>;
    /// Write WARC files while crawling: PREFIX-00000.warc.gz, ... (a file is PREFIX-N.warc.gz.open
    /// until complete); every stored page with a response exactly once across them (with
    /// --frontier, each worker writes PREFIX-ID-00000.warc.gz, ..., ID its worker id)
    #[arg(long, value_name = "PREFIX", value_parser = absolute_path)]
    warc: Option<String> = None, given Option<String>;
    /// Start the next --warc file once one reaches this size [default: 1GB]
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    warc_max_size: u64 = DEFAULT_WARC_MAX_SIZE, given Option<u64>;
    /// Recheck stored pages whose latest check is older than --older-than, with conditional
    /// requests (ETag, Last-Modified); changed pages are stored as new versions beside the old
    /// and their links followed again; `--recrawl=false` turns it off on a resume
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    recrawl: bool = false, given Option<bool>;
    /// With --recrawl: how old a page's latest check must be to check it again [default: 7d]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    older_than: Duration = DEFAULT_OLDER_THAN, given Option<Duration>;
    /// With --recrawl: fixed (each page every --older-than) or adaptive (sooner after a change,
    /// later when unchanged, within --older-than / 10 and x 10) [default: fixed]
    #[arg(long, value_enum)]
    refresh: Refresh = Refresh::Fixed, given Option<Refresh>;
    /// After Ctrl-C or SIGTERM, how long requests in flight may take to finish [default: 10s]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    grace: Duration = DEFAULT_GRACE, given Option<Duration>;
    /// Send requests from this local IP address (a machine with several; a worker of a shared
    /// crawl may give its own with `worker --bind-address`) [default: the system's choice]
    #[arg(long, value_name = "IP")]
    bind_address: Option<String> = None, given Option<String>;
    /// Resolve host names with this name server, IP or IP:PORT, instead of the system's
    /// (/etc/resolv.conf); either way each host is looked up once while it has work [default: the system's]
    #[arg(long, value_name = "IP[:PORT]")]
    dns_server: Option<String> = None, given Option<String>;
}

/// How a given flag changes a saved setting: its value(s) when they differ, shown as a user
/// would type them (`10`, `30s`, `host`), or `None` when it changes nothing.
trait Merge<Given> {
    fn merge(&mut self, given: &Given) -> Option<Vec<String>>;
}

/// A plain setting: a given value replaces the saved one.
impl<T: Clone + PartialEq + Shown> Merge<Option<T>> for T {
    fn merge(&mut self, given: &Option<T>) -> Option<Vec<String>> {
        replace(self, given.clone(), given)
    }
}

/// An optional setting (`--max-depth`): a given value sets it.
impl<T: Clone + PartialEq + Shown> Merge<Option<T>> for Option<T> {
    fn merge(&mut self, given: &Option<T>) -> Option<Vec<String>> {
        replace(self, given.clone().map(Some), given)
    }
}

/// Puts `new` in `slot` when given and different; returns what was given, shown.
fn replace<S: PartialEq, T: Shown>(
    slot: &mut S,
    new: Option<S>,
    given: &Option<T>,
) -> Option<Vec<String>> {
    let new = new.filter(|v| v != slot)?;
    *slot = new;
    given.as_ref().map(|v| vec![v.shown()])
}

/// A list setting (`--include`, repeatable): a non-empty given list replaces the saved one.
impl Merge<Vec<String>> for Vec<String> {
    fn merge(&mut self, given: &Vec<String>) -> Option<Vec<String>> {
        if given.is_empty() || given == self {
            return None;
        }
        *self = given.clone();
        Some(given.clone())
    }
}

/// `--header`: a non-empty given list replaces the saved one; shown with credential values
/// `<redacted>`, as the change is recorded in the database.
impl Merge<Vec<String>> for Headers {
    fn merge(&mut self, given: &Vec<String>) -> Option<Vec<String>> {
        if given.is_empty() || given[..] == self[..] {
            return None;
        }
        *self = Headers::from(given.clone());
        Some(self.redacted())
    }
}

/// A setting's value as it would be typed on the command line.
trait Shown {
    /// What its flag takes: one value, or a switch (`bool`).
    const KIND: FlagKind = FlagKind::One;
    fn shown(&self) -> String;
}

macro_rules! shown_by_display {
    ($($t:ty),*) => {$(impl Shown for $t {
        fn shown(&self) -> String {
            self.to_string()
        }
    })*};
}
shown_by_display!(usize, u32, u64, f64, String);

impl Shown for bool {
    const KIND: FlagKind = FlagKind::Bool;
    fn shown(&self) -> String {
        self.to_string()
    }
}

impl Shown for Duration {
    fn shown(&self) -> String {
        humantime::format_duration(*self)
            .to_string()
            .replace(' ', "")
    }
}

/// Enums are shown by their serde names, which are their clap values too.
macro_rules! shown_by_serde {
    ($($t:ty),*) => {$(impl Shown for $t {
        fn shown(&self) -> String {
            serde_json::to_value(self)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        }
    })*};
}
shown_by_serde!(Refresh, ScopeKind);

/// What a flag takes: a switch, one value, or a list (repeated).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlagKind {
    /// `--sitemaps` / `--sitemaps=false`.
    Bool,
    /// One value.
    One,
    /// Repeatable.
    List,
}

/// A setting's values as typed, and its kind.
trait Flag {
    fn values(&self) -> Vec<String>;
    fn kind(&self) -> FlagKind;
}

impl<T: Shown> Flag for T {
    fn values(&self) -> Vec<String> {
        vec![self.shown()]
    }
    fn kind(&self) -> FlagKind {
        T::KIND
    }
}

impl<T: Shown> Flag for Option<T> {
    fn values(&self) -> Vec<String> {
        self.iter().map(Shown::shown).collect()
    }
    fn kind(&self) -> FlagKind {
        FlagKind::One
    }
}

impl Flag for Vec<String> {
    fn values(&self) -> Vec<String> {
        self.clone()
    }
    fn kind(&self) -> FlagKind {
        FlagKind::List
    }
}

impl Flag for Headers {
    fn values(&self) -> Vec<String> {
        self.redacted()
    }
    fn kind(&self) -> FlagKind {
        FlagKind::List
    }
}

/// The long flag of the setting `field`, as clap knows it (`accept_types` is `--accept-type`).
fn long_name(field: &str) -> String {
    let cmd = <Overrides as clap::Args>::augment_args(clap::Command::new("crawl"));
    let long = cmd
        .get_arguments()
        .find(|a| a.get_id() == field)
        .and_then(|a| a.get_long())
        .map_or_else(|| field.replace('_', "-"), str::to_string);
    long
}

/// `--flag=value` for each value of the setting `field`.
fn flag_text(field: &str, values: Vec<String>) -> String {
    let long = long_name(field);
    values
        .iter()
        .map(|v| format!("--{long}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A path as given, made absolute against the current directory, so a resume started
/// elsewhere finds the same file.
pub fn absolute_path(s: &str) -> Result<String, String> {
    std::path::absolute(s)
        .map(|p| p.to_string_lossy().into_owned())
        .map_err(|e| format!("{s:?}: {e}"))
}

/// Checks a `--user-agent` as typed: a header value cannot hold CR, LF or another control
/// character (a request carrying one is refused by the client, or splits into two headers), so
/// it is refused with the arguments, before any database is made.
pub fn parse_user_agent(s: &str) -> Result<String, String> {
    match s.chars().find(|c| c.is_control() && *c != '\t') {
        Some(c) => Err(format!(
            "{c:?} is not allowed in a User-Agent (no line breaks or control characters)"
        )),
        None => Ok(s.to_string()),
    }
}

/// Parses a size as typed: `10MiB`, `500KB` or a number of bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    s.trim()
        .parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|e| format!("{e} (try 10MiB, 500KB or a number of bytes)"))
}

/// Parses a duration as typed: `30s`, `1500ms`, `2m`, or a number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .or_else(|_| s.trim().parse::<f64>().map(Duration::from_secs_f64))
        .map_err(|_| format!("{s:?} is not a duration (try 30s, 1500ms or 2m)"))
}

impl Default for CrawlConfig {
    fn default() -> Self {
        CrawlConfig::new(PathBuf::new(), &[] as &[&str]).unwrap_or_else(|_| unreachable!())
    }
}

impl CrawlConfig {
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
        if self.max_links == 0 {
            return bad("--max-links must be at least 1");
        }
        if self.max_url_length < 16 {
            return bad("--max-url-length must be at least 16");
        }
        parse_user_agent(&self.user_agent)
            .map_err(|e| Error::Config(format!("--user-agent: {e}")))?;
        if self.product_token().is_empty() {
            return bad("--user-agent must start with a product token, e.g. mybot/1.0");
        }
        if self.timeout.is_zero() || self.connect_timeout.is_zero() || self.read_timeout.is_zero() {
            return bad("--timeout, --connect-timeout and --read-timeout must be above zero");
        }
        tls::check_files(&self.ca_certs, &self.client_cert, &self.client_key)?;
        if let Some(p) = &self.proxy {
            if self.no_proxy {
                return bad("--proxy and --no-proxy contradict each other: give one");
            }
            proxy::parse(p)?;
        }
        for h in self.headers.iter() {
            request::parse_header(h).map_err(Error::Config)?;
        }
        if let Some(name) = self.headers.unfilled() {
            return Err(Error::Config(format!(
                "--header {name}: its value is kept in the crawl's credentials file, which does \
                 not hold it (settings from another crawl, or the file deleted): give --header \
                 '{name}: VALUE' again"
            )));
        }
        if let Some(server) = &self.dns_server {
            dns::parse_server(server).map_err(Error::Config)?;
        }
        if let Some(ip) = &self.bind_address {
            if ip.parse::<std::net::IpAddr>().is_err() {
                return bad("--bind-address takes a local IP address, e.g. 192.0.2.7 or ::1");
            }
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
        let rules = crate::traps::PathRules::new(self.max_path_segments, self.max_query_params);
        Scope::new(
            self.scope,
            seeds,
            &self.include,
            &self.exclude,
            self.max_url_length,
        )
        .map(|scope| scope.with_path_rules(rules))
    }

    /// Time between two request starts to one origin, or `None` when unlimited.
    pub fn request_interval(&self) -> Option<Duration> {
        (self.rate > 0.0).then(|| Duration::from_secs_f64(1.0 / self.rate))
    }
}

/// Appends the seeds of `more` not already in `seeds`, keeping order.
pub(crate) fn add_new_seeds(seeds: &mut Vec<Url>, more: Vec<Url>) {
    for s in more {
        if !seeds.contains(&s) {
            seeds.push(s);
        }
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
        assert_eq!(changed, ["--include=/docs/", "--max-pages=10"]);
        assert_eq!((c.rate, c.max_pages), (5.0, Some(10)));
        assert_eq!(c.exclude, ["x"], "not given: kept");
        // Shown as typed: durations, enums and renamed or repeated flags too.
        let o = Overrides {
            timeout: Some(Duration::from_secs(90)),
            scope: Some(ScopeKind::Any),
            accept_types: vec!["image/*".into(), "text/html".into()],
            ..Overrides::default()
        };
        assert_eq!(
            c.apply(&o),
            [
                "--scope=any",
                "--timeout=1m30s",
                "--accept-type=image/* --accept-type=text/html"
            ]
        );
    }

    #[test]
    fn credential_headers_are_redacted_in_every_form_settings_take() {
        let mut c = CrawlConfig::new("db", &["http://a.test/"]).unwrap();
        let o = Overrides {
            headers: vec!["X-Team: crawl".into(), "X-Api-Key: S2cret".into()],
            ..Overrides::default()
        };
        let changed = c.apply(&o).join(" ");
        let json = serde_json::to_string(&c).unwrap();
        let flags = crate::config_file::render(&c);
        for shown in [&changed, &json, &format!("{c:?}"), &flags] {
            assert!(!shown.contains("S2cret"), "{shown}");
            assert!(shown.contains("X-Api-Key: <redacted>"), "{shown}");
            assert!(shown.contains("X-Team: crawl"), "{shown}");
        }
        c.validate().unwrap();
        // Read back from the settings, the value must come from the credentials file.
        let mut back: CrawlConfig = serde_json::from_str(&json).unwrap();
        let e = back.validate().unwrap_err().to_string();
        assert!(e.contains("give --header 'x-api-key: VALUE' again"), "{e}");
        back.headers.fill(&c.headers.secrets());
        back.validate().unwrap();
        assert_eq!(back.headers, c.headers);
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
