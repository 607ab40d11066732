//! The documentation against the code: every field of the inventory, project and overlay
//! types is in a field table, and the inventory examples build, printing no warning the
//! page does not show.
//!
//! The convention for examples, for README.md and every docs/*.md page (docs/checks.md excepted: its
//! Fails/Fixed examples are run by `checks`):
//!
//! - A ```yaml block is an **inventory example** when every document in it is a mapping of
//!   `namespace`, `services` and `externals` only, with `services` or `externals`. It is
//!   written to `inventory/example.yaml` of a fresh project and built.
//! - It is **skipped** when its first line is a comment saying `(excerpt)` (an extract that
//!   names entities defined elsewhere), or naming a file outside `inventory/` (an overlay:
//!   `# environments/prod/overlays/shop.yaml`).
//! - Its **project file** is the last block of its section (up to the next heading) whose
//!   first line is `# meshgen.yaml`, else `defaults: {namespace: apps}`, as
//!   docs/inventory.md says.
//! - It must build (exit 0), and every `warning[CODE]` it prints must be shown next to it:
//!   the text `warning[CODE]` between the example and the next inventory example or heading.

use std::fs;

use crate::common;

use common::{meshgen, project, root};

/// The project file of examples whose section shows none.
const PROJECT: &str = "defaults: {namespace: apps}\n";

/// One inventory example of a page.
#[derive(Debug)]
struct Example {
    /// `page:line` of the opening fence.
    place: String,
    yaml: String,
    project: String,
    /// The page's text after the example, up to the next inventory example or heading.
    after: String,
}

/// A heading or a ```yaml block, in page order, with the byte offsets where it starts and
/// (for a block) ends.
enum Part {
    Heading { start: usize },
    Yaml { line: usize, body: String, start: usize, end: usize },
}

/// The headings and ```yaml blocks of a page.
fn parts(text: &str) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut offset = 0;
    // The open fence: its line, its offset, the body so far, whether it is YAML.
    let mut open: Option<(usize, usize, String, bool)> = None;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let start = offset;
        offset += line.len();
        let bare = line.trim_end();
        match &mut open {
            None if bare.starts_with("```") => {
                open = Some((i + 1, start, String::new(), matches!(bare, "```yaml" | "```yml")));
            }
            None if bare.starts_with('#') => parts.push(Part::Heading { start }),
            None => {}
            Some((first, fence, body, yaml)) => {
                if bare.starts_with("```") {
                    if *yaml {
                        parts.push(Part::Yaml { line: *first, body: std::mem::take(body), start: *fence, end: offset });
                    }
                    open = None;
                } else {
                    body.push_str(line);
                }
            }
        }
    }
    assert!(open.is_none(), "a code block is not closed");
    parts
}

/// Whether `yaml` is a whole inventory file (see the module's convention).
fn is_inventory(yaml: &str) -> bool {
    let Ok(docs) = meshgen::yaml::parse_all(yaml) else { return false };
    let docs: Vec<_> = docs.into_iter().filter(|d| !d.is_null()).collect();
    !docs.is_empty()
        && docs.iter().all(|d| {
            d.as_object().is_some_and(|m| {
                m.keys().all(|k| ["namespace", "services", "externals"].contains(&k.as_str()))
                    && (m.contains_key("services") || m.contains_key("externals"))
            })
        })
}

/// Whether the first line says the block is an excerpt or a file other than an inventory's.
fn skipped(yaml: &str) -> bool {
    let first = yaml.lines().next().unwrap_or_default().trim();
    let Some(comment) = first.strip_prefix('#') else { return false };
    let comment = comment.trim();
    let names_file = comment.split([' ', ':']).next().is_some_and(|w| w.ends_with(".yaml") || w.ends_with(".yml"));
    comment.contains("(excerpt)") || (names_file && !comment.starts_with("inventory/"))
}

