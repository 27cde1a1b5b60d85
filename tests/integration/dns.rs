//! DNS from the name server's side: a UDP name server on loopback (`--dns-server`) that answers
//! some names, says NXDOMAIN for one and SERVFAIL for a while for another, and logs every
//! question, beside the fixture server reached under those names.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_std_resolver::proto::op::{Message, MessageType, OpCode, ResponseCode};
use async_std_resolver::proto::rr::{rdata::A, RData, Record, RecordType};
use politecrawl::store::UrlState;
use politecrawl::ErrorKind;

use crate::support::*;

/// How the name server answers for one name.
#[derive(Clone, Copy)]
enum Zone {
    /// An A record (AAAA questions get no answer).
    Address(Ipv4Addr),
    /// NXDOMAIN.
    NoSuchName,
    /// SERVFAIL until this long after the first question for the name, then the address.
    FailingFor(Duration, Ipv4Addr),
}

/// A name server on 127.0.0.1 that logs every question: (name, type, when).
struct NameServer {
    addr: std::net::SocketAddr,
    log: Arc<Mutex<Vec<(String, RecordType, Instant)>>>,
}

impl NameServer {
    fn start(zones: BTreeMap<&'static str, Zone>) -> NameServer {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
        let addr = socket.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::<(String, RecordType, Instant)>::new()));
        let l = log.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok((n, from)) = socket.recv_from(&mut buf) {
                let Ok(query) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                let Some(q) = query.queries().first().cloned() else {
                    continue;
                };
                let name = q
                    .name()
                    .to_utf8()
                    .trim_end_matches('.')
                    .to_ascii_lowercase();
                let first = {
                    let mut log = l.lock().unwrap();
                    let first = log.iter().find(|(n, _, _)| *n == name).map(|e| e.2);
                    log.push((name.clone(), q.query_type(), Instant::now()));
                    first.unwrap_or_else(Instant::now)
                };
                let mut reply = Message::new();
                reply
                    .set_id(query.id())
                    .set_message_type(MessageType::Response)
                    .set_op_code(OpCode::Query)
                    .set_recursion_desired(query.recursion_desired())
                    .set_recursion_available(true)
                    .add_query(q.clone());
                let address = match zones.get(name.as_str()) {
                    Some(Zone::Address(ip)) => Some(*ip),
                    Some(Zone::FailingFor(d, ip)) if first.elapsed() >= *d => Some(*ip),
                    Some(Zone::FailingFor(..)) => {
                        reply.set_response_code(ResponseCode::ServFail);
                        None
                    }
                    Some(Zone::NoSuchName) | None => {
                        reply.set_response_code(ResponseCode::NXDomain);
                        None
                    }
                };
                if let (Some(ip), RecordType::A) = (address, q.query_type()) {
                    reply.add_answer(Record::from_rdata(q.name().clone(), 300, RData::A(A(ip))));
                }
                if let Ok(bytes) = reply.to_vec() {
                    let _ = socket.send_to(&bytes, from);
                }
            }
        });
        NameServer { addr, log }
    }

    /// How many A questions were asked for `name`.
    fn asked(&self, name: &str) -> usize {
        let log = self.log.lock().unwrap();
        log.iter()
            .filter(|(n, t, _)| n == name && *t == RecordType::A)
            .count()
    }
}

