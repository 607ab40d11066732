//! YAML errors as diagnostics: the reading itself is [`crate::yaml`]'s; here each kind of
//! error gets its position and its help.

use std::sync::Arc;

use crate::diag::{Diagnostic, Diagnostics, Origin};
use crate::yaml::{Error, ErrorKind, Value};

/// Parses every document of `text`. An error becomes a diagnostic with its position and stops
/// the file (the YAML after it cannot be trusted); documents before it are kept.
pub fn parse_documents(text: &str, file: &Arc<str>, diags: &mut Diagnostics) -> Vec<Value> {
    let parsed = crate::yaml::parse(text);
    if let Some(e) = &parsed.error {
        diags.push(diagnostic(e, file));
    }
    parsed.docs
}

/// The diagnostic of a YAML error in `file`.
fn diagnostic(e: &Error, file: &Arc<str>) -> Diagnostic {
    let mut origin = Origin::new(file, e.doc, "");
    origin.position = e.at.map(|m| Box::new((m.line, m.column)));
    let headline = if e.kind.unsupported() { "unsupported YAML" } else { "invalid YAML" };
    Diagnostic::error("yaml-syntax", origin, format!("{headline}: {}", e.kind)).help(help(&e.kind))
}

/// What to do about it.
fn help(kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::BracketsTooDeep(_) | ErrorKind::TooDeep(_) => {
            "the YAML nests too deeply; an inventory never needs more than a few levels".into()
        }
        ErrorKind::AliasesTooLarge(_) => {
            "the YAML expands aliases too many times (an alias bomb?); write the values out instead".into()
        }
        ErrorKind::TabIndent => "YAML does not allow tabs for indentation; use spaces".into(),
        ErrorKind::DuplicateKey(_) => "each key may appear once per mapping; remove or rename the duplicate".into(),
        ErrorKind::KeyNotString(k) if k.starts_with(['[', '{']) => {
            "write a name (a string) as the key; lists and mappings cannot be keys".into()
        }
        ErrorKind::KeyNotString(k) => format!("quote the key to make it a string: `\"{k}\"`"),
        ErrorKind::Tag(_) => "remove the tag; to make a value a string, quote it".into(),
        ErrorKind::IntegerTooBig(n) | ErrorKind::NotFinite(n) => {
            format!("no field takes such a number; if it is text, quote it: `\"{n}\"`")
        }
        ErrorKind::Syntax(_) | ErrorKind::SeveralDocuments | ErrorKind::Shape(_) => {
            "fix the YAML syntax at this position".into()
        }
    }
}
