//! A corpus of misbehaving servers (raw TCP, in `support.rs`): each ends in a recorded,
//! explained outcome, within the configured time bounds, without a panic, while the other
//! pages of the crawl are stored normally. The corpus is one table, `ROWS`: each row is a path,
//! what the server does there, and the record the crawl must end with. Then retries and
//! `--accept-type` against route servers.

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use politecrawl::serve::Reply;
use politecrawl::store::{PageRecord, UrlState};
use politecrawl::ErrorKind;

use crate::support::*;

/// Writes a row's answer for the request `target` on `conn`; returns whether to keep the
/// connection open (see [`RawServer`]).
type Serve = fn(target: &str, conn: &mut TcpStream) -> bool;

/// One path of the hostile server: what the server does there, and what the crawl must record.
struct Row {
    /// The request target, as the server sees it and the store keys it (after the origin).
    path: &'static str,
    /// Linked from the home page; the other rows are reached through a row that is.
    linked: bool,
    serve: Serve,
    want: Want,
}

/// The record a row's path must end with. `state`, `kind`, `status` and `truncated` are always
/// checked, the other fields when `Some`.
struct Want {
    /// `None`: the URL is never requested, so never recorded.
    state: Option<UrlState>,
    /// The stored error kind (`None`: no error).
    kind: Option<ErrorKind>,
    /// Only a response the server sent has a status; a local failure never gets one.
    status: Option<u16>,
    truncated: bool,
    body_len: Option<u64>,
    /// The record's `elapsed_ms` stays under this.
    within_ms: Option<u64>,
    /// The redirects that led here, as paths.
    chain: Option<&'static [&'static str]>,
    final_url: Option<&'static str>,
}

/// A page stored whole with a 200: the baseline the other expectations change.
const DONE: Want = Want {
    state: Some(UrlState::Done),
    kind: None,
    status: Some(200),
    truncated: false,
    body_len: None,
    within_ms: None,
    chain: None,
    final_url: None,
};

/// A redirect stored as what it is: done, with its 302.
const REDIRECT: Want = Want {
    status: Some(302),
    ..DONE
};

/// Never requested.
const ABSENT: Want = Want {
    state: None,
    ..DONE
};

/// Failed for a local reason (no status is invented).
const fn failed(kind: ErrorKind) -> Want {
    Want {
        state: Some(UrlState::Failed),
        kind: Some(kind),
        status: None,
        ..DONE
    }
}

/// Failed on a redirect, whose 302 is kept.
const fn failed_redirect(kind: ErrorKind) -> Want {
    Want {
        status: Some(302),
        ..failed(kind)
    }
}

/// `--max-body` in this test: the cut every huge or bomb body stops at.
const MAX_BODY: u64 = 1024 * 1024;

