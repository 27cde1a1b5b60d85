//! Reaching the shared frontier's PostgreSQL from a `--frontier` URL: the URL checked before
//! anything is sent, its password taken where libpq would find it when it gives none
//! ([`super::pgpass`]), a bounded connect, and errors that name the URL (its password hidden)
//! and what to check.

use std::str::FromStr;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::secrets::hide_password;

/// How long a connection attempt may take before it counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What to check when the server cannot be reached.
const REACH_HINT: &str = "check that the server runs and that the --frontier URL names the right \
     host, port or socket directory (?host=/run/postgresql), user and database";

/// What to do when the server wants a password it was not given, or another one.
const PASSWORD_HINT: &str = "give the role's password in PGPASSWORD or in a password file \
     (~/.pgpass or PGPASSFILE, mode 0600, lines host:port:database:user:password), rather \
     than in the URL, where other users see it in ps";

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
    /// `?host=/path`); nothing is sent yet. Without a password in it, the password is
    /// `PGPASSWORD`'s or the password file's (`PGPASSFILE`, `~/.pgpass`), as libpq's would be.
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
        if config.get_password().is_some() {
            log::warn!(
                "the --frontier URL holds a password, which other users of this machine can \
                 read (ps, /proc): give it in PGPASSWORD or ~/.pgpass instead"
            );
        } else if let Some(password) =
            super::pgpass::password(&super::pgpass::Target::of(&config), |k| {
                std::env::var(k).ok()
            })
        {
            config.password(password);
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
        self.config.connect(postgres::NoTls).map_err(|e| {
            // The client says "invalid configuration", its source "password missing".
            let missing = std::error::Error::source(&e)
                .is_some_and(|s| s.to_string().contains("password missing"));
            let password =
                missing || e.code() == Some(&postgres::error::SqlState::INVALID_PASSWORD);
            let hint = if password { PASSWORD_HINT } else { REACH_HINT };
            self.error("connecting", &e, hint)
        })
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
        let query =
            FrontierUrl::parse("postgres://u@/crawls?host=/run/pg&password=s3cret").unwrap();
        assert_eq!(
            query.shown(),
            "postgres://u@/crawls?host=/run/pg&password=***"
        );
        assert_eq!(query.config.get_password(), Some(&b"s3cret"[..]));
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
        for bad in [
            "postgres://u@h:notaport/crawls?password=s3cret",
            "postgres://u@h/crawls?password=s3cret&nosuchoption=1",
        ] {
            let e = FrontierUrl::parse(bad).unwrap_err().to_string();
            assert!(!e.contains("s3cret"), "the password is hidden: {e}");
        }
    }
}
