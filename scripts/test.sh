#!/usr/bin/env bash
# The README's test command: installs what the tests need when it is missing
# (scripts/install-test-deps.sh: gcc, pkg-config, libssl-dev, nginx, openssl, taskset,
# PostgreSQL 15, jq, Chromium, warcio, pywb, wacz, pandas, Playwright, ReplayWeb.page), then runs
# the whole suite. Arguments go to `cargo test`
# (`scripts/test.sh recrawl` runs the recrawl tests only).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh
# warcio and pywb, when they had to go into the project's own venv (see the script above).
export PATH="$PWD/target/test-python/bin:$PATH"
exec cargo test "$@"
