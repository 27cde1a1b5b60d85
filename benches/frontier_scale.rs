//! Frontier scale benchmark: queues N generated URLs spread over H hosts (nothing is fetched)
//! into a fresh crawl database, the way a crawl's outcomes queue them (batched transactions
//! through `frontier::add_candidates`), and reports the insert rate, this process's peak RSS and
//! the database's size on disk. The database is left as a resumable crawl (saved settings, a
//! seed), so `politecrawl crawl --db DIR` on it measures start-up with that frontier.
//!
//! ```text
//! cargo bench --bench frontier_scale -- --db DIR --urls 10000000 --hosts 100000 --port 18490
//! ```
//!
//! URLs are `http://h<k>.localhost:<port>/p/<i>.html` (libcurl resolves `*.localhost` to
//! loopback itself), hosts interleaved so each holds about N/H. The last stdout line is one
//! JSON object with the figures.

use std::path::{Path, PathBuf};
use std::time::Instant;

use politecrawl::frontier::{self, Candidate};
use politecrawl::{CrawlConfig, OpenMode, ScopeKind, Store};
use url::Url;

struct Args {
    db: PathBuf,
    urls: u64,
    hosts: u64,
    port: u16,
    batch: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        db: PathBuf::new(),
        urls: 1_000_000,
        hosts: 100_000,
        port: 18490,
        batch: 10_000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--bench" {
            continue; // passed by `cargo bench`
        }
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let bad = |e: std::num::ParseIntError| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--db" => a.db = PathBuf::from(&value),
            "--urls" => a.urls = value.parse().map_err(bad)?,
            "--hosts" => a.hosts = value.parse().map_err(bad)?,
            "--port" => a.port = value.parse().map_err(bad)?,
            "--batch" => a.batch = value.parse().map_err(bad)?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if a.db.as_os_str().is_empty() {
        return Err("--db DIR is required (a directory that does not exist yet)".into());
    }
    if a.db.exists() {
        return Err(format!("{} exists; give a new directory", a.db.display()));
    }
    if a.hosts == 0 || a.urls < a.hosts || a.batch == 0 {
        return Err("need --urls >= --hosts >= 1 and --batch >= 1".into());
    }
    Ok(a)
}

fn url_of(i: u64, a: &Args) -> String {
    format!(
        "http://h{}.localhost:{}/p/{}.html",
        i % a.hosts,
        a.port,
        i / a.hosts
    )
}

/// Peak resident memory of this process, from the kernel.
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn disk_mb(dir: &Path) -> f64 {
    fn walk(p: &Path) -> u64 {
        let Ok(entries) = std::fs::read_dir(p) else {
            return 0;
        };
        entries
            .flatten()
            .map(|e| match e.metadata() {
                Ok(m) if m.is_dir() => walk(&e.path()),
                Ok(m) => {
                    use std::os::unix::fs::MetadataExt;
                    m.blocks() * 512
                }
                Err(_) => 0,
            })
            .sum()
    }
    walk(dir) as f64 / 1_048_576.0
}

fn run(a: &Args) -> Result<String, String> {
    let seed = url_of(0, a);
    let mut config = CrawlConfig::new(&a.db, &[seed.as_str()]).map_err(|e| e.to_string())?;
    config.scope = ScopeKind::Any;
    let store = Store::open(&a.db, OpenMode::CreateOrOpen).map_err(|e| e.to_string())?;
    store.save_config(&config).map_err(|e| e.to_string())?;

    let start = Instant::now();
    let mut queued = 0u64;
    let mut batch = Vec::with_capacity(a.batch);
    let mut i = 0u64;
    while i < a.urls {
        batch.clear();
        while batch.len() < a.batch && i < a.urls {
            let url = Url::parse(&url_of(i, a)).map_err(|e| e.to_string())?;
            batch.push(Candidate {
                url,
                depth: 0,
                referrer: None,
                sitemap: false,
                redirect_chain: Vec::new(),
            });
            i += 1;
        }
        queued += frontier::add_candidates(&store, &batch)
            .map_err(|e| e.to_string())?
            .len() as u64;
        if i % 1_000_000 < a.batch as u64 {
            eprintln!(
                "frontier_scale: {i} queued, {:.0}/s, peak RSS {:.0} MB",
                i as f64 / start.elapsed().as_secs_f64(),
                peak_rss_mb()
            );
        }
    }
    store.checkpoint().map_err(|e| e.to_string())?;
    store.flush().map_err(|e| e.to_string())?;
    let secs = start.elapsed().as_secs_f64();
    let counters = store.counters().map_err(|e| e.to_string())?;
    drop(store);
    Ok(format!(
        "{{\"urls\":{},\"hosts\":{},\"queued\":{},\"counter_queued\":{},\"seconds\":{:.1},\"insert_rate\":{:.0},\"rss_mb\":{:.0},\"disk_mb\":{:.0}}}",
        a.urls,
        a.hosts,
        queued,
        counters.queued,
        secs,
        queued as f64 / secs,
        peak_rss_mb(),
        disk_mb(&a.db)
    ))
}

fn main() {
    let result = parse_args().and_then(|a| run(&a));
    match result {
        Ok(json) => println!("{json}"),
        Err(e) => {
            eprintln!("frontier_scale: {e}");
            std::process::exit(1);
        }
    }
}
