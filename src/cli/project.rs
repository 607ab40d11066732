//! The command line's side of compiling a project: the project options as the library's
//! [`Options`], and the presentation of what [`compile`] found (diagnostics, timings), which
//! the library leaves to its callers.

use anyhow::Result;

use super::args::ProjectArgs;
use crate::compile::{Compiled, Goal, Options, compile};
use crate::diag::render::{Format, SourceMap, Style, render};
use crate::load::Source;
use crate::model::Inventory;

impl TryFrom<&ProjectArgs> for Options {
    type Error = anyhow::Error;

    /// The options the arguments stand for, going as far as [`Goal::Manifests`] (commands
    /// set their own goal). Fails on a `--label` that is not `KEY=VALUE`; everything else is
    /// checked by [`compile`].
    fn try_from(args: &ProjectArgs) -> Result<Options> {
        let labels = args
            .labels
            .iter()
            .map(|a| match a.split_once('=') {
                Some((k, v)) => Ok((k.to_string(), v.to_string())),
                None => Err(anyhow::anyhow!("`--label {a}`: expected KEY=VALUE, e.g. `--label team=shop`")),
            })
            .collect::<Result<_>>()?;
        Ok(Options {
            directory: directory(args),
            project: args.project.clone(),
            environment: args.environment.clone(),
            cluster: args.cluster.clone(),
            labels,
            api_version: args.api_version,
            templates: args.templates.clone(),
            crds: args.crds.clone(),
            allow: args.allow.clone(),
            deny_warnings: args.deny.is_some(),
            goal: Goal::Manifests,
        })
    }
}

/// `-C DIR`, or the current directory: where the paths given on the command line start, as
/// if meshgen had been started there.
pub(super) fn directory(args: &ProjectArgs) -> std::path::PathBuf {
    args.directory.clone().unwrap_or_else(|| ".".into())
}

/// The options of `args`, going as far as `goal`.
pub(super) fn options(args: &ProjectArgs, goal: Goal) -> Result<Options> {
    Ok(Options { goal, ..Options::try_from(args)? })
}

/// Prints the diagnostics in the chosen format: to stderr for `build` (whose stdout may
/// carry manifests), to stdout for `check` (the report is its output).
pub(super) fn print_diagnostics(c: &Compiled, format: Format, color: bool, to_stdout: bool) -> Result<()> {
    // JSON and SARIF consumers expect a document even when there is nothing to report.
    if c.diags.is_empty() && !matches!(format, Format::Json | Format::Sarif) {
        return Ok(());
    }
    // Only the files the findings point into are quoted: after rendering, their texts
    // are read again (see `Source::release_text`).
    let sorted = c.diags.clone().sorted();
    let cited: std::collections::HashSet<&str> = sorted
        .iter()
        .flat_map(|d| std::iter::once(&d.origin).chain(d.related.iter().map(|(o, _)| o)))
        .map(|o| &*o.file)
        .collect();
    let texts: Vec<(&str, std::borrow::Cow<'_, str>)> = c
        .sources
        .iter()
        .filter(|s| cited.contains(&*s.name))
        .filter_map(|s| Some((&*s.name, s.text_again()?)))
        .collect();
    let mut map = SourceMap::new();
    for (name, text) in &texts {
        map.add(name, text);
    }
    let text = render(&sorted, &mut map, format, Style::new(color));
    if to_stdout {
        std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes())?;
    } else {
        eprint!("{text}");
    }
    Ok(())
}

/// Ends the last stage and, with `--timings`, prints the table to stderr.
pub(super) fn print_timings(c: &mut Compiled, args: &ProjectArgs, last: &'static str) {
    c.timings.mark(last);
    if args.timings {
        eprint!("{}", c.timings.report());
    }
}

/// Compiles without rendering for a command that reads the model (graph, explain): the
/// diagnostics go to stderr, and an inventory with errors is refused (`Err` holds the exit
/// code), since a picture of a broken inventory would mislead.
pub(super) fn compile_clean(args: &ProjectArgs, color: bool) -> Result<std::result::Result<Clean, u8>> {
    let options = options(args, Goal::Analyse)?;
    let mut c = compile(&options)?;
    print_diagnostics(&c, args.format, color, false)?;
    print_timings(&mut c, args, "diagnostics");
    match (c.diags.has_errors(), c.inventory.take(), c.graph.take()) {
        (false, Some(inventory), Some(graph)) => Ok(Ok(Clean { inventory, graph, sources: c.sources, options })),
        _ => {
            if args.format == Format::Human {
                eprintln!("error: the inventory has errors; fix them first (`meshgen check`)");
            }
            Ok(Err(super::EXIT_FINDINGS))
        }
    }
}

/// A compiled inventory without errors, what it was read from, and how it was compiled.
pub(super) struct Clean {
    pub inventory: Inventory,
    pub graph: crate::graph::MeshGraph,
    pub sources: Vec<Source>,
    pub options: Options,
}
