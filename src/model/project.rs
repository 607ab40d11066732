//! The project file, `meshgen.yaml`: where the inventory lives, where output goes, which
//! Istio API version to emit, and the defaults every entity inherits.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;

use super::overlay::{Trace, merge};
use super::raw::{Labels, RawExportTo, ShortOr};
use super::traffic::Traffic;
use super::validate::{Checker, shown};
use super::{ExportTo, from_value};
use crate::diag::suggest::hint;
use crate::diag::{Diagnostics, Origin};
use crate::load::{Limits, Source};
use crate::schema::Partial;

/// How generated objects are spread over files in the output directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
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
    /// One Gateway for every API routed through the gateway, instead of one per API.
    pub shared: Option<super::egress::SharedGateway>,
    /// Mutual TLS between sidecars and the gateway for the APIs that do not say.
    pub mtls: bool,
    /// `istio.egressGateway` in the project file: the source of the objects it makes.
    pub origin: Origin,
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
    /// Directory or file of the cluster's Istio CRDs (`istio.crds`), against which every patched
    /// object is validated (`--crds` overrides it).
    pub crds: Option<PathBuf>,
    /// The egress gateway.
    pub egress_gateway: EgressGateway,
    /// The ingress gateway, which serves services' `ingress` hosts.
    pub ingress_gateway: super::ingress::IngressGateway,
    /// Entity defaults.
    pub defaults: Defaults,
    /// Input limits.
    pub limits: Limits,
    /// Whether an inventory without any entity is intended (otherwise it is an error: an
    /// empty render applied with pruning would delete everything meshgen manages).
    pub allow_empty: bool,
    /// The IPv4 range virtual IPs are allocated from, for TCP services without addresses.
    pub vip_range: Option<(std::net::Ipv4Addr, u8)>,
    /// `project`: the label `meshgen.dev/project` on every object.
    pub name: Option<String>,
    /// `applySet`: the ID every object is labelled `applyset.kubernetes.io/part-of` with,
    /// and its parent (`secret/<name>` in its namespace).
    pub apply_set: Option<ApplySet>,
    /// `diff.ignore`: paths every `meshgen diff` leaves out of the comparison.
    pub diff_ignore: Vec<crate::fieldpath::IgnorePath>,
    /// Policy generated from the graph.
    pub policy: Policy,
    /// The environment built (`--env`), if any.
    pub environment: Option<String>,
    /// The cluster built (`--cluster`), if any.
    pub cluster: Option<String>,
    /// The overlay directories of the environment and cluster, in the order they apply.
    pub overlays: Vec<OverlayDir>,
    /// Every directory some environment or cluster names (inventory or overlays): never
    /// read as inventory unless the selected environment or cluster lists it.
    pub layer_dirs: Vec<PathBuf>,
    /// Extra labels on every generated object (`--label`).
    pub labels: BTreeMap<String, String>,
    /// Where the settings merged in from `environments`/`clusters` are written, so that
    /// their errors point there.
    pub trace: Trace,
}

/// A Kubernetes ApplySet (KEP-3659) whose parent is a Secret: `kubectl apply --prune
/// --applyset=secret/<name> -n <namespace>` creates the parent and owns it (its `tooling`
/// annotation names kubectl, which refuses a parent another tool wrote), so meshgen only
/// labels the members with the ID kubectl derives for that parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplySet {
    /// The parent Secret's name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// `applyset-<base64url(sha256("<name>.<namespace>.Secret."))>-v1`.
    pub id: String,
}

impl ApplySet {
    /// The ApplySet of parent `secret/<name>` in `namespace`, with the KEP's ID: the
    /// unpadded URL-safe base64 of the SHA-256 of `<name>.<namespace>.<kind>.<group>` (a
    /// Secret is of the core group, ``), between `applyset-` and `-v1`.
    pub fn new(name: String, namespace: String) -> ApplySet {
        use base64::Engine as _;
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(format!("{name}.{namespace}.Secret.").as_bytes());
        let id = format!("applyset-{}-v1", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest));
        ApplySet { name, namespace, id }
    }
}

/// The environment and cluster to build (`--env`, `--cluster`); none for the base inventory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// An entry of `environments`.
    pub environment: Option<String>,
    /// An entry of `clusters`.
    pub cluster: Option<String>,
}

