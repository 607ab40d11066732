//! Static type checking of a parsed rule against the schema node it is attached to.
//!
//! The API server type-checks every rule when a CRD is created: `self` gets the type derived
//! from the schema, selecting an undeclared field is an error, and so is calling a function
//! with arguments it has no overload for. Doing the same at load time means that a rule that
//! loads is one this evaluator fully understands: every field it names exists and every call
//! has an implementation. `dyn` (int-or-string, preserve-unknown-fields) defers checks to
//! run time, as in CEL.

use super::super::schema::{Additional, Format, JsonType, Schema};
use super::syntax::{BinOp, Expr, Func, Lit, UnOp};

/// A CEL type as far as this checker needs it.
#[derive(Debug, Clone)]
pub(crate) enum Ty<'s> {
    Dyn,
    Null,
    Bool,
    Int,
    Uint,
    Double,
    String,
    Duration,
    Url,
    List(Box<Ty<'s>>),
    Map(Box<Ty<'s>>, Box<Ty<'s>>),
    /// An object with declared properties (a CEL "object" type built from the schema).
    Object(&'s Schema),
    /// A schema type this evaluator has no runtime representation for (e.g. `format:
    /// date-time` strings, which Kubernetes exposes as timestamps). Any use is an error.
    Unsupported(&'static str),
}

impl Ty<'_> {
    fn name(&self) -> String {
        match self {
            Ty::Dyn => "dyn".into(),
            Ty::Null => "null_type".into(),
            Ty::Bool => "bool".into(),
            Ty::Int => "int".into(),
            Ty::Uint => "uint".into(),
            Ty::Double => "double".into(),
            Ty::String => "string".into(),
            Ty::Duration => "google.protobuf.Duration".into(),
            Ty::Url => "kubernetes.URL".into(),
            Ty::List(e) => format!("list({})", e.name()),
            Ty::Map(k, v) => format!("map({}, {})", k.name(), v.name()),
            Ty::Object(_) => "object".into(),
            Ty::Unsupported(what) => format!("{what} (unsupported)"),
        }
    }

    fn is_dyn(&self) -> bool {
        matches!(self, Ty::Dyn)
    }

    fn is_numeric(&self) -> bool {
        matches!(self, Ty::Int | Ty::Uint | Ty::Double)
    }
}

/// The CEL type Kubernetes gives a value described by `s`.
pub(crate) fn schema_type(s: &Schema) -> Ty<'_> {
    if s.int_or_string {
        return Ty::Dyn;
    }
    match s.ty {
        None => Ty::Dyn,
        Some(JsonType::Boolean) => Ty::Bool,
        Some(JsonType::Integer) => Ty::Int,
        Some(JsonType::Number) => Ty::Double,
        Some(JsonType::String) => match s.format {
            Some(Format::DateTime) => Ty::Unsupported("timestamp (format: date-time)"),
            Some(Format::Byte) => Ty::Unsupported("bytes (format: byte)"),
            _ => Ty::String,
        },
        Some(JsonType::Array) => Ty::List(Box::new(s.items.as_deref().map_or(Ty::Dyn, schema_type))),
        Some(JsonType::Object) => {
            if !s.properties.is_empty() {
                Ty::Object(s)
            } else if let Some(Additional::Schema(a)) = &s.additional {
                Ty::Map(Box::new(Ty::String), Box::new(schema_type(a)))
            } else if s.preserve_unknown || matches!(s.additional, Some(Additional::Allowed(true))) {
                Ty::Dyn
            } else {
                Ty::Object(s)
            }
        }
    }
}

/// Type-checking environment: variables in scope, innermost last.
pub(crate) struct Env<'s> {
    vars: Vec<(String, Ty<'s>)>,
}

