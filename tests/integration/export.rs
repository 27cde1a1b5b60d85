//! Exports read back with the tools people use: warcio for WARC (check, index, and the bodies
//! compared with the store), a CSV reader for CSV; filters on every format.

use std::path::Path;
use std::process::Command;

use politecrawl::store::UrlState;
use sha1::{Digest, Sha1};

use crate::support::*;

/// A crawl of the fixture site with a small --max-body, so some bodies are truncated.
fn crawled(dir: &Path) -> (politecrawl::serve::SiteServer, std::path::PathBuf) {
    let server = fixture_server();
    let db = dir.join("site.db");
    let mut config = fast_config(&db, &format!("{}/", server.origin()));
    config.max_body = 600;
    let (_, store) = crawl(&config);
    assert!(
        store.pages().any(|r| r.unwrap().truncated),
        "some bodies are cut"
    );
    (server, db)
}

pub(super) fn export(dir: &Path, args: &[&str]) -> std::process::Output {
    let out = run(&[&["export"], args].concat(), dir);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    out
}

pub(super) fn warcio(args: &[&str]) -> String {
    let out = Command::new("python3")
        .args(["-m", "warcio.cli"])
        .args(args)
        .output()
        .expect("python3 with warcio (pip install warcio; .ci/run installs it)");
    assert!(
        out.status.success(),
        "warcio {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// (target URI, sha1 hex of the payload, WARC-Truncated) of every response record, via warcio.
pub(super) fn warcio_responses(files: &[std::path::PathBuf]) -> Vec<(String, String, bool)> {
    let script = r#"
import sys, hashlib
from warcio.archiveiterator import ArchiveIterator
for path in sys.argv[1:]:
    with open(path, 'rb') as f:
        for rec in ArchiveIterator(f):
            if rec.rec_type == 'response':
                body = rec.content_stream().read()
                print(rec.rec_headers.get_header('WARC-Target-URI'), hashlib.sha1(body).hexdigest(),
                      rec.rec_headers.get_header('WARC-Truncated') == 'length')
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let mut p = l.split(' ');
            (
                p.next().unwrap().to_string(),
                p.next().unwrap().to_string(),
                p.next() == Some("True"),
            )
        })
        .collect()
}

/// (URL, sha1 hex of the body, truncated) of every stored response a WARC holds as a response
/// record: all but the duplicates of another page's content, which are revisits.
pub(super) fn store_responses(db: &Path) -> Vec<(String, String, bool)> {
    let store = politecrawl::Store::open(db, politecrawl::OpenMode::Existing).unwrap();
    let mut v: Vec<_> = store
        .pages()
        .map(|r| r.unwrap())
        .filter(|r| r.status.is_some() && !is_content_copy(r))
        .map(|r| {
            let body = store.find_body(&r.url).unwrap().unwrap_or_default();
            let hex: String = Sha1::digest(&body)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            (r.url, hex, r.truncated)
        })
        .collect();
    v.sort();
    v
}

fn is_content_copy(r: &politecrawl::store::PageRecord) -> bool {
    r.duplicate
        .as_ref()
        .is_some_and(|d| d.kind == politecrawl::store::DuplicateKind::Content)
}

#[test]
fn warc_export_passes_warcio_and_holds_the_stored_bodies() {
    let _timing = shared();
    let dir = tempdir();
    let (server, db) = crawled(dir.path());
    let file = dir.path().join("site.warc.gz");
    export(
        dir.path(),
        &[
            "--db",
            "site.db",
            "--format",
            "warc",
            "--out",
            file.to_str().unwrap(),
        ],
    );
    warcio(&["check", "-v", file.to_str().unwrap()]);
    let index = warcio(&[
        "index",
        "-f",
        "warc-type,warc-target-uri",
        file.to_str().unwrap(),
    ]);
    let want = store_responses(&db);
    let types: Vec<String> = index
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["warc-type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(types[0], "warcinfo");
    assert_eq!(types.iter().filter(|t| *t == "request").count(), want.len());
    assert_eq!(
        types.iter().filter(|t| *t == "response").count(),
        want.len()
    );
    // The fixture site answers some URLs with another's bytes (`/list.html?page=2`).
    let store = politecrawl::Store::open(&db, politecrawl::OpenMode::Existing).unwrap();
    let copies = store
        .pages()
        .filter(|r| is_content_copy(r.as_ref().unwrap()))
        .count();
    drop(store);
    assert!(copies > 0);
    assert_eq!(types.iter().filter(|t| *t == "revisit").count(), copies);

    let mut got = warcio_responses(&[file]);
    got.sort();
    assert_eq!(
        got, want,
        "every response, with the stored body and truncation mark"
    );
    let origin = server.origin();
    assert!(
        got.iter().any(|(u, _, _)| *u == format!("{origin}/docs")),
        "redirects are records"
    );
    assert!(
        got.iter().any(|(u, _, _)| u.ends_with(".png")),
        "binary bodies too"
    );
}

#[test]
fn warc_export_splits_at_max_file_size() {
    let _timing = shared();
    let dir = tempdir();
    let (_server, db) = crawled(dir.path());
    let out = dir.path().join("part.warc.gz");
    export(
        dir.path(),
        &[
            "--db",
            "site.db",
            "--format",
            "warc",
            "--out",
            out.to_str().unwrap(),
            "--max-file-size",
            "8KB",
        ],
    );
    let mut files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".warc.gz"))
        .collect();
    files.sort();
    assert!(files.len() > 2, "{files:?}");
    assert!(files[0].ends_with("part-00000.warc.gz"));
    for f in &files {
        warcio(&["check", f.to_str().unwrap()]);
    }
    let mut got = warcio_responses(&files);
    got.sort();
    assert_eq!(got, store_responses(&db));
}

