//! `crawl --warc PREFIX`: WARC files written while the crawl runs, as Heritrix and
//! `wget --warc-file` write them, rather than only by `export` after it stopped.
//!
//! A thread follows the page log. It writes the request and response records of each stored
//! page that got a response into `PREFIX-00000.warc.gz.open` (each file opens with a
//! `warcinfo`), and once the file reaches `--warc-max-size`, or the crawl stops, syncs it and
//! renames it to `PREFIX-00000.warc.gz`. A reader never sees a half record: a file is either
//! `.open` or complete.
//!
//! Exactly once across files, whatever kills the crawl: the thread writes only pages whose
//! outcome is durable (the committed span as of the store's latest flush, so no crash can take
//! back a page it wrote), and after each batch it syncs the file and then records, in
//! `DIR/warc-state.json`, how far the file is valid and where in the page log it stands. On the
//! next start the `.open` file is cut back to that length (a batch written after it was not
//! recorded and is written again) and the follower goes on from that place.
//!
//! Only records the crawl counts: a worker of a shared crawl stores a record before PostgreSQL
//! counts it, so its frontier says which records count ([`CountedRecords`]); the follower
//! stops at the first record not decided yet and takes it up again once it is.

use std::io::{Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::warc::{capture, warcinfo, Counting, Info};
use crate::config::CrawlConfig;
use crate::error::{Error, Result};
use crate::frontier::CountedRecords;
use crate::store::bodies::BodyLog;
use crate::store::page_log::{PageLog, Position, Span};
use crate::store::Store;

/// The follower's place, inside the database directory.
pub const STATE: &str = "warc-state.json";

/// How often the follower looks for newly durable pages.
const POLL: Duration = Duration::from_millis(250);

/// Pages written between two syncs of the file (and saves of the state).
const BATCH: usize = 512;

/// What `DIR/warc-state.json` holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// The number of the next file to open.
    pub next: u32,
    /// The file being written, when one is open.
    pub open: Option<OpenFile>,
    /// Where in the page log the next page to write is.
    pub position: Position,
    /// Page-log frames consumed so far (the place again, should `compact` move the log).
    pub frames: u64,
}

/// The file being written, as far as it is valid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenFile {
    /// Its number.
    pub number: u32,
    /// Its bytes known complete and synced.
    pub length: u64,
    /// The `--warc` prefix it was opened under.
    pub prefix: String,
    /// The record id of its warcinfo, which each of its records refers to.
    pub info_id: String,
}

/// The running follower; [`LiveWarc::finish`] writes what is left and closes the file.
pub struct LiveWarc {
    stop: Option<mpsc::Sender<()>>,
    handle: Option<std::thread::JoinHandle<Result<()>>>,
}

impl LiveWarc {
    /// Starts following `store` for the crawl `config`, when it has `--warc`; `counted`
    /// (a shared crawl's worker) says which of the store's records are the crawl's.
    pub fn start(
        store: &Store,
        config: &CrawlConfig,
        counted: Option<Box<dyn CountedRecords>>,
    ) -> Result<Option<LiveWarc>> {
        let Some(prefix) = config.warc.clone() else {
            return Ok(None);
        };
        let mut follower = Follower {
            db: store.path().to_path_buf(),
            prefix,
            max_size: config.warc_max_size,
            info: Info::of_config(config),
            pages: Arc::clone(&store.page_log),
            bodies: store.body_log(),
            durable: Arc::clone(&store.durable),
            state: State::default(),
            file: None,
            counted,
        };
        follower.resume()?;
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let handle = std::thread::Builder::new()
            .name("politecrawl-warc".into())
            .spawn(move || follower.run(&stop_rx))
            .map_err(|e| Error::io("starting the WARC writer", e))?;
        Ok(Some(LiveWarc {
            stop: Some(stop_tx),
            handle: Some(handle),
        }))
    }

