//! Shared crawls end to end: real worker processes (`crawl --frontier`, `worker`) on a
//! PostgreSQL of the test's own, against loopback origins that record every request, so
//! politeness and exactly-once are asserted from the servers' side and from one export of
//! every worker's store.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use politecrawl::frontier::postgres::shard_of;
use politecrawl::serve::{Request, SiteServer};

use crate::pg::Postgres;
use crate::support::*;

/// Origins that count the requests they answer at once.
pub(crate) struct Origins {
    pub(crate) servers: Vec<SiteServer>,
    peaks: Vec<Arc<AtomicUsize>>,
    pub(crate) pages: usize,
    /// Open unless a test holds page requests at the origins.
    pub(crate) gate: Arc<Gate>,
}

/// Page requests (robots.txt goes through) held at the origins until the test releases them,
/// so a test makes the state it needs certain instead of hoping to catch it in time: the crawl
/// does not run ahead of a worker still starting, and a worker is stopped while it has a
/// request at each of its origins.
#[derive(Default)]
pub(crate) struct Gate {
    state: Mutex<GateState>,
    changed: Condvar,
}

#[derive(Default)]
struct GateState {
    /// Whose page requests are held: `Some(None)` everyone's, `Some(Some(address))` those
    /// sent from that address; `None`: none.
    holding: Option<Option<String>>,
    /// Requests held now (URLs).
    held: Vec<String>,
}

impl Gate {
    /// Holds page requests from `from` (every sender with `None`) from now on.
    pub(crate) fn hold(&self, from: Option<&str>) {
        self.state.lock().unwrap().holding = Some(from.map(str::to_string));
    }

    /// Lets every held request go on.
    pub(crate) fn release(&self) {
        self.state.lock().unwrap().holding = None;
        self.changed.notify_all();
    }

    /// The requests held now.
    pub(crate) fn held(&self) -> Vec<String> {
        self.state.lock().unwrap().held.clone()
    }

    /// Called by an origin for each request: returns once the request may be answered.
    pub(crate) fn pass(&self, r: &Request) {
        if r.path() == "/robots.txt" {
            return;
        }
        let mut st = self.state.lock().unwrap();
        let held = |st: &GateState| match &st.holding {
            None => false,
            Some(None) => true,
            Some(Some(from)) => *from == sender(r),
        };
        if !held(&st) {
            return;
        }
        let url = format!("http://{}{}", r.host.as_deref().unwrap_or("?"), r.target);
        st.held.push(url.clone());
        while held(&st) {
            st = self.changed.wait(st).unwrap();
        }
        st.held.retain(|u| *u != url);
    }
}

impl Origins {
    /// `k` generated sites of `pages` pages (plus `/`), each request taking `delay`.
    pub(crate) fn start(k: usize, pages: usize, delay: Duration) -> Origins {
        Origins::start_where(k, pages, delay, |_| true)
    }

