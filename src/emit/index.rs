//! A cache of what meshgen last wrote into an output directory, so that a rebuild with
//! nothing changed does not read every file back.
//!
//! With one file per object, 10,000 services make 77,000 files, and opening each to compare
//! it took longer than the whole build. Like git's index, the cache records each file's size,
//! modification time, inode and a hash of its content; a file whose size, time and inode are
//! unchanged is taken to hold the recorded content. A file modified after the cache was
//! written has a later time (or, edited in the same clock tick, a time not older than the
//! cache's own: such "racy" entries are never trusted) and is read again. Anything unusual (no
//! cache, a cache that does not parse, another directory) means reading the files.
//!
//! The cache also records what the files were made from ([`Inputs`]: the fingerprint of the
//! build's inputs, when the build reported nothing): a build of the same inputs into a
//! directory still holding exactly those files has nothing to compile
//! ([`super::Output::unchanged`]).
//!
//! The cache lives outside the output directory (which is committed to Git, and must not
//! carry inode numbers): under `$XDG_CACHE_HOME/meshgen` or `~/.cache/meshgen`, one file per
//! output directory, named by a hash of its absolute path. Without a cache directory there is
//! no cache, and nothing else changes.

use foldhash::HashMap;

use crate::compile::Fingerprint;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Outputs of fewer files (and fewer bytes, [`MIN_BYTES`]) are not cached: reading them back
/// takes milliseconds, and the cache directory should not fill with entries for every small
/// project (or test) built.
pub(super) const MIN_FILES: usize = 2000;
/// Outputs of this many bytes are cached however few their files: the per-namespace layout
/// makes few, large files, and reading their bytes back costs what opening many small ones
/// does.
pub(super) const MIN_BYTES: usize = 4 << 20;

/// Whether an output of `files` files of `bytes` bytes in all is worth a cache entry.
pub(super) fn worth_caching(files: usize, bytes: usize) -> bool {
    files >= MIN_FILES || bytes >= MIN_BYTES
}

/// What a file held when meshgen last wrote or verified it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    size: u64,
    mtime: (i64, i64),
    /// The inode change time: no user tool can set it, and every write, rename, link or
    /// `touch` moves it.
    ctime: (i64, i64),
    inode: u64,
    hash: u64,
}

/// What a build's files were made from: recorded with them, for the next build to compare
/// its own inputs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inputs {
    /// The fingerprint of the build's inputs.
    pub fingerprint: Fingerprint,
    /// How many objects the files hold (for the next build's report).
    pub objects: usize,
}

/// The recorded state of one output directory.
#[derive(Debug, Default)]
pub(super) struct Index {
    entries: HashMap<String, Entry>,
    /// When the cache was written: entries of files modified since are not trusted.
    written: Option<SystemTime>,
    /// What the recorded files were made from, if the build that wrote them recorded it.
    inputs: Option<Inputs>,
}

/// The first line of a cache file: the format's version. A cache of another version (or
/// of none, before version 2) is no cache, so a change of format or of [`hash`] only costs
/// one rebuild that reads the files. Version 2: XXH3 content hashes (version 1 used std's
/// `DefaultHasher`, whose algorithm may change with any Rust release). Version 3: a second
/// line, `inputs FINGERPRINT OBJECTS` (or `inputs -`), records [`Inputs`].
const FORMAT: &str = "meshgen output cache 3";

/// The hash of a file's content, as recorded: XXH3-64 with seed 0, an algorithm published
/// and frozen by its authors (`xxhsum -H3` prints the same digests), so a cache written by
/// one build of meshgen holds for every other.
pub(super) fn hash(text: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(text.as_bytes())
}

/// [`hash`] of the concatenation of `parts`, without building it (XXH3 streams): a file's
/// header and manifests are hashed where they are, and joined only if the file is written.
pub(super) fn hash_parts(parts: &[&str]) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for p in parts {
        h.update(p.as_bytes());
    }
    h.digest()
}

/// The cache file of output directory `out`, if there is a cache directory.
fn cache_file(out: &Path) -> Option<PathBuf> {
    let dir = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").filter(|h| !h.is_empty()).map(|h| PathBuf::from(h).join(".cache")))?;
    let absolute = std::path::absolute(out).ok()?;
    Some(dir.join("meshgen").join(format!("out-{:016x}", hash(&absolute.to_string_lossy()))))
}