/// Every hostile path; the home page links the `linked` ones, in this order. Timeouts: connect
/// 2 s, read 1 s, whole request 8 s; silence is cut after connecting plus --read-timeout (3 s),
/// a trickle after a window of --read-timeout (1 s) and one more read; --timeout never has to.
static ROWS: &[Row] = &[
    Row {
        path: "/ok",
        linked: true,
        serve: fine,
        want: DONE,
    },
    Row {
        path: "/silent",
        linked: true,
        serve: |_, _| {
            sleep(30);
            false
        },
        want: Want {
            within_ms: Some(4_000),
            ..failed(ErrorKind::Timeout)
        },
    },
    Row {
        path: "/stall",
        linked: true,
        serve: |_, conn| {
            head(conn, "Content-Length: 1000\r\n");
            sleep(30);
            false
        },
        want: Want {
            within_ms: Some(4_000),
            ..failed(ErrorKind::Timeout)
        },
    },
    Row {
        path: "/drip",
        linked: true,
        serve: |_, conn| {
            head(conn, "Content-Length: 100000\r\n");
            for _ in 0..60 {
                if conn.write_all(b"x").is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            false
        },
        want: Want {
            within_ms: Some(3_000),
            ..failed(ErrorKind::Timeout)
        },
    },
    Row {
        path: "/cut",
        linked: true,
        serve: |_, conn| {
            head(conn, "Content-Length: 100000\r\n");
            let _ = conn.write_all(&[b'x'; 1000]);
            false
        },
        want: failed(ErrorKind::Reset),
    },
    Row {
        path: "/bad-status",
        linked: true,
        serve: |_, conn| {
            let _ = conn.write_all(b"HTZP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            false
        },
        want: failed(ErrorKind::InvalidResponse),
    },
    Row {
        path: "/big-header",
        linked: true,
        serve: |_, conn| {
            let big = "a".repeat(1024 * 1024);
            head(conn, &format!("X-Big: {big}\r\nContent-Length: 2\r\n"));
            let _ = conn.write_all(b"ok");
            false
        },
        want: failed(ErrorKind::InvalidResponse),
    },
    Row {
        path: "/short-body",
        linked: true,
        serve: |_, conn| {
            head(conn, "Content-Length: 100\r\n");
            let _ = conn.write_all(&[b'y'; 50]);
            false
        },
        want: failed(ErrorKind::Reset),
    },
    Row {
        path: "/long-body",
        linked: true,
        serve: |_, conn| {
            head(conn, "Content-Length: 10\r\n");
            let _ = conn.write_all(&[b'z'; 50]);
            false
        },
        // Content-Length wins over extra bytes.
        want: Want {
            body_len: Some(10),
            ..DONE
        },
    },
    Row {
        path: "/bad-chunked",
        linked: true,
        serve: |_, conn| {
            head(conn, "Transfer-Encoding: chunked\r\n");
            let _ = conn.write_all(b"5\r\nhello\r\nzz\r\nnot hex\r\n0\r\n\r\n");
            false
        },
        // curl reports broken chunked framing as a receive failure, like a reset.
        want: failed(ErrorKind::Reset),
    },
    Row {
        path: "/loop-a",
        linked: true,
        serve: |_, conn| redirect(conn, "/loop-b"),
        want: REDIRECT,
    },
    Row {
        path: "/loop-b",
        linked: false,
        serve: |_, conn| redirect(conn, "/loop-a"),
        want: failed_redirect(ErrorKind::RedirectLoop),
    },
    // A chain of 12: each /chain/N redirects to /chain/N+1; 10 hops in a row are followed.
    hop("/chain/0", true, REDIRECT),
    hop("/chain/1", false, REDIRECT),
    hop("/chain/2", false, REDIRECT),
    hop(
        "/chain/3",
        false,
        Want {
            chain: Some(&["/chain/0", "/chain/1", "/chain/2"]),
            ..REDIRECT
        },
    ),
    hop("/chain/4", false, REDIRECT),
    hop("/chain/5", false, REDIRECT),
    hop("/chain/6", false, REDIRECT),
    hop("/chain/7", false, REDIRECT),
    hop("/chain/8", false, REDIRECT),
    hop("/chain/9", false, REDIRECT),
    hop(
        "/chain/10",
        false,
        Want {
            chain: Some(&[
                "/chain/0", "/chain/1", "/chain/2", "/chain/3", "/chain/4", "/chain/5", "/chain/6",
                "/chain/7", "/chain/8", "/chain/9",
            ]),
            ..failed_redirect(ErrorKind::TooManyRedirects)
        },
    ),
    // The 11th hop is not followed.
    Row {
        path: "/chain/11",
        linked: false,
        serve: |_, conn| write_response(conn, 200, "text/html", b"end of chain"),
        want: ABSENT,
    },
    Row {
        path: "/to-ftp",
        linked: true,
        serve: |_, conn| redirect(conn, "ftp://example.com/file.txt"),
        // Recorded, not followed.
        want: Want {
            final_url: Some("ftp://example.com/file.txt"),
            ..failed_redirect(ErrorKind::UnsupportedRedirect)
        },
    },
    Row {
        path: "/huge",
        linked: true,
        serve: |_, conn| {
            head(conn, &format!("Content-Length: {}\r\n", 20 * 1024 * 1024));
            let block = vec![b'h'; 64 * 1024];
            for _ in 0..320 {
                if conn.write_all(&block).is_err() {
                    break;
                }
            }
            false
        },
        want: Want {
            truncated: true,
            body_len: Some(MAX_BODY),
            ..DONE
        },
    },
    Row {
        path: "/bomb",
        linked: true,
        serve: |_, conn| {
            head(conn, "Content-Encoding: gzip\r\nConnection: close\r\n");
            let member = BOMB.get_or_init(bomb_member);
            for _ in 0..64 {
                if conn.write_all(member).is_err() {
                    break;
                }
            }
            false
        },
        // The bomb costs at most the cap.
        want: Want {
            truncated: true,
            body_len: Some(MAX_BODY),
            ..DONE
        },
    },
    Row {
        path: "/latin1",
        linked: true,
        serve: |_, conn| {
            let body = b"<a href=\"/caf\xe9.html\">caf\xe9</a>";
            let h = "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=iso-8859-1\r\n";
            let _ = conn.write_all(format!("{h}Content-Length: {}\r\n\r\n", body.len()).as_bytes());
            conn.write_all(body).is_ok()
        },
        want: DONE,
    },
    // Its link, decoded as Latin-1.
    Row {
        path: "/caf%C3%A9.html",
        linked: false,
        serve: fine,
        want: DONE,
    },
    Row {
        path: "/sjis",
        linked: true,
        serve: |_, conn| {
            // "日本" in Shift-JIS, declared only by the meta tag.
            let body = b"<meta charset=\"shift_jis\"><a href=\"/\x93\xfa\x96\x7b.html\">x</a>";
            write_response(conn, 200, "text/html", body)
        },
        want: DONE,
    },
    // Its link, decoded as Shift-JIS.
    Row {
        path: "/%E6%97%A5%E6%9C%AC.html",
        linked: false,
        serve: fine,
        want: DONE,
    },
    Row {
        path: "/hrefs",
        linked: true,
        serve: |_, conn| {
            // A broken IPv6 host, a 3000-byte path (over --max-url-length, checked after the
            // rows), one with spaces and a non-ASCII letter, and a good one.
            let long = format!("/{}", "l".repeat(3000));
            let body = format!(
                r#"<a href="http://[::1">bad</a><a href="{long}">long</a><a href=" /a b/ü.html ">sp</a><a href="/ok">ok</a>"#
            );
            write_response(conn, 200, "text/html", body.as_bytes())
        },
        want: DONE,
    },
    // Its odd href, trimmed and percent-encoded.
    Row {
        path: "/a%20b/%C3%BC.html",
        linked: false,
        serve: fine,
        want: DONE,
    },
    // A header value outside ASCII is kept percent-encoded (checked after the rows), not a
    // failure of the whole response.
    Row {
        path: "/latin1-header",
        linked: true,
        serve: |_, conn| {
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\nX-Name: caf\xe9\r\nContent-Length: 2\r\n\r\nok");
            true
        },
        want: DONE,
    },
    // A raw UTF-8 Location is followed as a browser does, percent-encoded.
    Row {
        path: "/utf8-location",
        linked: true,
        serve: |_, conn| {
            let _ = conn.write_all(
                "HTTP/1.1 302 Found\r\nLocation: /caf\u{e9}-target\r\nContent-Length: 0\r\n\r\n"
                    .as_bytes(),
            );
            true
        },
        want: REDIRECT,
    },
    Row {
        path: "/caf%C3%A9-target",
        linked: false,
        serve: fine,
        want: DONE,
    },
];

/// A row of the redirect chain.
const fn hop(path: &'static str, linked: bool, want: Want) -> Row {
    Row {
        path,
        linked,
        serve: next_hop,
        want,
    }
}

/// `/chain/N` redirects to `/chain/N+1`.
fn next_hop(target: &str, conn: &mut TcpStream) -> bool {
    let n: usize = target["/chain/".len()..].parse().expect("a hop number");
    redirect(conn, &format!("/chain/{}", n + 1))
}

/// A small, good page.
fn fine(_: &str, conn: &mut TcpStream) -> bool {
    write_response(conn, 200, "text/html", b"<p>fine</p>")
}

fn sleep(secs: u64) {
    std::thread::sleep(Duration::from_secs(secs));
}

fn head(conn: &mut TcpStream, extra: &str) -> bool {
    let h = format!("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n{extra}\r\n");
    conn.write_all(h.as_bytes()).is_ok()
}

fn redirect(conn: &mut TcpStream, to: &str) -> bool {
    let h = format!("HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\n\r\n");
    conn.write_all(h.as_bytes()).is_ok()
}

/// The gzip member `/bomb` sends 64 times: ~1 GiB decoded, ~1 MiB on the wire.
static BOMB: OnceLock<Vec<u8>> = OnceLock::new();

/// One gzip member of 16 MiB of zeros.
fn bomb_member() -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&vec![0u8; 16 * 1024 * 1024]).unwrap();
    gz.finish().unwrap()
}

