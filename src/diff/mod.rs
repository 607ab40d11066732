//! Stage 6, `diff`: what would change between the desired objects and another set of
//! objects (the live cluster's, or another build's).
//!
//! Takes both sides as parsed documents ([`Object`]s), returns a [`Plan`]: per object, whether
//! it would be created, updated or pruned, with the changed paths and the normalised YAML of
//! both sides; unchanged objects are only counted. Before comparing, [`Normalizer`] strips
//! what is not the inventory's to decide: fields the API server writes, annotations and
//! labels other controllers own, and the user's `--ignore` paths. It does so on both sides
//! alike, so an ignored difference can never count as a change.
//!
//! The stage is pure (no I/O, no cluster client): [`rendered`] reads another build's output
//! directory, and `crate::cluster` (behind the `cluster` feature) reads live objects.

pub mod conflicts;
pub mod live;
pub mod rendered;
pub mod report;
pub mod server_side;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Map, Value};

use crate::fieldpath::FieldPath;

pub use crate::fieldpath::IgnorePath;

/// The identity of an object: what makes two documents the same object. Sorting by it gives
/// the report's order (kind, namespace, name).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Key {
    /// `kind`.
    pub kind: String,
    /// `metadata.namespace` (empty for cluster-scoped objects).
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{} {}", self.kind, self.name)
        } else {
            write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// One parsed document and its identity.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// Identity.
    pub key: Key,
    /// `apiVersion`.
    pub api_version: String,
    /// The whole document.
    pub value: Value,
}

impl Object {
    /// Takes a parsed document; fails with the reason when it is not a Kubernetes object
    /// (no `kind`, `apiVersion` or `metadata.name`).
    pub fn from_value(value: Value) -> Result<Object, String> {
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
        let kind = text(value.get("kind")).ok_or("it has no `kind`")?;
        let api_version = text(value.get("apiVersion")).ok_or("it has no `apiVersion`")?;
        let metadata = value.get("metadata");
        let name = text(metadata.and_then(|m| m.get("name"))).ok_or("it has no `metadata.name`")?;
        let namespace = text(metadata.and_then(|m| m.get("namespace"))).unwrap_or_default();
        Ok(Object { key: Key { kind, namespace, name }, api_version, value })
    }

    /// Parses one YAML document.
    pub fn from_yaml(text: &str) -> Result<Object, String> {
        let value = crate::yaml::from_str(text).map_err(|e| format!("it is not valid YAML: {e}"))?;
        Object::from_value(value)
    }
}

/// What applying the desired objects would do to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Desired, absent on the other side.
    Create,
    /// On both sides, different after normalisation.
    Update,
    /// On the other side only (live objects carrying meshgen's label that the inventory no
    /// longer produces, or documents of the other build that this one no longer has).
    Prune,
    /// Desired, and live but being deleted (`metadata.deletionTimestamp`, its finalizers
    /// pending): once it is gone, the next sync creates it again.
    Terminating,
}

impl Action {
    /// The verb, as printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Prune => "prune",
            Action::Terminating => "terminating",
        }
    }
}

/// One object that would change.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// What would happen.
    pub action: Action,
    /// Which object.
    pub key: Key,
    /// The desired `apiVersion` (the other side's for a prune).
    pub api_version: String,
    /// The changed paths (`spec.hosts[1]`), for updates; sorted, deepest differing node.
    pub paths: Vec<String>,
    /// The other side's normalised YAML (empty for a create).
    pub before: String,
    /// The desired normalised YAML (empty for a prune).
    pub after: String,
    /// What the reader should know about this change (a namespace that does not exist yet,
    /// a dry run that could not see removals…).
    pub notes: Vec<String>,
    /// Fields another field manager owns with another value (`--server-side`): an apply
    /// without `--force-conflicts` fails on them.
    pub conflicts: Vec<String>,
}

impl Change {
    fn new(action: Action, key: Key, api_version: String, before: String, after: String) -> Change {
        Change { action, key, api_version, paths: Vec::new(), before, after, notes: Vec::new(), conflicts: Vec::new() }
    }
}

/// The outcome of a comparison.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// Objects that would change, sorted by [`Key`].
    pub changes: Vec<Change>,
    /// How many objects are the same on both sides.
    pub unchanged: usize,
    /// Live objects the inventory no longer has that are already being deleted: not
    /// prunes (nothing is left to do), only counted.
    pub terminating: usize,
    /// Objects of other owners that conflict with the desired ones (`--cluster`).
    pub findings: Vec<conflicts::Finding>,
}

