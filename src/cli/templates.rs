//! `meshgen templates list|eject`.

use std::io::Write as _;

use anyhow::Result;

use super::args::TemplatesCommand;
use crate::compile::Options;
use crate::render::templates::{BUILTINS, Templates, eject};

/// Lists or ejects the built-in templates.
pub(super) fn run(cmd: TemplatesCommand) -> Result<u8> {
    match cmd {
        TemplatesCommand::List { project } => {
            // `--templates` and `--project` start at `-C DIR`; the project file's `templates`
            // at the project file.
            let base = Options::new(super::project::directory(&project));
            let dir = match &project.templates {
                Some(d) => Some(base.resolve(d)),
                None => {
                    let path = base.resolve(&project.project);
                    if path.is_file() {
                        let mut diags = crate::diag::Diagnostics::default();
                        let src = crate::load::project_file(&path, crate::load::Limits::default(), &mut diags)?;
                        crate::model::project::parse(&src, &mut diags).templates
                    } else {
                        None
                    }
                }
            };
            let templates = Templates::load(dir.as_deref())?;
            let mut out = std::io::stdout().lock();
            for (name, _) in BUILTINS {
                let mark = if templates.is_overridden(name) { "overridden" } else { "built-in" };
                writeln!(out, "{name}\t{mark}")?;
            }
            Ok(0)
        }
        TemplatesCommand::Eject { names, to, force } => {
            let written = eject(&to, &names, force)?;
            for p in &written {
                eprintln!("wrote {}", p.display());
            }
            eprintln!("set `templates: {}` in meshgen.yaml to use them", to.display());
            Ok(0)
        }
    }
}
