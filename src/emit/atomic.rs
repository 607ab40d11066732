//! Replacing a directory atomically while keeping what did not change.
//!
//! The new tree is built in a staging directory beside the old one: every file that stays is
//! hard-linked (same inode, so "unchanged" really means untouched), changed files are
//! written fresh and synced, stale ones are left out. Then the two directories are swapped
//! with `renameat2(RENAME_EXCHANGE)`, one atomic step on Linux; elsewhere (or where the file
//! system refuses) with two renames. Until the swap the old directory is untouched, so any
//! failure or interruption before it leaves the output exactly as it was.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

/// Removes the staging directory on drop unless the swap happened.
struct Staging {
    path: PathBuf,
    armed: bool,
}

impl Drop for Staging {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// Replaces `out` with its current content, minus `remove`, plus `writes` (relative paths).
pub(super) fn replace_dir(out: &Path, writes: &BTreeMap<&str, &str>, remove: &[&str]) -> Result<()> {
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let base = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
    let mut staging =
        Staging { path: parent.join(format!(".{base}.meshgen-staging-{}", std::process::id())), armed: true };
    if staging.path.exists() {
        fs::remove_dir_all(&staging.path).with_context(|| format!("failed to clear `{}`", staging.path.display()))?;
    }
    fs::create_dir_all(&staging.path).with_context(|| format!("failed to create `{}`", staging.path.display()))?;

    let skip: BTreeSet<&str> = remove.iter().copied().chain(writes.keys().copied()).collect();
    if out.exists() {
        copy_tree(out, &staging.path, out, &skip)?;
    }
    for (rel, text) in writes {
        let dest = super::path_of(&staging.path, rel);
        if let Some(dir) = dest.parent() {
            fs::create_dir_all(dir).with_context(|| format!("failed to create `{}`", dir.display()))?;
        }
        let mut f = fs::File::create(&dest).with_context(|| format!("failed to write `{}`", dest.display()))?;
        f.write_all(text.as_bytes()).with_context(|| format!("failed to write `{}`", dest.display()))?;
    }
    // Everything must be on disk before the swap makes it the output. One filesystem-wide
    // sync costs about what one file's fsync does, instead of one each (77,000 fsyncs took
    // a minute in the per-object layout).
    sync_tree(&staging.path, writes.keys().map(|rel| super::path_of(&staging.path, rel)))?;

    if out.exists() {
        swap(&staging.path, out)?;
        // The staging path now holds the old tree; the drop guard removes it.
    } else {
        fs::rename(&staging.path, out)
            .with_context(|| format!("failed to move the new output into `{}`", out.display()))?;
        staging.armed = false;
    }
    Ok(())
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
    // Fallback: two renames; the window between them is the only non-atomic moment.
    let old = a.with_extension("old");
    fs::rename(b, &old).with_context(|| format!("failed to move `{}` aside", b.display()))?;
    if let Err(e) = fs::rename(a, b) {
        let _ = fs::rename(&old, b);
        return Err(e).with_context(|| format!("failed to move the new output into `{}`", b.display()));
    }
    fs::rename(&old, a).with_context(|| format!("failed to clean up `{}`", old.display()))?;
    Ok(())
}
