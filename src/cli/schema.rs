//! `meshgen schema KIND` and `meshgen schema --out-dir DIR`: the JSON Schemas of the input
//! files ([`crate::schema`]), for editors.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use super::args::SchemaArgs;
use super::context::Context;
use crate::schema::{Kind, text};

/// Prints one schema, or writes all three into `--out-dir`.
pub(super) fn run(cx: &Context, args: &SchemaArgs) -> Result<u8> {
    match (args.kind, &args.out_dir) {
        (Some(kind), _) => std::io::stdout().lock().write_all(text(kind).as_bytes())?,
        (None, Some(dir)) => {
            // Like every path of the command line, `--out-dir` starts at `-C DIR`.
            for path in write_all(&cx.resolve(dir))? {
                cx.note(format!("wrote `{}`", path.display()));
            }
        }
        // clap requires one of the two.
        (None, None) => anyhow::bail!("name a schema (`inventory`, `project`, `overlay`) or give `--out-dir DIR`"),
    }
    Ok(0)
}

/// Every schema with the file it goes to in a schema directory.
pub(super) fn files() -> Vec<(String, String)> {
    Kind::ALL.iter().map(|k| (k.file_name(), text(*k))).collect()
}

/// Writes every schema into `dir` (created if missing), replacing older versions; returns
/// the paths written.
pub(super) fn write_all(dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    files()
        .into_iter()
        .map(|(name, content)| {
            let path = dir.join(name);
            std::fs::write(&path, content).with_context(|| format!("cannot write `{}`", path.display()))?;
            Ok(path)
        })
        .collect()
}
