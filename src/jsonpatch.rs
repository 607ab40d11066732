//! JSON Pointer (RFC 6901), JSON Patch (RFC 6902) and JSON Merge Patch (RFC 7386) over
//! `serde_json` values: the engines behind an entity's `patches`.
//!
//! Small on purpose (the whole of each RFC and nothing else), and independent of the
//! inventory: the model parses pointers and operations with it, render applies them.
//! Objects keep their key order (`serde_json`'s `preserve_order`): removing a key shifts the
//! others rather than swapping the last one in, and new keys go at the end.

use std::fmt;

use serde_json::{Map, Value};

/// A JSON Pointer: the reference tokens, unescaped. The empty pointer is the whole document.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Pointer(Vec<String>);

impl Pointer {
    /// Parses `/a/b~1c/0` (`~1` is `/`, `~0` is `~`); the empty string is the root.
    pub fn parse(s: &str) -> Result<Pointer, String> {
        if s.is_empty() {
            return Ok(Pointer::default());
        }
        let Some(rest) = s.strip_prefix('/') else {
            return Err(format!(
                "`{s}` is not a JSON Pointer: it must start with `/` (or be empty for the whole object)"
            ));
        };
        let mut tokens = Vec::new();
        for raw in rest.split('/') {
            let mut token = String::with_capacity(raw.len());
            let mut chars = raw.chars();
            while let Some(c) = chars.next() {
                if c != '~' {
                    token.push(c);
                    continue;
                }
                match chars.next() {
                    Some('0') => token.push('~'),
                    Some('1') => token.push('/'),
                    _ => {
                        return Err(format!(
                            "`{s}` is not a JSON Pointer: `~` must be followed by `0` (for `~`) or `1` (for `/`)"
                        ));
                    }
                }
            }
            tokens.push(token);
        }
        Ok(Pointer(tokens))
    }

    /// A pointer made of these tokens (unescaped).
    pub fn from_tokens<S: Into<String>>(tokens: impl IntoIterator<Item = S>) -> Pointer {
        Pointer(tokens.into_iter().map(Into::into).collect())
    }

    /// The reference tokens, unescaped.
    pub fn tokens(&self) -> &[String] {
        &self.0
    }

    /// Whether this pointer is `other` or one of its ancestors.
    pub fn contains(&self, other: &Pointer) -> bool {
        other.0.starts_with(&self.0)
    }

    /// The parent and the last token; `None` for the root.
    fn split_last(&self) -> Option<(&[String], &str)> {
        self.0.split_last().map(|(last, parent)| (parent, last.as_str()))
    }
}

impl fmt::Display for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for t in &self.0 {
            write!(f, "/{}", t.replace('~', "~0").replace('/', "~1"))?;
        }
        Ok(())
    }
}

/// One JSON Patch operation.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Adds (or replaces a member of an object, or inserts into an array; `-` appends).
    Add {
        /// Where.
        path: Pointer,
        /// What.
        value: Value,
    },
    /// Removes the value, which must exist.
    Remove {
        /// Where.
        path: Pointer,
    },
    /// Replaces the value, which must exist.
    Replace {
        /// Where.
        path: Pointer,
        /// The new value.
        value: Value,
    },
    /// Removes the value at `from` and adds it at `path`.
    Move {
        /// Where it is.
        from: Pointer,
        /// Where it goes.
        path: Pointer,
    },
    /// Adds a copy of the value at `from` at `path`.
    Copy {
        /// Where it is.
        from: Pointer,
        /// Where the copy goes.
        path: Pointer,
    },
    /// Fails unless the value at `path` equals `value`.
    Test {
        /// Where.
        path: Pointer,
        /// The expected value.
        value: Value,
    },
}

/// The operation names, as written.
pub const OP_NAMES: [&str; 6] = ["add", "remove", "replace", "move", "copy", "test"];

