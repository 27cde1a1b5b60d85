//! Host names, resolved once per host while it has work, and DNS failures told apart: a name that
//! does not exist (NXDOMAIN, or no address) is final for every URL of that host, while a name
//! server that failed or did not answer (SERVFAIL, REFUSED, a timeout) is retried like any
//! transient failure.
//!
//! curl resolves names itself, but it says only "could not resolve host" for both cases and keeps
//! answers for 60 s, so a broad crawl would ask again every minute per host and could not tell a
//! dead domain from a flaky resolver. Here hickory's resolver asks (the system's name servers from
//! `/etc/resolv.conf` and `/etc/hosts`, or `--dns-server`), the answer is kept until the host has
//! no work left ([`Dns::forget`]), and curl gets the address with the request
//! (`CURLOPT_RESOLVE`), so it never looks up on its own. Through a proxy nothing is resolved
//! here: the proxy resolves the names.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_std_resolver::config::{NameServerConfigGroup, ResolverConfig, ResolverOpts};
use async_std_resolver::proto::op::ResponseCode;
use async_std_resolver::AsyncStdResolver;
use hickory_resolver::error::ResolveErrorKind;

use crate::config::CrawlConfig;
use crate::error::{Error, Result};
use crate::failure::ErrorKind;

/// How long one question to a name server may take, and how many times it is asked, before the
/// lookup counts as a (transient) failure.
const TIMEOUT: Duration = Duration::from_secs(5);
const ATTEMPTS: usize = 2;

/// What a finished lookup said, kept for the rest of the run.
#[derive(Clone, Debug)]
enum Answer {
    Address(IpAddr),
    /// The name does not exist or has no address: the message to record.
    NoSuchHost(String),
}

/// The crawl's resolver and its answers by host name.
pub struct Dns {
    resolver: AsyncStdResolver,
    /// Which name servers are asked, for messages.
    asked: String,
    /// One slot per host: a lookup holds it, so concurrent requests to a host wait for the one
    /// lookup instead of each asking. Only hosts with work keep theirs (see [`Dns::forget`]).
    hosts: Mutex<HashMap<String, Arc<async_lock::Mutex<Option<Answer>>>>>,
    /// Hosts and ports forgotten since the last request, whose addresses curl may still hold:
    /// the next request removes them from curl's cache (see [`Dns::take_forgotten`]).
    forgotten: Mutex<Vec<(String, u16)>>,
}

impl std::fmt::Debug for Dns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Dns({})", self.asked)
    }
}

/// Whether a proxy is in effect: `--proxy`, or curl's proxy variables unless `--no-proxy`.
fn behind_proxy(config: &CrawlConfig) -> bool {
    if config.no_proxy {
        return false;
    }
    config.proxy.is_some()
        || [
            "http_proxy",
            "https_proxy",
            "HTTPS_PROXY",
            "all_proxy",
            "ALL_PROXY",
        ]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()))
}

impl Dns {
    /// The crawl's resolver, or `None` when names are left to curl: behind a proxy, or when the
    /// system's resolver configuration cannot be read (said once, and curl resolves as before).
    pub fn new(config: &CrawlConfig) -> Result<Option<Dns>> {
        if behind_proxy(config) {
            return Ok(None);
        }
        let (resolver_config, mut opts, asked) = match &config.dns_server {
            Some(raw) => {
                let server = crate::config::dns::parse_server(raw).map_err(Error::Config)?;
                let servers =
                    NameServerConfigGroup::from_ips_clear(&[server.ip()], server.port(), true);
                let resolver_config = ResolverConfig::from_parts(None, vec![], servers);
                (resolver_config, ResolverOpts::default(), server.to_string())
            }
            None => match hickory_resolver::system_conf::read_system_conf() {
                Ok((resolver_config, opts)) => {
                    let asked = resolver_config
                        .name_servers()
                        .iter()
                        .map(|n| n.socket_addr.to_string())
                        .collect::<Vec<_>>()
                        .join(", ");
                    (resolver_config, opts, asked)
                }
                Err(e) => {
                    log::warn!(
                        "cannot read the system's resolver configuration ({e}); curl resolves \
                         host names itself, so a name that does not exist is not told apart \
                         from a name server that failed (give --dns-server to choose one)"
                    );
                    return Ok(None);
                }
            },
        };
        opts.timeout = TIMEOUT;
        opts.attempts = ATTEMPTS;
        // The answers are kept here, per host; the resolver's own cache would only repeat it.
        opts.cache_size = 0;
        // An async fn that awaits nothing: it only builds the resolver.
        let resolver =
            futures_lite::future::block_on(async_std_resolver::resolver(resolver_config, opts));
        Ok(Some(Dns {
            resolver,
            asked,
            hosts: Mutex::default(),
            forgotten: Mutex::default(),
        }))
    }

