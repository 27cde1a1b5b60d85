//! Pattern budgets (`--pattern-budget`): URL spaces that feed themselves without end — a
//! calendar's next month, a shop's every combination of filters, pagination past the last
//! item — stop growing once their pages stop leading anywhere else (issue "Polite means not
//! wasteful").
//!
//! A URL's *shape* is its origin and path with every run of digits replaced, and whether it
//! has a query (`http://a.test/cal/N/N/N/`, `http://a.test/shop?`). Parameter names and
//! values are left out: a facet space varies the set of parameters, not only their values.
//! A fetched page of shape S *led somewhere* when, among the URLs it found that this run had
//! not met before, some are of another shape whose space is still open, at least as many as
//! of S itself. When the last `--pattern-budget` pages of S led nowhere (a third of them, when
//! no page of S ever led anywhere: a facet space), S is *closed*: URLs of
//! shape S found on pages of shape S are no longer queued (counted as `pattern_budget`).
//! Found on a page of another shape they still are, so a real page inside a closed space is
//! still reached from outside it (a list page from an item, an event day from its month), and
//! URLs already queued are still fetched. A page that led somewhere opens its shape again.
//!
//! "Met before" is a lossy table of the seen-set keys of the URLs found (2 MiB, one slot per
//! key hash): an old key pushed out reads as new, which can only keep a space open longer.
//! Memory stays bounded: shapes are tracked up to [`SHAPES_PER_ORIGIN`] per origin and
//! [`SHAPES_PER_RUN`] in all (URLs of untracked shapes are never refused, counted as
//! `shapes_untracked`). Judged by the engine as it settles an outcome, for both backends; a
//! run starts with every shape open.

use std::collections::HashMap;

use url::Url;

use crate::frontier::Candidate;

/// Shapes tracked per origin at most.
pub const SHAPES_PER_ORIGIN: usize = 1_000;

/// Shapes tracked in one run at most (a few dozen bytes each).
pub const SHAPES_PER_RUN: usize = 1_000_000;

/// Slots of the table of keys met (8 bytes each).
const MET_SLOTS: usize = 1 << 18;

/// One shape's state.
#[derive(Debug, Default)]
struct Shape {
    /// Pages fetched in a row that led nowhere.
    idle: u32,
    /// Whether a page of it ever led somewhere.
    led: bool,
    /// No longer fed by its own pages.
    closed: bool,
}

/// The pattern budget of a run.
#[derive(Debug)]
pub struct PatternBudget {
    window: u32,
    shapes: HashMap<u64, Shape>,
    per_origin: HashMap<String, usize>,
    /// Seen-set keys of URLs found, one per slot (0: empty).
    met: Vec<u64>,
    /// URLs of shapes not tracked (over the caps).
    pub untracked: u64,
}

/// A URL's shape, hashed (see the module doc).
pub fn shape_of(url: &Url) -> u64 {
    let mut s = url.origin().ascii_serialization();
    // The path as the seen-set knows it: a session ID in it (`/list;jsessionid=…`), new in
    // every response, would make every link a new shape.
    let key = crate::traps::dedupe_key(url.as_str());
    let path = key
        .split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
        .unwrap_or("/");
    let (path, query) = match path.split_once('?') {
        Some((p, _)) => (p, true),
        None => (path, false),
    };
    let mut digits = false;
    for c in path.chars() {
        if c.is_ascii_digit() {
            if !digits {
                s.push('N');
            }
            digits = true;
        } else {
            digits = false;
            s.push(c);
        }
    }
    // Session IDs and tracking parameters alone do not make a query (see crate::traps).
    if query {
        s.push('?');
    }
    xxhash_rust::xxh3::xxh3_64(s.as_bytes())
}

impl PatternBudget {
    /// A budget closing a shape after `window` pages in a row that led nowhere (0: off).
    pub fn new(window: u32) -> PatternBudget {
        PatternBudget {
            window,
            shapes: HashMap::new(),
            per_origin: HashMap::new(),
            met: Vec::new(),
            untracked: 0,
        }
    }

    /// Takes out of `found` (the URLs a page of `page` found) those its closed shape feeds
    /// itself with; returns how many. Then learns whether the page led somewhere.
    pub fn filter(&mut self, page: &Url, found: &mut Vec<Candidate>) -> u64 {
        if self.window == 0 {
            return 0;
        }
        if self.met.is_empty() {
            self.met = vec![0; MET_SLOTS];
        }
        let own = shape_of(page);
        if !self.track(own, page) {
            return 0;
        }
        let closed =
            |shapes: &HashMap<u64, Shape>, s: u64| shapes.get(&s).is_some_and(|s| s.closed);
        let own_closed = closed(&self.shapes, own);
        let (mut same, mut other, mut refused) = (0u32, 0u32, 0u64);
        found.retain(|c| {
            if c.url.path().contains(crate::copies::PROBE_PREFIX) {
                return true;
            }
            let shape = shape_of(&c.url);
            if shape == own && own_closed {
                refused += 1;
                return false;
            }
            let key = crate::frontier::entry::key_of(c.url.as_str()).max(1);
            let slot = &mut self.met[key as usize % MET_SLOTS];
            let new = *slot != key;
            *slot = key;
            if new && shape == own {
                same += 1;
            } else if new && !closed(&self.shapes, shape) {
                other += 1;
            }
            true
        });
        let window = self.window;
        let state = self.shapes.entry(own).or_default();
        if other > 0 && other >= same {
            *state = Shape {
                led: true,
                ..Shape::default()
            };
        } else {
            // A shape none of whose pages ever led anywhere else (a facet space: each page
            // links more facets than anything new) closes after a third of the window.
            state.idle += 1;
            let early = !state.led && state.idle >= window.div_ceil(3);
            state.closed |= state.idle >= window || early;
        }
        refused
    }

