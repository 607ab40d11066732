//! JSON Schemas of meshgen's input files (`meshgen schema`), for editors: completion, hover
//! documentation and validation while typing (docs/editors.md).
//!
//! They are generated from the serde types the loader reads the files with (`model::raw`,
//! `model::project`, `model::overlay` and what they use), so a field added there is in the
//! schema without anyone remembering it: the doc comments become descriptions, and
//! `deny_unknown_fields` becomes `additionalProperties: false`. Types with a hand-written
//! `Deserialize` (short forms, subsets, labels) have a hand-written `JsonSchema` beside it.
//! The schemas describe shape only; values (hosts, durations, references between
//! entities) are checked by `meshgen check`, which says much more than a schema could.
//!
//! Draft-07, which yaml-language-server (VS Code's YAML extension) and most editors read
//! best.

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{Map, Value, json};

use crate::model::overlay::RawOverlay;
use crate::model::project::RawProject;
use crate::model::raw::RawDocument;

/// One of the files meshgen reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// An inventory file (`inventory/**/*.yaml`).
    Inventory,
    /// The project file, `meshgen.yaml`.
    Project,
    /// An overlay file of an environment or cluster.
    Overlay,
}

impl Kind {
    /// Every kind, in the order `meshgen schema --out-dir` writes them.
    pub const ALL: [Kind; 3] = [Kind::Inventory, Kind::Project, Kind::Overlay];

    /// Its name on the command line and in file names: `inventory`, `project`, `overlay`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Inventory => "inventory",
            Kind::Project => "project",
            Kind::Overlay => "overlay",
        }
    }

    /// The file its schema is written to: `inventory.json`, `project.json`, `overlay.json`.
    pub fn file_name(self) -> String {
        format!("{}.json", self.name())
    }

    fn title(self) -> &'static str {
        match self {
            Kind::Inventory => "meshgen inventory file",
            Kind::Project => "meshgen project file (meshgen.yaml)",
            Kind::Overlay => "meshgen overlay file",
        }
    }
}

/// The schema of `kind`, as a JSON value.
pub fn schema(kind: Kind) -> Value {
    let generator = SchemaSettings::draft07().into_generator();
    let schema = match kind {
        Kind::Inventory => generator.into_root_schema_for::<RawDocument>(),
        Kind::Project => generator.into_root_schema_for::<RawProject>(),
        Kind::Overlay => generator.into_root_schema_for::<RawOverlay>(),
    };
    let mut value = schema.to_value();
    if let Value::Object(root) = &mut value {
        root.insert("title".into(), kind.title().into());
        // Definitions in name order: a reader finds them, and a change of the order in
        // which the generator meets the types does not show as a diff.
        if let Some(Value::Object(defs)) = root.get_mut("definitions") {
            let mut sorted: Vec<(String, Value)> = std::mem::take(defs).into_iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(&b.0));
            defs.extend(sorted);
        }
    }
    value
}

/// The schema of `kind` as a file holds it: pretty JSON with a final newline. The same
/// meshgen always prints the same text.
pub fn text(kind: Kind) -> String {
    let mut out = serde_json::to_string_pretty(&schema(kind)).expect("a JSON value always serialises");
    out.push('\n');
    out
}

/// Adds `enabled` to an entity's schema (`#[schemars(transform = …)]`): the loader takes it
/// out of the entity before reading the rest (see `model::overlay::take_enabled`), so it is
/// no field of the serde type.
pub(crate) fn with_enabled(schema: &mut Schema) {
    if let Some(Value::Object(props)) = schema.get_mut("properties") {
        props.insert(
            "enabled".into(),
            json!({
                "type": "boolean",
                "description": "`false` leaves the entity out of the build (default `true`); an overlay of an environment or cluster can turn it on or off there.",
                "examples": [false]
            }),
        );
    }
}

/// The schema of `T` as an overlay patch of it (`model::overlay::merge`): mappings merge
/// key by key, so no field of a mapping is required (the patched value has it) and any may
/// be `null` (which removes it); lists replace what was there, so list items are complete
/// values of their type.
pub(crate) struct Partial<T>(std::marker::PhantomData<T>);

impl<T: JsonSchema> JsonSchema for Partial<T> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        format!("{}Patch", T::schema_name()).into()
    }

    fn inline_schema() -> bool {
        // The schema is a `$ref` to the patch definition `patchable` adds.
        true
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let mut value = generator.subschema_for::<T>().to_value();
        patchable(&mut value, generator);
        Schema::try_from(value).expect("a schema stays an object or a boolean")
    }
}

