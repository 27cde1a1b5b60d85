#!/usr/bin/env python3
"""Benchmark suite: politecrawl against GNU wget2, GNU wget and Scrapy on loopback.

Usually started through scripts/bench/run.sh (installs what is missing, builds politecrawl):

    bash scripts/bench/run.sh [FLAGS]
    BENCH_NO_BUILD=1 python3 scripts/bench/suite.py --pages 2000 --polite-pages 20

python3 stdlib only. Every server is one nginx (Debian's binary, run as this process's child with
its own config, logs and pid file in the temporary directory); every crawl gets a fresh output
directory or database and a freshly started nginx, so each crawl's requests are exactly the lines
of its own access log, read after that nginx has stopped (its log is buffered).

Scenarios (--scenarios, comma-separated):

  single    Unthrottled, one origin (127.0.0.1:PORT) serving scripts/gen_site.py's site of --pages
            pages. politecrawl at every --conc-sweep concurrency (--concurrency C
            --per-host-concurrency C --rate 0; the best pages/s is marked), wget2 (64 threads),
            wget (one connection), Scrapy (64 concurrent, capped at --scrapy-pages pages so it
            does not take minutes; figures are over the pages it did). Per crawl: wall time,
            user+sys CPU of the crawler and its children and peak RSS (os.wait4 rusage), and from
            nginx's log: requests, distinct URIs (robots.txt excluded), duplicates, completeness
            (distinct page URIs == pages). Ratios are against the best wget2 run.

  polite    --origins origins (default 20), each a loopback address 127.0.0.2 ... 127.0.0.21 on
            one port (above 250 origins: 127.1.X.Y, e.g. 1,000 or 10,000 for a broad crawl), each serving the same site of --polite-pages pages; --rate requests/s per
            origin (default 5). Ideal: every origin needs robots.txt plus P pages, P+1 request
            starts with P gaps of 1/RATE s, so
                ideal wall s   = P / RATE            (strict: first to last start, no start-up)
                ideal pages/s  = ORIGINS * RATE      (= ORIGINS*P / ideal wall)
                efficiency     = ideal wall / wall   (wall: crawler process start to exit)
            From nginx's log per origin ($server_addr), request start = $msec - $request_time
            (millisecond clock): smallest gap between two consecutive starts, the largest number
            of starts in any 1 s window [t, t+1 s), violations = gaps shorter than 1000/RATE ms
            minus --gap-tolerance-ms, and completeness (all P pages, no duplicate). With --pcap, tcpdump
            on lo also records every request packet: gaps between request starts per origin with
            the kernel's timestamps (taken as the crawler's write hands the packet to loopback), and
            every gap under 1/RATE counts, without tolerance.

  docs      Real HTML no one here wrote: Debian's python3.11-doc, postgresql-doc-15 and
            python-django-doc (each skipped when not installed), each served by nginx on 127.0.0.1:PORT and crawled from /index.html by
            politecrawl (--rate 0, --docs-concurrency) and wget2 (as many threads): HTML pages found
            (and how many only one crawler found), pages/s, CPU ms per HTML page, peak RSS. Compare
            with `cargo bench --bench parse_floor`, scraper's own cost on the same files.

  frontier  For each --frontier-sizes URLS:HOSTS: `cargo bench --bench frontier_scale -- --db DIR
            --urls N --hosts H --port PORT` (with BENCH_NO_BUILD=1 / --no-build: the newest
            executable target/release/deps/frontier_scale-*), whose last stdout line is a JSON
            object; then "start to first request": `politecrawl crawl --db DIR --max-pages 50
            --no-progress` on that database against an nginx on 127.0.0.1:PORT answering 404 to
            every host; time from the crawl's process start to the first request start in
            nginx's log, and the crawl's peak RSS (stopped with SIGTERM 3 s after the first
            request, unless it reaches --max-pages first).

Output: markdown tables on stdout (progress on stderr), and --jsonl PATH (default results.jsonl in
the current directory, overwritten): a first {"record": "header"} line with the machine and the
versions, then one {"record": "run"} object per crawler run.

Exit status: 0 when every run completed (ended by itself within --timeout, exit status 0, or 8
for wget/wget2, which report "server error response" for the 404 robots.txt) and politecrawl's
completeness and politeness checks passed; 1 otherwise (the reasons are printed); 2 on bad usage
or when the environment is not usable (port taken, nginx missing, ...).
"""

import argparse
import contextlib
import datetime
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import struct
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
GEN_SITE = os.path.join(REPO, "scripts", "gen_site.py")
SPIDER = os.path.join(HERE, "scrapy_spider.py")
CHECK = "__bench_check"  # query string of the suite's own sanity requests (filtered from the logs)
PAGE_RE = re.compile(r"^/(?:p/(\d+)\.html)?$")
ALL_PEERS = ("politecrawl", "wget2", "wget", "scrapy")
ALL_SCENARIOS = ("single", "polite", "frontier", "docs")
DOC_CORPORA = (
    ("python3.11-doc", "/usr/share/doc/python3.11/html"),
    ("postgresql-doc-15", "/usr/share/doc/postgresql-doc-15/html"),
    ("python-django-doc", "/usr/share/doc/python-django-doc/html"),
)


class Fatal(Exception):
    """The environment is not usable (exit status 2)."""


def log(msg):
    print(f"[suite {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "n/a"


def sh(cmd, timeout=60, **kw):
    """Runs a short helper command; returns (rc, stdout + stderr)."""
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL, **kw)
        return r.returncode, r.stdout
    except (OSError, subprocess.TimeoutExpired) as e:
        return -1, str(e)


