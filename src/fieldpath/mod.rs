//! Paths to fields of Kubernetes objects, written as Kubernetes writes them: fields joined by
//! dots, list items and map entries in brackets (`spec.hosts[0]`, `metadata.labels[app]`).
//!
//! Two walks over objects name fields this way: CRD validation, for the field a finding is
//! about (in the API server's words), and `diff`, for the fields that changed (which
//! `--ignore` must read back, see [`IgnorePath`]). They differ only in how a key is written,
//! so both build their paths here; the `--ignore` syntax that reads them back is here too
//! (a leaf: the project file's `diff.ignore` is checked where it is parsed, with its line).

mod ignore;

pub use ignore::IgnorePath;

use std::fmt;

/// A path built step by step while walking an object: a step is pushed on the way down, and
/// [`FieldPath::back_to`] takes it off on the way back up.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FieldPath(String);

/// A length of a [`FieldPath`], to return to once the steps pushed after it are done with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark(usize);

impl FieldPath {
    /// The empty path (the object itself).
    pub fn new() -> FieldPath {
        FieldPath::default()
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Where the path stands now, for [`FieldPath::back_to`].
    pub fn mark(&self) -> Mark {
        Mark(self.0.len())
    }

    /// Takes off the steps pushed since `mark`.
    pub fn back_to(&mut self, mark: Mark) {
        self.0.truncate(mark.0);
    }

    /// Appends field `name` as it is, whatever its characters: `a.b` (`b` at the root). For a
    /// field a schema declares, which Kubernetes prints so.
    pub fn field(&mut self, name: &str) {
        if !self.0.is_empty() {
            self.0.push('.');
        }
        self.0.push_str(name);
    }

    /// Appends map entry `key` in brackets, unquoted: `labels[app]`, as the API server's
    /// validation messages print the entries of a map.
    pub fn entry(&mut self, key: &str) {
        self.0.push('[');
        self.0.push_str(key);
        self.0.push(']');
    }

    /// Appends `key` as a field when a plain field reads it back exactly, else as a quoted
    /// entry (`["example.com/owner"]`, a JSON string), so that the printed path names the
    /// same field when it is parsed again (by `--ignore`).
    pub fn key(&mut self, key: &str) {
        let plain = !key.is_empty()
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'/' | b'$' | b'@' | b':'));
        if plain {
            self.field(key);
        } else {
            self.entry(&serde_json::Value::from(key).to_string());
        }
    }

    /// Appends list item `i`: `hosts[0]`.
    pub fn index(&mut self, i: usize) {
        use fmt::Write as _;
        let _ = write!(self.0, "[{i}]");
    }

    /// This path with field `name` appended.
    pub fn with_field(&self, name: &str) -> FieldPath {
        let mut p = self.clone();
        p.field(name);
        p
    }

    /// This path with map entry `key` appended.
    pub fn with_entry(&self, key: &str) -> FieldPath {
        let mut p = self.clone();
        p.entry(key);
        p
    }

    /// This path with list item `i` appended.
    pub fn with_index(&self, i: usize) -> FieldPath {
        let mut p = self.clone();
        p.index(i);
        p
    }
}

impl std::ops::Deref for FieldPath {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<FieldPath> for String {
    fn from(p: FieldPath) -> String {
        p.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_entries_and_indexes_as_kubernetes_writes_them() {
        let mut p = FieldPath::new();
        assert_eq!(p.as_str(), "");
        p.field("spec");
        p.field("hosts");
        p.index(0);
        assert_eq!(p.as_str(), "spec.hosts[0]");
        let mut m = FieldPath::new();
        m.field("metadata");
        m.field("labels");
        m.entry("app.kubernetes.io/name");
        assert_eq!(m.to_string(), "metadata.labels[app.kubernetes.io/name]");
        // An index or entry at the root has no dot before it, a field after one has.
        let mut r = FieldPath::new();
        r.index(2);
        r.field("name");
        assert_eq!(&*r, "[2].name");
        assert_eq!(FieldPath::new().with_field("a").with_index(3).with_field("b").as_str(), "a[3].b");
        assert_eq!(FieldPath::new().with_field("labels").with_entry("app").as_str(), "labels[app]");
    }

    #[test]
    fn keys_are_plain_when_they_read_back_else_quoted() {
        let mut p = FieldPath::new();
        for k in ["metadata", "labels", "team/owner"] {
            p.key(k);
        }
        assert_eq!(p.as_str(), "metadata.labels.team/owner");
        let mut q = FieldPath::new();
        for k in ["metadata", "annotations", "example.com/owner", "a b", "", "say \"hi\""] {
            q.key(k);
        }
        assert_eq!(q.as_str(), r#"metadata.annotations["example.com/owner"]["a b"][""]["say \"hi\""]"#);
    }

    #[test]
    fn back_to_a_mark_takes_off_the_steps_since() {
        let mut p = FieldPath::new();
        p.field("spec");
        let m = p.mark();
        p.field("ports");
        p.index(1);
        p.key("x.y");
        assert_eq!(p.as_str(), r#"spec.ports[1]["x.y"]"#);
        p.back_to(m);
        assert_eq!(p.as_str(), "spec");
        p.back_to(FieldPath::new().mark());
        assert_eq!(p, FieldPath::new());
        assert_eq!(String::from(FieldPath::new().with_field("a")), "a");
    }
}
