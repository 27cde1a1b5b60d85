//! Start-up recovery: page records or bodies written just before a crash that never reached
//! the disk send their URLs back to the queue, as if their outcomes had never been stored.

use sled::transaction::Transactional;

use super::settle::count_outcome;
use super::tally::{RoundTallies, Tallies};
use super::{
    origin_id_tx, push_tx, read_counters, write_counters, Prefetch, QueueEntry, QueueTx, SeenWrites,
};

use crate::error::{Error, Result};
use crate::frontier::entry::{queue_key, RECHECKS};
use crate::store::page_log::{decode_recent, StoredPage};
use crate::store::versions::Revisit;
use crate::store::{origin_of_url, Store};

/// Checks the pages stored just before the last stop (the `recent` tree, see
/// [`crate::store::page_log`]): their records against the page log and their bodies against
/// the body segments. From the first one that did not reach the disk whole, every later one
/// goes back to the queue (a power cut loses the last flush window; `kill -9` loses nothing
/// here), and the page log is cut back to it. Run at start-up; returns how many went back.
pub fn recover_bodies(store: &Store) -> Result<u64> {
    let recent: Vec<(sled::IVec, sled::IVec)> = store
        .recent
        .iter()
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| store.db_err("reading recent pages", e))?;
    let mut first_lost = None;
    for (i, (k, v)) in recent.iter().enumerate() {
        let pos = position(k)?;
        let page = decode_recent(v)?;
        let record_whole = store
            .page_log
            .payload_at(pos)
            .is_some_and(|p| p == v.as_ref());
        let body_whole = page.body.is_none_or(|b| store.body_log.is_intact(&b));
        if !(record_whole && body_whole) {
            first_lost = Some(i);
            break;
        }
    }
    let Some(first) = first_lost else {
        store.page_log.check_extent(store.path(), store.span()?)?;
        return Ok(0);
    };
    let cut = position(&recent[first].0)?;
    let lost: Vec<(&sled::IVec, StoredPage)> = recent[first..]
        .iter()
        .map(|(k, v)| Ok((k, decode_recent(v)?)))
        .collect::<Result<_>>()?;
    let mut seen = store.seen_set();
    let mut qs = store.queue_set();
    let pre = Prefetch::default();
    let (key, writes, (qkey, ops)) = store
        .outcome_trees()
        .transaction(
            |(meta, inbox, log, origins, host_pages, _, recent_tx, rounds)| {
                let mut c = read_counters(meta)?;
                let mut tallies = Tallies::read(meta)?;
                let mut round = RoundTallies::read(meta)?;
                let mut writes = SeenWrites::default();
                let mut queue = QueueTx::new(&qs, &pre, log);
                for (k, page) in &lost {
                    let rec = &page.record;
                    log::warn!(
                        "{}: its record or body did not reach the disk; fetching it again",
                        rec.url
                    );
                    recent_tx.remove(*k)?;
                    // A recheck's record goes back as the recheck it answered.
                    let revisit = rec
                        .version
                        .as_ref()
                        .filter(|v| v.prev_us.is_some())
                        .and_then(|_| Revisit::answered_by(rec));
                    let outcome = (rec, page.body.as_ref(), revisit.as_ref());
                    count_outcome(&mut tallies, host_pages, outcome, &mut c, false)?;
                    round.count_by(rounds, rec, false)?;
                    let entry = QueueEntry {
                        url: rec.url.clone(),
                        depth: rec.depth,
                        referrer: rec.referrer.clone(),
                        attempts: rec.attempts,
                        sitemap: super::SitemapRole::Page,
                        redirect_chain: rec.redirect_chain.clone(),
                        revisit: revisit.clone().map(Box::new),
                    };
                    let origin_id = origin_id_tx(origins, &origin_of_url(&rec.url))?;
                    if revisit.is_some() {
                        // Rechecks have their own queue and are in the seen-set already.
                        let key = queue_key(origin_id | RECHECKS, entry.depth, queue.next_seq()?);
                        queue.insert(key, entry);
                        c.queued += 1;
                    } else {
                        push_tx(&mut queue, &mut writes, origin_id, &entry, &mut c)?;
                    }
                }
                write_counters(meta, &c)?;
                tallies.write(meta, cut)?;
                round.write(meta)?;
                Ok((writes.write(inbox)?, writes, queue.finish()?))
            },
        )
        .map_err(|e| store.tx_err("re-queueing URLs whose pages were lost", e))?;
    store.queue_committed(&mut qs, qkey, ops)?;
    store.seen_committed(&mut seen, key, &writes.entries)?;
    drop((seen, qs));
    // The new end is on disk before the log is cut to it; were the cut lost, the next open
    // cuts there again.
    store.flush()?;
    store
        .page_log
        .truncate(cut)
        .map_err(|cause| Error::Bodies {
            path: store.path().to_path_buf(),
            action: "cutting back the page records lost in the last stop",
            cause,
        })?;
    store.page_log.check_extent(store.path(), store.span()?)?;
    Ok(lost.len() as u64)
}

/// The page-log position a `recent` key names.
fn position(key: &[u8]) -> Result<(u32, u64)> {
    let bad = || Error::Corrupt {
        key: "recent".into(),
        reason: format!("a key of {} bytes", key.len()),
    };
    let segment = u32::from_be_bytes(
        key.get(..4)
            .ok_or_else(bad)?
            .try_into()
            .map_err(|_| bad())?,
    );
    let offset = u64::from_be_bytes(
        key.get(4..12)
            .ok_or_else(bad)?
            .try_into()
            .map_err(|_| bad())?,
    );
    Ok((segment, offset))
}
