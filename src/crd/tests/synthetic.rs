//! Schema features that Istio's `spec`s do not use (a synthetic CRD), and the load errors
//! of CRDs that use something the validator cannot enforce.

use serde_json::json;

use super::*;

/// A small CRD exercising schema features that the Istio `spec`s do not use.
const SYNTHETIC_CRD: &str = r#"
# comment before the first document
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {x-kubernetes-int-or-string: true, anyOf: [{type: integer}, {type: string}]}
              ratio: {type: number, format: float, minimum: 0, exclusiveMinimum: true, maximum: 1}
              step: {type: integer, multipleOf: 5}
              when: {type: string, format: date-time}
              note: {type: string, nullable: true}
              tags: {type: array, items: {type: string}, x-kubernetes-list-type: set, maxItems: 3}
              code: {type: string, pattern: '^\d+$', minLength: 2}
              extra: {type: object, x-kubernetes-preserve-unknown-fields: true, properties: {known: {type: boolean}}}
              limits:
                type: object
                minProperties: 1
                additionalProperties: {type: integer}
                x-kubernetes-validations:
                - rule: self.all(k, self[k] >= 0)
              mode: {type: string, not: {enum: [legacy]}}
            x-kubernetes-validations:
            - rule: "!has(self.step) || self.step < 100"
            - rule: "oldSelf.size == self.size"
              message: transition rule, skipped on create
  - name: v0
    served: false
    storage: false
    schema:
      openAPIV3Schema: {type: object}
...
---
"#;

#[test]
fn synthetic_schema_features() {
    let set = CrdSet::from_yaml_docs(SYNTHETIC_CRD).unwrap();
    assert_eq!(set.kinds(), [("example.com/v1".to_string(), "Widget".to_string())]);
    let base = json!({
        "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
        "spec": {"size": 3, "ratio": 0.5, "step": 10, "when": "2024-05-01T12:00:00Z",
                 "note": null, "tags": ["a", "b"], "code": "42",
                 "extra": {"known": true, "anything": {"goes": [1]}},
                 "limits": {"cpu": 2}, "mode": "fast"}
    });
    assert_valid(&set, &base);
    assert_valid(&set, &edited(&base, &[("/spec/size", Some(json!("50%")))]));
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        ("/spec/size", json!(1.5), "spec.size", "must be of type integer or string"),
        ("/spec/size", json!(true), "spec.size", "must be of type integer or string"),
        ("/spec/ratio", json!(0), "spec.ratio", "must be greater than 0"),
        ("/spec/ratio", json!(1.01), "spec.ratio", "less than or equal to 1"),
        ("/spec/ratio", json!(1e39), "spec.ratio", "out of range for format float"),
        ("/spec/step", json!(7), "spec.step", "multiple of 5"),
        ("/spec/step", json!(200), "spec", "failed rule: !has(self.step) || self.step < 100"),
        ("/spec/when", json!("2024-02-30T00:00:00Z"), "spec.when", "RFC 3339"),
        ("/spec/tags", json!(["a", "a"]), "spec.tags[1]", "duplicate value \"a\""),
        ("/spec/tags", json!(["a", "b", "c", "d"]), "spec.tags", "at most 3 items"),
        ("/spec/code", json!("\u{663}\u{663}"), "spec.code", "does not match pattern"),
        ("/spec/code", json!("1"), "spec.code", "at least 2 characters"),
        ("/spec/extra/known", json!("yes"), "spec.extra.known", "must be of type boolean"),
        ("/spec/limits", json!({}), "spec.limits", "at least 1 entries"),
        ("/spec/limits/cpu", json!(-1), "spec.limits", "failed rule"),
        ("/spec/mode", json!("legacy"), "spec.mode", "must not match"),
    ];
    for (pointer, value, path, needle) in cases {
        assert_violation(&set, &edited(&base, &[(pointer, Some(value))]), path, needle);
    }
    // Required after null pruning.
    assert_violation(
        &set,
        &edited(&base, &[("/spec/size", Some(Value::Null))]),
        "spec.size",
        "required field is missing",
    );
    // The unserved version is not accepted.
    assert_violation(
        &set,
        &edited(&base, &[("/apiVersion", Some(json!("example.com/v0")))]),
        "apiVersion",
        "not served",
    );
}

#[test]
fn load_errors_are_explicit() {
    let crd = |schema: &str| {
        format!(
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n\
             metadata: {{name: a.b}}\nspec:\n  group: b\n  names: {{kind: A, plural: as}}\n  \
             versions:\n  - name: v1\n    served: true\n    schema:\n      openAPIV3Schema: {schema}\n"
        )
    };
    for (schema, want) in [
        (
            "{type: object, properties: {spec: {type: string, x-kubernetes-validations: [{rule: 'self.lowerAscii() == self'}]}}}",
            "unsupported function",
        ),
        (
            "{type: object, properties: {spec: {type: string, x-kubernetes-validations: [{rule: 'true', messageExpression: \"'x'\"}]}}}",
            "messageExpression",
        ),
        (
            "{type: object, properties: {spec: {type: object, properties: {a: {type: string}}, x-kubernetes-validations: [{rule: has(self.b)}]}}}",
            "undefined field",
        ),
        ("{type: object, properties: {spec: {type: string, format: email}}}", "format \"email\""),
        ("{type: object, properties: {spec: {type: string, default: x}}}", "unsupported schema keyword \"default\""),
        (
            "{type: object, properties: {spec: {type: string, x-kubernetes-validations: [{rule: 'self.matches(\"(?=a)\")'}]}}}",
            "invalid regular expression",
        ),
    ] {
        let err = CrdSet::from_yaml_docs(&crd(schema)).expect_err(schema);
        let text = format!("{err:#}");
        assert!(text.contains(want), "{want:?} not in {text}");
        assert!(text.contains(".spec"), "error names the schema node: {text}");
    }
    let not_crd = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n";
    assert!(CrdSet::from_yaml_docs(not_crd).is_err());
}

/// `kubectl get crd -o yaml` prints a `List` with the CRDs under `items`: each loads, and an
/// error names the item.
#[test]
fn a_kubectl_list_of_crds_loads_every_item() {
    let widget = crate::yaml::parse(SYNTHETIC_CRD).docs.into_iter().find(|d| !d.is_null()).unwrap();
    let mut gadget = widget.clone();
    gadget["spec"]["names"] = json!({"kind": "Gadget", "plural": "gadgets"});
    let list =
        json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": [widget, gadget]});
    let set = CrdSet::from_yaml_docs(&list.to_string()).unwrap();
    let kinds: Vec<String> = set.kinds().into_iter().map(|(_, k)| k).collect();
    assert_eq!(kinds, ["Gadget", "Widget"]);

    let mut broken = list.clone();
    broken["items"][1]["spec"]["versions"] = json!("v1");
    let err = format!("{:#}", CrdSet::from_yaml_docs(&broken.to_string()).unwrap_err());
    assert!(err.contains("document 1, items[1]"), "{err}");
    // A list of something else is not a CRD.
    let pods = json!({"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "v1", "kind": "Pod"}]});
    assert!(CrdSet::from_yaml_docs(&pods.to_string()).is_err());
}
