//! The real binary through its command line: crawl → status → export, the demo, and the error
//! messages a user sees.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use politecrawl::serve::Reply;
use politecrawl::{CrawlConfig, ScopeKind};

use crate::support::*;

#[test]
fn crawl_then_status_then_export_through_the_cli() {
    let _timing = shared();
    let server = fixture_server();
    let dir = tempdir();
    let db = dir.path().join("site.db");
    let db_s = db.to_str().unwrap();
    let seed = format!("{}/", server.origin());
    let out = run(
        &[
            "crawl",
            &seed,
            "--db",
            db_s,
            "--rate",
            "0",
            "--concurrency",
            "8",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let n = expected().len();
    assert!(
        stderr(&out).contains(&format!("stored {n} (")),
        "{}",
        stderr(&out)
    );

    assert!(
        !db.join(politecrawl::progress::LIVE_FILE).exists(),
        "the live file goes when the crawl ends"
    );
    let out = run(&["status", "--db", db_s, "--json"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let failed = expected().iter().filter(|e| e.status >= 400).count();
    assert_eq!(status["done"], (n - failed) as u64);
    assert_eq!(status["failed"], failed as u64);
    assert_eq!(status["queued"], 0);
    assert_eq!(status["in_flight"], 0);
    assert_eq!(status["by_status"]["301"], 2);
    let host = server.origin().trim_start_matches("http://").to_string();
    assert_eq!(status["by_host"][&host], n as u64);
    assert!(status["bytes"].as_u64().unwrap() > 10_000);

    let out = run(&["status", "--db", db_s], dir.path());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("{} done, {failed} failed", n - failed)),
        "{text}"
    );

    let file = dir.path().join("pages.jsonl");
    let out = run(
        &[
            "export",
            "--db",
            db_s,
            "--format",
            "jsonl",
            "--out",
            file.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let from_file = std::fs::read_to_string(&file).unwrap();
    let stdout = run(&["export", "--db", db_s], dir.path()).stdout;
    assert_eq!(
        from_file.as_bytes(),
        &stdout[..],
        "file and stdout exports agree"
    );
    let urls: Vec<String> = from_file
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["url"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(urls.len(), n);
    let mut want: Vec<String> = expected()
        .iter()
        .map(|e| format!("{}{}", server.origin(), e.target))
        .collect();
    want.sort();
    assert_eq!(urls[0], want[0], "in the order stored: the seed first");
    let mut sorted = urls.clone();
    sorted.sort();
    assert_eq!(sorted, want, "one line per stored URL");
}

#[test]
fn demo_crawls_the_bundled_site_from_any_directory() {
    let _timing = shared();
    let dir = tempdir();
    let out = run(&["demo"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = std::fs::read_to_string(dir.path().join("demo.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), expected().len());
    assert!(dir.path().join("demo.db").is_dir());
    assert!(stderr(&out).contains("crawl finished"), "{}", stderr(&out));
    // Running it again replaces its own database rather than failing or appending.
    let out = run(&["demo"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = std::fs::read_to_string(dir.path().join("demo.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), expected().len());
}

#[test]
fn a_bad_seed_fails_with_a_hint_and_creates_nothing() {
    let _timing = shared();
    let dir = tempdir();
    for bad in ["not a url", "ftp://example.com/", "example.com"] {
        let out = run(&["crawl", bad, "--db", "x.db"], dir.path());
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = stderr(&out);
        assert!(
            err.contains("invalid seed URL") && err.contains("http://"),
            "{bad}: {err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    }
    assert!(!dir.path().join("x.db").exists());
}

#[test]
fn a_dead_seed_says_when_it_is_tried_again_and_when_its_urls_fail() {
    let _timing = shared();
    let dir = tempdir();
    // A port that refuses connections: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let seed = format!("http://127.0.0.1:{port}/");
    let args = ["crawl", &seed, "--db", "d", "--robots-give-up", "2s"];
    let out = run(&args, dir.path());
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("try 1; next try in 1s") && err.contains("(--robots-give-up)"),
        "{err}"
    );
    assert!(
        err.contains("giving up, its queued URLs are recorded as failed"),
        "{err}"
    );
    assert!(err.contains("1 failed"), "{err}");
    assert!(
        !err.contains("isahc"),
        "the HTTP library's own per-request warnings stay off: {err}"
    );
}

#[test]
fn a_host_that_fails_tls_is_given_up_after_one_retry_not_after_robots_give_up() {
    let _timing = shared();
    let dir = tempdir();
    // Answers plain HTTP to a TLS handshake (what a misconfigured port 443 does), counting
    // connections: every try of robots.txt is one, and each failed handshake is followed by
    // the crawler's own diagnosis handshake (no request in it).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            use std::io::{Read, Write};
            let mut hello = [0u8; 512];
            let _ = conn.read(&mut hello);
            let _ = conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi");
        }
    });
    let seed = format!("https://127.0.0.1:{port}/");
    let started = Instant::now();
    // --robots-give-up is what a TLS failure must not wait out (30 s here, so that the old
    // behaviour fails in 30 s rather than the default 10 minutes).
    let out = run(
        &["crawl", &seed, "--db", "t.db", "--robots-give-up", "30s"],
        dir.path(),
    );
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(started.elapsed() < Duration::from_secs(20), "{err}");
    assert!(
        err.contains("wrong version number") && err.contains("giving up"),
        "curl's words, and the host given up: {err}"
    );
    assert!(
        err.contains("may not speak TLS on this port"),
        "says what to do: {err}"
    );
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::SeqCst),
        4,
        "robots.txt tried twice (each with its diagnosis handshake), no page requested"
    );
    let status = run(&["status", "--db", "t.db", "--json"], dir.path());
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(
        status["by_error"]["tls"], 1,
        "the seed failed as tls: {status}"
    );
    let detail = status["hosts"][0]["robots_detail"].as_str().unwrap_or("");
    assert!(detail.contains("may not speak TLS"), "{detail}");
}

#[test]
fn a_file_or_foreign_directory_is_not_taken_as_a_database() {
    let _timing = shared();
    let dir = tempdir();
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let out = run(&["status", "--db", "notes.txt"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("not a politecrawl database"),
        "{}",
        stderr(&out)
    );
    let out = run(&["crawl", "http://127.0.0.1:9/", "--db", "."], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("not a politecrawl database"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("notes.txt")).unwrap(),
        "mine"
    );
    let out = run(&["status", "--db", "missing.db"], dir.path());
    assert!(stderr(&out).contains("no database at"), "{}", stderr(&out));
}

#[test]
fn a_database_held_by_a_running_crawl_is_refused_with_its_pid_and_exported_as_flushed() {
    let _timing = shared();
    let server = route_server(Arc::new(|r| match r.path() {
        "/" => Some(Reply::html(r#"<a href="/slow">slow</a>"#)),
        "/slow" => Some(Reply::html("late").delayed(Duration::from_secs(20))),
        _ => None,
    }));
    let dir = tempdir();
    let seed = format!("{}/", server.origin());
    let mut child = Command::new(BIN)
        .args(["crawl", &seed, "--db", "held.db", "--rate", "0"])
        .current_dir(dir.path())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !server.requests().iter().any(|r| r.path() == "/slow") {
        assert!(
            Instant::now() < deadline,
            "the first crawl never reached /slow"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = child.id().to_string();
    let args = ["crawl", seed.as_str(), "--db", "held.db"];
    let out = run(&args, dir.path());
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("in use") && err.contains(&pid), "{err}");
    // export reads what the running crawl flushed instead (it publishes that every 200 ms).
    while !dir.path().join("held.db/pages-durable.json").exists() {
        assert!(
            Instant::now() < deadline,
            "the crawl never published a flush"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = run(&["export", "--db", "held.db"], dir.path());
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("a crawl is running on") && err.contains(&pid),
        "{err}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).lines().count() <= 1,
        "at most / so far"
    );
    // status shows the live numbers the running crawl publishes.
    let out = run(&["status", "--db", "held.db", "--json"], dir.path());
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("a crawl is running") && err.contains(&pid),
        "{err}"
    );
    let live: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(live["pid"].as_u64().unwrap().to_string(), pid);
    assert!(
        live.get("queued").is_some() && live.get("done").is_some(),
        "{live}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    // Once the holder is gone the database opens again.
    let out = run(&["status", "--db", "held.db", "--json"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn an_unwritable_database_path_fails_with_a_hint() {
    let _timing = shared();
    let dir = tempdir();
    // /proc refuses new entries even for root.
    let out = run(
        &[
            "crawl",
            "http://127.0.0.1:9/",
            "--db",
            "/proc/politecrawl-test.db",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("/proc/politecrawl-test.db") && err.contains("writable"),
        "{err}"
    );
}

#[test]
fn progress_lines_and_the_run_report_agree_with_status() {
    let _timing = shared();
    let server = route_server(Arc::new(|r| match r.path() {
        "/" => Some(Reply::html(
            (0..20)
                .map(|i| format!(r#"<a href="/p{i}">{i}</a>"#))
                .collect::<String>(),
        )),
        "/robots.txt" => Some(Reply::new(
            200,
            "text/plain",
            "User-agent: *\nDisallow: /p1\n",
        )),
        p if p.starts_with("/p") => {
            Some(Reply::html("<p>page</p>").delayed(Duration::from_millis(200)))
        }
        _ => None,
    }));
    let dir = tempdir();
    let seed = format!("{}/", server.origin());
    let out = run(
        &[
            "crawl",
            &seed,
            "--db",
            "r.db",
            "--rate",
            "0",
            "--concurrency",
            "2",
            "--per-host-concurrency",
            "2",
            "--progress-every",
            "100ms",
            "--report",
            "report.json",
        ],
        dir.path(),
    );
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("progress: "))
        .collect();
    assert!(
        lines.len() >= 2,
        "plain progress lines off a terminal:\n{err}"
    );
    assert!(
        lines
            .iter()
            .all(|l| l.contains(" done, ") && l.contains("pages/s")),
        "{lines:?}"
    );

    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("report.json")).unwrap()).unwrap();
    let out = run(&["status", "--db", "r.db", "--json"], dir.path());
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in [
        "queued",
        "in_flight",
        "done",
        "failed",
        "blocked",
        "bytes",
        "by_status",
        "by_host",
        "by_error",
        "settings",
    ] {
        assert_eq!(report["status"][key], status[key], "{key}");
    }
    assert_eq!(report["stop"], "finished");
    // "Disallow: /p1" blocks /p1 and /p10 … /p19; / and /p0, /p2 … /p9 are fetched.
    assert_eq!(report["run"]["stored"], 10);
    assert_eq!(report["run"]["blocked"], 11);
    assert_eq!(status["hosts"][0]["robots"], "rules");
    assert_eq!(status["hosts"][0]["blocked"], report["run"]["blocked"]);
}

#[test]
fn completions_and_help_examples() {
    let _timing = shared();
    let dir = tempdir();
    for shell in ["bash", "zsh", "fish"] {
        let out = run(&["completions", shell], dir.path());
        assert!(out.status.success());
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(
            script.contains("politecrawl") && script.contains("--max-pages"),
            "{shell}"
        );
    }
    for cmd in ["crawl", "status", "export", "serve", "demo", "completions"] {
        let out = run(&[cmd, "--help"], dir.path());
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Example"),
            "{cmd} --help"
        );
    }
    let help = String::from_utf8_lossy(&run(&["crawl", "--help"], dir.path()).stdout).into_owned();
    // Every default the help text states is the default the library applies.
    let d = CrawlConfig::new("db", &["http://a.test/"]).unwrap();
    let default_of = |flag: &str| -> String {
        let at = help
            .find(&format!("--{flag} "))
            .unwrap_or_else(|| panic!("--{flag} in help"));
        let text = &help[at..];
        let end = text[2..].find("\n      --").map_or(text.len(), |e| e + 2);
        let text = text[..end].split_whitespace().collect::<Vec<_>>().join(" ");
        let start = text
            .find("[default: ")
            .unwrap_or_else(|| panic!("--{flag} states a default"));
        text[start + 10..text[start..].find(']').unwrap() + start].to_string()
    };
    let secs = |flag: &str| humantime::parse_duration(&default_of(flag)).unwrap();
    for (flag, want) in [
        ("concurrency", d.concurrency),
        ("per-host-concurrency", d.per_host_concurrency),
        ("max-url-length", d.max_url_length),
        ("max-redirects", d.max_redirects),
        ("retries", d.retries as usize),
    ] {
        assert_eq!(default_of(flag).parse::<usize>().unwrap(), want, "--{flag}");
    }
    assert_eq!(default_of("rate").parse::<f64>().unwrap(), d.rate);
    assert_eq!(default_of("scope"), "host");
    assert_eq!(d.scope, ScopeKind::Host);
    let body: bytesize::ByteSize = default_of("max-body").parse().unwrap();
    assert_eq!(body.as_u64(), d.max_body, "--max-body");
    for (flag, want) in [
        ("connect-timeout", d.connect_timeout),
        ("timeout", d.timeout),
        ("read-timeout", d.read_timeout),
        ("max-retry-after", d.max_retry_after),
        ("max-crawl-delay", d.max_crawl_delay),
        ("robots-give-up", d.robots_give_up),
        ("grace", d.grace),
    ] {
        assert_eq!(secs(flag), want, "--{flag}");
    }
    assert!(default_of("user-agent").starts_with("politecrawl/VERSION"));
    assert!(d
        .user_agent
        .starts_with(&format!("politecrawl/{}", env!("CARGO_PKG_VERSION"))));
    assert!(
        help.contains("IMPOLITE"),
        "--ignore-robots says it is impolite"
    );
}

#[test]
fn progress_says_when_concurrency_is_the_bottleneck() {
    let _timing = shared();
    // Three hosts with slow pages and one fetch slot: two hosts could always go and wait.
    let slow = |r: &politecrawl::serve::Request| match r.path() {
        "/" => Some(Reply::html(
            (0..6)
                .map(|i| format!(r#"<a href="/p{i}">{i}</a>"#))
                .collect::<String>(),
        )),
        p if p.starts_with("/p") => {
            Some(Reply::html("<p>page</p>").delayed(Duration::from_millis(150)))
        }
        _ => None,
    };
    let servers: Vec<_> = (0..3).map(|_| route_server(Arc::new(slow))).collect();
    let seeds: Vec<String> = servers.iter().map(|s| format!("{}/", s.origin())).collect();
    let dir = tempdir();
    let mut args: Vec<&str> = vec!["crawl"];
    args.extend(seeds.iter().map(String::as_str));
    args.extend([
        "--db",
        "b.db",
        "--rate",
        "0",
        "--concurrency",
        "1",
        "--progress-every",
        "100ms",
    ]);
    let out = run(&args, dir.path());
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.lines().any(|l| l.starts_with("progress: ")
            && l.contains("all 1 fetch slots busy")
            && l.contains("hosts ready: raise --concurrency")),
        "{err}"
    );
    // With a slot per host, nothing waits for a slot.
    let out = run(
        &[
            "crawl",
            &seeds[0],
            "--db",
            "c.db",
            "--rate",
            "0",
            "--progress-every",
            "100ms",
        ],
        dir.path(),
    );
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("fetch slots busy"), "{err}");
}

#[test]
fn a_crawl_whose_sockets_are_numbered_above_1024_still_fetches() {
    // A broad crawl holds well over a thousand descriptors (connections in flight and pooled,
    // the database's files). libcurl built to wait with select() cannot watch a socket numbered
    // 1024 or above: its agent thread died ("Unrecoverable error in select/poll") and every
    // request failed. Here the crawler starts with descriptors 3..1100 taken, so every socket
    // it opens is numbered above 1100.
    let _shared = shared();
    let server = fixture_server();
    let dir = tempdir();
    let db = dir.path().join("db");
    let script = r#"ulimit -n 2048 || exit 97
for i in $(seq 3 1100); do eval "exec $i</dev/null" || exit 98; done
exec "$0" "$@""#;
    let out = std::process::Command::new("bash")
        .args(["-c", script, BIN, "crawl", &format!("{}/", server.origin())])
        .args(["--db", db.to_str().unwrap(), "--rate", "0", "--no-progress"])
        .current_dir(dir.path())
        .output()
        .expect("run bash");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        request_counts(&server),
        each_fixture_page_once(),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_dead_http_client_stops_the_crawl_and_fails_no_url() {
    // Once curl's agent thread has died, isahc panics on every request. Those requests are not
    // failures of their URLs: the crawl stops with an error that says so, they stay queued, and
    // the next run fetches them. (The crash point makes the 8th request on panic as isahc does.)
    let _shared = shared();
    let server = fixture_server();
    let dir = tempdir();
    let db = dir.path().join("db");
    let seed = format!("{}/", server.origin());
    let args = [
        "crawl",
        &seed,
        "--db",
        db.to_str().unwrap(),
        "--rate",
        "0",
        "--no-progress",
    ];
    let out = Command::new(BIN)
        .args(args)
        .env("POLITECRAWL_CRASH_AT", "http-client-dies:8")
        .current_dir(dir.path())
        .output()
        .expect("run politecrawl");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("the HTTP client stopped"), "{err}");
    assert!(
        err.contains("run the same crawl command again to resume"),
        "{err}"
    );
    let first = server.requests().len();
    assert_eq!(first, 7, "robots.txt and six pages before the client died");

    let out = run(&args, dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        request_counts(&server),
        each_fixture_page_once(),
        "every page requested once over both runs"
    );
    let store = politecrawl::Store::open(&db, politecrawl::store::OpenMode::Existing).unwrap();
    assert_eq!(
        stored_statuses(&store, &server.origin()),
        expected_statuses(),
        "no URL failed for the dead client"
    );
}
