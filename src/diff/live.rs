//! Live objects held compact: what `diff --cluster` keeps of each object a list page returns,
//! until the comparison reads it.
//!
//! A cluster's objects come as JSON, tens of thousands of them, each with a status, the
//! `managedFields` of every writer and kubectl's last-applied copy of itself (the object
//! again, as a string). Held as `serde_json` trees they were a gigabyte at 77,000 objects,
//! and first touching that memory (the kernel zeroing pages) cost more CPU than reading
//! them (run AD-bench of docs/performance.md). So each item of a page is read as its raw
//! text: [`Item::parse`] finds the identity (kind, namespace, name) without building
//! anything, so that the objects the caller drops cost a scan; [`Item::keep`] copies what
//! is kept into one string per object ([`LiveObject`]), with what a comparison never reads
//! replaced by `null` (see [`Trim`]). The tree is built when the object is compared
//! ([`LiveObject::object`]), one at a time, and freed right after.
//!
//! The text kept is the item's own, pieces copied verbatim, so the tree read from it is the
//! tree `serde_json` reads from the item, trimmed as [`Trim`] says; the tests hold the two
//! equal, key order included (duplicate keys, odd shapes and escapes too: the input is a
//! server's, not meshgen's).

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::{Key, LAST_APPLIED, Object};

/// What of an object a comparison never reads, to replace by `null` as it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trim {
    /// Keep everything (`--server-side` reads `managedFields` and the last-applied copy).
    Nothing,
    /// The status, `managedFields` and kubectl's last-applied annotation: together most of
    /// what the API server sends, and all removed by [`super::Normalizer::normalize`]
    /// anyway. Each stays as a `null`, so that normalising removes the same keys in the
    /// same order (`serde_json`'s `remove` moves the last key into the hole) and leaves the
    /// same document. `deletionTimestamp` and `creationTimestamp` stay (a deletion in
    /// progress, and the age `conflicts` compares).
    ServerState,
}

/// A live object, held as its JSON text until compared.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveObject {
    /// Identity.
    pub key: Key,
    /// `apiVersion`.
    pub api_version: String,
    /// The object's JSON.
    json: Box<str>,
    /// Where its `metadata` is in `json` (the last, if the server sent the key twice).
    metadata: Range<usize>,
}

impl LiveObject {
    /// The object as a tree, to compare. Fails only where `serde_json` refuses what its
    /// scanner let through (a number out of range, nesting deeper than 128).
    pub fn object(&self) -> Result<Object, String> {
        let value = serde_json::from_str(&self.json).map_err(|e| {
            format!(
                "the API server sent {} in a form meshgen cannot read ({e}); look at it with \
                     `kubectl get -o json`, or leave it out of the comparison with `--selector`",
                self.key
            )
        })?;
        Ok(Object { key: self.key.clone(), api_version: self.api_version.clone(), value })
    }

    /// A string of its metadata, by path (`["labels", "app"]`), read from the text: what a
    /// tree would give as `value["metadata"]["labels"]["app"].as_str()`.
    pub fn metadata_str(&self, path: &[&str]) -> Option<Cow<'_, str>> {
        let mut raw = self.json.get(self.metadata.clone())?;
        for field in path {
            raw = last(&Entries::parse(raw)?.0, field)?.get();
        }
        text(raw)
    }

    /// The size of the text held, in bytes.
    pub fn len(&self) -> usize {
        self.json.len()
    }

    /// Whether the text is empty (it never is: an object is at least `{}`).
    pub fn is_empty(&self) -> bool {
        self.json.is_empty()
    }
}

/// An object's keys and their values' text, in order (repeated keys included).
type Fields<'a> = Vec<(Cow<'a, str>, &'a RawValue)>;

/// One item of a list page, read as far as its identity.
pub struct Item<'a> {
    /// The top-level fields; `metadata`'s value is in `metadata`, not here.
    top: Fields<'a>,
    /// Where the last `metadata` is in `top`, and its fields if it is an object. An earlier
    /// one (a key sent twice) is not kept: a reader keeps the last value.
    metadata: Option<(usize, Option<Fields<'a>>)>,
    /// The `apiVersion` and `kind` a list's item may leave out: the list's.
    defaults: [(&'static str, &'a str); 2],
}

impl<'a> Item<'a> {
    /// Reads one item (a list's items are read by [`Page::parse`]); `None` if it is not an
    /// object. See [`Page::parse`] for `api_version` and `kind`.
    pub fn parse(raw: &'a str, api_version: &'a str, kind: &'a str) -> Option<Item<'a>> {
        let fields = serde_json::from_str::<Element<'a>>(raw).ok()?.0?;
        Some(Item::new(fields, api_version, kind))
    }

    fn new(fields: ItemFields<'a>, api_version: &'a str, kind: &'a str) -> Item<'a> {
        Item { top: fields.top, metadata: fields.metadata, defaults: [("apiVersion", api_version), ("kind", kind)] }
    }

    /// A top-level string field, or the list's default for one the item leaves out.
    fn field(&self, name: &str) -> Option<Cow<'a, str>> {
        match last(&self.top, name) {
            Some(raw) => text(raw.get()),
            None => self.defaults.iter().find(|(k, _)| *k == name).map(|(_, v)| Cow::Borrowed(*v)),
        }
    }

    fn metadata_field(&self, name: &str) -> Option<Cow<'a, str>> {
        text(last(self.metadata.as_ref()?.1.as_ref()?, name)?.get())
    }

