//! Command-line arguments (clap derive types only, no logic).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::diag::render::Format;
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
    /// List or eject the built-in templates.
    #[command(subcommand)]
    Templates(TemplatesCommand),
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
    #[arg(long, value_enum)]
    pub api_version: Option<ApiVersion>,
    /// Directory of templates overriding the built-in ones (overrides meshgen.yaml).
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
    /// How to print diagnostics.
    #[arg(long, value_enum, default_value = "human")]
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
    #[arg(long, value_enum)]
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
