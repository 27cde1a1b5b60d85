//! The frontier on disk: a crash at each step of a seen-set or queue checkpoint, a damaged run
//! and a damaged queue chunk refused and repaired, and a database of the previous schema
//! (written by the previous release, in `tests/data/`) upgraded in place, also after a crash
//! mid-upgrade, then resumed.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use politecrawl::frontier;
use politecrawl::serve::{Site, SiteServer};
use politecrawl::{OpenMode, Store};

use crate::support::*;

/// Crawls `generated(PAGES)` into `DIR/c.db` one request at a time, checkpointing the
/// seen-set every 5 URLs and the queue every 7 changes (each origin-and-depth group written
/// alone, the log removed one value at a time), with extra environment variables.
fn checkpointing_crawl(
    seed: Option<&str>,
    dir: &Path,
    env: &[(&str, &str)],
) -> std::process::Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("crawl");
    if let Some(s) = seed {
        cmd.arg(s);
    }
    cmd.args(["--db", "c.db", "--rate", "0", "--concurrency", "1"])
        .env("POLITECRAWL_SEEN_CHECKPOINT", "5")
        .env("POLITECRAWL_QUEUE_CHECKPOINT", "7")
        .env("POLITECRAWL_QUEUE_FOLD_BATCH", "1")
        .env("POLITECRAWL_QUEUE_LOG_BATCH", "1")
        .current_dir(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run politecrawl")
}

