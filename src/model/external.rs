//! Builds an [`External`] API from its raw form: derives the resolution from the hosts and
//! endpoints, and enforces the ServiceEntry rules Istio's admission would otherwise be the
//! first to reject (see `istio-rules.md` §2.1: SE-09, SE-18, SE-21, SE-23/24, SE-28, SE-29,
//! SE-32…35, SE-38) plus the DestinationRule TLS rules (DR-30…33).

use std::sync::Arc;

use super::build::Shared;
use super::egress::{self, Egress};
use super::names::{self, AddressKind};
use super::raw::{RawExternal, ShortOr};
use super::routes;
use super::tls::{self, Owner};
use super::validate::{Checker, shown};
use super::{ClientTls, External, Port, PortPolicy, Project, Resolution, Workload};
use crate::diag::{Diagnostics, Origin};

/// Validates one external API; `None` when it has errors (they are in `diags`).
pub(super) fn build(
    project: &Project,
    name: &str,
    doc_ns: &str,
    mut raw: RawExternal,
    origin: Origin,
    shared: &mut Shared,
    diags: &mut Diagnostics,
) -> Option<External> {
    let before = diags.counts().0;
    let mut cx = Checker::new(diags);
    let namespace = cx.entity_namespace(raw.namespace.as_deref(), doc_ns, &origin);

    // Each valid host with its position as written, for findings after they are sorted.
    let mut written: Vec<(String, u32)> = Vec::new();
    match &raw.hosts {
        None => cx.error(
            "missing-field",
            origin.child("hosts"),
            "no hosts declared",
            Some("add the API's host names, e.g. `hosts: [api.example.com]`".into()),
        ),
        Some(list) if list.is_empty() => cx.error(
            "missing-field",
            origin.child("hosts"),
            "no hosts declared",
            Some("add the API's host names, e.g. `hosts: [api.example.com]`".into()),
        ),
        Some(list) => {
            for (i, h) in list.iter().enumerate() {
                let ho = origin.child("hosts").index(i);
                if let Some(h) = cx.mesh_host(h, true, &ho) {
                    if written.iter().any(|(w, _)| *w == h) {
                        cx.error("invalid-value", ho, format!("host `{h}` is listed twice"), None);
                    } else {
                        written.push((h, super::position(i)));
                    }
                }
            }
        }
    }
    written.sort();
    let (hosts, host_index): (Vec<String>, Vec<u32>) = written.into_iter().unzip();
    let wildcard = hosts.iter().any(|h| h.starts_with('*'));
    let ports = cx.ports(raw.ports.as_ref(), &origin.child("ports"));

    let location = match raw.location.as_deref() {
        None | Some("MESH_EXTERNAL") => "MESH_EXTERNAL",
        Some("MESH_INTERNAL") => "MESH_INTERNAL",
        Some(other) => {
            cx.one_of("location", other, &["MESH_EXTERNAL", "MESH_INTERNAL"], &origin.child("location"));
            "MESH_EXTERNAL"
        }
    };

    let mut addresses = Vec::new();
    for (i, a) in raw.addresses.iter().flatten().enumerate() {
        if cx.ip_or_cidr(a, &origin.child("addresses").index(i)) {
            addresses.push(a.clone());
        }
    }

    let mut endpoints: Vec<Workload> = Vec::new();
    for (i, e) in raw.endpoints.iter().flatten().enumerate() {
        let eo = origin.child("endpoints").index(i);
        let kind = match names::address(&e.address) {
            Ok(k) => k,
            Err(err) => {
                cx.error(
                    "invalid-value",
                    eo.child("address"),
                    format!("endpoint address `{}` {err}", shown(&e.address)),
                    Some("give an IP address, a DNS name, or `unix:///path/to.sock`".into()),
                );
                continue;
            }
        };
        let labels = e.labels.clone().unwrap_or_default();
        cx.labels(&labels, &eo.child("labels"));
        // Checked once per file, as a VM's (an invalid one at every endpoint that writes it).
        let locality = e.locality.as_deref().map(|l| shared.locality(&mut cx, l, &eo.child("locality")));
        if let Some(n) = &e.network {
            cx.network(n, &eo.child("network"));
        }
        if e.weight == Some(0) {
            cx.error("invalid-value", eo.child("weight"), "weight 0 is not allowed", Some("weights start at 1".into()));
        }
        if let Some(sa) = &e.service_account {
            cx.service_account(sa, &eo.child("serviceAccount"));
            if location != "MESH_INTERNAL" {
                cx.error(
                    "invalid-value",
                    eo.child("serviceAccount"),
                    "a service account is the identity of an endpoint's sidecar, and MESH_EXTERNAL endpoints have none",
                    Some(
                        "set `location: MESH_INTERNAL` for endpoints that run a sidecar, or remove `serviceAccount`"
                            .into(),
                    ),
                );
            }
        }
        let port_map = e.ports.clone().unwrap_or_default();
        cx.port_overrides(&port_map, &ports, &eo.child("ports"));
        if kind == AddressKind::Unix && !port_map.is_empty() {
            cx.error(
                "invalid-value",
                eo.child("ports"),
                "a unix socket endpoint has no ports",
                Some("remove `ports` from this endpoint".into()),
            );
        }
        endpoints.push(Workload {
            name: Box::from(""),
            address_hash: super::address_hash(e.network.as_deref(), &e.address),
            address: e.address.as_str().into(),
            kind,
            labels: Arc::new(labels),
            locality,
            identity: shared.identity(e.network.as_deref(), e.service_account.as_deref()),
            weight: e.weight.and_then(std::num::NonZeroU32::new),
            ports: (!port_map.is_empty()).then(|| Box::new(port_map)),
            index: super::position(i),
        });
    }
    // Inline endpoints are emitted in a stable order, whatever the order they were written in.
    endpoints.sort_by(|a, b| (&a.address, &a.ports).cmp(&(&b.address, &b.ports)));
    // Sorted, duplicates are neighbours; the later-written one is reported.
    for pair in endpoints.windows(2) {
        if pair[0].address == pair[1].address {
            let (first, dup) = if pair[0].index < pair[1].index { (&pair[0], &pair[1]) } else { (&pair[1], &pair[0]) };
            let at = |w: &Workload| w.origin_in(&origin.child("endpoints"));
            cx.push(
                crate::diag::Diagnostic::error(
                    "duplicate-address",
                    at(dup).child("address"),
                    format!("endpoint `{}` is listed twice", shown(&dup.address)),
                )
                .related(at(first).child("address"), "first listed here")
                .help("each endpoint has its own address; remove the duplicate"),
            );
        }
    }

    let resolution = resolution(&mut cx, &raw, &hosts, &endpoints, &ports, &addresses, &origin);

    let owner = if raw.egress.is_some() { Owner::ExternalViaGateway } else { Owner::External };
    let tls = raw
        .tls
        .as_ref()
        .and_then(|ShortOr(t)| tls::client_tls(&mut cx, t, owner, &origin.child("tls")))
        .map(std::sync::Arc::new);
    let inherits_outlier = project.defaults.traffic.outlier_detection.is_some();
    let port_policies =
        tls::port_policies(&mut cx, raw.ports.as_ref(), &ports, owner, inherits_outlier, &origin.child("ports"));
    let egress = raw.egress.as_ref().map(|ShortOr(e)| {
        let api =
            egress::Api { name, hosts: &hosts, host_index: &host_index, ports: &ports, location, origin: &origin };
        egress::build(&mut cx, e, &api, project)
    });

    let pass_through = wildcard || resolution == Resolution::None;
    if let Some(t) = &tls {
        origination(&mut cx, t, &ports, pass_through, &egress, &origin.child("tls"));
    }
    port_origination(&mut cx, &port_policies, &ports, pass_through, &egress, &origin.child("ports"));
    // Through the gateway with NONE, the gateway forwards to the address it was sent to:
    // itself (Istio's egress-gateway task requires DNS there). A wildcard's gateway leg goes
    // to its `destination`, resolved by DNS, and is fine; a wildcard without one is the
    // missing `destination` (reported by `egress::build`), not this.
    let cidr = addresses.iter().any(|a| a.contains('/'));
    let derived = raw.resolution.is_none();
    if resolution == Resolution::None && (!derived || cidr) && egress.as_ref().is_some_and(|e| e.destination.is_none())
    {
        let why = if derived { " (derived from the CIDR `addresses`)" } else { "" };
        cx.error(
            "egress-resolution-none",
            origin.child(if derived { "addresses" } else { "resolution" }),
            format!("through the egress gateway, resolution NONE{why} makes the gateway forward to itself"),
            Some("let the gateway resolve the hosts: `resolution: DNS` without CIDR addresses, or `STATIC` with `endpoints`".into()),
        );
    }

    let own = raw.traffic.clone().unwrap_or_default();
    cx.traffic(&own, &origin.child("traffic"), inherits_outlier);
    let scope = routes::Scope { subsets: &[], ports: &ports, what: "API" };
    let routes = routes::routes(&mut cx, raw.routes.take().unwrap_or_default(), &scope, &origin);
    if !routes.is_empty() && raw.egress.is_some() {
        cx.error(
            "invalid-value",
            origin.child("routes"),
            "routes of an API behind the egress gateway are not supported",
            Some("route the API directly, or give the sidecar-to-gateway leg its policy through `traffic`".into()),
        );
    }
    let traffic = own.over(&project.defaults.traffic);
    let traffic_written = super::traffic::Written::of(&own);
    let mut subject_alt_names = raw.subject_alt_names.clone().unwrap_or_default();
    subject_alt_names.sort();
    subject_alt_names.dedup();
    let export_to = match &raw.export_to {
        Some(e) => cx.export_to(&e.0, &origin.child("exportTo")),
        None => project.default_export_to(&namespace),
    };
    let names = cx.object_names(raw.names.as_ref(), &origin.child("names"));
    if diags.counts().0 > before {
        return None;
    }
    Some(External {
        name: name.to_string(),
        namespace,
        origin,
        hosts,
        host_index,
        ports,
        resolution,
        location,
        addresses,
        endpoints,
        tls,
        port_policies,
        egress,
        subject_alt_names,
        export_to,
        names,
        traffic,
        traffic_written,
        routes,
    })
}

