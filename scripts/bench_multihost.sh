#!/usr/bin/env bash
# Multi-host politeness benchmark for politecrawl: serve one synthetic site on many loopback ports
# (= many origins), crawl them all at once with a per-origin rate limit, and report how close the
# crawl gets to the ideal aggregate rate (origins x rate), whether every origin got its share, and,
# from the server's own request log, the smallest gap between two request starts to one origin.
#
#   bash scripts/bench_multihost.sh
#
# Requirement measured: with 20 origins at 5 requests/s each and enough queued work, the crawl runs
# at >= 95 % of the ideal 100 pages/s.
#
# Environment (all optional):
#   BENCH_ORIGINS=20         loopback ports served, one origin each
#   BENCH_RATE=5             --rate (request starts per second per origin; must be > 0)
#   BENCH_PER_HOST=2         --per-host-concurrency
#   BENCH_CONCURRENCY=64     --concurrency
#   BENCH_MAX_PAGES=3000     --max-pages N (default: ~30 s at 100 pages/s). Must stay below
#                            BENCH_ORIGINS x BENCH_PAGES so that every origin always has queued work
#   BENCH_PAGES=2000         site size; every origin serves the same site, so each has this many pages
#   BENCH_RUNS=2             crawls (fresh database each time); the machine may be busy, so look at
#                            the better and the worse
#   BENCH_SERVER=auto        auto (nginx if installed, else politecrawl serve) | nginx | politecrawl
#   BENCH_PORT=18500         first port; ports BENCH_PORT .. BENCH_PORT+BENCH_ORIGINS-1 must be free
#   BENCH_SEED=1             site generator seed
#   BENCH_TARGET=95          efficiency (%) the requirement asks for
#   BENCH_GAP_TOLERANCE_MS=20  a server-side gap shorter than 1000/BENCH_RATE minus this many ms counts
#                            as a politeness violation (exit status 1). Timestamps come from nginx's
#                            cached clock at millisecond resolution and a busy machine delays some
#                            requests more than others, so a few ms below the interval is noise;
#                            every gap below the interval is counted and reported anyway
#   BENCH_TIMEOUT=300        seconds one crawl may take before it is stopped and reported as a failure
#   BENCH_INSTALL=0          1 = apt-get install nginx / time when missing (needs root)
#   BENCH_MEASURE=auto       auto (/usr/bin/time -v when it works) | gnu-time | python-wait4
#   BENCH_KEEP=0             1 = keep the temporary directory (site, databases, logs) for inspection
#   BENCH_TABLE_OUT=FILE     also write the final markdown tables to FILE
#   TMPDIR                   where the temporary directory goes (~35 MB for 2,000 pages, plus one crawl
#                            database at a time, roughly 100 MB for 3,000 pages)
#
# Server-side politeness check (nginx only): nginx logs "$server_port $msec $request_time $status
# $request_uri" for every request. $msec is when the response was logged and $request_time is the
# time since nginx read the request's first bytes, so a request started at $msec - $request_time.
# Per port the script sorts those starts and reports the smallest gap between two consecutive ones,
# the smallest mean of 5 consecutive gaps (one request reaching nginx d ms late makes the gap
# before it d longer and the one after it d shorter, which moves this by at most d/5, while a
# sustained rate above --rate or a burst of two requests still shows), the mean gap ((last start -
# first start) / (requests - 1)) and the largest gap. Every gap below the interval minus the
# tolerance is printed with its port, time and URLs, and gaps over two intervals are listed (when many
# origins show one at the same moment, the crawler or the whole machine stalled then).
# `politecrawl serve` keeps no request log, so with it these columns are "n/a".
#
# Ideal time. Each origin takes its robots.txt first and then N / ORIGINS pages, all through the
# same limiter (burst 1, one start per 1/RATE s), so an origin needs N/ORIGINS + 1 request slots of
# 1/RATE s each:
#     T_ideal = (N / ORIGINS + 1) / RATE        (3000 pages, 20 origins, 5/s: 30 + 0.2 = 30.2 s)
#     efficiency % = 100 * T_ideal / T_wall      (T_wall: around the crawl process, start to exit)
#     pages/s = N / T_wall,   ideal pages/s = ORIGINS * RATE
# T_wall includes process start-up, opening the database and the final flush; the "start span"
# column (first to last request start seen by nginx, all origins) leaves those out. T_ideal counts
# one whole interval for the last request, so a perfect crawl can score slightly above 100 %; the
# tight bound is the first-to-last start span, (N / ORIGINS) / RATE (N/ORIGINS + 1 starts,
# N/ORIGINS gaps), and the table also shows
#     strict efficiency % = 100 * ((N / ORIGINS) / RATE) / T_wall    (never above 100 %)
#
# Requires: bash, cargo, python3 (stdlib), coreutils `timeout`.
#
# Exit status: 0 when every crawl stored exactly N pages, all 200, each origin fetched robots.txt
# once and first, and no server-side gap was shorter than the interval minus BENCH_GAP_TOLERANCE_MS;
# 1 on any of those failures (details are printed); 2 when every crawl was correct but none reached
# BENCH_TARGET % efficiency. Uneven per-origin page counts (max - min above 5 % of N/ORIGINS) are
# printed as a note, not a failure.

