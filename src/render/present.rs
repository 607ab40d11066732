//! Whether one of Istio's nested messages, as the model holds it, says anything: what a
//! template's `{% if v %}` and Istio both read as absent is left out of the context.
//!
//! The policy fields of a context (connection pool, outlier detection, retries, a route's
//! rewrite...) are the model's own typed values, written as they serialise. A value that
//! would serialise to null, an empty list or an empty mapping (`connectionPool: {}`, every
//! field unset) means nothing to Istio, and a template tests a field's presence, so such a
//! value is no field at all. [`present`] decides that by serialising into a probe that stops
//! at the first thing written, without building the value as JSON: building a JSON tree for
//! every policy field of every rule was 4% of a build.

use std::borrow::Cow;

use serde::Serialize;
use serde::ser;

use super::api::Passed;

/// `v` where it says something (it serialises to anything but null, an empty list or an
/// empty mapping, as its JSON would), else `None`.
pub(super) fn present<T: Serialize>(v: Option<T>) -> Option<T> {
    v.filter(says_something)
}

/// [`present`] of a value the model holds, lent to the context.
pub(super) fn borrowed<T: Serialize + Clone>(v: Option<&T>) -> Option<Passed<'_, T>> {
    present(v.map(Cow::Borrowed))
}

/// Whether `v` serialises to something other than null, an empty list or an empty mapping.
/// A custom error says nothing, as its JSON was then null; a collection's first entry says
/// something, whatever it holds and whatever its key (JSON would refuse a map keyed by
/// structures: the model's maps are keyed by strings, and it holds nothing JSON cannot).
fn says_something<T: Serialize + ?Sized>(v: &T) -> bool {
    match v.serialize(Probe) {
        Ok(said) => said,
        Err(Stop::Said) => true,
        Err(Stop::Failed) => false,
    }
}

/// How the probe stops early: at the first entry of a collection (it says something), or at
/// an error (it says nothing).
#[derive(Debug)]
enum Stop {
    Said,
    Failed,
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stop::Said => "said something",
            Stop::Failed => "not a JSON value",
        })
    }
}

impl std::error::Error for Stop {}

impl ser::Error for Stop {
    fn custom<M: std::fmt::Display>(_: M) -> Stop {
        Stop::Failed
    }
}

/// The probe: `Ok(true)` for a scalar, `Ok(false)` for null and for a collection that ends
/// without an entry, `Err(Said)` at a collection's first entry.
struct Probe;

/// A collection being probed: any entry says something; without one, what it holds (an
/// enum variant's collection is `{variant: ...}`, a mapping with an entry, even when empty).
struct Collection(bool);

type Probed = Result<bool, Stop>;

/// A scalar's answer: it says something (a non-finite float is null in JSON).
macro_rules! scalars {
    ($($method:ident($ty:ty)),* $(,)?) => {
        $(fn $method(self, _: $ty) -> Probed {
            Ok(true)
        })*
    };
}

impl ser::Serializer for Probe {
    type Ok = bool;
    type Error = Stop;
    crate::yaml::write::one_collection!(Collection);

    scalars! {
        serialize_bool(bool), serialize_i8(i8), serialize_i16(i16), serialize_i32(i32),
        serialize_i64(i64), serialize_i128(i128), serialize_u8(u8), serialize_u16(u16),
        serialize_u32(u32), serialize_u64(u64), serialize_u128(u128), serialize_char(char),
        serialize_str(&str), serialize_bytes(&[u8]),
    }

    // None, unit structs and unit variants as JSON has them (null, null, a string).
    crate::yaml::write::as_json!(bool);

    fn serialize_f32(self, v: f32) -> Probed {
        Ok(v.is_finite())
    }

    fn serialize_f64(self, v: f64) -> Probed {
        Ok(v.is_finite())
    }

