//! `meshgen argocd generate` and `meshgen argocd parameters`: meshgen as an Argo CD Config
//! Management Plugin (sidecar), run by `argocd-cmp-server` in the application's directory
//! of an extracted repository tarball (deploy/argocd/plugin.yaml, docs/argocd.md).
//!
//! Argo CD parses stdout as the application's manifests and shows stderr in its UI, so:
//! stdout carries Kubernetes objects only, written in one piece after everything succeeded;
//! every log line and diagnostic goes to stderr and names the application; any problem exits
//! non-zero, and so does an empty render (with `prune: true` it would delete every object
//! meshgen manages) unless the project says `allowEmpty: true`. Nothing is written to disk,
//! `$HOME` is never read, and colour is never used.

mod settings;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::Path;

use anyhow::{Context as _, Result};

use super::args::ArgocdCommand;
use super::context::Context;
use super::project::print_diagnostics;
use super::{EXIT_FAILURE, EXIT_FINDINGS};
use crate::compile::{Goal, Options, Rendered, compile};
use crate::diag::Severity;
use crate::diag::render::Format;
use settings::Settings;

/// `eprintln!` for the plugin's log (Argo CD's repo-server log, often a CI log too): the line
/// escaped as a whole (`diag::escape`), so that no name, path or value in it can start a line
/// of its own or reach a terminal.
macro_rules! say {
    ($($arg:tt)*) => {
        eprintln!("{}", crate::diag::escape::text(&format!($($arg)*)))
    };
}

/// Runs a plugin command with the process environment. A variable the plugin reads that is
/// not UTF-8 fails both commands (`readable`), rather than being left out.
///
/// Of the global options only `-C DIR` applies, as the application's directory (to try the
/// plugin outside Argo CD); the project file is always the application's `meshgen.yaml`
/// (Argo CD's discovery found it there), so neither `--project` nor `MESHGEN_PROJECT`, which
/// a sidecar's environment might carry for other reasons, changes what is rendered.
pub(super) fn run(cx: &Context, cmd: &ArgocdCommand) -> Result<u8> {
    let (vars, readable) = settings::read_env(std::env::vars_os());
    let app = &cx.directory;
    match cmd {
        ArgocdCommand::Generate => Ok(generate(app, &vars, readable)),
        ArgocdCommand::Parameters => readable.and_then(|()| parameters(app, &vars)),
    }
}

/// Renders the application to stdout; returns the exit code. Every failure is reported here,
/// with the application's name, rather than by the generic error printer.
fn generate(app: &Path, vars: &BTreeMap<String, String>, readable: Result<()>) -> u8 {
    let app_name = settings::App {
        name: vars.get("ARGOCD_APP_NAME").cloned(),
        namespace: vars.get("ARGOCD_APP_NAMESPACE").cloned(),
        ..Default::default()
    }
    .display();
    let settings = match readable.and_then(|()| settings::from_vars(vars)) {
        Ok(s) => s,
        Err(e) => {
            say!("error: meshgen: app {app_name}: {e:#}");
            return EXIT_FAILURE;
        }
    };
    match render(app, &settings) {
        Ok(Ok(stream)) => {
            let mut out = std::io::stdout().lock();
            match out.write_all(&stream).and_then(|()| out.flush()) {
                Ok(()) => 0,
                Err(e) => {
                    say!("error: meshgen: app {app_name}: cannot write to stdout: {e}");
                    EXIT_FAILURE
                }
            }
        }
        Ok(Err((code, why))) => {
            say!("error: meshgen: app {app_name}: {why}; nothing rendered");
            code
        }
        Err(e) => {
            say!("error: meshgen: app {app_name}: {e:#}; nothing rendered");
            EXIT_FAILURE
        }
    }
}

/// The application's project: `meshgen.yaml` in `app`, the application's directory of the
/// repository (the current directory: `argocd-cmp-server` runs the plugin there).
fn app_project(app: &Path) -> Options {
    Options::new(app)
}

/// The options a plugin run compiles with: the settings, for the application's project.
fn options(app: &Path, s: &Settings) -> Options {
    Options {
        environment: s.environment.clone(),
        cluster: s.cluster.clone(),
        labels: s.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        api_version: s.api_version,
        goal: Goal::Manifests,
        ..app_project(app)
    }
}

