//! Pattern budgets (`--pattern-budget`, `--path-pattern-budget`): URL spaces that feed
//! themselves without end — a calendar's next month, a shop's every combination of filters,
//! pagination past the last item — stop growing once their pages stop leading anywhere else
//! (issue "Polite means not wasteful").
//!
//! A URL's *shape* is its origin and path with every run of digits replaced, and whether it
//! has a query (`http://a.test/cal/N/N/N/`, `http://a.test/shop?`). Parameter names and
//! values are left out: a facet space varies the set of parameters, not only their values.
//! A fetched page of shape S *led somewhere* when, among the URLs it found that this run had
//! not met before, some are of another shape not stalled, at least as many as of S itself.
//! When the last N pages of S led nowhere (a fifth of N, when no page of S ever led anywhere:
//! a facet space), S is *stalled*: URLs of it no longer count as somewhere to lead to, and
//! when S is budgeted it is *closed*: URLs of shape S found on pages of shape S are no longer
//! queued (counted as `pattern_budget`). Found on a page of another shape they still are, so a
//! real page inside a closed space is still reached from outside it (a list page from an item,
//! an event day from its month), and URLs already queued are still fetched. A page that led
//! somewhere opens its shape again.
//!
//! Which shapes are budgeted is the [`ShapeKind`]: shapes with a query or a date in the path
//! (calendars, facets, pagers) by `--pattern-budget` (5 by default); shapes that differ only
//! in numbers in the path by `--path-pattern-budget` (off by default), because a chain of
//! real pages each linking the next (`/chain/05.html`) or a site of one shape (`/n/17`) looks
//! the same from its links as a calendar does. Their pages still stall, so a facet page
//! leading only to items that lead nowhere new leads nowhere either.
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

/// What varies in a shape's URLs, which decides the budget that applies to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShapeKind {
    /// A query: facets, sorting, `?page=`, `?month=`. Budgeted by `--pattern-budget`.
    Query,
    /// A date in the path (`/2026/12/07/`, `/2026-12/`): a calendar. Budgeted by
    /// `--pattern-budget`.
    Date,
    /// Only numbers in the path (`/chain/05.html`, `/n/17`): as often a chain of real pages as
    /// a trap, so budgeted only by `--path-pattern-budget` (off by default).
    Path,
}

/// One shape's state.
#[derive(Debug, Default)]
struct Shape {
    /// Pages fetched in a row that led nowhere.
    idle: u32,
    /// Whether a page of it ever led somewhere.
    led: bool,
    /// Past the window: URLs of it no longer count as somewhere to lead to.
    stalled: bool,
}

impl Shape {
    /// Whether its pages led nowhere for `window` pages in a row, or, when none of them
    /// ever led anywhere else (a facet space: each page links more facets than anything
    /// new), for a third of it. Never with a window of 0.
    fn over(&self, window: u32) -> bool {
        window > 0 && (self.idle >= window || (!self.led && self.idle >= window.div_ceil(5)))
    }
}

/// The pattern budget of a run.
#[derive(Debug)]
pub struct PatternBudget {
    /// The window of query and date shapes.
    window: u32,
    /// The window of other shapes.
    path_window: u32,
    shapes: HashMap<u64, Shape>,
    per_origin: HashMap<String, usize>,
    /// Seen-set keys of URLs found, one per slot (0: empty).
    met: Vec<u64>,
    /// URLs of shapes not tracked (over the caps).
    pub untracked: u64,
    /// Shapes tracked at most ([`SHAPES_PER_RUN`]; smaller in tests).
    run_cap: usize,
}

/// A URL's shape, hashed (see the module doc), and its kind.
pub fn shape_of(url: &Url) -> (u64, ShapeKind) {
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
    let kind = if query {
        s.push('?');
        ShapeKind::Query
    } else if has_date(path) {
        ShapeKind::Date
    } else {
        ShapeKind::Path
    };
    (xxhash_rust::xxh3::xxh3_64(s.as_bytes()), kind)
}

/// Whether a path holds a year and a month: four digits, one of `/-_.`, and a number from 1
/// to 12 (`/2026/12/`, `/2026-12-07`, `/archive/1999_1/`), as calendars and date archives
/// write them.
fn has_date(path: &str) -> bool {
    let b = path.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let year = i - start == 4 && (start == 0 || !b[start - 1].is_ascii_alphabetic());
        if year && i + 1 < b.len() && matches!(b[i], b'/' | b'-' | b'_' | b'.') {
            let m = i + 1;
            let mut j = m;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let month = std::str::from_utf8(&b[m..j])
                .ok()
                .and_then(|t| t.parse::<u8>().ok());
            if (1..=2).contains(&(j - m)) && matches!(month, Some(1..=12)) {
                return true;
            }
        }
        if i == start {
            i += 1;
        }
    }
    false
}

