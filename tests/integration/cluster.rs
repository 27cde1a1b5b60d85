//! The shared frontier over PostgreSQL, against a server of the test's own (see `pg.rs`).

use politecrawl::cluster::{crawls, FrontierUrl};
use politecrawl::frontier::postgres::queue::{Settled, SharedQueue};
use politecrawl::frontier::postgres::schema;
use politecrawl::frontier::postgres::shards::ShardLeases;
use politecrawl::frontier::QueueEntry;
use politecrawl::Error;

use crate::pg::Postgres;
use crate::support::fast_config;

/// Every politecrawl table and its row count: what "nothing was changed" compares.
fn tables(client: &mut postgres::Client) -> Vec<(String, i64)> {
    let names: Vec<String> = client
        .query(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    names
        .into_iter()
        .map(|t| {
            let n: i64 = client
                .query_one(&format!("SELECT count(*) FROM {t}"), &[])
                .unwrap()
                .get(0);
            (t, n)
        })
        .collect()
}

#[test]
fn a_crawl_is_created_once_with_its_settings_and_shards_and_joined_by_name() {
    let pg = Postgres::start();
    let url = FrontierUrl::parse(&pg.url()).unwrap();
    let mut client = url.connect().unwrap();
    let dir = crate::support::tempdir();
    let config = fast_config(&dir.path().join("w1.db"), "http://127.0.0.1:1/");

    // Nothing there yet: joining names what to do.
    let e = crawls::open(&mut client, &url, "docs").unwrap_err();
    assert!(matches!(e, Error::NoSuchCrawl { .. }), "{e}");
    assert!(
        e.to_string().contains("politecrawl crawl URL --frontier"),
        "{e}"
    );
    assert!(tables(&mut client).is_empty(), "joining creates nothing");

    let (made, saved) = crawls::create(&mut client, &url, "docs", &config, 8).unwrap();
    assert_eq!((made.name.as_str(), made.shards), ("docs", 8));
    assert_eq!(saved.seeds, config.seeds);
    // A second create (another machine starting the same crawl) keeps the first one's.
    let mut other = config.clone();
    other.max_depth = Some(1);
    let (again, kept) = crawls::create(&mut client, &url, "docs", &other, 16).unwrap();
    assert_eq!((again.id, again.shards), (made.id, 8));
    assert_eq!(kept.max_depth, config.max_depth);
    let (joined, _) = crawls::open(&mut client, &url, "docs").unwrap();
    assert_eq!(joined, made);
    let shards: Vec<(i32, i64)> = client
        .query(
            "SELECT shard, epoch FROM shards WHERE crawl = $1 ORDER BY shard",
            &[&made.id],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(shards, (0..8).map(|s| (s, 0)).collect::<Vec<_>>());

    let e = crawls::open(&mut client, &url, "doc")
        .unwrap_err()
        .to_string();
    assert!(e.contains("no crawl named \"doc\" (it holds: docs)"), "{e}");
    let e = crawls::open(&mut client, &url, "no spaces")
        .unwrap_err()
        .to_string();
    assert!(e.contains("a crawl name is"), "{e}");
}

#[test]
fn a_database_of_another_schema_version_is_refused_untouched() {
    let pg = Postgres::start();
    let url = FrontierUrl::parse(&pg.url()).unwrap();
    let mut client = url.connect().unwrap();
    // A newer layout than this build's (an older one is upgraded, see cluster_setup.rs).
    let newer = schema::VERSION + 1;
    client
        .batch_execute(&format!(
            "CREATE TABLE politecrawl_schema (version integer NOT NULL);
             INSERT INTO politecrawl_schema VALUES ({newer});
             CREATE TABLE crawls (name text);"
        ))
        .unwrap();
    let before = tables(&mut client);
    let dir = crate::support::tempdir();
    let config = fast_config(&dir.path().join("w.db"), "http://127.0.0.1:1/");
    for e in [
        crawls::create(&mut client, &url, "docs", &config, 8).unwrap_err(),
        crawls::open(&mut client, &url, "docs").unwrap_err(),
    ] {
        assert!(
            matches!(
                e,
                Error::ClusterSchema {
                    found,
                    expected: schema::VERSION,
                    ..
                } if found == newer
            ),
            "{e}"
        );
        assert!(e.to_string().contains("nothing was changed"), "{e}");
    }
    assert_eq!(tables(&mut client), before);
}

#[test]
fn an_unreachable_server_or_a_missing_database_is_named_with_what_to_check() {
    let pg = Postgres::start();
    // A socket directory where no server listens.
    let empty = crate::support::tempdir();
    let nowhere = format!(
        "postgres://postgres:hunter2@/crawls?host={}",
        empty.path().display()
    );
    let e = FrontierUrl::parse(&nowhere)
        .unwrap()
        .connect()
        .err()
        .unwrap();
    let msg = e.to_string();
    assert!(
        matches!(
            e,
            Error::Postgres {
                action: "connecting",
                ..
            }
        ),
        "{msg}"
    );
    assert!(msg.contains("check that the server runs"), "{msg}");
    assert!(!msg.contains("hunter2") && msg.contains(":***@"), "{msg}");
    // A server that is there, and a database that is not.
    let e = FrontierUrl::parse(&pg.url_of("nosuchdb"))
        .unwrap()
        .connect()
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("\"nosuchdb\" does not exist"), "{e}");
}

/// Crawl `docs` of `shards` shards in a fresh server, and a client for each of `n` workers.
fn workers(pg: &Postgres, shards: i32, n: usize) -> (FrontierUrl, i64, Vec<postgres::Client>) {
    let url = FrontierUrl::parse(&pg.url()).unwrap();
    let mut client = url.connect().unwrap();
    let dir = crate::support::tempdir();
    let config = fast_config(&dir.path().join("w.db"), "http://127.0.0.1:1/");
    let (crawl, _) = crawls::create(&mut client, &url, "docs", &config, shards).unwrap();
    let clients = (0..n).map(|_| url.connect().unwrap()).collect();
    (url, crawl.id, clients)
}

fn join(
    client: &mut postgres::Client,
    url: &FrontierUrl,
    crawl: (i64, i32),
    name: &str,
    ttl_ms: u64,
) -> ShardLeases {
    let ttl = std::time::Duration::from_millis(ttl_ms);
    ShardLeases::join(client, url, crawl, name, &format!("{name}.db"), ttl).unwrap()
}

fn held(l: &ShardLeases) -> Vec<i32> {
    l.held().keys().copied().collect()
}

#[test]
fn workers_joining_share_the_shards_without_overlap_and_each_take_raises_the_epoch() {
    let pg = Postgres::start();
    let (url, crawl, mut c) = workers(&pg, 8, 3);
    let [c1, c2, c3] = c.as_mut_slice() else {
        unreachable!("three clients")
    };
    let mut w1 = join(c1, &url, (crawl, 8), "w1", 60_000);
    assert_eq!(
        w1.tick(c1, &url).unwrap().gained,
        (0..8).collect::<Vec<_>>()
    );
    assert!(w1.held().values().all(|h| h.epoch == 1));

    // A second worker: w1 gives back the half above its share, w2 takes it.
    let mut w2 = join(c2, &url, (crawl, 8), "w2", 60_000);
    assert!(
        w2.tick(c2, &url).unwrap().gained.is_empty(),
        "none free yet"
    );
    // Drained first: marked at one tick (no request starts for them any more), given back at
    // the next.
    let marked = w1.tick(c1, &url).unwrap();
    assert_eq!((marked.draining, marked.lost), (vec![4, 5, 6, 7], vec![]));
    assert!(w1.held().contains_key(&4), "still held while it drains");
    assert_eq!(w1.tick(c1, &url).unwrap().lost, [4, 5, 6, 7]);
    assert_eq!(w2.tick(c2, &url).unwrap().gained, [4, 5, 6, 7]);
    assert!(w2.held().values().all(|h| h.epoch == 2), "taken twice");
    assert!(!w1.may_send(4) && w2.may_send(4) && w1.may_send(0));

    // A third: shares of at most 3, until every shard is held once.
    let mut w3 = join(c3, &url, (crawl, 8), "w3", 60_000);
    for _ in 0..6 {
        w3.tick(c3, &url).unwrap();
        w1.tick(c1, &url).unwrap();
        w2.tick(c2, &url).unwrap();
    }
    w3.tick(c3, &url).unwrap();
    let all: Vec<Vec<i32>> = [&w1, &w2, &w3].iter().map(|w| held(w)).collect();
    let mut union: Vec<i32> = all.concat();
    union.sort_unstable();
    assert_eq!(union, (0..8).collect::<Vec<_>>(), "{all:?}");
    assert!(all.iter().all(|h| (2..=3).contains(&h.len())), "{all:?}");
    // The server agrees with what each worker believes.
    for w in [&w1, &w2, &w3] {
        let rows: Vec<i32> = c1
            .query(
                "SELECT shard FROM shards WHERE crawl = $1 AND holder = $2 ORDER BY shard",
                &[&crawl, &w.worker()],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(rows, held(w));
    }

    // A clean exit gives its shards back at once.
    let gone = held(&w3);
    w3.leave(c3, &url).unwrap();
    let mut regained = w1.tick(c1, &url).unwrap().gained;
    regained.extend(w2.tick(c2, &url).unwrap().gained);
    regained.sort_unstable();
    assert_eq!(regained, gone);
}

#[test]
fn a_worker_stalled_past_its_lease_may_not_send_and_its_commits_are_refused() {
    let pg = Postgres::start();
    let (url, crawl, mut c) = workers(&pg, 4, 2);
    let [c1, c2] = c.as_mut_slice() else {
        unreachable!("two clients")
    };
    let mut w1 = join(c1, &url, (crawl, 4), "w1", 300);
    w1.tick(c1, &url).unwrap();
    let mut w2 = join(c2, &url, (crawl, 4), "w2", 300);
    assert!(w2.tick(c2, &url).unwrap().gained.is_empty());
    // A commit under a lease still held goes through, and holds a takeover off while it runs:
    // the takeover skips the locked shards rather than sharing them.
    {
        let mut tx = c1.transaction().unwrap();
        w1.fence(&mut tx, &url, &[0, 1]).unwrap();
        tx.commit().unwrap();
    }

    // w1 stalls (no tick) past its lease; w2's heartbeat goes on.
    let stall = std::time::Instant::now();
    while stall.elapsed() < std::time::Duration::from_millis(450) {
        std::thread::sleep(std::time::Duration::from_millis(100));
        w2.tick(c2, &url).unwrap();
    }
    assert_eq!(held(&w2), [0, 1, 2, 3], "w2 took the expired shards over");
    assert!(w2.held().values().all(|h| h.epoch == 2));
    // w1, woken: its own clock already says no, before it hears of the takeover.
    assert!((0..4).all(|s| !w1.may_send(s)));
    let mut tx = c1.transaction().unwrap();
    let e = w1.fence(&mut tx, &url, &[1]).unwrap_err();
    assert!(
        matches!(
            e,
            Error::StaleShard {
                shard: 1,
                epoch: 1,
                now: 2
            }
        ),
        "{e}"
    );
    drop(tx);
    assert_eq!(w1.tick(c1, &url).unwrap().lost, [0, 1, 2, 3]);
    assert!(held(&w1).is_empty());
    // Nor can it commit for a shard it never held.
    let mut tx = c1.transaction().unwrap();
    assert!(w1.fence(&mut tx, &url, &[2]).is_err());
}

fn entry(url: &str, depth: u32) -> QueueEntry {
    QueueEntry::new(url, depth)
}

#[test]
fn a_url_found_by_two_workers_is_queued_once_and_leased_in_depth_order_within_held_shards() {
    let pg = Postgres::start();
    let (url, crawl, mut c) = workers(&pg, 4, 2);
    let [c1, c2] = c.as_mut_slice() else {
        unreachable!("two clients")
    };
    let mut q1 = SharedQueue::new(crawl, 4);
    let mut q2 = SharedQueue::new(crawl, 4);
    let a = "http://127.0.0.1:8001";
    // An origin in another shard than a's.
    let b = &(8002..)
        .map(|port| format!("http://127.0.0.1:{port}"))
        .find(|o| q1.shard_of(o) != q1.shard_of(a))
        .unwrap();
    let found1 = [
        entry(&format!("{a}/x"), 2),
        entry(&format!("{a}/y"), 1),
        entry(&format!("{b}/z"), 1),
        entry(&format!("{a}/x"), 2), // twice in one batch
    ];
    let added1 = q1.add(c1, &url, &found1).unwrap();
    assert_eq!(added1.len(), 3);
    // The other worker finds two of the same and one new: only the new one is queued.
    let found2 = [
        entry(&format!("{a}/y"), 1),
        entry(&format!("{b}/z"), 1),
        entry(&format!("{a}/w"), 1),
    ];
    let added2 = q2.add(c2, &url, &found2).unwrap();
    let id_a = q1.origin_ids(c1, &url, &[a]).unwrap()[0];
    assert_eq!(added2, [(id_a, a.to_string())]);

    let (sa, sb) = (q1.shard_of(a), q1.shard_of(b));
    assert_ne!(sa, sb);
    let work = q1.origins_with_work(c1, &url, &[sa], 0, 10).unwrap();
    assert_eq!(
        work,
        [(id_a, a.to_string())],
        "only the held shard's origins"
    );
    let urls = |q: Vec<politecrawl::frontier::postgres::queue::Queued>| -> Vec<String> {
        q.into_iter().map(|(_, e)| e.url).collect()
    };
    let first = q1.first(c1, &url, id_a, &[], 10).unwrap();
    let seq_of = |k: &[u8; 20]| i64::from_be_bytes(k[12..].try_into().unwrap());
    let y_seq = seq_of(&first[0].0);
    assert_eq!(
        urls(first),
        [format!("{a}/y"), format!("{a}/w"), format!("{a}/x")],
        "shallowest, then oldest"
    );
    assert_eq!(
        urls(q1.first(c1, &url, id_a, &[y_seq], 1).unwrap()),
        [format!("{a}/w")],
        "a leased URL is skipped"
    );

    // Settled, parked, released: the totals follow.
    let y = format!("{a}/y");
    let settled = Settled {
        url: &y,
        origin: id_a,
        worker: "w1",
        stamp: 7,
        class: 0,
        bytes: 1234,
    };
    q1.settle(c1, &url, &[settled]).unwrap();
    q1.settle(c1, &url, &[settled]).unwrap(); // sent again after a lost answer: no change
    q1.put_back(c1, &url, &entry(&format!("{a}/w"), 1), Some(5_000))
        .unwrap();
    let totals = q2.counters(c2, &url).unwrap();
    assert_eq!((totals.queued, totals.done, totals.bytes), (3, 1, 1234));
    assert_eq!(q1.next_due(c1, &url, &[sa]).unwrap(), Some(5_000));
    assert!(q1.release_due(c1, &url, &[sa], 4_999).unwrap().is_empty());
    assert_eq!(
        q1.release_due(c1, &url, &[sa], 5_000).unwrap(),
        [(id_a, a.to_string())]
    );
    assert_eq!(
        urls(q1.first(c1, &url, id_a, &[], 10).unwrap()),
        [format!("{a}/w"), format!("{a}/x")]
    );
    // A URL once queued is never queued again, settled or not.
    assert!(q2
        .add(c2, &url, &[entry(&format!("{a}/y"), 0)])
        .unwrap()
        .is_empty());
}
