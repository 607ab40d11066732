//! [`Labels`]: a few `key: value` pairs, kept sorted by key.
//!
//! Every VM, subset and selector carries labels, nearly always two to four of them. A
//! `BTreeMap` allocates a node of eleven slots (about 540 bytes) for even one label, which at
//! 100,000 services was a quarter of the model's memory; a sorted vector holds the same pairs
//! in a sixth of that, and is scanned faster than a tree is walked at this size.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Labels (or a label selector), sorted by key, each key once. Reads and serialises as a
/// mapping; iterates in key order, as the `BTreeMap` it replaces did.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Labels(Vec<(String, String)>);

impl Labels {
    /// No labels.
    pub fn new() -> Labels {
        Labels(Vec::new())
    }

    fn find(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&String> {
        self.find(key).ok().map(|i| &self.0[i].1)
    }

    /// Sets `key` to `value`; returns the value it replaces.
    pub fn insert(&mut self, key: String, value: String) -> Option<String> {
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                // Grown one at a time, the vector holds exactly its labels: doubling left
                // room for four after the first (192 bytes for a VM's usual two labels, at
                // 450,000 VMs 40 MB of nothing). Past a few, it doubles again, so that a
                // file with thousands of labels is not copied once per label.
                if self.0.len() < 8 {
                    self.0.reserve_exact(1);
                }
                self.0.insert(i, (key, value));
                None
            }
        }
    }

    /// The pairs, in key order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&String, &String)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    /// How many labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether every label of `self` is also in `other`, with the same value: whether a
    /// selector made of `self` selects a workload labelled `other`.
    pub fn is_subset_of(&self, other: &Labels) -> bool {
        self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl Extend<(String, String)> for Labels {
    /// Adds the pairs; a key already present takes the new value.
    fn extend<I: IntoIterator<Item = (String, String)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl FromIterator<(String, String)> for Labels {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Labels {
        let mut l = Labels::new();
        l.extend(iter);
        l
    }
}

impl<const N: usize> From<[(String, String); N]> for Labels {
    fn from(pairs: [(String, String); N]) -> Labels {
        pairs.into_iter().collect()
    }
}

impl From<BTreeMap<String, String>> for Labels {
    fn from(map: BTreeMap<String, String>) -> Labels {
        // Already sorted and unique.
        Labels(map.into_iter().collect())
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = (&'a String, &'a String);
    type IntoIter = std::iter::Map<std::slice::Iter<'a, (String, String)>, fn(&'a (String, String)) -> Self::Item>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl std::ops::Index<&str> for Labels {
    type Output = String;

    /// The value of `key`; panics when it is absent, like a map's index.
    fn index(&self, key: &str) -> &String {
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

impl<'de> Deserialize<'de> for Labels {
    /// Reads a mapping exactly as a `BTreeMap` does (same errors), then keeps it compact.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Labels, D::Error> {
        BTreeMap::<String, String>::deserialize(d).map(Labels::from)
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
        assert_eq!(labels.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["app", "tier", "version"]);
        assert_eq!(labels.insert("app".into(), "b".into()), Some("a".into()));
        labels.extend([("zone".to_string(), "z".to_string()), ("tier".to_string(), "db".to_string())]);
        assert_eq!(labels, l(&[("app", "b"), ("tier", "db"), ("version", "v1"), ("zone", "z")]));
        assert_eq!(labels.get("tier").map(String::as_str), Some("db"));
        assert_eq!(labels.get("nope"), None);
        assert_eq!(labels["zone"], "z");
        assert_eq!(labels.len(), 4);
    }

    #[test]
    fn many_labels_in_any_order_stay_sorted_and_complete() {
        // Past the first few, growth doubles again: a hostile file with thousands of labels
        // must still end with every pair, in key order, whichever order they came in.
        let keys: Vec<String> = (0..1000).map(|i| format!("k{i:04}")).collect();
        for order in [keys.clone(), keys.iter().rev().cloned().collect()] {
            let mut labels = Labels::new();
            for k in &order {
                assert_eq!(labels.insert(k.clone(), format!("v-{k}")), None);
            }
            assert_eq!(labels.len(), 1000);
            assert!(labels.iter().map(|(k, _)| k).eq(keys.iter()));
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
        let labels: Labels = serde_yaml::from_str("version: v1\napp: a\n").unwrap();
        assert_eq!(labels, l(&[("app", "a"), ("version", "v1")]));
        assert_eq!(serde_json::to_string(&labels).unwrap(), r#"{"app":"a","version":"v1"}"#);
        // Whatever the input, the outcome (and error message) of the map it replaces.
        for text in ["[a]", "a: x\na: y\n", "a: [x]", "a: 1", "~", "{}", "x: y\nb: c"] {
            let as_map = serde_yaml::from_str::<BTreeMap<String, String>>(text).map(Labels::from);
            let as_labels = serde_yaml::from_str::<Labels>(text);
            assert_eq!(as_labels.map_err(|e| e.to_string()), as_map.map_err(|e| e.to_string()), "{text}");
        }
        assert_eq!(format!("{labels:?}"), r#"{"app": "a", "version": "v1"}"#);
    }
}
