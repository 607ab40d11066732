//! The block writer as a serde [`Serializer`](ser::Serializer): a typed value written as
//! [`super::block_into`] writes what `serde_json::to_value` makes of it, without the value.
//!
//! The built-in templates' typed fast path (`render::direct`) writes the parts a template
//! passes through `yaml(indent=N)` with this, straight from the template API's types: no
//! tree, no tape, every scalar escaped by [`super::scalar_into`] as before. What serde
//! visits is what `serde_json::to_value` would hold, in the same order (numbers through
//! serde_json's own serialiser where they are not plain integers, keys as JSON keys), and
//! the lines are the ones [`super::block_into`] writes for that value; the tests of
//! `render::direct` hold the two to the same bytes over every fixture.

use serde::Serialize;
use serde::ser::{self, Impossible};
use serde_json::Number;

use super::{number_into, pad, scalar_into};

/// Why a value could not be written (what `serde_json::to_value` refuses: a key that is not
/// a string, a number or a boolean).
#[derive(Debug)]
pub struct Error(pub(crate) String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: std::fmt::Display>(msg: T) -> Error {
        Error(msg.to_string())
    }
}

/// Writes `v` at the end of `out` as [`super::block_into`] writes `serde_json::to_value(v)`
/// at `indent`; returns whether the value is true for a template's `if` (not null, false,
/// zero, nor an empty string or collection), which a caller writing a template's
/// `{% if v %}` needs. On an error, part of the value may have been written.
pub fn block_of<T: Serialize + ?Sized>(out: &mut String, v: &T, indent: usize) -> Result<bool, Error> {
    v.serialize(Value { out, indent, lead: Lead::Top })
}

/// Where a value stands, which decides what precedes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lead {
    /// After `key:` in a template (`key:{{ v | yaml(indent=N) }}`).
    Top,
    /// The value of a mapping's key.
    Key,
    /// An item of a sequence, after its `- `.
    Dash,
}

impl Lead {
    /// What precedes a value written on the line it starts on (a scalar or an empty
    /// collection).
    fn leaf(self) -> &'static str {
        match self {
            Lead::Top => " ",
            Lead::Key => ": ",
            Lead::Dash => "",
        }
    }
}

/// A value about to be written: `indent` is where the lines of its children go.
struct Value<'o> {
    out: &'o mut String,
    indent: usize,
    lead: Lead,
}

type Written = Result<bool, Error>;

impl<'o> Value<'o> {
    fn str(self, s: &str) -> Written {
        self.out.push_str(self.lead.leaf());
        scalar_into(self.out, s);
        Ok(!s.is_empty())
    }

    fn number(self, n: &Number) -> Written {
        self.out.push_str(self.lead.leaf());
        number_into(self.out, n);
        Ok(n.as_f64().is_some_and(|f| f != 0.0))
    }

    fn null(self) -> Written {
        self.out.push_str(self.lead.leaf());
        self.out.push_str("null");
        Ok(false)
    }

    /// A number as serde_json's value serialiser makes it (a float JSON cannot hold is
    /// `null`), for the kinds of number that are not plain integers.
    fn json(self, f: impl FnOnce(serde_json::value::Serializer) -> serde_json::Result<serde_json::Value>) -> Written {
        match f(serde_json::value::Serializer).map_err(|e| Error(e.to_string()))? {
            serde_json::Value::Number(n) => self.number(&n),
            _ => self.null(),
        }
    }

    fn open(self, seq: bool) -> Open<'o> {
        Open { out: self.out, indent: self.indent, lead: self.lead, count: 0, seq, variant: false }
    }

    /// A variant holding a collection, which JSON writes as a mapping of one entry: the
    /// mapping's line and key are written, and the collection returned is its value.
    fn variant(self, name: &str, seq: bool) -> Open<'o> {
        let mut outer = self.open(false);
        outer.line();
        scalar_into(outer.out, name);
        Open { out: outer.out, indent: outer.indent + 2, lead: Lead::Key, count: 0, seq, variant: true }
    }
}

/// A collection being written.
struct Open<'o> {
    out: &'o mut String,
    /// The indentation of its lines.
    indent: usize,
    lead: Lead,
    /// Children written so far.
    count: usize,
    seq: bool,
    /// The value of a variant's mapping (see [`Value::variant`]), which is true whatever it holds.
    variant: bool,
}

