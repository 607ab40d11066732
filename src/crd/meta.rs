//! Minimal `metadata` (ObjectMeta) validation.
//!
//! A CRD's schema does not describe `metadata`; the API server validates it with built-in
//! rules. We check what a manifest author controls: `name` (required; a DNS-1123
//! subdomain), `namespace` (a DNS-1123 label), `labels` and `annotations` (string maps with
//! qualified-name keys, label values limited to 63 characters), the JSON types of the other
//! ObjectMeta fields, and that no undeclared field is present (strict decoding rejects
//! those, like undeclared fields anywhere else).

use serde_json::Value;

use super::Violation;
use crate::fieldpath::FieldPath;

/// Fields of ObjectMeta with the JSON type each must have.
const FIELDS: &[(&str, Kind)] = &[
    ("name", Kind::String),
    ("generateName", Kind::String),
    ("namespace", Kind::String),
    ("selfLink", Kind::String),
    ("uid", Kind::String),
    ("resourceVersion", Kind::String),
    ("generation", Kind::Integer),
    ("creationTimestamp", Kind::StringOrNull),
    ("deletionTimestamp", Kind::String),
    ("deletionGracePeriodSeconds", Kind::Integer),
    ("labels", Kind::StringMap),
    ("annotations", Kind::StringMap),
    ("ownerReferences", Kind::Array),
    ("finalizers", Kind::StringList),
    ("managedFields", Kind::Array),
];

#[derive(Clone, Copy)]
enum Kind {
    String,
    /// `creationTimestamp: null` is what many tools emit for a new object.
    StringOrNull,
    Integer,
    Array,
    StringList,
    StringMap,
}

/// Maximum total size of all annotation keys and values (the API server's limit).
const ANNOTATIONS_MAX_BYTES: usize = 256 * 1024;

/// The path of a field of `metadata`.
fn metadata(field: &str) -> FieldPath {
    FieldPath::new().with_field("metadata").with_field(field)
}

fn push(out: &mut Vec<Violation>, path: &str, message: impl Into<String>) {
    out.push(Violation { path: path.to_string(), message: message.into() });
}

/// Validates the object's `metadata` (which may be absent).
pub(crate) fn validate(meta: Option<&Value>, out: &mut Vec<Violation>) {
    let Some(meta) = meta else {
        push(out, "metadata.name", "required field is missing");
        return;
    };
    let Some(meta) = meta.as_object() else {
        push(out, "metadata", "must be of type object");
        return;
    };
    for (key, v) in meta {
        let path = metadata(key);
        let Some((_, kind)) = FIELDS.iter().find(|(n, _)| n == key) else {
            push(out, &path, "unknown field (not a field of ObjectMeta)");
            continue;
        };
        let ok = match kind {
            Kind::String => v.is_string(),
            Kind::StringOrNull => v.is_string() || v.is_null(),
            Kind::Integer => v.is_i64() || v.is_u64(),
            Kind::Array => v.is_array(),
            Kind::StringList => v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
            Kind::StringMap => v.as_object().is_some_and(|m| m.values().all(Value::is_string)),
        };
        if !ok {
            let want = match kind {
                Kind::String | Kind::StringOrNull => "a string",
                Kind::Integer => "an integer",
                Kind::Array => "a list",
                Kind::StringList => "a list of strings",
                Kind::StringMap => "a map of strings to strings",
            };
            push(out, &path, format!("must be {want}"));
        }
    }
    match meta.get("name").and_then(Value::as_str) {
        None if meta.get("name").is_none() => {
            // `kubectl create` would accept generateName instead, but apply needs a name.
            push(out, "metadata.name", "required field is missing");
        }
        None => {}
        Some(name) => {
            if let Err(e) = dns1123_subdomain(name) {
                push(out, "metadata.name", e);
            }
        }
    }
    if let Some(ns) = meta.get("namespace").and_then(Value::as_str)
        && let Err(e) = dns1123_label(ns)
    {
        push(out, "metadata.namespace", e);
    }
    if let Some(labels) = meta.get("labels").and_then(Value::as_object) {
        for (k, v) in labels {
            let path = metadata("labels").with_entry(k);
            if let Err(e) = qualified_name(k) {
                push(out, &path, format!("invalid label key: {e}"));
            }
            if let Some(v) = v.as_str()
                && let Err(e) = label_value(v)
            {
                push(out, &path, format!("invalid label value {v:?}: {e}"));
            }
        }
    }
    if let Some(annotations) = meta.get("annotations").and_then(Value::as_object) {
        let mut total = 0;
        for (k, v) in annotations {
            if let Err(e) = qualified_name(&k.to_ascii_lowercase()) {
                push(out, &metadata("annotations").with_entry(k), format!("invalid annotation key: {e}"));
            }
            total += k.len() + v.as_str().map_or(0, str::len);
        }
        if total > ANNOTATIONS_MAX_BYTES {
            push(
                out,
                "metadata.annotations",
                format!("annotations total {total} bytes, must have at most {ANNOTATIONS_MAX_BYTES}"),
            );
        }
    }
}

