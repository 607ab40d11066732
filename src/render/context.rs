//! Maps the model onto Istio objects: one [`Object`] per manifest, holding the template
//! context (the documented template API: Istio field names, values already decided).
//!
//! The Istio knowledge lives here: which objects an entity needs, how VMs and pods share one
//! ServiceEntry, when a DestinationRule or VirtualService is worth emitting, how TLS
//! origination and egress-gateway routing are wired. Templates only lay the values out.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::traffic_policy::EntityPolicy;
use crate::graph::MeshGraph;
use crate::model::names::slug;
use crate::model::traffic::Retries;
use crate::model::{ApiVersion, ExportTo, External, Inventory, Port, Route, Service, Workload, source_ref};

/// The kinds of object meshgen emits, in output order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// networking.istio.io ServiceEntry.
    ServiceEntry,
    /// networking.istio.io WorkloadGroup.
    WorkloadGroup,
    /// networking.istio.io WorkloadEntry.
    WorkloadEntry,
    /// networking.istio.io DestinationRule.
    DestinationRule,
    /// networking.istio.io Gateway.
    Gateway,
    /// networking.istio.io VirtualService.
    VirtualService,
    /// networking.istio.io Sidecar (policy from the graph).
    Sidecar,
    /// security.istio.io AuthorizationPolicy (policy from the graph).
    AuthorizationPolicy,
}

impl Kind {
    /// Every kind meshgen emits.
    pub const ALL: [Kind; 8] = [
        Kind::ServiceEntry,
        Kind::WorkloadGroup,
        Kind::WorkloadEntry,
        Kind::DestinationRule,
        Kind::Gateway,
        Kind::VirtualService,
        Kind::Sidecar,
        Kind::AuthorizationPolicy,
    ];

    /// The Kubernetes kind.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::ServiceEntry => "ServiceEntry",
            Kind::WorkloadGroup => "WorkloadGroup",
            Kind::WorkloadEntry => "WorkloadEntry",
            Kind::DestinationRule => "DestinationRule",
            Kind::Gateway => "Gateway",
            Kind::VirtualService => "VirtualService",
            Kind::Sidecar => "Sidecar",
            Kind::AuthorizationPolicy => "AuthorizationPolicy",
        }
    }

    /// The template that renders this kind.
    pub fn template(self) -> &'static str {
        match self {
            Kind::ServiceEntry => "istio/service-entry.yaml",
            Kind::WorkloadGroup => "istio/workload-group.yaml",
            Kind::WorkloadEntry => "istio/workload-entry.yaml",
            Kind::DestinationRule => "istio/destination-rule.yaml",
            Kind::Gateway => "istio/gateway.yaml",
            Kind::VirtualService => "istio/virtual-service.yaml",
            Kind::Sidecar => "istio/sidecar.yaml",
            Kind::AuthorizationPolicy => "istio/authorization-policy.yaml",
        }
    }

    /// The `apiVersion` of this kind in the chosen API generation.
    pub fn api_version(self, v: ApiVersion) -> &'static str {
        match self {
            Kind::AuthorizationPolicy => v.security(),
            _ => v.networking(),
        }
    }
}

/// One object to render.
#[derive(Debug, Clone)]
pub struct Object {
    /// Kind.
    pub kind: Kind,
    /// metadata.name.
    pub name: String,
    /// metadata.namespace (shared by the entity's objects).
    pub namespace: Arc<str>,
    /// The inventory entity it comes from (shared by its objects).
    pub entity: Arc<str>,
    /// The part of the inventory it comes from (the entity, or e.g. one of its VMs).
    pub origin: crate::diag::Origin,
    /// The template context.
    pub context: Value,
}

/// The label every generated object carries.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "meshgen");
/// The annotation naming the inventory file and entity an object comes from.
pub const SOURCE_ANNOTATION: &str = "meshgen.dev/source";

/// Collects the objects of the entity being compiled (`namespace`, `entity`, `source`).
struct Builder<'a> {
    inv: &'a Inventory,
    graph: &'a MeshGraph,
    out: Vec<Object>,
    /// Counted references, so that an entity's objects (and their manifests) share one copy:
    /// a string each was 1.5 million allocations at 100,000 services.
    namespace: Arc<str>,
    entity: Arc<str>,
    origin: crate::diag::Origin,
    /// Keep only what identifies each object (for `check`): no metadata, no context.
    identities_only: bool,
}

