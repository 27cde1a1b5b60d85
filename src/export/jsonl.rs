//! JSON Lines export: one object per stored record (each URL's latest version, or with
//! `--versions all` every version and check), in the order stored, for jq and pandas.
//! The body is a string when it is valid UTF-8 (`body`), base64 otherwise (`body_base64`).
//! With `--fields`/`--select` ([`super::fields`]), each line holds the columns asked for.

use std::io::Write;

use base64::Engine as _;
use serde::Serialize;

use super::fields::{Column, Fields};
use super::Filter;
use super::Source;
use crate::error::{Error, Result};
use crate::failure::Failure;
use crate::store::versions::Version;
use crate::store::PageRecord;

/// The names of a line's own fields, in the order written, for `--fields` (`body` stands for
/// `body_base64` too).
pub const FIELDS: [&str; 22] = [
    "url",
    "final_url",
    "state",
    "status",
    "http_version",
    "ip",
    "fetched_at",
    "stored_at",
    "elapsed_ms",
    "depth",
    "referrer",
    "attempts",
    "content_type",
    "headers",
    "body",
    "truncated",
    "body_skipped",
    "links_dropped",
    "redirect_chain",
    "error",
    "version",
    "change",
];

/// One line of the export. Field names are a stable interface (see docs/GUIDE.md).
#[derive(Serialize)]
struct Line<'a> {
    url: &'a str,
    final_url: &'a str,
    state: &'static str,
    status: Option<u16>,
    http_version: Option<&'a str>,
    ip: Option<&'a str>,
    fetched_at: &'a str,
    stored_at: Option<String>,
    elapsed_ms: u64,
    depth: u32,
    referrer: Option<&'a str>,
    attempts: u32,
    content_type: Option<&'a str>,
    headers: &'a [(String, String)],
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body_base64: Option<String>,
    truncated: bool,
    body_skipped: bool,
    links_dropped: u64,
    redirect_chain: &'a [String],
    error: Option<ErrorOut<'a>>,
    version: u32,
    change: &'static str,
    duplicate_of: Option<&'a str>,
    duplicate_kind: Option<&'static str>,
}

#[derive(Serialize)]
struct ErrorOut<'a> {
    kind: &'static str,
    message: &'a str,
}

/// Streams the JSON Lines export to `out`; returns the number of lines.
pub fn write(
    store: &dyn Source,
    filter: &Filter,
    fields: &Fields,
    out: &mut dyn Write,
) -> Result<u64> {
    let mut n = 0;
    for page in super::records(store, filter) {
        let page = page?;
        let Some(body) = super::body(store, &page, filter)? else {
            continue;
        };
        let line = line(&page.record, &body, fields.wants_stored("body"));
        let written = if fields.is_default() {
            serde_json::to_writer(&mut *out, &line)
        } else {
            serde_json::to_writer(
                &mut *out,
                &Chosen(chosen(&line, &page.record, &body, fields)?),
            )
        };
        written.map_err(|e| Error::io("writing JSON Lines", e.into()))?;
        out.write_all(b"\n")
            .map_err(|e| Error::io("writing JSON Lines", e))?;
        n += 1;
    }
    out.flush()
        .map_err(|e| Error::io("writing JSON Lines", e))?;
    Ok(n)
}

/// The fields of a line, in the order `--fields` and `--select` asked for them.
fn chosen(
    line: &Line<'_>,
    rec: &PageRecord,
    body: &[u8],
    fields: &Fields,
) -> Result<Vec<(String, serde_json::Value)>> {
    let serde_json::Value::Object(mut own) =
        serde_json::to_value(line).map_err(|e| Error::Encode {
            what: "a JSON Lines record",
            reason: e.to_string(),
        })?
    else {
        unreachable!("a struct serializes to an object")
    };
    let values = fields.compute(rec, body);
    let mut out = Vec::new();
    let default_columns: Vec<Column> = FIELDS
        .iter()
        .map(|k| Column::Stored(k.to_string()))
        .chain((0..fields.selects.len()).map(Column::Select))
        .collect();
    for col in fields.columns.as_ref().unwrap_or(&default_columns) {
        match col {
            Column::Stored(name) => {
                // A body that is not UTF-8 is in `body_base64` (and the other way round).
                for name in [name.as_str(), &format!("{name}_base64")] {
                    if let Some(v) = own.remove(name) {
                        out.push((name.to_string(), v));
                    }
                }
            }
            Column::Computed(c) => out.push((c.name().to_string(), values.json(*c))),
            Column::Select(i) => out.push((
                fields.selects[*i].name.clone(),
                serde_json::Value::Array(
                    values.selects[*i]
                        .iter()
                        .cloned()
                        .map(serde_json::Value::String)
                        .collect(),
                ),
            )),
        }
    }
    Ok(out)
}

/// Fields written in the order given.
struct Chosen(Vec<(String, serde_json::Value)>);

impl Serialize for Chosen {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

fn line<'a>(rec: &'a PageRecord, body: &'a [u8], with_body: bool) -> Line<'a> {
    let (text, b64) = match std::str::from_utf8(body) {
        _ if !with_body => (None, None),
        Ok(s) => (Some(s), None),
        Err(_) => (
            None,
            Some(base64::engine::general_purpose::STANDARD.encode(body)),
        ),
    };
    let v = Version::of(rec);
    Line {
        url: &rec.url,
        final_url: &rec.final_url,
        state: rec.state.as_str(),
        status: rec.status,
        http_version: rec.http_version.as_deref(),
        ip: rec.ip.as_deref(),
        stored_at: rec.stored_at_us.map(|t| {
            let at = std::time::UNIX_EPOCH + std::time::Duration::from_micros(t);
            humantime::format_rfc3339_micros(at).to_string()
        }),
        fetched_at: &rec.fetched_at,
        elapsed_ms: rec.elapsed_ms,
        depth: rec.depth,
        referrer: rec.referrer.as_deref(),
        attempts: rec.attempts,
        content_type: rec.content_type.as_deref(),
        headers: &rec.headers,
        body: text,
        body_base64: b64,
        truncated: rec.truncated,
        body_skipped: rec.body_skipped,
        links_dropped: rec.links_dropped,
        redirect_chain: &rec.redirect_chain,
        error: rec
            .error
            .as_ref()
            .map(|Failure { kind, message }| ErrorOut {
                kind: kind.as_str(),
                message,
            }),
        version: v.number,
        change: v.change.as_str(),
        duplicate_of: rec.duplicate.as_ref().map(|d| d.of.as_str()),
        duplicate_kind: rec.duplicate.as_ref().map(|d| d.kind.as_str()),
    }
}
