//! The crawl's cookie jar: what servers set with `Set-Cookie` is kept and sent back under
//! RFC 6265's rules (domain, path, `Secure`, expiry; cookie_store does the matching), so a site
//! that needs a session cookie is crawled as a browser would see it.
//!
//! RFC 6265 scopes a cookie by host and path, not by port or scheme: a host-only cookie set by
//! `http://h:8080` is also sent to `http://h:9090` (and one without `Secure` to `https://h`),
//! as browsers do. A `Domain` attribute that is a public suffix (`co.uk`) is refused, with the
//! same public-suffix list `--scope domain` uses.
//!
//! The jar is saved in `DIR/cookies.json` (mode 0600: session cookies are logins) at most every
//! [`SAVE_EVERY`] while cookies change and when the crawl stops, session cookies included, so a
//! resume keeps the session; `kill -9` can lose the changes of that last interval.
//! `--cookies FILE` merges a Netscape cookies.txt (what curl, wget and browser extensions
//! write) into it.

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cookie_store::{CookieStore, RawCookie};
use url::Url;

use crate::error::{Error, Result};

/// The jar's file inside the database directory.
pub const FILE: &str = "cookies.json";

/// Longest time a change to the jar waits to be saved while the crawl runs.
pub const SAVE_EVERY: Duration = Duration::from_secs(5);

/// The cookies of one crawl, shared by every worker.
pub struct Jar {
    store: Mutex<CookieStore>,
    path: PathBuf,
    /// When the jar was last saved, and whether it changed since.
    saved: Mutex<(Instant, bool)>,
}

impl Jar {
    /// The jar saved in database `db` (empty when there is none).
    pub fn open(db: &Path) -> Result<Jar> {
        let path = db.join(FILE);
        let store = load(&path)?;
        Ok(Jar {
            store: Mutex::new(store),
            path,
            saved: Mutex::new((Instant::now(), false)),
        })
    }

    /// The `Cookie` header for a request to `url`, when the jar has cookies for it.
    pub fn header_for(&self, url: &Url) -> Option<String> {
        let store = self.store.lock().unwrap_or_else(|e| e.into_inner());
        let mut cookies = store.matches(url);
        // RFC 6265 5.4: longer paths first (then by name, where it asks for creation time,
        // which the jar does not keep: a fixed order all the same).
        cookies.sort_by(|a, b| {
            let len = |c: &cookie_store::Cookie<'_>| c.path.as_ref().len();
            len(b).cmp(&len(a)).then_with(|| a.name().cmp(b.name()))
        });
        let pairs: Vec<String> = cookies
            .iter()
            .map(|c| format!("{}={}", c.name(), c.value()))
            .collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }

    /// Keeps the `Set-Cookie` values of a response from `url` (bad ones are ignored, as a
    /// browser ignores them). Returns whether the jar is due to be saved ([`Jar::save`]: it
    /// changed, and the last save is [`SAVE_EVERY`] old), which the caller does off the async
    /// executor, since it syncs a file.
    pub fn take(&self, url: &Url, headers: &[(String, String)]) -> bool {
        let mut changed = false;
        {
            let mut store = self.store.lock().unwrap_or_else(|e| e.into_inner());
            for (_, value) in headers.iter().filter(|(n, _)| n == "set-cookie") {
                let Ok(raw) = RawCookie::parse(value.clone()) else {
                    continue;
                };
                if raw.domain().is_some_and(is_public_suffix) {
                    log::debug!("{url}: cookie {} for a public suffix refused", raw.name());
                    continue;
                }
                changed |= store.insert_raw(&raw, url).is_ok();
            }
        }
        if !changed {
            return false;
        }
        let mut saved = self.saved.lock().unwrap_or_else(|e| e.into_inner());
        saved.1 = true;
        saved.0.elapsed() >= SAVE_EVERY
    }

    /// Writes the jar when it changed since the last save.
    pub fn save(&self) -> Result<()> {
        let mut saved = self.saved.lock().unwrap_or_else(|e| e.into_inner());
        if !saved.1 {
            return Ok(());
        }
        let mut json = Vec::new();
        {
            let store = self.store.lock().unwrap_or_else(|e| e.into_inner());
            cookie_store::serde::json::save_incl_expired_and_nonpersistent(&store, &mut json)
                .map_err(|e| Error::Encode {
                    what: "the cookie jar",
                    reason: e.to_string(),
                })?;
        }
        super::write_private(&self.path, &json)?;
        *saved = (Instant::now(), false);
        Ok(())
    }
}

