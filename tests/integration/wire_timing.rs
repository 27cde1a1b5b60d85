//! Politeness on the wire: the starts of two requests to one origin, as the kernel stamps their
//! first bytes arriving at the server, are never closer than 1/`--rate`, with the crawler made
//! CPU-bound on purpose (pinned to one core beside busy loops) and with one and with several
//! requests in flight per origin.
//!
//! The server takes its timestamps from the kernel (`serve::stamp_arrivals`): on loopback a
//! segment is stamped as the sender's write delivers it, so the server's own scheduling cannot
//! blur them.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use politecrawl::serve::{stamp_arrivals, StampedStream};

use crate::support::*;

/// One request as the server saw it: its path and the kernel's receive time of its first
/// bytes (CLOCK_REALTIME, nanoseconds).
#[derive(Debug, Clone)]
struct Stamped {
    path: String,
    at_ns: i128,
}

/// An origin that stamps every request with the kernel's receive time and answers it after
/// `delay`: `/` links to `/p/0` … `/p/{pages-1}`, each page a little HTML, no robots.txt.
struct StampServer {
    port: u16,
    log: Arc<Mutex<Vec<Stamped>>>,
}

impl StampServer {
    fn start(pages: usize, delay: Duration) -> StampServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        stamp_arrivals(&listener).expect("SO_TIMESTAMPNS");
        let port = listener.local_addr().unwrap().port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let l = log.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let log = l.clone();
                std::thread::spawn(move || serve(conn, pages, delay, &log));
            }
        });
        StampServer { port, log }
    }

    fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn requests(&self) -> Vec<Stamped> {
        let mut r = self.log.lock().unwrap().clone();
        r.sort_by_key(|s| s.at_ns);
        r
    }
}

fn serve(mut conn: TcpStream, pages: usize, delay: Duration, log: &Mutex<Vec<Stamped>>) {
    let mut buf = vec![0u8; 16 * 1024];
    let Ok(mut reader) = conn.try_clone().map(StampedStream::new) else {
        return;
    };
    loop {
        // One request head (curl does not pipeline): the stamp of its first bytes.
        let (mut have, mut first) = (0usize, None);
        let head_end = loop {
            let Ok(n) = reader.read(&mut buf[have..]) else {
                return;
            };
            if n == 0 {
                return;
            }
            if have == 0 {
                first = reader.last();
            }
            have += n;
            if let Some(p) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") {
                break p;
            }
            if have == buf.len() {
                return;
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let path = head.split(' ').nth(1).unwrap_or("").to_string();
        log.lock().unwrap().push(Stamped {
            path: path.clone(),
            at_ns: first.expect("the kernel stamped the request"),
        });
        std::thread::sleep(delay);
        let (status, body) = match path.as_str() {
            "/" => (
                "200 OK",
                (0..pages)
                    .map(|i| format!("<a href=\"/p/{i}\">page {i}</a>\n"))
                    .collect::<String>(),
            ),
            p if p.starts_with("/p/") => ("200 OK", format!("<html><p>{p}</p></html>")),
            _ => ("404 Not Found", "none".to_string()),
        };
        let reply = format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if conn.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

/// Busy loops pinned to core 0, killed on drop.
struct Hogs(Vec<Child>);

impl Hogs {
    fn on_core_0(n: usize) -> Hogs {
        Hogs(
            (0..n)
                .map(|_| {
                    Command::new("taskset")
                        .args(["-c", "0", "sh", "-c", "while :; do :; done"])
                        .spawn()
                        .expect("taskset (util-linux)")
                })
                .collect(),
        )
    }
}

impl Drop for Hogs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Crawls `origins` origins of `pages` pages each, answering after `delay`, with the crawler
/// pinned to core 0 beside three busy loops; returns every origin's request stamps.
fn crawl_on_a_busy_core(
    origins: usize,
    pages: usize,
    delay: Duration,
    rate: &str,
    per_host: &str,
) -> Vec<(String, Vec<Stamped>)> {
    let servers: Vec<StampServer> = (0..origins)
        .map(|_| StampServer::start(pages, delay))
        .collect();
    let dir = tempdir();
    let db = dir.path().join("db");
    let mut args: Vec<String> = vec!["-c".into(), "0".into(), BIN.into(), "crawl".into()];
    args.extend(servers.iter().map(|s| format!("{}/", s.origin())));
    for a in [
        "--db",
        db.to_str().unwrap(),
        "--rate",
        rate,
        "--per-host-concurrency",
        per_host,
        "--concurrency",
        "64",
        "--no-progress",
    ] {
        args.push(a.into());
    }
    let _hogs = Hogs::on_core_0(3);
    let out = Command::new("taskset")
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .expect("run politecrawl under taskset");
    assert!(out.status.success(), "{}", stderr(&out));
    servers.iter().map(|s| (s.origin(), s.requests())).collect()
}

/// Every origin got all its pages once, and no two of its request starts are closer than `gap`.
fn assert_gaps(seen: &[(String, Vec<Stamped>)], pages: usize, gap: Duration) {
    for (origin, reqs) in seen {
        let mut paths: Vec<&str> = reqs.iter().map(|r| r.path.as_str()).collect();
        paths.sort();
        paths.dedup();
        assert_eq!(
            reqs.len(),
            pages + 2,
            "{origin}: each page once, plus / and robots.txt"
        );
        assert_eq!(paths.len(), pages + 2, "{origin}: no duplicate");
        let gaps: Vec<i128> = reqs.windows(2).map(|w| w[1].at_ns - w[0].at_ns).collect();
        let closest = *gaps.iter().min().unwrap();
        let under = gaps.iter().filter(|&&g| g < gap.as_nanos() as i128).count();
        assert!(
            under == 0,
            "{origin}: {under} of {} request starts closer than {gap:?} on the wire (closest {:.3} ms)",
            gaps.len(),
            closest as f64 / 1e6
        );
    }
}

#[test]
fn request_starts_on_the_wire_keep_the_gap_with_the_crawler_cpu_bound() {
    let _timing = exclusive();
    let seen = crawl_on_a_busy_core(6, 40, Duration::ZERO, "25", "1");
    assert_gaps(&seen, 40, Duration::from_millis(40));
}

#[test]
fn request_starts_on_the_wire_keep_the_gap_with_several_in_flight() {
    let _timing = exclusive();
    // Answers take 150 ms, the gap is 40 ms: three requests are in flight to each origin.
    let seen = crawl_on_a_busy_core(6, 40, Duration::from_millis(150), "25", "3");
    assert_gaps(&seen, 40, Duration::from_millis(40));
}
