//! Which addresses a crawl may connect to. A public page can link, or redirect, to
//! `http://169.254.169.254/` (a cloud's metadata service), to `localhost`, or to a public
//! name that resolves to 10.0.0.5; a crawler that follows would fetch an intranet and export
//! it. So every request's address is checked after the name is resolved and before curl
//! connects (the crawler resolves names itself, see `dns.rs`, so the address checked is the
//! address used: no rebinding gap). Behind a proxy, which resolves names itself, only what the
//! URL says is checked (an IP literal, `localhost`).
//!
//! The rule: a non-public address may be reached only when it is of a kind (loopback,
//! private, link-local, ...) that a seed of the crawl is itself at, or with `--allow-private`.
//! A crawl of an intranet, or of a test server on 127.0.0.1, works as before; a crawl of public
//! sites reaches none of them.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Mutex;

/// A kind of non-public address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NonPublic {
    /// 127.0.0.0/8, ::1.
    Loopback,
    /// 10/8, 172.16/12, 192.168/16, and IPv6 unique-local fc00::/7.
    Private,
    /// 169.254/16 (cloud metadata services) and fe80::/10.
    LinkLocal,
    /// 100.64/10, carrier-grade NAT.
    SharedNat,
    /// 0.0.0.0/8, ::, multicast, broadcast, and the ranges reserved for documentation,
    /// benchmarks and the future: no public server is there.
    Reserved,
}

impl NonPublic {
    fn name(self) -> &'static str {
        match self {
            NonPublic::Loopback => "loopback",
            NonPublic::Private => "private",
            NonPublic::LinkLocal => "link-local",
            NonPublic::SharedNat => "carrier-grade NAT",
            NonPublic::Reserved => "reserved",
        }
    }
}

/// The kind of `ip` when it is not a public address (IPv4-mapped IPv6 as its IPv4).
pub fn non_public(ip: IpAddr) -> Option<NonPublic> {
    match ip {
        IpAddr::V4(v4) => non_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => non_public_v4(v4),
            None => non_public_v6(v6),
        },
    }
}

fn non_public_v4(ip: Ipv4Addr) -> Option<NonPublic> {
    let [a, b, c, _] = ip.octets();
    Some(if ip.is_loopback() {
        NonPublic::Loopback
    } else if ip.is_private() {
        NonPublic::Private
    } else if ip.is_link_local() {
        NonPublic::LinkLocal
    } else if a == 100 && (64..128).contains(&b) {
        NonPublic::SharedNat
    } else if a == 0
        || a >= 224
        || ip.is_documentation()
        || (a == 198 && (18..20).contains(&b))
        || (a == 192 && b == 0 && c == 0)
    {
        NonPublic::Reserved
    } else {
        return None;
    })
}

fn non_public_v6(ip: Ipv6Addr) -> Option<NonPublic> {
    let first = ip.segments()[0];
    Some(if ip.is_loopback() {
        NonPublic::Loopback
    } else if ip.is_unique_local() {
        NonPublic::Private
    } else if ip.is_unicast_link_local() {
        NonPublic::LinkLocal
    } else if ip.is_unspecified()
        || ip.is_multicast()
        || first == 0x2001 && ip.segments()[1] == 0xdb8
    {
        NonPublic::Reserved
    } else {
        return None;
    })
}

/// The crawl's address rule (see the module doc), shared by every request.
#[derive(Debug)]
pub struct AddressRule {
    /// `--allow-private`.
    allow_all: bool,
    /// The hosts of the seeds: the address they resolve to makes its kind reachable.
    seed_hosts: HashSet<String>,
    /// The kinds of non-public address a seed is at, found so far.
    allowed: Mutex<HashSet<NonPublic>>,
}

impl AddressRule {
    /// The rule for a crawl of `seed_hosts` (host names or IP literals as URLs write them).
    pub fn new(allow_all: bool, seed_hosts: impl IntoIterator<Item = String>) -> AddressRule {
        let seed_hosts: HashSet<String> = seed_hosts.into_iter().collect();
        // IP-literal seeds (and localhost) allow their kind from the start, so a resume whose
        // seeds are all stored already still reaches the other hosts of their kind.
        let allowed = seed_hosts
            .iter()
            .filter_map(|h| literal(h))
            .filter_map(non_public);
        AddressRule {
            allow_all,
            allowed: Mutex::new(allowed.collect()),
            seed_hosts,
        }
    }

