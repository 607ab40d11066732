//! `meshgen diff --against DIR`: this build against another rendered output directory, in
//! any layout: actions, exit codes, reports, ignore paths and the namespace filter.

use crate::common;

use std::fs;
use std::path::Path;

use common::{Run, meshgen, root, scratch_copy};

/// A scratch copy of the bundled project, with its output built into `base/` in `layout`.
fn project_with_base(layout: &str) -> tempfile::TempDir {
    let tmp = scratch_copy(&root());
    let r = meshgen(tmp.path(), &["build", "--layout", layout, "--out-dir", "base", "-q"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    tmp
}

fn diff(dir: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["diff", "--against", "base"];
    args.extend(extra);
    meshgen(dir, &args)
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "`{from}` not in {}", path.display());
    fs::write(path, text.replacen(from, to, 1)).unwrap();
}

fn objects() -> usize {
    common::documents(&common::build_stdout(&root())).len()
}

#[test]
fn the_same_build_in_any_layout_has_no_changes() {
    for layout in ["object", "service", "namespace"] {
        let tmp = project_with_base(layout);
        let r = diff(tmp.path(), &[]);
        assert_eq!(r.code, 0, "{layout}: {}{}", r.stdout, r.stderr);
        assert_eq!(r.stdout, format!("no changes: {} objects unchanged\n", objects()), "{layout}");
        assert!(r.stderr.is_empty(), "{layout}: {}", r.stderr);
    }
}

/// `base/` as an older build would have it: one value changed, one object not there yet,
/// one object this build no longer has, and a file of someone else's in between.
fn drifted_base() -> tempfile::TempDir {
    let tmp = project_with_base("object");
    let base = tmp.path().join("base");
    edit(&base.join("shop/destinationrule-catalog.yaml"), "consecutive5xxErrors: 5", "consecutive5xxErrors: 7");
    fs::remove_file(base.join("shop/serviceentry-search.yaml")).unwrap();
    let old = fs::read_to_string(base.join("shop/gateway-cdn-assets-egress.yaml")).unwrap();
    fs::write(base.join("shop/gateway-old-egress.yaml"), old.replace("name: cdn-assets-egress", "name: old-egress"))
        .unwrap();
    fs::write(base.join("notes.yml"), "# just a comment\n---\n").unwrap();
    tmp
}

#[test]
fn every_action_is_reported_and_exits_1() {
    let tmp = drifted_base();
    let r = diff(tmp.path(), &[]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    insta::assert_snapshot!("against_human", r.stdout);
    let json = diff(tmp.path(), &["--output", "json"]);
    assert_eq!(json.code, 1);
    insta::assert_snapshot!("against_json", json.stdout);
    let md = diff(tmp.path(), &["--output", "markdown"]);
    assert_eq!(md.code, 1);
    insta::assert_snapshot!("against_markdown", md.stdout);
}

#[test]
fn colour_follows_the_color_flag() {
    let tmp = drifted_base();
    let plain = diff(tmp.path(), &[]);
    assert!(!plain.stdout.contains('\x1b'));
    let coloured = diff(tmp.path(), &["--color", "always"]);
    assert!(coloured.stdout.contains("\x1b[31m-      consecutive5xxErrors: 7\x1b[0m"), "{}", coloured.stdout);
    assert!(coloured.stdout.contains("\x1b[32m+      consecutive5xxErrors: 5\x1b[0m"));
}

#[test]
fn ignore_paths_and_namespaces_narrow_the_comparison() {
    let tmp = project_with_base("namespace");
    edit(&tmp.path().join("base/shop.yaml"), "consecutive5xxErrors: 5", "consecutive5xxErrors: 7");
    edit(
        &tmp.path().join("base/data.yaml"),
        "app.kubernetes.io/managed-by: meshgen",
        "app.kubernetes.io/managed-by: meshgen\n    example.com/team: data",
    );
    let r = diff(tmp.path(), &[]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.ends_with(&format!("summary: 0 to create, 2 to update, 0 to prune, {} unchanged\n", objects() - 2)),
        "{}",
        r.stdout
    );
    let r = diff(
        tmp.path(),
        &[
            "--ignore",
            "spec.trafficPolicy.outlierDetection.consecutive5xxErrors",
            "--ignore",
            "metadata.labels[\"example.com/team\"]",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stdout);
    let r = diff(tmp.path(), &["-n", "platform"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    let r = diff(tmp.path(), &["-n", "data"]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("~ update ServiceEntry data/inventory-db"), "{}", r.stdout);
    assert!(!r.stdout.contains("shop/"), "{}", r.stdout);
}

#[test]
fn documents_that_are_not_objects_are_skipped_with_a_warning() {
    let tmp = project_with_base("object");
    fs::write(tmp.path().join("base/values.yaml"), "replicas: 3\n").unwrap();
    let r = diff(tmp.path(), &[]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("warning: skipping a document of `base/values.yaml`: it has no `kind`"), "{}", r.stderr);
}

#[test]
fn errors_exit_2() {
    let tmp = scratch_copy(&root());
    let r = diff(tmp.path(), &[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("`base` is not a directory"), "{}", r.stderr);

    let r = meshgen(tmp.path(), &["diff"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--cluster") && r.stderr.contains("--against"), "{}", r.stderr);

    fs::create_dir(tmp.path().join("base")).unwrap();
    fs::write(tmp.path().join("inventory/broken.yaml"), "services:\n  x: {hots: a.example}\n").unwrap();
    let r = diff(tmp.path(), &[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("unknown field `hots`") && r.stderr.contains("nothing to compare"), "{}", r.stderr);
}

#[cfg(not(feature = "cluster"))]
#[test]
fn without_the_cluster_feature_the_cluster_mode_says_so() {
    let tmp = scratch_copy(&root());
    let r = meshgen(tmp.path(), &["diff", "--cluster"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("built without the `cluster` feature"), "{}", r.stderr);
}

/// `--cluster NAME` selects the cluster's overlays for every command; with `--against` the
/// diff compares that cluster's build, and a bare `--cluster` only means something to diff.
#[test]
fn a_cluster_build_is_compared_with_its_own_output() {
    let tmp = scratch_copy(&root());
    let r = meshgen(tmp.path(), &["build", "--cluster", "prod-eu-west2", "--out-dir", "base", "-q"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = diff(tmp.path(), &["--cluster", "prod-eu-west2"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    // The base inventory differs from the cluster's build.
    let r = diff(tmp.path(), &[]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let r = meshgen(tmp.path(), &["build", "--cluster"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("`--cluster` needs the name of a cluster"), "{}", r.stderr);
    let r = diff(tmp.path(), &["--cluster", "prod-eu-west2", "--server-side"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("cannot be used with"), "{}", r.stderr);
}

/// A stray copy of a file (or one object in two files) is one object, not a prune.
#[test]
fn an_object_twice_in_the_directory_is_compared_once_with_a_warning_naming_both_files() {
    for layout in ["object", "namespace"] {
        let tmp = project_with_base(layout);
        let base = tmp.path().join("base");
        let original =
            if layout == "object" { base.join("shop/destinationrule-catalog.yaml") } else { base.join("shop.yaml") };
        fs::copy(&original, base.join("copy.yaml")).unwrap();
        let r = diff(tmp.path(), &[]);
        assert_eq!(r.code, 0, "{layout}: {}{}", r.stdout, r.stderr);
        assert_eq!(r.stdout, format!("no changes: {} objects unchanged\n", objects()), "{layout}");
        let rel = original.strip_prefix(tmp.path()).unwrap().display().to_string();
        let warning = r
            .stderr
            .lines()
            .find(|l| l.contains("the second copy is ignored"))
            .unwrap_or_else(|| panic!("{layout}: {}", r.stderr));
        assert!(warning.contains(&format!("`{rel}`")) && warning.contains("`base/copy.yaml`"), "{layout}: {warning}");
    }
}

/// Against another build, this build's objects are compared as they are rendered, and held
/// until the end only where they must be, as with overridden templates (whose output is
/// verified before anything is compared). Both ways report the same, duplicates included.
#[test]
fn streamed_and_held_comparisons_report_the_same() {
    let tmp = drifted_base();
    let base = tmp.path().join("base");
    // A second copy of a changed object, and one of an unchanged one, which the first copy
    // (in the directory's order) is paired with.
    fs::copy(base.join("shop/destinationrule-catalog.yaml"), base.join("copy.yaml")).unwrap();
    fs::copy(base.join("shop/gateway-cdn-assets-egress.yaml"), base.join("a-copy.yaml")).unwrap();
    let r = meshgen(tmp.path(), &["templates", "eject", "--to", "same-templates"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for output in [&[][..], &["-o", "json"], &["-n", "shop"]] {
        let streamed = diff(tmp.path(), &[&["--timings"], output].concat());
        let held = diff(tmp.path(), &[&["--timings", "--templates", "same-templates"], output].concat());
        assert_eq!(streamed.code, 1, "{output:?}: {}{}", streamed.stdout, streamed.stderr);
        assert_eq!((streamed.code, &streamed.stdout), (held.code, &held.stdout), "{output:?}");
        // The same warnings; the stages differ: rendered while compared, or before.
        let warnings = |r: &Run| r.stderr.lines().filter(|l| l.starts_with("warning:")).collect::<Vec<_>>().join("\n");
        assert_eq!(warnings(&streamed).matches("the second copy is ignored").count(), 2, "{}", streamed.stderr);
        assert!(warnings(&streamed).contains("`base/a-copy.yaml` and `base/shop/gateway-cdn-assets-egress.yaml`"));
        assert_eq!(warnings(&streamed), warnings(&held), "{output:?}");
        assert!(streamed.stderr.contains("  stream ") && !streamed.stderr.contains("  render "), "{}", streamed.stderr);
        assert!(held.stderr.contains("  render ") && held.stderr.contains("  compare "), "{}", held.stderr);
    }
}

/// Names are checked as the objects are rendered for the comparison: a collision is the
/// same error, with the same exit code and nothing compared, as where every object is
/// rendered first (overridden templates), and as `check` reports it.
#[test]
fn a_name_collision_found_while_comparing_is_reported_as_where_all_is_rendered_first() {
    let inventory = |second: &str| {
        format!(
            "services:\n  api:\n    namespace: zz-last\n    host: api.apps.internal\n    ports: {{http: 8080}}\n    vms: [{{address: 10.4.0.1, name: web-1}}]\n  web:\n    namespace: zz-last\n    host: web.apps.internal\n    ports: {{http: 8080}}\n    vms: [{{address: 10.4.0.2, name: {second}}}]\n  first:\n    namespace: aa-first\n    host: first.apps.internal\n    ports: {{http: 8080}}\n    vms: [{{address: 10.4.0.3}}]\n"
        )
    };
    let tmp = common::project(&[
        ("meshgen.yaml", "inventory: [inventory]\ndefaults: {namespace: apps}\n"),
        ("inventory/example.yaml", &inventory("web-2")),
    ]);
    let r = meshgen(tmp.path(), &["build", "--out-dir", "base", "-q"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = meshgen(tmp.path(), &["templates", "eject", "--to", "same-templates"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    fs::write(tmp.path().join("inventory/example.yaml"), inventory("web-1")).unwrap();
    let streamed = diff(tmp.path(), &[]);
    let held = diff(tmp.path(), &["--templates", "same-templates"]);
    assert_eq!(streamed.code, 2, "{}{}", streamed.stdout, streamed.stderr);
    assert!(streamed.stderr.contains("error[name-collision]: WorkloadEntry `zz-last/web-1`"), "{}", streamed.stderr);
    assert!(
        streamed.stderr.contains("the inventory has errors, so there is nothing to compare"),
        "{}",
        streamed.stderr
    );
    assert_eq!((streamed.code, &streamed.stdout, &streamed.stderr), (held.code, &held.stdout, &held.stderr));
    let check = meshgen(tmp.path(), &["check"]);
    let said = format!("{}{}", check.stdout, check.stderr);
    assert!(check.code != 0 && said.contains("error[name-collision]: WorkloadEntry `zz-last/web-1`"), "{said}");
}