def tail(path, n=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def rmtree(path):
    shutil.rmtree(path, ignore_errors=True)


def du_mb(path):
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                pass
    return total / 1048576


# ------------------------------------------------------------------ processes

LIVE = {}  # pid -> Popen, every process group this suite started and has not reaped yet
LIVE_LOCK = threading.Lock()


def _register(p):
    with LIVE_LOCK:
        LIVE[p.pid] = p


def _unregister(p):
    with LIVE_LOCK:
        LIVE.pop(p.pid, None)


def signal_group(p, sig):
    """Signals the process group this suite created for p (p is its leader)."""
    try:
        os.killpg(p.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop_process(p, grace=10.0, sig=signal.SIGTERM):
    """TERM (or sig) to p's group, wait up to grace s, then KILL; reaps p."""
    if p.returncode is None:
        signal_group(p, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if p.poll() is not None:
                break
            time.sleep(0.05)
        if p.poll() is None:
            signal_group(p, signal.SIGKILL)
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass
    signal_group(p, signal.SIGKILL)  # leftovers of the group (e.g. orphaned workers)
    _unregister(p)


def cleanup_all():
    with LIVE_LOCK:
        procs = list(LIVE.values())
    for p in procs:
        stop_process(p, grace=5.0)


@contextlib.contextmanager
def work_dir(prefix, keep=False):
    """A temporary directory for a script's crawls; on the way out, even on an error, every
    process the script started and has not reaped is stopped and, unless keep, the directory
    removed."""
    work = tempfile.mkdtemp(prefix=prefix)
    try:
        yield work
    finally:
        cleanup_all()
        if not keep:
            rmtree(work)


class Measured:
    def __init__(self, **kw):
        self.__dict__.update(kw)


def run_measured(cmd, out_path, err_path, timeout, cwd=None, env=None, watcher=None):
    """Runs cmd in its own process group; wall time around it, CPU and peak RSS from wait4.

    watcher(p, exited_event), when given, runs in a thread while the process runs."""
    out = open(out_path, "wb")
    err = open(err_path, "wb")
    timed_out = threading.Event()
    exited = threading.Event()

    def on_timeout():
        timed_out.set()
        signal_group(p, signal.SIGTERM)
        if not exited.wait(15):
            signal_group(p, signal.SIGKILL)

    t_epoch = time.time()
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=cwd, env=env,
                         start_new_session=True)
    _register(p)
    timer = threading.Timer(timeout, on_timeout)
    timer.daemon = True
    timer.start()
    wt = None
    if watcher:
        wt = threading.Thread(target=watcher, args=(p, exited), daemon=True)
        wt.start()
    try:
        _, status, ru = os.wait4(p.pid, 0)
        t1 = time.monotonic()
        exited.set()
        p.returncode = os.waitstatus_to_exitcode(status)
    finally:
        exited.set()
        timer.cancel()
        out.close()
        err.close()
        if p.returncode is None:  # interrupted: stop it, the caller goes on unwinding
            stop_process(p, grace=5.0)
    signal_group(p, signal.SIGKILL)  # nothing of the crawl outlives it
    _unregister(p)
    if wt:
        wt.join(5)
    rc = p.returncode
    return Measured(rc=rc, wall=t1 - t0, t_start=t_epoch, user=ru.ru_utime, sys=ru.ru_stime,
                    cpu=ru.ru_utime + ru.ru_stime, rss_mb=ru.ru_maxrss / 1024,
                    timed_out=timed_out.is_set(), signaled=rc < 0)


# ------------------------------------------------------------------ nginx


def check_free(addr, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((addr, port))
    except OSError as e:
        raise Fatal(f"{addr}:{port} cannot be listened on ({e.strerror}): something else uses the "
                    f"port, or the address is not on loopback; pick another --port") from None
    finally:
        s.close()


def can_connect(addr, port):
    try:
        with socket.create_connection((addr, port), timeout=0.5):
            return True
    except OSError:
        return False


def http_common(d):
    """The http block's lines every nginx of the benchmarks shares: long keep-alive, and
    temporary paths under its directory d (nginx would otherwise write under /var/lib)."""
    return f"""    keepalive_timeout 65s;
    keepalive_requests 1000000;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
"""


def git_rev():
    """HEAD's short hash, with "+dirty" when what the binary is built from has changes."""
    rc, rev = sh(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], timeout=30)
    rev = rev.strip() if rc == 0 else "unknown"
    rc, st = sh(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no", "--",
                 "src", "Cargo.toml", "Cargo.lock", "build.rs", "benches"], timeout=30)
    if rc == 0 and st.strip():
        rev += "+dirty"
    return rev


def write_jsonl(path, rows):
    """One JSON object per line."""
    with open(path, "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")


class Nginx:
    """One nginx master (daemon off) with its own config, logs and pid file under directory."""

    def __init__(self, exe, directory, listens, root=None, buffered=True, checks=None):
        self.exe, self.dir, self.listens, self.root, self.buffered = exe, directory, listens, root, buffered
        # (path, status) pairs checked at start; a generated site's by default.
        self.checks = checks
        self.access_log = os.path.join(directory, "access.log")
        self.error_log = os.path.join(directory, "error.log")
        self.proc = None

    def config(self):
        d = self.dir
        user = "user root root;\n" if os.geteuid() == 0 else ""
        listen = "".join(f"        listen {a}:{p} default_server;\n" for a, p in self.listens)
        buf = " buffer=256k flush=1s" if self.buffered else ""
        if self.root:
            body = f"        root {self.root};\n        index index.html;\n"
        else:
            body = "        location / { return 404; }\n"
        # Every listening socket takes a connection slot in each worker.
        conns = 4096 + len(self.listens)
        return f"""{user}worker_processes 2;
worker_rlimit_nofile {2 * conns + 1024};
daemon off;
master_process on;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections {conns}; }}
http {{
    types {{ text/html html htm; text/css css; text/plain txt; }}
    default_type application/octet-stream;
    # Request start = $msec - $request_time (both in seconds, millisecond resolution).
    log_format bench '$msec $request_time $server_addr $server_port $status $request_uri';
    access_log {self.access_log} bench{buf};
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
{http_common(d)}    server {{
{listen}        server_name _;
        log_not_found off;
{body}    }}
}}
"""

    def start(self):
        for a, p in self.listens:
            check_free(a, p)
        os.makedirs(os.path.join(self.dir, "tmp"), exist_ok=True)
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(self.config())
        base = [self.exe, "-p", self.dir]
        rc, h = sh([self.exe, "-h"], timeout=10)
        if "-e filename" in h:
            base += ["-e", self.error_log]
        base += ["-c", conf]
        rc, out = sh(base + ["-t"], timeout=30)
        if rc != 0:
            raise Fatal(f"nginx rejected {conf}:\n{out}")
        err = open(os.path.join(self.dir, "stderr.log"), "wb")
        self.proc = subprocess.Popen(base, stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                     start_new_session=True)
        err.close()
        _register(self.proc)
        deadline = time.monotonic() + 10
        pending = list(self.listens)
        while pending and time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Fatal(f"nginx exited at start-up:\n{tail(self.error_log)}{tail(os.path.join(self.dir, 'stderr.log'))}")
            pending = [(a, p) for a, p in pending if not can_connect(a, p)]
            if pending:
                time.sleep(0.05)
        if pending:
            self.stop()
            raise Fatal(f"nginx did not listen on {pending[0][0]}:{pending[0][1]} within 10 s")
        self.sanity()

    def sanity(self):
        """Every address answers (with many, the first and last 3); with a site: / and /p/1.html
        200 text/html, robots.txt 404."""
        listens = self.listens if len(self.listens) <= 20 else self.listens[:3] + self.listens[-3:]
        for a, p in listens:
            base = f"http://{a}:{p}"
            checks = self.checks or ([("/", 200), ("/p/1.html", 200), ("/robots.txt", 404)] if self.root else [("/", 404)])
            for path, want in checks:
                url = f"{base}{path}?{CHECK}"
                try:
                    with urllib.request.urlopen(url, timeout=10) as r:
                        code, ct = r.status, r.headers.get("content-type", "")
                except urllib.error.HTTPError as e:
                    code, ct = e.code, ""
                except OSError as e:
                    raise Fatal(f"{url}: {e}") from None
                if code != want or (want == 200 and not ct.startswith("text/html")):
                    raise Fatal(f"{url}: HTTP {code} {ct!r}, expected {want}")

    def stop(self):
        """Stops nginx (TERM, wait, KILL); its buffered log is complete afterwards."""
        if self.proc:
            stop_process(self.proc, grace=10.0)
            self.proc = None

    def entries(self):
        return read_log(self.access_log)


class Capture:
    """tcpdump on lo of the requests sent to PORT: each request start with the kernel's timestamp
    of its packet, taken as the crawler's write hands it to loopback (before nginx sees it)."""

    def __init__(self, path, port):
        self.path, self.port, self.proc, self.dropped = path, port, None, None
        self.err = path + ".stderr"

    def start(self):
        exe = shutil.which("tcpdump")
        if not exe:
            raise Fatal("--pcap needs tcpdump (apt install tcpdump)")
        err = open(self.err, "wb")
        # --immediate-mode: packets reach tcpdump as they come, not in blocks that a stop
        # would drop (the last ~0.5 s of requests were missing without it).
        self.proc = subprocess.Popen([exe, "-i", "lo", "-n", "-s", "160", "-B", "65536", "-U", "--immediate-mode",
                                      "-w", self.path,
                                      f"tcp dst port {self.port}"],
                                     stdin=subprocess.DEVNULL, stdout=err, stderr=err, start_new_session=True)
        err.close()
        _register(self.proc)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with open(self.err, errors="replace") as f:
                if "listening on" in f.read():
                    return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise Fatal(f"tcpdump did not start:\n{tail(self.err)}")

    def stop(self):
        if self.proc:
            time.sleep(0.5)
            stop_process(self.proc, grace=10.0, sig=signal.SIGINT)
            self.proc = None
        with open(self.err, errors="replace") as f:
            m = re.search(r"(\d+) packets? dropped by kernel", f.read())
        self.dropped = int(m.group(1)) if m else None

    def request_starts(self):
        """[(destination address, microseconds since the epoch)] of every GET/HEAD request head."""
        out = []
        with open(self.path, "rb") as f:
            data = f.read()
        if len(data) < 24:
            return out
        magic = struct.unpack("<I", data[:4])[0]
        e = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
        nano = struct.unpack(e + "I", data[:4])[0] == 0xA1B23C4D
        link = struct.unpack(e + "I", data[20:24])[0]
        skip = {1: 14, 113: 16, 276: 20}.get(link)
        if skip is None:
            raise Fatal(f"pcap link type {link} not understood")
        i = 24
        while i + 16 <= len(data):
            sec, frac, incl, _ = struct.unpack(e + "IIII", data[i:i + 16])
            pkt = data[i + 16:i + 16 + incl]
            i += 16 + incl
            ip = pkt[skip:]
            if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 6:
                continue
            tcp = ip[(ip[0] & 15) * 4:]
            if len(tcp) < 20:
                continue
            payload = tcp[(tcp[12] >> 4) * 4:]
            if payload.startswith((b"GET ", b"HEAD ")) and CHECK.encode() not in payload.split(b"\r\n", 1)[0]:
                us = sec * 1_000_000 + (frac // 1000 if nano else frac)
                out.append((".".join(str(b) for b in ip[16:20]), us))
        return out


def analyze_wire(starts, origins, rate):
    """Request starts per origin on the wire: the smallest gap and the gaps under 1/RATE (no
    tolerance: the kernel's microsecond timestamps)."""
    interval_us = 1_000_000 / rate
    per = {a: [] for a in origins}
    for addr, us in starts:
        if addr in per:
            per[addr].append(us)
    gaps = []
    for a in origins:
        ts = sorted(per[a])
        gaps += [b - x for x, b in zip(ts, ts[1:])]
    under = [g for g in gaps if g < interval_us]
    return {
        "wire_starts": len(starts),
        "wire_gaps": len(gaps),
        "wire_violations": len(under),
        "wire_min_gap_ms": round(min(gaps) / 1000, 3) if gaps else None,
    }


def loopback_addrs(n):
    """n loopback addresses: 127.0.0.2 ... 127.0.0.251 up to 250, else 127.1.X.Y (Y = 1..250)."""
    if n <= 250:
        return [f"127.0.0.{k}" for k in range(2, 2 + n)]
    return [f"127.1.{k // 250}.{k % 250 + 1}" for k in range(n)]


def read_log(path):
    """Access-log lines as dicts; start and msec in integer milliseconds since the epoch."""
    out = []
    try:
        f = open(path, errors="replace")
    except OSError:
        return out
    with f:
        for line in f:
            parts = line.split(" ", 5)
            if len(parts) < 6:
                continue
            uri = parts[5].rstrip("\n")
            if CHECK in uri:
                continue
            try:
                msec = round(float(parts[0]) * 1000)
                rt = round(float(parts[1]) * 1000)
            except ValueError:
                continue
            out.append({"start": msec - rt, "end": msec, "addr": parts[2], "port": parts[3],
                        "status": parts[4], "uri": uri})
    return out


# ------------------------------------------------------------------ log analysis


def page_index(uri, n):
    m = PAGE_RE.match(uri.split("#", 1)[0])
    if not m:
        return None
    i = int(m.group(1)) if m.group(1) else 0
    if m.group(1) and i == 0:
        return None  # /p/0.html is not a page of the site (page 0 is /)
    return i if i < n else None


def analyze_requests(entries, n):
    """requests, robots, distinct URIs (robots excluded), duplicates, distinct pages, statuses."""
    robots = [e for e in entries if e["uri"] == "/robots.txt"]
    rest = [e for e in entries if e["uri"] != "/robots.txt"]
    uris = {}
    for e in rest:
        uris[e["uri"]] = uris.get(e["uri"], 0) + 1
    pages = {page_index(u, n) for u in uris} - {None}
    status = {}
    for e in rest:
        status[e["status"]] = status.get(e["status"], 0) + 1
    return {
        "requests": len(entries),
        "robots_requests": len(robots),
        "distinct_uris": len(uris),
        "duplicates": len(rest) - len(uris),
        "pages": len(pages),
        "other_uris": len(uris) - len(pages),
        "by_status": dict(sorted(status.items())),
        "complete": len(pages) == n,
    }


def max_in_window(starts, width):
    """Largest number of starts within [t, t + width) for any t (starts sorted)."""
    best, j = 0, 0
    for i in range(len(starts)):
        while j < len(starts) and starts[j] < starts[i] + width:
            j += 1
        best = max(best, j - i)
    return best


def analyze_polite(entries, origins, pages, rate, tol_ms):
    interval = 1000.0 / rate
    per = {a: [] for a in origins}
    stray = 0
    for e in entries:
        if e["addr"] in per:
            per[e["addr"]].append(e)
        else:
            stray += 1
    gaps_all, worst, window_max, violations, examples = [], None, 0, 0, []
    per_origin = {}
    robots_ok = True
    for a in origins:
        es = per[a]
        starts = sorted(e["start"] for e in es)
        gaps = [b - x for x, b in zip(starts, starts[1:])]
        gaps_all += gaps
        st = analyze_requests(es, pages)
        v = [g for g in gaps if g < interval - tol_ms]
        violations += len(v)
        if gaps and (worst is None or min(gaps) < worst[0]):
            worst = (min(gaps), a)
        w = max_in_window(starts, 1000)
        window_max = max(window_max, w)
        if v and len(examples) < 5:
            i = next(k for k, g in enumerate(gaps) if g < interval - tol_ms)
            examples.append(f"{a}: {gaps[i]} ms between starts at {starts[i]} and {starts[i + 1]} (epoch ms)")
        robots_ok = robots_ok and st["robots_requests"] == 1
        per_origin[a] = {"pages": st["pages"], "duplicates": st["duplicates"], "requests": st["requests"],
                         "robots": st["robots_requests"], "min_gap_ms": min(gaps) if gaps else None,
                         "max_per_1s": w, "violations": len(v)}
    all_starts = sorted(e["start"] for e in entries)
    return {
        "pages": sum(o["pages"] for o in per_origin.values()),
        "requests": len(entries),
        "stray_requests": stray,
        "duplicates": sum(o["duplicates"] for o in per_origin.values()),
        "complete": all(o["pages"] == pages and o["duplicates"] == 0 for o in per_origin.values()),
        "origins_complete": sum(o["pages"] == pages for o in per_origin.values()),
        "pages_per_origin_min": min((o["pages"] for o in per_origin.values()), default=0),
        "pages_per_origin_max": max((o["pages"] for o in per_origin.values()), default=0),
        "robots_once_per_origin": robots_ok,
        "min_gap_ms": worst[0] if worst else None,
        "min_gap_origin": worst[1] if worst else None,
        "gaps_below_interval": sum(1 for g in gaps_all if g < interval),
        "max_starts_per_1s": window_max,
        "violations": violations,
        "violation_examples": examples,
        "start_span_s": (all_starts[-1] - all_starts[0]) / 1000 if len(all_starts) > 1 else 0.0,
        "per_origin": per_origin,
    }


# ------------------------------------------------------------------ the suite


class Suite:
    def __init__(self, a):
        self.a = a
        self.work = a.work
        self.rows = []
        self.problems = []
        self.notes = []
        self.jsonl = open(a.jsonl, "w")
        self.nginx_exe = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
        if not self.nginx_exe:
            raise Fatal("nginx is not installed (bash scripts/bench/run.sh installs it)")
        self.peers = [p for p in a.peers if self.peer_available(p)]
        self.git = git_rev()

    # ---------------- environment
    def peer_available(self, p):
        if p == "politecrawl":
            return True
        if p == "scrapy":
            rc, out = sh([sys.executable, "-c", "import scrapy"], timeout=60)
            ok = rc == 0
        else:
            ok = shutil.which(p) is not None
        if not ok:
            self.problem(f"{p} is not installed: skipped (bash scripts/bench/run.sh installs it)")
        return ok

    def bin(self):
        """politecrawl's release binary; waits (up to 5 min) while it is being rebuilt."""
        path = self.a.bin
        deadline = time.monotonic() + 300
        while True:
            if os.access(path, os.X_OK) and sh([path, "--version"], timeout=30)[0] == 0:
                return path
            if time.monotonic() > deadline:
                raise Fatal(f"no working politecrawl binary at {path}")
            log(f"{path} missing or not runnable (being rebuilt?); waiting")
            time.sleep(5)

    def versions(self):
        v = {}
        _, out = sh([self.nginx_exe, "-v"], timeout=10)
        v["nginx"] = out.strip().split("/")[-1]
        for exe in ("wget2", "wget"):
            if shutil.which(exe):
                _, out = sh([exe, "--version"], timeout=10)
                m = re.search(r"Wget2? ([0-9][^ \n]*)", out)
                v[exe] = m.group(1) if m else out.splitlines()[0] if out else "?"
            else:
                v[exe] = "not installed"
        rc, out = sh([sys.executable, "-c", "import scrapy, twisted, sys; "
                      "print(scrapy.__version__, twisted.__version__, sys.version.split()[0])"], timeout=60)
        if rc == 0 and len(out.split()) == 3:
            s, t, py = out.split()
            v["scrapy"] = f"{s} (Twisted {t}, Python {py})"
        else:
            v["scrapy"] = "not installed"
        rc, out = sh([self.a.bin, "--version"], timeout=30)
        v["politecrawl"] = (out.strip() if rc == 0 else "missing") + f", git {self.git}"
        return v

    def header(self):
        def cpuinfo():
            try:
                for line in open("/proc/cpuinfo"):
                    if line.lower().startswith("model name"):
                        return line.split(":", 1)[1].strip()
            except OSError:
                pass
            return "unknown"

        def meminfo():
            m = {}
            try:
                for line in open("/proc/meminfo"):
                    k, val = line.split(":", 1)
                    m[k] = int(val.split()[0])
            except (OSError, ValueError):
                pass
            return f"{m.get('MemTotal', 0) / 1048576:.1f} GiB total, {m.get('MemAvailable', 0) / 1048576:.1f} GiB available"

        h = {
            "record": "header",
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "nproc": os.cpu_count(),
            "kernel": os.uname().release,
            "cpu": cpuinfo(),
            "memory": meminfo(),
            "loadavg": loadavg(),
            "versions": self.versions(),
            "args": {k: v for k, v in vars(self.a).items()},
        }
        self.write_json(h)
        print("# politecrawl benchmark suite\n")
        print(f"- date: {h['date']}")
        print(f"- machine: nproc {h['nproc']}, kernel {h['kernel']}, CPU {h['cpu']}, memory {h['memory']}")
        print(f"- load average at start: {h['loadavg']}")
        vs = h["versions"]
        print(f"- versions: politecrawl {vs['politecrawl']}; nginx {vs['nginx']}; wget2 {vs['wget2']}; "
              f"wget {vs['wget']}; scrapy {vs['scrapy']}")
        print(f"- server: one nginx per crawl (worker_processes 2, sendfile, keepalive_requests 1000000), "
              f"restarted between crawls; CPU = user+sys of the crawler and its children, peak RSS = "
              f"ru_maxrss (os.wait4)")
        print(f"- work dir {self.work}; results {self.a.jsonl}")
        print()
        sys.stdout.flush()

    def write_json(self, obj):
        self.jsonl.write(json.dumps(obj, default=str) + "\n")
        self.jsonl.flush()

    def problem(self, msg):
        log("PROBLEM: " + msg)
        self.problems.append(msg)

    def note(self, msg):
        log("note: " + msg)
        self.notes.append(msg)

    def record(self, row):
        row = {"record": "run", "git": self.git, **row}
        self.rows.append(row)
        self.write_json(row)
        return row

    def gen_site(self, pages, name):
        out = os.path.join(self.work, name)
        log(f"generating {pages} pages: python3 scripts/gen_site.py --pages {pages} --out {out} --seed {self.a.seed}")
        rc, txt = sh([sys.executable, GEN_SITE, "--pages", str(pages), "--out", out, "--seed", str(self.a.seed)],
                     timeout=3600)
        if rc != 0 or txt.split()[:1] != [str(pages)]:
            raise Fatal(f"gen_site.py failed (rc {rc}): {txt[-2000:]}")
        return out

    def completed(self, crawler, m):
        """(ok, why) for a crawler process that has ended."""
        if m.timed_out:
            return False, f"did not finish within --timeout {self.a.timeout:g} s (stopped)"
        if m.rc == 0:
            return True, ""
        if crawler in ("wget", "wget2") and m.rc == 8:
            return True, ""  # "server issued an error response": the 404 robots.txt
        if m.rc < 0:
            return False, f"killed by signal {-m.rc}"
        return False, f"exit status {m.rc}"

    def wget2_flags(self, flags):
        """Keeps the wget2 flags this wget2 knows (from --help); notes the others."""
        _, helptext = sh(["wget2", "--help"], timeout=10)
        kept = []
        for f in flags:
            name = f.split("=", 1)[0]
            if not name.startswith("--") or re.search(r"(^|\s)" + re.escape(name) + r"(\s|$)", helptext):
                kept.append(f)
            else:
                self.note(f"wget2 has no {name} (wget2 --help): dropped {f}")
        return kept

    def crawl(self, scenario, crawler, cmd, run_dir, nginx, params):
        """Starts nginx, runs one measured crawl, stops nginx, returns (measurement, log entries)."""
        os.makedirs(run_dir, exist_ok=True)
        nginx.start()
        load_before = loadavg()
        log(f"{scenario} {crawler} {params.get('label', '')}: {' '.join(cmd)}")
        try:
            m = run_measured(cmd, os.path.join(run_dir, "stdout.log"), os.path.join(run_dir, "stderr.log"),
                             self.a.timeout, cwd=run_dir)
        finally:
            nginx.stop()
        load_after = loadavg()
        m.load_before, m.load_after = load_before, load_after
        return m, nginx.entries()

    # ---------------- scenario 1
    def scenario_single(self):
        a = self.a
        n = a.pages
        site = self.gen_site(n, f"site-single-{n}")
        port = a.port
        url = f"http://127.0.0.1:{port}/"
        jobs = []
        for peer in self.peers:
            if peer == "politecrawl":
                for c in a.conc_sweep:
                    jobs.append(("politecrawl", {"concurrency": c, "label": f"C={c}"}))
            elif peer == "scrapy":
                jobs.append(("scrapy", {"concurrency": a.scrapy_concurrency, "page_cap": a.scrapy_pages,
                                        "label": f"{a.scrapy_concurrency} concurrent"
                                                 + (f", cap {a.scrapy_pages} pages" if a.scrapy_pages else "")}))
            elif peer == "wget2":
                jobs.append(("wget2", {"threads": a.wget2_threads, "label": f"{a.wget2_threads} threads"}))
            else:
                jobs.append(("wget", {"label": "1 connection"}))
        rows = []
        for r in range(1, a.runs + 1):
            for crawler, params in jobs:
                rows.append(self.single_once(crawler, dict(params), r, site, port, url))
        self.table_single(rows, n)
        if not a.keep:
            rmtree(site)

    def single_once(self, crawler, params, run, site, port, url):
        a, n = self.a, self.a.pages
        tag = f"single-{crawler}-{params.get('concurrency', params.get('threads', 1))}-{run}"
        run_dir = os.path.join(self.work, tag)
        out = os.path.join(run_dir, "out")
        nginx = Nginx(self.nginx_exe, os.path.join(run_dir, "nginx"), [("127.0.0.1", port)], root=site)
        status = None
        if crawler == "politecrawl":
            c = str(params["concurrency"])
            cmd = [self.bin(), "crawl", url, "--db", out, "--rate", "0", "--concurrency", c,
                   "--per-host-concurrency", c, "--no-progress"]
        elif crawler == "wget2":
            cmd = ["wget2", "-r", "-l", "inf", f"--max-threads={params['threads']}", "-q", "-P", out, url]
        elif crawler == "wget":
            cmd = ["wget", "-r", "-l", "inf", "-q", "-P", out, url]
        else:
            cmd = self.scrapy_cmd([url], os.path.join(run_dir, "scrapy-stats.json"), {
                "CONCURRENT_REQUESTS": a.scrapy_concurrency,
                "CONCURRENT_REQUESTS_PER_DOMAIN": a.scrapy_concurrency,
                "DOWNLOAD_DELAY": 0,
                "CLOSESPIDER_PAGECOUNT": a.scrapy_pages,
            })
        m, entries = self.crawl("single", crawler, cmd, run_dir, nginx, params)
        st = analyze_requests(entries, n)
        ok, why = self.completed(crawler, m)
        row = {
            "scenario": "single", "crawler": crawler, "run": run, "site_pages": n, "params": params,
            "cmd": cmd, "rc": m.rc, "completed": ok, "why": why, "wall_s": round(m.wall, 3),
            "user_s": round(m.user, 3), "sys_s": round(m.sys, 3), "cpu_s": round(m.cpu, 3),
            "peak_rss_mb": round(m.rss_mb, 1), "load_before": m.load_before, "load_after": m.load_after,
            **st,
        }
        pages = st["pages"]
        row["pages_per_s"] = round(pages / m.wall, 1) if m.wall > 0 else 0
        row["cpu_s_per_1k_pages"] = round(m.cpu / pages * 1000, 3) if pages else None
        checks = []
        if crawler == "politecrawl":
            status = self.politecrawl_status(out)
            row["status"] = status
            checks = self.check_politecrawl(status, st, n)
        elif crawler == "scrapy":
            row["scrapy"] = self.read_json(os.path.join(run_dir, "scrapy-stats.json"))
            row["capped"] = bool(a.scrapy_pages)
        row["checks_failed"] = checks
        if crawler != "scrapy" or not a.scrapy_pages:
            if not st["complete"]:
                (self.problem if crawler == "politecrawl" else self.note)(
                    f"single {crawler} {params['label']} run {run}: fetched {pages} of {n} pages")
        if not ok:
            self.problem(f"single {crawler} {params['label']} run {run}: {why}\n{tail(os.path.join(run_dir, 'stderr.log'))}".rstrip())
        for c in checks:
            self.problem(f"single politecrawl {params['label']} run {run}: {c}")
        if checks or not ok:
            log(f"crawl log tail ({run_dir}/stderr.log):\n{tail(os.path.join(run_dir, 'stderr.log'))}")
        log(f"  {crawler} {params['label']}: {pages} pages in {m.wall:.2f} s = {row['pages_per_s']} pages/s, "
            f"CPU {m.cpu:.2f} s, peak RSS {m.rss_mb:.0f} MB, {st['duplicates']} duplicates, rc {m.rc}")
        row["output_mb"] = round(du_mb(out), 1) if os.path.exists(out) else 0.0
        self.record(row)
        if not a.keep:
            rmtree(run_dir)
        return row

    def politecrawl_status(self, db):
        rc, out = sh([self.bin(), "status", "--db", db, "--json"], timeout=300)
        try:
            full = json.loads(out[out.index("{"):]) if rc == 0 else None
        except ValueError:
            full = None
        if not isinstance(full, dict):
            return {"error": out[-500:]}
        keep = ("done", "failed", "queued", "in_flight", "blocked", "bytes", "by_status", "by_error")
        return {k: full.get(k) for k in keep if k in full}

    def check_politecrawl(self, s, st, total):
        bad = []
        if "error" in s:
            return [f"status --json failed: {s['error']}"]
        if s.get("done") != total:
            bad.append(f"status: done={s.get('done')} (expected {total})")
        if s.get("failed") != 0:
            bad.append(f"status: failed={s.get('failed')}")
        for k in ("queued", "in_flight"):
            if s.get(k, 0) != 0:
                bad.append(f"status: {k}={s.get(k)}")
        if s.get("by_status") != {"200": total}:
            bad.append(f"status: by_status={s.get('by_status')} (expected {{'200': {total}}})")
        if st.get("duplicates"):
            bad.append(f"nginx log: {st['duplicates']} duplicate requests")
        if not st.get("complete"):
            bad.append(f"nginx log: {st.get('pages')} distinct pages fetched, expected {total}")
        return bad

    @staticmethod
    def read_json(path):
        try:
            with open(path) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def scrapy_cmd(self, urls, stats, settings):
        s = {
            "ROBOTSTXT_OBEY": True,
            "AUTOTHROTTLE_ENABLED": False,
            "COOKIES_ENABLED": False,
            "TELNETCONSOLE_ENABLED": False,
            "LOG_LEVEL": "WARNING",
            **self.scrapy_no_jitter(),
            **settings,
        }
        cmd = [sys.executable, "-m", "scrapy", "runspider", SPIDER, "-a", "start_urls=" + ",".join(urls),
               "-a", "stats=" + stats]
        for k, v in s.items():
            cmd += ["-s", f"{k}={v}"]
        return cmd

    def scrapy_no_jitter(self):
        """DOWNLOAD_DELAY without random jitter: DOWNLOAD_DELAY_JITTER=0 where Scrapy has it (its
        RANDOMIZE_DOWNLOAD_DELAY is deprecated there and warns), else RANDOMIZE_DOWNLOAD_DELAY=False."""
        if not hasattr(self, "_jitter"):
            rc, out = sh([sys.executable, "-c", "import scrapy.settings.default_settings as d; "
                          "print(hasattr(d, 'DOWNLOAD_DELAY_JITTER'))"], timeout=60)
            if rc == 0 and out.strip() == "True":
                self._jitter = {"DOWNLOAD_DELAY_JITTER": 0}
                self.note("Scrapy: DOWNLOAD_DELAY_JITTER=0 instead of the deprecated RANDOMIZE_DOWNLOAD_DELAY=False")
            else:
                self._jitter = {"RANDOMIZE_DOWNLOAD_DELAY": False}
        return self._jitter

    def table_single(self, rows, n):
        a = self.a
        print(f"## Scenario 1: unthrottled, one origin, {n} pages (127.0.0.1, nginx)\n")
        pc = [r for r in rows if r["crawler"] == "politecrawl" and r["completed"]]
        best = max(pc, key=lambda r: r["pages_per_s"]) if pc else None
        ref = [r for r in rows if r["crawler"] == "wget2" and r["completed"] and r["pages"]]
        ref_rate = max((r["pages_per_s"] for r in ref), default=None)
        ref_cpu = min((r["cpu_s_per_1k_pages"] for r in ref), default=None)
        print("| crawler | settings | run | pages | complete | requests | distinct URIs | duplicates | wall s "
              "| pages/s | CPU s / 1k pages | peak RSS MB | pages/s vs wget2 | CPU/page vs wget2 | output MB | load before → after | exit |")
        print("|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
        for r in rows:
            label = r["params"]["label"] + (" **(best concurrency found)**" if r is best and len(a.conc_sweep) > 1 else "")
            complete = "yes" if r["complete"] else ("capped" if r.get("capped") else "**no**")
            vs_rate = f"{r['pages_per_s'] / ref_rate:.2f}x" if ref_rate else "n/a"
            vs_cpu = f"{r['cpu_s_per_1k_pages'] / ref_cpu:.2f}x" if ref_cpu and r["cpu_s_per_1k_pages"] else "n/a"
            cpu = f"{r['cpu_s_per_1k_pages']:.2f}" if r["cpu_s_per_1k_pages"] is not None else "n/a"
            ex = str(r["rc"]) + ("" if r["completed"] else f" ({r['why']})")
            print(f"| {r['crawler']} | {label} | {r['run']} | {r['pages']} | {complete} | {r['requests']} | "
                  f"{r['distinct_uris']} | {r['duplicates']} | {r['wall_s']:.2f} | {r['pages_per_s']:.0f} | {cpu} | "
                  f"{r['peak_rss_mb']:.0f} | {vs_rate} | {vs_cpu} | {r.get('output_mb', 0):.0f} | {r['load_before'].split()[0]} → "
                  f"{r['load_after'].split()[0]} | {ex} |")
        print()
        print(f"pages = distinct page URIs in nginx's log; requests include robots.txt (404); duplicates = "
              f"requests of a URI already requested; output MB = politecrawl's database or the files wget/wget2 wrote (Scrapy keeps nothing); ratios against the best wget2 run "
              f"({ref_rate or 'n/a'} pages/s, {ref_cpu or 'n/a'} CPU s / 1k pages)."
              + (f" Scrapy stops after CLOSESPIDER_PAGECOUNT={a.scrapy_pages} (plus the requests in flight then); "
                 f"its figures are over the pages it did." if "scrapy" in self.peers and a.scrapy_pages else ""))
        if best:
            print(f"\nBest politecrawl concurrency: {best['params']['concurrency']} "
                  f"({best['pages_per_s']:.0f} pages/s, {best['cpu_s_per_1k_pages']:.2f} CPU s / 1k pages, "
                  f"{best['peak_rss_mb']:.0f} MB).")
        print()
        sys.stdout.flush()

    # ---------------- scenario 4
    def scenario_docs(self):
        """Real HTML no one here wrote: Debian's documentation packages, crawled from index.html."""
        for name, root in DOC_CORPORA:
            if self.a.docs_corpora and name not in self.a.docs_corpora.split(","):
                continue
            if not os.path.isfile(os.path.join(root, "index.html")):
                self.note(f"docs: {root}/index.html missing (apt-get install {name}); skipped")
                continue
            rows = []
            for r in range(1, self.a.runs + 1):
                for crawler in [p for p in self.peers if p in ("politecrawl", "wget2")]:
                    rows.append(self.docs_once(name, root, crawler, r))
            self.table_docs(name, root, rows)

    def docs_once(self, name, root, crawler, run):
        a, port = self.a, self.a.port
        url = f"http://127.0.0.1:{port}/index.html"
        run_dir = os.path.join(self.work, f"docs-{name}-{crawler}-{run}")
        out = os.path.join(run_dir, "out")
        nginx = Nginx(self.nginx_exe, os.path.join(run_dir, "nginx"), [("127.0.0.1", port)], root=root,
                      checks=[("/index.html", 200), ("/robots.txt", 404)])
        c = a.docs_concurrency
        if crawler == "politecrawl":
            cmd = [self.bin(), "crawl", url, "--db", out, "--rate", "0", "--concurrency", str(c),
                   "--per-host-concurrency", str(c), "--no-progress"]
            label = f"C={c}"
        else:
            cmd = ["wget2", "-r", "-l", "inf", f"--max-threads={c}", "-q", "-P", out, url]
            label = f"{c} threads"
        m, entries = self.crawl("docs", crawler, cmd, run_dir, nginx, {"label": label})
        ok, why = self.completed(crawler, m)
        rest = [e for e in entries if e["uri"] != "/robots.txt"]
        uris = {}
        for e in rest:
            uris[e["uri"]] = uris.get(e["uri"], 0) + 1
        html = sorted({e["uri"].split("?", 1)[0].split("#", 1)[0] for e in rest
                       if e["status"] == "200" and e["uri"].split("?", 1)[0].endswith(".html")})
        row = {
            "scenario": "docs", "corpus": name, "crawler": crawler, "run": run, "params": {"label": label},
            "cmd": cmd, "rc": m.rc, "completed": ok, "why": why, "wall_s": round(m.wall, 3),
            "cpu_s": round(m.cpu, 3), "peak_rss_mb": round(m.rss_mb, 1), "requests": len(entries),
            "distinct_uris": len(uris), "duplicates": len(rest) - len(uris), "html_pages": len(html),
            "load_before": m.load_before, "load_after": m.load_after,
        }
        row["pages_per_s"] = round(len(html) / m.wall, 1) if m.wall > 0 else 0
        row["cpu_ms_per_page"] = round(m.cpu / len(html) * 1000, 3) if html else None
        row["_html"] = html
        if not ok:
            self.problem(f"docs {name} {crawler} run {run}: {why}\n{tail(os.path.join(run_dir, 'stderr.log'))}".rstrip())
        if crawler == "politecrawl" and row["duplicates"]:
            self.problem(f"docs {name} politecrawl run {run}: {row['duplicates']} duplicate requests")
        log(f"  {crawler} {label}: {len(html)} HTML pages in {m.wall:.2f} s = {row['pages_per_s']} pages/s, "
            f"CPU {m.cpu:.2f} s, peak RSS {m.rss_mb:.0f} MB, rc {m.rc}")
        self.record({k: v for k, v in row.items() if k != "_html"})
        if not a.keep:
            rmtree(run_dir)
        return row

    def table_docs(self, name, root, rows):
        print(f"## Scenario 4: real documentation, {name} ({root}), unthrottled from /index.html\n")
        print("| crawler | settings | run | HTML pages | only this crawler found | requests | duplicates | wall s "
              "| pages/s | CPU ms / page | peak RSS MB | exit |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        found = {}
        for r in rows:
            found.setdefault(r["crawler"], set()).update(r["_html"])
        for r in rows:
            others = set().union(*(v for k, v in found.items() if k != r["crawler"])) if len(found) > 1 else set()
            only = len(set(r["_html"]) - others) if others else 0
            cpu = f"{r['cpu_ms_per_page']:.2f}" if r["cpu_ms_per_page"] is not None else "n/a"
            ex = str(r["rc"]) + ("" if r["completed"] else f" ({r['why']})")
            print(f"| {r['crawler']} | {r['params']['label']} | {r['run']} | {r['html_pages']} | {only} | "
                  f"{r['requests']} | {r['duplicates']} | {r['wall_s']:.2f} | {r['pages_per_s']:.0f} | {cpu} | "
                  f"{r['peak_rss_mb']:.0f} | {ex} |")
        if len(found) > 1:
            for k, v in found.items():
                rest = set().union(*(w for j, w in found.items() if j != k))
                extra = sorted(v - rest)[:5]
                if extra:
                    print(f"\nOnly {k} found (first 5): {', '.join(extra)}")
        print("\nHTML pages = distinct .html paths answered 200 in nginx's log; CPU = user+sys of the crawler "
              "and its children. Compare CPU ms / page with `cargo bench --bench parse_floor` on the same "
              "corpus (scraper's own parse + one selector walk per page).\n")
        sys.stdout.flush()

    # ---------------- scenario 2
    def scenario_polite(self):
        a = self.a
        p_pages = a.polite_pages
        site = self.gen_site(p_pages, f"site-polite-{p_pages}")
        port = a.port
        addrs = loopback_addrs(a.origins)
        urls = [f"http://{x}:{port}/" for x in addrs]
        jobs = []
        for peer in self.peers:
            if peer == "wget":
                self.note("polite: wget is not run (one connection at --wait 0.2 would take "
                          f"{a.origins * (p_pages + 1) / a.rate:.0f} s; not part of this scenario)")
                continue
            jobs.append(peer)
        rows = []
        for r in range(1, a.runs + 1):
            for crawler in jobs:
                rows.append(self.polite_once(crawler, r, site, port, addrs, urls))
        self.table_polite(rows)
        if not a.keep:
            rmtree(site)

    def polite_once(self, crawler, run, site, port, addrs, urls):
        a = self.a
        p_pages, rate = a.polite_pages, a.rate
        run_dir = os.path.join(self.work, f"polite-{crawler}-{run}")
        out = os.path.join(run_dir, "out")
        nginx = Nginx(self.nginx_exe, os.path.join(run_dir, "nginx"), [(x, port) for x in addrs], root=site)
        wait_s = 1.0 / rate
        if crawler == "politecrawl":
            cmd = [self.bin(), "crawl", *urls, "--db", out, "--rate", f"{rate:g}", "--per-host-concurrency", "1",
                   "--concurrency", str(a.polite_concurrency), "--no-progress"]
            params = {"rate": rate, "per_host_concurrency": 1, "concurrency": a.polite_concurrency}
        elif crawler == "wget2":
            flags = self.wget2_flags([f"--wait={wait_s:g}", "--random-wait=off", f"--max-threads={a.wget2_threads}"])
            cmd = ["wget2", "-r", "-l", "inf", *flags, "-q", "-P", out, *urls]
            params = {"wait": wait_s, "threads": a.wget2_threads, "flags": flags}
        else:
            cmd = self.scrapy_cmd(urls, os.path.join(run_dir, "scrapy-stats.json"), {
                "CONCURRENT_REQUESTS": a.scrapy_concurrency,
                "CONCURRENT_REQUESTS_PER_DOMAIN": 1,
                "DOWNLOAD_DELAY": f"{wait_s:g}",
            })
            params = {"download_delay": wait_s, "per_domain": 1, "concurrency": a.scrapy_concurrency}
        params["label"] = ", ".join(f"{k} {v}" for k, v in params.items() if k != "flags")
        capture = None
        if a.pcap:
            os.makedirs(run_dir, exist_ok=True)
            capture = Capture(os.path.join(run_dir, "requests.pcap"), port)
            capture.start()
        try:
            m, entries = self.crawl("polite", crawler, cmd, run_dir, nginx, params)
        finally:
            if capture:
                capture.stop()
        st = analyze_polite(entries, addrs, p_pages, rate, a.gap_tolerance_ms)
        if capture:
            st.update(analyze_wire(capture.request_starts(), addrs, rate))
            st["wire_dropped"] = capture.dropped
        ok, why = self.completed(crawler, m)
        total = a.origins * p_pages
        ideal_wall = p_pages / rate
        ideal_rate = a.origins * rate
        row = {
            "scenario": "polite", "crawler": crawler, "run": run, "origins": a.origins, "pages_per_origin": p_pages,
            "rate": rate, "gap_tolerance_ms": a.gap_tolerance_ms, "params": params, "cmd": cmd, "rc": m.rc,
            "completed": ok, "why": why, "wall_s": round(m.wall, 3), "user_s": round(m.user, 3),
            "sys_s": round(m.sys, 3), "cpu_s": round(m.cpu, 3), "peak_rss_mb": round(m.rss_mb, 1),
            "load_before": m.load_before, "load_after": m.load_after,
            "ideal_wall_s": ideal_wall, "ideal_pages_per_s": ideal_rate,
            "ideal_formula": "ideal wall = P/RATE (P+1 starts per origin incl. robots.txt, P gaps of 1/RATE); "
                             "ideal pages/s = ORIGINS*RATE",
            **st,
        }
        row["pages_per_s"] = round(st["pages"] / m.wall, 2) if m.wall > 0 else 0
        row["fraction_of_ideal"] = round(row["pages_per_s"] / ideal_rate, 4)
        checks = []
        if crawler == "politecrawl":
            status = self.politecrawl_status(out)
            row["status"] = status
            checks = self.check_politecrawl(status, {"duplicates": st["duplicates"], "complete": st["complete"],
                                                     "pages": st["pages"]}, total)
            # With --pcap the kernel's timestamps decide; nginx's clock (event-loop steps, a
            # request read late when nginx is busy) is then only reported.
            if st["violations"] and "wire_gaps" not in st:
                checks.append(f"politeness: {st['violations']} gaps below {1000 / rate - a.gap_tolerance_ms:g} ms "
                              f"(smallest {st['min_gap_ms']} ms at {st['min_gap_origin']}); "
                              + "; ".join(st["violation_examples"]))
            if not st["robots_once_per_origin"]:
                checks.append("robots.txt was not fetched exactly once per origin")
            if "wire_starts" in st and st["wire_starts"] != st["requests"]:
                checks.append(f"the capture holds {st['wire_starts']} request starts, nginx logged {st['requests']}")
            if st.get("wire_violations"):
                checks.append(f"politeness on the wire: {st['wire_violations']} of {st['wire_gaps']} gaps below "
                              f"{1000 / rate:g} ms (kernel timestamps; smallest {st['wire_min_gap_ms']} ms)")
        row["checks_failed"] = checks
        if not ok:
            self.problem(f"polite {crawler} run {run}: {why}\n{tail(os.path.join(run_dir, 'stderr.log'))}".rstrip())
        for c in checks:
            self.problem(f"polite politecrawl run {run}: {c}")
        if checks or not ok:
            log(f"crawl log tail ({run_dir}/stderr.log):\n{tail(os.path.join(run_dir, 'stderr.log'))}")
        if crawler != "politecrawl" and not st["complete"]:
            self.note(f"polite {crawler} run {run}: {st['pages']} of {total} pages "
                      f"({st['origins_complete']} of {a.origins} origins complete, {st['duplicates']} duplicates)")
        log(f"  {crawler}: {st['pages']} pages in {m.wall:.2f} s = {row['pages_per_s']} pages/s "
            f"({100 * row['fraction_of_ideal']:.1f} % of {ideal_rate:g}), min gap {st['min_gap_ms']} ms, "
            f"max {st['max_starts_per_1s']} starts/s, {st['violations']} violations")
        self.record(row)
        if not a.keep:
            rmtree(run_dir)
        return row

    def table_polite(self, rows):
        a = self.a
        interval = 1000 / a.rate
        print(f"## Scenario 2: polite, {a.origins} origins × {a.polite_pages} pages at {a.rate:g} requests/s per origin\n")
        print("| crawler | settings | run | pages | complete | wall s | ideal wall s | pages/s | % of ideal | min gap ms "
              "| max starts in 1 s | violations | gaps < interval | duplicates | pages/origin min/max | robots once "
              "| CPU s | peak RSS MB | load before → after | exit |")
        print("|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---|---|")
        for r in rows:
            ex = str(r["rc"]) + ("" if r["completed"] else f" ({r['why']})")
            print(f"| {r['crawler']} | {r['params']['label']} | {r['run']} | {r['pages']} | {'yes' if r['complete'] else '**no**'} | "
                  f"{r['wall_s']:.2f} | {r['ideal_wall_s']:.2f} | {r['pages_per_s']:.1f} | "
                  f"{100 * r['fraction_of_ideal']:.1f} | {r['min_gap_ms'] if r['min_gap_ms'] is not None else 'n/a'} | "
                  f"{r['max_starts_per_1s']} | {r['violations']} | {r['gaps_below_interval']} | {r['duplicates']} | "
                  f"{r['pages_per_origin_min']}/{r['pages_per_origin_max']} | "
                  f"{'yes' if r['robots_once_per_origin'] else 'no'} | {r['cpu_s']:.1f} | {r['peak_rss_mb']:.0f} | "
                  f"{r['load_before'].split()[0]} → {r['load_after'].split()[0]} | {ex} |")
        print()
        wired = [r for r in rows if r.get("wire_gaps")]
        if wired:
            print("On the wire (tcpdump on lo, the kernel's timestamps of the request packets, no tolerance):\n")
            print("| crawler | run | request starts | gaps | gaps < interval | smallest gap ms | packets dropped |")
            print("|---|---:|---:|---:|---:|---:|---:|")
            for r in wired:
                print(f"| {r['crawler']} | {r['run']} | {r['wire_starts']} | {r['wire_gaps']} | {r['wire_violations']} | "
                      f"{r['wire_min_gap_ms']} | {r['wire_dropped']} |")
            print()
        print(f"Ideal: each origin needs robots.txt + {a.polite_pages} pages = {a.polite_pages + 1} request starts, "
              f"{a.polite_pages} gaps of {interval:g} ms, so ideal wall = P/RATE = {a.polite_pages / a.rate:g} s and "
              f"ideal pages/s = ORIGINS×RATE = {a.origins * a.rate:g}; % of ideal = pages/s ÷ ideal pages/s "
              f"(wall = crawler process start to exit, start-up included). Gaps and windows use request starts "
              f"($msec − $request_time, nginx's millisecond clock) per origin address; a violation is a gap "
              f"< {interval:g} − {a.gap_tolerance_ms:g} ms; 'max starts in 1 s' = most starts to one origin within "
              f"any [t, t+1 s) (the limit allows {a.rate:g}; with the ms clock a gap of {interval - 1:g} ms can "
              f"make it {int(a.rate) + 1}). wget2's --wait is per thread, not per host.")
        print()
        sys.stdout.flush()

    # ---------------- scenario 3
    def frontier_binary(self):
        target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(REPO, "target")
        cands = [p for p in glob.glob(os.path.join(target, "release", "deps", "frontier_scale-*"))
                 if os.path.isfile(p) and os.access(p, os.X_OK) and not p.endswith((".d", ".rlib", ".rmeta"))]
        return max(cands, key=os.path.getmtime) if cands else None

    def scenario_frontier(self):
        rows = []
        for urls, hosts in self.a.frontier_sizes:
            rows.append(self.frontier_once(urls, hosts))
        self.table_frontier(rows)

    def frontier_once(self, urls, hosts):
        a = self.a
        port = a.port
        run_dir = os.path.join(self.work, f"frontier-{urls}-{hosts}")
        os.makedirs(run_dir, exist_ok=True)
        db = os.path.join(run_dir, "db")
        row = {"scenario": "frontier", "crawler": "politecrawl", "run": 1, "urls": urls, "hosts": hosts, "port": port}
        args = ["--db", db, "--urls", str(urls), "--hosts", str(hosts), "--port", str(port)]
        if a.no_build or a.frontier_bin:
            exe = a.frontier_bin or self.frontier_binary()
            if not exe:
                row.update(completed=False, why="no executable target/release/deps/frontier_scale-* "
                                                "(BENCH_NO_BUILD=1: build it with cargo bench --bench frontier_scale --no-run)")
                self.problem(f"frontier {urls}/{hosts}: {row['why']}")
                return self.record(row)
            cmd = [exe, *args, "--bench"]  # cargo bench passes --bench to the bench binary too
        else:
            cmd = ["cargo", "bench", "--bench", "frontier_scale", "--", *args]
        row["insert_cmd"] = cmd
        log(f"frontier {urls} URLs / {hosts} hosts: {' '.join(cmd)}")
        lb = loadavg()
        m = run_measured(cmd, os.path.join(run_dir, "insert.out"), os.path.join(run_dir, "insert.err"),
                         a.frontier_timeout, cwd=REPO)
        row.update(insert_wall_s=round(m.wall, 2), insert_cpu_s=round(m.cpu, 2), insert_peak_rss_mb=round(m.rss_mb, 1),
                   insert_rc=m.rc, load_before=lb, load_after=loadavg())
        result = None
        with open(os.path.join(run_dir, "insert.out"), errors="replace") as f:
            lines = [x for x in f.read().splitlines() if x.strip()]
        if lines:
            try:
                result = json.loads(lines[-1])
            except ValueError:
                result = None
        if m.rc != 0 or m.timed_out or not isinstance(result, dict):
            why = ("timed out (--frontier-timeout)" if m.timed_out else f"exit status {m.rc}" if m.rc
                   else "last stdout line is not a JSON object")
            row.update(completed=False, why=why, stderr_tail=tail(os.path.join(run_dir, "insert.err"), 20))
            self.problem(f"frontier {urls}/{hosts}: frontier_scale failed: {why}\n{row['stderr_tail']}".rstrip())
            self.record(row)
            if not a.keep:
                rmtree(run_dir)
            return row
        row["insert"] = result
        log(f"  frontier_scale: {json.dumps(result)}")

        # Start to first request.
        nginx = Nginx(self.nginx_exe, os.path.join(run_dir, "nginx"), [("127.0.0.1", port)], root=None, buffered=False)
        nginx.start()
        seen = {}

        def watcher(p, exited):
            while not exited.is_set():
                try:
                    if os.path.getsize(nginx.access_log) > 0:
                        seen["at"] = time.time()
                        break
                except OSError:
                    pass
                time.sleep(0.02)
            else:
                return
            if not exited.wait(3.0):
                seen["sigterm"] = True
                try:
                    os.kill(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass

        cmd2 = [self.bin(), "crawl", "--db", db, "--max-pages", str(a.frontier_max_pages), "--no-progress"]
        row["first_request_cmd"] = cmd2
        log(f"  start to first request: {' '.join(cmd2)}")
        lb2 = loadavg()
        try:
            m2 = run_measured(cmd2, os.path.join(run_dir, "crawl.out"), os.path.join(run_dir, "crawl.err"),
                              a.frontier_timeout, cwd=run_dir, watcher=watcher)
        finally:
            nginx.stop()
        entries = nginx.entries()
        first = min((e["start"] for e in entries), default=None)
        row.update(crawl_rc=m2.rc, crawl_wall_s=round(m2.wall, 3), crawl_cpu_s=round(m2.cpu, 3),
                   crawl_peak_rss_mb=round(m2.rss_mb, 1), crawl_requests=len(entries),
                   crawl_stopped_by_sigterm=bool(seen.get("sigterm")), crawl_load_before=lb2, crawl_load_after=loadavg(),
                   db_disk_mb=round(du_mb(db), 1))
        ok = True
        why = ""
        if first is None:
            ok, why = False, "the crawl made no request"
        else:
            row["first_request_s"] = round(first / 1000 - m2.t_start, 3)
        if m2.timed_out:
            ok, why = False, "crawl timed out (--frontier-timeout)"
        elif m2.rc not in (0, 130, 143) and not (seen.get("sigterm") and m2.rc in (-15, 1)):
            ok, why = False, f"crawl exit status {m2.rc}"
        row.update(completed=ok, why=why)
        if not ok:
            row["stderr_tail"] = tail(os.path.join(run_dir, "crawl.err"), 20)
            self.problem(f"frontier {urls}/{hosts}: {why}\n{row['stderr_tail']}".rstrip())
        log(f"  first request after {row.get('first_request_s')} s, crawl peak RSS {m2.rss_mb:.0f} MB, "
            f"{len(entries)} requests, rc {m2.rc}")
        self.record(row)
        if not a.keep:
            rmtree(run_dir)
        return row

    def table_frontier(self, rows):
        print("## Scenario 3: frontier scale\n")
        print("| URLs | hosts | insert rate URLs/s | insert s | insert peak RSS MB | DB disk MB | start → first request s "
              "| crawl peak RSS MB | crawl requests | crawl ended by | result |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
        for r in rows:
            ins = r.get("insert") or {}
            def g(d, k):
                v = d.get(k)
                if isinstance(v, float):
                    return f"{v:.0f}" if abs(v) >= 100 else f"{v:.3g}"
                return "n/a" if v is None else str(v)

            ended = "n/a" if "crawl_rc" not in r else ("SIGTERM (first request + 3 s)" if r["crawl_stopped_by_sigterm"]
                                                       else f"itself (rc {r['crawl_rc']})")
            print(f"| {r['urls']} | {r['hosts']} | {g(ins, 'insert_rate')} | {g(ins, 'seconds')} | {g(ins, 'rss_mb')} | "
                  f"{g(ins, 'disk_mb')} | {g(r, 'first_request_s')} | {g(r, 'crawl_peak_rss_mb')} | "
                  f"{g(r, 'crawl_requests')} | {ended} | {'ok' if r.get('completed') else 'FAILED: ' + r.get('why', '')} |")
        print()
        print(f"Insert figures are frontier_scale's own JSON (last stdout line). Start → first request: from the "
              f"crawl process's start to the first request start ($msec − $request_time) in nginx's log; crawl: "
              f"politecrawl crawl --db DIR --max-pages {self.a.frontier_max_pages} --no-progress (resume), peak RSS "
              f"from wait4.")
        print()
        sys.stdout.flush()

    # ---------------- main
    def preflight(self):
        """Fails early (before generating sites) when a port or a loopback address is unusable."""
        addrs = []
        if any(sc in self.a.scenarios for sc in ("single", "frontier", "docs")):
            addrs.append("127.0.0.1")
        if "polite" in self.a.scenarios:
            addrs += loopback_addrs(self.a.origins)
        for x in addrs:
            check_free(x, self.a.port)

    def run(self):
        self.preflight()
        self.header()
        for sc in self.a.scenarios:
            try:
                getattr(self, "scenario_" + sc)()
            except Fatal:
                raise
            except Exception as e:  # a bug in one scenario should not hide the others' results
                import traceback
                self.problem(f"scenario {sc} crashed: {e}\n{traceback.format_exc()}")
        print("## Summary\n")
        for n in self.notes:
            print(f"- note: {n}")
        if self.problems:
            print(f"- **FAILED**: {len(self.problems)} problem(s):")
            for p in self.problems:
                print("  - " + p.replace("\n", "\n    "))
        else:
            print("- every run completed and politecrawl's completeness and politeness checks passed")
        print(f"- results: {self.a.jsonl}")
        print(f"- load average at end: {loadavg()}")
        self.jsonl.close()
        return 1 if self.problems else 0


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="See the top of scripts/bench/suite.py for what each scenario measures.")
    env = os.environ.get
    ap.add_argument("--scenarios", default=env("BENCH_SCENARIOS", "single,polite,frontier,docs"),
                    help="comma-separated: single,polite,frontier,docs (default all)")
    ap.add_argument("--docs-corpora", default="",
                    help="docs scenario: comma-separated package names to crawl (default all: "
                         + ",".join(n for n, _ in DOC_CORPORA) + ")")
    ap.add_argument("--docs-concurrency", type=int, default=64,
                    help="docs scenario: politecrawl --concurrency and wget2 --max-threads (default 64)")
    ap.add_argument("--peers", default=env("BENCH_PEERS", ",".join(ALL_PEERS)),
                    help="comma-separated crawlers: politecrawl,wget2,wget,scrapy (default all)")
    ap.add_argument("--pages", type=int, default=int(env("BENCH_PAGES", "20000")),
                    help="scenario 1 site size (default 20000, env BENCH_PAGES)")
    ap.add_argument("--conc-sweep", default=env("BENCH_CONC_SWEEP", "16,32,64"),
                    help="politecrawl concurrencies in scenario 1, comma or space separated (default 16,32,64)")
    ap.add_argument("--wget2-threads", type=int, default=64, help="wget2 --max-threads (default 64)")
    ap.add_argument("--scrapy-concurrency", type=int, default=64, help="Scrapy CONCURRENT_REQUESTS (default 64)")
    ap.add_argument("--scrapy-pages", type=int, default=int(env("BENCH_SCRAPY_PAGES", "3000")),
                    help="scenario 1: Scrapy CLOSESPIDER_PAGECOUNT (default 3000; 0 = whole site)")
    ap.add_argument("--polite-pages", type=int, default=int(env("BENCH_POLITE_PAGES", "150")),
                    help="scenario 2 pages per origin (default 150)")
    ap.add_argument("--origins", type=int, default=20, help="scenario 2 origins 127.0.0.2... (127.1.X.Y above 250; default 20)")
    ap.add_argument("--rate", type=float, default=5.0, help="scenario 2 requests/s per origin (default 5)")
    ap.add_argument("--polite-concurrency", type=int, default=64, help="scenario 2 politecrawl --concurrency (default 64)")
    ap.add_argument("--pcap", action="store_true",
                    help="scenario 2: also capture the requests on lo with tcpdump and check the gaps between "
                         "request starts with the kernel's timestamps, without tolerance")
    ap.add_argument("--gap-tolerance-ms", type=float, default=10.0,
                    help="scenario 2: a gap below 1000/rate minus this is a violation (default 10)")
    ap.add_argument("--frontier-sizes", default=env("BENCH_FRONTIER_SIZES", "1000000:100000,10000000:100000"),
                    help="scenario 3 sizes URLS:HOSTS, comma-separated (default 1000000:100000,10000000:100000)")
    ap.add_argument("--frontier-bin", default=None,
                    help="scenario 3: run this frontier_scale executable instead of cargo bench / the newest built one")
    ap.add_argument("--frontier-max-pages", type=int, default=50, help="scenario 3 crawl --max-pages (default 50)")
    ap.add_argument("--frontier-timeout", type=float, default=3600.0,
                    help="seconds for one frontier_scale run or crawl (default 3600)")
    ap.add_argument("--runs", type=int, default=int(env("BENCH_RUNS", "1")), help="repeat each crawler run R times (default 1)")
    ap.add_argument("--timeout", type=float, default=float(env("BENCH_TIMEOUT", "900")),
                    help="seconds one crawl may take before it is stopped and counted as failed (default 900)")
    ap.add_argument("--port", type=int, default=int(env("BENCH_PORT", "18580")), help="port on every address (default 18580)")
    ap.add_argument("--seed", type=int, default=1, help="gen_site.py seed (default 1)")
    ap.add_argument("--jsonl", default=env("BENCH_JSONL", "results.jsonl"),
                    help="JSON lines output (default results.jsonl in the current directory; overwritten)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (sites, logs, outputs)")
    ap.add_argument("--bin", default=None, help="politecrawl binary (default target/release/politecrawl)")
    ap.add_argument("--no-build", action="store_true", default=env("BENCH_NO_BUILD", "0") == "1",
                    help="frontier: run the built target/release/deps/frontier_scale-* instead of cargo bench "
                         "(default when BENCH_NO_BUILD=1)")
    a = ap.parse_args(argv)

    def csv(s):
        return [x for x in re.split(r"[,\s]+", s.strip()) if x]

    a.scenarios = csv(a.scenarios)
    a.peers = csv(a.peers)
    for s in a.scenarios:
        if s not in ALL_SCENARIOS:
            ap.error(f"--scenarios: unknown {s!r} (choose from {','.join(ALL_SCENARIOS)})")
    for p in a.peers:
        if p not in ALL_PEERS:
            ap.error(f"--peers: unknown {p!r} (choose from {','.join(ALL_PEERS)})")
    try:
        a.conc_sweep = [int(x) for x in csv(a.conc_sweep)]
        sizes = []
        for x in csv(a.frontier_sizes):
            if x.lower() in ("none", "skip"):
                continue
            u, h = x.split(":")
            sizes.append((int(u), int(h)))
        a.frontier_sizes = sizes
    except ValueError:
        ap.error("--conc-sweep takes integers; --frontier-sizes takes URLS:HOSTS pairs")
    if "politecrawl" in a.peers and not a.conc_sweep:
        ap.error("--conc-sweep is empty")
    if a.pages < 2 or a.polite_pages < 2:
        ap.error("--pages and --polite-pages must be at least 2")
    if not 1 <= a.origins <= 62_500:
        ap.error("--origins must be 1..62500 (127.0.0.2 ... up to 250, else 127.1.X.Y)")
    if a.rate <= 0:
        ap.error("--rate must be > 0")
    if a.runs < 1:
        ap.error("--runs must be at least 1")
    if not 1 <= a.port <= 65535:
        ap.error("--port must be 1..65535")
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(REPO, "target")
    a.bin = os.path.abspath(a.bin or os.path.join(target, "release", "politecrawl"))
    a.jsonl = os.path.abspath(a.jsonl)
    return a


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)

    def on_term(sig, _frame):
        raise SystemExit(128 + sig)

    def on_int(_sig, _frame):
        raise KeyboardInterrupt

    os.environ["PYTHONDONTWRITEBYTECODE"] = "1"  # runspider imports scrapy_spider.py: no __pycache__ in the repo
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    signal.signal(signal.SIGINT, on_int)  # also when started with SIGINT ignored (background job)
    a.work = tempfile.mkdtemp(prefix="politecrawl-suite.", dir=os.environ.get("TMPDIR"))
    rc = 1
    try:
        rc = Suite(a).run()
    except Fatal as e:
        log(f"FAILED: {e}")
        rc = 2
    except KeyboardInterrupt:
        log("interrupted (SIGINT): stopping what runs and cleaning up")
        rc = 130
    except SystemExit as e:
        log(f"stopped by a signal (exit {e.code}): stopping what runs and cleaning up")
        rc = e.code
    finally:
        cleanup_all()
        if a.keep:
            log(f"kept {a.work}")
        else:
            rmtree(a.work)
    return rc


if __name__ == "__main__":
    sys.exit(main())
