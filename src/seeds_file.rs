//! `crawl --seeds-file FILE` (`-` for stdin): one seed URL per line, `#` comments and blank lines
//! ignored, for lists of 100,000 sites.
//!
//! The file is streamed into the frontier in batches of [`BATCH`] (the seen-set keeps a seed given
//! twice, or again on a resume, from being queued twice), so memory follows the batch and the
//! seeds' origins, never the file. Its seeds are not put in the saved settings (which `status`
//! prints): their origins are kept in the `seed_origins` tree, which is what `--scope host` and
//! `--scope domain` are built from on every start, with the settings' seeds. A bad line is
//! reported with its number and skipped; with `--strict` the whole file is checked first and
//! refused if any line is bad, before anything is written.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;

use url::Url;

use crate::canon;
use crate::error::{Error, Result};
use crate::store::Store;

/// Seeds queued per transaction.
pub const BATCH: usize = 10_000;

/// Bad lines named in one `--strict` refusal.
const SHOWN: usize = 5;

/// What reading a seeds file did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Loaded {
    /// Lines that were seeds.
    pub seeds: u64,
    /// Bad lines skipped (each reported on stderr).
    pub bad: u64,
    /// Seeds newly queued (the rest were queued or stored already).
    pub queued: u64,
}

/// A seeds file, opened (and with `strict`, checked whole) before the database is touched.
pub struct SeedsFile {
    name: String,
    reader: Box<dyn BufRead>,
}

impl SeedsFile {
    /// Opens `path` (`-`: stdin). With `strict`, reads it once to check every line, keeping stdin
    /// in a temporary file so the seeds are still streamed, not held.
    pub fn open(path: &Path, strict: bool) -> Result<SeedsFile> {
        let name = if path == Path::new("-") {
            "standard input".to_string()
        } else {
            path.display().to_string()
        };
        let cannot = |e: std::io::Error| Error::Config(format!("--seeds-file {name}: {e}"));
        let open = || -> std::io::Result<Box<dyn Read>> {
            if path == Path::new("-") {
                Ok(Box::new(std::io::stdin()))
            } else {
                Ok(Box::new(std::fs::File::open(path)?))
            }
        };
        let reader: Box<dyn BufRead> = if strict {
            let mut copy = tempfile::tempfile().map_err(cannot)?;
            let mut bad = Vec::new();
            for (i, line) in BufReader::new(open().map_err(cannot)?).lines().enumerate() {
                let line = line.map_err(cannot)?;
                if let Some(Err(e)) = parse_line(&line) {
                    bad.push(format!("line {}: {e}", i + 1));
                }
                writeln!(copy, "{line}").map_err(cannot)?;
            }
            if !bad.is_empty() {
                let more = bad.len().saturating_sub(SHOWN);
                let mut shown = bad[..bad.len().min(SHOWN)].join("; ");
                if more > 0 {
                    shown.push_str(&format!("; and {more} more"));
                }
                return Err(Error::Config(format!(
                    "--seeds-file {name} has {} bad lines (--strict refuses it): {shown}",
                    bad.len()
                )));
            }
            use std::io::Seek;
            copy.rewind().map_err(cannot)?;
            Box::new(BufReader::new(copy))
        } else {
            Box::new(BufReader::new(open().map_err(cannot)?))
        };
        Ok(SeedsFile { name, reader })
    }

    /// Queues the file's seeds into a crawl's own `store`, a batch at a time, and keeps their
    /// origins for the scope. Bad lines are reported and skipped.
    pub fn load(self, store: &Store) -> Result<Loaded> {
        self.load_into(&mut StoreSeeds(store))
    }

