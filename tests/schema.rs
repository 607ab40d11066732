//! The JSON Schemas of `meshgen schema` (committed under `schemas/`) against what the loader
//! reads: every input file of the repository's projects validates, and the mistakes the
//! loader refuses as unknown fields or wrong shapes are refused by the schema too.

use crate::common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{meshgen, project, root, tree};
use serde_json::Value;

/// The validator of the committed schema `kind` (`inventory`, `project`, `overlay`).
pub(crate) fn validator(kind: &str) -> jsonschema::Validator {
    let path = root().join("schemas").join(format!("{kind}.json"));
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    validator_of(&text)
}

/// The validator of a schema's text.
pub(crate) fn validator_of(text: &str) -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(text).expect("a schema is JSON");
    jsonschema::draft7::new(&schema).expect("a valid draft-07 schema")
}

/// Each document of the YAML file `path` that `v` refuses, with the reasons.
pub(crate) fn refusals(v: &jsonschema::Validator, path: &Path) -> Vec<String> {
    let text = fs::read_to_string(path).unwrap();
    let docs = meshgen::yaml::parse_all(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    docs.iter()
        .enumerate()
        .filter(|(_, d)| !d.is_null())
        .flat_map(|(i, d)| {
            v.iter_errors(d).map(move |e| format!("{} (document {i}) at `{}`: {e}", path.display(), e.instance_path()))
        })
        .collect()
}

#[test]
fn meshgen_schema_prints_the_committed_schemas() {
    let tmp = tempfile::tempdir().unwrap();
    let committed = tree(&root().join("schemas"));
    assert_eq!(committed.len(), 3, "{:?}", committed.keys());
    for kind in ["inventory", "project", "overlay"] {
        let r = meshgen(tmp.path(), &["schema", kind]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(r.stdout.as_bytes(), committed[&format!("{kind}.json")], "meshgen schema {kind}");
    }
    let r = meshgen(tmp.path(), &["schema", "--out-dir", "new/schemas"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(tree(&tmp.path().join("new/schemas")), committed);
    // Neither a kind nor a directory: a usage error.
    assert_eq!(meshgen(tmp.path(), &["schema"]).code, 2);
}

/// Every project of the repository: the fixtures, the environments and seed projects, and
/// the bundled example at the root.
fn projects() -> Vec<PathBuf> {
    let mut out = vec![root()];
    for parent in ["tests/fixtures", "tests/environments", "tests/seed"] {
        let mut dirs: Vec<PathBuf> = fs::read_dir(root().join(parent))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.join("meshgen.yaml").is_file())
            .collect();
        dirs.sort();
        out.extend(dirs);
    }
    out
}

/// The YAML files of `path` (a file, or a directory walked recursively).
fn yaml_files(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_path_buf()];
    }
    let mut out = Vec::new();
    for e in fs::read_dir(path).into_iter().flatten() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(yaml_files(&p));
        } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// The entries of a project file's `inventory` or `overlays` value (one path or a list).
fn entries(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        _ => Vec::new(),
    }
}

/// A project's input files, each with the schema it is read with, as the loader finds them:
/// the project file, the inventory (leaving out what environments and clusters name), the
/// inventory and overlays of every environment and cluster.
fn inputs(dir: &Path) -> Vec<(&'static str, PathBuf)> {
    let file = dir.join("meshgen.yaml");
    let text = fs::read_to_string(&file).unwrap();
    let doc = meshgen::yaml::parse_all(&text).unwrap().into_iter().next().unwrap_or(Value::Null);
    let mut base = entries(doc.get("inventory"));
    if base.is_empty() {
        base.push("inventory".into());
    }
    let mut layered = Vec::new();
    for section in ["environments", "clusters"] {
        for layer in doc.get(section).and_then(Value::as_object).into_iter().flatten().map(|(_, l)| l) {
            layered.extend(entries(layer.get("inventory")).into_iter().map(|p| ("inventory", dir.join(p))));
            layered.extend(entries(layer.get("overlays")).into_iter().map(|p| ("overlay", dir.join(p))));
        }
    }
    let mut out = vec![("project", file)];
    for p in base {
        let files = yaml_files(&dir.join(p));
        out.extend(
            files.into_iter().filter(|f| !layered.iter().any(|(_, l)| f.starts_with(l))).map(|f| ("inventory", f)),
        );
    }
    for (kind, p) in layered {
        out.extend(yaml_files(&p).into_iter().map(|f| (kind, f)));
    }
    out
}

