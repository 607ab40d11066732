//! Prints diagnostics: `human` (source excerpt with carets), `concise` (one line each, for
//! grep and editors), and the machine formats of [`super::machine`].

use std::collections::HashMap;
use std::fmt::Write as _;

use super::locate::{Locator, Position};
use super::{Diagnostic, Origin, Severity, machine};

/// The output format of diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
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
#[derive(Default)]
pub struct SourceMap<'a> {
    texts: HashMap<&'a str, &'a str>,
    locators: HashMap<&'a str, Locator>,
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

    fn line(&self, file: &str, line: usize) -> Option<&'a str> {
        self.texts.get(file)?.lines().nth(line.checked_sub(1)?)
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
    match format {
        Format::Json => machine::render_json(diags, sources),
        Format::Sarif => machine::render_sarif(diags, sources),
        Format::Github => machine::render_github(diags, sources),
        Format::Concise => {
            let mut out = String::new();
            for d in diags {
                let pos = sources.position(&d.origin);
                let _ = writeln!(
                    out,
                    "{}: {}[{}] {}{}",
                    location(&d.origin, pos),
                    d.severity,
                    d.code,
                    d.message,
                    path_suffix(&d.origin)
                );
            }
            out
        }
        Format::Human => {
            let mut out = String::new();
            for d in diags {
                render_human(&mut out, d, sources, style);
            }
            let (errors, warnings) = count(diags);
            if errors + warnings > 0 {
                let _ = writeln!(out, "{}", summary(errors, warnings));
            }
            out
        }
    }
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
        Some(p) => format!("{}:{}:{}", o.file, p.line, p.col),
        None => o.file.to_string(),
    }
}

fn path_suffix(o: &Origin) -> String {
    if o.path.is_empty() { String::new() } else { format!(" ({})", o.path) }
}

fn render_human(out: &mut String, d: &Diagnostic, sources: &mut SourceMap<'_>, style: Style) {
    let color = match d.severity {
        Severity::Error => "1;31",
        Severity::Warning => "1;33",
    };
    let head = style.paint(color, &format!("{}[{}]", d.severity, d.code));
    let _ = writeln!(out, "{head}: {}", style.paint("1", &d.message));
    let pos = sources.position(&d.origin);
    let _ = writeln!(out, "  --> {}{}", location(&d.origin, pos), path_suffix(&d.origin));
    if let Some(p) = pos {
        excerpt(out, sources, &d.origin.file, p, style, color);
    }
    for (o, note) in &d.related {
        let rp = sources.position(o);
        let _ = writeln!(out, "  ::: {}{}: {note}", location(o, rp), path_suffix(o));
    }
    if let Some(h) = &d.help {
        let _ = writeln!(out, "  = {}: {h}", style.paint("1;36", "help"));
    }
    out.push('\n');
}

fn excerpt(out: &mut String, sources: &SourceMap<'_>, file: &str, p: Position, style: Style, color: &str) {
    let Some(text) = sources.line(file, p.line) else { return };
    // Hostile input may hold control characters or very long lines; show a safe slice.
    let shown: String =
        text.chars().take(200).map(|c| if c.is_control() && c != '\t' { '\u{fffd}' } else { c }).collect();
    let gutter = p.line.to_string().len();
    let pad = " ".repeat(gutter);
    let _ = writeln!(out, " {pad} |");
    let _ = writeln!(out, " {} | {}", p.line, shown);
    let indent: String =
        shown.chars().take(p.col.saturating_sub(1)).map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
    let width = p.width.min(shown.chars().count().saturating_sub(p.col - 1).max(1));
    let _ = writeln!(out, " {pad} | {indent}{}", style.paint(color, &"^".repeat(width)));
}
