//! The frontier's vocabulary: origin ids, queue keys, queued entries and their encoding. A leaf
//! (it reads only the store's codec and what a recheck carries), so both backends, the sled
//! queue's chunks and the store share it without importing each other.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Small dense number standing for an origin in queue keys.
pub type OriginId = u64;

/// Rechecks (`--recrawl`) are queued under their origin's id with this bit set: a queue of
/// their own beside the origin's new URLs, leased first, and leased still once a page budget
/// holds new URLs back. Origin ids are sled-generated counters, far below it.
pub const RECHECKS: OriginId = 1 << 63;

/// The origin a queue prefix belongs to (its own id, or its rechecks').
pub fn host_of(prefix: OriginId) -> OriginId {
    prefix & !RECHECKS
}

/// Key of a queued URL: origin id (8 bytes) ++ depth (4) ++ sequence number (8), big-endian,
/// so one origin's shallowest, oldest URL sorts first.
pub type QueueKey = [u8; 20];

/// A queued URL. Attempts travel with it, so a retried or resumed URL keeps its count.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueEntry {
    /// Normalized URL.
    pub url: String,
    /// Link distance from a seed.
    pub depth: u32,
    /// Page that linked here.
    pub referrer: Option<String>,
    /// Requests already made for this URL.
    pub attempts: u32,
    /// Whether it is a sitemap (read for URLs, queued by `--sitemaps`), and at which level.
    pub sitemap: SitemapRole,
    /// The redirects that led to it, first hop first.
    pub redirect_chain: Vec<String>,
    /// For a recheck of a stored URL (`--recrawl`): what the conditional request and the
    /// comparison need. Encoded after the entry's other fields (see [`encode_entry`]), so
    /// values written before it existed still read.
    #[serde(skip)]
    pub revisit: Option<Box<crate::store::versions::Revisit>>,
}

impl QueueEntry {
    /// A URL at `depth` found nowhere in particular: no referrer, no attempts yet.
    pub fn new(url: impl Into<String>, depth: u32) -> QueueEntry {
        QueueEntry {
            url: url.into(),
            depth,
            referrer: None,
            attempts: 0,
            sitemap: SitemapRole::Page,
            redirect_chain: Vec::new(),
            revisit: None,
        }
    }
}

/// What a queued URL is fetched as: a page, or a sitemap at its level. The sitemaps.org protocol
/// has one level of index (an index lists sitemaps, not other indexes), so a sitemap named by a
/// sitemap that an index named is [`SitemapRole::Refused`]: stored `blocked`
/// (`nested_sitemap`), never requested, however far a server nests them.
///
/// Encoded as one byte (postcard writes a variant's index), whose 0 and 1 are the `false` and
/// `true` of the flag it replaced: queues written before it read unchanged, their sitemaps as
/// [`SitemapRole::Named`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SitemapRole {
    /// A page: its links are followed.
    #[default]
    Page,
    /// A sitemap robots.txt names: its pages are queued, and so are the sitemaps it lists
    /// when it is an index (as [`SitemapRole::Indexed`]).
    Named,
    /// A sitemap an index lists: its pages are queued; sitemaps it lists are refused.
    Indexed,
    /// A sitemap named by an [`SitemapRole::Indexed`] one: a second level of index, which
    /// the protocol does not have. Stored `blocked`, never requested.
    Refused,
}

impl SitemapRole {
    /// It is read as a sitemap, not parsed as a page.
    pub fn is_sitemap(self) -> bool {
        self != SitemapRole::Page
    }

    /// The role of a sitemap that a sitemap of this role lists.
    pub fn child(self) -> SitemapRole {
        match self {
            SitemapRole::Page | SitemapRole::Named => SitemapRole::Indexed,
            SitemapRole::Indexed | SitemapRole::Refused => SitemapRole::Refused,
        }
    }
}

/// Encodes an entry: postcard of its base fields, then its revisit when it has one.
pub fn encode_entry(e: &QueueEntry) -> Vec<u8> {
    let mut v = crate::store::encode(e);
    if let Some(r) = &e.revisit {
        v.extend_from_slice(&crate::store::encode(r));
    }
    v
}

/// Decodes what [`encode_entry`] wrote; `name` says where in a corruption message.
pub fn decode_entry(name: &str, bytes: &[u8]) -> Result<QueueEntry> {
    let (mut e, rest): (QueueEntry, _) =
        postcard::take_from_bytes(bytes).map_err(|err| corrupt(name, err))?;
    if !rest.is_empty() {
        e.revisit = Some(crate::store::decode(name, rest)?);
    }
    Ok(e)
}

