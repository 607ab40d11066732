//! Stage 2, `model`: the typed, validated inventory.
//!
//! Takes the loaded [`Source`](crate::load::Source)s and returns an [`Inventory`]: every entity checked field by
//! field, defaults applied, names derived, everything sorted so that the order of files,
//! keys and entities in the input never shows in the output. Problems become diagnostics at
//! the entity's or field's YAML path; an entity with errors is left out, so later stages only
//! ever see valid entities.

mod build;
pub mod egress;
mod external;
pub(crate) use external::covers;
pub mod http;
pub mod ingress;
pub mod labels;
pub mod names;
pub mod overlay;
pub mod patch;
pub mod project;
pub mod raw;
mod routes;
mod service;
pub mod shape;
mod tls;
pub mod traffic;
pub mod validate;
pub mod vips;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::diag::Origin;
pub use build::{build, build_with, from_value};
use overlay::Trace;
pub use project::{ApiVersion, Layout, Project};
use raw::{HttpMatch, Labels, Probe, Rewrite};
use traffic::{Fault, Retries, Traffic};

/// An Istio port protocol, canonical upper case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// HTTP/1.1.
    Http,
    /// HTTP/2.
    Http2,
    /// HTTPS (TLS carrying HTTP, opaque to the sidecar).
    Https,
    /// gRPC.
    Grpc,
    /// gRPC-Web.
    GrpcWeb,
    /// HTTP proxy (CONNECT).
    HttpProxy,
    /// TLS (opaque, routed by SNI).
    Tls,
    /// Opaque TCP.
    Tcp,
    /// UDP.
    Udp,
    /// MongoDB.
    Mongo,
    /// Redis.
    Redis,
    /// MySQL.
    Mysql,
}

impl Protocol {
    /// The protocol names Istio knows.
    pub const NAMES: &'static [&'static str] =
        &["HTTP", "HTTP2", "HTTPS", "GRPC", "GRPC-WEB", "HTTP_PROXY", "TLS", "TCP", "UDP", "MONGO", "REDIS", "MYSQL"];

    /// Parses a protocol name (case-insensitive, as istiod does).
    pub fn parse(s: &str) -> Option<Protocol> {
        Some(match s.to_ascii_uppercase().as_str() {
            "HTTP" => Protocol::Http,
            "HTTP2" => Protocol::Http2,
            "HTTPS" => Protocol::Https,
            "GRPC" => Protocol::Grpc,
            "GRPC-WEB" => Protocol::GrpcWeb,
            "HTTP_PROXY" => Protocol::HttpProxy,
            "TLS" => Protocol::Tls,
            "TCP" => Protocol::Tcp,
            "UDP" => Protocol::Udp,
            "MONGO" => Protocol::Mongo,
            "REDIS" => Protocol::Redis,
            "MYSQL" => Protocol::Mysql,
            _ => return None,
        })
    }

    /// Istio's port naming convention: `<protocol>[-<suffix>]`.
    pub fn from_port_name(name: &str) -> Option<Protocol> {
        if name.starts_with("grpc-web") {
            return Some(Protocol::GrpcWeb);
        }
        let head = name.split('-').next().unwrap_or(name);
        match head {
            "http-proxy" => None,
            other => Protocol::parse(other).filter(|p| *p != Protocol::HttpProxy),
        }
    }

    /// The canonical name written into manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http => "HTTP",
            Protocol::Http2 => "HTTP2",
            Protocol::Https => "HTTPS",
            Protocol::Grpc => "GRPC",
            Protocol::GrpcWeb => "GRPC-WEB",
            Protocol::HttpProxy => "HTTP_PROXY",
            Protocol::Tls => "TLS",
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Mongo => "MONGO",
            Protocol::Redis => "REDIS",
            Protocol::Mysql => "MYSQL",
        }
    }

    /// Protocols whose requests the sidecar parses as HTTP (HTTP routes apply).
    pub fn is_http(self) -> bool {
        matches!(self, Protocol::Http | Protocol::Http2 | Protocol::Grpc | Protocol::GrpcWeb | Protocol::HttpProxy)
    }

    /// Protocols routed by SNI (TLS routes apply).
    pub fn is_tls(self) -> bool {
        matches!(self, Protocol::Https | Protocol::Tls)
    }

    /// Opaque TCP: neither HTTP-family nor TLS, so only the destination address tells
    /// services on one port apart.
    pub fn is_opaque(self) -> bool {
        !self.is_http() && !self.is_tls()
    }
}

