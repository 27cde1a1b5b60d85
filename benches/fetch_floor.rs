//! Fetch-floor benchmark: what fetching alone costs through surf, the HTTP crate the crawler
//! must use, with its curl backend as the crawler builds it: every `.html` file under a corpus
//! directory fetched from a server on loopback (nginx, or `politecrawl serve DIR`), bodies read
//! whole into memory and dropped, nothing parsed or stored. Its CPU per page is what any
//! crawler on surf pays before it parses, to set beside `parse_floor` (scraper's own cost) and
//! the crawl's CPU per page (docs/BENCHMARKS.md, section 9).
//!
//! ```text
//! cargo bench --bench fetch_floor -- --base http://127.0.0.1:PORT --dir /usr/share/doc/python3.11/html [--concurrency 8] [--rounds 3]
//! ```
//!
//! CPU is this process's user+sys (getrusage) over a round; each round fetches every page once,
//! `--concurrency` requests in flight over one shared client (curl's connection cache keeps
//! them alive, as in the crawl). The last stdout line is one JSON object.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The crawler's own allocator, so the figures are the crawler's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Args {
    base: String,
    dir: PathBuf,
    concurrency: usize,
    rounds: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        base: String::new(),
        dir: PathBuf::new(),
        concurrency: 8,
        rounds: 3,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--bench" {
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: std::num::ParseIntError| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--base" => a.base = value.trim_end_matches('/').to_string(),
            "--dir" => a.dir = PathBuf::from(&value),
            "--concurrency" => a.concurrency = value.parse().map_err(bad)?,
            "--rounds" => a.rounds = value.parse().map_err(bad)?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if a.base.is_empty() || a.dir.as_os_str().is_empty() {
        return Err("--base URL and --dir DIR are required".into());
    }
    Ok(a)
}

fn html_files(dir: &Path, root: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.path());
    for e in entries {
        let path = e.path();
        if path.is_dir() {
            html_files(&path, root, out);
        } else if path.extension().is_some_and(|x| x == "html") {
            if let Ok(rel) = path.strip_prefix(root) {
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
}

fn cpu() -> Duration {
    // SAFETY: getrusage fills the struct it is given; nothing else is touched.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(u.ru_utime) + tv(u.ru_stime)
}

fn round(client: &surf::Client, urls: &Arc<Vec<String>>, concurrency: usize) -> (usize, u64) {
    let next = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, urls, next) = (client.clone(), Arc::clone(urls), Arc::clone(&next));
            async_std::task::spawn(async move {
                let (mut pages, mut bytes) = (0usize, 0u64);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(url) = urls.get(i) else { break };
                    match client.get(url).await {
                        Ok(mut resp) => match resp.body_bytes().await {
                            Ok(body) => {
                                pages += 1;
                                bytes += body.len() as u64;
                            }
                            Err(e) => eprintln!("fetch_floor: {url}: {e}"),
                        },
                        Err(e) => eprintln!("fetch_floor: {url}: {e}"),
                    }
                }
                (pages, bytes)
            })
        })
        .collect();
    async_std::task::block_on(async {
        let mut total = (0, 0);
        for t in tasks {
            let (p, b) = t.await;
            total = (total.0 + p, total.1 + b);
        }
        total
    })
}

fn main() {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("fetch_floor: {e}");
            std::process::exit(2);
        }
    };
    let mut rel = Vec::new();
    html_files(&a.dir, &a.dir, &mut rel);
    let urls: Arc<Vec<String>> = Arc::new(
        rel.iter()
            .map(|r| format!("{}/{}", a.base, r.replace(' ', "%20")))
            .collect(),
    );
    let client = surf::Client::new();
    let mut best: Option<(f64, f64, usize, u64)> = None;
    for _ in 0..a.rounds {
        let (c0, t0) = (cpu(), Instant::now());
        let (pages, bytes) = round(&client, &urls, a.concurrency);
        let (cpu_s, wall) = ((cpu() - c0).as_secs_f64(), t0.elapsed().as_secs_f64());
        let ms = 1000.0 * cpu_s / pages.max(1) as f64;
        eprintln!(
            "fetch_floor: {pages} pages, {bytes} bytes, {ms:.3} ms CPU per page, {wall:.2} s wall"
        );
        if best.is_none_or(|b| ms < b.0) {
            best = Some((ms, wall, pages, bytes));
        }
    }
    let (ms, wall, pages, bytes) = best.unwrap_or_default();
    println!(
        "{{\"dir\":{:?},\"pages\":{pages},\"bytes\":{bytes},\"concurrency\":{},\"cpu_ms_per_page\":{ms:.3},\"wall_s\":{wall:.2}}}",
        a.dir.display().to_string(),
        a.concurrency
    );
}
