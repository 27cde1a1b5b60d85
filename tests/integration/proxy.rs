//! Test support: proxies on loopback that record what goes through them. An HTTP forward proxy
//! (absolute-form requests answered by the proxy itself on the target's behalf, keep-alive;
//! `CONNECT` tunnels relayed to the real target) and a SOCKS5 proxy (no auth, CONNECT relayed).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use politecrawl::serve::{stamp_arrivals, Arrivals, StampedStream};

/// A request as the HTTP proxy received it.
#[derive(Clone, Debug)]
pub struct Proxied {
    /// When it arrived, as the kernel stamped it (see `serve::stamp_arrivals`), so
    /// gaps between requests are the crawler's, not the proxy's scheduling on a loaded
    /// machine (user-space stamps once showed 207 ms for a 250 ms gap there).
    pub at: Instant,
    /// The request target in absolute form, `http://host:port/path`.
    pub url: String,
    /// Header names lowercase.
    pub headers: Vec<(String, String)>,
}

impl Proxied {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// `http://host:port` of the target.
    pub fn origin(&self) -> String {
        let rest = self.url.split_once("://").map_or("", |(_, r)| r);
        let host = rest.split('/').next().unwrap_or("");
        format!("http://{host}")
    }
}

/// What the HTTP proxy answers for a request: status, content type, body.
pub type Answer = Arc<dyn Fn(&Proxied) -> (u16, String, Vec<u8>) + Send + Sync>;

/// An HTTP forward proxy that answers every request itself.
pub struct HttpProxy {
    pub port: u16,
    log: Arc<Mutex<Vec<Proxied>>>,
}

impl HttpProxy {
    pub fn start(answer: Answer) -> HttpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        stamp_arrivals(&listener).expect("SO_TIMESTAMPNS");
        let port = listener.local_addr().unwrap().port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let log2 = log.clone();
        let arrivals = Arrivals::new();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (answer, log) = (answer.clone(), log2.clone());
                std::thread::spawn(move || serve_proxy(conn, &answer, &log, arrivals));
            }
        });
        HttpProxy { port, log }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn requests(&self) -> Vec<Proxied> {
        self.log.lock().unwrap().clone()
    }
}

fn serve_proxy(
    mut conn: TcpStream,
    answer: &Answer,
    log: &Mutex<Vec<Proxied>>,
    arrivals: Arrivals,
) {
    conn.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut reader = BufReader::new(StampedStream::new(conn.try_clone().unwrap()));
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        // curl does not pipeline: the request line came in the latest data read.
        let at = arrivals.instant(reader.get_ref().last());
        let url = line.split_whitespace().nth(1).unwrap_or("").to_string();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((n, v)) = h.split_once(':') {
                headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let method = line.split_whitespace().next().unwrap_or("").to_string();
        let req = Proxied { at, url, headers };
        if method == "CONNECT" {
            // A tunnel (HTTPS through the proxy): relayed to the real target, as proxies do.
            let dest = req.url.clone();
            log.lock().unwrap().push(req);
            let Ok(upstream) = TcpStream::connect(&dest) else {
                let _ = conn.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
                return;
            };
            if conn
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .is_err()
            {
                return;
            }
            relay(conn, upstream);
            return;
        }
        let (status, ctype, body) = answer(&req);
        log.lock().unwrap().push(req);
        let head = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        if conn.write_all(head.as_bytes()).is_err() || conn.write_all(&body).is_err() {
            return;
        }
    }
}

/// A SOCKS5 proxy (RFC 1928, no authentication, CONNECT only) relaying to the real target;
/// records each destination as `host:port`.
pub struct Socks5Proxy {
    pub port: u16,
    log: Arc<Mutex<Vec<String>>>,
}

impl Socks5Proxy {
    pub fn start() -> Socks5Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let log2 = log.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let log = log2.clone();
                std::thread::spawn(move || {
                    let _ = socks5(conn, &log);
                });
            }
        });
        Socks5Proxy { port, log }
    }

    pub fn url(&self) -> String {
        format!("socks5://127.0.0.1:{}", self.port)
    }

    pub fn destinations(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

fn socks5(mut c: TcpStream, log: &Mutex<Vec<String>>) -> std::io::Result<()> {
    let mut head = [0u8; 2];
    c.read_exact(&mut head)?;
    let mut methods = vec![0u8; head[1] as usize];
    c.read_exact(&mut methods)?;
    c.write_all(&[5, 0])?;
    let mut req = [0u8; 4];
    c.read_exact(&mut req)?;
    let host = match req[3] {
        1 => {
            let mut a = [0u8; 4];
            c.read_exact(&mut a)?;
            std::net::Ipv4Addr::from(a).to_string()
        }
        3 => {
            let mut n = [0u8; 1];
            c.read_exact(&mut n)?;
            let mut name = vec![0u8; n[0] as usize];
            c.read_exact(&mut name)?;
            String::from_utf8_lossy(&name).into_owned()
        }
        _ => return c.write_all(&[5, 8, 0, 1, 0, 0, 0, 0, 0, 0]),
    };
    let mut p = [0u8; 2];
    c.read_exact(&mut p)?;
    let dest = format!("{host}:{}", u16::from_be_bytes(p));
    log.lock().unwrap().push(dest.clone());
    let Ok(upstream) = TcpStream::connect(&dest) else {
        return c.write_all(&[5, 5, 0, 1, 0, 0, 0, 0, 0, 0]);
    };
    c.write_all(&[5, 0, 0, 1, 127, 0, 0, 1, 0, 0])?;
    relay(c, upstream);
    Ok(())
}

/// Copies bytes both ways until each side is done.
fn relay(mut c: TcpStream, mut upstream: TcpStream) {
    let (Ok(mut c2), Ok(mut u2)) = (c.try_clone(), upstream.try_clone()) else {
        return;
    };
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut c2, &mut u2);
        let _ = u2.shutdown(Shutdown::Write);
    });
    let _ = std::io::copy(&mut upstream, &mut c);
    let _ = c.shutdown(Shutdown::Write);
    let _ = up.join();
}
