//! The bridge from surf to isahc (curl): http-client's own `IsahcClient`, less two faults.
//!
//! - It drops the protocol version, and the crawler records it (`HTTP/2` in the record, the
//!   exports and the WARC status line).
//! - It unwraps every header value as ASCII, so one non-ASCII byte from a server (a raw UTF-8
//!   `Location`, a Latin-1 filename) panicked inside the HTTP stack and cost the whole response.
//!   Here such bytes are percent-encoded (`é` → `%C3%A9`), which is what a browser does with
//!   them in a `Location` and keeps every other value readable and lossless.
//! - It gives surf the status code as it came, and surf's `Response::new` panics on a code
//!   outside its closed list (522 from Cloudflare, 999, ...). Here surf gets its class's
//!   representative and the real code travels beside it as a [`SentStatus`] extension.
//! - It drops the address curl connected to (`CURLINFO_PRIMARY_IP`), which WARC records as
//!   `WARC-IP-Address`; here it travels as a [`PeerAddr`] extension.

use async_std::io::BufReader;
use http_client::http_types::{self, Version};
use http_client::{Config, Error, HttpClient, Request, Response};
use isahc::config::Configurable;

/// The status code exactly as the server sent it (100-999), on every response of this client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SentStatus(pub u16);

/// The address the response came from: the server's, or the proxy's behind `--proxy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub std::net::SocketAddr);

/// surf's client over one shared isahc client (its connection pool and settings).
#[derive(Debug)]
pub struct CurlClient {
    client: isahc::HttpClient,
    config: Config,
}

impl CurlClient {
    pub fn new(client: isahc::HttpClient) -> Self {
        CurlClient {
            client,
            config: Config::default(),
        }
    }
}

#[http_client::async_trait]
impl HttpClient for CurlClient {
    async fn send(&self, mut req: Request) -> Result<Response, Error> {
        let method =
            isahc::http::Method::from_bytes(req.method().to_string().as_bytes()).map_err(|e| {
                Error::from_str(
                    http_types::StatusCode::BadRequest,
                    format!("bad request method: {e}"),
                )
            })?;
        let mut builder = isahc::http::Request::builder()
            .uri(req.url().as_str())
            .method(method);
        if let Some(metrics) = req.ext().get::<isahc::Metrics>() {
            // The agent thread stamps it when curl has sent the request (vendor/PATCHED.md).
            builder = builder.extension(metrics.clone()).metrics(true);
        }
        if let Some(address) = req.ext().get::<isahc::config::ResolveMap>() {
            // The host's address, resolved once while it has work (fetch/dns.rs): curl does not look up.
            builder = builder.extension(address.clone());
        }
        for (name, values) in req.iter() {
            for value in values {
                builder = builder.header(name.as_str(), value.as_str());
            }
        }
        let body = req.take_body();
        let body = match body.len() {
            // A GET has no body: no `Content-Length: 0` on it either.
            Some(0) => isahc::Body::empty(),
            Some(len) => isahc::Body::from_reader_sized(body, len as u64),
            None => isahc::Body::from_reader(body),
        };
        let request = builder.body(body).map_err(|e| {
            Error::from_str(
                http_types::StatusCode::BadRequest,
                format!("bad request: {e}"),
            )
        })?;
        let res = self.client.send_async(request).await.map_err(Error::from)?;
        let peer = isahc::ResponseExt::remote_addr(&res);
        let (parts, body) = res.into_parts();
        let sent = parts.status.as_u16();
        let mut response = http_types::Response::new(crate::http_status::surf_carrier(sent));
        response.ext_mut().insert(SentStatus(sent));
        if let Some(peer) = peer {
            response.ext_mut().insert(PeerAddr(peer));
        }
        response.set_version(version(parts.version));
        for (name, value) in &parts.headers {
            response.append_header(name.as_str(), ascii(value.as_bytes()).as_str());
        }
        response.set_body(http_types::Body::from_reader(BufReader::new(body), None));
        Ok(response)
    }

    fn set_config(&mut self, config: Config) -> http_types::Result<()> {
        // The crawler configures isahc itself (`Fetcher::new`); surf's generic settings are
        // only remembered.
        self.config = config;
        Ok(())
    }

    fn config(&self) -> &Config {
        &self.config
    }
}

fn version(v: isahc::http::Version) -> Option<Version> {
    use isahc::http::Version as V;
    match v {
        V::HTTP_09 => Some(Version::Http0_9),
        V::HTTP_10 => Some(Version::Http1_0),
        V::HTTP_11 => Some(Version::Http1_1),
        V::HTTP_2 => Some(Version::Http2_0),
        V::HTTP_3 => Some(Version::Http3_0),
        _ => None,
    }
}

/// How a protocol version is written in records and status lines: `HTTP/1.1`, `HTTP/2`.
pub fn version_text(v: Version) -> &'static str {
    match v {
        Version::Http0_9 => "HTTP/0.9",
        Version::Http1_0 => "HTTP/1.0",
        Version::Http1_1 => "HTTP/1.1",
        Version::Http2_0 => "HTTP/2",
        Version::Http3_0 => "HTTP/3",
        _ => "HTTP",
    }
}

/// A header value as visible ASCII: bytes outside it (and `%` itself only when some are
/// escaped, so a plain value stays as sent) percent-encoded.
fn ascii(bytes: &[u8]) -> String {
    let plain = |b: u8| b == b'\t' || (0x20..0x7f).contains(&b);
    if bytes.iter().all(|&b| plain(b)) {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    let mut out = String::with_capacity(bytes.len() * 3);
    for &b in bytes {
        if plain(b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_outside_ascii_are_percent_encoded() {
        assert_eq!(
            ascii(b"text/html; charset=utf-8"),
            "text/html; charset=utf-8"
        );
        assert_eq!(ascii(b"100%"), "100%", "a plain value stays as sent");
        assert_eq!(ascii("/caf\u{e9} 100%".as_bytes()), "/caf%C3%A9 100%25");
        assert_eq!(ascii(b"a\xffb"), "a%FFb");
    }
}
