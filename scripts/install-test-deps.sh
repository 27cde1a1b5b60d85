#!/usr/bin/env bash
# Installs what the build and the tests need, when it is missing, on Debian or Ubuntu with Rust:
# system packages with apt-get (through sudo unless run as root), warcio, pywb, wacz and pandas
# with pip.
# Used by scripts/test.sh and .ci/run; installs nothing when everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."

# Where warcio and pywb go when the python3 on PATH refuses pip installs (Debian's own python3
# is "externally managed", PEP 668): a venv of the project's own, which scripts/test.sh puts
# first on PATH for the tests.
venv=target/test-python
export PATH="$PWD/$venv/bin:$PATH"
python_tools() {
    python3 -c "import warcio, wacz, pandas, playwright" 2>/dev/null &&
        command -v wb-manager >/dev/null 2>&1 && command -v wayback >/dev/null 2>&1 &&
        command -v wacz >/dev/null 2>&1
}

need=()
# curl (surf's backend) is built from source and links the system OpenSSL.
command -v cc >/dev/null 2>&1 || need+=(gcc)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
dpkg -s libssl-dev >/dev/null 2>&1 || need+=(libssl-dev)
# The HTTPS tests run Debian's nginx in a temp dir, with certificates made by `openssl`.
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || need+=(nginx)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
# The wire-timing test pins the crawler to a core beside busy loops with taskset.
command -v taskset >/dev/null 2>&1 || need+=(util-linux)
# The --fields tests read JSON Lines back with jq.
command -v jq >/dev/null 2>&1 || need+=(jq)
# The WACZ test opens the package in ReplayWeb.page in Debian's Chromium (driven by
# Playwright, which never downloads a browser of its own here); npm fetches ReplayWeb.page.
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v npm >/dev/null 2>&1 || need+=(npm)
# The cluster tests start their own PostgreSQL 15 in a temp dir (as the postgres user).
[ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql-15)
# A venv, should the tools below have to go into one, needs ensurepip.
python_tools || python3 -c "import ensurepip" 2>/dev/null || need+=(python3-venv)
if ((${#need[@]})); then
    echo "installing: ${need[*]}" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi

# The WARC tests read exports back with warcio, the reference WARC library; the recrawl tests
# replay a WARC of several versions with pywb, the reference replay tool (which needs warcio);
# the WACZ tests check the package with `wacz validate` (py-wacz, Webrecorder's own); the
# --fields tests read JSON Lines and CSV with pandas; Playwright drives Chromium.
pip_install() {
    python3 -m pip install --quiet "$@" 2>/dev/null && return
    echo "installing warcio, pywb, wacz, pandas and playwright into $venv" >&2
    [ -x "$venv/bin/python3" ] || python3 -m venv "$venv"
    "$venv/bin/python3" -m pip install --quiet warcio pywb wacz pandas playwright
}
python3 -c "import warcio" 2>/dev/null || pip_install warcio
command -v wb-manager >/dev/null 2>&1 && command -v wayback >/dev/null 2>&1 || pip_install pywb
python3 -c "import wacz" 2>/dev/null && command -v wacz >/dev/null 2>&1 || pip_install wacz
python3 -c "import pandas" 2>/dev/null || pip_install pandas
python3 -c "import playwright" 2>/dev/null || pip_install playwright
python_tools || {
    echo "warcio, pywb, wacz, pandas or playwright still missing after installing them; see the messages above" >&2
    exit 1
}

# ReplayWeb.page's two bundled scripts (ui.js, sw.js) from its npm package, unpacked into
# target/test-node/package; only the package itself, not its build dependencies.
rwp=target/test-node
rwp_version=2.4.6
if [ ! -f "$rwp/package/sw.js" ] || ! grep -q "\"version\": \"$rwp_version\"" "$rwp/package/package.json"; then
    echo "fetching ReplayWeb.page $rwp_version with npm" >&2
    rm -rf "$rwp" && mkdir -p "$rwp"
    (cd "$rwp" && npm pack --silent "replaywebpage@$rwp_version" >/dev/null && tar xzf "replaywebpage-$rwp_version.tgz")
fi
