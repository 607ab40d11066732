//! Paths of fields to leave out of a comparison (`--ignore`). The report prints changed
//! fields with [`crate::fieldpath::FieldPath::key`], in the syntax read here, so that a
//! printed path can be passed back to `--ignore`.
//!
//! The syntax: keys separated by dots (`spec.exportTo`), indexes in brackets
//! (`spec.hosts[1]`, `[*]` for every element), keys that contain dots or slashes either
//! quoted in brackets (`metadata.annotations["example.com/owner"]`) or written plainly
//! (`metadata.annotations.example.com/owner`: dotted words are joined as needed to match a
//! key that exists), `*` for every key and a trailing `*` for every key with that prefix
//! (`metadata.labels.example.com/*`). A JSON pointer (`/metadata/annotations/example.com~1owner`)
//! works too.

use std::fmt;

use serde_json::Value;

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    /// A plain word; `true` when the next step is a plain word too, which it may join
    /// (with a dot) to name a key that contains dots.
    Word(String, bool),
    /// A key in brackets or from a JSON pointer, taken as is.
    Key(String),
    /// `[N]`.
    Index(usize),
    /// `[*]`.
    Every,
}

/// A parsed `--ignore` path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnorePath {
    text: String,
    segs: Vec<Seg>,
}

impl fmt::Display for IgnorePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for IgnorePath {
    type Err = String;

    fn from_str(text: &str) -> Result<IgnorePath, String> {
        let segs = if let Some(pointer) = text.strip_prefix('/') {
            pointer.split('/').map(|s| Seg::Key(s.replace("~1", "/").replace("~0", "~"))).collect()
        } else {
            parse(text)?
        };
        if segs.is_empty() {
            return Err("an ignore path cannot be empty".into());
        }
        Ok(IgnorePath { text: text.to_string(), segs })
    }
}

fn parse(text: &str) -> Result<Vec<Seg>, String> {
    let bad = |why: &str| {
        format!(
            "invalid ignore path `{text}`: {why} (e.g. `spec.hosts[1]` or `metadata.annotations[\"example.com/owner\"]`)"
        )
    };
    let mut segs = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(inside) = rest.strip_prefix('[') {
            let (seg, after) = bracket(inside).ok_or_else(|| bad("unclosed or empty `[`"))?;
            segs.push(seg);
            rest = after.strip_prefix('.').unwrap_or(after);
            if after.starts_with('.') && rest.is_empty() {
                return Err(bad("it ends with `.`"));
            }
            continue;
        }
        let end = rest.find(['.', '[']).unwrap_or(rest.len());
        if end == 0 {
            return Err(bad("empty key"));
        }
        let word = &rest[..end];
        rest = &rest[end..];
        let joins = rest.starts_with('.');
        if let Some(after) = rest.strip_prefix('.') {
            if after.is_empty() || after.starts_with(['.', '[']) {
                return Err(bad("empty key"));
            }
            rest = after;
        }
        segs.push(Seg::Word(word.to_string(), joins));
    }
    Ok(segs)
}

/// Parses what follows a `[`: `N]`, `*]` or a quoted key; returns the step and the rest.
fn bracket(s: &str) -> Option<(Seg, &str)> {
    if let Some(q) = s.chars().next().filter(|c| *c == '"' || *c == '\'') {
        let mut key = String::new();
        let mut chars = s[1..].char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => key.push(chars.next()?.1),
                c if c == q => return s[1 + i + 1..].strip_prefix(']').map(|rest| (Seg::Key(key), rest)),
                c => key.push(c),
            }
        }
        return None;
    }
    let (inside, rest) = s.split_once(']')?;
    match inside {
        "*" => Some((Seg::Every, rest)),
        n => n.parse().ok().map(|i| (Seg::Index(i), rest)),
    }
}

impl IgnorePath {
    /// Removes what the path names from `doc` (nothing when it names nothing); whether it
    /// removed anything.
    pub fn remove_from(&self, doc: &mut Value) -> bool {
        let mut hit = false;
        remove(doc, &self.segs, &mut hit);
        hit
    }
}

fn remove(v: &mut Value, segs: &[Seg], hit: &mut bool) {
    let Some(first) = segs.first() else { return };
    match v {
        Value::Object(map) => match first {
            Seg::Word(..) => {
                // `a.b.c` may name key `a.b` then `c`, or key `a` then `b.c`, …: try each
                // split that the words allow.
                let mut key = String::new();
                for (i, seg) in segs.iter().enumerate() {
                    let Seg::Word(word, joins) = seg else { break };
                    if i > 0 {
                        key.push('.');
                    }
                    key.push_str(word);
                    in_map(map, &key, &segs[i + 1..], hit);
                    if !joins {
                        break;
                    }
                }
            }
            Seg::Key(key) => in_map_exact(map, key, &segs[1..], hit),
            Seg::Index(_) | Seg::Every => {}
        },
        Value::Array(items) => {
            let index = match first {
                Seg::Index(i) => Some(*i),
                Seg::Word(w, _) | Seg::Key(w) if w != "*" => match w.parse() {
                    Ok(i) => Some(i),
                    Err(_) => return,
                },
                _ => None,
            };
            let rest = &segs[1..];
            match (index, rest.is_empty()) {
                (Some(i), true) if i < items.len() => {
                    items.remove(i);
                    *hit = true;
                }
                (Some(i), false) => {
                    if let Some(item) = items.get_mut(i) {
                        remove(item, rest, hit);
                    }
                }
                (None, true) => {
                    *hit |= !items.is_empty();
                    items.clear();
                }
                (None, false) => items.iter_mut().for_each(|item| remove(item, rest, hit)),
                (Some(_), true) => {}
            }
        }
        _ => {}
    }
}

