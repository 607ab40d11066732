//! Every manifest meshgen emits validates against Istio's own CRDs (structural schema and CEL
//! rules), found through `MESHGEN_ISTIO_CRDS` or `../shared/istio-crds`. Where neither
//! exists the tests say so loudly and pass, so a clone elsewhere still builds.

use crate::common;

use common::istio_crds::{crd_files, istio_crds_or_skip, write_crd_bundle};
use common::{documents, fixtures, meshgen, root, tree};
use meshgen::crd::CrdSet;

pub(crate) fn crds() -> Option<CrdSet> {
    let dir = istio_crds_or_skip()?;
    Some(CrdSet::load_dir(&dir).unwrap_or_else(|e| panic!("cannot load {}: {e:#}", dir.display())))
}

/// Validates every document of `stream`; returns the number validated.
pub(crate) fn validate_all(crds: &CrdSet, what: &str, stream: &str) -> usize {
    let docs = documents(stream);
    let mut failures = Vec::new();
    for d in &docs {
        let json = serde_json::to_value(d).expect("YAML maps to JSON");
        let violations = crds.validate(&json);
        if !violations.is_empty() {
            let id = format!("{}/{}", json["kind"], json["metadata"]["name"]);
            failures.push(format!(
                "{what}: {id}:\n  {}",
                violations.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    docs.len()
}

#[test]
fn every_fixture_validates_against_the_istio_crds_in_both_api_versions() {
    let Some(crds) = crds() else { return };
    let mut total = 0;
    for (name, dir) in fixtures() {
        for api in ["v1", "v1beta1"] {
            let r = meshgen(&dir, &["build", "--stdout", "--api-version", api]);
            assert_eq!(r.code, 0, "{name}: {}", r.stderr);
            total += validate_all(&crds, &format!("{name} ({api})"), &r.stdout);
        }
    }
    assert!(total > 100, "validated only {total} objects");
}

#[test]
fn the_committed_output_validates() {
    let Some(crds) = crds() else { return };
    let files = tree(&root().join("out"));
    assert!(files.len() > 10, "out/ is committed");
    for (path, bytes) in files {
        if path != "kustomization.yaml" {
            validate_all(&crds, &path, std::str::from_utf8(&bytes).unwrap());
        }
    }
}

/// The validator is not a rubber stamp: a manifest Istio rejects is rejected here too.
#[test]
fn the_validator_rejects_what_istio_rejects() {
    let Some(crds) = crds() else { return };
    let bad = serde_json::json!({
        "apiVersion": "networking.istio.io/v1",
        "kind": "ServiceEntry",
        "metadata": {"name": "x", "namespace": "apps"},
        "spec": {"hosts": ["*"], "ports": [{"name": "http", "number": 80}], "workloadSelector": {"labels": {"a": "b"}}, "endpoints": [{"address": "1.2.3.4"}]}
    });
    let found: Vec<(String, String)> = crds.validate(&bad).into_iter().map(|v| (v.path, v.message)).collect();
    let pair = |p: &str, m: &str| (p.to_string(), m.to_string());
    // The schema's pattern, two CEL rules of the spec, and the default resolution's rule.
    assert_eq!(
        found,
        [
            pair("spec.hosts[0]", "hostname cannot be wildcard"),
            pair("spec", "only one of WorkloadSelector or Endpoints can be set"),
            pair("spec", "NONE mode cannot set endpoints"),
        ]
    );
}

/// Sidecars and AuthorizationPolicies are checked against their own CRDs, not waved through:
/// the policy fixture's objects pass, and the same objects with a value outside an enum fail.
#[test]
fn policy_objects_are_validated_for_real() {
    let Some(crds) = crds() else { return };
    let r = meshgen(&root().join("tests/fixtures/policy"), &["build", "--stdout"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut seen = std::collections::BTreeSet::new();
    for d in documents(&r.stdout) {
        let mut json = serde_json::to_value(&d).unwrap();
        let kind = json["kind"].as_str().unwrap().to_string();
        let field = match kind.as_str() {
            "Sidecar" => "/spec/outboundTrafficPolicy/mode",
            "AuthorizationPolicy" => "/spec/action",
            _ => continue,
        };
        assert!(crds.validate(&json).is_empty(), "{json}");
        *json.pointer_mut(field).unwrap() = serde_json::json!("OPEN");
        let v = crds.validate(&json);
        let path = field.trim_start_matches('/').replace('/', ".");
        assert!(
            v.len() == 1 && v[0].path == path && v[0].message.starts_with("unsupported value \"OPEN\": must be one of"),
            "{kind} with {field}: OPEN gave {v:?}"
        );
        seen.insert(kind);
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
}

/// `--crds` also takes one file: Istio's `crd-all.gen.yaml` (every CRD in one multi-document
/// stream, as Istio releases ship it) or the `List` that `kubectl get crd -o yaml` prints.
/// Both find exactly what the directory finds.
#[test]
fn crds_from_one_file_validate_like_the_directory() {
    let Some(dir) = istio_crds_or_skip() else { return };
    let tmp = common::scratch_copy(&root().join("tests/fixtures/connection-pool"));
    let bundle = tmp.path().join("crd-all.gen.yaml");
    write_crd_bundle(&dir, &bundle);
    let items: Vec<serde_json::Value> =
        crd_files(&dir).iter().map(|(_, text)| meshgen::yaml::from_str(text).unwrap()).collect();
    assert!(items.len() > 5, "{} CRDs", items.len());
    let list = tmp.path().join("kubectl-crds.yaml");
    std::fs::write(&list, serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string()).unwrap();

    // A template that passes meshgen's own checks but breaks the DestinationRule's schema.
    meshgen(tmp.path(), &["templates", "eject", "destination-rule"]);
    let path = tmp.path().join("templates/istio/destination-rule.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("spec:\n", "spec:\n  trafficPolicyy: {}\n")).unwrap();

    let check = |crds: &std::path::Path| {
        let r = meshgen(tmp.path(), &["check", "--crds", crds.to_str().unwrap(), "--templates", "templates"]);
        assert_eq!(r.code, 1, "{}: {}{}", crds.display(), r.stdout, r.stderr);
        r.stdout
    };
    let from_dir = check(&dir);
    assert!(from_dir.contains("error[crd-violation]") && from_dir.contains("trafficPolicyy"), "{from_dir}");
    assert_eq!(check(&bundle), from_dir, "crd-all.gen.yaml");
    assert_eq!(check(&list), from_dir, "kubectl get crd -o yaml");
}