/// One overlay directory (or file) of the selected environment or cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverlayDir {
    /// What it belongs to, for messages: "environment `prod`".
    pub label: Arc<str>,
    /// The directory or file.
    pub path: PathBuf,
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

/// The project file, `meshgen.yaml`: where the inventory is, where the output goes, and
/// what every entity inherits. Every field is optional; paths are relative to this file.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "Project")]
pub(crate) struct RawProject {
    /// The project's name (a DNS-1123 label), written as the label `meshgen.dev/project` on
    /// every object, so that `meshgen diff --cluster` prunes only this project's objects
    /// when several projects share a cluster.
    #[schemars(extend("examples" = ["shop-mesh"]))]
    project: Option<String>,
    /// Also label every object as part of a Kubernetes ApplySet (KEP-3659) whose parent is a
    /// Secret of this name and namespace, so that `kubectl apply --prune --applyset` prunes
    /// exactly this project's objects.
    apply_set: Option<RawApplySet>,
    /// Settings of `meshgen diff`.
    diff: Option<RawDiff>,
    /// The inventory: a directory or file, or a list of them (default `inventory`).
    #[schemars(extend("examples" = ["inventory", ["inventory", "shared/inventory"]]))]
    inventory: Option<OneOrMany>,
    /// Output directory of `meshgen build` (default `out`; `--out-dir` overrides it).
    #[schemars(extend("examples" = ["out"]))]
    output: Option<String>,
    /// Directory of templates overriding the built-in ones; `meshgen templates eject --to
    /// DIR` fills it.
    #[schemars(extend("examples" = ["templates"]))]
    templates: Option<String>,
    /// How the objects are spread over the output directory's files (default `object`).
    layout: Option<Layout>,
    /// The Istio installation the output is for: API version, trust domain, gateways.
    istio: Option<RawIstio>,
    /// Settings every entity inherits unless it sets its own.
    defaults: Option<RawDefaults>,
    /// Input limits.
    limits: Option<RawLimits>,
    /// `true` when an inventory without any entity is intended (otherwise an error: an empty
    /// render applied with pruning would delete everything meshgen manages).
    #[schemars(extend("examples" = [true]))]
    allow_empty: Option<bool>,
    /// An IPv4 range from which every TCP service or external API without `addresses` gets a
    /// stable virtual IP, recorded in the output's `vip-allocations.yaml` (commit it).
    #[schemars(extend("examples" = ["240.240.0.0/16"]))]
    vip_range: Option<String>,
    /// Sidecars, allow-list AuthorizationPolicies and exportTo minimisation generated from
    /// the dependency graph, per namespace (off unless set).
    policy: Option<RawPolicy>,
    /// Environments (staging, prod…) by name, built with `meshgen build --env NAME`: their
    /// overlays, extra inventory and settings over the base inventory.
    environments: Option<BTreeMap<String, RawLayer>>,
    /// Clusters by name, built with `meshgen build --cluster NAME`: layered over their
    /// environment.
    clusters: Option<BTreeMap<String, RawLayer>>,
}

/// `applySet`: the ApplySet's parent Secret (which `kubectl apply --applyset` creates and owns).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "ApplySet")]
struct RawApplySet {
    /// The parent Secret's name.
    #[schemars(extend("examples" = ["meshgen-shop"]))]
    name: String,
    /// The parent Secret's namespace.
    #[schemars(extend("examples" = ["istio-config"]))]
    namespace: String,
}

/// `diff`: settings of `meshgen diff`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "DiffSettings")]
struct RawDiff {
    /// Fields left out of every comparison, as `--ignore` takes them (`spec.exportTo`,
    /// `metadata.annotations["example.com/owner"]`), so CI jobs need not repeat them.
    #[schemars(extend("examples" = [["metadata.annotations[\"example.com/owner\"]"]]))]
    ignore: Option<Vec<String>>,
}

