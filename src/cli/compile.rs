//! The pipeline from project file to manifests, shared by `build` and `check`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Result;

use super::args::ProjectArgs;
use crate::diag::Diagnostics;
use crate::diag::codes::NotSuppressible;
use crate::diag::render::{Format, SourceMap, Style, render};
use crate::load::{self, Source};
use crate::model::overlay::{Layer, Overlays};
use crate::model::project::Selection;
use crate::model::{self, Inventory, Project};
use crate::render::{self as rendering, Manifest, Templates};

use super::timings::Timings;

/// Everything a command may need after compiling.
pub(super) struct Compiled {
    pub project: Project,
    pub sources: Vec<Source>,
    pub diags: Diagnostics,
    pub inventory: Option<Inventory>,
    pub graph: Option<crate::graph::MeshGraph>,
    /// What was rendered, when there are no errors and `output` asked for it.
    pub rendered: Option<Rendered>,
    /// The VIP allocation table to commit with the output (with `vipRange`).
    pub vip_file: Option<String>,
    /// How long each stage took so far; commands add their own before printing it.
    pub timings: Timings,
}

impl Compiled {
    /// Prints the diagnostics in the chosen format: to stderr for `build` (whose stdout may
    /// carry manifests), to stdout for `check` (the report is its output).
    pub(super) fn print_diagnostics(&self, args: &ProjectArgs, color: bool, to_stdout: bool) -> Result<()> {
        // JSON and SARIF consumers expect a document even when there is nothing to report.
        if self.diags.is_empty() && !matches!(args.format, Format::Json | Format::Sarif) {
            return Ok(());
        }
        // Only the files the findings point into are quoted: after rendering, their texts
        // are read again (see `Source::release_text`).
        let sorted = self.diags.clone().sorted();
        let cited: std::collections::HashSet<&str> = sorted
            .iter()
            .flat_map(|d| std::iter::once(&d.origin).chain(d.related.iter().map(|(o, _)| o)))
            .map(|o| &*o.file)
            .collect();
        let texts: Vec<(&str, std::borrow::Cow<'_, str>)> = self
            .sources
            .iter()
            .filter(|s| cited.contains(&*s.name))
            .filter_map(|s| Some((&*s.name, s.text_again()?)))
            .collect();
        let mut map = SourceMap::new();
        for (name, text) in &texts {
            map.add(name, text);
        }
        let text = render(&sorted, &mut map, args.format, Style::new(color));
        if to_stdout {
            std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes())?;
        } else {
            eprint!("{text}");
        }
        Ok(())
    }

    /// Ends the last stage and, with `--timings`, prints the table to stderr.
    pub(super) fn print_timings(&mut self, args: &ProjectArgs, last: &'static str) {
        self.timings.mark(last);
        if args.timings {
            eprint!("{}", self.timings.report());
        }
    }
}

/// The rendering a compile ends with.
pub(super) enum Rendered {
    /// Every manifest ([`Output::Manifests`]).
    Manifests(Vec<Manifest>),
    /// The templates to render with while writing ([`Output::Stream`]); boxed, as Tera's
    /// state is far larger than a vector.
    Stream(Box<Templates>),
}

/// How far [`compile`] goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Output {
    /// Up to the objects' identities: no text (unless overridden templates must be verified).
    Analyse,
    /// Every manifest, rendered and held.
    Manifests,
    /// Everything checked, nothing rendered yet: the caller renders while it writes (see
    /// `render::stream`), holding a few namespaces' text instead of the estate's. Overridden
    /// templates and `--crds` need every manifest checked first, so they get
    /// [`Output::Manifests`] instead.
    Stream,
}

/// Compiles without rendering for a command that reads the model (graph, explain): the
/// diagnostics go to stderr, and an inventory with errors is refused (`Err` holds the exit
/// code), since a picture of a broken inventory would mislead.
pub(super) fn compile_clean(args: &ProjectArgs, color: bool) -> Result<std::result::Result<Clean, u8>> {
    let mut c = compile(args, Output::Analyse)?;
    c.print_diagnostics(args, color, false)?;
    c.print_timings(args, "diagnostics");
    match (c.diags.has_errors(), c.inventory.take(), c.graph.take()) {
        (false, Some(inventory), Some(graph)) => Ok(Ok(Clean { inventory, graph, sources: c.sources })),
        _ => {
            if args.format == Format::Human {
                eprintln!("error: the inventory has errors; fix them first (`meshgen check`)");
            }
            Ok(Err(super::EXIT_FINDINGS))
        }
    }
}

/// A compiled inventory without errors, and what it was read from.
pub(super) struct Clean {
    pub inventory: Inventory,
    pub graph: crate::graph::MeshGraph,
    pub sources: Vec<Source>,
}

