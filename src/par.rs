//! Running work on the machine's cores: the one module that starts threads.
//!
//! Every parallel stage has one of these shapes:
//!
//! - [`map`] and [`map_owned`]: one function over many items (files, manifests, services),
//!   results in the items' order. Each thread works through a contiguous share of the items,
//!   block by block, and a thread done early takes blocks from the end of the others'
//!   shares, so a slow block (a large file, a core another tenant of the machine holds)
//!   does not leave the other threads waiting.
//! - [`tasks`]: a list of independent functions of unequal cost (the check rules), shared out
//!   the same way one function at a time, outputs in list order: adding one to the list
//!   needs no thought about which core runs it.
//! - [`stream`]: ordered streaming. Results are handed to a consumer on the calling thread in
//!   the items' order, each as soon as its turn comes, while later ones are still being
//!   produced; workers run at most a few items ahead of the consumer, so the results of a
//!   whole estate never sit in memory together (`build --stdout` writes a namespace while the
//!   next ones render).
//! - [`join`] and [`background`]: two things at once (listing a directory while its cache
//!   loads; listing another build while this one compiles).
//!
//! Failures behave as in the sequential loop each of these replaces: the first error in the
//! items' order is returned, and a panicking worker is re-raised on the calling thread, with
//! its own payload, once every worker has stopped (a panic is a bug: it must not become an
//! ordinary error, nor be lost). An error earlier in the items' order than a panic wins,
//! as it would have stopped the loop before the panicking item. Once a failure is known no
//! new work starts after it.
//!
//! The threads are plain scoped threads, started per call: a build makes about ten parallel
//! calls, so a thread pool would save microseconds (docs/decisions.md, "Concurrency"). A
//! new thread that starts on its caller's CPU moves itself once to another ([`Home`]), so
//! that beside a busy neighbour meshgen's threads are not left sharing one core.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};

use anyhow::Result;

/// The most threads a stage uses: beyond this the stages (measured on 2 cores) have too
/// little work per thread.
const MAX_THREADS: usize = 8;

/// Blocks per thread that [`map`] and [`map_owned`] cut their items into: enough for an idle
/// thread to take over part of a slow one's share, few enough that taking a block costs
/// nothing next to running it.
const BLOCKS_PER_THREAD: usize = 8;

/// How far ahead of the consumer [`stream`]'s workers may run, in items per thread.
const AHEAD_PER_THREAD: usize = 2;

/// How many threads a stage splits its work into: the machine's cores, at most
/// [`MAX_THREADS`].
pub(crate) fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).min(MAX_THREADS)
}

/// What a panicking worker left: re-raised with [`resume_unwind`] by the caller.
type Panic = Box<dyn Any + Send + 'static>;

/// Runs `f`, catching a panic. The payload is only ever re-raised, so nothing observes state
/// that the panic may have left half-changed.
fn catch<R>(f: impl FnOnce() -> R) -> std::result::Result<R, Panic> {
    catch_unwind(AssertUnwindSafe(f))
}

