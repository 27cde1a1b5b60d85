//! The async-runtime seam and the clock: the one file of the library that names async-std
//! (unit tests aside).
//! async-std is no longer developed upstream; keeping spawn, `block_on`, timers and blocking
//! work behind these few functions means a move to another runtime touches this file only.
//! The [`Clock`] a crawl decides by lives here too, so tests inject a manual one instead of
//! sleeping.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A spawned task; awaiting it gives its output.
pub(crate) type Task<T> = async_std::task::JoinHandle<T>;

/// Runs a future on the executor's threads.
pub(crate) fn spawn<T: Send + 'static>(f: impl Future<Output = T> + Send + 'static) -> Task<T> {
    async_std::task::spawn(f)
}

/// Blocks this (non-executor) thread until `f` is done.
pub(crate) fn block_on<T>(f: impl Future<Output = T>) -> T {
    async_std::task::block_on(f)
}

/// Waits without blocking a thread (between robots.txt redirect hops to one origin).
pub(crate) async fn sleep(d: Duration) {
    async_std::task::sleep(d).await
}

/// Runs a blocking closure off the async executor (parsing, CPU work, body writes).
pub(crate) async fn run_blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    async_std::task::spawn_blocking(f).await
}

/// A job of a [`Pool`]: runs the closure and sends back its result (or its panic).
type PoolJob = Box<dyn FnOnce() + Send>;

