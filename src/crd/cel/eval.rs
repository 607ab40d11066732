//! Evaluation of a checked rule against a JSON value.
//!
//! Values borrow from the object under validation: a list or map is a view of the JSON plus
//! its schema node, and children are converted only when a rule touches them, so a rule on a
//! large `spec` costs nothing for the fields it does not read. The schema decides numeric
//! types (`type: number` is always a CEL double, `type: integer` an int), as in the API
//! server's unstructured-to-CEL conversion.
//!
//! Error semantics follow CEL: `&&`, `||`, `all` and `exists` absorb errors when another
//! operand decides the result (`false && error` is `false`); otherwise errors propagate
//! and the caller reports them as an evaluation failure, which rejects the object.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::rc::Rc;

use serde_json::Value;

use super::super::schema::{JsonType, Schema};
use super::stdlib::{self, Url};
use super::syntax::{BinOp, Expr, Func, Lit, Quant, UnOp};

/// A runtime value.
#[derive(Debug, Clone)]
pub(crate) enum Val<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Double(f64),
    Str(Cow<'a, str>),
    /// Nanoseconds.
    Duration(i64),
    Url(Rc<Url>),
    List(ListVal<'a>),
    Map(MapVal<'a>),
}

/// A list: either a view of a JSON array (with the items schema) or built by the rule.
#[derive(Debug, Clone)]
pub(crate) enum ListVal<'a> {
    Json(&'a [Value], Option<&'a Schema>),
    Owned(Rc<Vec<Val<'a>>>),
}

/// A map: either a view of a JSON object (with its schema) or built by the rule.
#[derive(Debug, Clone)]
pub(crate) enum MapVal<'a> {
    Json(&'a serde_json::Map<String, Value>, Option<&'a Schema>),
    Owned(Rc<Vec<(Val<'a>, Val<'a>)>>),
}

type R<T> = Result<T, String>;

fn no_overload(what: &str) -> String {
    format!("no such overload: {what}")
}

/// Converts a JSON value described by `schema` into a CEL value.
pub(crate) fn from_json<'a>(v: &'a Value, schema: Option<&'a Schema>) -> Val<'a> {
    let ty = schema.and_then(|s| s.ty);
    match v {
        Value::Null => Val::Null,
        Value::Bool(b) => Val::Bool(*b),
        Value::Number(n) => {
            if ty == Some(JsonType::Number) {
                Val::Double(n.as_f64().unwrap_or(f64::NAN))
            } else if let Some(i) = n.as_i64() {
                Val::Int(i)
            } else if let Some(u) = n.as_u64() {
                Val::Uint(u)
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                // The API server reads a whole float in an integer field as an int.
                if ty == Some(JsonType::Integer) && f.fract() == 0.0 && f.abs() < 9.2e18 {
                    Val::Int(f as i64)
                } else {
                    Val::Double(f)
                }
            }
        }
        Value::String(s) => Val::Str(Cow::Borrowed(s)),
        Value::Array(a) => Val::List(ListVal::Json(a, schema.and_then(|s| s.items.as_deref()))),
        Value::Object(m) => Val::Map(MapVal::Json(m, schema)),
    }
}

/// Whether the API server would have pruned this field before validation: a `null` in a
/// field that is not nullable is dropped, so rules must see it as absent.
fn pruned(v: &Value, field_schema: Option<&Schema>) -> bool {
    v.is_null() && field_schema.is_some_and(|s| !s.nullable)
}

impl<'a> ListVal<'a> {
    fn len(&self) -> usize {
        match self {
            ListVal::Json(a, _) => a.len(),
            ListVal::Owned(v) => v.len(),
        }
    }

    fn get(&self, i: usize) -> Option<Val<'a>> {
        match self {
            ListVal::Json(a, s) => a.get(i).map(|v| from_json(v, *s)),
            ListVal::Owned(v) => v.get(i).cloned(),
        }
    }

    fn items(&self) -> Vec<Val<'a>> {
        (0..self.len()).filter_map(|i| self.get(i)).collect()
    }
}