/// A declared port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    /// Port name (DNS label).
    pub name: String,
    /// Port number clients use.
    pub number: u32,
    /// Protocol.
    pub protocol: Protocol,
    /// Port on the workload, when different.
    pub target_port: Option<u32>,
}

/// Visibility of an entity's objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportTo {
    /// Explicit namespaces (`.`, `*`, `~`, names).
    Namespaces(Vec<String>),
    /// Only the entity's own namespace and its consumers' (decided by the graph).
    Consumers,
}

/// How a ServiceEntry finds its endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// No resolution: traffic goes to the address the caller used.
    None,
    /// Endpoints are IPs (or selected workloads).
    Static,
    /// The proxy resolves DNS names, using every address.
    Dns,
    /// The proxy resolves DNS names, using one address at a time.
    DnsRoundRobin,
    /// Wildcard hosts resolved per request.
    DynamicDns,
}

impl Resolution {
    /// The Istio enum name.
    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::None => "NONE",
            Resolution::Static => "STATIC",
            Resolution::Dns => "DNS",
            Resolution::DnsRoundRobin => "DNS_ROUND_ROBIN",
            Resolution::DynamicDns => "DYNAMIC_DNS",
        }
    }

    fn parse(s: &str) -> Option<Resolution> {
        Some(match s {
            "NONE" => Resolution::None,
            "STATIC" => Resolution::Static,
            "DNS" => Resolution::Dns,
            "DNS_ROUND_ROBIN" => Resolution::DnsRoundRobin,
            "DYNAMIC_DNS" => Resolution::DynamicDns,
            _ => return None,
        })
    }
}

/// A dependency edge as written: the target's name and where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// Name of the service or external API depended on, as a boxed `str` (16 bytes, not
    /// 24): half a million dependencies at 100,000 services.
    pub target: Box<str>,
    /// The target's ports the calls use, by name; `None` for every port. Behind one
    /// pointer: nearly every call uses every port, and a dependency is 32 bytes, not 40.
    pub ports: Option<Box<Vec<String>>>,
    /// Its position in the service's `dependsOn` as written (before calls to disabled
    /// entities are dropped). Its origin is derived from the service's when needed
    /// ([`Dependency::origin`]) rather than stored: half a million dependencies at 100,000
    /// services held 48 bytes of origin and a path each.
    pub index: u32,
}

impl Dependency {
    /// Where the entry appears, in `service` (the one that declares it).
    pub fn origin(&self, service: &Service) -> Origin {
        service.origin.child("dependsOn").index(self.index as usize)
    }
}

/// A caller from outside the inventory that a service's AuthorizationPolicy allows. Ordered
/// (principals first, then namespaces, each by name) so that a list of them has one sorted,
/// deduplicated form.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Caller {
    /// A SPIFFE principal, `<trust-domain>/ns/<namespace>/sa/<service-account>`.
    Principal(String),
    /// Any workload of a namespace.
    Namespace(String),
}

