//! Exports read back with the tools people use: warcio for WARC (check, index, and the bodies
//! compared with the store), a CSV reader for CSV; filters on every format.

use std::path::Path;
use std::process::Command;

use politecrawl::store::UrlState;
use sha1::{Digest, Sha1};

use crate::support::*;

const BIN: &str = env!("CARGO_BIN_EXE_politecrawl");

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

fn export(dir: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new(BIN)
        .arg("export")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn warcio(args: &[&str]) -> String {
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
fn warcio_responses(files: &[std::path::PathBuf]) -> Vec<(String, String, bool)> {
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

fn store_responses(db: &Path) -> Vec<(String, String, bool)> {
    let store = politecrawl::Store::open(db, politecrawl::OpenMode::Existing).unwrap();
    let mut v: Vec<_> = store
        .pages()
        .map(|r| r.unwrap())
        .filter(|r| r.status.is_some())
        .map(|r| {
            let body = store.body(&r.url).unwrap().unwrap_or_default();
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
    for (row, rec) in rows.iter().zip(&records) {
        assert_eq!(&row[0], rec.url);
        assert_eq!(&row[1], rec.state.as_str());
        assert_eq!(row[2].parse::<u16>().ok(), rec.status);
        assert_eq!(row[4].parse::<u64>().unwrap(), rec.body_len);
        assert_eq!(&row[9], rec.error.as_ref().map_or("", |e| e.kind.as_str()));
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
