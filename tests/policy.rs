//! Policy from the graph (docs/policy.md): what one dependency edge changes, that Sidecar
//! hosts and exportTo agree, `meshgen graph` in its three formats and `meshgen explain`.

use crate::common;

use std::collections::BTreeMap;
use std::fs;

use common::{build_stdout, by_id, documents, fixtures, meshgen, root, scratch_copy, strings};
use meshgen::yaml::Value;

/// One new edge (`auditor` → `ledger`, across namespaces) adds exactly one Sidecar host to
/// the caller and one principal to the target's allow-list; no other object changes.
#[test]
fn one_new_dependency_changes_one_sidecar_host_and_one_principal() {
    let tmp = scratch_copy(&root().join("tests/fixtures/policy"));
    let before = by_id(&build_stdout(tmp.path()));
    let file = tmp.path().join("inventory/shop.yaml");
    let text = fs::read_to_string(&file).unwrap();
    let edited = text.replace(
        "      - {name: orders, ports: [admin]}\n",
        "      - {name: orders, ports: [admin]}\n      - ledger\n",
    );
    assert_ne!(text, edited, "the fixture changed: update this test");
    fs::write(&file, edited).unwrap();
    let after = by_id(&build_stdout(tmp.path()));

    assert_eq!(before.keys().collect::<Vec<_>>(), after.keys().collect::<Vec<_>>(), "objects added or removed");
    let changed: Vec<&String> = before.keys().filter(|k| before[*k] != after[*k]).collect();
    assert_eq!(changed, ["AuthorizationPolicy/data/ledger", "Sidecar/shop/auditor"]);

    let hosts = |m: &BTreeMap<String, Value>| strings(&m["Sidecar/shop/auditor"]["spec"]["egress"][0]["hosts"]);
    let (old, new) = (hosts(&before), hosts(&after));
    let added: Vec<&String> = new.iter().filter(|h| !old.contains(h)).collect();
    assert_eq!(added, ["data/ledger.data.internal"]);
    assert_eq!(new.len(), old.len() + 1);

    let principals = |m: &BTreeMap<String, Value>| {
        let rules = m["AuthorizationPolicy/data/ledger"]["spec"]["rules"].as_array().unwrap().clone();
        rules.iter().flat_map(|r| strings(&r["from"][0]["source"]["principals"])).collect::<Vec<_>>()
    };
    let (old, new) = (principals(&before), principals(&after));
    let added: Vec<&String> = new.iter().filter(|p| !old.contains(p)).collect();
    assert_eq!(added, ["corp.example/ns/shop/sa/auditor"]);
    assert_eq!(new.len(), old.len() + 1);
}

