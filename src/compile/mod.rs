//! The pipeline from project file to manifests, one public function for every caller:
//! load → overlays → model → VIPs → graph → checks → patches → render → CRD validation.
//!
//! The commands (`build`, `check`, `graph`, `explain`, `diff`, the Argo CD plugin), the
//! benchmarks and the tests all compile through [`compile`], so what they run, measure and
//! check is what users run. What a command does with the result (print diagnostics, write
//! files, compare) is the command's.
//!
//! Nothing here changes the process's current directory: the relative paths of [`Options`]
//! are taken from [`Options::directory`] (what `meshgen -C DIR` sets), and those the project
//! file writes from the project file's own directory ([`Project::root`]).

mod fingerprint;
mod timings;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::diag::codes::NotSuppressible;
use crate::diag::{Diagnostic, Diagnostics};
use crate::load::{self, Source};
use crate::model::overlay::{Layer, Overlays};
use crate::model::project::Selection;
use crate::model::{self, ApiVersion, Inventory, Project};
use crate::render::templates::Overrides;
use crate::render::{self as rendering, Manifest, Templates};

pub use fingerprint::Fingerprint;
pub use timings::Timings;

/// What to compile and how far: plain data, filled by the command line
/// (`cli::args`), the Argo CD plugin, the benchmarks and the tests alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The directory the relative paths of these options start from (`-C DIR`). `.`, the
    /// default, is the process's current directory: paths are then used as given.
    pub directory: PathBuf,
    /// The project file (`--project`), relative to [`Options::directory`].
    pub project: PathBuf,
    /// The environment of the project file to build (`--env`), if any.
    pub environment: Option<String>,
    /// The cluster of the project file to build (`--cluster NAME`), if any.
    pub cluster: Option<String>,
    /// Labels added to every generated object (`--label KEY=VALUE`), in the order given;
    /// checked like the inventory's labels, and named `--label KEY=VALUE` in errors.
    pub labels: Vec<(String, String)>,
    /// The Istio API version to emit instead of the project file's (`--api-version`).
    pub api_version: Option<ApiVersion>,
    /// A directory of templates overriding the project file's (`--templates`), relative to
    /// [`Options::directory`].
    pub templates: Option<PathBuf>,
    /// A directory or file of CRDs to validate every generated object against (`--crds`), relative
    /// to [`Options::directory`]; it also replaces the project file's `istio.crds`.
    pub crds: Option<PathBuf>,
    /// Codes of findings to suppress everywhere (`--allow`).
    pub allow: Vec<String>,
    /// Whether warnings count as errors (`--deny warnings`).
    pub deny_warnings: bool,
    /// How far to go.
    pub goal: Goal,
}

impl Default for Options {
    /// The project file `meshgen.yaml` of the current directory, built for the base
    /// inventory into held manifests.
    fn default() -> Options {
        Options {
            directory: PathBuf::from("."),
            project: PathBuf::from(load::PROJECT_FILE),
            environment: None,
            cluster: None,
            labels: Vec::new(),
            api_version: None,
            templates: None,
            crds: None,
            allow: Vec::new(),
            deny_warnings: false,
            goal: Goal::Manifests,
        }
    }
}

impl Options {
    /// The defaults for the project file `meshgen.yaml` in `directory`.
    pub fn new(directory: impl Into<PathBuf>) -> Options {
        Options { directory: directory.into(), ..Options::default() }
    }

    /// `path` as the process can open it: an absolute path as it is, a relative one under
    /// [`Options::directory`] (as given when that is the current directory, so that messages
    /// say `out`, not `./out`).
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() || self.in_current_directory() { path.to_path_buf() } else { self.directory.join(path) }
    }

    /// For messages, a path [`compile`] derived from these options (the project file's
    /// `output`, under the project file's directory) as the user would write it: relative to
    /// [`Options::directory`] when it is under it.
    pub fn relative<'a>(&self, path: &'a Path) -> &'a Path {
        if self.in_current_directory() { path } else { path.strip_prefix(&self.directory).unwrap_or(path) }
    }

    /// Fails, as `cd` would, when [`Options::directory`] is not a directory.
    pub fn check_directory(&self) -> Result<()> {
        if self.in_current_directory() {
            return Ok(());
        }
        let dir = &self.directory;
        let is_dir = std::fs::metadata(dir)
            .and_then(|m| if m.is_dir() { Ok(()) } else { Err(std::io::Error::from_raw_os_error(libc::ENOTDIR)) });
        is_dir.map_err(|e| anyhow::anyhow!("cannot change to `{}`: {e}", dir.display()))
    }

    /// Whether [`Options::directory`] is the current directory (empty, or `.`).
    fn in_current_directory(&self) -> bool {
        self.directory.components().all(|c| c == std::path::Component::CurDir)
    }
}

