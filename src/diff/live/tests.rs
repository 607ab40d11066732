use serde_json::{Value, json};

use super::*;

/// What the live side was before items were held as text: the item parsed whole, the
/// list's type filled in, then trimmed in place. The decoder must give this very tree.
fn reference(raw: &str, trim: Trim) -> Option<Value> {
    let mut item: Value = serde_json::from_str(raw).unwrap();
    let map = item.as_object_mut()?;
    map.entry("apiVersion").or_insert_with(|| Value::from("networking.istio.io/v1"));
    map.entry("kind").or_insert_with(|| Value::from("ServiceEntry"));
    if trim == Trim::ServerState {
        if let Some(status) = map.get_mut("status") {
            *status = Value::Null;
        }
        if let Some(md) = map.get_mut("metadata").and_then(Value::as_object_mut) {
            if let Some(fields) = md.get_mut("managedFields") {
                *fields = Value::Null;
            }
            if let Some(applied) = md.get_mut("annotations").and_then(|a| a.get_mut(LAST_APPLIED)) {
                *applied = Value::Null;
            }
        }
    }
    Some(item)
}

fn decode(raw: &str, trim: Trim) -> Option<(Item<'_>, Option<LiveObject>)> {
    let item = Item::parse(raw, "networking.istio.io/v1", "ServiceEntry")?;
    let kept = item.keep(trim, &mut String::new());
    Some((item, kept))
}

/// The decoder against the reference, key order included (compared as printed).
fn assert_same(raw: &str) {
    for trim in [Trim::Nothing, Trim::ServerState] {
        let want = reference(raw, trim);
        let got = decode(raw, trim);
        let Some(want) = want else {
            assert!(got.is_none(), "{raw}: not an object, yet decoded");
            continue;
        };
        let (item, kept) = got.unwrap_or_else(|| panic!("{raw}: an object, yet not decoded"));
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let md = &want["metadata"];
        let identity = (text(&want["kind"]), text(&md["namespace"]), text(&md["name"]));
        let (k, ns, n) = item.identity();
        assert_eq!((k.into_owned(), ns.into_owned(), n.into_owned()), identity, "{raw}");
        match (super::super::Object::from_value(want.clone()), kept) {
            (Ok(object), Some(kept)) => {
                let read = kept.object().unwrap();
                assert_eq!(read.value.to_string(), want.to_string(), "{raw} ({trim:?})");
                assert_eq!((read.key, read.api_version), (object.key, object.api_version));
                let created = md["creationTimestamp"].as_str();
                assert_eq!(kept.metadata_str(&["creationTimestamp"]).as_deref(), created, "{raw}");
                let label = md["labels"]["app"].as_str();
                assert_eq!(kept.metadata_str(&["labels", "app"]).as_deref(), label, "{raw}");
            }
            (Err(_), None) => {}
            (want, got) => panic!("{raw} ({trim:?}): expected {want:?}, decoded {got:?}"),
        }
    }
}

fn live() -> Value {
    let mut live = json!({
        "apiVersion": "networking.istio.io/v1",
        "kind": "ServiceEntry",
        "metadata": {
            "name": "a", "namespace": "shop", "uid": "1", "resourceVersion": "7",
            "creationTimestamp": "2025-01-01T00:00:00Z",
            "labels": {"app": "a", "app.kubernetes.io/managed-by": "meshgen"},
            "annotations": {LAST_APPLIED: "{\"apiVersion\":\"networking.istio.io/v1\"}\n", "x": "y"},
            "managedFields": [{"manager": "kubectl", "operation": "Apply", "fieldsV1": {"f:spec": {}}}],
        },
        "spec": {"hosts": ["a.example"], "ports": [{"number": 80, "weight": 1.5}], "resolution": "STATIC"},
        "status": {"addresses": [{"value": "240.240.0.1"}]},
    });
    // kubectl's copy of what it applied: the object again.
    live["metadata"]["annotations"][LAST_APPLIED] = json!(format!("{}\n", live["spec"]));
    live
}