impl<'a> MapVal<'a> {
    fn entries(&self) -> Vec<(Val<'a>, Val<'a>)> {
        match self {
            MapVal::Json(m, s) => m
                .iter()
                .filter_map(|(k, v)| {
                    let child = s.and_then(|s| s.child(k));
                    (!pruned(v, child)).then(|| (Val::Str(Cow::Borrowed(k)), from_json(v, child)))
                })
                .collect(),
            MapVal::Owned(v) => v.as_ref().clone(),
        }
    }

    fn len(&self) -> usize {
        match self {
            MapVal::Json(..) => self.entries().len(),
            MapVal::Owned(v) => v.len(),
        }
    }

    fn get(&self, key: &Val<'a>) -> R<Option<Val<'a>>> {
        match self {
            MapVal::Json(m, s) => {
                let Val::Str(k) = key else {
                    return Ok(None);
                };
                let child = s.and_then(|s| s.child(k));
                Ok(m.get(k.as_ref()).filter(|v| !pruned(v, child)).map(|v| from_json(v, child)))
            }
            MapVal::Owned(entries) => {
                for (k, v) in entries.iter() {
                    if equals(k, key)? {
                        return Ok(Some(v.clone()));
                    }
                }
                Ok(None)
            }
        }
    }
}

fn type_name(v: &Val<'_>) -> &'static str {
    match v {
        Val::Null => "null_type",
        Val::Bool(_) => "bool",
        Val::Int(_) => "int",
        Val::Uint(_) => "uint",
        Val::Double(_) => "double",
        Val::Str(_) => "string",
        Val::Duration(_) => "google.protobuf.Duration",
        Val::Url(_) => "kubernetes.URL",
        Val::List(_) => "list",
        Val::Map(_) => "map",
    }
}

/// Numeric comparison across int, uint and double (Kubernetes enables CEL's heterogeneous
/// numeric comparisons). `None` for NaN.
fn numeric_cmp(a: &Val<'_>, b: &Val<'_>) -> Option<Option<Ordering>> {
    let as_i128 = |v: &Val<'_>| match v {
        Val::Int(i) => Some(i128::from(*i)),
        Val::Uint(u) => Some(i128::from(*u)),
        _ => None,
    };
    let as_f64 = |v: &Val<'_>| match v {
        Val::Int(i) => Some(*i as f64),
        Val::Uint(u) => Some(*u as f64),
        Val::Double(d) => Some(*d),
        _ => None,
    };
    match (as_i128(a), as_i128(b)) {
        (Some(x), Some(y)) => Some(Some(x.cmp(&y))),
        _ => Some(as_f64(a)?.partial_cmp(&as_f64(b)?)),
    }
}

/// CEL equality (heterogeneous: values of different types are unequal, numbers compare by
/// value).
fn equals(a: &Val<'_>, b: &Val<'_>) -> R<bool> {
    if let Some(ord) = numeric_cmp(a, b) {
        return Ok(ord == Some(Ordering::Equal));
    }
    Ok(match (a, b) {
        (Val::Null, Val::Null) => true,
        (Val::Bool(x), Val::Bool(y)) => x == y,
        (Val::Str(x), Val::Str(y)) => x == y,
        (Val::Duration(x), Val::Duration(y)) => x == y,
        (Val::Url(x), Val::Url(y)) => x == y,
        (Val::List(x), Val::List(y)) => {
            if x.len() != y.len() {
                return Ok(false);
            }
            for (p, q) in x.items().iter().zip(y.items().iter()) {
                if !equals(p, q)? {
                    return Ok(false);
                }
            }
            true
        }
        (Val::Map(x), Val::Map(y)) => {
            let xe = x.entries();
            if xe.len() != y.len() {
                return Ok(false);
            }
            for (k, v) in &xe {
                match y.get(k)? {
                    Some(w) if equals(v, &w)? => {}
                    _ => return Ok(false),
                }
            }
            true
        }
        _ => false,
    })
}

