//! CSV export: one row per stored URL (no bodies), RFC 4180 quoting by the csv crate, for
//! spreadsheets and `pandas.read_csv`.

use std::io::Write;

use super::Filter;
use super::Source;
use crate::error::{Error, Result};
use crate::store::versions::Version;

/// The header row; a stable interface (see docs/GUIDE.md).
pub const COLUMNS: [&str; 16] = [
    "url",
    "state",
    "status",
    "http_version",
    "content_type",
    "bytes",
    "depth",
    "fetched_at",
    "elapsed_ms",
    "attempts",
    "error_kind",
    "error",
    "version",
    "change",
    "duplicate_of",
    "duplicate_kind",
];

/// Streams the CSV export to `out`; returns the number of rows (header aside).
pub fn write(store: &dyn Source, filter: &Filter, out: &mut dyn Write) -> Result<u64> {
    let err = |e: csv::Error| Error::io("writing CSV", std::io::Error::other(e));
    let mut w = csv::Writer::from_writer(out);
    w.write_record(COLUMNS).map_err(err)?;
    let mut n = 0;
    for page in super::records(store, filter) {
        let rec = page?.record;
        let v = Version::of(&rec);
        let (kind, message) = rec
            .error
            .as_ref()
            .map_or(("", ""), |e| (e.kind.as_str(), e.message.as_str()));
        w.write_record([
            rec.url.as_str(),
            rec.state.as_str(),
            &rec.status.map(|s| s.to_string()).unwrap_or_default(),
            rec.http_version.as_deref().unwrap_or(""),
            rec.content_type.as_deref().unwrap_or(""),
            &rec.body_len.to_string(),
            &rec.depth.to_string(),
            &rec.fetched_at,
            &rec.elapsed_ms.to_string(),
            &rec.attempts.to_string(),
            kind,
            message,
            &v.number.to_string(),
            v.change.as_str(),
            rec.duplicate.as_ref().map_or("", |d| d.of.as_str()),
            rec.duplicate.as_ref().map_or("", |d| d.kind.as_str()),
        ])
        .map_err(err)?;
        n += 1;
    }
    w.flush().map_err(|e| Error::io("writing CSV", e))?;
    Ok(n)
}