impl PatternBudget {
    /// A budget closing a query or date shape after `window` pages in a row that led nowhere,
    /// and any other shape after `path_window` (0: off).
    pub fn new(window: u32, path_window: u32) -> PatternBudget {
        PatternBudget {
            window,
            path_window,
            shapes: HashMap::new(),
            per_origin: HashMap::new(),
            met: Vec::new(),
            untracked: 0,
            run_cap: SHAPES_PER_RUN,
        }
    }

    /// Takes out of `found` (the URLs a page of `page` found) those its closed shape feeds
    /// itself with, telling `skipped` each; returns how many. Then learns whether the page led
    /// somewhere.
    pub fn filter(
        &mut self,
        page: &Url,
        found: &mut Vec<Candidate>,
        mut skipped: impl FnMut(&Candidate),
    ) -> u64 {
        if self.window == 0 && self.path_window == 0 {
            return 0;
        }
        if self.met.is_empty() {
            self.met = vec![0; MET_SLOTS];
        }
        let (own, kind) = shape_of(page);
        // A numbered path's pages are judged like the others, so a query page leading only to
        // numbered pages that lead nowhere leads nowhere either; but their own links are
        // refused only under `--path-pattern-budget`.
        let (stall, refuse) = match kind {
            ShapeKind::Query | ShapeKind::Date => (self.window, self.window),
            ShapeKind::Path if self.window > 0 => (self.window, self.path_window),
            ShapeKind::Path => (self.path_window, self.path_window),
        };
        // A shape without a budget still marks what its pages found as met, so a calendar
        // whose days were linked from elsewhere first does not read them as new.
        if stall == 0 || !self.track(own, page) {
            self.mark_met(found);
            return 0;
        }
        let stalled =
            |shapes: &HashMap<u64, Shape>, s: u64| shapes.get(&s).is_some_and(|s| s.stalled);
        let own_refused = self.shapes.get(&own).is_some_and(|s| s.over(refuse));
        let (mut same, mut other, mut refused) = (0u32, 0u32, 0u64);
        found.retain(|c| {
            if c.url.path().contains(crate::copies::PROBE_PREFIX) {
                return true;
            }
            let (shape, _) = shape_of(&c.url);
            let key = crate::frontier::entry::key_of(c.url.as_str()).max(1);
            let slot = &mut self.met[key as usize % MET_SLOTS];
            let new = *slot != key;
            if shape == own {
                // Counted even when refused: a closed calendar's month still found its next
                // month, which is what keeps it closed.
                same += u32::from(new);
                if own_refused {
                    refused += 1;
                    skipped(c);
                    return false;
                }
            } else if new && !stalled(&self.shapes, shape) {
                other += 1;
            }
            *slot = key;
            true
        });
        let state = self.shapes.entry(own).or_default();
        if other > 0 && other >= same {
            *state = Shape {
                led: true,
                ..Shape::default()
            };
        } else {
            state.idle = state.idle.saturating_add(1);
            state.stalled = state.over(stall);
        }
        refused
    }

    /// [`filter`](Self::filter) without a report of what was refused.
    #[cfg(test)]
    fn filter_quiet(&mut self, page: &Url, found: &mut Vec<Candidate>) -> u64 {
        self.filter(page, found, |_| ())
    }

    /// Notes the URLs found as met.
    fn mark_met(&mut self, found: &[Candidate]) {
        for c in found {
            let key = crate::frontier::entry::key_of(c.url.as_str()).max(1);
            self.met[key as usize % MET_SLOTS] = key;
        }
    }

