//! Client certificates from Kubernetes secrets for sidecars (`tls.credentialName`).
//!
//! A sidecar reads a DestinationRule's `credentialName` only when the rule selects it with a
//! `workloadSelector`, and then from a secret in its own namespace (Istio's DestinationRule
//! reference, ClientTLSSettings `credentialName`; the egress gateway reads any rule's). The
//! graph knows who calls an entity, so each caller with a proxy gets a rule of its own in its
//! namespace: the target's whole DestinationRule (policy and subsets, which routes to
//! subsets need) with the caller's selector, exported to that namespace only. Istio prefers
//! a rule that selects the workload over one that does not.

use super::api::{self, LabelSelector};
use super::context::{Builder, external_policy, host_slug, service_destination};
use crate::graph::NodeKind;
use crate::model::Service;
use crate::model::labels::Labels;

/// The DestinationRules `caller` needs for the secrets of what it calls, named
/// `<caller>-<target>` (and the host, for an external API with several).
pub(super) fn caller_rules<'a>(b: &mut Builder<'a>, caller: &'a Service) {
    if !b.inv.callers_read_secrets || !caller.has_proxy() {
        return;
    }
    let (inv, graph) = (b.inv, b.graph);
    for dep in &caller.depends_on {
        let Some(node) = graph.node(&dep.target) else { continue };
        let origin = |_: &Builder<'_>| dep.origin(caller);
        match node.kind {
            NodeKind::Service => {
                let target = &inv.services[node.entity];
                if !target.callers_read_secret() {
                    continue;
                }
                let name = format!("{}-{}", caller.name, target.name);
                b.push_sourced(name, origin, |_| {
                    let (policy, subsets) = service_destination(target);
                    rule(&target.host, &caller.selector, policy, subsets)
                });
            }
            NodeKind::External => {
                let target = &inv.externals[node.entity];
                if !target.callers_read_secret() {
                    continue;
                }
                for host in &target.hosts {
                    let name = match target.hosts.len() {
                        1 => format!("{}-{}", caller.name, target.name),
                        _ => format!("{}-{}-{}", caller.name, target.name, host_slug(host)),
                    };
                    let policy = external_policy(target, host, true).top();
                    b.push_sourced(name, origin, |_| rule(host, &caller.selector, policy, None));
                }
            }
        }
    }
}

fn rule<'a>(
    host: &'a str,
    selector: &'a Labels,
    traffic_policy: Option<api::TrafficPolicy<'a>>,
    subsets: Option<Vec<api::Subset<'a>>>,
) -> api::DestinationRule<'a> {
    api::DestinationRule {
        host,
        workload_selector: Some(LabelSelector { match_labels: selector }),
        traffic_policy,
        subsets,
        // A rule that selects workloads applies in its own namespace only (Istio refuses one
        // exported further).
        export_to: Some(vec![".".into()]),
    }
}
