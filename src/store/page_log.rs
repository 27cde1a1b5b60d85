//! Page records in append-only segment files beside the sled database (`DIR/pages/*.seg`),
//! each with the position of its body: schema 4's answer to "1 M fetched pages must not mean
//! 2–3 M sled keys". sled keeps a few hundred bytes of bookkeeping per tree node for as long as
//! the database is open, so RSS and start-up followed the number of page keys; here a stored
//! page costs no sled key at all once it is on disk.
//!
//! A frame is `len: u32 LE ++ crc32(payload): u32 LE ++ payload`, the payload a postcard
//! [`StoredPage`] followed by the record's later fields, each postcard too (today: the HTTP
//! version, the time it was stored, its place among the URL's versions, the links it
//! dropped, then the address the response came from, then what it is a copy of). A field is read only when bytes remain, so frames written before it existed
//! still read, with the field empty: a field is added at the end, never in between. Only the engine thread appends, so frames are in commit order and the
//! committed records are a prefix of the log: the [`Span`] in `meta/pages_span`, written in the
//! same transaction as the outcomes, says where it ends. Frames past it (a transaction that
//! failed, or a crash before its commit) are cut off when a crawl next opens the database.
//!
//! Crash safety follows the bodies' (see [`super::bodies`]): frames are written before the
//! transaction that counts them (`kill -9` cannot separate them), synced before sled is
//! flushed, and each outcome also puts its frame into the `recent` tree until the flusher
//! knows it is on disk; after a power cut, start-up recovery checks those against the log
//! (see [`crate::frontier::recover_bodies`]).

use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::bodies::{BodyLog, BodyRef};
use super::PageRecord;
use crate::error::{Error, Result};

/// Directory of the segments, inside the database directory.
pub const DIR: &str = "pages";

/// Key in `meta` of the committed [`Span`].
pub(crate) const KEY_SPAN: &[u8] = b"pages_span";

/// A frame's position (segment, offset).
pub type Position = (u32, u64);

/// Bytes before each payload.
const HEADER: usize = 8;

/// What one frame holds: a page's record and where its body is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPage {
    /// The record.
    pub record: PageRecord,
    /// Its body in the body segments, when it has one.
    pub body: Option<BodyRef>,
}

/// A frame's payload: the base [`StoredPage`], then the later fields that are there (see the
/// module doc).
pub(crate) fn decode_frame(payload: &[u8]) -> std::result::Result<StoredPage, postcard::Error> {
    let (mut page, mut rest): (StoredPage, _) = postcard::take_from_bytes(payload)?;
    if !rest.is_empty() {
        (page.record.http_version, rest) = postcard::take_from_bytes(rest)?;
    }
    if !rest.is_empty() {
        (page.record.stored_at_us, rest) = postcard::take_from_bytes(rest)?;
    }
    if !rest.is_empty() {
        (page.record.version, rest) = postcard::take_from_bytes(rest)?;
    }
    if !rest.is_empty() {
        (page.record.links_dropped, rest) = postcard::take_from_bytes(rest)?;
    }
    if !rest.is_empty() {
        (page.record.ip, rest) = postcard::take_from_bytes(rest)?;
    }
    if !rest.is_empty() {
        (page.record.duplicate, _) = postcard::take_from_bytes(rest)?;
    }
    Ok(page)
}

/// A `recent` value (a frame's payload, see [`crate::frontier::recover_bodies`]).
pub(crate) fn decode_recent(payload: &[u8]) -> Result<StoredPage> {
    decode_frame(payload).map_err(|e| Error::Corrupt {
        key: "recent".into(),
        reason: e.to_string(),
    })
}

/// The committed records: from the start of segment `first` to `end` (segment, offset).
/// Compaction moves `first` forward; every outcome moves `end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    /// The oldest segment in use.
    pub first: u32,
    /// Segment and offset just past the last committed frame.
    pub end: (u32, u64),
}

impl Default for Span {
    fn default() -> Self {
        Span {
            first: 1,
            end: (1, 0),
        }
    }
}

