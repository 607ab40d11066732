//! The rules of the egress gateway across APIs: every Gateway meshgen emits for it selects
//! the same gateway pods, which Istio configures from all of them together, so what two APIs
//! ask of one gateway port must fit together.

use std::collections::BTreeSet;

use foldhash::{HashMap, HashMapExt};

use super::Visibility;
use crate::diag::{Diagnostic, Diagnostics, Origin};
use crate::graph::MeshGraph;
use crate::model::egress::ServerKind;
use crate::model::{ExportTo, External, Inventory};

/// The namespaces that see an external API's objects: its ServiceEntry's, and, through the
/// gateway, its VirtualService's (`egress.exportTo`), whose sidecars send its hosts to the
/// gateway. A VirtualService cannot be hidden from its own namespace (`~` is `.` there).
pub(super) fn visibility<'a>(e: &'a External, graph: &'a MeshGraph) -> Visibility<'a> {
    let own = Visibility::of(e.export_to.as_ref(), &e.namespace, &e.name, graph);
    let Some(routes) = e.egress.as_ref().and_then(|g| g.export_to.as_ref()) else { return own };
    let routes = match routes {
        ExportTo::Namespaces(list) => {
            Visibility::listed(list.iter().map(|n| if n == "~" { "." } else { n.as_str() }), &e.namespace)
        }
        consumers => Visibility::of(Some(consumers), &e.namespace, &e.name, graph),
    };
    match (own, routes) {
        (Visibility::Only(mut a), Visibility::Only(b)) => {
            a.extend(b);
            Visibility::Only(a)
        }
        _ => Visibility::All,
    }
}

/// `gateway-conflict`: two APIs routed through the egress gateway put overlapping hosts
/// (equal, or one under the other's wildcard) on one port of the gateway, each with a
/// Gateway of its own. Gateways apply to the gateway pods whatever their namespace, and
/// Envoy cannot serve both (`istioctl analyze` IST0145). A shared Gateway serves the
/// project's hosts once per port, and the gateway picks the most specific of overlapping
/// route hosts, so it has no such conflict. Hosts are indexed by name and wildcards by
/// suffix, so each host is compared with its few parent domains, not with every other host.
pub(super) fn gateway_conflicts(inv: &Inventory, diags: &mut Diagnostics) {
    if inv.project.egress_gateway.shared.is_some() {
        return;
    }
    // (gateway port, host as written) → (entity, where)
    let mut exact: HashMap<(u32, &str), (&str, Origin)> = HashMap::new();
    let mut wild: HashMap<(u32, &str), (&str, Origin)> = HashMap::new();
    for (e, gw_port) in routed_ports(inv) {
        for (i, h) in e.hosts.iter().enumerate() {
            let at = e.host_origin(i);
            match h.strip_prefix('*') {
                Some(suffix) => wild.entry((gw_port, suffix)).or_insert((&e.name, at)),
                None => exact.entry((gw_port, h.as_str())).or_insert((&e.name, at)),
            };
        }
    }
    let mut reported = BTreeSet::new();
    for (e, gw_port) in routed_ports(inv) {
        for (i, h) in e.hosts.iter().enumerate() {
            let at = e.host_origin(i);
            let mut others: Vec<&(&str, Origin)> = Vec::new();
            if let Some(o) = exact.get(&(gw_port, h.as_str())) {
                others.push(o);
            }
            // Every wildcard above this host (or above this wildcard's domain).
            let name = h.strip_prefix("*.").unwrap_or(h);
            let mut rest = name;
            while let Some(dot) = rest.find('.') {
                let suffix = &rest[dot..];
                if let Some(o) = wild.get(&(gw_port, suffix)) {
                    others.push(o);
                }
                rest = &rest[dot + 1..];
            }
            for (other, other_at) in others {
                let pair = if *other < e.name.as_str() { (*other, e.name.as_str()) } else { (e.name.as_str(), *other) };
                if *other == e.name || !reported.insert((pair, gw_port)) {
                    continue;
                }
                diags.push(
                    Diagnostic::error(
                        "gateway-conflict",
                        at.clone(),
                        format!("`{h}` on port {gw_port} of the egress gateway overlaps a host of `{other}`"),
                    )
                    .related(other_at.clone(), "the other host")
                    .help("the egress gateway serves one of two overlapping hosts on a port: route them through one API, or keep one of them off the gateway"),
                );
            }
        }
    }
}

