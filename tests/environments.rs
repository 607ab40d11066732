//! Environments and clusters (docs/environments.md): one fixture per overlay feature under
//! `tests/environments/<feature>/`, each kept as an insta snapshot of what the environment
//! changes (a diff of its build against the base build); overlay mistakes reported at the
//! overlay's file and line; determinism whatever the order, modes and times of the files.

use crate::common;

use std::fs;
use std::path::Path;

use common::{build_stdout, copy_dir, documents, each, meshgen, project, root};

/// Each fixture with the flags that select its environment or cluster.
const CASES: &[(&str, &[&str])] = &[
    ("addresses", &["--env", "prod"]),
    ("cluster", &["--cluster", "eu-2"]),
    ("defaults", &["--env", "staging"]),
    ("enabled", &["--env", "prod"]),
    ("extra-inventory", &["--env", "prod"]),
    ("localities", &["--env", "us"]),
    ("networks", &["--env", "prod"]),
    ("traffic", &["--env", "prod"]),
];

/// `meshgen build --stdout` with extra flags; panics unless it succeeds.
fn build_with(dir: &Path, flags: &[&str]) -> String {
    let mut args = vec!["build", "--stdout"];
    args.extend_from_slice(flags);
    let r = meshgen(dir, &args);
    assert_eq!(r.code, 0, "{} {flags:?}:\n{}", dir.display(), r.stderr);
    r.stdout
}

/// What an environment changes: the unified diff of its stream against the base stream.
fn changes(dir: &Path, flags: &[&str]) -> String {
    let base = build_stdout(dir);
    let env = build_with(dir, flags);
    let diff = similar::TextDiff::from_lines(&base, &env);
    format!(
        "meshgen build --stdout {}\n{}",
        flags.join(" "),
        diff.unified_diff().context_radius(2).header("base", "env")
    )
}

#[test]
fn every_overlay_feature_matches_its_snapshot() {
    let dir = root().join("tests/environments");
    let mut found: Vec<String> =
        fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    found.sort();
    let listed: Vec<&str> = CASES.iter().map(|(c, _)| *c).collect();
    assert_eq!(found, listed, "every fixture of tests/environments is in CASES");
    each(
        CASES,
        |(case, _)| case.to_string(),
        |(case, flags)| {
            let text = changes(&dir.join(case), flags);
            assert!(text.lines().count() > 3, "{case}: the environment changes nothing");
            insta::assert_snapshot!(format!("env-{case}"), text);
        },
    );
}

/// The bundled project's environments and cluster build, differ from the base build, and
/// leave the committed base output alone (CI checks `out/` with the plain build).
#[test]
fn the_bundled_environments_build() {
    let base = build_stdout(&root());
    for flags in [&["--env", "staging"][..], &["--env", "prod"], &["--cluster", "prod-eu-west2"]] {
        let out = build_with(&root(), flags);
        assert_ne!(out, base, "{flags:?} changes nothing");
        assert!(!documents(&out).is_empty());
    }
    let dr = build_with(&root(), &["--cluster", "prod-eu-west2"]);
    assert!(dr.contains("network: dc2") && dr.contains("events.oncall.example"), "the cluster builds over prod");
}

/// An environment writes to its own directory, beside the base output, never into it.
#[test]
fn an_environment_builds_into_its_own_directory() {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&root().join("tests/environments/cluster"), tmp.path());
    for flags in [&[][..], &["--env", "prod"], &["--cluster", "eu-2"]] {
        let mut args = vec!["build", "-q"];
        args.extend_from_slice(flags);
        let r = meshgen(tmp.path(), &args);
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    for dir in ["out", "out-prod", "out-prod-eu-2"] {
        assert!(tmp.path().join(dir).join("kustomization.yaml").is_file(), "{dir}");
    }
    let r = meshgen(tmp.path(), &["build", "--check"]);
    assert_eq!(r.code, 0, "the base output is untouched: {}", r.stderr);
}

