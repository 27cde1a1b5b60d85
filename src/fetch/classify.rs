//! What went wrong on the way, in the failure vocabulary: surf's, isahc's (curl's) and I/O
//! errors mapped to an [`ErrorKind`] with the client's own words. Never an invented HTTP status.

use crate::failure::ErrorKind;

pub(super) fn classify_client_error(e: &surf::Error) -> (ErrorKind, String) {
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
        // Provisional: the certificate failed its check, and `Fetcher` asks why (`tls`).
        I::BadServerCertificate(_) => ErrorKind::TlsUntrusted,
        I::SSLConnectFailed(_) | I::SSLEngineError(_) => ErrorKind::Tls,
        I::NoResponse | I::ResponseBodyError(_) | I::Aborted => ErrorKind::Reset,
        I::InvalidHttpFormat(_) | I::InvalidContentEncoding(_) | I::InvalidUtf8 => {
            ErrorKind::InvalidResponse
        }
        I::Io(io) => classify_io_error(io).0,
        // A header line the client could not parse (vendored isahc's patch): the same bytes
        // come back on every try.
        I::Curl(msg) if msg.starts_with("malformed response header") => ErrorKind::InvalidResponse,
        I::Curl(msg) => classify_message(msg),
        _ => classify_message(&e.to_string()),
    }
}

/// Body read errors arrive as `io::Error`, often wrapping the isahc error that says why.
pub(super) fn classify_io_error(e: &std::io::Error) -> (ErrorKind, String) {
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
