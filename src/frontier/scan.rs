//! Reading the frontier: origin names, origins with queued work (a chunk at a time, for a
//! resume), per-origin counts, seen-set membership, and totals recounted from the trees.

use std::collections::BTreeMap;

use super::{origin_of_key, OriginId};
use crate::error::Result;
use crate::store::versions::History;
use crate::store::{origin_of_url, Breakdown, Counters, HostTally, Store, UrlState};

/// The origin an id stands for.
pub fn origin_name(store: &Store, id: OriginId) -> Result<String> {
    Ok(store
        .origin_by_id(id)?
        .unwrap_or_else(|| format!("origin#{id}")))
}

/// A chunk of origins with queued work (id, origin) and where the scan continues.
pub type OriginScan = (Vec<(OriginId, String)>, Option<OriginId>);

/// Up to `max` origins with queued work, from origin id `from` up, and the id to continue
/// from (`None`: no more). One seek per origin found (a skip-scan of the queue's origin
/// prefixes), so a resume reads them a chunk at a time as it needs them instead of scanning
/// the whole queue before its first request.
pub fn origins_with_work(store: &Store, from: OriginId, max: usize) -> Result<OriginScan> {
    let mut out = Vec::new();
    let mut from = from;
    let queue = store.queue_set();
    while out.len() < max {
        let Some(id) = queue.next_origin(from)? else {
            return Ok((out, None));
        };
        let host = crate::frontier::entry::host_of(id);
        if !out.iter().any(|(h, _)| *h == host) {
            out.push((host, origin_name(store, host)?));
        }
        match id.checked_add(1) {
            Some(n) => from = n,
            None => return Ok((out, None)),
        }
    }
    Ok((out, Some(from)))
}

/// Queued URLs per origin, counted over the whole queue (for tests and checks; start-up uses
/// [`origins_with_work`]).
pub fn queued_by_origin(store: &Store) -> Result<BTreeMap<OriginId, (String, u64)>> {
    let mut counts: BTreeMap<OriginId, u64> = BTreeMap::new();
    for kv in store.queue_set().iter()? {
        let (k, _) = kv?;
        if let Some(id) = origin_of_key(&k) {
            *counts
                .entry(crate::frontier::entry::host_of(id))
                .or_default() += 1;
        }
    }
    counts
        .into_iter()
        .map(|(id, n)| Ok((id, (origin_name(store, id)?, n))))
        .collect()
}

/// Whether `url` was ever queued in this database.
pub fn is_seen(store: &Store, url: &str) -> Result<bool> {
    let fp = crate::frontier::entry::key_of(url);
    Ok(store.seen_set().lookup(fp)?.is_some())
}

/// Counters recomputed from the trees, for checking that the kept totals are right: each URL
/// counted once, by its current content (see [`History`]); bytes of every record.
pub fn recount(store: &Store) -> Result<Counters> {
    let mut c = Counters {
        queued: store.count_queued()?,
        ..Counters::default()
    };
    let history = History::read(store.stored())?;
    for rec in store.pages() {
        let rec = rec?;
        c.bytes += rec.body_len;
        if !history.is_current(&rec) {
            continue;
        }
        match rec.state {
            UrlState::Done => c.done += 1,
            UrlState::Failed => c.failed += 1,
            UrlState::Blocked => c.blocked += 1,
        }
    }
    Ok(c)
}

/// Outcomes of requests (done or failed) stored for URLs of `origin`, at most `up_to`: its
/// tally (see [`crate::store::HostTally`]), for `--max-pages-per-host`.
pub fn stored_pages(store: &Store, origin: &str, up_to: u64) -> Result<u64> {
    Ok(store.host_tally(origin)?.requests.min(up_to))
}

/// The breakdown and per-origin tallies recomputed from the page records, for checking that
/// the kept ones are right (compare with [`Store::breakdown`] and [`Store::host_tallies`]).
pub fn recount_tallies(store: &Store) -> Result<(Breakdown, BTreeMap<String, HostTally>)> {
    let mut breakdown = Breakdown::default();
    let mut tallies: BTreeMap<String, HostTally> = BTreeMap::new();
    let history = History::read(store.stored())?;
    for rec in store.pages() {
        let rec = rec?;
        if !history.is_current(&rec) {
            continue;
        }
        breakdown.count(&rec, true);
        tallies
            .entry(origin_of_url(&rec.url))
            .or_default()
            .count(&rec, true);
    }
    Ok((breakdown, tallies))
}
