//! The dependency graph for people and tools: DOT (Graphviz), Mermaid (renders in GitHub
//! Markdown) and JSON, for the whole estate, some namespaces, or the neighbourhood of one
//! entity.
//!
//! A [`View`] is decided once (which nodes, what each is, which policy covers it) and each
//! format only lays it out, so the three always agree.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::Serialize;

use super::MeshGraph;
use crate::model::{Inventory, Service};

/// Which part of the graph to show.
#[derive(Debug, Clone)]
pub enum Selection {
    /// Everything.
    All,
    /// The entities of these namespaces, with the direct neighbours they call or are called
    /// by elsewhere (marked `outside`).
    Namespaces(BTreeSet<String>),
    /// One entity and everything within `depth` edges of it, in either direction.
    Focus {
        /// The entity.
        name: String,
        /// How many edges away.
        depth: usize,
    },
}

/// One entity as shown.
#[derive(Debug, Clone, Serialize)]
pub struct ViewNode {
    /// Entity name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// `vm`, `pods`, `vm+pods`, `external`, or `ingress` for the ingress gateway.
    pub kind: &'static str,
    /// The hosts it is called by.
    pub hosts: Vec<String>,
    /// Reached through the egress gateway (externals).
    pub egress: bool,
    /// Its proxies are scoped by a generated Sidecar.
    pub sidecar: bool,
    /// Its workloads are guarded by a generated ALLOW-list AuthorizationPolicy.
    pub authorization: bool,
    /// Shown only as a neighbour of the selection.
    pub outside: bool,
}

/// One declared dependency as shown.
#[derive(Debug, Clone, Serialize)]
pub struct ViewEdge {
    /// The caller.
    pub from: String,
    /// The entity called.
    pub to: String,
    /// The ports the calls are declared on (`None`: every port).
    pub ports: Option<Vec<String>>,
    /// The call passes the target's allow-list AuthorizationPolicy, which names the caller
    /// (an inventory where a caller cannot be named has an error, and is not drawn).
    pub authorized: bool,
}

/// The part of the graph to lay out.
#[derive(Debug, Clone, Serialize)]
pub struct View {
    /// Nodes, by namespace and name.
    pub nodes: Vec<ViewNode>,
    /// Edges, by caller and target.
    pub edges: Vec<ViewEdge>,
}

/// Decides the view. An unknown focus entity is an error with a suggestion.
pub fn view(inv: &Inventory, graph: &MeshGraph, selection: &Selection) -> Result<View, String> {
    let (shown, core): (BTreeSet<&str>, BTreeSet<&str>) = match selection {
        Selection::All => {
            let all: BTreeSet<&str> = graph.nodes().map(|n| n.name.as_str()).collect();
            (all.clone(), all)
        }
        Selection::Namespaces(set) => {
            let core: BTreeSet<&str> =
                graph.nodes().filter(|n| set.contains(&n.namespace)).map(|n| n.name.as_str()).collect();
            let mut shown = core.clone();
            for (from, to, _) in graph.edges(inv) {
                if core.contains(from.name.as_str()) || core.contains(to.name.as_str()) {
                    shown.insert(&from.name);
                    shown.insert(&to.name);
                }
            }
            (shown, core)
        }
        Selection::Focus { name, depth } => {
            if graph.node(name).is_none() {
                let names: Vec<&str> = graph.nodes().map(|n| n.name.as_str()).collect();
                let hint = crate::diag::suggest::hint(name, "services and externals", &names);
                return Err(format!(
                    "no service or external API is named `{name}`{}",
                    hint.map(|h| format!("; {h}")).unwrap_or_default()
                ));
            }
            let near = graph.neighbourhood(name, *depth);
            (near.clone(), near)
        }
    };
    let policy = &inv.project.policy;
    let mut nodes: Vec<ViewNode> = graph
        .nodes()
        .filter(|n| shown.contains(n.name.as_str()))
        .map(|n| match n.service(inv) {
            Some(s) => ViewNode {
                name: n.name.clone(),
                namespace: n.namespace.clone(),
                kind: workload_kind(s),
                hosts: vec![s.host.clone()],
                egress: false,
                sidecar: policy.sidecar_for(s),
                authorization: policy.authorization_for(s),
                outside: !core.contains(n.name.as_str()),
            },
            None => {
                let e = &inv.externals[n.entity];
                ViewNode {
                    name: n.name.clone(),
                    namespace: n.namespace.clone(),
                    kind: "external",
                    hosts: e.hosts.clone(),
                    egress: e.egress.is_some(),
                    sidecar: false,
                    authorization: false,
                    outside: !core.contains(n.name.as_str()),
                }
            }
        })
        .collect();
    let mut edges: Vec<ViewEdge> = graph
        .edges(inv)
        .filter(|(f, t, _)| shown.contains(f.name.as_str()) && shown.contains(t.name.as_str()))
        .filter(|(f, t, _)| core.contains(f.name.as_str()) || core.contains(t.name.as_str()))
        .map(|(f, t, dep)| {
            let guarded = t.service(inv).is_some_and(|s| policy.authorization_for(s));
            ViewEdge {
                from: f.name.clone(),
                to: t.name.clone(),
                ports: dep.ports.as_deref().cloned(),
                authorized: guarded,
            }
        })
        .collect();
    ingress(inv, selection, (&shown, &core), &mut nodes, &mut edges);
    nodes.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    edges.sort_by(|a, b| (&a.from, &a.to).cmp(&(&b.from, &b.to)));
    Ok(View { nodes, edges })
}

