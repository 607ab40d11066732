//! Stage 4, `render`: the model becomes Istio manifests.
//!
//! Takes the [`Inventory`] and its [`MeshGraph`], returns [`Manifest`]s: the YAML text of each
//! object, in a stable order (namespace, kind, name). [`context`] decides the objects and
//! their values; [`templates`] lays them out; [`filters`] is the only way a value reaches the
//! text. Output of user-overridden templates is parsed back and checked, since an override
//! could emit anything; the built-ins are proven safe by test instead, because re-parsing
//! every document would cost more than the rest of a large build.

mod compiled;
pub mod context;
pub mod filters;
mod policy;
pub mod templates;

use std::sync::Arc;

use anyhow::{Result, bail};

use crate::diag::{Diagnostic, Diagnostics};
use crate::graph::MeshGraph;
use crate::model::Inventory;
pub use context::Kind;
use context::Object;
pub use templates::Templates;

/// One rendered object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// Kind (its `apiVersion` is in [`Manifest::text`], from [`Kind::api_version`]).
    pub kind: Kind,
    /// metadata.namespace (shared with the entity's other manifests).
    pub namespace: Arc<str>,
    /// metadata.name.
    pub name: Box<str>,
    /// The inventory entity it comes from (shared with its other manifests).
    pub entity: Arc<str>,
    /// The YAML document, ending in one newline, without `---`. Boxed, like the name: a
    /// manifest is 72 bytes, and 771,000 of them (100,000 services) are held at once.
    pub text: Box<str>,
}

/// Decides every object and reports derived names that collide or are invalid, without
/// rendering any text: what `meshgen check` needs.
pub fn analyse(inv: &Inventory, graph: &MeshGraph, diags: &mut Diagnostics) -> Result<()> {
    // Keeping only the identities: the contexts are never all alive.
    let identity = |o: Object| Ok((o.kind, o.namespace, o.name, o.entity));
    // In the order of the output, so that the same object is "first" as in a build.
    let keys = per_namespace(inv, graph, context::identities_in, identity, |(k, _, n, _)| (*k, n.as_str()))?;
    check_collisions(inv, keys.iter().map(|(k, ns, n, e)| (*k, &**ns, n.as_str(), &**e)), diags);
    Ok(())
}

/// The entities of one namespace, as positions in the entity order of
/// [`context::objects_in`] (services, then external APIs): both lists are sorted by
/// namespace, so each namespace holds a range of each.
struct Namespace {
    services: std::ops::Range<usize>,
    externals: std::ops::Range<usize>,
}

impl Namespace {
    fn entities(&self) -> usize {
        self.services.len() + self.externals.len()
    }

    /// Room for the objects its entities make: an entity makes at most one of each of the
    /// eight kinds besides a WorkloadEntry per VM (should the guess be short, the vector
    /// grows as any would). Reserved memory that is never touched costs address space only.
    fn room(&self, inv: &Inventory) -> usize {
        let vms: usize = inv.services[self.services.clone()].iter().map(|s| s.vms.len()).sum();
        self.entities() * 8 + vms
    }
}

/// The namespaces of the inventory in order, with their entities.
fn namespaces(inv: &Inventory) -> Vec<Namespace> {
    let n = inv.services.len();
    let (mut s, mut e) = (0, 0);
    let mut out = Vec::new();
    while s < n || e < inv.externals.len() {
        let ns = match (inv.services.get(s), inv.externals.get(e)) {
            (Some(a), Some(b)) => a.namespace.as_str().min(b.namespace.as_str()),
            (Some(a), None) => a.namespace.as_str(),
            (None, Some(b)) => b.namespace.as_str(),
            (None, None) => unreachable!("the loop runs while one list has more"),
        };
        let (s0, e0) = (s, e);
        while inv.services.get(s).is_some_and(|x| x.namespace == ns) {
            s += 1;
        }
        while inv.externals.get(e).is_some_and(|x| x.namespace == ns) {
            e += 1;
        }
        out.push(Namespace { services: s0..s, externals: n + e0..n + e });
    }
    out
}

