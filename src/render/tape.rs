//! A template context laid out flat: the values of a serialised [`super::api`] context in one
//! array, in the order serde visits them, with its strings in one buffer.
//!
//! Rendering used to build a [`serde_json::Value`] per object and walk it: every mapping an
//! ordered hash map whose keys were hashed, every key and string its own allocation, for
//! hundreds of thousands of objects. The compiled templates only walk a context front to
//! back and look a few keys up, which a flat array answers as well (a collection records
//! where it ends, so a lookup steps over siblings without visiting their children). A
//! [`Tape`] holds exactly what [`serde_json::to_value`] would (the same numbers, `null` for
//! what JSON cannot hold, keys in the same order), so Tera, which needs a `Value`, gets
//! [`Tape::to_value`] and writes the same bytes (the tests render every fixture both ways).

use serde::Serialize;
use serde::ser;
use serde_json::{Map, Number, Value};

// Why a value cannot be serialised (a key that is not a string or a number) is the YAML
// writer's error: it refuses the same values.
use crate::yaml::write::{Error, Node, Shape};

/// One value of a tape.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Null,
    Bool(bool),
    Number(Number),
    /// A string: its range in [`Tape::text`].
    Str(u32, u32),
    /// A sequence of `len` items, which follow it; `end` is the position after its last
    /// descendant.
    Seq {
        len: u32,
        end: u32,
    },
    /// A mapping of `len` entries (a key, then its value), which follow it; `end` as for a
    /// sequence.
    Map {
        len: u32,
        end: u32,
    },
}

/// A serialised value, flat (see the module's documentation). The default is `null`, the
/// context of an object decided for its identity alone.
#[derive(Debug, Clone, PartialEq)]
pub struct Tape {
    toks: Vec<Tok>,
    text: String,
}

impl Default for Tape {
    fn default() -> Tape {
        Tape { toks: vec![Tok::Null], text: String::new() }
    }
}

impl Tape {
    /// `value` serialised; `null` should it fail to (a context cannot: string keys, and no
    /// serialiser of its own that fails), which would then fail the render, not pass it.
    pub fn new<T: Serialize + ?Sized>(value: &T) -> Tape {
        let mut tape = Tape { toks: Vec::with_capacity(64), text: String::with_capacity(512) };
        match value.serialize(Writer(&mut tape)) {
            Ok(()) => tape,
            Err(_) => Tape::default(),
        }
    }

    /// The value at the root.
    pub fn root(&self) -> At<'_> {
        At { tape: self, i: 0 }
    }

    /// The same value as JSON (what `serde_json::to_value` makes of what was serialised).
    pub fn to_value(&self) -> Value {
        value(self.root())
    }

    fn str(&self, start: u32, end: u32) -> &str {
        &self.text[start as usize..end as usize]
    }

    fn push_str(&mut self, s: &str) {
        let start = self.text.len() as u32;
        self.text.push_str(s);
        self.toks.push(Tok::Str(start, self.text.len() as u32));
    }

    fn push_number(&mut self, v: Value) {
        self.toks.push(match v {
            Value::Number(n) => Tok::Number(n),
            _ => Tok::Null,
        });
    }
}

fn value<'v>(at: impl Node<'v>) -> Value {
    match at.shape() {
        Shape::Null => Value::Null,
        Shape::Bool(b) => Value::Bool(b),
        Shape::Number(n) => Value::Number(n.clone()),
        Shape::Str(s) => Value::String(s.to_string()),
        Shape::Seq(_) => Value::Array(at.items().map(value).collect()),
        Shape::Map(_) => {
            let mut map = Map::new();
            for (k, v) in at.entries() {
                map.insert(k.to_string(), value(v));
            }
            Value::Object(map)
        }
    }
}

/// A value in a [`Tape`].
#[derive(Debug, Clone, Copy)]
pub struct At<'t> {
    tape: &'t Tape,
    i: u32,
}

impl<'t> At<'t> {
    fn tok(self) -> &'t Tok {
        &self.tape.toks[self.i as usize]
    }

    /// The position after this value and its descendants: its next sibling's.
    fn next(self) -> u32 {
        match *self.tok() {
            Tok::Seq { end, .. } | Tok::Map { end, .. } => end,
            _ => self.i + 1,
        }
    }

    fn at(self, i: u32) -> At<'t> {
        At { tape: self.tape, i }
    }

    /// The children after the collection's own token, each with the position of the next.
    fn children(self, len: u32) -> impl Iterator<Item = At<'t>> {
        let mut i = self.i + 1;
        (0..len).map(move |_| {
            let child = self.at(i);
            i = child.next();
            child
        })
    }
}

