//! Picks which origin starts the next request. Origins with queued work sit either in a ready
//! ring (round-robin, so every host gets its turn) or in a heap keyed by the instant their slot
//! allows the next start; origins at their in-flight cap sit in neither until a request
//! finishes. The engine thus hands a worker only a URL it may fetch now, and knows exactly how
//! long to sleep when nothing is ready.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::frontier::OriginId;
use crate::politeness::{HostSlot, Readiness, RobotsState};
use crate::robots::Policy;
use crate::runtime::Clock;

/// The scheduler's answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// Lease a URL of this origin and start it now.
    Start(OriginId),
    /// Fetch this origin's robots.txt now (its pages wait for it).
    Robots(OriginId),
    /// Nothing may start before this instant.
    WaitUntil(Instant),
    /// Nothing is queued anywhere that could start (all caps reached, or no work).
    Idle,
}

/// Host slots plus the ready ring and the wake-up heap.
pub struct Scheduler {
    hosts: HashMap<OriginId, HostSlot>,
    /// Origins in `ready` or `waiting`; each is in at most one of them, at most once.
    scheduled: HashMap<OriginId, bool>,
    ready: VecDeque<OriginId>,
    waiting: BinaryHeap<Reverse<(Instant, OriginId)>>,
    per_host_cap: usize,
    interval: Option<Duration>,
    /// `false` with `--ignore-robots`: slots start with an allow-all policy.
    robots_required: bool,
    /// The crawl's clock, which the rate limiters read.
    clock: Clock,
}

impl Scheduler {
    /// A scheduler allowing `per_host_cap` requests in flight per origin and one start per
    /// `interval` (none: unlimited) by `clock`.
    pub fn new(
        per_host_cap: usize,
        interval: Option<Duration>,
        robots_required: bool,
        clock: Clock,
    ) -> Self {
        Scheduler {
            robots_required,
            hosts: HashMap::new(),
            scheduled: HashMap::new(),
            ready: VecDeque::new(),
            waiting: BinaryHeap::new(),
            per_host_cap,
            interval,
            clock,
        }
    }

    /// Records `n` more queued URLs for an origin. Returns `true` when the origin had no slot
    /// yet, so the caller can restore its saved state (robots verdict, back-off).
    pub fn add_queued(&mut self, id: OriginId, origin: &str, n: u64) -> bool {
        let (interval, clock) = (self.interval, &self.clock);
        let mut created = false;
        let slot = self.hosts.entry(id).or_insert_with(|| {
            created = true;
            let mut slot = HostSlot::new(origin.to_string(), interval, clock);
            if !self.robots_required {
                slot.robots = RobotsState::Known(std::sync::Arc::new(Policy::allow_all()));
            }
            slot
        });
        slot.queued += n;
        self.schedule(id);
        created
    }

    /// An origin's slot, to read or change its politeness state; call [`Scheduler::reschedule`]
    /// after a change that may make it ready.
    pub fn slot(&mut self, id: OriginId) -> Option<&mut HostSlot> {
        self.hosts.get_mut(&id)
    }

    /// Puts an origin back in the ready ring if it has work it may now start.
    pub fn reschedule(&mut self, id: OriginId) {
        self.schedule(id);
    }

    /// Takes back a start that made no request (see [`HostSlot::cancel_start`]).
    pub fn cancel_start(&mut self, id: OriginId) {
        if let Some(slot) = self.hosts.get_mut(&id) {
            slot.cancel_start(&self.clock);
        }
        self.schedule(id);
    }

    /// Origins with work that could start a request at `now` if a fetch slot were free: those in
    /// the ready ring and those whose wait is over (for the "concurrency is the bottleneck" hint).
    pub fn ready_now(&self, now: Instant) -> usize {
        let waited = self
            .waiting
            .iter()
            .filter(|Reverse((t, _))| *t <= now)
            .count();
        self.ready.len() + waited
    }

    /// Origins tracked in memory, for status lines.
    pub fn slots(&self) -> impl Iterator<Item = (&OriginId, &HostSlot)> {
        self.hosts.iter()
    }

    /// A request to `id` finished (whatever its outcome).
    pub fn finished(&mut self, id: OriginId) {
        if let Some(slot) = self.hosts.get_mut(&id) {
            slot.in_flight = slot.in_flight.saturating_sub(1);
        }
        self.schedule(id);
    }

