//! The crawl's cookie jar: what servers set with `Set-Cookie` is kept and sent back under
//! RFC 6265's rules (domain, path, `Secure`, expiry; cookie_store does the matching), so a site
//! that needs a session cookie is crawled as a browser would see it.
//!
//! RFC 6265 scopes a cookie by host and path, not by port or scheme: a host-only cookie set by
//! `http://h:8080` is also sent to `http://h:9090` (and one without `Secure` to `https://h`),
//! as browsers do. A `Domain` attribute that is a public suffix (`co.uk`) is refused, with the
//! same public-suffix list `--scope domain` uses.
//!
//! The jar keeps browsers' limits (RFC 6265 §6.1 and Chrome's practice, see the constants): a
//! cookie's name and value at most [`MAX_COOKIE_BYTES`], a site at most [`MAX_PER_SITE`]
//! cookies and [`MAX_SITE_BYTES`] of them as sent (so no `Cookie` header outgrows what servers
//! accept), the jar at most [`MAX_COOKIES`]. Past a limit it evicts as §5.3 says: expired
//! cookies first, then the least recently set or sent. A server setting 200 new cookies on
//! every page costs a header of at most 8 KB, not one that grows until every request to the
//! host is refused.
//!
//! The jar is saved in `DIR/cookies.json` (mode 0600: session cookies are logins) at most every
//! [`SAVE_EVERY`] while cookies change and when the crawl stops, session cookies included, so a
//! resume keeps the session; `kill -9` can lose the changes of that last interval. It is
//! written least recently used first, and read back in that order and cut to the limits (a jar
//! saved before them included).
//! `--cookies FILE` merges a Netscape cookies.txt (what curl, wget and browser extensions
//! write) into it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cookie_store::{Cookie, CookieStore, RawCookie, StoreAction};
use url::Url;

use crate::error::{Error, Result};

/// The jar's file inside the database directory.
pub const FILE: &str = "cookies.json";

/// Longest time a change to the jar waits to be saved while the crawl runs.
pub const SAVE_EVERY: Duration = Duration::from_secs(5);

/// Longest cookie kept, as its name and value: RFC 6265 §6.1's minimum, and what Chrome and
/// Firefox keep. A longer one is ignored, as they ignore it.
pub const MAX_COOKIE_BYTES: usize = 4096;

/// Most cookies kept for one site (registrable domain, or the host when it has none): Chrome's
/// 180 (RFC 6265 §6.1 asks for at least 50).
pub const MAX_PER_SITE: usize = 180;

/// Most bytes of one site's cookies as they are sent (`name=value; ` each), so the `Cookie`
/// header of any request stays under it: Apache refuses a header line past 8,190 bytes
/// (`LimitRequestFieldSize`) and nginx past its 8 KB buffer, after which every request to the
/// host would fail.
pub const MAX_SITE_BYTES: usize = 8000;

/// Most cookies kept in all: RFC 6265 §6.1's 3,000 (Chrome keeps ~3,300).
pub const MAX_COOKIES: usize = 3000;

/// The cookies of one crawl, shared by every worker.
pub struct Jar {
    inner: Mutex<Inner>,
    path: PathBuf,
    /// When the jar was last saved, and whether it changed since.
    saved: Mutex<(Instant, bool)>,
}

/// A cookie's identity in the store: domain, path, name (RFC 6265 §5.3 step 11).
type Key = (String, String, String);

/// The store, and what its limits need: when each cookie was last set or sent (§5.3's
/// last-access-time, as a counter), its size, and each site's totals.
#[derive(Default)]
struct Inner {
    store: CookieStore,
    used: HashMap<Key, Use>,
    sites: HashMap<String, Usage>,
    clock: u64,
}

struct Use {
    last_access: u64,
    bytes: usize,
    site: String,
}

#[derive(Default)]
struct Usage {
    count: usize,
    bytes: usize,
}

