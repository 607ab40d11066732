//! The output directory compared with, and made to match, the files of a build as they come.
//!
//! [`Output`] reads what is in the output directory first (a `stat` of each file, vouched for
//! by the cache of [`super::index`], or read where the cache does not know it), then takes
//! the build's files one at a time, each as its parts (meshgen's header, the manifests' texts,
//! the `---` between them): a file found unchanged is settled by hashing its parts where they
//! lie, and only a file that must be written is joined, into the staging directory (see
//! [`super::atomic`]), at once. So a build holds the text of the files in hand, not the
//! output's, and an unchanged rebuild copies no text at all. A build compares and stages
//! each namespace's files on the thread that rendered them ([`Target::stage`], any thread)
//! and takes their outcomes in order on one ([`Ledger::take`]): hashing and writing 40 MB
//! (10,000 services) on one thread had made it the one the renderers waited for. Nothing
//! reaches the output
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
    /// What the cache says the files were made from.
    recorded: Option<Inputs>,
    /// How many files the cache records.
    recorded_files: usize,
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
        recorded: None,
        recorded_files: 0,
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
    (existing.recorded, existing.recorded_files) = (cache.inputs(), cache.len());
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
///
/// Its two halves can be used apart ([`Output::split`]): the [`Target`] compares a file and
/// stages it, from any thread (the threads that render a namespace's files stage them);
/// the [`Ledger`] takes each file's outcome in the build's order, on one thread.
pub struct Output {
    target: Target,
    ledger: Ledger,
}

/// The output directory as it was read, and the staging directory the changed files go to:
/// shared by the threads that stage files ([`Target::stage`]).
pub struct Target {
    out: PathBuf,
    /// Held, when writing, from reading the output directory to the swap.
    lock: Option<atomic::Lock>,
    /// What was on disk. Never changed: a file of meshgen's that no file given names is
    /// stale at the end.
    existing: Existing,
    /// Where the changed files go when writing: made at the first one.
    staging: std::sync::OnceLock<atomic::Staging>,
    /// Held while the staging directory is made, so that it is made once.
    making: std::sync::Mutex<()>,
}

/// What became of the files given, in the build's order.
#[derive(Default)]
pub struct Ledger {
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
    /// What the files given are made from, to record with them ([`Output::record`]).
    inputs: Option<Inputs>,
}

/// One file compared with the output directory (and staged, when writing and it differs),
/// for the [`Ledger`] to take in its turn.
pub struct Staged {
    path: String,
    hash: u64,
    bytes: usize,
    /// The symbolic link on the file's path, if there is one.
    link: Option<String>,
    /// A file meshgen did not write is in its place.
    foreign: bool,
    /// How it differs from disk (`None`: it does not).
    drift: Option<Drift>,
    /// When checking and it changed: its new text.
    text: Option<String>,
}

