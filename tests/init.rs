//! `meshgen init`: a new project that checks and builds clean (no warnings, CRD-valid
//! output), whose files validate against the schemas their first lines point at, and that
//! never overwrites anything.

use crate::common;

use std::fs;
use std::path::Path;

use common::{meshgen, tree};

use crate::crds::{crds, validate_all};
use crate::schema::{refusals, validator_of};

/// `meshgen init ARGS` in an empty scratch directory; panics unless it succeeds.
fn init(args: &[&str]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let mut all = vec!["init"];
    all.extend_from_slice(args);
    let r = meshgen(tmp.path(), &all);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.is_empty(), "init reports on stderr: {}", r.stdout);
    for step in ["created meshgen.yaml", "meshgen check", "meshgen build", "meshgen diff"] {
        assert!(r.stderr.contains(step), "`{step}` in:\n{}", r.stderr);
    }
    tmp
}

/// Checks with warnings denied and builds `dir`, and validates what it built against the
/// Istio CRDs; returns the build's stream.
fn builds_clean(dir: &Path) -> String {
    let check = meshgen(dir, &["check", "--deny", "warnings"]);
    assert_eq!(check.code, 0, "{}{}", check.stdout, check.stderr);
    let build = meshgen(dir, &["build"]);
    assert_eq!(build.code, 0, "{}", build.stderr);
    assert!(!build.stderr.contains("warning"), "{}", build.stderr);
    let stream = meshgen(dir, &["build", "--stdout"]);
    assert_eq!(stream.code, 0, "{}", stream.stderr);
    if let Some(crds) = crds() {
        validate_all(&crds, "meshgen init", &stream.stdout);
    }
    stream.stdout
}

/// The scaffolded text files (not the schemas), for a snapshot.
fn scaffold(dir: &Path) -> String {
    tree(dir)
        .into_iter()
        .filter(|(path, _)| !path.starts_with(".meshgen/") && !path.starts_with("out/"))
        .map(|(path, bytes)| format!("==> {path} <==\n{}", String::from_utf8(bytes).unwrap()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Each YAML file under `dir` (but the output) validates against the schema its
/// `yaml-language-server` line points at, which is the schema `meshgen schema` prints.
fn validates_against_its_modeline(dir: &Path) {
    let mut checked = 0;
    for path in tree(dir).into_keys().filter(|p| p.ends_with(".yaml") && !p.starts_with("out/")) {
        let file = dir.join(&path);
        let text = fs::read_to_string(&file).unwrap();
        let first = text.lines().next().unwrap_or_default();
        let schema = first
            .strip_prefix("# yaml-language-server: $schema=")
            .unwrap_or_else(|| panic!("{path} starts with `{first}`, not a schema modeline"));
        let schema_file = file.parent().unwrap().join(schema);
        let kind = if path == "meshgen.yaml" { "project" } else { "inventory" };
        assert!(schema_file.ends_with(format!("{kind}.json")), "{path} points at {schema}");
        let text = fs::read_to_string(&schema_file).unwrap_or_else(|e| panic!("{path}: {schema}: {e}"));
        assert_eq!(text, meshgen(dir, &["schema", kind]).stdout, "{schema} is the current schema");
        assert_eq!(refusals(&validator_of(&text), &file), Vec::<String>::new());
        checked += 1;
    }
    assert!(checked >= 2, "checked {checked} files");
}

#[test]
fn init_then_check_and_build_is_clean_and_crd_valid() {
    let tmp = init(&[]);
    insta::assert_snapshot!("full", scaffold(tmp.path()));
    validates_against_its_modeline(tmp.path());
    let stream = builds_clean(tmp.path());
    // The three examples, each with its objects.
    for id in
        ["ServiceEntry\nmetadata:\n  name: catalog", "WorkloadEntry", "VirtualService\nmetadata:\n  name: storefront"]
    {
        assert!(stream.contains(id), "`{id}` in:\n{stream}");
    }
    assert!(stream.contains("host: api.payments.example.com"), "{stream}");
}

#[test]
fn init_minimal_builds_clean_without_entities() {
    let tmp = tempfile::tempdir().unwrap();
    let r = meshgen(tmp.path(), &["init", "--minimal", "-C", "new/project"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("created new/project/meshgen.yaml") && r.stderr.contains("cd new/project"),
        "{}",
        r.stderr
    );
    let dir = tmp.path().join("new/project");
    insta::assert_snapshot!("minimal", scaffold(&dir));
    validates_against_its_modeline(&dir);
    let stream = builds_clean(&dir);
    assert!(common::documents(&stream).is_empty(), "{stream}");

    // The example in the inventory's comments builds clean once uncommented, without
    // `allowEmpty`.
    let inventory = dir.join("inventory/services.yaml");
    let text = fs::read_to_string(&inventory).unwrap();
    let example =
        text.split_once("#\n# services:").map(|(_, e)| format!("services:{}", e.replace("\n# ", "\n"))).unwrap();
    fs::write(&inventory, example).unwrap();
    let project = fs::read_to_string(dir.join("meshgen.yaml")).unwrap();
    fs::write(dir.join("meshgen.yaml"), project.replace("allowEmpty: true", "")).unwrap();
    assert_eq!(common::documents(&builds_clean(&dir)).len(), 3, "the example's objects");
}

#[test]
fn init_refuses_to_overwrite_and_writes_nothing() {
    let tmp = init(&[]);
    fs::write(tmp.path().join("meshgen.yaml"), "# mine\n").unwrap();
    let before = tree(tmp.path());
    let r = meshgen(tmp.path(), &["init"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("`meshgen.yaml`") && r.stderr.contains("`inventory/shop.yaml`"), "{}", r.stderr);
    assert_eq!(tree(tmp.path()), before, "a refused init changed files");

    // One file in the way is enough, and nothing else is written either.
    let other = tempfile::tempdir().unwrap();
    fs::create_dir_all(other.path().join(".meshgen/schemas")).unwrap();
    fs::write(other.path().join(".meshgen/schemas/overlay.json"), "{}").unwrap();
    let r = meshgen(other.path(), &["init", "--minimal"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("`.meshgen/schemas/overlay.json`") && !r.stderr.contains("meshgen.yaml`"),
        "{}",
        r.stderr
    );
    assert_eq!(tree(other.path()).into_keys().collect::<Vec<_>>(), [".meshgen/schemas/overlay.json"]);
}

#[test]
fn init_adds_the_lock_file_to_an_existing_gitignore_once() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join(".gitignore"), "target/\n.*.meshgen.lock").unwrap();
    let r = meshgen(tmp.path(), &["init", "--minimal"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let ignore = fs::read_to_string(tmp.path().join(".gitignore")).unwrap();
    assert!(ignore.starts_with("target/\n.*.meshgen.lock\n"), "{ignore}");
    assert_eq!(ignore.matches(".*.meshgen.lock").count(), 1, "{ignore}");
    assert!(ignore.contains(".*.meshgen-staging-*/\n") && ignore.contains(".*.old/\n"), "{ignore}");
    // A build's lock file, left beside `out/`, is what needs ignoring.
    assert_eq!(meshgen(tmp.path(), &["build"]).code, 0);
    let locks: Vec<String> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".meshgen.lock"))
        .collect();
    assert_eq!(locks, [".out.meshgen.lock"]);
}