fn compare(op: BinOp, a: &Val<'_>, b: &Val<'_>) -> R<bool> {
    let ord = if let Some(ord) = numeric_cmp(a, b) {
        ord
    } else {
        match (a, b) {
            (Val::Str(x), Val::Str(y)) => Some(x.cmp(y)),
            (Val::Bool(x), Val::Bool(y)) => Some(x.cmp(y)),
            (Val::Duration(x), Val::Duration(y)) => Some(x.cmp(y)),
            _ => {
                return Err(no_overload(&format!("{} {} {}", type_name(a), op.symbol(), type_name(b))));
            }
        }
    };
    // Any comparison with NaN is false.
    let Some(ord) = ord else { return Ok(false) };
    Ok(match op {
        BinOp::Lt => ord == Ordering::Less,
        BinOp::Le => ord != Ordering::Greater,
        BinOp::Gt => ord == Ordering::Greater,
        _ => ord != Ordering::Less,
    })
}

fn arith<'a>(op: BinOp, a: Val<'a>, b: Val<'a>) -> R<Val<'a>> {
    let overflow = || "integer overflow".to_string();
    let div0 = || "division by zero".to_string();
    Ok(match (op, a, b) {
        (BinOp::Add, Val::Int(x), Val::Int(y)) => Val::Int(x.checked_add(y).ok_or_else(overflow)?),
        (BinOp::Sub, Val::Int(x), Val::Int(y)) => Val::Int(x.checked_sub(y).ok_or_else(overflow)?),
        (BinOp::Mul, Val::Int(x), Val::Int(y)) => Val::Int(x.checked_mul(y).ok_or_else(overflow)?),
        (BinOp::Div, Val::Int(x), Val::Int(y)) => {
            if y == 0 {
                return Err(div0());
            }
            Val::Int(x.checked_div(y).ok_or_else(overflow)?)
        }
        (BinOp::Rem, Val::Int(x), Val::Int(y)) => {
            if y == 0 {
                return Err("modulus by zero".into());
            }
            Val::Int(x.checked_rem(y).ok_or_else(overflow)?)
        }
        (BinOp::Add, Val::Uint(x), Val::Uint(y)) => Val::Uint(x.checked_add(y).ok_or_else(overflow)?),
        (BinOp::Sub, Val::Uint(x), Val::Uint(y)) => Val::Uint(x.checked_sub(y).ok_or_else(overflow)?),
        (BinOp::Mul, Val::Uint(x), Val::Uint(y)) => Val::Uint(x.checked_mul(y).ok_or_else(overflow)?),
        (BinOp::Div, Val::Uint(x), Val::Uint(y)) => Val::Uint(x.checked_div(y).ok_or_else(div0)?),
        (BinOp::Rem, Val::Uint(x), Val::Uint(y)) => {
            Val::Uint(x.checked_rem(y).ok_or_else(|| "modulus by zero".to_string())?)
        }
        (BinOp::Add, Val::Double(x), Val::Double(y)) => Val::Double(x + y),
        (BinOp::Sub, Val::Double(x), Val::Double(y)) => Val::Double(x - y),
        (BinOp::Mul, Val::Double(x), Val::Double(y)) => Val::Double(x * y),
        (BinOp::Div, Val::Double(x), Val::Double(y)) => Val::Double(x / y),
        (BinOp::Add, Val::Duration(x), Val::Duration(y)) => Val::Duration(x.checked_add(y).ok_or_else(overflow)?),
        (BinOp::Sub, Val::Duration(x), Val::Duration(y)) => Val::Duration(x.checked_sub(y).ok_or_else(overflow)?),
        (BinOp::Add, Val::Str(x), Val::Str(y)) => Val::Str(Cow::Owned(format!("{x}{y}"))),
        (BinOp::Add, Val::List(x), Val::List(y)) => {
            let mut items = x.items();
            items.extend(y.items());
            Val::List(ListVal::Owned(Rc::new(items)))
        }
        (op, a, b) => {
            return Err(no_overload(&format!("{} {} {}", type_name(&a), op.symbol(), type_name(&b))));
        }
    })
}

