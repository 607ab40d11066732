//! `meshgen import`: reads Istio YAML from files, directories or standard input, hands the
//! texts to [`crate::import`], prints its report and writes the draft project, never over
//! an existing one.

use std::fs;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use super::args::ImportArgs;
use super::context::Context;
use crate::import::{Input, import};

/// What a project is made of here: an import writes neither over an existing one.
const PROJECT: [&str; 2] = ["meshgen.yaml", "inventory"];

/// Imports the paths into a draft project in `-C DIR` or the current directory.
pub(super) fn run(cx: &Context, args: &ImportArgs) -> Result<u8> {
    let root = &cx.directory;
    if !args.dry_run {
        let existing: Vec<&str> = PROJECT.into_iter().filter(|p| fs::symlink_metadata(root.join(p)).is_ok()).collect();
        if !existing.is_empty() {
            anyhow::bail!(
                "{} already exist{}: `meshgen import` overwrites nothing, so it read and wrote nothing (import into an empty directory with -C DIR, or try --dry-run)",
                existing.iter().map(|p| format!("`{}`", super::init::shown(root, p))).collect::<Vec<_>>().join(" and "),
                if existing.len() == 1 { "s" } else { "" },
            );
        }
    }
    let mut inputs = Vec::new();
    for path in &args.paths {
        read(cx, path, &mut inputs)?;
    }
    if args.cluster {
        live(cx, args, &mut inputs)?;
    }
    let imported = import(&inputs)?;
    write!(std::io::stdout().lock(), "{}", imported.report)?;
    if !args.dry_run {
        for (path, text) in &imported.files {
            let target = root.join(path);
            if let Some(dir) = target.parent() {
                fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
            }
            fs::write(&target, text).with_context(|| format!("cannot write `{}`", target.display()))?;
        }
    }
    if !cx.quiet {
        let files = if args.dry_run {
            "nothing written (--dry-run)".to_string()
        } else {
            format!("wrote {} files", imported.files.len())
        };
        eprintln!("imported {} objects from {} inputs; {files}", imported.objects, inputs.len());
    }
    Ok(if imported.report.refused() { super::EXIT_FINDINGS } else { 0 })
}

/// The live Istio objects of the kinds meshgen generates (`--cluster`), one input each,
/// named `cluster:Kind/namespace/name`.
#[cfg(feature = "cluster")]
fn live(cx: &Context, args: &ImportArgs, inputs: &mut Vec<Input>) -> Result<()> {
    let kinds: Vec<(&str, &str)> =
        crate::render::Kind::ALL.iter().map(|k| (k.api_version(crate::model::ApiVersion::V1), k.as_str())).collect();
    let opts = crate::cluster::Options {
        kubeconfig: args.kubeconfig.as_deref().map(|f| cx.resolve(f)),
        context: args.context.clone(),
        namespaces: args.namespace.clone(),
        ..Default::default()
    };
    let session = crate::cluster::connect(&opts, &kinds)?;
    for object in session.everything(args.selector.as_deref())? {
        let s = |v: &crate::yaml::Value| v.as_str().unwrap_or_default().to_string();
        let md = &object["metadata"];
        let name = format!("cluster:{}/{}/{}", s(&object["kind"]), s(&md["namespace"]), s(&md["name"]));
        inputs.push(Input { name, text: crate::yaml::to_string(&object) });
    }
    Ok(())
}

#[cfg(not(feature = "cluster"))]
fn live(_: &Context, _: &ImportArgs, _: &mut Vec<Input>) -> Result<()> {
    anyhow::bail!(
        "this meshgen was built without the `cluster` feature, so it cannot read a cluster: import files instead (`kubectl get … -o yaml | meshgen import -`)"
    )
}

/// Reads `path` (a file, a directory's YAML files, or `-`) into `inputs`.
fn read(cx: &Context, path: &Path, inputs: &mut Vec<Input>) -> Result<()> {
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).context("cannot read standard input")?;
        inputs.push(Input { name: "-".into(), text });
        return Ok(());
    }
    let full = if path.is_absolute() { path.to_path_buf() } else { cx.directory.join(path) };
    let meta = fs::metadata(&full).with_context(|| format!("cannot read `{}`", path.display()))?;
    let files = if meta.is_dir() { walk(&full)? } else { vec![full.clone()] };
    for file in files {
        let text = fs::read_to_string(&file).with_context(|| format!("cannot read `{}`", file.display()))?;
        let name = file.strip_prefix(&cx.directory).unwrap_or(&file).display().to_string();
        inputs.push(Input { name, text });
    }
    Ok(())
}

/// The YAML and JSON files under `dir`, in path order, hidden ones left out.
fn walk(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .with_context(|| format!("cannot read `{}`", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for p in entries {
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if name.starts_with('.') {
            continue;
        }
        if p.is_dir() {
            out.extend(walk(&p)?);
        } else if ["yaml", "yml", "json"].iter().any(|e| p.extension().is_some_and(|x| x == *e)) {
            out.push(p);
        }
    }
    Ok(out)
}
