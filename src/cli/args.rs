//! Command-line arguments: clap derive types, and the values the flags that take one of the
//! library's enums accept (the library knows nothing of clap); no other logic.

use std::path::PathBuf;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

use super::help;
use crate::diag::render::Format;
use crate::diff::report::Output as DiffFormat;
use crate::model::{ApiVersion, Layout};

/// meshgen compiles an inventory of VMs, pods and external APIs into Istio manifests.
#[derive(Debug, Parser)]
#[command(name = "meshgen", version, about, propagate_version = true, after_help = help::MESHGEN)]
pub struct Cli {
    /// The options every command takes, before or after its name.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts, before or after the command's name (`meshgen -C dir build`
/// or `meshgen build -C dir`). Commands that read no project ignore `--project`.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Run as if started in DIR: paths given on the command line start there, and so does
    /// the search for meshgen.yaml.
    #[arg(short = 'C', long = "directory", value_name = "DIR", global = true)]
    pub directory: Option<PathBuf>,
    /// The project file [default: meshgen.yaml in the directory or the nearest parent,
    /// up to the repository root].
    #[arg(long, value_name = "FILE", global = true, env = "MESHGEN_PROJECT", hide_env_values = true)]
    pub project: Option<PathBuf>,
    /// When to colour output (`auto`: on a terminal, unless NO_COLOR is set).
    #[arg(
        long,
        value_enum,
        value_name = "WHEN",
        global = true,
        default_value = "auto",
        env = "MESHGEN_COLOR",
        hide_env_values = true
    )]
    pub color: Color,
    /// Print errors only: no warnings, no summary (reports and manifests on stdout are kept).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Say more on stderr: the project file and directory used, what was read and written;
    /// twice (`-vv`) adds the time of each stage.
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,
}

/// Colour choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    /// Colour when the output is a terminal and NO_COLOR is unset.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compile the inventory and write the manifests to the output directory.
    #[command(after_help = help::BUILD)]
    Build(BuildArgs),
    /// Load and analyse the inventory without writing anything.
    #[command(after_help = help::CHECK)]
    Check(CheckArgs),
    /// Draw the dependency graph (Mermaid, DOT or JSON).
    #[command(after_help = help::GRAPH)]
    Graph(GraphArgs),
    /// Show what an entity produces and where it comes from, or what depends on it.
    #[command(after_help = help::EXPLAIN)]
    Explain(ExplainArgs),
    /// Show what would change: on the live cluster (`--cluster`) or against another build
    /// (`--against DIR`).
    #[command(after_help = help::DIFF)]
    Diff(DiffArgs),
    /// List or eject the built-in templates.
    #[command(subcommand, after_help = help::TEMPLATES)]
    Templates(TemplatesCommand),
    /// The Argo CD Config Management Plugin, run by its sidecar ("meshgen in Argo CD" in the
    /// documentation).
    #[command(subcommand, after_help = help::ARGOCD)]
    Argocd(ArgocdCommand),
    /// Print a shell completion script.
    #[command(after_help = help::COMPLETIONS)]
    Completions {
        /// The shell to complete in.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), or write one page per command into a directory.
    #[command(after_help = help::MAN)]
    Man {
        /// Write `meshgen.1` and a `meshgen-<command>.1` for every command into DIR
        /// (created if missing; relative to `-C DIR`) instead of printing `meshgen.1`.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
    /// Start a project: meshgen.yaml, an inventory that builds clean, and the editor schemas.
    #[command(after_help = help::INIT)]
    Init(InitArgs),
    /// Turn existing Istio YAML into a draft project (meshgen.yaml and inventory/), and report
    /// what the inventory language cannot say.
    #[command(after_help = help::IMPORT)]
    Import(ImportArgs),
    /// Print the JSON Schema of inventory, overlay or project files (for editors), or write
    /// all three into a directory.
    #[command(after_help = help::SCHEMA)]
    Schema(SchemaArgs),
}

/// `meshgen init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// An empty start: meshgen.yaml and an inventory without entities, instead of the
    /// commented example services.
    #[arg(long)]
    pub minimal: bool,
}

