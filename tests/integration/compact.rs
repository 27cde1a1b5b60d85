//! `politecrawl compact`: the space of bodies no record refers to comes back, every stored body
//! reads back the same, and a crash in the middle of it loses none.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use politecrawl::{OpenMode, Store};

use crate::support::*;

/// Every stored body, by URL.
fn bodies(db: &Path) -> BTreeMap<String, Vec<u8>> {
    let store = Store::open(db, OpenMode::Existing).unwrap();
    store
        .pages()
        .map(|r| r.unwrap().url)
        .filter_map(|u| store.find_body(&u).unwrap().map(|b| (u, b)))
        .collect()
}

#[test]
fn compact_reclaims_unreferenced_bodies_and_a_crash_in_it_loses_none() {
    let _timing = shared();
    let server = route_server(Arc::new(generated(120, Duration::ZERO, 2000)));
    let dir = tempdir();
    let seed = format!("{}/", server.origin());
    let out = run(&["crawl", &seed, "--db", "c.db", "--rate", "0"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let db = dir.path().join("c.db");
    {
        // Bodies written for outcomes that were never stored (as a crash or a retry leaves).
        let store = Store::open(&db, OpenMode::ExistingWritable).unwrap();
        for _ in 0..3 {
            store.write_body(&vec![b'g'; 300_000]).unwrap();
        }
        store.flush().unwrap();
    }
    let before = bodies(&db);
    assert_eq!(before.len(), 121);
    let live: u64 = before.values().map(|b| b.len() as u64).sum();

    for (point, when) in [("compact-copied", "before"), ("compact-switched", "after")] {
        let out = Command::new(BIN)
            .args(["compact", "--db", "c.db"])
            .env("POLITECRAWL_CRASH_AT", point)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(!out.status.success() && stderr(&out).contains("crash point"));
        assert!(
            bodies(&db) == before,
            "a crash {when} the switch changed a body"
        );
    }

    let out = run(&["compact", "--db", "c.db"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("121 bodies moved"),
        "{}",
        stderr(&out)
    );
    assert!(bodies(&db) == before, "compaction changed a body");
    let store = Store::open(&db, OpenMode::Existing).unwrap();
    assert_eq!(
        store.segment_bytes().unwrap(),
        live,
        "only live bodies are left"
    );
    drop(store);

    let requests = server.requests().len();
    let out = run(&["crawl", "--db", "c.db"], dir.path());
    assert!(
        stderr(&out).contains("nothing left to do"),
        "{}",
        stderr(&out)
    );
    assert_eq!(server.requests().len(), requests);
}
