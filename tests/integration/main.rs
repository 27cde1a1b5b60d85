//! One integration-test binary (one link step on 2 cores). Every test talks to real servers on
//! 127.0.0.1 with ephemeral ports and asserts from the server's request log.

mod support;

mod cli;
mod crawl_fixture;
mod export;
mod hostile;
mod politeness;
// The README against the binary: every flag `crawl --help` and `export --help` list is
// documented there.
mod readme;
mod resume;
mod wrong_response;
