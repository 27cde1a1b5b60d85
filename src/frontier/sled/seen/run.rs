//! One sorted run of the seen-set: an immutable file of 20-byte entries (fingerprint, depth,
//! sequence number) sorted by fingerprint, in checksummed 4 KiB blocks.
//!
//! Why a file and not sled keys: sled keeps a few hundred bytes in memory for every tree node
//! while the database is open, and its nodes hold at most 16 keys, so a seen-set of one key per
//! URL made memory grow with the crawl. A run costs 20 bytes per URL on disk and, in memory, only
//! the first fingerprint of each block (8 bytes per 204 URLs), read at open.
//!
//! Layout (integers big-endian):
//!
//! | part   | bytes | what |
//! |--------|-------|------|
//! | header | 48    | magic `PCSEEN01`, entries u64, blocks u64, xxh3 of the index u64, reserved u64, xxh3 of the first 40 bytes u64 |
//! | blocks | 4096 each | entries in block u32, 0 u32, up to 204 × (fingerprint u64, depth u32, seq u64), zero padding, xxh3 of the block's first 4088 bytes u64 |
//! | index  | 8 per block | the first fingerprint of each block |
//!
//! A file is written beside its final name, synced, then renamed, so a run that exists under its
//! name is complete; the database's manifest names the runs in use (see [`super`]). Every block
//! read is checked against its checksum, so a flipped byte is reported, never believed.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use xxhash_rust::xxh3::xxh3_64;

const MAGIC: &[u8; 8] = b"PCSEEN01";
const HEADER: usize = 48;
/// Bytes per block.
pub const BLOCK: usize = 4096;
const ENTRY: usize = 20;
/// Entries per block.
pub const PER_BLOCK: usize = (BLOCK - 8 - 8) / ENTRY;
/// Blocks [`Run::verify`] reads at once (1 MiB).
const VERIFY_SLICE: usize = 256;

/// One URL in the seen-set: its fingerprint, and where it was queued (depth and sequence
/// number of its queue key), so a URL found again at a smaller depth can be moved up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// 64 bits of the URL's xxh3 hash.
    pub fp: u64,
    /// Depth of its queue key.
    pub depth: u32,
    /// Sequence number of its queue key (0: never queued under this schema's keys).
    pub seq: u64,
}

/// Why a run could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct RunError {
    /// The run file.
    pub path: PathBuf,
    /// What is wrong with it.
    pub reason: String,
}

/// An open run: the file and its block index.
#[derive(Debug)]
pub struct Run {
    path: PathBuf,
    file: File,
    entries: u64,
    firsts: Vec<u64>,
}