    fn serialize_unit(self) -> Probed {
        Ok(false)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(self, _: &str, _: u32, _: &str, _: &T) -> Probed {
        // `{variant: value}`: a mapping with an entry.
        Ok(true)
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Collection, Stop> {
        Ok(Collection(false))
    }

    fn serialize_tuple(self, _: usize) -> Result<Collection, Stop> {
        Ok(Collection(false))
    }

    fn serialize_tuple_struct(self, _: &str, _: usize) -> Result<Collection, Stop> {
        Ok(Collection(false))
    }

    fn serialize_tuple_variant(self, _: &str, _: u32, _: &str, _: usize) -> Result<Collection, Stop> {
        Ok(Collection(true))
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Collection, Stop> {
        Ok(Collection(false))
    }

    fn serialize_struct(self, _: &str, _: usize) -> Result<Collection, Stop> {
        Ok(Collection(false))
    }

    fn serialize_struct_variant(self, _: &str, _: u32, _: &str, _: usize) -> Result<Collection, Stop> {
        Ok(Collection(true))
    }
}

/// Every kind of collection: its first entry says something; its end, without one, what the
/// collection holds.
macro_rules! collection {
    ($($trait:ident { $($method:ident($($arg:ty),*)),* })*) => {
        $(impl ser::$trait for Collection {
            type Ok = bool;
            type Error = Stop;
            $(fn $method<T: Serialize + ?Sized>(&mut self, $(_: $arg,)* _: &T) -> Result<(), Stop> {
                Err(Stop::Said)
            })*
            fn end(self) -> Probed {
                Ok(self.0)
            }
        })*
    };
}

collection! {
    SerializeSeq { serialize_element() }
    SerializeTuple { serialize_element() }
    SerializeTupleStruct { serialize_field() }
    SerializeTupleVariant { serialize_field() }
    SerializeStruct { serialize_field(&'static str) }
    SerializeStructVariant { serialize_field(&'static str) }
    SerializeMap { serialize_key(), serialize_value() }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Serialize;
    use serde_json::{Value, json};

    use super::*;

    /// What the JSON of a value said, the rule this module replaces.
    fn json_says_something<T: Serialize>(v: &T) -> bool {
        match serde_json::to_value(v).unwrap_or(Value::Null) {
            Value::Null => false,
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => !o.is_empty(),
            _ => true,
        }
    }

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Pool {
        #[serde(skip_serializing_if = "Option::is_none")]
        max_connections: Option<u32>,
        #[serde(skip_serializing_if = "Option::is_none")]
        idle_timeout: Option<String>,
    }

    #[derive(Serialize)]
    struct Unskipped {
        value: Option<u32>,
    }

    #[derive(Serialize)]
    struct Flattened {
        #[serde(flatten)]
        pool: Pool,
    }

    #[derive(Serialize)]
    struct Wrapper(Pool);

    #[derive(Serialize)]
    enum Choice {
        Simple,
        Wrapped(u32),
        Pair(u32, u32),
        Named { a: u32 },
        Empty {},
    }

    /// Each value's answer, with the JSON rule's beside it: they must agree.
    #[test]
    fn the_probe_answers_as_the_json_of_the_value_would() {
        let empty_pool = Pool { max_connections: None, idle_timeout: None };
        let some_pool = Pool { max_connections: Some(10), idle_timeout: None };
        let cases: Vec<(&str, bool, bool)> = vec![
            ("null", says_something(&()), json_says_something(&())),
            ("none", says_something(&None::<u32>), json_says_something(&None::<u32>)),
            ("zero", says_something(&0u32), json_says_something(&0u32)),
            ("empty string", says_something(""), json_says_something(&"")),
            ("false", says_something(&false), json_says_something(&false)),
            ("NaN", says_something(&f64::NAN), json_says_something(&f64::NAN)),
            ("float", says_something(&0.5f64), json_says_something(&0.5f64)),
            ("empty list", says_something(&Vec::<u32>::new()), json_says_something(&Vec::<u32>::new())),
            ("list", says_something(&vec![0u32]), json_says_something(&vec![0u32])),
            ("list of nulls", says_something(&vec![()]), json_says_something(&vec![()])),
            (
                "empty map",
                says_something(&BTreeMap::<String, u32>::new()),
                json_says_something(&BTreeMap::<String, u32>::new()),
            ),
            ("map", says_something(&BTreeMap::from([("a", 1)])), json_says_something(&BTreeMap::from([("a", 1)]))),
            (
                "int-keyed map",
                says_something(&BTreeMap::from([(1, 1)])),
                json_says_something(&BTreeMap::from([(1, 1)])),
            ),
            ("struct, every field skipped", says_something(&empty_pool), json_says_something(&empty_pool)),
            ("struct with a field", says_something(&some_pool), json_says_something(&some_pool)),
            (
                "struct with a null field",
                says_something(&Unskipped { value: None }),
                json_says_something(&Unskipped { value: None }),
            ),
            (
                "flattened, empty",
                says_something(&Flattened { pool: Pool { max_connections: None, idle_timeout: None } }),
                json_says_something(&Flattened { pool: Pool { max_connections: None, idle_timeout: None } }),
            ),
            (
                "flattened",
                says_something(&Flattened { pool: Pool { max_connections: Some(1), idle_timeout: None } }),
                json_says_something(&Flattened { pool: Pool { max_connections: Some(1), idle_timeout: None } }),
            ),
            (
                "newtype of an empty struct",
                says_something(&Wrapper(Pool { max_connections: None, idle_timeout: None })),
                json_says_something(&Wrapper(Pool { max_connections: None, idle_timeout: None })),
            ),
            ("unit variant", says_something(&Choice::Simple), json_says_something(&Choice::Simple)),
            ("newtype variant", says_something(&Choice::Wrapped(0)), json_says_something(&Choice::Wrapped(0))),
            ("tuple variant", says_something(&Choice::Pair(0, 0)), json_says_something(&Choice::Pair(0, 0))),
            ("struct variant", says_something(&Choice::Named { a: 0 }), json_says_something(&Choice::Named { a: 0 })),
            ("empty struct variant", says_something(&Choice::Empty {}), json_says_something(&Choice::Empty {})),
            ("json object", says_something(&json!({})), json_says_something(&json!({}))),
            ("json nested empty", says_something(&json!({"a": {}})), json_says_something(&json!({"a": {}}))),
        ];
        for (what, probe, json) in &cases {
            assert_eq!(probe, json, "{what}: the probe says {probe}, the JSON rule {json}");
        }
        // Both answers occur, so agreement is not a constant.
        assert!(cases.iter().any(|c| c.1) && cases.iter().any(|c| !c.1));
        assert_eq!(present(Some(some_pool)).map(|p| p.max_connections), Some(Some(10)));
        assert!(present(Some(empty_pool)).is_none());
        assert!(present(None::<Pool>).is_none());
    }
}
