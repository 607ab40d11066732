//! Where the tests find Istio's CRDs. A file of its own, with nothing but `std`, so that the
//! library's unit tests include it too (`#[path]` from `src/crd/tests`) and the shipped
//! library carries no test helper and no path of the machine it was built on.

#![allow(dead_code, unreachable_pub)] // each includer uses a different subset

use std::path::{Path, PathBuf};

/// The directory of Istio CRDs: `$MESHGEN_ISTIO_CRDS` if it names a directory, else
/// `../shared/istio-crds` relative to the current directory, else relative to this crate's
/// manifest directory's parent. `None` if none exists.
pub fn istio_crds_dir() -> Option<PathBuf> {
    let from_env = std::env::var_os("MESHGEN_ISTIO_CRDS").map(PathBuf::from);
    let candidates = [
        from_env,
        Some(PathBuf::from("../shared/istio-crds")),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/istio-crds")),
    ];
    // Absolute, so that a test running meshgen in a scratch directory can pass it on.
    candidates.into_iter().flatten().filter(|p| p.is_dir()).find_map(|p| std::fs::canonicalize(p).ok())
}

/// The Istio CRDs for a test: the directory, or `None` after a loud SKIPPED message so
/// that a clone without `../shared` still passes. Under CI (`CI` set, as `.ci/run` does),
/// where the CRDs are promised, a missing directory fails instead: a skip there would let
/// every validation test pass without validating anything.
pub fn istio_crds_or_skip() -> Option<PathBuf> {
    let dir = istio_crds_dir();
    if dir.is_none() {
        let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
        assert!(!ci, "Istio CRDs not found under CI: set MESHGEN_ISTIO_CRDS or provide ../shared/istio-crds");
        eprintln!("\n*** SKIPPED: Istio CRDs not found (set MESHGEN_ISTIO_CRDS or provide ../shared/istio-crds) ***\n");
    }
    dir
}