impl Op {
    /// The operation's name.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Add { .. } => "add",
            Op::Remove { .. } => "remove",
            Op::Replace { .. } => "replace",
            Op::Move { .. } => "move",
            Op::Copy { .. } => "copy",
            Op::Test { .. } => "test",
        }
    }

    /// The target location.
    pub fn path(&self) -> &Pointer {
        match self {
            Op::Add { path, .. }
            | Op::Remove { path }
            | Op::Replace { path, .. }
            | Op::Move { path, .. }
            | Op::Copy { path, .. }
            | Op::Test { path, .. } => path,
        }
    }

    /// The source location of `move` and `copy`.
    pub fn from(&self) -> Option<&Pointer> {
        match self {
            Op::Move { from, .. } | Op::Copy { from, .. } => Some(from),
            _ => None,
        }
    }

    /// The locations whose values it changes: its path, and the source of a `move`; none
    /// for `test`.
    pub fn writes(&self) -> Vec<&Pointer> {
        match self {
            Op::Test { .. } => Vec::new(),
            Op::Move { from, path } => vec![from, path],
            other => vec![other.path()],
        }
    }
}

/// Applies the operations in order. RFC 6902 makes a patch all or nothing: on failure the
/// document is left as it was, and the error names the failing operation by index.
pub fn apply(doc: &mut Value, ops: &[Op]) -> Result<(), (usize, String)> {
    let mut work = doc.clone();
    for (i, op) in ops.iter().enumerate() {
        apply_op(&mut work, op).map_err(|e| (i, e))?;
    }
    *doc = work;
    Ok(())
}

/// Applies one operation; on failure the document may be partly changed (see [`apply`]).
pub fn apply_op(doc: &mut Value, op: &Op) -> Result<(), String> {
    match op {
        Op::Add { path, value } => add(doc, path, value.clone()),
        Op::Remove { path } => remove(doc, path).map(drop),
        Op::Replace { path, value } => {
            *get_mut(doc, path)? = value.clone();
            Ok(())
        }
        Op::Move { from, path } => {
            if from == path {
                return get_mut(doc, from).map(drop);
            }
            if from.contains(path) {
                return Err(format!("cannot move `{from}` into itself (`{path}`)"));
            }
            let v = remove(doc, from)?;
            add(doc, path, v)
        }
        Op::Copy { from, path } => {
            let v = get_mut(doc, from)?.clone();
            add(doc, path, v)
        }
        Op::Test { path, value } => {
            let found = get_mut(doc, path)?;
            if equal(found, value) {
                Ok(())
            } else {
                Err(format!("test failed: `{path}` is {}, not {}", shown(found), shown(value)))
            }
        }
    }
}

/// A value in messages, cut short when long.
fn shown(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 { format!("{}…", s.chars().take(60).collect::<String>()) } else { s }
}

/// JSON equality as RFC 6902 `test` defines it: numbers by value (`1` equals `1.0`),
/// objects regardless of key order.
pub fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
            (Some(x), Some(y), _, _) => x == y,
            (_, _, Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| equal(a, b)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| equal(v, w)))
        }
        _ => a == b,
    }
}

/// An array index token: digits without leading zeros (RFC 6901), below `len` (or equal to
/// it when `append` allows the position after the last element).
fn index(token: &str, len: usize, append: bool, at: &dyn fmt::Display) -> Result<usize, String> {
    if token == "-" {
        return if append {
            Ok(len)
        } else {
            Err(format!("`{at}`: `-` (after the last element) only works for adding"))
        };
    }
    let digits = !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit());
    if !digits || (token.len() > 1 && token.starts_with('0')) {
        return Err(format!("`{at}`: `{token}` is not an array index"));
    }
    let i: usize = token.parse().map_err(|_| format!("`{at}`: index `{token}` is too large"))?;
    let last = if append { len } else { len.saturating_sub(1) };
    if i > last || (!append && len == 0) {
        let plural = if len == 1 { "" } else { "s" };
        return Err(format!("`{at}`: index {i} is out of range (the array has {len} element{plural})"));
    }
    Ok(i)
}

/// The value at `tokens`, which must exist.
fn walk<'v>(doc: &'v mut Value, tokens: &[String], whole: &Pointer) -> Result<&'v mut Value, String> {
    let mut v = doc;
    for (depth, t) in tokens.iter().enumerate() {
        let here = || Pointer::from_tokens(tokens[..=depth].iter().cloned());
        v = match v {
            Value::Object(m) => m.get_mut(t).ok_or_else(|| missing(&here(), whole))?,
            Value::Array(a) => {
                let i = index(t, a.len(), false, &here())?;
                &mut a[i]
            }
            other => {
                return Err(format!(
                    "`{}` does not exist: `{}` is {}, not an object or array",
                    here(),
                    Pointer::from_tokens(tokens[..depth].iter().cloned()),
                    kind(other)
                ));
            }
        };
    }
    Ok(v)
}

