//! Shape errors in the user's words.
//!
//! serde reports a value of the wrong shape in Rust's terms (`expected struct RawVm`,
//! `expected u32`, `invalid type: map`), and only as a string. This is the one place that
//! reads serde's messages: `Said::read` turns one into a type, and everything after that
//! (message, code, help) is chosen from the type, the value actually written (looked up at
//! the error's path) and [`SHAPES`], the table of what each common field looks like, written
//! as YAML.

use std::borrow::Cow;

use serde_json::Value;

use crate::diag::escape::shown;
use crate::diag::suggest::did_you_mean;
use crate::diag::{Diagnostic, Origin, Part, join_path};

use crate::diag::docs::{self, INVENTORY};

/// What a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holds {
    /// Anything else.
    Other,
    /// A Go duration (`10s`): a bare number gets "add a unit".
    Duration,
}

/// The expected shape of a field: what it is, in words, and an example in YAML.
#[derive(Debug, Clone, Copy)]
pub struct ShapeOf {
    /// The end of the YAML paths it applies to: field names, `[]` for any list item and
    /// `*` for any key of a mapping (a port, subset or entity name), e.g. `vms[]`,
    /// `ports.*`, `tcpKeepalive.time`. The longest match wins.
    pub path: &'static str,
    /// What the field holds, e.g. "a list of VMs".
    pub what: &'static str,
    /// The field written out, as flow YAML.
    pub example: &'static str,
    holds: Holds,
}

const fn shape(path: &'static str, what: &'static str, example: &'static str) -> ShapeOf {
    ShapeOf { path, what, example, holds: Holds::Other }
}

const fn duration(path: &'static str, example: &'static str) -> ShapeOf {
    ShapeOf { path, what: "a duration", example, holds: Holds::Duration }
}

