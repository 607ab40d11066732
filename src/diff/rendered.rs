//! Reads another build's output directory (`meshgen diff --against DIR`): every YAML
//! document in every `*.yaml`/`*.yml` file below it, whatever the layout that wrote it.
//! `kustomization.yaml` and the VIP allocation table are meshgen's bookkeeping, not
//! objects, and are skipped.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

/// Files in an output directory that hold no objects.
const BOOKKEEPING: &[&str] = &["kustomization.yaml", "kustomization.yml", crate::model::vips::FILE];

/// The YAML files of a directory: relative path (`/`-separated) and content, sorted by path.
#[derive(Debug, Default)]
pub struct Rendered {
    /// Files by relative path.
    pub files: Vec<(String, String)>,
    /// Files not read because the caller already knew their content (see [`read_unless`]).
    pub known: Vec<String>,
}

/// One document of a file.
#[derive(Debug, Clone, Copy)]
pub struct Document<'a> {
    /// The file, relative to the directory.
    pub file: &'a str,
    /// The document's text, without the `---` line (and without meshgen's header line).
    pub text: &'a str,
}

impl AsRef<str> for Document<'_> {
    fn as_ref(&self) -> &str {
        self.text
    }
}

impl Rendered {
    /// Every document of every file, in file order.
    pub fn documents(&self) -> Vec<Document<'_>> {
        self.files
            .iter()
            .flat_map(|(file, text)| split_documents(text).into_iter().map(|text| Document { file, text }))
            .collect()
    }
}

/// Reads every YAML file below `dir`.
pub fn read(dir: &Path) -> Result<Rendered> {
    read_unless(dir, |_, _| false)
}

/// Reads every YAML file below `dir` except those `known(relative path, path)` vouches for,
/// which are listed in [`Rendered::known`] instead.
pub fn read_unless(dir: &Path, known: impl Fn(&str, &Path) -> bool + Sync) -> Result<Rendered> {
    if !dir.is_dir() {
        bail!("`{}` is not a directory: `--against` takes a directory that `meshgen build` wrote", dir.display());
    }
    let mut paths = Vec::new();
    walk(dir, "", &mut paths)?;
    // In path order (component by component), compared as strings: sorting 77,000
    // `PathBuf`s by their components was a noticeable part of a diff.
    paths.sort_unstable_by(|(a, _), (b, _)| a.split('/').cmp(b.split('/')));
    // Per-object layouts mean tens of thousands of small files: reading them is most of the
    // work, so both cores share it.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(4);
    let share = paths.len().div_ceil(threads).max(64);
    let known = &known;
    let chunks: Vec<Result<Vec<Read>>> = std::thread::scope(|s| {
        let handles: Vec<_> = paths
            .chunks(share)
            .map(|chunk| {
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|(rel, p)| {
                            if known(rel, p) {
                                return Ok((rel.clone(), None));
                            }
                            let text = std::fs::read_to_string(p)
                                .with_context(|| format!("failed to read `{}`", p.display()))?;
                            Ok((rel.clone(), Some(text)))
                        })
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| bail!("a reading thread panicked"))).collect()
    });
    let mut rendered = Rendered { files: Vec::with_capacity(paths.len()), known: Vec::new() };
    for c in chunks {
        for (rel, text) in c? {
            match text {
                Some(text) => rendered.files.push((rel, text)),
                None => rendered.known.push(rel),
            }
        }
    }
    Ok(rendered)
}

/// A file's relative path and text (`None`: known, not read).
type Read = (String, Option<String>);

/// Collects the YAML files below `dir` (whose path relative to the root is `rel`, `/`-separated)
/// with their relative paths.
fn walk(dir: &Path, rel: &str, out: &mut Vec<(String, PathBuf)>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("failed to read `{}`", dir.display()))? {
        let entry = entry.with_context(|| format!("failed to read `{}`", dir.display()))?;
        let path = entry.path();
        let ty = entry.file_type()?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let child = if rel.is_empty() { name.to_string() } else { format!("{rel}/{name}") };
        if ty.is_dir() {
            walk(&path, &child, out)?;
        } else if (name.ends_with(".yaml") || name.ends_with(".yml")) && !BOOKKEEPING.contains(&name.as_ref()) {
            out.push((child, path));
        }
    }
    Ok(())
}

/// Splits a YAML stream at its `---` lines; drops meshgen's header line from the first
/// document (so a document meshgen wrote is exactly the text it rendered) and documents
/// that hold nothing but comments and blank lines.
pub fn split_documents(text: &str) -> Vec<&str> {
    let text = text.strip_prefix(crate::emit::HEADER).unwrap_or(text);
    let mut docs = Vec::new();
    let mut start = 0;
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\n', '\r']);
        if bare == "---" || bare.starts_with("--- ") {
            docs.push(&text[start..at]);
            start = at + line.len();
        }
        at += line.len();
    }
    docs.push(&text[start..]);
    docs.retain(|d| d.lines().any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#')));
    docs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_split_at_marker_lines_only() {
        let text = format!("{}a: 1\n---\nb: |\n  ---x\n--- # c\n# only a comment\n---\n\n", crate::emit::HEADER);
        assert_eq!(split_documents(&text), vec!["a: 1\n", "b: |\n  ---x\n"]);
        assert_eq!(split_documents("---\na: 1"), vec!["a: 1"]);
        assert!(split_documents("").is_empty());
    }
}
