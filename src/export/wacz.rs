//! WACZ 1.1.1 (Webrecorder's Web Archive Collection Zipped), the package ReplayWeb.page and
//! pywb open directly: one ZIP holding
//!
//! - `archive/data.warc.gz`: the WARC export ([`super::warc`]);
//! - `indexes/index.cdx`: its CDXJ index, sorted, as `cdxj-indexer` writes it ([`super::cdxj`]);
//!   named `.cdx` as py-wacz names its own, the one name both pywb (`wb-manager add
//!   --unpack-wacz`) and ReplayWeb.page take;
//! - `pages/pages.jsonl`: the HTML pages that answered 2xx, each with its `<title>` (not the
//!   copies of another page: revisits, soft 404s, variants by a canonical link);
//! - `datapackage.json`: a Frictionless data package naming each of those with its size and
//!   `sha256:`, and `datapackage-digest.json`: the sha256 of `datapackage.json`.
//!
//! Every entry is stored, not deflated: the spec asks it of the WARC (already gzip per record,
//! and a replay tool reads a record at an offset inside the ZIP without unpacking it), and the
//! rest is small. The WARC is first written to a temporary file beside the package (its index
//! built meanwhile), then copied into the ZIP while its sha256 is computed; both temporary files
//! go when the export fails or is stopped.

use std::io::{self, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::partial::Partial;
use super::warc::{Info, Span};
use super::Filter;
use super::Source;
use crate::error::{Error, Result};
use crate::store::PageRecord;

/// The WACZ version written (`wacz_version`).
pub const VERSION: &str = "1.1.1";

/// The WARC's name inside the package.
const WARC: &str = "archive/data.warc.gz";

/// One resource of `datapackage.json`.
#[derive(Serialize)]
struct Resource {
    name: String,
    path: String,
    hash: String,
    bytes: u64,
}

#[derive(Serialize)]
struct DataPackage<'a> {
    profile: &'static str,
    resources: &'a [Resource],
    title: String,
    created: String,
    wacz_version: &'static str,
    software: &'a str,
}

#[derive(Serialize)]
struct PackageDigest<'a> {
    path: &'static str,
    hash: &'a str,
}

/// One line of `pages/pages.jsonl` after its header.
#[derive(Serialize)]
struct Page<'a> {
    id: String,
    url: &'a str,
    ts: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<String>,
}

/// Writes the WACZ of `store` to `path` (whole or not at all); returns the captures written.
pub fn write_file(
    store: &dyn Source,
    filter: &Filter,
    path: &Path,
    info: &Info,
) -> Result<(u64, Vec<PathBuf>)> {
    let io_err = |e: io::Error| Error::io(format!("writing {}", path.display()), e);
    let zip_err = |e: zip::result::ZipError| io_err(io::Error::other(e));

    // The WARC, staged beside the package: removed when `stage` is dropped.
    let (stage, warc_file) = Partial::create(path)?;
    let mut pages = vec![serde_json::json!({
        "format": "json-pages-1.0",
        "id": "pages",
        "title": "All Pages",
    })
    .to_string()];
    let mut w = BufWriter::new(warc_file);
    let name = WARC.rsplit('/').next().unwrap_or(WARC);
    let (n, index) = super::cdxj::warc_and_index(store, filter, &mut w, name, info, |r, b, s| {
        pages.extend(page(r, b, s));
    })?;
    let mut warc_file = w.into_inner().map_err(|e| io_err(e.into_error()))?;
    warc_file.rewind().map_err(io_err)?;

    let (tmp, file) = Partial::create(path)?;
    let mut zip = ZipWriter::new(BufWriter::new(file));
    let mut resources = Vec::new();
    let warc_len = warc_file.metadata().map_err(io_err)?.len();
    add(&mut zip, WARC, &mut warc_file, warc_len, &mut resources).map_err(io_err)?;
    let text = |lines: &[String]| {
        let mut t = lines.join("\n");
        if !t.is_empty() {
            t.push('\n');
        }
        t.into_bytes()
    };
    for (entry, bytes) in [
        ("indexes/index.cdx", text(&index)),
        ("pages/pages.jsonl", text(&pages)),
    ] {
        let len = bytes.len() as u64;
        add(&mut zip, entry, &mut &bytes[..], len, &mut resources).map_err(io_err)?;
    }
    let package = DataPackage {
        profile: "data-package",
        resources: &resources,
        title: path.file_stem().map_or_else(
            || "politecrawl".into(),
            |s| s.to_string_lossy().into_owned(),
        ),
        created: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        wacz_version: VERSION,
        software: &info.software,
    };
    let package = serde_json::to_vec_pretty(&package).map_err(|e| Error::Encode {
        what: "datapackage.json",
        reason: e.to_string(),
    })?;
    let digest = serde_json::to_vec_pretty(&PackageDigest {
        path: "datapackage.json",
        hash: &sha256_text(&Sha256::digest(&package)),
    })
    .map_err(|e| Error::Encode {
        what: "datapackage-digest.json",
        reason: e.to_string(),
    })?;
    for (entry, bytes) in [
        ("datapackage.json", package),
        ("datapackage-digest.json", digest),
    ] {
        zip.start_file(entry, options(bytes.len() as u64))
            .map_err(zip_err)?;
        zip.write_all(&bytes).map_err(io_err)?;
    }
    let file = zip
        .finish()
        .map_err(zip_err)?
        .into_inner()
        .map_err(|e| io_err(e.into_error()))?;
    drop(stage);
    Ok((n, vec![tmp.finish(file)?]))
}

