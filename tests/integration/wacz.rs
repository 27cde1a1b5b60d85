//! `export --format wacz` and `--format cdxj`, checked by the archivists' own tools: `wacz
//! validate` (Webrecorder's py-wacz) accepts the package, its index is byte for byte what
//! `cdxj-indexer` makes of its WARC, its pages list holds the HTML pages with their titles, and
//! pywb, serving the package's own WARC and index, replays every page byte-identical to the
//! stored body; and ReplayWeb.page in headless Chromium shows a crawled page from it (a
//! screenshot is left in the target directory's `tmp/replayweb-about.png`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::recrawl::Wayback;
use crate::support::*;

/// The fixture site crawled into `dir` (redirects, 404s, gzip, charsets, a sitemap).
fn crawled(dir: &Path) -> (politecrawl::serve::SiteServer, PathBuf) {
    let server = fixture_server();
    let db = dir.join("site.db");
    crawl(&fast_config(&db, &format!("{}/", server.origin())));
    (server, db)
}

fn python(script: &str, args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3");
    assert!(out.status.success(), "{script}: {}", stderr(&out));
    String::from_utf8(out.stdout).unwrap()
}

/// The entries of a ZIP file: (name, stored uncompressed, bytes), via Python's zipfile.
fn unzip(wacz: &Path, to: &Path) -> Vec<(String, bool)> {
    let script = r#"
import sys, zipfile, os
z = zipfile.ZipFile(sys.argv[1])
for i in z.infolist():
    print(i.filename, i.compress_type == zipfile.ZIP_STORED)
    p = os.path.join(sys.argv[2], i.filename)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    open(p, 'wb').write(z.read(i))
"#;
    python(script, &[wacz.to_str().unwrap(), to.to_str().unwrap()])
        .lines()
        .map(|l| {
            let (name, stored) = l.split_once(' ').unwrap();
            (name.to_string(), stored == "True")
        })
        .collect()
}

/// `ours` is line for line `theirs` (the first difference shown, not the whole index).
fn same_index(ours: &str, theirs: &str) {
    let diff = ours.lines().zip(theirs.lines()).find(|(a, b)| a != b);
    assert_eq!(
        diff, None,
        "the first line that differs (ours, cdxj-indexer's)"
    );
    assert_eq!(ours.lines().count(), theirs.lines().count());
    assert_eq!(ours, theirs);
}

/// What `cdxj-indexer --sort` (the indexer `wacz create` uses) writes for `warc`.
fn cdxj_indexer(warc: &Path) -> String {
    let out = Command::new("cdxj-indexer")
        .arg("--sort")
        .arg(warc)
        .output()
        .expect("cdxj-indexer (it comes with pip install wacz; .ci/run installs it)");
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_wacz_export_passes_wacz_validate_and_pywb_replays_its_pages() {
    let _shared = shared();
    let dir = tempdir();
    let (server, db) = crawled(dir.path());
    let origin = server.origin();
    let wacz = dir.path().join("crawl.wacz");
    crate::export::export(
        dir.path(),
        &[
            "--db",
            db.to_str().unwrap(),
            "--format",
            "wacz",
            "--out",
            wacz.to_str().unwrap(),
        ],
    );

    // Webrecorder's validator: contents, Frictionless datapackage, paths, sha256 of each file,
    // the datapackage's digest.
    let out = Command::new("wacz")
        .args(["validate", "-f", wacz.to_str().unwrap()])
        .output()
        .expect("wacz (pip install wacz; .ci/run installs it)");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.contains("Validation succeeded"),
        "wacz validate: {said}{}",
        stderr(&out)
    );

    let files = dir.path().join("unzipped");
    let entries = unzip(&wacz, &files);
    assert_eq!(
        entries,
        [
            ("archive/data.warc.gz".to_string(), true),
            ("indexes/index.cdx".into(), true),
            ("pages/pages.jsonl".into(), true),
            ("datapackage.json".into(), true),
            ("datapackage-digest.json".into(), true),
        ],
        "every entry stored, not deflated"
    );
    let warc = files.join("archive/data.warc.gz");
    crate::export::warcio(&["check", warc.to_str().unwrap()]);
    let index = std::fs::read_to_string(files.join("indexes/index.cdx")).unwrap();
    // The index is what cdxj-indexer writes for the WARC.
    same_index(&index, &cdxj_indexer(&warc));

    // The pages list: every HTML page that answered 200, with its title; not the copies of
    // another page (duplicate content: a revisit record in the WARC).
    let store = politecrawl::Store::open(&db, politecrawl::OpenMode::Existing).unwrap();
    let html: BTreeMap<String, Vec<u8>> = store
        .pages()
        .map(|r| r.unwrap())
        .filter(|r| {
            r.status == Some(200)
                && politecrawl::extract::is_html(r.content_type.as_deref())
                && r.duplicate.is_none()
        })
        .map(|r| {
            let body = store.find_body(&r.url).unwrap().unwrap_or_default();
            (r.url, body)
        })
        .collect();
    let pages = std::fs::read_to_string(files.join("pages/pages.jsonl")).unwrap();
    let mut lines = pages
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap());
    assert_eq!(lines.next().unwrap()["format"], "json-pages-1.0");
    let listed: BTreeMap<String, serde_json::Value> = lines
        .map(|p| (p["url"].as_str().unwrap().to_string(), p))
        .collect();
    assert_eq!(
        listed.keys().collect::<Vec<_>>(),
        html.keys().collect::<Vec<_>>()
    );
    assert_eq!(
        listed[&format!("{origin}/")]["title"],
        "Home | Politecrawl Test Site"
    );
    assert!(listed
        .values()
        .all(|p| p["ts"].as_str().unwrap().ends_with('Z')));

    // pywb takes the package itself (`wb-manager add --unpack-wacz`: its WARC and its index,
    // which pywb takes only under a `.cdx` name) and replays every page byte for byte as stored.
    let root = dir.path().join("pywb");
    std::fs::create_dir(&root).unwrap();
    Wayback::init(&root);
    Wayback::manager(
        &root,
        &["add", "coll", wacz.to_str().unwrap(), "--unpack-wacz"],
    );
    let wayback = Wayback::serve(&root);
    for (url, body) in &html {
        let ts = &listed[url]["ts"].as_str().unwrap();
        let ts = politecrawl::export::cdxj::timestamp(ts);
        let (status, got) = wayback.get_bytes(&format!("/coll/{ts}id_/{url}"));
        assert_eq!(status, 200, "{url}");
        assert!(got == *body, "{url}: pywb replays the stored body");
    }
}

