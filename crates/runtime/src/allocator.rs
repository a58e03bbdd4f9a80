//! mimalloc settings for the binaries that run polars (the transformer, the gold builder and the
//! `lakehouse` CLI), applied in code so every entry point measures and runs the same way.
//!
//! With mimalloc's defaults much of the transform's CPU went to the kernel zeroing huge pages of
//! arenas committed up front, and freed pages went back after 10 ms only to be faulted in again;
//! arenas are committed on demand and purged after 250 ms instead (docs/benchmarks.md).

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
        // Nothing in this test calls `tune`: only the constructor can have set these. Where
        // the environment names an option, its value must win instead (experiments rely on it).
        for (option, name, ours) in [
            (ARENA_EAGER_COMMIT, "MIMALLOC_ARENA_EAGER_COMMIT", 0),
            (PURGE_DELAY, "MIMALLOC_PURGE_DELAY", 250),
        ] {
            let want = match std::env::var(name) {
                Ok(value) => value
                    .trim()
                    .parse::<std::ffi::c_long>()
                    .unwrap_or_else(|_| panic!("{name}={value:?}: this test reads whole numbers")),
                Err(_) => ours,
            };
            assert_eq!(unsafe { mi_option_get(option) }, want, "{name}");
        }
        assert!(tuned_runtime().is_ok());
    }
}
