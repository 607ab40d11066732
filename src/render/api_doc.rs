//! The reference of the template contexts in `docs/templates.md`, generated from the types of
//! [`super::api`] (their source: fields, JSON names, types and doc comments), and the tests
//! that keep the committed page equal to it and the types equal to what templates receive.
//!
//! `MESHGEN_BLESS=1 cargo test --lib api_doc` rewrites the generated part of the page.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use super::api::{self, Spec};
use super::context::Kind;

/// The page, relative to the repository root.
const PAGE: &str = "docs/templates.md";
/// The lines around the generated part of the page.
const BEGIN: &str =
    "<!-- BEGIN GENERATED: template contexts, from src/render/api.rs (MESHGEN_BLESS=1 cargo test --lib api_doc) -->";
const END: &str = "<!-- END GENERATED: template contexts -->";

/// One field of a context type.
#[derive(Debug)]
struct Field {
    /// The name templates use (after serde's renaming).
    json: String,
    /// The Rust type, as written.
    ty: String,
    /// Absent when unset (`skip_serializing_if`).
    optional: bool,
    /// Its fields are the parent's (`flatten`).
    flatten: bool,
    doc: String,
}

/// One `#[derive(Serialize)]` struct of `api.rs`.
#[derive(Debug)]
struct Item {
    name: String,
    doc: String,
    fields: Vec<Field>,
}

/// The structs of `api.rs`, parsed from its source. Strict: a line it does not expect inside a
/// struct fails, so the page cannot silently miss what a field became.
fn items() -> Vec<Item> {
    let src = include_str!("api.rs");
    let mut out = Vec::new();
    let mut doc: Vec<&str> = Vec::new();
    let (mut camel, mut rename, mut optional, mut flatten) = (false, None, false, false);
    let mut current: Option<Item> = None;
    for (i, line) in src.lines().enumerate() {
        let at = || format!("src/render/api.rs:{}: {line:?}", i + 1);
        let trimmed = line.trim();
        if let Some(d) = trimmed.strip_prefix("///") {
            doc.push(d.trim());
            continue;
        }
        if trimmed.starts_with("#[derive(") {
            continue;
        }
        if let Some(attr) = trimmed.strip_prefix("#[serde(").and_then(|a| a.strip_suffix(")]")) {
            match attr {
                "rename_all = \"camelCase\"" if current.is_none() => camel = true,
                "flatten" => flatten = true,
                "skip_serializing_if = \"Option::is_none\"" => optional = true,
                a if a.starts_with("rename = \"") => rename = Some(a["rename = \"".len()..a.len() - 1].to_string()),
                _ => panic!("{}: an attribute the reference does not read", at()),
            }
            continue;
        }
        match current.as_mut() {
            None => {
                if let Some(rest) = trimmed.strip_prefix("pub struct ") {
                    let name = rest.split(['<', ' ']).next().unwrap_or_default().to_string();
                    current = Some(Item { name, doc: doc.join(" "), fields: Vec::new() });
                } else if trimmed.starts_with("pub ") && trimmed.contains(" struct ") {
                    panic!("{}: a struct the reference does not read", at());
                }
                doc.clear();
            }
            Some(item) if trimmed == "}" => {
                assert!(doc.is_empty(), "{}: a doc comment on nothing", at());
                out.push(std::mem::replace(item, Item { name: String::new(), doc: String::new(), fields: Vec::new() }));
                current = None;
                camel = false;
            }
            Some(item) => {
                let field =
                    trimmed.strip_prefix("pub ").and_then(|f| f.strip_suffix(',')).and_then(|f| f.split_once(": "));
                let Some((name, ty)) = field else { panic!("{}: not a `pub name: Type,` field", at()) };
                assert!(!doc.is_empty(), "{}: a field without a doc comment", at());
                assert_eq!(optional, ty.starts_with("Option<"), "{}: optional exactly when an Option", at());
                let json = rename.take().unwrap_or_else(|| if camel { camel_case(name) } else { name.to_string() });
                item.fields.push(Field { json, ty: ty.to_string(), optional, flatten, doc: doc.join(" ") });
                doc.clear();
                (optional, flatten) = (false, false);
            }
        }
    }
    out
}

fn camel_case(snake: &str) -> String {
    let mut out = String::new();
    for (i, part) in snake.split('_').enumerate() {
        let mut chars = part.chars();
        match chars.next() {
            Some(c) if i > 0 => out.extend(c.to_uppercase().chain(chars)),
            _ => out.push_str(part),
        }
    }
    out
}

/// The context type of each kind, by name (renaming a type fails to compile here).
fn contexts() -> Vec<(Kind, String)> {
    fn of<S: Spec>() -> (Kind, String) {
        let full = std::any::type_name::<S>();
        let name = full.split('<').next().unwrap_or(full).rsplit("::").next().unwrap_or(full);
        (S::KIND, name.to_string())
    }
    vec![
        of::<api::ServiceEntry<'static>>(),
        of::<api::WorkloadGroup<'static>>(),
        of::<api::Workload<'static>>(),
        of::<api::DestinationRule<'static>>(),
        of::<api::Gateway<'static>>(),
        of::<api::VirtualService<'static>>(),
        of::<api::Sidecar<'static>>(),
        of::<api::AuthorizationPolicy<'static>>(),
    ]
}

