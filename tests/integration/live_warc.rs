//! `crawl --warc PREFIX`: WARC files written while crawling, rotated by size, and after
//! `kill -9` at random points (and a torn last record) every page with a response is in exactly
//! one closed file, each passing `warcio check`.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::export::{store_responses, warcio, warcio_responses};
use super::support::{generated, page_requests, route_server, shared, tempdir, BIN};

fn files(dir: &std::path::Path, suffix: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    v.sort();
    v
}

#[test]
fn live_warc_files_hold_every_page_once_after_kills_and_torn_records() {
    let _timing = shared();
    const PAGES: usize = 600;
    let seed = std::env::var("POLITECRAWL_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    let mut rng = fastrand::Rng::with_seed(seed);
    let server = route_server(Arc::new(generated(PAGES, Duration::from_millis(10), 2000)));
    let dir = tempdir();
    let d = dir.path();
    let warc_dir = d.join("warc");
    let prefix = warc_dir.join("live");
    let prefix = prefix.to_str().unwrap();
    let seed_url = format!("{}/", server.origin());
    let (mut kills, mut torn) = (0, 0);
    for round in 0.. {
        assert!(round < 200, "seed {seed}: the crawl never finished");
        let mut cmd = Command::new(BIN);
        cmd.arg("crawl");
        if round == 0 {
            cmd.arg(&seed_url);
        }
        cmd.args(["--db", "w.db", "--rate", "0", "--concurrency", "2"])
            .args(["--warc", prefix, "--warc-max-size", "60KB", "--no-progress"])
            .current_dir(d)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let target = page_requests(&server).len() + rng.usize(5..=25);
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut finished = false;
        while page_requests(&server).len() < target {
            if child.try_wait().unwrap().is_some() {
                finished = true;
                break;
            }
            assert!(Instant::now() < deadline, "seed {seed}: no progress");
            std::thread::sleep(Duration::from_millis(1));
        }
        if finished || kills >= 12 {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "seed {seed}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            if finished {
                break;
            }
            continue;
        }
        // Long enough for the writer to be at work (it follows the flushes, every 200 ms).
        std::thread::sleep(Duration::from_millis(rng.u64(200..700)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
        // Mostly, a record torn in the middle too, as a kill inside a write leaves it.
        if let Some(open) = files(&warc_dir, ".open")
            .first()
            .filter(|_| torn == 0 || rng.u8(0..4) > 0)
        {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new().append(true).open(open).unwrap();
            f.write_all(b"\x1f\x8b\x08\x00torn").unwrap();
            torn += 1;
        }
    }
    assert!(kills >= 3, "seed {seed}: only {kills} kills");
    assert!(torn >= 1, "seed {seed}: no kill left an open file to tear");
    assert!(
        files(&warc_dir, ".open").is_empty(),
        "seed {seed}: the last file is closed at the end"
    );
    let closed = files(&warc_dir, ".warc.gz");
    assert!(
        closed.len() >= 3,
        "seed {seed}: rotated by size: {closed:?}"
    );
    for f in &closed {
        warcio(&["check", f.to_str().unwrap()]);
    }
    let mut got = warcio_responses(&closed);
    got.sort();
    let want = store_responses(&d.join("w.db"));
    assert_eq!(want.len(), PAGES + 1, "seed {seed}: the crawl is complete");
    assert_eq!(
        got, want,
        "seed {seed}: every page once, with its stored body"
    );
}
