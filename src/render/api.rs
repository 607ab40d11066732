//! The template API: what each built-in template receives, one type per template context.
//!
//! A template override (`templates` in meshgen.yaml, `meshgen templates eject`) sees exactly
//! these values, serialised to JSON: the field names are Istio's (camelCase), every value is
//! already decided by [`super::context`], and a field marked optional is absent (not null,
//! not empty) when it has nothing to say, so `{% if field %}` is the test for it. Each
//! context also carries [`Context::api_version`] and [`Context::metadata`] beside the
//! fields of its kind.
//!
//! `docs/templates.md` is generated from this file (its types, fields and doc comments; see
//! the test module `render::api_doc`), and a test fails when the committed page is stale,
//! or when a context holds a key the page does not name. Keep the layout the generator
//! reads: one `#[derive(Serialize)]` struct per item, `pub` fields one per line, each with a
//! doc comment; JSON names by `rename_all = "camelCase"` or a field's `rename`; optional
//! fields `Option`s with `skip_serializing_if`.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{Map, Value};

use super::context::{Kind, ObjectLabels, SourceAnnotation};
use crate::model::http::{CorsPolicy, DirectResponse, Headers, Redirect};
use crate::model::labels::Labels;
use crate::model::raw::{Probe, Rewrite, ShortOr};
use crate::model::traffic::{ConnectionPool, Fault, LoadBalancer, OutlierDetection, Retries};

/// One of Istio's messages as the model holds it (its fields are Istio's), written as it
/// serialises: borrowed from the model, or owned where it was merged for this object. Present
/// only when it says something (`render::present`); a template sees an object.
pub type Passed<'a, T> = Cow<'a, T>;

/// A template context: the fields of one kind's template. The kind is part of the type, so
/// an object cannot be given another kind's fields.
pub trait Spec: Serialize {
    /// The kind whose template renders these fields.
    const KIND: Kind;
}

/// Every context: the fields of its kind, then `api_version` and `metadata`, which every
/// template receives.
#[derive(Serialize)]
pub struct Context<'a, S> {
    /// The fields of the object's kind.
    #[serde(flatten)]
    pub spec: S,
    /// The object's `apiVersion` in the chosen API generation (`networking.istio.io/v1`).
    pub api_version: &'static str,
    /// The object's metadata (the shared partial `_metadata.yaml` writes it).
    pub metadata: Metadata<'a>,
}

/// The metadata of every object.
#[derive(Serialize)]
pub struct Metadata<'a> {
    /// `metadata.name`.
    pub name: &'a str,
    /// `metadata.namespace`.
    pub namespace: &'a str,
    /// `app.kubernetes.io/managed-by: meshgen` and the project's `labels`, sorted by key.
    pub labels: ObjectLabels<'a>,
    /// `meshgen.dev/source`: the inventory file and entity path the object comes from.
    pub annotations: SourceAnnotation<'a>,
}

/// `istio/service-entry.yaml`: a ServiceEntry, which registers a host in the mesh (a
/// service's, an external API's, or the concrete destination of a wildcard behind the egress
/// gateway).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceEntry<'a> {
    /// The hosts.
    pub hosts: Vec<&'a str>,
    /// Virtual IPs (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addresses: Option<&'a [String]>,
    /// The ports.
    pub ports: Vec<ServicePort<'a>>,
    /// `MESH_INTERNAL` or `MESH_EXTERNAL`.
    pub location: &'a str,
    /// `NONE`, `STATIC`, `DNS` or `DNS_ROUND_ROBIN`.
    pub resolution: &'a str,
    /// The labels of the service's workloads: its VMs' WorkloadEntries and pods (services
    /// only; the template writes them under `workloadSelector.labels`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload_selector: Option<&'a Labels>,
    /// The endpoints of an external API (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<Vec<Workload<'a>>>,
    /// SANs of the workloads (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject_alt_names: Option<&'a [String]>,
    /// Namespaces the entry is visible in (optional: everywhere).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export_to: Option<Vec<String>>,
}

/// A port of a ServiceEntry.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePort<'a> {
    /// Port name.
    pub name: &'a str,
    /// Port number.
    pub number: u32,
    /// Istio protocol (`HTTP`, `HTTPS`, `GRPC`, `TLS`, `TCP`, …).
    pub protocol: &'static str,
    /// The workloads' port, when it differs (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_port: Option<u32>,
}