/// The inputs line of a cache file: `Some(None)` for `inputs -`, `None` when it is not one.
fn parse_inputs(line: &str) -> Option<Option<Inputs>> {
    match line.strip_prefix("inputs ")? {
        "-" => Some(None),
        recorded => {
            let (fingerprint, objects) = recorded.split_once(' ')?;
            Some(Some(Inputs { fingerprint: fingerprint.parse().ok()?, objects: objects.parse().ok()? }))
        }
    }
}

#[cfg(unix)]
fn entry_of(meta: &std::fs::Metadata, hash: u64) -> Entry {
    use std::os::unix::fs::MetadataExt as _;
    Entry {
        size: meta.size(),
        mtime: (meta.mtime(), meta.mtime_nsec()),
        ctime: (meta.ctime(), meta.ctime_nsec()),
        inode: meta.ino(),
        hash,
    }
}

#[cfg(not(unix))]
fn entry_of(meta: &std::fs::Metadata, hash: u64) -> Entry {
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or((0, 0), |d| (d.as_secs() as i64, i64::from(d.subsec_nanos())));
    Entry { size: meta.len(), mtime, ctime: mtime, inode: 0, hash }
}

impl Index {
    /// The cache of `out`, or an empty one.
    pub(super) fn load(out: &Path) -> Index {
        cache_file(out).map_or_else(Index::default, |file| Index::load_file(&file))
    }

    /// The cache in `file`, or an empty one.
    fn load_file(file: &Path) -> Index {
        let (Ok(text), Ok(meta)) = (std::fs::read_to_string(file), std::fs::metadata(file)) else {
            return Index::default();
        };
        let mut lines = text.lines();
        if lines.next() != Some(FORMAT) {
            return Index::default();
        }
        let Some(inputs) = lines.next().and_then(parse_inputs) else { return Index::default() };
        let mut entries = HashMap::default();
        entries.reserve(text.len() / 96);
        for line in lines {
            // `size sec nsec csec cnsec inode hash path`; paths are DNS names and `/`.
            let f: Vec<&str> = line.splitn(8, ' ').collect();
            let parsed = match f[..] {
                [size, sec, nsec, csec, cnsec, inode, hash, path] => (|| {
                    let entry = Entry {
                        size: size.parse().ok()?,
                        mtime: (sec.parse().ok()?, nsec.parse().ok()?),
                        ctime: (csec.parse().ok()?, cnsec.parse().ok()?),
                        inode: inode.parse().ok()?,
                        hash: u64::from_str_radix(hash, 16).ok()?,
                    };
                    Some((path.to_string(), entry))
                })(),
                _ => None,
            };
            let Some((path, entry)) = parsed else { return Index::default() };
            entries.insert(path, entry);
        }
        Index { entries, written: meta.modified().ok(), inputs }
    }

    /// What the cache of `out` says its files were made from, reading only the head of the
    /// cache file: whether a build needs to wait for the whole directory to be read.
    pub(super) fn recorded(out: &Path) -> Option<Inputs> {
        Index::recorded_in(&cache_file(out)?)
    }

    fn recorded_in(file: &Path) -> Option<Inputs> {
        use std::io::BufRead as _;
        let file = std::io::BufReader::new(std::fs::File::open(file).ok()?);
        let mut lines = file.lines();
        if lines.next()?.ok()? != FORMAT {
            return None;
        }
        parse_inputs(&lines.next()?.ok()?)?
    }

    /// What the recorded files were made from, if that was recorded.
    pub(super) fn inputs(&self) -> Option<Inputs> {
        self.inputs
    }

    /// How many files are recorded.
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether `rel` has an entry.
    pub(super) fn records(&self, rel: &str) -> bool {
        self.entries.contains_key(rel)
    }

    /// The recorded hash of `rel`, if its metadata says it is the file recorded and it did
    /// not change at or after the moment the cache was written.
    pub(super) fn known(&self, rel: &str, meta: &std::fs::Metadata) -> Option<u64> {
        let e = self.entries.get(rel)?;
        let written = self.written?.duration_since(SystemTime::UNIX_EPOCH).ok()?;
        let now = entry_of(meta, e.hash);
        let changed = (now.ctime.0, now.ctime.1) >= (written.as_secs() as i64, i64::from(written.subsec_nanos()));
        (!changed && now == *e).then_some(e.hash)
    }

