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
    // A line of its format's version, one of the build's inputs, then one per file.
    assert!(recorded.starts_with("meshgen output cache "), "{recorded}");
    assert!(recorded.lines().nth(1).is_some_and(|l| l.starts_with("inputs ")), "{recorded}");
    assert_eq!(recorded.lines().count() - 2, common::tree(&project.join("out")).len(), "every file is recorded");

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

/// A synthetic estate of 300 services (generated with `seed`) in a temporary directory: the
/// directory, the project in it, and the cache directory beside it.
fn synth(seed: u64) -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let (project, cache) = (tmp.path().join("project"), tmp.path().join("cache"));
    common::synth::generate(300, seed, &project).unwrap();
    (tmp, project, cache)
}

/// Whether a build run with `-v` found its output directory as the last build of the same
/// inputs left it, and compiled nothing.
fn compiled_nothing(r: &common::Run) -> bool {
    r.stderr.contains("nothing to compile")
}

#[test]
fn a_build_of_the_same_inputs_compiles_nothing_until_an_input_or_a_file_changes() {
    let (tmp, project, cache) = synth(7);
    let out = project.join("out");
    let build = |args: &[&str]| {
        let r = meshgen(&project, &cache, &[&["build", "-v"], args].concat());
        assert_eq!(r.code, 0, "{}", r.stderr);
        r
    };
    let first = build(&[]);
    assert!(!compiled_nothing(&first), "{}", first.stderr);
    let before = common::tree(&out);
    // Files written in the clock tick the cache is written in are not vouched for.
    std::thread::sleep(std::time::Duration::from_millis(20));

    // The same inputs: nothing compiled, the same report, nothing touched.
    let r = build(&[]);
    assert!(compiled_nothing(&r), "{}", r.stderr);
    let objects = first.stderr.lines().find(|l| l.starts_with("built ")).unwrap().split(' ').nth(1).unwrap();
    assert!(r.stderr.contains(&format!("built {objects} objects into `out`: 0 written, 0 removed, ")), "{}", r.stderr);
    assert_eq!(common::tree(&out), before);
    let r = build(&["--check"]);
    assert!(compiled_nothing(&r) && r.stderr.contains("`out` is up to date"), "{}", r.stderr);
    // `-o json` prints the findings document a build without findings prints.
    let json = build(&["-o", "json"]);
    assert!(compiled_nothing(&json), "{}", json.stderr);
    assert_eq!(json.stdout, build(&["-o", "json", "--out-dir", "elsewhere"]).stdout);

    // An edit of an input that changes no object: compiled, nothing written; then recorded.
    let file = project.join("inventory").join(common::tree(&project.join("inventory")).keys().next().unwrap());
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, format!("{text}# a comment\n")).unwrap();
    let r = build(&[]);
    assert!(!compiled_nothing(&r) && r.stderr.contains(" 0 written, 0 removed"), "{}", r.stderr);
    assert!(compiled_nothing(&build(&[])));

    // Options are inputs: another label changes every object, and back.
    let r = build(&["--label", "team=edge"]);
    assert!(!compiled_nothing(&r) && !r.stderr.contains(" 0 written"), "{}", r.stderr);
    let r = build(&[]);
    assert!(!compiled_nothing(&r) && !r.stderr.contains(" 0 written"), "{}", r.stderr);
    assert_eq!(common::tree(&out), before);
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert!(compiled_nothing(&build(&[])));

    // The output directory as the last build did not leave it: a hand edit of the same size,
    // a file removed, a stale file of meshgen's added. Each is compiled and mended.
    let victim = out.join(before.keys().find(|p| p.contains("serviceentry-")).unwrap());
    let text = std::fs::read_to_string(&victim).unwrap();
    std::fs::write(&victim, text.replacen("MESH_INTERNAL", "MESH_EXTERNAL", 1)).unwrap();
    let r = build(&[]);
    assert!(!compiled_nothing(&r) && r.stderr.contains(" 1 written, 0 removed"), "{}", r.stderr);
    std::fs::remove_file(&victim).unwrap();
    let r = build(&[]);
    assert!(!compiled_nothing(&r) && r.stderr.contains(" 1 written, 0 removed"), "{}", r.stderr);
    std::fs::write(victim.with_file_name("stale.yaml"), &text).unwrap();
    let r = build(&[]);
    assert!(!compiled_nothing(&r) && r.stderr.contains(" 0 written, 1 removed"), "{}", r.stderr);
    assert_eq!(common::tree(&out), before);

    // Another meshgen executable (here a copy of this one) is another input.
    let copy = tmp.path().join("meshgen-copy");
    std::fs::copy(env!("CARGO_BIN_EXE_meshgen"), &copy).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let run_copy = || {
        let r: common::Run = std::process::Command::new(&copy)
            .args(["build", "-v"])
            .current_dir(&project)
            .env("NO_COLOR", "1")
            .env("XDG_CACHE_HOME", &cache)
            .output()
            .unwrap()
            .into();
        assert_eq!(r.code, 0, "{}", r.stderr);
        r
    };
    let r = run_copy();
    assert!(!compiled_nothing(&r) && r.stderr.contains(" 0 written, 0 removed"), "{}", r.stderr);
    assert!(compiled_nothing(&run_copy()));
    assert_eq!(common::tree(&out), before);
}

