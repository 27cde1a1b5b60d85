#!/usr/bin/env bash
# Export throughput of --fields, WACZ and CDXJ on the two Debian doc corpora (docs/BENCHMARKS.md,
# section 8): each corpus served by `politecrawl serve`, crawled once, then every export run
# twice under /usr/bin/time. Needs python3.11-doc and postgresql-doc-15 (apt) and a release
# build; BIN and OUT (the working directory) may be set.
set -euo pipefail
BIN=$(realpath "${BIN:-target/release/politecrawl}")
mkdir -p "${OUT:-/tmp/politecrawl-export-bench}" && cd "${OUT:-/tmp/politecrawl-export-bench}"
for corpus in python:/usr/share/doc/python3.11/html postgres:/usr/share/doc/postgresql-doc-15/html; do
  name=${corpus%%:*}; dir=${corpus#*:}
  port=$((18400 + RANDOM % 500))
  $BIN serve "$dir" --addr 127.0.0.1:$port > /dev/null 2>&1 &
  spid=$!
  sleep 1
  rm -rf $name.db
  $BIN crawl http://127.0.0.1:$port/index.html --db $name.db --rate 0 --concurrency 16 --no-progress 2>&1 | tail -1
  kill $spid; wait $spid 2>/dev/null || true
  html=$($BIN export --db $name.db --content-type text/html --fields status 2>/dev/null | wc -l)
  echo "corpus $name: $html HTML records"
  for spec in "plain:--format jsonl" \
              "meta:--fields title,description,lang,canonical" \
              "links:--fields links" \
              "text:--fields text" \
              "markdown:--fields markdown" \
              "all:--fields title,text,markdown,links,lang,canonical,description --select h=h1,h2" \
              "csv-all:--format csv --fields title,text,markdown,links,lang,canonical,description" \
              "wacz:--format wacz --out $name.wacz" \
              "cdxj:--format cdxj --out $name.cdxj"; do
    label=${spec%%:*}; args=${spec#*:}
    for run in 1 2; do
      /usr/bin/time -f "$name $label run$run wall=%e user=%U sys=%S maxrss_kb=%M" \
        $BIN export --db $name.db --content-type text/html $args > ./out.$label 2>./err.$label || { cat ./err.$label; exit 1; }
      tail -1 ./err.$label
    done
    ls -l ./out.$label $name.wacz $name.cdxj 2>/dev/null | awk '{print "  size", $5, $9}' | head -3 || true
  done
done
