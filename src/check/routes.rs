//! Routes that send traffic to other entities of the inventory (`to: [{service: …}]`,
//! `mirror: {service: …}`): the target exists, has the subset and port named, has one host
//! to send to, and, where policy is generated, every caller whose traffic the route moves
//! may reach it.
//!
//! A route on `a` that sends to `b` makes `a`'s callers call `b`: their sidecars apply
//! `a`'s VirtualService. Where meshgen writes their Sidecars (which import only what they
//! depend on) or `b`'s allow-list AuthorizationPolicy, those callers must depend on `b` too,
//! or the moved traffic is dropped or denied at runtime.

use std::borrow::Cow;

use super::{Visibilities, Visibility};
use crate::diag::suggest::hint;
use crate::diag::{Diagnostic, Diagnostics, Origin};
use crate::graph::{MeshGraph, Node, NodeKind};
use crate::model::names::parse_duration;
use crate::model::validate::shown;
use crate::model::{Inventory, Port, Route, Subset, Target};

/// The entity a route names, as far as routing needs it.
struct Named<'a> {
    node: &'a Node,
    hosts: &'a [String],
    ports: &'a [Port],
    subsets: &'a [Subset],
    /// Its own routes, which do not apply to traffic another entity's route sends it.
    routes: &'a [Route],
    /// Why sending to it directly cannot work, if it cannot.
    unreachable: Option<&'static str>,
    /// Who may see it (a service's is the one computed for every rule).
    visibility: Cow<'a, Visibility<'a>>,
    /// Where it is declared.
    origin: &'a Origin,
}

fn named<'a>(inv: &'a Inventory, graph: &'a MeshGraph, vis: &'a Visibilities, name: &str) -> Option<Named<'a>> {
    let node = graph.node(name)?;
    Some(match node.kind {
        NodeKind::Service => {
            let s = &inv.services[node.entity];
            // A pods-only service without a ServiceEntry is reached through its Kubernetes
            // Service, which exportTo does not hide.
            let visible =
                if s.service_entry { Cow::Borrowed(vis.service(node.entity)) } else { Cow::Owned(Visibility::All) };
            Named {
                node,
                hosts: std::slice::from_ref(&s.host),
                ports: &s.ports,
                subsets: &s.subsets,
                routes: &s.routes,
                unreachable: None,
                visibility: visible,
                origin: &s.origin,
            }
        }
        NodeKind::External => {
            let e = &inv.externals[node.entity];
            // A sidecar sends a route's traffic straight to the host: past the egress
            // gateway, or, without an address of its own, back to the address dialled.
            let unreachable = if e.egress.is_some() {
                Some(
                    "it goes through the egress gateway, which a route's destination bypasses: the sidecar would send the traffic straight out",
                )
            } else if e.hosts.iter().any(|h| h.starts_with('*')) || e.resolution == crate::model::Resolution::None {
                Some(
                    "it has a wildcard host or resolution NONE: the sidecar would forward the traffic to the address the caller dialled, not to the API",
                )
            } else {
                None
            };
            Named {
                node,
                hosts: &e.hosts,
                ports: &e.ports,
                subsets: &[],
                routes: &e.routes,
                unreachable,
                // Its own exportTo, not the egress routes' that `vis` adds.
                visibility: Cow::Owned(Visibility::of(e.export_to.as_ref(), &e.namespace, name, graph)),
                origin: &e.origin,
            }
        }
    })
}