/// The revisits of a list of entries, by index, to write after the list (postcard writes no
/// field it does not know of, so this is how a list of entries keeps them).
pub(crate) fn revisits_of<'a>(
    entries: impl Iterator<Item = Option<&'a QueueEntry>>,
) -> Vec<(u32, crate::store::versions::Revisit)> {
    entries
        .enumerate()
        .filter_map(|(i, e)| Some((i as u32, (**e?.revisit.as_ref()?).clone())))
        .collect()
}

/// Puts back on `entries` the revisits [`revisits_of`] listed, read from `rest` (empty: none).
pub(crate) fn restore_revisits<'a>(
    name: &str,
    rest: &[u8],
    entries: impl Iterator<Item = Option<&'a mut QueueEntry>>,
) -> Result<()> {
    if rest.is_empty() {
        return Ok(());
    }
    let revisits: Vec<(u32, crate::store::versions::Revisit)> = crate::store::decode(name, rest)?;
    let mut revisits = revisits.into_iter().peekable();
    for (i, e) in entries.enumerate() {
        if revisits.peek().is_some_and(|(at, _)| *at as usize == i) {
            let (_, r) = revisits.next().expect("peeked");
            let e = e.ok_or_else(|| Error::Corrupt {
                key: name.into(),
                reason: format!("a revisit for entry {i}, which is a removal"),
            })?;
            e.revisit = Some(Box::new(r));
        }
    }
    match revisits.next() {
        None => Ok(()),
        Some((i, _)) => Err(Error::Corrupt {
            key: name.into(),
            reason: format!("a revisit for entry {i}, which is not there"),
        }),
    }
}

fn corrupt(name: &str, e: postcard::Error) -> Error {
    Error::Corrupt {
        key: name.into(),
        reason: e.to_string(),
    }
}

/// Encodes a transaction's queue changes (a `queue_log` value).
pub(crate) fn encode_ops(ops: &[Op]) -> Vec<u8> {
    let mut v = crate::store::encode(&ops);
    let revisits = revisits_of(ops.iter().map(|(_, e)| e.as_ref()));
    if !revisits.is_empty() {
        v.extend_from_slice(&crate::store::encode(&revisits));
    }
    v
}

/// Decodes what [`encode_ops`] wrote.
pub(crate) fn decode_ops(bytes: &[u8]) -> Result<Vec<Op>> {
    let (mut ops, rest): (Vec<Op>, _) =
        postcard::take_from_bytes(bytes).map_err(|e| corrupt("queue_log", e))?;
    restore_revisits("queue_log", rest, ops.iter_mut().map(|(_, e)| e.as_mut()))?;
    Ok(ops)
}

/// The queue key of an origin's URL at a depth with a sequence number.
pub fn queue_key(origin_id: OriginId, depth: u32, seq: u64) -> QueueKey {
    let mut k = [0u8; 20];
    k[..8].copy_from_slice(&origin_id.to_be_bytes());
    k[8..12].copy_from_slice(&depth.to_be_bytes());
    k[12..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// The depth in a queue key.
pub fn depth_of_key(key: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(key.get(8..12)?.try_into().ok()?))
}

/// The sequence number in a queue key (its discovery order within origin and depth).
pub fn seq_of_key(key: &QueueKey) -> u64 {
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&key[12..]);
    u64::from_be_bytes(seq)
}

/// The origin in a queue key.
pub fn origin_of_key(key: &[u8]) -> Option<OriginId> {
    Some(u64::from_be_bytes(key.get(..8)?.try_into().ok()?))
}

/// 64 bits of a URL's xxh3 hash: a false "seen" needs a collision, about 1 in 3,700 for a
/// whole 100 M URL crawl.
pub fn fingerprint(url: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(url.as_bytes())
}

/// The seen-set's key of a URL: the fingerprint of its dedupe key (session IDs, tracking
/// parameters and the order of query parameters left out, see [`crate::traps::dedupe_key`]),
/// so `/p?b=2&a=1&utm_source=x` is seen once `/p?a=1&b=2` is.
pub fn key_of(url: &str) -> u64 {
    fingerprint(&crate::traps::dedupe_key(url))
}

/// One change: an entry put under a key, or the key removed.
pub(crate) type Op = (QueueKey, Option<QueueEntry>);
