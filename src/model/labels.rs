//! [`Labels`]: a few `key: value` pairs, kept sorted by key.
//!
//! Every VM, subset and selector carries labels, nearly always two to four of them. A
//! `BTreeMap` allocates a node of eleven slots (about 540 bytes) for even one label, and a
//! vector of string pairs still allocates each key and value on its own, millions of
//! allocations for a large estate's VMs. Here all the keys and values of one set sit end to
//! end in one string, with the boundaries in a second array: two allocations whatever the
//! count, and the pairs stay sorted for binary search.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use smallvec::SmallVec;

/// How many pairs are gathered on the stack while a set is packed; more spill to the heap.
/// Sets are nearly always of two to four labels.
const INLINE: usize = 6;

/// Labels (or a label selector), sorted by key, each key once. Reads and serialises as a
/// mapping; iterates in key order, as the `BTreeMap` it replaces did.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Labels {
    /// Every key and value, end to end, in key order: `appwebversionv1`.
    text: Box<str>,
    /// Where each key and each value ends in `text`: key `i` ends at `ends[2i]`, its value at
    /// `ends[2i + 1]`; each starts where the one before ends.
    ends: Box<[u32]>,
}

impl Labels {
    /// No labels.
    pub fn new() -> Labels {
        Labels::default()
    }