/// True when `pattern` (a host, maybe `*.`-prefixed) covers `host`.
pub(crate) fn covers(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix('*') {
        Some(suffix) => host.ends_with(suffix) && host.len() > suffix.len(),
        None => pattern == host,
    }
}

fn resolution(
    cx: &mut Checker<'_>,
    raw: &RawExternal,
    hosts: &[String],
    endpoints: &[Workload],
    ports: &[Port],
    addresses: &[String],
    origin: &Origin,
) -> Resolution {
    let ro = origin.child("resolution");
    let wildcard = hosts.iter().any(|h| h.starts_with('*'));
    let any = |k: AddressKind| endpoints.iter().any(|e| e.kind == k);
    let res = match raw.resolution.as_deref() {
        Some(s) => match Resolution::parse(s) {
            Some(r) => r,
            None => {
                cx.one_of("resolution", s, &["NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN", "DYNAMIC_DNS"], &ro);
                return Resolution::None;
            }
        },
        // Derived: endpoints decide; without them a wildcard can only pass through (NONE),
        // and a concrete host is resolved by the proxy (DNS).
        None if any(AddressKind::Dns) => Resolution::Dns,
        None if !endpoints.is_empty() => Resolution::Static,
        // A wildcard or a CIDR range names no single server: pass through to the original one.
        None if wildcard || addresses.iter().any(|a| a.contains('/')) => Resolution::None,
        None => Resolution::Dns,
    };
    let has_endpoints = raw.endpoints.is_some();
    match res {
        Resolution::None if has_endpoints => cx.error(
            "invalid-value",
            ro.clone(),
            "resolution NONE cannot have endpoints",
            Some("remove `endpoints`, or use `resolution: STATIC` (IPs) or `DNS` (names)".into()),
        ),
        Resolution::Static => {
            if endpoints.is_empty() {
                cx.error(
                    "missing-field",
                    origin.child("endpoints"),
                    "resolution STATIC needs endpoints",
                    Some("list the IP addresses under `endpoints`, or use `resolution: DNS`".into()),
                );
            }
            if any(AddressKind::Dns) {
                cx.error(
                    "invalid-value",
                    ro.clone(),
                    "resolution STATIC needs IP or unix socket endpoints, not DNS names",
                    Some("use `resolution: DNS` for endpoints known by name".into()),
                );
            }
        }
        Resolution::Dns | Resolution::DnsRoundRobin => {
            if any(AddressKind::Unix) {
                cx.error(
                    "invalid-value",
                    ro.clone(),
                    "unix socket endpoints need resolution STATIC",
                    Some("use `resolution: STATIC`".into()),
                );
            }
            if endpoints.is_empty() && wildcard {
                cx.error(
                    "invalid-value",
                    origin.child("hosts"),
                    "the proxy cannot resolve a wildcard host by DNS",
                    Some("give `endpoints` to resolve, use `resolution: NONE` (pass-through), or `DYNAMIC_DNS`".into()),
                );
            }
            if res == Resolution::DnsRoundRobin && endpoints.len() > 1 {
                cx.error(
                    "invalid-value",
                    origin.child("endpoints"),
                    "resolution DNS_ROUND_ROBIN allows at most one endpoint",
                    Some("use `resolution: DNS` for several endpoints".into()),
                );
            }
        }
        Resolution::DynamicDns => {
            if !hosts.iter().all(|h| h.starts_with('*')) {
                cx.error(
                    "invalid-value",
                    origin.child("hosts"),
                    "resolution DYNAMIC_DNS needs wildcard hosts only",
                    None,
                );
            }
            if !addresses.is_empty() || has_endpoints {
                cx.error(
                    "invalid-value",
                    ro.clone(),
                    "resolution DYNAMIC_DNS cannot have addresses or endpoints",
                    None,
                );
            }
            for p in ports {
                if !matches!(
                    p.protocol,
                    super::Protocol::Http | super::Protocol::Tls | super::Protocol::Grpc | super::Protocol::Http2
                ) {
                    cx.error(
                        "invalid-value",
                        origin.child("ports").child(&p.name),
                        format!("resolution DYNAMIC_DNS does not support {} ports", p.protocol.as_str()),
                        Some("use HTTP, HTTP2, GRPC or TLS".into()),
                    );
                }
            }
        }
        Resolution::None => {}
    }
    if addresses.iter().any(|a| a.contains('/')) && !matches!(res, Resolution::None | Resolution::Static) {
        cx.error("invalid-value", origin.child("addresses"), "CIDR addresses need resolution NONE or STATIC", None);
    }
    if any(AddressKind::Unix) && ports.len() != 1 {
        cx.error("invalid-value", origin.child("ports"), "a unix socket API has exactly one port", None);
    }
    if hosts.len() > 1 && res != Resolution::None {
        for p in ports {
            if !(p.protocol.is_http() || p.protocol.is_tls()) {
                cx.error("invalid-value", origin.child("ports").child(&p.name), format!("several hosts share the {} port `{}`", p.protocol.as_str(), p.name), Some("Istio tells hosts apart only on HTTP and TLS ports: split the hosts into separate APIs, or use `resolution: NONE`".into()));
            }
        }
    }
    res
}

