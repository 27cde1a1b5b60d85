//! A small static-site HTTP/1.1 server: serves a directory (or the site embedded in the
//! binary), records every request with its arrival time (the kernel's, see [`Arrivals`]), and
//! lets tests answer chosen paths themselves. `politecrawl serve` and `politecrawl demo` use it; so does every crawl test, which
//! asserts politeness and dedupe from this server's request log.
//!
//! In `.html` files `{{origin}}` becomes `http://HOST` and `{{host}}` becomes `HOST`, where HOST
//! is the request's Host header, so fixture pages can hold absolute links to an ephemeral port.
//! A thread per connection keeps it simple; connections idle for 10 s are closed.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Largest request head accepted; larger ones get 431 and the connection is closed.
const MAX_HEAD: usize = 64 * 1024;
const IDLE: Duration = Duration::from_secs(10);

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Request {
    /// Method, e.g. `GET`.
    pub method: String,
    /// Path and query as sent, e.g. `/a/b.html?x=1`.
    pub target: String,
    /// The Host header.
    pub host: Option<String>,
    /// The User-Agent header.
    pub user_agent: Option<String>,
    /// All headers, names lowercase.
    pub headers: Vec<(String, String)>,
    /// When the request head arrived: the kernel's receive time of its last segment where the
    /// system gives one (see [`stamp_arrivals`]), else when the server read it.
    pub at: Instant,
    /// The address it came from (which of several senders, when they bind their own).
    pub peer: Option<std::net::SocketAddr>,
}

impl Request {
    /// The path without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
}

/// A response chosen by a route.
#[derive(Clone, Debug)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Extra headers (Content-Length is added).
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
    /// Wait this long before answering (a slow server).
    pub delay: Duration,
}

