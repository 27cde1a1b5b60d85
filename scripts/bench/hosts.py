#!/usr/bin/env python3
"""Memory against the hosts a crawl has seen: hosts found one after another, each finished
before most of the others are found, so the hosts ever seen grow to --hosts while the hosts with
work stay about --chains.

    cargo build --release && python3 scripts/bench/hosts.py [--hosts 2000,20000,100000]
        [--chains 64] [--pages 4] [--concurrency 64] [--runs 1] [--jsonl PATH]

python3 stdlib only, reusing suite.py's process helpers and its nginx start-up. The site:

- host names h0.chain.test ... h{N-1}.chain.test, all answered 127.0.0.1 by a name server of
  this script's own on 127.0.0.1 (UDP, an ephemeral port, given to the crawl as --dns-server;
  AAAA questions get an empty answer), which counts the questions;
- one nginx on 127.0.0.1:PORT answers every name: "/" links to /1.html ... /{P-1}.html and to
  the next host of its chain, http://h{i+K}.chain.test:PORT/ (a map of N entries); /N.html
  links back to "/"; robots.txt is 404. So P pages per host.

The crawl starts from the K hosts h0 ... h{K-1} with --scope any --rate 0
--per-host-concurrency 2 --concurrency C: chain k reaches host i only after host i-K's "/" was
parsed. Per run: pages (nginx's log: distinct host and path pairs, and duplicates), wall time,
CPU, peak RSS (os.wait4), DNS questions (one per host is the most there should be), and the
crawl's RSS (/proc/PID/status VmRSS, sampled every 0.25 s) when a tenth, half and all of the
hosts had been asked for. Memory that follows the hosts with work is the same at 2,000 hosts
and at 100,000; memory that follows the hosts ever seen grows between the tenth and the end.

Environment: HOSTS_SAMPLE_S=0.01 samples RSS more often (a short peak shows); HOSTS_DEBUG=1
prints each name asked a second time, with the time. --keep leaves each run's rss.tsv
(seconds, hosts asked, RSS MB), logs and database in the temporary directory.
"""

import argparse
import json
import os
import socket
import struct
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import suite  # noqa: E402  (suite.py's helpers: nginx, processes)

DOMAIN = "chain.test"


class NameServer:
    """Answers every A question with 127.0.0.1 and every other type with no answer; counts the
    A questions per name."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.asked = {}
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                q, peer = self.sock.recvfrom(2048)
            except OSError:
                return
            if len(q) < 17:
                continue
            i, labels = 12, []
            while i < len(q) and q[i] != 0:
                n = q[i]
                labels.append(q[i + 1:i + 1 + n].decode("ascii", "replace").lower())
                i += 1 + n
            qend = i + 5
            if qend > len(q):
                continue
            qtype = struct.unpack(">H", q[i + 1:i + 3])[0]
            name = ".".join(labels)
            answers = b""
            if qtype == 1:
                with self.lock:
                    self.asked[name] = self.asked.get(name, 0) + 1
                    if self.asked[name] > 1 and os.environ.get("HOSTS_DEBUG"):
                        print(f"again {name} at {time.time():.3f}", file=sys.stderr, flush=True)
                answers = struct.pack(">HHHIH", 0xC00C, 1, 1, 300, 4) + bytes([127, 0, 0, 1])
            head = q[:2] + struct.pack(">HHHHH", 0x8180, 1, 1 if answers else 0, 0, 0)
            self.sock.sendto(head + q[12:qend] + answers, peer)

    def counts(self):
        with self.lock:
            return len(self.asked), sum(self.asked.values())

    def close(self):
        self.sock.close()


class ChainNginx(suite.Nginx):
    """One server on 127.0.0.1:PORT for every host name of the chains."""

    def __init__(self, exe, directory, port, hosts, chains, pages):
        super().__init__(exe, directory, [("127.0.0.1", port)],
                         checks=[("/", 200), ("/1.html", 200), ("/robots.txt", 404)])
        self.port, self.hosts, self.chains, self.pages = port, hosts, chains, pages

    def config(self):
        d = self.dir
        with open(os.path.join(d, "next.map"), "w") as f:
            for i in range(self.hosts - self.chains):
                f.write(f"h{i}.{DOMAIN} http://h{i + self.chains}.{DOMAIN}:{self.port}/;\n")
        links = "".join(f'<a href="/{n}.html">{n}</a> ' for n in range(1, self.pages))
        user = "user root root;\n" if os.geteuid() == 0 else ""
        return f"""{user}worker_processes 1;
