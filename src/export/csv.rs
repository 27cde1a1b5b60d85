//! CSV export: one row per stored URL (no bodies), RFC 4180 quoting by the csv crate, for
//! spreadsheets and `pandas.read_csv`. With `--fields`/`--select` ([`super::fields`]), the
//! columns asked for: computed ones from the bodies, each `--select`'s matches one per line of
//! its cell, `links` separated by spaces.

use std::io::Write;

use super::fields::{Column, Fields};
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
pub fn write(
    store: &dyn Source,
    filter: &Filter,
    fields: &Fields,
    out: &mut dyn Write,
) -> Result<u64> {
    let err = |e: csv::Error| Error::io("writing CSV", std::io::Error::other(e));
    let mut w = csv::Writer::from_writer(out);
    let default_columns: Vec<Column> = COLUMNS
        .iter()
        .map(|c| Column::Stored(c.to_string()))
        .chain((0..fields.selects.len()).map(Column::Select))
        .collect();
    let columns = fields.columns.as_ref().unwrap_or(&default_columns);
    let header: Vec<&str> = columns
        .iter()
        .map(|c| match c {
            Column::Stored(name) => name.as_str(),
            Column::Computed(c) => c.name(),
            Column::Select(i) => fields.selects[*i].name.as_str(),
        })
        .collect();
    w.write_record(&header).map_err(err)?;
    let mut n = 0;
    for page in super::records(store, filter) {
        let page = page?;
        if !fields.is_default() {
            // Computed columns read the body; a record whose body is damaged is skipped
            // (with --skip-damaged) as in the other formats.
            let Some(body) = super::body(store, &page, filter)? else {
                continue;
            };
            let own = row(&page.record);
            let values = fields.compute(&page.record, &body);
            let cells = columns.iter().map(|c| match c {
                Column::Stored(name) => COLUMNS
                    .iter()
                    .position(|k| k == name)
                    .map(|i| own[i].clone())
                    .unwrap_or_default(),
                Column::Computed(c) => values.cell(*c),
                Column::Select(i) => values.selects[*i].join("\n"),
            });
            w.write_record(cells).map_err(err)?;
        } else {
            w.write_record(row(&page.record)).map_err(err)?;
        }
        n += 1;
    }
    w.flush().map_err(|e| Error::io("writing CSV", e))?;
    Ok(n)
}

/// A record's own cells, in the order of [`COLUMNS`].
fn row(rec: &crate::store::PageRecord) -> [String; 16] {
    {
        let v = Version::of(rec);
        let (kind, message) = rec
            .error
            .as_ref()
            .map_or(("", ""), |e| (e.kind.as_str(), e.message.as_str()));
        [
            rec.url.clone(),
            rec.state.as_str().into(),
            rec.status.map(|s| s.to_string()).unwrap_or_default(),
            rec.http_version.clone().unwrap_or_default(),
            rec.content_type.clone().unwrap_or_default(),
            rec.body_len.to_string(),
            rec.depth.to_string(),
            rec.fetched_at.clone(),
            rec.elapsed_ms.to_string(),
            rec.attempts.to_string(),
            kind.into(),
            message.into(),
            v.number.to_string(),
            v.change.as_str().into(),
            rec.duplicate.as_ref().map_or("", |d| d.of.as_str()).into(),
            rec.duplicate
                .as_ref()
                .map_or("", |d| d.kind.as_str())
                .into(),
        ]
    }
}
