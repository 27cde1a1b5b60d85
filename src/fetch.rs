//! HTTP fetching: the one shared surf client (curl backend, configured through isahc) and the
//! mapping of everything that can go wrong on the way into a stored [`ErrorKind`].
//!
//! Why curl and not async-h1: surf's async-h1 backend can hand a later request the response
//! meant for an earlier one after a timeout or a half-read body on a reused connection, and its
//! timeout does not cover connect or the body (measured; see docs/ARCHITECTURE.md, "The HTTP
//! stack").
//! Redirects are never followed here: each hop goes back through the frontier, scope and the
//! host's rate limit.
//!
//! Bodies are read incrementally and decoded here (gzip, deflate, br, as the request offers),
//! so the cap applies to the **decoded** size: a compression bomb costs at most `--max-body`.
//! A response not begun `--connect-timeout` + `--read-timeout` after the request started, a body
//! read waiting `--read-timeout`, or a body still trickling in slower than [`MIN_PROGRESS`] bytes
//! per `--read-timeout`, is cut off as a timeout. With `--accept-type`, bodies of other types (HTML aside) are not
//! downloaded at all.

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use async_compression::futures::bufread::{
    BrotliDecoder, DeflateDecoder, GzipDecoder, ZlibDecoder,
};
use futures_lite::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, FutureExt};
use isahc::config::{Configurable, RedirectPolicy};
use url::Url;

use crate::config::CrawlConfig;
use crate::error::{Error, Result};
use crate::failure::{ErrorKind, Failure};
use crate::runtime;

/// What a server sent, with the body cut at the configured cap.
#[derive(Debug)]
pub struct Fetched {
    /// HTTP status code.
    pub status: u16,
    /// Headers in the order received (names lowercase).
    pub headers: Vec<(String, String)>,
    /// Body bytes, decoded from any `Content-Encoding` (gzip, deflate, br).
    pub body: Vec<u8>,
    /// The body went on past `--max-body` and the rest was not read.
    pub truncated: bool,
    /// The body was not downloaded: its type is not in `--accept-type`.
    pub body_skipped: bool,
    /// From sending the request to the end of the body.
    pub elapsed: Duration,
}

impl Fetched {
    /// The first value of a header, by lowercase name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A fetch that produced no usable response.
#[derive(Debug)]
pub struct FetchError {
    /// Stored failure (kind and message).
    pub failure: Failure,
    /// Time spent before it failed.
    pub elapsed: Duration,
}

/// The crawl's one HTTP client: one connection pool shared by every worker.
#[derive(Clone)]
pub struct Fetcher {
    client: surf::Client,
    max_body: u64,
    read_timeout: Duration,
    /// How long a response may take to begin: `--connect-timeout` + `--read-timeout` (isahc does
    /// not say when the connection was made, so silence after a quick connect gets both).
    first_byte_timeout: Duration,
    accept_types: std::sync::Arc<[String]>,
}

/// Least body progress per `--read-timeout` window before a slow body counts as timed out.
pub const MIN_PROGRESS: u64 = 1024;

impl Fetcher {
    /// Builds the client: connect and whole-request timeouts, a connection pool sized for the
    /// per-host cap, no automatic redirects, and our User-Agent.
    pub fn new(config: &CrawlConfig) -> Result<Self> {
        let http = isahc::HttpClient::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .redirect_policy(RedirectPolicy::None)
            .max_connections_per_host(config.per_host_concurrency)
            .connection_cache_size(config.concurrency.max(16) * 2)
            .default_header("user-agent", config.user_agent.as_str())
            .default_header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
            .default_header("accept-encoding", "gzip, deflate, br")
            // We decode ourselves, so the size cap counts decoded bytes.
            .automatic_decompression(false)
            .build()
            .map_err(|e| Error::Client(e.to_string()))?;
        let client =
            surf::Client::with_http_client(http_client::isahc::IsahcClient::from_client(http));
        Ok(Fetcher {
            client,
            max_body: config.max_body,
            read_timeout: config.read_timeout,
            first_byte_timeout: config.connect_timeout + config.read_timeout,
            accept_types: config.accept_types.clone().into(),
        })
    }

