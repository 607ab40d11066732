//! Sorting large records through a permutation.
//!
//! A service of the model is over half a kilobyte. Sorting services in place moves each
//! record about log n times; sorting small (key, index) pairs and then moving each record
//! once is what scales.

/// The order that sorts `items` by `key`, as indices into `items`. Equal keys keep their
/// input order (the index breaks ties), so the result is that of a stable sort.
pub(crate) fn permutation<'a, T, K: Ord>(items: &'a [T], key: impl Fn(&'a T) -> K) -> Vec<usize> {
    let mut keyed: Vec<(K, usize)> = items.iter().enumerate().map(|(i, item)| (key(item), i)).collect();
    keyed.sort();
    keyed.into_iter().map(|(_, i)| i).collect()
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
