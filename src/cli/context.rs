//! The global options as every command sees them: the directory it runs in (`-C`), the
//! project file (`--project`, or the nearest `meshgen.yaml`), colour, and how much it says
//! on stderr (`-q`, `-v`). Only stderr's chatter depends on `-q` and `-v`: what a command
//! prints on stdout (manifests, reports) never does.

use std::fmt::Display;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use super::args::{Color, GlobalArgs};
use crate::diag::escape::text as esc;
use crate::load::PROJECT_FILE;

/// What a command runs with, besides its own arguments.
pub(super) struct Context {
    /// `-C DIR`, or `.`: where the paths given on the command line start, as if meshgen had
    /// been started there.
    pub(super) directory: PathBuf,
    /// `--project FILE` (or `MESHGEN_PROJECT`), relative to [`Context::directory`].
    project: Option<PathBuf>,
    /// `-q`: errors only.
    pub(super) quiet: bool,
    /// `-v` (1) or `-vv` (2).
    pub(super) verbose: u8,
    /// `--color`.
    color: Color,
}

/// Where the project file was found.
pub(super) struct ProjectFile {
    /// The file, relative to [`Context::directory`] (as `compile::Options::project` takes it).
    pub(super) path: PathBuf,
    /// Whether it was found in a parent directory rather than given or in the directory.
    pub(super) from_parent: bool,
}

impl Context {
    /// The context of `args`; fails on a `-C DIR` that is not a directory, as `cd` would.
    pub(super) fn new(args: &GlobalArgs) -> Result<Context> {
        let directory = args.directory.clone().unwrap_or_else(|| ".".into());
        crate::compile::Options::new(&directory).check_directory()?;
        Ok(Context {
            directory,
            project: args.project.clone(),
            quiet: args.quiet,
            verbose: args.verbose,
            color: args.color,
        })
    }

    /// Whether to colour what goes to stdout.
    pub(super) fn color_stdout(&self) -> bool {
        self.color(std::io::stdout().is_terminal())
    }

    /// Whether to colour what goes to stderr.
    pub(super) fn color_stderr(&self) -> bool {
        self.color(std::io::stderr().is_terminal())
    }

    /// `--color`, where `auto` means on a terminal and without `NO_COLOR`.
    fn color(&self, on_tty: bool) -> bool {
        match self.color {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => on_tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }

    /// Whether to print the stages' timings: `--timings`, or `-vv`.
    pub(super) fn timings(&self, flag: bool) -> bool {
        flag || self.verbose >= 2
    }

    /// A line for `-v`: what was read and written, and from where.
    pub(super) fn info(&self, line: impl Display) {
        if self.verbose > 0 {
            eprintln!("{}", esc(&line.to_string()));
        }
    }

    /// A line that `-q` silences: a summary, a hint.
    pub(super) fn note(&self, line: impl Display) {
        if !self.quiet {
            eprintln!("{}", esc(&line.to_string()));
        }
    }

    /// `path` of the command line as the process can open it: under [`Context::directory`].
    pub(super) fn resolve(&self, path: &Path) -> PathBuf {
        crate::compile::Options::new(&self.directory).resolve(path)
    }

    /// The project file: `--project` (relative to [`Context::directory`]) as given, else
    /// `meshgen.yaml` in the directory or in the nearest parent that has one, as git, cargo
    /// and just find theirs. The search stops at a repository root (a directory holding
    /// `.git`), so that a stray `meshgen.yaml` above a repository never captures it, and at
    /// the filesystem root. With `-v`, says which file it uses.
    pub(super) fn project_file(&self) -> Result<ProjectFile> {
        let found = match &self.project {
            Some(p) => ProjectFile { path: p.clone(), from_parent: false },
            None => find_project(&self.directory)?,
        };
        let shown = self.resolve(&found.path);
        if self.project.is_some() && !shown.is_file() {
            bail!("no project file at `{}` (given by `--project` or MESHGEN_PROJECT)", shown.display());
        }
        let root = shown.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let how = if found.from_parent { ", found in a parent directory" } else { "" };
        self.info(format!("project file `{}` (project directory `{}`{how})", shown.display(), root.display()));
        Ok(found)
    }

    /// The project file if there is one (see [`Context::project_file`]), for commands that
    /// also work without a project.
    pub(super) fn project_file_if_any(&self) -> Option<PathBuf> {
        let found = self.project_file().ok()?;
        let path = self.resolve(&found.path);
        path.is_file().then_some(path)
    }
}

/// `meshgen.yaml` in `start` or the nearest parent, up to a repository root or the
/// filesystem root: relative to `start` (`../../meshgen.yaml`), so that messages name paths
/// as seen from where meshgen was started.
fn find_project(start: &Path) -> Result<ProjectFile> {
    let here = Path::new(PROJECT_FILE);
    if start.join(here).is_file() {
        return Ok(ProjectFile { path: here.into(), from_parent: false });
    }
    // The physical parents: `..` of a directory reached through a symlink is the parent of
    // its target, which is what the canonical path's ancestors are.
    let absolute = start.canonicalize().map_err(|e| anyhow::anyhow!("cannot read `{}`: {e}", start.display()))?;
    let mut up = PathBuf::new();
    for dir in absolute.ancestors() {
        if dir.join(here).is_file() {
            return Ok(ProjectFile { path: up.join(here), from_parent: !up.as_os_str().is_empty() });
        }
        // `.git` is a directory, or a file in a worktree or a submodule.
        if dir.join(".git").exists() {
            bail!(
                "no project file: no `{PROJECT_FILE}` in `{}` nor in a parent directory up to the repository root `{}`; start a project with `meshgen init` (or `meshgen import` of existing Istio YAML), or name the file with `--project FILE` or `-C DIR`",
                absolute.display(),
                dir.display()
            );
        }
        up.push("..");
    }
    bail!(
        "no project file: no `{PROJECT_FILE}` in `{}` nor in a parent directory up to the filesystem root; start a project with `meshgen init` (or `meshgen import` of existing Istio YAML), or name the file with `--project FILE` or `-C DIR`",
        absolute.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_project_file_up_to_the_repository_root() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("repo");
        let deep = repo.join("a/b");
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::create_dir(repo.join(".git")).unwrap();
        let err = find_project(&deep).err().expect("no project file").to_string();
        assert!(err.contains("up to the repository root"), "{err}");
        // Above the repository root: not found, even though it exists.
        std::fs::write(tmp.path().join(PROJECT_FILE), "").unwrap();
        assert!(find_project(&deep).is_err());
        std::fs::write(repo.join(PROJECT_FILE), "").unwrap();
        let found = find_project(&deep).unwrap();
        assert_eq!(found.path, Path::new("../../meshgen.yaml"));
        assert!(found.from_parent);
        std::fs::write(repo.join("a").join(PROJECT_FILE), "").unwrap();
        assert_eq!(find_project(&deep).unwrap().path, Path::new("../meshgen.yaml"));
        std::fs::write(deep.join(PROJECT_FILE), "").unwrap();
        let found = find_project(&deep).unwrap();
        assert_eq!((found.path.as_path(), found.from_parent), (Path::new("meshgen.yaml"), false));
    }
}
