//! Command-line types (clap derive) and nothing else: handlers live in `main.rs`, the work in
//! the library.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use politecrawl::config::{parse_duration, parse_size, Overrides};

/// A polite, concurrent, resumable web crawler.
#[derive(Debug, Parser)]
#[command(name = "politecrawl", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Crawl from seed URLs into a database directory (continues a crawl already in it)
    #[command(
        after_help = "Politeness: robots.txt is fetched first from every host and obeyed \
        (5xx/429/unreachable robots.txt = nothing fetched from that host until it answers); at most \
        --rate request starts per second and --per-host-concurrency requests at once per host; \
        Crawl-delay, Retry-After and back-off only ever lengthen the gap.\n\nExamples:\n  \
        politecrawl crawl https://example.com/ --db example.db\n  \
        politecrawl crawl https://example.com/docs/ --db docs.db --include '/docs/' --max-depth 3\n  \
        politecrawl crawl http://127.0.0.1:8000/ --db bench.db --rate 0 --concurrency 64"
    )]
    Crawl(Box<CrawlArgs>),
    /// Join a crawl shared over PostgreSQL (started by `crawl --frontier`) as one more worker
    #[command(
        after_help = "The worker takes the crawl's saved settings, a fair share of its \
        shards, and works until nothing is left in the whole crawl; Ctrl-C gives its shards back \
        at once.\n\nExample:\n  politecrawl worker --frontier postgres://crawler@db.lan/crawls \
        --crawl docs --db w2.db"
    )]
    Worker(WorkerArgs),
    /// Show where a crawl stands: counts by state, HTTP status, host and error kind
    #[command(after_help = "Examples:\n  politecrawl status --db example.db\n  \
        politecrawl status --db example.db --json | jq .by_status\n  \
        politecrawl status --frontier postgres://crawler@db.lan/crawls --crawl docs --json | jq .shared.workers")]
    Status(StatusArgs),
    /// Say what happened to one URL and why: its record, the dedupe key, the scope, filter or
    /// trap rule that refuses it, and the robots.txt rule that applies
    #[command(
        after_help = "Examples:\n  politecrawl explain https://example.com/private/x --db example.db\n  \
        politecrawl explain 'https://example.com/p?sid=0123456789abcdef0123' --db example.db --json"
    )]
    Explain(ExplainArgs),
    /// Write the stored pages as a dump: JSON Lines, CSV or WARC
    #[command(
        after_help = "Examples:\n  politecrawl export --db example.db --format jsonl --out pages.jsonl\n  \
        politecrawl export --db example.db --format warc --out example.warc.gz --max-file-size 1GB\n  \
        politecrawl export --db example.db --format csv --state failed --out failures.csv\n  \
        politecrawl export --db example.db --format mirror --out site/ && xdg-open site/example.com/index.html\n  \
        politecrawl export --db example.db | jq -r 'select(.status == 404) | .url'"
    )]
    Export(ExportArgs),
    /// Remove damaged queue chunks and rebuild the seen-set from the queue, retries and pages
    #[command(
        after_help = "Run it when a command reports a damaged seen-set file or queue chunk. Every \
        URL ever queued is queued, waiting for a retry, or stored, so the rebuilt set loses none. \
        A damaged queue chunk's URLs (at most ~100 of one origin at one depth) are lost from the \
        queue and the set, so a link found later queues them again; stderr names the origin. \
        Nothing else in the database is changed.\n\nExample:\n  politecrawl repair --db \
        example.db && politecrawl crawl --db example.db"
    )]
    Repair(DbArgs),
    /// Reclaim the space of page bodies nothing refers to (retried or interrupted fetches)
    #[command(
        after_help = "Copies every stored body to new segment files and deletes the old ones; \
        needs room for the live bodies while it runs. A crash or Ctrl-C leaves every page \
        readable; run it again to finish.\n\nExample:\n  politecrawl compact --db example.db"
    )]
    Compact(DbArgs),
    /// Print a crawl's saved settings as a config file for `crawl --config`
    #[command(
        after_help = "Example:\n  politecrawl config --db example.db > crawl.toml && \
        politecrawl crawl --config crawl.toml --db again.db"
    )]
    Config(DbArgs),
    /// Serve a directory over HTTP on loopback, to try crawl flags on local files
    #[command(
        after_help = "In .html files, {{origin}} and {{host}} are replaced by the request's \
        http://HOST and HOST.\n\nExample:\n  politecrawl serve fixtures/site --addr 127.0.0.1:8000"
    )]
    Serve(ServeArgs),
    /// Crawl the bundled test site on 127.0.0.1 into ./demo.db and export ./demo.jsonl
    #[command(after_help = "Example:\n  politecrawl demo && jq -r .url demo.jsonl | head")]
    Demo(DemoArgs),
    /// Print a shell completion script
    #[command(
        after_help = "Examples:\n  politecrawl completions bash > ~/.local/share/bash-completion/completions/politecrawl\n  \
        politecrawl completions zsh > ~/.zfunc/_politecrawl\n  \
        politecrawl completions fish > ~/.config/fish/completions/politecrawl.fish"
    )]
    Completions {
        /// The shell
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Flags of `crawl`. Every setting is optional: a new crawl takes the default, a resumed one
/// keeps the value saved in its database, and a flag given on the command line overrides either.
#[derive(Debug, Args)]
pub struct CrawlArgs {
    /// Start URLs (absolute http:// or https://). Omit them to resume the crawl in --db; given to
    /// an existing database, they are added to it
    #[arg(value_name = "SEED_URL")]
    pub seeds: Vec<String>,
    /// Database directory (created when missing)
    #[arg(long, value_name = "DIR", required_unless_present = "config")]
    pub db: Option<PathBuf>,
    /// Read crawl flags from this TOML file (keys are flag names without dashes, `seeds` the
    /// URLs; see `politecrawl config`); flags on the command line win
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The crawl's settings (declared once, in the library's `config` module).
    #[command(flatten)]
    pub settings: Overrides,
    /// HTTP Basic user name, sent only to the seeds' origins (kept in DIR/credentials, mode
    /// 0600, for resumes; never exported); needs --password, on the command line or in --config
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// Password for --user; `-` reads it from the environment variable POLITECRAWL_PASSWORD,
    /// which keeps it out of the process list
    #[arg(long, value_name = "PASS")]
    pub password: Option<String>,
    /// Read more seed URLs from this file, one per line (`-`: stdin; `#` comments and blank
    /// lines ignored; a bad line is reported with its number and skipped)
    #[arg(long, value_name = "FILE")]
    pub seeds_file: Option<PathBuf>,
    /// With --seeds-file: refuse the whole file if any line is not a seed URL
    #[arg(long, requires = "seeds_file")]
    pub strict: bool,
    /// Request the URLs stored as failed again, this run (a DNS, TLS or timeout failure is
    /// final for a crawl; this is how to give them another chance): each is asked once more
    /// as a recheck, and a success is stored as its new version, its links followed
    #[arg(long)]
    pub retry_failed: bool,
    /// With --retry-failed: only failures of these kinds (comma-separated: dns, tls, timeout,
    /// connect, reset, http_status, ...; the `kind` of `status` and the exports)
    #[arg(long, value_name = "KINDS", requires = "retry_failed", value_delimiter = ',', value_parser = parse_error_kind)]
    pub kind: Vec<politecrawl::ErrorKind>,
    /// Load the cookies of this Netscape cookies.txt (curl's, wget's, a browser export's) into
    /// the crawl's jar before starting
    #[arg(long, value_name = "FILE")]
    pub cookies: Option<PathBuf>,
    /// Write a JSON run report here at the end (settings, times, counts by state, status,
    /// error kind and host, per-host politeness)
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// No progress bar; print a plain progress line every --progress-every instead (the
    /// default when stderr is not a terminal)
    #[arg(long)]
    pub no_progress: bool,
    /// How often the plain progress line is printed
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub progress_every: Duration,
    /// Share the crawl with other workers through this PostgreSQL database
    /// (postgres://USER@HOST[:PORT]/DB, or postgres:///DB?host=/SOCKET/DIR); --db is then this
    /// worker's own store. Creates crawl --crawl with these settings and seeds when it is new
    #[arg(long, value_name = "URL", requires = "crawl")]
    pub frontier: Option<String>,
    /// With --frontier: the shared crawl's name
    #[arg(long, value_name = "NAME", requires = "frontier")]
    pub crawl: Option<String>,
    /// With --frontier, for a new crawl: how many shards its origins are spread over (each
    /// held by one worker at a time) [default: 64]
    #[arg(long, value_name = "N", requires = "frontier", value_parser = clap::value_parser!(i32).range(1..=100_000))]
    pub shards: Option<i32>,
    /// With --frontier: how long a shard lease lasts without a renewal (a killed worker's
    /// shards wait this long for a new holder)
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_lease)]
    pub shard_lease: Duration,
}

