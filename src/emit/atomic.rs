//! Replacing a directory atomically while keeping what did not change.
//!
//! The new tree is built in a staging directory beside the old one: every file that stays is
//! hard-linked (same inode, so "unchanged" really means untouched), changed files are
//! written fresh and synced, stale ones are left out. Then the two directories are swapped
//! with `renameat2(RENAME_EXCHANGE)`, one atomic step on Linux; elsewhere (or where the file
//! system refuses) with two renames. Until the swap the old directory is untouched, so any
//! failure or interruption before it leaves the output exactly as it was.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use anyhow::{Context as _, Result, bail};

/// The directory holding `out`, and `out`'s file name.
fn parent_and_base(out: &Path) -> (PathBuf, String) {
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let base = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
    (parent, base)
}

/// How long a build waits for another build of the same output directory, unless
/// `MESHGEN_LOCK_TIMEOUT` (seconds) says otherwise.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

/// An advisory lock (`flock`) on `.out.meshgen.lock` beside the output directory, held from
/// reading the output to the swap, so that two builds into one directory (two CI jobs, a
/// watcher and a terminal) run one after the other. Released when dropped, or when the
/// process ends however it ends.
pub(super) struct Lock {
    #[cfg_attr(not(unix), allow(dead_code))]
    file: fs::File,
}

impl Lock {
    /// Takes the lock of `out`, waiting (with a message) a bounded time for another build
    /// holding it; fails naming that build's process.
    pub(super) fn take(out: &Path) -> Result<Lock> {
        let (parent, base) = parent_and_base(out);
        fs::create_dir_all(&parent).with_context(|| format!("failed to create `{}`", parent.display()))?;
        let path = parent.join(format!(".{base}.meshgen.lock"));
        let mut options = fs::File::options();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.custom_flags(libc::O_NOFOLLOW);
        }
        let file = options.open(&path).with_context(|| format!("failed to open the lock file `{}`", path.display()))?;
        let lock = Lock { file };
        #[cfg(unix)]
        lock.wait(&path)?;
        Ok(lock)
    }

    #[cfg(unix)]
    fn wait(&self, path: &Path) -> Result<()> {
        use std::io::{Read as _, Seek as _};
        use std::os::fd::AsRawFd as _;
        let wait = std::env::var("MESHGEN_LOCK_TIMEOUT")
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .and_then(|s| std::time::Duration::try_from_secs_f64(s).ok())
            .unwrap_or(LOCK_WAIT);
        let start = std::time::Instant::now();
        let mut told = false;
        let holder = || {
            let mut text = String::new();
            let _ = (&self.file).seek(std::io::SeekFrom::Start(0)).and_then(|_| (&self.file).read_to_string(&mut text));
            match text.trim().parse::<u32>() {
                Ok(pid) => format!("process {pid}"),
                Err(_) => "another process".to_string(),
            }
        };
        loop {
            // SAFETY: the descriptor is valid while `self.file` lives.
            if unsafe { libc::flock(self.file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                break;
            }
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(err).with_context(|| format!("failed to lock `{}`", path.display()));
            }
            if start.elapsed() >= wait {
                bail!(
                    "another build into the same output directory holds `{}` ({}); gave up after waiting {:.0?}",
                    path.display(),
                    holder(),
                    wait
                );
            }
            if !told {
                eprintln!(
                    "waiting for {} to finish its build into the same output (lock `{}`)",
                    holder(),
                    path.display()
                );
                told = true;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        // Ours now: record the pid for whoever waits next.
        let mut file = &self.file;
        use std::io::Write as _;
        let _ = file
            .set_len(0)
            .and_then(|()| file.seek(std::io::SeekFrom::Start(0)))
            .and_then(|_| writeln!(file, "{}", std::process::id()));
        Ok(())
    }
}

/// Where the old output is moved aside by the two-rename fallback of [`swap`].
fn old_path(out: &Path) -> PathBuf {
    let (parent, base) = parent_and_base(out);
    parent.join(format!(".{base}.old"))
}

/// Repairs what an interrupted earlier build left beside `out`: a staging directory of a
/// process that no longer runs is removed, and the old output moved aside by the fallback of
/// [`swap`] (`.out.old`) is moved back when `out` is missing, or removed when `out` is there
/// (the new output was already in place).
pub(super) fn recover(out: &Path) -> Result<()> {
    let (parent, base) = parent_and_base(out);
    let prefix = format!(".{base}.meshgen-staging-");
    if let Ok(entries) = fs::read_dir(&parent) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(&prefix)).and_then(|p| p.parse::<u32>().ok())
            else {
                continue;
            };
            if pid != std::process::id() && !alive(pid) {
                let path = entry.path();
                // A link is removed as a link, never followed.
                let removed = if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    fs::remove_dir_all(&path)
                } else {
                    fs::remove_file(&path)
                };
                removed.with_context(|| format!("failed to remove `{}`, left by a killed build", path.display()))?;
            }
        }
    }
    let old = old_path(out);
    let Ok(meta) = fs::symlink_metadata(&old) else { return Ok(()) };
    // Only an output of meshgen's (its kustomization carries the header) is moved or removed.
    let ours =
        meta.is_dir() && fs::read_to_string(old.join("kustomization.yaml")).is_ok_and(|k| k.starts_with(super::HEADER));
    if !ours {
        bail!(
            "`{}` is in the way of meshgen's output swap and does not hold an output of meshgen's; move it away",
            old.display()
        );
    }
    if fs::symlink_metadata(out).is_err() {
        fs::rename(&old, out).with_context(|| {
            format!("failed to move the output left aside by an interrupted build, `{}`, back", old.display())
        })?;
    } else {
        fs::remove_dir_all(&old).with_context(|| format!("failed to remove `{}`", old.display()))?;
    }
    Ok(())
}

