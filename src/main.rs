//! The `politecrawl` binary: parses arguments, calls one library function per subcommand, and
//! maps the result to an exit code. Progress and diagnostics go to stderr, data to stdout.

mod cli;

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use cli::{Cli, Command, CrawlArgs, ExportArgs, FormatArg, StateArg};
use politecrawl::StopReason;

/// mimalloc instead of glibc's malloc: a profile of the benchmark crawl put glibc's allocator
/// (malloc, free, consolidation) at ~18% of the CPU, with buffers allocated on fetch threads
/// and freed on parse threads. See [`tune_allocator`] for its two settings.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Arenas committed on demand and freed memory returned at once. Peak RSS measured on the
/// benchmark crawl: glibc ~53 MB, mimalloc's defaults ~145 MB, these settings made here ~110 MB
/// (the same as `MIMALLOC_*` environment variables before start: ~64 MB). Option numbers from
/// mimalloc v3's `mimalloc.h`: `mi_option_arena_eager_commit` = 4, `mi_option_purge_delay` = 15;
/// the environment variables still override.
fn tune_allocator() {
    const ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    for (option, value) in [(ARENA_EAGER_COMMIT, 0), (PURGE_DELAY, 0)] {
        let from_env = match option {
            ARENA_EAGER_COMMIT => "MIMALLOC_ARENA_EAGER_COMMIT",
            _ => "MIMALLOC_PURGE_DELAY",
        };
        if std::env::var_os(from_env).is_none() {
            // SAFETY: plain setter of a process-wide option; any value is valid for these two.
            unsafe { libmimalloc_sys::mi_option_set(option, value) };
        }
    }
}
use politecrawl::export::{self, Filter, Format};
use politecrawl::progress::Progress;
use politecrawl::serve::{Site, SiteServer};
use politecrawl::store::UrlState;
use politecrawl::StopSignal;
use politecrawl::{status, OpenMode, Store};