impl Builder<'_> {
    /// Starts the objects of another entity.
    fn entity(&mut self, namespace: &str, name: &str, origin: &crate::diag::Origin) {
        self.namespace = Arc::from(namespace);
        self.entity = Arc::from(name);
        self.origin = origin.clone();
    }

    /// Adds an object of the current entity.
    fn push(&mut self, kind: Kind, name: &str, fields: Map<String, Value>) {
        self.push_with(kind, name, move |_| fields);
    }

    /// Adds an object of the current entity, its fields made only when contexts are wanted:
    /// `check` needs the identities alone, and a streamed build (`render::stream`) checks
    /// them all before it renders anything.
    fn push_with(&mut self, kind: Kind, name: &str, fields: impl FnOnce(&Self) -> Map<String, Value>) {
        let origin = self.origin.clone();
        self.push_sourced(kind, name, || origin, fields);
    }

    /// Adds an object of the current entity that comes from one part of it (e.g. a VM). An
    /// identity carries its entity's origin: nothing reads a part's from it.
    fn push_sourced(
        &mut self,
        kind: Kind,
        name: &str,
        origin: impl FnOnce() -> crate::diag::Origin,
        fields: impl FnOnce(&Self) -> Map<String, Value>,
    ) {
        if self.identities_only {
            let (namespace, entity, origin) = (self.namespace.clone(), self.entity.clone(), self.origin.clone());
            let o = Object { kind, name: name.to_string(), namespace, entity, origin, context: Value::Null };
            self.out.push(o);
            return;
        }
        let origin = origin();
        let mut fields = fields(self);
        fields.insert("api_version".into(), json!(kind.api_version(self.inv.project.api_version)));
        let extra = &self.inv.project.labels;
        let labels = if extra.is_empty() {
            json!({MANAGED_BY.0: MANAGED_BY.1})
        } else {
            // Sorted with meshgen's own, so the order never depends on how they were given.
            let mut all: BTreeMap<&str, &str> = extra.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            all.insert(MANAGED_BY.0, MANAGED_BY.1);
            json!(all)
        };
        fields.insert(
            "metadata".into(),
            json!({
                "name": name,
                "namespace": &*self.namespace,
                "labels": labels,
                // A part an overlay replaced (a VM of an environment) is traced to it.
                "annotations": {SOURCE_ANNOTATION: source_ref(self.inv.trace.locate(&origin).as_ref().unwrap_or(&origin))},
            }),
        );
        self.out.push(Object {
            kind,
            name: name.to_string(),
            namespace: self.namespace.clone(),
            entity: self.entity.clone(),
            origin,
            context: Value::Object(fields),
        });
    }

    /// exportTo of an external API's objects. Through the egress gateway, the gateway's own
    /// namespace must see them too, or its leg of the route finds no host.
    fn external_export(&self, ext: &External, allow_none: bool) -> Value {
        let mut v = self.export_to(&ext.export_to, &ext.namespace, &ext.name, allow_none);
        if let (Some(_), Value::Array(list)) = (&ext.egress, &mut v) {
            let gw = &self.inv.project.egress_gateway.namespace;
            // `~` (no one) cannot be combined with a namespace: the gateway alone sees it.
            list.retain(|n| n != "~");
            if !list.iter().any(|n| n == "*" || n == gw.as_str()) && gw != &ext.namespace {
                list.push(json!(gw));
            }
            if list.is_empty() {
                list.push(json!("."));
            }
        }
        v
    }

    /// exportTo as a list: `consumers` becomes the entity's namespace plus its consumers'.
    /// DestinationRules and VirtualServices cannot use `~`, so it becomes `.` for them.
    fn export_to(&self, e: &Option<ExportTo>, namespace: &str, entity: &str, allow_none: bool) -> Value {
        match e {
            None => Value::Null,
            Some(ExportTo::Consumers) => {
                let mut list = vec![".".to_string()];
                list.extend(self.graph.consumer_namespaces(entity).into_iter().filter(|ns| ns != namespace));
                json!(list)
            }
            Some(ExportTo::Namespaces(list)) => {
                // The own namespace is written `.`; Istio refuses both together.
                let mut mapped: Vec<String> = Vec::new();
                for n in list {
                    let n = if (n == "~" && !allow_none) || n == namespace { "." } else { n.as_str() };
                    if !mapped.iter().any(|m| m == n) {
                        mapped.push(n.to_string());
                    }
                }
                json!(mapped)
            }
        }
    }
}