/// The name of the ingress gateway's node: not a DNS label, so no entity has it.
pub const INGRESS: &str = "ingress gateway";

/// The ingress gateway as the caller of the services it exposes (`ingress`) that are shown,
/// with the public hosts it serves them under; faded when a namespace selection leaves out
/// its namespace.
fn ingress(
    inv: &Inventory,
    selection: &Selection,
    (shown, core): (&BTreeSet<&str>, &BTreeSet<&str>),
    nodes: &mut Vec<ViewNode>,
    edges: &mut Vec<ViewEdge>,
) {
    let gw = &inv.project.ingress_gateway;
    let own = !matches!(selection, Selection::Namespaces(set) if !set.contains(&gw.namespace));
    let mut hosts = BTreeSet::new();
    for s in inv.services.iter().filter(|s| shown.contains(s.name.as_str())) {
        let Some(ing) = s.ingress.as_deref() else { continue };
        if !own && !core.contains(s.name.as_str()) {
            continue;
        }
        hosts.extend(ing.host_names().into_iter().map(String::from));
        let authorized = inv.project.policy.authorization_for(s);
        edges.push(ViewEdge {
            from: INGRESS.into(),
            to: s.name.clone(),
            ports: Some(vec![ing.port.name.clone()]),
            authorized,
        });
    }
    if !hosts.is_empty() {
        nodes.push(ViewNode {
            name: INGRESS.into(),
            namespace: gw.namespace.clone(),
            kind: "ingress",
            hosts: hosts.into_iter().collect(),
            egress: false,
            sidecar: false,
            authorization: false,
            outside: !own,
        });
    }
}

/// What runs a service: `vm`, `pods` or `vm+pods`.
pub fn workload_kind(s: &Service) -> &'static str {
    match (s.vms.is_empty(), s.pods.is_some()) {
        (false, true) => "vm+pods",
        (false, false) => "vm",
        _ => "pods",
    }
}

/// The second line of a node's label: what it is and which policy covers it (for the
/// ingress gateway, the public hosts).
fn caption(n: &ViewNode) -> String {
    if n.kind == "ingress" {
        return match n.hosts.len() {
            0..=3 => n.hosts.join(", "),
            more => format!("{}, {} and {} more", n.hosts[0], n.hosts[1], more - 2),
        };
    }
    let mut parts = vec![
        match n.kind {
            "vm" => "VMs",
            "pods" => "pods",
            "vm+pods" => "VMs + pods",
            _ if n.egress => "external, via egress",
            _ => "external",
        }
        .to_string(),
    ];
    if n.sidecar {
        parts.push("sidecar".into());
    }
    if n.authorization {
        parts.push("allow-list".into());
    }
    parts.join(" · ")
}