/// A fixed set of named threads for CPU work that comes page after page (the parse jobs).
///
/// Why not [`run_blocking`]: async-std hands each blocking closure to any thread of a pool of
/// up to 500, so a page's parse ran on whichever thread was idle, with the allocator's
/// thread-local heap of that thread cold (its pages returned to the kernel after the 20 ms
/// purge delay, see `allocator::tune`) and its caches holding something else. Here the same
/// few threads parse every page, so the DOM of one page is allocated in the memory the last
/// page's DOM freed, still mapped and warm. At most `threads` jobs run at once; the others
/// wait in the queue, in order.
pub(crate) struct Pool {
    jobs: Option<async_channel::Sender<PoolJob>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Pool {
    /// Starts `threads` threads (at least one) named `name-N`.
    pub(crate) fn new(name: &str, threads: usize) -> std::io::Result<Pool> {
        let (tx, rx) = async_channel::unbounded::<PoolJob>();
        let threads = (0..threads.max(1))
            .map(|i| {
                let rx = rx.clone();
                std::thread::Builder::new()
                    .name(format!("{name}-{i}"))
                    .spawn(move || {
                        while let Ok(job) = rx.recv_blocking() {
                            job();
                        }
                    })
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(Pool {
            jobs: Some(tx),
            threads,
        })
    }

    /// Runs `f` on one of the pool's threads and waits (without blocking the executor) for its
    /// result. A panic in `f` is raised again here, in the caller, as a spawned blocking
    /// closure's would be; the pool's thread lives on.
    pub(crate) async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = async_channel::bounded(1);
        let job: PoolJob = Box::new(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            let _ = tx.try_send(result);
        });
        let sent = match &self.jobs {
            Some(jobs) => jobs.send(job).await.is_ok(),
            None => false,
        };
        match rx.recv().await {
            Ok(Ok(value)) => value,
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            // Only when the pool is being dropped while a job is asked of it: a bug.
            Err(_) => panic!("the thread pool stopped (job sent: {sent})"),
        }
    }
}

impl Drop for Pool {
    /// Lets the queued jobs finish, then joins the threads.
    fn drop(&mut self) {
        self.jobs.take();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("threads", &self.threads.len())
            .finish()
    }
}

/// `f`'s output, or `Err(TimedOut)` when `limit` passes first (`f` is dropped then).
pub(crate) async fn timeout<T>(limit: Duration, f: impl Future<Output = T>) -> Result<T, TimedOut> {
    async_std::future::timeout(limit, f)
        .await
        .map_err(|_| TimedOut)
}

/// A [`timeout`] that passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimedOut;

/// Milliseconds since the Unix epoch: the clock of every time stored in the database.
pub fn unix_ms() -> u64 {
    ms_since_epoch(SystemTime::now())
}

fn ms_since_epoch(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The clock a crawl's decisions read (`CrawlConfig::clock`): when the engine may start a
/// request (back-off, Retry-After, pauses, rate), when a page was fetched, which pages a recrawl
/// finds due. The system's by default. A [`Clock::manual`] one stands still until told to move,
/// so a test of a back-off or of `--older-than` moves it instead of sleeping: exact and instant.
/// What measures the network (latency, timeouts, the send gate's spacing) keeps real time.
#[derive(Clone, Debug, Default)]
pub struct Clock(Option<Arc<Manual>>);

/// A manual clock's reading: where it started and how far it was moved since.
#[derive(Debug)]
struct Manual {
    start: Instant,
    start_wall: SystemTime,
    moved_ns: AtomicU64,
}

impl Clock {
    /// The system's clock.
    pub fn system() -> Clock {
        Clock(None)
    }

    /// A clock that reads the moment it was made until [`Clock::advance`] moves it. An engine
    /// on it moves it itself when it has nothing in flight and waits only for time (a back-off,
    /// a pause, the rate): time passes only while nothing else happens.
    pub fn manual() -> Clock {
        Clock(Some(Arc::new(Manual {
            start: Instant::now(),
            start_wall: SystemTime::now(),
            moved_ns: AtomicU64::new(0),
        })))
    }

    /// Whether it is a [`Clock::manual`] one.
    pub fn is_manual(&self) -> bool {
        self.0.is_some()
    }

    /// The monotonic now.
    pub fn now(&self) -> Instant {
        match &self.0 {
            None => Instant::now(),
            Some(m) => m.start + m.moved(),
        }
    }

    /// The wall-clock now.
    pub fn wall(&self) -> SystemTime {
        match &self.0 {
            None => SystemTime::now(),
            Some(m) => m.start_wall + m.moved(),
        }
    }

    /// [`Clock::wall`] in milliseconds since the Unix epoch.
    pub fn unix_ms(&self) -> u64 {
        ms_since_epoch(self.wall())
    }

    /// Moves a manual clock on by `d` (the system's moves by itself: nothing to do).
    pub fn advance(&self, d: Duration) {
        if let Some(m) = &self.0 {
            m.moved_ns.fetch_add(d.as_nanos() as u64, Ordering::SeqCst);
        }
    }

    /// Moves a manual clock on to `t`, if it is in its future.
    pub(crate) fn advance_to(&self, t: Instant) {
        if let Some(m) = &self.0 {
            let to = t.saturating_duration_since(m.start).as_nanos() as u64;
            m.moved_ns.fetch_max(to, Ordering::SeqCst);
        }
    }
}

impl Manual {
    fn moved(&self) -> Duration {
        Duration::from_nanos(self.moved_ns.load(Ordering::SeqCst))
    }
}

/// Two clocks are equal when both are the system's or both are the same manual clock.
impl PartialEq for Clock {
    fn eq(&self, other: &Clock) -> bool {
        match (&self.0, &other.0) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pool_runs_every_job_on_its_own_threads_and_survives_a_panic() {
        let pool = Pool::new("pool-test", 2).unwrap();
        let names = block_on(async {
            let mut names = std::collections::BTreeSet::new();
            for _ in 0..50 {
                let name = pool
                    .run(|| std::thread::current().name().map(str::to_string))
                    .await;
                names.insert(name.unwrap_or_default());
            }
            names
        });
        assert!(
            names.iter().all(|n| n.starts_with("pool-test-")),
            "{names:?}"
        );
        assert!(names.len() <= 2, "only the pool's threads: {names:?}");
        // A panic reaches the caller, and the thread it happened on keeps serving jobs.
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            block_on(pool.run(|| -> u32 { panic!("a bug in a job") }))
        }));
        assert!(caught.is_err());
        let sum = block_on(async {
            let mut sum = 0;
            for i in 0..10u32 {
                sum += pool.run(move || i).await;
            }
            sum
        });
        assert_eq!(sum, 45);
        drop(pool); // joins its threads
    }

    #[test]
    fn a_manual_clock_moves_only_when_told_and_both_readings_move_together() {
        let clock = Clock::manual();
        let (t0, w0) = (clock.now(), clock.wall());
        assert_eq!((clock.now(), clock.wall()), (t0, w0), "it stands still");
        clock.advance(Duration::from_millis(1500));
        assert_eq!(clock.now(), t0 + Duration::from_millis(1500));
        assert_eq!(clock.wall(), w0 + Duration::from_millis(1500));
        clock.advance_to(t0 + Duration::from_secs(1)); // in its past: no move
        assert_eq!(clock.now() - t0, Duration::from_millis(1500));
        clock.advance_to(t0 + Duration::from_secs(2));
        assert_eq!(clock.now() - t0, Duration::from_secs(2));
        assert_eq!(clock.unix_ms(), ms_since_epoch(w0 + Duration::from_secs(2)));
        assert_eq!(clock.clone(), clock);
        assert_ne!(Clock::manual(), clock);
        assert_eq!(Clock::system(), Clock::default());
    }
}
