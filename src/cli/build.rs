//! `meshgen build` and `meshgen check`.

use std::io::Write as _;

use anyhow::{Context as _, Result};

use super::EXIT_FINDINGS;
use super::args::{BuildArgs, CheckArgs};
use super::compile::{Output, Rendered, compile};
use crate::emit::{self, Drift};

/// Compiles and writes (or checks) the output.
pub(super) fn run(args: &BuildArgs, color: bool) -> Result<u8> {
    let mut c = compile(&args.project, if args.stdout { Output::Stream } else { Output::Manifests })?;
    c.print_diagnostics(&args.project, color, false)?;
    let Some(rendered) = c.rendered.take() else {
        c.print_timings(&args.project, "diagnostics");
        // Machine-readable formats keep stderr parseable: the findings say it all.
        if args.project.format == crate::diag::render::Format::Human {
            eprintln!("error: nothing was written");
        }
        return Ok(EXIT_FINDINGS);
    };
    if args.stdout {
        // Stdout is line-buffered: unbuffered, each manifest was a system call of its own.
        let out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
        let mut documents = emit::Documents::new(out);
        let stage = match &rendered {
            Rendered::Stream(templates) => {
                let (Some(inv), Some(graph)) = (&c.inventory, &c.graph) else {
                    anyhow::bail!("internal error: compiled for streaming without an inventory")
                };
                crate::render::stream(inv, graph, templates, |ms| {
                    ms.iter().try_for_each(|m| documents.write(m)).context("failed to write to stdout")
                })?;
                // Rendering and writing are one stage.
                "stream"
            }
            Rendered::Manifests(ms) => {
                ms.iter().try_for_each(|m| documents.write(m)).context("failed to write to stdout")?;
                "stdout"
            }
        };
        documents.finish().context("failed to write to stdout")?;
        c.print_timings(&args.project, stage);
        exit_without_freeing((c, rendered));
        return Ok(0);
    }
    let Rendered::Manifests(manifests) = rendered else {
        anyhow::bail!("internal error: compiled for files, got no manifests")
    };
    let layout = args.layout.unwrap_or(c.project.layout);
    let out = args.out.clone().unwrap_or_else(|| c.project.output.clone());
    let count = manifests.len();
    let inputs: Vec<&std::path::Path> =
        c.project.inventory.iter().chain(&c.project.templates).map(|p| p.as_path()).collect();
    emit::refuse_output_dir(&out, &c.project.root, &inputs)?;
    let mut plan = emit::plan(manifests, layout)?;
    if let Some(table) = &c.vip_file {
        plan.files.insert(crate::model::vips::FILE.to_string(), format!("{}{table}", emit::HEADER));
    }
    c.timings.mark("layout");
    if args.check {
        let drift = emit::check(&out, &plan)?;
        c.print_timings(&args.project, "compare");
        if drift.is_empty() {
            if !args.quiet {
                eprintln!("`{}` is up to date ({} objects in {} files)", out.display(), count, plan.files.len());
            }
            return Ok(0);
        }
        report_drift(&out, &plan, &drift);
        return Ok(EXIT_FINDINGS);
    }
    let report = emit::write(&out, &plan)?;
    c.print_timings(&args.project, "write");
    exit_without_freeing((c, plan));
    if !args.quiet {
        eprintln!(
            "built {} objects into `{}`: {} written, {} removed, {} unchanged",
            count,
            out.display(),
            report.written,
            report.removed,
            report.unchanged
        );
    }
    Ok(0)
}

/// Prints what is out of date, with a diff of each changed file (the first few).
fn report_drift(out: &std::path::Path, plan: &emit::Plan, drift: &[Drift]) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "`{}` is out of date ({} file{}):",
        out.display(),
        drift.len(),
        if drift.len() == 1 { "" } else { "s" }
    );
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
            let diff = similar::TextDiff::from_lines(old.as_str(), plan.files[path].as_str());
            let _ = write!(err, "{}", diff.unified_diff().header(&format!("a/{path}"), &format!("b/{path}")));
        }
    }
    let _ = writeln!(err, "run `meshgen build` and commit the result");
}

/// Analyses the inventory and prints the findings.
pub(super) fn check(args: &CheckArgs, color: bool) -> Result<u8> {
    // Templates run only when their output is validated against CRDs; otherwise the
    // analysis stops at the objects (names, collisions), which is all a check needs.
    let output = if args.project.crds.is_some() { Output::Manifests } else { Output::Analyse };
    let mut c = compile(&args.project, output)?;
    c.print_diagnostics(&args.project, color, true)?;
    c.print_timings(&args.project, "report");
    let (errors, warnings) = c.diags.counts();
    if errors > 0 {
        return Ok(EXIT_FINDINGS);
    }
    if args.project.format == crate::diag::render::Format::Human {
        let services = c.inventory.as_ref().map_or(0, |i| i.services.len() + i.externals.len());
        let entities = if services == 1 { "1 entity".to_string() } else { format!("{services} entities") };
        let warned = match warnings {
            0 => String::new(),
            1 => ", 1 warning".to_string(),
            n => format!(", {n} warnings"),
        };
        eprintln!("checked {entities}: no errors{warned}");
    }
    exit_without_freeing(c);
    Ok(0)
}

/// The process ends right after a build: freeing hundreds of thousands of small
/// allocations one by one took 0.5–0.9 s of a 10,000-service build, for memory the
/// operating system reclaims at once anyway.
fn exit_without_freeing<T>(everything: T) {
    std::mem::forget(everything);
}
