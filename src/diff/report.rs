//! The report of a [`Plan`]: for people on a terminal (unified diffs, coloured on a TTY),
//! for programs (JSON: one entry per changed object with its changed paths), and for a pull
//! request (Markdown: a summary table and collapsible diffs).

use std::fmt::Write as _;

use serde::Serialize;

use super::{Action, Change, Plan};
use crate::diag::escape::text as esc;

/// The report formats (`--output`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Unified diffs and a summary line.
    Human,
    /// One JSON document: a summary and one entry per changed object.
    Json,
    /// A pull-request comment: a summary table and collapsible diffs.
    Markdown,
}

/// What the two sides are called in diff headers (`live` and `desired`, or a directory and
/// `build`).
#[derive(Debug, Clone, Copy)]
pub struct Sides<'a> {
    /// The other side (the cluster, or the directory compared against).
    pub before: &'a str,
    /// This build.
    pub after: &'a str,
    /// The other side in a sentence (`the live cluster`, `` `out/` ``).
    pub title: &'a str,
}

/// GitHub refuses comments longer than 65,536 characters; the diffs stop short of that.
const MARKDOWN_BUDGET: usize = 60_000;

/// Renders the plan in the format.
pub fn render(plan: &Plan, output: Output, sides: Sides<'_>, color: bool) -> String {
    match output {
        Output::Human => human(plan, sides, color),
        Output::Json => json(plan, sides),
        Output::Markdown => markdown(plan, sides),
    }
}

/// The summary line: `2 to create, 1 to update, 0 to prune, 36 unchanged`.
pub fn summary(plan: &Plan) -> String {
    format!(
        "{} to create, {} to update, {} to prune, {} unchanged",
        plan.count(Action::Create),
        plan.count(Action::Update),
        plan.count(Action::Prune),
        plan.unchanged
    )
}

fn unified(c: &Change, sides: Sides<'_>) -> String {
    let path =
        format!("{}/{}/{}", c.key.kind, if c.key.namespace.is_empty() { "-" } else { &c.key.namespace }, c.key.name);
    // The body is normalised YAML (its strings quoted and escaped); the header is not.
    let path = esc(&path);
    let before = if c.action == Action::Create { "/dev/null".to_string() } else { format!("{}/{path}", sides.before) };
    let after = if c.action == Action::Prune { "/dev/null".to_string() } else { format!("{}/{path}", sides.after) };
    similar::TextDiff::from_lines(c.before.as_str(), c.after.as_str())
        .unified_diff()
        .context_radius(3)
        .header(&before, &after)
        .to_string()
}

fn paint(color: bool, code: &str, s: &str) -> String {
    if color { format!("\x1b[{code}m{s}\x1b[0m") } else { s.to_string() }
}

fn human(plan: &Plan, sides: Sides<'_>, color: bool) -> String {
    let mut out = String::new();
    for c in &plan.changes {
        let (mark, code) = match c.action {
            Action::Create => ('+', "32"),
            Action::Update => ('~', "33"),
            Action::Prune => ('-', "31"),
        };
        // Names, paths and values may hold anything a live object or a directory held: each
        // line is escaped (`diag::escape`), so that none reaches the terminal or forges a
        // line of a CI log.
        let title = format!("{mark} {} {}", c.action.as_str(), esc(&c.key.to_string()));
        let _ = writeln!(out, "{}", paint(color, &format!("1;{code}"), &title));
        for line in unified(c, sides).lines() {
            let line = &*esc(line);
            let code = match line.as_bytes().first() {
                _ if line.starts_with("---") || line.starts_with("+++") => "1",
                Some(b'+') => "32",
                Some(b'-') => "31",
                Some(b'@') => "36",
                _ => "",
            };
            let _ = writeln!(out, "{}", if code.is_empty() { line.to_string() } else { paint(color, code, line) });
        }
    }
    let line = if plan.has_changes() {
        format!("summary: {}", summary(plan))
    } else {
        format!("no changes: {} object{} unchanged", plan.unchanged, if plan.unchanged == 1 { "" } else { "s" })
    };
    let _ = writeln!(out, "{}", paint(color, "1", &line));
    out
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonReport<'a> {
    before: &'a str,
    after: &'a str,
    summary: JsonSummary,
    objects: Vec<JsonObject<'a>>,
}

#[derive(Serialize)]
struct JsonSummary {
    create: usize,
    update: usize,
    prune: usize,
    unchanged: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonObject<'a> {
    action: Action,
    api_version: &'a str,
    kind: &'a str,
    namespace: &'a str,
    name: &'a str,
    changed_paths: &'a [String],
    diff: String,
}

fn json(plan: &Plan, sides: Sides<'_>) -> String {
    let report = JsonReport {
        before: sides.before,
        after: sides.after,
        summary: JsonSummary {
            create: plan.count(Action::Create),
            update: plan.count(Action::Update),
            prune: plan.count(Action::Prune),
            unchanged: plan.unchanged,
        },
        objects: plan
            .changes
            .iter()
            .map(|c| JsonObject {
                action: c.action,
                api_version: &c.api_version,
                kind: &c.key.kind,
                namespace: &c.key.namespace,
                name: &c.key.name,
                changed_paths: &c.paths,
                diff: unified(c, sides),
            })
            .collect(),
    };
    // Serialising plain structs of strings and numbers cannot fail.
    let mut text = serde_json::to_string_pretty(&report).unwrap_or_default();
    text.push('\n');
    text
}

