//! What counts as a secret, and how the crawler shows one: header values that carry credentials
//! (kept in the database's credentials file and shown `<redacted>` everywhere else, see
//! [`crate::config::request::Headers`]), and passwords in URLs (`user:pass@`, `?password=`),
//! masked as `***` in every message.

/// What a credential header's value is shown as: in the saved settings, `status`, `config`, the
/// run report, warcinfo and WARC request records.
pub const REDACTED: &str = "<redacted>";

/// Header names (lowercase) that are credentials whole.
const CREDENTIAL_HEADERS: [&str; 3] = ["authorization", "proxy-authorization", "cookie"];

/// Words that make any header name a credential (`X-Api-Key`, `X-Auth-Token`, `X-Session-Id`).
const CREDENTIAL_WORDS: [&str; 8] = [
    "key",
    "token",
    "secret",
    "auth",
    "session",
    "cookie",
    "password",
    "credential",
];

/// Whether a header's value is a credential: `Authorization`, `Proxy-Authorization`, `Cookie`,
/// or a name holding key, token, secret, auth, session, cookie, password or credential (any
/// case). Erring towards secret costs only a `<redacted>` where a value could have been shown.
pub fn is_secret_header(name: &str) -> bool {
    let name = name.trim().to_ascii_lowercase();
    CREDENTIAL_HEADERS.contains(&name.as_str()) || CREDENTIAL_WORDS.iter().any(|w| name.contains(w))
}

/// `url` with its passwords replaced by `***`, for messages: the userinfo's (`user:***@host`,
/// with or without a scheme, e.g. `proxy` typed as `u:p@host:3128`) and any query parameter
/// whose name ends in `password` (libpq's `?password=`, `?sslpassword=`). Done by hand, as the
/// strings shown are often the ones that failed to parse, or URLs the `url` crate refuses (a
/// unix-socket `postgres://u:p@/db?host=/run`).
pub fn hide_password(url: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    let authority = &url[start..end];
    let mut out = match authority
        .rfind('@')
        .and_then(|at| Some((authority[..at].find(':')?, at)))
    {
        Some((colon, at)) => format!(
            "{}{}***{}",
            &url[..start],
            &authority[..=colon],
            &authority[at..]
        ),
        None => url[..end].to_string(),
    };
    let rest = &url[end..];
    let Some(q) = rest.find('?') else {
        out.push_str(rest);
        return out;
    };
    out.push_str(&rest[..=q]);
    let (query, fragment) = match rest[q + 1..].find('#') {
        Some(f) => rest[q + 1..].split_at(f),
        None => (&rest[q + 1..], ""),
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if k.to_ascii_lowercase().ends_with("password") => format!("{k}=***"),
            _ => pair.to_string(),
        })
        .collect();
    out.push_str(&pairs.join("&"));
    out.push_str(fragment);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_headers_are_known_by_name_in_any_case() {
        for secret in [
            "Cookie",
            "authorization",
            "Proxy-Authorization",
            "X-Api-Key",
            "X-AUTH-TOKEN",
            "X-Session-Id",
            "Client-Secret",
            "X-Password",
        ] {
            assert!(is_secret_header(secret), "{secret}");
        }
        for plain in [
            "Accept",
            "X-Team",
            "Accept-Language",
            "Keep-Alive",
            "Referer",
        ] {
            assert!(!is_secret_header(plain), "{plain}");
        }
    }

    #[test]
    fn every_password_in_a_url_is_masked_and_nothing_else() {
        for (url, shown) in [
            (
                "postgres://crawler:s3cret@db.example:5433/crawls",
                "postgres://crawler:***@db.example:5433/crawls",
            ),
            (
                "postgres://u:p@ss@/crawls?host=/run/pg",
                "postgres://u:***@/crawls?host=/run/pg",
            ),
            (
                "postgres://u@/crawls?host=/run/pg&password=s3cret&sslpassword=x",
                "postgres://u@/crawls?host=/run/pg&password=***&sslpassword=***",
            ),
            ("postgres://u@h/db", "postgres://u@h/db"),
            ("http://pu:p%40ss@proxy:3128", "http://pu:***@proxy:3128"),
            ("pu:pw@proxy:3128", "pu:***@proxy:3128"),
            (
                "http://al:pw@a.test:99999/x?q=1#f",
                "http://al:***@a.test:99999/x?q=1#f",
            ),
            (
                "http://a.test/p?Password=x#y",
                "http://a.test/p?Password=***#y",
            ),
            ("http://a.test/a@b:c", "http://a.test/a@b:c"),
            ("not a url", "not a url"),
        ] {
            assert_eq!(hide_password(url), shown, "{url}");
        }
    }
}
