//! WARC 1.1 export, for warcio, pywb and the archiving tools that read WARC.
//!
//! One gzip member per record. Each file opens with a `warcinfo` record (software and crawl
//! settings); then, for every URL that got a response (redirects and error statuses included),
//! a `request` record and a `response` record linked by `WARC-Concurrent-To`, with
//! `WARC-Block-Digest` and `WARC-Payload-Digest` as `sha1:` base32. A recrawl's checks that
//! found the content the same are `revisit` records instead (`capture`), and so are pages whose
//! body is another URL's (duplicate content), referring to that URL.
//!
//! The crawler keeps the response's status, headers and decoded body, not the raw bytes on the
//! wire. So the response block is the status line and headers as received, except that
//! `Content-Encoding`, `Transfer-Encoding` and `Content-Length` are replaced by the
//! `Content-Length` of the stored (decoded) body; the original coding is kept as
//! `X-Politecrawl-Original-Content-Encoding`, so a replay tool is never told to decode twice.
//! A body cut at `--max-body` is marked `WARC-Truncated: length`. The request block is rebuilt
//! from what every request sends (method, target, Host, User-Agent, Accept headers, the
//! `--header`s with credential values `<redacted>`; no Basic login, no jar cookie). Each record
//! of a capture carries `WARC-IP-Address`, the address curl connected to, when the record has
//! it (not for records stored before it was kept).

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use sha1::{Digest, Sha1};
use url::{Position, Url};

use super::partial::Partial;
use super::Filter;
use super::Source;
use crate::error::{Error, Result};
use crate::store::versions::{Change, Version};
use crate::store::{DuplicateKind, PageRecord};

/// What the `warcinfo` record says.
#[derive(Clone, Debug)]
pub struct Info {
    /// `software:` field.
    pub software: String,
    /// The crawl's settings, as JSON (a `politecrawl-settings:` field).
    pub settings: Option<String>,
    /// The User-Agent the requests were sent with.
    pub user_agent: String,
    /// The headers every request sent besides Host (the `--header`s among them); never
    /// credentials: a credential header's value is `<redacted>`, always (a WARC is made to be
    /// shared; its response record needs no login to replay).
    pub request_headers: Vec<(String, String)>,
    /// The crawl ran with `--insecure`: no server certificate was checked, so a reader cannot
    /// take an https capture as proof of who served it.
    pub insecure: bool,
}

impl Info {
    /// The warcinfo of the crawl in `store`: our software version, its settings and User-Agent.
    pub fn of(store: &dyn Source) -> Result<Info> {
        Ok(store
            .settings()?
            .map_or_else(Info::default, |c| Info::of_config(&c)))
    }

    /// The warcinfo of a crawl with these settings.
    pub fn of_config(config: &crate::config::CrawlConfig) -> Info {
        Info {
            settings: serde_json::to_string(config).ok(),
            request_headers: crate::config::request::default_headers(
                &config.user_agent,
                &config.headers.redacted(),
            ),
            user_agent: config.user_agent.clone(),
            insecure: config.insecure,
            ..Info::default()
        }
    }
}

impl Default for Info {
    fn default() -> Self {
        Info {
            software: format!("politecrawl/{}", env!("CARGO_PKG_VERSION")),
            settings: None,
            user_agent: crate::config::default_user_agent(),
            request_headers: crate::config::request::default_headers(
                &crate::config::default_user_agent(),
                &[],
            ),
            insecure: false,
        }
    }
}

/// Writes one WARC stream to `out`; returns the URLs written.
pub fn write(store: &dyn Source, filter: &Filter, out: &mut dyn Write, info: &Info) -> Result<u64> {
    write_with(
        store,
        filter,
        out,
        info,
        "politecrawl.warc.gz",
        |_, _, _| {},
    )
}