/// The rules of an external API's entity-wide TLS that depend on its ports and routing.
fn origination(
    cx: &mut Checker<'_>,
    t: &ClientTls,
    ports: &[Port],
    pass_through: bool,
    egress: &Option<Egress>,
    to: &Origin,
) {
    if !ports.iter().any(|p| t.applies_to(p, ports)) {
        cx.error(
            "invalid-value",
            to.clone(),
            format!("TLS mode {} applies to no port: every port already carries the application's TLS", t.mode),
            Some("remove `tls`, or declare the plain port the application calls, e.g. `http: 80`; the sidecar upgrades it to TLS".into()),
        );
    }
    // With NONE the proxy connects to the original destination port: the port switch of
    // HTTP origination (targetPort) never happens. Through the gateway, the destination is
    // a concrete host resolved by DNS, where it does.
    let switches = t.originates() && ports.iter().any(|p| p.protocol.is_http());
    if switches {
        switch_happens(cx, pass_through, egress, to);
    }
    if t.port.is_some() && !switches {
        cx.error(
            "invalid-value",
            to.child("port"),
            "`port` is where plain HTTP ports are sent for TLS origination, and nothing is",
            Some("remove `port`; opaque TCP ports keep their number (set a port's `targetPort` to change it)".into()),
        );
    }
}

