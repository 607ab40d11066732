//! Prints diagnostics: `human` (source excerpt with carets), `concise` (one line each, for
//! grep and editors), and the machine formats of `diag::machine`.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::escape::text as esc;
use super::locate::{Locator, Position};
use super::{Diagnostic, Origin, Severity, machine};

/// How many findings of one code the human and concise formats print before summing up
/// the rest in one line (the machine formats keep them all).
pub const REPEAT_LIMIT: usize = 100;

/// The output format of diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Source excerpts with carets and help lines.
    Human,
    /// `file:line:col: severity[code] message (yaml.path)`, one per line.
    Concise,
    /// A JSON array, one object per diagnostic.
    Json,
    /// SARIF 2.1.0, for code scanning.
    Sarif,
    /// GitHub Actions workflow commands (annotations on the pull request).
    Github,
}

/// The text of the inventory files, so that diagnostics can quote them and find positions.
///
/// Each file is indexed once, on its first diagnostic (its YAML paths, and where its lines
/// start), and the index is shared by all its diagnostics: printing is linear in the
/// number of diagnostics plus the size of the files they point into.
#[derive(Default)]
pub struct SourceMap<'a> {
    texts: HashMap<&'a str, &'a str>,
    locators: HashMap<&'a str, Locator>,
    /// The byte offset of the start of each line, per file.
    line_starts: HashMap<&'a str, Vec<usize>>,
}

impl<'a> SourceMap<'a> {
    /// An empty map: diagnostics will print without positions or excerpts.
    pub fn new() -> SourceMap<'a> {
        SourceMap::default()
    }

    /// Adds a file by its display name.
    pub fn add(&mut self, name: &'a str, text: &'a str) {
        self.texts.insert(name, text);
    }

    pub(super) fn position(&mut self, o: &Origin) -> Option<Position> {
        if let Some(&(line, col)) = o.position.as_deref() {
            return Some(Position { line, col, width: 1 });
        }
        let text = self.texts.get(&*o.file)?;
        let key: &str = self.texts.get_key_value(&*o.file)?.0;
        let loc = self.locators.entry(key).or_insert_with(|| Locator::new(text));
        loc.find(o.doc as usize, &o.path, o.part)
    }

    /// Line `line` (1-based) of `file`, without its line break (as `str::lines` has it).
    fn line(&mut self, file: &str, line: usize) -> Option<&'a str> {
        let (&key, &text) = self.texts.get_key_value(file)?;
        let starts = self
            .line_starts
            .entry(key)
            .or_insert_with(|| std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect());
        let start = *starts.get(line.checked_sub(1)?)?;
        if start >= text.len() {
            // After a final newline there is no line (as with `str::lines`).
            return None;
        }
        let end = starts.get(line).map_or(text.len(), |&next| next - 1);
        let l = &text[start..end];
        Some(l.strip_suffix('\r').unwrap_or(l))
    }
}

/// Colours for the human format (ANSI), or none.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    color: bool,
}

impl Style {
    /// Colour on or off.
    pub fn new(color: bool) -> Style {
        Style { color }
    }

    fn paint(&self, code: &str, s: &str) -> String {
        if self.color { format!("\x1b[{code}m{s}\x1b[0m") } else { s.to_string() }
    }
}

/// Renders diagnostics in the given format, followed (in the human format) by a summary line.
pub fn render(diags: &[Diagnostic], sources: &mut SourceMap<'_>, format: Format, style: Style) -> String {
    render_limited(diags, sources, format, style, REPEAT_LIMIT)
}

/// [`render`], printing at most `limit` findings of one code in the human and concise formats.
fn render_limited(
    diags: &[Diagnostic],
    sources: &mut SourceMap<'_>,
    format: Format,
    style: Style,
    limit: usize,
) -> String {
    match format {
        Format::Json => machine::render_json(diags, sources),
        Format::Sarif => machine::render_sarif(diags, sources),
        Format::Github => machine::render_github(diags, sources),
        Format::Concise => {
            let mut out = String::new();
            let mut seen = Repeats::new(limit);
            for d in diags {
                if !seen.admit(d.code) {
                    continue;
                }
                let pos = sources.position(&d.origin);
                let _ = writeln!(
                    out,
                    "{}: {}[{}] {}{}",
                    location(&d.origin, pos),
                    d.severity,
                    d.code,
                    esc(&d.message),
                    path_suffix(&d.origin)
                );
            }
            seen.write_rest(&mut out);
            out
        }
        Format::Human => {
            let mut out = String::new();
            let mut seen = Repeats::new(limit);
            for d in diags {
                if seen.admit(d.code) {
                    render_human(&mut out, d, sources, style);
                }
            }
            if seen.write_rest(&mut out) {
                out.push('\n');
            }
            let (errors, warnings) = count(diags);
            if errors + warnings > 0 {
                let _ = writeln!(out, "{}", summary(errors, warnings));
            }
            out
        }
    }
}

/// Counts the findings of each code, admitting the first `limit` of each.
struct Repeats {
    limit: usize,
    counts: HashMap<&'static str, usize>,
    /// Codes in the order they first went over the limit.
    over: Vec<&'static str>,
}