/// An environment or a cluster: what it adds to the base inventory and changes in it.
// The settings merged over the project's (`defaults`, `istio`, `policy`) are kept as YAML:
// they are merged before the project is parsed, and checked there.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "Layer")]
struct RawLayer {
    /// Extra inventory directories (or files): the entities only this environment or cluster
    /// has.
    #[schemars(extend("examples" = [["environments/prod/inventory"]]))]
    inventory: Option<OneOrMany>,
    /// Directories (or files) of overlays that patch entities by name, applied in the order
    /// listed; later ones win.
    #[schemars(extend("examples" = [["environments/prod/overlays"]]))]
    overlays: Option<OneOrMany>,
    /// Output directory of `meshgen build` for it (default: the project's output with
    /// `-<environment>[-<cluster>]` appended).
    #[schemars(extend("examples" = ["out-prod"]))]
    output: Option<String>,
    /// Clusters only: the environment the cluster belongs to.
    #[schemars(extend("examples" = ["prod"]))]
    environment: Option<String>,
    /// Merged over the project's `defaults` (mappings merge, `null` removes).
    #[allow(dead_code)] // read by `parse_selected` from the YAML; declared for the shape check
    #[schemars(with = "Option<Partial<RawDefaults>>")]
    defaults: Option<crate::yaml::Value>,
    /// Merged over the project's `istio` (mappings merge, `null` removes).
    #[allow(dead_code)]
    #[schemars(with = "Option<Partial<RawIstio>>")]
    istio: Option<crate::yaml::Value>,
    /// Merged over the project's `policy` (mappings merge, `null` removes).
    #[allow(dead_code)]
    #[schemars(with = "Option<Partial<RawPolicy>>")]
    policy: Option<crate::yaml::Value>,
}

/// The project-level settings an environment or cluster may merge over the project's.
const LAYER_SETTINGS: [&str; 3] = ["defaults", "istio", "policy"];

/// Policy generated from the dependency graph.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "Policy")]
struct RawPolicy {
    /// The namespaces it applies in: a list, or `"*"` for every namespace of the inventory.
    #[schemars(extend("examples" = [["shop"], "*"]))]
    namespaces: OneOrMany,
    /// Generate a Sidecar per workload that declares its dependencies (default `true`).
    sidecar: Option<bool>,
    /// `outboundTrafficPolicy.mode` of those Sidecars: `REGISTRY_ONLY` or `ALLOW_ANY`
    /// (default: the mesh-wide setting).
    #[schemars(extend("examples" = ["REGISTRY_ONLY", "ALLOW_ANY"]))]
    outbound_traffic_policy: Option<String>,
    /// Generate an allow-list AuthorizationPolicy per service (default `true`).
    authorization: Option<bool>,
    /// `consumers`: entities without their own `exportTo` are exported to the namespaces
    /// that call them only.
    #[schemars(extend("examples" = ["consumers"]))]
    export_to: Option<String>,
    /// The namespace every Sidecar imports whole (default `istio-system`).
    #[schemars(extend("examples" = ["istio-system"]))]
    control_plane: Option<String>,
}

/// One value or a list of them.
#[derive(Deserialize, JsonSchema)]
#[serde(untagged)]
enum OneOrMany {
    /// One.
    One(String),
    /// A list.
    Many(Vec<String>),
}

impl OneOrMany {
    /// The entries, each with its place under `at`.
    fn entries(&self, at: &Origin) -> Vec<(&str, Origin)> {
        match self {
            OneOrMany::One(s) => vec![(s.as_str(), at.clone())],
            OneOrMany::Many(v) => v.iter().enumerate().map(|(i, s)| (s.as_str(), at.index(i))).collect(),
        }
    }
}

/// Reports each listed path that does not exist, where the project file lists it.
fn check_paths(cx: &mut Checker<'_>, root: &Path, listed: &[(&str, Origin)], what: &str, help: &str) {
    for (path, at) in listed {
        if !under(root, path).exists() {
            cx.error(
                "invalid-value",
                at.clone(),
                format!("{what} `{}` does not exist", shown(path)),
                Some(help.to_string()),
            );
        }
    }
}

const INVENTORY_HELP: &str = "write the path of the directory holding the inventory files, relative to meshgen.yaml";