    /// Forgets `host`'s answer, and asks curl to forget its address on `port`: an origin on
    /// that host has no work left (the scheduler dropped its slot). Without it, both caches
    /// grew with every host the crawl ever requested. A host that gets work again is looked up
    /// again, once. A slot in use (a lookup under way) is kept.
    pub fn forget(&self, host: &str, port: u16) {
        {
            let mut hosts = lock(&self.hosts);
            if hosts
                .get(host)
                .is_some_and(|slot| Arc::strong_count(slot) == 1)
            {
                hosts.remove(host);
            }
        }
        // Removing an entry curl does not hold is a no-op for curl, so another origin of the
        // same host (another port) that is forgotten later still has its entry removed.
        lock(&self.forgotten).push((host.to_string(), port));
    }

    /// Keeps `ip` as `host`'s answer, as a lookup would (for tests that ask no name server).
    #[cfg(test)]
    pub(crate) fn remember(&self, host: &str, ip: IpAddr) {
        let slot = async_lock::Mutex::new(Some(Answer::Address(ip)));
        lock(&self.hosts).insert(host.to_string(), Arc::new(slot));
    }

    /// The hosts and ports forgotten since the last call, for the next request to remove from
    /// curl's cache. curl reads a request's entries in order when it starts, so removals go
    /// before the request's own address (which re-adds a host that got work again).
    pub fn take_forgotten(&self) -> Vec<(String, u16)> {
        std::mem::take(&mut *lock(&self.forgotten))
    }

    /// The address to connect to for `host` (a name, not an IP literal): the run's answer, or
    /// one lookup. `Err` is a failure kind and its message: [`ErrorKind::Dns`] when the name
    /// does not exist (kept: every later request to the host fails the same way without
    /// asking), [`ErrorKind::DnsUnavailable`] when the name server failed (asked again next time).
    pub async fn resolve(&self, host: &str) -> std::result::Result<IpAddr, (ErrorKind, String)> {
        let slot = lock(&self.hosts)
            .entry(host.to_string())
            .or_default()
            .clone();
        let mut kept = slot.lock().await;
        let answer = match &*kept {
            Some(answer) => answer.clone(),
            None => kept.insert(self.lookup(host).await?).clone(),
        };
        match answer {
            Answer::Address(ip) => Ok(ip),
            Answer::NoSuchHost(message) => Err((ErrorKind::Dns, message)),
        }
    }

    async fn lookup(&self, host: &str) -> std::result::Result<Answer, (ErrorKind, String)> {
        let found = match self.resolver.lookup_ip(host).await {
            Ok(found) => found,
            Err(e) => {
                return match e.kind() {
                    ResolveErrorKind::NoRecordsFound { response_code, .. }
                        if matches!(
                            response_code,
                            ResponseCode::NXDomain | ResponseCode::NoError
                        ) =>
                    {
                        let why = match response_code {
                            ResponseCode::NXDomain => "no such host (NXDOMAIN)",
                            _ => "the name has no address (no A or AAAA record)",
                        };
                        Ok(Answer::NoSuchHost(format!(
                            "{host}: {why}, from {}",
                            self.asked
                        )))
                    }
                    ResolveErrorKind::NoRecordsFound { response_code, .. } => Err((
                        ErrorKind::DnsUnavailable,
                        format!(
                            "{host}: the name server answered {response_code} ({})",
                            self.asked
                        ),
                    )),
                    _ => Err((
                        ErrorKind::DnsUnavailable,
                        format!("{host}: {e} ({})", self.asked),
                    )),
                };
            }
        };
        match found.iter().next() {
            Some(ip) => Ok(Answer::Address(ip)),
            None => Ok(Answer::NoSuchHost(format!(
                "{host}: the name has no address, from {}",
                self.asked
            ))),
        }
    }
}

/// A plain mutex's contents, also after a panic elsewhere (the maps stay consistent: every
/// change is one call).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
