//! The inventory language as written: serde types that mirror the YAML users write.
//!
//! Every struct denies unknown fields (a misspelt field is an error with "did you mean"), and
//! none uses `#[serde(flatten)]`, which breaks both error positions and unknown-field checks.
//! Field names follow Istio's own (camelCase) wherever the concept is Istio's, so someone who
//! knows Istio reads an inventory without docs. Several fields accept a short form (a number
//! or a word) as well as the full mapping; [`ShortForm`] implements that once.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::http::{CorsPolicy, DirectResponse, Headers, Redirect, RegexRewrite};
use super::traffic::{Fault, Retries, Traffic};

pub use super::labels::Labels;

/// One inventory document: entities grouped by kind, with an optional default namespace.
// (Not in the doc comment, which the JSON Schema shows users.) The entities are skipped by
// default, each then read from the document's value on its own with its own diagnostics
// (`EntityMap` says why); the fast path of `model::build` reads them in place instead
// (`RawDocument<RawService, RawExternal>`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "Document", bound = "")]
pub struct RawDocument<S = de::IgnoredAny, X = de::IgnoredAny> {
    /// Namespace for the entities of this document that do not set one.
    #[schemars(extend("examples" = ["shop"]))]
    pub namespace: Option<String>,
    /// Mesh services (VMs and/or pods), by name.
    #[schemars(with = "Option<BTreeMap<String, RawService>>")]
    pub services: Option<EntityMap<S>>,
    /// External APIs, by name.
    #[schemars(with = "Option<BTreeMap<String, RawExternal>>")]
    pub externals: Option<EntityMap<X>>,
}

