//! Loads a shared crawl's PostgreSQL frontier in bulk, as `frontier_scale` loads sled's: a crawl
//! named `--crawl` with N queued URLs over H hosts (nothing fetched), created through the
//! crawler's own calls (tables, crawl, shards, origins) and its `urls` rows written with one
//! `COPY`, so that `scripts/bench/pg_scale.py` can measure what a worker's periodic work, its
//! start and `status --frontier` cost at that size.
//!
//! ```text
//! cargo bench --bench pg_scale -- --frontier URL --crawl NAME --urls 1000000 --hosts 100000 --port P
//! ```
//!
//! URLs are `http://h<k>.localhost:<port>/p/<i>.html` (libcurl resolves `*.localhost` to
//! loopback), hosts interleaved. The crawl's settings: `--scope any`, `--rate 0`,
//! `--allow-private`, `--ignore-robots` (one robots.txt per host would be most of a short
//! run's requests). The last stdout line is one JSON object with the figures.

use std::io::Write;
use std::time::Instant;

use politecrawl::cluster::crawls;
use politecrawl::frontier::entry::{encode_entry, QueueEntry};
use politecrawl::frontier::postgres::connect::FrontierUrl;
use politecrawl::frontier::postgres::queue::{state, SharedQueue};
use politecrawl::{CrawlConfig, ScopeKind};

struct Args {
    frontier: String,
    crawl: String,
    urls: u64,
    hosts: u64,
    port: u16,
    shards: i32,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        frontier: String::new(),
        crawl: "scale".into(),
        urls: 1_000_000,
        hosts: 100_000,
        port: 18491,
        shards: 64,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--bench" {
            continue; // passed by `cargo bench`
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: std::num::ParseIntError| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--frontier" => a.frontier = value,
            "--crawl" => a.crawl = value,
            "--urls" => a.urls = value.parse().map_err(bad)?,
            "--hosts" => a.hosts = value.parse().map_err(bad)?,
            "--port" => a.port = value.parse().map_err(bad)?,
            "--shards" => a.shards = value.parse().map_err(bad)?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if a.frontier.is_empty() {
        return Err("--frontier URL is required".into());
    }
    if a.hosts == 0 || a.urls < a.hosts {
        return Err("need --urls >= --hosts >= 1".into());
    }
    Ok(a)
}

fn origin_of(k: u64, a: &Args) -> String {
    format!("http://h{k}.localhost:{}", a.port)
}

fn run(a: &Args) -> Result<String, Box<dyn std::error::Error>> {
    let url = FrontierUrl::parse(&a.frontier)?;
    let mut client = url.connect()?;
    let seed = format!("{}/p/0.html", origin_of(0, a));
    let mut config = CrawlConfig::new(std::path::Path::new("unused"), &[seed.as_str()])?;
    config.scope = ScopeKind::Any;
    config.rate = 0.0;
    config.allow_private = true;
    config.ignore_robots = true;
    let (crawl, _) = crawls::create(&mut client, &url, &a.crawl, &config, a.shards)?;
    let mut queue = SharedQueue::new(crawl.id, crawl.shards);

    let start = Instant::now();
    // Origins through the crawler's own call (ids and shards as a worker assigns them).
    let origins: Vec<String> = (0..a.hosts).map(|k| origin_of(k, a)).collect();
    let mut ids = Vec::with_capacity(origins.len());
    for chunk in origins.chunks(10_000) {
        let mut tx = client.transaction()?;
        let names: Vec<&str> = chunk.iter().map(String::as_str).collect();
        ids.extend(queue.origin_ids(&mut tx, &url, &names)?);
        tx.commit()?;
    }
    let shards: Vec<i32> = origins.iter().map(|o| queue.shard_of(o)).collect();

    let mut copy =
        client.copy_in("COPY urls (crawl, url, shard, origin, depth, state, entry) FROM STDIN")?;
    let mut line = Vec::with_capacity(256);
    for i in 0..a.urls {
        let k = (i % a.hosts) as usize;
        let u = format!("{}/p/{}.html", origins[k], i / a.hosts);
        let entry = encode_entry(&QueueEntry::new(u.as_str(), 0));
        line.clear();
        write!(
            line,
            "{}\t{u}\t{}\t{}\t0\t{}\t\\\\x",
            crawl.id,
            shards[k],
            ids[k],
            state::QUEUED
        )?;
        for b in entry {
            write!(line, "{b:02x}")?;
        }
        line.push(b'\n');
        copy.write_all(&line)?;
        if (i + 1) % 1_000_000 == 0 {
            eprintln!(
                "pg_scale: {} rows written, {:.0}/s",
                i + 1,
                (i + 1) as f64 / start.elapsed().as_secs_f64()
            );
        }
    }
    let rows = copy.finish()?;
    // The crawl's kept totals, as the crawler's own queueing would have left them (the
    // `''` row, as an upgrade fills it).
    let queued = politecrawl::frontier::postgres::queue::Delta {
        queued: rows as i64,
        ..Default::default()
    };
    let mut tx = client.transaction()?;
    politecrawl::frontier::postgres::queue::bump_totals(&mut tx, &url, crawl.id, "", &queued)?;
    tx.commit()?;
    let secs = start.elapsed().as_secs_f64();
    client.batch_execute("ANALYZE")?;
    Ok(format!(
        "{{\"urls\":{},\"hosts\":{},\"rows\":{rows},\"seconds\":{secs:.1},\"rate\":{:.0}}}",
        a.urls,
        a.hosts,
        rows as f64 / secs
    ))
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("pg_scale: {e}");
            std::process::exit(2);
        }
    };
    match run(&args) {
        Ok(json) => println!("{json}"),
        Err(e) => {
            eprintln!("pg_scale: {e}");
            std::process::exit(1);
        }
    }
}
