//! `--timings`: how long each stage of a compile and of the command after it took, printed
//! to stderr when it ends.
//!
//! The benchmark script measures whole processes; this says where inside one the time went
//! (load, model, graph, check, render, write...), on the user's own inventory, without a
//! profiler. Marks are taken always (an `Instant::now` and a read of `/proc/self/status`
//! each, tens of microseconds, a handful per run) and printed only when asked for.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// The stages of one run, in the order they ended, with the resident memory (KiB) at the
/// end of each where the system says it.
#[derive(Debug, Clone)]
pub struct Timings {
    start: Instant,
    last: Instant,
    stages: Vec<(&'static str, Duration, Option<u64>)>,
}

impl Default for Timings {
    fn default() -> Self {
        let now = Instant::now();
        Timings { start: now, last: now, stages: Vec::new() }
    }
}

impl Timings {
    /// Ends the stage `name`: the time since the previous mark (or the start) is its own.
    pub fn mark(&mut self, name: &'static str) {
        self.mark_at(name, Instant::now());
    }

    /// Ends the stage `name` at `end`, taken when it ended (on the thread that ran it, while
    /// the next stage began beside it): the next stage's time starts there.
    pub fn mark_at(&mut self, name: &'static str, end: Instant) {
        let end = end.max(self.last);
        self.stages.push((name, end - self.last, status_kb("VmRSS:")));
        self.last = end;
    }

    /// Each stage so far, in order: its name and how long it took.
    pub fn stages(&self) -> impl Iterator<Item = (&'static str, Duration)> + '_ {
        self.stages.iter().map(|(name, took, _)| (*name, *took))
    }

    /// The time from the start to the last mark.
    pub fn total(&self) -> Duration {
        self.last - self.start
    }

    /// The table printed by `--timings`: one line per stage with its share of the total and
    /// the resident memory after it, and the process's peak resident memory.
    pub fn report(&self) -> String {
        let total = self.total();
        let mut out = String::from("timings:\n");
        for (name, took, rss) in &self.stages {
            let share = if total.is_zero() { 0.0 } else { took.as_secs_f64() / total.as_secs_f64() * 100.0 };
            let _ = write!(out, "  {name:<11} {:>9.1} ms {share:>5.1}%", millis(*took));
            if let Some(kb) = rss {
                let _ = write!(out, "  {:>6} MB", mb(*kb));
            }
            out.push('\n');
        }
        let _ = write!(out, "  {:<11} {:>9.1} ms", "total", millis(total));
        if let Some(kb) = status_kb("VmHWM:") {
            let _ = write!(out, "         peak {} MB", mb(kb));
        }
        out.push('\n');
        out
    }
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
        let sum: Duration = t.stages.iter().map(|(_, d, _)| *d).sum();
        assert_eq!(sum, t.last - t.start);
        assert!(t.stages[0].1 >= Duration::from_millis(2));
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
        assert!(t.stages[0].1 >= Duration::from_millis(3) && t.stages[0].1 <= check_ended - t.start);
        assert!(t.stages[1].1 >= Duration::from_millis(3), "{:?}", t.stages);
        // An end before the previous mark is that mark: no stage takes negative time.
        t.mark_at("late", start);
        assert_eq!(t.stages[2].1, Duration::ZERO);
        let sum: Duration = t.stages.iter().map(|(_, d, _)| *d).sum();
        assert_eq!(sum, t.total());
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
