//! The OpenAPI v3 structural schema of a CRD version, parsed from `openAPIV3Schema`.
//!
//! Parsing is strict: every keyword is either understood and enforced by the validator
//! ([`super::validate`]) or a load error. A keyword that was silently ignored would make the
//! validator accept objects the API server rejects, which is the one failure this module must
//! not have. Purely descriptive keywords (`description`, `title`, `example`, `externalDocs`)
//! and keywords that only affect server-side apply merging (`x-kubernetes-map-type`) are the
//! only ones accepted without effect.
//!
//! `x-kubernetes-validations` rules are compiled (parsed and type-checked against the node)
//! while the schema is built, so a CRD whose rules this evaluator does not fully understand
//! fails to load.

use regex::Regex;
use serde_json::{Map, Value};

use super::cel::Program;
use crate::formats::re2;

/// A JSON type named by the `type` keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonType {
    Object,
    Array,
    String,
    Integer,
    Number,
    Boolean,
}

impl JsonType {
    fn parse(s: &str) -> Option<JsonType> {
        Some(match s {
            "object" => JsonType::Object,
            "array" => JsonType::Array,
            "string" => JsonType::String,
            "integer" => JsonType::Integer,
            "number" => JsonType::Number,
            "boolean" => JsonType::Boolean,
            _ => return None,
        })
    }

    /// The keyword spelling, for messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            JsonType::Object => "object",
            JsonType::Array => "array",
            JsonType::String => "string",
            JsonType::Integer => "integer",
            JsonType::Number => "number",
            JsonType::Boolean => "boolean",
        }
    }
}

/// A `format` the validator enforces.
///
/// These are the formats the Istio CRDs use plus their obvious siblings. The API server
/// validates many more string formats (`uri`, `email`, `ipv4`, …); rather than ignore them,
/// an unlisted format is a load error, so that support is added deliberately when a CRD
/// needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// Integer that fits in 32 signed bits.
    Int32,
    /// Integer that fits in 64 signed bits (also the range of a format-less integer).
    Int64,
    /// Number that fits in a 32-bit float.
    Float,
    /// Any number (no check beyond the type; JSON numbers are doubles).
    Double,
    /// RFC 3339 timestamp (CEL exposes it as a timestamp, which rules may not use here).
    DateTime,
    /// Standard base64 (CEL exposes it as bytes, which rules may not use here).
    Byte,
}

impl Format {
    fn parse(format: &str, ty: Option<JsonType>) -> Result<Format, String> {
        let f = match format {
            "int32" => Format::Int32,
            "int64" => Format::Int64,
            "float" => Format::Float,
            "double" => Format::Double,
            "date-time" => Format::DateTime,
            "byte" => Format::Byte,
            other => {
                return Err(format!("format {other:?} is not supported by this validator"));
            }
        };
        let fits = match f {
            Format::Int32 | Format::Int64 => ty == Some(JsonType::Integer),
            Format::Float | Format::Double => ty == Some(JsonType::Number),
            Format::DateTime | Format::Byte => ty == Some(JsonType::String),
        };
        if !fits {
            let ty = ty.map_or("no type", JsonType::name);
            return Err(format!("format {format:?} on a schema of {ty} is not supported"));
        }
        Ok(f)
    }
}

/// The `additionalProperties` keyword.
#[derive(Debug)]
pub(crate) enum Additional {
    /// `additionalProperties: true` (anything, unvalidated) or `false` (nothing).
    Allowed(bool),
    /// Every property not in `properties` must match this schema (a map).
    Schema(Box<Schema>),
}

/// `x-kubernetes-list-type`.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) enum ListType {
    /// No uniqueness requirement (also the default).
    #[default]
    Atomic,
    /// Items must be unique.
    Set,
    /// Items are objects unique by the tuple of these keys.
    Map(Vec<String>),
}

/// `properties`, in the order the CRD declares them (used for deterministic messages).
#[derive(Debug, Default)]
pub(crate) struct Properties(Vec<(String, Schema)>);

impl Properties {
    /// The schema of property `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&Schema> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, s)| s)
    }

    /// Whether `name` is declared.
    pub(crate) fn contains_key(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Whether no property is declared.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Declared properties in declaration order.
    #[cfg(test)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &Schema)> {
        self.0.iter().map(|(n, s)| (n.as_str(), s))
    }
}