    /// Writes the pages the last flush made durable and closes the open file. Call it after
    /// the store's last flush.
    pub fn finish(mut self) -> Result<()> {
        drop(self.stop.take());
        match self.handle.take().map(|h| h.join()) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(Error::io(
                "writing the live WARC",
                std::io::Error::other("its thread panicked"),
            )),
            None => Ok(()),
        }
    }
}

impl Drop for LiveWarc {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// The open file: its writer and the id of its warcinfo record.
struct Open {
    number: u32,
    path: PathBuf,
    file: std::io::BufWriter<std::fs::File>,
    length: u64,
    info_id: String,
}

struct Follower {
    db: PathBuf,
    prefix: String,
    max_size: u64,
    info: Info,
    pages: Arc<PageLog>,
    bodies: Arc<BodyLog>,
    durable: Arc<Mutex<Option<Span>>>,
    state: State,
    file: Option<Open>,
    counted: Option<Box<dyn CountedRecords>>,
}

impl Follower {
    /// Takes up the saved place: the `.open` file cut back to its recorded length (or, when it
    /// was already renamed, taken as complete).
    fn resume(&mut self) -> Result<()> {
        self.state = load(&self.db)?;
        let Some(OpenFile {
            number,
            length,
            prefix,
            info_id,
        }) = self.state.open.clone()
        else {
            return Ok(());
        };
        let done = name(&prefix, number);
        let open = open_name(&done);
        if !open.exists() {
            if done.exists() {
                // Renamed just before the state said so.
                self.state.open = None;
                self.state.next = number + 1;
                return save(&self.db, &self.state);
            }
            return Err(Error::io(
                format!("resuming the live WARC {}", open.display()),
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "the open WARC file is gone; move DIR/warc-state.json away to start new files",
                ),
            ));
        }
        let err = |e| Error::io(format!("resuming the live WARC {}", open.display()), e);
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&open)
            .map_err(err)?;
        f.set_len(length).map_err(err)?;
        let mut f = f;
        f.seek(std::io::SeekFrom::End(0)).map_err(err)?;
        self.file = Some(Open {
            number,
            path: done,
            file: std::io::BufWriter::new(f),
            length,
            info_id,
        });
        if prefix != self.prefix {
            // --warc changed on a resume: the old set is closed, the new one goes on from here.
            self.close()?;
        }
        Ok(())
    }

    fn run(&mut self, stop: &mpsc::Receiver<()>) -> Result<()> {
        loop {
            let stopping = !matches!(
                stop.recv_timeout(POLL),
                Err(mpsc::RecvTimeoutError::Timeout)
            );
            self.catch_up()?;
            if stopping {
                return self.close();
            }
        }
    }

    /// Writes every durable page not written yet, a batch at a time.
    fn catch_up(&mut self) -> Result<()> {
        let Some(span) = *self.durable.lock().unwrap_or_else(|e| e.into_inner()) else {
            return Ok(());
        };
        loop {
            let moved = self.state.position.0 < span.first;
            let mut it = if moved {
                // `compact` moved the log: count frames from its start instead.
                self.pages.iter(&self.db, span)
            } else {
                self.pages.iter_from(&self.db, span, self.state.position)
            };
            if moved {
                for _ in 0..self.state.frames {
                    if it.next().transpose()?.is_none() {
                        break;
                    }
                }
            }
            let mut batch = Vec::new();
            while batch.len() < BATCH {
                let Some(item) = it.next() else { break };
                batch.push(item?);
            }
            // Where the follower stands once the batch is written: past its last frame.
            let mut position = it.position();
            let counted = match &mut self.counted {
                Some(c) => {
                    let records: Vec<(u64, &str)> = batch
                        .iter()
                        .map(|(_, p)| (p.record.stored_at_us.unwrap_or(0), p.record.url.as_str()))
                        .collect();
                    c.counted(&records)
                }
                None => vec![Some(true); batch.len()],
            };
            let mut written = 0;
            let mut undecided = false;
            for (i, ((at, page), counted)) in batch.iter().zip(counted).enumerate() {
                let Some(counted) = counted else {
                    // Not decided yet: the next look starts at this record.
                    (position, undecided) = (*at, true);
                    break;
                };
                self.state.frames += 1;
                written += 1;
                if !counted || page.record.status.is_none() {
                    continue;
                }
                let body = match &page.body {
                    Some(r) => self.bodies.read(r).map_err(|e| {
                        Error::io(
                            format!("reading a body for the live WARC ({})", page.record.url),
                            e,
                        )
                    })?,
                    None => Vec::new(),
                };
                self.open_file()?;
                let (info, open) = (&self.info, self.file.as_mut().expect("opened above"));
                let mut counting = Counting {
                    inner: &mut open.file,
                    bytes: 0,
                };
                capture(&mut counting, &page.record, &body, info, &open.info_id)
                    .map_err(|e| Error::io(format!("writing {}", open.path.display()), e))?;
                open.length += counting.bytes;
                if open.length >= self.max_size {
                    if let Some((next, _)) = batch.get(i + 1) {
                        position = *next;
                    }
                    break;
                }
            }
            self.state.position = position;
            if written == 0 {
                return Ok(());
            }
            self.sync()?;
            let full = self
                .file
                .as_ref()
                .is_some_and(|f| f.length >= self.max_size);
            if full {
                self.close()?;
            }
            if undecided {
                return Ok(());
            }
        }
    }

    /// Opens the next file (with its warcinfo) when none is open.
    fn open_file(&mut self) -> Result<()> {
        if self.file.is_none() {
            let number = self.state.next;
            let done = name(&self.prefix, number);
            let path = open_name(&done);
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
            }
            let f = std::fs::File::create(&path)
                .map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
            let mut w = Counting {
                inner: std::io::BufWriter::new(f),
                bytes: 0,
            };
            let file_name = done
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            let info_id = warcinfo(&mut w, &file_name, &self.info)
                .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
            self.state.next = number + 1;
            self.file = Some(Open {
                number,
                path: done,
                file: w.inner,
                length: w.bytes,
                info_id,
            });
        }
        Ok(())
    }

    /// Makes the open file's bytes durable, then records them and the place as valid.
    fn sync(&mut self) -> Result<()> {
        if let Some(open) = &mut self.file {
            let err = |e| Error::io(format!("writing {}", open.path.display()), e);
            open.file.flush().map_err(err)?;
            open.file.get_ref().sync_data().map_err(err)?;
            self.state.open = Some(OpenFile {
                number: open.number,
                length: open.length,
                prefix: self.prefix.clone(),
                info_id: open.info_id.clone(),
            });
        }
        save(&self.db, &self.state)
    }

    /// Syncs and renames the open file to its final name.
    fn close(&mut self) -> Result<()> {
        self.sync()?;
        if let Some(open) = self.file.take() {
            let from = open_name(&open.path);
            std::fs::rename(&from, &open.path)
                .map_err(|e| Error::io(format!("renaming {}", from.display()), e))?;
            self.state.open = None;
            save(&self.db, &self.state)?;
        }
        Ok(())
    }
}