fn missing(here: &Pointer, whole: &Pointer) -> String {
    if here == whole { format!("`{whole}` does not exist") } else { format!("`{whole}` does not exist (no `{here}`)") }
}

/// What a JSON value is, for messages.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn get_mut<'v>(doc: &'v mut Value, path: &Pointer) -> Result<&'v mut Value, String> {
    walk(doc, path.tokens(), path)
}

fn add(doc: &mut Value, path: &Pointer, value: Value) -> Result<(), String> {
    let Some((parent, last)) = path.split_last() else {
        *doc = value;
        return Ok(());
    };
    match walk(doc, parent, path)? {
        Value::Object(m) => {
            m.insert(last.to_string(), value);
            Ok(())
        }
        Value::Array(a) => {
            let i = index(last, a.len(), true, path)?;
            a.insert(i, value);
            Ok(())
        }
        other => Err(format!(
            "cannot add `{path}`: `{}` is {}, not an object or array",
            Pointer::from_tokens(parent.iter().cloned()),
            kind(other)
        )),
    }
}

fn remove(doc: &mut Value, path: &Pointer) -> Result<Value, String> {
    let Some((parent, last)) = path.split_last() else {
        return Err("cannot remove the whole document".to_string());
    };
    match walk(doc, parent, path)? {
        Value::Object(m) => m.shift_remove(last).ok_or_else(|| missing(path, path)),
        Value::Array(a) => {
            let i = index(last, a.len(), false, path)?;
            Ok(a.remove(i))
        }
        other => Err(format!(
            "`{path}` does not exist: `{}` is {}, not an object or array",
            Pointer::from_tokens(parent.iter().cloned()),
            kind(other)
        )),
    }
}