impl Jar {
    /// The jar saved in database `db` (empty when there is none). A saved jar over the limits
    /// (one written before they existed) is cut to them, the least recently used first.
    pub fn open(db: &Path) -> Result<Jar> {
        let path = db.join(FILE);
        let (inner, cut) = load(&path)?;
        if cut > 0 {
            log::info!(
                "{}: {cut} cookies expired or over the jar's limits dropped",
                path.display()
            );
        }
        Ok(Jar {
            inner: Mutex::new(inner),
            path,
            saved: Mutex::new((Instant::now(), cut > 0)),
        })
    }

    /// The `Cookie` header for a request to `url`, when the jar has cookies for it. The cookies
    /// sent count as used (RFC 6265 §5.4 step 3).
    pub fn header_for(&self, url: &Url) -> Option<String> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut cookies = inner.store.matches(url);
        if cookies.is_empty() {
            return None;
        }
        // RFC 6265 5.4: longer paths first (then by name, where it asks for creation time,
        // which the jar does not keep: a fixed order all the same).
        cookies.sort_by(|a, b| {
            let len = |c: &Cookie<'_>| c.path.as_ref().len();
            len(b).cmp(&len(a)).then_with(|| a.name().cmp(b.name()))
        });
        let header = cookies
            .iter()
            .map(|c| format!("{}={}", c.name(), c.value()))
            .collect::<Vec<_>>()
            .join("; ");
        let keys: Vec<Key> = cookies.iter().map(|c| key_of(c)).collect();
        for key in keys {
            inner.touch(key, None);
        }
        Some(header)
    }

    /// Keeps the `Set-Cookie` values of a response from `url` (bad ones are ignored, as a
    /// browser ignores them), within the jar's limits. Returns whether the jar is due to be
    /// saved ([`Jar::save`]: it changed, and the last save is [`SAVE_EVERY`] old), which the
    /// caller does off the async executor, since it syncs a file.
    pub fn take(&self, url: &Url, headers: &[(String, String)]) -> bool {
        let mut changed = false;
        {
            let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            let mut sites = Vec::new();
            for (_, value) in headers.iter().filter(|(n, _)| n == "set-cookie") {
                let Ok(raw) = RawCookie::parse(value.clone()) else {
                    continue;
                };
                if raw.domain().is_some_and(is_public_suffix) {
                    log::debug!("{url}: cookie {} for a public suffix refused", raw.name());
                    continue;
                }
                if let Some(site) = inner.insert(&raw, url) {
                    changed = true;
                    if !sites.contains(&site) {
                        sites.push(site);
                    }
                }
            }
            inner.limit(&sites);
        }
        if !changed {
            return false;
        }
        let mut saved = self.saved.lock().unwrap_or_else(|e| e.into_inner());
        saved.1 = true;
        saved.0.elapsed() >= SAVE_EVERY
    }

    /// Writes the jar when it changed since the last save: its unexpired cookies, least
    /// recently used first, so a resume evicts in the same order.
    pub fn save(&self) -> Result<()> {
        let mut saved = self.saved.lock().unwrap_or_else(|e| e.into_inner());
        if !saved.1 {
            return Ok(());
        }
        let json = {
            let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            let mut cookies: Vec<(u64, &Cookie<'static>)> = inner
                .store
                .iter_unexpired()
                .map(|c| (inner.used.get(&key_of(c)).map_or(0, |u| u.last_access), c))
                .collect();
            cookies.sort_by_key(|(at, _)| *at);
            let cookies: Vec<&Cookie<'static>> = cookies.into_iter().map(|(_, c)| c).collect();
            serde_json::to_vec_pretty(&cookies).map_err(|e| Error::Encode {
                what: "the cookie jar",
                reason: e.to_string(),
            })?
        };
        crate::replace_file::write_private(&self.path, &json)?;
        *saved = (Instant::now(), false);
        Ok(())
    }
}