/// The entities of `services:`/`externals:` in the order written, each read as a `T`. As
/// [`de::IgnoredAny`] (the default) it only checks that they are a mapping, without copying
/// it: the entities are then read one by one from the document's value, each with its own
/// diagnostics, and copying the whole mapping first would double the work on every entity.
#[derive(Debug)]
pub struct EntityMap<T = de::IgnoredAny>(pub Vec<(String, T)>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for EntityMap<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = EntityMap<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // "mapping", the YAML word, as messages have always said.
                f.write_str("a YAML mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<EntityMap<T>, A::Error> {
                // Room for a file's usual share of entities up front: a raw entity is large, and
                // growing from empty moved each several times (the fast reader gives no count).
                let mut entities = Vec::with_capacity(map.size_hint().unwrap_or(16).min(64));
                while let Some(entry) = map.next_entry::<String, T>()? {
                    entities.push(entry);
                }
                Ok(EntityMap(entities))
            }
            fn visit_unit<E: de::Error>(self) -> Result<EntityMap<T>, E> {
                Ok(EntityMap(Vec::new()))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

// Its TLS and traffic settings are boxed: few ports write them, and a port was 368 bytes,
// read for every port of every service. (A doc comment here is the schema's description.)
/// A port: `http: 8080` or `http: {number: 8080, protocol: HTTP, targetPort: 9080}`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "Port")]
pub struct RawPort {
    /// The port number clients use.
    #[schemars(extend("examples" = [8080]))]
    pub number: u32,
    /// Istio protocol; inferred from the port name (`http`, `grpc-web`, `tls-foo`…) when absent.
    #[schemars(extend("examples" = ["HTTP", "HTTP2", "GRPC", "TCP", "TLS", "HTTPS"]))]
    pub protocol: Option<String>,
    /// The port on the workload, when it differs.
    #[schemars(extend("examples" = [9080]))]
    pub target_port: Option<u32>,
    /// Client TLS towards this port, replacing the entity's `tls` here.
    pub tls: Option<Box<ShortOr<RawTls>>>,
    /// DestinationRule-side traffic policy of this port, merged over the entity's.
    pub traffic: Option<Box<Traffic>>,
}

impl ShortForm for RawPort {
    const EXPECTING: &'static str = "a port number or a mapping with `number`";
    fn from_u64(n: u64) -> Result<Self, String> {
        let number = u32::try_from(n).map_err(|_| format!("port {n} is out of range"))?;
        Ok(RawPort { number, protocol: None, target_port: None, tls: None, traffic: None })
    }
    fn short_schema() -> Schema {
        json_schema!({ "type": "integer", "minimum": 0, "maximum": u32::MAX, "examples": [8080] })
    }
}

/// A mesh service: VMs, pods, or both behind one host.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "Service")]
#[schemars(transform = crate::schema::with_enabled)]
pub struct RawService {
    /// Kubernetes namespace of the generated objects.
    #[schemars(extend("examples" = ["shop"]))]
    pub namespace: Option<String>,
    /// The host clients call (default `<name>.<namespace>.svc.cluster.local`).
    #[schemars(extend("examples" = ["catalog.shop.internal"]))]
    pub host: Option<String>,
    /// Ports by name.
    pub ports: Option<SmallMap<ShortOr<RawPort>>>,
    /// The service account the workloads' sidecars run as.
    #[schemars(extend("examples" = ["catalog"]))]
    pub service_account: Option<String>,
    /// Whether the VMs run an Istio sidecar (default true).
    #[schemars(extend("examples" = [false]))]
    pub sidecar: Option<bool>,
    /// Labels that identify the service's workloads (default `app: <name>`, or `pods`).
    pub labels: Option<Labels>,
    /// Virtual machines.
    pub vms: Option<Vec<RawVm>>,
    /// Label selector of the Kubernetes pods of this service.
    #[schemars(extend("examples" = [{"app": "catalog"}]))]
    pub pods: Option<Labels>,
    /// Extra subsets by name (subsets per `version` label are derived): labels, or
    /// `{labels, traffic, tls}`.
    pub subsets: Option<BTreeMap<String, RawSubset>>,
    /// Virtual IPs of the service.
    #[schemars(extend("examples" = [["240.240.0.10"]]))]
    pub addresses: Option<Vec<String>>,
    /// Identities the workloads may present.
    #[schemars(extend("examples" = [["spiffe://cluster.local/ns/shop/sa/catalog"]]))]
    pub subject_alt_names: Option<Vec<String>>,
    /// Default network of the VMs.
    #[schemars(extend("examples" = ["vm-network"]))]
    pub network: Option<String>,
    /// Emit a WorkloadGroup (for VM auto-registration).
    pub workload_group: Option<Box<ShortOr<RawWorkloadGroup>>>,
    /// Traffic policy, merged over the project defaults.
    pub traffic: Option<Box<Traffic>>,
    /// Client TLS towards the service (default `ISTIO_MUTUAL` for VMs with sidecars only).
    pub tls: Option<Box<ShortOr<RawTls>>>,
    /// `false`: no ServiceEntry; the host is registered elsewhere (a Kubernetes Service, or
    /// a ServiceEntry meshgen does not make) whose selector picks the VMs.
    #[schemars(extend("examples" = [false]))]
    pub service_entry: Option<bool>,
    /// The ServiceEntry's `location`: `MESH_INTERNAL` (default) or `MESH_EXTERNAL`.
    #[schemars(extend("examples" = ["MESH_INTERNAL", "MESH_EXTERNAL"]))]
    pub location: Option<String>,
    /// HTTP/TCP routing rules, in order.
    pub routes: Option<Vec<RawRoute>>,
    /// Services and external APIs this service calls: names, or `{name, ports}` to allow
    /// the call on some of the target's ports only.
    #[schemars(extend("examples" = [["catalog", "payments"], [{"name": "search", "ports": ["http"]}]]))]
    pub depends_on: Option<Vec<ShortOr<RawDependency>>>,
    /// Who may call this service besides its declared consumers, where the project turns
    /// on authorization policy for its namespace.
    pub authorization: Option<RawAuthorization>,
    /// Public hosts the ingress gateway serves the service under: a host, a list of hosts, or
    /// `{hosts, port, tls, paths, …}`.
    pub ingress: Option<Box<ShortOr<super::ingress::RawIngress>>>,
    /// Visibility: a list of namespaces (`.`, `*`, names) or `consumers`.
    pub export_to: Option<ShortOr<RawExportTo>>,
    /// Findings to suppress for this entity, each with a reason.
    pub ignore: Option<Vec<RawIgnore>>,
    /// Changes to the generated objects, applied after rendering.
    pub patches: Option<Vec<super::patch::RawPatch>>,
    /// Names of its objects named after it, by kind (`{DestinationRule: reviews-dr}`), to
    /// adopt objects that exist under other names.
    #[schemars(extend("examples" = [{"DestinationRule": "catalog-dr"}]))]
    pub names: Option<BTreeMap<String, String>>,
}

/// One `dependsOn` entry: `catalog`, or `{name: catalog, ports: [grpc]}`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Dependency")]
pub struct RawDependency {
    /// The service or external API called.
    #[schemars(extend("examples" = ["catalog"]))]
    pub name: String,
    /// Names of the target's ports the calls use (default: all of them).
    #[schemars(extend("examples" = [["http"]]))]
    pub ports: Option<Vec<String>>,
}

impl ShortForm for RawDependency {
    const EXPECTING: &'static str = "a service name or a mapping with `name` (and `ports`)";
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(RawDependency { name: s.to_string(), ports: None })
    }
    fn short_schema() -> Schema {
        json_schema!({ "type": "string", "examples": ["catalog"] })
    }
}

/// `authorization: {from: [...]}`: callers from outside the inventory.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Authorization")]
pub struct RawAuthorization {
    /// The extra sources allowed to call every port of the service.
    pub from: Vec<RawSource>,
}

/// One extra source: exactly one of a SPIFFE principal or a namespace.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Source")]
pub struct RawSource {
    /// `<trust-domain>/ns/<namespace>/sa/<service-account>`.
    #[schemars(extend("examples" = ["cluster.local/ns/monitoring/sa/prometheus"]))]
    pub principal: Option<String>,
    /// Every workload of a namespace (any identity in it).
    #[schemars(extend("examples" = ["monitoring"]))]
    pub namespace: Option<String>,
}

/// `ignore: [{code: dependency-cycle, reason: "…"}]`: a suppressed finding.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Ignore")]
pub struct RawIgnore {
    /// The diagnostic code.
    #[schemars(extend("examples" = ["dependency-cycle"]))]
    pub code: String,
    /// Why it is fine here (required: a suppression without a reason is not reviewable).
    #[schemars(extend("examples" = ["the cycle is broken at runtime by a feature flag"]))]
    pub reason: String,
}

/// One virtual machine of a service.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "Vm")]
pub struct RawVm {
    /// IP address or DNS name.
    #[schemars(extend("examples" = ["10.0.1.10", "vm-1.shop.internal"]))]
    pub address: String,
    /// WorkloadEntry name (default `<service>-<address>`).
    #[schemars(extend("examples" = ["catalog-vm-1"]))]
    pub name: Option<String>,
    /// Extra labels (e.g. `version`).
    pub labels: Option<Labels>,
    /// `region/zone/subzone`.
    #[schemars(extend("examples" = ["eu-west1/eu-west1-a"]))]
    pub locality: Option<String>,
    /// Network the VM is on (multi-network meshes).
    #[schemars(extend("examples" = ["vm-network"]))]
    pub network: Option<String>,
    /// Load-balancing weight.
    #[schemars(extend("examples" = [2]))]
    pub weight: Option<u32>,
    /// Per-port overrides: port name to the number the VM listens on.
    #[schemars(extend("examples" = [{"http": 9080}]))]
    pub ports: Option<BTreeMap<String, u32>>,
    /// Overrides the service account for this VM.
    #[schemars(extend("examples" = ["catalog"]))]
    pub service_account: Option<String>,
}

/// A WorkloadGroup request: `workloadGroup: true` or with a readiness probe.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "WorkloadGroup")]
pub struct RawWorkloadGroup {
    /// Readiness probe run by the VM's sidecar (Istio's ReadinessProbe shape).
    pub probe: Option<Probe>,
    /// Extra labels of the VMs that register (besides the service's selector and labels).
    pub labels: Option<Labels>,
    /// Per-port overrides of the registering VMs: port name to the number they listen on.
    pub ports: Option<BTreeMap<String, u32>>,
    /// `region/zone/subzone` of the registering VMs.
    pub locality: Option<String>,
    /// Load-balancing weight of each registering VM.
    pub weight: Option<u32>,
    /// Network of the registering VMs (default: the service's `network`).
    pub network: Option<String>,
    /// Service account of the registering VMs (default: the service's).
    pub service_account: Option<String>,
}

/// Istio's ReadinessProbe for WorkloadGroups: exactly one of `httpGet`, `tcpSocket`, `exec`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Probe {
    /// Seconds before the first probe.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initial_delay_seconds: Option<u32>,
    /// Seconds before a probe times out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u32>,
    /// Seconds between probes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period_seconds: Option<u32>,
    /// Successes to become ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success_threshold: Option<u32>,
    /// Failures to become unready.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_threshold: Option<u32>,
    /// HTTP GET probe.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_get: Option<HttpGetProbe>,
    /// TCP connect probe.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_socket: Option<TcpProbe>,
    /// Command probe.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecProbe>,
}