/// `meshgen import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Files or directories of Istio YAML (every `*.yaml`, `*.yml` and `*.json` below a
    /// directory, in path order), or `-` for standard input.
    #[arg(required_unless_present = "cluster", value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Print the report only: write no file.
    #[arg(long)]
    pub dry_run: bool,
    /// Also import the live Istio objects of the cluster of the current kubeconfig context
    /// (read-only: discovery and lists), in the `-n` namespaces or all.
    #[arg(long)]
    pub cluster: bool,
    /// With `--cluster`: the kubeconfig file (default: `$KUBECONFIG`, then `~/.kube/config`,
    /// then the in-cluster service account).
    #[arg(long, value_name = "FILE", requires = "cluster")]
    pub kubeconfig: Option<PathBuf>,
    /// With `--cluster`: the kubeconfig context (default: its current context).
    #[arg(long, value_name = "NAME", requires = "cluster")]
    pub context: Option<String>,
    /// With `--cluster`: only these namespaces (`-n a,b` or `-n a -n b`).
    #[arg(long, short = 'n', value_name = "NAMESPACE", value_delimiter = ',', requires = "cluster")]
    pub namespace: Vec<String>,
    /// With `--cluster`: only the objects of this label selector (e.g. `team=payments`).
    #[arg(long, value_name = "SELECTOR", requires = "cluster")]
    pub selector: Option<String>,
}

/// `meshgen schema`.
#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Which file's schema to print.
    #[arg(value_parser = choice(SCHEMAS), required_unless_present = "out_dir", conflicts_with = "out_dir")]
    pub kind: Option<crate::schema::Kind>,
    /// Write all three (`inventory.json`, `project.json`, `overlay.json`) into DIR, created
    /// if missing, instead of printing one.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// `meshgen argocd …`: configured by Argo CD's environment variables, not by flags.
#[derive(Debug, Subcommand)]
pub enum ArgocdCommand {
    /// Render the application in the current directory (or `-C DIR`) to stdout (`generate`
    /// of plugin.yaml).
    #[command(after_help = help::ARGOCD_GENERATE)]
    Generate,
    /// Announce the plugin's parameters to the Argo CD UI as JSON (`parameters.dynamic`).
    #[command(after_help = help::ARGOCD_PARAMETERS)]
    Parameters,
}

/// What every command that compiles the project takes: which build of it, and which
/// findings to report.
#[derive(Debug, Clone, Args)]
pub struct CompileArgs {
    /// Build for an environment of meshgen.yaml: its overlays and settings over the base
    /// inventory ("Environments and clusters" in the documentation).
    #[arg(long = "env", value_name = "NAME", env = "MESHGEN_ENV", hide_env_values = true)]
    pub environment: Option<String>,
    /// Build for a cluster of meshgen.yaml, layered over its environment. For `meshgen
    /// diff`, `--cluster` also says "against the live cluster", and the name may be left out.
    #[arg(long, value_name = "NAME", num_args = 0..=1, default_missing_value = "")]
    pub cluster: Option<String>,
    /// Suppress the (suppressible) finding CODE everywhere; repeatable.
    #[arg(long, value_name = "CODE")]
    pub allow: Vec<String>,
    /// Print how long each stage took, the CPU time of all threads meanwhile, and the peak
    /// memory, to stderr at the end (as `-vv`).
    #[arg(long)]
    pub timings: bool,
}

/// What the commands that render the objects (`build`, `check`, `diff`) take besides
/// [`CompileArgs`]: what shapes the objects, and how strictly they are checked.
#[derive(Debug, Clone, Args)]
pub struct RenderArgs {
    /// Istio networking API version to emit (overrides meshgen.yaml).
    #[arg(long, value_parser = choice(API_VERSIONS))]
    pub api_version: Option<ApiVersion>,
    /// Directory of templates overriding the built-in ones.
    #[command(flatten)]
    pub templates: TemplatesDir,
    /// Also validate every generated object against the CRDs in PATH (e.g. those of the
    /// cluster's Istio release): OpenAPI schema and CEL rules. A directory of YAML files, or
    /// one file such as Istio's crd-all.gen.yaml or `kubectl get crd -o yaml` output.
    #[arg(long, value_name = "PATH", env = "MESHGEN_CRDS", hide_env_values = true)]
    pub crds: Option<PathBuf>,
    /// Treat warnings as errors (strict CI): `--deny warnings`.
    #[arg(long, value_enum, value_name = "WHAT")]
    pub deny: Option<Deny>,
    /// Add a label to every generated object; repeatable.
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
}

