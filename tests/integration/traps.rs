//! Requests not spent on duplicates and traps, from the server's side: URLs that differ only
//! by session IDs, tracking parameters or parameter order are fetched once (as first found),
//! and the path rules keep a relative-link loop, a deep path and a parameter flood out.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;

use politecrawl::serve::{Reply, SiteServer};

use crate::support::*;

#[test]
fn session_ids_tracking_parameters_and_order_cost_one_request_and_traps_none() {
    let _timing = shared();
    let deep: String = (0..25).map(|i| format!("d{i}/")).collect();
    let flood = (0..12)
        .map(|i| format!("f{i}=1"))
        .collect::<Vec<_>>()
        .join("&");
    let home = format!(
        r#"<a href="/p?a=1&b=2">p</a> <a href="/p?b=2&a=1">same</a>
           <a href="/p?a=1&utm_source=news&b=2&gclid=x1">tracked</a>
           <a href="/p?sid=0123456789abcdef0123&a=1&b=2">session</a>
           <a href="/cart;jsessionid=0AB12CD34EF56789">cart</a> <a href="/cart">cart again</a>
           <a href="/docs/a/">docs</a> <a href="/{deep}">deep</a> <a href="/s?{flood}">flood</a>
           <a href="/p?a=2&b=2">another page</a>"#
    );
    let server = route_server(Arc::new(move |r| match r.path() {
        "/" => Some(Reply::html(home.clone())),
        // A relative link resolved against itself: /docs/a/docs/a/docs/a/... forever.
        p if p.starts_with("/docs/") => Some(Reply::html(r#"<a href="docs/a/">more</a>"#)),
        _ => Some(Reply::html("a page")),
    }));
    let dir = tempdir();
    let config = fast_config(&dir.path().join("db"), &format!("{}/", server.origin()));
    let (summary, _store) = crawl(&config);
    let mut asked: BTreeMap<String, usize> = BTreeMap::new();
    for r in page_requests(&server) {
        *asked.entry(r.target).or_default() += 1;
    }
    let p_family = asked
        .keys()
        .filter(|k| k.starts_with("/p?") && k.contains("b=2"))
        .count();
    assert_eq!(
        p_family, 2,
        "one request for /p?a=1&b=2 in any form, one for a=2: {asked:?}"
    );
    assert_eq!(
        asked.get("/p?a=1&b=2"),
        Some(&1),
        "fetched as first found: {asked:?}"
    );
    let carts = asked.keys().filter(|k| k.starts_with("/cart")).count();
    assert_eq!(carts, 1, "{asked:?}");
    assert_eq!(asked.get("/docs/a/"), Some(&1));
    assert_eq!(
        asked.get("/docs/a/docs/a/"),
        Some(&1),
        "a segment twice is allowed"
    );
    assert!(!asked.contains_key("/docs/a/docs/a/docs/a/"), "{asked:?}");
    assert!(
        !asked.keys().any(|k| k.starts_with("/d0/")),
        "the deep path: {asked:?}"
    );
    assert!(
        !asked.keys().any(|k| k.starts_with("/s?")),
        "the flood: {asked:?}"
    );
    let t = summary.run.traps;
    assert_eq!(
        (t.repeated_segment, t.too_many_segments, t.too_many_params),
        (1, 1, 1),
        "{t:?}"
    );
    assert!(
        summary.to_string().contains("trap rules kept out 3 links"),
        "{summary}"
    );
}

#[test]
fn scope_prefix_keeps_the_crawl_under_the_seeds_directory() {
    let _timing = shared();
    let server = fixture_server();
    let dir = tempdir();
    let seed = format!("{}/docs/guide/intro.html", server.origin());
    let args = [
        "crawl", &seed, "--db", "p.db", "--rate", "0", "--scope", "prefix",
    ];
    let out = run(&args, dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let paths: Vec<String> = page_requests(&server)
        .iter()
        .map(|r| r.target.clone())
        .collect();
    assert!(
        paths.iter().all(|p| p.starts_with("/docs/guide/")),
        "outside /docs/guide/: {paths:?}"
    );
    // intro.html links ../install.html (the parent: not followed) and advanced.html.
    assert!(
        paths.contains(&"/docs/guide/advanced.html".to_string()),
        "{paths:?}"
    );
    // The same crawl without the prefix scope leaves the directory.
    let server2 = fixture_server();
    let seed = format!("{}/docs/guide/intro.html", server2.origin());
    let out = run(
        &[
            "crawl",
            &seed,
            "--db",
            "h.db",
            "--rate",
            "0",
            "--max-pages",
            "20",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(page_requests(&server2)
        .iter()
        .any(|r| r.target == "/docs/install.html"));
}

#[test]
fn max_time_stops_a_run_cleanly_and_the_next_run_goes_on_without_fetching_twice() {
    let _timing = shared();
    // 60 pages at 50 ms each, one at a time: 3 s of work, cut at 1 s.
    let server = route_server(Arc::new(generated(
        60,
        std::time::Duration::from_millis(50),
        10,
    )));
    let dir = tempdir();
    let seed = format!("{}/", server.origin());
    let first = [
        "crawl",
        &seed,
        "--db",
        "t.db",
        "--rate",
        "0",
        "--concurrency",
        "1",
        "--max-time",
        "1s",
    ];
    let out = run(&first, dir.path());
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("time limit reached"), "{err}");
    let before = page_requests(&server).len();
    assert!(
        before > 1 && before < 61,
        "{before} requests in the first run"
    );
    // The limit is saved with the crawl: every run stops after 1 s, each going on from the
    // last, until the crawl is done. The limit can run out while the last page is fetched or
    // stored (on a loaded machine, once in ten tries): that run ends with the page stored and
    // says "time limit reached", and the next one, with nothing left, says so and is not
    // counted.
    let mut runs = 1;
    loop {
        let out = run(&["crawl", "--db", "t.db"], dir.path());
        let err = stderr(&out);
        assert!(out.status.success(), "{err}");
        if err.contains("nothing left to do") && err.contains("is finished (61 done") {
            break;
        }
        runs += 1;
        if err.contains("crawl finished") {
            break;
        }
        assert!(err.contains("time limit reached") && runs < 70, "{err}");
    }
    assert!(runs >= 3, "3 s of work in runs of 1 s: {runs} runs");
    let mut asked: BTreeMap<String, usize> = BTreeMap::new();
    for r in page_requests(&server) {
        *asked.entry(r.target).or_default() += 1;
    }
    assert_eq!(asked.len(), 61, "/ and 60 pages");
    assert!(asked.values().all(|n| *n == 1), "fetched twice: {asked:?}");
}

#[test]
fn max_bytes_stops_once_the_stored_bodies_reach_it_across_runs() {
    let _timing = shared();
    // 40 pages of ~1,000 bytes, one request at a time: the budget is met exactly.
    let server = route_server(Arc::new(generated(40, std::time::Duration::ZERO, 1_000)));
    let dir = tempdir();
    let seed = format!("{}/", server.origin());
    let bodies = |db: &str| -> Vec<u64> {
        let store =
            politecrawl::Store::open(&dir.path().join(db), politecrawl::store::OpenMode::Existing)
                .unwrap();
        store.pages().map(|r| r.unwrap().body_len).collect()
    };
    let args = |max: &'static str| {
        [
            "crawl",
            &seed,
            "--db",
            "b.db",
            "--rate",
            "0",
            "--concurrency",
            "1",
            "--max-bytes",
            max,
        ]
        .map(String::from)
    };
    let first = args("10KB");
    let out = run(&first.each_ref().map(String::as_str), dir.path());
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("byte budget reached"), "{err}");
    let sizes = bodies("b.db");
    let total: u64 = sizes.iter().sum();
    // One request at a time, so the last body stored is the one that crossed the line: without
    // the largest, the rest is under it.
    let largest = sizes.iter().max().unwrap();
    assert!(
        total - largest < 10_000 && total >= 10_000,
        "stopped at the first body past 10 KB: {sizes:?}"
    );
    assert_eq!(
        page_requests(&server).len(),
        sizes.len(),
        "nothing more asked"
    );

    // Saved with the crawl and counted across runs: a resume stops at once, a larger budget
    // goes on from there, fetching nothing twice.
    let out = run(&["crawl", "--db", "b.db"], dir.path());
    assert!(
        stderr(&out).contains("byte budget reached"),
        "{}",
        stderr(&out)
    );
    assert_eq!(page_requests(&server).len(), sizes.len());
    let more = args("20KB");
    let out = run(&more.each_ref().map(String::as_str), dir.path());
    assert!(
        stderr(&out).contains("byte budget reached"),
        "{}",
        stderr(&out)
    );
    let total: u64 = bodies("b.db").iter().sum();
    assert!((20_000..22_000).contains(&total), "{total}");
    let asked = page_requests(&server);
    let mut targets: Vec<&str> = asked.iter().map(|r| r.target.as_str()).collect();
    targets.sort();
    targets.dedup();
    assert_eq!(targets.len(), asked.len(), "fetched twice: {asked:?}");
}

#[test]
fn retry_failed_requests_the_failed_urls_again_of_the_kinds_asked() {
    let _timing = shared();
    // The first run: /gone answers 404, /bad a malformed head (both final at once). Later the
    // server is mended: both answer, and /gone links a page not seen before.
    let mended = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let m = mended.clone();
    let server = RawServer::start(Arc::new(move |target: &str, conn: &mut TcpStream| {
        let fixed = m.load(std::sync::atomic::Ordering::SeqCst);
        let page = |conn: &mut TcpStream, body: &str| {
            write_response(conn, 200, "text/html", body.as_bytes())
        };
        match target {
            "/robots.txt" => write_response(conn, 404, "text/plain", b""),
            "/" => page(conn, r#"<a href="/gone">g</a><a href="/bad">b</a>"#),
            "/gone" if !fixed => write_response(conn, 404, "text/html", b"no"),
            "/gone" => page(conn, r#"<a href="/new">n</a>"#),
            "/bad" if !fixed => conn
                .write_all(
                    b"HTTP/1.1 200 OK\r\nContent Type: text/html\r\nContent-Length: 2\r\n\r\nok",
                )
                .is_ok(),
            _ => page(conn, "fine"),
        }
    }));
    let dir = tempdir();
    let seed = format!("{}/", server.origin());
    let out = run(&["crawl", &seed, "--db", "r.db", "--rate", "0"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let asked = |t: &str| server.requests().iter().filter(|r| *r == t).count();
    assert_eq!((asked("/gone"), asked("/bad")), (1, 1), "final at once");
    mended.store(true, std::sync::atomic::Ordering::SeqCst);

    // A resume asks for nothing failed.
    let out = run(&["crawl", "--db", "r.db"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!((asked("/gone"), asked("/bad")), (1, 1));
    // Only the kind asked: /gone's 404 (http_status), and its link is followed.
    let retry = [
        "crawl",
        "--db",
        "r.db",
        "--retry-failed",
        "--kind",
        "http_status",
    ];
    let out = run(&retry, dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!((asked("/gone"), asked("/bad"), asked("/new")), (2, 1, 1));
    // Then every kind: /bad (invalid_response).
    let out = run(&["crawl", "--db", "r.db", "--retry-failed"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!((asked("/gone"), asked("/bad"), asked("/new")), (2, 2, 1));
    // Nothing failed is left: nothing is asked, and the user is told.
    let out = run(&["crawl", "--db", "r.db", "--retry-failed"], dir.path());
    assert!(stderr(&out).contains("no failed URL"), "{}", stderr(&out));
    assert_eq!(
        (asked("/gone"), asked("/bad"), asked("/"), asked("/new")),
        (2, 2, 1, 1)
    );
    let status = run(&["status", "--db", "r.db", "--json"], dir.path());
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(
        (json["failed"].as_u64(), json["done"].as_u64()),
        (Some(0), Some(4)),
        "{json}"
    );
    // A kind that does not exist is refused with the list.
    let out = run(
        &["crawl", "--db", "r.db", "--retry-failed", "--kind", "dsn"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("\"dsn\" is not an error kind; kinds: http_status"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_exclude_added_on_a_resume_drops_what_is_already_queued() {
    let _timing = shared();
    let server = route_server(Arc::new(|r| match r.path() {
        "/" => Some(Reply::html(
            (1..=4)
                .map(|i| format!(r#"<a href="/a/{i}">a</a><a href="/b/{i}">b</a>"#))
                .collect::<String>(),
        )),
        _ => Some(Reply::html("leaf")),
    }));
    let dir = tempdir();
    let seed = format!("{}/", server.origin());
    let first = [
        "crawl",
        &seed,
        "--db",
        "x.db",
        "--rate",
        "0",
        "--max-pages",
        "1",
    ];
    let out = run(&first, dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        page_requests(&server).len(),
        1,
        "only the seed: 8 links queued"
    );

    let resume = [
        "crawl",
        "--db",
        "x.db",
        "--max-pages",
        "100",
        "--exclude",
        "/b/",
    ];
    let out = run(&resume, dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let mut asked: Vec<String> = page_requests(&server)
        .into_iter()
        .map(|r| r.target)
        .collect();
    asked.sort();
    assert_eq!(asked, ["/", "/a/1", "/a/2", "/a/3", "/a/4"]);
    let store = politecrawl::Store::open(
        &dir.path().join("x.db"),
        politecrawl::store::OpenMode::Existing,
    )
    .unwrap();
    let records = stored(&store, &server.origin());
    for i in 1..=4 {
        let r = &records[&format!("/b/{i}")];
        assert_eq!(r.state, politecrawl::store::UrlState::Blocked, "{r:?}");
        assert_eq!(
            r.error.as_ref().unwrap().kind,
            politecrawl::ErrorKind::OutOfScope
        );
    }
    assert_eq!(store.counters().unwrap().queued, 0);
}

#[test]
fn explain_names_the_rule_that_decided_for_one_url() {
    let _timing = shared();
    let server = route_server(Arc::new(|r| match r.path() {
        "/robots.txt" => Some(Reply::new(
            200,
            "text/plain",
            "User-agent: *\nDisallow: /private/\n",
        )),
        "/" => Some(Reply::html(
            r#"<a href="/private/x">p</a><a href="/p?a=1&sid=0123456789abcdef0123">s</a>
               <a href="/gone">g</a><a href="/skip/me">x</a>"#,
        )),
        "/gone" => Some(Reply::new(404, "text/html", "no")),
        _ => Some(Reply::html("leaf")),
    }));
    let dir = tempdir();
    let o = server.origin();
    let seed = format!("{o}/");
    let out = run(
        &[
            "crawl",
            &seed,
            "--db",
            "e.db",
            "--rate",
            "0",
            "--exclude",
            "/skip/",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let explain = |url: &str| {
        let out = run(&["explain", url, "--db", "e.db"], dir.path());
        assert!(out.status.success(), "{url}: {}", stderr(&out));
        String::from_utf8(out.stdout).unwrap()
    };
    let e = explain(&format!("{o}/private/x"));
    assert!(
        e.contains("verdict   stored blocked (robots_disallowed): Disallow: /private/"),
        "{e}"
    );
    assert!(
        e.contains("robots    disallowed: Disallow: /private/"),
        "{e}"
    );
    let e = explain(&format!("{o}/gone"));
    assert!(
        e.contains("stored failed (http_status)") && e.contains("found on"),
        "{e}"
    );
    let e = explain(&format!("{o}/skip/me#frag"));
    assert!(
        e.contains(&format!("url       {o}/skip/me\n"))
            && e.contains("verdict   not queued: matches --exclude \"/skip/\""),
        "{e}"
    );
    let e = explain(&format!("{o}/docs/a/docs/a/docs/a/x"));
    assert!(
        e.contains("not queued: refused by the trap rule repeated_segment"),
        "{e}"
    );
    let e = explain("http://elsewhere.test/");
    assert!(e.contains("not queued: out of --scope host"), "{e}");
    // The session-ID copy: known by its key, which the stored page has.
    let out = run(
        &[
            "explain",
            &format!("{o}/p?sid=fedcba9876543210fedc&a=1"),
            "--db",
            "e.db",
            "--json",
        ],
        dir.path(),
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["dedupe_key"], format!("{o}/p?a=1"), "{json}");
    assert!(json["record"].is_null(), "{json}");
    let out = run(&["explain", "not a url", "--db", "e.db"], dir.path());
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("not an absolute http(s) URL"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_skip_report_samples_and_counts_every_url_not_followed() {
    let _timing = shared();
    // The home page: 30 links off the site (the sample keeps 20 of them per page origin), one
    // excluded, one a trap; /d1 is at the depth limit, so its links are not followed.
    let home: String = (0..30)
        .map(|i| format!(r#"<a href="http://elsewhere.test/{i}">x</a>"#))
        .chain([
            r#"<a href="/skip/me">s</a>"#.to_string(),
            r#"<a href="/t/a/t/a/t/a/x">t</a>"#.to_string(),
            r#"<a href="/d1">d</a>"#.to_string(),
        ])
        .collect();
    let server = route_server(Arc::new(move |r| match r.path() {
        "/" => Some(Reply::html(home.clone())),
        "/d1" => Some(Reply::html(r#"<a href="/d2">deeper</a>"#)),
        _ => Some(Reply::html("leaf")),
    }));
    let dir = tempdir();
    let o = server.origin();
    let seed = format!("{o}/");
    let crawl = [
        "crawl",
        &seed,
        "--db",
        "s.db",
        "--rate",
        "0",
        "--exclude",
        "/skip/",
        "--max-depth",
        "1",
    ];
    let out = run(&crawl, dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let asked: Vec<String> = page_requests(&server)
        .into_iter()
        .map(|r| r.target)
        .collect();
    assert!(!asked
        .iter()
        .any(|t| t == "/d2" || t.starts_with("/skip") || t.starts_with("/t/")));

    let out = run(&["export", "--db", "s.db", "--skipped"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    let skips: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let of = |reason: &str| -> Vec<&serde_json::Value> {
        skips.iter().filter(|s| s["reason"] == reason).collect()
    };
    assert_eq!(
        of("out_of_scope").len(),
        20,
        "sampled: 20 per reason and page origin"
    );
    assert_eq!(of("out_of_scope")[0]["found_on"], seed.as_str());
    let excluded = of("exclude");
    assert_eq!(excluded.len(), 1);
    assert_eq!(excluded[0]["url"], format!("{o}/skip/me"));
    assert_eq!(excluded[0]["detail"], "matches --exclude \"/skip/\"");
    assert_eq!(
        of("repeated_segment")[0]["url"],
        format!("{o}/t/a/t/a/t/a/x")
    );
    let deep = of("max_depth");
    assert_eq!(deep.len(), 1, "{skips:?}");
    assert_eq!(
        (deep[0]["url"].as_str(), deep[0]["depth"].as_u64()),
        (Some(&*format!("{o}/d1")), Some(1))
    );
    // Every refusal counted, the sampled and the others.
    assert!(
        err.contains("exclude 1, max_depth 1, out_of_scope 30, repeated_segment 1"),
        "{err}"
    );
    // explain gives the reason sampled, and where the URL was found.
    let out = run(
        &["explain", &format!("{o}/skip/me"), "--db", "s.db"],
        dir.path(),
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(&format!(
            "not queued: matches --exclude \"/skip/\" (found on {seed})"
        )),
        "{text}"
    );
    // A resume adds no line for what was sampled already.
    let out = run(&["crawl", "--db", "s.db"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let again = run(&["export", "--db", "s.db", "--skipped"], dir.path());
    assert_eq!(
        String::from_utf8(again.stdout).unwrap().lines().count(),
        skips.len()
    );
}

#[test]
fn a_disk_below_the_free_space_floor_stops_the_crawl_resumably_before_it_fills() {
    let _timing = shared();
    let server = fixture_server();
    let dir = tempdir();
    let seed = format!("{}/", server.origin());
    // No disk here has 1 PB free: the floor is under water from the start.
    let low = [
        "crawl",
        &seed,
        "--db",
        "d.db",
        "--rate",
        "0",
        "--min-free-disk",
        "1PB",
    ];
    let out = run(&low, dir.path());
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("--min-free-disk") && err.contains("to resume"),
        "{err}"
    );
    let before = page_requests(&server).len();
    assert!(before <= 16, "at most what was in flight: {before}");
    // With room (the default floor), the same database goes on and finishes, nothing twice.
    let args = ["crawl", "--db", "d.db", "--min-free-disk", "0"];
    let out = run(&args, dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(request_counts(&server), each_fixture_page_once());
}

/// Two directories that answer the same bytes: the second is recorded as a duplicate of the
/// first, and its relative link (another URL, the same text) is never requested.
fn mirrored_directories() -> SiteServer {
    route_server(Arc::new(|r| match r.path() {
        "/" => Some(Reply::html(r#"<a href="/x/">x</a> <a href="/y/">y</a>"#)),
        "/x/" | "/y/" => Some(Reply::html(
            r#"<p>Same page</p><a href="more.html">more</a>"#,
        )),
        _ => Some(Reply::html("a page")),
    }))
}

#[test]
fn a_page_with_the_body_of_another_is_a_duplicate_and_its_links_are_not_followed() {
    let _timing = shared();
    let server = mirrored_directories();
    let dir = tempdir();
    let origin = server.origin();
    let mut config = fast_config(&dir.path().join("db"), &format!("{origin}/"));
    // One at a time, so /x/ is stored first.
    config.per_host_concurrency = 1;
    let (summary, store) = crawl(&config);
    let asked = request_counts(&server);
    assert_eq!(asked.get("/x/more.html"), Some(&1), "{asked:?}");
    assert!(!asked.contains_key("/y/more.html"), "{asked:?}");
    assert_eq!(summary.run.traps.duplicate_content, 1, "{summary}");
    assert!(
        summary.to_string().contains("duplicate_content 1"),
        "{summary}"
    );
    let pages = stored(&store, &origin);
    let copy = pages["/y/"].duplicate.as_ref().expect("/y/ is a copy");
    assert_eq!(
        (copy.of.as_str(), copy.kind.as_str()),
        (format!("{origin}/x/").as_str(), "content")
    );
    assert!(pages["/x/"].duplicate.is_none());
    drop(store);

    // Exports say so: JSON Lines and CSV name the original; WARC writes a revisit.
    let out = crate::export::export(dir.path(), &["--db", "db", "--format", "jsonl"]);
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let y = lines
        .iter()
        .find(|l| l["url"] == format!("{origin}/y/"))
        .unwrap();
    assert_eq!(y["duplicate_of"], format!("{origin}/x/"));
    assert_eq!(y["duplicate_kind"], "content");
    let out = crate::export::export(dir.path(), &["--db", "db", "--format", "csv"]);
    let csv = String::from_utf8_lossy(&out.stdout);
    assert!(
        csv.lines().any(|l| l.starts_with(&format!("{origin}/y/,"))
            && l.ends_with(&format!(",{origin}/x/,content"))),
        "{csv}"
    );
    let warc = dir.path().join("all.warc.gz");
    crate::export::export(
        dir.path(),
        &[
            "--db",
            "db",
            "--format",
            "warc",
            "--out",
            warc.to_str().unwrap(),
        ],
    );
    crate::export::warcio(&["check", warc.to_str().unwrap()]);
    let script = r#"
import sys
from warcio.archiveiterator import ArchiveIterator
with open(sys.argv[1], 'rb') as f:
    for rec in ArchiveIterator(f):
        h = rec.rec_headers
        if rec.rec_type == 'revisit':
            print(h.get_header('WARC-Target-URI'), h.get_header('WARC-Profile'),
                  h.get_header('WARC-Refers-To-Target-URI'), h.get_header('WARC-Payload-Digest'))
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&warc)
        .output()
        .unwrap();
    let revisits = String::from_utf8_lossy(&out.stdout);
    let want = format!(
        "{origin}/y/ http://netpreserve.org/warc/1.1/revisit/identical-payload-digest {origin}/x/ sha1:"
    );
    assert_eq!(revisits.lines().count(), 1, "{revisits}");
    assert!(revisits.starts_with(&want), "{revisits}");

    // The rule turned off: both copies' links are followed.
    let server = mirrored_directories();
    let mut config = fast_config(&dir.path().join("off"), &format!("{}/", server.origin()));
    config.duplicate_content = false;
    let (summary, _store) = crawl(&config);
    let asked = request_counts(&server);
    assert_eq!(asked.get("/y/more.html"), Some(&1), "{asked:?}");
    assert_eq!(summary.run.traps.duplicate_content, 0);
}

#[test]
fn digests_last_across_runs_of_one_crawl() {
    let _timing = shared();
    let server = mirrored_directories();
    let dir = tempdir();
    let db = dir.path().join("db");
    let mut config = fast_config(&db, &format!("{}/x/", server.origin()));
    config.max_depth = Some(0);
    drop(crawl(&config));
    // A later run reaches the copy: it is known as one, its link not followed.
    let mut config = fast_config(&db, &format!("{}/y/", server.origin()));
    config.max_depth = Some(1);
    let (summary, _store) = crawl(&config);
    let asked = request_counts(&server);
    assert_eq!(asked.get("/y/"), Some(&1), "{asked:?}");
    assert!(!asked.contains_key("/y/more.html"), "{asked:?}");
    assert_eq!(summary.run.traps.duplicate_content, 1);
}

#[test]
fn print_and_share_variants_are_not_fetched_again() {
    let _timing = shared();
    let server = route_server(Arc::new(|r| match r.path() {
        "/" => Some(Reply::html(
            r#"<a href="/p">p</a> <a href="/p?print=1">print</a> <a href="/p?share=twitter">tweet</a>
               <a href="/p?format=print">printable</a> <a href="/p?replytocom=17#respond">reply</a>
               <a href="/q?format=pdf">a PDF is another page</a>"#,
        )),
        // Each variant's body differs (a timestamp, a share widget): only the key can tell.
        _ => Some(Reply::html(format!("<p>{}</p>", r.target))),
    }));
    let dir = tempdir();
    let config = fast_config(&dir.path().join("db"), &format!("{}/", server.origin()));
    drop(crawl(&config));
    let asked: Vec<String> = request_counts(&server).into_keys().collect();
    assert_eq!(asked, ["/", "/p", "/q?format=pdf"]);
}

/// A help area that answers 200 for any path under /help/, with a link one level deeper (five
/// levels, to stay finite with the rule off); the root answers 404 for what does not exist.
fn soft_404_site() -> SiteServer {
    route_server(Arc::new(|r| {
        let path = r.path().to_string();
        match path.as_str() {
            "/" => Some(Reply::html(
                r#"<title>Home</title><a href="/help/">help</a>"#,
            )),
            "/help/" => Some(Reply::html(
                r#"<title>Help</title><a href="/help/article-1">one</a> <a href="/help/search/cookies">search</a>"#,
            )),
            "/help/article-1" => Some(Reply::html("<title>Article 1</title><p>How to.</p>")),
            p if p.starts_with("/help/") => {
                let more = if p.matches('/').count() < 7 {
                    format!(r#"<a href="{p}/more">more</a>"#)
                } else {
                    String::new()
                };
                Some(Reply::html(format!(
                    "<title>Sorry, we could not find {p}</title><p>Try these:</p>{more}"
                )))
            }
            _ => Some(Reply::new(404, "text/html", "<title>Not found</title>")),
        }
    }))
}

#[test]
fn a_directory_that_answers_200_for_anything_is_probed_and_its_soft_404s_not_followed() {
    let _timing = shared();
    let server = soft_404_site();
    let dir = tempdir();
    let origin = server.origin();
    let mut config = fast_config(&dir.path().join("db"), &format!("{origin}/"));
    config.per_host_concurrency = 1;
    let (summary, store) = crawl(&config);
    let asked: Vec<String> = request_counts(&server).into_keys().collect();
    // The first page of /help/ whose title names its own path has /help/ probed, next; the
    // pages answering like the probe lead nowhere.
    let probes: Vec<&String> = asked
        .iter()
        .filter(|p| p.contains("/politecrawl-404-"))
        .collect();
    assert_eq!(probes.len(), 1, "{asked:?}");
    assert!(probes[0].starts_with("/help/politecrawl-404-"), "{asked:?}");
    for p in ["/help/article-1", "/help/search/cookies/more"] {
        assert!(asked.contains(&p.to_string()), "{p}: {asked:?}");
    }
    assert!(
        !asked.contains(&"/help/search/cookies/more/more".to_string()),
        "a soft 404's links: {asked:?}"
    );
    let t = summary.run.traps;
    assert_eq!((t.soft_404, t.soft_404_probes), (1, 1), "{summary}");
    assert!(summary.to_string().contains("soft_404 1"), "{summary}");
    let pages = stored(&store, &origin);
    let copy = pages["/help/search/cookies/more"]
        .duplicate
        .as_ref()
        .unwrap();
    assert_eq!(copy.kind.as_str(), "soft_404");
    assert_eq!(&copy.of, &format!("{origin}{}", probes[0]));
    assert!(pages["/help/article-1"].duplicate.is_none());

    // The rule turned off: no probe, and the soft 404s lead on.
    let server = soft_404_site();
    let mut config = fast_config(&dir.path().join("off"), &format!("{}/", server.origin()));
    config.soft_404 = false;
    drop(crawl(&config));
    let asked: Vec<String> = request_counts(&server).into_keys().collect();
    assert!(!asked.iter().any(|p| p.contains("politecrawl-404")));
    assert!(
        asked.contains(&"/help/search/cookies/more/more".to_string()),
        "{asked:?}"
    );
}

#[test]
fn a_probe_obeys_robots_txt() {
    let _timing = shared();
    let server = route_server(Arc::new(|r| match r.path() {
        "/robots.txt" => Some(Reply::new(
            200,
            "text/plain",
            "User-agent: *\nDisallow: /politecrawl-404-\n",
        )),
        "/" => Some(Reply::html(r#"<a href="/item">item</a>"#)),
        p => Some(Reply::html(format!("<title>We could not find {p}</title>"))),
    }));
    let dir = tempdir();
    let config = fast_config(&dir.path().join("db"), &format!("{}/", server.origin()));
    let (summary, store) = crawl(&config);
    let asked: Vec<String> = request_counts(&server).into_keys().collect();
    assert_eq!(asked, ["/", "/item"]);
    let probe = store
        .pages()
        .map(|r| r.unwrap())
        .find(|r| r.url.contains("politecrawl-404-"));
    assert_eq!(
        probe.map(|r| r.state.as_str()),
        Some("blocked"),
        "asked, blocked by robots.txt"
    );
    assert_eq!(summary.run.traps.soft_404_probes, 0);
}

/// A calendar whose every month links the next (up to 300, to stay finite with the rule off),
/// and an events page (another shape) naming month 150.
fn endless_calendar() -> SiteServer {
    route_server(Arc::new(|r| {
        let target = r.target.clone();
        match target.as_str() {
            "/" => Some(Reply::html(
                r#"<a href="/cal?month=1">calendar</a> <a href="/events">events</a>"#,
            )),
            "/events" => Some(Reply::html(r#"<a href="/cal?month=150">the big day</a>"#)),
            t => {
                let n: u32 = t.strip_prefix("/cal?month=")?.parse().ok()?;
                let next = if n < 300 {
                    format!(r#"<a href="/cal?month={}">next</a>"#, n + 1)
                } else {
                    String::new()
                };
                Some(Reply::html(format!("<p>Month {n}</p>{next}")))
            }
        }
    }))
}

#[test]
fn a_shape_whose_pages_lead_nowhere_else_stops_feeding_itself() {
    let _timing = shared();
    let server = endless_calendar();
    let dir = tempdir();
    let mut config = fast_config(&dir.path().join("db"), &format!("{}/", server.origin()));
    config.per_host_concurrency = 1;
    config.pattern_budget = 10;
    let (summary, _store) = crawl(&config);
    let asked = request_counts(&server);
    let months: Vec<&String> = asked.keys().filter(|k| k.starts_with("/cal?")).collect();
    // Ten months (of the walks from 1 and from 150) led nowhere else: their next months are
    // not queued. Month 150, linked from another shape, is still fetched.
    assert!(months.len() <= 13, "{months:?}");
    assert!(asked.contains_key("/cal?month=2"), "{asked:?}");
    assert!(!asked.contains_key("/cal?month=20"), "{asked:?}");
    assert_eq!(asked.get("/cal?month=150"), Some(&1), "{asked:?}");
    assert!(summary.run.traps.pattern_budget >= 1, "{summary}");
    assert!(summary.to_string().contains("pattern_budget"), "{summary}");

    // The rule turned off: the whole calendar.
    let server = endless_calendar();
    let mut config = fast_config(&dir.path().join("off"), &format!("{}/", server.origin()));
    config.pattern_budget = 0;
    let (summary, _store) = crawl(&config);
    assert_eq!(request_counts(&server).get("/cal?month=300"), Some(&1));
    assert_eq!(summary.run.traps.pattern_budget, 0);
}

/// A site with three walks of one shape each, every page linking only the next: a calendar by
/// query (`/cal?month=N`, up to 300), a calendar by date in the path (`/d/YYYY/MM/`, up to
/// 300 months), and a 40-page chain of numbered pages (`/chain/N.html`).
fn three_walks() -> SiteServer {
    route_server(Arc::new(|r| {
        let t = r.target.clone();
        let link = |href: String| format!(r#"<p>a page</p><a href="{href}">next</a>"#);
        if t == "/" {
            return Some(Reply::html(
                r#"<a href="/cal?month=1">cal</a> <a href="/d/2026/01/">days</a> <a href="/chain/1.html">chain</a>"#,
            ));
        }
        if let Some(n) = t.strip_prefix("/cal?month=") {
            let n: u32 = n.parse().ok().filter(|n| *n <= 300)?;
            return Some(Reply::html(link(format!("/cal?month={}", n + 1))));
        }
        if let Some(ym) = t.strip_prefix("/d/") {
            let (y, m) = ym.trim_end_matches('/').split_once('/')?;
            let month = y.parse::<u32>().ok()? * 12 + m.parse::<u32>().ok()? - 1;
            (month < 2026 * 12 + 300).then_some(())?;
            let next = month + 1;
            return Some(Reply::html(link(format!(
                "/d/{}/{:02}/",
                next / 12,
                next % 12 + 1
            ))));
        }
        let n: u32 = t
            .strip_prefix("/chain/")?
            .strip_suffix(".html")?
            .parse()
            .ok()?;
        (n <= 40).then_some(())?;
        Some(Reply::html(if n < 40 {
            link(format!("/chain/{}.html", n + 1))
        } else {
            "<p>the end</p>".into()
        }))
    }))
}

#[test]
fn by_default_calendars_stop_and_numbered_chains_are_crawled_whole() {
    let _timing = shared();
    let server = three_walks();
    let dir = tempdir();
    let seed = format!("{}/", server.origin());
    let config = fast_config(&dir.path().join("db"), &seed);
    assert_eq!(config.pattern_budget, 5, "on by default");
    assert_eq!(config.path_pattern_budget, 0, "off by default");
    let (summary, _store) = crawl(&config);
    let asked = request_counts(&server);
    let count = |prefix: &str| asked.keys().filter(|k| k.starts_with(prefix)).count();
    // Each calendar stops after a few months (the window, and what was in flight when it
    // closed); the chain's 40 pages are all fetched, once each.
    assert!(count("/cal?") <= 10, "{asked:?}");
    assert!(count("/d/") <= 10, "{asked:?}");
    assert_eq!(count("/chain/"), 40, "{asked:?}");
    assert!(asked.iter().all(|(_, n)| *n == 1), "{asked:?}");
    assert!(summary.run.traps.pattern_budget >= 2, "{summary}");
    // The skip report names the rule for each link kept out (counted whole, sampled).
    let counts = politecrawl::skips::counts(&config.db);
    assert_eq!(
        counts.get("pattern_budget").copied(),
        Some(summary.run.traps.pattern_budget),
        "{counts:?}"
    );
    let sample: Vec<_> = politecrawl::skips::read(&config.db)
        .unwrap()
        .filter(|s| s.reason == "pattern_budget")
        .collect();
    assert!(
        sample.iter().any(|s| s.url.contains("/cal?month="))
            && sample.iter().any(|s| s.url.contains("/d/")),
        "{sample:?}"
    );

    // With a budget for numbered paths too, the chain is cut like a calendar.
    let server = three_walks();
    let mut config = fast_config(&dir.path().join("paths"), &format!("{}/", server.origin()));
    config.path_pattern_budget = 5;
    crawl(&config);
    let asked = request_counts(&server);
    let chain = asked.keys().filter(|k| k.starts_with("/chain/")).count();
    assert!(chain < 40, "{asked:?}");

    // And with both off, every walk is followed to its end.
    let server = three_walks();
    let mut config = fast_config(&dir.path().join("off"), &format!("{}/", server.origin()));
    config.pattern_budget = 0;
    crawl(&config);
    let asked = request_counts(&server);
    assert!(asked.contains_key("/cal?month=300"), "{asked:?}");
    assert!(asked.contains_key("/d/2050/12/"), "{asked:?}");
}

/// A listing whose sort orders name the listing as their canonical URL, and a page whose
/// canonical link names another path (as a broken template's every page names the home page).
fn canonical_site() -> SiteServer {
    route_server(Arc::new(|r| {
        let canon = |href: &str, body: &str| {
            Reply::html(format!(
                r#"<html><head><link rel="canonical" href="{href}"></head><body>{body}</body></html>"#
            ))
        };
        Some(match r.target.as_str() {
            "/" => {
                Reply::html(r#"<a href="/list?sort=price">by price</a> <a href="/about">about</a>"#)
            }
            "/list" => canon("/list", "<p>all</p><a href=\"/item/1\">1</a>"),
            "/list?sort=price" => canon(
                "/list",
                r#"<p>by price</p><a href="/item/1">1</a><a href="/list?sort=price&page=2">2</a><a href="/list?sort=name">name</a>"#,
            ),
            "/about" => canon("/", r#"<p>about us</p><a href="/team">team</a>"#),
            _ => Reply::html("<p>a page</p>"),
        })
    }))
}

#[test]
fn a_page_whose_canonical_link_names_it_without_its_query_is_a_copy() {
    let _timing = shared();
    let server = canonical_site();
    let dir = tempdir();
    let origin = server.origin();
    let config = fast_config(&dir.path().join("db"), &format!("{origin}/"));
    let (summary, store) = crawl(&config);
    let asked = request_counts(&server);
    // The sort order is fetched once; the listing it names is queued and fetched; the sort
    // order's other links (its next page, another order) are not followed.
    assert_eq!(asked.get("/list?sort=price"), Some(&1), "{asked:?}");
    assert_eq!(asked.get("/list"), Some(&1), "{asked:?}");
    assert_eq!(asked.get("/item/1"), Some(&1), "{asked:?}");
    assert!(!asked.contains_key("/list?sort=price&page=2"), "{asked:?}");
    assert!(!asked.contains_key("/list?sort=name"), "{asked:?}");
    // A canonical link to another path is no copy: /about's links are followed.
    assert_eq!(asked.get("/team"), Some(&1), "{asked:?}");
    assert_eq!(summary.run.traps.canonical, 1, "{summary}");
    assert!(summary.to_string().contains("canonical 1"), "{summary}");
    let pages = stored(&store, &origin);
    let copy = pages["/list?sort=price"]
        .duplicate
        .as_ref()
        .expect("a copy");
    assert_eq!(
        (copy.of.as_str(), copy.kind.as_str()),
        (format!("{origin}/list").as_str(), "canonical")
    );
    assert!(pages["/about"].duplicate.is_none());
    assert!(pages["/list"].duplicate.is_none(), "naming itself");
    drop(store);

    // Turned off, the sort order's links are followed.
    let server = canonical_site();
    let mut config = fast_config(&dir.path().join("off"), &format!("{}/", server.origin()));
    config.canonical = false;
    let (summary, _store) = crawl(&config);
    let asked = request_counts(&server);
    assert_eq!(asked.get("/list?sort=name"), Some(&1), "{asked:?}");
    assert_eq!(summary.run.traps.canonical, 0);
}
