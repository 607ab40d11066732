//! Maps the model onto Istio objects: one [`Object`] per manifest, holding the template
//! context (the documented template API: Istio field names, values already decided).
//!
//! The Istio knowledge lives here: which objects an entity needs, how VMs and pods share one
//! ServiceEntry, when a DestinationRule or VirtualService is worth emitting, how TLS
//! origination and egress-gateway routing are wired. Templates only lay the values out.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::routes::{Routing, Rules};
use super::traffic_policy::EntityPolicy;
use crate::graph::MeshGraph;
use crate::model::names::slug;
use crate::model::{ApiVersion, ExportTo, External, Inventory, Port, Service, Workload, source_ref};

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
pub(super) struct Builder<'a> {
    /// The inventory being rendered.
    pub(super) inv: &'a Inventory,
    pub(super) graph: &'a MeshGraph,
    out: Vec<Object>,
    /// Counted references, so that an entity's objects (and their manifests) share one copy:
    /// a string each was 1.5 million allocations at 100,000 services.
    namespace: Arc<str>,
    entity: Arc<str>,
    origin: crate::diag::Origin,
    /// Keep only what identifies each object (for `check`): no metadata, no context.
    identities_only: bool,
    /// The current entity's `names`: kind → the name of its object named after it.
    names: Option<&'a BTreeMap<String, String>>,
}

impl<'a> Builder<'a> {
    /// Starts the objects of another entity.
    pub(super) fn entity(&mut self, namespace: &str, name: &str, origin: &crate::diag::Origin) {
        self.namespace = Arc::from(namespace);
        self.entity = Arc::from(name);
        self.origin = origin.clone();
        self.names = None;
    }

    /// The names the current entity chooses for its objects named after it (`names`).
    fn rename(&mut self, names: &'a BTreeMap<String, String>) {
        self.names = (!names.is_empty()).then_some(names);
    }

    /// Adds an object of the current entity.
    pub(super) fn push(&mut self, kind: Kind, name: &str, fields: Map<String, Value>) {
        self.push_with(kind, name, move |_| fields);
    }

    /// Adds an object of the current entity, its fields made only when contexts are wanted:
    /// `check` needs the identities alone, and a streamed build (`render::stream`) checks
    /// them all before it renders anything.
    pub(super) fn push_with(&mut self, kind: Kind, name: &str, fields: impl FnOnce(&Self) -> Map<String, Value>) {
        let origin = self.origin.clone();
        self.push_sourced(kind, name, || origin, fields);
    }

