//! Findings about the policy meshgen derives from the graph (Sidecars and AuthorizationPolicy
//! allow-lists, see `render::policy`), and about the port lists of dependencies, which that
//! policy uses.
//!
//! An allow-list fails closed: a caller meshgen cannot name is denied. These rules make sure
//! the user hears about every such caller, and about workloads that policy leaves unscoped or
//! cannot reach at all, before anything is applied.

use std::collections::BTreeSet;

use foldhash::{HashMap, HashMapExt};

use crate::diag::{Diagnostic, Diagnostics};
use crate::graph::{MeshGraph, NodeKind};
use crate::model::{Inventory, Port, Service};

/// `unknown-port` and `invalid-value` on `dependsOn[].ports`: each names a port of the target.
pub(super) fn dependency_ports(inv: &Inventory, graph: &MeshGraph, diags: &mut Diagnostics) {
    for s in &inv.services {
        for dep in &s.depends_on {
            let Some(names) = &dep.ports else { continue };
            let Some(node) = graph.node(&dep.target) else { continue };
            let ports: &[Port] = match node.kind {
                NodeKind::Service => &inv.services[node.entity].ports,
                NodeKind::External => &inv.externals[node.entity].ports,
            };
            if names.is_empty() {
                diags.push(
                    Diagnostic::error("invalid-value", dep.origin(s).child("ports"), "`ports` is empty")
                        .help("list the port names the calls use, or remove `ports` to allow every port"),
                );
            }
            for (i, name) in names.iter().enumerate() {
                if !ports.iter().any(|p| &p.name == name) {
                    let known: Vec<&str> = ports.iter().map(|p| p.name.as_str()).collect();
                    diags.push(
                        Diagnostic::error(
                            "unknown-port",
                            dep.origin(s).child("ports").index(i),
                            format!("`{}` has no port named `{}`", dep.target, crate::model::validate::shown(name)),
                        )
                        .help(format!("its ports are: {}", known.join(", "))),
                    );
                }
            }
        }
    }
}

/// `policy-without-proxy`, `unscoped-workload`, `caller-without-identity` and
/// `no-allowed-callers`, for the services of the namespaces where policy applies.
pub(super) fn coverage(inv: &Inventory, graph: &MeshGraph, diags: &mut Diagnostics) {
    let policy = &inv.project.policy;
    let td = &inv.project.trust_domain;
    for s in inv.services.iter().filter(|s| policy.applies(&s.namespace)) {
        if !s.has_proxy() {
            if policy.sidecar || policy.authorization {
                let help = if s.outside_mesh() {
                    "it is `location: MESH_EXTERNAL`: Istio sends its workloads plain text and enforces no policy at them, so no Sidecar or AuthorizationPolicy applies; remove `location` if they run Istio proxies"
                } else {
                    "its VMs run with `sidecar: false`: no Sidecar or AuthorizationPolicy applies to them; run them with a sidecar to include them"
                };
                diags.push(
                    Diagnostic::warning(
                        "policy-without-proxy",
                        s.origin.clone().key(),
                        format!(
                            "policy is on for `{}`, but `{}` runs no Istio proxy to enforce it",
                            s.namespace, s.name
                        ),
                    )
                    .help(help),
                );
            }
            continue;
        }
        if policy.sidecar && !s.declares_dependencies {
            diags.push(
                Diagnostic::warning(
                    "unscoped-workload",
                    s.origin.clone().key(),
                    format!("`{}` declares no `dependsOn`, so it gets no Sidecar and its proxy keeps the whole mesh's configuration", s.name),
                )
                .help("list what it calls in `dependsOn` (write `dependsOn: []` if it calls nothing)"),
            );
        }
        if !policy.authorization {
            continue;
        }
        // The ingress gateway is a caller too.
        let mut allowed = !s.authorization.is_empty() || s.ingress.is_some();
        for (consumer, dep) in graph.consumer_edges(inv, &s.name) {
            let Some(c) = consumer.service(inv) else {
                continue;
            };
            // A declared caller, with an identity or not, means the service is meant to be
            // called: a caller without one has its own finding below.
            allowed = true;
            if c.principals(td).is_some() {
                continue;
            }
            diags.push(
                Diagnostic::error(
                    "caller-without-identity",
                    dep.origin(c),
                    format!(
                        "`{}` cannot be allowed to call `{}`: {}, so its AuthorizationPolicy would deny it",
                        c.name,
                        s.name,
                        why_no_identity(c)
                    ),
                )
                .related(c.origin.clone().key(), format!("`{}` is declared here", c.name))
                .help(if c.outside_mesh() {
                    format!("a caller outside the mesh presents no identity to allow: remove `location: MESH_EXTERNAL` from `{}` if its workloads run Istio proxies, or leave `{}`'s namespace out of `policy`", c.name, s.name)
                } else {
                    format!(
                        "set `serviceAccount` on `{}` (the account its workloads run as), so that it can be allowed by principal",
                        c.name
                    )
                }),
            );
        }
        if !allowed {
            diags.push(
                Diagnostic::warning(
                    "no-allowed-callers",
                    s.origin.clone().key(),
                    format!("`{}` has no declared caller: its AuthorizationPolicy allows no one", s.name),
                )
                .help("add it to the `dependsOn` of its callers, or allow callers from outside the inventory (e.g. the ingress gateway) under `authorization.from`"),
            );
        }
    }
}

