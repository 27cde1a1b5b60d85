//! Test support for the transport tests: certificates made with the `openssl` command (a test
//! CA, server certificates good, expired and for another name, a client certificate) and
//! Debian's nginx started in a temp dir on loopback ports, with an access log that records, per
//! request, the time, port, protocol, client certificate and the headers the tests check.
//! Stopped (killed) when dropped.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A command the tests need, found on PATH or in the sbin directories Debian puts it in.
fn tool(name: &str, package: &str) -> PathBuf {
    let dirs = std::env::var("PATH").unwrap_or_default();
    let found = dirs
        .split(':')
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"])
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file());
    found.unwrap_or_else(|| {
        panic!("the transport tests need `{name}`: apt-get install {package} (.ci/run does)")
    })
}

fn sh(cmd: &mut Command) {
    let out = cmd.output().expect("run a tool");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Certificates under one directory, all signed by one test CA (`ca.pem`).
pub struct Certs {
    pub dir: PathBuf,
}

impl Certs {
    /// Makes the CA and `good` (127.0.0.1 and localhost, valid now), `expired` (127.0.0.1,
    /// January 2020), `wrongname` (other.example only) and `client` (client authentication).
    pub fn make(dir: &Path) -> Certs {
        let openssl = tool("openssl", "openssl");
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(
            dir.join("ca.cnf"),
            "[ca]\ndefault_ca = test\n[test]\ndir = .\ndatabase = index.txt\nnew_certs_dir = .\n\
             serial = serial\ndefault_md = sha256\npolicy = any\ncopy_extensions = copy\n\
             unique_subject = no\n[any]\ncommonName = supplied\n",
        )
        .unwrap();
        std::fs::write(dir.join("index.txt"), "").unwrap();
        std::fs::write(dir.join("serial"), "01\n").unwrap();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        sh(Command::new(&openssl)
            .current_dir(dir)
            .args(["req", "-x509"])
            .args(ec)
            .args(["-keyout", "ca.key", "-out", "ca.pem", "-days", "30"])
            .args(["-subj", "/CN=politecrawl test CA"])
            .args(["-addext", "basicConstraints=critical,CA:TRUE"])
            .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]));
        // Valid whatever the clock says, short of the next century.
        let valid = ("20000101000000Z".to_string(), "20991231000000Z".to_string());
        for (name, ext, (start, end)) in [
            (
                "good",
                "subjectAltName=IP:127.0.0.1,DNS:localhost",
                valid.clone(),
            ),
            (
                "expired",
                "subjectAltName=IP:127.0.0.1",
                ("20200101000000Z".into(), "20200201000000Z".into()),
            ),
            (
                "wrongname",
                "subjectAltName=DNS:other.example",
                valid.clone(),
            ),
            ("client", "extendedKeyUsage=clientAuth", valid.clone()),
        ] {
            sh(Command::new(&openssl)
                .current_dir(dir)
                .arg("req")
                .args(ec)
                .args(["-keyout", &format!("{name}.key")])
                .args(["-out", &format!("{name}.csr")])
                .args(["-subj", &format!("/CN={name}"), "-addext", ext]));
            sh(Command::new(&openssl)
                .current_dir(dir)
                .args(["ca", "-config", "ca.cnf", "-batch", "-notext"])
                .args(["-cert", "ca.pem", "-keyfile", "ca.key"])
                .args([
                    "-in",
                    &format!("{name}.csr"),
                    "-out",
                    &format!("{name}.pem"),
                ])
                .args(["-startdate", &start, "-enddate", &end]));
        }
        Certs {
            dir: dir.to_path_buf(),
        }
    }

    /// The CA certificate's path, as a string for the command line.
    pub fn ca(&self) -> String {
        self.path("ca.pem")
    }

    pub fn path(&self, file: &str) -> String {
        self.dir.join(file).to_string_lossy().into_owned()
    }
}

/// One nginx `server` block on its own loopback port.
pub struct Server {
    /// `ssl` with this certificate name (`good`, `expired`, ...), or plain HTTP.
    pub cert: Option<&'static str>,
    /// `http2` on the listener.
    pub http2: bool,
    /// Require a client certificate signed by the test CA.
    pub verify_client: bool,
}

/// One request in nginx's access log.
#[derive(Clone, Debug)]
pub struct Logged {
    /// Unix time in seconds (millisecond resolution).
    pub at: f64,
    pub port: u16,
    /// `HTTP/1.1`, `HTTP/2.0`.
    pub protocol: String,
    /// The client certificate's subject; `-` when none, as every empty field.
    pub client: String,
    pub uri: String,
    pub status: u16,
    pub user_agent: String,
    pub authorization: String,
    pub cookie: String,
    /// The `X-Test` request header.
    pub x_test: String,
}

/// A running nginx; killed when dropped.
pub struct Nginx {
    child: Child,
    dir: PathBuf,
    /// The port of each server block, in order.
    pub ports: Vec<u16>,
}