/// The page records' log of one database.
#[derive(Debug)]
pub struct PageLog {
    log: BodyLog,
    /// The last `stored_at_us` given out, so the next is later even within one microsecond.
    stamp: std::sync::atomic::AtomicU64,
}

impl PageLog {
    /// Opens the log of the database in `db_dir`. A `writer` (a crawl, compact, repair) first
    /// removes what lies outside `span`: frames past its end and segments a finished
    /// compaction left. A reader changes nothing and reads only within the span.
    pub fn open(db_dir: &Path, span: Span, writer: bool) -> std::io::Result<PageLog> {
        let dir = db_dir.join(DIR);
        let log = BodyLog::open_in_mode(dir, writer)?;
        if writer {
            for s in log.segments()? {
                if s < span.first {
                    log.remove_segment(s)?;
                }
            }
            log.truncate(span.end.0, span.end.1)?;
        }
        Ok(PageLog {
            log,
            stamp: Default::default(),
        })
    }

    /// Encodes and appends the frame of one page; returns its position and its payload.
    pub fn append(
        &self,
        record: &PageRecord,
        body: Option<&BodyRef>,
    ) -> std::io::Result<((u32, u64), Vec<u8>)> {
        // Encodes exactly as a `StoredPage` does, without copying the record.
        #[derive(Serialize)]
        struct Frame<'a> {
            record: &'a PageRecord,
            body: Option<&'a BodyRef>,
        }
        let mut payload = super::encode(&Frame { record, body });
        payload.extend_from_slice(&super::encode(&record.http_version));
        // A copy (compaction) keeps its time; a new record gets the next one.
        let stored = record.stored_at_us.unwrap_or_else(|| self.next_stamp());
        payload.extend_from_slice(&super::encode(&Some(stored)));
        // A field is written when it or one after it is set (see the module doc).
        let ip = record.ip.is_some();
        let copy = record.duplicate.is_some();
        if record.version.is_some() || record.links_dropped > 0 || ip || copy {
            payload.extend_from_slice(&super::encode(&record.version));
        }
        if record.links_dropped > 0 || ip || copy {
            payload.extend_from_slice(&super::encode(&record.links_dropped));
        }
        if ip || copy {
            payload.extend_from_slice(&super::encode(&record.ip));
        }
        if copy {
            payload.extend_from_slice(&super::encode(&record.duplicate));
        }
        let len = u32::try_from(payload.len()).map_err(std::io::Error::other)?;
        let mut frame = Vec::with_capacity(HEADER + payload.len());
        frame.extend_from_slice(&len.to_le_bytes());
        frame.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        frame.extend_from_slice(&payload);
        let r = self.log.append(&frame)?;
        Ok(((r.segment, r.offset), payload))
    }

    /// Now in microseconds since the Unix epoch, or one past the last stamp if that is later.
    pub(crate) fn next_stamp(&self) -> u64 {
        use std::sync::atomic::Ordering;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        let mut last = self.stamp.load(Ordering::Relaxed);
        loop {
            let next = now.max(last + 1);
            match self
                .stamp
                .compare_exchange(last, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return next,
                Err(seen) => last = seen,
            }
        }
    }

    /// A position every frame before which is completely written (see
    /// [`BodyLog::position`]).
    pub fn position(&self) -> (u32, u64) {
        self.log.position()
    }

    /// Where the next frame goes.
    pub fn end(&self) -> (u32, u64) {
        self.log.end()
    }

    /// Cuts the log back to `pos`: frames written for a transaction that did not commit.
    pub fn truncate(&self, pos: (u32, u64)) -> std::io::Result<()> {
        self.log.truncate(pos.0, pos.1)
    }

    /// Starts a new segment (compaction writes its copies there); returns its number.
    pub fn rotate(&self) -> std::io::Result<u32> {
        self.log.rotate()
    }

    /// Makes every frame written so far durable.
    pub fn sync(&self) -> std::io::Result<()> {
        self.log.sync()
    }

    /// Deletes a segment (after compaction switched away from it).
    pub fn remove_segment(&self, segment: u32) -> std::io::Result<()> {
        self.log.remove_segment(segment)
    }

    /// Segment numbers on disk, oldest first.
    pub fn segments(&self) -> std::io::Result<Vec<u32>> {
        self.log.segments()
    }

    /// The payload of the frame at `pos`, if it is there whole with a matching checksum
    /// (start-up recovery asks this of the frames written just before a crash).
    pub fn payload_at(&self, pos: (u32, u64)) -> Option<Vec<u8>> {
        let header = self.log.read_raw(pos.0, pos.1, HEADER).ok()?;
        let (len, crc) = parse_header(&header);
        let payload = self.log.read_raw(pos.0, pos.1 + HEADER as u64, len).ok()?;
        (crc32fast::hash(&payload) == crc).then_some(payload)
    }

    /// Checks that every segment of `span` is there and the last one reaches its end: what
    /// a crawl checks at start-up, after recovery cut back what a power loss took (a file cut
    /// or lost otherwise is damage, and appending after it would bury it).
    pub fn check_extent(&self, db: &Path, span: Span) -> Result<()> {
        for segment in span.first..=span.end.0 {
            let path = self.log.segment_path(segment);
            let len = std::fs::metadata(&path).map(|m| m.len());
            let reason = match &len {
                Err(e) => format!("cannot read it: {e}"),
                Ok(len) if segment == span.end.0 && *len < span.end.1 => {
                    format!(
                        "{len} bytes, but the stored records end at byte {}",
                        span.end.1
                    )
                }
                Ok(_) => continue,
            };
            return Err(Error::PageLog {
                db: db.to_path_buf(),
                file: path,
                offset: len.unwrap_or(0),
                reason,
            });
        }
        Ok(())
    }

    /// Every committed page in `span`, in commit order, read lazily (a buffered sequential read
    /// per segment, so memory stays flat).
    pub fn iter(&self, db: &Path, span: Span) -> PageIter {
        PageIter {
            db: db.to_path_buf(),
            dir: self.log.dir().to_path_buf(),
            span,
            segment: span.first,
            reader: None,
            offset: 0,
            done: span.first > span.end.0,
        }
    }
}