/// Whether process `pid` exists (a process of another user counts as existing).
#[cfg(unix)]
fn alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    // SAFETY: signal 0 checks for the process without sending anything.
    unsafe { libc::kill(pid, 0) == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH) }
}

#[cfg(not(unix))]
fn alive(_pid: u32) -> bool {
    true
}

/// The new output being assembled beside `out`: the files that change are written into it
/// as they come, then [`Staging::swap`] links in every other file of `out` and swaps the
/// two. Dropped before the swap (an error, a panic), it is removed and `out` is as it was.
pub(super) struct Staging {
    path: PathBuf,
    /// Whether the directory at `path` is ours to remove when dropped.
    armed: bool,
    /// Directories of the staging tree known to be real directories (not symbolic links).
    /// Files are written from several threads at once: each holds this while it makes the
    /// directories of its file.
    real_dirs: Mutex<BTreeSet<PathBuf>>,
    /// The files written, relative to the output directory (in no particular order).
    written: Mutex<Vec<String>>,
}

impl Drop for Staging {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

impl Staging {
    /// An empty staging directory for `out` (one a killed build of this process id left is
    /// cleared first).
    pub(super) fn create(out: &Path) -> Result<Staging> {
        let (parent, base) = parent_and_base(out);
        let staging = Staging {
            path: parent.join(format!(".{base}.meshgen-staging-{}", std::process::id())),
            armed: true,
            real_dirs: Mutex::default(),
            written: Mutex::default(),
        };
        if staging.path.exists() {
            fs::remove_dir_all(&staging.path)
                .with_context(|| format!("failed to clear `{}`", staging.path.display()))?;
        }
        fs::create_dir_all(&staging.path).with_context(|| format!("failed to create `{}`", staging.path.display()))?;
        Ok(staging)
    }

    /// Writes the new file `rel` (relative to the output directory `out`) with `text`; from
    /// any thread.
    pub(super) fn write(&self, out: &Path, rel: &str, text: &[u8]) -> Result<()> {
        let dest = super::path_of(&self.path, rel);
        real_dir_of(&self.path, out, rel, &mut self.real_dirs.lock().unwrap_or_else(PoisonError::into_inner))?;
        // `create_new` never follows a symbolic link in the file's place (it fails instead).
        let mut f = fs::File::options()
            .write(true)
            .create_new(true)
            .open(&dest)
            .with_context(|| format!("failed to write `{}`", dest.display()))?;
        f.write_all(text).with_context(|| format!("failed to write `{}`", dest.display()))?;
        start_writeback(&f, text.len());
        self.written.lock().unwrap_or_else(PoisonError::into_inner).push(rel.to_string());
        Ok(())
    }

