//! Inputs to Istio objects: every document of every text, with a note for each one that is
//! not an object meshgen generates (malformed YAML, another API, an unknown kind).

use serde_json::{Map, Value};

use super::{Input, NoteKind, Report};

/// The kinds meshgen generates from an inventory, hence the kinds it imports.
pub(crate) const KINDS: &[&str] =
    &["ServiceEntry", "WorkloadEntry", "WorkloadGroup", "DestinationRule", "VirtualService", "Gateway"];

/// One Istio object of the input.
#[derive(Debug, Clone)]
pub struct Object {
    /// `kind`.
    pub kind: String,
    /// `metadata.namespace`, `default` when unset (as `kubectl apply` would place it).
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `apiVersion`.
    pub api_version: String,
    /// The whole document.
    pub value: Value,
    /// Where it was read: `file#N`, N counting documents from 1.
    pub from: String,
}

impl Object {
    /// `spec`, or an empty mapping.
    pub fn spec(&self) -> &Map<String, Value> {
        static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
        self.value.get("spec").and_then(Value::as_object).unwrap_or_else(|| EMPTY.get_or_init(Map::new))
    }

    /// `Kind namespace/name`, as the report names it.
    pub fn key(&self) -> String {
        format!("{} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// The Istio objects of the inputs, in input order; everything else becomes a note.
pub(crate) fn objects(inputs: &[Input], report: &mut Report) -> Vec<Object> {
    let mut out: Vec<Object> = Vec::new();
    for input in inputs {
        let parsed = crate::yaml::parse(&input.text);
        for (i, doc) in parsed.docs.into_iter().enumerate() {
            let from = format!("{}#{}", input.name, i + 1);
            // `kubectl get -o yaml` answers a List of the objects.
            let items = match doc.get("items").and_then(Value::as_array) {
                Some(items) if doc["kind"].as_str().is_some_and(|k| k.ends_with("List")) => {
                    items.iter().enumerate().map(|(j, v)| (format!("{from}.items[{j}]"), v.clone())).collect()
                }
                _ => vec![(from, doc)],
            };
            for (from, doc) in items {
                if let Some(o) = object(doc, &from, report) {
                    if out.iter().any(|x| x.key() == o.key()) {
                        report.note(
                            NoteKind::Refused,
                            &from,
                            format!("{} was read before: this copy is left out", o.key()),
                        );
                    } else {
                        out.push(o);
                    }
                }
            }
        }
        if let Some(e) = parsed.error {
            let doc = e.doc + 1;
            report.note(
                NoteKind::Refused,
                format!("{}#{doc}", input.name),
                format!(
                    "{}: {e}; this document and the rest of the file are not imported",
                    if e.kind.unsupported() { "unsupported YAML" } else { "invalid YAML" }
                ),
            );
        }
    }
    out
}

/// The document as an object meshgen imports, or a note saying why not.
fn object(doc: Value, from: &str, report: &mut Report) -> Option<Object> {
    if doc.is_null() {
        return None;
    }
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let (Some(kind), Some(api_version)) = (text(doc.get("kind")), text(doc.get("apiVersion"))) else {
        report.note(NoteKind::Refused, from, "not a Kubernetes object (it has no `apiVersion` and `kind`)");
        return None;
    };
    let group = api_version.split_once('/').map_or("", |(g, _)| g);
    let what = format!("{kind} ({api_version})");
    if group != "networking.istio.io" {
        let why = if group.ends_with(".istio.io") {
            "meshgen does not generate it from an inventory (see docs/not-generated.md): keep it beside meshgen's output"
        } else {
            "not an Istio networking object"
        };
        report.note(NoteKind::Refused, from, format!("{what}: {why}"));
        return None;
    }
    if !KINDS.contains(&kind.as_str()) {
        report.note(
            NoteKind::Refused,
            from,
            format!("{what}: meshgen imports {} only; keep it beside meshgen's output", KINDS.join(", ")),
        );
        return None;
    }
    let Some(name) = text(doc.pointer("/metadata/name")) else {
        report.note(NoteKind::Refused, from, format!("{what} without `metadata.name`"));
        return None;
    };
    if doc.get("spec").is_some_and(|s| !s.is_object()) {
        report.note(NoteKind::Refused, from, format!("{kind} {name}: `spec` is not a mapping"));
        return None;
    }
    let namespace = text(doc.pointer("/metadata/namespace")).unwrap_or_else(|| "default".into());
    Some(Object { kind, namespace, name, api_version, value: doc, from: from.to_string() })
}