fn ports_json(ports: &[Port], target: impl Fn(&Port) -> Option<u32>) -> Value {
    Value::Array(
        ports
            .iter()
            .map(|p| {
                let mut m = json!({"name": p.name, "number": p.number, "protocol": p.protocol.as_str()});
                if let Some(t) = target(p) {
                    m["targetPort"] = json!(t);
                }
                m
            })
            .collect(),
    )
}

fn non_empty<T: serde::Serialize>(v: &T) -> Value {
    match serde_json::to_value(v).unwrap_or(Value::Null) {
        Value::Array(a) if a.is_empty() => Value::Null,
        Value::Object(o) if o.is_empty() => Value::Null,
        other => other,
    }
}

fn fields(pairs: Vec<(&str, Value)>) -> Map<String, Value> {
    pairs.into_iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.to_string(), v)).collect()
}

fn endpoint_json(w: &Workload) -> Value {
    Value::Object(fields(vec![
        ("address", json!(w.address)),
        ("ports", non_empty(&w.ports)),
        ("labels", non_empty(&w.labels)),
        ("locality", json!(w.locality)),
        ("network", json!(w.network)),
        ("weight", json!(w.weight)),
        ("serviceAccount", json!(w.service_account)),
    ]))
}

fn destination(host: &str, subset: Option<&str>, port: Option<u32>) -> Value {
    Value::Object(fields(vec![
        ("host", json!(host)),
        ("subset", json!(subset)),
        ("port", port.map_or(Value::Null, |n| json!({"number": n}))),
    ]))
}

/// One HTTP rule of a service's VirtualService.
/// One HTTP rule of a service's VirtualService, for one port when the service has several
/// (`add_port_match`); `None` when the route's matches all name other ports.
fn http_rule(svc: &Service, route: Option<&Route>, port: Option<u32>, add_port_match: bool) -> Option<Value> {
    let t = &svc.traffic;
    let written = route.map(|r| &r.matches[..]).unwrap_or_default();
    // A match that names a port applies on that port only.
    let here: Vec<&crate::model::raw::HttpMatch> =
        written.iter().filter(|m| !add_port_match || m.port.is_none() || m.port == port).collect();
    if !written.is_empty() && here.is_empty() {
        return None;
    }
    let mut matches: Vec<Value> = here.iter().map(|m| serde_json::to_value(m).unwrap_or(Value::Null)).collect();
    if add_port_match {
        let n = port.unwrap_or_default();
        if matches.is_empty() {
            matches.push(json!({"port": n}));
        } else {
            for m in &mut matches {
                m["port"] = json!(n);
            }
        }
    }
    let dests: Vec<Value> = match route {
        Some(r) => r
            .destinations
            .iter()
            .map(|(subset, weight)| {
                let mut d = json!({"destination": destination(&svc.host, subset.as_deref(), port)});
                if let Some(w) = weight {
                    d["weight"] = json!(w);
                }
                d
            })
            .collect(),
        None => vec![json!({"destination": destination(&svc.host, None, port)})],
    };
    let retries: Option<Retries> = match (route.and_then(|r| r.retries.as_deref()), t.retries.as_ref()) {
        (Some(r), Some(base)) => Some(r.over(base).normalized()),
        (r, base) => r.or(base).cloned(),
    };
    let name = route.and_then(|r| r.name.clone()).map(|n| match (add_port_match, port) {
        (true, Some(p)) => format!("{n}-{p}"),
        _ => n,
    });
    let mirror = route.and_then(|r| r.mirror.as_deref());
    Some(Value::Object(fields(vec![
        ("name", json!(name)),
        ("match", if matches.is_empty() { Value::Null } else { json!(matches) }),
        ("route", json!(dests)),
        ("timeout", json!(route.and_then(|r| r.timeout.clone()).or_else(|| t.timeout.clone()))),
        ("retries", non_empty(&retries)),
        ("fault", non_empty(&route.and_then(|r| r.fault.as_deref()).or(t.fault.as_deref()))),
        ("mirror", mirror.map_or(Value::Null, |(s, _)| destination(&svc.host, s.as_deref(), port))),
        ("mirrorPercentage", mirror.and_then(|(_, p)| *p).map_or(Value::Null, |p| json!({"value": p}))),
        ("rewrite", non_empty(&route.and_then(|r| r.rewrite.as_deref()))),
    ])))
}

