//! Turns an HTML body into text before link extraction, by the charset the page declares:
//! a byte-order mark first, then the Content-Type `charset`, then a `<meta charset>` (or
//! `http-equiv` Content-Type) in the first 1024 bytes, else UTF-8 when the bytes are valid
//! UTF-8 and windows-1252 (the web's legacy default) when not. encoding_rs replaces invalid
//! sequences, so a badly encoded page never fails: its links are still found.

use std::borrow::Cow;
use std::sync::LazyLock;

use encoding_rs::{Encoding, UTF_8, WINDOWS_1252};
use regex::bytes::Regex;

/// How far into the body a `<meta>` charset is looked for (as browsers do).
const PRESCAN: usize = 1024;

static META_CHARSET: LazyLock<Regex> = LazyLock::new(|| {
    // A constant pattern: a failure is a bug caught by every test.
    Regex::new(r#"(?i)<meta[^>]+charset\s*=\s*["']?\s*([a-z0-9_\-:.]+)"#).expect("constant regex")
});

/// The encoding a page declares or implies.
pub fn detect(body: &[u8], content_type: Option<&str>) -> &'static Encoding {
    if let Some((enc, _)) = Encoding::for_bom(body) {
        return enc;
    }
    let declared = content_type.and_then(charset_param).or_else(|| {
        let head = &body[..body.len().min(PRESCAN)];
        META_CHARSET
            .captures(head)
            .and_then(|c| Encoding::for_label(c.get(1)?.as_bytes()))
    });
    match declared {
        // A page cannot really be UTF-16 if its meta tag was readable as ASCII.
        Some(enc) if enc.output_encoding() != enc => enc.output_encoding(),
        Some(enc) => enc,
        None if std::str::from_utf8(body).is_ok() => UTF_8,
        None => WINDOWS_1252,
    }
}

fn charset_param(content_type: &str) -> Option<&'static Encoding> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| Encoding::for_label(v.trim().trim_matches('"').as_bytes()))
            .flatten()
    })
}

/// The page as text, decoded by its declared charset; invalid bytes become U+FFFD.
pub fn decode_html<'a>(body: &'a [u8], content_type: Option<&str>) -> Cow<'a, str> {
    let enc = detect(body, content_type);
    let (text, _, _) = enc.decode(body);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_charsets_win_in_order() {
        let latin1 = b"<a href=\"caf\xe9.html\">caf\xe9</a>";
        assert_eq!(
            detect(latin1, Some("text/html; charset=ISO-8859-1")),
            WINDOWS_1252
        );
        assert_eq!(
            decode_html(latin1, Some("text/html; charset=latin1")),
            "<a href=\"café.html\">café</a>"
        );
        let sjis = b"<meta charset=\"shift_jis\"><a href=\"/\x93\xfa\x96\x7b.html\">x</a>";
        assert_eq!(detect(sjis, Some("text/html")).name(), "Shift_JIS");
        assert!(decode_html(sjis, None).contains("/日本.html"));
        let bom = b"\xef\xbb\xbf<p>x</p>";
        assert_eq!(
            detect(bom, Some("text/html; charset=windows-1252")),
            UTF_8,
            "the BOM wins"
        );
        let meta = b"<meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-16le\">";
        assert_eq!(
            detect(meta, None),
            UTF_8,
            "an ASCII-readable page is not UTF-16"
        );
    }

    #[test]
    fn undeclared_pages_fall_back_without_failing() {
        assert_eq!(detect("é".as_bytes(), None), UTF_8);
        assert_eq!(detect(b"caf\xe9", None), WINDOWS_1252);
        assert_eq!(
            decode_html(b"a\x80b", Some("text/html; charset=utf-8")),
            "a\u{fffd}b"
        );
    }
}
