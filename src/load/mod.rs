//! Stage 1, `load`: find the project file and the inventory files, read them, parse YAML.
//!
//! Takes paths, returns [`Source`]s: each file's text and (for the project file) its YAML
//! documents, read by [`crate::yaml`]. Files are walked in a reproducible order (sorted, with
//! explicit ignore settings) so the same tree always loads the same way, on a laptop or in an
//! Argo CD sidecar. Problems with a file's content (too large, not UTF-8, not YAML) are
//! diagnostics; problems reading the disk are errors.

mod yaml;

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};

use crate::diag::{Diagnostic, Diagnostics, Origin};

pub use yaml::parse_documents;

/// The default name of the project file.
pub const PROJECT_FILE: &str = "meshgen.yaml";

/// One YAML file of the project, read and parsed.
#[derive(Debug, Clone)]
pub struct Source {
    /// The path shown to users and written into annotations: relative to the project
    /// directory, `/`-separated.
    pub name: Arc<str>,
    /// The path on disk.
    pub path: PathBuf,
    /// The file's text.
    pub text: String,
    /// Its YAML documents (null documents are kept, so indices match the file). Filled for
    /// the project file; inventory files are parsed by the model stage as it goes.
    pub docs: Vec<crate::yaml::Value>,
    /// A hash of the text as read: after [`Source::release_text`], a file read again for
    /// its diagnostics is only quoted if it is still what was compiled.
    digest: u64,
    /// Whether [`Source::release_text`] dropped the text.
    released: bool,
}

impl Source {
    fn digest_of(text: &str) -> u64 {
        use std::hash::BuildHasher as _;
        // A fixed seed: the digest is compared within one run only, but need not vary.
        foldhash::fast::FixedState::with_seed(0).hash_one(text)
    }

    /// Drops the text once the stages that parse it are done: the text of a large estate is
    /// a large share of its memory, which rendering then reuses instead of taking fresh memory. Diagnostics that
    /// come later read the file again ([`Source::text_again`]).
    pub fn release_text(&mut self) {
        self.text = String::new();
        self.released = true;
    }

    /// The text, as read; after [`Source::release_text`], read from disk again, or `None`
    /// when the file can no longer be read or has changed since (positions in it would be
    /// wrong).
    pub fn text_again(&self) -> Option<std::borrow::Cow<'_, str>> {
        if !self.released {
            return Some(std::borrow::Cow::Borrowed(&self.text));
        }
        let text = std::fs::read_to_string(&self.path).ok()?;
        (Source::digest_of(&text) == self.digest).then_some(std::borrow::Cow::Owned(text))
    }
}

/// Limits that keep hostile input from exhausting the machine.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest inventory file accepted, in bytes.
    pub max_file_size: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_file_size: 32 * 1024 * 1024 }
    }
}

impl Limits {
    /// The highest `maxFileSize` accepted: the model keeps positions within a file (label
    /// text, list indices, document numbers) in 32 bits.
    pub const MAX_FILE_SIZE: u64 = u32::MAX as u64;
}

/// Reads the project file. A missing file is an error that says how to create one.
pub fn project_file(path: &Path, limits: Limits, diags: &mut Diagnostics) -> Result<Source> {
    if !path.is_file() {
        bail!(
            "no project file at `{}`: create a `{PROJECT_FILE}` (see {}) or pass --project",
            path.display(),
            crate::diag::docs::INVENTORY
        );
    }
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    read_source(path, name, limits, true, diags)
}

