#!/usr/bin/env bash
# One command for the benchmark suite: politecrawl against GNU wget2, GNU wget and Scrapy on
# loopback (scenarios: unthrottled single origin, polite multi-origin, frontier scale, real
# documentation sites).
#
#   bash scripts/bench/run.sh                       # everything, default sizes (long: ~20-40 min)
#   bash scripts/bench/run.sh --scenarios single,polite --pages 2000 --polite-pages 20
#   bash scripts/bench/run.sh --help                # every flag (scripts/bench/suite.py)
#
# What it does:
#   1. installs what is missing: Debian packages nginx, wget2, wget, time, python3.11-doc,
#      postgresql-doc-15 and python-django-doc (the docs scenario's real HTML) (apt-get; needs root;
#      creates /usr/sbin/policy-rc.d with `exit 101` first when it does not exist, so the nginx
#      package does not start a system nginx), and Scrapy from PyPI (python3 -m pip install
#      scrapy) when `import scrapy` fails;
#   2. builds politecrawl: cargo build --release (skipped with BENCH_NO_BUILD=1; then scenario 3
#      also runs the already built target/release/deps/frontier_scale-* instead of cargo bench);
#   3. runs python3 scripts/bench/suite.py "$@" (python3 stdlib only).
#
# Environment: BENCH_NO_BUILD=1 (see above), BENCH_NO_INSTALL=1 (install nothing), TMPDIR (where
# the temporary directory goes: the 20,000-page site is ~400 MB, plus one crawl's output at a time).
# Exit status: the suite's (0 all good, 1 a run or a politecrawl check failed, 2 unusable setup).

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

log() { printf '[bench/run %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 2; }

command -v python3 >/dev/null || die "python3 is required"

if [[ ${BENCH_NO_INSTALL:-0} != 1 ]]; then
    missing=()
    command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
    command -v wget2 >/dev/null || missing+=(wget2)
    command -v wget >/dev/null || missing+=(wget)
    [[ -x /usr/bin/time ]] || missing+=(time)
    # Real HTML no one here wrote, for the docs scenario.
    [[ -f /usr/share/doc/python3.11/html/index.html ]] || missing+=(python3.11-doc)
    [[ -f /usr/share/doc/postgresql-doc-15/html/index.html ]] || missing+=(postgresql-doc-15)
    [[ -f /usr/share/doc/python-django-doc/html/index.html ]] || missing+=(python-django-doc)
    if ((${#missing[@]})); then
        if [[ $EUID -ne 0 ]] || ! command -v apt-get >/dev/null; then
            log "missing ${missing[*]} and cannot apt-get install (not root or no apt-get): the suite skips what it lacks"
        else
            if [[ " ${missing[*]} " == *" nginx "* && ! -e /usr/sbin/policy-rc.d ]]; then
                log "creating /usr/sbin/policy-rc.d (exit 101) so the nginx package does not start a system nginx"
                printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
                chmod 755 /usr/sbin/policy-rc.d
            fi
            log "apt-get install -y ${missing[*]}"
            export DEBIAN_FRONTEND=noninteractive
            timeout 900 apt-get install -y "${missing[@]}" >&2 ||
                { timeout 600 apt-get update >&2 && timeout 900 apt-get install -y "${missing[@]}" >&2; } ||
                log "apt-get install failed: the suite skips what it lacks"
        fi
    fi
    if ! python3 -c 'import scrapy' 2>/dev/null; then
        log "python3 -m pip install scrapy"
        timeout 900 python3 -m pip install scrapy >&2 || log "could not install Scrapy: the suite skips it"
    fi
fi

if [[ ${BENCH_NO_BUILD:-0} != 1 ]]; then
    command -v cargo >/dev/null || die "cargo is required (or BENCH_NO_BUILD=1 with a built binary)"
    log "cargo build --release (in $REPO)"
    (cd "$REPO" && cargo build --release >&2) || die "cargo build --release failed"
else
    log "BENCH_NO_BUILD=1: using the binaries already in ${CARGO_TARGET_DIR:-$REPO/target}/release"
fi

exec python3 "$HERE/suite.py" "$@"
