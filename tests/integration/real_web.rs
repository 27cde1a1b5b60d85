//! What real servers send that no registry or grammar allows, from the server's side: status
//! codes outside every list (kept as the number sent, acted on as their class), robots.txt
//! behind such a code, and malformed header framing (final at once, named, never retried).

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use politecrawl::store::{RobotsVerdict, UrlState};
use politecrawl::ErrorKind;

use crate::support::*;

/// Codes real servers send that surf's list lacks (and a few it has, as controls).
const ODD: &[u16] = &[
    200, 218, 299, 404, 419, 420, 444, 499, 503, 509, 520, 521, 522, 523, 524, 525, 526, 527, 530,
    599, 999,
];

/// A whole response. A 5xx says `Retry-After: 0`, so the host's pause after it (a 5xx pauses
/// the host, as a 503 does) costs the test no time.
fn answer(conn: &mut TcpStream, status: u16, body: &str) -> bool {
    let retry = if (500..600).contains(&status) {
        "Retry-After: 0\r\n"
    } else {
        ""
    };
    let head = format!(
        "HTTP/1.1 {status} Whatever\r\nContent-Type: text/html\r\n{retry}Content-Length: {}\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).is_ok() && conn.write_all(body.as_bytes()).is_ok()
}

#[test]
fn every_status_code_a_server_sends_is_stored_as_sent_and_acted_on_as_its_class() {
    let _timing = shared();
    let server = RawServer::start(Arc::new(|target: &str, conn: &mut TcpStream| {
        match target {
            "/" => {
                let links: String = ODD
                    .iter()
                    .map(|c| format!("<a href=/s/{c}>{c}</a>"))
                    .collect();
                answer(conn, 200, &links)
            }
            "/robots.txt" => answer(conn, 404, ""),
            t => {
                let code = t
                    .strip_prefix("/s/")
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(404);
                // A 2xx page links one more page, to show its links are followed.
                let body = if (200..300).contains(&code) {
                    format!("<a href=/after/{code}>next</a>")
                } else {
                    String::new()
                };
                answer(conn, code, &body)
            }
        }
    }));
    let db = tempdir();
    let mut config = fast_config(&db.path().join("db"), &format!("{}/", server.origin()));
    // One try each: what is asserted is the stored code and the retry verdict, not the wait.
    config.retries = 1;
    let (_summary, store) = crawl(&config);
    let records = stored(&store, &server.origin());
    let counts: BTreeMap<String, usize> =
        server
            .requests()
            .into_iter()
            .fold(BTreeMap::new(), |mut m, t| {
                *m.entry(t).or_default() += 1;
                m
            });
    for &code in ODD {
        let path = format!("/s/{code}");
        let r = records
            .get(&path)
            .unwrap_or_else(|| panic!("{path} not stored"));
        assert_eq!(r.status, Some(code), "{path}: the code as sent");
        assert_ne!(
            r.error.as_ref().map(|e| e.kind),
            Some(ErrorKind::InvalidResponse),
            "{path}: a status code is not an invalid response"
        );
        let (state, requests) = match code {
            200..=299 => (UrlState::Done, 1),
            // Every 5xx is transient (503-like): asked again once (--retries 1).
            500..=599 => (UrlState::Failed, 2),
            _ => (UrlState::Failed, 1),
        };
        assert_eq!(r.state, state, "{path}");
        assert_eq!(counts.get(&path), Some(&requests), "{path}: requests");
        if (200..300).contains(&code) {
            let next = format!("/after/{code}");
            assert_eq!(counts.get(&next), Some(&1), "{next}: a 2xx page's link");
        }
    }
}

#[test]
fn a_robots_txt_behind_an_unknown_5xx_is_waited_out_not_given_up() {
    let _timing = shared();
    let robots_tries = Arc::new(AtomicUsize::new(0));
    let tries = robots_tries.clone();
    let server = RawServer::start(Arc::new(move |target: &str, conn: &mut TcpStream| {
        match target {
            // Cloudflare's "connection timed out" twice: robots.txt is unreachable, then fine.
            "/robots.txt" if tries.fetch_add(1, Ordering::SeqCst) < 2 => {
                let head = "HTTP/1.1 522 Origin Connection Time-out\r\nContent-Length: 0\r\n\r\n";
                conn.write_all(head.as_bytes()).is_ok()
            }
            "/robots.txt" => answer(conn, 200, "User-agent: *\nDisallow: /private\n"),
            "/" => answer(conn, 200, "<a href=/page>p</a><a href=/private>x</a>"),
            _ => answer(conn, 200, "page"),
        }
    }));
    let db = tempdir();
    let config = fast_config(&db.path().join("db"), &format!("{}/", server.origin()));
    let (_summary, store) = crawl(&config);
    let records = stored(&store, &server.origin());
    assert_eq!(
        robots_tries.load(Ordering::SeqCst),
        3,
        "{:?}",
        server.requests()
    );
    assert_eq!(records["/"].state, UrlState::Done);
    assert_eq!(records["/page"].state, UrlState::Done);
    assert!(!server.requests().contains(&"/private".to_string()));
    let robots = store
        .robots(&server.origin())
        .unwrap()
        .expect("a robots record");
    assert!(
        matches!(robots.verdict, RobotsVerdict::Rules { status: 200 }),
        "{:?}",
        robots.verdict
    );
}

/// Writes one whole answer on a connection.
type Answer = fn(&mut TcpStream) -> bool;

/// Malformed response heads: retrying gets the same bytes, so each is final at once. Lines
/// ending in a bare LF are not among them: curl and browsers read them, and so does the crawler.
#[test]
fn malformed_response_heads_are_final_and_named_without_retries() {
    let _timing = shared();
    let bad: &[(&str, Answer)] = &[
        ("/space-in-name", |c| {
            c.write_all(
                b"HTTP/1.1 200 OK\r\nContent Type: text/html\r\nContent-Length: 2\r\n\r\nok",
            )
            .is_ok()
        }),
        ("/many-headers", |c| {
            let mut head = String::from("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n");
            for i in 0..20_000 {
                head.push_str(&format!("X-Filler-{i}: {}\r\n", "v".repeat(40)));
            }
            head.push_str("\r\nok");
            c.write_all(head.as_bytes()).is_ok()
        }),
    ];
    let fine_lf: Answer = |c| {
        c.write_all(b"HTTP/1.1 200 OK\nContent-Type: text/html\nContent-Length: 2\n\nok")
            .is_ok()
    };
    let bad_then_lf = bad.iter().copied().chain([("/lf-only", fine_lf)]);
    let table: Vec<(String, Answer)> = bad_then_lf.map(|(p, f)| (p.to_string(), f)).collect();
    let links: String = table
        .iter()
        .map(|(p, _)| format!("<a href={p}>x</a>"))
        .collect();
    let server = RawServer::start(Arc::new(
        move |target: &str, conn: &mut TcpStream| match table.iter().find(|(p, _)| p == target) {
            Some((_, serve)) => {
                serve(conn);
                false
            }
            None if target == "/robots.txt" => answer(conn, 404, ""),
            None => answer(conn, 200, &links),
        },
    ));
    let db = tempdir();
    let mut config = fast_config(&db.path().join("db"), &format!("{}/", server.origin()));
    config.retries = 3;
    let (_summary, store) = crawl(&config);
    let records = stored(&store, &server.origin());
    for (path, _) in bad {
        let r = &records[*path];
        assert_eq!(r.state, UrlState::Failed, "{path}");
        assert_eq!(
            r.error.as_ref().map(|e| e.kind),
            Some(ErrorKind::InvalidResponse),
            "{path}: {:?}",
            r.error
        );
        assert_eq!(r.attempts, 1, "{path}: never retried");
        let asked = server.requests().iter().filter(|t| t == path).count();
        assert_eq!(asked, 1, "{path}: one request");
    }
    let lf = &records["/lf-only"];
    assert_eq!(
        (lf.state, lf.status, lf.body_len),
        (UrlState::Done, Some(200), 2)
    );
}

/// Every file under `dir` with its bytes: what "nothing changed" is checked against.
fn snapshot(dir: &std::path::Path) -> BTreeMap<std::path::PathBuf, Vec<u8>> {
    files_under(dir)
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

#[test]
fn a_folder_holding_a_file_named_db_is_refused_by_every_command_and_left_as_it_was() {
    let _timing = shared();
    let dir = tempdir();
    let folder = dir.path().join("demo.db");
    std::fs::create_dir_all(folder.join("photos")).unwrap();
    std::fs::write(folder.join("db"), b"SQLite format 3\0 and a user's tables").unwrap();
    std::fs::write(folder.join("notes.txt"), b"mine").unwrap();
    std::fs::write(folder.join("photos/cat.jpg"), b"\xff\xd8 a cat").unwrap();
    let before = snapshot(&folder);
    for args in [
        &["status", "--db", "demo.db"][..],
        &["export", "--db", "demo.db", "--out", "x.jsonl"],
        &["crawl", "http://127.0.0.1:9/", "--db", "demo.db"],
        &["demo", "--dir", "."],
    ] {
        let out = run(args, dir.path());
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("not a politecrawl database") && err.contains("notes.txt"),
            "{args:?}: {err}"
        );
        assert_eq!(snapshot(&folder), before, "{args:?} changed the folder");
    }
}

/// A crawl database of the fixture site in `dir/site.db`.
fn crawled(dir: &std::path::Path) -> std::path::PathBuf {
    let server = fixture_server();
    let db = dir.join("site.db");
    let config = fast_config(&db, &format!("{}/", server.origin()));
    drop(crawl(&config));
    db
}

#[test]
fn a_damaged_database_is_named_damaged_and_left_as_it_was_by_status_and_export() {
    let _timing = shared();
    let dir = tempdir();
    let db = crawled(dir.path());
    let sled_file = db.join("db");
    let len = std::fs::metadata(&sled_file).unwrap().len();
    assert!(len > 100_000, "{len}");
    let cut = std::fs::OpenOptions::new()
        .write(true)
        .open(&sled_file)
        .unwrap();
    cut.set_len(100_000).unwrap();
    drop(cut);
    let before = snapshot(&db);
    for args in [
        &["status", "--db", "site.db"][..],
        &["export", "--db", "site.db", "--out", "x.jsonl"],
    ] {
        let out = run(args, dir.path());
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("is damaged") && err.contains("site.db/db") && err.contains("backup"),
            "{args:?}: {err}"
        );
        assert_eq!(snapshot(&db), before, "{args:?} changed the database");
    }
}

