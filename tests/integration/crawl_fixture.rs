//! Crawls of the bundled fixture site, compared with the hand-written expected list and with
//! the server's own request log.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use politecrawl::export::{self, Format};
use politecrawl::progress::Progress;
use politecrawl::serve::Reply;
use politecrawl::store::UrlState;
use politecrawl::{status, CrawlConfig, OpenMode, ScopeKind, StopReason, StopSignal, Store};

use crate::support::*;

#[test]
fn full_crawl_stores_exactly_the_reachable_set_each_requested_once() {
    let _timing = shared();
    let server = fixture_server();
    let origin = server.origin();
    let dir = tempdir();
    let config = fast_config(&dir.path().join("db"), &format!("{origin}/"));
    let (summary, store) = crawl(&config);
    assert_eq!(summary.stop, StopReason::Finished);

    let want = expected();
    let pages = stored(&store, &origin);
    let want_set: BTreeSet<String> = want.iter().map(|e| e.target.clone()).collect();
    let got_set: BTreeSet<String> = pages.keys().cloned().collect();
    assert_eq!(want_set, got_set, "{}", diff(&want_set, &got_set));

    for e in &want {
        let rec = &pages[&e.target];
        assert_eq!(rec.status, Some(e.status), "status of {}", e.target);
        assert_eq!(rec.depth, e.depth, "depth of {}", e.target);
        assert_eq!(rec.attempts, 1, "{}", e.target);
        let want_state = if e.status >= 400 {
            UrlState::Failed
        } else {
            UrlState::Done
        };
        assert_eq!(rec.state, want_state, "{}", e.target);
        assert_eq!(
            rec.referrer.is_none(),
            e.target == "/",
            "referrer of {}",
            e.target
        );
    }
    assert_eq!(pages["/docs"].final_url, format!("{origin}/docs/"));

    // From the server's side: exactly the expected requests, none twice.
    let counts = request_counts(&server);
    let requested: BTreeSet<String> = counts.keys().cloned().collect();
    assert_eq!(want_set, requested, "{}", diff(&want_set, &requested));
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "requested more than once: {twice:?}");
    let all = server.requests();
    assert_eq!(
        all[0].path(),
        "/robots.txt",
        "robots.txt comes before any page"
    );
    assert_eq!(all.iter().filter(|r| r.path() == "/robots.txt").count(), 1);
    let ua = politecrawl::config::default_user_agent();
    assert!(server
        .requests()
        .iter()
        .all(|r| r.user_agent.as_deref() == Some(ua.as_str())));
    assert!(ua.starts_with("politecrawl/"));
}

#[test]
fn excluded_urls_are_never_requested() {
    let _timing = shared();
    let server = fixture_server();
    let origin = server.origin();
    let dir = tempdir();
    let mut config = fast_config(&dir.path().join("db"), &format!("{origin}/"));
    config.exclude = vec!["/private/".into()];
    let (_, store) = crawl(&config);

    let want: BTreeSet<String> = expected()
        .into_iter()
        .map(|e| e.target)
        .filter(|t| !t.contains("/private/"))
        .collect();
    let got: BTreeSet<String> = stored(&store, &origin).into_keys().collect();
    assert_eq!(want, got, "{}", diff(&want, &got));
    assert!(server
        .requests()
        .iter()
        .all(|r| !r.target.contains("/private/")));
    assert_eq!(page_requests(&server).len(), want.len());
}

#[test]
fn include_limits_the_crawl_to_matching_urls() {
    let _timing = shared();
    let server = fixture_server();
    let origin = server.origin();
    let dir = tempdir();
    let mut config = fast_config(&dir.path().join("db"), &format!("{origin}/"));
    config.include = vec![r"/chain/".into()];
    let (_, store) = crawl(&config);
    let got: BTreeSet<String> = stored(&store, &origin).into_keys().collect();
    // The seed is always fetched; from it, only the chain is followed.
    let want: BTreeSet<String> = expected()
        .into_iter()
        .map(|e| e.target)
        .filter(|t| t == "/" || t.starts_with("/chain/"))
        .collect();
    assert_eq!(want, got, "{}", diff(&want, &got));
}

