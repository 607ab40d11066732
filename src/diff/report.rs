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
    /// The cluster compared with: its API server and kubeconfig context.
    pub cluster: Option<(&'a str, Option<&'a str>)>,
}

/// How the report is printed beyond its format.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    /// Colour (the human format on a terminal).
    pub color: bool,
    /// The most bytes the Markdown report may take: GitHub refuses comments over 65,536
    /// characters, so the default stays under that.
    pub markdown_limit: usize,
}

impl Default for Style {
    fn default() -> Style {
        Style { color: false, markdown_limit: DEFAULT_MARKDOWN_LIMIT }
    }
}

/// The default of `--markdown-limit`.
pub const DEFAULT_MARKDOWN_LIMIT: usize = 65_000;

/// The JSON report's version: 2 added `schemaVersion`, `cluster`, the `terminating` action,
/// `notes` and `conflicts`.
const JSON_SCHEMA_VERSION: u32 = 2;

/// Renders the plan in the format.
pub fn render(plan: &Plan, output: Output, sides: Sides<'_>, style: Style) -> String {
    match output {
        Output::Human => human(plan, sides, style.color),
        Output::Json => json(plan, sides),
        Output::Markdown => markdown(plan, sides, style.markdown_limit),
    }
}

/// The summary line: `2 to create, 1 to update, 0 to prune, 36 unchanged`, and objects
/// being deleted when there are any.
pub fn summary(plan: &Plan) -> String {
    let mut line = format!(
        "{} to create, {} to update, {} to prune, {} unchanged",
        plan.count(Action::Create),
        plan.count(Action::Update),
        plan.count(Action::Prune),
        plan.unchanged
    );
    let terminating = plan.count(Action::Terminating);
    if terminating > 0 {
        let _ = write!(line, ", {terminating} being deleted and wanted back");
    }
    if plan.terminating > 0 {
        let _ = write!(line, ", {} already being deleted", plan.terminating);
    }
    match plan.findings.len() {
        0 => {}
        1 => line.push_str(", 1 conflict with an object meshgen does not own"),
        n => {
            let _ = write!(line, ", {n} conflicts with objects meshgen does not own");
        }
    }
    line
}

/// The notes and conflicts of a change, one line each.
fn remarks(c: &Change) -> impl Iterator<Item = String> + '_ {
    (c.conflicts.iter().map(|x| format!("conflict: {x}"))).chain(c.notes.iter().map(|n| format!("note: {n}")))
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
            Action::Terminating => ('!', "35"),
        };
        // Names, paths and values may hold anything a live object or a directory held: each
        // line is escaped (`diag::escape`), so that none reaches the terminal or forges a
        // line of a CI log.
        let title = format!("{mark} {} {}", c.action.as_str(), esc(&c.key.to_string()));
        let _ = writeln!(out, "{}", paint(color, &format!("1;{code}"), &title));
        for remark in remarks(c) {
            let _ = writeln!(out, "  {}", esc(&remark));
        }
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
    for f in &plan.findings {
        let title = format!("warning[{}]: {}", f.code, esc(&f.message));
        let _ = writeln!(out, "{}\n  help: {}", paint(color, "1;33", &title), esc(&f.help));
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
    schema_version: u32,
    before: &'a str,
    after: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster: Option<JsonCluster<'a>>,
    summary: JsonSummary,
    objects: Vec<JsonObject<'a>>,
    /// Conflicts with objects of other owners.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    findings: &'a [super::conflicts::Finding],
}

#[derive(Serialize)]
struct JsonCluster<'a> {
    server: &'a str,
    context: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonSummary {
    create: usize,
    update: usize,
    prune: usize,
    terminating: usize,
    unchanged: usize,
    /// Live objects the inventory no longer has, already being deleted.
    already_deleting: usize,
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
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    notes: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    conflicts: &'a [String],
    diff: String,
}

