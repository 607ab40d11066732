//! One fixture per inventory feature under `tests/fixtures/<feature>/`; the manifests each
//! compiles to are reviewed as insta snapshots in `tests/snapshots/`.

use crate::common;

use common::{build_stdout, documents, fixtures, meshgen, root, scratch_copy, tree};

#[test]
fn every_fixture_matches_its_snapshot() {
    let all = fixtures();
    assert!(all.len() >= 20, "expected a fixture per feature, found {}", all.len());
    // `glob!` runs every fixture and then reports every mismatch, not just the first.
    insta::glob!("fixtures/*", |dir| {
        if dir.join("meshgen.yaml").is_file() {
            insta::assert_snapshot!("build", build_stdout(dir));
        }
    });
}

#[test]
fn every_object_is_labelled_and_traced_to_its_source() {
    for (name, dir) in fixtures() {
        for doc in documents(&build_stdout(&dir)) {
            let md = &doc["metadata"];
            assert_eq!(md["labels"]["app.kubernetes.io/managed-by"].as_str(), Some("meshgen"), "{name}: {doc:?}");
            let source = md["annotations"]["meshgen.dev/source"].as_str().unwrap_or_default();
            let (file, path) = source.split_once('#').unwrap_or_else(|| panic!("{name}: bad source `{source}`"));
            assert!(dir.join(file).is_file(), "{name}: source file `{file}` does not exist");
            // The project's own objects (the shared egress Gateway) come from meshgen.yaml.
            let project = file == "meshgen.yaml" && path.starts_with("istio.egressGateway");
            assert!(path.starts_with("services.") || path.starts_with("externals.") || project, "{name}: `{path}`");
        }
    }
}

#[test]
fn api_version_v1beta1_is_selectable() {
    let dir = root().join("tests/fixtures/migration");
    let r = meshgen(&dir, &["build", "--stdout", "--api-version", "v1beta1"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let docs = documents(&r.stdout);
    assert!(!docs.is_empty());
    for d in docs {
        assert_eq!(d["apiVersion"].as_str(), Some("networking.istio.io/v1beta1"));
    }
}

/// The three layouts hold the same objects; only the files differ.
#[test]
fn layouts_spread_the_same_objects_over_different_files() {
    let mut listings = Vec::new();
    let mut contents: Vec<Vec<String>> = Vec::new();
    for layout in ["object", "service", "namespace"] {
        let tmp = scratch_copy(&root());
        let r = meshgen(tmp.path(), &["build", "--layout", layout]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let files = tree(&tmp.path().join("out"));
        let mut docs: Vec<String> = Vec::new();
        for (path, bytes) in &files {
            if path != "kustomization.yaml" {
                docs.extend(documents(std::str::from_utf8(bytes).unwrap()).iter().map(meshgen::yaml::to_string));
            }
        }
        docs.sort();
        contents.push(docs);
        let kustomization = String::from_utf8(files["kustomization.yaml"].clone()).unwrap();
        let names: Vec<&String> = files.keys().collect();
        listings.push(format!("{layout}:\n{names:#?}\n{kustomization}"));
    }
    assert_eq!(contents[0], contents[1]);
    assert_eq!(contents[0], contents[2]);
    insta::assert_snapshot!("layouts", listings.join("\n"));
}

/// Istio does not inherit a DestinationRule's destination-level settings into a port-level
/// entry, and a subset replaces each of them whole: no generated DestinationRule may rely on
/// either (the layout that TLS origination once had, where an API's only port lost its
/// outlier detection). Checked over every fixture, the bundled inventory and both API
/// versions' shapes, since each feature adds ways to write policy at several levels.
#[test]
fn no_destination_rule_drops_a_setting_that_istio_does_not_inherit() {
    let mut projects = fixtures();
    projects.push(("bundled".into(), root()));
    let (mut checked, mut with_levels) = (0, 0);
    for (name, dir) in projects {
        for doc in documents(&build_stdout(&dir)) {
            if doc["kind"].as_str() != Some("DestinationRule") {
                continue;
            }
            let problems = meshgen::render::fidelity::destination_rule(&doc["spec"]);
            assert!(
                problems.is_empty(),
                "{name}: {}: {problems:#?}",
                doc["metadata"]["name"].as_str().unwrap_or_default()
            );
            checked += 1;
            let spec = &doc["spec"];
            let subset_policy =
                spec["subsets"].as_array().is_some_and(|s| s.iter().any(|s| !s["trafficPolicy"].is_null()));
            if !spec["trafficPolicy"]["portLevelSettings"].is_null() || subset_policy {
                with_levels += 1;
            }
        }
    }
    assert!(checked >= 30 && with_levels >= 4, "{checked} DestinationRules checked, {with_levels} with levels");
}

/// The bundled `payments` API originates TLS on its only port and ejects failing hosts:
/// both reach that port, because both are written at the same level.
#[test]
fn tls_origination_keeps_the_destination_policy_on_its_port() {
    let doc = documents(&build_stdout(&root()))
        .into_iter()
        .find(|d| d["kind"].as_str() == Some("DestinationRule") && d["metadata"]["name"].as_str() == Some("payments"))
        .expect("the bundled inventory has a DestinationRule `payments`");
    let policy = &doc["spec"]["trafficPolicy"];
    assert_eq!(policy["tls"]["mode"].as_str(), Some("SIMPLE"), "{doc:?}");
    assert_eq!(policy["outlierDetection"]["consecutive5xxErrors"].as_u64(), Some(5), "{doc:?}");
    assert!(policy["portLevelSettings"].is_null(), "{doc:?}");
}

/// An API's entity-wide TLS origination covers its HTTP ports; beside them, an opaque TCP
/// port stays plain (what `tls` meant before TCP ports could originate TLS), unless the
/// port says `tls` itself. Without HTTP ports, the TCP ports are what it covers.
#[test]
fn entity_wide_origination_leaves_tcp_ports_beside_http_ones_plain() {
    let inv = "externals:\n  vendor:\n    hosts: [api.vendor.example]\n    addresses: [203.0.113.7]\n    ports: {http: 80, tcp-feed: 7000}\n    tls: {mode: SIMPLE, caCertificates: /etc/ssl/certs/ca.pem}\n";
    let tmp = common::project(&[
        ("meshgen.yaml", "inventory: [inventory]\ndefaults: {namespace: apps}\n"),
        ("inventory/x.yaml", inv),
    ]);
    let dr = documents(&build_stdout(tmp.path()))
        .into_iter()
        .find(|d| d["kind"].as_str() == Some("DestinationRule"))
        .expect("a DestinationRule");
    let policy = &dr["spec"]["trafficPolicy"];
    assert!(policy["tls"].is_null(), "TLS at the top level would wrap the TCP feed: {dr:?}");
    let entries = policy["portLevelSettings"].as_array().expect("port entries");
    assert_eq!(entries.len(), 1, "{dr:?}");
    assert_eq!(entries[0]["port"]["number"].as_u64(), Some(80));
    assert_eq!(entries[0]["tls"]["mode"].as_str(), Some("SIMPLE"));
}
