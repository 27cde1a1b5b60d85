//! Link extraction from HTML with scraper. Synchronous on purpose: `scraper::Html` is not
//! `Send`, and parsing is CPU work that belongs on a blocking thread, not the async executor.
//! Callers hand in the page text and get owned, normalized URLs back.

use std::collections::HashSet;

use html5ever::tendril::TendrilSink;
use html5ever::tree_builder::TreeBuilderOpts;
use html5ever::ParseOpts;
use scraper::{ElementRef, Html, HtmlTreeSink};
use url::Url;

use crate::canon;

/// `link rel` values that point at another page rather than a resource of this one (in HTML and
/// in `Link:` headers alike).
const PAGE_RELS: &[&str] = &["canonical", "alternate", "next", "prev"];

/// `link rel` values naming what the page needs to display: fetched only with `--requisites`.
const REQUISITE_RELS: &[&str] = &[
    "stylesheet",
    "icon",
    "shortcut",
    "apple-touch-icon",
    "preload",
];

/// What a page offers the frontier.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Extracted {
    /// Distinct normalized http(s) links, in document order.
    pub links: Vec<Url>,
    /// The page asked robots not to follow its links (`<meta name=robots content=nofollow>`).
    pub nofollow: bool,
    /// Link targets past the cap of [`extract_links_at_most`], as written (repeats included).
    pub dropped: u64,
    /// The first `<link rel=canonical>`'s target, resolved: the URL the page names as its own
    /// (see [`crate::copies`]).
    pub canonical: Option<Url>,
}

/// Extracts the links of `html`, fetched from `page_url`. Links are resolved against the first
/// `<base href>` when there is one, and dropped when `rel` contains `nofollow`. With
/// `requisites`, what the page needs to display offline comes too: images (`src` and every
/// `srcset` candidate), scripts, stylesheets, icons, video posters.
pub fn extract_links(html: &str, page_url: &Url, requisites: bool) -> Extracted {
    extract_links_at_most(html, page_url, requisites, usize::MAX)
}

/// [`extract_links`], taking at most `max` distinct links: the targets past them are counted
/// in [`Extracted::dropped`], not resolved, so what a page costs past its parse is bounded
/// however many links it holds (`--max-links`).
pub fn extract_links_at_most(
    html: &str,
    page_url: &Url,
    requisites: bool,
    max: usize,
) -> Extracted {
    links_in(&parse(html), page_url, requisites, max)
}

/// [`extract_links_at_most`] on a page already parsed with [`parse`] (the export parses a page
/// once for all its `--fields`).
pub fn links_in(doc: &Html, page_url: &Url, requisites: bool, max: usize) -> Extracted {
    // One walk in the order scraper's `select` uses, matching by element name: a selector list
    // of every link element costs more per element than a `match`, and `<base>` is found in the
    // same walk (it applies to links before it too, so targets are resolved after).
    let mut base_href = None;
    let mut canonical_href = None;
    let mut targets = Vec::new();
    for node in doc.tree.nodes() {
        let Some(el) = ElementRef::wrap(node) else {
            continue;
        };
        match el.value().name() {
            "meta" if is_robots_nofollow(el) => {
                return Extracted {
                    nofollow: true,
                    ..Extracted::default()
                };
            }
            "meta" => targets.extend(refresh_target(el)),
            "base" if base_href.is_none() => base_href = el.value().attr("href"),
            "link" if canonical_href.is_none() && has_rel(el, "canonical") => {
                canonical_href = el.value().attr("href");
                link_targets(el, requisites, &mut targets)
            }
            "a" | "area" | "link" | "iframe" | "frame" | "img" | "source" | "script" | "video" => {
                link_targets(el, requisites, &mut targets)
            }
            _ => {}
        }
    }
    let base = base_href
        .and_then(|h| page_url.join(h.trim()).ok())
        .unwrap_or_else(|| page_url.clone());
    let mut out = Extracted {
        canonical: canonical_href.and_then(|h| canon::resolve(&base, h)),
        ..Extracted::default()
    };
    // The same href written twice resolves the same way: only its first time is resolved. So do
    // hrefs that differ only after their first `#`: a fragment names a place in a page, and
    // normalization drops it, so `a.html#x` and `a.html#y` are told apart by `a.html#` alone (the
    // `#` kept, so `#top`, the page itself, is not taken for an empty href, which is nothing).
    // Python's docs write 4.2 distinct hrefs per page they name: one URL join in 4 is left.
    let mut raw_seen = HashSet::new();
    let mut seen = HashSet::new();
    let total = targets.len();
    for (i, target) in targets.into_iter().enumerate() {
        if out.links.len() == max {
            out.dropped = (total - i) as u64;
            break;
        }
        let key = target.find('#').map_or(target, |at| &target[..=at]);
        if !raw_seen.insert(key) {
            continue;
        }
        if let Some(url) = canon::resolve(&base, target) {
            if seen.insert(url.as_str().to_owned()) {
                out.links.push(url);
            }
        }
    }
    out
}

