# Shared by the benchmark scripts: how a crawl's CPU time and peak memory are measured.
# Expects WORK (a scratch directory), INSTALL (1: may apt-get install), and log/die functions.

# Sets MEASURE (gnu-time or python-wait4) and defines measure_cmd OUT_FILE, which prints
# (NUL-separated) the command prefix that runs a program and writes /usr/bin/time -v style
# numbers to OUT_FILE.
setup_measure() {
    if [[ ! -x /usr/bin/time && $INSTALL == 1 && $EUID -eq 0 ]] && command -v apt-get >/dev/null; then
        log "installing GNU time (apt-get install -y time)"
        apt-get install -y time >&2 || log "could not install time; using the python rusage wrapper"
    fi
    MEASURE=${BENCH_MEASURE:-auto}
    if [[ $MEASURE == auto ]]; then
        if [[ -x /usr/bin/time ]] && /usr/bin/time -v true 2>/dev/null; then
            MEASURE="gnu-time"
        else
            MEASURE="python-wait4"
        fi
    fi
    [[ $MEASURE == gnu-time || $MEASURE == python-wait4 ]] ||
        die "BENCH_MEASURE must be auto, gnu-time or python-wait4 (got '$MEASURE')"
    # Prints the numbers /usr/bin/time -v prints, from the kernel's rusage of the child (wait4).
    cat >"$WORK/rusage.py" <<'PY'
import os, signal, subprocess, sys
out, cmd = sys.argv[1], sys.argv[2:]
p = subprocess.Popen(cmd)
for s in (signal.SIGINT, signal.SIGTERM):
    signal.signal(s, lambda sig, _f: p.send_signal(sig))
while True:
    try:
        _, status, ru = os.wait4(p.pid, 0)
        break
    except InterruptedError:
        continue
with open(out, "w") as f:
    f.write(f"\tUser time (seconds): {ru.ru_utime:.2f}\n")
    f.write(f"\tSystem time (seconds): {ru.ru_stime:.2f}\n")
    f.write(f"\tMaximum resident set size (kbytes): {ru.ru_maxrss}\n")
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
PY
    measure_cmd() { # out_file -> command prefix
        if [[ $MEASURE == gnu-time ]]; then
            printf '%s\0' /usr/bin/time -v -o "$1"
        else
            printf '%s\0' python3 "$WORK/rusage.py" "$1"
        fi
    }
}

# Checks SERVER_KIND (nginx or politecrawl), builds the release binary in REPO, and sets BIN to
# it and GIT_REV to the commit it was built from ("+dirty" when src/ or Cargo files changed).
check_server_and_build() {
    case $SERVER_KIND in
    nginx) command -v nginx >/dev/null || die "BENCH_SERVER=nginx but nginx is not installed" ;;
    politecrawl) ;;
    *) die "BENCH_SERVER must be auto, nginx or politecrawl (got '$SERVER_KIND')" ;;
    esac

    # ---------------------------------------------------------------- build
    log "building: cargo build --release (in $REPO)"
    (cd "$REPO" && cargo build --release >&2) || die "cargo build --release failed"
    BIN="${CARGO_TARGET_DIR:-$REPO/target}/release/politecrawl"
    [[ -x $BIN ]] || die "no binary at $BIN"
    "$BIN" --version >/dev/null 2>&1 || die "$BIN --version failed"

    GIT_REV=$(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
    # "+dirty": uncommitted changes to what the binary is built from (not to scripts/).
    if [[ $GIT_REV != unknown ]] &&
        [[ -n $(cd "$REPO" && git status --porcelain --untracked-files=no -- src Cargo.toml Cargo.lock build.rs 2>/dev/null) ]]; then
        GIT_REV="$GIT_REV+dirty"
    fi
}
