#!/usr/bin/env python3
"""A resume's start on a big frontier: time from `politecrawl crawl --db DIR` starting to the
first request reaching a server on the seeds' port (docs/BENCHMARKS.md, 3d and 3e).

    python3 scripts/bench/first_request.py BIN DB PORT [--max-pages N]

DB is a database `frontier_scale` left (its URLs are http://hN.localhost:PORT/...; libcurl
resolves *.localhost to loopback itself). A threaded server of this script's own on
127.0.0.1:PORT answers 404 to everything and notes when the first request came. The crawl runs
with --max-pages N (50) --no-progress, its stderr appended to DB.crawl.log; it is sent SIGTERM
if it still runs 20 s after its first request. Run it on a copy of a database killed with
kill -9 for "the first open after the kill" (`sync` first, or sled's recovery also waits for the
copy's write-back), then again with a larger --max-pages for the opens after a clean stop.

Prints one JSON object: first_request_s (null if none), exit_s, rc, requests, sigterm, and the
crawl's peak_rss_mb, user_s and sys_s (from wait4). python3 stdlib only.
"""
import argparse
import http.server
import json
import resource
import signal
import socketserver
import subprocess
import threading
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bin")
    ap.add_argument("db")
    ap.add_argument("port", type=int)
    ap.add_argument("--max-pages", default="50")
    a = ap.parse_args()
    first, count = [], [0]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if not first:
                first.append(time.time())
            count[0] += 1
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
        allow_reuse_address = True

    server = Server(("127.0.0.1", a.port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    started = time.time()
    with open(a.db.rstrip("/") + ".crawl.log", "a") as log:
        proc = subprocess.Popen(
            [a.bin, "crawl", "--db", a.db, "--max-pages", a.max_pages, "--no-progress"],
            stdout=subprocess.DEVNULL, stderr=log)
        stopped = False
        while proc.poll() is None:
            if (first and time.time() - first[0] > 20) or time.time() - started > 300:
                proc.send_signal(signal.SIGTERM)
                stopped = True
                break
            time.sleep(0.01)
        rc = proc.wait()
    ended = time.time()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({
        "first_request_s": round(first[0] - started, 2) if first else None,
        "exit_s": round(ended - started, 2),
        "rc": rc,
        "requests": count[0],
        "sigterm": stopped,
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
        "user_s": round(usage.ru_utime, 2),
        "sys_s": round(usage.ru_stime, 2),
    }))


if __name__ == "__main__":
    main()
