//! TLS settings of the shared client (`--ca-cert`, `--insecure`, `--client-cert`) and the
//! diagnosis of a failed handshake into `tls_untrusted`, `tls_expired`, `tls_name_mismatch` or
//! `tls`.
//!
//! Why a diagnosis at all: isahc drives curl through its multi interface and does not read
//! curl's error buffer, so a certificate failure arrives as `BadServerCertificate(None)` with no
//! word of why. The words are what tells a user which flag helps, so after a TLS failure the
//! same settings make one connect-only handshake with curl's easy interface (no HTTP request
//! is sent, nothing a server logs as a request), whose error buffer names the problem.
//!
//! Why a bundle file: curl takes one CA file, and `--ca-cert` adds to the system's roots rather
//! than replacing them, so the system bundle and every `--ca-cert` file are written together
//! into `DIR/ca-bundle.pem` at each start.

use std::path::{Path, PathBuf};
use std::time::Duration;

use isahc::config::{CaCertificate, ClientCertificate, Configurable, PrivateKey, SslOption};
use url::Url;

use crate::config::CrawlConfig;
use crate::error::{Error, Result};
use crate::failure::ErrorKind;

/// The bundle's file name inside the database directory.
pub const BUNDLE: &str = "ca-bundle.pem";

/// The TLS part of the client's configuration, kept for the diagnosis handshake.
#[derive(Clone, Debug, Default)]
pub struct TlsSettings {
    ca_bundle: Option<PathBuf>,
    insecure: bool,
    client_cert: Option<PathBuf>,
    client_key: Option<PathBuf>,
    connect_timeout: Duration,
    /// The proxy as curl takes it (see [`super::proxy::for_curl`]).
    proxy: Option<String>,
}

impl TlsSettings {
    /// Checks the certificate files the crawl names and writes the CA bundle when there is a
    /// `--ca-cert`.
    pub fn new(config: &CrawlConfig) -> Result<Self> {
        crate::config::tls::check_files(&config.ca_certs, &config.client_cert, &config.client_key)?;
        let ca_bundle = if config.ca_certs.is_empty() {
            None
        } else {
            Some(write_bundle(&config.db, &config.ca_certs)?)
        };
        Ok(TlsSettings {
            ca_bundle,
            insecure: config.insecure,
            client_cert: config.client_cert.as_ref().map(PathBuf::from),
            client_key: config.client_key.as_ref().map(PathBuf::from),
            connect_timeout: config.connect_timeout,
            proxy: super::proxy::for_curl(config, config.credentials.proxy.as_ref()),
        })
    }

    /// The client builder with these settings.
    pub fn apply(&self, mut b: isahc::HttpClientBuilder) -> isahc::HttpClientBuilder {
        if let Some(bundle) = &self.ca_bundle {
            b = b.ssl_ca_certificate(CaCertificate::file(bundle));
        }
        if self.insecure {
            b = b.ssl_options(
                SslOption::DANGER_ACCEPT_INVALID_CERTS | SslOption::DANGER_ACCEPT_INVALID_HOSTS,
            );
        }
        if let Some(cert) = &self.client_cert {
            let key = self
                .client_key
                .as_ref()
                .map(|k| PrivateKey::pem_file(k, None));
            b = b.ssl_client_certificate(ClientCertificate::pem_file(cert, key));
        }
        b
    }

    /// Why a TLS handshake with `url`'s server fails, in curl's words, and the kind those words
    /// make it. Blocking (one handshake, bounded by `--connect-timeout`): call it off the
    /// executor. `None` when the handshake now succeeds or fails for another reason.
    pub fn diagnose(&self, url: &Url) -> Option<(ErrorKind, String)> {
        let mut easy = curl::easy::Easy::new();
        let mut setup = || -> std::result::Result<(), curl::Error> {
            easy.url(url.as_str())?;
            easy.connect_only(true)?;
            easy.connect_timeout(self.connect_timeout)?;
            easy.timeout(self.connect_timeout * 2)?;
            if let Some(bundle) = &self.ca_bundle {
                easy.cainfo(bundle)?;
            }
            if let Some(proxy) = &self.proxy {
                easy.proxy(proxy)?;
            }
            if self.insecure {
                easy.ssl_verify_peer(false)?;
                easy.ssl_verify_host(false)?;
            }
            if let Some(cert) = &self.client_cert {
                easy.ssl_cert(cert)?;
                if let Some(key) = &self.client_key {
                    easy.ssl_key(key)?;
                }
            }
            easy.perform()
        };
        let e = setup().err()?;
        let words = e.extra_description().unwrap_or(e.description()).to_string();
        let kind = match kind_of(&words) {
            ErrorKind::Other if e.is_ssl_connect_error() => ErrorKind::Tls,
            ErrorKind::Other => return None,
            kind => kind,
        };
        Some((kind, words))
    }
}

