//! Limits a server cannot talk the crawler past, from the server's side: sitemap indexes
//! nested without end (one level followed, the rest stored `blocked`), one response naming
//! more URLs than `--max-links` (the rest counted on its record), and a flood of cookies (the
//! `Cookie` header stays under what servers accept, a saved jar over the limits too).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use politecrawl::serve::Reply;
use politecrawl::store::UrlState;
use politecrawl::{ErrorKind, OpenMode, Store};

use crate::support::*;

/// Apache's `LimitRequestFieldSize`: a longer header line is refused with a 400.
const APACHE_FIELD_LIMIT: usize = 8190;

#[test]
fn nested_sitemap_indexes_are_followed_one_level_and_the_rest_stored_blocked() {
    let _timing = shared();
    // Every index names the next index and a sitemap of one page, up to n = 30 (so the old
    // code's endless walk ends too).
    let server = route_server(Arc::new(|r| {
        let host = r.host.clone().unwrap_or_default();
        let n = |t: &str| t.split("n=").nth(1).and_then(|n| n.parse::<u32>().ok());
        let xml = |body: String| Reply::new(200, "application/xml", body);
        Some(match r.path() {
            "/robots.txt" => robots_naming_sitemap(r, "/idx.xml?n=0"),
            "/" => Reply::html("<p>no links</p>"),
            "/idx.xml" => match n(&r.target).filter(|n| *n < 30) {
                Some(n) => xml(format!(
                    "<sitemapindex><sitemap><loc>http://{host}/idx.xml?n={}</loc></sitemap>\
                     <sitemap><loc>/pages.xml?n={n}</loc></sitemap></sitemapindex>",
                    n + 1
                )),
                None => Reply::new(404, "text/plain", ""),
            },
            "/pages.xml" => xml(format!(
                "<urlset><url><loc>/p/{}</loc></url></urlset>",
                n(&r.target)?
            )),
            p if p.starts_with("/p/") => Reply::html("<p>a page</p>"),
            _ => return None,
        })
    }));
    let db = tempdir();
    let mut config = fast_config(&db.path().join("db"), &format!("{}/", server.origin()));
    config.sitemaps = true;
    let (_summary, store) = crawl(&config);
    let mut requested: Vec<String> = server.requests().into_iter().map(|r| r.target).collect();
    requested.sort();
    // robots.txt names idx 0 (read); idx 0 names idx 1 and pages 0 (both read, as an index's
    // sitemaps); what idx 1 names is a second level of index: never requested.
    assert_eq!(
        requested,
        [
            "/",
            "/idx.xml?n=0",
            "/idx.xml?n=1",
            "/p/0",
            "/pages.xml?n=0",
            "/robots.txt"
        ]
    );
    let records = stored(&store, &server.origin());
    let idx1 = format!("{}/idx.xml?n=1", server.origin());
    for refused in ["/idx.xml?n=2", "/pages.xml?n=1"] {
        let r = &records[refused];
        assert_eq!(r.state, UrlState::Blocked, "{refused}");
        assert_eq!(r.attempts, 0, "{refused}: never requested");
        let error = r.error.as_ref().expect("a named refusal");
        assert_eq!(error.kind, ErrorKind::NestedSitemap, "{refused}");
        assert!(error.message.contains(&idx1), "{}", error.message);
        assert_eq!(r.referrer.as_deref(), Some(idx1.as_str()));
    }
    assert_eq!(records.len(), 7, "{:?}", records.keys());
    // status counts them: blocked, by their kind.
    assert_eq!(store.counters().unwrap().blocked, 2);
    assert_eq!(store.breakdown().unwrap().by_error["nested_sitemap"], 2);
}

