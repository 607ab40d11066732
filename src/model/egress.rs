//! Routing external APIs through the egress gateway: an API's `egress`, and the project's
//! `istio.egressGateway.shared` and `.mtls` that decide how its Gateway and the sidecars'
//! leg to the gateway look.
//!
//! Without `shared`, every API routed through the gateway gets a Gateway of its own
//! (`<name>-egress`, for its own hosts); with it, one Gateway in the project's chosen
//! namespace serves them all, for the project's hosts (`*` by default). With mutual TLS the
//! API's plain HTTP port reaches the gateway as Istio's mutual TLS on the gateway's port
//! 443, so that the gateway knows the caller's identity (Istio's "egress gateway with TLS
//! origination" task). What depends on several APIs (one port wanted with two protocols,
//! overlapping hosts on one port) is the check stage's (`check::egress`).

use schemars::{JsonSchema, Schema, json_schema};
use serde::Deserialize;

use super::external::covers;
use super::names;
use super::raw::{RawEgress, ShortForm, ShortOr};
use super::validate::{Checker, shown};
use super::{ExportTo, Port, Project};
use crate::diag::Origin;

/// The gateway port that sidecars send an API's HTTP port to under mutual TLS, as in
/// Istio's egress tasks (the default egress gateway Service exposes it).
pub const MTLS_PORT: u32 = 443;

/// `istio.egressGateway.shared`: one Gateway for every API routed through the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedGateway {
    /// `metadata.name` of the Gateway.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// The hosts of each of its servers.
    pub hosts: Vec<String>,
}

impl SharedGateway {
    /// How VirtualServices name it: `<namespace>/<name>`.
    pub fn reference(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// `istio.egressGateway.shared` as written: `true`, `false`, or the mapping.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "SharedGateway")]
pub struct RawShared {
    /// The Gateway's name (default: the first label of `istio.egressGateway.host`).
    pub name: Option<String>,
    /// Its namespace (default: `istio.egressGateway.namespace`).
    pub namespace: Option<String>,
    /// Its servers' hosts (default: `["*"]`).
    pub hosts: Option<Vec<String>>,
    /// `shared: false`: one Gateway per API (an environment turning off the project's).
    #[serde(skip)]
    pub off: bool,
}

impl ShortForm for RawShared {
    const EXPECTING: &'static str = "`true`, `false` or a mapping with `name`, `namespace`, `hosts`";
    fn from_bool(b: bool) -> Result<Self, String> {
        Ok(RawShared { off: !b, ..RawShared::default() })
    }
    fn short_schema() -> Schema {
        json_schema!({ "type": "boolean", "examples": [true] })
    }
}

/// Validates `istio.egressGateway.shared` (at `o`); `None` when it is absent, off or wrong
/// (errors are reported).
pub(super) fn shared(
    cx: &mut Checker<'_>,
    raw: Option<&ShortOr<RawShared>>,
    gateway_host: &str,
    gateway_namespace: &str,
    o: &Origin,
) -> Option<SharedGateway> {
    let ShortOr(raw) = raw?;
    if raw.off {
        return None;
    }
    let before = cx.errors();
    let name = raw.name.clone().unwrap_or_else(|| gateway_host.split('.').next().unwrap_or_default().to_string());
    if let Err(e) = names::dns_label(&name) {
        let at = if raw.name.is_some() { o.child("name") } else { o.clone() };
        cx.error(
            "invalid-value",
            at,
            format!("Gateway name `{}` {e}", shown(&name)),
            Some("Gateway names are DNS labels: lowercase letters, digits and `-`, e.g. `istio-egressgateway`".into()),
        );
    }
    let namespace = raw.namespace.clone().unwrap_or_else(|| gateway_namespace.to_string());
    cx.namespace(&namespace, &o.child("namespace"));
    let mut hosts = raw.hosts.clone().unwrap_or_else(|| vec!["*".to_string()]);
    if hosts.is_empty() {
        cx.error(
            "invalid-value",
            o.child("hosts"),
            "the shared Gateway has no hosts",
            Some("leave `hosts` out for every host (`*`), or list them".into()),
        );
    }
    for i in 0..hosts.len() {
        let at = o.child("hosts").index(i);
        // A Gateway host needs a dot, or is `*` (GW-04).
        if hosts[i] != "*" {
            let Some(h) = cx.mesh_host(&hosts[i], true, &at) else { continue };
            hosts[i] = h;
        }
        if hosts[..i].contains(&hosts[i]) {
            cx.error("invalid-value", at, format!("host `{}` is listed twice", hosts[i]), None);
        }
    }
    (cx.errors() == before).then(|| {
        let mut hosts = hosts;
        hosts.sort();
        SharedGateway { name, namespace, hosts }
    })
}

/// How an API is routed through the egress gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Egress {
    /// For a wildcard host: the concrete host the gateway forwards to.
    pub destination: Option<String>,
    /// The exportTo of the API's VirtualService, when it differs from the API's own.
    pub export_to: Option<ExportTo>,
    /// Whether sidecars reach the gateway with Istio's mutual TLS (on the API's HTTP port).
    pub mtls: bool,
}

/// What a gateway server does with an API port's traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ServerKind {
    /// Plain HTTP, routed by host.
    Http,
    /// The application's TLS, passed through and routed by SNI.
    Passthrough,
    /// Istio's mutual TLS from the sidecars, terminated; HTTP inside, routed by host.
    Mutual,
}

