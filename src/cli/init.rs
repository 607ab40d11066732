//! `meshgen init`: a new project that builds clean at once, for someone who has never
//! written an inventory: `meshgen.yaml`, an inventory of three commented examples (a VM
//! service, a pod service, an external API) or, with `--minimal`, of none, the JSON Schemas
//! their `yaml-language-server` lines point at, and the `.gitignore` entries for what a
//! build leaves beside the output directory.
//!
//! It never overwrites: every target is checked before the first is written, so a refusal
//! leaves the directory as it was.

use std::fs;
use std::io::Write as _;
use std::path::Path;

use anyhow::{Context as _, Result};

use super::args::InitArgs;
use super::context::Context;

/// Where `init` puts the schemas, relative to the project; the modelines of the scaffolded
/// files point here.
pub(super) const SCHEMA_DIR: &str = ".meshgen/schemas";

/// The files of a full start: path relative to the project, content.
const FULL: [(&str, &str); 3] = [
    ("meshgen.yaml", include_str!("init/meshgen.yaml")),
    ("inventory/shop.yaml", include_str!("init/shop.yaml")),
    ("inventory/external-apis.yaml", include_str!("init/external-apis.yaml")),
];

/// The files of `--minimal`.
const MINIMAL: [(&str, &str); 2] = [
    ("meshgen.yaml", include_str!("init/minimal-meshgen.yaml")),
    ("inventory/services.yaml", include_str!("init/minimal-inventory.yaml")),
];

/// What `meshgen build` leaves beside the output directory: its lock file, which stays, and
/// what a killed build leaves (removed by the next one). The output directory itself is
/// committed: it is what reviewers and `meshgen build --check` compare.
const GITIGNORE: &str = "\
# meshgen build: its lock, and what a killed build leaves beside the output directory
.*.meshgen.lock
.*.meshgen-staging-*/
.*.old/
";

/// For `meshgen -C DIR init` and `meshgen -C DIR import` (unless `--dry-run`): creates DIR
/// if it does not exist (every other command refuses a `-C` that is not a directory).
pub(super) fn directory(cli: &super::args::Cli) -> Result<()> {
    use super::args::Command;
    let creates = match &cli.command {
        Command::Init(_) => true,
        Command::Import(a) => !a.dry_run,
        _ => false,
    };
    if let (true, Some(dir)) = (creates, &cli.global.directory) {
        fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    }
    Ok(())
}

/// Where the project's name goes in the scaffolded meshgen.yaml.
const PROJECT_MARK: &str = "@project@";

/// The `project:` of a new project: the directory's name where it is a valid name (the
/// repository's, usually, which tells teams apart), else a commented line to fill in. No
/// fixed default: two teams that both kept it would prune each other's objects.
fn project_lines(root: &Path) -> String {
    const WHY: &str = "# The project's name, written as the label `meshgen.dev/project` on every object:\n\
                       # `meshgen diff --cluster` prunes only this project's objects, so several projects can\n\
                       # share a cluster. Keep it for the project's life.";
    let dir = fs::canonicalize(root).ok().and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
    match dir.filter(|d| crate::model::names::dns_label(d).is_ok()) {
        Some(name) => format!("{WHY}\nproject: {name}"),
        None => format!("{WHY}\n# project: my-team-mesh"),
    }
}

