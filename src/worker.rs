//! One URL's journey from lease to outcome: fetch it, decide its state, and find the URLs it
//! leads to (links of an HTML page, or a redirect's target). The outcome goes back to the
//! engine, which stores it; workers never touch the database.

use std::sync::Arc;
use std::time::SystemTime;

use url::Url;

use crate::canon::{self, Scope};
use crate::crawl::run_blocking;
use crate::extract;
use crate::fetch::{Fetched, Fetcher};
use crate::frontier::{Candidate, Lease, QueueEntry};
use crate::store::{ErrorKind, Failure, PageRecord, UrlState};

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
}

/// A leased URL handed to a worker.
#[derive(Debug)]
pub struct Job {
    /// The frontier lease (settled by the engine with the outcome).
    pub lease: Lease,
    /// The parsed URL.
    pub url: Url,
}

/// What a worker hands back for the engine to store in one transaction.
#[derive(Debug)]
pub struct Outcome {
    /// The lease this settles.
    pub lease: Lease,
    /// The page record.
    pub record: PageRecord,
    /// The body to store.
    pub body: Vec<u8>,
    /// In-scope URLs found, not yet deduplicated.
    pub found: Vec<Candidate>,
}

/// Fetches a job's URL and turns whatever happens into an outcome. Never fails: a URL that
/// cannot be fetched is a failed record, not an error.
pub async fn process(ctx: &Arc<WorkerContext>, job: Job) -> Outcome {
    let mut record = failed_record(&job.lease.entry, None);
    record.attempts += 1;
    let entry = &job.lease.entry;
    let result = ctx.fetcher.get(&job.url).await;
    record.fetched_at = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
    let (body, found) = match result {
        Err(e) => {
            record.elapsed_ms = e.elapsed.as_millis() as u64;
            record.error = Some(e.failure);
            (Vec::new(), Vec::new())
        }
        Ok(fetched) => {
            let found = follow(ctx, &job.url, entry.depth, &fetched, &mut record).await;
            record.elapsed_ms = fetched.elapsed.as_millis() as u64;
            record.status = Some(fetched.status);
            record.content_type = fetched.header("content-type").map(str::to_string);
            record.body_len = fetched.body.len() as u64;
            record.truncated = fetched.truncated;
            record.headers = fetched.headers;
            (fetched.body, found)
        }
    };
    Outcome {
        lease: job.lease,
        record,
        body,
        found,
    }
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
        fetched_at: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
        elapsed_ms: 0,
        depth: entry.depth,
        referrer: entry.referrer.clone(),
        attempts: entry.attempts,
        error: failure,
    }
}

/// Sets the record's state from the status and returns the URLs the response leads to.
async fn follow(
    ctx: &Arc<WorkerContext>,
    url: &Url,
    depth: u32,
    f: &Fetched,
    record: &mut PageRecord,
) -> Vec<Candidate> {
    let status = f.status;
    if status >= 400 {
        record.state = UrlState::Failed;
        record.error = Some(Failure {
            kind: ErrorKind::HttpStatus,
            message: format!("the server answered {status}"),
        });
        return Vec::new();
    }
    record.state = UrlState::Done;
    if (300..400).contains(&status) {
        // A redirect is not a link: its target keeps the depth of the URL that pointed to it.
        let Some(target) = f.header("location").and_then(|l| canon::resolve(url, l)) else {
            return Vec::new();
        };
        record.final_url = target.to_string();
        if !ctx.scope.allows(&target) {
            return Vec::new();
        }
        return vec![Candidate {
            url: target,
            depth,
            referrer: Some(url.to_string()),
        }];
    }
    let child_depth = depth + 1;
    let html = extract::is_html(f.header("content-type"));
    if !html || f.body.is_empty() || ctx.max_depth.is_some_and(|m| child_depth > m) {
        return Vec::new();
    }
    let _slot = ctx.parse_slots.acquire().await;
    let page = url.clone();
    let text = String::from_utf8_lossy(&f.body).into_owned();
    let ctx2 = Arc::clone(ctx);
    run_blocking(move || {
        extract::extract_links(&text, &page)
            .links
            .into_iter()
            .filter(|u| ctx2.scope.allows(u))
            .map(|u| Candidate {
                url: u,
                depth: child_depth,
                referrer: Some(page.to_string()),
            })
            .collect()
    })
    .await
}