/// An HTTP GET readiness probe.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpGetProbe {
    /// Path to request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Port on the VM.
    pub port: u32,
    /// Host to connect to (default the VM).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// HTTP or HTTPS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
}

/// A TCP connect readiness probe.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TcpProbe {
    /// Host to connect to (default the VM).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Port on the VM.
    pub port: u32,
}

/// A command readiness probe.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExecProbe {
    /// Command and arguments.
    pub command: Vec<String>,
}

impl ShortForm for RawWorkloadGroup {
    const EXPECTING: &'static str = "`true` or a mapping with `probe`";
    fn from_bool(b: bool) -> Result<Self, String> {
        if b { Ok(RawWorkloadGroup::default()) } else { Err("use `true` or leave the field out".into()) }
    }
    fn short_schema() -> Schema {
        json_schema!({ "const": true })
    }
}

/// exportTo: a list, or the word `consumers` (only the namespaces that depend on it).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "ExportTo")]
pub struct RawExportTo {
    /// Namespaces (`.`, `*`, `~` or names).
    pub namespaces: Vec<String>,
}

impl ShortForm for RawExportTo {
    const EXPECTING: &'static str = "a list of namespaces or `consumers`";
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(RawExportTo { namespaces: vec![s.to_string()] })
    }
    fn from_seq(items: Vec<String>) -> Result<Self, String> {
        Ok(RawExportTo { namespaces: items })
    }
    fn short_schema() -> Schema {
        json_schema!({
            "anyOf": [
                { "type": "string", "examples": ["consumers", "."] },
                { "type": "array", "items": { "type": "string" }, "examples": [[".", "istio-system"]] }
            ]
        })
    }
}