    /// GETs `url` and reads at most `--max-body` bytes of its body. Never panics on what the
    /// server sends: a panic inside the HTTP stack (it unwraps non-ASCII header values) becomes
    /// an `invalid_response` failure.
    pub async fn get(&self, url: &Url) -> std::result::Result<Fetched, FetchError> {
        self.get_capped(url, self.max_body).await
    }

    /// [`Fetcher::get`] with its own body cap (robots.txt reads 512 KiB whatever `--max-body`).
    pub async fn get_capped(
        &self,
        url: &Url,
        cap: u64,
    ) -> std::result::Result<Fetched, FetchError> {
        let start = Instant::now();
        let outcome = AssertUnwindSafe(self.get_inner(url, cap))
            .catch_unwind()
            .await;
        let fail = |kind: ErrorKind, detail: String| FetchError {
            failure: Failure {
                kind,
                message: format!("{} ({detail})", kind.describe()),
            },
            elapsed: start.elapsed(),
        };
        match outcome {
            Ok(Ok(mut f)) => {
                f.elapsed = start.elapsed();
                Ok(f)
            }
            Ok(Err((kind, message))) => Err(fail(kind, message)),
            Err(_) => Err(fail(
                ErrorKind::InvalidResponse,
                "the HTTP client panicked on malformed headers".into(),
            )),
        }
    }

    async fn get_inner(
        &self,
        url: &Url,
        cap: u64,
    ) -> std::result::Result<Fetched, (ErrorKind, String)> {
        // isahc answers only once the first body byte (or the end) is in, so a server that
        // sends its headers and then stalls would otherwise hold out until `--timeout`.
        // Dropping the request aborts its transfer; the connection is not reused.
        let wait = self.first_byte_timeout;
        let mut resp = runtime::timeout(wait, self.client.get(url.as_str()))
            .await
            .map_err(|_| {
                let wait = humantime::format_duration(wait);
                let msg = format!("no response bytes within {wait} (connect + read timeouts)");
                (ErrorKind::Timeout, msg)
            })?
            .map_err(|e| classify_client_error(&e))?;
        let status = u16::from(resp.status());
        let headers: Vec<(String, String)> = resp
            .iter()
            .flat_map(|(name, values)| {
                values
                    .iter()
                    .map(move |v| (name.as_str().to_ascii_lowercase(), v.as_str().to_string()))
            })
            .collect();
        let find = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.trim().to_ascii_lowercase())
        };
        let mut f = Fetched {
            status,
            body: Vec::new(),
            truncated: false,
            body_skipped: false,
            elapsed: Duration::ZERO,
            headers: Vec::new(),
        };
        if !self.wants_body(find("content-type").as_deref()) {
            f.body_skipped = true;
            f.headers = headers;
            return Ok(f);
        }
        let coding = find("content-encoding");
        let raw = resp.take_body().into_reader();
        let reader = decoder(raw, coding.as_deref(), self.read_timeout).await?;
        let decoding = reader.1;
        (f.body, f.truncated) = read_capped(reader.0, cap, self.read_timeout)
            .await
            .map_err(|(kind, msg)| match kind {
                ErrorKind::InvalidResponse if decoding => (ErrorKind::Decode, msg),
                _ => (kind, msg),
            })?;
        f.headers = headers;
        Ok(f)
    }

    /// HTML is always read (its links are needed); other types only when `--accept-type`
    /// allows them (no list: all).
    fn wants_body(&self, content_type: Option<&str>) -> bool {
        if self.accept_types.is_empty() || crate::extract::is_html(content_type) {
            return true;
        }
        let mime = content_type
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim();
        self.accept_types.iter().any(|a| accepts(a, mime))
    }
}

