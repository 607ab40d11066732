//! Routes that send traffic to other entities of the inventory (`to: [{service: …}]`,
//! `mirror: {service: …}`): the target exists, has the subset and port named, has one host
//! to send to, and, where policy is generated, every caller whose traffic the route moves
//! may reach it.
//!
//! A route on `a` that sends to `b` makes `a`'s callers call `b`: their sidecars apply
//! `a`'s VirtualService. Where meshgen writes their Sidecars (which import only what they
//! depend on) or `b`'s allow-list AuthorizationPolicy, those callers must depend on `b` too,
//! or the moved traffic is dropped or denied at runtime.

use crate::diag::suggest::hint;
use crate::diag::{Diagnostic, Diagnostics, Origin};
use crate::graph::{MeshGraph, Node, NodeKind};
use crate::model::names::parse_duration;
use crate::model::validate::shown;
use crate::model::{Inventory, Port, Route, Subset, Target};

/// The entity a route names, as far as routing needs it.
struct Named<'a> {
    node: &'a Node,
    hosts: usize,
    ports: &'a [Port],
    subsets: &'a [Subset],
}

fn named<'a>(inv: &'a Inventory, graph: &'a MeshGraph, name: &str) -> Option<Named<'a>> {
    let node = graph.node(name)?;
    Some(match node.kind {
        NodeKind::Service => {
            let s = &inv.services[node.entity];
            Named { node, hosts: 1, ports: &s.ports, subsets: &s.subsets }
        }
        NodeKind::External => {
            let e = &inv.externals[node.entity];
            Named { node, hosts: e.hosts.len(), ports: &e.ports, subsets: &[] }
        }
    })
}

/// `unknown-route-target`, `unknown-subset`, `unknown-port`, `invalid-value` and
/// `route-target-not-a-dependency` for the routes of every entity.
pub(super) fn route_targets(inv: &Inventory, graph: &MeshGraph, diags: &mut Diagnostics) {
    let mut names: Option<Vec<&str>> = None;
    let entities = inv
        .services
        .iter()
        .map(|s| (s.name.as_str(), &s.routes[..], &s.ports[..]))
        .chain(inv.externals.iter().map(|e| (e.name.as_str(), &e.routes[..], &e.ports[..])));
    for (entity, routes, own_ports) in entities {
        for r in routes {
            for (target, subset, port, at) in targets(r) {
                let Target::Entity(name) = target else { continue };
                let Some(t) = named(inv, graph, name) else {
                    if !inv.invalid.contains(name.as_str()) {
                        let all = names.get_or_insert_with(|| graph.nodes().map(|n| n.name.as_str()).collect());
                        diags.push(
                            Diagnostic::error(
                                "unknown-route-target",
                                at.child("service"),
                                format!("the route sends traffic to unknown `{}`", shown(name)),
                            )
                            .maybe_help(hint(name, "services and externals", all)),
                        );
                    }
                    continue;
                };
                check_target(&t, subset, port, own_ports, &at, diags);
                callers_reach(inv, graph, entity, &t, &at, diags);
            }
        }
    }
}

/// Every destination and mirror of a route that names a host, with where it is written.
fn targets(r: &Route) -> Vec<(&Target, Option<&str>, Option<u32>, Origin)> {
    let mut out: Vec<(&Target, Option<&str>, Option<u32>, Origin)> = r
        .destinations
        .iter()
        .enumerate()
        .map(|(i, d)| (&d.target, d.subset.as_deref(), d.port, r.origin.child("to").index(i)))
        .collect();
    if let Some(m) = &r.mirror {
        out.push((&m.target, m.subset.as_deref(), m.port, r.origin.child("mirror")));
    }
    out
}

fn check_target(
    t: &Named<'_>,
    subset: Option<&str>,
    port: Option<u32>,
    own_ports: &[Port],
    at: &Origin,
    diags: &mut Diagnostics,
) {
    let name = &t.node.name;
    if t.hosts > 1 {
        diags.push(
            Diagnostic::error(
                "invalid-value",
                at.child("service"),
                format!("`{name}` has {} hosts, and a route sends to one", t.hosts),
            )
            .help("name the host with `host:` instead of `service:`"),
        );
    }
    if let Some(s) = subset
        && !t.subsets.iter().any(|x| x.name == s)
    {
        let known: Vec<&str> = t.subsets.iter().map(|x| x.name.as_str()).collect();
        diags.push(
            Diagnostic::error("unknown-subset", at.child("subset"), format!("`{name}` has no subset `{}`", shown(s)))
                .maybe_help(hint(s, "subsets", &known)),
        );
    }
    match port {
        Some(p) if !t.ports.iter().any(|q| q.number == p) => diags.push(
            Diagnostic::error("unknown-port", at.child("port"), format!("`{name}` has no port {p}"))
                .help(format!("its ports: {}", list(t.ports))),
        ),
        // Several ports and none written: each rule goes to the port of its own number.
        None if t.ports.len() > 1 => {
            for p in own_ports.iter().filter(|p| !t.ports.iter().any(|q| q.number == p.number)) {
                diags.push(
                    Diagnostic::error(
                        "unknown-port",
                        at.clone(),
                        format!(
                            "`{name}` has several ports and none numbered {} like this port `{}`",
                            p.number, p.name
                        ),
                    )
                    .help(format!("name the destination port with `port:` (its ports: {})", list(t.ports))),
                );
            }
        }
        _ => {}
    }
}

