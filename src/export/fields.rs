//! `export --fields` and `--select`: what data and search people want from each page (its
//! title, readable text or Markdown, out-links, language, canonical URL, description, and
//! values picked with CSS selectors), computed at export time from the stored bodies, so a
//! crawl made without them can still be dumped with them.
//!
//! A page is decoded by the charset it declares ([`crate::charset`], as the crawler decodes it
//! for links) and parsed once with scraper, scripts off (so `<noscript>` holds markup, as the
//! crawler sees it). Text comes from html2text and Markdown from htmd, each parsing the page
//! again only when asked for. Only HTML records (`text/html`, `application/xhtml+xml`) have
//! computed values; other records get empty ones. Memory is one page at a time: the body
//! (at most `--max-body`), its tree and the values of that page.

use scraper::{ElementRef, Html, Selector};
use url::Url;

use crate::charset;
use crate::error::{Error, Result};
use crate::extract;
use crate::store::PageRecord;

/// A value computed from a page's body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Computed {
    /// The `<title>`, whitespace collapsed.
    Title,
    /// The page as plain text (html2text: blocks on their own lines, no wrapping).
    Text,
    /// The page as Markdown (htmd; `<head>`, scripts and styles left out).
    Markdown,
    /// The links the crawler follows from the page, absolute and normalized.
    Links,
    /// `<html lang>`, else the `Content-Language` header.
    Lang,
    /// `<link rel=canonical>`, absolute.
    Canonical,
    /// `<meta name=description>`.
    Description,
}

impl Computed {
    /// Every computed field, as named on the command line.
    pub const ALL: [(&'static str, Computed); 7] = [
        ("title", Computed::Title),
        ("text", Computed::Text),
        ("markdown", Computed::Markdown),
        ("links", Computed::Links),
        ("lang", Computed::Lang),
        ("canonical", Computed::Canonical),
        ("description", Computed::Description),
    ];

    /// Its name on the command line and in the output.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, c)| *c == self)
            .map_or("", |(n, _)| n)
    }

    fn named(name: &str) -> Option<Computed> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
    }
}

/// One output column of `--fields`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Column {
    /// One of the format's own fields (`url`, `status`, `body`, …), by name.
    Stored(String),
    /// A value computed from the body.
    Computed(Computed),
    /// The `--select` at this index.
    Select(usize),
}

/// `--select NAME=CSS` or `NAME=CSS@attr`.
#[derive(Clone, Debug)]
pub struct Select {
    /// The output field's name.
    pub name: String,
    selector: Selector,
    /// The attribute to take from each match; `None`: its text.
    attr: Option<String>,
}

impl Select {
    /// Parses `NAME=CSS` or `NAME=CSS@attr`. An `@` ends the selector only when what follows it
    /// is an attribute name and the brackets before it are closed, so `a[href$="@x.org"]` is a
    /// selector.
    pub fn parse(spec: &str) -> Result<Select> {
        let bad = |why: String| Error::Config(format!("--select {spec:?}: {why}"));
        let (name, css) = spec
            .split_once('=')
            .ok_or_else(|| bad("give NAME=CSS or NAME=CSS@attr".into()))?;
        let name = name.trim();
        if name.is_empty() {
            return Err(bad("the NAME before '=' is empty".into()));
        }
        let (css, attr) = match css.rsplit_once('@') {
            Some((sel, attr))
                if is_attr_name(attr) && sel.matches('[').count() == sel.matches(']').count() =>
            {
                (sel, Some(attr.to_ascii_lowercase()))
            }
            _ => (css, None),
        };
        let selector = Selector::parse(css.trim())
            .map_err(|e| bad(format!("{:?} is not a CSS selector ({e})", css.trim())))?;
        Ok(Select {
            name: name.to_string(),
            selector,
            attr,
        })
    }
}

fn is_attr_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':' | '.'))
}

/// What `--fields` and `--select` ask of an export.
#[derive(Clone, Debug, Default)]
pub struct Fields {
    /// The columns of `--fields`, in order, `url` first unless placed; `None`: the format's
    /// usual columns, followed by the selects.
    pub columns: Option<Vec<Column>>,
    /// The `--select`s, in order.
    pub selects: Vec<Select>,
}

