//! The failure vocabulary: why one URL failed, as a closed set of kinds with the client's own
//! words. A leaf module, so fetching, retrying and storing all speak it without importing each
//! other.

use serde::{Deserialize, Serialize};

/// The closed set of reasons a URL can fail (stored by variant index: new kinds go last). Local failures are never disguised as HTTP
/// statuses: `http_status` is the only kind that comes with a status code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The server answered with a 4xx or 5xx status.
    HttpStatus,
    /// The connect or whole-request time limit passed.
    Timeout,
    /// The TCP connection could not be made.
    Connect,
    /// The host name did not resolve.
    Dns,
    /// The TLS handshake or certificate check failed.
    Tls,
    /// The connection broke while the response was being read.
    Reset,
    /// The response was not valid HTTP.
    InvalidResponse,
    /// The body's Content-Encoding (gzip, deflate, br) did not decode.
    Decode,
    /// A redirect led back to a URL already in its own chain.
    RedirectLoop,
    /// More than `--max-redirects` redirects in a row.
    TooManyRedirects,
    /// A redirect to something that is not an http(s) URL (recorded, not followed).
    UnsupportedRedirect,
    /// robots.txt disallows the URL (state `blocked`; the message names the rule).
    RobotsDisallowed,
    /// The host's robots.txt stayed unreachable past `--robots-give-up`.
    RobotsUnreachable,
    /// Anything the HTTP client reports that fits none of the above.
    Other,
    /// The server's certificate is not signed by a CA trusted here (`--ca-cert` helps).
    TlsUntrusted,
    /// The server's certificate is expired or not yet valid.
    TlsExpired,
    /// The server's certificate is made for another host name.
    TlsNameMismatch,
    /// The name server failed or did not answer (SERVFAIL, REFUSED, a timeout): asked again.
    DnsUnavailable,
    /// The host is at a loopback, private, link-local or other non-public address that no seed
    /// is at (state `blocked`, never requested; `--allow-private` lifts it).
    PrivateAddress,
    /// A sitemap named by a sitemap that a sitemap index named: sitemaps.org has one level of
    /// index (state `blocked`, never requested).
    NestedSitemap,
    /// Queued, then out of the crawl's scope or filters as they stand when it was leased: an
    /// `--exclude`, `--include`, `--scope` or trap-rule setting changed on a resume (state
    /// `blocked`, never requested).
    OutOfScope,
}

impl ErrorKind {
    /// Every kind, in the order `status` lists them.
    pub const ALL: [ErrorKind; 21] = [
        ErrorKind::HttpStatus,
        ErrorKind::Timeout,
        ErrorKind::Connect,
        ErrorKind::Dns,
        ErrorKind::DnsUnavailable,
        ErrorKind::Tls,
        ErrorKind::TlsUntrusted,
        ErrorKind::TlsExpired,
        ErrorKind::TlsNameMismatch,
        ErrorKind::Reset,
        ErrorKind::InvalidResponse,
        ErrorKind::Decode,
        ErrorKind::RedirectLoop,
        ErrorKind::TooManyRedirects,
        ErrorKind::UnsupportedRedirect,
        ErrorKind::RobotsDisallowed,
        ErrorKind::RobotsUnreachable,
        ErrorKind::PrivateAddress,
        ErrorKind::NestedSitemap,
        ErrorKind::OutOfScope,
        ErrorKind::Other,
    ];

    /// The snake_case name used in exports and status.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::HttpStatus => "http_status",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Connect => "connect",
            ErrorKind::Dns => "dns",
            ErrorKind::Tls => "tls",
            ErrorKind::Reset => "reset",
            ErrorKind::InvalidResponse => "invalid_response",
            ErrorKind::Decode => "decode",
            ErrorKind::RedirectLoop => "redirect_loop",
            ErrorKind::TooManyRedirects => "too_many_redirects",
            ErrorKind::UnsupportedRedirect => "unsupported_redirect",
            ErrorKind::RobotsDisallowed => "robots_disallowed",
            ErrorKind::RobotsUnreachable => "robots_unreachable",
            ErrorKind::Other => "other",
            ErrorKind::TlsUntrusted => "tls_untrusted",
            ErrorKind::TlsExpired => "tls_expired",
            ErrorKind::TlsNameMismatch => "tls_name_mismatch",
            ErrorKind::DnsUnavailable => "dns_unavailable",
            ErrorKind::PrivateAddress => "private_address",
            ErrorKind::NestedSitemap => "nested_sitemap",
            ErrorKind::OutOfScope => "out_of_scope",
        }
    }

    /// A plain-words explanation, put in front of the client's own message.
    pub fn describe(self) -> &'static str {
        match self {
            ErrorKind::HttpStatus => "the server answered with an error status",
            ErrorKind::Timeout => "no complete response within the time limit",
            ErrorKind::Connect => "could not connect to the server",
            ErrorKind::Dns => "the host name did not resolve",
            ErrorKind::Tls => "the TLS handshake or certificate check failed",
            ErrorKind::Reset => "the connection broke before the response was complete",
            ErrorKind::InvalidResponse => "the response was not valid HTTP",
            ErrorKind::Decode => "the body did not decode",
            ErrorKind::RedirectLoop => "the redirect leads back into its own chain",
            ErrorKind::TooManyRedirects => "too many redirects in a row",
            ErrorKind::UnsupportedRedirect => "the redirect is not to an http(s) URL",
            ErrorKind::RobotsDisallowed => "robots.txt disallows it",
            ErrorKind::RobotsUnreachable => "the host's robots.txt stayed unreachable",
            ErrorKind::Other => "the HTTP client failed",
            ErrorKind::TlsUntrusted => "the server's certificate is not signed by a trusted CA",
            ErrorKind::TlsExpired => "the server's certificate is expired or not yet valid",
            ErrorKind::TlsNameMismatch => "the server's certificate is for another host name",
            ErrorKind::DnsUnavailable => "the name server failed or did not answer",
            ErrorKind::PrivateAddress => "not fetched: the host is at a non-public address",
            ErrorKind::NestedSitemap => "not fetched: a sitemap index nested in another",
            ErrorKind::OutOfScope => "not fetched: out of the crawl's scope or filters now",
        }
    }
}

/// Why a URL failed: a kind to group by and the client's own words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// Human-readable detail.
    pub message: String,
}
