//! A queue chunk: the queued URLs of one origin at one depth whose sequence numbers follow each
//! other, packed into one sled value. Why: sled's memory follows its number of keys, and a
//! chunk of ~1–4 KiB holds some 20–100 URLs under one key.
//!
//! The chunk's key is `origin id ++ depth ++ first sequence number` (the queue key of its first
//! entry), so chunks sort like the entries they hold. In the value (postcard, integers as
//! varints): the referrers used, once each; then per entry its sequence number as a delta
//! from the previous one, its URL front-coded against the previous URL (bytes shared, then the
//! rest), the referrer's index (0: none), attempts, the sitemap role (one byte, 0 or 1 when it
//! was a flag) and any redirect chain.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::frontier::entry::QueueEntry;

/// A chunk stops taking appended URLs once its encoding reaches this size (it is sealed):
/// appending rewrites the whole value, so this bounds what one URL costs to add.
pub const SEAL_BYTES: usize = 1024;

/// A chunk rewritten with more than this is split.
pub const MAX_BYTES: usize = 4096;

#[derive(Serialize, Deserialize)]
struct Packed {
    referrers: Vec<String>,
    entries: Vec<PackedEntry>,
}

#[derive(Serialize, Deserialize)]
struct PackedEntry {
    seq_delta: u64,
    shared: u32,
    rest: String,
    referrer: u32,
    attempts: u32,
    sitemap: crate::frontier::entry::SitemapRole,
    redirect_chain: Vec<String>,
}

/// Encodes entries (sorted by sequence number, all of one depth) as a chunk value.
pub fn encode(entries: &[(u64, QueueEntry)]) -> Vec<u8> {
    let mut referrers: Vec<String> = Vec::new();
    let mut packed = Vec::with_capacity(entries.len());
    let (mut prev_seq, mut prev_url) = (entries.first().map_or(0, |e| e.0), "");
    for (seq, e) in entries {
        let shared = common_prefix(prev_url, &e.url);
        let referrer = match &e.referrer {
            None => 0,
            Some(r) => match referrers.iter().rposition(|x| x == r) {
                Some(i) => i as u32 + 1,
                None => {
                    referrers.push(r.clone());
                    referrers.len() as u32
                }
            },
        };
        packed.push(PackedEntry {
            seq_delta: seq - prev_seq,
            shared: shared as u32,
            rest: e.url[shared..].to_string(),
            referrer,
            attempts: e.attempts,
            sitemap: e.sitemap,
            redirect_chain: e.redirect_chain.clone(),
        });
        (prev_seq, prev_url) = (*seq, &e.url);
    }
    let mut bytes = crate::store::encode(&Packed {
        referrers,
        entries: packed,
    });
    // Rechecks' revisits follow the packed entries, so chunks written before them still read.
    let revisits = crate::frontier::entry::revisits_of(entries.iter().map(|(_, e)| Some(e)));
    if !revisits.is_empty() {
        bytes.extend_from_slice(&crate::store::encode(&revisits));
    }
    bytes
}

/// Decodes a chunk value; `first_seq` and `depth` come from its key.
pub fn decode(first_seq: u64, depth: u32, bytes: &[u8]) -> Result<Vec<(u64, QueueEntry)>> {
    let (p, rest): (Packed, _) = postcard::take_from_bytes(bytes).map_err(|e| Error::Corrupt {
        key: "queue chunk".into(),
        reason: e.to_string(),
    })?;
    let mut out = Vec::with_capacity(p.entries.len());
    let (mut seq, mut url) = (first_seq, String::new());
    for e in p.entries {
        let shared = e.shared as usize;
        if shared > url.len() || !url.is_char_boundary(shared) {
            return Err(corrupt("a URL shares more than the previous one holds"));
        }
        url.truncate(shared);
        url.push_str(&e.rest);
        seq = seq
            .checked_add(e.seq_delta)
            .ok_or_else(|| corrupt("sequence numbers overflow"))?;
        let referrer = match e.referrer {
            0 => None,
            i => Some(
                p.referrers
                    .get(i as usize - 1)
                    .ok_or_else(|| corrupt("a referrer index past the table"))?
                    .clone(),
            ),
        };
        out.push((
            seq,
            QueueEntry {
                url: url.clone(),
                depth,
                referrer,
                attempts: e.attempts,
                sitemap: e.sitemap,
                redirect_chain: e.redirect_chain,
                revisit: None,
            },
        ));
    }
    let entries = out.iter_mut().map(|(_, e)| Some(e));
    crate::frontier::entry::restore_revisits("queue chunk", rest, entries)?;
    Ok(out)
}

fn corrupt(reason: &str) -> Error {
    Error::Corrupt {
        key: "queue chunk".into(),
        reason: reason.into(),
    }
}

/// Bytes two URLs share at the start, on a character boundary.
fn common_prefix(a: &str, b: &str) -> usize {
    let mut n = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    while !b.is_char_boundary(n) {
        n -= 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(url: &str, referrer: Option<&str>) -> QueueEntry {
        QueueEntry {
            url: url.into(),
            depth: 3,
            referrer: referrer.map(str::to_string),
            attempts: 2,
            sitemap: crate::frontier::entry::SitemapRole::Page,
            redirect_chain: vec![],
            revisit: None,
        }
    }

    #[test]
    fn entries_round_trip_and_pack_small() {
        let es: Vec<(u64, QueueEntry)> = (0..50u64)
            .map(|i| {
                let e = entry(
                    &format!("http://example.com/docs/page-{i}.html"),
                    Some("http://example.com/docs/"),
                );
                (1000 + i * 3, e)
            })
            .chain([(2000, entry("http://example.com/é/ü", None))])
            .collect();
        let bytes = encode(&es);
        assert_eq!(decode(1000, 3, &bytes).unwrap(), es);
        // ~40-byte URLs sharing all but their last few bytes, and a shared referrer: some 14
        // bytes per entry instead of the ~80 of a URL and a referrer.
        assert!(bytes.len() < 51 * 16, "{} bytes", bytes.len());
    }

    #[test]
    fn a_damaged_chunk_is_an_error_not_a_panic() {
        let es = vec![(5, entry("http://a/x", Some("http://a/")))];
        let mut bytes = encode(&es);
        for i in 0..bytes.len() {
            bytes[i] ^= 0xff;
            let _ = decode(5, 0, &bytes);
            bytes[i] ^= 0xff;
        }
        assert!(decode(5, 0, &bytes[..bytes.len() - 1]).is_err());
    }
}