/// Decides the objects of every entity, maps each through `f` and returns the results in
/// the order of the output: by namespace, then by `key` (kind and name), objects with equal
/// keys in entity order. Every object is in its entity's namespace, so each thread takes a
/// run of whole namespaces (about as many entities each) and sorts each namespace's few
/// hundred objects on its own, in cache; the threads' results then follow each other. One
/// sort of every object after the fact cost 0.2–0.25 s at 771,000 objects, on one core,
/// its random accesses growing faster than the input (0.01 s at 77,000). Each object's
/// context is dropped as soon as `f` is done with it, so the contexts of an estate never sit
/// in memory together.
fn per_namespace<T: Send>(
    inv: &Inventory,
    graph: &MeshGraph,
    decide: fn(&Inventory, &MeshGraph, std::ops::Range<usize>) -> Vec<Object>,
    f: impl Fn(Object) -> Result<T> + Sync,
    key: for<'a> fn(&'a T) -> (Kind, &'a str),
) -> Result<Vec<T>> {
    let groups = namespaces(inv);
    let entities = inv.services.len() + inv.externals.len();
    let threads = crate::par::threads();
    // Contiguous runs of namespaces, cut where a thread's share of the entities is reached.
    let share = entities.div_ceil(threads).max(16);
    let mut runs: Vec<&[Namespace]> = Vec::with_capacity(threads);
    let (mut start, mut count) = (0, 0);
    for (i, g) in groups.iter().enumerate() {
        count += g.entities();
        if count >= share {
            runs.push(&groups[start..=i]);
            (start, count) = (i + 1, 0);
        }
    }
    if start < groups.len() {
        runs.push(&groups[start..]);
    }
    // The first thread's results become the output, the others' are appended: it reserves
    // room for all, so that no array of every object is moved (or first touched) twice.
    let all: usize = groups.iter().map(|g| g.room(inv)).sum();
    let f = &f;
    let results: Vec<Result<Vec<T>>> = std::thread::scope(|s| {
        let handles: Vec<_> = runs
            .into_iter()
            .enumerate()
            .map(|(i, run)| {
                let room = if i == 0 { all } else { run.iter().map(|g| g.room(inv)).sum() };
                s.spawn(move || {
                    let mut out = Vec::with_capacity(room);
                    for g in run {
                        let from = out.len();
                        for i in g.services.clone().chain(g.externals.clone()) {
                            for o in decide(inv, graph, i..i + 1) {
                                out.push(f(o)?);
                            }
                        }
                        // Stable: equal keys (a collision, reported later) stay in entity order.
                        out[from..].sort_by(|a, b| key(a).cmp(&key(b)));
                    }
                    Ok(out)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| bail!("a worker thread panicked"))).collect()
    });
    let mut results = results.into_iter().collect::<Result<Vec<_>>>()?.into_iter();
    let mut out = results.next().unwrap_or_default();
    for mut r in results {
        out.append(&mut r);
    }
    Ok(out)
}

/// Renders every object of the inventory, in a stable order (namespace, kind, name). Two
/// entities whose derived object names collide are reported as diagnostics; template
/// failures are errors.
pub fn render(
    inv: &Inventory,
    graph: &MeshGraph,
    templates: &Templates,
    diags: &mut Diagnostics,
) -> Result<Vec<Manifest>> {
    let api = inv.project.api_version;
    let out =
        per_namespace(inv, graph, context::objects_in, |o| render_one(o, templates, api), |m| (m.kind, &*m.name))?;
    check_collisions(inv, out.iter().map(|m| (m.kind, &*m.namespace, &*m.name, &*m.entity)), diags);
    Ok(out)
}

fn render_one(mut o: Object, templates: &Templates, api: crate::model::ApiVersion) -> Result<Manifest> {
    let name = o.kind.template();
    let api = o.kind.api_version(api);
    let rendered = templates.render(name, std::mem::take(&mut o.context))?;
    // Templates start and end with blank lines or not depending on taste (and on how their
    // leading comment is closed); the output has none before and exactly one newline after.
    // Sized exactly: 77,000 texts grown by doubling held a third of a large build's memory.
    let trimmed = rendered.trim_start_matches('\n').trim_end_matches('\n');
    let mut text = String::with_capacity(trimmed.len() + 1);
    text.push_str(trimmed);
    text.push('\n');
    if templates.is_overridden(name) || templates.is_overridden("_metadata.yaml") {
        verify(&text, &o, api).map_err(|e| {
            anyhow::anyhow!(
                "template `{name}` produced an invalid {} `{}/{}`: {e}",
                o.kind.as_str(),
                o.namespace,
                o.name
            )
        })?;
    }
    let (kind, name, text) = (o.kind, o.name.into_boxed_str(), text.into_boxed_str());
    Ok(Manifest { kind, namespace: o.namespace, name, entity: o.entity, text })
}

/// Checks that a rendered document is exactly one mapping with the expected identity.
pub fn verify(text: &str, o: &Object, api: &str) -> std::result::Result<(), String> {
    let docs: Vec<serde_yaml::Value> = {
        let mut v = Vec::new();
        for d in serde_yaml::Deserializer::from_str(text) {
            v.push(serde::Deserialize::deserialize(d).map_err(|e| format!("not valid YAML: {e}"))?);
        }
        v
    };
    if docs.len() != 1 {
        return Err(format!("expected one YAML document, found {}", docs.len()));
    }
    let doc = &docs[0];
    if !doc.is_mapping() {
        return Err("the document is not a mapping".into());
    }
    let get = |path: &[&str]| path.iter().try_fold(doc, |v, k| v.get(k)).and_then(|v| v.as_str()).map(str::to_string);
    let expect = [
        (&["apiVersion"][..], api),
        (&["kind"][..], o.kind.as_str()),
        (&["metadata", "name"][..], o.name.as_str()),
        (&["metadata", "namespace"][..], &*o.namespace),
    ];
    for (path, want) in expect {
        let got = get(path);
        if got.as_deref() != Some(want) {
            return Err(format!(
                "`{}` is {}, expected `{want}`",
                path.join("."),
                got.map_or("missing".to_string(), |g| format!("`{g}`"))
            ));
        }
    }
    if let Some(k) = doc
        .as_mapping()
        .and_then(|m| m.keys().find(|k| !matches!(k.as_str(), Some("apiVersion" | "kind" | "metadata" | "spec"))))
    {
        return Err(format!("unexpected top-level field {}", serde_yaml::to_string(k).unwrap_or_default().trim()));
    }
    Ok(())
}

/// Reports object names that two entities would both generate, or that are invalid; takes
/// (kind, namespace, name, entity) of every object, sorted so that equal identities are
/// adjacent (a collision is then a neighbour, found without a table of every name).
fn check_collisions<'a>(
    inv: &Inventory,
    objects: impl Iterator<Item = (Kind, &'a str, &'a str, &'a str)>,
    diags: &mut Diagnostics,
) {
    let origins: foldhash::HashMap<&str, &crate::diag::Origin> = inv
        .services
        .iter()
        .map(|s| (s.name.as_str(), &s.origin))
        .chain(inv.externals.iter().map(|e| (e.name.as_str(), &e.origin)))
        .collect();
    let mut previous: Option<(Kind, &str, &str, &str)> = None;
    for (kind, namespace, name, entity) in objects {
        // Derived names (`<api>-<host>`) can outgrow what Kubernetes accepts.
        if crate::model::names::dns_subdomain(name).is_err()
            && let Some(at) = origins.get(entity)
        {
            diags.push(
                Diagnostic::error(
                    "invalid-value",
                    (*at).clone().key(),
                    format!(
                        "the {} name derived from `{}` is not a valid object name ({} characters)",
                        kind.as_str(),
                        entity,
                        name.len()
                    ),
                )
                .help("object names are DNS names of at most 253 characters: shorten the entity name or its hosts"),
            );
        }
        let first = previous.filter(|p| (p.0, p.1, p.2) == (kind, namespace, name)).map(|p| p.3);
        previous = Some((kind, namespace, name, first.unwrap_or(entity)));
        if let Some(first) = first
            && let (Some(a), Some(b)) = (origins.get(entity), origins.get(first))
        {
            diags.push(
                Diagnostic::error(
                    "name-collision",
                    (*a).clone().key(),
                    format!("{} `{namespace}/{name}` would be generated twice", kind.as_str()),
                )
                .related((*b).clone().key(), format!("`{first}` generates it too"))
                .help("rename one of the entities (or set an explicit VM `name`)"),
            );
        }
    }
}