#[test]
fn max_depth_cuts_at_the_link_distance() {
    let _timing = shared();
    for max_depth in [0u32, 2] {
        let server = fixture_server();
        let origin = server.origin();
        let dir = tempdir();
        let mut config = fast_config(&dir.path().join("db"), &format!("{origin}/"));
        config.max_depth = Some(max_depth);
        let (_, store) = crawl(&config);
        let want: BTreeSet<String> = expected()
            .into_iter()
            .filter(|e| e.depth <= max_depth)
            .map(|e| e.target)
            .collect();
        let got: BTreeSet<String> = stored(&store, &origin).into_keys().collect();
        assert_eq!(want, got, "max_depth {max_depth}: {}", diff(&want, &got));
        assert_eq!(
            page_requests(&server).len(),
            want.len(),
            "max_depth {max_depth}"
        );
    }
}

#[test]
fn max_pages_is_exact_and_counts_across_runs() {
    let _timing = shared();
    let server = fixture_server();
    let origin = server.origin();
    let dir = tempdir();
    let db = dir.path().join("db");
    let mut config = fast_config(&db, &format!("{origin}/"));
    config.max_pages = Some(10);
    let (summary, store) = crawl(&config);
    assert_eq!(summary.stop, StopReason::MaxPages);
    assert_eq!(summary.run.stored, 10);
    assert_eq!(store.counters().unwrap().stored(), 10);
    assert_eq!(page_requests(&server).len(), 10);
    let left = summary.totals.queued;
    assert!(left > 0, "work must remain queued");
    drop(store);

    // A second run on the same database, no seeds: the budget is the database total.
    let mut resume = CrawlConfig::new(&db, &[] as &[&str]).unwrap();
    resume.rate = 0.0;
    resume.max_pages = Some(30);
    let (summary, store) = crawl(&resume);
    assert_eq!(summary.run.stored, 20);
    assert_eq!(store.counters().unwrap().stored(), 30);
    let counts = request_counts(&server);
    assert_eq!(counts.values().sum::<usize>(), 30);
    assert!(
        counts.values().all(|n| *n == 1),
        "no URL fetched twice across runs"
    );
    drop(store);

    // And without a budget it finishes the site, still fetching nothing twice.
    resume.max_pages = None;
    let (summary, store) = crawl(&resume);
    assert_eq!(summary.stop, StopReason::Finished);
    assert_eq!(store.counters().unwrap().stored(), expected().len() as u64);
    assert!(request_counts(&server).values().all(|n| *n == 1));
}

#[test]
fn status_counts_and_jsonl_export_match_the_store() {
    let _timing = shared();
    let server = fixture_server();
    let origin = server.origin();
    let dir = tempdir();
    let config = fast_config(&dir.path().join("db"), &format!("{origin}/"));
    let (_, store) = crawl(&config);
    let s = status::status(&store).unwrap();
    let records: Vec<_> = store.pages().map(|r| r.unwrap()).collect();

    let done = records.iter().filter(|r| r.state == UrlState::Done).count() as u64;
    let failed = records
        .iter()
        .filter(|r| r.state == UrlState::Failed)
        .count() as u64;
    assert_eq!(
        (
            s.totals.done,
            s.totals.failed,
            s.totals.queued,
            s.totals.in_flight
        ),
        (done, failed, 0, 0)
    );
    assert_eq!(
        s.totals.bytes,
        records.iter().map(|r| r.body_len).sum::<u64>()
    );
    let want_404 = expected().iter().filter(|e| e.status == 404).count() as u64;
    let by_status = s.by_status.as_ref().unwrap();
    assert_eq!(by_status.get("404"), Some(&want_404));
    assert_eq!(by_status.values().sum::<u64>(), records.len() as u64);
    let host = origin.trim_start_matches("http://");
    assert_eq!(
        s.by_host.as_ref().unwrap().get(host),
        Some(&(records.len() as u64))
    );

    let mut out = Vec::new();
    let n = export::export(&store, Format::Jsonl, &export::Filter::default(), &mut out).unwrap();
    assert_eq!(n as usize, records.len());
    let lines: Vec<serde_json::Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), records.len());
    for (line, rec) in lines.iter().zip(&records) {
        assert_eq!(line["url"], rec.url.as_str());
        assert_eq!(
            line["status"],
            rec.status.map(serde_json::Value::from).unwrap_or_default()
        );
        assert_eq!(line["depth"], rec.depth);
        let body = store.find_body(&rec.url).unwrap().unwrap_or_default();
        match std::str::from_utf8(&body) {
            Ok(text) => assert_eq!(line["body"], text, "{}", rec.url),
            Err(_) => {
                use base64::Engine as _;
                let b64 = line["body_base64"].as_str().expect("binary body in base64");
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .unwrap();
                assert_eq!(decoded, &body[..], "{}", rec.url);
            }
        }
    }
    let png = lines
        .iter()
        .find(|l| l["url"].as_str().unwrap().ends_with(".png"))
        .unwrap();
    assert!(png.get("body_base64").is_some(), "a PNG is not UTF-8");
}