// What few rules write is boxed: a rule was 992 bytes, moved several times while it is
// read, and the model keeps those parts boxed anyway. (A doc comment here is the schema's
// description.)
/// A routing rule of a service.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "Route")]
pub struct RawRoute {
    /// Name of the rule (shown in Envoy stats).
    #[schemars(extend("examples" = ["canary"]))]
    pub name: Option<String>,
    /// Conditions (any of them); none means "everything else".
    #[serde(rename = "match")]
    pub matches: Option<Vec<HttpMatch>>,
    /// Weighted split across subsets: subset name to weight.
    #[schemars(extend("examples" = [{"v1": 90, "v2": 10}]))]
    pub split: Option<BTreeMap<String, u32>>,
    /// Send everything to one subset.
    #[schemars(extend("examples" = ["v2"]))]
    pub subset: Option<String>,
    /// Request timeout for this rule.
    #[schemars(extend("examples" = ["5s"]))]
    pub timeout: Option<String>,
    /// Retry policy for this rule.
    pub retries: Option<Box<Retries>>,
    /// Fault injection for this rule.
    pub fault: Option<Box<Fault>>,
    /// Mirror a share of the traffic to a subset or another host.
    pub mirror: Option<Box<RawMirror>>,
    /// Rewrite the URI or authority.
    pub rewrite: Option<Box<Rewrite>>,
    /// Weighted destinations on this host or others (instead of `subset` and `split`).
    pub to: Option<Vec<RawDestination>>,
    /// Header changes of the rule's requests and responses.
    pub headers: Option<Box<Headers>>,
    /// CORS policy.
    pub cors_policy: Option<Box<CorsPolicy>>,
    /// Answer with a redirect instead of routing.
    pub redirect: Option<Box<Redirect>>,
    /// Answer directly instead of routing.
    pub direct_response: Option<Box<DirectResponse>>,
}

/// One destination of a route: the entity's own host, another inventory entity (by name)
/// or any host.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "Destination")]
pub struct RawDestination {
    /// A service or external API of the inventory, whose host receives the traffic.
    #[schemars(extend("examples" = ["catalog"]))]
    pub service: Option<String>,
    /// Any host (one the inventory does not declare).
    #[schemars(extend("examples" = ["legacy.example.com"]))]
    pub host: Option<String>,
    /// Subset of the destination host.
    pub subset: Option<String>,
    /// Port of the destination host.
    pub port: Option<u32>,
    /// Relative weight.
    #[schemars(extend("examples" = [90]))]
    pub weight: Option<u32>,
    /// Header changes for this destination.
    pub headers: Option<Headers>,
}

/// Mirroring of a route.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "Mirror")]
pub struct RawMirror {
    /// A service or external API of the inventory that receives the copies.
    pub service: Option<String>,
    /// Any host that receives the copies.
    pub host: Option<String>,
    /// Port of the mirror host.
    pub port: Option<u32>,
    /// Subset that receives the copies.
    pub subset: Option<String>,
    /// Share of requests mirrored, 0–100 (default 100).
    #[schemars(extend("examples" = [10]))]
    pub percentage: Option<f64>,
}

/// Istio's HTTPRewrite.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Rewrite {
    /// Replaces the path (or the matched prefix).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Replaces the Host/Authority header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
    /// Rewrites the path by a regular expression (instead of `uri`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri_regex_rewrite: Option<RegexRewrite>,
}

/// Istio's StringMatch: exactly one of exact, prefix, regex.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StringMatch {
    /// Exact match.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("examples" = ["/healthz"]))]
    pub exact: Option<String>,
    /// Prefix match.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("examples" = ["/api/"]))]
    pub prefix: Option<String>,
    /// RE2 regular expression.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("examples" = ["^/v[0-9]+/"]))]
    pub regex: Option<String>,
}

/// A string-keyed map of a few entries (a port map, a route's header and query matches), read
/// and written as a mapping, kept as a vector sorted by key. A `BTreeMap` node has room for
/// eleven entries whatever the map holds: over a kilobyte for the one header a route usually
/// matches, and most of one for a service's one port (eleven 24-byte names and 56-byte
/// raw ports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmallMap<V>(Vec<(String, V)>);

