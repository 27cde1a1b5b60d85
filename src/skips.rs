//! The skip report: URLs the crawler found and chose not to queue, with the reason, so that
//! "why was this page never fetched" has an answer (`politecrawl explain`, `export --skipped`).
//!
//! URLs refused when they are leased or fetched (robots.txt, a non-public address, a nested
//! sitemap, a scope changed on a resume) are stored as `blocked` records and need nothing here.
//! What is kept here is what never reaches the queue: links the scope, `--include`,
//! `--exclude`, `--max-url-length` or a trap rule refuses, and pages whose links were not
//! followed for `--max-depth`.
//!
//! A page links thousands of URLs that are refused, most of them the same on every page (a
//! footer's social links), so the report is a **sample**, bounded whatever the crawl's size:
//! per reason and per origin of the page they were found on, the first [`PER_ORIGIN`] distinct
//! URLs, and no more than [`MAX_SAMPLES`] in all; every refusal is **counted** by reason. The
//! sample is appended to `DIR/skipped.jsonl` as it is taken (one JSON object a line: `url`,
//! `reason`, `detail`, `found_on`, `depth`); the counts are written to `DIR/skipped-counts.json`
//! when the run ends, added to the earlier runs'. A run killed with `kill -9` loses its counts
//! and at most the last unflushed lines of the sample; nothing the crawl needs is here.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::canon::{Refusal, Scope};
use crate::error::{Error, Result};

/// Distinct URLs kept per reason and origin of the page they were found on.
pub const PER_ORIGIN: usize = 20;
/// Sample lines kept in all (~200 bytes each on disk; 8 bytes each in memory while running,
/// plus ~100 bytes per reason and origin sampled).
pub const MAX_SAMPLES: usize = 200_000;

/// The sample's file in the database directory.
pub const SAMPLE_FILE: &str = "skipped.jsonl";
/// The counts' file in the database directory.
pub const COUNTS_FILE: &str = "skipped-counts.json";

/// One sampled skip, as written in `skipped.jsonl`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skip {
    /// The URL not queued (for `max_depth`: the page whose links were not followed).
    pub url: String,
    /// Why: `out_of_scope`, `include`, `exclude`, `max_url_length`, a trap rule's name
    /// (`repeated_segment`, ...) or `max_depth`.
    pub reason: String,
    /// The reason in words, naming the setting (the `--exclude` pattern, the scope, ...).
    pub detail: String,
    /// The page it was found on.
    pub found_on: Option<String>,
    /// The depth it would have had.
    pub depth: u32,
}

/// The report of one crawl directory, shared by the workers of a run.
#[derive(Debug)]
pub struct SkipLog {
    dir: PathBuf,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    out: Option<std::io::BufWriter<std::fs::File>>,
    /// Per reason, per origin of the page (a hash of it): the fingerprints of the URLs sampled.
    /// Looked up without allocating: a page refuses most of its links, and most are sampled
    /// already.
    sampled: HashMap<String, HashMap<u64, Vec<u64>>>,
    samples: usize,
    /// Refusals counted by reason: the earlier runs' and this one's.
    counts: BTreeMap<String, u64>,
    /// The first write that failed (the report stops; the crawl does not).
    failed: Option<String>,
}

/// Whether a file's last byte is there and is not a newline.
fn cut_short(f: &mut std::fs::File) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    if f.metadata()?.len() == 0 {
        return Ok(false);
    }
    f.seek(SeekFrom::End(-1))?;
    let mut last = [0u8; 1];
    f.read_exact(&mut last)?;
    Ok(last[0] != b'\n')
}

impl SkipLog {
    /// Opens the report of `dir`: the sample taken so far is read back (so it stays bounded
    /// and distinct across runs) and appended to.
    pub fn open(dir: &Path) -> Result<SkipLog> {
        let mut inner = Inner::default();
        let path = dir.join(SAMPLE_FILE);
        // A damaged line is left out: nothing the crawl needs is in this file.
        for skip in read(dir)? {
            let origin = skip
                .found_on
                .as_deref()
                .and_then(|u| Url::parse(u).ok())
                .map_or(0, |u| origin_hash(&u));
            inner
                .sampled
                .entry(skip.reason)
                .or_default()
                .entry(origin)
                .or_default()
                .push(crate::frontier::entry::fingerprint(&skip.url));
            inner.samples += 1;
        }
        inner.counts = counts(dir);
        let opening = |e| Error::io(format!("opening {}", path.display()), e);
        let mut out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(&path)
            .map_err(opening)?;
        // A line cut by a kill ends here, so this run's first line is not joined to it (and
        // lost with it).
        if cut_short(&mut out).map_err(opening)? {
            out.write_all(b"\n").map_err(opening)?;
        }
        inner.out = Some(std::io::BufWriter::new(out));
        Ok(SkipLog {
            dir: dir.to_path_buf(),
            inner: Mutex::new(inner),
        })
    }

