//! Replacing a small file whole: written beside its name and renamed over it, so a reader sees
//! the old contents or the new, never half. The status, state and credential files beside the
//! database all go through here.

use std::io::Write;
use std::path::Path;

/// How a file is replaced.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct How {
    /// Synced before the rename: the new contents survive a power cut once this returns (a
    /// place recorded for a resume). Without it, a crash may leave the old file, which is fine
    /// for what is rewritten every few hundred milliseconds anyway.
    pub durable: bool,
    /// Readable by its owner only (logins, cookies).
    pub private: bool,
}

/// Writes `bytes` to `path` readable by its owner only (credentials, cookies), replaced
/// whole and synced.
pub(crate) fn write_private(path: &std::path::Path, bytes: &[u8]) -> crate::error::Result<()> {
    let how = How {
        durable: true,
        private: true,
    };
    replace(path, bytes, how)
        .map_err(|e| crate::error::Error::io(format!("writing {}", path.display()), e))
}

/// Replaces `path` with `bytes`.
pub(crate) fn replace(path: &Path, bytes: &[u8], how: How) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    // A `.tmp` left there (a crash, or someone else's file or symlink) is removed, and the new
    // one is created exclusively: an old file's mode (0644) or a symlink's target never
    // becomes the credentials file's.
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    if how.private {
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    }
    let mut f = opts.open(&tmp)?;
    f.write_all(bytes)?;
    if how.durable {
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_leftover_tmp_file_or_symlink_never_shapes_a_private_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials");
        let tmp = dir.path().join("credentials.tmp");
        std::fs::write(&tmp, b"old").unwrap();
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644)).unwrap();
        let private = How {
            private: true,
            ..How::default()
        };
        replace(&path, b"secret", private).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let elsewhere = dir.path().join("elsewhere");
        std::os::unix::fs::symlink(&elsewhere, &tmp).unwrap();
        replace(&path, b"secret2", private).unwrap();
        assert!(!elsewhere.exists(), "the symlink was followed");
        assert_eq!(std::fs::read(&path).unwrap(), b"secret2");
    }
}
