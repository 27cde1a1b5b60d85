//! The shared frontier over PostgreSQL, against a server of the test's own (see `pg.rs`).

use politecrawl::cluster::{crawls, schema, FrontierUrl};
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
    client
        .batch_execute(
            "CREATE TABLE politecrawl_schema (version integer NOT NULL);
             INSERT INTO politecrawl_schema VALUES (2);
             CREATE TABLE crawls (name text);",
        )
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
                    found: 2,
                    expected: schema::VERSION,
                    ..
                }
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
