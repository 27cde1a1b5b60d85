//! The password of a `--frontier` URL that gives none, where libpq would find it, so it need
//! not sit on the command line (where `ps` shows it to every user of the machine):
//! `PGPASSWORD`, else the password file, `PGPASSFILE` or `~/.pgpass`. The file's lines are
//! `host:port:database:user:password`, `*` matching anything, `\:` and `\\` escaped, `#`
//! comments. As libpq does, a file that is not a plain file, or that its group or others may
//! read or write, is ignored with a warning; a line's host is matched against the URL's host,
//! or its socket directory, or `localhost` for no host or libpq's default socket directory.

use std::path::{Path, PathBuf};

/// What a password file's line is matched against: the connection's host (or socket
/// directory), port, database and user, as libpq matches them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Host name, or the socket directory's path.
    pub host: String,
    /// Port number as text (`5432` when none is given).
    pub port: String,
    /// Database name.
    pub dbname: String,
    /// User name.
    pub user: String,
}

/// Socket directories libpq is commonly built with as its default (upstream's and Debian's):
/// a line for `localhost` matches them.
const DEFAULT_SOCKET_DIRS: [&str; 3] = ["/tmp", "/var/run/postgresql", "/run/postgresql"];

impl Target {
    /// The target of a parsed `--frontier` URL (its first host, as the connection tries first).
    pub fn of(config: &postgres::Config) -> Target {
        use postgres::config::Host;
        let host = match config.get_hosts().first() {
            Some(Host::Tcp(h)) => h.clone(),
            Some(Host::Unix(dir)) => {
                let dir = dir.to_string_lossy().into_owned();
                if DEFAULT_SOCKET_DIRS.contains(&dir.trim_end_matches('/')) {
                    "localhost".to_string()
                } else {
                    dir
                }
            }
            None => "localhost".to_string(),
        };
        Target {
            host,
            port: config
                .get_ports()
                .first()
                .copied()
                .unwrap_or(5432)
                .to_string(),
            dbname: config.get_dbname().unwrap_or_default().to_string(),
            user: config.get_user().unwrap_or_default().to_string(),
        }
    }
}

/// The password libpq would use for `target` when the URL has none: `PGPASSWORD`, else the
/// first matching line of the password file. `env` reads the environment (a test gives its
/// own).
pub fn password(target: &Target, env: impl Fn(&str) -> Option<String>) -> Option<String> {
    if let Some(p) = env("PGPASSWORD").filter(|p| !p.is_empty()) {
        return Some(p);
    }
    let file = match env("PGPASSFILE").filter(|p| !p.is_empty()) {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(env("HOME")?).join(".pgpass"),
    };
    from_file(&file, target)
}

/// The password of the first line of `file` matching `target`; `None` when there is none, or
/// the file is missing, unreadable, not a plain file, or open to its group or others.
fn from_file(file: &Path, target: &Target) -> Option<String> {
    let meta = std::fs::metadata(file).ok()?;
    if !meta.is_file() {
        log::warn!(
            "password file {} is not a plain file: ignored",
            file.display()
        );
        return None;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            log::warn!(
                "password file {} has group or world access: ignored, as libpq ignores it; \
                 chmod 0600 it",
                file.display()
            );
            return None;
        }
    }
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().find_map(|line| matching(line, target))
}

/// The password of one password-file line when its first four fields match `target`.
fn matching(line: &str, target: &Target) -> Option<String> {
    let line = line.trim_end_matches('\r');
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let fields = split(line);
    let [host, port, dbname, user, password] = fields.as_slice() else {
        return None;
    };
    let fits = |field: &Field, value: &str| field.wildcard || field.text == value;
    (fits(host, &target.host)
        && fits(port, &target.port)
        && fits(dbname, &target.dbname)
        && fits(user, &target.user))
    .then(|| password.text.clone())
}

/// One field of a line: its text unescaped, and whether it was a bare `*`.
struct Field {
    text: String,
    wildcard: bool,
}

