//! The meshgen binary: everything lives in the library.

/// mimalloc instead of the system allocator: a build allocates and frees millions of small
/// objects (YAML values, strings, JSON contexts), which glibc's malloc does markedly slower.
/// `--no-default-features` builds without it.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: Allocator = Allocator;

/// mimalloc, asked for plain blocks where plain blocks will do. Its Rust bindings pass every
/// request to its aligned entry points, which look at the alignment first and fall back to a
/// slower path when a block happens to be misaligned; nearly every request of meshgen wants
/// at most a word's alignment, which every mimalloc block has (its block sizes are whole words
/// and its pages start aligned). The aligned calls were 4.6% of the instructions of a
/// 10,000-service `check`, about three times what the plain ones take (docs/performance.md, run AG-alloc).
#[cfg(feature = "mimalloc")]
struct Allocator;

/// The alignment every mimalloc block has: a machine word.
#[cfg(feature = "mimalloc")]
const WORD: usize = std::mem::size_of::<usize>();

#[cfg(feature = "mimalloc")]
// SAFETY: each method hands its request to mimalloc: plain calls only where the layout's
// alignment is at most a word, which every block mimalloc returns satisfies; everything else
// goes to the bindings' aligned calls. mimalloc frees both kinds with `mi_free`.
unsafe impl std::alloc::GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        if layout.align() <= WORD {
            // SAFETY: see the impl.
            unsafe { mi::mi_malloc(layout.size()).cast() }
        } else {
            // SAFETY: the caller's contract, passed on.
            unsafe { mimalloc::MiMalloc.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        if layout.align() <= WORD {
            // SAFETY: see the impl.
            unsafe { mi::mi_zalloc(layout.size()).cast() }
        } else {
            // SAFETY: the caller's contract, passed on.
            unsafe { mimalloc::MiMalloc.alloc_zeroed(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: the caller's contract, passed on; mimalloc frees every block the same way.
        unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        if layout.align() <= WORD {
            // SAFETY: `ptr` is a live mimalloc block (the caller's contract); see the impl.
            unsafe { mi::mi_realloc(ptr.cast(), new_size).cast() }
        } else {
            // SAFETY: the caller's contract, passed on.
            unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) }
        }
    }
}

/// What mimalloc exports and its Rust bindings leave out.
#[cfg(feature = "mimalloc")]
mod mi {
    use std::ffi::{c_int, c_long, c_void};

    /// The position of `mi_option_purge_delay` in mimalloc's `mi_option_t`, the same in its
    /// versions 2 and 3 (the ones this is known to hold for, see [`known_version`]); the
    /// test below also checks the option's default, so a renumbering within a version
    /// (Cargo.lock pins the bindings) would not go unnoticed.
    pub(super) const OPTION_PURGE_DELAY: c_int = 15;

    unsafe extern "C" {
        pub(super) fn mi_malloc(size: usize) -> *mut c_void;
        pub(super) fn mi_zalloc(size: usize) -> *mut c_void;
        pub(super) fn mi_realloc(ptr: *mut c_void, new_size: usize) -> *mut c_void;
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
    use std::alloc::{GlobalAlloc, Layout};

    #[test]
    fn every_block_has_the_alignment_asked_for() {
        // Sizes around mimalloc's word-sized classes (8, 16, 24, ...) and past its small
        // blocks, each with every alignment up to a page; a misaligned block is undefined
        // behaviour for whoever gets it, so look at every one, kept alive together so that
        // they come from the same pages.
        let mut live = Vec::new();
        for size in [1, 3, 8, 12, 16, 24, 40, 100, 1000, 5000, 70_000] {
            for align in [1, 2, 4, 8, 16, 32, 64, 4096] {
                let layout = Layout::from_size_align(size, align).unwrap();
                for zeroed in [false, true] {
                    // SAFETY: a non-zero size; freed below with the same layout.
                    let p = unsafe { if zeroed { GLOBAL.alloc_zeroed(layout) } else { GLOBAL.alloc(layout) } };
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0, "size {size}, align {align}");
                    if zeroed {
                        // SAFETY: `size` bytes were just allocated at `p`.
                        assert!(unsafe { std::slice::from_raw_parts(p, size) }.iter().all(|&b| b == 0));
                    }
                    // SAFETY: as allocated; grown, it keeps its first bytes and its alignment.
                    let q = unsafe {
                        p.write(7);
                        GLOBAL.realloc(p, layout, size * 3)
                    };
                    assert_eq!(q as usize % align, 0, "grown: size {size}, align {align}");
                    assert_eq!(unsafe { q.read() }, 7);
                    live.push((q, Layout::from_size_align(size * 3, align).unwrap()));
                }
            }
        }
        for (p, layout) in live {
            // SAFETY: each block as it was last allocated.
            unsafe { GLOBAL.dealloc(p, layout) };
        }
    }

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
