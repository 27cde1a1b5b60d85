//! HTTP vocabulary shared by the fetcher, the retry rules, the WARC writer (which rebuilds
//! status lines) and the test-site server: a leaf, so none of them imports another.
//!
//! Real servers send codes that no registry lists (218, 420, 444, 499, 520-530 from
//! Cloudflare, 599, 999). The crawler keeps the number the server sent and acts on it as RFC
//! 9110 §15 asks: as the `x00` of its class, with one choice of ours: an unknown 5xx is taken
//! as a 503 (the origin is down or overloaded: pause the host, retry, and robots.txt counts as
//! unreachable), since that is what such codes mean in practice.

/// The status the crawler acts on for the `status` a server sent: the code itself when
/// surf's `StatusCode` knows it, else its class's representative (`400`, `503` for a 5xx,
/// `200`, `300`, `100`). A code of 600-999 is outside every class and stays itself: nothing
/// matches it, so it is a final answer that is neither success nor a redirect.
pub(crate) fn acted_as(status: u16) -> u16 {
    if is_registered(status) {
        return status;
    }
    match status {
        100..=199 => 100,
        200..=299 => 200,
        300..=399 => 300,
        400..=499 => 400,
        500..=599 => 503,
        _ => status,
    }
}

/// Whether surf's (http-types') closed list of status codes has `status`.
pub(crate) fn is_registered(status: u16) -> bool {
    surf::StatusCode::try_from(status).is_ok()
}

/// The registered code surf is given for a response whose real code it cannot hold (its
/// `Response::new` panics on others): the class's `x00`, or 500 beyond 599. The real code
/// travels beside it (`fetch::client::SentStatus`).
pub(crate) fn surf_carrier(status: u16) -> u16 {
    match acted_as(status) {
        code if is_registered(code) => code,
        _ => 500,
    }
}

/// The reason phrase of a status code ("Status" for unusual ones).
pub(crate) fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        403 => "Forbidden",
        401 => "Unauthorized",
        404 => "Not Found",
        408 => "Request Timeout",
        410 => "Gone",
        405 => "Method Not Allowed",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_codes_act_as_their_class() {
        for (sent, acted) in [
            (200, 200),
            (404, 404),
            (503, 503),
            (218, 200),
            (299, 200),
            (419, 400),
            (420, 400),
            (444, 400),
            (499, 400),
            (509, 503),
            (520, 503),
            (522, 503),
            (530, 503),
            (599, 503),
            (999, 999),
            (600, 600),
        ] {
            assert_eq!(acted_as(sent), acted, "{sent}");
            assert!(is_registered(surf_carrier(sent)), "{sent}");
        }
        assert_eq!(surf_carrier(999), 500);
        assert_eq!(surf_carrier(522), 503);
    }
}