    /// Whether the shape is tracked (new ones are, within the caps).
    fn track(&mut self, shape: u64, page: &Url) -> bool {
        if self.shapes.contains_key(&shape) {
            return true;
        }
        // The run's cap first: an origin gets its count only with a shape tracked, so the
        // counts are bounded by the shapes, not by the origins a broad crawl meets.
        if self.shapes.len() >= self.run_cap {
            self.untracked += 1;
            return false;
        }
        let origin = page.origin().ascii_serialization();
        let n = self.per_origin.entry(origin).or_default();
        if *n >= SHAPES_PER_ORIGIN {
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
        let s = |u: &str| shape_of(&Url::parse(u).unwrap()).0;
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
        let mut b = PatternBudget::new(6, 0);
        let month = |n: u32| format!("http://a.test/events?month={n}");
        let url = |s: &str| Url::parse(s).unwrap();
        // A month with an event leads somewhere; then six months link only the next.
        let mut found = vec![cand(&month(1)), cand("http://a.test/events/e/1")];
        assert_eq!(b.filter_quiet(&url(&month(0)), &mut found), 0);
        for n in 1..7 {
            let mut found = vec![cand(&month(n + 1))];
            assert_eq!(b.filter_quiet(&url(&month(n)), &mut found), 0, "month {n}");
            assert_eq!(found.len(), 1);
        }
        let mut found = vec![cand(&month(8)), cand("http://a.test/events/e/2")];
        assert_eq!(b.filter_quiet(&url(&month(7)), &mut found), 1);
        assert_eq!(found.len(), 1, "closed: its next month is not queued");
        // A shape none of whose pages ever led anywhere closes after a fifth of the window.
        let facet = |c: &str| format!("http://a.test/shop?color={c}");
        let mut found = vec![cand(&facet("b")), cand(&facet("c"))];
        assert_eq!(b.filter_quiet(&url(&facet("a")), &mut found), 0);
        let mut found = vec![cand(&facet("d")), cand(&facet("e"))];
        assert_eq!(b.filter_quiet(&url(&facet("b")), &mut found), 0);
        let mut found = vec![cand(&facet("f"))];
        assert_eq!(b.filter_quiet(&url(&facet("c")), &mut found), 1);
        // From another shape, a month is still queued.
        let mut found = vec![cand(&month(99))];
        assert_eq!(
            b.filter_quiet(&Url::parse("http://a.test/events").unwrap(), &mut found),
            0
        );
        // A list page leads to new items, more than to new list pages: open.
        for n in 0..10u32 {
            let page = Url::parse(&format!("http://a.test/list?page={n}")).unwrap();
            let mut found = vec![cand(&format!("http://a.test/list?page={}", n + 1))];
            found.extend((0..3).map(|i| cand(&format!("http://a.test/item/{}", n * 3 + i))));
            assert_eq!(b.filter_quiet(&page, &mut found), 0, "page {n}");
        }
        let off = &mut PatternBudget::new(0, 0);
        let mut found = vec![cand(&month(5))];
        assert_eq!(
            off.filter_quiet(&Url::parse(&month(4)).unwrap(), &mut found),
            0
        );
    }

    #[test]
    fn kinds_tell_a_calendar_or_a_query_from_numbered_pages() {
        let k = |u: &str| shape_of(&Url::parse(u).unwrap()).1;
        assert_eq!(k("http://a.test/cal/2026/12/07/"), ShapeKind::Date);
        assert_eq!(k("http://a.test/2026-12/"), ShapeKind::Date);
        assert_eq!(k("http://a.test/archive/1999_1/x.html"), ShapeKind::Date);
        assert_eq!(k("http://a.test/events?month=2026-12"), ShapeKind::Query);
        assert_eq!(k("http://a.test/chain/05.html"), ShapeKind::Path);
        assert_eq!(k("http://a.test/n/2026"), ShapeKind::Path);
        assert_eq!(
            k("http://a.test/v2026/13/"),
            ShapeKind::Path,
            "no year, no month"
        );
        assert_eq!(
            k("http://a.test/2026/13/"),
            ShapeKind::Path,
            "13 is no month"
        );
        assert_eq!(
            k("http://a.test/id/12345/6/"),
            ShapeKind::Path,
            "five digits"
        );
    }

    #[test]
    fn numbered_pages_are_budgeted_only_by_the_path_budget() {
        let url = |n: u32| Url::parse(&format!("http://a.test/chain/{n}.html")).unwrap();
        // A chain of 30 pages each linking only the next: never closed by the default budget.
        let mut b = PatternBudget::new(5, 0);
        for n in 0..30 {
            let mut found = vec![cand(url(n + 1).as_str())];
            assert_eq!(b.filter_quiet(&url(n), &mut found), 0, "page {n}");
        }
        // With a path budget it is, as a calendar is.
        let mut b = PatternBudget::new(0, 5);
        let refused: u64 = (0..30)
            .map(|n| b.filter_quiet(&url(n), &mut vec![cand(url(n + 1).as_str())]))
            .sum();
        assert!(refused > 0);
        // Days a path page found first are met: a date page finding them again led nowhere.
        let mut b = PatternBudget::new(2, 0);
        let day = |d: u32| cand(&format!("http://a.test/cal/2026/12/{d:02}/"));
        b.filter_quiet(
            &Url::parse("http://a.test/index.html").unwrap(),
            &mut (1..29).map(day).collect(),
        );
        let month = Url::parse("http://a.test/cal/2026/12/").unwrap();
        for _ in 0..2 {
            assert_eq!(b.filter_quiet(&month, &mut (1..29).map(day).collect()), 0);
        }
        let next = &mut vec![cand("http://a.test/cal/2027/01/")];
        assert_eq!(
            b.filter_quiet(&month, next),
            1,
            "closed after two pages that led nowhere"
        );
    }

    #[test]
    fn origins_past_the_runs_cap_leave_no_count_behind() {
        let mut b = PatternBudget::new(5, 0);
        b.run_cap = 3;
        for n in 0..10 {
            let page = Url::parse(&format!("http://o{n}.test/list?page=1")).unwrap();
            b.filter_quiet(
                &page,
                &mut vec![cand(&format!("http://o{n}.test/list?page=2"))],
            );
        }
        assert_eq!((b.shapes.len(), b.per_origin.len(), b.untracked), (3, 3, 7));
    }
}
