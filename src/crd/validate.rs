//! Validation of a JSON value against a [`Schema`], with the API server's semantics.
//!
//! The order of work mirrors the API server's request handling:
//!
//! 1. [`prune_nulls`]: a `null` in an object field whose schema is not `nullable` is removed
//!    before anything else looks at the object (so `required` then reports it missing).
//! 2. [`Walker::node`]: OpenAPI value validation (type, format, lengths, ranges, enum,
//!    `required`, list types, `allOf`/`anyOf`/`oneOf`/`not`) plus strict field validation:
//!    a field the schema does not declare is reported, as `kubectl --validate=strict` does.
//! 3. `x-kubernetes-validations` rules, on each node whose subtree passed step 2. The API
//!    server skips *all* rules once any schema error exists; running them per clean subtree
//!    reports more problems in one pass while still never evaluating a rule on a value of
//!    the wrong shape (which would only produce confusing evaluation errors).

use std::cmp::Ordering;

use serde_json::{Map, Number, Value};

use super::Violation;
use super::schema::{Additional, Format, JsonType, ListType, Schema};
use crate::fieldpath::FieldPath;

/// Removes `null`s that the API server prunes: object fields (declared or additional) whose
/// schema is not nullable. List items are kept, as in the API server, and then fail the type
/// check.
pub(crate) fn prune_nulls(v: &mut Value, s: Option<&Schema>) {
    match v {
        Value::Object(m) => {
            m.retain(|k, child| {
                let cs = s.and_then(|s| s.child(k));
                !(child.is_null() && cs.is_some_and(|cs| !cs.nullable))
            });
            for (k, child) in m.iter_mut() {
                prune_nulls(child, s.and_then(|s| s.child(k)));
            }
        }
        Value::Array(items) => {
            for item in items {
                prune_nulls(item, s.and_then(|s| s.items.as_deref()));
            }
        }
        _ => {}
    }
}

/// Walks a value and its schema, collecting violations.
pub(crate) struct Walker<'o> {
    out: &'o mut Vec<Violation>,
    /// Strict mode walks the schema tree proper: undeclared fields are errors and rules run.
    /// Branches of `allOf`/`anyOf`/`oneOf`/`not` are walked non-strictly, because a branch
    /// (typically just `required: [x]`) declares only what it constrains.
    strict: bool,
    /// Schema (non-CEL) violations reported so far; a node runs its rules only if its
    /// subtree added none.
    schema_errors: usize,
}

