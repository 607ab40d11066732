//! The project file, `meshgen.yaml`: where the inventory lives, where output goes, which
//! Istio API version to emit, and the defaults every entity inherits.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use super::raw::{Labels, RawExportTo, ShortOr};
use super::traffic::Traffic;
use super::validate::{Checker, shown};
use super::{ExportTo, from_value};
use crate::diag::{Diagnostics, Origin};
use crate::load::{Limits, Source};

/// How generated objects are spread over files in the output directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// One file per object: `<namespace>/<kind>-<name>.yaml`.
    #[default]
    Object,
    /// One file per inventory entity: `<namespace>/<entity>.yaml`.
    Service,
    /// One file per namespace: `<namespace>.yaml`.
    Namespace,
}

/// The networking API version of the generated objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ApiVersion {
    /// `networking.istio.io/v1` (Istio 1.22 and later).
    #[default]
    V1,
    /// `networking.istio.io/v1beta1` (older Istio releases).
    V1beta1,
}

impl ApiVersion {
    /// The full `apiVersion` string.
    pub fn networking(self) -> &'static str {
        match self {
            ApiVersion::V1 => "networking.istio.io/v1",
            ApiVersion::V1beta1 => "networking.istio.io/v1beta1",
        }
    }

    /// The `apiVersion` of security.istio.io objects (AuthorizationPolicy) of the same
    /// generation: v1 from Istio 1.22, v1beta1 before.
    pub fn security(self) -> &'static str {
        match self {
            ApiVersion::V1 => "security.istio.io/v1",
            ApiVersion::V1beta1 => "security.istio.io/v1beta1",
        }
    }
}

/// Where the egress gateway is, for externals routed through it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressGateway {
    /// Labels that select the gateway's pods.
    pub selector: Labels,
    /// The gateway's Kubernetes service host.
    pub host: String,
    /// The gateway's namespace (from its host, `<service>.<namespace>.svc…`).
    pub namespace: String,
}

/// Settings every entity inherits unless it sets its own.
#[derive(Debug, Clone, Default)]
pub struct Defaults {
    /// Namespace of entities that name none.
    pub namespace: String,
    /// exportTo of entities that set none.
    pub export_to: Option<ExportTo>,
    /// Whether VMs run a sidecar.
    pub sidecar: bool,
    /// Traffic policy under every entity's own.
    pub traffic: Traffic,
}

/// Where policy from the graph is generated (`policy.namespaces`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum PolicyScope {
    /// Nowhere (the default: policy is opt-in).
    #[default]
    Nowhere,
    /// Every namespace of the inventory (`namespaces: "*"`).
    Everywhere,
    /// The listed namespaces.
    Namespaces(std::collections::BTreeSet<String>),
}

/// Policy that follows from the dependency graph, opt-in per namespace: Sidecar egress
/// scoping, ALLOW-list AuthorizationPolicies and exportTo minimisation.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Where it applies.
    pub scope: PolicyScope,
    /// Emit a Sidecar per consumer workload that declares its dependencies.
    pub sidecar: bool,
    /// `outboundTrafficPolicy.mode` of those Sidecars (`REGISTRY_ONLY` or `ALLOW_ANY`).
    pub outbound_traffic_policy: Option<&'static str>,
    /// Emit an ALLOW AuthorizationPolicy per service.
    pub authorization: bool,
    /// Entities without their own exportTo are exported to their consumers only.
    pub minimal_export: bool,
    /// The control plane's namespace, which every Sidecar imports.
    pub control_plane: String,
}

impl Policy {
    /// Whether policy is generated in namespace `ns`.
    pub fn applies(&self, ns: &str) -> bool {
        match &self.scope {
            PolicyScope::Nowhere => false,
            PolicyScope::Everywhere => true,
            PolicyScope::Namespaces(set) => set.contains(ns),
        }
    }

    /// Whether `svc` gets a Sidecar: policy scopes its namespace, it says everything it
    /// calls (`dependsOn`, even empty), and some workload of it runs a proxy.
    pub fn sidecar_for(&self, svc: &super::Service) -> bool {
        self.sidecar && self.applies(&svc.namespace) && svc.declares_dependencies && svc.has_proxy()
    }