    /// Packs pairs that are already sorted by key and unique.
    fn packed<'a>(pairs: impl ExactSizeIterator<Item = (&'a str, &'a str)> + Clone) -> Labels {
        let len = pairs.clone().map(|(k, v)| k.len() + v.len()).sum();
        let mut text = String::with_capacity(len);
        let mut ends = Vec::with_capacity(pairs.len() * 2);
        for (k, v) in pairs {
            for part in [k, v] {
                text.push_str(part);
                // Inventory files are far below 4 GiB (see `load::Limits`).
                ends.push(u32::try_from(text.len()).expect("labels longer than 4 GiB"));
            }
        }
        Labels { text: text.into_boxed_str(), ends: ends.into_boxed_slice() }
    }

    /// Key or value number `i` (key `n` is `2n`, its value `2n + 1`).
    fn part(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.text[start..self.ends[i] as usize]
    }

    fn find(&self, key: &str) -> Result<usize, usize> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.part(2 * mid).cmp(key) {
                Ordering::Less => lo = mid + 1,
                Ordering::Greater => hi = mid,
                Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.find(key).ok().map(|i| self.part(2 * i + 1))
    }

    /// The pairs, in key order.
    pub fn iter(&self) -> Iter<'_> {
        Iter { labels: self, range: 0..self.len() }
    }

    /// How many labels.
    pub fn len(&self) -> usize {
        self.ends.len() / 2
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Whether every label of `self` is also in `other`, with the same value: whether a
    /// selector made of `self` selects a workload labelled `other`.
    pub fn is_subset_of(&self, other: &Labels) -> bool {
        self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

/// The pairs of [`Labels`], in key order.
#[derive(Clone)]
pub struct Iter<'a> {
    labels: &'a Labels,
    range: std::ops::Range<usize>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        let i = self.range.next()?;
        Some((self.labels.part(2 * i), self.labels.part(2 * i + 1)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.range.size_hint()
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        let i = self.range.next_back()?;
        Some((self.labels.part(2 * i), self.labels.part(2 * i + 1)))
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl PartialOrd for Labels {
    fn partial_cmp(&self, other: &Labels) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Labels {
    /// Pair by pair, as the map (and vector of pairs) it replaces compared.
    fn cmp(&self, other: &Labels) -> Ordering {
        self.iter().cmp(other.iter())
    }
}

impl<K: AsRef<str>, V: AsRef<str>> Extend<(K, V)> for Labels {
    /// Adds the pairs; a key already present takes the new value.
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        let new: Vec<(K, V)> = iter.into_iter().collect();
        if new.is_empty() {
            return;
        }
        // The current pairs, then the new ones; a stable sort keeps each key's pairs in that
        // order, so the last of each run is the one that wins. (A map per set allocated a
        // 400-byte tree node for every VM built.)
        let mut all: Vec<(&str, &str)> = self.iter().chain(new.iter().map(|(k, v)| (k.as_ref(), v.as_ref()))).collect();
        all.sort_by_key(|&(k, _)| k);
        let last_of_each =
            all.iter().enumerate().filter(|&(i, (k, _))| all.get(i + 1).is_none_or(|(next, _)| next != k));
        let pairs: Vec<(&str, &str)> = last_of_each.map(|(_, &pair)| pair).collect();
        *self = Labels::packed(pairs.iter().copied());
    }
}

impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for Labels {
    /// Packs the pairs; of a key given more than once, the last value wins (as `extend`).
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Labels {
        // One vector, sorted and deduplicated in place: every VM's labels are collected from
        // three sources, and `extend`'s three vectors per set were a tenth of building a VM.
        // On the stack for the few pairs of nearly every set (a vector was one of the
        // largest sources of allocations of the model stage).
        let mut pairs: SmallVec<[(K, V); INLINE]> = iter.into_iter().collect();
        // Stable, so each key's pairs stay in the order given; reversed, the last of them
        // comes first, which is the one `dedup_by` keeps.
        pairs.sort_by(|a, b| a.0.as_ref().cmp(b.0.as_ref()));
        pairs.reverse();
        pairs.dedup_by(|later, kept| later.0.as_ref() == kept.0.as_ref());
        pairs.reverse();
        Labels::packed(pairs.iter().map(|(k, v)| (k.as_ref(), v.as_ref())))
    }
}

impl<K: AsRef<str>, V: AsRef<str>, const N: usize> From<[(K, V); N]> for Labels {
    fn from(pairs: [(K, V); N]) -> Labels {
        pairs.into_iter().collect()
    }
}

impl From<BTreeMap<String, String>> for Labels {
    fn from(map: BTreeMap<String, String>) -> Labels {
        // Already sorted and unique.
        Labels::packed(map.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = (&'a str, &'a str);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl std::ops::Index<&str> for Labels {
    type Output = str;

    /// The value of `key`; panics when it is absent, like a map's index.
    fn index(&self, key: &str) -> &str {
        self.get(key).unwrap_or_else(|| panic!("no label `{key}`"))
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Serialize for Labels {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl JsonSchema for Labels {
    fn schema_name() -> Cow<'static, str> {
        "Labels".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        // What a `BTreeMap<String, String>` accepts, which it reads as.
        let mut schema = generator.subschema_for::<BTreeMap<String, String>>();
        schema.insert("examples".into(), serde_json::json!([{ "app": "catalog", "version": "v1" }]));
        schema
    }
}

impl<'de> Deserialize<'de> for Labels {
    /// Reads a mapping as a `BTreeMap<String, String>` does (same errors; of equal keys, the
    /// last wins), without its tree node or a string per key and value: the parts are
    /// borrowed from the text where the reader allows, and only the packed set allocates.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Labels, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Labels;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Labels, A::Error> {
                // On the stack for the few labels of nearly every set (see `from_iter`).
                let mut pairs: SmallVec<[(Part<'de>, Part<'de>); INLINE]> = SmallVec::new();
                while let Some(pair) = map.next_entry()? {
                    pairs.push(pair);
                }
                // Stable, so that the last of equal keys comes last in its run.
                pairs.sort_by(|(a, _), (b, _)| a.0.cmp(&b.0));
                let last_of_each = pairs
                    .iter()
                    .enumerate()
                    .filter(|&(i, (k, _))| pairs.get(i + 1).is_none_or(|(next, _)| next.0 != k.0));
                let unique: SmallVec<[(&str, &str); INLINE]> = last_of_each.map(|(_, (k, v))| (&*k.0, &*v.0)).collect();
                Ok(Labels::packed(unique.into_iter()))
            }
        }
        d.deserialize_map(V)
    }
}

/// A label key or value as read: borrowed when the deserialiser lends it, accepted as a
/// `String` is (with its error otherwise).
struct Part<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Part<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Part<'de>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Part<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Part<'de>, E> {
                Ok(Part(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Part<'de>, E> {
                Ok(Part(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Part<'de>, E> {
                Ok(Part(Cow::Owned(s)))
            }
            fn visit_bytes<E: de::Error>(self, b: &[u8]) -> Result<Part<'de>, E> {
                match std::str::from_utf8(b) {
                    Ok(s) => self.visit_str(s),
                    Err(_) => Err(de::Error::invalid_value(de::Unexpected::Bytes(b), &self)),
                }
            }
        }
        d.deserialize_string(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(pairs: &[(&str, &str)]) -> Labels {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn sorted_unique_and_last_value_wins() {
        let mut labels = l(&[("version", "v1"), ("app", "a"), ("tier", "web")]);
        assert_eq!(labels.iter().map(|(k, _)| k).collect::<Vec<_>>(), ["app", "tier", "version"]);
        labels.extend([("app", "b"), ("zone", "y"), ("tier", "db"), ("zone", "z")]);
        assert_eq!(labels, l(&[("app", "b"), ("tier", "db"), ("version", "v1"), ("zone", "z")]));
        assert_eq!(labels.get("tier"), Some("db"));
        assert_eq!(labels.get("nope"), None);
        assert_eq!(&labels["zone"], "z");
        assert_eq!(labels.len(), 4);
    }

    /// Collecting (one vector, deduplicated in place) and extending (the general merge)
    /// agree on which value of a repeated key wins: the last.
    #[test]
    fn collect_and_extend_agree_on_repeated_keys() {
        let pairs = [("b", "1"), ("a", "1"), ("b", "2"), ("c", "1"), ("a", "2"), ("b", "3"), ("a", "3")];
        for n in 0..=pairs.len() {
            let collected: Labels = pairs[..n].iter().copied().collect();
            let mut extended = Labels::new();
            extended.extend(pairs[..n].iter().copied());
            assert_eq!(collected, extended, "first {n} pairs");
        }
        let all: Labels = pairs.iter().copied().collect();
        assert_eq!(all, l(&[("a", "3"), ("b", "3"), ("c", "1")]));
    }

    #[test]
    fn many_labels_in_any_order_stay_sorted_and_complete() {
        // Every pair kept, in key order, whichever order they came in.
        let keys: Vec<String> = (0..1000).map(|i| format!("k{i:04}")).collect();
        for order in [keys.clone(), keys.iter().rev().cloned().collect()] {
            let labels: Labels = order.iter().map(|k| (k.clone(), format!("v-{k}"))).collect();
            assert_eq!(labels.len(), 1000);
            assert!(labels.iter().map(|(k, _)| k).eq(keys.iter().map(String::as_str)));
            assert!(labels.iter().all(|(k, v)| *v == format!("v-{k}")));
        }
    }

    #[test]
    fn subset() {
        let vm = l(&[("app", "a"), ("version", "v1")]);
        assert!(l(&[("version", "v1")]).is_subset_of(&vm));
        assert!(Labels::new().is_subset_of(&vm));
        assert!(!l(&[("version", "v2")]).is_subset_of(&vm));
        assert!(!l(&[("zone", "z")]).is_subset_of(&vm));
    }

    #[test]
    fn reads_and_writes_as_a_mapping_in_key_order() {
        let labels: Labels = crate::yaml::from_str("version: v1\napp: a\n").unwrap();
        assert_eq!(labels, l(&[("app", "a"), ("version", "v1")]));
        assert_eq!(serde_json::to_string(&labels).unwrap(), r#"{"app":"a","version":"v1"}"#);
        // Whatever the input, the outcome (and error message) of the map it replaces.
        for text in ["[a]", "a: x\na: y\n", "a: [x]", "a: 1", "~", "{}", "x: y\nb: c"] {
            let as_map = crate::yaml::from_str::<BTreeMap<String, String>>(text).map(Labels::from);
            let as_labels = crate::yaml::from_str::<Labels>(text);
            assert_eq!(as_labels.map_err(|e| e.to_string()), as_map.map_err(|e| e.to_string()), "{text}");
        }
        assert_eq!(format!("{labels:?}"), r#"{"app": "a", "version": "v1"}"#);
    }
}