/// Whether an element's `rel` holds `value` (ASCII case ignored).
fn has_rel(el: ElementRef<'_>, value: &str) -> bool {
    el.value().attr("rel").is_some_and(|rel| {
        rel.split_ascii_whitespace()
            .any(|r| r.eq_ignore_ascii_case(value))
    })
}

/// Parses a page as a browser with scripts off would, which is what a crawler is: the contents of
/// `<noscript>` are markup (`<noscript><iframe src="toc.html">` is a link), not text as
/// `Html::parse_document` (scripting on) makes them.
pub fn parse(html: &str) -> Html {
    let opts = ParseOpts {
        tree_builder: TreeBuilderOpts {
            scripting_enabled: false,
            ..TreeBuilderOpts::default()
        },
        ..ParseOpts::default()
    };
    html5ever::parse_document(HtmlTreeSink::new(Html::new_document()), opts).one(html)
}

/// Adds the targets of an element: the href/src of a followable one (none for nofollow links
/// and, without `requisites`, none for images, scripts and resource `link`s).
fn link_targets<'a>(el: ElementRef<'a>, requisites: bool, out: &mut Vec<&'a str>) {
    let v = el.value();
    let rel = v.attr("rel").unwrap_or("").to_ascii_lowercase();
    let has_rel = |set: &[&str]| rel.split_ascii_whitespace().any(|r| set.contains(&r));
    match v.name() {
        "iframe" | "frame" => out.extend(v.attr("src")),
        "link" if has_rel(PAGE_RELS) || (requisites && has_rel(REQUISITE_RELS)) => {
            out.extend(v.attr("href"))
        }
        "link" => {}
        "img" | "source" if requisites => {
            out.extend(v.attr("src"));
            out.extend(
                v.attr("srcset")
                    .into_iter()
                    .flat_map(srcset_candidates)
                    .map(|(u, _)| u),
            );
        }
        "script" if requisites => out.extend(v.attr("src")),
        "video" if requisites => out.extend(v.attr("poster")),
        "img" | "source" | "script" | "video" => {}
        _ if has_rel(&["nofollow"]) => {}
        _ => out.extend(v.attr("href")),
    }
}

/// The candidates of a `srcset` (`a.png 1x, b.png 2x`, `s.jpg 480w, m.jpg 800w`), each as its
/// URL and its descriptor (possibly empty). The mirror export rewrites them with this too.
pub fn srcset_candidates(srcset: &str) -> impl Iterator<Item = (&str, &str)> {
    srcset.split(',').filter_map(|c| {
        let c = c.trim();
        let (url, descriptor) = c.split_once(char::is_whitespace).unwrap_or((c, ""));
        (!url.is_empty()).then(|| (url, descriptor.trim()))
    })
}

/// The target of `<meta http-equiv="refresh" content="5; url=next.html">`, as browsers read it:
/// after the delay, an optional `url=` (any case, spaces around `=`) and optional quotes.
fn refresh_target<'a>(el: ElementRef<'a>) -> Option<&'a str> {
    let v = el.value();
    if !v.attr("http-equiv")?.trim().eq_ignore_ascii_case("refresh") {
        return None;
    }
    let rest = v.attr("content")?.trim_start();
    let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.');
    let rest = rest.trim_start().strip_prefix([';', ','])?.trim_start();
    let rest = match rest.get(..3) {
        Some(u) if u.eq_ignore_ascii_case("url") => {
            let after = rest[3..].trim_start();
            after.strip_prefix('=').map_or(rest, str::trim_start)
        }
        _ => rest,
    };
    let url = match rest.chars().next() {
        Some(q @ ('"' | '\'')) => rest[1..].split(q).next().unwrap_or(""),
        _ => rest.trim_end(),
    };
    (!url.is_empty()).then_some(url)
}

