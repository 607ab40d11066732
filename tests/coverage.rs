//! `docs/coverage.md` accounts for every field of the Istio kinds meshgen emits: for each
//! field path under `spec` in Istio's CRDs it says which inventory field produces it, or that
//! it is "patch only", or "not applicable" and why. This test walks the CRD schemas (found
//! through `MESHGEN_ISTIO_CRDS` or `../shared/istio-crds`) and fails on every path the page
//! does not cover and on every row that names a path the CRDs no longer have, so a new Istio
//! release lists exactly what is left to decide. Without the CRDs it says so loudly and passes.
//!
//! Paths are dotted: `[]` is an item of a list (`items`), `{}` the value of a map
//! (`additionalProperties`), e.g. `spec.trafficPolicy.portLevelSettings[].tls.mode`. A row
//! whose path ends in `.*` covers that field and everything under it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use meshgen::yaml::Value;

use crate::common::istio_crds;
use istio_crds::istio_crds_or_skip;

/// The page, relative to the repository root.
const PAGE: &str = "docs/coverage.md";

/// The kinds the page covers, in its order, each with the CRD file that defines it.
const KINDS: [(&str, &str); 8] = [
    ("ServiceEntry", "serviceentries.networking.istio.io.yaml"),
    ("WorkloadEntry", "workloadentries.networking.istio.io.yaml"),
    ("WorkloadGroup", "workloadgroups.networking.istio.io.yaml"),
    ("DestinationRule", "destinationrules.networking.istio.io.yaml"),
    ("VirtualService", "virtualservices.networking.istio.io.yaml"),
    ("Gateway", "gateways.networking.istio.io.yaml"),
    ("Sidecar", "sidecars.networking.istio.io.yaml"),
    ("AuthorizationPolicy", "authorizationpolicies.security.istio.io.yaml"),
];

/// The header every kind's table starts with.
const HEADER: [&str; 3] = ["Field", "Inventory", "Notes"];

/// Field paths by kind.
type Paths = BTreeMap<&'static str, BTreeSet<String>>;

/// The page's rows by kind.
type Rows = BTreeMap<&'static str, Vec<Row>>;

/// Every field path under `spec` of each kind, read from the CRDs in `dir`.
fn crd_paths(dir: &Path) -> Paths {
    KINDS
        .iter()
        .map(|&(kind, file)| {
            let path = dir.join(file);
            let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            let crd: Value = meshgen::yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(crd["spec"]["names"]["kind"].as_str(), Some(kind), "{}: another kind", path.display());
            let spec = &schema(&crd, &path)["properties"]["spec"];
            assert!(spec.is_object(), "{}: the schema has no `spec`", path.display());
            let mut paths = BTreeSet::new();
            walk(spec, "spec", &mut paths);
            assert!(!paths.is_empty(), "{}: `spec` has no fields", path.display());
            (kind, paths)
        })
        .collect()
}

/// The OpenAPI schema of the CRD's version `v1`, or of its first served version if it has
/// no `v1`.
fn schema<'a>(crd: &'a Value, path: &Path) -> &'a Value {
    let versions = crd["spec"]["versions"].as_array().unwrap_or_else(|| panic!("{}: no versions", path.display()));
    let served = |v: &&Value| v["served"].as_bool() == Some(true);
    let version = versions
        .iter()
        .find(|v| v["name"].as_str() == Some("v1"))
        .or_else(|| versions.iter().find(served))
        .unwrap_or_else(|| panic!("{}: no v1 and no served version", path.display()));
    &version["schema"]["openAPIV3Schema"]
}

/// Adds the path of every field below `node` (whose own path is `path`): its `properties`,
/// the items of a list (`[]`), the values of a map (`{}`), and the fields that `oneOf`,
/// `anyOf` and `allOf` branches declare.
fn walk(node: &Value, path: &str, out: &mut BTreeSet<String>) {
    if let Some(properties) = node["properties"].as_object() {
        for (name, field) in properties {
            let name = name.as_str();
            let child = format!("{path}.{name}");
            walk(field, &child, out);
            out.insert(child);
        }
    }
    if node["items"].is_object() {
        walk(&node["items"], &format!("{path}[]"), out);
    }
    if node["additionalProperties"].is_object() {
        walk(&node["additionalProperties"], &format!("{path}{{}}"), out);
    }
    for keyword in ["oneOf", "anyOf", "allOf"] {
        for branch in node[keyword].as_array().into_iter().flatten() {
            walk(branch, path, out);
        }
    }
}