impl Fields {
    /// Reads `--fields` (comma-separated, repeatable) and `--select` against `stored`, the names
    /// of the format's own fields.
    pub fn parse(fields: &[String], selects: &[String], stored: &[&str]) -> Result<Fields> {
        let selects = selects
            .iter()
            .map(|s| Select::parse(s))
            .collect::<Result<Vec<_>>>()?;
        for (i, s) in selects.iter().enumerate() {
            if stored.contains(&s.name.as_str())
                || Computed::named(&s.name).is_some()
                || selects[..i].iter().any(|t| t.name == s.name)
            {
                return Err(Error::Config(format!(
                    "--select {}=…: that name is taken; choose another",
                    s.name
                )));
            }
        }
        let names: Vec<&str> = fields
            .iter()
            .flat_map(|f| f.split(','))
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .collect();
        if names.is_empty() {
            return Ok(Fields {
                columns: None,
                selects,
            });
        }
        let mut columns = Vec::new();
        for name in &names {
            let col = if let Some(c) = Computed::named(name) {
                Column::Computed(c)
            } else if stored.contains(name) {
                Column::Stored(name.to_string())
            } else {
                let known: Vec<&str> = stored
                    .iter()
                    .copied()
                    .chain(Computed::ALL.iter().map(|(n, _)| *n))
                    .collect();
                return Err(Error::Config(format!(
                    "--fields: no field {name:?}; the fields are {}",
                    known.join(", ")
                )));
            };
            if !columns.contains(&col) {
                columns.push(col);
            }
        }
        if !names.contains(&"url") {
            columns.insert(0, Column::Stored("url".into()));
        }
        columns.extend((0..selects.len()).map(Column::Select));
        Ok(Fields {
            columns: Some(columns),
            selects,
        })
    }

    /// Whether nothing is asked: the export is what it always was.
    pub fn is_default(&self) -> bool {
        self.columns.is_none() && self.selects.is_empty()
    }

    /// The computed columns asked for.
    fn computed(&self) -> impl Iterator<Item = Computed> + '_ {
        self.columns.iter().flatten().filter_map(|c| match c {
            Column::Computed(c) => Some(*c),
            _ => None,
        })
    }

    /// Whether the stored field `name` is written.
    pub fn wants_stored(&self, name: &str) -> bool {
        self.columns.as_ref().is_none_or(|cols| {
            cols.iter()
                .any(|c| matches!(c, Column::Stored(n) if n == name))
        })
    }

    /// The values of one record's page, computed only for what is asked.
    pub fn compute(&self, rec: &PageRecord, body: &[u8]) -> Values {
        let mut v = Values::default();
        if (self.computed().next().is_none() && self.selects.is_empty())
            || !extract::is_html(rec.content_type.as_deref())
        {
            v.selects = vec![Vec::new(); self.selects.len()];
            return v;
        }
        let html = charset::decode_html(body, rec.content_type.as_deref());
        let doc = extract::parse(&html);
        let base = Url::parse(&rec.final_url)
            .or_else(|_| Url::parse(&rec.url))
            .ok();
        for c in self.computed() {
            match c {
                Computed::Title => v.title = title(&doc),
                Computed::Text => v.text = Some(text(&html)),
                Computed::Markdown => {
                    let page = base
                        .as_ref()
                        .and_then(|b| absolute(&html, &page_base(&doc, b)));
                    v.markdown = Some(markdown(page.as_deref().unwrap_or(&html)))
                }
                Computed::Links => {
                    v.links = base.as_ref().map(|b| {
                        extract::links_in(&doc, b, false, usize::MAX)
                            .links
                            .into_iter()
                            .map(String::from)
                            .collect()
                    })
                }
                Computed::Lang => v.lang = lang(&doc, rec),
                Computed::Canonical => v.canonical = canonical(&doc, base.as_ref()),
                Computed::Description => v.description = meta_content(&doc, "description"),
            }
        }
        v.selects = self.selects.iter().map(|s| select(&doc, s)).collect();
        v
    }
}

/// The computed values of one page (`None`: not asked for, not HTML, or not on the page).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Values {
    /// [`Computed::Title`].
    pub title: Option<String>,
    /// [`Computed::Text`].
    pub text: Option<String>,
    /// [`Computed::Markdown`].
    pub markdown: Option<String>,
    /// [`Computed::Links`].
    pub links: Option<Vec<String>>,
    /// [`Computed::Lang`].
    pub lang: Option<String>,
    /// [`Computed::Canonical`].
    pub canonical: Option<String>,
    /// [`Computed::Description`].
    pub description: Option<String>,
    /// Each `--select`'s matches, in document order.
    pub selects: Vec<Vec<String>>,
}

