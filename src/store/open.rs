//! Opening the database: refusing what is not ours (other files, a future schema, another
//! process's lock) before anything is written, and naming the lock's holder.

use std::path::Path;

use sled::Tree;

use super::bodies::BodyLog;
use super::marker::{self, Recognised};
use super::page_log::{self, PageLog, Span};
use super::sled_copy::SledCopy;
use super::{
    decode, upgrade, upgrade_pages, OpenMode, Store, KEY_COUNTERS, KEY_SCHEMA, PID_FILE,
    SCHEMA_VERSION, SLED_CACHE_BYTES, SLED_GC_EVERY_MS,
};
use crate::error::{Error, Result};
use crate::frontier::sled::queue::QueueSet;
use crate::frontier::sled::seen::{self, Manifest, SeenSet};

impl Store {
    /// Opens (or creates) the database at `path`, checks it is ours and of our schema, and
    /// records this process as its writer. [`OpenMode::Existing`] only reads: sled runs on a
    /// private copy of its files (`sled_copy.rs`), and nothing in `path` is written, unless the
    /// database is of an older schema, which is then upgraded in place once its copy has read
    /// back whole.
    pub fn open(path: &Path, mode: OpenMode) -> Result<Store> {
        let recognised = check_directory(path, mode)?;
        if mode != OpenMode::Existing && recognised.is_some() {
            forget_status_snapshot(path)?;
        }
        if mode == OpenMode::Existing {
            let copy = SledCopy::take(path)?;
            match Store::open_with(path, mode, recognised, Some(copy)) {
                Err(Error::NeedsUpgrade) => {}
                other => return other,
            }
        }
        let store = Store::open_with(path, mode, recognised, None)?;
        if recognised == Some(Recognised::Legacy) {
            // Made before the marker, and now known to read back as ours.
            create_marker(path)?;
        }
        Ok(store)
    }

    /// Opens an existing database in place without becoming its writer: sled runs on the
    /// files themselves and writes its snapshot, which is what [`Store::close`] wants.
    pub(crate) fn open_in_place(path: &Path) -> Result<Store> {
        let recognised = check_directory(path, OpenMode::Existing)?;
        Store::open_with(path, OpenMode::Existing, recognised, None)
    }