fn service(b: &mut Builder<'_>, svc: &Service) {
    b.entity(&svc.namespace, &svc.name, &svc.origin);
    let ns = &svc.namespace;
    if svc.service_entry {
        b.push_with(Kind::ServiceEntry, &svc.name, |b| {
            fields(vec![
                ("hosts", json!([svc.host])),
                ("addresses", non_empty(&svc.addresses)),
                ("ports", ports_json(&svc.ports, |p| p.target_port)),
                ("location", json!("MESH_INTERNAL")),
                ("resolution", json!(svc.resolution.as_str())),
                ("workloadSelector", json!(svc.selector)),
                ("subjectAltNames", non_empty(&svc.subject_alt_names)),
                ("exportTo", b.export_to(&svc.export_to, ns, &svc.name, true)),
            ])
        });
    }
    if let Some(wg) = &svc.workload_group {
        b.push_with(Kind::WorkloadGroup, &svc.name, |_| {
            let template = fields(vec![
                ("ports", non_empty(&wg.ports)),
                ("network", json!(wg.network)),
                ("locality", json!(wg.locality)),
                ("weight", json!(wg.weight)),
                ("serviceAccount", json!(wg.service_account)),
            ]);
            fields(vec![
                ("labels", json!(wg.labels)),
                ("template", Value::Object(template)),
                ("probe", non_empty(&wg.probe)),
            ])
        });
    }
    for vm in &svc.vms {
        b.push_sourced(
            Kind::WorkloadEntry,
            &vm.name,
            || svc.vm_origin(vm),
            |_| {
                let mut f = match endpoint_json(vm) {
                    Value::Object(m) => m,
                    _ => Map::new(),
                };
                f.insert("labels".into(), json!(vm.labels));
                f
            },
        );
    }

    let own_policy = svc.port_policies.iter().any(|p| p.tls.is_some() || p.traffic.has_destination_policy());
    if svc.traffic.has_destination_policy() || svc.tls.is_some() || own_policy || !svc.subsets.is_empty() {
        b.push_with(Kind::DestinationRule, &svc.name, |b| {
            let policy = EntityPolicy {
                ports: &svc.ports,
                traffic: &svc.traffic,
                tls: svc.tls.as_ref(),
                own: &svc.port_policies,
                host: &svc.host,
                subject_alt_names: &svc.subject_alt_names,
            };
            let subsets: Vec<Value> = svc
                .subsets
                .iter()
                .map(|s| {
                    let own = s.policy.as_deref().and_then(|p| policy.subset(p));
                    Value::Object(fields(vec![
                        ("name", json!(s.name)),
                        ("labels", json!(s.labels)),
                        ("trafficPolicy", own.map_or(Value::Null, Value::Object)),
                    ]))
                })
                .collect();
            fields(vec![
                ("host", json!(svc.host)),
                ("trafficPolicy", policy.top().map_or(Value::Null, Value::Object)),
                ("subsets", non_empty(&subsets)),
                ("exportTo", b.export_to(&svc.export_to, ns, &svc.name, false)),
            ])
        });
    }

    let StreamRules { http, tcp, tls } = service_routes(svc);
    if !http.is_empty() || !tcp.is_empty() || !tls.is_empty() {
        b.push_with(Kind::VirtualService, &svc.name, |b| {
            fields(vec![
                ("hosts", json!([svc.host])),
                ("http", non_empty(&http)),
                ("tls", non_empty(&tls)),
                ("tcp", non_empty(&tcp)),
                ("exportTo", b.export_to(&svc.export_to, ns, &svc.name, false)),
            ])
        });
    }

    // The Sidecar follows from the dependency list, so that is where it points.
    let policy = &b.inv.project.policy;
    if policy.sidecar_for(svc) {
        let origin = || svc.origin.child("dependsOn");
        b.push_sourced(Kind::Sidecar, &svc.name, origin, |b| super::policy::sidecar(b.inv, b.graph, svc));
    }
    if policy.authorization_for(svc) {
        b.push_with(Kind::AuthorizationPolicy, &svc.name, |b| super::policy::authorization_policy(b.inv, b.graph, svc));
    }
}

