//! Start-up recovery: bodies written just before a crash that never reached the disk send their
//! URLs back to the queue, as if their outcomes had never been stored.

use sled::transaction::Transactional;

use super::{
    origin_id_tx, push_tx, read_counters, write_counters, Prefetch, QueueEntry, QueueTx, SeenWrites,
};
use url::Url;

use crate::canon;
use crate::error::Result;
use crate::store::{Store, UrlState};

/// Checks the bodies written just before the last stop (the `recent` tree, see
/// [`crate::store::bodies`]) and sends every URL whose body did not reach the disk back to the queue,
/// as if its outcome had never been stored. Run at start-up; returns how many went back.
pub fn recover_bodies(store: &Store) -> Result<u64> {
    let recent: Vec<(sled::IVec, sled::IVec)> = store
        .recent
        .iter()
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| store.db_err("reading recent bodies", e))?;
    let mut lost = Vec::new();
    for (_, url) in &recent {
        let url = String::from_utf8_lossy(url).into_owned();
        let Some(r) = store.body_ref(&url)? else {
            continue;
        };
        if !store.body_log.is_intact(&r) {
            if let Some(rec) = store.page(&url)? {
                lost.push((rec, r));
            }
        }
    }
    let mut seen = store.seen_set();
    let mut qs = store.queue_set();
    let pre = Prefetch::default();
    let (key, writes, (qkey, ops)) = store
        .outcome_trees()
        .transaction(|(meta, inbox, log, origins, pages, bodies, _, recent_tx)| {
            let mut c = read_counters(meta)?;
            let mut writes = SeenWrites::default();
            let mut queue = QueueTx::new(&qs, &pre, log);
            for (rec, r) in &lost {
                log::warn!(
                    "{}: its body did not reach the disk; fetching it again",
                    rec.url
                );
                pages.remove(rec.url.as_bytes())?;
                bodies.remove(rec.url.as_bytes())?;
                match rec.state {
                    UrlState::Done => c.done = c.done.saturating_sub(1),
                    UrlState::Failed => c.failed = c.failed.saturating_sub(1),
                    UrlState::Blocked => c.blocked = c.blocked.saturating_sub(1),
                }
                c.bytes = c.bytes.saturating_sub(r.len);
                let entry = QueueEntry {
                    url: rec.url.clone(),
                    depth: rec.depth,
                    referrer: rec.referrer.clone(),
                    attempts: rec.attempts,
                    sitemap: false,
                    redirect_chain: rec.redirect_chain.clone(),
                };
                let origin = Url::parse(&rec.url)
                    .map(|u| canon::origin_key(&u))
                    .unwrap_or_default();
                let origin_id = origin_id_tx(origins, &origin)?;
                push_tx(&mut queue, &mut writes, origin_id, &entry, &mut c)?;
            }
            for (k, _) in &recent {
                recent_tx.remove(k)?;
            }
            write_counters(meta, &c)?;
            Ok((writes.write(inbox)?, writes, queue.finish()?))
        })
        .map_err(|e| store.tx_err("re-queueing URLs whose bodies were lost", e))?;
    store.queue_committed(&mut qs, qkey, ops)?;
    store.seen_committed(&mut seen, key, &writes.entries)?;
    Ok(lost.len() as u64)
}
