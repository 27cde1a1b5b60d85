//! A shared crawl set up by the one setup path: `--seeds-file`, logins (`--user/--password`, a
//! seed's `user:password@`, a `--proxy` with a login) and credential headers with `--frontier`,
//! with three worker processes and one of them killed with kill -9, asserted from the servers'
//! request logs, one export of every worker's store, PostgreSQL's tables and the files the
//! workers wrote; and a database of the older layout upgraded under a crawl that goes on.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use politecrawl::frontier::postgres::shard_of;
use politecrawl::serve::{Reply, Request};

use crate::cluster_crawl::{
    address_of, crawl_created, exported, finish, said, sender, until, until_or, workers_ticking,
    Gate, Origins, Worker,
};
use crate::pg::Postgres;
use crate::proxy::{HttpProxy, Proxied};
use crate::support::*;

/// The flags these tests' crawls are created with (after `--shards N`): 2 s leases, 10
/// requests/s per origin.
const FLAGS: [&str; 9] = [
    "--shard-lease",
    "2s",
    "--rate",
    "10",
    "--per-host-concurrency",
    "1",
    "--concurrency",
    "8",
    "--no-progress",
];

/// `args` as owned strings.
fn owned(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// `worker --frontier … --crawl NAME` only.
fn worker_only(dir: &Path, pg: &Postgres, crawl: &str, name: &str) -> Worker {
    let args = [
        "worker",
        "--frontier",
        &pg.url(),
        "--crawl",
        crawl,
        "--shard-lease",
        "2s",
        "--no-progress",
    ];
    Worker::spawn(dir, name, &owned(&args))
}

/// One query's first column of every row, as text.
fn query(pg: &Postgres, sql: &str) -> Vec<String> {
    let mut c = postgres::Client::connect(&pg.url(), postgres::NoTls).unwrap();
    c.query(sql, &[])
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect()
}

/// A count from PostgreSQL (0 while it cannot be read).
fn count(pg: &Postgres, sql: &str) -> i64 {
    let Ok(mut c) = postgres::Client::connect(&pg.url(), postgres::NoTls) else {
        return 0;
    };
    c.query_one(sql, &[]).map_or(0, |r| r.get(0))
}

#[test]
fn a_seeds_file_of_many_origins_is_crawled_whole_once_even_one_given_while_workers_run() {
    let _timing = exclusive();
    // Twelve origins: six in the first file, six in a file given while the workers run. No
    // seed on any command line: each origin is in scope only through a seeds file.
    let origins = Origins::start(12, 8, Duration::from_millis(5));
    let seeds = origins.seeds();
    let (first, later) = seeds.split_at(6);
    let pg = Postgres::start();
    let dir = tempdir();
    let d = dir.path();
    let file = |name: &str, seeds: &[String]| {
        let text = format!("# sites\n\n{}\n", seeds.join("\n"));
        std::fs::write(d.join(name), text).unwrap();
        d.join(name).display().to_string()
    };
    let (a, b) = (file("a.txt", first), file("b.txt", later));
    let bad = file("bad.txt", &[first[0].clone(), "ftp://nope/".into()]);
    let crawl_args = |file: &str| {
        let mut args = owned(&["crawl", "--seeds-file", file, "--frontier", &pg.url()]);
        args.extend(owned(&["--crawl", "sf", "--shards", "8"]));
        args.extend(owned(&FLAGS));
        args
    };

    // --strict refuses a bad file before anything is made, here or in PostgreSQL.
    let mut strict = crawl_args(&bad);
    strict.extend(owned(&["--strict", "--db", "s.db"]));
    let s: Vec<&str> = strict.iter().map(String::as_str).collect();
    let out = run(&s, d);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("line 4"), "{}", stderr(&out));
    assert!(!d.join("s.db").exists());
    assert_eq!(
        count(
            &pg,
            "SELECT count(*) FROM pg_tables WHERE tablename = 'crawls'"
        ),
        0
    );

    // Page requests wait until all three workers are at work.
    origins.gate.hold(None);
    let mut w1 = Worker::spawn(d, "w1", &crawl_args(&a));
    crawl_created(&pg, "sf");
    let mut w2 = Worker::join(d, &pg, "sf", "w2", crate::cluster_crawl::FAST);
    let w3 = Worker::join(d, &pg, "sf", "w3", crate::cluster_crawl::FAST);
    until_or(
        "three workers at work",
        || workers_ticking(&pg, "sf") == 3,
        || said(&[&w1, &w2, &w3]),
    );
    origins.gate.release();
    until("a third of the first file's pages", || {
        origins.requests() >= 6 * 9 / 3
    });
    // Killed mid-crawl; while nothing moves, it comes back as `crawl --frontier` with the
    // second file, which w1 and w2 (running) must take into their scope.
    let mut victim = w3;
    victim.signal("-KILL");
    let _ = victim.child.wait();
    origins.gate.hold(None);
    let mut w3 = Worker::spawn(d, "w3", &crawl_args(&b));
    until_or(
        "the second file queued",
        || {
            count(&pg, "SELECT count(*) FROM seed_origins") == 12
                && count(&pg, "SELECT count(*) FROM urls WHERE depth = 0") == 12
        },
        || said(&[&w1, &w2, &w3]),
    );
    origins.gate.release();
    finish(&mut [&mut w1, &mut w2, &mut w3], 90);

    // Every page of every origin in the export once, and requested (at most the killed
    // worker's in-flight ones twice).
    assert_eq!(exported(&pg, "sf", &[&w1, &w2, &w3], d), origins.all_urls());
    let counts = origins.counts();
    let all: BTreeSet<String> = origins.all_urls().into_iter().collect();
    assert_eq!(counts.keys().cloned().collect::<BTreeSet<_>>(), all);
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.len() <= 8, "fetched again: {twice:?}");
    assert!(twice.iter().all(|(_, n)| **n == 2), "{twice:?}");
    // The second file's origins were crawled below `/` by workers that were running when it
    // was given (their scope learnt them), not only by the worker that gave it.
    let running = [address_of("w1"), address_of("w2")];
    let deep_by_running = origins.servers[6..]
        .iter()
        .flat_map(|s| s.requests())
        .filter(|r| r.path().starts_with("/n/") && running.contains(&sender(r)))
        .count();
    assert!(deep_by_running > 0, "{}", said(&[&w1, &w2, &w3]));
    assert!(
        w3.stderr().contains("seeds file: 6 seeds (6 new"),
        "{}",
        w3.stderr()
    );
    // The origins are not in the shared settings (status prints them): seed_origins has them.
    let settings = query(&pg, "SELECT settings FROM crawls");
    assert!(
        !settings[0].contains(&origins.servers[0].origin()),
        "{settings:?}"
    );
}

