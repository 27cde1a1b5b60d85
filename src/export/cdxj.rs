//! CDXJ, the index pywb and ReplayWeb.page look captures up in: one line per `response` or
//! `revisit` record, `SURT TIMESTAMP {json}`, sorted, written exactly as Webrecorder's
//! `cdxj-indexer` (what `wb-manager` and `wacz create` use) writes it for the same WARC file, so
//! either tool's index serves.
//!
//! The key is the URL's SURT form by the Internet Archive's canonicalization, which the `surt`
//! package that pywb uses implements ([`surt`]): host reversed (`com,example)`), a leading
//! `www.` dropped, path and query lowercased, query arguments sorted, a few session IDs
//! stripped. The index is built while the WARC is written (each record's offset and length are
//! known then) and kept in memory until sorted: about 250 bytes per capture.

use std::io::{self, Write};
use std::path::Path;
use std::sync::LazyLock;

use percent_encoding::percent_decode;
use regex::bytes::Regex;
use url::Url;

use super::warc::{self, Info, Span};
use super::Filter;
use super::Source;
use crate::error::{Error, Result};
use crate::store::PageRecord;

/// One index line for the capture of `rec` that `span` locates in `filename`.
pub fn line(rec: &PageRecord, span: &Span, filename: &str) -> String {
    let mut fields: Vec<(&str, String)> = vec![("url", rec.url.clone())];
    let mime = if span.revisit {
        Some("warc/revisit".to_string())
    } else {
        rec.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| {
                v.split([';', ' ', '\t', '\r', '\n'])
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_string()
            })
    };
    fields.extend(mime.map(|m| ("mime", m)));
    fields.extend(rec.status.map(|s| ("status", s.to_string())));
    fields.extend(span.digest.clone().map(|d| ("digest", d)));
    fields.push(("length", span.length.to_string()));
    fields.push(("offset", span.offset.to_string()));
    fields.push(("filename", filename.to_string()));
    let json: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("\"{k}\": {}", py_json_string(v)))
        .collect();
    format!(
        "{} {} {{{}}}",
        surt(&rec.url),
        timestamp(&span.date),
        json.join(", ")
    )
}

/// A string as Python's `json.dumps` writes it (ASCII only: others as `\uXXXX`), so a line is
/// byte for byte what `cdxj-indexer` writes.
fn py_json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `2026-12-07T21:27:30.760Z` → `20261207212730`, as warcio makes a WARC-Date a timestamp.
pub fn timestamp(date: &str) -> String {
    let mut digits: String = date
        .split('.')
        .next()
        .unwrap_or("")
        .chars()
        .filter(char::is_ascii_digit)
        .take(14)
        .collect();
    while digits.len() < 14 {
        digits.push('0');
    }
    digits
}

static PATH_SESSION: LazyLock<[Regex; 2]> = LazyLock::new(|| {
    // Constant patterns (the surt package's): a failure is a bug caught by every test.
    [
        Regex::new(r"(?i-u)^(.*/)(\((?:[a-z]\([0-9a-z]{24}\))+\)/)([^\?]+\.aspx.*)$"),
        Regex::new(r"(?i-u)^(.*/)(\([0-9a-z]{24}\)/)([^\?]+\.aspx.*)$"),
    ]
    .map(|r| r.expect("constant regex"))
});

static QUERY_SESSION: LazyLock<[Regex; 5]> = LazyLock::new(|| {
    [
        r"(?i-u)^(.*)(?:jsessionid=[0-9a-zA-Z]{32})(?:&(.*))?$",
        r"(?i-u)^(.*)(?:phpsessid=[0-9a-zA-Z]{32})(?:&(.*))?$",
        r"(?i-u)^(.*)(?:sid=[0-9a-zA-Z]{32})(?:&(.*))?$",
        r"(?i-u)^(.*)(?:ASPSESSIONID[a-zA-Z]{8}=[a-zA-Z]{24})(?:&(.*))?$",
        r"(?i-u)^(.*)(?:cfid=[^&]+&cftoken=[^&]+)(?:&(.*))?$",
    ]
    .map(|r| Regex::new(r).expect("constant regex"))
});

static WWW: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^www\d*\.").expect("constant regex"));

