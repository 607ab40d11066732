//! External APIs routed through the egress gateway: their Gateway and VirtualService, the
//! exportTo that lets the gateway see them, and the objects of the project's
//! `istio.egressGateway` itself, made once whatever the number of APIs: the shared Gateway,
//! and the DestinationRule that makes sidecars speak Istio's mutual TLS to the gateway.
//!
//! The project's objects belong to no inventory entity. They are made by the pseudo-entity
//! [`OWNER`], at the position after the last entity in [`super::context::objects_in`]'s
//! order, traced to the project file; `render` gives them to the namespaces they are in
//! ([`namespaces`]), which may hold no entity of the inventory.

use std::collections::BTreeMap;

use std::borrow::Cow;

use serde_json::{Map, Value, json};

use super::api::{self, HttpRoute, RouteDestination, Server, ServerPort, ServerTls, StreamRoute};
use super::context::{Builder, destination};
use super::present::borrowed;
use crate::diag::Origin;
use crate::model::egress::{Egress, ServerKind};
use crate::model::{External, Inventory};

/// The entity name of the project's own objects: not a valid entity name (entity names
/// hold no `.`), so it never collides with one, and a valid file name for `layout: service`.
pub const OWNER: &str = "istio.egressgateway";

/// The pseudo-entity [`OWNER`] and where the objects it makes come from, for findings
/// about them.
pub fn owner(inv: &Inventory) -> (&'static str, &Origin) {
    (OWNER, &inv.project.egress_gateway.origin)
}