impl Repeats {
    fn new(limit: usize) -> Repeats {
        Repeats { limit, counts: HashMap::new(), over: Vec::new() }
    }

    /// True when this finding of `code` is to be printed.
    fn admit(&mut self, code: &'static str) -> bool {
        let n = self.counts.entry(code).or_insert(0);
        *n += 1;
        if *n == self.limit.saturating_add(1) {
            self.over.push(code);
        }
        *n <= self.limit
    }

    /// One line per code that went over the limit: "and 39,900 more `code`". True when
    /// any was written.
    fn write_rest(&self, out: &mut String) -> bool {
        for code in &self.over {
            let more = self.counts[code] - self.limit;
            let _ = writeln!(
                out,
                "and {} more `{code}` (the first {} are shown; `--format json` lists all)",
                thousands(more),
                self.limit
            );
        }
        !self.over.is_empty()
    }
}

/// `39990` → `39,990`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn count(diags: &[Diagnostic]) -> (usize, usize) {
    let errors = diags.iter().filter(|d| d.severity == Severity::Error).count();
    (errors, diags.len() - errors)
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 { format!("1 {word}") } else { format!("{n} {word}s") }
}

/// "found 2 errors and 1 warning".
pub fn summary(errors: usize, warnings: usize) -> String {
    match (errors, warnings) {
        (0, w) => format!("found {}", plural(w, "warning")),
        (e, 0) => format!("found {}", plural(e, "error")),
        (e, w) => format!("found {} and {}", plural(e, "error"), plural(w, "warning")),
    }
}

fn location(o: &Origin, pos: Option<Position>) -> String {
    match pos {
        Some(p) => format!("{}:{}:{}", esc(&o.file), p.line, p.col),
        None => esc(&o.file).into_owned(),
    }
}

fn path_suffix(o: &Origin) -> String {
    if o.path.is_empty() { String::new() } else { format!(" ({})", esc(&o.path)) }
}

fn render_human(out: &mut String, d: &Diagnostic, sources: &mut SourceMap<'_>, style: Style) {
    let color = match d.severity {
        Severity::Error => "1;31",
        Severity::Warning => "1;33",
    };
    let head = style.paint(color, &format!("{}[{}]", d.severity, d.code));
    let _ = writeln!(out, "{head}: {}", style.paint("1", &esc(&d.message)));
    let pos = sources.position(&d.origin);
    let _ = writeln!(out, "  --> {}{}", location(&d.origin, pos), path_suffix(&d.origin));
    if let Some(p) = pos {
        excerpt(out, sources, &d.origin.file, p, style, color);
    }
    for (o, note) in &d.related {
        let rp = sources.position(o);
        let _ = writeln!(out, "  ::: {}{}: {}", location(o, rp), path_suffix(o), esc(note));
    }
    if let Some(h) = &d.help {
        let _ = writeln!(out, "  = {}: {}", style.paint("1;36", "help"), esc(h));
    }
    out.push('\n');
}

fn excerpt(out: &mut String, sources: &mut SourceMap<'_>, file: &str, p: Position, style: Style, color: &str) {
    let Some(text) = sources.line(file, p.line) else { return };
    // Hostile input may hold control characters or very long lines; show a safe slice. One
    // character for one, so that the caret stays under its column.
    let shown: String =
        text.chars().take(200).map(|c| if c != '\t' && super::escape::is_unsafe(c) { '\u{fffd}' } else { c }).collect();
    let gutter = p.line.to_string().len();
    let pad = " ".repeat(gutter);
    let _ = writeln!(out, " {pad} |");
    let _ = writeln!(out, " {} | {}", p.line, shown);
    let (indent, width) = caret_columns(&shown, p.col, p.width);
    let _ = writeln!(out, " {pad} | {indent}{}", style.paint(color, &"^".repeat(width)));
}