    /// The same, keeping only origins `keep` accepts.
    pub(crate) fn start_where(
        k: usize,
        pages: usize,
        delay: Duration,
        mut keep: impl FnMut(&str) -> bool,
    ) -> Origins {
        let (mut servers, mut peaks) = (Vec::new(), Vec::new());
        let gate = Arc::new(Gate::default());
        while servers.len() < k {
            let (active, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
            let (a, p, g) = (active.clone(), peak.clone(), gate.clone());
            let site = generated(pages, delay, 200);
            let server = route_server(Arc::new(move |r| {
                g.pass(r);
                let now = a.fetch_add(1, Ordering::SeqCst) + 1;
                p.fetch_max(now, Ordering::SeqCst);
                let reply = site(r);
                a.fetch_sub(1, Ordering::SeqCst);
                reply
            }));
            if keep(&server.origin()) {
                servers.push(server);
                peaks.push(peak);
            }
        }
        Origins {
            servers,
            peaks,
            pages,
            gate,
        }
    }

    /// `low` origins whose shard (of 8) is below `boundary` and `high` at or above it, each of
    /// `pages` pages answered in 5 ms: which worker holds which is then known.
    pub(crate) fn split(boundary: i32, (low, high): (usize, usize), pages: usize) -> Origins {
        Origins::split_slow(boundary, (low, high), pages, Duration::from_millis(5))
    }

    /// The same, each request taking `delay`.
    pub(crate) fn split_slow(
        boundary: i32,
        (low, high): (usize, usize),
        pages: usize,
        delay: Duration,
    ) -> Origins {
        let (mut below, mut above) = (0, 0);
        Origins::start_where(low + high, pages, delay, |o| {
            let (n, max) = match shard_of(o, 8) < boundary {
                true => (&mut below, low),
                false => (&mut above, high),
            };
            *n += 1;
            *n <= max
        })
    }

    pub(crate) fn seeds(&self) -> Vec<String> {
        self.servers
            .iter()
            .map(|s| format!("{}/", s.origin()))
            .collect()
    }

    /// Every page URL of every origin, sorted.
    pub(crate) fn all_urls(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .servers
            .iter()
            .flat_map(|s| {
                all_targets(self.pages)
                    .into_iter()
                    .map(move |t| format!("{}{t}", s.origin()))
            })
            .collect();
        all.sort();
        all
    }

    /// Waits until 1/`part` of the pages were requested.
    pub(crate) fn until_requested(&self, part: usize) {
        let want = self.all_urls().len() / part;
        until(&format!("1/{part} of the pages"), || {
            self.requests() >= want
        });
    }

    /// Page requests (not robots.txt) seen, all origins.
    pub(crate) fn requests(&self) -> usize {
        self.servers
            .iter()
            .map(|s| {
                s.requests()
                    .iter()
                    .filter(|r| r.path() != "/robots.txt")
                    .count()
            })
            .sum()
    }

    /// Each origin's requests keep the rate cluster-wide: a request from one worker comes at
    /// least `gap` after the previous one from another (10 % for the server's clock, which
    /// reads a request when its thread gets the CPU); never two at once; and no origin gets
    /// more than its rate over the crawl. Between two requests of one worker, the spacing is
    /// a single crawler's (how exact that is on the wire under full CPU load is the subject of
    /// the broad-crawl issue): at least half the gap.
    pub(crate) fn assert_polite(&self, gap: Duration) {
        for (s, peak) in self.servers.iter().zip(&self.peaks) {
            let mut reqs = s.requests();
            reqs.sort_by_key(|r| r.at);
            let first = reqs.first().map(|r| r.at);
            for w in reqs.windows(2) {
                let apart = w[1].at.duration_since(w[0].at);
                let (a, b) = (sender(&w[0]), sender(&w[1]));
                let least = if a == b { gap / 2 } else { gap * 9 / 10 };
                assert!(
                    apart >= least,
                    "{}: {} (from {a}) and {} (from {b}) started {apart:?} apart ({:?} into the \
                     crawl), the rate allows {gap:?}",
                    s.origin(),
                    w[0].target,
                    w[1].target,
                    first.map(|f| w[0].at.duration_since(f))
                );
            }
            if let (Some(a), Some(b)) = (reqs.first(), reqs.last()) {
                let span = b.at.duration_since(a.at);
                let least = gap * (reqs.len() as u32 - 1) * 9 / 10;
                assert!(
                    span >= least,
                    "{}: {} requests in {span:?}",
                    s.origin(),
                    reqs.len()
                );
            }
            assert_eq!(
                peak.load(Ordering::SeqCst),
                1,
                "{}: in flight at once",
                s.origin()
            );
        }
    }

    /// Requests per URL, robots.txt left out.
    pub(crate) fn counts(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for s in &self.servers {
            for r in s.requests() {
                if r.path() != "/robots.txt" {
                    *counts
                        .entry(format!("{}{}", s.origin(), r.target))
                        .or_insert(0) += 1;
                }
            }
        }
        counts
    }
}

/// Which worker sent a request: each binds its own loopback address (`--bind-address`).
pub(crate) fn sender(r: &politecrawl::serve::Request) -> String {
    r.peer.map_or("?".into(), |p| p.ip().to_string())
}

/// The address worker `name` (`w1`, `w2`, …) sends from.
pub(crate) fn address_of(name: &str) -> String {
    format!("127.0.0.{}", 10 + name[1..].parse::<u8>().unwrap())
}

/// How fast the workers of a test go: the crawl's rate per origin and their shard lease.
#[derive(Clone, Copy)]
pub(crate) struct Pace {
    pub(crate) rate: &'static str,
    pub(crate) lease: &'static str,
    pub(crate) gap: Duration,
}

/// 10 requests/s per origin, 2 s leases: a quick crawl.
pub(crate) const FAST: Pace = Pace {
    rate: "10",
    lease: "2s",
    gap: Duration::from_millis(100),
};

/// 1 request/s per origin, 1 s leases renewed every 333 ms: a shard given back drains for
/// less than the gap, so only the hold after its release and the origin's saved politeness
/// keep the rate across a handoff.
pub(crate) const SLOW: Pace = Pace {
    rate: "1",
    lease: "1s",
    gap: Duration::from_secs(1),
};

/// A worker process, its stderr kept in a file for the assertion messages.
pub(crate) struct Worker {
    pub(crate) child: Child,
    pub(crate) log: PathBuf,
    pub(crate) db: PathBuf,
}

impl Worker {
    pub(crate) fn spawn(dir: &Path, name: &str, args: &[String]) -> Worker {
        let log = dir.join(format!("{name}.log"));
        let db = dir.join(format!("{name}.db"));
        let child = Command::new(BIN)
            .args(args)
            .arg("--db")
            .arg(&db)
            .args(["--bind-address", &address_of(name)])
            .env("RUST_LOG", "info,html5ever=error")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start a worker");
        Worker { child, log, db }
    }

    /// The first worker: creates crawl `name` with the seeds, 8 shards and `pace`.
    pub(crate) fn first(
        dir: &Path,
        pg: &Postgres,
        crawl: &str,
        seeds: &[String],
        pace: Pace,
    ) -> Worker {
        Worker::first_with(dir, pg, crawl, seeds, pace, &[])
    }

    /// The same, with more flags of the crawl (`extra`).
    pub(crate) fn first_with(
        dir: &Path,
        pg: &Postgres,
        crawl: &str,
        seeds: &[String],
        pace: Pace,
        extra: &[&str],
    ) -> Worker {
        let mut args: Vec<String> = vec!["crawl".into()];
        args.extend(seeds.iter().cloned());
        args.extend([
            "--frontier".into(),
            pg.url(),
            "--crawl".into(),
            crawl.into(),
        ]);
        let flags = [
            "--shards",
            "8",
            "--shard-lease",
            pace.lease,
            "--rate",
            pace.rate,
            "--per-host-concurrency",
            "1",
            "--concurrency",
            "8",
            "--no-progress",
        ];
        args.extend(flags.iter().chain(extra).map(|s| s.to_string()));
        Worker::spawn(dir, "w1", &args)
    }