/// The SURT key of a URL as pywb and `cdxj-indexer` compute it (the `surt` package: Google's
/// canonicalization, then the Internet Archive's, host reversed, no scheme). `url` is one the
/// crawler stored, already normalized by the `url` crate (host lowercased and IDNA-encoded,
/// default port and fragment gone), which the rules below take from there.
pub fn surt(url: &str) -> String {
    let Ok(u) = Url::parse(url) else {
        return url.to_string();
    };
    let Some(host) = u.host_str() else {
        return url.to_string();
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = escape_once(&unescape_repeatedly(host.as_bytes())).to_ascii_lowercase();
    let host = match WWW.find(&host) {
        Some(m) => host[m.end()..].to_vec(),
        None => host,
    };
    let mut key: Vec<u8> = host
        .split(|&b| b == b'.')
        .rev()
        .collect::<Vec<_>>()
        .join(&b","[..]);
    if let Some(port) = u.port() {
        key.extend_from_slice(format!(":{port}").as_bytes());
    }
    key.push(b')');

    let path = normalize_path(&unescape_repeatedly(u.path().as_bytes()));
    let mut path = escape_once(&path).to_ascii_lowercase();
    for re in PATH_SESSION.iter() {
        if let Some(c) = re.captures(&path) {
            path = [&c[1], &c[3]].concat();
        }
    }
    if path.len() > 1 && path.ends_with(b"/") {
        path.pop();
    }
    key.extend_from_slice(&path);

    if let Some(q) = u.query().filter(|q| !q.is_empty()) {
        let mut q = escape_once(&unescape_repeatedly(q.as_bytes()));
        for re in QUERY_SESSION.iter() {
            if let Some(c) = re.captures(&q) {
                q = match c.get(2) {
                    Some(rest) if !rest.is_empty() => [&c[1], rest.as_bytes()].concat(),
                    _ => c[1].to_vec(),
                };
            }
        }
        let q = alpha_reorder(&q.to_ascii_lowercase());
        if !q.is_empty() {
            key.push(b'?');
            key.extend_from_slice(&q);
        }
    }
    // Only ASCII is left after escaping.
    String::from_utf8_lossy(&key).into_owned()
}

/// Percent-decoding until nothing changes (`%2541` → `%41` → `A`).
fn unescape_repeatedly(s: &[u8]) -> Vec<u8> {
    let mut cur = s.to_vec();
    loop {
        let next: Vec<u8> = percent_decode(&cur).collect();
        if next == cur {
            return cur;
        }
        cur = next;
    }
}

/// Python's `quote_from_bytes` with the surt package's safe set: everything printable but `%`
/// and `#` stays; controls, space and non-ASCII bytes become `%XX`.
fn escape_once(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for &b in s {
        if (0x21..0x7f).contains(&b) && b != b'%' && b != b'#' {
            out.push(b);
        } else {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        }
    }
    out
}

/// Dot segments resolved and empty segments dropped (but a trailing slash kept), as the
/// Google canonicalizer does.
fn normalize_path(path: &[u8]) -> Vec<u8> {
    let mut kept: Vec<&[u8]> = Vec::new();
    for p in path.split(|&b| b == b'/').skip(1) {
        match p {
            b"." => {}
            b".." if !kept.is_empty() => {
                kept.pop();
            }
            _ => kept.push(p),
        }
    }
    let mut out = b"/".to_vec();
    if let Some((last, init)) = kept.split_last() {
        for p in init.iter().filter(|p| !p.is_empty()) {
            out.extend_from_slice(p);
            out.push(b'/');
        }
        out.extend_from_slice(last);
    }
    out
}

/// Query arguments sorted by name, then value (an argument without `=` before one with).
fn alpha_reorder(q: &[u8]) -> Vec<u8> {
    if q.len() <= 1 {
        return q.to_vec();
    }
    let mut args: Vec<(&[u8], Option<&[u8]>)> = q
        .split(|&b| b == b'&')
        .map(|a| match a.iter().position(|&b| b == b'=') {
            Some(i) => (&a[..i], Some(&a[i + 1..])),
            None => (a, None),
        })
        .collect();
    args.sort();
    let parts: Vec<Vec<u8>> = args
        .into_iter()
        .map(|(k, v)| match v {
            Some(v) => [k, b"=", v].concat(),
            None => k.to_vec(),
        })
        .collect();
    parts.join(&b'&')
}

/// Writes the WARC export of `store` to `out` (its file named `filename`, as the index names
/// it), returning its lines of index, sorted, and the number of captures.
pub fn warc_and_index(
    store: &dyn Source,
    filter: &Filter,
    out: &mut dyn Write,
    filename: &str,
    info: &Info,
    mut each: impl FnMut(&PageRecord, &[u8], &Span),
) -> Result<(u64, Vec<String>)> {
    let mut lines = Vec::new();
    let n = warc::write_with(store, filter, out, info, filename, |rec, body, span| {
        lines.push(line(rec, span, filename));
        each(rec, body, span);
    })?;
    lines.sort_unstable();
    Ok((n, lines))
}

/// `export --format cdxj --out NAME.cdxj`: the index needs the WARC it points into, so both are
/// written, `NAME.warc.gz` beside `NAME.cdxj`, each whole or not at all. Returns the captures
/// written and the two files.
pub fn write_files(
    store: &dyn Source,
    filter: &Filter,
    path: &Path,
    info: &Info,
) -> Result<(u64, Vec<std::path::PathBuf>)> {
    let stem = path
        .file_name()
        .and_then(|f| f.to_str())
        .map(|f| f.strip_suffix(".cdxj").unwrap_or(f))
        .unwrap_or("crawl");
    let warc_path = path.with_file_name(format!("{stem}.warc.gz"));
    let warc_name = format!("{stem}.warc.gz");
    let (warc_tmp, warc_file) = super::partial::Partial::create(&warc_path)?;
    let mut w = io::BufWriter::new(warc_file);
    let (n, lines) = warc_and_index(store, filter, &mut w, &warc_name, info, |_, _, _| {})?;
    let warc_file = w
        .into_inner()
        .map_err(|e| Error::io("writing WARC", e.into_error()))?;
    let (tmp, file) = super::partial::Partial::create(path)?;
    let mut w = io::BufWriter::new(file);
    for l in &lines {
        writeln!(w, "{l}").map_err(|e| Error::io("writing CDXJ", e))?;
    }
    let file = w
        .into_inner()
        .map_err(|e| Error::io("writing CDXJ", e.into_error()))?;
    let warc_path = warc_tmp.finish(warc_file)?;
    Ok((n, vec![warc_path, tmp.finish(file)?]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn surt_keys_are_the_surt_packages() {
        // Each pair checked against `surt.surt(url)` of the Python package pywb uses.
        for (url, key) in [
            (
                "http://www.example.com/A/b?z=1&a=2",
                "com,example)/a/b?a=2&z=1",
            ),
            ("https://example.com/", "com,example)/"),
            ("http://127.0.0.1:8080/x?b&a", "1,0,0,127:8080)/x?a&b"),
            ("http://example.com/%7Efoo/", "com,example)/~foo"),
            (
                "http://example.com/caf%C3%A9?Q=%C3%A9",
                "com,example)/caf%c3%a9?q=%c3%a9",
            ),
            ("http://www2.example.com//a//b/", "com,example)/a/b"),
            ("http://example.com/?", "com,example)/"),
            ("http://example.com/a?b=1&a", "com,example)/a?a&b=1"),
            (
                "http://example.com/x?jsessionid=0123456789abcdef0123456789abcdef&p=1",
                "com,example)/x?p=1",
            ),
        ] {
            assert_eq!(surt(url), key, "{url}");
        }
    }

    #[test]
    fn lines_are_cdxj_indexers() {
        let mut rec = PageRecord::blank("http://example.com/a");
        rec.status = Some(200);
        rec.headers = vec![("content-type".into(), "text/html; charset=utf-8".into())];
        let span = Span {
            offset: 10,
            length: 20,
            date: "2026-12-07T21:27:30.760Z".into(),
            digest: Some("sha1:X".into()),
            revisit: false,
        };
        assert_eq!(
            line(&rec, &span, "a.warc.gz"),
            r#"com,example)/a 20261207212730 {"url": "http://example.com/a", "mime": "text/html", "status": "200", "digest": "sha1:X", "length": "20", "offset": "10", "filename": "a.warc.gz"}"#
        );
        assert_eq!(py_json_string("é\"\u{1F600}"), r#""\u00e9\"\ud83d\ude00""#);
    }
}
