#!/usr/bin/env python3
"""Peak RSS of a crawl fed one huge response: a gzip sitemap of ~973,000 URLs, or an HTML page
of --max-body (10 MiB) holding ~441,000 links (issue 30, item 8).

    cargo build --release
    python3 scripts/bench/big_response.py [--bin target/release/politecrawl] [--runs 3]

python3 stdlib only. The files are written to a temporary directory and served by the binary's
own `politecrawl serve` on a free loopback port chosen first (the sitemap names absolute URLs of
that port, so they are in scope). Two crawls, each of a fresh database, with `--rate 0
--max-pages 3`, so the crawl stops right after the big response's outcome (and its URLs) is
stored:

  sitemap  seed /; robots.txt names /sitemap.xml.gz; `--sitemaps`.
  html     seed /big.html; robots.txt allows everything.

Per run: wall time, peak RSS of the crawl (os.wait4's ru_maxrss; the files are written by a
process of their own, since a child's peak counts from its parent's size at fork), and from
`status --json` the URLs queued. One JSON object per run on stdout.
"""

import argparse
import gzip
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

SITEMAP_URLS = 972_941
HTML_LINKS = 441_000


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_site(root, port):
    origin = f"http://127.0.0.1:{port}"
    with open(os.path.join(root, "robots.txt"), "w") as f:
        f.write(f"User-agent: *\nAllow: /\nSitemap: {origin}/sitemap.xml.gz\n")
    with open(os.path.join(root, "index.html"), "w") as f:
        f.write("<p>nothing here</p>")
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n'
             '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n']
    parts += [f"<url><loc>{origin}/s/{i}</loc></url>\n" for i in range(SITEMAP_URLS)]
    parts.append("</urlset>\n")
    xml = "".join(parts).encode()
    with open(os.path.join(root, "sitemap.xml.gz"), "wb") as f:
        f.write(gzip.compress(xml, 9))
    # `<a href=/p/NNNNNN>x</a>`: 23 bytes a link, so 441,000 fit in 10 MiB.
    html = "".join(f"<a href=/p/{i:06}>x</a>" for i in range(HTML_LINKS))
    with open(os.path.join(root, "big.html"), "w") as f:
        f.write(html)
    return {
        "sitemap_xml_bytes": len(xml),
        "sitemap_gz_bytes": os.path.getsize(os.path.join(root, "sitemap.xml.gz")),
        "html_bytes": len(html),
    }


def crawl(binary, db, seed, extra):
    args = [binary, "crawl", seed, "--db", db, "--rate", "0", "--max-pages", "3",
            "--no-progress"] + extra
    start = time.monotonic()
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.monotonic() - start
    err = p.stderr.read().decode(errors="replace")
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"crawl failed ({code}): {err}")
    st = subprocess.run([binary, "status", "--db", db, "--json"], capture_output=True, check=True)
    queued = json.loads(st.stdout).get("queued")
    return {"wall_s": round(wall, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
            "queued": queued}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default="target/release/politecrawl")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--label", default="")
    ap.add_argument("--extra", default="", help="more crawl flags, space-separated")
    ap.add_argument("--generate", nargs=2, metavar=("DIR", "PORT"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.generate:
        print(json.dumps(write_site(a.generate[0], int(a.generate[1]))))
        return
    binary = os.path.abspath(a.bin)
    with tempfile.TemporaryDirectory(prefix="big-response-") as tmp:
        site = os.path.join(tmp, "site")
        os.mkdir(site)
        port = free_port()
        # In a process of its own: Linux counts a child's peak RSS from its parent's size at
        # fork, so this process must stay small while it starts the crawls.
        gen = subprocess.run([sys.executable, __file__, "--generate", site, str(port)],
                             capture_output=True, check=True)
        sizes = json.loads(gen.stdout)
        print(json.dumps({"record": "site", **sizes}), flush=True)
        server = subprocess.Popen([binary, "serve", site, "--addr", f"127.0.0.1:{port}"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(50):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.1)
            origin = f"http://127.0.0.1:{port}"
            cases = [("sitemap", f"{origin}/", ["--sitemaps"]),
                     ("html", f"{origin}/big.html", [])]
            for run in range(a.runs):
                for name, seed, extra in cases:
                    db = os.path.join(tmp, f"{name}-{run}.db")
                    out = crawl(binary, db, seed, extra + a.extra.split())
                    print(json.dumps({"record": "run", "label": a.label, "case": name, **out}),
                          flush=True)
                    subprocess.run(["rm", "-rf", db], check=True)
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
