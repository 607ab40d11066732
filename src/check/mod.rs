//! Stage 3b, `check`: what Istio would accept but what would not work, found across the
//! whole estate before any YAML exists.
//!
//! The model stage validates each entity on its own; this stage looks across entities and
//! along the graph: two claims on one host, overlapping virtual IPs, TCP services that
//! Istio cannot tell apart, dependencies that cannot see their target, subsets that select
//! nothing, splits that do not add up. Every rule works through an index (host → claims,
//! port → services, sorted address ranges), never by comparing every pair of entities, so
//! the cost stays linear in the size of the inventory.

mod egress;
mod ingress;
mod policy;
mod routes;
mod rules;

use std::collections::BTreeSet;

use foldhash::HashMap;

use crate::diag::Diagnostics;
use crate::graph::MeshGraph;
use crate::model::{ExportTo, Inventory};

/// What the rules read: the inventory, its graph and each entity's visibility.
struct Cx<'a> {
    inv: &'a Inventory,
    graph: &'a MeshGraph,
    vis: Visibilities<'a>,
}

/// Each entity's visibility, by its position in the inventory: an index, where a table
/// keyed by name cost a cache miss per lookup at 100,000 services (and its memory, first
/// touched, a page fault per few entries).
pub(crate) struct Visibilities<'a> {
    services: Vec<Visibility<'a>>,
    externals: Vec<Visibility<'a>>,
}

impl<'a> Visibilities<'a> {
    /// The visibility of service `i`.
    pub(crate) fn service(&self, i: usize) -> &Visibility<'a> {
        &self.services[i]
    }

    /// The visibility of external API `i`.
    pub(crate) fn external(&self, i: usize) -> &Visibility<'a> {
        &self.externals[i]
    }

    /// The visibility of the entity a graph node stands for.
    pub(crate) fn of_node(&self, node: &crate::graph::Node) -> &Visibility<'a> {
        match node.kind {
            crate::graph::NodeKind::Service => self.service(node.entity),
            crate::graph::NodeKind::External => self.external(node.entity),
        }
    }
}

/// A cross-entity rule: it reads the inventory and writes only its own findings.
type Rule = fn(&Cx, &mut Diagnostics);

/// The rules, independent of each other: [`crate::par::tasks`] runs them on every core, a
/// thread done with its share taking from the others', so the list's order is only the
/// reading order. Their
/// findings are gathered in list order, and diagnostics are sorted before anyone reads them.
const RULES: &[Rule] = &[
    |cx, d| rules::host_claims(cx.inv, &cx.vis, d),
    |cx, d| egress::gateway_conflicts(cx.inv, d),
    |cx, d| egress::gateway_ports(cx.inv, d),
    |cx, d| rules::address_overlaps(cx.inv, d),
    |cx, d| ingress::run(cx.inv, d),
    |cx, d| rules::tcp_port_clashes(cx.inv, &cx.vis, d),
    |cx, d| rules::dependency_visibility(cx.inv, cx.graph, &cx.vis, d),
    |cx, d| rules::shared_instance_addresses(cx.inv, d),
    |cx, d| rules::subsets_and_splits(cx.inv, d),
    |cx, d| rules::identities_and_tls(cx.inv, d),
    |cx, d| policy::dependency_ports(cx.inv, cx.graph, d),
    |cx, d| policy::coverage(cx.inv, cx.graph, d),
    |cx, d| policy::selector_overlaps(cx.inv, d),
    |cx, d| routes::route_targets(cx.inv, cx.graph, &cx.vis, d),
    |cx, d| routes::retry_timeouts(cx.inv, d),
    |cx, d| routes::sni_hosts(cx.inv, d),
    |cx, d| policy::credentials(cx.inv, cx.graph, d),
];

/// Runs every cross-entity rule.
pub fn run(inv: &Inventory, graph: &MeshGraph, diags: &mut Diagnostics) {
    // Each entity's visibility, computed once (it asks the graph for consumers), on every
    // core: at 100,000 services, a set per service built from its consumers' nodes.
    let vis = Visibilities {
        services: crate::par::map_owned(inv.services.iter().collect(), |s| {
            Visibility::of(s.export_to.as_ref(), &s.namespace, &s.name, graph)
        }),
        externals: inv.externals.iter().map(|e| egress::visibility(e, graph)).collect(),
    };
    let cx = Cx { inv, graph, vis };
    for found in crate::par::tasks(RULES, &cx) {
        diags.extend(found);
    }
    // Not one of the list: it stays quiet when anything, earlier stages or the rules above,
    // found errors (a misspelt dependency has its error; the API it meant is not unused).
    rules::unused_externals(inv, graph, diags);
}