/// Writes one WARC stream named `filename` to `out`, telling `each` where every capture's
/// response or revisit record went (for an index); returns the URLs written.
pub fn write_with(
    store: &dyn Source,
    filter: &Filter,
    out: &mut dyn Write,
    info: &Info,
    filename: &str,
    mut each: impl FnMut(&PageRecord, &[u8], &Span),
) -> Result<u64> {
    let mut w = Counting {
        inner: out,
        bytes: 0,
    };
    let info_id = warcinfo(&mut w, filename, info).map_err(io_err)?;
    let mut n = 0;
    for item in responses(store, filter) {
        let (rec, body) = item?;
        let span = capture(&mut w, &rec, &body, info, &info_id).map_err(io_err)?;
        each(&rec, &body, &span);
        n += 1;
    }
    w.flush().map_err(io_err)?;
    Ok(n)
}

/// Writes `path`, or with `max_file_size` numbered files `STEM-00000.warc.gz`, … each starting
/// a new file once the current one reaches the size (a request/response pair is never split).
/// Files are written beside their names (see [`Partial`]) and renamed when complete. Returns
/// the files.
pub fn write_files(
    store: &dyn Source,
    filter: &Filter,
    path: &Path,
    max_file_size: Option<u64>,
    info: &Info,
) -> Result<(u64, Vec<PathBuf>)> {
    let name_of = |i: usize| -> PathBuf {
        if max_file_size.is_none() {
            return path.to_path_buf();
        }
        let file = path
            .file_name()
            .and_then(|f| f.to_str())
            .unwrap_or("crawl.warc.gz");
        let stem = file
            .strip_suffix(".warc.gz")
            .or_else(|| file.strip_suffix(".gz"))
            .unwrap_or(file);
        path.with_file_name(format!("{stem}-{i:05}.warc.gz"))
    };
    let mut files = Vec::new();
    let mut current: Option<Part> = None;
    let mut n = 0;
    for item in responses(store, filter) {
        let (rec, body) = item?;
        let full = current
            .as_ref()
            .is_some_and(|(_, w, _)| max_file_size.is_some_and(|m| w.bytes >= m));
        if full {
            let (p, w, _) = current.take().expect("checked above");
            files.push(finish(p, w)?);
        }
        if current.is_none() {
            current = Some(open_part(name_of(files.len()), info)?);
        }
        let (_, w, id) = current.as_mut().expect("set above");
        capture(w, &rec, &body, info, id).map_err(io_err)?;
        n += 1;
    }
    if current.is_none() && files.is_empty() {
        // An empty export is still a valid WARC file with its warcinfo record.
        current = Some(open_part(name_of(0), info)?);
    }
    if let Some((p, w, _)) = current {
        files.push(finish(p, w)?);
    }
    Ok((n, files))
}

/// The records that got a response (only those have WARC records), each with its body.
fn responses<'a>(
    store: &'a dyn Source,
    filter: &'a Filter,
) -> impl Iterator<Item = Result<(PageRecord, Vec<u8>)>> + 'a {
    super::records(store, filter).filter_map(move |page| match page {
        Err(e) => Some(Err(e)),
        Ok(page) if page.record.status.is_none() => None,
        Ok(page) => super::body(store, &page, filter)
            .transpose()
            .map(|b| b.map(|b| (page.record, b))),
    })
}

type Part = (Partial, Counting<io::BufWriter<std::fs::File>>, String);

/// Creates `p`'s temporary file and writes its warcinfo record; returns the part with the
/// warcinfo's record id.
fn open_part(p: PathBuf, info: &Info) -> Result<Part> {
    let (tmp, f) = Partial::create(&p)?;
    let mut w = Counting {
        inner: io::BufWriter::new(f),
        bytes: 0,
    };
    let file_name = p
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let id = warcinfo(&mut w, &file_name, info).map_err(io_err)?;
    Ok((tmp, w, id))
}

fn finish(p: Partial, w: Counting<io::BufWriter<std::fs::File>>) -> Result<PathBuf> {
    let f = w.inner.into_inner().map_err(|e| io_err(e.into_error()))?;
    p.finish(f)
}

