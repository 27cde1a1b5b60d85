//! What every request carries besides its URL: the crawler's own headers, the user's
//! `--header`s, and HTTP Basic credentials for the origins they were given for.
//!
//! Credentials (`--user`/`--password`, or a seed's `https://user:pass@host/`) are sent to their
//! own origin only. Redirects are never followed by the client (each hop is a new request
//! through the frontier), so a redirect to another origin cannot carry them along. They are
//! not crawl settings: the saved settings go into `status --json`, run reports and the WARC
//! `warcinfo`, so credentials live in their own file, `DIR/credentials` (mode 0600), which
//! nothing exports; URLs are stored without their userinfo.
//!
//! So do the values of `--header`s that carry credentials (`Cookie`, `X-Api-Key`, see
//! [`crate::secrets::is_secret_header`]): [`Headers`] serializes, prints and shows them as
//! `<redacted>`, [`Credentials`] keeps their values for a resume, and a WARC request record
//! shows the header with its value redacted (like the `Authorization` of `--user`, which it does
//! not show at all, the record is rebuilt from the settings, not copied off the wire).

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{Error, Result};
use crate::secrets::{is_secret_header, REDACTED};

/// The credentials file inside the database directory.
pub const CREDENTIALS: &str = "credentials";

/// Headers the crawler sets itself, and where to change them instead.
const REFUSED: [(&str, &str); 7] = [
    ("host", "it follows from the URL"),
    (
        "user-agent",
        "use --user-agent (robots.txt rules follow its product token)",
    ),
    (
        "authorization",
        "use --user/--password, sent only to the seeds' origins",
    ),
    (
        "accept-encoding",
        "the crawler decodes gzip, deflate and br itself",
    ),
    ("content-length", "requests have no body"),
    ("transfer-encoding", "requests have no body"),
    ("connection", "the client manages its connections"),
];

/// The `Accept` header sent unless a `--header` gives another.
pub const ACCEPT: &str = "text/html,application/xhtml+xml,*/*;q=0.8";
/// The `Accept-Encoding` header: the codings the crawler decodes.
pub const ACCEPT_ENCODING: &str = "gzip, deflate, br";

/// Splits a `--header 'Name: value'` into a lowercase name and its value, refusing what cannot
/// be sent or what the crawler must set itself.
pub fn parse_header(raw: &str) -> std::result::Result<(String, String), String> {
    let (name, value) = raw
        .split_once(':')
        .ok_or_else(|| format!("--header {raw:?}: expected 'Name: value'"))?;
    let name = name.trim().to_ascii_lowercase();
    let value = value.trim();
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(token) {
        return Err(format!("--header {raw:?}: {name:?} is not a header name"));
    }
    if value.chars().any(|c| c.is_control() && c != '\t') || !value.is_ascii() {
        return Err(format!(
            "--header {raw:?}: the value must be printable ASCII (percent-encode the rest)"
        ));
    }
    if let Some((_, why)) = REFUSED.iter().find(|(n, _)| *n == name) {
        return Err(format!("--header {raw:?}: {name} is not allowed: {why}"));
    }
    Ok((name, value.to_string()))
}

/// The headers every request sends, in order: the user's `--header`s (checked by
/// [`parse_header`]), `Accept` unless one of them is, `Accept-Encoding`, and the User-Agent.
pub fn default_headers(user_agent: &str, given: &[String]) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> =
        given.iter().filter_map(|h| parse_header(h).ok()).collect();
    if !headers.iter().any(|(n, _)| n == "accept") {
        headers.push(("accept".into(), ACCEPT.into()));
    }
    headers.push(("accept-encoding".into(), ACCEPT_ENCODING.into()));
    headers.push(("user-agent".into(), user_agent.into()));
    headers
}

/// The `--header` lines of a crawl (`Name: value`, as typed). The value of a header that
/// carries a credential is `<redacted>` wherever the lines leave the process: serialized (the
/// saved settings, `status --json`, the run report, `live-settings.json`, warcinfo, a shared
/// crawl's settings in PostgreSQL), printed with `{:?}`, or shown as a flag (`config`, recorded
/// overrides). In memory they hold the values sent; a crawl read back from its settings gets
/// them from its credentials file ([`Headers::fill`]).
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Headers(Vec<String>);