impl<V> SmallMap<V> {
    /// The entries, in key order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&String, &V)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    /// How many entries it has.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it has none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a, V> IntoIterator for &'a SmallMap<V> {
    type Item = (&'a String, &'a V);
    type IntoIter = std::iter::Map<std::slice::Iter<'a, (String, V)>, fn(&'a (String, V)) -> Self::Item>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl<V: Serialize> Serialize for SmallMap<V> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<V: JsonSchema> JsonSchema for SmallMap<V> {
    fn schema_name() -> Cow<'static, str> {
        format!("MapOf{}", V::schema_name()).into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        // What a `BTreeMap` accepts, which it reads as.
        generator.subschema_for::<BTreeMap<String, V>>()
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for SmallMap<V> {
    /// Reads a mapping as a `BTreeMap` does (the same requests of the reader, the same
    /// errors, the same answer to a repeated key: its last value), straight into the vector.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<SmallMap<V>, D::Error> {
        struct Entries<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for Entries<V> {
            type Value = SmallMap<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // serde's words for a `BTreeMap`, as messages have always said.
                f.write_str("a map")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SmallMap<V>, A::Error> {
                let mut entries: Vec<(String, V)> = Vec::with_capacity(map.size_hint().unwrap_or(1).min(16));
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                // Reversed, a stable sort puts the last of equal keys first, which `dedup_by`
                // keeps: a `BTreeMap` keeps the last value written.
                entries.reverse();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                entries.dedup_by(|later, kept| later.0 == kept.0);
                Ok(SmallMap(entries))
            }
        }
        d.deserialize_map(Entries(PhantomData))
    }
}

/// Istio's HTTPMatchRequest (the fields that concern services in an inventory).
// The fields few matches write are boxed: routes keep their matches, and a match was 504
// bytes (312 now). Not a doc comment: the schema would show it to users.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpMatch {
    /// Name of the match, prefixed to the route's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// URI match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<StringMatch>,
    /// URI scheme match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheme: Option<Box<StringMatch>>,
    /// HTTP method match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<Box<StringMatch>>,
    /// Authority match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authority: Option<Box<StringMatch>>,
    /// Header matches (lowercase names).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<SmallMap<StringMatch>>,
    /// Header absence matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub without_headers: Option<Box<SmallMap<StringMatch>>>,
    /// Query parameter matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query_params: Option<Box<SmallMap<StringMatch>>>,
    /// Case-insensitive URI matching.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignore_uri_case: Option<bool>,
    /// Port the request arrived on.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("examples" = [8080]))]
    pub port: Option<u32>,
    /// Labels of the calling workload.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_labels: Option<Box<Labels>>,
    /// Namespace of the calling workload.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("examples" = ["shop"]))]
    pub source_namespace: Option<String>,
    /// TLS and TCP rules only: SNI names (TLS ports).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sni_hosts: Option<Box<Vec<String>>>,
    /// TLS and TCP rules only: destination IPs or CIDRs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_subnets: Option<Box<Vec<String>>>,
}

/// An external API: hosts outside the mesh (or inside it, without sidecars).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "External")]
#[schemars(transform = crate::schema::with_enabled)]
pub struct RawExternal {
    /// Kubernetes namespace of the generated objects.
    #[schemars(extend("examples" = ["shop"]))]
    pub namespace: Option<String>,
    /// Hosts (wildcards such as `*.example.com` allowed).
    #[schemars(extend("examples" = [["api.payments.example.com"], ["*.example.com"]]))]
    pub hosts: Option<Vec<String>>,
    /// Ports by name.
    pub ports: Option<SmallMap<ShortOr<RawPort>>>,
    /// NONE, STATIC, DNS, DNS_ROUND_ROBIN or DYNAMIC_DNS (derived when absent).
    #[schemars(extend("examples" = ["DNS", "STATIC", "NONE"]))]
    pub resolution: Option<String>,
    /// MESH_EXTERNAL (default) or MESH_INTERNAL.
    #[schemars(extend("examples" = ["MESH_EXTERNAL", "MESH_INTERNAL"]))]
    pub location: Option<String>,
    /// Virtual IPs or CIDRs.
    #[schemars(extend("examples" = [["203.0.113.0/24"]]))]
    pub addresses: Option<Vec<String>>,
    /// Explicit endpoints (IPs, DNS names or `unix://` sockets).
    pub endpoints: Option<Vec<RawEndpoint>>,
    /// TLS origination: `originate`, or a mapping.
    pub tls: Option<ShortOr<RawTls>>,
    /// Route through the egress gateway: `gateway`, or a mapping.
    pub egress: Option<ShortOr<RawEgress>>,
    /// SANs to verify on the server certificate.
    #[schemars(extend("examples" = [["api.payments.example.com"]]))]
    pub subject_alt_names: Option<Vec<String>>,
    /// Visibility: a list of namespaces or `consumers`.
    pub export_to: Option<ShortOr<RawExportTo>>,
    /// Traffic policy, merged over the project defaults.
    pub traffic: Option<Traffic>,
    /// Routing rules of the API's hosts, in order.
    pub routes: Option<Vec<RawRoute>>,
    /// Findings to suppress for this entity, each with a reason.
    pub ignore: Option<Vec<RawIgnore>>,
    /// Changes to the generated objects, applied after rendering.
    pub patches: Option<Vec<super::patch::RawPatch>>,
    /// Names of its objects named after it, by kind (`{DestinationRule: reviews-dr}`), to
    /// adopt objects that exist under other names.
    pub names: Option<BTreeMap<String, String>>,
}