/// Whether an `--accept-type` pattern (`text/html`, `image/*`, `*/*`) matches a MIME type.
pub fn accepts(pattern: &str, mime: &str) -> bool {
    let pattern = pattern.trim();
    match pattern.strip_suffix("/*") {
        Some("*") => true,
        Some(top) => mime
            .split_once('/')
            .is_some_and(|(t, _)| t.eq_ignore_ascii_case(top)),
        None => pattern.eq_ignore_ascii_case(mime),
    }
}

type BoxRead = Box<dyn AsyncRead + Unpin + Send>;

/// Wraps the raw body in the decoder its `Content-Encoding` names. Returns whether a decoder
/// is in place (its errors are `decode` failures). Unknown codings are stored as received.
/// Sniffing a deflate body waits for its first bytes, under `idle` like every body read.
async fn decoder<R: AsyncBufRead + Unpin + Send + 'static>(
    mut raw: R,
    coding: Option<&str>,
    idle: Duration,
) -> std::result::Result<(BoxRead, bool), (ErrorKind, String)> {
    let coding = coding.map(|c| c.rsplit(',').next().unwrap_or("").trim().to_string());
    Ok(match coding.as_deref() {
        Some("gzip") | Some("x-gzip") => {
            let mut d = GzipDecoder::new(raw);
            d.multiple_members(true);
            (Box::new(d), true)
        }
        Some("br") => (Box::new(BrotliDecoder::new(raw)), true),
        Some("deflate") => {
            // "deflate" is zlib-wrapped by the standard, raw deflate from some servers.
            let head = runtime::timeout(idle, raw.fill_buf())
                .await
                .map_err(|_| idle_timeout(idle))?
                .map_err(|e| classify_io_error(&e))?;
            let zlib = head.len() >= 2
                && head[0] & 0x0f == 8
                && (u16::from(head[0]) << 8 | u16::from(head[1])) % 31 == 0;
            if zlib {
                (Box::new(ZlibDecoder::new(raw)), true)
            } else {
                (Box::new(DeflateDecoder::new(raw)), true)
            }
        }
        _ => (Box::new(raw), false),
    })
}

fn idle_timeout(idle: Duration) -> (ErrorKind, String) {
    let msg = format!("no body bytes for {}", humantime::format_duration(idle));
    (ErrorKind::Timeout, msg)
}

