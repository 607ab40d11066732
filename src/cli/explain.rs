//! `meshgen explain`: the way from inventory to output and back. For an entity: what it is,
//! what it calls and is called by, the objects it produces (with their file in the output
//! directory and the inventory line behind each); for an object or an output file: the
//! entity it came from; with `--impact`: everything that depends on the entity.

use std::collections::HashMap;

use anyhow::{Result, bail};
use serde_json::{Value, json};

use super::args::{ExplainArgs, ExplainFormat};
use super::context::Context;
use super::project::{Clean, compile_clean, options, print_stages};
use crate::compile::{Goal, Options};
use crate::diag::Origin;
use crate::diag::escape::text as esc;
use crate::diag::locate::Locator;
use crate::graph::{MeshGraph, Node, NodeKind};
use crate::model::{Inventory, Layout};
use crate::render::context::{Object, objects};

/// One output object with where it goes and where it comes from.
struct Row<'a> {
    object: &'a Object,
    file: String,
    source: String,
    /// The patches applied to it, in order: where each is written, and what it does.
    patches: Vec<(String, String)>,
}

/// Prints the explanation; exit 1 when the inventory has errors, 2 for an unknown target.
pub(super) fn run(cx: &Context, args: &ExplainArgs) -> Result<u8> {
    let options = Options { api_version: args.api_version, ..options(cx, &args.compile, Goal::Analyse)? };
    let mut clean = match compile_clean(cx, options, &args.compile, args.diagnostics.format)? {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let mut timings = std::mem::take(&mut clean.timings);
    let Clean { inventory: inv, graph, sources, options, .. } = &clean;
    let layout = args.layout.unwrap_or(inv.project.layout);
    // The output directory as the user names it: relative to `-C DIR`.
    let out = options.relative(&inv.project.output);
    let all = objects(inv, graph);
    let mut lines = Lines::new(sources);

    // An entity by name first; then an object or an output file.
    let entity = graph.node(&args.target);
    let chosen: Vec<&Object> = match entity {
        Some(node) => all.iter().filter(|o| *o.entity == *node.name).collect(),
        None => find_objects(&args.target, &all, inv, out, layout)?,
    };
    let mut rows: Vec<Row<'_>> = Vec::new();
    for o in chosen {
        let file = crate::emit::file_of(o.kind, &o.namespace, &o.name, &o.entity, layout)?;
        let file = out.join(file).display().to_string();
        let patches = patches_of(o, &all, inv, &mut lines);
        rows.push(Row { object: o, file, source: lines.at(&o.origin), patches });
    }

    let text = match (entity, args.impact, args.output) {
        (None, true, _) => bail!("`--impact` needs an entity name, not an object"),
        (Some(node), true, ExplainFormat::Human) => impact_text(node, graph),
        (Some(node), true, ExplainFormat::Json) => pretty(&impact_json(node, graph)),
        (Some(node), false, ExplainFormat::Human) => entity_text(node, inv, graph, &rows, &mut lines),
        (Some(node), false, ExplainFormat::Json) => pretty(&entity_json(node, inv, graph, &rows, &mut lines)),
        (None, false, ExplainFormat::Human) => objects_text(&rows, inv, graph, &mut lines),
        (None, false, ExplainFormat::Json) => pretty(&json!({"objects": rows_json(&rows, inv, graph, &mut lines)})),
    };
    std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes())?;
    print_stages(&mut timings, cx, &args.compile, "explain");
    Ok(0)
}

