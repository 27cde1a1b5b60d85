//! Sitemaps (sitemaps.org): `<urlset>` lists pages, `<sitemapindex>` lists more sitemaps; either
//! may be gzip-compressed (`.xml.gz`). Parsed with quick-xml as flate2 decompresses, under a
//! hard cap on the decoded size ([`MAX_DECODED`]) and on the entries kept (`--max-links`), so
//! neither a compressed bomb nor a sitemap of a million URLs costs more than those caps.

use std::io::{BufRead, BufReader, Read};

use quick_xml::events::Event;
use quick_xml::Reader;

/// Largest decoded sitemap read (the protocol's own limit is 50 MB).
pub const MAX_DECODED: u64 = 50 * 1024 * 1024;

/// The `<loc>` entries of a sitemap, up to a cap.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Sitemap {
    /// Page URLs (`<url><loc>`).
    pub pages: Vec<String>,
    /// Further sitemaps (`<sitemap><loc>`).
    pub sitemaps: Vec<String>,
    /// Entries past the cap, counted and not kept.
    pub dropped: u64,
}

/// Reads the entries of a sitemap body, at most `max` of them (pages and sitemaps together;
/// the rest are counted in [`Sitemap::dropped`]). A gzip body (recognized by its magic bytes,
/// whatever the headers say) is decompressed as it is read, up to [`MAX_DECODED`]: neither the
/// decoded text nor more than `max` URLs are ever held, so one sitemap costs memory in
/// proportion to `max`, not to what the server sent. A body that stops decompressing or
/// parsing ends the read; what was found before it is kept.
pub fn read(body: &[u8], max: usize) -> Sitemap {
    if body.starts_with(&[0x1f, 0x8b]) {
        parse(BufReader::new(decoder(body)), max)
    } else {
        parse(body, max)
    }
}

/// A gzip body's decompressed bytes, cut at [`MAX_DECODED`].
fn decoder(body: &[u8]) -> impl Read + '_ {
    flate2::read::MultiGzDecoder::new(body).take(MAX_DECODED)
}

/// Reads the `<loc>` of every `<url>` and `<sitemap>`, keeping the first `max`. Malformed XML
/// ends the read; what was found before it is kept.
fn parse(xml: impl BufRead, max: usize) -> Sitemap {
    let mut reader = Reader::from_reader(xml);
    let mut out = Sitemap::default();
    let (mut parent, mut in_loc, mut loc) = (None::<bool>, false, String::new());
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(e)) => match e.local_name().as_ref() {
                "url" => parent = Some(true),
                "sitemap" => parent = Some(false),
                "loc" => {
                    in_loc = true;
                    loc.clear();
                }
                _ => {}
            },
            Ok(Event::Text(t)) if in_loc => loc.push_str(&t.xml10_content()),
            Ok(Event::CData(t)) if in_loc => loc.push_str(&t.xml10_content()),
            Ok(Event::GeneralRef(r)) if in_loc => {
                let name = r.xml10_content();
                if let Ok(Some(c)) = r.resolve_char_ref() {
                    loc.push(c);
                } else if let Some(s) = quick_xml::escape::resolve_predefined_entity(&name) {
                    loc.push_str(s);
                }
            }
            Ok(Event::End(e)) => match e.local_name().as_ref() {
                "loc" => {
                    in_loc = false;
                    let url = loc.trim();
                    let Some(is_page) = parent.filter(|_| !url.is_empty()) else {
                        continue;
                    };
                    if out.pages.len() + out.sitemaps.len() == max {
                        out.dropped += 1;
                    } else if is_page {
                        out.pages.push(url.to_string());
                    } else {
                        out.sitemaps.push(url.to_string());
                    }
                }
                "url" | "sitemap" => parent = None,
                _ => {}
            },
            Ok(Event::Eof) | Err(_) => return out,
            Ok(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(bytes).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn reads_urlsets_and_indexes() {
        let xml =
            br#"<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
            <url><loc> http://e.com/a?x=1&amp;y=2 </loc><lastmod>2024-01-01</lastmod></url>
            <url><loc><![CDATA[http://e.com/b]]></loc></url></urlset>"#;
        assert_eq!(
            read(xml, usize::MAX).pages,
            ["http://e.com/a?x=1&y=2", "http://e.com/b"]
        );
        let idx =
            br#"<sitemapindex><sitemap><loc>http://e.com/s1.xml.gz</loc></sitemap></sitemapindex>"#;
        assert_eq!(read(idx, usize::MAX).sitemaps, ["http://e.com/s1.xml.gz"]);
        assert_eq!(
            read(&gzip(idx), usize::MAX).sitemaps,
            ["http://e.com/s1.xml.gz"]
        );
        assert_eq!(
            read(
                b"<urlset><url><loc>http://e.com/ok</loc></url><url><loc>bro",
                10
            ),
            Sitemap {
                pages: vec!["http://e.com/ok".into()],
                ..Sitemap::default()
            }
        );
    }

    #[test]
    fn entries_past_the_cap_are_counted_not_kept() {
        let xml: String = (0..10)
            .map(|i| format!("<url><loc>http://e.com/{i}</loc></url>"))
            .collect();
        let xml = format!("<urlset>{xml}<sitemap><loc>http://e.com/s.xml</loc></sitemap></urlset>");
        let got = read(&gzip(xml.as_bytes()), 4);
        assert_eq!(
            got.pages,
            [
                "http://e.com/0",
                "http://e.com/1",
                "http://e.com/2",
                "http://e.com/3"
            ]
        );
        assert!(got.sitemaps.is_empty());
        assert_eq!(got.dropped, 7, "6 pages and a sitemap past the cap");
    }

    #[test]
    fn gzip_is_decoded_and_capped() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1024 * 1024];
        for _ in 0..60 {
            gz.write_all(&zeros).unwrap();
        }
        let bomb = gz.finish().unwrap();
        assert!(bomb.len() < 200_000, "small on the wire");
        let decoded = std::io::copy(&mut decoder(&bomb), &mut std::io::sink()).unwrap();
        assert_eq!(decoded, MAX_DECODED);
        assert_eq!(read(&bomb, 10), Sitemap::default());
    }
}