/// The rules of a service's VirtualService, by protocol.
struct StreamRules {
    http: Vec<Value>,
    tcp: Vec<Value>,
    tls: Vec<Value>,
}

/// HTTP, TCP and TLS rules of a service. A service with one port needs no port in
/// destinations; with several, each rule is repeated per port with a port match, because
/// Istio cannot pick the destination port of a multi-port service on its own.
fn service_routes(svc: &Service) -> StreamRules {
    let http_ports: Vec<&Port> = svc.ports.iter().filter(|p| p.protocol.is_http()).collect();
    let multi = svc.ports.len() > 1;
    let t = &svc.traffic;
    let wants_http = !svc.routes.is_empty() || t.timeout.is_some() || t.retries.is_some() || t.fault.is_some();
    let mut http = Vec::new();
    if wants_http {
        for p in &http_ports {
            let port = multi.then_some(p.number);
            // Once a rule catches everything on this port (no match, or only this port),
            // later rules would be unreachable there (and Istio warns): stop.
            let mut caught = false;
            for r in &svc.routes {
                if let Some(rule) = http_rule(svc, Some(r), port, multi) {
                    caught = r.matches.is_empty()
                        || r.matches.iter().any(|m| {
                            (!multi || m.port.is_none() || m.port == port)
                                && *m == crate::model::raw::HttpMatch { port: m.port, ..Default::default() }
                        });
                    http.push(rule);
                    if caught {
                        break;
                    }
                }
            }
            if !caught {
                http.extend(http_rule(svc, None, port, multi));
            }
        }
    }
    // TCP and TLS traffic can only be split, not matched on requests: the routes without
    // request matches apply; TLS rules must name the SNI hosts they match (Istio requires it).
    let stream_routes: Vec<&Route> =
        svc.routes.iter().filter(|r| r.matches.is_empty() && r.destinations.iter().any(|(s, _)| s.is_some())).collect();
    let stream_rule = |p: &Port, r: &Route, tls: bool| {
        let dests: Vec<Value> = r
            .destinations
            .iter()
            .map(|(s, w)| {
                let mut d = json!({"destination": destination(&svc.host, s.as_deref(), multi.then_some(p.number))});
                if let Some(w) = w {
                    d["weight"] = json!(w);
                }
                d
            })
            .collect();
        let mut m = serde_json::Map::new();
        if multi {
            m.insert("port".into(), json!(p.number));
        }
        if tls {
            m.insert("sniHosts".into(), json!([svc.host]));
        }
        let m = if m.is_empty() { Value::Null } else { json!([m]) };
        Value::Object(fields(vec![("match", m), ("route", json!(dests))]))
    };
    let mut tcp = Vec::new();
    let mut tls = Vec::new();
    for p in &svc.ports {
        for r in &stream_routes {
            if p.protocol.is_tls() {
                tls.push(stream_rule(p, r, true));
            } else if !p.protocol.is_http() {
                tcp.push(stream_rule(p, r, false));
            }
        }
    }
    StreamRules { http, tcp, tls }
}