impl Open<'_> {
    /// Starts a child's line: the first child of a value after a key ends the key with `:`
    /// and goes on the next line; an item's first child follows its `- `.
    fn line(&mut self) {
        match (self.count, self.lead) {
            (0, Lead::Dash) => {}
            (0, Lead::Key) => {
                self.out.push_str(":\n");
                pad(self.out, self.indent);
            }
            _ => {
                self.out.push('\n');
                pad(self.out, self.indent);
            }
        }
        self.count += 1;
    }

    fn item<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        self.line();
        self.out.push_str("- ");
        v.serialize(Value { out: self.out, indent: self.indent + 2, lead: Lead::Dash })?;
        Ok(())
    }

    fn key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), Error> {
        self.line();
        k.serialize(Key(self.out))
    }

    fn field<T: Serialize + ?Sized>(&mut self, k: &str, v: &T) -> Result<(), Error> {
        self.line();
        scalar_into(self.out, k);
        self.value(v)
    }

    fn value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        v.serialize(Value { out: self.out, indent: self.indent + 2, lead: Lead::Key })?;
        Ok(())
    }

    fn end(self) -> Written {
        if self.count == 0 {
            self.out.push_str(self.lead.leaf());
            self.out.push_str(if self.seq { "[]" } else { "{}" });
        }
        Ok(self.count > 0 || self.variant)
    }
}

/// Plain integers, written without serde_json's serialiser.
macro_rules! integers {
    ($($f:ident: $t:ty),*) => {
        $(fn $f(self, v: $t) -> Written {
            self.number(&Number::from(v))
        })*
    };
}

/// Other numbers, through serde_json's serialiser (see [`Value::json`]).
macro_rules! json_numbers {
    ($($f:ident: $t:ty),*) => {
        $(fn $f(self, v: $t) -> Written {
            self.json(|s| ser::Serializer::$f(s, v))
        })*
    };
}

/// What JSON makes of the parts of serde's data model it has no place for, as
/// `serde_json::to_value` does: `None` and unit structs are `null`, `Some` and newtype
/// structs their content, a unit variant its name. Shared with `render::tape`.
macro_rules! as_json {
    ($ok:ty) => {
        fn serialize_none(self) -> Result<$ok, Self::Error> {
            serde::Serializer::serialize_unit(self)
        }

        fn serialize_some<T: serde::Serialize + ?Sized>(self, v: &T) -> Result<$ok, Self::Error> {
            v.serialize(self)
        }

        fn serialize_unit_struct(self, _: &'static str) -> Result<$ok, Self::Error> {
            serde::Serializer::serialize_unit(self)
        }

        fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<$ok, Self::Error> {
            serde::Serializer::serialize_str(self, variant)
        }

        fn serialize_newtype_struct<T: serde::Serialize + ?Sized>(
            self,
            _: &'static str,
            v: &T,
        ) -> Result<$ok, Self::Error> {
            v.serialize(self)
        }
    };
}
pub(crate) use as_json;

/// The collections that are not variants: `true` a sequence, `false` a mapping.
macro_rules! openers {
    ($($f:ident($($t:ty),*) => $seq:literal;)*) => {
        $(fn $f(self, $(_: $t),*) -> Result<Open<'o>, Error> {
            Ok(self.open($seq))
        })*
    };
}

/// A serialiser's associated types: one type for every kind of collection. Shared with
/// `render::tape`.
macro_rules! one_collection {
    ($open:ty) => {
        type SerializeSeq = $open;
        type SerializeTuple = $open;
        type SerializeTupleStruct = $open;
        type SerializeTupleVariant = $open;
        type SerializeMap = $open;
        type SerializeStruct = $open;
        type SerializeStructVariant = $open;
    };
}
pub(crate) use one_collection;

impl<'o> ser::Serializer for Value<'o> {
    type Ok = bool;
    type Error = Error;
    one_collection!(Open<'o>);

    integers!(serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64);
    json_numbers!(serialize_i128: i128, serialize_u128: u128, serialize_f32: f32, serialize_f64: f64);

    fn serialize_bool(self, v: bool) -> Written {
        self.out.push_str(self.lead.leaf());
        self.out.push_str(if v { "true" } else { "false" });
        Ok(v)
    }

    fn serialize_char(self, v: char) -> Written {
        self.str(v.encode_utf8(&mut [0; 4]))
    }

    fn serialize_str(self, v: &str) -> Written {
        self.str(v)
    }

    fn serialize_bytes(self, v: &[u8]) -> Written {
        let mut seq = self.open(true);
        for b in v {
            seq.item(b)?;
        }
        seq.end()
    }

    fn serialize_unit(self) -> Written {
        self.null()
    }

    as_json!(bool);

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        v: &T,
    ) -> Written {
        let mut map = self.open(false);
        map.field(variant, v)?;
        map.end()
    }