/// `unknown-route-target`, `unknown-subset`, `unknown-port`, `invalid-value` and
/// `route-target-not-a-dependency` for the routes of every entity.
pub(super) fn route_targets(inv: &Inventory, graph: &MeshGraph, vis: &Visibilities, diags: &mut Diagnostics) {
    let mut names: Option<crate::model::NameHelp<'_>> = None;
    let entities = inv
        .services
        .iter()
        .map(|s| (s.name.as_str(), &s.routes[..], &s.ports[..]))
        .chain(inv.externals.iter().map(|e| (e.name.as_str(), &e.routes[..], &e.ports[..])));
    for (entity, routes, own_ports) in entities {
        for r in routes {
            for (target, subset, port, at) in targets(r) {
                let Target::Entity(name) = target else { continue };
                let Some(t) = named(inv, graph, vis, name) else {
                    if !inv.invalid.contains(name.as_str()) {
                        let help = names.get_or_insert_with(|| crate::model::NameHelp::new(inv)).help(name);
                        diags.push(
                            Diagnostic::error(
                                "unknown-route-target",
                                at.child("service"),
                                format!("the route sends traffic to unknown `{}`", shown(name)),
                            )
                            .maybe_help(help),
                        );
                    }
                    continue;
                };
                check_target(&t, subset, port, own_ports, &at, diags);
                callers_reach(inv, graph, entity, &t, &at, diags);
                callers_see(inv, graph, entity, &t, &at, diags);
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
    if t.hosts.len() > 1 {
        diags.push(
            Diagnostic::error(
                "invalid-value",
                at.child("service"),
                format!("`{name}` has {} hosts, and a route sends to one", t.hosts.len()),
            )
            .help("name the host with `host:` instead of `service:`"),
        );
    }
    if let Some(why) = t.unreachable {
        diags.push(
            Diagnostic::error(
                "invalid-value",
                at.child("service"),
                format!("a route cannot send traffic to `{name}`: {why}"),
            )
            .help(format!("have the callers call `{name}` directly (list it in their `dependsOn`)")),
        );
    }
    // Istio applies one VirtualService to a request: the caller's sidecar sends the moved
    // traffic straight to the target's endpoints, past the target's own routes.
    if !t.routes.is_empty() {
        diags.push(
            Diagnostic::warning(
                "route-target-routes-bypassed",
                at.clone(),
                format!("the routes of `{name}` do not apply to the traffic this route sends it"),
            )
            .related(t.origin.child("routes"), format!("`{name}`'s routes"))
            .help("Istio applies only the VirtualService of the host the caller called: name the subset to send to (`subset:`), and give this route the timeout and retries it needs"),
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

/// The callers of `entity` must see `t`: their sidecars route to its host, which exportTo
/// may hide from their namespace (no cluster: 503).
fn callers_see(inv: &Inventory, graph: &MeshGraph, entity: &str, t: &Named<'_>, at: &Origin, diags: &mut Diagnostics) {
    for caller in graph.consumers(entity) {
        let Some(c) = caller.service(inv) else { continue };
        if t.visibility.includes(&c.namespace) {
            continue;
        }
        let tn = &t.node.name;
        diags.push(
            Diagnostic::error(
                "dependency-not-visible",
                at.clone(),
                format!(
                    "`{}` (namespace `{}`) calls `{entity}`, whose route sends the call to `{tn}`, which it cannot see: the exportTo of `{tn}` leaves `{}` out",
                    c.name, c.namespace, c.namespace
                ),
            )
            .related(t.origin.child("exportTo"), "exportTo is here")
            .help(format!("add `{}` to the exportTo of `{tn}`, or list `{tn}` in the `dependsOn` of `{}` and write `exportTo: consumers`", c.namespace, c.name)),
        );
    }
}

/// `sniHosts` of TLS rules must be covered by the hosts of the VirtualService (Istio refuses
/// others): the service's host, or one of the external API's.
pub(super) fn sni_hosts(inv: &Inventory, diags: &mut Diagnostics) {
    let services = inv.services.iter().map(|s| (&s.routes[..], std::slice::from_ref(&s.host)));
    let externals = inv.externals.iter().map(|e| (&e.routes[..], &e.hosts[..]));
    for (routes, hosts) in services.chain(externals) {
        for r in routes {
            for (j, m) in r.matches.iter().enumerate() {
                for (i, h) in m.sni_hosts.iter().flat_map(|l| l.iter()).enumerate() {
                    if !hosts.iter().any(|v| crate::model::covers(v, h)) {
                        diags.push(
                            Diagnostic::error(
                                "invalid-value",
                                r.origin.child("match").index(j).child("sniHosts").index(i),
                                format!("SNI `{}` is not one of the hosts this route is for", shown(h)),
                            )
                            .help(format!("a TLS rule matches the names of its own hosts ({}); route another host from its own entity", hosts.join(", "))),
                        );
                    }
                }
            }
        }
    }
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
///
/// Only HTTP rules have either, so only entities with an HTTP-family port, and of their
/// routes those emitted as HTTP rules, are looked at. A finding points at the innermost
/// place that writes one of the two durations: the route, else the entity's `traffic`; when
/// both come from `defaults.traffic`, it is reported once, at the project file.
pub(super) fn retry_timeouts(inv: &Inventory, diags: &mut Diagnostics) {
    let entities = inv
        .services
        .iter()
        .map(|s| (&s.name, &s.origin, &*s.traffic, s.traffic_written, &s.routes[..], &s.ports[..]))
        .chain(
            inv.externals
                .iter()
                .map(|e| (&e.name, &e.origin, &e.traffic, e.traffic_written, &e.routes[..], &e.ports[..])),
        );
    // The entities whose rules take both durations from `defaults.traffic`.
    let mut inherited: Vec<&str> = Vec::new();
    for (name, origin, traffic, written, routes, ports) in entities {
        if !ports.iter().any(|p| p.protocol.is_http()) {
            continue;
        }
        // The HTTP rules that reach an upstream (a redirect or a direct response takes no
        // timeout or retries), up to the first that catches everything; the entity's own
        // rule (its catch-all) when none does.
        let answers =
            |r: &Route| r.http.as_deref().is_some_and(|x| x.redirect.is_some() || x.direct_response.is_some());
        let http = routes.iter().filter(|r| !r.is_stream());
        let catch_all = http.clone().position(|r| r.matches.is_empty());
        let own = catch_all.is_none().then_some(None);
        let rules = http.take(catch_all.map_or(usize::MAX, |i| i + 1)).filter(|r| !answers(r)).map(Some).chain(own);
        let mut reported: Vec<Origin> = Vec::new();
        for route in rules {
            let written_retries = route.and_then(|r| r.retries.as_deref());
            // Borrowed unless both levels merge: a copy of the settings per route was most
            // of this rule's cost.
            let retries = match (written_retries, traffic.retries.as_ref()) {
                (Some(x), Some(base)) => Some(Cow::Owned(x.over(base).normalized())),
                (x, base) => x.or(base).map(Cow::Borrowed),
            };
            let Some(r) = retries.filter(|r| r.attempts.unwrap_or(0) > 0) else { continue };
            let (Some(timeout), Some(per_try)) =
                (route.and_then(|r| r.timeout.as_deref()).or(traffic.timeout.as_deref()), r.per_try_timeout.as_deref())
            else {
                continue;
            };
            let (Ok(t), Ok(p)) = (parse_duration(timeout), parse_duration(per_try)) else { continue };
            if p < t {
                continue;
            }
            let route_per_try = written_retries.is_some_and(|r| r.per_try_timeout.is_some());
            let at = match route {
                Some(r) if route_per_try => r.origin.child("retries").child("perTryTimeout"),
                Some(r) if r.timeout.is_some() => r.origin.child("timeout"),
                _ if written.per_try_timeout => origin.child("traffic").child("retries").child("perTryTimeout"),
                _ if written.timeout => origin.child("traffic").child("timeout"),
                _ => {
                    if inherited.last() != Some(&name.as_str()) {
                        inherited.push(name);
                    }
                    continue;
                }
            };
            if reported.contains(&at) {
                continue;
            }
            reported.push(at.clone());
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
    let d = &inv.project.defaults.traffic;
    let per_try = d.retries.as_ref().and_then(|r| r.per_try_timeout.as_deref());
    if let (Some(first), Some(timeout), Some(per_try)) = (inherited.first(), d.timeout.as_deref(), per_try) {
        let whose = match inherited.len() {
            1 => format!("`{first}` keeps both"),
            n => format!("`{first}` and {} more keep both", n - 1),
        };
        diags.push(
            Diagnostic::warning(
                "retries-outlast-timeout",
                Origin::new(&inv.project.file, 0, "defaults.traffic.retries.perTryTimeout"),
                format!("`defaults.traffic` gives each try {per_try}, but the whole request only {timeout}: a try that times out is never retried ({whose})"),
            )
            .help("make `perTryTimeout` shorter than `timeout` (e.g. a third of it), or raise `timeout`; only `--allow` silences a finding in the project file"),
        );
    }
}
