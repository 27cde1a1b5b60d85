//! HTTPS against Debian's nginx with a test CA: `--ca-cert`, `--insecure`, client certificates,
//! HTTP/2, and certificate failures with their own kinds, asserted from nginx's access log and
//! the records.

use std::collections::BTreeMap;
use std::path::Path;

use super::nginx::{small_site, Certs, Nginx, Server, SMALL_SITE};
use super::support::{run, stderr, tempdir};

/// Each exported record's URL and (state, error kind).
fn outcomes(dir: &Path, db: &str) -> BTreeMap<String, (String, Option<String>)> {
    lines(dir, db)
        .into_iter()
        .map(|v| {
            let kind = v["error"]["kind"].as_str().map(str::to_string);
            (
                v["url"].as_str().unwrap().to_string(),
                (v["state"].as_str().unwrap().to_string(), kind),
            )
        })
        .collect()
}

/// Each exported record's `http_version`.
fn versions(dir: &Path, db: &str) -> Vec<Option<String>> {
    lines(dir, db)
        .iter()
        .map(|v| v["http_version"].as_str().map(str::to_string))
        .collect()
}

fn lines(dir: &Path, db: &str) -> Vec<serde_json::Value> {
    let out = run(&["export", "--db", db], dir);
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn https(cert: &'static str) -> Server {
    Server {
        cert: Some(cert),
        http2: false,
        verify_client: false,
    }
}

struct Setup {
    dir: tempfile::TempDir,
    certs: Certs,
    nginx: Nginx,
}

fn setup(servers: &[Server]) -> Setup {
    let dir = tempdir();
    let certs = Certs::make(&dir.path().join("certs"));
    small_site(&dir.path().join("www"));
    let nginx = Nginx::start(
        &dir.path().join("nginx"),
        &dir.path().join("www"),
        &certs,
        servers,
    );
    Setup { dir, certs, nginx }
}

#[test]
fn a_site_with_its_own_ca_fails_as_untrusted_and_is_crawled_over_http2_with_ca_cert() {
    let s = setup(&[Server {
        http2: true,
        ..https("good")
    }]);
    let seed = format!("{}/", s.nginx.origin(0, true));
    let dir = s.dir.path();

    let out = run(&["crawl", &seed, "--db", "plain.db", "--rate", "0"], dir);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("--ca-cert FILE"), "says what helps: {err}");
    assert!(
        s.nginx.log().is_empty(),
        "no request got through the handshake"
    );
    let got = outcomes(dir, "plain.db");
    assert_eq!(
        got[&seed],
        ("failed".into(), Some("tls_untrusted".into())),
        "{got:?}"
    );

    let ca = s.certs.ca();
    let args = [
        "crawl",
        &seed,
        "--db",
        "ca.db",
        "--rate",
        "0",
        "--ca-cert",
        &ca,
    ];
    let out = run(&args, dir);
    assert!(out.status.success(), "{}", stderr(&out));
    let log = s.nginx.log();
    let mut uris: Vec<&str> = log.iter().map(|l| l.uri.as_str()).collect();
    uris.sort();
    let mut want = SMALL_SITE.to_vec();
    want.push("/robots.txt");
    want.sort();
    assert_eq!(uris, want, "each page once, robots.txt first");
    assert!(
        log.iter()
            .all(|l| l.protocol == "HTTP/2.0" && l.status == 200),
        "{log:?}"
    );
    let got = outcomes(dir, "ca.db");
    assert_eq!(got.len(), SMALL_SITE.len());
    assert!(got.values().all(|(state, _)| state == "done"), "{got:?}");
    assert_eq!(versions(dir, "ca.db"), vec![Some("HTTP/2".to_string()); 4]);

    // The WARC's status lines say HTTP/2, and warcio reads and checks them.
    let out = run(
        &[
            "export",
            "--db",
            "ca.db",
            "--format",
            "warc",
            "--out",
            "h2.warc.gz",
        ],
        dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let script = "import sys\nfrom warcio.archiveiterator import ArchiveIterator\n\
        for r in ArchiveIterator(open(sys.argv[1], 'rb')):\n\
        \x20   if r.rec_type in ('request', 'response'):\n\
        \x20       print(r.rec_type, r.http_headers.protocol, r.http_headers.statusline)\n";
    let py = std::process::Command::new("python3")
        .args(["-c", script, "h2.warc.gz"])
        .current_dir(dir)
        .output()
        .expect("python3 with warcio");
    let text = String::from_utf8_lossy(&py.stdout);
    assert!(
        py.status.success(),
        "{}",
        String::from_utf8_lossy(&py.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 8, "{text}");
    assert!(
        lines.iter().all(|l| *l == "response HTTP/2 200 OK"
            || (l.starts_with("request GET /") && l.ends_with(" HTTP/2"))),
        "{text}"
    );
    let check = std::process::Command::new("python3")
        .args(["-m", "warcio.cli", "check", "h2.warc.gz"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
}

#[test]
fn expired_and_misnamed_certificates_get_their_own_kinds_and_insecure_crawls_them() {
    let s = setup(&[https("expired"), https("wrongname")]);
    let (expired, misnamed) = (
        format!("{}/", s.nginx.origin(0, true)),
        format!("{}/", s.nginx.origin(1, true)),
    );
    let dir = s.dir.path();
    let ca = s.certs.ca();
    let args = [
        "crawl",
        &expired,
        &misnamed,
        "--db",
        "a.db",
        "--rate",
        "0",
        "--ca-cert",
        &ca,
    ];
    let out = run(&args, dir);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(s.nginx.log().is_empty(), "no request sent");
    let got = outcomes(dir, "a.db");
    assert_eq!(got[&expired].1.as_deref(), Some("tls_expired"), "{got:?}");
    assert_eq!(
        got[&misnamed].1.as_deref(),
        Some("tls_name_mismatch"),
        "{got:?}"
    );
    assert!(
        err.contains("certificate has expired"),
        "curl's words: {err}"
    );

    let args = [
        "crawl",
        &expired,
        &misnamed,
        "--db",
        "b.db",
        "--rate",
        "0",
        "--insecure",
    ];
    let out = run(&args, dir);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("--insecure: server certificates are NOT checked"),
        "{err}"
    );
    let log = s.nginx.log();
    for port in &s.nginx.ports {
        let mut uris: Vec<&str> = log
            .iter()
            .filter(|l| l.port == *port && l.uri != "/robots.txt")
            .map(|l| l.uri.as_str())
            .collect();
        uris.sort();
        assert_eq!(uris, SMALL_SITE, "port {port}");
    }
    let got = outcomes(dir, "b.db");
    assert_eq!(got.len(), 2 * SMALL_SITE.len());
    assert!(got.values().all(|(state, _)| state == "done"), "{got:?}");
    assert_eq!(versions(dir, "b.db"), vec![Some("HTTP/1.1".to_string()); 8]);

    // The WARC says the certificates were not checked.
    let out = run(
        &[
            "export",
            "--db",
            "b.db",
            "--format",
            "warc",
            "--out",
            "b.warc.gz",
        ],
        dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let mut text = String::new();
    use std::io::Read;
    flate2::read::MultiGzDecoder::new(std::fs::File::open(dir.join("b.warc.gz")).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    let warcinfo = &text[..text.find("WARC-Type: request").unwrap()];
    assert!(
        warcinfo.contains("politecrawl-tls: server certificates were not checked (--insecure)"),
        "{warcinfo}"
    );
}

#[test]
fn a_server_that_asks_for_a_client_certificate_gets_the_one_given() {
    let s = setup(&[Server {
        verify_client: true,
        ..https("good")
    }]);
    let seed = format!("{}/", s.nginx.origin(0, true));
    let dir = s.dir.path();
    let ca = s.certs.ca();
    let out = run(
        &[
            "crawl",
            &seed,
            "--db",
            "none.db",
            "--rate",
            "0",
            "--ca-cert",
            &ca,
        ],
        dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let refused = s.nginx.log();
    assert!(
        !refused.is_empty() && refused.iter().all(|l| l.status == 400 && l.client == "-"),
        "nginx refuses requests without a client certificate: {refused:?}"
    );

    let (cert, key) = (s.certs.path("client.pem"), s.certs.path("client.key"));
    let args = [
        "crawl",
        &seed,
        "--db",
        "cert.db",
        "--rate",
        "0",
        "--ca-cert",
        &ca,
        "--client-cert",
        &cert,
        "--client-key",
        &key,
    ];
    let out = run(&args, dir);
    assert!(out.status.success(), "{}", stderr(&out));
    let log = s.nginx.log();
    let with_cert: Vec<_> = log[refused.len()..].to_vec();
    assert_eq!(with_cert.len(), SMALL_SITE.len() + 1, "{with_cert:?}");
    assert!(
        with_cert
            .iter()
            .all(|l| l.status == 200 && l.client == "CN=client"),
        "{with_cert:?}"
    );
}

#[test]
fn certificate_files_that_cannot_work_are_refused_before_the_database_is_made() {
    let dir = tempdir();
    std::fs::write(dir.path().join("notpem.txt"), "hello\n").unwrap();
    for (args, words) in [
        (
            vec!["--ca-cert", "notpem.txt"],
            "--ca-cert ".to_string() + &dir.path().join("notpem.txt").display().to_string(),
        ),
        (vec!["--ca-cert", "missing.pem"], "cannot read it".into()),
        (
            vec!["--client-key", "notpem.txt"],
            "--client-key needs --client-cert".into(),
        ),
    ] {
        let mut all = vec!["crawl", "https://127.0.0.1:9/", "--db", "x.db"];
        all.extend(&args);
        let out = run(&all, dir.path());
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(&words), "{args:?}: {err}");
        assert!(!dir.path().join("x.db").exists(), "{args:?}: nothing made");
    }
}

#[test]
fn https_goes_through_an_http_proxy_tunnel_and_its_certificate_is_still_checked() {
    let s = setup(&[https("good")]);
    let proxy = super::proxy::HttpProxy::start(std::sync::Arc::new(|_| {
        (500, "text/plain".into(), b"only tunnels here".to_vec())
    }));
    let seed = format!("{}/", s.nginx.origin(0, true));
    let dir = s.dir.path();
    let target = format!("127.0.0.1:{}", s.nginx.ports[0]);
    let proxy_url = proxy.url();

    // Without the CA: untrusted, found through the tunnel (the diagnosis goes through it too).
    let args = [
        "crawl", &seed, "--db", "p1.db", "--rate", "0", "--proxy", &proxy_url,
    ];
    let out = run(&args, dir);
    assert!(out.status.success(), "{}", stderr(&out));
    let got = outcomes(dir, "p1.db");
    assert_eq!(got[&seed].1.as_deref(), Some("tls_untrusted"), "{got:?}");
    assert!(s.nginx.log().is_empty());

    let ca = s.certs.ca();
    let args = [
        "crawl",
        &seed,
        "--db",
        "p2.db",
        "--rate",
        "0",
        "--proxy",
        &proxy_url,
        "--ca-cert",
        &ca,
    ];
    let out = run(&args, dir);
    assert!(out.status.success(), "{}", stderr(&out));
    let got = outcomes(dir, "p2.db");
    assert_eq!(got.len(), SMALL_SITE.len());
    assert!(got.values().all(|(state, _)| state == "done"), "{got:?}");
    let tunnels = proxy.requests();
    assert!(
        !tunnels.is_empty() && tunnels.iter().all(|r| r.url == target),
        "every connection is a CONNECT to the target: {tunnels:?}"
    );
    assert_eq!(
        s.nginx.log().len(),
        SMALL_SITE.len() + 1,
        "robots.txt and the pages"
    );
}
