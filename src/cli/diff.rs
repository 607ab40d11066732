//! `meshgen diff`: compiles the inventory, reads the other side (another build's output
//! directory, or the live cluster), compares and prints the report.
//!
//! Exit codes follow `kubectl diff`: 0 nothing would change, 1 something would, 2 on any
//! error (including an inventory with errors: there is nothing to compare then).

use std::collections::{BTreeSet, HashMap};
use std::io::Write as _;
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};

use super::Leftovers;
use super::args::DiffArgs;
use super::context::Context;
use super::project::{compile_verbose, options, print_diagnostics, print_timings, rendering};
use crate::compile::{Compiled, Goal, Options, Rendered};
use crate::diag::Diagnostics;
use crate::diff::report::{self, Sides, Style};
use crate::diff::{self, Key, Normalizer, Object, Plan};
use crate::model::Layout;
use crate::render::{Kind, Manifest};

/// Exit code: something would change.
const EXIT_CHANGES: u8 = 1;

/// Runs `meshgen diff`.
pub(super) fn run(cx: &Context, args: &DiffArgs, keep: &mut Leftovers) -> Result<u8> {
    // `--cluster` alone means the live cluster with the base inventory (or `--env`'s).
    let mut compile = args.compile.clone();
    compile.cluster = compile.cluster.filter(|name| !name.is_empty());
    super::project::namespace_names(&args.namespace)?;
    // Against another build, this build's manifests are compared as they are rendered
    // ([`against_streamed`]), their names checked on the way; compile keeps them all where
    // that cannot be (overridden templates or `--crds`: the output is verified first).
    let goal = if args.against.is_some() { Goal::Compare } else { Goal::Manifests };
    let options = rendering(options(cx, &compile, goal)?, &args.render)?;
    // The other build's files are listed and read while this build compiles: neither needs
    // the other. Only a file that meshgen's cache vouches for and that is named as the
    // per-object layout names its objects waits for the build, which may show it unchanged
    // without reading it (`against`). Like every path of the command line, `--against DIR`
    // starts at `-C DIR`.
    let listing = args.against.as_deref().map(|dir| options.resolve(dir)).map(|dir| {
        crate::par::background(move || {
            let recorded = crate::emit::Recorded::load(&dir);
            let listing = diff::rendered::list(&dir, |rel, path| recorded.hash_of(rel, path))?;
            let read = listing.read_unless(|rel, recorded| recorded.is_some() && object_file(rel).is_some())?;
            Ok::<_, anyhow::Error>((listing, read))
        })
    });
    let mut c = compile_verbose(cx, &options)?;
    let print = |c: &Compiled| {
        print_diagnostics(&c.diags, &c.sources, args.diagnostics.format, cx.color_stderr(), false, cx.quiet)
    };
    let has_errors = || {
        anyhow::anyhow!(
            "the inventory has errors, so there is nothing to compare: fix them first (`meshgen check` lists them)"
        )
    };
    // Compiled for a comparison, the objects' names are checked as they are rendered: the
    // findings are printed once that is done, all together.
    let deferred = matches!(c.rendered, Some(Rendered::Compare(_)));
    if !deferred {
        print(&c)?;
    }
    if c.rendered.is_none() {
        return Err(has_errors());
    }
    let scope = Scope(&args.namespace);
    // `diff.ignore` of meshgen.yaml (checked with the project file), then `--ignore`.
    let normalizer = Normalizer::new(c.project.diff_ignore.iter().chain(&args.ignore).cloned().collect());
    let mut cluster_id = None;
    let mut streamed = false;
    let (plan, before, namespaces) = match (&args.against, listing) {
        // Named as it was given.
        (Some(dir), Some(listing)) => {
            let waited = listing.wait();
            if deferred && waited.is_err() {
                print(&c)?;
            }
            let (listing, read) = waited?;
            // Rendered while comparing, either way, when compiled for it.
            streamed = deferred;
            let (compared, found) = if read.known.is_empty() {
                against_streamed(cx, dir, read, &c, scope, &normalizer, keep)?
            } else {
                let (all, found) = c.take_manifests()?;
                let compared = (!found.has_errors())
                    .then(|| {
                        let manifests: Vec<&Manifest> = all.iter().filter(|m| scope.holds(&m.namespace)).collect();
                        let plan = against(cx, dir, (listing, read), &manifests, scope, &normalizer, keep)?;
                        Ok::<_, anyhow::Error>((plan, all.iter().map(|m| Arc::clone(&m.namespace)).collect()))
                    })
                    .transpose()?;
                keep.keep(all);
                (compared, found)
            };
            if deferred {
                c.diags.extend(found);
                print(&c)?;
            }
            let Some((plan, namespaces)) = compared else { return Err(has_errors()) };
            (plan, dir.display().to_string(), namespaces)
        }
        _ => {
            let (all, _) = c.take_manifests()?;
            let manifests: Vec<&Manifest> = all.iter().filter(|m| scope.holds(&m.namespace)).collect();
            let (plan, id) = cluster(cx, args, &options, &c.project, &manifests, &normalizer, &mut c.timings)?;
            cluster_id = Some(id);
            let namespaces = all.iter().map(|m| Arc::clone(&m.namespace)).collect();
            keep.keep(all);
            (plan, "live".to_string(), namespaces)
        }
    };
    scope.check_found(&namespaces, &plan)?;
    for path in normalizer.unmatched() {
        cx.note(format!(
            "warning: ignore path `{path}` matched no field of any object compared: check its spelling (paths look like `spec.exportTo` or `metadata.annotations[\"example.com/owner\"]`)"
        ));
    }
    let (after, title) = match &args.against {
        Some(_) => ("build", format!("`{before}`")),
        None => ("desired", "the live cluster".to_string()),
    };
    // Rendered while comparing, rendering and comparing are one stage, as rendering and
    // writing are for `build`.
    c.timings.mark(if streamed { "stream" } else { "compare" });
    let sides = Sides {
        before: &before,
        after,
        title: &title,
        cluster: cluster_id
            .as_ref()
            .map(|(server, context): &(String, Option<String>)| (server.as_str(), context.as_deref())),
    };
    let style = Style { color: cx.color_stdout(), markdown_limit: args.markdown_limit };
    let text = report::render(&plan, args.output, sides, style);
    std::io::stdout().lock().write_all(text.as_bytes()).context("failed to write the report to stdout")?;
    print_timings(&mut c, cx, &compile, "report");
    let code = if plan.has_changes() { EXIT_CHANGES } else { 0 };
    // Freeing every manifest one by one would cost more than the comparison (see `Leftovers`).
    keep.keep((c, plan));
    Ok(code)
}