/// The credentials of the credentials test: leaked if any shows.
const AL_PW: &str = "AL-S3CRET";
const BO_PW: &str = "BO-S3CRET";
const KEY: &str = "KEY-S3CRET";
const SECRETS: [&str; 3] = [AL_PW, BO_PW, KEY];

/// The credentials test's shards: one for each worker.
const SHARDS: i32 = 3;

/// The origins of the credentials test given by its second worker, while the first runs.
const LATE: [usize; 2] = [6, 11];

/// What origin `i` of the credentials test asks of every request (robots.txt too).
#[derive(Clone, Copy, Debug)]
enum Needs {
    /// `Authorization: Basic` of this user and password.
    Basic(&'static str, &'static str),
    /// `X-Api-Key: KEY`.
    Key,
}

impl Needs {
    fn allows(self, r: &Request) -> bool {
        match self {
            Needs::Basic(user, pw) => {
                let want = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"));
                header(r, "authorization") == [format!("Basic {want}")]
            }
            Needs::Key => header(r, "x-api-key") == [KEY],
        }
    }
}

#[test]
fn logins_and_credential_headers_reach_every_worker_and_are_shown_nowhere() {
    let _timing = exclusive();
    // Six origins behind al's login (--user), one behind bo's (a seed's userinfo, given by the
    // second worker), five needing X-Api-Key; four in each of the crawl's three shards, so
    // whichever shard a worker holds has work. A request without its credentials is answered
    // 401 and counted.
    let mut needs = vec![Needs::Basic("al", AL_PW); 6];
    needs.push(Needs::Basic("bo", BO_PW));
    needs.extend([Needs::Key; 5]);
    let refused = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Gate::default());
    let mut servers = Vec::new();
    let mut per_shard = [0; SHARDS as usize];
    while servers.len() < needs.len() {
        let need = needs[servers.len()];
        let (refused, gate) = (refused.clone(), gate.clone());
        let site = generated(8, Duration::from_millis(5), 200);
        let server = route_server(Arc::new(move |r| {
            if !need.allows(r) {
                refused.fetch_add(1, Ordering::SeqCst);
                return Some(Reply::new(401, "text/plain", "who are you"));
            }
            gate.pass(r);
            site(r)
        }));
        let shard = shard_of(&server.origin(), SHARDS) as usize;
        // The two origins the second worker brings (bo's, and one needing the key) in shard 0,
        // which w1 keeps as the others join: w1 must learn bo's login, and that the key goes
        // to the other, while it runs.
        let late = LATE.contains(&servers.len());
        // Shard 0 keeps room for the late ones still to come.
        let room = match (shard, late) {
            (0, false) => {
                needs.len() / SHARDS as usize - LATE.iter().filter(|i| **i >= servers.len()).count()
            }
            (_, true) if shard != 0 => 0,
            _ => needs.len() / SHARDS as usize,
        };
        if per_shard[shard] < room {
            per_shard[shard] += 1;
            servers.push(server);
        }
    }
    let seed = |i: usize| format!("{}/", servers[i].origin());
    let pg = Postgres::start();
    let dir = tempdir();
    let d = dir.path();
    let key_header = format!("X-Api-Key: {KEY}");

    gate.hold(None);
    let mut args = owned(&["crawl"]);
    args.extend((0..needs.len()).filter(|i| !LATE.contains(i)).map(seed));
    args.extend(owned(&["--frontier", &pg.url(), "--crawl", "cred"]));
    args.extend(owned(&[
        "--user",
        "al",
        "--password",
        AL_PW,
        "--header",
        &key_header,
    ]));
    args.extend(owned(&["--shards", &SHARDS.to_string()]));
    args.extend(owned(&FLAGS));
    let mut w1 = Worker::spawn(d, "w1", &args);
    crawl_created(&pg, "cred");
    // The second worker brings bo's origin, its login in the seed, and a last origin that needs
    // the key.
    let bo = seed(6).replace("http://", &format!("http://bo:{BO_PW}@"));
    let mut args = owned(&["crawl", &bo, &seed(11), "--frontier", &pg.url()]);
    args.extend(owned(&["--crawl", "cred"]));
    args.extend(owned(&["--shard-lease", "2s", "--no-progress"]));
    let w2 = Worker::spawn(d, "w2", &args);
    until_or(
        "two workers at work",
        || workers_ticking(&pg, "cred") == 2,
        || said(&[&w1, &w2]),
    );
    gate.release();
    let page_requests = || -> usize {
        let each = servers.iter().flat_map(|s| s.requests());
        each.filter(|r| r.path() != "/robots.txt").count()
    };
    until("a quarter of the pages", || page_requests() >= 12 * 9 / 4);
    // w2 killed; w3, a worker started later with `worker` only on a new directory, and w2
    // restarted the same way: both have only what PostgreSQL gives them.
    gate.hold(None);
    let mut victim = w2;
    victim.signal("-KILL");
    let _ = victim.child.wait();
    let mut w3 = worker_only(d, &pg, "cred", "w3");
    let mut w2 = worker_only(d, &pg, "cred", "w2");
    until_or(
        "three workers at work",
        || workers_ticking(&pg, "cred") == 3,
        || said(&[&w1, &w2, &w3]),
    );
    gate.release();
    finish(&mut [&mut w1, &mut w2, &mut w3], 90);

    // Every request, robots.txt included, carried its origin's credentials; every page was
    // crawled, and all three workers sent requests.
    assert_eq!(
        refused.load(Ordering::SeqCst),
        0,
        "{}",
        said(&[&w1, &w2, &w3])
    );
    let mut all: Vec<String> = servers
        .iter()
        .flat_map(|s| {
            all_targets(8)
                .into_iter()
                .map(move |t| format!("{}{t}", s.origin()))
        })
        .collect();
    all.sort();
    assert_eq!(exported(&pg, "cred", &[&w1, &w2, &w3], d), all);
    let senders: BTreeSet<String> = servers
        .iter()
        .flat_map(|s| s.requests())
        .map(|r| sender(&r))
        .collect();
    let want: BTreeSet<String> = ["w1", "w2", "w3"].iter().map(|w| address_of(w)).collect();
    assert_eq!(senders, want);
    // bo's login and the key's new origin, added while w1 ran, reached w1, which holds them.
    for i in LATE {
        let w1_sent = servers[i]
            .requests()
            .iter()
            .any(|r| sender(r) == address_of("w1"));
        assert!(w1_sent, "{i}: {}", said(&[&w1, &w2, &w3]));
    }

    // Nothing secret where it can be read: status, the shared settings, logs, the workers'
    // files (only their private credentials files have them).
    let url = pg.url();
    let status = run(
        &["status", "--frontier", &url, "--crawl", "cred", "--json"],
        d,
    );
    assert!(status.status.success(), "{}", stderr(&status));
    let shown = String::from_utf8_lossy(&status.stdout);
    assert_eq!(leak(shown.as_bytes(), &SECRETS), None, "{shown}");
    assert!(shown.contains("X-Api-Key: <redacted>"), "{shown}");
    for settings in query(&pg, "SELECT settings FROM crawls") {
        assert_eq!(leak(settings.as_bytes(), &SECRETS), None, "{settings}");
    }
    for w in [&w1, &w2, &w3] {
        assert_eq!(
            leak(w.stderr().as_bytes(), &SECRETS),
            None,
            "{}",
            w.stderr()
        );
        assert_secrets_only_in_credentials(&w.db, &SECRETS);
    }
}

