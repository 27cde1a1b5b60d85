//! Politeness asserted from the servers' side: per-origin gaps and in-flight caps, robots.txt
//! verdicts (rules, 4xx, 5xx, redirects, cache on resume), Crawl-delay, Retry-After.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use politecrawl::serve::{Reply, Request, SiteServer};
use politecrawl::store::UrlState;
use politecrawl::ErrorKind;
use politecrawl::{status, CrawlConfig, StopReason};

use crate::support::*;

/// A site of `n` pages (`/p/0` … `/p/{n-1}`) linked from `/`, with an optional robots.txt.
fn site(n: usize, robots: Option<&'static str>) -> impl Fn(&Request) -> Option<Reply> {
    move |r: &Request| match r.path() {
        "/robots.txt" => Some(match robots {
            Some(body) => Reply::new(200, "text/plain", body),
            None => Reply::new(404, "text/plain", "none"),
        }),
        "/" => Some(Reply::html(
            (0..n)
                .map(|i| format!(r#"<a href="/p/{i}">{i}</a>"#))
                .collect::<String>(),
        )),
        p if p.starts_with("/p/") => Some(Reply::html(format!("<p>{p}</p>"))),
        _ => None,
    }
}

fn starts_of(server: &SiteServer) -> Vec<Instant> {
    server.requests().iter().map(|r| r.at).collect()
}

fn min_gap(times: &[Instant]) -> Duration {
    times
        .windows(2)
        .map(|w| w[1].duration_since(w[0]))
        .min()
        .unwrap_or(Duration::MAX)
}

#[test]
fn each_origin_keeps_its_gap_and_cap_whatever_the_concurrency() {
    let _timing = exclusive();
    let mut servers = Vec::new();
    let mut peaks = Vec::new();
    for _ in 0..3 {
        let (active, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (a, p) = (active.clone(), peak.clone());
        let arrived = AtomicUsize::new(0);
        let pages = site(12, None);
        servers.push(route_server(Arc::new(move |r| {
            // Count requests being answered at once; each takes 120 ms, more than the 50 ms
            // gap, so only the per-host cap keeps the count at 2.
            let now = a.fetch_add(1, Ordering::SeqCst) + 1;
            p.fetch_max(now, Ordering::SeqCst);
            if r.path().starts_with("/p/") {
                // A page is held until a second request is answered here (or it is the last
                // of the 12): the cap is reached however late a loaded machine lets the
                // crawler send the next one (it once came after the first was answered). A
                // crawler that never sends two at once fails on the peak after 30 s.
                let last = arrived.fetch_add(1, Ordering::SeqCst) + 1 == 12;
                let limit = Instant::now() + Duration::from_secs(30);
                while !last && a.load(Ordering::SeqCst) < 2 && Instant::now() < limit {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            std::thread::sleep(Duration::from_millis(120));
            a.fetch_sub(1, Ordering::SeqCst);
            pages(r)
        })));
        peaks.push(peak);
    }
    let dir = tempdir();
    let seeds: Vec<String> = servers.iter().map(|s| format!("{}/", s.origin())).collect();
    let mut config = CrawlConfig::new(dir.path().join("db"), &seeds).unwrap();
    config.rate = 20.0;
    config.per_host_concurrency = 2;
    config.concurrency = 32;
    let (summary, _) = crawl(&config);
    assert_eq!(summary.run.stored, 3 * 13);
    for (server, peak) in servers.iter().zip(&peaks) {
        let gap = min_gap(&starts_of(server));
        assert!(
            gap >= Duration::from_millis(45),
            "{}: starts {gap:?} apart at 20/s",
            server.origin()
        );
        assert_eq!(
            peak.load(Ordering::SeqCst),
            2,
            "{}: in-flight peak",
            server.origin()
        );
    }
}

#[test]
fn robots_disallowed_urls_are_never_requested_and_stored_as_blocked() {
    let _timing = shared();
    let robots =
        "User-agent: *\nDisallow: /p/1\nAllow: /p/10\n\nUser-agent: otherbot\nDisallow: /\n";
    let server = route_server(Arc::new(site(12, Some(robots))));
    let dir = tempdir();
    let config = fast_config(&dir.path().join("db"), &format!("{}/", server.origin()));
    let (summary, store) = crawl(&config);
    let requested: Vec<String> = server.requests().iter().map(|r| r.target.clone()).collect();
    assert_eq!(requested[0], "/robots.txt");
    assert_eq!(requested.iter().filter(|t| *t == "/robots.txt").count(), 1);
    assert!(!requested.contains(&"/p/1".to_string()), "{requested:?}");
    assert!(!requested.contains(&"/p/11".to_string()), "{requested:?}");
    assert!(
        requested.contains(&"/p/10".to_string()),
        "longer Allow wins"
    );
    assert_eq!(summary.run.blocked, 2);

    let pages = stored(&store, &server.origin());
    let blocked = &pages["/p/1"];
    assert_eq!(blocked.state, UrlState::Blocked);
    assert_eq!(blocked.attempts, 0);
    let err = blocked.error.as_ref().unwrap();
    assert_eq!(err.kind, ErrorKind::RobotsDisallowed);
    assert!(
        err.message.starts_with("Disallow: /p/1 "),
        "{}",
        err.message
    );
    let s = status::status(&store).unwrap();
    assert_eq!(s.totals.blocked, 2);
    assert_eq!(s.by_error.unwrap().get("robots_disallowed"), Some(&2));
}

#[test]
fn robots_txt_is_fetched_once_and_not_again_on_a_resume() {
    let _timing = shared();
    let server = route_server(Arc::new(site(
        10,
        Some("User-agent: *\nDisallow: /nothing\n"),
    )));
    let dir = tempdir();
    let db = dir.path().join("db");
    let mut config = fast_config(&db, &format!("{}/", server.origin()));
    config.max_pages = Some(4);
    let (summary, store) = crawl(&config);
    assert_eq!(summary.stop, StopReason::MaxPages);
    drop(store);
    let mut resume = CrawlConfig::new(&db, &[] as &[&str]).unwrap();
    resume.rate = 0.0;
    let (summary, _) = crawl(&resume);
    assert_eq!(summary.stop, StopReason::Finished);
    let robots = server
        .requests()
        .iter()
        .filter(|r| r.path() == "/robots.txt")
        .count();
    assert_eq!(robots, 1, "the cached verdict is reused within 24 h");
    assert_eq!(page_requests(&server).len(), 11);
}

#[test]
fn a_404_robots_txt_allows_everything() {
    let _timing = shared();
    let server = route_server(Arc::new(site(5, None)));
    let dir = tempdir();
    let config = fast_config(&dir.path().join("db"), &format!("{}/", server.origin()));
    let (summary, _) = crawl(&config);
    assert_eq!((summary.run.stored, summary.run.blocked), (6, 0));
}

#[test]
fn an_unreachable_robots_txt_holds_the_origin_until_it_answers() {
    let _timing = shared();
    let tries = Arc::new(AtomicUsize::new(0));
    let t = tries.clone();
    let pages = site(3, Some("User-agent: *\nDisallow:\n"));
    let server = route_server(Arc::new(move |r| {
        if r.path() == "/robots.txt" && t.fetch_add(1, Ordering::SeqCst) < 2 {
            return Some(Reply::new(503, "text/plain", "busy"));
        }
        pages(r)
    }));
    let dir = tempdir();
    let config = fast_config(&dir.path().join("db"), &format!("{}/", server.origin()));
    let (summary, _) = crawl(&config);
    assert_eq!(summary.run.stored, 4);
    let log = server.requests();
    let robots: Vec<Instant> = log
        .iter()
        .filter(|r| r.path() == "/robots.txt")
        .map(|r| r.at)
        .collect();
    assert_eq!(robots.len(), 3, "two 503s, then 200");
    assert!(
        robots[1] - robots[0] >= Duration::from_millis(995),
        "tries back off"
    );
    assert!(
        robots[2] - robots[1] >= Duration::from_millis(1995),
        "and back off more"
    );
    let first_page = log.iter().find(|r| r.path() != "/robots.txt").unwrap().at;
    assert!(
        first_page > robots[2],
        "no page is fetched while robots.txt answers 503"
    );
}

#[test]
fn a_robots_txt_unreachable_for_too_long_fails_the_origins_urls_unrequested() {
    let _timing = shared();
    let server = route_server(Arc::new(|_| Some(Reply::new(500, "text/plain", "down"))));
    let dir = tempdir();
    let mut config = fast_config(&dir.path().join("db"), &format!("{}/", server.origin()));
    config.robots_give_up = Duration::ZERO;
    let (summary, store) = crawl(&config);
    assert_eq!(page_requests(&server).len(), 0);
    assert_eq!(summary.run.failed, 1);
    let rec = store.pages().next().unwrap().unwrap();
    assert_eq!(rec.error.unwrap().kind, ErrorKind::RobotsUnreachable);
}

#[test]
fn robots_txt_behind_three_redirects_is_obeyed() {
    let _timing = shared();
    let pages = site(4, None);
    let server = route_server(Arc::new(move |r| match r.path() {
        "/robots.txt" => Some(Reply::redirect(301, "/r1")),
        "/r1" => Some(Reply::redirect(302, "/r2")),
        "/r2" => Some(Reply::redirect(307, "/real-robots.txt")),
        "/real-robots.txt" => Some(Reply::new(
            200,
            "text/plain",
            "User-agent: *\nDisallow: /p/2\n",
        )),
        _ => pages(r),
    }));
    let dir = tempdir();
    let config = fast_config(&dir.path().join("db"), &format!("{}/", server.origin()));
    let (summary, _) = crawl(&config);
    let targets: Vec<String> = server.requests().iter().map(|r| r.target.clone()).collect();
    assert_eq!(
        &targets[..4],
        ["/robots.txt", "/r1", "/r2", "/real-robots.txt"]
    );
    assert!(!targets.contains(&"/p/2".to_string()));
    assert_eq!(summary.run.blocked, 1);
}

#[test]
fn crawl_delay_longer_than_the_rate_sets_the_gap() {
    let _timing = exclusive();
    let server = route_server(Arc::new(site(3, Some("User-agent: *\nCrawl-delay: 1\n"))));
    let dir = tempdir();
    let mut config = fast_config(&dir.path().join("db"), &format!("{}/", server.origin()));
    config.rate = 10.0;
    let (summary, _) = crawl(&config);
    assert_eq!(summary.run.stored, 4);
    let pages: Vec<Instant> = page_requests(&server).iter().map(|r| r.at).collect();
    let gap = min_gap(&pages);
    assert!(
        gap >= Duration::from_millis(995),
        "pages {gap:?} apart with Crawl-delay: 1"
    );
}

#[test]
fn retry_after_pauses_only_that_origin() {
    let _timing = exclusive();
    for form in ["seconds", "http-date"] {
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        let pages = site(2, None);
        let busy = route_server(Arc::new(move |r| {
            if r.path() == "/p/0" && h.fetch_add(1, Ordering::SeqCst) == 0 {
                let when = match form {
                    "seconds" => "2".to_string(),
                    _ => httpdate::fmt_http_date(
                        std::time::SystemTime::now() + Duration::from_secs(3),
                    ),
                };
                return Some(
                    Reply::new(429, "text/plain", "slow down").header("Retry-After", &when),
                );
            }
            pages(r)
        }));
        let calm = route_server(Arc::new(site(30, None)));
        let dir = tempdir();
        let seeds = [format!("{}/", busy.origin()), format!("{}/", calm.origin())];
        let mut config = CrawlConfig::new(dir.path().join("db"), &seeds).unwrap();
        config.rate = 20.0;
        config.concurrency = 8;
        // One request at a time per origin: the next to the busy one starts only once the 429
        // is in. With two, the second could start 50 ms after the first, before a loaded
        // machine had read the 429 (it once came 113 ms after it), which says nothing about
        // how the pause is kept.
        config.per_host_concurrency = 1;
        let (_, store) = crawl(&config);

        let log = busy.requests();
        let refused = log.iter().find(|r| r.path() == "/p/0").unwrap().at;
        let after: Vec<Instant> = log.iter().map(|r| r.at).filter(|t| *t > refused).collect();
        let first_after = after.iter().min().copied().unwrap();
        // "2" is two seconds; HTTP-dates have whole seconds, so "now + 3 s" is at least 2 s.
        let want = Duration::from_millis(1995);
        assert!(
            first_after - refused >= want,
            "{form}: next request {:?} after the 429",
            first_after - refused
        );
        let calm_during = calm
            .requests()
            .iter()
            .filter(|r| r.at > refused && r.at < first_after)
            .count();
        assert!(
            calm_during >= 10,
            "{form}: the other origin kept going ({calm_during} requests)"
        );
        let rec = &stored(&store, &busy.origin())["/p/0"];
        assert_eq!((rec.status, rec.attempts), (Some(200), 2), "{form}");
    }
}

#[test]
fn ignore_robots_skips_robots_txt_entirely() {
    let _timing = shared();
    let server = route_server(Arc::new(site(3, Some("User-agent: *\nDisallow: /\n"))));
    let dir = tempdir();
    let mut config = fast_config(&dir.path().join("db"), &format!("{}/", server.origin()));
    config.ignore_robots = true;
    let (summary, _) = crawl(&config);
    assert_eq!(summary.run.stored, 4);
    assert!(server.requests().iter().all(|r| r.path() != "/robots.txt"));
}

#[test]
fn sitemaps_named_in_robots_txt_are_read_with_indexes_and_gzip() {
    let _timing = shared();
    let gz = gzip(
        br#"<urlset><url><loc>/only-in-gz</loc></url><url><loc>http://example.com/off-site</loc></url></urlset>"#,
    );
    let server = route_server(Arc::new(move |r| {
        let host = r.host.clone().unwrap_or_default();
        Some(match r.path() {
            "/robots.txt" => robots_naming_sitemap(r, "/index.xml"),
            "/index.xml" => Reply::new(
                200,
                "application/xml",
                format!(
                    "<sitemapindex><sitemap><loc>http://{host}/a.xml</loc></sitemap>\
                     <sitemap><loc>http://{host}/b.xml.gz</loc></sitemap></sitemapindex>"
                ),
            ),
            "/a.xml" => Reply::new(
                200,
                "application/xml",
                format!(
                    "<urlset><url><loc>http://{host}/only-in-a?x=1&amp;y=2</loc></url></urlset>"
                ),
            ),
            "/b.xml.gz" => Reply::new(200, "application/gzip", gz.clone()),
            "/" => Reply::html("<p>no links</p>"),
            p if p.starts_with("/only-in-") => Reply::html("<p>found via sitemap</p>"),
            _ => return None,
        })
    }));
    for (sitemaps, want) in [
        (false, vec!["/"]),
        (
            true,
            vec![
                "/",
                "/a.xml",
                "/b.xml.gz",
                "/index.xml",
                "/only-in-a?x=1&y=2",
                "/only-in-gz",
            ],
        ),
    ] {
        let dir = tempdir();
        let mut config = fast_config(&dir.path().join("db"), &format!("{}/", server.origin()));
        config.sitemaps = sitemaps;
        let (_, store) = crawl(&config);
        let got: Vec<String> = stored(&store, &server.origin()).into_keys().collect();
        assert_eq!(got, want, "--sitemaps {sitemaps}");
    }
    let pages = page_requests(&server);
    assert!(pages.iter().all(|r| !r.target.contains("off-site")));
}
