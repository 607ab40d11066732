//! `patches`: the escape hatch for what the inventory language does not say. Each entry
//! names one object the entity generates and changes it after rendering, with a JSON merge
//! patch (RFC 7386, `merge`) or a JSON patch (RFC 6902, `json`).
//!
//! Here a patch is read and checked on its own: its shape, its JSON Pointers, and that it
//! leaves alone what meshgen owns ([`PROTECTED`]). Which object it names, and whether the
//! patched object is still valid, is known only once the objects exist (`render::patch`).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value as Json};

use crate::diag::suggest::did_you_mean;
use crate::diag::{Diagnostic, Diagnostics, Origin};
use crate::jsonpatch::{OP_NAMES, Op, Pointer};

/// What meshgen decides for every object and no patch may change: the identity (`apiVersion`,
/// `kind`, `metadata.name`, `metadata.namespace`) and meshgen's own label and annotation,
/// which mark the object as meshgen's and trace it to the inventory.
pub const PROTECTED: [&[&str]; 6] = [
    &["apiVersion"],
    &["kind"],
    &["metadata", "name"],
    &["metadata", "namespace"],
    &["metadata", "labels", "app.kubernetes.io/managed-by"],
    &["metadata", "annotations", "meshgen.dev/source"],
];

/// One entry of `patches` as written.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "ObjectPatch")]
pub struct RawPatch {
    /// The object to patch.
    pub target: RawTarget,
    /// A JSON merge patch (RFC 7386).
    #[serde(default, deserialize_with = "present")]
    pub merge: Option<Json>,
    /// A JSON patch (RFC 6902): operations applied in order.
    pub json: Option<Vec<RawOp>>,
}

/// The object a patch applies to.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "PatchTarget")]
pub struct RawTarget {
    /// Its kind (`DestinationRule`).
    #[schemars(extend("examples" = ["DestinationRule", "VirtualService", "ServiceEntry"]))]
    pub kind: String,
    /// Its `metadata.name` (default: the entity's own object of that kind).
    pub name: Option<String>,
}

/// One JSON patch operation as written.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "JsonPatchOperation")]
pub struct RawOp {
    /// `add`, `remove`, `replace`, `move`, `copy` or `test`.
    #[schemars(extend("examples" = ["add", "replace", "remove"]))]
    pub op: String,
    /// JSON Pointer of the target location.
    #[schemars(extend("examples" = ["/spec/trafficPolicy/tls"]))]
    pub path: String,
    /// JSON Pointer of the source location (`move`, `copy`).
    pub from: Option<String>,
    /// The value (`add`, `replace`, `test`); `null` is a value.
    #[serde(default, deserialize_with = "present")]
    pub value: Option<Json>,
}

/// A field that may hold `null`: present (even as `null`) is `Some`, absent is `None`.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Json>, D::Error> {
    Json::deserialize(d).map(Some)
}

/// A checked patch of one entity.
#[derive(Debug, Clone, PartialEq)]
pub struct Patch {
    /// The kind of the object it changes, as written (render knows the kinds).
    pub kind: String,
    /// The object's name, when written.
    pub name: Option<String>,
    /// What it does.
    pub change: Change,
    /// Where it is written (`services.<name>.patches[i]`).
    pub origin: Origin,
}

/// What a patch does.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A JSON merge patch: a mapping (keys sorted, so that their order in the file never
    /// shows in the output).
    Merge(Json),
    /// JSON patch operations, each with where it is written.
    Json(Vec<(Op, Origin)>),
}

impl Patch {
    /// The locations it writes, as JSON Pointers, each with where the inventory says so:
    /// every member of a merge patch, the path (and a move's source) of each operation.
    pub fn writes(&self) -> Vec<(Pointer, Origin)> {
        let mut out = Vec::new();
        match &self.change {
            Change::Merge(doc) => members(doc, &mut Vec::new(), &self.origin.child("merge"), &mut out),
            Change::Json(ops) => {
                for (op, at) in ops {
                    if let Op::Move { from, .. } = op {
                        out.push((from.clone(), at.child("from")));
                    }
                    if !matches!(op, Op::Test { .. }) {
                        out.push((op.path().clone(), at.child("path")));
                    }
                }
            }
        }
        out
    }

