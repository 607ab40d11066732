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
    vis: HashMap<&'a str, Visibility>,
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
    |cx, d| rules::dependency_visibility(cx.inv, &cx.vis, d),
    |cx, d| rules::shared_instance_addresses(cx.inv, d),
    |cx, d| rules::subsets_and_splits(cx.inv, d),
    |cx, d| rules::identities_and_tls(cx.inv, d),
    |cx, d| policy::dependency_ports(cx.inv, cx.graph, d),
    |cx, d| policy::coverage(cx.inv, cx.graph, d),
    |cx, d| policy::selector_overlaps(cx.inv, d),
    |cx, d| routes::route_targets(cx.inv, cx.graph, d),
    |cx, d| routes::retry_timeouts(cx.inv, d),
    |cx, d| routes::sni_hosts(cx.inv, d),
    |cx, d| policy::credentials(cx.inv, cx.graph, d),
];

/// Runs every cross-entity rule.
pub fn run(inv: &Inventory, graph: &MeshGraph, diags: &mut Diagnostics) {
    // Each entity's visibility, computed once (it asks the graph for consumers).
    let vis = inv
        .services
        .iter()
        .map(|s| (s.name.as_str(), Visibility::of(&s.export_to, &s.namespace, &s.name, graph)))
        .chain(inv.externals.iter().map(|e| (e.name.as_str(), egress::visibility(e, graph))))
        .collect();
    let cx = Cx { inv, graph, vis };
    for found in crate::par::tasks(RULES, &cx) {
        diags.extend(found);
    }
    // Not one of the list: it stays quiet when anything, earlier stages or the rules above,
    // found errors (a misspelt dependency has its error; the API it meant is not unused).
    rules::unused_externals(inv, graph, diags);
}

/// The namespaces that can see an entity's objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Visibility {
    /// Every namespace (`*`, or no exportTo).
    All,
    /// These namespaces only (possibly none, for `~`).
    Only(BTreeSet<String>),
}

impl Visibility {
    /// The visibility of an entity in `namespace` named `name`.
    pub(crate) fn of(export_to: &Option<ExportTo>, namespace: &str, name: &str, graph: &MeshGraph) -> Visibility {
        match export_to {
            None => Visibility::All,
            Some(ExportTo::Consumers) => {
                let mut set = graph.consumer_namespaces(name);
                set.insert(namespace.to_string());
                Visibility::Only(set)
            }
            Some(ExportTo::Namespaces(list)) => {
                if list.iter().any(|n| n == "*") {
                    return Visibility::All;
                }
                let set = list
                    .iter()
                    .filter(|n| *n != "~")
                    .map(|n| if n == "." { namespace.to_string() } else { n.clone() })
                    .collect();
                Visibility::Only(set)
            }
        }
    }

    /// Whether `namespace` sees the entity.
    pub(crate) fn includes(&self, namespace: &str) -> bool {
        match self {
            Visibility::All => true,
            Visibility::Only(set) => set.contains(namespace),
        }
    }

    /// Whether some namespace sees both.
    pub(crate) fn overlaps(&self, other: &Visibility) -> bool {
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
pub(crate) struct OverlapIndex {
    first_all: Option<usize>,
    first_any: Option<usize>,
    by_namespace: HashMap<String, usize>,
}

impl OverlapIndex {
    /// The earliest inserted entry whose visibility overlaps `v`.
    pub(crate) fn first_overlapping(&self, v: &Visibility) -> Option<usize> {
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
    pub(crate) fn insert(&mut self, v: &Visibility, i: usize) {
        match v {
            Visibility::All => {
                self.first_all.get_or_insert(i);
                self.first_any.get_or_insert(i);
            }
            Visibility::Only(set) => {
                for n in set {
                    self.by_namespace.entry(n.clone()).or_insert(i);
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

    fn only(v: &[&str]) -> Visibility {
        Visibility::Only(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn visibility_overlap() {
        assert!(Visibility::All.overlaps(&only(&["a"])));
        assert!(!Visibility::All.overlaps(&only(&[])));
        assert!(only(&["a", "b"]).overlaps(&only(&["b"])));
        assert!(!only(&["a"]).overlaps(&only(&["b"])));
        let g = MeshGraph::default();
        let v = Visibility::of(&Some(ExportTo::Namespaces(vec![".".into(), "web".into()])), "shop", "x", &g);
        assert_eq!(v, only(&["shop", "web"]));
        assert_eq!(Visibility::of(&Some(ExportTo::Namespaces(vec!["~".into()])), "shop", "x", &g), only(&[]));
        assert_eq!(Visibility::of(&None, "shop", "x", &g), Visibility::All);
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
