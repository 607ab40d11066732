//! `meshgen templates list|eject`.

use std::io::Write as _;

use anyhow::Result;

use super::args::TemplatesCommand;
use super::context::Context;
use crate::render::templates::{BUILTINS, Templates, eject};

/// Lists or ejects the built-in templates.
pub(super) fn run(cx: &Context, cmd: TemplatesCommand) -> Result<u8> {
    match cmd {
        TemplatesCommand::List { templates } => {
            // `--templates` and `--project` start at `-C DIR`; the project file's `templates`
            // at the project file. Without a project file, only the built-ins.
            let dir = match &templates.dir {
                Some(d) => Some(cx.resolve(d)),
                None => match cx.project_file_if_any() {
                    Some(path) => {
                        let mut diags = crate::diag::Diagnostics::default();
                        let src = crate::load::project_file(&path, crate::load::Limits::default(), &mut diags)?;
                        crate::model::project::parse(&src, &mut diags).templates
                    }
                    None => None,
                },
            };
            match &dir {
                Some(d) => cx.info(format!("templates overriding the built-in ones: `{}`", d.display())),
                None => cx.info("no templates override the built-in ones"),
            }
            let templates = Templates::load(dir.as_deref())?;
            let mut out = std::io::stdout().lock();
            for (name, _) in BUILTINS {
                let mark = if templates.is_overridden(name) { "overridden" } else { "built-in" };
                writeln!(out, "{name}\t{mark}")?;
            }
            Ok(0)
        }
        TemplatesCommand::Eject { names, to, force } => {
            // `--to` starts at `-C DIR`, like every path of the command line.
            let written = eject(&cx.resolve(&to), &names, force)?;
            for p in &written {
                cx.note(format!("wrote {}", p.display()));
            }
            cx.note(format!("set `templates: {}` in meshgen.yaml to use them", to.display()));
            Ok(0)
        }
    }
}
