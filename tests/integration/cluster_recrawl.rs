//! `--retry-failed` with `--frontier`: the failed URLs of a crawl shared by three workers
//! queued again as one round of the crawl's (planned by one worker, joined by the others, and
//! by a worker killed with kill -9 and restarted), asserted from the origins' request logs,
//! PostgreSQL's rounds and one export of every worker's store; and a database of the first
//! layout upgraded, then retried.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use politecrawl::serve::{Reply, SiteServer};

use crate::cluster_crawl::{
    address_of, crawl_created, finish, said, sender, until, until_or, Gate, Worker, FAST,
};
use crate::pg::Postgres;
use crate::support::*;

/// Pages of each origin that answer 200 from the start.
const FINE: usize = 6;
/// Pages that answer 404 until the site is mended (the first one stays 404 after it: asked early
/// in a round, so a round planned twice would ask it a third time).
const FAILING: usize = 10;
/// Pages that redirect to themselves until the site is mended (`redirect_loop`).
const LOOPS: usize = 2;

/// Origins whose `/` links `FINE` pages, `FAILING` pages under `/f/` and `LOOPS` under
/// `/loop/`, with one switch that mends the failing ones, and a gate the test can hold page
/// requests at.
struct Site {
    servers: Vec<SiteServer>,
    mended: Arc<AtomicBool>,
    gate: Arc<Gate>,
}