/// An HTTP proxy answering for a site of `/` and six pages, each answer taking 100 ms, that
/// counts the requests without `pu`'s login.
fn proxy(refused: Arc<AtomicUsize>) -> HttpProxy {
    let want = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("pu:PROXY-S3CRET")
    );
    HttpProxy::start(Arc::new(move |p: &Proxied| {
        if p.header("proxy-authorization") != Some(want.as_str()) {
            refused.fetch_add(1, Ordering::SeqCst);
            return (407, "text/plain".into(), b"login".to_vec());
        }
        std::thread::sleep(Duration::from_millis(100));
        let path = p.url.split_once("://").map_or("", |(_, r)| r);
        let path = &path[path.find('/').unwrap_or(path.len())..];
        let html = |b: String| (200, "text/html".into(), b.into_bytes());
        match path {
            "/" => html(
                (0..6)
                    .map(|i| format!("<a href=\"/p{i}\">{i}</a>"))
                    .collect(),
            ),
            p if p.starts_with("/p") => html(format!("<p>{p}</p>")),
            _ => (404, "text/plain".into(), Vec::new()),
        }
    }))
}

#[test]
fn a_database_of_the_older_layout_is_upgraded_and_a_proxy_login_reaches_a_later_worker() {
    let _timing = shared();
    let pg = Postgres::start();
    let dir = tempdir();
    let d = dir.path();
    let url = pg.url();
    // A crawl made, then the database put back to the layout of version 1.
    let site = route_server(Arc::new(|r| match r.path() {
        "/" => Some(Reply::html("<p>old</p>")),
        _ => None,
    }));
    let old_seed = format!("{}/", site.origin());
    let args = [
        "crawl",
        &old_seed,
        "--frontier",
        &url,
        "--crawl",
        "old",
        "--db",
        "w0.db",
        "--rate",
        "0",
        "--no-progress",
    ];
    let out = run(&args, d);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    c.batch_execute(
        "DROP TABLE seed_origins; DROP TABLE crawl_secrets;
         UPDATE politecrawl_schema SET version = 1;",
    )
    .unwrap();
    // A worker of it upgrades the database and goes on (nothing is left to do).
    let out = run(
        &[
            "worker",
            "--frontier",
            &url,
            "--crawl",
            "old",
            "--db",
            "w0.db",
        ],
        d,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let version: i32 = c
        .query_one("SELECT version FROM politecrawl_schema", &[])
        .unwrap()
        .get(0);
    assert_eq!(version, politecrawl::frontier::postgres::schema::VERSION);
    assert_eq!(count(&pg, "SELECT count(*) FROM crawl_secrets"), 0);

    // A new crawl through a proxy with a login: its first worker is killed after two pages,
    // and a worker started with `worker` only finishes it through the proxy.
    let refused = Arc::new(AtomicUsize::new(0));
    let proxy = proxy(refused.clone());
    // A public name the proxy alone answers for.
    let proxied = "http://site.example/".to_string();
    let with_login = proxy.url().replace("http://", "http://pu:PROXY-S3CRET@");
    let mut args = owned(&["crawl", &proxied, "--frontier", &url, "--crawl", "px"]);
    args.extend(owned(&["--proxy", &with_login, "--shards", "8"]));
    args.extend(owned(&FLAGS));
    let w1 = Worker::spawn(d, "w1", &args);
    until_or(
        "two pages through the proxy",
        || {
            proxy
                .requests()
                .iter()
                .filter(|p| p.url.contains("/p"))
                .count()
                >= 2
        },
        || w1.stderr(),
    );
    w1.signal("-KILL");
    let mut w2 = worker_only(d, &pg, "px", "w2");
    finish(&mut [&mut w2], 90);
    assert_eq!(refused.load(Ordering::SeqCst), 0, "{}", w2.stderr());
    let fetched: BTreeSet<String> = proxy.requests().into_iter().map(|p| p.url).collect();
    for i in 0..6 {
        assert!(
            fetched.contains(&format!("http://site.example/p{i}")),
            "{fetched:?}"
        );
    }
    // The proxy URL is in the settings without its login.
    let settings = query(&pg, "SELECT settings FROM crawls WHERE name = 'px'");
    assert!(!settings[0].contains("PROXY-S3CRET"), "{settings:?}");
    assert!(settings[0].contains(&proxy.url()), "{settings:?}");
    assert_secrets_only_in_credentials(&w2.db, &["PROXY-S3CRET"]);
}