/// The namespaces the project's objects go to, sorted: the shared Gateway's when some API
/// goes through it, the gateway's own when some API speaks mutual TLS to it.
pub fn namespaces(inv: &Inventory) -> Vec<&str> {
    let gw = &inv.project.egress_gateway;
    let mut routed = inv.externals.iter().filter_map(|e| e.egress.as_ref()).peekable();
    let mut out = Vec::new();
    if let Some(s) = &gw.shared
        && routed.peek().is_some()
    {
        out.push(s.namespace.as_str());
    }
    if routed.any(|g| g.mtls) {
        out.push(gw.namespace.as_str());
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// exportTo of an external API's ServiceEntries and DestinationRules (`allow_none` for a
/// ServiceEntry, which may say `~`). Through the egress gateway, the gateway's own
/// namespace must see them too, or its leg of the route finds no host.
pub(super) fn export_to(b: &Builder<'_>, ext: &External, allow_none: bool) -> Option<Vec<String>> {
    with_gateway(b, ext, b.export_to(&ext.export_to, &ext.namespace, &ext.name, allow_none))
}

/// exportTo of the VirtualService of an API through the gateway: its `egress.exportTo`,
/// else the API's. The gateway only applies VirtualServices exported to its namespace.
fn route_export_to(b: &Builder<'_>, ext: &External, g: &Egress) -> Option<Vec<String>> {
    let own = if g.export_to.is_some() { &g.export_to } else { &ext.export_to };
    with_gateway(b, ext, b.export_to(own, &ext.namespace, &ext.name, false))
}

/// A restricted exportTo with the gateway's namespace added.
fn with_gateway(b: &Builder<'_>, ext: &External, mut v: Option<Vec<String>>) -> Option<Vec<String>> {
    if let (Some(_), Some(list)) = (&ext.egress, &mut v) {
        let gw = &b.inv.project.egress_gateway.namespace;
        // `~` (no one) cannot be combined with a namespace: the gateway alone sees it.
        list.retain(|n| n != "~");
        if !list.iter().any(|n| n == "*" || n == gw) && gw != &ext.namespace {
            list.push(gw.clone());
        }
        if list.is_empty() {
            list.push(".".into());
        }
    }
    v
}

/// The Gateway (unless the project shares one) and VirtualService that send an external
/// API's traffic through the egress gateway: the mesh's sidecars route to the gateway, the
/// gateway routes to the API (HTTP by port, and by host when there are several; TLS by SNI,
/// passed through untouched). With mutual TLS the sidecars send the HTTP port to the
/// gateway's port 443, to the subset of the gateway's DestinationRule that presents the
/// API's host as SNI.
pub(super) fn routes<'a>(b: &mut Builder<'a>, ext: &'a External, g: &Egress) {
    let ns = &ext.namespace;
    let gw_ref = match &b.inv.project.egress_gateway.shared {
        Some(s) => s.reference(),
        None => {
            let name = format!("{}-egress", ext.name);
            b.push_with(name.clone(), |b| {
                let servers: Vec<Server<'_>> = ext
                    .ports
                    .iter()
                    .map(|p| {
                        let (number, kind) = g.server(p);
                        server(number, p.name.clone(), kind, &ext.hosts)
                    })
                    .collect();
                api::Gateway { selector: &b.inv.project.egress_gateway.selector, servers }
            });
            format!("{ns}/{name}")
        }
    };
    b.push_with(&ext.name, |b| {
        let (http, tls) = rules(b, ext, g, &gw_ref);
        api::VirtualService {
            hosts: ext.hosts.iter().map(String::as_str).collect(),
            gateways: Some(vec!["mesh".into(), gw_ref.clone()]),
            http: (!http.is_empty()).then_some(Cow::Owned(http)),
            tls: (!tls.is_empty()).then_some(Cow::Owned(tls)),
            tcp: None,
            export_to: route_export_to(b, ext, g),
        }
    });
}

/// One destination of a rule through the gateway.
fn to(destination: api::Destination<'_>) -> Vec<RouteDestination<'_>> {
    vec![RouteDestination { destination, weight: None, headers: None }]
}

/// A match of a rule through the gateway (Istio's HTTPMatchRequest or
/// TLSMatchAttributes), from its JSON.
fn matching(m: Value) -> Option<Vec<Map<String, Value>>> {
    match m {
        Value::Object(m) => Some(vec![m]),
        _ => None,
    }
}

/// The `http` and `tls` rules of an API's VirtualService through the gateway.
fn rules<'a>(
    b: &Builder<'a>,
    ext: &'a External,
    g: &'a Egress,
    gw_ref: &str,
) -> (Vec<HttpRoute<'a>>, Vec<StreamRoute<'a>>) {
    let gw_host = &b.inv.project.egress_gateway.host;
    // Where the gateway forwards each host: itself, or the destination for wildcards.
    let targets: BTreeMap<&str, &str> =
        ext.hosts.iter().map(|h| (h.as_str(), g.destination.as_deref().unwrap_or(h.as_str()))).collect();
    let t = &ext.traffic;
    let mut http = Vec::new();
    let mut tls = Vec::new();
    for p in &ext.ports {
        let (gw_port, kind) = g.server(p);
        if kind == ServerKind::Passthrough {
            let from_mesh = json!({"gateways": ["mesh"], "port": p.number, "sniHosts": ext.hosts});
            let route = to(destination(gw_host, None, Some(gw_port)));
            tls.push(StreamRoute { matches: matching(from_mesh), route });
            for (h, host) in &targets {
                let from_gateway = json!({"gateways": [gw_ref], "port": gw_port, "sniHosts": [h]});
                tls.push(StreamRoute {
                    matches: matching(from_gateway),
                    route: to(destination(host, None, Some(p.number))),
                });
            }
            continue;
        }
        let subset = (kind == ServerKind::Mutual).then_some(ext.name.as_str());
        http.push(HttpRoute {
            matches: matching(json!({"gateways": ["mesh"], "port": p.number})),
            route: Some(to(destination(gw_host, subset, Some(gw_port)))),
            timeout: t.timeout.clone(),
            retries: borrowed(t.retries.as_ref()),
            fault: borrowed(t.fault.as_deref()),
            ..HttpRoute::default()
        });
        for (h, host) in &targets {
            let mut m = json!({"gateways": [gw_ref], "port": gw_port});
            if targets.len() > 1 {
                m["authority"] = json!({"exact": h});
            }
            let route = Some(to(destination(host, None, Some(p.number))));
            http.push(HttpRoute { matches: matching(m), route, ..HttpRoute::default() });
        }
    }
    (http, tls)
}

/// One Gateway server.
fn server(number: u32, name: String, kind: ServerKind, hosts: &[String]) -> Server<'_> {
    Server {
        port: ServerPort { number, name, protocol: kind.protocol() },
        hosts: hosts.iter().map(String::as_str).collect(),
        tls: kind.tls_mode().map(|mode| ServerTls { https_redirect: None, mode: Some(mode), credential_name: None }),
    }
}

