#!/usr/bin/env python3
"""Shared-crawl benchmark: 1, 2 and 3 politecrawl workers on one crawl over PostgreSQL.

    cargo build --release && python3 scripts/bench/cluster.py [--workers 1,2,3] [--origins 20]
        [--pages 200] [--rate 5] [--modes polite,unthrottled] [--runs 1] [--jsonl PATH]

python3 stdlib only, reusing suite.py's nginx, process and log helpers. PostgreSQL 15 (Debian's
postgresql-15, /usr/lib/postgresql/15/bin) is started in a temporary directory on a unix socket
(as the postgres user when run as root), once for all runs; each run gets a fresh database,
a fresh nginx and fresh worker stores.

Modes (--modes):
  polite       --origins loopback addresses 127.0.0.2 ... on one port, each serving the same
               generated site of --pages pages; --rate requests/s per origin, one in flight per
               origin. Ideal wall = pages / rate; violations = gaps between two request starts to
               one origin (nginx's $msec - $request_time, ms) shorter than 1000/rate minus
               --gap-tolerance-ms.
  unthrottled  the same origins and site with --rate 0 and --per-host-concurrency 4: what the
               workers and PostgreSQL can do when politeness does not bound them.

Per run: wall time (first worker's start to the last one's exit), pages/s, the workers' CPU
(user+sys, os.wait4) and PostgreSQL's (the postmaster's own and reaped children's CPU from
/proc/PID/stat, before and after: every backend of the run has exited and been reaped), its share
of all CPU, PostgreSQL CPU per discovered URL, and PostgreSQL's size per URL
(pg_total_relation_size of urls, origins and pages over the URLs in the crawl), plus the nginx
checks (complete, duplicates, violations).
"""

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import suite  # noqa: E402  (suite.py's helpers: nginx, processes, log analysis)

PG_BIN = "/usr/lib/postgresql/15/bin"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def as_owner(cmd):
    return ["runuser", "-u", "postgres", "--"] + cmd if os.geteuid() == 0 else cmd