impl<'o> Walker<'o> {
    /// A strict walker appending to `out`.
    pub(crate) fn new(out: &'o mut Vec<Violation>) -> Walker<'o> {
        Walker { out, strict: true, schema_errors: 0 }
    }

    fn report(&mut self, path: &str, message: String) {
        self.schema_errors += 1;
        self.out.push(Violation { path: path.to_string(), message });
    }

    /// Whether `v` satisfies branch `s` of a junctor (without reporting anything).
    fn branch_matches(v: &Value, s: &Schema, path: &mut FieldPath) -> bool {
        let mut scratch = Vec::new();
        let mut w = Walker { out: &mut scratch, strict: false, schema_errors: 0 };
        w.node(v, s, path);
        scratch.is_empty()
    }

    /// Validates `v` (at `path`, e.g. `spec.hosts[0]`) against `s`.
    pub(crate) fn node(&mut self, v: &Value, s: &Schema, path: &mut FieldPath) {
        let errors_before = self.schema_errors;
        if v.is_null() {
            // Only list items (and the root) can still be null here: see prune_nulls.
            if !s.nullable && (s.ty.is_some() || s.int_or_string) {
                let want = expected_type(s);
                self.report(path, format!("must be of type {want}, got null"));
            }
            return;
        }
        if !self.type_ok(v, s, path) {
            // Nothing below makes sense for a value of the wrong type.
            return;
        }
        match v {
            Value::String(text) => self.string(text, s, path),
            Value::Number(n) => self.number(n, s, path),
            Value::Array(items) => self.array(items, s, path),
            Value::Object(map) => self.object(map, s, path),
            Value::Bool(_) | Value::Null => {}
        }
        if let Some(allowed) = &s.enum_values
            && !allowed.iter().any(|a| json_equal(a, v))
        {
            let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
            self.report(path, format!("unsupported value {v}: must be one of {}", list.join(", ")));
        }
        self.junctors(v, s, path);
        if self.strict && self.schema_errors == errors_before {
            self.rules(v, s, path);
        }
    }

    fn type_ok(&mut self, v: &Value, s: &Schema, path: &str) -> bool {
        let ok = if s.int_or_string {
            v.is_string() || is_integral(v)
        } else {
            match s.ty {
                None => true,
                Some(JsonType::Object) => v.is_object(),
                Some(JsonType::Array) => v.is_array(),
                Some(JsonType::String) => v.is_string(),
                Some(JsonType::Boolean) => v.is_boolean(),
                Some(JsonType::Number) => v.is_number(),
                // The API server accepts a whole float such as 3.0 for an integer field.
                Some(JsonType::Integer) => is_integral(v),
            }
        };
        if !ok {
            let want = expected_type(s);
            self.report(path, format!("must be of type {want}, got {}", type_of(v)));
        }
        ok
    }

    fn string(&mut self, text: &str, s: &Schema, path: &str) {
        // Lengths count code points, like Go's utf8.RuneCountInString in the API server.
        let len = text.chars().count() as u64;
        if let Some(max) = s.max_length
            && len > max
        {
            self.report(path, format!("may not be longer than {max} characters"));
        }
        if let Some(min) = s.min_length
            && len < min
        {
            self.report(path, format!("must be at least {min} characters long"));
        }
        if let Some(p) = &s.pattern
            && !p.regex.is_match(text)
        {
            self.report(path, format!("{text:?} does not match pattern {:?}", p.source));
        }
        match s.format {
            Some(Format::DateTime) if !is_date_time(text) => {
                self.report(path, format!("{text:?} is not an RFC 3339 date-time"));
            }
            Some(Format::Byte) if !is_base64(text) => {
                self.report(path, "is not valid base64 (format: byte)".to_string());
            }
            _ => {}
        }
    }

    fn number(&mut self, n: &Number, s: &Schema, path: &str) {
        if s.int_or_string || s.ty == Some(JsonType::Integer) {
            // The API server checks every integer against its format's range; no format
            // means int64.
            let (lo, hi) = match s.format {
                Some(Format::Int32) => (i128::from(i32::MIN), i128::from(i32::MAX)),
                _ => (i128::from(i64::MIN), i128::from(i64::MAX)),
            };
            let fits = integral_value(n).is_some_and(|i| (lo..=hi).contains(&i));
            if !fits {
                let f = if s.format == Some(Format::Int32) { "int32" } else { "int64" };
                self.report(path, format!("{n} is out of range for format {f}"));
                return;
            }
        }
        if s.format == Some(Format::Float) && n.as_f64().is_some_and(|f| f.abs() > f64::from(f32::MAX)) {
            self.report(path, format!("{n} is out of range for format float"));
            return;
        }
        if let Some(min) = s.minimum {
            let below = match num_cmp(n, min) {
                Some(Ordering::Less) => true,
                Some(Ordering::Equal) => s.exclusive_minimum,
                _ => false,
            };
            if below {
                let rel = if s.exclusive_minimum { "greater than" } else { "greater than or equal to" };
                self.report(path, format!("{n} must be {rel} {}", fmt_bound(min)));
            }
        }
        if let Some(max) = s.maximum {
            let above = match num_cmp(n, max) {
                Some(Ordering::Greater) => true,
                Some(Ordering::Equal) => s.exclusive_maximum,
                _ => false,
            };
            if above {
                let rel = if s.exclusive_maximum { "less than" } else { "less than or equal to" };
                self.report(path, format!("{n} must be {rel} {}", fmt_bound(max)));
            }
        }
        if let Some(m) = s.multiple_of
            && !is_multiple(n, m)
        {
            self.report(path, format!("{n} must be a multiple of {}", fmt_bound(m)));
        }
    }

    fn array(&mut self, items: &[Value], s: &Schema, path: &mut FieldPath) {
        let len = items.len() as u64;
        if let Some(max) = s.max_items
            && len > max
        {
            self.report(path, format!("must have at most {max} items, has {len}"));
        }
        if let Some(min) = s.min_items
            && len < min
        {
            self.report(path, format!("must have at least {min} items, has {len}"));
        }
        self.list_type(items, s, path);
        if let Some(item_schema) = s.items.as_deref() {
            let base = path.mark();
            for (i, item) in items.iter().enumerate() {
                path.index(i);
                self.node(item, item_schema, path);
                path.back_to(base);
            }
        }
    }

    /// `x-kubernetes-list-type` set/map: no two items (key tuples) may be equal.
    fn list_type(&mut self, items: &[Value], s: &Schema, path: &FieldPath) {
        if s.list_type == ListType::Atomic {
            return;
        }
        let key_of = |item: &Value| -> Value {
            match &s.list_type {
                ListType::Map(keys) => {
                    Value::Array(keys.iter().map(|k| item.get(k).cloned().unwrap_or(Value::Null)).collect())
                }
                _ => item.clone(),
            }
        };
        let keys: Vec<Value> = items.iter().map(key_of).collect();
        for (i, k) in keys.iter().enumerate() {
            if keys[..i].iter().any(|earlier| json_equal(earlier, k)) {
                let what = match &s.list_type {
                    ListType::Map(names) => format!(" (key {})", names.join(", ")),
                    _ => String::new(),
                };
                self.report(&path.with_index(i), format!("duplicate value {k}{what}"));
            }
        }
    }

    fn object(&mut self, map: &Map<String, Value>, s: &Schema, path: &mut FieldPath) {
        let len = map.len() as u64;
        if let Some(max) = s.max_properties
            && len > max
        {
            self.report(path, format!("must have at most {max} entries, has {len}"));
        }
        if let Some(min) = s.min_properties
            && len < min
        {
            self.report(path, format!("must have at least {min} entries, has {len}"));
        }
        for name in &s.required {
            if !map.contains_key(name) {
                self.report(&path.with_field(name), "required field is missing".to_string());
            }
        }
        let base = path.mark();
        for (key, child) in map {
            // Map entries (additionalProperties) are shown as `labels[app]`.
            if s.properties.contains_key(key) || s.additional.is_none() {
                path.field(key);
            } else {
                path.entry(key);
            }
            match (s.child(key), &s.additional) {
                (Some(cs), _) => self.node(child, cs, path),
                (None, Some(Additional::Allowed(false))) => {
                    self.report(path, "field not allowed (additionalProperties: false)".into());
                }
                (None, Some(Additional::Allowed(true))) => {}
                (None, _) if self.strict && !s.preserve_unknown => {
                    self.report(path, "unknown field (not declared in the schema)".into());
                }
                (None, _) => {}
            }
            path.back_to(base);
        }
    }

    fn junctors(&mut self, v: &Value, s: &Schema, path: &mut FieldPath) {
        for branch in &s.all_of {
            // allOf reports the branch's own violations, which say more than "allOf failed".
            let strict = std::mem::replace(&mut self.strict, false);
            self.node(v, branch, path);
            self.strict = strict;
        }
        if !s.any_of.is_empty() && !s.any_of.iter().any(|b| Self::branch_matches(v, b, path)) {
            let msg = match required_fields(&s.any_of) {
                Some(fields) => {
                    format!("at least one of {} must be set (anyOf)", fields.join(", "))
                }
                None => "must match at least one of the anyOf schemas".to_string(),
            };
            self.report(path, msg);
        }
        if !s.one_of.is_empty() {
            let matched: Vec<&Schema> = s.one_of.iter().filter(|b| Self::branch_matches(v, b, path)).collect();
            if matched.len() != 1 {
                self.report(path, one_of_message(&s.one_of, &matched));
            }
        }
        if let Some(not) = s.not.as_deref()
            && Self::branch_matches(v, not, path)
        {
            let msg = match required_fields(std::slice::from_ref(not)) {
                Some(fields) => format!("{} must not be set (not)", fields.join(", ")),
                None => "must not match the schema in not".to_string(),
            };
            self.report(path, msg);
        }
    }

    fn rules(&mut self, v: &Value, s: &Schema, path: &str) {
        for rule in &s.rules {
            if rule.program.is_transition() {
                // Transition rules compare with the stored object; a single object being
                // created has none, and the API server skips them on create too.
                continue;
            }
            let message = match rule.program.eval(v, s) {
                Ok(true) => continue,
                Ok(false) => match &rule.message {
                    Some(m) => m.clone(),
                    None => format!("failed rule: {}", rule.source),
                },
                Err(e) => format!("error evaluating rule {:?}: {e}", rule.source),
            };
            let message = match rule.reason.as_deref() {
                Some(reason) => format!("{reason}: {message}"),
                None => message,
            };
            self.out.push(Violation { path: path.to_string(), message });
        }
    }
}

/// If every branch is just `required` (or `not`/`anyOf` of such branches, as in Istio's
/// "none of them" branch), the fields they name, for a message about fields rather than
/// schemas.
fn required_fields(branches: &[Schema]) -> Option<Vec<String>> {
    let mut fields: Vec<String> = Vec::new();
    for b in branches {
        let inner = if b.only_required {
            b.required.clone()
        } else if b.only_junctors {
            let mut inner = match b.not.as_deref() {
                Some(n) => required_fields(std::slice::from_ref(n))?,
                None => Vec::new(),
            };
            inner.extend(required_fields(&b.any_of)?);
            inner
        } else {
            return None;
        };
        for f in inner {
            if !fields.contains(&f) {
                fields.push(f);
            }
        }
    }
    Some(fields)
}

fn one_of_message(branches: &[Schema], matched: &[&Schema]) -> String {
    let Some(fields) = required_fields(branches) else {
        return format!("must match exactly one of the oneOf schemas, matched {}", matched.len());
    };
    // Istio's pattern: oneOf [not(anyOf(required a, required b, ...)), required a, ...].
    let allows_none = branches.iter().any(|b| b.not.is_some());
    let set: Vec<&str> =
        matched.iter().filter(|b| b.only_required).flat_map(|b| b.required.iter().map(String::as_str)).collect();
    if matched.len() > 1 {
        format!("{} are mutually exclusive: set at most one of {} (oneOf)", set.join(" and "), fields.join(", "))
    } else if allows_none {
        format!("at most one of {} may be set (oneOf)", fields.join(", "))
    } else {
        format!("exactly one of {} must be set (oneOf)", fields.join(", "))
    }
}

fn expected_type(s: &Schema) -> &'static str {
    if s.int_or_string { "integer or string" } else { s.ty.map_or("any", JsonType::name) }
}

fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn is_integral(v: &Value) -> bool {
    match v {
        Value::Number(n) => n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0),
        _ => false,
    }
}

/// The exact integer value of `n`, if it is integral (whole floats included).
fn integral_value(n: &Number) -> Option<i128> {
    if let Some(i) = n.as_i64() {
        return Some(i128::from(i));
    }
    if let Some(u) = n.as_u64() {
        return Some(i128::from(u));
    }
    let f = n.as_f64()?;
    // 1.7e38 bounds i128; anything that large is out of every integer format's range anyway.
    (f.fract() == 0.0 && f.abs() < 1.0e38).then_some(f as i128)
}

/// Compares a number with a schema bound, exactly when both are integers (bounds near
/// 2^63 are not representable as f64 integers, but values below 2^53 compare exactly).
fn num_cmp(n: &Number, bound: f64) -> Option<Ordering> {
    match (integral_value(n), bound.fract() == 0.0 && bound.abs() < 1.0e38) {
        (Some(i), true) if !n.is_f64() => Some(i.cmp(&(bound as i128))),
        _ => n.as_f64()?.partial_cmp(&bound),
    }
}

fn is_multiple(n: &Number, m: f64) -> bool {
    if let (Some(i), true) = (integral_value(n), m.fract() == 0.0 && m < 1.0e38) {
        return i % (m as i128) == 0;
    }
    let Some(f) = n.as_f64() else { return false };
    let q = f / m;
    // Relative tolerance as in go-openapi's IsFloat64AJSONInteger.
    (q - q.round()).abs() <= 1e-9 * q.abs().max(1.0)
}