impl Plan {
    /// How many changes of the action.
    pub fn count(&self, action: Action) -> usize {
        self.changes.iter().filter(|c| c.action == action).count()
    }

    /// Whether anything would change, or conflicts with another owner's objects.
    pub fn has_changes(&self) -> bool {
        !self.changes.is_empty() || !self.findings.is_empty()
    }
}

/// Metadata fields the API server writes; never part of what meshgen decides.
/// Controllers add `ownerReferences` and `finalizers` (meshgen never sets them), and a
/// deletion in progress is reported as such before normalising.
const SERVER_METADATA: &[&str] = &[
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
    "ownerReferences",
    "finalizers",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// Prefixes of annotation and label keys that other tools write onto objects they apply or
/// track: kubectl (`last-applied-configuration`, `restartedAt`), Argo CD (tracking id,
/// sync options), Flux. Argo CD's default tracking label, `app.kubernetes.io/instance`, is
/// listed whole.
pub(crate) const FOREIGN_KEYS: &[&str] =
    &["kubectl.kubernetes.io/", "argocd.argoproj.io/", "kustomize.toolkit.fluxcd.io/", "app.kubernetes.io/instance"];

/// Strips from a document what is not the inventory's to decide; the same on both sides.
#[derive(Debug, Default)]
pub struct Normalizer {
    ignore: Vec<IgnorePath>,
    /// Per ignore path: whether it removed something from some document yet.
    matched: Vec<AtomicBool>,
}

impl Normalizer {
    /// A normaliser that also drops the given paths.
    pub fn new(ignore: Vec<IgnorePath>) -> Normalizer {
        let matched = ignore.iter().map(|_| AtomicBool::new(false)).collect();
        Normalizer { ignore, matched }
    }

    /// The ignore paths that have removed nothing from any document normalised so far: a
    /// typo there hides nothing, and the user should know it.
    pub fn unmatched(&self) -> Vec<&IgnorePath> {
        self.ignore.iter().zip(&self.matched).filter(|(_, m)| !m.load(Ordering::Relaxed)).map(|(p, _)| p).collect()
    }

    /// Normalises a document in place.
    pub fn normalize(&self, doc: &mut Value) {
        let Some(top) = doc.as_object_mut() else { return };
        top.remove("status");
        if let Some(md) = top.get_mut("metadata").and_then(Value::as_object_mut) {
            for f in SERVER_METADATA {
                md.remove(*f);
            }
            for field in ["annotations", "labels"] {
                if let Some(map) = md.get_mut(field).and_then(Value::as_object_mut) {
                    map.retain(|k, _| !FOREIGN_KEYS.iter().any(|p| k.starts_with(p)));
                }
            }
        }
        for (path, matched) in self.ignore.iter().zip(&self.matched) {
            if path.remove_from(doc) {
                matched.store(true, Ordering::Relaxed);
            }
        }
        canonical_numbers(doc);
        // An emptied (or server-defaulted empty) map of annotations or labels says nothing.
        if let Some(md) = doc.get_mut("metadata").and_then(Value::as_object_mut) {
            md.retain(|k, v| !(matches!(k.as_str(), "annotations" | "labels") && is_empty_or_null(v)));
        }
    }
}

/// kubectl's annotation holding the configuration it last applied (client-side apply, Argo
/// CD's default sync).
pub(crate) const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

fn is_empty_or_null(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        _ => false,
    }
}

/// JSON has one number type: the API server answers `100` where YAML said `100.0`, and
/// drops `null` fields. Whole floats become integers and null map entries go, on both sides.
fn canonical_numbers(v: &mut Value) {
    match v {
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|_| n.is_f64())
                && f.fract() == 0.0
                && f.abs() < 9.0e15
            {
                *v = Value::from(f as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(canonical_numbers),
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(canonical_numbers);
        }
        _ => {}
    }
}

/// Whether a live object is being deleted.
fn terminating(o: &Object) -> bool {
    o.value["metadata"].get("deletionTimestamp").is_some_and(|t| !t.is_null())
}

/// An object of the other side, read into an [`Object`] only when it is compared (a live
/// object is held as its text until then: see [`live`]).
pub trait Other {
    /// Why it cannot be read.
    type Error;
    /// Its identity.
    fn key(&self) -> &Key;
    /// The object.
    fn object(self) -> Result<Object, Self::Error>;
}

impl Other for Object {
    type Error = std::convert::Infallible;
    fn key(&self) -> &Key {
        &self.key
    }
    fn object(self) -> Result<Object, Self::Error> {
        Ok(self)
    }
}