    fn open_with(
        path: &Path,
        mode: OpenMode,
        recognised: Option<Recognised>,
        copy: Option<SledCopy>,
    ) -> Result<Store> {
        let sled_dir = copy.as_ref().map_or(path, |c| c.path());
        let db = sled::Config::new()
            .path(sled_dir)
            .cache_capacity(SLED_CACHE_BYTES)
            .mode(sled::Mode::HighThroughput)
            // sled's own flusher is also what reclaims its log segments: with the queue's
            // chunks rewritten at every checkpoint, it keeps the disk at ~150 bytes per queued
            // URL (1 M URLs: 148 MB with it, 292 MB without). Durability stays with our
            // flusher (see `flusher.rs`). Its thread can hold the directory's lock a moment
            // after the store is dropped; `open_sled` waits for that.
            .flush_every_ms(Some(SLED_GC_EVERY_MS));
        let db = open_sled(path, &db).map_err(|e| match e {
            Error::NotADatabase { reason, .. } if recognised.is_some() => Error::Damaged {
                path: path.to_path_buf(),
                file: path.join("db"),
                reason,
            },
            e => e,
        })?;
        let tree = |name: &str| {
            db.open_tree(name).map_err(|cause| Error::Db {
                path: path.to_path_buf(),
                action: "opening a tree",
                cause,
            })
        };
        let (meta, seen_inbox, queue_chunks, queue_log, origins) = (
            tree("meta")?,
            tree("seen_inbox")?,
            tree("queue_chunks")?,
            tree("queue_log")?,
            tree("origins")?,
        );
        let (robots, delayed, host_pages, recent) = (
            tree("robots")?,
            tree("delayed")?,
            tree("host_pages")?,
            tree("recent")?,
        );
        let found = check_schema(
            path,
            &db,
            &meta,
            [&seen_inbox, &queue_chunks, &recent, &origins, &robots],
            recognised.is_some() && holds_records(path),
        )?;
        if copy.is_some() && found <= upgrade_pages::FROM {
            return Err(Error::NeedsUpgrade);
        }
        if found == upgrade::FROM {
            let pages = tree("pages")?;
            upgrade::from_2(
                path,
                &db,
                &meta,
                (&queue_chunks, &queue_log),
                (&delayed, &pages),
            )?;
        }
        if found <= upgrade_pages::FROM {
            upgrade_pages::from_3(path, &db, &meta, &host_pages, &recent)?;
        } else {
            upgrade::drop_trees(path, &db, &upgrade::OLD_TREES)?;
            upgrade::drop_trees(path, &db, &upgrade_pages::OLD_TREES)?;
        }
        let writer = mode != OpenMode::Existing && copy.is_none();
        if (4..SCHEMA_VERSION).contains(&found) && writer {
            // Schemas 5, 6 and 7 only add fields after the old ones (5: recrawl versions and
            // rechecks; 6: what a page is a copy of), a tree (6: `digests`) and a value (7: a
            // copy by its canonical link), which older values read without; the number keeps
            // older builds, which would drop those fields or not read that value, out.
            meta.insert(KEY_SCHEMA, &SCHEMA_VERSION.to_be_bytes())
                .map_err(|cause| Error::Db {
                    path: path.to_path_buf(),
                    action: "writing the schema version",
                    cause,
                })?;
        }
        let span: Span = match meta.get(page_log::KEY_SPAN).map_err(|cause| Error::Db {
            path: path.to_path_buf(),
            action: "reading the page records' span",
            cause,
        })? {
            Some(v) => decode("meta/pages_span", &v)?,
            None => Span::default(),
        };
        if let Some(committed) = super::flusher::Committed::read(path) {
            if span.end < committed.span.end {
                return Err(Error::Damaged {
                    path: path.to_path_buf(),
                    file: path.join("db"),
                    reason: format!(
                        "reads back an older state than its last flush (page records up to \
                         segment {} offset {}, where {} offset {} were committed)",
                        span.end.0, span.end.1, committed.span.end.0, committed.span.end.1
                    ),
                });
            }
        }
        let page_log = PageLog::open(path, span, writer).map_err(|cause| Error::Bodies {
            path: path.to_path_buf(),
            action: "opening the page records' log",
            cause,
        })?;
        let mut queue_set = QueueSet::open(path, queue_chunks, queue_log.clone())?;
        let mut dropped = Vec::new();
        if mode == OpenMode::Repair {
            // Before the seen-set is rebuilt from the queue, which a damaged chunk would stop.
            dropped = queue_set.drop_damaged_chunks()?;
            let stored = page_log
                .iter(path, span)
                .map(|p| p.map(|(_, p)| (p.record.url, p.record.depth)));
            let derived = upgrade::Derived {
                queue: &queue_set,
                delayed: &delayed,
                stored: Box::new(stored),
            };
            upgrade::rebuild_seen(path, &db, &meta, &seen_inbox, derived)?;
        }
        let manifest: Manifest = match meta.get(seen::KEY_MANIFEST).map_err(|cause| Error::Db {
            path: path.to_path_buf(),
            action: "reading the seen-set manifest",
            cause,
        })? {
            Some(v) => decode("meta/seen_runs", &v)?,
            None => Manifest::default(),
        };
        let seen_set = SeenSet::open(path, manifest, &seen_inbox, writer)?;
        // Only once the database is known to be ours and of this schema.
        let body_log = BodyLog::open_in_mode(path.join(super::bodies::DIR), writer);
        let body_log = body_log.map_err(|cause| Error::Bodies {
            path: path.to_path_buf(),
            action: "opening the body segments",
            cause,
        })?;
        let store = Store {
            path: path.to_path_buf(),
            meta,
            seen_inbox,
            seen_set: std::sync::Mutex::new(seen_set),
            queue_log,
            queue_set: std::sync::Mutex::new(queue_set),
            delayed,
            origins,
            host_pages,
            recent,
            robots,
            hosts: tree("hosts")?,
            seed_origins: tree("seed_origins")?,
            recrawl_hosts: tree("recrawl_hosts")?,
            digests: tree("digests")?,
            page_log: std::sync::Arc::new(page_log),
            body_log: std::sync::Arc::new(body_log),
            durable: Default::default(),
            db,
            _sled_copy: copy,
            _released: writer.then(|| Released {
                db_file: path.join("db"),
            }),
        };
        store.account_dropped_chunks(&dropped)?;
        if writer {
            // Best effort: the pid only improves the message a second process prints.
            let _ = std::fs::write(path.join(PID_FILE), std::process::id().to_string());
        }
        Ok(store)
    }
}

