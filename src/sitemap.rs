//! Sitemaps (sitemaps.org): `<urlset>` lists pages, `<sitemapindex>` lists more sitemaps; either
//! may be gzip-compressed (`.xml.gz`). Parsed with quick-xml, decompressed with flate2 under a
//! hard cap on the decoded size, so a compressed bomb costs at most [`MAX_DECODED`].

use std::io::Read;

use quick_xml::events::Event;
use quick_xml::Reader;

/// Largest decoded sitemap read (the protocol's own limit is 50 MB).
pub const MAX_DECODED: u64 = 50 * 1024 * 1024;

/// The `<loc>` entries of a sitemap.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Sitemap {
    /// Page URLs (`<url><loc>`).
    pub pages: Vec<String>,
    /// Further sitemaps (`<sitemap><loc>`).
    pub sitemaps: Vec<String>,
}

/// Decompresses a gzip body (recognized by its magic bytes, whatever the headers say) up to
/// [`MAX_DECODED`]; other bodies are returned as they are.
pub fn decode(body: &[u8]) -> Result<Vec<u8>, String> {
    if !body.starts_with(&[0x1f, 0x8b]) {
        return Ok(body.to_vec());
    }
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(body)
        .take(MAX_DECODED)
        .read_to_end(&mut out)
        .map_err(|e| format!("gzip sitemap does not decompress: {e}"))?;
    Ok(out)
}

/// Reads the `<loc>` of every `<url>` and `<sitemap>`. Malformed XML ends the read; what was
/// found before it is kept.
pub fn parse(xml: &[u8]) -> Sitemap {
    let mut reader = Reader::from_reader(xml);
    let mut out = Sitemap::default();
    let (mut parent, mut in_loc, mut loc) = (None::<bool>, false, String::new());
    loop {
        match reader.read_event() {
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
                    let url = loc.trim().to_string();
                    match parent {
                        Some(true) if !url.is_empty() => out.pages.push(url),
                        Some(false) if !url.is_empty() => out.sitemaps.push(url),
                        _ => {}
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

    #[test]
    fn reads_urlsets_and_indexes() {
        let xml =
            br#"<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
            <url><loc> http://e.com/a?x=1&amp;y=2 </loc><lastmod>2024-01-01</lastmod></url>
            <url><loc><![CDATA[http://e.com/b]]></loc></url></urlset>"#;
        assert_eq!(
            parse(xml).pages,
            ["http://e.com/a?x=1&y=2", "http://e.com/b"]
        );
        let idx =
            br#"<sitemapindex><sitemap><loc>http://e.com/s1.xml.gz</loc></sitemap></sitemapindex>"#;
        assert_eq!(parse(idx).sitemaps, ["http://e.com/s1.xml.gz"]);
        assert_eq!(
            parse(b"<urlset><url><loc>http://e.com/ok</loc></url><url><loc>bro"),
            Sitemap {
                pages: vec!["http://e.com/ok".into()],
                sitemaps: vec![],
            }
        );
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
        assert_eq!(decode(&bomb).unwrap().len() as u64, MAX_DECODED);
        assert_eq!(decode(b"<urlset/>").unwrap(), b"<urlset/>");
    }
}
