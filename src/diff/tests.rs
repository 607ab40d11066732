use serde_json::json;

use super::*;

fn object(v: Value) -> Object {
    Object::from_value(v).unwrap()
}

fn service_entry(name: &str, hosts: &[&str]) -> Value {
    json!({
        "apiVersion": "networking.istio.io/v1",
        "kind": "ServiceEntry",
        "metadata": {
            "name": name,
            "namespace": "shop",
            "labels": {"app.kubernetes.io/managed-by": "meshgen"},
            "annotations": {"meshgen.dev/source": "inventory/a.yaml#services.a"},
        },
        "spec": {"hosts": hosts, "resolution": "STATIC"},
    })
}

/// What an API server adds to an object meshgen applied.
fn as_live(mut v: Value) -> Value {
    let md = v["metadata"].as_object_mut().unwrap();
    md.insert("uid".into(), json!("0b0c1f4e-2f57-4d47-9f2c-3f1c4c3a9d11"));
    md.insert("resourceVersion".into(), json!("4711"));
    md.insert("generation".into(), json!(3));
    md.insert("creationTimestamp".into(), json!("2025-01-01T00:00:00Z"));
    md.insert("selfLink".into(), json!("/apis/networking.istio.io/v1/namespaces/shop/serviceentries/x"));
    md.insert("managedFields".into(), json!([{"manager": "kubectl", "operation": "Apply"}]));
    let ann = md["annotations"].as_object_mut().unwrap();
    ann.insert("kubectl.kubernetes.io/last-applied-configuration".into(), json!("{}"));
    ann.insert("argocd.argoproj.io/tracking-id".into(), json!("shop:networking.istio.io/ServiceEntry:shop/x"));
    let labels = md["labels"].as_object_mut().unwrap();
    labels.insert("app.kubernetes.io/instance".into(), json!("shop"));
    labels.insert("kustomize.toolkit.fluxcd.io/name".into(), json!("shop"));
    v["status"] = json!({"addresses": [{"value": "240.240.0.1", "host": "a.example"}]});
    // The server sorts keys its own way.
    let mut sorted = serde_json::Map::new();
    let mut entries: Vec<_> = v.as_object().unwrap().clone().into_iter().collect();
    entries.sort_by(|a, b| b.0.cmp(&a.0));
    sorted.extend(entries);
    Value::Object(sorted)
}

#[test]
fn server_fields_and_foreign_annotations_are_not_differences() {
    let desired = service_entry("a", &["a.example"]);
    let plan = compare(vec![object(desired.clone())], vec![object(as_live(desired))], &Normalizer::default());
    assert_eq!(plan.changes, vec![]);
    assert_eq!(plan.unchanged, 1);
}

#[test]
fn each_server_field_is_dropped() {
    let mut live = as_live(service_entry("a", &["a.example"]));
    Normalizer::default().normalize(&mut live);
    let md = &live["metadata"];
    for f in SERVER_METADATA {
        assert!(md.get(f).is_none(), "{f} kept");
    }
    assert!(live.get("status").is_none());
    assert_eq!(md["annotations"], json!({"meshgen.dev/source": "inventory/a.yaml#services.a"}));
    assert_eq!(md["labels"], json!({"app.kubernetes.io/managed-by": "meshgen"}));
}

#[test]
fn actions_are_sorted_by_kind_namespace_name() {
    let desired = vec![object(service_entry("new", &["n.example"])), object(service_entry("same", &["s.example"])), {
        object(service_entry("changed", &["c.example", "d.example"]))
    }];
    let mut dr = service_entry("gone", &[]);
    dr["kind"] = json!("DestinationRule");
    let other = vec![
        object(as_live(service_entry("changed", &["c.example"]))),
        object(as_live(service_entry("same", &["s.example"]))),
        object(as_live(dr)),
    ];
    let plan = compare(desired, other, &Normalizer::default());
    let got: Vec<(Action, String)> = plan.changes.iter().map(|c| (c.action, c.key.to_string())).collect();
    assert_eq!(
        got,
        vec![
            (Action::Prune, "DestinationRule shop/gone".to_string()),
            (Action::Update, "ServiceEntry shop/changed".to_string()),
            (Action::Create, "ServiceEntry shop/new".to_string()),
        ]
    );
    assert_eq!(plan.unchanged, 1);
    let update = &plan.changes[1];
    assert_eq!(update.paths, vec!["spec.hosts[1]"]);
    // Both sides print in the desired order, whatever order the server used.
    assert!(update.before.starts_with("apiVersion:"), "{}", update.before);
    assert!(!update.before.contains("uid"));
}

#[test]
fn ignore_paths_apply_to_both_sides() {
    let mut desired = service_entry("a", &["a.example"]);
    let mut live = as_live(desired.clone());
    live["metadata"]["annotations"]["example.com/owner"] = json!("team-a");
    live["spec"]["location"] = json!("MESH_INTERNAL");
    desired["spec"]["location"] = json!("MESH_EXTERNAL");
    let plain = compare(vec![object(desired.clone())], vec![object(live.clone())], &Normalizer::default());
    assert_eq!(plain.changes[0].paths, vec!["metadata.annotations[\"example.com/owner\"]", "spec.location"]);
    let ignore = ["metadata.annotations.example.com/owner", "spec.location"].map(|p| p.parse().unwrap()).to_vec();
    let ignored = compare(vec![object(desired)], vec![object(live)], &Normalizer::new(ignore));
    assert!(!ignored.has_changes());
}