/// One row of a kind's table.
#[derive(Debug)]
struct Row {
    /// The path, without a trailing `.*`.
    path: String,
    /// Whether the row covers the whole subtree (`.*`).
    subtree: bool,
    /// The line of the page it is on (1-based).
    line: usize,
}

impl Row {
    /// Whether this row covers `path`: the path itself, or anything under it for `.*`.
    fn covers(&self, path: &str) -> bool {
        match path.strip_prefix(self.path.as_str()) {
            Some("") => true,
            Some(rest) => self.subtree && rest.starts_with(['.', '[', '{']),
            None => false,
        }
    }

    /// The path as the page writes it.
    fn written(&self) -> String {
        if self.subtree { format!("{}.*", self.path) } else { self.path.clone() }
    }
}

/// The rows of the page by kind, or every problem with its shape: a kind without a section,
/// a table without the expected header, a row that is not `` | `path` | inventory | notes | ``,
/// a row without an answer, "not applicable" without a reason, a path listed twice.
fn parse_page(text: &str) -> Result<Rows, Vec<String>> {
    let mut rows = Rows::new();
    let mut problems = Vec::new();
    let mut kind: Option<&'static str> = None;
    let mut header_seen = false;
    let mut in_code = false;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let line = line.trim();
        if line.starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        if let Some(heading) = line.strip_prefix("## ") {
            kind = KINDS.iter().map(|&(k, _)| k).find(|k| *k == heading.trim());
            if let Some(k) = kind
                && rows.insert(k, Vec::new()).is_some()
            {
                problems.push(format!("line {n}: a second `## {k}` section"));
            }
            header_seen = false;
            continue;
        }
        if line.starts_with("# ") {
            kind = None;
            continue;
        }
        let Some(kind) = kind else { continue };
        if !line.starts_with('|') {
            continue;
        }
        let cells = cells(line);
        if cells.iter().all(|c| !c.is_empty() && c.chars().all(|ch| matches!(ch, '-' | ':'))) {
            continue; // the separator under the header
        }
        if !header_seen {
            if cells != HEADER {
                problems.push(format!("line {n}: the {kind} table must start with `| Field | Inventory | Notes |`"));
            }
            header_seen = true;
            continue;
        }
        let [field, inventory, notes] = cells.as_slice() else {
            problems.push(format!("line {n}: expected 3 cells (Field, Inventory, Notes), found {}", cells.len()));
            continue;
        };
        let Some(written) = field.strip_prefix('`').and_then(|f| f.strip_suffix('`')).filter(|f| !f.contains('`'))
        else {
            problems.push(format!("line {n}: the Field cell must be one path in backticks, not `{field}`"));
            continue;
        };
        if !written.starts_with("spec.") {
            problems.push(format!("line {n}: `{written}` does not start with `spec.`"));
        }
        if inventory.is_empty() {
            problems.push(format!(
                "line {n}: `{written}` has no answer (an inventory field, patch only, or not applicable)"
            ));
        }
        if inventory.starts_with("not applicable") && notes.is_empty() {
            problems.push(format!("line {n}: `{written}` is not applicable but its Notes do not say why"));
        }
        let (path, subtree) = match written.strip_suffix(".*") {
            Some(base) => (base.to_string(), true),
            None => (written.to_string(), false),
        };
        let list = rows.entry(kind).or_default();
        if let Some(first) = list.iter().find(|r| r.path == path && r.subtree == subtree) {
            problems.push(format!("line {n}: `{written}` is already listed on line {}", first.line));
        }
        list.push(Row { path, subtree, line: n });
    }
    for (kind, _) in KINDS {
        if !rows.contains_key(kind) {
            problems.push(format!("no `## {kind}` section"));
        }
    }
    if problems.is_empty() { Ok(rows) } else { Err(problems) }
}

/// The cells of a table row, trimmed; `\|` is a pipe inside a cell.
fn cells(line: &str) -> Vec<String> {
    let inner = line.strip_prefix('|').unwrap_or(line);
    let inner = inner.strip_suffix('|').filter(|s| !s.ends_with('\\')).unwrap_or(inner);
    let mut out = vec![String::new()];
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                out.last_mut().expect("one cell at least").push('|');
                chars.next();
            }
            '|' => out.push(String::new()),
            c => out.last_mut().expect("one cell at least").push(c),
        }
    }
    out.iter().map(|c| c.trim().to_string()).collect()
}