fn main() -> ExitCode {
    tune_allocator();
    quiet_http_client_panics();
    // Logs go to stderr; RUST_LOG=info shows pauses and robots.txt trouble, debug shows more.
    // isahc warns of every failed request, which the crawl records and counts itself.
    env_logger::Builder::from_env(
        env_logger::Env::default()
            .default_filter_or("warn,html5ever=error,selectors=error,isahc=error"),
    )
    .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
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

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Crawl(args) => crawl(*args),
        Command::Status(args) => {
            let store = match Store::open(&args.db, OpenMode::Existing) {
                Err(politecrawl::Error::Locked { .. }) => return live_status(&args),
                other => other?,
            };
            let s = status::status(&store)?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                print!("{s}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Export(args) => export_cmd(args).map(|()| ExitCode::SUCCESS),
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
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "politecrawl", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
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
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `status` of a running crawl: sled keeps the database locked, so show the numbers the crawl
/// publishes in its directory every two seconds.
fn live_status(args: &cli::StatusArgs) -> Result<ExitCode> {
    let Some(live) = politecrawl::progress::Live::read(&args.db) else {
        // No published numbers: report the lock as the error it is.
        Store::open(&args.db, OpenMode::Existing)?;
        return Ok(ExitCode::SUCCESS);
    };
    eprintln!(
        "a crawl is running on {} (pid {}); these are its live numbers from {} (breakdowns by status and host need the crawl stopped)",
        args.db.display(),
        live.pid,
        live.at
    );
    if args.json {
        println!("{}", serde_json::to_string_pretty(&live)?);
    } else {
        println!(
            "{}",
            live.snapshot.line().replacen("progress: ", "running:  ", 1)
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn crawl(args: CrawlArgs) -> Result<ExitCode> {
    let stop = StopSignal::new();
    watch_signals(stop.clone())?;
    let overrides = &args.settings;
    if overrides.ignore_robots == Some(true) {
        eprintln!("warning: --ignore-robots: robots.txt will not be fetched or obeyed");
    }
    let progress = Progress::new();
    let display = ProgressDisplay::start(progress.clone(), args.no_progress, args.progress_every);
    let result = politecrawl::crawl::start(
        &args.db,
        &args.seeds,
        overrides,
        &stop,
        &progress,
        args.report.as_deref(),
    );
    display.finish();
    let (plan, summary) = result?;
    let c = &plan.config;
    if plan.resumed {
        eprintln!(
            "resumed the crawl in {}{}",
            c.db.display(),
            if plan.overridden.is_empty() {
                String::new()
            } else {
                format!(" with {} (recorded)", plan.overridden.join(" "))
            }
        );
    }
    let nothing_to_do = summary.run.stored == 0
        && summary.run.blocked == 0
        && summary.stop == StopReason::Finished
        && summary.totals.queued == 0;
    if nothing_to_do {
        eprintln!(
            "nothing left to do: the crawl in {} is finished ({} done, {} failed, {} blocked); give new seed URLs to crawl more",
            c.db.display(),
            summary.totals.done,
            summary.totals.failed,
            summary.totals.blocked
        );
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("{summary}");
    match summary.stop {
        StopReason::Interrupted(signal) => {
            eprintln!(
                "to resume: politecrawl crawl --db {}",
                shell_quote(&c.db.display().to_string())
            );
            Ok(ExitCode::from((128 + signal).clamp(0, 255) as u8))
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// Shows a running crawl: an indicatif bar on a terminal, else a plain line every `every`.
struct ProgressDisplay {
    done: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ProgressDisplay {
    fn start(progress: Progress, plain: bool, every: std::time::Duration) -> Self {
        use std::io::IsTerminal;
        use std::sync::mpsc::RecvTimeoutError;
        let (done, d) = std::sync::mpsc::channel::<()>();
        let tty = !plain && std::io::stderr().is_terminal();
        let thread = std::thread::spawn(move || {
            let tick = std::time::Duration::from_millis(200);
            let bar = tty.then(|| {
                let bar = indicatif::ProgressBar::new_spinner();
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{spinner} [{elapsed_precise}] {wide_msg} {pos}/{len} {eta}",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
                );
                bar
            });
            let mut last_line = std::time::Instant::now();
            // Ticks until the crawl ends (the sender is dropped), without delaying that end.
            while let Err(RecvTimeoutError::Timeout) = d.recv_timeout(tick) {
                let s = progress.get();
                match &bar {
                    Some(bar) => {
                        if let Some(max) = s.max_pages {
                            bar.set_length(max);
                        }
                        bar.set_position(s.done + s.failed);
                        bar.set_message(format!(
                            "{} done, {} queued, {} failed, {:.1}/s, {}, {} paused",
                            s.done,
                            s.queued,
                            s.failed,
                            s.rate(),
                            politecrawl::progress::human_bytes(s.bytes),
                            s.hosts_paused
                        ));
                    }
                    None if last_line.elapsed() >= every => {
                        eprintln!("{}", s.line());
                        last_line = std::time::Instant::now();
                    }
                    None => {}
                }
            }
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
        });
        ProgressDisplay {
            done: Some(done),
            thread: Some(thread),
        }
    }

    fn finish(mut self) {
        drop(self.done.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// First SIGINT/SIGTERM: stop taking new URLs and let requests in flight finish (`--grace`).
/// Second: exit at once, which is still safe (the database recovers to its last flush and
/// nothing in flight is lost).
fn watch_signals(stop: StopSignal) -> Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .context("cannot install the Ctrl-C/SIGTERM handler")?;
    std::thread::spawn(move || {
        for signal in signals.forever() {
            if stop.request(signal) {
                eprintln!(
                    "\nstopping: no new requests; waiting for those in flight (signal again to exit now)"
                );
            } else {
                eprintln!("second signal: exiting now; the crawl resumes from its last flush");
                std::process::exit(128 + signal);
            }
        }
    });
    Ok(())
}

fn shell_quote(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+:=@".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn export_cmd(args: ExportArgs) -> Result<()> {
    let store = Store::open(&args.db, OpenMode::Existing)?;
    let format = match args.format {
        FormatArg::Jsonl => Format::Jsonl,
        FormatArg::Csv => Format::Csv,
        FormatArg::Warc => Format::Warc,
        FormatArg::Mirror => return mirror_cmd(&store, &args),
    };
    let filter = filter_of(&args);
    let to_stdout = args.out.as_deref().is_none_or(|p| p == Path::new("-"));
    if format == Format::Warc && args.out.is_none() {
        anyhow::bail!("--format warc needs --out FILE.warc.gz (or --out - for standard output)");
    }
    if args.max_file_size.is_some() && (format != Format::Warc || to_stdout) {
        anyhow::bail!("--max-file-size applies to --format warc written to a file");
    }
    if to_stdout {
        return write_stdout(&store, format, &filter);
    }
    let path = args.out.as_deref().unwrap_or(Path::new("-"));
    if format == Format::Warc {
        let info = warc_info(&store)?;
        let (n, files) =
            export::warc::write_files(&store, &filter, path, args.max_file_size, &info)
                .with_context(|| format!("exporting to {}", path.display()))?;
        let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        eprintln!("exported {n} URLs to {}", names.join(", "));
        return Ok(());
    }
    // Write beside the target and rename, so a failed export never leaves half a file where a
    // finished one is expected.
    let tmp = path.with_extension("partial");
    let file =
        std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let mut w = std::io::BufWriter::new(file);
    let n = export::export(&store, format, &filter, &mut w)
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

fn filter_of(args: &ExportArgs) -> Filter {
    Filter {
        statuses: args.status.clone(),
        hosts: args.host.clone(),
        content_types: args.content_type.clone(),
        states: args
            .state
            .iter()
            .map(|s| match s {
                StateArg::Done => UrlState::Done,
                StateArg::Failed => UrlState::Failed,
                StateArg::Blocked => UrlState::Blocked,
            })
            .collect(),
    }
}

fn mirror_cmd(store: &Store, args: &ExportArgs) -> Result<()> {
    let Some(dir) = args.out.as_deref().filter(|p| *p != Path::new("-")) else {
        anyhow::bail!("--format mirror needs --out DIR");
    };
    let s = export::mirror::write(store, &filter_of(args), dir)
        .with_context(|| format!("mirroring into {}", dir.display()))?;
    eprintln!(
        "mirrored {} files into {} ({} links made local{})",
        s.files,
        dir.display(),
        s.links_local,
        if s.skipped > 0 {
            format!(
                ", {} URLs skipped: a file and a directory would share a name",
                s.skipped
            )
        } else {
            String::new()
        }
    );
    Ok(())
}

/// The warcinfo of a crawl: our software version, its settings and User-Agent.
fn warc_info(store: &Store) -> Result<export::warc::Info> {
    let mut info = export::warc::Info::default();
    if let Some(config) = store.load_config::<politecrawl::CrawlConfig>()? {
        info.user_agent = config.user_agent.clone();
        info.settings = Some(serde_json::to_string(&config)?);
    }
    Ok(info)
}

fn write_stdout(store: &Store, format: Format, filter: &Filter) -> Result<()> {
    let stdout = std::io::stdout();
    let mut w = std::io::BufWriter::new(stdout.lock());
    if format == Format::Warc {
        export::warc::write(store, filter, &mut w, &warc_info(store)?)?;
    } else {
        export::export(store, format, filter, &mut w)?;
    }
    w.flush().context("writing to standard output")?;
    Ok(())
}