impl ServerKind {
    /// Every kind.
    pub const ALL: [ServerKind; 3] = [ServerKind::Http, ServerKind::Passthrough, ServerKind::Mutual];

    /// The Gateway server's `port.protocol`.
    pub fn protocol(self) -> &'static str {
        match self {
            ServerKind::Http => "HTTP",
            ServerKind::Passthrough => "TLS",
            ServerKind::Mutual => "HTTPS",
        }
    }

    /// The Gateway server's `tls`, if any.
    pub fn tls_mode(self) -> Option<&'static str> {
        match self {
            ServerKind::Http => None,
            ServerKind::Passthrough => Some("PASSTHROUGH"),
            ServerKind::Mutual => Some("ISTIO_MUTUAL"),
        }
    }

    /// In words, for findings.
    pub fn describe(self) -> &'static str {
        match self {
            ServerKind::Http => "plain HTTP",
            ServerKind::Passthrough => "TLS passed through",
            ServerKind::Mutual => "HTTPS with Istio's mutual TLS",
        }
    }
}

impl Egress {
    /// The gateway port an API port arrives on, and how the gateway serves it. Only ports
    /// the gateway can route reach here (HTTP-family and TLS, checked when reading).
    pub fn server(&self, p: &Port) -> (u32, ServerKind) {
        if p.protocol.is_tls() {
            (p.number, ServerKind::Passthrough)
        } else if self.mtls {
            (MTLS_PORT, ServerKind::Mutual)
        } else {
            (p.number, ServerKind::Http)
        }
    }
}

/// What [`build`] needs to know of the API.
pub(super) struct Api<'a> {
    /// Entity name.
    pub name: &'a str,
    /// Its hosts, sorted.
    pub hosts: &'a [String],
    /// The position of each host as written.
    pub host_index: &'a [u32],
    /// Its valid ports.
    pub ports: &'a [Port],
    /// `MESH_EXTERNAL` or `MESH_INTERNAL`.
    pub location: &'a str,
    /// Where it is declared.
    pub origin: &'a Origin,
}