/// Reads up to `cap` bytes, then stops: the rest of the body is never read, and dropping the
/// reader lets curl close that connection rather than drain it. A read that waits longer than
/// `idle`, or a window of `idle` bringing fewer than [`MIN_PROGRESS`] bytes of a body that goes
/// on, is a timeout.
async fn read_capped<R: AsyncRead + Unpin>(
    mut reader: R,
    cap: u64,
    idle: Duration,
) -> std::result::Result<(Vec<u8>, bool), (ErrorKind, String)> {
    let mut body = Vec::with_capacity(16 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    let (mut window_start, mut window_bytes) = (Instant::now(), 0u64);
    // The last window brought too little. The verdict waits for the next read: a body that is
    // over (a small page read late because the machine was busy) is complete, not slow.
    let mut slow = false;
    loop {
        let n = match runtime::timeout(idle, reader.read(&mut chunk)).await {
            Err(_) => return Err(idle_timeout(idle)),
            Ok(Err(e)) => return Err(classify_io_error(&e)),
            Ok(Ok(0)) => return Ok((body, false)),
            Ok(Ok(n)) => n,
        };
        if slow {
            let msg = format!(
                "body slower than {MIN_PROGRESS} bytes per {}",
                humantime::format_duration(idle)
            );
            return Err((ErrorKind::Timeout, msg));
        }
        let room = (cap as usize).saturating_sub(body.len());
        body.extend_from_slice(&chunk[..n.min(room)]);
        if n > room {
            return Ok((body, true));
        }
        window_bytes += n as u64;
        if window_start.elapsed() >= idle {
            slow = window_bytes < MIN_PROGRESS;
            (window_start, window_bytes) = (Instant::now(), 0);
        }
    }
}

fn classify_client_error(e: &surf::Error) -> (ErrorKind, String) {
    let kind = match (
        e.downcast_ref::<isahc::Error>(),
        e.downcast_ref::<std::io::Error>(),
    ) {
        (Some(isahc), _) => classify_isahc(isahc),
        (None, Some(io)) => return classify_io_error(io),
        (None, None) => classify_message(&e.to_string()),
    };
    (kind, e.to_string())
}

fn classify_isahc(e: &isahc::Error) -> ErrorKind {
    use isahc::Error as I;
    match e {
        I::Timeout => ErrorKind::Timeout,
        I::ConnectFailed => ErrorKind::Connect,
        I::CouldntResolveHost | I::CouldntResolveProxy => ErrorKind::Dns,
        I::SSLConnectFailed(_) | I::SSLEngineError(_) | I::BadServerCertificate(_) => {
            ErrorKind::Tls
        }
        I::NoResponse | I::ResponseBodyError(_) | I::Aborted => ErrorKind::Reset,
        I::InvalidHttpFormat(_) | I::InvalidContentEncoding(_) | I::InvalidUtf8 => {
            ErrorKind::InvalidResponse
        }
        I::Io(io) => classify_io_error(io).0,
        I::Curl(msg) => classify_message(msg),
        _ => classify_message(&e.to_string()),
    }
}

/// Body read errors arrive as `io::Error`, often wrapping the isahc error that says why.
fn classify_io_error(e: &std::io::Error) -> (ErrorKind, String) {
    use std::io::ErrorKind as K;
    if let Some(inner) = e.get_ref().and_then(|i| i.downcast_ref::<isahc::Error>()) {
        return (classify_isahc(inner), e.to_string());
    }
    let kind = match e.kind() {
        K::TimedOut => ErrorKind::Timeout,
        K::ConnectionRefused => ErrorKind::Connect,
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
            ErrorKind::Reset
        }
        K::InvalidData => ErrorKind::InvalidResponse,
        _ => classify_message(&e.to_string()),
    };
    (kind, e.to_string())
}

