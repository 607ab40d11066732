//! The output directory compared with, and made to match, the files of a build as they come.
//!
//! [`Output`] reads what is in the output directory first (a `stat` of each file, vouched for
//! by the cache of [`super::index`], or read where the cache does not know it), then takes
//! the build's files one at a time, each as its parts (meshgen's header, the manifests' texts,
//! the `---` between them): a file found unchanged is settled by hashing its parts where they
//! lie, and only a file that must be written is joined, into the staging directory (see
//! [`super::atomic`]), at once. So a build holds the text of the files in hand, not the
//! output's, and an unchanged rebuild copies no text at all. Nothing reaches the output
//! directory before [`Output::finish`], which refuses (symbolic links on a file's path, files
//! meshgen did not write in the way) before it swaps anything in.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use super::index::Inputs;
use super::{Drift, HEADER, Report, atomic, index, path_of};
use crate::compile::Fingerprint;

/// What is on disk in the output directory: meshgen's files, others by path.
struct Existing {
    owned: BTreeMap<String, Known>,
    foreign: std::collections::BTreeSet<String>,
    /// Symbolic links (to files or directories), by relative path: never written through.
    symlinks: std::collections::BTreeSet<String>,
    /// Whether every file of meshgen's was known from the cache (then it needs no update).
    cached: bool,
    /// What the cache says the files were made from, and how many files it records.
    recorded: (Option<Inputs>, usize),
}

/// What is known of one of meshgen's files.
enum Known {
    /// Its content, read.
    Text(String),
    /// The hash of its content, from the cache (the file was not read).
    Hash(u64),
}

fn scan(out: &Path) -> Result<Existing> {
    let mut existing = Existing {
        owned: BTreeMap::new(),
        foreign: Default::default(),
        symlinks: Default::default(),
        cached: true,
        recorded: (None, 0),
    };
    // The output directory itself a symbolic link is refused rather than followed: the swap
    // would replace the link by a real directory (or write where the link points).
    if std::fs::symlink_metadata(out).is_ok_and(|m| m.file_type().is_symlink()) {
        bail!(
            "output path `{}` is a symbolic link; meshgen writes only into a real directory (point `--out` or `output` at the link's target instead)",
            out.display()
        );
    }
    if !out.exists() {
        return Ok(existing);
    }
    if !out.is_dir() {
        bail!("output path `{}` exists and is not a directory", out.display());
    }
    // The directories are listed first; the files are then looked at (a `stat`, and a read
    // where the cache does not know them) on every core: with one file per object that is
    // tens of thousands of system calls. The cache (a line per file) is read meanwhile.
    let (files, cache) =
        crate::par::join(|| list(out, &mut existing.foreign, &mut existing.symlinks), || index::Index::load(out));
    let files = files?;
    existing.recorded = (cache.inputs(), cache.len());
    for (rel, known) in crate::par::map(&files, |(rel, path)| look(&cache, rel, path))? {
        match known {
            Some(k) => {
                existing.cached &= matches!(k, Known::Hash(_));
                existing.owned.insert(rel, k);
            }
            // Someone else's file: never in the cache, so no reason to rewrite it.
            None => {
                existing.foreign.insert(rel);
            }
        }
    }
    Ok(existing)
}

/// The YAML files under `out`, by path relative to it; anything else is `foreign`.
fn list(
    out: &Path,
    foreign: &mut std::collections::BTreeSet<String>,
    symlinks: &mut std::collections::BTreeSet<String>,
) -> Result<Vec<(String, PathBuf)>> {
    let mut files = Vec::new();
    // Directories with their path relative to `out`, which each entry's extends.
    let mut stack = vec![(out.to_path_buf(), String::new())];
    while let Some((dir, dir_rel)) = stack.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("failed to read `{}`", dir.display()))? {
            let entry = entry.with_context(|| format!("failed to read `{}`", dir.display()))?;
            let path = entry.path();
            let ty = entry.file_type()?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let rel = if dir_rel.is_empty() { name.into_owned() } else { format!("{dir_rel}/{name}") };
            if ty.is_dir() {
                stack.push((path, rel));
            } else if ty.is_file() && rel.ends_with(".yaml") {
                files.push((rel, path));
            } else if ty.is_symlink() {
                symlinks.insert(rel.clone());
                foreign.insert(rel);
            } else {
                foreign.insert(rel);
            }
        }
    }
    Ok(files)
}

