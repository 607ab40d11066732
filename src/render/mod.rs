//! Stage 4, `render`: the model becomes Istio manifests.
//!
//! Takes the [`Inventory`] and its [`MeshGraph`], returns [`Manifest`]s: the YAML text of each
//! object, in a stable order (namespace, kind, name). [`context`] decides the objects and
//! their values, typed by [`api`] (the template API, documented in `docs/templates.md`);
//! [`templates`] lays them out; [`filters`] is the only way a value reaches the text;
//! [`patch`] applies entities' `patches` to it. Output of user-overridden templates is parsed
//! back and checked, since an override could emit anything; the built-ins are proven safe by
//! test instead, because re-parsing every document would cost more than the rest of a large
//! build.

pub mod api;
#[cfg(test)]
mod api_doc;
mod compiled;
pub mod context;
mod credentials;
pub mod direct;
pub mod egress;
pub mod fidelity;
pub mod filters;
mod ingress;
pub mod patch;
mod policy;
mod present;
mod routes;
pub mod tape;
pub mod templates;
mod traffic_policy;

use std::sync::Arc;

use anyhow::Result;

use crate::diag::{Diagnostic, Diagnostics};
use crate::graph::MeshGraph;
use crate::model::Inventory;
pub use context::Kind;
use context::{Identity, Object};
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
/// rendering any text: what `meshgen check` needs, and what a streamed build (see
/// [`stream`]) must know before it writes its first byte.
pub fn analyse(inv: &Inventory, graph: &MeshGraph, diags: &mut Diagnostics) -> Result<()> {
    let origins = origins(inv);
    each_namespace(
        inv,
        |g| {
            let decide = |r| context::identities_in(inv, graph, r);
            let ids = objects_of(inv, g, decide, Ok, |i: &Identity| (i.kind, &i.name))?;
            let mut found = Diagnostics::default();
            let objects = ids.iter().map(|i| (i.kind, g.name, &*i.name, i.entity));
            check_collisions(&origins, inv.project.layout, objects, &mut found);
            check_names(inv, g, ids.iter().map(|i| (i.kind, &*i.name, i.entity)), &mut found);
            Ok(found)
        },
        |found| {
            diags.extend(found);
            Ok(())
        },
    )
}

/// The entities of one namespace, as positions in the entity order of
/// [`context::objects_in`] (services, then external APIs): both lists are sorted by
/// namespace, so each namespace holds a range of each.
struct Namespace<'a> {
    name: &'a str,
    services: std::ops::Range<usize>,
    externals: std::ops::Range<usize>,
    /// Whether some of the project's own objects ([`egress::project`]) are in it.
    project: bool,
}

impl Namespace<'_> {
    /// Room for the objects its entities make: an entity makes at most one of each of the
    /// eight kinds besides a WorkloadEntry per VM (should the guess be short, the vector
    /// grows as any would). Reserved memory that is never touched costs address space only.
    fn room(&self, inv: &Inventory) -> usize {
        let vms: usize = inv.services[self.services.clone()].iter().map(|s| s.vms.len()).sum();
        (self.services.len() + self.externals.len()) * 8 + vms
    }
}

/// The namespaces of the inventory in order, with their entities.
fn namespaces(inv: &Inventory) -> Vec<Namespace<'_>> {
    let n = inv.services.len();
    let (mut s, mut e) = (0, 0);
    let mut out = Vec::new();
    while s < n || e < inv.externals.len() {
        let name = match (inv.services.get(s), inv.externals.get(e)) {
            (Some(a), Some(b)) => a.namespace.as_str().min(b.namespace.as_str()),
            (Some(a), None) => a.namespace.as_str(),
            (None, Some(b)) => b.namespace.as_str(),
            (None, None) => unreachable!("the loop runs while one list has more"),
        };
        let (s0, e0) = (s, e);
        while inv.services.get(s).is_some_and(|x| x.namespace == name) {
            s += 1;
        }
        while inv.externals.get(e).is_some_and(|x| x.namespace == name) {
            e += 1;
        }
        out.push(Namespace { name, services: s0..s, externals: n + e0..n + e, project: false });
    }
    // The project's objects may be where no entity is.
    let end = n + inv.externals.len();
    for name in egress::namespaces(inv) {
        match out.binary_search_by(|g| g.name.cmp(name)) {
            Ok(i) => out[i].project = true,
            Err(i) => out.insert(i, Namespace { name, services: n..n, externals: end..end, project: true }),
        }
    }
    out
}