/// Merges the cookies of a Netscape cookies.txt into the jar of database `db`; returns how
/// many were taken. A line that is not a cookie is an error naming its number.
pub fn import(db: &Path, file: &Path) -> Result<usize> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Error::Config(format!("--cookies {}: cannot read it: {e}", file.display())))?;
    let jar = Jar::open(db)?;
    let mut n = 0;
    {
        let mut store = jar.store.lock().unwrap_or_else(|e| e.into_inner());
        for (i, line) in text.lines().enumerate() {
            let bad = |why: &str| {
                Error::Config(format!(
                    "--cookies {} line {}: {why} (a Netscape cookies.txt line has 7 tab-separated fields: domain, subdomains TRUE/FALSE, path, secure TRUE/FALSE, expiry, name, value)",
                    file.display(),
                    i + 1
                ))
            };
            let (line, http_only) = match line.strip_prefix("#HttpOnly_") {
                Some(rest) => (rest, true),
                None => (line, false),
            };
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let f: Vec<&str> = line.split('\t').collect();
            if f.len() != 7 {
                return Err(bad(&format!("{} fields", f.len())));
            }
            let host = f[0].trim_start_matches('.');
            let secure = f[3].eq_ignore_ascii_case("TRUE");
            let expiry: i64 = f[4]
                .trim()
                .parse()
                .map_err(|_| bad("the expiry is not a number"))?;
            let scheme = if secure { "https" } else { "http" };
            let url = Url::parse(&format!("{scheme}://{host}{}", f[2]))
                .map_err(|e| bad(&format!("{host}{}: {e}", f[2])))?;
            let mut cookie = format!("{}={}; Path={}", f[5], f[6], f[2]);
            if f[1].eq_ignore_ascii_case("TRUE") {
                cookie.push_str(&format!("; Domain={host}"));
            }
            if secure {
                cookie.push_str("; Secure");
            }
            if http_only {
                cookie.push_str("; HttpOnly");
            }
            if expiry > 0 {
                let now = crate::runtime::unix_ms() as i64 / 1000;
                cookie.push_str(&format!("; Max-Age={}", expiry - now));
            }
            match store.parse(&cookie, &url) {
                Ok(_) => n += 1,
                Err(e) => return Err(bad(&format!("not a cookie for {url}: {e}"))),
            }
        }
    }
    jar.saved.lock().unwrap_or_else(|e| e.into_inner()).1 = true;
    jar.save()?;
    Ok(n)
}

fn is_public_suffix(domain: &str) -> bool {
    let d = domain.trim_start_matches('.').to_ascii_lowercase();
    psl::suffix_str(&d) == Some(d.as_str())
}

fn load(path: &Path) -> Result<CookieStore> {
    match std::fs::File::open(path) {
        Ok(f) => cookie_store::serde::json::load_all(BufReader::new(f)).map_err(|e| {
            Error::Config(format!(
                "{} does not read ({e}): delete it to start without cookies",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(CookieStore::default()),
        Err(e) => Err(Error::io(format!("reading {}", path.display()), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(cookies: &[&str]) -> Vec<(String, String)> {
        cookies
            .iter()
            .map(|c| ("set-cookie".to_string(), c.to_string()))
            .collect()
    }

    #[test]
    fn cookies_follow_rfc6265_scoping() {
        let dir = tempfile::tempdir().unwrap();
        let jar = Jar::open(dir.path()).unwrap();
        let page = Url::parse("http://www.example.com/a/page").unwrap();
        jar.take(
            &page,
            &headers(&[
                "sid=1; Path=/",
                "deep=2; Path=/a/b",
                "wide=3; Domain=example.com; Path=/",
                "foreign=4; Domain=other.org",
                "super=5; Domain=com",
                "safe=6; Path=/; Secure",
            ]),
        );
        let at = |u: &str| jar.header_for(&Url::parse(u).unwrap()).unwrap_or_default();
        assert_eq!(at("http://www.example.com/x"), "sid=1; wide=3");
        assert_eq!(
            at("http://www.example.com/a/b/c"),
            "deep=2; sid=1; wide=3",
            "longest path first"
        );
        assert_eq!(
            at("http://api.example.com/"),
            "wide=3",
            "domain cookies go to subdomains"
        );
        assert_eq!(at("https://www.example.com/"), "safe=6; sid=1; wide=3");
        assert_eq!(
            at("http://other.org/"),
            "",
            "another site's domain is refused"
        );
        assert_eq!(at("http://shop.com/"), "", "a public suffix is refused");
    }

    #[test]
    fn the_jar_survives_a_reopen_and_imports_cookies_txt() {
        let dir = tempfile::tempdir().unwrap();
        let url = Url::parse("http://h.test/").unwrap();
        let jar = Jar::open(dir.path()).unwrap();
        jar.take(&url, &headers(&["session=abc"]));
        jar.save().unwrap();
        let txt = dir.path().join("cookies.txt");
        std::fs::write(
            &txt,
            "# Netscape HTTP Cookie File\n\n.h.test\tTRUE\t/\tFALSE\t0\tpref\tdark\n#HttpOnly_h.test\tFALSE\t/\tFALSE\t4102444800\tlong\tyes\n",
        )
        .unwrap();
        assert_eq!(import(dir.path(), &txt).unwrap(), 2);
        let jar = Jar::open(dir.path()).unwrap();
        let got = jar.header_for(&url).unwrap();
        for c in ["session=abc", "pref=dark", "long=yes"] {
            assert!(got.contains(c), "{got}");
        }
        std::fs::write(&txt, "h.test\tTRUE\t/\n").unwrap();
        let e = import(dir.path(), &txt).unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("3 fields"), "{e}");
    }
}
