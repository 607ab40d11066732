//! `meshgen graph`: the dependency graph as a Mermaid flowchart, Graphviz DOT or JSON, on
//! stdout.

use anyhow::{Result, bail};

use super::Leftovers;
use super::args::{GraphArgs, GraphFormat};
use super::context::Context;
use super::project::{compile_clean, options, print_stages};
use crate::compile::Goal;
use crate::graph::export::{self, Selection};

/// Prints the graph; exit 1 when the inventory has errors.
pub(super) fn run(cx: &Context, args: &GraphArgs, keep: &mut Leftovers) -> Result<u8> {
    let options = options(cx, &args.compile, Goal::Analyse)?;
    let mut clean = match compile_clean(cx, options, &args.compile, args.diagnostics.format)? {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let (inv, graph) = (&clean.inventory, &clean.graph);
    let selection = match (&args.focus, args.namespace.is_empty()) {
        (Some(name), _) => Selection::Focus { name: name.clone(), depth: args.depth },
        (None, true) => Selection::All,
        (None, false) => {
            for ns in &args.namespace {
                if !graph.nodes().any(|n| &n.namespace == ns) {
                    let mut known: Vec<&str> = graph.nodes().map(|n| n.namespace.as_str()).collect();
                    known.sort_unstable();
                    known.dedup();
                    bail!("no entity is in namespace `{ns}`; the namespaces are: {}", known.join(", "));
                }
            }
            Selection::Namespaces(args.namespace.iter().cloned().collect())
        }
    };
    let view = export::view(inv, graph, &selection).map_err(anyhow::Error::msg)?;
    let text = match args.output {
        GraphFormat::Mermaid => export::mermaid(&view),
        GraphFormat::Dot => export::dot(&view),
        GraphFormat::Json => export::json(&view),
    };
    keep.keep(view);
    clean.timings.mark("export");
    std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes())?;
    print_stages(&mut clean.timings, cx, &args.compile, "write");
    keep.keep((clean, text));
    Ok(0)
}
