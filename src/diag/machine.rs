//! Machine-readable diagnostics: JSON, SARIF 2.1.0 (code scanning) and GitHub workflow
//! commands (annotations on a pull request's diff).

use serde::Serialize;
use serde_json::json;

use super::render::SourceMap;
use super::{Diagnostic, Origin, Severity};
use crate::diag::locate::Position;

#[derive(Serialize)]
struct JsonLocation<'a> {
    file: &'a str,
    line: Option<usize>,
    column: Option<usize>,
    path: &'a str,
}

#[derive(Serialize)]
struct JsonRelated<'a> {
    #[serde(flatten)]
    location: JsonLocation<'a>,
    message: &'a str,
}

#[derive(Serialize)]
struct JsonDiagnostic<'a> {
    severity: Severity,
    code: &'a str,
    message: &'a str,
    #[serde(flatten)]
    location: JsonLocation<'a>,
    help: Option<&'a str>,
    related: Vec<JsonRelated<'a>>,
}

pub(super) fn render_json(diags: &[Diagnostic], sources: &mut SourceMap<'_>) -> String {
    let items: Vec<JsonDiagnostic<'_>> = diags
        .iter()
        .map(|d| {
            let pos = sources.position(&d.origin);
            JsonDiagnostic {
                severity: d.severity,
                code: d.code,
                message: &d.message,
                location: json_location(&d.origin, pos),
                help: d.help.as_deref(),
                related: d
                    .related
                    .iter()
                    .map(|(o, m)| JsonRelated { location: json_location(o, sources.position(o)), message: m })
                    .collect(),
            }
        })
        .collect();
    let mut s = serde_json::to_string_pretty(&items).unwrap_or_else(|_| "[]".into());
    s.push('\n');
    s
}

fn json_location(o: &Origin, pos: Option<Position>) -> JsonLocation<'_> {
    JsonLocation { file: &o.file, line: pos.map(|p| p.line), column: pos.map(|p| p.col), path: &o.path }
}

/// SARIF 2.1.0: one run, one rule per code seen, one result per diagnostic.
pub(super) fn render_sarif(diags: &[Diagnostic], sources: &mut SourceMap<'_>) -> String {
    let mut codes: Vec<&str> = diags.iter().map(|d| d.code).collect();
    codes.sort_unstable();
    codes.dedup();
    let rules: Vec<serde_json::Value> = codes
        .iter()
        .map(|c| {
            // meshgen's documentation explains each code; no web address is assumed.
            let summary = super::codes::lookup(c).map_or(*c, |code| code.summary);
            json!({"id": c, "name": c, "shortDescription": {"text": summary}, "help": {"text": format!("see {}", super::docs::check(c))}})
        })
        .collect();
    let results: Vec<serde_json::Value> = diags
        .iter()
        .map(|d| {
            let text = match &d.help {
                Some(h) => format!("{}\nhelp: {h}", d.message),
                None => d.message.clone(),
            };
            let related: Vec<serde_json::Value> = d
                .related
                .iter()
                .enumerate()
                .map(|(i, (o, m))| {
                    let mut l = sarif_location(o, sources.position(o));
                    l["id"] = json!(i + 1);
                    l["message"] = json!({"text": m});
                    l
                })
                .collect();
            json!({
                "ruleId": d.code,
                "ruleIndex": codes.binary_search(&d.code).unwrap_or(0),
                "level": match d.severity { Severity::Error => "error", Severity::Warning => "warning" },
                "message": {"text": text},
                "locations": [sarif_location(&d.origin, sources.position(&d.origin))],
                "relatedLocations": related,
            })
        })
        .collect();
    let log = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "meshgen",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    });
    let mut s = serde_json::to_string_pretty(&log).unwrap_or_default();
    s.push('\n');
    s
}

fn sarif_location(o: &Origin, pos: Option<Position>) -> serde_json::Value {
    let mut physical = json!({"artifactLocation": {"uri": &*o.file, "uriBaseId": "%SRCROOT%"}});
    if let Some(p) = pos {
        physical["region"] = json!({"startLine": p.line, "startColumn": p.col, "endColumn": p.col + p.width});
    }
    let mut l = json!({"physicalLocation": physical});
    if !o.path.is_empty() {
        l["logicalLocations"] = json!([{"fullyQualifiedName": o.path, "kind": "member"}]);
    }
    l
}

/// GitHub Actions workflow commands: `::error file=F,line=L,col=C,title=T::message`.
pub(super) fn render_github(diags: &[Diagnostic], sources: &mut SourceMap<'_>) -> String {
    let mut out = String::new();
    for d in diags {
        let level = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut props = vec![format!("file={}", property(&d.origin.file))];
        if let Some(p) = sources.position(&d.origin) {
            props.push(format!("line={}", p.line));
            props.push(format!("col={}", p.col));
        }
        props.push(format!("title={}", property(&format!("meshgen {}", d.code))));
        let mut message = d.message.clone();
        if !d.origin.path.is_empty() {
            message.push_str(&format!(" ({})", d.origin.path));
        }
        if let Some(h) = &d.help {
            message.push_str(&format!("\nhelp: {h}"));
        }
        out.push_str(&format!("::{level} {}::{}\n", props.join(","), data(&message)));
    }
    out
}

/// Escapes a workflow command's message (GitHub's rules: `%`, CR, LF).
fn data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Escapes a workflow command's property value (also `:` and `,`).
fn property(s: &str) -> String {
    data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::diag::render::{Format, Style, render};

    fn sample() -> (Vec<Diagnostic>, &'static str) {
        let file: Arc<str> = Arc::from("inventory/a.yaml");
        let d =
            Diagnostic::error("unknown-field", Origin::new(&file, 0, "services.a.hots").key(), "unknown field `hots`")
                .help("did you mean `host`?")
                .related(Origin::new(&file, 0, "services.a"), "in this service");
        (vec![d], "services:\n  a:\n    hots: x\n")
    }

    #[test]
    fn sarif_has_rule_result_and_region() {
        let (diags, text) = sample();
        let mut map = SourceMap::new();
        map.add("inventory/a.yaml", text);
        let out = render(&diags, &mut map, Format::Sarif, Style::new(false));
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["version"], "2.1.0");
        let run = &v["runs"][0];
        assert_eq!(run["tool"]["driver"]["rules"][0]["id"], "unknown-field");
        let r = &run["results"][0];
        assert_eq!(r["level"], "error");
        let region = &r["locations"][0]["physicalLocation"]["region"];
        assert_eq!((region["startLine"].as_u64(), region["startColumn"].as_u64()), (Some(3), Some(5)));
        assert_eq!(r["relatedLocations"][0]["message"]["text"], "in this service");
    }

    #[test]
    fn github_annotations_are_escaped() {
        let (mut diags, text) = sample();
        diags[0].message = "50% of\nthe: lines, here".into();
        let mut map = SourceMap::new();
        map.add("inventory/a.yaml", text);
        let out = render(&diags, &mut map, Format::Github, Style::new(false));
        assert_eq!(
            out,
            "::error file=inventory/a.yaml,line=3,col=5,title=meshgen unknown-field::50%25 of%0Athe: lines, here \
             (services.a.hots)%0Ahelp: did you mean `host`?\n"
        );
    }
}
