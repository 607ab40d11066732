//! Writes a synthetic inventory for benchmarks (see `tests/common/synth.rs`).
//!
//! ```text
//! cargo run --release --example gen_inventory -- --services 10000 --seed 1 --out /tmp/inv10k
//! ```
//!
//! Then `meshgen build -C /tmp/inv10k` compiles it. The output directory must not exist or
//! must be empty; the same `--services` and `--seed` always give the same files.

use std::path::PathBuf;
use std::process::ExitCode;

/// The synthetic-estate generator, shared with the tests and the benchmarks.
#[path = "../tests/common/synth.rs"]
mod synth;

const USAGE: &str = "usage: gen_inventory --services N [--seed S] --out DIR";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), String> {
    let mut services: Option<usize> = None;
    let mut seed: u64 = 1;
    let mut out: Option<PathBuf> = None;
    // A few flags do not justify pulling clap's derive into an example; `--flag value` and
    // `--flag=value` are both accepted.
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (arg.clone(), None),
        };
        if flag == "-h" || flag == "--help" {
            println!("{USAGE}");
            return Ok(());
        }
        let mut value = || inline.clone().or_else(|| args.next()).ok_or(format!("`{flag}` needs a value"));
        match flag.as_str() {
            "--services" | "-n" => {
                services = Some(value()?.parse().map_err(|e| format!("--services: {e}"))?);
            }
            "--seed" => seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--out" | "-o" => out = Some(PathBuf::from(value()?)),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    let services = services.ok_or("--services is required")?;
    let out = out.ok_or("--out is required")?;
    let started = std::time::Instant::now();
    let s = synth::generate(services, seed, &out).map_err(|e| format!("{}: {e}", out.display()))?;
    eprintln!(
        "wrote {} services ({} on VMs with {} instances, {} on pods) and {} external APIs in {} namespaces, \
         {} dependencies, {} files, {:.1} MB into `{}` in {:.2} s",
        s.services,
        s.vm_services,
        s.vms,
        s.pod_services,
        s.externals,
        s.namespaces,
        s.dependencies,
        s.files,
        s.bytes as f64 / 1e6,
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
