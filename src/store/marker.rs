//! Knowing a politecrawl database before anything writes to it.
//!
//! sled formats over whatever file is named `db` in the directory it is given, so a directory
//! holding a SQLite `db`, or a user's folder of notes beside one, must be refused before sled
//! is called. A database made by this version carries [`FILE`], written before sled first runs;
//! one made before the marker existed is recognised by sled's own `conf` file together with an
//! entry only politecrawl makes, and gets the marker at its next writable open.

use std::io::Read;
use std::path::Path;

/// The marker file in every database directory this version creates.
pub const FILE: &str = "POLITECRAWL";

/// The marker's first line: what the directory is.
const TEXT: &str = "politecrawl database\n";

/// What the marker says after its first line, for a person who finds the directory.
const HELP: &str = "This directory is a politecrawl crawl database. Read it with `politecrawl \
status --db DIR` or `politecrawl export --db DIR`; do not put other files in it.\n";

/// The entries politecrawl makes in a database directory, sled's own among them. `demo` removes
/// only these, and a directory holding anything else is named with what else it holds.
pub const OWN: &[&str] = &[
    FILE,
    "db",
    "conf",
    "blobs",
    "snap.",
    super::PID_FILE,
    super::page_log::DIR,
    super::bodies::DIR,
    crate::frontier::sled::seen::DIR,
    super::flusher::DURABLE_FILE,
    super::flusher::COMMITTED_FILE,
    super::flusher::SETTINGS_FILE,
    super::STATUS_SNAPSHOT_FILE,
    // Named here, not imported: the modules that own them sit above the store (the test
    // below keeps them alike).
    "live-status.json",
    "credentials",
    "cookies.json",
    "cluster.json",
    "skipped.jsonl",
    "skipped-counts.json",
];

/// Whether a directory entry's name is one politecrawl makes (`snap.` is a prefix: sled names
/// its snapshots `snap.<lsn>`, and writes `snap.<lsn>.generating` while it makes one).
pub fn is_own(name: &str) -> bool {
    OWN.iter()
        .any(|own| name == *own || (own.ends_with('.') && name.starts_with(own)))
        || name.ends_with(".tmp") && is_own(name.trim_end_matches(".tmp"))
}

/// How a directory was recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recognised {
    /// It carries the marker.
    Marked,
    /// Made before the marker: sled's `conf` and an entry of ours, no marker yet.
    Legacy,
}

/// Whether `dir` (which exists and is not empty) is a politecrawl database, reading only.
/// `Err` says what the directory holds instead.
pub fn recognise(dir: &Path) -> Result<Recognised, String> {
    if let Ok(mut f) = std::fs::File::open(dir.join(FILE)) {
        let mut head = [0u8; TEXT.len()];
        return match f.read_exact(&mut head) {
            Ok(()) if head == TEXT.as_bytes() => Ok(Recognised::Marked),
            _ => Err(format!("its {FILE} file is not a politecrawl marker")),
        };
    }
    if !dir.join("db").is_file() {
        return Err(others(dir));
    }
    if !is_sled_conf(&dir.join("conf")) {
        return Err(format!(
            "it holds a file named db that is not a sled database of politecrawl's ({})",
            others(dir)
        ));
    }
    let ours = [
        super::PID_FILE,
        super::page_log::DIR,
        super::bodies::DIR,
        crate::frontier::sled::seen::DIR,
    ];
    if ours.iter().any(|name| dir.join(name).exists()) {
        Ok(Recognised::Legacy)
    } else {
        Err("it holds a sled database that politecrawl did not make".into())
    }
}

/// Writes the marker into `dir` (before sled first runs in it, or after a legacy database
/// opened for writing). Replaced atomically, so a crash leaves none or all of it.
pub fn write(dir: &Path) -> std::io::Result<()> {
    let text = format!("{TEXT}{HELP}");
    let how = crate::replace_file::How {
        durable: true,
        private: false,
    };
    crate::replace_file::replace(&dir.join(FILE), text.as_bytes(), how)
}

/// The entries of `dir` that politecrawl does not make, for the message that refuses it.
pub fn foreign_entries(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !is_own(n))
        .collect();
    names.sort();
    names
}

/// "the directory holds other files (a, b, c)".
fn others(dir: &Path) -> String {
    let names = foreign_entries(dir);
    let shown: Vec<&str> = names.iter().take(3).map(String::as_str).collect();
    let more = if names.len() > 3 { ", ..." } else { "" };
    format!(
        "the directory holds other files ({}{more})",
        shown.join(", ")
    )
}

/// sled 0.34's `conf`: `segment_size: N`, `use_compression: B`, `version: X.Y` lines, then a
/// 4-byte CRC. Its first line is enough to tell it from anything else named `conf`.
fn is_sled_conf(path: &Path) -> bool {
    let mut head = [0u8; 14];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| &head == b"segment_size: ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_names_owned_above_the_store_are_the_owners_names() {
        for name in [
            crate::progress::LIVE_FILE,
            crate::config::request::CREDENTIALS,
            crate::fetch::cookies::FILE,
            crate::cluster::worker::IDENTITY_FILE,
            crate::skips::SAMPLE_FILE,
            crate::skips::COUNTS_FILE,
        ] {
            assert!(OWN.contains(&name), "{name}");
        }
    }

    #[test]
    fn own_names_and_others() {
        for own in [
            "db",
            "conf",
            "snap.000000000000DF02",
            "pages",
            "POLITECRAWL",
        ] {
            assert!(is_own(own), "{own}");
        }
        assert!(is_own("credentials.tmp"));
        for other in ["notes.txt", "photos", "db.sqlite", "snapshot"] {
            assert!(!is_own(other), "{other}");
        }
    }

    #[test]
    fn a_folder_with_a_file_named_db_is_not_recognised() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("db"), b"SQLite format 3\0").unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"mine").unwrap();
        let err = recognise(dir.path()).unwrap_err();
        assert!(err.contains("notes.txt"), "{err}");
        // A conf of sled's beside it is not enough either: nothing of ours is there.
        std::fs::write(dir.path().join("conf"), b"segment_size: 524288\n").unwrap();
        assert!(recognise(dir.path()).is_err());
        std::fs::create_dir(dir.path().join("pages")).unwrap();
        assert_eq!(recognise(dir.path()), Ok(Recognised::Legacy));
        write(dir.path()).unwrap();
        assert_eq!(recognise(dir.path()), Ok(Recognised::Marked));
        std::fs::write(dir.path().join(FILE), b"something else").unwrap();
        assert!(recognise(dir.path()).is_err());
    }
}