/// The shapes of the fields newcomers write most, each with an example. A field not listed
/// gets serde's expectation, in YAML words.
pub const SHAPES: &[ShapeOf] = &[
    // Documents.
    shape("services", "a mapping of services by name", "services: {web: {ports: {http: 8080}, pods: {app: web}}}"),
    shape("services.*", "a service: a mapping of its fields", "web: {ports: {http: 8080}, pods: {app: web}}"),
    shape(
        "externals",
        "a mapping of external APIs by name",
        "externals: {stripe: {hosts: [api.stripe.com], ports: {https: 443}}}",
    ),
    shape(
        "externals.*",
        "an external API: a mapping of its fields",
        "stripe: {hosts: [api.stripe.com], ports: {https: 443}}",
    ),
    shape("namespace", "a namespace name", "namespace: shop"),
    // Entities.
    shape("host", "a host name", "host: orders.shop.internal"),
    shape("hosts", "a list of host names", "hosts: [api.example.com]"),
    shape("hosts[]", "a host name", "hosts: [api.example.com]"),
    shape("addresses", "a list of IP addresses or CIDR blocks", "addresses: [10.8.0.10]"),
    shape("vms", "a list of VMs", "vms: [{address: 10.0.0.1}]"),
    shape("vms[]", "a VM: a mapping with `address`", "vms: [{address: 10.0.0.1, labels: {version: v1}}]"),
    shape("endpoints", "a list of endpoints", "endpoints: [{address: 10.0.0.1}]"),
    shape("endpoints[]", "an endpoint: a mapping with `address`", "endpoints: [{address: 10.0.0.1}]"),
    shape("pods", "a label selector: a mapping of labels", "pods: {app: orders}"),
    shape("labels", "a mapping of label names to values", "labels: {version: v1}"),
    shape("ports", "a mapping of port names to numbers", "ports: {http: 8080, grpc: 9090}"),
    shape(
        "ports.*",
        "a port number or a mapping with `number`",
        "ports: {http: 8080}` or `ports: {http: {number: 8080, targetPort: 9080}}",
    ),
    shape("dependsOn", "a list of services and external APIs", "dependsOn: [payments, {name: search, ports: [http]}]"),
    shape(
        "dependsOn[]",
        "a service or external API name, or a mapping with `name`",
        "dependsOn: [payments, {name: search, ports: [http]}]",
    ),
    shape("subsets", "a mapping of subset names to labels", "subsets: {v2: {version: v2}}"),
    shape(
        "subsets.*",
        "the subset's labels, or a mapping with `labels`",
        "subsets: {v2: {version: v2}}` or `subsets: {v2: {labels: {version: v2}, traffic: {…}}}",
    ),
    shape("routes", "a list of routes", "routes: [{match: [{uri: {prefix: /v2}}], subset: v2}]"),
    shape("routes[]", "a route: a mapping", "routes: [{match: [{uri: {prefix: /v2}}], subset: v2}]"),
    shape("match", "a list of conditions", "match: [{uri: {prefix: /v2}}]"),
    shape("match[]", "a condition: a mapping", "match: [{uri: {prefix: /v2}, headers: {x-canary: {exact: \"1\"}}}]"),
    shape("split", "a mapping of subset names to weights", "split: {v1: 90, v2: 10}"),
    shape("to", "a list of destinations", "to: [{subset: v1, weight: 90}, {service: orders-v2, weight: 10}]"),
    shape(
        "tls",
        "`originate`, a TLS mode or a mapping",
        "tls: originate` or `tls: {mode: MUTUAL, credentialName: client-cert}",
    ),
    shape("traffic", "a traffic policy: a mapping", "traffic: {timeout: 10s, retries: {attempts: 3}}"),
    shape("retries", "a retry policy: a mapping", "retries: {attempts: 3, perTryTimeout: 2s}"),
    shape("exportTo", "a list of namespaces, or `consumers`", "exportTo: [\".\", monitoring]` or `exportTo: consumers"),
    shape("subjectAltNames", "a list of names", "subjectAltNames: [spiffe://cluster.local/ns/shop/sa/orders]"),
    shape("ingress", "a public host, a list of them, or a mapping with `hosts`", "ingress: shop.example.com"),
    shape("egress", "`gateway` or a mapping", "egress: gateway"),
    shape("workloadGroup", "`true` or a mapping", "workloadGroup: {probe: {httpGet: {port: 8080, path: /ready}}}"),
    shape("authorization", "a mapping with `from`", "authorization: {from: [{namespace: monitoring}]}"),
    shape("authorization.from", "a list of sources", "from: [{namespace: monitoring}]"),
    shape(
        "ignore",
        "a list of findings to ignore",
        "ignore: [{code: unused-external, reason: called by a nightly job}]",
    ),
    shape(
        "ignore[]",
        "a mapping with `code` and `reason`",
        "ignore: [{code: unused-external, reason: called by a nightly job}]",
    ),
    shape("names", "a mapping of object kinds to names", "names: {DestinationRule: orders-dr}"),
    // Durations: everywhere the model reads one (`Checker::duration`).
    duration("timeout", "timeout: 10s"),
    duration("perTryTimeout", "perTryTimeout: 2s"),
    duration("fixedDelay", "fixedDelay: 5s"),
    duration("connectTimeout", "connectTimeout: 1s"),
    duration("maxConnectionDuration", "maxConnectionDuration: 1h"),
    duration("idleTimeout", "idleTimeout: 5m"),
    duration("tcpKeepalive.time", "time: 2h"),
    duration("tcpKeepalive.interval", "interval: 75s"),
    duration("outlierDetection.interval", "interval: 10s"),
    duration("baseEjectionTime", "baseEjectionTime: 30s"),
    duration("httpCookie.ttl", "ttl: 1h"),
    duration("maxAge", "maxAge: 24h"),
    // The project file.
    shape("inventory", "a list of directories", "inventory: [inventory]"),
    shape("defaults", "a mapping", "defaults: {namespace: shop}"),
];

/// The entry of [`SHAPES`] for a YAML path (`services.web.vms[0]`), if any.
pub fn shape_of(path: &str) -> Option<&'static ShapeOf> {
    let segments = pattern_segments(path);
    SHAPES
        .iter()
        .filter(|s| {
            let want: Vec<&str> = s.path.split('.').collect();
            want.len() <= segments.len()
                && segments[segments.len() - want.len()..].iter().zip(&want).all(|(have, want)| matches(have, want))
        })
        // The longest pattern is the most specific; ties go to the first in the table.
        .max_by_key(|s| (s.path.split('.').count(), std::cmp::Reverse(s.path.len())))
}