/// `--templates DIR`, of the commands that render and of `templates list`.
#[derive(Debug, Clone, Args)]
pub struct TemplatesDir {
    /// Directory of templates overriding the built-in ones (overrides meshgen.yaml).
    #[arg(long = "templates", value_name = "DIR", env = "MESHGEN_TEMPLATES", hide_env_values = true)]
    pub dir: Option<PathBuf>,
}

/// What `--deny` turns into errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Deny {
    /// Every warning.
    Warnings,
}

/// `meshgen build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// How to print diagnostics: text on stderr; a `json` or `sarif` document on stdout
    /// (on stderr with `--stdout`). `--format` is the deprecated spelling.
    #[arg(short = 'o', long = "output", alias = "format", value_name = "FORMAT", value_parser = choice(FORMATS), default_value = "human")]
    pub output: Format,
    /// Do not write; exit 1 if the output directory is not up to date.
    #[arg(long, conflicts_with = "stdout")]
    pub check: bool,
    /// Write all manifests to stdout as one YAML stream instead of files.
    #[arg(long)]
    pub stdout: bool,
    /// Output directory (overrides meshgen.yaml). `--out` is the deprecated spelling.
    #[arg(long = "out-dir", alias = "out", value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// File layout (overrides meshgen.yaml).
    #[arg(long, value_parser = choice(LAYOUTS))]
    pub layout: Option<Layout>,
    /// Which build, which findings.
    #[command(flatten)]
    pub compile: CompileArgs,
    /// What shapes the objects.
    #[command(flatten)]
    pub render: RenderArgs,
}

/// `meshgen check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// How to print the findings (the report, on stdout). `--format` is the deprecated
    /// spelling.
    #[arg(short = 'o', long = "output", alias = "format", value_name = "FORMAT", value_parser = choice(FORMATS), default_value = "human")]
    pub output: Format,
    /// Which build, which findings.
    #[command(flatten)]
    pub compile: CompileArgs,
    /// What shapes the objects (checked with `--crds` or overriding templates).
    #[command(flatten)]
    pub render: RenderArgs,
    /// Whether, and how, to read the live cluster.
    #[command(flatten)]
    pub live: LiveArgs,
}

/// How many requests to the API server may be in flight at once, unless `diff
/// --concurrency` says otherwise (`check --live` always uses it).
pub const CONCURRENCY: u16 = 8;

/// `meshgen check --live`: the live objects of other owners, read-only.
#[derive(Debug, Clone, Args)]
pub struct LiveArgs {
    /// Also read the live Istio objects of the cluster of the current kubeconfig context
    /// (GET and LIST only) and report those of other owners that Istio would merge with,
    /// or prefer over, this build's objects.
    #[arg(long)]
    pub live: bool,
    /// With `--live`: the kubeconfig file (default: `$KUBECONFIG`, then `~/.kube/config`,
    /// then the in-cluster service account).
    #[arg(long, value_name = "FILE", requires = "live")]
    pub kubeconfig: Option<PathBuf>,
    /// With `--live`: the kubeconfig context (default: its current context).
    #[arg(long, value_name = "NAME", requires = "live")]
    pub context: Option<String>,
    /// With `--live`: read only these namespaces (default: every namespace, as exportTo
    /// reaches across them): `-n a,b` or `-n a -n b`.
    #[arg(long, short = 'n', value_name = "NAMESPACE", value_delimiter = ',', requires = "live")]
    pub namespace: Vec<String>,
    /// With `--live`: how long each request to the API server may take.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration, requires = "live")]
    pub timeout: std::time::Duration,
    /// With `--live`: the label selector of the live objects that are this project's
    /// (default: meshgen's label and the `project` of meshgen.yaml).
    #[arg(long, value_name = "SELECTOR", requires = "live")]
    pub selector: Option<String>,
}

