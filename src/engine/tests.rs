//! The engine driven through its channels: a fake worker on a plain thread takes the jobs the
//! engine hands out, answers them with outcomes it builds itself (no network), and records what
//! it was given (which URL, in what order, how many at once), so each test asserts from the
//! worker's side and from the store. The page budget, retry parking and host pauses, batched
//! commits and the robots.txt life cycle are covered here; `tests/` covers the real fetcher.
//! The engine runs on a manual clock (see [`Clock`]): a back-off or a pause passes in no time,
//! and the worker reads on that clock exactly when each job was handed out.

use std::collections::{BTreeMap, VecDeque};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tempfile::TempDir;
use url::Url;

use super::{Engine, EngineIo};
use crate::config::CrawlConfig;
use crate::error::Result;
use crate::failure::{ErrorKind, Failure};
use crate::frontier::{self, Candidate, Frontier, Lease, SledFrontier};
use crate::progress::Progress;
use crate::report::{RunCounters, StopReason};
use crate::robots::Policy;
use crate::runtime::Clock;
use crate::shutdown::StopSignal;
use crate::store::{OpenMode, RobotsVerdict, Store, UrlState};
use crate::worker::{self, Job, Outcome, PageOutcome, RobotsOutcome};

/// Longest a fake worker serves. Past it the worker quits, its outcome channel closes and the
/// engine fails ("all fetch workers stopped"): a bug ends the test instead of hanging it.
const TIMEOUT: Duration = Duration::from_secs(20);

/// How long the fake worker watches for more jobs before it answers the ones it holds. The
/// engine hands out a round of jobs in one tight loop, so this is ample to see all of them.
const QUIET: Duration = Duration::from_millis(150);

/// The fake worker's ends of the engine's channels.
pub(super) struct FakeWorker {
    jobs: async_channel::Receiver<Job>,
    outcomes: mpsc::Sender<Outcome>,
    deadline: Instant,
    /// The engine's clock, and its reading when the engine started.
    clock: Clock,
    start: Instant,
}

impl FakeWorker {
    /// The next job, or `None` once the engine has gone (or [`TIMEOUT`] passed).
    pub(super) fn next(&self) -> Option<Job> {
        self.within(TIMEOUT)
    }