impl Values {
    /// The value of a computed column as JSON (`null` when absent; `links` an array).
    pub fn json(&self, c: Computed) -> serde_json::Value {
        use serde_json::Value;
        let s = |v: &Option<String>| v.clone().map_or(Value::Null, Value::String);
        match c {
            Computed::Title => s(&self.title),
            Computed::Text => s(&self.text),
            Computed::Markdown => s(&self.markdown),
            Computed::Links => self.links.as_ref().map_or(Value::Null, |l| {
                Value::Array(l.iter().cloned().map(Value::String).collect())
            }),
            Computed::Lang => s(&self.lang),
            Computed::Canonical => s(&self.canonical),
            Computed::Description => s(&self.description),
        }
    }

    /// The value of a computed column as a CSV cell: empty when absent, links separated by
    /// spaces (a normalized URL holds none).
    pub fn cell(&self, c: Computed) -> String {
        let s = |v: &Option<String>| v.clone().unwrap_or_default();
        match c {
            Computed::Title => s(&self.title),
            Computed::Text => s(&self.text),
            Computed::Markdown => s(&self.markdown),
            Computed::Links => self.links.as_ref().map(|l| l.join(" ")).unwrap_or_default(),
            Computed::Lang => s(&self.lang),
            Computed::Canonical => s(&self.canonical),
            Computed::Description => s(&self.description),
        }
    }
}

/// The `<title>` of an HTML record's body, decoded by its charset (the WACZ pages list).
pub fn title_of(rec: &PageRecord, body: &[u8]) -> Option<String> {
    if !extract::is_html(rec.content_type.as_deref()) {
        return None;
    }
    let html = charset::decode_html(body, rec.content_type.as_deref());
    title(&extract::parse(&html))
}

/// Runs of whitespace as one space, trimmed: text as a reader sees it.
fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn first<'a>(doc: &'a Html, name: &str) -> Option<ElementRef<'a>> {
    doc.tree
        .nodes()
        .filter_map(ElementRef::wrap)
        .find(|e| e.value().name() == name)
}

fn title(doc: &Html) -> Option<String> {
    first(doc, "title").map(|t| collapse(&t.text().collect::<String>()))
}

fn lang(doc: &Html, rec: &PageRecord) -> Option<String> {
    first(doc, "html")
        .and_then(|h| h.value().attr("lang"))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .or_else(|| {
            rec.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-language"))
                .map(|(_, v)| v.trim().to_string())
                .filter(|l| !l.is_empty())
        })
}

fn canonical(doc: &Html, base: Option<&Url>) -> Option<String> {
    let href = doc
        .tree
        .nodes()
        .filter_map(ElementRef::wrap)
        .find_map(|e| {
            let v = e.value();
            let canonical = v.name() == "link"
                && v.attr("rel").is_some_and(|r| {
                    r.split_ascii_whitespace()
                        .any(|r| r.eq_ignore_ascii_case("canonical"))
                });
            canonical.then(|| v.attr("href")).flatten()
        })?;
    let href = href.trim();
    Some(
        base.and_then(|b| b.join(href).ok())
            .map_or_else(|| href.to_string(), String::from),
    )
}

fn meta_content(doc: &Html, name: &str) -> Option<String> {
    doc.tree.nodes().filter_map(ElementRef::wrap).find_map(|e| {
        let v = e.value();
        (v.name() == "meta"
            && v.attr("name")
                .is_some_and(|n| n.trim().eq_ignore_ascii_case(name)))
        .then(|| v.attr("content").map(collapse))
        .flatten()
    })
}

fn select(doc: &Html, s: &Select) -> Vec<String> {
    doc.select(&s.selector)
        .filter_map(|e| match &s.attr {
            Some(a) => e.value().attr(a).map(|v| v.trim().to_string()),
            None => Some(collapse(&e.text().collect::<String>())),
        })
        .collect()
}

/// Wide enough that html2text never wraps a line of prose: the text keeps its own lines.
const TEXT_WIDTH: usize = 1 << 16;