fn is_lower_alnum(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// A DNS-1123 label: at most 63 lower-case alphanumerics or '-', starting and ending with an
/// alphanumeric.
pub(crate) fn dns1123_label(s: &str) -> Result<(), String> {
    let shape_ok = !s.is_empty()
        && s.chars().all(|c| is_lower_alnum(c) || c == '-')
        && s.starts_with(is_lower_alnum)
        && s.ends_with(is_lower_alnum);
    if !shape_ok {
        return Err(format!(
            "{s:?} is not a valid RFC 1123 label: use lower-case alphanumerics and '-', \
             starting and ending with an alphanumeric"
        ));
    }
    if s.len() > 63 {
        return Err(format!("{s:?} is longer than 63 characters"));
    }
    Ok(())
}

/// A DNS-1123 subdomain: at most 253 characters; dot-separated parts of lower-case
/// alphanumerics or '-', each starting and ending with an alphanumeric.
pub(crate) fn dns1123_subdomain(s: &str) -> Result<(), String> {
    let shape_ok = !s.is_empty()
        && s.split('.').all(|part| {
            !part.is_empty()
                && part.chars().all(|c| is_lower_alnum(c) || c == '-')
                && part.starts_with(is_lower_alnum)
                && part.ends_with(is_lower_alnum)
        });
    if !shape_ok {
        return Err(format!(
            "{s:?} is not a valid RFC 1123 subdomain: use lower-case alphanumerics, '-' and \
             '.', starting and ending with an alphanumeric"
        ));
    }
    if s.len() > 253 {
        return Err(format!("{s:?} is longer than 253 characters"));
    }
    Ok(())
}

/// The name part of a qualified name or a non-empty label value: at most 63 characters,
/// alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric.
fn name_part(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !ok {
        return Err(format!(
            "{s:?} must consist of alphanumerics, '-', '_' or '.', and start and end with an \
             alphanumeric"
        ));
    }
    if s.len() > 63 {
        return Err(format!("{s:?} is longer than 63 characters"));
    }
    Ok(())
}

/// A qualified name (`[prefix/]name`, prefix a DNS-1123 subdomain), as label and
/// annotation keys must be.
fn qualified_name(s: &str) -> Result<(), String> {
    match s.split_once('/') {
        Some((prefix, name)) => {
            dns1123_subdomain(prefix).map_err(|e| format!("prefix: {e}"))?;
            name_part(name)
        }
        None => name_part(s),
    }
}

/// A label value: empty, or a valid name part.
fn label_value(s: &str) -> Result<(), String> {
    if s.is_empty() { Ok(()) } else { name_part(s) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(meta: Value) -> Vec<String> {
        let mut out = Vec::new();
        validate(Some(&meta), &mut out);
        out.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn names_and_labels() {
        assert!(
            check(json!({"name": "reviews.v1", "namespace": "bookinfo",
            "labels": {"app.kubernetes.io/name": "x", "empty": ""},
            "annotations": {"Example.com/Note": "anything at all"},
            "creationTimestamp": null}))
            .is_empty()
        );
        let errs = check(json!({"name": "Reviews", "namespace": "a.b",
            "labels": {"app": "-bad", "/x": "y", "ok": 3}, "nme": "x"}));
        for want in [
            "metadata.name:",
            "metadata.namespace:",
            "metadata.labels[app]: invalid label value",
            "metadata.labels[/x]: invalid label key",
            "metadata.labels: must be a map",
            "metadata.nme: unknown field",
        ] {
            assert!(errs.iter().any(|e| e.starts_with(want)), "{want} not in {errs:#?}");
        }
        assert_eq!(check(json!({"namespace": "x"})), ["metadata.name: required field is missing"]);
        assert!(dns1123_subdomain(&"a".repeat(254)).is_err());
        assert!(dns1123_label(&"a".repeat(64)).is_err());
    }
}
