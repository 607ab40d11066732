//! Maps the model onto Istio objects: one [`Object`] per manifest, holding the template
//! context (the documented template API, typed in [`super::api`]: Istio field names, values
//! already decided).
//!
//! The Istio knowledge lives here: which objects an entity needs, how VMs and pods share one
//! ServiceEntry, when a DestinationRule or VirtualService is worth emitting, how TLS
//! origination and egress-gateway routing are wired. Templates only lay the values out.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use super::api;
use super::direct::{Head, Layout};
use super::routes::{Routing, Rules};
use super::tape::Tape;
use super::traffic_policy::EntityPolicy;
use crate::graph::MeshGraph;
use crate::model::names::slug;
use crate::model::raw::Probe;
use crate::model::{ApiVersion, ExportTo, External, Inventory, Port, Service, Workload};

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
    /// The template context: one of the [`super::api`] types, serialised (`null` for an
    /// object whose `text` is written).
    pub context: Tape,
    /// The text, when the built-in templates wrote it straight from the typed context
    /// ([`super::direct`], see [`texts_in`]): the document as the output holds it.
    pub text: Option<String>,
}

/// What identifies an object, and no more ([`identities_in`]): what `check` compares, and
/// what `patches` find their objects by. Its strings but the name are the inventory's: an
/// [`Object`] made for this alone (two counted references, an origin and an empty tape:
/// 184 bytes, where this is 64) was most of the cost of deciding the identities. The name
/// is borrowed too where the inventory holds it (an entity's or a VM's name, nearly every
/// object's): a string each was 74,000 allocations at 10,000 services.
#[derive(Debug)]
pub struct Identity<'a> {
    /// Kind.
    pub kind: Kind,
    /// metadata.name.
    pub name: Cow<'a, str>,
    /// metadata.namespace.
    pub namespace: &'a str,
    /// The inventory entity it comes from.
    pub entity: &'a str,
}

/// The label every generated object carries.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "meshgen");
/// The annotation naming the inventory file and entity an object comes from.
pub const SOURCE_ANNOTATION: &str = "meshgen.dev/source";

/// The labels of every object: the project's, with meshgen's own in its sorted place (it wins
/// over a project label of the same key). Serialised as a mapping straight from the
/// project's labels: a map built for every object cost more than writing it.
#[derive(Clone, Copy)]
pub struct ObjectLabels<'a>(pub &'a BTreeMap<String, String>);

impl Serialize for ObjectLabels<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let (key, value) = MANAGED_BY;
        let mut map = s.serialize_map(Some(self.0.len() + usize::from(!self.0.contains_key(key))))?;
        let mut placed = false;
        for (k, v) in self.0 {
            if !placed && k.as_str() >= key {
                map.serialize_entry(key, value)?;
                placed = true;
                if k == key {
                    continue;
                }
            }
            map.serialize_entry(k, v)?;
        }
        if !placed {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// The annotations of every object: [`SOURCE_ANNOTATION`] and the origin it names, written
/// `file#path` as [`crate::model::source_ref`] writes it, straight into the context (no string of its
/// own per object).
#[derive(Clone, Copy)]
pub struct SourceAnnotation<'a>(pub &'a crate::diag::Origin);

impl Serialize for SourceAnnotation<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        /// The origin as [`crate::model::source_ref`] writes it.
        struct Source<'a>(&'a crate::diag::Origin);
        impl Serialize for Source<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(&format_args!("{}#{}", self.0.file, self.0.path))
            }
        }
        let mut map = s.serialize_map(Some(1))?;
        map.serialize_entry(SOURCE_ANNOTATION, &Source(self.0))?;
        map.end()
    }
}

/// Collects the objects of the entity being compiled (`namespace`, `entity`, `source`).
pub(super) struct Builder<'a> {
    /// The inventory being rendered.
    pub(super) inv: &'a Inventory,
    pub(super) graph: &'a MeshGraph,
    out: Vec<Object>,
    /// The identities, when only they are kept ([`Keep::Identity`]).
    ids: Vec<Identity<'a>>,
    /// The current entity's namespace and name, as the inventory holds them.
    here: (&'a str, &'a str),
    /// The same as counted references, so that an entity's objects (and their manifests)
    /// share one copy: a string each was 1.5 million allocations at 100,000 services. Made
    /// only for objects (identities borrow `here`).
    namespace: Arc<str>,
    entity: Arc<str>,
    origin: crate::diag::Origin,
    /// What to keep of each object.
    keep: Keep<'a>,
    /// The current entity's `names`: kind → the name of its object named after it.
    names: Option<&'a BTreeMap<String, String>>,
    /// The current entity's exportTo for `consumers` ([`Builder::export_to`]), once made:
    /// each of its objects asks for it, and it walks the graph for every consumer's
    /// namespace.
    consumers: std::cell::OnceCell<Vec<String>>,
}

