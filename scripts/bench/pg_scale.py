#!/usr/bin/env python3
"""A shared crawl's PostgreSQL frontier at scale: what grows with the queue.

    cargo build --release && cargo bench --bench pg_scale --no-run &&
        python3 scripts/bench/pg_scale.py [--sizes 1000000,10000000] [--hosts 100000]
            [--seconds 60] [--workers 2] [--jsonl PATH]

For each size: a fresh database in one PostgreSQL 15 (cluster.py's, in a temp dir), loaded in
bulk by `benches/pg_scale.rs` (the crawl's tables, crawl and origins through the crawler's own
calls, the `urls` rows with one COPY: N queued URLs over --hosts hosts, `--rate 0`, robots.txt
ignored); then, measured:

  load         rows/s of the bulk load (not the crawler's own path: a reference only);
  bytes/URL    pg_total_relation_size of urls, origins and pages (tables and indexes) over N,
               and each relation's share;
  status       wall time of `politecrawl status --frontier URL --crawl NAME --json` (3 runs);
  start        each worker's start to its first request (nginx's log, $msec - $request_time);
  CPU/URL      --workers workers crawl for --seconds (SIGINT then, a clean stop), nginx answering
               any host with a page of 5 new links (unique, from $request_id) and 5 known ones;
               PostgreSQL's CPU over the run (the postmaster's and its reaped backends', read
               after every worker has exited) over the URLs fetched (nginx's log).

python3 stdlib only, reusing suite.py (nginx, processes) and cluster.py (PostgreSQL).
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import suite  # noqa: E402
import cluster  # noqa: E402

PAGE = ("<html><head><title>$uri</title></head><body>"
        + "".join(f'<a href="/q/$request_id-{k}.html">new {k}</a> ' for k in range(5))
        + "".join(f'<a href="/p/{k}.html">known {k}</a> ' for k in range(5))
        + "</body></html>")


class LinkServer(suite.Nginx):
    """nginx answering every path of every host with PAGE."""

    def config(self):
        body = ("        default_type text/html;\n"
                f"        location / {{ return 200 '{PAGE}'; }}\n")
        return super().config().replace("        location / { return 404; }\n", body)


def latest_bench_binary(name):
    deps = os.path.join(suite.REPO, "target", "release", "deps")
    found = [os.path.join(deps, f) for f in os.listdir(deps)
             if f.startswith(name + "-") and os.access(os.path.join(deps, f), os.X_OK) and "." not in f]
    if not found:
        raise suite.Fatal(f"no {name} bench binary: run `cargo bench --bench {name} --no-run`")
    return max(found, key=os.path.getmtime)


def request_starts(log_path):
    """Request start times (s since the epoch) in nginx's log, oldest first."""
    starts = []
    with open(log_path) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and suite.CHECK not in line:
                starts.append(float(parts[0]) - float(parts[1]))
    return sorted(starts)