fn as_bool(v: R<Val<'_>>) -> R<bool> {
    match v? {
        Val::Bool(b) => Ok(b),
        other => Err(no_overload(&format!("expected bool, got {}", type_name(&other)))),
    }
}

fn as_str<'v>(v: &'v Val<'_>, ctx: &str) -> R<&'v str> {
    match v {
        Val::Str(s) => Ok(s),
        other => Err(no_overload(&format!("{ctx} on {}", type_name(other)))),
    }
}

fn as_int(v: &Val<'_>, ctx: &str) -> R<i64> {
    match v {
        Val::Int(i) => Ok(*i),
        other => Err(no_overload(&format!("{ctx} with {}", type_name(other)))),
    }
}

/// Evaluation scope: bound variables, innermost last.
pub(crate) struct Scope<'a> {
    vars: Vec<(&'a str, Val<'a>)>,
}

impl<'a> Scope<'a> {
    /// A scope with `self` bound.
    pub(crate) fn new(self_val: Val<'a>) -> Scope<'a> {
        Scope { vars: vec![("self", self_val)] }
    }
}

/// Evaluates `e`.
pub(crate) fn eval<'a>(e: &'a Expr, sc: &mut Scope<'a>) -> R<Val<'a>> {
    match e {
        Expr::Lit(l) => Ok(match l {
            Lit::Null => Val::Null,
            Lit::Bool(b) => Val::Bool(*b),
            Lit::Int(i) => Val::Int(*i),
            Lit::Uint(u) => Val::Uint(*u),
            Lit::Double(d) => Val::Double(*d),
            Lit::Str(s) => Val::Str(Cow::Borrowed(s)),
        }),
        Expr::Ident(name) => sc
            .vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| format!("undeclared reference to {name:?}")),
        Expr::Select { operand, field } => match eval(operand, sc)? {
            Val::Map(m) => m.get(&Val::Str(Cow::Borrowed(field)))?.ok_or_else(|| format!("no such key: {field}")),
            other => Err(no_overload(&format!("field selection on {}", type_name(&other)))),
        },
        Expr::Has { operand, field } => match eval(operand, sc)? {
            Val::Map(m) => Ok(Val::Bool(m.get(&Val::Str(Cow::Borrowed(field)))?.is_some())),
            other => Err(no_overload(&format!("has() on {}", type_name(&other)))),
        },
        Expr::Index { operand, index } => {
            let container = eval(operand, sc)?;
            let index = eval(index, sc)?;
            match container {
                Val::List(l) => {
                    let i = match index {
                        Val::Int(i) => usize::try_from(i).ok(),
                        Val::Uint(u) => usize::try_from(u).ok(),
                        other => {
                            return Err(no_overload(&format!("list index {}", type_name(&other))));
                        }
                    };
                    i.and_then(|i| l.get(i)).ok_or_else(|| "index out of bounds".to_string())
                }
                Val::Map(m) => m.get(&index)?.ok_or_else(|| "no such key".to_string()),
                other => Err(no_overload(&format!("index on {}", type_name(&other)))),
            }
        }
        Expr::Call { func, target, args } => {
            let target = match target {
                Some(t) => Some(eval(t, sc)?),
                None => None,
            };
            let args = args.iter().map(|a| eval(a, sc)).collect::<R<Vec<_>>>()?;
            call(*func, target, args)
        }
        Expr::Matches { target, pattern, compiled } => {
            let t = eval(target, sc)?;
            let s = as_str(&t, "matches()")?;
            match compiled {
                Some(re) => Ok(Val::Bool(re.is_match(s))),
                None => {
                    let p = eval(pattern, sc)?;
                    let re = crate::formats::re2::compile(as_str(&p, "matches()")?)?;
                    Ok(Val::Bool(re.is_match(s)))
                }
            }
        }
        Expr::Unary { op, operand } => {
            let v = eval(operand, sc)?;
            match (op, v) {
                (UnOp::Not, Val::Bool(b)) => Ok(Val::Bool(!b)),
                (UnOp::Neg, Val::Int(i)) => Ok(Val::Int(i.checked_neg().ok_or("integer overflow")?)),
                (UnOp::Neg, Val::Double(d)) => Ok(Val::Double(-d)),
                (UnOp::Neg, Val::Duration(d)) => Ok(Val::Duration(d.checked_neg().ok_or("integer overflow")?)),
                (_, other) => Err(no_overload(&format!("unary operator on {}", type_name(&other)))),
            }
        }
        Expr::And(a, b) => {
            let x = as_bool(eval(a, sc));
            if x == Ok(false) {
                return Ok(Val::Bool(false));
            }
            let y = as_bool(eval(b, sc));
            match (x, y) {
                (_, Ok(false)) => Ok(Val::Bool(false)),
                (Ok(true), Ok(true)) => Ok(Val::Bool(true)),
                (Err(e), _) | (_, Err(e)) => Err(e),
                _ => unreachable!("all combinations covered"),
            }
        }
        Expr::Or(a, b) => {
            let x = as_bool(eval(a, sc));
            if x == Ok(true) {
                return Ok(Val::Bool(true));
            }
            let y = as_bool(eval(b, sc));
            match (x, y) {
                (_, Ok(true)) => Ok(Val::Bool(true)),
                (Ok(false), Ok(false)) => Ok(Val::Bool(false)),
                (Err(e), _) | (_, Err(e)) => Err(e),
                _ => unreachable!("all combinations covered"),
            }
        }
        Expr::Cond { cond, then, otherwise } => {
            if as_bool(eval(cond, sc))? {
                eval(then, sc)
            } else {
                eval(otherwise, sc)
            }
        }
        Expr::Binary { op, lhs, rhs } => {
            let a = eval(lhs, sc)?;
            let b = eval(rhs, sc)?;
            match op {
                BinOp::Eq => Ok(Val::Bool(equals(&a, &b)?)),
                BinOp::Ne => Ok(Val::Bool(!equals(&a, &b)?)),
                BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => Ok(Val::Bool(compare(*op, &a, &b)?)),
                BinOp::In => match b {
                    Val::List(l) => {
                        for item in l.items() {
                            if equals(&a, &item)? {
                                return Ok(Val::Bool(true));
                            }
                        }
                        Ok(Val::Bool(false))
                    }
                    Val::Map(m) => Ok(Val::Bool(m.get(&a)?.is_some())),
                    other => Err(no_overload(&format!("in on {}", type_name(&other)))),
                },
                _ => arith(*op, a, b),
            }
        }
        Expr::List(items) => {
            Ok(Val::List(ListVal::Owned(Rc::new(items.iter().map(|i| eval(i, sc)).collect::<R<Vec<_>>>()?))))
        }
        Expr::Map(entries) => {
            let mut out: Vec<(Val<'a>, Val<'a>)> = Vec::new();
            for (k, v) in entries {
                let k = eval(k, sc)?;
                for (existing, _) in &out {
                    if equals(existing, &k)? {
                        return Err("Failed with repeated key".into());
                    }
                }
                out.push((k, eval(v, sc)?));
            }
            Ok(Val::Map(MapVal::Owned(Rc::new(out))))
        }
        Expr::Quant { kind, range, var, body } => {
            let elems = match eval(range, sc)? {
                Val::List(l) => l.items(),
                Val::Map(m) => m.entries().into_iter().map(|(k, _)| k).collect(),
                other => return Err(no_overload(&format!("macro over {}", type_name(&other)))),
            };
            let mut first_err = None;
            let mut count = 0usize;
            for elem in elems {
                sc.vars.push((var.as_str(), elem));
                let r = as_bool(eval(body, sc));
                sc.vars.pop();
                match (kind, r) {
                    (Quant::All, Ok(false)) => return Ok(Val::Bool(false)),
                    (Quant::Exists, Ok(true)) => return Ok(Val::Bool(true)),
                    (Quant::ExistsOne, Ok(true)) => count += 1,
                    (Quant::ExistsOne, Err(e)) => return Err(e),
                    (_, Err(e)) => {
                        first_err.get_or_insert(e);
                    }
                    _ => {}
                }
            }
            if let Some(e) = first_err {
                return Err(e);
            }
            Ok(Val::Bool(match kind {
                Quant::All => true,
                Quant::Exists => false,
                Quant::ExistsOne => count == 1,
            }))
        }
    }
}