/// `--format` of the commands whose `-o` is their report's format: how their diagnostics
/// (on stderr) are printed.
#[derive(Debug, Clone, Args)]
pub struct DiagnosticsFormat {
    /// How to print diagnostics (on stderr; `-o` is the report's format).
    #[arg(long = "format", value_name = "FORMAT", value_parser = choice(FORMATS), default_value = "human")]
    pub format: Format,
}

/// `meshgen graph`.
#[derive(Debug, Args)]
pub struct GraphArgs {
    /// Graph format.
    #[arg(short = 'o', long, value_enum, value_name = "FORMAT", default_value = "mermaid")]
    pub output: GraphFormat,
    /// Only these namespaces (with the entities they call or are called by); repeatable.
    #[arg(long, short = 'n', value_name = "NS", conflicts_with = "focus")]
    pub namespace: Vec<String>,
    /// Only this entity and its neighbours (see `--depth`).
    #[arg(long, value_name = "NAME")]
    pub focus: Option<String>,
    /// With `--focus`: how many dependency edges away, in either direction.
    #[arg(long, default_value_t = 1, requires = "focus")]
    pub depth: usize,
    /// Which build, which findings.
    #[command(flatten)]
    pub compile: CompileArgs,
    /// Diagnostics.
    #[command(flatten)]
    pub diagnostics: DiagnosticsFormat,
}

/// Formats of `meshgen graph`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    /// A Mermaid flowchart (renders in GitHub Markdown inside a ```mermaid block).
    Mermaid,
    /// Graphviz DOT (`dot -Tsvg`).
    Dot,
    /// JSON: nodes and edges.
    Json,
}

/// `meshgen explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// An entity name, an object as `Kind/namespace/name`, or a file of the output directory.
    pub target: String,
    /// List everything that depends on the entity, directly and transitively.
    #[arg(long)]
    pub impact: bool,
    /// Output format.
    #[arg(short = 'o', long, value_enum, value_name = "FORMAT", default_value = "human")]
    pub output: ExplainFormat,
    /// File layout the output paths are given in (overrides meshgen.yaml).
    #[arg(long, value_parser = choice(LAYOUTS))]
    pub layout: Option<Layout>,
    /// Istio networking API version the objects are shown with (overrides meshgen.yaml).
    #[arg(long, value_parser = choice(API_VERSIONS))]
    pub api_version: Option<ApiVersion>,
    /// Which build, which findings.
    #[command(flatten)]
    pub compile: CompileArgs,
    /// Diagnostics.
    #[command(flatten)]
    pub diagnostics: DiagnosticsFormat,
}

/// Formats of `meshgen explain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExplainFormat {
    /// Aligned text.
    Human,
    /// JSON.
    Json,
}

