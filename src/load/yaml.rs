//! The one place that turns YAML text into values (serde_yaml is archived upstream; keeping
//! every call here keeps the parser swappable).

use std::sync::Arc;

use serde::Deserialize as _;

use crate::diag::{Diagnostic, Diagnostics, Origin};

/// Parses every document of `text`. A syntax error becomes a diagnostic with its position and
/// stops the file (the YAML after it cannot be trusted); documents before it are kept.
pub fn parse_documents(text: &str, file: &Arc<str>, diags: &mut Diagnostics) -> Vec<serde_yaml::Value> {
    let mut docs = Vec::new();
    for (i, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        match serde_yaml::Value::deserialize(doc) {
            Ok(v) => docs.push(v),
            Err(e) => {
                diags.push(syntax_error(&e, file, i));
                break;
            }
        }
    }
    docs
}

fn syntax_error(e: &serde_yaml::Error, file: &Arc<str>, doc: usize) -> Diagnostic {
    let mut origin = Origin::new(file, doc, "");
    origin.position = e.location().map(|l| (l.line(), l.column()));
    let raw = e.to_string();
    // serde_yaml appends " at line L column C"; the position is printed separately.
    let message = match raw.find(" at line ") {
        Some(i) => raw[..i].to_string(),
        None => raw.clone(),
    };
    let help = if message.contains("recursion limit") {
        "the YAML nests too deeply; an inventory never needs more than a few levels"
    } else if message.contains("repetition limit") {
        "the YAML expands aliases too many times (an alias bomb?); write the values out instead"
    } else if message.contains("duplicate entry") {
        "each key may appear once per mapping; remove or rename the duplicate"
    } else {
        "fix the YAML syntax at this position"
    };
    Diagnostic::error("yaml-syntax", origin, format!("invalid YAML: {message}")).help(help)
}
