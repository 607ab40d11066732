//! Several projects, and hand-written Istio objects, in one cluster: each project prunes only
//! its own objects (`project` in meshgen.yaml), objects of other owners that Istio would
//! merge with or prefer over meshgen's are reported with a code, ApplySet labels follow
//! KEP-3659, and `diff.ignore` of meshgen.yaml applies to every diff.

#![cfg(feature = "cluster")]

use std::path::Path;

use serde_json::{Value, json};

use crate::common::{self, Run, build_stdout, documents, meshgen};
use crate::diff_cluster::kube_api::{ApiServer, live};

/// A project of `files` with `project: NAME` (or none) prepended to its meshgen.yaml.
fn project(name: Option<&str>, files: &[(&str, &str)]) -> tempfile::TempDir {
    let mut files: Vec<(&str, String)> = files.iter().map(|(p, t)| (*p, t.to_string())).collect();
    if let Some(name) = name {
        match files.iter_mut().find(|(p, _)| *p == "meshgen.yaml") {
            Some((_, text)) => *text = format!("project: {name}\n{text}"),
            None => files.push(("meshgen.yaml", format!("project: {name}\n"))),
        }
    }
    let refs: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
    common::project(&refs)
}

/// Two teams' inventories, both with objects in namespace `shop`.
fn shop() -> tempfile::TempDir {
    project(
        Some("shop"),
        &[(
            "inventory/shop.yaml",
            "namespace: shop\nservices:\n  catalog:\n    host: catalog.shop.internal\n    ports: {http: 8080}\n    serviceAccount: catalog\n    vms: [{address: 10.0.1.11}]\n",
        )],
    )
}

fn payments() -> tempfile::TempDir {
    project(
        Some("payments"),
        &[(
            "inventory/payments.yaml",
            "namespace: shop\nexternals:\n  stripe:\n    hosts: [api.stripe.com]\n    ports: {https: 443}\n",
        )],
    )
}

/// The objects of a project as applied.
fn applied(dir: &Path, first: usize) -> Vec<Value> {
    let docs = documents(&build_stdout(dir));
    docs.iter().enumerate().map(|(i, d)| live(serde_json::to_value(d).unwrap(), first + i)).collect()
}

fn diff(dir: &Path, server: &ApiServer, extra: &[&str]) -> Run {
    with_server(dir, server, &["diff", "--cluster"], extra)
}

/// `meshgen COMMAND --kubeconfig K EXTRA` with a kubeconfig for `server`.
fn with_server(dir: &Path, server: &ApiServer, command: &[&str], extra: &[&str]) -> Run {
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(&kubeconfig, server.kubeconfig(&server.token)).unwrap();
    let mut args = command.to_vec();
    args.extend(["--kubeconfig", kubeconfig.to_str().unwrap()]);
    args.extend(extra);
    meshgen(dir, &args)
}