    /// In a few words: what a merge sets (`merge: /spec/x, /metadata/labels/a`) or the
    /// operations (`json: add /spec/x, copy /a to /b`).
    pub fn summary(&self) -> String {
        match &self.change {
            Change::Merge(doc) => {
                let mut all = Vec::new();
                members(doc, &mut Vec::new(), &self.origin, &mut all);
                // The leaves: what it sets or removes (a mapping above them only holds them).
                let leaves: Vec<String> = all
                    .iter()
                    .filter(|(p, _)| !all.iter().any(|(q, _)| q != p && p.contains(q)))
                    .map(|(p, _)| p.to_string())
                    .collect();
                format!("merge: {}", leaves.join(", "))
            }
            Change::Json(ops) => {
                let list: Vec<String> = ops
                    .iter()
                    .map(|(op, _)| match op.from() {
                        Some(from) => format!("{} {from} to {}", op.name(), op.path()),
                        None => format!("{} {}", op.name(), op.path()),
                    })
                    .collect();
                format!("json: {}", list.join(", "))
            }
        }
    }
}

/// Every member of a merge patch, depth first.
fn members(v: &Json, at: &mut Vec<String>, origin: &Origin, out: &mut Vec<(Pointer, Origin)>) {
    let Json::Object(m) = v else { return };
    for (k, child) in m {
        at.push(k.clone());
        let o = origin.child(k);
        out.push((Pointer::from_tokens(at.iter().cloned()), o.clone()));
        members(child, at, &o, out);
        at.pop();
    }
}

/// Checks an entity's `patches` (at `origin`, the entity).
pub fn build(raw: Vec<RawPatch>, origin: &Origin, diags: &mut Diagnostics) -> Vec<Patch> {
    let mut out = Vec::with_capacity(raw.len());
    for (i, r) in raw.into_iter().enumerate() {
        let at = origin.child("patches").index(i);
        let change = match (r.merge, r.json) {
            (Some(m), None) => merge_patch(&m, &at.child("merge"), diags).map(Change::Merge),
            (None, Some(ops)) => json_patch(ops, &at.child("json"), diags).map(Change::Json),
            (None, None) => {
                diags.push(
                    Diagnostic::error("missing-field", at.clone(), "a patch needs `merge` or `json`")
                        .help("`merge: {...}` for a JSON merge patch, `json: [{op, path, value}]` for a JSON patch"),
                );
                None
            }
            (Some(_), Some(_)) => {
                diags.push(
                    Diagnostic::error(
                        "invalid-value",
                        at.child("json").key(),
                        "a patch has `merge` or `json`, not both",
                    )
                    .help("write two patches of the same target; they apply in order"),
                );
                None
            }
        };
        if let Some(change) = change {
            out.push(Patch { kind: r.target.kind, name: r.target.name, change, origin: at });
        }
    }
    out
}

const PROTECTED_HELP: &str = "meshgen decides `apiVersion`, `kind`, `metadata.name` and `metadata.namespace`, and sets the label `app.kubernetes.io/managed-by` and the annotation `meshgen.dev/source`; rename the entity or change its `namespace` instead, and patch other labels and annotations one by one";

/// The protected path that `tokens` is or holds, if any.
fn protected(tokens: &[String]) -> Option<&'static [&'static str]> {
    PROTECTED.iter().copied().find(|p| p.len() >= tokens.len() && p.iter().zip(tokens).all(|(a, b)| a == b))
}

/// The message for a write of `tokens`, which is or holds `p`.
fn protected_message(tokens: &[String], p: &[&str]) -> String {
    if tokens.len() == p.len() {
        format!("a patch cannot change `{}`", p.join("."))
    } else if tokens.is_empty() {
        "a patch cannot replace the whole object".to_string()
    } else {
        format!("a patch cannot replace `{}` whole: it holds `{}`", tokens.join("."), p.join("."))
    }
}