impl Other for &live::LiveObject {
    type Error = String;
    fn key(&self) -> &Key {
        &self.key
    }
    fn object(self) -> Result<Object, String> {
        live::LiveObject::object(self)
    }
}

/// Compares the desired objects with the other side's, after normalising both.
pub fn compare(desired: Vec<Object>, other: Vec<Object>, normalizer: &Normalizer) -> Plan {
    match compare_each(desired.into_iter().map(Ok::<_, std::convert::Infallible>), other, normalizer) {
        Ok(plan) => plan,
        Err(never) => match never {},
    }
}

/// [`compare`], reading each desired object as it comes (`desired` may parse them one by
/// one) and each object of the other side when it is compared: each pair is compared and
/// freed before the next is read, so neither side is ever held whole as trees. Stops at the
/// first object of either side that cannot be read.
pub fn compare_each<E, O: Other>(
    desired: impl IntoIterator<Item = Result<Object, E>>,
    other: Vec<O>,
    normalizer: &Normalizer,
) -> Result<Plan, E>
where
    E: From<O::Error>,
{
    // By key; a key repeated on the other side keeps its last object, as a map would.
    let mut others: HashMap<Key, O> = HashMap::with_capacity(other.len());
    for o in other {
        others.insert(o.key().clone(), o);
    }
    let mut plan = Plan::default();
    for want in desired {
        let mut want = want?;
        normalizer.normalize(&mut want.value);
        let Some(have) = others.remove(&want.key) else {
            plan.changes.push(Change::new(
                Action::Create,
                want.key,
                want.api_version,
                String::new(),
                to_yaml(&want.value),
            ));
            continue;
        };
        let mut have = have.object()?;
        let deleting = terminating(&have);
        normalizer.normalize(&mut have.value);
        if have.value == want.value && !deleting {
            plan.unchanged += 1;
            continue;
        }
        let mut paths = Vec::new();
        changed_paths(&have.value, &want.value, &mut FieldPath::new(), &mut paths);
        // The API server and another build order keys their own way: the other side is laid
        // out in the desired order, so the diff shows values, not reordering.
        align(&mut have.value, &want.value);
        let action = if deleting { Action::Terminating } else { Action::Update };
        let mut change = Change::new(action, want.key, want.api_version, to_yaml(&have.value), to_yaml(&want.value));
        change.paths = paths;
        if deleting {
            change.notes.push(
                "being deleted (its finalizers are pending): once it is gone, the next sync creates it again".into(),
            );
        }
        plan.changes.push(change);
    }
    // In key order, so that the first object that cannot be read is always the same one.
    let mut rest: Vec<(Key, O)> = others.into_iter().collect();
    rest.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    for (key, have) in rest {
        let mut have = have.object()?;
        if terminating(&have) {
            plan.terminating += 1;
            continue;
        }
        normalizer.normalize(&mut have.value);
        plan.changes.push(Change::new(Action::Prune, key, have.api_version, to_yaml(&have.value), String::new()));
    }
    plan.changes.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(plan)
}

fn to_yaml(v: &Value) -> String {
    crate::yaml::to_string(v)
}

/// Appends the paths where `a` and `b` differ: the deepest node where they do (a whole
/// subtree when a key or element exists on one side only, or the type differs).
pub fn changed_paths(a: &Value, b: &Value, at: &mut FieldPath, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))).collect();
            keys.sort();
            for k in keys {
                let len = at.mark();
                at.key(k);
                match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => changed_paths(p, q, at, out),
                    _ => out.push(at.to_string()),
                }
                at.back_to(len);
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            for i in 0..x.len().max(y.len()) {
                let len = at.mark();
                at.index(i);
                match (x.get(i), y.get(i)) {
                    (Some(p), Some(q)) => changed_paths(p, q, at, out),
                    _ => out.push(at.to_string()),
                }
                at.back_to(len);
            }
        }
        _ if a != b => out.push(at.to_string()),
        _ => {}
    }
}

/// Reorders the keys of `v` to follow `like`'s, recursively (keys `like` lacks go last,
/// sorted), so both sides print in the same order.
fn align(v: &mut Value, like: &Value) {
    match (v, like) {
        (Value::Object(map), Value::Object(order)) => {
            let mut old = std::mem::take(map);
            let mut aligned = Map::new();
            for (k, o) in order {
                if let Some(mut x) = old.remove(k) {
                    align(&mut x, o);
                    aligned.insert(k.clone(), x);
                }
            }
            let mut rest: Vec<(String, Value)> = old.into_iter().collect();
            rest.sort_by(|a, b| a.0.cmp(&b.0));
            aligned.extend(rest);
            *map = aligned;
        }
        (Value::Array(items), Value::Array(order)) => {
            for (x, o) in items.iter_mut().zip(order) {
                align(x, o);
            }
        }
        _ => {}
    }
}

