//! The TLS files a crawl names (`--ca-cert`, `--client-cert`, `--client-key`), checked with the
//! other settings before anything is fetched; the client's TLS settings and the handshake's
//! diagnosis are `fetch/tls.rs`.

use crate::error::{Error, Result};

/// Every certificate file the crawl names must be readable; `--ca-cert` files must hold PEM
/// certificates. Checked before anything is fetched, with the flag named.
pub(crate) fn check_files(
    ca_certs: &[String],
    client_cert: &Option<String>,
    client_key: &Option<String>,
) -> Result<()> {
    for path in ca_certs {
        let text = read(path, "--ca-cert")?;
        if !text.contains("-----BEGIN CERTIFICATE-----") {
            return Err(Error::Config(format!(
                "--ca-cert {path}: no PEM certificate in it (a line -----BEGIN CERTIFICATE----- \
                 was expected; convert a DER file with `openssl x509 -inform der -in FILE`)"
            )));
        }
    }
    if client_key.is_some() && client_cert.is_none() {
        return Err(Error::Config(
            "--client-key needs --client-cert (the certificate the key belongs to)".into(),
        ));
    }
    for (path, flag) in [(client_cert, "--client-cert"), (client_key, "--client-key")] {
        if let Some(path) = path {
            read(path, flag)?;
        }
    }
    Ok(())
}

pub(crate) fn read(path: &str, flag: &str) -> Result<String> {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .map_err(|e| Error::Config(format!("{flag} {path}: cannot read it: {e}")))
}