/// What a [`Builder`] keeps of each object.
#[derive(Clone, Copy)]
enum Keep<'a> {
    /// Its [`Identity`] alone (for `check`): no metadata, no context.
    Identity,
    /// Its template context, for the general path of rendering.
    Context,
    /// Its text, written by the built-in templates' fast path, with the parts every object
    /// shares.
    Text(&'a Head),
}

impl<'a> Builder<'a> {
    /// Starts the objects of another entity.
    pub(super) fn entity(&mut self, namespace: &'a str, name: &'a str, origin: &crate::diag::Origin) {
        self.here = (namespace, name);
        self.names = None;
        self.consumers.take();
        if let Keep::Identity = self.keep {
            return;
        }
        self.namespace = Arc::from(namespace);
        self.entity = Arc::from(name);
        self.origin = origin.clone();
    }

    /// The names the current entity chooses for its objects named after it (`names`).
    fn rename(&mut self, names: &'a BTreeMap<String, String>) {
        self.names = (!names.is_empty()).then_some(names);
    }

    /// Adds an object of the current entity, of the kind of its context.
    pub(super) fn push<S: Layout>(&mut self, name: impl Into<Cow<'a, str>>, spec: S) {
        self.push_with(name, move |_| spec);
    }

    /// Adds an object of the current entity, its context made only when contexts are wanted:
    /// `check` needs the identities alone, and a streamed build (`render::stream`) checks
    /// them all before it renders anything.
    pub(super) fn push_with<S: Layout>(&mut self, name: impl Into<Cow<'a, str>>, spec: impl FnOnce(&Self) -> S) {
        self.push_sourced(name, |b| b.origin.clone(), spec);
    }

    /// Adds an object of the current entity that comes from one part of it (e.g. a VM). The
    /// origin is made only for an object: an identity has none.
    pub(super) fn push_sourced<S: Layout>(
        &mut self,
        name: impl Into<Cow<'a, str>>,
        origin: impl FnOnce(&Self) -> crate::diag::Origin,
        spec: impl FnOnce(&Self) -> S,
    ) {
        let kind = S::KIND;
        // An object named after its entity takes the name the entity chose for its kind.
        let (namespace, entity) = self.here;
        let name = name.into();
        let chosen = self.names.filter(|_| name == entity).and_then(|n| n.get(kind.as_str()));
        let name = chosen.map_or(name, |c| Cow::Borrowed(c.as_str()));
        if let Keep::Identity = self.keep {
            self.ids.push(Identity { kind, name, namespace, entity });
            return;
        }
        let origin = origin(self);
        // A part an overlay replaced (a VM of an environment) is traced to it.
        let located = self.inv.trace.locate(&origin);
        let context = api::Context {
            spec: spec(self),
            api_version: kind.api_version(self.inv.project.api_version),
            metadata: api::Metadata {
                name: &name,
                namespace: &self.namespace,
                labels: ObjectLabels(&self.inv.project.labels),
                annotations: SourceAnnotation(located.as_ref().unwrap_or(&origin)),
            },
        };
        // Written straight from the typed context where the built-ins can; the general path
        // (and its errors) for anything they leave.
        let text = match self.keep {
            Keep::Text(head) => super::finished(|out| head.write(&context, out)).ok(),
            _ => None,
        };
        let context = if text.is_some() { Tape::default() } else { Tape::new(&context) };
        self.out.push(Object {
            kind,
            name: name.into_owned(),
            namespace: self.namespace.clone(),
            entity: self.entity.clone(),
            origin,
            context,
            text,
        });
    }