/// What goes under `line` before the carets, and how many carets, for `width` characters
/// from column `col` (1-based, in characters): a terminal shows a wide character (CJK,
/// emoji) in two cells and a combining mark in none, so the indent has one space per cell
/// and a tab for a tab (which the terminal expands alike on both lines).
fn caret_columns(line: &str, col: usize, width: usize) -> (String, usize) {
    use unicode_width::UnicodeWidthChar as _;
    let cells = |c: char| c.width().unwrap_or(1);
    let before = col.saturating_sub(1);
    let mut indent = String::new();
    for c in line.chars().take(before) {
        match c {
            '\t' => indent.push('\t'),
            c => indent.extend(std::iter::repeat_n(' ', cells(c))),
        }
    }
    let under: usize = line.chars().skip(before).take(width).map(|c| if c == '\t' { 1 } else { cells(c) }).sum();
    (indent, under.max(1))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::diag::escape::forges_log;

    /// Carets stay under their column after wide (CJK) characters, combining marks and tabs.
    #[test]
    fn carets_count_display_cells() {
        // `名前` is four cells, `e` + U+0301 one, the tab stays a tab.
        let line = "\t名前: \"e\u{301}\" # x: bad";
        let col = line.chars().position(|c| c == 'b').unwrap() + 1;
        let (indent, width) = caret_columns(line, col, 3);
        // Cells before `bad`: `名前` 4, `: ` 2, `"é"` 3, ` # x: ` 6.
        assert_eq!(indent, format!("\t{}", " ".repeat(4 + 2 + 3 + 6)));
        assert_eq!(width, 3);
        // A wide character under the carets takes two of them.
        assert_eq!(caret_columns("a: 名前", 4, 2), ("   ".to_string(), 4));
        // A combining mark alone still gets one caret.
        assert_eq!(caret_columns("\u{301}", 1, 1), (String::new(), 1));
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(39_900), "39,900");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn lines_are_found_by_index_as_str_lines_has_them() {
        let text = "a\r\nb\n\nlast";
        let mut map = SourceMap::new();
        map.add("f", text);
        let got: Vec<Option<&str>> = (0..=5).map(|i| map.line("f", i)).collect();
        assert_eq!(got, [None, Some("a"), Some("b"), Some(""), Some("last"), None]);
        let mut map = SourceMap::new();
        map.add("g", "x\n");
        assert_eq!((map.line("g", 1), map.line("g", 2)), (Some("x"), None));
    }

    /// 40,000 findings in one 3 MB file, every one printed (no limit): linear, where
    /// looking each line up from the start of the file was quadratic.
    #[test]
    fn rendering_is_linear_in_findings_and_file_size() {
        let n = 40_000;
        let text: String = (0..n).map(|i| format!("s{i}: {{host: s{i}.apps.internal, sidecar: true}}\n")).collect();
        let file: Arc<str> = Arc::from("inventory/a.yaml");
        let diags: Vec<Diagnostic> = (0..n)
            .map(|i| Diagnostic::warning("missing-service-account", Origin::new(&file, 0, format!("s{i}")).key(), "x"))
            .collect();
        let started = Instant::now();
        let mut map = SourceMap::new();
        map.add(&file, &text);
        let out = render_limited(&diags, &mut map, Format::Human, Style::new(false), usize::MAX);
        let took = started.elapsed();
        assert!(out.contains(&format!(" {n} | s{}: ", n - 1)), "the last excerpt is printed");
        assert!(took < Duration::from_secs(20), "rendering 40,000 findings took {took:?}");
    }

    #[test]
    fn repeated_findings_of_one_code_are_summed_up() {
        let file: Arc<str> = Arc::from("a.yaml");
        let mut diags: Vec<Diagnostic> = (0..250)
            .map(|i| Diagnostic::warning("missing-service-account", Origin::new(&file, 0, format!("s{i}")), "x"))
            .collect();
        diags.push(Diagnostic::error("unknown-field", Origin::new(&file, 0, "z"), "y"));
        for format in [Format::Human, Format::Concise] {
            let out = render(&diags, &mut SourceMap::new(), format, Style::new(false));
            assert_eq!(out.matches("[missing-service-account]").count(), REPEAT_LIMIT, "{format:?}");
            assert_eq!(out.matches("[unknown-field]").count(), 1, "{format:?}");
            assert!(out.contains("and 150 more `missing-service-account`"), "{format:?}:\n{out}");
        }
        let out = render(&diags, &mut SourceMap::new(), Format::Human, Style::new(false));
        assert!(out.ends_with("found 1 error and 250 warnings\n"), "{out}");
        let json = render(&diags, &mut SourceMap::new(), Format::Json, Style::new(false));
        assert_eq!(json.matches("\"missing-service-account\"").count(), 250);
    }

    #[test]
    fn hostile_text_is_escaped_in_every_part_of_a_diagnostic() {
        let file: Arc<str> = Arc::from("inventory/a\n::error::f.yaml");
        let text = "services:\n  \"a\\n::error file=x::pwned\": 1\n  \"\\e[31m\": 2\n";
        for x in ["a\n::error file=x::pwned", "\u{1b}[31m", "\u{202e}\r\u{2028}x\u{9b}2J"] {
            let d = Diagnostic::error(
                "unknown-field",
                Origin::new(&file, 0, format!("services.{x}")).key(),
                format!("unknown field `{x}`"),
            )
            .help(format!("did you mean `{x}`?"))
            .related(Origin::new(&file, 0, format!("services.{x}")), format!("first {x} here"));
            let mut map = SourceMap::new();
            map.add(&file, text);
            for format in [Format::Human, Format::Concise] {
                for color in [false, true] {
                    let out = render(std::slice::from_ref(&d), &mut map, format, Style::new(color));
                    let plain: String = if color { strip_sgr(&out) } else { out.clone() };
                    assert_eq!(forges_log(&plain), None, "{format:?} of {x:?}:\n{out}");
                }
            }
        }
    }

    /// The output without meshgen's own colour codes (`ESC [ digits ; m`).
    fn strip_sgr(s: &str) -> String {
        let re = regex::Regex::new("\x1b\\[[0-9;]*m").unwrap();
        re.replace_all(s, "").into_owned()
    }
}