/// Groups the nodes by namespace, in order.
fn by_namespace(view: &View) -> Vec<(&str, Vec<&ViewNode>)> {
    let mut groups: Vec<(&str, Vec<&ViewNode>)> = Vec::new();
    for n in &view.nodes {
        match groups.last_mut() {
            Some((ns, list)) if *ns == n.namespace => list.push(n),
            _ => groups.push((&n.namespace, vec![n])),
        }
    }
    groups
}

/// A Mermaid identifier: entity names are DNS labels, so `-` → `_` cannot collide, and the
/// prefix keeps Mermaid keywords (`end`, `graph`…) out.
fn mermaid_id(prefix: &str, name: &str) -> String {
    if name == INGRESS {
        return "gw_ingress".into();
    }
    // Anything else but letters, digits and `_` (never in a DNS label; but an identifier
    // must not carry a newline or a quote whatever the input) becomes `_` as well.
    let name: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    format!("{prefix}_{name}")
}

/// Text inside a quoted Mermaid label: escaped for logs and terminals
/// ([`crate::diag::escape::text`]), quotes as Mermaid's `#quot;`.
fn mermaid_text(s: &str) -> String {
    crate::diag::escape::text(s).replace('"', "#quot;")
}

/// Text inside a quoted DOT string: escaped for logs and terminals, then backslashes and
/// quotes escaped for DOT (so that an escaped `\n` shows as written, not as a line break).
fn dot_text(s: &str) -> String {
    crate::diag::escape::text(s).replace('\\', "\\\\").replace('"', "\\\"")
}

/// Mermaid flowchart (left to right, one subgraph per namespace).
pub fn mermaid(view: &View) -> String {
    let mut out = String::from("flowchart LR\n");
    for (ns, nodes) in by_namespace(view) {
        let _ = writeln!(out, "  subgraph {}[\"{}\"]", mermaid_id("ns", ns), mermaid_text(ns));
        for n in nodes {
            let label = format!("{}<br/>{}", mermaid_text(&n.name), mermaid_text(&caption(n)));
            let (open, close) = match n.kind {
                "vm" => ("[\"", "\"]"),
                "pods" => ("(\"", "\")"),
                "vm+pods" => ("[[\"", "\"]]"),
                "ingress" => ("[/\"", "\"\\]"),
                _ => ("{{\"", "\"}}"),
            };
            let _ = writeln!(out, "    {}{open}{label}{close}", mermaid_id("s", &n.name));
        }
        out.push_str("  end\n");
    }
    let mut authorized = Vec::new();
    for (i, e) in view.edges.iter().enumerate() {
        if e.authorized {
            authorized.push(i.to_string());
        }
        let (from, to) = (mermaid_id("s", &e.from), mermaid_id("s", &e.to));
        match &e.ports {
            Some(p) => writeln!(out, "  {from} -- \"{}\" --> {to}", mermaid_text(&p.join(", "))),
            None => writeln!(out, "  {from} --> {to}"),
        }
        .unwrap_or_default();
    }
    // Links are styled by their position in the chart: calls an allow-list admits, in green.
    if !authorized.is_empty() {
        let _ = writeln!(out, "  linkStyle {} stroke:#1a7f37", authorized.join(","));
    }
    let classes: [(&str, &str, NodeTest); 3] = [
        ("external", "fill:#f6f6f6,stroke:#888,stroke-dasharray:4 3", |n| n.kind == "external"),
        ("policy", "stroke:#1a7f37,stroke-width:3px", |n| n.sidecar || n.authorization),
        ("outside", "opacity:0.6", |n| n.outside),
    ];
    for (class, style, member) in classes {
        let ids: Vec<String> = view.nodes.iter().filter(|n| member(n)).map(|n| mermaid_id("s", &n.name)).collect();
        if !ids.is_empty() {
            let _ = writeln!(out, "  classDef {class} {style}");
            let _ = writeln!(out, "  class {} {class}", ids.join(","));
        }
    }
    out
}