    /// exportTo as a list: `consumers` becomes the entity's namespace plus its consumers'.
    /// DestinationRules and VirtualServices cannot use `~`, so it becomes `.` for them.
    pub(super) fn export_to(
        &self,
        e: &Option<ExportTo>,
        namespace: &str,
        entity: &str,
        allow_none: bool,
    ) -> Option<Vec<String>> {
        match e {
            None => None,
            Some(ExportTo::Consumers) => {
                let make = || {
                    let mut list = vec![".".to_string()];
                    let consumers = self.graph.consumer_namespaces(entity).into_iter();
                    list.extend(consumers.filter(|ns| *ns != namespace).map(String::from));
                    list
                };
                if (namespace, entity) == self.here {
                    Some(self.consumers.get_or_init(make).clone())
                } else {
                    Some(make())
                }
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
                Some(mapped)
            }
        }
    }
}

fn ports(ports: &[Port], target: impl Fn(&Port) -> Option<u32>) -> Vec<api::ServicePort<'_>> {
    ports
        .iter()
        .map(|p| api::ServicePort {
            name: &p.name,
            number: p.number,
            protocol: p.protocol.as_str(),
            target_port: target(p),
        })
        .collect()
}

/// The list, `None` when empty.
pub(super) fn some<T>(items: &[T]) -> Option<&[T]> {
    (!items.is_empty()).then_some(items)
}

/// A list to lend to a context, `None` when empty.
pub(super) fn lent<T: Clone>(items: &[T]) -> Option<std::borrow::Cow<'_, [T]>> {
    some(items).map(std::borrow::Cow::Borrowed)
}

/// A port-name map, `None` when empty.
fn some_ports(ports: &BTreeMap<String, u32>) -> Option<&BTreeMap<String, u32>> {
    (!ports.is_empty()).then_some(ports)
}

/// A VM or an endpoint: the fields a WorkloadEntry and a ServiceEntry endpoint share (labels
/// only when there are some; a WorkloadEntry always writes its own).
fn workload(w: &Workload) -> api::Workload<'_> {
    api::Workload {
        address: &w.address,
        ports: w.ports.as_deref(),
        labels: (!w.labels.is_empty()).then_some(&w.labels),
        locality: w.locality.as_deref(),
        network: w.network(),
        weight: w.weight.map(std::num::NonZeroU32::get),
        service_account: w.service_account(),
    }
}

pub(super) fn destination<'a>(host: &'a str, subset: Option<&'a str>, port: Option<u32>) -> api::Destination<'a> {
    api::Destination { host, subset, port: port.map(|number| api::PortSelector { number }) }
}