    /// The frontier had nothing for an origin the scheduler thought had work: undo the start
    /// and forget the stale count.
    pub fn nothing_queued(&mut self, id: OriginId) {
        if let Some(slot) = self.hosts.get_mut(&id) {
            slot.queued = 0;
            slot.in_flight = slot.in_flight.saturating_sub(1);
        }
    }

    /// The frontier holds more for an origin than the scheduler counted (counts start at one
    /// per origin on a resume): keep it at least at one and back in the rotation.
    pub fn more_queued(&mut self, id: OriginId) {
        if let Some(slot) = self.hosts.get_mut(&id) {
            if slot.queued == 0 {
                slot.queued = 1;
                self.schedule(id);
            }
        }
    }

    /// Drops an origin whatever its state: this process may no longer crawl it (a shared
    /// crawl's shard moved to another worker). Outcomes of its requests still in flight find
    /// no slot and change nothing here. Returns the origin, if it had a slot.
    pub fn forget(&mut self, id: OriginId) -> Option<String> {
        self.scheduled.remove(&id);
        self.hosts.remove(&id).map(|s| s.origin)
    }

    /// Pauses an origin until `until` (Retry-After, back-off).
    #[cfg(test)] // the engine pauses through the slot; tests look inside
    pub fn pause(&mut self, id: OriginId, until: Instant) {
        if let Some(slot) = self.hosts.get_mut(&id) {
            slot.pause_until = Some(slot.pause_until.map_or(until, |t| t.max(until)));
        }
    }

    /// URLs queued across all origins, as the scheduler counts them.
    #[cfg(test)] // the engine pauses through the slot; tests look inside
    pub fn queued(&self) -> u64 {
        self.hosts.values().map(|s| s.queued).sum()
    }

    /// Requests in flight across all origins.
    #[cfg(test)] // the engine pauses through the slot; tests look inside
    pub fn in_flight(&self) -> usize {
        self.hosts.values().map(|s| s.in_flight).sum()
    }

    /// Origins currently tracked (for bounded-memory checks).
    pub fn hosts(&self) -> usize {
        self.hosts.len()
    }

    /// Drops slots that hold no work and whose limits no longer matter, so memory follows the
    /// active hosts, not every host ever seen; `dropped` is told each origin dropped, so state
    /// kept elsewhere per host (the fetcher's DNS answers) can follow too.
    pub fn prune(&mut self, now: Instant, mut dropped: impl FnMut(&str)) {
        let scheduled = &self.scheduled;
        self.hosts.retain(|id, s| {
            let keep = scheduled.get(id).copied().unwrap_or(false) || !s.is_idle(now);
            if !keep {
                dropped(&s.origin);
            }
            keep
        });
        let hosts = &self.hosts;
        self.scheduled
            .retain(|id, on| *on && hosts.contains_key(id));
    }

    /// Which origin may start a request at `now`, or how long until one may.
    pub fn next(&mut self, now: Instant) -> Next {
        loop {
            while let Some(Reverse((t, id))) = self.waiting.peek().copied() {
                if t > now {
                    break;
                }
                self.waiting.pop();
                self.ready.push_back(id);
            }
            let Some(id) = self.ready.pop_front() else {
                return match self.waiting.peek() {
                    Some(Reverse((t, _))) => Next::WaitUntil(*t),
                    None => Next::Idle,
                };
            };
            self.scheduled.insert(id, false);
            let Some(slot) = self.hosts.get_mut(&id) else {
                continue;
            };
            if slot.queued == 0 || matches!(slot.robots, RobotsState::Fetching) {
                continue;
            }
            if slot.robots_expires.is_some_and(|t| t <= now) {
                // A day-old verdict: fetch robots.txt again before the next page.
                slot.robots = RobotsState::Unknown;
                slot.robots_expires = None;
            }
            match slot.try_start(now, self.per_host_cap, &self.clock) {
                Readiness::Full => continue,
                Readiness::WaitUntil(t) => {
                    self.scheduled.insert(id, true);
                    self.waiting.push(Reverse((t, id)));
                }
                Readiness::Go if matches!(slot.robots, RobotsState::Unknown) => {
                    // Nothing else of this origin starts until its robots.txt is known.
                    slot.robots = RobotsState::Fetching;
                    return Next::Robots(id);
                }
                Readiness::Go => {
                    slot.queued -= 1;
                    if slot.queued > 0 && slot.in_flight < self.per_host_cap {
                        self.scheduled.insert(id, true);
                        match self.interval {
                            Some(d) => self.waiting.push(Reverse((now + d, id))),
                            None => self.ready.push_back(id),
                        }
                    }
                    return Next::Start(id);
                }
            }
        }
    }

