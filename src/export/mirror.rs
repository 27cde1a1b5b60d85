//! A browsable local copy, as `wget -m -E` lays it out: `DIR/HOST[+PORT]/path`, `/a/` →
//! `a/index.html`, an HTML page without an `.html`/`.htm` name gets one appended, and a query
//! string becomes part of the file name (`search.html?q=1` → `search.html@q=1.html`). Links in
//! HTML (rewritten with lol_html) point to the local copy, relative to the page, when their
//! target was stored, and stay absolute otherwise.
//!
//! Which targets were stored comes from one pass over the records before the files are
//! written (records are not indexed by URL): a map of 12 bytes per mirrored page plus the
//! map's overhead, ~40 MB per million pages, the one part of an export that grows with it.
//!
//! Only successful (2xx) responses with a body are written. No file is ever written outside
//! `DIR`: each path segment is percent-decoded and then made safe (`/`, `\`, NUL and control
//! characters replaced, `.` and `..` renamed, long names shortened with a hash), and the final
//! path is checked to lie under `DIR`.

use std::cell::RefCell;
use std::path::{Component, Path, PathBuf};

use lol_html::{element, HtmlRewriter, Settings};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};
use url::Url;

use super::Filter;
use super::Source;
use crate::error::{Error, Result};
use crate::store::{PageRecord, UrlState};
use crate::{canon, charset, extract};

/// Longest file name written, in bytes (most file systems allow 255).
const MAX_NAME: usize = 200;

/// What a mirror run wrote.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct MirrorSummary {
    /// Files written.
    pub files: u64,
    /// Links pointed at local copies.
    pub links_local: u64,
    /// URLs that could not be placed (a file where a directory is needed, or the reverse).
    pub skipped: u64,
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

/// `to` relative to the directory of `from` (both relative to the mirror root), as an href.
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
    parts.join("/")
}

/// The mirrored pages, by the fingerprint of their URL: whether each is HTML.
type Stored = std::collections::HashMap<u64, bool>;

fn stored(store: &dyn Source) -> Result<Stored> {
    let mut out = Stored::new();
    for page in store.pages() {
        let rec = page?.record;
        if mirrored(&rec) {
            let html = extract::is_html(rec.content_type.as_deref());
            out.insert(crate::seen::fingerprint(&rec.url), html);
        }
    }
    Ok(out)
}

/// Writes the mirror of `store` (records passing `filter`) under `dir`.
pub fn write(store: &dyn Source, filter: &Filter, dir: &Path) -> Result<MirrorSummary> {
    let index = stored(store)?;
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let root = dir
        .canonicalize()
        .map_err(|e| Error::io(format!("opening {}", dir.display()), e))?;
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
        let html = extract::is_html(rec.content_type.as_deref());
        let rel = local_path(&url, html);
        let body = store.body_of(&page)?;
        let data = if html {
            let (out, local) =
                rewrite_links(&index, &url, &rel, &body, rec.content_type.as_deref())?;
            summary.links_local += local;
            out
        } else {
            body.to_vec()
        };
        let target = root.join(&rel);
        if !target.starts_with(&root)
            || rel.components().any(|c| !matches!(c, Component::Normal(_)))
        {
            summary.skipped += 1;
            continue;
        }
        if let Some(parent) = target.parent() {
            if std::fs::create_dir_all(parent).is_err() {
                summary.skipped += 1;
                continue;
            }
        }
        if target.is_dir() {
            summary.skipped += 1;
            continue;
        }
        std::fs::write(&target, data)
            .map_err(|e| Error::io(format!("writing {}", target.display()), e))?;
        summary.files += 1;
    }
    Ok(summary)
}

/// Rewrites the links of one page: stored targets become relative local paths, others
/// absolute URLs; `<base>` is dropped (local links must resolve against the local file).
/// Returns the page and the number of local links.
fn rewrite_links(
    index: &Stored,
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
        let lower = value.to_ascii_lowercase();
        // Other schemes (mailto:, javascript:, data:) are left alone.
        let other_scheme = lower.contains(':') && !lower.starts_with("http");
        if value.is_empty() || value.starts_with('#') || other_scheme {
            return None;
        }
        let joined = base.borrow().join(value).ok()?;
        let fragment = joined.fragment().map(|f| format!("#{f}"));
        let target = canon::normalize(joined)?;
        match index.get(&crate::seen::fingerprint(target.as_str())) {
            Some(&html) => {
                *local.borrow_mut() += 1;
                let path = local_path(&target, html);
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
    }
}
