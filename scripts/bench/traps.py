#!/usr/bin/env python3
"""Requests spent on traps and duplicates: politecrawl, GNU Wget2 and Scrapy against the trap site
(scripts/bench/trapsite.py, 296 real pages inside calendars, session IDs, facets and the rest),
counted from the server's side.

    python3 scripts/bench/traps.py [--crawlers politecrawl,wget2,scrapy] [--budget 3000]
        [--wget2-limits 20,120] [--runs N] [--bin target/release/politecrawl] [--args FLAGS] [--rev REV]
        [--jsonl PATH] [--goal] [--keep]

python3 stdlib only, reusing suite.py's process helpers (each crawler in its own process group;
wall time, CPU and peak RSS from wait4) and scrapy_spider.py. Every crawl gets a fresh trap site
(its own process on 127.0.0.1, a free port), so its counts are that crawl's alone. Crawls:

  politecrawl  the release binary: crawl URL --db DIR --rate 0 --max-pages BUDGET --no-progress,
               defaults otherwise (--args adds flags: a rule turned off, to measure it)
  wget2        wget2 --recursive --level=inf -q -P DIR URL, defaults otherwise (robots.txt
               obeyed); it has no page budget, so it is stopped (SIGTERM) after each of
               --wget2-limits seconds, one crawl each
  scrapy       scrapy_spider.py (it follows every in-origin <a>/<area> link, as a CrawlSpider
               with one Rule(LinkExtractor(), follow=True) does) with Scrapy's default settings:
               the spider's own overrides are put back to Scrapy's defaults, except its quieter
               LOG_LEVEL and the telnet console (neither changes a request); ROBOTSTXT_OBEY=True,
               CLOSESPIDER_PAGECOUNT=BUDGET (Scrapy finishes what is in flight, so a few more)

Per crawl (one JSON line each after a header line, and markdown tables on stdout): real pages
found of the total, requests (robots.txt included), the classes and kinds of trapsite.py,
wasted = (duplicates + traps) / requests, requests per real page found. Two reference lines
come from trapsite.py's check(), no crawler: what a breadth-first crawl with a canonical key
(session IDs, tracking parameters, parameter order) and duplicate detection spends, and the same
with print/share parameters in the key too.

Exit status: 0 when every crawl ran as expected (with --goal: and politecrawl met issue 31's
goal, at least 98 % of the real pages with at most 15 % of its requests wasted), 1 otherwise, 2
when the setup is unusable (a crawler missing is skipped and reported).
"""

import argparse
import datetime
import json
import os
import re
import select
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ beside the scripts
import suite  # noqa: E402  (process helpers, git_rev, write_jsonl)
import trapsite  # noqa: E402  (DUP_KINDS, check)
from trap_pages import TRAP_KINDS  # noqa: E402

TRAPSITE = os.path.join(HERE, "trapsite.py")
GOAL_FOUND, GOAL_WASTE = 0.98, 0.15  # issue 31's "done means"


class TrapSite:
    """One trap site process, started fresh for one crawl; stop() returns its report."""

    def __init__(self, run_dir):
        self.report_path = os.path.join(run_dir, "trapsite-report.json")
        self.log_path = os.path.join(run_dir, "requests.tsv")
        self.err_path = os.path.join(run_dir, "trapsite.err")
        self.proc, self.url = None, None

    def start(self):
        err = open(self.err_path, "wb")
        self.proc = subprocess.Popen([sys.executable, TRAPSITE, "--port", "0", "--report", self.report_path,
                                      "--log", self.log_path], stdout=subprocess.PIPE, stderr=err,
                                     stdin=subprocess.DEVNULL, start_new_session=True, text=True)
        err.close()
        suite._register(self.proc)  # stopped by suite.cleanup_all() if this script is interrupted
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        m = re.search(r"(http://127\.0\.0\.1:\d+/)", self.proc.stdout.readline() if ready else "")
        if not m:
            self.stop()
            raise suite.Fatal(f"the trap site did not start:\n{suite.tail(self.err_path)}")
        self.url = m.group(1)

    def stop(self):
        suite.stop_process(self.proc, grace=15.0)  # SIGTERM: it writes its report and exits
        report = suite.Suite.read_json(self.report_path)
        if report is None:
            raise suite.Fatal(f"the trap site wrote no report:\n{suite.tail(self.err_path)}")
        return report