fn call<'a>(func: Func, target: Option<Val<'a>>, args: Vec<Val<'a>>) -> R<Val<'a>> {
    let name = func.name();
    let mut all: Vec<Val<'a>> = target.into_iter().collect();
    all.extend(args);
    match (func, all.as_slice()) {
        (Func::Size, [v]) => {
            let n = match v {
                Val::Str(s) => s.chars().count(),
                Val::List(l) => l.len(),
                Val::Map(m) => m.len(),
                other => return Err(no_overload(&format!("size() on {}", type_name(other)))),
            };
            Ok(Val::Int(i64::try_from(n).map_err(|_| "size overflow")?))
        }
        (Func::Contains | Func::StartsWith | Func::EndsWith, [s, sub]) => {
            let (s, sub) = (as_str(s, name)?, as_str(sub, name)?);
            Ok(Val::Bool(match func {
                Func::Contains => s.contains(sub),
                Func::StartsWith => s.starts_with(sub),
                _ => s.ends_with(sub),
            }))
        }
        (Func::Substring, [s, rest @ ..]) if (1..=2).contains(&rest.len()) => {
            // Kubernetes strings extension: code-point indices, errors when out of range.
            let chars: Vec<char> = as_str(s, name)?.chars().collect();
            let len = chars.len() as i64;
            let start = as_int(&rest[0], name)?;
            let end = match rest.get(1) {
                Some(e) => as_int(e, name)?,
                None => len,
            };
            if start < 0 || start > len {
                return Err(format!("index out of range: {start}"));
            }
            if end < 0 || end > len {
                return Err(format!("index out of range: {end}"));
            }
            if end < start {
                return Err(format!("invalid substring range. start: {start}, end: {end}"));
            }
            Ok(Val::Str(Cow::Owned(chars[start as usize..end as usize].iter().collect())))
        }
        (Func::Int, [v]) => Ok(Val::Int(match v {
            Val::Int(i) => *i,
            Val::Uint(u) => i64::try_from(*u).map_err(|_| "range error converting uint to int")?,
            Val::Double(d) => {
                if d.is_nan() || *d <= -9.223_372_036_854_776e18 || *d >= 9.223_372_036_854_776e18 {
                    return Err("range error converting double to int".into());
                }
                d.trunc() as i64
            }
            Val::Str(s) => stdlib::parse_int(s)?,
            Val::Duration(d) => *d,
            other => return Err(no_overload(&format!("int() on {}", type_name(other)))),
        })),
        (Func::Duration, [v]) => Ok(Val::Duration(crate::formats::duration::parse(as_str(v, name)?)?)),
        (Func::Url, [v]) => Ok(Val::Url(Rc::new(stdlib::parse_url(as_str(v, name)?)?))),
        (Func::IsUrl, [v]) => Ok(Val::Bool(stdlib::parse_url(as_str(v, name)?).is_ok())),
        (Func::GetScheme | Func::GetHost | Func::GetHostname | Func::GetPort, [Val::Url(u)]) => {
            Ok(Val::Str(Cow::Owned(match func {
                Func::GetScheme => u.scheme.clone(),
                Func::GetHost => u.host.clone(),
                Func::GetHostname => u.hostname(),
                _ => u.port(),
            })))
        }
        _ => {
            let types: Vec<&str> = all.iter().map(type_name).collect();
            Err(no_overload(&format!("{name}({})", types.join(", "))))
        }
    }
}