#[test]
fn a_cdxj_export_writes_the_warc_and_its_index() {
    let _shared = shared();
    let dir = tempdir();
    let (_server, db) = crawled(dir.path());
    let out = dir.path().join("crawl.cdxj");
    let done = crate::export::export(
        dir.path(),
        &[
            "--db",
            db.to_str().unwrap(),
            "--format",
            "cdxj",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    let warc = dir.path().join("crawl.warc.gz");
    assert!(stderr(&done).contains("crawl.warc.gz"), "{}", stderr(&done));
    crate::export::warcio(&["check", warc.to_str().unwrap()]);
    let index = std::fs::read_to_string(&out).unwrap();
    same_index(&index, &cdxj_indexer(&warc));
    assert!(index.lines().count() > 10, "{index}");
    // Keys are SURTs of the loopback address, as pywb writes them.
    assert!(index.starts_with("1,0,0,127:"), "{index}");

    // Both need a file.
    for format in ["wacz", "cdxj"] {
        let out = run(
            &["export", "--db", db.to_str().unwrap(), "--format", format],
            dir.path(),
        );
        assert!(!out.status.success());
        assert!(stderr(&out).contains("needs --out"), "{}", stderr(&out));
    }
}

/// ReplayWeb.page's `ui.js` and `sw.js`: the `replaywebpage` npm package, unpacked by
/// scripts/install-test-deps.sh into `target/test-node/package`.
fn replayweb_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-node/package")
}

#[test]
fn replayweb_page_in_headless_chromium_shows_a_crawled_page() {
    let _shared = shared();
    let dir = tempdir();
    let (server, db) = crawled(dir.path());
    let wacz = dir.path().join("crawl.wacz");
    crate::export::export(
        dir.path(),
        &[
            "--db",
            db.to_str().unwrap(),
            "--format",
            "wacz",
            "--out",
            wacz.to_str().unwrap(),
        ],
    );
    let rwp = replayweb_dir();
    assert!(
        rwp.join("ui.js").exists() && rwp.join("sw.js").exists(),
        "ReplayWeb.page is missing from {} (scripts/install-test-deps.sh puts it there)",
        rwp.display()
    );
    // The test artifact: what the browser showed.
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("replayweb-about.png");
    let _ = std::fs::remove_file(&shot);
    let url = format!("{}/about.html", server.origin());
    let requests = server.requests().len();
    let out = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/replayweb.py"))
        .args([rwp.to_str().unwrap(), wacz.to_str().unwrap(), &url])
        .arg(&shot)
        .output()
        .expect("python3 with playwright (pip install playwright; .ci/run installs it)");
    assert!(out.status.success(), "replayweb.py: {}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("About Acme Widgets")
            && text.contains("We are a small family business that makes widgets"),
        "ReplayWeb.page showed: {text}"
    );
    assert_eq!(
        server.requests().len(),
        requests,
        "replayed from the package, not fetched from the site"
    );
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{}",
        shot.display()
    );
}

#[test]
fn a_running_crawl_exports_a_valid_wacz_of_what_it_flushed() {
    let _shared = shared();
    const PAGES: usize = 200;
    let server = route_server(std::sync::Arc::new(generated(
        PAGES,
        std::time::Duration::from_millis(15),
        800,
    )));
    let dir = tempdir();
    let d = dir.path();
    let mut child = Command::new(BIN)
        .args(["crawl", &format!("{}/", server.origin())])
        .args([
            "--db",
            "run.db",
            "--rate",
            "0",
            "--concurrency",
            "2",
            "--no-progress",
        ])
        .current_dir(d)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while page_requests(&server).len() < 60 {
        assert!(std::time::Instant::now() < deadline, "no progress");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let done = crate::export::export(
        d,
        &["--db", "run.db", "--format", "wacz", "--out", "run.wacz"],
    );
    assert!(
        stderr(&done).contains("a crawl is running on"),
        "{}",
        stderr(&done)
    );
    assert!(
        child.try_wait().unwrap().is_none(),
        "still running during the export"
    );
    let out = Command::new("wacz")
        .args(["validate", "-f", "run.wacz"])
        .current_dir(d)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let files = d.join("unzipped");
    unzip(&d.join("run.wacz"), &files);
    let index = std::fs::read_to_string(files.join("indexes/index.cdx")).unwrap();
    same_index(&index, &cdxj_indexer(&files.join("archive/data.warc.gz")));
    let n = index.lines().count();
    assert!(n > 0 && n < PAGES, "a part of the crawl: {n}");
    assert!(child.wait().unwrap().success());
}
