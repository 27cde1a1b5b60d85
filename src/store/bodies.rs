//! Page bodies in append-only segment files beside the sled database (`DIR/bodies/*.seg`).
//!
//! Why not in sled: profiling the benchmark crawl showed sled spending most of its time on the
//! bodies — values of 10–30 KB rewritten with their tree nodes (sled keeps values inline in its
//! nodes, and a node over its size limit becomes a blob file of its own), writes pushed to disk
//! by its I/O threads, and the page cache filled with bodies so that seen-set reads missed it.
//! Here a body is written once, by the worker that fetched it and off the engine thread, with
//! one positioned write; sled keeps only a [`BodyRef`] (segment, offset, length, CRC-32).
//!
//! Crash safety, in the order things happen:
//! 1. a worker writes the body (`pwrite`) before its outcome reaches the engine, so a record
//!    committed to sled always points at bytes the kernel already has: `kill -9` cannot
//!    separate them;
//! 2. the flusher makes the segment durable (`fdatasync`) *before* flushing sled, so after a
//!    flush every record's body is on disk;
//! 3. against a power cut between those two steps, each outcome also writes its body's
//!    position to the `recent` tree; entries behind the last synced position are dropped, and
//!    at start-up the few that remain are checked against the segment (length and CRC). A
//!    body that did not survive sends its URL back to the queue (see
//!    [`crate::frontier::recover_bodies`]).
//!
//! A body written for an outcome that is never committed (a crash, a retried 503) is garbage
//! in the segment: it costs disk space, never correctness.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

/// Directory of the segments, inside the database directory.
pub const DIR: &str = "bodies";

/// A segment is closed and a new one started past this size, so no file grows without bound.
pub const SEGMENT_BYTES: u64 = 256 * 1024 * 1024;

/// Where a stored body is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BodyRef {
    /// Segment number (file `NNNNNNNN.seg`).
    pub segment: u32,
    /// Byte offset in the segment.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
    /// CRC-32 of the bytes, checked when read back.
    pub crc: u32,
}

impl BodyRef {
    /// Key of this body in the `recent` tree: segment then offset, big-endian, so keys sort in
    /// write order and "everything before the synced position" is a range.
    pub fn position_key(&self) -> [u8; 12] {
        position_key(self.segment, self.offset)
    }
}

/// Key for a position in the log (see [`BodyRef::position_key`]).
pub fn position_key(segment: u32, offset: u64) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..4].copy_from_slice(&segment.to_be_bytes());
    k[4..].copy_from_slice(&offset.to_be_bytes());
    k
}

struct Active {
    segment: u32,
    file: Arc<File>,
    len: u64,
    /// Segments written since the last sync, besides the active one.
    unsynced: Vec<(u32, Arc<File>)>,
    /// Places reserved whose bytes are still being written.
    writing: std::collections::BTreeSet<(u32, u64)>,
}

/// The append-only body store of one database.
pub struct BodyLog {
    dir: PathBuf,
    active: Mutex<Active>,
    /// The last segment opened for reading.
    reader: Mutex<Option<(u32, Arc<File>)>>,
}

impl std::fmt::Debug for BodyLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyLog").field("dir", &self.dir).finish()
    }
}

impl BodyLog {
    /// Opens the body log of the database in `db_dir`, creating it when missing; writes go to
    /// the end of the newest segment.
    pub fn open(db_dir: &Path) -> std::io::Result<BodyLog> {
        BodyLog::open_in(db_dir.join(DIR))
    }

    /// Opens an append-only log of segments in `dir` (the page records' log uses the same
    /// segments, see [`super::page_log`]).
    pub fn open_in(dir: PathBuf) -> std::io::Result<BodyLog> {
        BodyLog::open_in_mode(dir, true)
    }

    /// [`BodyLog::open_in`], or for reading only (`status`, `export`): then nothing is created
    /// or opened for writing, so another user's read-only database can be read.
    pub fn open_in_mode(dir: PathBuf, writer: bool) -> std::io::Result<BodyLog> {
        if writer {
            std::fs::create_dir_all(&dir)?;
        }
        let mut newest = 0u32;
        let entries = match std::fs::read_dir(&dir) {
            Err(e) if !writer && e.kind() == std::io::ErrorKind::NotFound => None,
            other => Some(other?),
        };
        for entry in entries.into_iter().flatten() {
            let name = entry?.file_name();
            let n = name.to_str().and_then(|n| n.strip_suffix(".seg"));
            if let Some(n) = n.and_then(|n| n.parse::<u32>().ok()) {
                newest = newest.max(n);
            }
        }
        let segment = newest.max(1);
        let file = if writer {
            open_segment(&dir, segment)?
        } else {
            // Never written through: a handle for the length only (an empty log has none).
            File::open(dir.join(segment_name(segment))).or_else(|_| File::open("/dev/null"))?
        };
        let len = file.metadata()?.len();
        Ok(BodyLog {
            dir,
            active: Mutex::new(Active {
                segment,
                file: Arc::new(file),
                len,
                unsynced: Vec::new(),
                writing: std::collections::BTreeSet::new(),
            }),
            reader: Mutex::new(None),
        })
    }

