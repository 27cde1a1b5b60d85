//! A browsable local copy, as `wget -m -E` lays it out: `DIR/HOST[+PORT]/path`, `/a/` →
//! `a/index.html`, an HTML page without an `.html`/`.htm` name gets one appended, and a query
//! string becomes part of the file name (`search.html?q=1` → `search.html@q=1.html`). Links in
//! HTML (rewritten with lol_html) point to the local copy, relative to the page, when their
//! target was stored, and stay absolute otherwise.
//!
//! Two URLs never share a file. Several can want the same name (`/p?q=1` and `/p@q=1`,
//! `/x%2Fy` and `/x_y`, `/same` and `/same.html`, `/dir/` and `/dir/index.html`): where each
//! page goes is decided in one pass over the records before anything is written, in the order
//! they are written, and the first keeps the name while a later one gets a hash of its URL
//! before the extension (`same-1a2b3c4d.html`), the same name on every run. Links point to the
//! name actually used. That pass holds a small entry per mirrored page and a hash per path and
//! directory (~60 bytes a page, ~80 MB per million pages with the maps' overhead), the one part
//! of an export that grows with the crawl.
//!
//! Only successful (2xx) responses with a body are written. No file is ever written outside
//! `DIR`: each path segment is percent-decoded and then made safe (`/`, `\`, NUL and control
//! characters replaced, `.` and `..` renamed, long names shortened with a hash), and files are
//! created one directory at a time without following a symlink already inside `DIR` (see
//! [`super::beneath`]).

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use lol_html::{element, HtmlRewriter, Settings};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};
use url::Url;

use super::beneath::{self, Refused};
use super::Filter;
use super::Source;
use crate::error::{Error, Result};
use crate::store::{PageRecord, UrlState};
use crate::{canon, charset, extract};

/// Longest file name written, in bytes (most file systems allow 255).
const MAX_NAME: usize = 200;

/// Other names tried for a URL whose own is taken, before it is skipped.
const ALTERNATIVES: u8 = 8;

/// What a mirror run wrote.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct MirrorSummary {
    /// Files written (each a different URL's; none written over another of this run).
    pub files: u64,
    /// Links pointed at local copies.
    pub links_local: u64,
    /// Of the files, those written under another name because an earlier URL had theirs.
    pub renamed: u64,
    /// URLs that could not be placed (a file where a directory is needed, or the reverse).
    pub skipped: u64,
    /// URLs not written because a symlink inside `DIR` stood in their way (never followed).
    pub symlinks: u64,
}

/// Whether a record is mirrored.
fn mirrored(rec: &PageRecord) -> bool {
    rec.state == UrlState::Done && rec.status.is_some_and(|s| (200..300).contains(&s))
}

/// The path of `url`'s copy, relative to the mirror directory.
pub fn local_path(url: &Url, html: bool) -> PathBuf {
    let host = canon::host_label(url).replace(':', "+");
    let mut path = PathBuf::from(safe_segment(&host));
    let segments: Vec<&str> = url.path().split('/').skip(1).collect();
    let (dirs, last) = segments.split_at(segments.len().saturating_sub(1));
    for seg in dirs.iter().filter(|s| !s.is_empty()) {
        path.push(safe_segment(&percent_decode_str(seg).decode_utf8_lossy()));
    }
    let mut name = match last.first() {
        Some(s) if !s.is_empty() => percent_decode_str(s).decode_utf8_lossy().into_owned(),
        _ => "index.html".to_string(),
    };
    if let Some(q) = url.query() {
        name.push('@');
        name.push_str(q);
    }
    let lower = name.to_ascii_lowercase();
    if html && !(lower.ends_with(".html") || lower.ends_with(".htm")) {
        name.push_str(".html");
    }
    path.push(safe_segment(&name));
    path
}

