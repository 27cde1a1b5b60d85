//! `--dns-server`, checked with the other settings; the resolver that asks it is
//! `fetch/dns.rs`.

use std::net::{IpAddr, SocketAddr};

/// Parses `--dns-server`: an IP address, with a port or not (53).
pub fn parse_server(raw: &str) -> std::result::Result<SocketAddr, String> {
    let raw = raw.trim();
    raw.parse::<SocketAddr>()
        .or_else(|_| raw.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
        .map_err(|_| {
            format!("--dns-server {raw:?}: give an IP address, with a port or not (192.0.2.53, 127.0.0.1:5353, [::1]:53)")
        })
}