    /// Allows everything (a fetcher outside a crawl, e.g. in tests).
    pub fn allow_all() -> AddressRule {
        AddressRule::new(true, [])
    }

    /// Whether `host` (as the URL writes it) may be reached at `ip`; `Err` says why not.
    pub fn check(&self, host: &str, ip: IpAddr) -> Result<(), String> {
        let Some(kind) = non_public(ip) else {
            return Ok(());
        };
        if self.allow_all {
            return Ok(());
        }
        let mut allowed = self.allowed.lock().unwrap_or_else(|p| p.into_inner());
        if self.seed_hosts.contains(host) {
            allowed.insert(kind);
            return Ok(());
        }
        if allowed.contains(&kind) {
            return Ok(());
        }
        Err(format!(
            "{host} is at {ip}, a {} address, and no seed of this crawl is at such an address \
             (--allow-private lifts this)",
            kind.name()
        ))
    }

    /// Behind a proxy nothing is resolved here: checks what the host itself says.
    pub fn check_literal(&self, host: &str) -> Result<(), String> {
        match literal(host) {
            Some(ip) => self.check(host, ip),
            None => Ok(()),
        }
    }
}

/// The address a host names without a lookup: an IP literal (`[::1]` with its brackets), or
/// `localhost` and its subdomains (RFC 6761: always loopback).
fn literal(host: &str) -> Option<IpAddr> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse() {
        return Some(ip);
    }
    let lower = host.to_ascii_lowercase();
    (lower == "localhost" || lower.ends_with(".localhost"))
        .then_some(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn non_public_addresses_are_named_by_kind() {
        for (addr, kind) in [
            ("127.0.0.1", Some(NonPublic::Loopback)),
            ("127.255.0.9", Some(NonPublic::Loopback)),
            ("::1", Some(NonPublic::Loopback)),
            ("::ffff:127.0.0.1", Some(NonPublic::Loopback)),
            ("10.1.2.3", Some(NonPublic::Private)),
            ("172.16.0.1", Some(NonPublic::Private)),
            ("192.168.1.1", Some(NonPublic::Private)),
            ("fd00::1", Some(NonPublic::Private)),
            ("169.254.169.254", Some(NonPublic::LinkLocal)),
            ("fe80::1", Some(NonPublic::LinkLocal)),
            ("100.64.0.1", Some(NonPublic::SharedNat)),
            ("0.0.0.0", Some(NonPublic::Reserved)),
            ("224.0.0.1", Some(NonPublic::Reserved)),
            ("255.255.255.255", Some(NonPublic::Reserved)),
            ("::", Some(NonPublic::Reserved)),
            ("93.184.216.34", None),
            ("100.128.0.1", None),
            ("172.32.0.1", None),
            ("2606:4700::1", None),
        ] {
            assert_eq!(non_public(ip(addr)), kind, "{addr}");
        }
    }

    #[test]
    fn only_the_kinds_the_seeds_are_at_are_reached() {
        let public = AddressRule::new(false, ["example.com".to_string()]);
        assert!(public.check("example.com", ip("93.184.216.34")).is_ok());
        let reached = public.check("example.com", ip("127.0.0.1")).is_ok();
        assert!(reached, "a seed host is reached wherever it is");
        // ... and that made loopback reachable for the rest of this crawl.
        let fresh = AddressRule::new(false, ["example.com".to_string()]);
        let refused = fresh.check("intranet", ip("10.0.0.5")).unwrap_err();
        assert!(
            refused.contains("private") && refused.contains("--allow-private"),
            "{refused}"
        );
        assert!(fresh.check("metadata", ip("169.254.169.254")).is_err());
        assert!(fresh.check_literal("localhost").is_err());
        assert!(fresh.check_literal("127.0.0.1").is_err());
        assert!(fresh.check_literal("[::1]").is_err());
        assert!(fresh.check_literal("example.org").is_ok());

        let loopback = AddressRule::new(false, ["127.0.0.1".to_string()]);
        assert!(loopback.check("127.0.0.2", ip("127.0.0.2")).is_ok());
        assert!(loopback.check("other", ip("10.0.0.1")).is_err());
        assert!(AddressRule::allow_all().check("x", ip("10.0.0.1")).is_ok());
    }
}
