//! Entities' `patches` applied to the objects they render (see `model::patch`).
//!
//! A patch names one object of its entity: by kind, and by name or else the entity's own
//! object of that kind ([`resolve`]). The rendered text is parsed, the patches are applied in
//! order, and the result is written again through [`filters`](super::filters) (so no patched
//! value can change the structure of the output) and checked: meshgen's own structural
//! checks always (identity, top-level fields, metadata, [`fidelity`](super::fidelity)), and
//! the CRD schemas and CEL rules when CRDs are configured. Problems point at the patch.
//!
//! [`check`] does all of this, with diagnostics, before anything is rendered (a streamed
//! build cannot stop halfway); `Targets` then applies the same patches while rendering.

use std::collections::HashMap;

use anyhow::Result;
use serde_json::Value;

use super::{Kind, Manifest, Templates};
use crate::crd::CrdSet;
use crate::diag::suggest::did_you_mean;
use crate::diag::{Diagnostic, Diagnostics, Origin};
use crate::graph::MeshGraph;
use crate::jsonpatch::{self, Pointer};
use crate::model::Inventory;
use crate::model::patch::{Change, PROTECTED, Patch};

/// Which of an entity's objects (`objects`: kind and name of each) `patch` applies to: its
/// index, or the finding that it names none.
pub fn resolve(patch: &Patch, entity: &str, objects: &[(Kind, &str)]) -> std::result::Result<usize, Box<Diagnostic>> {
    let at = patch.origin.child("target");
    let produced = || {
        let list: Vec<String> = objects.iter().map(|(k, n)| format!("{} `{n}`", k.as_str())).collect();
        format!("`{entity}` generates {}", if list.is_empty() { "nothing".to_string() } else { list.join(", ") })
    };
    let Some(kind) = Kind::ALL.into_iter().find(|k| k.as_str() == patch.kind) else {
        let help = match did_you_mean(&patch.kind, Kind::ALL.iter().map(|k| k.as_str())) {
            Some(s) => format!("did you mean `{s}`?"),
            None => produced(),
        };
        let d = Diagnostic::error(
            "unknown-patch-target",
            at.child("kind"),
            format!("meshgen generates no kind `{}`", patch.kind),
        );
        return Err(Box::new(d.help(help)));
    };
    let same: Vec<(usize, &str)> =
        objects.iter().enumerate().filter(|(_, (k, _))| *k == kind).map(|(i, (_, n))| (i, *n)).collect();
    let kind_name = kind.as_str();
    match &patch.name {
        Some(name) => {
            if let Some((i, _)) = same.iter().find(|(_, n)| n == name) {
                return Ok(*i);
            }
            // The exact name of another kind says more than a name that is merely close.
            let help = if let Some((k, _)) = objects.iter().find(|(_, n)| n == name) {
                format!("`{name}` is a {}: did you mean `kind: {}`?", k.as_str(), k.as_str())
            } else if let Some(s) = did_you_mean(name, same.iter().map(|(_, n)| *n)) {
                format!("did you mean `{s}`?")
            } else {
                produced()
            };
            let d = Diagnostic::error(
                "unknown-patch-target",
                at.child("name"),
                format!("`{entity}` generates no {kind_name} `{name}`"),
            );
            Err(Box::new(d.help(help)))
        }
        None => {
            if let Some((i, _)) = same.iter().find(|(_, n)| *n == entity) {
                return Ok(*i);
            }
            match same[..] {
                [(i, _)] => Ok(i),
                [] => {
                    let d = Diagnostic::error(
                        "unknown-patch-target",
                        at.child("kind"),
                        format!("`{entity}` generates no {kind_name}"),
                    );
                    Err(Box::new(d.help(produced())))
                }
                _ => {
                    let names: Vec<String> = same.iter().map(|(_, n)| format!("`{n}`")).collect();
                    let d = Diagnostic::error(
                        "unknown-patch-target",
                        at.clone().key(),
                        format!("`{entity}` generates more than one {kind_name}: say which with `name`"),
                    );
                    Err(Box::new(d.help(format!("one of {}", names.join(", ")))))
                }
            }
        }
    }
}

