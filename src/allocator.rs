//! The allocator's settings, shared by the binary and the benchmarks so a benchmark measures
//! the memory and CPU the crawler itself would use.
//!
//! Both declare `#[global_allocator] static A: mimalloc::MiMalloc = mimalloc::MiMalloc;` (a
//! library may not choose the allocator for its users) and call [`tune`] first thing.
//! mimalloc instead of glibc's malloc: a profile of the benchmark crawl put glibc's allocator
//! (malloc, free, consolidation) at ~18% of the CPU, with buffers allocated on fetch threads
//! and freed on parse threads; `frontier_scale` at 10 M URLs showed ~22%.

/// Arenas committed on demand, no transparent huge pages, and freed memory returned after
/// 20 ms. Peak RSS measured on the benchmark crawl: glibc ~53 MB, mimalloc's defaults ~145 MB,
/// arenas on demand with immediate purging ~110 MB (2026-12-02).
///
/// Huge pages off and a short purge delay (2026-12-07): a profile of a crawl of Debian's
/// python3.11-doc put 13.5 % of the CPU in the kernel zeroing pages (`clear_page_erms` under
/// `do_huge_pmd_anonymous_page`): every buffer freed was returned at once, and touching the
/// memory again faulted in a whole 2 MiB huge page, zeroed. With both (four alternating runs
/// each): that crawl's CPU 3.1–3.6 → 2.4–2.8 s and peak RSS 150–161 → 86–100 MB. With the same
/// settings given through the environment: the synthetic single-origin crawl ran at the same
/// speed at 53–54 MB instead of 111–114 MB, and 10 M URLs queued at a 209 MB peak (242–246 MB).
///
/// Option numbers from mimalloc v3's `mimalloc.h`: `mi_option_arena_eager_commit` = 4,
/// `mi_option_purge_delay` = 15, `mi_option_allow_thp` = 43; the `MIMALLOC_*` environment
/// variables still override.
pub fn tune() {
    const ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    const ALLOW_THP: libmimalloc_sys::mi_option_t = 43;
    for (option, value, from_env) in [
        (ARENA_EAGER_COMMIT, 0, "MIMALLOC_ARENA_EAGER_COMMIT"),
        (PURGE_DELAY, 20, "MIMALLOC_PURGE_DELAY"),
        (ALLOW_THP, 0, "MIMALLOC_ALLOW_THP"),
    ] {
        if std::env::var_os(from_env).is_none() {
            // SAFETY: plain setter of a process-wide option; any value is valid for these three.
            unsafe { libmimalloc_sys::mi_option_set(option, value) };
        }
    }
    // mimalloc reads `allow_thp` once, before `main`, to turn huge pages off for the process;
    // set later, the option alone changes nothing, so this does what it would have done.
    #[cfg(target_os = "linux")]
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        // SAFETY: prctl with an option and integer arguments only; a failure leaves huge pages on.
        unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    }
}
