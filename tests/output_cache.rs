//! The cache of what meshgen wrote (src/emit/index.rs): a rebuild of a large output with
//! nothing changed reads no file back and writes none, and an edit to any file is still
//! found, with or without the cache.

use crate::common;

use std::path::Path;

/// `meshgen ARGS` in `dir` with its cache under `cache`.
fn meshgen(dir: &Path, cache: &Path, args: &[&str]) -> common::Run {
    common::command()
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
    common::synth::generate(300, 3, &project).unwrap();
    let r = meshgen(&project, &cache, &["build", "-q"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let entries: Vec<_> = std::fs::read_dir(cache.join("meshgen")).unwrap().collect();
    assert_eq!(entries.len(), 1, "one cache file for the output directory");
    let recorded = std::fs::read_to_string(entries[0].as_ref().unwrap().path()).unwrap();
    // A line of its format's version, then one per file.
    assert!(recorded.starts_with("meshgen output cache "), "{recorded}");
    assert_eq!(recorded.lines().count() - 1, common::tree(&project.join("out")).len(), "every file is recorded");

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

#[test]
fn diff_against_a_recorded_directory_pairs_unchanged_files_without_reading_them() {
    let tmp = tempfile::tempdir().unwrap();
    let (base, changed) = (tmp.path().join("base"), tmp.path().join("changed"));
    let (cache, no_cache) = (tmp.path().join("cache"), tmp.path().join("empty-cache"));
    common::synth::generate(300, 5, &base).unwrap();
    let r = meshgen(&base, &cache, &["build", "-q", "--layout", "object"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The same inventory with every tenth service account changed.
    common::synth::generate(300, 5, &changed).unwrap();
    let mut k = 0;
    for file in common::tree(&changed.join("inventory")).keys() {
        let path = changed.join("inventory").join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        let edited: Vec<String> = text
            .lines()
            .map(|l| {
                if l.starts_with("    serviceAccount: ") {
                    k += 1;
                    if k % 10 == 0 {
                        return format!("{l}-v2");
                    }
                }
                l.to_string()
            })
            .collect();
        std::fs::write(&path, edited.join("\n") + "\n").unwrap();
    }
    let against = base.join("out");
    let against = against.to_str().unwrap();
    let diff = |cache: &Path| {
        let r = meshgen(&changed, cache, &["diff", "--against", against, "--output", "json"]);
        assert_eq!(r.code, 1, "{}", r.stderr);
        serde_json::from_str::<serde_json::Value>(&r.stdout).unwrap()
    };
    // With the cache of the base build and without any: the same report.
    let trusted = diff(&cache);
    assert_eq!(trusted, diff(&no_cache));
    let summary = &trusted["summary"];
    assert!(summary["update"].as_u64().unwrap() > 50, "{summary}");
    assert!(summary["unchanged"].as_u64().unwrap() > 2000, "{summary}");

    // A file of an unchanged object edited by hand after the cache was written is read and
    // reported, not vouched for.
    let files = common::tree(&base.join("out"));
    let victim = files.keys().find(|p| p.contains("serviceentry-")).unwrap();
    let path = base.join("out").join(victim);
    let text = std::fs::read_to_string(&path).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&path, text.replacen("MESH_INTERNAL", "MESH_EXTERNAL", 1)).unwrap();
    let after = diff(&cache);
    assert_eq!(after, diff(&no_cache));
    assert_eq!(after["summary"]["update"].as_u64(), summary["update"].as_u64().map(|n| n + 1), "{}", after["summary"]);
}