/// Each API routed through the gateway with each gateway port it uses (once per port).
fn routed_ports(inv: &Inventory) -> impl Iterator<Item = (&External, u32)> {
    inv.externals.iter().filter_map(|e| e.egress.as_ref().map(|g| (e, g))).flat_map(|(e, g)| {
        let ports: BTreeSet<u32> = e.ports.iter().map(|p| g.server(p).0).collect();
        ports.into_iter().map(move |n| (e, n))
    })
}

/// `gateway-port-conflict`: two API ports need one gateway port served two ways (plain
/// HTTP, TLS passed through, or Istio's mutual TLS). All Gateways of the gateway pods make
/// one listener per port, which is either plain HTTP or TLS: an HTTP server beside a TLS
/// one on the port is rejected. TLS servers can share a port when their hosts tell them
/// apart by SNI, which Gateways of their own do (overlapping hosts are `gateway-conflict`);
/// the shared Gateway's servers all have the project's hosts, and one API's servers its own
/// hosts, so there they cannot.
pub(super) fn gateway_ports(inv: &Inventory, diags: &mut Diagnostics) {
    let shared = inv.project.egress_gateway.shared.is_some();
    // Gateway port → the first API port of each kind on it: entity and origin.
    let mut first: HashMap<u32, [Option<(&str, Origin)>; 3]> = HashMap::new();
    for e in &inv.externals {
        let Some(g) = &e.egress else { continue };
        let mut own: HashMap<u32, (ServerKind, Origin)> = HashMap::new();
        for p in &e.ports {
            let (number, kind) = g.server(p);
            let at = e.origin.child("ports").child(&p.name);
            let report = |k: ServerKind, whose: String, other_at: &Origin| {
                Diagnostic::error(
                    "gateway-port-conflict",
                    at.clone(),
                    format!(
                        "port `{}` needs port {number} of the egress gateway as {}, where {whose} needs {}",
                        p.name,
                        kind.describe(),
                        k.describe()
                    ),
                )
                .related(other_at.clone(), format!("{} on port {number}", k.describe()))
                .help(help(kind, k))
            };
            // One API's servers have its hosts: two kinds on one port never tell apart.
            match own.get(&number) {
                Some((k, other_at)) if *k != kind => {
                    diags.push(report(*k, "another port of this API".into(), other_at));
                    continue;
                }
                Some(_) => continue,
                None => {
                    own.insert(number, (kind, at.clone()));
                }
            }
            let slots = first.entry(number).or_default();
            let clash = ServerKind::ALL.iter().find_map(|&k| {
                let (other, other_at) = slots[k as usize].as_ref()?;
                let apart = !shared && k != ServerKind::Http && kind != ServerKind::Http;
                (k != kind && *other != e.name && !apart).then_some((k, *other, other_at))
            });
            if let Some((k, other, other_at)) = clash {
                diags.push(report(k, format!("`{other}`"), other_at));
            } else if slots[kind as usize].is_none() {
                slots[kind as usize] = Some((&e.name, at));
            }
        }
    }
}

fn help(a: ServerKind, b: ServerKind) -> String {
    if a == ServerKind::Mutual || b == ServerKind::Mutual {
        "with mutual TLS an API's HTTP port goes to the gateway's port 443: give the other port another number, or turn mutual TLS off for the API of the HTTP port (`egress: {mtls: false}`)".into()
    } else {
        "one gateway port is either plain HTTP or TLS: give one of the ports another number".into()
    }
}