/// An endpoint of a service or external API: a VM's WorkloadEntry or a ServiceEntry endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    /// Object name (WorkloadEntry) — empty for inline endpoints. Its strings are boxed (16
    /// bytes, not 24): there are 450,000 VMs at 100,000 services.
    pub name: Box<str>,
    /// IP, DNS name or unix socket.
    pub address: Box<str>,
    /// What kind of address.
    pub kind: names::AddressKind,
    /// All labels, selector labels included. Shared between the workloads of an entity that
    /// have the same (a service's VMs have one set per version, nearly always).
    pub labels: Arc<Labels>,
    /// Locality. This, the network and the service account are one copy for every workload
    /// of an inventory file that has the same (`model::build::Shared`): a file's VMs have a
    /// few localities, and a service's one account (a copy each was 40 bytes a VM, 18 MB at
    /// 100,000 services).
    pub locality: Option<Arc<str>>,
    /// Its network and service account, `None` when it has neither ([`Workload::network`],
    /// [`Workload::service_account`]): one copy for the workloads of a file that have the
    /// same pair, where two strings took 32 bytes of each (a service's five VMs then fit a
    /// 448-byte allocation, not 640).
    pub identity: Option<Arc<Identity>>,
    /// Load-balancing weight (never 0, which the inventory may not write: 4 bytes, not 8).
    pub weight: Option<std::num::NonZeroU32>,
    /// Port name to number overrides, `None` when there are none (boxed: nearly every VM
    /// has none, and an empty map took 24 bytes of each).
    pub ports: Option<Box<BTreeMap<String, u32>>>,
    /// A hash of its network and address, made while it is built: the check for two
    /// services' VMs at one address (`duplicate-instance-address`) groups the VMs by it and
    /// compares their strings only where hashes are equal. Reading every VM's strings again
    /// there, scattered over the whole model, was a quarter of the time of the cross-entity
    /// checks. 32 bits, beside the weight's 4 and the index's, keep a workload at 88 bytes
    /// (five VMs in a 448-byte allocation); equal hashes of different addresses are told
    /// apart by their strings.
    pub address_hash: u32,
    /// Its position in the list it was written in (`vms` or `endpoints`; the list is
    /// sorted since). Its origin is derived from its entity's ([`Service::vm_origin`],
    /// [`External::endpoint_origin`]) rather than stored: 450,000 VMs at 100,000 services
    /// held 48 bytes of origin and a path each.
    pub index: u32,
}

/// What a service's WorkloadGroup says of the VMs that register through it.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadGroup {
    /// Readiness probe.
    pub probe: Option<Probe>,
    /// Labels of the registering VMs: the selector, the service's `labels`, the group's own.
    pub labels: Labels,
    /// Per-port overrides: port name to number.
    pub ports: BTreeMap<String, u32>,
    /// Locality.
    pub locality: Option<String>,
    /// Load-balancing weight.
    pub weight: Option<u32>,
    /// Network: the group's own, else the service's, else its first VM's.
    pub network: Option<String>,
    /// Service account: the group's own, else the service's.
    pub service_account: Option<String>,
}

/// A DestinationRule subset.
#[derive(Debug, Clone, PartialEq)]
pub struct Subset {
    /// Subset name.
    pub name: String,
    /// Labels that select its endpoints.
    pub labels: Labels,
    /// Its own policy, when it has one: boxed, since nearly every subset has none.
    pub policy: Option<Box<SubsetPolicy>>,
    /// Whether its labels select one of the service's VMs (`subset-selects-nothing`).
    /// Decided while the service is built, when its VMs' labels are at hand: the rule that
    /// looked them up afterwards, reading labels scattered over the whole model, was a
    /// quarter of the cross-entity checks.
    pub selects_a_vm: bool,
}

/// A subset's DestinationRule-side policy of its own (`subsets.<name>.traffic`, `.tls`).
#[derive(Debug, Clone, PartialEq)]
pub struct SubsetPolicy {
    /// Connection pool, outlier detection and load balancing, merged over the service's.
    pub traffic: Traffic,
    /// Client TLS, replacing the service's (and its ports') for this subset.
    pub tls: Option<ClientTls>,
}

