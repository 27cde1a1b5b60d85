//! sled for reading only: a private copy of sled's own files.
//!
//! sled 0.34 has no read-only mode: opening a database recovers its log, which rewrites a
//! torn or damaged tail (and extends a cut file) and writes a new snapshot. So `status` and
//! `export` give sled a copy of its files (`conf`, `db`, `snap.*`, `blobs/`) in a private
//! temporary directory, and read the rest of the database (page records, bodies, seen-set
//! runs) in place without writing. The original is never opened for writing: a damaged one
//! stays as it was for its owner to restore, and another user's read-only database can be read.
//! The cost is one copy of sled's file (the queue and tallies, not the pages): about a second
//! per GB where the file system cannot clone it (docs/GUIDE.md).

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// sled's files in a temporary directory, removed when dropped.
#[derive(Debug)]
pub struct SledCopy {
    dir: tempfile::TempDir,
}

impl SledCopy {
    /// Copies sled's files of the database at `db_dir`, holding a shared lock on its `db` file
    /// meanwhile, so a crawl cannot start writing halfway (a running one is reported as the
    /// holder of the lock, as a second writer would be).
    pub fn take(db_dir: &Path) -> Result<SledCopy> {
        let db_file = db_dir.join("db");
        let original = std::fs::File::open(&db_file)
            .map_err(|e| Error::io(format!("cannot read {}", db_file.display()), e))?;
        // A store this process dropped a moment ago can hold the lock while sled's threads
        // finish (as in `open_sled`): waited for, up to a second; another process's is not.
        let ours = || {
            std::fs::read_to_string(db_dir.join(super::PID_FILE))
                .is_ok_and(|s| s.trim() == std::process::id().to_string())
        };
        let mut tries = 0;
        // SAFETY: flock on a descriptor this function owns; no memory is involved.
        while unsafe { libc::flock(original.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) } != 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::WouldBlock {
                return Err(Error::io(format!("cannot lock {}", db_file.display()), e));
            }
            tries += 1;
            if tries > 50 || !ours() {
                return Err(super::open::locked(db_dir));
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        // Named with this process's id, so the copy of one killed before it could remove it
        // (kill -9 of an export) is known as nobody's and removed by the next read.
        let tmp = std::env::temp_dir();
        sweep_stale(&tmp);
        let dir = tempfile::Builder::new()
            .prefix(&format!("{PREFIX}{}-", std::process::id()))
            .tempdir_in(&tmp)
            .map_err(|e| Error::io("cannot create a temporary directory (set TMPDIR)", e))?;
        let entries = std::fs::read_dir(db_dir)
            .map_err(|e| Error::io(format!("cannot read {}", db_dir.display()), e))?;
        for entry in entries {
            let entry =
                entry.map_err(|e| Error::io(format!("cannot read {}", db_dir.display()), e))?;
            let name = entry.file_name();
            let text = name.to_string_lossy();
            if text == "db" || text == "conf" || text == "blobs" || text.starts_with("snap.") {
                copy(&entry.path(), &dir.path().join(&name))?;
            }
        }
        drop(original);
        Ok(SledCopy { dir })
    }

    /// Where sled opens the copy.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// The start of a private copy's directory name, followed by its process's id and `-`.
const PREFIX: &str = "politecrawl-read-";

/// Removes the private copies in `tmp` whose process is gone (killed before it could remove its
/// own). Only names this module makes are touched, and only when the process they name no
/// longer exists; anything it cannot remove is left as it is.
fn sweep_stale(tmp: &Path) {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(PREFIX))
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<i32>().ok())
        else {
            continue;
        };
        // SAFETY: signal 0 only asks whether the process exists; nothing is sent.
        let gone = unsafe { libc::kill(pid, 0) } != 0
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        if gone && entry.file_type().is_ok_and(|t| t.is_dir()) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Copies a file, or a directory's files (sled's `blobs/`), with what went wrong said.
fn copy(from: &Path, to: &PathBuf) -> Result<()> {
    let fail = |e| {
        Error::io(
            format!(
                "cannot copy {} to read it ({}; set TMPDIR to a directory with room)",
                from.display(),
                to.display()
            ),
            e,
        )
    };
    if from.is_dir() {
        std::fs::create_dir(to).map_err(fail)?;
        for entry in std::fs::read_dir(from).map_err(fail)? {
            let entry = entry.map_err(fail)?;
            copy(&entry.path(), &to.join(entry.file_name()))?;
        }
        return Ok(());
    }
    std::fs::copy(from, to).map(drop).map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_copies_of_processes_that_are_gone_are_swept() {
        let tmp = tempfile::tempdir().unwrap();
        let gone = tmp.path().join(format!("{PREFIX}999999999-abc"));
        let ours = tmp
            .path()
            .join(format!("{PREFIX}{}-def", std::process::id()));
        let old_style = tmp.path().join(format!("{PREFIX}Xy12ab"));
        let other = tmp.path().join("someone-else-999999999-x");
        for d in [&gone, &ours, &old_style, &other] {
            std::fs::create_dir(d).unwrap();
            std::fs::write(d.join("db"), b"x").unwrap();
        }
        sweep_stale(tmp.path());
        assert!(!gone.exists(), "pid 999999999 is past any pid_max: gone");
        for kept in [&ours, &old_style, &other] {
            assert!(kept.exists(), "{}", kept.display());
        }
    }
}