/// The Istio installation the output is for.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "Istio")]
struct RawIstio {
    /// The networking API version of the generated objects: `networking.istio.io/v1`
    /// (default, Istio 1.22 and later) or `networking.istio.io/v1beta1`.
    #[schemars(extend("examples" = ["networking.istio.io/v1", "networking.istio.io/v1beta1"]))]
    api_version: Option<String>,
    /// The mesh's SPIFFE trust domain (default `cluster.local`).
    #[schemars(extend("examples" = ["cluster.local"]))]
    trust_domain: Option<String>,
    /// A directory of the clusters' Istio CRDs, kept outside the repository, against which
    /// every patched object is validated (`--crds` overrides it).
    #[schemars(extend("examples" = ["../istio-crds"]))]
    crds: Option<String>,
    /// The egress gateway, for external APIs with `egress: gateway`.
    egress_gateway: Option<RawEgressGateway>,
    /// The ingress gateway, which serves services' `ingress` hosts.
    ingress_gateway: Option<super::ingress::RawIngressGateway>,
}

/// `istio.egressGateway`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "EgressGateway")]
struct RawEgressGateway {
    /// Labels of the egress gateway's pods (default `{istio: egressgateway}`).
    selector: Option<Labels>,
    /// The gateway's host (default `istio-egressgateway.istio-system.svc.cluster.local`).
    #[schemars(extend("examples" = ["istio-egressgateway.istio-system.svc.cluster.local"]))]
    host: Option<String>,
    /// The gateway's namespace (default: the second label of `host`).
    #[schemars(extend("examples" = ["istio-system"]))]
    namespace: Option<String>,
    /// One Gateway for every API routed through the gateway: `true` or `{name, namespace,
    /// hosts}`; `false` turns off one set elsewhere (default: a Gateway per API).
    shared: Option<ShortOr<super::egress::RawShared>>,
    /// Sidecars reach the gateway with Istio's mutual TLS, for every API that does not say
    /// otherwise (default `false`).
    mtls: Option<bool>,
}

/// Settings every entity inherits unless it sets its own.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "Defaults")]
struct RawDefaults {
    /// Namespace of the entities that set none (default `default`).
    #[schemars(extend("examples" = ["shop"]))]
    namespace: Option<String>,
    /// `exportTo` of the entities that set none (default: unset, visible everywhere).
    export_to: Option<ShortOr<RawExportTo>>,
    /// Whether VMs run an Istio sidecar (default `true`).
    sidecar: Option<bool>,
    /// Traffic policy under every entity's own.
    traffic: Option<Traffic>,
}

/// Input limits.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "Limits")]
struct RawLimits {
    /// Larger inventory files are refused, in bytes (default 33554432, 32 MiB; at most
    /// 4294967295).
    #[schemars(extend("examples" = [1048576]))]
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
        // Over the ceiling, the full parse reports it; meanwhile the ceiling applies.
        limits.max_file_size = n.min(Limits::MAX_FILE_SIZE);
    }
    limits
}

/// Parses and validates the project file for the base inventory. Problems become
/// diagnostics; the returned project falls back to defaults for the fields in error so later
/// stages can still report theirs.
pub fn parse(source: &Source, diags: &mut Diagnostics) -> Project {
    let null = crate::yaml::Value::Null;
    parse_doc(source, source.docs.first().unwrap_or(&null), &[], diags)
}