impl Inner {
    /// Stores a cookie set by a response from `url` (one longer than [`MAX_COOKIE_BYTES`] is
    /// ignored); returns its site when the jar changed.
    fn insert(&mut self, raw: &RawCookie<'_>, url: &Url) -> Option<String> {
        if too_long(raw) {
            log::debug!(
                "{url}: cookie {} over {MAX_COOKIE_BYTES} bytes ignored",
                raw.name()
            );
            return None;
        }
        let cookie = Cookie::try_from_raw_cookie(raw, url).ok()?.into_owned();
        self.put(cookie, url).ok().flatten()
    }

    /// Stores a cookie from `url` under RFC 6265's rules; returns its site when the jar changed.
    fn put(
        &mut self,
        cookie: Cookie<'static>,
        url: &Url,
    ) -> std::result::Result<Option<String>, cookie_store::CookieError> {
        let (key, bytes) = (key_of(&cookie), bytes_of(&cookie));
        let site = site_of(&key.0);
        match self.store.insert(cookie, url)? {
            StoreAction::Inserted | StoreAction::UpdatedExisting => self.touch(key, Some(bytes)),
            StoreAction::ExpiredExisting => self.remove(&key),
        }
        Ok(Some(site))
    }

    /// Marks a cookie as used now; `bytes` when it was (re)set.
    fn touch(&mut self, key: Key, bytes: Option<usize>) {
        self.clock += 1;
        let now = self.clock;
        if let Some(u) = self.used.get_mut(&key) {
            u.last_access = now;
            if let Some(b) = bytes {
                let site = self.sites.entry(u.site.clone()).or_default();
                site.bytes = site.bytes + b - u.bytes;
                u.bytes = b;
            }
            return;
        }
        let (site, bytes) = (site_of(&key.0), bytes.unwrap_or_default());
        let usage = self.sites.entry(site.clone()).or_default();
        usage.count += 1;
        usage.bytes += bytes;
        let last_access = now;
        self.used.insert(
            key,
            Use {
                last_access,
                bytes,
                site,
            },
        );
    }

    fn remove(&mut self, key: &Key) {
        self.store.remove(&key.0, &key.1, &key.2);
        let Some(u) = self.used.remove(key) else {
            return;
        };
        if let Some(site) = self.sites.get_mut(&u.site) {
            site.count -= 1;
            site.bytes -= u.bytes;
            if site.count == 0 {
                self.sites.remove(&u.site);
            }
        }
    }

    /// Brings `sites`, then the whole jar, within the limits, evicting as RFC 6265 §5.3 says:
    /// expired cookies first, then the least recently used.
    fn limit(&mut self, sites: &[String]) {
        for site in sites {
            let over = |s: &Inner| {
                s.sites
                    .get(site)
                    .is_some_and(|u| u.count > MAX_PER_SITE || u.bytes > MAX_SITE_BYTES)
            };
            if over(self) {
                let mut order = self.eviction_order(|u| &u.site == site);
                while over(self) {
                    let Some(key) = order.pop() else { break };
                    self.remove(&key);
                }
            }
        }
        if self.used.len() > MAX_COOKIES {
            let mut order = self.eviction_order(|_| true);
            while self.used.len() > MAX_COOKIES {
                let Some(key) = order.pop() else { break };
                self.remove(&key);
            }
        }
    }

    /// Brings every site and the whole jar within the limits; returns how many cookies went.
    fn limit_all(&mut self) -> usize {
        let before = self.used.len();
        let sites: Vec<String> = self.sites.keys().cloned().collect();
        self.limit(&sites);
        before - self.used.len()
    }

    /// The keys of the cookies `which` picks, the first to evict last (to pop).
    fn eviction_order(&self, which: impl Fn(&Use) -> bool) -> Vec<Key> {
        let mut keys: Vec<(bool, u64, &Key)> = self
            .used
            .iter()
            .filter(|(_, u)| which(u))
            .map(|(k, u)| {
                let expired = self
                    .store
                    .get_any(&k.0, &k.1, &k.2)
                    .is_none_or(|c| c.is_expired());
                (!expired, u.last_access, k)
            })
            .collect();
        keys.sort_unstable_by(|a, b| b.cmp(a));
        keys.into_iter().map(|(_, _, k)| k.clone()).collect()
    }
}