/// A routing rule, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// Rule name.
    pub name: Option<String>,
    /// Match conditions (empty: everything).
    pub matches: Vec<HttpMatch>,
    /// Weighted destinations; empty for a redirect or a direct response.
    pub destinations: Vec<Destination>,
    /// Where the weights were written: `split` or `to`.
    pub weights_at: &'static str,
    /// Timeout.
    pub timeout: Option<String>,
    /// Retries. This and the other rarely set policies are boxed: a route was 416 bytes,
    /// more than half of it these, unset in nearly every route.
    pub retries: Option<Box<Retries>>,
    /// Fault injection.
    pub fault: Option<Box<Fault>>,
    /// Mirror: where copies go, and the share of requests copied.
    pub mirror: Option<Box<Mirror>>,
    /// Rewrite.
    pub rewrite: Option<Box<Rewrite>>,
    /// What Istio's HTTP rule takes as written: headers, CORS, redirect, direct response.
    pub http: Option<Box<HttpExtras>>,
    /// Where the rule is.
    pub origin: Origin,
}

impl Route {
    /// Whether the rule matches on what TCP and TLS traffic carries only (`sniHosts`,
    /// `destinationSubnets`): it is a `tcp`/`tls` rule, never an HTTP one.
    pub fn is_stream(&self) -> bool {
        self.matches.iter().any(|m| m.sni_hosts.is_some() || m.destination_subnets.is_some())
    }

    /// Whether some destination or the mirror is a host other than the entity's own.
    pub fn leaves_the_host(&self) -> bool {
        self.destinations.iter().any(|d| d.target != Target::Own)
            || self.mirror.as_ref().is_some_and(|m| m.target != Target::Own)
    }
}

/// What an HTTP rule passes to Istio as written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HttpExtras {
    /// Header changes.
    pub headers: Option<http::Headers>,
    /// CORS policy.
    pub cors_policy: Option<http::CorsPolicy>,
    /// Redirect instead of routing.
    pub redirect: Option<http::Redirect>,
    /// Direct response instead of routing.
    pub direct_response: Option<http::DirectResponse>,
}

/// The host a route destination or mirror names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The entity's own host (each host of an external API).
    Own,
    /// Another entity of the inventory, by name (the graph checks it exists).
    Entity(String),
    /// Any host.
    Host(String),
}

/// One weighted destination of a route.
#[derive(Debug, Clone, PartialEq)]
pub struct Destination {
    /// The host.
    pub target: Target,
    /// Subset of that host.
    pub subset: Option<String>,
    /// Port of that host, when written.
    pub port: Option<u32>,
    /// Relative weight.
    pub weight: Option<u32>,
    /// Header changes for this destination.
    pub headers: Option<Box<http::Headers>>,
}

/// Where a route copies requests to.
#[derive(Debug, Clone, PartialEq)]
pub struct Mirror {
    /// The host.
    pub target: Target,
    /// Subset of that host.
    pub subset: Option<String>,
    /// Port of that host, when written.
    pub port: Option<u32>,
    /// Share of requests, 0–100 (none: all).
    pub percentage: Option<f64>,
}