/// A file of the output directory by relative path, and what is known of it.
type Looked = (String, Option<Known>);

/// One YAML file of the output directory: known from the cache, read (meshgen's), or
/// `None` (someone else's).
fn look(cache: &index::Index, rel: &str, path: &Path) -> Result<Looked> {
    if let Some(hash) = std::fs::symlink_metadata(path).ok().and_then(|m| cache.known(rel, &m)) {
        return Ok((rel.to_string(), Some(Known::Hash(hash))));
    }
    let known = match String::from_utf8(read(path)?) {
        Ok(text) if text.starts_with(HEADER) => Some(Known::Text(text)),
        _ => None,
    };
    Ok((rel.to_string(), known))
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("failed to read `{}`", path.display()))
}

/// Whether the text of a file is exactly `parts`, joined.
fn equal_parts(text: &str, parts: &[&str]) -> bool {
    let mut rest = text.as_bytes();
    for p in parts {
        match rest.strip_prefix(p.as_bytes()) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    rest.is_empty()
}

/// What [`Output::check`] found: what a build would change, and the new texts of the
/// changed files (for a report of the differences).
pub struct Checked {
    /// What a build would change, sorted by path.
    pub drift: Vec<Drift>,
    /// The text a build would write into each [`Drift::Changed`] file, by path.
    pub texts: BTreeMap<String, String>,
}

/// What an output directory holds when a build would change nothing in it
/// ([`Output::unchanged`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unchanged {
    /// The objects in its files.
    pub objects: usize,
    /// Its files (meshgen's).
    pub files: usize,
}

/// An output directory being compared with a build's files, as they come; written to with
/// [`Output::write`], only compared with [`Output::check`].
pub struct Output {
    out: PathBuf,
    /// Held, when writing, from reading the output directory to the swap.
    lock: Option<atomic::Lock>,
    /// What was on disk; each file given is taken out of `existing.owned`, so that what is
    /// left there at the end is stale.
    existing: Existing,
    /// Where the changed files go when writing: made at the first one.
    staging: Option<atomic::Staging>,
    /// Every file given, with the hash of its content (what the cache records).
    planned: BTreeMap<String, u64>,
    /// The bytes of all files given.
    bytes: usize,
    /// The files given that differ from disk or are missing (written, when writing).
    changed: Vec<Drift>,
    /// When checking: the new texts of the changed files.
    texts: BTreeMap<String, String>,
    /// Given files that a file meshgen did not write is in the way of.
    foreign: Vec<String>,
    /// The first (by path) given file with a symbolic link on its path, and that link.
    symlinked: Option<(String, String)>,
    /// A file's text, joined for writing: one buffer for all.
    buffer: Vec<u8>,
    /// What the files given are made from, to record with them ([`Output::record`]).
    inputs: Option<Inputs>,
}

impl Output {
    /// Starts a build into `out`: waits for the lock of `out` (held until [`Output::finish`]
    /// or the drop), repairs what an interrupted build left, and reads the directory.
    pub fn write(out: &Path) -> Result<Output> {
        let lock = atomic::Lock::take(out)?;
        if !std::fs::symlink_metadata(out).is_ok_and(|m| m.file_type().is_symlink()) {
            atomic::recover(out)?;
        }
        Output::open(out, Some(lock))
    }

    /// Starts comparing a build with `out` (`build --check`): no lock, nothing written.
    pub fn check(out: &Path) -> Result<Output> {
        Output::open(out, None)
    }

    fn open(out: &Path, lock: Option<atomic::Lock>) -> Result<Output> {
        Ok(Output {
            out: out.to_path_buf(),
            lock,
            existing: scan(out)?,
            staging: None,
            planned: BTreeMap::new(),
            bytes: 0,
            changed: Vec::new(),
            texts: BTreeMap::new(),
            foreign: Vec::new(),
            symlinked: None,
            buffer: Vec::new(),
            inputs: None,
        })
    }

