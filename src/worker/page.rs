//! Fetching a page: the request, the record of whatever happened, and the body written to the
//! segments (on a blocking thread) before the outcome goes to the engine.

use std::sync::Arc;
use std::time::SystemTime;

use url::Url;

use super::discover::discover;
use super::{failed_record, PageOutcome, WorkerContext};
use crate::frontier::Lease;
use crate::runtime::run_blocking;
use crate::store::bodies::BodyRef;

/// Fetches a page and turns whatever happens into an outcome.
pub(super) async fn fetch_page(ctx: &Arc<WorkerContext>, lease: Lease, url: Url) -> PageOutcome {
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
            let (found, written) = discover(ctx, &url, entry, &mut fetched, &mut record).await;
            record.elapsed_ms = fetched.elapsed.as_millis() as u64;
            record.status = Some(fetched.status);
            record.http_version = fetched.http_version.map(str::to_string);
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

/// Writes a body on a blocking thread (see [`crate::store::bodies`]).
async fn write_body(ctx: &WorkerContext, body: Vec<u8>) -> std::io::Result<Option<BodyRef>> {
    if body.is_empty() {
        return Ok(None);
    }
    let log = Arc::clone(&ctx.bodies);
    run_blocking(move || log.append(&body).map(Some)).await
}