/// The objects a non-entity target names: `Kind/namespace/name`, or a file of the output
/// directory `out` (as given, or relative to it).
fn find_objects<'a>(
    target: &str,
    all: &'a [Object],
    inv: &Inventory,
    out: &std::path::Path,
    layout: Layout,
) -> Result<Vec<&'a Object>> {
    let parts: Vec<&str> = target.split('/').collect();
    if let [kind, ns, name] = parts[..]
        && !target.ends_with(".yaml")
    {
        let found: Vec<&Object> = all
            .iter()
            .filter(|o| o.kind.as_str().eq_ignore_ascii_case(kind) && &*o.namespace == ns && o.name == name)
            .collect();
        if found.is_empty() {
            bail!("no {kind} `{ns}/{name}` is generated from this inventory");
        }
        return Ok(found);
    }
    if target.ends_with(".yaml") || target.ends_with(".yml") {
        let out = out.display().to_string();
        let relative = target.strip_prefix(&out).map_or(target, |r| r.trim_start_matches('/'));
        let found: Vec<&Object> = all
            .iter()
            .filter(|o| {
                crate::emit::file_of(o.kind, &o.namespace, &o.name, &o.entity, layout).is_ok_and(|f| f == relative)
            })
            .collect();
        if found.is_empty() {
            bail!("no generated object goes to `{target}` in the {layout:?} layout (paths are relative to `{out}`)");
        }
        return Ok(found);
    }
    let names: Vec<&str> =
        inv.services.iter().map(|s| s.name.as_str()).chain(inv.externals.iter().map(|e| e.name.as_str())).collect();
    let hint = crate::diag::suggest::hint(target, "services and externals", &names);
    bail!(
        "`{target}` is neither an entity nor an object (`Kind/namespace/name`) nor an output file{}",
        hint.map(|h| format!("; {h}")).unwrap_or_default()
    )
}

/// The patches of `o`'s entity that apply to it (`all`: every object), in order: where each
/// is written (in an overlay, when one set it) and what it does.
fn patches_of(o: &Object, all: &[Object], inv: &Inventory, lines: &mut Lines<'_>) -> Vec<(String, String)> {
    let Some(patches) = inv.patches.get(&*o.entity) else { return Vec::new() };
    let siblings: Vec<&Object> = all.iter().filter(|s| s.entity == o.entity).collect();
    let ids: Vec<_> = siblings.iter().map(|s| (s.kind, s.name.as_str())).collect();
    let applied = crate::render::patch::by_object(patches, &o.entity, &ids);
    let mine = applied.into_iter().find(|(i, _)| std::ptr::eq(siblings[*i], o));
    mine.map(|(_, ps)| ps)
        .unwrap_or_default()
        .into_iter()
        .map(|p| (lines.at(&inv.trace.locate(&p.origin).unwrap_or_else(|| p.origin.clone())), p.summary()))
        .collect()
}

/// Source positions, one locator per file, built when the file is first needed.
struct Lines<'a> {
    sources: HashMap<&'a str, &'a crate::load::Source>,
    /// Each file looked at so far: its locator, or `None` when its text is gone.
    locators: HashMap<&'a str, Option<Locator>>,
}

