//! Interruptions of the real binary (kill -9 at random points, SIGTERM, Ctrl-C, a full disk) and
//! resumes, checked against the server's request log and the store.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use politecrawl::frontier;
use politecrawl::serve::{Reply, Request, SiteServer};
use politecrawl::store::UrlState;
use politecrawl::ErrorKind;
use politecrawl::{CrawlConfig, OpenMode, StopSignal, Store};

use crate::support::*;

fn spawn_crawl(args: &[&str], cwd: &Path) -> Child {
    Command::new(BIN)
        .arg("crawl")
        .args(args)
        .current_dir(cwd)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start politecrawl")
}

fn page_count(server: &SiteServer) -> usize {
    page_requests(server).len()
}

/// Waits (bounded) until the server has seen `n` page requests or the child exited.
fn wait_for_requests(server: &SiteServer, n: usize, child: &mut Child) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while page_count(server) < n {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        assert!(Instant::now() < deadline, "crawl made no progress");
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

#[test]
fn kill_9_at_random_points_loses_nothing_and_stores_each_page_once() {
    let _timing = shared();
    const PAGES: usize = 500;
    const CONCURRENCY: usize = 8;
    let seed = std::env::var("POLITECRAWL_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..)); // a new seed each run; a failure prints it
    let mut rng = fastrand::Rng::with_seed(seed);
    let server = route_server(Arc::new(generated(PAGES, Duration::from_millis(1), 500)));
    let dir = tempdir();
    let seed_url = format!("{}/", server.origin());
    let conc = CONCURRENCY.to_string();
    let mut kills = Vec::new(); // (instant of the kill, requests seen in the window before it)
    let mut first = true;
    for round in 0.. {
        assert!(round < 400, "seed {seed}: the crawl never finished");
        let mut args = vec![
            "--db",
            "kill.db",
            "--rate",
            "0",
            "--concurrency",
            &conc,
            "--per-host-concurrency",
            &conc,
        ];
        if first {
            args.insert(0, &seed_url);
        }
        let mut child = spawn_crawl(&args, dir.path());
        // At most 24 new pages per run: 500 pages take at least 21 kills.
        let target = page_count(&server) + rng.usize(3..=24);
        if !wait_for_requests(&server, target, &mut child) {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "seed {seed}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            break;
        }
        child.kill().unwrap(); // SIGKILL
        let at = Instant::now();
        child.wait().unwrap();
        first = false;
        let window = politecrawl::store::FLUSH_EVERY + Duration::from_millis(150);
        let recent = page_requests(&server)
            .iter()
            .filter(|r| at.duration_since(r.at) <= window)
            .count();
        kills.push(recent);
    }
    assert!(kills.len() >= 20, "seed {seed}: only {} kills", kills.len());

    let store = Store::open(&dir.path().join("kill.db"), OpenMode::Existing).unwrap();
    let pages = stored(&store, &server.origin());
    let keys: Vec<String> = pages.keys().cloned().collect();
    assert_eq!(
        keys,
        all_targets(PAGES),
        "seed {seed}: every page stored, exactly once"
    );
    assert!(
        pages.values().all(|r| r.state == UrlState::Done),
        "seed {seed}"
    );
    let counts: BTreeMap<String, usize> = request_counts(&server);
    assert_eq!(counts.len(), PAGES + 1, "seed {seed}: every page requested");
    let re_requests: usize = counts.values().map(|n| n - 1).sum();
    // A kill can cost the leases in flight and the outcomes not yet flushed: those URLs are
    // fetched again, nothing else.
    let bound: usize = kills.iter().map(|recent| CONCURRENCY + recent).sum();
    assert!(
        re_requests <= bound,
        "seed {seed}: {re_requests} re-requests over {} kills, bound {bound}",
        kills.len()
    );
    assert_eq!(
        store.counters().unwrap(),
        frontier::recount(&store).unwrap(),
        "seed {seed}: counters agree"
    );
    assert_tallies_true(&store);
    eprintln!(
        "kill -9 test: seed {seed}, {} kills, {re_requests} re-requests (bound {bound})",
        kills.len()
    );
}

fn signal_stop_then_resume(signal: &str, code: i32) {
    const PAGES: usize = 120;
    let server = route_server(Arc::new(generated(PAGES, Duration::from_millis(20), 100)));
    let dir = tempdir();
    let seed = format!("{}/", server.origin());
    let mut child = spawn_crawl(
        &[
            &seed,
            "--db",
            "sig.db",
            "--rate",
            "0",
            "--concurrency",
            "4",
            "--per-host-concurrency",
            "4",
        ],
        dir.path(),
    );
    assert!(wait_for_requests(&server, 30, &mut child));
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{signal}: {err}");
    assert!(
        err.contains("to resume: politecrawl crawl --db sig.db"),
        "{err}"
    );
    let before = page_count(&server);
    assert!(before < PAGES, "stopped early ({before} of {PAGES})");

    let out = run(&["crawl", "--db", "sig.db"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("resumed the crawl in sig.db"));
    let counts = request_counts(&server);
    assert_eq!(counts.len(), PAGES + 1);
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "{signal}: fetched again after a clean stop: {twice:?}"
    );
    let robots = server
        .requests()
        .iter()
        .filter(|r| r.path() == "/robots.txt")
        .count();
    assert_eq!(robots, 1, "robots.txt is not fetched again on resume");

    let out = run(&["crawl", "--db", "sig.db"], dir.path());
    assert!(out.status.success());
    assert!(
        stderr(&out).contains("nothing left to do"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sigterm_stops_cleanly_and_the_resume_fetches_nothing_twice() {
    let _timing = shared();
    signal_stop_then_resume("-TERM", 143);
}

#[test]
fn ctrl_c_stops_cleanly_and_the_resume_fetches_nothing_twice() {
    let _timing = shared();
    signal_stop_then_resume("-INT", 130);
}

#[test]
fn a_resume_keeps_saved_settings_and_records_overrides() {
    let _timing = shared();
    let server = route_server(Arc::new(generated(60, Duration::ZERO, 10)));
    let dir = tempdir();
    let seed = format!("{}/", server.origin());
    let out = run(
        &[
            "crawl",
            &seed,
            "--db",
            "s.db",
            "--rate",
            "0",
            "--exclude",
            "/n/1[0-9]$",
            "--max-pages",
            "10",
        ],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(page_count(&server), 10);
    let out = run(
        &["crawl", "--db", "s.db", "--max-pages", "1000"],
        dir.path(),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("with --max-pages=1000 (recorded)"), "{err}");
    let requested = page_requests(&server);
    let excluded_hit = requested.iter().any(|r| {
        r.path()
            .strip_prefix("/n/")
            .and_then(|i| i.parse::<usize>().ok())
            .is_some_and(|i| (10..20).contains(&i))
    });
    assert!(!excluded_hit, "the saved --exclude still applies");
    // Pages reachable without passing through an excluded one (/n/10 … /n/19).
    let excluded = |i: usize| (10..20).contains(&i);
    let (mut seen, mut todo) = (vec![false; 60], vec![0usize]);
    while let Some(i) = todo.pop() {
        if excluded(i) || std::mem::replace(&mut seen[i], true) {
            continue;
        }
        todo.extend([(i + 1) % 60, (i * 7 + 3) % 60, (i * 13 + 5) % 60]);
    }
    let reachable = 1 + seen.iter().filter(|s| **s).count();
    assert_eq!(
        page_count(&server),
        reachable,
        "the whole allowed site, each page once"
    );
    let store = Store::open(&dir.path().join("s.db"), OpenMode::Existing).unwrap();
    let saved: CrawlConfig = store.load_config().unwrap().unwrap();
    assert_eq!(
        (saved.rate, saved.exclude.clone()),
        (0.0, vec!["/n/1[0-9]$".to_string()])
    );
    assert_eq!(saved.max_pages, Some(1000));
    drop(store);
    let out = run(&["status", "--db", "s.db", "--json"], dir.path());
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["overrides"][0]["changes"][0], "--max-pages=1000");
}

#[test]
fn a_resume_keeps_attempts_and_host_back_off() {
    let _timing = shared();
    let stop = StopSignal::new();
    let hits = Arc::new(AtomicUsize::new(0));
    let (s2, h2) = (stop.clone(), hits.clone());
    let server = route_server(Arc::new(move |r| match r.path() {
        "/" => Some(Reply::html(r#"<a href="/x">x</a>"#)),
        "/x" => {
            if h2.fetch_add(1, Ordering::SeqCst) == 0 {
                s2.request(15); // stop the first run while this 429 is in flight
            }
            Some(Reply::new(429, "text/plain", "slow down").header("Retry-After", "2"))
        }
        _ => None,
    }));
    let dir = tempdir();
    let db = dir.path().join("db");
    let mut config = fast_config(&db, &format!("{}/", server.origin()));
    config.retries = 2;
    let store = Store::open(&db, OpenMode::CreateOrOpen).unwrap();
    let progress = politecrawl::progress::Progress::new();
    let summary = politecrawl::crawl::run(&config, &store, &stop, &progress).unwrap();
    assert_eq!(summary.stop, politecrawl::StopReason::Interrupted(15));
    drop(store);
    let first_429 = server
        .requests()
        .iter()
        .find(|r| r.path() == "/x")
        .unwrap()
        .at;

    let (summary, store) = crawl(
        &CrawlConfig::new(&db, &[] as &[&str])
            .map(|mut c| {
                c.rate = 0.0;
                c.retries = 2;
                c
            })
            .unwrap(),
    );
    assert_eq!(summary.stop, politecrawl::StopReason::Finished);
    let xs: Vec<Instant> = server
        .requests()
        .iter()
        .filter(|r| r.path() == "/x")
        .map(|r| r.at)
        .collect();
    assert_eq!(
        xs.len(),
        3,
        "attempts carry over: 1 before the stop, 2 after"
    );
    assert!(
        xs[1] - first_429 >= Duration::from_millis(1995),
        "the resumed run kept the host's pause"
    );
    let rec = &stored(&store, &server.origin())["/x"];
    assert_eq!((rec.attempts, rec.status), (3, Some(429)));
    assert_eq!(rec.error.as_ref().unwrap().kind, ErrorKind::HttpStatus);
    assert_eq!(
        server
            .requests()
            .iter()
            .filter(|r| r.path() == "/robots.txt")
            .count(),
        1
    );
}

#[test]
fn a_full_disk_stops_the_crawl_with_a_clear_error_and_it_resumes_later() {
    let _timing = shared();
    const PAGES: usize = 40;
    let server = route_server(Arc::new(generated(PAGES, Duration::ZERO, 100_000)));
    let dir = tempdir();
    let seed = format!("{}/", server.origin());
    // A file-size limit makes writes past 2 MiB fail (EFBIG) as on a full disk; SIGXFSZ is
    // ignored so the write error reaches the crawler instead of killing it.
    let script =
        format!("trap '' XFSZ; ulimit -f 2048; exec {BIN} crawl {seed} --db full.db --rate 0");
    let out = Command::new("bash")
        .args(["-c", &script])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("full.db") && err.contains("space"), "{err}");
    assert!(page_count(&server) < PAGES + 1, "it stopped before the end");

    let out = run(&["crawl", "--db", "full.db"], dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let store = Store::open(&dir.path().join("full.db"), OpenMode::Existing).unwrap();
    let keys: Vec<String> = stored(&store, &server.origin()).into_keys().collect();
    assert_eq!(keys, all_targets(PAGES));
    assert_eq!(
        store.counters().unwrap(),
        frontier::recount(&store).unwrap()
    );
    assert_tallies_true(&store);
}

#[test]
fn a_database_from_a_future_schema_is_refused_untouched() {
    let _timing = shared();
    let dir = tempdir();
    let db = dir.path().join("future.db");
    drop(Store::open(&db, OpenMode::CreateOrOpen).unwrap());
    {
        // sled's I/O threads can hold the lock for a moment after the store is dropped (as
        // `Store::open` also allows for).
        let raw = (0..50)
            .find_map(|_| {
                sled::open(&db)
                    .map_err(|_| std::thread::sleep(Duration::from_millis(20)))
                    .ok()
            })
            .expect("the dropped store releases its lock");
        raw.open_tree("meta")
            .unwrap()
            .insert("schema_version", &99u32.to_be_bytes())
            .unwrap();
        raw.flush().unwrap();
    }
    let out = run(
        &["crawl", "http://127.0.0.1:9/", "--db", "future.db"],
        dir.path(),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("schema version 99"), "{err}");
    let raw = sled::open(&db).unwrap();
    for tree in ["seen", "queue", "pages", "origins"] {
        // The seed would be in `seen` (and `origins`) even after its fetch failed.
        assert!(
            raw.open_tree(tree).unwrap().is_empty(),
            "{tree}: nothing was written"
        );
    }
}

#[test]
fn a_resume_over_many_origins_fetches_every_queued_url_once() {
    let _timing = shared();
    // More origins than one step of the resume's origin scan takes (256): every one of them
    // must still be found and crawled. Hosts are `hN.localhost`, which libcurl sends to
    // loopback itself; the server answers any Host.
    const ORIGINS: usize = 700;
    let route = |r: &Request| Some(Reply::html(format!("page {}", r.path())));
    let server = route_server(Arc::new(route));
    let port = server.origin().rsplit(':').next().unwrap().to_string();
    let dir = tempdir();
    let db = dir.path().join("many.db");
    let url = |h: usize| format!("http://h{h}.localhost:{port}/only");
    let mut config = fast_config(&db, &url(0));
    config.ignore_robots = true;
    config.scope = politecrawl::ScopeKind::Any;
    config.concurrency = 16;
    {
        // Queued by an earlier run (nothing fetched yet), as a resume finds them.
        let store = Store::open(&db, OpenMode::CreateOrOpen).unwrap();
        store.save_config(&config).unwrap();
        let candidates: Vec<frontier::Candidate> = (0..ORIGINS)
            .map(|h| frontier::Candidate {
                url: url::Url::parse(&url(h)).unwrap(),
                depth: 0,
                referrer: None,
                sitemap: frontier::SitemapRole::Page,
                redirect_chain: Vec::new(),
            })
            .collect();
        assert_eq!(
            frontier::add_candidates(&store, &candidates).unwrap().len(),
            ORIGINS
        );
    }
    let out = run(&["crawl", "--db", "many.db"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let mut hosts: Vec<String> = server
        .requests()
        .iter()
        .map(|r| r.host.clone().unwrap_or_default())
        .collect();
    assert_eq!(hosts.len(), ORIGINS, "one request per queued URL");
    hosts.sort();
    hosts.dedup();
    assert_eq!(hosts.len(), ORIGINS, "every origin, none twice");
    let store = Store::open(&db, OpenMode::Existing).unwrap();
    let c = store.counters().unwrap();
    assert_eq!((c.done, c.queued), (ORIGINS as u64, 0));
}

#[test]
fn a_retry_of_failed_urls_killed_midway_is_finished_by_the_next_run() {
    let _timing = shared();
    const FAILED: usize = 40;
    let mended = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let m = mended.clone();
    let server = route_server(Arc::new(move |r| match r.path() {
        "/" => Some(politecrawl::serve::Reply::html(
            (0..FAILED)
                .map(|i| format!(r#"<a href="/f/{i}">{i}</a>"#))
                .collect::<String>(),
        )),
        _ if !m.load(std::sync::atomic::Ordering::SeqCst) => {
            Some(politecrawl::serve::Reply::new(404, "text/html", "not yet"))
        }
        _ => Some(politecrawl::serve::Reply::html("mended").delayed(Duration::from_millis(20))),
    }));
    let dir = tempdir();
    let seed = format!("{}/", server.origin());
    let out = crate::support::run(&["crawl", &seed, "--db", "k.db", "--rate", "0"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(page_count(&server), FAILED + 1);
    mended.store(true, std::sync::atomic::Ordering::SeqCst);

    // Killed after ten of the forty rechecks were asked.
    let args = ["--db", "k.db", "--retry-failed", "--concurrency", "1"];
    let mut child = spawn_crawl(&args, dir.path());
    assert!(
        wait_for_requests(&server, FAILED + 1 + 10, &mut child),
        "killed midway"
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // A plain resume finishes the round.
    let out = crate::support::run(&["crawl", "--db", "k.db"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let mut asked: BTreeMap<String, usize> = BTreeMap::new();
    for r in page_requests(&server) {
        *asked.entry(r.target).or_default() += 1;
    }
    for i in 0..FAILED {
        let n = asked[&format!("/f/{i}")];
        // Once failed, once again; a request in flight at the kill may be asked a third time.
        assert!((2..=3).contains(&n), "/f/{i} asked {n} times: {asked:?}");
    }
    let status = crate::support::run(&["status", "--db", "k.db", "--json"], dir.path());
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(
        (json["done"].as_u64(), json["failed"].as_u64()),
        (Some(FAILED as u64 + 1), Some(0)),
        "{json}"
    );
    assert_eq!(
        (
            json["recrawl"]["left"].as_u64(),
            json["recrawl"]["checked"].as_u64()
        ),
        (Some(0), Some(FAILED as u64)),
        "{}",
        json["recrawl"]
    );
}

/// A site whose `/` links 30 pages under `/a/` and 30 under `/b/`, each answered after 20 ms.
fn two_halves() -> SiteServer {
    route_server(Arc::new(|r| match r.path() {
        "/" => Some(Reply::html(
            (0..30)
                .map(|i| format!(r#"<a href="/a/{i}">a</a><a href="/b/{i}">b</a>"#))
                .collect::<String>(),
        )),
        _ => Some(Reply::html("<p>a page</p>").delayed(Duration::from_millis(20))),
    }))
}

#[test]
fn an_exclude_added_after_kill_9_drops_what_is_queued_and_what_was_in_flight() {
    let _timing = shared();
    let server = two_halves();
    let dir = tempdir();
    let seed = format!("{}/", server.origin());
    let args = [
        seed.as_str(),
        "--db",
        "x.db",
        "--rate",
        "0",
        "--concurrency",
        "2",
    ];
    let mut child = spawn_crawl(&args, dir.path());
    assert!(wait_for_requests(&server, 11, &mut child), "killed midway");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before: Vec<String> = page_requests(&server)
        .into_iter()
        .map(|r| r.target)
        .collect();

    let out = run(&["crawl", "--db", "x.db", "--exclude", "/b/"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let after: Vec<String> = page_requests(&server)
        .into_iter()
        .skip(before.len())
        .map(|r| r.target)
        .collect();
    assert!(after.iter().all(|t| !t.starts_with("/b/")), "{after:?}");
    let store = Store::open(&dir.path().join("x.db"), OpenMode::Existing).unwrap();
    let records = stored(&store, &server.origin());
    for i in 0..30 {
        let (a, b) = (&records[&format!("/a/{i}")], &records[&format!("/b/{i}")]);
        assert_eq!(a.state, UrlState::Done, "{a:?}");
        let fetched = before.contains(&format!("/b/{i}")) && b.state == UrlState::Done;
        let dropped = b.state == UrlState::Blocked
            && b.error.as_ref().map(|e| e.kind) == Some(ErrorKind::OutOfScope);
        // Stored before the kill, or dropped as out of scope; never requested after it.
        assert!(fetched || dropped, "/b/{i}: {b:?}");
    }
    assert!(
        records.values().any(|r| r.state == UrlState::Blocked),
        "some /b/ page was still queued at the kill"
    );
    assert_eq!(store.counters().unwrap().queued, 0);
}

#[test]
fn max_bytes_holds_across_a_kill_9() {
    let _timing = shared();
    let server = route_server(Arc::new(generated(60, Duration::from_millis(5), 1_000)));
    let dir = tempdir();
    let seed = format!("{}/", server.origin());
    let args = [
        seed.as_str(),
        "--db",
        "m.db",
        "--rate",
        "0",
        "--concurrency",
        "1",
        "--max-bytes",
        "30KB",
    ];
    let mut child = spawn_crawl(&args, dir.path());
    assert!(wait_for_requests(&server, 10, &mut child), "killed midway");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // The resume keeps the saved budget: the bodies stored in both runs stop just past it.
    let out = run(&["crawl", "--db", "m.db"], dir.path());
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("byte budget reached"), "{err}");
    let store = Store::open(&dir.path().join("m.db"), OpenMode::Existing).unwrap();
    let sizes: Vec<u64> = store.pages().map(|r| r.unwrap().body_len).collect();
    let total: u64 = sizes.iter().sum();
    let largest = sizes.iter().max().unwrap();
    assert!(
        total >= 30_000 && total - largest < 30_000,
        "stopped at the first body past 30 KB over both runs: {sizes:?}"
    );
    // Nothing asked past the budget: requests after the kill are the pages the resume stored
    // and those fetched but not yet committed at the kill, asked again.
    let mut asked = BTreeMap::new();
    for r in page_requests(&server) {
        *asked.entry(r.target).or_insert(0) += 1;
    }
    assert_eq!(asked.len(), sizes.len(), "{asked:?}");
    assert!(asked.values().all(|n| *n <= 2), "{asked:?}");
}

/// `status` on a stopped crawl reads what its clean stop left (no copy of sled's files); a
/// crawl killed after that must not leave it to be read: `status` then gives the killed
/// crawl's own numbers, those of the store.
#[test]
fn status_after_a_kill_9_is_the_killed_crawl_s_not_the_last_clean_stop_s() {
    let _timing = shared();
    let server = route_server(Arc::new(generated(60, Duration::from_millis(5), 1_000)));
    let dir = tempdir();
    let seed = format!("{}/", server.origin());
    let common = ["--db", "st.db", "--rate", "0", "--concurrency", "1"];
    let first = [&[seed.as_str(), "--max-pages", "5"][..], &common[..]].concat();
    let out = run(&[&["crawl"][..], &first[..]].concat(), dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let snapshot = dir.path().join("st.db").join("status-snapshot.json");
    assert!(snapshot.exists(), "a clean stop leaves its status");
    let status = |dir: &Path| -> serde_json::Value {
        let out = run(&["status", "--db", "st.db", "--json"], dir);
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    assert_eq!(status(dir.path())["done"].as_u64(), Some(5));

    let mut child = spawn_crawl(
        &[&common[..], &["--max-pages", "1000"][..]].concat(),
        dir.path(),
    );
    assert!(wait_for_requests(&server, 20, &mut child), "killed midway");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(!snapshot.exists(), "the killed crawl's open removed it");
    let json = status(dir.path());
    let store = Store::open(&dir.path().join("st.db"), OpenMode::Existing).unwrap();
    let stored = store.pages().count() as u64;
    assert!(stored > 5, "the killed crawl stored pages");
    assert_eq!(json["done"].as_u64(), Some(stored), "{json}");
}