#[test]
fn every_object_carries_its_project_and_an_invalid_name_is_refused() {
    let dir = shop();
    for doc in documents(&build_stdout(dir.path())) {
        assert_eq!(doc["metadata"]["labels"]["meshgen.dev/project"], "shop", "{doc:?}");
    }
    let bad = project(Some("Shop_Team"), &[("inventory/x.yaml", "services: {}\n")]);
    let r = meshgen(bad.path(), &["check"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stdout.contains("project name `Shop_Team`"), "{}", r.stdout);
    // Both fields of a bad ApplySet parent are named, at their place.
    let bad = project(
        None,
        &[("meshgen.yaml", "applySet: {name: Bad_Name, namespace: Istio}\n"), ("inventory/x.yaml", "services: {}\n")],
    );
    let r = meshgen(bad.path(), &["check"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stdout.contains("meshgen.yaml:1:18 (applySet.name)")
            && r.stdout.contains("meshgen.yaml:1:39 (applySet.namespace)"),
        "{}",
        r.stdout
    );
    let r = meshgen(dir.path(), &["build", "--stdout", "--label", "meshgen.dev/project=other"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("meshgen sets it to the `project` of meshgen.yaml"), "{}", r.stderr);
}

#[test]
fn two_projects_in_one_namespace_never_prune_each_other() {
    let (a, b) = (shop(), payments());
    let mut objects = applied(a.path(), 0);
    objects.extend(applied(b.path(), 100));
    let server = ApiServer::start(objects);
    for dir in [a.path(), b.path()] {
        for mode in [&[][..], &["--server-side"][..]] {
            let r = diff(dir, &server, mode);
            assert_eq!(r.code, 0, "{mode:?}: {}{}", r.stdout, r.stderr);
            assert!(r.stdout.starts_with("no changes"), "{}", r.stdout);
        }
    }
    // Widened to every meshgen object, the other project's show as prunes.
    let r = diff(a.path(), &server, &["--selector", "app.kubernetes.io/managed-by=meshgen"]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("- prune ServiceEntry shop/stripe"), "{}", r.stdout);
    // A project that drops an entity prunes only its own object.
    std::fs::write(a.path().join("inventory/shop.yaml"), "namespace: shop\nservices: {}\n").unwrap();
    std::fs::write(a.path().join("meshgen.yaml"), "project: shop\nallowEmpty: true\n").unwrap();
    let r = diff(a.path(), &server, &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stdout.contains("- prune ServiceEntry shop/catalog") && !r.stdout.contains("stripe"), "{}", r.stdout);
}

/// A project whose catalog service writes a ServiceEntry, DestinationRule, VirtualService,
/// WorkloadEntry and Sidecar, with `extra` appended to its entity (e.g. `ignore:` entries).
fn catalog(extra: &str) -> tempfile::TempDir {
    let entity = format!(
        // A VirtualService (the timeout) and a Sidecar (`dependsOn`) too.
        "namespace: shop\nservices:\n  catalog:\n    host: catalog.shop.internal\n    ports: {{http: 8080}}\n    serviceAccount: catalog\n    vms: [{{address: 10.0.1.11}}]\n    dependsOn: []\n    traffic: {{timeout: 3s}}\n{extra}"
    );
    project(Some("shop"), &[("meshgen.yaml", "policy: {namespaces: [shop]}\n"), ("inventory/shop.yaml", &entity)])
}

/// The project's objects as applied, and hand-written ones beside them: seven that Istio
/// would merge with or prefer over meshgen's, three it would not.
fn with_hand_written(dir: &Path) -> Vec<Value> {
    let mut objects = applied(dir, 0);
    let hand = |kind: &str, name: &str, spec: Value| {
        json!({"apiVersion": "networking.istio.io/v1", "kind": kind,
               "metadata": {"name": name, "namespace": "shop", "creationTimestamp": "2024-01-01T00:00:00Z"}, "spec": spec})
    };
    objects.extend([
        hand("ServiceEntry", "legacy-catalog", json!({"hosts": ["catalog.shop.internal"], "ports": [{"number": 8080, "name": "http", "protocol": "HTTP"}]})),
        // Another port of the same host: a sidecar still holds one service per host.
        hand("ServiceEntry", "catalog-admin", json!({"hosts": ["catalog.shop.internal"], "ports": [{"number": 9000, "name": "admin", "protocol": "HTTP"}]})),
        hand("VirtualService", "catalog-canary", json!({"hosts": ["catalog.shop.internal"], "http": [{"route": [{"destination": {"host": "catalog.shop.internal"}}]}]})),
        hand("DestinationRule", "catalog-tls", json!({"host": "catalog.shop.internal", "trafficPolicy": {"tls": {"mode": "DISABLE"}}})),
        hand("WorkloadEntry", "old-vm", json!({"address": "10.0.1.11"})),
        hand("Sidecar", "catalog-egress", json!({"workloadSelector": {"labels": {"app": "catalog"}}, "egress": [{"hosts": ["./*"]}]})),
        // Unrelated: another host, and a VirtualService only for a gateway.
        hand("ServiceEntry", "unrelated", json!({"hosts": ["legacy.shop.internal"], "ports": [{"number": 8080, "name": "http"}]})),
        hand("VirtualService", "edge", json!({"hosts": ["catalog.shop.internal"], "gateways": ["shop/public"], "http": []})),
        // In another namespace, even unexported: its own clients take it first.
        json!({"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule", "metadata": {"name": "private", "namespace": "other"},
               "spec": {"host": "catalog.shop.internal", "exportTo": ["."]}}),
        // Exported nowhere: seen from no namespace.
        hand("ServiceEntry", "hidden", json!({"hosts": ["catalog.shop.internal"], "ports": [{"number": 8080, "name": "http"}], "exportTo": ["~"]})),
    ]);
    objects
}

#[test]
fn objects_of_other_owners_that_istio_would_merge_or_prefer_are_reported() {
    let dir = catalog("");
    let objects = with_hand_written(dir.path());
    let server = ApiServer::start(objects);
    let r = diff(dir.path(), &server, &["-o", "json"]);
    assert_eq!(r.code, 1, "conflicts fail a drift check: {}{}", r.stdout, r.stderr);
    let report: Value = serde_json::from_str(&r.stdout).unwrap();
    let found: Vec<(String, String)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["code"].as_str().unwrap().to_string(), f["object"]["name"].as_str().unwrap().to_string()))
        .collect();
    let expected = [
        ("foreign-destination-rule", "catalog-tls"),
        ("foreign-destination-rule", "private"),
        ("foreign-service-entry", "catalog-admin"),
        ("foreign-service-entry", "legacy-catalog"),
        ("foreign-sidecar", "catalog-egress"),
        ("foreign-virtual-service", "catalog-canary"),
        ("foreign-workload-entry", "old-vm"),
    ];
    let mut found_sorted = found.clone();
    found_sorted.sort();
    assert_eq!(found_sorted, expected.map(|(c, n)| (c.to_string(), n.to_string())), "{found:?}");
    assert!(report["objects"].as_array().unwrap().is_empty(), "nothing to change: {}", r.stdout);
    let human = diff(dir.path(), &server, &[]);
    // As Istio applies them: merged in one namespace (the oldest top-level policy kept),
    // preferred by its own namespace's clients elsewhere.
    assert!(human.stdout.contains("warning[foreign-destination-rule]: DestinationRule shop/catalog-tls also sets the traffic policy of host `catalog.shop.internal`, like DestinationRule shop/catalog: Istio merges the DestinationRules of one host in one namespace: subsets are concatenated and only the oldest one's top-level `trafficPolicy` applies, which is DestinationRule shop/catalog-tls's"), "{}", human.stdout);
    assert!(human.stdout.contains("DestinationRule other/private also sets the traffic policy of host `catalog.shop.internal`, like DestinationRule shop/catalog: a client takes the DestinationRule of its own namespace first, then the service's namespace's, so clients in namespace `other` get this one"), "{}", human.stdout);
    assert!(human.stdout.contains("ServiceEntry shop/catalog-admin also declares host `catalog.shop.internal`, like ServiceEntry shop/catalog: a sidecar holds one service per host"), "{}", human.stdout);
    for unrelated in ["unrelated", "edge", "hidden"] {
        assert!(!human.stdout.contains(unrelated), "`{unrelated}` mentioned:\n{}", human.stdout);
    }
    assert!(human.stdout.ends_with(", 7 conflicts with objects meshgen does not own\n"), "{}", human.stdout);
}

#[test]
fn an_object_another_project_labelled_is_reported_before_it_is_taken_over() {
    let dir = shop();
    let mut objects = applied(dir.path(), 0);
    for o in &mut objects {
        o["metadata"]["labels"]["meshgen.dev/project"] = json!("billing");
    }
    let server = ApiServer::start(objects);
    let r = diff(dir.path(), &server, &[]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(
            "warning[owned-by-another-project]: ServiceEntry shop/catalog is labelled as project `billing`'s"
        ),
        "{}",
        r.stdout
    );
}

/// KEP-3659: `applyset-<base64url(sha256(<name>.<namespace>.<kind>.<group>))>-v1`, the
/// parent's kind `Secret` of the core group; the value computed independently (Python's
/// hashlib and base64).
#[test]
fn apply_set_members_carry_the_id_kubectl_derives_for_the_parent() {
    let dir = project(
        None,
        &[
            ("meshgen.yaml", "project: shop\napplySet: {name: meshgen-shop, namespace: istio-config}\n"),
            (
                "inventory/shop.yaml",
                "namespace: shop\nservices:\n  web:\n    ports: {http: 8080}\n    serviceAccount: web\n    vms: [{address: 10.0.0.1}]\n",
            ),
        ],
    );
    let docs = documents(&build_stdout(dir.path()));
    assert!(!docs.is_empty());
    for doc in &docs {
        assert_eq!(
            doc["metadata"]["labels"]["applyset.kubernetes.io/part-of"],
            "applyset--yiT14OXiS-EL3wDv93KJ3mR2UwqiSOuAmals89GP2E-v1",
            "{doc:?}"
        );
        // The parent is kubectl's (it refuses a parent another tool wrote).
        assert_ne!(doc["kind"], "Secret");
    }
}

#[test]
fn diff_ignore_of_the_project_applies_to_every_diff() {
    let dir = project(
        None,
        &[
            ("meshgen.yaml", "diff:\n  ignore: ['metadata.annotations[\"example.com/owner\"]']\n"),
            (
                "inventory/shop.yaml",
                "namespace: shop\nservices:\n  web:\n    ports: {http: 8080}\n    serviceAccount: web\n    vms: [{address: 10.0.0.1}]\n",
            ),
        ],
    );
    let mut objects = applied(dir.path(), 0);
    objects[0]["metadata"]["annotations"]["example.com/owner"] = json!("team-a");
    let server = ApiServer::start(objects);
    let r = diff(dir.path(), &server, &[]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    std::fs::write(dir.path().join("meshgen.yaml"), "diff:\n  ignore: ['spec.hostz']\n").unwrap();
    let r = diff(dir.path(), &server, &[]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("ignore path `spec.hostz` matched no field"), "{}", r.stderr);
    std::fs::write(dir.path().join("meshgen.yaml"), "diff:\n  ignore: ['spec.hosts[x]']\n").unwrap();
    let r = diff(dir.path(), &server, &[]);
    assert_eq!(r.code, 2);
    // At its line, when the project file is read (so `check` and `build` say it too).
    assert!(r.stderr.contains("invalid ignore path `spec.hosts[x]`"), "{}", r.stderr);
    assert!(r.stderr.contains("--> meshgen.yaml:2:12 (diff.ignore[0])"), "{}", r.stderr);
    assert_eq!(meshgen(dir.path(), &["check"]).code, 1);
}

/// `meshgen check` against a cluster, with the project's kubeconfig for `server`.
fn check_live(dir: &Path, server: &ApiServer, extra: &[&str]) -> Run {
    with_server(dir, server, &["check", "--live"], extra)
}

/// The (code, file:line) of each finding of `check -o json`.
fn findings_of_check(json: &str) -> Vec<(String, String)> {
    let report: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
    let mut found: Vec<(String, String)> = report
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["code"].as_str().unwrap().to_string(), format!("{}:{}", d["file"].as_str().unwrap(), d["line"])))
        .collect();
    found.sort();
    found
}