fn fmt_bound(b: f64) -> String {
    if b.fract() == 0.0 && b.abs() < 1.0e15 { format!("{}", b as i64) } else { b.to_string() }
}

/// JSON equality with numbers compared by value (`1` equals `1.0`), as the API server's enum
/// check does after converting the value to the enum entry's type.
pub(crate) fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (integral_value(x), integral_value(y)) {
            (Some(i), Some(j)) => i == j,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_equal(p, q)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

/// `format: date-time` as the API server checks it (kube-openapi `strfmt.IsDateTime`): a
/// valid calendar date, `T` (either case), `hh:mm:ss`, optional fraction, then `Z` or an
/// offset `±hh:mm`.
pub(crate) fn is_date_time(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    let Some((date, time)) = lower.split_once('t') else {
        return false;
    };
    if time.contains('t') || !is_date(date) {
        return false;
    }
    let b = time.as_bytes();
    let two = |i: usize| -> Option<u32> {
        let d = b.get(i..i + 2)?;
        d.iter().all(u8::is_ascii_digit).then(|| u32::from(d[0] - b'0') * 10 + u32::from(d[1] - b'0'))
    };
    let (Some(h), Some(m), Some(sec)) = (two(0), two(3), two(6)) else {
        return false;
    };
    if b.get(2) != Some(&b':') || b.get(5) != Some(&b':') || h > 23 || m > 59 || sec > 59 {
        return false;
    }
    let zone_ok = |r: &str| {
        let o = r.as_bytes();
        r == "z"
            || (o.len() == 6
                && (o[0] == b'+' || o[0] == b'-')
                && o[1..3].iter().all(u8::is_ascii_digit)
                && o[3] == b':'
                && o[4..6].iter().all(u8::is_ascii_digit))
    };
    let rest = &time[8..];
    if zone_ok(rest) {
        return true;
    }
    // Optional fraction: kube-openapi's pattern `(.[0-9]+)?` has an unescaped `.`, so any
    // one character followed by digits.
    let mut chars = rest.chars();
    if chars.next().is_none() {
        return false;
    }
    let after = chars.as_str();
    let digits = after.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && zone_ok(&after[digits..])
}

/// A `YYYY-MM-DD` calendar date (Go `time.Parse("2006-01-02", …)`).
fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let d = &b[r];
        d.iter().all(u8::is_ascii_digit).then(|| d.iter().fold(0u32, |acc, &c| acc * 10 + u32::from(c - b'0')))
    };
    let (Some(y), Some(m), Some(d)) = (num(0..4), num(5..7), num(8..10)) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