#[test]
fn numbers_compare_by_value_and_nulls_are_absent() {
    let mut desired = service_entry("a", &["a.example"]);
    desired["spec"]["weight"] = json!(100.0);
    desired["spec"]["exportTo"] = Value::Null;
    let mut live = desired.clone();
    live["spec"]["weight"] = json!(100);
    live["spec"].as_object_mut().unwrap().remove("exportTo");
    assert!(!compare(vec![object(desired)], vec![object(live)], &Normalizer::default()).has_changes());
}

#[test]
fn changed_paths_name_the_deepest_difference() {
    let a = json!({"spec": {"ports": [{"name": "http", "number": 80}], "hosts": ["x"], "tls": {"mode": "SIMPLE"}}});
    let b = json!({"spec": {"ports": [{"name": "http", "number": 8080}, {"name": "grpc"}], "hosts": "x", "sni": "y"}});
    let mut paths = Vec::new();
    changed_paths(&a, &b, &mut FieldPath::new(), &mut paths);
    assert_eq!(paths, vec!["spec.hosts", "spec.ports[0].number", "spec.ports[1]", "spec.sni", "spec.tls"]);
}

#[test]
fn identical_texts_pair_off_without_parsing() {
    let (a, b, pairs) = split_identical(vec!["x: 1\n", "y: 1\n", "x: 1\n"], vec!["y: 1\n", "x: 1\n", "z: 1\n"]);
    assert_eq!((a, b, pairs), (vec!["x: 1\n"], vec!["z: 1\n"], vec![(1, 0), (0, 1)]));
    // Copies of one text pair in order, each once; a text of the same digest (same first 512
    // bytes and length) but different content does not pair.
    let long = |tail: &str| format!("{}{tail}", "a".repeat(600));
    let desired = vec![long("x"), "q\n".into(), long("y"), long("x"), long("x")];
    let other = vec![long("x"), long("y"), long("x"), long("z"), long("x"), long("x")];
    let (a, b, pairs) = split_identical(desired, other);
    assert_eq!(pairs, vec![(0, 0), (2, 1), (3, 2), (4, 4)]);
    assert_eq!(a, vec!["q\n".to_string()]);
    assert_eq!(b, vec![long("z"), long("x")]);
}

/// What `diff --against` pairs this build's objects with, as they are rendered: the first
/// identical document of the other side, past documents of the same digest (the first 512
/// bytes and the length) whose content differs.
#[test]
fn a_text_is_found_at_its_first_identical_document() {
    let long = |tail: &str| format!("{}{tail}", "a".repeat(600));
    let texts = vec![long("y"), "q\n".to_string(), long("x"), long("y"), long("x")];
    let index = TextIndex::new(&texts);
    assert_eq!(index.first_identical(&long("x")), Some(2));
    assert_eq!(index.next_identical(2), Some(4));
    assert_eq!(index.next_identical(4), None);
    assert_eq!(index.first_identical(&long("y")), Some(0));
    assert_eq!(index.next_identical(0), Some(3));
    assert_eq!(index.first_identical(&long("z")), None);
    assert_eq!(index.first_identical("q\n"), Some(1));
    assert_eq!(index.first_identical("r\n"), None);
}

#[test]
fn identical_texts_pair_as_a_loop_over_the_other_side_would_pair_them() {
    // Thousands of documents (on a machine with several cores, the work is shared out
    // between threads; the answer must not depend on it): copies on both sides, texts
    // sharing a digest (first 512 bytes and length) but not their content, and the other
    // side in another order. Each other document, in order, must take the first unpaired
    // desired document of its text, as the loop this replaced did.
    let text = |n: u64| format!("{}{}\n", "p".repeat(600), n % 700);
    let desired: Vec<String> = (0..3000).map(|i| text(i * 7 % 1000)).collect();
    let other: Vec<String> = (0..3000).map(|i| text(i * 13 % 1100)).rev().collect();
    let mut paired = vec![false; desired.len()];
    let mut expected = Vec::new();
    for (j, t) in other.iter().enumerate() {
        if let Some(i) = (0..desired.len()).find(|&i| !paired[i] && desired[i] == *t) {
            paired[i] = true;
            expected.push((i, j));
        }
    }
    assert!(expected.len() > 1000 && expected.len() < 3000, "{}", expected.len());
    let (rest_desired, rest_other, pairs) = split_identical(desired.clone(), other.clone());
    assert_eq!(pairs, expected);
    let unpaired = |side: &[String], taken: &dyn Fn(usize) -> bool| -> Vec<String> {
        side.iter().enumerate().filter(|&(i, _)| !taken(i)).map(|(_, t)| t.clone()).collect()
    };
    assert_eq!(rest_desired, unpaired(&desired, &|i| paired[i]));
    assert_eq!(rest_other, unpaired(&other, &|j| expected.iter().any(|&(_, o)| o == j)));
}

#[test]
fn documents_without_identity_are_refused_with_the_reason() {
    assert_eq!(Object::from_yaml("kind: A\nmetadata: {name: a}\n").unwrap_err(), "it has no `apiVersion`");
    assert_eq!(Object::from_yaml("apiVersion: v1\nkind: A\n").unwrap_err(), "it has no `metadata.name`");
    assert!(Object::from_yaml("a: [").unwrap_err().contains("not valid YAML"));
}