fn io_err(e: io::Error) -> Error {
    Error::io("writing WARC", e)
}

/// Counts the bytes that reach the underlying writer (for `--max-file-size`).
pub(super) struct Counting<W> {
    pub(super) inner: W,
    pub(super) bytes: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn new_id() -> String {
    format!("<urn:uuid:{}>", uuid::Uuid::new_v4())
}

/// `sha1:` + base32, as WARC digests are written.
pub fn digest(bytes: &[u8]) -> String {
    digest_text(&Sha1::digest(bytes).into())
}

/// A SHA-1 as WARC writes it.
fn digest_text(sha1: &[u8; 20]) -> String {
    format!("sha1:{}", data_encoding::BASE32.encode(sha1))
}

/// Writes one record as its own gzip member.
fn record(w: &mut dyn Write, headers: &[(&str, String)], block: &[u8]) -> io::Result<()> {
    let mut gz = GzEncoder::new(w, flate2::Compression::default());
    gz.write_all(b"WARC/1.1\r\n")?;
    for (k, v) in headers {
        write!(gz, "{k}: {v}\r\n")?;
    }
    write!(gz, "Content-Length: {}\r\n\r\n", block.len())?;
    gz.write_all(block)?;
    gz.write_all(b"\r\n\r\n")?;
    gz.finish()?;
    Ok(())
}

fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

pub(super) fn warcinfo(w: &mut dyn Write, filename: &str, info: &Info) -> io::Result<String> {
    let id = new_id();
    let mut body = format!(
        "software: {}\r\nformat: WARC File Format 1.1\r\nconformsTo: https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/\r\nhttp-header-user-agent: {}\r\n",
        info.software, info.user_agent
    );
    if info.insecure {
        body.push_str("politecrawl-tls: server certificates were not checked (--insecure)\r\n");
    }
    if let Some(s) = &info.settings {
        body.push_str(&format!(
            "politecrawl-settings: {}\r\n",
            s.replace(['\r', '\n'], " ")
        ));
    }
    record(
        w,
        &[
            ("WARC-Type", "warcinfo".into()),
            ("WARC-Record-ID", id.clone()),
            ("WARC-Date", now()),
            ("WARC-Filename", filename.into()),
            ("Content-Type", "application/warc-fields".into()),
        ],
        body.as_bytes(),
    )?;
    Ok(id)
}

/// Where the record a replay tool looks up for a capture (its `response`, or its `revisit`)
/// lies in the file, and what an index says of it (see [`super::cdxj`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    /// The offset of the record's gzip member in the file.
    pub offset: u64,
    /// The gzip member's length.
    pub length: u64,
    /// Its `WARC-Date`.
    pub date: String,
    /// Its `WARC-Payload-Digest` (`sha1:` base32), when it has one.
    pub digest: Option<String>,
    /// A `revisit` record.
    pub revisit: bool,
}

