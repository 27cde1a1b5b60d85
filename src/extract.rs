//! Link extraction from HTML with scraper. Synchronous on purpose: `scraper::Html` is not
//! `Send`, and parsing is CPU work that belongs on a blocking thread, not the async executor.
//! Callers hand in the page text and get owned, normalized URLs back.

use std::collections::HashSet;
use std::sync::LazyLock;

use scraper::{ElementRef, Html, Selector};
use url::Url;

use crate::canon;

/// Every element that can carry a followable link, plus the two that change how links are read
/// (`base`, `meta name=robots`). One selector keeps a single pass over the tree.
static LINKY: LazyLock<Selector> = LazyLock::new(|| {
    // The selector is a constant; a parse failure is a bug caught by every test.
    Selector::parse("a[href], area[href], link[href], iframe[src], frame[src], meta[name]")
        .expect("constant selector parses")
});
static BASE: LazyLock<Selector> =
    LazyLock::new(|| Selector::parse("base[href]").expect("constant selector parses"));

/// `link rel` values that point at another page rather than a resource of this one.
const PAGE_RELS: &[&str] = &["canonical", "alternate", "next", "prev"];

/// What a page offers the frontier.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Extracted {
    /// Distinct normalized http(s) links, in document order.
    pub links: Vec<Url>,
    /// The page asked robots not to follow its links (`<meta name=robots content=nofollow>`).
    pub nofollow: bool,
}

/// Extracts the links of `html`, fetched from `page_url`. Links are resolved against the first
/// `<base href>` when there is one, and dropped when `rel` contains `nofollow`.
pub fn extract_links(html: &str, page_url: &Url) -> Extracted {
    let doc = Html::parse_document(html);
    let base = doc
        .select(&BASE)
        .next()
        .and_then(|b| b.value().attr("href"))
        .and_then(|h| page_url.join(h.trim()).ok())
        .unwrap_or_else(|| page_url.clone());

    let mut out = Extracted::default();
    let mut seen = HashSet::new();
    for el in doc.select(&LINKY) {
        if el.value().name() == "meta" {
            if is_robots_nofollow(el) {
                return Extracted {
                    links: Vec::new(),
                    nofollow: true,
                };
            }
            continue;
        }
        let Some(target) = link_target(el) else {
            continue;
        };
        if let Some(url) = canon::resolve(&base, target) {
            if seen.insert(url.as_str().to_owned()) {
                out.links.push(url);
            }
        }
    }
    out
}

/// The href/src of a followable element, or `None` for nofollow links and resource `link`s.
fn link_target(el: ElementRef<'_>) -> Option<&str> {
    let v = el.value();
    let rel = v.attr("rel").unwrap_or("").to_ascii_lowercase();
    let mut rels = rel.split_ascii_whitespace();
    match v.name() {
        "iframe" | "frame" => v.attr("src"),
        "link" => rels
            .any(|r| PAGE_RELS.contains(&r))
            .then(|| v.attr("href"))
            .flatten(),
        _ if rels.any(|r| r == "nofollow") => None,
        _ => v.attr("href"),
    }
}

fn is_robots_nofollow(el: ElementRef<'_>) -> bool {
    let v = el.value();
    v.attr("name")
        .is_some_and(|n| n.trim().eq_ignore_ascii_case("robots"))
        && v.attr("content").is_some_and(|c| {
            c.split(',').any(|d| {
                d.trim().eq_ignore_ascii_case("nofollow") || d.trim().eq_ignore_ascii_case("none")
            })
        })
}

/// Whether a Content-Type names a document we parse for links.
pub fn is_html(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|ct| {
        let mime = ct.split(';').next().unwrap_or("").trim();
        mime.eq_ignore_ascii_case("text/html") || mime.eq_ignore_ascii_case("application/xhtml+xml")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links(html: &str) -> Vec<String> {
        let base = Url::parse("http://e.com/dir/page.html").unwrap();
        extract_links(html, &base)
            .links
            .into_iter()
            .map(String::from)
            .collect()
    }

    #[test]
    fn follows_the_right_elements() {
        let got = links(
            r#"<a href="a.html">a</a><area href="/area.html">
            <link rel="stylesheet" href="style.css"><link rel="Canonical" href="/canon.html">
            <link rel="next" href="n.html"><link rel="icon" href="favicon.ico">
            <iframe src="frame1.html"></iframe><frame src="frame2.html">
            <img src="img.png"><script src="s.js"></script>"#,
        );
        assert_eq!(
            got,
            [
                "http://e.com/dir/a.html",
                "http://e.com/area.html",
                "http://e.com/canon.html",
                "http://e.com/dir/n.html",
                "http://e.com/dir/frame1.html",
            ]
        );
    }

    #[test]
    fn skips_nofollow_non_http_and_duplicates() {
        let got = links(
            r##"<a rel="nofollow" href="secret.html">x</a><a rel="external NoFollow" href="s2.html">y</a>
            <a href="mailto:a@b.c">m</a><a href="javascript:void(0)">j</a><a href="tel:1">t</a>
            <a href="ok.html#one">1</a><a href="ok.html#two">2</a><a href="HTTP://E.COM:80/dir/ok.html">3</a>
            <a href="#top">self</a><a>no href</a><a href="">empty</a>"##,
        );
        assert_eq!(
            got,
            ["http://e.com/dir/ok.html", "http://e.com/dir/page.html"]
        );
    }

    #[test]
    fn base_href_changes_resolution() {
        let got = links(
            r#"<head><base href="/other/"></head><a href="x.html">x</a><a href="../y.html">y</a>"#,
        );
        assert_eq!(got, ["http://e.com/other/x.html", "http://e.com/y.html"]);
    }

    #[test]
    fn meta_robots_nofollow_drops_every_link() {
        let base = Url::parse("http://e.com/").unwrap();
        let got = extract_links(
            r#"<meta name="ROBOTS" content="noindex, nofollow"><a href="a.html">a</a>"#,
            &base,
        );
        assert_eq!(
            got,
            Extracted {
                links: vec![],
                nofollow: true
            }
        );
        let got = extract_links(
            r#"<meta name="robots" content="noindex"><a href="a">a</a>"#,
            &base,
        );
        assert_eq!(got.links.len(), 1);
    }

    #[test]
    fn malformed_html_still_yields_links() {
        let got = links("<table><tr><td><a href=unquoted.html>u</a><div></span><a href='b.html'>b");
        assert_eq!(
            got,
            ["http://e.com/dir/unquoted.html", "http://e.com/dir/b.html"]
        );
    }

    #[test]
    fn fixture_pages_parse() {
        // Every bundled fixture page parses without panicking and the home page has links.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/site");
        let home = std::fs::read_to_string(dir.join("index.html")).unwrap();
        let base = Url::parse("http://127.0.0.1:1/").unwrap();
        let home = home
            .replace("{{origin}}", "http://127.0.0.1:1")
            .replace("{{host}}", "127.0.0.1:1");
        assert!(extract_links(&home, &base).links.len() > 5);
    }

    #[test]
    fn content_types() {
        assert!(is_html(Some("text/html; charset=utf-8")));
        assert!(is_html(Some("Application/XHTML+XML")));
        assert!(!is_html(Some("image/png")));
        assert!(!is_html(None));
    }
}