/// Decides the objects of one namespace's entities (or their identities), maps each through
/// `f` and returns the results in the order of the output: by `key` (kind and name),
/// objects with equal keys in entity order. Each object's context is dropped as soon as `f`
/// is done with it.
fn objects_of<O: InNamespace, T>(
    inv: &Inventory,
    g: &Namespace,
    decide: impl Fn(std::ops::Range<usize>) -> Vec<O>,
    f: impl Fn(O) -> Result<T>,
    key: for<'a> fn(&'a T) -> (Kind, &'a str),
) -> Result<Vec<T>> {
    let mut out = Vec::with_capacity(g.room(inv));
    // The project's objects come after the last entity, those of every namespace at once.
    let project = inv.services.len() + inv.externals.len();
    for i in g.services.clone().chain(g.externals.clone()).chain(g.project.then_some(project)) {
        for o in decide(i..i + 1) {
            if i == project && o.namespace() != g.name {
                continue;
            }
            out.push(f(o)?);
        }
    }
    // Stable: equal keys (a collision, reported by the caller) stay in entity order. By kind
    // first, then each kind by name: the entities come sorted by name, so a kind's names are
    // in order but for a few runs, which the sort merges in a pass or two; the kinds
    // interleaved made a sort of every object of its own (a sixth of `analyse`).
    let mut kinds: [Vec<T>; Kind::ALL.len()] = Default::default();
    for t in out.drain(..) {
        kinds[key(&t).0 as usize].push(t);
    }
    for mut kind in kinds {
        kind.sort_by(|a, b| key(a).1.cmp(key(b).1));
        out.append(&mut kind);
    }
    Ok(out)
}

/// What [`objects_of`] asks of what it is given: its namespace (the project's own objects
/// are made for every namespace at once, and each namespace keeps its own).
trait InNamespace {
    fn namespace(&self) -> &str;
}

impl InNamespace for Object {
    fn namespace(&self) -> &str {
        &self.namespace
    }
}

impl InNamespace for Identity<'_> {
    fn namespace(&self) -> &str {
        self.namespace
    }
}

/// Runs `work` on every namespace on the machine's cores and hands the results to `consume`,
/// on the calling thread, in namespace order, each as soon as its turn comes (see
/// [`crate::par::stream`]: only a few namespaces' results are alive at once). A namespace
/// is one thread's: its objects are sorted together while they are in that core's cache,
/// which is cheaper than one sort of every object after the fact. The first error, of
/// `work` (in namespace order) or of `consume`, stops the rest and is returned.
fn each_namespace<R: Send>(
    inv: &Inventory,
    work: impl Fn(&Namespace) -> Result<R> + Sync,
    consume: impl FnMut(R) -> Result<()>,
) -> Result<()> {
    crate::par::stream(&namespaces(inv), work, consume)
}

/// Every entity's origin by name (and the shared egress gateway's objects'), the place every
/// finding about a rendered object points at.
pub fn origins(inv: &Inventory) -> Origins<'_> {
    inv.services
        .iter()
        .map(|s| (s.name.as_str(), &s.origin))
        .chain(inv.externals.iter().map(|e| (e.name.as_str(), &e.origin)))
        .chain(std::iter::once(egress::owner(inv)))
        .collect()
}

/// Entity name → origin.
pub type Origins<'a> = foldhash::HashMap<&'a str, &'a crate::diag::Origin>;

/// Renders every object of the inventory, in a stable order (namespace, kind, name). Two
/// entities whose derived object names collide are reported as diagnostics; template
/// failures are errors.
pub fn render(
    inv: &Inventory,
    graph: &MeshGraph,
    templates: &Templates,
    diags: &mut Diagnostics,
) -> Result<Vec<Manifest>> {
    // Room for all, reserved once, so that no array of every object grows by copying.
    let mut out = Vec::with_capacity(namespaces(inv).iter().map(|g| g.room(inv)).sum());
    stream_checked(inv, graph, templates, Ok, |mut ms, found| {
        out.append(&mut ms);
        diags.extend(found);
        Ok(())
    })?;
    Ok(out)
}