fn protected_error(at: Origin, tokens: &[String], p: &[&str]) -> Diagnostic {
    Diagnostic::error("patch-protected-field", at, protected_message(tokens, p)).help(PROTECTED_HELP)
}

fn merge_patch(v: &Json, at: &Origin, diags: &mut Diagnostics) -> Option<Json> {
    let doc = sorted(v);
    if !doc.is_object() {
        diags
            .push(Diagnostic::error("invalid-type", at.clone(), "a merge patch must be a mapping").help(
                "anything else would replace the whole object; write the fields to change, e.g. `{spec: {...}}`",
            ));
        return None;
    }
    let before = diags.counts().0;
    check_merge(&doc, &mut Vec::new(), at, diags);
    (diags.counts().0 == before).then_some(doc)
}

/// Reports the members of a merge patch that set a protected field, or replace or remove a
/// mapping that holds one.
fn check_merge(v: &Json, tokens: &mut Vec<String>, at: &Origin, diags: &mut Diagnostics) {
    let Json::Object(m) = v else { return };
    for (k, child) in m {
        tokens.push(k.clone());
        let here = at.child(k);
        match protected(tokens) {
            Some(p) if p.len() == tokens.len() => diags.push(protected_error(here.key(), tokens, p)),
            Some(p) if !child.is_object() => diags.push(protected_error(here, tokens, p)),
            _ => check_merge(child, tokens, &here, diags),
        }
        tokens.pop();
    }
}

fn json_patch(raw: Vec<RawOp>, at: &Origin, diags: &mut Diagnostics) -> Option<Vec<(Op, Origin)>> {
    let mut ops = Vec::with_capacity(raw.len());
    let mut ok = true;
    for (i, r) in raw.into_iter().enumerate() {
        match json_op(r, &at.index(i), diags) {
            Some(op) => ops.push((op, at.index(i))),
            None => ok = false,
        }
    }
    ok.then_some(ops)
}

fn json_op(r: RawOp, at: &Origin, diags: &mut Diagnostics) -> Option<Op> {
    let before = diags.counts().0;
    let name = OP_NAMES.iter().copied().find(|n| *n == r.op);
    if name.is_none() {
        let help = match did_you_mean(&r.op, OP_NAMES) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!("one of {}", OP_NAMES.map(|n| format!("`{n}`")).join(", ")),
        };
        diags.push(
            Diagnostic::error("invalid-value", at.child("op"), format!("unknown JSON patch operation `{}`", r.op))
                .help(help),
        );
    }
    let pointer = |s: &str, field: &str, diags: &mut Diagnostics| match Pointer::parse(s) {
        Ok(p) => Some(p),
        Err(e) => {
            diags.push(Diagnostic::error("invalid-value", at.child(field), e).help(
                "a JSON Pointer is `/`-separated: `/spec/http/0/timeout`; write `~1` for a `/` in a key and `~0` for a `~`; `-` appends to an array",
            ));
            None
        }
    };
    let path = pointer(&r.path, "path", diags);
    let from = member(&FROM, name, r.from.as_ref(), at, diags, |f, diags| pointer(f, "from", diags));
    let value = member(&VALUE, name, r.value.as_ref(), at, diags, |v, _| Some(sorted(v)));
    if diags.counts().0 > before {
        return None;
    }
    let (path, value) = (path?, value.unwrap_or(Json::Null));
    let op = match name? {
        "add" => Op::Add { path, value },
        "remove" => Op::Remove { path },
        "replace" => Op::Replace { path, value },
        "move" => Op::Move { from: from?, path },
        "copy" => Op::Copy { from: from?, path },
        _ => Op::Test { path, value },
    };
    if let Op::Move { from, path } = &op
        && from != path
        && from.contains(path)
    {
        diags.push(
            Diagnostic::error("invalid-value", at.child("from"), format!("`{from}` cannot be moved into itself"))
                .help("`path` must not lie inside `from`"),
        );
        return None;
    }
    for (p, field) in
        op.writes().into_iter().zip(if matches!(op, Op::Move { .. }) { ["from", "path"] } else { ["path", "path"] })
    {
        if let Some(prot) = protected(p.tokens()) {
            diags.push(protected_error(at.child(field), p.tokens(), prot));
            return None;
        }
    }
    Some(op)
}