/// Creates the project in `-C DIR` or the current directory.
pub(super) fn run(cx: &Context, args: &InitArgs) -> Result<u8> {
    let root = cx.directory.clone();
    let mut files: Vec<(String, String)> = if args.minimal { &MINIMAL[..] } else { &FULL[..] }
        .iter()
        .map(|(p, c)| (p.to_string(), c.to_string()))
        .collect();
    let project = project_lines(&root);
    for (_, text) in &mut files {
        *text = text.replace(PROJECT_MARK, &project);
    }
    files.extend(super::schema::files().into_iter().map(|(name, text)| (format!("{SCHEMA_DIR}/{name}"), text)));

    // Everything is checked before anything is written.
    let existing: Vec<&str> =
        files.iter().map(|(p, _)| p.as_str()).filter(|p| fs::symlink_metadata(root.join(p)).is_ok()).collect();
    if !existing.is_empty() {
        let list = existing.iter().map(|p| format!("`{}`", shown(&root, p))).collect::<Vec<_>>().join(", ");
        anyhow::bail!(
            "{list} already exist{}: `meshgen init` overwrites nothing, so it wrote nothing (start in an empty directory, or move {})",
            if existing.len() == 1 { "s" } else { "" },
            if existing.len() == 1 { "it" } else { "them" },
        );
    }
    let ignore = root.join(".gitignore");
    let ignored = match fs::read_to_string(&ignore) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("cannot read `{}`", ignore.display())),
    };
    let missing = missing_ignores(ignored.as_deref());

    let mut created = Vec::new();
    for (path, content) in &files {
        let target = root.join(path);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).with_context(|| format!("cannot create `{}`", parent.display()))?;
        }
        // `create_new`: a file that appeared since the check is still not overwritten.
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&target)
            .and_then(|mut f| f.write_all(content.as_bytes()))
            .with_context(|| format!("cannot write `{}`", target.display()))?;
        created.push(format!("created {}", shown(&root, path)));
    }
    if !missing.is_empty() {
        let mut text = ignored.clone().unwrap_or_default();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&missing);
        fs::write(&ignore, text).with_context(|| format!("cannot write `{}`", ignore.display()))?;
        let verb = if ignored.is_some() { "added the build's lock file to" } else { "created" };
        created.push(format!("{verb} {}", shown(&root, ".gitignore")));
    }
    for line in &created {
        cx.note(line);
    }
    // Line by line: a note is one line (its line breaks would be escaped).
    for line in next_steps(&root, args.minimal).lines() {
        cx.note(line);
    }
    Ok(0)
}

/// The lines of [`GITIGNORE`] that `existing` (the project's `.gitignore`, if any) lacks,
/// with the comment; empty when it has them all.
fn missing_ignores(existing: Option<&str>) -> String {
    let have: Vec<&str> = existing.unwrap_or_default().lines().map(str::trim).collect();
    let patterns: Vec<&str> = GITIGNORE.lines().filter(|l| !l.starts_with('#') && !have.contains(l)).collect();
    if patterns.is_empty() {
        return String::new();
    }
    let comment = GITIGNORE.lines().next().unwrap_or_default();
    format!("{comment}\n{}\n", patterns.join("\n"))
}

/// `path` as the user names it: under `-C DIR` when one was given.
pub(super) fn shown(root: &Path, path: &str) -> String {
    if root == Path::new(".") { path.to_string() } else { root.join(path).display().to_string() }
}

/// What to do next, with the commands to type.
fn next_steps(root: &Path, minimal: bool) -> String {
    let cd = if root == Path::new(".") { String::new() } else { format!("  cd {}\n", root.display()) };
    let first = if minimal {
        "Declare a first service in inventory/services.yaml (an example is in its comments), then:"
    } else {
        "The inventory holds a commented example of each kind of entity; edit it, then:"
    };
    format!(
        "\n{first}\n{cd}  meshgen check        # analyse the inventory, write nothing\n  \
         meshgen build        # write the Istio manifests into out/\n  \
         meshgen diff --cluster   # what applying them would change in the current cluster\n\n\
         Editors complete and document the files through their first line, which points at \
         {SCHEMA_DIR}/; after upgrading meshgen, refresh the schemas with \
         `meshgen schema --out-dir {SCHEMA_DIR}`."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gitignore_entries_are_added_once() {
        assert_eq!(missing_ignores(None), GITIGNORE);
        assert_eq!(missing_ignores(Some(GITIGNORE)), "");
        let partial = missing_ignores(Some("target/\n.*.meshgen.lock\n"));
        assert!(!partial.contains(".*.meshgen.lock") && partial.contains(".*.old/"), "{partial}");
    }
}