/// The inner type of a wrapper (`Option<T>` gives `T`), if `ty` is one.
fn inner<'t>(ty: &'t str, wrapper: &str) -> Option<&'t str> {
    ty.strip_prefix(wrapper)?.strip_suffix('>')
}

/// The types of `api.rs` a field of type `ty` refers to.
fn referenced(ty: &str, items: &[Item]) -> Vec<String> {
    ty.split(|c: char| !c.is_alphanumeric() && c != '_')
        .filter(|w| items.iter().any(|i| i.name == *w))
        .map(str::to_string)
        .collect()
}

/// A field's type as a template author reads it.
fn show(ty: &str, items: &[Item]) -> String {
    let ty = ty.trim();
    if let Some(t) = inner(ty, "Option<") {
        return show(t, items);
    }
    for (open, close) in [("Vec<", ">"), ("BTreeSet<", ">"), ("Cow<'a, [", "]>"), ("&'a [", "]")] {
        if let Some(t) = ty.strip_prefix(open).and_then(|t| t.strip_suffix(close)) {
            return format!("list of {}", show(t, items));
        }
    }
    match ty.trim_start_matches("&'a ").trim_start_matches("&'static ") {
        "str" | "String" => "string".into(),
        "u32" => "integer".into(),
        "f64" => "number".into(),
        "bool" => "boolean".into(),
        "Labels" | "ObjectLabels<'a>" | "SourceAnnotation<'a>" => "map of string to string".into(),
        "BTreeMap<String, u32>" => "map of string to integer".into(),
        "Value" | "Map<String, Value>" | "Probe" => "object".into(),
        t if t.starts_with("Passed<") => "object".into(),
        t => {
            let name = t.split('<').next().unwrap_or(t);
            assert!(items.iter().any(|i| i.name == name), "api.rs: the reference cannot show the type `{t}`");
            format!("[{name}](#{})", name.to_ascii_lowercase())
        }
    }
}

/// The table of an item's fields (those of a flattened field inline, where they are).
fn table(item: &Item, items: &[Item], out: &mut String) {
    out.push_str("| Field | Type | Optional | Description |\n| --- | --- | --- | --- |\n");
    rows(item, items, out);
}

fn rows(item: &Item, items: &[Item], out: &mut String) {
    for f in &item.fields {
        if f.flatten {
            let name = f.ty.split('<').next().unwrap_or(&f.ty);
            if let Some(flat) = items.iter().find(|i| i.name == name) {
                rows(flat, items, out);
            }
            continue;
        }
        let optional = if f.optional { "yes" } else { "" };
        let doc = f.doc.replace('|', "\\|");
        out.push_str(&format!("| `{}` | {} | {optional} | {doc} |\n", f.json, show(&f.ty, items)));
    }
}

/// The generated part of the page.
fn reference() -> String {
    let items = items();
    let find =
        |name: &str| items.iter().find(|i| i.name == name).unwrap_or_else(|| panic!("no struct {name} in api.rs"));
    let mut out = String::new();
    out.push_str("## Reference: what each template receives\n\n");
    out.push_str(
        "Generated from the types in `src/render/api.rs`. A field marked optional is absent when \
         it has nothing to say (never `null` or empty), so `{% if field %}` tests it. Fields of \
         type *object* are Istio's own structures, as in Istio's reference, passed on as \
         written in the inventory.\n\n",
    );
    let context = find("Context");
    out.push_str("### Every template\n\n");
    out.push_str(&format!("{}\n\n", context.doc));
    table(context, &items, &mut out);
    let mut pending: Vec<String> = context.fields.iter().flat_map(|f| referenced(&f.ty, &items)).collect();
    let mut contexts = contexts();
    contexts.sort_by_key(|(kind, _)| *kind);
    for (kind, name) in &contexts {
        let item = find(name);
        out.push_str(&format!(
            "\n<a id=\"{}\"></a>\n\n### `{}`: {}\n\n",
            name.to_ascii_lowercase(),
            kind.template(),
            name
        ));
        out.push_str(&format!("{}\n\n", item.doc));
        table(item, &items, &mut out);
        pending.extend(item.fields.iter().flat_map(|f| referenced(&f.ty, &items)));
    }
    out.push_str("\n### Types used by the contexts\n");
    let mut done: BTreeSet<String> = contexts.iter().map(|(_, n)| n.clone()).collect();
    done.insert("Context".into());
    let mut i = 0;
    while i < pending.len() {
        let name = pending[i].clone();
        i += 1;
        if !done.insert(name.clone()) {
            continue;
        }
        let item = find(&name);
        out.push_str(&format!("\n<a id=\"{}\"></a>\n\n#### {}\n\n{}\n\n", name.to_ascii_lowercase(), name, item.doc));
        table(item, &items, &mut out);
        pending.extend(item.fields.iter().flat_map(|f| referenced(&f.ty, &items)));
    }
    let unused: Vec<&str> = items.iter().map(|i| i.name.as_str()).filter(|n| !done.contains(*n)).collect();
    assert!(unused.is_empty(), "api.rs: types no context uses: {unused:?}");
    out
}

