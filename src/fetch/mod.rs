//! HTTP fetching: the one shared surf client (curl backend, configured through isahc), and a
//! request to a [`Fetched`] response or a [`FetchError`] with its [`ErrorKind`].
//!
//! Why curl and not async-h1: surf's async-h1 backend can hand a later request the response
//! meant for an earlier one after a timeout or a half-read body on a reused connection, and its
//! timeout does not cover connect or the body (measured; see docs/ARCHITECTURE.md, "The HTTP
//! stack").
//! Redirects are never followed here: each hop goes back through the frontier, scope and the
//! host's rate limit.
//!
//! A response not begun `--connect-timeout` + `--read-timeout` after the request started is cut
//! off as a timeout; the body is then read by `body` (decoded, capped, timed) and failures
//! named by `classify`. With `--accept-type`, bodies of other types (HTML aside) are not
//! downloaded at all.

pub mod address;
mod body;
mod classify;
mod client;
pub mod cookies;
pub mod dns;
pub mod proxy;
pub mod tls;

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use futures_lite::FutureExt;
use isahc::config::{Configurable, RedirectPolicy};
use url::Url;

use crate::config::request;
use crate::config::CrawlConfig;
use crate::error::{Error, Result};
use crate::failure::{ErrorKind, Failure};
use crate::runtime;
use crate::sendgate::Departure;

use body::{decoder, read_capped};
use classify::classify_client_error;

/// What a server sent, with the body cut at the configured cap.
#[derive(Debug)]
pub struct Fetched {
    /// HTTP status code.
    pub status: u16,
    /// The protocol version of the response (`HTTP/1.1`, `HTTP/2`), when the client says.
    pub http_version: Option<&'static str>,
    /// The address the response came from (the proxy's behind `--proxy`), when curl says.
    pub ip: Option<std::net::IpAddr>,
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
    tls: std::sync::Arc<tls::TlsSettings>,
    /// Behind a lock because a shared crawl's logins can grow while it runs (see
    /// [`Fetcher::logins`]); read once per request.
    credentials: request::Logins,
    /// The credential `--header`s, sent to the seeds' origins only.
    seed_headers: std::sync::Arc<SeedHeaders>,
    /// `None` with `--no-cookies`.
    cookies: Option<std::sync::Arc<cookies::Jar>>,
    /// `None` when curl resolves names (behind a proxy).
    dns: Option<std::sync::Arc<dns::Dns>>,
    /// Which addresses may be reached (see [`address`]); everything until a crawl sets its own.
    addresses: std::sync::Arc<address::AddressRule>,
    /// Why the client can send nothing more, once its agent thread has died (see
    /// [`Fetcher::stopped`]).
    stopped: std::sync::Arc<std::sync::OnceLock<String>>,
}

/// The `--header`s that carry a credential (`Cookie`, `X-Api-Key`, see
/// [`crate::secrets::is_secret_header`]) and the origins they may go to: the seeds', as for a
/// `--user` login. The other `--header`s go with every request; these would hand a session or a
/// key to every host a crawl reaches (`--scope any`, a redirect, a robots.txt moved to an
/// intranet host).
/// The origins are the [`request::Logins`]' (a shared crawl's can grow while it runs).
#[derive(Debug, Default)]
struct SeedHeaders {
    headers: Vec<(String, String)>,
}

impl SeedHeaders {
    /// The credential headers to send with a request to `url`.
    fn for_url(&self, url: &Url, logins: &request::Logins) -> &[(String, String)] {
        if self.headers.is_empty() || !logins.is_seed_origin(url) {
            return &[];
        }
        &self.headers
    }
}

impl Fetcher {
    /// The logins this fetcher sends (see [`request::Logins`]).
    pub fn logins(&self) -> request::Logins {
        self.credentials.clone()
    }

