//! What requests carry and which way they go, from the server's (or the proxy's) side:
//! `--header`, HTTP Basic credentials sent to their own origin only (never across a redirect,
//! never into exports, reports or logs) and kept for a resume, and proxies (HTTP with a login,
//! SOCKS5, the environment's, `--no-proxy`) with politeness still per target origin.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use politecrawl::serve::{Reply, Request};

use super::proxy::{HttpProxy, Proxied, Socks5Proxy};
use super::support::{
    assert_secrets_only_in_credentials, exclusive, header, route_server, run, shared, stderr,
    tempdir, BIN,
};

const PASSWORD: &str = "s3cret-Pw";

fn basic(user: &str, password: &str) -> String {
    let pair = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// Runs the binary with `POLITECRAWL_PASSWORD` set.
fn run_with_password(args: &[&str], cwd: &Path) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env("POLITECRAWL_PASSWORD", PASSWORD)
        .current_dir(cwd)
        .output()
        .unwrap()
}

#[test]
fn basic_auth_goes_only_to_its_origin_and_never_into_exports_reports_or_logs() {
    let _timing = shared();
    let other = route_server(Arc::new(|r| match r.path() {
        "/" | "/moved" => Some(Reply::html("<p>elsewhere</p>")),
        _ => None,
    }));
    let b = other.origin();
    let want = basic("alice", PASSWORD);
    let site = route_server(Arc::new(move |r| {
        if header(r, "authorization") != [want.as_str()] {
            return Some(Reply::new(401, "text/plain", "who?").header("WWW-Authenticate", "Basic"));
        }
        match r.path() {
            "/" => Some(Reply::html(format!(
                r#"<a href="/p">p</a> <a href="{b}/">other</a>"#
            ))),
            "/p" => Some(Reply::redirect(302, &format!("{b}/moved"))),
            "/later" => Some(Reply::html("<p>later</p>")),
            _ => None,
        }
    }));
    let a = site.origin();
    let dir = tempdir();
    let d = dir.path();
    let seed = format!("{a}/");
    let args = [
        "crawl",
        &seed,
        "--db",
        "auth.db",
        "--scope",
        "any",
        "--rate",
        "0",
        "--user",
        "alice",
        "--password",
        "-",
        "--report",
        "report.json",
    ];
    let out = run_with_password(&args, d);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");

    let to_a = site.requests();
    assert!(to_a.iter().any(|r| r.path() == "/p"), "{to_a:?}");
    let to_b = other.requests();
    let mut b_paths: Vec<&str> = to_b.iter().map(|r| r.path()).collect();
    b_paths.sort();
    assert_eq!(
        b_paths,
        ["/", "/moved", "/robots.txt"],
        "the link and the redirect"
    );
    assert!(
        to_b.iter().all(|r| header(r, "authorization").is_empty()),
        "nothing for another origin, not even after a redirect from ours: {to_b:?}"
    );

    // Every record of the seed's origin is a 200 (the login was sent with each request).
    let jsonl = run(&["export", "--db", "auth.db"], d);
    let text = String::from_utf8(jsonl.stdout.clone()).unwrap();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let want = if v["url"].as_str().unwrap().ends_with("/p") {
            302
        } else {
            200
        };
        assert_eq!(v["status"], want, "{line}");
    }

    // Neither the password nor its base64 anywhere but the credentials file.
    let out = run(
        &[
            "export",
            "--db",
            "auth.db",
            "--format",
            "warc",
            "--out",
            "a.warc.gz",
        ],
        d,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let mut warc = String::new();
    use std::io::Read;
    flate2::read::MultiGzDecoder::new(std::fs::File::open(d.join("a.warc.gz")).unwrap())
        .read_to_string(&mut warc)
        .unwrap();
    let csv = run(&["export", "--db", "auth.db", "--format", "csv"], d).stdout;
    let status = run(&["status", "--db", "auth.db", "--json"], d).stdout;
    let report = std::fs::read(d.join("report.json")).unwrap();
    let secret = basic("alice", PASSWORD);
    let secret = secret.trim_start_matches("Basic ");
    for (what, bytes) in [
        ("stderr", out.stderr.clone()),
        ("crawl stderr", err.clone().into_bytes()),
        ("JSON Lines", jsonl.stdout),
        ("WARC", warc.into_bytes()),
        ("CSV", csv),
        ("status", status),
        ("report", report),
    ] {
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(PASSWORD) && !text.contains(secret),
            "{what} holds the password"
        );
    }
    assert_secrets_only_in_credentials(&d.join("auth.db"), &[PASSWORD]);

    // A resume without --user still logs in (the saved login).
    let before = site.requests().len();
    let later = format!("{a}/later");
    let out = run(&["crawl", &later, "--db", "auth.db", "--rate", "0"], d);
    assert!(out.status.success(), "{}", stderr(&out));
    let resumed = site.requests();
    let got: Vec<(&str, Vec<&str>)> = resumed[before..]
        .iter()
        .map(|r| (r.path(), header(r, "authorization")))
        .collect();
    assert_eq!(got, [("/later", vec![basic("alice", PASSWORD).as_str()])]);
}