    /// Writes a body and returns where it is. Safe from many threads at once: only the space
    /// is reserved under the lock, the bytes are written outside it.
    pub fn append(&self, body: &[u8]) -> std::io::Result<BodyRef> {
        let (file, r) = {
            let mut a = self.lock();
            if a.len > 0 && a.len + body.len() as u64 > SEGMENT_BYTES {
                self.next_segment(&mut a)?;
            }
            let r = BodyRef {
                segment: a.segment,
                offset: a.len,
                len: body.len() as u64,
                crc: crc32fast::hash(body),
            };
            a.len += r.len;
            a.writing.insert((r.segment, r.offset));
            (Arc::clone(&a.file), r)
        };
        let written = file.write_all_at(body, r.offset);
        self.lock().writing.remove(&(r.segment, r.offset));
        written.map(|()| r)
    }

    /// Starts a new segment and returns its number: every body written from now on goes to it
    /// or later ones (compaction moves the live bodies of the segments before it).
    pub fn rotate(&self) -> std::io::Result<u32> {
        let mut a = self.lock();
        self.next_segment(&mut a)?;
        Ok(a.segment)
    }

    /// Makes the next segment the active one; the closed one is synced at the next sync.
    fn next_segment(&self, a: &mut Active) -> std::io::Result<()> {
        let next = a.segment + 1;
        let file = Arc::new(open_segment(&self.dir, next)?);
        let old = std::mem::replace(&mut a.file, file);
        let segment = a.segment;
        a.unsynced.push((segment, old));
        a.segment = next;
        a.len = 0;
        Ok(())
    }

    /// Cuts the log back to `offset` in `segment`, dropping every later segment: what was
    /// written past a committed end (a transaction that failed, or a crash before it). Only for
    /// a log with a single writer, with no write going on.
    pub fn truncate(&self, segment: u32, offset: u64) -> std::io::Result<()> {
        let mut a = self.lock();
        for s in self.segments()? {
            if s > segment {
                std::fs::remove_file(self.dir.join(segment_name(s)))?;
            }
        }
        a.unsynced.retain(|(s, _)| *s < segment);
        if a.segment != segment {
            a.file = Arc::new(open_segment(&self.dir, segment)?);
            a.segment = segment;
        }
        if a.file.metadata()?.len() > offset {
            a.file.set_len(offset)?;
        }
        a.len = offset;
        *self.reader.lock().unwrap_or_else(|p| p.into_inner()) = None;
        Ok(())
    }

    /// Reads `len` bytes at `offset` of `segment`, unchecked (the caller's frame carries its
    /// own checksum).
    pub fn read_raw(&self, segment: u32, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        let file = self.reader_for(segment)?;
        let mut buf = vec![0u8; len];
        file.read_exact_at(&mut buf, offset)?;
        Ok(buf)
    }

    /// Where the next write goes: the end of the active segment.
    pub fn end(&self) -> (u32, u64) {
        let a = self.lock();
        (a.segment, a.len)
    }

    /// The path of a segment file.
    pub fn segment_path(&self, segment: u32) -> PathBuf {
        self.dir.join(segment_name(segment))
    }

