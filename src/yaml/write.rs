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

mod ser;
pub use ser::{Error, block_of};
pub(crate) use ser::{as_json, forward_collections, one_collection};

/// Words YAML 1.1 or 1.2 parsers read as booleans or null when plain.
const RESERVED: &[&str] = &["y", "n", "yes", "no", "on", "off", "true", "false", "null"];

/// A byte that may appear in a plain scalar: letters, digits and `.-_/`.
const PLAIN: u8 = 1;
/// A byte a double-quoted scalar holds as it is: printable ASCII but `"` and `\`.
const LITERAL: u8 = 2;

/// What each byte may be, looked up once per byte: every scalar of the output goes through
/// here, most of them plain, and one table test a byte is what the writer can afford.
static CLASSES: [u8; 256] = {
    let mut table = [0; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_' | b'/') {
            table[b] |= PLAIN;
        }
        if matches!(c, 0x20..=0x7e) && c != b'"' && c != b'\\' {
            table[b] |= LITERAL;
        }
        b += 1;
    }
    table
};

/// The length of the longest prefix of `bytes` whose bytes are all of `class`. Eight bytes
/// are tested at once (their classes combined, one branch): most scalars are runs of
/// one class, and a branch a byte was most of what writing them cost.
fn run_of(bytes: &[u8], class: u8) -> usize {
    let mut at = 0;
    for chunk in bytes.chunks_exact(8) {
        if chunk.iter().fold(class, |all, &b| all & CLASSES[b as usize]) == 0 {
            break;
        }
        at += 8;
    }
    at + bytes[at..].iter().position(|&b| CLASSES[b as usize] & class == 0).unwrap_or(bytes.len() - at)
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

/// [`scalar`], appended to `out`. A string is plain when it is made of letters, digits and
/// `.-_/`, starts with a letter and is no reserved word; otherwise it is quoted, its bytes scanned
/// once: the plain prefix already seen is known to be literal too.
pub fn scalar_into(out: &mut String, s: &str) {
    let bytes = s.as_bytes();
    let plain = run_of(bytes, PLAIN);
    // Every reserved word is at most five letters: most strings are longer.
    if plain == bytes.len()
        && bytes.first().is_some_and(u8::is_ascii_alphabetic)
        && (s.len() > 5 || !RESERVED.iter().any(|r| r.eq_ignore_ascii_case(s)))
    {
        out.push_str(s);
        return;
    }
    out.reserve(s.len() + 2);
    out.push('"');
    escaped_into(out, s, plain);
    out.push('"');
}

/// `parts` joined, as [`scalar_into`] writes the joined string, without joining them first
/// (the source annotation of every object is a file, `#` and a path).
pub fn joined_into(out: &mut String, parts: &[&str]) {
    let Some(quoted) = parts.iter().position(|p| run_of(p.as_bytes(), PLAIN) < p.len()) else {
        // Possibly plain, which depends on the whole: rare (no `#`, no space), so joined.
        scalar_into(out, &parts.concat());
        return;
    };
    out.push('"');
    // The parts before the first that is not plain are plain, so literal: scanned once.
    for (i, part) in parts.iter().enumerate() {
        escaped_into(out, part, if i < quoted { part.len() } else { 0 });
    }
    out.push('"');
}

/// The inside of a double-quoted scalar holding `s`, whose first `known` bytes are known to
/// be plain (so literal). Escapes are of one character each, so a string's parts can be
/// escaped one after the other.
fn escaped_into(out: &mut String, s: &str, known: usize) {
    // Runs of printable ASCII other than quotes and backslashes are copied at once: most quoted
    // strings (addresses, wildcard hosts, sources) are nothing else. `known` bytes are ASCII,
    // so the first run ends on a character boundary.
    let mut rest = s;
    let mut known = known;
    while !rest.is_empty() {
        let run = known + run_of(&rest.as_bytes()[known..], LITERAL);
        known = 0;
        out.push_str(&rest[..run]);
        rest = &rest[run..];
        let Some(c) = rest.chars().next() else { break };
        rest = &rest[c.len_utf8()..];
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
}

/// A number as JSON writes it, appended to `out`: integers digit by digit (they are most
/// of the numbers written: ports, weights), others through their `Display`.
pub fn number_into(out: &mut String, n: &serde_json::Number) {
    let (negative, magnitude) = match (n.as_u64(), n.as_i64()) {
        (Some(u), _) => (false, u),
        (None, Some(i)) => (true, i.unsigned_abs()),
        (None, None) => {
            let _ = write!(out, "{n}");
            return;
        }
    };
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = magnitude;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if negative {
        out.push('-');
    }
    // Only ASCII digits were written.
    out.push_str(std::str::from_utf8(&digits[at..]).unwrap_or_default());
}

/// What a value is, as the writer and the compiled templates see it: a leaf, or a
/// collection whose children the [`Node`] gives.
#[derive(Debug, Clone, Copy)]
pub enum Shape<'v> {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, written as JSON writes it.
    Number(&'v serde_json::Number),
    /// A string.
    Str(&'v str),
    /// A sequence of this many items.
    Seq(usize),
    /// A mapping of this many entries.
    Map(usize),
}

/// A value the writer can walk: a [`Value`], or a template context laid out flat without
/// one (`render::tape`), so that rendering need not build a JSON tree per object.
pub trait Node<'v>: Copy {
    /// What the value is.
    fn shape(self) -> Shape<'v>;
    /// The items of a sequence (nothing for anything else).
    fn items(self) -> impl Iterator<Item = Self>;
    /// The entries of a mapping, in order (nothing for anything else).
    fn entries(self) -> impl Iterator<Item = (&'v str, Self)>;

    /// The value of `key` in a mapping.
    fn get(self, key: &str) -> Option<Self> {
        self.entries().find(|(k, _)| *k == key).map(|(_, v)| v)
    }
}

impl<'v> Node<'v> for &'v Value {
    fn shape(self) -> Shape<'v> {
        match self {
            Value::Null => Shape::Null,
            Value::Bool(b) => Shape::Bool(*b),
            Value::Number(n) => Shape::Number(n),
            Value::String(s) => Shape::Str(s),
            Value::Array(a) => Shape::Seq(a.len()),
            Value::Object(m) => Shape::Map(m.len()),
        }
    }

    fn items(self) -> impl Iterator<Item = Self> {
        self.as_array().into_iter().flatten()
    }

    fn entries(self) -> impl Iterator<Item = (&'v str, Self)> {
        self.as_object().into_iter().flatten().map(|(k, v)| (k.as_str(), v))
    }

    fn get(self, key: &str) -> Option<Self> {
        Value::get(self, key)
    }
}

/// A value that is not a non-empty collection, as YAML, appended to `out`.
fn leaf_into<'v>(out: &mut String, v: impl Node<'v>) {
    leaf(out, v.shape());
}