impl<'t> Node<'t> for At<'t> {
    fn shape(self) -> Shape<'t> {
        match self.tok() {
            Tok::Null => Shape::Null,
            Tok::Bool(b) => Shape::Bool(*b),
            Tok::Number(n) => Shape::Number(n),
            Tok::Str(s, e) => Shape::Str(self.tape.str(*s, *e)),
            Tok::Seq { len, .. } => Shape::Seq(*len as usize),
            Tok::Map { len, .. } => Shape::Map(*len as usize),
        }
    }

    fn items(self) -> impl Iterator<Item = Self> {
        let len = match *self.tok() {
            Tok::Seq { len, .. } => len,
            _ => 0,
        };
        self.children(len)
    }

    fn entries(self) -> impl Iterator<Item = (&'t str, Self)> {
        let len = match *self.tok() {
            Tok::Map { len, .. } => len * 2,
            _ => 0,
        };
        let mut children = self.children(len);
        std::iter::from_fn(move || {
            let key = match *children.next()?.tok() {
                Tok::Str(s, e) => self.tape.str(s, e),
                // Keys are written as strings only (see `Key`).
                _ => "",
            };
            Some((key, children.next()?))
        })
    }

    /// As [`Node::get`], without the iterators: the compiled templates look a dozen keys up
    /// per object, and this is most of what a lookup costs.
    fn get(self, key: &str) -> Option<Self> {
        let Tok::Map { len, .. } = *self.tok() else { return None };
        let toks = &self.tape.toks;
        let mut i = self.i + 1;
        for _ in 0..len {
            let value = self.at(i + 1);
            if let Tok::Str(s, e) = toks[i as usize]
                && (e - s) as usize == key.len()
                && self.tape.str(s, e) == key
            {
                return Some(value);
            }
            i = value.next();
        }
        None
    }
}

/// What serde_json's value serialiser makes of a primitive: the numbers are its own, so
/// that floats JSON cannot hold become `null` and integers keep their kind, as in a `Value`.
fn json<T>(f: impl FnOnce(serde_json::value::Serializer) -> serde_json::Result<T>) -> Result<T, Error> {
    f(serde_json::value::Serializer).map_err(|e| Error(e.to_string()))
}

/// Serialises into a tape.
struct Writer<'t>(&'t mut Tape);

/// A collection begun.
type Opened<'t> = Result<Open<'t>, Error>;

/// A collection being written: the position of its token and its count so far.
struct Open<'t> {
    tape: &'t mut Tape,
    at: usize,
    len: u32,
    /// A variant's collection is the value of a one-entry mapping (as JSON writes it),
    /// closed after it.
    variant: Option<usize>,
}

impl<'t> Open<'t> {
    fn start(tape: &'t mut Tape, tok: Tok, variant: Option<&'static str>) -> Open<'t> {
        let variant = variant.map(|name| {
            let at = tape.toks.len();
            tape.toks.push(Tok::Map { len: 1, end: 0 });
            tape.push_str(name);
            at
        });
        let at = tape.toks.len();
        tape.toks.push(tok);
        Open { tape, at, len: 0, variant }
    }

    fn item<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        self.len += 1;
        v.serialize(Writer(self.tape))
    }

    /// A mapping's key: a string, or what JSON turns into one (integers, booleans), as
    /// `serde_json::to_value` does.
    fn key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), Error> {
        self.len += 1;
        let at = self.tape.toks.len();
        k.serialize(Writer(self.tape))?;
        let text = match &self.tape.toks[at..] {
            [Tok::Str(..)] => return Ok(()),
            [Tok::Number(n)] if !n.is_f64() => n.to_string(),
            [Tok::Bool(b)] => b.to_string(),
            _ => return Err(Error("a mapping's key must be a string".into())),
        };
        self.tape.toks.truncate(at);
        self.tape.push_str(&text);
        Ok(())
    }

    fn field<T: Serialize + ?Sized>(&mut self, k: &'static str, v: &T) -> Result<(), Error> {
        self.len += 1;
        self.tape.push_str(k);
        v.serialize(Writer(self.tape))
    }

    /// A mapping's value, after its key.
    fn value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        v.serialize(Writer(self.tape))
    }

    fn end(self) -> Result<(), Error> {
        let end = self.tape.toks.len() as u32;
        match &mut self.tape.toks[self.at] {
            Tok::Seq { len, end: e } | Tok::Map { len, end: e } => (*len, *e) = (self.len, end),
            _ => {}
        }
        if let Some(at) = self.variant
            && let Tok::Map { end: e, .. } = &mut self.tape.toks[at]
        {
            *e = end;
        }
        Ok(())
    }
}

macro_rules! numbers {
    ($($f:ident: $t:ty),*) => {
        $(fn $f(self, v: $t) -> Result<(), Error> {
            let v = json(|s| ser::Serializer::$f(s, v))?;
            self.0.push_number(v);
            Ok(())
        })*
    };
}

