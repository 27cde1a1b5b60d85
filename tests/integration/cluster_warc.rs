//! `crawl --frontier … --warc PREFIX`: each worker writes its own live WARC files
//! (`PREFIX-<worker id>-NNNNN.warc.gz`), and together they hold each page of the crawl exactly
//! once, the set `export --frontier --format warc` writes: a record a worker stored whose
//! commit was refused, or cut off by a kill -9, is never written, also after the restart; and
//! while PostgreSQL is down the writers wait, then write on.
//!
//! A commit is caught between its local write and PostgreSQL for certain rather than by
//! chance: the test locks the worker's shard rows until its commit waits at the fence (the
//! records are then in its store, synced), and only then kills it, or moves its shards.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use politecrawl::cluster::worker::Identity;

use super::cluster_crawl::{
    address_of, crawl_created, exported, finish, origins_held, said, shards_held, until, until_or,
    workers_ticking, Origins, Worker, FAST,
};
use super::export::{warcio, warcio_responses};
use crate::pg::Postgres;
use crate::support::*;

/// The files in `dir` whose names end with `suffix`, sorted.
fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
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

fn worker_id(w: &Worker) -> String {
    Identity::read(&w.db)
        .unwrap()
        .expect("a worker's store")
        .worker
}

/// Locks the shard rows `worker` holds until one of its commits waits for them at the fence:
/// that commit's records are then in its own store, synced, and PostgreSQL has not counted
/// them. When its lease renewal comes first (it waits on the same rows) the lock is let go and
/// taken again. Returns the connection inside the transaction holding the lock.
fn stuck_in_fence(pg: &Postgres, crawl: &str, worker: &str) -> postgres::Client {
    let mut c = postgres::Client::connect(&pg.url(), postgres::NoTls).unwrap();
    // Watched from a connection of its own: inside a transaction, `pg_stat_activity` keeps
    // the snapshot its first read took.
    let mut watch = postgres::Client::connect(&pg.url(), postgres::NoTls).unwrap();
    let me: i32 = c.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
    let mut seen = Vec::new();
    for _ in 0..50 {
        c.batch_execute("BEGIN").unwrap();
        let locked = c
            .query(
                "SELECT s.shard FROM shards s JOIN crawls c ON c.id = s.crawl
                 WHERE c.name = $1 AND s.holder = $2 FOR UPDATE OF s",
                &[&crawl, &worker],
            )
            .unwrap();
        if locked.is_empty() {
            // Between a handoff's give-back and take: it holds shards again in a moment.
            c.batch_execute("ROLLBACK").unwrap();
            seen.push("(no shard held)".to_string());
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        let limit = Instant::now() + Duration::from_secs(10);
        let waiting: String = loop {
            let rows = watch
                .query(
                    "SELECT query FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
                    &[&me],
                )
                .unwrap();
            if let Some(r) = rows.first() {
                break r.get(0);
            }
            assert!(
                Instant::now() < limit,
                "{worker} never waited for its shards"
            );
            std::thread::sleep(Duration::from_millis(5));
        };
        if waiting.contains("FOR SHARE") {
            return c;
        }
        c.batch_execute("ROLLBACK").unwrap();
        seen.push(waiting);
    }
    panic!("{worker}: its lease renewal always came before a commit: {seen:?}");
}

/// URLs of responses in `worker`'s own store that PostgreSQL does not count (by record stamp,
/// as `export --frontier` tells them).
fn uncounted(pg: &Postgres, crawl: &str, worker: &Worker) -> Vec<String> {
    let id = worker_id(worker);
    let mut c = postgres::Client::connect(&pg.url(), postgres::NoTls).unwrap();
    let counted: HashSet<(String, i64)> = c
        .query(
            "SELECT p.url, p.stamp FROM pages p JOIN crawls c ON c.id = p.crawl
             WHERE c.name = $1 AND p.worker = $2",
            &[&crawl, &id],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let store = politecrawl::Store::open(&worker.db, politecrawl::OpenMode::Existing).unwrap();
    let mut v: Vec<String> = store
        .pages()
        .map(|r| r.unwrap())
        .filter(|r| r.status.is_some())
        .filter(|r| !counted.contains(&(r.url.clone(), r.stored_at_us.unwrap_or(0) as i64)))
        .map(|r| r.url)
        .collect();
    v.sort();
    v
}

/// The live WARC files of every worker, checked: none left open, each passes `warcio check`,
/// each named `live-<id>-NNNNN.warc.gz` after one of `workers`; the response records of all,
/// sorted, and the ids that wrote files.
fn live_responses(dir: &Path, workers: &[&Worker]) -> (Vec<(String, String, bool)>, Vec<String>) {
    assert!(files(dir, ".open").is_empty(), "every file is closed");
    let closed = files(dir, ".warc.gz");
    let ids: Vec<String> = workers.iter().map(|w| worker_id(w)).collect();
    let mut wrote = Vec::new();
    for f in &closed {
        warcio(&["check", f.to_str().unwrap()]);
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let id = ids
            .iter()
            .find(|id| name.starts_with(&format!("live-{id}-")))
            .unwrap_or_else(|| panic!("{name} is named after no worker of {ids:?}"));
        if !wrote.contains(id) {
            wrote.push(id.clone());
        }
    }
    let mut got = warcio_responses(&closed);
    got.sort();
    (got, wrote)
}

/// `export --frontier --format warc` of the crawl: its response records, sorted.
fn exported_warc(
    pg: &Postgres,
    crawl: &str,
    workers: &[&Worker],
    cwd: &Path,
) -> Vec<(String, String, bool)> {
    let url = pg.url();
    let mut args = vec!["export", "--frontier", &url[..], "--crawl", crawl];
    let dbs: Vec<String> = workers.iter().map(|w| w.db.display().to_string()).collect();
    for db in &dbs {
        args.extend(["--db", db]);
    }
    args.extend(["--format", "warc", "--out", "shared.warc.gz"]);
    let out = run(&args, cwd);
    assert!(out.status.success(), "export: {}", stderr(&out));
    let mut v = warcio_responses(&[cwd.join("shared.warc.gz")]);
    v.sort();
    v
}

fn urls(responses: &[(String, String, bool)]) -> Vec<String> {
    responses.iter().map(|r| r.0.clone()).collect()
}

#[test]
fn three_workers_live_warcs_hold_each_page_once_across_a_kill_between_store_and_commit() {
    let _timing = exclusive();
    // Three origins in the shards w1 gives away (it keeps 0–2), so w2 or w3 crawls one.
    let origins = Origins::split(3, (1, 3), 48);
    let pg = Postgres::start();
    let dir = tempdir();
    let d = dir.path();
    let prefix = d.join("warc").join("live");
    let prefix = prefix.to_str().unwrap();
    let warc = ["--warc", prefix, "--warc-max-size", "20KB"];
    let mut w1 = Worker::first_with(d, &pg, "wk", &origins.seeds(), FAST, &warc);
    crawl_created(&pg, "wk");
    let w2 = Worker::join(d, &pg, "wk", "w2", FAST);
    let w3 = Worker::join(d, &pg, "wk", "w3", FAST);
    until("w2 or w3 to hold an origin", || {
        origins_held(&pg, &w2) + origins_held(&pg, &w3) > 0
    });
    origins.until_requested(4);
    let (mut victim, mut other) = match origins_held(&pg, &w2) > 0 {
        true => (w2, w3),
        false => (w3, w2),
    };
    let name = victim
        .log
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let id = worker_id(&victim);
    // Killed with a commit stored in its store and not in PostgreSQL.
    let mut lock = stuck_in_fence(&pg, "wk", &id);
    victim.signal("-KILL");
    let _ = victim.child.wait();
    lock.batch_execute("ROLLBACK").unwrap();
    let mut again = Worker::join(d, &pg, "wk", &name, FAST);
    finish(&mut [&mut w1, &mut other, &mut again], 90);

    let all = origins.all_urls();
    let (got, wrote) = live_responses(&d.join("warc"), &[&w1, &other, &again]);
    assert_eq!(urls(&got), all, "each page of the crawl once, in all files");
    assert_eq!(
        got,
        exported_warc(&pg, "wk", &[&w1, &other, &again], d),
        "the live files hold what the export writes"
    );
    assert!(
        wrote.contains(&id),
        "the killed worker wrote files: {wrote:?}"
    );
    assert!(wrote.contains(&worker_id(&w1)), "{wrote:?}");
    // The kill did leave records the crawl does not count, and they were fetched again.
    let cut = uncounted(&pg, "wk", &again);
    assert!(!cut.is_empty(), "the kill cut a commit off");
    let counts = origins.counts();
    assert_eq!(counts.len(), all.len(), "every page requested");
    for url in &cut {
        assert_eq!(
            counts.get(url),
            Some(&2),
            "{url}: fetched again after the kill"
        );
    }
    assert_eq!(exported(&pg, "wk", &[&w1, &other, &again], d), all);
}

#[test]
fn a_commit_refused_by_the_fence_writes_no_live_warc_record() {
    let _timing = exclusive();
    // Two origins in w2's half of the shards (w1 keeps 0–3).
    let origins = Origins::split(4, (2, 2), 24);
    // Nothing is crawled before w2 is up (see the stalled-worker test of cluster_crawl).
    origins.gate.hold(None);
    let pg = Postgres::start();
    let dir = tempdir();
    let d = dir.path();
    let prefix = d.join("warc").join("live");
    let prefix = prefix.to_str().unwrap();
    let mut w1 = Worker::first_with(
        d,
        &pg,
        "refuse",
        &origins.seeds(),
        FAST,
        &["--warc", prefix],
    );
    crawl_created(&pg, "refuse");
    let mut w2 = Worker::join(d, &pg, "refuse", "w2", FAST);
    until("w2 to tick", || workers_ticking(&pg, "refuse") == 2);
    origins.gate.release();
    let shared = || shards_held(&pg, "refuse", d) == [4, 4];
    until_or("the shards to be shared", shared, || said(&[&w1, &w2]));
    let from_w2 = address_of("w2");
    until("w2 to crawl", || {
        origins
            .servers
            .iter()
            .flat_map(|s| s.requests())
            .filter(|r| r.peer.is_some_and(|p| p.ip().to_string() == from_w2))
            .count()
            >= 4
    });
    // w2's commit waits at the fence with its records stored; its shards move to w1 meanwhile
    // (as w1's takeover after a stall past the lease moves them: a new epoch), so the fence
    // refuses the commit.
    let (id1, id2) = (worker_id(&w1), worker_id(&w2));
    let mut lock = stuck_in_fence(&pg, "refuse", &id2);
    let moved = lock
        .execute(
            "UPDATE shards SET holder = $1, epoch = epoch + 1,
                 expires_at = clock_timestamp() + interval '2 seconds'
             WHERE crawl = (SELECT id FROM crawls WHERE name = 'refuse') AND holder = $2",
            &[&id1, &id2],
        )
        .unwrap();
    assert_eq!(moved, 4);
    lock.batch_execute("COMMIT").unwrap();
    finish(&mut [&mut w1, &mut w2], 60);
    assert!(
        w2.stderr()
            .contains("not committed because their shard had moved"),
        "w2's commit is refused:\n{}",
        w2.stderr()
    );
    let refused = uncounted(&pg, "refuse", &w2);
    assert!(!refused.is_empty(), "w2 stored the refused outcomes");

    let all = origins.all_urls();
    let (got, _) = live_responses(&d.join("warc"), &[&w1, &w2]);
    // A refused page is in the files once: as fetched again, not as refused.
    assert_eq!(urls(&got), all, "each page of the crawl once, in all files");
    assert_eq!(got, exported_warc(&pg, "refuse", &[&w1, &w2], d));
    let counts = origins.counts();
    for url in &refused {
        assert_eq!(counts.get(url), Some(&2), "{url}: fetched again");
    }
}

#[test]
fn live_warcs_wait_for_postgresql_when_it_is_down_and_then_write_every_page_once() {
    let _timing = exclusive();
    let origins = Origins::split(4, (1, 1), 24);
    let pg = Postgres::start();
    let dir = tempdir();
    let d = dir.path();
    let prefix = d.join("warc").join("live");
    let prefix = prefix.to_str().unwrap();
    let mut w1 = Worker::first_with(d, &pg, "down", &origins.seeds(), FAST, &["--warc", prefix]);
    crawl_created(&pg, "down");
    let mut w2 = Worker::join(d, &pg, "down", "w2", FAST);
    origins.until_requested(4);
    pg.stop();
    // Past the leases' 2 s: the workers wait, their writers with them.
    std::thread::sleep(Duration::from_secs(3));
    pg.start_again();
    finish(&mut [&mut w1, &mut w2], 90);
    let (got, _) = live_responses(&d.join("warc"), &[&w1, &w2]);
    assert_eq!(
        urls(&got),
        origins.all_urls(),
        "each page once, in all files"
    );
    assert_eq!(got, exported_warc(&pg, "down", &[&w1, &w2], d));
    let said = format!("{}{}", w1.stderr(), w2.stderr());
    let waits = said
        .matches("its records wait until PostgreSQL answers")
        .count();
    assert!(
        waits <= 2,
        "said once per worker, not at every look:\n{said}"
    );
}