    /// Builds the client: connect and whole-request timeouts, a connection pool sized for the
    /// per-host cap, no automatic redirects, and our User-Agent.
    pub fn new(config: &CrawlConfig) -> Result<Self> {
        raise_descriptor_limit();
        let tls = tls::TlsSettings::new(config)?;
        if config.insecure {
            log::warn!(
                "--insecure: server certificates are NOT checked, so any server can pose as the \
                 sites crawled; recorded in the crawl's settings and in WARC exports"
            );
        }
        let builder = isahc::HttpClient::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .redirect_policy(RedirectPolicy::None)
            .max_connections_per_host(config.per_host_concurrency)
            .connection_cache_size(connection_pool_size(config))
            // We decode ourselves, so the size cap counts decoded bytes.
            .automatic_decompression(false)
            // Names are resolved once per host with work (`dns`), IP literals need no lookup. With a
            // timeout, curl walks its whole DNS cache at the end of every transfer to prune it:
            // with 10,000 hosts that walk was 27 % of the crawl's CPU.
            .dns_cache(isahc::config::DnsCache::Forever);
        let builder = match config
            .bind_address
            .as_deref()
            .map(str::parse::<std::net::IpAddr>)
        {
            Some(Ok(ip)) => builder.interface(ip),
            _ => builder,
        };
        let (to_seeds, to_all): (Vec<String>, Vec<String>) =
            config.headers.iter().cloned().partition(|line| {
                request::parse_header(line)
                    .is_ok_and(|(name, _)| crate::secrets::is_secret_header(&name))
            });
        let builder = request::default_headers(&config.user_agent, &to_all)
            .into_iter()
            .fold(builder, |b, (name, value)| b.default_header(name, value));
        let builder = proxy::apply(config, config.credentials.proxy.as_ref(), builder)?;
        let http = tls
            .apply(builder)
            .build()
            .map_err(|e| Error::Client(e.to_string()))?;
        let client = surf::Client::with_http_client(client::CurlClient::new(http));
        Ok(Fetcher {
            client,
            max_body: config.max_body,
            read_timeout: config.read_timeout,
            first_byte_timeout: config.connect_timeout + config.read_timeout,
            accept_types: config.accept_types.clone().into(),
            tls: std::sync::Arc::new(tls),
            credentials: request::Logins::new(
                config.credentials.clone(),
                config.seeds.iter().map(crate::canon::origin_key).collect(),
            ),
            seed_headers: std::sync::Arc::new(SeedHeaders {
                headers: to_seeds
                    .iter()
                    .filter_map(|line| request::parse_header(line).ok())
                    .collect(),
            }),
            cookies: match config.no_cookies {
                true => None,
                false => Some(std::sync::Arc::new(cookies::Jar::open(&config.db)?)),
            },
            dns: dns::Dns::new(config)?.map(std::sync::Arc::new),
            addresses: std::sync::Arc::new(address::AddressRule::allow_all()),
            stopped: std::sync::Arc::default(),
        })
    }

    /// The fetcher with the crawl's address rule: requests to addresses it refuses fail as
    /// `private_address` before anything is sent.
    pub fn with_address_rule(mut self, rule: address::AddressRule) -> Self {
        self.addresses = std::sync::Arc::new(rule);
        self
    }

    /// Why the HTTP client can send nothing more: curl's agent thread (isahc's) ended with an
    /// error, after which every request panics. The request that found it out is not a failure
    /// of its URL: the caller leaves it queued and stops the crawl (see `worker::process`).
    pub fn stopped(&self) -> Option<&str> {
        self.stopped.get().map(String::as_str)
    }

    /// Saves the cookie jar if it changed (the crawl calls it when it stops).
    pub fn save_cookies(&self) -> Result<()> {
        self.cookies.as_ref().map_or(Ok(()), |j| j.save())
    }