/// A mesh service: VMs and/or pods behind one host.
#[derive(Debug, Clone)]
pub struct Service {
    /// Entity name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// Where it is declared (`services.<name>`).
    pub origin: Origin,
    /// The host clients call.
    pub host: String,
    /// Whether meshgen emits a ServiceEntry (false: a Kubernetes Service already registers the host).
    pub service_entry: bool,
    /// The ServiceEntry's `location`.
    pub location: &'static str,
    /// Ports, by number.
    pub ports: Vec<Port>,
    /// Service account of the workloads. Its strings that are rarely longer than a name are
    /// boxed (16 bytes, not 24), which keeps a service within a smaller allocation class.
    pub service_account: Option<Box<str>>,
    /// Whether the VMs run sidecars.
    pub sidecar: bool,
    /// Labels that select all of the service's workloads.
    pub selector: Labels,
    /// VMs, by name.
    pub vms: Vec<Workload>,
    /// Pod selector, when the service has pods (boxed: with the traffic policy shared, a
    /// service fits a 512-byte block, not a 640-byte one).
    pub pods: Option<Box<Labels>>,
    /// Subsets, by name.
    pub subsets: Vec<Subset>,
    /// Virtual IPs.
    pub addresses: Vec<String>,
    /// SANs (boxed, as `service_account`).
    pub subject_alt_names: Box<[String]>,
    /// ServiceEntry resolution.
    pub resolution: Resolution,
    /// WorkloadGroup request: its probe and template.
    pub workload_group: Option<Box<WorkloadGroup>>,
    /// Traffic policy, defaults merged in: one copy for the services of a file that write
    /// none (nearly all), where each held the defaults' boxes (110 bytes at the least).
    pub traffic: Arc<Traffic>,
    /// Which of its request durations the entity's own `traffic` writes.
    pub traffic_written: traffic::Written,
    /// Client TLS towards the service: as written, else `ISTIO_MUTUAL` when every workload
    /// is a VM with a sidecar, else none (Istio's auto mutual TLS chooses per endpoint).
    pub tls: Option<Arc<ClientTls>>,
    /// Ports with a policy of their own.
    pub port_policies: Vec<PortPolicy>,
    /// The service's default network (of its VMs and its WorkloadGroup).
    pub network: Option<Box<str>>,
    /// Routing rules.
    pub routes: Vec<Route>,
    /// Dependencies.
    pub depends_on: Vec<Dependency>,
    /// Whether `dependsOn` is written at all (even empty): only then does the inventory say
    /// everything the service calls, which Sidecar scoping needs.
    pub declares_dependencies: bool,
    /// Callers from outside the inventory its AuthorizationPolicy allows.
    pub authorization: Vec<Caller>,
    /// Exposure through the ingress gateway: boxed, since few services have one.
    pub ingress: Option<Box<ingress::Ingress>>,
    /// Visibility.
    pub export_to: Option<ExportTo>,
    /// Names chosen for its objects named after it, by kind (`names`).
    pub names: BTreeMap<String, String>,
}

/// Whether a client TLS setting asks the proxy for a Kubernetes secret.
fn reads_secret(t: Option<&ClientTls>) -> bool {
    t.is_some_and(|t| t.credential_name.is_some())
}

impl Service {
    /// Whether its callers' sidecars need a client certificate from a secret
    /// (`credentialName` in its TLS, a port's or a subset's): each caller then gets a
    /// DestinationRule of its own that selects it, the only kind sidecars read secrets from.
    pub fn callers_read_secret(&self) -> bool {
        reads_secret(self.tls.as_deref())
            || self.port_policies.iter().any(|p| reads_secret(p.tls.as_ref()))
            || self.subsets.iter().any(|x| x.policy.as_ref().is_some_and(|p| reads_secret(p.tls.as_ref())))
    }

    /// Where one of its VMs is declared.
    pub fn vm_origin(&self, vm: &Workload) -> Origin {
        vm.origin_in(&self.origin.child("vms"))
    }

    /// Whether any of its workloads runs an Istio proxy (pods are taken to be injected; VMs
    /// as the inventory says): only then can Sidecar or AuthorizationPolicy apply to it.
    /// Workloads outside the mesh (`MESH_EXTERNAL`) have none that Istio would use: it sends
    /// them plain text and enforces no policy at them.
    pub fn has_proxy(&self) -> bool {
        !self.outside_mesh() && (self.pods.is_some() || (self.sidecar && !self.vms.is_empty()))
    }

    /// Whether its ServiceEntry says its workloads are outside the mesh (`MESH_EXTERNAL`):
    /// they have no sidecar and no Istio identity.
    pub fn outside_mesh(&self) -> bool {
        self.location == "MESH_EXTERNAL"
    }

    /// The SPIFFE principals its workloads present, as AuthorizationPolicy matches them
    /// (`<trust-domain>/ns/<namespace>/sa/<account>`); `None` when some workload has no
    /// known identity (pods without `serviceAccount`, VMs without one or without a sidecar).
    pub fn principals(&self, trust_domain: &str) -> Option<BTreeSet<String>> {
        let pods = self.pods.as_ref().map(|_| self.service_account.as_deref());
        let vms = self.vms.iter().map(|vm| vm.service_account());
        pods.into_iter()
            .chain(vms)
            .map(|sa| sa.map(|sa| format!("{trust_domain}/ns/{}/sa/{sa}", self.namespace)))
            .collect::<Option<BTreeSet<String>>>()
            .filter(|set| !set.is_empty())
    }

