#!/usr/bin/env python3
"""What fetching alone costs: the curl command line fetching every .html page of Debian's
documentation corpora from nginx on loopback, one connection kept alive, bodies to /dev/null,
no parsing, no storing. Its CPU per page is a lower bound on any crawler built on libcurl (the
backend of surf that politecrawl uses) on the same machine, to set beside
`cargo bench --bench parse_floor` and the suite's docs scenario.

    python3 scripts/bench/curl_floor.py [--runs 3] [--port 18600]

python3 stdlib only, reusing suite.py's nginx; needs curl, nginx and the corpora installed
(python3.11-doc, postgresql-doc-15). CPU = user+sys of the curl process (rusage of children).
"""

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import suite  # noqa: E402

ROOT = "/usr/share/doc"
CORPORA = ("python3.11/html", "postgresql-doc-15/html")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--port", type=int, default=18600)
    a = ap.parse_args()
    if not shutil.which("curl"):
        print("curl_floor.py: curl is not installed (apt install curl)", file=sys.stderr)
        return 2
    work = tempfile.mkdtemp(prefix="politecrawl-curl-floor-")
    nginx = suite.Nginx(shutil.which("nginx") or "/usr/sbin/nginx", work, [("127.0.0.1", a.port)],
                        root=ROOT, checks=[("/postgresql-doc-15/html/index.html", 200)])
    try:
        nginx.start()
        print("| corpus | pages | run | curl CPU ms/page | wall s |")
        print("|---|---:|---:|---:|---:|")
        for corpus in CORPORA:
            files = sorted(os.path.relpath(os.path.join(dp, f), ROOT)
                           for dp, _, fs in os.walk(os.path.join(ROOT, corpus))
                           for f in fs if f.endswith(".html"))
            if not files:
                print(f"| {corpus} | not installed | | | |")
                continue
            cfg = os.path.join(work, "curl.cfg")
            with open(cfg, "w") as f:
                for p in files:
                    f.write(f'url = "http://127.0.0.1:{a.port}/{p}"\noutput = "/dev/null"\n')
            for run in range(1, a.runs + 1):
                r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
                t0 = time.monotonic()
                subprocess.run(["curl", "-s", "--fail", "-K", cfg], check=True)
                wall = time.monotonic() - t0
                r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu = r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime
                print(f"| {corpus} | {len(files)} | {run} | {1000 * cpu / len(files):.3f} | {wall:.2f} |")
    except suite.Fatal as e:
        print(f"curl_floor.py: {e}", file=sys.stderr)
        return 2
    finally:
        nginx.stop()
        suite.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