/// The CRD paths and the page's rows, or `None` when the CRDs are absent (after a loud
/// message).
fn load() -> Option<(Paths, Rows)> {
    let dir = istio_crds_or_skip()?;
    let page = Path::new(env!("CARGO_MANIFEST_DIR")).join(PAGE);
    let text = fs::read_to_string(&page).unwrap_or_else(|e| panic!("cannot read {}: {e}", page.display()));
    let rows = parse_page(&text).unwrap_or_else(|problems| panic!("{PAGE} is malformed:\n{}", problems.join("\n")));
    Some((crd_paths(&dir), rows))
}

#[test]
fn every_field_of_the_crds_is_on_the_page() {
    let Some((paths, rows)) = load() else { return };
    let mut missing = Vec::new();
    for (kind, _) in KINDS {
        let rows = &rows[kind];
        for path in paths[kind].iter().filter(|p| !rows.iter().any(|r| r.covers(p))) {
            missing.push(format!("{kind}  {path}"));
        }
    }
    assert!(
        missing.is_empty(),
        "{} field paths of the Istio CRDs are not on {PAGE}; add a row for each under its kind \
         (the inventory field, \"patch only\", or \"not applicable\" and why):\n{}",
        missing.len(),
        missing.join("\n")
    );
}

#[test]
fn every_row_of_the_page_is_a_field_of_the_crds() {
    let Some((paths, rows)) = load() else { return };
    let mut stale: Vec<String> = Vec::new();
    for (kind, _) in KINDS {
        for row in &rows[kind] {
            if !paths[kind].contains(&row.path) {
                stale.push(format!("{kind}  {} (line {})", row.written(), row.line));
            }
        }
    }
    stale.sort();
    assert!(
        stale.is_empty(),
        "{} rows of {PAGE} name fields the Istio CRDs do not have (renamed or removed by Istio?):\n{}",
        stale.len(),
        stale.join("\n")
    );
}

/// The test's own parts work, so that a passing run means something.
#[test]
fn the_checker_reads_rows_and_covers_subtrees() {
    let page = "# Title\n\n## ServiceEntry\n\n| Field | Inventory | Notes |\n|---|---|---|\n\
                | `spec.hosts` | `externals.<name>.hosts` | a \\| b |\n| `spec.ports.*` | patch only | |\n";
    let Err(problems) = parse_page(page) else { panic!("seven kinds have no section") };
    assert_eq!(problems.len(), 7, "{problems:?}");
    let all: String = KINDS.iter().skip(1).map(|(k, _)| format!("## {k}\n\n| Field | Inventory | Notes |\n")).collect();
    let rows = parse_page(&format!("{page}{all}")).expect("well-formed");
    let se = &rows["ServiceEntry"];
    assert_eq!(se.len(), 2);
    assert!(se[0].covers("spec.hosts") && !se[0].covers("spec.hostsX") && !se[0].covers("spec.hosts[]"));
    assert!(se[1].covers("spec.ports") && se[1].covers("spec.ports[].name") && !se[1].covers("spec.portsX"));
    assert_eq!(cells("| `a` | b \\| c | |"), ["`a`", "b | c", ""]);

    let bad = format!("{page}| `spec.hosts` | | |\n| `spec.x` | not applicable | |\n| spec.y | patch only | |\n{all}");
    let problems = parse_page(&bad).expect_err("three bad rows");
    assert_eq!(problems.len(), 4, "{problems:#?}"); // `spec.hosts`: listed twice, and no answer

    let schema: Value = meshgen::yaml::from_str(
        "properties:\n  a:\n    items:\n      properties:\n        b: {}\n  m:\n    additionalProperties:\n      \
         properties:\n        exact: {}\noneOf:\n  - properties:\n      c: {}\n  - required: [a]\n",
    )
    .expect("valid YAML");
    let mut paths = BTreeSet::new();
    walk(&schema, "spec", &mut paths);
    let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
    assert_eq!(paths, ["spec.a", "spec.a[].b", "spec.c", "spec.m", "spec.m{}.exact"]);
}