fn service<'a>(b: &mut Builder<'a>, svc: &'a Service) {
    b.entity(&svc.namespace, &svc.name, &svc.origin);
    b.rename(&svc.names);
    let ns = &svc.namespace;
    if svc.service_entry {
        b.push_with(&svc.name, |b| api::ServiceEntry {
            hosts: vec![&svc.host],
            addresses: some(&svc.addresses),
            ports: ports(&svc.ports, |p| p.target_port),
            location: svc.location,
            resolution: svc.resolution.as_str(),
            workload_selector: Some(&svc.selector),
            endpoints: None,
            subject_alt_names: some(&svc.subject_alt_names),
            export_to: b.export_to(&svc.export_to, ns, &svc.name, true),
        });
    }
    if let Some(wg) = &svc.workload_group {
        b.push_with(&svc.name, |_| api::WorkloadGroup {
            labels: &wg.labels,
            template: api::WorkloadTemplate {
                ports: some_ports(&wg.ports),
                network: wg.network.as_deref(),
                locality: wg.locality.as_deref(),
                weight: wg.weight,
                service_account: wg.service_account.as_deref(),
            },
            probe: wg.probe.as_ref().filter(|p| **p != Probe::default()),
        });
    }
    for vm in &svc.vms {
        b.push_sourced(
            &*vm.name,
            |_| svc.vm_origin(vm),
            |_| api::Workload { labels: Some(&vm.labels), ..workload(vm) },
        );
    }

    let own_policy = svc.port_policies.iter().any(|p| p.tls.is_some() || p.traffic.has_destination_policy());
    if svc.traffic.has_destination_policy() || svc.tls.is_some() || own_policy || !svc.subsets.is_empty() {
        b.push_with(&svc.name, |b| {
            let (traffic_policy, subsets) = service_destination(svc);
            api::DestinationRule {
                host: &svc.host,
                workload_selector: None,
                traffic_policy,
                subsets,
                export_to: b.export_to(&svc.export_to, ns, &svc.name, false),
            }
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
    // Identities need only whether there is a rule; the rules themselves are for contexts.
    let (rules, routed) = if let Keep::Identity = b.keep {
        (Rules::default(), routing.any())
    } else {
        let rules = routing.rules();
        let routed = !rules.is_empty();
        (rules, routed)
    };
    if routed {
        b.push_with(&svc.name, |b| api::VirtualService {
            hosts: vec![&svc.host],
            gateways: None,
            http: lent(&rules.http),
            tls: lent(&rules.tls),
            tcp: lent(&rules.tcp),
            export_to: b.export_to(&svc.export_to, ns, &svc.name, false),
        });
    }

    // Exposure through the ingress gateway: a Gateway and a gateway-bound copy of the rules.
    if let Some(ing) = svc.ingress.as_deref() {
        let name = crate::model::ingress::Ingress::object_name(&svc.name);
        let origin = |_: &Builder<'_>| svc.origin.child("ingress");
        b.push_sourced(name.clone(), origin, |b| super::ingress::gateway(&b.inv.project, ing));
        b.push_sourced(name, origin, |b| {
            let export = b.export_to(&svc.export_to, ns, &svc.name, false);
            super::ingress::virtual_service(svc, ing, &rules, export)
        });
    }

    // The Sidecar follows from the dependency list, so that is where it points.
    let policy = &b.inv.project.policy;
    if policy.sidecar_for(svc) {
        let origin = |_: &Builder<'_>| svc.origin.child("dependsOn");
        b.push_sourced(&svc.name, origin, |b| super::policy::sidecar(b.inv, b.graph, svc));
    }
    if policy.authorization_for(svc) {
        b.push_with(&svc.name, |b| super::policy::authorization_policy(b.inv, b.graph, svc));
    }
}

/// A service's DestinationRule `trafficPolicy` and `subsets` (each `None` when empty).
pub(super) fn service_destination(svc: &Service) -> (Option<api::TrafficPolicy<'_>>, Option<Vec<api::Subset<'_>>>) {
    let policy = EntityPolicy {
        ports: &svc.ports,
        traffic: &svc.traffic,
        tls: svc.tls.as_deref(),
        own: &svc.port_policies,
        host: &svc.host,
        subject_alt_names: &svc.subject_alt_names,
    };
    let subsets: Vec<api::Subset<'_>> = svc
        .subsets
        .iter()
        .map(|s| api::Subset {
            name: &s.name,
            labels: Some(&s.labels),
            traffic_policy: s.policy.as_deref().and_then(|p| policy.subset(p)),
        })
        .collect();
    (policy.top(), (!subsets.is_empty()).then_some(subsets))
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
    let endpoints: Vec<api::Workload<'_>> = ext.endpoints.iter().map(workload).collect();
    let export_se = super::egress::export_to(b, ext, true);
    let export = super::egress::export_to(b, ext, false);
    let hosts: Vec<&str> = ext.hosts.iter().map(String::as_str).collect();
    b.push(
        &ext.name,
        api::ServiceEntry {
            hosts: hosts.clone(),
            addresses: some(&ext.addresses),
            ports: ports(&ext.ports, target),
            location: ext.location,
            resolution: ext.resolution.as_str(),
            workload_selector: None,
            endpoints: (!endpoints.is_empty()).then_some(endpoints),
            subject_alt_names: some(&ext.subject_alt_names),
            export_to: export_se.clone(),
        },
    );

    // A wildcard host behind the egress gateway is forwarded to one concrete server, which
    // needs its own ServiceEntry so that Envoy can resolve it; TLS is originated towards it.
    let dest = ext.egress.as_ref().and_then(|g| g.destination.as_deref());
    if let Some(dest) = dest {
        b.push(
            format!("{}-destination", ext.name),
            api::ServiceEntry {
                hosts: vec![dest],
                addresses: None,
                ports: ports(&ext.ports, target),
                location: "MESH_EXTERNAL",
                resolution: "DNS",
                workload_selector: None,
                endpoints: None,
                subject_alt_names: None,
                export_to: export_se,
            },
        );
    }

    // One DestinationRule per host, since the SNI to originate with differs per host; the
    // TLS settings go where TLS is originated: each concrete host, or the destination.
    let mut dr_hosts: Vec<(String, &str, bool)> =
        ext.hosts.iter().map(|h| (object_name(ext, h), h.as_str(), !(h.starts_with('*') && dest.is_some()))).collect();
    if let Some(d) = dest {
        dr_hosts.push((format!("{}-destination", ext.name), d, true));
    }
    for (name, host, with_tls) in dr_hosts {
        let Some(top) = policy_for(host, with_tls).top() else { continue };
        b.push(
            name,
            api::DestinationRule {
                host,
                workload_selector: None,
                traffic_policy: Some(top),
                subsets: None,
                export_to: export.clone(),
            },
        );
    }

    match &ext.egress {
        Some(g) => super::egress::routes(b, ext, g),
        None => direct_routes(b, ext, &export),
    }
}

/// The name of an external API's object for one of its hosts: the API's name when it has
/// one host, else the name and the host.
fn object_name(ext: &External, host: &str) -> String {
    if ext.hosts.len() == 1 { ext.name.clone() } else { format!("{}-{}", ext.name, host_slug(host)) }
}

/// The routing of an external API reached directly: a VirtualService per host, since each
/// host's rules route to that host; one for all hosts when every rule sends its traffic
/// elsewhere (e.g. SNI routing of several hosts to a firewall), nothing falls through to a
/// host of its own (the last HTTP rule catches everything), and no host covers another (a
/// VirtualService cannot hold both).
fn direct_routes(b: &mut Builder<'_>, ext: &External, export: &Option<Vec<String>>) {
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
        hosts.iter().map(|h| (object_name(ext, h), vec![*h], routing(h, std::slice::from_ref(h)).rules())).collect()
    };
    for (name, hosts, rules) in &groups {
        if rules.is_empty() {
            continue;
        }
        b.push(
            name.clone(),
            api::VirtualService {
                hosts: hosts.clone(),
                gateways: None,
                http: lent(&rules.http),
                tls: lent(&rules.tls),
                tcp: lent(&rules.tcp),
                export_to: export.clone(),
            },
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
    build_objects(inv, graph, range, Keep::Context)
}

/// [`objects_in`], each object's text written by the built-in templates from its typed
/// context ([`super::direct`]) instead of its context kept: for a build whose templates are
/// the built-ins. An object the fast path leaves keeps its context, as from [`objects_in`].
pub fn texts_in(inv: &Inventory, graph: &MeshGraph, range: std::ops::Range<usize>, head: &Head) -> Vec<Object> {
    build_objects(inv, graph, range, Keep::Text(head))
}

/// What identifies each object of [`objects_in`], and no more: what `check` needs, at a
/// fraction of the cost.
pub fn identities_in<'a>(inv: &'a Inventory, graph: &'a MeshGraph, range: std::ops::Range<usize>) -> Vec<Identity<'a>> {
    build(inv, graph, range, Keep::Identity).ids
}

fn build_objects<'a>(
    inv: &'a Inventory,
    graph: &'a MeshGraph,
    range: std::ops::Range<usize>,
    keep: Keep<'a>,
) -> Vec<Object> {
    build(inv, graph, range, keep).out
}

/// The builder, with what the entities at `range` make in it (see [`objects_in`]).
fn build<'a>(inv: &'a Inventory, graph: &'a MeshGraph, range: std::ops::Range<usize>, keep: Keep<'a>) -> Builder<'a> {
    let origin = crate::diag::Origin::new(&inv.project.file, 0, "");
    let (namespace, entity) = (Arc::from(""), Arc::from(""));
    // Room for what the range's services make (a few objects each and one per VM), so that
    // the objects of one service are not moved as the vector grows.
    let services = inv.services.get(range.clone()).unwrap_or_default();
    let room = range.len() * 4 + services.iter().map(|s| s.vms.len()).sum::<usize>();
    let (out, ids) = match keep {
        Keep::Identity => (Vec::new(), Vec::with_capacity(room)),
        _ => (Vec::with_capacity(room), Vec::new()),
    };
    let here = ("", "");
    let consumers = std::cell::OnceCell::new();
    let mut b = Builder { inv, graph, out, ids, here, namespace, entity, origin, keep, names: None, consumers };
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
    b
}