#[test]
fn csv_export_parses_and_matches_the_store_and_filters_apply() {
    let _timing = shared();
    let dir = tempdir();
    let (_server, db) = crawled(dir.path());
    let out = export(dir.path(), &["--db", "site.db", "--format", "csv"]);
    let mut reader = csv::Reader::from_reader(&out.stdout[..]);
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        politecrawl::export::csv::COLUMNS
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    let store = politecrawl::Store::open(&db, politecrawl::OpenMode::Existing).unwrap();
    let records: Vec<_> = store.pages().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), records.len());
    let col = |name: &str| {
        let columns = politecrawl::export::csv::COLUMNS;
        columns.iter().position(|c| *c == name).unwrap()
    };
    for (row, rec) in rows.iter().zip(&records) {
        assert_eq!(&row[col("url")], rec.url);
        assert_eq!(&row[col("state")], rec.state.as_str());
        assert_eq!(row[col("status")].parse::<u16>().ok(), rec.status);
        let version = rec.status.map(|_| "HTTP/1.1").unwrap_or("");
        assert_eq!(&row[col("http_version")], version, "{}", rec.url);
        assert_eq!(row[col("bytes")].parse::<u64>().unwrap(), rec.body_len);
        let kind = rec.error.as_ref().map_or("", |e| e.kind.as_str());
        assert_eq!(&row[col("error_kind")], kind);
    }
    drop(store);

    let count = |args: &[&str]| -> usize {
        let mut all = vec!["--db", "site.db", "--format", "csv"];
        all.extend_from_slice(args);
        let out = export(dir.path(), &all);
        csv::Reader::from_reader(&out.stdout[..]).records().count()
    };
    let n404 = records.iter().filter(|r| r.status == Some(404)).count();
    assert!(n404 > 0);
    assert_eq!(count(&["--status", "404"]), n404);
    assert_eq!(
        count(&["--state", "failed"]),
        records
            .iter()
            .filter(|r| r.state == UrlState::Failed)
            .count()
    );
    assert_eq!(
        count(&["--content-type", "image/"]),
        records
            .iter()
            .filter(|r| r
                .content_type
                .as_deref()
                .is_some_and(|c| c.starts_with("image/")))
            .count()
    );
    assert_eq!(count(&["--host", "nowhere.test"]), 0);
    assert_eq!(
        count(&["--status", "200", "--content-type", "text/html"]),
        records
            .iter()
            .filter(|r| r.status == Some(200)
                && r.content_type
                    .as_deref()
                    .is_some_and(|c| c.starts_with("text/html")))
            .count()
    );
    // Filters apply to JSON Lines too.
    let out = export(dir.path(), &["--db", "site.db", "--status", "404"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), n404);
}

/// Every relative link of every mirrored HTML file, as (file, decoded target path).
fn local_links(root: &Path) -> Vec<(std::path::PathBuf, std::path::PathBuf)> {
    let sel = scraper::Selector::parse(
        "a[href], link[href], area[href], iframe[src], frame[src], img[src]",
    )
    .unwrap();
    let mut out = Vec::new();
    for p in files_under(root) {
        if !p.to_string_lossy().ends_with(".html") {
            continue;
        }
        let html = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned();
        let doc = scraper::Html::parse_document(&html);
        for el in doc.select(&sel) {
            let v = el.value().attr("href").or(el.value().attr("src")).unwrap();
            if v.contains(':') || v.starts_with('#') || v.starts_with('/') || v.is_empty() {
                continue;
            }
            let v = v.split('#').next().unwrap();
            let decoded = percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned();
            out.push((p.clone(), p.parent().unwrap().join(decoded)));
        }
    }
    out
}

