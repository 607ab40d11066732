//! The test suite's Kubernetes-wire API server (tests/common/kube_api.rs, included as it is)
//! as a process, for `scripts/bench.sh --cluster`: it serves a build's objects as a cluster
//! that applied them, with some drifted and some missing, so that `meshgen diff --cluster`
//! has a real comparison to make, and counts the requests it answered.
//!
//! ```text
//! kube_api_server --objects FILE --kubeconfig OUT [--change-every N] [--drop-every N]
//! ```
//!
//! `FILE` is what `meshgen build --stdout` printed. Every object becomes live (uid,
//! resourceVersion, managedFields, last-applied annotation, status); every `N`th of
//! `--change-every` (default 100) carries a label the inventory does not have (an update),
//! every `N`th of `--drop-every` (default 250) is left out (a create). The kubeconfig (HTTPS
//! with the server's own CA, a bearer token) goes to `OUT`. Then the server prints `ready
//! URL OBJECTS` and reads commands on stdin, one a line, answering each with one line:
//!
//! - `log PATH`: the requests since the last `log` or `clear`, one a line (`METHOD
//!   PATH?QUERY`), to `PATH`; answers `logged N`.
//! - `clear`: forgets the requests so far; answers `cleared N`.
//! - `quit`, or the end of stdin: stops.
//!
//! It is an example, not part of the `meshgen` binary: it needs the test-only TLS crates.

#[path = "../tests/common/kube_api.rs"]
mod kube_api;

use std::io::{BufRead as _, Write as _};

use serde_json::{Value, json};

fn main() -> Result<(), String> {
    let (mut objects, mut kubeconfig, mut change_every, mut drop_every) = (None, None, 100usize, 250usize);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--objects" => objects = Some(value()?),
            "--kubeconfig" => kubeconfig = Some(value()?),
            "--change-every" => change_every = value()?.parse().map_err(|e| format!("--change-every: {e}"))?,
            "--drop-every" => drop_every = value()?.parse().map_err(|e| format!("--drop-every: {e}"))?,
            _ => return Err(format!("unknown argument `{arg}`")),
        }
    }
    let usage = "usage: kube_api_server --objects FILE --kubeconfig OUT [--change-every N] [--drop-every N]";
    let (objects, kubeconfig) = (objects.ok_or(usage)?, kubeconfig.ok_or(usage)?);
    let text = std::fs::read_to_string(&objects).map_err(|e| format!("{objects}: {e}"))?;
    let docs = meshgen::yaml::parse_all(&text).map_err(|e| format!("{objects}: {e}"))?;
    drop(text);
    let live = cluster(docs, change_every.max(1), drop_every.max(1));
    let count = live.len();
    let server = kube_api::ApiServer::start(live);
    std::fs::write(&kubeconfig, server.kubeconfig(&server.token)).map_err(|e| format!("{kubeconfig}: {e}"))?;
    let mut out = std::io::stdout().lock();
    let say = |out: &mut std::io::StdoutLock<'_>, line: String| {
        writeln!(out, "{line}").and_then(|()| out.flush()).map_err(|e| format!("stdout: {e}"))
    };
    say(&mut out, format!("ready {} {count}", server.url))?;
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| format!("stdin: {e}"))?;
        match line.split_once(' ') {
            Some(("log", path)) => {
                let requests = std::mem::take(&mut server.state.lock().map_err(|_| "the server panicked")?.requests);
                write_log(path, &requests)?;
                say(&mut out, format!("logged {}", requests.len()))?;
            }
            _ if line == "clear" => {
                let requests = std::mem::take(&mut server.state.lock().map_err(|_| "the server panicked")?.requests);
                say(&mut out, format!("cleared {}", requests.len()))?;
            }
            _ if line == "quit" => break,
            _ => say(&mut out, format!("error: unknown command `{line}`"))?,
        }
    }
    Ok(())
}

/// The live objects of a cluster that applied `docs`, less every `drop_every`th, every
/// `change_every`th with a label of its own.
fn cluster(docs: Vec<Value>, change_every: usize, drop_every: usize) -> Vec<Value> {
    let mut live = Vec::with_capacity(docs.len());
    for (i, doc) in docs.into_iter().enumerate().filter(|(i, _)| (i + 1) % drop_every != 0) {
        let mut o = kube_api::live(doc, i);
        if (i + 1) % change_every == 0 {
            o["metadata"]["labels"]["bench.meshgen.dev/drift"] = json!("edited by hand");
        }
        live.push(o);
    }
    // The server sorts each list by namespace and name unless the objects already are.
    let key = |o: &Value| {
        (o["metadata"]["namespace"].as_str().map(str::to_string), o["metadata"]["name"].as_str().map(str::to_string))
    };
    live.sort_by_cached_key(key);
    live
}

/// Writes the requests to `path` (through a temporary file, so a reader never sees half).
fn write_log(path: &str, requests: &[kube_api::Recorded]) -> Result<(), String> {
    let mut text = String::new();
    for r in requests {
        let query: Vec<String> = r.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        text.push_str(&format!("{} {}?{}\n", r.method, r.path, query.join("&")));
    }
    let tmp = format!("{path}.tmp");
    std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, path)).map_err(|e| format!("{path}: {e}"))
}