    /// Whether the shape is tracked (new ones are, within the caps).
    fn track(&mut self, shape: u64, page: &Url) -> bool {
        if self.shapes.contains_key(&shape) {
            return true;
        }
        let origin = page.origin().ascii_serialization();
        let n = self.per_origin.entry(origin).or_default();
        if *n >= SHAPES_PER_ORIGIN || self.shapes.len() >= SHAPES_PER_RUN {
            self.untracked += 1;
            return false;
        }
        *n += 1;
        self.shapes.insert(shape, Shape::default());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontier::SitemapRole;

    fn cand(s: &str) -> Candidate {
        Candidate {
            url: Url::parse(s).unwrap(),
            depth: 1,
            referrer: None,
            sitemap: SitemapRole::Page,
            redirect_chain: Vec::new(),
        }
    }

    #[test]
    fn shapes_leave_out_digits_and_query_values() {
        let s = |u: &str| shape_of(&Url::parse(u).unwrap());
        assert_eq!(
            s("http://a.test/cal/2026/12/07/"),
            s("http://a.test/cal/1/1/1/")
        );
        assert_eq!(
            s("http://a.test/shop?color=red"),
            s("http://a.test/shop?size=m&sort=new")
        );
        assert_ne!(s("http://a.test/shop"), s("http://a.test/shop?color=red"));
        assert_eq!(
            s("http://a.test/shop"),
            s("http://a.test/shop?utm_source=x")
        );
        assert_eq!(
            s("http://a.test/list;jsessionid=0AB12CD34EF56789?page=2"),
            s("http://a.test/list?page=3")
        );
        assert_ne!(s("http://a.test/cal/1/"), s("http://b.test/cal/1/"));
        assert_ne!(
            s("http://a.test/blog/post-1"),
            s("http://a.test/shop/item/1")
        );
    }

    #[test]
    fn a_calendar_closes_and_a_listing_stays_open() {
        let mut b = PatternBudget::new(6);
        let month = |n: u32| format!("http://a.test/events?month={n}");
        let url = |s: &str| Url::parse(s).unwrap();
        // A month with an event leads somewhere; then six months link only the next.
        let mut found = vec![cand(&month(1)), cand("http://a.test/events/e/1")];
        assert_eq!(b.filter(&url(&month(0)), &mut found), 0);
        for n in 1..7 {
            let mut found = vec![cand(&month(n + 1))];
            assert_eq!(b.filter(&url(&month(n)), &mut found), 0, "month {n}");
            assert_eq!(found.len(), 1);
        }
        let mut found = vec![cand(&month(8)), cand("http://a.test/events/e/2")];
        assert_eq!(b.filter(&url(&month(7)), &mut found), 1);
        assert_eq!(found.len(), 1, "closed: its next month is not queued");
        // A shape none of whose pages ever led anywhere closes after a third of the window.
        let facet = |c: &str| format!("http://a.test/shop?color={c}");
        let mut found = vec![cand(&facet("b")), cand(&facet("c"))];
        assert_eq!(b.filter(&url(&facet("a")), &mut found), 0);
        let mut found = vec![cand(&facet("d")), cand(&facet("e"))];
        assert_eq!(b.filter(&url(&facet("b")), &mut found), 0);
        let mut found = vec![cand(&facet("f"))];
        assert_eq!(b.filter(&url(&facet("c")), &mut found), 1);
        // From another shape, a month is still queued.
        let mut found = vec![cand(&month(99))];
        assert_eq!(
            b.filter(&Url::parse("http://a.test/events").unwrap(), &mut found),
            0
        );
        // A list page leads to new items, more than to new list pages: open.
        for n in 0..10u32 {
            let page = Url::parse(&format!("http://a.test/list?page={n}")).unwrap();
            let mut found = vec![cand(&format!("http://a.test/list?page={}", n + 1))];
            found.extend((0..3).map(|i| cand(&format!("http://a.test/item/{}", n * 3 + i))));
            assert_eq!(b.filter(&page, &mut found), 0, "page {n}");
        }
        let off = &mut PatternBudget::new(0);
        let mut found = vec![cand(&month(5))];
        assert_eq!(off.filter(&Url::parse(&month(4)).unwrap(), &mut found), 0);
    }
}