    /// Counts a link the scope refused, and samples it.
    pub fn refused(&self, scope: &Scope, url: &Url, why: Refusal, page: &Url, depth: u32) {
        self.note(
            why.name(),
            url.as_str(),
            || why.describe(scope),
            page,
            depth,
        );
    }

    /// Counts a link a closed URL shape kept out of the queue (see [`crate::shapes`]), and
    /// samples it.
    pub fn pattern_budget(&self, url: &Url, page: &Url, depth: u32) {
        self.note(
            "pattern_budget",
            url.as_str(),
            || {
                "found on a page of its own URL shape, a shape whose last pages led nowhere new \
                 (--pattern-budget, --path-pattern-budget)"
                    .into()
            },
            page,
            depth,
        );
    }

    /// Counts a page whose links were not followed for `--max-depth`, and samples it.
    pub fn too_deep(&self, page: &Url, referrer: Option<&str>, depth: u32, max: u32) {
        let mut inner = self.lock();
        inner.count("max_depth");
        let origin = referrer
            .and_then(|u| Url::parse(u).ok())
            .map_or(0, |u| origin_hash(&u));
        let skip = || Skip {
            url: page.to_string(),
            reason: "max_depth".into(),
            detail: format!(
                "its links would be at depth {}, past --max-depth {max}",
                depth + 1
            ),
            found_on: referrer.map(str::to_string),
            depth,
        };
        inner.sample("max_depth", origin, page.as_str(), skip);
    }

    fn note(
        &self,
        reason: &str,
        url: &str,
        detail: impl FnOnce() -> String,
        page: &Url,
        depth: u32,
    ) {
        let mut inner = self.lock();
        inner.count(reason);
        let skip = || Skip {
            url: url.to_string(),
            reason: reason.to_string(),
            detail: detail(),
            found_on: Some(page.to_string()),
            depth,
        };
        inner.sample(reason, origin_hash(page), url, skip);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes what is buffered, and the counts (called when a run ends). A report that could not
    /// be written is a warning, never a reason to fail the crawl.
    pub fn finish(&self) {
        let mut inner = self.lock();
        let flushed = inner.out.as_mut().map_or(Ok(()), |w| w.flush());
        if let Err(e) = flushed {
            inner.failed.get_or_insert(e.to_string());
        }
        let counts = serde_json::to_vec_pretty(&inner.counts).unwrap_or_default();
        let how = crate::replace_file::How {
            durable: false,
            private: false,
        };
        if let Err(e) = crate::replace_file::replace(&self.dir.join(COUNTS_FILE), &counts, how) {
            inner.failed.get_or_insert(e.to_string());
        }
        if let Some(e) = &inner.failed {
            log::warn!("the skip report ({SAMPLE_FILE}) is incomplete: {e}");
        }
    }

    /// Refusals counted by reason, all runs.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.lock().counts.clone()
    }
}

impl Inner {
    fn count(&mut self, reason: &str) {
        match self.counts.get_mut(reason) {
            Some(n) => *n += 1,
            None => {
                self.counts.insert(reason.to_string(), 1);
            }
        }
    }

    fn sample(&mut self, reason: &str, origin: u64, url: &str, skip: impl FnOnce() -> Skip) {
        if self.samples >= MAX_SAMPLES || self.failed.is_some() {
            return;
        }
        let fp = crate::frontier::entry::fingerprint(url);
        if !self.sampled.contains_key(reason) {
            self.sampled.insert(reason.to_string(), HashMap::new());
        }
        let Some(by_origin) = self.sampled.get_mut(reason) else {
            return;
        };
        let seen = by_origin.entry(origin).or_default();
        if seen.len() >= PER_ORIGIN || seen.contains(&fp) {
            return;
        }
        seen.push(fp);
        self.samples += 1;
        let Some(out) = self.out.as_mut() else {
            return;
        };
        let written = serde_json::to_writer(&mut *out, &skip())
            .map_err(std::io::Error::from)
            .and_then(|()| out.write_all(b"\n"));
        if let Err(e) = written {
            self.failed = Some(e.to_string());
        }
    }
}