/// The patches of an entity by the object they apply to (index into `objects`), in the
/// order they apply; patches that name no object are left out ([`check`] reports them).
pub fn by_object<'p>(patches: &'p [Patch], entity: &str, objects: &[(Kind, &str)]) -> Vec<(usize, Vec<&'p Patch>)> {
    let mut out: Vec<(usize, Vec<&Patch>)> = Vec::new();
    for p in patches {
        let Ok(i) = resolve(p, entity, objects) else { continue };
        match out.iter_mut().find(|(j, _)| *j == i) {
            Some((_, list)) => list.push(p),
            None => out.push((i, vec![p])),
        }
    }
    out.sort_by_key(|(i, _)| *i);
    out
}

/// The positions (in the entity order of `context::objects_in`) and patches of the
/// entities that have patches.
fn patched_entities(inv: &Inventory) -> Vec<(usize, &str, &[Patch])> {
    if inv.patches.is_empty() {
        return Vec::new();
    }
    let names = inv.services.iter().map(|s| s.name.as_str()).chain(inv.externals.iter().map(|e| e.name.as_str()));
    names.enumerate().filter_map(|(i, n)| Some((i, n, inv.patches.get(n)?.as_slice()))).collect()
}

/// The kind, name and patches of each patched object of one entity.
type Patched<'a> = Vec<(Kind, String, Vec<&'a Patch>)>;

/// The patches of every patched object, for applying them while rendering.
#[derive(Debug, Default)]
pub(super) struct Targets<'a> {
    /// Entity → its patched objects.
    by_entity: HashMap<&'a str, Patched<'a>>,
}