impl CrawlArgs {
    /// What this command brings besides its settings, for a crawl of its own or a shared one.
    pub fn inputs(&self, login: Option<politecrawl::Login>) -> politecrawl::crawl::Inputs {
        politecrawl::crawl::Inputs {
            seeds: self.seeds.clone(),
            login,
            cookies: self.cookies.clone(),
            seeds_file: self.seeds_file.clone(),
            strict: self.strict,
            // A shared crawl's is a round of the crawl's, planned once (`cluster::retry`).
            retry_failed: self.retry_failed.then(|| self.kind.clone()),
        }
    }
}

/// `--shard-lease`: a duration of at least a second, so renewals (a third of it) keep up.
fn parse_lease(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < Duration::from_secs(1) {
        return Err(format!("{s:?} is shorter than the least lease, 1s"));
    }
    Ok(d)
}

/// Flags of `worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The shared crawl's PostgreSQL database (postgres://USER@HOST[:PORT]/DB, or
    /// postgres:///DB?host=/SOCKET/DIR)
    #[arg(long, value_name = "URL")]
    pub frontier: String,
    /// The shared crawl's name (as `crawl --crawl` created it)
    #[arg(long, value_name = "NAME")]
    pub crawl: String,
    /// This worker's own store for page records and bodies (created when missing)
    #[arg(long, value_name = "DIR")]
    pub db: PathBuf,
    /// How long a shard lease lasts without a renewal
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_lease)]
    pub shard_lease: Duration,
    /// Send this worker's requests from this local IP address
    #[arg(long, value_name = "IP")]
    pub bind_address: Option<String>,
    /// Write this worker's JSON run report here at the end (its run, and its store's status)
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Load the cookies of this Netscape cookies.txt into this worker's jar before starting
    /// (each worker keeps its own jar)
    #[arg(long, value_name = "FILE")]
    pub cookies: Option<PathBuf>,
    /// No progress bar; print a plain progress line every --progress-every instead
    #[arg(long)]
    pub no_progress: bool,
    /// How often the plain progress line is printed
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub progress_every: Duration,
}