impl Reply {
    /// A reply with a status, a Content-Type and a body.
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Reply {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    /// An HTML page.
    pub fn html(body: impl Into<String>) -> Self {
        Reply::new(200, "text/html; charset=utf-8", body.into())
    }

    /// A redirect to `location`.
    pub fn redirect(status: u16, location: &str) -> Self {
        let mut r = Reply::new(status, "text/plain", Vec::new());
        r.headers.push(("Location".into(), location.into()));
        r
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Delays the answer.
    pub fn delayed(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }
}

/// A route: answers the requests it wants, `None` passes to the site files.
pub type Route = Arc<dyn Fn(&Request) -> Option<Reply> + Send + Sync>;

/// What the server serves besides its route.
#[derive(Clone)]
pub enum Site {
    /// Files under a directory.
    Dir(PathBuf),
    /// Files embedded in the binary (the bundled fixture site).
    Embedded(&'static include_dir::Dir<'static>),
    /// Nothing: every path not answered by the route is 404.
    Empty,
}

/// A running server; stops when dropped.
pub struct SiteServer {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl SiteServer {
    /// Binds `addr` (e.g. `127.0.0.1:0` for an ephemeral port) and starts serving.
    pub fn start(addr: &str, site: Site, route: Option<Route>) -> io::Result<SiteServer> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        // Best effort: without the kernel's stamps a request is timed when it is read.
        let _ = stamp_arrivals(&listener);
        let shared = Arc::new(Shared {
            site,
            route,
            log: Arc::clone(&log),
            arrivals: Arrivals::new(),
        });
        let stop2 = Arc::clone(&stop);
        let accept = std::thread::Builder::new()
            .name("serve-accept".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    if stop2.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let (shared, stop) = (Arc::clone(&shared), Arc::clone(&stop2));
                    let _ =
                        std::thread::Builder::new()
                            .name("serve-conn".into())
                            .spawn(move || {
                                let _ = serve_connection(conn, &shared, &stop);
                            });
                }
            })?;
        Ok(SiteServer {
            addr,
            log,
            stop,
            accept: Some(accept),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, without a trailing slash.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request so far, in arrival order (by [`Request::at`]). The log itself is in the
    /// order the connection threads got to it: on a loaded machine the thread of a request may
    /// get the CPU after the one of a request that came 50 ms later, and a gap measured along
    /// the log then came out negative (0 ns). Equal times keep the log's order.
    pub fn requests(&self) -> Vec<Request> {
        let mut log = self.log.lock().map(|l| l.clone()).unwrap_or_default();
        log.sort_by_key(|r| r.at);
        log
    }

    /// Blocks until the server stops (it only stops when dropped from another thread, so in
    /// practice: until the process ends).
    pub fn wait(mut self) {
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

impl Drop for SiteServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

struct Shared {
    site: Site,
    route: Option<Route>,
    log: Arc<Mutex<Vec<Request>>>,
    arrivals: Arrivals,
}

/// Has the kernel stamp every segment arriving at the listener's connections with its receive
/// time (`SO_TIMESTAMPNS`; a [`StampedStream`] reads the stamps). On loopback a segment is
/// stamped as the sender's write delivers it, so when a request came is the sender's timing,
/// not the server thread's: on a loaded machine that thread may get the CPU tens of
/// milliseconds later, which made two requests sent 25 ms apart look 15 ms apart. Set on the
/// listener before any connection, so accepted sockets inherit it.
pub fn stamp_arrivals(listener: &TcpListener) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let on: libc::c_int = 1;
        // SAFETY: a valid socket and a c_int option of the right size.
        let rc = unsafe {
            libc::setsockopt(
                listener.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_TIMESTAMPNS,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = listener;
    Ok(())
}

/// A connection read with `recvmsg`, keeping the kernel's receive time of the latest data read
/// (see [`stamp_arrivals`]).
pub struct StampedStream {
    stream: TcpStream,
    last: Option<i128>,
}

impl StampedStream {
    /// Reads `stream`.
    pub fn new(stream: TcpStream) -> StampedStream {
        StampedStream { stream, last: None }
    }

    /// The kernel's receive time of the latest data read (CLOCK_REALTIME, nanoseconds since
    /// the Unix epoch), if it gave one.
    pub fn last(&self) -> Option<i128> {
        self.last
    }
}

impl Read for StampedStream {
    #[cfg(target_os = "linux")]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let mut control = [0u64; 16];
        // SAFETY: msghdr is plain data; every pointer set below outlives the call.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control) as _;
        // SAFETY: a valid socket and a msghdr pointing at live buffers.
        let n = unsafe { libc::recvmsg(self.stream.as_raw_fd(), &mut msg, 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the CMSG_* walk stays inside `control`, as the kernel filled it.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                    let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                    self.last = Some(ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128);
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        Ok(n as usize)
    }

    #[cfg(not(target_os = "linux"))]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.read(buf)
    }
}

/// Turns the kernel's receive times (wall clock) into instants, from one reading of both
/// clocks: every request is off by the same amount, so the gaps between them are exact.
#[derive(Clone, Copy, Debug)]
pub struct Arrivals {
    instant: Instant,
    realtime_ns: i128,
}

impl Arrivals {
    /// Both clocks, read now.
    pub fn new() -> Arrivals {
        let realtime = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        Arrivals {
            instant: Instant::now(),
            realtime_ns: realtime.map_or(0, |d| d.as_nanos() as i128),
        }
    }

    /// The instant of a kernel receive time, or now when there is none.
    pub fn instant(&self, stamp_ns: Option<i128>) -> Instant {
        match stamp_ns {
            Some(ns) if ns >= self.realtime_ns => {
                self.instant + Duration::from_nanos((ns - self.realtime_ns) as u64)
            }
            _ => Instant::now(),
        }
    }
}

impl Default for Arrivals {
    fn default() -> Arrivals {
        Arrivals::new()
    }
}

fn serve_connection(conn: TcpStream, shared: &Shared, stop: &AtomicBool) -> io::Result<()> {
    conn.set_read_timeout(Some(IDLE))?;
    conn.set_nodelay(true)?;
    let mut reader = BufReader::new(StampedStream::new(conn.try_clone()?));
    let peer = conn.peer_addr().ok();
    let mut writer = conn;
    loop {
        let Some(head) = read_head(&mut reader)? else {
            return Ok(());
        };
        // A request head is one small write (no client here pipelines): the latest data read.
        let at = shared.arrivals.instant(reader.get_ref().last());
        if stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        let Some(mut req) = parse_head(&head) else {
            write_reply(
                &mut writer,
                &Reply::new(400, "text/plain", "bad request"),
                false,
                false,
            )?;
            return Ok(());
        };
        // Drain a request body, if any, so the next request on this connection parses.
        let body_len = req
            .headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
        io::copy(&mut (&mut reader).take(body_len), &mut io::sink())?;
        req.peer = peer;
        req.at = at;
        if let Ok(mut log) = shared.log.lock() {
            log.push(req.clone());
        }
        let reply = shared
            .route
            .as_ref()
            .and_then(|r| r(&req))
            .unwrap_or_else(|| serve_site(&shared.site, &req));
        if !reply.delay.is_zero() {
            std::thread::sleep(reply.delay);
        }
        let close = req
            .headers
            .iter()
            .any(|(k, v)| k == "connection" && v.eq_ignore_ascii_case("close"));
        write_reply(&mut writer, &reply, req.method == "HEAD", close)?;
        if close {
            return Ok(());
        }
    }
}

/// Reads up to the blank line ending a request head; `None` at a clean end of stream.
fn read_head(reader: &mut impl BufRead) -> io::Result<Option<Vec<u8>>> {
    let mut head = Vec::with_capacity(512);
    loop {
        let n = reader.read_until(b'\n', &mut head)?;
        if n == 0 {
            return Ok(None);
        }
        if head.ends_with(b"\r\n\r\n") || head.ends_with(b"\n\n") {
            return Ok(Some(head));
        }
        if head == b"\r\n" || head == b"\n" {
            head.clear();
        }
        if head.len() > MAX_HEAD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request head too large",
            ));
        }
    }
}

fn parse_head(head: &[u8]) -> Option<Request> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Request::new(&mut headers);
    parsed.parse(head).ok()?;
    let headers: Vec<(String, String)> = parsed
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    Some(Request {
        method: parsed.method?.to_string(),
        target: parsed.path?.to_string(),
        host: get("host"),
        user_agent: get("user-agent"),
        at: Instant::now(),
        headers,
        peer: None,
    })
}

fn write_reply(w: &mut TcpStream, r: &Reply, head_only: bool, close: bool) -> io::Result<()> {
    let mut out = Vec::with_capacity(256 + r.body.len());
    write!(
        out,
        "HTTP/1.1 {} {}\r\n",
        r.status,
        crate::http_status::reason_phrase(r.status)
    )?;
    for (k, v) in &r.headers {
        write!(out, "{k}: {v}\r\n")?;
    }
    write!(out, "Content-Length: {}\r\n", r.body.len())?;
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !head_only {
        out.extend_from_slice(&r.body);
    }
    w.write_all(&out)?;
    w.flush()
}

/// What a site holds at a path.
enum Found {
    File(Vec<u8>),
    Dir,
    Missing,
}

fn serve_site(site: &Site, req: &Request) -> Reply {
    if req.method != "GET" && req.method != "HEAD" {
        return Reply::new(405, "text/plain", "only GET and HEAD").header("Allow", "GET, HEAD");
    }
    let decoded = percent_encoding::percent_decode_str(req.path()).decode_utf8_lossy();
    let Some(rel) = safe_relative(&decoded) else {
        return Reply::new(404, "text/plain", "not found");
    };
    let wants_dir = decoded.ends_with('/');
    let lookup = |p: &Path| lookup(site, p);
    let (file, name) = match lookup(&rel) {
        Found::Dir if !wants_dir => {
            return Reply::redirect(301, &format!("{}/", req.path()));
        }
        Found::Dir => (lookup(&rel.join("index.html")), rel.join("index.html")),
        other => (other, rel),
    };
    let Found::File(bytes) = file else {
        return Reply::new(
            404,
            "text/html",
            "<!doctype html><title>404</title><h1>Not found</h1>",
        );
    };
    let mime = mime_guess::from_path(&name).first_or_octet_stream();
    let is_html = mime.essence_str() == "text/html";
    let body = if is_html {
        let host = req.host.clone().unwrap_or_default();
        String::from_utf8_lossy(&bytes)
            .replace("{{origin}}", &format!("http://{host}"))
            .replace("{{host}}", &host)
            .into_bytes()
    } else {
        bytes
    };
    let content_type = if is_html || mime.type_() == "text" {
        format!("{}; charset=utf-8", mime.essence_str())
    } else {
        mime.essence_str().to_string()
    };
    Reply::new(200, &content_type, body)
}

/// The request path as a relative path with no `..`, root or prefix components, or `None`.
fn safe_relative(path: &str) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in Path::new(path.trim_start_matches('/')).components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(out)
}

fn lookup(site: &Site, rel: &Path) -> Found {
    match site {
        Site::Empty => Found::Missing,
        Site::Dir(root) => {
            let p = if rel.as_os_str().is_empty() {
                root.clone()
            } else {
                root.join(rel)
            };
            if p.is_dir() {
                Found::Dir
            } else {
                std::fs::read(&p).map_or(Found::Missing, Found::File)
            }
        }
        Site::Embedded(dir) => {
            if rel.as_os_str().is_empty() || dir.get_dir(rel).is_some() {
                Found::Dir
            } else {
                dir.get_file(rel)
                    .map_or(Found::Missing, |f| Found::File(f.contents().to_vec()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_cannot_escape_the_root() {
        assert_eq!(safe_relative("/a/b.html"), Some(PathBuf::from("a/b.html")));
        assert_eq!(safe_relative("/a/./b"), Some(PathBuf::from("a/b")));
        assert_eq!(safe_relative("/../etc/passwd"), None);
        assert_eq!(safe_relative("/a/../../x"), None);
        assert_eq!(safe_relative("/"), Some(PathBuf::new()));
    }
}
