//! Recrawl rounds (see [`crate::recrawl`]): where the latest round stands and what it found,
//! for the whole crawl (`meta/recrawl_round`) and per origin (the `recrawl_hosts` tree), kept
//! in the transactions that queue and settle its rechecks, so they always agree with the
//! records.

use serde::{Deserialize, Serialize};

use super::versions::{Change, Version};
use super::{PageRecord, Store};
use crate::error::Result;

/// Key in `meta` of the latest [`Round`].
pub(crate) const KEY_ROUND: &[u8] = b"recrawl_round";

/// What a round found. `checked` counts rechecks settled; it splits into the other counts but
/// `new` (pages first stored while the round ran, found through changed pages).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundTally {
    /// Rechecks queued.
    pub queued: u64,
    /// Rechecks settled.
    pub checked: u64,
    /// Of those, answered `304 Not Modified`.
    pub not_modified: u64,
    /// Answered 200 with the same status and payload as before.
    pub unchanged: u64,
    /// Answered with different content: a new version stored.
    pub changed: u64,
    /// Answered 404 or 410.
    pub gone: u64,
    /// Failed another way (the version checked stays the latest).
    pub failed: u64,
    /// Pages stored for the first time while the round ran.
    pub new: u64,
}

impl RoundTally {
    /// Counts a record stored in the round.
    pub fn count(&mut self, change: Change) {
        self.count_by(change, true);
    }

    /// Counts a record in (`add`) or out (a record start-up recovery takes back).
    pub fn count_by(&mut self, change: Change, add: bool) {
        let bump = |n: &mut u64| {
            *n = if add {
                n.saturating_add(1)
            } else {
                n.saturating_sub(1)
            }
        };
        if change != Change::New {
            bump(&mut self.checked);
        }
        let n = match change {
            Change::New => &mut self.new,
            Change::Changed => &mut self.changed,
            Change::Unchanged => &mut self.unchanged,
            Change::NotModified => &mut self.not_modified,
            Change::Gone => &mut self.gone,
            Change::CheckFailed => &mut self.failed,
        };
        bump(n);
    }

    /// Rechecks still queued.
    pub fn left(&self) -> u64 {
        self.queued.saturating_sub(self.checked)
    }
}

/// The latest recrawl round.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Round {
    /// 1 for the first recrawl.
    pub number: u32,
    /// When it was planned (RFC 3339).
    pub started_at: String,
    /// Pages whose latest check is due before this (Unix ms) are rechecked: the planning
    /// time, kept so a planning resumed after a crash decides as the first part did.
    pub due_before_ms: u64,
    /// Every due page is queued (planning finished).
    pub planned: bool,
    /// Records of the page log the planning went through, in log order (the log only grows,
    /// and `compact` refuses to run while a round is unfinished).
    pub scanned: u64,
    /// What it found so far.
    pub tally: RoundTally,
}

impl Round {
    /// Whether the round still has work: planning, or rechecks queued.
    pub fn unfinished(&self) -> bool {
        !self.planned || self.tally.left() > 0
    }
}

/// An origin's counts in a round.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostRound {
    /// The round they belong to.
    pub round: u32,
    /// The counts.
    pub tally: RoundTally,
}

/// The round a record counts in, and how: its version's round and change, when it was stored
/// in round `round` (rechecks, and pages first stored while the round ran).
pub(crate) fn counted_in(rec: &PageRecord, round: u32) -> Option<Change> {
    let v: &Version = rec.version.as_ref()?;
    (round > 0 && v.round == round).then_some(v.change)
}

impl Store {
    /// The latest recrawl round, if the crawl had one.
    pub fn round(&self) -> Result<Option<Round>> {
        self.get(&self.meta, KEY_ROUND, "meta/recrawl_round", "reading meta")
    }

    /// Every origin's counts in the latest round it took part in, by origin.
    pub fn host_rounds(&self) -> impl Iterator<Item = Result<(String, HostRound)>> + '_ {
        self.recrawl_hosts.iter().map(move |kv| {
            let (k, v) = kv.map_err(|e| self.db_err("iterating recrawl tallies", e))?;
            let origin = String::from_utf8_lossy(&k).into_owned();
            let t = super::decode(&origin, &v)?;
            Ok((origin, t))
        })
    }
}