impl<'s> Env<'s> {
    /// An environment with `self` (and `oldSelf`, for transition rules) of type `self_ty`.
    pub(crate) fn new(self_ty: Ty<'s>) -> Env<'s> {
        Env { vars: vec![("self".into(), self_ty.clone()), ("oldSelf".into(), self_ty)] }
    }
}

/// Combines the types of two branches that must agree (`?:`, list and map literals).
fn unify<'s>(a: &Ty<'s>, b: &Ty<'s>) -> Option<Ty<'s>> {
    Some(match (a, b) {
        (Ty::Dyn, t) | (t, Ty::Dyn) => t.clone(),
        (Ty::Bool, Ty::Bool) => Ty::Bool,
        (Ty::Int, Ty::Int) => Ty::Int,
        (Ty::Uint, Ty::Uint) => Ty::Uint,
        (Ty::Double, Ty::Double) => Ty::Double,
        (Ty::String, Ty::String) => Ty::String,
        (Ty::Duration, Ty::Duration) => Ty::Duration,
        (Ty::Url, Ty::Url) => Ty::Url,
        (Ty::Null, Ty::Null) => Ty::Null,
        // null is assignable to object, map and list types
        (Ty::Null, t @ (Ty::Object(_) | Ty::Map(..) | Ty::List(_)))
        | (t @ (Ty::Object(_) | Ty::Map(..) | Ty::List(_)), Ty::Null) => t.clone(),
        (Ty::List(x), Ty::List(y)) => Ty::List(Box::new(unify(x, y)?)),
        (Ty::Map(k1, v1), Ty::Map(k2, v2)) => Ty::Map(Box::new(unify(k1, k2)?), Box::new(unify(v1, v2)?)),
        (Ty::Object(x), Ty::Object(y)) if std::ptr::eq(*x, *y) => Ty::Object(x),
        _ => return None,
    })
}

/// Whether values of these types may be compared with `==` (CEL requires the same type, with
/// `dyn` and numeric types mixing freely under Kubernetes' heterogeneous equality).
fn comparable(a: &Ty<'_>, b: &Ty<'_>) -> bool {
    (a.is_numeric() && b.is_numeric()) || unify(a, b).is_some()
}

fn expect_kind(t: &Ty<'_>, ok: fn(&Ty<'_>) -> bool, what: &str, ctx: &str) -> Result<(), String> {
    if t.is_dyn() || ok(t) { Ok(()) } else { Err(format!("{ctx}: expected {what}, found {}", t.name())) }
}

