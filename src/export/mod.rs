//! Page dumps for the tools people already use: JSON Lines (jq, pandas), CSV (spreadsheets,
//! pandas), WARC 1.1 (warcio, pywb) and a browsable mirror (a browser). Each format streams records straight from the database
//! in the order stored, one body at a time, so memory stays flat whatever the crawl's size; every
//! format takes the same [`Filter`].

pub mod beneath;
pub mod cdxj;
pub mod csv;
pub mod fields;
mod filter;
pub mod jsonl;
pub mod live;
pub mod mirror;
pub mod partial;
pub mod source;
pub mod wacz;
pub mod warc;

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};
pub use filter::{body, records, Filter, Versions};
pub use source::Source;

/// An export format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per stored URL.
    Jsonl,
    /// One CSV row per stored URL (no bodies).
    Csv,
    /// WARC 1.1 request/response records, gzip per record.
    Warc,
    /// WACZ 1.1.1: the WARC, its CDXJ index, a pages list and a datapackage in one ZIP.
    Wacz,
    /// The WARC and its CDXJ index, as two files.
    Cdxj,
}

/// Writes the records of `store` passing `filter` in `format` (not WARC, which writes files:
/// see [`warc::write_files`]); returns the number of records.
pub fn export(
    store: &dyn Source,
    format: Format,
    filter: &Filter,
    out: &mut dyn Write,
) -> Result<u64> {
    export_fields(store, format, filter, &fields::Fields::default(), out)
}

/// [`export`] with `--fields` and `--select` (JSON Lines and CSV; the other formats write
/// whole records and ignore them).
pub fn export_fields(
    store: &dyn Source,
    format: Format,
    filter: &Filter,
    fields: &fields::Fields,
    out: &mut dyn Write,
) -> Result<u64> {
    match format {
        Format::Jsonl => jsonl::write(store, filter, fields, out),
        Format::Csv => csv::write(store, filter, fields, out),
        Format::Warc => warc::write(store, filter, out, &warc::Info::default()),
        Format::Wacz | Format::Cdxj => Err(Error::Config(
            "--format wacz and cdxj write files: give --out FILE".into(),
        )),
    }
}

/// Writes the export (any format but the mirror) to `path`. JSON Lines and CSV are written
/// beside it (a [`partial::Partial`]) and renamed once complete and synced, so a failed or
/// stopped export never leaves half a file where a finished one is expected, nor any file of
/// its own; WARC goes through [`warc::write_files`] (numbered files past `max_file_size`).
/// Returns the records written and the files made.
pub fn write_file(
    store: &dyn Source,
    format: Format,
    filter: &Filter,
    fields: &fields::Fields,
    path: &Path,
    max_file_size: Option<u64>,
) -> Result<(u64, Vec<std::path::PathBuf>)> {
    match format {
        Format::Warc => {
            return warc::write_files(store, filter, path, max_file_size, &warc::Info::of(store)?)
        }
        Format::Wacz => return wacz::write_file(store, filter, path, &warc::Info::of(store)?),
        Format::Cdxj => return cdxj::write_files(store, filter, path, &warc::Info::of(store)?),
        Format::Jsonl | Format::Csv => {}
    }
    let (tmp, file) = partial::Partial::create(path)?;
    let mut w = std::io::BufWriter::new(file);
    let n = export_fields(store, format, filter, fields, &mut w)?;
    let file = w
        .into_inner()
        .map_err(|e| Error::io(format!("writing {}", path.display()), e.into_error()))?;
    Ok((n, vec![tmp.finish(file)?]))
}

/// Writes the export (any format but the mirror) to standard output; returns the records
/// written, or `None` when the reader closed the pipe (`export | head`): the export stops
/// there, as `cat` does, which is no failure.
pub fn write_stdout(
    store: &dyn Source,
    format: Format,
    filter: &Filter,
    fields: &fields::Fields,
) -> Result<Option<u64>> {
    let stdout = std::io::stdout();
    let mut w = std::io::BufWriter::new(Pipe {
        inner: stdout.lock(),
        closed: false,
    });
    let n = match format {
        Format::Warc => warc::write(store, filter, &mut w, &warc::Info::of(store)?),
        _ => export_fields(store, format, filter, fields, &mut w),
    };
    let flushed = w.flush();
    if w.get_ref().closed {
        return Ok(None);
    }
    let n = n?;
    flushed.map_err(|e| Error::io("writing to standard output", e))?;
    Ok(Some(n))
}

