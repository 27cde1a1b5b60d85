//! Page dumps for the tools people already use. Each format streams records straight from the
//! database, so memory stays flat whatever the crawl's size.

pub mod jsonl;

use std::io::Write;

use crate::error::Result;
use crate::store::Store;

/// An export format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per stored URL.
    Jsonl,
}

/// Writes every stored URL of `store` in `format` to `out`; returns the number of records.
pub fn export(store: &Store, format: Format, out: &mut dyn Write) -> Result<u64> {
    match format {
        Format::Jsonl => jsonl::write(store, out),
    }
}
