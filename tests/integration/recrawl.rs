//! `--recrawl`, from the server's side: a site whose pages answer with ETag and Last-Modified
//! and honour (or ignore) the conditional headers they receive, pages that change between runs
//! and pages that disappear; versions, totals and round counts from the store.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use politecrawl::serve::{Reply, Request, Route, SiteServer};
use politecrawl::store::versions::Version;
use politecrawl::store::PageRecord;
use politecrawl::{Clock, Store};

use crate::support::{assert_tallies_true, crawl, fast_config, route_server, tempdir};

/// The site's state between runs: which edition `/c` serves, whether `/d` exists.
#[derive(Default)]
pub(crate) struct Site {
    pub c_edition: u32,
    pub d_gone: bool,
}

const ETAG: &str = "\"root-v1\"";
const LAST_MODIFIED: &str = "Tue, 01 Dec 2026 10:00:00 GMT";

fn header<'r>(r: &'r Request, name: &str) -> Option<&'r str> {
    r.headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `/` (ETag, honoured), `/a` (Last-Modified, honoured), `/b` (ignores both, same bytes),
/// `/c` (a new edition when told, linking to `/new`), `/d` (gone when told).
pub(crate) fn site(state: Arc<Mutex<Site>>) -> SiteServer {
    let route: Route = Arc::new(move |r: &Request| {
        let s = state.lock().unwrap();
        Some(match r.path() {
            "/" if header(r, "if-none-match") == Some(ETAG) => {
                Reply::new(304, "text/html", "").header("etag", ETAG)
            }
            "/" => Reply::html(
                r#"<a href="/a">a</a><a href="/b">b</a><a href="/c">c</a><a href="/d">d</a>"#,
            )
            .header("etag", ETAG),
            "/a" if header(r, "if-modified-since") == Some(LAST_MODIFIED) => {
                Reply::new(304, "text/html", "")
            }
            "/a" => Reply::html("<p>a</p>").header("last-modified", LAST_MODIFIED),
            "/b" => Reply::html("<p>b, always the same</p>")
                .header("etag", "\"b\"")
                .header("last-modified", LAST_MODIFIED),
            "/c" if s.c_edition == 0 => Reply::html("<p>c, first edition</p>"),
            "/c" => Reply::html(format!(
                r#"<p>c, edition {}</p><a href="/new">new</a>"#,
                s.c_edition
            )),
            "/d" if s.d_gone => Reply::new(404, "text/html", "gone"),
            "/d" => Reply::html("<p>d</p>"),
            "/new" => Reply::html("<p>new</p>"),
            _ => return None,
        })
    });
    route_server(route)
}

/// Every stored record of the server's URLs by path, in the order stored.
fn history(store: &Store, origin: &str) -> BTreeMap<String, Vec<PageRecord>> {
    let mut m: BTreeMap<String, Vec<PageRecord>> = BTreeMap::new();
    for r in store.pages() {
        let r = r.unwrap();
        m.entry(r.url[origin.len()..].to_string())
            .or_default()
            .push(r);
    }
    m
}

fn changes(records: &[PageRecord]) -> Vec<(&'static str, u32)> {
    records
        .iter()
        .map(|r| {
            let v = Version::of(r);
            (v.change.as_str(), v.number)
        })
        .collect()
}