    /// (kind, namespace, name), each empty where it is missing or not a string.
    pub fn identity(&self) -> (Cow<'a, str>, Cow<'a, str>, Cow<'a, str>) {
        let or_empty = |s: Option<Cow<'a, str>>| s.unwrap_or_default();
        (
            or_empty(self.field("kind")),
            or_empty(self.metadata_field("namespace")),
            or_empty(self.metadata_field("name")),
        )
    }

    /// The object to hold, trimmed; `None` if it is not a Kubernetes object (no `kind`,
    /// `apiVersion` or `metadata.name`), which a comparison could not place. `scratch` is
    /// where the text is put together (reused from item to item, so that each object's
    /// text is allocated once, at its size).
    pub fn keep(&self, trim: Trim, scratch: &mut String) -> Option<LiveObject> {
        let key = Key {
            kind: self.field("kind")?.into_owned(),
            namespace: self.metadata_field("namespace").unwrap_or_default().into_owned(),
            name: self.metadata_field("name")?.into_owned(),
        };
        let api_version = self.field("apiVersion")?.into_owned();
        let json = scratch;
        json.clear();
        json.push('{');
        let mut metadata = 0..0;
        for (i, (k, v)) in self.top.iter().enumerate() {
            separate(json);
            push_key(json, k);
            let start = json.len();
            match (&**k, trim) {
                ("status", Trim::ServerState) => json.push_str("null"),
                ("metadata", _) => match &self.metadata {
                    Some((at, Some(fields))) if *at == i => push_metadata(json, fields, trim),
                    // An earlier `metadata` only holds the place the last one's value takes
                    // (a key sent twice), and the last is an object, or the item has no
                    // name and is not kept.
                    _ => json.push_str("null"),
                },
                _ => json.push_str(v.get()),
            }
            if k == "metadata" {
                metadata = start..json.len();
            }
        }
        // A field the item left out goes last, as `serde_json`'s map entry API inserts it.
        for (name, value) in self.defaults {
            if last(&self.top, name).is_none() {
                separate(json);
                push_key(json, name);
                push_string(json, value);
            }
        }
        json.push('}');
        Some(LiveObject { key, api_version, json: Box::from(json.as_str()), metadata })
    }
}

/// `metadata`'s fields, trimmed: `managedFields` and the last-applied annotation as `null`.
fn push_metadata(json: &mut String, entries: &[(Cow<'_, str>, &RawValue)], trim: Trim) {
    json.push('{');
    for (k, v) in entries {
        separate(json);
        push_key(json, k);
        match (&**k, trim) {
            (_, Trim::Nothing) => json.push_str(v.get()),
            ("managedFields", _) => json.push_str("null"),
            ("annotations", _) => match Entries::parse(v.get()) {
                Some(annotations) => {
                    json.push('{');
                    for (k, v) in &annotations.0 {
                        separate(json);
                        push_key(json, k);
                        json.push_str(if k == LAST_APPLIED { "null" } else { v.get() });
                    }
                    json.push('}');
                }
                None => json.push_str(v.get()),
            },
            _ => json.push_str(v.get()),
        }
    }
    json.push('}');
}

/// A comma, unless the object being written has just been opened.
fn separate(json: &mut String) {
    if !json.ends_with('{') {
        json.push(',');
    }
}

fn push_key(json: &mut String, key: &str) {
    push_string(json, key);
    json.push(':');
}

/// A JSON string: as it is where nothing in it needs escaping (the common case, and every
/// key the parser borrowed), else escaped by `serde_json`.
fn push_string(json: &mut String, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        json.push('"');
        json.push_str(s);
        json.push('"');
    } else {
        json.push_str(&serde_json::Value::from(s).to_string());
    }
}

/// The value of the last entry named `name`: `serde_json` keeps the last of repeated keys.
fn last<'e, 'a>(entries: &'e [(Cow<'a, str>, &'a RawValue)], name: &str) -> Option<&'e &'a RawValue> {
    entries.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// A JSON text's string, unescaped only if it has escapes; `None` for any other type.
fn text(raw: &str) -> Option<Cow<'_, str>> {
    Text::deserialize(&mut serde_json::Deserializer::from_str(raw)).ok().map(|t| t.0)
}

/// A string borrowed from the text where it has no escapes.
struct Text<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(s.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

/// An object's fields, parsed.
struct Entries<'a>(Fields<'a>);

fn read_fields<'de, A: MapAccess<'de>>(mut map: A) -> Result<Fields<'de>, A::Error> {
    let mut fields = Vec::new();
    while let Some(key) = map.next_key::<Text<'de>>()? {
        fields.push((key.0, map.next_value::<&'de RawValue>()?));
    }
    Ok(fields)
}

/// Visitor methods for the JSON values a lenient reader skips: what the tree reader would
/// read as something this module ignores (an item that is not an object, `items` that are
/// not an array) is no error.
macro_rules! skip_scalars {
    ($value:expr) => {
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok($value)
        }
    };
}