/// The namespaces of `-n` (none: all).
#[derive(Debug, Clone, Copy)]
struct Scope<'a>(&'a [String]);

impl Scope<'_> {
    fn holds(self, namespace: &str) -> bool {
        self.0.is_empty() || self.0.iter().any(|ns| ns == namespace)
    }

    /// A namespace of `-n` that holds no desired and no other-side object is a typo until
    /// shown otherwise: comparing nothing and passing would keep a drift check green forever.
    /// `desired`: the namespaces of every object of this build, in `-n` or not.
    fn check_found(self, desired: &BTreeSet<Arc<str>>, plan: &Plan) -> Result<()> {
        for ns in self.0 {
            if desired.contains(ns.as_str()) || plan.changes.iter().any(|c| &c.key.namespace == ns) {
                continue;
            }
            let known: Vec<&str> = desired.iter().map(|n| &**n).collect();
            let hint = crate::diag::suggest::hint(ns, "namespace", &known).map_or(String::new(), |h| format!(" ({h})"));
            bail!("namespace `{ns}` of `-n` holds no object of this inventory and none on the other side{hint}");
        }
        Ok(())
    }
}

/// This build against another output directory. Documents whose text is identical on both
/// sides are paired off unparsed: in a pull request few objects change, and parsing only
/// the changed ones keeps the diff's cost near that of listing the files.
/// `dir` is the directory as given, for messages (`listing` has read it).
fn against(
    cx: &Context,
    dir: &std::path::Path,
    (listing, read): (diff::rendered::Listing, diff::rendered::Rendered),
    manifests: &[&Manifest],
    scope: Scope<'_>,
    normalizer: &Normalizer,
    keep: &mut Leftovers,
) -> Result<Plan> {
    // A directory that meshgen built (and recorded in its cache) in the per-object layout
    // holds each unchanged object in a file the cache vouches for: those are paired off
    // by their recorded hash, not read. Only recorded files named as that layout names them
    // (`<namespace>/<kind>-<name>.yaml`) can be: other layouts' directories cost nothing here.
    let by_file = object_files(&listing, manifests);
    let rest = listing.only(&read.known).read_unless(|rel, recorded| {
        recorded.is_some_and(|h| {
            by_file.get(rel).is_some_and(|&i| crate::emit::Recorded::object_file_hash(&manifests[i].text) == h)
        })
    })?;
    let rendered = diff::rendered::Rendered { known: Vec::new(), ..read }.merge(rest);
    let mut paired = vec![false; manifests.len()];
    for rel in &rendered.known {
        paired[by_file[rel.as_str()]] = true;
    }
    let docs = rendered.documents();
    let files: Vec<&str> = docs.iter().map(|d| d.file).collect();
    let unpaired: Vec<usize> = (0..manifests.len()).filter(|&i| !paired[i]).collect();
    let texts: Vec<&str> = unpaired.iter().map(|&i| &*manifests[i].text).collect();
    let (_, other, pairs) = diff::split_identical(texts, docs);
    let identical = pairs.len() + rendered.known.len();
    let mut matched = vec![false; unpaired.len()];
    for &(i, _) in &pairs {
        matched[i] = true;
    }
    // The changed documents of both sides, parsed on the machine's cores.
    let changed: Vec<usize> = unpaired.iter().zip(matched).filter(|(_, matched)| !matched).map(|(&i, _)| i).collect();
    let desired = crate::par::map(&changed, |&i| read_back(manifests[i]).map_err(anyhow::Error::msg))?;
    let known = rendered.known.iter().map(|rel| (by_file[rel.as_str()], rel.as_str()));
    let paired = known.chain(pairs.iter().map(|&(i, j)| (unpaired[i], files[j])));
    let paired = paired.map(|(i, file)| (KeyRef::of_manifest(manifests[i]), file));
    let plan = compare_with(cx, dir, (desired, other), paired, identical, scope, normalizer);
    // Tens of thousands of file contents, about to be freed with the process anyway.
    keep.keep(rendered);
    Ok(plan)
}