/// Whether a node belongs to a Mermaid class.
type NodeTest = fn(&ViewNode) -> bool;

/// Graphviz DOT (one cluster per namespace).
pub fn dot(view: &View) -> String {
    let mut out = String::from(
        "digraph meshgen {\n  rankdir=LR;\n  node [fontname=\"Helvetica\", fontsize=11];\n  edge [fontname=\"Helvetica\", fontsize=9];\n",
    );
    for (ns, nodes) in by_namespace(view) {
        let ns = dot_text(ns);
        let _ = writeln!(out, "  subgraph \"cluster_{ns}\" {{\n    label=\"{ns}\";");
        for n in nodes {
            let shape = match n.kind {
                "vm" => "shape=box",
                "pods" => "shape=box, style=rounded",
                "vm+pods" => "shape=box3d",
                "ingress" => "shape=invhouse",
                _ => "shape=hexagon, style=dashed",
            };
            let mut attrs = format!("label=\"{}\\n{}\", {shape}", dot_text(&n.name), dot_text(&caption(n)));
            if n.sidecar || n.authorization {
                attrs.push_str(", color=\"#1a7f37\", penwidth=2");
            }
            if n.outside {
                attrs.push_str(", fontcolor=gray40");
            }
            let _ = writeln!(out, "    \"{}\" [{attrs}];", dot_text(&n.name));
        }
        out.push_str("  }\n");
    }
    for e in &view.edges {
        let mut attrs = Vec::new();
        if let Some(p) = &e.ports {
            attrs.push(format!("label=\"{}\"", dot_text(&p.join(", "))));
        }
        if e.authorized {
            attrs.push("color=\"#1a7f37\"".into());
        }
        let attrs = if attrs.is_empty() { String::new() } else { format!(" [{}]", attrs.join(", ")) };
        let _ = writeln!(out, "  \"{}\" -> \"{}\"{attrs};", dot_text(&e.from), dot_text(&e.to));
    }
    out.push_str("}\n");
    out
}

/// JSON: `{"nodes": [...], "edges": [...]}`, pretty-printed.
pub fn json(view: &View) -> String {
    let mut s = serde_json::to_string_pretty(view).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::escape::forges_log;

    #[test]
    fn hostile_labels_forge_no_line_and_break_no_quote() {
        for x in ["a\n::error file=x::pwned", "\u{1b}[31m", "q\"uote\\"] {
            let node = |name: String| ViewNode {
                name,
                namespace: format!("ns{x}"),
                kind: "vm",
                hosts: vec![format!("h{x}")],
                egress: false,
                sidecar: true,
                authorization: false,
                outside: false,
            };
            let view = View {
                nodes: vec![node(format!("web{x}")), node("db".into())],
                edges: vec![ViewEdge {
                    from: format!("web{x}"),
                    to: "db".into(),
                    ports: Some(vec![format!("p{x}")]),
                    authorized: true,
                }],
            };
            for (what, text) in [("mermaid", mermaid(&view)), ("dot", dot(&view))] {
                assert_eq!(forges_log(&text), None, "{what} of {x:?}:\n{text}");
                assert!(!text.contains('\u{1b}'), "{what} of {x:?}");
                // Every quoted string closes on its own line (DOT escapes with `\`, Mermaid
                // has no escapes: its quotes are `#quot;`).
                for line in text.lines() {
                    let (mut quotes, mut escaped) = (0, false);
                    for c in line.chars() {
                        match c {
                            '"' if !escaped => quotes += 1,
                            '\\' if what == "dot" && !escaped => {
                                escaped = true;
                                continue;
                            }
                            _ => {}
                        }
                        escaped = false;
                    }
                    assert_eq!(quotes % 2, 0, "{what} of {x:?}: {line}");
                }
            }
        }
    }
}
