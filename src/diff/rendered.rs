//! Reads another build's output directory (`meshgen diff --against DIR`): every YAML
//! document in every `*.yaml`/`*.yml` file below it, whatever the layout that wrote it.
//! `kustomization.yaml` and the VIP allocation table are meshgen's bookkeeping, not
//! objects, and are skipped.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

/// Files in an output directory that hold no objects.
const BOOKKEEPING: &[&str] = &["kustomization.yaml", "kustomization.yml", crate::model::vips::FILE];

/// The YAML files of a directory, sorted by path.
#[derive(Debug, Default)]
pub struct Rendered {
    /// Files by relative path.
    pub files: Vec<File>,
    /// Files not read because the caller already knew their content (see
    /// [`Listing::read_unless`]).
    pub known: Vec<String>,
}

/// One file read. Its fields are private: the positions of its documents hold for the text
/// they were found in.
#[derive(Debug)]
pub struct File {
    rel: String,
    text: String,
    /// Where its documents are in `text` ([`split_documents`]): found as the file is read,
    /// on the reading threads and while its text is in their cache, rather than by a walk
    /// of every file's text on one core once the build is done.
    docs: Vec<std::ops::Range<usize>>,
}

impl File {
    fn new(rel: String, text: String) -> File {
        let docs = document_ranges(&text);
        File { rel, text, docs }
    }

    /// The path relative to the directory, `/`-separated.
    pub fn rel(&self) -> &str {
        &self.rel
    }

    /// The content.
    pub fn text(&self) -> &str {
        &self.text
    }
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
    /// The files of both, in path order (each file is in one of them), and the files neither
    /// read.
    pub fn merge(mut self, other: Rendered) -> Rendered {
        self.files.extend(other.files);
        self.files.sort_unstable_by(|a, b| a.rel.cmp(&b.rel));
        self.known.extend(other.known);
        self.known.sort_unstable();
        self
    }

    /// Every document of every file, in file order.
    pub fn documents(&self) -> Vec<Document<'_>> {
        self.files
            .iter()
            .flat_map(|f| f.docs.iter().map(|d| Document { file: &f.rel, text: &f.text[d.clone()] }))
            .collect()
    }
}

/// Reads every YAML file below `dir`.
pub fn read(dir: &Path) -> Result<Rendered> {
    list(dir, |_, _| None)?.read_unless(|_, _| false)
}

/// The YAML files below a directory, listed in path order but not read yet, each with the
/// content hash a record vouches for, if any.
#[derive(Debug)]
pub struct Listing {
    files: Vec<Listed>,
}

#[derive(Debug)]
struct Listed {
    rel: String,
    path: PathBuf,
    recorded: Option<u64>,
}

/// Lists the YAML files below `dir`; `recorded(relative path, path)` gives what is known of a
/// file's content without reading it. Independent of the build, so `diff` lists while it
/// compiles.
pub fn list(dir: &Path, recorded: impl Fn(&str, &Path) -> Option<u64> + Sync) -> Result<Listing> {
    if !dir.is_dir() {
        bail!("`{}` is not a directory: `--against` takes a directory that `meshgen build` wrote", dir.display());
    }
    let mut paths = Vec::new();
    walk(dir, "", &mut paths)?;
    let recorded = &recorded;
    let files = crate::par::map(&paths, |(rel, path)| {
        Ok(Listed { rel: rel.clone(), path: path.clone(), recorded: recorded(rel, path) })
    })?;
    Ok(Listing { files })
}

impl Listing {
    /// The files a record vouches for, by relative path.
    pub fn recorded(&self) -> impl Iterator<Item = &str> {
        self.files.iter().filter(|f| f.recorded.is_some()).map(|f| f.rel.as_str())
    }

    /// The files of this listing whose relative paths are in `rels` (sorted, as
    /// [`Rendered::known`] is), in the same order.
    pub fn only(&self, rels: &[String]) -> Listing {
        let files = self
            .files
            .iter()
            .filter(|f| rels.binary_search(&f.rel).is_ok())
            .map(|f| Listed { rel: f.rel.clone(), path: f.path.clone(), recorded: f.recorded })
            .collect();
        Listing { files }
    }

    /// Reads every file except those `known(relative path, recorded hash)` vouches for,
    /// which are listed in [`Rendered::known`] instead.
    pub fn read_unless(&self, known: impl Fn(&str, Option<u64>) -> bool + Sync) -> Result<Rendered> {
        let known = &known;
        let read = crate::par::map(&self.files, |f| {
            if known(&f.rel, f.recorded) {
                return Ok(Taken::Known(f.rel.clone()));
            }
            let text =
                std::fs::read_to_string(&f.path).with_context(|| format!("failed to read `{}`", f.path.display()))?;
            Ok(Taken::Read(File::new(f.rel.clone(), text)))
        })?;
        let mut rendered = Rendered { files: Vec::with_capacity(read.len()), known: Vec::new() };
        for taken in read {
            match taken {
                Taken::Read(file) => rendered.files.push(file),
                Taken::Known(rel) => rendered.known.push(rel),
            }
        }
        Ok(rendered)
    }
}

