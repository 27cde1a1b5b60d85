//! Durability while a crawl runs: a thread that flushes body segments, then sled, every
//! [`FLUSH_EVERY`], and remembers the first failure (disk full) so the engine can stop.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use sled::Tree;

use super::bodies::{self, BodyLog};
use super::page_log::{PageLog, Span, KEY_SPAN};
use super::{Store, FLUSH_EVERY};
use crate::error::{Error, Result};

impl Store {
    /// Starts a thread that flushes every [`FLUSH_EVERY`] until the returned guard is dropped
    /// (which flushes once more and joins it). A flush failure (disk full) is kept for
    /// [`Flusher::error`].
    pub fn flusher(&self) -> Flusher {
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        let (db, recent, meta) = (self.db.clone(), self.recent.clone(), self.meta.clone());
        let durable = std::sync::Arc::clone(&self.durable);
        let dir = self.path.clone();
        let (log, pages) = (self.body_log(), std::sync::Arc::clone(&self.page_log));
        let error = std::sync::Arc::new(std::sync::Mutex::new(None));
        let err2 = error.clone();
        let handle = std::thread::Builder::new()
            .name("politecrawl-flush".into())
            .spawn(move || loop {
                let stop = !matches!(
                    stop_rx.recv_timeout(FLUSH_EVERY),
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout)
                );
                match flush_all(&db, (&log, &pages), (&recent, &meta), &durable) {
                    Ok(()) => {
                        // For `export` while this crawl holds the database (best effort: an
                        // export then reads an older span).
                        let span = *durable.lock().unwrap_or_else(|e| e.into_inner());
                        if let Some(span) = span {
                            let _ = Durable::write(&dir, span);
                            let _ = Committed::write(&dir, span);
                        }
                    }
                    Err(e) => {
                        if let Ok(mut slot) = err2.lock() {
                            slot.get_or_insert(e);
                        }
                    }
                }
                if stop {
                    return;
                }
            })
            .ok();
        Flusher {
            stop: Some(stop_tx),
            handle,
            error,
            path: self.path.clone(),
        }
    }

    /// Folds the queue's overlay into its chunks and the seen-set's inbox into a run: at the
    /// clean end of a run, so the next open has no log to replay and starts with neither in
    /// memory.
    pub fn checkpoint(&self) -> Result<()> {
        self.seen_set()
            .checkpoint(&self.db, &self.meta, &self.seen_inbox)?;
        self.queue_set().checkpoint()
    }

    /// Closes the database so that the next open is quick: sled 0.34 writes its snapshot only
    /// while opening, and until then every open replays the whole log written since (1 M
    /// stored pages: 1.6 s instead of 0.6 s for `status`). So the store is dropped and opened
    /// once more, read-only, paying that replay now, at the end of a run, rather than at the
    /// start of the next command.
    pub fn close(self) -> Result<()> {
        self.close_with(|_| Ok(()))
    }

    /// [`Store::close`], calling `last` on the database in its final state (reopened, before
    /// it is dropped again): what `status` keeps of a stopped crawl is read there.
    pub fn close_with(self, last: impl FnOnce(&Store) -> Result<()>) -> Result<()> {
        let path = self.path.clone();
        drop(self);
        let reopened = Store::open_in_place(&path)?;
        last(&reopened)?;
        drop(reopened);
        Ok(())
    }

    /// Writes every dirty page to disk; what a crash cannot take back.
    pub fn flush(&self) -> Result<()> {
        let logs = (&*self.body_log, &*self.page_log);
        let trees = (&self.recent, &self.meta);
        flush_all(&self.db, logs, trees, &self.durable).map_err(|cause| Error::Io {
            context: format!("database {}: flushing to disk failed", self.path.display()),
            cause,
        })
    }
}

/// The file a running crawl keeps up to date after each flush, in its database directory.
pub const DURABLE_FILE: &str = "pages-durable.json";
/// The span sled had on disk at the latest flush of any run, kept after the run: sled
/// recovers a cut or damaged file to an older state without a word, and this file tells.
pub const COMMITTED_FILE: &str = "pages-committed.json";
/// The settings of the running crawl, beside it.
pub const SETTINGS_FILE: &str = "live-settings.json";