/// `PREFIX-00007.warc.gz`.
pub fn name(prefix: &str, number: u32) -> PathBuf {
    PathBuf::from(format!("{prefix}-{number:05}.warc.gz"))
}

fn open_name(done: &Path) -> PathBuf {
    let mut s = done.as_os_str().to_owned();
    s.push(".open");
    PathBuf::from(s)
}

fn load(db: &Path) -> Result<State> {
    let path = db.join(STATE);
    match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| Error::Corrupt {
            key: path.display().to_string(),
            reason: format!("{e}; move it away to start new WARC files"),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
        Err(e) => Err(Error::io(format!("reading {}", path.display()), e)),
    }
}

fn save(db: &Path, state: &State) -> Result<()> {
    let path = db.join(STATE);
    let json = serde_json::to_vec(state).map_err(|e| Error::Encode {
        what: "the live WARC state",
        reason: e.to_string(),
    })?;
    let how = crate::replace_file::How {
        durable: true,
        private: false,
    };
    crate::replace_file::replace(&path, &json, how)
        .map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::io::Read;

    use super::*;
    use crate::frontier::{add_seeds, lease, settle, Leases};
    use crate::store::{OpenMode, PageRecord};

    /// A frontier's answers, set by the test, and the URLs it was asked about.
    #[derive(Clone, Default)]
    struct Gate {
        says: Arc<Mutex<HashMap<String, Option<bool>>>>,
        asked: Arc<Mutex<Vec<String>>>,
    }

    impl CountedRecords for Gate {
        fn counted(&mut self, records: &[(u64, &str)]) -> Vec<Option<bool>> {
            let says = self.says.lock().unwrap();
            records
                .iter()
                .map(|(_, url)| {
                    self.asked.lock().unwrap().push(url.to_string());
                    says.get(*url).copied().flatten()
                })
                .collect()
        }
    }

    fn record(url: &str) -> PageRecord {
        PageRecord::done_for_test(url)
    }

    /// The target URIs of the response records in the closed files of `prefix`.
    fn written(dir: &Path) -> Vec<String> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with(".warc.gz"))
            .collect();
        files.sort();
        let mut uris = Vec::new();
        for f in files {
            let mut text = String::new();
            flate2::read::MultiGzDecoder::new(std::fs::File::open(f).unwrap())
                .read_to_string(&mut text)
                .unwrap();
            let mut response = false;
            for line in text.lines() {
                if line.starts_with("WARC-Type:") {
                    response = line.ends_with("response");
                }
                if let Some(uri) = line.strip_prefix("WARC-Target-URI: ") {
                    if response {
                        uris.push(uri.trim().to_string());
                    }
                }
            }
        }
        uris
    }

    #[test]
    fn the_follower_writes_only_counted_records_and_waits_at_an_undecided_one() {
        let dir = std::env::temp_dir().join(format!("pc-live-gate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::open(&dir.join("db"), OpenMode::CreateOrOpen).unwrap();
        let urls = ["http://a.test/", "http://b.test/", "http://c.test/"];
        let seeds: Vec<url::Url> = urls.iter().map(|u| url::Url::parse(u).unwrap()).collect();
        let mut leases = Leases::default();
        for added in add_seeds(&store, &seeds).unwrap() {
            let l = lease(&store, added.origin_id, &mut leases)
                .unwrap()
                .unwrap();
            settle(&store, &l, &record(&l.entry.url), b"body", &[], None).unwrap();
        }
        store.flush().unwrap();
        let config = CrawlConfig {
            warc: Some(dir.join("warc").join("live").display().to_string()),
            ..CrawlConfig::default()
        };
        let gate = Gate::default();
        gate.says.lock().unwrap().extend([
            (urls[0].to_string(), Some(true)),
            (urls[1].to_string(), Some(false)),
            (urls[2].to_string(), None),
        ]);
        let live = LiveWarc::start(&store, &config, Some(Box::new(gate.clone()))).unwrap();
        live.unwrap().finish().unwrap();
        assert_eq!(
            written(&dir.join("warc")),
            [urls[0]],
            "b refused, c undecided"
        );

        // Decided now: the next start asks about c alone, from where the last one waited.
        gate.says
            .lock()
            .unwrap()
            .insert(urls[2].to_string(), Some(true));
        gate.asked.lock().unwrap().clear();
        let live = LiveWarc::start(&store, &config, Some(Box::new(gate.clone()))).unwrap();
        live.unwrap().finish().unwrap();
        assert_eq!(*gate.asked.lock().unwrap(), [urls[2]]);
        assert_eq!(written(&dir.join("warc")), [urls[0], urls[2]]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