#[test]
fn every_input_file_of_the_repository_validates() {
    let validators: Vec<(&str, jsonschema::Validator)> =
        ["inventory", "project", "overlay"].into_iter().map(|k| (k, validator(k))).collect();
    let mut counts = [0usize; 3];
    let mut failures = Vec::new();
    for dir in projects() {
        for (kind, file) in inputs(&dir) {
            let i = validators.iter().position(|(k, _)| *k == kind).unwrap();
            counts[i] += 1;
            failures.extend(refusals(&validators[i].1, &file));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Not vacuous: each schema validated files of every kind it is for.
    let [inventory, project, overlay] = counts;
    assert!(inventory > 60 && project > 40 && overlay > 10, "validated {counts:?}");
}

const PROJECT: &str = "inventory: [inventory]\ndefaults: {namespace: apps}\n";
const WEB: &str = "services:\n  web:\n    ports: {http: 8080}\n    pods: {app: web}\n";

/// Inventory documents the loader refuses: unknown fields at every level (the first is the
/// bad-input corpus's), then shapes it cannot read.
const BAD_INVENTORIES: &[(&str, &str)] = &[
    ("unknown-field", "services:\n  api:\n    hots: api.apps.internal\n    pods: {app: api}\n"),
    ("unknown-field", "namespaces: apps\nservices: {}\n"),
    ("unknown-field", "services:\n  api:\n    pods: {app: api}\n    ports: {http: {number: 80, protcol: HTTP}}\n"),
    ("unknown-field", "services:\n  api:\n    ports: {http: 80}\n    vms: [{address: 10.0.0.1, lables: {}}]\n"),
    ("unknown-field", "services:\n  api:\n    ports: {http: 80}\n    pods: {app: api}\n    traffic: {timout: 5s}\n"),
    (
        "unknown-field",
        "services:\n  api:\n    ports: {http: 80}\n    pods: {app: api}\n    traffic: {connectionPool: {tcp: {maxConnection: 1}}}\n",
    ),
    ("unknown-field", "services:\n  api:\n    ports: {http: 80}\n    pods: {app: api}\n    routes: [{mach: []}]\n"),
    (
        "unknown-field",
        "services:\n  api:\n    ports: {http: 80}\n    pods: {app: api}\n    routes: [{match: [{urii: {prefix: /}}]}]\n",
    ),
    (
        "unknown-field",
        "services:\n  api:\n    ports: {http: 80}\n    pods: {app: api}\n    subsets: {v2: {labels: {version: v2}, trafic: x}}\n",
    ),
    (
        "invalid-",
        "services:\n  api:\n    ports: {http: 80}\n    pods: {app: api}\n    subsets: {v2: {labels: {version: v2}, trafic: {}}}\n",
    ),
    (
        "unknown-field",
        "services:\n  api:\n    ports: {http: 80}\n    pods: {app: api}\n    ingress: {hosts: [a.example.com], hots: []}\n",
    ),
    (
        "unknown-field",
        "services:\n  api:\n    ports: {http: 80}\n    vms: [{address: 10.0.0.1}]\n    workloadGroup: {probe: {httpGet: {port: 80, pth: /}}}\n",
    ),
    (
        "unknown-field",
        "services:\n  api:\n    ports: {http: 80}\n    pods: {app: api}\n    patches: [{target: {kind: DestinationRule}, mrge: {}}]\n",
    ),
    ("unknown-field", "externals:\n  x:\n    hosts: [a.example.com]\n    ports: {http: 80}\n    tls: {mod: SIMPLE}\n"),
    (
        "unknown-field",
        "externals:\n  x:\n    hosts: [a.example.com]\n    ports: {http: 80}\n    egress: {destinaton: a}\n",
    ),
    ("invalid-", "services:\n  api:\n    ports: {http: eighty}\n    pods: {app: api}\n"),
    ("invalid-", "services:\n  api:\n    ports: {http: 80}\n    pods: [app, api]\n"),
    ("invalid-", "services:\n  api:\n    ports: {http: 80}\n    pods: {app: api}\n    workloadGroup: false\n"),
    ("invalid-", "externals:\n  x:\n    hosts: [a.example.com]\n    ports: {http: 80}\n    tls: originat\n"),
    // A short-form subset whose `tls` is a TLS setting needs `labels` beside it.
    (
        "invalid-",
        "services:\n  api:\n    ports: {http: 80}\n    pods: {app: api}\n    subsets: {v2: {version: v2, tls: DISABLE}}\n",
    ),
];

/// Project files the loader refuses.
const BAD_PROJECTS: &[(&str, &str)] = &[
    ("unknown-field", "inventroy: [inventory]\n"),
    ("unknown-field", "istio: {egressGateway: {shared: {hots: ['*']}}}\n"),
    ("unknown-field", "policy: {namespaces: [apps], sidcar: false}\n"),
    ("unknown-field", "environments: {prod: {overlay: [inventory]}}\n"),
    ("unknown-field", "defaults: {traffic: {retries: {attemps: 2}}}\n"),
    ("invalid-", "layout: files\n"),
];

/// Overlay files the loader refuses (over an inventory that declares `web`).
const BAD_OVERLAYS: &[(&str, &str)] = &[
    ("unknown-field", "services:\n  web:\n    hots: web.apps.internal\n"),
    ("unknown-field", "services:\n  web:\n    traffic: {timout: 1s}\n"),
    ("unknown-field", "service:\n  web: {enabled: false}\n"),
    ("invalid-", "services:\n  web: [a]\n"),
    ("invalid-", "services:\n  web:\n    enabled: no-thanks\n"),
];

/// Each case is refused by the loader (`meshgen check` reports `code`) and by the schema.
fn refused_by_both(kind: &str, cases: &[(&str, &str)], files: impl Fn(&str) -> Vec<(&'static str, String)>) {
    let v = validator(kind);
    let mut failures = Vec::new();
    for (code, bad) in cases {
        let doc = meshgen::yaml::parse_all(bad).unwrap().remove(0);
        if v.is_valid(&doc) {
            failures.push(format!("the {kind} schema accepts:\n{bad}"));
        }
        let owned = files(bad);
        let tmp = project(&owned.iter().map(|(p, t)| (*p, t.as_str())).collect::<Vec<_>>());
        let args: &[&str] = if kind == "overlay" { &["check", "--env", "prod"] } else { &["check"] };
        let r = meshgen(tmp.path(), args);
        let out = format!("{}{}", r.stdout, r.stderr);
        if r.code == 0 || !out.contains(&format!("error[{code}")) {
            failures.push(format!("meshgen check does not refuse with `{code}` (exit {}):\n{bad}\n{out}", r.code));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn inventory_mistakes_are_refused_by_the_loader_and_the_schema() {
    refused_by_both("inventory", BAD_INVENTORIES, |bad| {
        vec![("meshgen.yaml", PROJECT.into()), ("inventory/good.yaml", WEB.into()), ("inventory/bad.yaml", bad.into())]
    });
}

#[test]
fn project_mistakes_are_refused_by_the_loader_and_the_schema() {
    refused_by_both("project", BAD_PROJECTS, |bad| {
        vec![("meshgen.yaml", bad.into()), ("inventory/web.yaml", WEB.into())]
    });
}

#[test]
fn overlay_mistakes_are_refused_by_the_loader_and_the_schema() {
    refused_by_both("overlay", BAD_OVERLAYS, |bad| {
        vec![
            ("meshgen.yaml", format!("{PROJECT}environments: {{prod: {{overlays: [prod]}}}}\n")),
            ("inventory/web.yaml", WEB.into()),
            ("prod/web.yaml", bad.into()),
        ]
    });
}

/// What the loader accepts in an overlay but an inventory refuses: a patch needs no
/// required field, and `null` removes a value.
#[test]
fn overlay_patches_are_partial_and_may_remove_values() {
    let base = "services:\n  web:\n    ports: {http: {number: 8080, targetPort: 9090}}\n    pods: {app: web}\n    traffic: {timeout: 5s}\n";
    let patch = "services:\n  web:\n    ports: {http: {targetPort: 9191}}\n    traffic: {timeout: null}\n";
    let tmp = project(&[
        ("meshgen.yaml", &format!("{PROJECT}environments: {{prod: {{overlays: [prod]}}}}\n")),
        ("inventory/web.yaml", base),
        ("prod/web.yaml", patch),
    ]);
    let r = meshgen(tmp.path(), &["check", "--env", "prod"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(refusals(&validator("overlay"), &tmp.path().join("prod/web.yaml")), Vec::<String>::new());
    assert!(!validator("inventory").is_valid(&meshgen::yaml::parse_all(patch).unwrap()[0]), "not a whole inventory");
}

/// Every example an editor offers is valid where it is offered.
#[test]
fn every_example_in_the_schemas_is_valid_there() {
    fn walk(node: &Value, definitions: &Value, at: &str, checked: &mut usize, failures: &mut Vec<String>) {
        match node {
            Value::Object(m) => {
                if let Some(Value::Array(examples)) = m.get("examples") {
                    let mut schema = node.clone();
                    schema["definitions"] = definitions.clone();
                    let v = jsonschema::draft7::new(&schema).expect("a valid schema");
                    for e in examples {
                        *checked += 1;
                        if !v.is_valid(e) {
                            failures.push(format!("{at}: {e}"));
                        }
                    }
                }
                for (k, sub) in m {
                    walk(sub, definitions, &format!("{at}/{k}"), checked, failures);
                }
            }
            Value::Array(items) => {
                for (i, sub) in items.iter().enumerate() {
                    walk(sub, definitions, &format!("{at}/{i}"), checked, failures);
                }
            }
            _ => {}
        }
    }
    for kind in ["inventory", "project", "overlay"] {
        let text = fs::read_to_string(root().join("schemas").join(format!("{kind}.json"))).unwrap();
        let schema: Value = serde_json::from_str(&text).unwrap();
        let (mut checked, mut failures) = (0, Vec::new());
        walk(&schema, &schema["definitions"], kind, &mut checked, &mut failures);
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        assert!(checked > 20, "{kind}: only {checked} examples");
    }
}