    /// The ports its workloads receive on for the named service ports (all of them for
    /// `None`), as AuthorizationPolicy matches them: after targetPort and per-VM overrides.
    pub fn workload_ports(&self, names: Option<&[String]>) -> BTreeSet<u32> {
        let mut out = BTreeSet::new();
        for p in self.ports.iter().filter(|p| names.is_none_or(|n| n.contains(&p.name))) {
            let target = p.target_port.unwrap_or(p.number);
            if self.pods.is_some() || self.vms.iter().any(|vm| vm.port(&p.name).is_none()) {
                out.insert(target);
            }
            out.extend(self.vms.iter().filter_map(|vm| vm.port(&p.name)));
        }
        out
    }
}

/// Client TLS towards a host, one of its ports or a subset (Istio's ClientTLSSettings),
/// validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTls {
    /// `DISABLE`, `SIMPLE`, `MUTUAL` or `ISTIO_MUTUAL`.
    pub mode: &'static str,
    /// External APIs: the remote TLS port that plain HTTP ports are sent to, when set.
    pub port: Option<u32>,
    /// SNI (default: the host, for `SIMPLE` and `MUTUAL`).
    pub sni: Option<String>,
    /// CA bundle.
    pub ca_certificates: Option<String>,
    /// Certificate revocation list.
    pub ca_crl: Option<String>,
    /// Client certificate.
    pub client_certificate: Option<String>,
    /// Client key.
    pub private_key: Option<String>,
    /// Secret with the client credentials.
    pub credential_name: Option<String>,
    /// SANs to verify (empty: the entity's `subjectAltNames`).
    pub subject_alt_names: Vec<String>,
    /// Skip verification.
    pub insecure_skip_verify: Option<bool>,
}

impl ClientTls {
    /// Istio's mutual TLS alone: what every VM-only service gets by default, one value shared
    /// by them all (a copy in each would make every service markedly larger).
    pub fn istio_mutual() -> Arc<ClientTls> {
        static SHARED: std::sync::LazyLock<Arc<ClientTls>> =
            std::sync::LazyLock::new(|| Arc::new(ClientTls::mode("ISTIO_MUTUAL")));
        SHARED.clone()
    }

    /// Only the mode: what `tls: ISTIO_MUTUAL` says.
    pub fn mode(mode: &'static str) -> ClientTls {
        ClientTls {
            mode,
            port: None,
            sni: None,
            ca_certificates: None,
            ca_crl: None,
            client_certificate: None,
            private_key: None,
            credential_name: None,
            subject_alt_names: Vec::new(),
            insecure_skip_verify: None,
        }
    }

    /// Whether the proxy opens TLS of its own (`SIMPLE`, `MUTUAL`) rather than Istio's mutual
    /// TLS or none: a port that already carries the application's TLS (HTTPS, TLS) is left
    /// alone by an entity-wide setting of this kind, which would wrap TLS in TLS.
    pub fn originates(&self) -> bool {
        matches!(self.mode, "SIMPLE" | "MUTUAL")
    }

    /// Whether an entity-wide setting applies to `port`, one of the entity's `ports`.
    /// Origination goes to the ports the application speaks in plain text: its HTTP-family
    /// ports, or, on an entity without any, its opaque TCP ports (a database). An entity
    /// with both keeps its TCP ports plain unless a port says `tls` itself, which is what
    /// entity-wide `tls` meant before TCP ports could originate TLS at all.
    pub fn applies_to(&self, port: &Port, ports: &[Port]) -> bool {
        if !self.originates() {
            return true;
        }
        let p = port.protocol;
        p.is_http() || (p.is_opaque() && !ports.iter().any(|q| q.protocol.is_http()))
    }
}

/// A DestinationRule-side policy of its own for one port (`ports.<name>.traffic`, `.tls`).
#[derive(Debug, Clone, PartialEq)]
pub struct PortPolicy {
    /// The port's number.
    pub port: u32,
    /// Its own connection pool, outlier detection and load balancing (merged over the
    /// entity's when the policy is laid out).
    pub traffic: Traffic,
    /// Its own client TLS, replacing the entity's on this port.
    pub tls: Option<ClientTls>,
}