/// A compiled `x-kubernetes-validations` entry.
#[derive(Debug)]
pub(crate) struct Rule {
    /// The CEL source, for messages.
    pub(crate) source: String,
    /// `message`, reported when the rule evaluates to false.
    pub(crate) message: Option<String>,
    /// `reason` (e.g. `FieldValueForbidden`): only changes the API server's error type, so it
    /// is kept for the message rather than ignored.
    pub(crate) reason: Option<String>,
    pub(crate) program: Program,
}

/// A compiled `pattern`.
#[derive(Debug)]
pub(crate) struct Pattern {
    pub(crate) source: String,
    pub(crate) regex: Regex,
}

/// One node of a structural schema.
#[derive(Debug, Default)]
pub(crate) struct Schema {
    pub(crate) ty: Option<JsonType>,
    pub(crate) format: Option<Format>,
    pub(crate) properties: Properties,
    pub(crate) items: Option<Box<Schema>>,
    pub(crate) additional: Option<Additional>,
    pub(crate) required: Vec<String>,
    pub(crate) enum_values: Option<Vec<Value>>,
    pub(crate) pattern: Option<Pattern>,
    pub(crate) min_length: Option<u64>,
    pub(crate) max_length: Option<u64>,
    pub(crate) min_items: Option<u64>,
    pub(crate) max_items: Option<u64>,
    pub(crate) min_properties: Option<u64>,
    pub(crate) max_properties: Option<u64>,
    pub(crate) minimum: Option<f64>,
    pub(crate) maximum: Option<f64>,
    pub(crate) exclusive_minimum: bool,
    pub(crate) exclusive_maximum: bool,
    pub(crate) multiple_of: Option<f64>,
    pub(crate) nullable: bool,
    pub(crate) int_or_string: bool,
    pub(crate) preserve_unknown: bool,
    pub(crate) list_type: ListType,
    pub(crate) one_of: Vec<Schema>,
    pub(crate) any_of: Vec<Schema>,
    pub(crate) all_of: Vec<Schema>,
    pub(crate) not: Option<Box<Schema>>,
    pub(crate) rules: Vec<Rule>,
    /// The node has `required` and nothing else (Istio's `oneOf` branches for mutually
    /// exclusive fields); lets messages name the fields instead of the branches.
    pub(crate) only_required: bool,
    /// The node has only `not` and/or `anyOf` (Istio's "none of the fields" branch).
    pub(crate) only_junctors: bool,
}

impl Schema {
    /// The schema of the value stored under `key` in an object described by `self`: the
    /// declared property, else the `additionalProperties` schema.
    pub(crate) fn child(&self, key: &str) -> Option<&Schema> {
        self.properties.get(key).or(match &self.additional {
            Some(Additional::Schema(s)) => Some(s),
            _ => None,
        })
    }

    /// Number of rules in this node and all nodes below it.
    #[cfg(test)]
    pub(crate) fn rule_count(&self) -> usize {
        let mut n = self.rules.len();
        n += self.properties.iter().map(|(_, s)| s.rule_count()).sum::<usize>();
        n += self.items.as_deref().map_or(0, Schema::rule_count);
        if let Some(Additional::Schema(s)) = &self.additional {
            n += s.rule_count();
        }
        n
    }
}

/// Where in the schema tree a node is, for load errors (`.spec.hosts[]`).
fn at(path: &str) -> &str {
    if path.is_empty() { "<root>" } else { path }
}

/// Parses an `openAPIV3Schema` node.
pub(crate) fn parse(node: &Value) -> Result<Schema, String> {
    let s = parse_node(node, "", Place::Root)?;
    if !s.rules.is_empty() {
        // Root rules see apiVersion, kind and a restricted metadata; we do not model that.
        return Err("x-kubernetes-validations on the root schema are not supported".into());
    }
    Ok(s)
}

/// The position of a node, which decides what it may contain.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Root,
    /// In the schema tree proper (properties, items, additionalProperties).
    Tree,
    /// Inside `allOf`/`anyOf`/`oneOf`/`not`, where structural schemas allow only value
    /// validations.
    Junctor,
}

fn parse_node(node: &Value, path: &str, place: Place) -> Result<Schema, String> {
    let obj = node.as_object().ok_or_else(|| format!("{}: schema must be an object", at(path)))?;
    build(obj, path, place).map_err(|e| {
        // Errors from deeper nodes already carry their own path, which `at` makes start
        // with '.' or "<root>"; messages of this node never do.
        if e.starts_with('.') || e.starts_with("<root>") { e } else { format!("{}: {e}", at(path)) }
    })
}