/// A table cell: pipes would end the cell, newlines (escaped with the rest, see
/// `diag::escape`) the row.
fn cell(s: &str) -> String {
    esc(s).replace('|', "\\|")
}

/// A table cell as a code span: delimited by more backticks than any run of them inside,
/// so that a backtick in a path cannot end it early.
fn code_cell(s: &str) -> String {
    let s = cell(s);
    let longest = s.split(|ch| ch != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    // A span starting or ending with a backtick needs a space inside its fences (CommonMark
    // strips one on each side).
    if s.starts_with('`') || s.ends_with('`') { format!("{fence} {s} {fence}") } else { format!("{fence}{s}{fence}") }
}

fn markdown(plan: &Plan, sides: Sides<'_>) -> String {
    let mut out = String::from("### meshgen diff\n\n");
    if !plan.has_changes() {
        let _ = writeln!(out, "No changes against {}: {} objects unchanged.", sides.title, plan.unchanged);
        return out;
    }
    let _ = writeln!(out, "Against {}: **{}**.\n", sides.title, summary(plan));
    out.push_str("| Action | Kind | Namespace | Name | Changed paths |\n|---|---|---|---|---|\n");
    for c in &plan.changes {
        let mut paths: Vec<String> = c.paths.iter().take(5).map(|p| code_cell(p)).collect();
        if c.paths.len() > 5 {
            paths.push(format!("and {} more", c.paths.len() - 5));
        }
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            c.action.as_str(),
            cell(&c.key.kind),
            cell(&c.key.namespace),
            cell(&c.key.name),
            paths.join(", ")
        );
    }
    out.push('\n');
    let mut omitted = 0;
    for c in &plan.changes {
        let diff: String = unified(c, sides).split_inclusive('\n').map(esc_line).collect();
        // A fence longer than any backtick run inside, so no diff line can close it.
        let longest = diff.split(|ch| ch != '`').map(str::len).max().unwrap_or(0);
        let fence = "`".repeat(longest.max(2) + 1);
        let block = format!(
            "<details><summary>{} {}</summary>\n\n{fence}diff\n{diff}{fence}\n\n</details>\n",
            c.action.as_str(),
            html_escape(&esc(&c.key.to_string()))
        );
        if out.len() + block.len() > MARKDOWN_BUDGET {
            omitted += 1;
            continue;
        }
        out.push_str(&block);
    }
    if omitted > 0 {
        let _ = writeln!(
            out,
            "\n{omitted} more diff{} left out to fit in a comment: run `meshgen diff` locally for all of them.",
            if omitted == 1 { " was" } else { "s were" }
        );
    }
    out
}

/// One line with its line break: the text escaped, the break kept.
fn esc_line(l: &str) -> String {
    match l.strip_suffix('\n') {
        Some(text) => format!("{}\n", esc(text)),
        None => esc(l).into_owned(),
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::escape::forges_log;
    use crate::diff::Key;

    const HOSTILE: [&str; 2] = ["a\n::error file=x::pwned", "\u{1b}[31m"];

    fn plan(x: &str) -> Plan {
        let change = |action, name: &str| Change {
            action,
            key: Key { kind: "ServiceEntry".into(), namespace: format!("ns{x}"), name: name.into() },
            api_version: "networking.istio.io/v1".into(),
            paths: vec![format!("spec.hosts[`{x}`]"), "`spec`|x".into()],
            // As normalised YAML has them: quoted and escaped.
            before: format!("kind: ServiceEntry\nmetadata:\n  name: {x:?}\n"),
            after: format!("kind: ServiceEntry\nmetadata:\n  name: \"b{x:?}\"\n"),
        };
        Plan { changes: vec![change(Action::Update, x), change(Action::Create, "web")], unchanged: 1 }
    }

    #[test]
    fn hostile_names_paths_and_values_forge_no_log_line() {
        let sides = Sides { before: "live", after: "desired", title: "the live cluster" };
        for x in HOSTILE {
            for (output, color) in [(Output::Human, false), (Output::Markdown, false)] {
                let text = render(&plan(x), output, sides, color);
                assert_eq!(forges_log(&text), None, "{output:?} of {x:?}:\n{text}");
                assert!(!text.contains('\u{1b}'), "{output:?} of {x:?} prints ESC");
            }
        }
    }

    #[test]
    fn a_backtick_in_a_changed_path_stays_inside_its_code_span() {
        assert_eq!(code_cell("spec.a"), "`spec.a`");
        assert_eq!(code_cell("spec.`x`"), "`` spec.`x` ``");
        assert_eq!(code_cell("a``b|c"), "```a``b\\|c```");
        let sides = Sides { before: "out", after: "build", title: "`out/`" };
        let text = render(&plan("q"), Output::Markdown, sides, false);
        let row = text.lines().find(|l| l.starts_with("| update")).unwrap();
        // Five cells, whatever the path holds: the pipe is escaped, the backticks fenced.
        assert_eq!(row.matches(" | ").count(), 4, "{row}");
        assert!(row.contains("``spec.hosts[`q`]``") && row.contains("`` `spec`\\|x ``"), "{row}");
    }
}