/// The kind curl's (OpenSSL's) words for a failed certificate check stand for; `Other` when
/// they are not about TLS.
pub fn kind_of(words: &str) -> ErrorKind {
    let w = words.to_ascii_lowercase();
    let any = |needles: &[&str]| needles.iter().any(|n| w.contains(n));
    if any(&["has expired", "not yet valid"]) {
        ErrorKind::TlsExpired
    } else if any(&[
        "no alternative certificate subject name",
        "does not match target host",
        "subject name does not match",
    ]) {
        ErrorKind::TlsNameMismatch
    } else if any(&[
        "local issuer",
        "self-signed",
        "self signed",
        "unable to get issuer",
        "verify the first certificate",
        "unknown ca",
    ]) {
        ErrorKind::TlsUntrusted
    } else if any(&["ssl", "tls", "certificate", "handshake"]) {
        ErrorKind::Tls
    } else {
        ErrorKind::Other
    }
}

/// What to do about a TLS failure of each kind, with the flags that help.
pub fn hint(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::TlsUntrusted => {
            "the server's certificate is not signed by a CA trusted here: give its CA with \
             --ca-cert FILE (PEM), or add it to the system's trust store (update-ca-certificates)"
        }
        ErrorKind::TlsExpired => {
            "the server's certificate is outside its validity period (check this machine's clock \
             too); --insecure skips the check, at the cost of not knowing who answers"
        }
        ErrorKind::TlsNameMismatch => {
            "the server's certificate is made for another host name: crawl the name it is made \
             for, or --insecure to skip the check"
        }
        _ => {
            "the TLS handshake failed (the server may not speak TLS on this port, or asks for a \
             client certificate: --client-cert FILE --client-key FILE)"
        }
    }
}

/// Writes the system's CA bundle (when this system has one) followed by the `--ca-cert` files
/// into `db/ca-bundle.pem`, replaced atomically.
fn write_bundle(db: &Path, ca_certs: &[String]) -> Result<PathBuf> {
    let mut pem = Vec::new();
    if let Some(system) = openssl_probe::probe().cert_file {
        // A system without a bundle file still has the given CAs.
        if let Ok(bytes) = std::fs::read(system) {
            pem.extend_from_slice(&bytes);
            pem.push(b'\n');
        }
    }
    for path in ca_certs {
        pem.extend_from_slice(crate::config::tls::read(path, "--ca-cert")?.as_bytes());
        pem.push(b'\n');
    }
    let target = db.join(BUNDLE);
    std::fs::create_dir_all(db)
        .and_then(|_| crate::replace_file::replace(&target, &pem, Default::default()))
        .map_err(|e| Error::io(format!("writing the CA bundle {}", target.display()), e))?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openssl_words_map_to_kinds() {
        for (words, kind) in [
            (
                "SSL certificate problem: unable to get local issuer certificate",
                ErrorKind::TlsUntrusted,
            ),
            (
                "SSL certificate problem: self-signed certificate",
                ErrorKind::TlsUntrusted,
            ),
            (
                "SSL certificate problem: certificate has expired",
                ErrorKind::TlsExpired,
            ),
            (
                "SSL certificate problem: certificate is not yet valid",
                ErrorKind::TlsExpired,
            ),
            (
                "SSL: no alternative certificate subject name matches target host name '127.0.0.1'",
                ErrorKind::TlsNameMismatch,
            ),
            (
                "error:0A00010B:SSL routines::wrong version number",
                ErrorKind::Tls,
            ),
            ("Couldn't connect to server", ErrorKind::Other),
        ] {
            assert_eq!(kind_of(words), kind, "{words}");
        }
    }
}