fn get_bool(v: &Value, key: &str) -> Result<bool, String> {
    v.as_bool().ok_or_else(|| format!("{key} must be a boolean"))
}

fn get_count(v: &Value, key: &str) -> Result<u64, String> {
    v.as_u64().ok_or_else(|| format!("{key} must be a non-negative integer"))
}

fn get_number(v: &Value, key: &str) -> Result<f64, String> {
    v.as_f64().ok_or_else(|| format!("{key} must be a number"))
}

fn get_strings(v: &Value, key: &str) -> Result<Vec<String>, String> {
    v.as_array()
        .and_then(|a| a.iter().map(|s| s.as_str().map(str::to_string)).collect::<Option<Vec<_>>>())
        .ok_or_else(|| format!("{key} must be a list of strings"))
}

fn get_schemas(v: &Value, key: &str, path: &str) -> Result<Vec<Schema>, String> {
    let list = v.as_array().ok_or_else(|| format!("{key} must be a list of schemas"))?;
    list.iter().enumerate().map(|(i, s)| parse_node(s, &format!("{path}.{key}[{i}]"), Place::Junctor)).collect()
}

fn build(obj: &Map<String, Value>, path: &str, place: Place) -> Result<Schema, String> {
    let mut s = Schema::default();
    // `type` first: `format` depends on it.
    if let Some(t) = obj.get("type") {
        let name = t.as_str().ok_or("type must be a string")?;
        s.ty = Some(JsonType::parse(name).ok_or_else(|| format!("unsupported type {name:?}"))?);
    }
    let mut rules = None;
    let mut list_map_keys = None;
    for (key, v) in obj {
        match key.as_str() {
            "type" => {}
            "description" | "title" | "example" | "externalDocs" => {}
            // Only affects how server-side apply merges maps; no validation meaning.
            "x-kubernetes-map-type" => match v.as_str() {
                Some("granular" | "atomic") => {}
                _ => return Err("x-kubernetes-map-type must be granular or atomic".into()),
            },
            "format" => {
                let f = v.as_str().ok_or("format must be a string")?;
                s.format = Some(Format::parse(f, s.ty)?);
            }
            "properties" => {
                let props = v.as_object().ok_or("properties must be an object")?;
                for (name, child) in props {
                    let child = parse_node(child, &format!("{path}.{name}"), Place::Tree.or(place))?;
                    s.properties.0.push((name.clone(), child));
                }
            }
            "items" => {
                if v.is_array() {
                    return Err("tuple-form items (a list of schemas) are not supported".into());
                }
                s.items = Some(Box::new(parse_node(v, &format!("{path}[]"), Place::Tree.or(place))?));
            }
            "additionalProperties" => {
                s.additional = Some(match v {
                    Value::Bool(b) => Additional::Allowed(*b),
                    _ => Additional::Schema(Box::new(parse_node(v, &format!("{path}{{}}"), Place::Tree.or(place))?)),
                });
            }
            "required" => s.required = get_strings(v, key)?,
            "enum" => {
                let values = v.as_array().ok_or("enum must be a list")?;
                s.enum_values = Some(values.clone());
            }
            "pattern" => {
                let p = v.as_str().ok_or("pattern must be a string")?;
                s.pattern = Some(Pattern { source: p.to_string(), regex: re2::compile(p)? });
            }
            "minLength" => s.min_length = Some(get_count(v, key)?),
            "maxLength" => s.max_length = Some(get_count(v, key)?),
            "minItems" => s.min_items = Some(get_count(v, key)?),
            "maxItems" => s.max_items = Some(get_count(v, key)?),
            "minProperties" => s.min_properties = Some(get_count(v, key)?),
            "maxProperties" => s.max_properties = Some(get_count(v, key)?),
            "minimum" => s.minimum = Some(get_number(v, key)?),
            "maximum" => s.maximum = Some(get_number(v, key)?),
            "exclusiveMinimum" => s.exclusive_minimum = get_bool(v, key)?,
            "exclusiveMaximum" => s.exclusive_maximum = get_bool(v, key)?,
            "multipleOf" => {
                let m = get_number(v, key)?;
                if m <= 0.0 {
                    return Err("multipleOf must be positive".into());
                }
                s.multiple_of = Some(m);
            }
            "uniqueItems" => {
                // Structural schemas forbid `uniqueItems: true` (list types replace it).
                if get_bool(v, key)? {
                    return Err("uniqueItems: true is not allowed (use x-kubernetes-list-type)".into());
                }
            }
            "nullable" => s.nullable = get_bool(v, key)?,
            "x-kubernetes-int-or-string" => s.int_or_string = get_bool(v, key)?,
            "x-kubernetes-preserve-unknown-fields" => s.preserve_unknown = get_bool(v, key)?,
            "x-kubernetes-list-type" => {
                s.list_type = match v.as_str() {
                    Some("atomic") => ListType::Atomic,
                    Some("set") => ListType::Set,
                    // Keys are filled in below, whatever the order of the two keywords.
                    Some("map") => ListType::Map(Vec::new()),
                    _ => return Err("x-kubernetes-list-type must be atomic, set or map".into()),
                }
            }
            "x-kubernetes-list-map-keys" => list_map_keys = Some(get_strings(v, key)?),
            "oneOf" => s.one_of = get_schemas(v, key, path)?,
            "anyOf" => s.any_of = get_schemas(v, key, path)?,
            "allOf" => s.all_of = get_schemas(v, key, path)?,
            "not" => {
                s.not = Some(Box::new(parse_node(v, &format!("{path}.not"), Place::Junctor)?));
            }
            "x-kubernetes-validations" => {
                if place == Place::Junctor {
                    return Err("x-kubernetes-validations inside allOf/anyOf/oneOf/not".into());
                }
                rules = Some(v);
            }
            other => return Err(format!("unsupported schema keyword {other:?}")),
        }
    }
    match (&mut s.list_type, list_map_keys) {
        (ListType::Map(keys), Some(k)) if !k.is_empty() => *keys = k,
        (ListType::Map(_), _) => {
            return Err("x-kubernetes-list-type: map needs x-kubernetes-list-map-keys".into());
        }
        (_, Some(_)) => {
            return Err("x-kubernetes-list-map-keys without x-kubernetes-list-type: map".into());
        }
        _ => {}
    }
    if s.list_type != ListType::Atomic && s.ty != Some(JsonType::Array) {
        return Err("x-kubernetes-list-type on a schema that is not an array".into());
    }
    if place != Place::Junctor && s.ty.is_none() && !s.int_or_string && !s.preserve_unknown {
        // Structural schemas require a type here; without one every value would pass.
        return Err("schema without a type (structural schemas require one)".into());
    }
    s.only_required = !s.required.is_empty() && obj.keys().all(|k| matches!(k.as_str(), "required" | "description"));
    s.only_junctors = (s.not.is_some() || !s.any_of.is_empty())
        && obj.keys().all(|k| matches!(k.as_str(), "not" | "anyOf" | "description"));
    if let Some(rules) = rules {
        s.rules = compile_rules(rules, &s)?;
    }
    Ok(s)
}

