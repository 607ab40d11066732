//! `meshgen diff`: compiles the inventory, reads the other side (another build's output
//! directory, or the live cluster), compares and prints the report.
//!
//! Exit codes follow `kubectl diff`: 0 nothing would change, 1 something would, 2 on any
//! error (including an inventory with errors: there is nothing to compare then).

use std::collections::HashMap;
use std::io::Write as _;

use anyhow::{Context as _, Result, bail};

use super::Leftovers;
use super::args::DiffArgs;
use super::context::Context;
use super::project::{compile_verbose, options, print_diagnostics, print_timings, rendering};
use crate::compile::{Goal, Options, Rendered};
use crate::diff::report::{self, Sides};
use crate::diff::{self, Normalizer, Object, Plan};
use crate::model::Layout;
use crate::render::Manifest;

/// Exit code: something would change.
const EXIT_CHANGES: u8 = 1;

/// Runs `meshgen diff`.
pub(super) fn run(cx: &Context, args: &DiffArgs, keep: &mut Leftovers) -> Result<u8> {
    // `--cluster` alone means the live cluster with the base inventory (or `--env`'s).
    let mut compile = args.compile.clone();
    compile.cluster = compile.cluster.filter(|name| !name.is_empty());
    let options = rendering(options(cx, &compile, Goal::Manifests)?, &args.render)?;
    // The other build's files are listed (and, where meshgen's cache vouches for them,
    // `stat`ed instead of read) while this build compiles: neither needs the other. Like
    // every path of the command line, `--against DIR` starts at `-C DIR`.
    let listing = args.against.as_deref().map(|dir| options.resolve(dir)).map(|dir| {
        crate::par::background(move || {
            let recorded = crate::emit::Recorded::load(&dir);
            diff::rendered::list(&dir, |rel, path| recorded.hash_of(rel, path))
        })
    });
    let mut c = compile_verbose(cx, &options)?;
    print_diagnostics(&c, args.diagnostics.format, cx.color_stderr(), false, cx.quiet)?;
    let Some(Rendered::Manifests(all)) = c.rendered.take() else {
        bail!("the inventory has errors, so there is nothing to compare: fix them first (`meshgen check` lists them)");
    };
    let namespace = args.namespace.as_deref();
    let manifests: Vec<&Manifest> = all.iter().filter(|m| namespace.is_none_or(|ns| &*m.namespace == ns)).collect();
    let normalizer = Normalizer::new(args.ignore.clone());
    let (plan, before) = match (&args.against, listing) {
        // Named as it was given.
        (Some(dir), Some(listing)) => {
            let listing = listing.wait()?;
            (against(cx, dir, listing, &manifests, namespace, &normalizer, keep)?, dir.display().to_string())
        }
        _ => (cluster(args, &options, c.project.api_version, &manifests, &normalizer)?, "live".to_string()),
    };
    let (after, title) = match &args.against {
        Some(_) => ("build", format!("`{before}`")),
        None => ("desired", "the live cluster".to_string()),
    };
    c.timings.mark("compare");
    let sides = Sides { before: &before, after, title: &title };
    let text = report::render(&plan, args.output, sides, cx.color_stdout());
    std::io::stdout().lock().write_all(text.as_bytes()).context("failed to write the report to stdout")?;
    print_timings(&mut c, cx, &compile, "report");
    let code = if plan.has_changes() { EXIT_CHANGES } else { 0 };
    // Freeing every manifest one by one would cost more than the comparison (see `Leftovers`).
    keep.keep((c, all, plan));
    Ok(code)
}

