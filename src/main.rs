//! The `politecrawl` binary: parses arguments, calls one library function per subcommand, and
//! maps the result to an exit code. Progress and diagnostics go to stderr, data to stdout.
//! Beside it: `cli.rs` (the clap types) and `terminal.rs` (progress display, signals).

mod cli;
mod shared_cmd;
mod terminal;

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use cli::{Cli, Command, CrawlArgs, ExportArgs, FormatArg, StateArg};
use politecrawl::export::fields::Fields;
use politecrawl::export::{self, Filter, Format};
use politecrawl::progress::Progress;
use politecrawl::serve::{Site, SiteServer};
use politecrawl::store::UrlState;
use politecrawl::{status, OpenMode, StopReason, StopSignal, Store};

/// The crawler's allocator: mimalloc, tuned by [`politecrawl::allocator::tune`] (why: there).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    politecrawl::allocator::tune();
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
            // Bad input on the command line (a flag value, a seed, a file it names) is a usage
            // error, as clap's own are; everything else is a failure.
            match e.downcast_ref::<politecrawl::Error>() {
                Some(politecrawl::Error::Config(_) | politecrawl::Error::BadSeed { .. }) => {
                    ExitCode::from(2)
                }
                _ => ExitCode::FAILURE,
            }
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Crawl(args) => crawl(with_config_file(*args)?),
        Command::Config(args) => {
            let store = Store::open(&args.db, OpenMode::Existing)?;
            let config: politecrawl::CrawlConfig = store
                .load_config()?
                .with_context(|| format!("{} holds no crawl settings yet", args.db.display()))?;
            print!("{}", politecrawl::config_file::render(&config));
            Ok(ExitCode::SUCCESS)
        }
        Command::Worker(args) => shared_cmd::worker(&args),
        Command::Explain(args) => {
            let store = Store::open(&args.db, OpenMode::Existing)?;
            let e = politecrawl::explain::explain(&store, &args.url)?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&e)?);
            } else {
                print!("{e}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Status(args) => {
            if let (Some(frontier), Some(name)) = (&args.shared.frontier, &args.shared.crawl) {
                return shared_cmd::status(frontier, name, args.json);
            }
            let db = args
                .db
                .clone()
                .context("status needs --db DIR (or --frontier)")?;
            let s = match politecrawl::status_snapshot::read(&db) {
                Some(s) => s,
                None => match Store::open(&db, OpenMode::Existing) {
                    Err(politecrawl::Error::Locked { .. }) => return live_status(&db, args.json),
                    other => status::status(&other?)?,
                },
            };
            if args.json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                print!("{s}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Export(args) => export_cmd(args).map(|()| ExitCode::SUCCESS),
        Command::Compact(args) => {
            let store = Store::open(&args.db, OpenMode::ExistingWritable)
                .with_context(|| format!("compacting {}", args.db.display()))?;
            politecrawl::frontier::recover_bodies(&store)?;
            let c = store.compact_bodies()?;
            eprintln!(
                "politecrawl: compacted {}: {} bodies moved, body segments {} → {}",
                args.db.display(),
                c.moved,
                bytesize::ByteSize(c.bytes_before),
                bytesize::ByteSize(c.bytes_after)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Repair(args) => {
            let store = Store::open(&args.db, OpenMode::Repair)
                .with_context(|| format!("repairing {}", args.db.display()))?;
            drop(store);
            eprintln!(
                "politecrawl: repaired {0}; continue with: politecrawl crawl --db {0}",
                args.db.display()
            );
            Ok(ExitCode::SUCCESS)
        }
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
fn live_status(db: &Path, json: bool) -> Result<ExitCode> {
    let Some(live) = politecrawl::progress::Live::read(db) else {
        // No published numbers: report the lock as the error it is.
        Store::open(db, OpenMode::Existing)?;
        return Ok(ExitCode::SUCCESS);
    };
    eprintln!(
        "a crawl is running on {} (pid {}); these are its live numbers from {} (breakdowns by status and host need the crawl stopped)",
        db.display(),
        live.pid,
        live.at
    );
    if json {
        println!("{}", serde_json::to_string_pretty(&live)?);
    } else {
        println!(
            "{}",
            live.snapshot.line().replacen("progress: ", "running:  ", 1)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `crawl --config FILE`: the file's flags join the command line's (which win), and the whole
/// is parsed again, so the file goes through the same parser and checks as flags.
fn with_config_file(args: CrawlArgs) -> Result<CrawlArgs> {
    let Some(file) = args.config.clone() else {
        return Ok(args);
    };
    use clap::CommandFactory;
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let matches = Cli::command().get_matches_from(&argv);
    let Some(("crawl", given)) = matches.subcommand() else {
        return Ok(args);
    };
    let crawl_cmd = Cli::command()
        .find_subcommand("crawl")
        .cloned()
        .context("the crawl subcommand")?;
    let is_given =
        |id: &str| given.value_source(id) == Some(clap::parser::ValueSource::CommandLine);
    let extra = politecrawl::config_file::to_args(&file, &crawl_cmd, is_given)?;
    let mut merged = argv;
    let at = merged
        .iter()
        .position(|a| a == "--")
        .unwrap_or(merged.len());
    merged.splice(at..at, extra);
    match Cli::try_parse_from(merged) {
        Ok(Cli {
            command: Command::Crawl(args),
        }) => Ok(*args),
        Ok(_) => anyhow::bail!("--config {}: not a crawl", file.display()),
        Err(e) => Err(anyhow::anyhow!(
            "{} (from --config {})",
            e.to_string().trim_start_matches("error: ").trim(),
            file.display()
        )),
    }
}

/// The login of `--user` and `--password` (`-`: from `POLITECRAWL_PASSWORD`), when given.
fn login(args: &CrawlArgs) -> Result<Option<politecrawl::Login>> {
    Ok(match (&args.user, &args.password) {
        (Some(user), Some(password)) => {
            let password = if password == "-" {
                std::env::var("POLITECRAWL_PASSWORD").map_err(|_| {
                    anyhow::anyhow!("--password - reads POLITECRAWL_PASSWORD, which is not set")
                })?
            } else {
                password.clone()
            };
            Some(politecrawl::Login {
                user: user.clone(),
                password,
            })
        }
        _ => None,
    })
}

fn crawl(args: CrawlArgs) -> Result<ExitCode> {
    let Some(db) = args.db.clone() else {
        anyhow::bail!("no --db: give it on the command line or as `db = \"DIR\"` in --config");
    };
    // Checked here, not by clap, so one of them may come from --config and the other not.
    if args.user.is_some() != args.password.is_some() {
        return Err(politecrawl::Error::Config(
            "--user and --password go together: give both (on the command line or as `user` \
             and `password` in --config)"
                .into(),
        )
        .into());
    }
    if let (Some(frontier), Some(name)) = (&args.frontier, &args.crawl) {
        return shared_cmd::crawl(&args, &db, frontier, name, login(&args)?);
    }
    let stop = StopSignal::new();
    terminal::watch_signals(stop.clone())?;
    let overrides = &args.settings;
    if overrides.ignore_robots == Some(true) {
        eprintln!("warning: --ignore-robots: robots.txt will not be fetched or obeyed");
    }
    let progress = Progress::new();
    let display =
        terminal::ProgressDisplay::start(progress.clone(), args.no_progress, args.progress_every);
    let inputs = args.inputs(login(&args)?);
    let result = politecrawl::crawl::start(
        &db,
        &inputs,
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
    if let Some(l) = plan.seeds_file {
        eprintln!(
            "seeds file: {} seeds ({} new to this crawl), {} bad lines skipped",
            l.seeds, l.queued, l.bad
        );
    }
    let nothing_to_do = summary.run.stored == 0
        && summary.run.checked == 0
        && summary.run.blocked == 0
        && summary.stop == StopReason::Finished
        && summary.totals.queued == 0;
    if nothing_to_do {
        eprintln!(
            "nothing left to do: the crawl in {} is finished ({} done, {} failed, {} blocked); give new seed URLs to crawl more{}",
            c.db.display(),
            summary.totals.done,
            summary.totals.failed,
            summary.totals.blocked,
            if c.recrawl {
                format!(
                    ", or wait: no page was checked longer than {} ago",
                    humantime::format_duration(c.older_than)
                )
            } else {
                ", or --recrawl to check the stored pages again".into()
            }
        );
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("{summary}");
    let db = shell_quote(&c.db.display().to_string());
    match summary.stop {
        StopReason::Interrupted(_) => eprintln!("to resume: politecrawl crawl --db {db}"),
        StopReason::DiskLow => {
            eprintln!("to resume once there is room: politecrawl crawl --db {db}")
        }
        _ => {}
    }
    Ok(ExitCode::from(summary.stop.exit_code()))
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
    if args.skipped {
        return skipped_cmd(&args);
    }
    let store: Box<dyn politecrawl::export::Source> =
        match (&args.shared.frontier, &args.shared.crawl) {
            (Some(frontier), Some(name)) => {
                Box::new(shared_cmd::source(frontier, name, &args.db, open_source)?)
            }
            _ => match args.db.as_slice() {
                [db] => open_source(db)?,
                _ => anyhow::bail!(
                    "export reads one --db, or the stores of a shared crawl with --frontier"
                ),
            },
        };
    let store = &*store;
    let picks = !(args.fields.is_empty() && args.select.is_empty());
    if picks && !matches!(args.format, FormatArg::Jsonl | FormatArg::Csv) {
        anyhow::bail!("--fields and --select apply to --format jsonl and csv");
    }
    let format = match args.format {
        FormatArg::Jsonl => Format::Jsonl,
        FormatArg::Csv => Format::Csv,
        FormatArg::Warc => Format::Warc,
        FormatArg::Wacz => Format::Wacz,
        FormatArg::Cdxj => Format::Cdxj,
        FormatArg::Mirror => return mirror_cmd(store, &args),
    };
    let filter = filter_of(&args);
    let fields = match format {
        Format::Jsonl => Fields::parse(&args.fields, &args.select, &export::jsonl::FIELDS)?,
        Format::Csv => Fields::parse(&args.fields, &args.select, &export::csv::COLUMNS)?,
        _ => Fields::default(),
    };
    let to_stdout = args.out.as_deref().is_none_or(|p| p == Path::new("-"));
    if format == Format::Warc && args.out.is_none() {
        anyhow::bail!("--format warc needs --out FILE.warc.gz (or --out - for standard output)");
    }
    if matches!(format, Format::Wacz | Format::Cdxj) && to_stdout {
        anyhow::bail!(
            "--format wacz needs --out FILE.wacz, --format cdxj --out NAME.cdxj (NAME.warc.gz is written beside it)"
        );
    }
    if args.max_file_size.is_some() && (format != Format::Warc || to_stdout) {
        anyhow::bail!("--max-file-size applies to --format warc written to a file");
    }
    match args.out.as_deref().filter(|_| !to_stdout) {
        None => {
            if export::write_stdout(store, format, &filter, &fields)?.is_none() {
                // The reader has what it wanted (`export | head`): stop quietly, as cat does.
                return Ok(());
            }
        }
        Some(path) => {
            // Ctrl-C or SIGTERM removes the unfinished temporary file before exiting.
            terminal::remove_partial_on_signal()?;
            let (n, files) =
                export::write_file(store, format, &filter, &fields, path, args.max_file_size)
                    .with_context(|| format!("exporting to {}", path.display()))?;
            let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
            let what = if matches!(format, Format::Warc | Format::Wacz | Format::Cdxj) {
                "URLs"
            } else {
                "records"
            };
            eprintln!("exported {n} {what} to {}", names.join(", "));
        }
    }
    damaged_note(&filter);
    if let Some(t) = filter.read_up_to.get() {
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_micros(t);
        let at = humantime::format_rfc3339_micros(at);
        eprintln!(
            "the export reaches the records stored up to {at}; the next increment: --since {at}"
        );
    }
    Ok(())
}

/// A database to export: opened, or, while a crawl holds it, its page files up to the crawl's
/// latest flush.
fn open_source(db: &Path) -> Result<Box<dyn politecrawl::export::Source>> {
    match Store::open(db, OpenMode::Existing) {
        Ok(store) => Ok(Box::new(store)),
        Err(locked @ politecrawl::Error::Locked { .. }) => {
            // A crawl holds it: read its page files up to its latest flush instead.
            let Some(running) = politecrawl::export::source::Running::open(db)? else {
                return Err(locked.into());
            };
            eprintln!(
                "a crawl is running on {} (pid {}): exporting the pages stored up to its flush at {}",
                db.display(),
                running.durable.pid,
                running.durable.at
            );
            Ok(Box::new(running))
        }
        Err(e) => Err(e.into()),
    }
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
        since_us: args.since,
        versions: args.versions,
        read_up_to: Default::default(),
        skip_damaged: args.skip_damaged,
        damaged: Default::default(),
    }
}

/// `export --skipped`: the skip report of each `--db`, as JSON Lines.
fn skipped_cmd(args: &ExportArgs) -> Result<()> {
    use std::io::Write;
    if args.format != FormatArg::Jsonl {
        anyhow::bail!("--skipped writes JSON Lines: drop --format, or give --format jsonl");
    }
    for db in &args.db {
        if !db.is_dir() {
            anyhow::bail!("{}: no such database directory", db.display());
        }
        if let Err(why) = politecrawl::store::marker::recognise(db) {
            anyhow::bail!("{}: {why}", db.display());
        }
    }
    // Streamed, one sampled skip at a time, to standard output or a file of its own beside
    // --out (renamed when complete, as every export's).
    let file = match args.out.as_deref().filter(|p| *p != Path::new("-")) {
        Some(path) => {
            terminal::remove_partial_on_signal()?;
            Some((path, export::partial::Partial::create(path)?))
        }
        None => None,
    };
    let mut out: std::io::BufWriter<Box<dyn Write>> = std::io::BufWriter::new(match &file {
        Some((_, (_, f))) => Box::new(f.try_clone()?),
        None => Box::new(std::io::stdout().lock()),
    });
    let mut counts = std::collections::BTreeMap::<String, u64>::new();
    let mut written = Ok(());
    for db in &args.db {
        for skip in politecrawl::skips::read(db)? {
            if written.is_ok() {
                written = serde_json::to_writer(&mut out, &skip)
                    .map_err(std::io::Error::from)
                    .and_then(|()| out.write_all(b"\n"));
            }
        }
        for (reason, n) in politecrawl::skips::counts(db) {
            *counts.entry(reason).or_default() += n;
        }
    }
    let written = written.and_then(|()| out.flush());
    drop(out);
    match (written, file) {
        // The reader has what it wanted (`export --skipped | head`): stop quietly, as cat does.
        (Err(e), None) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
        (Err(e), None) => return Err(e).context("writing to standard output"),
        (Err(e), Some((path, _))) => {
            return Err(e).with_context(|| format!("writing {}", path.display()))
        }
        (Ok(()), Some((_, (tmp, f)))) => drop(tmp.finish(f)?),
        (Ok(()), None) => {}
    }
    let counted: Vec<String> = counts.iter().map(|(r, n)| format!("{r} {n}")).collect();
    eprintln!(
        "skip report: URLs not followed, counted by reason: {}",
        if counted.is_empty() {
            "none".to_string()
        } else {
            counted.join(", ")
        }
    );
    Ok(())
}

/// `--skip-damaged`: how many records were left out (each was named as it was met).
fn damaged_note(filter: &Filter) {
    let n = filter.damaged.get();
    if n > 0 {
        eprintln!(
            "skipped {n} record{} whose body is damaged (--skip-damaged); the rest were exported",
            if n == 1 { "" } else { "s" }
        );
    }
}

fn mirror_cmd(store: &dyn politecrawl::export::Source, args: &ExportArgs) -> Result<()> {
    let Some(dir) = args.out.as_deref().filter(|p| *p != Path::new("-")) else {
        anyhow::bail!("--format mirror needs --out DIR");
    };
    if args.versions == export::Versions::All {
        anyhow::bail!(
            "a mirror holds one version of each page: drop --versions all \
             (or export the versions as jsonl, csv or warc)"
        );
    }
    let filter = filter_of(args);
    let s = export::mirror::write(store, &filter, dir)
        .with_context(|| format!("mirroring into {}", dir.display()))?;
    let mut notes = vec![format!("{} links made local", s.links_local)];
    if s.renamed > 0 {
        notes.push(format!(
            "{} under a name with a hash of their URL: an earlier URL had their file name",
            s.renamed
        ));
    }
    if s.skipped > 0 {
        notes.push(format!(
            "{} URLs skipped: a file and a directory would share a name",
            s.skipped
        ));
    }
    if s.symlinks > 0 {
        notes.push(format!(
            "{} URLs not written: a symlink inside {} stands in their path (never followed)",
            s.symlinks,
            dir.display()
        ));
    }
    eprintln!(
        "mirrored {} files into {} ({})",
        s.files,
        dir.display(),
        notes.join("; ")
    );
    damaged_note(&filter);
    Ok(())
}