/// Everything a command may need after compiling.
pub struct Compiled {
    /// The project file, parsed for the selected environment and cluster, with the
    /// options' overrides applied.
    pub project: Project,
    /// Every file read: the project file first, then the inventory, then the overlays.
    /// An inventory file's text is released once the model stage has read it, the others'
    /// once rendering starts ([`Source::text_again`] reads them back for diagnostics).
    pub sources: Vec<Source>,
    /// Every finding of every stage, suppressions applied.
    pub diags: Diagnostics,
    /// The model, unless the project file had errors.
    pub inventory: Option<Inventory>,
    /// The dependency graph, unless the project file had errors.
    pub graph: Option<crate::graph::MeshGraph>,
    /// What was rendered, when there are no errors and the goal asked for it.
    pub rendered: Option<Rendered>,
    /// The VIP allocation table to commit with the output (with `vipRange`).
    pub vip_file: Option<String>,
    /// How long each stage took so far; commands add their own before printing it.
    pub timings: Timings,
}

impl Compiled {
    /// Adds the findings about live objects of other owners (`check --live`, which read the
    /// cluster after compiling), suppressed and denied like the compiler's own: an entity's
    /// `ignore:` entry for such a code is only known to be used or unused now.
    pub fn add_live(&mut self, found: Vec<Diagnostic>, options: &Options) {
        let mut live = Diagnostics::default();
        found.into_iter().for_each(|d| live.push(d));
        if let Some(inv) = &self.inventory {
            live.suppress(&options.allow, &suppressions(inv, true));
        }
        if options.deny_warnings {
            live.deny_warnings();
        }
        self.diags.extend(live);
    }

    /// Hands every manifest to `each`, in the output's order: the held ones, or, compiled for
    /// [`Goal::Stream`], each namespace's as it is rendered (rendering and writing are then
    /// one stage, and `each`'s error stops the rendering). Nothing without [`Compiled::rendered`].
    pub fn each_manifest(&self, mut each: impl FnMut(&Manifest) -> Result<()>) -> Result<()> {
        self.each_namespace(|ms| ms.iter().try_for_each(&mut each))
    }

    /// [`Compiled::each_manifest`] a namespace at a time: `each` gets all of a namespace's
    /// manifests at once, in output order (the layouts of files group them by namespace).
    pub fn each_namespace(&self, mut each: impl FnMut(&[Manifest]) -> Result<()>) -> Result<()> {
        match &self.rendered {
            None => Ok(()),
            Some(Rendered::Manifests(ms)) => ms.chunk_by(|a, b| a.namespace == b.namespace).try_for_each(each),
            Some(Rendered::Stream(templates)) => {
                let (inv, graph) = self.streamed()?;
                rendering::stream(inv, graph, templates, |ms| each(&ms))
            }
            Some(Rendered::Compare(_)) => unchecked(),
        }
    }

    /// [`Compiled::each_namespace`], with `prepare` run first on each namespace's manifests:
    /// on the threads that render them, when they are streamed (see
    /// [`rendering::stream_with`]); `each` gets what it made, in output order.
    pub fn each_namespace_with<R: Send>(
        &self,
        prepare: impl Fn(&[Manifest]) -> Result<R> + Sync,
        mut each: impl FnMut(R) -> Result<()>,
    ) -> Result<()> {
        match &self.rendered {
            None => Ok(()),
            Some(Rendered::Manifests(ms)) => {
                ms.chunk_by(|a, b| a.namespace == b.namespace).try_for_each(|ms| each(prepare(ms)?))
            }
            Some(Rendered::Stream(templates)) => {
                let (inv, graph) = self.streamed()?;
                rendering::stream_with(inv, graph, templates, prepare, each)
            }
            Some(Rendered::Compare(_)) => unchecked(),
        }
    }

