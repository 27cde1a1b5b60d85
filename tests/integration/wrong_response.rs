//! Guards the reason we use surf's curl backend: after timeouts and bodies cut mid-way on
//! pooled connections, no request may ever be given the response meant for another URL.

use std::sync::Arc;
use std::time::Duration;

use politecrawl::store::UrlState;
use politecrawl::ErrorKind;

use crate::support::*;

const NORMAL: usize = 200;
const SLOW: usize = 20;
const CUT: usize = 20;

/// The body a path must come back with: its own path, repeated, so any mix-up shows.
fn body_for(path: &str) -> Vec<u8> {
    format!("BODY-FOR:{path};").repeat(400).into_bytes()
}

#[test]
fn no_url_ever_receives_another_urls_response() {
    // curl's own whole-request timeout ends the slow requests.
    crawl_mixed(|c| c.timeout = Duration::from_secs(1));
}

#[test]
fn no_url_ever_receives_another_urls_response_after_a_dropped_request() {
    // Our wait for the first response bytes (connect + read timeouts, 2 s) ends them: the
    // request is dropped before curl has answered, and its connection must not be reused.
    crawl_mixed(|c| {
        c.timeout = Duration::from_secs(10);
        c.connect_timeout = Duration::from_secs(1);
        c.read_timeout = Duration::from_secs(1);
    });
}

fn crawl_mixed(timeouts: impl Fn(&mut politecrawl::CrawlConfig)) {
    let _timing = shared();
    let server = RawServer::start(Arc::new(|target: &str, conn: &mut std::net::TcpStream| {
        use std::io::Write;
        if target == "/" {
            let mut html = String::from("<html><body>");
            for i in 0..NORMAL {
                html += &format!(r#"<a href="/w/{i}">w</a>"#);
            }
            for i in 0..SLOW {
                html += &format!(r#"<a href="/slow/{i}">s</a>"#);
            }
            for i in 0..CUT {
                html += &format!(r#"<a href="/cut/{i}">c</a>"#);
            }
            return write_response(conn, 200, "text/html", html.as_bytes());
        }
        let body = body_for(target);
        if target.starts_with("/slow/") {
            // Answers correctly, but after the client's timeout: if this response reached a
            // later request on a reused connection, its body would name the wrong URL.
            std::thread::sleep(Duration::from_millis(2500));
            return write_response(conn, 200, "text/plain", &body);
        }
        if target.starts_with("/cut/") {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            let _ = conn.write_all(head.as_bytes());
            let _ = conn.write_all(&body[..body.len() / 3]);
            return false;
        }
        write_response(conn, 200, "text/plain", &body)
    }));
    let origin = server.origin();
    let dir = tempdir();
    let mut config = fast_config(&dir.path().join("db"), &format!("{origin}/"));
    config.concurrency = 32;
    config.per_host_concurrency = 32;
    timeouts(&mut config);
    // This test is about pooled connections, not retries: every URL is asked for once.
    config.retries = 0;
    let (summary, store) = crawl(&config);
    assert_eq!(summary.run.stored as usize, 1 + NORMAL + SLOW + CUT);

    let pages = stored(&store, &origin);
    for (path, rec) in &pages {
        if path == "/" {
            continue;
        }
        let body = store.find_body(&rec.url).unwrap().unwrap_or_default();
        if path.starts_with("/w/") {
            assert_eq!(rec.state, UrlState::Done, "{path}: {:?}", rec.error);
            assert!(
                body[..] == body_for(path)[..],
                "{path} got another URL's body"
            );
        } else if path.starts_with("/slow/") {
            assert_eq!(rec.state, UrlState::Failed, "{path}");
            assert_eq!(
                rec.error.as_ref().unwrap().kind,
                ErrorKind::Timeout,
                "{path}"
            );
            assert!(rec.elapsed_ms < 2_400, "{path}: cut by a timeout: {rec:?}");
        } else {
            assert!(path.starts_with("/cut/"));
            assert_eq!(
                rec.state,
                UrlState::Failed,
                "{path}: body of {} bytes",
                body.len()
            );
            let kind = rec.error.as_ref().unwrap().kind;
            assert_eq!(kind, ErrorKind::Reset, "{path}: {:?}", rec.error);
        }
    }
    assert_eq!(pages.len(), 1 + NORMAL + SLOW + CUT);
    // Each URL was asked for once: timeouts and cuts are not silently retried here.
    let mut reqs: Vec<String> = server
        .requests()
        .into_iter()
        .filter(|t| t != "/robots.txt")
        .collect();
    reqs.sort();
    reqs.dedup();
    assert_eq!(reqs.len(), 1 + NORMAL + SLOW + CUT);
}