/// The pages-list line of a capture: an HTML page that answered 2xx (not a copy).
fn page(rec: &PageRecord, body: &[u8], span: &Span) -> Option<String> {
    let ok = rec.status.is_some_and(|s| (200..300).contains(&s));
    if span.revisit
        || rec.duplicate.is_some()
        || !ok
        || !crate::extract::is_html(rec.content_type.as_deref())
    {
        return None;
    }
    let line = Page {
        id: uuid::Uuid::new_v4().simple().to_string(),
        url: &rec.url,
        ts: &span.date,
        title: super::fields::title_of(rec, body),
    };
    serde_json::to_string(&line).ok()
}

/// Stored (no compression), ZIP64 past 4 GiB, dated now.
fn options(len: u64) -> SimpleFileOptions {
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    // `2026-12-07T21:27:31Z`: the digits, in order.
    let n: Vec<u16> = now
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|d| d.parse().ok())
        .collect();
    let opts = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Stored)
        .large_file(len >= u64::from(u32::MAX));
    match n[..] {
        [y, mo, d, h, mi, s, ..] => {
            let [mo, d, h, mi, s] = [mo, d, h, mi, s].map(|v| v as u8);
            zip::DateTime::from_date_and_time(y, mo, d, h, mi, s)
                .map_or(opts, |t| opts.last_modified_time(t))
        }
        _ => opts,
    }
}

/// Copies `len` bytes of `from` into a new stored entry, noting its size and sha256.
fn add<W: Write + Seek>(
    zip: &mut ZipWriter<W>,
    entry: &str,
    from: &mut dyn Read,
    len: u64,
    resources: &mut Vec<Resource>,
) -> io::Result<()> {
    zip.start_file(entry, options(len))
        .map_err(io::Error::other)?;
    let mut hash = Sha256::new();
    let mut buf = vec![0; 1 << 16];
    let mut bytes = 0;
    loop {
        let got = from.read(&mut buf)?;
        if got == 0 {
            break;
        }
        hash.update(&buf[..got]);
        zip.write_all(&buf[..got])?;
        bytes += got as u64;
    }
    resources.push(Resource {
        name: entry.rsplit('/').next().unwrap_or(entry).to_lowercase(),
        path: entry.to_string(),
        hash: sha256_text(&hash.finalize()),
        bytes,
    });
    Ok(())
}

/// `sha256:` + lowercase hex, as WACZ writes digests.
fn sha256_text(d: &[u8]) -> String {
    let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_is_hex() {
        // sha256("") = e3b0c442…b855
        assert_eq!(
            sha256_text(&Sha256::digest(b"")),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