    /// [`Compiled::each_namespace_with`] for any compile, [`Goal::Compare`]'s included:
    /// returns what rendering found wrong with the objects' names, moved to the overlays that
    /// set them as the compile's own findings are. What `each` got may be used only when that
    /// holds no error.
    pub fn each_namespace_checked<R: Send>(
        &self,
        prepare: impl Fn(&[Manifest]) -> Result<R> + Sync,
        mut each: impl FnMut(R) -> Result<()>,
    ) -> Result<Diagnostics> {
        let Some(Rendered::Compare(templates)) = &self.rendered else {
            self.each_namespace_with(prepare, each)?;
            return Ok(Diagnostics::default());
        };
        let (inv, graph) = self.streamed()?;
        let mut found = Diagnostics::default();
        rendering::stream_checked(
            inv,
            graph,
            templates,
            |ms| prepare(&ms),
            |made, names| {
                found.extend(names);
                each(made)
            },
        )?;
        inv.trace.retrace(&mut found);
        Ok(found)
    }

    /// Every manifest, taken out of the compile (which keeps no rendering after), with what
    /// rendering found wrong with their names as [`Compiled::each_namespace_checked`] says:
    /// the held ones as they are, a [`Goal::Compare`] compile's rendered now, all at once.
    pub fn take_manifests(&mut self) -> Result<(Vec<Manifest>, Diagnostics)> {
        let mut found = Diagnostics::default();
        let all = match self.rendered.take() {
            None => Vec::new(),
            Some(Rendered::Manifests(all)) => all,
            Some(Rendered::Stream(templates) | Rendered::Compare(templates)) => {
                let (inv, graph) = self.streamed()?;
                let all = rendering::render(inv, graph, &templates, &mut found)?;
                inv.trace.retrace(&mut found);
                all
            }
        };
        Ok((all, found))
    }

    /// The model a streamed rendering renders from.
    fn streamed(&self) -> Result<(&Inventory, &crate::graph::MeshGraph)> {
        match (&self.inventory, &self.graph) {
            (Some(inv), Some(graph)) => Ok((inv, graph)),
            _ => anyhow::bail!("internal error: compiled for streaming without an inventory"),
        }
    }
}

/// What reading a [`Goal::Compare`] rendering without its name checks answers: a bug.
fn unchecked() -> Result<()> {
    anyhow::bail!("internal error: a comparison's rendering was read without checking its names")
}

/// The rendering a compile ends with.
pub enum Rendered {
    /// Every manifest ([`Goal::Manifests`]).
    Manifests(Vec<Manifest>),
    /// The templates to render with while writing ([`Goal::Stream`]); boxed, as Tera's
    /// state is far larger than a vector.
    Stream(Box<Templates>),
    /// The templates to render with while comparing ([`Goal::Compare`]): names not checked yet.
    Compare(Box<Templates>),
}

/// How far [`compile`] goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    /// Up to the objects' identities: no text (unless overridden templates must be verified).
    Analyse,
    /// Every manifest, rendered and held.
    Manifests,
    /// Everything checked, nothing rendered yet: the caller renders while it writes
    /// ([`Compiled::each_manifest`]), holding a few namespaces' text instead of the estate's.
    /// Overridden templates and `crds` need every manifest checked first, so they get
    /// [`Goal::Manifests`] instead.
    Stream,
    /// [`Goal::Stream`] for a caller that writes nothing (`diff --against`): the objects'
    /// names are checked as they are rendered ([`Compiled::each_namespace_checked`]), as
    /// [`Goal::Manifests`] checks them, not by a pass of their own before, which only a
    /// writer that must not stop halfway needs.
    Compare,
}

