//! The fingerprint of a build's inputs: one digest of everything the build's output is made
//! from, so that a build can tell, before compiling anything, that it would make the output
//! it made last time.
//!
//! What goes in: this meshgen executable (its file's identity: a rebuilt or upgraded binary
//! is another one, whatever its version says), the current directory, the options, what the
//! command adds (the layout), and every file read, by name, path and text: the project file,
//! the inventory and the selected overlays (the walk's result, so `.gitignore` changes count
//! through the files they add or hide), overridden templates, and the committed VIP table a
//! `vipRange` allocates against. Each of those files is read once, by [`super::load()`]: the
//! build renders from the very texts its fingerprint covers, even if a file changes while it
//! runs. Where an input cannot be read this way there is no fingerprint, and the build
//! compiles: with CRDs to validate against (a directory the build reads only when it must),
//! or when loading found anything to report.
//!
//! The digest is SHA-256 over length-prefixed parts, each list preceded by its length, so no
//! two different sequences of inputs run together into the same bytes. A cryptographic hash
//! because the inventory may come from someone else (a pull request): nobody can make an
//! inventory that passes for the one last built.

use std::path::Path;

use sha2::{Digest as _, Sha256};

use super::{Loaded, Options};

/// A digest of a build's inputs (see the module's documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl std::str::FromStr for Fingerprint {
    type Err = String;

    fn from_str(s: &str) -> Result<Fingerprint, String> {
        let bad = || format!("not a fingerprint: `{s}`");
        if s.len() != 64 || !s.is_ascii() {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        Ok(Fingerprint(out))
    }
}

/// The digest being made: each part is preceded by its length, each list by its count.
struct Digest(Sha256);

impl Digest {
    fn part(&mut self, bytes: &[u8]) {
        self.count(bytes.len());
        self.0.update(bytes);
    }

    fn count(&mut self, n: usize) {
        self.0.update((n as u64).to_le_bytes());
    }

    fn path(&mut self, path: &Path) {
        self.part(path.as_os_str().as_encoded_bytes());
    }
}

impl Loaded {
    /// The fingerprint of this build: the inputs [`super::load()`] read, `options`, and
    /// `command` (what the command adds to how the output is made, e.g. its layout). `None`
    /// when loading found anything to report (the build must compile to say it again) or an
    /// input is outside what a fingerprint covers (see the module's documentation).
    pub fn fingerprint(&self, options: &Options, command: &str) -> Option<Fingerprint> {
        if !self.diags.is_empty() || self.overlays.is_none() || options.crds.is_some() || self.project.crds.is_some() {
            return None;
        }
        let mut d = Digest(Sha256::new());
        d.part(b"meshgen inputs 1");
        d.part(env!("CARGO_PKG_VERSION").as_bytes());
        d.part(&executable()?);
        d.path(&std::env::current_dir().ok()?);
        d.part(format!("{options:?}").as_bytes());
        d.part(command.as_bytes());
        d.count(self.sources.len());
        for s in &self.sources {
            d.part(s.name.as_bytes());
            d.path(&s.path);
            d.part(s.text.as_bytes());
        }
        match &self.overrides {
            None => d.count(0),
            Some(Ok(overrides)) => {
                // One more than the files, so that no overrides and none given differ.
                d.count(overrides.files.len() + 1);
                for (name, text) in &overrides.files {
                    d.part(name.as_bytes());
                    d.part(text.as_bytes());
                }
            }
            Some(Err(_)) => return None,
        }
        match &self.vip_table {
            None => d.count(0),
            Some(Ok(table)) => {
                d.count(1);
                d.part(table.as_bytes());
            }
            Some(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => d.count(2),
            Some(Err(_)) => return None,
        }
        Some(Fingerprint(d.0.finalize().into()))
    }
}

/// The identity of the running executable's file: device, inode, size, and modification and
/// change times. Rebuilding or replacing it changes them (the change time cannot be set by
/// any tool), so output made by another build of meshgen is never taken for this one's.
#[cfg(unix)]
fn executable() -> Option<Vec<u8>> {
    use std::os::unix::fs::MetadataExt as _;
    let meta = std::fs::metadata(std::env::current_exe().ok()?).ok()?;
    let fields = [
        meta.dev(),
        meta.ino(),
        meta.size(),
        meta.mtime() as u64,
        meta.mtime_nsec() as u64,
        meta.ctime() as u64,
        meta.ctime_nsec() as u64,
    ];
    Some(fields.iter().flat_map(|f| f.to_le_bytes()).collect())
}

/// Without inode numbers and change times, the executable's bytes themselves.
#[cfg(not(unix))]
fn executable() -> Option<Vec<u8>> {
    let bytes = std::fs::read(std::env::current_exe().ok()?).ok()?;
    Some(Sha256::digest(&bytes).to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fingerprint_reads_back_as_written() {
        let f = Fingerprint(std::array::from_fn(|i| (i * 37) as u8));
        assert_eq!(f.to_string().parse::<Fingerprint>(), Ok(f));
        assert_eq!(f.to_string().len(), 64);
        for bad in ["", "00", &"g".repeat(64), &"0".repeat(63), &"é".repeat(32)] {
            assert!(bad.parse::<Fingerprint>().is_err(), "{bad:?}");
        }
    }
}