/// Standard output, noting when its reader went away.
struct Pipe<W> {
    inner: W,
    closed: bool,
}

impl<W: Write> Pipe<W> {
    fn note<T>(&mut self, r: std::io::Result<T>) -> std::io::Result<T> {
        if r.as_ref()
            .is_err_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
        {
            self.closed = true;
        }
        r
    }
}

impl<W: Write> Write for Pipe<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let r = self.inner.write(buf);
        self.note(r)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        let r = self.inner.flush();
        self.note(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontier::{self, Leases};
    use crate::store::{OpenMode, PageRecord, Store, UrlState};
    use url::Url;

    /// A store holding one done page, `http://a.test/`, with a body.
    fn one_page_store(dir: &Path) -> Store {
        let store = Store::open(&dir.join("db"), OpenMode::CreateOrOpen).unwrap();
        let url = Url::parse("http://a.test/").unwrap();
        let added = frontier::add_seeds(&store, &[url]).unwrap();
        let lease = frontier::lease(&store, added[0].origin_id, &mut Leases::default())
            .unwrap()
            .unwrap();
        let mut rec = PageRecord::blank("http://a.test/");
        (rec.state, rec.status, rec.body_len) = (UrlState::Done, Some(200), 5);
        frontier::settle(&store, &lease, &rec, b"hello", &[], None).unwrap();
        store
    }

    #[test]
    fn a_file_export_appears_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let store = one_page_store(dir.path());
        let out = dir.path().join("pages.jsonl");
        let (n, files) = write_file(
            &store,
            Format::Jsonl,
            &Filter::default(),
            &Default::default(),
            &out,
            None,
        )
        .unwrap();
        assert_eq!((n, files), (1, vec![out.clone()]));
        let text = std::fs::read_to_string(&out).unwrap();
        assert_eq!(text.lines().count(), 1);
        assert!(text.contains("\"url\":\"http://a.test/\""), "{text}");
        let beside: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".partial"))
            .collect();
        assert!(beside.is_empty(), "nothing left beside it: {beside:?}");

        // Into a directory that does not exist: a clear error, and no file at all.
        let bad = dir.path().join("missing").join("pages.csv");
        let err = write_file(
            &store,
            Format::Csv,
            &Filter::default(),
            &Default::default(),
            &bad,
            None,
        )
        .unwrap_err();
        assert!(err.to_string().contains("cannot create"), "{err}");
        assert!(!bad.exists() && !bad.parent().unwrap().exists());
    }

    #[test]
    fn filters_combine() {
        let mut r = PageRecord::blank("http://a.test:8080/x");
        r.status = Some(404);
        r.content_type = Some("Text/HTML; charset=utf-8".into());
        let all = Filter::default();
        assert!(all.matches(&r));
        let f = Filter {
            statuses: vec![200, 404],
            hosts: vec!["a.test".into()],
            content_types: vec!["text/html".into()],
            states: vec![UrlState::Failed],
            ..Filter::default()
        };
        assert!(f.matches(&r));
        // --since: only records stored after it (and none without a store time).
        let since = Filter {
            since_us: Some(100),
            ..Filter::default()
        };
        assert!(!since.matches(&r));
        r.stored_at_us = Some(100);
        assert!(!since.matches(&r), "after, not at");
        r.stored_at_us = Some(101);
        assert!(since.matches(&r));
        assert!(Filter {
            hosts: vec!["a.test:8080".into()],
            ..all.clone()
        }
        .matches(&r));
        assert!(!Filter {
            hosts: vec!["b.test".into()],
            ..all.clone()
        }
        .matches(&r));
        assert!(!Filter {
            statuses: vec![200],
            ..all.clone()
        }
        .matches(&r));
        assert!(!Filter {
            states: vec![UrlState::Done],
            ..all.clone()
        }
        .matches(&r));
        assert!(!Filter {
            content_types: vec!["image/".into()],
            ..all
        }
        .matches(&r));
    }
}