impl Store {
    /// After `repair` removed the queue chunks that do not decode: says which on stderr and
    /// counts the queue again, so the counters stay true. The seen-set was rebuilt without
    /// their URLs, so a link found later queues them again.
    fn account_dropped_chunks(&self, dropped: &[Error]) -> Result<()> {
        if dropped.is_empty() {
            return Ok(());
        }
        for e in dropped {
            let Error::DamagedChunk {
                origin,
                depth,
                first_seq,
                reason,
                ..
            } = e
            else {
                log::warn!(
                    "{}: removed an unreadable queue chunk: {e}",
                    self.path.display()
                );
                continue;
            };
            let name = self
                .origin_by_id(*origin)?
                .unwrap_or_else(|| format!("origin #{origin}"));
            log::warn!(
                "{}: removed the damaged queue chunk of {name} at depth {depth} (from sequence \
                 {first_seq}: {reason}); the URLs it held are no longer queued or seen",
                self.path.display()
            );
        }
        let counters = super::Counters {
            queued: self.count_queued()?,
            ..self.counters()?
        };
        self.meta
            .insert(KEY_COUNTERS, super::encode(&counters))
            .map_err(|e| self.db_err("writing the counters", e))?;
        Ok(())
    }
}

/// Checks the schema version of an opened database, or writes ours into a new one; a sled
/// database holding data but no version is not ours. Returns the version found: ours, or the
/// one [`upgrade`] converts from.
/// `had_data`: the directory is a known database whose page records are not empty, so an empty
/// sled file is damage, not a new database.
fn check_schema(
    path: &Path,
    db: &sled::Db,
    meta: &Tree,
    others: [&Tree; 5],
    had_data: bool,
) -> Result<u32> {
    let db_err = |action, cause| Error::Db {
        path: path.to_path_buf(),
        action,
        cause,
    };
    let Some(v) = meta
        .get(KEY_SCHEMA)
        .map_err(|e| db_err("reading meta", e))?
    else {
        let holds_data = others.iter().any(|t| !t.is_empty()) || !db.is_empty();
        if had_data {
            let reason = if holds_data {
                "holds data but no schema version"
            } else {
                "reads back empty, yet its page records are not"
            };
            return Err(Error::Damaged {
                path: path.to_path_buf(),
                file: path.join("db"),
                reason: reason.into(),
            });
        }
        if holds_data {
            return Err(Error::NotADatabase {
                path: path.to_path_buf(),
                reason: "a sled database without a politecrawl schema version".into(),
            });
        }
        meta.insert(KEY_SCHEMA, &SCHEMA_VERSION.to_be_bytes())
            .map_err(|e| db_err("writing the schema version", e))?;
        return Ok(SCHEMA_VERSION);
    };
    let found = v
        .as_ref()
        .try_into()
        .map(u32::from_be_bytes)
        .map_err(|_| Error::Corrupt {
            key: "meta/schema_version".into(),
            reason: format!("{} bytes, expected 4", v.len()),
        })?;
    if !(upgrade::FROM..=SCHEMA_VERSION).contains(&found) {
        return Err(Error::SchemaVersion {
            path: path.to_path_buf(),
            found,
            expected: SCHEMA_VERSION,
        });
    }
    Ok(found)
}