/// `istio/workload-entry.yaml`: a WorkloadEntry (one VM); the same fields make an endpoint
/// of an external API's ServiceEntry.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Workload<'a> {
    /// IP, DNS name or `unix://` socket.
    pub address: &'a str,
    /// Port name to number, where the workload differs from the service (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ports: Option<&'a BTreeMap<String, u32>>,
    /// All labels, the selector's included (a WorkloadEntry always has them; an endpoint's
    /// are optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<&'a Labels>,
    /// `region/zone/subzone` (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locality: Option<&'a str>,
    /// Network (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<&'a str>,
    /// Load-balancing weight (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    /// Service account of the sidecar (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_account: Option<&'a str>,
}

/// `istio/workload-group.yaml`: a WorkloadGroup, the template for VMs that register
/// themselves.
#[derive(Serialize)]
pub struct WorkloadGroup<'a> {
    /// Labels given to the registered WorkloadEntries (`spec.metadata.labels`).
    pub labels: &'a Labels,
    /// The WorkloadEntry template (written even when empty).
    pub template: WorkloadTemplate<'a>,
    /// Istio's ReadinessProbe (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe: Option<&'a Probe>,
}

/// The `template` of a WorkloadGroup.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadTemplate<'a> {
    /// Port name to number (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ports: Option<&'a BTreeMap<String, u32>>,
    /// Network (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<&'a str>,
    /// `region/zone/subzone` (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locality: Option<&'a str>,
    /// Load-balancing weight (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    /// Service account (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_account: Option<&'a str>,
}

/// `istio/destination-rule.yaml`: a DestinationRule, how to reach a host (a service's, an
/// external API's host, the egress gateway's, or one caller's copy with client
/// credentials).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DestinationRule<'a> {
    /// The host.
    pub host: &'a str,
    /// The callers the rule is for (optional: only rules that carry client credentials for
    /// one caller's proxies).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload_selector: Option<LabelSelector<'a>>,
    /// The policy of the host (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traffic_policy: Option<TrafficPolicy<'a>>,
    /// The subsets (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subsets: Option<Vec<Subset<'a>>>,
    /// Namespaces the rule is visible in (optional: everywhere).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export_to: Option<Vec<String>>,
}

/// Istio's TrafficPolicy, laid out so that every level holds the effective policy of what
/// it covers (see `render::traffic_policy`).
#[derive(Serialize, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TrafficPolicy<'a> {
    /// Connection pool, outlier detection, load balancing and TLS of every port.
    #[serde(flatten)]
    pub settings: PolicySettings<'a>,
    /// The ports whose policy differs from the top level, each complete (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port_level_settings: Option<Vec<PortPolicy<'a>>>,
}

/// The settings of one level of a TrafficPolicy, each optional.
#[derive(Serialize, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct PolicySettings<'a> {
    /// Istio's ConnectionPoolSettings (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_pool: Option<Passed<'a, ConnectionPool>>,
    /// Istio's OutlierDetection (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outlier_detection: Option<Passed<'a, OutlierDetection>>,
    /// Istio's LoadBalancerSettings (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<Passed<'a, ShortOr<LoadBalancer>>>,
    /// Client TLS (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<ClientTls>,
}

/// An entry of `portLevelSettings`.
#[derive(Serialize, Clone, PartialEq)]
pub struct PortPolicy<'a> {
    /// The port.
    pub port: PortSelector,
    /// The port's complete policy.
    #[serde(flatten)]
    pub settings: PolicySettings<'a>,
}

/// Istio's ClientTLSSettings.
#[derive(Serialize, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ClientTls {
    /// `DISABLE`, `SIMPLE`, `MUTUAL` or `ISTIO_MUTUAL`.
    pub mode: &'static str,
    /// SNI (optional; the host by default when TLS is originated).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
    /// CA bundle file (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_certificates: Option<String>,
    /// Certificate revocation list file (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_crl: Option<String>,
    /// Client certificate file (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_certificate: Option<String>,
    /// Client key file (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_key: Option<String>,
    /// Secret with the client credentials (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_name: Option<String>,
    /// SANs to verify (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject_alt_names: Option<Vec<String>>,
    /// Skip verification of the server (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub insecure_skip_verify: Option<bool>,
}

