//! Running one function over many items on the machine's cores, results in input order.
//!
//! Reading and `stat`ing tens of thousands of small files (a per-object output directory) is
//! mostly system calls, which both cores share well; the build stages have their own,
//! entity-shaped splits (see `model::build_with` and `render::per_namespace`).

use anyhow::{Result, bail};

/// Fewer items than this per thread are not worth a thread.
const MIN_SHARE: usize = 64;

/// How many threads a stage splits its work into: the machine's cores, at most 8 (the
/// stages were measured on 2).
pub(crate) fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).min(8)
}

/// `f` over every item, on up to 8 threads in contiguous shares; the results keep the items'
/// order. The first error (in item order) is returned; a panicking thread is an error.
pub(crate) fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> Result<R> + Sync) -> Result<Vec<R>> {
    let threads = threads();
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

/// `f` over every item taken by value, on up to 8 threads in contiguous shares: each thread
/// consumes its share, so what `f` is done with is dropped as it goes (and its memory
/// reused) instead of living until the end. The results keep the items' order.
pub(crate) fn map_owned<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    let threads = threads();
    let share = items.len().div_ceil(threads).max(MIN_SHARE);
    let mut shares = Vec::with_capacity(threads);
    let mut rest = items;
    while rest.len() > share {
        let tail = rest.split_off(share);
        shares.push(rest);
        rest = tail;
    }
    shares.push(rest);
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> =
            shares.into_iter().map(|share| s.spawn(move || share.into_iter().map(f).collect::<Vec<R>>())).collect();
        // A panicking `f` is a bug; re-raise it rather than lose its results.
        handles.into_iter().flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
    })
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

    #[test]
    fn owned_results_keep_the_order() {
        let items: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
        let lengths: Vec<usize> = items.iter().map(String::len).collect();
        assert_eq!(map_owned(items, |s| s.len()), lengths);
        assert!(map_owned(Vec::<String>::new(), |s| s.len()).is_empty());
        assert_eq!(map_owned(vec![1, 2, 3], |i| i * 10), [10, 20, 30]);
    }
}
