//! `--timings`: how long each stage of a compile and of the command after it took, printed
//! to stderr when it ends.
//!
//! The benchmark script measures whole processes; this says where inside one the time went
//! (load, model, graph, check, render, write...), on the user's own inventory, without a
//! profiler. Beside each stage's wall time it gives the CPU time every thread of the process
//! spent meanwhile: a stage whose CPU time is near twice its wall time kept two cores busy,
//! one near its wall time ran on one core (or waited). Marks are taken always (an
//! `Instant::now`, the process's CPU clock and a read of `/proc/self/status` each, tens of
//! microseconds, a handful per run) and printed only when asked for.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// The stages of one run, in the order they ended, with the resident memory (KiB) at the
/// end of each where the system says it.
#[derive(Debug, Clone)]
pub struct Timings {
    start: Instant,
    last: Instant,
    /// The process's CPU time at the start and at the last mark, where the system says it.
    cpu_start: Option<Duration>,
    cpu_last: Option<Duration>,
    stages: Vec<Stage>,
}

/// One stage: its name, wall time, CPU time (all threads) and resident memory at its end.
#[derive(Debug, Clone)]
struct Stage {
    name: &'static str,
    took: Duration,
    cpu: Option<Duration>,
    rss_kb: Option<u64>,
}

impl Default for Timings {
    fn default() -> Self {
        let now = Instant::now();
        let cpu = process_cpu();
        Timings { start: now, last: now, cpu_start: cpu, cpu_last: cpu, stages: Vec::new() }
    }
}

impl Timings {
    /// Ends the stage `name`: the time since the previous mark (or the start) is its own.
    pub fn mark(&mut self, name: &'static str) {
        self.mark_at(name, Instant::now());
    }

    /// Ends the stage `name` at `end`, taken when it ended (on the thread that ran it, while
    /// the next stage began beside it): the next stage's time starts there.
    ///
    /// The CPU clock is read now, not at `end`: the threads' time between the two counts
    /// towards this stage (for `check`, the time of `analyse` beside it after it ended,
    /// which leaves the `analyse` line little CPU time but the wall time it waited).
    pub fn mark_at(&mut self, name: &'static str, end: Instant) {
        let end = end.max(self.last);
        let cpu_now = process_cpu();
        let cpu = cpu_now.zip(self.cpu_last).map(|(now, last)| now.saturating_sub(last));
        self.stages.push(Stage { name, took: end - self.last, cpu, rss_kb: status_kb("VmRSS:") });
        self.last = end;
        self.cpu_last = cpu_now;
    }