/// `--frontier` and `--crawl` of `status` and `export`.
#[derive(Debug, Args)]
pub struct SharedArgs {
    /// A shared crawl's PostgreSQL database (see `crawl --frontier`)
    #[arg(long, value_name = "URL", requires = "crawl")]
    pub frontier: Option<String>,
    /// With --frontier: the shared crawl's name
    #[arg(long, value_name = "NAME", requires = "frontier")]
    pub crawl: Option<String>,
}

/// `--since`: an RFC 3339 time as Unix microseconds.
fn parse_since(s: &str) -> Result<u64, String> {
    humantime::parse_rfc3339_weak(s.trim())
        .map_err(|e| {
            format!("{s:?} is not an RFC 3339 time ({e}; e.g. 2026-12-03T08:45:11.123456Z)")
        })
        .and_then(|t| {
            t.duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_micros() as u64)
                .map_err(|_| format!("{s:?} is before 1970"))
        })
}

/// Flags of `explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The URL, absolute
    #[arg(value_name = "URL")]
    pub url: String,
    /// Database directory
    #[arg(long, value_name = "DIR")]
    pub db: PathBuf,
    /// Print one JSON object (`url`, `dedupe_key`, `record`, `scope`, `robots`, `verdict`)
    #[arg(long)]
    pub json: bool,
}

/// Flags of `status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Database directory
    #[arg(
        long,
        value_name = "DIR",
        required_unless_present = "frontier",
        conflicts_with = "frontier"
    )]
    pub db: Option<PathBuf>,
    /// A shared crawl instead of a database (totals, workers, hosts)
    #[command(flatten)]
    pub shared: SharedArgs,
    /// Print one JSON object, the same keys for --db and --frontier (a shared crawl's adds
    /// `shared`: crawl, shards, workers; schema in docs/GUIDE.md)
    #[arg(long)]
    pub json: bool,
}

/// Flags of `repair` and `compact`: the database alone.
#[derive(Debug, Args)]
pub struct DbArgs {
    /// Database directory
    #[arg(long, value_name = "DIR")]
    pub db: PathBuf,
}