/// Loads, validates, graphs and (when there are no errors) renders, as far as
/// [`Options::goal`] asks. Findings are in [`Compiled::diags`]; `Err` is a usage or I/O
/// problem (a mistyped `allow` code or label, an unknown environment, an unreadable file).
pub fn compile(options: &Options) -> Result<Compiled> {
    finish(options, load(options, |_| {})?)
}

/// What the load stage read, before anything is made of it: the project file, the inventory's
/// and the selected overlays' files, and what was found wrong with them. [`finish`] compiles
/// it; in between, a caller may decide from the inputs alone ([`Loaded::fingerprint`]) that
/// it needs nothing more.
pub struct Loaded {
    /// The project file, parsed for the selected environment and cluster, with the
    /// options' overrides applied.
    pub project: Project,
    /// Every file read: the project file first, then the inventory, then the overlays.
    pub sources: Vec<Source>,
    /// The findings so far.
    pub diags: Diagnostics,
    /// How long loading took.
    pub timings: Timings,
    /// How many of [`Loaded::sources`] after the project file are inventory files.
    inventory_files: usize,
    /// The overriding templates (with `templates`), read here once: what the build renders
    /// with is what its fingerprint covers. An error is reported where the templates are
    /// needed, as when they were read there.
    overrides: Option<Result<Overrides>>,
    /// The committed VIP table (with `vipRange`), read here once for the same reason.
    vip_table: Option<std::io::Result<String>>,
    /// The overlays' patches; `None` when the project file has errors (nothing else was read).
    overlays: Option<Overlays>,
}

/// Reads the project file and, when it has no errors, every file of the inventory and of
/// the selected overlays, calling `project_ready` with the project in between: a caller can
/// start what needs only the project (reading the output directory) while the rest loads
/// and compiles.
/// `Err` is a usage or I/O problem, as for [`compile`].
pub fn load(options: &Options, project_ready: impl FnOnce(&Project)) -> Result<Loaded> {
    let mut timings = Timings::default();
    // A missing `-C DIR` is reported as such, first, as when meshgen changed into it.
    options.check_directory()?;
    // A mistyped `--allow` is a usage error: say so before any work.
    for code in &options.allow {
        match crate::diag::codes::suppressible(code) {
            Ok(_) => {}
            Err(NotSuppressible::Fixed(name)) => anyhow::bail!("`--allow {name}`: this finding cannot be suppressed"),
            Err(NotSuppressible::Unknown(hint)) => {
                anyhow::bail!("`--allow {code}`: unknown code; {}", hint.unwrap_or_default())
            }
        }
    }
    let labels = labels(&options.labels)?;
    let mut diags = Diagnostics::default();
    // The limits are needed to read the project file itself; it is small, so defaults do.
    let project_source = load::project_file(&options.resolve(&options.project), load::Limits::default(), &mut diags)?;
    // A bare `--cluster` is `meshgen diff`'s "against the live cluster", which clears it
    // before compiling; anywhere else a cluster needs its name.
    if options.cluster.as_deref() == Some("") {
        anyhow::bail!("`--cluster` needs the name of a cluster of meshgen.yaml");
    }
    let selection = Selection { environment: options.environment.clone(), cluster: options.cluster.clone() };
    let mut project = model::project::parse_selected(&project_source, &selection, &mut diags)?;
    project.labels = labels;
    // The project's identity, on every object: what `diff --cluster` prunes by.
    if let Some(name) = &project.name {
        project.labels.insert(PROJECT_LABEL.to_string(), name.clone());
    }
    if let Some(set) = &project.apply_set {
        project.labels.insert(APPLYSET_LABEL.to_string(), set.id.clone());
    }
    if let Some(v) = options.api_version {
        project.api_version = v;
    }
    if let Some(t) = &options.templates {
        project.templates = Some(options.resolve(t));
    }
    let never: Vec<PathBuf> = vec![project_source.path.clone(), project.output.clone()];
    // The directories of environments and clusters are never base inventory, even inside an
    // inventory directory; only those this build selects are read, as what they are.
    let mut exclude = never.clone();
    exclude.extend(project.layer_dirs.iter().filter(|d| !project.inventory.contains(d)).cloned());
    let mut sources = vec![project_source];
    if diags.has_errors() {
        let (overrides, vip_table, overlays) = (None, None, None);
        return Ok(Loaded { project, sources, diags, timings, inventory_files: 0, overrides, vip_table, overlays });
    }
    project_ready(&project);
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
    let overrides = project.templates.as_deref().map(Overrides::read);
    let vip_table = project.vip_range.map(|_| std::fs::read_to_string(project.output.join(model::vips::FILE)));
    timings.mark("load");
    let overlays = Some(overlays);
    Ok(Loaded { project, sources, diags, timings, inventory_files, overrides, vip_table, overlays })
}