/// Applies a JSON Merge Patch (RFC 7386): an object merges key by key (a `null` member
/// removes the key), anything else replaces the target whole. New keys are added in the
/// patch's order.
pub fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(t) = target else { return };
    for (k, v) in p {
        if v.is_null() {
            t.shift_remove(k);
        } else {
            merge(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn p(s: &str) -> Pointer {
        Pointer::parse(s).unwrap()
    }

    /// RFC 6901 section 5: every example pointer, against the RFC's document.
    #[test]
    fn rfc6901_examples() {
        let mut doc = json!({
            "foo": ["bar", "baz"], "": 0, "a/b": 1, "c%d": 2, "e^f": 3, "g|h": 4, "i\\j": 5,
            "k\"l": 6, " ": 7, "m~n": 8
        });
        let whole = doc.clone();
        assert_eq!(get_mut(&mut doc, &p("")).unwrap(), &whole);
        for (ptr, want) in [
            ("/foo", json!(["bar", "baz"])),
            ("/foo/0", json!("bar")),
            ("/", json!(0)),
            ("/a~1b", json!(1)),
            ("/c%d", json!(2)),
            ("/e^f", json!(3)),
            ("/g|h", json!(4)),
            ("/i\\j", json!(5)),
            ("/k\"l", json!(6)),
            ("/ ", json!(7)),
            ("/m~0n", json!(8)),
        ] {
            assert_eq!(get_mut(&mut doc, &p(ptr)).unwrap(), &want, "{ptr}");
            assert_eq!(p(ptr).to_string(), ptr, "round trip");
        }
        // `~01` is `~1` unescaped once, not `/`.
        assert_eq!(p("/~01").tokens(), ["~1"]);
    }

    #[test]
    fn malformed_pointers_are_refused() {
        for bad in ["a", "a/b", "/a~", "/a~2", "/~x"] {
            assert!(Pointer::parse(bad).is_err(), "{bad}");
        }
        assert!(p("/a").contains(&p("/a/b")));
        assert!(p("").contains(&p("/a")));
        assert!(!p("/a/b").contains(&p("/a")));
        assert!(!p("/a").contains(&p("/ab")));
    }

    fn patch(doc: Value, ops: Value) -> Result<Value, (usize, String)> {
        let ops: Vec<Op> = ops.as_array().unwrap().iter().map(op).collect();
        let mut doc = doc;
        apply(&mut doc, &ops).map(|()| doc)
    }

    fn op(v: &Value) -> Op {
        let path = p(v["path"].as_str().unwrap());
        let from = || p(v["from"].as_str().unwrap());
        let value = || v["value"].clone();
        match v["op"].as_str().unwrap() {
            "add" => Op::Add { path, value: value() },
            "remove" => Op::Remove { path },
            "replace" => Op::Replace { path, value: value() },
            "move" => Op::Move { from: from(), path },
            "copy" => Op::Copy { from: from(), path },
            "test" => Op::Test { path, value: value() },
            other => panic!("{other}"),
        }
    }

    /// RFC 6902 appendix A, every example that succeeds.
    #[test]
    fn rfc6902_appendix_a_successes() {
        let cases = [
            // A.1 adding an object member
            (
                json!({"foo": "bar"}),
                json!([{"op": "add", "path": "/baz", "value": "qux"}]),
                json!({"foo": "bar", "baz": "qux"}),
            ),
            // A.2 adding an array element
            (
                json!({"foo": ["bar", "baz"]}),
                json!([{"op": "add", "path": "/foo/1", "value": "qux"}]),
                json!({"foo": ["bar", "qux", "baz"]}),
            ),
            // A.3 removing an object member
            (json!({"baz": "qux", "foo": "bar"}), json!([{"op": "remove", "path": "/baz"}]), json!({"foo": "bar"})),
            // A.4 removing an array element
            (
                json!({"foo": ["bar", "qux", "baz"]}),
                json!([{"op": "remove", "path": "/foo/1"}]),
                json!({"foo": ["bar", "baz"]}),
            ),
            // A.5 replacing a value
            (
                json!({"baz": "qux", "foo": "bar"}),
                json!([{"op": "replace", "path": "/baz", "value": "boo"}]),
                json!({"baz": "boo", "foo": "bar"}),
            ),
            // A.6 moving a value
            (
                json!({"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}}),
                json!([{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}]),
                json!({"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}}),
            ),
            // A.7 moving an array element
            (
                json!({"foo": ["all", "grass", "cows", "eat"]}),
                json!([{"op": "move", "from": "/foo/1", "path": "/foo/3"}]),
                json!({"foo": ["all", "cows", "eat", "grass"]}),
            ),
            // A.8 testing a value: success
            (
                json!({"baz": "qux", "foo": ["a", 2, "c"]}),
                json!([{"op": "test", "path": "/baz", "value": "qux"}, {"op": "test", "path": "/foo/1", "value": 2}]),
                json!({"baz": "qux", "foo": ["a", 2, "c"]}),
            ),
            // A.10 adding a nested member object
            (
                json!({"foo": "bar"}),
                json!([{"op": "add", "path": "/child", "value": {"grandchild": {}}}]),
                json!({"foo": "bar", "child": {"grandchild": {}}}),
            ),
            // A.11 ignoring unrecognized elements: not representable here (typed ops).
            // A.14 ~ escape ordering
            (
                json!({"/": 9, "~1": 10}),
                json!([{"op": "test", "path": "/~01", "value": 10}]),
                json!({"/": 9, "~1": 10}),
            ),
            // A.16 adding an array value
            (
                json!({"foo": ["bar"]}),
                json!([{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}]),
                json!({"foo": ["bar", ["abc", "def"]]}),
            ),
        ];
        for (doc, ops, want) in cases {
            assert_eq!(patch(doc, ops.clone()).unwrap(), want, "{ops}");
        }
    }

    /// RFC 6902 appendix A, every example that fails, and more failures.
    #[test]
    fn rfc6902_failures_leave_the_document_alone() {
        let cases = [
            // A.9 testing a value: error
            (json!({"baz": "qux"}), json!([{"op": "test", "path": "/baz", "value": "bar"}]), "test failed"),
            // A.12 adding to a nonexistent target
            (json!({"foo": "bar"}), json!([{"op": "add", "path": "/baz/bat", "value": "qux"}]), "does not exist"),
            // A.15 comparing strings and numbers
            (json!({"/": 9, "~1": 10}), json!([{"op": "test", "path": "/~01", "value": "10"}]), "test failed"),
            (json!({"a": [1]}), json!([{"op": "remove", "path": "/a/1"}]), "out of range"),
            (json!({"a": [1]}), json!([{"op": "add", "path": "/a/2", "value": 0}]), "out of range"),
            (json!({"a": [1]}), json!([{"op": "add", "path": "/a/01", "value": 0}]), "not an array index"),
            (json!({"a": [1]}), json!([{"op": "replace", "path": "/a/-", "value": 0}]), "only works for adding"),
            (json!({"a": 1}), json!([{"op": "replace", "path": "/b", "value": 0}]), "`/b` does not exist"),
            (json!({"a": 1}), json!([{"op": "add", "path": "/a/b", "value": 0}]), "is a number"),
            (json!({"a": {"b": 1}}), json!([{"op": "move", "from": "/a", "path": "/a/b/c"}]), "into itself"),
            (json!({"a": 1}), json!([{"op": "remove", "path": ""}]), "whole document"),
            (json!({"a": 1}), json!([{"op": "copy", "from": "/x", "path": "/y"}]), "`/x` does not exist"),
        ];
        for (doc, ops, want) in cases {
            // A successful first operation is undone by the failing second one.
            let mut all = vec![op(&json!({"op": "add", "path": "/added", "value": true}))];
            all.extend(ops.as_array().unwrap().iter().map(op));
            let mut d = doc.clone();
            let err = apply(&mut d, &all).unwrap_err();
            assert_eq!(err.0, 1, "{ops}");
            assert!(err.1.contains(want), "{ops}: {}", err.1);
            assert_eq!(d, doc, "{ops}: the document is left as it was");
        }
    }

    #[test]
    fn moves_copies_and_the_root() {
        let doc = json!({"a": {"b": [1, 2]}, "c": 3});
        assert_eq!(
            patch(doc.clone(), json!([{"op": "copy", "from": "/a/b", "path": "/d"}])).unwrap(),
            json!({"a": {"b": [1, 2]}, "c": 3, "d": [1, 2]})
        );
        assert_eq!(patch(doc.clone(), json!([{"op": "move", "from": "/c", "path": "/c"}])).unwrap(), doc);
        assert_eq!(patch(doc.clone(), json!([{"op": "replace", "path": "", "value": 1}])).unwrap(), json!(1));
        assert_eq!(patch(doc.clone(), json!([{"op": "add", "path": "", "value": [1]}])).unwrap(), json!([1]));
        // Removing keeps the other keys in order.
        let out = patch(json!({"x": 1, "y": 2, "z": 3}), json!([{"op": "remove", "path": "/x"}])).unwrap();
        assert_eq!(out.as_object().unwrap().keys().collect::<Vec<_>>(), ["y", "z"]);
    }

    #[test]
    fn test_compares_numbers_by_value_and_objects_by_content() {
        assert!(equal(&json!(1), &json!(1.0)));
        assert!(!equal(&json!(1), &json!(1.5)));
        assert!(equal(&json!({"a": 1, "b": [2]}), &json!({"b": [2.0], "a": 1})));
        assert!(!equal(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
        assert!(!equal(&json!("1"), &json!(1)));
    }

    /// RFC 7386 appendix A, every example.
    #[test]
    fn rfc7386_appendix_a() {
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "b"}), json!({"b": "c"}), json!({"a": "b", "b": "c"})),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (json!({"a": "b", "b": "c"}), json!({"a": null}), json!({"b": "c"})),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (json!({"a": {"b": "c"}}), json!({"a": {"b": "d", "c": null}}), json!({"a": {"b": "d"}})),
            (json!({"a": [{"b": "c"}]}), json!({"a": [1]}), json!({"a": [1]})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a": "b"}), json!(["c"]), json!(["c"])),
            (json!({"a": "foo"}), json!(null), json!(null)),
            (json!({"a": "foo"}), json!("bar"), json!("bar")),
            (json!({"e": null}), json!({"a": 1}), json!({"e": null, "a": 1})),
            (json!([1, 2]), json!({"a": "b", "c": null}), json!({"a": "b"})),
            (json!({}), json!({"a": {"bb": {"ccc": null}}}), json!({"a": {"bb": {}}})),
        ];
        for (target, p, want) in cases {
            let mut t = target.clone();
            merge(&mut t, &p);
            assert_eq!(t, want, "{target} + {p}");
        }
    }

    #[test]
    fn merge_keeps_existing_keys_in_place() {
        let mut t = json!({"x": 1, "y": {"a": 1}, "z": 3});
        merge(&mut t, &json!({"y": {"b": 2}, "w": 0, "x": null}));
        assert_eq!(serde_json::to_string(&t).unwrap(), r#"{"y":{"a":1,"b":2},"z":3,"w":0}"#);
    }
}