/// Loads, validates, graphs and (when there are no errors) renders, as far as `output` asks.
pub(super) fn compile(args: &ProjectArgs, output: Output) -> Result<Compiled> {
    let mut timings = Timings::default();
    if let Some(dir) = &args.directory {
        std::env::set_current_dir(dir).map_err(|e| anyhow::anyhow!("cannot change to `{}`: {e}", dir.display()))?;
    }
    // A mistyped `--allow` is a usage error: say so before any work.
    for code in &args.allow {
        match crate::diag::codes::suppressible(code) {
            Ok(_) => {}
            Err(NotSuppressible::Fixed(name)) => anyhow::bail!("`--allow {name}`: this finding cannot be suppressed"),
            Err(NotSuppressible::Unknown(hint)) => {
                anyhow::bail!("`--allow {code}`: unknown code; {}", hint.unwrap_or_default())
            }
        }
    }
    let labels = labels(&args.labels)?;
    let mut diags = Diagnostics::default();
    // The limits are needed to read the project file itself; it is small, so defaults do.
    let project_source = load::project_file(&args.project, load::Limits::default(), &mut diags)?;
    // A bare `--cluster` is `meshgen diff`'s "against the live cluster", which clears it
    // before compiling; anywhere else a cluster needs its name.
    if args.cluster.as_deref() == Some("") {
        anyhow::bail!("`--cluster` needs the name of a cluster of meshgen.yaml");
    }
    let selection = Selection { environment: args.environment.clone(), cluster: args.cluster.clone() };
    let mut project = model::project::parse_selected(&project_source, &selection, &mut diags)?;
    project.labels = labels;
    if let Some(v) = args.api_version {
        project.api_version = v;
    }
    if let Some(t) = &args.templates {
        project.templates = Some(t.clone());
    }
    let never: Vec<PathBuf> = vec![project_source.path.clone(), project.output.clone()];
    // The directories of environments and clusters are never base inventory, even inside an
    // inventory directory; only those this build selects are read, as what they are.
    let mut exclude = never.clone();
    exclude.extend(project.layer_dirs.iter().filter(|d| !project.inventory.contains(d)).cloned());
    let mut sources = vec![project_source];
    if diags.has_errors() {
        project.trace.retrace(&mut diags);
        let (inventory, graph, rendered, vip_file) = (None, None, None, None);
        return Ok(Compiled { project, sources, diags, inventory, graph, rendered, vip_file, timings });
    }
    sources.extend(load::inventory(&project.root, &project.inventory, &exclude, project.limits, &mut diags)?);
    let inventory_files = sources.len() - 1;
    let mut layers = Vec::with_capacity(project.overlays.len());
    for dir in &project.overlays {
        let files =
            load::inventory(&project.root, std::slice::from_ref(&dir.path), &never, project.limits, &mut diags)?;
        layers.push(Layer { label: dir.label.clone(), sources: files });
    }
    let overlays = Overlays::parse(&layers, &mut diags);
    sources.extend(layers.into_iter().flat_map(|l| l.sources));
    timings.mark("load");
    let mut inventory = model::build_with(&project, &sources[1..=inventory_files], &overlays, &mut diags);
    // VIPs are allocated against the previous table, committed in the output directory.
    let vip_file = project.vip_range.map(|range| {
        let previous = std::fs::read_to_string(project.output.join(model::vips::FILE))
            .map(|t| model::vips::parse(&t))
            .unwrap_or_default();
        let at = crate::diag::Origin::new(&project.file, 0, "");
        let table = model::vips::allocate(&mut inventory, range, &previous, &at, &mut diags);
        model::vips::render(range, &table)
    });
    timings.mark("model");
    let graph = crate::graph::build(&inventory, &mut diags);
    timings.mark("graph");
    crate::check::run(&inventory, &graph, &mut diags);
    let scopes: Vec<_> = inventory.suppressions.iter().map(|s| (&s.scope, s.code, &s.origin)).collect();
    diags.suppress(&args.allow, &scopes);
    if args.deny.is_some() {
        diags.deny_warnings();
    }
    timings.mark("check");
    // Overridden templates are rendered even for `check`: their output is verified.
    let verified = project.templates.is_some() || (output == Output::Stream && args.crds.is_some());
    let output = if verified { Output::Manifests } else { output };
    // Derived names are checked with or without rendering (rendering checks them itself).
    if output != Output::Manifests || diags.has_errors() {
        rendering::analyse(&inventory, &graph, &mut diags)?;
    }
    // Entities' `patches` are applied and checked before anything is rendered (a streamed
    // build cannot stop halfway), for `check` too; with CRDs, patched objects are validated
    // against them on every build.
    let mut templates = None;
    let mut crds = None;
    if !inventory.patches.is_empty() && !diags.has_errors() {
        let t = Templates::load(project.templates.as_deref())?;
        if let Some(dir) = args.crds.as_deref().or(project.crds.as_deref()) {
            crds = Some(load_crds(dir)?);
        }
        rendering::patch::check(&inventory, &graph, &t, crds.as_ref(), &mut diags)?;
        templates = Some(t);
    }
    let mut rendered = None;
    if output != Output::Analyse && !diags.has_errors() {
        // Nothing parses the inventory's text any more: its memory goes to the manifests.
        for s in &mut sources {
            s.release_text();
        }
        let templates = match templates {
            Some(t) => t,
            None => Templates::load(project.templates.as_deref())?,
        };
        if output == Output::Stream {
            rendered = Some(Rendered::Stream(Box::new(templates)));
        } else {
            let m = rendering::render(&inventory, &graph, &templates, &mut diags)?;
            if let Some(dir) = &args.crds {
                let crds = match crds {
                    Some(c) => c,
                    None => load_crds(dir)?,
                };
                validate_against_crds(&crds, &inventory, &m, &mut diags)?;
            }
            rendered = (!diags.has_errors()).then_some(Rendered::Manifests(m));
        }
    }
    // Last, once every stage has reported: problems with values an overlay set move there.
    inventory.trace.retrace(&mut diags);
    timings.mark(if output == Output::Manifests { "render" } else { "analyse" });
    let (inventory, graph) = (Some(inventory), Some(graph));
    Ok(Compiled { project, sources, diags, inventory, graph, rendered, vip_file, timings })
}