/// The inventory examples of the page `name` whose text is `text`.
fn examples(name: &str, text: &str) -> Vec<Example> {
    let mut out: Vec<Example> = Vec::new();
    let mut project = PROJECT.to_string();
    // Where the text after the last example starts, while it is still open.
    let mut open: Option<usize> = None;
    let close = |out: &mut Vec<Example>, open: &mut Option<usize>, upto: usize| {
        if let (Some(from), Some(last)) = (open.take(), out.last_mut()) {
            last.after = text[from..upto].to_string();
        }
    };
    for part in parts(text) {
        match part {
            Part::Heading { start } => {
                close(&mut out, &mut open, start);
                project = PROJECT.to_string();
            }
            Part::Yaml { line, body, start, end } => {
                if body.trim_start().starts_with("# meshgen.yaml") {
                    project = body;
                } else if is_inventory(&body) {
                    close(&mut out, &mut open, start);
                    if !skipped(&body) {
                        out.push(Example {
                            place: format!("{name}:{line}"),
                            yaml: body,
                            project: project.clone(),
                            after: String::new(),
                        });
                        open = Some(end);
                    }
                }
            }
        }
    }
    close(&mut out, &mut open, text.len());
    out
}

/// The pages under the convention.
fn pages() -> Vec<String> {
    let mut pages = vec!["README.md".to_string()];
    let mut docs: Vec<String> = fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| format!("docs/{}", e.unwrap().file_name().to_string_lossy()))
        .filter(|p| p.ends_with(".md") && p != "docs/checks.md")
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

/// The codes of the findings of `severity` in a human report.
fn codes(report: &str, severity: &str) -> Vec<String> {
    let head = format!("{severity}[");
    report
        .lines()
        .filter_map(|l| l.strip_prefix(&head))
        .filter_map(|rest| rest.split(']').next())
        .map(str::to_string)
        .collect()
}

