//! One integration-test binary (one link step on 2 cores). Every test talks to real servers on
//! 127.0.0.1 with ephemeral ports and asserts from the server's request log.

// Helpers, no tests: the binary and `run`, temp dirs, the fixture and route servers, fast
// loopback configs, `crawl` and `stored`, the raw TCP server, and the timing-test lock.
mod support;
// Proxies that record what goes through them: HTTP (answering for the targets) and SOCKS5.
mod proxy;
// Certificates made with `openssl` and Debian's nginx in a temp dir, for the transport tests.
mod nginx;
// Debian's PostgreSQL 15 in a temp dir on a unix socket, for the cluster tests.
mod pg;

// The real binary's command line: crawl → status → export, `demo`, the errors and hints a user
// sees (bad or dead seed, foreign, locked or unwritable database), progress lines and
// `--report`, completions, and the defaults `crawl --help` states.
mod cli;
// `crawl --config FILE` and `politecrawl config`: printed settings crawl the same way again,
// the command line wins, bad keys and values are named with their line.
mod config_file;
// The shared frontier over PostgreSQL: crawls created and joined by name, their shards, and the
// errors of a wrong URL, an unreachable server and a schema of another version.
mod cluster;
// Shared crawls end to end: worker processes on four origins, one killed, one stalled past its
// lease, PostgreSQL restarted under them, and bad --frontier input.
mod cluster_crawl;
// `--warc` in a shared crawl: each worker's live WARC files, together each page once, across a
// kill -9 between a worker's local store and its commit, a commit the fence refuses, and
// PostgreSQL restarted under them.
mod cluster_warc;
// `--retry-failed` with `--frontier`: the shared crawl's failed URLs queued again as a round of
// the crawl's, planned once with three workers and a kill -9; a layout of version 1 upgraded.
mod cluster_recrawl;
// The one setup path on a shared crawl: a seeds file of many origins (one given while workers
// run), logins, a proxy's login and credential headers reaching every worker (one killed, one
// started later with `worker` only) and shown nowhere; an older database layout upgraded.
mod cluster_setup;
// `compact`: unreferenced body bytes reclaimed, every body the same, a crash mid-way harmless.
mod compact;
// Library crawls of the fixture site against `fixtures/site-expected.txt` and the server's log:
// the reachable set, --include/--exclude, --max-depth, --max-pages, scope, --rate spacing,
// --max-body, a second open refused, and status and JSONL export against the store.
mod crawl_fixture;
// Exports read back with other tools: WARC with warcio (and --max-file-size splits), CSV with a
// CSV reader, the filters, and the mirror (links resolve, nothing written outside it).
mod export;
// `export --fields` and `--select`: known answers on a Latin-1 page, `<noscript>` links and a
// page that is not HTML, read back with jq and pandas.
mod fields;
// `export --format wacz` and `cdxj`: `wacz validate` accepts the package, its index is
// cdxj-indexer's, pywb replays every page from its WARC and index byte-identical.
mod wacz;
// `crawl --warc`: live WARC files, rotated, every page once after kill -9 and torn records.
mod live_warc;
// Misbehaving servers, one table row each (path, raw TCP answer, the record it must end with);
// retries of transient failures; --accept-type.
mod hostile;
// What real servers send outside every list: odd status codes kept as sent and acted on as
// their class, robots.txt behind one, malformed heads final at once.
mod real_web;
// Limits one server cannot talk the crawler past: sitemap indexes nested without end (one level
// followed, the rest stored blocked), --max-links per response, a cookie flood and a saved jar
// over the limits (the Cookie header stays under 8 KB).
mod real_web_limits;
// What a user finds on disk after a crawl of the real web: a mirror where two URLs never share a
// file and no symlink is followed, config-file logins, a bad User-Agent refused before any
// write, an export's own temporary file (gone on SIGTERM), `export | head`, cut body segments.
mod real_web_files;
// robots.txt redirects: the target's gap, credential headers to the seeds only, refused
// addresses not followed.
mod real_web_robots;
// Requests not spent on duplicates and traps: the dedupe key (session IDs, tracking and
// print/share parameters, parameter order), the trap rules on paths, duplicate content, soft
// 404s and pattern budgets, --max-bytes, --retry-failed, scope checked at lease, explain and
// the skip report, from the server's log.
mod traps;
// Politeness from the server's side: per-origin gaps and in-flight caps, robots.txt (rules,
// 4xx, 5xx, unreachable, redirects, not refetched on resume, --ignore-robots), Crawl-delay,
// Retry-After, sitemaps.
mod politeness;
// --seeds-file: seeds from a file or stdin, bad lines named (or refused with --strict), each
// seed's site in scope, more seeds on a resume.
mod seeds_file;
// The seen-set's run files: a crash at each checkpoint step, a damaged run refused and
// repaired, a schema 2 database from the previous release upgraded (after a crash mid-upgrade
// too) and resumed without fetching a stored page again.
mod seen_set;
// --recrawl from the server's side: conditional requests honoured or ignored, pages changed
// and gone, versions, totals and round counts.
mod recrawl;
// The docs against the code: every flag `crawl --help` and `export --help` list is documented
// in docs/GUIDE.md, every source file is in ARCHITECTURE's map, one picture, no dated prose.
mod readme;
// The library's modules import each other without circles, read from src/ as Rust; the circles
// not opened yet are listed, and the list only shrinks.
mod imports;
// The real binary interrupted (kill -9, SIGTERM, Ctrl-C, a full disk) and resumed: nothing
// lost or fetched twice, saved settings and overrides, attempts and back-off kept, a future
// schema refused, many origins.
mod resume;
// HTTPS against nginx with a test CA: --ca-cert, --insecure, client certificates, HTTP/2, and
// certificate failures with their own kinds.
mod tls;
// What requests carry, from the server's side: --header, Basic credentials for their own
// origin only (never across a redirect or into exports, reports or logs), kept for a resume.
mod transport;
// Secrets: credential --headers sent and kept for a resume but redacted in every file and
// output; the --frontier password from PGPASSWORD or a password file; passwords masked in
// every message (frontier, seed, proxy, seeds file).
mod secrets;
// Request starts on the wire, stamped by the kernel at the server: never closer than the gap,
// with the crawler pinned to a core beside busy loops, one or several requests in flight.
mod wire_timing;
// DNS from the name server's side (--dns-server on loopback): one lookup per host, NXDOMAIN
// final with no request sent, SERVFAIL asked again; a bad --dns-server refused.
mod dns;
// Why the curl backend: after timeouts and cut bodies on pooled connections, no URL ever
// receives another URL's response.
mod wrong_response;