impl Site {
    fn start(k: usize) -> Site {
        let mended = Arc::new(AtomicBool::new(false));
        let gate = Arc::new(Gate::default());
        let servers = (0..k)
            .map(|_| {
                let (m, g) = (mended.clone(), gate.clone());
                route_server(Arc::new(move |r| {
                    g.pass(r);
                    let fixed = m.load(Ordering::SeqCst);
                    let path = r.path().to_string();
                    if path == "/" {
                        let links: String = (0..FINE)
                            .map(|i| format!(r#"<a href="/p/{i}">p</a>"#))
                            .chain((0..FAILING).map(|i| format!(r#"<a href="/f/{i}">f</a>"#)))
                            .chain((0..LOOPS).map(|i| format!(r#"<a href="/loop/{i}">l</a>"#)))
                            .collect();
                        return Some(Reply::html(links));
                    }
                    if path.starts_with("/f/") && (!fixed || path == "/f/0") {
                        return Some(Reply::new(404, "text/html", "not here"));
                    }
                    if path.starts_with("/loop/") && !fixed {
                        return Some(Reply::redirect(301, &path));
                    }
                    (path != "/robots.txt")
                        .then(|| Reply::html("<p>a page</p>").delayed(Duration::from_millis(20)))
                }))
            })
            .collect();
        Site {
            servers,
            mended,
            gate,
        }
    }

    fn seeds(&self) -> Vec<String> {
        self.servers
            .iter()
            .map(|s| format!("{}/", s.origin()))
            .collect()
    }

    /// Every page URL whose path starts with `prefix`, sorted.
    fn urls(&self, prefix: &str) -> Vec<String> {
        let mut paths = vec!["/".to_string()];
        paths.extend((0..FINE).map(|i| format!("/p/{i}")));
        paths.extend((0..FAILING).map(|i| format!("/f/{i}")));
        paths.extend((0..LOOPS).map(|i| format!("/loop/{i}")));
        let mut all: Vec<String> = self
            .servers
            .iter()
            .flat_map(|s| {
                paths
                    .iter()
                    .filter(|p| p.starts_with(prefix))
                    .map(move |p| format!("{}{p}", s.origin()))
            })
            .collect();
        all.sort();
        all
    }

    /// Page requests so far (robots.txt left out): URL → the address of each sender.
    fn requests(&self) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for s in &self.servers {
            for r in s.requests() {
                if r.path() != "/robots.txt" {
                    let url = format!("{}{}", s.origin(), r.target);
                    out.entry(url).or_default().push(sender(&r));
                }
            }
        }
        out
    }

    /// The requests made since `before` was taken.
    fn since(&self, before: &BTreeMap<String, Vec<String>>) -> BTreeMap<String, Vec<String>> {
        let mut now = self.requests();
        for (url, senders) in now.iter_mut() {
            let n = before.get(url).map_or(0, Vec::len);
            senders.drain(..n);
        }
        now.retain(|_, s| !s.is_empty());
        now
    }
}

/// `crawl --frontier … --crawl NAME --retry-failed [extra]`, with no seeds, as worker `name`.
fn retrying(dir: &Path, pg: &Postgres, crawl: &str, name: &str, extra: &[&str]) -> Worker {
    let mut args: Vec<String> = [
        "crawl",
        "--frontier",
        &pg.url(),
        "--crawl",
        crawl,
        "--retry-failed",
        "--shard-lease",
        FAST.lease,
        "--no-progress",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    Worker::spawn(dir, name, &args)
}

/// `status --frontier … --json`: (done, failed).
fn totals(pg: &Postgres, crawl: &str, cwd: &Path) -> (u64, u64) {
    let out = run(
        &[
            "status",
            "--frontier",
            &pg.url(),
            "--crawl",
            crawl,
            "--json",
        ],
        cwd,
    );
    assert!(out.status.success(), "status: {}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    (v["done"].as_u64().unwrap(), v["failed"].as_u64().unwrap())
}

/// One JSON Lines export of the workers' stores with `--versions versions`: (URL, status) of
/// each record, sorted.
fn records(
    pg: &Postgres,
    crawl: &str,
    workers: &[&Worker],
    versions: &str,
    cwd: &Path,
) -> Vec<(String, u64)> {
    let url = pg.url();
    let mut args = vec!["export", "--frontier", &url[..], "--crawl", crawl];
    let dbs: Vec<String> = workers.iter().map(|w| w.db.display().to_string()).collect();
    for db in &dbs {
        args.extend(["--db", db]);
    }
    args.extend(["--versions", versions]);
    let out = run(&args, cwd);
    assert!(out.status.success(), "export: {}", stderr(&out));
    let mut recs: Vec<(String, u64)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let status = v["status"].as_u64().unwrap_or(0);
            (v["url"].as_str().unwrap().to_string(), status)
        })
        .collect();
    recs.sort();
    recs
}

/// A PostgreSQL of the test's own and a shared crawl of `site` by three workers, finished.
fn crawled(name: &str, site: &Site) -> (Postgres, tempfile::TempDir, [Worker; 3]) {
    let pg = Postgres::start();
    let dir = tempdir();
    let mut w1 = Worker::first(dir.path(), &pg, name, &site.seeds(), FAST);
    crawl_created(&pg, name);
    let mut w2 = Worker::join(dir.path(), &pg, name, "w2", FAST);
    let mut w3 = Worker::join(dir.path(), &pg, name, "w3", FAST);
    finish(&mut [&mut w1, &mut w2, &mut w3], 60);
    (pg, dir, [w1, w2, w3])
}

/// The crawl's rounds in PostgreSQL: (round, URLs queued).
fn rounds(pg: &Postgres) -> Vec<(i32, i64)> {
    let mut c = postgres::Client::connect(&pg.url(), postgres::NoTls).unwrap();
    c.query("SELECT round, queued FROM rounds ORDER BY round", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

#[test]
fn retry_failed_with_three_workers_and_a_kill_9_requests_each_failed_url_once_more() {
    let _timing = exclusive();
    let site = Site::start(3);
    let (pg, dir, [w1, w2, w3]) = crawled("retry", &site);
    let (fine, failing, loops) = (
        site.urls("/p/").len() + 3,
        site.urls("/f/"),
        site.urls("/loop/"),
    );
    let failed = failing.len() + loops.len();
    assert_eq!(
        totals(&pg, "retry", dir.path()),
        (fine as u64, failed as u64)
    );
    drop((w1, w2, w3));
    site.mended.store(true, Ordering::SeqCst);

    // Of one kind: the redirect loops only, each once, whichever worker plans the round.
    let before = site.requests();
    let mut ws: Vec<Worker> = ["w1", "w2", "w3"]
        .iter()
        .map(|n| retrying(dir.path(), &pg, "retry", n, &["--kind", "redirect_loop"]))
        .collect();
    finish(&mut ws.iter_mut().collect::<Vec<_>>(), 60);
    let asked = site.since(&before);
    assert_eq!(asked.keys().cloned().collect::<Vec<_>>(), loops);
    assert!(asked.values().all(|s| s.len() == 1), "{asked:?}");
    assert_eq!(rounds(&pg), [(1, loops.len() as i64)]);
    drop(ws);

    // Every kind, three workers; one killed mid-round (its requests held at the origins, so
    // the round is certainly unfinished) and restarted with the same flags: it joins the
    // round, it does not plan another.
    // The page requests are held until all three have planned or joined, so none finds the
    // round finished and plans another.
    let before = site.requests();
    site.gate.hold(None);
    let mut ws: Vec<Worker> = ["w1", "w2", "w3"]
        .iter()
        .map(|n| retrying(dir.path(), &pg, "retry", n, &[]))
        .collect();
    until_or(
        "the three to plan or join",
        || ws.iter().all(|w| w.stderr().contains("--retry-failed:")),
        || said(&ws.iter().collect::<Vec<_>>()),
    );
    let planned = ws
        .iter()
        .filter(|w| w.stderr().contains("queued again (round 2)"))
        .count();
    assert_eq!(planned, 1, "{}", said(&ws.iter().collect::<Vec<_>>()));
    site.gate.release();
    until_or(
        "a third of the round",
        || site.since(&before).len() >= failing.len() / 3,
        || said(&ws.iter().collect::<Vec<_>>()),
    );
    site.gate.hold(None);
    let by = |name: &str| {
        let a = address_of(name);
        site.since(&before)
            .values()
            .flatten()
            .filter(|s| **s == a)
            .count()
    };
    let victim = (0..3).max_by_key(|i| by(&format!("w{}", i + 1))).unwrap();
    let name = format!("w{}", victim + 1);
    ws[victim].signal("-KILL");
    let _ = ws[victim].child.wait();
    // What the killed worker had asked for this round: only those may be asked twice.
    let killed = address_of(&name);
    let by_victim: Vec<String> = site
        .since(&before)
        .into_iter()
        .filter(|(_, s)| s.contains(&killed))
        .map(|(u, _)| u)
        .collect();
    ws[victim] = retrying(dir.path(), &pg, "retry", &name, &[]);
    until("the restarted worker to plan or join", || {
        ws[victim].stderr().contains("--retry-failed:")
    });
    assert!(
        ws[victim]
            .stderr()
            .contains("round 2 of crawl \"retry\" is not finished"),
        "{}",
        ws[victim].stderr()
    );
    site.gate.release();
    finish(&mut ws.iter_mut().collect::<Vec<_>>(), 60);

    // The server's side: each failed URL asked again, a second time only if the killed worker
    // had it in flight; nothing else asked.
    let asked = site.since(&before);
    assert_eq!(asked.keys().cloned().collect::<Vec<_>>(), failing);
    let twice: Vec<_> = asked.iter().filter(|(_, s)| s.len() > 1).collect();
    assert!(
        twice.len() <= 8,
        "asked again beyond the in-flight bound: {twice:?}"
    );
    assert!(
        twice
            .iter()
            .all(|(u, s)| s.len() == 2 && by_victim.contains(u)),
        "{twice:?}, the killed worker had asked {by_victim:?}"
    );
    assert_eq!(
        rounds(&pg),
        [(1, loops.len() as i64), (2, failing.len() as i64)]
    );
    // The crawl's totals and its export count each URL's latest record.
    let still = site.urls("/f/0");
    let total = fine + failed;
    assert_eq!(
        totals(&pg, "retry", dir.path()),
        ((total - still.len()) as u64, still.len() as u64)
    );
    // Kept in the commits (the round's planner and each worker), they agree with a count.
    crate::cluster_crawl::totals_agree(&pg, "retry");
    let all: Vec<&Worker> = ws.iter().collect();
    let latest = records(&pg, "retry", &all, "latest", dir.path());
    assert_eq!(latest.len(), total, "{latest:?}");
    for (url, status) in &latest {
        let want = if still.contains(url) { 404 } else { 200 };
        assert_eq!(*status, want, "{url}");
    }
    let every = records(&pg, "retry", &all, "all", dir.path());
    assert_eq!(every.len(), total + failed, "each fetch once: {every:?}");
}

#[test]
fn a_shared_crawl_of_the_first_layout_is_upgraded_and_its_failures_retried() {
    let _timing = exclusive();
    let site = Site::start(1);
    let (pg, dir, [w1, w2, w3]) = crawled("old", &site);
    drop((w1, w2, w3));
    // The database as the first layout left it (the version 2 additions taken out).
    let mut c = postgres::Client::connect(&pg.url(), postgres::NoTls).unwrap();
    c.batch_execute(
        "ALTER TABLE pages DROP COLUMN kind, DROP COLUMN latest;
         ALTER TABLE urls DROP COLUMN round;
         DROP TABLE rounds;
         UPDATE politecrawl_schema SET version = 1;",
    )
    .unwrap();
    site.mended.store(true, Ordering::SeqCst);
    let before = site.requests();
    let mut w = retrying(dir.path(), &pg, "old", "w1", &[]);
    finish(&mut [&mut w], 60);
    let version: i32 = c
        .query_one("SELECT version FROM politecrawl_schema", &[])
        .unwrap()
        .get(0);
    assert_eq!(version, politecrawl::frontier::postgres::schema::VERSION);
    let mut asked: Vec<String> = site.since(&before).into_keys().collect();
    asked.sort();
    let mut failed = site.urls("/f/");
    failed.extend(site.urls("/loop/"));
    failed.sort();
    assert_eq!(asked, failed);
    let (done, still) = totals(&pg, "old", dir.path());
    assert_eq!((done, still), ((site.urls("").len() - 1) as u64, 1));
}
