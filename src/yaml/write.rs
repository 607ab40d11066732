//! Values as YAML text: the one YAML writer, behind the templates' filters `q` ([`scalar`],
//! [`q_into`]) and `yaml` ([`block`]), patched objects ([`document`]) and the documents of
//! diff reports.
//!
//! Tera escapes nothing in `.yaml` templates, so a value such as `a\nkind: Secret` written
//! with a bare `{{ value }}` would change the structure of the output. These filters make that
//! impossible: a string is written plain only when it is made of characters that cannot mean
//! anything to YAML and starts with a letter (so it cannot read as a number, date, boolean,
//! null, alias, tag, comment, flow collection or document marker); anything else becomes a
//! double-quoted scalar in which every character that YAML would treat as a line break, or
//! that is not printable, is escaped. Collections are emitted by structure from data, never
//! by splicing text. The property test in `tests/injection.rs` checks that every string
//! comes back unchanged, as a single scalar.

use std::fmt::Write as _;

use serde_json::Value;

/// Words YAML 1.1 or 1.2 parsers read as booleans or null when plain.
const RESERVED: &[&str] = &["y", "n", "yes", "no", "on", "off", "true", "false", "null"];

fn plain_ok(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else { return false };
    first.is_ascii_alphabetic()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/'))
        && !RESERVED.iter().any(|r| r.eq_ignore_ascii_case(s))
}

/// True for characters YAML can hold literally inside a double-quoted scalar: printable,
/// and not a line break in any YAML version (NEL, LS, PS) nor a byte-order mark.
fn literal_ok(c: char) -> bool {
    matches!(c, '\u{20}'..='\u{7e}' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
        && !matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}')
}

/// A string as a YAML scalar that parses back to exactly `s`.
pub fn scalar(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    scalar_into(&mut out, s);
    out
}

/// [`scalar`], appended to `out`.
pub fn scalar_into(out: &mut String, s: &str) {
    if plain_ok(s) {
        out.push_str(s);
        return;
    }
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if literal_ok(c) => out.push(c),
            c => {
                // Outside the BMP every character is printable, so only BMP code points get here.
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
        }
    }
    out.push('"');
}

/// A value that is not a non-empty collection, as YAML, appended to `out`.
fn leaf_into(out: &mut String, v: &Value) {
    match v {
        Value::String(s) => scalar_into(out, s),
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Array(_) => out.push_str("[]"),
        Value::Object(_) => out.push_str("{}"),
    }
}

fn is_nested(v: &Value) -> bool {
    matches!(v, Value::Array(a) if !a.is_empty()) || matches!(v, Value::Object(o) if !o.is_empty())
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// Writes `v` as block YAML at `indent`. `first` replaces the line break and indentation of
/// the first line: a list item's `- ` is written by its parent, and the item's first key
/// follows it on the same line.
fn emit(out: &mut String, v: &Value, indent: usize, mut first: Option<&str>) {
    let mut line = |out: &mut String| match first.take() {
        Some(prefix) => out.push_str(prefix),
        None => {
            out.push('\n');
            pad(out, indent);
        }
    };
    match v {
        Value::Object(map) if !map.is_empty() => {
            for (k, child) in map {
                line(out);
                scalar_into(out, k);
                out.push(':');
                if is_nested(child) {
                    emit(out, child, indent + 2, None);
                } else {
                    out.push(' ');
                    leaf_into(out, child);
                }
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for item in items {
                line(out);
                out.push_str("- ");
                if is_nested(item) {
                    emit(out, item, indent + 2, Some(""));
                } else {
                    leaf_into(out, item);
                }
            }
        }
        other => {
            out.push(' ');
            leaf_into(out, other);
        }
    }
}

/// A value as a YAML document: block style from the first column, ending with a line break.
pub fn document(v: &Value) -> String {
    let mut text = block(v, 0);
    // `block` starts a collection on a new line and a scalar after a space.
    text.drain(..text.len() - text.trim_start_matches(['\n', ' ']).len());
    text.push('\n');
    text
}

/// A value on one line, for messages: a scalar as YAML writes it, a collection as `[…]` or
/// `{…}` (an empty one as `[]` or `{}`).
pub fn inline(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Array(a) if !a.is_empty() => out.push_str("[…]"),
        Value::Object(o) if !o.is_empty() => out.push_str("{…}"),
        other => leaf_into(&mut out, other),
    }
    out
}

/// A value as block YAML for `key:{{ value | yaml(indent=N) }}`: a non-empty collection
/// starts on a new line indented by `indent`; anything else follows the key after a space.
pub fn block(v: &Value, indent: usize) -> String {
    let mut out = String::new();
    block_into(&mut out, v, indent);
    out
}

/// [`block`], appended to `out`.
pub fn block_into(out: &mut String, v: &Value, indent: usize) {
    emit(out, v, indent, None);
}

/// Filter `q`, appended to `out`; `None` for a non-empty collection, which `q` refuses.
pub fn q_into(out: &mut String, v: &Value) -> Option<()> {
    if is_nested(v) {
        return None;
    }
    leaf_into(out, v);
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_only_when_unambiguous() {
        assert_eq!(scalar("catalog"), "catalog");
        assert_eq!(scalar("app.kubernetes.io/name"), "app.kubernetes.io/name");
        assert_eq!(scalar("10.0.0.1"), "\"10.0.0.1\"");
        assert_eq!(scalar("yes"), "\"yes\"");
        assert_eq!(scalar("*.example.com"), "\"*.example.com\"");
        assert_eq!(scalar(""), "\"\"");
        assert_eq!(scalar("a\nkind: Secret"), "\"a\\nkind: Secret\"");
        assert_eq!(scalar("x\u{2028}y\u{85}"), "\"x\\u2028y\\u0085\"");
    }

    #[test]
    fn blocks() {
        let v = serde_json::json!({"a": 1, "b": [{"c": "d", "e": [1, 2]}, "f"], "g": {}, "h": {"i": "j"}});
        assert_eq!(
            block(&v, 2),
            "\n  a: 1\n  b:\n    - c: d\n      e:\n        - 1\n        - 2\n    - f\n  g: {}\n  h:\n    i: j"
        );
        assert_eq!(block(&serde_json::json!([]), 2), " []");
        assert_eq!(block(&serde_json::json!("x y"), 2), " \"x y\"");
        assert_eq!(document(&v), "a: 1\nb:\n  - c: d\n    e:\n      - 1\n      - 2\n  - f\ng: {}\nh:\n  i: j\n");
        assert_eq!(document(&serde_json::json!("x")), "x\n");
        assert_eq!(inline(&v), "{…}");
        assert_eq!(inline(&serde_json::json!(80)), "80");
    }
}