/// What [`Listing::read_unless`] did with a file: read it, or left it to what the caller
/// knows (its relative path).
enum Taken {
    Read(File),
    Known(String),
}

/// Collects the YAML files below `dir` (whose path relative to the root is `rel`, `/`-separated)
/// with their relative paths, in path order: each directory's entries sorted by name, a
/// directory's files where its name sorts (component order, as `Path` compares).
fn walk(dir: &Path, rel: &str, out: &mut Vec<(String, PathBuf)>) -> Result<()> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("failed to read `{}`", dir.display()))? {
        let entry = entry.with_context(|| format!("failed to read `{}`", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        entries.push((name, entry.path(), entry.file_type()?.is_dir()));
    }
    entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    for (name, path, is_dir) in entries {
        let child = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
        if is_dir {
            walk(&path, &child, out)?;
        } else if (name.ends_with(".yaml") || name.ends_with(".yml")) && !BOOKKEEPING.contains(&name.as_str()) {
            out.push((child, path));
        }
    }
    Ok(())
}

/// Splits a YAML stream at its `---` lines; drops meshgen's header line from the first
/// document (so a document meshgen wrote is exactly the text it rendered) and documents
/// that hold nothing but comments and blank lines.
pub fn split_documents(text: &str) -> Vec<&str> {
    document_ranges(text).into_iter().map(|d| &text[d]).collect()
}

/// Where the documents of [`split_documents`] are in `text`. Each range starts at the
/// start of the text, after meshgen's header line or after a line break, and ends at the
/// end of the text or after a line break: on character boundaries.
fn document_ranges(text: &str) -> Vec<std::ops::Range<usize>> {
    let body = if text.starts_with(crate::emit::HEADER) { crate::emit::HEADER.len() } else { 0 };
    let mut start = body;
    let mut docs = Vec::new();
    // Only lines that begin with `---` can be markers: those are found by searching for the
    // three dashes after a line break (with vector instructions), not by walking every line
    // (a third of reading another build was this loop).
    let candidates = text[body..].starts_with("---").then_some(body).into_iter();
    let after_breaks = memchr::memmem::find_iter(&text.as_bytes()[body..], b"\n---").map(|at| body + at + 1);
    for at in candidates.chain(after_breaks) {
        let end = text[at..].find('\n').map_or(text.len(), |n| at + n + 1);
        let bare = text[at..end].trim_end_matches(['\n', '\r']);
        if bare == "---" || bare.starts_with("--- ") {
            docs.push(start..at);
            start = end;
        }
    }
    docs.push(start..text.len());
    docs.retain(|d| text[d.clone()].lines().any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#')));
    docs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_read_in_two_rounds_reads_as_one() {
        let dir = tempfile::tempdir().unwrap();
        for (rel, text) in [("a.yaml", "a: 1\n"), ("b/x.yaml", "x: 1\n"), ("b/y.yaml", "y: 1\n"), ("c.yaml", "c: 1\n")]
        {
            let path = dir.path().join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let whole = read(dir.path()).unwrap();
        let listing = list(dir.path(), |_, _| None).unwrap();
        // First every file outside `b/`, then of those left the first one only.
        let first = listing.read_unless(|rel, _| rel.starts_with("b/")).unwrap();
        assert_eq!(first.known, ["b/x.yaml", "b/y.yaml"]);
        let second = listing.only(&first.known).read_unless(|rel, _| rel == "b/y.yaml").unwrap();
        let merged = Rendered { known: Vec::new(), ..first }.merge(second);
        assert_eq!(merged.known, ["b/y.yaml"]);
        let files: Vec<&str> = merged.files.iter().map(File::rel).collect();
        assert_eq!(files, ["a.yaml", "b/x.yaml", "c.yaml"]);
        let texts = |r: &Rendered| r.files.iter().map(|f| (f.rel().to_string(), f.text().to_string())).collect();
        let mut expected: Vec<(String, String)> = texts(&whole);
        expected.retain(|(rel, _)| rel != "b/y.yaml");
        assert_eq!(texts(&merged), expected);
    }

    #[test]
    fn documents_are_split_at_marker_lines_only() {
        let text = format!("{}a: 1\n---\nb: |\n  ---x\n--- # c\n# only a comment\n---\n\n", crate::emit::HEADER);
        assert_eq!(split_documents(&text), vec!["a: 1\n", "b: |\n  ---x\n"]);
        assert_eq!(split_documents("---\na: 1"), vec!["a: 1"]);
        assert!(split_documents("").is_empty());
        // Markers with a carriage return, at the very end, and dashes that only begin a line.
        assert_eq!(split_documents("a: 1\r\n---\r\nb: 2\n---"), vec!["a: 1\r\n", "b: 2\n"]);
        assert_eq!(split_documents("a: 1\n----\nb: 2\n--- x\nc: 3\n"), vec!["a: 1\n----\nb: 2\n", "c: 3\n"]);
        assert_eq!(split_documents("---\n---\na: 1\n"), vec!["a: 1\n"]);
    }
}