def scrapy_settings(budget):
    """Scrapy's defaults for every setting scrapy_spider.py overrides, then the benchmark's own."""
    code = ("import json, scrapy.settings.default_settings as d, scrapy_spider as s; "
            "print(json.dumps({k: getattr(d, k) for k in s.BenchSpider.custom_settings}))")
    rc, out = suite.sh([sys.executable, "-c", code], timeout=120, cwd=HERE)
    if rc != 0:
        raise suite.Fatal(f"cannot read Scrapy's default settings:\n{out[-1000:]}")
    settings = json.loads(out.strip().splitlines()[-1])
    settings.update(LOG_LEVEL="WARNING", TELNETCONSOLE_ENABLED=False, ROBOTSTXT_OBEY=True,
                    CLOSESPIDER_PAGECOUNT=budget)
    return settings


def jobs(a):
    """(crawler, label, time limit s, command for a site URL and a run directory) per crawl."""
    out = []
    for crawler in a.crawlers:
        if crawler == "politecrawl":
            extra = a.args.split()
            out.append((crawler, " ".join([f"--rate 0 --max-pages {a.budget}"] + extra), a.timeout, lambda url, d: [
                a.bin, "crawl", url, "--db", os.path.join(d, "db"), "--rate", "0",
                "--max-pages", str(a.budget), "--no-progress", *extra]))
        elif crawler == "wget2":
            for limit in a.wget2_limits:
                out.append((crawler, f"--recursive --level=inf, stopped after {limit:g} s", limit, lambda url, d: [
                    "wget2", "--recursive", "--level=inf", "-q", "-P", os.path.join(d, "out"), url]))
        elif crawler == "scrapy":
            settings = scrapy_settings(a.budget)
            out.append((crawler, f"defaults, CLOSESPIDER_PAGECOUNT={a.budget}", a.timeout, lambda url, d: [
                sys.executable, "-m", "scrapy", "runspider", suite.SPIDER, "-a", f"start_urls={url}",
                "-a", "stats=" + os.path.join(d, "scrapy-stats.json"),
                *[x for k, v in settings.items() for x in ("-s", f"{k}={v}")]]))
    return out


def one_crawl(a, work, n, run, crawler, label, limit, command):
    run_dir = os.path.join(work, f"{n}-{crawler}-{run}")
    os.makedirs(run_dir)
    site = TrapSite(run_dir)
    site.start()
    cmd = command(site.url, run_dir)
    load_before = suite.loadavg()
    suite.log(f"{crawler} ({label}): {' '.join(cmd)}")
    try:
        m = suite.run_measured(cmd, os.path.join(run_dir, "stdout.log"), os.path.join(run_dir, "stderr.log"),
                               limit, cwd=run_dir)
    finally:
        report = site.stop()
    if crawler == "wget2":  # stopped at its time limit, or done by itself (8: an error response seen)
        ok, why = (m.timed_out or m.rc in (0, 8)), ("" if m.timed_out or m.rc in (0, 8) else f"exit status {m.rc}")
    else:
        ok = m.rc == 0 and not m.timed_out
        why = "" if ok else (f"not done within {limit:g} s" if m.timed_out else f"exit status {m.rc}")
    row = {
        "record": "run", "git": a.rev if crawler == "politecrawl" else None, "crawler": crawler, "label": label,
        "run": run, "cmd": cmd, "rc": m.rc, "completed": ok, "why": why,
        "stopped_at_limit": m.timed_out, "wall_s": round(m.wall, 2), "cpu_s": round(m.cpu, 2),
        "peak_rss_mb": round(m.rss_mb, 1), "load_before": load_before, "load_after": suite.loadavg(),
        **{k: report[k] for k in ("real_total", "real_found", "requests", "last_real_at", "wasted", "waste_ratio",
                                  "by_class", "by_kind", "missing")},
        "requests_per_real_page": round(report["requests"] / report["real_found"], 2) if report["real_found"] else None,
    }
    if crawler == "scrapy":
        row["scrapy"] = suite.Suite.read_json(os.path.join(run_dir, "scrapy-stats.json"))
    if not ok:
        suite.log(f"PROBLEM: {crawler} ({label}): {why}\n{suite.tail(os.path.join(run_dir, 'stderr.log'))}")
    suite.log(f"  {crawler}: {row['real_found']} of {row['real_total']} real pages, {row['requests']} requests, "
              f"{100 * (row['waste_ratio'] or 0):.1f} % wasted, {m.wall:.1f} s")
    if not a.keep:
        suite.rmtree(run_dir)
    return row