/// Why a service has no principal to allow.
fn why_no_identity(c: &Service) -> &'static str {
    if c.outside_mesh() {
        "it is `location: MESH_EXTERNAL`, whose workloads have no Istio identity"
    } else if c.pods.is_some() && c.service_account.is_none() {
        "its pods have no `serviceAccount`"
    } else if !c.sidecar {
        "its VMs run without a sidecar, which is what presents an identity"
    } else {
        "some of its VMs have no `serviceAccount`"
    }
}

/// `policy-selector-overlap`: two services with policy in one namespace whose selectors pick
/// the same workloads (one selector's labels contain the other's). Istio applies one Sidecar
/// per workload (IST0110), and AuthorizationPolicies add up, so each service would open the
/// other's workloads to its own callers. Found through an index of selectors: each selector
/// is looked up by its subsets (selectors have a few labels), never against every other.
pub(super) fn selector_overlaps(inv: &Inventory, diags: &mut Diagnostics) {
    let policy = &inv.project.policy;
    let with_policy = |s: &&Service| policy.applies(&s.namespace) && s.has_proxy();
    let mut index: HashMap<(&str, Selector<'_>), &Service> = HashMap::new();
    for s in inv.services.iter().map(|s| &**s).filter(with_policy) {
        let labels: Selector<'_> = s.selector.iter().collect();
        if let Some(first) = index.insert((s.namespace.as_str(), labels), s) {
            report_overlap(first, s, diags);
        }
    }
    // Larger selectors are more specific: a workload they select is selected by each of
    // their subsets too. Selectors of more than 8 labels are only compared whole.
    for s in inv.services.iter().map(|s| &**s).filter(with_policy) {
        let labels: Vec<(&str, &str)> = s.selector.iter().collect();
        if labels.len() > 8 {
            continue;
        }
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        for mask in 1..(1u32 << labels.len()).saturating_sub(1) {
            let subset: Vec<(&str, &str)> =
                labels.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, l)| *l).collect();
            if let Some(other) = index.get(&(s.namespace.as_str(), subset))
                && other.name != s.name
                && seen.insert(other.name.as_str())
            {
                report_overlap(other, s, diags);
            }
        }
    }
}

/// A selector's labels, sorted, as an index key.
type Selector<'a> = Vec<(&'a str, &'a str)>;

fn report_overlap(a: &Service, b: &Service, diags: &mut Diagnostics) {
    diags.push(
        Diagnostic::error(
            "policy-selector-overlap",
            b.origin.clone().key(),
            format!(
                "`{}` and `{}` select the same workloads in `{}`, so their Sidecars and AuthorizationPolicies would apply to each other's",
                a.name, b.name, b.namespace
            ),
        )
        .related(a.origin.clone().key(), format!("`{}` is declared here", a.name))
        .help("give each service's workloads a label of their own (`pods` / `labels`)"),
    );
}

/// `credential-name-without-callers`: sidecars read a `credentialName` only from a
/// DestinationRule that selects them, which meshgen writes for each caller with a proxy
/// (`render::credentials`); an entity whose secret no caller would read has TLS that
/// never gets its client certificate.
pub(super) fn credentials(inv: &Inventory, graph: &MeshGraph, diags: &mut Diagnostics) {
    let services = inv.services.iter().filter(|s| s.callers_read_secret()).map(|s| {
        let ports = s.port_policies.iter().map(|p| (p.tls.as_ref(), port_at(&s.ports, p.port)));
        let subsets =
            s.subsets.iter().filter_map(|x| Some((x.policy.as_ref()?.tls.as_ref(), format!("subsets.{}", x.name))));
        let first = std::iter::once((s.tls.as_deref(), String::new())).chain(ports).chain(subsets);
        (s.name.as_str(), &s.origin, secret_at(first))
    });
    let externals = inv.externals.iter().filter(|e| e.callers_read_secret()).map(|e| {
        let ports = e.port_policies.iter().map(|p| (p.tls.as_ref(), port_at(&e.ports, p.port)));
        let first = std::iter::once((e.tls.as_deref(), String::new())).chain(ports);
        (e.name.as_str(), &e.origin, secret_at(first))
    });
    for (name, origin, at) in services.chain(externals) {
        let read = graph.consumers(name).iter().any(|c| c.service(inv).is_some_and(Service::has_proxy));
        if read {
            continue;
        }
        let at = if at.is_empty() { origin.child("tls") } else { origin.child(&at).child("tls") };
        diags.push(
            Diagnostic::error(
                "credential-name-without-callers",
                at.child("credentialName"),
                format!("no caller of `{name}` would read its `credentialName`"),
            )
            .help("sidecars read the secret only from a DestinationRule that selects them, which meshgen writes for each service that lists this one in `dependsOn`: declare the callers, or give `clientCertificate`/`privateKey` paths mounted in the proxy (an external API can also go through the egress gateway, which reads the secret)"),
        );
    }
}

fn port_at(ports: &[Port], number: u32) -> String {
    format!("ports.{}", ports.iter().find(|p| p.number == number).map_or("", |p| p.name.as_str()))
}

/// The path (below the entity) of the first TLS setting that names a secret.
fn secret_at<'a>(mut levels: impl Iterator<Item = (Option<&'a crate::model::ClientTls>, String)>) -> String {
    levels.find(|(t, _)| t.is_some_and(|t| t.credential_name.is_some())).map(|(_, at)| at).unwrap_or_default()
}
