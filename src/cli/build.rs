//! `meshgen build` and `meshgen check`.

use std::io::Write as _;

use anyhow::{Context as _, Result};

use super::args::{BuildArgs, CheckArgs};
use super::context::Context;
use super::project::{
    compile_verbose, finish_verbose, options, print_diagnostics, print_stages, print_timings, rendering,
};
use super::{EXIT_FINDINGS, Leftovers};
use crate::compile::{Goal, Rendered};
use crate::diag::render::Format;
use crate::emit::{self, Drift};

/// Compiles and writes (or checks) the output.
pub(super) fn run(cx: &Context, args: &BuildArgs, keep: &mut Leftovers) -> Result<u8> {
    // Files are formed namespace by namespace as they are rendered, like the stream.
    let goal = Goal::Stream;
    let options = rendering(options(cx, &args.compile, goal)?, &args.render)?;
    // The output directory is read (under its lock, when writing) while the inventory
    // compiles: a `stat` per file, tens of thousands for the per-object layout, needs only
    // the project. Not when the build reads the directory itself (the VIP table of
    // `vipRange`), nor when the directory is refused: then it is done, or refused, after
    // compiling, as before.
    let mut early: Option<crate::par::Pending<Result<emit::Output>>> = None;
    let loaded = crate::compile::load(&options, |project| {
        if args.stdout || project.vip_range.is_some() {
            return;
        }
        if let Some(out) = openable(args, &options, project) {
            let check = args.check;
            early = Some(crate::par::background(move || open(&out, check)));
        }
    })?;
    // The output directory as the last build of these very inputs left it: nothing to
    // compile (see `emit::Output::unchanged`). Otherwise the directory, if it was opened to
    // find out, is the one the build goes on with.
    let layout = args.layout.unwrap_or(loaded.project.layout);
    let (out, shown) = output_dir(args, &options, &loaded.project);
    let fingerprint = if args.stdout { None } else { loaded.fingerprint(&options, &format!("{layout:?}")) };
    // The directory is waited for only when its cache says it was made from these inputs:
    // otherwise reading it goes on beside the compile.
    let opened = match fingerprint {
        Some(f) if emit::recorded_inputs(&out).is_some_and(|i| i.fingerprint == f) => match early.take() {
            Some(pending) => Some(pending.wait()),
            None => openable(args, &options, &loaded.project).map(|out| open(&out, args.check)),
        },
        _ => None,
    };
    if let (Some(f), Some(Ok(output))) = (fingerprint, &opened)
        && let Some(done) = output.unchanged(f)
    {
        return unchanged(cx, args, &shown, loaded, done);
    }
    let mut c = finish_verbose(cx, &options, loaded)?;
    // A JSON or SARIF document is the report `-o` asked for: on stdout, unless the manifests
    // are there (`--stdout`); text diagnostics are chatter beside the files, on stderr.
    let document = matches!(args.output, Format::Json | Format::Sarif) && !args.stdout;
    let color = if document { cx.color_stdout() } else { cx.color_stderr() };
    print_diagnostics(&c.diags, &c.sources, args.output, color, document, cx.quiet)?;
    if c.rendered.is_none() {
        print_timings(&mut c, cx, &args.compile, "diagnostics");
        // Machine-readable formats keep stderr parseable: the findings say it all.
        if args.output == Format::Human {
            eprintln!("error: nothing was written");
        }
        return Ok(EXIT_FINDINGS);
    }
    if args.stdout {
        // Stdout is line-buffered: unbuffered, each manifest was a system call of its own.
        let out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
        let mut documents = emit::Documents::new(out);
        let mut count = 0usize;
        c.each_manifest(|m| {
            count += 1;
            documents.write(m).context("failed to write to stdout")
        })?;
        documents.finish().context("failed to write to stdout")?;
        // Streamed, rendering and writing are one stage.
        let stage = if matches!(c.rendered, Some(Rendered::Stream(_))) { "stream" } else { "stdout" };
        print_timings(&mut c, cx, &args.compile, stage);
        cx.info(format!("wrote {count} objects to stdout"));
        keep.keep(c);
        return Ok(0);
    }
    // The output directory is read first (under its lock, when writing: `compare` in
    // `--timings`, what is left of it once the compile is done); then each namespace's files
    // are compared with it as they are rendered, and those that changed are staged at once
    // (`layout`), so that only a few namespaces' texts are ever held; the staged files are
    // swapped in last (`files`).
    let mut output = match (opened, early) {
        // The directory passed `refuse_output_dir` before it was read.
        (Some(opened), _) => opened?,
        (None, Some(pending)) => pending.wait()?,
        (None, None) => {
            emit::refuse_output_dir(&out, &c.project.root, &inputs(&c.project))?;
            open(&out, args.check)?
        }
    };
    c.timings.mark("compare");
    let mut files = emit::Files::default();
    let mut count = 0usize;
    // Each namespace's files are laid out, compared and staged on the thread that rendered
    // them; this one takes them in order.
    let (target, ledger) = output.split();
    c.each_namespace_with(
        |ms| {
            let mut staged = Vec::new();
            emit::lay_out(layout, ms, |path, parts| {
                staged.push(target.stage(path, parts)?);
                Ok(())
            })?;
            Ok((ms.len(), staged))
        },
        |(objects, staged)| {
            count += objects;
            staged.into_iter().try_for_each(|s| {
                files.record(s.path());
                ledger.take(s)
            })
        },
    )?;
    output.file("kustomization.yaml".to_string(), &[&files.kustomization()])?;
    if let Some(table) = &c.vip_file {
        output.file(crate::model::vips::FILE.to_string(), &[emit::HEADER, table])?;
    }
    c.timings.mark("layout");
    let n = output.files();
    laid_out(cx, &shown, layout, count, n);
    if args.check {
        let checked = output.drift()?;
        print_timings(&mut c, cx, &args.compile, "report");
        if checked.drift.is_empty() {
            up_to_date(cx, &shown, count, n);
            return Ok(0);
        }
        report_drift(&shown, &checked);
        return Ok(EXIT_FINDINGS);
    }
    // A build that reported nothing records its inputs: the next one of the same inputs
    // then has nothing to compile. One that reported something compiles every time, to say
    // it again.
    let made =
        fingerprint.filter(|_| c.diags.is_empty()).map(|fingerprint| emit::Inputs { fingerprint, objects: count });
    output.record(made);
    let report = output.finish(|stage| c.timings.mark(stage))?;
    print_timings(&mut c, cx, &args.compile, "write");
    keep.keep(c);
    built(cx, &shown, count, &report);
    Ok(0)
}

