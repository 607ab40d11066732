//! RE2 (Go `regexp`) patterns compiled with the `regex` crate.
//!
//! Kubernetes evaluates both the OpenAPI `pattern` keyword and CEL `matches()` with Go's
//! `regexp` package (RE2 syntax). The `regex` crate accepts nearly the same syntax, but its
//! Perl classes (`\d`, `\w`, `\s`) and word boundaries (`\b`, `\B`) are Unicode-aware, while
//! RE2's are ASCII-only. Without a rewrite, `^\d+$` would accept `"٣"` (Arabic-Indic three)
//! where the API server rejects it. [`compile`] rewrites those escapes to their ASCII
//! meaning and turns RE2's `\Q…\E` literal quoting (which the `regex` crate lacks) into
//! escaped text. Anything the `regex` crate cannot parse is an error, never a silent pass.

use regex::Regex;

/// ASCII meaning of RE2's Perl classes, as the body of a bracket expression.
fn perl_class_body(c: char) -> Option<&'static str> {
    match c.to_ascii_lowercase() {
        'd' => Some("0-9"),
        'w' => Some("0-9A-Za-z_"),
        // RE2: \s is [\t\n\f\r ] (no \v).
        's' => Some(r"\t\n\x0C\r "),
        _ => None,
    }
}

/// Rewrites an RE2 pattern into an equivalent `regex`-crate pattern (see the module doc).
pub(crate) fn translate(pattern: &str) -> Result<String, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 8);
    // Depth of the bracket expression we are in: RE2 classes do not nest, so 0 or 1 (the
    // output may nest them, for `[\D]`).
    let mut class_depth = 0usize;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                let Some(&n) = chars.get(i + 1) else {
                    return Err("trailing backslash at end of expression".to_string());
                };
                i += 2;
                if let Some(body) = perl_class_body(n) {
                    let negated = n.is_ascii_uppercase();
                    match (class_depth > 0, negated) {
                        (true, false) => out.push_str(body),
                        // A negated class inside a bracket expression: the regex crate
                        // supports nested classes, so `[\D]` becomes `[[^0-9]]`.
                        (_, true) => {
                            out.push_str("[^");
                            out.push_str(body);
                            out.push(']');
                        }
                        (false, false) => {
                            out.push('[');
                            out.push_str(body);
                            out.push(']');
                        }
                    }
                    continue;
                }
                match n {
                    'b' | 'B' if class_depth == 0 => {
                        out.push_str("(?-u:\\");
                        out.push(n);
                        out.push(')');
                    }
                    'Q' => {
                        // Literal text up to \E (or the end of the pattern).
                        let mut lit = String::new();
                        while i < chars.len() {
                            if chars[i] == '\\' && chars.get(i + 1) == Some(&'E') {
                                i += 2;
                                break;
                            }
                            lit.push(chars[i]);
                            i += 1;
                        }
                        out.push_str(&regex::escape(&lit));
                    }
                    'C' => return Err("\\C (any byte) is not supported".to_string()),
                    _ => {
                        out.push('\\');
                        out.push(n);
                    }
                }
            }
            '[' => {
                if class_depth > 0 && chars.get(i + 1) == Some(&':') {
                    // POSIX class such as [:alpha:]: copy through to the closing ":]".
                    let rest: String = chars[i..].iter().collect();
                    if let Some(end) = rest.find(":]") {
                        out.push_str(&rest[..end + 2]);
                        i += rest[..end + 2].chars().count();
                        continue;
                    }
                }
                if class_depth > 0 {
                    // A literal `[` in RE2; the regex crate would open a nested class.
                    out.push_str("\\[");
                    i += 1;
                    continue;
                }
                class_depth += 1;
                out.push('[');
                i += 1;
                // A `]` right after `[` or `[^` is a literal in RE2 and in the regex crate.
                if chars.get(i) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                if chars.get(i) == Some(&']') {
                    out.push_str("\\]");
                    i += 1;
                }
            }
            ']' if class_depth > 0 => {
                class_depth -= 1;
                out.push(']');
                i += 1;
            }
            // Set operations in the regex crate (`&&`, `~~`, `--`), plain characters in RE2.
            '&' | '~' if class_depth > 0 => {
                out.push('\\');
                out.push(c);
                i += 1;
            }
            '-' if class_depth > 0 && chars.get(i + 1) == Some(&'-') => {
                out.push_str("-\\-");
                i += 2;
            }
            '{' if class_depth == 0 => {
                // A repetition `{n}`, `{n,}` or `{n,m}`: Go refuses counts above 1000 (the
                // regex crate allows more). Anything else is a literal `{` in both.
                let rest: String = chars[i + 1..].iter().take_while(|c| c.is_ascii_digit() || **c == ',').collect();
                let (first, second) = rest.split_once(',').map_or((rest.as_str(), None), |(a, b)| (a, Some(b)));
                let closed = chars.get(i + 1 + rest.chars().count()) == Some(&'}');
                let repetition = closed && !first.is_empty() && second.is_none_or(|b| !b.contains(','));
                if !repetition {
                    out.push_str("\\{");
                    i += 1;
                    continue;
                }
                if [Some(first), second]
                    .into_iter()
                    .flatten()
                    .filter(|n| !n.is_empty())
                    .any(|n| n.parse::<u32>().map_or(true, |v| v > 1000))
                {
                    return Err(format!("repetition count above 1000 in `{{{rest}}}`"));
                }
                out.push('{');
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Compiles an RE2 pattern with RE2 (ASCII) semantics for Perl classes.
pub(crate) fn compile(pattern: &str) -> Result<Regex, String> {
    let translated = translate(pattern)?;
    Regex::new(&translated).map_err(|e| {
        // The regex crate's error is multi-line; keep the last line, which says what is wrong.
        let msg = e.to_string();
        let last = msg.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("");
        format!("invalid regular expression {pattern:?}: {}", last.trim())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perl_classes_are_ascii() {
        let re = compile(r"^\d+$").unwrap();
        assert!(re.is_match("123"));
        assert!(!re.is_match("\u{663}"));
        let re = compile(r"^[\w-]+$").unwrap();
        assert!(re.is_match("a_b-1"));
        assert!(!re.is_match("é"));
        let re = compile(r"^[\D]$").unwrap();
        assert!(re.is_match("x"));
        assert!(!re.is_match("7"));
        let re = compile(r"^\S\s\W$").unwrap();
        assert!(re.is_match("a\t-"));
    }

    #[test]
    fn quoting_brackets_and_boundaries() {
        assert!(compile(r"^\Qa.b\E$").unwrap().is_match("a.b"));
        assert!(!compile(r"^\Qa.b\E$").unwrap().is_match("axb"));
        assert!(compile(r"^[]a]+$").unwrap().is_match("]a"));
        assert!(compile(r"^[[:alpha:]]+$").unwrap().is_match("abc"));
        assert!(compile(r"\bfoo\b").unwrap().is_match("a foo b"));
        assert!(compile(r"\C").is_err());
        assert!(compile(r"(?=x)").is_err());
    }
}