def one_size(a, pg, work, size):
    name = f"s{size}"
    db = f"scale_{size}"
    pg.createdb(db)
    url = pg.url(db)
    out = subprocess.run([a.loader, "--frontier", url, "--crawl", name, "--urls", str(size),
                          "--hosts", str(a.hosts), "--port", str(a.port), "--shards", str(a.shards)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if out.returncode != 0:
        raise suite.Fatal(f"pg_scale loader: {out.stderr[-2000:]}")
    load = json.loads(out.stdout.strip().splitlines()[-1])
    suite.log(f"{size}: loaded {load['rows']} rows in {load['seconds']} s ({load['rate']}/s)")
    rels = pg.psql(db, "SELECT string_agg(c.relname || '=' || pg_total_relation_size(c.oid) || ':' "
                       "|| pg_relation_size(c.oid), ',') FROM pg_class c "
                       "WHERE c.relname IN ('urls','origins','pages','urls_pkey','urls_queued','urls_work',"
                       "'urls_parked','pages_pkey','pages_origin','origins_pkey','origins_id_key')")
    sizes = dict(kv.split("=") for kv in rels.split(",")) if rels else {}
    total = sum(int(sizes[t].split(":")[0]) for t in ("urls", "origins", "pages") if t in sizes)
    status_s = []
    for _ in range(3):
        t0 = time.monotonic()
        r = subprocess.run([a.bin, "status", "--frontier", url, "--crawl", name, "--json"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        status_s.append(round(time.monotonic() - t0, 2))
        if r.returncode != 0:
            raise suite.Fatal(f"status: {r.stderr[-1000:]}")

    run_dir = os.path.join(work, name)
    nginx = LinkServer(suite.shutil.which("nginx") or "/usr/sbin/nginx", os.path.join(run_dir, "nginx"),
                       [("127.0.0.1", a.port)], checks=[("/p/0.html", 200)])
    nginx.start()
    cpu0 = pg.cpu_s()
    procs, started = [], []
    for i in range(a.workers):
        cmd = [a.bin, "worker", "--frontier", url, "--crawl", name, "--no-progress",
               "--db", os.path.join(run_dir, f"w{i}.db")]
        err = open(os.path.join(run_dir, f"w{i}.err"), "w")
        started.append(time.time())
        procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err))
    time.sleep(a.seconds)
    for p in procs:
        p.send_signal(signal.SIGINT)
    rcs = [p.wait(timeout=120) for p in procs]
    pg_cpu = pg.cpu_s() - cpu0
    nginx.stop()
    starts = request_starts(nginx.access_log)
    fetched = len(starts)
    first = round(starts[0] - started[0], 2) if starts else None
    row = {
        "size": size, "hosts": a.hosts, "workers": a.workers, "seconds": a.seconds,
        "load_rows_per_s": load["rate"], "bytes_per_url": round(total / size),
        "relations": {k: int(v.split(":")[0]) for k, v in sizes.items()},
        "status_s": status_s, "first_request_s": first, "fetched": fetched, "rcs": rcs,
        "pg_cpu_s": round(pg_cpu, 2), "pg_cpu_us_per_url": round(1e6 * pg_cpu / max(fetched, 1), 1),
        "pages_per_s": round(fetched / a.seconds, 1),
    }
    suite.log(f"{size}: {row['bytes_per_url']} B/URL, status {status_s} s, first request {first} s, "
              f"{fetched} fetched in {a.seconds} s, PostgreSQL {pg_cpu:.1f} CPU s = "
              f"{row['pg_cpu_us_per_url']} us per URL fetched, rcs {rcs}")
    if not a.keep:
        suite.rmtree(run_dir)
        pg.psql("postgres", f"DROP DATABASE {db}")
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000000,10000000")
    ap.add_argument("--hosts", type=int, default=100_000)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--shards", type=int, default=64)
    ap.add_argument("--port", type=int, default=18492)
    ap.add_argument("--bin", default=os.path.join(suite.REPO, "target", "release", "politecrawl"))
    ap.add_argument("--loader", default=None, help="the pg_scale bench binary (default: the newest built)")
    ap.add_argument("--jsonl", default="pg-scale-results.jsonl")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    a.loader = a.loader or latest_bench_binary("pg_scale")
    work = tempfile.mkdtemp(prefix="politecrawl-pg-scale-")
    os.chmod(work, 0o755)
    pg = cluster.Postgres(work)
    try:
        for size in [int(s) for s in a.sizes.split(",")]:
            row = one_size(a, pg, work, size)
            row["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
            row["load_avg"] = os.getloadavg()
            with open(a.jsonl, "a") as f:
                f.write(json.dumps(row) + "\n")
    finally:
        pg.stop()
        if not a.keep:
            suite.rmtree(work)


if __name__ == "__main__":
    try:
        main()
    except suite.Fatal as e:
        print(f"pg_scale: {e}", file=sys.stderr)
        sys.exit(1)
