//! Text that came from the inventory (keys, values, YAML paths, file names), made safe to
//! print where people read it: a terminal, a CI log, a pull-request comment.
//!
//! A key like `"a\n::error file=x::pwned"` would otherwise put a GitHub Actions workflow
//! command on a line of its own, and `"\u{1b}[2J"` would clear the reader's terminal. Every
//! human-readable output passes such text through [`text`] (or [`shown`], which also
//! shortens it): control characters (C0, DEL, C1 — ESC, CR and LF among them), the Unicode
//! line and paragraph separators, the bidirectional controls and the invisible formatting
//! characters are written as Rust escapes (`\n`, `\u{1b}`), so no value can start a line,
//! move the cursor, recolour the output or reorder what is shown. The machine formats (JSON,
//! SARIF, GitHub workflow commands) escape by their own rules.

use std::borrow::Cow;

/// True for a character that can change what a terminal or a log shows beyond itself.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            // Line and paragraph separators (some viewers break lines at them).
            '\u{2028}' | '\u{2029}'
            // Zero-width characters and the left-to-right / right-to-left marks.
            | '\u{200b}'..='\u{200f}'
            // Bidirectional embeddings, overrides and isolates ("Trojan Source").
            | '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
            | '\u{061c}'
            // Invisible operators, the word joiner and the byte-order mark.
            | '\u{2060}'..='\u{2064}'
            | '\u{feff}'
        )
}

/// `s` with every [`is_unsafe`] character written as its Rust escape (`\n`, `\t`,
/// `\u{1b}`). Borrowed (no copy) when there is nothing to escape, as nearly always.
pub fn text(s: &str) -> Cow<'_, str> {
    let Some(first) = s.find(is_unsafe) else { return Cow::Borrowed(s) };
    let mut out = String::with_capacity(s.len() + 8);
    out.push_str(&s[..first]);
    for c in s[first..].chars() {
        if is_unsafe(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A value as quoted in a message: every character outside printable ASCII escaped (so the
/// reader sees exactly what is written, `caf\u{e9}` included), at most 80 characters.
pub fn shown(s: &str) -> String {
    let escaped: String = s.chars().flat_map(char::escape_default).collect();
    if escaped.chars().count() > 80 { format!("{}…", escaped.chars().take(80).collect::<String>()) } else { escaped }
}

/// What in `output` could forge a log line or reach the terminal, if anything: a line that
/// is a GitHub Actions workflow command (`::` and a command name, after any leading
/// whitespace, which the runner skips), or any [`is_unsafe`] character other than the
/// newlines and tabs that lay the output out (ESC among them). For the tests of every
/// output. (The human format's own `  ::: file:line` marker of a related place names no
/// command.)
pub fn forges_log(output: &str) -> Option<String> {
    for line in output.split('\n') {
        let command = line.trim_start().strip_prefix("::").and_then(|rest| rest.chars().next());
        if command.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-') {
            return Some(format!("a line starts with `::`: {line:?}"));
        }
        if let Some(c) = line.chars().find(|&c| c != '\t' && is_unsafe(c)) {
            return Some(format!("a line holds {c:?}: {line:?}"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_changes_a_log() {
        assert!(matches!(text("services.web.ports.http"), Cow::Borrowed(_)));
        assert_eq!(text("a\n::error file=x::pwned"), "a\\n::error file=x::pwned");
        assert_eq!(text("\u{1b}[31mred"), "\\u{1b}[31mred");
        assert_eq!(text("a\rb\u{2028}c\u{202e}d\u{9b}e"), "a\\rb\\u{2028}c\\u{202e}d\\u{9b}e");
        // Other non-ASCII text is left as written.
        assert_eq!(text("café ünïcode ✓"), "café ünïcode ✓");
        assert_eq!(forges_log(&text("x\n::error::y\u{1b}[0m")), None);
        assert!(forges_log("x\n::error::y").is_some());
        assert!(forges_log("x\n  ::add-mask::y").is_some());
        assert_eq!(forges_log("  ::: a.yaml:1:2 (x): note"), None);
        assert!(forges_log("x\u{1b}[0m").is_some());
    }

    #[test]
    fn shown_values_are_printable_ascii_and_short() {
        assert_eq!(shown("a\n\u{1b}"), "a\\n\\u{1b}");
        assert_eq!(shown(&"x".repeat(100)).chars().count(), 81);
    }
}
