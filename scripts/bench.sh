#!/usr/bin/env bash
# Crawl benchmark for politecrawl: generate a synthetic site, serve it on loopback, crawl it
# with no rate limit, and report throughput, CPU per page and peak memory at two site sizes.
#
#   bash scripts/bench.sh
#
# Environment (all optional):
#   BENCH_PAGES=20000        large site size
#   BENCH_PAGES_SMALL=5000   small site size (shows whether memory stays flat as the site grows;
#                            0 = skip)
#   BENCH_RUNS=2             crawls per size (fresh database each time); the machine may be busy,
#                            so look at the best and the worst
#   BENCH_SERVER=auto        auto (nginx if installed, else politecrawl serve) | nginx | politecrawl
#   BENCH_PORT=18473         loopback port the server listens on (must be free)
#   BENCH_SEED=1             site generator seed
#   BENCH_CONCURRENCY=64     --concurrency and --per-host-concurrency
#   BENCH_TIMEOUT=600        seconds one crawl may take before it is stopped and reported as a failure
#   BENCH_INSTALL=0          1 = apt-get install nginx / time when missing (needs root; note that on a
#                            machine without a policy-rc.d the Debian package also starts a system
#                            nginx on port 80)
#   BENCH_MEASURE=auto       auto (/usr/bin/time -v when it works) | gnu-time | python-wait4
#   BENCH_KEEP=0             1 = keep the temporary directory (site, databases, logs) for inspection
#   BENCH_TABLE_OUT=FILE     also write the final markdown table to FILE
#   TMPDIR                   where the temporary directory goes (needs ~2 GB for 20,000 pages)
#
# Requires: bash, cargo, python3 (stdlib), coreutils `timeout`. Uses /usr/bin/time -v when present,
# otherwise a tiny python wait4() wrapper that reads the same numbers from the kernel (rusage).
#
# Exit status: 0 when every crawl stored exactly the generated pages, all 200; 1 otherwise
# (the summary line, `status --json` and the end of the crawl log are printed).

set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)

PAGES=${BENCH_PAGES:-20000}
PAGES_SMALL=${BENCH_PAGES_SMALL:-5000}
RUNS=${BENCH_RUNS:-2}
SERVER_KIND=${BENCH_SERVER:-auto}
PORT=${BENCH_PORT:-18473}
SEED=${BENCH_SEED:-1}
CONC=${BENCH_CONCURRENCY:-64}
CRAWL_TIMEOUT=${BENCH_TIMEOUT:-600}
INSTALL=${BENCH_INSTALL:-0}
KEEP=${BENCH_KEEP:-0}
TABLE_OUT=${BENCH_TABLE_OUT:-}

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

for v in PAGES PAGES_SMALL RUNS PORT SEED CONC CRAWL_TIMEOUT; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer (got '${!v}')"
done
((PAGES >= 2)) || die "BENCH_PAGES must be at least 2"
((RUNS >= 1)) || die "BENCH_RUNS must be at least 1"
command -v python3 >/dev/null || die "python3 is required (scripts/gen_site.py)"
command -v cargo >/dev/null || die "cargo is required"
command -v timeout >/dev/null || die "coreutils 'timeout' is required"

# ---------------------------------------------------------------- temp dir, cleanup
WORK=$(mktemp -d "${TMPDIR:-/tmp}/politecrawl-bench.XXXXXX")
SERVER_PID=""
CRAWL_PID=""