/// `check --live` reports the conflicts `diff --cluster` finds, as findings of the check at
/// the entity whose object they meet (so CI annotates the inventory line, and `ignore:`
/// and `--allow` work on them), read-only; without `--live`, nothing is read and an
/// `ignore:` entry for such a code is not judged.
#[test]
fn check_live_reports_other_owners_objects_at_the_entity_they_meet() {
    let dir = catalog("    ignore:\n      - {code: foreign-workload-entry, reason: the old VM is drained next week}\n");
    let server = ApiServer::start(with_hand_written(dir.path()));
    let r = check_live(dir.path(), &server, &["-o", "json"]);
    assert_eq!(r.code, 0, "warnings do not fail a check: {}{}", r.stdout, r.stderr);
    let at = "inventory/shop.yaml:3".to_string();
    let expected: Vec<(String, String)> = [
        "foreign-destination-rule",
        "foreign-destination-rule",
        "foreign-service-entry",
        "foreign-service-entry",
        "foreign-sidecar",
        "foreign-virtual-service",
        // The inventory's own: policy with no callers.
        "no-allowed-callers",
    ]
    .iter()
    .map(|c| (c.to_string(), at.clone()))
    .collect();
    assert_eq!(findings_of_check(&r.stdout), expected, "{}", r.stdout);
    assert!(server.requests().iter().all(|q| !q.writes()), "read-only");

    let human = check_live(dir.path(), &server, &[]);
    assert!(
        human.stdout.contains(
            "warning[foreign-sidecar]: Sidecar shop/catalog-egress selects the same workloads as Sidecar shop/catalog"
        ),
        "{}",
        human.stdout
    );
    assert!(human.stdout.contains("inventory/shop.yaml:3"), "{}", human.stdout);
    assert!(human.stdout.contains("inventory/shop.yaml:3"), "{}", human.stdout);

    // With `--deny warnings`, the inventory's own warnings would stop it before the cluster
    // is read (nothing is rendered from an inventory with errors).
    let strict = check_live(
        dir.path(),
        &server,
        &["--deny", "warnings", "--allow", "foreign-sidecar", "--allow", "no-allowed-callers", "-o", "json"],
    );
    assert_eq!(strict.code, 1, "{}{}", strict.stdout, strict.stderr);
    let codes: Vec<String> = findings_of_check(&strict.stdout).into_iter().map(|(c, _)| c).collect();
    assert_eq!(codes.len(), 5, "{codes:?}");
    assert!(!codes.iter().any(|c| c == "foreign-sidecar"), "{codes:?}");

    // Only meshgen's own objects live: the `ignore:` entry suppressed nothing, which only a
    // run that read the cluster can tell.
    let clean = ApiServer::start(applied(dir.path(), 0));
    let r = check_live(dir.path(), &clean, &["-o", "json"]);
    let own = ("no-allowed-callers".to_string(), at);
    assert_eq!(
        findings_of_check(&r.stdout),
        vec![own.clone(), ("unused-ignore".to_string(), "inventory/shop.yaml:11".to_string())]
    );
    let offline = meshgen(dir.path(), &["check", "-o", "json"]);
    assert_eq!(offline.code, 0, "{}{}", offline.stdout, offline.stderr);
    assert_eq!(findings_of_check(&offline.stdout), vec![own], "{}", offline.stdout);
}