/// An operation's member that only some operations take (`from`, `value`).
struct Member {
    name: &'static str,
    /// The operations that take it, and need it.
    ops: &'static [&'static str],
    /// Help when it is missing.
    missing: &'static str,
    /// Help when an operation that takes none has it.
    refused: &'static str,
}

const FROM: Member = Member {
    name: "from",
    ops: &["move", "copy"],
    missing: "`from` is the JSON Pointer of the value to move or copy",
    refused: "only `move` and `copy` have a source; remove `from`",
};

const VALUE: Member = Member {
    name: "value",
    ops: &["add", "replace", "test"],
    missing: "write `value: ...` (`null` is a value)",
    refused: "only `add`, `replace` and `test` have a value; remove it",
};

/// Reads member `m` of an operation named `op` (`None` when unknown, already reported):
/// required where the operation takes it, refused where it does not.
fn member<T, U>(
    m: &Member,
    op: Option<&str>,
    written: Option<&T>,
    at: &Origin,
    diags: &mut Diagnostics,
    read: impl FnOnce(&T, &mut Diagnostics) -> Option<U>,
) -> Option<U> {
    let op = op?;
    match (written, m.ops.contains(&op)) {
        (Some(v), true) => read(v, diags),
        (None, true) => {
            let message = format!("`{op}` needs `{}`", m.name);
            diags.push(Diagnostic::error("missing-field", at.clone(), message).help(m.missing));
            None
        }
        (Some(_), false) => {
            let message = format!("`{op}` takes no `{}`", m.name);
            diags.push(Diagnostic::error("invalid-value", at.child(m.name).key(), message).help(m.refused));
            None
        }
        (None, false) => None,
    }
}