/// The engine of [`map`], [`map_owned`] and [`tasks`]: `job(i)` for every `i` in `0..n` on up
/// to `threads` threads, the calling thread among them. Each thread starts on a contiguous
/// share of the indexes, in order, and once it is done takes the last index of the share
/// with the most left: neighbours are done by one thread one after the other, as a
/// sequential loop would (what they free is then reused by what follows, which an
/// interleaving of the threads leaves unused: docs/decisions.md), and a thread held up
/// by a slow index or a busy core has its share finished by the others. Returns the outcomes
/// in index order, up to and including the first failure (a panic, or an output `failed`
/// says is one); indexes after it may not have run.
fn run<O: Send>(
    threads: usize,
    n: usize,
    job: impl Fn(usize) -> O + Sync,
    failed: impl Fn(&O) -> bool + Sync,
) -> Vec<std::result::Result<O, Panic>> {
    let threads = threads.min(n).max(1);
    let shares: Vec<Mutex<std::ops::Range<usize>>> =
        (0..threads).map(|t| Mutex::new(n * t / threads..n * (t + 1) / threads)).collect();
    let lock = |t: usize| shares[t].lock().unwrap_or_else(PoisonError::into_inner);
    let take = |t: usize| {
        if let Some(i) = lock(t).next() {
            return Some(i);
        }
        loop {
            let (most, left) = (0..threads).map(|v| (v, lock(v).len())).max_by_key(|&(_, left)| left)?;
            if left == 0 {
                return None;
            }
            // Another thread may have taken it meanwhile: then look again.
            if let Some(i) = lock(most).next_back() {
                return Some(i);
            }
        }
    };
    // The lowest index known to have failed: later indexes need not run.
    let first_failure = AtomicUsize::new(usize::MAX);
    let worker = |t: usize| {
        let mut done = Vec::new();
        while let Some(i) = take(t) {
            if i > first_failure.load(Ordering::Relaxed) {
                continue;
            }
            let outcome = catch(|| job(i));
            if outcome.as_ref().map_or(true, &failed) {
                first_failure.fetch_min(i, Ordering::Relaxed);
            }
            done.push((i, outcome));
        }
        done
    };
    let mut done = if threads == 1 {
        worker(0)
    } else {
        std::thread::scope(|s| {
            let home = Home::here();
            let helpers: Vec<_> = (1..threads)
                .map(|t| {
                    s.spawn(move || {
                        home.spread(t - 1);
                        worker(t)
                    })
                })
                .collect();
            let mut done = worker(0);
            for h in helpers {
                // `worker` catches every panic of `job`; the rest of it cannot panic.
                done.extend(h.join().unwrap_or_else(|e| resume_unwind(e)));
            }
            done
        })
    };
    done.sort_unstable_by_key(|(i, _)| *i);
    // Every index up to the first failure ran: only indexes above a known failure are skipped.
    let cut = done.iter().position(|(_, o)| o.as_ref().map_or(true, &failed)).map_or(done.len(), |p| p + 1);
    done.truncate(cut);
    done.into_iter().map(|(_, o)| o).collect()
}

/// Items `0..len` in at most `threads * BLOCKS_PER_THREAD` contiguous blocks: their bounds.
fn blocks(len: usize, threads: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    let size = len.div_ceil(threads * BLOCKS_PER_THREAD).max(1);
    (0..len).step_by(size).map(move |start| start..(start + size).min(len))
}

/// `f` over every item, on the machine's cores; the results keep the items' order. The first
/// error in the items' order is returned; a panic in `f` is re-raised (see the module's doc).
pub(crate) fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> Result<R> + Sync) -> Result<Vec<R>> {
    map_on(threads(), items, f)
}

fn map_on<T: Sync, R: Send>(threads: usize, items: &[T], f: impl Fn(&T) -> Result<R> + Sync) -> Result<Vec<R>> {
    let bounds: Vec<_> = blocks(items.len(), threads).collect();
    // A block stops at its first error: what follows it cannot matter.
    let job = |b: usize| {
        let mut out = Vec::with_capacity(bounds[b].len());
        for item in &items[bounds[b].clone()] {
            match f(item) {
                Ok(r) => out.push(r),
                Err(e) => return (out, Some(e)),
            }
        }
        (out, None)
    };
    let mut all = Vec::with_capacity(items.len());
    for outcome in run(threads, bounds.len(), job, |(_, e)| e.is_some()) {
        let (mut out, error) = outcome.unwrap_or_else(|p| resume_unwind(p));
        if let Some(e) = error {
            return Err(e);
        }
        all.append(&mut out);
    }
    Ok(all)
}

/// `f` over every item taken by value, on the machine's cores: each item is moved into `f`,
/// so what `f` is done with is dropped as it goes (and its memory reused) instead of living
/// until the end. The results keep the items' order; a panic in `f` is re-raised.
pub(crate) fn map_owned<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    map_owned_on(threads(), items, f)
}

fn map_owned_on<T: Send, R: Send>(threads: usize, items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    let len = items.len();
    let mut rest = items.into_iter();
    // Each item moves once, into its block; a thread takes a block out of its slot.
    let owned: Vec<Mutex<Option<Vec<T>>>> =
        blocks(len, threads).map(|b| Mutex::new(Some(rest.by_ref().take(b.len()).collect()))).collect();
    let job = |b: usize| {
        let block = owned[b].lock().unwrap_or_else(PoisonError::into_inner).take().unwrap_or_default();
        block.into_iter().map(&f).collect::<Vec<R>>()
    };
    let mut all = Vec::with_capacity(len);
    for outcome in run(threads, owned.len(), job, |_| false) {
        all.append(&mut outcome.unwrap_or_else(|p| resume_unwind(p)));
    }
    all
}

