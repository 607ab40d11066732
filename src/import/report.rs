//! What an import could not say in the inventory language, object by object.

use std::fmt;

/// What happened to (part of) an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NoteKind {
    /// A document that is not an Istio object meshgen generates: not imported.
    Refused,
    /// A value the draft guessed: check it.
    Guessed,
    /// A field the language has no word for, kept as a `patch` on the entity.
    Patched,
    /// An object the draft does not build as it was: the differences are listed.
    Differs,
    /// An object the draft builds that the input did not have.
    Added,
}

impl NoteKind {
    fn heading(self) -> &'static str {
        match self {
            NoteKind::Refused => "not imported",
            NoteKind::Guessed => "guessed (check these values)",
            NoteKind::Patched => "kept as patches (the language has no word for them)",
            NoteKind::Differs => "built otherwise (review before handing over)",
            NoteKind::Added => "added by meshgen",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Note {
    /// What happened.
    pub kind: NoteKind,
    /// Where: `file#document` or `Kind namespace/name`.
    pub at: String,
    /// What, in a sentence.
    pub message: String,
}

/// Every note of an import.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The notes, in the order found; [`Report`]'s `Display` groups them by kind.
    pub notes: Vec<Note>,
}

impl Report {
    /// Adds a note.
    pub fn note(&mut self, kind: NoteKind, at: impl Into<String>, message: impl Into<String>) {
        self.notes.push(Note { kind, at: at.into(), message: message.into() });
    }

    /// Whether some input could not be read or imported.
    pub fn refused(&self) -> bool {
        self.notes.iter().any(|n| n.kind == NoteKind::Refused)
    }

    /// Notes of one kind.
    pub fn of(&self, kind: NoteKind) -> impl Iterator<Item = &Note> {
        self.notes.iter().filter(move |n| n.kind == kind)
    }
}

impl fmt::Display for Report {
    /// Grouped by kind, each group sorted by place; user text escaped for terminals.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.notes.is_empty() {
            return writeln!(f, "every object is built as it was");
        }
        let mut notes = self.notes.clone();
        notes.sort();
        notes.dedup();
        let mut last = None;
        for n in &notes {
            if last != Some(n.kind) {
                writeln!(f, "{}:", n.kind.heading())?;
                last = Some(n.kind);
            }
            let line = format!("{}: {}", n.at, n.message);
            writeln!(f, "  {}", crate::diag::escape::text(&line))?;
        }
        Ok(())
    }
}
