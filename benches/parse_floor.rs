//! Parse-floor benchmark: how much CPU one HTML page costs scraper itself, against what the
//! crawler's parse job spends on it. Over every `.html` file under each corpus directory (real
//! HTML no one here wrote: Debian's `python3.11-doc`, `postgresql-doc-15` and `python-django-doc`
//! by default), one thread, bodies already in memory:
//!
//! - **floor**: `scraper::Html::parse_document` plus one walk of `a[href]` (the least a scraper
//!   link extractor can do);
//! - **crawler**: what a worker's parse job does for a page — charset decoding
//!   (`charset::decode_html`) and `extract::extract_links` (scripting off, every link element,
//!   resolution, normalization, dedupe).
//!
//! ```text
//! cargo bench --bench parse_floor                        # the Debian corpora
//! cargo bench --bench parse_floor -- DIR [DIR...]        # any directories of HTML
//! ```
//!
//! Each measurement is the best of `--rounds` (default 5) passes over the corpus, in this
//! thread's CPU time (the crawl is measured in CPU time too, and on a shared machine a pass's
//! wall time counts other processes' turns on the core; the best wall time is printed beside).
//! The last stdout line is one JSON object per corpus.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use politecrawl::{charset, extract};
use url::Url;

const DEFAULT_CORPORA: &[&str] = &[
    "/usr/share/doc/python3.11/html",
    "/usr/share/doc/postgresql-doc-15/html",
    "/usr/share/doc/python-django-doc/html",
];

fn html_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            html_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "html") {
            out.push(p);
        }
    }
}

/// This thread's CPU time (user + system): what the crawl's figures compare against, since
/// the crawl is measured by its process's CPU time. On a machine shared with other work the
/// wall time of a pass counts the time other processes had the core too.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid pointer to a timespec of our own; the clock id is a constant.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// The best CPU time (and the best wall time) of `rounds` runs of `f` over every page.
fn best<T>(
    rounds: usize,
    pages: &[T],
    mut f: impl FnMut(&T) -> usize,
) -> (Duration, usize, Duration) {
    let (mut best, mut best_wall) = (Duration::MAX, Duration::MAX);
    let mut links = 0;
    for _ in 0..rounds {
        let (t, c) = (Instant::now(), thread_cpu());
        links = pages.iter().map(&mut f).sum();
        best = best.min(thread_cpu() - c);
        best_wall = best_wall.min(t.elapsed());
    }
    (best, links, best_wall)
}

fn main() {
    let mut rounds = 5;
    let mut dirs = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bench" => {}
            "--rounds" => rounds = args.next().and_then(|v| v.parse().ok()).unwrap_or(5),
            _ => dirs.push(PathBuf::from(a)),
        }
    }
    if dirs.is_empty() {
        dirs = DEFAULT_CORPORA.iter().map(PathBuf::from).collect();
    }
    let selector = scraper::Selector::parse("a[href]").expect("constant selector");
    let mut results = Vec::new();
    for dir in &dirs {
        let mut files = Vec::new();
        html_files(dir, &mut files);
        files.sort();
        if files.is_empty() {
            eprintln!(
                "{}: no .html files (apt-get install python3.11-doc postgresql-doc-15 python-django-doc)",
                dir.display()
            );
            continue;
        }
        let bodies: Vec<(Url, Vec<u8>)> = files
            .iter()
            .filter_map(|f| {
                let rel = f.strip_prefix(dir).ok()?.to_string_lossy().into_owned();
                let url = Url::parse(&format!("http://docs.test/{rel}")).ok()?;
                Some((url, std::fs::read(f).ok()?))
            })
            .collect();
        let texts: Vec<String> = bodies
            .iter()
            .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
            .collect();
        let bytes: usize = bodies.iter().map(|(_, b)| b.len()).sum();
        let (floor, floor_links, floor_wall) = best(rounds, &texts, |t| {
            let doc = scraper::Html::parse_document(t);
            doc.select(&selector)
                .filter(|a| a.value().attr("href").is_some())
                .count()
        });
        let (crawler, crawler_links, crawler_wall) = best(rounds, &bodies, |(url, body)| {
            let text = charset::decode_html(body, Some("text/html"));
            extract::extract_links(&text, url, false).links.len()
        });
        // Where the difference goes: charset decoding alone, and the parse alone.
        let (decode, _, _) = best(rounds, &bodies, |(_, body)| {
            charset::decode_html(body, Some("text/html")).len()
        });
        let (parse, _, _) = best(rounds, &texts, |t| {
            scraper::Html::parse_document(t).tree.nodes().count()
        });
        let n = bodies.len() as f64;
        let mb = bytes as f64 / 1e6;
        let ms = |d: Duration| d.as_secs_f64() * 1e3 / n;
        println!(
            "{}: {} pages, {:.1} MB ({:.1} KB/page)\n  floor   {:.3} ms/page, {:.1} MB/s ({} a[href])\n  crawler {:.3} ms/page, {:.1} MB/s ({} distinct links kept)\n  crawler / floor = {:.2}\n  of which: charset decoding {:.3} ms/page, parse alone {:.3} ms/page\n  (CPU time of this thread; wall time: floor {:.3}, crawler {:.3} ms/page)",
            dir.display(),
            bodies.len(),
            mb,
            bytes as f64 / n / 1e3,
            ms(floor),
            mb / floor.as_secs_f64(),
            floor_links,
            ms(crawler),
            mb / crawler.as_secs_f64(),
            crawler_links,
            crawler.as_secs_f64() / floor.as_secs_f64(),
            ms(decode),
            ms(parse),
            ms(floor_wall),
            ms(crawler_wall),
        );
        results.push(format!(
            r#"{{"corpus":"{}","pages":{},"bytes":{},"floor_ms_per_page":{:.4},"crawler_ms_per_page":{:.4},"ratio":{:.3},"floor_wall_ms_per_page":{:.4}}}"#,
            dir.display(),
            bodies.len(),
            bytes,
            ms(floor),
            ms(crawler),
            crawler.as_secs_f64() / floor.as_secs_f64(),
            ms(floor_wall)
        ));
    }
    println!("[{}]", results.join(","));
}