fn text(html: &str) -> String {
    html2text::config::with_decorator(html2text::render::TrivialDecorator::new())
        // A table's cells one after another, each on its own lines: laid out side by side at
        // this width, one row of a wide table took megabytes of padding.
        .raw_mode(true)
        .string_from_read(html.as_bytes(), TEXT_WIDTH)
        .map(|t| {
            // Lines padded to the width by tables end in spaces: trim them.
            t.lines()
                .map(str::trim_end)
                .collect::<Vec<_>>()
                .join("\n")
                .trim()
                .to_string()
        })
        .unwrap_or_default()
}

/// Where the page's relative links point from: its first `<base href>`, else its own URL.
fn page_base(doc: &Html, url: &Url) -> Url {
    first(doc, "base")
        .and_then(|b| b.value().attr("href"))
        .and_then(|h| url.join(h.trim()).ok())
        .unwrap_or_else(|| url.clone())
}

/// The page with its links and images made absolute, so its Markdown still points somewhere
/// once out of the site (`[a](/x)` → `[a](https://example.com/x)`); `None` if lol_html cannot
/// rewrite it (the Markdown then keeps the links as written).
fn absolute(html: &str, base: &Url) -> Option<String> {
    use lol_html::{element, rewrite_str, RewriteStrSettings};
    let join = |attr: &'static str| {
        move |el: &mut lol_html::html_content::Element<'_, '_>| {
            if let Some(u) = el
                .get_attribute(attr)
                .and_then(|v| base.join(v.trim()).ok())
            {
                // Setting a value lol_html just parsed cannot fail.
                el.set_attribute(attr, u.as_str()).ok();
            }
            Ok(())
        }
    };
    rewrite_str(
        html,
        RewriteStrSettings {
            element_content_handlers: vec![
                element!("a[href]", join("href")),
                element!("img[src]", join("src")),
            ],
            ..RewriteStrSettings::new()
        },
    )
    .ok()
}

