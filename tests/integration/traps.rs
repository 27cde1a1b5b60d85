//! Requests not spent on duplicates and traps, from the server's side: URLs that differ only
//! by session IDs, tracking parameters or parameter order are fetched once (as first found),
//! and the path rules keep a relative-link loop, a deep path and a parameter flood out.

use std::collections::BTreeMap;
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
    // last, until the crawl is done.
    let mut runs = 1;
    loop {
        let out = run(&["crawl", "--db", "t.db"], dir.path());
        let err = stderr(&out);
        assert!(out.status.success(), "{err}");
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