stop_pid() { # pid: TERM, wait up to 5 s, then KILL
    local pid=$1 i
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_pid "$CRAWL_PID"
    stop_pid "$SERVER_PID"
    if [[ $KEEP == 1 ]]; then
        log "kept $WORK"
    else
        rm -rf -- "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# ---------------------------------------------------------------- tools
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
setup_measure

if [[ $SERVER_KIND == auto ]]; then
    if ! command -v nginx >/dev/null && [[ $INSTALL == 1 && $EUID -eq 0 ]] && command -v apt-get >/dev/null; then
        log "installing nginx (apt-get install -y nginx)"
        apt-get install -y nginx >&2 || log "could not install nginx"
    fi
    if command -v nginx >/dev/null; then SERVER_KIND=nginx; else SERVER_KIND=politecrawl; fi
    [[ $SERVER_KIND == nginx ]] || log "nginx not found: using 'politecrawl serve' (install nginx, or BENCH_INSTALL=1, to bench against nginx)"
fi
check_server_and_build

if [[ $SERVER_KIND == nginx ]]; then
    SERVER_DESC="nginx $(nginx -v 2>&1 | sed 's/.*nginx\///'), worker_processes 2"
else
    SERVER_DESC="politecrawl serve (thread per connection)"
fi

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

# ---------------------------------------------------------------- server
start_server() { # site_dir
    local site=$1 i
    port_busy && die "127.0.0.1:$PORT is already in use; set BENCH_PORT to a free port"
    if [[ $SERVER_KIND == nginx ]]; then
        local p="$WORK/nginx"
        rm -rf "$p" && mkdir -p "$p/tmp" "$p/logs"
        local user_line=""
        # Workers drop to this user when the master runs as root; keep them able to read the site.
        [[ $EUID -eq 0 ]] && user_line="user $(id -un) $(id -gn);"
        cat >"$p/nginx.conf" <<EOF
$user_line
worker_processes 2;
daemon off;
master_process on;
pid $p/nginx.pid;
error_log $p/logs/error.log warn;
events { worker_connections 1024; }
http {
    types { text/html html htm; text/css css; text/plain txt; }
    default_type application/octet-stream;
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 65s;
    keepalive_requests 100000;
    client_body_temp_path $p/tmp/body;
    proxy_temp_path $p/tmp/proxy;
    fastcgi_temp_path $p/tmp/fastcgi;
    uwsgi_temp_path $p/tmp/uwsgi;
    scgi_temp_path $p/tmp/scgi;
    server {
        listen 127.0.0.1:$PORT;
        server_name localhost;
        root $site;
        index index.html;
    }
}
EOF
        local eflag=()
        nginx -h 2>&1 | grep -q -- '-e filename' && eflag=(-e "$p/logs/error.log")
        nginx -p "$p" "${eflag[@]}" -c "$p/nginx.conf" -t >"$p/logs/test.log" 2>&1 ||
            { cat "$p/logs/test.log" >&2; die "nginx rejected $p/nginx.conf"; }
        nginx -p "$p" "${eflag[@]}" -c "$p/nginx.conf" 2>>"$p/logs/error.log" &
        SERVER_PID=$!
        SERVER_LOG="$p/logs/error.log"
    else
        SERVER_LOG="$WORK/serve.log"
        "$BIN" serve "$site" --addr "127.0.0.1:$PORT" 2>"$SERVER_LOG" &
        SERVER_PID=$!
    fi
    for ((i = 0; i < 100; i++)); do
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$SERVER_LOG" >&2; die "server exited at startup"; }
        port_busy && break
        sleep 0.1
    done
    port_busy || die "server did not start listening on 127.0.0.1:$PORT within 10 s"
    # Sanity: the home page and one inner page come back 200 text/html.
    python3 - "http://127.0.0.1:$PORT" <<'PY' || die "server sanity check failed"
import sys, urllib.request
for path in ("/", "/p/1.html"):
    with urllib.request.urlopen(sys.argv[1] + path, timeout=10) as r:
        ct = r.headers.get("content-type", "")
        if r.status != 200 or not ct.startswith("text/html"):
            sys.exit(f"{path}: HTTP {r.status}, content-type {ct!r}")
PY
    log "serving $site at http://127.0.0.1:$PORT/ with $SERVER_DESC (pid $SERVER_PID)"
}

stop_server() {
    stop_pid "$SERVER_PID"
    SERVER_PID=""
}

# ---------------------------------------------------------------- one crawl
RESULTS="$WORK/results.tsv"
: >"$RESULTS"

crawl_once() { # pages run
    local n=$1 run=$2
    local db="$WORK/db-$n-$run" clog="$WORK/crawl-$n-$run.log" tfile="$WORK/time-$n-$run.txt"
    rm -rf "$db"
    local -a pre
    mapfile -d '' pre < <(measure_cmd "$tfile")
    log "crawl $run/$RUNS of $n pages: politecrawl crawl http://127.0.0.1:$PORT/ --db $db --rate 0 --concurrency $CONC --per-host-concurrency $CONC"
    local t0 t1 rc=0
    t0=$(date +%s%N)
    timeout -k 30 "$CRAWL_TIMEOUT" "${pre[@]}" "$BIN" crawl "http://127.0.0.1:$PORT/" --db "$db" \
        --rate 0 --concurrency "$CONC" --per-host-concurrency "$CONC" 2>"$clog" &
    CRAWL_PID=$!
    wait "$CRAWL_PID" || rc=$?
    CRAWL_PID=""
    t1=$(date +%s%N)
    local load1
    load1=$(cut -d' ' -f1 /proc/loadavg)
    local summary
    summary=$(grep -E 'stored [0-9]+ \(' "$clog" | tail -n1 || true)
    local status_json="$WORK/status-$n-$run.json"
    "$BIN" status --db "$db" --json >"$status_json" 2>>"$clog" || echo '{}' >"$status_json"

    local problem=""
    if ((rc == 124 || rc == 137)); then
        problem="crawl did not finish within ${CRAWL_TIMEOUT}s (BENCH_TIMEOUT) and was stopped"
    elif ((rc != 0)); then
        problem="crawl exited with status $rc"
    fi
    local check
    check=$(python3 - "$status_json" "$n" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); n = int(sys.argv[2])
bad = []
if s.get("done") != n: bad.append(f"done={s.get('done')} (expected {n})")
if s.get("failed") != 0: bad.append(f"failed={s.get('failed')}")
if s.get("queued") != 0: bad.append(f"queued={s.get('queued')}")
if s.get("in_flight") != 0: bad.append(f"in_flight={s.get('in_flight')}")
if s.get("by_status") != {"200": n}: bad.append(f"by_status={s.get('by_status')}")
print("; ".join(bad))
PY
) || check="could not read status --json"
    [[ -n $check ]] && problem="${problem:+$problem; }stored pages do not match the site: $check"
    if [[ -n $problem ]]; then
        log "FAILED: $n pages, run $run: $problem"
        {
            echo "---- summary line: ${summary:-<none>}"
            echo "---- status --json:"
            cat "$status_json"
            echo "---- last 20 lines of the crawl log ($clog):"
            tail -n 20 "$clog"
            echo "---- server log ($SERVER_LOG), last 10 lines:"
            tail -n 10 "$SERVER_LOG" 2>/dev/null || true
        } >&2
        exit 1
    fi

    local user sys rss_kb db_mb
    user=$(awk -F': ' '/User time \(seconds\)/{print $2}' "$tfile")
    sys=$(awk -F': ' '/System time \(seconds\)/{print $2}' "$tfile")
    rss_kb=$(awk -F': ' '/Maximum resident set size/{print $2}' "$tfile")
    db_mb=$(du -sm "$db" | cut -f1)
    local self_rate
    self_rate=$(sed -nE 's/.* ([0-9.]+) pages\/s.*/\1/p' <<<"$summary")
    log "ok: $summary"
    python3 - "$n" "$run" "$t0" "$t1" "$user" "$sys" "$rss_kb" "$db_mb" "$load1" "${self_rate:-}" "$SERVER_KIND" >>"$RESULTS" <<'PY'
import sys
n, run, t0, t1, user, sys_, rss, db, load, self_rate, server = sys.argv[1:]
n = int(n); wall = (int(t1) - int(t0)) / 1e9; cpu = float(user) + float(sys_)
print("\t".join(map(str, [server, n, run, n, 0, f"{wall:.1f}", f"{n / wall:.0f}", self_rate or "-",
    f"{cpu / n * 1000:.2f}", f"{float(user):.1f}", f"{float(sys_):.1f}", f"{int(rss) / 1024:.0f}", db, load])))
PY
    rm -rf "$db"
}