    fn schedule(&mut self, id: OriginId) {
        let Some(slot) = self.hosts.get(&id) else {
            return;
        };
        let on = self.scheduled.entry(id).or_insert(false);
        let fetching = matches!(slot.robots, RobotsState::Fetching);
        if !*on && !fetching && slot.queued > 0 && slot.in_flight < self.per_host_cap {
            *on = true;
            self.ready.push_back(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_host_cap_holds_and_frees_on_finish() {
        let mut s = Scheduler::new(2, None, false, Clock::system());
        s.add_queued(1, "http://a", 5);
        let now = Instant::now();
        assert_eq!(s.next(now), Next::Start(1));
        assert_eq!(s.next(now), Next::Start(1));
        assert_eq!(s.next(now), Next::Idle, "cap of 2 reached");
        s.finished(1);
        assert_eq!(s.next(now), Next::Start(1));
        assert_eq!(s.in_flight(), 2);
        assert_eq!(s.queued(), 2);
    }

    #[test]
    fn a_slow_host_does_not_block_a_ready_one() {
        let mut s = Scheduler::new(4, Some(Duration::from_secs(60)), false, Clock::system());
        s.add_queued(1, "http://slow", 100);
        s.add_queued(2, "http://other", 1);
        let now = Instant::now();
        let first = [s.next(now), s.next(now)];
        assert!(first.contains(&Next::Start(1)) && first.contains(&Next::Start(2)));
        match s.next(now) {
            Next::WaitUntil(t) => assert!(t > now + Duration::from_secs(59)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn round_robin_across_hosts() {
        let mut s = Scheduler::new(10, None, false, Clock::system());
        s.add_queued(1, "http://a", 3);
        s.add_queued(2, "http://b", 3);
        let now = Instant::now();
        let order: Vec<_> = (0..4).map(|_| s.next(now)).collect();
        assert_eq!(
            order,
            [
                Next::Start(1),
                Next::Start(2),
                Next::Start(1),
                Next::Start(2)
            ]
        );
    }

    #[test]
    fn robots_txt_comes_first_and_holds_the_origin() {
        let mut s = Scheduler::new(4, None, true, Clock::system());
        s.add_queued(1, "http://a", 3);
        let now = Instant::now();
        assert_eq!(s.next(now), Next::Robots(1));
        assert_eq!(
            s.next(now),
            Next::Idle,
            "no page starts while robots.txt is fetched"
        );
        let slot = s.slot(1).unwrap();
        slot.robots = RobotsState::Known(std::sync::Arc::new(Policy::allow_all()));
        s.finished(1);
        assert_eq!(s.next(now), Next::Start(1));
    }

    #[test]
    fn a_stale_robots_verdict_is_fetched_again() {
        let mut s = Scheduler::new(4, None, true, Clock::system());
        s.add_queued(1, "http://a", 3);
        let now = Instant::now();
        let slot = s.slot(1).unwrap();
        slot.robots = RobotsState::Known(std::sync::Arc::new(Policy::allow_all()));
        slot.robots_expires = Some(now + Duration::from_secs(5));
        assert_eq!(s.next(now), Next::Start(1));
        assert_eq!(s.next(now + Duration::from_secs(5)), Next::Robots(1));
    }

    #[test]
    fn pause_defers_a_host_and_idle_slots_are_pruned() {
        let mut s = Scheduler::new(2, None, false, Clock::system());
        let now = Instant::now();
        s.add_queued(1, "http://a", 1);
        s.pause(1, now + Duration::from_secs(3));
        assert_eq!(s.next(now), Next::WaitUntil(now + Duration::from_secs(3)));
        assert_eq!(s.next(now + Duration::from_secs(3)), Next::Start(1));
        s.finished(1);
        let mut dropped = Vec::new();
        s.prune(now + Duration::from_secs(4), |o| {
            dropped.push(o.to_string())
        });
        assert_eq!(s.hosts(), 0);
        assert_eq!(dropped, ["http://a"]);
    }
}
