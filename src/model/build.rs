//! Building the [`Inventory`] from the loaded sources: each file parsed and its entities
//! validated on its own (in parallel, see [`crate::par`]), with overlays applied first; then
//! names checked across files, suppressions collected and everything sorted. The model's
//! types are in the parent module; this is the part that reads input.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::de::DeserializeOwned;

use super::overlay::{self, Overlays};
use super::raw::RawDocument;
use super::traffic::Traffic;
use super::{External, Identity, Inventory, Project, Service, Suppression, external, patch, raw, service, validate};
use crate::diag::codes::NotSuppressible;
use crate::diag::{Diagnostic, Diagnostics, Origin};
use crate::load::Source;

/// Validates an entity's `ignore:` entries into suppressions.
fn suppressions(entries: &[raw::RawIgnore], scope: &Origin, diags: &mut Diagnostics, out: &mut Vec<Suppression>) {
    for (i, e) in entries.iter().enumerate() {
        let at = scope.child("ignore").index(i);
        if e.reason.trim().is_empty() {
            diags.push(
                Diagnostic::error("missing-field", at.child("reason"), "an ignored finding needs a reason")
                    .help("say why the finding does not apply here; reviewers read it"),
            );
        }
        match crate::diag::codes::suppressible(&e.code) {
            Ok(c) => out.push(Suppression { scope: scope.clone(), code: c.name, origin: at }),
            Err(NotSuppressible::Fixed(name)) => diags.push(
                Diagnostic::error("invalid-value", at.child("code"), format!("`{name}` cannot be ignored"))
                    .help("it would make the output wrong or rejected by Istio; fix the inventory instead"),
            ),
            Err(NotSuppressible::Unknown(hint)) => diags.push(
                Diagnostic::error(
                    "invalid-value",
                    at.child("code"),
                    format!("unknown code `{}`", validate::shown(&e.code)),
                )
                .maybe_help(hint),
            ),
        }
    }
}

/// Deserialises `value` into `T`, turning serde's error into a diagnostic at the exact YAML
/// path (unknown fields get "did you mean").
pub fn from_value<T: DeserializeOwned>(
    value: &crate::yaml::Value,
    origin: &Origin,
    diags: &mut Diagnostics,
) -> Option<T> {
    // Tracking the path costs on every field, and almost every value is valid: only a failed
    // value is deserialised again, with the path, for the diagnostic.
    if let Ok(v) = T::deserialize(value) {
        return Some(v);
    }
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(v) => Some(v),
        Err(e) => {
            diags.push(super::shape::diagnostic(&e, value, origin));
            None
        }
    }
}

/// What the entities of one inventory file hold in common, each kept once: the model stage
/// reads a file with one of these.
#[derive(Debug, Default)]
pub(super) struct Shared {
    /// Localities, networks and service accounts of workloads.
    strings: foldhash::HashSet<Arc<str>>,
    /// The pairs of network and service account of workloads.
    identities: foldhash::HashSet<Arc<Identity>>,
    /// The localities among them found valid: each is checked once per file.
    valid_localities: foldhash::HashSet<Arc<str>>,
    /// The last few of them asked for, newest last: a service's VMs nearly always rotate
    /// among a few zones, and comparing with those costs less than hashing every VM's.
    recent_localities: Vec<Arc<str>>,
    /// The traffic policy of a service that writes none: the project's defaults.
    defaults: Option<Arc<Traffic>>,
    /// The identity asked for last: a service's VMs nearly always share one, and comparing
    /// two short strings costs less than hashing them into both sets again.
    last_identity: Option<Arc<Identity>>,
}

impl Shared {
    /// `s`, as the one copy of it.
    fn string(&mut self, s: &str) -> Arc<str> {
        if let Some(same) = self.strings.get(s) {
            return Arc::clone(same);
        }
        let s: Arc<str> = Arc::from(s);
        self.strings.insert(Arc::clone(&s));
        s
    }