#[test]
fn rate_limit_spaces_request_starts_per_origin() {
    let _timing = exclusive();
    let server = fixture_server();
    let origin = server.origin();
    let dir = tempdir();
    let mut config = fast_config(&dir.path().join("db"), &format!("{origin}/"));
    config.rate = 40.0; // 25 ms between starts
    config.concurrency = 16;
    config.per_host_concurrency = 4;
    config.max_pages = Some(30);
    crawl(&config);
    let times: Vec<_> = server.requests().iter().map(|r| r.at).collect();
    // robots.txt goes through the same limit, so it is part of the spacing.
    assert_eq!(times.len(), 31, "30 pages and robots.txt");
    // The crawler spaces sends by 25 ms; the server's clock reads arrivals, which a busy
    // 2-core machine can delay by several ms (a late arrival shortens the gap after it and
    // lengthens the one before). So: no two requests close together (a burst would show a
    // gap near 0), and the whole run no faster than 40/s.
    for w in times.windows(2) {
        let gap = w[1].duration_since(w[0]);
        assert!(
            gap >= Duration::from_millis(15),
            "requests {gap:?} apart at 40/s"
        );
    }
    let span = times[times.len() - 1].duration_since(times[0]);
    let least = Duration::from_millis(25 * (times.len() as u64 - 1) - 5);
    assert!(
        span >= least,
        "{} requests in {span:?} at 40/s",
        times.len()
    );
}

#[test]
fn host_scope_never_leaves_the_seed_origin_and_any_scope_does() {
    let _timing = shared();
    let other = route_server(Arc::new(|_| Some(Reply::html("<p>elsewhere</p>"))));
    let other_url = format!("{}/away.html", other.origin());
    let home = route_server(Arc::new(move |r| match r.path() {
        "/" => Some(Reply::html(format!(
            r#"<a href="{other_url}">away</a> <a href="/local.html">local</a>"#
        ))),
        "/local.html" => Some(Reply::html("<p>local</p>")),
        _ => None,
    }));
    for (scope, other_hits) in [(ScopeKind::Host, 0), (ScopeKind::Any, 1)] {
        let dir = tempdir();
        let mut config = fast_config(&dir.path().join("db"), &format!("{}/", home.origin()));
        config.scope = scope;
        let (summary, _) = crawl(&config);
        assert_eq!(summary.run.stored, 2 + other_hits as u64, "{scope:?}");
        assert_eq!(page_requests(&other).len(), other_hits, "{scope:?}");
    }
}

#[test]
fn a_second_open_of_a_database_in_use_is_refused() {
    let _timing = shared();
    let dir = tempdir();
    let db = dir.path().join("db");
    let _held = Store::open(&db, OpenMode::CreateOrOpen).unwrap();
    let inputs = politecrawl::crawl::Inputs {
        seeds: vec!["http://127.0.0.1:9/".to_string()],
        ..Default::default()
    };
    let (stop, progress) = (StopSignal::new(), Progress::new());
    let overrides = politecrawl::Overrides::default();
    let err = politecrawl::crawl::start(&db, &inputs, &overrides, &stop, &progress, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("in use"), "{err}");
}