/// Type-checks `e`, returning its type.
pub(crate) fn check<'s>(e: &Expr, env: &mut Env<'s>) -> Result<Ty<'s>, String> {
    let ty = match e {
        Expr::Lit(l) => match l {
            Lit::Null => Ty::Null,
            Lit::Bool(_) => Ty::Bool,
            Lit::Int(_) => Ty::Int,
            Lit::Uint(_) => Ty::Uint,
            Lit::Double(_) => Ty::Double,
            Lit::Str(_) => Ty::String,
        },
        Expr::Ident(name) => env
            .vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.clone())
            .ok_or_else(|| format!("undeclared reference to {name:?}"))?,
        Expr::Select { operand, field } => {
            let t = check(operand, env)?;
            select_type(&t, field)?
        }
        Expr::Has { operand, field } => {
            let t = check(operand, env)?;
            // has() on a declared object needs a declared field; the field's own type does not
            // matter, so has() on e.g. a timestamp field is fine.
            match &t {
                Ty::Object(s) if !s.properties.contains_key(field) => {
                    return Err(format!("undefined field {field:?}"));
                }
                Ty::Object(_) | Ty::Map(..) | Ty::Dyn => {}
                other => return Err(format!("has() on {}: not a map or object", other.name())),
            }
            Ty::Bool
        }
        Expr::Index { operand, index } => {
            let t = check(operand, env)?;
            let i = check(index, env)?;
            match t {
                Ty::List(elem) => {
                    expect_kind(&i, |t| matches!(t, Ty::Int | Ty::Uint), "int", "list index")?;
                    *elem
                }
                Ty::Map(k, v) => {
                    if !comparable(&k, &i) {
                        return Err(format!("map key type {} vs index {}", k.name(), i.name()));
                    }
                    *v
                }
                Ty::Dyn => Ty::Dyn,
                other => return Err(format!("cannot index {}", other.name())),
            }
        }
        Expr::Call { func, target, args } => {
            let target = match target {
                Some(t) => Some(check(t, env)?),
                None => None,
            };
            let args = args.iter().map(|a| check(a, env)).collect::<Result<Vec<_>, _>>()?;
            call_type(*func, target.as_ref(), &args)?
        }
        Expr::Matches { target, pattern, .. } => {
            let t = check(target, env)?;
            let p = check(pattern, env)?;
            expect_kind(&t, |t| matches!(t, Ty::String), "string", "matches()")?;
            expect_kind(&p, |t| matches!(t, Ty::String), "string", "matches() pattern")?;
            Ty::Bool
        }
        Expr::Unary { op, operand } => {
            let t = check(operand, env)?;
            match op {
                UnOp::Not => {
                    expect_kind(&t, |t| matches!(t, Ty::Bool), "bool", "operator !")?;
                    Ty::Bool
                }
                UnOp::Neg => {
                    expect_kind(
                        &t,
                        |t| matches!(t, Ty::Int | Ty::Double | Ty::Duration),
                        "int, double or duration",
                        "unary -",
                    )?;
                    t
                }
            }
        }
        Expr::And(a, b) | Expr::Or(a, b) => {
            for side in [a, b] {
                let t = check(side, env)?;
                expect_kind(&t, |t| matches!(t, Ty::Bool), "bool", "operator && / ||")?;
            }
            Ty::Bool
        }
        Expr::Cond { cond, then, otherwise } => {
            let c = check(cond, env)?;
            expect_kind(&c, |t| matches!(t, Ty::Bool), "bool", "condition of ?:")?;
            let a = check(then, env)?;
            let b = check(otherwise, env)?;
            unify(&a, &b).ok_or_else(|| format!("branches of ?: have different types {} and {}", a.name(), b.name()))?
        }
        Expr::Binary { op, lhs, rhs } => {
            let a = check(lhs, env)?;
            let b = check(rhs, env)?;
            binary_type(*op, &a, &b)?
        }
        Expr::List(items) => {
            let mut elem = Ty::Dyn;
            for item in items {
                let t = check(item, env)?;
                // Mixed-type list literals become list(dyn), as in cel-go.
                elem = unify(&elem, &t).unwrap_or(Ty::Dyn);
            }
            Ty::List(Box::new(elem))
        }
        Expr::Map(entries) => {
            let (mut kt, mut vt) = (Ty::Dyn, Ty::Dyn);
            for (k, v) in entries {
                let k = check(k, env)?;
                expect_kind(
                    &k,
                    |t| matches!(t, Ty::String | Ty::Int | Ty::Uint | Ty::Bool),
                    "string, int, uint or bool",
                    "map key",
                )?;
                let v = check(v, env)?;
                kt = unify(&kt, &k).unwrap_or(Ty::Dyn);
                vt = unify(&vt, &v).unwrap_or(Ty::Dyn);
            }
            Ty::Map(Box::new(kt), Box::new(vt))
        }
        Expr::Quant { range, var, body, .. } => {
            let r = check(range, env)?;
            let var_ty = match r {
                Ty::List(elem) => *elem,
                Ty::Map(k, _) => *k,
                Ty::Dyn => Ty::Dyn,
                other => return Err(format!("cannot iterate over {}", other.name())),
            };
            env.vars.push((var.clone(), var_ty));
            let b = check(body, env);
            env.vars.pop();
            expect_kind(&b?, |t| matches!(t, Ty::Bool), "bool", "macro predicate")?;
            Ty::Bool
        }
    };
    if let Ty::Unsupported(what) = ty {
        return Err(format!("values of type {what} are not supported by this evaluator"));
    }
    Ok(ty)
}

fn select_type<'s>(t: &Ty<'s>, field: &str) -> Result<Ty<'s>, String> {
    match t {
        Ty::Object(s) => s.properties.get(field).map(schema_type).ok_or_else(|| format!("undefined field {field:?}")),
        Ty::Map(k, v) => {
            expect_kind(k, |t| matches!(t, Ty::String), "string keys", "field selection")?;
            Ok((**v).clone())
        }
        Ty::Dyn => Ok(Ty::Dyn),
        other => Err(format!("cannot select field {field:?} of {}", other.name())),
    }
}