    openers! {
        serialize_seq(Option<usize>) => true;
        serialize_tuple(usize) => true;
        serialize_tuple_struct(&'static str, usize) => true;
        serialize_map(Option<usize>) => false;
        serialize_struct(&'static str, usize) => false;
    }

    fn serialize_tuple_variant(self, _: &'static str, _: u32, v: &'static str, _: usize) -> Result<Open<'o>, Error> {
        Ok(self.variant(v, true))
    }

    fn serialize_struct_variant(self, _: &'static str, _: u32, v: &'static str, _: usize) -> Result<Open<'o>, Error> {
        Ok(self.variant(v, false))
    }
}

/// serde's traits for the collections of a serialiser whose collection type `$open` has
/// the methods `item` (an element or a tuple's field), `field` (a struct's), `key`, `value`
/// and `end`: each trait's methods forward to them. Shared with `render::tape`.
macro_rules! forward_collections {
    ($open:ident: $ok:ty, $error:ty) => {
        $crate::yaml::write::forward_collections! { @each $open: $ok, $error;
            SerializeSeq: serialize_element() => item;
            SerializeTuple: serialize_element() => item;
            SerializeTupleStruct: serialize_field() => item;
            SerializeTupleVariant: serialize_field() => item;
            SerializeStruct: serialize_field(k: &'static str,) => field;
            SerializeStructVariant: serialize_field(k: &'static str,) => field;
        }

        impl serde::ser::SerializeMap for $open<'_> {
            type Ok = $ok;
            type Error = $error;

            fn serialize_key<T: serde::Serialize + ?Sized>(&mut self, k: &T) -> Result<(), $error> {
                self.key(k)
            }

            fn serialize_value<T: serde::Serialize + ?Sized>(&mut self, v: &T) -> Result<(), $error> {
                self.value(v)
            }

            fn end(self) -> Result<$ok, $error> {
                $open::end(self)
            }
        }
    };
    (@each $open:ident: $ok:ty, $error:ty; $($trait:ident: $method:ident($($key:ident: $k:ty,)?) => $how:ident;)*) => {
        $(impl serde::ser::$trait for $open<'_> {
            type Ok = $ok;
            type Error = $error;

            fn $method<T: serde::Serialize + ?Sized>(&mut self, $($key: $k,)? v: &T) -> Result<(), $error> {
                self.$how($($key,)? v)
            }

            fn end(self) -> Result<$ok, $error> {
                $open::end(self)
            }
        })*
    };
}
pub(crate) use forward_collections;

forward_collections!(Open: bool, Error);

/// Writes a mapping's key as JSON holds it: a string, or an integer or a boolean as its
/// text; anything else is refused, as `serde_json::to_value` refuses it.
struct Key<'o>(&'o mut String);

/// Integer keys, written as their text.
macro_rules! integer_keys {
    ($($f:ident: $t:ty),*) => {
        $(fn $f(self, v: $t) -> Result<(), Error> {
            let mut text = String::new();
            number_into(&mut text, &Number::from(v));
            scalar_into(self.0, &text);
            Ok(())
        })*
    };
}

/// Wide integer keys, written as their text when JSON holds them as integers.
macro_rules! json_keys {
    ($($f:ident: $t:ty),*) => {
        $(fn $f(self, v: $t) -> Result<(), Error> {
            match ser::Serializer::$f(serde_json::value::Serializer, v) {
                Ok(serde_json::Value::Number(n)) if !n.is_f64() => {
                    scalar_into(self.0, &n.to_string());
                    Ok(())
                }
                _ => Err(refused()),
            }
        })*
    };
}

/// Why a key is refused.
fn refused() -> Error {
    Error("a mapping's key must be a string".into())
}

/// Keys JSON cannot hold.
macro_rules! refused_keys {
    ($($f:ident($($t:ty),*)),*) => {
        $(fn $f(self, $(_: $t),*) -> Result<(), Error> {
            Err(refused())
        })*
    };
}

/// Collections as keys, which JSON cannot hold.
macro_rules! refused_collections {
    ($($f:ident($($t:ty),*)),*) => {
        $(fn $f(self, $(_: $t),*) -> Result<Impossible<(), Error>, Error> {
            Err(refused())
        })*
    };
}

