//! Command-line arguments: clap derive types, and the values the flags that take one of the
//! library's enums accept (the library knows nothing of clap); no other logic.

use std::path::PathBuf;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::diag::render::Format;
use crate::diff::report::Output as DiffFormat;
use crate::model::{ApiVersion, Layout};

/// meshgen compiles an inventory of VMs, pods and external APIs into Istio manifests.
#[derive(Debug, Parser)]
#[command(name = "meshgen", version, about, propagate_version = true)]
pub struct Cli {
    /// When to colour diagnostics.
    #[arg(long, value_enum, global = true, default_value = "auto")]
    pub color: Color,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Colour choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    /// Colour when stderr is a terminal and NO_COLOR is unset.
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
    Build(BuildArgs),
    /// Load and analyse the inventory without writing anything.
    Check(CheckArgs),
    /// Draw the dependency graph (Mermaid, DOT or JSON).
    Graph(GraphArgs),
    /// Show what an entity produces and where it comes from, or what depends on it.
    Explain(ExplainArgs),
    /// Show what would change: on the live cluster (`--cluster`) or against another build
    /// (`--against DIR`). Exit 0 no change, 1 changes, 2 or more on error.
    Diff(DiffArgs),
    /// List or eject the built-in templates.
    #[command(subcommand)]
    Templates(TemplatesCommand),
    /// The Argo CD Config Management Plugin, run by its sidecar (docs/argocd.md).
    #[command(subcommand)]
    Argocd(ArgocdCommand),
    /// Print a shell completion script.
    #[command(after_help = COMPLETIONS_HELP)]
    Completions {
        /// The shell to complete in.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), or write one page per command into a directory.
    #[command(after_help = MAN_HELP)]
    Man {
        /// Write `meshgen.1` and a `meshgen-<command>.1` for every command into DIR
        /// (created if missing) instead of printing `meshgen.1`.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
    /// Start a project: meshgen.yaml, an inventory that builds clean, and the editor schemas.
    #[command(after_help = INIT_HELP)]
    Init(InitArgs),
    /// Print the JSON Schema of inventory, overlay or project files (for editors), or write
    /// all three into a directory.
    #[command(after_help = SCHEMA_HELP)]
    Schema(SchemaArgs),
}

/// Examples for `meshgen completions --help`.
const COMPLETIONS_HELP: &str = "\
Examples:
  meshgen completions bash > ~/.local/share/bash-completion/completions/meshgen
  meshgen completions zsh > \"${fpath[1]}/_meshgen\"
  meshgen completions fish > ~/.config/fish/completions/meshgen.fish
  meshgen completions powershell >> $PROFILE";

/// Examples for `meshgen man --help`.
const MAN_HELP: &str = "\
Examples:
  meshgen man | man -l -
  meshgen man --out-dir ~/.local/share/man/man1";

/// `meshgen init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Create the project in DIR (created if missing) instead of the current directory.
    #[arg(short = 'C', long = "directory", value_name = "DIR")]
    pub directory: Option<PathBuf>,
    /// An empty start: meshgen.yaml and an inventory without entities, instead of the
    /// commented example services.
    #[arg(long)]
    pub minimal: bool,
}

/// Examples and exit codes for `meshgen init --help`.
const INIT_HELP: &str = "\
Creates meshgen.yaml, inventory/ (a VM service, a pod service and an external API, commented),
.meshgen/schemas/ (the JSON Schemas the files' `yaml-language-server` lines point at) and the
.gitignore entries for the build's lock file. Nothing is overwritten: if any of these files
exists, nothing is written.

Examples:
  meshgen init && meshgen check && meshgen build
  meshgen init -C my-mesh --minimal

Exit codes: 0 created; 2 a file exists already, or it cannot be written.";

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

/// Examples for `meshgen schema --help`.
const SCHEMA_HELP: &str = "\
Examples:
  meshgen schema inventory > inventory.schema.json
  meshgen schema --out-dir .meshgen/schemas     # refresh the schemas `meshgen init` wrote

Editors read them through a first line `# yaml-language-server: $schema=<path to the schema>`.

Exit codes: 0 printed or written; 2 usage error, or a file cannot be written.";

/// `meshgen argocd …`: configured by Argo CD's environment variables, not by flags.
#[derive(Debug, Subcommand)]
pub enum ArgocdCommand {
    /// Render the application in the current directory to stdout (`generate` of plugin.yaml).
    Generate,
    /// Announce the plugin's parameters to the Argo CD UI as JSON (`parameters.dynamic`).
    Parameters,
}

/// Options shared by every command that reads a project.
#[derive(Debug, Clone, Args)]
pub struct ProjectArgs {
    /// Run as if started in DIR.
    #[arg(short = 'C', long = "directory", value_name = "DIR")]
    pub directory: Option<PathBuf>,
    /// The project file.
    #[arg(long, value_name = "FILE", default_value = "meshgen.yaml")]
    pub project: PathBuf,
    /// Istio networking API version to emit (overrides meshgen.yaml).
    #[arg(long, value_parser = choice(API_VERSIONS))]
    pub api_version: Option<ApiVersion>,
    /// Directory of templates overriding the built-in ones (overrides meshgen.yaml).
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
    /// How to print diagnostics.
    #[arg(long, value_parser = choice(FORMATS), default_value = "human")]
    pub format: Format,
    /// Suppress the (suppressible) finding CODE everywhere; repeatable.
    #[arg(long, value_name = "CODE")]
    pub allow: Vec<String>,
    /// Also validate every generated object against the CRDs in DIR (e.g. those of the
    /// cluster's Istio release): OpenAPI schema and CEL rules.
    #[arg(long, value_name = "DIR")]
    pub crds: Option<PathBuf>,
    /// Treat warnings as errors (strict CI): `--deny warnings`.
    #[arg(long, value_enum, value_name = "WHAT")]
    pub deny: Option<Deny>,
    /// Build for an environment of meshgen.yaml: its overlays and settings over the base
    /// inventory (docs/environments.md).
    #[arg(long = "env", value_name = "NAME")]
    pub environment: Option<String>,
    /// Build for a cluster of meshgen.yaml, layered over its environment. For `meshgen
    /// diff`, `--cluster` also says "against the live cluster", and the name may be left out.
    #[arg(long, value_name = "NAME", num_args = 0..=1, default_missing_value = "")]
    pub cluster: Option<String>,
    /// Add a label to every generated object; repeatable.
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// Print how long each stage took (and the peak memory) to stderr at the end.
    #[arg(long)]
    pub timings: bool,
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
    /// Project options.
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Do not write; exit 1 if the output directory is not up to date.
    #[arg(long, conflicts_with = "stdout")]
    pub check: bool,
    /// Write all manifests to stdout as one YAML stream instead of files.
    #[arg(long)]
    pub stdout: bool,
    /// Output directory (overrides meshgen.yaml).
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// File layout (overrides meshgen.yaml).
    #[arg(long, value_parser = choice(LAYOUTS))]
    pub layout: Option<Layout>,
    /// Print nothing but errors.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// `meshgen check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Project options.
    #[command(flatten)]
    pub project: ProjectArgs,
}

/// `meshgen graph`.
#[derive(Debug, Args)]
pub struct GraphArgs {
    /// Project options.
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Graph format.
    #[arg(long, value_enum, default_value = "mermaid")]
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
    /// Project options.
    #[command(flatten)]
    pub project: ProjectArgs,
    /// An entity name, an object as `Kind/namespace/name`, or a file of the output directory.
    pub target: String,
    /// List everything that depends on the entity, directly and transitively.
    #[arg(long)]
    pub impact: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub output: ExplainFormat,
    /// File layout the output paths are given in (overrides meshgen.yaml).
    #[arg(long, value_parser = choice(LAYOUTS))]
    pub layout: Option<Layout>,
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
    /// Project options.
    #[command(flatten)]
    pub project: ProjectArgs,
    // `--cluster [NAME]` (in the project options) compares with the live objects of the
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
    /// Compare only the objects of this namespace (default: every namespace).
    #[arg(long, short = 'n', value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// How long each request to the API server may take: `30s`, `2m`, `500ms`.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration, requires = "cluster", conflicts_with = "against")]
    pub timeout: std::time::Duration,
    /// Compare against what a server-side dry-run apply would store (defaults included);
    /// needs the `patch` verb, changes nothing.
    #[arg(long, requires = "cluster", conflicts_with = "against")]
    pub server_side: bool,
    /// A field to leave out of the comparison on both sides, e.g. `spec.exportTo` or
    /// `metadata.annotations["example.com/owner"]`; repeatable.
    #[arg(long, value_name = "PATH")]
    pub ignore: Vec<crate::diff::IgnorePath>,
    /// How to print the report.
    #[arg(long, value_parser = choice(DIFF_FORMATS), default_value = "human")]
    pub output: DiffFormat,
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
    List {
        /// Project options.
        #[command(flatten)]
        project: ProjectArgs,
    },
    /// Copy built-in templates into a directory to edit them.
    Eject {
        /// Templates to copy (default: all).
        names: Vec<String>,
        /// Target directory.
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

/// `--format` of the diagnostics.
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
