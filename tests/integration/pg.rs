//! Test support for the cluster tests: Debian's PostgreSQL 15 started in a temp dir, listening
//! on a unix socket only (no TCP port), as the `postgres` user when the tests run as root
//! (PostgreSQL refuses root). Stopped (`pg_ctl stop -m immediate`, as a crash would) when
//! dropped.

#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A PostgreSQL binary: Debian keeps them out of PATH, in its versioned directory.
fn bin(name: &str) -> PathBuf {
    let debian = Path::new("/usr/lib/postgresql/15/bin").join(name);
    if debian.is_file() {
        return debian;
    }
    let dirs = std::env::var("PATH").unwrap_or_default();
    dirs.split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("the cluster tests need PostgreSQL 15: apt-get install postgresql-15 (.ci/run does)")
        })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// A command run as the server's owner.
fn as_owner(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn sh(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run a PostgreSQL tool");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A running server of its own.
pub struct Postgres {
    dir: tempfile::TempDir,
}

impl Postgres {
    /// initdb into a new temp dir, then start it on a socket in that dir, with database
    /// `crawls` created.
    pub fn start() -> Postgres {
        let dir = tempfile::Builder::new()
            .prefix("politecrawl-pg-")
            .tempdir()
            .expect("a temp dir");
        if is_root() {
            // Every directory the server writes must be the postgres user's.
            sh(Command::new("chown").arg("postgres:").arg(dir.path()));
        }
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let pg = Postgres { dir };
        sh(as_owner(&bin("initdb"))
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"])
            .arg("-D")
            .arg(pg.data()));
        pg.start_again();
        sh(as_owner(&bin("createdb"))
            .args(["-h"])
            .arg(pg.socket_dir())
            .args(["-U", "postgres", "crawls"]));
        pg
    }

    /// Starts the server (again, after [`Postgres::stop`]) on its socket.
    pub fn start_again(&self) {
        let opts = format!(
            "-k {} -c listen_addresses='' -c fsync=off -c max_connections=50",
            self.socket_dir().display()
        );
        sh(as_owner(&bin("pg_ctl"))
            .arg("-D")
            .arg(self.data())
            .args(["-o", &opts, "-l"])
            .arg(self.dir.path().join("log"))
            .args(["-w", "start"]));
    }

    /// Stops the server as a crash would (`-m immediate`): every connection is cut.
    pub fn stop(&self) {
        sh(as_owner(&bin("pg_ctl")).arg("-D").arg(self.data()).args([
            "-m",
            "immediate",
            "-w",
            "stop",
        ]));
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The directory of its socket (`?host=` in a URL).
    pub fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The `--frontier` URL of database `crawls`.
    pub fn url(&self) -> String {
        self.url_of("crawls")
    }

    /// The URL of another database on this server.
    pub fn url_of(&self, db: &str) -> String {
        format!(
            "postgres://postgres@/{db}?host={}",
            self.socket_dir().display()
        )
    }

    /// Adds role `role`, which must log in with `password` (SCRAM), owning a new database `db`;
    /// returns its URL without the password. Every other role still logs in without one.
    pub fn add_login(&self, role: &str, password: &str, db: &str) -> String {
        let mut admin = postgres::Client::connect(&self.url(), postgres::NoTls).unwrap();
        admin
            .batch_execute(&format!("CREATE ROLE {role} LOGIN PASSWORD '{password}'"))
            .unwrap();
        admin
            .batch_execute(&format!("CREATE DATABASE {db} OWNER {role}"))
            .unwrap();
        let hba = self.data().join("pg_hba.conf");
        let rest = std::fs::read_to_string(&hba).unwrap();
        std::fs::write(&hba, format!("local all {role} scram-sha-256\n{rest}")).unwrap();
        sh(as_owner(&bin("pg_ctl"))
            .arg("-D")
            .arg(self.data())
            .arg("reload"));
        let url = format!(
            "postgres://{role}@/{db}?host={}",
            self.socket_dir().display()
        );
        // A reload is a signal: wait until the server asks the role for its password.
        let asked = (0..100).any(|_| {
            let refused = postgres::Client::connect(&url, postgres::NoTls).is_err();
            if !refused {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            refused
        });
        assert!(asked, "the server still lets {role} in without a password");
        url
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = as_owner(&bin("pg_ctl"))
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}