fn external<'a>(b: &mut Builder<'_>, ext: &'a External) {
    b.entity(&ext.namespace, &ext.name, &ext.origin);
    // The policy towards each host differs in its SNI only.
    let policy_for = |host: &'a str, tls: bool| EntityPolicy {
        ports: &ext.ports,
        traffic: &ext.traffic,
        tls: ext.tls.as_ref().filter(|_| tls),
        own: &ext.port_policies,
        host,
        subject_alt_names: &ext.subject_alt_names,
    };
    // With TLS origination the app's plain HTTP ports are sent to the remote TLS port.
    let any = policy_for("", true);
    let target = |p: &Port| p.target_port.or_else(|| any.origination_port(p));
    let endpoints: Vec<Value> = ext.endpoints.iter().map(endpoint_json).collect();
    let export_se = b.external_export(ext, true);
    let export = b.external_export(ext, false);
    b.push(
        Kind::ServiceEntry,
        &ext.name,
        fields(vec![
            ("hosts", json!(ext.hosts)),
            ("addresses", non_empty(&ext.addresses)),
            ("ports", ports_json(&ext.ports, target)),
            ("location", json!(ext.location)),
            ("resolution", json!(ext.resolution.as_str())),
            ("endpoints", non_empty(&endpoints)),
            ("subjectAltNames", non_empty(&ext.subject_alt_names)),
            ("exportTo", export_se.clone()),
        ]),
    );

    // A wildcard host behind the egress gateway is forwarded to one concrete server, which
    // needs its own ServiceEntry so that Envoy can resolve it; TLS is originated towards it.
    let dest = ext.egress.as_ref().and_then(|d| d.as_deref());
    if let Some(dest) = dest {
        b.push(
            Kind::ServiceEntry,
            &format!("{}-destination", ext.name),
            fields(vec![
                ("hosts", json!([dest])),
                ("ports", ports_json(&ext.ports, target)),
                ("location", json!("MESH_EXTERNAL")),
                ("resolution", json!("DNS")),
                ("exportTo", export_se),
            ]),
        );
    }

    // One DestinationRule per host, since the SNI to originate with differs per host; the
    // TLS settings go where TLS is originated: each concrete host, or the destination.
    let mut dr_hosts: Vec<(String, &str, bool)> = ext
        .hosts
        .iter()
        .map(|h| {
            let name = if ext.hosts.len() == 1 { ext.name.clone() } else { format!("{}-{}", ext.name, host_slug(h)) };
            (name, h.as_str(), !(h.starts_with('*') && dest.is_some()))
        })
        .collect();
    if let Some(d) = dest {
        dr_hosts.push((format!("{}-destination", ext.name), d, true));
    }
    for (name, host, with_tls) in dr_hosts {
        // Without TLS here, the ports' own TLS settings do not apply either.
        let mut policy = policy_for(host, with_tls);
        if !with_tls {
            policy.own = &[];
        }
        let Some(top) = policy.top() else { continue };
        b.push(
            Kind::DestinationRule,
            &name,
            fields(vec![("host", json!(host)), ("trafficPolicy", Value::Object(top)), ("exportTo", export.clone())]),
        );
    }

    match &ext.egress {
        Some(dest) => egress(b, ext, dest.as_deref()),
        None => direct_routes(b, ext, &export),
    }
}

/// Timeouts, retries and faults of an external API reached directly: a VirtualService per
/// host, since each host's rule must route to that host.
fn direct_routes(b: &mut Builder<'_>, ext: &External, export: &Value) {
    let t = &ext.traffic;
    let http_ports: Vec<&Port> = ext.ports.iter().filter(|p| p.protocol.is_http()).collect();
    if (t.timeout.is_none() && t.retries.is_none() && t.fault.is_none()) || http_ports.is_empty() {
        return;
    }
    for host in &ext.hosts {
        let rules: Vec<Value> = http_ports
            .iter()
            .map(|p| {
                Value::Object(fields(vec![
                    ("match", if ext.ports.len() > 1 { json!([{"port": p.number}]) } else { Value::Null }),
                    ("route", json!([{"destination": destination(host, None, Some(p.number))}])),
                    ("timeout", json!(t.timeout)),
                    ("retries", non_empty(&t.retries)),
                    ("fault", non_empty(&t.fault)),
                ]))
            })
            .collect();
        let name = if ext.hosts.len() == 1 { ext.name.clone() } else { format!("{}-{}", ext.name, host_slug(host)) };
        b.push(
            Kind::VirtualService,
            &name,
            fields(vec![("hosts", json!([host])), ("http", json!(rules)), ("exportTo", export.clone())]),
        );
    }
}

fn host_slug(host: &str) -> String {
    slug(&host.replace('*', "wildcard"))
}