fn key_of(c: &Cookie<'_>) -> Key {
    (
        String::from(&c.domain),
        String::from(&c.path),
        c.name().to_string(),
    )
}

/// What a cookie adds to a `Cookie` header: `name=value; `.
fn bytes_of(c: &Cookie<'_>) -> usize {
    c.name().len() + c.value().len() + 3
}

/// The site whose limits a cookie for `domain` counts against: its registrable domain, or the
/// host itself (an IP address, `localhost`). Every cookie a request can carry has the same site,
/// so a site's bytes bound the header.
fn site_of(domain: &str) -> String {
    let d = domain.trim_start_matches('.').to_ascii_lowercase();
    let ip = d
        .trim_matches(['[', ']'])
        .parse::<std::net::IpAddr>()
        .is_ok();
    match psl::domain_str(&d) {
        Some(site) if !ip => site.to_string(),
        _ => d,
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
        let mut inner = jar.inner.lock().unwrap_or_else(|e| e.into_inner());
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
            let not_one = |e: &dyn std::fmt::Display| bad(&format!("not a cookie for {url}: {e}"));
            let raw = RawCookie::parse(cookie).map_err(|e| not_one(&e))?;
            if too_long(&raw) {
                return Err(bad(&format!("longer than {MAX_COOKIE_BYTES} bytes")));
            }
            let cookie = Cookie::try_from_raw_cookie(&raw, &url).map_err(|e| not_one(&e))?;
            inner
                .put(cookie.into_owned(), &url)
                .map_err(|e| not_one(&e))?;
            n += 1;
        }
        let cut = inner.limit_all();
        if cut > 0 {
            log::info!(
                "--cookies {}: {cut} cookies over the jar's limits dropped",
                file.display()
            );
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

fn too_long(raw: &RawCookie<'_>) -> bool {
    raw.name().len() + raw.value().len() > MAX_COOKIE_BYTES
}

/// The saved jar, its file order taken as the order of use (see [`Jar::save`]) and cut to the
/// limits; with how many cookies it lost (expired, or over the limits).
fn load(path: &Path) -> Result<(Inner, usize)> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Inner::default(), 0)),
        Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
    };
    let cookies: Vec<Cookie<'static>> = serde_json::from_slice(&bytes).map_err(|e| {
        Error::Config(format!(
            "{} does not read ({e}): delete it to start without cookies",
            path.display()
        ))
    })?;
    let before = cookies.len();
    let cookies: Vec<Cookie<'static>> = cookies
        .into_iter()
        .filter(|c| !c.is_expired() && !too_long(c))
        .collect();
    let mut inner = Inner::default();
    for c in &cookies {
        inner.touch(key_of(c), Some(bytes_of(c)));
    }
    let ok = cookies.into_iter().map(Ok::<_, std::convert::Infallible>);
    inner.store = match CookieStore::from_cookies(ok, false) {
        Ok(store) => store,
        Err(never) => match never {},
    };
    inner.limit_all();
    let cut = before - inner.used.len();
    Ok((inner, cut))
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

    fn names(jar: &Jar, url: &str) -> Vec<String> {
        let header = jar
            .header_for(&Url::parse(url).unwrap())
            .unwrap_or_default();
        let mut names: Vec<String> = header
            .split("; ")
            .filter(|p| !p.is_empty())
            .map(|p| p.split('=').next().unwrap().to_string())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_site_keeps_its_most_recently_used_cookies_within_the_limits() {
        let dir = tempfile::tempdir().unwrap();
        let jar = Jar::open(dir.path()).unwrap();
        let page = Url::parse("http://www.example.com/").unwrap();
        jar.take(&page, &headers(&["old=1; Path=/old", "keep=1; Path=/"]));
        // 50 new cookies a response, 300 in all: the count limit.
        for round in 0..6 {
            let set: Vec<String> = (0..50)
                .map(|i| format!("r{round}c{i:02}=v; Path=/flood"))
                .collect();
            let set: Vec<&str> = set.iter().map(String::as_str).collect();
            jar.take(&page, &headers(&set));
            // `keep` is sent with every request to `/`, so it stays recently used.
            assert_eq!(names(&jar, "http://www.example.com/"), ["keep"]);
        }
        let got = names(&jar, "http://www.example.com/flood/x");
        assert_eq!(got.len(), MAX_PER_SITE);
        assert_eq!(jar.inner.lock().unwrap().used.len(), MAX_PER_SITE);
        assert!(got.contains(&"keep".to_string()), "sent, so recently used");
        assert!(got.contains(&"r5c49".to_string()), "the newest is kept");
        assert!(!got.contains(&"r0c00".to_string()), "the oldest went");
        assert_eq!(
            names(&jar, "http://www.example.com/old"),
            ["keep"],
            "`old`, never sent: gone"
        );
        // A subdomain's cookies count against the same site, so no header outgrows the limit.
        let api = Url::parse("http://api.example.com/").unwrap();
        let wide: Vec<String> = (0..40)
            .map(|i| format!("w{i:02}={}; Domain=example.com", "x".repeat(300)))
            .collect();
        let wide: Vec<&str> = wide.iter().map(String::as_str).collect();
        jar.take(&api, &headers(&wide));
        for url in [&page, &api] {
            let header = jar.header_for(url).unwrap();
            assert!(header.len() <= MAX_SITE_BYTES, "{} bytes", header.len());
        }
        // A cookie past the size limit is ignored; one at it is kept.
        let at = format!("big={}", "x".repeat(MAX_COOKIE_BYTES - 3));
        let past = format!("huge={}", "x".repeat(MAX_COOKIE_BYTES));
        jar.take(&page, &headers(&[&at, &past]));
        let got = names(&jar, "http://www.example.com/");
        assert!(got.contains(&"big".to_string()) && !got.contains(&"huge".to_string()));
    }

    #[test]
    fn a_site_is_the_registrable_domain_or_the_host() {
        assert_eq!(site_of("www.example.co.uk"), "example.co.uk");
        assert_eq!(site_of(".example.com"), "example.com");
        assert_eq!(site_of("127.0.0.1"), "127.0.0.1");
        assert_eq!(site_of("::1"), "::1");
        assert_eq!(site_of("localhost"), "localhost");
    }

    #[test]
    fn the_jar_holds_at_most_its_total_and_a_saved_jar_is_cut_on_open() {
        let dir = tempfile::tempdir().unwrap();
        // A jar saved before the limits: 4,000 cookies over 40 sites, 100 on each.
        let mut old = CookieStore::default();
        for site in 0..40 {
            let url = Url::parse(&format!("http://s{site}.test/")).unwrap();
            for i in 0..100 {
                old.parse(&format!("c{i}=v"), &url).unwrap();
            }
        }
        let mut json = Vec::new();
        cookie_store::serde::json::save_incl_expired_and_nonpersistent(&old, &mut json).unwrap();
        std::fs::write(dir.path().join(FILE), json).unwrap();
        let jar = Jar::open(dir.path()).unwrap();
        assert_eq!(jar.inner.lock().unwrap().used.len(), MAX_COOKIES);
        // Cut, and due to be saved: a resume reads what the limits left, in the same order.
        jar.save().unwrap();
        let again = Jar::open(dir.path()).unwrap();
        assert_eq!(again.inner.lock().unwrap().used.len(), MAX_COOKIES);
        // A new cookie evicts the least recently used of the whole jar, not itself.
        let url = Url::parse("http://new.test/").unwrap();
        again.take(&url, &headers(&["fresh=1"]));
        assert_eq!(names(&again, "http://new.test/"), ["fresh"]);
        assert_eq!(again.inner.lock().unwrap().used.len(), MAX_COOKIES);
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
