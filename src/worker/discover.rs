//! Discovery: the URLs a response leads to — an HTML page's links, a sitemap's entries, a
//! redirect's target — kept when in scope and within `--max-depth`, and the record's state.

use std::sync::Arc;

use url::Url;

use super::WorkerContext;
use crate::canon;
use crate::copies::Sign;
use crate::extract;
use crate::failure::{ErrorKind, Failure};
use crate::fetch::Fetched;
use crate::frontier::{Candidate, QueueEntry, SitemapRole};
use crate::store::bodies::BodyRef;
use crate::store::{PageRecord, UrlState};

/// What a parse job hands back: the URLs found, the body's place when the job wrote it, and
/// the sign of a 2xx page's body (see [`crate::copies`]).
pub(super) type Parsed = (
    Vec<Candidate>,
    Option<std::io::Result<Option<BodyRef>>>,
    Option<Sign>,
);

/// Reads a sitemap's URLs, at most `--max-links` of them (the rest are counted on the
/// record): pages one level deeper than the sitemap, the sitemaps an index lists at its depth
/// with the role its level gives them (see [`SitemapRole`]). Only in-scope URLs are kept.
async fn read_sitemap(
    ctx: &Arc<WorkerContext>,
    url: &Url,
    entry: &QueueEntry,
    f: &mut Fetched,
    record: &mut PageRecord,
) -> Vec<Candidate> {
    // The body moves to the parse thread and comes back, rather than being copied.
    let (body, base, ctx2) = (std::mem::take(&mut f.body), url.clone(), Arc::clone(ctx));
    let (depth, child) = (entry.depth, entry.sitemap.child());
    let (found, dropped, body) = ctx
        .parse_pool
        .run(move || {
            let map = crate::sitemap::read(&body, ctx2.max_links);
            let referrer = Some(base.to_string());
            let pages = map.pages.iter().map(|u| (u, depth + 1, SitemapRole::Page));
            let maps = map.sitemaps.iter().map(|u| (u, depth, child));
            let found = pages
                .chain(maps)
                .filter(|(_, d, role)| role.is_sitemap() || ctx2.max_depth.is_none_or(|m| *d <= m))
                .filter_map(|(u, d, role)| {
                    let u = canon::resolve(&base, u).filter(|u| followed(&ctx2, u, &base, d))?;
                    Some(Candidate {
                        url: u,
                        depth: d,
                        referrer: referrer.clone(),
                        sitemap: role,
                        redirect_chain: Vec::new(),
                    })
                })
                .collect();
            (found, map.dropped, body)
        })
        .await;
    f.body = body;
    record.links_dropped = dropped;
    found
}

/// Sets the record's state from the status and returns the URLs the response leads to: a
/// sitemap's entries, a redirect's target, or an HTML page's links.
pub(super) async fn discover(
    ctx: &Arc<WorkerContext>,
    url: &Url,
    entry: &QueueEntry,
    f: &mut Fetched,
    record: &mut PageRecord,
) -> Parsed {
    let status = f.status;
    if entry.sitemap.is_sitemap() && (200..300).contains(&status) {
        record.state = UrlState::Done;
        return (read_sitemap(ctx, url, entry, f, record).await, None, None);
    }
    if status >= 400 {
        record.state = UrlState::Failed;
        record.error = Some(Failure {
            kind: ErrorKind::HttpStatus,
            message: format!("the server answered {status}"),
        });
        return (Vec::new(), None, None);
    }
    record.state = UrlState::Done;
    if (300..400).contains(&status) {
        return (
            redirect(ctx, url, entry, f.header("location"), record),
            None,
            None,
        );
    }
    let child_depth = entry.depth + 1;
    if let Some(max) = ctx.max_depth.filter(|m| child_depth > *m) {
        if extract::is_html(f.header("content-type")) {
            ctx.skips
                .too_deep(url, entry.referrer.as_deref(), entry.depth, max);
        }
        return (Vec::new(), None, None);
    }
    // `Link: <…>; rel=next` (and canonical, alternate, prev) count like links, on any response.
    let link_headers = f
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("link"));
    let targets = extract::link_header_targets(link_headers.map(|(_, v)| v.as_str()));
    record.links_dropped = targets.len().saturating_sub(ctx.max_links) as u64;
    let mut links: Vec<Url> = targets
        .into_iter()
        .take(ctx.max_links)
        .filter_map(|t| canon::resolve(url, t))
        .collect();
    let content_type = f.header("content-type").map(str::to_string);
    let html = extract::is_html(content_type.as_deref());
    if !html || f.body.is_empty() {
        return (candidates(ctx, links, child_depth, url), None, None);
    }
    let page = url.clone();
    // The body moves to the parse thread and comes back, rather than being copied.
    let body = std::mem::take(&mut f.body);
    let ctx2 = Arc::clone(ctx);
    // The body is written on the same parse thread, sparing a second hop off the executor.
    let ok = (200..300).contains(&status);
    let (found, dropped, body, written, sign) = ctx
        .parse_pool
        .run(move || {
            let written = ctx2.bodies.append(&body).map(Some);
            let text = crate::charset::decode_html(&body, content_type.as_deref());
            let mut sign = ok.then(|| Sign::of(&body, Some(&text)));
            // Link headers first; the page's links fill what is left of --max-links.
            let room = ctx2.max_links.saturating_sub(links.len());
            let page_links = extract::extract_links_at_most(&text, &page, ctx2.requisites, room);
            if let Some(sign) = sign.as_mut() {
                sign.canonical = page_links.canonical;
            }
            drop(text);
            links.extend(page_links.links);
            let found = candidates(&ctx2, links, child_depth, &page);
            (found, page_links.dropped, body, written, sign)
        })
        .await;
    f.body = body;
    record.links_dropped += dropped;
    (found, Some(written), sign)
}

/// The in-scope ones of `links` found on `page`, as candidates at `depth` (duplicates are
/// dropped by the engine's seen-set).
fn candidates(ctx: &WorkerContext, links: Vec<Url>, depth: u32, page: &Url) -> Vec<Candidate> {
    let referrer = page.to_string();
    links
        .into_iter()
        .filter(|u| followed(ctx, u, page, depth))
        .map(|url| Candidate {
            url,
            depth,
            referrer: Some(referrer.clone()),
            sitemap: SitemapRole::Page,
            redirect_chain: Vec::new(),
        })
        .collect()
}

/// Whether the scope follows `url`, found on `page` at `depth`; a URL it refuses goes to the
/// skip report with the reason.
fn followed(ctx: &WorkerContext, url: &Url, page: &Url, depth: u32) -> bool {
    match ctx.scope.check(url) {
        Ok(()) => true,
        Err(why) => {
            ctx.skips.refused(&ctx.scope, url, why, page, depth);
            false
        }
    }
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
    if !followed(ctx, &target, url, entry.depth) {
        return Vec::new();
    }
    // A redirected sitemap is still a sitemap, at the same level.
    vec![Candidate {
        url: target,
        depth: entry.depth,
        referrer: Some(url.to_string()),
        sitemap: entry.sitemap,
        redirect_chain: chain,
    }]
}