    /// The identity of a workload with this network and service account (`None` for
    /// neither), as the one copy of it.
    pub(super) fn identity(&mut self, network: Option<&str>, service_account: Option<&str>) -> Option<Arc<Identity>> {
        if network.is_none() && service_account.is_none() {
            return None;
        }
        if let Some(last) = &self.last_identity
            && last.network.as_deref() == network
            && last.service_account.as_deref() == service_account
        {
            return Some(Arc::clone(last));
        }
        let network = network.map(|n| self.string(n));
        let service_account = service_account.map(|a| self.string(a));
        let identity = Identity { network, service_account };
        let identity = match self.identities.get(&identity) {
            Some(same) => Arc::clone(same),
            None => {
                let identity = Arc::new(identity);
                self.identities.insert(Arc::clone(&identity));
                identity
            }
        };
        self.last_identity = Some(Arc::clone(&identity));
        Some(identity)
    }

    /// The locality `l` written at `at`, checked unless an earlier workload of the file
    /// wrote it (a file's hundreds of VMs name a few localities).
    pub(super) fn locality(&mut self, cx: &mut validate::Checker<'_>, l: &str, at: &dyn validate::Place) -> Arc<str> {
        /// How many recent localities are compared before the hash set is asked.
        const RECENT: usize = 4;
        if let Some(valid) = self.recent_localities.iter().rev().find(|r| ***r == *l) {
            return Arc::clone(valid);
        }
        let valid = match self.valid_localities.get(l) {
            Some(valid) => Arc::clone(valid),
            None => {
                let l = self.string(l);
                if !cx.locality(&l, at) {
                    return l;
                }
                self.valid_localities.insert(Arc::clone(&l));
                l
            }
        };
        if self.recent_localities.len() == RECENT {
            self.recent_localities.remove(0);
        }
        self.recent_localities.push(Arc::clone(&valid));
        valid
    }

    /// The traffic policy of a service: `own` merged over the project's `defaults`, the
    /// one copy of the defaults when it writes nothing.
    pub(super) fn traffic(&mut self, own: &Traffic, defaults: &Traffic) -> Arc<Traffic> {
        if *own != Traffic::default() {
            return Arc::new(own.over(defaults));
        }
        Arc::clone(self.defaults.get_or_insert_with(|| Arc::new(own.over(defaults))))
    }
}

/// One entity as read from a file, before duplicates across files are known.
struct Read {
    built: Built,
    suppressions: Vec<Suppression>,
    /// Its `patches`, checked.
    patches: Vec<patch::Patch>,
}

impl Read {
    /// The entity's name.
    fn name(&self) -> &str {
        match &self.built {
            Built::Service(s) => &s.name,
            Built::External(e) => &e.name,
            Built::Not { name, .. } => name,
        }
    }

    /// Where the entity is declared.
    fn origin(&self) -> &Origin {
        match &self.built {
            Built::Service(s) => &s.origin,
            Built::External(e) => &e.origin,
            Built::Not { origin, .. } => origin,
        }
    }
}

/// A [`Read`] with what ordering and deduplicating the entities of every file takes,
/// computed on the core that read it, while its strings are still in that core's cache.
struct Keyed {
    read: Read,
    /// [`name_hash`] of its name.
    hash: u64,
    /// Its namespace and name, as far as they sort by integers.
    prefix: crate::sort::Prefix,
}

impl Keyed {
    fn new(read: Read) -> Keyed {
        let prefix = match &read.built {
            Built::Service(s) => crate::sort::Prefix::of(&s.namespace, &s.name),
            Built::External(e) => crate::sort::Prefix::of(&e.namespace, &e.name),
            // Not ordered: it is in neither list.
            Built::Not { .. } => crate::sort::Prefix::of("", ""),
        };
        Keyed { hash: name_hash(read.name()), prefix, read }
    }
}

/// The hash of an entity name, to find names declared twice: one fixed seed, so that every
/// run does the same work.
fn name_hash(name: &str) -> u64 {
    use std::hash::BuildHasher as _;
    foldhash::fast::FixedState::with_seed(0x6e61_6d65).hash_one(name)
}

