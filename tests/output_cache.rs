//! The cache of what meshgen wrote (src/emit/index.rs): a rebuild of a large output with
//! nothing changed reads no file back and writes none, and an edit to any file is still
//! found, with or without the cache.

mod common;

use std::path::Path;
use std::process::Command;

/// `meshgen ARGS` in `dir` with its cache under `cache`.
fn meshgen(dir: &Path, cache: &Path, args: &[&str]) -> common::Run {
    Command::new(env!("CARGO_BIN_EXE_meshgen"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("XDG_CACHE_HOME", cache)
        .output()
        .expect("the meshgen binary runs")
        .into()
}

#[test]
fn an_unchanged_rebuild_trusts_the_cache_and_an_edit_is_still_found() {
    let tmp = tempfile::tempdir().unwrap();
    let (project, cache) = (tmp.path().join("project"), tmp.path().join("cache"));
    // Enough services for an output the cache is kept for (one file per object).
    meshgen::synth::generate(300, 3, &project).unwrap();
    let r = meshgen(&project, &cache, &["build", "-q"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let entries: Vec<_> = std::fs::read_dir(cache.join("meshgen")).unwrap().collect();
    assert_eq!(entries.len(), 1, "one cache file for the output directory");
    let recorded = std::fs::read_to_string(entries[0].as_ref().unwrap().path()).unwrap().lines().count();
    assert_eq!(recorded, common::tree(&project.join("out")).len(), "every file is recorded");

    // Nothing changed: no file is written, none is read (reading would change atimes only,
    // so this checks the outcome: the report and the untouched files).
    let before = common::tree(&project.join("out"));
    std::thread::sleep(std::time::Duration::from_millis(20));
    let r = meshgen(&project, &cache, &["build"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains(" 0 written, 0 removed"), "{}", r.stderr);
    assert_eq!(common::tree(&project.join("out")), before);

    // A hand edit of the same size, after the cache was written, is found by check and build.
    let victim = project.join("out").join(before.keys().find(|p| p.contains("serviceentry-")).unwrap());
    let text = std::fs::read_to_string(&victim).unwrap();
    let edited = text.replacen("MESH_INTERNAL", "MESH_EXTERNAL", 1);
    assert_eq!(edited.len(), text.len());
    std::fs::write(&victim, &edited).unwrap();
    let r = meshgen(&project, &cache, &["build", "--check"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("MESH_EXTERNAL"), "the drift shows the edit: {}", r.stderr);
    let r = meshgen(&project, &cache, &["build"]);
    assert!(r.stderr.contains(" 1 written, 0 removed"), "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), text);

    // A corrupt cache is no cache: the files are read, and the result is the same.
    for e in std::fs::read_dir(cache.join("meshgen")).unwrap() {
        std::fs::write(e.unwrap().path(), "not a cache").unwrap();
    }
    let r = meshgen(&project, &cache, &["build", "--check"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn small_outputs_are_not_cached() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let project = common::scratch_copy(&common::root());
    let r = meshgen(project.path(), &cache, &["build", "-q"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!cache.join("meshgen").exists());
}