/// What [`render`] finds wrong with one namespace's rendered objects: names that collide or
/// are invalid.
fn checked(inv: &Inventory, origins: &Origins, g: &Namespace, ms: &[Manifest]) -> Diagnostics {
    let mut found = Diagnostics::default();
    let objects = ms.iter().map(|m| (m.kind, g.name, &*m.name, &*m.entity));
    check_collisions(origins, inv.project.layout, objects, &mut found);
    check_names(inv, g, ms.iter().map(|m| (m.kind, &*m.name, &*m.entity)), &mut found);
    found
}

/// The manifests of one namespace, in output order, with their entities' `patches` applied;
/// written by the built-in templates' fast path where `head` is given (see [`direct_head`]).
fn rendered(
    inv: &Inventory,
    graph: &MeshGraph,
    g: &Namespace,
    templates: &Templates,
    patches: &patch::Targets,
    head: Option<&direct::Head>,
) -> Result<Vec<Manifest>> {
    let api = inv.project.api_version;
    let one = |o| patches.apply(render_one(o, templates, api)?);
    fn key(m: &Manifest) -> (Kind, &str) {
        (m.kind, &m.name)
    }
    match head {
        Some(head) => objects_of(inv, g, |r| context::texts_in(inv, graph, r, head), one, key),
        None => objects_of(inv, g, |r| context::objects_in(inv, graph, r), one, key),
    }
}

/// What the built-in templates' fast path ([`direct`]) shares between a build's objects,
/// when the templates in use are the built-ins; `None` sends every object through the
/// general path (the compiled templates or Tera, and the checks of an override's output).
fn direct_head(inv: &Inventory, templates: &Templates) -> Option<direct::Head> {
    if templates.builtins_only() { direct::Head::new(inv) } else { None }
}

/// Renders every object, as [`render`] does, and hands each namespace's manifests to
/// `each`, in output order, as soon as its turn comes: a caller that writes them as they
/// come holds the text of a few namespaces instead of all of it. Call it only when
/// [`analyse`] found no errors, and with templates whose output needs no verification (the
/// built-in ones), so that nothing can fail halfway but `each`.
pub fn stream(
    inv: &Inventory,
    graph: &MeshGraph,
    templates: &Templates,
    each: impl FnMut(Vec<Manifest>) -> Result<()>,
) -> Result<()> {
    let patches = patch::Targets::new(inv, graph);
    let head = direct_head(inv, templates);
    each_namespace(inv, |g| rendered(inv, graph, g, templates, &patches, head.as_ref()), each)
}

/// [`stream`], with `prepare` run on each namespace's manifests on the thread that rendered
/// them, before they are dropped there: what it makes of them (a layout's files, staged) is
/// handed to `each`, in output order. The rendering threads then also do that work, instead
/// of the one thread `each` runs on.
pub fn stream_with<R: Send>(
    inv: &Inventory,
    graph: &MeshGraph,
    templates: &Templates,
    prepare: impl Fn(&[Manifest]) -> Result<R> + Sync,
    each: impl FnMut(R) -> Result<()>,
) -> Result<()> {
    let patches = patch::Targets::new(inv, graph);
    let head = direct_head(inv, templates);
    each_namespace(inv, |g| prepare(&rendered(inv, graph, g, templates, &patches, head.as_ref())?), each)
}

/// [`stream_with`] without [`analyse`] first: each namespace's names are checked on the
/// thread that rendered it, and `each` gets what they found beside what `prepare` made of
/// the namespace's manifests (its own). [`render`] is this, keeping them all; a caller that
/// writes nothing may use what it gets only once the whole stream found no error.
pub fn stream_checked<R: Send>(
    inv: &Inventory,
    graph: &MeshGraph,
    templates: &Templates,
    prepare: impl Fn(Vec<Manifest>) -> Result<R> + Sync,
    mut each: impl FnMut(R, Diagnostics) -> Result<()>,
) -> Result<()> {
    let origins = origins(inv);
    let patches = patch::Targets::new(inv, graph);
    let head = direct_head(inv, templates);
    let work = |g: &Namespace| {
        let ms = rendered(inv, graph, g, templates, &patches, head.as_ref())?;
        let found = checked(inv, &origins, g, &ms);
        Ok((prepare(ms)?, found))
    };
    each_namespace(inv, work, |(made, found)| each(made, found))
}

