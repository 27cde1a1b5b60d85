//! HTTP fetching: the one shared surf client (curl backend, configured through isahc) and the
//! mapping of everything that can go wrong on the way into a stored [`ErrorKind`].
//!
//! Why curl and not async-h1: surf's async-h1 backend can hand a later request the response
//! meant for an earlier one after a timeout or a half-read body on a reused connection, and its
//! timeout does not cover connect or the body (see `../shared/DEPENDENCIES.md` and the README).
//! Redirects are never followed here: each hop goes back through the frontier, scope and the
//! host's rate limit.

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, FutureExt};
use isahc::config::{Configurable, RedirectPolicy};
use url::Url;

use crate::config::CrawlConfig;
use crate::error::{Error, Result};
use crate::store::{ErrorKind, Failure};

/// What a server sent, with the body cut at the configured cap.
#[derive(Debug)]
pub struct Fetched {
    /// HTTP status code.
    pub status: u16,
    /// Headers in the order received (names lowercase).
    pub headers: Vec<(String, String)>,
    /// Body bytes, after curl undid any gzip/deflate transfer coding.
    pub body: Vec<u8>,
    /// The body went on past `--max-body` and the rest was not read.
    pub truncated: bool,
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
}

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
            .build()
            .map_err(|e| Error::Client(e.to_string()))?;
        let client =
            surf::Client::with_http_client(http_client::isahc::IsahcClient::from_client(http));
        Ok(Fetcher {
            client,
            max_body: config.max_body,
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
        let mut resp = self
            .client
            .get(url.as_str())
            .await
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
        let (body, truncated) = read_capped(resp.take_body().into_reader(), cap).await?;
        Ok(Fetched {
            status,
            headers,
            body,
            truncated,
            elapsed: Duration::ZERO,
        })
    }
}

/// Reads up to `cap` bytes, then stops: the rest of the body is never read, and dropping the
/// reader lets curl close that connection rather than drain it.
async fn read_capped<R: futures_lite::AsyncRead + Unpin>(
    reader: R,
    cap: u64,
) -> std::result::Result<(Vec<u8>, bool), (ErrorKind, String)> {
    let mut body = Vec::with_capacity(16 * 1024);
    let mut limited = reader.take(cap.saturating_add(1));
    limited
        .read_to_end(&mut body)
        .await
        .map_err(|e| classify_io_error(&e))?;
    let truncated = body.len() as u64 > cap;
    body.truncate(cap as usize);
    Ok((body, truncated))
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

/// Last resort: curl's own wording, for errors isahc passes through as text.
fn classify_message(msg: &str) -> ErrorKind {
    let m = msg.to_ascii_lowercase();
    if m.contains("timeout") || m.contains("timed out") {
        ErrorKind::Timeout
    } else if m.contains("resolve") {
        ErrorKind::Dns
    } else if m.contains("ssl") || m.contains("tls") || m.contains("certificate") {
        ErrorKind::Tls
    } else if m.contains("connect") {
        ErrorKind::Connect
    } else if m.contains("reset")
        || m.contains("recv")
        || m.contains("partial")
        || m.contains("closed")
    {
        ErrorKind::Reset
    } else if m.contains("decod") || m.contains("invalid") || m.contains("malformed") {
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
        let (b, t) = async_std::task::block_on(read_capped(&data[..], 10)).unwrap();
        assert_eq!((b.len(), t), (10, true));
        let (b, t) = async_std::task::block_on(read_capped(&data[..], 100)).unwrap();
        assert_eq!((b.len(), t), (100, false));
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