/// `meshgen diff`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("target").required(true).multiple(true).args(["cluster", "against"])))]
pub struct DiffArgs {
    // `--cluster [NAME]` (in the compile options) compares with the live objects of the
    // cluster of the current kubeconfig context, read-only (GET and LIST only, unless
    // `--server-side`); its NAME, if given, selects the cluster's overlays of meshgen.yaml.
    /// Compare with another rendered output directory (e.g. `out/` of the main branch),
    /// whatever its layout; no cluster needed.
    #[arg(long, value_name = "DIR")]
    pub against: Option<PathBuf>,
    /// The kubeconfig file (default: `$KUBECONFIG`, then `~/.kube/config`, then the
    /// in-cluster service account).
    #[arg(long, value_name = "FILE", requires = "cluster", conflicts_with = "against")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context (default: its current context).
    #[arg(long, value_name = "NAME", requires = "cluster", conflicts_with = "against")]
    pub context: Option<String>,
    /// Compare only the objects of these namespaces (default: every namespace): `-n a,b`
    /// or `-n a -n b`. A namespace with neither desired nor live objects is an error.
    #[arg(long, short = 'n', value_name = "NAMESPACE", value_delimiter = ',')]
    pub namespace: Vec<String>,
    /// How long each request to the API server may take: `30s`, `2m`, `500ms`.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration, requires = "cluster", conflicts_with = "against")]
    pub timeout: std::time::Duration,
    /// Compare against what a server-side dry-run apply would store (defaults included);
    /// needs the `patch` verb, changes nothing.
    #[arg(long, requires = "cluster", conflicts_with = "against")]
    pub server_side: bool,
    /// The label selector of the live objects that are this project's, to prune (default:
    /// meshgen's label and the `project` of meshgen.yaml); e.g. to widen it to every meshgen
    /// object, `app.kubernetes.io/managed-by=meshgen`.
    #[arg(long, value_name = "SELECTOR", requires = "cluster", conflicts_with = "against")]
    pub selector: Option<String>,
    /// With `--server-side`: the field manager of the dry runs, the one that really applies
    /// (`argocd-controller` for Argo CD with server-side apply, `kubectl` for `kubectl apply
    /// --server-side`), so that the fields it would remove show as removed.
    #[arg(long, value_name = "NAME", default_value = "meshgen", requires = "server_side")]
    pub field_manager: String,
    /// How many requests to the API server may be in flight at once.
    #[arg(long, value_name = "N", default_value_t = CONCURRENCY, value_parser = clap::value_parser!(u16).range(1..=64), requires = "cluster", conflicts_with = "against")]
    pub concurrency: u16,
    /// With `-o markdown`: the most characters the report may take (GitHub refuses
    /// comments over 65,536); rows and diffs beyond it are left out, and counted.
    #[arg(long, value_name = "CHARS", default_value_t = crate::diff::report::DEFAULT_MARKDOWN_LIMIT)]
    pub markdown_limit: usize,
    /// A field to leave out of the comparison on both sides, e.g. `spec.exportTo` or
    /// `metadata.annotations["example.com/owner"]`; repeatable.
    #[arg(long, value_name = "PATH")]
    pub ignore: Vec<crate::diff::IgnorePath>,
    /// How to print the report (on stdout).
    #[arg(short = 'o', long, value_name = "FORMAT", value_parser = choice(DIFF_FORMATS), default_value = "human")]
    pub output: DiffFormat,
    /// Which build, which findings.
    #[command(flatten)]
    pub compile: CompileArgs,
    /// What shapes the objects.
    #[command(flatten)]
    pub render: RenderArgs,
    /// Diagnostics.
    #[command(flatten)]
    pub diagnostics: DiagnosticsFormat,
}

/// Parses `30s`, `2m`, `500ms` or a number of seconds.
fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let (number, unit) = s.find(|c: char| !c.is_ascii_digit() && c != '.').map_or((s, "s"), |i| s.split_at(i));
    let n: f64 = number.parse().map_err(|_| format!("`{s}` is not a duration (e.g. `30s`, `2m`, `500ms`)"))?;
    let seconds = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return Err(format!("`{s}`: unknown unit `{unit}` (use `ms`, `s` or `m`)")),
    };
    if seconds <= 0.0 {
        return Err(format!("`{s}`: the timeout must be positive"));
    }
    Ok(std::time::Duration::from_secs_f64(seconds))
}

/// `meshgen templates …`.
#[derive(Debug, Subcommand)]
pub enum TemplatesCommand {
    /// List the built-in templates and mark those the project overrides.
    #[command(after_help = help::TEMPLATES_LIST)]
    List {
        /// Directory of templates overriding the built-in ones.
        #[command(flatten)]
        templates: TemplatesDir,
    },
    /// Copy built-in templates into a directory to edit them.
    #[command(after_help = help::TEMPLATES_EJECT)]
    Eject {
        /// Templates to copy (default: all).
        names: Vec<String>,
        /// Target directory (relative to `-C DIR`).
        #[arg(long, value_name = "DIR", default_value = "templates")]
        to: PathBuf,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
    },
}

/// A value of one of the library's enums: its name on the command line, the value, and the
/// help `--help` shows for it.
type Choice<T> = (&'static str, T, &'static str);

/// The parser of a flag that takes one of `choices`, which `--help` lists with their help.
fn choice<T: Copy + Send + Sync + 'static>(choices: &'static [Choice<T>]) -> impl TypedValueParser<Value = T> {
    PossibleValuesParser::new(choices.iter().map(|(name, _, help)| PossibleValue::new(*name).help(*help)))
        .map(|name| choices.iter().find(|(n, ..)| *n == name).map(|(_, v, _)| *v).expect("a possible value"))
}

