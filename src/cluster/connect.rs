//! Reaching the shared frontier's PostgreSQL from a `--frontier` URL: the URL checked before
//! anything is sent, a bounded connect, and errors that name the URL (its password hidden) and
//! what to check.

use std::str::FromStr;
use std::time::Duration;

use crate::error::{Error, Result};

/// How long a connection attempt may take before it counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What to check when the server cannot be reached.
const REACH_HINT: &str = "check that the server runs and that the --frontier URL names the right \
     host, port or socket directory (?host=/run/postgresql), user and database";

/// What to check when the server refused a statement.
pub(crate) const STATEMENT_HINT: &str =
    "check the PostgreSQL server's log, and that the user may create tables in this database";

/// A `--frontier` URL: what was typed, and the form shown in messages.
#[derive(Clone, Debug)]
pub struct FrontierUrl {
    config: postgres::Config,
    shown: String,
}

impl FrontierUrl {
    /// Checks a `postgres://` or `postgresql://` URL (a unix socket directory goes in
    /// `?host=/path`); nothing is sent yet.
    pub fn parse(url: &str) -> Result<FrontierUrl> {
        let shown = hide_password(url);
        let bad = |reason: String| {
            Error::Config(format!(
                "--frontier {shown}: {reason}; give postgres://USER@HOST[:PORT]/DB, or \
                 postgres:///DB?host=/SOCKET/DIR for a unix socket"
            ))
        };
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(bad("not a postgres:// URL".into()));
        }
        let mut config = postgres::Config::from_str(url).map_err(|e| bad(e.to_string()))?;
        if config.get_dbname().is_none() {
            return Err(bad("it names no database".into()));
        }
        if config.get_user().is_none() {
            // libpq's default: the login name of the process.
            if let Ok(user) = std::env::var("USER") {
                config.user(&user);
            }
        }
        config
            .application_name("politecrawl")
            .connect_timeout(CONNECT_TIMEOUT);
        Ok(FrontierUrl { config, shown })
    }

    /// The URL as messages show it (any password replaced by `***`).
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// Opens a connection.
    pub fn connect(&self) -> Result<postgres::Client> {
        self.config
            .connect(postgres::NoTls)
            .map_err(|e| self.error("connecting", &e, REACH_HINT))
    }

    /// An error of a statement sent over this URL's connection.
    pub(crate) fn error(
        &self,
        action: &'static str,
        cause: &postgres::Error,
        hint: &'static str,
    ) -> Error {
        // Two transactions that each waited for the other (PostgreSQL ended one), or one that
        // could not be serialized: nothing of it happened, and it may simply run again.
        let transient = cause.code().is_some_and(|c| {
            *c == postgres::error::SqlState::T_R_DEADLOCK_DETECTED
                || *c == postgres::error::SqlState::T_R_SERIALIZATION_FAILURE
        });
        // The client's Display says "db error" for server errors; the server's text is better.
        let cause = match cause.as_db_error() {
            Some(db) => db.message().to_string(),
            None => match std::error::Error::source(cause) {
                Some(source) => format!("{cause}: {source}"),
                None => cause.to_string(),
            },
        };
        Error::Postgres {
            url: self.shown.clone(),
            action,
            cause,
            hint,
            transient,
        }
    }
}

/// `url` with any password replaced by `***`, for messages and `status`. By hand: the `url`
/// crate refuses the empty host of a unix-socket URL (`postgres://u:p@/db?host=/run`).
fn hide_password(url: &str) -> String {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let authority_end = url[start..]
        .find(['/', '?'])
        .map_or(url.len(), |i| start + i);
    let authority = &url[start..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_string();
    };
    match authority[..at].find(':') {
        Some(colon) => format!(
            "{}{}***{}",
            &url[..start],
            &authority[..=colon],
            &url[start + at..]
        ),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_before_anything_is_sent_and_passwords_never_shown() {
        let u = FrontierUrl::parse("postgres://crawler:s3cret@db.example:5433/crawls").unwrap();
        assert_eq!(u.shown(), "postgres://crawler:***@db.example:5433/crawls");
        assert_eq!(
            hide_password("postgres://u:p@ss@/crawls?host=/run/pg"),
            "postgres://u:***@/crawls?host=/run/pg"
        );
        assert_eq!(hide_password("postgres://u@h/db"), "postgres://u@h/db");
        let socket = FrontierUrl::parse("postgres:///crawls?host=/run/postgresql").unwrap();
        assert_eq!(socket.config.get_dbname(), Some("crawls"));
        for bad in [
            "http://db.example/crawls",
            "postgres://db.example",
            "postgres://u:p@db.example:notaport/crawls",
        ] {
            let e = FrontierUrl::parse(bad).unwrap_err().to_string();
            assert!(
                e.contains("--frontier") && e.contains("give postgres://"),
                "{e}"
            );
            assert!(!e.contains(":p@"), "the password is hidden: {e}");
        }
    }
}