    /// Whether `svc` gets an ALLOW-list AuthorizationPolicy: policy covers its namespace and
    /// some workload of it runs a proxy to enforce it.
    pub fn authorization_for(&self, svc: &super::Service) -> bool {
        self.authorization && self.applies(&svc.namespace) && svc.has_proxy()
    }

    /// Whether entities in `ns` are exported to their consumers only (unless they say otherwise).
    pub fn minimal_export_in(&self, ns: &str) -> bool {
        self.minimal_export && self.applies(ns)
    }
}

/// The parsed, validated project file.
#[derive(Debug, Clone)]
pub struct Project {
    /// The directory holding the project file; relative paths start here.
    pub root: PathBuf,
    /// The project file's display name.
    pub file: Arc<str>,
    /// Inventory directories.
    pub inventory: Vec<PathBuf>,
    /// Output directory.
    pub output: PathBuf,
    /// Directory of templates that override the built-in ones.
    pub templates: Option<PathBuf>,
    /// File layout of the output.
    pub layout: Layout,
    /// Networking API version.
    pub api_version: ApiVersion,
    /// SPIFFE trust domain of the mesh.
    pub trust_domain: String,
    /// The egress gateway.
    pub egress_gateway: EgressGateway,
    /// Entity defaults.
    pub defaults: Defaults,
    /// Input limits.
    pub limits: Limits,
    /// Whether an inventory without any entity is intended (otherwise it is an error: an
    /// empty render applied with pruning would delete everything meshgen manages).
    pub allow_empty: bool,
    /// The IPv4 range virtual IPs are allocated from, for TCP services without addresses.
    pub vip_range: Option<(std::net::Ipv4Addr, u8)>,
    /// Policy generated from the graph.
    pub policy: Policy,
}