/// The WARC records of one stored record: a `revisit` for a check that found the content
/// unchanged (`identical-payload-digest`) or not modified (`server-not-modified`), else a
/// `request` and a `response`. Returns where the revisit or the response lies.
pub(super) fn capture<W: Write>(
    w: &mut Counting<W>,
    rec: &PageRecord,
    body: &[u8],
    info: &Info,
    info_id: &str,
) -> io::Result<Span> {
    let v = Version::of(rec);
    // A page with the body of another URL's (duplicate content, see `crate::copies`) refers
    // to that URL's capture, as a recheck that found its content unchanged refers to its own.
    let copy_of = rec
        .duplicate
        .as_ref()
        .filter(|d| d.kind == DuplicateKind::Content && rec.version.is_none());
    let profile = match (v.change, copy_of) {
        (_, Some(_)) | (Change::Unchanged, _) => "identical-payload-digest",
        (Change::NotModified, _) => "server-not-modified",
        _ => return pair(w, rec, body, info, info_id),
    };
    // The block is the response's status line and headers only (WARC 1.1 §6.7): the payload is
    // the earlier capture's. No Content-Length: this record has no payload to count.
    let block = response_head(rec, None);
    let mut headers = vec![
        ("WARC-Type", "revisit".into()),
        ("WARC-Target-URI", rec.url.clone()),
        ("WARC-Date", date_of(rec)),
        ("WARC-Record-ID", new_id()),
        ("WARC-Warcinfo-ID", info_id.into()),
        (
            "WARC-Profile",
            format!("http://netpreserve.org/warc/1.1/revisit/{profile}"),
        ),
        (
            "WARC-Refers-To-Target-URI",
            copy_of.map_or_else(|| rec.url.clone(), |d| d.of.clone()),
        ),
    ];
    headers.extend(ip_header(rec));
    if let Some(date) = &v.content_date {
        headers.push(("WARC-Refers-To-Date", date.clone()));
    }
    let payload = match copy_of {
        Some(_) => Some(crate::store::versions::sha1(body)),
        None => v.digest,
    }
    .map(|d| digest_text(&d));
    if let Some(d) = &payload {
        headers.push(("WARC-Payload-Digest", d.clone()));
    }
    headers.push(("WARC-Block-Digest", digest(&block)));
    headers.push(("Content-Type", "application/http;msgtype=response".into()));
    let offset = w.bytes;
    record(w, &headers, &block)?;
    Ok(Span {
        offset,
        length: w.bytes - offset,
        date: date_of(rec),
        digest: payload,
        revisit: true,
    })
}

fn date_of(rec: &PageRecord) -> String {
    if rec.fetched_at.is_empty() {
        now()
    } else {
        rec.fetched_at.clone()
    }
}

/// The request and response records of one URL; returns where the response lies.
pub(super) fn pair<W: Write>(
    w: &mut Counting<W>,
    rec: &PageRecord,
    body: &[u8],
    info: &Info,
    info_id: &str,
) -> io::Result<Span> {
    let (req_id, resp_id) = (new_id(), new_id());
    let date = date_of(rec);
    let request = request_block(&rec.url, &info.request_headers, protocol(rec));
    let mut headers = vec![
        ("WARC-Type", "request".into()),
        ("WARC-Target-URI", rec.url.clone()),
        ("WARC-Date", date.clone()),
        ("WARC-Record-ID", req_id.clone()),
        ("WARC-Concurrent-To", resp_id.clone()),
        ("WARC-Warcinfo-ID", info_id.into()),
    ];
    headers.extend(ip_header(rec));
    headers.push(("WARC-Block-Digest", digest(&request)));
    headers.push(("Content-Type", "application/http;msgtype=request".into()));
    record(w, &headers, &request)?;
    let mut response = response_head(rec, Some(body.len()));
    response.extend_from_slice(body);
    let payload = digest(body);
    let mut headers = vec![
        ("WARC-Type", "response".into()),
        ("WARC-Target-URI", rec.url.clone()),
        ("WARC-Date", date.clone()),
        ("WARC-Record-ID", resp_id),
        ("WARC-Concurrent-To", req_id),
        ("WARC-Warcinfo-ID", info_id.into()),
    ];
    headers.extend(ip_header(rec));
    headers.extend([
        ("WARC-Block-Digest", digest(&response)),
        ("WARC-Payload-Digest", payload.clone()),
        ("Content-Type", "application/http;msgtype=response".into()),
    ]);
    if rec.truncated {
        headers.push(("WARC-Truncated", "length".into()));
    }
    let offset = w.bytes;
    record(w, &headers, &response)?;
    Ok(Span {
        offset,
        length: w.bytes - offset,
        date,
        digest: Some(payload),
        revisit: false,
    })
}

/// `WARC-IP-Address`, when the record knows the address (WARC 1.1 §5.11).
fn ip_header(rec: &PageRecord) -> Option<(&'static str, String)> {
    rec.ip.clone().map(|ip| ("WARC-IP-Address", ip))
}

