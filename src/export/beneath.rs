//! Creating a file beneath a directory without ever following a symbolic link: each directory
//! on the way is made and opened relative to the one before it (`mkdirat`, then `openat` with
//! `O_NOFOLLOW | O_DIRECTORY`), and the file itself is opened with `O_NOFOLLOW`. A symlink
//! already inside the mirror, to a directory or a file anywhere, is therefore refused, not
//! written through, and nothing can swap one in between a check and the write (a check of the
//! path's text cannot see links).

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

/// Why a file could not be created beneath the directory.
#[derive(Debug)]
pub enum Refused {
    /// A symlink stands where a directory or the file would go: never followed.
    Symlink,
    /// A file stands where a directory is needed, or a directory where the file would go.
    Taken,
    /// Anything else (no space, no permission): the caller's failure.
    Io(io::Error),
}

/// Creates (or truncates) `rel`, a relative path of plain names, beneath the open directory
/// `root`, making the directories it needs.
pub fn create(root: &File, rel: &Path) -> Result<File, Refused> {
    let names: Vec<CString> = rel
        .components()
        .map(|c| match c {
            Component::Normal(n) => CString::new(n.as_bytes()).map_err(|_| Refused::Taken),
            _ => Err(Refused::Taken),
        })
        .collect::<Result<_, _>>()?;
    let Some((file, dirs)) = names.split_last() else {
        return Err(Refused::Taken);
    };
    let mut held: Option<OwnedFd> = None;
    for name in dirs {
        let at = held.as_ref().map_or(root.as_raw_fd(), |d| d.as_raw_fd());
        // SAFETY: `at` is an open directory descriptor and `name` a NUL-terminated string.
        if unsafe { libc::mkdirat(at, name.as_ptr(), 0o777) } != 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EEXIST) {
                return Err(refused(e));
            }
        }
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        held = Some(open_at(at, name, flags)?);
    }
    let at = held.as_ref().map_or(root.as_raw_fd(), |d| d.as_raw_fd());
    let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    open_at(at, file, flags).map(File::from)
}

fn open_at(at: RawFd, name: &CString, flags: libc::c_int) -> Result<OwnedFd, Refused> {
    // Read only with O_CREAT; the umask still applies.
    let mode: libc::c_uint = 0o666;
    // SAFETY: `at` is an open directory descriptor and `name` a NUL-terminated string.
    let fd = unsafe { libc::openat(at, name.as_ptr(), flags, mode) };
    if fd < 0 {
        let e = io::Error::last_os_error();
        // O_NOFOLLOW | O_DIRECTORY on a symlink says ENOTDIR (Linux) or ELOOP: ask which.
        if is_symlink_at(at, name) {
            return Err(Refused::Symlink);
        }
        return Err(refused(e));
    }
    // SAFETY: `fd` was just opened and is owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn is_symlink_at(at: RawFd, name: &CString) -> bool {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: as above, and `st` is written by fstatat before it is read (only on success).
    let ok = unsafe {
        libc::fstatat(
            at,
            name.as_ptr(),
            st.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    // SAFETY: fstatat succeeded, so it filled `st`.
    ok == 0 && unsafe { st.assume_init() }.st_mode & libc::S_IFMT == libc::S_IFLNK
}

fn refused(e: io::Error) -> Refused {
    match e.raw_os_error() {
        Some(libc::ELOOP) => Refused::Symlink,
        Some(libc::ENOTDIR | libc::EISDIR | libc::EEXIST) => Refused::Taken,
        _ => Refused::Io(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_symlink_on_the_way_is_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let (root, outside) = (dir.path().join("root"), dir.path().join("outside"));
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::create_dir_all(root.join("h")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("h/linked")).unwrap();
        std::os::unix::fs::symlink(outside.join("f"), root.join("h/f")).unwrap();
        let r = File::open(&root).unwrap();

        let mut ok = create(&r, Path::new("h/new/a.html")).unwrap();
        ok.write_all(b"x").unwrap();
        assert_eq!(std::fs::read(root.join("h/new/a.html")).unwrap(), b"x");
        assert!(matches!(
            create(&r, Path::new("h/linked/a.html")),
            Err(Refused::Symlink)
        ));
        assert!(matches!(
            create(&r, Path::new("h/f")),
            Err(Refused::Symlink)
        ));
        assert!(matches!(
            create(&r, Path::new("h/new/a.html/b")),
            Err(Refused::Taken)
        ));
        assert!(matches!(
            create(&r, Path::new("h/new")),
            Err(Refused::Taken)
        ));
        assert!(matches!(create(&r, Path::new("../x")), Err(Refused::Taken)));
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    }
}
