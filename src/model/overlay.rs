//! Environments and clusters: overlays that patch inventory entities by name, and the trace
//! that sends a diagnostic about a patched value back to the overlay that set it.
//!
//! An overlay document looks like an inventory document (`services:` / `externals:` keyed by
//! entity name); each entry is a *patch* merged over the entity as declared ([`merge`]):
//! mappings merge key by key, lists and scalars replace, `null` removes. Patches apply in
//! layer order: the environment's overlay directories in the order `meshgen.yaml` lists them,
//! then the cluster's. Within one layer (one directory) two patches may not set the same
//! value, so neither the order nor the names of the files in a directory can change a build.
//!
//! The merged entity is validated like any other. Its diagnostics carry the entity's own
//! YAML paths, so [`Trace::retrace`] looks each one up in the patches: the last patch that
//! set the value (or a list or scalar above it) gets the diagnostic, at the same path in the
//! overlay file — an overlay document has the inventory's shape, so the path carries over.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::yaml::{Map, Value};
use schemars::JsonSchema;
use serde::Deserialize;

use super::from_value;
use super::raw::{RawExternal, RawService};
use crate::diag::suggest::did_you_mean;
use crate::diag::{Diagnostic, Diagnostics, Origin, join_path};
use crate::load::Source;
use crate::schema::Partial;

/// Merges `patch` over `base`: mappings merge key by key, recursively; any other value
/// (scalar or list) replaces what was there; a `null` in the patch removes the key.
pub fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    b.remove(k);
                } else if let Some(existing) = b.get_mut(k) {
                    merge(existing, v);
                } else {
                    b.insert(k.clone(), without_nulls(v));
                }
            }
        }
        (b, p) => *b = without_nulls(p),
    }
}

/// A patch value as it is inserted where nothing was: its `null`s remove nothing, so they
/// are dropped (lists are values and stay as written).
fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            Value::Object(m.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), without_nulls(v))).collect())
        }
        other => other.clone(),
    }
}

/// The first path where two patches of one layer both set a value, if they do.
fn overlap(a: &Value, b: &Value, at: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => a.iter().find_map(|(k, va)| {
            let vb = b.get(k)?;
            overlap(va, vb, &join_path(at, k))
        }),
        _ => Some(at.to_string()),
    }
}

/// Whether a patch sets (or removes) the value at `rel` (a path relative to the patched
/// entity): the path leads to a node of the patch, or runs through a list, scalar or `null`
/// the patch put there.
/// The entity itself (`rel` empty) is never covered: it is declared in the inventory.
fn covers(node: &Value, at: &str, rel: &str) -> bool {
    if at == rel {
        return !at.is_empty();
    }
    if !at.is_empty() && !rel.strip_prefix(at).is_some_and(|r| r.starts_with(['.', '['])) {
        return false;
    }
    match node {
        Value::Object(m) => {
            // A `null` counts: the problem is that the overlay removed the value.
            m.iter().any(|(k, v)| covers(v, &join_path(at, k), rel))
        }
        _ => true,
    }
}

/// One overlay directory (or file) of the selected environment or cluster.
#[derive(Debug, Clone)]
pub struct Layer {
    /// What it belongs to, for messages: "environment `prod`".
    pub label: Arc<str>,
    /// Its files, sorted by name.
    pub sources: Vec<Source>,
}

/// One entry of an overlay: the patch of one entity from one overlay file.
#[derive(Debug, Clone)]
pub struct Patch {
    /// `services` or `externals`.
    pub kind: &'static str,
    /// Where it is written (`services.<name>` in the overlay file).
    pub origin: Origin,
    /// Its layer, for messages.
    pub label: Arc<str>,
    /// The fields it sets.
    pub value: Value,
}

/// The patches of a build, by entity name, in the order they apply.
#[derive(Debug, Clone, Default)]
pub struct Overlays {
    patches: BTreeMap<String, Vec<Patch>>,
}