/// A validated entity, or its name and place only. Boxed: the entities of every file wait
/// until all files are read; inline, they took a second array's worth of memory that later
/// stages did not reuse (the figure is in docs/performance.md). A service's box becomes the
/// inventory's own; the fewer externals are moved into their array. A validated entity's
/// name and origin are its own, not a second copy beside it: the copies, allocated on the
/// core that read the file, were freed one by one on the core that gathers the files.
enum Built {
    Service(Box<Service>),
    External(Box<External>),
    /// Not validated: it had errors (reported), or is disabled (`enabled: false`, as
    /// declared or as patched).
    Not {
        name: String,
        origin: Origin,
        disabled: bool,
    },
}

/// An entity as read, before it is validated.
// One at a time, moved once into its validation: boxing the larger would only allocate.
#[allow(clippy::large_enum_variant)]
enum RawEntity {
    Service(raw::RawService),
    External(raw::RawExternal),
}

/// The kinds of entity, as `RawDocument` names their mappings, in the order their findings
/// are reported in.
const KINDS: [&str; 2] = ["services", "externals"];

/// Parses one inventory file and validates its entities. Runs on a worker thread; what was
/// read is dropped when the file is done.
fn read_file(project: &Project, overlays: &Overlays, source: &Source, diags: &mut Diagnostics) -> Vec<Read> {
    match read_fast(overlays, source) {
        Some(docs) => {
            let mut out = Vec::new();
            let mut shared = Shared::default();
            for (i, doc) in docs.into_iter().enumerate() {
                let Some(doc) = doc else { continue };
                let origin = Origin::new(&source.name, i, "");
                let ns = DocNamespace::of(doc.namespace.as_deref(), project, &origin, diags);
                let services = doc.services.into_iter().flat_map(|m| m.0).map(|(n, r)| (n, RawEntity::Service(r)));
                let externals = doc.externals.into_iter().flat_map(|m| m.0).map(|(n, r)| (n, RawEntity::External(r)));
                for (kind, (name, raw)) in services.map(|e| (KINDS[0], e)).chain(externals.map(|e| (KINDS[1], e))) {
                    let eorigin = origin.child(kind).child(&name);
                    if validate::Checker::new(diags).entity_name(kind.trim_end_matches('s'), &name, &eorigin) {
                        out.push(entity(project, ns, name, eorigin, Some(raw), &mut shared, diags));
                    }
                }
            }
            out
        }
        None => read_values(project, overlays, source, diags),
    }
}

/// The documents of an inventory file read straight into their entities, when that is
/// all there is to it: the text is plain YAML (`yaml::from_documents`), every document is
/// an inventory document whose every entity is well formed, and no overlay patches one of
/// them. Otherwise `None`, and [`read_values`] reads the file and reports what is wrong: a
/// document or entity that reads here reads the same there, so the two agree on every
/// valid file.
fn read_fast(overlays: &Overlays, source: &Source) -> Option<Vec<Option<Document>>> {
    if source.text.len() > READ_FAST_MAX {
        return None;
    }
    let docs = crate::yaml::from_documents::<Option<Document>>(&source.text)?;
    let overlaid = !overlays.is_empty()
        && docs.iter().flatten().any(|d| {
            names(&d.services).any(|n| overlays.patches(KINDS[0], n))
                || names(&d.externals).any(|n| overlays.patches(KINDS[1], n))
        });
    (!overlaid).then_some(docs)
}

/// The largest file [`read_fast`] takes. It holds all of a file's entities in their raw form
/// until the first is validated, and a raw entity takes more memory than its text (a raw
/// service is 528 bytes before its strings and lists); the values path holds one at a time,
/// so a large file goes there. Inventories are written as many small files (one per team or namespace).
const READ_FAST_MAX: usize = 256 * 1024;

/// An inventory document with its entities read.
type Document = RawDocument<raw::RawService, raw::RawExternal>;

