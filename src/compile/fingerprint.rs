//! The fingerprint of a build's inputs: one digest of everything the build's output is made
//! from, so that a build can tell, before compiling anything, that it would make the output
//! it made last time.
//!
//! What goes in: this meshgen executable (its file's identity: a rebuilt or upgraded binary
//! is another one, whatever its version says), the current directory, the options, what the
//! command adds (the layout), and every file read, by name, path and text: the project file,
//! the inventory and the selected overlays (the walk's result, so `.gitignore` changes count
//! through the files they add or hide), overridden templates, and the committed VIP table a
//! `vipRange` allocates against. Where an input cannot be read this way there is no
//! fingerprint, and the build compiles: with CRDs to validate against (a directory the build
//! reads only when it must), or when loading found anything to report.
//!
//! The digest is XXH3-128 over length-prefixed parts, so no two different sequences of
//! inputs run together into the same bytes.

use std::path::Path;

use xxhash_rust::xxh3::Xxh3;

use super::{Loaded, Options};

/// A digest of a build's inputs (see the module's documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub u128);

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl std::str::FromStr for Fingerprint {
    type Err = std::num::ParseIntError;

    fn from_str(s: &str) -> Result<Fingerprint, Self::Err> {
        u128::from_str_radix(s, 16).map(Fingerprint)
    }
}

/// The digest being made: each part is preceded by its length.
struct Digest(Xxh3);

impl Digest {
    fn part(&mut self, bytes: &[u8]) {
        self.0.update(&(bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
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
        let mut d = Digest(Xxh3::new());
        d.part(b"meshgen inputs 1");
        d.part(env!("CARGO_PKG_VERSION").as_bytes());
        d.part(&executable()?);
        d.path(&std::env::current_dir().ok()?);
        d.part(format!("{options:?}").as_bytes());
        d.part(command.as_bytes());
        for s in &self.sources {
            d.part(s.name.as_bytes());
            d.path(&s.path);
            d.part(s.text.as_bytes());
        }
        if let Some(dir) = &self.project.templates {
            let files = crate::render::templates::user_files(dir).ok()?;
            for (name, path) in files {
                d.part(name.as_bytes());
                d.part(&std::fs::read(path).ok()?);
            }
        }
        if self.project.vip_range.is_some() {
            match std::fs::read(self.project.output.join(crate::model::vips::FILE)) {
                Ok(table) => d.part(&table),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => d.part(b"no VIP table"),
                Err(_) => return None,
            }
        }
        Some(Fingerprint(d.0.digest128()))
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
    Some(xxhash_rust::xxh3::xxh3_128(&bytes).to_le_bytes().to_vec())
}