#[test]
fn a_build_with_findings_compiles_every_time_and_reports_them() {
    let (_tmp, project, cache) = synth(8);
    std::fs::write(
        project.join("inventory").join("zz-warned.yaml"),
        "services:\n  zz-warned:\n    ports: {http: 80}\n    pods: {app: zz-warned}\n    ignore: [{code: self-dependency, reason: old}]\n",
    )
    .unwrap();
    for _ in 0..3 {
        let r = meshgen(&project, &cache, &["build", "-v"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(!compiled_nothing(&r), "{}", r.stderr);
        assert!(r.stderr.contains("warning[unused-ignore]"), "{}", r.stderr);
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn overridden_templates_and_the_vip_table_are_inputs_too() {
    let (_tmp, project, cache) = synth(9);
    let config = std::fs::read_to_string(project.join("meshgen.yaml")).unwrap();
    std::fs::write(project.join("meshgen.yaml"), format!("{config}templates: tpl\nvipRange: 240.240.0.0/16\n"))
        .unwrap();
    let r = meshgen(&project, &cache, &["templates", "eject", "service-entry", "--to", "tpl"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let build = || {
        std::thread::sleep(std::time::Duration::from_millis(20));
        let r = meshgen(&project, &cache, &["build", "-v"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        r
    };
    let r = build();
    assert!(!compiled_nothing(&r), "{}", r.stderr);
    // The first build read no VIP table and wrote one; the next reads it (another input),
    // writes nothing, and records what it read.
    let r = build();
    assert!(!compiled_nothing(&r) && r.stderr.contains(" 0 written, 0 removed"), "{}", r.stderr);
    assert!(compiled_nothing(&build()));

    let template = project.join("tpl/istio/service-entry.yaml");
    let text = std::fs::read_to_string(&template).unwrap();
    std::fs::write(&template, text.replace("kind: ServiceEntry\n", "kind: ServiceEntry\n# edited\n")).unwrap();
    let r = build();
    assert!(!compiled_nothing(&r) && !r.stderr.contains(" 0 written"), "{}", r.stderr);
    assert!(compiled_nothing(&build()));

    // The VIP table is read as an input and written as an output: a hand edit of it is
    // compiled (and undone), like any output file's.
    let table = project.join("out/vip-allocations.yaml");
    let text = std::fs::read_to_string(&table).unwrap();
    std::fs::write(&table, format!("{text}# edited\n")).unwrap();
    let r = build();
    assert!(!compiled_nothing(&r) && r.stderr.contains(" 1 written, 0 removed"), "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(&table).unwrap(), text);
    let r = build();
    assert!(!compiled_nothing(&r) && r.stderr.contains(" 0 written, 0 removed"), "{}", r.stderr);
    assert!(compiled_nothing(&build()));
}

#[test]
fn the_overlays_of_an_environment_are_inputs() {
    let (_tmp, project, cache) = synth(10);
    // A service of the estate, patched by the environment's overlay.
    let inventory = common::tree(&project.join("inventory"));
    let text = String::from_utf8(inventory.values().next().unwrap().clone()).unwrap();
    let service = text.lines().skip_while(|l| *l != "services:").nth(1).unwrap().trim().trim_end_matches(':');
    let config = std::fs::read_to_string(project.join("meshgen.yaml")).unwrap();
    std::fs::write(
        project.join("meshgen.yaml"),
        format!("{config}environments:\n  staging:\n    overlays: [staging]\n"),
    )
    .unwrap();
    std::fs::create_dir(project.join("staging")).unwrap();
    let overlay = |account: &str| {
        let patch = format!("services:\n  {service}:\n    serviceAccount: {account}\n");
        std::fs::write(project.join("staging/patch.yaml"), patch).unwrap();
    };
    overlay("staging-a");
    let build = || {
        std::thread::sleep(std::time::Duration::from_millis(20));
        let r = meshgen(&project, &cache, &["build", "-v", "--env", "staging"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        r
    };
    let r = build();
    assert!(!compiled_nothing(&r) && r.stderr.contains("into `out-staging`"), "{}", r.stderr);
    assert!(compiled_nothing(&build()));
    overlay("staging-b");
    let r = build();
    assert!(!compiled_nothing(&r) && !r.stderr.contains(" 0 written"), "{}", r.stderr);
    let written = common::tree(&project.join("out-staging"));
    assert!(written.values().any(|t| String::from_utf8_lossy(t).contains("staging-b")));
    assert!(compiled_nothing(&build()));
}

#[test]
fn a_build_renders_the_template_texts_its_fingerprint_covers() {
    // Templates are read once, when the inputs are: a template edited while the build runs
    // (a checkout, an editor's save) changes neither what this build renders nor the
    // fingerprint it records, only the next build's.
    let project = common::scratch_copy(&common::root());
    let r = common::meshgen(project.path(), &["templates", "eject", "service-entry", "--to", "tpl"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let template = project.path().join("tpl/istio/service-entry.yaml");
    let original = std::fs::read_to_string(&template).unwrap();
    let options = meshgen::compile::Options {
        templates: Some("tpl".into()),
        goal: meshgen::compile::Goal::Manifests,
        ..meshgen::compile::Options::new(project.path())
    };
    let loaded = meshgen::compile::load(&options, |_| {}).unwrap();
    let before = loaded.fingerprint(&options, "Namespace").expect("a fingerprint");
    std::fs::write(&template, original.replace("kind: ServiceEntry\n", "kind: ServiceEntry\n# edited meanwhile\n"))
        .unwrap();
    assert_eq!(loaded.fingerprint(&options, "Namespace"), Some(before));
    let compiled = meshgen::compile::finish(&options, loaded).unwrap();
    let Some(meshgen::compile::Rendered::Manifests(manifests)) = &compiled.rendered else { panic!("rendered") };
    assert!(manifests.iter().any(|m| m.kind.as_str() == "ServiceEntry"));
    assert!(manifests.iter().all(|m| !m.text.contains("# edited meanwhile")));
    // The next build reads the edit, and its fingerprint differs.
    let again = meshgen::compile::load(&options, |_| {}).unwrap();
    assert_ne!(again.fingerprint(&options, "Namespace"), Some(before));
}

#[test]
fn what_the_fast_path_leaves_alone_and_what_it_never_takes() {
    let (_tmp, project, cache) = synth(11);
    let out = project.join("out");
    let build = |args: &[&str]| {
        std::thread::sleep(std::time::Duration::from_millis(20));
        meshgen(&project, &cache, &[&["build", "-v"], args].concat())
    };
    assert_eq!(build(&[]).code, 0);
    // `-q`: nothing to say, and nothing said. Quiet on either path; that it took the fast
    // one and left the record for the next build is what the next step's
    // `compiled_nothing` shows.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let r = meshgen(&project, &cache, &["build", "-q"]);
    assert_eq!((r.code, r.stderr.as_str(), r.stdout.as_str()), (0, "", ""));
    // A file of someone else's beside meshgen's is left alone by any build: no reason to
    // compile.
    std::fs::write(out.join("NOTES.md"), "ours\n").unwrap();
    let r = build(&[]);
    assert!(r.code == 0 && compiled_nothing(&r), "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(out.join("NOTES.md")).unwrap(), "ours\n");
    // With CRDs to validate against, every build compiles.
    if let Some(crds) = common::istio_crds::istio_crds_or_skip() {
        let r = build(&["--crds", crds.to_str().unwrap()]);
        assert!(r.code == 0 && !compiled_nothing(&r), "{}", r.stderr);
        let r = build(&["--crds", crds.to_str().unwrap()]);
        assert!(r.code == 0 && !compiled_nothing(&r), "{}", r.stderr);
    }
    // A file of meshgen's replaced by a symbolic link: compiled, and refused as always.
    let victim = common::tree(&out).keys().find(|p| p.contains("serviceentry-")).unwrap().clone();
    std::fs::remove_file(out.join(&victim)).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", out.join(&victim)).unwrap();
    let r = build(&[]);
    assert!(r.code != 0 && !compiled_nothing(&r) && r.stderr.contains("symbolic link"), "{}", r.stderr);
}