/// The page with its generated part replaced by `generated`.
fn with_reference(page: &str, generated: &str) -> Option<String> {
    let (before, rest) = page.split_once(BEGIN)?;
    let (_, after) = rest.split_once(END)?;
    Some(format!("{before}{BEGIN}\n\n{generated}\n{END}{after}"))
}

/// The committed page lists every template's context as `api.rs` defines it.
#[test]
fn the_template_reference_is_up_to_date() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(PAGE);
    let page = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{PAGE}: {e}"));
    let want = with_reference(&page, &reference())
        .unwrap_or_else(|| panic!("{PAGE} lacks the lines that enclose the generated reference:\n{BEGIN}\n{END}"));
    if std::env::var_os("MESHGEN_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &want).unwrap_or_else(|e| panic!("{PAGE}: {e}"));
        return;
    }
    assert!(
        page == want,
        "{PAGE} is stale: the template contexts in src/render/api.rs changed. Regenerate it with \
         `MESHGEN_BLESS=1 cargo test --lib api_doc` and commit the page."
    );
}

/// Every kind has one context type, and every template of a kind is covered.
#[test]
fn every_kind_has_a_context_type() {
    let kinds: Vec<Kind> = contexts().into_iter().map(|(k, _)| k).collect();
    let mut sorted = kinds.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, Kind::ALL, "one context type per kind: {kinds:?}");
}

/// The reference names what templates really receive: every key of every context of the
/// bundled project and the fixtures is a documented field, at its place.
#[test]
fn the_reference_names_every_key_templates_receive() {
    use crate::load;
    let items = items();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut dirs: Vec<std::path::PathBuf> = std::fs::read_dir(root.join("tests/fixtures"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join(load::PROJECT_FILE).is_file())
        .collect();
    dirs.push(root.to_path_buf());
    let names: std::collections::BTreeMap<Kind, String> = contexts().into_iter().collect();
    let mut seen = BTreeSet::new();
    for dir in dirs {
        // The pipeline users run (overlays, VIPs, checks), up to the objects' identities.
        let options = crate::Options { goal: crate::Goal::Analyse, ..crate::Options::new(&dir) };
        let c = crate::compile(&options).unwrap();
        assert!(!c.diags.has_errors(), "{}: {:?}", dir.display(), c.diags);
        let (inv, g) = (c.inventory.expect("an inventory"), c.graph.expect("a graph"));
        for o in super::context::objects(&inv, &g) {
            let context = items.iter().find(|i| i.name == "Context").unwrap();
            let at = format!("{}: {} {}", dir.display(), o.kind.as_str(), o.name);
            check(&o.context.to_value(), context, Some(&names[&o.kind]), &items, &at, &mut seen);
        }
    }
    // Every type that is a struct of its own (not Istio's passed-through objects) was seen.
    let unseen: Vec<&str> = items.iter().map(|i| i.name.as_str()).filter(|n| !seen.contains(*n)).collect();
    assert!(unseen.is_empty(), "no fixture produces {unseen:?}: the reference of those is not checked");
}

/// Checks that every key of `v` is a field of `item` (with `spec`, the kind's type, for a
/// flattened generic field), then the values of the fields whose type is a struct.
fn check(v: &Value, item: &Item, spec: Option<&str>, items: &[Item], at: &str, seen: &mut BTreeSet<String>) {
    let Value::Object(map) = v else { panic!("{at}: {} is not an object", item.name) };
    seen.insert(item.name.clone());
    let mut fields: Vec<(&Field, &Item)> = Vec::new();
    let mut flat = |ty: &str| {
        let name = ty.split('<').next().unwrap_or(ty);
        items.iter().find(|i| i.name == name).map(|i| {
            seen.insert(i.name.clone());
            i.fields.iter().map(|g| (g, i)).collect::<Vec<_>>()
        })
    };
    for f in &item.fields {
        if f.flatten {
            let ty = if f.ty == "S" { spec.unwrap_or_default() } else { f.ty.as_str() };
            fields.extend(flat(ty).unwrap_or_default());
        } else {
            fields.push((f, item));
        }
    }
    for (key, value) in map {
        let Some((f, _)) = fields.iter().find(|(f, _)| f.json == *key) else {
            panic!("{at}: `{key}` of {} is not in the reference", item.name)
        };
        let ty = inner(&f.ty, "Option<").unwrap_or(&f.ty);
        let nested: Vec<String> = referenced(ty, items);
        let Some(name) = nested.first() else { continue };
        let child = items.iter().find(|i| i.name == *name).unwrap();
        let list = show(ty, items).starts_with("list of");
        match value {
            Value::Array(values) if list => {
                values.iter().for_each(|v| check(v, child, None, items, &format!("{at}.{key}[]"), seen))
            }
            _ => check(value, child, None, items, &format!("{at}.{key}"), seen),
        }
    }
}