#[test]
fn mirror_links_resolve_to_files_that_exist() {
    let _timing = shared();
    let dir = tempdir();
    let server = fixture_server();
    let db = dir.path().join("site.db");
    crawl(&fast_config(&db, &format!("{}/", server.origin())));
    export(
        dir.path(),
        &["--db", "site.db", "--format", "mirror", "--out", "mirror"],
    );
    let root = dir.path().join("mirror");
    let host = server
        .origin()
        .trim_start_matches("http://")
        .replace(':', "+");
    assert!(root.join(&host).join("index.html").is_file());
    assert!(root.join(&host).join("docs/index.html").is_file());
    assert!(root.join(&host).join("files/logo.png").is_file());
    let links = local_links(&root);
    assert!(
        links.len() > 100,
        "pages link to each other locally ({})",
        links.len()
    );
    let broken: Vec<_> = links.iter().filter(|(_, t)| !t.is_file()).collect();
    assert!(broken.is_empty(), "links to missing files: {broken:?}");
    // A link to a page that was not stored (404) stays absolute.
    let home = std::fs::read_to_string(root.join(&host).join("index.html")).unwrap();
    assert!(
        home.contains(&format!("{}/missing.html", server.origin())),
        "{home}"
    );
}

#[test]
fn a_mirror_of_a_crawl_with_requisites_shows_its_images_offline() {
    let _timing = shared();
    let dir = tempdir();
    let server = fixture_server();
    let db = dir.path().join("site.db");
    let mut config = fast_config(&db, &format!("{}/", server.origin()));
    config.requisites = true;
    crawl(&config);
    export(
        dir.path(),
        &["--db", "site.db", "--format", "mirror", "--out", "mirror"],
    );
    let host = server
        .origin()
        .trim_start_matches("http://")
        .replace(':', "+");
    let site = dir.path().join("mirror").join(host);
    let page = std::fs::read_to_string(site.join("noscript.html")).unwrap();
    let doc = scraper::Html::parse_document(&page);
    let img = doc
        .select(&scraper::Selector::parse("img").unwrap())
        .next()
        .expect("the image");
    // src and every srcset candidate point at files of the mirror, relative to the page.
    let src = img.value().attr("src").unwrap();
    assert_eq!(src, "images/worldmap.png");
    let srcset = img.value().attr("srcset").unwrap();
    assert_eq!(srcset, "images/worldmap.png 1x, files/logo.png 2x");
    for local in [
        "images/worldmap.png",
        "files/logo.png",
        "style.css",
        "favicon.png",
    ] {
        assert!(site.join(local).is_file(), "{local} is in the mirror");
    }
    let home = std::fs::read_to_string(site.join("index.html")).unwrap();
    assert!(
        home.contains(r#"href="style.css""#),
        "the stylesheet is local: {home}"
    );
}

#[test]
fn mirror_never_writes_outside_its_directory() {
    let _timing = shared();
    let long = "n".repeat(600);
    let tricky = [
        "/a%2F..%2F..%2F..%2Fescape.html".to_string(),
        "/..%5C..%5Cescape2.html".to_string(),
        "/%2e%2e/%2e%2e/escape3.html".to_string(),
        "/x/%00/nul.html".to_string(),
        format!("/{long}.html"),
        "//etc/passwd".to_string(),
    ];
    let links: String = tricky
        .iter()
        .map(|t| format!(r#"<a href="{t}">t</a>"#))
        .collect();
    let server = route_server(std::sync::Arc::new(move |r| match r.path() {
        "/" => Some(politecrawl::serve::Reply::html(links.clone())),
        "/robots.txt" => None,
        _ => Some(politecrawl::serve::Reply::html("<p>x</p>")),
    }));
    let dir = tempdir();
    let db = dir.path().join("t.db");
    let (_, store) = crawl(&fast_config(&db, &format!("{}/", server.origin())));
    assert!(store.pages().count() >= 6);
    drop(store);
    let jail = dir.path().join("jail");
    std::fs::create_dir(&jail).unwrap();
    export(
        dir.path(),
        &["--db", "t.db", "--format", "mirror", "--out", "jail/mirror"],
    );
    // Nothing appeared beside the mirror, nor beside the temp dir's entries.
    let beside: Vec<_> = std::fs::read_dir(&jail)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(beside, ["mirror"]);
    let mut top: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    top.sort();
    assert_eq!(top, ["jail", "t.db"]);
    let root = jail.join("mirror").canonicalize().unwrap();
    let files = files_under(&root);
    for p in &files {
        assert!(
            p.canonicalize().unwrap().starts_with(&root),
            "{}",
            p.display()
        );
        let rel = p.strip_prefix(&root).unwrap();
        assert!(
            rel.components().all(|c| c.as_os_str().len() <= 255),
            "{}",
            p.display()
        );
    }
    let files = files.len();
    assert!(
        files >= 6,
        "every page was written somewhere inside ({files})"
    );
}

#[test]
fn a_running_crawl_exports_what_it_flushed_and_since_pulls_exactly_the_rest() {
    let _timing = shared();
    use std::process::Stdio;
    const PAGES: usize = 200;
    let server = super::support::route_server(std::sync::Arc::new(super::support::generated(
        PAGES,
        std::time::Duration::from_millis(15),
        800,
    )));
    let dir = tempdir();
    let d = dir.path();
    let seed = format!("{}/", server.origin());
    let mut child = Command::new(super::support::BIN)
        .args([
            "crawl",
            &seed,
            "--db",
            "run.db",
            "--rate",
            "0",
            "--concurrency",
            "2",
        ])
        .arg("--no-progress")
        .current_dir(d)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while super::support::page_requests(&server).len() < 60 {
        assert!(std::time::Instant::now() < deadline, "no progress");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let urls = |out: &std::process::Output| -> Vec<String> {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["url"].as_str().unwrap().to_string()
            })
            .collect()
    };
    let first = export(d, &["--db", "run.db"]);
    let err = String::from_utf8_lossy(&first.stderr).into_owned();
    assert!(err.contains("a crawl is running on"), "{err}");
    assert!(
        child.try_wait().unwrap().is_none(),
        "still running during the export"
    );
    let since = err
        .split("--since ")
        .nth(1)
        .expect("the export says where the next increment starts")
        .trim()
        .to_string();
    let first = urls(&first);
    assert!(!first.is_empty() && first.len() < PAGES, "{}", first.len());
    assert!(child.wait().unwrap().success());

    let rest = export(d, &["--db", "run.db", "--since", &since]);
    let rest = urls(&rest);
    let all = urls(&export(d, &["--db", "run.db"]));
    assert_eq!(all.len(), PAGES + 1);
    let mut joined: Vec<String> = first.iter().chain(&rest).cloned().collect();
    let n = joined.len();
    joined.sort();
    joined.dedup();
    assert_eq!(joined.len(), n, "no record in both parts");
    let mut all_sorted = all.clone();
    all_sorted.sort();
    assert_eq!(joined, all_sorted, "the two parts are the whole export");
    assert_eq!(
        first,
        all[..first.len()],
        "the first part is a prefix, in stored order"
    );
}

#[test]
fn warc_records_name_the_address_the_response_came_from() {
    // Seeded by name: the address in the records is the one curl connected to, not the URL's.
    let server = route_server(std::sync::Arc::new(|r: &politecrawl::serve::Request| {
        Some(match r.path() {
            "/" => politecrawl::serve::Reply::html(r#"<a href="/a">a</a>"#),
            "/a" => politecrawl::serve::Reply::html("<p>a</p>"),
            _ => politecrawl::serve::Reply::new(404, "text/plain", "no"),
        })
    }));
    let dir = tempdir();
    let db = dir.path().join("ip.db");
    let port = server.addr().port();
    crawl(&fast_config(&db, &format!("http://localhost:{port}/")));
    let warc = dir.path().join("ip.warc.gz");
    export(
        dir.path(),
        &[
            "--db",
            db.to_str().unwrap(),
            "--format",
            "warc",
            "--out",
            warc.to_str().unwrap(),
        ],
    );
    let script = r#"
import sys
from warcio.archiveiterator import ArchiveIterator
for rec in ArchiveIterator(open(sys.argv[1], 'rb')):
    if rec.rec_type in ('request', 'response'):
        print(rec.rec_type, rec.rec_headers.get_header('WARC-Target-URI'),
              rec.rec_headers.get_header('WARC-IP-Address'))
"#;
    let out = Command::new("python3")
        .args(["-c", script, warc.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let pages = server
        .requests()
        .iter()
        .filter(|r| r.path() != "/robots.txt")
        .count();
    assert_eq!(lines.len(), 2 * pages, "{lines:?}");
    for l in &lines {
        assert!(l.ends_with(" 127.0.0.1"), "{l}");
        assert!(l.contains(&format!("http://localhost:{port}/")), "{l}");
    }
    // JSON Lines says it too.
    let out = export(
        dir.path(),
        &["--db", db.to_str().unwrap(), "--fields", "ip,status"],
    );
    for l in String::from_utf8(out.stdout).unwrap().lines() {
        assert!(l.contains(r#""ip":"127.0.0.1""#), "{l}");
    }
}
