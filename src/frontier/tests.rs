//! Unit tests of the frontier over a real sled database in a temp dir: keys, dedupe, depth
//! moves, parked retries, leases across a crash, lost bodies, and the resume scan.

use super::*;
use crate::store::{HostRecord, OpenMode, PageRecord, UrlState};

fn open(tag: &str) -> Store {
    let d = std::env::temp_dir().join(format!("pc-frontier-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    Store::open(&d, OpenMode::CreateOrOpen).unwrap()
}

/// A store with `http://a.test/` seeded and leased: the store, its origin and the lease.
fn seed_and_lease(tag: &str) -> (Store, OriginId, Lease) {
    let s = open(tag);
    let added = add_seeds(&s, &[Url::parse("http://a.test/").unwrap()]).unwrap();
    let a = added[0].origin_id;
    let l = lease(&s, a, &mut Leases::default()).unwrap().unwrap();
    (s, a, l)
}

fn cand(u: &str, depth: u32) -> Candidate {
    Candidate {
        url: Url::parse(u).unwrap(),
        depth,
        referrer: None,
        sitemap: SitemapRole::Page,
        redirect_chain: vec![],
    }
}

fn record(url: &str) -> PageRecord {
    PageRecord::done_for_test(url)
}

#[test]
fn queue_key_orders_by_origin_then_sequence() {
    assert!(queue_key(1, 9, u64::MAX) < queue_key(2, 0, 0));
    assert!(queue_key(7, 1, 256) < queue_key(7, 2, 1), "shallower first");
    assert!(queue_key(7, 1, 255) < queue_key(7, 1, 256));
    assert_eq!(origin_of_key(&queue_key(42, 3, 9)), Some(42));
    assert_eq!(depth_of_key(&queue_key(42, 3, 9)), Some(3));
}

#[test]
fn lease_settle_and_dedupe_keep_counters_true() {
    let s = open("life");
    let added = add_seeds(&s, &[Url::parse("http://a.test/").unwrap()]).unwrap();
    assert_eq!(added.len(), 1);
    assert!(add_seeds(&s, &[Url::parse("http://a.test/").unwrap()])
        .unwrap()
        .is_empty());
    let a = added[0].origin_id;

    let mut leases = Leases::default();
    let l = lease(&s, a, &mut leases).unwrap().unwrap();
    assert_eq!(l.entry.url, "http://a.test/");
    assert!(lease(&s, a, &mut leases).unwrap().is_none(), "leased once");
    let found = [
        cand("http://a.test/x", 1),
        cand("http://a.test/", 1),
        cand("http://b.test/y", 1),
    ];
    let added = settle(&s, &l, &record("http://a.test/"), b"body", &found, None).unwrap();
    assert_eq!(added.len(), 2, "the page itself is not queued again");
    assert_ne!(added[0].origin_id, added[1].origin_id);
    assert_eq!(added[0].origin_id, a);
    let c = s.counters().unwrap();
    assert_eq!((c.queued, c.in_flight, c.done, c.bytes), (2, 0, 1, 4));
    assert_eq!(recount(&s).unwrap(), c);
    assert_eq!(
        &s.find_body("http://a.test/").unwrap().unwrap()[..],
        b"body"
    );
    let by = queued_by_origin(&s).unwrap();
    assert_eq!(by[&a], ("http://a.test".to_string(), 1));
}

#[test]
fn a_url_found_again_shallower_moves_up() {
    let (s, a, l) = seed_and_lease("depth");
    let found = [cand("http://a.test/deep", 5), cand("http://a.test/x", 1)];
    settle(&s, &l, &record("http://a.test/"), b"body", &found, None).unwrap();
    let l = lease(&s, a, &mut Leases::default()).unwrap().unwrap();
    assert_eq!(l.entry.url, "http://a.test/x", "shallowest first");
    settle(
        &s,
        &l,
        &record("http://a.test/x"),
        b"body",
        &[cand("http://a.test/deep", 2)],
        None,
    )
    .unwrap();
    let l = lease(&s, a, &mut Leases::default()).unwrap().unwrap();
    assert_eq!(
        (l.entry.url.as_str(), l.entry.depth),
        ("http://a.test/deep", 2)
    );
    assert_eq!(recount(&s).unwrap(), s.counters().unwrap());
}

#[test]
fn delayed_retries_come_back_when_due_at_their_place() {
    let s = open("delay");
    let added = add_seeds(
        &s,
        &[
            Url::parse("http://a.test/1").unwrap(),
            Url::parse("http://a.test/2").unwrap(),
        ],
    )
    .unwrap();
    let a = added[0].origin_id;
    let l = lease(&s, a, &mut Leases::default()).unwrap().unwrap();
    delay(&s, &l, 5_000, None).unwrap();
    assert_eq!(next_due(&s).unwrap(), Some(5_000));
    assert_eq!(recount(&s).unwrap(), s.counters().unwrap());
    assert!(release_due(&s, 4_999).unwrap().is_empty());
    assert_eq!(
        release_due(&s, 5_000).unwrap(),
        [(a, "http://a.test".to_string())]
    );
    let again = lease(&s, a, &mut Leases::default()).unwrap().unwrap();
    assert_eq!(
        (again.entry.url.as_str(), again.entry.attempts),
        ("http://a.test/1", 1)
    );
    assert_eq!(next_due(&s).unwrap(), None);
    assert_eq!(recount(&s).unwrap(), s.counters().unwrap());
}

#[test]
fn a_leased_url_is_handed_out_once_and_comes_back_after_a_crash() {
    let s = open("recover");
    let urls = ["http://a.test/1", "http://a.test/2"].map(|u| Url::parse(u).unwrap());
    let added = add_seeds(&s, &urls).unwrap();
    let a = added[0].origin_id;
    let mut leases = Leases::default();
    let l = lease(&s, a, &mut leases).unwrap().unwrap();
    assert_eq!(l.entry.url, "http://a.test/1", "FIFO per origin");
    assert!(l.more);
    let l2 = lease(&s, a, &mut leases).unwrap().unwrap();
    assert_eq!((l2.entry.url.as_str(), l2.more), ("http://a.test/2", false));
    assert!(lease(&s, a, &mut leases).unwrap().is_none());
    // A shallower find of a leased URL must not move it: its settle removes its key.
    let found = [cand("http://a.test/1", 0)];
    let mut memo = SeenMemo::default();
    let no_body = PageRecord {
        body_len: 0,
        ..record("http://a.test/2")
    };
    let one = Settlement {
        lease: &l2,
        record: &no_body,
        body: None,
        found: &found,
        host: None,
    };
    settle_batch(&s, &[one], &mut memo, &leases).unwrap();
    // A crash: the leases are gone with the process, the URL is still queued.
    drop(leases);
    let again = lease(&s, a, &mut Leases::default()).unwrap().unwrap();
    assert_eq!(
        (again.entry.url.as_str(), again.key),
        ("http://a.test/1", l.key),
        "the leased URL keeps its place"
    );
    assert_eq!(recount(&s).unwrap(), s.counters().unwrap());
}

#[test]
fn a_body_lost_in_a_power_cut_sends_its_url_back_to_the_queue() {
    let (s, a, l) = seed_and_lease("powercut");
    let found = [cand("http://a.test/x", 1)];
    let body = b"<html>the page</html>";
    settle(&s, &l, &record("http://a.test/"), body, &found, None).unwrap();
    assert_eq!(s.counters().unwrap().done, 1);
    // The record reached the disk, its body did not (the segment is cut back).
    let seg = s
        .path()
        .join(crate::store::bodies::DIR)
        .join("00000001.seg");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(5)
        .unwrap();
    assert_eq!(recover_bodies(&s).unwrap(), 1);
    assert!(s.find_page("http://a.test/").unwrap().is_none());
    assert!(s.find_body("http://a.test/").unwrap().is_none());
    let c = s.counters().unwrap();
    assert_eq!((c.done, c.queued, c.bytes), (0, 2, 0));
    assert_eq!(recount(&s).unwrap(), c);
    let again = lease(&s, a, &mut Leases::default()).unwrap().unwrap();
    assert_eq!(again.entry.url, "http://a.test/", "fetched again, first");
    // Intact bodies are kept, and the check is done once.
    assert_eq!(recover_bodies(&s).unwrap(), 0);
}

#[test]
fn origins_with_work_come_in_chunks_and_skip_empty_origins() {
    let s = open("scan");
    let urls: Vec<Url> = (0..5)
        .map(|h| Url::parse(&format!("http://h{h}.test/a")).unwrap())
        .collect();
    let added = add_seeds(&s, &urls).unwrap();
    // Origin h1 runs dry: its only URL is settled.
    let l = lease(&s, added[1].origin_id, &mut Leases::default())
        .unwrap()
        .unwrap();
    settle(&s, &l, &record("http://h1.test/a"), b"", &[], None).unwrap();
    let (first, next) = origins_with_work(&s, 0, 2).unwrap();
    let names: Vec<&str> = first.iter().map(|(_, o)| o.as_str()).collect();
    assert_eq!(names, ["http://h0.test", "http://h2.test"]);
    let (rest, end) = origins_with_work(&s, next.unwrap(), 10).unwrap();
    let names: Vec<&str> = rest.iter().map(|(_, o)| o.as_str()).collect();
    assert_eq!(names, ["http://h3.test", "http://h4.test"]);
    assert_eq!(end, None);
}

fn cands(urls: &[String], depth: u32) -> Vec<Candidate> {
    urls.iter().map(|u| cand(u, depth)).collect()
}

#[test]
fn the_seen_set_holds_across_checkpoints_merges_and_reopens() {
    let d = std::env::temp_dir().join(format!("pc-frontier-runs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    let s = Store::open(&d, OpenMode::CreateOrOpen).unwrap();
    s.seen_set().set_checkpoint_at(10);
    let urls: Vec<String> = (0..500)
        .map(|i| format!("http://h{}.test/p/{i}", i % 3))
        .collect();
    let mut h0 = None;
    for chunk in urls.chunks(7) {
        let added = add_candidates(&s, &cands(chunk, 3)).unwrap();
        assert_eq!(added.len(), chunk.len());
        h0 = h0.or(Some(added[0].origin_id));
    }
    let runs = s.seen_set().runs();
    assert!((2..=5).contains(&runs), "{runs} runs for 50 checkpoints");
    assert!(add_candidates(&s, &cands(&urls, 3)).unwrap().is_empty());
    assert_eq!(s.counters().unwrap().queued, 500);

    // A URL the runs hold, found again shallower, moves up: it is the origin's first now.
    let last_h0 = &urls[498];
    assert!(add_candidates(&s, &[cand(last_h0, 1)]).unwrap().is_empty());
    let h0 = h0.unwrap();
    let l = lease(&s, h0, &mut Leases::default()).unwrap().unwrap();
    assert_eq!((l.entry.url.as_str(), l.entry.depth), (last_h0.as_str(), 1));

    drop(s);
    let s = Store::open(&d, OpenMode::Existing).unwrap();
    for u in &urls {
        assert!(is_seen(&s, u).unwrap(), "{u}");
    }
    assert!(!is_seen(&s, "http://h0.test/p/none").unwrap());
    assert!(add_candidates(&s, &cands(&urls, 2)).unwrap().is_empty());
    let l = lease(&s, h0, &mut Leases::default()).unwrap().unwrap();
    assert_eq!(l.entry.depth, 1, "the move-up survived the reopen");
    assert_eq!(recount(&s).unwrap(), s.counters().unwrap());
}

/// Rewrites the page records as schema 3 kept them: one `pages` and one `bodies` key per URL,
/// `recent` keyed by body position with the URL as value, no page log or tallies.
fn pages_back_to_schema_3(s: &Store) {
    let (pages, bodies) = (
        s.db.open_tree("pages").unwrap(),
        s.db.open_tree("bodies").unwrap(),
    );
    let recent: Vec<Vec<u8>> = s
        .recent
        .iter()
        .values()
        .map(|v| v.unwrap().to_vec())
        .collect();
    for p in s.stored() {
        let p = p.unwrap();
        pages
            .insert(p.record.url.as_bytes(), encode(&p.record))
            .unwrap();
        if let Some(b) = &p.body {
            bodies.insert(p.record.url.as_bytes(), encode(b)).unwrap();
        }
    }
    s.recent.clear().unwrap();
    for v in recent {
        let p = crate::store::page_log::decode_recent(&v).unwrap();
        if let Some(b) = p.body {
            s.recent
                .insert(b.position_key(), p.record.url.as_bytes())
                .unwrap();
        }
    }
    s.host_pages.clear().unwrap();
    s.meta.remove(crate::store::page_log::KEY_SPAN).unwrap();
    s.meta.remove(crate::store::KEY_BREAKDOWN).unwrap();
    s.meta
        .insert(crate::store::KEY_SCHEMA, &3u32.to_be_bytes())
        .unwrap();
    // Not `Store::flush`, which would drop the `recent` entries just written.
    s.db.flush().unwrap();
    std::fs::remove_dir_all(s.path().join(crate::store::page_log::DIR)).unwrap();
}

#[test]
fn a_schema_3_database_moves_its_records_to_the_page_log_and_recovers_a_lost_body() {
    use crate::store::KEY_SCHEMA;
    let d = std::env::temp_dir().join(format!("pc-frontier-upgrade3-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    let (counters, breakdown, tallies, last_body);
    {
        let s = Store::open(&d, OpenMode::CreateOrOpen).unwrap();
        let added = add_seeds(&s, &[Url::parse("http://a.test/").unwrap()]).unwrap();
        let a = added[0].origin_id;
        let found: Vec<Candidate> = (0..6)
            .map(|i| cand(&format!("http://a.test/{i}"), 1))
            .collect();
        let mut found = found.as_slice();
        for i in 0..7 {
            let l = lease(&s, a, &mut Leases::default()).unwrap().unwrap();
            let mut rec = record(&l.entry.url);
            if i % 3 == 2 {
                rec.status = Some(404);
                rec.state = UrlState::Failed;
            }
            let body = format!("body {i}");
            rec.body_len = body.len() as u64;
            settle(&s, &l, &rec, body.as_bytes(), found, None).unwrap();
            found = &[];
            if i < 6 {
                // Everything but the last page is known to be on disk.
                s.flush().unwrap();
            }
        }
        last_body = s.stored().last().unwrap().unwrap().body.unwrap();
        counters = s.counters().unwrap();
        (breakdown, tallies) = (s.breakdown().unwrap(), recount_tallies(&s).unwrap().1);
        assert_eq!(breakdown, recount_tallies(&s).unwrap().0);
        assert_eq!(
            s.recent.len(),
            1,
            "the last page is not yet known to be on disk"
        );
        pages_back_to_schema_3(&s);
    }
    let s = Store::open(&d, OpenMode::CreateOrOpen).unwrap();
    let version = s.meta.get(KEY_SCHEMA).unwrap().unwrap();
    assert_eq!(version.as_ref(), crate::store::SCHEMA_VERSION.to_be_bytes());
    for old in [&b"pages"[..], b"bodies"] {
        assert!(!s.db.tree_names().iter().any(|n| n.as_ref() == old));
    }
    assert_eq!(s.pages().count(), 7);
    assert_eq!(s.counters().unwrap(), counters);
    assert_eq!(s.breakdown().unwrap(), breakdown);
    let kept: std::collections::BTreeMap<_, _> = s.host_tallies().map(|t| t.unwrap()).collect();
    assert_eq!(kept, tallies);
    assert_eq!(recount(&s).unwrap(), counters);
    // The page schema 3 had not synced comes last and is checked like any other: its body is
    // cut (as a power loss leaves it), so its URL goes back to the queue.
    let seg = s
        .path()
        .join(crate::store::bodies::DIR)
        .join("00000001.seg");
    let f = std::fs::OpenOptions::new().write(true).open(seg).unwrap();
    f.set_len(last_body.offset + 1).unwrap();
    assert_eq!(recover_bodies(&s).unwrap(), 1);
    assert_eq!(s.pages().count(), 6);
    let c = s.counters().unwrap();
    assert_eq!((c.done + c.failed, c.queued), (6, counters.queued + 1));
    assert_eq!(recount(&s).unwrap(), c);
    let (b, t) = recount_tallies(&s).unwrap();
    assert_eq!(s.breakdown().unwrap(), b);
    let kept: std::collections::BTreeMap<_, _> = s.host_tallies().map(|t| t.unwrap()).collect();
    assert_eq!(kept, t);
}

#[test]
fn a_schema_2_database_is_upgraded_in_place_and_keeps_every_url() {
    use crate::store::KEY_SCHEMA;
    let d = std::env::temp_dir().join(format!("pc-frontier-upgrade-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    let (queued, stored_url, parked_url);
    {
        // Build the schema 2 layout: this schema's trees, with the seen-set as one sled key
        // per URL (its queue key) instead of runs.
        let (s, a, l) = {
            let s = Store::open(&d, OpenMode::CreateOrOpen).unwrap();
            let added = add_seeds(&s, &[Url::parse("http://a.test/").unwrap()]).unwrap();
            let a = added[0].origin_id;
            let l = lease(&s, a, &mut Leases::default()).unwrap().unwrap();
            (s, a, l)
        };
        let found: Vec<Candidate> = (0..20)
            .map(|i| cand(&format!("http://a.test/{i}"), 4))
            .collect();
        settle(&s, &l, &record("http://a.test/"), b"body", &found, None).unwrap();
        let p = lease(&s, a, &mut Leases::default()).unwrap().unwrap();
        delay(&s, &p, u64::MAX - 1, None).unwrap();
        (stored_url, parked_url) = ("http://a.test/".to_string(), p.entry.url.clone());
        queued = queued_by_origin(&s).unwrap()[&a].1;
        let seen = s.db.open_tree("seen").unwrap();
        let old_queue = s.db.open_tree("queue").unwrap();
        for kv in s.queue_set().iter().unwrap() {
            let (k, e) = kv.unwrap();
            old_queue.insert(k, encode(&e)).unwrap();
            seen.insert(e.url.as_bytes(), &k).unwrap();
        }
        s.db.open_tree("queue_chunks").unwrap().clear().unwrap();
        s.queue_log.clear().unwrap();
        seen.insert(stored_url.as_bytes(), &[0u8; 20]).unwrap();
        seen.insert(parked_url.as_bytes(), &[0u8; 20]).unwrap();
        pages_back_to_schema_3(&s);
        s.meta
            .remove(crate::frontier::sled::seen::KEY_MANIFEST)
            .unwrap();
        s.meta.insert(KEY_SCHEMA, &2u32.to_be_bytes()).unwrap();
        s.seen_inbox.clear().unwrap();
        s.flush().unwrap();
        std::fs::remove_dir_all(d.join(crate::frontier::sled::seen::DIR)).ok();
    }
    let s = Store::open(&d, OpenMode::Existing).unwrap();
    let version = s.meta.get(KEY_SCHEMA).unwrap().unwrap();
    assert_eq!(version.as_ref(), crate::store::SCHEMA_VERSION.to_be_bytes());
    for old in [&b"seen"[..], b"queue"] {
        assert!(!s.db.tree_names().iter().any(|n| n.as_ref() == old));
    }
    for i in 0..20 {
        assert!(is_seen(&s, &format!("http://a.test/{i}")).unwrap());
    }
    assert!(is_seen(&s, &stored_url).unwrap() && is_seen(&s, &parked_url).unwrap());
    // Nothing is queued twice, and a queued URL still moves up: its depth and sequence
    // number came through.
    let again: Vec<Candidate> = (0..20)
        .map(|i| cand(&format!("http://a.test/{i}"), 1))
        .collect();
    assert!(add_candidates(&s, &again).unwrap().is_empty());
    assert_eq!(
        queued_by_origin(&s).unwrap().values().next().unwrap().1,
        queued
    );
    let origin = *queued_by_origin(&s).unwrap().keys().next().unwrap();
    let l = lease(&s, origin, &mut Leases::default()).unwrap().unwrap();
    assert_eq!(l.entry.depth, 1);
    assert_eq!(recount(&s).unwrap(), s.counters().unwrap());
}

/// The chunked queue against a plain model, through hundreds of checkpoints: random adds
/// (new URLs, URLs found again, shallower finds that move a URL up), leases in order, settles,
/// parked and released retries, and re-queues. After every step the queue holds exactly the
/// model's URLs, each lease is the model's first, and the counters agree.
#[test]
fn the_chunked_queue_matches_a_plain_model_through_checkpoints() {
    use std::collections::BTreeMap;
    let s = open("chunks-model");
    s.queue_set().set_checkpoint_at(3);
    s.seen_set().set_checkpoint_at(5);
    let mut rng = fastrand::Rng::with_seed(11);
    // URL → (depth, order of first queueing): the queue's own order within an origin.
    let mut model: BTreeMap<String, (u32, u64)> = BTreeMap::new();
    let mut parked: Vec<Lease> = Vec::new();
    let mut held: Vec<Lease> = Vec::new();
    let mut leases = Leases::default();
    let mut ids: BTreeMap<u32, OriginId> = BTreeMap::new();
    let (mut next, mut order) = (0u32, 0u64);
    let url = |o: u32, i: u32| format!("http://h{o}.test/p/{i}");
    for step in 0..800 {
        match rng.u8(0..10) {
            0..=3 => {
                let o = rng.u32(0..3);
                let (i, depth) = match rng.u8(0..3) {
                    0 if next > 0 => (rng.u32(0..next), rng.u32(0..6)),
                    _ => {
                        next += 1;
                        (next - 1, rng.u32(0..6))
                    }
                };
                let u = url(o, i);
                let added = add_candidates(&s, &[cand(&u, depth)]).unwrap();
                let is_held = held.iter().chain(&parked).any(|l| l.entry.url == u);
                let ever = is_seen(&s, &u).unwrap();
                match model.get_mut(&u) {
                    Some((d, _)) if depth < *d && !is_held => *d = depth,
                    Some(_) => {}
                    None if added.is_empty() => assert!(ever, "step {step}: {u} lost"),
                    None => {
                        order += 1;
                        model.insert(u.clone(), (depth, order));
                        ids.insert(o, added[0].origin_id);
                    }
                }
            }
            4..=5 => {
                let Some((&o, &id)) = ids.iter().nth(rng.usize(0..ids.len().max(1))) else {
                    continue;
                };
                let prefix = format!("http://h{o}.test/");
                let want = model
                    .iter()
                    .filter(|(u, _)| u.starts_with(&prefix))
                    .filter(|(u, _)| !held.iter().chain(&parked).any(|l| &l.entry.url == *u))
                    .min_by_key(|(_, k)| **k)
                    .map(|(u, (d, _))| (u.clone(), *d));
                let got = lease(&s, id, &mut leases).unwrap();
                assert_eq!(
                    got.as_ref().map(|l| (l.entry.url.clone(), l.entry.depth)),
                    want,
                    "step {step}: lease of h{o}"
                );
                held.extend(got);
            }
            6..=7 if !held.is_empty() => {
                let l = held.swap_remove(rng.usize(0..held.len()));
                settle(&s, &l, &record(&l.entry.url), b"body", &[], None).unwrap();
                leases.release(&l.key);
                model.remove(&l.entry.url);
            }
            8 if !held.is_empty() => {
                let l = held.swap_remove(rng.usize(0..held.len()));
                if rng.bool() {
                    delay(&s, &l, 1, None).unwrap();
                    parked.push(l.clone());
                } else {
                    requeue(&s, &l, &HostRecord::default()).unwrap();
                }
                leases.release(&l.key);
            }
            9 if !parked.is_empty() => {
                release_due(&s, 2).unwrap();
                parked.clear();
            }
            _ => {}
        }
        let mut queued: Vec<String> = s
            .queue_set()
            .iter()
            .unwrap()
            .map(|kv| kv.unwrap().1.url)
            .collect();
        queued.sort();
        let mut want: Vec<String> = model
            .keys()
            .filter(|u| !parked.iter().any(|l| &l.entry.url == *u))
            .cloned()
            .collect();
        want.sort();
        assert_eq!(queued, want, "step {step}");
        assert_eq!(recount(&s).unwrap(), s.counters().unwrap(), "step {step}");
    }
    // Reopened, it holds the same queue (the log replays what no checkpoint folded yet).
    let before: Vec<_> = s
        .queue_set()
        .iter()
        .unwrap()
        .map(|kv| kv.unwrap())
        .collect();
    let path = s.path().to_path_buf();
    drop(s);
    let s = Store::open(&path, OpenMode::Existing).unwrap();
    let after: Vec<_> = s
        .queue_set()
        .iter()
        .unwrap()
        .map(|kv| kv.unwrap())
        .collect();
    assert_eq!(before, after);
}

/// A cut chunk stops what reads it with an error naming it and the way out; `repair` then
/// removes just that chunk: the other origin's URLs stay queued, the counters agree with the
/// queue, and the lost URLs are no longer seen, so finding one again queues it.
#[test]
fn a_damaged_queue_chunk_is_named_and_repair_drops_only_its_urls() {
    let s = open("chunk-damage");
    let a: Vec<String> = (0..10).map(|i| format!("http://a.test/{i}")).collect();
    let b: Vec<String> = (0..10).map(|i| format!("http://b.test/{i}")).collect();
    let added = add_candidates(&s, &cands(&a, 1)).unwrap();
    add_candidates(&s, &cands(&b, 1)).unwrap();
    s.queue_set().checkpoint().unwrap();
    let chunks = s.db.open_tree("queue_chunks").unwrap();
    assert_eq!(chunks.len(), 2, "one chunk per origin");
    let (k, v) = chunks.iter().next().unwrap().unwrap();
    let mut bad = v.to_vec();
    bad.truncate(bad.len() / 2);
    chunks.insert(k, bad).unwrap();
    drop(chunks);
    let err = lease(&s, added[0].origin_id, &mut Leases::default()).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("queue chunk of origin #") && msg.contains("at depth 1"),
        "{msg}"
    );
    assert!(msg.contains("politecrawl repair --db"), "{msg}");
    assert!(queued_by_origin(&s).is_err());

    let path = s.path().to_path_buf();
    drop(s);
    let s = Store::open(&path, OpenMode::Repair).unwrap();
    let queued: Vec<String> = s
        .queue_set()
        .iter()
        .unwrap()
        .map(|kv| kv.unwrap().1.url)
        .collect();
    assert_eq!(queued, b, "only the damaged chunk's URLs are gone");
    assert_eq!(recount(&s).unwrap(), s.counters().unwrap());
    assert!(
        !is_seen(&s, &a[3]).unwrap(),
        "a lost URL can be found again"
    );
    assert!(is_seen(&s, &b[3]).unwrap());
    let again = add_candidates(&s, &cands(&a[3..4], 2)).unwrap();
    assert_eq!(again.len(), 1, "found again, it is queued again");
    assert_eq!(recount(&s).unwrap(), s.counters().unwrap());
}

#[test]
fn a_crawl_refuses_a_run_with_a_flipped_byte_at_open_and_status_still_opens() {
    let d = std::env::temp_dir().join(format!("pc-frontier-verify-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    {
        let s = Store::open(&d, OpenMode::CreateOrOpen).unwrap();
        let urls: Vec<String> = (0..500).map(|i| format!("http://a.test/{i}")).collect();
        add_candidates(&s, &cands(&urls, 1)).unwrap();
        s.checkpoint().unwrap();
    }
    let run = std::fs::read_dir(d.join(crate::frontier::sled::seen::DIR))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&run).unwrap();
    // Inside the second block: no lookup has read it, only the check at open can see it.
    bytes[48 + 4096 + 100] ^= 0x20;
    std::fs::write(&run, &bytes).unwrap();
    let err = Store::open(&d, OpenMode::CreateOrOpen).err().unwrap();
    assert!(
        matches!(&err, Error::SeenRun { reason, .. } if reason.contains("block 1 fails its checksum")),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&run).unwrap(),
        bytes,
        "the run is left as it was"
    );
    assert!(
        Store::open(&d, OpenMode::Existing).is_ok(),
        "status does not read blocks"
    );
}

#[test]
fn a_damaged_page_log_is_an_error_naming_the_file_and_is_not_modified() {
    let (s, _, l) = seed_and_lease("pagelog");
    settle(&s, &l, &record("http://a.test/"), b"body", &[], None).unwrap();
    s.flush().unwrap();
    let seg = s
        .path()
        .join(crate::store::page_log::DIR)
        .join("00000001.seg");
    let good = std::fs::read(&seg).unwrap();
    // A flipped byte inside the record: reading the records names the file and the offset.
    let mut flipped = good.clone();
    flipped[12] ^= 0xff;
    std::fs::write(&seg, &flipped).unwrap();
    let err = s.pages().find_map(|r| r.err()).expect("an error");
    let msg = err.to_string();
    assert!(
        msg.contains("00000001.seg") && msg.contains("byte 0") && msg.contains("checksum"),
        "{msg}"
    );
    // Cut short with nothing in `recent` to explain it (not a power loss): a crawl refuses to
    // start rather than append after the hole, and leaves the file as it found it.
    std::fs::write(&seg, &good[..good.len() - 3]).unwrap();
    let err = recover_bodies(&s).unwrap_err().to_string();
    assert!(
        err.contains("00000001.seg") && err.contains("end at byte"),
        "{err}"
    );
    assert_eq!(std::fs::read(&seg).unwrap(), &good[..good.len() - 3]);
}

#[test]
fn a_recheck_lost_in_a_power_cut_goes_back_as_the_same_recheck() {
    use crate::store::rounds::Round;
    use crate::store::versions::{Change, Prior, Revisit, Version};
    let (s, a, l) = seed_and_lease("powercut-recheck");
    settle(&s, &l, &record("http://a.test/"), b"one!", &[], None).unwrap();
    let first = s.find_page("http://a.test/").unwrap().unwrap();
    let seg = s
        .path()
        .join(crate::store::bodies::DIR)
        .join("00000001.seg");
    let before = std::fs::metadata(&seg).unwrap().len();
    let revisit = Revisit {
        round: 1,
        prev_us: first.stored_at_us.unwrap(),
        content_us: first.stored_at_us.unwrap(),
        version: 1,
        content_date: "2026-12-01T00:00:00Z".into(),
        prior: Prior::of(&first),
        etag: Some("\"e\"".into()),
        last_modified: None,
        digest: Some(crate::store::versions::sha1(b"one!")),
        body: None,
        interval_s: 60,
    };
    let mut entry = l.entry.clone();
    entry.revisit = Some(Box::new(revisit.clone()));
    let mut round = Round {
        number: 1,
        planned: true,
        ..Round::default()
    };
    round.tally.queued = 1;
    queue_rechecks(&s, &[entry], &round).unwrap();
    let recheck = lease(&s, a, &mut Leases::default()).unwrap().unwrap();
    assert_eq!(recheck.entry.revisit.as_deref(), Some(&revisit));
    let mut changed = record("http://a.test/");
    changed.version = Some(Version {
        number: 2,
        change: Change::Changed,
        round: 1,
        prev_us: Some(revisit.prev_us),
        content_us: Some(revisit.content_us),
        content_date: Some(revisit.content_date.clone()),
        digest: Some(crate::store::versions::sha1(b"two!")),
        interval_s: Some(60),
        prior: Some(revisit.prior.clone()),
    });
    settle(&s, &recheck, &changed, b"two!", &[], None).unwrap();
    let c = s.counters().unwrap();
    assert_eq!(
        (c.done, c.queued, c.bytes),
        (1, 0, 8),
        "one URL, both bodies"
    );
    assert_eq!(s.round().unwrap().unwrap().tally.changed, 1);

    // The new version's body did not reach the disk.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(before)
        .unwrap();
    assert_eq!(recover_bodies(&s).unwrap(), 1);
    let c = s.counters().unwrap();
    assert_eq!((c.done, c.queued, c.bytes), (1, 1, 4));
    assert_eq!(recount(&s).unwrap(), c);
    let t = s.round().unwrap().unwrap().tally;
    assert_eq!((t.checked, t.changed, t.left()), (0, 0, 1));
    let again = lease(&s, a, &mut Leases::default()).unwrap().unwrap();
    let back = again.entry.revisit.expect("queued again as a recheck");
    assert_eq!(
        (
            back.version,
            back.prev_us,
            back.content_us,
            back.prior.status
        ),
        (1, revisit.prev_us, revisit.content_us, Some(200))
    );
    assert_eq!(again.key[0] & 0x80, 0x80, "in the origin's recheck queue");
}
