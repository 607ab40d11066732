//! The benchmark inventory generator (`tests/common/synth.rs`): what it writes must stay a clean,
//! valid inventory as the language evolves, or the benchmarks would time error paths.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use meshgen::{Compiled, Goal, Options, Rendered, load, render};

use crate::common::synth;

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

    // What `meshgen build` runs: every stage and every check.
    let (c, manifests) = build(&Options::new(&root));
    // The project file, then the inventory.
    assert_eq!(c.sources.len(), 1 + stats.files);
    let inv = c.inventory.as_ref().unwrap();
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
fn the_graph_finds_every_entity_by_name_and_nothing_else() {
    // The graph's index keeps node positions only and compares names in the nodes: every
    // entity must be found as itself, with its origin and edges, and no name as another.
    let (inv, graph) = generated_model(11);
    let entities: Vec<(&String, &meshgen::diag::Origin)> = inv
        .services
        .iter()
        .map(|s| (&s.name, &s.origin))
        .chain(inv.externals.iter().map(|e| (&e.name, &e.origin)))
        .collect();
    let declared: BTreeSet<&str> = entities.iter().map(|(n, _)| n.as_str()).collect();
    let mut n = 0;
    for (name, origin) in &entities {
        let node = graph.node(name).unwrap_or_else(|| panic!("`{name}` is not in the graph"));
        assert_eq!(&node.name, *name);
        assert_eq!(node.origin(&inv), *origin, "{name}");
        n += 1;
        // A prefix, a suffix and a case change are other names: found only as themselves,
        // when the inventory declares them too.
        for other in [&name[..name.len() - 1], &format!("{name}x"), &name.to_uppercase()] {
            match graph.node(other) {
                Some(found) => {
                    assert!(found.name == other && declared.contains(other), "`{}` for `{other}`", found.name)
                }
                None => assert!(!declared.contains(other), "`{other}` is declared but not found"),
            }
        }
    }
    assert_eq!(graph.size().0, n);
    for s in &inv.services {
        let mut targets: Vec<&str> = s.depends_on.iter().map(|d| &*d.target).collect();
        targets.sort_unstable();
        targets.dedup();
        let found: Vec<&str> = graph.dependencies(&s.name).iter().map(|n| n.name.as_str()).collect();
        assert_eq!(found, targets, "dependencies of `{}`", s.name);
        for d in &s.depends_on {
            assert!(graph.consumers(&d.target).iter().any(|c| c.name == s.name), "`{}` calls `{}`", s.name, d.target);
        }
    }
}

#[test]
fn what_the_entities_of_a_file_hold_in_common_is_held_once() {
    // The model keeps one copy per inventory file of the defaults' traffic policy and of
    // each locality, network, service account and pair of the two of its workloads (memory
    // at 100,000 services): equal values of one file must be one allocation.
    let (inv, _) = generated_model(5);
    let defaults = meshgen::model::traffic::Traffic::default().over(&inv.project.defaults.traffic);
    let mut by_file: BTreeMap<&str, Vec<&meshgen::model::Service>> = BTreeMap::new();
    for s in &inv.services {
        by_file.entry(&s.origin.file).or_default().push(s);
    }
    let (mut shared_policies, mut shared_strings) = (0, 0);
    for (file, services) in by_file {
        // The generator writes no `traffic` equal to the defaults: these services wrote none.
        let inherited: Vec<_> = services.iter().filter(|s| *s.traffic == defaults).collect();
        for s in &inherited[1..] {
            assert!(std::sync::Arc::ptr_eq(&s.traffic, &inherited[0].traffic), "{file}: `{}`", s.name);
            shared_policies += 1;
        }
        let mut first: BTreeMap<&str, &std::sync::Arc<str>> = BTreeMap::new();
        let mut identities: Vec<&std::sync::Arc<meshgen::model::Identity>> = Vec::new();
        for vm in services.iter().flat_map(|s| &s.vms) {
            let identity = vm.identity.as_ref();
            let (network, account) =
                (identity.and_then(|i| i.network.as_ref()), identity.and_then(|i| i.service_account.as_ref()));
            for value in [vm.locality.as_ref(), network, account].into_iter().flatten() {
                let one = first.entry(value).or_insert(value);
                assert!(std::sync::Arc::ptr_eq(one, value), "{file}: `{value}` is held twice");
                shared_strings += !std::ptr::eq(*one, value) as usize;
            }
            if let Some(identity) = identity {
                match identities.iter().find(|i| **i == identity) {
                    Some(one) => assert!(std::sync::Arc::ptr_eq(one, identity), "{file}: {identity:?} is held twice"),
                    None => identities.push(identity),
                }
            }
        }
    }
    assert!(shared_policies > 100 && shared_strings > 1000, "{shared_policies} policies, {shared_strings} strings");
}

