//! Fetching a page: the request, the record of whatever happened, and the body written to the
//! segments (on a parse thread, or a blocking one when nothing is parsed) before the outcome
//! goes to the engine. A recheck (`--recrawl`) asks conditionally and stores nothing new when
//! the answer is the same.

use std::sync::Arc;

use url::Url;

use super::discover::discover;
use super::{failed_record, PageOutcome, WorkerContext};
use crate::copies::Sign;
use crate::fetch::{Fetched, SendOptions};
use crate::frontier::Lease;
use crate::recrawl::{conditional_headers, recheck_outcome, Answer};
use crate::runtime::run_blocking;
use crate::sendgate::SendTicket;
use crate::store::bodies::BodyRef;
use crate::store::versions::{sha1, Revisit};
use crate::store::{PageRecord, UrlState};

/// Fetches a page and turns whatever happens into an outcome.
pub(super) async fn fetch_page(
    ctx: &Arc<WorkerContext>,
    lease: Lease,
    url: Url,
    ticket: SendTicket,
    keep_alive: bool,
) -> PageOutcome {
    let mut record = failed_record(&lease.entry, None);
    record.attempts += 1;
    let entry = &lease.entry;
    let revisit = entry.revisit.as_deref();
    let conditional = revisit.map(conditional_headers).unwrap_or_default();
    let send = SendOptions {
        departure: ticket.departure(),
        keep_alive,
    };
    let result = ctx.fetcher.get_with(&url, &conditional, send).await;
    drop(ticket);
    record.fetched_at = humantime::format_rfc3339_millis(ctx.clock.wall()).to_string();
    let (body, found, sign) = match result {
        Err(e) => {
            record.elapsed_ms = e.elapsed.as_millis() as u64;
            if e.failure.kind == crate::failure::ErrorKind::PrivateAddress {
                // Refused before anything was sent, as robots.txt refuses a URL.
                record.state = UrlState::Blocked;
            }
            record.error = Some(e.failure);
            if let Some(r) = revisit {
                let old = old_digest(ctx, r).await;
                recheck_outcome(r, &mut record, None, (None, old), &ctx.recheck);
            }
            (Ok(None), Vec::new(), None)
        }
        Ok(mut fetched) => {
            describe(&mut record, &fetched);
            let answer = match revisit {
                Some(r) => Some(answer(ctx, r, &mut fetched).await),
                None => None,
            };
            if let Some((r, a @ (Answer::NotModified | Answer::Same), digests)) = answer {
                // Nothing new to store or follow: a check of the version it confirms.
                record.state = UrlState::Done;
                record.status = Some(fetched.status);
                record.headers = fetched.headers;
                recheck_outcome(r, &mut record, Some(a), digests, &ctx.recheck);
                return PageOutcome {
                    lease,
                    record,
                    body: Ok(None),
                    found: Vec::new(),
                    sign: None,
                };
            }
            let (found, written, sign) =
                discover(ctx, &url, entry, &mut fetched, &mut record).await;
            record.body_len = fetched.body.len() as u64;
            record.headers = fetched.headers;
            if let Some((r, a, digests)) = answer {
                recheck_outcome(r, &mut record, Some(a), digests, &ctx.recheck);
            }
            // A body the parse did not see (not HTML) is signed where it is written.
            let wants_sign = sign.is_none() && (200..300).contains(&fetched.status);
            let (body, sign) = match written {
                Some(written) => (written, sign),
                None => write_body(ctx, fetched.body, wants_sign).await,
            };
            (body, found, sign)
        }
    };
    PageOutcome {
        lease,
        record,
        body,
        found,
        sign,
    }
}

/// Copies what every response says into the record (state, error and links come later).
fn describe(record: &mut PageRecord, f: &Fetched) {
    record.elapsed_ms = f.elapsed.as_millis() as u64;
    record.status = Some(f.status);
    record.http_version = f.http_version.map(str::to_string);
    record.ip = f.ip.map(|ip| ip.to_string());
    record.content_type = f.header("content-type").map(str::to_string);
    record.truncated = f.truncated;
    record.body_skipped = f.body_skipped;
}

/// What a recheck's response says, with (its payload's digest, the checked content's digest).
async fn answer<'r>(
    ctx: &WorkerContext,
    r: &'r Revisit,
    f: &mut Fetched,
) -> (&'r Revisit, Answer, (Option<[u8; 20]>, Option<[u8; 20]>)) {
    let old = old_digest(ctx, r).await;
    if f.status == 304 {
        return (r, Answer::NotModified, (None, old));
    }
    // Hashing runs beside the parse threads, the body moving there and back uncopied.
    let body = std::mem::take(&mut f.body);
    let (digest, body) = run_blocking(move || (sha1(&body), body)).await;
    f.body = body;
    (r, Answer::of(r, f.status, digest, old), (Some(digest), old))
}

/// The digest of the content a recheck checks: known, or computed from its stored body (the
/// first recheck of a first capture).
async fn old_digest(ctx: &WorkerContext, r: &Revisit) -> Option<[u8; 20]> {
    if r.digest.is_some() {
        return r.digest;
    }
    let body = r.body?;
    let log = Arc::clone(&ctx.bodies);
    match run_blocking(move || log.read(&body)).await {
        Ok(bytes) => Some(sha1(&bytes)),
        Err(e) => {
            log::warn!("reading a stored body to compare a recheck with: {e}");
            None
        }
    }
}

/// Writes a body on a blocking thread (see [`crate::store::bodies`]), with its sign when
/// asked.
async fn write_body(
    ctx: &WorkerContext,
    body: Vec<u8>,
    sign: bool,
) -> (std::io::Result<Option<BodyRef>>, Option<Sign>) {
    if body.is_empty() {
        return (Ok(None), None);
    }
    let log = Arc::clone(&ctx.bodies);
    run_blocking(move || {
        let sign = sign.then(|| Sign::of(&body, None));
        (log.append(&body).map(Some), sign)
    })
    .await
}