impl Staged {
    /// The file's path, relative to the output directory.
    pub fn path(&self) -> &str {
        &self.path
    }
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
        let target = Target {
            out: out.to_path_buf(),
            lock,
            existing: scan(out)?,
            staging: std::sync::OnceLock::new(),
            making: std::sync::Mutex::new(()),
        };
        Ok(Output { target, ledger: Ledger::default() })
    }

    /// The two halves, to stage files on several threads and take them in order on one.
    pub fn split(&mut self) -> (&Target, &mut Ledger) {
        (&self.target, &mut self.ledger)
    }

    /// What the last build into this directory made, if it was made from inputs of
    /// `fingerprint` and every file it wrote is still there as it wrote it (the cache vouches
    /// for each; none is missing, none of meshgen's was added), so that a build of these
    /// inputs would change nothing. Asked before any file is given.
    pub fn unchanged(&self, fingerprint: Fingerprint) -> Option<Unchanged> {
        let e = &self.target.existing;
        let inputs = e.recorded.filter(|i| i.fingerprint == fingerprint)?;
        let intact = e.cached && e.owned.len() == e.recorded_files && self.ledger.planned.is_empty();
        intact.then_some(Unchanged { objects: inputs.objects, files: e.owned.len() })
    }

    /// Records, with the files, what they are made from (`None`: nothing, the next build
    /// compiles whatever its inputs); saved by [`Output::finish`] with the cache.
    pub fn record(&mut self, inputs: Option<Inputs>) {
        self.ledger.inputs = inputs;
    }

    /// Takes the file `path` (relative, `/`-separated), whose content is `parts` joined:
    /// compared with what is on disk and, when writing and it differs, written into the
    /// staging directory. Every file of the build is given once, in order (or staged with
    /// [`Target::stage`] and taken with [`Ledger::take`], in order).
    pub fn file(&mut self, path: String, parts: &[&str]) -> Result<()> {
        let staged = self.target.stage(path, parts)?;
        self.ledger.take(staged)
    }

    /// How many files were given.
    pub fn files(&self) -> usize {
        self.ledger.planned.len()
    }

    /// The files of meshgen's on disk that no file given names, by path.
    fn stale(&self) -> impl Iterator<Item = &String> {
        self.target.existing.owned.keys().filter(|p| !self.ledger.planned.contains_key(*p))
    }

    /// What a build would change, once every file is given (for [`Output::check`]).
    pub fn drift(self) -> Result<Checked> {
        self.ledger.refuse_symlinks(&self.target.out)?;
        let stale: Vec<Drift> = self.stale().cloned().map(Drift::Stale).collect();
        let Ledger { changed, foreign, texts, .. } = self.ledger;
        let mut drift = changed;
        drift.extend(foreign.into_iter().map(Drift::Foreign));
        drift.extend(stale);
        drift.sort_by(|a, b| a.path().cmp(b.path()));
        Ok(Checked { drift, texts })
    }

    /// Makes the output directory hold exactly the files given, all or nothing, once every
    /// file is given (for [`Output::write`]): the staging directory gets every other file of
    /// the output directory (hard links) but the stale ones, and is swapped in. Writes
    /// nothing when nothing changed (but records the files in the cache when it did not know
    /// them all). Calls `mark("files")` once the files are swapped in, if any were.
    pub fn finish(mut self, mut mark: impl FnMut(&'static str)) -> Result<Report> {
        self.ledger.refuse(&self.target.out)?;
        let stale: Vec<String> = self.stale().cloned().collect();
        let ledger = &self.ledger;
        let report = Report {
            written: ledger.changed.len(),
            removed: stale.len(),
            unchanged: ledger.planned.len() - ledger.changed.len(),
        };
        // Small outputs are read back in no time: only large ones are worth a cache entry.
        let worth_caching = index::worth_caching(ledger.planned.len(), ledger.bytes);
        let out = &self.target.out;
        if ledger.changed.is_empty() && stale.is_empty() {
            let recorded = self.target.existing.recorded == ledger.inputs;
            if !(self.target.existing.cached && recorded) && worth_caching {
                index::Index::save(out, &ledger.planned, ledger.inputs);
            }
            return Ok(report);
        }
        let staging = match self.target.staging.take() {
            Some(s) => s,
            None => atomic::Staging::create(out)?,
        };
        let stale: Vec<&str> = stale.iter().map(String::as_str).collect();
        staging.swap(out, &stale)?;
        mark("files");
        if worth_caching {
            index::Index::save(out, &ledger.planned, ledger.inputs);
        }
        Ok(report)
    }
}

impl Target {
    /// Compares the file `path` (relative, `/`-separated), whose content is `parts` joined,
    /// with what is on disk and, when writing and it differs, writes it into the staging
    /// directory; from any thread. What became of it is for the [`Ledger`] to take, in the
    /// build's order.
    pub fn stage(&self, path: String, parts: &[&str]) -> Result<Staged> {
        let hash = index::hash_parts(parts);
        let bytes = parts.iter().map(|p| p.len()).sum::<usize>();
        let link = self.symlink_on(&path).map(str::to_string);
        let old = self.existing.owned.get(&path);
        let same = match old {
            Some(Known::Text(text)) => equal_parts(text, parts),
            Some(Known::Hash(h)) => *h == hash,
            None => false,
        };
        let mut staged = Staged { path, hash, bytes, link, foreign: false, drift: None, text: None };
        if same {
            return Ok(staged);
        }
        if old.is_none() && self.existing.foreign.contains(&staged.path) {
            staged.foreign = true;
            return Ok(staged);
        }
        // Never through a symbolic link (the build is refused at the end anyway).
        if self.lock.is_some() && staged.link.is_none() {
            let mut text = Vec::with_capacity(bytes);
            parts.iter().for_each(|p| text.extend_from_slice(p.as_bytes()));
            self.staging()?.write(&self.out, &staged.path, &text)?;
        }
        let path = staged.path.clone();
        staged.drift = Some(match old {
            None => Drift::Missing(path),
            // Only a check reports what a file held (a build just replaces it).
            Some(_) if self.lock.is_some() => Drift::Changed(path, String::new()),
            Some(Known::Text(text)) => Drift::Changed(path, text.clone()),
            Some(Known::Hash(_)) => {
                let text = String::from_utf8_lossy(&read(&path_of(&self.out, &path))?).into_owned();
                Drift::Changed(path, text)
            }
        });
        if self.lock.is_none() && matches!(staged.drift, Some(Drift::Changed(..))) {
            staged.text = Some(parts.concat());
        }
        Ok(staged)
    }