    /// The next job if one comes within `wait`. Polls, because `recv_blocking` has no timeout.
    fn within(&self, wait: Duration) -> Option<Job> {
        let until = (Instant::now() + wait).min(self.deadline);
        loop {
            match self.jobs.try_recv() {
                Ok(job) => return Some(job),
                Err(async_channel::TryRecvError::Closed) => return None,
                Err(async_channel::TryRecvError::Empty) if Instant::now() >= until => return None,
                Err(async_channel::TryRecvError::Empty) => {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
    }

    /// How long after the engine's start it is on the engine's clock. The engine does not move
    /// its clock while a job is out, so for a job just received this is when it was handed out.
    pub(super) fn at(&self) -> Duration {
        self.clock.now() - self.start
    }

    pub(super) fn send(&self, outcome: Outcome) {
        // The engine outlives every job it handed out; a closed channel means it failed, which
        // the test sees in the engine's result.
        let _ = self.outcomes.send(outcome);
    }
}

/// A fresh database in a temporary directory with `seeds` queued, and a config for them:
/// no rate limit, robots.txt ignored (the tests about robots.txt turn it back on), and a
/// manual clock.
pub(super) fn setup(seeds: &[&str]) -> (TempDir, Store, CrawlConfig) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("db");
    let store = Store::open(&db, OpenMode::CreateOrOpen).expect("a new store");
    let mut config = CrawlConfig::new(&db, seeds).expect("valid seeds");
    config.rate = 0.0;
    config.ignore_robots = true;
    config.clock = Clock::manual();
    frontier::add_seeds(&store, &config.seeds).expect("seeds queued");
    (dir, store, config)
}

/// Runs the engine on this thread against `worker` on another until the engine returns; gives
/// back the engine's result, its counters and what the worker returned.
fn run<T: Send>(
    config: &CrawlConfig,
    store: &Store,
    worker: impl FnOnce(FakeWorker) -> T + Send,
) -> (Result<StopReason>, RunCounters, T) {
    let mut frontier = SledFrontier::open(store).expect("the store's frontier");
    run_with(config, &mut frontier, store, worker)
}

/// [`run`] on any frontier; `store` gives only the flusher and the directory, as the crawl's
/// local store does for a frontier kept elsewhere.
pub(super) fn run_with<T: Send>(
    config: &CrawlConfig,
    frontier: &mut dyn Frontier,
    store: &Store,
    worker: impl FnOnce(FakeWorker) -> T + Send,
) -> (Result<StopReason>, RunCounters, T) {
    let scope = config.scope(&[]).expect("a scope for the seeds");
    let (job_tx, job_rx) = async_channel::unbounded();
    let (out_tx, out_rx) = mpsc::channel();
    let fake = FakeWorker {
        jobs: job_rx,
        outcomes: out_tx,
        deadline: Instant::now() + TIMEOUT,
        clock: config.clock.clone(),
        start: config.clock.now(),
    };
    std::thread::scope(|s| {
        let handle = s.spawn(move || worker(fake));
        let flusher = store.flusher();
        let io = EngineIo {
            round: None,
            idle_origins: None,
            skips: None,
            dir: store.path(),
            jobs: job_tx,
            outcomes: out_rx,
            flusher: &flusher,
            stop: StopSignal::new(),
            progress: Progress::new(),
        };
        let mut engine = Engine::new(config, &scope, frontier, io).expect("an engine");
        let result = engine.run();
        let stats = engine.stats;
        // Closes the job channel: the worker's `next` returns `None` and it ends.
        drop(engine);
        let seen = handle.join().expect("the fake worker panicked");
        (result, stats, seen)
    })
}

/// A response with `status` for a leased URL, revealing `found` (absolute, canonical URLs).
pub(super) fn page(lease: Lease, status: u16, found: &[&str]) -> Box<PageOutcome> {
    let mut record = worker::failed_record(&lease.entry, None);
    record.attempts += 1;
    record.status = Some(status);
    if status < 400 {
        record.state = UrlState::Done;
    } else {
        record.error = Some(Failure {
            kind: ErrorKind::HttpStatus,
            message: format!("answered {status}"),
        });
    }
    let found = found
        .iter()
        .map(|u| Candidate {
            url: Url::parse(u).expect("a test URL"),
            depth: lease.entry.depth + 1,
            referrer: Some(lease.entry.url.clone()),
            sitemap: frontier::SitemapRole::Page,
            redirect_chain: Vec::new(),
        })
        .collect();
    Box::new(PageOutcome {
        lease,
        record,
        body: Ok(None),
        found,
        sign: None,
    })
}

/// No response for a leased URL: a local failure of `kind`.
pub(super) fn no_response(lease: Lease, kind: ErrorKind) -> Box<PageOutcome> {
    let failure = Failure {
        kind,
        message: format!("fake {}", kind.as_str()),
    };
    let mut record = worker::failed_record(&lease.entry, Some(failure));
    record.attempts += 1;
    Box::new(PageOutcome {
        lease,
        record,
        body: Ok(None),
        found: Vec::new(),
        sign: None,
    })
}

/// A robots.txt outcome as the real worker builds it: a 2xx body's parsed rules, allow-all
/// for a 4xx, no policy when unreachable.
fn robots(job: &Job, verdict: Result<RobotsVerdict, Failure>, body: &str) -> Outcome {
    let Job::Robots {
        origin_id, origin, ..
    } = job
    else {
        panic!("not a robots.txt job: {job:?}");
    };
    let policy = match &verdict {
        // "politecrawl": the product token of the default User-Agent.
        Ok(RobotsVerdict::Rules { .. }) => Some(Policy::parse(body.as_bytes(), "politecrawl")),
        Ok(_) => Some(Policy::allow_all()),
        Err(_) => None,
    };
    Outcome::Robots(RobotsOutcome {
        origin_id: *origin_id,
        origin: origin.clone(),
        verdict,
        body: body.as_bytes().to_vec(),
        policy,
        elapsed: Duration::ZERO,
    })
}

/// What a job asks for, in words: `robots http://a.test` or the page URL with its try, e.g.
/// `http://a.test/x #2` for a URL fetched once before.
pub(super) fn describe(job: &Job) -> String {
    match job {
        Job::Robots { origin, .. } => format!("robots {origin}"),
        Job::Page { lease, url, .. } => format!("{url} #{}", lease.entry.attempts + 1),
    }
}

pub(super) fn lease_of(job: Job) -> Lease {
    match job {
        Job::Page { lease, .. } => lease,
        Job::Robots { .. } => panic!("a robots.txt job with robots.txt ignored"),
    }
}

/// A fake worker's loop: the first request of the URL ending in `suffix` is answered by
/// `first`, every other request with a plain 200; returns the jobs it was given, described,
/// with when each was handed out (ms after the engine's start, on its clock).
fn first_try_of(
    w: &FakeWorker,
    suffix: &str,
    first: impl Fn(Lease) -> Box<PageOutcome>,
) -> Vec<(String, u128)> {
    let mut fetched = Vec::new();
    while let Some(job) = w.next() {
        fetched.push((describe(&job), w.at().as_millis()));
        let lease = lease_of(job);
        let outcome = if lease.entry.url.ends_with(suffix) && lease.entry.attempts == 0 {
            first(lease)
        } else {
            page(lease, 200, &[])
        };
        w.send(Outcome::Page(outcome));
    }
    fetched
}

#[test]
fn the_page_budget_counts_pages_in_flight() {
    let seeds: Vec<String> = (1..=8).map(|i| format!("http://a.test/{i}")).collect();
    let (_dir, store, mut config) = setup(&seeds.iter().map(String::as_str).collect::<Vec<_>>());
    config.max_pages = Some(3);
    config.concurrency = 8;
    config.per_host_concurrency = 8;
    // The worker holds every job it is given (so they stay in flight, with room for five
    // more under --concurrency), and answers them one by one, watching after each answer for
    // a job the budget does not allow.
    let (result, stats, handed_out) = run(&config, &store, |w| {
        let mut handed_out = 0;
        while let Some(first) = w.next() {
            let mut held = VecDeque::from([first]);
            handed_out += 1;
            loop {
                while let Some(job) = w.within(QUIET) {
                    held.push_back(job);
                    handed_out += 1;
                }
                let Some(job) = held.pop_front() else {
                    break;
                };
                let lease = lease_of(job);
                let next = format!("{}/next", lease.entry.url.trim_end_matches('/'));
                w.send(Outcome::Page(page(lease, 200, &[&next])));
            }
        }
        handed_out
    });
    assert_eq!(result.unwrap(), StopReason::MaxPages);
    assert_eq!(handed_out, 3, "page jobs handed out with --max-pages 3");
    assert_eq!(stats.stored, 3);
    let c = store.counters().unwrap();
    assert_eq!((c.stored(), c.done), (3, 3));
    assert_eq!(
        c.queued,
        5 + 3,
        "unfetched seeds and the links found stay queued"
    );
}

#[test]
fn a_transient_failure_is_parked_for_its_back_off_then_fetched_again() {
    let (_dir, store, mut config) = setup(&[
        "http://a.test/flaky",
        "http://a.test/b",
        "http://a.test/c",
        "http://a.test/d",
    ]);
    config.concurrency = 1;
    // The engine runs on this thread: its first jitter is the seed's first number.
    fastrand::seed(7);
    let back_off = crate::retry::backoff(1, fastrand::Rng::with_seed(7).f64());
    let (result, stats, fetched) = run(&config, &store, |w| {
        first_try_of(&w, "/flaky", |lease| no_response(lease, ErrorKind::Timeout))
    });
    assert_eq!(result.unwrap(), StopReason::Finished);
    let t = |s: &str, ms: u128| (s.to_string(), ms);
    assert_eq!(
        fetched,
        [
            t("http://a.test/flaky #1", 0),
            t("http://a.test/b #1", 0),
            t("http://a.test/c #1", 0),
            t("http://a.test/d #1", 0),
            t("http://a.test/flaky #2", back_off.as_millis()),
        ],
        "the timed-out URL waits out its back-off while the queue moves on"
    );
    let flaky = store
        .find_page("http://a.test/flaky")
        .unwrap()
        .expect("stored");
    assert_eq!(
        (flaky.state, flaky.status, flaky.attempts),
        (UrlState::Done, Some(200), 2)
    );
    assert_eq!((stats.retried, stats.stored), (1, 4));
    let c = store.counters().unwrap();
    assert_eq!(
        (c.done, c.failed, c.queued),
        (4, 0, 0),
        "each URL stored once"
    );
}

#[test]
fn a_503_pauses_its_host_and_requeues_the_url_at_its_place() {
    let (_dir, store, mut config) = setup(&[
        "http://a.test/busy",
        "http://a.test/2",
        "http://b.test/1",
        "http://b.test/2",
    ]);
    config.concurrency = 1;
    let (result, stats, fetched) = run(&config, &store, |w| {
        first_try_of(&w, "/busy", |lease| {
            let mut o = page(lease, 503, &[]);
            o.record.headers = vec![("Retry-After".into(), "1".into())];
            o
        })
    });
    assert_eq!(result.unwrap(), StopReason::Finished);
    let t = |s: &str, ms: u128| (s.to_string(), ms);
    assert_eq!(
        fetched,
        [
            t("http://a.test/busy #1", 0),
            // a.test's turn comes round, but it is paused: b.test's work goes on.
            t("http://b.test/1 #1", 0),
            t("http://b.test/2 #1", 0),
            // Back at the head of a.test's queue once Retry-After is over, before the URL
            // queued after it.
            t("http://a.test/busy #2", 1000),
            t("http://a.test/2 #1", 1000),
        ]
    );
    let busy = store
        .find_page("http://a.test/busy")
        .unwrap()
        .expect("stored");
    assert_eq!((busy.state, busy.attempts), (UrlState::Done, 2));
    let hosts: BTreeMap<String, (u64, Vec<u64>)> = store
        .all_hosts()
        .map(|h| h.map(|h| (h.origin, (h.pauses, h.retry_after_seen))))
        .collect::<Result<_>>()
        .unwrap();
    assert_eq!(
        hosts["http://a.test"],
        (1, vec![1]),
        "one pause, Retry-After 1 s"
    );
    assert_eq!((stats.retried, stats.stored), (1, 4));
}

#[test]
fn outcomes_answered_together_are_all_stored_and_their_links_fetched_once() {
    // 100 pages in flight, answered at once: more than one batch (`MAX_BATCH`), and every page
    // links to the same new URL and to its neighbours, so the links repeat within a batch.
    const N: usize = 100;
    let (_dir, store, mut config) = setup(&["http://a.test/"]);
    config.concurrency = N;
    config.per_host_concurrency = N;
    let pages: Vec<String> = (0..N).map(|i| format!("http://a.test/p{i}")).collect();
    let (result, stats, (fetched, burst)) = run(&config, &store, |w| {
        let mut fetched = Vec::new();
        let mut answer = |job: Job| {
            fetched.push(job_url(&job));
            let lease = lease_of(job);
            let found: Vec<&str> = if lease.entry.url == "http://a.test/" {
                pages.iter().map(String::as_str).collect()
            } else {
                let i = lease.entry.url.strip_prefix("http://a.test/p");
                let i: usize = i.and_then(|i| i.parse().ok()).unwrap_or(0);
                let next = &pages[(i + 1) % N];
                vec!["http://a.test/", "http://a.test/shared", next]
            };
            w.send(Outcome::Page(page(lease, 200, &found)));
        };
        answer(w.next().expect("the seed"));
        // The links of /, each held until all have come: the engine must hand them all out
        // without hearing back from any (a wait bounded by TIMEOUT, not by a guess of how
        // fast the engine sends them). Then answered back to back, so they reach the engine
        // together.
        let burst: Vec<Job> = (0..N).map_while(|_| w.next()).collect();
        let burst_len = burst.len();
        burst.into_iter().for_each(&mut answer);
        while let Some(job) = w.next() {
            answer(job);
        }
        (fetched, burst_len)
    });
    assert_eq!(result.unwrap(), StopReason::Finished);
    assert_eq!(burst, N, "the links of / all went out at once");
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for url in &fetched {
        *counts.entry(url.clone()).or_default() += 1;
    }
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "fetched more than once: {twice:?}");
    assert_eq!(counts.len(), N + 2, "/, the {N} pages and /shared");
    assert!(counts.contains_key("http://a.test/shared"));
    let c = store.counters().unwrap();
    assert_eq!((c.done, c.failed, c.queued), (N as u64 + 2, 0, 0));
    assert_eq!((stats.stored, stats.done), (c.stored(), c.done));
}

fn job_url(job: &Job) -> String {
    match job {
        Job::Page { url, .. } => url.to_string(),
        Job::Robots { origin, .. } => format!("{origin}/robots.txt"),
    }
}

#[test]
fn robots_txt_comes_first_and_its_rules_block_urls_without_a_request() {
    let (_dir, store, mut config) = setup(&[
        "http://a.test/",
        "http://a.test/private/x",
        "http://a.test/ok",
        "http://b.test/",
    ]);
    config.ignore_robots = false;
    config.concurrency = 4;
    config.per_host_concurrency = 4;
    let rules = "User-agent: *\nDisallow: /private\n";
    // Events in the order the worker saw them. On a robots.txt job it first watches for more
    // jobs, so a page job of that origin sent before the answer would show up before it.
    let (result, stats, events) = run(&config, &store, |w| {
        let (mut held, mut events) = (VecDeque::new(), Vec::new());
        while let Some(job) = held.pop_front().or_else(|| {
            let job = w.next()?;
            events.push(format!("got {}", describe(&job)));
            Some(job)
        }) {
            let Job::Robots { ref origin, .. } = job else {
                w.send(Outcome::Page(page(lease_of(job), 200, &[])));
                continue;
            };
            while let Some(more) = w.within(QUIET) {
                events.push(format!("got {}", describe(&more)));
                held.push_back(more);
            }
            events.push(format!("answered robots {origin}"));
            let outcome = if origin == "http://a.test" {
                robots(&job, Ok(RobotsVerdict::Rules { status: 200 }), rules)
            } else {
                let reason = "robots.txt answered 404".to_string();
                robots(&job, Ok(RobotsVerdict::AllowAll { reason }), "")
            };
            w.send(outcome);
        }
        events
    });
    assert_eq!(result.unwrap(), StopReason::Finished);
    for origin in ["http://a.test", "http://b.test"] {
        let ours: Vec<&String> = events.iter().filter(|e| e.contains(origin)).collect();
        assert_eq!(ours[0], &format!("got robots {origin}"), "{events:#?}");
        assert_eq!(ours[1], &format!("answered robots {origin}"), "{events:#?}");
    }
    let mut pages: Vec<&str> = events
        .iter()
        .filter_map(|e| e.strip_prefix("got http"))
        .collect();
    pages.sort();
    assert_eq!(
        pages,
        ["://a.test/ #1", "://a.test/ok #1", "://b.test/ #1"],
        "no request for the disallowed URL"
    );
    let private = store
        .find_page("http://a.test/private/x")
        .unwrap()
        .expect("stored");
    let error = private.error.expect("the rule that blocked it");
    assert_eq!(
        (private.state, error.kind),
        (UrlState::Blocked, ErrorKind::RobotsDisallowed)
    );
    assert!(error.message.starts_with("Disallow: /private"), "{error:?}");
    let c = store.counters().unwrap();
    assert_eq!((c.done, c.blocked, c.queued), (3, 1, 0));
    assert_eq!((stats.robots_fetched, stats.blocked), (2, 1));
    let saved = store
        .robots("http://a.test")
        .unwrap()
        .expect("verdict saved");
    assert_eq!(saved.verdict, RobotsVerdict::Rules { status: 200 });
}

#[test]
fn an_unreachable_robots_txt_holds_its_origin_then_fails_its_urls() {
    let (_dir, store, mut config) = setup(&["http://c.test/1", "http://c.test/2"]);
    config.ignore_robots = false;
    // The second try comes after `robots::retry_delay(1)` (1 s), past this give-up time.
    config.robots_give_up = Duration::from_millis(500);
    let (result, stats, jobs) = run(&config, &store, |w| {
        let mut jobs = Vec::new();
        while let Some(job) = w.next() {
            jobs.push((describe(&job), w.at().as_millis()));
            match job {
                Job::Robots { .. } => {
                    let refused = Failure {
                        kind: ErrorKind::Connect,
                        message: "connection refused".into(),
                    };
                    w.send(robots(&job, Err(refused), ""));
                }
                Job::Page { lease, .. } => w.send(Outcome::Page(page(lease, 200, &[]))),
            }
        }
        jobs
    });
    assert_eq!(result.unwrap(), StopReason::Finished);
    assert_eq!(
        jobs,
        [
            ("robots http://c.test".to_string(), 0),
            ("robots http://c.test".to_string(), 1000)
        ],
        "robots.txt tried again a second later, and no page requested"
    );
    for url in ["http://c.test/1", "http://c.test/2"] {
        let rec = store.find_page(url).unwrap().expect("stored");
        let kind = rec.error.map(|e| e.kind);
        assert_eq!(
            (rec.state, kind, rec.status),
            (UrlState::Failed, Some(ErrorKind::RobotsUnreachable), None)
        );
    }
    let saved = store
        .robots("http://c.test")
        .unwrap()
        .expect("verdict saved");
    assert!(
        matches!(saved.verdict, RobotsVerdict::GaveUp { .. }),
        "{saved:?}"
    );
    assert_eq!((stats.robots_fetched, stats.failed), (2, 2));
}

#[test]
fn a_robots_failure_that_waiting_does_not_heal_gives_up_after_one_retry() {
    // Kinds `retry::is_transient` calls final give the host up on the second try, whatever
    // --robots-give-up says (here the default, 10 minutes), a certificate that failed its
    // check on the first; a refused connection waits it out (the test above). The host's URLs
    // fail with the robots.txt failure's own kind.
    for (kind, tries) in [
        (ErrorKind::Dns, 2),
        (ErrorKind::Tls, 2),
        (ErrorKind::InvalidResponse, 2),
        (ErrorKind::TlsExpired, 1),
        (ErrorKind::TlsUntrusted, 1),
        (ErrorKind::TlsNameMismatch, 1),
    ] {
        let (_dir, store, mut config) = setup(&["http://d.test/1"]);
        config.ignore_robots = false;
        let (result, _, jobs) = run(&config, &store, |w| {
            let mut jobs = Vec::new();
            while let Some(job) = w.next() {
                jobs.push(describe(&job));
                let failure = Failure {
                    kind,
                    message: format!("fake {}", kind.as_str()),
                };
                match job {
                    Job::Robots { .. } => w.send(robots(&job, Err(failure), "")),
                    Job::Page { lease, .. } => w.send(Outcome::Page(page(lease, 200, &[]))),
                }
            }
            jobs
        });
        assert_eq!(result.unwrap(), StopReason::Finished, "{kind:?}");
        assert_eq!(jobs, vec!["robots http://d.test"; tries], "{kind:?}");
        let rec = store.find_page("http://d.test/1").unwrap().expect("stored");
        let error = rec.error.expect("failed");
        assert_eq!(error.kind, kind);
        assert!(error.message.starts_with("robots.txt: fake"), "{error:?}");
    }
}

#[test]
fn a_host_budget_counts_stored_pages_across_runs_and_requests_in_flight() {
    let (_dir, store, mut config) = setup(&["http://a.test/", "http://b.test/"]);
    config.concurrency = 8;
    config.max_pages_per_host = Some(3);
    // Every page links to six more of its own host; /0 fails once (a retry is one page).
    let answer = |w: FakeWorker| {
        let mut fetched = Vec::new();
        while let Some(job) = w.next() {
            fetched.push(describe(&job));
            let lease = lease_of(job);
            let url = Url::parse(&lease.entry.url).unwrap();
            let origin = url.origin().ascii_serialization();
            let outcome = if url.path() == "/0" && lease.entry.attempts == 0 {
                no_response(lease, ErrorKind::Reset)
            } else {
                let links: Vec<String> = (0..6).map(|i| format!("{origin}/{i}")).collect();
                let links: Vec<&str> = links.iter().map(String::as_str).collect();
                page(lease, 200, &links)
            };
            w.send(Outcome::Page(outcome));
        }
        fetched
    };
    let per_host = |fetched: &[String], host: &str| {
        fetched
            .iter()
            .filter(|f| f.starts_with(host) && !f.ends_with("#2"))
            .count()
    };
    fastrand::seed(7);
    let (result, stats, fetched) = run(&config, &store, answer);
    assert_eq!(result.unwrap(), StopReason::Finished);
    assert_eq!(per_host(&fetched, "http://a.test"), 3, "{fetched:?}");
    assert_eq!(per_host(&fetched, "http://b.test"), 3, "{fetched:?}");
    assert_eq!(stats.stored, 6, "a retry is not an outcome");
    let c = store.counters().unwrap();
    assert_eq!(c.done, 6);
    assert!(c.queued > 0, "the rest stays queued");

    // A later run with a larger budget takes only what is left of it, per host.
    config.max_pages_per_host = Some(5);
    let (result, stats, fetched) = run(&config, &store, answer);
    assert_eq!(result.unwrap(), StopReason::Finished);
    assert_eq!(per_host(&fetched, "http://a.test"), 2, "{fetched:?}");
    assert_eq!(per_host(&fetched, "http://b.test"), 2, "{fetched:?}");
    assert_eq!((stats.stored, store.counters().unwrap().done), (4, 10));
}