/// Which section a layer is declared in, and its name.
type LayerRef = (&'static str, String);

/// Parses the project file for an environment and/or cluster: their `defaults`, `istio` and
/// `policy` merged over the project's (environment first, then cluster), their inventory
/// directories added, their overlays listed. An environment or cluster the file does not
/// declare is a usage error (`Err`), listing those it does.
pub fn parse_selected(source: &Source, selection: &Selection, diags: &mut Diagnostics) -> anyhow::Result<Project> {
    let null = crate::yaml::Value::Null;
    let doc = source.docs.first().unwrap_or(&null);
    let layers = resolve(doc, selection)?;
    if layers.is_empty() {
        return Ok(parse_doc(source, doc, &[], diags));
    }
    let mut merged = doc.clone();
    let mut trace = Trace::default();
    let root = Origin::new(&source.name, 0, "");
    for (section, name) in &layers {
        let layer = &doc[*section][name.as_str()];
        let patch: crate::yaml::Map<String, crate::yaml::Value> =
            LAYER_SETTINGS.iter().filter_map(|k| layer.get(*k).map(|v| (k.to_string(), v.clone()))).collect();
        if !patch.is_empty() {
            let patch = crate::yaml::Value::Object(patch);
            merge(&mut merged, &patch);
            trace.add(&root, root.child(section).child(name), patch, layer_label(section, name));
        }
    }
    let mut project = parse_doc(source, &merged, &layers, diags);
    project.trace = trace;
    Ok(project)
}

/// "environment `prod`" or "cluster `eu-1`".
fn layer_label(section: &str, name: &str) -> Arc<str> {
    Arc::from(format!("{} `{name}`", if section == "environments" { "environment" } else { "cluster" }))
}

/// The layers a selection names, checked against the file: the environment (given, or the
/// one the cluster belongs to), then the cluster.
fn resolve(doc: &crate::yaml::Value, selection: &Selection) -> anyhow::Result<Vec<LayerRef>> {
    let lookup = |section: &'static str, what: &str, name: &str| -> anyhow::Result<LayerRef> {
        let known: Vec<&str> =
            doc.get(section).and_then(|m| m.as_object()).into_iter().flatten().map(|(k, _)| k.as_str()).collect();
        if known.contains(&name) {
            return Ok((section, name.to_string()));
        }
        let help = hint(name, &format!("{what}s"), &known).unwrap_or_else(|| {
            format!("meshgen.yaml declares no `{section}` (see {})", crate::diag::docs::ENVIRONMENTS)
        });
        anyhow::bail!("unknown {what} `{name}`: {help}")
    };
    let mut layers = Vec::new();
    let cluster = selection.cluster.as_deref().map(|c| lookup("clusters", "cluster", c)).transpose()?;
    let home = cluster
        .as_ref()
        .and_then(|(_, c)| doc["clusters"][c.as_str()].get("environment"))
        .and_then(|e| e.as_str())
        .map(str::to_string);
    let environment = match (&selection.environment, &home, &cluster) {
        (Some(e), Some(h), Some((_, c))) if e != h => {
            anyhow::bail!(
                "cluster `{c}` belongs to environment `{h}` (meshgen.yaml), not `{e}`: drop `--env` or pick `--env {h}`"
            )
        }
        (Some(e), _, _) => Some(e.clone()),
        (None, h, _) => h.clone(),
    };
    if let Some(e) = environment {
        layers.push(lookup("environments", "environment", &e)?);
    }
    layers.extend(cluster);
    Ok(layers)
}

