//! What the engine and the workers say to each other ([`Job`], [`Outcome`]) and what every
//! worker shares ([`WorkerContext`]), with the helpers a page and a robots.txt fetch both use:
//! a leaf of `worker/`, so its parts take them without reaching back into the dispatch in
//! `worker/mod.rs`, which calls them.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use url::Url;

use crate::canon::Scope;
use crate::failure::{ErrorKind, Failure};
use crate::fetch::Fetcher;
use crate::frontier::{Candidate, Lease, OriginId, QueueEntry};
use crate::robots::Policy;
use crate::runtime::sleep;
use crate::sendgate::SendTicket;
use crate::store::bodies::{BodyLog, BodyRef};
use crate::store::{PageRecord, RobotsVerdict};

/// What every worker shares: the one HTTP client, the scope, and the parse gate.
pub struct WorkerContext {
    /// The shared client (one connection pool).
    pub fetcher: Fetcher,
    /// Which discovered URLs are followed.
    pub scope: Scope,
    /// Where the URLs not followed are sampled and counted, with why (see [`crate::skips`]).
    pub skips: crate::skips::SkipLog,
    /// Links deeper than this are not followed.
    pub max_depth: Option<u32>,
    /// Page requisites (images, scripts, stylesheets) are followed too (`--requisites`).
    pub requisites: bool,
    /// The parse jobs' threads, one per CPU: bounds parse jobs in flight so parsing cannot
    /// starve fetching of CPU, and keeps them on threads whose memory is warm (see
    /// [`crate::runtime::Pool`]).
    pub parse_pool: crate::runtime::Pool,
    /// robots.txt product token.
    pub token: String,
    /// Redirect hops followed from one URL.
    pub max_redirects: usize,
    /// URLs taken from one response (`--max-links`).
    pub max_links: usize,
    /// Keeps each origin's gap at the moment requests are sent.
    pub send_gate: crate::sendgate::SendGate,
    /// Where bodies are written, before their outcome goes to the engine.
    pub bodies: Arc<BodyLog>,
    /// How a recheck's answer times the page's next check (`--refresh`, `--older-than`).
    pub recheck: crate::recrawl::Schedule,
    /// The crawl's clock, for when a page was fetched (see [`crate::runtime::Clock`]).
    pub clock: crate::runtime::Clock,
    /// Raised when the HTTP client stops for good, so the crawl stops instead of failing every
    /// URL left (see [`Fetcher::stopped`]).
    pub stop: crate::shutdown::StopSignal,
}

/// Work handed to a worker.
#[derive(Debug)]
pub enum Job {
    /// Fetch a leased URL.
    Page {
        /// The frontier lease (settled by the engine with the outcome).
        lease: Lease,
        /// The parsed URL.
        url: Url,
        /// The origin's gap between request starts.
        gap: Duration,
        /// Whether the connection should go back to the pool. With more origins at work than
        /// the pool holds, every connection is evicted before its origin's next request, and
        /// curl walks the whole pool to evict one at each new connection: 10,000 origins ran
        /// at 2,500-2,900 pages/s that way. Then the server is asked to close it instead.
        keep_alive: bool,
    },
    /// Fetch an origin's robots.txt.
    Robots {
        /// The origin's id.
        origin_id: OriginId,
        /// The origin, e.g. `http://example.com`.
        origin: String,
        /// Gap to keep between redirect hops to the same origin.
        gap: Duration,
        /// As for a page.
        keep_alive: bool,
    },
}

impl Job {
    /// The outcome to report if processing this job panics: a failure, never a lost lease.
    pub fn internal_error(&self) -> Outcome {
        let message = "internal error while processing this URL (a bug: please report it)";
        match self {
            Job::Page { lease, .. } => {
                let failure = Failure {
                    kind: ErrorKind::Other,
                    message: message.into(),
                };
                let mut record = failed_record(&lease.entry, Some(failure));
                record.attempts += 1;
                Outcome::Page(Box::new(PageOutcome {
                    lease: lease.clone(),
                    record,
                    body: Ok(None),
                    found: Vec::new(),
                    sign: None,
                }))
            }
            Job::Robots {
                origin_id, origin, ..
            } => Outcome::Robots(RobotsOutcome {
                origin_id: *origin_id,
                origin: origin.clone(),
                verdict: Err(Failure {
                    kind: ErrorKind::Other,
                    message: message.into(),
                }),
                body: Vec::new(),
                policy: None,
                elapsed: Duration::ZERO,
            }),
        }
    }
}

/// What a worker hands back.
#[derive(Debug)]
pub enum Outcome {
    /// A page's outcome, stored in one transaction (boxed: it is the large variant, and
    /// outcomes move through a channel).
    Page(Box<PageOutcome>),
    /// A robots.txt fetch's outcome.
    Robots(RobotsOutcome),
    /// Nothing was sent: this process may no longer send to the origin (a shared crawl's
    /// shard lease ran out or moved). The lease, if any, ends unchanged.
    NotSent {
        /// The origin's id.
        origin_id: OriginId,
        /// The page's lease (none for robots.txt).
        lease: Option<Lease>,
    },
}

/// How a robots.txt fetch ended.
#[derive(Debug)]
pub struct RobotsOutcome {
    /// The origin's id.
    pub origin_id: OriginId,
    /// The origin.
    pub origin: String,
    /// Rules or allow-all; `Err` with what went wrong when unreachable.
    pub verdict: Result<RobotsVerdict, Failure>,
    /// The body, when it held rules.
    pub body: Vec<u8>,
    /// The parsed policy, when known.
    pub policy: Option<Policy>,
    /// Time the fetch took (all hops).
    pub elapsed: Duration,
}

/// A page fetch's outcome.
#[derive(Debug)]
pub struct PageOutcome {
    /// The lease this settles.
    pub lease: Lease,
    /// The page record.
    pub record: PageRecord,
    /// Where the body was written (none for an empty body); an error is a storage failure
    /// that stops the crawl.
    pub body: std::io::Result<Option<BodyRef>>,
    /// In-scope URLs found, not yet deduplicated.
    pub found: Vec<Candidate>,
    /// What a 2xx body is judged by (see [`crate::copies`]); none for other answers.
    pub sign: Option<crate::copies::Sign>,
}

/// Waits until the previous request to the origin `key` names left at least `gap` ago (see
/// [`crate::sendgate`]); immediate unless the executor stalled after the hand-out or the
/// previous request is still on its way out. The ticket goes with the request.
/// Returns `None`, sending nothing, once this process may no longer send for `origin` (the
/// frontier's origin whose job this is; `key` is another origin's for a robots.txt redirect).
pub(super) async fn wait_for_send_slot(
    ctx: &WorkerContext,
    origin: OriginId,
    key: crate::sendgate::GateKey,
    gap: Duration,
) -> Option<SendTicket> {
    loop {
        if !ctx.send_gate.permitted(origin) {
            return None;
        }
        match ctx.send_gate.try_send(key, gap, std::time::Instant::now()) {
            Ok(ticket) => return Some(ticket),
            Err(wait) => sleep(wait).await,
        }
    }
}

/// A record for a queued entry that has not (yet) got a response: failed, with `failure` when
/// known. Attempts are the entry's; the caller adds the request it makes.
pub fn failed_record(entry: &QueueEntry, failure: Option<Failure>) -> PageRecord {
    let mut record = PageRecord::blank(&entry.url);
    record.redirect_chain = entry.redirect_chain.clone();
    record.fetched_at = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
    record.depth = entry.depth;
    record.referrer = entry.referrer.clone();
    record.attempts = entry.attempts;
    record.error = failure;
    record
}