    /// GETs `url` with `headers` besides the usual ones (a recheck's conditional headers) and
    /// reads at most `--max-body` bytes of its body. Never panics on what the
    /// server sends: a panic inside the HTTP stack (it unwraps non-ASCII header values) becomes
    /// an `invalid_response` failure.
    pub async fn get_with(
        &self,
        url: &Url,
        headers: &[(&'static str, String)],
        send: SendOptions<'_>,
    ) -> std::result::Result<Fetched, FetchError> {
        self.get_capped(url, self.max_body, headers, send).await
    }

    /// [`Fetcher::get_with`] with its own body cap (robots.txt reads 512 KiB whatever `--max-body`).
    pub async fn get_capped(
        &self,
        url: &Url,
        cap: u64,
        headers: &[(&'static str, String)],
        send: SendOptions<'_>,
    ) -> std::result::Result<Fetched, FetchError> {
        let start = Instant::now();
        let outcome = AssertUnwindSafe(self.get_inner(url, cap, headers, send))
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
            Ok(Err((ErrorKind::TlsUntrusted | ErrorKind::Tls, message))) => {
                // The client does not say why a handshake or a certificate check failed; one
                // handshake of our own does (see `tls`).
                let (settings, target) = (self.tls.clone(), url.clone());
                let why = runtime::run_blocking(move || settings.diagnose(&target)).await;
                let (kind, message) = why.unwrap_or((ErrorKind::Tls, message));
                Err(fail(kind, message))
            }
            Ok(Err((kind, message))) => Err(fail(kind, message)),
            Err(payload) => {
                let what = payload
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| payload.downcast_ref::<&str>().copied())
                    .unwrap_or("");
                if what.starts_with("agent thread terminated") {
                    let _ = self.stopped.set(what.to_string());
                }
                Err(fail(
                    ErrorKind::InvalidResponse,
                    "the HTTP client panicked on malformed headers".into(),
                ))
            }
        }
    }

    async fn get_inner(
        &self,
        url: &Url,
        cap: u64,
        extra: &[(&'static str, String)],
        send: SendOptions<'_>,
    ) -> std::result::Result<Fetched, (ErrorKind, String)> {
        // isahc answers only once the first body byte (or the end) is in, so a server that
        // sends its headers and then stalls would otherwise hold out until `--timeout`.
        // Dropping the request aborts its transfer; the connection is not reused.
        if crate::crashpoint::failing_from("http-client-dies") {
            panic!("agent thread terminated prematurely (POLITECRAWL_CRASH_AT=http-client-dies)");
        }
        let wait = self.first_byte_timeout;
        let address = self.address(url).await?;
        let mut req = self.client.get(url.as_str());
        if let Some(auth) = self.credentials.authorization(url) {
            req = req.header("authorization", auth);
        }
        for (name, value) in self.seed_headers.for_url(url, &self.credentials) {
            req = req.header(name.as_str(), value.as_str());
        }
        if let Some(cookie) = self.cookies.as_ref().and_then(|j| j.header_for(url)) {
            req = req.header("cookie", cookie);
        }
        for (name, value) in extra {
            req = req.header(*name, value.as_str());
        }
        if !send.keep_alive {
            req = req.header("connection", "close");
        }
        let mut req = req.build();
        // curl's agent thread stamps it once the request is sent (see `crate::sendgate`).
        if let Some(metrics) = send.departure.metrics() {
            req.set_ext(metrics.clone());
        }
        if let Some(address) = address {
            req.set_ext(address);
        }
        let mut resp = runtime::timeout(wait, self.client.send(req))
            .await
            .map_err(|_| {
                let wait = humantime::format_duration(wait);
                let msg = format!("no response bytes within {wait} (connect + read timeouts)");
                (ErrorKind::Timeout, msg)
            })?
            .map_err(|e| classify_client_error(&e))?;
        let status = resp
            .ext::<client::SentStatus>()
            .map_or_else(|| u16::from(resp.status()), |s| s.0);
        let headers: Vec<(String, String)> = resp
            .iter()
            .flat_map(|(name, values)| {
                values
                    .iter()
                    .map(move |v| (name.as_str().to_ascii_lowercase(), v.as_str().to_string()))
            })
            .collect();
        if let Some(jar) = self.cookies.as_ref().filter(|j| j.take(url, &headers)) {
            let jar = std::sync::Arc::clone(jar);
            // A failed save keeps the jar dirty: the next save, or the one at stop, retries.
            if let Err(e) = runtime::run_blocking(move || jar.save()).await {
                log::warn!("{e}");
            }
        }
        let find = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.trim().to_ascii_lowercase())
        };
        let mut f = Fetched {
            status,
            http_version: resp.version().map(client::version_text),
            ip: resp.ext::<client::PeerAddr>().map(|p| p.0.ip()),
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
        // A Content-Length counts encoded bytes: a size for the body only when not decoding.
        let size = find("content-length")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|_| !decoding);
        (f.body, f.truncated) = read_capped(reader.0, cap, self.read_timeout, size)
            .await
            .map_err(|(kind, msg)| match kind {
                ErrorKind::InvalidResponse if decoding => (ErrorKind::Decode, msg),
                _ => (kind, msg),
            })?;
        f.headers = headers;
        Ok(f)
    }

    /// The address curl is to connect to for `url`'s host, resolved once while the host has
    /// work (see [`dns`]), after the removals of forgotten hosts from curl's cache; `None` when
    /// there is neither (an IP literal), or when curl resolves names itself.
    async fn address(
        &self,
        url: &Url,
    ) -> std::result::Result<Option<isahc::config::ResolveMap>, (ErrorKind, String)> {
        let refused = |why: String| (ErrorKind::PrivateAddress, why);
        let host = url.host_str().unwrap_or("");
        let Some(dns) = &self.dns else {
            // Behind a proxy, which resolves names: only what the URL itself says.
            self.addresses.check_literal(host).map_err(refused)?;
            return Ok(None);
        };
        let own = match url.host() {
            Some(url::Host::Domain(name)) => {
                let ip = dns.resolve(name).await?;
                self.addresses.check(name, ip).map_err(refused)?;
                Some((name, url.port_or_known_default().unwrap_or(80), ip))
            }
            Some(url::Host::Ipv4(ip)) => {
                self.addresses.check(host, ip.into()).map_err(refused)?;
                None
            }
            Some(url::Host::Ipv6(ip)) => {
                self.addresses.check(host, ip.into()).map_err(refused)?;
                None
            }
            None => None,
        };
        // After the lookup: taken as late as may be, so a removal reaches curl soon after a
        // host is forgotten; placed first, since curl applies the entries in order and the
        // request's own address must stay (its host may be one that got work again).
        let map = dns
            .take_forgotten()
            .into_iter()
            .fold(isahc::config::ResolveMap::new(), |m, (host, port)| {
                m.remove(host, port)
            });
        let map = match own {
            Some((host, port, ip)) => map.add(host, port, ip),
            None => map,
        };
        Ok((!map.is_empty()).then_some(map))
    }

    /// Forgets what is kept for `origin`'s host (its DNS answer, here and in curl): the engine
    /// dropped the origin's slot, as it has no work left.
    pub fn forget_origin(&self, origin: &str) {
        let Some(dns) = &self.dns else { return };
        let Ok(url) = Url::parse(origin) else { return };
        if let (Some(url::Host::Domain(host)), Some(port)) =
            (url.host(), url.port_or_known_default())
        {
            dns.forget(host, port);
        }
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

/// How many connections the client keeps open between requests: twice the requests in flight.
pub fn connection_pool_size(config: &CrawlConfig) -> usize {
    config.concurrency.max(16) * 2
}

/// How one request is sent, besides its URL and headers.
#[derive(Clone, Copy)]
pub struct SendOptions<'a> {
    /// Stamped by curl's agent thread when the request has left (see [`crate::sendgate`]).
    pub departure: &'a Departure,
    /// `false`: the request asks the server to close the connection after its answer
    /// (`Connection: close`), since the pool could not keep it until the origin's next request
    /// anyway (see `Job::Page`).
    pub keep_alive: bool,
}

/// Raises this process's soft limit on open descriptors to its hard limit (at most 65,536).
/// A broad crawl holds a socket per request in flight and per pooled connection (up to
/// 3 × `--concurrency`) beside the database's files, past the common soft limit of 1,024;
/// running out makes connects fail as if the hosts were down. Raising the soft limit up to the
/// hard one needs no privilege; when it cannot be raised the crawl goes on with what it has.
fn raise_descriptor_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid rlimit struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return;
        }
        let want = lim.rlim_max.min(65_536);
        if lim.rlim_cur < want {
            lim.rlim_cur = want;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                log::debug!(
                    "could not raise the descriptor limit: {}",
                    std::io::Error::last_os_error()
                );
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_type_patterns() {
        assert!(accepts("image/*", "image/png"));
        assert!(accepts("*/*", "application/pdf"));
        assert!(accepts("Application/PDF", "application/pdf"));
        assert!(!accepts("image/*", "text/html"));
        assert!(!accepts("text/plain", "text/html"));
    }

    /// curl applies a request's entries in order: the removals of forgotten hosts go first,
    /// so a host forgotten and then given work again keeps the address its request adds.
    #[test]
    fn forgotten_hosts_leave_curl_before_the_request_adds_its_own() {
        let mut config = CrawlConfig::new("unused.db", &["http://b.test/"]).unwrap();
        config.dns_server = Some("127.0.0.1:9".into());
        config.no_proxy = true;
        let fetcher = Fetcher::new(&config).unwrap();
        let dns = fetcher.dns.as_ref().expect("a resolver of our own");
        let local = std::net::IpAddr::from([127, 0, 0, 1]);
        dns.remember("a.test", local);
        dns.remember("b.test", local);
        fetcher.forget_origin("http://a.test:8080");
        fetcher.forget_origin("https://b.test");
        dns.remember("b.test", local);
        let url = Url::parse("http://b.test/x").unwrap();
        let map = runtime::block_on(fetcher.address(&url)).unwrap().unwrap();
        assert_eq!(
            format!("{map:?}"),
            r#"ResolveMap(["-a.test:8080", "-b.test:443", "b.test:80:127.0.0.1"])"#
        );
        // Handed over once; an IP literal then needs no entry at all.
        let url = Url::parse("http://127.0.0.1:1/").unwrap();
        assert!(runtime::block_on(fetcher.address(&url)).unwrap().is_none());
    }
}