/// A DestinationRule subset.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Subset<'a> {
    /// Subset name.
    pub name: &'a str,
    /// Labels that select its endpoints (optional: the egress gateway's subsets select by
    /// SNI, not labels).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<&'a Labels>,
    /// Its own policy (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traffic_policy: Option<TrafficPolicy<'a>>,
}

/// A port by number (Istio's PortSelector).
#[derive(Serialize, Clone, Copy, PartialEq)]
pub struct PortSelector {
    /// Port number.
    pub number: u32,
}

/// Workloads by label (Istio's WorkloadSelector of DestinationRules and
/// AuthorizationPolicies).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector<'a> {
    /// Labels the workloads carry.
    pub match_labels: &'a Labels,
}

/// `istio/gateway.yaml`: a Gateway, the listeners of the ingress or egress gateway.
#[derive(Serialize)]
pub struct Gateway<'a> {
    /// Labels of the gateway's pods.
    pub selector: &'a Labels,
    /// The listeners.
    pub servers: Vec<Server<'a>>,
}

/// A listener of a Gateway.
#[derive(Serialize)]
pub struct Server<'a> {
    /// The port it listens on.
    pub port: ServerPort,
    /// The hosts it serves.
    pub hosts: Vec<&'a str>,
    /// Its TLS (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<ServerTls<'a>>,
}

/// The port of a Gateway listener.
#[derive(Serialize)]
pub struct ServerPort {
    /// Port number.
    pub number: u32,
    /// Port name, unique in the Gateway.
    pub name: String,
    /// `HTTP`, `HTTPS` or `TLS`.
    pub protocol: &'static str,
}

/// Istio's ServerTLSSettings.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerTls<'a> {
    /// Redirect plain HTTP to HTTPS (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub https_redirect: Option<bool>,
    /// `SIMPLE`, `MUTUAL`, `ISTIO_MUTUAL` or `PASSTHROUGH` (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<&'a str>,
    /// Secret with the server certificate (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_name: Option<&'a str>,
}

/// `istio/virtual-service.yaml`: a VirtualService, the routing of some hosts.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualService<'a> {
    /// The hosts.
    pub hosts: Vec<&'a str>,
    /// The gateways it applies to (optional: the mesh's sidecars only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateways: Option<Vec<String>>,
    /// HTTP rules, in order (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<Cow<'a, [HttpRoute<'a>]>>,
    /// TLS rules, by SNI (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<Cow<'a, [StreamRoute<'a>]>>,
    /// TCP rules (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp: Option<Cow<'a, [StreamRoute<'a>]>>,
    /// Namespaces it is visible in (optional: everywhere).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export_to: Option<Vec<String>>,
}

/// Istio's HTTPRoute.
#[derive(Serialize, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct HttpRoute<'a> {
    /// Rule name (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Istio's HTTPMatchRequests, any of which selects the rule (optional: every request).
    #[serde(rename = "match")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matches: Option<Vec<Map<String, Value>>>,
    /// Where the requests go (optional: a redirect or direct response has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<Vec<RouteDestination<'a>>>,
    /// Istio's HTTPRedirect (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect: Option<Passed<'a, Redirect>>,
    /// Istio's HTTPDirectResponse (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direct_response: Option<Passed<'a, DirectResponse>>,
    /// Request timeout, a Go duration (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Istio's HTTPRetry (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<Passed<'a, Retries>>,
    /// Istio's HTTPFaultInjection (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<Passed<'a, Fault>>,
    /// Where requests are mirrored (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mirror: Option<Destination<'a>>,
    /// The share of requests mirrored (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mirror_percentage: Option<Percent>,
    /// Istio's HTTPRewrite (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rewrite: Option<Passed<'a, Rewrite>>,
    /// Istio's CorsPolicy (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cors_policy: Option<Passed<'a, CorsPolicy>>,
    /// Istio's Headers: changes to request and response headers (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<Passed<'a, Headers>>,
}

/// Istio's TLSRoute or TCPRoute: a rule for connections, matched by SNI, port or source.
#[derive(Serialize, Clone)]
pub struct StreamRoute<'a> {
    /// Istio's TLSMatchAttributes or L4MatchAttributes (optional for TCP: every
    /// connection).
    #[serde(rename = "match")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matches: Option<Vec<Map<String, Value>>>,
    /// Where the connections go.
    pub route: Vec<RouteDestination<'a>>,
}