impl<'o> ser::Serializer for Key<'o> {
    type Ok = ();
    type Error = Error;
    one_collection!(Impossible<(), Error>);

    integer_keys!(serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64);
    json_keys!(serialize_i128: i128, serialize_u128: u128);
    refused_keys!(
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_bytes(&[u8]),
        serialize_none(),
        serialize_unit(),
        serialize_unit_struct(&'static str)
    );

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        scalar_into(self.0, if v { "true" } else { "false" });
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result<(), Error> {
        scalar_into(self.0, v.encode_utf8(&mut [0; 4]));
        Ok(())
    }

    fn serialize_str(self, v: &str) -> Result<(), Error> {
        scalar_into(self.0, v);
        Ok(())
    }

    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<(), Error> {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, v: &T) -> Result<(), Error> {
        v.serialize(self)
    }

    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), Error> {
        v.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), Error> {
        Err(refused())
    }

    refused_collections! {
        serialize_seq(Option<usize>), serialize_tuple(usize), serialize_tuple_struct(&'static str, usize),
        serialize_tuple_variant(&'static str, u32, &'static str, usize), serialize_map(Option<usize>),
        serialize_struct(&'static str, usize), serialize_struct_variant(&'static str, u32, &'static str, usize)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Serialize;
    use serde_json::{Value as J, json};

    use super::*;

    /// What serde does that a JSON value does not: flattening, skipping, variants.
    #[derive(Serialize)]
    struct Flat<'a> {
        #[serde(flatten)]
        numbers: (f64, f32, u128, i128, i64),
        #[serde(skip_serializing_if = "Option::is_none")]
        absent: Option<u8>,
        variants: (Result<u8, ()>, V, V, V, char, &'a [u8]),
        keys: Keys,
    }

    /// Mappings whose keys JSON writes as text.
    type Keys = (BTreeMap<u32, Option<()>>, BTreeMap<bool, Vec<u8>>, BTreeMap<i128, ()>);

    #[derive(Serialize)]
    enum V {
        T(u8, char),
        S { a: u8 },
        E {},
    }

    fn falsy(v: &J) -> bool {
        match v {
            J::Null => true,
            J::Bool(b) => !b,
            J::Number(n) => n.as_f64() == Some(0.0),
            J::String(s) => s.is_empty(),
            J::Array(a) => a.is_empty(),
            J::Object(o) => o.is_empty(),
        }
    }

    /// The same bytes as the writer of the JSON value, and the same truth as a template's `if`.
    #[test]
    fn writes_what_the_value_writer_writes() {
        let flat = Flat {
            numbers: (f64::NAN, 0.3, 7, -8, -3),
            absent: None,
            variants: (Ok(1), V::T(2, 'c'), V::S { a: 3 }, V::E {}, 'x', &[1, 2]),
            keys: (BTreeMap::from([(80, None)]), BTreeMap::from([(true, vec![])]), BTreeMap::from([(-1, ())])),
        };
        // `flatten` of a tuple is refused by serde; the rest is compared below.
        assert!(serde_json::to_value(&flat).is_err() && block_of(&mut String::new(), &flat, 0).is_err());
        let Flat { numbers, variants, keys, .. } = flat;
        let mut values = vec![serde_json::to_value((&numbers, &variants, &keys)).unwrap()];
        values.extend([
            json!({"z": [1, -2, 2.5, "s", null, {}, [], [[1]]], "a": {"b": {"c": true}}, "e": "", "n\n": "\"x\""}),
            json!([]),
            json!({}),
            json!(""),
            json!(0),
            json!(0.0),
            json!("yes"),
            json!([[{"a": [{}]}]]),
        ]);
        for want in &values {
            for indent in [0, 2, 4] {
                let mut out = String::from("k:");
                let truth = block_of(&mut out, want, indent).unwrap();
                assert_eq!(out, format!("k:{}", super::super::block(want, indent)), "{want}");
                assert_eq!(truth, !falsy(want), "{want}");
            }
        }
        let mut out = String::new();
        block_of(&mut out, &(&numbers, &variants, &keys), 4).unwrap();
        assert_eq!(out, super::super::block(&values[0], 4));
    }

    #[test]
    fn keys_json_cannot_hold_are_refused() {
        let v = BTreeMap::from([(vec![1], 2)]);
        assert!(serde_json::to_value(&v).is_err());
        assert!(block_of(&mut String::new(), &v, 0).is_err());
    }
}
