//! `meshgen import` (issue 20): Istio YAML into a draft project. The proof is the round
//! trip: for every object of the seed examples, of the fixtures' builds and of the bundled
//! `out/`, `import` then `build` gives the same object (spec equal once set-like lists are
//! sorted, the object's own labels and annotations kept), or the import's report names it.
//! The reports are snapshotted, so a change in what import can say shows in review.

use std::fs;
use std::path::{Path, PathBuf};

use crate::common::{self, documents, meshgen, root};
use meshgen::yaml::Value;

/// Imports `paths` into a new directory, builds the draft (which must load and build), and
/// checks every input object against the build: equal, or named in the report. Returns the
/// report, with `base` shown as `<input>`.
fn round_trip(paths: &[PathBuf], base: &Path) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["import".to_string()];
    args.extend(paths.iter().map(|p| p.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = meshgen(dir.path(), &args);
    assert!(r.code == 0 || r.code == 1, "{paths:?}: {}", r.stderr);
    let report = r.stdout.replace(&base.display().to_string(), "<input>");
    let built = documents(&common::build_stdout(dir.path()));
    let key = |d: &Value| {
        let ns = d["metadata"]["namespace"].as_str().unwrap_or("default");
        format!("{} {ns}/{}", d["kind"].as_str().unwrap_or(""), d["metadata"]["name"].as_str().unwrap_or(""))
    };
    for path in paths {
        for (i, doc) in documents(&fs::read_to_string(path).unwrap()).iter().enumerate() {
            let k = key(doc);
            let named = report.contains(&format!("{k}:")) || report.contains(&format!("#{}:", i + 1));
            match built.iter().find(|b| key(b) == k) {
                Some(b) if meshgen::import::comparable(b) == meshgen::import::comparable(doc) => {}
                _ => assert!(
                    named,
                    "{}: {k} is built otherwise, and the report does not say so:\n{report}",
                    path.display()
                ),
            }
        }
    }
    report
}

/// The reference examples, one import per file, and one per set of examples that work
/// together (`README.md` of the seed examples).
#[test]
fn seed_examples_round_trip() {
    let Some(seeds) = crate::seed::seed_dir() else { return };
    let mut files: Vec<PathBuf> = fs::read_dir(&seeds)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut groups: Vec<Vec<PathBuf>> = files.iter().map(|f| vec![f.clone()]).collect();
    for set in [&["09", "11"][..], &["14", "16", "18"], &["28", "30"]] {
        groups.push(
            set.iter()
                .map(|n| {
                    files.iter().find(|f| f.file_name().unwrap().to_string_lossy().starts_with(n)).unwrap().clone()
                })
                .collect(),
        );
    }
    let mut all = String::new();
    for g in &groups {
        let names: Vec<String> = g.iter().map(|f| f.file_name().unwrap().to_string_lossy().into_owned()).collect();
        all.push_str(&format!("## {}\n{}\n", names.join(" + "), round_trip(g, &seeds)));
    }
    insta::assert_snapshot!("seed_examples", all);
}

/// Every fixture's build, imported.
#[test]
fn fixture_builds_round_trip() {
    let work = tempfile::tempdir().unwrap();
    let mut all = String::new();
    for (name, dir) in common::fixtures() {
        let file = work.path().join(format!("{name}.yaml"));
        fs::write(&file, common::build_stdout(&dir)).unwrap();
        all.push_str(&format!("## {name}\n{}\n", round_trip(&[file], work.path())));
    }
    insta::assert_snapshot!("fixture_builds", all);
}

/// The repository's own `out/`, a directory of files.
#[test]
fn bundled_output_round_trips() {
    let out = root().join("out");
    let mut files = Vec::new();
    fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, files);
            } else if p.extension().is_some_and(|e| e == "yaml") && !p.ends_with("kustomization.yaml") {
                files.push(p);
            }
        }
    }
    walk(&out, &mut files);
    files.sort();
    insta::assert_snapshot!("bundled_out", round_trip(&files, &out));
}

const SE: &str = "apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: github, namespace: apps}
spec:
  hosts: [api.github.com]
  ports: [{name: https, number: 443, protocol: HTTPS}]
  resolution: DNS
";