#[test]
fn each_host_is_looked_up_once_nxdomain_is_final_and_servfail_is_retried() {
    let _shared = shared();
    let server = fixture_server();
    let port = server.origin().rsplit(':').next().unwrap().to_string();
    let local = Ipv4Addr::LOCALHOST;
    let dns = NameServer::start(BTreeMap::from([
        ("good.test", Zone::Address(local)),
        ("gone.test", Zone::NoSuchName),
        (
            "flaky.test",
            Zone::FailingFor(Duration::from_millis(300), local),
        ),
    ]));
    let origin = |host: &str| format!("http://{host}:{port}");
    let seeds: Vec<String> = ["good.test", "gone.test", "flaky.test"]
        .iter()
        .map(|h| format!("{}/", origin(h)))
        .collect();
    let dir = tempdir();
    let mut config = fast_config(&dir.path().join("db"), &seeds[0]);
    config.seeds = politecrawl::CrawlConfig::new(dir.path().join("db"), &seeds)
        .unwrap()
        .seeds;
    config.dns_server = Some(dns.addr.to_string());
    config.no_proxy = true;
    // Enough re-tries that the SERVFAIL window is surely outlived (full-jitter back-off).
    config.retries = 10;
    let (summary, store) = crawl(&config);

    let by_host = |host: &str| {
        server
            .requests()
            .iter()
            .filter(|r| r.host.as_deref() == Some(&format!("{host}:{port}")))
            .count()
    };
    let want = expected_statuses();
    let statuses = |host: &str| stored_statuses(&store, &origin(host));
    // The good host: the whole site, from one lookup, however many requests.
    assert_eq!(statuses("good.test"), want);
    assert!(
        by_host("good.test") > want.len(),
        "robots.txt and every page"
    );
    assert_eq!(dns.asked("good.test"), 1, "one lookup for the whole crawl");

    // NXDOMAIN: no request ever reaches a server, the seed fails as dns, asked once.
    assert_eq!(by_host("gone.test"), 0);
    let gone = stored(&store, &origin("gone.test"));
    let seed = &gone["/"];
    assert_eq!(seed.state, UrlState::Failed);
    let error = seed.error.as_ref().expect("a failure");
    assert_eq!(error.kind, ErrorKind::Dns, "{error:?}");
    assert!(error.message.contains("NXDOMAIN"), "{}", error.message);
    assert_eq!(
        dns.asked("gone.test"),
        1,
        "a name that does not exist is not asked again"
    );

    // SERVFAIL: asked again after a back-off, then crawled like the good host.
    assert_eq!(statuses("flaky.test"), want);
    assert!(
        dns.asked("flaky.test") >= 2,
        "asked again after the failure"
    );
    let site_failures = want.values().filter(|s| s >= &&Some(400)).count();
    assert_eq!(
        summary.run.failed as usize,
        1 + 2 * site_failures,
        "the NXDOMAIN seed and the site's own error pages"
    );
}

#[test]
fn a_bad_dns_server_setting_is_refused_before_anything_is_created() {
    let _shared = shared();
    let dir = tempdir();
    let db = dir.path().join("db");
    let out = run(
        &[
            "crawl",
            "http://example.test/",
            "--db",
            db.to_str().unwrap(),
            "--dns-server",
            "resolver.lan",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--dns-server \"resolver.lan\": give an IP address"),
        "{}",
        stderr(&out)
    );
    assert!(!db.exists(), "nothing created");
}