set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)

ORIGINS=${BENCH_ORIGINS:-20}
RATE=${BENCH_RATE:-5}
PER_HOST=${BENCH_PER_HOST:-2}
CONC=${BENCH_CONCURRENCY:-64}
MAX_PAGES=${BENCH_MAX_PAGES:-3000}
PAGES=${BENCH_PAGES:-2000}
RUNS=${BENCH_RUNS:-2}
SERVER_KIND=${BENCH_SERVER:-auto}
PORT0=${BENCH_PORT:-18500}
SEED=${BENCH_SEED:-1}
TARGET=${BENCH_TARGET:-95}
GAP_TOL=${BENCH_GAP_TOLERANCE_MS:-20}
CRAWL_TIMEOUT=${BENCH_TIMEOUT:-300}
INSTALL=${BENCH_INSTALL:-0}
KEEP=${BENCH_KEEP:-0}
TABLE_OUT=${BENCH_TABLE_OUT:-}

log() { printf '[bench-mh %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

for v in ORIGINS PER_HOST CONC MAX_PAGES PAGES RUNS PORT0 SEED TARGET GAP_TOL CRAWL_TIMEOUT; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer (got '${!v}')"
done
[[ $RATE =~ ^[0-9]+(\.[0-9]+)?$ ]] && python3 -c "import sys; sys.exit(not float('$RATE') > 0)" ||
    die "BENCH_RATE must be a number > 0 (got '$RATE')"
((ORIGINS >= 1)) || die "BENCH_ORIGINS must be at least 1"
((PAGES >= 2)) || die "BENCH_PAGES must be at least 2"
((RUNS >= 1)) || die "BENCH_RUNS must be at least 1"
((MAX_PAGES >= ORIGINS)) || die "BENCH_MAX_PAGES must be at least BENCH_ORIGINS"
((MAX_PAGES < ORIGINS * PAGES)) ||
    die "BENCH_MAX_PAGES ($MAX_PAGES) must be below BENCH_ORIGINS x BENCH_PAGES ($((ORIGINS * PAGES))), or origins run dry"
((PORT0 + ORIGINS - 1 <= 65535)) || die "BENCH_PORT + BENCH_ORIGINS exceeds 65535"
command -v python3 >/dev/null || die "python3 is required (scripts/gen_site.py)"
command -v cargo >/dev/null || die "cargo is required"
command -v timeout >/dev/null || die "coreutils 'timeout' is required"

PORTS=()
for ((i = 0; i < ORIGINS; i++)); do PORTS+=($((PORT0 + i))); done
SEEDS=()
for p in "${PORTS[@]}"; do SEEDS+=("http://127.0.0.1:$p/"); done

# ---------------------------------------------------------------- temp dir, cleanup
WORK=$(mktemp -d "${TMPDIR:-/tmp}/politecrawl-bench-mh.XXXXXX")
SERVER_PIDS=()
CRAWL_PID=""
SAMPLER_PID=""

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

stop_servers() {
    local pid
    for pid in "${SERVER_PIDS[@]}"; do stop_pid "$pid"; done
    SERVER_PIDS=()
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_pid "$SAMPLER_PID"
    stop_pid "$CRAWL_PID"
    stop_servers
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
    [[ $SERVER_KIND == nginx ]] ||
        log "nginx not found: using $ORIGINS 'politecrawl serve' processes (no server-side request log, so no gap check)"
fi
check_server_and_build

if [[ $SERVER_KIND == nginx ]]; then
    SERVER_DESC="one nginx $(nginx -v 2>&1 | sed 's/.*nginx\///') (worker_processes 2) listening on $ORIGINS ports"
else
    SERVER_DESC="$ORIGINS 'politecrawl serve' processes"
fi

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ---------------------------------------------------------------- server
ACCESS_LOG=""
start_servers() { # site_dir
    local site=$1 i p port
    for port in "${PORTS[@]}"; do
        port_busy "$port" && die "127.0.0.1:$port is already in use; set BENCH_PORT to a free range"
    done
    if [[ $SERVER_KIND == nginx ]]; then
        p="$WORK/nginx"
        rm -rf "$p" && mkdir -p "$p/tmp" "$p/logs"
        ACCESS_LOG="$p/logs/access.log"
        local user_line="" listen=""
        # Workers drop to this user when the master runs as root; keep them able to read the site.
        [[ $EUID -eq 0 ]] && user_line="user $(id -un) $(id -gn);"
        for port in "${PORTS[@]}"; do listen+="        listen 127.0.0.1:$port;"$'\n'; done
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
    # One line per request: port, when it was logged, how long it took, status, path. The start
    # of the request is \$msec - \$request_time. Unbuffered (100 lines/s is nothing).
    log_format polite '\$server_port \$msec \$request_time \$status \$request_uri';
    access_log $ACCESS_LOG polite;
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
$listen        server_name localhost;
        root $site;
        index index.html;
        log_not_found off;
    }
}
EOF
        local eflag=()
        nginx -h 2>&1 | grep -q -- '-e filename' && eflag=(-e "$p/logs/error.log")
        nginx -p "$p" "${eflag[@]}" -c "$p/nginx.conf" -t >"$p/logs/test.log" 2>&1 ||
            { cat "$p/logs/test.log" >&2; die "nginx rejected $p/nginx.conf"; }
        nginx -p "$p" "${eflag[@]}" -c "$p/nginx.conf" 2>>"$p/logs/error.log" &
        SERVER_PIDS=($!)
        SERVER_LOG="$p/logs/error.log"
    else
        ACCESS_LOG=""
        SERVER_LOG="$WORK/serve.log"
        : >"$SERVER_LOG"
        for port in "${PORTS[@]}"; do
            "$BIN" serve "$site" --addr "127.0.0.1:$port" 2>>"$SERVER_LOG" &
            SERVER_PIDS+=($!)
        done
    fi
    local pid all
    for ((i = 0; i < 100; i++)); do
        for pid in "${SERVER_PIDS[@]}"; do
            kill -0 "$pid" 2>/dev/null || { cat "$SERVER_LOG" >&2; die "a server exited at startup"; }
        done
        all=1
        for port in "${PORTS[@]}"; do port_busy "$port" || { all=0; break; }; done
        ((all)) && break
        sleep 0.1
    done
    ((all)) || die "servers did not start listening on all of ports ${PORTS[0]}-${PORTS[-1]} within 10 s"
    # Sanity: on every port the home page and one inner page come back 200 text/html, and
    # robots.txt is 404 (so the crawler allows everything).
    python3 - "${PORTS[@]}" <<'PY' || die "server sanity check failed"
import sys, urllib.error, urllib.request
for port in sys.argv[1:]:
    base = f"http://127.0.0.1:{port}"
    for path in ("/", "/p/1.html"):
        with urllib.request.urlopen(base + path, timeout=10) as r:
            ct = r.headers.get("content-type", "")
            if r.status != 200 or not ct.startswith("text/html"):
                sys.exit(f"{base}{path}: HTTP {r.status}, content-type {ct!r}")
    try:
        urllib.request.urlopen(base + "/robots.txt", timeout=10)
        sys.exit(f"{base}/robots.txt exists; the benchmark expects 404 (allow all)")
    except urllib.error.HTTPError as e:
        if e.code != 404:
            sys.exit(f"{base}/robots.txt: HTTP {e.code}, expected 404")
PY
    log "serving $site on 127.0.0.1:${PORTS[0]}-${PORTS[-1]} with $SERVER_DESC (pids ${SERVER_PIDS[*]})"
}