/// A comparison's plan, and the namespaces of every object of this build.
type Compared = (Plan, BTreeSet<Arc<str>>);

/// [`against`] for a directory whose every file was read (none that meshgen's cache vouches
/// for is named as the per-object layout names its objects, which `against` pairs by hash):
/// each namespace's manifests are paired with the other side's identical documents on the
/// thread that rendered them, as they are rendered, and only those that differ are kept.
/// Holding every manifest until the end was about 45 MB at 10,000 services, of a peak of
/// 155 MB whose first touch was most of the command's system time, a third of its CPU
/// (docs/performance.md, AP-diff).
/// Returns the plan and the namespaces of every object of this build (none when rendering
/// found an object's name wrong), and what rendering found wrong.
fn against_streamed(
    cx: &Context,
    dir: &std::path::Path,
    read: diff::rendered::Rendered,
    c: &Compiled,
    scope: Scope<'_>,
    normalizer: &Normalizer,
    keep: &mut Leftovers,
) -> Result<(Option<Compared>, Diagnostics)> {
    /// An object of this build identical to the other side's document at this position: its
    /// identity, for the warning about a second copy on the other side.
    type Pair = (usize, Kind, Arc<str>, Box<str>);
    let docs = read.documents();
    let index = diff::TextIndex::new(&docs);
    let (mut namespaces, mut pairs, mut changed) = (BTreeSet::new(), Vec::new(), Vec::new());
    let mut paired = vec![false; docs.len()];
    let mut twice = false;
    let found = c.each_namespace_checked(
        |ms| {
            let (mut pairs, mut changed): (Vec<Pair>, Vec<Manifest>) = (Vec::new(), Vec::new());
            for m in ms.iter().filter(|m| scope.holds(&m.namespace)) {
                match index.first_identical(&m.text) {
                    Some(j) => pairs.push((j, m.kind, Arc::clone(&m.namespace), m.name.clone())),
                    None => changed.push(m.clone()),
                }
            }
            Ok((ms.first().map(|m| Arc::clone(&m.namespace)), pairs, changed))
        },
        |(namespace, some, differ)| {
            namespaces.extend(namespace);
            // This build's texts are distinct (two equal ones would be one object, which
            // the name checks refuse), so each pairs with the first identical document of
            // the other side, as `split_identical` pairs.
            for pair in some {
                twice |= std::mem::replace(&mut paired[pair.0], true);
                pairs.push(pair);
            }
            changed.extend(differ);
            Ok(())
        },
    )?;
    if found.has_errors() {
        keep.keep(read);
        return Ok((None, found));
    }
    if twice {
        bail!("internal error: two objects of this build rendered the same text; please report it");
    }
    drop(index);
    // In the other side's order, as `against` finds its pairs.
    pairs.sort_unstable_by_key(|p| p.0);
    let files: Vec<&str> = docs.iter().map(|d| d.file).collect();
    let other: Vec<_> = docs.into_iter().zip(paired).filter(|(_, p)| !p).map(|(d, _)| d).collect();
    let desired = crate::par::map(&changed, |m| read_back(m).map_err(anyhow::Error::msg))?;
    let identical = pairs.len();
    let paired = pairs.iter().map(|(j, kind, ns, name)| (KeyRef(kind.as_str(), ns, name), files[*j]));
    let plan = compare_with(cx, dir, (desired, other), paired, identical, scope, normalizer);
    drop(files);
    keep.keep(read);
    Ok((Some((plan, namespaces)), found))
}

