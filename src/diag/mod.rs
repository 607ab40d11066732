//! Diagnostics: what is wrong with an inventory, where, and how to fix it.
//!
//! Every stage reports problems in the user's input as [`Diagnostic`]s. They are collected
//! (never returned as the first `Err`), so one run shows every problem. A diagnostic names its
//! place as a file plus a YAML path; the line and column are looked up only when the
//! diagnostic is printed ([`locate`]), so a clean build never pays for position tracking.

pub mod codes;
pub mod docs;
pub mod escape;
pub use crate::yaml::locate;
mod machine;
pub mod render;
pub mod suggest;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The build refuses to write anything.
    Error,
    /// Reported, but the build goes on.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// Which part of a YAML mapping entry a diagnostic points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Part {
    /// The value at the path (the default).
    #[default]
    Value,
    /// The key of the mapping entry at the path (e.g. an unknown field name).
    Key,
}

/// Where in the inventory a diagnostic points.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Origin {
    /// The file, relative to the project directory, with `/` separators.
    pub file: Arc<str>,
    /// The 0-based index of the YAML document in the file.
    pub doc: u32,
    /// The YAML path, e.g. `services.catalog.vms[1].address` (empty for the document root).
    pub path: Box<str>,
    /// Whether to point at the key or at the value.
    pub part: Part,
    /// A position known up front (YAML syntax errors come with one); 1-based line and
    /// column. Boxed, like the path, and the document a `u32`: every VM, dependency and route
    /// holds an origin (a million at 100,000 services), and this was 80 bytes, now 48.
    pub position: Option<Box<(usize, usize)>>,
}

impl Origin {
    /// An origin pointing at the value at `path` in document `doc` of `file`.
    pub fn new(file: &Arc<str>, doc: usize, path: impl Into<String>) -> Origin {
        // A file of over four billion documents is far beyond `load::Limits`.
        let doc = u32::try_from(doc).unwrap_or(u32::MAX);
        Origin { file: file.clone(), doc, path: path.into().into_boxed_str(), part: Part::Value, position: None }
    }

    /// The same place, pointing at the mapping key instead of the value.
    pub fn key(mut self) -> Origin {
        self.part = Part::Key;
        self
    }

    /// A child path: `field` is appended with a `.` (or as is when it starts with `[`).
    pub fn child(&self, field: &str) -> Origin {
        let path = join_path(&self.path, field).into_boxed_str();
        Origin { file: self.file.clone(), doc: self.doc, path, part: Part::Value, position: None }
    }

    /// A sequence element of the value at this origin.
    pub fn index(&self, i: usize) -> Origin {
        use std::fmt::Write as _;
        let digits = i.checked_ilog10().unwrap_or(0) as usize + 1;
        // Sized exactly, so that boxing it does not copy it again.
        let mut path = String::with_capacity(self.path.len() + digits + 2);
        path.push_str(&self.path);
        // Writing to a String cannot fail.
        let _ = write!(path, "[{i}]");
        let path = path.into_boxed_str();
        Origin { file: self.file.clone(), doc: self.doc, path, part: Part::Value, position: None }
    }
}

/// Joins a YAML path and a child segment (`a.b` + `c` = `a.b.c`, `a` + `[0]` = `a[0]`).
pub fn join_path(base: &str, field: &str) -> String {
    // Built by hand rather than with `format!`: every VM, port and dependency gets an
    // origin, and the formatting machinery was a measurable part of reading the inventory.
    let mut path = String::with_capacity(base.len() + 1 + field.len());
    path.push_str(base);
    if !base.is_empty() && !field.starts_with('[') {
        path.push('.');
    }
    path.push_str(field);
    path
}

/// The entity part of a YAML path: `services.web` of `services.web.ports.http` (entity
/// names are DNS labels, so they hold no `.`).
fn entity_path(path: &str) -> &str {
    let end = path.match_indices(['.', '[']).nth(1).map_or(path.len(), |(i, _)| i);
    &path[..end]
}

/// True when `o` is `scope` or inside it (same file and document, path below).
fn within(o: &Origin, scope: &Origin) -> bool {
    o.file == scope.file
        && o.doc == scope.doc
        && o.path.strip_prefix(&*scope.path).is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
}

/// One problem found in the inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// A stable kebab-case code, documented in the README (e.g. `unknown-field`).
    pub code: &'static str,
    /// What is wrong: lowercase, no trailing period, names in backticks.
    pub message: String,
    /// Where it is wrong.
    pub origin: Origin,
    /// Other places that explain the problem ("the first definition is here").
    pub related: Vec<(Origin, String)>,
    /// How to fix it.
    pub help: Option<String>,
}

impl Diagnostic {
    /// A new error.
    pub fn error(code: &'static str, origin: Origin, message: impl Into<String>) -> Diagnostic {
        Diagnostic { severity: Severity::Error, code, message: message.into(), origin, related: Vec::new(), help: None }
    }

    /// A new warning.
    pub fn warning(code: &'static str, origin: Origin, message: impl Into<String>) -> Diagnostic {
        Diagnostic { severity: Severity::Warning, ..Diagnostic::error(code, origin, message) }
    }