/// The model and graph of a generated estate of 300 services.
fn generated_model(seed: u64) -> (meshgen::model::Inventory, meshgen::graph::MeshGraph) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("project");
    synth::generate(300, seed, &root).unwrap();
    crate::common::compile_model(&root)
}

/// Compiles into held manifests; panics on any finding (the benchmarks would time the
/// diagnostics otherwise: the dependency graph is acyclic by construction, every external API
/// has a consumer).
fn build(options: &Options) -> (Compiled, Vec<render::Manifest>) {
    let mut c = meshgen::compile(&Options { goal: Goal::Manifests, ..options.clone() }).unwrap();
    assert!(c.diags.is_empty(), "{:#?}", c.diags.clone().sorted());
    let Some(Rendered::Manifests(manifests)) = c.rendered.take() else { panic!("nothing rendered") };
    (c, manifests)
}

/// A generated estate built as users build theirs: for an environment whose overlay patches
/// an entity, with virtual IPs allocated for the TCP services that have no addresses.
#[test]
fn a_generated_estate_builds_for_an_environment_with_virtual_ips() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("project");
    synth::generate(200, 5, &root).unwrap();
    // An entity with an HTTP route, whose timeout an overlay changes.
    let (_, base) = build(&Options::new(&root));
    let routed = |m: &&render::Manifest| m.kind.as_str() == "VirtualService" && m.text.contains("timeout: ");
    let target = base.iter().find(routed).expect("a VirtualService with a timeout").entity.to_string();

    // The TCP services' own virtual IPs go: `vipRange` allocates theirs.
    let mut stripped = 0;
    for file in tree(&root.join("inventory")).into_keys() {
        let path = root.join("inventory").join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        let kept: Vec<&str> = text.lines().filter(|l| !l.starts_with("    addresses: [172.16.")).collect();
        stripped += text.lines().count() - kept.len();
        std::fs::write(&path, kept.join("\n") + "\n").unwrap();
    }
    assert!(stripped > 0, "the estate has TCP services");
    let project = std::fs::read_to_string(root.join(load::PROJECT_FILE)).unwrap()
        + "vipRange: 240.240.0.0/16\nenvironments:\n  staging:\n    overlays: [environments/staging]\n";
    std::fs::write(root.join(load::PROJECT_FILE), project).unwrap();
    std::fs::create_dir_all(root.join("environments/staging")).unwrap();
    let overlay = format!("services:\n  {target}:\n    traffic: {{timeout: 42s}}\n");
    std::fs::write(root.join("environments/staging/timeouts.yaml"), overlay).unwrap();

    let (c, manifests) = build(&Options { environment: Some("staging".into()), ..Options::new(&root) });
    assert_eq!(c.project.environment.as_deref(), Some("staging"));
    assert_eq!(c.project.output, root.join("out-staging"));
    let table = meshgen::model::vips::parse(c.vip_file.as_deref().expect("a VIP table"));
    assert_eq!(table.len(), stripped, "one VIP per TCP service without addresses");
    assert!(table.values().all(|ip| ip.octets()[..2] == [240, 240]), "{table:?}");
    assert!(c.sources.iter().any(|s| &*s.name == "environments/staging/timeouts.yaml"));
    let patched = manifests.iter().filter(routed).any(|m| *m.entity == *target && m.text.contains("timeout: \"42s\""));
    assert!(patched, "the overlay's timeout reaches `{target}`'s VirtualService");
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
