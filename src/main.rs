//! The `politecrawl` binary: parses arguments, calls one library function per subcommand, and
//! maps the result to an exit code. Progress and diagnostics go to stderr, data to stdout.

mod cli;

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use cli::{Cli, Command, CrawlArgs, ExportArgs, FormatArg, ScopeArg};
use politecrawl::config::{self, CrawlConfig, ScopeKind};
use politecrawl::export::{self, Format};
use politecrawl::serve::{Site, SiteServer};
use politecrawl::{status, OpenMode, Store};

fn main() -> ExitCode {
    quiet_http_client_panics();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("politecrawl: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// surf's curl adapter (http-client) unwraps header values that are not visible ASCII, so a
/// server sending a Latin-1 header panics inside it. The fetcher catches that panic and records
/// the URL as `invalid_response`; this hook keeps the default panic message for it off the
/// terminal. Every other panic is reported as usual.
fn quiet_http_client_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let from_http_client = info
            .location()
            .is_some_and(|l| l.file().contains("http-client") && l.file().ends_with("isahc.rs"));
        if !from_http_client {
            default(info);
        }
    }));
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Crawl(args) => crawl(*args),
        Command::Status(args) => {
            let store = Store::open(&args.db, OpenMode::Existing)?;
            let s = status::status(&store)?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                print!("{s}");
            }
            Ok(())
        }
        Command::Export(args) => export_cmd(args),
        Command::Serve(args) => {
            let dir = args.dir.canonicalize().with_context(|| {
                format!("cannot serve {}: no such directory", args.dir.display())
            })?;
            let server = SiteServer::start(&args.addr, Site::Dir(dir.clone()), None)
                .with_context(|| format!("cannot listen on {}; pick another --addr", args.addr))?;
            eprintln!(
                "serving {} at {}/ (Ctrl-C to stop)",
                dir.display(),
                server.origin()
            );
            server.wait();
            Ok(())
        }
        Command::Demo(args) => {
            eprintln!("demo: serving the bundled fixture site on 127.0.0.1 and crawling it...");
            let r = politecrawl::demo::run(&args.dir)?;
            eprintln!("{}", r.summary);
            println!("{}", r.status);
            eprintln!("database: {}", r.db.display());
            eprintln!(
                "export:   {} ({} records, JSON Lines)",
                r.export.display(),
                r.exported
            );
            eprintln!("try:      politecrawl status --db {}", r.db.display());
            Ok(())
        }
    }
}

fn crawl(args: CrawlArgs) -> Result<()> {
    let config = crawl_config(args)?;
    eprintln!(
        "crawling {} seed(s) into {} (concurrency {}, {} per host, {})",
        config.seeds.len(),
        config.db.display(),
        config.concurrency,
        config.per_host_concurrency,
        match config.rate {
            r if r > 0.0 => format!("{r} req/s per host"),
            _ => "no rate limit".into(),
        }
    );
    let summary = politecrawl::run(&config)?;
    eprintln!("{summary}");
    Ok(())
}

fn crawl_config(a: CrawlArgs) -> Result<CrawlConfig> {
    let mut c = CrawlConfig::new(&a.db, &a.seeds)?;
    c.concurrency = a.concurrency;
    c.per_host_concurrency = a.per_host_concurrency;
    c.rate = a.rate;
    c.scope = match a.scope {
        ScopeArg::Host => ScopeKind::Host,
        ScopeArg::Domain => ScopeKind::Domain,
        ScopeArg::Any => ScopeKind::Any,
    };
    c.include = a.include;
    c.exclude = a.exclude;
    c.max_depth = a.max_depth;
    c.max_pages = a.max_pages;
    c.max_body = a.max_body;
    c.max_url_length = a.max_url_length;
    c.user_agent = a.user_agent.unwrap_or_else(config::default_user_agent);
    c.connect_timeout = a.connect_timeout;
    c.timeout = a.timeout;
    c.ignore_robots = a.ignore_robots;
    c.max_crawl_delay = a.max_crawl_delay;
    c.max_retry_after = a.max_retry_after;
    c.retries = a.retries;
    c.robots_give_up = a.robots_give_up;
    c.sitemaps = a.sitemaps;
    c.read_timeout = a.read_timeout;
    c.accept_types = a.accept_type;
    c.max_redirects = a.max_redirects;
    if c.ignore_robots {
        eprintln!("warning: --ignore-robots: robots.txt will not be fetched or obeyed");
    }
    c.validate()?;
    Ok(c)
}

fn export_cmd(args: ExportArgs) -> Result<()> {
    let store = Store::open(&args.db, OpenMode::Existing)?;
    let format = match args.format {
        FormatArg::Jsonl => Format::Jsonl,
    };
    match args.out.as_deref() {
        None => write_stdout(&store, format),
        Some(p) if p == Path::new("-") => write_stdout(&store, format),
        Some(path) => {
            // Write beside the target and rename, so a failed export never leaves half a file
            // where a finished one is expected.
            let tmp = path.with_extension("partial");
            let file = std::fs::File::create(&tmp)
                .with_context(|| format!("cannot create {}", tmp.display()))?;
            let mut w = std::io::BufWriter::new(file);
            let n = export::export(&store, format, &mut w)
                .with_context(|| format!("exporting to {}", path.display()))?;
            w.into_inner()
                .map_err(|e| e.into_error())
                .and_then(|f| f.sync_all())
                .with_context(|| format!("writing {}", tmp.display()))?;
            std::fs::rename(&tmp, path)
                .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
            eprintln!("exported {n} records to {}", path.display());
            Ok(())
        }
    }
}

fn write_stdout(store: &Store, format: Format) -> Result<()> {
    let stdout = std::io::stdout();
    let mut w = std::io::BufWriter::new(stdout.lock());
    export::export(store, format, &mut w)?;
    w.flush().context("writing to standard output")?;
    Ok(())
}