/// An external API.
#[derive(Debug, Clone)]
pub struct External {
    /// Entity name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// Where it is declared (`externals.<name>`).
    pub origin: Origin,
    /// Hosts, sorted.
    pub hosts: Vec<String>,
    /// The position of each of `hosts` in the list as written, where findings point
    /// ([`External::host_origin`]).
    pub host_index: Vec<u32>,
    /// Ports, by number.
    pub ports: Vec<Port>,
    /// Resolution.
    pub resolution: Resolution,
    /// `MESH_EXTERNAL` or `MESH_INTERNAL`.
    pub location: &'static str,
    /// VIPs / CIDRs.
    pub addresses: Vec<String>,
    /// Inline endpoints.
    pub endpoints: Vec<Workload>,
    /// Client TLS (TLS origination): on every plain port, see [`ClientTls::applies_to`].
    pub tls: Option<Arc<ClientTls>>,
    /// Ports with a policy of their own.
    pub port_policies: Vec<PortPolicy>,
    /// Egress gateway routing, when the API goes through the gateway.
    pub egress: Option<egress::Egress>,
    /// SANs.
    pub subject_alt_names: Vec<String>,
    /// Visibility.
    pub export_to: Option<ExportTo>,
    /// Names chosen for its objects named after it, by kind (`names`).
    pub names: BTreeMap<String, String>,
    /// Traffic policy, defaults merged in.
    pub traffic: Traffic,
    /// Which of its request durations the entity's own `traffic` writes.
    pub traffic_written: traffic::Written,
    /// Routing rules of its hosts.
    pub routes: Vec<Route>,
}

impl External {
    /// See [`Service::callers_read_secret`]; through the egress gateway, the gateway reads
    /// the secret instead.
    pub fn callers_read_secret(&self) -> bool {
        self.egress.is_none()
            && (reads_secret(self.tls.as_deref()) || self.port_policies.iter().any(|p| reads_secret(p.tls.as_ref())))
    }

    /// Where one of its inline endpoints is declared.
    pub fn endpoint_origin(&self, endpoint: &Workload) -> Origin {
        endpoint.origin_in(&self.origin.child("endpoints"))
    }

    /// Where `hosts[i]` (of the sorted list) is written.
    pub fn host_origin(&self, i: usize) -> Origin {
        self.origin.child("hosts").index(self.host_index.get(i).map_or(i, |&w| w as usize))
    }
}

/// A workload's network and service account (of its sidecar; none without one).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    /// Network.
    pub network: Option<Arc<str>>,
    /// Service account of the sidecar.
    pub service_account: Option<Arc<str>>,
}

/// The hash of a workload's network and address ([`Workload::address_hash`]): equal pairs
/// have equal hashes. Only these hashes are compared with each other, so the seed is this
/// function's own.
pub(crate) fn address_hash(network: Option<&str>, address: &str) -> u32 {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::with_seed(0x6164_6472).hash_one((network, address)) as u32
}

impl Workload {
    /// Its network.
    pub fn network(&self) -> Option<&str> {
        self.identity.as_ref().and_then(|i| i.network.as_deref())
    }

    /// The service account of its sidecar (none when it has no sidecar).
    pub fn service_account(&self) -> Option<&str> {
        self.identity.as_ref().and_then(|i| i.service_account.as_deref())
    }

    /// The port it receives on for the service port `name`, where it overrides it.
    pub fn port(&self, name: &str) -> Option<u32> {
        self.ports.as_ref().and_then(|p| p.get(name)).copied()
    }

    /// Where it is declared, given the origin of the list it was written in.
    pub fn origin_in(&self, list: &Origin) -> Origin {
        list.index(self.index as usize)
    }
}

