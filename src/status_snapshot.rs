//! `status` of a stopped crawl without opening its database.
//!
//! sled 0.34 has no read-only mode, so `status` otherwise runs sled on a private copy of its
//! files (`store::sled_copy`): a second per GB of queue, 3.5–6.3 s at 47 M queued URLs. So a
//! crawl that stops cleanly computes its status once more on the database in its final state
//! and leaves it beside the database in [`STATUS_SNAPSHOT_FILE`], together with the size and
//! modification time of sled's file as they were then; `status` prints it instead when it can
//! show it is still true:
//!
//! - every writer removes the file (and syncs the removal) before it opens sled
//!   (`Store::open`), so a crawl killed later leaves none behind;
//! - sled's file must still have that size and time (a writer that does not know the rule, an
//!   older build or a restored backup, changes them);
//! - nobody holds sled's lock (a crawl that just started has not written yet, but `status` on
//!   a running crawl shows its live numbers instead, as before).
//!
//! Anything else (no file, a file that does not parse or does not match) falls back to reading
//! the database: the snapshot only ever saves time, it never decides an answer.

use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::status::Status;
use crate::store::Store;
pub use crate::store::STATUS_SNAPSHOT_FILE;

/// What the file holds.
#[derive(Debug, Serialize, Deserialize)]
struct Snapshot {
    /// sled's `db` file when the status was read: its length and modification time (ns).
    db_len: u64,
    db_mtime_ns: u128,
    status: Status,
}

/// Closes `store` (see [`Store::close`]) and leaves its status beside it for the next
/// `status`.
pub fn close(store: Store) -> Result<()> {
    let path = store.path().to_path_buf();
    let mut status = None;
    store.close_with(|s| {
        status = Some(crate::status::status(s)?);
        Ok(())
    })?;
    let Some(status) = status else {
        return Ok(());
    };
    // After the reopened store is gone: sled's file as the next reader will find it.
    let Some((db_len, db_mtime_ns)) = sled_file(&path) else {
        return Ok(());
    };
    let snapshot = Snapshot {
        db_len,
        db_mtime_ns,
        status,
    };
    let json = serde_json::to_vec(&snapshot).map_err(|e| Error::Encode {
        what: "the status snapshot",
        reason: e.to_string(),
    })?;
    let file = path.join(STATUS_SNAPSHOT_FILE);
    // Not synced: a snapshot lost to a power cut only costs the next `status` its copy.
    crate::replace_file::replace(&file, &json, crate::replace_file::How::default())
        .map_err(|e| Error::io(format!("writing {}", file.display()), e))
}

/// The status the last clean close left in `db`, when it is still the database's (see the
/// module doc); `None`: read the database.
pub fn read(db: &Path) -> Option<Status> {
    let bytes = std::fs::read(db.join(STATUS_SNAPSHOT_FILE)).ok()?;
    let snapshot: Snapshot = match serde_json::from_slice(&bytes) {
        Ok(s) => s,
        Err(e) => {
            log::debug!("status snapshot not used: {e}");
            return None;
        }
    };
    if locked(db) || sled_file(db) != Some((snapshot.db_len, snapshot.db_mtime_ns)) {
        return None;
    }
    let mut status = snapshot.status;
    status.db = Some(db.display().to_string());
    // A pause is shown while it lasts: one that has ended since the close is not.
    let now = UNIX_EPOCH + Duration::from_millis(crate::runtime::unix_ms());
    for host in &mut status.hosts {
        let over = host
            .paused_until
            .as_deref()
            .and_then(|t| humantime::parse_rfc3339(t).ok())
            .is_none_or(|until| until <= now);
        if over {
            host.paused_until = None;
        }
    }
    Some(status)
}

/// sled's `db` file: its length and modification time in ns.
fn sled_file(db: &Path) -> Option<(u64, u128)> {
    let meta = std::fs::metadata(db.join("db")).ok()?;
    let mtime = meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
    Some((meta.len(), mtime.as_nanos()))
}

/// Whether a process holds sled's lock on the database (a running crawl).
fn locked(db: &Path) -> bool {
    let Ok(file) = std::fs::File::open(db.join("db")) else {
        return true;
    };
    // SAFETY: flock on a descriptor this function owns; no memory is involved. The lock goes
    // with the descriptor when `file` is dropped.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) != 0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::OpenMode;

    fn closed_store() -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("db");
        let store = Store::open(&db, OpenMode::CreateOrOpen).unwrap();
        let seed = url::Url::parse("http://127.0.0.1:9/").unwrap();
        crate::frontier::add_seeds(&store, &[seed]).unwrap();
        close(store).unwrap();
        (dir, db)
    }

    #[test]
    fn a_clean_close_leaves_the_status_that_reading_the_database_gives() {
        let (_dir, db) = closed_store();
        let kept = read(&db).expect("a snapshot");
        let store = Store::open(&db, OpenMode::Existing).unwrap();
        let read_now = crate::status::status(&store).unwrap();
        assert_eq!(kept, read_now);
        assert_eq!(kept.totals.queued, 1);
    }

    #[test]
    fn a_writer_s_open_removes_the_snapshot_before_it_changes_anything() {
        let (_dir, db) = closed_store();
        assert!(read(&db).is_some());
        let store = Store::open(&db, OpenMode::CreateOrOpen).unwrap();
        assert!(!db.join(STATUS_SNAPSHOT_FILE).exists());
        drop(store);
        assert!(read(&db).is_none());
    }

    #[test]
    fn a_snapshot_whose_sled_file_changed_is_not_used() {
        let (_dir, db) = closed_store();
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(db.join("db"))
            .unwrap();
        file.set_modified(UNIX_EPOCH + Duration::from_secs(1))
            .unwrap();
        assert!(read(&db).is_none());
    }

    #[test]
    fn a_snapshot_that_does_not_parse_is_not_used() {
        let (_dir, db) = closed_store();
        std::fs::write(db.join(STATUS_SNAPSHOT_FILE), b"{\"db_len\":").unwrap();
        assert!(read(&db).is_none());
    }
}