/// A document's text hashed by its length and first bytes only (where the identity is):
/// equality is then checked on the whole text, and identical texts are the common case.
/// XXH3, not SipHash: twice 77,000 documents at 10,000 services, and nothing here needs a
/// keyed hash (a collision costs one more text comparison).
fn digest(text: &str) -> u64 {
    let bytes = text.as_bytes();
    xxhash_rust::xxh3::xxh3_64_with_seed(&bytes[..bytes.len().min(512)], bytes.len() as u64)
}

/// Documents by text, to find a text's byte-identical copies among them: the first document
/// of each digest, and for each document the next one with the same digest (`NONE` ends a
/// chain), so one table entry per distinct digest and no vector per document (one per
/// document was a quarter of the pairing at 77,000 documents).
pub struct TextIndex<'t, T> {
    texts: &'t [T],
    first: foldhash::HashMap<u64, usize>,
    next: Vec<usize>,
}

impl<'t, T: AsRef<str> + Sync> TextIndex<'t, T> {
    const NONE: usize = usize::MAX;

    /// Indexes `texts`. Digests run on the machine's cores: most of their cost is reading
    /// texts that were written on other cores or read from files a while ago (each document
    /// is a few cache misses), not the hashing (on one core the pairing was a third of
    /// `diff --against`'s comparison stage at 10,000 services).
    pub fn new(texts: &'t [T]) -> TextIndex<'t, T> {
        let digests = crate::par::map_owned(texts.iter().collect(), |t: &T| digest(t.as_ref()));
        let mut first: foldhash::HashMap<u64, usize> = foldhash::HashMap::default();
        first.reserve(texts.len());
        let mut next = vec![Self::NONE; texts.len()];
        // Filled from the end, so that each chain runs in document order.
        for (i, &d) in digests.iter().enumerate().rev() {
            if let Some(previous) = first.insert(d, i) {
                next[i] = previous;
            }
        }
        TextIndex { texts, first, next }
    }

    /// The first document whose text is `text`.
    pub fn first_identical(&self, text: &str) -> Option<usize> {
        let at = self.first.get(&digest(text)).copied().unwrap_or(Self::NONE);
        self.identical_from(at, text)
    }

    /// The next document after `at` with the same text as `at`.
    pub fn next_identical(&self, at: usize) -> Option<usize> {
        self.identical_from(self.next[at], self.texts[at].as_ref())
    }

    /// The first document from `at` on along its digest's chain whose text is `text`.
    fn identical_from(&self, mut at: usize, text: &str) -> Option<usize> {
        while at != Self::NONE && self.texts[at].as_ref() != text {
            at = self.next[at];
        }
        (at != Self::NONE).then_some(at)
    }
}

/// Pairs byte-identical documents of both sides off: identical text is an identical object,
/// so only the rest need parsing and comparing. Returns the unpaired documents of each side
/// (in their original order) and the pairs, as (desired index, other index): each document
/// of the other side, in order, pairs with the first unpaired desired document of its text.
pub fn split_identical<A: AsRef<str> + Sync, B: AsRef<str> + Sync>(
    desired: Vec<A>,
    other: Vec<B>,
) -> (Vec<A>, Vec<B>, Vec<(usize, usize)>) {
    let index = TextIndex::new(&desired);
    // Each other document's first identical desired one, paired or not: what the loop below
    // starts from, so that only a text with several copies looks further.
    let found = crate::par::map_owned(other.iter().collect(), |t: &B| index.first_identical(t.as_ref()));
    let mut paired = vec![false; desired.len()];
    let mut pairs = Vec::new();
    let mut rest_other = Vec::new();
    for ((j, t), mut at) in other.into_iter().enumerate().zip(found) {
        // A copy of a text already paired looks further along its chain.
        while let Some(i) = at
            && paired[i]
        {
            at = index.next_identical(i);
        }
        match at {
            None => rest_other.push(t),
            Some(i) => {
                paired[i] = true;
                pairs.push((i, j));
            }
        }
    }
    drop(index);
    let rest_desired = desired.into_iter().zip(paired).filter(|(_, p)| !p).map(|(t, _)| t).collect();
    (rest_desired, rest_other, pairs)
}

#[cfg(test)]
mod tests;