/// The name of a shared Gateway's server: the protocol on its well-known port (`http` on
/// 80, `https` or `tls` on 443), else `<protocol>-<number>`. Each port has one server, so
/// the names are unique, and they do not change as APIs come and go.
fn server_name(number: u32, kind: ServerKind) -> String {
    let protocol = kind.protocol().to_ascii_lowercase();
    match (number, kind) {
        (80, ServerKind::Http) | (443, ServerKind::Passthrough | ServerKind::Mutual) => protocol,
        _ => format!("{protocol}-{number}"),
    }
}

/// The objects of the project's `istio.egressGateway`: the shared Gateway, with a server
/// for each gateway port some API uses, and the DestinationRule of the gateway's host with
/// a subset per API that speaks mutual TLS to it.
pub(super) fn project(b: &mut Builder<'_>) {
    let inv = b.inv;
    let gw = &inv.project.egress_gateway;
    let routed: Vec<(&External, &Egress)> =
        inv.externals.iter().filter_map(|e| e.egress.as_ref().map(|g| (e, g))).collect();
    if routed.is_empty() {
        return;
    }
    if let Some(shared) = &gw.shared {
        b.entity(&shared.namespace, OWNER, &gw.origin.child("shared"));
        b.push_with(&shared.name, |_| {
            // One server per gateway port; two kinds on one port are `gateway-port-conflict`.
            let mut ports: BTreeMap<u32, ServerKind> = BTreeMap::new();
            for (e, g) in &routed {
                for p in &e.ports {
                    let (number, kind) = g.server(p);
                    ports.entry(number).or_insert(kind);
                }
            }
            let servers: Vec<Server<'_>> = ports
                .into_iter()
                .map(|(number, kind)| server(number, server_name(number, kind), kind, &shared.hosts))
                .collect();
            api::Gateway { selector: &gw.selector, servers }
        });
    }
    let mutual: Vec<&(&External, &Egress)> = routed.iter().filter(|(_, g)| g.mtls).collect();
    if mutual.is_empty() {
        return;
    }
    let at = if gw.mtls { gw.origin.child("mtls") } else { gw.origin.clone() };
    b.entity(&gw.namespace, OWNER, &at);
    let name = gw.host.split('.').next().unwrap_or_default().to_string();
    b.push_with(name, |_| {
        // Sorted by API name: the subsets do not move as APIs are added.
        let mut subsets: Vec<api::Subset<'_>> = mutual
            .iter()
            .map(|(e, g)| {
                // The host the gateway's server matches by SNI: the API's (first) host, or
                // the concrete destination under its wildcard.
                let sni = g.destination.as_deref().unwrap_or(e.hosts[0].as_str());
                let tls =
                    api::ClientTls { mode: "ISTIO_MUTUAL", sni: Some(sni.to_string()), ..api::ClientTls::default() };
                let settings = api::PolicySettings { tls: Some(tls), ..api::PolicySettings::default() };
                let policy = api::TrafficPolicy { settings, port_level_settings: None };
                api::Subset { name: &e.name, labels: None, traffic_policy: Some(policy) }
            })
            .collect();
        subsets.sort_by(|a, b| a.name.cmp(b.name));
        api::DestinationRule {
            host: &gw.host,
            workload_selector: None,
            traffic_policy: None,
            subsets: Some(subsets),
            export_to: None,
        }
    });
}