    /// The staging directory, made by the first thread that asks.
    fn staging(&self) -> Result<&atomic::Staging> {
        if let Some(s) = self.staging.get() {
            return Ok(s);
        }
        let _making = self.making.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(s) = self.staging.get() {
            return Ok(s);
        }
        let made = atomic::Staging::create(&self.out)?;
        Ok(self.staging.get_or_init(|| made))
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
}

impl Ledger {
    /// Takes a staged file, in the build's order.
    pub fn take(&mut self, s: Staged) -> Result<()> {
        if let Some(link) = s.link
            && self.symlinked.as_ref().is_none_or(|(first, _)| s.path < *first)
        {
            self.symlinked = Some((s.path.clone(), link));
        }
        self.bytes += s.bytes;
        if self.planned.insert(s.path.clone(), s.hash).is_some() {
            bail!("internal error: the layout made file `{}` twice", s.path);
        }
        if s.foreign {
            self.foreign.push(s.path);
            return Ok(());
        }
        if let Some(text) = s.text {
            self.texts.insert(s.path, text);
        }
        self.changed.extend(s.drift);
        Ok(())
    }

    /// Fails if a symbolic link is on the path of a file given (naming the first file).
    fn refuse_symlinks(&self, out: &Path) -> Result<()> {
        if let Some((path, link)) = &self.symlinked {
            bail!(
                "`{}` is a symbolic link on the path of `{path}`; meshgen never writes through symbolic links (remove it, or replace it with a real directory)",
                path_of(out, link).display()
            );
        }
        Ok(())
    }

    /// Fails if the files given cannot be written: a symbolic link on a file's path, or a
    /// file meshgen did not write in its place.
    fn refuse(&self, out: &Path) -> Result<()> {
        self.refuse_symlinks(out)?;
        if let Some(p) = self.foreign.iter().min() {
            bail!(
                "`{}` exists but was not written by meshgen; move it away or choose another output directory (meshgen never overwrites files it did not write)",
                out.join(p).display()
            );
        }
        Ok(())
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

    /// An output directory `out` (in a temporary directory) holding `files`: (name, text).
    fn output_of(files: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        std::fs::create_dir_all(&out).unwrap();
        for (name, text) in files {
            std::fs::write(out.join(name), text).unwrap();
        }
        (tmp, out)
    }

    #[test]
    fn files_staged_on_several_threads_are_taken_in_order() {
        let (tmp, out) =
            output_of(&[("same.yaml", &format!("{HEADER}a\n")), ("stale.yaml", &format!("{HEADER}gone\n"))]);
        // Files of the same new directories, so that the threads race to make them.
        let mut files: Vec<(String, String)> =
            (0..40).map(|i| (format!("ns-{}/sub-{}/f-{i:02}.yaml", i % 2, i % 4), format!("n{i}\n"))).collect();
        files.push(("same.yaml".into(), "a\n".into()));
        let mut o = Output::write(&out).unwrap();
        let (target, ledger) = o.split();
        let staged = crate::par::map(&files, |(path, body)| target.stage(path.clone(), &[HEADER, body])).unwrap();
        let order: Vec<&str> = staged.iter().map(Staged::path).collect();
        assert_eq!(order, files.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>());
        staged.into_iter().try_for_each(|s| ledger.take(s)).unwrap();
        let report = o.finish(|_| {}).unwrap();
        assert_eq!((report.written, report.removed, report.unchanged), (40, 1, 1));
        for (path, body) in &files {
            assert_eq!(std::fs::read_to_string(path_of(&out, path)).unwrap(), format!("{HEADER}{body}"));
        }
        assert!(!out.join("stale.yaml").exists());
        // Nothing left beside the output: the staging directory was swapped in.
        let beside: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(beside.iter().all(|n| !n.to_string_lossy().contains("staging")), "{beside:?}");
    }

    #[test]
    fn a_check_reports_what_a_build_would_change_and_writes_nothing() {
        let (_tmp, out) = output_of(&[
            ("same.yaml", &format!("{HEADER}a\n")),
            ("changed.yaml", &format!("{HEADER}old\n")),
            ("stale.yaml", &format!("{HEADER}gone\n")),
            ("mine.yaml", "someone else's\n"),
        ]);
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