/// An overlay file: patches of the inventory's entities, by kind and name, for one
/// environment or cluster. Mappings merge key by key, lists and scalars replace, `null`
/// removes a field, `enabled: false` leaves the entity out.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Overlay")]
pub(crate) struct RawOverlay {
    /// Patches of services, by name.
    #[schemars(with = "Option<BTreeMap<String, Partial<RawService>>>")]
    services: Option<Map<String, Value>>,
    /// Patches of external APIs, by name.
    #[schemars(with = "Option<BTreeMap<String, Partial<RawExternal>>>")]
    externals: Option<Map<String, Value>>,
}

impl Overlays {
    /// Parses the overlay files of each layer, in layer order. Shape errors, patches that
    /// are not mappings and two patches of one layer setting the same value are reported.
    pub fn parse(layers: &[Layer], diags: &mut Diagnostics) -> Overlays {
        let mut out = Overlays::default();
        for layer in layers {
            // The patches of this layer so far, by entity, to find values set twice.
            let mut this_layer: BTreeMap<String, Vec<usize>> = BTreeMap::new();
            for source in &layer.sources {
                let docs = crate::load::parse_documents(&source.text, &source.name, diags);
                for (i, doc) in docs.iter().enumerate() {
                    if doc.is_null() {
                        continue;
                    }
                    let origin = Origin::new(&source.name, i, "");
                    let Some(raw) = from_value::<RawOverlay>(doc, &origin, diags) else { continue };
                    for (kind, map) in [("services", raw.services), ("externals", raw.externals)] {
                        for (key, value) in map.into_iter().flatten() {
                            let name = key.as_str();
                            let at = origin.child(kind).child(name);
                            if !value.is_object() {
                                diags.push(
                                    Diagnostic::error("invalid-type", at, "a patch must be a mapping of fields")
                                        .help("write the fields to change, e.g. `catalog: {vms: [...]}`; `enabled: false` leaves the entity out"),
                                );
                                continue;
                            }
                            let entity = out.patches.entry(name.to_string()).or_default();
                            let earlier = this_layer.entry(name.to_string()).or_default();
                            let clash = earlier.iter().find_map(|&j| {
                                let p: &Patch = &entity[j];
                                overlap(&p.value, &value, "").map(|path| (p.origin.clone(), path))
                            });
                            if let Some((first, path)) = clash {
                                let both = |o: &Origin| if path.is_empty() { o.clone().key() } else { o.child(&path) };
                                diags.push(
                                    Diagnostic::error(
                                        "overlay-conflict",
                                        both(&at),
                                        format!("`{name}` is patched twice by {} ({})", layer.label, shown(&path)),
                                    )
                                    .related(both(&first), "also set here")
                                    .help("files of one overlay directory apply together, in no order; set each value once, or move one patch to a later overlay directory"),
                                );
                                continue;
                            }
                            earlier.push(entity.len());
                            entity.push(Patch { kind, origin: at, label: layer.label.clone(), value });
                        }
                    }
                }
            }
        }
        out
    }

    /// True when there is nothing to apply.
    pub fn is_empty(&self) -> bool {
        self.patches.is_empty()
    }

    /// Whether an overlay patches the entity `name` of `kind`.
    pub fn patches(&self, kind: &str, name: &str) -> bool {
        self.patches.get(name).is_some_and(|patches| patches.iter().any(|p| p.kind == kind))
    }

    /// The entity `name` of `kind` with every patch of that kind merged over `base`, or
    /// `None` when no overlay patches it.
    pub fn patched(&self, kind: &str, name: &str, base: &Value) -> Option<Value> {
        let patches = self.patches.get(name)?;
        let mut out: Option<Value> = None;
        for p in patches.iter().filter(|p| p.kind == kind) {
            merge(out.get_or_insert_with(|| base.clone()), &p.value);
        }
        out
    }