fn parse_header(h: &[u8]) -> (usize, u32) {
    let len = u32::from_le_bytes(h[..4].try_into().unwrap_or_default()) as usize;
    let crc = u32::from_le_bytes(h[4..8].try_into().unwrap_or_default());
    (len, crc)
}

impl PageLog {
    /// The committed pages of `span` from position `from` on (a frame boundary an earlier
    /// iteration reported with [`PageIter::position`]), as [`PageLog::iter`] reads them.
    pub fn iter_from(&self, db: &Path, span: Span, from: Position) -> PageIter {
        let mut it = self.iter(db, span);
        if from.0 >= span.first {
            it.segment = from.0;
            it.offset = from.1;
            it.done = from > span.end;
        }
        it
    }
}

/// Iterator over committed pages: see [`PageLog::iter`].
pub struct PageIter {
    db: PathBuf,
    dir: PathBuf,
    span: Span,
    segment: u32,
    reader: Option<BufReader<std::fs::File>>,
    offset: u64,
    done: bool,
}

impl PageIter {
    /// Where the next frame starts: after the last one returned (a place to resume from with
    /// [`PageLog::iter_from`]).
    pub fn position(&self) -> Position {
        (self.segment, self.offset)
    }

    fn damaged(&self, reason: impl Into<String>) -> Error {
        Error::PageLog {
            db: self.db.clone(),
            file: self.dir.join(format!("{:08}.seg", self.segment)),
            offset: self.offset,
            reason: reason.into(),
        }
    }