/// A host whose work ran out is forgotten, here and in curl, and looked up again when it gets
/// work again: so DNS answers follow the hosts with work, not every host the crawl has seen.
/// a.test's pages form a chain (one request every 400 ms); its first page links to b.test's
/// "/", its last to b.test's "/x", seconds later. Idle slots are dropped every 100 ms here.
#[test]
fn a_host_without_work_is_forgotten_and_looked_up_again_when_it_has_some() {
    let _shared = shared();
    let route: politecrawl::serve::Route = Arc::new(|req| {
        let host = req.host.clone()?;
        let (name, port) = host.split_once(':')?;
        let b = format!("http://b.test:{port}");
        let body = match (name, req.target.as_str()) {
            ("a.test", "/") => format!(r#"<a href="/1">1</a> <a href="{b}/">b</a>"#),
            ("a.test", "/5") => format!(r#"<a href="{b}/x">b x</a>"#),
            ("a.test", page) => {
                let n: u32 = page.strip_prefix('/')?.parse().ok()?;
                format!(r#"<a href="/{}">next</a>"#, n + 1)
            }
            ("b.test", "/" | "/x") => "no links".to_string(),
            _ => return None,
        };
        Some(politecrawl::serve::Reply::html(body))
    });
    let server = route_server(route);
    let port = server.origin().rsplit(':').next().unwrap().to_string();
    let local = Ipv4Addr::LOCALHOST;
    let dns = NameServer::start(BTreeMap::from([
        ("a.test", Zone::Address(local)),
        ("b.test", Zone::Address(local)),
    ]));
    let dir = tempdir();
    let out = std::process::Command::new(BIN)
        .args(["crawl", &format!("http://a.test:{port}/"), "--db", "c.db"])
        .args([
            "--scope",
            "any",
            "--rate",
            "2.5",
            "--per-host-concurrency",
            "1",
        ])
        .args([
            "--dns-server",
            &dns.addr.to_string(),
            "--no-proxy",
            "--no-progress",
        ])
        .env("POLITECRAWL_PRUNE_EVERY_MS", "100")
        .current_dir(dir.path())
        .output()
        .expect("run politecrawl");
    assert!(out.status.success(), "{}", stderr(&out));

    let mut pages: Vec<String> = server
        .requests()
        .iter()
        .filter(|r| r.target != "/robots.txt")
        .map(|r| {
            format!(
                "{} {}",
                r.host.as_deref().unwrap_or("").split(':').next().unwrap(),
                r.target
            )
        })
        .collect();
    pages.sort();
    let want = [
        "a.test /",
        "a.test /1",
        "a.test /2",
        "a.test /3",
        "a.test /4",
        "a.test /5",
    ]
    .into_iter()
    .chain(["b.test /", "b.test /x"])
    .collect::<Vec<_>>();
    assert_eq!(
        pages, want,
        "every page once, b.test's second one after its lookup again"
    );
    assert_eq!(
        dns.asked("b.test"),
        2,
        "forgotten while it had no work, asked again for /x"
    );
    assert_eq!(dns.asked("a.test"), 1, "busy throughout: asked once");
}

#[test]
fn links_to_private_link_local_and_nat_addresses_are_blocked_unless_a_seed_is_at_one() {
    let _shared = shared();
    // The seed's name is at loopback: loopback stays reachable (a crawl of one's own server
    // works), the other kinds of non-public address do not.
    let port_cell = Arc::new(std::sync::OnceLock::<String>::new());
    let known = port_cell.clone();
    let server = route_server(Arc::new(move |r| match r.path() {
        "/" => Some(politecrawl::serve::Reply::html(format!(
            r#"<a href="/page">p</a>
               <a href="http://intranet.test/">intranet</a>
               <a href="http://metadata.test/latest/meta-data/">metadata</a>
               <a href="http://cgnat.test/">cgnat</a>
               <a href="http://also-loopback.test:{}/x">loopback too</a>"#,
            known.get().map_or("", String::as_str)
        ))),
        "/page" | "/x" => Some(politecrawl::serve::Reply::html("fine")),
        _ => None,
    }));
    let port = server.origin().rsplit(':').next().unwrap().to_string();
    port_cell.set(port.clone()).unwrap();
    let dns = NameServer::start(BTreeMap::from([
        ("site.test", Zone::Address(Ipv4Addr::LOCALHOST)),
        (
            "also-loopback.test",
            Zone::Address(Ipv4Addr::new(127, 0, 0, 1)),
        ),
        ("intranet.test", Zone::Address(Ipv4Addr::new(10, 0, 0, 5))),
        (
            "metadata.test",
            Zone::Address(Ipv4Addr::new(169, 254, 169, 254)),
        ),
        ("cgnat.test", Zone::Address(Ipv4Addr::new(100, 64, 0, 1))),
    ]));
    let dir = tempdir();
    let seed = format!("http://site.test:{port}/");
    let mut config = fast_config(&dir.path().join("db"), &seed);
    config.dns_server = Some(dns.addr.to_string());
    config.no_proxy = true;
    config.scope = politecrawl::ScopeKind::Any;
    config.connect_timeout = Duration::from_secs(5);
    let (_summary, store) = crawl(&config);
    let records: BTreeMap<String, _> = store
        .pages()
        .map(|r| r.unwrap())
        .map(|r| (r.url.clone(), r))
        .collect();
    for (url, kind) in [
        ("http://intranet.test/", "private"),
        ("http://metadata.test/latest/meta-data/", "link-local"),
        ("http://cgnat.test/", "carrier-grade NAT"),
    ] {
        let r = records
            .get(url)
            .unwrap_or_else(|| panic!("{url} not stored: {:?}", records.keys()));
        assert_eq!(r.state, UrlState::Blocked, "{url}");
        let e = r.error.as_ref().unwrap();
        assert_eq!(e.kind, ErrorKind::PrivateAddress, "{url}");
        assert!(
            e.message.contains(kind) && e.message.contains("--allow-private"),
            "{}",
            e.message
        );
        assert_eq!(r.status, None, "{url}: never requested");
    }
    assert_eq!(records[&format!("{seed}page")].state, UrlState::Done);
    // Another name at loopback, as the seed is: reached.
    let also = &records[&format!("http://also-loopback.test:{port}/x")];
    assert_eq!(also.state, UrlState::Done, "{also:?}");
}
