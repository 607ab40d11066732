//! Sorting large records through a permutation.
//!
//! A service of the model is over half a kilobyte. Sorting services in place moves each
//! record about log n times; sorting small (key, index) pairs and then moving each record
//! once is what scales.

/// The order that sorts `items` by `key`, as indices into `items`. Equal keys keep their
/// input order (the index breaks ties), so the result is that of a stable sort. The
/// reference [`permutation_by_prefix`] is tested against.
#[cfg(test)]
fn permutation<'a, T, K: Ord>(items: &'a [T], key: impl Fn(&'a T) -> K) -> Vec<usize> {
    let mut keyed: Vec<(K, usize)> = items.iter().enumerate().map(|(i, item)| (key(item), i)).collect();
    keyed.sort();
    keyed.into_iter().map(|(_, i)| i).collect()
}

/// The first 16 bytes of each of two strings (such as an entity's namespace and name) as
/// big-endian integers, zero-padded. Where the first strings' integers differ, comparing
/// them agrees with comparing the strings (one that ends first is padded with zeros and
/// sorts first, as it does as a string); where they are equal and both strings are whole in
/// them, the second strings' integers go on in the same way. Anything else the strings
/// decide ([`permutation_by_prefix`]). Computed where the strings were just made, it lets
/// a large sort compare integers instead of following pointers into memory long out of
/// cache (at 100,000 services, most of the cost of ordering them).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Prefix {
    first: u128,
    second: u128,
    /// The first string's length, up to 17 (longer than the integer holds).
    first_len: u8,
}

impl Prefix {
    /// The prefix of `(first, second)`.
    pub(crate) fn of(first: &str, second: &str) -> Prefix {
        let int = |s: &str| {
            let mut bytes = [0u8; 16];
            let n = s.len().min(16);
            bytes[..n].copy_from_slice(&s.as_bytes()[..n]);
            u128::from_be_bytes(bytes)
        };
        Prefix { first: int(first), second: int(second), first_len: first.len().min(17) as u8 }
    }

    /// The order of the two pairs of strings, where the prefixes tell it.
    fn cmp_known(&self, other: &Prefix) -> Option<std::cmp::Ordering> {
        use std::cmp::Ordering::Equal;
        match self.first.cmp(&other.first) {
            // The first strings are the same (whole, of one length): the second decide.
            Equal if self.first_len == other.first_len && self.first_len <= 16 => {
                Some(self.second.cmp(&other.second)).filter(|o| *o != Equal)
            }
            Equal => None,
            unequal => Some(unequal),
        }
    }
}

/// The order that sorts items by a key of two strings whose [`Prefix`]es are
/// `prefixes` (item `i`'s at `i`), as [`permutation`] would by the strings themselves:
/// `strings(i)` gives item `i`'s, and is called only where the prefixes cannot tell. Equal
/// keys keep their input order.
pub(crate) fn permutation_by_prefix<'a>(
    prefixes: &[Prefix],
    strings: impl Fn(usize) -> (&'a str, &'a str),
) -> Vec<usize> {
    let mut keyed: Vec<(Prefix, u32)> = prefixes.iter().zip(0u32..).map(|(p, i)| (*p, i)).collect();
    keyed.sort_unstable_by(|a, b| {
        let strings = || strings(a.1 as usize).cmp(&strings(b.1 as usize));
        a.0.cmp_known(&b.0).unwrap_or_else(strings).then(a.1.cmp(&b.1))
    });
    keyed.into_iter().map(|(_, i)| i as usize).collect()
}

/// Reorders `items` so that the item at position `k` is the one `order[k]` named, in place
/// (no second array of large records: fresh pages are slow to fault in), by following each
/// cycle of the permutation. `order` must be a permutation of `0..items.len()`.
pub(crate) fn apply<T>(items: &mut [T], order: &[usize]) {
    assert_eq!(order.len(), items.len(), "a permutation names every item");
    debug_assert!(
        {
            let mut seen = vec![false; order.len()];
            order.iter().all(|&i| i < seen.len() && !std::mem::replace(&mut seen[i], true))
        },
        "not a permutation"
    );
    let mut placed = vec![false; items.len()];
    for start in 0..items.len() {
        // Along a cycle, the item that started at `start` moves ahead of the swaps, and lands
        // where the cycle closes.
        let mut at = start;
        while !placed[at] {
            placed[at] = true;
            let from = order[at];
            if from == start {
                break;
            }
            items.swap(at, from);
            at = from;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_stably_like_the_standard_sort() {
        // (namespace, name, kind) with duplicates, in a scrambled order.
        let mut items: Vec<(String, String, u8, usize)> = (0..500)
            .map(|i| (format!("ns-{}", (i * 7) % 5), format!("n-{}", (i * 13) % 17), (i % 3) as u8, i))
            .collect();
        let mut expected = items.clone();
        expected.sort_by(|a, b| (&a.0, &a.1, a.2).cmp(&(&b.0, &b.1, b.2)));
        let order = permutation(&items, |t| (&t.0, &t.1, t.2));
        apply(&mut items, &order);
        assert_eq!(items, expected);
    }

    #[test]
    fn prefixes_order_as_the_strings_do() {
        // Long shared beginnings (past 16 bytes, and of exactly 16), a string that is
        // another's beginning, an empty one, a NUL (padded, "ab" is "ab\0"), bytes above
        // ASCII, and repeated keys, which keep their input order.
        let words = ["", "a", "ab", "ab\0", "b", "catalog-1", "catalog-13", "catalog-9", "é", "zz", "a-namespace-long"];
        let long = |w: &str| format!("a-namespace-long-{w}");
        let mut items: Vec<(String, String, usize)> = Vec::new();
        for (i, a) in words.iter().enumerate() {
            for (j, b) in words.iter().enumerate().rev() {
                let n = items.len();
                items.push((long(a), (*b).to_string(), n));
                items.push(((*a).to_string(), long(b), n + 1));
                if (i + j) % 3 == 0 {
                    items.push(((*a).to_string(), (*b).to_string(), n + 2));
                    items.push(((*a).to_string(), (*b).to_string(), n + 3));
                }
            }
        }
        let prefixes: Vec<Prefix> = items.iter().map(|t| Prefix::of(&t.0, &t.1)).collect();
        let order = permutation_by_prefix(&prefixes, |i| (items[i].0.as_str(), items[i].1.as_str()));
        assert_eq!(order, permutation(&items, |t| (&t.0, &t.1)));
    }

    #[test]
    fn already_sorted_and_empty() {
        let mut items = vec![1, 2, 3];
        apply(&mut items, &[0, 1, 2]);
        assert_eq!(items, [1, 2, 3]);
        apply(&mut items, &[2, 0, 1]);
        assert_eq!(items, [3, 1, 2]);
        // Two cycles and a fixed point.
        let mut items = vec!['a', 'b', 'c', 'd', 'e', 'f'];
        apply(&mut items, &[1, 0, 2, 5, 3, 4]);
        assert_eq!(items, ['b', 'a', 'c', 'f', 'd', 'e']);
        let mut none: Vec<u8> = Vec::new();
        apply(&mut none, &[]);
        assert!(none.is_empty());
    }
}
