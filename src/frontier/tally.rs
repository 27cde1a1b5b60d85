//! The totals kept beside the page records, changed in the transaction that stores (or, at
//! recovery, un-stores) a record: the counters, the breakdowns `status` shows, each origin's
//! tally, and the end of the committed page log.

use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use super::TxResult;
use crate::store::bodies::BodyRef;
use crate::store::page_log::{Span, KEY_SPAN};
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