/// The output directory, if it may be opened before compiling: `None` when it is refused
/// (the build says so once it has compiled, as it would have).
fn openable(
    args: &BuildArgs,
    options: &crate::compile::Options,
    project: &crate::model::Project,
) -> Option<std::path::PathBuf> {
    let out = output_dir(args, options, project).0;
    emit::refuse_output_dir(&out, &project.root, &inputs(project)).is_ok().then_some(out)
}

/// The output directory `out`, read to be written (under its lock), or only compared with
/// (`check`).
fn open(out: &std::path::Path, check: bool) -> Result<emit::Output> {
    if check { emit::Output::check(out) } else { emit::Output::write(out) }
}

/// Says (with `-v`) how the objects were laid out.
fn laid_out(cx: &Context, shown: &str, layout: crate::model::Layout, objects: usize, files: usize) {
    let n = if files == 1 { "1 file".to_string() } else { format!("{files} files") };
    cx.info(format!("{objects} objects in {n}, {layout:?} layout, for `{shown}`"));
}

/// Says that `build --check` found nothing out of date.
fn up_to_date(cx: &Context, shown: &str, objects: usize, files: usize) {
    cx.note(format!("`{shown}` is up to date ({objects} objects in {files} files)"));
}

/// Says what a build did to the output directory.
fn built(cx: &Context, shown: &str, objects: usize, report: &emit::Report) {
    let emit::Report { written, removed, unchanged } = report;
    cx.note(format!(
        "built {objects} objects into `{shown}`: {written} written, {removed} removed, {unchanged} unchanged"
    ));
}

/// Ends a build whose output directory already holds what it would make (`done`): the same
/// reports as a build that found every file unchanged, and nothing written.
fn unchanged(
    cx: &Context,
    args: &BuildArgs,
    shown: &str,
    mut loaded: crate::compile::Loaded,
    done: emit::Unchanged,
) -> Result<u8> {
    // The findings document of `-o json` or `-o sarif` is printed, empty, as by any build
    // without findings.
    let document = matches!(args.output, Format::Json | Format::Sarif);
    let color = if document { cx.color_stdout() } else { cx.color_stderr() };
    print_diagnostics(&loaded.diags, &[], args.output, color, document, cx.quiet)?;
    cx.info(format!("`{shown}` holds what the last build of these same inputs wrote: nothing to compile"));
    let layout = args.layout.unwrap_or(loaded.project.layout);
    laid_out(cx, shown, layout, done.objects, done.files);
    print_stages(&mut loaded.timings, cx, &args.compile, "unchanged");
    if args.check {
        up_to_date(cx, shown, done.objects, done.files);
    } else {
        built(cx, shown, done.objects, &emit::Report { written: 0, removed: 0, unchanged: done.files });
    }
    Ok(0)
}