/// Istio's HTTPRouteDestination or RouteDestination.
#[derive(Serialize, Clone)]
pub struct RouteDestination<'a> {
    /// The destination.
    pub destination: Destination<'a>,
    /// Its share of the traffic, in percent (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    /// Istio's Headers: changes for this destination (optional; HTTP only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<Passed<'a, Headers>>,
}

/// Istio's Destination: a host, a subset of it, a port.
#[derive(Serialize, Clone)]
pub struct Destination<'a> {
    /// The host.
    pub host: &'a str,
    /// A subset of the host's DestinationRule (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subset: Option<&'a str>,
    /// The port (optional: the host's only one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<PortSelector>,
}

/// Istio's Percent.
#[derive(Serialize, Clone, Copy)]
pub struct Percent {
    /// The percentage.
    pub value: f64,
}

/// `istio/sidecar.yaml`: a Sidecar, what one service's proxies are configured for.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Sidecar<'a> {
    /// The service's workloads.
    pub workload_selector: WorkloadSelector<'a>,
    /// The hosts the proxies see.
    pub egress: Vec<SidecarEgress>,
    /// `REGISTRY_ONLY` or `ALLOW_ANY` (optional: the mesh's setting).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outbound_traffic_policy: Option<OutboundTrafficPolicy>,
}

/// Workloads by label (Istio's WorkloadSelector of Sidecars).
#[derive(Serialize)]
pub struct WorkloadSelector<'a> {
    /// Labels the workloads carry.
    pub labels: &'a Labels,
}

/// Istio's IstioEgressListener.
#[derive(Serialize)]
pub struct SidecarEgress {
    /// `namespace/host`: the own namespace, the control plane and each dependency.
    pub hosts: Vec<String>,
}

/// Istio's OutboundTrafficPolicy.
#[derive(Serialize)]
pub struct OutboundTrafficPolicy {
    /// `REGISTRY_ONLY` or `ALLOW_ANY`.
    pub mode: &'static str,
}

/// `istio/authorization-policy.yaml`: an AuthorizationPolicy, who may call one service's
/// workloads.
#[derive(Serialize)]
pub struct AuthorizationPolicy<'a> {
    /// The service's workloads.
    pub selector: LabelSelector<'a>,
    /// Always `ALLOW`: the rules are an allow-list.
    pub action: &'static str,
    /// The rules (optional: none allows no one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rules: Option<Vec<Rule>>,
}

/// A rule of an AuthorizationPolicy.
#[derive(Serialize)]
pub struct Rule {
    /// The sources, any of which the caller must be.
    pub from: Vec<RuleFrom>,
    /// The operations allowed (optional: every port).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<Vec<RuleTo>>,
}

/// Istio's Rule.From.
#[derive(Serialize)]
pub struct RuleFrom {
    /// The source.
    pub source: Source,
}

/// Istio's Source: principals or namespaces.
#[derive(Serialize)]
pub struct Source {
    /// SPIFFE principals `<trustDomain>/ns/<namespace>/sa/<serviceAccount>` (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principals: Option<BTreeSet<String>>,
    /// Namespaces (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<BTreeSet<String>>,
}

/// Istio's Rule.To.
#[derive(Serialize)]
pub struct RuleTo {
    /// The operation.
    pub operation: Operation,
}

/// Istio's Operation.
#[derive(Serialize)]
pub struct Operation {
    /// Workload ports, as strings.
    pub ports: Vec<String>,
}

impl Spec for ServiceEntry<'_> {
    const KIND: Kind = Kind::ServiceEntry;
}
impl Spec for WorkloadGroup<'_> {
    const KIND: Kind = Kind::WorkloadGroup;
}
impl Spec for Workload<'_> {
    const KIND: Kind = Kind::WorkloadEntry;
}
impl Spec for DestinationRule<'_> {
    const KIND: Kind = Kind::DestinationRule;
}
impl Spec for Gateway<'_> {
    const KIND: Kind = Kind::Gateway;
}
impl Spec for VirtualService<'_> {
    const KIND: Kind = Kind::VirtualService;
}
impl Spec for Sidecar<'_> {
    const KIND: Kind = Kind::Sidecar;
}
impl Spec for AuthorizationPolicy<'_> {
    const KIND: Kind = Kind::AuthorizationPolicy;
}
