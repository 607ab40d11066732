//! Parse throughput of meshgen's two YAML readers on every `*.yaml` file under a directory,
//! on one thread (docs/decisions.md, "YAML reader", has the numbers and the comparison with
//! other readers).
//!
//! ```text
//! cargo run --release --example yaml_throughput -- DIR [ROUNDS]
//! cargo run --release --example yaml_throughput -- --floor DIR
//! ```
//!
//! Prints, per reader, MB/s at the median of the rounds (default 5) and how many files the
//! fast reader declined (those the complete reader reads in a build). With `--floor`, reads
//! and parses every file once with the reader a build uses (`meshgen::yaml::parse_all`) and
//! prints the seconds of each, tab-separated (`read S parse S MB`): the floor of the
//! inventory-reading stages that `scripts/bench.sh` reports.

use std::path::Path;
use std::time::Instant;

fn files(dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files(&p, out)?;
        } else if p.extension().is_some_and(|e| e == "yaml") {
            out.push(std::fs::read_to_string(&p)?);
        }
    }
    Ok(())
}

/// Reads one text; `None` when the reader declines it.
type Reader = fn(&str) -> Option<usize>;

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1).peekable();
    let floor = args.next_if_eq("--floor").is_some();
    let dir = args.next().ok_or("usage: yaml_throughput DIR [ROUNDS] | yaml_throughput --floor DIR")?;
    if floor {
        let started = Instant::now();
        let mut texts = Vec::new();
        files(Path::new(&dir), &mut texts).map_err(|e| format!("{dir}: {e}"))?;
        let read = started.elapsed().as_secs_f64();
        let bytes: usize = texts.iter().map(String::len).sum();
        // The documents are kept, as a build keeps them for the model: freeing is not parsing.
        let started = Instant::now();
        let docs = texts.iter().map(|t| meshgen::yaml::parse_all(t)).collect::<Result<Vec<_>, _>>();
        let parse = started.elapsed().as_secs_f64();
        std::hint::black_box(docs.map_err(|e| e.to_string())?);
        println!("read\t{read:.4}\tparse\t{parse:.4}\tMB\t{:.1}", bytes as f64 / 1e6);
        return Ok(());
    }
    let rounds: usize = args.next().map_or(Ok(5), |r| r.parse()).map_err(|e| format!("ROUNDS: {e}"))?;
    let mut texts = Vec::new();
    files(Path::new(&dir), &mut texts).map_err(|e| format!("{dir}: {e}"))?;
    let bytes: usize = texts.iter().map(String::len).sum();
    println!("{} files, {:.1} MB", texts.len(), bytes as f64 / 1e6);
    let readers: [(&str, Reader); 3] = [
        ("fast subset reader", |t| meshgen::yaml::parse_subset(t).map(|d| d.len())),
        ("complete reader", |t| meshgen::yaml::parse_full(t).ok().map(|d| d.len())),
        ("parse (subset, else complete)", |t| meshgen::yaml::parse_all(t).ok().map(|d| d.len())),
    ];
    for (name, read) in readers {
        let mut times = Vec::with_capacity(rounds.max(1));
        let mut declined = 0;
        for _ in 0..rounds.max(1) {
            let started = Instant::now();
            declined = texts.iter().filter(|t| std::hint::black_box(read(t)).is_none()).count();
            times.push(started.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        println!("{name}\t{:.1} MB/s\t(median {median:.3} s)\tdeclined {declined}", bytes as f64 / 1e6 / median);
    }
    Ok(())
}