/// What both ways of comparing with another build share once identical documents are
/// paired off: `desired`, this build's changed objects (parsed), and `other`, the other
/// side's unpaired documents; `paired`, the identities of the objects paired off with the
/// file each was found in, in the other side's order; `identical`, how many.
fn compare_with<'d>(
    cx: &Context,
    dir: &std::path::Path,
    (desired, other): (Vec<Object>, Vec<diff::rendered::Document<'d>>),
    paired: impl Iterator<Item = (KeyRef<'d>, &'d str)>,
    identical: usize,
    scope: Scope<'_>,
    normalizer: &Normalizer,
) -> Plan {
    let parsed: Vec<(Result<Object, String>, &str)> =
        crate::par::map_owned(other, |doc| (Object::from_yaml(doc.text), doc.file));
    // Where each object of the other side was found, to name both files of a duplicate
    // (the first file wins: a second copy is not an object to prune). The objects paired
    // off above come first; of those (nearly all of them) only the ones whose identity a
    // parsed document repeats are looked up, by borrowed identity.
    let repeated: foldhash::HashSet<KeyRef<'_>> =
        parsed.iter().filter_map(|(o, _)| o.as_ref().ok()).map(|o| KeyRef::of_key(&o.key)).collect();
    let mut first_paired: foldhash::HashMap<KeyRef<'_>, &str> = foldhash::HashMap::default();
    for (key, file) in paired {
        if repeated.contains(&key) {
            first_paired.entry(key).or_insert(file);
        }
    }
    drop(repeated);
    let mut first_other: HashMap<Key, &str> = HashMap::new();
    let mut others = Vec::with_capacity(parsed.len());
    for (parsed, file) in parsed {
        match parsed {
            Ok(o) if scope.holds(&o.key.namespace) => {
                match first_paired.get(&KeyRef::of_key(&o.key)).or_else(|| first_other.get(&o.key)) {
                    Some(first) => cx.note(format!(
                        "warning: `{}` and `{}` both hold {}: the second copy is ignored",
                        dir.join(first).display(),
                        dir.join(file).display(),
                        o.key
                    )),
                    None => {
                        first_other.insert(o.key.clone(), file);
                        others.push(o);
                    }
                }
            }
            Ok(_) => {}
            Err(why) => cx.note(format!("warning: skipping a document of `{}`: {why}", dir.join(file).display())),
        }
    }
    let mut plan = diff::compare(desired, others, normalizer);
    plan.unchanged += identical;
    plan
}

/// A rendered manifest parsed back, to compare: the rendered text is what a sync applies,
/// so it is the desired side. Its identity must be the manifest's, by which the other side's
/// objects are paired with it.
pub(super) fn read_back(m: &Manifest) -> Result<Object, String> {
    let bug = |e: String| format!("meshgen rendered a document it cannot read back ({e}); please report it");
    let o = Object::from_yaml(&m.text).map_err(bug)?;
    if KeyRef::of_key(&o.key) != KeyRef::of_manifest(m) {
        return Err(bug(format!(
            "it names {} but was rendered as {} {}/{}",
            o.key,
            m.kind.as_str(),
            m.namespace,
            m.name
        )));
    }
    Ok(o)
}

/// An object's identity, borrowed: kind, namespace, name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct KeyRef<'a>(&'a str, &'a str, &'a str);

