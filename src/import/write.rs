//! The draft's YAML, written as a person would: block style for the structure, flow style
//! (`ports: {http: 8080}`, `hosts: [api.example.com]`) for collections that fit on the line.
//!
//! Every scalar goes through [`crate::yaml::write::scalar`], which quotes anything YAML could
//! read otherwise, in block and flow context alike; the tests read every draft back.

use serde_json::Value;

use crate::yaml::write::scalar;

/// Widest line a flow collection may make.
const WIDTH: usize = 100;

/// How deep from the document root collections stay in block style: a document's keys, the
/// entities and their fields are always one per line.
const BLOCK_DEPTH: usize = 3;

/// A value as a YAML document, with short collections in flow style.
pub fn readable(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Object(m) if !m.is_empty() => map(&mut out, m, 0, 0),
        other => {
            out.push_str(&flow(other));
            out.push('\n');
        }
    }
    out
}

fn map(out: &mut String, m: &serde_json::Map<String, Value>, indent: usize, depth: usize) {
    for (k, v) in m {
        out.push_str(&" ".repeat(indent));
        out.push_str(&scalar(k));
        out.push(':');
        value(out, v, indent, depth + 1, scalar(k).len() + 2);
    }
}

/// `v` after a key (or a `- `) at `indent`, the key taking `used` columns.
fn value(out: &mut String, v: &Value, indent: usize, depth: usize, used: usize) {
    let nested = matches!(v, Value::Object(m) if !m.is_empty()) || matches!(v, Value::Array(a) if !a.is_empty());
    let inline = flow(v);
    if !nested || (depth >= BLOCK_DEPTH && indent + used + inline.len() <= WIDTH) {
        out.push(' ');
        out.push_str(&inline);
        out.push('\n');
        return;
    }
    out.push('\n');
    match v {
        Value::Object(m) => map(out, m, indent + 2, depth),
        Value::Array(items) => {
            for item in items {
                out.push_str(&" ".repeat(indent + 2));
                out.push('-');
                match item {
                    Value::Object(m) if !m.is_empty() && indent + 4 + flow(item).len() > WIDTH => {
                        // The first key follows the dash; the others line up under it.
                        let mut inner = String::new();
                        map(&mut inner, m, indent + 4, depth);
                        out.push(' ');
                        out.push_str(inner.trim_start());
                    }
                    _ => value(out, item, indent + 2, BLOCK_DEPTH, 2),
                }
            }
        }
        _ => unreachable!("only collections are nested"),
    }
}

/// A value on one line, in flow style.
fn flow(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => scalar(s),
        Value::Array(items) => format!("[{}]", items.iter().map(flow).collect::<Vec<_>>().join(", ")),
        Value::Object(m) => {
            format!(
                "{{{}}}",
                m.iter().map(|(k, v)| format!("{}: {}", scalar(k), flow(v))).collect::<Vec<_>>().join(", ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_back_as_written() {
        let v: Value = serde_json::json!({
            "namespace": "shop",
            "services": {"cart": {"ports": {"http": 8080}, "hosts": ["a.example", "*.b.example"],
                "routes": [{"name": "x", "match": [{"uri": {"prefix": "/a, b: {c}"}}], "subset": "v1"}],
                "long": {"one": "a".repeat(60), "two": "b".repeat(60)}}}
        });
        let text = readable(&v);
        assert!(text.contains("ports: {http: 8080}"), "{text}");
        assert_eq!(crate::yaml::from_str::<Value>(&text).unwrap(), v, "{text}");
    }
}