/// What [`skip_scalars`] does for containers: reads them through without keeping anything.
fn skip_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

fn skip_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

/// An item's top-level fields, with its last `metadata`'s fields read in the same pass.
struct ItemFields<'a> {
    top: Fields<'a>,
    metadata: Option<(usize, Option<Fields<'a>>)>,
}

/// An item of `items`: its fields if it is an object.
struct Element<'a>(Option<ItemFields<'a>>);

impl<'de> Deserialize<'de> for Element<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Element<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            skip_scalars!(Element(None));
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Element<'de>, A::Error> {
                skip_seq(seq).map(|()| Element(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Element<'de>, A::Error> {
                let (mut top, mut metadata) = (Vec::new(), None);
                while let Some(key) = map.next_key::<Text<'de>>()? {
                    if key.0 == "metadata" {
                        metadata = Some((top.len(), map.next_value::<MaybeFields<'de>>()?.0));
                        top.push((key.0, RawValue::NULL));
                    } else {
                        top.push((key.0, map.next_value::<&'de RawValue>()?));
                    }
                }
                Ok(Element(Some(ItemFields { top, metadata })))
            }
        }
        d.deserialize_any(V)
    }
}

/// An object's fields if the value is one (else skipped).
struct MaybeFields<'a>(Option<Fields<'a>>);

impl<'de> Deserialize<'de> for MaybeFields<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MaybeFields<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            skip_scalars!(MaybeFields(None));
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<MaybeFields<'de>, A::Error> {
                skip_seq(seq).map(|()| MaybeFields(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<MaybeFields<'de>, A::Error> {
                read_fields(map).map(|f| MaybeFields(Some(f)))
            }
        }
        d.deserialize_any(V)
    }
}

/// The items of a list if `items` is an array (else none), each that is an object.
struct Items<'a>(Vec<ItemFields<'a>>);

impl<'de> Deserialize<'de> for Items<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Items<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            skip_scalars!(Items(Vec::new()));
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Items<'de>, A::Error> {
                skip_map(map).map(|()| Items(Vec::new()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Items<'de>, A::Error> {
                let mut items = Vec::new();
                while let Some(Element(item)) = seq.next_element()? {
                    items.extend(item);
                }
                Ok(Items(items))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'a> Entries<'a> {
    /// `None` if the text is not an object.
    fn parse(raw: &'a str) -> Option<Entries<'a>> {
        serde_json::from_str(raw).ok()
    }
}

impl<'de> Deserialize<'de> for Entries<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Entries<'de>, A::Error> {
                read_fields(map).map(Entries)
            }
        }
        d.deserialize_map(V)
    }
}

/// One page of a list: its items, read as far as their identities, and the token of the
/// next page.
#[derive(Default)]
pub struct Page<'a> {
    /// The items that are objects (none if `items` is missing or not an array, as a tree
    /// reader would find; an item that is not an object is no Kubernetes object either).
    pub items: Vec<Item<'a>>,
    /// `metadata.continue`, when it is a non-empty string.
    pub next: Option<String>,
}

impl<'a> Page<'a> {
    /// Reads a list's JSON, in one pass over the items' text: the list is of
    /// `api_version`'s `kind`, which fill in an `apiVersion` or `kind` an item leaves out
    /// (items of a list may: its request says them). Fails only if it is not JSON; a body
    /// of another shape is an empty last page.
    pub fn parse(body: &'a str, api_version: &'a str, kind: &'a str) -> Result<Page<'a>, serde_json::Error> {
        let list = match serde_json::from_str::<List<'a>>(body) {
            Ok(list) => list,
            // An object this reader refuses is not JSON; any other JSON is no list.
            Err(e) if body.trim_start().starts_with('{') => return Err(e),
            Err(_) => {
                serde_json::from_str::<IgnoredAny>(body)?;
                return Ok(Page::default());
            }
        };
        let next = list
            .metadata
            .and_then(|raw| Entries::parse(raw.get()))
            .and_then(|md| text(last(&md.0, "continue")?.get()))
            .filter(|t| !t.is_empty())
            .map(Cow::into_owned);
        let items = list.items.into_iter().map(|fields| Item::new(fields, api_version, kind)).collect();
        Ok(Page { items, next })
    }
}

/// A list's body, the last `items` and `metadata` kept (a reader keeps the last value of a
/// key sent twice).
struct List<'a> {
    items: Vec<ItemFields<'a>>,
    metadata: Option<&'a RawValue>,
}

impl<'de> Deserialize<'de> for List<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = List<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<List<'de>, A::Error> {
                let mut list = List { items: Vec::new(), metadata: None };
                while let Some(key) = map.next_key::<Text<'de>>()? {
                    match &*key.0 {
                        "items" => list.items = map.next_value::<Items<'de>>()?.0,
                        "metadata" => list.metadata = Some(map.next_value()?),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(list)
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests;