/// Last resort: curl's own wording, for errors isahc passes through as text (curl's generic
/// descriptions: "Unsupported protocol" is a status line that is not HTTP, "A value or data
/// field grew larger than allowed" is oversized headers, "Failure when receiving data from the
/// peer" covers resets and broken chunked framing alike).
fn classify_message(msg: &str) -> ErrorKind {
    let m = msg.to_ascii_lowercase();
    let any = |words: &[&str]| words.iter().any(|w| m.contains(w));
    if any(&["timeout", "timed out"]) {
        ErrorKind::Timeout
    } else if any(&["resolve"]) {
        ErrorKind::Dns
    } else if any(&["ssl", "tls", "certificate"]) {
        ErrorKind::Tls
    } else if any(&[
        "unsupported protocol",
        "weird server reply",
        "larger than allowed",
        "header",
    ]) {
        ErrorKind::InvalidResponse
    } else if any(&["connect"]) {
        ErrorKind::Connect
    } else if any(&[
        "reset",
        "recv",
        "receiving",
        "partial",
        "closed",
        "transfer closed",
    ]) {
        ErrorKind::Reset
    } else if any(&["decod", "invalid", "malformed"]) {
        ErrorKind::InvalidResponse
    } else {
        ErrorKind::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_cut_at_the_cap() {
        let data = [7u8; 100];
        let idle = Duration::from_secs(5);
        let (b, t) = runtime::block_on(read_capped(&data[..], 10, idle)).unwrap();
        assert_eq!((b.len(), t), (10, true));
        let (b, t) = runtime::block_on(read_capped(&data[..], 100, idle)).unwrap();
        assert_eq!((b.len(), t), (100, false));
    }

    /// A loopback socket whose peer writes `steps` (pause, then bytes) and closes.
    fn paced(steps: Vec<(u64, Vec<u8>)>) -> async_std::net::TcpStream {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            use std::io::Write;
            let (mut conn, _) = listener.accept().unwrap();
            for (pause, bytes) in steps {
                std::thread::sleep(Duration::from_millis(pause));
                if conn.write_all(&bytes).is_err() {
                    return;
                }
            }
        });
        runtime::block_on(async_std::net::TcpStream::connect(addr)).unwrap()
    }

    #[test]
    fn a_trickle_times_out_but_a_small_late_body_is_complete() {
        let idle = Duration::from_millis(300);
        // One byte every 100 ms: never idle for 300 ms, yet far below MIN_PROGRESS.
        let drip = paced((0..40).map(|_| (100, vec![b'x'])).collect());
        let started = Instant::now();
        let err = runtime::block_on(read_capped(drip, 1 << 20, idle)).unwrap_err();
        assert_eq!(err.0, ErrorKind::Timeout, "{err:?}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "cut by the window"
        );
        // 200 bytes after 250 ms, then 100 more after 200 ms, then the end: the window
        // closes with fewer than MIN_PROGRESS bytes, but the body is over, not slow.
        let late = paced(vec![(250, vec![b'a'; 200]), (200, vec![b'b'; 100])]);
        let (b, t) = runtime::block_on(read_capped(late, 1 << 20, idle)).unwrap();
        assert_eq!((b.len(), t), (300, false));
    }

    #[test]
    fn a_deflate_body_that_never_starts_times_out_while_sniffed() {
        let idle = Duration::from_millis(300);
        let silent = futures_lite::io::BufReader::new(paced(vec![(3_000, vec![0x78, 0x9c])]));
        let started = Instant::now();
        let sniffed = runtime::block_on(decoder(silent, Some("deflate"), idle));
        assert_eq!(sniffed.err().map(|e| e.0), Some(ErrorKind::Timeout));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "cut at --read-timeout"
        );
    }

    #[test]
    fn accept_type_patterns() {
        assert!(accepts("image/*", "image/png"));
        assert!(accepts("*/*", "application/pdf"));
        assert!(accepts("Application/PDF", "application/pdf"));
        assert!(!accepts("image/*", "text/html"));
        assert!(!accepts("text/plain", "text/html"));
    }

    #[test]
    fn gzip_and_deflate_bodies_decode_under_the_cap() {
        use std::io::Write;
        let plain = b"hello ".repeat(10_000);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&plain).unwrap();
        let gz = gz.finish().unwrap();
        let mut zl = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        zl.write_all(&plain).unwrap();
        let zl = zl.finish().unwrap();
        let mut raw =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        raw.write_all(&plain).unwrap();
        let raw = raw.finish().unwrap();
        let idle = Duration::from_secs(5);
        for (coding, bytes) in [("gzip", &gz), ("deflate", &zl), ("deflate", &raw)] {
            let body = runtime::block_on(async {
                let (r, decoding) = decoder(
                    futures_lite::io::Cursor::new(bytes.clone()),
                    Some(coding),
                    idle,
                )
                .await
                .unwrap();
                assert!(decoding);
                read_capped(r, 1000, idle).await.unwrap()
            });
            assert_eq!((body.0.len(), body.1), (1000, true), "{coding}");
            assert_eq!(&body.0[..], &plain[..1000]);
        }
    }

    #[test]
    fn io_errors_map_to_kinds() {
        use std::io::{Error as E, ErrorKind as K};
        assert_eq!(
            classify_io_error(&E::from(K::TimedOut)).0,
            ErrorKind::Timeout
        );
        assert_eq!(
            classify_io_error(&E::from(K::ConnectionReset)).0,
            ErrorKind::Reset
        );
        assert_eq!(
            classify_message("Couldn't resolve host name"),
            ErrorKind::Dns
        );
    }
}
