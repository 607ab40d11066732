//! Running one function over many items on the machine's cores, results in input order.
//!
//! Reading and `stat`ing tens of thousands of small files (a per-object output directory) is
//! mostly system calls, which both cores share well; the build stages have their own,
//! entity-shaped splits (see `model::build_with` and `render::per_namespace`).

use anyhow::{Result, bail};

/// Fewer items than this per thread are not worth a thread.
const MIN_SHARE: usize = 64;

/// `f` over every item, on up to 8 threads in contiguous shares; the results keep the items'
/// order. The first error (in item order) is returned; a panicking thread is an error.
pub(crate) fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> Result<R> + Sync) -> Result<Vec<R>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    let share = items.len().div_ceil(threads).max(MIN_SHARE);
    let f = &f;
    let done: Vec<Result<Vec<R>>> = std::thread::scope(|s| {
        let handles: Vec<_> = items.chunks(share).map(|chunk| s.spawn(move || chunk.iter().map(f).collect())).collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| bail!("a worker thread panicked"))).collect()
    });
    let mut out = Vec::with_capacity(items.len());
    for d in done {
        out.extend(d?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_the_order_and_the_first_error_wins() {
        let items: Vec<usize> = (0..1000).collect();
        assert_eq!(map(&items, |&i| Ok(i * 2)).unwrap(), items.iter().map(|i| i * 2).collect::<Vec<_>>());
        let err = map(&items, |&i| if i % 300 == 299 { bail!("item {i}") } else { Ok(i) }).unwrap_err();
        assert_eq!(err.to_string(), "item 299");
        assert!(map(&[] as &[usize], |&i| Ok(i)).unwrap().is_empty());
    }
}