#[test]
fn a_recrawl_asks_conditionally_and_stores_only_what_changed() {
    let _shared = crate::support::shared();
    let state = Arc::new(Mutex::new(Site::default()));
    let server = site(Arc::clone(&state));
    let origin = server.origin();
    let dir = tempdir();
    let db = dir.path().join("db");
    let config = fast_config(&db, &format!("{origin}/"));
    let (first, store) = crawl(&config);
    assert_eq!(first.run.stored, 5, "{first}");
    drop(store);
    let before = server.requests().len();

    // The site changes: /c gets a new edition linking to /new, /d goes away.
    *state.lock().unwrap() = Site {
        c_edition: 2,
        d_gone: true,
    };
    let mut recrawl = config.clone();
    recrawl.recrawl = true;
    recrawl.older_than = Duration::ZERO;
    let (second, store) = crawl(&recrawl);

    let asked: Vec<Request> = server.requests()[before..]
        .iter()
        .filter(|r| r.path() != "/robots.txt")
        .cloned()
        .collect();
    let mut targets: Vec<&str> = asked.iter().map(|r| r.target.as_str()).collect();
    targets.sort();
    assert_eq!(targets, ["/", "/a", "/b", "/c", "/d", "/new"], "each once");
    let by_target = |t: &str| asked.iter().find(|r| r.target == t).unwrap();
    assert_eq!(header(by_target("/"), "if-none-match"), Some(ETAG));
    assert_eq!(
        header(by_target("/a"), "if-modified-since"),
        Some(LAST_MODIFIED)
    );
    assert_eq!(header(by_target("/b"), "if-none-match"), Some("\"b\""));
    assert_eq!(
        header(by_target("/c"), "if-none-match"),
        None,
        "it sent no ETag"
    );
    assert_eq!(header(by_target("/new"), "if-none-match"), None);

    let h = history(&store, &origin);
    assert_eq!(changes(&h["/"]), [("new", 1), ("not_modified", 1)]);
    assert_eq!(changes(&h["/a"]), [("new", 1), ("not_modified", 1)]);
    assert_eq!(changes(&h["/b"]), [("new", 1), ("unchanged", 1)]);
    assert_eq!(changes(&h["/c"]), [("new", 1), ("changed", 2)]);
    assert_eq!(changes(&h["/d"]), [("new", 1), ("gone", 2)]);
    assert_eq!(changes(&h["/new"]), [("new", 1)]);
    // The old versions are kept, bodies and all; checks store no body.
    assert_eq!(
        store.find_body(&format!("{origin}/c")).unwrap().unwrap(),
        b"<p>c, first edition</p>"
    );
    assert_eq!((h["/b"][1].body_len, h["/"][1].status), (0, Some(304)));
    let c2 = h["/c"][1].version.as_ref().unwrap();
    assert_eq!(c2.prev_us, h["/c"][0].stored_at_us);
    assert!(c2.digest.is_some());

    // One outcome per URL in the totals: its current content's.
    let totals = store.counters().unwrap();
    assert_eq!((totals.done, totals.failed, totals.queued), (5, 1, 0));
    assert_eq!(totals, politecrawl::frontier::recount(&store).unwrap());
    assert_tallies_true(&store);
    let round = store.round().unwrap().unwrap();
    let t = round.tally;
    assert_eq!(
        (
            round.number,
            t.queued,
            t.checked,
            t.not_modified,
            t.unchanged,
            t.changed,
            t.gone,
            t.new
        ),
        (1, 5, 5, 2, 1, 1, 1, 1),
        "{round:?}"
    );
    assert_eq!((second.run.checked, second.run.stored), (5, 1), "{second}");
    drop(store);

    // Nothing was checked longer ago than an hour: a run asks for nothing.
    let before = server.requests().len();
    recrawl.older_than = Duration::from_secs(3600);
    let (third, store) = crawl(&recrawl);
    let pages = server.requests()[before..]
        .iter()
        .filter(|r| r.path() != "/robots.txt")
        .count();
    assert_eq!((pages, third.run.checked), (0, 0), "{third}");
    assert_eq!(store.round().unwrap().unwrap().number, 1, "no new round");
    drop(store);

    // A second round rechecks all six, the gone page still gone (unchanged).
    recrawl.older_than = Duration::ZERO;
    let (_, store) = crawl(&recrawl);
    let h = history(&store, &origin);
    assert_eq!(
        changes(&h["/d"]),
        [("new", 1), ("gone", 2), ("unchanged", 2)]
    );
    assert_eq!(changes(&h["/c"]).last(), Some(&("unchanged", 2)));
    assert_eq!(changes(&h["/new"]), [("new", 1), ("unchanged", 1)]);
    let round = store.round().unwrap().unwrap();
    assert_eq!(
        (round.number, round.tally.queued, round.tally.checked),
        (2, 6, 6)
    );
    assert_eq!(
        store.counters().unwrap(),
        politecrawl::frontier::recount(&store).unwrap()
    );
    assert_tallies_true(&store);
}

/// A crawl of the site, then one recrawl a second later (on a manual clock) after /c changed
/// and /d went away: the recrawl's captures are of a later second than the crawl's (WARC replay
/// tools tell captures apart by 14-digit timestamps).
fn crawled_and_recrawled(dir: &std::path::Path) -> (SiteServer, std::path::PathBuf) {
    let state = Arc::new(Mutex::new(Site::default()));
    let server = site(Arc::clone(&state));
    let db = dir.join("db");
    let mut config = fast_config(&db, &format!("{}/", server.origin()));
    config.clock = Clock::manual();
    drop(crawl(&config));
    config.clock.advance(Duration::from_secs(1));
    *state.lock().unwrap() = Site {
        c_edition: 2,
        d_gone: true,
    };
    config.recrawl = true;
    config.older_than = Duration::ZERO;
    drop(crawl(&config));
    (server, db)
}

