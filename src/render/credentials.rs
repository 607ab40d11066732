//! Client certificates from Kubernetes secrets for sidecars (`tls.credentialName`).
//!
//! A sidecar reads a DestinationRule's `credentialName` only when the rule selects it with a
//! `workloadSelector`, and then from a secret in its own namespace (Istio's DestinationRule
//! reference, ClientTLSSettings `credentialName`; the egress gateway reads any rule's). The
//! graph knows who calls an entity, so each caller with a proxy gets a rule of its own in its
//! namespace: the target's whole DestinationRule (policy and subsets, which routes to
//! subsets need) with the caller's selector, exported to that namespace only. Istio prefers
//! a rule that selects the workload over one that does not.

use serde_json::{Value, json};

use super::context::{Builder, Kind, external_policy, host_slug, service_destination};
use crate::graph::NodeKind;
use crate::model::Service;

/// The DestinationRules `caller` needs for the secrets of what it calls, named
/// `<caller>-<target>` (and the host, for an external API with several).
pub(super) fn caller_rules<'a>(b: &mut Builder<'a>, caller: &'a Service) {
    if !b.inv.callers_read_secrets || !caller.has_proxy() {
        return;
    }
    let (inv, graph) = (b.inv, b.graph);
    for dep in &caller.depends_on {
        let Some(node) = graph.node(&dep.target) else { continue };
        let origin = || dep.origin(caller);
        let selector = json!({"matchLabels": caller.selector});
        match node.kind {
            NodeKind::Service => {
                let target = &inv.services[node.entity];
                if !target.callers_read_secret() {
                    continue;
                }
                let name = format!("{}-{}", caller.name, target.name);
                b.push_sourced(Kind::DestinationRule, &name, origin, |_| {
                    let (policy, subsets) = service_destination(target);
                    rule(&target.host, selector, policy, subsets)
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
                    let policy = external_policy(target, host, true).top().map_or(Value::Null, Value::Object);
                    b.push_sourced(Kind::DestinationRule, &name, origin, |_| {
                        rule(host, selector.clone(), policy, Value::Null)
                    });
                }
            }
        }
    }
}

fn rule(host: &str, selector: Value, policy: Value, subsets: Value) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("host".into(), json!(host));
    m.insert("workloadSelector".into(), selector);
    for (k, v) in [("trafficPolicy", policy), ("subsets", subsets)] {
        if !v.is_null() {
            m.insert(k.into(), v);
        }
    }
    // A rule that selects workloads applies in its own namespace only (Istio refuses one
    // exported further).
    m.insert("exportTo".into(), json!(["."]));
    m
}