impl Headers {
    /// The lines, credential values replaced by `<redacted>`.
    pub fn redacted(&self) -> Vec<String> {
        self.0.iter().map(|line| redact(line)).collect()
    }

    /// The credential headers whose values are in hand (lowercase name, value), in order.
    pub fn secrets(&self) -> Vec<(String, String)> {
        self.0
            .iter()
            .filter_map(|line| parse_header(line).ok())
            .filter(|(name, value)| is_secret_header(name) && value != REDACTED)
            .collect()
    }

    /// Puts back the values of `<redacted>` lines from `secrets` (as [`Headers::secrets`] gave
    /// them): the k-th redacted header of a name takes the k-th value of that name.
    pub fn fill(&mut self, secrets: &[(String, String)]) {
        fill_redacted(&mut self.0, secrets);
    }

    /// The name of the first credential header whose value is still `<redacted>`: its value was
    /// never given to this crawl (settings copied from another, or a credentials file deleted).
    pub fn unfilled(&self) -> Option<String> {
        self.0
            .iter()
            .filter_map(|line| parse_header(line).ok())
            .find(|(name, value)| value == REDACTED && is_secret_header(name))
            .map(|(name, _)| name)
    }
}

/// Puts back the values of the `<redacted>` credential headers among `lines` from `secrets`
/// (as [`Headers::secrets`] gave them): the k-th credential header of a name takes the k-th
/// value of that name. A header left `<redacted>` had no value there.
pub fn fill_redacted(lines: &mut [String], secrets: &[(String, String)]) {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for line in lines {
        let Ok((name, value)) = parse_header(line) else {
            continue;
        };
        if !is_secret_header(&name) {
            continue;
        }
        let k = seen.entry(name.clone()).or_default();
        let found = secrets.iter().filter(|(n, _)| *n == name).nth(*k);
        *k += 1;
        if let (REDACTED, Some((_, v))) = (value.as_str(), found) {
            let typed = line.split_once(':').map_or("", |(n, _)| n.trim());
            *line = format!("{typed}: {v}");
        }
    }
}

/// `Name: <redacted>` for a credential header, else the line as it is.
fn redact(line: &str) -> String {
    match line.split_once(':') {
        Some((name, _)) if is_secret_header(name) => format!("{}: {REDACTED}", name.trim()),
        _ => line.to_string(),
    }
}

impl From<Vec<String>> for Headers {
    fn from(lines: Vec<String>) -> Self {
        Headers(lines)
    }
}

impl std::ops::Deref for Headers {
    type Target = [String];
    fn deref(&self) -> &[String] {
        &self.0
    }
}

/// Never writes a credential's value (see [`Headers`]).
impl Serialize for Headers {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.redacted().serialize(s)
    }
}

/// Never prints a credential's value.
impl std::fmt::Debug for Headers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.redacted().fmt(f)
    }
}

/// HTTP Basic credentials by origin (`https://host:port`), the proxy's login, and the values of
/// credential `--header`s.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    by_origin: BTreeMap<String, Login>,
    /// The login of `--proxy`, when its URL had one.
    #[serde(default)]
    pub proxy: Option<Login>,
    /// The values of the crawl's credential `--header`s (lowercase name, value), in order (see
    /// [`Headers::secrets`]).
    #[serde(default)]
    pub headers: Vec<(String, String)>,
}

/// One user name and password.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Login {
    /// User name.
    pub user: String,
    /// Password (may be empty).
    pub password: String,
}

/// Never prints the password.
impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Login({:?}, password hidden)", self.user)
    }
}

