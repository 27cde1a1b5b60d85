//! Proxies: `--proxy URL` (http, https, socks4, socks4a, socks5, socks5h), else curl's own
//! environment variables (`http_proxy`, `https_proxy`, `ALL_PROXY`, `NO_PROXY`), or none with
//! `--no-proxy`. The proxy is transport only: robots.txt, rates and every politeness limit stay
//! keyed by the target origin, since the frontier and the scheduler never see the proxy.
//!
//! A proxy login in the URL (`http://user:pass@proxy:3128`) is taken out before the setting is
//! saved and kept with the other credentials (see [`crate::config::request`]).

use isahc::auth::{Authentication, Credentials as IsahcCredentials};
use isahc::config::Configurable;
use url::Url;

use crate::config::proxy::parse;
use crate::config::request::Login;
use crate::config::CrawlConfig;
use crate::error::{Error, Result};

/// The client builder with the crawl's proxy settings.
pub fn apply(
    config: &CrawlConfig,
    login: Option<&Login>,
    mut b: isahc::HttpClientBuilder,
) -> Result<isahc::HttpClientBuilder> {
    if config.no_proxy {
        return Ok(b.proxy(None));
    }
    if let Some(raw) = &config.proxy {
        let (url, _) = parse(raw)?;
        let uri: isahc::http::Uri = url
            .parse()
            .map_err(|e| Error::Config(format!("--proxy {url:?}: {e}")))?;
        b = b.proxy(uri);
        if let Some(l) = login {
            b = b
                .proxy_authentication(Authentication::basic())
                .proxy_credentials(IsahcCredentials::new(l.user.clone(), l.password.clone()));
        }
    }
    Ok(b)
}

/// The same settings for the diagnosis handshake (see [`super::tls`]): the URL to give curl
/// (with the login), `""` for none, or `None` to leave curl's environment in charge.
pub fn for_curl(config: &CrawlConfig, login: Option<&Login>) -> Option<String> {
    if config.no_proxy {
        return Some(String::new());
    }
    let (url, _) = parse(config.proxy.as_ref()?).ok()?;
    let Some(l) = login else {
        return Some(url);
    };
    let mut u = Url::parse(&url).ok()?;
    let _ = u.set_username(&l.user);
    let _ = u.set_password(Some(&l.password));
    Some(u.to_string())
}