/// Runs every task of `list` with `cx`, each into an output of its own that starts as
/// `R::default()`; returns the outputs in list order. Tasks are shared out one at a time (a
/// thread done with its share takes from the others'), so uneven costs balance out whatever
/// the list's order; a panicking task is re-raised.
pub(crate) fn tasks<C: Sync, R: Default + Send>(list: &[fn(&C, &mut R)], cx: &C) -> Vec<R> {
    tasks_on(threads(), list, cx)
}

fn tasks_on<C: Sync, R: Default + Send>(threads: usize, list: &[fn(&C, &mut R)], cx: &C) -> Vec<R> {
    let job = |i: usize| {
        let mut out = R::default();
        list[i](cx, &mut out);
        out
    };
    run(threads, list.len(), job, |_| false).into_iter().map(|o| o.unwrap_or_else(|p| resume_unwind(p))).collect()
}

/// Runs `work` on every item on the machine's cores and hands the results to `consume`, on
/// the calling thread, in the items' order, each as soon as its turn comes. Workers run at
/// most [`AHEAD_PER_THREAD`] items each ahead of `consume`, so the results never sit in
/// memory together unless `consume` keeps them. The first failure in the items' order, of
/// `work` or of `consume`, stops the rest: an error is returned, a panic re-raised.
pub(crate) fn stream<T: Sync, R: Send>(
    items: &[T],
    work: impl Fn(&T) -> Result<R> + Sync,
    consume: impl FnMut(R) -> Result<()>,
) -> Result<()> {
    stream_on(threads(), items, work, consume)
}

/// How far [`stream`]'s consumer has come, shared with its workers.
struct Turn {
    /// Items consumed so far (the next one to consume is this one).
    consumed: usize,
    /// Set when the stream stops early: the workers stop too.
    stop: bool,
}

