//! Queueing a recrawl round's rechecks (see [`crate::recrawl`]): each batch with the round's
//! progress in one transaction, so a planning cut short by a crash goes on from where its
//! last batch ended, and no page is queued twice.

use sled::transaction::Transactional;

use super::tally::host_round;
use super::{origin_id_tx, read_counters, write_counters, Prefetch, QueueEntry, QueueTx};
use crate::error::Result;
use crate::frontier::entry::{queue_key, RECHECKS};
use crate::store::rounds::{Round, KEY_ROUND};
use crate::store::{encode, origin_of_url, Store};

/// Queues `batch` (entries carrying their revisit) in their origins' recheck queues and saves
/// `round` (its cursor and counts already moved past the batch), all in one transaction.
pub fn queue_rechecks(store: &Store, batch: &[QueueEntry], round: &Round) -> Result<()> {
    let mut qs = store.queue_set();
    let pre = Prefetch::default();
    let trees = (
        &store.meta,
        &store.queue_log,
        &store.origins,
        &store.recrawl_hosts,
    );
    let (qkey, ops) = trees
        .transaction(|(meta, log, origins, hosts)| {
            let mut c = read_counters(meta)?;
            let mut queue = QueueTx::new(&qs, &pre, log);
            for e in batch {
                let origin = origin_of_url(&e.url);
                let id = origin_id_tx(origins, &origin)?;
                let key = queue_key(id | RECHECKS, e.depth, queue.next_seq()?);
                queue.insert(key, e.clone());
                c.queued += 1;
                let mut host = host_round(hosts, &origin, round.number)?;
                host.tally.queued += 1;
                hosts.insert(origin.as_bytes(), encode(&host))?;
            }
            write_counters(meta, &c)?;
            meta.insert(KEY_ROUND, encode(round))?;
            queue.finish()
        })
        .map_err(|e| store.tx_err("queueing rechecks", e))?;
    store.queue_committed(&mut qs, qkey, ops)
}