/// `--api-version`.
const API_VERSIONS: &[Choice<ApiVersion>] = &[
    ("v1", ApiVersion::V1, "`networking.istio.io/v1` (Istio 1.22 and later)"),
    ("v1beta1", ApiVersion::V1beta1, "`networking.istio.io/v1beta1` (older Istio releases)"),
];

/// `--layout`.
const LAYOUTS: &[Choice<Layout>] = &[
    ("object", Layout::Object, "One file per object: `<namespace>/<kind>-<name>.yaml`"),
    ("service", Layout::Service, "One file per inventory entity: `<namespace>/<entity>.yaml`"),
    ("namespace", Layout::Namespace, "One file per namespace: `<namespace>.yaml`"),
];

/// The formats of the diagnostics (`check -o`, `build -o`, and `--format` where `-o` is a
/// report's format).
const FORMATS: &[Choice<Format>] = &[
    ("human", Format::Human, "Source excerpts with carets and help lines"),
    ("concise", Format::Concise, "`file:line:col: severity[code] message (yaml.path)`, one per line"),
    ("json", Format::Json, "A JSON array, one object per diagnostic"),
    ("sarif", Format::Sarif, "SARIF 2.1.0, for code scanning"),
    ("github", Format::Github, "GitHub Actions workflow commands (annotations on the pull request)"),
];

/// `meshgen schema KIND`.
const SCHEMAS: &[Choice<crate::schema::Kind>] = &[
    ("inventory", crate::schema::Kind::Inventory, "Inventory files (`services`, `externals`)"),
    ("project", crate::schema::Kind::Project, "The project file, meshgen.yaml"),
    ("overlay", crate::schema::Kind::Overlay, "Overlay files of environments and clusters"),
];

/// `meshgen diff --output`.
const DIFF_FORMATS: &[Choice<DiffFormat>] = &[
    ("human", DiffFormat::Human, "Unified diffs and a summary line"),
    ("json", DiffFormat::Json, "One JSON document: a summary and one entry per changed object"),
    ("markdown", DiffFormat::Markdown, "A pull-request comment: a summary table and collapsible diffs"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn listed<T: PartialEq>(choices: &[Choice<T>], value: T) -> bool {
        choices.iter().any(|(_, v, _)| *v == value)
    }

    /// `value` is offered under the name the library gives it.
    fn choices_match<T: PartialEq>(choices: &[Choice<T>], value: T, name: &str) -> bool {
        choices.iter().any(|(n, v, _)| *v == value && *n == name)
    }

    /// The lists above are written by hand: a value added to one of the library's enums must
    /// be offered on the command line too. The matches are exhaustive, so a new variant does
    /// not compile here until it is added to them, and then to the list.
    #[test]
    fn every_value_of_the_library_enums_is_offered() {
        use crate::diag::render::Format as F;
        for f in [F::Human, F::Concise, F::Json, F::Sarif, F::Github] {
            match f {
                F::Human | F::Concise | F::Json | F::Sarif | F::Github => assert!(listed(FORMATS, f), "{f:?}"),
            }
        }
        for l in [Layout::Object, Layout::Service, Layout::Namespace] {
            match l {
                Layout::Object | Layout::Service | Layout::Namespace => assert!(listed(LAYOUTS, l), "{l:?}"),
            }
        }
        for v in [ApiVersion::V1, ApiVersion::V1beta1] {
            match v {
                ApiVersion::V1 | ApiVersion::V1beta1 => assert!(listed(API_VERSIONS, v), "{v:?}"),
            }
        }
        for k in crate::schema::Kind::ALL {
            assert!(choices_match(SCHEMAS, k, k.name()), "{k:?}");
        }
        for d in [DiffFormat::Human, DiffFormat::Json, DiffFormat::Markdown] {
            match d {
                DiffFormat::Human | DiffFormat::Json | DiffFormat::Markdown => {
                    assert!(listed(DIFF_FORMATS, d), "{d:?}")
                }
            }
        }
    }
}
