//! `meshgen build --stdout` renders while it writes (a few namespaces' text in memory, not the
//! estate's): what it writes must be what the held rendering writes, and nothing at all when
//! the inventory has errors, wherever in the output they would have been.

use crate::common;

use std::io::Read as _;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{meshgen, project};

#[test]
fn streamed_stdout_is_the_held_rendering_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let stats = common::synth::generate(400, 9, tmp.path()).unwrap();
    assert!(stats.namespaces >= 5, "{stats:?}");
    let streamed = meshgen(tmp.path(), &["build", "--stdout"]);
    assert_eq!(streamed.code, 0, "{}", streamed.stderr);

    // Overridden templates are verified object by object before anything is written, so
    // they take the held path; these are the built-ins, copied, so the text must not change.
    let r = meshgen(tmp.path(), &["templates", "eject", "--to", "copied"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let held = meshgen(tmp.path(), &["build", "--stdout", "--templates", "copied"]);
    assert_eq!(held.code, 0, "{}", held.stderr);
    assert!(streamed.stdout == held.stdout, "streamed and held output differ");

    // Many namespaces, each handed over in its turn, in order.
    let namespaces: Vec<&str> =
        streamed.stdout.lines().filter_map(|l| l.strip_prefix("  namespace: ")).fold(Vec::new(), |mut seen, ns| {
            if seen.last() != Some(&ns) {
                seen.push(ns);
            }
            seen
        });
    let mut sorted = namespaces.clone();
    sorted.sort();
    sorted.dedup();
    assert!(namespaces.len() >= 5, "{namespaces:?}");
    assert_eq!(namespaces, sorted, "each namespace once, in order");
}

/// A collision in the last namespace of the output: the first ones are fine, and would be
/// written already if the check came as they are rendered.
#[test]
fn a_collision_anywhere_writes_nothing() {
    let inventory = "\
services:
  api:
    namespace: zz-last
    host: api.apps.internal
    ports: {http: 8080}
    vms: [{address: 10.4.0.1, name: web-1}]
  web:
    namespace: zz-last
    host: web.apps.internal
    ports: {http: 8080}
    vms: [{address: 10.4.0.2, name: web-1}]
  first:
    namespace: aa-first
    host: first.apps.internal
    ports: {http: 8080}
    vms: [{address: 10.4.0.3}]
";
    let tmp = project(&[
        ("meshgen.yaml", "inventory: [inventory]\ndefaults: {namespace: apps}\n"),
        ("inventory/example.yaml", inventory),
    ]);
    let r = meshgen(tmp.path(), &["build", "--stdout"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.stdout, "", "nothing is written");
    assert!(r.stderr.contains("error[name-collision]: WorkloadEntry `zz-last/web-1`"), "{}", r.stderr);
    assert!(r.stderr.contains("nothing was written"), "{}", r.stderr);
}

/// A reader that goes away mid-stream (`meshgen build --stdout | head`): the workers stop
/// and the build ends quietly, as a closed stdout always does, without a panic or a hang.
#[test]
fn a_closed_stdout_stops_the_stream() {
    let tmp = tempfile::tempdir().unwrap();
    common::synth::generate(300, 2, tmp.path()).unwrap();
    let mut child = common::command()
        .args(["build", "--stdout"])
        .current_dir(tmp.path())
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read the first bytes only, then hang up: far less than the output (over a megabyte).
    let mut first = [0u8; 100];
    child.stdout.as_mut().unwrap().read_exact(&mut first).unwrap();
    assert!(first.starts_with(b"apiVersion: "), "{}", String::from_utf8_lossy(&first));
    drop(child.stdout.take());
    // Workers waiting for a turn that never comes would hang the build: give it a minute.
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("the build did not end after its stdout closed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// The identities a streamed build checks are the objects it renders: the same kinds,
/// namespaces, names and entities, in the same order, for every fixture, the bundled
/// project and a synthetic estate (the identities skip the template contexts, so each
/// decision must be taken the same way).
#[test]
fn identities_are_the_rendered_objects() {
    use meshgen::render::context::{identities_in, objects_in};
    let tmp = tempfile::tempdir().unwrap();
    common::synth::generate(200, 4, tmp.path()).unwrap();
    let mut dirs: Vec<std::path::PathBuf> = common::fixtures().into_iter().map(|(_, d)| d).collect();
    dirs.push(tmp.path().to_path_buf());
    dirs.push(common::root());
    for dir in dirs {
        let (inv, graph) = common::compile_model(&dir);
        // The position after the last entity is the project's own objects (the shared egress
        // Gateway), which stream with the namespace they are in.
        let all = 0..inv.services.len() + inv.externals.len() + 1;
        let objects: Vec<_> = objects_in(&inv, &graph, all.clone())
            .iter()
            .map(|o| (o.kind, o.namespace.to_string(), o.name.clone(), o.entity.to_string()))
            .collect();
        let identities: Vec<_> = identities_in(&inv, &graph, all)
            .iter()
            .map(|i| (i.kind, i.namespace.to_string(), i.name.to_string(), i.entity.to_string()))
            .collect();
        assert!(!objects.is_empty(), "{}", dir.display());
        assert_eq!(identities, objects, "{}", dir.display());
    }
}