daemon off;
master_process on;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    default_type text/html;
    map_hash_max_size {max(1024, 2 * self.hosts)};
    map_hash_bucket_size 128;
    map $host $next {{ default "/"; include {d}/next.map; }}
    log_format chain '$host $status $request_uri';
    access_log {self.access_log} chain buffer=256k flush=1s;
{suite.http_common(d)}    server {{
        listen 127.0.0.1:{self.port} default_server;
        server_name _;
        log_not_found off;
        location = /robots.txt {{ return 404; }}
        location = / {{ return 200 '<html><body>{links}<a href="$next">next</a></body></html>'; }}
        location / {{ return 200 '<html><body><a href="/">home</a></body></html>'; }}
    }}
}}
"""


def read_chain_log(path):
    pairs, lines, bad = set(), 0, 0
    with open(path, errors="replace") as f:
        for line in f:
            parts = line.split()
            if len(parts) != 3 or suite.CHECK in parts[2] or parts[2] == "/robots.txt":
                continue
            lines += 1
            if parts[1] != "200":
                bad += 1
            pairs.add((parts[0], parts[2]))
    return lines, len(pairs), bad


def vm_rss_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def one_run(a, hosts, run_no, work):
    run_dir = os.path.join(work, f"h{hosts}-r{run_no}")
    os.makedirs(run_dir)
    dns = NameServer()
    nginx = ChainNginx(a.nginx, os.path.join(run_dir, "nginx"), a.port, hosts, a.chains, a.pages)
    os.makedirs(nginx.dir)
    nginx.start()
    seeds = [f"http://h{i}.{DOMAIN}:{a.port}/" for i in range(a.chains)]
    cmd = [a.bin, "crawl", *seeds, "--db", os.path.join(run_dir, "db"), "--scope", "any",
           "--rate", "0", "--per-host-concurrency", "2", "--concurrency", str(a.concurrency),
           "--dns-server", f"127.0.0.1:{dns.port}", "--no-progress"]
    samples = []  # (hosts asked, RSS MB)

    def watch(p, exited):
        t0 = time.monotonic()
        with open(os.path.join(run_dir, "rss.tsv"), "w") as f:
            f.write("seconds\thosts_asked\trss_mb\n")
            while not exited.wait(float(os.environ.get("HOSTS_SAMPLE_S", "0.25"))):
                rss = vm_rss_mb(p.pid)
                if rss is not None:
                    samples.append((dns.counts()[0], rss))
                    f.write(f"{time.monotonic() - t0:.2f}\t{samples[-1][0]}\t{rss:.1f}\n")

    suite.log(f"{hosts} hosts, run {run_no}: crawling")
    m = suite.run_measured(cmd, os.path.join(run_dir, "crawl.out"), os.path.join(run_dir, "crawl.err"),
                           a.timeout, watcher=watch)
    nginx.stop()
    dns.close()
    names, questions = dns.counts()
    lines, pages, bad = read_chain_log(nginx.access_log)

    def rss_at(frac):
        over = [rss for asked, rss in samples if asked >= frac * hosts]
        if frac == 1.0 and samples:
            over.append(samples[-1][1])  # the last sample, if none was taken after the last host
        return round(over[0], 1) if over else None

    row = {
        "record": "run", "hosts": hosts, "run": run_no, "chains": a.chains, "pages_per_host": a.pages,
        "concurrency": a.concurrency, "rc": m.rc, "wall_s": round(m.wall, 2),
        "pages": pages, "expected_pages": hosts * a.pages, "duplicates": lines - pages,
        "non_200": bad, "pages_per_s": round(pages / m.wall, 1) if m.wall else None,
        "cpu_ms_per_page": round(1000 * m.cpu / pages, 3) if pages else None,
        "peak_rss_mb": round(m.rss_mb, 1), "hosts_asked": names, "dns_questions": questions,
        "rss_at_tenth_mb": rss_at(0.1), "rss_at_half_mb": rss_at(0.5), "rss_at_end_mb": rss_at(1.0),
        "db_mb": round(suite.du_mb(os.path.join(run_dir, "db")), 1),
    }
    problems = []
    if m.rc != 0:
        problems.append(f"exit status {m.rc} (see {run_dir}/crawl.err)")
    if pages != hosts * a.pages or bad:
        problems.append(f"{pages} of {hosts * a.pages} pages, {bad} not 200")
    if lines != pages:
        problems.append(f"{lines - pages} duplicate requests")
    if names != hosts or questions != hosts:
        problems.append(f"{questions} A questions for {names} names, {hosts} hosts")
    row["problems"] = problems
    suite.log(f"{hosts} hosts, run {run_no}: {json.dumps(row)}")
    if not a.keep:
        suite.rmtree(run_dir)
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", default="2000,20000,100000", help="host counts, one crawl each (default 2000,20000,100000)")
    ap.add_argument("--chains", type=int, default=64, help="hosts with work at a time, about (default 64)")
    ap.add_argument("--pages", type=int, default=4, help="pages per host (default 4)")
    ap.add_argument("--concurrency", type=int, default=64, help="politecrawl --concurrency (default 64)")
    ap.add_argument("--runs", type=int, default=1, help="crawls per host count (default 1)")
    ap.add_argument("--port", type=int, default=18590, help="nginx's port on 127.0.0.1 (default 18590)")
    ap.add_argument("--timeout", type=float, default=1800.0, help="per crawl, seconds (default 1800)")
    ap.add_argument("--bin", default=os.path.join(suite.REPO, "target", "release", "politecrawl"))
    ap.add_argument("--jsonl", default="hosts-results.jsonl", help="one JSON object per run (default hosts-results.jsonl)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    a = ap.parse_args()
    a.nginx = suite.shutil.which("nginx") or "/usr/sbin/nginx"
    for exe in (a.bin, a.nginx):
        if not os.access(exe, os.X_OK):
            print(f"hosts.py: {exe} is not an executable (cargo build --release; apt install nginx)", file=sys.stderr)
            return 2
    rows, failed = [], False
    try:
        with suite.work_dir("politecrawl-hosts-", a.keep) as work:
            for hosts in [int(h) for h in a.hosts.split(",") if h]:
                for r in range(1, a.runs + 1):
                    row = one_run(a, hosts, r, work)
                    rows.append(row)
                    failed |= bool(row["problems"])
    except suite.Fatal as e:
        print(f"hosts.py: {e}", file=sys.stderr)
        return 2
    suite.write_jsonl(a.jsonl, rows)
    print("| hosts | pages | wall s | pages/s | CPU ms/page | RSS at 1/10 of the hosts | at 1/2 | at the end | peak RSS | DNS questions | problems |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r['hosts']:,} | {r['pages']:,} | {r['wall_s']} | {r['pages_per_s']} | {r['cpu_ms_per_page']} | "
              f"{r['rss_at_tenth_mb']} MB | {r['rss_at_half_mb']} MB | {r['rss_at_end_mb']} MB | {r['peak_rss_mb']} MB | "
              f"{r['dns_questions']:,} | {'; '.join(r['problems']) or 'none'} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