/// Never prints a password (a config printed with `{:?}` in a log stays safe).
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let users: BTreeMap<&str, &str> = self
            .by_origin
            .iter()
            .map(|(o, l)| (o.as_str(), l.user.as_str()))
            .collect();
        let proxy = self.proxy.as_ref().map(|l| l.user.as_str());
        let headers: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        write!(
            f,
            "Credentials({users:?}, proxy {proxy:?}, headers {headers:?}, passwords and values \
             hidden)"
        )
    }
}

impl Credentials {
    /// Sets the login of `url`'s origin (a later one replaces an earlier one).
    pub fn set(&mut self, url: &Url, login: Login) {
        self.by_origin.insert(crate::canon::origin_key(url), login);
    }

    /// The userinfo of a seed as typed (`https://user:pass@host/`), percent-decoded.
    pub fn from_userinfo(url: &Url) -> Option<Login> {
        if url.username().is_empty() && url.password().is_none() {
            return None;
        }
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        Some(Login {
            user: decode(url.username()),
            password: decode(url.password().unwrap_or("")),
        })
    }

    /// Adds every login of `other`, replacing this one's for the same origin.
    pub fn extend(&mut self, other: &Credentials) {
        for (origin, login) in &other.by_origin {
            self.by_origin.insert(origin.clone(), login.clone());
        }
        if other.proxy.is_some() {
            self.proxy.clone_from(&other.proxy);
        }
    }

    /// The `Authorization` value for a request to `url`, when its origin has a login.
    pub fn authorization(&self, url: &Url) -> Option<String> {
        let login = self.by_origin.get(&crate::canon::origin_key(url))?;
        let pair = format!("{}:{}", login.user, login.password);
        Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        ))
    }

    /// The logins saved in database `db` (none when it has no credentials file).
    pub fn load(db: &Path) -> Result<Credentials> {
        let path = db.join(CREDENTIALS);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                Error::Config(format!(
                    "{} does not read ({e}): delete it and give --user/--password again",
                    path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Credentials::default()),
            Err(e) => Err(Error::io(format!("reading {}", path.display()), e)),
        }
    }

    /// Saves the logins into `db/credentials`, readable by its owner only, replaced atomically.
    pub fn save(&self, db: &Path) -> Result<()> {
        let path = db.join(CREDENTIALS);
        let json = serde_json::to_vec(self).map_err(|e| Error::Encode {
            what: "the credentials",
            reason: e.to_string(),
        })?;
        crate::replace_file::write_private(&path, &json)
    }
}

/// The HTTP Basic logins requests are sent with, and the seeds' origins the credential
/// `--header`s go to, shared with whoever learns of new ones while the crawl runs: a shared
/// crawl's worker reads those another `crawl --frontier` adds (a seed with `user:password@`,
/// `--user` for new seeds, a new seed of a crawl with credential headers) before it can lease
/// their URLs.
#[derive(Clone, Debug)]
pub struct Logins(
    std::sync::Arc<std::sync::RwLock<Credentials>>,
    std::sync::Arc<std::sync::RwLock<std::collections::HashSet<String>>>,
);

impl Logins {
    /// Replaces the logins by origin with `credentials`' (the proxy's login, fixed when the
    /// client was built, and the header values, fixed with the crawl's settings, stay).
    pub fn replace(&self, credentials: &Credentials) {
        let mut held = self.0.write().unwrap_or_else(|p| p.into_inner());
        held.extend(credentials);
    }

    /// Shares `credentials`, and the seeds' origins `seed_origins`.
    pub fn new(credentials: Credentials, seed_origins: std::collections::HashSet<String>) -> Self {
        Logins(
            std::sync::Arc::new(std::sync::RwLock::new(credentials)),
            std::sync::Arc::new(std::sync::RwLock::new(seed_origins)),
        )
    }

    /// Adds a seed's origin (`https://host:port`): the credential headers go there too.
    pub fn add_seed_origin(&self, origin: &str) {
        let mut held = self.1.write().unwrap_or_else(|p| p.into_inner());
        held.insert(origin.to_string());
    }

    /// Whether `url` is on a seed's origin (where the credential headers go).
    pub fn is_seed_origin(&self, url: &Url) -> bool {
        let held = self.1.read().unwrap_or_else(|p| p.into_inner());
        held.contains(&crate::canon::origin_key(url))
    }