/// The page targets of `Link:` header values (RFC 8288: `<url>; rel="next"`, several per value,
/// comma-separated), with a page rel (canonical, alternate, next, prev).
pub fn link_header_targets<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut out = Vec::new();
    for value in values {
        let mut rest = value;
        while let Some(start) = rest.find('<') {
            let Some(len) = rest[start..].find('>') else {
                break;
            };
            let target = rest[start + 1..start + len].trim();
            rest = &rest[start + len + 1..];
            // This link's parameters end at the next comma (rel values hold none).
            let params = rest.split([',', '<']).next().unwrap_or("");
            let page = params.split(';').any(|p| {
                let Some((name, val)) = p.split_once('=') else {
                    return false;
                };
                name.trim().eq_ignore_ascii_case("rel")
                    && val
                        .trim()
                        .trim_matches('"')
                        .split_ascii_whitespace()
                        .any(|r| PAGE_RELS.iter().any(|p| p.eq_ignore_ascii_case(r)))
            });
            if page && !target.is_empty() {
                out.push(target);
            }
        }
    }
    out
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
        extract_links(html, &base, false)
            .links
            .into_iter()
            .map(String::from)
            .collect()
    }

    /// Hrefs told apart only by what comes before their fragment give the links, in the order
    /// and with the cap, that resolving every href on its own gives.
    #[test]
    fn hrefs_that_differ_in_their_fragment_resolve_once_to_the_same_links() {
        let hrefs = [
            "a.html#x",
            "a.html#y",
            "",
            "#top",
            "#",
            "a.html",
            " b.html #c",
            " b.html#d",
            "b.html",
            "?q=1#f",
            "?q=1#g",
            "#other",
            "mailto:x@e.com#z",
            "c.html#",
        ];
        let html: String = hrefs
            .iter()
            .map(|h| format!("<a href=\"{h}\">x</a>"))
            .collect();
        let base = Url::parse("http://e.com/dir/page.html").unwrap();
        // Every href resolved on its own, duplicates dropped in order: the plain algorithm.
        let mut want: Vec<String> = Vec::new();
        for h in hrefs {
            if let Some(u) = canon::resolve(&base, h).map(String::from) {
                if !want.contains(&u) {
                    want.push(u);
                }
            }
        }
        assert_eq!(links(&html), want);
        assert!(
            want.contains(&"http://e.com/dir/page.html".to_string()),
            "#top: {want:?}"
        );
        assert!(want.iter().any(|u| u.contains("b.html%20")), "{want:?}");
        for max in 0..=want.len() {
            let got = extract_links_at_most(&html, &base, false, max);
            assert_eq!(got.links.len(), max);
            assert_eq!(
                got.links.iter().map(Url::to_string).collect::<Vec<_>>(),
                want[..max]
            );
        }
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
    fn the_first_canonical_is_the_pages_own_url() {
        let page = Url::parse("http://e.com/dir/p.html?sort=new").unwrap();
        let got = extract_links(
            r#"<base href="/b/"><link rel="alternate canonical" href="p.html">
            <link rel="canonical" href="/other.html">"#,
            &page,
            false,
        );
        assert_eq!(got.canonical.unwrap().as_str(), "http://e.com/b/p.html");
        let none = extract_links(r#"<a rel="canonical" href="a.html">a</a>"#, &page, false);
        assert_eq!(none.canonical, None, "only a <link> names it");
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
    fn links_past_the_cap_are_counted_not_taken() {
        let base = Url::parse("http://e.com/").unwrap();
        let html =
            r#"<a href=a>1</a><a href=a>again</a><a href=b>2</a><a href=c>3</a><a href=a>4</a>"#;
        let got = extract_links_at_most(html, &base, false, 2);
        let links: Vec<&str> = got.links.iter().map(Url::as_str).collect();
        assert_eq!(links, ["http://e.com/a", "http://e.com/b"]);
        assert_eq!(got.dropped, 2, "the targets after the second distinct link");
        let all = extract_links_at_most(html, &base, false, 3);
        assert_eq!((all.links.len(), all.dropped), (3, 1));
        assert_eq!(extract_links(html, &base, false).dropped, 0);
    }

    #[test]
    fn meta_robots_nofollow_drops_every_link() {
        let base = Url::parse("http://e.com/").unwrap();
        let got = extract_links(
            r#"<meta name="ROBOTS" content="noindex, nofollow"><a href="a.html">a</a>"#,
            &base,
            false,
        );
        assert_eq!(
            got,
            Extracted {
                links: vec![],
                nofollow: true,
                dropped: 0,
                canonical: None,
            }
        );
        let got = extract_links(
            r#"<meta name="robots" content="noindex"><a href="a">a</a>"#,
            &base,
            false,
        );
        assert_eq!(got.links.len(), 1);
    }

    #[test]
    fn noscript_content_is_markup_not_text() {
        // A crawler runs no scripts: what <noscript> offers is what it must follow.
        let got = links(
            r#"<head><noscript><link rel="next" href="n.html"></noscript></head>
            <body><noscript><iframe src="toc.html"></iframe><a href="/fallback.html">f</a></noscript>
            <script>document.write('<a href="/by-script.html">s</a>')</script></body>"#,
        );
        assert_eq!(
            got,
            [
                "http://e.com/dir/n.html",
                "http://e.com/dir/toc.html",
                "http://e.com/fallback.html",
            ]
        );
    }

    #[test]
    fn meta_refresh_is_a_link() {
        for (content, want) in [
            ("0; url=next.html", Some("http://e.com/dir/next.html")),
            ("5;URL='/q.html'", Some("http://e.com/q.html")),
            ("3, url = 'r.html' ", Some("http://e.com/dir/r.html")),
            ("0;other.html", Some("http://e.com/dir/other.html")),
            ("10", None),
            ("0; url=", None),
        ] {
            let html = format!(r#"<meta http-equiv="Refresh" content="{content}">"#);
            let got = links(&html);
            assert_eq!(got.first().map(String::as_str), want, "{content}");
        }
        assert!(links(r#"<meta http-equiv="x-ua-compatible" content="0; url=a">"#).is_empty());
    }

    #[test]
    fn requisites_only_when_asked_for() {
        let html = r#"<img src="a.png" srcset="a2.png 2x, a3.png 3x"><script src="s.js"></script>
            <link rel="stylesheet" href="st.css"><link rel="icon" href="f.ico">
            <picture><source srcset="p.webp 480w, p2.webp 800w"></picture>
            <video poster="v.jpg"></video><a href="page.html">p</a>"#;
        let base = Url::parse("http://e.com/").unwrap();
        let names = |requisites| -> Vec<String> {
            extract_links(html, &base, requisites)
                .links
                .iter()
                .map(|u| u.path().trim_start_matches('/').to_string())
                .collect()
        };
        assert_eq!(names(false), ["page.html"]);
        assert_eq!(
            names(true),
            [
                "a.png",
                "a2.png",
                "a3.png",
                "s.js",
                "st.css",
                "f.ico",
                "p.webp",
                "p2.webp",
                "v.jpg",
                "page.html"
            ]
        );
    }

    #[test]
    fn link_headers_name_pages_to_follow() {
        let got = link_header_targets([
            r#"</next.html>; rel="next", </style.css>; rel=stylesheet"#,
            r#"<https://e.com/canon>; rel="canonical alternate"; title="x""#,
            "<broken; rel=next",
            "</nope>; type=text/html",
        ]);
        assert_eq!(got, ["/next.html", "https://e.com/canon"]);
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
        assert!(extract_links(&home, &base, false).links.len() > 5);
    }

    #[test]
    fn content_types() {
        assert!(is_html(Some("text/html; charset=utf-8")));
        assert!(is_html(Some("Application/XHTML+XML")));
        assert!(!is_html(Some("image/png")));
        assert!(!is_html(None));
    }
}