/// The names of the entities of one kind of a document.
fn names<T>(map: &Option<raw::EntityMap<T>>) -> impl Iterator<Item = &str> {
    map.iter().flat_map(|m| m.0.iter()).map(|(name, _)| name.as_str())
}

/// The namespace of a document's entities (unless they set their own).
#[derive(Clone, Copy)]
struct DocNamespace<'a> {
    /// The document's `namespace`, else the project's default.
    name: &'a str,
    /// Whether the document's `namespace` (if it sets one) is valid. Checked once per
    /// document: its entities do not repeat the error, but are left out.
    ok: bool,
}

impl<'a> DocNamespace<'a> {
    fn of(written: Option<&'a str>, project: &'a Project, origin: &Origin, diags: &mut Diagnostics) -> Self {
        let ok = written.is_none_or(|ns| validate::Checker::new(diags).namespace(ns, &origin.child("namespace")));
        DocNamespace { name: written.unwrap_or(&project.defaults.namespace), ok }
    }
}

/// One entity of a document whose namespace is `doc_ns`: its suppressions, patches and the
/// validated entity (`raw` is `None` when it did not deserialise, already reported).
fn entity(
    project: &Project,
    doc_ns: DocNamespace<'_>,
    name: String,
    eorigin: Origin,
    raw: Option<RawEntity>,
    shared: &mut Shared,
    diags: &mut Diagnostics,
) -> Read {
    let mut sup = Vec::new();
    let mut patches = Vec::new();
    let built = match raw {
        Some(RawEntity::Service(mut r)) => {
            suppressions(&r.ignore.take().unwrap_or_default(), &eorigin, diags, &mut sup);
            patches = patch::build(r.patches.take().unwrap_or_default(), &eorigin, diags);
            service::build(project, &name, doc_ns.name, r, eorigin.clone(), shared, diags)
                .map(|s| Built::Service(Box::new(s)))
        }
        Some(RawEntity::External(mut r)) => {
            suppressions(&r.ignore.take().unwrap_or_default(), &eorigin, diags, &mut sup);
            patches = patch::build(r.patches.take().unwrap_or_default(), &eorigin, diags);
            external::build(project, &name, doc_ns.name, r, eorigin.clone(), shared, diags)
                .map(|e| Built::External(Box::new(e)))
        }
        None => None,
    };
    match built.filter(|_| doc_ns.ok) {
        Some(built) => Read { built, suppressions: sup, patches },
        None => Read {
            built: Built::Not { name, origin: eorigin, disabled: false },
            suppressions: sup,
            patches: Vec::new(),
        },
    }
}

/// [`read_file`] through the documents' YAML values, for every file the fast path does not
/// take: it reports every error in the YAML and in the entities' shapes, and applies the
/// overlays, which patch an entity's YAML before it is validated.
fn read_values(project: &Project, overlays: &Overlays, source: &Source, diags: &mut Diagnostics) -> Vec<Read> {
    let docs = crate::load::parse_documents(&source.text, &source.name, diags);
    let mut out = Vec::new();
    let mut shared = Shared::default();
    for (i, doc) in docs.iter().enumerate() {
        if doc.is_null() {
            continue;
        }
        let origin = Origin::new(&source.name, i, "");
        if let Some(d) = super::shape::kubernetes_manifest(doc, &origin) {
            diags.push(d);
            continue;
        }
        let Some(raw) = from_value::<RawDocument>(doc, &origin, diags) else { continue };
        let ns = DocNamespace::of(raw.namespace.as_deref(), project, &origin, diags);
        for kind in KINDS {
            for (key, value) in doc.get(kind).and_then(crate::yaml::Value::as_object).into_iter().flatten() {
                let name = key.as_str();
                let eorigin = origin.child(kind).child(name);
                if !validate::Checker::new(diags).entity_name(kind.trim_end_matches('s'), name, &eorigin) {
                    continue;
                }
                // Overlays patch the entity's YAML before it is validated; `enabled` is
                // taken out (it is not a field of the entity). The common case, neither,
                // borrows the value as parsed.
                let mut owned = overlays.patched(kind, name, value);
                if owned.is_none() && value.get("enabled").is_some() {
                    owned = Some(value.clone());
                }
                let enabled = owned.as_mut().is_none_or(|v| overlay::take_enabled(v, &eorigin, diags));
                let value = owned.as_ref().unwrap_or(value);
                if !enabled {
                    out.push(Read {
                        built: Built::Not { name: name.to_string(), origin: eorigin, disabled: true },
                        suppressions: Vec::new(),
                        patches: Vec::new(),
                    });
                    continue;
                }
                let raw = if kind == KINDS[0] {
                    from_value::<raw::RawService>(value, &eorigin, diags).map(RawEntity::Service)
                } else {
                    from_value::<raw::RawExternal>(value, &eorigin, diags).map(RawEntity::External)
                };
                out.push(entity(project, ns, name.to_string(), eorigin, raw, &mut shared, diags));
            }
        }
    }
    out
}