fn parse_doc(source: &Source, doc: &crate::yaml::Value, layers: &[LayerRef], diags: &mut Diagnostics) -> Project {
    let root = source.path.parent().map(Path::to_path_buf).unwrap_or_default();
    let root = if root.as_os_str().is_empty() { PathBuf::from(".") } else { root };
    let file = source.name.clone();
    let origin = Origin::new(&file, 0, "");
    let raw: Option<RawProject> = if doc.is_null() { Some(empty_project()) } else { from_value(doc, &origin, diags) };
    let raw = raw.unwrap_or_else(empty_project);
    let mut cx = Checker::new(diags);

    let mut inventory: Vec<String> = match &raw.inventory {
        None => vec!["inventory".to_string()],
        Some(list) => {
            // Missing directories are reported here, where the project file gives them a place.
            let entries = list.entries(&origin.child("inventory"));
            check_paths(&mut cx, &root, &entries, "inventory directory", INVENTORY_HELP);
            entries.into_iter().map(|(p, _)| p.to_string()).collect()
        }
    };
    if raw.inventory.is_none() && !root.join("inventory").exists() {
        check_paths(&mut cx, &root, &[("inventory", origin.child("inventory"))], "inventory directory", INVENTORY_HELP);
    }
    let layered = environments(&mut cx, &root, &raw, &origin, layers);
    inventory.extend(layered.inventory);
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
    let crds = raw.istio.as_ref().and_then(|i| i.crds.as_deref()).map(|d| {
        if !under(&root, d).exists() {
            cx.error(
                "invalid-value",
                origin.child("istio.crds"),
                format!("CRD directory or file `{}` does not exist", shown(d)),
                Some("point it at the Istio CRDs of your clusters' release (kept outside the repository), or remove `istio.crds`".into()),
            );
        }
        under(&root, d)
    });

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
    let gw_origin = origin.child("istio.egressGateway");
    let shared = gw.and_then(|g| g.shared.as_ref());
    let shared = super::egress::shared(&mut cx, shared, &gw_host, &gw_namespace, &gw_origin.child("shared"));
    let egress_gateway = EgressGateway {
        selector: gw
            .and_then(|g| g.selector.clone())
            .unwrap_or_else(|| Labels::from([("istio".to_string(), "egressgateway".to_string())])),
        host: gw_host,
        namespace: gw_namespace,
        shared,
        mtls: gw.and_then(|g| g.mtls).unwrap_or(false),
        origin: gw_origin,
    };
    cx.labels(&egress_gateway.selector, &origin.child("istio.egressGateway.selector"));
    cx.host(&egress_gateway.host, false, &origin.child("istio.egressGateway.host"));
    let ingress_gateway = super::ingress::gateway(
        &mut cx,
        raw.istio.as_ref().and_then(|i| i.ingress_gateway.as_ref()),
        &origin.child("istio.ingressGateway"),
    );

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
        if n > Limits::MAX_FILE_SIZE {
            cx.error(
                "invalid-value",
                origin.child("limits.maxFileSize"),
                format!("`maxFileSize` is {n} bytes, over the highest accepted, {}", Limits::MAX_FILE_SIZE),
                Some("split the inventory into smaller files; no file may reach 4 GiB".into()),
            );
        }
        limits.max_file_size = n.min(Limits::MAX_FILE_SIZE);
    }

    let name = raw.project.filter(|n| {
        let valid = super::names::dns_label(n);
        if let Err(why) = &valid {
            cx.error(
                "invalid-value",
                origin.child("project"),
                format!("project name `{}` {why}", shown(n)),
                Some(
                    "e.g. `project: shop-mesh`: it becomes a label value and must stay the same for the project's life"
                        .into(),
                ),
            );
        }
        valid.is_ok()
    });
    let apply_set = raw.apply_set.and_then(|a| {
        // Both fields checked (not `all`, which would stop at the first bad one).
        let valid: Vec<bool> = [("name", &a.name), ("namespace", &a.namespace)]
            .into_iter()
            .map(|(field, value)| {
                let valid =
                    if field == "name" { super::names::dns_subdomain(value) } else { super::names::dns_label(value) };
                if let Err(why) = &valid {
                    cx.error(
                        "invalid-value",
                        origin.child("applySet").child(field),
                        format!("`{}` {why}", shown(value)),
                        Some("the ApplySet's parent is a Secret: `applySet: {name: meshgen-shop, namespace: istio-config}`".into()),
                    );
                }
                valid.is_ok()
            })
            .collect();
        let ok = valid.iter().all(|v| *v);
        ok.then(|| ApplySet::new(a.name, a.namespace))
    });
    // Checked here, where each path has its line, not when a diff first reads them.
    let ignore = raw.diff.and_then(|d| d.ignore).unwrap_or_default();
    let diff_ignore = (ignore.iter().enumerate())
        .filter_map(|(i, path)| match path.parse() {
            Ok(p) => Some(p),
            Err(why) => {
                let at = origin.child("diff").child("ignore").index(i);
                let help = "write it as `meshgen diff` prints changed paths (`changedPaths` of `-o json`)";
                cx.error("invalid-value", at, why, Some(help.into()));
                None
            }
        })
        .collect();
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
    let output = match layered.output {
        Some(o) => o,
        // Each environment and cluster builds into its own directory by default: beside the
        // base output, never inside it (the base build would take its files for stale ones).
        None if !layers.is_empty() => {
            let names: Vec<&str> = layers.iter().map(|(_, n)| n.as_str()).collect();
            format!("{}-{}", raw.output.as_deref().unwrap_or("out").trim_end_matches('/'), names.join("-"))
        }
        None => raw.output.clone().unwrap_or_else(|| "out".to_string()),
    };
    // The output directory is written and pruned: a project file (which a pull request can
    // change) keeps it inside the project; `--out` on the command line can point elsewhere.
    let escapes = Path::new(&output).is_absolute()
        || Path::new(&output).components().any(|c| c == std::path::Component::ParentDir);
    if escapes {
        cx.error(
            "invalid-value",
            origin.child("output"),
            format!("`output: {}` leads out of the project", super::validate::shown(&output)),
            Some("name a directory inside the project, e.g. `out`; to build elsewhere, pass `--out DIR` on the command line".into()),
        );
    }

    Project {
        inventory: inventory.iter().map(|p| under(&root, p)).collect(),
        output: under(&root, &output),
        templates: raw.templates.map(|t| under(&root, &t)),
        layout: raw.layout.unwrap_or_default(),
        api_version,
        trust_domain,
        crds,
        egress_gateway,
        ingress_gateway,
        defaults,
        limits,
        allow_empty: raw.allow_empty.unwrap_or(false),
        vip_range,
        name,
        apply_set,
        diff_ignore,
        policy,
        environment: layers.iter().find(|(s, _)| *s == "environments").map(|(_, n)| n.clone()),
        cluster: layers.iter().find(|(s, _)| *s == "clusters").map(|(_, n)| n.clone()),
        overlays: layered.overlays.into_iter().map(|(label, p)| OverlayDir { label, path: under(&root, &p) }).collect(),
        layer_dirs: layered.all_dirs.iter().map(|p| under(&root, p)).collect(),
        labels: BTreeMap::new(),
        trace: Trace::default(),
        root,
        file,
    }
}