/// (WARC-Type, target path, WARC-Profile's last part, Refers-To-Date given, payload digest) of
/// every record but the warcinfo, via warcio.
fn warc_records(
    file: &std::path::Path,
    origin: &str,
) -> Vec<(String, String, String, bool, String)> {
    let script = r#"
import sys
from warcio.archiveiterator import ArchiveIterator
with open(sys.argv[1], 'rb') as f:
    for rec in ArchiveIterator(f):
        h = rec.rec_headers
        if rec.rec_type in ('response', 'revisit'):
            print(rec.rec_type, h.get_header('WARC-Target-URI'),
                  (h.get_header('WARC-Profile') or '-').rsplit('/', 1)[-1],
                  h.get_header('WARC-Refers-To-Date') is not None,
                  h.get_header('WARC-Payload-Digest'))
"#;
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut v: Vec<_> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let p: Vec<&str> = l.split(' ').collect();
            (
                p[0].to_string(),
                p[1][origin.len()..].to_string(),
                p[2].to_string(),
                p[3] == "True",
                p[4].to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn exports_write_the_latest_versions_or_all_of_them_with_revisit_records() {
    let _shared = crate::support::shared();
    let dir = tempdir();
    let (server, db) = crawled_and_recrawled(dir.path());
    let origin = server.origin();
    let db_arg = db.to_str().unwrap();
    let jsonl = |versions: &str| -> Vec<serde_json::Value> {
        let out = crate::export::export(
            dir.path(),
            &["--db", db_arg, "--format", "jsonl", "--versions", versions],
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let summary = |lines: &[serde_json::Value]| -> Vec<(String, u64, String)> {
        let mut v: Vec<_> = lines
            .iter()
            .map(|l| {
                (
                    l["url"].as_str().unwrap()[origin.len()..].to_string(),
                    l["version"].as_u64().unwrap(),
                    l["change"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        v.sort();
        v
    };
    // status: the round's counts, for the crawl and for the origin.
    let out = crate::support::run(&["status", "--db", db_arg, "--json"], dir.path());
    assert!(out.status.success(), "{}", crate::support::stderr(&out));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let r = &status["recrawl"];
    let counts = |t: &serde_json::Value| -> Vec<u64> {
        [
            "queued",
            "checked",
            "not_modified",
            "unchanged",
            "changed",
            "gone",
            "failed",
            "new",
        ]
        .iter()
        .map(|k| t[k].as_u64().unwrap())
        .collect()
    };
    assert_eq!(
        (r["round"].as_u64(), r["left"].as_u64()),
        (Some(1), Some(0)),
        "{r}"
    );
    assert_eq!(counts(r), [5, 5, 2, 1, 1, 1, 0, 1]);
    assert_eq!(counts(&r["by_origin"][&origin]), [5, 5, 2, 1, 1, 1, 0, 1]);
    assert_eq!(
        (status["done"].as_u64(), status["failed"].as_u64()),
        (Some(5), Some(1))
    );
    let out = crate::support::run(&["status", "--db", db_arg], dir.path());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "5 of 5 checked (2 not modified, 1 unchanged, 1 changed, 1 gone, 0 failed), 1 new"
        ),
        "{text}"
    );

    let latest = jsonl("latest");
    let s = |p: &str, n: u64, c: &str| (p.to_string(), n, c.to_string());
    assert_eq!(
        summary(&latest),
        [
            s("/", 1, "new"),
            s("/a", 1, "new"),
            s("/b", 1, "new"),
            s("/c", 2, "changed"),
            s("/d", 2, "gone"),
            s("/new", 1, "new")
        ]
    );
    let c = latest
        .iter()
        .find(|l| l["url"].as_str().unwrap().ends_with("/c"))
        .unwrap();
    assert!(c["body"].as_str().unwrap().contains("edition 2"), "{c}");
    assert_eq!(
        summary(&jsonl("all")).len(),
        11,
        "five first captures, five checks, /new"
    );

    // WARC: every version a response, the unchanged and not-modified checks revisits.
    let warc = dir.path().join("all.warc.gz");
    crate::export::export(
        dir.path(),
        &[
            "--db",
            db_arg,
            "--format",
            "warc",
            "--versions",
            "all",
            "--out",
            warc.to_str().unwrap(),
        ],
    );
    crate::export::warcio(&["check", warc.to_str().unwrap()]);
    let records = warc_records(&warc, &origin);
    let kinds: Vec<(&str, &str, &str)> = records
        .iter()
        .map(|(t, p, prof, _, _)| (t.as_str(), p.as_str(), prof.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("response", "/", "-"),
            ("response", "/a", "-"),
            ("response", "/b", "-"),
            ("response", "/c", "-"),
            ("response", "/c", "-"),
            ("response", "/d", "-"),
            ("response", "/d", "-"),
            ("response", "/new", "-"),
            ("revisit", "/", "server-not-modified"),
            ("revisit", "/a", "server-not-modified"),
            ("revisit", "/b", "identical-payload-digest"),
        ]
    );
    // A revisit names the capture it refers to by date, and /b's its payload's digest.
    assert!(records.iter().filter(|r| r.0 == "revisit").all(|r| r.3));
    let b_response = &records
        .iter()
        .find(|r| r.0 == "response" && r.1 == "/b")
        .unwrap()
        .4;
    let b_revisit = &records
        .iter()
        .find(|r| r.0 == "revisit" && r.1 == "/b")
        .unwrap()
        .4;
    assert_eq!(b_response, b_revisit);

    // The latest WARC holds each URL's current content only.
    let warc = dir.path().join("latest.warc.gz");
    crate::export::export(
        dir.path(),
        &[
            "--db",
            db_arg,
            "--format",
            "warc",
            "--out",
            warc.to_str().unwrap(),
        ],
    );
    let records = warc_records(&warc, &origin);
    assert_eq!(records.len(), 6);
    assert!(records.iter().all(|r| r.0 == "response"));
}

/// pywb's `wayback` on a collection of one WARC file, stopped when dropped.
pub(super) struct Wayback {
    child: std::process::Child,
    port: u16,
}

impl Drop for Wayback {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Wayback {
    fn start(root: &std::path::Path, warc: &std::path::Path) -> Wayback {
        Wayback::init(root);
        Wayback::manager(root, &["add", "coll", warc.to_str().unwrap()]);
        Wayback::serve(root)
    }

    /// Makes the collection `coll` under `root` (its `archive/` and `indexes/` folders empty).
    pub(super) fn init(root: &std::path::Path) -> std::path::PathBuf {
        Wayback::manager(root, &["init", "coll"]);
        root.join("collections").join("coll")
    }

    pub(super) fn manager(root: &std::path::Path, args: &[&str]) {
        let out = std::process::Command::new("wb-manager")
            .args(args)
            .current_dir(root)
            .output()
            .expect("pywb's wb-manager (pip install pywb; .ci/run installs it)");
        assert!(
            out.status.success(),
            "wb-manager {args:?}: {}",
            crate::support::stderr(&out)
        );
    }

    /// Serves the collections under `root` (made with [`Wayback::init`]).
    pub(super) fn serve(root: &std::path::Path) -> Wayback {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new("wayback")
            .args(["-b", "127.0.0.1", "-p", &port.to_string()])
            .current_dir(root)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("pywb's wayback");
        let wayback = Wayback { child, port };
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "wayback did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        wayback
    }

    /// (status, body) of a GET on the replay server.
    pub(super) fn get(&self, path: &str) -> (u16, String) {
        let (status, body) = self.get_bytes(path);
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    /// (status, body bytes) of a GET on the replay server.
    pub(super) fn get_bytes(&self, path: &str) -> (u16, Vec<u8>) {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        let end = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(raw.len(), |i| i + 4);
        let head = String::from_utf8_lossy(&raw[..end]).into_owned();
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (status, raw[end..].to_vec())
    }
}

#[test]
fn pywb_replays_every_version_from_a_versions_all_warc() {
    let _shared = crate::support::shared();
    let dir = tempdir();
    let (server, db) = crawled_and_recrawled(dir.path());
    let origin = server.origin();
    let warc = dir.path().join("all.warc.gz");
    crate::export::export(
        dir.path(),
        &[
            "--db",
            db.to_str().unwrap(),
            "--format",
            "warc",
            "--versions",
            "all",
            "--out",
            warc.to_str().unwrap(),
        ],
    );
    let wayback = Wayback::start(dir.path(), &warc);
    // The captures of each URL, oldest first, from pywb's own index.
    let captures = |path: &str| -> Vec<(String, String)> {
        let (status, body) = wayback.get(&format!("/coll/cdx?url={origin}{path}&output=json"));
        assert_eq!(status, 200, "{body}");
        body.lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (
                    v["timestamp"].as_str().unwrap().to_string(),
                    v["mime"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let replay = |ts: &str, path: &str| wayback.get(&format!("/coll/{ts}id_/{origin}{path}"));
    let c = captures("/c");
    assert_eq!(c.len(), 2, "{c:?}");
    assert_ne!(c[0].0, c[1].0, "two moments");
    assert_eq!(
        replay(&c[0].0, "/c"),
        (200, "<p>c, first edition</p>".into())
    );
    assert_eq!(
        replay(&c[1].0, "/c"),
        (200, r#"<p>c, edition 2</p><a href="/new">new</a>"#.into())
    );
    // The unchanged check of /b is a revisit whose payload pywb takes from the first capture.
    let b = captures("/b");
    assert_eq!(
        b.iter().map(|(_, m)| m.as_str()).collect::<Vec<_>>(),
        ["text/html", "warc/revisit"]
    );
    assert_eq!(
        replay(&b[1].0, "/b"),
        (200, "<p>b, always the same</p>".into())
    );
    // /d: its page, then its 404.
    let d = captures("/d");
    assert_eq!(replay(&d[0].0, "/d"), (200, "<p>d</p>".into()));
    assert_eq!(replay(&d[1].0, "/d"), (404, "gone".into()));
}

/// Pages `/n/0` … like [`crate::support::generated`]'s; after `changed` is set, every third page
/// serves a new edition; the next third honour their ETag (304), the rest ignore it.
fn editions(n: usize, changed: Arc<std::sync::atomic::AtomicBool>) -> Route {
    Arc::new(move |r: &Request| {
        let path = r.path();
        if path == "/robots.txt" {
            return Some(Reply::new(404, "text/plain", ""));
        }
        let i: usize = match path {
            "/" => return Some(Reply::html(r#"<a href="/n/0">start</a>"#)),
            p => p.strip_prefix("/n/")?.parse().ok().filter(|i| *i < n)?,
        };
        std::thread::sleep(Duration::from_millis(1));
        let etag = format!("\"e{i}\"");
        if i % 3 == 1 && header(r, "if-none-match") == Some(etag.as_str()) {
            return Some(Reply::new(304, "text/html", "").header("etag", &etag));
        }
        let links = [(i + 1) % n, (i * 7 + 3) % n];
        let mut html: String = links
            .iter()
            .map(|j| format!(r#"<a href="/n/{j}">{j}</a>"#))
            .collect();
        let edition = changed.load(std::sync::atomic::Ordering::SeqCst) && i % 3 == 0;
        html.push_str(if edition { "edition 2" } else { "edition 1" });
        Some(Reply::html(html).header("etag", &etag))
    })
}

/// Whether the database's latest round is finished (opened between runs, when no process
/// holds it).
fn round_done(db: &std::path::Path) -> bool {
    let store = Store::open(db, politecrawl::OpenMode::Existing).unwrap();
    store.round().unwrap().is_some_and(|r| !r.unfinished())
}

#[test]
fn a_recrawl_killed_at_random_points_loses_no_check_and_stores_none_twice() {
    let _timing = crate::support::shared();
    const PAGES: usize = 300;
    let seed = std::env::var("POLITECRAWL_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    let mut rng = fastrand::Rng::with_seed(seed);
    let changed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let server = route_server(editions(PAGES, Arc::clone(&changed)));
    let origin = server.origin();
    let dir = tempdir();
    let db = dir.path().join("kill.db");
    let mut config = fast_config(&db, &format!("{origin}/"));
    config.concurrency = 8;
    config.per_host_concurrency = 8;
    let (first, store) = crawl(&config);
    assert_eq!(first.run.stored as usize, PAGES + 1);
    drop(store);
    changed.store(true, std::sync::atomic::Ordering::SeqCst);

    let pages = || crate::support::page_requests(&server).len();
    let start = pages();
    let mut kills = 0;
    for run in 0.. {
        assert!(run < 200, "seed {seed}: the recrawl never finished");
        if run > 0 && round_done(&db) {
            // The kill came after the round's last check was stored, while the run was
            // closing. The saved --recrawl --older-than 0s would plan the next round at once.
            break;
        }
        let mut cmd = std::process::Command::new(crate::support::BIN);
        cmd.args([
            "crawl",
            "--db",
            "kill.db",
            "--recrawl",
            "--older-than",
            "0s",
        ])
        .current_dir(dir.path())
        .env("POLITECRAWL_RECHECK_BATCH", "40")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
        if run == 0 {
            // The first run dies in the middle of planning, after its third batch.
            cmd.env("POLITECRAWL_CRASH_AT", "recheck-batch-queued:3");
        }
        let mut child = cmd.spawn().unwrap();
        if run == 0 {
            assert!(
                !child.wait().unwrap().success(),
                "seed {seed}: the crash point"
            );
            assert_eq!(pages(), start, "seed {seed}: planning sends no request");
            kills += 1;
            continue;
        }
        let target = pages() + rng.usize(3..=30);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let mut finished = false;
        while pages() < target {
            if child.try_wait().unwrap().is_some() {
                finished = true;
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "seed {seed}: no progress"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        if finished {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "seed {seed}: {}",
                crate::support::stderr(&out)
            );
            break;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
    }
    assert!(kills >= 5, "seed {seed}: only {kills} kills");

    let store = Store::open(&db, politecrawl::OpenMode::Existing).unwrap();
    let h = history(&store, &origin);
    assert_eq!(h.len(), PAGES + 1, "seed {seed}");
    for (path, records) in &h {
        let i: Option<usize> = path.strip_prefix("/n/").and_then(|i| i.parse().ok());
        let want = match i.map(|i| i % 3) {
            Some(0) => ("changed", 2),
            Some(1) => ("not_modified", 1),
            _ => ("unchanged", 1),
        };
        assert_eq!(
            changes(records),
            [("new", 1), want],
            "seed {seed}: {path}, once each"
        );
    }
    let round = store.round().unwrap().unwrap();
    let t = round.tally;
    let n = PAGES as u64 + 1;
    assert_eq!(
        (round.number, t.queued, t.checked, t.left()),
        (1, n, n, 0),
        "seed {seed}"
    );
    assert_eq!(
        (t.changed, t.not_modified, t.unchanged, t.new),
        (100, 100, n - 200, 0),
        "seed {seed}"
    );
    assert_eq!(
        store.counters().unwrap(),
        politecrawl::frontier::recount(&store).unwrap(),
        "seed {seed}"
    );
    assert_tallies_true(&store);
    // A kill costs at most the rechecks in flight and those not yet flushed.
    let rechecks = pages() - start;
    assert!(
        rechecks > PAGES && rechecks <= PAGES + 1 + kills * 40,
        "seed {seed}: {rechecks} requests for {} rechecks over {kills} kills",
        PAGES + 1
    );
    eprintln!("recrawl kill test: seed {seed}, {kills} kills, {rechecks} requests");
}

#[test]
fn adaptive_refresh_brings_changed_pages_back_sooner_than_unchanged_ones() {
    let _shared = crate::support::shared();
    let state = Arc::new(Mutex::new(Site::default()));
    let server = site(Arc::clone(&state));
    let origin = server.origin();
    let dir = tempdir();
    let mut config = fast_config(&dir.path().join("db"), &format!("{origin}/"));
    config.recrawl = true;
    config.refresh = politecrawl::recrawl::Refresh::Adaptive;
    config.older_than = Duration::from_secs(2);
    // The pages must be older than --older-than: a manual clock moves on between the runs.
    config.clock = Clock::manual();
    drop(crawl(&config)); // the first crawl: nothing stored yet, nothing due
    *state.lock().unwrap() = Site {
        c_edition: 2,
        d_gone: true,
    };
    config.clock.advance(Duration::from_secs(2)); // exactly --older-than: all due
    let (_, store) = crawl(&config);
    let h = history(&store, &origin);
    let interval = |p: &str| h[p].last().unwrap().version.as_ref().unwrap().interval_s;
    // 2 s × 0.8 after a change, × 1.4 without one (whole seconds).
    assert_eq!((interval("/c"), interval("/d")), (Some(2), Some(2)));
    assert_eq!(
        (interval("/"), interval("/a"), interval("/b")),
        (Some(3), Some(3), Some(3))
    );
    drop(store);

    // 2 s on: the changed pages' 2 s are over, not the others' 3 s.
    config.clock.advance(Duration::from_secs(2));
    let before = server.requests().len();
    let (_, store) = crawl(&config);
    let mut asked: Vec<String> = server.requests()[before..]
        .iter()
        .filter(|r| r.path() != "/robots.txt")
        .map(|r| r.target.clone())
        .collect();
    asked.sort();
    assert_eq!(
        asked,
        ["/c", "/d", "/new"],
        "the changed pages and the new one, not the rest"
    );
    assert_eq!(store.round().unwrap().unwrap().number, 2);
}
