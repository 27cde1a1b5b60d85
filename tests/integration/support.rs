//! Shared test support: the fixture site server, the hand-written expected URL list, configs
//! for fast loopback crawls, and raw TCP servers for misbehaving peers.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use politecrawl::progress::Progress;
use politecrawl::serve::{Reply, Request, Route, Site, SiteServer};
use politecrawl::store::PageRecord;
use politecrawl::{CrawlConfig, OpenMode, StopSignal, Store};

/// The real binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_politecrawl");

/// Runs the binary with `args` in `cwd` and returns what it did.
pub fn run(args: &[&str], cwd: &Path) -> std::process::Output {
    std::process::Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run politecrawl")
}

/// The values of header `name` (lowercase) in a request the server recorded.
pub fn header<'a>(r: &'a Request, name: &str) -> Vec<&'a str> {
    r.headers
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// Which of `secrets` occurs in `bytes`, if any.
pub fn leak(bytes: &[u8], secrets: &[&str]) -> Option<String> {
    secrets
        .iter()
        .find(|s| bytes.windows(s.len()).any(|w| w == s.as_bytes()))
        .map(|s| s.to_string())
}

/// Asserts that no file of database `db` but its credentials file holds any of `secrets`, and
/// that only its owner may read that one.
pub fn assert_secrets_only_in_credentials(db: &Path, secrets: &[&str]) {
    for file in files_under(db) {
        if file.file_name().is_some_and(|n| n == "credentials") {
            continue;
        }
        let found = leak(&std::fs::read(&file).unwrap(), secrets);
        assert_eq!(found, None, "{} holds a secret", file.display());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(db.join("credentials"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "only its owner reads the credentials");
    }
}

/// A command's stderr as text.
pub fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Every file under `root`, depth first.
pub fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    files
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// A fresh temporary directory, removed when dropped.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("politecrawl-test-")
        .tempdir()
        .expect("create a temp dir")
}

/// The fixture site on an ephemeral loopback port.
pub fn fixture_server() -> SiteServer {
    SiteServer::start("127.0.0.1:0", Site::Dir(fixtures().join("site")), None)
        .expect("start the fixture server")
}

/// A server answering only through `route` (404 elsewhere).
pub fn route_server(route: Route) -> SiteServer {
    SiteServer::start("127.0.0.1:0", Site::Empty, Some(route)).expect("start a route server")
}

/// One line of `fixtures/site-expected.txt`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected {
    pub depth: u32,
    pub status: u16,
    pub target: String,
}

/// The hand-maintained list of URLs a full fixture crawl requests.
pub fn expected() -> Vec<Expected> {
    let text = std::fs::read_to_string(fixtures().join("site-expected.txt")).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut parts = l.split_whitespace();
            let depth = parts.next().unwrap().parse().unwrap();
            let status = parts.next().unwrap().parse().unwrap();
            let target = parts.next().unwrap().to_string();
            assert!(parts.next().is_none(), "bad expected line {l:?}");
            Expected {
                depth,
                status,
                target,
            }
        })
        .collect()
}

/// A config for a fast crawl of our own loopback server.
pub fn fast_config(db: &Path, seed: &str) -> CrawlConfig {
    let mut c = CrawlConfig::new(db, &[seed]).unwrap();
    c.rate = 0.0;
    c.concurrency = 8;
    c.per_host_concurrency = 4;
    c.timeout = std::time::Duration::from_secs(10);
    c
}

/// Runs a crawl and returns the open store for inspection.
pub fn crawl(config: &CrawlConfig) -> (politecrawl::Summary, Store) {
    let store = Store::open(&config.db, OpenMode::CreateOrOpen).unwrap();
    let (stop, progress) = (StopSignal::new(), Progress::new());
    let summary = politecrawl::crawl::run(config, &store, &stop, &progress).expect("crawl runs");
    (summary, store)
}

/// Stored records of `origin`, keyed by path-and-query.
pub fn stored(store: &Store, origin: &str) -> BTreeMap<String, PageRecord> {
    let prefix = format!("{origin}/");
    store
        .pages()
        .map(|r| r.unwrap())
        .filter(|r| r.url.starts_with(&prefix))
        .map(|r| (r.url[origin.len()..].to_string(), r))
        .collect()
}

/// The fixture site's status per path, as `fixtures/site-expected.txt` lists it.
pub fn expected_statuses() -> BTreeMap<String, Option<u16>> {
    expected()
        .into_iter()
        .map(|e| (e.target, Some(e.status)))
        .collect()
}

/// The stored status per path of `origin` (None: no response), to compare with
/// [`expected_statuses`].
pub fn stored_statuses(store: &Store, origin: &str) -> BTreeMap<String, Option<u16>> {
    stored(store, origin)
        .into_iter()
        .map(|(path, r)| (path, r.status))
        .collect()
}

/// Every path of the fixture site requested once: what [`request_counts`] shows after a
/// complete crawl that fetched nothing twice.
pub fn each_fixture_page_once() -> BTreeMap<String, usize> {
    expected().into_iter().map(|e| (e.target, 1)).collect()
}

/// Page requests in the server log (robots.txt aside), with how often each was requested.
pub fn request_counts(server: &SiteServer) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in page_requests(server) {
        *m.entry(r.target).or_default() += 1;
    }
    m
}