impl<'t> ser::Serializer for Writer<'t> {
    type Ok = ();
    type Error = Error;
    crate::yaml::write::one_collection!(Open<'t>);

    numbers!(serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64, serialize_i128: i128,
        serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64, serialize_u128: u128,
        serialize_f32: f32, serialize_f64: f64);

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.0.toks.push(Tok::Bool(v));
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.0.push_str(v.encode_utf8(&mut [0; 4]));
        Ok(())
    }

    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.0.push_str(v);
        Ok(())
    }

    /// Formatted straight into the tape's text: what serde's default would allocate a
    /// string for first (the source annotation of every object).
    fn collect_str<T: std::fmt::Display + ?Sized>(self, v: &T) -> Result<(), Error> {
        use std::fmt::Write as _;
        let start = self.0.text.len() as u32;
        write!(self.0.text, "{v}").map_err(|e| Error(e.to_string()))?;
        self.0.toks.push(Tok::Str(start, self.0.text.len() as u32));
        Ok(())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        let mut seq = Open::start(self.0, Tok::Seq { len: 0, end: 0 }, None);
        for b in v {
            seq.item(b)?;
        }
        seq.end()
    }

    fn serialize_unit(self) -> Result<(), Error> {
        self.0.toks.push(Tok::Null);
        Ok(())
    }

    crate::yaml::write::as_json!(());

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        v: &T,
    ) -> Result<(), Error> {
        let mut map = Open::start(self.0, Tok::Map { len: 0, end: 0 }, None);
        map.field(variant, v)?;
        map.end()
    }

    fn serialize_seq(self, _: Option<usize>) -> Opened<'t> {
        Ok(Open::start(self.0, Tok::Seq { len: 0, end: 0 }, None))
    }

    fn serialize_tuple(self, len: usize) -> Opened<'t> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Opened<'t> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(self, _: &'static str, _: u32, variant: &'static str, _: usize) -> Opened<'t> {
        Ok(Open::start(self.0, Tok::Seq { len: 0, end: 0 }, Some(variant)))
    }

    fn serialize_map(self, _: Option<usize>) -> Opened<'t> {
        Ok(Open::start(self.0, Tok::Map { len: 0, end: 0 }, None))
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Opened<'t> {
        self.serialize_map(None)
    }

    fn serialize_struct_variant(self, _: &'static str, _: u32, variant: &'static str, _: usize) -> Opened<'t> {
        Ok(Open::start(self.0, Tok::Map { len: 0, end: 0 }, Some(variant)))
    }
}

crate::yaml::write::forward_collections!(Open: (), Error);

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Outer<'a> {
        #[serde(flatten)]
        inner: Inner,
        name: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        absent: Option<u32>,
        present: Option<u32>,
        ports: BTreeMap<u32, &'a str>,
        bytes: &'a [u8],
        json: Value,
        variants: Vec<Variant>,
    }

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Inner {
        float_value: f64,
        not_a_number: f64,
        negative: i64,
        flag: bool,
    }

    #[derive(Serialize)]
    enum Variant {
        Unit,
        Newtype(u8),
        Tuple(u8, char),
        Struct { a: u8 },
    }

    /// A tape holds what `serde_json::to_value` makes of the same value, in the same order.
    #[test]
    fn holds_what_json_would() {
        let json = serde_json::json!({"z": [1, -2, 2.5, "s", null, {}, []], "a": {"b": {"c": true}}, "e": ""});
        let v = Outer {
            inner: Inner { float_value: 0.1, not_a_number: f64::NAN, negative: -3, flag: true },
            name: "n\n\"x\"",
            absent: None,
            present: None,
            ports: BTreeMap::from([(80, "http"), (8443, "https")]),
            bytes: &[1, 2],
            json: json.clone(),
            variants: vec![Variant::Unit, Variant::Newtype(1), Variant::Tuple(2, 'c'), Variant::Struct { a: 3 }],
        };
        let want = serde_json::to_value(&v).unwrap();
        let tape = Tape::new(&v);
        assert_eq!(tape.to_value(), want);
        assert_eq!(serde_json::to_string(&tape.to_value()).unwrap(), serde_json::to_string(&want).unwrap());
        assert_eq!(Tape::new(&json).to_value(), json);
        // Lookups step over siblings.
        let root = tape.root();
        let a = root.get("json").and_then(|j| j.get("a")).and_then(|a| a.get("b")).and_then(|b| b.get("c"));
        assert!(matches!(a.map(Node::shape), Some(Shape::Bool(true))));
        assert!(matches!(root.get("name").map(Node::shape), Some(Shape::Str("n\n\"x\""))));
        assert!(root.get("absent").is_none());
        assert_eq!(Tape::default().to_value(), Value::Null);
    }

    #[test]
    fn keys_that_are_not_strings_fail_as_json_does() {
        let v = BTreeMap::from([(vec![1], 2)]);
        assert!(serde_json::to_value(&v).is_err());
        assert_eq!(Tape::new(&v), Tape::default());
    }
}
