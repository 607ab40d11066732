//! The benchmark inventory generator (`tests/common/synth.rs`): what it writes must stay a clean,
//! valid inventory as the language evolves, or the benchmarks would time error paths.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use meshgen::diag::Diagnostics;
use meshgen::{check, graph, load, model, render};

#[path = "common/synth.rs"]
mod synth;

/// Every file under `dir`, by relative path.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.insert(load::display_name(dir, &path), std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

#[test]
fn a_generated_inventory_compiles_without_findings() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("project");
    let stats = synth::generate(300, 7, &root).unwrap();
    assert_eq!(stats.services, 300);
    assert_eq!(stats.externals, 30);
    assert_eq!(stats.vms, stats.vm_services * 5);
    assert!(stats.vm_services > 200 && stats.pod_services > 0, "{stats:?}");
    assert!(stats.namespaces >= 6 && stats.files >= 16, "{stats:?}");

    let mut diags = Diagnostics::default();
    let ps = load::project_file(&root.join(load::PROJECT_FILE), load::Limits::default(), &mut diags).unwrap();
    let project = model::project::parse(&ps, &mut diags);
    let sources =
        load::inventory(&project.root, &project.inventory, std::slice::from_ref(&ps.path), project.limits, &mut diags)
            .unwrap();
    assert_eq!(sources.len(), stats.files);
    let inv = model::build(&project, &sources, &mut diags);
    let g = graph::build(&inv, &mut diags);
    check::run(&inv, &g, &mut diags);
    let templates = render::Templates::load(None).unwrap();
    let manifests = render::render(&inv, &g, &templates, &mut diags).unwrap();
    // No errors and no warnings (the benchmarks would time the diagnostics otherwise): the
    // dependency graph is acyclic by construction, every external API has a consumer.
    assert!(diags.is_empty(), "{:#?}", diags.sorted());
    assert_eq!(inv.services.len() + inv.externals.len(), 330);
    let edges: usize = inv.services.iter().map(|s| s.depends_on.len()).sum();
    assert_eq!(edges, stats.dependencies);
    // Every VM service yields a ServiceEntry, 5 WorkloadEntries and a DestinationRule at least.
    assert!(manifests.len() > stats.vm_services * 7, "{} manifests", manifests.len());
    // The output order (namespace, kind, name), where each render thread sorts its own
    // namespaces, across namespaces holding both services and external APIs.
    let key = |m: &render::Manifest| (m.namespace.clone(), m.kind, m.name.clone());
    let mut sorted = manifests.clone();
    sorted.sort_by_key(key);
    assert!(manifests.iter().map(key).eq(sorted.iter().map(key)), "manifests out of order");
    let shared = inv.externals.iter().filter(|e| inv.services.iter().any(|s| s.namespace == e.namespace)).count();
    assert!(shared > 0, "no namespace holds both a service and an external API");
}

#[test]
fn the_same_seed_gives_the_same_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, c) = (tmp.path().join("a"), tmp.path().join("b"), tmp.path().join("c"));
    synth::generate(120, 3, &a).unwrap();
    synth::generate(120, 3, &b).unwrap();
    synth::generate(120, 4, &c).unwrap();
    assert_eq!(tree(&a), tree(&b));
    assert_ne!(tree(&a), tree(&c));
}

#[test]
fn addresses_are_unique_across_the_estate() {
    let tmp = tempfile::tempdir().unwrap();
    let stats = synth::generate(400, 1, tmp.path()).unwrap();
    let mut seen = BTreeSet::new();
    for text in tree(tmp.path()).values() {
        let text = std::str::from_utf8(text).unwrap();
        // Instances (`address: 10.…`) and virtual IPs (`addresses: [10.…]`) alike.
        for (i, m) in text.match_indices("address: ").chain(text.match_indices("addresses: [")) {
            let addr: String = text[i + m.len()..].chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
            if !addr.is_empty() {
                assert!(addr.parse::<std::net::Ipv4Addr>().is_ok(), "{addr}");
                assert!(seen.insert(addr.clone()), "{addr} is used twice");
            }
        }
    }
    assert!(seen.len() >= stats.vms, "{} addresses for {} VMs", seen.len(), stats.vms);
}

#[test]
fn a_non_empty_directory_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("keep.txt"), "x").unwrap();
    let err = synth::generate(10, 1, tmp.path()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
    assert!(tmp.path().join("keep.txt").exists());
}