const PROJECT: &str = "defaults: {namespace: apps}\nenvironments:\n  prod:\n    overlays: [prod]\n";
const BASE: &str = "services:\n  web:\n    host: web.apps.internal\n    ports: {http: 8080}\n    serviceAccount: web\n    vms: [{address: 10.0.0.1}]\nexternals:\n  maps:\n    hosts: [maps.example.com]\n    ports: {https: 443}\n";

/// `meshgen build --env prod --deny warnings` with `overlay` as `prod/web.yaml`: exit 1,
/// nothing written; returns the stderr.
fn overlay_error(overlay: &str) -> String {
    let tmp = project(&[("meshgen.yaml", PROJECT), ("inventory/web.yaml", BASE), ("prod/web.yaml", overlay)]);
    let r = meshgen(tmp.path(), &["build", "--env", "prod", "--deny", "warnings"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stdout.is_empty());
    assert!(!tmp.path().join("out-prod").exists(), "nothing is written");
    r.stderr
}

fn assert_all(text: &str, expected: &[&str]) {
    for e in expected {
        assert!(text.contains(e), "expected `{e}` in:\n{text}");
    }
}

/// A bad value set by an overlay is reported at the overlay's file, line and column.
#[test]
fn an_invalid_overlay_value_points_at_the_overlay() {
    let err =
        overlay_error("services:\n  web:\n    vms:\n      - {address: 10.0.0.1}\n      - {address: 10.0.0.300}\n");
    assert_all(&err, &["error[invalid-value]", "prod/web.yaml:5:19 (services.web.vms[1].address)", "10.0.0.300"]);
    let err = overlay_error("services:\n  web:\n    traffic: {timeout: soon}\n");
    assert_all(&err, &["prod/web.yaml:3:24 (services.web.traffic.timeout)"]);
    let err = overlay_error("services:\n  web:\n    hots: x\n");
    assert_all(&err, &["error[unknown-field]", "prod/web.yaml:3:5 (services.web.hots)", "did you mean `host`?"]);
    // A value an overlay removed is reported where it was removed.
    let err = overlay_error("services:\n  web:\n    ports: null\n");
    assert_all(&err, &["no ports declared", "prod/web.yaml:3:12 (services.web.ports)"]);
    // A problem of the entity as a whole stays where it is declared, naming the overlay.
    let err = overlay_error("services:\n  web:\n    serviceAccount: null\n");
    assert_all(
        &err,
        &["inventory/web.yaml:2:3 (services.web)", "prod/web.yaml:2:3 (services.web): patched for environment `prod`"],
    );
}

/// Environment settings merged over the project's report their errors where they are written.
#[test]
fn an_invalid_environment_default_points_at_the_environment() {
    let project_file =
        "defaults: {namespace: apps}\nenvironments:\n  prod:\n    defaults:\n      traffic: {timeout: soon}\n";
    let tmp = project(&[("meshgen.yaml", project_file), ("inventory/web.yaml", BASE)]);
    let r = meshgen(tmp.path(), &["check", "--env", "prod"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_all(&r.stdout, &["meshgen.yaml:5:26 (environments.prod.defaults.traffic.timeout)"]);
    assert_eq!(meshgen(tmp.path(), &["check"]).code, 0, "the base build does not use prod's settings");
}

#[test]
fn a_patch_of_an_undeclared_entity_is_an_error_with_a_hint() {
    let err = overlay_error("services:\n  wbe:\n    network: n\n");
    assert_all(
        &err,
        &[
            "error[unknown-overlay-target]",
            "environment `prod` patches `wbe`, which the inventory does not declare",
            "prod/web.yaml:2:3 (services.wbe)",
            "did you mean `web`?",
        ],
    );
    let err = overlay_error("services:\n  maps:\n    hosts: [x.example.com]\n");
    assert_all(&err, &["`maps` is an external API, not one of the services", "move the patch under `externals`"]);
    let err = overlay_error("services:\n  web:\n    enabled: maybe\n");
    assert_all(&err, &["prod/web.yaml:3:14 (services.web.enabled)", "`enabled` must be `true` or `false`"]);
}

/// Two files of one overlay directory may not set the same value: their order is not theirs
/// to decide.
#[test]
fn two_patches_of_one_directory_setting_one_value_conflict() {
    let tmp = project(&[
        ("meshgen.yaml", PROJECT),
        ("inventory/web.yaml", BASE),
        ("prod/a.yaml", "services:\n  web:\n    network: a\n    traffic: {timeout: 1s}\n"),
        ("prod/b.yaml", "services:\n  web:\n    network: b\n    traffic: {retries: {attempts: 1}}\n"),
    ]);
    let r = meshgen(tmp.path(), &["check", "--env", "prod"]);
    assert_eq!(r.code, 1);
    assert_all(&r.stdout, &["error[overlay-conflict]", "prod/b.yaml:3:14 (services.web.network)", "prod/a.yaml:3:14"]);
    assert!(!r.stdout.contains("traffic"), "merging different fields is fine:\n{}", r.stdout);
}

#[test]
fn unknown_environments_and_clusters_are_usage_errors_listing_the_known_ones() {
    let tmp = project(&[("meshgen.yaml", PROJECT), ("inventory/web.yaml", BASE), ("prod/web.yaml", "")]);
    let r = meshgen(tmp.path(), &["build", "--env", "prdo"]);
    assert_eq!(r.code, 2);
    assert_all(&r.stderr, &["unknown environment `prdo`", "did you mean `prod`?"]);
    let r = meshgen(tmp.path(), &["build", "--cluster", "eu"]);
    assert_eq!(r.code, 2);
    assert_all(&r.stderr, &["unknown cluster `eu`", "declares no `clusters`"]);
    let dir = root().join("tests/environments/cluster");
    let r = meshgen(&dir, &["check", "--env", "staging", "--cluster", "eu-2"]);
    assert_eq!(r.code, 2);
    assert_all(&r.stderr, &["cluster `eu-2` belongs to environment `prod`"]);
}

/// Directories named by environments are checked in every build, selected or not.
#[test]
fn a_missing_overlay_directory_fails_even_the_base_build() {
    let tmp = project(&[("meshgen.yaml", PROJECT), ("inventory/web.yaml", BASE)]);
    let r = meshgen(tmp.path(), &["check"]);
    assert_eq!(r.code, 1);
    assert_all(
        &r.stdout,
        &["overlay directory `prod` does not exist", "meshgen.yaml:4:16 (environments.prod.overlays[0])"],
    );
}

/// The same overlays give the same bytes whatever the order the files were written in,
/// their names within a directory, their modes and their times, and from run to run.
#[test]
fn environment_builds_are_deterministic() {
    let src = root().join("tests/environments/cluster");
    let expected = build_with(&src, &["--cluster", "eu-2"]);
    assert_eq!(build_with(&src, &["--cluster", "eu-2"]), expected, "run to run");
    for reverse in [false, true] {
        let tmp = tempfile::tempdir().unwrap();
        copy_dir(&src, tmp.path());
        // Split the environment's overlay into two files, written in either order.
        let prod = tmp.path().join("prod");
        fs::remove_file(prod.join("catalog.yaml")).unwrap();
        let mut files =
            vec![("z-network.yaml", "services:\n  catalog:\n    network: prod-eu-1\n"), ("a-empty.yaml", "")];
        if reverse {
            files.reverse();
        }
        for (name, text) in files {
            fs::write(prod.join(name), text).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        common::reset_modes(tmp.path(), 0o444, 0o555);
        let out = build_with(tmp.path(), &["--cluster", "eu-2"]);
        common::reset_modes(tmp.path(), 0o644, 0o755);
        assert_eq!(out, expected, "reverse={reverse}");
    }
}