/// One file or directory name that cannot climb out or hide: separators, NUL and controls
/// replaced, dot names renamed, length capped (a hash of the full name keeps names distinct).
fn safe_segment(raw: &str) -> String {
    let mut s: String = raw
        .chars()
        .map(|c| match c {
            '/' | '\\' | '\0' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect();
    if s.is_empty() || s == "." || s == ".." {
        s = format!("_{s}_");
    }
    if s.len() > MAX_NAME {
        let hash = crate::export::warc::digest(raw.as_bytes());
        let ext = s
            .rfind('.')
            .filter(|i| s.len() - i <= 8)
            .map(|i| s[i..].to_string())
            .unwrap_or_default();
        let mut cut = MAX_NAME - 17 - ext.len();
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s = format!("{}-{}{ext}", &s[..cut], &hash[5..21]);
    }
    s
}

/// Characters escaped when a local path is written into an href.
const HREF: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'?')
    .add(b'<')
    .add(b'>')
    .add(b'`');

/// `to` relative to the directory of `from` (both relative to the mirror root), as an href. A
/// first segment with a colon (`Help:Contents`) would read as a scheme, so it gets `./`.
fn relative_href(from: &Path, to: &Path) -> String {
    let from_dir: Vec<_> = from
        .parent()
        .map(|p| p.components().collect())
        .unwrap_or_default();
    let to_parts: Vec<_> = to.components().collect();
    let common = from_dir
        .iter()
        .zip(&to_parts)
        .take_while(|(a, b)| a == b)
        .count();
    let mut parts: Vec<String> = vec!["..".into(); from_dir.len() - common];
    for c in &to_parts[common..] {
        if let Component::Normal(n) = c {
            parts.push(utf8_percent_encode(&n.to_string_lossy(), HREF).to_string());
        }
    }
    let href = parts.join("/");
    if parts.first().is_some_and(|p| p.contains(':')) {
        format!("./{href}")
    } else {
        href
    }
}

/// Where a URL's copy goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Name {
    /// Its own path ([`local_path`]).
    Own,
    /// Its own path with the `n`th hash of its URL before the extension.
    Alternative(u8),
    /// Nowhere: a file already stands where it needs a directory.
    Skipped,
}

#[derive(Clone, Copy, Debug)]
struct Place {
    html: bool,
    name: Name,
    written: bool,
}

/// Where every mirrored URL goes, decided before anything is written (see the module doc).
#[derive(Default)]
struct Plan {
    /// By the fingerprint of the URL.
    places: HashMap<u64, Place>,
    /// Hashes of the file paths taken.
    files: HashSet<u64>,
    /// Hashes of the directories those files need.
    dirs: HashSet<u64>,
}

fn path_key(p: &Path) -> u64 {
    xxhash_rust::xxh3::xxh3_64(p.as_os_str().as_bytes())
}

impl Plan {
    /// Gives `url` its place: its own path when free, else the first free alternative.
    fn add(&mut self, url: &Url, html: bool) {
        let key = crate::frontier::entry::fingerprint(url.as_str());
        if self.places.contains_key(&key) {
            return;
        }
        let own = local_path(url, html);
        let under_a_file = own
            .ancestors()
            .skip(1)
            .any(|d| self.files.contains(&path_key(d)));
        let free =
            |p: &Path| !self.files.contains(&path_key(p)) && !self.dirs.contains(&path_key(p));
        let name = if under_a_file {
            Name::Skipped
        } else if free(&own) {
            Name::Own
        } else {
            (1..=ALTERNATIVES)
                .find(|&n| free(&alternative(&own, url, n)))
                .map_or(Name::Skipped, Name::Alternative)
        };
        let place = Place {
            html,
            name,
            written: false,
        };
        self.places.insert(key, place);
        if let Some(p) = place_path(url, place) {
            self.files.insert(path_key(&p));
            for d in p.ancestors().skip(1).filter(|d| !d.as_os_str().is_empty()) {
                self.dirs.insert(path_key(d));
            }
        }
    }

    /// The path of `url`'s copy, when it has one.
    fn path(&self, url: &Url) -> Option<PathBuf> {
        let place = self
            .places
            .get(&crate::frontier::entry::fingerprint(url.as_str()))?;
        place_path(url, *place)
    }
}

fn place_path(url: &Url, place: Place) -> Option<PathBuf> {
    let own = local_path(url, place.html);
    match place.name {
        Name::Own => Some(own),
        Name::Alternative(n) => Some(alternative(&own, url, n)),
        Name::Skipped => None,
    }
}