impl<'a> Lines<'a> {
    fn new(sources: &'a [crate::load::Source]) -> Lines<'a> {
        Lines { sources: sources.iter().map(|s| (&*s.name, s)).collect(), locators: HashMap::new() }
    }

    /// `file:line:col (path)` of an origin.
    fn at(&mut self, o: &Origin) -> String {
        let Some((&file, source)) = self.sources.get_key_value(&*o.file) else {
            return format!("{} ({})", o.file, o.path);
        };
        // Through `text_again`, as the diagnostics do: the model stage released the
        // inventory's texts, so only the files an explanation points into are read again.
        let loc = self.locators.entry(file).or_insert_with(|| source.text_again().map(|t| Locator::new(&t)));
        match loc.as_ref().and_then(|loc| loc.find(o.doc as usize, &o.path, crate::diag::Part::Key)) {
            Some(p) => format!("{}:{}:{} ({})", o.file, p.line, p.col, o.path),
            None => format!("{} ({})", o.file, o.path),
        }
    }
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

/// What an entity is, in a few words.
fn describe(node: &Node, inv: &Inventory) -> (String, Vec<String>) {
    match node.kind {
        NodeKind::Service => {
            let s = &inv.services[node.entity];
            let what = match crate::graph::export::workload_kind(s) {
                "vm+pods" => "service on VMs and pods",
                "vm" => "service on VMs",
                _ => "service on pods",
            };
            (what.to_string(), vec![s.host.clone()])
        }
        NodeKind::External => {
            let e = &inv.externals[node.entity];
            let what = if e.egress.is_some() { "external API, through the egress gateway" } else { "external API" };
            (what.to_string(), e.hosts.clone())
        }
    }
}

/// The policy that covers a service, in words (empty when none).
fn policy_words(node: &Node, inv: &Inventory) -> Vec<&'static str> {
    let Some(s) = node.service(inv) else { return Vec::new() };
    let p = &inv.project.policy;
    let mut v = Vec::new();
    if p.sidecar_for(s) {
        v.push("Sidecar (egress limited to its dependencies)");
    }
    if p.authorization_for(s) {
        v.push("AuthorizationPolicy (allows its declared callers only)");
    }
    v
}

fn entity_text(node: &Node, inv: &Inventory, graph: &MeshGraph, rows: &[Row<'_>], lines: &mut Lines<'_>) -> String {
    let (what, hosts) = describe(node, inv);
    // Names, hosts, paths and patch summaries come from the inventory: escaped (see
    // `diag::escape`), so that none can start a line of its own or reach the terminal.
    let mut out = format!("`{}`: {what}, namespace `{}`\n", esc(&node.name), esc(&node.namespace));
    out.push_str(&format!("  declared at  {}\n", esc(&lines.at(&node.origin(inv).clone().key()))));
    out.push_str(&format!("  hosts        {}\n", esc(&hosts.join(", "))));
    let calls: Vec<(&str, String)> = graph
        .edges(inv)
        .filter(|(from, _, _)| from.name == node.name)
        // Only services declare dependencies.
        .filter_map(|(from, to, dep)| Some((to.name.as_str(), lines.at(&dep.origin(from.service(inv)?)))))
        .collect();
    let mut callers: Vec<(&str, String)> = graph
        .consumer_edges(inv, &node.name)
        .into_iter()
        .filter_map(|(c, dep)| Some((c.name.as_str(), lines.at(&dep.origin(c.service(inv)?)))))
        .collect();
    // A service exposed with `ingress` is called by the ingress gateway too.
    if node.service(inv).is_some_and(|s| s.ingress.is_some()) {
        callers.push((crate::graph::export::INGRESS, lines.at(&node.origin(inv).child("ingress"))));
    }
    for (label, list) in [("calls", calls), ("called by", callers)] {
        if list.is_empty() {
            out.push_str(&format!("  {label:<11}  nothing\n"));
            continue;
        }
        let width = list.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
        for (i, (name, at)) in list.iter().enumerate() {
            let head = if i == 0 { label } else { "" };
            let (name, at) = (esc(name), esc(at));
            out.push_str(&format!("  {head:<11}  {name:width$}  {at}\n"));
        }
    }
    let policy = policy_words(node, inv);
    if !policy.is_empty() {
        out.push_str(&format!("  policy       {}\n", policy.join("; ")));
    }
    out.push_str(&format!("\n{} object(s):\n", rows.len()));
    out.push_str(&table(rows));
    let patched: Vec<&Row<'_>> = rows.iter().filter(|r| !r.patches.is_empty()).collect();
    if !patched.is_empty() {
        out.push_str("\npatches applied:\n");
        for r in patched {
            let o = r.object;
            out.push_str(&format!("  {} {}/{}\n", o.kind.as_str(), esc(&o.namespace), esc(&o.name)));
            for (i, (at, what)) in r.patches.iter().enumerate() {
                out.push_str(&format!("    {}. {}  {}\n", i + 1, esc(at), esc(what)));
            }
        }
    }
    out
}

fn objects_text(rows: &[Row<'_>], inv: &Inventory, graph: &MeshGraph, lines: &mut Lines<'_>) -> String {
    let mut out = String::new();
    for r in rows {
        let o = r.object;
        out.push_str(&format!("{} {}/{}\n", o.kind.as_str(), esc(&o.namespace), esc(&o.name)));
        out.push_str(&format!("  file    {}\n", esc(&r.file)));
        out.push_str(&format!("  from    {}\n", esc(&r.source)));
        for (at, what) in &r.patches {
            out.push_str(&format!("  patch   {}  {}\n", esc(at), esc(what)));
        }
        if let Some(node) = graph.node(&o.entity).map(|n| n.origin(inv)) {
            let at = lines.at(&node.clone().key());
            out.push_str(&format!("  entity  `{}`, declared at {}\n", esc(&o.entity), esc(&at)));
        }
    }
    out
}

/// Rows as aligned columns: kind, namespace/name, file, source.
fn table(rows: &[Row<'_>]) -> String {
    let cells: Vec<[String; 4]> = rows
        .iter()
        .map(|r| {
            let o = r.object;
            [
                o.kind.as_str().to_string(),
                esc(&format!("{}/{}", o.namespace, o.name)).into_owned(),
                esc(&r.file).into_owned(),
                esc(&r.source).into_owned(),
            ]
        })
        .collect();
    let width = |i: usize| cells.iter().map(|c| c[i].len()).max().unwrap_or(0);
    let (w0, w1, w2) = (width(0), width(1), width(2));
    cells.iter().map(|c| format!("  {:w0$}  {:w1$}  {:w2$}  {}\n", c[0], c[1], c[2], c[3])).collect()
}

fn rows_json(rows: &[Row<'_>], inv: &Inventory, graph: &MeshGraph, lines: &mut Lines<'_>) -> Value {
    Value::Array(
        rows.iter()
            .map(|r| {
                let o = r.object;
                let declared =
                    graph.node(&o.entity).map(|n| n.origin(inv)).map(|origin| lines.at(&origin.clone().key()));
                let mut row = json!({
                    "kind": o.kind.as_str(),
                    "apiVersion": o.kind.api_version(inv.project.api_version),
                    "namespace": &*o.namespace,
                    "name": o.name,
                    "file": r.file,
                    "source": r.source,
                    "entity": &*o.entity,
                    "entityDeclared": declared,
                });
                // Only patched objects say so: the rest read as they always did.
                if !r.patches.is_empty() {
                    let list: Vec<Value> =
                        r.patches.iter().map(|(at, what)| json!({"source": at, "change": what})).collect();
                    row["patches"] = Value::Array(list);
                }
                row
            })
            .collect(),
    )
}

fn entity_json(node: &Node, inv: &Inventory, graph: &MeshGraph, rows: &[Row<'_>], lines: &mut Lines<'_>) -> Value {
    let (what, hosts) = describe(node, inv);
    let list = |nodes: Vec<&Node>| nodes.iter().map(|n| n.name.clone()).collect::<Vec<_>>();
    json!({
        "entity": node.name,
        "namespace": node.namespace,
        "kind": what,
        "hosts": hosts,
        "declared": lines.at(&node.origin(inv).clone().key()),
        "calls": list(graph.dependencies(&node.name)),
        "calledBy": list(graph.consumers(&node.name)),
        "policy": policy_words(node, inv),
        "objects": rows_json(rows, inv, graph, lines),
    })
}

fn impact_text(node: &Node, graph: &MeshGraph) -> String {
    let impact = graph.impact(&node.name);
    if impact.is_empty() {
        return format!("nothing depends on `{}`\n", esc(&node.name));
    }
    let direct = impact.iter().filter(|i| i.depth == 1).count();
    let mut out = format!(
        "{} entities depend on `{}` ({direct} directly, {} through others):\n",
        impact.len(),
        esc(&node.name),
        impact.len() - direct
    );
    let width = impact.iter().map(|i| i.node.name.len() + i.node.namespace.len() + 1).max().unwrap_or(0);
    for i in &impact {
        let who = esc(&format!("{}/{}", i.node.namespace, i.node.name)).into_owned();
        let how = if i.depth == 1 { "calls it directly".to_string() } else { format!("via `{}`", esc(&i.via.name)) };
        out.push_str(&format!("  {}  {who:width$}  {how}\n", i.depth));
    }
    out
}

fn impact_json(node: &Node, graph: &MeshGraph) -> Value {
    let impact: Vec<Value> = graph
        .impact(&node.name)
        .iter()
        .map(|i| json!({"entity": i.node.name, "namespace": i.node.namespace, "depth": i.depth, "via": i.via.name}))
        .collect();
    json!({"entity": node.name, "impact": impact})
}