/// A position in a list of the inventory, as the model keeps it (inventory files are far
/// below four billion entries, see `load::Limits`).
fn position(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// The whole validated inventory, sorted by (namespace, name).
#[derive(Debug, Clone)]
pub struct Inventory {
    /// The project settings.
    pub project: Project,
    /// Mesh services.
    pub services: Vec<Box<Service>>,
    /// External APIs.
    pub externals: Vec<External>,
    /// Findings suppressed by `ignore:` entries of entities.
    pub suppressions: Vec<Suppression>,
    /// Names declared in the inventory whose entity had errors (and so is absent above):
    /// references to them are not reported again as unknown.
    pub invalid: BTreeSet<String>,
    /// Entities left out of this build with `enabled: false`; dependencies on them are
    /// dropped.
    pub disabled: BTreeSet<String>,
    /// Which overlay set which value, to report problems where they were written.
    pub trace: Trace,
    /// The `patches` of each entity that has some, by entity name, in the order written.
    pub patches: BTreeMap<String, Vec<patch::Patch>>,
    /// Whether some entity's callers need a DestinationRule of their own for its client
    /// certificate ([`Service::callers_read_secret`]): decided once, so that rendering
    /// looks at each dependency only in an inventory that has such an entity.
    pub callers_read_secrets: bool,
}

/// A finding suppressed for one entity (`ignore:`).
#[derive(Debug, Clone)]
pub struct Suppression {
    /// The entity it applies to (diagnostics at or below this origin).
    pub scope: Origin,
    /// The suppressed code.
    pub code: &'static str,
    /// Where the `ignore` entry is, to report it when it suppresses nothing.
    pub origin: Origin,
}

/// The file name to show for an origin: used by renderers for the source annotation.
pub fn source_ref(origin: &Origin) -> String {
    format!("{}#{}", origin.file, origin.path)
}

/// Shared `Arc<str>` for tests and callers that build origins by hand.
pub fn file_name(s: &str) -> Arc<str> {
    Arc::from(s)
}

/// The help for a reference to an entity that names none: the entity whose host it is,
/// when a host was written where a name is expected (`dependsOn: [api.stripe.com]`), else
/// a close name. Built on the first unknown name: a clean inventory never pays for it.
pub struct NameHelp<'a> {
    names: Vec<&'a str>,
    /// Lower-cased exact hosts and their entity.
    hosts: std::collections::HashMap<String, &'a str>,
    /// Wildcard hosts (`*.example.com`) and their entity.
    wildcards: Vec<(&'a str, &'a str)>,
}

impl<'a> NameHelp<'a> {
    /// The names and hosts of the inventory's entities.
    pub fn new(inv: &'a Inventory) -> NameHelp<'a> {
        let mut hosts = std::collections::HashMap::new();
        let mut wildcards = Vec::new();
        let owned = inv
            .services
            .iter()
            .map(|s| (s.name.as_str(), std::slice::from_ref(&s.host)))
            .chain(inv.externals.iter().map(|e| (e.name.as_str(), &e.hosts[..])));
        for (name, list) in owned {
            for h in list {
                if h.starts_with("*.") {
                    wildcards.push((h.as_str(), name));
                } else {
                    hosts.entry(h.trim_end_matches('.').to_ascii_lowercase()).or_insert(name);
                }
            }
        }
        let names = inv.services.iter().map(|s| s.name.as_str()).chain(inv.externals.iter().map(|e| e.name.as_str()));
        NameHelp { names: names.collect(), hosts, wildcards }
    }

    /// The help for `word`, which names no entity.
    pub fn help(&self, word: &str) -> Option<String> {
        let host = word.trim_end_matches('.').to_ascii_lowercase();
        let owner = self.hosts.get(&host).copied().or_else(|| {
            // The first wildcard covering it, in inventory order: deterministic.
            self.wildcards.iter().find(|(pattern, _)| covers(pattern, &host)).map(|(_, name)| *name)
        });
        match owner {
            Some(name) => Some(format!("`{}` is a host of `{name}`: name the entity, `{name}`", validate::shown(word))),
            None => crate::diag::suggest::hint(word, "services and externals", &self.names),
        }
    }
}