impl Run {
    /// Writes `entries` (sorted by fingerprint, each fingerprint once) as a run at `path`:
    /// written to `path.tmp`, synced, renamed, and the directory synced.
    pub fn write(path: &Path, entries: impl IntoIterator<Item = Entry>) -> io::Result<Run> {
        let tmp = path.with_extension("tmp");
        let file = File::create(&tmp)?;
        let mut out = BufWriter::with_capacity(1 << 16, file);
        out.write_all(&[0u8; HEADER])?;
        let mut firsts = Vec::new();
        let mut block = Vec::with_capacity(BLOCK);
        let mut in_block = 0usize;
        let mut total = 0u64;
        let mut last: Option<u64> = None;
        for e in entries {
            if last.is_some_and(|l| l >= e.fp) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "seen-set run entries must be sorted and unique",
                ));
            }
            last = Some(e.fp);
            if in_block == 0 {
                firsts.push(e.fp);
                block.clear();
                block.extend_from_slice(&[0u8; 8]);
            }
            block.extend_from_slice(&e.fp.to_be_bytes());
            block.extend_from_slice(&e.depth.to_be_bytes());
            block.extend_from_slice(&e.seq.to_be_bytes());
            in_block += 1;
            total += 1;
            if in_block == PER_BLOCK {
                finish_block(&mut block, in_block);
                out.write_all(&block)?;
                in_block = 0;
            }
        }
        if in_block > 0 {
            finish_block(&mut block, in_block);
            out.write_all(&block)?;
        }
        let index: Vec<u8> = firsts.iter().flat_map(|f| f.to_be_bytes()).collect();
        out.write_all(&index)?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        let header = header(total, firsts.len() as u64, xxh3_64(&index));
        file.write_all_at(&header, 0)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)?;
        sync_dir(path)?;
        Ok(Run {
            path: path.to_path_buf(),
            file: File::open(path)?,
            entries: total,
            firsts,
        })
    }

    /// Opens a run, checking its header, size and index; blocks are checked as they are read.
    pub fn open(path: &Path) -> Result<Run, RunError> {
        let bad = |reason: String| RunError {
            path: path.to_path_buf(),
            reason,
        };
        let file = File::open(path).map_err(|e| bad(format!("cannot open it: {e}")))?;
        let len = file
            .metadata()
            .map_err(|e| bad(format!("cannot read its size: {e}")))?
            .len();
        let mut h = [0u8; HEADER];
        file.read_exact_at(&mut h, 0)
            .map_err(|_| bad(format!("truncated: {len} bytes, shorter than its header")))?;
        if &h[..8] != MAGIC {
            return Err(bad("not a seen-set run (wrong magic bytes)".into()));
        }
        if be64(&h[40..48]) != xxh3_64(&h[..40]) {
            return Err(bad("its header fails its checksum".into()));
        }
        let (entries, blocks, index_sum) = (be64(&h[8..16]), be64(&h[16..24]), be64(&h[24..32]));
        let want = (HEADER as u64).saturating_add(blocks.saturating_mul(BLOCK as u64 + 8));
        if len != want || entries > blocks.saturating_mul(PER_BLOCK as u64) {
            return Err(bad(format!(
                "truncated or padded: {len} bytes where its header says {want}"
            )));
        }
        let mut index = vec![0u8; blocks as usize * 8];
        file.read_exact_at(&mut index, HEADER as u64 + blocks * BLOCK as u64)
            .map_err(|e| bad(format!("cannot read its index: {e}")))?;
        if xxh3_64(&index) != index_sum {
            return Err(bad("its block index fails its checksum".into()));
        }
        let firsts = index.chunks_exact(8).map(be64).collect();
        Ok(Run {
            path: path.to_path_buf(),
            file,
            entries,
            firsts,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Entries held.
    pub fn len(&self) -> u64 {
        self.entries
    }

    /// Whether it holds nothing.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// The entry of `fp`, if this run holds it: one block read.
    pub fn get(&self, fp: u64) -> Result<Option<Entry>, RunError> {
        let b = match self.firsts.partition_point(|&f| f <= fp) {
            0 => return Ok(None),
            n => n - 1,
        };
        let block = self.block(b)?;
        let entries = entries_of(&block);
        Ok(entries
            .binary_search_by_key(&fp, |e| e.fp)
            .ok()
            .map(|i| entries[i]))
    }

    /// Every entry in fingerprint order, a block at a time.
    pub fn iter(&self) -> impl Iterator<Item = Result<Entry, RunError>> + '_ {
        (0..self.firsts.len()).flat_map(move |b| match self.block(b) {
            Ok(block) => entries_of(&block)
                .into_iter()
                .map(Ok)
                .collect::<Vec<_>>()
                .into_iter(),
            Err(e) => vec![Err(e)].into_iter(),
        })
    }

    /// Reads every block, checking each against its checksum and the index, and their entry
    /// counts against the header (a lookup checks only the block it reads). A crawl does this
    /// before its first request, so it reads [`VERIFY_SLICE`] blocks at a time and decodes no
    /// entry: the runs hold 20 bytes per URL (2 GB at 100 M URLs), and one read and one
    /// allocation per 4 KiB block made this half a second of every resume's start at 47 M
    /// (docs/BENCHMARKS.md, 3e).
    pub fn verify(&self) -> Result<(), RunError> {
        let blocks = self.firsts.len();
        let mut slice = vec![0u8; VERIFY_SLICE.min(blocks.max(1)) * BLOCK];
        let mut n = 0u64;
        let mut b = 0;
        while b < blocks {
            let k = VERIFY_SLICE.min(blocks - b);
            let bytes = &mut slice[..k * BLOCK];
            let at = HEADER as u64 + b as u64 * BLOCK as u64;
            self.file.read_exact_at(bytes, at).map_err(|e| {
                self.damaged(format!("cannot read blocks {b} to {}: {e}", b + k - 1))
            })?;
            for (i, block) in bytes.chunks_exact(BLOCK).enumerate() {
                n += self.check_block(b + i, block)? as u64;
            }
            b += k;
        }
        if n != self.entries {
            return Err(self.damaged(format!(
                "holds {n} entries, its header says {}",
                self.entries
            )));
        }
        Ok(())
    }

    fn block(&self, b: usize) -> Result<[u8; BLOCK], RunError> {
        let mut block = [0u8; BLOCK];
        let at = HEADER as u64 + b as u64 * BLOCK as u64;
        self.file
            .read_exact_at(&mut block, at)
            .map_err(|e| self.damaged(format!("cannot read block {b}: {e}")))?;
        self.check_block(b, &block)?;
        Ok(block)
    }

    /// Checks block `b`'s bytes against their checksum and the index; returns its entry count.
    fn check_block(&self, b: usize, block: &[u8]) -> Result<usize, RunError> {
        if be64(&block[BLOCK - 8..]) != xxh3_64(&block[..BLOCK - 8]) {
            return Err(self.damaged(format!("block {b} fails its checksum")));
        }
        let n = u32::from_be_bytes([block[0], block[1], block[2], block[3]]) as usize;
        let first = be64(&block[8..16]);
        if n == 0 || n > PER_BLOCK || first != self.firsts[b] {
            return Err(self.damaged(format!("block {b} does not match the index")));
        }
        Ok(n)
    }

    fn damaged(&self, reason: String) -> RunError {
        RunError {
            path: self.path.clone(),
            reason,
        }
    }
}

/// Merges runs into one at `path`. `runs` are newest first: for a fingerprint held by several,
/// the newest entry wins (a URL moved up to a smaller depth since).
pub fn merge(runs: &[&Run], path: &Path) -> Result<Run, RunError> {
    let mut error = None;
    let merged = {
        let mut heads: Vec<_> = runs.iter().map(|r| r.iter().peekable()).collect();
        let error = &mut error;
        std::iter::from_fn(move || {
            // The smallest fingerprint among the heads; ties go to the newest run.
            let mut best: Option<(usize, u64)> = None;
            for (i, h) in heads.iter_mut().enumerate() {
                match h.peek() {
                    Some(Ok(e)) if best.is_none_or(|(_, fp)| e.fp < fp) => best = Some((i, e.fp)),
                    Some(Ok(_)) | None => {}
                    Some(Err(_)) => {
                        if let Some(Err(e)) = h.next() {
                            *error = Some(e);
                        }
                        return None;
                    }
                }
            }
            let (i, fp) = best?;
            let winner = heads[i].next().and_then(Result::ok);
            for h in heads.iter_mut() {
                while matches!(h.peek(), Some(Ok(e)) if e.fp == fp) {
                    h.next();
                }
            }
            winner
        })
    };
    let written = Run::write(path, merged);
    if let Some(e) = error {
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    written.map_err(|e| RunError {
        path: path.to_path_buf(),
        reason: format!("cannot write it: {e}"),
    })
}

fn finish_block(block: &mut Vec<u8>, n: usize) {
    block[..4].copy_from_slice(&(n as u32).to_be_bytes());
    block.resize(BLOCK - 8, 0);
    let sum = xxh3_64(block);
    block.extend_from_slice(&sum.to_be_bytes());
}

fn header(entries: u64, blocks: u64, index_sum: u64) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[..8].copy_from_slice(MAGIC);
    h[8..16].copy_from_slice(&entries.to_be_bytes());
    h[16..24].copy_from_slice(&blocks.to_be_bytes());
    h[24..32].copy_from_slice(&index_sum.to_be_bytes());
    let sum = xxh3_64(&h[..40]);
    h[40..48].copy_from_slice(&sum.to_be_bytes());
    h
}

fn entries_of(block: &[u8; BLOCK]) -> Vec<Entry> {
    let n = u32::from_be_bytes([block[0], block[1], block[2], block[3]]) as usize;
    block[8..8 + n.min(PER_BLOCK) * ENTRY]
        .chunks_exact(ENTRY)
        .map(|c| Entry {
            fp: be64(&c[..8]),
            depth: u32::from_be_bytes([c[8], c[9], c[10], c[11]]),
            seq: be64(&c[12..20]),
        })
        .collect()
}

fn be64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

/// Syncs the directory holding `path`, so a rename or removal in it survives a power cut.
pub fn sync_dir(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) => File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

/// Reads a whole file (for tests that damage runs).
#[cfg(test)]
fn read_all(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(n: u64, step: u64) -> Vec<Entry> {
        (0..n)
            .map(|i| Entry {
                fp: i * step + 1,
                depth: (i % 7) as u32,
                seq: i,
            })
            .collect()
    }

    fn dir(tag: &str) -> tempfile::TempDir {
        tempfile::Builder::new().prefix(tag).tempdir().unwrap()
    }

    #[test]
    fn every_entry_is_found_and_nothing_else() {
        let d = dir("run-get");
        let es = entries(1000, 3);
        let run = Run::write(&d.path().join("r.fp"), es.clone()).unwrap();
        let run2 = Run::open(run.path()).unwrap();
        assert_eq!(run2.len(), 1000);
        for e in &es {
            assert_eq!(run2.get(e.fp).unwrap(), Some(*e));
            assert_eq!(run2.get(e.fp + 1).unwrap(), None);
        }
        assert_eq!(run2.get(0).unwrap(), None);
        assert_eq!(run2.iter().map(Result::unwrap).collect::<Vec<_>>(), es);
        run2.verify().unwrap();
    }

    #[test]
    fn an_empty_run_is_valid() {
        let d = dir("run-empty");
        let run = Run::write(&d.path().join("r.fp"), Vec::new()).unwrap();
        assert!(Run::open(run.path()).unwrap().is_empty());
        assert_eq!(run.get(5).unwrap(), None);
    }

    #[test]
    fn unsorted_input_is_refused() {
        let d = dir("run-unsorted");
        let mut es = entries(3, 1);
        es.swap(0, 2);
        assert!(Run::write(&d.path().join("r.fp"), es).is_err());
    }

    #[test]
    fn merging_keeps_the_newest_entry_of_each_fingerprint() {
        let d = dir("run-merge");
        let old = Run::write(&d.path().join("old.fp"), entries(500, 2)).unwrap();
        let moved: Vec<Entry> = entries(300, 4)
            .into_iter()
            .map(|e| Entry { depth: 0, ..e })
            .collect();
        let new = Run::write(&d.path().join("new.fp"), moved).unwrap();
        let merged = merge(&[&new, &old], &d.path().join("m.fp")).unwrap();
        // Fingerprints 1, 3, ..., 999 (old) and 1, 5, ..., 1197 (new, depth 0): 250 in both.
        assert_eq!(merged.len(), 500 + 300 - 250);
        assert_eq!(merged.get(5).unwrap().unwrap().depth, 0);
        assert_eq!(merged.get(3).unwrap().unwrap().depth, 1);
        assert_eq!(
            merged.get(7).unwrap().unwrap().depth,
            3,
            "only in the old run"
        );
        assert_eq!(
            merged.get(1001).unwrap().unwrap().depth,
            0,
            "only in the new run"
        );
    }

    #[test]
    fn a_flipped_byte_or_a_cut_is_reported_with_the_file() {
        let d = dir("run-damage");
        let path = d.path().join("r.fp");
        Run::write(&path, entries(1000, 5)).unwrap();
        let good = read_all(&path);

        std::fs::write(&path, &good[..good.len() - 3]).unwrap();
        let e = Run::open(&path).unwrap_err();
        assert!(
            e.to_string().contains("r.fp") && e.reason.contains("truncated"),
            "{e}"
        );

        let mut flipped = good.clone();
        flipped[HEADER + BLOCK + 100] ^= 0x40;
        std::fs::write(&path, &flipped).unwrap();
        let run = Run::open(&path).unwrap();
        let e = run.verify().unwrap_err();
        assert!(e.reason.contains("block 1 fails its checksum"), "{e}");
        // A lookup landing on the damaged block is an error, not a "not seen".
        let in_block_1 = (PER_BLOCK as u64 + 3) * 5 + 1;
        assert!(run.get(in_block_1).is_err());
        assert!(run.get(1).unwrap().is_some(), "block 0 is intact");

        // Past the first slice that `verify` reads, and in its last block.
        let run = Run::write(&path, entries(PER_BLOCK as u64 * 300 + 7, 3)).unwrap();
        run.verify().unwrap();
        let long = read_all(&path);
        for b in [VERIFY_SLICE + 2, 300] {
            let mut flipped = long.clone();
            flipped[HEADER + b * BLOCK + 20] ^= 0x01;
            std::fs::write(&path, &flipped).unwrap();
            let e = Run::open(&path).unwrap().verify().unwrap_err();
            assert!(
                e.reason.contains(&format!("block {b} fails its checksum")),
                "{e}"
            );
        }
        std::fs::write(&path, &good).unwrap();

        let mut header = good.clone();
        header[9] ^= 1;
        std::fs::write(&path, &header).unwrap();
        assert!(Run::open(&path).unwrap_err().reason.contains("header"));
    }
}
