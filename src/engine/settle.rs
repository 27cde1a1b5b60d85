//! Settling outcomes: a page's politeness lessons and retry verdict, retries re-queued or
//! parked, and final outcomes committed in batches (one transaction for many pages).

use std::time::{Duration, Instant};

use super::{Engine, COMMIT_EVERY, MAX_BATCH};
use crate::copies::Verdict as Judged;
use crate::error::{Error, Result};
use crate::frontier::{OriginId, Settlement};
use crate::politeness;
use crate::retry::{self, Verdict};
use crate::store::{HostRecord, UrlState};
use crate::worker::PageOutcome;

impl Engine<'_> {
    /// Takes a page outcome's politeness lessons and retry verdict; a retry is re-queued at
    /// once, a final outcome is returned for [`Engine::settle_pages`] with its host state.
    pub(super) fn on_page(
        &mut self,
        o: PageOutcome,
    ) -> Result<Option<(PageOutcome, Option<HostRecord>)>> {
        let id = o.lease.origin_id;
        let now = self.clock.now();
        let (cap, max_retry_after) = (
            self.config.per_host_concurrency,
            self.config.max_retry_after,
        );
        let verdict = retry::decide(&o.record, self.config.retries, fastrand::f64());
        let mut host = None;
        if let Some(slot) = self.sched.slot(id) {
            if let Some(status) = o.record.status {
                let latency = Duration::from_millis(o.record.elapsed_ms);
                slot.observe_latency(latency, cap, status < 400);
            }
            match (o.record.status.map(crate::http_status::acted_as), &verdict) {
                (Some(429 | 503), _) => {
                    let retry_after = header(&o.record.headers, "retry-after")
                        .and_then(|v| politeness::parse_retry_after(v, self.clock.wall()));
                    let until = slot.overloaded(now, retry_after, max_retry_after);
                    log::info!(
                        "{}: answered {} — pausing the host for {:?}",
                        slot.origin,
                        o.record.status.unwrap_or(0),
                        until.saturating_duration_since(now)
                    );
                }
                (Some(_), _) => slot.healthy(),
                (None, _) => {}
            }
            host = Some(slot.to_record(&self.clock));
        }
        match verdict {
            Verdict::HostOverloaded => {
                let rec = host.unwrap_or_default();
                self.frontier.requeue(&o.lease, &rec)?;
                self.pages_in_flight -= 1;
                self.retried(id, true)?;
                Ok(None)
            }
            Verdict::RetryAfter(wait) => {
                let due = self.clock.unix_ms() + wait.as_millis() as u64;
                self.frontier.delay(&o.lease, due, host.as_ref())?;
                self.pages_in_flight -= 1;
                self.next_due = Some(self.next_due.map_or(due, |d| d.min(due)));
                self.retried(id, false)?;
                Ok(None)
            }
            Verdict::Final => {
                // The request is over: the origin may start another while this outcome waits
                // for its commit (the URL stays leased until then).
                self.sched.finished(id);
                Ok(Some((o, host)))
            }
        }
    }

    /// Settles the waiting outcomes when they are due: [`MAX_BATCH`] of them, the oldest
    /// waiting [`COMMIT_EVERY`], or nothing else in flight. (The run loop also settles them at
    /// once when workers are idle for want of work.)
    pub(super) fn settle_due(&mut self) -> Result<()> {
        let due = self.pending.len() >= MAX_BATCH
            || self.in_flight == 0
            || self
                .pending_since
                .is_some_and(|t| self.clock.now().duration_since(t) >= COMMIT_EVERY);
        if due {
            self.settle_pending()?;
        }
        Ok(())
    }

    /// Settles every waiting outcome now.
    pub(super) fn settle_pending(&mut self) -> Result<()> {
        self.pending_since = None;
        let pages = std::mem::take(&mut self.pending);
        self.settle_pages(pages)
    }

    /// Stores final page outcomes that arrived together in one transaction, then frees their
    /// origins' slots and schedules the URLs they revealed.
    pub(super) fn settle_pages(
        &mut self,
        mut pages: Vec<(PageOutcome, Option<HostRecord>)>,
    ) -> Result<()> {
        if pages.is_empty() {
            return Ok(());
        }
        // A body that could not be written (disk full) stops the crawl: none of these is stored,
        // their URLs stay queued.
        if let Some(i) = pages.iter().position(|(o, _)| o.body.is_err()) {
            if let Err(cause) = pages.swap_remove(i).0.body {
                return Err(Error::Bodies {
                    path: self.dir.to_path_buf(),
                    action: "writing a page body",
                    cause,
                });
            }
        }
        for (o, _) in pages.iter_mut() {
            crate::recrawl::finish_record(&o.lease.entry, &mut o.record, self.round);
            let t = &mut self.stats.traps;
            match self.copies.judge(o, &mut *self.frontier, self.scope)? {
                Judged::Page => {}
                Judged::Duplicate => t.duplicate_content += 1,
                Judged::Soft404 => t.soft_404 += 1,
                Judged::Canonical => t.canonical += 1,
                Judged::Probe => {
                    t.soft_404_probes += 1;
                    continue;
                }
            }
            if o.lease.entry.revisit.is_none() {
                if let Ok(page) = url::Url::parse(&o.record.url) {
                    let skips = self.skips;
                    let depth = o.lease.entry.depth;
                    t.pattern_budget += self.shapes.filter(&page, &mut o.found, |c| {
                        if let Some(log) = skips {
                            log.pattern_budget(&c.url, &page, depth);
                        }
                    });
                    t.shapes_untracked = self.shapes.untracked;
                }
            }
        }
        let batch: Vec<Settlement<'_>> = pages
            .iter()
            .map(|(o, host)| Settlement {
                lease: &o.lease,
                record: &o.record,
                body: o.body.as_ref().ok().and_then(Option::as_ref),
                found: &o.found,
                host: host.as_ref(),
            })
            .collect();
        let added = self.frontier.settle(&batch)?;
        drop(batch);
        for ((o, _), added) in pages.iter().zip(added) {
            if let Some(slot) = self.sched.slot(o.lease.origin_id) {
                // Its outcome is in: it stays counted in `budget_used`, and no retry is left.
                slot.budget_counted.remove(&o.lease.key);
            }
            self.pages_in_flight -= 1;
            for e in added {
                self.add_work(e.origin_id, &e.origin, 1)?;
            }
            if o.lease.entry.revisit.is_some() {
                // A recheck stores no new page: `--max-pages` does not count it.
                self.stats.checked += 1;
                continue;
            }
            self.stats.stored += 1;
            self.stats.bytes += o
                .body
                .as_ref()
                .ok()
                .and_then(Option::as_ref)
                .map_or(0, |b| b.len);
            match o.record.state {
                UrlState::Done => self.stats.done += 1,
                _ => self.stats.failed += 1,
            }
        }
        Ok(())
    }

    /// A URL went back for another try: to the head of its origin's queue (`queued_now`), or
    /// parked until its back-off is over (it is counted when released).
    pub(super) fn retried(&mut self, id: OriginId, queued_now: bool) -> Result<()> {
        if let Some(slot) = self.sched.slot(id).filter(|_| queued_now) {
            slot.queued += 1;
        }
        self.stats.retried += 1;
        self.sched.finished(id);
        Ok(())
    }

    /// Puts parked retries whose time has come back in the queue.
    pub(super) fn release_due(&mut self) -> Result<()> {
        let now = self.clock.unix_ms();
        if self.next_due.is_none_or(|d| d > now) {
            return Ok(());
        }
        for (id, origin) in self.frontier.release_due(now)? {
            self.add_work(id, &origin, 1)?;
        }
        self.next_due = self.frontier.next_due()?;
        Ok(())
    }

    /// When the next parked retry is due, as an instant.
    pub(super) fn next_due_instant(&self) -> Option<Instant> {
        self.next_due.map(|d| {
            self.clock.now() + Duration::from_millis(d.saturating_sub(self.clock.unix_ms()))
        })
    }
}

fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}