    /// Segment numbers on disk, oldest first.
    pub fn segments(&self) -> std::io::Result<Vec<u32>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let name = entry?.file_name();
            let n = name.to_str().and_then(|n| n.strip_suffix(".seg"));
            if let Some(n) = n.and_then(|n| n.parse::<u32>().ok()) {
                out.push(n);
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    /// Deletes a segment file (compaction, once nothing refers to it).
    pub fn remove_segment(&self, segment: u32) -> std::io::Result<()> {
        let mut cached = self.reader.lock().unwrap_or_else(|p| p.into_inner());
        if cached.as_ref().is_some_and(|(s, _)| *s == segment) {
            *cached = None;
        }
        std::fs::remove_file(self.dir.join(segment_name(segment)))
    }

    /// A position every body before which is completely written: after a [`BodyLog::sync`]
    /// that starts later, all of them are on disk. (A body still being written holds it back,
    /// so its outcome's `recent` entry is never dropped before its bytes are synced.)
    pub fn position(&self) -> (u32, u64) {
        let a = self.lock();
        a.writing.first().copied().unwrap_or((a.segment, a.len))
    }

    /// Makes every body written so far durable. An older segment with a write still going on
    /// is synced again next time.
    pub fn sync(&self) -> std::io::Result<()> {
        let (file, older, busy) = {
            let mut a = self.lock();
            // Old segments still being written to (reserved before they were closed) must be
            // synced again once those writes are done.
            let busy: Vec<u32> = a.writing.iter().map(|(s, _)| *s).collect();
            (Arc::clone(&a.file), std::mem::take(&mut a.unsynced), busy)
        };
        for (_, f) in &older {
            f.sync_data()?;
        }
        let again = older.into_iter().filter(|(s, _)| busy.contains(s));
        self.lock().unsynced.extend(again);
        file.sync_data()
    }

    /// Reads a body back, checking its length and CRC.
    pub fn read(&self, r: &BodyRef) -> std::io::Result<Vec<u8>> {
        let file = self.reader_for(r.segment)?;
        let len = usize::try_from(r.len).map_err(std::io::Error::other)?;
        let mut buf = vec![0u8; len];
        file.read_exact_at(&mut buf, r.offset)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::UnexpectedEof => std::io::Error::new(
                    e.kind(),
                    format!(
                        "the file ends before the body does: bytes {}..{}",
                        r.offset,
                        r.offset + r.len
                    ),
                ),
                _ => e,
            })?;
        if crc32fast::hash(&buf) != r.crc {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "body at {}:{} ({} bytes) does not match its checksum",
                    segment_name(r.segment),
                    r.offset,
                    r.len
                ),
            ));
        }
        Ok(buf)
    }

    /// Whether a body is intact on disk (used at start-up for bodies written just before a
    /// crash).
    pub fn is_intact(&self, r: &BodyRef) -> bool {
        self.read(r).is_ok()
    }

    /// The directory of the segments, for messages.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn reader_for(&self, segment: u32) -> std::io::Result<Arc<File>> {
        let mut cached = self.reader.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((s, f)) = cached.as_ref() {
            if *s == segment {
                return Ok(Arc::clone(f));
            }
        }
        let f = Arc::new(File::open(self.dir.join(segment_name(segment)))?);
        *cached = Some((segment, Arc::clone(&f)));
        Ok(f)
    }

    fn lock(&self) -> MutexGuard<'_, Active> {
        // A panic while holding the lock leaves the state consistent (plain fields).
        self.active.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn segment_name(segment: u32) -> String {
    format!("{segment:08}.seg")
}

fn open_segment(dir: &Path, segment: u32) -> std::io::Result<File> {
    OpenOptions::new()
        .create(true)
        .read(true)
        .write(true)
        .truncate(false)
        .open(dir.join(segment_name(segment)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("pc-bodies-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn bodies_read_back_and_survive_a_reopen() {
        let d = tempdir("reopen");
        let log = BodyLog::open(&d).unwrap();
        let a = log.append(b"first body").unwrap();
        let b = log.append(b"second").unwrap();
        assert_eq!((a.offset, b.offset), (0, 10));
        log.sync().unwrap();
        drop(log);
        let log = BodyLog::open(&d).unwrap();
        assert_eq!(log.read(&a).unwrap(), b"first body");
        assert_eq!(log.read(&b).unwrap(), b"second");
        let c = log.append(b"third").unwrap();
        assert_eq!(c.offset, 16, "appends continue at the end");
        assert_eq!(log.position(), (1, 21));
    }

    #[test]
    fn a_body_being_written_holds_the_synced_position_back() {
        let d = tempdir("writing");
        let log = BodyLog::open(&d).unwrap();
        log.append(b"done").unwrap();
        // A writer that has reserved its place but not finished writing.
        log.lock().writing.insert((1, 4));
        log.lock().len = 10;
        assert_eq!(log.position(), (1, 4), "not past the unfinished body");
        log.lock().writing.remove(&(1, 4));
        assert_eq!(log.position(), (1, 10));
    }

    #[test]
    fn a_damaged_or_missing_body_is_reported_not_returned() {
        let d = tempdir("damaged");
        let log = BodyLog::open(&d).unwrap();
        let a = log.append(b"0123456789").unwrap();
        let seg = d.join(DIR).join(segment_name(1));
        std::fs::write(&seg, b"0123456788").unwrap();
        assert!(!log.is_intact(&a));
        assert!(log.read(&a).unwrap_err().to_string().contains("checksum"));
        std::fs::write(&seg, b"0123").unwrap();
        assert!(!log.is_intact(&a), "cut short");
    }

    #[test]
    fn many_writers_get_disjoint_places() {
        let d = tempdir("threads");
        let log = Arc::new(BodyLog::open(&d).unwrap());
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let log = Arc::clone(&log);
                std::thread::spawn(move || {
                    (0..200)
                        .map(|i| {
                            let body = format!("thread {t} body {i} ").repeat(i % 7 + 1);
                            (log.append(body.as_bytes()).unwrap(), body)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            for (r, body) in h.join().unwrap() {
                assert_eq!(log.read(&r).unwrap(), body.as_bytes());
            }
        }
    }
}