fn json(plan: &Plan, sides: Sides<'_>) -> String {
    let report = JsonReport {
        schema_version: JSON_SCHEMA_VERSION,
        before: sides.before,
        after: sides.after,
        cluster: sides.cluster.map(|(server, context)| JsonCluster { server, context }),
        summary: JsonSummary {
            create: plan.count(Action::Create),
            update: plan.count(Action::Update),
            prune: plan.count(Action::Prune),
            terminating: plan.count(Action::Terminating),
            unchanged: plan.unchanged,
            already_deleting: plan.terminating,
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
                notes: &c.notes,
                conflicts: &c.conflicts,
                diff: unified(c, sides),
            })
            .collect(),
        findings: &plan.findings,
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

/// A pull-request comment of at most `limit` bytes: the table first (rows left out with
/// "and N more" when it alone would not fit), then as many diffs as fit after it.
fn markdown(plan: &Plan, sides: Sides<'_>, limit: usize) -> String {
    let mut out = String::from("### meshgen diff\n\n");
    if !plan.has_changes() {
        let _ = writeln!(out, "No changes against {}: {} objects unchanged.", sides.title, plan.unchanged);
        return out;
    }
    let _ = writeln!(out, "Against {}: **{}**.\n", sides.title, summary(plan));
    out.push_str("| Action | Kind | Namespace | Name | Changed paths |\n|---|---|---|---|---|\n");
    // What the last lines may take: the "and N more" line and the pointer to the full report.
    const TAIL: usize = 400;
    let mut rows = 0;
    for c in &plan.changes {
        let mut paths: Vec<String> = c.paths.iter().take(5).map(|p| code_cell(p)).collect();
        if c.paths.len() > 5 {
            paths.push(format!("and {} more", c.paths.len() - 5));
        }
        paths.extend(c.conflicts.iter().map(|x| format!("**conflict** {}", cell(x))));
        let row = format!(
            "| {} | {} | {} | {} | {} |\n",
            c.action.as_str(),
            cell(&c.key.kind),
            cell(&c.key.namespace),
            cell(&c.key.name),
            paths.join(", ")
        );
        if out.len() + row.len() + TAIL > limit {
            break;
        }
        out.push_str(&row);
        rows += 1;
    }
    if rows < plan.changes.len() {
        let _ = writeln!(out, "| … | and {} more | | | |", plan.changes.len() - rows);
    }
    out.push('\n');
    if !plan.findings.is_empty() {
        out.push_str("**Conflicts with objects meshgen does not own:**\n\n");
        for f in &plan.findings {
            let line = format!("- `{}`: {} ({})\n", f.code, html_escape(&esc(&f.message)), html_escape(&esc(&f.help)));
            if out.len() + line.len() + TAIL > limit {
                break;
            }
            out.push_str(&line);
        }
        out.push('\n');
    }
    let mut omitted = plan.changes.len() - rows;
    for c in &plan.changes[..rows] {
        let diff: String = unified(c, sides).split_inclusive('\n').map(esc_line).collect();
        // A fence longer than any backtick run inside, so no diff line can close it.
        let longest = diff.split(|ch| ch != '`').map(str::len).max().unwrap_or(0);
        let fence = "`".repeat(longest.max(2) + 1);
        let notes: String = remarks(c).map(|r| format!("{}\n\n", html_escape(&esc(&r)))).collect();
        let block = format!(
            "<details><summary>{} {}</summary>\n\n{notes}{fence}diff\n{diff}{fence}\n\n</details>\n",
            c.action.as_str(),
            html_escape(&esc(&c.key.to_string()))
        );
        if out.len() + block.len() + TAIL > limit {
            omitted += 1;
            continue;
        }
        out.push_str(&block);
    }
    if omitted > 0 {
        let _ = writeln!(
            out,
            "\n{omitted} of {} diffs left out to keep this comment under {limit} characters: the full report is `meshgen diff -o json` (keep it as a CI artifact), or run `meshgen diff` locally.",
            plan.changes.len()
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
            notes: vec![format!("note {x}")],
            conflicts: vec![format!("`.spec.hosts`: conflict with {x:?}")],
        };
        Plan {
            changes: vec![change(Action::Update, x), change(Action::Create, "web")],
            unchanged: 1,
            ..Plan::default()
        }
    }

    #[test]
    fn hostile_names_paths_and_values_forge_no_log_line() {
        let sides = Sides { before: "live", after: "desired", title: "the live cluster", cluster: None };
        for x in HOSTILE {
            for output in [Output::Human, Output::Markdown] {
                let text = render(&plan(x), output, sides, Style::default());
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
        let sides = Sides { before: "out", after: "build", title: "`out/`", cluster: None };
        let text = render(&plan("q"), Output::Markdown, sides, Style::default());
        let row = text.lines().find(|l| l.starts_with("| update")).unwrap();
        // Five cells, whatever the path holds: the pipe is escaped, the backticks fenced.
        assert_eq!(row.matches(" | ").count(), 4, "{row}");
        assert!(row.contains("``spec.hosts[`q`]``") && row.contains("`` `spec`\\|x ``"), "{row}");
    }

    /// 1,000 changed objects used to give a 77,275-character comment, which GitHub refuses.
    #[test]
    fn the_markdown_report_stays_under_its_limit_and_says_where_the_rest_is() {
        let one = plan("x").changes.remove(0);
        let changes: Vec<Change> = (0..1000)
            .map(|i| Change { key: Key { name: format!("service-{i:04}"), ..one.key.clone() }, ..one.clone() })
            .collect();
        let plan = Plan { changes, ..Plan::default() };
        let sides = Sides { before: "live", after: "desired", title: "the live cluster", cluster: None };
        for limit in [DEFAULT_MARKDOWN_LIMIT, 20_000] {
            let text = render(&plan, Output::Markdown, sides, Style { color: false, markdown_limit: limit });
            assert!(text.len() <= limit, "{} > {limit}", text.len());
            let rows = text.lines().filter(|l| l.starts_with("| update")).count();
            assert!(rows > 50 && rows < 1000, "{rows} rows");
            let more = format!("| … | and {} more | | | |", 1000 - rows);
            assert!(text.contains(&more), "no `{more}` in the table");
            assert!(text.contains("the full report is `meshgen diff -o json`"), "{}", &text[text.len() - 300..]);
        }
        let small = Plan { changes: plan.changes[..3].to_vec(), ..plan.clone() };
        let text = render(&small, Output::Markdown, sides, Style::default());
        assert!(!text.contains("more |") && !text.contains("left out"), "{text}");
        assert_eq!(text.matches("<details>").count(), 3);
    }
}
