//! One URL's journey from lease to outcome: fetch it, decide its state, and find the URLs it
//! leads to (links of an HTML page, or a redirect's target). The outcome goes back to the
//! engine, which stores it; workers never touch the database.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use url::Url;

use crate::canon::{self, Scope};
use crate::extract;
use crate::failure::{ErrorKind, Failure};
use crate::fetch::{Fetched, Fetcher};
use crate::frontier::{Candidate, Lease, OriginId, QueueEntry};
use crate::robots::{self, Policy};
use crate::runtime::{run_blocking, sleep};
use crate::store::bodies::{BodyLog, BodyRef};
use crate::store::{PageRecord, RobotsVerdict, UrlState};

/// What every worker shares: the one HTTP client, the scope, and the parse gate.
pub struct WorkerContext {
    /// The shared client (one connection pool).
    pub fetcher: Fetcher,
    /// Which discovered URLs are followed.
    pub scope: Scope,
    /// Links deeper than this are not followed.
    pub max_depth: Option<u32>,
    /// Bounds parse jobs in flight so parsing cannot starve fetching of CPU.
    pub parse_slots: async_lock::Semaphore,
    /// robots.txt product token.
    pub token: String,
    /// Redirect hops followed from one URL.
    pub max_redirects: usize,
    /// Keeps each origin's gap at the moment requests are sent.
    pub send_gate: crate::sendgate::SendGate,
    /// Where bodies are written, before their outcome goes to the engine.
    pub bodies: Arc<BodyLog>,
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
    },
    /// Fetch an origin's robots.txt.
    Robots {
        /// The origin's id.
        origin_id: OriginId,
        /// The origin, e.g. `http://example.com`.
        origin: String,
        /// Gap to keep between redirect hops to the same origin.
        gap: Duration,
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
                }))
            }
            Job::Robots {
                origin_id, origin, ..
            } => Outcome::Robots(RobotsOutcome {
                origin_id: *origin_id,
                origin: origin.clone(),
                verdict: Err(message.into()),
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
}

/// How a robots.txt fetch ended.
#[derive(Debug)]
pub struct RobotsOutcome {
    /// The origin's id.
    pub origin_id: OriginId,
    /// The origin.
    pub origin: String,
    /// Rules or allow-all; `Err` with the reason when unreachable.
    pub verdict: Result<RobotsVerdict, String>,
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
}

/// Runs a job. Never fails: a URL that cannot be fetched is a failed record, an unreachable
/// robots.txt a verdict.
pub async fn process(ctx: &Arc<WorkerContext>, job: Job) -> Outcome {
    match job {
        Job::Page { lease, url, gap } => {
            wait_for_send_slot(ctx, lease.origin_id, gap).await;
            Outcome::Page(Box::new(fetch_page(ctx, lease, url).await))
        }
        Job::Robots {
            origin_id,
            origin,
            gap,
        } => Outcome::Robots(fetch_robots(ctx, origin_id, origin, gap).await),
    }
}

/// Waits until this origin's previous request left at least `gap` ago (see
/// [`crate::sendgate`]); immediate unless the executor stalled after the hand-out.
async fn wait_for_send_slot(ctx: &WorkerContext, origin: OriginId, gap: Duration) {
    while let Err(wait) = ctx
        .send_gate
        .try_send(origin, gap, std::time::Instant::now())
    {
        sleep(wait).await;
    }
}

/// Fetches `origin/robots.txt`, following up to five redirects (a hop back to the same origin
/// keeps the origin's gap), and reads its verdict per RFC 9309.
async fn fetch_robots(
    ctx: &Arc<WorkerContext>,
    origin_id: OriginId,
    origin: String,
    gap: Duration,
) -> RobotsOutcome {
    let start = std::time::Instant::now();
    let mut out = RobotsOutcome {
        origin_id,
        origin: origin.clone(),
        verdict: Err(String::new()),
        body: Vec::new(),
        policy: None,
        elapsed: Duration::ZERO,
    };
    let Ok(mut url) = Url::parse(&format!("{origin}/robots.txt")) else {
        out.verdict = Err(format!("{origin} has no robots.txt URL"));
        return out;
    };
    let mut hops = 0;
    wait_for_send_slot(ctx, origin_id, gap).await;
    out.verdict = loop {
        let f = match ctx.fetcher.get_capped(&url, robots::MAX_BYTES).await {
            Ok(f) => f,
            Err(e) => break Err(e.failure.message),
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
            if canon::origin_key(&next) == canon::origin_key(&url) {
                sleep(gap).await;
            }
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
            None => break Err(format!("robots.txt answered {}", f.status)),
        }
    };
    out.elapsed = start.elapsed();
    out
}

/// Fetches a page and turns whatever happens into an outcome.
async fn fetch_page(ctx: &Arc<WorkerContext>, lease: Lease, url: Url) -> PageOutcome {
    let mut record = failed_record(&lease.entry, None);
    record.attempts += 1;
    let entry = &lease.entry;
    let result = ctx.fetcher.get(&url).await;
    record.fetched_at = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
    let (body, found) = match result {
        Err(e) => {
            record.elapsed_ms = e.elapsed.as_millis() as u64;
            record.error = Some(e.failure);
            (Ok(None), Vec::new())
        }
        Ok(mut fetched) => {
            let (found, written) = if entry.sitemap {
                read_sitemap(ctx, &url, entry, &mut fetched, &mut record).await
            } else {
                follow(ctx, &url, entry, &mut fetched, &mut record).await
            };
            record.elapsed_ms = fetched.elapsed.as_millis() as u64;
            record.status = Some(fetched.status);
            record.content_type = fetched.header("content-type").map(str::to_string);
            record.body_len = fetched.body.len() as u64;
            record.truncated = fetched.truncated;
            record.body_skipped = fetched.body_skipped;
            record.headers = fetched.headers;
            let body = match written {
                Some(written) => written,
                None => write_body(ctx, fetched.body).await,
            };
            (body, found)
        }
    };
    PageOutcome {
        lease,
        record,
        body,
        found,
    }
}

/// What a parse job hands back: the URLs found, and the body's place when the job wrote it.
type Parsed = (Vec<Candidate>, Option<std::io::Result<Option<BodyRef>>>);

/// Writes a body on a blocking thread (see [`crate::store::bodies`]).
async fn write_body(ctx: &WorkerContext, body: Vec<u8>) -> std::io::Result<Option<BodyRef>> {
    if body.is_empty() {
        return Ok(None);
    }
    let log = Arc::clone(&ctx.bodies);
    run_blocking(move || log.append(&body).map(Some)).await
}

/// A record for a queued entry that has not (yet) got a response: failed, with `failure` when
/// known. Attempts are the entry's; the caller adds the request it makes.
pub fn failed_record(entry: &QueueEntry, failure: Option<Failure>) -> PageRecord {
    PageRecord {
        url: entry.url.clone(),
        final_url: entry.url.clone(),
        state: UrlState::Failed,
        status: None,
        headers: Vec::new(),
        content_type: None,
        body_len: 0,
        truncated: false,
        body_skipped: false,
        redirect_chain: entry.redirect_chain.clone(),
        fetched_at: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
        elapsed_ms: 0,
        depth: entry.depth,
        referrer: entry.referrer.clone(),
        attempts: entry.attempts,
        error: failure,
    }
}

/// Reads a sitemap's URLs: pages one level deeper than the sitemap, nested sitemaps at its
/// depth. Only in-scope URLs are kept.
async fn read_sitemap(
    ctx: &Arc<WorkerContext>,
    url: &Url,
    entry: &QueueEntry,
    f: &mut Fetched,
    record: &mut PageRecord,
) -> Parsed {
    if !(200..300).contains(&f.status) {
        return follow(ctx, url, entry, f, record).await;
    }
    record.state = UrlState::Done;
    let depth = entry.depth;
    // The body moves to the parse thread and comes back, rather than being copied.
    let (body, base, ctx2) = (std::mem::take(&mut f.body), url.clone(), Arc::clone(ctx));
    let _slot = ctx.parse_slots.acquire().await;
    let (found, body) = run_blocking(move || {
        let Ok(xml) = crate::sitemap::decode(&body) else {
            return (Vec::new(), body);
        };
        let map = crate::sitemap::parse(&xml);
        let referrer = Some(base.to_string());
        let pages = map.pages.iter().map(|u| (u, depth + 1, false));
        let maps = map.sitemaps.iter().map(|u| (u, depth, true));
        let found = pages
            .chain(maps)
            .filter(|(_, d, is_map)| *is_map || ctx2.max_depth.is_none_or(|m| *d <= m))
            .filter_map(|(u, d, is_map)| {
                let u = canon::resolve(&base, u).filter(|u| ctx2.scope.allows(u))?;
                Some(Candidate {
                    url: u,
                    depth: d,
                    referrer: referrer.clone(),
                    sitemap: is_map,
                    redirect_chain: Vec::new(),
                })
            })
            .collect();
        (found, body)
    })
    .await;
    f.body = body;
    (found, None)
}

/// Sets the record's state from the status and returns the URLs the response leads to.
async fn follow(
    ctx: &Arc<WorkerContext>,
    url: &Url,
    entry: &QueueEntry,
    f: &mut Fetched,
    record: &mut PageRecord,
) -> Parsed {
    let status = f.status;
    if status >= 400 {
        record.state = UrlState::Failed;
        record.error = Some(Failure {
            kind: ErrorKind::HttpStatus,
            message: format!("the server answered {status}"),
        });
        return (Vec::new(), None);
    }
    record.state = UrlState::Done;
    if (300..400).contains(&status) {
        return (
            redirect(ctx, url, entry, f.header("location"), record),
            None,
        );
    }
    let child_depth = entry.depth + 1;
    let content_type = f.header("content-type").map(str::to_string);
    let html = extract::is_html(content_type.as_deref());
    if !html || f.body.is_empty() || ctx.max_depth.is_some_and(|m| child_depth > m) {
        return (Vec::new(), None);
    }
    let _slot = ctx.parse_slots.acquire().await;
    let page = url.clone();
    // The body moves to the parse thread and comes back, rather than being copied.
    let body = std::mem::take(&mut f.body);
    let ctx2 = Arc::clone(ctx);
    // The body is written on the same blocking thread, sparing a second hop off the executor.
    let (found, body, written) = run_blocking(move || {
        let written = ctx2.bodies.append(&body).map(Some);
        let text = crate::charset::decode_html(&body, content_type.as_deref());
        let referrer = page.to_string();
        let found = extract::extract_links(&text, &page)
            .links
            .into_iter()
            .filter(|u| ctx2.scope.allows(u))
            .map(|u| Candidate {
                url: u,
                depth: child_depth,
                referrer: Some(referrer.clone()),
                sitemap: false,
                redirect_chain: Vec::new(),
            })
            .collect();
        drop(text);
        (found, body, written)
    })
    .await;
    f.body = body;
    (found, Some(written))
}

/// A 3xx: its target is queued like a link (same depth: a redirect is not a link hop), carrying
/// the chain so far, unless the chain loops, grows past `--max-redirects`, or leaves http(s).
fn redirect(
    ctx: &WorkerContext,
    url: &Url,
    entry: &QueueEntry,
    location: Option<&str>,
    record: &mut PageRecord,
) -> Vec<Candidate> {
    let Some(location) = location.map(str::trim).filter(|l| !l.is_empty()) else {
        return Vec::new(); // a 3xx without Location (e.g. 304) is just a response
    };
    let mut fail = |kind: ErrorKind, message: String| {
        record.state = UrlState::Failed;
        record.error = Some(Failure { kind, message });
        Vec::new()
    };
    let joined = match url.join(location) {
        Ok(u) => u,
        Err(e) => {
            return fail(
                ErrorKind::UnsupportedRedirect,
                format!("Location {location:?}: {e}"),
            )
        }
    };
    record.final_url = joined.to_string();
    let Some(target) = canon::normalize(joined) else {
        let msg = format!("redirect to {location:?} not followed (only http and https are)");
        return fail(ErrorKind::UnsupportedRedirect, msg);
    };
    record.final_url = target.to_string();
    let mut chain = entry.redirect_chain.clone();
    chain.push(url.to_string());
    if chain.iter().any(|u| u == target.as_str()) {
        let msg = format!(
            "{target} is already in this chain of {} redirects",
            chain.len()
        );
        return fail(ErrorKind::RedirectLoop, msg);
    }
    if chain.len() > ctx.max_redirects {
        let msg = format!("more than {} redirects in a row", ctx.max_redirects);
        return fail(ErrorKind::TooManyRedirects, msg);
    }
    if !ctx.scope.allows(&target) {
        return Vec::new();
    }
    vec![Candidate {
        url: target,
        depth: entry.depth,
        referrer: Some(url.to_string()),
        sitemap: false,
        redirect_chain: chain,
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_job_still_answers_its_lease() {
        let entry = QueueEntry {
            url: "http://a.test/x".into(),
            depth: 2,
            referrer: None,
            attempts: 1,
            sitemap: false,
            redirect_chain: vec![],
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