/// One endpoint of an external API.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "Endpoint")]
pub struct RawEndpoint {
    /// IP, DNS name or `unix:///path`.
    #[schemars(extend("examples" = ["203.0.113.10", "unix:///var/run/app.sock"]))]
    pub address: String,
    /// Per-port overrides: port name to number.
    pub ports: Option<BTreeMap<String, u32>>,
    /// Endpoint labels.
    pub labels: Option<Labels>,
    /// `region/zone/subzone`.
    #[schemars(extend("examples" = ["eu-west1/eu-west1-a"]))]
    pub locality: Option<String>,
    /// Network of the endpoint.
    pub network: Option<String>,
    /// Load-balancing weight.
    pub weight: Option<u32>,
    /// Service account of the endpoint's sidecar (a `MESH_INTERNAL` API whose endpoints run
    /// one).
    pub service_account: Option<String>,
}

/// Client TLS (Istio's ClientTLSSettings) towards an entity, one of its ports or a subset:
/// a mode word, `originate` (external APIs: `SIMPLE` origination), or a mapping.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "Tls")]
pub struct RawTls {
    /// DISABLE, SIMPLE (default), MUTUAL or ISTIO_MUTUAL.
    #[schemars(extend("examples" = ["SIMPLE", "MUTUAL", "ISTIO_MUTUAL", "DISABLE"]))]
    pub mode: Option<String>,
    /// External APIs: the TLS port on the remote side that plain HTTP ports are sent to
    /// (default 443).
    pub port: Option<u32>,
    /// SNI to present (default: the host).
    #[schemars(extend("examples" = ["api.payments.example.com"]))]
    pub sni: Option<String>,
    /// CA bundle path on the proxy.
    pub ca_certificates: Option<String>,
    /// Certificate revocation list path on the proxy.
    pub ca_crl: Option<String>,
    /// Client certificate path (MUTUAL).
    pub client_certificate: Option<String>,
    /// Client key path (MUTUAL).
    pub private_key: Option<String>,
    /// Kubernetes secret with the client certificate (instead of paths).
    #[schemars(extend("examples" = ["partner-client-cert"]))]
    pub credential_name: Option<String>,
    /// SANs to verify (default: the entity's subjectAltNames).
    pub subject_alt_names: Option<Vec<String>>,
    /// Skip server certificate verification (discouraged).
    pub insecure_skip_verify: Option<bool>,
}

/// The short forms of [`RawTls`]: `originate` and the TLS modes.
const TLS_WORDS: [&str; 5] = ["originate", "DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"];

impl ShortForm for RawTls {
    const EXPECTING: &'static str =
        "`originate`, a TLS mode (`DISABLE`, `SIMPLE`, `MUTUAL`, `ISTIO_MUTUAL`) or a mapping";
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "originate" => Ok(RawTls::default()),
            "DISABLE" | "SIMPLE" | "MUTUAL" | "ISTIO_MUTUAL" => {
                Ok(RawTls { mode: Some(s.to_string()), ..RawTls::default() })
            }
            other => Err(format!(
                "unknown TLS setting `{other}`, expected `originate`, `DISABLE`, `SIMPLE`, `MUTUAL`, `ISTIO_MUTUAL` or a mapping"
            )),
        }
    }
    fn short_schema() -> Schema {
        json_schema!({ "enum": TLS_WORDS })
    }
}

/// A subset as written: its labels (`v2: {version: v2}`), or, when it has a policy of its
/// own, `{labels: {...}, traffic: {...}, tls: ...}`. The long form is recognised by a
/// `labels` key holding a mapping (label values are strings, so no label set has one).
#[derive(Debug, Clone, Default)]
pub struct RawSubset {
    /// Labels that select the subset's endpoints.
    pub labels: Labels,
    /// DestinationRule-side traffic policy of the subset, merged over the service's.
    pub traffic: Option<Traffic>,
    /// Client TLS towards the subset, replacing the service's.
    pub tls: Option<ShortOr<RawTls>>,
}