#[test]
fn bodies_over_max_body_are_cut_and_marked_truncated() {
    let _timing = shared();
    let big = "x".repeat(100_000);
    let server = route_server(Arc::new(move |r| match r.path() {
        "/" => Some(Reply::html(
            r#"<a href="/big.txt">big</a> <a href="/small.txt">s</a>"#,
        )),
        "/big.txt" => Some(Reply::new(200, "text/plain", big.clone())),
        "/small.txt" => Some(Reply::new(200, "text/plain", "small")),
        _ => None,
    }));
    let dir = tempdir();
    let mut config = fast_config(&dir.path().join("db"), &format!("{}/", server.origin()));
    config.max_body = 10_000;
    let (_, store) = crawl(&config);
    let pages = stored(&store, &server.origin());
    let big = &pages["/big.txt"];
    assert!(big.truncated);
    assert_eq!(big.body_len, 10_000);
    assert_eq!(store.find_body(&big.url).unwrap().unwrap().len(), 10_000);
    assert_eq!(big.state, UrlState::Done);
    let small = &pages["/small.txt"];
    assert!(!small.truncated);
    assert_eq!(&store.find_body(&small.url).unwrap().unwrap()[..], b"small");
}

/// HTML bodies go from curl to the parse threads and the store by move, never re-encoded: each
/// page is stored byte for byte as served, whatever its charset and size (one spans several
/// 64 KiB read windows), and its links are found through its charset.
#[test]
fn html_bodies_are_stored_byte_for_byte_as_served_in_any_charset() {
    let _timing = shared();
    let mut big = b"<html><head><meta charset=utf-8></head><body>".to_vec();
    for i in 0..9000 {
        big.extend(format!("<p>filler {i} \u{e9}t\u{e9}</p>\n").as_bytes());
    }
    big.extend(b"<a href=\"/after-big\">the last link</a></body></html>");
    assert!(big.len() > 3 * 64 * 1024, "{}", big.len());
    let pages: Vec<(&str, &str, Vec<u8>)> = vec![
        ("/big", "text/html", big),
        (
            "/latin1",
            "text/html; charset=ISO-8859-1",
            b"<a href=\"/caf\xe9\">caf\xe9</a>".to_vec(),
        ),
        (
            "/bom",
            "text/html; charset=windows-1252",
            b"\xef\xbb\xbf<a href=\"/bom-\xc3\xa9\">x</a>".to_vec(),
        ),
        (
            "/sjis",
            "text/html",
            b"<meta charset=\"shift_jis\"><a href=\"/\x93\xfa\x96\x7b\">x</a>".to_vec(),
        ),
        (
            "/undeclared",
            "text/html",
            b"<a href=\"/nul\xe9\">not UTF-8, so windows-1252</a>".to_vec(),
        ),
    ];
    let served = Arc::new(pages.clone());
    let server = route_server(Arc::new(move |r| {
        if r.path() == "/" {
            let links: String = served
                .iter()
                .map(|(p, _, _)| format!("<a href=\"{p}\">{p}</a>"))
                .collect();
            return Some(Reply::html(links));
        }
        let (_, ctype, body) = served.iter().find(|(p, _, _)| *p == r.path())?;
        Some(Reply::new(200, ctype, body.clone()))
    }));
    let dir = tempdir();
    let config = fast_config(&dir.path().join("db"), &format!("{}/", server.origin()));
    let (_, store) = crawl(&config);
    let stored = stored(&store, &server.origin());
    for (path, _, body) in &pages {
        let rec = &stored[*path];
        let kept = store.find_body(&rec.url).unwrap().unwrap();
        assert!(
            kept[..] == body[..],
            "{path}: stored body differs from the one served"
        );
        assert_eq!(rec.body_len, body.len() as u64, "{path}");
    }
    // Each page's link, read through its charset (the targets answer 404, but are recorded).
    for found in [
        "/after-big",
        "/caf%C3%A9",
        "/bom-%C3%A9",
        "/%E6%97%A5%E6%9C%AC",
        "/nul%C3%A9",
    ] {
        assert!(
            stored.contains_key(found),
            "{found} not followed: {:?}",
            stored.keys()
        );
    }
}