/// Builds the inventory from the project and the loaded sources. Files are parsed and
/// validated in parallel (each on its own, with its own diagnostics); names are then
/// checked for duplicates across files, in file order. The sources keep their texts.
pub fn build(project: &Project, sources: &[Source], diags: &mut Diagnostics) -> Inventory {
    build_files(project, sources.iter().collect(), &Overlays::default(), diags)
}

/// [`build`] for a compilation: each entity is patched by the overlays (of an environment
/// or cluster) before it is validated, and patches of undeclared entities are reported.
/// Each source's text is released as soon as its file is read ([`Source::release_text`]):
/// the model then reuses that memory, where a large estate would otherwise hold all of its
/// text and all of its model at once (88 MB of the peak at 100,000 services, see
/// docs/performance.md, run AG-hold). Diagnostics read the files they quote again.
pub fn build_with(
    project: &Project,
    sources: &mut [Source],
    overlays: &Overlays,
    diags: &mut Diagnostics,
) -> Inventory {
    build_files(project, sources.iter_mut().collect(), overlays, diags)
}

/// An inventory file as the model stage gets it: read, then let go of (its text released,
/// where the caller lends the source mutably).
trait File: Send {
    /// The source to read.
    fn source(&self) -> &Source;
    /// Called once the file is read.
    fn done(self);
}

impl File for &Source {
    fn source(&self) -> &Source {
        self
    }
    fn done(self) {}
}

impl File for &mut Source {
    fn source(&self) -> &Source {
        self
    }
    fn done(self) {
        self.release_text();
    }
}

