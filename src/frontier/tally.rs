//! The totals kept beside the page records, changed in the transaction that stores (or, at
//! recovery, un-stores) a record: the counters, the breakdowns `status` shows, each origin's
//! tally, and the end of the committed page log.

use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use super::TxResult;
use crate::store::bodies::BodyRef;
use crate::store::page_log::{Span, KEY_SPAN};
use crate::store::rounds::{counted_in, HostRound, Round, KEY_ROUND};
use crate::store::{
    decode, encode, origin_of_url, Breakdown, Counters, HostTally, PageRecord, UrlState,
    KEY_BREAKDOWN,
};

/// The breakdown and span of one transaction, read at its start and written at its end.
pub(super) struct Tallies {
    breakdown: Breakdown,
    span: Span,
}

impl Tallies {
    pub(super) fn read(meta: &TransactionalTree) -> TxResult<Tallies> {
        let breakdown = match meta.get(KEY_BREAKDOWN)? {
            Some(v) => decode("meta/breakdown", &v).map_err(ConflictableTransactionError::Abort)?,
            None => Breakdown::default(),
        };
        let span = match meta.get(KEY_SPAN)? {
            Some(v) => {
                decode("meta/pages_span", &v).map_err(ConflictableTransactionError::Abort)?
            }
            None => Span::default(),
        };
        Ok(Tallies { breakdown, span })
    }

    /// Counts a record in (`add`) or out of every total.
    pub(super) fn count(
        &mut self,
        host_pages: &TransactionalTree,
        rec: &PageRecord,
        body: Option<&BodyRef>,
        c: &mut Counters,
        add: bool,
    ) -> TxResult<()> {
        let n = match rec.state {
            UrlState::Done => &mut c.done,
            UrlState::Failed => &mut c.failed,
            UrlState::Blocked => &mut c.blocked,
        };
        let len = body.map_or(0, |b| b.len);
        if add {
            *n += 1;
            c.bytes += len;
        } else {
            *n = n.saturating_sub(1);
            c.bytes = c.bytes.saturating_sub(len);
        }
        self.breakdown.count(rec, add);
        let origin = origin_of_url(&rec.url);
        let mut tally: HostTally = match host_pages.get(origin.as_bytes())? {
            Some(v) => decode(&origin, &v).map_err(ConflictableTransactionError::Abort)?,
            None => HostTally::default(),
        };
        tally.count(rec, add);
        host_pages.insert(origin.as_bytes(), encode(&tally))?;
        Ok(())
    }

    /// Writes the breakdown, and the page log's committed end as `end`.
    pub(super) fn write(&mut self, meta: &TransactionalTree, end: (u32, u64)) -> TxResult<()> {
        self.span.end = end;
        meta.insert(KEY_BREAKDOWN, encode(&self.breakdown))?;
        meta.insert(KEY_SPAN, encode(&self.span))?;
        Ok(())
    }
}

/// The latest recrawl round's counts, read at a transaction's start and written at its end
/// when a record counted in it.
pub(super) struct RoundTallies {
    round: Option<Round>,
    changed: bool,
}

impl RoundTallies {
    pub(super) fn read(meta: &TransactionalTree) -> TxResult<RoundTallies> {
        let round = match meta.get(KEY_ROUND)? {
            Some(v) => Some(
                decode("meta/recrawl_round", &v).map_err(ConflictableTransactionError::Abort)?,
            ),
            None => None,
        };
        Ok(RoundTallies {
            round,
            changed: false,
        })
    }

    /// Counts a stored record in the round (and its origin's counts) when it belongs to it.
    pub(super) fn count(&mut self, hosts: &TransactionalTree, rec: &PageRecord) -> TxResult<()> {
        self.count_by(hosts, rec, true)
    }

    /// [`RoundTallies::count`] in (`add`) or out.
    pub(super) fn count_by(
        &mut self,
        hosts: &TransactionalTree,
        rec: &PageRecord,
        add: bool,
    ) -> TxResult<()> {
        let Some(round) = self.round.as_mut() else {
            return Ok(());
        };
        let Some(change) = counted_in(rec, round.number) else {
            return Ok(());
        };
        round.tally.count_by(change, add);
        self.changed = true;
        let origin = origin_of_url(&rec.url);
        let mut host = host_round(hosts, &origin, round.number)?;
        host.tally.count_by(change, add);
        hosts.insert(origin.as_bytes(), encode(&host))?;
        Ok(())
    }

    pub(super) fn write(&self, meta: &TransactionalTree) -> TxResult<()> {
        if let (true, Some(r)) = (self.changed, &self.round) {
            meta.insert(KEY_ROUND, encode(r))?;
        }
        Ok(())
    }
}

/// An origin's counts in round `number` (empty when its saved ones are of an earlier round).
pub(super) fn host_round(
    hosts: &TransactionalTree,
    origin: &str,
    number: u32,
) -> TxResult<HostRound> {
    let saved: Option<HostRound> = match hosts.get(origin.as_bytes())? {
        Some(v) => Some(decode(origin, &v).map_err(ConflictableTransactionError::Abort)?),
        None => None,
    };
    Ok(saved.filter(|h| h.round == number).unwrap_or(HostRound {
        round: number,
        ..HostRound::default()
    }))
}