/// The server's log without robots.txt requests.
pub fn page_requests(server: &SiteServer) -> Vec<politecrawl::serve::Request> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.path() != "/robots.txt")
        .collect()
}

/// Renders a set difference readably for assertion messages.
pub fn diff<T: Ord + std::fmt::Debug + Clone>(
    want: &std::collections::BTreeSet<T>,
    got: &std::collections::BTreeSet<T>,
) -> String {
    let missing: Vec<_> = want.difference(got).cloned().collect();
    let extra: Vec<_> = got.difference(want).cloned().collect();
    format!("missing: {missing:?}\nunexpected: {extra:?}")
}

/// A raw HTTP server for misbehaving peers: it reads each request head itself and hands the
/// socket to `behave`, which writes whatever bytes it likes and returns whether to keep the
/// connection open for another request. Every request target is logged with its arrival time.
pub struct RawServer {
    addr: std::net::SocketAddr,
    log: std::sync::Arc<std::sync::Mutex<Vec<(String, std::time::Instant)>>>,
}

pub type Behave = std::sync::Arc<dyn Fn(&str, &mut std::net::TcpStream) -> bool + Send + Sync>;

impl RawServer {
    pub fn start(behave: Behave) -> RawServer {
        use std::io::BufRead;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log2 = log.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let (behave, log) = (behave.clone(), log2.clone());
                std::thread::spawn(move || {
                    conn.set_read_timeout(Some(std::time::Duration::from_secs(10)))
                        .ok();
                    let mut reader = std::io::BufReader::new(conn.try_clone().unwrap());
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let target = line.split_whitespace().nth(1).unwrap_or("").to_string();
                        loop {
                            let mut h = String::new();
                            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                                return;
                            }
                            if h == "\r\n" || h == "\n" {
                                break;
                            }
                        }
                        log.lock()
                            .unwrap()
                            .push((target.clone(), std::time::Instant::now()));
                        if !behave(&target, &mut conn) {
                            let _ = conn.shutdown(std::net::Shutdown::Both);
                            return;
                        }
                    }
                });
            }
        });
        RawServer { addr, log }
    }

    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .map(|(t, _)| t.clone())
            .collect()
    }
}

/// Writes a complete HTTP/1.1 response with a Content-Length.
pub fn write_response(
    conn: &mut std::net::TcpStream,
    status: u16,
    ctype: &str,
    body: &[u8],
) -> bool {
    use std::io::Write;
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).is_ok() && conn.write_all(body).is_ok()
}

/// Timing tests measure request spacing from the server's clock, which CPU load from other
/// tests in this binary would blur. They hold this lock exclusively; every other test holds it
/// shared, so a timing test runs alone.
static TIMING: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// Taken by every test that is not a timing test.
pub fn shared() -> std::sync::RwLockReadGuard<'static, ()> {
    TIMING.read().unwrap_or_else(|e| e.into_inner())
}

/// Taken by timing tests: waits until no other test runs.
pub fn exclusive() -> std::sync::RwLockWriteGuard<'static, ()> {
    TIMING.write().unwrap_or_else(|e| e.into_inner())
}

/// A generated site of `n` pages: `/` links to `/n/0`; page `i` links to `i+1` and two others,
/// so every page is reachable and most are linked several times.
pub fn generated(
    n: usize,
    delay: Duration,
    body_bytes: usize,
) -> impl Fn(&Request) -> Option<Reply> {
    move |r: &Request| {
        let path = r.path();
        if path == "/robots.txt" {
            return Some(Reply::new(404, "text/plain", ""));
        }
        let i: usize = match path {
            "/" => return Some(Reply::html(r#"<a href="/n/0">start</a>"#)),
            p => p.strip_prefix("/n/")?.parse().ok().filter(|i| *i < n)?,
        };
        std::thread::sleep(delay);
        let links = [(i + 1) % n, (i * 7 + 3) % n, (i * 13 + 5) % n];
        let mut html: String = links
            .iter()
            .map(|j| format!(r#"<a href="/n/{j}">{j}</a>"#))
            .collect();
        html.push_str(&"x".repeat(body_bytes));
        Some(Reply::html(html))
    }
}

pub fn all_targets(n: usize) -> Vec<String> {
    let mut v: Vec<String> = (0..n).map(|i| format!("/n/{i}")).collect();
    v.push("/".into());
    v.sort();
    v
}

/// The breakdown and per-origin tallies `status` reads equal the ones recounted from the
/// page records (as the counters must equal `frontier::recount`).
pub fn assert_tallies_true(store: &politecrawl::Store) {
    let (breakdown, tallies) = politecrawl::frontier::recount_tallies(store).unwrap();
    assert_eq!(store.breakdown().unwrap(), breakdown, "kept breakdown");
    let kept: std::collections::BTreeMap<_, _> = store.host_tallies().map(|t| t.unwrap()).collect();
    assert_eq!(kept, tallies, "kept host tallies");
}

/// `bytes`, gzip-compressed.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// A robots.txt that names the sitemap at `path` of the requested host.
pub fn robots_naming_sitemap(r: &Request, path: &str) -> Reply {
    let host = r.host.clone().unwrap_or_default();
    Reply::new(200, "text/plain", format!("Sitemap: http://{host}{path}\n"))
}