#[test]
fn a_seeds_userinfo_is_its_login_and_is_not_kept_in_its_url() {
    let _timing = shared();
    let want = basic("bob", "p@ss:word");
    let site = route_server(Arc::new(move |r| {
        if header(r, "authorization") != [want.as_str()] {
            return Some(Reply::new(401, "text/plain", "who?"));
        }
        (r.path() == "/").then(|| Reply::html("<p>in</p>"))
    }));
    let port = site.origin().rsplit(':').next().unwrap().to_string();
    let dir = tempdir();
    let seed = format!("http://bob:p%40ss%3Aword@127.0.0.1:{port}/");
    let out = run(&["crawl", &seed, "--db", "u.db", "--rate", "0"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let jsonl = run(&["export", "--db", "u.db"], dir.path());
    let text = String::from_utf8(jsonl.stdout).unwrap();
    let v: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(v["url"], format!("http://127.0.0.1:{port}/"));
    assert_eq!(v["status"], 200);
    assert!(!text.contains("p@ss") && !text.contains("p%40ss"), "{text}");
}

#[test]
fn given_headers_are_sent_with_every_request_and_ours_cannot_be_replaced() {
    let _timing = shared();
    let site = route_server(Arc::new(|r| match r.path() {
        "/" => Some(Reply::html(r#"<a href="/b">b</a>"#)),
        "/b" => Some(Reply::html("<p>b</p>")),
        _ => None,
    }));
    let dir = tempdir();
    let seed = format!("{}/", site.origin());
    let args = [
        "crawl",
        &seed,
        "--db",
        "h.db",
        "--rate",
        "0",
        "--header",
        "X-Test: hello there",
        "--header",
        "accept: text/html",
    ];
    let out = run(&args, dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let requests = site.requests();
    assert_eq!(requests.len(), 3, "robots.txt, / and /b: {requests:?}");
    for r in &requests {
        assert_eq!(header(r, "x-test"), ["hello there"], "{r:?}");
        assert_eq!(
            header(r, "accept"),
            ["text/html"],
            "the given Accept alone: {r:?}"
        );
        assert_eq!(header(r, "user-agent").len(), 1, "{r:?}");
        assert!(
            header(r, "content-length").is_empty(),
            "a GET has no body: {r:?}"
        );
    }
    // Saved with the crawl: a resume sends them too.
    let more = format!("{}/c", site.origin());
    let out = run(&["crawl", &more, "--db", "h.db", "--rate", "0"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let last = site.requests().pop().unwrap();
    assert_eq!(
        (last.path(), header(&last, "x-test")),
        ("/c", vec!["hello there"])
    );

    for (flag, bad, words) in [
        ("--header", "User-Agent: me", "--user-agent"),
        ("--header", "Host: example.com", "follows from the URL"),
        ("--header", "Authorization: Bearer x", "--user/--password"),
        ("--header", "nocolon", "expected 'Name: value'"),
        ("--proxy", "ftp://127.0.0.1:21", "not a proxy scheme"),
        (
            "--proxy",
            "127.0.0.1:3128",
            "give its scheme: http://127.0.0.1:3128",
        ),
    ] {
        let args = ["crawl", &seed, "--db", "bad.db", flag, bad];
        let out = run(&args, dir.path());
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{bad}: {err}");
        assert!(err.contains(words), "{bad}: {err}");
        assert!(!dir.path().join("bad.db").exists(), "{bad}: nothing made");
    }
}

/// `robots.txt` 404, `/` links three leaves.
fn proxied_site(r: &Proxied) -> (u16, String, Vec<u8>) {
    let path = r.url.splitn(4, '/').nth(3).unwrap_or("");
    match path {
        "robots.txt" => (404, "text/plain".into(), b"none".to_vec()),
        "" => (
            200,
            "text/html".into(),
            br#"<a href="/1">1</a><a href="/2">2</a><a href="/3">3</a>"#.to_vec(),
        ),
        _ => (200, "text/html".into(), b"<p>leaf</p>".to_vec()),
    }
}

#[test]
fn an_http_proxy_carries_every_request_and_politeness_stays_per_target_origin() {
    let _timing = exclusive();
    let proxy = HttpProxy::start(Arc::new(proxied_site));
    let dir = tempdir();
    let d = dir.path();
    // Names that resolve nowhere: only the proxy can reach them, and it is never asked to
    // resolve anything but its own address.
    let proxy_url = format!("http://pu:pp%21@127.0.0.1:{}", proxy.port);
    let args = [
        "crawl",
        "http://a.test/",
        "http://b.test/",
        "--db",
        "p.db",
        "--proxy",
        &proxy_url,
        "--rate",
        "4",
        "--per-host-concurrency",
        "1",
        "--concurrency",
        "8",
    ];
    let out = run(&args, d);
    assert!(out.status.success(), "{}", stderr(&out));
    let seen = proxy.requests();
    let mut urls: Vec<&str> = seen.iter().map(|r| r.url.as_str()).collect();
    urls.sort();
    let want: Vec<String> = ["a", "b"]
        .iter()
        .flat_map(|h| ["/", "/1", "/2", "/3", "/robots.txt"].map(|p| format!("http://{h}.test{p}")))
        .collect();
    assert_eq!(urls, want, "every request went through the proxy, once");
    assert!(
        seen.iter()
            .all(|r| r.header("proxy-authorization") == Some(basic("pu", "pp!").as_str())),
        "{seen:?}"
    );
    // The gap is per target origin: 250 ms at --rate 4 within each, none between them. The
    // gap is kept when a request is handed to the client, and the proxy sees it a little later
    // (a new connection, curl's thread waking): up to ~6 ms off here, the wire exactness of
    // the broad-crawl issue. What this test holds to is the keying, so it allows 10 %.
    for origin in ["http://a.test", "http://b.test"] {
        let times: Vec<Instant> = seen
            .iter()
            .filter(|r| r.origin() == origin)
            .map(|r| r.at)
            .collect();
        let gap = times.windows(2).map(|w| w[1] - w[0]).min().unwrap();
        assert!(gap >= Duration::from_millis(225), "{origin}: {gap:?}");
    }
    let mut all: Vec<Instant> = seen.iter().map(|r| r.at).collect();
    all.sort();
    let closest = all.windows(2).map(|w| w[1] - w[0]).min().unwrap();
    assert!(
        closest < Duration::from_millis(200),
        "the two origins are not one: {closest:?}"
    );
    // The setting is saved without its login.
    let status = run(&["status", "--db", "p.db", "--json"], d);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(
        status["settings"]["proxy"],
        format!("http://127.0.0.1:{}", proxy.port)
    );
    assert!(!status.to_string().contains("pp"), "{status}");
}

#[test]
fn socks5_relays_to_the_server_and_the_environment_proxy_is_used_unless_no_proxy() {
    let _timing = shared();
    let target = route_server(Arc::new(|r| match r.path() {
        "/" => Some(Reply::html(r#"<a href="/x">x</a>"#)),
        "/x" => Some(Reply::html("<p>x</p>")),
        _ => None,
    }));
    let seed = format!("{}/", target.origin());
    let addr = target.origin().trim_start_matches("http://").to_string();
    let socks = Socks5Proxy::start();
    let dir = tempdir();
    let d = dir.path();
    let args = [
        "crawl",
        &seed,
        "--db",
        "s.db",
        "--rate",
        "0",
        "--proxy",
        &socks.url(),
    ];
    let out = run(&args, d);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(target.requests().len(), 3, "robots.txt, / and /x, relayed");
    let dests = socks.destinations();
    assert!(
        !dests.is_empty() && dests.iter().all(|d| *d == addr),
        "{dests:?}"
    );

    // http_proxy from the environment, as curl reads it; --no-proxy ignores it.
    let proxy = HttpProxy::start(Arc::new(proxied_site));
    let env_run = |db: &str, extra: &[&str]| {
        let mut args = vec!["crawl", seed.as_str(), "--db", db, "--rate", "0"];
        args.extend_from_slice(extra);
        Command::new(BIN)
            .args(&args)
            .env("http_proxy", proxy.url())
            .env_remove("no_proxy")
            .env_remove("NO_PROXY")
            .current_dir(d)
            .output()
            .unwrap()
    };
    let before = target.requests().len();
    let out = env_run("env.db", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(target.requests().len(), before, "not reached directly");
    assert_eq!(
        proxy.requests().len(),
        5,
        "robots.txt, / and its three links"
    );
    let out = env_run("none.db", &["--no-proxy"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        proxy.requests().len(),
        5,
        "--no-proxy: the proxy saw nothing more"
    );
    assert_eq!(target.requests().len(), before + 3);
}

#[test]
fn cookies_servers_set_are_sent_back_by_path_kept_for_a_resume_and_loaded_from_cookies_txt() {
    let _timing = shared();
    let site = route_server(Arc::new(|r| match r.path() {
        "/" => Some(
            Reply::html(r#"<a href="/a">a</a><a href="/private/p">p</a>"#)
                .header("Set-Cookie", "sid=abc; Path=/; HttpOnly"),
        ),
        "/private/p" => Some(
            Reply::html(r#"<a href="/private/q">q</a>"#)
                .header("Set-Cookie", "priv=1; Path=/private"),
        ),
        "/a" | "/private/q" | "/later" => Some(Reply::html("<p>leaf</p>")),
        _ => None,
    }));
    let dir = tempdir();
    let d = dir.path();
    let seed = format!("{}/", site.origin());
    let out = run(&["crawl", &seed, "--db", "c.db", "--rate", "0"], d);
    assert!(out.status.success(), "{}", stderr(&out));
    let cookie_of = |path: &str| -> Vec<String> {
        site.requests()
            .iter()
            .filter(|r| r.path() == path)
            .map(|r| header(r, "cookie").join(" | "))
            .collect()
    };
    assert_eq!(cookie_of("/robots.txt"), [""], "nothing set yet");
    assert_eq!(cookie_of("/"), [""]);
    assert_eq!(cookie_of("/a"), ["sid=abc"], "not the /private cookie");
    assert_eq!(cookie_of("/private/p"), ["sid=abc"]);
    assert_eq!(
        cookie_of("/private/q"),
        ["priv=1; sid=abc"],
        "longer path first"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let jar = d.join("c.db").join("cookies.json");
        let mode = std::fs::metadata(jar).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "session cookies are logins");
    }

    // A resume keeps the session (a session cookie too).
    let later = format!("{}/later", site.origin());
    let out = run(&["crawl", &later, "--db", "c.db", "--rate", "0"], d);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(cookie_of("/later"), ["sid=abc"]);

    // --cookies FILE: there before the first request; --no-cookies: none sent.
    let site2 = route_server(Arc::new(|r| {
        (r.path() == "/").then(|| Reply::html("<p>x</p>"))
    }));
    let port = site2.origin().rsplit(':').next().unwrap().to_string();
    std::fs::write(
        d.join("cookies.txt"),
        "# Netscape HTTP Cookie File\n127.0.0.1\tFALSE\t/\tFALSE\t0\tpre\tset\n",
    )
    .unwrap();
    let seed2 = format!("http://127.0.0.1:{port}/");
    let args = [
        "crawl",
        &seed2,
        "--db",
        "f.db",
        "--rate",
        "0",
        "--cookies",
        "cookies.txt",
    ];
    let out = run(&args, d);
    assert!(out.status.success(), "{}", stderr(&out));
    let args = [
        "crawl",
        &seed2,
        "--db",
        "n.db",
        "--rate",
        "0",
        "--no-cookies",
    ];
    let out = run(&args, d);
    assert!(out.status.success(), "{}", stderr(&out));
    let got: Vec<(String, String)> = site2
        .requests()
        .iter()
        .map(|r| (r.path().to_string(), header(r, "cookie").join(" | ")))
        .collect();
    let want = [
        ("/robots.txt", "pre=set"),
        ("/", "pre=set"),
        ("/robots.txt", ""),
        ("/", ""),
    ]
    .map(|(p, c)| (p.to_string(), c.to_string()));
    assert_eq!(got, want);
}

/// Crawls `n` origins of two pages each with `--concurrency 8` (a pool of 32 connections) and
/// returns, per request (robots.txt ones only, with `robots_only`), whether it asked the server
/// to close the connection.
fn connection_close_asked(n: usize, robots_only: bool) -> Vec<bool> {
    let servers: Vec<_> = (0..n)
        .map(|_| {
            route_server(Arc::new(|r: &Request| match r.path() {
                "/" => Some(Reply::html(r#"<a href="/b">b</a>"#)),
                "/b" => Some(Reply::html("b")),
                _ => None,
            }))
        })
        .collect();
    let dir = tempdir();
    let seeds: Vec<String> = servers.iter().map(|s| format!("{}/", s.origin())).collect();
    let mut config = politecrawl::CrawlConfig::new(dir.path().join("db"), &seeds).unwrap();
    config.rate = 0.0;
    config.concurrency = 8;
    let (summary, _) = super::support::crawl(&config);
    assert_eq!(summary.run.stored as usize, 2 * n);
    servers
        .iter()
        .flat_map(|s| s.requests())
        .filter(|r| !robots_only || r.path() == "/robots.txt")
        .map(|r| header(&r, "connection") == ["close"])
        .collect()
}

#[test]
fn connections_are_kept_only_while_the_pool_can_hold_every_origin_at_work() {
    // With more origins at work than the pool holds (twice --concurrency, at least 32), every
    // connection would be evicted before its origin's next request, and curl would walk the
    // whole pool to evict one at each new connection; the server is asked to close instead.
    let _shared = shared();
    let few = connection_close_asked(3, false);
    assert_eq!(few.len(), 9, "robots.txt and two pages per origin");
    assert!(
        few.iter().all(|&close| !close),
        "3 origins: connections kept"
    );
    // All 40 seeds' origins are at work when their robots.txt requests go out (later, as
    // origins finish, the count falls under the pool's size and connections are kept again).
    let many = connection_close_asked(40, true);
    assert_eq!(many.len(), 40);
    assert!(
        many.iter().all(|&close| close),
        "40 origins at work, a pool of 32: every robots.txt request asks to close ({} of 40 did)",
        many.iter().filter(|&&c| c).count()
    );
}