fn markdown(html: &str) -> String {
    htmd::HtmlToMarkdown::builder()
        .skip_tags(vec!["head", "script", "style", "noscript", "template"])
        .build()
        .convert(html)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(body: &[u8], content_type: &str) -> (PageRecord, Vec<u8>) {
        let mut rec = PageRecord::blank("http://a.test/dir/page.html");
        rec.final_url = rec.url.clone();
        rec.content_type = Some(content_type.into());
        (rec, body.to_vec())
    }

    fn all(selects: &[&str]) -> Fields {
        let names: Vec<String> = Computed::ALL.iter().map(|(n, _)| n.to_string()).collect();
        let sel: Vec<String> = selects.iter().map(|s| s.to_string()).collect();
        Fields::parse(&[names.join(",")], &sel, &["url", "status"]).unwrap()
    }

    const PAGE: &str = r#"<!doctype html><html lang="en-GB"><head>
<title>  A   page
 title </title>
<meta name="Description" content=" What  it is. ">
<link rel="canonical" href="/canon.html">
<style>p { color: red }</style>
</head><body>
<h1>Heading</h1>
<p>First <b>para</b> with <a href="other.html">a link</a>.</p>
<ul><li>one</li><li>two</li></ul>
<p class="price" data-sku="A1"> 9.99 </p><p class="price" data-sku="B2">12.00</p>
<script>var hidden = 1;</script>
<noscript><a href="/noscript-only.html">no script</a></noscript>
</body></html>"#;

    #[test]
    fn computed_fields_have_known_answers() {
        let (rec, body) = page(PAGE.as_bytes(), "text/html");
        let v = all(&["price=.price", "sku=.price@data-sku", "none=.missing"]).compute(&rec, &body);
        assert_eq!(v.title.as_deref(), Some("A page title"));
        assert_eq!(v.lang.as_deref(), Some("en-GB"));
        assert_eq!(v.description.as_deref(), Some("What it is."));
        assert_eq!(
            v.canonical.as_deref(),
            Some("http://a.test/canon.html"),
            "absolute"
        );
        assert_eq!(
            v.links.clone().unwrap(),
            [
                "http://a.test/canon.html",
                "http://a.test/dir/other.html",
                "http://a.test/noscript-only.html"
            ],
            "a <noscript> link is a link (scripts off)"
        );
        let text = v.text.clone().unwrap();
        assert!(text.starts_with("Heading\n"), "{text:?}");
        assert!(text.contains("First para with a link."), "{text:?}");
        assert!(text.contains("one") && text.contains("two"), "{text:?}");
        assert!(
            !text.contains("hidden") && !text.contains("color"),
            "{text:?}"
        );
        let md = v.markdown.clone().unwrap();
        assert!(md.starts_with("# Heading\n"), "{md:?}");
        assert!(
            md.contains("First **para** with [a link](http://a.test/dir/other.html)."),
            "links made absolute: {md:?}"
        );
        assert!(md.contains("*   one") || md.contains("- one") || md.contains("* one"));
        assert!(
            !md.contains("hidden") && !md.contains("A page title"),
            "{md:?}"
        );
        assert_eq!(v.selects, [vec!["9.99", "12.00"], vec!["A1", "B2"], vec![]]);
    }

    #[test]
    fn a_wide_table_is_text_cell_by_cell_not_padded_into_columns() {
        let cell = "word ".repeat(2000);
        let rows = "<tr><td>c</td><td>d</td></tr>".repeat(50);
        let t = text(&format!(
            "<table><tr><td>{cell}</td><td>b</td></tr>{rows}</table>"
        ));
        assert!(t.len() < 2 * cell.len(), "{} bytes", t.len());
        assert!(
            t.contains("\nb\n") && t.contains("c\nd"),
            "{}",
            &t[t.len() - 20..]
        );
    }

    #[test]
    fn a_latin1_page_is_decoded_as_it_declares() {
        let body =
            b"<html><head><meta charset=\"iso-8859-1\"><title>Caf\xe9 cr\xe8me</title></head>\
                     <body><p>\xc0 bient\xf4t</p></body></html>";
        let (rec, body) = page(body, "text/html");
        let v = all(&["p=p"]).compute(&rec, &body);
        assert_eq!(v.title.as_deref(), Some("Café crème"));
        assert_eq!(v.text.as_deref(), Some("À bientôt"));
        assert_eq!(v.selects, [vec!["À bientôt"]]);
        // The Content-Type's charset wins over none in the page.
        let (rec, body) = page(b"<title>na\xefve</title>", "text/html; charset=latin1");
        assert_eq!(
            all(&[]).compute(&rec, &body).title.as_deref(),
            Some("naïve")
        );
    }

    #[test]
    fn records_that_are_not_html_get_empty_values() {
        let (rec, body) = page(b"<title>x</title>", "application/json");
        let v = all(&["t=title"]).compute(&rec, &body);
        assert_eq!(v.title, None);
        assert_eq!(v.selects, [Vec::<String>::new()]);
        assert_eq!(v.json(Computed::Links), serde_json::Value::Null);
        assert_eq!(v.cell(Computed::Title), "");
    }

    #[test]
    fn field_and_select_specs_are_checked() {
        let stored = ["url", "status", "body"];
        let f = Fields::parse(&["title, status".into(), "links".into()], &[], &stored).unwrap();
        assert_eq!(
            f.columns.unwrap(),
            [
                Column::Stored("url".into()),
                Column::Computed(Computed::Title),
                Column::Stored("status".into()),
                Column::Computed(Computed::Links)
            ]
        );
        let f = Fields::parse(&["status,url".into()], &["h=h1".into()], &stored).unwrap();
        assert_eq!(
            f.columns.unwrap(),
            [
                Column::Stored("status".into()),
                Column::Stored("url".into()),
                Column::Select(0)
            ]
        );
        let err = |f: &[&str], s: &[&str]| {
            let f: Vec<String> = f.iter().map(|x| x.to_string()).collect();
            let s: Vec<String> = s.iter().map(|x| x.to_string()).collect();
            Fields::parse(&f, &s, &stored).unwrap_err().to_string()
        };
        assert!(err(&["titel"], &[]).contains("no field \"titel\""));
        assert!(err(&[], &["status=p"]).contains("taken"));
        assert!(err(&[], &["a=p", "a=h1"]).contains("taken"));
        assert!(err(&[], &["p"]).contains("NAME=CSS"));
        assert!(err(&[], &["x=p[["]).contains("not a CSS selector"));
        // An '@' inside an attribute selector is part of it.
        let s = Select::parse(r#"m=a[href$="@x.org"]"#).unwrap();
        assert_eq!(s.attr, None);
        let s = Select::parse(r#"m=a[href$="@x.org"]@href"#).unwrap();
        assert_eq!(s.attr.as_deref(), Some("href"));
    }
}
