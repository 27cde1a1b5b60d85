//! `politecrawl demo`: the whole job on an embedded default. Serves the fixture site bundled in
//! the binary on an ephemeral loopback port, crawls it into a fresh database, and writes a
//! JSON Lines export, so a fresh machine can see a real crawl without the internet.

use std::path::{Path, PathBuf};

use include_dir::{include_dir, Dir};

use crate::config::CrawlConfig;
use crate::crawl;
use crate::error::{Error, Result};
use crate::export::{self, Format};
use crate::progress::Progress;
use crate::report::Summary;
use crate::serve::{Site, SiteServer};
use crate::shutdown::StopSignal;
use crate::status::{self, Status};
use crate::store::{OpenMode, Store};

/// The bundled test site (`fixtures/site`), compiled into the binary so the demo works from any
/// directory.
pub static SITE: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/fixtures/site");

/// What the demo produced.
pub struct DemoReport {
    /// The crawl's summary.
    pub summary: Summary,
    /// The database status after the crawl.
    pub status: Status,
    /// Where the database is.
    pub db: PathBuf,
    /// Where the JSON Lines export is.
    pub export: PathBuf,
    /// Lines exported.
    pub exported: u64,
}

/// Runs the demo in `dir`: `dir/demo.db` (replaced if it is an earlier demo's database) and
/// `dir/demo.jsonl`.
pub fn run(dir: &Path) -> Result<DemoReport> {
    let db = dir.join("demo.db");
    let export_path = dir.join("demo.jsonl");
    if db.exists() {
        // Only ever delete a directory that is a politecrawl database, and in it only what
        // politecrawl made: a user's file put there stops the demo instead.
        drop(Store::open(&db, OpenMode::Existing)?);
        let foreign = crate::store::marker::foreign_entries(&db);
        if !foreign.is_empty() {
            return Err(Error::NotADatabase {
                path: db,
                reason: format!(
                    "it also holds files politecrawl did not make ({}): move them, or give \
                     another --dir",
                    foreign.join(", ")
                ),
            });
        }
        std::fs::remove_dir_all(&db)
            .map_err(|e| Error::io(format!("removing the old {}", db.display()), e))?;
    }
    let server = SiteServer::start("127.0.0.1:0", Site::Embedded(&SITE), None)
        .map_err(|e| Error::io("starting the demo site server on 127.0.0.1", e))?;
    let mut config = CrawlConfig::new(&db, &[format!("{}/", server.origin())])?;
    // Our own loopback server: fast enough to finish in seconds, still rate-limited.
    config.rate = 200.0;
    config.per_host_concurrency = 4;
    config.concurrency = 8;
    let store = Store::open(&db, OpenMode::CreateOrOpen)?;
    config.validate()?;
    let summary = crawl::run(&config, &store, &StopSignal::new(), &Progress::new())?;
    let status = status::status(&store)?;
    let file = std::fs::File::create(&export_path)
        .map_err(|e| Error::io(format!("creating {}", export_path.display()), e))?;
    let mut out = std::io::BufWriter::new(file);
    let exported = export::export(&store, Format::Jsonl, &export::Filter::default(), &mut out)?;
    // As a crawl ends: the next command opens the database at once, `status` without a copy.
    crate::status_snapshot::close(store)?;
    Ok(DemoReport {
        summary,
        status,
        db,
        export: export_path,
        exported,
    })
}