impl JsonSchema for RawSubset {
    fn schema_name() -> Cow<'static, str> {
        "Subset".into()
    }

    /// The two forms `deserialize` tells apart: labels (whose `tls`, if any, is not a TLS
    /// setting), or the long form with `labels`.
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "anyOf": [
                {
                    "type": "object",
                    "description": "The labels that select the subset's endpoints.",
                    "additionalProperties": { "type": "string" },
                    "properties": { "tls": { "type": "string", "not": { "enum": TLS_WORDS } } },
                    "examples": [{ "version": "v2" }]
                },
                {
                    "type": "object",
                    "description": "A subset with a policy of its own.",
                    "additionalProperties": false,
                    "required": ["labels"],
                    "properties": {
                        "labels": generator.subschema_for::<Labels>(),
                        "traffic": generator.subschema_for::<Traffic>(),
                        "tls": generator.subschema_for::<ShortOr<RawTls>>()
                    },
                    "examples": [{ "labels": { "version": "v2" }, "tls": "DISABLE" }]
                }
            ]
        })
    }
}

impl<'de> Deserialize<'de> for RawSubset {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// One value of the subset's mapping: a label value, or a part of the long form.
        enum Entry {
            Label(String),
            Labels(Labels),
            Traffic(Traffic),
            Tls(RawTls),
        }
        /// Reads the value of `key` keeping the deserializer's position tracking: the
        /// long form's parts are read in place, not from a copy.
        struct Seed<'k>(&'k str);
        impl<'de> de::DeserializeSeed<'de> for Seed<'_> {
            type Value = Entry;
            fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Entry, D::Error> {
                d.deserialize_any(self)
            }
        }
        impl<'de> Visitor<'de> for Seed<'_> {
            type Value = Entry;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Entry, E> {
                Ok(Entry::Label(s.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Entry, A::Error> {
                let inner = de::value::MapAccessDeserializer::new(map);
                match self.0 {
                    "labels" => Labels::deserialize(inner).map(Entry::Labels),
                    "traffic" => Traffic::deserialize(inner).map(Entry::Traffic),
                    "tls" => RawTls::deserialize(inner).map(Entry::Tls),
                    _ => Err(de::Error::invalid_type(de::Unexpected::Map, &"a string (a label value)")),
                }
            }
        }
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawSubset;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a label mapping, or a mapping with `labels` (and `traffic`, `tls`)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawSubset, A::Error> {
                let mut entries: Vec<(String, Entry)> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    let value = map.next_value_seed(Seed(&key))?;
                    entries.push((key, value));
                }
                let long = entries.iter().any(|(_, e)| matches!(e, Entry::Labels(_)));
                let mut out = RawSubset::default();
                if !long {
                    let mut labels = Vec::with_capacity(entries.len());
                    for (k, e) in entries {
                        match e {
                            // A TLS setting where the long form takes one: `tls` was meant
                            // as the subset's TLS, not as a label.
                            Entry::Label(v) if k != "tls" || RawTls::from_str(&v).is_err() => labels.push((k, v)),
                            _ => {
                                return Err(de::Error::custom(format!(
                                    "`{k}` needs `labels` beside it: write `{{labels: {{…}}, {k}: …}}`"
                                )));
                            }
                        }
                    }
                    out.labels = labels.into_iter().collect();
                    return Ok(out);
                }
                for (k, e) in entries {
                    match (k.as_str(), e) {
                        (_, Entry::Labels(l)) => out.labels = l,
                        (_, Entry::Traffic(t)) => out.traffic = Some(t),
                        (_, Entry::Tls(t)) => out.tls = Some(ShortOr(t)),
                        ("tls", Entry::Label(s)) => {
                            out.tls = Some(ShortOr(RawTls::from_str(&s).map_err(de::Error::custom)?))
                        }
                        (other, _) => {
                            return Err(de::Error::unknown_field(other, &["labels", "traffic", "tls"]));
                        }
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }
}

/// Routing through the egress gateway.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "Egress")]
pub struct RawEgress {
    /// For wildcard hosts: the concrete host the gateway forwards to.
    #[schemars(extend("examples" = ["api.example.com"]))]
    pub destination: Option<String>,
    /// exportTo of the API's VirtualService, when it differs from the API's own.
    pub export_to: Option<ShortOr<RawExportTo>>,
    /// Mutual TLS between the sidecars and the gateway (default: `istio.egressGateway.mtls`).
    pub mtls: Option<bool>,
}

impl ShortForm for RawEgress {
    const EXPECTING: &'static str = "`gateway` or a mapping";
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "gateway" => Ok(RawEgress::default()),
            other => Err(format!("unknown egress mode `{other}`, expected `gateway`")),
        }
    }
    fn short_schema() -> Schema {
        json_schema!({ "const": "gateway" })
    }
}