impl<'a> Targets<'a> {
    /// Finds the object each patch applies to (from the objects' identities only).
    pub(super) fn new(inv: &'a Inventory, graph: &MeshGraph) -> Targets<'a> {
        let mut by_entity = HashMap::new();
        for (i, entity, patches) in patched_entities(inv) {
            let objects = super::context::identities_in(inv, graph, i..i + 1);
            let ids: Vec<(Kind, &str)> = objects.iter().map(|o| (o.kind, &*o.name)).collect();
            let list = by_object(patches, entity, &ids)
                .into_iter()
                .map(|(j, ps)| (objects[j].kind, objects[j].name.to_string(), ps))
                .collect();
            by_entity.insert(entity, list);
        }
        Targets { by_entity }
    }

    /// The manifest with its patches applied (as it is, when it has none). A failure here
    /// is a bug: [`check`] has reported every problem before anything is rendered.
    pub(super) fn apply(&self, m: Manifest) -> Result<Manifest> {
        if self.by_entity.is_empty() {
            return Ok(m);
        }
        let Some(patches) = self
            .by_entity
            .get(&*m.entity)
            .and_then(|list| list.iter().find(|(k, n, _)| *k == m.kind && *n == *m.name).map(|(_, _, ps)| ps))
        else {
            return Ok(m);
        };
        let text = patched(&m, patches, None).map_err(|found| {
            let why = found.first().map_or_else(String::new, |d| d.message.clone());
            anyhow::anyhow!("patching {} `{}/{}` failed: {why}", m.kind.as_str(), m.namespace, m.name)
        })?;
        Ok(Manifest { text: text.into_boxed_str(), ..m })
    }
}

/// Applies and checks every patch of the inventory, reporting each problem at the patch: a
/// target the entity does not generate, a failing JSON patch operation, a result that
/// meshgen's own checks or (with `crds`) the CRDs refuse.
pub fn check(
    inv: &Inventory,
    graph: &MeshGraph,
    templates: &Templates,
    crds: Option<&CrdSet>,
    diags: &mut Diagnostics,
) -> Result<()> {
    let api = inv.project.api_version;
    for (i, entity, patches) in patched_entities(inv) {
        let objects = super::context::objects_in(inv, graph, i..i + 1);
        let ids: Vec<(Kind, &str)> = objects.iter().map(|o| (o.kind, o.name.as_str())).collect();
        for p in patches {
            if let Err(d) = resolve(p, entity, &ids) {
                diags.push(*d);
            }
        }
        for (j, ps) in by_object(patches, entity, &ids) {
            let m = super::render_one(objects[j].clone(), templates, api)?;
            if let Err(found) = patched(&m, &ps, crds) {
                found.into_iter().for_each(|d| diags.push(d));
            }
        }
    }
    Ok(())
}

/// `m`'s text with `patches` applied, written out again and checked; or what is wrong,
/// each at the patch (or operation) to blame.
fn patched(m: &Manifest, patches: &[&Patch], crds: Option<&CrdSet>) -> std::result::Result<String, Vec<Diagnostic>> {
    let what = format!("{} `{}/{}`", m.kind.as_str(), m.namespace, m.name);
    let original: Value = crate::yaml::from_str(&m.text).map_err(|e| {
        let at = patches[0].origin.clone();
        vec![Diagnostic::error("patch-invalid-result", at, format!("{what} cannot be read back to be patched: {e}"))]
    })?;
    let mut doc = original.clone();
    for p in patches {
        match &p.change {
            Change::Merge(v) => jsonpatch::merge(&mut doc, v),
            Change::Json(ops) => {
                let only: Vec<jsonpatch::Op> = ops.iter().map(|(op, _)| op.clone()).collect();
                if let Err((i, why)) = jsonpatch::apply(&mut doc, &only) {
                    let (op, at) = &ops[i];
                    return Err(vec![
                        Diagnostic::error(
                            "patch-op-failed",
                            at.child("path"),
                            format!("`{}` on {what} failed: {why}", op.name()),
                        )
                        .help("the path is in the object as meshgen renders it (after the earlier patches): see it with `meshgen build --stdout`; `-` appends to an array"),
                    ]);
                }
            }
        }
    }
    let text = crate::yaml::to_string(&doc);

    let problem = |code: &'static str, path: &[String], message: String, help: &str| {
        // A problem with a key (an unexpected field, a bad label key) points at the key.
        let key = message.starts_with("unexpected") || message.contains(" key");
        let at = blame(patches, path);
        let at = if key { at.key() } else { at };
        Diagnostic::error(code, at, format!("{what} after patching: {message}")).help(help)
    };
    let mut found = Vec::new();
    for p in PROTECTED {
        let ptr = Pointer::from_tokens(p.iter().copied()).to_string();
        if original.pointer(&ptr) != doc.pointer(&ptr) {
            let tokens: Vec<String> = p.iter().map(|s| s.to_string()).collect();
            let message = format!("`{}` changed", p.join("."));
            found.push(problem(
                "patch-protected-field",
                &tokens,
                message,
                "patches may not change what meshgen decides",
            ));
        }
    }
    if !found.is_empty() {
        return Err(found);
    }
    const HELP: &str =
        "the patched object must be one Istio accepts and that means what the inventory says; fix or remove the patch";
    let extra = doc
        .as_object()
        .and_then(|o| o.keys().find(|k| !matches!(k.as_str(), "apiVersion" | "kind" | "metadata" | "spec")));
    if let Some(k) = extra {
        let help = "an Istio object has only `apiVersion`, `kind`, `metadata` and `spec`";
        found.push(problem(
            "patch-invalid-result",
            std::slice::from_ref(k),
            format!("unexpected top-level field `{k}`"),
            help,
        ));
    } else if !doc["spec"].is_object() {
        found.push(problem("patch-invalid-result", &["spec".to_string()], "`spec` is not a mapping".into(), HELP));
    } else if m.kind == Kind::DestinationRule {
        for e in super::fidelity::destination_rule(&doc["spec"]) {
            // Each problem starts with the place in `spec` it is about.
            let mut path = vec!["spec".to_string()];
            path.extend(e.split('`').nth(1).map(field_path).unwrap_or_default());
            found.push(problem("patch-invalid-result", &path, e, HELP));
        }
    }
    // The writer is proven safe by test; a patched object is read back all the same, since
    // patches put arbitrary shapes through it.
    if crate::yaml::from_str::<Value>(&text).ok().as_ref() != Some(&doc) {
        let message = "it cannot be written out faithfully (a meshgen bug: please report it)".to_string();
        found.push(problem("patch-invalid-result", &[], message, HELP));
    }
    // What the API server checks of any object, and the CRD's schema and rules: only what
    // the patches brought in (the rendered object is meshgen's responsibility).
    let (before, after) = match crds {
        Some(c) => (c.validate(&original), c.validate(&doc)),
        None => {
            let meta = crate::crd::validate_metadata;
            (meta(original.get("metadata")), meta(doc.get("metadata")))
        }
    };
    let help =
        if crds.is_some() { "the CRDs (`istio.crds` or `--crds`) refuse it, as the API server would" } else { HELP };
    for v in after.into_iter().filter(|v| !before.contains(v)) {
        found.push(problem("patch-invalid-result", &field_path(&v.path), v.to_string(), help));
    }
    if found.is_empty() { Ok(text) } else { Err(found) }
}