/// This build against another output directory. Documents whose text is identical on both
/// sides are paired off unparsed: in a pull request few objects change, and parsing only
/// the changed ones keeps the diff's cost near that of listing the files.
/// `dir` is the directory as given, for messages (`listing` has read it).
fn against(
    cx: &Context,
    dir: &std::path::Path,
    listing: diff::rendered::Listing,
    manifests: &[&Manifest],
    namespace: Option<&str>,
    normalizer: &Normalizer,
    keep: &mut Leftovers,
) -> Result<Plan> {
    // A directory that meshgen built (and recorded in its cache) in the per-object layout
    // holds each unchanged object in a file the cache vouches for: those are paired off
    // by their recorded hash, not read.
    let by_file: HashMap<String, usize> = if listing.has_records() {
        (manifests.iter().enumerate())
            .filter_map(|(i, m)| {
                let file = crate::emit::file_of(m.kind, &m.namespace, &m.name, &m.entity, Layout::Object).ok()?;
                Some((file, i))
            })
            .collect()
    } else {
        HashMap::new()
    };
    let rendered = listing.read_unless(|rel, recorded| {
        recorded.is_some_and(|h| {
            by_file.get(rel).is_some_and(|&i| crate::emit::Recorded::object_file_hash(&manifests[i].text) == h)
        })
    })?;
    let mut paired = vec![false; manifests.len()];
    for rel in &rendered.known {
        paired[by_file[rel]] = true;
    }
    let docs = rendered.documents();
    let texts: Vec<&str> = manifests.iter().zip(&paired).filter(|(_, p)| !**p).map(|(m, _)| &*m.text).collect();
    let (desired, other, identical) = diff::split_identical(texts, docs);
    let identical = identical + rendered.known.len();
    let desired = desired
        .into_iter()
        .map(Object::from_yaml)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("meshgen rendered a document it cannot read back ({e}); please report it"))?;
    let mut others = Vec::new();
    for doc in other {
        match Object::from_yaml(doc.text) {
            Ok(o) if namespace.is_none_or(|ns| o.key.namespace == ns) => others.push(o),
            Ok(_) => {}
            Err(why) => cx.note(format!("warning: skipping a document of `{}`: {why}", dir.join(doc.file).display())),
        }
    }
    let mut plan = diff::compare(desired, others, normalizer);
    plan.unchanged += identical;
    // Tens of thousands of file contents, about to be freed with the process anyway.
    keep.keep(rendered);
    Ok(plan)
}

#[cfg(not(feature = "cluster"))]
fn cluster(_: &DiffArgs, _: &Options, _: crate::model::ApiVersion, _: &[&Manifest], _: &Normalizer) -> Result<Plan> {
    bail!(
        "this meshgen was built without the `cluster` feature, so it cannot read a cluster: rebuild it with default features, or compare with another build (`--against DIR`)"
    )
}

/// This build against the live objects.
#[cfg(feature = "cluster")]
fn cluster(
    args: &DiffArgs,
    options: &Options,
    api_version: crate::model::ApiVersion,
    manifests: &[&Manifest],
    normalizer: &Normalizer,
) -> Result<Plan> {
    use crate::cluster::{self, Wanted};
    let desired = manifests
        .iter()
        .map(|m| Object::from_yaml(&m.text))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("meshgen rendered a document it cannot read back ({e}); please report it"))?;
    let wanted: Vec<Wanted<'_>> = desired
        .iter()
        .map(|o| Wanted { kind: &o.key.kind, namespace: &o.key.namespace, name: &o.key.name, body: &o.value })
        .collect();
    let kinds: Vec<(&str, &str)> =
        crate::render::Kind::ALL.iter().map(|k| (k.api_version(api_version), k.as_str())).collect();
    let opts = cluster::Options {
        // `--kubeconfig FILE` starts at `-C DIR`; `$KUBECONFIG` at the current directory.
        kubeconfig: args.kubeconfig.as_deref().map(|f| options.resolve(f)),
        context: args.context.clone(),
        namespace: args.namespace.clone(),
        timeout: args.timeout,
        server_side: args.server_side,
    };
    let live = cluster::read(&opts, &kinds, &wanted)?;
    drop(wanted);
    // With `--server-side` the desired side is what the API server would store: defaults
    // filled in, fields of other managers kept, as an apply would leave it.
    let desired = if args.server_side {
        live.applied.into_iter().map(Object::from_value).collect::<Result<Vec<_>, _>>().map_err(|e| {
            anyhow::anyhow!("the API server answered a dry-run apply with something that is not an object: {e}")
        })?
    } else {
        desired
    };
    let live: Vec<Object> = live.objects.into_iter().filter_map(|v| Object::from_value(v).ok()).collect();
    Ok(diff::compare(desired, live, normalizer))
}