fn build_files<F: File>(project: &Project, files: Vec<F>, overlays: &Overlays, diags: &mut Diagnostics) -> Inventory {
    let per_file: Vec<(Vec<Keyed>, Diagnostics)> = crate::par::map_owned(files, |f| {
        let mut d = Diagnostics::default();
        let read = read_file(project, overlays, f.source(), &mut d);
        f.done();
        (read.into_iter().map(Keyed::new).collect(), d)
    });

    let entities = per_file.iter().map(|(reads, _)| reads.len()).sum();
    // Which entities repeat a name declared before them (in file order), by reading the
    // files' results in place: the table holds positions (file, entity) and each name's hash,
    // computed where it was read, so that a name is compared only with another of the same
    // hash. (A map of every name to its origin missed the cache on every insertion.)
    let at = |&(f, k): &(u32, u32)| &per_file[f as usize].0[k as usize];
    let mut firsts: hashbrown::HashTable<(u32, u32)> = hashbrown::HashTable::with_capacity(entities);
    let mut repeats = Vec::new();
    for (f, (reads, _)) in per_file.iter().enumerate() {
        for (k, r) in reads.iter().enumerate() {
            // Positions are 32 bits: an inventory of four billion files or entities is far
            // beyond what `load::Limits` lets in.
            let here = (f as u32, k as u32);
            match firsts.entry(r.hash, |p| at(p).read.name() == r.read.name(), |p| at(p).hash) {
                hashbrown::hash_table::Entry::Occupied(first) => {
                    diags.push(
                        Diagnostic::error(
                            "duplicate-name",
                            r.read.origin().clone().key(),
                            format!("`{}` is declared twice", r.read.name()),
                        )
                        .related(at(first.get()).read.origin().clone().key(), "first declared here")
                        .help("names are unique across services and external APIs in the whole inventory; rename one"),
                    );
                    repeats.push(here);
                }
                hashbrown::hash_table::Entry::Vacant(slot) => {
                    slot.insert(here);
                }
            }
        }
    }
    // Overlays name the entities they patch: each declared name with where it is.
    let declared: foldhash::HashMap<String, Origin> = if overlays.is_empty() {
        foldhash::HashMap::default()
    } else {
        firsts.iter().map(|p| (at(p).read.name().to_string(), at(p).read.origin().clone())).collect()
    };
    drop(firsts);

    let mut services = Vec::with_capacity(entities);
    let mut prefixes = Vec::with_capacity(entities);
    let (mut externals, mut external_prefixes) = (Vec::new(), Vec::new());
    let mut invalid = BTreeSet::new();
    let mut disabled = BTreeSet::new();
    let mut suppressed = Vec::new();
    let mut patches = BTreeMap::new();
    let mut repeats = repeats.into_iter().peekable();
    for (f, (reads, d)) in per_file.into_iter().enumerate() {
        diags.extend(d);
        for (k, Keyed { read: r, prefix, .. }) in reads.into_iter().enumerate() {
            if repeats.next_if_eq(&(f as u32, k as u32)).is_some() {
                continue;
            }
            if !r.patches.is_empty() {
                patches.insert(r.name().to_string(), r.patches);
            }
            suppressed.extend(r.suppressions);
            match r.built {
                Built::Service(s) => {
                    services.push(s);
                    prefixes.push(prefix);
                }
                Built::External(e) => {
                    externals.push(*e);
                    external_prefixes.push(prefix);
                }
                Built::Not { name, disabled: true, .. } => {
                    disabled.insert(name);
                }
                Built::Not { name, .. } => {
                    invalid.insert(name);
                }
            }
        }
    }
    // After other errors (a file that does not parse), emptiness is only their echo.
    // Every entity disabled (in an environment) empties the build just the same.
    if services.is_empty() && externals.is_empty() && invalid.is_empty() && !project.allow_empty && !diags.has_errors()
    {
        let message = if disabled.is_empty() {
            "the inventory declares no services and no external APIs"
        } else {
            "every entity of the inventory is disabled (`enabled: false`)"
        };
        diags.push(Diagnostic::error("empty-inventory", Origin::new(&project.file, 0, "inventory"), message).help(
            format!(
                "check `inventory` in {} (it reads {}); if an empty inventory is intended, add `allowEmpty: true`",
                project.file,
                project.inventory.iter().map(|p| format!("`{}`", p.display())).collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    // By namespace and name, through their prefixes (see `crate::sort`).
    let order = crate::sort::permutation_by_prefix(&prefixes, |i| (&services[i].namespace, &services[i].name));
    crate::sort::apply(&mut services, &order);
    let order =
        crate::sort::permutation_by_prefix(&external_prefixes, |i| (&externals[i].namespace, &externals[i].name));
    crate::sort::apply(&mut externals, &order);
    // A disabled entity is absent from this build, and so are the calls to it: the callers
    // are built as if they did not list it (docs/environments.md).
    if !disabled.is_empty() {
        for s in &mut services {
            s.depends_on.retain(|d| !disabled.contains(&*d.target));
        }
    }
    let mut trace = project.trace.clone();
    if !overlays.is_empty() {
        overlays.finish(&declared, &mut trace, diags);
    }
    let callers_read_secrets =
        services.iter().any(|s| s.callers_read_secret()) || externals.iter().any(External::callers_read_secret);
    Inventory {
        project: project.clone(),
        services,
        externals,
        suppressions: suppressed,
        invalid,
        disabled,
        trace,
        patches,
        callers_read_secrets,
    }
}