#[test]
fn items_decode_to_the_tree_a_parser_reads_trimmed() {
    assert_same(&live().to_string());
    assert_same(&serde_json::to_string_pretty(&live()).unwrap());
    // The status before the spec: normalising moves the last key into its hole, so the null
    // must stay where it was.
    assert_same(r#"{"status":{"a":1},"metadata":{"name":"a","annotations":{}},"spec":{"x":1},"kind":"Gateway"}"#);
}

#[test]
fn odd_shapes_decode_as_a_parser_reads_them() {
    for raw in [
        // No type: the list's.
        r#"{"metadata":{"name":"a","namespace":"n"}}"#,
        r#"{}"#,
        r#"[1,2]"#,
        r#""text""#,
        r#"null"#,
        // Not strings where strings are expected.
        r#"{"kind":5,"apiVersion":"v","metadata":{"name":"a"}}"#,
        r#"{"kind":"K","apiVersion":null,"metadata":{"name":"a"}}"#,
        r#"{"kind":"K","apiVersion":"v","metadata":{"name":["a"],"namespace":"n"}}"#,
        r#"{"kind":"K","apiVersion":"v","metadata":{"name":"a","namespace":7}}"#,
        r#"{"kind":"K","apiVersion":"v","metadata":"a"}"#,
        r#"{"kind":"K","apiVersion":"v","metadata":{"name":"a","annotations":"x","managedFields":{}}}"#,
        r#"{"kind":"K","apiVersion":"v","metadata":{"name":"a","labels":{"app":3}}}"#,
        // Repeated keys: the last wins, where the first stood.
        r#"{"kind":"A","kind":"B","apiVersion":"v","metadata":{"name":"a"},"metadata":{"name":"b","namespace":"c"}}"#,
        r#"{"kind":"K","apiVersion":"v","metadata":{"name":"a","name":"b","annotations":{"x":1},"annotations":{"y":2}}}"#,
        r#"{"kind":"K","apiVersion":"v","status":1,"metadata":{"name":"a"},"status":2}"#,
        r#"{"kind":"K","apiVersion":"v","metadata":{"name":"a"},"metadata":{"namespace":"n"}}"#,
        // Escapes in keys and values, and text beyond ASCII.
        r#"{"kind":"K","apiVersion":"v","metadata":{"na\u006de":"\u00e9t\u00e9","namespace":"n\"q"},"sp\"ec":{"a\\b":"\n"}}"#,
        r#"{"kind":"K","apiVersion":"v","metadata":{"name":"été","labels":{"app":"ü\u0000"}},"spec":{"x":"日本"}}"#,
        // Numbers as the server wrote them.
        r#"{"kind":"K","apiVersion":"v","metadata":{"name":"a"},"spec":{"n":[1,1.0,-0,1e3,18446744073709551615,-9223372036854775808]}}"#,
    ] {
        assert_same(raw);
    }
}

#[test]
fn what_serde_json_refuses_to_build_is_an_error_when_compared_not_a_panic() {
    let deep = format!(
        r#"{{"kind":"K","apiVersion":"v","metadata":{{"name":"a"}},"spec":{}1{}}}"#,
        "[".repeat(200),
        "]".repeat(200)
    );
    for raw in [r#"{"kind":"K","apiVersion":"v","metadata":{"name":"a"},"spec":{"n":1e999}}"#, deep.as_str()] {
        let (_, kept) = decode(raw, Trim::ServerState).unwrap();
        let err = kept.unwrap().object().unwrap_err();
        assert!(err.starts_with("the API server sent K a in a form meshgen cannot read ("), "{err}");
        assert!(err.ends_with("or leave it out of the comparison with `--selector`"), "{err}");
    }
}

#[test]
fn pages_read_their_items_and_next_token_as_a_parser_would() {
    let names = |page: &Page<'_>| page.items.iter().map(|i| i.identity().2.into_owned()).collect::<Vec<_>>();
    let body = r#"{"kind":"L","metadata":{"continue":"p2"},"items":[{"metadata":{"name":"a"}}, 2 ,"x",[{}],{}]}"#;
    let page = Page::parse(body, "v", "K").unwrap();
    assert_eq!(names(&page), ["a", ""]);
    assert_eq!(page.next.as_deref(), Some("p2"));
    // The items as the item reader reads them alone.
    let alone = Item::parse(r#"{"metadata":{"name":"a"}}"#, "v", "K").unwrap();
    assert_eq!(
        page.items[0].keep(Trim::ServerState, &mut String::new()),
        alone.keep(Trim::ServerState, &mut String::new())
    );
    for (body, items, next) in [
        (r#"{"items":null,"metadata":{"continue":""}}"#, 0, None),
        (r#"{"items":{"a":1},"metadata":{"continue":5}}"#, 0, None),
        (r#"{"items":[{}],"items":[{},{}],"metadata":{"continue":"a"},"metadata":{}}"#, 2, None),
        (r#"{"items":[[1,{"a":[]}],{"b":{}}],"other":{"items":[{}]}}"#, 1, None),
        (r#"[1,2]"#, 0, None),
        (r#""a""#, 0, None),
        (r#"{"metadata":{"continue":"n\u0031"}}"#, 0, Some("n1")),
    ] {
        let page = Page::parse(body, "v", "K").unwrap();
        assert_eq!((page.items.len(), page.next.as_deref()), (items, next), "{body}");
    }
    for body in ["", "{", r#"{"items":[1,]}"#, "{} x", r#"{"items":[{"a":1e5000}]"#, "[1,"] {
        assert!(Page::parse(body, "v", "K").is_err(), "{body}");
    }
}

#[test]
fn a_huge_page_is_read_without_a_tree() {
    let item = live().to_string();
    let body = format!(r#"{{"items":[{}]}}"#, vec![item.as_str(); 5_000].join(","));
    let page = Page::parse(&body, "v", "K").unwrap();
    assert_eq!(page.items.len(), 5_000);
    let mut scratch = String::new();
    let kept: usize =
        page.items.iter().filter_map(|item| item.keep(Trim::ServerState, &mut scratch)).map(|o| o.len()).sum();
    // Trimmed: the status, managedFields and last-applied copy are not held, and the rest
    // is the server's text as it came (compact here).
    let trimmed = reference(&item, Trim::ServerState).unwrap().to_string();
    assert!(trimmed.len() < item.len() * 3 / 4);
    assert_eq!(kept, 5_000 * trimmed.len());
}
