//! `--refresh`: how a recheck's next check is timed (`recrawl/` times it). A setting's value,
//! so it sits with the settings: `recrawl/` reads the settings, never the reverse.

use serde::{Deserialize, Serialize};

/// How a page's next check is timed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Refresh {
    /// Every page again once `--older-than` has passed since its latest check.
    #[default]
    Fixed,
    /// Sooner for pages that changed at their latest check, later for those that did not.
    Adaptive,
}
