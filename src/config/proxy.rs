//! `--proxy`, checked with the other settings: the URL curl is given, and the login in it
//! taken out to be kept with the other credentials (see [`super::request`]). The client's
//! proxy settings are `fetch/proxy.rs`.

use url::Url;

use super::request::Login;
use crate::error::{Error, Result};

/// The schemes curl takes for a proxy.
const SCHEMES: [&str; 6] = ["http", "https", "socks4", "socks4a", "socks5", "socks5h"];

/// Checks a `--proxy` URL; returns it without its userinfo, and the login that was in it.
pub fn parse(raw: &str) -> Result<(String, Option<Login>)> {
    let shown = crate::secrets::hide_password(raw.trim());
    let bad = |why: &str| Error::Config(format!("--proxy {shown:?}: {why}"));
    if !raw.contains("://") {
        return Err(bad(&format!(
            "give its scheme: http://{shown} (or socks5h://{shown})"
        )));
    }
    let mut url = Url::parse(raw.trim()).map_err(|e| bad(&e.to_string()))?;
    if !SCHEMES.contains(&url.scheme()) {
        return Err(bad(&format!(
            "scheme {:?} is not a proxy scheme (one of {})",
            url.scheme(),
            SCHEMES.join(", ")
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("it has no host"));
    }
    let login = super::request::Credentials::from_userinfo(&url);
    let _ = url.set_username("");
    let _ = url.set_password(None);
    Ok((url.as_str().trim_end_matches('/').to_string(), login))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_urls_are_checked_and_their_login_taken_out() {
        let (url, login) = parse("http://pu:p%40ss@127.0.0.1:3128").unwrap();
        assert_eq!(url, "http://127.0.0.1:3128");
        let login = login.unwrap();
        assert_eq!(
            (login.user.as_str(), login.password.as_str()),
            ("pu", "p@ss")
        );
        assert_eq!(
            parse("socks5h://proxy:1080/").unwrap().0,
            "socks5h://proxy:1080"
        );
        for (raw, words) in [
            ("ftp://p:21", "not a proxy scheme"),
            ("proxy:3128", "give its scheme: http://proxy:3128"),
            ("http://", "empty host"),
        ] {
            let e = parse(raw).unwrap_err().to_string();
            assert!(e.contains(words), "{raw}: {e}");
        }
        // A refused proxy's password is never shown.
        for raw in [
            "pu:s3cret@proxy:3128",
            "ftp://pu:s3cret@p:21",
            "http://pu:s3cret@proxy:notaport",
        ] {
            let e = parse(raw).unwrap_err().to_string();
            assert!(e.contains("pu:***@") && !e.contains("s3cret"), "{raw}: {e}");
        }
    }
}