/// The rule of [`origination`] that depends on routing, for the ports with TLS of their own
/// (`ports.<name>.tls`, at `ports`): origination on an HTTP port switches its port too.
fn port_origination(
    cx: &mut Checker<'_>,
    policies: &[PortPolicy],
    ports: &[Port],
    pass_through: bool,
    egress: &Option<Egress>,
    at: &Origin,
) {
    for pp in policies {
        let (Some(t), Some(p)) = (&pp.tls, ports.iter().find(|p| p.number == pp.port)) else { continue };
        if t.originates() && p.protocol.is_http() {
            switch_happens(cx, pass_through, egress, &at.child(&p.name).child("tls"));
        }
    }
}

/// HTTP origination sends the plain port to the remote TLS port (targetPort). With NONE
/// (written, or a wildcard's) the proxy connects to the original destination port instead,
/// so the switch never happens; through the gateway the destination is a concrete host
/// resolved by DNS, where it does.
fn switch_happens(cx: &mut Checker<'_>, pass_through: bool, egress: &Option<Egress>, to: &Origin) {
    if pass_through && egress.as_ref().is_none_or(|e| e.destination.is_none()) {
        cx.error("invalid-value", to.clone(), "TLS origination towards a wildcard host (or with resolution NONE) needs the egress gateway", Some("add `egress: {destination: <host>}`: the gateway originates TLS to that host; without it Envoy connects to the original port in plain text".into()));
    }
}