class Postgres:
    def __init__(self, root):
        self.dir = os.path.join(root, "pg")
        os.makedirs(self.dir)
        if os.geteuid() == 0:
            subprocess.run(["chown", "postgres:", self.dir], check=True)
        os.chmod(self.dir, 0o755)
        data = os.path.join(self.dir, "data")
        self.data = data
        run(as_owner([f"{PG_BIN}/initdb", "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "-D", data]))
        opts = f"-k {self.dir} -c listen_addresses='' -c max_connections=50 -c shared_buffers=128MB"
        run(as_owner([f"{PG_BIN}/pg_ctl", "-D", data, "-o", opts, "-l", os.path.join(self.dir, "log"), "-w", "start"]))

    def url(self, db):
        return f"postgres://postgres@/{db}?host={self.dir}"

    def createdb(self, db):
        run(as_owner([f"{PG_BIN}/createdb", "-h", self.dir, "-U", "postgres", db]))

    def psql(self, db, sql):
        out = run(as_owner([f"{PG_BIN}/psql", "-h", self.dir, "-U", "postgres", "-d", db, "-At", "-c", sql]))
        return out.strip()

    def cpu_s(self):
        """The postmaster's CPU plus its reaped children's (every exited backend's), in seconds."""
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            pid = int(f.readline())
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        # After ")": state is fields[0]; utime, stime, cutime, cstime are stat fields 14-17.
        return sum(int(fields[i]) for i in (11, 12, 13, 14)) / CLK_TCK

    def stop(self):
        subprocess.run(as_owner([f"{PG_BIN}/pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop"]),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def run(cmd):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        raise suite.Fatal(f"{' '.join(cmd)} failed:\n{r.stdout}")
    return r.stdout


def gen_site(root, pages, seed):
    out = os.path.join(root, f"site-{pages}")
    txt = run([sys.executable, suite.GEN_SITE, "--pages", str(pages), "--out", out, "--seed", str(seed)])
    if txt.split()[:1] != [str(pages)]:
        raise suite.Fatal(f"gen_site.py: {txt[-500:]}")
    return out


def one_run(a, pg, site, mode, workers, run_no, work):
    name = f"{mode}{workers}r{run_no}"
    db = f"bench_{name}"
    pg.createdb(db)
    url = pg.url(db)
    addrs = [f"127.0.0.{k}" for k in range(2, 2 + a.origins)]
    seeds = [f"http://{x}:{a.port}/" for x in addrs]
    run_dir = os.path.join(work, name)
    nginx = suite.Nginx(suite.shutil.which("nginx") or "/usr/sbin/nginx", os.path.join(run_dir, "nginx"),
                        [(x, a.port) for x in addrs], root=site)
    nginx.start()
    rate, per_host = (a.rate, 1) if mode == "polite" else (0, 4)
    common = ["--frontier", url, "--crawl", name, "--no-progress"]
    first = [a.bin, "crawl", *seeds, *common, "--db", os.path.join(run_dir, "w1.db"), "--shards", str(a.shards),
             "--rate", f"{rate:g}", "--per-host-concurrency", str(per_host), "--concurrency", str(a.concurrency)]
    cmds = [first] + [[a.bin, "worker", *common, "--db", os.path.join(run_dir, f"w{i}.db")]
                      for i in range(2, workers + 1)]
    cpu0 = pg.cpu_s()
    results = [None] * workers
    t0 = time.monotonic()

    def start(i):
        cmd = cmds[i]
        results[i] = suite.run_measured(cmd, os.path.join(run_dir, f"w{i + 1}.out"),
                                        os.path.join(run_dir, f"w{i + 1}.err"), a.timeout)

    threads = [threading.Thread(target=start, args=(0,))]
    threads[0].start()
    # The others join once the crawl exists (as an operator would start them).
    deadline = time.monotonic() + 30
    while workers > 1 and time.monotonic() < deadline:
        if pg.psql(db, "SELECT count(*) FROM pg_tables WHERE tablename = 'crawls'") == "1" and \
                pg.psql(db, f"SELECT count(*) FROM crawls WHERE name = '{name}'") == "1":
            break
        time.sleep(0.05)
    for i in range(1, workers):
        t = threading.Thread(target=start, args=(i,))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    pg_cpu = pg.cpu_s() - cpu0
    nginx.stop()
    entries = nginx.entries()
    st = suite.analyze_polite(entries, addrs, a.pages, a.rate if mode == "polite" else 1e9, a.gap_tolerance_ms)
    urls = int(pg.psql(db, "SELECT count(*) FROM urls"))
    size = int(pg.psql(db, "SELECT pg_total_relation_size('urls') + pg_total_relation_size('origins') "
                           "+ pg_total_relation_size('pages')"))
    by_worker = pg.psql(db, "SELECT string_agg(n::text, ',' ORDER BY n DESC) FROM "
                            "(SELECT count(*) AS n FROM pages GROUP BY worker) t")
    w_cpu = sum(r.cpu for r in results)
    row = {
        "mode": mode, "workers": workers, "run": run_no, "origins": a.origins, "pages_per_origin": a.pages,
        "rate": rate, "rcs": [r.rc for r in results], "wall_s": round(wall, 2),
        "pages": st["pages"], "complete": st["complete"], "duplicates": st["duplicates"],
        "pages_per_s": round(st["pages"] / wall, 1), "workers_cpu_s": round(w_cpu, 2),
        "workers_cpu_ms_per_page": round(1000 * w_cpu / max(st["pages"], 1), 2),
        "peak_rss_mb": [round(r.rss_mb) for r in results],
        "pg_cpu_s": round(pg_cpu, 2), "pg_cpu_share": round(pg_cpu / max(pg_cpu + w_cpu, 1e-9), 3),
        "pg_cpu_us_per_url": round(1e6 * pg_cpu / max(urls, 1), 1), "urls": urls,
        "pg_bytes_per_url": round(size / max(urls, 1)), "pages_by_worker": by_worker,
        "violations": st["violations"] if mode == "polite" else None,
        "min_gap_ms": st["min_gap_ms"] if mode == "polite" else None,
        "ideal_wall_s": a.pages / a.rate if mode == "polite" else None,
    }
    suite.log(f"{mode} x{workers}: {row['pages']} pages in {wall:.1f} s = {row['pages_per_s']} pages/s, "
              f"workers {w_cpu:.1f} CPU s, PostgreSQL {pg_cpu:.1f} CPU s ({100 * row['pg_cpu_share']:.0f} %), "
              f"{row['pg_cpu_us_per_url']} us and {row['pg_bytes_per_url']} B per URL, "
              f"violations {row['violations']}, complete {row['complete']}, rcs {row['rcs']}")
    if not a.keep:
        suite.rmtree(run_dir)
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", default="1,2,3")
    ap.add_argument("--modes", default="polite,unthrottled")
    ap.add_argument("--origins", type=int, default=20)
    ap.add_argument("--pages", type=int, default=200, help="pages per origin (the same site on each)")
    ap.add_argument("--rate", type=float, default=5.0)
    ap.add_argument("--shards", type=int, default=64)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--gap-tolerance-ms", type=int, default=5)
    ap.add_argument("--port", type=int, default=18481)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--bin", default=os.path.join(suite.REPO, "target", "release", "politecrawl"))
    ap.add_argument("--jsonl", default="cluster-results.jsonl")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="politecrawl-cluster-bench-")
    os.chmod(work, 0o755)
    pg = Postgres(work)
    rows = []
    try:
        site = gen_site(work, a.pages, a.seed)
        for mode in a.modes.split(","):
            for r in range(1, a.runs + 1):
                for n in (int(x) for x in a.workers.split(",")):
                    rows.append(one_run(a, pg, site, mode, n, r, work))
    finally:
        suite.cleanup_all()
        pg.stop()
        if not a.keep:
            suite.rmtree(work)
    suite.write_jsonl(a.jsonl, rows)
    print("| mode | workers | pages | wall s | pages/s | workers CPU ms/page | PostgreSQL CPU s (share) "
          "| PG CPU µs/URL | PG bytes/URL | pages by worker | violations |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    for r in rows:
        print(f"| {r['mode']} | {r['workers']} | {r['pages']} | {r['wall_s']} | {r['pages_per_s']} | "
              f"{r['workers_cpu_ms_per_page']} | {r['pg_cpu_s']} ({100 * r['pg_cpu_share']:.0f} %) | "
              f"{r['pg_cpu_us_per_url']} | {r['pg_bytes_per_url']} | {r['pages_by_worker']} | "
              f"{r['violations'] if r['violations'] is not None else 'n/a'} |")
    bad = [r for r in rows if not r["complete"] or r["duplicates"] or any(r["rcs"]) or r["violations"]]
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