/// A hash of `url`'s origin (scheme, host, port), made without building its text.
fn origin_hash(url: &Url) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (url.scheme(), url.host_str(), url.port_or_known_default()).hash(&mut h);
    h.finish()
}

/// The sampled skips of the crawl in `dir`, in the order taken (for `export --skipped` and
/// `explain`); a line cut by a crash is left out.
/// Streamed, so memory does not follow the sample's size; a line that does not read back (cut
/// by a crash, damaged) is left out, and a read error ends the stream.
pub fn read(dir: &Path) -> Result<impl Iterator<Item = Skip>> {
    let path = dir.join(SAMPLE_FILE);
    let file = match std::fs::File::open(&path) {
        Ok(f) => Some(f),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
    };
    Ok(file
        .into_iter()
        .flat_map(|f| std::io::BufReader::new(f).split(b'\n'))
        .map_while(std::io::Result::ok)
        .filter_map(|line| serde_json::from_slice(&line).ok()))
}

/// The refusals counted by reason in `dir`, all finished runs.
pub fn counts(dir: &Path) -> BTreeMap<String, u64> {
    std::fs::read(dir.join(COUNTS_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_is_distinct_bounded_per_origin_and_counted_whole_across_runs() {
        let dir = tempfile::tempdir().unwrap();
        let scope = Scope::new(
            crate::canon::ScopeKind::Host,
            [&Url::parse("http://a.test/").unwrap()],
            &[],
            &[],
            2048,
        )
        .unwrap();
        let page = Url::parse("http://a.test/p").unwrap();
        let log = SkipLog::open(dir.path()).unwrap();
        for round in 0..3 {
            for i in 0..(PER_ORIGIN + 5) {
                let u = Url::parse(&format!("http://b.test/{i}")).unwrap();
                let why = scope.check(&u).unwrap_err();
                assert_eq!((why, round), (Refusal::OutOfScope, round));
                log.refused(&scope, &u, why, &page, 1);
            }
        }
        log.finish();
        let skips: Vec<Skip> = read(dir.path()).unwrap().collect();
        assert_eq!(skips.len(), PER_ORIGIN, "distinct, and per origin at most");
        assert_eq!(
            skips[0].detail,
            "out of --scope host: not on a seed's origin"
        );
        assert_eq!(
            counts(dir.path())["out_of_scope"],
            3 * (PER_ORIGIN as u64 + 5)
        );
        // A second run reads both back: no line added, the counts go on.
        let log = SkipLog::open(dir.path()).unwrap();
        let u = Url::parse("http://b.test/0").unwrap();
        log.refused(&scope, &u, Refusal::OutOfScope, &page, 1);
        log.finish();
        assert_eq!(read(dir.path()).unwrap().count(), PER_ORIGIN);
        assert_eq!(
            counts(dir.path())["out_of_scope"],
            3 * (PER_ORIGIN as u64 + 5) + 1
        );
        // A damaged line (not UTF-8, cut) is left out; the crawl still opens its report.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join(SAMPLE_FILE))
            .unwrap();
        f.write_all(b"\xff\xfe{\"url\n{\"url\":\"x\"").unwrap();
        drop(f);
        SkipLog::open(dir.path()).unwrap().finish();
        assert_eq!(read(dir.path()).unwrap().count(), PER_ORIGIN);
        // The next run's first line is whole, not joined to the cut one.
        let log = SkipLog::open(dir.path()).unwrap();
        let u = Url::parse("http://c.test/new").unwrap();
        let elsewhere = Url::parse("http://d.test/p").unwrap();
        log.refused(&scope, &u, Refusal::OutOfScope, &elsewhere, 1);
        log.finish();
        let skips: Vec<Skip> = read(dir.path()).unwrap().collect();
        assert_eq!(skips.len(), PER_ORIGIN + 1);
        assert_eq!(skips.last().unwrap().url, "http://c.test/new");
    }
}