    /// Records `files` (relative path to the [`hash`] of the content meshgen wrote or found)
    /// as they are now on disk in `out`, made from `inputs`. A cache that cannot be written is
    /// no error: the next build reads the files instead.
    pub(super) fn save(out: &Path, files: &std::collections::BTreeMap<String, u64>, inputs: Option<Inputs>) {
        if let Some(file) = cache_file(out) {
            Index::save_file(&file, out, files, inputs);
        }
    }

    fn save_file(file: &Path, out: &Path, files: &std::collections::BTreeMap<String, u64>, inputs: Option<Inputs>) {
        let mut text = String::with_capacity(FORMAT.len() + 56 + files.len() * 96);
        text.push_str(FORMAT);
        text.push('\n');
        match inputs {
            Some(i) => text.push_str(&format!("inputs {} {}\n", i.fingerprint, i.objects)),
            None => text.push_str("inputs -\n"),
        }
        for (rel, &hash) in files {
            let Ok(meta) = std::fs::symlink_metadata(super::path_of(out, rel)) else { return };
            let e = entry_of(&meta, hash);
            let (m, c) = (e.mtime, e.ctime);
            text.push_str(&format!("{} {} {} {} {} {} {:016x} {rel}\n", e.size, m.0, m.1, c.0, c.1, e.inode, e.hash));
        }
        let Some(dir) = file.parent() else { return };
        let tmp = file.with_extension(format!("tmp-{}", std::process::id()));
        let saved = std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::write(&tmp, text))
            .and_then(|()| std::fs::rename(&tmp, file));
        if saved.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn many_files_or_many_bytes_are_worth_a_cache_entry() {
        assert!(!worth_caching(50, 50 * 1000));
        assert!(worth_caching(MIN_FILES, MIN_FILES * 10));
        // The per-namespace layout of a large estate: few files, many bytes.
        assert!(worth_caching(3, 3 * (MIN_BYTES / 2)));
    }

    /// Files by path, with the hashes of their texts, as the cache records them.
    fn hashed(files: &BTreeMap<String, String>) -> BTreeMap<String, u64> {
        files.iter().map(|(p, t)| (p.clone(), hash(t))).collect()
    }

    #[test]
    fn hashes_are_xxh3_digests_that_never_change() {
        // Pinned digests, as `xxhsum -H3` prints them: a cache written by any build of
        // meshgen must mean the same to every other (bump `FORMAT` to change the hash).
        let long = "meshgen\n".repeat(1000);
        for (text, digest) in [
            ("", 0x2d06800538d394c2),
            ("kind: A\n", 0xd8e958d4087b831c),
            ("# header\nkind: A\n", 0xafec70e96b852de0),
            (long.as_str(), 0xeead8e14511273e3),
        ] {
            assert_eq!(hash(text), digest, "{text:?}");
        }
    }

    #[test]
    fn hashing_parts_is_hashing_their_concatenation() {
        assert_eq!(hash_parts(&["# header\n", "kind: A\n"]), hash("# header\nkind: A\n"));
        assert_eq!(hash_parts(&[]), hash(""));
        // Parts across the streaming hasher's internal block boundaries.
        let long = "meshgen\n".repeat(1000);
        assert_eq!(hash_parts(&[&long[..100], &long[100..300], &long[300..]]), hash(&long));
    }

    /// An output directory of one file, `a.yaml`, its hashes, and where its cache goes.
    fn one_file() -> (tempfile::TempDir, PathBuf, BTreeMap<String, u64>, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(out.join("a.yaml"), "a\n").unwrap();
        let files = hashed(&[("a.yaml".to_string(), "a\n".to_string())].into());
        let cache = tmp.path().join("cache");
        (tmp, out, files, cache)
    }

    #[test]
    fn a_cache_of_another_format_is_no_cache() {
        let (_tmp, out, files, cache) = one_file();
        Index::save_file(&cache, &out, &files, None);
        let written = std::fs::read_to_string(&cache).unwrap();
        assert!(written.starts_with(&format!("{FORMAT}\n")), "{written}");
        assert!(Index::load_file(&cache).records("a.yaml"));
        // The same entries without the version line: what version 1 wrote.
        std::fs::write(&cache, written.strip_prefix(&format!("{FORMAT}\n")).unwrap()).unwrap();
        assert!(!Index::load_file(&cache).records("a.yaml"));
    }