fn list(ports: &[Port]) -> String {
    ports.iter().map(|p| format!("{} ({})", p.number, p.name)).collect::<Vec<_>>().join(", ")
}

/// Where policy is generated, the callers of `entity` must be able to reach `t` too.
fn callers_reach(
    inv: &Inventory,
    graph: &MeshGraph,
    entity: &str,
    t: &Named<'_>,
    at: &Origin,
    diags: &mut Diagnostics,
) {
    let policy = &inv.project.policy;
    let target_denies = t.node.service(inv).is_some_and(|s| policy.authorization_for(s));
    for caller in graph.consumers(entity) {
        let Some(c) = caller.service(inv) else { continue };
        if c.name == t.node.name || graph.dependencies(&c.name).iter().any(|d| d.name == t.node.name) {
            continue;
        }
        let scoped = policy.sidecar_for(c);
        if !(scoped || target_denies) {
            continue;
        }
        let (cn, tn) = (&c.name, &t.node.name);
        let why = match (scoped, target_denies) {
            (true, true) => {
                format!("the Sidecar of `{cn}` does not import `{tn}`, whose AuthorizationPolicy does not allow `{cn}`")
            }
            (true, false) => format!("the Sidecar of `{cn}` does not import `{tn}`"),
            _ => format!("the AuthorizationPolicy of `{tn}` does not allow `{cn}`"),
        };
        diags.push(
            Diagnostic::error(
                "route-target-not-a-dependency",
                at.clone(),
                format!("`{cn}` calls `{entity}`, whose route sends the call to `{tn}`: {why}"),
            )
            .related(c.origin.clone().key(), format!("`{}` is declared here", c.name))
            .help(format!("add `{tn}` to the `dependsOn` of `{cn}`")),
        );
    }
}

/// `retries-outlast-timeout`: in a rule whose per-try timeout is not below its timeout, a
/// try that times out is never retried (the request's timeout ends it first), which is what
/// a per-try timeout is usually written for.
pub(super) fn retry_timeouts(inv: &Inventory, diags: &mut Diagnostics) {
    let entities = inv
        .services
        .iter()
        .map(|s| (&s.name, &s.origin, &s.traffic, &s.routes[..]))
        .chain(inv.externals.iter().map(|e| (&e.name, &e.origin, &e.traffic, &e.routes[..])));
    for (name, origin, traffic, routes) in entities {
        // The entity's own rule (its catch-all), then each route with what it overrides.
        let own = (origin.child("traffic"), traffic.timeout.as_deref(), traffic.retries.clone());
        let rules = routes.iter().map(|r| {
            let retries = match (r.retries.as_deref(), traffic.retries.as_ref()) {
                (Some(x), Some(base)) => Some(x.over(base).normalized()),
                (x, base) => x.or(base).cloned(),
            };
            (r.origin.clone(), r.timeout.as_deref().or(traffic.timeout.as_deref()), retries)
        });
        for (at, timeout, retries) in std::iter::once(own).chain(rules) {
            let Some(r) = retries.filter(|r| r.attempts.unwrap_or(0) > 0) else { continue };
            let (Some(timeout), Some(per_try)) = (timeout, r.per_try_timeout.as_deref()) else { continue };
            let (Ok(t), Ok(p)) = (parse_duration(timeout), parse_duration(per_try)) else { continue };
            if p >= t {
                diags.push(
                    Diagnostic::warning(
                        "retries-outlast-timeout",
                        at,
                        format!("`{name}` gives each try {per_try}, but the whole request only {timeout}: a try that times out is never retried"),
                    )
                    .help("make `perTryTimeout` shorter than `timeout` (e.g. a third of it), or raise `timeout`"),
                );
            }
        }
    }
}