    /// Adds an object of the current entity that comes from one part of it (e.g. a VM). An
    /// identity carries its entity's origin: nothing reads a part's from it.
    pub(super) fn push_sourced(
        &mut self,
        kind: Kind,
        name: &str,
        origin: impl FnOnce() -> crate::diag::Origin,
        fields: impl FnOnce(&Self) -> Map<String, Value>,
    ) {
        // An object named after its entity takes the name the entity chose for its kind.
        let chosen = self.names.filter(|_| name == &*self.entity).and_then(|n| n.get(kind.as_str()));
        let name = chosen.map_or(name, String::as_str);
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

    /// exportTo as a list: `consumers` becomes the entity's namespace plus its consumers'.
    /// DestinationRules and VirtualServices cannot use `~`, so it becomes `.` for them.
    pub(super) fn export_to(&self, e: &Option<ExportTo>, namespace: &str, entity: &str, allow_none: bool) -> Value {
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

pub(super) fn non_empty<T: serde::Serialize>(v: &T) -> Value {
    match serde_json::to_value(v).unwrap_or(Value::Null) {
        Value::Array(a) if a.is_empty() => Value::Null,
        Value::Object(o) if o.is_empty() => Value::Null,
        other => other,
    }
}

pub(super) fn fields(pairs: Vec<(&str, Value)>) -> Map<String, Value> {
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

pub(super) fn destination(host: &str, subset: Option<&str>, port: Option<u32>) -> Value {
    Value::Object(fields(vec![
        ("host", json!(host)),
        ("subset", json!(subset)),
        ("port", port.map_or(Value::Null, |n| json!({"number": n}))),
    ]))
}

fn service<'a>(b: &mut Builder<'a>, svc: &'a Service) {
    b.entity(&svc.namespace, &svc.name, &svc.origin);
    b.rename(&svc.names);
    let ns = &svc.namespace;
    if svc.service_entry {
        b.push_with(Kind::ServiceEntry, &svc.name, |b| {
            fields(vec![
                ("hosts", json!([svc.host])),
                ("addresses", non_empty(&svc.addresses)),
                ("ports", ports_json(&svc.ports, |p| p.target_port)),
                ("location", json!(svc.location)),
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
            let (policy, subsets) = service_destination(svc);
            fields(vec![
                ("host", json!(svc.host)),
                ("trafficPolicy", policy),
                ("subsets", subsets),
                ("exportTo", b.export_to(&svc.export_to, ns, &svc.name, false)),
            ])
        });
    }
    // DestinationRules that give this service's proxies the client credentials of what it
    // calls (`tls.credentialName`), which sidecars read only from a rule that selects them.
    super::credentials::caller_rules(b, svc);

    let vs_hosts = [svc.host.as_str()];
    let routing = Routing {
        host: &svc.host,
        vs_hosts: &vs_hosts,
        ports: &svc.ports,
        routes: &svc.routes,
        traffic: &svc.traffic,
        name_port: false,
        inv: b.inv,
        graph: b.graph,
    };
    let rules = routing.rules();
    if !rules.is_empty() {
        b.push_with(Kind::VirtualService, &svc.name, |b| {
            fields(vec![
                ("hosts", json!([svc.host])),
                ("http", non_empty(&rules.http)),
                ("tls", non_empty(&rules.tls)),
                ("tcp", non_empty(&rules.tcp)),
                ("exportTo", b.export_to(&svc.export_to, ns, &svc.name, false)),
            ])
        });
    }

    // Exposure through the ingress gateway: a Gateway and a gateway-bound copy of the rules.
    if let Some(ing) = svc.ingress.as_deref() {
        let name = crate::model::ingress::Ingress::object_name(&svc.name);
        let origin = || svc.origin.child("ingress");
        b.push_sourced(Kind::Gateway, &name, origin, |b| super::ingress::gateway(&b.inv.project, ing));
        b.push_sourced(Kind::VirtualService, &name, origin, |b| {
            let export = b.export_to(&svc.export_to, ns, &svc.name, false);
            super::ingress::virtual_service(svc, ing, &rules, export)
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

/// A service's DestinationRule `trafficPolicy` and `subsets` (each `Null` when empty).
pub(super) fn service_destination(svc: &Service) -> (Value, Value) {
    let policy = EntityPolicy {
        ports: &svc.ports,
        traffic: &svc.traffic,
        tls: svc.tls.as_deref(),
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
    (policy.top().map_or(Value::Null, Value::Object), non_empty(&subsets))
}

/// The policy of an external API towards `host`, which differs between hosts in its SNI
/// only; `tls`: whether TLS is originated towards this host (not to a wildcard the egress
/// gateway forwards to a destination), without which the ports' own TLS does not apply.
pub(super) fn external_policy<'a>(ext: &'a External, host: &'a str, tls: bool) -> EntityPolicy<'a> {
    EntityPolicy {
        ports: &ext.ports,
        traffic: &ext.traffic,
        tls: ext.tls.as_deref().filter(|_| tls),
        own: if tls { &ext.port_policies } else { &[] },
        host,
        subject_alt_names: &ext.subject_alt_names,
    }
}

fn external<'a>(b: &mut Builder<'a>, ext: &'a External) {
    b.entity(&ext.namespace, &ext.name, &ext.origin);
    b.rename(&ext.names);
    let policy_for = |host: &'a str, tls: bool| external_policy(ext, host, tls);
    // With TLS origination the app's plain HTTP ports are sent to the remote TLS port.
    let any = policy_for("", true);
    let target = |p: &Port| p.target_port.or_else(|| any.origination_port(p));
    let endpoints: Vec<Value> = ext.endpoints.iter().map(endpoint_json).collect();
    let export_se = super::egress::export_to(b, ext, true);
    let export = super::egress::export_to(b, ext, false);
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
    let dest = ext.egress.as_ref().and_then(|g| g.destination.as_deref());
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
        let Some(top) = policy_for(host, with_tls).top() else { continue };
        b.push(
            Kind::DestinationRule,
            &name,
            fields(vec![("host", json!(host)), ("trafficPolicy", Value::Object(top)), ("exportTo", export.clone())]),
        );
    }

    match &ext.egress {
        Some(g) => super::egress::routes(b, ext, g),
        None => direct_routes(b, ext, &export),
    }
}

/// The routing of an external API reached directly: a VirtualService per host, since each
/// host's rules route to that host; one for all hosts when every rule sends its traffic
/// elsewhere (e.g. SNI routing of several hosts to a firewall), nothing falls through to a
/// host of its own (the last HTTP rule catches everything), and no host covers another (a
/// VirtualService cannot hold both).
fn direct_routes(b: &mut Builder<'_>, ext: &External, export: &Value) {
    let routing = |host, vs_hosts| Routing {
        host,
        vs_hosts,
        ports: &ext.ports,
        routes: &ext.routes,
        traffic: &ext.traffic,
        name_port: true,
        inv: b.inv,
        graph: b.graph,
    };
    use crate::model::Target;
    let own = |t: &Target| *t == Target::Own;
    let elsewhere = !ext.routes.is_empty()
        && ext.routes.iter().all(|r| {
            !r.destinations.iter().any(|d| own(&d.target)) && !r.mirror.as_ref().is_some_and(|m| own(&m.target))
        });
    let http = ext.ports.iter().any(|p| p.protocol.is_http());
    let caught = ext.routes.iter().rev().find(|r| !r.is_stream()).is_some_and(|r| r.matches.is_empty());
    let overlap = ext.hosts.iter().any(|a| ext.hosts.iter().any(|b| a != b && crate::model::covers(a, b)));
    let hosts: Vec<&str> = ext.hosts.iter().map(String::as_str).collect();
    let groups: Vec<(String, Vec<&str>, Rules)> = if elsewhere && (caught || !http) && !overlap {
        vec![(ext.name.clone(), hosts.clone(), routing(hosts[0], &hosts).rules())]
    } else {
        hosts
            .iter()
            .map(|h| {
                let name =
                    if ext.hosts.len() == 1 { ext.name.clone() } else { format!("{}-{}", ext.name, host_slug(h)) };
                (name, vec![*h], routing(h, std::slice::from_ref(h)).rules())
            })
            .collect()
    };
    for (name, hosts, rules) in groups {
        if rules.is_empty() {
            continue;
        }
        b.push(
            Kind::VirtualService,
            &name,
            fields(vec![
                ("hosts", json!(hosts)),
                ("http", non_empty(&rules.http)),
                ("tls", non_empty(&rules.tls)),
                ("tcp", non_empty(&rules.tcp)),
                ("exportTo", export.clone()),
            ]),
        );
    }
}

pub(super) fn host_slug(host: &str) -> String {
    slug(&host.replace('*', "wildcard"))
}

/// Every object the inventory produces, in a stable order: by namespace, kind, name.
pub fn objects(inv: &Inventory, graph: &MeshGraph) -> Vec<Object> {
    // The position after the last entity makes the project's own objects.
    let mut out = objects_in(inv, graph, 0..inv.services.len() + inv.externals.len() + 1);
    out.sort_by(|a, b| (&a.namespace, a.kind, &a.name).cmp(&(&b.namespace, b.kind, &b.name)));
    out
}

/// The objects of the entities at positions `range` (services first, then externals, then
/// the project's own objects: `render::egress`), in entity order: a slice of the work, for
/// rendering in parallel.
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
    let mut b = Builder { inv, graph, out: Vec::new(), namespace, entity, origin, identities_only, names: None };
    let n = inv.services.len();
    for i in range {
        match inv.services.get(i) {
            Some(s) => service(&mut b, s),
            None => match inv.externals.get(i - n) {
                Some(e) => external(&mut b, e),
                None => super::egress::project(&mut b),
            },
        }
    }
    b.out
}