# ---------------------------------------------------------------- background sampler
# Every second while a crawl runs: load average, runnable tasks (/proc/loadavg field 4) and how
# many build or test processes (cargo, rustc, linkers, the project's integration-* test binaries)
# exist. Another engineer may be building or testing on this machine, and that explains slow runs.
start_sampler() { # out_file
    local out=$1
    (
        while :; do
            read -r l1 _ _ rq _ </proc/loadavg
            printf '%s %s %s %s\n' "$(date +%s)" "$l1" "${rq%%/*}" \
                "$(ps -eo comm= 2>/dev/null | grep -cE '^(cargo|rustc|cc1|cc1plus|rust-lld|ld|clippy-driver|integration-.*)$' || true)"
            sleep 1
        done
    ) >"$out" 2>/dev/null &
    SAMPLER_PID=$!
}

# ---------------------------------------------------------------- one crawl
RESULTS="$WORK/results.tsv"
: >"$RESULTS"
PROBLEMS=0

crawl_once() { # run
    local run=$1
    local db="$WORK/db-$run" clog="$WORK/crawl-$run.log" tfile="$WORK/time-$run.txt"
    local samples="$WORK/samples-$run.txt" alog_run="$WORK/access-$run.log"
    rm -rf "$db"
    local -a pre
    mapfile -d '' pre < <(measure_cmd "$tfile")
    local mark=0
    [[ -n $ACCESS_LOG ]] && mark=$(stat -c %s "$ACCESS_LOG")
    log "crawl $run/$RUNS: politecrawl crawl <$ORIGINS seeds http://127.0.0.1:{${PORTS[0]}..${PORTS[-1]}}/> --db $db --rate $RATE --per-host-concurrency $PER_HOST --concurrency $CONC --max-pages $MAX_PAGES"
    local load_before t0 t1 rc=0
    load_before=$(cut -d' ' -f1 /proc/loadavg)
    start_sampler "$samples"
    t0=$(date +%s%N)
    timeout -k 30 "$CRAWL_TIMEOUT" "${pre[@]}" "$BIN" crawl "${SEEDS[@]}" --db "$db" \
        --rate "$RATE" --per-host-concurrency "$PER_HOST" --concurrency "$CONC" \
        --max-pages "$MAX_PAGES" 2>"$clog" &
    CRAWL_PID=$!
    wait "$CRAWL_PID" || rc=$?
    CRAWL_PID=""
    t1=$(date +%s%N)
    stop_pid "$SAMPLER_PID"
    SAMPLER_PID=""
    # This run's part of the access log (nginx writes each line when the response is done).
    if [[ -n $ACCESS_LOG ]]; then
        sleep 0.2
        tail -c +"$((mark + 1))" "$ACCESS_LOG" >"$alog_run"
    else
        : >"$alog_run"
    fi
    local summary
    summary=$(grep -E 'stored [0-9]+ \(' "$clog" | tail -n1 || true)
    local status_json="$WORK/status-$run.json"
    "$BIN" status --db "$db" --json >"$status_json" 2>>"$clog" || echo '{}' >"$status_json"

    local problem=""
    if ((rc == 124 || rc == 137)); then
        problem="crawl did not finish within ${CRAWL_TIMEOUT}s (BENCH_TIMEOUT) and was stopped"
    elif ((rc != 0)); then
        problem="crawl exited with status $rc"
    fi

    local user sys rss_kb
    user=$(awk -F': ' '/User time \(seconds\)/{print $2}' "$tfile" 2>/dev/null || true)
    sys=$(awk -F': ' '/System time \(seconds\)/{print $2}' "$tfile" 2>/dev/null || true)
    rss_kb=$(awk -F': ' '/Maximum resident set size/{print $2}' "$tfile" 2>/dev/null || true)

    # Everything else in python: status checks, per-host spread, server-side gaps, the result row.
    local out
    out=$(python3 - "$status_json" "$alog_run" "$samples" "$MAX_PAGES" "$ORIGINS" "$RATE" "$GAP_TOL" \
        "$t0" "$t1" "${user:-0}" "${sys:-0}" "${rss_kb:-0}" "$load_before" "$run" "$SERVER_KIND" \
        "${PORTS[*]}" <<'PY'
import json, sys
(status_f, alog_f, samples_f, n, origins, rate, tol, t0, t1, user, sys_, rss, load_before, run,
 server, ports) = sys.argv[1:]
n, origins, rate, tol = int(n), int(origins), float(rate), float(tol)
ports = ports.split()
interval_ms = 1000.0 / rate
wall = (int(t1) - int(t0)) / 1e9
problems, notes = [], []

try:
    s = json.load(open(status_f))
except Exception as e:
    s = {}
    problems.append(f"could not read status --json ({e})")
done, failed = s.get("done"), s.get("failed")
stored = (done or 0) + (failed or 0)
if done != n: problems.append(f"done={done} (expected {n})")
if failed != 0: problems.append(f"failed={failed} by_error={s.get('by_error')}")
if s.get("blocked"): problems.append(f"blocked={s.get('blocked')}")
if s.get("in_flight") != 0: problems.append(f"in_flight={s.get('in_flight')}")
if s.get("by_status") != {"200": n}: problems.append(f"by_status={s.get('by_status')}")
by_host = s.get("by_host") or {}
want_hosts = {f"127.0.0.1:{p}" for p in ports}
if set(by_host) != want_hosts:
    problems.append(f"by_host has {sorted(set(by_host) ^ want_hosts)} unexpected/missing")
counts = [by_host.get(h, 0) for h in sorted(want_hosts)]
hmin, hmax = min(counts), max(counts)
share = n / origins
if hmax - hmin > max(2, 0.05 * share):
    notes.append(f"uneven per-origin counts: min {hmin}, max {hmax} (fair share {share:g}): "
                 + ", ".join(f"{h.split(':')[1]}={c}" for h, c in sorted(by_host.items())))
for h in s.get("hosts") or []:
    if h.get("backoff_ms") or h.get("pauses") or (h.get("throttle_ms") or 0) >= interval_ms:
        notes.append(f"{h.get('origin')}: backoff_ms={h.get('backoff_ms')} throttle_ms={h.get('throttle_ms')} "
                     f"pauses={h.get('pauses')}")
    if h.get("robots") != "allow_all":
        notes.append(f"{h.get('origin')}: robots={h.get('robots')} ({h.get('robots_detail')})")

# Server side: request starts per port.
gap_min = gap_mean = gap_max = span = pair_min = "n/a"
short = "n/a"
reqs = {}
for line in open(alog_f):
    f = line.split()
    if len(f) < 5:
        continue
    port, msec, rtime, status, uri = f[0], float(f[1]), float(f[2]), f[3], f[4]
    reqs.setdefault(port, []).append((msec - rtime, uri, status))
if server == "nginx":
    if not reqs:
        problems.append("the nginx access log has no requests for this run")
    else:
        all_gaps, means, starts_all, pairs = [], [], [], []
        worst = None
        t_first = min(x[0] for v in reqs.values() for x in v)
        violations, stalls = [], []
        for port in ports:
            r = sorted(reqs.get(port, []))
            if not r:
                problems.append(f"port {port}: no requests in the access log")
                continue
            if r[0][1] != "/robots.txt":
                problems.append(f"port {port}: first request was {r[0][1]}, not /robots.txt")
            robots = [x for x in r if x[1] == "/robots.txt"]
            if len(robots) != 1:
                problems.append(f"port {port}: {len(robots)} robots.txt requests")
            pages = len(r) - len(robots)
            if pages != by_host.get(f"127.0.0.1:{port}"):
                notes.append(f"port {port}: nginx saw {pages} page requests, status by_host says "
                             f"{by_host.get(f'127.0.0.1:{port}')}")
            starts = [x[0] for x in r]
            starts_all += starts
            gaps = [(b - a) * 1000 for a, b in zip(starts, starts[1:])]
            if gaps:
                all_gaps += gaps
                # Mean of 5 consecutive gaps: damps one late request's jitter, keeps bursts.
                k = min(5, len(gaps))
                pairs += [sum(gaps[i:i + k]) / k for i in range(len(gaps) - k + 1)]
                means.append((starts[-1] - starts[0]) * 1000 / len(gaps))
                g = min(gaps)
                if worst is None or g < worst[0]:
                    worst = (g, port)
                for i, g in enumerate(gaps):
                    if g < interval_ms - tol:
                        before = f"{gaps[i - 1]:.0f}" if i else "-"
                        violations.append(
                            f"port {port} at +{r[i + 1][0] - t_first:.3f}s: {r[i][1]} then {r[i + 1][1]} "
                            f"{g:.0f} ms apart (gap before them {before} ms)")
                    elif g > 2 * interval_ms:
                        stalls.append((r[i][0] - t_first, g))
        if all_gaps:
            gap_min, gap_max = f"{min(all_gaps):.0f}", f"{max(all_gaps):.0f}"
            gap_mean = f"{sum(means) / len(means):.1f}"
            pair_min = f"{min(pairs):.0f}" if pairs else "n/a"
            nshort = sum(1 for g in all_gaps if g < interval_ms - 0.5)
            short = f"{nshort}/{len(all_gaps)}"
            span = f"{max(starts_all) - min(starts_all):.2f}"
            if worst[0] < interval_ms - tol:
                problems.append(f"politeness: port {worst[1]} had two request starts {worst[0]:.1f} ms apart "
                                f"(interval {interval_ms:.0f} ms, tolerance {tol:g} ms)")
            for v in violations[:10]:
                notes.append("politeness violation: " + v)
            if stalls:
                # Gaps over two intervals; when many origins show one at the same moment the
                # crawler (or the whole machine) stalled then.
                notes.append(f"{len(stalls)} server-side gaps above {2 * interval_ms:.0f} ms, starting at: "
                             + ", ".join(f"+{t:.2f}s ({g:.0f} ms)" for t, g in sorted(stalls)[:12])
                             + (" ..." if len(stalls) > 12 else ""))
            if nshort:
                bad = sorted(g for g in all_gaps if g < interval_ms - 0.5)[:10]
                notes.append(f"{nshort} server-side gaps below {interval_ms:.0f} ms; smallest: "
                             + ", ".join(f"{g:.0f}" for g in bad))

# Machine during the crawl.
loads, runnable, compilers = [], [], 0
for line in open(samples_f):
    f = line.split()
    if len(f) == 4:
        loads.append(float(f[1]))
        runnable.append(int(f[2]))
        compilers = max(compilers, int(f[3]))
load_max = f"{max(loads):.2f}" if loads else "-"
run_max = str(max(runnable)) if runnable else "-"

t_ideal = (n / origins + 1) / rate
t_strict = (n / origins) / rate
eff = 100 * t_ideal / wall
eff_strict = 100 * t_strict / wall
cpu = float(user) + float(sys_)
row = [server, str(run), str(stored), str(failed), f"{wall:.2f}", f"{t_ideal:.2f}", f"{stored / wall:.1f}",
       f"{origins * rate:g}", f"{eff:.1f}", f"{eff_strict:.1f}", span, f"{hmin}/{hmax}", gap_min, pair_min, gap_mean, gap_max, short,
       f"{cpu:.1f}", f"{int(rss) / 1024:.0f}", f"{load_before}/{load_max}", run_max, str(compilers)]
print("ROW\t" + "\t".join(row))
for p in problems: print("PROBLEM\t" + p)
for x in notes: print("NOTE\t" + x)
PY
) || { problem="${problem:+$problem; }analysis script failed"; out=""; }
    local row
    row=$(sed -n 's/^ROW\t//p' <<<"$out")
    while IFS= read -r l; do [[ -n $l ]] && problem="${problem:+$problem; }$l"; done < <(sed -n 's/^PROBLEM\t//p' <<<"$out")
    while IFS= read -r l; do [[ -n $l ]] && log "note (run $run): $l"; done < <(sed -n 's/^NOTE\t//p' <<<"$out")
    [[ -n $row ]] && printf '%s\n' "$row" >>"$RESULTS"
    if [[ -n $problem ]]; then
        PROBLEMS=1
        log "FAILED: run $run: $problem"
        {
            echo "---- summary line: ${summary:-<none>}"
            echo "---- status --json:"
            cat "$status_json"
            echo "---- last 20 lines of the crawl log ($clog):"
            tail -n 20 "$clog"
            echo "---- server log ($SERVER_LOG), last 10 lines:"
            tail -n 10 "$SERVER_LOG" 2>/dev/null || true
        } >&2
    else
        log "ok: $summary"
        [[ -n $row ]] && log "run $run: $(awk -F'\t' '{printf "wall %ss (ideal %ss), %s pages/s of %s, efficiency %s%% (strict %s%%), per-origin pages %s, server-side gap min %s ms (5-gap mean min %s), mean %s, max %s ms", $5, $6, $7, $8, $9, $10, $12, $13, $14, $15, $16}' <<<"$row")"
    fi
    [[ $KEEP == 1 ]] || rm -rf "$db"
}