    /// Each stage so far, in order: its name and how long it took.
    pub fn stages(&self) -> impl Iterator<Item = (&'static str, Duration)> + '_ {
        self.stages.iter().map(|s| (s.name, s.took))
    }

    /// The time from the start to the last mark.
    pub fn total(&self) -> Duration {
        self.last - self.start
    }

    /// The table printed by `--timings`: one line per stage with its share of the total,
    /// the CPU time of all threads meanwhile and the resident memory after it, and the
    /// process's peak resident memory.
    pub fn report(&self) -> String {
        let total = self.total();
        let mut out = String::from("timings:\n");
        for s in &self.stages {
            let share = if total.is_zero() { 0.0 } else { s.took.as_secs_f64() / total.as_secs_f64() * 100.0 };
            let _ = write!(out, "  {:<11} {:>9.1} ms {share:>5.1}%", s.name, millis(s.took));
            cpu_column(&mut out, s.cpu);
            if let Some(kb) = s.rss_kb {
                let _ = write!(out, "  {:>6} MB", mb(kb));
            }
            out.push('\n');
        }
        let _ = write!(out, "  {:<11} {:>9.1} ms       ", "total", millis(total));
        cpu_column(&mut out, self.cpu_last.zip(self.cpu_start).map(|(last, start)| last.saturating_sub(start)));
        if let Some(kb) = status_kb("VmHWM:") {
            let _ = write!(out, "  peak {} MB", mb(kb));
        }
        out.push('\n');
        out
    }
}

/// `  cpu N ms`, or nothing where the system gave no CPU clock.
fn cpu_column(out: &mut String, cpu: Option<Duration>) {
    if let Some(cpu) = cpu {
        let _ = write!(out, "  cpu {:>7.1} ms", millis(cpu));
    }
}

/// The CPU time of every thread of this process so far (user and system), from the
/// process's CPU clock; `None` should the system not have one.
#[cfg(unix)]
fn process_cpu() -> Option<Duration> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec for the call's duration.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    (rc == 0).then(|| Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

#[cfg(not(unix))]
fn process_cpu() -> Option<Duration> {
    None
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn mb(kb: u64) -> u64 {
    kb.div_ceil(1024)
}

/// A memory figure of this process in KiB from `/proc/self/status` (`VmRSS:` now, `VmHWM:`
/// its peak), on Linux; `None` elsewhere.
fn status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line[field.len()..].trim().trim_end_matches("kB").trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_are_reported_in_order_and_sum_to_the_total() {
        let mut t = Timings::default();
        std::thread::sleep(Duration::from_millis(2));
        t.mark("load");
        t.mark("render");
        let report = t.report();
        let lines: Vec<&str> = report.lines().collect();
        assert_eq!(lines[0], "timings:");
        assert!(lines[1].trim_start().starts_with("load "), "{report}");
        assert!(lines[2].trim_start().starts_with("render "), "{report}");
        assert!(lines[3].trim_start().starts_with("total "), "{report}");
        let sum: Duration = t.stages.iter().map(|s| s.took).sum();
        assert_eq!(sum, t.last - t.start);
        assert!(t.stages[0].took >= Duration::from_millis(2));
    }

    #[test]
    fn a_stage_ended_on_another_thread_hands_the_rest_to_the_next() {
        let mut t = Timings::default();
        let start = Instant::now();
        std::thread::sleep(Duration::from_millis(3));
        let check_ended = Instant::now();
        std::thread::sleep(Duration::from_millis(3));
        t.mark_at("check", check_ended);
        t.mark("analyse");
        assert!(t.stages[0].took >= Duration::from_millis(3) && t.stages[0].took <= check_ended - t.start);
        assert!(t.stages[1].took >= Duration::from_millis(3), "{:?}", t.stages);
        // An end before the previous mark is that mark: no stage takes negative time.
        t.mark_at("late", start);
        assert_eq!(t.stages[2].took, Duration::ZERO);
        let sum: Duration = t.stages.iter().map(|s| s.took).sum();
        assert_eq!(sum, t.total());
    }

    #[cfg(unix)]
    #[test]
    fn each_stage_reports_the_cpu_time_spent_in_it() {
        let mut t = Timings::default();
        // Work on this thread, not sleep: a sleeping stage costs wall time, no CPU time.
        let spin = Instant::now();
        let mut x = 0u64;
        while spin.elapsed() < Duration::from_millis(20) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        t.mark("busy");
        std::thread::sleep(Duration::from_millis(20));
        t.mark("idle");
        // Other tests' threads run in this process too and count in its CPU clock, so only
        // what they cannot break: the busy stage spent CPU time, the idle one has a figure
        // too, and the report prints a column for each stage and the total.
        let busy = t.stages[0].cpu.expect("a CPU clock");
        assert!(busy >= Duration::from_millis(10), "{busy:?}");
        assert!(t.stages[1].cpu.is_some());
        let report = t.report();
        assert_eq!(report.lines().filter(|l| l.contains(" cpu ")).count(), 3, "{report}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn peak_rss_is_read_on_linux() {
        // The current size first: other tests' threads allocate meanwhile, and only a peak
        // read afterwards is sure to be at least it.
        let now = status_kb("VmRSS:").expect("VmRSS in /proc/self/status");
        let peak = status_kb("VmHWM:").expect("VmHWM in /proc/self/status");
        assert!(now > 100, "a test process holds more than 100 KiB: {now}");
        // The kernel folds each thread's cached RSS counts into the process's, and updates
        // the high-water mark, in batches: the peak may trail the current size by a few
        // hundred KiB (seen: 4 KiB on a busy CI run), never by megabytes.
        assert!(peak + 4096 >= now, "the peak {peak} is about the current {now} or more");
    }
}