def references():
    """trapsite.check()'s two breadth-first crawls, as rows like a crawler's."""
    rows = []
    for label, strip in (("canonical key + duplicate detection", False), ("the same, print/share in the key", True)):
        r = trapsite.check(strip_variants=strip)
        rows.append({"record": "reference", "crawler": "(reference)", "label": label, **r,
                     "by_class": {c: sum(n for k, n in r["by_kind"].items() if k.split("/")[0] == c)
                                  for c in ("real", "duplicate", "trap", "robots")},
                     "requests_per_real_page": round(r["requests"] / r["real_found"], 2)})
    return rows


def missed(row):
    """The real pages a crawl did not reach, counted by area (item, list, docs, ...)."""
    areas = {}
    for page in row["missing"]:
        area = page.split("/")[0]
        areas[area] = areas.get(area, 0) + 1
    return ", ".join(f"{k} {v}" for k, v in sorted(areas.items(), key=lambda kv: -kv[1])) or "none"


def pct(x):
    return f"{100 * x:.1f} %" if x is not None else "n/a"


def tables(rows, header):
    print(f"## Requests spent on traps and duplicates ({header['date'][:10]})\n")
    print(f"- machine: nproc {header['nproc']}, load average at start {header['loadavg']}")
    print("- versions: " + "; ".join(f"{k} {v}" for k, v in header["versions"].items()))
    print(f"- trap site: {rows[0]['real_total']} real pages (scripts/bench/trapsite.py, a fresh one per crawl)\n")
    print("| crawler | settings | run | real pages found | requests | duplicates | traps | wasted | requests per real page "
          "| last real page at request | wall s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        wall = f"{r['wall_s']:.1f}" if "wall_s" in r else "–"
        found = f"{r['real_found']} of {r['real_total']} ({pct(r['real_found'] / r['real_total'])})"
        last = f"{r['last_real_at']:,}" if "last_real_at" in r else "–"
        print(f"| {r['crawler']} | {r['label']} | {r.get('run', '–')} | {found} | {r['requests']:,} | {r['by_class']['duplicate']:,} | "
              f"{r['by_class']['trap']:,} | {pct(r['waste_ratio'])} | {r['requests_per_real_page']} | {last} | {wall} |")
    kinds = [f"duplicate/{k}" for k in trapsite.DUP_KINDS] + [f"trap/{k}" for k in TRAP_KINDS]
    kinds = [k for k in kinds if any(r["by_kind"].get(k) for r in rows)]
    print("\nWasted requests by kind (kinds no crawl reached left out):\n")
    print("| crawler | settings | run | " + " | ".join(k.replace("duplicate/", "dup: ").replace("trap/", "trap: ") for k in kinds)
          + " | real pages missed, by area |")
    print("|---|---|---:|" + "---:|" * len(kinds) + "---|")
    for r in rows:
        print(f"| {r['crawler']} | {r['label']} | {r.get('run', '–')} | " + " | ".join(f"{r['by_kind'].get(k, 0):,}" for k in kinds)
              + f" | {missed(r)} |")
    print("\nwasted = (duplicates + traps) / requests; requests include robots.txt (neither real nor waste). "
          "A real page's first request is real under any of its URLs; later ones are duplicates; "
          "(reference) rows are trapsite.py --check, no crawler.\n")


def versions(a):
    v = {}
    rc, out = suite.sh([a.bin, "--version"], timeout=30)
    v["politecrawl"] = (out.strip() if rc == 0 else "missing") + f", git {a.rev}"
    rc, out = suite.sh(["wget2", "--version"], timeout=30)
    v["wget2"] = out.splitlines()[0] if rc == 0 and out else "not installed"
    rc, out = suite.sh([sys.executable, "-c", "import scrapy; print(scrapy.__version__)"], timeout=60)
    v["scrapy"] = out.strip() if rc == 0 else "not installed"
    v["python (trap site)"] = sys.version.split()[0]
    return v


def available(crawler, a):
    if crawler == "politecrawl":
        return os.access(a.bin, os.X_OK)
    if crawler == "wget2":
        return shutil.which("wget2") is not None
    return suite.sh([sys.executable, "-c", "import scrapy"], timeout=60)[0] == 0


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--crawlers", default="politecrawl,wget2,scrapy", help="comma-separated (default all three)")
    ap.add_argument("--budget", type=int, default=3000, help="page budget of politecrawl and Scrapy (default 3000)")
    ap.add_argument("--wget2-limits", default="20,120", help="wget2's time limits in seconds, one crawl each (default 20,120)")
    ap.add_argument("--runs", type=int, default=1, help="crawls of each kind (default 1)")
    ap.add_argument("--timeout", type=float, default=900.0, help="politecrawl's and Scrapy's limit, seconds (default 900)")
    ap.add_argument("--args", default="", help="more politecrawl flags, e.g. '--dedupe-drop=' (a rule turned off)")
    ap.add_argument("--bin", default=os.path.join(suite.REPO, "target", "release", "politecrawl"))
    ap.add_argument("--rev", help="what --bin was built from, for the record (default: this checkout's HEAD, +dirty)")
    ap.add_argument("--jsonl", default=os.path.join(HERE, f"results-traps-{datetime.date.today()}.jsonl"))
    ap.add_argument("--goal", action="store_true", help="exit 1 unless politecrawl meets issue 31's goal")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (request logs, databases)")
    a = ap.parse_args(argv)
    a.crawlers = [c for c in a.crawlers.split(",") if c]
    a.wget2_limits = [float(x) for x in a.wget2_limits.split(",") if x]
    if set(a.crawlers) - {"politecrawl", "wget2", "scrapy"}:
        ap.error(f"unknown crawler in --crawlers {','.join(a.crawlers)}")
    return a


def main(argv=None):
    a = parse_args(argv)
    os.environ["PYTHONDONTWRITEBYTECODE"] = "1"  # Scrapy imports scrapy_spider.py: no __pycache__
    a.rev = a.rev or suite.git_rev()
    missing = [c for c in a.crawlers if not available(c, a)]
    problems = [f"{c} is not installed: skipped (bash scripts/bench/run.sh installs it)" for c in missing]
    a.crawlers = [c for c in a.crawlers if c not in missing]
    header = {"record": "header", "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
              "nproc": os.cpu_count(), "kernel": os.uname().release, "loadavg": suite.loadavg(),
              "versions": versions(a), "args": vars(a)}
    rows = references()
    try:
        with suite.work_dir("politecrawl-traps-", a.keep) as work:
            todo = jobs(a)
            for run in range(1, a.runs + 1):
                rows += [one_crawl(a, work, n, run, *job) for n, job in enumerate(todo, 1)]
    except suite.Fatal as e:
        print(f"traps.py: {e}", file=sys.stderr)
        return 2
    suite.write_jsonl(a.jsonl, [header] + rows)
    tables(rows, header)
    problems += [f"{r['crawler']} ({r['label']}, run {r['run']}): {r['why']}" for r in rows if r["record"] == "run" and not r["completed"]]
    for r in rows:
        if a.goal and r["crawler"] == "politecrawl" and not (
                r["real_found"] >= GOAL_FOUND * r["real_total"] and r["waste_ratio"] <= GOAL_WASTE):
            problems.append(f"politecrawl: {pct(r['real_found'] / r['real_total'])} of the real pages, "
                            f"{pct(r['waste_ratio'])} wasted (goal: >= {pct(GOAL_FOUND)}, <= {pct(GOAL_WASTE)})")
    for p in problems:
        print(f"- problem: {p}")
    print(f"\nresults: {a.jsonl}" + (f"; work directory kept: {work}" if a.keep else ""))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