impl Nginx {
    /// Starts nginx serving `root` from one server block per entry of `servers`, with the
    /// certificates of `certs`.
    pub fn start(dir: &Path, root: &Path, certs: &Certs, servers: &[Server]) -> Nginx {
        let exe = tool("nginx", "nginx");
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        let ports: Vec<u16> = servers.iter().map(|_| free_port()).collect();
        let d = dir.display();
        let mut blocks = String::new();
        for (s, port) in servers.iter().zip(&ports) {
            let mut listen = format!("listen 127.0.0.1:{port}");
            if s.cert.is_some() {
                listen.push_str(" ssl");
            }
            if s.http2 {
                listen.push_str(" http2");
            }
            blocks.push_str(&format!(
                "  server {{\n    {listen};\n    root {};\n",
                root.display()
            ));
            if let Some(cert) = s.cert {
                blocks.push_str(&format!(
                    "    ssl_certificate {};\n    ssl_certificate_key {};\n",
                    certs.path(&format!("{cert}.pem")),
                    certs.path(&format!("{cert}.key"))
                ));
            }
            if s.verify_client {
                blocks.push_str(&format!(
                    "    ssl_client_certificate {};\n    ssl_verify_client on;\n",
                    certs.ca()
                ));
            }
            blocks.push_str("  }\n");
        }
        let user = if is_root() { "user root root;\n" } else { "" };
        let conf = format!(
            "{user}daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
             events {{ worker_connections 256; }}\nhttp {{\n  types {{ text/html html; text/plain txt; }}\n\
             log_format t '$msec\\t$server_port\\t$server_protocol\\t$ssl_client_s_dn\\t$request_uri\\t\
             $status\\t$http_user_agent\\t$http_authorization\\t$http_cookie\\t$http_x_test';\n\
             access_log {d}/access.log t;\n  client_body_temp_path {d}/tmp;\n  proxy_temp_path {d}/tmp;\n\
             fastcgi_temp_path {d}/tmp;\n  uwsgi_temp_path {d}/tmp;\n  scgi_temp_path {d}/tmp;\n\
             {blocks}}}\n"
        );
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        let child = Command::new(exe)
            .arg("-p")
            .arg(dir)
            .arg("-e")
            .arg(dir.join("error.log"))
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start nginx");
        let mut nginx = Nginx {
            child,
            dir: dir.to_path_buf(),
            ports,
        };
        nginx.wait_listening();
        nginx
    }

    fn wait_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        for port in self.ports.clone() {
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                if let Ok(Some(status)) = self.child.try_wait() {
                    let log =
                        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default();
                    panic!("nginx exited ({status}): {log}");
                }
                assert!(Instant::now() < deadline, "nginx did not listen on {port}");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// `https://127.0.0.1:PORT` (or `http://`) of server block `i`.
    pub fn origin(&self, i: usize, tls: bool) -> String {
        let scheme = if tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.ports[i])
    }

    /// Every request logged so far (nginx writes each line as the request ends).
    pub fn log(&self) -> Vec<Logged> {
        let text = std::fs::read_to_string(self.dir.join("access.log")).unwrap_or_default();
        text.lines()
            .map(|line| {
                let f: Vec<&str> = line.split('\t').collect();
                assert_eq!(f.len(), 10, "access log line {line:?}");
                Logged {
                    at: f[0].parse().unwrap(),
                    port: f[1].parse().unwrap(),
                    protocol: f[2].into(),
                    client: f[3].into(),
                    uri: f[4].into(),
                    status: f[5].parse().unwrap(),
                    user_agent: f[6].into(),
                    authorization: f[7].into(),
                    cookie: f[8].into(),
                    x_test: f[9].into(),
                }
            })
            .collect()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// A port nothing listens on now (the kernel's pick, released for nginx to take).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A small site: `/` links to `/a.html` and `/b.html`, `/a.html` to `/c.html`, and a
/// robots.txt that allows everything.
pub fn small_site(root: &Path) {
    std::fs::create_dir_all(root).unwrap();
    let page = |links: &[&str]| {
        let a: String = links
            .iter()
            .map(|l| format!("<a href=\"{l}\">{l}</a>\n"))
            .collect();
        format!("<!doctype html><html><head><title>t</title></head><body>{a}</body></html>\n")
    };
    std::fs::write(root.join("index.html"), page(&["/a.html", "/b.html"])).unwrap();
    std::fs::write(root.join("a.html"), page(&["/c.html"])).unwrap();
    std::fs::write(root.join("b.html"), page(&[])).unwrap();
    std::fs::write(root.join("c.html"), page(&["/"])).unwrap();
    std::fs::write(root.join("robots.txt"), "User-agent: *\nAllow: /\n").unwrap();
}

/// The pages of [`small_site`], as URIs.
pub const SMALL_SITE: [&str; 4] = ["/", "/a.html", "/b.html", "/c.html"];
