//! Stage 3b, `check`: what Istio would accept but what would not work, found across the
//! whole estate before any YAML exists.
//!
//! The model stage validates each entity on its own; this stage looks across entities and
//! along the graph: two claims on one host, overlapping virtual IPs, TCP services that
//! Istio cannot tell apart, dependencies that cannot see their target, subsets that select
//! nothing, splits that do not add up. Every rule works through an index (host → claims,
//! port → services, sorted address ranges), never by comparing every pair of entities, so
//! the cost stays linear in the size of the inventory.

mod rules;

use std::collections::BTreeSet;

use crate::diag::Diagnostics;
use crate::graph::MeshGraph;
use crate::model::{ExportTo, Inventory};

/// Runs every cross-entity rule.
pub fn run(inv: &Inventory, graph: &MeshGraph, diags: &mut Diagnostics) {
    rules::host_claims(inv, graph, diags);
    rules::gateway_conflicts(inv, diags);
    rules::address_overlaps(inv, diags);
    rules::shared_instance_addresses(inv, diags);
    rules::tcp_port_clashes(inv, graph, diags);
    rules::dependency_visibility(inv, graph, diags);
    rules::unused_externals(inv, graph, diags);
    rules::subsets_and_splits(inv, diags);
    rules::identities_and_tls(inv, diags);
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
}