#[test]
fn one_response_gives_at_most_max_links_urls_and_its_record_counts_the_rest() {
    let _timing = shared();
    let entries: String = (0..300)
        .map(|i| format!("<url><loc>/s/{i}</loc></url>"))
        .collect();
    let gz = gzip(format!("<urlset>{entries}</urlset>").as_bytes());
    let server = route_server(Arc::new(move |r| {
        Some(match r.path() {
            "/robots.txt" => robots_naming_sitemap(r, "/sitemap.xml.gz"),
            "/sitemap.xml.gz" => Reply::new(200, "application/gzip", gz.clone()),
            // 300 links, each written twice, and 20 more in Link headers.
            "/" => {
                let links: String = (0..300)
                    .map(|i| format!("<a href=/l/{i}>{i}</a><a href=/l/{i}>again</a>"))
                    .collect();
                (0..20).fold(Reply::html(links), |reply, i| {
                    reply.header("Link", &format!("</h/{i}>; rel=next"))
                })
            }
            _ => Reply::html("<p>leaf</p>"),
        })
    }));
    let db = tempdir();
    let mut config = fast_config(&db.path().join("db"), &format!("{}/", server.origin()));
    config.sitemaps = true;
    config.max_links = 100;
    let (_summary, store) = crawl(&config);
    let counts = request_counts(&server);
    let under = |prefix: &str| -> Vec<usize> {
        let mut v: Vec<usize> = counts
            .keys()
            .filter_map(|t| t.strip_prefix(prefix)?.parse().ok())
            .collect();
        v.sort();
        v
    };
    // The Link headers come first, then the page's first distinct links fill the cap.
    assert_eq!(under("/h/"), (0..20).collect::<Vec<_>>());
    assert_eq!(under("/l/"), (0..80).collect::<Vec<_>>());
    assert_eq!(under("/s/"), (0..100).collect::<Vec<_>>());
    assert!(counts.values().all(|n| *n == 1), "{counts:?}");
    let records = stored(&store, &server.origin());
    // The page's 600 link targets as written: the cap is full at the 159th (the 80th link's
    // first), and the 441 after it are counted, repeats included.
    assert_eq!(records["/"].links_dropped, 600 - 159);
    assert_eq!(records["/sitemap.xml.gz"].links_dropped, 200);
    assert_eq!(records["/l/0"].links_dropped, 0);
    // The count is in the JSON Lines export.
    drop(store);
    let out = db.path().join("pages.jsonl");
    let o = run(
        &[
            "export",
            "--db",
            db.path().join("db").to_str().unwrap(),
            "--format",
            "jsonl",
            "--out",
            out.to_str().unwrap(),
        ],
        db.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = std::fs::read_to_string(&out).unwrap();
    let dropped: BTreeMap<String, u64> = lines
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|v| {
            let url = v["url"].as_str().unwrap().to_string();
            (url, v["links_dropped"].as_u64().unwrap())
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    let origin = server.origin();
    assert_eq!(
        dropped,
        BTreeMap::from([
            (format!("{origin}/"), 441),
            (format!("{origin}/sitemap.xml.gz"), 200)
        ]),
        "{}",
        stderr(&o)
    );
}

/// A server that sets 200 new cookies of ~110 bytes on each of 40 pages (each linking the
/// next), refuses a `Cookie` header line longer than Apache's limit with a 400, and records the
/// longest it was sent.
fn cookie_flood() -> (politecrawl::serve::SiteServer, Arc<Mutex<usize>>) {
    let longest = Arc::new(Mutex::new(0usize));
    let seen = longest.clone();
    let server = route_server(Arc::new(move |r| {
        let cookie = r
            .headers
            .iter()
            .find(|(k, _)| k == "cookie")
            .map_or(0, |(_, v)| v.len());
        {
            let mut longest = seen.lock().unwrap();
            *longest = (*longest).max(cookie);
        }
        if "Cookie: ".len() + cookie > APACHE_FIELD_LIMIT {
            return Some(Reply::new(
                400,
                "text/plain",
                "Size of a request header field exceeds server limit",
            ));
        }
        if r.path() == "/robots.txt" {
            return Some(Reply::new(404, "text/plain", ""));
        }
        let n: u32 = r.path().strip_prefix("/c/")?.parse().ok()?;
        let next = if n < 39 {
            format!("<a href=/c/{}>next</a>", n + 1)
        } else {
            String::new()
        };
        let value = "v".repeat(100);
        Some((0..200).fold(Reply::html(next), |reply, i| {
            reply.header("Set-Cookie", &format!("p{n}c{i}={value}; Path=/"))
        }))
    }));
    (server, longest)
}

#[test]
fn a_cookie_flood_never_grows_the_cookie_header_past_what_servers_accept() {
    let _timing = shared();
    let (server, longest) = cookie_flood();
    let db = tempdir();
    let config = fast_config(&db.path().join("db"), &format!("{}/c/0", server.origin()));
    let (_summary, store) = crawl(&config);
    let records = stored(&store, &server.origin());
    for n in 0..40 {
        let r = &records[&format!("/c/{n}")];
        assert_eq!((r.state, r.status), (UrlState::Done, Some(200)), "/c/{n}");
    }
    let longest = *longest.lock().unwrap();
    assert!(
        (7000..=8000).contains(&longest),
        "the header fills to the limit and no further: {longest} bytes"
    );
}

#[test]
fn a_saved_jar_over_the_limits_is_cut_when_the_crawl_opens_it() {
    let _timing = shared();
    let (server, longest) = cookie_flood();
    let db = tempdir();
    let path = db.path().join("db");
    drop(Store::open(&path, OpenMode::CreateOrOpen).unwrap());
    // A jar as the crawler saved it before the limits: 1,000 cookies of 127.0.0.1, a 110 KB
    // header that every request to the host would carry.
    let cookies: Vec<serde_json::Value> = (0..1000)
        .map(|i| {
            serde_json::json!({
                "raw_cookie": format!("old{i}={}; Path=/", "o".repeat(100)),
                "path": ["/", true],
                "domain": {"HostOnly": "127.0.0.1"},
                "expires": "SessionEnd",
            })
        })
        .collect();
    std::fs::write(
        path.join("cookies.json"),
        serde_json::to_vec(&cookies).unwrap(),
    )
    .unwrap();
    let config = fast_config(&path, &format!("{}/c/39", server.origin()));
    let (_summary, store) = crawl(&config);
    let r = &stored(&store, &server.origin())["/c/39"];
    assert_eq!((r.state, r.status), (UrlState::Done, Some(200)));
    let longest = *longest.lock().unwrap();
    assert!((1..=8000).contains(&longest), "{longest} bytes");
    // What the crawl saved is within the limits too: 180 cookies of one site at most.
    let saved: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(path.join("cookies.json")).unwrap()).unwrap();
    assert!(saved.len() <= 180, "{} cookies saved", saved.len());
}
