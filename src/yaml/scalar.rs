//! What a plain (unquoted) scalar means: null, a boolean, an integer, a float or a string, by
//! YAML 1.2's core schema. Both readers use this one function, so they cannot disagree on a
//! scalar.

use std::borrow::Cow;

use serde_json::{Number, Value};

/// A plain scalar that YAML reads as a number JSON cannot hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Unfit {
    /// An integer beyond 64 bits.
    TooBig,
    /// `.inf`, `-.inf` or `.nan` (in any of their spellings).
    NotFinite,
}

/// What a scalar means, before it is a [`Value`]: the fast reader hands it to serde as it is,
/// and its strings borrow the text.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Scalar<'a> {
    Null,
    Bool(bool),
    /// Any integer that is not negative (as [`Number`] holds it, `-0` included).
    Unsigned(u64),
    Negative(i64),
    /// Always finite.
    Float(f64),
    Str(Cow<'a, str>),
}

impl From<Scalar<'_>> for Value {
    fn from(s: Scalar<'_>) -> Value {
        match s {
            Scalar::Null => Value::Null,
            Scalar::Bool(b) => Value::Bool(b),
            Scalar::Unsigned(n) => Value::Number(Number::from(n)),
            Scalar::Negative(n) => Value::Number(Number::from(n)),
            Scalar::Float(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
            Scalar::Str(s) => Value::String(s.into_owned()),
        }
    }
}

/// The value of a plain scalar.
pub(super) fn resolve(v: &str) -> Result<Value, Unfit> {
    resolve_scalar(v).map(Value::from)
}

/// The meaning of a plain scalar; its string borrows `v`.
pub(super) fn resolve_scalar(v: &str) -> Result<Scalar<'_>, Unfit> {
    let Some(&first) = v.as_bytes().first() else { return Ok(Scalar::Null) };
    // Most scalars are words: only the null and boolean keywords resolve to something else
    // (letters never start an integer, and `inf`/`nan` without a dot stay strings).
    if first.is_ascii_alphabetic() {
        return Ok(match v {
            "null" | "Null" | "NULL" => Scalar::Null,
            "true" | "True" | "TRUE" => Scalar::Bool(true),
            "false" | "False" | "FALSE" => Scalar::Bool(false),
            _ => Scalar::Str(Cow::Borrowed(v)),
        });
    }
    if v == "~" {
        return Ok(Scalar::Null);
    }
    // Addresses and versions (`10.0.1.11`, `1.2.3`), a good part of an inventory: no number
    // has two dots, so they need not try every kind of number.
    if v.bytes().filter(|&b| b == b'.').nth(1).is_some() {
        return Ok(Scalar::Str(Cow::Borrowed(v)));
    }
    if let Some(n) = unsigned(v, u64::from_str_radix) {
        return Ok(Scalar::Unsigned(n));
    }
    if let Some(n) = negative(v, i64::from_str_radix) {
        // `-0` is zero, which `Number` holds as unsigned.
        return Ok(u64::try_from(n).map_or(Scalar::Negative(n), Scalar::Unsigned));
    }
    if big_integer(v) {
        return Err(Unfit::TooBig);
    }
    if !leading_zero_digits(v)
        && let Some(f) = float(v)
    {
        return if f.is_finite() { Ok(Scalar::Float(f)) } else { Err(Unfit::NotFinite) };
    }
    Ok(Scalar::Str(Cow::Borrowed(v)))
}

/// Parses integer digits in a radix (`u64::from_str_radix` and the like).
type Radix<T> = fn(&str, u32) -> Result<T, std::num::ParseIntError>;

/// An unsigned integer: decimal, `0x`, `0o` or `0b`, with an optional `+`.
fn unsigned<T>(v: &str, parse: Radix<T>) -> Option<T> {
    let digits = v.strip_prefix('+').unwrap_or(v);
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(rest) = digits.strip_prefix(prefix) {
            if rest.starts_with(['+', '-']) {
                return None;
            }
            if let Ok(n) = parse(rest, radix) {
                return Some(n);
            }
        }
    }
    if digits.starts_with(['+', '-']) || leading_zero_digits(v) {
        return None;
    }
    parse(digits, 10).ok()
}

/// A negative integer: `-` then decimal, `0x`, `0o` or `0b` digits.
fn negative<T>(v: &str, parse: Radix<T>) -> Option<T> {
    for (prefix, radix) in [("-0x", 16), ("-0o", 8), ("-0b", 2)] {
        if let Some(rest) = v.strip_prefix(prefix)
            && let Ok(n) = parse(&format!("-{rest}"), radix)
        {
            return Some(n);
        }
    }
    if leading_zero_digits(v) {
        return None;
    }
    parse(v, 10).ok()
}

/// Digits with a leading zero (`007`, `-01`): a string in YAML 1.2, not a number.
fn leading_zero_digits(v: &str) -> bool {
    let v = v.strip_prefix(['-', '+']).unwrap_or(v);
    v.len() > 1 && v.starts_with('0') && v[1..].bytes().all(|b| b.is_ascii_digit())
}

/// Integer digits (decimal, or `0x`/`0o`/`0b`), whatever their size: called once 64 bits
/// have not held them.
fn big_integer(v: &str) -> bool {
    let v = v.strip_prefix(['-', '+']).unwrap_or(v);
    let (digits, radix) = match v.get(..2) {
        Some("0x") => (&v[2..], 16),
        Some("0o") => (&v[2..], 8),
        Some("0b") => (&v[2..], 2),
        _ => (v, 10),
    };
    !digits.is_empty() && digits.chars().all(|c| c.is_digit(radix)) && !leading_zero_digits(v)
}

/// A float: finite, or `.inf`, `-.inf`, `.nan` in their three spellings.
fn float(v: &str) -> Option<f64> {
    let unsigned = match v.strip_prefix('+') {
        Some(rest) if rest.starts_with(['+', '-']) => return None,
        Some(rest) => rest,
        None => v,
    };
    match unsigned {
        ".inf" | ".Inf" | ".INF" => return Some(f64::INFINITY),
        _ => {}
    }
    match v {
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    // Rust also reads `inf`, `nan` and `infinity`, and `1e999` as infinity: strings, as
    // they were before.
    unsigned.parse::<f64>().ok().filter(|f| f.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_json_cannot_hold_are_named() {
        assert_eq!(resolve("18446744073709551616"), Err(Unfit::TooBig));
        assert_eq!(resolve("-0x8000000000000001"), Err(Unfit::TooBig));
        assert_eq!(resolve(&"9".repeat(60)), Err(Unfit::TooBig));
        assert_eq!(resolve(".inf"), Err(Unfit::NotFinite));
        assert_eq!(resolve("-.Inf"), Err(Unfit::NotFinite));
        assert_eq!(resolve(".NaN"), Err(Unfit::NotFinite));
        assert_eq!(resolve("1e999"), Ok(Value::from("1e999")));
        assert_eq!(resolve("+nan"), Ok(Value::from("+nan")));
        assert_eq!(resolve("18446744073709551615"), Ok(Value::from(u64::MAX)));
        assert_eq!(resolve("-9223372036854775808"), Ok(Value::from(i64::MIN)));
        assert_eq!(resolve("inf"), Ok(Value::from("inf")));
        assert_eq!(resolve("0099"), Ok(Value::from("0099")));
        assert_eq!(resolve("1.5"), Ok(Value::from(1.5)));
    }
}
