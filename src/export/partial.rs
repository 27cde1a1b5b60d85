//! A file an export is writing: created exclusively beside its final name under a name of its
//! own (`pages.jsonl.a1B2c3.partial`), so no file already there (`pages.partial`, or another
//! export's) is ever written over or removed; renamed onto the final name once complete and
//! synced; removed when the export fails. While it is being written its path is listed here, so
//! the binary's SIGINT/SIGTERM handler removes it too ([`remove_unfinished`]) before exiting.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use tempfile::TempPath;

use crate::error::{Error, Result};

/// The temporary files being written, for a signal to remove.
static UNFINISHED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn unfinished() -> MutexGuard<'static, Vec<PathBuf>> {
    // A panic while the list was held leaves it as it was: still the right list.
    UNFINISHED.lock().unwrap_or_else(|p| p.into_inner())
}

/// A temporary file that becomes `target` when [`Partial::finish`]ed, and is removed if not.
pub struct Partial {
    tmp: Option<TempPath>,
    target: PathBuf,
}

impl Partial {
    /// Creates the temporary file beside `target` (mode 0666 less the umask, as a plain file
    /// would be); returns it with the file to write.
    pub fn create(target: &Path) -> Result<(Partial, File)> {
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let prefix = format!("{name}.");
        let mut list = unfinished();
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".partial");
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
        let file = builder.tempfile_in(dir).map_err(|e| {
            Error::io(
                format!("cannot create a temporary file beside {}", target.display()),
                e,
            )
        })?;
        let (file, tmp) = file.into_parts();
        list.push(tmp.to_path_buf());
        let partial = Partial {
            tmp: Some(tmp),
            target: target.to_path_buf(),
        };
        Ok((partial, file))
    }

    /// Syncs `file` (this partial's) and renames it onto the target.
    pub fn finish(mut self, file: File) -> Result<PathBuf> {
        let tmp = self.tmp.take().expect("taken only here and in drop");
        let shown = tmp.display().to_string();
        file.sync_all()
            .map_err(|e| Error::io(format!("writing {shown}"), e))?;
        drop(file);
        // Held across the rename: a signal either removes the file first or finds it gone.
        let mut list = unfinished();
        list.retain(|p| p.as_path() != &*tmp);
        tmp.persist(&self.target).map_err(|e| {
            let what = format!("renaming {shown} to {}", self.target.display());
            Error::io(what, e.error)
        })?;
        Ok(std::mem::take(&mut self.target))
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if let Some(tmp) = self.tmp.take() {
            let mut list = unfinished();
            list.retain(|p| p.as_path() != &*tmp);
            // Removed while the list is held, so a signal cannot exit in between.
            drop(tmp);
        }
    }
}

/// Removes every temporary file still being written; for a signal handler about to exit. The
/// list stays held until the process ends, so no export renames a file afterwards.
pub fn remove_unfinished() {
    let list = unfinished();
    for p in list.iter() {
        let _ = std::fs::remove_file(p);
    }
    std::mem::forget(list);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_partial_never_touches_a_file_of_its_name_and_goes_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("pages.jsonl");
        std::fs::write(dir.path().join("pages.partial"), b"mine").unwrap();
        let names = || {
            let mut n: Vec<String> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            n.sort();
            n
        };
        let (p, _f) = Partial::create(&target).unwrap();
        let during = names();
        assert_eq!(during.len(), 2, "{during:?}");
        assert!(during[0].starts_with("pages.jsonl.") && during[0].ends_with(".partial"));
        drop(p);
        assert_eq!(names(), ["pages.partial"], "removed on failure");

        let (p, mut f) = Partial::create(&target).unwrap();
        f.write_all(b"{}\n").unwrap();
        assert_eq!(p.finish(f).unwrap(), target);
        assert_eq!(names(), ["pages.jsonl", "pages.partial"]);
        assert_eq!(
            std::fs::read(dir.path().join("pages.partial")).unwrap(),
            b"mine"
        );
        assert!(!unfinished().iter().any(|p| p.starts_with(dir.path())));
    }
}