/// Calls `group` with every set of positions in `0..n` whose keys are equal, when there are
/// two or more, each set in increasing position (the sets in no particular order).
///
/// A sorted vector of hashes, not a hash table: at 100,000 services a table of every host or
/// VM address (half a million entries, each with its key) no longer fits any cache, and its
/// fresh memory is zeroed page by page; the vector is 16 bytes an entry, sorted in place,
/// and keys are compared only where hashes are equal (the same key, or a rare collision).
pub(crate) fn repeated_keys<K: std::hash::Hash + Ord>(n: usize, key: impl Fn(usize) -> K, group: impl FnMut(&[usize])) {
    use std::hash::BuildHasher;
    let state = foldhash::fast::FixedState::with_seed(0x6d65_7368);
    repeated_hashed((0..n).map(|i| (state.hash_one(key(i)), i as u32)).collect(), key, group);
}

/// [`repeated_keys`] where the keys' hashes are already made: `hashes` holds `(hash, i)`
/// for every position `i` (in any order), equal keys having equal hashes.
pub(crate) fn repeated_hashed<K: Ord>(
    mut hashes: Vec<(u64, u32)>,
    key: impl Fn(usize) -> K,
    mut group: impl FnMut(&[usize]),
) {
    // Integers only: equal hashes end up adjacent, in input order.
    hashes.sort_unstable();
    let mut run = Vec::new();
    let mut start = 0;
    while start < hashes.len() {
        let h = hashes[start].0;
        let end = start + hashes[start..].iter().take_while(|e| e.0 == h).count();
        if end - start > 1 {
            run.clear();
            run.extend(hashes[start..end].iter().map(|&(_, i)| i as usize));
            let first = key(run[0]);
            if run[1..].iter().all(|&i| key(i) == first) {
                group(&run);
            } else {
                // A collision: the run split by key, each part in input order.
                run.sort_by(|&a, &b| key(a).cmp(&key(b)).then(a.cmp(&b)));
                for part in run.chunk_by(|&a, &b| key(a) == key(b)).filter(|part| part.len() > 1) {
                    group(part);
                }
            }
        }
        start = end;
    }
}

/// The namespaces that can see an entity's objects, borrowed from the inventory and its
/// graph (a copy of each name per entity was most of the cost of computing them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Visibility<'a> {
    /// Every namespace (`*`, or no exportTo).
    All,
    /// These namespaces only (possibly none, for `~`).
    Only(BTreeSet<&'a str>),
}

impl<'a> Visibility<'a> {
    /// The visibility of an entity in `namespace` named `name`.
    pub(crate) fn of(
        export_to: Option<&'a ExportTo>,
        namespace: &'a str,
        name: &str,
        graph: &'a MeshGraph,
    ) -> Visibility<'a> {
        match export_to {
            None => Visibility::All,
            Some(ExportTo::Consumers) => {
                let mut set = graph.consumer_namespaces(name);
                set.insert(namespace);
                Visibility::Only(set)
            }
            Some(ExportTo::Namespaces(list)) => Visibility::listed(list.iter().map(String::as_str), namespace),
        }
    }

    /// The namespaces of an exportTo list, as Istio reads them: `*` every one, `.` the
    /// entity's own (`namespace`), `~` none.
    pub(crate) fn listed(list: impl Iterator<Item = &'a str> + Clone, namespace: &'a str) -> Visibility<'a> {
        if list.clone().any(|n| n == "*") {
            return Visibility::All;
        }
        Visibility::Only(list.filter(|n| *n != "~").map(|n| if n == "." { namespace } else { n }).collect())
    }

    /// Whether `namespace` sees the entity.
    pub(crate) fn includes(&self, namespace: &str) -> bool {
        match self {
            Visibility::All => true,
            Visibility::Only(set) => set.contains(namespace),
        }
    }

    /// Whether some namespace sees both.
    pub(crate) fn overlaps(&self, other: &Visibility<'_>) -> bool {
        match (self, other) {
            (Visibility::All, Visibility::All) => true,
            (Visibility::All, Visibility::Only(s)) | (Visibility::Only(s), Visibility::All) => !s.is_empty(),
            (Visibility::Only(a), Visibility::Only(b)) => !a.is_disjoint(b),
        }
    }
}