/// [`leaf_into`], of a value whose shape is known (the writer asks each node once).
fn leaf(out: &mut String, shape: Shape<'_>) {
    match shape {
        Shape::Str(s) => scalar_into(out, s),
        Shape::Null => out.push_str("null"),
        Shape::Bool(b) => out.push_str(if b { "true" } else { "false" }),
        Shape::Number(n) => number_into(out, n),
        Shape::Seq(_) => out.push_str("[]"),
        Shape::Map(_) => out.push_str("{}"),
    }
}

fn is_nested<'v>(v: impl Node<'v>) -> bool {
    nested(v.shape())
}

fn nested(shape: Shape<'_>) -> bool {
    matches!(shape, Shape::Seq(n) | Shape::Map(n) if n > 0)
}

fn pad(out: &mut String, indent: usize) {
    // Pushed as slices: a character at a time, this was a tenth of the writer.
    const SPACES: &str = "                                ";
    let mut left = indent;
    while left > 0 {
        let n = left.min(SPACES.len());
        out.push_str(&SPACES[..n]);
        left -= n;
    }
}

/// Writes `v` as block YAML at `indent`. `first` replaces the line break and indentation of
/// the first line: a list item's `- ` is written by its parent, and the item's first key
/// follows it on the same line.
fn emit<'v, N: Node<'v>>(out: &mut String, v: N, indent: usize, first: Option<&str>) {
    emit_shaped(out, v, v.shape(), indent, first);
}

/// [`emit`], of a value whose shape is known.
fn emit_shaped<'v, N: Node<'v>>(out: &mut String, v: N, shape: Shape<'v>, indent: usize, mut first: Option<&str>) {
    let mut line = |out: &mut String| match first.take() {
        Some(prefix) => out.push_str(prefix),
        None => {
            out.push('\n');
            pad(out, indent);
        }
    };
    match shape {
        Shape::Map(n) if n > 0 => {
            for (k, child) in v.entries() {
                line(out);
                scalar_into(out, k);
                let shape = child.shape();
                if nested(shape) {
                    out.push(':');
                    emit_shaped(out, child, shape, indent + 2, None);
                } else {
                    out.push_str(": ");
                    leaf(out, shape);
                }
            }
        }
        Shape::Seq(n) if n > 0 => {
            for item in v.items() {
                line(out);
                out.push_str("- ");
                let shape = item.shape();
                if nested(shape) {
                    emit_shaped(out, item, shape, indent + 2, Some(""));
                } else {
                    leaf(out, shape);
                }
            }
        }
        _ => {
            out.push(' ');
            leaf(out, shape);
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
pub fn block_into<'v>(out: &mut String, v: impl Node<'v>, indent: usize) {
    emit(out, v, indent, None);
}

/// Filter `q`, appended to `out`; `None` for a non-empty collection, which `q` refuses.
pub fn q_into<'v>(out: &mut String, v: impl Node<'v>) -> Option<()> {
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

    /// Runs found eight bytes at a time end where a byte at a time they would.
    #[test]
    fn runs_of_a_class() {
        for len in 0..20 {
            for odd in 0..=len {
                for byte in [b' ', b'"', b'#', 0xc3, b'a'] {
                    let mut bytes = vec![b'x'; len];
                    if odd < len {
                        bytes[odd] = byte;
                    }
                    for class in [PLAIN, LITERAL] {
                        let want = bytes.iter().position(|&b| CLASSES[b as usize] & class == 0).unwrap_or(len);
                        assert_eq!(run_of(&bytes, class), want, "{bytes:?} {class}");
                    }
                }
            }
        }
    }

    /// Parts joined are written as the joined string would be, whatever the parts hold.
    #[test]
    fn joined_as_one_scalar() {
        let parts =
            ["", "a", "y", "es", "#", "10.0.0.1", "x\ny", "\"", "\\", "é\u{2028}", "\u{85}", "a b", "-", "tab\t"];
        for a in parts {
            for b in parts {
                for c in parts {
                    let mut out = String::new();
                    joined_into(&mut out, &[a, b, c]);
                    assert_eq!(out, scalar(&format!("{a}{b}{c}")), "{a:?} {b:?} {c:?}");
                }
            }
        }
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