/// What the selected environment and cluster add to the project.
#[derive(Default)]
struct Layered {
    inventory: Vec<String>,
    overlays: Vec<(Arc<str>, String)>,
    output: Option<String>,
    /// Every directory any environment or cluster names.
    all_dirs: Vec<String>,
}

/// Checks every entry of `environments` and `clusters` (selected or not: a typo in the prod
/// entry should fail the base build's CI, not prod's deployment) and collects what the
/// selected ones add.
fn environments(
    cx: &mut Checker<'_>,
    root: &Path,
    raw: &RawProject,
    origin: &Origin,
    selected: &[LayerRef],
) -> Layered {
    let mut out = Layered::default();
    let envs = raw.environments.as_ref();
    for (section, map) in [("environments", envs), ("clusters", raw.clusters.as_ref())] {
        for (name, layer) in map.into_iter().flatten() {
            let at = origin.child(section).child(name);
            // Names become output directory names.
            cx.entity_name(if section == "environments" { "environment" } else { "cluster" }, name, &at);
            let inventory = layer.inventory.as_ref().map(|l| l.entries(&at.child("inventory"))).unwrap_or_default();
            let overlays = layer.overlays.as_ref().map(|l| l.entries(&at.child("overlays"))).unwrap_or_default();
            check_paths(cx, root, &inventory, "inventory directory", INVENTORY_HELP);
            check_paths(
                cx,
                root,
                &overlays,
                "overlay directory",
                "write the path of a directory (or file) of overlays, relative to meshgen.yaml",
            );
            match (&layer.environment, section) {
                (Some(_), "environments") => cx.error(
                    "unknown-field",
                    at.child("environment").key(),
                    "an environment cannot belong to another environment",
                    Some("`environment` names the environment of a cluster; remove it here".into()),
                ),
                (Some(e), _) if !envs.is_some_and(|m| m.contains_key(e)) => {
                    let known: Vec<&str> = envs.into_iter().flatten().map(|(k, _)| k.as_str()).collect();
                    cx.error(
                        "invalid-value",
                        at.child("environment"),
                        format!("unknown environment `{}`", shown(e)),
                        hint(e, "environments", &known),
                    )
                }
                _ => {}
            }
            out.all_dirs.extend(inventory.iter().chain(&overlays).map(|(p, _)| p.to_string()));
            if selected.iter().any(|(s, n)| *s == section && n == name) {
                let label = layer_label(section, name);
                out.inventory.extend(inventory.iter().map(|(p, _)| p.to_string()));
                out.overlays.extend(overlays.iter().map(|(p, _)| (label.clone(), p.to_string())));
                if let Some(o) = &layer.output {
                    out.output = Some(o.clone());
                }
            }
        }
    }
    out
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
        project: None,
        apply_set: None,
        diff: None,
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
        environments: None,
        clusters: None,
    }
}