/// Rewrites `node` (in place) to accept patches: each `$ref` points to a patch definition
/// (added once, as `<name>Patch`), `required` goes, and every property and map value may
/// be `null`. `items` are left alone.
fn patchable(node: &mut Value, generator: &mut SchemaGenerator) {
    let Value::Object(m) = node else { return };
    if let Some(Value::String(reference)) = m.get_mut("$ref") {
        let prefix = format!("#{}/", generator.settings().definitions_path.trim_end_matches('/'));
        if let Some(name) = reference.strip_prefix(&prefix).map(str::to_string) {
            let patch = format!("{name}Patch");
            if !generator.definitions().contains_key(&patch) {
                // A placeholder first: a type that contains itself ends here.
                generator.definitions_mut().insert(patch.clone(), Value::Bool(false));
                let mut def = generator.definitions().get(&name).cloned().unwrap_or(Value::Bool(true));
                patchable(&mut def, generator);
                generator.definitions_mut().insert(patch.clone(), def);
            }
            *reference = format!("{prefix}{patch}");
        }
    }
    m.remove("required");
    if let Some(Value::Object(props)) = m.get_mut("properties") {
        for v in props.values_mut() {
            patchable(v, generator);
            nullable(v);
        }
    }
    if let Some(v @ Value::Object(_)) = m.get_mut("additionalProperties") {
        patchable(v, generator);
        nullable(v);
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(Value::Array(branches)) = m.get_mut(key) {
            for b in branches {
                patchable(b, generator);
            }
        }
    }
}

/// Lets `node` also be `null`.
fn nullable(node: &mut Value) {
    let Value::Object(m) = node else { return };
    if let Some(Value::Array(branches)) = m.get_mut("anyOf") {
        if !branches.iter().any(|v| v.get("type") == Some(&json!("null"))) {
            branches.push(json!({ "type": "null" }));
        }
        return;
    }
    let plain = !m.contains_key("enum") && !m.contains_key("const");
    match m.get_mut("type") {
        Some(Value::String(t)) if plain => {
            let t = std::mem::take(t);
            m.insert("type".into(), json!([t, "null"]));
        }
        Some(Value::Array(types)) if plain => {
            if !types.contains(&json!("null")) {
                types.push(json!("null"));
            }
        }
        _ => {
            // Wrapped, keeping the documentation outside, where editors look for it.
            let mut outer = Map::new();
            for key in ["description", "examples", "title"] {
                if let Some(v) = m.remove(key) {
                    outer.insert(key.into(), v);
                }
            }
            let inner = Value::Object(std::mem::take(m));
            outer.insert("anyOf".into(), json!([inner, { "type": "null" }]));
            *m = outer;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::path::Path;

    /// The schemas committed under `schemas/` are what this meshgen prints; `MESHGEN_BLESS=1
    /// cargo test --lib schema` rewrites them.
    #[test]
    fn the_committed_schemas_are_current() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
        let bless = std::env::var_os("MESHGEN_BLESS").is_some_and(|v| v == "1");
        for kind in Kind::ALL {
            let path = dir.join(kind.file_name());
            let want = text(kind);
            if bless {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &want).unwrap();
                continue;
            }
            let committed = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                committed == want,
                "schemas/{} is stale: run `MESHGEN_BLESS=1 cargo test --lib schema` and commit it",
                kind.file_name()
            );
        }
    }

    /// Every property, in every definition, carries documentation for the editor to show,
    /// written for users (no names of meshgen's code).
    #[test]
    fn every_field_is_documented_for_users() {
        fn walk(at: &str, v: &Value, missing: &mut Vec<String>) {
            let Value::Object(m) = v else { return };
            if let Some(Value::Object(props)) = m.get("properties") {
                for (k, p) in props {
                    let at = format!("{at}.{k}");
                    match p.get("description").and_then(Value::as_str) {
                        None => missing.push(format!("{at}: no description")),
                        Some(d) if ["model::", "Raw", "serde", "deserial"].iter().any(|w| d.contains(w)) => {
                            missing.push(format!("{at}: `{d}` names code"))
                        }
                        Some(_) => {}
                    }
                    walk(&at, p, missing);
                }
            }
            for (k, sub) in m.iter().filter(|(k, _)| *k != "properties") {
                walk(&format!("{at}/{k}"), sub, missing);
            }
        }
        for kind in Kind::ALL {
            let mut missing = Vec::new();
            walk(kind.name(), &schema(kind), &mut missing);
            assert!(missing.is_empty(), "{}", missing.join("\n"));
        }
    }

    #[test]
    fn a_patch_needs_no_field_and_may_remove_any() {
        let mut v = json!({
            "type": "object",
            "required": ["number"],
            "properties": {
                "number": { "type": "integer" },
                "mode": { "enum": ["A", "B"], "description": "d" },
                "list": { "type": "array", "items": { "type": "object", "required": ["x"] } }
            }
        });
        patchable(&mut v, &mut SchemaSettings::draft07().into_generator());
        assert_eq!(v.get("required"), None);
        assert_eq!(v["properties"]["number"]["type"], json!(["integer", "null"]));
        assert_eq!(
            v["properties"]["mode"],
            json!({"description": "d", "anyOf": [{"enum": ["A", "B"]}, {"type": "null"}]})
        );
        assert_eq!(v["properties"]["list"]["items"]["required"], json!(["x"]), "list items stay complete");
    }
}