/// A line's fields: split at unescaped `:` (the fifth field, the password, takes the rest of
/// the line up to an unescaped `:`, as libpq reads it), `\x` read as `x`.
fn split(line: &str) -> Vec<Field> {
    let mut fields = Vec::new();
    let (mut text, mut raw) = (String::new(), String::new());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let next = chars.next().unwrap_or('\\');
                text.push(next);
                raw.push(c);
                raw.push(next);
            }
            ':' => {
                fields.push(Field {
                    wildcard: raw == "*",
                    text: std::mem::take(&mut text),
                });
                raw.clear();
                if fields.len() == 4 {
                    // The password: up to the next unescaped ':' or the end.
                    let mut password = String::new();
                    while let Some(c) = chars.next() {
                        match c {
                            '\\' => password.push(chars.next().unwrap_or('\\')),
                            ':' => break,
                            c => password.push(c),
                        }
                    }
                    fields.push(Field {
                        text: password,
                        wildcard: false,
                    });
                    return fields;
                }
            }
            c => {
                text.push(c);
                raw.push(c);
            }
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn target(host: &str) -> Target {
        Target {
            host: host.into(),
            port: "5432".into(),
            dbname: "crawls".into(),
            user: "crawler".into(),
        }
    }

    #[test]
    fn lines_match_by_field_with_wildcards_and_escapes() {
        let t = target("db.lan");
        let line = |l: &str| matching(l, &t);
        assert_eq!(line("db.lan:5432:crawls:crawler:pw").as_deref(), Some("pw"));
        assert_eq!(line("*:*:*:*:p\\:w\\\\x").as_deref(), Some("p:w\\x"));
        assert_eq!(line("db.lan:*:crawls:crawler:a:b").as_deref(), Some("a"));
        assert_eq!(line("db.lan:5432:crawls:crawler:").as_deref(), Some(""));
        for miss in [
            "other:5432:crawls:crawler:pw",
            "db.lan:5433:crawls:crawler:pw",
            "db.lan:5432:other:crawler:pw",
            "db.lan:5432:crawls:someone:pw",
            "# db.lan:5432:crawls:crawler:pw",
            "db.lan:5432:crawls",
            "\\*:5432:crawls:crawler:pw",
            "",
        ] {
            assert_eq!(line(miss), None, "{miss}");
        }
        // A socket directory matches by its path, libpq's default one as localhost.
        let sock = target("/tmp/pg-x");
        assert_eq!(
            matching("/tmp/pg-x:5432:crawls:crawler:s", &sock).as_deref(),
            Some("s")
        );
        assert_eq!(matching("\\/tmp/pg-x:*:*:*:s", &sock).as_deref(), Some("s"));
        let url: postgres::Config = "postgres://crawler@/crawls?host=/var/run/postgresql"
            .parse()
            .unwrap();
        assert_eq!(Target::of(&url), target("localhost"));
    }

    #[test]
    fn pgpassword_first_then_the_file_if_only_its_owner_may_read_it() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pgpass");
        std::fs::write(
            &file,
            "# ours\nelse:*:*:*:no\n*:5432:crawls:crawler:from-file\n",
        )
        .unwrap();
        let env = |vars: &[(&str, &str)]| {
            let vars: HashMap<String, String> = vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            move |k: &str| vars.get(k).cloned()
        };
        let t = target("db.lan");
        let path = file.to_str().unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(
            password(&t, env(&[("PGPASSFILE", path), ("PGPASSWORD", "env")])).as_deref(),
            Some("env")
        );
        assert_eq!(
            password(&t, env(&[("PGPASSFILE", path)])).as_deref(),
            Some("from-file")
        );
        std::fs::copy(&file, dir.path().join(".pgpass")).unwrap();
        let home = dir.path().to_str().unwrap();
        assert_eq!(
            password(&t, env(&[("HOME", home)])).as_deref(),
            Some("from-file")
        );
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert_eq!(password(&t, env(&[("PGPASSFILE", path)])), None);
        assert_eq!(
            password(&t, env(&[("PGPASSFILE", home)])),
            None,
            "a directory"
        );
        assert_eq!(password(&t, env(&[])), None);
    }
}
