//! The command line: parses arguments, compiles through [`crate::compile()`], prints
//! diagnostics once, writes or compares what was compiled, and maps outcomes to exit codes.
//!
//! Exit codes: 0 success; 1 the inventory has errors, or `build --check` found the output
//! out of date, or `diff` found changes; 2 usage, I/O, template or cluster errors (and
//! `diff` on an inventory with errors, since 1 means changes there).

mod argocd;
pub mod args;
mod build;
mod context;
mod diff;
mod docs;
mod explain;
mod graph;
mod help;
mod import;
mod init;
#[cfg(feature = "cluster")]
mod live;
mod project;
mod schema;
mod templates;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{CommandFactory as _, FromArgMatches as _};

use args::{Cli, Command};
use context::Context;

/// Exit code: the inventory has errors, or the output is out of date.
pub const EXIT_FINDINGS: u8 = 1;
/// Exit code: usage, I/O or template failure.
pub const EXIT_FAILURE: u8 = 2;

/// How a run ended: its exit code, and the large values its command is done with.
pub struct Exit {
    /// The process's exit code.
    pub code: ExitCode,
    /// What the command built and no longer needs (the model, the manifests, the files of
    /// another build): dropped with the `Exit` like any value, or leaked by a caller about
    /// to end the process, as the binary does (see `src/main.rs`).
    pub leftovers: Leftovers,
}

/// Values a command is done with, handed back to the caller of [`main`] rather than dropped
/// where the command ends: freeing hundreds of thousands of small allocations one by one
/// is a noticeable share of a large build (docs/performance.md), and a process about to exit
/// need not do it.
#[derive(Default)]
pub struct Leftovers(Vec<Box<dyn std::any::Any>>);

impl Leftovers {
    /// Keeps `value` until the [`Exit`] is dropped (or leaked).
    fn keep<T: 'static>(&mut self, value: T) {
        self.0.push(Box::new(value));
    }
}

/// Runs meshgen with the given arguments.
pub fn main(args: impl IntoIterator<Item = OsString>) -> Exit {
    let mut leftovers = Leftovers::default();
    let code = run(args, &mut leftovers);
    Exit { code, leftovers }
}

/// Parses the arguments and runs the command; what it is done with goes to `keep`.
fn run(args: impl IntoIterator<Item = OsString>, keep: &mut Leftovers) -> ExitCode {
    let parsed = without_empty_variables(Cli::command()).try_get_matches_from(args);
    let cli = match parsed.and_then(|m| Cli::from_arg_matches(&m)) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_FAILURE } else { 0 });
        }
    };
    // `meshgen -C DIR init` starts a project in a directory that may not exist yet.
    let result = init::directory(&cli).and_then(|()| Context::new(&cli.global)).and_then(|cx| match cli.command {
        Command::Build(a) => build::run(&cx, &a, keep),
        Command::Check(a) => build::check(&cx, &a, keep),
        Command::Graph(a) => graph::run(&cx, &a, keep),
        Command::Explain(a) => explain::run(&cx, &a),
        Command::Diff(a) => diff::run(&cx, &a, keep),
        Command::Templates(t) => templates::run(&cx, t),
        Command::Argocd(a) => argocd::run(&cx, &a),
        Command::Completions { shell } => docs::completions(shell),
        Command::Man { out_dir } => docs::man(&cx, out_dir.as_deref()),
        Command::Init(a) => init::run(&cx, &a),
        Command::Import(a) => import::run(&cx, &a),
        Command::Schema(a) => schema::run(&cx, &a),
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            // The chain may quote a file name or a value: escaped (`diag::escape`).
            eprintln!("error: {}", crate::diag::escape::text(&format!("{e:#}")));
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// `cmd` without the environment variables of its flags that are set but empty: like
/// `NO_COLOR`, `MESHGEN_ENV=` means unset (clap would take it as an empty value, and
/// refuse it for `--project`), so that a variable can be cleared for one command.
fn without_empty_variables(mut cmd: clap::Command) -> clap::Command {
    let empty: Vec<clap::Id> = cmd
        .get_arguments()
        .filter(|a| a.get_env().and_then(std::env::var_os).is_some_and(|v| v.is_empty()))
        .map(|a| a.get_id().clone())
        .collect();
    for id in empty {
        cmd = cmd.mut_arg(id, |a| a.env(None::<&str>));
    }
    let names: Vec<String> = cmd.get_subcommands().map(|c| c.get_name().to_string()).collect();
    for name in names {
        cmd = cmd.mut_subcommand(name, without_empty_variables);
    }
    cmd
}

/// A closed stdout (`meshgen build --stdout | head`) is not a failure.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}

#[cfg(test)]
mod tests {
    #[test]
    fn verify_cli() {
        use clap::CommandFactory as _;
        super::Cli::command().debug_assert();
    }
}
