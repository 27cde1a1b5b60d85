//! Fetching an origin's robots.txt: up to five redirects (each hop waits at the send gate of the
//! host it goes to, with this origin's gap), the verdict per RFC 9309 by status, and the rules parsed off the executor.

use std::sync::Arc;
use std::time::Duration;

use url::Url;

use super::job::wait_for_send_slot;
use super::{RobotsOutcome, WorkerContext};
use crate::canon;
use crate::failure::{ErrorKind, Failure};
use crate::fetch::SendOptions;
use crate::frontier::OriginId;
use crate::robots::{self, Policy};
use crate::runtime::run_blocking;
use crate::sendgate::gate_key;
use crate::store::RobotsVerdict;

/// Fetches `origin/robots.txt`, following up to five redirects (each hop waits at the send
/// gate of the host it goes to, with this origin's gap), and reads its verdict per RFC 9309. `None`: nothing was sent, as
/// this process may no longer send to the origin (see [`crate::sendgate`]).
pub(super) async fn fetch_robots(
    ctx: &Arc<WorkerContext>,
    origin_id: OriginId,
    origin: String,
    gap: Duration,
    keep_alive: bool,
) -> Option<RobotsOutcome> {
    let start = std::time::Instant::now();
    let mut out = RobotsOutcome {
        origin_id,
        origin: origin.clone(),
        verdict: Err(unreachable(String::new())),
        body: Vec::new(),
        policy: None,
        elapsed: Duration::ZERO,
    };
    let Ok(mut url) = Url::parse(&format!("{origin}/robots.txt")) else {
        out.verdict = Err(unreachable(format!("{origin} has no robots.txt URL")));
        return Some(out);
    };
    let mut hops = 0;
    let mut ticket = wait_for_send_slot(ctx, origin_id, gate_key(&origin), gap).await?;
    out.verdict = loop {
        let send = SendOptions {
            departure: ticket.departure(),
            keep_alive,
        };
        let f = match ctx
            .fetcher
            .get_capped(&url, robots::MAX_BYTES, &[], send)
            .await
        {
            Ok(f) => f,
            // RFC 9309 2.3.1.2: a redirect not followed leaves robots.txt unavailable, which
            // allows everything. A hop into an address the crawl may not reach is one such.
            Err(e) if hops > 0 && e.failure.kind == ErrorKind::PrivateAddress => {
                break Ok(RobotsVerdict::AllowAll {
                    reason: format!(
                        "robots.txt redirects to {url}, not followed: {}",
                        e.failure.message
                    ),
                })
            }
            Err(e) => break Err(e.failure),
        };
        if (300..400).contains(&f.status) {
            let next = f.header("location").and_then(|l| canon::resolve(&url, l));
            let Some(next) = next.filter(|_| hops < robots::MAX_REDIRECTS) else {
                break Ok(RobotsVerdict::AllowAll {
                    reason: format!(
                        "robots.txt redirects more than {} times",
                        robots::MAX_REDIRECTS
                    ),
                });
            };
            hops += 1;
            // Every hop waits at the send gate of the host it goes to, with this origin's gap
            // (the target's own Crawl-delay is not known yet), so it is spaced from the crawl's
            // own requests there (an `http://` robots.txt moved to `https://` is the usual case);
            // the fetcher refuses a private address and sends credential headers only to the
            // seeds' origins, wherever the hop leads.
            drop(ticket);
            let target = gate_key(&canon::origin_key(&next));
            ticket = wait_for_send_slot(ctx, origin_id, target, gap).await?;
            url = next;
            continue;
        }
        match robots::verdict_for_status(f.status) {
            Some(v @ RobotsVerdict::Rules { .. }) => {
                let (body, token) = (f.body, ctx.token.clone());
                let (policy, body) =
                    run_blocking(move || (Policy::parse(&body, &token), body)).await;
                out.policy = Some(policy);
                out.body = body;
                break Ok(v);
            }
            Some(v) => {
                out.policy = Some(Policy::allow_all());
                break Ok(v);
            }
            None => break Err(unreachable(format!("robots.txt answered {}", f.status))),
        }
    };
    out.elapsed = start.elapsed();
    Some(out)
}

/// A robots.txt that gave no verdict for another reason than the network (5xx, 429, no URL).
fn unreachable(message: String) -> Failure {
    Failure {
        kind: ErrorKind::HttpStatus,
        message,
    }
}