    /// One more worker of crawl `name`.
    pub(crate) fn join(dir: &Path, pg: &Postgres, crawl: &str, name: &str, pace: Pace) -> Worker {
        let args: Vec<String> = [
            "worker",
            "--frontier",
            &pg.url(),
            "--crawl",
            crawl,
            "--shard-lease",
            pace.lease,
            "--no-progress",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        Worker::spawn(dir, name, &args)
    }

    pub(crate) fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for the process to end by itself (at most `limit`); returns its exit code.
    pub(crate) fn wait(&mut self, limit: Duration) -> Option<i32> {
        let until = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            if Instant::now() > until {
                let _ = self.child.kill();
                panic!("worker did not finish in {limit:?}:\n{}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub(crate) fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig}");
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for every worker to end by itself with exit status 0 (each within `secs`).
pub(crate) fn finish(workers: &mut [&mut Worker], secs: u64) {
    for w in workers {
        assert_eq!(w.wait(Duration::from_secs(secs)), Some(0), "{}", w.stderr());
    }
}

/// Waits until `cond` holds (at most 30 s).
pub(crate) fn until(what: &str, cond: impl FnMut() -> bool) {
    until_or(what, cond, String::new);
}

/// [`until`], saying `state()` when it times out.
pub(crate) fn until_or(what: &str, mut cond: impl FnMut() -> bool, state: impl Fn() -> String) {
    let limit = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(
            Instant::now() < limit,
            "timed out waiting for {what}\n{}",
            state()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What the workers of a cluster test said, for a timed-out wait.
pub(crate) fn said(workers: &[&Worker]) -> String {
    let each = workers
        .iter()
        .map(|w| format!("{}:\n{}", w.log.display(), w.stderr()));
    each.collect::<Vec<_>>().join("\n")
}

/// A PostgreSQL of the test's own, a temp dir, and the first worker of crawl `name` on
/// `origins` at `pace`, once the crawl exists (so the others can join it).
pub(crate) fn begin(
    name: &str,
    origins: &Origins,
    pace: Pace,
) -> (Postgres, tempfile::TempDir, Worker) {
    let pg = Postgres::start();
    let dir = tempdir();
    let w1 = Worker::first(dir.path(), &pg, name, &origins.seeds(), pace);
    crawl_created(&pg, name);
    (pg, dir, w1)
}

/// Waits until crawl `name` exists in the shared frontier and its first worker is at work
/// (it has renewed its leases), so it holds every shard and is first in `status`, and a worker
/// joining now takes its shards from it. A worker started sooner could join before the first
/// had finished starting (on a loaded machine it did) and take shards 0–3 itself.
pub(crate) fn crawl_created(pg: &Postgres, name: &str) {
    let url = pg.url();
    until("the crawl to be created", || {
        let Ok(mut c) = postgres::Client::connect(&url, postgres::NoTls) else {
            return false;
        };
        c.query_opt("SELECT 1 FROM crawls WHERE name = $1", &[&name])
            .ok()
            .flatten()
            .is_some()
    });
    until("the first worker to tick", || {
        workers_ticking(pg, name) == 1
    });
}

/// How many workers of crawl `name` have renewed their leases since they joined: they are
/// past their start-up, and the others count them live (a row alone is not: a worker still
/// starting does not tick, and no shard is given to it).
pub(crate) fn workers_ticking(pg: &Postgres, name: &str) -> i64 {
    let Ok(mut c) = postgres::Client::connect(&pg.url(), postgres::NoTls) else {
        return 0;
    };
    c.query_one(
        "SELECT count(*) FROM workers w JOIN crawls c ON c.id = w.crawl
         WHERE c.name = $1 AND w.heartbeat_at > w.started_at",
        &[&name],
    )
    .map_or(0, |r| r.get(0))
}

/// One JSON Lines export of every worker's store: the URLs, sorted.
pub(crate) fn exported(pg: &Postgres, crawl: &str, workers: &[&Worker], cwd: &Path) -> Vec<String> {
    let url = pg.url();
    let mut args = vec!["export", "--frontier", &url[..], "--crawl", crawl];
    let dbs: Vec<String> = workers.iter().map(|w| w.db.display().to_string()).collect();
    for db in &dbs {
        args.extend(["--db", db]);
    }
    let out = run(&args, cwd);
    assert!(out.status.success(), "export: {}", stderr(&out));
    let mut urls: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["url"].as_str().unwrap().to_string()
        })
        .collect();
    urls.sort();
    urls
}

/// `export --format wacz` of a shared crawl, checked with `wacz validate`: the URLs of its
/// index, sorted.
fn exported_wacz(pg: &Postgres, crawl: &str, workers: &[&Worker], cwd: &Path) -> Vec<String> {
    let url = pg.url();
    let mut args = vec!["export", "--frontier", &url[..], "--crawl", crawl];
    let dbs: Vec<String> = workers.iter().map(|w| w.db.display().to_string()).collect();
    for db in &dbs {
        args.extend(["--db", db]);
    }
    args.extend(["--format", "wacz", "--out", "shared.wacz"]);
    let out = run(&args, cwd);
    assert!(out.status.success(), "export: {}", stderr(&out));
    let check = std::process::Command::new("wacz")
        .args(["validate", "-f", "shared.wacz"])
        .current_dir(cwd)
        .output()
        .expect("wacz (pip install wacz; .ci/run installs it)");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    let script = "import sys, zipfile, json\n\
        for l in zipfile.ZipFile(sys.argv[1]).read('indexes/index.cdx').decode().splitlines():\n    \
        print(json.loads(l.split(' ', 2)[2])['url'])";
    let out = std::process::Command::new("python3")
        .args(["-c", script, "shared.wacz"])
        .current_dir(cwd)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let mut urls: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect();
    urls.sort();
    urls
}

/// How many of the crawl's origins are in shards `worker` holds now (none before it joined).
pub(crate) fn origins_held(pg: &Postgres, worker: &Worker) -> i64 {
    let Ok(Some(id)) = politecrawl::cluster::worker::Identity::read(&worker.db) else {
        return 0;
    };
    let id = id.worker;
    let mut c = postgres::Client::connect(&pg.url(), postgres::NoTls).unwrap();
    c.query_one(
        "SELECT count(*) FROM origins o JOIN shards s ON s.crawl = o.crawl AND s.shard = o.shard
         WHERE s.holder = $1 AND s.expires_at > now()",
        &[&id],
    )
    .unwrap()
    .get(0)
}

/// Shards each worker holds now, by worker id, from `status --json`.
pub(crate) fn shards_held(pg: &Postgres, crawl: &str, cwd: &Path) -> Vec<usize> {
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
    v["shared"]["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["shards"].as_array().unwrap().len())
        .collect()
}

#[test]
fn three_workers_on_four_origins_store_every_url_once_and_keep_each_origins_rate() {
    let _timing = exclusive();
    // Two origins in shards the first worker keeps (0–2: with three workers it keeps its
    // lowest three) and two in shards it gives away, so two handoffs happen mid-crawl.
    let origins = Origins::split(3, (2, 2), 12);
    let (pg, dir, mut w1) = begin("four", &origins, SLOW);
    // A worker added mid-crawl: the first has all shards and requests going.
    until("the first requests", || origins.requests() >= 8);
    let mut w2 = Worker::join(dir.path(), &pg, "four", "w2", SLOW);
    let mut w3 = Worker::join(dir.path(), &pg, "four", "w3", SLOW);
    until("the shards to be shared", || {
        let held = shards_held(&pg, "four", dir.path());
        held.len() == 3 && held.iter().all(|n| (2..=3).contains(n))
    });
    finish(&mut [&mut w1, &mut w2, &mut w3], 60);
    // Each ends only once nothing is left anywhere, and its summary says so.
    let n = origins.all_urls().len();
    let all = format!("database: {n} done, 0 failed, 0 blocked, 0 left");
    for w in [&w1, &w2, &w3] {
        assert!(w.stderr().contains(&all), "{all:?} in:\n{}", w.stderr());
    }
    // `status --frontier`: the totals, every worker stopped cleanly, every origin done.
    let out = run(
        &["status", "--frontier", &pg.url(), "--crawl", "four"],
        dir.path(),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let totals = format!("crawl \"four\" (8 shards): 0 queued, {n} done, 0 failed");
    assert!(text.starts_with(&totals), "{text}");
    assert_eq!(text.matches(" stopped ").count(), 3, "{text}");
    assert_eq!(text.matches(" 0 queued, 13 done,").count(), 4, "{text}");
    assert_eq!(
        exported(&pg, "four", &[&w1, &w2, &w3], dir.path()),
        origins.all_urls()
    );
    // A WACZ of the shared crawl: valid, each URL captured once.
    assert_eq!(
        exported_wacz(&pg, "four", &[&w1, &w2, &w3], dir.path()),
        origins.all_urls()
    );
    let counts = origins.counts();
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "requested more than once: {twice:?}");
    assert_eq!(counts.len(), origins.all_urls().len());
    for s in &origins.servers {
        let senders: std::collections::BTreeSet<String> = s.requests().iter().map(sender).collect();
        let moves = shard_of(&s.origin(), 8) >= 3;
        assert_eq!(
            senders.len() > 1,
            moves,
            "{}: sent by {senders:?}",
            s.origin()
        );
    }
    origins.assert_polite(SLOW.gap);
}

#[test]
fn a_killed_worker_s_shards_are_taken_over_and_the_crawl_completes_without_loss() {
    let _timing = exclusive();
    // Three origins in the shards w1 gives away (it keeps 0–2), so w2 or w3 crawls one.
    let origins = Origins::split(3, (1, 3), 96);
    let (pg, dir, mut w1) = begin("kill", &origins, FAST);
    let w2 = Worker::join(dir.path(), &pg, "kill", "w2", FAST);
    let w3 = Worker::join(dir.path(), &pg, "kill", "w3", FAST);
    until("w2 or w3 to hold an origin", || {
        origins_held(&pg, &w2) + origins_held(&pg, &w3) > 0
    });
    origins.until_requested(3);
    let (mut victim, mut other) = match origins_held(&pg, &w2) > 0 {
        true => (w2, w3),
        false => (w3, w2),
    };
    assert!(origins_held(&pg, &victim) > 0, "w2 or w3 holds an origin");
    victim.signal("-KILL");
    let _ = victim.child.wait();
    finish(&mut [&mut w1, &mut other], 60);
    assert_eq!(
        exported(&pg, "kill", &[&w1, &victim, &other], dir.path()),
        origins.all_urls()
    );
    let killed = address_of(victim.log.file_stem().unwrap().to_str().unwrap());
    let by_victim = origins
        .servers
        .iter()
        .flat_map(|s| s.requests())
        .filter(|r| sender(r) == killed)
        .count();
    assert!(by_victim > 0, "the killed worker had crawled");
    // Fetched again: at most what w2 had leased, per origin one request in flight and one
    // outcome waiting for its commit.
    let twice: Vec<_> = origins
        .counts()
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .collect();
    assert!(
        twice.len() <= 8,
        "fetched again beyond the in-flight bound: {twice:?}"
    );
    assert!(twice.iter().all(|(_, n)| *n == 2), "{twice:?}");
    origins.assert_polite(FAST.gap);
    // The totals kept in the commits (one row per worker, the killed one's too) are what
    // counting the tables gives, and `status` shows them.
    let counted = totals_agree(&pg, "kill");
    assert_eq!(counted[0], 0, "nothing left queued");
    assert_eq!(counted[1], origins.all_urls().len() as i64);
    // A crawl of layout 3 (before the totals were kept) is counted once by the upgrade.
    let mut c = postgres::Client::connect(&pg.url(), postgres::NoTls).unwrap();
    c.batch_execute("DROP TABLE totals; UPDATE politecrawl_schema SET version = 3")
        .unwrap();
    let status = run(
        &[
            "status",
            "--frontier",
            &pg.url(),
            "--crawl",
            "kill",
            "--json",
        ],
        dir.path(),
    );
    assert!(status.status.success(), "{}", stderr(&status));
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(v["done"].as_i64(), Some(counted[1]), "{v}");
    assert_eq!(totals_agree(&pg, "kill"), counted);
}

/// The crawl's kept totals (summed over `totals`) against a count of `urls` and `pages`:
/// [queued, done, failed, blocked, bytes], asserted equal.
pub(crate) fn totals_agree(pg: &Postgres, crawl: &str) -> [i64; 5] {
    let mut c = postgres::Client::connect(&pg.url(), postgres::NoTls).unwrap();
    let id: i64 = c
        .query_one("SELECT id FROM crawls WHERE name = $1", &[&crawl])
        .unwrap()
        .get(0);
    let read = |c: &mut postgres::Client, sql: &str| -> [i64; 5] {
        let r = c.query_one(sql, &[&id]).unwrap();
        [0, 1, 2, 3, 4].map(|i| r.get::<_, i64>(i))
    };
    let kept = read(
        &mut c,
        "SELECT coalesce(sum(queued), 0)::bigint, coalesce(sum(done), 0)::bigint,
                coalesce(sum(failed), 0)::bigint, coalesce(sum(blocked), 0)::bigint,
                coalesce(sum(bytes), 0)::bigint FROM totals WHERE crawl = $1",
    );
    let counted = read(
        &mut c,
        "SELECT (SELECT count(*) FROM urls WHERE crawl = $1 AND state < 2),
                (SELECT count(*) FROM pages WHERE crawl = $1 AND latest AND outcome = 0),
                (SELECT count(*) FROM pages WHERE crawl = $1 AND latest AND outcome = 1),
                (SELECT count(*) FROM pages WHERE crawl = $1 AND latest AND outcome > 1),
                (SELECT coalesce(sum(bytes), 0)::bigint FROM pages WHERE crawl = $1 AND latest)",
    );
    assert_eq!(kept, counted, "kept totals against a count of the tables");
    counted
}

#[test]
fn a_worker_stalled_past_its_lease_sends_nothing_for_lost_shards_and_its_commits_are_refused() {
    let _timing = exclusive();
    // Answers slower than the 100 ms gap (one request at a time per origin), two origins in
    // w2's half of the shards (w1 keeps 0–3).
    let origins = Origins::split_slow(4, (2, 2), 24, Duration::from_millis(300));
    // Nothing is crawled before w2 is up (ticking): the crawl (~7 s) would otherwise go on
    // while w2 starts, however long that takes on a loaded machine, and could end before the
    // shards were shared (this wait once timed out so).
    origins.gate.hold(None);
    let (pg, dir, mut w1) = begin("stall", &origins, FAST);
    let mut w2 = Worker::join(dir.path(), &pg, "stall", "w2", FAST);
    until("w2 to tick", || workers_ticking(&pg, "stall") == 2);
    origins.gate.release();
    let shared = || {
        let held = shards_held(&pg, "stall", dir.path());
        held.len() == 2 && held.iter().all(|n| *n == 4)
    };
    until_or("the shards to be shared", shared, || said(&[&w1, &w2]));
    origins.until_requested(4);
    // The stop catches w2 with a request at each of its origins, held there: with one
    // request at a time per origin, none of its requests is then between its lease check and
    // the wire (a stop there sends it after SIGCONT, which once made a duplicate ordered
    // w1-then-w2). Their answers come back after it lost the shards.
    origins.gate.hold(Some(&address_of("w2")));
    until("a request of w2 held at each of its origins", || {
        origins.gate.held().len() == 2
    });
    let in_flight = origins.gate.held();
    w2.signal("-STOP");
    let stopped_at = Instant::now();
    origins.gate.release();
    // Past the 2 s lease: w1 takes every shard and goes on.
    let all = || shards_held(&pg, "stall", dir.path()) == [8, 0];
    until_or("w1 to hold every shard", all, || said(&[&w1, &w2]));
    let seen = origins.requests();
    until("w1 to crawl on", || origins.requests() >= seen + 4);
    w2.signal("-CONT");
    finish(&mut [&mut w1, &mut w2], 60);
    assert!(
        w2.stderr()
            .contains("not committed because their shard had moved"),
        "w2's answers to requests it sent before the stop are refused:\n{}",
        w2.stderr()
    );
    assert_eq!(
        exported(&pg, "stall", &[&w1, &w2], dir.path()),
        origins.all_urls()
    );
    // A URL requested twice was w2's when it stopped (in flight, or answered and not yet
    // committed): its first request came before the stop, and after it only the new holder
    // asked.
    let mut twice = Vec::new();
    for s in &origins.servers {
        let mut by_url: BTreeMap<String, Vec<(Instant, String)>> = BTreeMap::new();
        for r in s
            .requests()
            .into_iter()
            .filter(|r| r.path() != "/robots.txt")
        {
            by_url
                .entry(format!("{}{}", s.origin(), r.target))
                .or_default()
                .push((r.at, sender(&r)));
        }
        for (url, times) in by_url.iter().filter(|(_, t)| t.len() > 1) {
            twice.push(url.clone());
            assert_eq!(times.len(), 2, "{url} requested {} times", times.len());
            assert!(
                times[0].0 < stopped_at,
                "{url}: the first request {:?} after the stop",
                times[0].0.duration_since(stopped_at)
            );
            assert_eq!(
                (times[0].1.as_str(), times[1].1.as_str()),
                ("127.0.0.12", "127.0.0.11"),
                "{url}: first by the stalled worker, then by the one that took its shard over"
            );
        }
    }
    for url in &in_flight {
        assert!(twice.contains(url), "{url} was in flight at w2: {twice:?}");
    }
    origins.assert_polite(FAST.gap);
}

#[test]
fn workers_stop_sending_while_postgresql_is_down_and_continue_without_loss() {
    let _timing = exclusive();
    let origins = Origins::start(2, 24, Duration::from_millis(5));
    let (pg, dir, mut w1) = begin("restart", &origins, FAST);
    let mut w2 = Worker::join(dir.path(), &pg, "restart", "w2", FAST);
    origins.until_requested(4);
    pg.stop();
    let down = Instant::now();
    // The leases' 2 s run out locally: after them (and the requests already on their way),
    // nothing is sent while PostgreSQL is down.
    std::thread::sleep(Duration::from_secs(3));
    let during: usize = origins
        .servers
        .iter()
        .flat_map(|s| s.requests())
        .filter(|r| r.at > down + Duration::from_millis(2_500))
        .count();
    pg.start_again();
    assert_eq!(
        during, 0,
        "requests sent with PostgreSQL down past the lease"
    );
    finish(&mut [&mut w1, &mut w2], 90);
    assert!(
        w1.stderr().contains("lost the shared frontier")
            || w2.stderr().contains("lost the shared frontier"),
        "a worker says it lost PostgreSQL:\n{}\n{}",
        w1.stderr(),
        w2.stderr()
    );
    assert_eq!(
        exported(&pg, "restart", &[&w1, &w2], dir.path()),
        origins.all_urls()
    );
    origins.assert_polite(FAST.gap);
    // Commits sent again after the restart (their answers lost) counted once.
    let counted = totals_agree(&pg, "restart");
    assert_eq!(counted[1], origins.all_urls().len() as i64);
}

#[test]
fn max_pages_is_the_shared_crawls_total_not_each_workers() {
    let _timing = exclusive();
    let pg = Postgres::start();
    // One origin in the shards each worker holds (the first keeps the lower half).
    let origins = Origins::split(4, (1, 1), 24);
    let dir = tempdir();
    let mut args: Vec<String> = vec!["crawl".into()];
    args.extend(origins.seeds());
    let flags = [
        "--frontier",
        &pg.url(),
        "--crawl",
        "budget",
        "--shards",
        "8",
        "--shard-lease",
        "1s",
        "--rate",
        "1",
        "--per-host-concurrency",
        "1",
        "--max-pages",
        "10",
        "--no-progress",
    ];
    args.extend(flags.iter().map(|s| s.to_string()));
    // Nothing is crawled before w2 is up (ticking): alone, w1 spends the budget in ~5 s, which
    // a loaded machine once took to start w2 ("both workers crawled" failed).
    origins.gate.hold(None);
    let mut w1 = Worker::spawn(dir.path(), "w1", &args);
    crawl_created(&pg, "budget");
    let mut w2 = Worker::join(dir.path(), &pg, "budget", "w2", SLOW);
    until("w2 to tick", || workers_ticking(&pg, "budget") == 2);
    origins.gate.release();
    finish(&mut [&mut w1, &mut w2], 60);
    let stored = exported(&pg, "budget", &[&w1, &w2], dir.path()).len();
    let senders: std::collections::BTreeSet<String> = origins
        .servers
        .iter()
        .flat_map(|s| s.requests())
        .map(|r| sender(&r))
        .collect();
    assert_eq!(senders.len(), 2, "both workers crawled: {senders:?}");
    // The total is read at most every 2 s: the other worker's pages of that time (1/s) and
    // one request in flight each can pass it, never each worker's own 10.
    assert!(
        (10..=14).contains(&stored),
        "{stored} pages stored for --max-pages 10"
    );
}

#[test]
fn bad_frontier_input_gets_a_clear_error_and_changes_nothing() {
    let _timing = shared();
    let pg = Postgres::start();
    let dir = tempdir();
    let db = dir.path().join("w.db");
    let db = db.to_str().unwrap();
    let seed = "http://127.0.0.1:9/";
    // `crawl SEED --frontier URL --crawl NAME EXTRA...` as arguments.
    let crawl = |frontier: &str, name: &str, extra: &[&str]| -> Vec<String> {
        let head = ["crawl", seed, "--frontier", frontier, "--crawl", name];
        head.iter().chain(extra).map(|s| s.to_string()).collect()
    };
    let nowhere = format!(
        "postgres://postgres@/crawls?host={}/nowhere",
        dir.path().display()
    );
    let url = pg.url();
    let worker: Vec<String> = ["worker", "--frontier", &url, "--crawl", "nosuch"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let cases: Vec<(Vec<String>, u8, &str)> = vec![
        (crawl("mysql://x/db", "c", &[]), 2, "not a postgres:// URL"),
        (crawl(&nowhere, "c", &[]), 1, "connecting failed"),
        (worker, 1, "no crawl named \"nosuch\""),
        (crawl(&url, "bad name", &[]), 2, "a crawl name is"),
        (
            crawl(&url, "r", &["--recrawl"]),
            2,
            "--recrawl is not supported with --frontier",
        ),
    ];
    for (args, code, says) in cases {
        let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
        args.extend(["--db", db]);
        let out = run(&args, dir.path());
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(code as i32), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!Path::new(db).exists(), "{args:?} made the worker's store");
    }
    let mut c = postgres::Client::connect(&pg.url(), postgres::NoTls).unwrap();
    let n: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(n, 0, "no table made by a refused command");
    // A schema of another version.
    c.batch_execute("CREATE TABLE politecrawl_schema (version integer); INSERT INTO politecrawl_schema VALUES (99)").unwrap();
    let out = run(
        &["status", "--frontier", &pg.url(), "--crawl", "c"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("schema version 99"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_worker_whose_disk_runs_low_stops_with_the_exit_code_of_a_crawl() {
    let _timing = shared();
    let pg = Postgres::start();
    let server = fixture_server();
    let dir = tempdir();
    let seed = format!("{}/", server.origin());
    let args = [
        "crawl",
        &seed,
        "--frontier",
        &pg.url(),
        "--crawl",
        "low",
        "--db",
        "w.db",
        "--min-free-disk",
        "1PB",
        "--no-progress",
        "--report",
        "w.json",
    ];
    let out = run(&args, dir.path());
    let err = stderr(&out);
    // As `crawl` alone: 1, resumable (a worker once said 0 here, as if it had finished).
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("nearly full") && err.contains("once there is room"),
        "{err}"
    );
    // --report works with --frontier: this worker's run, and its own store's status.
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("w.json")).unwrap()).unwrap();
    assert_eq!(report["stop"], "disk_low", "{report}");
    assert_eq!(report["status"]["db"], "w.db", "{report}");
}

#[test]
fn a_worker_sends_the_cookies_it_was_given() {
    let _timing = shared();
    let pg = Postgres::start();
    let server = route_server(Arc::new(|r| match r.path() {
        "/" => Some(politecrawl::serve::Reply::html(r#"<a href="/b">b</a>"#)),
        "/b" => Some(politecrawl::serve::Reply::html("b")),
        _ => None,
    }));
    let dir = tempdir();
    std::fs::write(
        dir.path().join("cookies.txt"),
        "# Netscape HTTP Cookie File\n127.0.0.1\tFALSE\t/\tFALSE\t0\tpre\tset\n",
    )
    .unwrap();
    let seed = format!("{}/", server.origin());
    let args = [
        "crawl",
        &seed,
        "--frontier",
        &pg.url(),
        "--crawl",
        "ck",
        "--db",
        "w.db",
        "--rate",
        "0",
        "--cookies",
        "cookies.txt",
        "--no-progress",
    ];
    let out = run(&args, dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let requests = server.requests();
    let paths: Vec<&str> = requests.iter().map(|r| r.path()).collect();
    assert_eq!(paths, ["/robots.txt", "/", "/b"]);
    for r in &requests {
        assert_eq!(header(r, "cookie"), ["pre=set"], "{}", r.target);
    }
}

/// The rules on fetched pages live in the engine both backends share: a shared crawl's worker
/// leaves a copy's links, a soft 404's links and a closed shape's links unfollowed too.
#[test]
fn a_shared_crawl_applies_duplicate_content_soft_404s_and_pattern_budgets() {
    let _timing = exclusive();
    let server = crate::support::route_server(Arc::new(|r| {
        let path = r.path().to_string();
        let html = |s: String| Some(politecrawl::serve::Reply::html(s));
        match path.as_str() {
            "/" => html(
                r#"<a href="/x/">x</a> <a href="/y/">y</a> <a href="/help/">help</a>
                   <a href="/cal?month=1">calendar</a>"#
                    .into(),
            ),
            "/x/" | "/y/" => html(r#"<p>Same</p><a href="more.html">more</a>"#.into()),
            "/help/" => html(r#"<title>Help</title><a href="/help/a">a</a>"#.into()),
            "/cal" => {
                let n: u32 = r.target.strip_prefix("/cal?month=")?.parse().ok()?;
                html(format!(r#"<a href="/cal?month={}">next</a>"#, n + 1))
            }
            p if p.starts_with("/help/") => html(format!(
                r#"<title>Sorry, we could not find {p}</title><a href="{p}/more">more</a>"#
            )),
            _ => html("a page".into()),
        }
    }));
    let pg = Postgres::start();
    let dir = tempdir();
    let seed = format!("{}/", server.origin());
    let args: Vec<String> = [
        "crawl",
        &seed,
        "--frontier",
        &pg.url(),
        "--crawl",
        "rules",
        "--shards",
        "2",
        "--rate",
        "0",
        "--per-host-concurrency",
        "1",
        "--pattern-budget",
        "5",
        "--max-pages",
        "200",
        "--no-progress",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut w1 = Worker::spawn(dir.path(), "w1", &args);
    finish(&mut [&mut w1], 90);
    let asked: Vec<String> = server
        .requests()
        .into_iter()
        .map(|r| r.target)
        .filter(|t| t != "/robots.txt")
        .collect();
    let has = |t: &str| asked.iter().any(|a| a == t);
    assert!(has("/x/more.html") && !has("/y/more.html"), "{asked:?}");
    assert!(
        asked
            .iter()
            .any(|a| a.starts_with("/help/politecrawl-404-")),
        "{asked:?}"
    );
    assert!(!has("/help/a/more/more/more"), "{asked:?}");
    let months = asked.iter().filter(|a| a.starts_with("/cal?")).count();
    assert!(months <= 7, "{asked:?}");
}

/// `status --json` of one command, parsed.
pub(crate) fn status_json(args: &[&str], cwd: &Path) -> serde_json::Value {
    let mut args = args.to_vec();
    args.push("--json");
    let out = run(&args, cwd);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// An object's keys, sorted.
fn keys(v: &serde_json::Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

#[test]
fn status_json_of_a_shared_crawl_has_the_keys_of_a_crawl_of_its_own_plus_shared() {
    let _timing = exclusive();
    // Two origins of 6 pages and `/`, whose robots.txt disallows one page.
    let servers = (0..2)
        .map(|_| {
            let site = generated(6, Duration::from_millis(5), 200);
            route_server(Arc::new(move |r| match r.path() {
                "/robots.txt" => Some(politecrawl::serve::Reply::new(
                    200,
                    "text/plain",
                    "User-agent: *\nDisallow: /n/3\n",
                )),
                _ => site(r),
            }))
        })
        .collect();
    let origins = Origins {
        servers,
        peaks: Vec::new(),
        pages: 6,
        gate: Arc::default(),
    };
    let (pg, dir, mut w1) = begin("schema", &origins, FAST);
    finish(&mut [&mut w1], 60);
    let frontier = pg.url();
    let shared = status_json(
        &["status", "--frontier", &frontier, "--crawl", "schema"],
        dir.path(),
    );
    // The same origins crawled by a crawl of its own.
    let mut crawl = vec!["crawl"];
    let seeds = origins.seeds();
    crawl.extend(seeds.iter().map(String::as_str));
    crawl.extend(["--db", "own.db", "--rate", "10", "--no-progress"]);
    let out = run(&crawl, dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let own = status_json(&["status", "--db", "own.db"], dir.path());

    // One schema: the same top-level keys, and every host row has the same keys.
    assert_eq!(
        keys(&shared),
        keys(&own),
        "shared:\n{shared:#}\nown:\n{own:#}"
    );
    let rows = |v: &serde_json::Value| v["hosts"].as_array().unwrap().clone();
    let (shared_rows, own_rows) = (rows(&shared), rows(&own));
    assert_eq!(
        (shared_rows.len(), own_rows.len()),
        (2, 2),
        "{shared:#}\n{own:#}"
    );
    let row_keys = keys(&own_rows[0]);
    for r in shared_rows.iter().chain(&own_rows) {
        assert_eq!(keys(r), row_keys, "{r:#}");
    }

    // The same meanings: the totals, and each origin's robots.txt verdict and the URLs it
    // blocked, which the shared crawl reads from PostgreSQL.
    let n = origins.all_urls().len() as u64 - 2;
    for v in [&shared, &own] {
        let totals = ["done", "blocked", "queued"].map(|k| v[k].as_u64().unwrap());
        assert_eq!(totals, [n, 2, 0], "{v:#}");
        assert_eq!(v["seeds"].as_array().unwrap().len(), 2);
        assert_eq!(v["settings"]["rate"], 10.0, "{v:#}");
        for r in rows(v) {
            assert_eq!(r["robots"], "rules", "{r:#}");
            assert!(r["robots_detail"].is_null(), "{r:#}");
            assert_eq!(r["blocked"], 1, "{r:#}");
        }
    }
    // What only one kind of crawl can tell is null in the other.
    assert!(own["db"].is_string() && shared["db"].is_null());
    assert!(own["by_status"]["200"].as_u64() == Some(n) && shared["by_status"].is_null());
    assert!(own["shared"].is_null());
    assert_eq!(shared["shared"]["crawl"], "schema");
    assert_eq!(shared["shared"]["shards"], 8);
    assert_eq!(shared["shared"]["hosts_total"], 2);
    assert_eq!(shared["shared"]["workers"][0]["state"], "stopped");
    for r in &shared_rows {
        assert!(r["shard"].is_number(), "{r:#}");
        assert_eq!(
            (r["queued"].as_u64(), r["done"].as_u64()),
            (Some(0), Some(n / 2))
        );
    }
    for r in &own_rows {
        assert!(r["shard"].is_null() && r["holder"].is_null() && r["done"].is_null());
    }

    // The text reads well for both: a shared crawl's name, workers and origins; a crawl of
    // its own's database and politeness per origin.
    let text = |args: &[&str]| {
        let out = run(args, dir.path());
        assert!(out.status.success(), "{}", stderr(&out));
        String::from_utf8(out.stdout).unwrap()
    };
    let shared_text = text(&["status", "--frontier", &frontier, "--crawl", "schema"]);
    let head = format!("crawl \"schema\" (8 shards): 0 queued, {n} done, 0 failed, 2 blocked");
    assert!(shared_text.starts_with(&head), "{shared_text}");
    assert!(shared_text.contains("\nworkers:\n  "), "{shared_text}");
    assert_eq!(shared_text.matches(" stopped ").count(), 1, "{shared_text}");
    assert!(
        shared_text.contains("\nhosts (2 of 2, most work first):\n"),
        "{shared_text}"
    );
    let per_host = format!(": 0 queued, {} done, 0 failed; robots: rules", n / 2);
    assert_eq!(shared_text.matches(&per_host).count(), 2, "{shared_text}");
    assert_eq!(
        shared_text.matches(", 1 blocked\n").count(),
        2,
        "{shared_text}"
    );
    let own_text = text(&["status", "--db", "own.db"]);
    assert_eq!(own_text.matches(", 1 blocked\n").count(), 2, "{own_text}");
    assert!(own_text.starts_with("database  own.db\n"), "{own_text}");
    assert!(
        own_text.contains("\npoliteness (per origin):\n"),
        "{own_text}"
    );
    assert_eq!(own_text.matches("  robots: rules").count(), 2, "{own_text}");
}