    /// Reports patches of entities the inventory does not declare (or declares under the
    /// other kind), and records where every applied patch is for [`Trace::retrace`].
    /// `declared` maps each declared name to its declaration (`services.<name>` or
    /// `externals.<name>`).
    pub fn finish(&self, declared: &foldhash::HashMap<String, Origin>, trace: &mut Trace, diags: &mut Diagnostics) {
        for (name, patches) in &self.patches {
            for p in patches {
                let Some(base) = declared.get(name) else {
                    let help = did_you_mean(name, declared.keys().map(String::as_str))
                        .map(|s| format!("did you mean `{s}`?"))
                        .unwrap_or_else(|| {
                            "an overlay changes entities the inventory declares; declare new ones in an `inventory` directory of the environment".to_string()
                        });
                    diags.push(
                        Diagnostic::error(
                            "unknown-overlay-target",
                            p.origin.clone().key(),
                            format!("{} patches `{name}`, which the inventory does not declare", p.label),
                        )
                        .help(help),
                    );
                    continue;
                };
                if !base.path.starts_with(p.kind) {
                    let (is, other) =
                        if p.kind == "services" { ("an external API", "externals") } else { ("a service", "services") };
                    diags.push(
                        Diagnostic::error(
                            "unknown-overlay-target",
                            p.origin.clone().key(),
                            format!("`{name}` is {is}, not one of the {}", p.kind),
                        )
                        .related(base.clone().key(), "declared here")
                        .help(format!("move the patch under `{other}`")),
                    );
                    continue;
                }
                trace.add(base, p.origin.clone(), p.value.clone(), p.label.clone());
            }
        }
    }
}

fn shown(path: &str) -> String {
    if path.is_empty() { "the whole entity".to_string() } else { format!("`{path}`") }
}

/// Takes `enabled` out of an entity's fields: whether the entity is built (default yes).
/// A value that is not a boolean is reported and counts as enabled.
pub fn take_enabled(value: &mut Value, origin: &Origin, diags: &mut Diagnostics) -> bool {
    let Some(m) = value.as_object_mut() else { return true };
    match m.remove("enabled") {
        None | Some(Value::Bool(true)) => true,
        Some(Value::Bool(false)) => false,
        Some(_) => {
            diags.push(
                Diagnostic::error("invalid-type", origin.child("enabled"), "`enabled` must be `true` or `false`")
                    .help("`enabled: false` leaves the entity out of this build"),
            );
            true
        }
    }
}

/// Where each patched value comes from: for a target (an entity, or the project file's
/// root), the patches merged over it, in the order they applied.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    targets: HashMap<(Arc<str>, u32, Box<str>), Vec<Traced>>,
}

#[derive(Debug, Clone)]
struct Traced {
    /// The patch's place: its file, document and the path of the patched node there.
    origin: Origin,
    value: Value,
    label: Arc<str>,
}

/// The first two segments of a YAML path (`services.web` of `services.web.ports.http`):
/// the entity, since entity names are DNS labels and hold no `.`.
fn entity_of(path: &str) -> &str {
    let end = path.match_indices(['.', '[']).nth(1).map_or(path.len(), |(i, _)| i);
    &path[..end]
}

impl Trace {
    /// Records that `value` (written at `origin`) was merged over `target`.
    pub fn add(&mut self, target: &Origin, origin: Origin, value: Value, label: Arc<str>) {
        let key = (target.file.clone(), target.doc, target.path.clone());
        self.targets.entry(key).or_default().push(Traced { origin, value, label });
    }

    /// Adds every record of `other`.
    pub fn extend(&mut self, other: Trace) {
        for (k, v) in other.targets {
            self.targets.entry(k).or_default().extend(v);
        }
    }

    /// The patches over the target `o` lies in, and `o`'s path relative to that target.
    fn target_of<'a, 'o>(&'a self, o: &'o Origin) -> Option<(&'a [Traced], &'o str, bool)> {
        if self.targets.is_empty() {
            return None;
        }
        let entity = entity_of(&o.path);
        for (prefix, is_entity) in [(entity, true), ("", false)] {
            if let Some(layers) = self.targets.get(&(o.file.clone(), o.doc, prefix.into())) {
                let rel = o.path[prefix.len()..].trim_start_matches('.');
                return Some((layers, rel, is_entity));
            }
        }
        None
    }