    /// The `Authorization` value for a request to `url` (see [`Credentials::authorization`]).
    pub fn authorization(&self, url: &Url) -> Option<String> {
        let held = self.0.read().unwrap_or_else(|p| p.into_inner());
        held.authorization(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_checked_and_ours_cannot_be_overridden() {
        assert_eq!(
            parse_header("X-Team:  crawl ").unwrap(),
            ("x-team".into(), "crawl".into())
        );
        for (raw, words) in [
            ("Host: a", "follows from the URL"),
            ("User-Agent: x", "--user-agent"),
            ("authorization: Basic eA==", "--user/--password"),
            ("no colon", "expected 'Name: value'"),
            ("Bad Name: v", "not a header name"),
            ("X: caf\u{e9}", "printable ASCII"),
        ] {
            let err = parse_header(raw).unwrap_err();
            assert!(err.contains(words), "{raw}: {err}");
        }
        let sent = default_headers("bot/1", &["Accept: text/plain".into()]);
        let names: Vec<&str> = sent.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["accept", "accept-encoding", "user-agent"]);
        assert_eq!(sent[0].1, "text/plain", "the given Accept replaces ours");
    }

    #[test]
    fn credential_header_values_never_leave_the_process_yet_come_back_for_a_resume() {
        let given: Vec<String> = [
            "X-Team: crawl",
            "Cookie: sid=S1cret",
            "X-Api-Key: S2cret",
            "cookie: b=S3cret",
        ]
        .map(String::from)
        .into();
        let headers = Headers::from(given.clone());
        let json = serde_json::to_string(&headers).unwrap();
        let shown = [
            json.clone(),
            format!("{headers:?}"),
            headers.redacted().join("\n"),
        ];
        for shown in &shown {
            assert!(!shown.contains("cret"), "{shown}");
            assert!(shown.contains("X-Api-Key: <redacted>"), "{shown}");
            assert!(shown.contains("X-Team: crawl"), "{shown}");
        }
        // What is sent has the values; the credentials file gets them, in order.
        let sent = default_headers("bot/1", &headers);
        assert!(sent.contains(&("x-api-key".into(), "S2cret".into())));
        let secrets = headers.secrets();
        assert_eq!(
            secrets,
            [
                ("cookie".to_string(), "sid=S1cret".to_string()),
                ("x-api-key".into(), "S2cret".into()),
                ("cookie".into(), "b=S3cret".into()),
            ]
        );
        let creds = Credentials {
            headers: secrets.clone(),
            ..Credentials::default()
        };
        assert!(!format!("{creds:?}").contains("cret"));
        // Read back: redacted until filled from the credentials file, each value in its place.
        let mut back: Headers = serde_json::from_str(&json).unwrap();
        assert_eq!(back.unfilled().as_deref(), Some("cookie"));
        back.fill(&secrets[..2]);
        assert_eq!(
            back.unfilled().as_deref(),
            Some("cookie"),
            "the second cookie"
        );
        back.fill(&secrets);
        assert_eq!(back[..], given[..]);
        assert_eq!(back.unfilled(), None);
    }

    #[test]
    fn a_login_is_for_its_own_origin_only_and_never_printed() {
        let seed = Url::parse("https://al%40ice:s%3Acret@a.test:8443/x").unwrap();
        let mut c = Credentials::default();
        c.set(&seed, Credentials::from_userinfo(&seed).unwrap());
        let here = Url::parse("https://a.test:8443/other").unwrap();
        // base64("al@ice:s:cret")
        assert_eq!(
            c.authorization(&here).as_deref(),
            Some("Basic YWxAaWNlOnM6Y3JldA==")
        );
        for elsewhere in [
            "http://a.test:8443/",
            "https://a.test/",
            "https://b.test:8443/",
        ] {
            assert_eq!(c.authorization(&Url::parse(elsewhere).unwrap()), None);
        }
        assert!(!format!("{c:?}").contains("s:cret"));
    }
}