impl<'a> KeyRef<'a> {
    /// A manifest's identity, without parsing its text.
    fn of_manifest(m: &'a Manifest) -> KeyRef<'a> {
        KeyRef(m.kind.as_str(), &m.namespace, &m.name)
    }

    fn of_key(k: &'a Key) -> KeyRef<'a> {
        KeyRef(&k.kind, &k.namespace, &k.name)
    }
}

/// The namespace and object name of a file named as the per-object layout names its files
/// (`<namespace>/<kind>-<name>.yaml`, the kind in lower case; it ends at the first `-`). The
/// per-service layout's `<namespace>/<entity>.yaml` is not, unless the entity's name starts
/// with a kind's.
fn object_file(rel: &str) -> Option<(&str, &str)> {
    let (ns, file) = rel.split_once('/')?;
    let (kind, name) = file.strip_suffix(".yaml")?.split_once('-')?;
    crate::render::Kind::ALL.iter().any(|k| k.as_str().eq_ignore_ascii_case(kind)).then_some((ns, name))
}

/// The listed files that the cache vouches for and that the per-object layout would write
/// for one of the manifests, with that manifest's position. A name is taken apart
/// (`<namespace>/<kind>-<name>.yaml`) and the manifest it would belong to found by namespace
/// and name; the manifest's own file name then decides, so a name this misreads only fails
/// to match. Without such files (no cache, or another layout) no file name is made.
fn object_files<'l>(listing: &'l diff::rendered::Listing, manifests: &[&Manifest]) -> HashMap<&'l str, usize> {
    let mut named: foldhash::HashMap<(&str, &str), Vec<&str>> = foldhash::HashMap::default();
    for rel in listing.recorded() {
        if let Some(key) = object_file(rel) {
            named.entry(key).or_default().push(rel);
        }
    }
    let mut by_file = HashMap::new();
    if named.is_empty() {
        return by_file;
    }
    for (i, m) in manifests.iter().enumerate() {
        let Some(rels) = named.get(&(&*m.namespace, &*m.name)) else { continue };
        let Ok(file) = crate::emit::file_of(m.kind, &m.namespace, &m.name, &m.entity, Layout::Object) else { continue };
        if let Some(rel) = rels.iter().find(|rel| **rel == file) {
            by_file.insert(*rel, i);
        }
    }
    by_file
}

/// The API server and context compared with.
type ClusterId = (String, Option<String>);

#[cfg(not(feature = "cluster"))]
fn cluster(
    _: &Context,
    _: &DiffArgs,
    _: &Options,
    _: &crate::model::project::Project,
    _: &[&Manifest],
    _: &Normalizer,
    _: &mut crate::compile::Timings,
) -> Result<(Plan, ClusterId)> {
    bail!(
        "this meshgen was built without the `cluster` feature, so it cannot read a cluster: rebuild it with default features, or compare with another build (`--against DIR`)"
    )
}

/// This build against the live objects.
#[cfg(feature = "cluster")]
fn cluster(
    cx: &Context,
    args: &DiffArgs,
    options: &Options,
    project: &crate::model::project::Project,
    manifests: &[&Manifest],
    normalizer: &Normalizer,
    timings: &mut crate::compile::Timings,
) -> Result<(Plan, ClusterId)> {
    use crate::diff::conflicts::Claims;
    use crate::diff::live::Trim;
    use crate::diff::server_side;
    let conn = super::live::Connection {
        kubeconfig: args.kubeconfig.as_deref(),
        context: args.context.as_deref(),
        namespaces: &args.namespace,
        timeout: args.timeout,
        concurrency: usize::from(args.concurrency),
        selector: args.selector.as_deref(),
        // Only `--server-side`'s corrections read managedFields and last-applied copies.
        trim: if args.server_side { Trim::Nothing } else { Trim::ServerState },
    };
    let super::live::Read { session, live } = super::live::read(&conn, options, project, manifests)?;
    timings.mark("cluster read");
    let (mut plan, findings) = if args.server_side {
        // The desired side is what the API server would store: defaults filled in, fields of
        // other managers kept, as an apply would leave it. Objects equal to their live
        // selves would not change, and are not sent. This reads every object as a tree, as
        // the corrections of removals need them side by side.
        let desired =
            manifests.iter().map(|m| read_back(m)).collect::<Result<Vec<_>, _>>().map_err(anyhow::Error::msg)?;
        let findings = super::live::findings(&Claims::of(&desired), &live, project)?;
        // Each live object's text is freed as its tree is made: not both held.
        let managed = (live.managed.into_iter())
            .map(|o| o.object())
            .collect::<Result<Vec<_>, _>>()
            .map_err(anyhow::Error::msg)?;
        let evaluate = server_side::to_evaluate(&desired, &managed, normalizer);
        let answers =
            session.dry_run(&super::live::wanted(evaluate.iter().map(|&i| &desired[i])), &args.field_manager)?;
        timings.mark("dry runs");
        let mut outcome =
            server_side::merge(desired, &managed, evaluate.into_iter().zip(answers).collect(), &args.field_manager);
        if !outcome.applied_by_others.is_empty() {
            cx.note(applied_by_others(&outcome, &args.field_manager));
        }
        let mut plan = diff::compare(std::mem::take(&mut outcome.desired), managed, normalizer);
        outcome.annotate(&mut plan);
        (plan, findings)
    } else {
        // Each desired object is parsed back, its claims taken, compared with its live self
        // (read from its text then) and freed: neither side is ever held as trees.
        let mut claims = Claims::default();
        let desired = manifests.iter().map(|m| {
            let o = read_back(m)?;
            claims.add(&o);
            Ok::<_, String>(o)
        });
        let plan =
            diff::compare_each(desired, live.managed.iter().collect(), normalizer).map_err(anyhow::Error::msg)?;
        (plan, super::live::findings(&claims, &live, project)?)
    };
    plan.findings = findings;
    if project.name.is_none() && args.selector.is_none() && plan.count(diff::Action::Prune) > 0 {
        cx.note(
            "note: meshgen.yaml names no `project`, so every meshgen object without a project label counts as this project's, and is pruned if the inventory lacks it: where several projects share the cluster, name each (`project: NAME`)",
        );
    }
    if args.compile.timings || cx.verbose > 0 {
        eprintln!("cluster: {} requests to {}", session.requests(), session.server());
    }
    let id = (session.server().to_string(), session.context().map(str::to_string));
    Ok((plan, id))
}