/// A type with a short form in YAML (a scalar or a list) besides its full mapping form.
pub trait ShortForm: Sized + for<'de> Deserialize<'de> {
    /// What the short and long forms look like, for error messages.
    const EXPECTING: &'static str;
    /// From a string.
    fn from_str(_s: &str) -> Result<Self, String> {
        Err(format!("expected {}", Self::EXPECTING))
    }
    /// From an unsigned integer.
    fn from_u64(_n: u64) -> Result<Self, String> {
        Err(format!("expected {}", Self::EXPECTING))
    }
    /// From a boolean.
    fn from_bool(_b: bool) -> Result<Self, String> {
        Err(format!("expected {}", Self::EXPECTING))
    }
    /// From a list of strings.
    fn from_seq(_items: Vec<String>) -> Result<Self, String> {
        Err(format!("expected {}", Self::EXPECTING))
    }
    /// The JSON Schema of the short forms the `from_*` functions accept (`meshgen schema`):
    /// every short form needs one, so that the schema accepts what the loader accepts.
    fn short_schema() -> Schema;
}

/// Wraps a [`ShortForm`] type so that it deserialises from either form; positions and
/// unknown-field checks of the long form are kept because the map is handed on unchanged.
#[derive(Debug, Clone)]
pub struct ShortOr<T>(pub T);

impl<T: ShortForm + JsonSchema> JsonSchema for ShortOr<T> {
    fn schema_name() -> Cow<'static, str> {
        format!("{}OrShortForm", T::schema_name()).into()
    }

    fn inline_schema() -> bool {
        // Each field says in its own description what the short form means there.
        true
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({ "anyOf": [T::short_schema(), generator.subschema_for::<T>()] })
    }
}

impl<'de, T: ShortForm> Deserialize<'de> for ShortOr<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: ShortForm> Visitor<'de> for V<T> {
            type Value = ShortOr<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(T::EXPECTING)
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                T::from_str(s).map(ShortOr).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Self::Value, E> {
                T::from_u64(n).map(ShortOr).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Self::Value, E> {
                match u64::try_from(n) {
                    Ok(n) => self.visit_u64(n),
                    Err(_) => Err(E::custom(format!("{n} is negative, expected {}", T::EXPECTING))),
                }
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<Self::Value, E> {
                T::from_bool(b).map(ShortOr).map_err(E::custom)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                // Any items, so that a list where none is taken (`http: [80]`) is refused as a
                // whole, with what the field takes, rather than at its first item.
                let mut items = Vec::new();
                let mut strings = true;
                while let Some(v) = seq.next_element::<crate::yaml::Value>()? {
                    match v {
                        crate::yaml::Value::String(s) => items.push(s),
                        _ => strings = false,
                    }
                }
                if !strings {
                    return Err(de::Error::custom(format!("expected {}", T::EXPECTING)));
                }
                T::from_seq(items).map(ShortOr).map_err(de::Error::custom)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(ShortOr)
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `SmallMap` reads what a `BTreeMap` reads, as it reads it: in key order, the last of
    /// a repeated key winning, with the same error for what is not a mapping.
    #[test]
    fn small_map_reads_as_a_btree_map_does() {
        let read = |text: &str| {
            let small = serde_json::from_str::<SmallMap<u32>>(text).map_err(|e| e.to_string());
            let tree = serde_json::from_str::<BTreeMap<String, u32>>(text).map_err(|e| e.to_string());
            (
                small.map(|m| m.iter().map(|(k, v)| (k.clone(), *v)).collect::<Vec<_>>()),
                tree.map(|t| t.into_iter().collect()),
            )
        };
        for text in [r#"{"b": 1, "a": 2, "b": 3, "c": 4, "a": 5}"#, "{}", "[1]", "7", r#"{"a": "x"}"#] {
            let (small, tree) = read(text);
            assert_eq!(small, tree, "{text}");
        }
        let (small, _) = read(r#"{"http": 8080, "grpc": 9090, "http": 80}"#);
        assert_eq!(small, Ok(vec![("grpc".to_string(), 9090), ("http".to_string(), 80)]));
        // Through the YAML reader too, a port map keeps its key order.
        let doc: RawService = crate::yaml::from_str("ports: {web: 80, api: 8080}").unwrap();
        let names: Vec<&String> = doc.ports.iter().flat_map(|p| p.iter().map(|(k, _)| k)).collect();
        assert_eq!(names, ["api", "web"]);
    }
}