/// Malformed YAML, other kinds and documents that are not objects are named with their file
/// and document, and the rest is imported.
#[test]
fn bad_documents_are_named_and_the_rest_imported() {
    let dir = common::project(&[
        (
            "in/mixed.yaml",
            &format!(
                "{SE}---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\n---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {{name: strict}}\n---\napiVersion: networking.istio.io/v1\nkind: EnvoyFilter\nmetadata: {{name: lua}}\n---\nservices: {{}}\n"
            ),
        ),
        ("in/broken.yaml", "apiVersion: networking.istio.io/v1\nkind: [ServiceEntry\n"),
    ]);
    let project = dir.path().join("p");
    fs::create_dir(&project).unwrap();
    let r = meshgen(dir.path(), &["-C", "p", "import", "../in"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    for line in [
        "../in/broken.yaml#1: invalid YAML",
        "../in/mixed.yaml#2: Deployment (apps/v1): not an Istio networking object",
        "../in/mixed.yaml#3: PeerAuthentication (security.istio.io/v1): meshgen does not generate it",
        "../in/mixed.yaml#4: EnvoyFilter (networking.istio.io/v1): meshgen imports ServiceEntry",
        "../in/mixed.yaml#5: not a Kubernetes object",
    ] {
        assert!(r.stdout.contains(line), "no `{line}` in:\n{}", r.stdout);
    }
    let inventory = fs::read_to_string(project.join("inventory/apps.yaml")).unwrap();
    assert!(inventory.contains("  github:\n    hosts: [api.github.com]\n    ports: {https: 443}\n"), "{inventory}");
    assert!(common::build_stdout(&project).contains("name: github"));
}

/// `--dry-run` prints the report and writes nothing; standard input is `-`.
#[test]
fn dry_run_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::command()
        .args(["import", "--dry-run", "-"])
        .current_dir(dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write as _;
            c.stdin.take().unwrap().write_all(SE.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    let r = common::Run::from(out);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "every object is built as it was\n");
    assert!(r.stderr.contains("nothing written (--dry-run)"), "{}", r.stderr);
    assert!(common::tree(dir.path()).is_empty());
}

/// An existing project is never overwritten, and nothing is written beside it.
#[test]
fn refuses_to_overwrite_a_project() {
    let dir = common::project(&[("meshgen.yaml", "defaults: {namespace: x}\n"), ("in.yaml", SE)]);
    let before = common::tree(dir.path());
    let r = meshgen(dir.path(), &["import", "in.yaml"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("`meshgen.yaml` already exists: `meshgen import` overwrites nothing"), "{}", r.stderr);
    assert_eq!(common::tree(dir.path()), before);
}

/// `--cluster`: the live objects, as the API server returns them (server fields, status,
/// kubectl's annotation), import into a project that builds them again; other namespaces and
/// other selectors are left out.
#[cfg(feature = "cluster")]
#[test]
fn live_objects_import_from_the_cluster() {
    use crate::diff_cluster::kube_api::{ApiServer, live};
    let source = common::project(&[
        ("meshgen.yaml", ""),
        (
            "inventory/shop.yaml",
            "namespace: shop\nservices:\n  catalog:\n    host: catalog.shop.internal\n    ports: {http: 8080}\n    serviceAccount: catalog\n    vms: [{address: 10.0.1.11}, {address: 10.0.1.12}]\n    traffic: {timeout: 3s}\n",
        ),
    ]);
    let desired = documents(&common::build_stdout(source.path()));
    let mut objects: Vec<serde_json::Value> =
        desired.iter().enumerate().map(|(i, d)| live(serde_json::to_value(d).unwrap(), i)).collect();
    let mut elsewhere = objects[0].clone();
    elsewhere["metadata"]["namespace"] = serde_json::json!("other");
    objects.push(elsewhere);
    let server = ApiServer::start(objects);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    fs::write(&kubeconfig, server.kubeconfig(&server.token)).unwrap();
    let k = kubeconfig.to_str().unwrap();
    let target = dir.path().join("draft");
    let r =
        meshgen(dir.path(), &["-C", target.to_str().unwrap(), "import", "--cluster", "--kubeconfig", k, "-n", "shop"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains(&format!("imported {} objects", desired.len())), "{}", r.stderr);
    let built = documents(&common::build_stdout(&target));
    assert_eq!(built.len(), desired.len());
    for (b, d) in built.iter().zip(&desired) {
        assert_eq!(meshgen::import::comparable(b), meshgen::import::comparable(d), "{b:?}");
    }
    assert!(server.requests().iter().all(|r| r.method == "GET"), "import --cluster only reads");
    // A selector that matches nothing imports nothing.
    let r = meshgen(dir.path(), &["import", "--dry-run", "--cluster", "--kubeconfig", k, "--selector", "team=none"]);
    assert!(r.stderr.contains("imported 0 objects"), "{}", r.stderr);
}

/// Gateways (issue 20): a hand-written ingress pair named as meshgen names it becomes the
/// service's `ingress`, with the gateway's selector in meshgen.yaml; a pair under other
/// names stays out, and the report says which names meshgen would give.
#[test]
fn gateways_become_ingress_or_are_named() {
    let gateway = |name: &str, host: &str| {
        format!(
            "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {{name: {name}, namespace: web}}\nspec:\n  selector: {{istio: edge}}\n  servers:\n    - port: {{number: 80, name: http, protocol: HTTP}}\n      hosts: [{host}]\n---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: {name}, namespace: web}}\nspec:\n  hosts: [{host}]\n  gateways: [web/{name}]\n  http:\n    - route: [{{destination: {{host: shop.web.svc.cluster.local}}}}]\n"
        )
    };
    let dir = common::project(&[("in/a.yaml", &gateway("shop-ingress", "shop.example.com"))]);
    let project = dir.path().join("p");
    let r = meshgen(dir.path(), &["-C", "p", "import", "../in"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let settings = fs::read_to_string(project.join("meshgen.yaml")).unwrap();
    assert!(settings.contains("ingressGateway:\n    selector: {istio: edge}"), "{settings}");
    let inventory = fs::read_to_string(project.join("inventory/web.yaml")).unwrap();
    assert!(inventory.contains("    ingress: shop.example.com\n"), "{inventory}");
    assert!(!r.stdout.contains("not imported"), "{}", r.stdout);

    let dir = common::project(&[("in/a.yaml", &gateway("public", "shop.example.com"))]);
    let r = meshgen(dir.path(), &["import", "--dry-run", "in"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("VirtualService web/public: the ingress of service `shop` would be the Gateway and VirtualService `web/shop-ingress`"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("Gateway web/public: no VirtualService of the input"), "{}", r.stdout);
}