# ---------------------------------------------------------------- main
log "machine: nproc $(nproc), load $(cut -d' ' -f1-3 /proc/loadavg), $(awk '/MemTotal/{printf "%.1f GB RAM", $2/1048576}' /proc/meminfo)"
log "politecrawl $GIT_REV ($BIN); server: $SERVER_DESC; measured with $MEASURE; work dir $WORK"

site="$WORK/site"
log "generating $PAGES pages: python3 scripts/gen_site.py --pages $PAGES --out $site --seed $SEED"
written=$(python3 "$SCRIPT_DIR/gen_site.py" --pages "$PAGES" --out "$site" --seed "$SEED")
[[ $written == "$PAGES" ]] || die "gen_site.py wrote '$written' pages, expected $PAGES"
start_servers "$site"
for ((r = 1; r <= RUNS; r++)); do
    crawl_once "$r"
done
stop_servers

# ---------------------------------------------------------------- report
TABLE=$(python3 - "$RESULTS" "$SERVER_DESC" "$GIT_REV" "$MEASURE" "$ORIGINS" "$RATE" "$PER_HOST" "$CONC" "$MAX_PAGES" "$PAGES" "$TARGET" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
desc, rev, measure, origins, rate, per_host, conc, n, pages, target = sys.argv[2:]
origins, rate, n = int(origins), float(rate), int(n)
out = []
out.append(f"politecrawl {rev}; server: {desc}; site {pages} pages per origin; crawl of {origins} seeds "
           f"--rate {rate:g} --per-host-concurrency {per_host} --concurrency {conc} --max-pages {n}; "
           f"T_ideal = (N/{origins} + 1)/{rate:g} s, efficiency = T_ideal / T_wall; strict efficiency = (N/{origins})/{rate:g} s / T_wall; "
           f"CPU and peak RSS from {measure}")
out.append("")
out.append("| server | run | stored | failed | wall s | ideal s | pages/s | ideal pages/s | efficiency % | strict efficiency % | start span s (nginx) "
           "| pages per origin min/max | gap ms min | 5-gap mean ms min | gap ms mean | gap ms max | gaps < interval | crawler CPU s "
           "| peak RSS MB | load1 before/max | runnable max | build/test procs max |")
out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for r in rows:
    out.append("| " + " | ".join(r) + " |")
if rows:
    eff = [float(r[8]) for r in rows]; strict = [float(r[9]) for r in rows]; wall = [float(r[4]) for r in rows]
    out.append("")
    out.append(f"Efficiency better / worse: {max(eff):.1f} % / {min(eff):.1f} % (target {target} %; strict "
               f"{max(strict):.1f} % / {min(strict):.1f} %); "
               f"wall s better / worse: {min(wall):.2f} / {max(wall):.2f}; "
               f"{sum(e >= float(target) for e in eff)} of {len(eff)} runs reached the target.")
print("\n".join(out))
PY
)
echo
echo "$TABLE"
[[ -n $TABLE_OUT ]] && printf '%s\n' "$TABLE" >"$TABLE_OUT"
if ((PROBLEMS)); then
    log "done, with failures (see above)"
    exit 1
fi
if ! python3 - "$RESULTS" "$TARGET" <<'PY'; then
import sys
rows = [l.split("\t") for l in open(sys.argv[1]) if l.strip()]
sys.exit(0 if rows and max(float(r[8]) for r in rows) >= float(sys.argv[2]) else 1)
PY
    log "done: all crawls correct, but none reached $TARGET % efficiency"
    exit 2
fi
log "done"