/// Label keys meshgen never sets: Argo CD's tracking label (and its own keys) and meshgen's.
const RESERVED_LABELS: &[(&str, &str)] = &[
    ("app.kubernetes.io/instance", "Argo CD tracks the resources of an application by it"),
    ("argocd.argoproj.io/", "Argo CD's own labels are set by Argo CD"),
    ("app.kubernetes.io/managed-by", "meshgen sets it to `meshgen`"),
];

/// The `--label KEY=VALUE` arguments, checked like labels in the inventory.
pub(super) fn labels(args: &[String]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for a in args {
        let Some((k, v)) = a.split_once('=') else {
            anyhow::bail!("`--label {a}`: expected KEY=VALUE, e.g. `--label team=shop`");
        };
        if let Some((_, why)) = RESERVED_LABELS.iter().find(|(r, _)| k == *r || (r.ends_with('/') && k.starts_with(r)))
        {
            anyhow::bail!("`--label {a}`: meshgen never sets `{k}`: {why}");
        }
        model::names::label_key(k).map_err(|e| anyhow::anyhow!("`--label {a}`: label key `{k}` {e}"))?;
        model::names::label_value(v).map_err(|e| anyhow::anyhow!("`--label {a}`: label value `{v}` {e}"))?;
        if out.insert(k.to_string(), v.to_string()).is_some_and(|old| old != v) {
            anyhow::bail!("`--label {k}` is given twice with different values");
        }
    }
    Ok(out)
}

/// Loads the CRDs of `--crds` or `istio.crds`.
fn load_crds(dir: &std::path::Path) -> Result<crate::crd::CrdSet> {
    crate::crd::CrdSet::load_dir(dir).map_err(|e| anyhow::anyhow!("cannot load CRDs from `{}`: {e:#}", dir.display()))
}

/// Validates rendered objects against CRDs; each violation is reported at the entity the
/// object came from. A safety net: the model's own checks should make it fire never.
fn validate_against_crds(
    crds: &crate::crd::CrdSet,
    inv: &Inventory,
    manifests: &[Manifest],
    diags: &mut crate::diag::Diagnostics,
) -> Result<()> {
    let origins: std::collections::HashMap<&str, &crate::diag::Origin> = inv
        .services
        .iter()
        .map(|s| (s.name.as_str(), &s.origin))
        .chain(inv.externals.iter().map(|e| (e.name.as_str(), &e.origin)))
        .chain(std::iter::once(crate::render::egress::owner(inv)))
        .collect();
    for m in manifests {
        let doc: serde_json::Value = crate::yaml::from_str(&m.text)?;
        let violations = crds.validate(&doc);
        let Some(origin) = origins.get(&*m.entity) else { continue };
        for v in violations {
            diags.push(
                crate::diag::Diagnostic::error(
                    "crd-violation",
                    (*origin).clone().key(),
                    format!(
                        "{} `{}/{}` would be rejected by the API server: {v}",
                        m.kind.as_str(),
                        m.namespace,
                        m.name
                    ),
                )
                .help(
                    "this is a meshgen bug or a template override at fault; please report it with the inventory entity",
                ),
            );
        }
    }
    Ok(())
}