/// The Gateway + VirtualService pair that sends an external API's traffic through the egress
/// gateway: the mesh's sidecars route to the gateway, the gateway routes to the API (HTTP by
/// port, TLS by SNI, passed through untouched).
fn egress(b: &mut Builder<'_>, ext: &External, dest: Option<&str>) {
    let ns = &ext.namespace;
    let gw_name = format!("{}-egress", ext.name);
    let gw_ref = format!("{ns}/{gw_name}");
    let gw_host = b.inv.project.egress_gateway.host.clone();
    let servers: Vec<Value> = ext
        .ports
        .iter()
        .map(|p| {
            if p.protocol.is_tls() {
                json!({"port": {"number": p.number, "name": p.name, "protocol": "TLS"}, "hosts": ext.hosts, "tls": {"mode": "PASSTHROUGH"}})
            } else {
                json!({"port": {"number": p.number, "name": p.name, "protocol": "HTTP"}, "hosts": ext.hosts})
            }
        })
        .collect();
    b.push(
        Kind::Gateway,
        &gw_name,
        fields(vec![("selector", json!(b.inv.project.egress_gateway.selector)), ("servers", json!(servers))]),
    );

    // Where the gateway forwards each host: itself, or the destination for wildcards.
    let targets: BTreeMap<&str, &str> = ext.hosts.iter().map(|h| (h.as_str(), dest.unwrap_or(h.as_str()))).collect();
    let t = &ext.traffic;
    let mut http = Vec::new();
    let mut tls = Vec::new();
    for p in &ext.ports {
        if p.protocol.is_tls() {
            tls.push(json!({"match": [{"gateways": ["mesh"], "port": p.number, "sniHosts": ext.hosts}], "route": [{"destination": destination(&gw_host, None, Some(p.number))}]}));
            for (h, to) in &targets {
                tls.push(json!({"match": [{"gateways": [gw_ref], "port": p.number, "sniHosts": [h]}], "route": [{"destination": destination(to, None, Some(p.number))}]}));
            }
        } else {
            http.push(Value::Object(fields(vec![
                ("match", json!([{"gateways": ["mesh"], "port": p.number}])),
                ("route", json!([{"destination": destination(&gw_host, None, Some(p.number))}])),
                ("timeout", json!(t.timeout)),
                ("retries", non_empty(&t.retries)),
                ("fault", non_empty(&t.fault)),
            ])));
            for (h, to) in &targets {
                let mut m = json!({"gateways": [gw_ref], "port": p.number});
                if targets.len() > 1 {
                    m["authority"] = json!({"exact": h});
                }
                http.push(json!({"match": [m], "route": [{"destination": destination(to, None, Some(p.number))}]}));
            }
        }
    }
    b.push(
        Kind::VirtualService,
        &ext.name,
        fields(vec![
            ("hosts", json!(ext.hosts)),
            ("gateways", json!(["mesh", gw_ref])),
            ("http", non_empty(&http)),
            ("tls", non_empty(&tls)),
            ("exportTo", b.external_export(ext, false)),
        ]),
    );
}

/// Every object the inventory produces, in a stable order: by namespace, kind, name.
pub fn objects(inv: &Inventory, graph: &MeshGraph) -> Vec<Object> {
    let mut out = objects_in(inv, graph, 0..inv.services.len() + inv.externals.len());
    out.sort_by(|a, b| (&a.namespace, a.kind, &a.name).cmp(&(&b.namespace, b.kind, &b.name)));
    out
}

/// The objects of the entities at positions `range` (services first, then externals), in
/// entity order: a slice of the work, for rendering in parallel.
pub fn objects_in(inv: &Inventory, graph: &MeshGraph, range: std::ops::Range<usize>) -> Vec<Object> {
    build_objects(inv, graph, range, false)
}

/// [`objects_in`] without the template contexts (`Value::Null`): the identities `check`
/// needs, at a fraction of the cost.
pub fn identities_in(inv: &Inventory, graph: &MeshGraph, range: std::ops::Range<usize>) -> Vec<Object> {
    build_objects(inv, graph, range, true)
}

fn build_objects(
    inv: &Inventory,
    graph: &MeshGraph,
    range: std::ops::Range<usize>,
    identities_only: bool,
) -> Vec<Object> {
    let origin = crate::diag::Origin::new(&inv.project.file, 0, "");
    let (namespace, entity) = (Arc::from(""), Arc::from(""));
    let mut b = Builder { inv, graph, out: Vec::new(), namespace, entity, origin, identities_only };
    let n = inv.services.len();
    for i in range {
        match inv.services.get(i) {
            Some(s) => service(&mut b, s),
            None => external(&mut b, &inv.externals[i - n]),
        }
    }
    b.out
}
