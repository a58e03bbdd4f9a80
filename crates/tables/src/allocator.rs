//! mimalloc settings for the binaries that run polars (the transformer, the gold builder and the
//! `lakehouse` CLI), applied in code so every entry point measures and runs the same way.
//!
//! Measured on 1M orders (README, benchmark): with mimalloc's defaults a quarter of the
//! transform's CPU went to the kernel zeroing huge pages of arenas committed up front, and peak
//! RSS reached 0.9–1.2 GB because freed pages went back after 10 ms only to be faulted in again.
//! Committing on demand and purging after 250 ms gave 2.6 s instead of 3.7–4.6 s and 0.4–0.7 GB.

use libmimalloc_sys::{mi_option_set_default, mi_option_t};

// Positions in mimalloc's `mi_option_e` (the same in its v2 and v3 headers); the sys crate
// exports constants only for the stable options.
const ARENA_EAGER_COMMIT: mi_option_t = 4;
const PURGE_DELAY: mi_option_t = 15;

/// Makes these values mimalloc's defaults: an environment variable that names the option
/// (`MIMALLOC_ARENA_EAGER_COMMIT`, `MIMALLOC_PURGE_DELAY`) still wins, so experiments work.
///
/// It has to run before the first allocation: mimalloc reserves its first arena (1 GiB, which
/// holds most of a 1M-order transform) on the first allocation, with the eager-commit setting of
/// that moment. Set at the top of `main`, the options measured like the defaults (3.2 s), so
/// this runs from the ELF constructor list, before the Rust runtime allocates anything, and
/// allocates nothing itself. Linux only, as are the Lambdas and the runner's targets.
extern "C" fn tune() {
    for (option, value) in [(ARENA_EAGER_COMMIT, 0), (PURGE_DELAY, 250)] {
        // SAFETY: plain integer options, set while the process is still single-threaded.
        unsafe { mi_option_set_default(option, value) };
    }
}

#[used]
#[unsafe(link_section = ".init_array")]
static TUNE_AT_LOAD: extern "C" fn() = tune;

/// The multi-threaded tokio runtime the binaries run on. Referencing [`TUNE_AT_LOAD`] here keeps
/// the constructor in every binary that calls this.
pub fn tuned_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    std::hint::black_box(&TUNE_AT_LOAD);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

#[cfg(test)]
mod tests {
    use libmimalloc_sys::mi_option_get;

    use super::*;

    #[test]
    fn the_constructor_set_the_options_before_main() {
        // Nothing in this test calls `tune`: only the constructor can have set these.
        if std::env::var_os("MIMALLOC_ARENA_EAGER_COMMIT").is_none() {
            assert_eq!(unsafe { mi_option_get(ARENA_EAGER_COMMIT) }, 0);
        }
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(unsafe { mi_option_get(PURGE_DELAY) }, 250);
        }
        assert!(tuned_runtime().is_ok());
    }
}
