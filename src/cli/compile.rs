//! The pipeline from project file to manifests, shared by `build` and `check`.

use std::path::PathBuf;

use anyhow::Result;

use super::args::ProjectArgs;
use crate::diag::Diagnostics;
use crate::diag::render::{SourceMap, Style, render};
use crate::load::{self, Source};
use crate::model::{self, Inventory, Project};
use crate::render::{self as rendering, Manifest, Templates};

/// Everything a command may need after compiling.
pub(super) struct Compiled {
    pub project: Project,
    pub sources: Vec<Source>,
    pub diags: Diagnostics,
    pub inventory: Option<Inventory>,
    pub manifests: Option<Vec<Manifest>>,
}

impl Compiled {
    /// Prints the diagnostics (to stderr) in the chosen format.
    pub(super) fn print_diagnostics(&self, args: &ProjectArgs, color: bool) {
        if self.diags.is_empty() {
            return;
        }
        let mut map = SourceMap::new();
        for s in &self.sources {
            map.add(&s.name, &s.text);
        }
        let sorted = self.diags.clone().sorted();
        eprint!("{}", render(&sorted, &mut map, args.format, Style::new(color)));
    }
}

/// Loads, validates, graphs and (when there are no errors and `render` is set) renders.
pub(super) fn compile(args: &ProjectArgs, render: bool) -> Result<Compiled> {
    if let Some(dir) = &args.directory {
        std::env::set_current_dir(dir).map_err(|e| anyhow::anyhow!("cannot change to `{}`: {e}", dir.display()))?;
    }
    let mut diags = Diagnostics::default();
    // The limits are needed to read the project file itself; it is small, so defaults do.
    let project_source = load::project_file(&args.project, load::Limits::default(), &mut diags)?;
    let mut project = model::project::parse(&project_source, &mut diags);
    if let Some(v) = args.api_version {
        project.api_version = v;
    }
    if let Some(t) = &args.templates {
        project.templates = Some(t.clone());
    }
    let exclude: Vec<PathBuf> = vec![project_source.path.clone(), project.output.clone()];
    let mut sources = vec![project_source];
    if diags.has_errors() {
        return Ok(Compiled { project, sources, diags, inventory: None, manifests: None });
    }
    sources.extend(load::inventory(&project.root, &project.inventory, &exclude, project.limits, &mut diags)?);
    let inventory = model::build(&project, &sources[1..], &mut diags);
    let graph = crate::graph::build(&inventory, &mut diags);
    let manifests = if render && !diags.has_errors() {
        let templates = Templates::load(project.templates.as_deref())?;
        let m = rendering::render(&inventory, &graph, &templates, &mut diags)?;
        (!diags.has_errors()).then_some(m)
    } else {
        None
    };
    Ok(Compiled { project, sources, diags, inventory: Some(inventory), manifests })
}