#[test]
fn requisites_are_fetched_only_with_requisites() {
    let _timing = shared();
    let server = fixture_server();
    let dir = tempdir();
    let mut config = fast_config(&dir.path().join("db"), &format!("{}/", server.origin()));
    config.requisites = true;
    crawl(&config);
    let got: BTreeSet<String> = page_requests(&server)
        .iter()
        .map(|r| r.target.clone())
        .collect();
    // The requisites of the home page and of noscript.html, which the default crawl never
    // requests (see the exact set of `full_crawl_stores_exactly_the_reachable_set…`).
    for path in [
        "/style.css",
        "/favicon.png",
        "/images/pixel-only.png",
        "/nav.js",
    ] {
        assert!(got.contains(path), "{path} not requested; got {got:?}");
    }
    // Pages are still all there, each once; script-written links stay unfollowed.
    let pages: BTreeSet<String> = expected().iter().map(|e| e.target.clone()).collect();
    assert!(pages.is_subset(&got), "{}", diff(&pages, &got));
    assert!(!got.contains("/by-script-only.html"));
    let requests = page_requests(&server);
    assert_eq!(requests.len(), got.len(), "no URL requested twice");
}

#[test]
fn link_headers_with_page_rels_are_followed() {
    let _timing = shared();
    let server = route_server(Arc::new(|r| match r.path() {
        "/" => Some(Reply::html("<p>no links in the body</p>").header(
            "Link",
            r#"</next.html>; rel="next", </style.css>; rel=stylesheet"#,
        )),
        "/doc.pdf" => Some(
            Reply::new(200, "application/pdf", "%PDF")
                .header("Link", r#"</canonical.html>; rel="canonical""#),
        ),
        "/next.html" => Some(Reply::html(r#"<a href="/doc.pdf">pdf</a>"#)),
        "/canonical.html" => Some(Reply::html("<p>end</p>")),
        _ => None,
    }));
    let dir = tempdir();
    let config = fast_config(&dir.path().join("db"), &format!("{}/", server.origin()));
    crawl(&config);
    let got: Vec<String> = page_requests(&server)
        .iter()
        .map(|r| r.path().to_string())
        .collect();
    assert_eq!(got, ["/", "/next.html", "/doc.pdf", "/canonical.html"]);
}

#[test]
fn max_pages_per_host_is_exact_per_host_and_across_runs() {
    let _timing = shared();
    let (a, b) = (fixture_server(), fixture_server());
    let dir = tempdir();
    let db = dir.path().join("db");
    let mut config = fast_config(&db, &format!("{}/", a.origin()));
    config
        .seeds
        .push(politecrawl::canon::parse_seed(&format!("{}/", b.origin())).unwrap());
    config.max_pages_per_host = Some(5);
    let (summary, store) = crawl(&config);
    assert_eq!(summary.run.stored, 10);
    assert!(summary.totals.queued > 0, "the rest stays queued");
    drop(store);
    for server in [&a, &b] {
        let got = page_requests(server);
        assert_eq!(
            got.len(),
            5,
            "{:?}",
            got.iter().map(|r| &r.target).collect::<Vec<_>>()
        );
    }
    // A larger budget on the next run: 3 more pages each, none requested twice.
    config.max_pages_per_host = Some(8);
    let (summary, _) = crawl(&config);
    assert_eq!(summary.run.stored, 6);
    for server in [&a, &b] {
        let targets: Vec<String> = page_requests(server)
            .iter()
            .map(|r| r.target.clone())
            .collect();
        let distinct: BTreeSet<&String> = targets.iter().collect();
        assert_eq!((targets.len(), distinct.len()), (8, 8), "{targets:?}");
    }
}