/// A path's segments with list indices written `[]`: `vms[0].ports.http` → `vms[]`,
/// `ports`, `http`.
fn pattern_segments(path: &str) -> Vec<String> {
    path.split('.')
        .map(|seg| {
            let mut out = String::with_capacity(seg.len());
            let mut rest = seg;
            while let Some(open) = rest.find('[') {
                out.push_str(&rest[..open]);
                out.push_str("[]");
                rest = rest[open..].find(']').map_or("", |close| &rest[open + close + 1..]);
            }
            out.push_str(rest);
            out
        })
        .collect()
}

/// Whether a path segment matches a pattern segment (`*` is any key, `*[]` any key's item).
fn matches(have: &str, want: &str) -> bool {
    match want.strip_prefix('*') {
        Some(rest) => have.ends_with(rest) && (rest.is_empty() || have.len() > rest.len()),
        None => have == want,
    }
}

/// What serde said, read once from its message.
#[derive(Debug, PartialEq, Eq)]
enum Said<'a> {
    /// A field the type does not have, with the ones it has.
    UnknownField { field: &'a str, known: Vec<&'a str> },
    /// A required field is absent.
    MissingField(&'a str),
    /// A field given twice.
    DuplicateField(&'a str),
    /// A word the field does not take, with the ones it takes.
    UnknownVariant { word: &'a str, known: Vec<&'a str> },
    /// A value of the wrong type or out of range; serde's expectation.
    Mismatch { expected: &'a str },
    /// A list of the wrong length; serde's expectation.
    Length { expected: &'a str },
    /// None of a field's several forms matched.
    NoForm,
    /// A message of meshgen's own (short forms, labels): already in the user's words.
    Custom(&'a str),
}

impl<'a> Said<'a> {
    /// Reads serde's message (the wording of `serde::de::Error`'s provided methods).
    fn read(message: &'a str) -> Said<'a> {
        if let Some(rest) = message.strip_prefix("unknown field `") {
            let (field, rest) = rest.split_once('`').unwrap_or((rest, ""));
            return Said::UnknownField { field, known: quoted(rest) };
        }
        if let Some(rest) = message.strip_prefix("unknown variant `") {
            let (word, rest) = rest.split_once('`').unwrap_or((rest, ""));
            return Said::UnknownVariant { word, known: quoted(rest) };
        }
        if let Some(field) = message.strip_prefix("missing field `").and_then(|r| r.strip_suffix('`')) {
            return Said::MissingField(field);
        }
        if let Some(field) = message.strip_prefix("duplicate field `").and_then(|r| r.strip_suffix('`')) {
            return Said::DuplicateField(field);
        }
        if message.starts_with("invalid type: ") || message.starts_with("invalid value: ") {
            // The found part may quote the user's text, which may hold anything; the
            // expectation is the type's, after the last separator.
            if let Some((_, expected)) = message.rsplit_once(", expected ") {
                return Said::Mismatch { expected };
            }
        }
        if message.starts_with("invalid length ")
            && let Some((_, expected)) = message.rsplit_once(", expected ")
        {
            return Said::Length { expected };
        }
        if message.starts_with("data did not match any variant of untagged enum") {
            return Said::NoForm;
        }
        Said::Custom(message)
    }
}

/// The backquoted words of serde's "expected `a`, `b` or `c`" / "one of `a`, `b`".
fn quoted(s: &str) -> Vec<&str> {
    s.split('`').skip(1).step_by(2).collect()
}

/// serde's expectation in YAML words: no Rust type names.
fn expected_words(expected: &str) -> Cow<'_, str> {
    let words = match expected {
        "u8" => "a whole number from 0 to 255",
        "u16" => "a whole number from 0 to 65535",
        "u32" => "a whole number from 0 to 4294967295",
        "u64" | "usize" => "a whole number from 0 to 18446744073709551615",
        "i8" => "a whole number from -128 to 127",
        "i16" => "a whole number from -32768 to 32767",
        "i32" => "a whole number from -2147483648 to 2147483647",
        "i64" | "isize" => "a whole number from -9223372036854775808 to 9223372036854775807",
        "f32" | "f64" => "a number",
        "a string" | "a borrowed string" | "string" => "a string",
        "a boolean" | "bool" => "`true` or `false`",
        "a sequence" => "a list",
        "a map" | "a YAML mapping" => "a mapping",
        "unit" => "an empty value",
        "option" => "a value",
        "a character" | "char" => "a single character",
        e if e.starts_with("struct ") => "a mapping",
        e if e.starts_with("tuple") || e.starts_with("a tuple") => "a list",
        e if e.starts_with("enum ") || e.contains("identifier") || e.contains("variant") => {
            "one of the words this field takes"
        }
        // meshgen's own expectations (short forms) are written for users already.
        e => return Cow::Borrowed(e),
    };
    Cow::Borrowed(words)
}

/// The value written, in words: "the string `x`", "the number `10`", "a list".
fn found_words(v: &Value) -> String {
    match v {
        Value::Null => "an empty value".into(),
        Value::Bool(b) => format!("`{b}`"),
        Value::Number(n) => format!("the number `{n}`"),
        Value::String(s) => format!("the string `{}`", shown(s)),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a mapping".into(),
    }
}

/// The value at a path of serde_path_to_error inside `root`.
fn value_at<'v>(root: &'v Value, path: &serde_path_to_error::Path) -> Option<&'v Value> {
    use serde_path_to_error::Segment;
    path.iter().try_fold(root, |v, seg| match seg {
        Segment::Seq { index } => v.get(*index),
        Segment::Map { key } => v.get(key.as_str()),
        Segment::Enum { .. } | Segment::Unknown => None,
    })
}

/// The help of a field with an entry in [`SHAPES`]: "expected a list of VMs, e.g. `…`".
fn example_help(shape: &ShapeOf) -> String {
    format!("expected {}, e.g. `{}`", shape.what, shape.example)
}

/// The diagnostic of a value `T::deserialize` refused: `root` is the value deserialised
/// (at `origin`), `e` serde's error with its path inside `root`.
pub fn diagnostic(e: &serde_path_to_error::Error<serde_json::Error>, root: &Value, origin: &Origin) -> Diagnostic {
    // serde_path_to_error writes the root as `.`; an error there is at `origin` itself.
    let inner = e.path().to_string();
    let path = if inner.is_empty() || inner == "." { origin.path.to_string() } else { join_path(&origin.path, &inner) };
    let mut at = Origin { path: path.into(), ..origin.clone() };
    let message = e.inner().to_string();
    let found = value_at(root, e.path());
    let shape = shape_of(&at.path);
    match Said::read(&message) {
        Said::UnknownField { field, known } => {
            // serde_path_to_error's path already ends with the unknown key in some shapes.
            if !at.path.ends_with(&format!(".{field}")) && *at.path != *field {
                at.path = join_path(&at.path, field).into();
            }
            at.part = Part::Key;
            let help = match did_you_mean(field, known.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!(
                    "known fields here: {}",
                    known.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", ")
                ),
            };
            Diagnostic::error("unknown-field", at, format!("unknown field `{}`", shown(field))).help(help)
        }
        Said::MissingField(field) => {
            let help = match shape {
                Some(s) => format!("add `{field}`, e.g. `{}`", s.example),
                None => format!("add `{field}`; {INVENTORY} lists the fields"),
            };
            Diagnostic::error("missing-field", at, format!("missing field `{field}`")).help(help)
        }
        Said::DuplicateField(field) => Diagnostic::error("invalid-value", at, format!("`{field}` is given twice"))
            .help("each field may appear once; remove one"),
        Said::UnknownVariant { word, known } => {
            let help = crate::diag::suggest::hint(word, "values", &known);
            Diagnostic::error("invalid-value", at, format!("unknown value `{}`", shown(word))).maybe_help(help)
        }
        Said::Mismatch { expected } => mismatch(at, &expected_words(expected), found, shape),
        Said::Length { expected } => {
            let what = expected_words(expected);
            let message = match found {
                Some(Value::Array(items)) => format!("expected {what}, found a list of {}", items.len()),
                _ => format!("expected {what}"),
            };
            Diagnostic::error("invalid-type", at, message).maybe_help(shape.map(example_help))
        }
        Said::NoForm => {
            let what = shape.map_or("one of the forms this field takes", |s| s.what);
            let message = match found {
                Some(v) => format!("expected {what}, found {}", found_words(v)),
                None => format!("expected {what}"),
            };
            let help = shape.map_or_else(|| format!("{INVENTORY} shows the forms"), example_help);
            Diagnostic::error("invalid-type", at, message).help(help)
        }
        Said::Custom(text) => Diagnostic::error("invalid-value", at, text).maybe_help(shape.map(example_help)),
    }
}

/// The diagnostic of a document that is a Kubernetes manifest (`apiVersion`, `kind`) rather
/// than an inventory document, as when an Istio ServiceEntry is pasted into `inventory/`.
pub fn kubernetes_manifest(doc: &Value, origin: &Origin) -> Option<Diagnostic> {
    let kind = doc.get("kind")?;
    doc.get("apiVersion")?;
    let kind = kind.as_str().unwrap_or("unknown kind");
    // What each Istio kind meshgen generates is in inventory terms.
    let instead = match kind {
        "ServiceEntry" => Some(
            "describe it as an external API (`externals: {stripe: {hosts: [api.stripe.com], ports: {https: 443}}}`) or as a service with `vms`",
        ),
        "WorkloadEntry" => Some("describe it as a VM of a service (`vms: [{address: 10.0.0.1}]`)"),
        "WorkloadGroup" => Some("describe it as a service's `workloadGroup`"),
        "DestinationRule" => Some("describe it as the `traffic`, `tls` and `subsets` of a service or external API"),
        "VirtualService" => Some("describe it as the `routes` of a service or external API"),
        "Sidecar" | "AuthorizationPolicy" => Some("meshgen derives it from `dependsOn`"),
        _ => None,
    };
    let help = match instead {
        Some(i) => format!("{i}; or {}", docs::MANIFEST_MIGRATION),
        None => docs::MANIFEST_MIGRATION.to_string(),
    };
    Some(
        Diagnostic::error(
            "kubernetes-manifest",
            origin.child("kind"),
            format!("this is a Kubernetes manifest ({}), not an inventory document", shown(kind)),
        )
        .help(help),
    )
}

/// A value of the wrong type, or out of the type's range.
fn mismatch(at: Origin, expected: &str, found: Option<&Value>, shape: Option<&ShapeOf>) -> Diagnostic {
    let duration = shape.is_some_and(|s| s.holds == Holds::Duration);
    let expected = if duration { "a duration" } else { expected };
    let message = match found {
        Some(v) => format!("expected {expected}, found {}", found_words(v)),
        None => format!("expected {expected}"),
    };
    let help = match (found, shape) {
        (Some(Value::Number(n)), Some(s)) if duration => {
            let field = s.example.split(':').next().unwrap_or("timeout");
            format!("a duration needs a unit: write `{field}: {n}s` for {n} seconds (or `{n}ms`, `{n}m`, `{n}h`)")
        }
        (Some(Value::Number(_) | Value::Bool(_)), _) if expected == "a string" => {
            "write a string; quote values YAML reads as numbers or booleans, e.g. `\"1.0\"` or `\"true\"`".to_string()
        }
        (_, Some(s)) => example_help(s),
        (_, None) => format!("{INVENTORY} shows the shape of every field"),
    };
    Diagnostic::error("invalid-type", at, message).help(help)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_messages_are_read_into_kinds() {
        assert_eq!(
            Said::read("unknown field `hots`, expected one of `host`, `ports`"),
            Said::UnknownField { field: "hots", known: vec!["host", "ports"] }
        );
        assert_eq!(Said::read("missing field `address`"), Said::MissingField("address"));
        assert_eq!(
            Said::read("invalid type: string \"a, expected b\", expected struct RawVm"),
            Said::Mismatch { expected: "struct RawVm" }
        );
        assert_eq!(Said::read("invalid value: integer `-1`, expected u32"), Said::Mismatch { expected: "u32" });
        assert_eq!(
            Said::read("unknown variant `servce`, expected `object` or `service`"),
            Said::UnknownVariant { word: "servce", known: vec!["object", "service"] }
        );
        assert_eq!(Said::read("data did not match any variant of untagged enum OneOrMany"), Said::NoForm);
        assert_eq!(Said::read("port 70000 is out of range"), Said::Custom("port 70000 is out of range"));
    }

    #[test]
    fn rust_types_become_yaml_words() {
        assert_eq!(expected_words("u32"), "a whole number from 0 to 4294967295");
        assert_eq!(expected_words("struct RawVm"), "a mapping");
        assert_eq!(expected_words("a sequence"), "a list");
        assert_eq!(expected_words("enum Layout"), "one of the words this field takes");
        assert_eq!(
            expected_words("a port number or a mapping with `number`"),
            "a port number or a mapping with `number`"
        );
    }

    #[test]
    fn shapes_are_found_by_the_end_of_the_path() {
        let what = |p: &str| shape_of(p).map(|s| s.what);
        assert_eq!(what("services.api.vms"), Some("a list of VMs"));
        assert_eq!(what("services.api.vms[3]"), Some("a VM: a mapping with `address`"));
        assert_eq!(what("services.api.ports.http"), Some("a port number or a mapping with `number`"));
        assert_eq!(what("services.api"), Some("a service: a mapping of its fields"));
        assert_eq!(what("services.api.traffic.timeout"), Some("a duration"));
        assert_eq!(what("defaults.traffic.connectionPool.tcp.tcpKeepalive.interval"), Some("a duration"));
        assert_eq!(what("services.api.vms[0].weight"), None);
        // `interval` is a duration only where the model reads one.
        assert_eq!(what("services.api.traffic.foo.interval"), None);
    }

    /// Every field the model reads as a duration (`Checker::duration(value, &origin.at("…"))`)
    /// has a duration entry, so that `timeout: 10` anywhere suggests `10s`.
    #[test]
    fn every_duration_the_model_reads_is_in_the_table() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/model");
        let call = regex::Regex::new(r"\.duration\(").unwrap();
        let name = regex::Regex::new(r#""([a-zA-Z]+)""#).unwrap();
        let mut stack = vec![root];
        let mut seen = 0;
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let p = entry.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                    continue;
                }
                let text = std::fs::read_to_string(&p).unwrap();
                let lines: Vec<&str> = text.lines().collect();
                for (i, line) in lines.iter().enumerate() {
                    if !call.is_match(line) || line.trim_start().starts_with("//") {
                        continue;
                    }
                    // The field is named on the call's line, or, for `.at(f)` (a place made
                    // only for a finding) or `.child(f)`, in the list of pairs the loop above walks.
                    let by_loop = line.contains(".at(f)") || line.contains(".child(f)");
                    let from = if by_loop {
                        lines[..i].iter().rev().find(|l| l.contains("(\"")).copied().unwrap_or_default()
                    } else {
                        line
                    };
                    let mut names: Vec<&str> = name.captures_iter(from).map(|c| c.get(1).unwrap().as_str()).collect();
                    if !by_loop {
                        names = names.split_off(names.len().saturating_sub(1));
                    }
                    assert!(!names.is_empty(), "no field name near {}:{}", p.display(), i + 1);
                    for field in names {
                        assert!(
                            SHAPES
                                .iter()
                                .any(|s| s.holds == Holds::Duration && s.path.split('.').next_back() == Some(field)),
                            "`{field}` ({}:{}) is read as a duration but has no duration entry in SHAPES",
                            p.display(),
                            i + 1
                        );
                    }
                    seen += 1;
                }
            }
        }
        assert!(seen >= 10, "found only {seen} duration reads");
    }
}