/// Answers "which earlier entry overlaps this visibility first?" over a growing list, in
/// time proportional to the namespaces involved, not to the length of the list: the
/// earliest entry seen by all namespaces, and the earliest seen by each namespace.
#[derive(Debug, Default)]
pub(crate) struct OverlapIndex<'a> {
    first_all: Option<usize>,
    first_any: Option<usize>,
    by_namespace: HashMap<&'a str, usize>,
}

impl<'a> OverlapIndex<'a> {
    /// The earliest inserted entry whose visibility overlaps `v`.
    pub(crate) fn first_overlapping(&self, v: &Visibility<'_>) -> Option<usize> {
        match v {
            Visibility::All => self.first_any,
            Visibility::Only(set) if set.is_empty() => None,
            Visibility::Only(set) => {
                let by_ns = set.iter().filter_map(|n| self.by_namespace.get(n)).min().copied();
                self.first_all.into_iter().chain(by_ns).min()
            }
        }
    }

    /// Adds entry `i` (entries are inserted in increasing order).
    pub(crate) fn insert(&mut self, v: &Visibility<'a>, i: usize) {
        match v {
            Visibility::All => {
                self.first_all.get_or_insert(i);
                self.first_any.get_or_insert(i);
            }
            Visibility::Only(set) => {
                for n in set {
                    self.by_namespace.entry(n).or_insert(i);
                }
                if !set.is_empty() {
                    self.first_any.get_or_insert(i);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn only<'a>(v: &[&'a str]) -> Visibility<'a> {
        Visibility::Only(v.iter().copied().collect())
    }

    #[test]
    fn visibility_overlap() {
        assert!(Visibility::All.overlaps(&only(&["a"])));
        assert!(!Visibility::All.overlaps(&only(&[])));
        assert!(only(&["a", "b"]).overlaps(&only(&["b"])));
        assert!(!only(&["a"]).overlaps(&only(&["b"])));
        let g = MeshGraph::default();
        let listed = ExportTo::Namespaces(vec![".".into(), "web".into()]);
        let v = Visibility::of(Some(&listed), "shop", "x", &g);
        assert_eq!(v, only(&["shop", "web"]));
        assert_eq!(Visibility::of(Some(&ExportTo::Namespaces(vec!["~".into()])), "shop", "x", &g), only(&[]));
        assert_eq!(Visibility::of(None, "shop", "x", &g), Visibility::All);
    }

    #[test]
    fn repeated_keys_groups_equal_keys_in_input_order() {
        let keys = ["b", "a", "c", "a", "b", "a"];
        let mut groups = Vec::new();
        repeated_keys(keys.len(), |i| keys[i], |g| groups.push(g.to_vec()));
        groups.sort();
        assert_eq!(groups, vec![vec![0, 4], vec![1, 3, 5]]);
        // Keys whose hashes all collide are still told apart.
        #[derive(PartialEq, Eq, PartialOrd, Ord)]
        struct Collide(&'static str);
        impl std::hash::Hash for Collide {
            fn hash<H: std::hash::Hasher>(&self, _: &mut H) {}
        }
        let mut collided = Vec::new();
        repeated_keys(keys.len(), |i| Collide(keys[i]), |g| collided.push(g.to_vec()));
        collided.sort();
        assert_eq!(collided, groups);
        // No repeats, no calls; nothing at all, no calls.
        repeated_keys(3, |i| i, |_| panic!("no group"));
        repeated_keys(0, |i| i, |_| panic!("no group"));
    }

    #[test]
    fn overlap_index_finds_the_earliest_overlap() {
        let mut idx = OverlapIndex::default();
        assert_eq!(idx.first_overlapping(&Visibility::All), None);
        idx.insert(&only(&["a"]), 0);
        idx.insert(&only(&[]), 1);
        idx.insert(&Visibility::All, 2);
        idx.insert(&only(&["b"]), 3);
        assert_eq!(idx.first_overlapping(&only(&["b"])), Some(2));
        assert_eq!(idx.first_overlapping(&only(&["a", "b"])), Some(0));
        assert_eq!(idx.first_overlapping(&Visibility::All), Some(0));
        assert_eq!(idx.first_overlapping(&only(&[])), None);
    }
}
