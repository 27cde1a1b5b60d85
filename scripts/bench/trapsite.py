#!/usr/bin/env python3
"""A trap site (scripts/bench/trap_pages.py: 296 real pages inside the URL spaces that waste
crawlers' requests on real sites), and a count, from the server's side, of every request as a
real page, a duplicate or a trap.

    python3 scripts/bench/trapsite.py [--port 8000] [--report PATH] [--log PATH]
    curl http://127.0.0.1:8000/__trapsite/report      # the counts so far (JSON; not counted)
    python3 scripts/bench/trapsite.py --check          # what an ideal crawler would spend

python3 stdlib only: a threaded HTTP/1.1 server (keep-alive, Content-Length on every answer).
`--port 0` takes a free port; the first stdout line says which. On SIGTERM or SIGINT it writes
the report (the JSON of /__trapsite/report: requests by class and kind, the real pages found and
missing) to --report; --log gets one tab-separated line per request as it is answered:
sequence, epoch seconds, class, kind, page id, status, request target.

Classes: `real` the first request of a real page (under any of its URLs); `duplicate` a later
request of it, whose kind is `repeat` (a target requested before, byte for byte) or, compared
with the page's first request, the first of fragment, session, tracking, param_order and
print_share in which the two differ, when they differ in nothing else (else `other`: another
path or parameter); `trap` a request in one of the trap spaces (kind: its name). /robots.txt (allows everything) is class
`robots`, neither real nor waste.
"""

import argparse
import itertools
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urljoin

from trap_pages import REAL, SESSION_KEYS, TRACKING_RE, VARIANT_KEYS, hashed, resolve

DUP_KINDS = ("repeat", "fragment", "session", "tracking", "param_order", "print_share", "other")


# ------------------------------------------------------------------ counting


def split(target):
    """(core, aspects) of a request target: the core is the path and the other query parameters
    (sorted); the aspects are what DUP_KINDS[1:6] name: the fragment, the session parameters (path
    parameters too), the tracking parameters, the order of the core's parameters, print/share."""
    rest, _, fragment = target.partition("#")
    path, _, query = rest.partition("?")
    path, _, path_params = path.partition(";")
    pairs = parse_qsl(query, keep_blank_values=True)
    session = [p for p in pairs if p[0].lower() in SESSION_KEYS]
    tracking = sorted(p for p in pairs if TRACKING_RE.match(p[0].lower()))
    variants = sorted(p for p in pairs if p[0].lower() in VARIANT_KEYS)
    core = [p for p in pairs if p not in session and p not in tracking and p not in variants]
    return (path, sorted(core)), (fragment, (path_params, session), tracking, [k for k, _ in core], variants)


class Tally:
    """Every request's class and kind; the first target of each real page."""

    def __init__(self, log_path=None):
        self.lock = threading.Lock()
        self.first, self.seen, self.counts, self.requests, self.last_real_at = {}, set(), {}, 0, 0
        self.log = open(log_path, "w", buffering=1) if log_path else None

    def count(self, target, page, robots=False):
        with self.lock:
            self.requests += 1
            if robots:
                cls, kind = "robots", ""
            elif page.trap:
                cls, kind = "trap", page.trap
            elif page.id not in self.first:
                cls, kind = "real", ""
                self.first[page.id], self.last_real_at = target, self.requests
            elif target in self.seen:
                cls, kind = "duplicate", "repeat"
            else:
                (core, aspects), (first_core, first_aspects) = split(target), split(self.first[page.id])
                differ = [k for k, a, b in zip(DUP_KINDS[1:], aspects, first_aspects) if a != b]
                cls, kind = "duplicate", differ[0] if core == first_core and differ else "other"
            self.seen.add(target)
            key = f"{cls}/{kind}" if kind else cls
            self.counts[key] = self.counts.get(key, 0) + 1
            if self.log:
                self.log.write(f"{self.requests}\t{time.time():.3f}\t{cls}\t{kind}\t{'' if robots else page.id or ''}\t"
                               f"{200 if robots else page.status}\t{target}\n")

    def report(self):
        with self.lock:
            by_class = {c: sum(n for k, n in self.counts.items() if k.split("/")[0] == c)
                        for c in ("real", "duplicate", "trap", "robots")}
            wasted = by_class["duplicate"] + by_class["trap"]
            return {"real_total": len(REAL), "real_found": len(self.first), "requests": self.requests,
                    "last_real_at": self.last_real_at,
                    "wasted": wasted, "waste_ratio": round(wasted / self.requests, 4) if self.requests else None,
                    "by_class": by_class, "by_kind": dict(sorted(self.counts.items())),
                    "found": sorted(self.first, key=REAL.index), "missing": [p for p in REAL if p not in self.first]}


def check(strip_variants=False):
    """Crawls the site in-process (breadth first) as a crawler with these defences would: one
    request per URL once session IDs, tracking parameters and parameter order are taken away
    (and print/share with strip_variants), no link followed out of a trap or a duplicate. Returns
    its requests by class and kind and the real pages it did not reach (there should be none)."""
    tally, todo, keys = Tally(), ["/"], set()
    while todo:
        target = todo.pop(0)
        core, aspects = split(target)
        key = repr((core, [] if strip_variants else aspects[4]))
        if key in keys:
            continue
        keys.add(key)
        page = resolve(target, "0")
        tally.count(target, page)
        if not page.trap and tally.first[page.id] == target:
            todo += [urljoin("http://h" + target, h)[len("http://h"):].split("#", 1)[0] for h, _ in page.links]
    r = tally.report()
    return {k: r[k] for k in ("requests", "real_found", "real_total", "last_real_at", "wasted", "waste_ratio", "by_kind",
                              "missing")}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60  # an idle keep-alive connection's thread ends after this
    sessions = itertools.count(1)

    def log_message(self, *_args):
        pass

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        target, tally = self.path, self.server.tally
        if target.startswith("/__trapsite/report"):
            return self.reply(200, json.dumps(tally.report(), indent=1), "application/json")
        if target.split("#", 1)[0] == "/robots.txt":
            tally.count(target, None, robots=True)
            return self.reply(200, "User-agent: *\nDisallow:\n", "text/plain")
        page = resolve(target, hashed("session", next(self.sessions), n=24).upper())
        tally.count(target, page)
        self.reply(page.status, page.body())

    def reply(self, status, text, ctype="text/html; charset=utf-8"):
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000, help="0: any free port (default 8000)")
    ap.add_argument("--report", help="write the report (JSON) here on SIGTERM or SIGINT")
    ap.add_argument("--log", help="one tab-separated line per request")
    ap.add_argument("--check", action="store_true", help="print check()'s crawl (JSON) and exit: 1 if a real page is unreachable")
    a = ap.parse_args(argv)
    if a.check:
        r = {"key strips session, tracking, order": check(), "and print/share too": check(strip_variants=True)}
        print(json.dumps(r, indent=1))
        return 1 if any(c["missing"] for c in r.values()) else 0
    server = Server((a.host, a.port), Handler)
    server.tally = Tally(a.log)
    print(f"trapsite listening on http://{a.host}:{server.server_address[1]}/ ({len(REAL)} real pages)", flush=True)

    def stop(_sig, _frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        report = server.tally.report()
        if server.tally.log:
            with server.tally.lock:
                server.tally.log.close()
        if a.report:
            with open(a.report + ".tmp", "w") as f:
                json.dump(report, f, indent=1)
            os.replace(a.report + ".tmp", a.report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