    /// Makes the staging tree `out`'s content, less `remove` and the files written, plus the
    /// files written; then swaps it in.
    pub(super) fn swap(mut self, out: &Path, remove: &[&str]) -> Result<()> {
        let written = std::mem::take(self.written.get_mut().unwrap_or_else(PoisonError::into_inner));
        let skip: BTreeSet<&str> = remove.iter().copied().chain(written.iter().map(String::as_str)).collect();
        if out.exists() {
            copy_tree(out, &self.path, out, &skip)?;
            keep_mode(out, &self.path)?;
        }
        // Everything must be on disk before the swap makes it the output. One filesystem-wide
        // sync costs about what one file's fsync does, instead of one each (the per-object
        // layout writes a file per object).
        sync_tree(&self.path, written.iter().map(|rel| super::path_of(&self.path, rel)))?;
        if out.exists() {
            swap(&self.path, out)?;
            // The staging path now holds the old tree; the drop guard removes it.
        } else {
            fs::rename(&self.path, out)
                .with_context(|| format!("failed to move the new output into `{}`", out.display()))?;
            self.armed = false;
        }
        Ok(())
    }
}

/// Creates the directories of `rel` under `root`, failing where one is a symbolic link (or
/// anything else but a directory): a file is never written through a link. A directory
/// created keeps the mode of its namesake in `out`, if there is one.
fn real_dir_of(root: &Path, out: &Path, rel: &str, known: &mut BTreeSet<PathBuf>) -> Result<()> {
    let mut dir = root.to_path_buf();
    let mut was = out.to_path_buf();
    let Some((dirs, _file)) = rel.rsplit_once('/') else { return Ok(()) };
    for c in dirs.split('/') {
        dir.push(c);
        was.push(c);
        if known.contains(&dir) {
            continue;
        }
        match fs::symlink_metadata(&dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => bail!("refusing to write `{rel}`: `{}` is not a directory (a symbolic link?)", dir.display()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                fs::create_dir(&dir).with_context(|| format!("failed to create `{}`", dir.display()))?;
                if fs::symlink_metadata(&was).is_ok_and(|m| m.is_dir()) {
                    keep_mode(&was, &dir)?;
                }
            }
            Err(e) => return Err(e).with_context(|| format!("failed to look at `{}`", dir.display())),
        }
        known.insert(dir.clone());
    }
    Ok(())
}

/// Files of at least this many bytes are handed to the disk as soon as they are written
/// ([`start_writeback`]).
const EARLY_WRITEBACK: usize = 64 << 10;

/// Starts writing a large file just written to disk, without waiting for it
/// (`sync_file_range(SYNC_FILE_RANGE_WRITE)`): the disk then works while the rest of the
/// output is rendered, and the sync before the swap ([`sync_tree`]) finds little left to wait
/// for. Small files are left to that sync: one system call each would cost more than their
/// write-back. Only a hint: a failure changes nothing (the sync still flushes everything).
#[cfg_attr(not(target_os = "linux"), allow(unused_variables))]
fn start_writeback(f: &fs::File, len: usize) {
    #[cfg(target_os = "linux")]
    if len >= EARLY_WRITEBACK {
        use std::os::fd::AsRawFd as _;
        // SAFETY: the descriptor is valid for the duration of the call; no memory is passed.
        unsafe { libc::sync_file_range(f.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
    }
}

/// Flushes the written files to disk: `syncfs` on Linux, each file's `fsync` elsewhere.
#[cfg_attr(not(target_os = "linux"), allow(unused_variables))]
fn sync_tree(dir: &Path, files: impl Iterator<Item = PathBuf>) -> Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd as _;
        let d = fs::File::open(dir).with_context(|| format!("failed to open `{}`", dir.display()))?;
        // SAFETY: the descriptor is valid for the duration of the call.
        if unsafe { libc::syncfs(d.as_raw_fd()) } == 0 {
            return Ok(());
        }
    }
    for f in files {
        fs::File::open(&f).and_then(|h| h.sync_all()).with_context(|| format!("failed to sync `{}`", f.display()))?;
    }
    Ok(())
}

/// Recreates `src` under `dst`: directories, hard links to files (copies where links fail),
/// symlinks as symlinks; paths in `skip` (relative to `root`) are left out.
fn copy_tree(src: &Path, dst: &Path, root: &Path, skip: &BTreeSet<&str>) -> Result<()> {
    for entry in fs::read_dir(src).with_context(|| format!("failed to read `{}`", src.display()))? {
        let entry = entry?;
        let path = entry.path();
        let ty = entry.file_type()?;
        let rel = crate::load::display_name(root, &path);
        let target = dst.join(entry.file_name());
        if ty.is_dir() {
            fs::create_dir_all(&target).with_context(|| format!("failed to create `{}`", target.display()))?;
            copy_tree(&path, &target, root, skip)?;
            keep_mode(&path, &target)?;
            // A directory that only held removed files goes away with them.
            if fs::read_dir(&target)?.next().is_none() && fs::read_dir(&path)?.next().is_some() {
                fs::remove_dir(&target)?;
            }
        } else if skip.contains(rel.as_str()) {
            continue;
        } else if ty.is_symlink() {
            let link = fs::read_link(&path)?;
            symlink(&link, &target)?;
        } else if fs::hard_link(&path, &target).is_err() {
            fs::copy(&path, &target).with_context(|| format!("failed to copy `{}`", path.display()))?;
        }
    }
    Ok(())
}

/// Gives directory `dst` the permissions of `src` (a swapped-in tree keeps the modes of the
/// one it replaces).
fn keep_mode(src: &Path, dst: &Path) -> Result<()> {
    let permissions = fs::metadata(src).with_context(|| format!("failed to read `{}`", src.display()))?.permissions();
    fs::set_permissions(dst, permissions).with_context(|| format!("failed to set the mode of `{}`", dst.display()))
}

#[cfg(unix)]
fn symlink(link: &Path, target: &Path) -> Result<()> {
    std::os::unix::fs::symlink(link, target)
        .with_context(|| format!("failed to recreate symlink `{}`", target.display()))
}

#[cfg(not(unix))]
fn symlink(_link: &Path, target: &Path) -> Result<()> {
    bail!("cannot recreate symlink `{}` on this platform", target.display())
}

/// Exchanges two directories.
fn swap(a: &Path, b: &Path) -> Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::ffi::CString;
        let ca = CString::new(a.as_os_str().as_encoded_bytes())?;
        let cb = CString::new(b.as_os_str().as_encoded_bytes())?;
        // SAFETY: both pointers are valid NUL-terminated strings for the duration of the call.
        let rc =
            unsafe { libc::renameat2(libc::AT_FDCWD, ca.as_ptr(), libc::AT_FDCWD, cb.as_ptr(), libc::RENAME_EXCHANGE) };
        if rc == 0 {
            return Ok(());
        }
        let err = std::io::Error::last_os_error();
        if !matches!(err.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOSYS) | Some(libc::ENOTSUP)) {
            bail!("failed to swap `{}` into place: {err}", b.display());
        }
    }
    // Fallback: two renames; the window between them is the only non-atomic moment, and a
    // build killed in it leaves `.out.old`, which the next build's [`recover`] moves back.
    let old = old_path(b);
    fs::rename(b, &old).with_context(|| format!("failed to move `{}` aside", b.display()))?;
    if let Err(e) = fs::rename(a, b) {
        let _ = fs::rename(&old, b);
        return Err(e).with_context(|| format!("failed to move the new output into `{}`", b.display()));
    }
    // The new output is in place: nothing after this may report failure. The old tree goes
    // where the staging directory was, for the drop guard; if that fails, the next build
    // removes `.out.old`.
    let _ = fs::rename(&old, a);
    Ok(())
}