/// Compiles what [`load()`] read, as far as [`Options::goal`] asks (see [`compile`]).
pub fn finish(options: &Options, loaded: Loaded) -> Result<Compiled> {
    let Loaded { project, mut sources, mut diags, mut timings, inventory_files, mut overrides, vip_table, overlays } =
        loaded;
    let Some(overlays) = overlays else {
        project.trace.retrace(&mut diags);
        let (inventory, graph, rendered, vip_file) = (None, None, None, None);
        return Ok(Compiled { project, sources, diags, inventory, graph, rendered, vip_file, timings });
    };
    let output = options.goal;
    // `crds` as given overrides the project file's `istio.crds`.
    let crds_dir = options.crds.as_deref().map(|d| options.resolve(d));
    let mut inventory = model::build_with(&project, &mut sources[1..=inventory_files], &overlays, &mut diags);
    // VIPs are allocated against the previous table, committed in the output directory.
    let vip_file = project.vip_range.map(|range| {
        let previous = vip_table.and_then(Result::ok).map(|t| model::vips::parse(&t)).unwrap_or_default();
        let at = crate::diag::Origin::new(&project.file, 0, "");
        let table = model::vips::allocate(&mut inventory, range, &previous, &at, &mut diags);
        model::vips::render(range, &table)
    });
    timings.mark("model");
    let graph = crate::graph::build(&inventory, &mut diags);
    timings.mark("graph");
    // Overridden templates are rendered even for `check`: their output is verified.
    let streamed = matches!(output, Goal::Stream | Goal::Compare);
    let verified = project.templates.is_some() || (streamed && crds_dir.is_some());
    let output = if verified { Goal::Manifests } else { output };
    // Derived names are checked with or without rendering (rendering checks them itself,
    // so there only when the checks find errors). Without rendering they are checked beside
    // the cross-entity rules: both read the model and graph only, and together they keep
    // both cores busier than one after the other (each alone leaves a core idle at times).
    let mut analysed = Diagnostics::default();
    let mut check = || {
        crate::check::run(&inventory, &graph, &mut diags);
        std::time::Instant::now()
    };
    // Rendering all at once, or while comparing, checks the names itself.
    let renders_checked = matches!(output, Goal::Manifests | Goal::Compare);
    let checked = if !renders_checked {
        let (checked, found) = crate::par::join(check, || rendering::analyse(&inventory, &graph, &mut analysed));
        found?;
        checked
    } else {
        check()
    };
    diags.suppress(&options.allow, &suppressions(&inventory, false));
    if options.deny_warnings {
        diags.deny_warnings();
    }
    timings.mark_at("check", checked);
    if renders_checked && diags.has_errors() {
        rendering::analyse(&inventory, &graph, &mut analysed)?;
    }
    // Errors only (collisions and invalid names), which nothing suppresses.
    diags.extend(analysed);
    // Entities' `patches` are applied and checked before anything is rendered (a streamed
    // build cannot stop halfway), for `check` too; with CRDs, patched objects are validated
    // against them on every build.
    let mut templates = None;
    let mut crds = None;
    if !inventory.patches.is_empty() && !diags.has_errors() {
        let t = Templates::with(overrides.take().transpose()?)?;
        if let Some(dir) = crds_dir.as_deref().or(project.crds.as_deref()) {
            crds = Some(load_crds(dir)?);
        }
        rendering::patch::check(&inventory, &graph, &t, crds.as_ref(), &mut diags)?;
        templates = Some(t);
    }
    let mut rendered = None;
    if output != Goal::Analyse && !diags.has_errors() {
        // Nothing parses the project's and overlays' texts any more (the inventory's went
        // with the model stage): their memory goes to the manifests.
        for s in &mut sources {
            s.release_text();
        }
        let templates = match templates {
            Some(t) => t,
            None => Templates::with(overrides.take().transpose()?)?,
        };
        if output == Goal::Stream {
            rendered = Some(Rendered::Stream(Box::new(templates)));
        } else if output == Goal::Compare {
            rendered = Some(Rendered::Compare(Box::new(templates)));
        } else {
            let m = rendering::render(&inventory, &graph, &templates, &mut diags)?;
            if let Some(dir) = &crds_dir {
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
    timings.mark(match output {
        Goal::Manifests => "render",
        // The patches and templates: names are checked while the caller renders.
        Goal::Compare => "prepare",
        Goal::Analyse | Goal::Stream => "analyse",
    });
    let (inventory, graph) = (Some(inventory), Some(graph));
    Ok(Compiled { project, sources, diags, inventory, graph, rendered, vip_file, timings })
}

/// The label naming the project of meshgen.yaml (`project`) on every object.
pub const PROJECT_LABEL: &str = "meshgen.dev/project";
/// The label of an ApplySet's members (KEP-3659), with the set's ID.
pub const APPLYSET_LABEL: &str = "applyset.kubernetes.io/part-of";

/// Label keys `--label` may not set: Argo CD's tracking label (and its own keys), and those
/// meshgen sets itself.
const RESERVED_LABELS: &[(&str, &str)] = &[
    ("app.kubernetes.io/instance", "Argo CD tracks the resources of an application by it"),
    ("argocd.argoproj.io/", "Argo CD's own labels are set by Argo CD"),
    ("app.kubernetes.io/managed-by", "meshgen sets it to `meshgen`"),
    (PROJECT_LABEL, "meshgen sets it to the `project` of meshgen.yaml"),
    ("applyset.kubernetes.io/", "meshgen sets it from `applySet` in meshgen.yaml"),
];

/// The extra labels, checked like labels in the inventory.
fn labels(args: &[(String, String)]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (k, v) in args {
        let a = format!("{k}={v}");
        if let Some((_, why)) = RESERVED_LABELS.iter().find(|(r, _)| k == *r || (r.ends_with('/') && k.starts_with(r)))
        {
            anyhow::bail!("`--label {a}`: meshgen never sets `{k}`: {why}");
        }
        model::names::label_key(k).map_err(|e| anyhow::anyhow!("`--label {a}`: label key `{k}` {e}"))?;
        model::names::label_value(v).map_err(|e| anyhow::anyhow!("`--label {a}`: label value `{v}` {e}"))?;
        if out.insert(k.clone(), v.clone()).is_some_and(|old| old != *v) {
            anyhow::bail!("`--label {k}` is given twice with different values");
        }
    }
    Ok(out)
}

/// The entities' `ignore:` entries as (scope, code, where) for [`Diagnostics::suppress`]:
/// those of the codes about live objects (`live`), or the others.
fn suppressions(inv: &Inventory, live: bool) -> Vec<(&crate::diag::Origin, &'static str, &crate::diag::Origin)> {
    inv.suppressions
        .iter()
        .filter(|s| crate::diag::codes::LIVE.contains(&s.code) == live)
        .map(|s| (&s.scope, s.code, &s.origin))
        .collect()
}

/// Loads the CRDs of `--crds` or `istio.crds`: a directory or one file.
fn load_crds(dir: &std::path::Path) -> Result<crate::crd::CrdSet> {
    crate::crd::CrdSet::load(dir).map_err(|e| anyhow::anyhow!("cannot load CRDs from `{}`: {e:#}", dir.display()))
}

/// Validates rendered objects against CRDs; each violation is reported at the entity the
/// object came from. A safety net: the model's own checks should make it fire never.
fn validate_against_crds(
    crds: &crate::crd::CrdSet,
    inv: &Inventory,
    manifests: &[Manifest],
    diags: &mut crate::diag::Diagnostics,
) -> Result<()> {
    let origins = crate::render::origins(inv);
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