    /// What the last build into this directory made, if it was made from inputs of
    /// `fingerprint` and every file it wrote is still there as it wrote it (the cache vouches
    /// for each; none is missing, none of meshgen's was added), so that a build of these
    /// inputs would change nothing. Asked before any file is given.
    pub fn unchanged(&self, fingerprint: Fingerprint) -> Option<Unchanged> {
        let e = &self.existing;
        let inputs = e.recorded.0.filter(|i| i.fingerprint == fingerprint)?;
        let intact = e.cached && e.owned.len() == e.recorded.1 && self.planned.is_empty();
        intact.then_some(Unchanged { objects: inputs.objects, files: e.owned.len() })
    }

    /// Records, with the files, what they are made from (`None`: nothing, the next build
    /// compiles whatever its inputs); saved by [`Output::finish`] with the cache.
    pub fn record(&mut self, inputs: Option<Inputs>) {
        self.inputs = inputs;
    }

    /// Takes the file `path` (relative, `/`-separated), whose content is `parts` joined:
    /// compared with what is on disk and, when writing and it differs, written into the
    /// staging directory. Every file of the build is given once.
    pub fn file(&mut self, path: String, parts: &[&str]) -> Result<()> {
        let hash = index::hash_parts(parts);
        self.bytes += parts.iter().map(|p| p.len()).sum::<usize>();
        if let Some(link) = self.symlink_on(&path)
            && self.symlinked.as_ref().is_none_or(|(first, _)| path < *first)
        {
            self.symlinked = Some((path.clone(), link.to_string()));
        }
        let old = self.existing.owned.remove(&path);
        let same = match &old {
            Some(Known::Text(text)) => equal_parts(text, parts),
            Some(Known::Hash(h)) => *h == hash,
            None => false,
        };
        if self.planned.insert(path.clone(), hash).is_some() {
            bail!("internal error: the layout made file `{path}` twice");
        }
        if same {
            return Ok(());
        }
        if old.is_none() && self.existing.foreign.contains(&path) {
            self.foreign.push(path);
            return Ok(());
        }
        // A build that will be refused writes nothing more.
        let refused = self.symlinked.is_some() || !self.foreign.is_empty();
        if self.lock.is_some() && !refused {
            self.buffer.clear();
            parts.iter().for_each(|p| self.buffer.extend_from_slice(p.as_bytes()));
            let staging = match &mut self.staging {
                Some(s) => s,
                None => self.staging.insert(atomic::Staging::create(&self.out)?),
            };
            staging.write(&self.out, &path, &self.buffer)?;
        }
        let drift = match old {
            None => Drift::Missing(path),
            // Only a check reports what a file held (a build just replaces it).
            Some(_) if self.lock.is_some() => Drift::Changed(path, String::new()),
            Some(Known::Text(text)) => Drift::Changed(path, text),
            Some(Known::Hash(_)) => {
                let text = String::from_utf8_lossy(&read(&path_of(&self.out, &path))?).into_owned();
                Drift::Changed(path, text)
            }
        };
        if let (Drift::Changed(path, _), None) = (&drift, &self.lock) {
            self.texts.insert(path.clone(), parts.concat());
        }
        self.changed.push(drift);
        Ok(())
    }