/// Walks each inventory directory (or file) and reads every `*.yaml`/`*.yml` file in it.
///
/// `root` is the project directory (names are made relative to it); `exclude` lists paths
/// never to read (the project file, the output directory). The result is sorted by name.
pub fn inventory(
    root: &Path,
    dirs: &[PathBuf],
    exclude: &[PathBuf],
    limits: Limits,
    diags: &mut Diagnostics,
) -> Result<Vec<Source>> {
    let mut files = Vec::new();
    for dir in dirs {
        if !dir.exists() {
            bail!(
                "inventory directory `{}` does not exist: fix `inventory` in {PROJECT_FILE}",
                display_name(root, dir)
            );
        }
        // On every core (a large estate is thousands of directories, each listed and
        // searched for ignore files); the order is the sort's below.
        let walker = ignore::WalkBuilder::new(dir)
            .standard_filters(true)
            .hidden(true)
            .git_global(false)
            .git_exclude(false)
            .require_git(false)
            .follow_links(false)
            .add_custom_ignore_filename(".meshgenignore")
            .threads(crate::par::threads())
            .build_parallel();
        let found = std::sync::Mutex::new((Vec::new(), Vec::new()));
        walker.run(|| {
            Box::new(|entry| {
                let mut found = found.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                match entry {
                    Ok(entry) => {
                        let path = entry.path();
                        let is_file = entry.file_type().is_some_and(|t| t.is_file());
                        let yaml = matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"));
                        if is_file && yaml && !exclude.iter().any(|x| path.starts_with(x)) {
                            found.0.push(entry.into_path());
                        }
                    }
                    Err(e) => found.1.push(e.to_string()),
                }
                ignore::WalkState::Continue
            })
        });
        let (paths, mut errors) = found.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Of several, the same one every time.
        errors.sort();
        if let Some(first) = errors.into_iter().next() {
            bail!("failed to walk `{}`: {first}", dir.display());
        }
        files.extend(paths);
    }
    files.sort();
    files.dedup();
    // Inventory files are parsed by the model stage, file by file, so that the YAML trees
    // of a whole estate never sit in memory together. Reading them (thousands of files in a
    // large estate) is shared between the cores; findings keep the order of the files.
    let read = crate::par::map(&files, |p| {
        let mut found = Diagnostics::default();
        let source = read_source(p, display_name(root, p), limits, false, &mut found)?;
        Ok((source, found))
    })?;
    let mut sources = Vec::with_capacity(read.len());
    for (source, found) in read {
        diags.extend(found);
        sources.push(source);
    }
    Ok(sources)
}

/// `path` relative to `root`, with `/` separators, for messages and annotations.
pub fn display_name(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let parts: Vec<String> = rel
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts.join("/")
}

fn read_source(path: &Path, name: String, limits: Limits, parse: bool, diags: &mut Diagnostics) -> Result<Source> {
    let name: Arc<str> = name.into();
    let mut source = Source {
        name: name.clone(),
        path: path.to_path_buf(),
        text: String::new(),
        docs: Vec::new(),
        digest: Source::digest_of(""),
        released: false,
    };
    // One open, its size from the open file, one read: no second lookup of the path (an
    // estate is thousands of files).
    let failed = || format!("failed to read `{}`", path.display());
    let file = std::fs::File::open(path).with_context(failed)?;
    let meta = file.metadata().with_context(failed)?;
    let too_large = |size: u64, diags: &mut Diagnostics| {
        diags.push(
            Diagnostic::error(
                "file-too-large",
                Origin::new(&name, 0, ""),
                format!("file is {size} bytes, over the limit of {} bytes", limits.max_file_size),
            )
            .help("split the inventory into several files, or raise `limits.maxFileSize` in meshgen.yaml"),
        );
    };
    if meta.len() > limits.max_file_size {
        too_large(meta.len(), diags);
        return Ok(source);
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize + 1);
    // No further than one byte past the limit: a file that grew since its size was read is
    // still refused, without reading all of it.
    file.take(limits.max_file_size + 1).read_to_end(&mut bytes).with_context(failed)?;
    if bytes.len() as u64 > limits.max_file_size {
        too_large(bytes.len() as u64, diags);
        return Ok(source);
    }
    match String::from_utf8(bytes) {
        Ok(text) => {
            source.digest = Source::digest_of(&text);
            source.text = text;
        }
        Err(e) => {
            let bytes = e.as_bytes();
            let at = e.utf8_error().valid_up_to();
            let line = bytes[..at].iter().filter(|b| **b == b'\n').count() + 1;
            let col = at - bytes[..at].iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1) + 1;
            let mut origin = Origin::new(&name, 0, "");
            origin.position = Some(Box::new((line, col)));
            diags.push(
                Diagnostic::error(
                    "invalid-utf8",
                    origin,
                    format!("file is not valid UTF-8 (byte {at} at line {line}, column {col})"),
                )
                .help("save the file as UTF-8"),
            );
            return Ok(source);
        }
    }
    if parse {
        source.docs = parse_documents(&source.text, &name, diags);
    }
    Ok(source)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_released_text_is_read_again_only_while_the_file_is_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.yaml");
        std::fs::write(&path, "services: {}\n").unwrap();
        let mut diags = Diagnostics::default();
        let mut s = read_source(&path, "a.yaml".into(), Limits::default(), false, &mut diags).unwrap();
        assert!(diags.is_empty());
        assert!(matches!(s.text_again().as_deref(), Some("services: {}\n")));
        s.release_text();
        assert!(s.text.is_empty());
        assert_eq!(s.text_again().as_deref(), Some("services: {}\n"));
        // Edited since it was compiled: its positions would not match the findings.
        std::fs::write(&path, "# edited\nservices: {}\n").unwrap();
        assert_eq!(s.text_again(), None);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(s.text_again(), None);
    }
}