/// The protocol the exchange used, for both status lines: `HTTP/1.1` when the record does not
/// say (records from before versions were kept).
fn protocol(rec: &PageRecord) -> &str {
    rec.http_version.as_deref().unwrap_or("HTTP/1.1")
}

fn request_block(url: &str, headers: &[(String, String)], protocol: &str) -> Vec<u8> {
    let (target, host) = match Url::parse(url) {
        Ok(u) => (
            u[Position::BeforePath..Position::AfterQuery].to_string(),
            crate::canon::host_label(&u),
        ),
        Err(_) => ("/".into(), String::new()),
    };
    let mut block = format!("GET {target} {protocol}\r\nHost: {host}\r\n");
    // The User-Agent first, as clients send it; then the rest in the order sent.
    let (ua, rest): (Vec<_>, Vec<_>) = headers.iter().partition(|(n, _)| n == "user-agent");
    for (name, value) in ua.into_iter().chain(rest) {
        block.push_str(&format!("{}: {value}\r\n", title_case(name)));
    }
    block.push_str("\r\n");
    block.into_bytes()
}

/// `user-agent` → `User-Agent`, as HTTP/1.1 clients write header names.
fn title_case(name: &str) -> String {
    name.split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// Status line and headers, made consistent with the stored (decoded, maybe cut) body of
/// `body_len` bytes (`None`: no body follows, so no Content-Length).
fn response_head(rec: &PageRecord, body_len: Option<usize>) -> Vec<u8> {
    let status = rec.status.unwrap_or(0);
    let mut head = format!(
        "{} {status} {}\r\n",
        protocol(rec),
        crate::http_status::reason_phrase(status)
    );
    for (k, v) in &rec.headers {
        match k.as_str() {
            "content-length" | "transfer-encoding" => {}
            "content-encoding" => {
                head.push_str(&format!("X-Politecrawl-Original-Content-Encoding: {v}\r\n"))
            }
            _ => head.push_str(&format!("{k}: {}\r\n", v.replace(['\r', '\n'], " "))),
        }
    }
    if let Some(len) = body_len {
        head.push_str(&format!("Content-Length: {len}\r\n"));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_sha1_base32() {
        // sha1("") = da39a3ee5e6b4b0d3255bfef95601890afd80709
        assert_eq!(digest(b""), "sha1:3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ");
    }

    #[test]
    fn response_headers_match_the_stored_body() {
        let mut rec = PageRecord::blank("http://a.test/x");
        rec.status = Some(200);
        rec.headers = vec![
            ("content-encoding".into(), "gzip".into()),
            ("content-length".into(), "99".into()),
            ("content-type".into(), "text/html".into()),
        ];
        let head = String::from_utf8(response_head(&rec, Some(5))).unwrap();
        assert_eq!(
            head,
            "HTTP/1.1 200 OK\r\nX-Politecrawl-Original-Content-Encoding: gzip\r\ncontent-type: text/html\r\nContent-Length: 5\r\n\r\n"
        );
        let headers = crate::config::request::default_headers("ua", &["X-Team: t".into()]);
        let req = request_block("http://a.test:81/p?q=1", &headers, "HTTP/1.1");
        let req = String::from_utf8(req).unwrap();
        assert_eq!(
            req,
            "GET /p?q=1 HTTP/1.1\r\nHost: a.test:81\r\nUser-Agent: ua\r\nX-Team: t\r\n\
             Accept: text/html,application/xhtml+xml,*/*;q=0.8\r\nAccept-Encoding: gzip, deflate, br\r\n\r\n"
        );
        rec.http_version = Some("HTTP/2".into());
        let head = String::from_utf8(response_head(&rec, Some(5))).unwrap();
        assert!(head.starts_with("HTTP/2 200 OK\r\n"), "{head}");
    }
}