# ---------------------------------------------------------------- main
log "machine: nproc $(nproc), load $(cut -d' ' -f1-3 /proc/loadavg), $(awk '/MemTotal/{printf "%.1f GB RAM", $2/1048576}' /proc/meminfo)"
log "politecrawl $GIT_REV ($BIN); server: $SERVER_DESC; measured with $MEASURE; work dir $WORK"

SIZES=()
((PAGES_SMALL > 0)) && SIZES+=("$PAGES_SMALL")
SIZES+=("$PAGES")
for n in "${SIZES[@]}"; do
    site="$WORK/site-$n"
    log "generating $n pages: python3 scripts/gen_site.py --pages $n --out $site --seed $SEED"
    written=$(python3 "$SCRIPT_DIR/gen_site.py" --pages "$n" --out "$site" --seed "$SEED")
    [[ $written == "$n" ]] || die "gen_site.py wrote '$written' pages, expected $n"
    start_server "$site"
    for ((r = 1; r <= RUNS; r++)); do
        crawl_once "$n" "$r"
    done
    stop_server
    rm -rf "$site"
done

# ---------------------------------------------------------------- report
TABLE=$(python3 - "$RESULTS" "$SERVER_DESC" "$GIT_REV" "$MEASURE" "$CONC" <<'PY'
import sys
from collections import defaultdict
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
desc, rev, measure, conc = sys.argv[2:]
out = []
out.append(f"politecrawl {rev}; server: {desc}; crawl --rate 0 --concurrency {conc} --per-host-concurrency {conc}; "
           f"CPU and peak RSS from {measure}")
out.append("")
out.append("| server | pages | run | stored | failed | wall s | pages/s | pages/s (crawler's own) | CPU s / 1k pages | user s | sys s | peak RSS MB | DB MB | load1 after |")
out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for r in rows:
    out.append("| " + " | ".join(r) + " |")
by = defaultdict(list)
for r in rows:
    by[int(r[1])].append(r)
if any(len(v) > 1 for v in by.values()):
    out.append("")
    out.append("| pages | runs | pages/s best / worst | CPU s / 1k pages best / worst | peak RSS MB min / max |")
    out.append("|---:|---:|---:|---:|---:|")
    for n in sorted(by):
        v = by[n]
        rate = [float(r[6]) for r in v]; cpu = [float(r[8]) for r in v]; rss = [float(r[11]) for r in v]
        out.append(f"| {n} | {len(v)} | {max(rate):.0f} / {min(rate):.0f} | {min(cpu):.2f} / {max(cpu):.2f} | "
                   f"{min(rss):.0f} / {max(rss):.0f} |")
print("\n".join(out))
PY
)
echo
echo "$TABLE"
[[ -n $TABLE_OUT ]] && printf '%s\n' "$TABLE" >"$TABLE_OUT"
log "done"