/// Flags of `export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Database directory; with --frontier, each worker's store (repeatable)
    #[arg(long, value_name = "DIR", required = true)]
    pub db: Vec<PathBuf>,
    /// A shared crawl: one dump from its workers' stores, each page once
    #[command(flatten)]
    pub shared: SharedArgs,
    /// Output format
    #[arg(long, value_enum, default_value_t = FormatArg::Jsonl)]
    pub format: FormatArg,
    /// Output file ('-' or absent: standard output; WARC needs a file name unless '-', WACZ and
    /// CDXJ a file name); files
    /// are written beside their name under a unique temporary one and renamed when complete
    /// (removed on failure or Ctrl-C/SIGTERM)
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Only URLs with this HTTP status (repeatable)
    #[arg(long, value_name = "CODE")]
    pub status: Vec<u16>,
    /// Only URLs of this host, as host or host:port (repeatable)
    #[arg(long, value_name = "HOST")]
    pub host: Vec<String>,
    /// Only URLs whose Content-Type starts with this, e.g. text/html or image/ (repeatable)
    #[arg(long, value_name = "TYPE")]
    pub content_type: Vec<String>,
    /// Only URLs in this state (repeatable)
    #[arg(long, value_enum, value_name = "STATE")]
    pub state: Vec<StateArg>,
    /// WARC only: start a new numbered file (NAME-00000.warc.gz, …) past this size [e.g. 1GB]
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_file_size: Option<u64>,
    /// Only records stored after this time (RFC 3339, e.g. what the previous export said it
    /// reached), so a pipeline can pull increments
    #[arg(long, value_name = "TIME", value_parser = parse_since)]
    pub since: Option<u64>,
    /// Which records of a recrawled URL: latest (its current content) or all (every version
    /// and every check; WARC revisit records) [default: latest]
    #[arg(long, value_enum, default_value_t = politecrawl::export::Versions::Latest, hide_default_value = true)]
    pub versions: politecrawl::export::Versions,
    /// Write the skip report instead of pages: the URLs found and not followed, with why
    /// (`url`, `reason`, `detail`, `found_on`, `depth`; a bounded sample, see the guide), as
    /// JSON Lines
    #[arg(long)]
    pub skipped: bool,
    /// Leave out a record whose body does not read back (a cut or overwritten body segment),
    /// naming each on stderr and counting them at the end, instead of stopping at the first
    #[arg(long)]
    pub skip_damaged: bool,
    /// JSON Lines and CSV: write these fields only, `url` first (comma-separated, repeatable):
    /// the format's own (status, content_type, body, …) and, computed from each HTML body,
    /// title, text, markdown, links, lang, canonical, description
    #[arg(long, value_name = "NAMES")]
    pub fields: Vec<String>,
    /// JSON Lines and CSV: add a field NAME holding the text of every element matching the CSS
    /// selector (a list), or with @attr that attribute of each (repeatable)
    #[arg(long, value_name = "NAME=CSS[@attr]")]
    pub select: Vec<String>,
}

/// `--format` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// JSON Lines: one object per stored URL, body included
    Jsonl,
    /// CSV: one row per stored URL, no bodies
    Csv,
    /// WARC 1.1 (gzip per record): request and response records, for warcio and pywb
    Warc,
    /// WACZ 1.1.1 (--out FILE.wacz): the WARC, its CDXJ index, a pages list and a datapackage in
    /// one ZIP, for ReplayWeb.page and pywb
    Wacz,
    /// The WARC and its CDXJ index (--out NAME.cdxj writes NAME.warc.gz beside it), for pywb
    Cdxj,
    /// A browsable copy laid out like `wget -m -E` under the --out directory, links rewritten
    Mirror,
}

/// `--state` values.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum StateArg {
    /// A response was stored
    Done,
    /// An error status or no response
    Failed,
    /// robots.txt disallows it
    Blocked,
}

/// Flags of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Directory to serve
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Address to listen on (port 0: any free port)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub addr: String,
}

/// Flags of `demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to write demo.db and demo.jsonl
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
}

/// An error kind as `status` and the exports name it (`dns`, `tls_expired`, `http_status`).
fn parse_error_kind(s: &str) -> Result<politecrawl::ErrorKind, String> {
    serde_json::from_value(serde_json::Value::String(s.trim().to_string())).map_err(|_| {
        format!(
            "{s:?} is not an error kind; kinds: {}",
            politecrawl::ErrorKind::ALL
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}