fn call_type<'s>(func: Func, target: Option<&Ty<'s>>, args: &[Ty<'s>]) -> Result<Ty<'s>, String> {
    let sig = |ok: bool| -> Result<(), String> {
        if ok {
            Ok(())
        } else {
            let recv = target.map(|t| format!("{}.", t.name())).unwrap_or_default();
            let args: Vec<String> = args.iter().map(Ty::name).collect();
            Err(format!("found no matching overload for {recv}{}({})", func.name(), args.join(", ")))
        }
    };
    let is = |t: &Ty<'_>, want: fn(&Ty<'_>) -> bool| t.is_dyn() || want(t);
    let string = |t: &Ty<'_>| matches!(t, Ty::String);
    let int = |t: &Ty<'_>| matches!(t, Ty::Int);
    match func {
        Func::Size => {
            let x = match (target, args) {
                (Some(t), []) | (None, [t]) => t,
                _ => return sig(false).map(|_| Ty::Int),
            };
            sig(is(x, |t| matches!(t, Ty::String | Ty::List(_) | Ty::Map(..))))?;
            Ok(Ty::Int)
        }
        Func::Contains | Func::StartsWith | Func::EndsWith => {
            sig(matches!((target, args), (Some(t), [a]) if is(t, string) && is(a, string)))?;
            Ok(Ty::Bool)
        }
        Func::Substring => {
            sig(match (target, args) {
                (Some(t), [a]) => is(t, string) && is(a, int),
                (Some(t), [a, b]) => is(t, string) && is(a, int) && is(b, int),
                _ => false,
            })?;
            Ok(Ty::String)
        }
        Func::Int => {
            sig(
                matches!((target, args), (None, [a]) if is(a, |t| matches!(t, Ty::Int | Ty::Uint | Ty::Double | Ty::String | Ty::Duration))),
            )?;
            Ok(Ty::Int)
        }
        Func::Duration => {
            sig(matches!((target, args), (None, [a]) if is(a, string)))?;
            Ok(Ty::Duration)
        }
        Func::Url => {
            sig(matches!((target, args), (None, [a]) if is(a, string)))?;
            Ok(Ty::Url)
        }
        Func::IsUrl => {
            sig(matches!((target, args), (None, [a]) if is(a, string)))?;
            Ok(Ty::Bool)
        }
        Func::GetScheme | Func::GetHost | Func::GetHostname | Func::GetPort => {
            sig(matches!((target, args), (Some(t), []) if is(t, |t| matches!(t, Ty::Url))))?;
            Ok(Ty::String)
        }
    }
}

fn binary_type<'s>(op: BinOp, a: &Ty<'s>, b: &Ty<'s>) -> Result<Ty<'s>, String> {
    let fail = || Err(format!("found no matching overload for {} {} {}", a.name(), op.symbol(), b.name()));
    match op {
        BinOp::Eq | BinOp::Ne => {
            if comparable(a, b) {
                Ok(Ty::Bool)
            } else {
                fail()
            }
        }
        BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
            let ordered = |t: &Ty<'_>| {
                matches!(t, Ty::Int | Ty::Uint | Ty::Double | Ty::String | Ty::Bool | Ty::Duration | Ty::Dyn)
            };
            let same_kind = a.is_dyn()
                || b.is_dyn()
                || (a.is_numeric() && b.is_numeric())
                || std::mem::discriminant(a) == std::mem::discriminant(b);
            if ordered(a) && ordered(b) && same_kind { Ok(Ty::Bool) } else { fail() }
        }
        BinOp::In => match b {
            Ty::List(elem) if comparable(a, elem) => Ok(Ty::Bool),
            Ty::Map(k, _) if comparable(a, k) => Ok(Ty::Bool),
            Ty::Dyn => Ok(Ty::Bool),
            _ => fail(),
        },
        BinOp::Add => match (a, b) {
            (Ty::Dyn, t) | (t, Ty::Dyn) => Ok(if t.is_dyn() { Ty::Dyn } else { t.clone() }),
            (Ty::Int, Ty::Int) => Ok(Ty::Int),
            (Ty::Uint, Ty::Uint) => Ok(Ty::Uint),
            (Ty::Double, Ty::Double) => Ok(Ty::Double),
            (Ty::String, Ty::String) => Ok(Ty::String),
            (Ty::Duration, Ty::Duration) => Ok(Ty::Duration),
            (Ty::List(x), Ty::List(y)) => Ok(Ty::List(Box::new(unify(x, y).unwrap_or(Ty::Dyn)))),
            _ => fail(),
        },
        BinOp::Sub => match (a, b) {
            (Ty::Dyn, t) | (t, Ty::Dyn) => Ok(if t.is_dyn() { Ty::Dyn } else { t.clone() }),
            (Ty::Int, Ty::Int) => Ok(Ty::Int),
            (Ty::Uint, Ty::Uint) => Ok(Ty::Uint),
            (Ty::Double, Ty::Double) => Ok(Ty::Double),
            (Ty::Duration, Ty::Duration) => Ok(Ty::Duration),
            _ => fail(),
        },
        BinOp::Mul | BinOp::Div | BinOp::Rem => match (a, b) {
            (Ty::Dyn, t) | (t, Ty::Dyn) => Ok(if t.is_dyn() { Ty::Dyn } else { t.clone() }),
            (Ty::Int, Ty::Int) => Ok(Ty::Int),
            (Ty::Uint, Ty::Uint) => Ok(Ty::Uint),
            (Ty::Double, Ty::Double) if op != BinOp::Rem => Ok(Ty::Double),
            _ => fail(),
        },
    }
}