/// Applies the rest of the path to the keys `pattern` names: exactly, or by prefix when it
/// ends with `*`.
fn in_map(map: &mut serde_json::Map<String, Value>, pattern: &str, rest: &[Seg], hit: &mut bool) {
    let Some(prefix) = pattern.strip_suffix('*') else {
        return in_map_exact(map, pattern, rest, hit);
    };
    let keys: Vec<String> = map.keys().filter(|k| k.starts_with(prefix)).cloned().collect();
    for k in keys {
        in_map_exact(map, &k, rest, hit);
    }
}

fn in_map_exact(map: &mut serde_json::Map<String, Value>, key: &str, rest: &[Seg], hit: &mut bool) {
    if rest.is_empty() {
        *hit |= map.remove(key).is_some();
    } else if let Some(child) = map.get_mut(key) {
        remove(child, rest, hit);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::fieldpath::FieldPath;

    fn removed(path: &str, mut doc: Value) -> Value {
        path.parse::<IgnorePath>().unwrap().remove_from(&mut doc);
        doc
    }

    #[test]
    fn plain_keys_indexes_and_wildcards() {
        let doc = json!({"spec": {"hosts": ["a", "b", "c"], "ports": [{"name": "x", "n": 1}, {"name": "y", "n": 2}]}});
        assert_eq!(removed("spec.hosts[1]", doc.clone())["spec"]["hosts"], json!(["a", "c"]));
        assert_eq!(removed("spec.hosts", doc.clone())["spec"].get("hosts"), None);
        assert_eq!(removed("spec.ports[*].name", doc.clone())["spec"]["ports"], json!([{"n": 1}, {"n": 2}]));
        assert_eq!(removed("spec.ports.0.n", doc.clone())["spec"]["ports"][0], json!({"name": "x"}));
        assert_eq!(removed("spec.*", doc.clone())["spec"], json!({}));
        assert_eq!(removed("spec.nothing.here", doc.clone()), doc);
        assert_eq!(removed("spec.hosts[9]", doc.clone()), doc);
    }

    #[test]
    fn keys_with_dots_plain_quoted_glob_and_pointer() {
        let doc =
            json!({"metadata": {"annotations": {"example.com/owner": "a", "example.com/team": "b", "other": "c"}}});
        let left = |p: &str| removed(p, doc.clone())["metadata"]["annotations"].clone();
        assert_eq!(left("metadata.annotations.example.com/owner"), json!({"example.com/team": "b", "other": "c"}));
        assert_eq!(left("metadata.annotations[\"example.com/owner\"]"), json!({"example.com/team": "b", "other": "c"}));
        assert_eq!(left("metadata.annotations['example.com/owner']"), json!({"example.com/team": "b", "other": "c"}));
        assert_eq!(left("/metadata/annotations/example.com~1owner"), json!({"example.com/team": "b", "other": "c"}));
        assert_eq!(left("metadata.annotations.example.com/*"), json!({"other": "c"}));
    }

    #[test]
    fn bad_paths_are_refused_with_an_example() {
        for bad in ["", "a..b", ".a", "a.", "a[", "a[x]", "a[1", "a[\"x]", "a.[1]"] {
            let e = bad.parse::<IgnorePath>().unwrap_err();
            assert!(e.contains("ignore path"), "{bad}: {e}");
        }
    }

    #[test]
    fn printed_paths_parse_back_to_the_same_field() {
        let doc =
            json!({"metadata": {"labels": {"app.kubernetes.io/name": "x", "plain": "y"}}, "spec": {"a b": [1, 2]}});
        for (key_path, expected) in [
            (vec!["metadata", "labels", "app.kubernetes.io/name"], json!({"plain": "y"})),
            (vec!["metadata", "labels", "plain"], json!({"app.kubernetes.io/name": "x"})),
        ] {
            let mut p = FieldPath::new();
            key_path.iter().for_each(|k| p.key(k));
            assert_eq!(removed(&p, doc.clone())["metadata"]["labels"], expected, "{p}");
        }
        let mut p = FieldPath::new();
        p.key("spec");
        p.key("a b");
        assert_eq!(p.as_str(), "spec[\"a b\"]");
        assert_eq!(removed(&p, doc.clone())["spec"], json!({}));
    }
}
