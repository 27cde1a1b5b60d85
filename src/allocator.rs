//! The allocator's settings, shared by the binary and the benchmarks so a benchmark measures
//! the memory and CPU the crawler itself would use.
//!
//! Both declare `#[global_allocator] static A: mimalloc::MiMalloc = mimalloc::MiMalloc;` (a
//! library may not choose the allocator for its users) and call [`tune`] first thing.
//! mimalloc instead of glibc's malloc: a profile of the benchmark crawl put glibc's allocator
//! (malloc, free, consolidation) at ~18% of the CPU, with buffers allocated on fetch threads
//! and freed on parse threads; `frontier_scale` at 10 M URLs showed ~22%.

/// Arenas committed on demand and freed memory returned at once. Peak RSS measured on the
/// benchmark crawl: glibc ~53 MB, mimalloc's defaults ~145 MB, these settings made here ~110 MB
/// (the same as `MIMALLOC_*` environment variables before start: ~64 MB). Option numbers from
/// mimalloc v3's `mimalloc.h`: `mi_option_arena_eager_commit` = 4, `mi_option_purge_delay` = 15;
/// the environment variables still override.
pub fn tune() {
    const ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    for (option, value) in [(ARENA_EAGER_COMMIT, 0), (PURGE_DELAY, 0)] {
        let from_env = match option {
            ARENA_EAGER_COMMIT => "MIMALLOC_ARENA_EAGER_COMMIT",
            _ => "MIMALLOC_PURGE_DELAY",
        };
        if std::env::var_os(from_env).is_none() {
            // SAFETY: plain setter of a process-wide option; any value is valid for these two.
            unsafe { libmimalloc_sys::mi_option_set(option, value) };
        }
    }
}