/// What [`DURABLE_FILE`] says.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Durable {
    /// The committed records as of the latest flush.
    pub span: Span,
    /// When that flush was (RFC 3339).
    pub at: String,
    /// The crawling process.
    pub pid: u32,
}

impl Durable {
    /// Publishes `span` into `dir` (written beside and renamed, so readers never see half).
    pub(crate) fn write(dir: &Path, span: Span) -> std::io::Result<()> {
        let d = Durable {
            span,
            at: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
            pid: std::process::id(),
        };
        let json = serde_json::to_vec(&d).map_err(std::io::Error::other)?;
        crate::replace_file::replace(&dir.join(DURABLE_FILE), &json, Default::default())
    }

    /// Removes the files a run published, when it ends.
    pub fn remove(dir: &Path) {
        let _ = std::fs::remove_file(dir.join(DURABLE_FILE));
        let _ = std::fs::remove_file(dir.join(SETTINGS_FILE));
    }
}

/// What [`COMMITTED_FILE`] says: sled held at least this span once it was written (it is
/// written after sled's flush returned).
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Committed {
    /// The page records' span sled had flushed.
    pub span: Span,
}

impl Committed {
    fn write(dir: &Path, span: Span) -> std::io::Result<()> {
        let json = serde_json::to_vec(&Committed { span }).map_err(std::io::Error::other)?;
        crate::replace_file::replace(&dir.join(COMMITTED_FILE), &json, Default::default())
    }

    /// What the file says; `None` when it is missing or unreadable (a database from before
    /// it, or a crash while it was renamed: only a check is lost).
    pub(crate) fn read(dir: &Path) -> Option<Committed> {
        let bytes = std::fs::read(dir.join(COMMITTED_FILE)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// The periodic flusher of a running crawl; see [`Store::flusher`].
pub struct Flusher {
    stop: Option<std::sync::mpsc::Sender<()>>,
    handle: Option<std::thread::JoinHandle<()>>,
    error: std::sync::Arc<std::sync::Mutex<Option<std::io::Error>>>,
    path: PathBuf,
}

impl Flusher {
    /// The first flush failure, if any: the crawl must stop, its latest outcomes are not safe.
    pub fn error(&self) -> Option<Error> {
        let e = self.error.lock().ok()?.as_ref()?.to_string();
        Some(Error::Io {
            context: format!("database {}: flushing to disk failed", self.path.display()),
            cause: std::io::Error::other(e),
        })
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// One durable point: bodies first, then the page records pointing at them, then sled (see
/// [`super::page_log`]); then the `recent` entries of pages now known durable are dropped.
///
/// The page log's position is taken before anything is synced: a frame before it was written
/// after its body (a worker writes the body before the engine stores the outcome), so both
/// syncs that follow cover both. The committed span is read first of all: its frames are
/// before that position, and its transactions before the sled flush, so once that is done
/// it is `durable`.
fn flush_all(
    db: &sled::Db,
    (log, pages): (&BodyLog, &PageLog),
    (recent, meta): (&Tree, &Tree),
    durable: &std::sync::Mutex<Option<Span>>,
) -> std::io::Result<()> {
    let span = meta
        .get(KEY_SPAN)
        .map_err(std::io::Error::other)?
        .and_then(|v| postcard::from_bytes::<Span>(&v).ok())
        .unwrap_or_default();
    let (segment, offset) = pages.position();
    log.sync()?;
    pages.sync()?;
    db.flush().map_err(std::io::Error::other)?;
    if let Ok(mut d) = durable.lock() {
        *d = Some(span);
    }
    let synced = bodies::position_key(segment, offset);
    for key in recent.range(..&synced[..]).keys() {
        let key = key.map_err(std::io::Error::other)?;
        recent.remove(key).map_err(std::io::Error::other)?;
    }
    Ok(())
}
