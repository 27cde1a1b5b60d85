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
//! `--pages N` then stores N of them as fetched pages (a record with the headers nginx sends
//! and a `--body-bytes` body each, settled in batches of 64 as the engine does), round-robin
//! over the hosts, so `politecrawl status --db DIR` can be measured on queued URLs and stored
//! pages together.
//!
//! URLs are `http://h<k>.localhost:<port>/p/<i>.html` (libcurl resolves `*.localhost` to
//! loopback itself), hosts interleaved so each holds about N/H. The last stdout line is one
//! JSON object with the figures.

use std::path::{Path, PathBuf};
use std::time::Instant;

use politecrawl::frontier::{self, Candidate, Frontier, Settlement, SledFrontier};
use politecrawl::store::{PageRecord, UrlState};
use politecrawl::{CrawlConfig, OpenMode, ScopeKind, Store};
use url::Url;

/// The crawler's own allocator and settings, so the figures are the crawler's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Args {
    db: PathBuf,
    urls: u64,
    hosts: u64,
    port: u16,
    batch: usize,
    pages: u64,
    body_bytes: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        db: PathBuf::new(),
        urls: 1_000_000,
        hosts: 100_000,
        port: 18490,
        batch: 10_000,
        pages: 0,
        body_bytes: 2048,
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
            "--pages" => a.pages = value.parse().map_err(bad)?,
            "--body-bytes" => a.body_bytes = value.parse().map_err(bad)?,
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
                sitemap: frontier::SitemapRole::Page,
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
    let store_start = Instant::now();
    let stored = store_pages(&store, a).map_err(|e| e.to_string())?;
    let store_secs = store_start.elapsed().as_secs_f64();
    let counters = store.counters().map_err(|e| e.to_string())?;
    politecrawl::status_snapshot::close(store).map_err(|e| e.to_string())?;
    Ok(format!(
        "{{\"urls\":{},\"hosts\":{},\"queued\":{},\"counter_queued\":{},\"seconds\":{:.1},\"insert_rate\":{:.0},\"pages\":{stored},\"store_rate\":{:.0},\"rss_mb\":{:.0},\"disk_mb\":{:.0}}}",
        a.urls,
        a.hosts,
        queued,
        counters.queued,
        secs,
        queued as f64 / secs,
        stored as f64 / store_secs.max(1e-9),
        peak_rss_mb(),
        disk_mb(&a.db)
    ))
}

/// Stores `a.pages` of the queued URLs as fetched, a lease from each origin in turn.
fn store_pages(store: &Store, a: &Args) -> politecrawl::Result<u64> {
    if a.pages == 0 {
        return Ok(0);
    }
    let mut f = SledFrontier::open(store)?;
    // As in a crawl: the flusher makes records durable every 200 ms and drops their `recent`
    // entries.
    let flusher = store.flusher();
    let body = vec![b'x'; a.body_bytes];
    let (origins, _) = frontier::origins_with_work(store, 0, a.hosts as usize)?;
    let start = Instant::now();
    let mut stored = 0u64;
    let mut leases = Vec::new();
    'all: loop {
        let before = stored;
        for (id, _) in &origins {
            if stored >= a.pages {
                break 'all;
            }
            if let Some(l) = f.lease(*id, true)? {
                leases.push(l);
                stored += 1;
            }
            if leases.len() == 64 {
                settle(store, &mut f, &mut leases, &body)?;
            }
            if stored % 250_000 == 0 && stored > before {
                eprintln!(
                    "frontier_scale: {stored} pages stored, {:.0}/s, peak RSS {:.0} MB",
                    stored as f64 / start.elapsed().as_secs_f64(),
                    peak_rss_mb()
                );
            }
        }
        if stored == before {
            break;
        }
    }
    settle(store, &mut f, &mut leases, &body)?;
    drop(flusher);
    store.checkpoint()?;
    store.flush()?;
    Ok(stored)
}

fn settle(
    store: &Store,
    f: &mut SledFrontier<'_>,
    leases: &mut Vec<frontier::Lease>,
    body: &[u8],
) -> politecrawl::Result<()> {
    let records: Vec<(PageRecord, politecrawl::store::bodies::BodyRef)> = leases
        .iter()
        .map(|l| {
            let r = store.write_body(body)?;
            Ok((page_record(&l.entry.url, body.len()), r))
        })
        .collect::<politecrawl::Result<_>>()?;
    let batch: Vec<Settlement<'_>> = leases
        .iter()
        .zip(&records)
        .map(|(lease, (record, r))| Settlement {
            lease,
            record,
            body: Some(r),
            found: &[],
            host: None,
        })
        .collect();
    f.settle(&batch)?;
    leases.clear();
    Ok(())
}

/// A record as a real 200 from nginx gives one.
fn page_record(url: &str, len: usize) -> PageRecord {
    let headers = [
        ("server", "nginx/1.22.1"),
        ("date", "Wed, 02 Dec 2026 22:00:00 GMT"),
        ("content-type", "text/html"),
        ("content-length", "2048"),
        ("last-modified", "Tue, 01 Dec 2026 10:00:00 GMT"),
        ("connection", "keep-alive"),
        ("etag", "\"692d6b80-800\""),
        ("accept-ranges", "bytes"),
    ];
    PageRecord {
        url: url.to_string(),
        final_url: url.to_string(),
        state: UrlState::Done,
        status: Some(200),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        content_type: Some("text/html".into()),
        body_len: len as u64,
        truncated: false,
        body_skipped: false,
        redirect_chain: Vec::new(),
        fetched_at: "2026-12-02T22:00:00Z".into(),
        elapsed_ms: 3,
        depth: 0,
        referrer: None,
        attempts: 1,
        error: None,
        http_version: Some("HTTP/1.1".into()),
        stored_at_us: None,
        version: None,
        links_dropped: 0,
        ip: None,
        duplicate: None,
    }
}

fn main() {
    politecrawl::allocator::tune();
    let result = parse_args().and_then(|a| run(&a));
    match result {
        Ok(json) => println!("{json}"),
        Err(e) => {
            eprintln!("frontier_scale: {e}");
            std::process::exit(1);
        }
    }
}
