//! The one place that turns YAML text into values (serde_yaml is archived upstream; keeping
//! every call here keeps the parser swappable).

use std::sync::Arc;

use serde::Deserialize as _;

use crate::diag::{Diagnostic, Diagnostics, Origin};

/// Parses every document of `text`. A syntax error becomes a diagnostic with its position and
/// stops the file (the YAML after it cannot be trusted); documents before it are kept.
pub fn parse_documents(text: &str, file: &Arc<str>, diags: &mut Diagnostics) -> Vec<serde_yaml::Value> {
    // Inventories are written in a plain subset of YAML that a dedicated reader handles many
    // times faster; anything else (and every error) goes through serde_yaml.
    if let Some(docs) = super::plain::parse(text) {
        return docs;
    }
    if let Some((line, column)) = too_deep_flow(text) {
        let mut origin = Origin::new(file, 0, "");
        origin.position = Some(Box::new((line, column)));
        diags.push(
            Diagnostic::error(
                "yaml-syntax",
                origin,
                format!("invalid YAML: brackets nest deeper than {MAX_FLOW_DEPTH} levels"),
            )
            .help("the YAML nests too deeply; an inventory never needs more than a few levels"),
        );
        return Vec::new();
    }
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
    origin.position = e.location().map(|l| Box::new((l.line(), l.column())));
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

/// Deepest `[`/`{` nesting accepted. libyaml's scanner re-checks every open flow level for
/// each token, so its cost grows with depth × length: 100,000 `[` took 20 s before its own
/// recursion limit (128) answered. This linear pre-scan refuses such input first.
const MAX_FLOW_DEPTH: usize = 100;

/// The 1-based (line, column) where flow nesting first exceeds [`MAX_FLOW_DEPTH`], if it
/// does. Quoted scalars and comments are skipped; a quote only opens a scalar where YAML
/// allows one to start, so `don't` in a plain scalar is not mistaken for one.
fn too_deep_flow(text: &str) -> Option<(usize, usize)> {
    let (mut depth, mut line, mut col) = (0usize, 1usize, 0usize);
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut prev = '\n'; // the last character outside a quoted scalar
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        col += 1;
        if c == '\n' {
            line += 1;
            col = 0;
        }
        match quote {
            Some('"') if escaped => escaped = false,
            Some('"') if c == '\\' => escaped = true,
            Some(q) if c == q => {
                // `''` inside a single-quoted scalar is an escaped quote.
                if q == '\'' && chars.peek() == Some(&'\'') {
                    chars.next();
                    col += 1;
                } else {
                    quote = None;
                    prev = c;
                }
            }
            Some(_) => {}
            None => {
                match c {
                    '#' if prev.is_whitespace() => {
                        for n in chars.by_ref() {
                            if n == '\n' {
                                line += 1;
                                col = 0;
                                break;
                            }
                        }
                        prev = '\n';
                        continue;
                    }
                    '"' | '\'' if prev.is_whitespace() || matches!(prev, ':' | '-' | '[' | '{' | ',' | '?') => {
                        quote = Some(c)
                    }
                    '[' | '{' => {
                        depth += 1;
                        if depth > MAX_FLOW_DEPTH {
                            return Some((line, col));
                        }
                    }
                    ']' | '}' => depth = depth.saturating_sub(1),
                    _ => {}
                }
                prev = c;
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_flow_nesting_is_found_where_it_happens() {
        assert_eq!(too_deep_flow(&format!("a: {}", "[".repeat(200))), Some((1, 4 + MAX_FLOW_DEPTH)));
        assert_eq!(too_deep_flow(&"[".repeat(MAX_FLOW_DEPTH)), None);
        // Brackets in quotes and comments do not count; closed ones do not add up.
        let quoted = format!("a: '{0}'\nb: \"{0}\\\"\"\nc: x # {0}\nd: don't{0}", "[".repeat(500));
        assert_eq!(too_deep_flow(&quoted).map(|p| p.0), Some(4));
        assert_eq!(too_deep_flow(&"[a] ".repeat(10_000)), None);
    }
}
