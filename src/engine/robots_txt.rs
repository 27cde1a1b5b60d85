//! The robots.txt life cycle of an origin, as the engine sees it: the fetch is started, its
//! verdict applied (rules, Crawl-delay, sitemaps) or its failure counted towards
//! `--robots-give-up`, and a saved verdict restored on resume while it is fresh.

use std::sync::Arc;
use std::time::Duration;

use super::Engine;
use crate::error::Result;
use crate::failure::ErrorKind;
use crate::fetch::tls;
use crate::frontier::{Candidate, OriginId, SitemapRole};
use crate::politeness::RobotsState;
use crate::retry;
use crate::robots::{self, Policy};
use crate::store::{RobotsRecord, RobotsVerdict};
use crate::worker::{Job, RobotsOutcome};

impl Engine<'_> {
    pub(super) fn start_robots(&mut self, id: OriginId) {
        let Some(slot) = self.sched.slot(id) else {
            return;
        };
        let job = Job::Robots {
            origin_id: id,
            origin: slot.origin.clone(),
            gap: slot.gap(),
            keep_alive: self.keep_alive(),
        };
        self.in_flight += 1;
        self.stats.robots_fetched += 1;
        let _ = self.jobs.try_send(job);
    }

    pub(super) fn on_robots(&mut self, o: RobotsOutcome) -> Result<()> {
        log::debug!("{}: robots.txt {:?}", o.origin, o.verdict);
        let id = o.origin_id;
        let now_ms = self.clock.unix_ms();
        let give_up = self.config.robots_give_up.as_millis() as u64;
        let record = match o.verdict {
            Ok(verdict) => {
                let policy = o.policy.unwrap_or_else(Policy::allow_all);
                if self.config.sitemaps {
                    self.queue_sitemaps(&policy.sitemaps)?;
                }
                let record = RobotsRecord {
                    fetched_at_ms: now_ms,
                    verdict,
                    body: o.body,
                    sitemaps: policy.sitemaps.clone(),
                    crawl_delay_ms: policy.crawl_delay.map(|d| d.as_millis() as u64),
                };
                self.apply_policy(id, policy, now_ms);
                record
            }
            Err(failure) => {
                let reason = failure.message;
                let Some(slot) = self.sched.slot(id) else {
                    return Ok(());
                };
                let (tries, since) = slot
                    .robots_failures
                    .map_or((1, now_ms), |(t, s)| (t + 1, s));
                // A failure that waiting does not heal (TLS, DNS, an invalid response: see
                // `retry::is_transient`) gives the host up after one retry (a handshake or a
                // lookup can fail once), not after --robots-give-up; a certificate that failed
                // its check (untrusted, expired, another name) at once. A 5xx or 429 waits it out.
                // A refused address is refused again: as final as a certificate.
                let certificate = matches!(
                    failure.kind,
                    ErrorKind::TlsUntrusted
                        | ErrorKind::TlsExpired
                        | ErrorKind::TlsNameMismatch
                        | ErrorKind::PrivateAddress
                );
                let lasting = failure.kind != ErrorKind::HttpStatus
                    && !retry::is_transient(failure.kind)
                    && (tries >= 2 || certificate);
                let verdict = if lasting {
                    let hint = match failure.kind {
                        ErrorKind::Tls
                        | ErrorKind::TlsUntrusted
                        | ErrorKind::TlsExpired
                        | ErrorKind::TlsNameMismatch => tls::hint(failure.kind),
                        _ => "it does not heal by waiting",
                    };
                    let reason = format!("robots.txt: {reason}; {hint}");
                    log::warn!(
                        "{}: {reason}: giving up, its queued URLs are recorded as failed ({})",
                        o.origin,
                        failure.kind.as_str()
                    );
                    RobotsVerdict::Failed {
                        kind: failure.kind,
                        reason,
                    }
                } else if now_ms.saturating_sub(since) >= give_up {
                    log::warn!(
                        "{}: robots.txt unreachable ({reason}), try {tries}: giving up, its \
                         queued URLs are recorded as failed (robots_unreachable)",
                        o.origin
                    );
                    let reason = format!("{reason}, unreachable since {}", rfc3339(since));
                    RobotsVerdict::GaveUp { reason }
                } else {
                    // Say what happens next: a mistyped or dead seed otherwise looks like a hang.
                    let delay = robots::retry_delay(tries);
                    let left_s = give_up.saturating_sub(now_ms.saturating_sub(since)) / 1000;
                    log::warn!(
                        "{}: robots.txt unreachable ({reason}), try {tries}; next try in {}, \
                         its URLs wait, and fail if it stays unreachable {} more \
                         (--robots-give-up)",
                        o.origin,
                        humantime::format_duration(delay),
                        humantime::format_duration(Duration::from_secs(left_s))
                    );
                    slot.robots_failures = Some((tries, since));
                    slot.robots = RobotsState::Unknown;
                    slot.pause_until = Some(self.clock.now() + delay);
                    RobotsVerdict::Unreachable {
                        reason,
                        since_ms: since,
                        tries,
                    }
                };
                let record = RobotsRecord {
                    fetched_at_ms: now_ms,
                    verdict,
                    body: Vec::new(),
                    sitemaps: Vec::new(),
                    crawl_delay_ms: None,
                };
                if let Some(policy) = Policy::from_record(&record, self.config.product_token()) {
                    self.apply_policy(id, policy, now_ms);
                }
                record
            }
        };
        self.frontier.put_robots(&o.origin, &record)?;
        self.sched.finished(id);
        Ok(())
    }

    /// Queues the in-scope sitemaps a robots.txt names (`--sitemaps`).
    pub(super) fn queue_sitemaps(&mut self, sitemaps: &[String]) -> Result<()> {
        let candidates: Vec<Candidate> = sitemaps
            .iter()
            .filter_map(|s| crate::canon::parse_seed(s).ok())
            .filter(|u| self.scope.allows(u))
            .map(|url| Candidate {
                url,
                depth: 0,
                referrer: None,
                sitemap: SitemapRole::Named,
                redirect_chain: Vec::new(),
            })
            .collect();
        for e in self.frontier.add(&candidates)? {
            self.add_work(e.origin_id, &e.origin, 1)?;
        }
        Ok(())
    }

    /// Puts a robots.txt policy fetched at `fetched_at_ms` in force for an origin, with its
    /// Crawl-delay (capped), until the verdict is a day old.
    pub(super) fn apply_policy(&mut self, id: OriginId, policy: Policy, fetched_at_ms: u64) {
        let max = self.config.max_crawl_delay;
        let age = Duration::from_millis(self.clock.unix_ms().saturating_sub(fetched_at_ms));
        let now = self.clock.now();
        if let Some(slot) = self.sched.slot(id) {
            slot.crawl_delay = policy.crawl_delay.unwrap_or_default().min(max);
            slot.robots_failures = None;
            slot.robots = RobotsState::Known(Arc::new(policy));
            slot.robots_expires = Some(now + robots::TTL.saturating_sub(age));
        }
        self.sched.reschedule(id);
    }

    /// Puts an origin's saved robots.txt verdict back in force when it is still fresh (a day),
    /// so a resume does not fetch robots.txt again; a saved unreachable streak keeps counting.
    pub(super) fn restore_robots(&mut self, id: OriginId, origin: &str) -> Result<()> {
        if self.config.ignore_robots {
            return Ok(());
        }
        let Some(rec) = self.frontier.robots(origin)? else {
            return Ok(());
        };
        if !robots::is_fresh(&rec, self.clock.unix_ms()) {
            return Ok(());
        }
        match Policy::from_record(&rec, self.config.product_token()) {
            Some(policy) => self.apply_policy(id, policy, rec.fetched_at_ms),
            None => {
                if let (
                    RobotsVerdict::Unreachable {
                        since_ms, tries, ..
                    },
                    Some(slot),
                ) = (&rec.verdict, self.sched.slot(id))
                {
                    slot.robots_failures = Some((*tries, *since_ms));
                }
            }
        }
        Ok(())
    }
}

fn rfc3339(unix_ms: u64) -> String {
    let t = std::time::UNIX_EPOCH + Duration::from_millis(unix_ms);
    humantime::format_rfc3339_seconds(t).to_string()
}