/// A patch value with its mapping keys sorted, recursively: their order in the file must not
/// show in the output. (What JSON cannot hold, such as tags, keys that are not strings or
/// non-finite numbers, the YAML reader has already refused.)
fn sorted(v: &Json) -> Json {
    match v {
        Json::Array(items) => Json::Array(items.iter().map(sorted).collect()),
        Json::Object(m) => {
            let by_key: BTreeMap<&String, Json> = m.iter().map(|(k, v)| (k, sorted(v))).collect();
            Json::Object(by_key.into_iter().map(|(k, v)| (k.clone(), v)).collect::<Map<String, Json>>())
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(yaml: &str) -> (Vec<Patch>, Vec<(String, String, String)>) {
        let raw: Vec<RawPatch> = crate::yaml::from_str(yaml).unwrap();
        let mut diags = Diagnostics::default();
        let origin = Origin::new(&crate::model::file_name("a.yaml"), 0, "services.web");
        let patches = build(raw, &origin, &mut diags);
        let found = diags
            .sorted()
            .into_iter()
            .map(|d| (d.code.to_string(), d.origin.path.to_string(), d.message.clone()))
            .collect();
        (patches, found)
    }

    #[test]
    fn protected_fields_are_refused_where_they_are_written() {
        let (ok, found) = check(
            r#"
- target: {kind: DestinationRule}
  merge: {metadata: {name: x, labels: {team: a, app.kubernetes.io/managed-by: me}}, kind: Secret}
- target: {kind: DestinationRule}
  merge: {metadata: {annotations: null}}
- target: {kind: DestinationRule}
  json:
    - {op: replace, path: /metadata/namespace, value: other}
    - {op: remove, path: /metadata/labels}
    - {op: add, path: /metadata/labels/app.kubernetes.io~1managed-by, value: x}
    - {op: move, from: /apiVersion, path: /spec/x}
    - {op: add, path: "", value: {}}
- target: {kind: DestinationRule}
  json:
    - {op: test, path: /metadata/name, value: web}
    - {op: copy, from: /metadata/name, path: /metadata/labels/name}
    - {op: add, path: /metadata/labels/team, value: a}
  "#,
        );
        let codes: Vec<(&str, &str)> = found.iter().map(|(c, p, _)| (c.as_str(), p.as_str())).collect();
        assert_eq!(
            codes,
            [
                ("patch-protected-field", "services.web.patches[0].merge.kind"),
                ("patch-protected-field", "services.web.patches[0].merge.metadata.labels.app.kubernetes.io/managed-by"),
                ("patch-protected-field", "services.web.patches[0].merge.metadata.name"),
                ("patch-protected-field", "services.web.patches[1].merge.metadata.annotations"),
                ("patch-protected-field", "services.web.patches[2].json[0].path"),
                ("patch-protected-field", "services.web.patches[2].json[1].path"),
                ("patch-protected-field", "services.web.patches[2].json[2].path"),
                ("patch-protected-field", "services.web.patches[2].json[3].from"),
                ("patch-protected-field", "services.web.patches[2].json[4].path"),
            ]
        );
        assert!(found[3].2.contains("`metadata.annotations` whole"), "{found:?}");
        assert_eq!(ok.len(), 1, "reading and testing them is fine: {found:?}");
    }

    #[test]
    fn shapes_and_pointers_are_checked() {
        let (_, found) = check(
            r#"
- target: {kind: DestinationRule}
- target: {kind: DestinationRule}
  merge: [1]
- target: {kind: DestinationRule}
  merge: {}
  json: []
- target: {kind: DestinationRule}
  json:
    - {op: ad, path: /spec}
    - {op: add, path: spec, value: 1}
    - {op: add, path: /a~2}
    - {op: move, path: /a}
    - {op: remove, path: /a, value: 1}
    - {op: move, from: /spec, path: /spec/x}
  "#,
        );
        let got: Vec<(&str, &str)> = found.iter().map(|(c, p, _)| (c.as_str(), p.as_str())).collect();
        assert_eq!(
            got,
            [
                ("missing-field", "services.web.patches[0]"),
                ("invalid-type", "services.web.patches[1].merge"),
                ("invalid-value", "services.web.patches[2].json"),
                ("invalid-value", "services.web.patches[3].json[0].op"),
                ("invalid-value", "services.web.patches[3].json[1].path"),
                ("missing-field", "services.web.patches[3].json[2]"),
                ("invalid-value", "services.web.patches[3].json[2].path"),
                ("missing-field", "services.web.patches[3].json[3]"),
                ("invalid-value", "services.web.patches[3].json[4].value"),
                ("invalid-value", "services.web.patches[3].json[5].from"),
            ]
        );
        assert!(found[3].2.contains("`ad`"), "{found:?}");
    }

    #[test]
    fn values_become_json_with_sorted_keys_and_null_kept() {
        let (p, found) = check(
            r#"
- target: {kind: VirtualService, name: web}
  json:
    - {op: add, path: /spec/x, value: {b: 1, a: [true, null], "80": x}}
    - {op: test, path: /spec/y, value: null}
- target: {kind: DestinationRule}
  merge: {spec: {z: 1, a: null}}
  "#,
        );
        assert!(found.is_empty(), "{found:?}");
        let Change::Json(ops) = &p[0].change else { panic!() };
        assert_eq!(
            ops[0].0,
            Op::Add {
                path: Pointer::parse("/spec/x").unwrap(),
                value: serde_json::json!({"80": "x", "a": [true, null], "b": 1})
            }
        );
        assert_eq!(ops[1].0, Op::Test { path: Pointer::parse("/spec/y").unwrap(), value: Json::Null });
        assert_eq!(p[0].summary(), "json: add /spec/x, test /spec/y");
        assert_eq!(p[1].summary(), "merge: /spec/a, /spec/z");
        let writes: Vec<String> = p[1].writes().iter().map(|(p, o)| format!("{p} {}", o.path)).collect();
        assert_eq!(
            writes,
            [
                "/spec services.web.patches[1].merge.spec",
                "/spec/a services.web.patches[1].merge.spec.a",
                "/spec/z services.web.patches[1].merge.spec.z"
            ]
        );
    }
}
