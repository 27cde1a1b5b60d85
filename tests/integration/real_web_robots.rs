//! robots.txt redirects from the server's side (RFC 9309 allows following them, across hosts):
//! each hop is spaced by the crawl's gap from the crawl's own requests to the host it goes
//! to; credential `--header`s go to the seeds' origins only; a hop into an address the crawl
//! may not reach is not followed, and leaves robots.txt unavailable (everything allowed).

use std::sync::Arc;
use std::time::Duration;

use politecrawl::serve::{Reply, Site, SiteServer};
use politecrawl::store::{RobotsVerdict, UrlState};

use crate::support::*;

#[test]
fn a_robots_txt_redirect_keeps_the_targets_gap_and_gets_no_credential_header() {
    let _timing = shared();
    // B: another host (127.0.0.2), a seed of the crawl too, so its own robots.txt and pages
    // are requested while A's robots.txt hop arrives there.
    let b = SiteServer::start(
        "127.0.0.2:0",
        Site::Empty,
        Some(Arc::new(|r| match r.path() {
            "/robots.txt" => Some(Reply::new(200, "text/plain", "User-agent: *\nAllow: /\n")),
            "/" => Some(Reply::html(r#"<a href="/b1">1</a><a href="/b2">2</a>"#)),
            "/b1" | "/b2" => Some(Reply::html("b")),
            _ => None,
        })),
    )
    .expect("start B");
    // C: a host no seed is on (127.0.0.3), the first hop of A's robots.txt, moved on to B's.
    let b_robots = format!("{}/robots.txt", b.origin());
    let c = SiteServer::start(
        "127.0.0.3:0",
        Site::Empty,
        Some(Arc::new(move |r| match r.path() {
            "/robots.txt" => Some(Reply::redirect(301, &b_robots)),
            _ => None,
        })),
    )
    .expect("start C");
    let c_robots = format!("{}/robots.txt", c.origin());
    let a = route_server(Arc::new(move |r| match r.path() {
        "/robots.txt" => Some(Reply::redirect(301, &c_robots)),
        "/" => Some(Reply::html(r#"<a href="/a1">1</a>"#)),
        "/a1" => Some(Reply::html("a")),
        _ => None,
    }));
    let dir = tempdir();
    let mut config = fast_config(&dir.path().join("db"), &format!("{}/", a.origin()));
    config
        .seeds
        .push(format!("{}/", b.origin()).parse().unwrap());
    config.scope = politecrawl::ScopeKind::Any;
    let gap = Duration::from_millis(300);
    config.rate = 1.0 / gap.as_secs_f64();
    config.headers = vec!["X-Api-Key: k3y".to_string(), "X-Team: crawl".to_string()].into();
    let (_summary, store) = crawl(&config);

    for (origin, path) in [(a.origin(), "/a1"), (b.origin(), "/b2")] {
        let records = stored(&store, &origin);
        assert_eq!(records[path].state, UrlState::Done, "{origin}{path}");
    }
    // A's rules came from B's file, through C.
    let robots = store
        .robots(&a.origin())
        .unwrap()
        .expect("A's robots record");
    assert!(
        matches!(robots.verdict, RobotsVerdict::Rules { status: 200 }),
        "{:?}",
        robots.verdict
    );

    let mut at_b = b.requests();
    at_b.sort_by_key(|r| r.at);
    let targets: Vec<&str> = at_b.iter().map(|r| r.target.as_str()).collect();
    assert_eq!(
        targets.iter().filter(|t| **t == "/robots.txt").count(),
        2,
        "B's own robots.txt and A's hop: {targets:?}"
    );
    for w in at_b.windows(2) {
        let apart = w[1].at.duration_since(w[0].at);
        assert!(
            apart >= gap,
            "{} and {} reached B {apart:?} apart, under the gap {gap:?}: {targets:?}",
            w[0].target,
            w[1].target
        );
    }
    // The credential header goes to the seeds' origins (A and B, the hops there included),
    // never to C; the other headers go everywhere.
    let at_c = c.requests();
    assert_eq!(at_c.len(), 1, "one hop through C");
    assert!(
        header(&at_c[0], "x-api-key").is_empty(),
        "{:?}",
        at_c[0].headers
    );
    assert_eq!(header(&at_c[0], "x-team"), ["crawl"]);
    for r in a.requests().iter().chain(&at_b) {
        assert_eq!(
            header(r, "x-api-key"),
            ["k3y"],
            "{}: {:?}",
            r.target,
            r.headers
        );
        assert_eq!(header(r, "x-team"), ["crawl"], "{}", r.target);
    }
}

#[test]
fn a_robots_txt_redirect_into_a_refused_address_is_not_followed() {
    let _timing = shared();
    // 0.0.0.0 is no one's public address; connecting there reaches this machine, so a hop
    // followed by mistake would show at `inside` and the test stays on loopback.
    let inside = route_server(Arc::new(|_| Some(Reply::html("inside"))));
    let port = inside.addr().port();
    let a = route_server(Arc::new(move |r| match r.path() {
        "/robots.txt" => Some(Reply::redirect(
            302,
            &format!("http://0.0.0.0:{port}/robots.txt"),
        )),
        "/" => Some(Reply::html(r#"<a href="/a1">1</a>"#)),
        "/a1" => Some(Reply::html("a")),
        _ => None,
    }));
    let dir = tempdir();
    let config = fast_config(&dir.path().join("db"), &format!("{}/", a.origin()));
    let (_summary, store) = crawl(&config);
    assert!(inside.requests().is_empty(), "{:?}", inside.requests());
    let records = stored(&store, &a.origin());
    assert_eq!(records["/a1"].state, UrlState::Done, "{records:?}");
    let robots = store
        .robots(&a.origin())
        .unwrap()
        .expect("A's robots record");
    match &robots.verdict {
        RobotsVerdict::AllowAll { reason } => {
            assert!(
                reason.contains("0.0.0.0") && reason.contains("--allow-private"),
                "{reason}"
            )
        }
        v => panic!("{v:?}"),
    }
}
