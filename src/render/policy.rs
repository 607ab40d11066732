//! Policy that follows from the dependency graph, for the namespaces where the project turns
//! it on (`policy` in meshgen.yaml): a Sidecar per consumer workload, limited to the hosts it
//! declares it calls, and an ALLOW-list AuthorizationPolicy per service, open to the
//! identities of its declared consumers only.
//!
//! The values are decided here (the template API: Istio field names); which findings a user
//! sees about them (callers without identity, overlapping selectors…) is `check`'s business.

use std::collections::{BTreeMap, BTreeSet};

use super::api::{self, LabelSelector, Operation, Rule, RuleFrom, RuleTo, Source};
use crate::graph::{MeshGraph, NodeKind};
use crate::model::{Caller, Inventory, Service};

/// The Sidecar of a service's workloads, when policy scopes them: egress limited to its own
/// namespace, the control plane and each declared dependency (`namespace/host`, the namespace
/// its config lives in, so exportTo decides what is visible). Only for a service that has
/// one: see `Policy::sidecar_for`.
pub(super) fn sidecar<'a>(inv: &Inventory, graph: &MeshGraph, svc: &'a Service) -> api::Sidecar<'a> {
    let policy = &inv.project.policy;
    let mut hosts = vec!["./*".to_string(), format!("{}/*", policy.control_plane)];
    let mut deps = BTreeSet::new();
    for host in svc.depends_on.iter().filter_map(|d| graph.node(&d.target)).flat_map(|n| dependency_hosts(inv, n)) {
        deps.insert(host);
    }
    hosts.extend(deps);
    api::Sidecar {
        workload_selector: api::WorkloadSelector { labels: &svc.selector },
        egress: vec![api::SidecarEgress { hosts }],
        outbound_traffic_policy: policy.outbound_traffic_policy.map(|mode| api::OutboundTrafficPolicy { mode }),
    }
}

/// The Sidecar egress hosts a consumer needs to call `node`: its hosts in its namespace, and
/// the egress gateway when its traffic leaves through it (unless the control plane's
/// namespace, imported whole, already holds the gateway).
fn dependency_hosts(inv: &Inventory, node: &crate::graph::Node) -> Vec<String> {
    match node.kind {
        NodeKind::Service => {
            let s = &inv.services[node.entity];
            // Its public hosts too where they are routed in the mesh (`ingress.mesh`).
            let public = s.ingress.iter().filter(|i| i.mesh).flat_map(|i| i.host_names());
            std::iter::once(s.host.as_str()).chain(public).map(|h| format!("{}/{h}", s.namespace)).collect()
        }
        NodeKind::External => {
            let e = &inv.externals[node.entity];
            let mut v: Vec<String> = e.hosts.iter().map(|h| format!("{}/{h}", e.namespace)).collect();
            let gw = &inv.project.egress_gateway;
            if e.egress.is_some() && gw.namespace != inv.project.policy.control_plane {
                v.push(format!("{}/{}", gw.namespace, gw.host));
            }
            v
        }
    }
}

/// The ALLOW AuthorizationPolicy of a service's workloads, when policy asks for one: a rule
/// for the consumers that call every port (plus `authorization.from`), and one per set of
/// ports for consumers that declared theirs. Consumers without a known identity are left
/// out (`check` reports them): an allow-list fails closed. With no rule at all the policy
/// allows no one, which is what the inventory says (and `check` warns about it). Only for a
/// service that has one: see `Policy::authorization_for`.
pub(super) fn authorization_policy<'a>(
    inv: &Inventory,
    graph: &MeshGraph,
    svc: &'a Service,
) -> api::AuthorizationPolicy<'a> {
    let td = &inv.project.trust_domain;
    // Principals by the workload ports they may reach (`None`: every port).
    let mut by_ports: BTreeMap<Option<BTreeSet<u32>>, BTreeSet<String>> = BTreeMap::new();
    for (consumer, dep) in graph.consumer_edges(inv, &svc.name) {
        let Some(principals) = consumer.service(inv).and_then(|c| c.principals(td)) else { continue };
        let ports = dep.ports.as_deref().map(|names| svc.workload_ports(Some(names)));
        by_ports.entry(ports).or_default().extend(principals);
    }
    // The ingress gateway calls the exposed port (docs/inventory.md, "Ingress").
    if let Some(ing) = &svc.ingress {
        let ports = svc.workload_ports(Some(std::slice::from_ref(&ing.port.name)));
        by_ports.entry(Some(ports)).or_default().insert(inv.project.ingress_gateway.principal(td));
    }
    let mut extra_principals = BTreeSet::new();
    let mut namespaces = BTreeSet::new();
    for caller in &svc.authorization {
        match caller {
            Caller::Principal(p) => extra_principals.insert(p.clone()),
            Caller::Namespace(ns) => namespaces.insert(ns.clone()),
        };
    }
    if !extra_principals.is_empty() {
        by_ports.entry(None).or_default().extend(extra_principals);
    }
    let principals = |principals| RuleFrom { source: Source { principals: Some(principals), namespaces: None } };
    let namespaces_of = |namespaces| RuleFrom { source: Source { principals: None, namespaces: Some(namespaces) } };
    let mut rules = Vec::new();
    for (ports, allowed) in by_ports {
        let mut from = vec![principals(allowed)];
        if ports.is_none() && !namespaces.is_empty() {
            from.push(namespaces_of(std::mem::take(&mut namespaces)));
        }
        let to = ports
            .map(|ports| vec![RuleTo { operation: Operation { ports: ports.iter().map(u32::to_string).collect() } }]);
        rules.push(Rule { from, to });
    }
    if !namespaces.is_empty() {
        rules.insert(0, Rule { from: vec![namespaces_of(namespaces)], to: None });
    }
    api::AuthorizationPolicy {
        selector: LabelSelector { match_labels: &svc.selector },
        action: "ALLOW",
        rules: (!rules.is_empty()).then_some(rules),
    }
}