/// The server built from [`ROWS`]: no robots.txt, a home page linking every linked row, each
/// row's path answered by its `serve`, and a 404 anywhere else.
fn hostile_server() -> RawServer {
    // Compressed before the crawl starts, so it does not count against the crawl's time bound.
    BOMB.get_or_init(bomb_member);
    RawServer::start(Arc::new(
        |target: &str, conn: &mut TcpStream| match target {
            "/robots.txt" => write_response(conn, 404, "text/plain", b""),
            "/" => {
                let links: String = ROWS
                    .iter()
                    .filter(|row| row.linked)
                    .map(|row| format!(r#"<a href="{}">x</a>"#, row.path))
                    .collect();
                write_response(conn, 200, "text/html", links.as_bytes())
            }
            _ => match ROWS.iter().find(|row| row.path == target) {
                Some(row) => (row.serve)(target, conn),
                None => write_response(conn, 404, "text/plain", b"no"),
            },
        },
    ))
}

/// What differs between `want` and the record `got` of a recorded path, one phrase per field.
fn mismatches(want: &Want, got: &PageRecord, origin: &str) -> Vec<String> {
    let Some(state) = want.state else {
        return vec![format!("must never be requested, but is {:?}", got.state)];
    };
    let mut bad = Vec::new();
    let kind = got.error.as_ref().map(|e| e.kind);
    if got.state != state {
        bad.push(format!("state {:?}, want {state:?}", got.state));
    }
    if kind != want.kind {
        bad.push(format!("error {:?}, want {:?}", got.error, want.kind));
    }
    if got.status != want.status {
        bad.push(format!("status {:?}, want {:?}", got.status, want.status));
    }
    if got.truncated != want.truncated {
        bad.push(format!(
            "truncated {}, want {}",
            got.truncated, want.truncated
        ));
    }
    if let Some(len) = want.body_len.filter(|&len| got.body_len != len) {
        bad.push(format!("body_len {}, want {len}", got.body_len));
    }
    if let Some(ms) = want.within_ms.filter(|&ms| got.elapsed_ms >= ms) {
        bad.push(format!(
            "took {} ms, want under {ms} ms (cut by --read-timeout, not --timeout)",
            got.elapsed_ms
        ));
    }
    if let Some(chain) = want.chain {
        let chain: Vec<String> = chain.iter().map(|p| format!("{origin}{p}")).collect();
        if got.redirect_chain != chain {
            bad.push(format!("chain {:?}, want {chain:?}", got.redirect_chain));
        }
    }
    if let Some(url) = want.final_url.filter(|&url| got.final_url != url) {
        bad.push(format!("final_url {}, want {url}", got.final_url));
    }
    bad
}

#[test]
fn every_misbehaving_server_ends_in_an_explained_outcome() {
    let _timing = shared();
    let server = hostile_server();
    let origin = server.origin();
    let dir = tempdir();
    let mut config = fast_config(&dir.path().join("db"), &format!("{origin}/"));
    config.timeout = Duration::from_secs(8);
    config.read_timeout = Duration::from_secs(1);
    config.connect_timeout = Duration::from_secs(2);
    config.max_body = MAX_BODY;
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
    let missing: Vec<&str> = ROWS
        .iter()
        .filter(|row| row.want.state.is_some() && !pages.contains_key(row.path))
        .map(|row| row.path)
        .collect();
    assert!(
        missing.is_empty(),
        "never recorded: {missing:?}\nrecorded: {:?}\nserver saw: {:?}",
        pages.keys().collect::<Vec<_>>(),
        server.requests()
    );

    let wrong: Vec<String> = ROWS
        .iter()
        .filter_map(|row| {
            let bad = mismatches(&row.want, pages.get(row.path)?, &origin);
            (!bad.is_empty()).then(|| format!("{}: {}", row.path, bad.join("; ")))
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "rows whose record is wrong (no invented statuses, the right kinds and bounds):\n{}",
        wrong.join("\n")
    );
    assert!(
        pages.keys().all(|k| k.len() < 2048),
        "the 3000-byte href of /hrefs is dropped"
    );
    let latin1 = &pages["/latin1-header"].headers;
    assert!(
        latin1.contains(&("x-name".to_string(), "caf%E9".to_string())),
        "{latin1:?}"
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