    /// The next frame's position and payload, or `None` past the span's end.
    fn next_frame(&mut self) -> Result<Option<(Position, Vec<u8>)>> {
        loop {
            if self.done {
                return Ok(None);
            }
            let last = self.segment == self.span.end.0;
            if last && self.offset >= self.span.end.1 {
                self.done = true;
                return Ok(None);
            }
            if self.reader.is_none() {
                let path = self.dir.join(format!("{:08}.seg", self.segment));
                let opened = std::fs::File::open(&path).and_then(|mut f| {
                    use std::io::{Seek, SeekFrom};
                    f.seek(SeekFrom::Start(self.offset))?;
                    Ok(f)
                });
                match opened {
                    Ok(f) => self.reader = Some(BufReader::with_capacity(64 * 1024, f)),
                    // A segment before the end that is gone was emptied by nothing we do.
                    Err(e) => return Err(self.damaged(format!("cannot open it: {e}"))),
                }
            }
            let reader = self.reader.as_mut().expect("opened above");
            let mut header = [0u8; HEADER];
            match read_full(reader, &mut header) {
                Ok(0) if !last => {
                    // The end of a closed segment: on to the next one.
                    self.segment += 1;
                    self.offset = 0;
                    self.reader = None;
                    continue;
                }
                Ok(n) if n == HEADER => {}
                Ok(_) => return Err(self.damaged("cut short inside a record header")),
                Err(e) => return Err(self.damaged(e.to_string())),
            }
            let (len, crc) = parse_header(&header);
            let mut payload = vec![0u8; len];
            match read_full(reader, &mut payload) {
                Ok(n) if n == len => {}
                Ok(_) => return Err(self.damaged("cut short inside a record")),
                Err(e) => return Err(self.damaged(e.to_string())),
            }
            if crc32fast::hash(&payload) != crc {
                return Err(self.damaged("a record does not match its checksum"));
            }
            let pos = (self.segment, self.offset);
            self.offset += (HEADER + len) as u64;
            return Ok(Some((pos, payload)));
        }
    }
}

impl Iterator for PageIter {
    type Item = Result<(Position, StoredPage)>;

    fn next(&mut self) -> Option<Self::Item> {
        let frame = match self.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => return None,
            Err(e) => {
                self.done = true;
                return Some(Err(e));
            }
        };
        let (pos, payload) = frame;
        Some(decode_frame(&payload).map(|p| (pos, p)).map_err(|e| {
            self.done = true;
            self.damaged(format!("a record does not decode: {e}"))
        }))
    }
}

/// Reads until `buf` is full or the file ends; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_alone_is_appended_with_the_fields_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let log = PageLog::open(dir.path(), Span::default(), true).unwrap();
        let mut record = PageRecord::blank("http://a.test/");
        record.ip = Some("127.0.0.1".into());
        let (pos, payload) = log.append(&record, None).unwrap();
        let read = decode_frame(&payload).unwrap().record;
        assert_eq!(read.ip.as_deref(), Some("127.0.0.1"));
        assert_eq!((read.version, read.links_dropped), (None, 0));
        assert_eq!(log.payload_at(pos), Some(payload));
    }

    #[test]
    fn frames_without_the_later_fields_still_read() {
        let mut record = PageRecord::blank("http://a.test/");
        record.status = Some(200);
        // A frame written before the HTTP version was kept: the base record only.
        let old = crate::store::encode(&StoredPage {
            record: record.clone(),
            body: None,
        });
        assert_eq!(decode_frame(&old).unwrap().record, record);
        // Today's frame: the base record, then the version.
        record.http_version = Some("HTTP/2".into());
        let mut new = old.clone();
        new.extend_from_slice(&crate::store::encode(&record.http_version));
        let read = decode_frame(&new).unwrap();
        assert_eq!(read.record.http_version.as_deref(), Some("HTTP/2"));
        assert_eq!(read.record, record);
        record.stored_at_us = Some(1_796_000_000_000_000);
        new.extend_from_slice(&crate::store::encode(&record.stored_at_us));
        assert_eq!(decode_frame(&new).unwrap().record, record);
        // Links dropped come after the (then empty) version.
        record.links_dropped = 391_000;
        new.extend_from_slice(&crate::store::encode(&record.version));
        new.extend_from_slice(&crate::store::encode(&record.links_dropped));
        assert_eq!(decode_frame(&new).unwrap().record, record);
        // Then the address the response came from.
        record.ip = Some("2001:db8::1".into());
        new.extend_from_slice(&crate::store::encode(&record.ip));
        assert_eq!(decode_frame(&new).unwrap().record, record);
        // A damaged trailer is an error, not a silent `None`.
        let mut bad = old;
        bad.extend_from_slice(&[1, 200]);
        assert!(decode_frame(&bad).is_err());
    }
}
