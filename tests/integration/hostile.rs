//! A corpus of misbehaving servers (raw TCP, in `support.rs`): each ends in a recorded,
//! explained outcome, within the configured time bounds, without a panic, while the other
//! pages of the crawl are stored normally.

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use politecrawl::serve::Reply;
use politecrawl::store::{PageRecord, UrlState};
use politecrawl::ErrorKind;

use crate::support::*;

const LINKS: &[&str] = &[
    "/ok",
    "/silent",
    "/stall",
    "/drip",
    "/cut",
    "/bad-status",
    "/big-header",
    "/short-body",
    "/long-body",
    "/bad-chunked",
    "/loop-a",
    "/chain/0",
    "/to-ftp",
    "/huge",
    "/bomb",
    "/latin1",
    "/sjis",
    "/hrefs",
    "/latin1-header",
];

fn head(conn: &mut TcpStream, extra: &str) -> bool {
    let h = format!("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n{extra}\r\n");
    conn.write_all(h.as_bytes()).is_ok()
}

/// Gzip members of 16 MiB of zeros each, repeated: ~1 GiB decoded, ~1 MiB on the wire.
fn bomb_member() -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&vec![0u8; 16 * 1024 * 1024]).unwrap();
    gz.finish().unwrap()
}

fn behave(member: Arc<Vec<u8>>) -> Behave {
    Arc::new(move |target: &str, conn: &mut TcpStream| {
        let sleep = |s| std::thread::sleep(Duration::from_secs(s));
        match target {
            "/robots.txt" => write_response(conn, 404, "text/plain", b""),
            "/" => {
                let links: String = LINKS
                    .iter()
                    .map(|l| format!(r#"<a href="{l}">x</a>"#))
                    .collect();
                write_response(conn, 200, "text/html", links.as_bytes())
            }
            "/silent" => {
                sleep(30);
                false
            }
            "/stall" => {
                head(conn, "Content-Length: 1000\r\n");
                sleep(30);
                false
            }
            "/drip" => {
                head(conn, "Content-Length: 100000\r\n");
                for _ in 0..60 {
                    if conn.write_all(b"x").is_err() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
                false
            }
            "/cut" => {
                head(conn, "Content-Length: 100000\r\n");
                let _ = conn.write_all(&[b'x'; 1000]);
                false
            }
            "/bad-status" => {
                let _ = conn.write_all(b"HTZP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
                false
            }
            "/big-header" => {
                let big = "a".repeat(1024 * 1024);
                head(conn, &format!("X-Big: {big}\r\nContent-Length: 2\r\n"));
                let _ = conn.write_all(b"ok");
                false
            }
            "/short-body" => {
                head(conn, "Content-Length: 100\r\n");
                let _ = conn.write_all(&[b'y'; 50]);
                false
            }
            "/long-body" => {
                head(conn, "Content-Length: 10\r\n");
                let _ = conn.write_all(&[b'z'; 50]);
                false
            }
            "/bad-chunked" => {
                head(conn, "Transfer-Encoding: chunked\r\n");
                let _ = conn.write_all(b"5\r\nhello\r\nzz\r\nnot hex\r\n0\r\n\r\n");
                false
            }
            "/loop-a" => redirect(conn, "/loop-b"),
            "/loop-b" => redirect(conn, "/loop-a"),
            t if t.starts_with("/chain/") => {
                let n: usize = t[7..].parse().unwrap_or(0);
                if n < 11 {
                    redirect(conn, &format!("/chain/{}", n + 1))
                } else {
                    write_response(conn, 200, "text/html", b"end of chain")
                }
            }
            "/to-ftp" => redirect(conn, "ftp://example.com/file.txt"),
            "/huge" => {
                head(conn, &format!("Content-Length: {}\r\n", 20 * 1024 * 1024));
                let block = vec![b'h'; 64 * 1024];
                for _ in 0..320 {
                    if conn.write_all(&block).is_err() {
                        break;
                    }
                }
                false
            }
            "/bomb" => {
                head(conn, "Content-Encoding: gzip\r\nConnection: close\r\n");
                for _ in 0..64 {
                    if conn.write_all(&member).is_err() {
                        break;
                    }
                }
                false
            }
            "/latin1" => {
                let body = b"<a href=\"/caf\xe9.html\">caf\xe9</a>";
                let h = "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=iso-8859-1\r\n";
                let _ =
                    conn.write_all(format!("{h}Content-Length: {}\r\n\r\n", body.len()).as_bytes());
                conn.write_all(body).is_ok()
            }
            "/sjis" => {
                // "日本" in Shift-JIS, declared only by the meta tag.
                let body = b"<meta charset=\"shift_jis\"><a href=\"/\x93\xfa\x96\x7b.html\">x</a>";
                write_response(conn, 200, "text/html", body)
            }
            "/hrefs" => {
                let long = format!("/{}", "l".repeat(3000));
                let body = format!(
                    r#"<a href="http://[::1">bad</a><a href="{long}">long</a><a href=" /a b/ü.html ">sp</a><a href="/ok">ok</a>"#
                );
                write_response(conn, 200, "text/html", body.as_bytes())
            }
            "/latin1-header" => {
                let _ = conn.write_all(
                    b"HTTP/1.1 200 OK\r\nX-Name: caf\xe9\r\nContent-Length: 2\r\n\r\nok",
                );
                true
            }
            "/caf%C3%A9.html" | "/%E6%97%A5%E6%9C%AC.html" | "/a%20b/%C3%BC.html" | "/ok" => {
                write_response(conn, 200, "text/html", b"<p>fine</p>")
            }
            _ => write_response(conn, 404, "text/plain", b"no"),
        }
    })
}

fn redirect(conn: &mut TcpStream, to: &str) -> bool {
    let h = format!("HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\n\r\n");
    conn.write_all(h.as_bytes()).is_ok()
}

#[test]
fn every_misbehaving_server_ends_in_an_explained_outcome() {
    let _timing = shared();
    let server = RawServer::start(behave(Arc::new(bomb_member())));
    let origin = server.origin();
    let dir = tempdir();
    let mut config = fast_config(&dir.path().join("db"), &format!("{origin}/"));
    config.timeout = Duration::from_secs(8);
    config.read_timeout = Duration::from_secs(1);
    config.connect_timeout = Duration::from_secs(2);
    config.max_body = 1024 * 1024;
    config.max_url_length = 2048;
    config.retries = 0;
    config.concurrency = 32;
    config.per_host_concurrency = 32;
    let started = Instant::now();
    let (_, store) = crawl(&config);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    let pages = stored(&store, &origin);
    // Every other page hangs off the home page: without it, nothing below can be checked.
    assert_eq!(
        pages.get("/").map(|p| (p.state, p.error.clone())),
        Some((UrlState::Done, None))
    );
    let missing: Vec<&str> = LINKS
        .iter()
        .copied()
        .chain(["/loop-b", "/chain/3", "/chain/10"])
        .filter(|p| !pages.contains_key(*p))
        .collect();
    assert!(
        missing.is_empty(),
        "never recorded: {missing:?}\nrecorded: {:?}\nserver saw: {:?}",
        pages.keys().collect::<Vec<_>>(),
        server.requests()
    );
    let kind = |p: &str| -> Option<ErrorKind> { pages[p].error.as_ref().map(|e| e.kind) };
    let done = |p: &str| -> &PageRecord {
        assert_eq!(pages[p].state, UrlState::Done, "{p}: {:?}", pages[p].error);
        &pages[p]
    };

    let mut wrong = Vec::new();
    for (path, want) in [
        ("/silent", ErrorKind::Timeout),
        ("/stall", ErrorKind::Timeout),
        ("/drip", ErrorKind::Timeout),
        ("/cut", ErrorKind::Reset),
        ("/short-body", ErrorKind::Reset),
        ("/bad-status", ErrorKind::InvalidResponse),
        ("/big-header", ErrorKind::InvalidResponse),
        // curl reports broken chunked framing as a receive failure, like a reset.
        ("/bad-chunked", ErrorKind::Reset),
        ("/latin1-header", ErrorKind::InvalidResponse),
        ("/loop-b", ErrorKind::RedirectLoop),
        ("/chain/10", ErrorKind::TooManyRedirects),
        ("/to-ftp", ErrorKind::UnsupportedRedirect),
    ] {
        let redirect = matches!(
            want,
            ErrorKind::RedirectLoop | ErrorKind::TooManyRedirects | ErrorKind::UnsupportedRedirect
        );
        let rec = &pages[path];
        if kind(path) != Some(want)
            || rec.state != UrlState::Failed
            || rec.status.is_some() != redirect
        {
            wrong.push(format!(
                "{path}: want {want:?}, got {:?} {:?} {:?}",
                rec.state, rec.status, rec.error
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "no invented statuses, the right kinds:\n{}",
        wrong.join("\n")
    );
    // Silence is cut after connecting plus --read-timeout (3 s), a trickle after a window of
    // --read-timeout (1 s) and one more read; --timeout (8 s) never has to.
    for (cut, within_ms) in [("/drip", 3_000), ("/silent", 4_000), ("/stall", 4_000)] {
        assert!(
            pages[cut].elapsed_ms < within_ms,
            "{cut} is cut by --read-timeout, not --timeout: {:?}",
            pages[cut]
        );
    }
    assert_eq!(pages["/to-ftp"].final_url, "ftp://example.com/file.txt");
    assert_eq!(pages["/chain/10"].redirect_chain.len(), 10);
    assert_eq!(
        pages["/chain/3"].redirect_chain,
        (0..3)
            .map(|i| format!("{origin}/chain/{i}"))
            .collect::<Vec<_>>()
    );
    assert!(
        !pages.contains_key("/chain/11"),
        "the 11th hop is not followed"
    );

    assert_eq!(
        done("/long-body").body_len,
        10,
        "Content-Length wins over extra bytes"
    );
    let huge = done("/huge");
    assert!(huge.truncated && huge.body_len == 1024 * 1024);
    let bomb = done("/bomb");
    assert!(
        bomb.truncated && bomb.body_len == 1024 * 1024,
        "the bomb costs at most the cap"
    );
    for p in ["/ok", "/latin1", "/sjis", "/hrefs", "/loop-a", "/chain/0"] {
        done(p);
    }
    // Links decoded by charset, and odd hrefs, resolve to the right URLs.
    for p in [
        "/caf%C3%A9.html",
        "/%E6%97%A5%E6%9C%AC.html",
        "/a%20b/%C3%BC.html",
    ] {
        assert_eq!(done(p).status, Some(200), "{p}");
    }
    assert!(
        pages.keys().all(|k| k.len() < 2048),
        "the 3000-byte href is dropped"
    );
}

#[test]
fn a_503_twice_then_200_is_stored_as_200_after_three_attempts() {
    let _timing = shared();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let server = route_server(Arc::new(move |r| match r.path() {
        "/" if h.fetch_add(1, Ordering::SeqCst) < 2 => Some(Reply::new(503, "text/plain", "busy")),
        "/" => Some(Reply::html("<p>finally</p>")),
        _ => None,
    }));
    let dir = tempdir();
    let config = fast_config(&dir.path().join("db"), &format!("{}/", server.origin()));
    let (summary, store) = crawl(&config);
    let rec = &stored(&store, &server.origin())["/"];
    assert_eq!(
        (rec.status, rec.attempts, rec.state),
        (Some(200), 3, UrlState::Done)
    );
    assert_eq!(summary.run.retried, 2);
    assert_eq!(page_requests(&server).len(), 3);
}

#[test]
fn transient_failures_are_retried_with_back_off_then_recorded() {
    let _timing = shared();
    let server = route_server(Arc::new(|r| match r.path() {
        "/" => Some(Reply::html(r#"<a href="/flaky">f</a>"#)),
        "/flaky" => Some(Reply::new(502, "text/plain", "bad gateway")),
        _ => None,
    }));
    let dir = tempdir();
    let mut config = fast_config(&dir.path().join("db"), &format!("{}/", server.origin()));
    config.retries = 2;
    let (_, store) = crawl(&config);
    let rec = &stored(&store, &server.origin())["/flaky"];
    assert_eq!(
        (rec.status, rec.attempts, rec.state),
        (Some(502), 3, UrlState::Failed)
    );
    assert_eq!(rec.error.as_ref().unwrap().kind, ErrorKind::HttpStatus);
    let tries = page_requests(&server)
        .into_iter()
        .filter(|r| r.path() == "/flaky")
        .count();
    assert_eq!(tries, 3, "one request and two re-tries");
    assert_eq!(
        store.counters().unwrap(),
        politecrawl::frontier::recount(&store).unwrap()
    );
}

#[test]
fn accept_type_skips_other_bodies_but_still_reads_html_links() {
    let _timing = shared();
    let server = route_server(Arc::new(|r| match r.path() {
        "/" => Some(Reply::html(
            r#"<a href="/a.png">i</a><a href="/b.pdf">p</a><a href="/c.html">h</a>"#,
        )),
        "/a.png" => Some(Reply::new(200, "image/png", vec![1u8; 5000])),
        "/b.pdf" => Some(Reply::new(200, "application/pdf", vec![2u8; 5000])),
        "/c.html" => Some(Reply::html("<p>page</p>")),
        _ => None,
    }));
    let dir = tempdir();
    let mut config = fast_config(&dir.path().join("db"), &format!("{}/", server.origin()));
    config.accept_types = vec!["image/*".into()];
    let (_, store) = crawl(&config);
    let pages = stored(&store, &server.origin());
    assert_eq!(
        (pages["/a.png"].body_len, pages["/a.png"].body_skipped),
        (5000, false)
    );
    assert_eq!(
        (pages["/b.pdf"].body_len, pages["/b.pdf"].body_skipped),
        (0, true)
    );
    assert_eq!(pages["/b.pdf"].status, Some(200));
    assert!(pages["/c.html"].body_len > 0, "HTML is always read");
}