#[test]
fn status_and_export_change_nothing_in_a_sound_database_and_a_new_one_is_private() {
    let _timing = shared();
    let dir = tempdir();
    let db = crawled(dir.path());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&db).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            mode, 0o700,
            "the database directory holds bodies and credentials"
        );
    }
    assert!(db.join("POLITECRAWL").is_file());
    let before = snapshot(&db);
    let out = run(&["status", "--db", "site.db"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(
        &["export", "--db", "site.db", "--out", "x.jsonl"],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = std::fs::read_to_string(dir.path().join("x.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), expected().len());
    assert_eq!(
        snapshot(&db),
        before,
        "a read-only command wrote to the database"
    );
}

#[test]
fn a_database_the_user_may_not_write_is_still_read_by_status_and_export() {
    use std::os::unix::fs::PermissionsExt;
    let _timing = shared();
    let dir = tempdir();
    let db = crawled(dir.path());
    // Another user's database: readable by all, writable by its owner only. As root (who may
    // write anything) the commands run as `nobody`; otherwise the directory is made read-only.
    // SAFETY: geteuid only reads the process's credentials.
    let root = unsafe { libc::geteuid() } == 0;
    for p in std::iter::once(dir.path().to_path_buf()).chain(files_under(dir.path())) {
        let mode = if p.is_dir() || p == db { 0o755 } else { 0o644 };
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    for d in ["", "pages", "bodies", "seen"] {
        let p = db.join(d);
        if p.is_dir() {
            let mode = if root { 0o755 } else { 0o555 };
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        }
    }
    let before = snapshot(&db);
    // The build directory may be one `nobody` cannot enter: a copy of the binary beside.
    let bin = dir.path().join("politecrawl");
    std::fs::copy(BIN, &bin).unwrap();
    let as_reader = |args: &[&str]| {
        let mut cmd = if root {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "nobody", "--"]).arg(&bin);
            c
        } else {
            std::process::Command::new(BIN)
        };
        cmd.args(args).env("TMPDIR", "/tmp").output().unwrap()
    };
    let db_arg = db.to_str().unwrap();
    let out = as_reader(&["status", "--db", db_arg]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 queued"));
    let out = as_reader(&["export", "--db", db_arg]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = String::from_utf8_lossy(&out.stdout).lines().count();
    assert_eq!(lines, expected().len());
    assert_eq!(snapshot(&db), before);
    // The test dir is removed as its owner: give the writes back.
    for d in ["", "pages", "bodies", "seen"] {
        let _ = std::fs::set_permissions(db.join(d), std::fs::Permissions::from_mode(0o755));
    }
}

#[test]
fn behind_a_proxy_links_to_loopback_in_any_spelling_are_blocked_unless_allowed() {
    use crate::proxy::HttpProxy;
    let _timing = shared();
    // The proxy answers for every site itself: the seed is a public name it alone reaches.
    let page = r#"<a href="http://127.0.0.1:9/a">a</a> <a href="http://localhost:9/b">b</a>
        <a href="http://[::1]:9/c">c</a> <a href="http://2130706433:9/d">d</a>
        <a href="http://0x7f.1:9/e">e</a> <a href="http://10.1.2.3/f">f</a>
        <a href="http://169.254.169.254/latest/meta-data/">g</a>"#;
    let proxy = HttpProxy::start(Arc::new(move |r| match r.url.ends_with("/robots.txt") {
        true => (404, "text/plain".into(), Vec::new()),
        false => (200, "text/html".into(), page.as_bytes().to_vec()),
    }));
    let refused = [
        "http://127.0.0.1:9/a",
        "http://localhost:9/b",
        "http://[::1]:9/c",
        "http://127.0.0.1:9/d",
        "http://127.0.0.1:9/e",
        "http://10.1.2.3/f",
        "http://169.254.169.254/latest/meta-data/",
    ];
    for allow in [false, true] {
        let dir = tempdir();
        let mut config = fast_config(&dir.path().join("db"), "http://public.example/");
        config.proxy = Some(proxy.url());
        config.scope = politecrawl::ScopeKind::Any;
        config.allow_private = allow;
        config.retries = 0;
        let before = proxy.requests().len();
        let (_summary, store) = crawl(&config);
        let asked: Vec<String> = proxy.requests()[before..]
            .iter()
            .map(|r| r.url.clone())
            .collect();
        let records: BTreeMap<String, _> = store
            .pages()
            .map(|r| r.unwrap())
            .map(|r| (r.url.clone(), r))
            .collect();
        for url in refused {
            let r = records
                .get(url)
                .unwrap_or_else(|| panic!("{url}: {:?}", records.keys()));
            let sent = asked
                .iter()
                .any(|a| a.starts_with(url.trim_end_matches('/')));
            if allow {
                assert!(sent, "{url} with --allow-private: {asked:?}");
                assert_ne!(r.state, UrlState::Blocked, "{url}");
            } else {
                assert!(!sent, "{url} reached the proxy: {asked:?}");
                assert_eq!(r.state, UrlState::Blocked, "{url}");
                let kind = r.error.as_ref().map(|e| e.kind);
                assert_eq!(
                    kind,
                    Some(ErrorKind::PrivateAddress),
                    "{url}: {:?}",
                    r.error
                );
            }
        }
    }
}