/// A document as the output holds it, from what `write` renders into the calling thread's
/// reused buffer: templates start and end with blank lines or not depending on taste (and on
/// how their leading comment is closed); the output has none before and exactly one newline
/// after.
fn finished<E>(write: impl FnOnce(&mut String) -> std::result::Result<(), E>) -> std::result::Result<String, E> {
    thread_local! {
        /// The text of the object being rendered, reused by each thread from object to
        /// object: a fresh one per object was an allocation, grown by doubling, and freed
        /// once its text was copied out at its exact size.
        static RENDERED: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    }
    RENDERED.with_borrow_mut(|rendered| {
        rendered.clear();
        write(rendered)?;
        // Sized exactly: texts grown by doubling keep up to twice their size, for every object.
        let trimmed = rendered.trim_start_matches('\n').trim_end_matches('\n');
        let mut text = String::with_capacity(trimmed.len() + 1);
        text.push_str(trimmed);
        text.push('\n');
        Ok(text)
    })
}

fn render_one(mut o: Object, templates: &Templates, api: crate::model::ApiVersion) -> Result<Manifest> {
    let name = o.kind.template();
    let api = o.kind.api_version(api);
    let text = match o.text.take() {
        Some(text) => text,
        None => finished(|rendered| templates.render_into(name, &o.context, rendered))?,
    };
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
    let docs = crate::yaml::parse_all(text).map_err(|e| format!("not valid YAML: {e}"))?;
    if docs.len() != 1 {
        return Err(format!("expected one YAML document, found {}", docs.len()));
    }
    let doc = &docs[0];
    if !doc.is_object() {
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
        .as_object()
        .and_then(|m| m.keys().find(|k| !matches!(k.as_str(), "apiVersion" | "kind" | "metadata" | "spec")))
    {
        return Err(format!("unexpected top-level field {}", crate::yaml::write::scalar(k)));
    }
    // Valid for Istio, but not what the inventory says (see `fidelity`).
    let problems = match o.kind {
        Kind::DestinationRule => fidelity::destination_rule(&doc["spec"]),
        _ => Vec::new(),
    };
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    Ok(())
}

/// Reports `names` that rename nothing: the entity makes no object of that kind named after
/// it (a kind it does not make here, or whose objects carry derived names).
fn check_names<'a>(
    inv: &Inventory,
    g: &Namespace,
    made: impl Iterator<Item = (Kind, &'a str, &'a str)>,
    diags: &mut Diagnostics,
) {
    let n = inv.services.len();
    let named = |names: &std::collections::BTreeMap<String, String>| !names.is_empty();
    if !inv.services[g.services.clone()].iter().any(|s| named(&s.names))
        && !inv.externals[g.externals.start - n..g.externals.end - n].iter().any(|e| named(&e.names))
    {
        return;
    }
    let made: Vec<(Kind, &str, &str)> = made.collect();
    let services = inv.services[g.services.clone()].iter().map(|s| (&s.name, &s.names, &s.origin));
    let externals =
        inv.externals[g.externals.start - n..g.externals.end - n].iter().map(|e| (&e.name, &e.names, &e.origin));
    for (entity, names, origin) in services.chain(externals) {
        for (kind, name) in names {
            if made.iter().any(|(k, kn, e)| k.as_str() == kind && kn == name && e == entity) {
                continue;
            }
            diags.push(
                Diagnostic::error(
                    "invalid-value",
                    origin.child("names").child(kind).key(),
                    format!("`{entity}` makes no {kind} named after it, so `names.{kind}` renames nothing"),
                )
                .help("remove the entry; `meshgen explain` lists the objects the entity makes"),
            );
        }
    }
}

/// Reports object names that two entities would both generate, or that are invalid; takes
/// (kind, namespace, name, entity) of every object, sorted so that equal identities are
/// adjacent (a collision is then a neighbour, found without a table of every name). Names
/// whose file in `layout` would be too long for the file system are reported too.
fn check_collisions<'a>(
    origins: &Origins,
    layout: crate::model::Layout,
    objects: impl Iterator<Item = (Kind, &'a str, &'a str, &'a str)>,
    diags: &mut Diagnostics,
) {
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
        } else if let Some(long) = crate::emit::too_long(kind, namespace, name, entity, layout)
            && let Some(at) = origins.get(entity)
        {
            diags.push(
                Diagnostic::error(
                    "invalid-value",
                    (*at).clone().key(),
                    format!(
                        "the file of {} `{name}` would be named `{long}`, {} bytes, over the file system's limit of {} bytes a name",
                        kind.as_str(),
                        long.len(),
                        crate::emit::NAME_MAX
                    ),
                )
                .help("shorten the entity name (or its hosts), or choose a layout with shorter file names (`layout: service`)"),
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
