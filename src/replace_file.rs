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

/// Replaces `path` with `bytes`.
pub(crate) fn replace(path: &Path, bytes: &[u8], how: How) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
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