impl Place {
    /// The place of a child node: children of junctor branches stay in the junctor.
    fn or(self, parent: Place) -> Place {
        if parent == Place::Junctor { Place::Junctor } else { self }
    }
}

fn compile_rules(rules: &Value, node: &Schema) -> Result<Vec<Rule>, String> {
    let list = rules.as_array().ok_or("x-kubernetes-validations must be a list")?;
    let mut out = Vec::with_capacity(list.len());
    for entry in list {
        let entry = entry.as_object().ok_or("x-kubernetes-validations entries must be objects")?;
        let mut source = None;
        let mut message = None;
        let mut reason = None;
        for (k, v) in entry {
            let text = || {
                v.as_str().map(str::to_string).ok_or_else(|| format!("x-kubernetes-validations {k} must be a string"))
            };
            match k.as_str() {
                "rule" => source = Some(text()?),
                "message" => message = Some(text()?),
                "reason" => reason = Some(text()?),
                // messageExpression needs a second CEL program returning a string, fieldPath
                // re-targets the error; neither is used by Istio, so refuse instead of
                // reporting something different from the API server.
                other => {
                    return Err(format!("x-kubernetes-validations field {other:?} is not supported"));
                }
            }
        }
        let source = source.ok_or("x-kubernetes-validations entry without a rule")?;
        let program = Program::compile(&source, node).map_err(|e| format!("rule {source:?}: {e}"))?;
        out.push(Rule { source, message, reason, program });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Wraps `node` as property `x` of an object root (root rules are refused).
    fn under_root(node: Value) -> Value {
        json!({"type": "object", "properties": {"x": node}})
    }

    #[test]
    fn parses_keywords() {
        let root = parse(&under_root(json!({
            "type": "object",
            "properties": {
                "b": {"type": "integer", "format": "int32", "minimum": 1, "maximum": 5},
                "a": {"type": "array", "items": {"type": "string", "pattern": "^x"},
                      "x-kubernetes-list-type": "set"},
                "m": {"type": "object", "additionalProperties": {"type": "string"}},
            },
            "oneOf": [{"required": ["a"]}, {"required": ["b"]}],
            "x-kubernetes-validations": [{"rule": "has(self.a) || has(self.b)", "message": "m"}],
        })))
        .unwrap();
        let s = root.properties.get("x").unwrap();
        let names: Vec<&str> = s.properties.iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["b", "a", "m"], "declaration order is kept");
        assert!(s.one_of.iter().all(|b| b.only_required));
        assert_eq!(root.rule_count(), 1);
        assert_eq!(s.properties.get("b").unwrap().format, Some(Format::Int32));
        assert_eq!(s.properties.get("a").unwrap().list_type, ListType::Set);
        assert!(s.child("zz").is_none());
        assert!(s.properties.get("m").unwrap().child("zz").is_some());
    }

    #[test]
    fn refuses_what_it_cannot_enforce() {
        for (bad, want) in [
            (json!({"type": "string", "format": "uri"}), "format \"uri\""),
            (json!({"type": "integer", "format": "byte"}), "on a schema of integer"),
            (json!({"type": "string", "default": "x"}), "\"default\""),
            (json!({"type": "object", "x-kubernetes-embedded-resource": true}), "x-kubernetes-embedded-resource"),
            (
                json!({"type": "string", "x-kubernetes-validations": [
                {"rule": "self != ''", "messageExpression": "'x'"}]}),
                "messageExpression",
            ),
            (
                json!({"type": "string", "x-kubernetes-validations": [
                {"rule": "self != ''", "fieldPath": ".x"}]}),
                "fieldPath",
            ),
            (
                json!({"type": "string", "x-kubernetes-validations": [
                {"rule": "self.lowerAscii() == self"}]}),
                "lowerAscii",
            ),
            (
                json!({"type": "string", "x-kubernetes-validations": [
                {"rule": "self"}]}),
                "must evaluate to a bool",
            ),
            (
                json!({"type": "object", "properties": {"a": {"type": "string"}},
                    "x-kubernetes-validations": [{"rule": "has(self.b)"}]}),
                "undefined field \"b\"",
            ),
            (
                json!({"type": "string", "format": "date-time",
                    "x-kubernetes-validations": [{"rule": "self != ''"}]}),
                "timestamp",
            ),
            (json!({"anyOf": [{"x-kubernetes-validations": [{"rule": "true"}]}]}), "inside allOf"),
            (json!({"type": "string", "pattern": "(?=x)"}), "look-around"),
            (json!({"type": "array", "x-kubernetes-list-type": "map"}), "needs x-kubernetes-list-map-keys"),
            (json!({"type": "array", "items": [{"type": "string"}]}), "tuple-form"),
            (json!({"type": "array", "uniqueItems": true}), "uniqueItems"),
            (json!({"properties": {}}), "without a type"),
            (json!({"type": "null"}), "unsupported type \"null\""),
        ] {
            let err = parse(&under_root(bad.clone())).expect_err(want);
            assert!(err.starts_with(".x"), "error names the node: {err}");
            assert!(err.contains(want), "{want:?} not in {err:?}");
        }
        let root_rule = json!({"type": "object", "x-kubernetes-validations": [{"rule": "true"}]});
        assert!(parse(&root_rule).is_err(), "root rules are refused");
    }

    #[test]
    fn load_errors_name_the_node() {
        let err = parse(&json!({"type": "object", "properties": {"spec": {"type": "object",
            "properties": {"x": {"type": "string", "format": "email"}}}}}))
        .unwrap_err();
        assert!(err.starts_with(".spec.x: "), "{err}");
    }
}