impl Project {
    /// The exportTo of an entity in `namespace` that sets none: its consumers' namespaces
    /// where policy minimises exportTo, otherwise the project default.
    pub fn default_export_to(&self, namespace: &str) -> Option<ExportTo> {
        if self.policy.minimal_export_in(namespace) {
            Some(ExportTo::Consumers)
        } else {
            self.defaults.export_to.clone()
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawProject {
    inventory: Option<OneOrMany>,
    output: Option<String>,
    templates: Option<String>,
    layout: Option<Layout>,
    istio: Option<RawIstio>,
    defaults: Option<RawDefaults>,
    limits: Option<RawLimits>,
    allow_empty: Option<bool>,
    vip_range: Option<String>,
    policy: Option<RawPolicy>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawPolicy {
    namespaces: OneOrMany,
    sidecar: Option<bool>,
    outbound_traffic_policy: Option<String>,
    authorization: Option<bool>,
    export_to: Option<String>,
    control_plane: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawIstio {
    api_version: Option<String>,
    trust_domain: Option<String>,
    egress_gateway: Option<RawEgressGateway>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawEgressGateway {
    selector: Option<BTreeMap<String, String>>,
    host: Option<String>,
    namespace: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawDefaults {
    namespace: Option<String>,
    export_to: Option<ShortOr<RawExportTo>>,
    sidecar: Option<bool>,
    traffic: Option<Traffic>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawLimits {
    max_file_size: Option<u64>,
}

/// `path` relative to the project root; kept as written when the root is the current
/// directory, so messages say `out`, not `./out`.
fn under(root: &Path, path: &str) -> PathBuf {
    if root == Path::new(".") { PathBuf::from(path) } else { root.join(path) }
}

/// Reads the limits alone, before the inventory is loaded (the full parse comes later).
pub fn limits(source: &Source) -> Limits {
    let mut limits = Limits::default();
    if let Some(n) =
        source.docs.first().and_then(|d| d.get("limits")).and_then(|l| l.get("maxFileSize")).and_then(|n| n.as_u64())
    {
        limits.max_file_size = n;
    }
    limits
}

/// Parses and validates the project file. Problems become diagnostics; the returned project
/// falls back to defaults for the fields in error so later stages can still report theirs.
pub fn parse(source: &Source, diags: &mut Diagnostics) -> Project {
    let root = source.path.parent().map(Path::to_path_buf).unwrap_or_default();
    let root = if root.as_os_str().is_empty() { PathBuf::from(".") } else { root };
    let file = source.name.clone();
    let origin = Origin::new(&file, 0, "");
    let null = serde_yaml::Value::Null;
    let doc = source.docs.first().unwrap_or(&null);
    let raw: Option<RawProject> = if doc.is_null() { Some(empty_project()) } else { from_value(doc, &origin, diags) };
    let raw = raw.unwrap_or_else(empty_project);
    let mut cx = Checker::new(diags);

    let (inventory, listed) = match raw.inventory {
        None => (vec!["inventory".to_string()], false),
        Some(OneOrMany::One(s)) => (vec![s], false),
        Some(OneOrMany::Many(v)) => (v, true),
    };
    // Missing directories are reported here, where the project file gives them a place.
    for (i, dir) in inventory.iter().enumerate() {
        if !under(&root, dir).exists() {
            let at = if listed { origin.child("inventory").index(i) } else { origin.child("inventory") };
            cx.error(
                "invalid-value",
                at,
                format!("inventory directory `{}` does not exist", shown(dir)),
                Some("write the path of the directory holding the inventory files, relative to meshgen.yaml".into()),
            );
        }
    }
    if let Some(t) = &raw.templates
        && !under(&root, t).is_dir()
    {
        cx.error(
            "invalid-value",
            origin.child("templates"),
            format!("templates directory `{}` does not exist", shown(t)),
            Some(format!("create it with `meshgen templates eject --to {t}`, or remove `templates`")),
        );
    }
    let api_version = match raw.istio.as_ref().and_then(|i| i.api_version.as_deref()) {
        None | Some("networking.istio.io/v1" | "v1") => ApiVersion::V1,
        Some("networking.istio.io/v1beta1" | "v1beta1") => ApiVersion::V1beta1,
        Some(other) => {
            cx.error(
                "invalid-value",
                origin.child("istio.apiVersion"),
                format!("unsupported Istio API version `{other}`"),
                Some("use `networking.istio.io/v1` (Istio 1.22+) or `networking.istio.io/v1beta1`".into()),
            );
            ApiVersion::V1
        }
    };
    let trust_domain =
        raw.istio.as_ref().and_then(|i| i.trust_domain.clone()).unwrap_or_else(|| "cluster.local".to_string());
    cx.host(&trust_domain, false, &origin.child("istio.trustDomain"));

    let gw = raw.istio.as_ref().and_then(|i| i.egress_gateway.as_ref());
    let gw_host = gw
        .and_then(|g| g.host.clone())
        .unwrap_or_else(|| "istio-egressgateway.istio-system.svc.cluster.local".to_string());
    // A Kubernetes service host names its namespace second: `<service>.<namespace>.svc…`.
    let gw_namespace = gw
        .and_then(|g| g.namespace.clone())
        .or_else(|| gw_host.split('.').nth(1).map(str::to_string))
        .unwrap_or_else(|| "istio-system".to_string());
    cx.namespace(&gw_namespace, &origin.child("istio.egressGateway.namespace"));
    let egress_gateway = EgressGateway {
        selector: gw
            .and_then(|g| g.selector.clone())
            .unwrap_or_else(|| BTreeMap::from([("istio".to_string(), "egressgateway".to_string())])),
        host: gw_host,
        namespace: gw_namespace,
    };
    cx.labels(&egress_gateway.selector, &origin.child("istio.egressGateway.selector"));
    cx.host(&egress_gateway.host, false, &origin.child("istio.egressGateway.host"));

    let rd = raw.defaults;
    let dorigin = origin.child("defaults");
    let namespace = rd.as_ref().and_then(|d| d.namespace.clone()).unwrap_or_else(|| "default".to_string());
    cx.namespace(&namespace, &dorigin.child("namespace"));
    let export_to =
        rd.as_ref().and_then(|d| d.export_to.as_ref()).and_then(|e| cx.export_to(&e.0, &dorigin.child("exportTo")));
    let traffic = rd.as_ref().and_then(|d| d.traffic.clone()).unwrap_or_default();
    cx.traffic(&traffic, &dorigin.child("traffic"), false);
    let defaults =
        Defaults { namespace, export_to, sidecar: rd.as_ref().and_then(|d| d.sidecar).unwrap_or(true), traffic };

    let mut limits = Limits::default();
    if let Some(n) = raw.limits.and_then(|l| l.max_file_size) {
        limits.max_file_size = n;
    }

    let vip_range = raw.vip_range.as_deref().and_then(|r| {
        let parsed = r.split_once('/').and_then(|(ip, p)| Some((ip.parse().ok()?, p.parse::<u8>().ok()?)));
        match parsed {
            Some((ip, prefix)) if (8..=30).contains(&prefix) => Some((ip, prefix)),
            _ => {
                cx.error(
                    "invalid-value",
                    origin.child("vipRange"),
                    format!("`{}` is not an IPv4 range between /8 and /30", shown(r)),
                    Some("e.g. `vipRange: 240.240.0.0/16` (a range no real address uses)".into()),
                );
                None
            }
        }
    });

    let policy = raw.policy.map(|p| policy(&mut cx, p, &origin.child("policy"))).unwrap_or_default();

    Project {
        inventory: inventory.iter().map(|p| under(&root, p)).collect(),
        output: under(&root, raw.output.as_deref().unwrap_or("out")),
        templates: raw.templates.map(|t| under(&root, &t)),
        layout: raw.layout.unwrap_or_default(),
        api_version,
        trust_domain,
        egress_gateway,
        defaults,
        limits,
        allow_empty: raw.allow_empty.unwrap_or(false),
        vip_range,
        policy,
        root,
        file,
    }
}

/// The `policy` section: where, and which parts.
fn policy(cx: &mut Checker<'_>, raw: RawPolicy, origin: &Origin) -> Policy {
    let scope = match raw.namespaces {
        OneOrMany::One(s) if s == "*" => PolicyScope::Everywhere,
        OneOrMany::One(ns) => {
            cx.namespace(&ns, &origin.child("namespaces"));
            PolicyScope::Namespaces([ns].into())
        }
        OneOrMany::Many(list) => {
            for (i, ns) in list.iter().enumerate() {
                cx.namespace(ns, &origin.child("namespaces").index(i));
            }
            PolicyScope::Namespaces(list.into_iter().collect())
        }
    };
    let outbound_traffic_policy = raw.outbound_traffic_policy.as_deref().and_then(|m| match m {
        "REGISTRY_ONLY" => Some("REGISTRY_ONLY"),
        "ALLOW_ANY" => Some("ALLOW_ANY"),
        other => {
            cx.error(
                "invalid-value",
                origin.child("outboundTrafficPolicy"),
                format!("`{}` is not an outbound traffic policy a Sidecar accepts", shown(other)),
                Some("use `REGISTRY_ONLY` (only hosts in the registry) or `ALLOW_ANY`".into()),
            );
            None
        }
    });
    let minimal_export = match raw.export_to.as_deref() {
        None => false,
        Some("consumers") => true,
        Some(other) => {
            cx.error(
                "invalid-value",
                origin.child("exportTo"),
                format!("`{}` is not a policy exportTo", shown(other)),
                Some("`exportTo: consumers` exports each entity to its consumers' namespaces only; leave it out to keep exportTo as written".into()),
            );
            false
        }
    };
    let control_plane = raw.control_plane.unwrap_or_else(|| "istio-system".to_string());
    cx.namespace(&control_plane, &origin.child("controlPlane"));
    Policy {
        scope,
        sidecar: raw.sidecar.unwrap_or(true),
        outbound_traffic_policy,
        authorization: raw.authorization.unwrap_or(true),
        minimal_export,
        control_plane,
    }
}

fn empty_project() -> RawProject {
    RawProject {
        inventory: None,
        output: None,
        templates: None,
        layout: None,
        istio: None,
        defaults: None,
        limits: None,
        allow_empty: None,
        vip_range: None,
        policy: None,
    }
}