    /// Queues the file's seeds into `sink` (a crawl's own store, or a shared crawl), a batch
    /// at a time: each batch's new origins first, then its URLs, so whoever leases one of them
    /// has its origin in scope. Bad lines are reported and skipped.
    pub fn load_into(self, sink: &mut dyn SeedSink) -> Result<Loaded> {
        let mut loaded = Loaded::default();
        let mut batch = Vec::with_capacity(BATCH);
        let mut new_origins: Vec<(String, Option<String>)> = Vec::new();
        let mut origins: HashSet<(String, Option<String>)> = HashSet::new();
        let mut flush = |batch: &mut Vec<Url>,
                         new_origins: &mut Vec<(String, Option<String>)>,
                         loaded: &mut Loaded|
         -> Result<()> {
            sink.origins(new_origins)?;
            new_origins.clear();
            loaded.queued += sink.queue(batch)?;
            batch.clear();
            Ok(())
        };
        for (i, line) in self.reader.lines().enumerate() {
            let line =
                line.map_err(|e| Error::Config(format!("--seeds-file {}: {e}", self.name)))?;
            match parse_line(&line) {
                None => {}
                Some(Err(e)) => {
                    loaded.bad += 1;
                    log::warn!("--seeds-file {} line {}: {e}; skipped", self.name, i + 1);
                }
                Some(Ok((url, prefix))) => {
                    loaded.seeds += 1;
                    let origin = canon::origin_key(&url);
                    let dir = prefix.then(|| directory_of(&url));
                    if origins.insert((origin.clone(), dir.clone())) {
                        new_origins.push((origin, dir));
                    }
                    batch.push(url);
                    if batch.len() >= BATCH {
                        flush(&mut batch, &mut new_origins, &mut loaded)?;
                    }
                }
            }
        }
        flush(&mut batch, &mut new_origins, &mut loaded)?;
        Ok(loaded)
    }
}

/// Where a seeds file's batches go: a crawl's own store, or a shared crawl's PostgreSQL
/// (see [`crate::cluster::seeds`]).
pub trait SeedSink {
    /// Keeps seed origins (`https://host:port`, with the directory of a `scope=prefix` line)
    /// for the scope of every start from now on.
    fn origins(&mut self, origins: &[(String, Option<String>)]) -> Result<()>;
    /// Queues seed URLs not queued before; returns how many were.
    fn queue(&mut self, seeds: &[Url]) -> Result<u64>;
}

/// A crawl's own store: origins in its `seed_origins` tree, URLs in its frontier.
struct StoreSeeds<'a>(&'a Store);

impl SeedSink for StoreSeeds<'_> {
    fn origins(&mut self, origins: &[(String, Option<String>)]) -> Result<()> {
        for (origin, dir) in origins {
            self.0.add_seed_origin(origin, dir.as_deref())?;
        }
        Ok(())
    }

    fn queue(&mut self, seeds: &[Url]) -> Result<u64> {
        Ok(crate::frontier::add_seeds(self.0, seeds)?.len() as u64)
    }
}

/// `None` for a blank or comment line; else the seed, with whether its line says
/// `scope=prefix` (only URLs under its directory are followed on its origin), or why it is not
/// one.
fn parse_line(line: &str) -> Option<std::result::Result<(Url, bool), String>> {
    let t = line.trim();
    if t.is_empty() || t.starts_with('#') {
        return None;
    }
    let mut words = t.split_whitespace();
    let url = words.next()?;
    let mut prefix = false;
    for word in words {
        match word {
            "scope=prefix" => prefix = true,
            "scope=host" => prefix = false,
            other => {
                return Some(Err(format!(
                    "{other:?} after the URL: a line is a URL, optionally followed by \
                     scope=prefix (only URLs under its directory) or scope=host"
                )))
            }
        }
    }
    Some(
        canon::parse_seed(url)
            .map(|u| (u, prefix))
            .map_err(|e| e.to_string()),
    )
}

/// A seed's directory: its path up to its last `/` (`/docs/intro.html` → `/docs/`).
fn directory_of(url: &Url) -> String {
    let path = url.path();
    path[..path.rfind('/').map_or(0, |i| i + 1)].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_seeds_comments_blanks_or_bad() {
        assert!(parse_line("  # a comment").is_none());
        assert!(parse_line("   ").is_none());
        assert_eq!(
            parse_line(" https://a.test/x ")
                .unwrap()
                .unwrap()
                .0
                .as_str(),
            "https://a.test/x"
        );
        let (u, prefix) = parse_line("https://a.test/docs/x.html  scope=prefix")
            .unwrap()
            .unwrap();
        assert_eq!((directory_of(&u).as_str(), prefix), ("/docs/", true));
        let e = parse_line("https://a.test/ depth=2").unwrap().unwrap_err();
        assert!(e.contains("\"depth=2\" after the URL"), "{e}");
        assert!(parse_line("ftp://a.test/").unwrap().is_err());
        assert!(parse_line("a.test").unwrap().is_err());
    }
}