    /// Where the value at `o` was last set by an overlay, if one set it.
    pub fn locate(&self, o: &Origin) -> Option<Origin> {
        let (layers, rel, _) = self.target_of(o)?;
        let t = layers.iter().rev().find(|t| covers(&t.value, "", rel))?;
        let mut at = if rel.is_empty() { t.origin.clone() } else { t.origin.child(rel) };
        at.part = o.part;
        Some(at)
    }

    /// Moves each diagnostic about a value an overlay set to that overlay's file and path;
    /// a diagnostic about a patched entity that stays where the entity is declared names
    /// the overlays that patched it.
    pub fn retrace(&self, diags: &mut Diagnostics) {
        if self.targets.is_empty() {
            return;
        }
        diags.for_each_mut(|d| {
            if let Some(at) = self.locate(&d.origin) {
                d.origin = at;
            } else if let Some((layers, _, true)) = self.target_of(&d.origin) {
                for t in layers {
                    d.related.push((t.origin.clone().key(), format!("patched for {}", t.label)));
                }
            }
            for (o, _) in &mut d.related {
                if let Some(at) = self.locate(o) {
                    *o = at;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> Value {
        crate::yaml::from_str(s).unwrap()
    }

    #[test]
    fn mappings_merge_lists_and_scalars_replace_and_null_removes() {
        let mut base =
            yaml("{host: a, vms: [{address: 1}], traffic: {timeout: 1s, retries: {attempts: 3}}, network: n}");
        merge(
            &mut base,
            &yaml("{vms: [{address: 2}], traffic: {retries: {attempts: 1}}, network: null, new: {x: 1, y: null}}"),
        );
        assert_eq!(
            base,
            yaml("{host: a, vms: [{address: 2}], traffic: {timeout: 1s, retries: {attempts: 1}}, new: {x: 1}}")
        );
    }

    #[test]
    fn a_patch_covers_what_it_sets_and_everything_inside_what_it_replaces() {
        let p = yaml("{vms: [{address: 2}], traffic: {timeout: 1s}, gone: null}");
        assert!(covers(&p, "", "vms"));
        assert!(covers(&p, "", "vms[0].address"));
        assert!(covers(&p, "", "traffic.timeout"));
        assert!(covers(&p, "", "traffic"));
        assert!(!covers(&p, "", "traffic.retries.attempts"));
        assert!(covers(&p, "", "gone"), "a value an overlay removed");
        assert!(!covers(&p, "", ""));
        assert!(!covers(&p, "", "vmsx"));
    }

    #[test]
    fn values_set_twice_in_one_layer_are_found() {
        assert_eq!(overlap(&yaml("{a: {b: 1}}"), &yaml("{a: {c: 1}}"), ""), None);
        assert_eq!(overlap(&yaml("{a: {b: 1}}"), &yaml("{a: {b: 2}}"), ""), Some("a.b".into()));
        assert_eq!(overlap(&yaml("{a: [1]}"), &yaml("{a: {b: 2}}"), ""), Some("a".into()));
    }

    #[test]
    fn diagnostics_move_to_the_last_layer_that_set_the_value() {
        let base: Arc<str> = Arc::from("inventory/a.yaml");
        let env: Arc<str> = Arc::from("env/prod/a.yaml");
        let cluster: Arc<str> = Arc::from("cluster/eu/a.yaml");
        let target = Origin::new(&base, 0, "services.web");
        let mut t = Trace::default();
        t.add(&target, Origin::new(&env, 1, "services.web"), yaml("{vms: [{address: x}], network: n}"), "e".into());
        t.add(&target, Origin::new(&cluster, 0, "services.web"), yaml("{network: m}"), "c".into());
        let at = |p: &str| t.locate(&Origin::new(&base, 0, p)).map(|o| (o.file.to_string(), o.doc, o.path));
        assert_eq!(
            at("services.web.vms[0].address"),
            Some(("env/prod/a.yaml".into(), 1, "services.web.vms[0].address".into()))
        );
        assert_eq!(at("services.web.network"), Some(("cluster/eu/a.yaml".into(), 0, "services.web.network".into())));
        assert_eq!(at("services.web.ports.http"), None);
        assert_eq!(at("services.web"), None);
        assert_eq!(at("services.webx.network"), None);
    }
}
