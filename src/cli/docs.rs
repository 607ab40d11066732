//! `meshgen completions SHELL` and `meshgen man`: shell completion scripts and manual pages,
//! generated from the same clap definitions that parse the command line, so they cannot
//! offer a flag meshgen does not take.

use std::io::Write as _;
use std::path::Path;

use anyhow::{Context as _, Result};
use clap::CommandFactory as _;

use super::args::Cli;
use super::context::Context;

/// Prints the completion script for `shell` to stdout.
pub(super) fn completions(shell: clap_complete::Shell) -> Result<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "meshgen", &mut out);
    std::io::stdout().lock().write_all(&out)?;
    Ok(0)
}

/// Prints `meshgen.1`, or with `out_dir` (relative to `-C DIR`) writes it and a page per
/// command there.
pub(super) fn man(cx: &Context, out_dir: Option<&Path>) -> Result<u8> {
    let cmd = Cli::command();
    match out_dir {
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut out)?;
            std::io::stdout().lock().write_all(&out)?;
        }
        Some(shown) => {
            let dir = &cx.resolve(shown);
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
            clap_mangen::generate_to(cmd, dir)
                .with_context(|| format!("cannot write the manual pages into `{}`", dir.display()))?;
            cx.note(format!("wrote the manual pages into `{}`", shown.display()));
        }
    }
    Ok(0)
}
