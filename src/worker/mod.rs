//! One URL's journey from lease to outcome: fetch it, decide its state, and find the URLs it
//! leads to (links of an HTML page, or a redirect's target). The outcome goes back to the
//! engine, which stores it; workers never touch the database.

mod discover;
mod job;
mod page;
mod robots_txt;

use std::sync::Arc;

use job::wait_for_send_slot;
pub use job::{failed_record, Job, Outcome, PageOutcome, RobotsOutcome, WorkerContext};
use page::fetch_page;
use robots_txt::fetch_robots;

/// Runs a job. Never fails: a URL that cannot be fetched is a failed record, an unreachable
/// robots.txt a verdict.
pub async fn process(ctx: &Arc<WorkerContext>, job: Job) -> Outcome {
    match job {
        Job::Page {
            lease,
            url,
            gap,
            keep_alive,
        } => {
            let key = crate::sendgate::gate_key(&crate::canon::origin_key(&url));
            let Some(ticket) = wait_for_send_slot(ctx, lease.origin_id, key, gap).await else {
                return Outcome::NotSent {
                    origin_id: lease.origin_id,
                    lease: Some(lease),
                };
            };
            let page = fetch_page(ctx, lease, url, ticket, keep_alive).await;
            if page.record.status.is_none() && client_stopped(ctx) {
                return Outcome::NotSent {
                    origin_id: page.lease.origin_id,
                    lease: Some(page.lease),
                };
            }
            Outcome::Page(Box::new(page))
        }
        Job::Robots {
            origin_id,
            origin,
            gap,
            keep_alive,
        } => match fetch_robots(ctx, origin_id, origin, gap, keep_alive).await {
            Some(out) if out.verdict.is_ok() || !client_stopped(ctx) => Outcome::Robots(out),
            _ => Outcome::NotSent {
                origin_id,
                lease: None,
            },
        },
    }
}

/// Whether the HTTP client has stopped for good; if so, asks the crawl to stop (as SIGTERM
/// would), so what is left stays queued for the next run rather than failing here.
fn client_stopped(ctx: &WorkerContext) -> bool {
    let stopped = ctx.fetcher.stopped().is_some();
    if stopped {
        ctx.stop.request(libc::SIGTERM);
    }
    stopped
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use url::Url;

    use super::*;
    use crate::failure::ErrorKind;
    use crate::frontier::{Lease, QueueEntry};
    use crate::store::UrlState;

    #[test]
    fn a_panicking_job_still_answers_its_lease() {
        let entry = QueueEntry {
            url: "http://a.test/x".into(),
            depth: 2,
            referrer: None,
            attempts: 1,
            sitemap: crate::frontier::SitemapRole::Page,
            redirect_chain: vec![],
            revisit: None,
        };
        let job = Job::Page {
            lease: Lease {
                key: [0; 20],
                origin_id: 7,
                entry,
                more: false,
            },
            url: Url::parse("http://a.test/x").unwrap(),
            gap: Duration::ZERO,
            keep_alive: true,
        };
        match job.internal_error() {
            Outcome::Page(o) => {
                assert_eq!(o.lease.origin_id, 7);
                assert_eq!(
                    (o.record.state, o.record.attempts, o.record.depth),
                    (UrlState::Failed, 2, 2)
                );
                assert_eq!(o.record.error.unwrap().kind, ErrorKind::Other);
            }
            o => panic!("{o:?}"),
        }
        let robots = Job::Robots {
            origin_id: 3,
            origin: "http://a.test".into(),
            gap: Duration::ZERO,
            keep_alive: true,
        };
        assert!(matches!(
            robots.internal_error(),
            Outcome::Robots(RobotsOutcome {
                verdict: Err(_),
                ..
            })
        ));
    }
}
