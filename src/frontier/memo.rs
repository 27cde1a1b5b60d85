//! A bounded in-memory memo of the seen-set, so a link found again (most links on most pages)
//! costs a hash lookup instead of a sled read inside the outcome transaction.
//!
//! Profiling the benchmark crawl showed the seen-set reads of `frontier::enqueue_tx` (20–60
//! links per page, nearly all already seen) as the largest share of the engine thread's time,
//! and the engine thread is the one writer every outcome waits for. The database stays the
//! truth: this memo only ever answers "seen, at depth ≤ d" for URLs whose seen-set entry is
//! committed, and anything it does not know goes to the database as before.
//!
//! Memory is bounded whatever the crawl's size: two generations of at most
//! [`GENERATION`] entries each; when the newer one fills up, the older is dropped. A URL is
//! keyed by its fingerprint ([`super::fingerprint`]), as in the seen-set itself.

use std::collections::HashMap;

/// Entries per generation: at most twice this many are held (~16 bytes each plus the table).
pub const GENERATION: usize = 1 << 19;

/// URLs known to be in the seen-set, with the depth of their queue key.
#[derive(Debug)]
pub struct SeenMemo {
    young: HashMap<u64, u32, BuildXxh>,
    old: HashMap<u64, u32, BuildXxh>,
    generation: usize,
}

impl Default for SeenMemo {
    fn default() -> Self {
        SeenMemo::with_generation(GENERATION)
    }
}

impl SeenMemo {
    /// A memo holding at most `2 * generation` URLs.
    pub fn with_generation(generation: usize) -> Self {
        SeenMemo {
            young: HashMap::default(),
            old: HashMap::default(),
            generation: generation.max(1),
        }
    }

    /// Whether a URL found at `depth` needs no database look: it is known to be in the
    /// seen-set at that depth or shallower (a shallower find may move a queued URL up).
    pub fn covers(&self, key: u64, depth: u32) -> bool {
        self.young
            .get(&key)
            .or_else(|| self.old.get(&key))
            .is_some_and(|&d| d <= depth)
    }

    /// Remembers a URL whose seen-set entry (at `depth`) is committed.
    pub fn insert(&mut self, key: u64, depth: u32) {
        if self.young.len() >= self.generation && !self.young.contains_key(&key) {
            self.old = std::mem::take(&mut self.young);
        }
        let d = self.young.entry(key).or_insert(depth);
        *d = (*d).min(depth);
    }

    /// URLs remembered (both generations; a URL may be counted twice).
    pub fn len(&self) -> usize {
        self.young.len() + self.old.len()
    }

    /// Nothing remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The keys are already uniform 128-bit hashes: fold them instead of hashing again.
#[derive(Clone, Copy, Debug, Default)]
struct BuildXxh;

impl std::hash::BuildHasher for BuildXxh {
    type Hasher = Fold;
    fn build_hasher(&self) -> Fold {
        Fold(0)
    }
}

#[derive(Clone, Copy, Debug)]
struct Fold(u64);

impl std::hash::Hasher for Fold {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed here; any other input still gets a usable hash.
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 ^= u64::from_le_bytes(b);
        }
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = i;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covers_only_at_the_remembered_depth_or_deeper() {
        let mut m = SeenMemo::default();
        let k = crate::frontier::entry::fingerprint("http://a.test/x");
        assert!(!m.covers(k, 9), "unknown URLs go to the database");
        m.insert(k, 3);
        assert!(m.covers(k, 3));
        assert!(m.covers(k, 7));
        assert!(!m.covers(k, 2), "a shallower find may move the URL up");
        m.insert(k, 1);
        assert!(m.covers(k, 1));
        assert!(!m.covers(crate::frontier::entry::fingerprint("http://a.test/y"), 9));
    }

    #[test]
    fn memory_stays_within_two_generations() {
        let mut m = SeenMemo::with_generation(100);
        for i in 0..10_000 {
            m.insert(
                crate::frontier::entry::fingerprint(&format!("http://a.test/{i}")),
                1,
            );
            assert!(m.len() <= 200, "{} entries after {i} inserts", m.len());
        }
        // The newest are still known, the oldest were forgotten (and go to the database).
        assert!(m.covers(crate::frontier::entry::fingerprint("http://a.test/9999"), 1));
        assert!(!m.covers(crate::frontier::entry::fingerprint("http://a.test/0"), 1));
    }
}
