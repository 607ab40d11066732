//! meshgen: a GitOps compiler for Istio.
//!
//! An inventory of VMs, Kubernetes pods and external APIs, and who depends on whom, is
//! compiled into ServiceEntry, WorkloadEntry, WorkloadGroup, DestinationRule, Gateway and
//! VirtualService manifests. Data flows one way, one stage per module:
//!
//! ```text
//! load ──► model ──► graph ──► render ──► emit ──► out/ | stdout
//!  └─────────┴──────────┴──────────┴──► diag (diagnostics, printed once by cli)
//! ```
//!
//! - [`load`]: walk the inventory, read files, parse YAML.
//! - [`yaml`]: every YAML read and write: the fast reader, the complete one, positions of
//!   YAML paths, the writer, and typed errors. No other module names a YAML library.
//! - [`model`]: typed, validated inventory with defaults applied.
//! - [`graph`]: the dependency graph (petgraph).
//! - [`check`]: cross-entity analysis (conflicts, visibility, splits), through indexes.
//! - [`render`]: objects and their YAML through Tera templates.
//! - [`emit`]: files in the output directory (atomic) or one stream.
//! - [`crd`]: validation of objects against CustomResourceDefinitions (OpenAPI schema and
//!   CEL rules), for `--validate` and the tests.
//! - [`fieldpath`]: paths to fields of Kubernetes objects (`spec.hosts[0]`), for CRD
//!   validation's findings and `diff`'s changed fields.
//! - [`jsonpatch`]: JSON Pointer, JSON Patch and JSON Merge Patch, for entities' `patches`.
//! - [`diff`]: desired objects against another build's or the cluster's: normalise,
//!   compare, report.
//! - `cluster` (feature `cluster`): reads live objects through the kube client.
//! - [`schema`]: JSON Schemas of the input files, derived from `model`'s serde types, for
//!   editors (`meshgen schema`, `meshgen init`).
//! - [`compile`](mod@compile): composes the stages, for every caller: [`compile()`] takes
//!   [`Options`] (plain data) and returns what was [`Compiled`].
//! - [`cli`]: the command line: arguments, presentation, exit codes.

pub mod check;
pub mod cli;
#[cfg(feature = "cluster")]
pub mod cluster;
pub mod compile;
pub mod crd;
pub mod diag;
pub mod diff;
pub mod emit;
pub mod fieldpath;
mod formats;
pub mod graph;
pub mod import;
pub mod jsonpatch;
pub mod load;
pub mod model;
mod par;
pub mod render;
pub mod schema;
mod sort;
pub mod yaml;

pub use compile::{Compiled, Goal, Options, Rendered, compile};