/// The output directory and how messages name it: `--out-dir` starts at `-C DIR`, the project
/// file's `output` at the project file; messages name it as the user wrote it, relative to
/// `-C DIR`.
fn output_dir(
    args: &BuildArgs,
    options: &crate::compile::Options,
    project: &crate::model::Project,
) -> (std::path::PathBuf, String) {
    match &args.out_dir {
        Some(o) => (options.resolve(o), o.display().to_string()),
        None => (project.output.clone(), options.relative(&project.output).display().to_string()),
    }
}

/// The directories a build reads, which its output may not be.
fn inputs(project: &crate::model::Project) -> Vec<&std::path::Path> {
    project.inventory.iter().chain(&project.templates).map(|p| p.as_path()).collect()
}

/// Prints what is out of date in `out` (as shown to the user), with a diff of each changed
/// file (the first few).
fn report_drift(out: &str, checked: &emit::Checked) {
    let drift = &checked.drift;
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "`{out}` is out of date ({} file{}):", drift.len(), if drift.len() == 1 { "" } else { "s" });
    for d in drift {
        let what = match d {
            Drift::Missing(_) => "missing",
            Drift::Changed(..) => "changed",
            Drift::Stale(_) => "stale",
            Drift::Foreign(_) => "not written by meshgen",
        };
        let _ = writeln!(err, "  {what}: {}", d.path());
    }
    for d in drift.iter().filter(|d| matches!(d, Drift::Changed(..))).take(5) {
        if let Drift::Changed(path, old) = d {
            let diff = similar::TextDiff::from_lines(old.as_str(), checked.texts[path].as_str());
            let _ = write!(err, "{}", diff.unified_diff().header(&format!("a/{path}"), &format!("b/{path}")));
        }
    }
    let _ = writeln!(err, "run `meshgen build` and commit the result");
}

/// Analyses the inventory and prints the findings.
pub(super) fn check(cx: &Context, args: &CheckArgs, keep: &mut Leftovers) -> Result<u8> {
    // Templates run only when their output is validated against CRDs; otherwise the
    // analysis stops at the objects (names, collisions), which is all a check needs.
    // `--live` compares the objects themselves with the cluster's.
    let goal = if args.render.crds.is_some() || args.live.live { Goal::Manifests } else { Goal::Analyse };
    let options = rendering(options(cx, &args.compile, goal)?, &args.render)?;
    super::project::namespace_names(&args.live.namespace)?;
    let mut c = compile_verbose(cx, &options)?;
    let server = if args.live.live && !c.diags.has_errors() { Some(live(&args.live, &options, &mut c)?) } else { None };
    print_diagnostics(&c.diags, &c.sources, args.output, cx.color_stdout(), true, cx.quiet)?;
    print_timings(&mut c, cx, &args.compile, "report");
    let (errors, warnings) = c.diags.counts();
    if errors > 0 {
        if args.live.live && server.is_none() && args.output == Format::Human {
            // Objects are rendered only from an inventory without errors.
            cx.note("note: the cluster was not read: fix the errors first, then run `meshgen check --live` again");
        }
        return Ok(EXIT_FINDINGS);
    }
    if args.output == Format::Human {
        let services = c.inventory.as_ref().map_or(0, |i| i.services.len() + i.externals.len());
        let entities = if services == 1 { "1 entity".to_string() } else { format!("{services} entities") };
        let warned = match warnings {
            0 => String::new(),
            1 => ", 1 warning".to_string(),
            n => format!(", {n} warnings"),
        };
        let against = server.map(|s| format!(" against the live objects of {s}")).unwrap_or_default();
        cx.note(format!("checked {entities}{against}: no errors{warned}"));
    }
    keep.keep(c);
    Ok(0)
}

/// `check --live`: the findings about other owners' live objects (see `cli::live`).
#[cfg(feature = "cluster")]
fn live(
    args: &super::args::LiveArgs,
    options: &crate::compile::Options,
    c: &mut crate::compile::Compiled,
) -> Result<String> {
    super::live::check(args, options, c)
}

#[cfg(not(feature = "cluster"))]
fn live(_: &super::args::LiveArgs, _: &crate::compile::Options, _: &mut crate::compile::Compiled) -> Result<String> {
    anyhow::bail!(
        "this meshgen was built without the `cluster` feature, so it cannot read a cluster: rebuild it with default features"
    )
}