/// The files in the seen-set folder, sorted.
fn seen_files(db: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(db.join("seen"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_crash_in_a_checkpoint_loses_no_url_and_fetches_nothing_twice() {
    let _timing = shared();
    const PAGES: usize = 150;
    // The second seen-set checkpoint writes a run; the third merges runs and deletes the old
    // files. A queue checkpoint folds group after group, then drops the log, value after
    // value.
    for point in [
        "seen-run-written:2",
        "seen-manifest-switched:3",
        "queue-group-folded:5",
        "queue-chunks-written:3",
        "queue-log-part-removed:2",
    ] {
        let server = route_server(Arc::new(generated(PAGES, Duration::ZERO, 100)));
        let dir = tempdir();
        let seed = format!("{}/", server.origin());
        let out = checkpointing_crawl(Some(&seed), dir.path(), &[("POLITECRAWL_CRASH_AT", point)]);
        let crashed = Instant::now();
        assert!(
            !out.status.success() && stderr(&out).contains("crash point"),
            "{point}: {}",
            stderr(&out)
        );
        let before = page_requests(&server).len();
        assert!(before < PAGES, "{point}: the crash came before the end");
        let window = politecrawl::store::FLUSH_EVERY + Duration::from_millis(150);
        let unflushed = page_requests(&server)
            .iter()
            .filter(|r| crashed.duration_since(r.at) <= window)
            .count();

        let out = checkpointing_crawl(None, dir.path(), &[]);
        assert!(out.status.success(), "{point}: {}", stderr(&out));
        let db = dir.path().join("c.db");
        let store = Store::open(&db, OpenMode::Existing).unwrap();
        let pages = stored(&store, &server.origin());
        assert_eq!(
            pages.keys().cloned().collect::<Vec<_>>(),
            all_targets(PAGES),
            "{point}: every page stored once"
        );
        let counts = request_counts(&server);
        let again: usize = counts.values().map(|n| n - 1).sum();
        // One request in flight, and the outcomes not yet flushed when the process died.
        assert!(
            again <= 1 + unflushed,
            "{point}: {again} pages fetched twice, bound {}",
            1 + unflushed
        );
        assert_eq!(
            store.counters().unwrap(),
            frontier::recount(&store).unwrap()
        );
        assert_tallies_true(&store);
        let in_use: Vec<String> = store
            .seen_run_files()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            seen_files(&db),
            in_use,
            "{point}: only the runs in use are left"
        );
    }
}

#[test]
fn a_damaged_seen_set_run_is_refused_untouched_and_repair_loses_no_url() {
    let _timing = shared();
    const PAGES: usize = 150;
    let server = route_server(Arc::new(generated(PAGES, Duration::ZERO, 100)));
    let dir = tempdir();
    let seed = format!("{}/", server.origin());
    // Stopped by its page budget, with URLs still queued and runs on disk.
    let out = Command::new(BIN)
        .args([
            "crawl",
            &seed,
            "--db",
            "c.db",
            "--rate",
            "0",
            "--max-pages",
            "60",
        ])
        .env("POLITECRAWL_SEEN_CHECKPOINT", "5")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let db = dir.path().join("c.db");
    let runs = seen_files(&db);
    assert!(!runs.is_empty());
    let victim = db.join("seen").join(&runs[0]);
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes[48 + 100] ^= 0x20; // inside the first block
    std::fs::write(&victim, &bytes).unwrap();
    let requests = server.requests().len();
    let counters = Store::open(&db, OpenMode::Existing)
        .unwrap()
        .counters()
        .unwrap();

    let out = run(
        &["crawl", "--db", "c.db", "--max-pages", "1000"],
        dir.path(),
    );
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains(&runs[0]) && err.contains("block 0 fails its checksum"),
        "{err}"
    );
    assert!(err.contains("politecrawl repair --db"), "{err}");
    assert_eq!(server.requests().len(), requests, "no request was made");
    assert_eq!(
        std::fs::read(&victim).unwrap(),
        bytes,
        "the run is left as it was"
    );
    let store = Store::open(&db, OpenMode::Existing).unwrap();
    assert_eq!(store.counters().unwrap(), counters);
    drop(store);

    let out = run(&["repair", "--db", "c.db"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("repaired"), "{}", stderr(&out));
    resume_and_check_every_page_stored_once(dir.path(), &server, PAGES);
}

/// Resumes the crawl in `dir/c.db` to its end, then checks from the server's side and the
/// store's that every one of `pages` pages is stored, none was fetched twice, and the counters
/// and tallies agree with the records.
fn resume_and_check_every_page_stored_once(dir: &Path, server: &SiteServer, pages: usize) {
    let out = run(&["crawl", "--db", "c.db", "--max-pages", "1000"], dir);
    assert!(out.status.success(), "{}", stderr(&out));
    let store = Store::open(&dir.join("c.db"), OpenMode::Existing).unwrap();
    let stored = stored(&store, &server.origin());
    assert_eq!(
        stored.keys().cloned().collect::<Vec<_>>(),
        all_targets(pages)
    );
    let twice: Vec<_> = request_counts(server)
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .collect();
    assert!(twice.is_empty(), "fetched twice: {twice:?}");
    assert_eq!(
        store.counters().unwrap(),
        frontier::recount(&store).unwrap()
    );
    assert_tallies_true(&store);
}

/// A queue chunk cut short (sled's own checksums pass; the value itself is bad): the crawl
/// stops with an error naming the chunk and `repair`, leaving the chunk as it was; `repair`
/// drops that chunk alone, and the resumed crawl finds its URLs again through other pages'
/// links, so every page ends stored once and nothing is fetched twice.
#[test]
fn a_damaged_queue_chunk_stops_the_crawl_and_after_repair_every_page_is_stored_once() {
    let _timing = shared();
    const PAGES: usize = 150;
    let server = route_server(Arc::new(generated(PAGES, Duration::ZERO, 100)));
    let dir = tempdir();
    let seed = format!("{}/", server.origin());
    let out = run(
        &[
            "crawl",
            &seed,
            "--db",
            "c.db",
            "--rate",
            "0",
            "--max-pages",
            "20",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let db = dir.path().join("c.db");
    let (key, cut) = {
        let sled = sled::open(&db).unwrap();
        let chunks = sled.open_tree("queue_chunks").unwrap();
        assert!(chunks.len() > 1, "a few chunks to choose from");
        let (k, v) = chunks.iter().next().unwrap().unwrap();
        let cut = v[..v.len() / 2].to_vec();
        chunks.insert(&k, cut.clone()).unwrap();
        sled.flush().unwrap();
        (k.to_vec(), cut)
    };
    let chunk_now = || {
        let sled = sled::open(&db).unwrap();
        let v = sled.open_tree("queue_chunks").unwrap().get(&key).unwrap();
        v.map(|v| v.to_vec())
    };

    let out = run(&["crawl", "--db", "c.db", "--rate", "0"], dir.path());
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("queue chunk of origin #"), "{err}");
    assert!(err.contains("politecrawl repair --db"), "{err}");
    assert_eq!(chunk_now(), Some(cut), "the chunk is left as it was");

    let out = run(&["repair", "--db", "c.db"], dir.path());
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("removed the damaged queue chunk of") && err.contains(&server.origin()),
        "{err}"
    );
    assert_eq!(chunk_now(), None);
    resume_and_check_every_page_stored_once(dir.path(), &server, PAGES);
}

#[test]
fn a_schema_2_database_of_the_previous_release_is_upgraded_and_resumed_without_refetching() {
    let _timing = shared();
    // Written by the previous release (commit 8c37515): a crawl of the fixture site served at
    // 127.7.0.2:8917, stopped by --max-pages 30 (29 done, 1 failed, 41 queued).
    let archive = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/schema2-db.tar.gz");
    for crash_at in [
        None,
        Some("upgrade-seen-built"),
        Some("upgrade-pages-built"),
    ] {
        let dir = tempdir();
        let out = Command::new("tar")
            .arg("-xzf")
            .arg(&archive)
            .arg("-C")
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        if let Some(point) = crash_at {
            let out = Command::new(BIN)
                .args(["status", "--db", "schema2.db"])
                .env("POLITECRAWL_CRASH_AT", point)
                .current_dir(dir.path())
                .output()
                .unwrap();
            assert!(!out.status.success() && stderr(&out).contains("crash point"));
        }
        let out = run(&["status", "--db", "schema2.db"], dir.path());
        let (err, text) = (
            stderr(&out),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        );
        assert!(out.status.success(), "{err}");
        // A crash in the first step leaves schema 2 (upgraded from the start), one in the
        // second leaves schema 3 (only that step again).
        let from_2 = crash_at != Some("upgrade-pages-built");
        assert_eq!(err.contains("from schema 2 to 3"), from_2, "{err}");
        assert!(
            err.contains(&format!(
                "from schema 3 to {}",
                politecrawl::store::SCHEMA_VERSION
            )) && err.contains("upgraded"),
            "{err}"
        );
        assert!(
            text.contains("41 queued") && text.contains("29 done, 1 failed"),
            "{text}"
        );
        let again = run(&["status", "--db", "schema2.db"], dir.path());
        assert!(
            !stderr(&again).contains("upgrad"),
            "upgraded once: {}",
            stderr(&again)
        );

        let store = Store::open(&dir.path().join("schema2.db"), OpenMode::Existing).unwrap();
        let before: Vec<String> = store.pages().map(|r| r.unwrap().url).collect();
        assert_eq!(before.len(), 30);
        drop(store);
        let server = SiteServer::start("127.7.0.2:8917", Site::Dir(fixtures().join("site")), None)
            .expect("127.7.0.2:8917 is where the old crawl found the site");
        let out = run(
            &["crawl", "--db", "schema2.db", "--max-pages", "1000"],
            dir.path(),
        );
        assert!(out.status.success(), "{}", stderr(&out));
        let store = Store::open(&dir.path().join("schema2.db"), OpenMode::Existing).unwrap();
        let stored: Vec<String> = store.pages().map(|r| r.unwrap().url).collect();
        // The old release queued /search.html?page=2&q=rust beside ?q=rust&page=2 (its seen-set
        // knew URLs by their text); a URL queued before the upgrade stays queued, so both are
        // stored, where a crawl of this release stores only the first (site-expected.txt).
        let swapped = "http://127.7.0.2:8917/search.html?page=2&q=rust";
        let want = expected().len() + usize::from(stored.iter().any(|u| u == swapped));
        assert_eq!(stored.len(), want, "the crawl finished");
        let counts = request_counts(&server);
        for url in &before {
            let path = url.trim_start_matches("http://127.7.0.2:8917");
            assert!(
                !counts.contains_key(path),
                "{path} was stored before the upgrade"
            );
        }
        let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
        assert!(twice.is_empty(), "{twice:?}");
        assert_eq!(
            store.counters().unwrap(),
            frontier::recount(&store).unwrap()
        );
        assert_tallies_true(&store);
    }
}