/// Refuses what is not a politecrawl database before sled writes into it (sled formats over
/// any file named `db`), and creates a new one's directory, owner-only (it will hold bodies
/// and credentials), with its marker. Returns how an existing directory was recognised.
/// A writer is about to open the database: the status its last clean close left
/// ([`super::STATUS_SNAPSHOT_FILE`]) will no longer say where it stands. Removed, and the
/// removal synced, before sled runs, so that no crash of this writer leaves a snapshot beside
/// a database that has moved on (`status` then reads the database itself).
fn forget_status_snapshot(path: &Path) -> Result<()> {
    let file = path.join(super::STATUS_SNAPSHOT_FILE);
    match std::fs::remove_file(&file) {
        Ok(()) => std::fs::File::open(path)
            .and_then(|dir| dir.sync_all())
            .map_err(|e| Error::io(format!("syncing {}", path.display()), e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(format!("removing {}", file.display()), e)),
    }
}

fn check_directory(path: &Path, mode: OpenMode) -> Result<Option<Recognised>> {
    let not_ours = |reason: String| Error::NotADatabase {
        path: path.to_path_buf(),
        reason,
    };
    match std::fs::read_dir(path) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return marker::recognise(path).map(Some).map_err(not_ours);
            }
            if mode != OpenMode::CreateOrOpen {
                return Err(Error::NoDatabase(path.to_path_buf()));
            }
            create_marker(path)?;
            Ok(None)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => match mode {
            OpenMode::Existing | OpenMode::ExistingWritable | OpenMode::Repair => {
                Err(Error::NoDatabase(path.to_path_buf()))
            }
            OpenMode::CreateOrOpen => {
                create_private_dir(path)?;
                create_marker(path)?;
                Ok(None)
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory || path.is_file() => {
            Err(not_ours("it is a file, not a directory".into()))
        }
        Err(e) => Err(Error::io(format!("cannot read {}", path.display()), e)),
    }
}

/// Whether the page records' log of the database at `path` holds any bytes.
fn holds_records(path: &Path) -> bool {
    std::fs::read_dir(path.join(page_log::DIR)).is_ok_and(|entries| {
        entries
            .filter_map(|e| e.ok())
            .any(|e| e.metadata().is_ok_and(|m| m.len() > 0))
    })
}

/// A new database directory, readable by its owner only; its parents as the umask says.
fn create_private_dir(path: &Path) -> Result<()> {
    let fail = |e| {
        let what = format!(
            "cannot create {} (check the path is writable)",
            path.display()
        );
        Error::io(what, e)
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    match builder.create(path) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(fail(e)),
        _ => Ok(()),
    }
}

fn create_marker(path: &Path) -> Result<()> {
    marker::write(path).map_err(|e| {
        Error::io(
            format!(
                "cannot write {} (check the path is writable and the disk has space)",
                path.join(marker::FILE).display()
            ),
            e,
        )
    })
}

/// Opens sled. A store this process dropped a moment ago can hold the lock while sled's I/O
/// threads finish their last writes: that is waited for (up to a second), another process's
/// lock is not.
fn open_sled(path: &Path, config: &sled::Config) -> Result<sled::Db> {
    let ours = || {
        std::fs::read_to_string(path.join(PID_FILE))
            .is_ok_and(|s| s.trim() == std::process::id().to_string())
    };
    for _ in 0..50 {
        match config.open() {
            Err(e) if is_locked(&e) && ours() => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            other => return other.map_err(|e| open_error(path, e)),
        }
    }
    config.open().map_err(|e| open_error(path, e))
}

fn is_locked(e: &sled::Error) -> bool {
    matches!(e, sled::Error::Io(io) if io.kind() == std::io::ErrorKind::WouldBlock
        || io.to_string().contains("could not acquire lock"))
}

/// The database at `path` is locked by another process: named by its pid when it wrote one.
pub(super) fn locked(path: &Path) -> Error {
    let holder = std::fs::read_to_string(path.join(PID_FILE))
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .map(|pid| format!(" by another politecrawl process (pid {pid})"))
        .unwrap_or_default();
    Error::Locked {
        path: path.to_path_buf(),
        holder,
    }
}

fn open_error(path: &Path, e: sled::Error) -> Error {
    if is_locked(&e) {
        return locked(path);
    }
    if let sled::Error::Corruption { .. } = e {
        return Error::NotADatabase {
            path: path.to_path_buf(),
            reason: format!("sled reports corruption: {e}"),
        };
    }
    Error::Db {
        path: path.to_path_buf(),
        action: "opening",
        cause: e,
    }
}

/// Dropped after the store's sled handles: waits (a bounded while) until sled has given up its
/// lock on the database file. sled's own threads hold its file for a moment after the last
/// handle goes, and a command run right after a crawl in another process (`export` after a
/// test's crawl, a script's next step) would otherwise find the database in use by this one.
#[derive(Debug)]
pub(crate) struct Released {
    pub(crate) db_file: std::path::PathBuf,
}

impl Drop for Released {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        let Ok(file) = std::fs::File::open(&self.db_file) else {
            return;
        };
        // A lock of our own on another descriptor is granted only once sled's is gone. Up to
        // two seconds: a handle kept elsewhere (a clone of the Db) is not waited for longer.
        for _ in 0..400 {
            // SAFETY: flock on a descriptor this function owns; no memory is involved.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) } == 0 {
                // SAFETY: as above.
                unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_UN) };
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}