/// `format: byte`: Go's `base64.StdEncoding.DecodeString` succeeds (padding required;
/// `\r` and `\n` are ignored by Go's decoder).
pub(crate) fn is_base64(s: &str) -> bool {
    let b: Vec<u8> = s.bytes().filter(|&c| c != b'\r' && c != b'\n').collect();
    if !b.len().is_multiple_of(4) {
        return false;
    }
    let pad = b.iter().rev().take_while(|&&c| c == b'=').count();
    if pad > 2 {
        return false;
    }
    b[..b.len() - pad].iter().all(|&c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_times() {
        for ok in [
            "2024-02-29T10:00:00Z",
            "2024-01-01t23:59:59.123456789z",
            "2024-01-01T00:00:00+05:30",
            "2024-01-01T00:00:00.5-01:00",
        ] {
            assert!(is_date_time(ok), "{ok}");
        }
        for bad in [
            "2023-02-29T10:00:00Z",
            "2024-01-01",
            "2024-01-01T24:00:00Z",
            "2024-01-01T10:00:00",
            "2024-01-01T10:00:00+0530",
            "2024-13-01T10:00:00Z",
            "2024-01-01 10:00:00Z",
        ] {
            assert!(!is_date_time(bad), "{bad}");
        }
    }

    #[test]
    fn base64() {
        for ok in ["", "aGk=", "aGVsbG8gd29ybGQ=", "YWJj\nZGVm", "+/+/"] {
            assert!(is_base64(ok), "{ok}");
        }
        for bad in ["aGk", "a===", "aG k=", "aGk=aGk=", "héllo="] {
            assert!(!is_base64(bad), "{bad}");
        }
    }

    #[test]
    fn number_comparisons_are_exact_for_integers() {
        let big: Number = 9_007_199_254_740_993i64.into();
        assert_eq!(num_cmp(&big, 9_007_199_254_740_992.0), Some(Ordering::Greater));
        let whole = Number::from_f64(3.0).unwrap();
        assert!(json_equal(&Value::Number(whole), &Value::from(3)));
        assert!(is_multiple(&Number::from(10), 5.0));
        assert!(!is_multiple(&Number::from_f64(0.3).unwrap(), 0.2));
        assert!(is_multiple(&Number::from_f64(0.6).unwrap(), 0.2));
    }
}