fn stream_on<T: Sync, R: Send>(
    threads: usize,
    items: &[T],
    work: impl Fn(&T) -> Result<R> + Sync,
    mut consume: impl FnMut(R) -> Result<()>,
) -> Result<()> {
    let threads = threads.min(items.len()).max(1);
    let ahead = AHEAD_PER_THREAD * threads;
    let next = AtomicUsize::new(0);
    let (turn, moved) = (Mutex::new(Turn { consumed: 0, stop: false }), Condvar::new());
    let lock = || turn.lock().unwrap_or_else(PoisonError::into_inner);
    let (work, next, lock, moved) = (&work, &next, &lock, &moved);
    let outcome: std::result::Result<Result<()>, Panic> = std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::channel::<(usize, std::result::Result<Result<R>, Panic>)>();
        let home = Home::here();
        for slot in 0..threads {
            let tx = tx.clone();
            s.spawn(move || {
                home.spread(slot);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    {
                        let mut t = lock();
                        while !t.stop && i >= t.consumed + ahead {
                            t = moved.wait(t).unwrap_or_else(PoisonError::into_inner);
                        }
                        if t.stop {
                            break;
                        }
                    }
                    // Sent in its turn, a panic stops the others as an error would.
                    if tx.send((i, catch(|| work(item)))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut waiting = std::collections::BTreeMap::new();
        let mut consumed = 0;
        let mut outcome = Ok(Ok(()));
        'receive: for (i, r) in &rx {
            waiting.insert(i, r);
            while let Some(r) = waiting.remove(&consumed) {
                let step = match r {
                    Ok(Ok(r)) => catch(|| consume(r)),
                    other => other.map(|r| r.map(drop)),
                };
                if !matches!(step, Ok(Ok(()))) {
                    outcome = step;
                    break 'receive;
                }
                consumed += 1;
                lock().consumed = consumed;
                moved.notify_all();
            }
        }
        // Stopped early: the workers waiting for their turn must not wait forever, and those
        // still sending find the receiver gone.
        lock().stop = true;
        moved.notify_all();
        drop(rx);
        outcome
    });
    outcome.unwrap_or_else(|p| resume_unwind(p))
}

/// Runs `a` on the calling thread and `b` on another, and returns both results; a panic in
/// either is re-raised once both are done.
pub(crate) fn join<A: Send, B: Send>(a: impl FnOnce() -> A + Send, b: impl FnOnce() -> B + Send) -> (A, B) {
    let home = Home::here();
    std::thread::scope(|s| {
        let b = s.spawn(move || {
            home.spread(0);
            b()
        });
        let a = catch(a);
        let b = b.join();
        (a.unwrap_or_else(|p| resume_unwind(p)), b.unwrap_or_else(|p| resume_unwind(p)))
    })
}

/// Work running on another thread while the caller does something else: [`Pending::wait`]
/// for its result.
pub(crate) struct Pending<T>(std::thread::JoinHandle<T>);

/// Starts `f` on another thread, for work that owns what it needs (it may outlive the
/// caller's borrows); [`Pending::wait`] gives its result.
pub(crate) fn background<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Pending<T> {
    Pending(std::thread::spawn(f))
}

impl<T> Pending<T> {
    /// Waits for the result; a panic of the work is re-raised here.
    pub(crate) fn wait(self) -> T {
        self.0.join().unwrap_or_else(|p| resume_unwind(p))
    }
}

/// The CPU a parallel call starts on, from which the threads it starts are spread out.
///
/// Linux starts a thread on its parent's CPU when it finds no idle one, and beside one
/// CPU-bound process on a 2-core machine it then has no reason to move it: two of meshgen's
/// threads on one core and the neighbour alone on the other is as balanced, by its count, as
/// one of each. Measured there, 21 of 40 new threads of `check` started on their parent's
/// CPU (6 of 40 on an idle machine), and the model stage ran 105 ms for 113 ms of CPU: about
/// one core where one thread on each would give up to one and a half. So a thread that
/// starts on its parent's CPU moves itself once to another, counted around the machine from
/// the parent's, and at once allows every CPU it could use before: a placement, not a
/// pinning, which the scheduler is free to change. A thread the scheduler started anywhere
/// else stays there (docs/performance.md, run AL-spread).
#[derive(Clone, Copy)]
struct Home(Option<usize>);

impl Home {
    /// The CPU the calling thread runs on, where the OS says (Linux).
    fn here() -> Home {
        Home(current_cpu())
    }

    /// Moves the calling thread, just started, off home if it started there: to the
    /// `slot`-th other CPU the process may use ([`target`]), then lets it run on all of them
    /// again. Nothing happens where a CPU number is unknown or only one CPU is allowed.
    fn spread(self, slot: usize) {
        if let Some(home) = self.0
            && current_cpu() == Some(home)
        {
            place(home, slot);
        }
    }
}

/// Moves the calling thread to the `slot`-th CPU around from `home` ([`target`]) and lets
/// it run on every CPU it could before; the CPU it was moved to, if it was.
#[cfg_attr(not(target_os = "linux"), allow(unused_variables))]
fn place(home: usize, slot: usize) -> Option<usize> {
    #[cfg(target_os = "linux")]
    {
        let allowed = affinity::get()?;
        let cpu = target(home, affinity::SIZE, slot, |c| affinity::has(&allowed, c))?;
        if !affinity::set(&affinity::only(cpu)) {
            return None;
        }
        // Cannot fail but for a CPU set changed meanwhile (a cgroup's, hotplug): then a
        // second try, and at worst this one thread stays on one CPU until its call ends.
        if !affinity::set(&allowed) {
            affinity::set(&allowed);
        }
        Some(cpu)
    }
    #[cfg(not(target_os = "linux"))]
    None
}

/// The CPU the calling thread runs on (Linux), or `None`.
fn current_cpu() -> Option<usize> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: no preconditions; -1 on failure, which `try_from` turns into `None`.
        usize::try_from(unsafe { libc::sched_getcpu() }).ok()
    }
    #[cfg(not(target_os = "linux"))]
    None
}

/// The `slot`-th CPU below `cpus` that is `allowed`, counted from the one after `home`
/// around to `home` itself, which comes last: the threads of a call go to other CPUs before
/// one shares the caller's. `None` where fewer than two CPUs are allowed.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn target(home: usize, cpus: usize, slot: usize, allowed: impl Fn(usize) -> bool) -> Option<usize> {
    // `c < cpus` also keeps a `home` beyond the set's size out of it.
    let ring: Vec<usize> = (home + 1..cpus).chain(0..=home).filter(|&c| c < cpus && allowed(c)).collect();
    (ring.len() > 1).then(|| ring[slot % ring.len()])
}