    /// The symbolic link on the path of `path` (a directory of it, or the file itself), if
    /// there is one: writing there would follow it, possibly out of the output directory.
    fn symlink_on<'p>(&self, path: &'p str) -> Option<&'p str> {
        if self.existing.symlinks.is_empty() {
            return None;
        }
        let mut prefixes = path.match_indices('/').map(|(i, _)| &path[..i]).chain([path]);
        prefixes.find(|p| self.existing.symlinks.contains(*p))
    }

    /// Fails if a symbolic link is on the path of a file given (naming the first file).
    fn refuse_symlinks(&self) -> Result<()> {
        if let Some((path, link)) = &self.symlinked {
            bail!(
                "`{}` is a symbolic link on the path of `{path}`; meshgen never writes through symbolic links (remove it, or replace it with a real directory)",
                path_of(&self.out, link).display()
            );
        }
        Ok(())
    }

    /// Fails if the files given cannot be written: a symbolic link on a file's path, or a
    /// file meshgen did not write in its place.
    fn refuse(&self) -> Result<()> {
        self.refuse_symlinks()?;
        if let Some(p) = self.foreign.iter().min() {
            bail!(
                "`{}` exists but was not written by meshgen; move it away or choose another output directory (meshgen never overwrites files it did not write)",
                self.out.join(p).display()
            );
        }
        Ok(())
    }

    /// How many files were given.
    pub fn files(&self) -> usize {
        self.planned.len()
    }

    /// What a build would change, once every file is given (for [`Output::check`]).
    pub fn drift(self) -> Result<Checked> {
        self.refuse_symlinks()?;
        let mut drift = self.changed;
        drift.extend(self.foreign.into_iter().map(Drift::Foreign));
        drift.extend(self.existing.owned.into_keys().map(Drift::Stale));
        drift.sort_by(|a, b| a.path().cmp(b.path()));
        Ok(Checked { drift, texts: self.texts })
    }

    /// Makes the output directory hold exactly the files given, all or nothing, once every
    /// file is given (for [`Output::write`]): the staging directory gets every other file of
    /// the output directory (hard links) but the stale ones, and is swapped in. Writes
    /// nothing when nothing changed (but records the files in the cache when it did not know
    /// them all). Calls `mark("files")` once the files are swapped in, if any were.
    pub fn finish(mut self, mut mark: impl FnMut(&'static str)) -> Result<Report> {
        self.refuse()?;
        let stale: Vec<String> = std::mem::take(&mut self.existing.owned).into_keys().collect();
        let report = Report {
            written: self.changed.len(),
            removed: stale.len(),
            unchanged: self.planned.len() - self.changed.len(),
        };
        // Small outputs are read back in no time: only large ones are worth a cache entry.
        let worth_caching = index::worth_caching(self.planned.len(), self.bytes);
        if self.changed.is_empty() && stale.is_empty() {
            let recorded = self.existing.recorded.0 == self.inputs;
            if !(self.existing.cached && recorded) && worth_caching {
                index::Index::save(&self.out, &self.planned, self.inputs);
            }
            return Ok(report);
        }
        let staging = match self.staging.take() {
            Some(s) => s,
            None => atomic::Staging::create(&self.out)?,
        };
        let stale: Vec<&str> = stale.iter().map(String::as_str).collect();
        staging.swap(&self.out, &stale)?;
        mark("files");
        if worth_caching {
            index::Index::save(&self.out, &self.planned, self.inputs);
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_equals_its_parts_exactly() {
        assert!(equal_parts("# h\nkind: A\n---\nkind: B\n", &["# h\n", "kind: A\n", "---\n", "kind: B\n"]));
        assert!(equal_parts("", &[]));
        assert!(!equal_parts("# h\nkind: A\n", &["# h\n", "kind: A\n", "---\n"]), "parts run past the text");
        assert!(!equal_parts("# h\nkind: A\nmore", &["# h\n", "kind: A\n"]), "the text runs past the parts");
        assert!(!equal_parts("# h\nkind: B\n", &["# h\n", "kind: A\n"]));
    }

    #[test]
    fn a_check_reports_what_a_build_would_change_and_writes_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(out.join("same.yaml"), format!("{HEADER}a\n")).unwrap();
        std::fs::write(out.join("changed.yaml"), format!("{HEADER}old\n")).unwrap();
        std::fs::write(out.join("stale.yaml"), format!("{HEADER}gone\n")).unwrap();
        std::fs::write(out.join("mine.yaml"), "someone else's\n").unwrap();
        let mut o = Output::check(&out).unwrap();
        o.file("same.yaml".into(), &[HEADER, "a\n"]).unwrap();
        o.file("changed.yaml".into(), &[HEADER, "new\n"]).unwrap();
        o.file("missing.yaml".into(), &[HEADER, "b\n"]).unwrap();
        o.file("mine.yaml".into(), &[HEADER, "c\n"]).unwrap();
        assert!(o.file("same.yaml".into(), &[HEADER, "a\n"]).is_err(), "a file given twice is a bug");
        let checked = o.drift().unwrap();
        assert_eq!(
            checked.drift,
            [
                Drift::Changed("changed.yaml".into(), format!("{HEADER}old\n")),
                Drift::Foreign("mine.yaml".into()),
                Drift::Missing("missing.yaml".into()),
                Drift::Stale("stale.yaml".into()),
            ]
        );
        assert_eq!(checked.texts["changed.yaml"], format!("{HEADER}new\n"));
        assert_eq!(std::fs::read_to_string(out.join("changed.yaml")).unwrap(), format!("{HEADER}old\n"));
        assert!(!out.join("missing.yaml").exists());
    }
}