/// Compiles and lays out the stream. `Ok(Err((code, why)))` is a refusal already explained
/// on stderr (findings, an empty render).
fn render(dir: &Path, s: &Settings) -> Result<std::result::Result<Vec<u8>, (u8, String)>> {
    let app = &s.app;
    let mut log = std::io::stderr().lock();
    let _ = writeln!(
        log,
        "{}",
        crate::diag::escape::text(&format!(
            "meshgen {}: rendering app {} at revision {} (environment {}, cluster {}, KUBE_VERSION {})",
            env!("CARGO_PKG_VERSION"),
            app.display(),
            app.revision.as_deref().unwrap_or("(unknown)"),
            s.environment.as_deref().map_or("(none)".to_string(), |e| format!("`{e}`")),
            s.cluster.as_deref().map_or("(none)".to_string(), |c| format!("`{c}`")),
            app.kube_version.as_deref().unwrap_or("(unknown)"),
        ))
    );
    for note in &s.notes {
        let _ = writeln!(log, "meshgen: {}", crate::diag::escape::text(note));
    }
    drop(log);

    let options = options(dir, s);
    if !options.resolve(&options.project).is_file() {
        return Ok(Err((
            EXIT_FAILURE,
            "there is no `meshgen.yaml` in the application's directory: point the Application's `spec.source.path` at the directory of the repository that holds it".to_string(),
        )));
    }
    let mut c = compile(&options)?;
    print_diagnostics(&c.diags, &c.sources, Format::Human, false, false, false)?;
    let Some(Rendered::Manifests(manifests)) = c.rendered.take() else {
        let sorted = c.diags.clone().sorted();
        let errors: Vec<_> = sorted.iter().filter(|d| d.severity == Severity::Error).collect();
        let files: BTreeSet<&str> = errors.iter().map(|d| &*d.origin.file).collect();
        let files: Vec<String> = files.iter().map(|f| format!("`{f}`")).collect();
        let what = if errors.len() == 1 { "1 error".to_string() } else { format!("{} errors", errors.len()) };
        return Ok(Err((EXIT_FINDINGS, format!("the inventory has {what}, in {}", files.join(", ")))));
    };
    if let Some(refusal) = vips_committed(&c, &options) {
        return Ok(Err((EXIT_FAILURE, refusal)));
    }
    let present: BTreeSet<&str> = manifests.iter().map(|m| &*m.namespace).collect();
    if let Some(missing) = s.namespaces.iter().find(|n| !present.contains(n.as_str())) {
        let known: Vec<&str> = present.into_iter().collect();
        let help = crate::diag::suggest::hint(missing, "namespaces", &known).unwrap_or_default();
        return Ok(Err((EXIT_FAILURE, format!("parameter `namespaces`: nothing is rendered in `{missing}`: {help}"))));
    }
    let kept: Vec<_> = manifests
        .into_iter()
        .filter(|m| s.namespaces.is_empty() || s.namespaces.iter().any(|n| **n == *m.namespace))
        .collect();
    if kept.is_empty() && !c.project.allow_empty {
        return Ok(Err((
            EXIT_FINDINGS,
            "the render is empty (applied with pruning it would delete every object meshgen manages); add `allowEmpty: true` to meshgen.yaml if that is intended".to_string(),
        )));
    }
    let mut stream = Vec::new();
    crate::emit::to_writer(&kept, &mut stream).context("cannot lay out the stream")?;
    let layer =
        |what: &str, name: &Option<String>| name.as_ref().map(|n| format!(", {what} `{n}`")).unwrap_or_default();
    say!(
        "meshgen: rendered {} objects{}{}",
        kept.len(),
        layer("environment", &c.project.environment),
        layer("cluster", &c.project.cluster)
    );
    Ok(Ok(stream))
}

/// With `vipRange`, the allocations committed beside the output are an input of the render:
/// a render that allocated a new address would give other VIPs than `meshgen build` of the
/// same revision does (and than the next render, once the file is committed), so a missing
/// or incomplete file refuses the render instead.
fn vips_committed(c: &crate::compile::Compiled, options: &Options) -> Option<String> {
    let wanted = crate::model::vips::parse(c.vip_file.as_deref()?);
    let path = options.resolve(&c.project.output).join(crate::model::vips::FILE);
    let shown = options.relative(&path).display().to_string();
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Some(format!(
            "`vipRange` is set, but `{shown}` is not in this revision: run `meshgen build`, commit the file, and do not exclude it from what Argo CD fetches"
        ));
    };
    let recorded = crate::model::vips::parse(&text);
    let missing: Vec<&str> = wanted.keys().filter(|k| recorded.get(*k) != wanted.get(*k)).map(String::as_str).collect();
    if missing.is_empty() {
        return None;
    }
    let listed = missing.iter().take(5).map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ");
    let more = if missing.len() > 5 { format!(" and {} more", missing.len() - 5) } else { String::new() };
    Some(format!(
        "`{shown}` of this revision has no address for {listed}{more}: run `meshgen build` and commit the file, so that every render gives the same virtual IPs"
    ))
}

/// Prints the parameter announcement (JSON) for the Argo CD UI. Never fails on a broken
/// project: the parameters are the same, only the lists of declared names are missing.
fn parameters(app: &Path, vars: &BTreeMap<String, String>) -> Result<u8> {
    let (environments, clusters) = declared_layers(app);
    let json = settings::announcement(vars, &environments, &clusters);
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &json)?;
    writeln!(out)?;
    Ok(0)
}

/// The environments and clusters the application's meshgen.yaml declares.
fn declared_layers(dir: &Path) -> (Vec<String>, Vec<String>) {
    let mut diags = crate::diag::Diagnostics::default();
    let app = app_project(dir);
    let Ok(source) = crate::load::project_file(&app.resolve(&app.project), crate::load::Limits::default(), &mut diags)
    else {
        return (Vec::new(), Vec::new());
    };
    let names = |section: &str| -> Vec<String> {
        let doc = source.docs.first();
        let map = doc.and_then(|d| d.get(section)).and_then(|m| m.as_object());
        map.into_iter().flatten().map(|(k, _)| k.clone()).collect()
    };
    (names("environments"), names("clusters"))
}