    #[test]
    fn the_inputs_of_the_files_are_recorded_with_them() {
        let (_tmp, out, files, cache) = one_file();
        let inputs = Inputs { fingerprint: Fingerprint([0xab; 32]), objects: 12 };
        Index::save_file(&cache, &out, &files, Some(inputs));
        let index = Index::load_file(&cache);
        assert_eq!((index.inputs(), index.len()), (Some(inputs), 1));
        assert_eq!(Index::recorded_in(&cache), Some(inputs), "the head of the file says the same");
        assert!(index.records("a.yaml"));
        Index::save_file(&cache, &out, &files, None);
        let index = Index::load_file(&cache);
        assert_eq!((index.inputs(), index.len()), (None, 1));
        assert_eq!(Index::recorded_in(&cache), None);
        // A damaged inputs line (or none) makes the whole cache no cache.
        let text = std::fs::read_to_string(&cache).unwrap();
        for damaged in ["inputs xyz 12\n", "inputs 1f\n", ""] {
            std::fs::write(&cache, text.replace("inputs -\n", damaged)).unwrap();
            let index = Index::load_file(&cache);
            assert_eq!((index.inputs(), index.len()), (None, 0), "{damaged:?}");
            assert_eq!(Index::recorded_in(&cache), None);
        }
    }

    #[test]
    fn a_file_is_known_until_it_changes() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        std::fs::create_dir_all(out.join("ns")).unwrap();
        let files: BTreeMap<String, String> = [("ns/a.yaml", "a: 1\n"), ("ns/b.yaml", "b: 2\n")]
            .iter()
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .collect();
        for (rel, text) in &files {
            std::fs::write(super::super::path_of(&out, rel), text).unwrap();
        }
        let cache = tmp.path().join("cache");
        // Files written in the same clock tick as the cache are "racy": wait for a later one.
        std::thread::sleep(std::time::Duration::from_millis(20));
        Index::save_file(&cache, &out, &hashed(&files), None);
        let index = Index::load_file(&cache);
        let meta = |rel: &str| std::fs::metadata(super::super::path_of(&out, rel)).unwrap();
        assert_eq!(index.known("ns/a.yaml", &meta("ns/a.yaml")), Some(hash("a: 1\n")));
        assert_eq!(index.known("ns/c.yaml", &meta("ns/a.yaml")), None, "not recorded");
        // Rewritten with the same size: a new modification time, so not trusted.
        std::fs::write(super::super::path_of(&out, "ns/b.yaml"), "b: 3\n").unwrap();
        assert_eq!(index.known("ns/b.yaml", &meta("ns/b.yaml")), None);
        // Replaced by another file (another inode), even with the old time and size.
        let b = super::super::path_of(&out, "ns/a.yaml");
        let old = meta("ns/a.yaml");
        std::fs::remove_file(&b).unwrap();
        std::fs::write(&b, "a: 9\n").unwrap();
        std::fs::File::options().write(true).open(&b).unwrap().set_modified(old.modified().unwrap()).unwrap();
        assert_eq!(index.known("ns/a.yaml", &meta("ns/a.yaml")), None);
        // A cache that does not parse is no cache.
        std::fs::write(&cache, "garbage\n").unwrap();
        assert_eq!(Index::load_file(&cache).known("ns/a.yaml", &meta("ns/a.yaml")), None);
    }

    #[test]
    fn files_modified_as_the_cache_was_written_are_not_trusted() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        std::fs::create_dir_all(&out).unwrap();
        let files: BTreeMap<String, String> = [("a.yaml".to_string(), "a\n".to_string())].into();
        std::fs::write(out.join("a.yaml"), "a\n").unwrap();
        let cache = tmp.path().join("cache");
        Index::save_file(&cache, &out, &hashed(&files), None);
        // A cache written in the same clock tick as the file: an edit then cannot be told
        // apart, so the entry is not trusted (here the cache is made to look that old).
        let changed = std::fs::metadata(out.join("a.yaml")).unwrap().modified().unwrap();
        std::fs::File::options().write(true).open(&cache).unwrap().set_modified(changed).unwrap();
        let index = Index::load_file(&cache);
        let meta = std::fs::metadata(out.join("a.yaml")).unwrap();
        assert_eq!(index.known("a.yaml", &meta), None);
    }
}