/// `own` with the `n`th hash of `url` before its extension: `p.html` → `p-1a2b3c4d.html`,
/// `x_y` → `x_y-1a2b3c4d`.
fn alternative(own: &Path, url: &Url, n: u8) -> PathBuf {
    let name = own
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let hash = xxhash_rust::xxh3::xxh3_64_with_seed(url.as_str().as_bytes(), u64::from(n));
    let tag = &format!("{hash:016x}")[..8];
    let (stem, ext) = match name.rfind('.').filter(|&i| i > 0 && name.len() - i <= 8) {
        Some(i) => name.split_at(i),
        None => (name.as_str(), ""),
    };
    own.with_file_name(format!("{stem}-{tag}{ext}"))
}

/// Writes the mirror of `store` (records passing `filter`) under `dir`.
pub fn write(store: &dyn Source, filter: &Filter, dir: &Path) -> Result<MirrorSummary> {
    let mut plan = Plan::default();
    for page in super::records(store, filter) {
        let rec = page?.record;
        if let (true, Ok(url)) = (mirrored(&rec), Url::parse(&rec.url)) {
            plan.add(&url, extract::is_html(rec.content_type.as_deref()));
        }
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    // DIR itself is the user's to choose, a symlink or not; nothing inside it is followed.
    let root =
        std::fs::File::open(dir).map_err(|e| Error::io(format!("opening {}", dir.display()), e))?;
    let mut summary = MirrorSummary::default();
    for page in super::records(store, filter) {
        let page = page?;
        let rec = &page.record;
        if !mirrored(rec) {
            continue;
        }
        let Ok(url) = Url::parse(&rec.url) else {
            continue;
        };
        let key = crate::frontier::entry::fingerprint(url.as_str());
        let Some(place) = plan.places.get(&key).copied().filter(|p| !p.written) else {
            continue;
        };
        let Some(rel) = place_path(&url, place) else {
            summary.skipped += 1;
            continue;
        };
        let Some(body) = super::body(store, &page, filter)? else {
            continue;
        };
        let data = if place.html {
            let (out, local) =
                rewrite_links(&plan, &url, &rel, &body, rec.content_type.as_deref())?;
            summary.links_local += local;
            out
        } else {
            body
        };
        let mut file = match beneath::create(&root, &rel) {
            Ok(f) => f,
            Err(Refused::Symlink) => {
                summary.symlinks += 1;
                continue;
            }
            Err(Refused::Taken) => {
                summary.skipped += 1;
                continue;
            }
            Err(Refused::Io(e)) => {
                return Err(Error::io(
                    format!("creating {}", dir.join(&rel).display()),
                    e,
                ))
            }
        };
        file.write_all(&data)
            .map_err(|e| Error::io(format!("writing {}", dir.join(&rel).display()), e))?;
        if let Some(p) = plan.places.get_mut(&key) {
            p.written = true;
        }
        summary.files += 1;
        if matches!(place.name, Name::Alternative(_)) {
            summary.renamed += 1;
        }
    }
    Ok(summary)
}

/// Rewrites the links of one page: stored targets become relative local paths, others
/// absolute URLs; `<base>` is dropped (local links must resolve against the local file).
/// Returns the page and the number of local links.
fn rewrite_links(
    plan: &Plan,
    page: &Url,
    page_path: &Path,
    body: &[u8],
    content_type: Option<&str>,
) -> Result<(Vec<u8>, u64)> {
    let enc = charset::detect(body, content_type);
    let Some(encoding) = lol_html::AsciiCompatibleEncoding::new(enc) else {
        return Ok((body.to_vec(), 0));
    };
    let base = RefCell::new(page.clone());
    let local = RefCell::new(0u64);
    let rewrite = |value: &str| -> Option<String> {
        let value = value.trim();
        if value.is_empty() || value.starts_with('#') {
            return None;
        }
        let joined = base.borrow().join(value).ok()?;
        // Other schemes (mailto:, javascript:, data:) are left alone; a colon in a path
        // (`/wiki/Help:Contents`) is not a scheme.
        if !matches!(joined.scheme(), "http" | "https") {
            return None;
        }
        let fragment = joined.fragment().map(|f| format!("#{f}"));
        let target = canon::normalize(joined)?;
        match plan.path(&target) {
            Some(path) => {
                *local.borrow_mut() += 1;
                Some(relative_href(page_path, &path) + fragment.as_deref().unwrap_or(""))
            }
            None => Some(target.to_string() + fragment.as_deref().unwrap_or("")),
        }
    };
    let attr = |attr: &'static str| {
        move |el: &mut lol_html::html_content::Element<'_, '_>| {
            if let Some(new) = el.get_attribute(attr).and_then(|v| rewrite(&v)) {
                let _ = el.set_attribute(attr, &new);
            }
            Ok(())
        }
    };
    // A srcset is a list of candidates (`a.png 1x, b.png 2x`): each URL is rewritten alone.
    let srcset = |el: &mut lol_html::html_content::Element<'_, '_>| {
        if let Some(v) = el.get_attribute("srcset") {
            let candidates: Vec<String> = extract::srcset_candidates(&v)
                .map(|(url, descriptor)| {
                    let url = rewrite(url).unwrap_or_else(|| url.to_string());
                    format!("{url} {descriptor}").trim_end().to_string()
                })
                .collect();
            let _ = el.set_attribute("srcset", &candidates.join(", "));
        }
        Ok(())
    };
    let mut out = Vec::with_capacity(body.len());
    let mut rewriter = HtmlRewriter::new(
        Settings {
            element_content_handlers: vec![
                element!("base[href]", |el| {
                    if let Some(b) = el
                        .get_attribute("href")
                        .and_then(|h| base.borrow().join(h.trim()).ok())
                    {
                        *base.borrow_mut() = b;
                    }
                    el.remove();
                    Ok(())
                }),
                element!("a[href], area[href], link[href]", attr("href")),
                element!(
                    "iframe[src], frame[src], img[src], script[src], source[src]",
                    attr("src")
                ),
                element!("img[srcset], source[srcset]", srcset),
                element!("video[poster]", attr("poster")),
            ],
            encoding,
            ..Settings::new()
        },
        |chunk: &[u8]| out.extend_from_slice(chunk),
    );
    let ok = rewriter.write(body).and_then(|()| rewriter.end());
    match ok {
        Ok(()) => Ok((out, local.into_inner())),
        // A page lol_html cannot rewrite is kept as it was.
        Err(_) => Ok((body.to_vec(), 0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(u: &str, html: bool) -> String {
        local_path(&Url::parse(u).unwrap(), html)
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn paths_follow_wget() {
        assert_eq!(path("http://e.com/", true), "e.com/index.html");
        assert_eq!(path("http://e.com/a/", true), "e.com/a/index.html");
        assert_eq!(path("http://e.com/a/b.html", true), "e.com/a/b.html");
        assert_eq!(path("http://e.com/a/b", true), "e.com/a/b.html");
        assert_eq!(path("http://e.com/logo.png", false), "e.com/logo.png");
        assert_eq!(
            path("http://e.com:8080/s.html?q=1&p=2", true),
            "e.com+8080/s.html@q=1&p=2.html"
        );
        assert_eq!(
            path("http://e.com/with%20space.html", true),
            "e.com/with space.html"
        );
    }

    #[test]
    fn no_path_escapes_the_mirror() {
        for u in [
            "http://e.com/a%2F..%2F..%2Fetc%2Fpasswd",
            "http://e.com/%2e%2e/%2e%2e/x",
            "http://e.com/a/..%5C..%5Cx",
            "http://e.com/%00/x",
            "http://e.com//abs/x",
        ] {
            let p = local_path(&Url::parse(u).unwrap(), false);
            assert!(
                p.components().all(|c| matches!(c, Component::Normal(_))),
                "{u} → {}",
                p.display()
            );
            assert!(p.starts_with("e.com"), "{u} → {}", p.display());
        }
        let long = format!("http://e.com/{}.html", "n".repeat(1000));
        let p = local_path(&Url::parse(&long).unwrap(), true);
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.len() <= MAX_NAME && name.ends_with(".html"), "{name}");
    }

    #[test]
    fn relative_hrefs() {
        let r = |a: &str, b: &str| relative_href(Path::new(a), Path::new(b));
        assert_eq!(r("e.com/index.html", "e.com/a/b.html"), "a/b.html");
        assert_eq!(r("e.com/a/b.html", "e.com/index.html"), "../index.html");
        assert_eq!(r("e.com/a/b.html", "e.com/a/c d.html"), "c%20d.html");
        assert_eq!(
            r("e.com/x.html", "e.com/s.html@q=1.html"),
            "s.html@q=1.html"
        );
        assert_eq!(r("e.com/x.html", "e.com/p?.html"), "p%3F.html");
        // A colon in the first segment would read as a scheme.
        assert_eq!(
            r("e.com/wiki/Main.html", "e.com/wiki/Help:Contents.html"),
            "./Help:Contents.html"
        );
        assert_eq!(r("e.com/Main.html", "e.com/a:b/c.html"), "./a:b/c.html");
        assert_eq!(r("e.com/a/b.html", "e.com/x:y.html"), "../x:y.html");
    }

    #[test]
    fn two_urls_never_share_a_file_and_the_first_keeps_its_name() {
        let pairs = [
            ("http://e.com/p?q=1", "http://e.com/p@q=1"),
            ("http://e.com/x%2Fy", "http://e.com/x_y"),
            ("http://e.com/same", "http://e.com/same.html"),
            ("http://e.com/dir/", "http://e.com/dir/index.html"),
            ("http://e.com/%ff", "http://e.com/%fe"),
        ];
        let mut plan = Plan::default();
        for (a, b) in pairs {
            plan.add(&Url::parse(a).unwrap(), true);
            plan.add(&Url::parse(b).unwrap(), true);
        }
        let mut seen = std::collections::BTreeSet::new();
        for (a, b) in pairs {
            let (a, b) = (Url::parse(a).unwrap(), Url::parse(b).unwrap());
            let (pa, pb) = (plan.path(&a).unwrap(), plan.path(&b).unwrap());
            assert_eq!(pa, local_path(&a, true), "the first keeps its name");
            assert_ne!(pa, pb);
            let name = pb.file_name().unwrap().to_string_lossy().into_owned();
            assert!(
                name.ends_with(".html") && name.contains('-'),
                "{name}: a hash before the extension"
            );
            assert!(seen.insert(pa) && seen.insert(pb));
        }
        // The same on every run; the same URL again keeps its place.
        let mut again = Plan::default();
        for (a, b) in pairs {
            again.add(&Url::parse(a).unwrap(), true);
            again.add(&Url::parse(b).unwrap(), true);
            again.add(&Url::parse(b).unwrap(), true);
        }
        for (_, b) in pairs {
            let b = Url::parse(b).unwrap();
            assert_eq!(again.path(&b), plan.path(&b));
        }
        assert_eq!(
            alternative(
                Path::new("e.com/x_y"),
                &Url::parse("http://e.com/x_y").unwrap(),
                1
            )
            .extension(),
            None
        );
    }

    #[test]
    fn a_file_and_a_directory_of_one_name_are_told_apart() {
        let mut plan = Plan::default();
        let (deep, file, under) = (
            Url::parse("http://e.com/a/b.png").unwrap(),
            Url::parse("http://e.com/a").unwrap(),
            Url::parse("http://e.com/f/g.png").unwrap(),
        );
        let blocker = Url::parse("http://e.com/f").unwrap();
        plan.add(&deep, false);
        // `a` is a directory already: the file takes another name.
        plan.add(&file, false);
        assert_eq!(plan.path(&deep).unwrap(), Path::new("e.com/a/b.png"));
        assert_ne!(plan.path(&file).unwrap(), Path::new("e.com/a"));
        // `f` is a file already: what needs it as a directory has no place.
        plan.add(&blocker, false);
        plan.add(&under, false);
        assert_eq!(plan.path(&under), None);
    }
}
