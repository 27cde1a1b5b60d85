//! The async-runtime seam and the wall clock: the one file of the library that names async-std
//! (unit tests aside).
//! async-std is no longer developed upstream; keeping spawn, `block_on`, timers and blocking
//! work behind these few functions means a move to another runtime touches this file only.

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
