//! The same inventory gives byte-identical output whatever the order of files, documents,
//! entities and mapping keys, and from run to run (rendering is parallel).

use crate::common;

use std::fs;
use std::path::Path;

use common::synth::Rng;
use common::{build_stdout, fixtures, meshgen, root, scratch_copy, tree};
use meshgen::yaml::{Map, Value};

type Mapping = Map<String, Value>;

/// Every mapping's keys in a random order, recursively (sequences keep their order: routes
/// and matches are ordered by meaning).
fn shuffle_keys(v: &Value, rng: &mut Rng) -> Value {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(String, Value)> = m.iter().map(|(k, v)| (k.clone(), shuffle_keys(v, rng))).collect();
            rng.shuffle(&mut entries);
            Value::Object(entries.into_iter().collect::<Mapping>())
        }
        Value::Array(s) => Value::Array(s.iter().map(|v| shuffle_keys(v, rng)).collect()),
        other => other.clone(),
    }
}

/// Rewrites one inventory file: each entity in its own document, documents shuffled, keys
/// shuffled. Entity paths (`services.<name>…`) and the file name stay, so even the source
/// annotations must come out the same.
fn scramble(path: &Path, rng: &mut Rng) {
    let text = fs::read_to_string(path).unwrap();
    let mut docs: Vec<Value> = Vec::new();
    for doc in meshgen::yaml::parse_all(&text).unwrap() {
        let Value::Object(m) = doc else { continue };
        let namespace = m.get("namespace").cloned();
        for kind in ["services", "externals"] {
            for (name, entity) in m.get(kind).and_then(Value::as_object).into_iter().flatten() {
                let mut one = Mapping::new();
                if let Some(ns) = &namespace {
                    one.insert("namespace".into(), ns.clone());
                }
                one.insert(kind.into(), Value::Object([(name.clone(), entity.clone())].into_iter().collect()));
                docs.push(shuffle_keys(&Value::Object(one), rng));
            }
        }
    }
    rng.shuffle(&mut docs);
    let out: Vec<String> = docs.iter().map(meshgen::yaml::to_string).collect();
    fs::write(path, out.join("---\n")).unwrap();
}

fn yaml_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "yaml") {
            out.push(p);
        }
    }
}

#[test]
fn scrambled_inventories_compile_to_identical_bytes() {
    let mut projects = fixtures();
    projects.push(("bundled".into(), root()));
    for (name, dir) in projects {
        let expected = build_stdout(&dir);
        for seed in 1..=3 {
            let tmp = scratch_copy(&dir);
            let mut files = Vec::new();
            yaml_files(&tmp.path().join("inventory"), &mut files);
            // Rewrite in a shuffled order, so creation order and mtimes differ too.
            let mut rng = Rng(seed);
            rng.shuffle(&mut files);
            for f in &files {
                scramble(f, &mut rng);
            }
            let got = build_stdout(tmp.path());
            assert!(got == expected, "{name} (seed {seed}) differs:\n{}", first_difference(&expected, &got));
        }
    }
}

fn first_difference(a: &str, b: &str) -> String {
    let diff = similar::TextDiff::from_lines(a, b);
    diff.unified_diff().context_radius(3).to_string().lines().take(40).collect::<Vec<_>>().join("\n")
}

#[test]
fn repeated_builds_write_identical_trees_and_touch_nothing() {
    let tmp = scratch_copy(&root());
    let first = meshgen(tmp.path(), &["build"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let tree1 = tree(&tmp.path().join("out"));
    let mtimes = |dir: &Path| -> Vec<std::time::SystemTime> {
        let mut files = Vec::new();
        yaml_files(dir, &mut files);
        files.sort();
        files.iter().map(|f| fs::metadata(f).unwrap().modified().unwrap()).collect()
    };
    let before = mtimes(&tmp.path().join("out"));
    std::thread::sleep(std::time::Duration::from_millis(20));
    let second = meshgen(tmp.path(), &["build"]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert!(second.stderr.contains(" 0 written"), "{}", second.stderr);
    assert_eq!(tree(&tmp.path().join("out")), tree1);
    assert_eq!(mtimes(&tmp.path().join("out")), before, "unchanged files are not rewritten");
    // And the committed output is exactly what this build produces.
    assert_eq!(tree1, tree(&root().join("out")), "out/ is stale: run `meshgen build`");
}
