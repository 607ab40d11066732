//! The command line's side of compiling a project: the options of the command line as the
//! library's [`Options`], and the presentation of what [`compile`] found (diagnostics,
//! timings), which the library leaves to its callers.

use anyhow::Result;

use super::args::{CompileArgs, RenderArgs};
use super::context::Context;
use crate::compile::{Compiled, Goal, Options, Timings};
use crate::diag::Severity;
use crate::diag::render::{Format, SourceMap, Style, render};
use crate::load::Source;
use crate::model::Inventory;

/// The options of a command that compiles the project: the project file `cx` finds, the
/// build and findings `args` select, going as far as `goal`.
pub(super) fn options(cx: &Context, args: &CompileArgs, goal: Goal) -> Result<Options> {
    Ok(Options {
        directory: cx.directory.clone(),
        project: cx.project_file()?.path,
        environment: args.environment.clone(),
        cluster: args.cluster.clone(),
        allow: args.allow.clone(),
        goal,
        ..Options::default()
    })
}

/// `options` with what shapes the objects and how strictly they are checked. Fails on a
/// `--label` that is not `KEY=VALUE`; everything else is checked by [`compile`].
pub(super) fn rendering(options: Options, args: &RenderArgs) -> Result<Options> {
    let labels = args
        .labels
        .iter()
        .map(|a| match a.split_once('=') {
            Some((k, v)) => Ok((k.to_string(), v.to_string())),
            None => Err(anyhow::anyhow!("`--label {a}`: expected KEY=VALUE, e.g. `--label team=shop`")),
        })
        .collect::<Result<_>>()?;
    Ok(Options {
        labels,
        api_version: args.api_version,
        templates: args.templates.dir.clone(),
        crds: args.crds.clone(),
        deny_warnings: args.deny.is_some(),
        ..options
    })
}

/// Compiles, saying with `-v` what was read.
pub(super) fn compile_verbose(cx: &Context, options: &Options) -> Result<Compiled> {
    finish_verbose(cx, options, crate::compile::load(options, |_| {})?)
}

/// [`crate::compile::finish`], saying with `-v` what was read.
pub(super) fn finish_verbose(cx: &Context, options: &Options, loaded: crate::compile::Loaded) -> Result<Compiled> {
    let c = crate::compile::finish(options, loaded)?;
    if cx.verbose > 0 {
        let files = c.sources.len().saturating_sub(1);
        let (services, externals) = c.inventory.as_ref().map_or((0, 0), |i| (i.services.len(), i.externals.len()));
        let layers = match (&c.project.environment, &c.project.cluster) {
            (None, None) => String::new(),
            (environment, cluster) => {
                let named = |what: &str, n: &Option<String>| n.as_ref().map(|n| format!(" {what} `{n}`"));
                let names = [named("environment", environment), named("cluster", cluster)];
                format!(", for{}", names.into_iter().flatten().collect::<String>())
            }
        };
        cx.info(format!(
            "read {files} inventory and overlay files: {services} services, {externals} externals{layers}"
        ));
    }
    Ok(c)
}

/// Prints the diagnostics in the chosen format: to stdout where they are the command's
/// report (`check`, `build -o json`), else to stderr (beside manifests or another report).
/// With `errors_only` (`-q`), the formats read by people leave warnings out; the machine
/// formats (JSON, SARIF, GitHub's workflow commands) are a payload and keep everything.
pub(super) fn print_diagnostics(
    diags: &crate::diag::Diagnostics,
    sources: &[Source],
    format: Format,
    color: bool,
    to_stdout: bool,
    errors_only: bool,
) -> Result<()> {
    let mut sorted = diags.clone().sorted();
    if errors_only && matches!(format, Format::Human | Format::Concise) {
        sorted.retain(|d| d.severity == Severity::Error);
    }
    // JSON and SARIF consumers expect a document even when there is nothing to report.
    if sorted.is_empty() && !matches!(format, Format::Json | Format::Sarif) {
        return Ok(());
    }
    // Only the files the findings point into are quoted: after rendering, their texts
    // are read again (see `Source::release_text`).
    let cited: std::collections::HashSet<&str> = sorted
        .iter()
        .flat_map(|d| std::iter::once(&d.origin).chain(d.related.iter().map(|(o, _)| o)))
        .map(|o| &*o.file)
        .collect();
    let texts: Vec<(&str, std::borrow::Cow<'_, str>)> =
        sources.iter().filter(|s| cited.contains(&*s.name)).filter_map(|s| Some((&*s.name, s.text_again()?))).collect();
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

/// Ends the last stage and, with `--timings` or `-vv`, prints the table to stderr.
pub(super) fn print_timings(c: &mut Compiled, cx: &Context, args: &CompileArgs, last: &'static str) {
    print_stages(&mut c.timings, cx, args, last);
}

/// [`print_timings`] for the stages of a [`Clean`] compile and the command after it: called
/// once the command's output is written, so that writing it is accounted for.
pub(super) fn print_stages(timings: &mut Timings, cx: &Context, args: &CompileArgs, last: &'static str) {
    timings.mark(last);
    if cx.timings(args.timings) {
        eprint!("{}", timings.report());
    }
}

/// Compiles without rendering for a command that reads the model (graph, explain): the
/// diagnostics go to stderr, and an inventory with errors is refused (`Err` holds the exit
/// code), since a picture of a broken inventory would mislead. The timings of a clean
/// compile are the caller's to print ([`print_stages`]), once its output is written.
pub(super) fn compile_clean(
    cx: &Context,
    options: Options,
    args: &CompileArgs,
    format: Format,
) -> Result<std::result::Result<Clean, u8>> {
    let mut c = compile_verbose(cx, &options)?;
    print_diagnostics(&c.diags, &c.sources, format, cx.color_stderr(), false, cx.quiet)?;
    match (c.diags.has_errors(), c.inventory.take(), c.graph.take()) {
        (false, Some(inventory), Some(graph)) => {
            c.timings.mark("diagnostics");
            Ok(Ok(Clean { inventory, graph, sources: c.sources, options, timings: c.timings }))
        }
        _ => {
            print_timings(&mut c, cx, args, "diagnostics");
            if format == Format::Human {
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
    /// The compile's stages so far: the command adds its own.
    pub timings: Timings,
}

/// Checks the names of `-n`: a typo is a usage error, not an empty comparison.
pub(super) fn namespace_names(namespaces: &[String]) -> Result<()> {
    for ns in namespaces {
        crate::model::names::dns_label(ns)
            .map_err(|why| anyhow::anyhow!("`-n {ns}` is not a namespace name: it {why}"))?;
    }
    Ok(())
}