/// Where to report a problem at `path` (JSON tokens) of a patched object: in the latest
/// patch that wrote there, the place that wrote `path` itself, else the shallowest place
/// inside it, else the deepest above it; the last patch when none wrote there (or the
/// problem has no place).
fn blame(patches: &[&Patch], path: &[String]) -> Origin {
    for p in patches.iter().rev() {
        let related = |w: &Pointer| {
            let t = w.tokens();
            !path.is_empty() && (t.starts_with(path) || path.starts_with(t))
        };
        // The problem's own place first; then inside it, the shallower the better; then
        // above it, the deeper the better.
        let best = p.writes().into_iter().filter(|(w, _)| related(w)).max_by_key(|(w, _)| {
            let n = w.tokens().len();
            match n.cmp(&path.len()) {
                std::cmp::Ordering::Equal => (2, 0),
                std::cmp::Ordering::Greater => (1, usize::MAX - n),
                std::cmp::Ordering::Less => (0, n),
            }
        });
        if let Some((_, at)) = best {
            return at;
        }
    }
    patches.last().map(|p| p.origin.clone()).unwrap_or_else(|| Origin::new(&crate::model::file_name(""), 0, ""))
}

/// The tokens of a Kubernetes field path as the validators write it: `spec.a[0].b`,
/// `metadata.labels[app.kubernetes.io/name]`.
fn field_path(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').unwrap_or(r.len());
            out.push(r[..end].to_string());
            rest = r.get(end + 1..).unwrap_or("");
        } else {
            let r = rest.strip_prefix('.').unwrap_or(rest);
            let end = r.find(['.', '[']).unwrap_or(r.len());
            out.push(r[..end].to_string());
            rest = &r[end..];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_paths_split_into_tokens() {
        assert_eq!(field_path("spec.a[0].b"), ["spec", "a", "0", "b"]);
        assert_eq!(
            field_path("metadata.labels[app.kubernetes.io/name]"),
            ["metadata", "labels", "app.kubernetes.io/name"]
        );
        assert!(field_path("").is_empty());
    }

    /// The model refuses patches of what render sets: the same label and annotation.
    #[test]
    fn the_protected_label_and_annotation_are_the_ones_render_sets() {
        let label = ["metadata", "labels", super::super::context::MANAGED_BY.0];
        let annotation = ["metadata", "annotations", super::super::context::SOURCE_ANNOTATION];
        assert!(PROTECTED.contains(&&label[..]));
        assert!(PROTECTED.contains(&&annotation[..]));
    }
}