/// The calling thread's CPU affinity (Linux), the only unsafe code of [`Home`].
#[cfg(target_os = "linux")]
mod affinity {
    /// How many CPUs a `cpu_set_t` holds (`CPU_SETSIZE` is smaller on some C libraries).
    pub(super) const SIZE: usize = 8 * std::mem::size_of::<libc::cpu_set_t>();

    /// The CPUs the calling thread may run on; `None` where the OS does not say (more
    /// CPUs than a `cpu_set_t` holds).
    pub(super) fn get() -> Option<libc::cpu_set_t> {
        // SAFETY: all zeroes is the empty set; the size passed is the set's own and pid 0
        // is the calling thread.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            (libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) == 0).then_some(set)
        }
    }

    /// Lets the calling thread run on `set`; whether the OS took it.
    pub(super) fn set(set: &libc::cpu_set_t) -> bool {
        // SAFETY: as in `get`.
        unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set) == 0 }
    }

    /// Whether `set` holds CPU `cpu` (below [`SIZE`]).
    pub(super) fn has(set: &libc::cpu_set_t, cpu: usize) -> bool {
        // SAFETY: `cpu` is below the set's size (the callers' ranges end at `SIZE`).
        cpu < SIZE && unsafe { libc::CPU_ISSET(cpu, set) }
    }

    /// The set of CPU `cpu` alone (below [`SIZE`]).
    pub(super) fn only(cpu: usize) -> libc::cpu_set_t {
        // SAFETY: all zeroes is the empty set, and `cpu` is below its size.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu.min(SIZE - 1), &mut set);
            set
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use anyhow::bail;

    use super::*;

    /// The thread counts every engine is tried with: one, the machine's, more than items.
    const THREADS: [usize; 4] = [1, 2, 3, 64];

    /// The CPUs the calling thread may run on; `None` where the OS does not say.
    #[cfg(target_os = "linux")]
    fn allowed() -> Option<Vec<usize>> {
        let set = affinity::get()?;
        Some((0..affinity::SIZE).filter(|&c| affinity::has(&set, c)).collect())
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_placed_thread_may_run_anywhere_it_could_before() {
        // A placement, not a pinning: a thread moved to any slot's CPU ends allowed every
        // CPU the process is; on a machine of one allowed CPU nothing moves.
        let Some(before) = allowed() else { return };
        let home = current_cpu().expect("the CPU of this thread");
        for slot in 0..4 {
            let (moved, after) =
                std::thread::scope(|s| s.spawn(move || (place(home, slot), allowed())).join().unwrap());
            assert_eq!(after.as_ref(), Some(&before), "slot {slot}");
            let expected = target(home, affinity::SIZE, slot, |c| before.contains(&c));
            assert_eq!(moved, expected, "slot {slot}");
        }
        assert_eq!(allowed(), Some(before));
    }

    #[test]
    fn threads_go_around_the_machine_from_the_callers_cpu_which_comes_last() {
        let all = |_| true;
        assert_eq!((0..5).map(|slot| target(1, 4, slot, all)).collect::<Vec<_>>(), [2, 3, 0, 1, 2].map(Some));
        // CPUs not allowed are passed over; one allowed CPU is nowhere to go.
        let odd = |c: usize| c % 2 == 1;
        assert_eq!((0..3).map(|slot| target(3, 8, slot, odd)).collect::<Vec<_>>(), [5, 7, 1].map(Some));
        assert_eq!(target(0, 4, 0, |c| c == 0), None);
        assert_eq!(target(0, 1, 0, all), None);
        // A caller's CPU beyond the set's size is not one of its CPUs.
        assert_eq!((0..2).map(|slot| target(9, 2, slot, all)).collect::<Vec<_>>(), [0, 1].map(Some));
    }

    /// The message of a panic payload.
    fn message(p: Panic) -> String {
        p.downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_default()
    }

    #[test]
    fn map_keeps_the_order_and_the_first_error_wins() {
        let items: Vec<usize> = (0..1000).collect();
        for t in THREADS {
            assert_eq!(map_on(t, &items, |&i| Ok(i * 2)).unwrap(), items.iter().map(|i| i * 2).collect::<Vec<_>>());
            let err = map_on(t, &items, |&i| if i % 300 == 299 { bail!("item {i}") } else { Ok(i) }).unwrap_err();
            assert_eq!(err.to_string(), "item 299", "{t} threads");
            assert!(map_on(t, &[] as &[usize], |&i| Ok(i)).unwrap().is_empty());
            assert_eq!(map_on(t, &[7], |&i| Ok(i + 1)).unwrap(), [8]);
        }
        assert_eq!(map(&items[..3], |&i| Ok(i)).unwrap(), [0, 1, 2]);
    }

    #[test]
    fn the_first_error_wins_however_late_its_item_finishes() {
        // Item 0 fails last: a later item's earlier error must not be the one returned.
        for t in [2, 3, 64] {
            let err = map_on(t, &[0, 1, 2, 3], |&i| -> Result<usize> {
                if i == 0 {
                    std::thread::sleep(std::time::Duration::from_millis(30));
                }
                bail!("item {i}")
            })
            .unwrap_err();
            assert_eq!(err.to_string(), "item 0", "{t} threads");
        }
    }

    #[test]
    fn a_panicking_worker_is_re_raised_unless_an_earlier_item_failed() {
        let items: Vec<usize> = (0..100).collect();
        for t in THREADS {
            let p = catch(|| map_on(t, &items, |&i| if i == 50 { panic!("item {i}") } else { Ok(i) })).unwrap_err();
            assert_eq!(message(p), "item 50");
            let e = map_on(t, &items, |&i| match i {
                10 => bail!("item {i}"),
                50 => panic!("item {i}"),
                _ => Ok(i),
            });
            assert_eq!(e.unwrap_err().to_string(), "item 10", "{t} threads");
            let p = catch(|| map_owned_on(t, items.clone(), |i| if i == 99 { panic!("owned {i}") } else { i }));
            assert_eq!(message(p.unwrap_err()), "owned 99");
        }
    }

    #[test]
    fn a_thread_done_with_its_share_takes_from_a_slow_one() {
        // Two threads, a block per item: shares 0..8 and 8..16. Item 0 blocks its thread
        // until another thread has run an item of its share (or 10 s pass, when nothing is
        // taken): a fixed sleep would fail on a machine too busy to start the second thread
        // in time.
        use std::sync::atomic::{AtomicBool, Ordering};
        let items: Vec<usize> = (0..2 * BLOCKS_PER_THREAD).collect();
        let taken = AtomicBool::new(false);
        let ran_on = map_on(2, &items, |&i| {
            if i == 0 {
                let start = std::time::Instant::now();
                while !taken.load(Ordering::SeqCst) && start.elapsed() < std::time::Duration::from_secs(10) {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
            } else if i < BLOCKS_PER_THREAD {
                taken.store(true, Ordering::SeqCst);
            }
            Ok(std::thread::current().id())
        })
        .unwrap();
        // The calling thread owns the first share; another thread ran part of it (all of it,
        // when the calling thread was slow to start).
        let caller = std::thread::current().id();
        let first_share = &ran_on[..BLOCKS_PER_THREAD];
        assert!(first_share.iter().any(|t| *t != caller), "nothing was taken from the slow thread");
    }

    #[test]
    fn map_owned_keeps_the_order() {
        let items: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
        let lengths: Vec<usize> = items.iter().map(String::len).collect();
        for t in THREADS {
            assert_eq!(map_owned_on(t, items.clone(), |s| s.len()), lengths);
            assert!(map_owned_on(t, Vec::<String>::new(), |s| s.len()).is_empty());
            assert_eq!(map_owned_on(t, vec![1, 2, 3], |i| i * 10), [10, 20, 30]);
        }
    }

    #[test]
    fn tasks_run_each_once_outputs_in_list_order() {
        let list: [fn(&usize, &mut Vec<usize>); 4] =
            [|c, o| o.push(*c), |c, o| o.push(c + 1), |_, _| {}, |c, o| o.extend([c + 2, c + 3])];
        for t in THREADS {
            assert_eq!(tasks_on(t, &list, &10), [vec![10], vec![11], vec![], vec![12, 13]]);
            assert!(tasks_on::<usize, Vec<usize>>(t, &[], &10).is_empty());
        }
        let panics: [fn(&(), &mut ()); 2] = [|_, _| {}, |_, _| panic!("rule")];
        assert_eq!(message(catch(|| tasks_on(2, &panics, &())).unwrap_err()), "rule");
    }

    #[test]
    fn stream_consumes_in_order_while_bounded_ahead() {
        let items: Vec<usize> = (0..200).collect();
        for t in THREADS {
            let started = AtomicUsize::new(0);
            let mut seen = Vec::new();
            stream_on(
                t,
                &items,
                |&i| {
                    started.fetch_add(1, Ordering::SeqCst);
                    Ok(i)
                },
                |i| {
                    // No worker has started more than `ahead` items past this one.
                    let ahead = AHEAD_PER_THREAD * t.min(items.len());
                    assert!(started.load(Ordering::SeqCst) <= i + 1 + ahead, "{t} threads ran too far ahead");
                    seen.push(i);
                    Ok(())
                },
            )
            .unwrap();
            assert_eq!(seen, items, "{t} threads");
            let mut none = 0;
            stream_on(
                t,
                &[] as &[usize],
                |&i| Ok(i),
                |_| {
                    none += 1;
                    Ok(())
                },
            )
            .unwrap();
            assert_eq!(none, 0);
        }
    }

    #[test]
    fn stream_stops_at_the_first_failure_in_order() {
        let items: Vec<usize> = (0..100).collect();
        for t in THREADS {
            let mut seen = Vec::new();
            let e = stream_on(
                t,
                &items,
                |&i| if i == 40 { bail!("work {i}") } else { Ok(i) },
                |i| {
                    seen.push(i);
                    Ok(())
                },
            );
            assert_eq!(e.unwrap_err().to_string(), "work 40");
            assert_eq!(seen, (0..40).collect::<Vec<_>>(), "{t} threads");
            let e = stream_on(t, &items, |&i| Ok(i), |i| if i == 5 { bail!("consume {i}") } else { Ok(()) });
            assert_eq!(e.unwrap_err().to_string(), "consume 5");
            // Later items do not run on once the stream has stopped.
            let last = AtomicUsize::new(0);
            let _ = stream_on(
                t,
                &items,
                |&i| {
                    last.fetch_max(i, Ordering::SeqCst);
                    Ok(i)
                },
                |i| if i == 0 { bail!("stop") } else { Ok(()) },
            );
            assert!(last.load(Ordering::SeqCst) <= AHEAD_PER_THREAD * t.min(items.len()), "{t} threads");
        }
    }

    #[test]
    fn stream_re_raises_a_panic_in_its_turn() {
        let items: Vec<usize> = (0..50).collect();
        for t in THREADS {
            let p = catch(|| stream_on(t, &items, |&i| if i == 20 { panic!("work {i}") } else { Ok(i) }, |_| Ok(())));
            assert_eq!(message(p.unwrap_err()), "work 20");
            let e = stream_on(
                t,
                &items,
                |&i| match i {
                    3 => bail!("work {i}"),
                    20 => panic!("work {i}"),
                    _ => Ok(i),
                },
                |_| Ok(()),
            );
            assert_eq!(e.unwrap_err().to_string(), "work 3");
            let p = catch(|| stream_on(t, &items, |&i| Ok(i), |i| if i == 7 { panic!("consume {i}") } else { Ok(()) }));
            assert_eq!(message(p.unwrap_err()), "consume 7");
        }
    }

    #[test]
    fn join_and_background_give_both_results_and_re_raise_panics() {
        let flag = AtomicBool::new(false);
        let (a, ()) = join(|| 1, || flag.store(true, Ordering::SeqCst));
        assert_eq!(a, 1);
        assert!(flag.load(Ordering::SeqCst));
        assert_eq!(message(catch(|| join(|| 1, || panic!("b"))).unwrap_err()), "b");
        assert_eq!(message(catch(|| join(|| panic!("a"), || 2)).unwrap_err()), "a");
        assert_eq!(background(|| 5).wait(), 5);
        assert_eq!(message(catch(|| background(|| panic!("bg")).wait()).unwrap_err()), "bg");
    }
}