/// Validates an API's `egress` against its hosts and ports and the project's gateway.
pub(super) fn build(cx: &mut Checker<'_>, raw: &RawEgress, api: &Api<'_>, project: &Project) -> Egress {
    let (hosts, ports, origin) = (api.hosts, api.ports, api.origin);
    // Where a host is written: the sorted list's index is not its place in the file.
    let host_at = |i: usize| origin.child("hosts").index(api.host_index.get(i).map_or(i, |&w| w as usize));
    let eo = origin.child("egress");
    let wildcard = hosts.iter().any(|h| h.starts_with('*'));
    let mut destination = raw.destination.clone();
    if let Some(d) = &raw.destination {
        if !wildcard {
            cx.error(
                "invalid-value",
                eo.child("destination"),
                "`destination` is for wildcard hosts",
                Some("the gateway forwards each concrete host to itself; write `egress: gateway`".into()),
            );
        } else if let Some(d) = cx.host(d, false, &eo.child("destination")) {
            if !hosts.iter().any(|h| covers(h, &d)) {
                cx.error(
                    "invalid-value",
                    eo.child("destination"),
                    format!("destination `{d}` is not one of the API's hosts"),
                    Some("the gateway can only forward to a host the API declares (or one under its wildcard)".into()),
                );
            }
            destination = Some(d);
        }
    } else if wildcard {
        cx.error(
            "missing-field",
            eo.clone(),
            "a wildcard host needs a concrete `destination` for the egress gateway",
            Some("write `egress: {destination: www.example.com}`: the gateway forwards to one host".into()),
        );
    }
    for p in ports {
        if !(p.protocol.is_http() || p.protocol.is_tls()) {
            cx.error("invalid-value", eo.clone(), format!("port `{}` ({}) cannot go through the egress gateway", p.name, p.protocol.as_str()), Some("meshgen routes HTTP ports by host and TLS/HTTPS ports by SNI through the gateway; opaque TCP needs addresses per host".into()));
        }
    }
    if api.location == "MESH_INTERNAL" {
        cx.error("invalid-value", eo.clone(), "egress gateway routing is for MESH_EXTERNAL APIs", None);
    }
    let shared = project.egress_gateway.shared.as_ref();
    // The Gateway of its own is `<name>-egress`, and gateway names are DNS labels.
    let name = api.name;
    if shared.is_none() && name.len() + "-egress".len() > 63 {
        cx.error(
            "invalid-value",
            origin.clone().key(),
            format!("the name `{name}` is too long for its Gateway `{name}-egress` (63 characters at most)"),
            Some("use a name of at most 56 characters".into()),
        );
    }
    // One VirtualService carries all hosts; Istio refuses hosts in it that overlap.
    for (i, h) in hosts.iter().enumerate() {
        if let Some(other) = hosts.iter().enumerate().find(|(j, o)| *j != i && covers(o, h) && *o != h) {
            cx.error("invalid-value", host_at(i), format!("`{h}` is already covered by `{}`", other.1), Some("through the egress gateway the hosts share one VirtualService, which cannot hold overlapping hosts: remove one, or split the API".into()));
        }
    }
    if raw.destination.is_some() && hosts.len() > 1 {
        cx.error(
            "invalid-value",
            eo.child("destination"),
            "with a `destination`, the API has exactly one (wildcard) host",
            Some("every host would be forwarded to the destination: split the other hosts into their own API".into()),
        );
    }
    // A VirtualService bound to a Gateway applies only to the hosts the Gateway serves.
    if let Some(gw) = shared {
        for (i, h) in hosts.iter().enumerate() {
            if !gw.hosts.iter().any(|g| g == "*" || g == h || covers(g, h)) {
                cx.error(
                    "invalid-value",
                    host_at(i),
                    format!("`{h}` is not among the hosts of the shared egress Gateway `{}` ({})", gw.reference(), gw.hosts.join(", ")),
                    Some("add it (or a wildcard over it) to `istio.egressGateway.shared.hosts` in meshgen.yaml: the gateway ignores routes for hosts it does not serve".into()),
                );
            }
        }
    }
    let export_to = raw.export_to.as_ref().and_then(|ShortOr(e)| cx.export_to(e, &eo.child("exportTo")));
    Egress { destination, export_to, mtls: mtls(cx, raw, ports, project, &eo) }
}

/// Whether the API's HTTP port reaches the gateway with mutual TLS: its own `mtls`, else
/// the project's for APIs with an HTTP port. All its HTTP ports would arrive on the one
/// gateway port 443, where the gateway could no longer tell them apart: it may have one.
fn mtls(cx: &mut Checker<'_>, raw: &RawEgress, ports: &[Port], project: &Project, eo: &Origin) -> bool {
    let http: Vec<&str> = ports.iter().filter(|p| p.protocol.is_http()).map(|p| p.name.as_str()).collect();
    let several = || format!("`{}`", http.join("`, `"));
    match raw.mtls {
        Some(false) => false,
        Some(true) => {
            if http.is_empty() {
                cx.error(
                    "invalid-value",
                    eo.child("mtls"),
                    "mutual TLS to the egress gateway carries a plain HTTP port, and this API has none",
                    Some("its TLS and HTTPS ports already carry the application's TLS, which the gateway passes through: remove `mtls`".into()),
                );
            } else if http.len() > 1 {
                cx.error(
                    "invalid-value",
                    eo.child("mtls"),
                    format!("with mutual TLS, the API's HTTP port goes to the gateway's port {MTLS_PORT}, and it has several: {}", several()),
                    Some("split the ports into APIs of their own, one HTTP port each".into()),
                );
            }
            true
        }
        None if !project.egress_gateway.mtls || http.is_empty() => false,
        None => {
            if http.len() > 1 {
                cx.error(
                    "invalid-value",
                    eo.clone(),
                    format!("`istio.egressGateway.mtls` sends the API's HTTP port to the gateway's port {MTLS_PORT}, and it has several: {}", several()),
                    Some("split the ports into APIs of their own, one HTTP port each, or write `mtls: false` in this API's `egress`".into()),
                );
            }
            true
        }
    }
}