    /// Adds a fix hint.
    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// Adds a hint when there is one.
    pub fn maybe_help(mut self, help: Option<String>) -> Diagnostic {
        if help.is_some() {
            self.help = help;
        }
        self
    }

    /// Adds a related location.
    pub fn related(mut self, origin: Origin, note: impl Into<String>) -> Diagnostic {
        self.related.push((origin, note.into()));
        self
    }
}

/// A growing list of diagnostics, the common currency of all stages.
#[derive(Debug, Default, Clone)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// Records one diagnostic.
    pub fn push(&mut self, d: Diagnostic) {
        self.items.push(d);
    }

    /// Records all of `other`.
    pub fn extend(&mut self, other: Diagnostics) {
        self.items.extend(other.items);
    }

    /// True when any error (not warning) was recorded.
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    /// Number of errors and warnings.
    pub fn counts(&self) -> (usize, usize) {
        let errors = self.items.iter().filter(|d| d.severity == Severity::Error).count();
        (errors, self.items.len() - errors)
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Drops suppressed findings: those whose code is in `allow` (`--allow`), and those at
    /// or below a scope with an `ignore` entry for their code (`scopes`: scope, code, where
    /// the entry is). Unsuppressible codes are kept whatever is asked. An `ignore` entry
    /// that suppressed nothing becomes an `unused-ignore` warning, so stale ones get cleaned.
    pub fn suppress(&mut self, allow: &[String], scopes: &[(&Origin, &'static str, &Origin)]) {
        let mut used = vec![false; scopes.len()];
        // Scopes are entities (`services.<name>`): index them by file, document, entity
        // path and code, and look each diagnostic's entity up instead of scanning them all.
        let mut index: HashMap<(&str, u32, &str, &str), usize> = HashMap::new();
        for (i, (scope, code, _)) in scopes.iter().enumerate() {
            index.entry((&scope.file, scope.doc, entity_path(&scope.path), code)).or_insert(i);
        }
        self.items.retain(|d| {
            if !codes::lookup(d.code).is_some_and(|c| c.suppressible) {
                return true;
            }
            // The entity's own entry is matched first, so that `--allow` does not make it
            // look unused.
            let key = (&*d.origin.file, d.origin.doc, entity_path(&d.origin.path), d.code);
            let hit = index.get(&key).copied().filter(|i| within(&d.origin, scopes[*i].0));
            if let Some(i) = hit {
                used[i] = true;
            }
            hit.is_none() && !allow.iter().any(|a| a == d.code)
        });
        for ((_, code, at), used) in scopes.iter().zip(used) {
            if !used && !allow.iter().any(|a| a == "unused-ignore") {
                self.items.push(
                    Diagnostic::warning("unused-ignore", (*at).clone(), format!("nothing to ignore: no `{code}` here"))
                        .help("remove this entry"),
                );
            }
        }
    }

    /// Lets `f` amend every diagnostic (e.g. move it to the overlay that set its value).
    pub fn for_each_mut(&mut self, f: impl FnMut(&mut Diagnostic)) {
        self.items.iter_mut().for_each(f);
    }

    /// Turns every warning into an error (`--deny warnings`).
    pub fn deny_warnings(&mut self) {
        for d in &mut self.items {
            d.severity = Severity::Error;
        }
    }

    /// The diagnostics in a stable order: by file, document, path, then code and message.
    pub fn sorted(mut self) -> Vec<Diagnostic> {
        self.items.sort_by(|a, b| {
            (&a.origin.file, a.origin.doc, &a.origin.path, a.code, &a.message).cmp(&(
                &b.origin.file,
                b.origin.doc,
                &b.origin.path,
                b.code,
                &b.message,
            ))
        });
        self.items.dedup();
        self.items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_paths() {
        assert_eq!(entity_path("services.web.ports.http"), "services.web");
        assert_eq!(entity_path("externals.x.hosts[0]"), "externals.x");
        assert_eq!(entity_path("services.web"), "services.web");
        assert_eq!(entity_path("services"), "services");
    }

    #[test]
    fn an_ignore_entry_suppresses_its_code_inside_its_entity_only() {
        let f: Arc<str> = Arc::from("a.yaml");
        let mut d = Diagnostics::default();
        d.push(Diagnostic::warning("split-not-100", Origin::new(&f, 0, "services.web.routes[0].split"), "x"));
        d.push(Diagnostic::warning("split-not-100", Origin::new(&f, 0, "services.api.routes[0].split"), "x"));
        d.push(Diagnostic::warning("split-not-100", Origin::new(&f, 0, "services.webx.routes[0]"), "x"));
        let scope = Origin::new(&f, 0, "services.web");
        let at = scope.child("ignore").index(0);
        d.suppress(&[], &[(&scope, "split-not-100", &at)]);
        let left: Vec<String> = d.sorted().into_iter().map(|d| d.origin.path.into_string()).collect();
        assert_eq!(left, vec!["services.api.routes[0].split", "services.webx.routes[0]"]);
    }
}
