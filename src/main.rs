//! The meshgen binary: everything lives in the library.

/// mimalloc instead of the system allocator: a build allocates and frees millions of small
/// objects (YAML values, strings, JSON contexts), which glibc's malloc does markedly slower.
/// `--no-default-features` builds without it.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// What mimalloc exports and its Rust bindings leave out.
#[cfg(feature = "mimalloc")]
mod mi {
    use std::ffi::{c_int, c_long};

    /// The position of `mi_option_purge_delay` in mimalloc's `mi_option_t`, the same in its
    /// versions 2 and 3 (the ones this is known to hold for, see [`known_version`]); the
    /// test below also checks the option's default, so a renumbering within a version
    /// (Cargo.lock pins the bindings) would not go unnoticed.
    pub(super) const OPTION_PURGE_DELAY: c_int = 15;

    unsafe extern "C" {
        pub(super) fn mi_option_set(option: c_int, value: c_long);
        #[cfg(test)]
        pub(super) fn mi_option_get(option: c_int) -> c_long;
        pub(super) fn mi_version() -> c_int;
    }

    /// Whether the linked mimalloc is a version whose option numbers are known here.
    pub(super) fn known_version() -> bool {
        // SAFETY: a C function without arguments, of the allocator linked into this binary.
        let version = unsafe { mi_version() };
        matches!(version / 10_000, 2 | 3)
    }
}

/// Whether the environment sets mimalloc's purge delay (mimalloc reads it at start-up).
#[cfg(feature = "mimalloc")]
fn purge_delay_is_set() -> bool {
    ["MIMALLOC_PURGE_DELAY", "MIMALLOC_RESET_DELAY"].iter().any(|v| std::env::var_os(v).is_some())
}

/// Keeps the pages meshgen frees for meshgen. mimalloc returns freed memory to the OS after
/// a delay (a second in mimalloc 3), and a large build frees, in one stage, memory the next
/// stage wants back: once stages outlast the delay, every page comes back as a page fault.
/// A build is a short process whose peak is what it needs anyway. `MIMALLOC_PURGE_DELAY` (or
/// its older name `MIMALLOC_RESET_DELAY`), when set, wins.
#[cfg(feature = "mimalloc")]
fn keep_freed_pages() {
    if !purge_delay_is_set() && mi::known_version() {
        // SAFETY: setting an option of the allocator is allowed at any time, from any thread.
        unsafe { mi::mi_option_set(mi::OPTION_PURGE_DELAY, -1) };
    }
}

fn main() -> std::process::ExitCode {
    #[cfg(feature = "mimalloc")]
    keep_freed_pages();
    let exit = meshgen::cli::main(std::env::args_os());
    // The process ends here, and the operating system takes its memory back at once: dropping
    // what the command leaves (a 100,000-service model, its manifests, another build's files)
    // would free hundreds of thousands of allocations one by one, for nothing (a noticeable
    // share of a large build, see docs/performance.md). Only the binary may skip it; the library drops what it makes.
    std::mem::forget(exit.leftovers);
    exit.code
}

#[cfg(all(test, feature = "mimalloc"))]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_option_is_where_it_is_expected() {
        // A new major version of mimalloc may renumber its options: look again then.
        assert!(mi::known_version(), "mimalloc {} is not a version 2 or 3", unsafe { mi::mi_version() });
        // SAFETY: plain calls into the linked allocator.
        let default = unsafe { mi::mi_option_get(mi::OPTION_PURGE_DELAY) };
        // mimalloc's default purge delay: 10 ms in version 2, 1,000 ms in version 3.
        assert!(matches!(default, 10 | 1000) || purge_delay_is_set(), "{default}");
        // As `keep_freed_pages` does it (which leaves an explicit setting alone).
        unsafe { mi::mi_option_set(mi::OPTION_PURGE_DELAY, -1) };
        assert_eq!(unsafe { mi::mi_option_get(mi::OPTION_PURGE_DELAY) }, -1);
    }
}