#[test]
fn every_inventory_example_builds_and_shows_its_warnings() {
    let examples: Vec<Example> =
        pages().iter().flat_map(|p| examples(p, &fs::read_to_string(root().join(p)).unwrap())).collect();
    assert!(examples.len() >= 30, "found only {} inventory examples", examples.len());
    assert!(examples.iter().any(|e| e.project != PROJECT), "examples with their own project file are found");
    let mut failures = Vec::new();
    for e in &examples {
        let tmp = project(&[("meshgen.yaml", &e.project), ("inventory/example.yaml", &e.yaml)]);
        let r = meshgen(tmp.path(), &["build", "--stdout"]);
        if r.code != 0 {
            failures.push(format!("{}: does not build (exit {}):\n{}", e.place, r.code, r.stderr));
            continue;
        }
        let mut warnings = codes(&r.stderr, "warning");
        warnings.dedup();
        for code in warnings {
            let shown = format!("warning[{code}]");
            if !e.after.contains(&shown) {
                failures.push(format!(
                    "{}: prints `{shown}`, which the page does not show after it:\n{}",
                    e.place, r.stderr
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The convention's parts, on a page made up for the purpose: what counts as an example, its
/// project file, and the text that belongs to it.
#[test]
fn the_convention_finds_examples_their_project_and_their_notes() {
    let page = "\
# Title
```yaml
# meshgen.yaml
policy: {namespaces: [shop]}
```
```yaml
services: {a: {ports: {http: 80}, pods: {app: a}}}
```
It prints `warning[x]`.
```yaml
kind: DestinationRule  # an output, not an example
```
## Next
```yaml
# inventory/shop/a.yaml (excerpt)
services: {a: {dependsOn: [b]}}
```
```yaml
# environments/prod/overlays/a.yaml
services: {a: {vms: []}}
```
```yaml
# inventory/b.yaml
externals: {b: {hosts: [b.example], ports: {https: 443}}}
---
namespace: x
services: {}
```
";
    let found = examples("page.md", page);
    let summary: Vec<(&str, bool, bool)> = found
        .iter()
        .map(|e| (e.place.rsplit(':').next().unwrap(), e.project != PROJECT, e.after.contains("warning[x]")))
        .collect();
    assert_eq!(summary, [("6", true, true), ("22", false, false)]);
    assert!(!found[0].after.contains("## Next"), "the text of an example stops at the next heading");
}

/// The files of the serde types of the inventory (`raw`, and the types its fields use),
/// the project file (`project`) and overlays (`overlay`).
const MODEL: &[&str] = &["raw", "project", "overlay", "traffic", "http", "ingress", "egress", "patch"];
/// The pages whose tables document those fields.
const FIELD_PAGES: &[&str] = &["docs/inventory.md", "docs/environments.md", "docs/policy.md"];
/// Fields read from the YAML before serde sees it (`enabled`: `model::overlay::take_enabled`).
const NOT_SERDE: &[&str] = &["enabled"];

/// The field names of the structs that serde reads in `text`, as written in YAML: each
/// field's `#[serde(rename = "…")]`, else its name, camelCased under `rename_all =
/// "camelCase"`; `#[serde(skip)]` fields are not read. A struct counts when it derives
/// `Deserialize` or the file implements `Deserialize` for it by hand.
fn serde_fields(text: &str) -> Vec<(String, String)> {
    let by_hand: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("impl<'de> Deserialize<'de> for "))
        .filter_map(|rest| rest.split_whitespace().next())
        .collect();
    let mut out = Vec::new();
    let mut attrs: Vec<&str> = Vec::new();
    let mut current: Option<(String, bool)> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with("///") || line.starts_with("//") {
            continue;
        }
        if line.starts_with("#[") {
            attrs.push(line);
            continue;
        }
        match &current {
            None => {
                let words: Vec<&str> = line.split_whitespace().collect();
                let at = words.iter().position(|w| *w == "struct");
                if let Some(name) = at.and_then(|i| words.get(i + 1)).filter(|_| line.ends_with('{')) {
                    let name = name.trim_end_matches('{');
                    let derived = attrs.iter().any(|a| a.starts_with("#[derive(") && a.contains("Deserialize"));
                    if derived || by_hand.contains(&name) {
                        let camel = attrs.iter().any(|a| a.contains("rename_all = \"camelCase\""));
                        current = Some((name.to_string(), camel));
                    }
                }
            }
            Some(_) if line == "}" => current = None,
            Some((name, camel)) => {
                let field = line.strip_prefix("pub ").unwrap_or(line);
                let field = field.strip_prefix("pub(crate) ").unwrap_or(field);
                if let Some((ident, _)) = field.split_once(": ")
                    && ident.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && !attrs.contains(&"#[serde(skip)]")
                {
                    let renamed = attrs.iter().find_map(|a| a.split("rename = \"").nth(1)?.split('"').next());
                    let yaml = match renamed {
                        Some(r) => r.to_string(),
                        None if *camel => camel_case(ident),
                        None => ident.to_string(),
                    };
                    out.push((name.clone(), yaml));
                }
            }
        }
        attrs.clear();
    }
    out
}

/// `snake_case` as serde's `camelCase`.
fn camel_case(ident: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in ident.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// The words inside `code spans` on the table rows of `text`.
fn table_words(text: &str) -> std::collections::BTreeSet<String> {
    let mut words = std::collections::BTreeSet::new();
    for row in text.lines().map(str::trim_start).filter(|l| l.starts_with('|')) {
        for span in row.split('`').skip(1).step_by(2) {
            words.extend(
                span.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .filter(|w| !w.is_empty())
                    .map(str::to_string),
            );
        }
    }
    words
}

/// Every field a user can write is in a field table of the docs, so that a field added to
/// the language cannot go undocumented.
#[test]
fn every_field_of_the_language_is_in_a_field_table() {
    let mut fields: Vec<(String, String)> = Vec::new();
    for module in MODEL {
        let text = fs::read_to_string(root().join(format!("src/model/{module}.rs"))).unwrap();
        fields.extend(serde_fields(&text).into_iter().map(|(ty, f)| (format!("{module}::{ty}"), f)));
    }
    assert!(fields.len() > 150, "only {} fields found: is the parser still right?", fields.len());
    for (ty, field) in
        [("raw::RawService", "dependsOn"), ("raw::RawRoute", "match"), ("project::RawIstio", "egressGateway")]
    {
        assert!(fields.iter().any(|(t, f)| t == ty && f == field), "the parser finds {ty}.{field}");
    }
    fields.extend(NOT_SERDE.iter().map(|f| ("(read before serde)".to_string(), f.to_string())));
    let docs: String = FIELD_PAGES.iter().map(|p| fs::read_to_string(root().join(p)).unwrap()).collect();
    let documented = table_words(&docs);
    let missing: Vec<String> =
        fields.iter().filter(|(_, f)| !documented.contains(f)).map(|(t, f)| format!("{t}.{f}")).collect();
    assert!(missing.is_empty(), "fields in no table of {FIELD_PAGES:?}: {missing:?}");
}