/// Every Sidecar host that names a generated ServiceEntry's host can see it: the entry is
/// exported to the Sidecar's namespace (Istio drops hosts a namespace cannot see).
#[test]
fn sidecar_hosts_are_visible_to_the_sidecars_namespace() {
    let mut checked = 0;
    for (name, dir) in fixtures().into_iter().chain([("bundled".to_string(), root())]) {
        let objects = by_id(&build_stdout(&dir));
        let entries: Vec<&Value> = objects.values().filter(|d| d["kind"] == "ServiceEntry").collect();
        for sidecar in objects.values().filter(|d| d["kind"] == "Sidecar") {
            let own = sidecar["metadata"]["namespace"].as_str().unwrap();
            for host in strings(&sidecar["spec"]["egress"][0]["hosts"]) {
                let (ns, h) = host.split_once('/').unwrap();
                for se in entries.iter().filter(|se| se["metadata"]["namespace"] == ns) {
                    if !strings(&se["spec"]["hosts"]).iter().any(|x| x == h) {
                        continue;
                    }
                    let export = strings(&se["spec"]["exportTo"]);
                    let visible =
                        export.is_empty() || export.iter().any(|e| e == "*" || e == own || (e == "." && ns == own));
                    assert!(visible, "{name}: Sidecar {own} imports {host}, exported to {export:?} only");
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 8, "checked only {checked} Sidecar hosts");
}

/// With policy on, nothing outside the listed namespaces gets a Sidecar or an
/// AuthorizationPolicy, and every workload service inside gets one unless the checks say why.
#[test]
fn policy_stays_in_its_namespaces() {
    let objects = by_id(&build_stdout(&root().join("tests/fixtures/policy")));
    let policy_ns: Vec<&str> = objects
        .keys()
        .filter(|k| k.starts_with("Sidecar/") || k.starts_with("AuthorizationPolicy/"))
        .map(|k| k.split('/').nth(1).unwrap())
        .collect();
    assert!(policy_ns.iter().all(|ns| *ns == "shop" || *ns == "data"), "{policy_ns:?}");
    for id in ["Sidecar/shop/web", "Sidecar/shop/orders", "Sidecar/data/ledger", "AuthorizationPolicy/shop/orders"] {
        assert!(objects.contains_key(id), "missing {id}");
    }
    let bundled = by_id(&build_stdout(&root()));
    assert!(bundled.keys().any(|k| k.starts_with("Sidecar/shop/")));
    assert!(!bundled.keys().any(|k| k.starts_with("Sidecar/") && !k.starts_with("Sidecar/shop/")));
}

#[test]
fn graph_of_the_policy_fixture_in_three_formats() {
    let dir = root().join("tests/fixtures/policy");
    for format in ["mermaid", "dot", "json"] {
        let r = meshgen(&dir, &["graph", "--output", format]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        insta::assert_snapshot!(format!("graph-{format}"), r.stdout);
    }
    let json: serde_json::Value = serde_json::from_str(&meshgen(&dir, &["graph", "--output", "json"]).stdout).unwrap();
    let node = |n: &str| json["nodes"].as_array().unwrap().iter().find(|x| x["name"] == n).unwrap().clone();
    assert_eq!(node("orders")["kind"], "vm");
    assert_eq!(node("web")["kind"], "pods");
    assert_eq!(node("wiki")["kind"], "external");
    assert_eq!(node("wiki")["egress"], true);
    assert_eq!(node("orders")["sidecar"], true);
    assert_eq!(node("orders")["authorization"], true);
    let edge = json["edges"].as_array().unwrap().iter().find(|e| e["from"] == "auditor").unwrap().clone();
    assert_eq!(edge["ports"], serde_json::json!(["admin"]));
    assert_eq!(edge["authorized"], true);
    let edge = json["edges"].as_array().unwrap().iter().find(|e| e["to"] == "payments").unwrap().clone();
    assert_eq!(edge["authorized"], false, "external APIs have no allow-list");
}

#[test]
fn graph_selections() {
    let dir = root().join("tests/fixtures/policy");
    // One namespace: its entities, plus their neighbours elsewhere marked as outside.
    let r = meshgen(&dir, &["graph", "--output", "json", "-n", "data"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let nodes: Vec<(String, bool)> = json["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["name"].as_str().unwrap().to_string(), n["outside"].as_bool().unwrap()))
        .collect();
    assert_eq!(nodes, [("ledger".to_string(), false), ("orders".to_string(), true)]);

    // The neighbourhood of one entity, by depth.
    let names = |depth: &str| {
        let r = meshgen(&dir, &["graph", "--output", "json", "--focus", "web", "--depth", depth]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        let mut v: Vec<String> =
            json["nodes"].as_array().unwrap().iter().map(|n| n["name"].as_str().unwrap().to_string()).collect();
        v.sort();
        v
    };
    assert_eq!(names("1"), ["orders", "payments", "web"]);
    assert_eq!(names("2"), ["auditor", "ledger", "orders", "payments", "web", "wiki"]);

    let r = meshgen(&dir, &["graph", "--focus", "wbe"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("no service or external API is named `wbe`") && r.stderr.contains("`web`"),
        "{}",
        r.stderr
    );
    let r = meshgen(&dir, &["graph", "-n", "nowhere"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("namespaces are: data, shop"), "{}", r.stderr);
}

#[test]
fn graph_and_explain_refuse_an_inventory_with_errors() {
    let tmp = common::project(&[
        ("meshgen.yaml", "inventory: [inventory]\n"),
        ("inventory/a.yaml", "services:\n  a:\n    pods: {app: a}\n    ports: {http: 80}\n    dependsOn: [nothing]\n"),
    ]);
    for args in [&["graph"][..], &["explain", "a"]] {
        let r = meshgen(tmp.path(), args);
        assert_eq!(r.code, 1, "{args:?}");
        assert!(r.stdout.is_empty(), "{args:?}: {}", r.stdout);
        assert!(
            r.stderr.contains("error[unknown-dependency]") && r.stderr.contains("inventory/a.yaml:5:"),
            "{}",
            r.stderr
        );
    }
}

/// The README shows the bundled inventory's graph; it must be what `meshgen graph` draws.
#[test]
fn the_readme_graph_is_current() {
    let readme = fs::read_to_string(root().join("README.md")).unwrap();
    let block = readme
        .split("```mermaid\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("README.md has a ```mermaid block");
    let r = meshgen(&root(), &["graph"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(block, r.stdout, "README.md's graph is stale: paste `meshgen graph` into it");
}

#[test]
fn explain_on_the_bundled_inventory() {
    let dir = root();
    for (name, args) in [
        ("explain-entity", &["explain", "catalog"][..]),
        ("explain-impact", &["explain", "--impact", "payments"]),
        ("explain-object", &["explain", "Sidecar/shop/storefront"]),
        ("explain-file", &["explain", "out/shop/workloadentry-checkout-10-0-2-21.yaml"]),
        ("explain-entity-json", &["explain", "--output", "json", "checkout"]),
    ] {
        let r = meshgen(&dir, args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        insta::assert_snapshot!(name, r.stdout);
    }
}

/// What `explain` says matches the output directory: every file it names exists and holds
/// the object, and every object's source line is the entity (or part) it names.
#[test]
fn explain_agrees_with_the_committed_output() {
    let r = meshgen(&root(), &["explain", "--output", "json", "checkout"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let objects = json["objects"].as_array().unwrap();
    assert!(objects.len() >= 5);
    for o in objects {
        let file = root().join(o["file"].as_str().unwrap());
        let text = fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let doc = &documents(&text)[0];
        assert_eq!(doc["kind"].as_str(), o["kind"].as_str());
        assert_eq!(doc["metadata"]["name"].as_str(), o["name"].as_str());
        let annotation = doc["metadata"]["annotations"]["meshgen.dev/source"].as_str().unwrap();
        let (src_file, path) = annotation.split_once('#').unwrap();
        let source = o["source"].as_str().unwrap();
        assert!(
            source.starts_with(&format!("{src_file}:")) && source.ends_with(&format!("({path})")),
            "{source} vs {annotation}"
        );
        // The line named holds the key of that path.
        let line: usize = source.split(':').nth(1).unwrap().parse().unwrap();
        let text = fs::read_to_string(root().join(src_file)).unwrap();
        let key = path.rsplit(['.', '[']).next().unwrap().trim_end_matches(']');
        let at = text.lines().nth(line - 1).unwrap();
        assert!(at.contains(key) || key.parse::<usize>().is_ok(), "{source}: line {line} is `{at}`");
    }
    let r = meshgen(&root(), &["explain", "--impact", "--output", "json", "payments"]);
    let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let impact: Vec<(&str, u64)> = json["impact"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["entity"].as_str().unwrap(), i["depth"].as_u64().unwrap()))
        .collect();
    assert_eq!(impact, [("catalog", 1), ("checkout", 1), ("storefront", 2)]);
}

#[test]
fn explain_refuses_what_it_cannot_find() {
    for (args, says) in [
        (&["explain", "catalgo"][..], "did you mean `catalog`"),
        (&["explain", "Sidecar/shop/nothing"], "no Sidecar `shop/nothing`"),
        (&["explain", "out/nowhere.yaml"], "no generated object goes to `out/nowhere.yaml`"),
        (&["explain", "--impact", "Sidecar/shop/catalog"], "`--impact` needs an entity name"),
    ] {
        let r = meshgen(&root(), args);
        assert_eq!(r.code, 2, "{args:?}");
        assert!(r.stdout.is_empty());
        assert!(r.stderr.contains(says), "{args:?}: {}", r.stderr);
    }
}

/// Mistakes in the policy settings and the new inventory fields are errors at their place.
#[test]
fn policy_settings_and_fields_are_validated_where_written() {
    let inventory =
        "services:\n  a:\n    pods: {app: a}\n    ports: {http: 80}\n    serviceAccount: a\n    dependsOn: []\n";
    for (project, extra, says, at) in [
        ("policy: {namespaces: [Apps]}\n", "", "namespace `Apps`", "meshgen.yaml:3:"),
        (
            "policy: {namespaces: [apps], outboundTrafficPolicy: NONE}\n",
            "",
            "not an outbound traffic policy",
            "meshgen.yaml:3:",
        ),
        ("policy: {namespaces: [apps], exportTo: everyone}\n", "", "not a policy exportTo", "meshgen.yaml:3:"),
        ("policy: {namespace: apps}\n", "", "unknown field `namespace`", "meshgen.yaml:3:"),
        (
            "policy: {namespaces: [apps]}\n",
            "  b:\n    pods: {app: b}\n    ports: {http: 80}\n    serviceAccount: b\n    dependsOn: [{name: a, ports: [grpc]}]\n",
            "`a` has no port named `grpc`",
            "inventory/x.yaml:11:",
        ),
        (
            "policy: {namespaces: [apps]}\n",
            "  b:\n    pods: {app: b}\n    ports: {http: 80}\n    dependsOn: []\n    authorization: {from: [{principal: spiffe://cluster.local/ns/x/sa/y}]}\n",
            "starts with `spiffe://`",
            "inventory/x.yaml:11:",
        ),
        (
            "policy: {namespaces: [apps]}\n",
            "  b:\n    pods: {app: b}\n    ports: {http: 80}\n    dependsOn: []\n    authorization: {from: [{principal: a/b, namespace: c}]}\n",
            "exactly one of `principal` or `namespace`",
            "inventory/x.yaml:11:",
        ),
    ] {
        let tmp = common::project(&[
            ("meshgen.yaml", &format!("inventory: [inventory]\ndefaults: {{namespace: apps}}\n{project}")),
            ("inventory/x.yaml", &format!("{inventory}{extra}")),
        ]);
        let r = meshgen(tmp.path(), &["build"]);
        assert_eq!(r.code, 1, "{project}{extra}: {}", r.stderr);
        assert!(r.stderr.contains(says), "{project}{extra}: expected `{says}`:\n{}", r.stderr);
        assert!(r.stderr.contains(&format!("--> {at}")), "{project}{extra}: expected `{at}`:\n{}", r.stderr);
        assert!(!tmp.path().join("out").exists(), "nothing is written");
    }
}

/// `location: MESH_EXTERNAL` says the workloads are outside the mesh: Istio sends them plain
/// text (no auto mutual TLS) and enforces no server-side policy for them. So their VMs run
/// without a sidecar (`sidecar: true` beside it is refused), their WorkloadEntries say so
/// and carry no identity, and policy writes them no allow-list, which would deny every
/// caller by principal; the checks say that policy does not reach them.
#[test]
fn mesh_external_services_have_no_identity_and_no_allow_list() {
    let project = "inventory: [inventory]\ndefaults: {namespace: apps}\npolicy: {namespaces: [apps]}\n";
    let inventory = "services:\n  web:\n    ports: {http: 8080}\n    pods: {app: web}\n    serviceAccount: web\n    \
                     dependsOn: [legacy, partner]\n  \
                     legacy:\n    host: legacy.apps.internal\n    ports: {http: 8080}\n    location: MESH_EXTERNAL\n    \
                     serviceAccount: legacy\n    vms: [{address: 10.0.0.1}]\n  \
                     partner:\n    host: partner.apps.internal\n    ports: {http: 8080}\n    location: MESH_EXTERNAL\n    \
                     pods: {app: partner}\n";
    let tmp = common::project(&[("meshgen.yaml", project), ("inventory/x.yaml", inventory)]);
    let r = meshgen(tmp.path(), &["build", "--stdout"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let objects = by_id(&r.stdout);
    for name in ["legacy", "partner"] {
        assert!(!objects.contains_key(&format!("AuthorizationPolicy/apps/{name}")), "{name}: {objects:#?}");
        assert!(!objects.contains_key(&format!("Sidecar/apps/{name}")), "{name}");
        assert!(!objects.contains_key(&format!("DestinationRule/apps/{name}")), "{name}: no ISTIO_MUTUAL");
        assert!(r.stderr.contains(&format!("`{name}` runs no Istio proxy")), "{name}: {}", r.stderr);
    }
    assert!(objects.contains_key("AuthorizationPolicy/apps/web"));
    let entry = &objects["WorkloadEntry/apps/legacy-10-0-0-1"]["spec"];
    assert_eq!(entry["labels"]["security.istio.io/tlsMode"].as_str(), Some("disabled"), "{entry:#?}");
    assert!(entry.get("serviceAccount").is_none(), "{entry:#?}");

    // A sidecar written beside it contradicts it.
    let tmp = common::project(&[
        ("meshgen.yaml", project),
        ("inventory/x.yaml", &inventory.replace("    vms: [", "    sidecar: true\n    vms: [")),
    ]);
    let r = meshgen(tmp.path(), &["build"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("(services.legacy.sidecar)"), "{}", r.stderr);
    assert!(r.stderr.contains("MESH_EXTERNAL"), "{}", r.stderr);
}