/// The warning, once, that other managers applied some objects, so removals were worked
/// out from their `managedFields` rather than by the API server.
#[cfg(feature = "cluster")]
fn applied_by_others(outcome: &crate::diff::server_side::Outcome, manager: &str) -> String {
    let n = outcome.applied_by_others.len();
    let appliers: Vec<String> = outcome.appliers.iter().map(|m| format!("`{m}`")).collect();
    let objects = if n == 1 { "1 live object was".to_string() } else { format!("{n} live objects were") };
    format!(
        "warning: {objects} applied by {}, not by field manager `{manager}`: the fields they applied that the inventory no longer has are shown as removed, as their next apply would remove them; pass `--field-manager` with the manager that syncs this cluster for the API server's own answer",
        appliers.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::render::Kind;

    fn manifest(kind: Kind, namespace: &str, name: &str) -> Manifest {
        let text = format!("kind: {}\n", kind.as_str()).into();
        Manifest { kind, namespace: Arc::from(namespace), name: name.into(), entity: Arc::from(name), text }
    }

    #[test]
    fn only_recorded_files_of_the_object_layout_stand_for_a_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let files = [
            "shop/destinationrule-catalog.yaml",
            "shop/virtualservice-catalog.yaml",
            "shop/serviceentry-pay-v2.yaml",
            "shop/workloadentry-pay-v2.yaml",
            "shop/catalog.yaml",
            "shop.yaml",
            "other/destinationrule-catalog.yaml",
        ];
        for f in files {
            let path = dir.path().join(f);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "kind: X\n").unwrap();
        }
        let manifests = [
            manifest(Kind::DestinationRule, "shop", "catalog"),
            manifest(Kind::VirtualService, "shop", "catalog"),
            // A name with dashes: the kind ends at the first one.
            manifest(Kind::ServiceEntry, "shop", "pay-v2"),
            manifest(Kind::DestinationRule, "other", "ledger"),
        ];
        let manifests: Vec<&Manifest> = manifests.iter().collect();
        // Everything recorded but the VirtualService's file.
        let listing =
            diff::rendered::list(dir.path(), |rel, _| (!rel.starts_with("shop/virtualservice")).then_some(7)).unwrap();
        let mut found: Vec<(&str, usize)> = object_files(&listing, &manifests).into_iter().collect();
        found.sort();
        assert_eq!(found, [("shop/destinationrule-catalog.yaml", 0), ("shop/serviceentry-pay-v2.yaml", 2)]);
        // Only the per-object layout's names are taken apart.
        assert_eq!(object_file("shop/destinationrule-pay-v2.yaml"), Some(("shop", "pay-v2")));
        assert_eq!(object_file("shop/catalog-api.yaml"), None);
        assert_eq!(object_file("shop.yaml"), None);
        // Nothing recorded: no file stands for a manifest.
        let listing = diff::rendered::list(dir.path(), |_, _| None).unwrap();
        assert!(object_files(&listing, &manifests).is_empty());
    }
}
