//! A service's `ingress`: the public hosts the ingress gateway serves it under, and the
//! project's `istio.ingressGateway` that serves them.
//!
//! Everything is checked here, against Istio's Gateway and VirtualService rules
//! (`istio-rules.md` GW-01…GW-16, VS-07…VS-09): hosts are DNS names with at most a whole
//! leading wildcard label and a dot, the port is one of the service's HTTP-family ports (or
//! a TLS/HTTPS port, passed through), TLS names a Kubernetes secret. What depends on other
//! services (two claims on one public host, one certificate on several Gateways) is the
//! check stage's (`check::ingress`).

use schemars::{JsonSchema, Schema, json_schema};
use serde::Deserialize;

use super::names;
use super::raw::{Labels, ShortForm, ShortOr};
use super::validate::{Checker, shown};
use super::{ExportTo, Port, Route};
use crate::diag::Origin;
use crate::diag::suggest::hint;

/// The suffix of the names of a service's ingress Gateway and VirtualService.
pub const SUFFIX: &str = "-ingress";

/// Where the ingress gateway is (`istio.ingressGateway` in meshgen.yaml).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngressGateway {
    /// Labels of the gateway's pods: the `selector` of generated Gateways.
    pub selector: Labels,
    /// The namespace the gateway's pods run in (where Istio reads `credentialName` secrets).
    pub namespace: String,
    /// The service account the gateway's pods run as.
    pub service_account: String,
}

impl IngressGateway {
    /// The SPIFFE principal the gateway presents, as AuthorizationPolicy matches it.
    pub fn principal(&self, trust_domain: &str) -> String {
        format!("{trust_domain}/ns/{}/sa/{}", self.namespace, self.service_account)
    }
}

/// `istio.ingressGateway` as written.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "IngressGateway")]
pub struct RawIngressGateway {
    /// Labels of the gateway's pods.
    pub selector: Option<Labels>,
    /// The gateway's namespace.
    pub namespace: Option<String>,
    /// The gateway's service account.
    pub service_account: Option<String>,
}

/// Validates `istio.ingressGateway` (at `origin`), defaults filled in.
pub fn gateway(cx: &mut Checker<'_>, raw: Option<&RawIngressGateway>, origin: &Origin) -> IngressGateway {
    let raw = raw.cloned().unwrap_or_default();
    let gw = IngressGateway {
        selector: raw.selector.unwrap_or_else(|| Labels::from([("istio", "ingressgateway")])),
        namespace: raw.namespace.unwrap_or_else(|| "istio-system".to_string()),
        service_account: raw.service_account.unwrap_or_else(|| "istio-ingressgateway-service-account".to_string()),
    };
    cx.selector(&gw.selector, &origin.child("selector"));
    cx.namespace(&gw.namespace, &origin.child("namespace"));
    cx.service_account(&gw.service_account, &origin.child("serviceAccount"));
    gw
}

/// How `hosts` was written, to point at a host where it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Form {
    /// `ingress: {hosts: [...]}`.
    #[default]
    Mapping,
    /// `ingress: [a.example.com, b.example.com]`.
    List,
    /// `ingress: a.example.com`.
    Host,
}

/// A service's `ingress` as written: a host, a list of hosts, or the mapping.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "Ingress")]
pub struct RawIngress {
    /// The public hosts.
    #[schemars(extend("examples" = [["shop.example.com"]]))]
    pub hosts: Vec<String>,
    /// The service port to expose, by name (default: the only HTTP-family port).
    #[schemars(extend("examples" = ["http"]))]
    pub port: Option<String>,
    /// HTTPS on port 443 with a Kubernetes secret: its name, or `{credentialName, mode}`.
    pub tls: Option<ShortOr<RawIngressTls>>,
    /// With `tls`, whether plain HTTP on port 80 redirects to HTTPS (default true).
    pub https_redirect: Option<bool>,
    /// Also route the public hosts for clients inside the mesh.
    pub mesh: Option<bool>,
    /// Paths to expose, each with what is below it (default: every path).
    #[schemars(extend("examples" = [["/api", "/static"]]))]
    pub paths: Option<Vec<String>>,
    /// Which form was written.
    #[serde(skip)]
    pub form: Form,
}

impl ShortForm for RawIngress {
    const EXPECTING: &'static str = "a host, a list of hosts, or a mapping with `hosts`";
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(RawIngress::hosts(vec![s.to_string()], Form::Host))
    }
    fn from_seq(items: Vec<String>) -> Result<Self, String> {
        Ok(RawIngress::hosts(items, Form::List))
    }
    fn short_schema() -> Schema {
        json_schema!({
            "anyOf": [
                { "type": "string", "examples": ["shop.example.com"] },
                { "type": "array", "items": { "type": "string" }, "examples": [["shop.example.com", "www.example.com"]] }
            ]
        })
    }
}

impl RawIngress {
    fn hosts(hosts: Vec<String>, form: Form) -> RawIngress {
        RawIngress { hosts, port: None, tls: None, https_redirect: None, mesh: None, paths: None, form }
    }
}

/// The gateway's TLS as written: the secret's name, or `{credentialName, mode}`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "IngressTls")]
pub struct RawIngressTls {
    /// The Kubernetes secret with the certificate and key (and `ca.crt` for `MUTUAL`).
    #[schemars(extend("examples" = ["shop-example-com"]))]
    pub credential_name: String,
    /// `SIMPLE` (default), `MUTUAL` or `OPTIONAL_MUTUAL`.
    #[schemars(extend("examples" = ["SIMPLE", "MUTUAL", "OPTIONAL_MUTUAL"]))]
    pub mode: Option<String>,
    /// Written as the secret's name alone.
    #[serde(skip)]
    pub short: bool,
}

impl ShortForm for RawIngressTls {
    const EXPECTING: &'static str = "a secret name or a mapping with `credentialName`";
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(RawIngressTls { credential_name: s.to_string(), mode: None, short: true })
    }
    fn short_schema() -> Schema {
        json_schema!({ "type": "string", "examples": ["shop-example-com-cert"] })
    }
}

/// One public host, with its place in the list as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicHost {
    /// The host.
    pub name: String,
    /// Its position in `hosts` as written.
    pub index: u32,
}

/// HTTPS termination at the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngressTls {
    /// `SIMPLE`, `MUTUAL` or `OPTIONAL_MUTUAL`.
    pub mode: &'static str,
    /// The Kubernetes secret, in the gateway's namespace.
    pub credential_name: String,
}

/// A service exposed through the ingress gateway, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ingress {
    /// The public hosts, sorted.
    pub hosts: Vec<PublicHost>,
    /// How they were written.
    pub form: Form,
    /// The service port the gateway sends the traffic to.
    pub port: Port,
    /// HTTPS on 443 (HTTP-family ports only).
    pub tls: Option<IngressTls>,
    /// Plain HTTP on 80 answers with a redirect to HTTPS (only with `tls`).
    pub https_redirect: bool,
    /// The VirtualService is bound to `mesh` too.
    pub mesh: bool,
    /// Paths exposed, each with what is below it (`/v1`: `/v1` and `/v1/…`); empty: every path.
    pub paths: Vec<String>,
}

impl Ingress {
    /// Whether the gateway passes TLS through to the service (a TLS or HTTPS port) instead
    /// of routing HTTP.
    pub fn passthrough(&self) -> bool {
        self.port.protocol.is_tls()
    }

    /// The public host names, sorted.
    pub fn host_names(&self) -> Vec<&str> {
        self.hosts.iter().map(|h| h.name.as_str()).collect()
    }

    /// Where a host is written, given the origin of the service's `ingress`.
    pub fn host_origin(&self, ingress: &Origin, host: &PublicHost) -> Origin {
        match self.form {
            Form::Mapping => ingress.child("hosts").index(host.index as usize),
            Form::List => ingress.index(host.index as usize),
            Form::Host => ingress.clone(),
        }
    }

    /// The name of the service's Gateway and ingress VirtualService.
    pub fn object_name(service: &str) -> String {
        format!("{service}{SUFFIX}")
    }
}

/// What of the service an ingress is checked against.
pub(super) struct Exposed<'a> {
    /// The service's name.
    pub name: &'a str,
    /// Its ports.
    pub ports: &'a [Port],
    /// Its routes, copied to the gateway.
    pub routes: &'a [Route],
}

/// Validates a service's `ingress` (at `origin`); `None` when it has errors.
pub(super) fn build(cx: &mut Checker<'_>, raw: &RawIngress, svc: &Exposed<'_>, origin: &Origin) -> Option<Ingress> {
    let before = cx.errors();
    // The Gateway and the VirtualService are `<name>-ingress`; Gateway names are DNS labels.
    if svc.name.len() + SUFFIX.len() > 63 {
        cx.error(
            "invalid-value",
            origin.clone().key(),
            format!(
                "the name `{}` is too long for its Gateway `{}` (63 characters at most)",
                svc.name,
                Ingress::object_name(svc.name)
            ),
            Some(format!("use a service name of at most {} characters", 63 - SUFFIX.len())),
        );
    }
    let hosts = hosts(cx, raw, origin);
    let port = port(cx, raw, svc, origin)?;
    let passthrough = port.protocol.is_tls();
    let http_only = |cx: &mut Checker<'_>, field: &str, what: &str| {
        cx.error(
            "invalid-value",
            origin.child(field),
            format!("port `{}` carries TLS, which the gateway passes through untouched: it cannot {what}", port.name),
            Some(format!("remove `{field}`, or expose an HTTP port of the service")),
        );
    };
    let tls = raw.tls.as_ref().and_then(|ShortOr(t)| {
        if passthrough {
            http_only(cx, "tls", "terminate TLS too");
            return None;
        }
        tls(cx, t, &origin.child("tls"))
    });
    if passthrough {
        for (field, set, what) in [
            ("httpsRedirect", raw.https_redirect.is_some(), "redirect plain HTTP"),
            ("mesh", raw.mesh == Some(true), "be routed for the mesh by host"),
            ("paths", raw.paths.is_some(), "be routed by path"),
        ] {
            if set {
                http_only(cx, field, what);
            }
        }
    } else if raw.https_redirect.is_some() && raw.tls.is_none() {
        cx.error(
            "invalid-value",
            origin.child("httpsRedirect"),
            "`httpsRedirect` needs `tls`: without it the gateway serves no HTTPS to redirect to",
            Some("add `tls: {credentialName: <secret>}`, or remove `httpsRedirect`".into()),
        );
    }
    let paths = paths(cx, raw.paths.as_deref(), &origin.child("paths"));
    routes(cx, svc.routes, &paths);
    if cx.errors() > before {
        return None;
    }
    Some(Ingress {
        hosts,
        form: raw.form,
        port,
        https_redirect: tls.is_some() && raw.https_redirect.unwrap_or(true),
        tls,
        mesh: raw.mesh.unwrap_or(false),
        paths,
    })
}

/// The public hosts: DNS names with a dot, a whole leading wildcard label at most (as a
/// Gateway takes them), listed once, none covering another (one VirtualService holds them).
fn hosts(cx: &mut Checker<'_>, raw: &RawIngress, origin: &Origin) -> Vec<PublicHost> {
    let at = |i: usize| match raw.form {
        Form::Mapping => origin.child("hosts").index(i),
        Form::List => origin.index(i),
        Form::Host => origin.clone(),
    };
    if raw.hosts.is_empty() {
        let at = if raw.form == Form::Mapping { origin.child("hosts") } else { origin.clone() };
        cx.error(
            "missing-field",
            at,
            "an ingress needs at least one host",
            Some("write the public host, e.g. `ingress: shop.example.com`".into()),
        );
    }
    let mut out: Vec<PublicHost> = Vec::new();
    for (i, h) in raw.hosts.iter().enumerate() {
        let Some(h) = cx.mesh_host(h, true, &at(i)) else { continue };
        if h.ends_with('.') {
            cx.error(
                "invalid-value",
                at(i),
                format!("public host `{}` ends with a dot", shown(&h)),
                Some("write it without the trailing dot, as clients send it in the Host header and SNI".into()),
            );
            continue;
        }
        if let Some(first) = out.iter().find(|o| o.name == h) {
            let d = crate::diag::Diagnostic::error("invalid-value", at(i), format!("host `{h}` is listed twice"))
                .related(at(first.index as usize), "first listed here");
            cx.push(d);
            continue;
        }
        out.push(PublicHost { name: h, index: super::position(i) });
    }
    // Istio refuses overlapping hosts in one VirtualService (VS-09).
    for h in &out {
        if let Some(w) = out.iter().find(|w| w.name != h.name && super::external::covers(&w.name, &h.name)) {
            cx.push(
                crate::diag::Diagnostic::error(
                    "invalid-value",
                    at(h.index as usize),
                    format!("`{}` is already covered by `{}`", h.name, w.name),
                )
                .related(at(w.index as usize), "the wildcard")
                .help("the hosts share one VirtualService, which cannot hold overlapping hosts: remove one"),
            );
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The exposed port: the one named, else the only HTTP-family port, else the only TLS one.
fn port(cx: &mut Checker<'_>, raw: &RawIngress, svc: &Exposed<'_>, origin: &Origin) -> Option<Port> {
    let names: Vec<&str> = svc.ports.iter().map(|p| p.name.as_str()).collect();
    let Some(name) = &raw.port else {
        let http: Vec<&Port> = svc.ports.iter().filter(|p| p.protocol.is_http()).collect();
        let tls: Vec<&Port> = svc.ports.iter().filter(|p| p.protocol.is_tls()).collect();
        return match (&http[..], &tls[..]) {
            ([one], _) | ([], [one]) => Some((*one).clone()),
            _ => {
                let (list, what) = if http.is_empty() { (&tls, "TLS") } else { (&http, "HTTP-family") };
                let listed: Vec<String> = list.iter().map(|p| format!("`{}`", p.name)).collect();
                let why = if list.is_empty() {
                    "the service has no HTTP-family or TLS port to expose".to_string()
                } else {
                    format!("the service has several {what} ports ({})", listed.join(", "))
                };
                cx.error(
                    "missing-field",
                    origin.child("port"),
                    format!("which port to expose is not clear: {why}"),
                    Some("name the port in `ingress: {hosts: [...], port: <name>}`".into()),
                );
                None
            }
        };
    };
    let at = origin.child("port");
    let Some(p) = svc.ports.iter().find(|p| &p.name == name) else {
        let help = hint(name, "ports", &names);
        cx.error("unknown-port", at, format!("the service has no port named `{}`", shown(name)), help);
        return None;
    };
    if p.protocol.is_opaque() {
        cx.error(
            "invalid-value",
            at,
            format!("port `{}` is {}, which the ingress gateway cannot route by host", p.name, p.protocol.as_str()),
            Some("expose an HTTP-family port (routed by Host) or a TLS/HTTPS port (passed through by SNI)".into()),
        );
        return None;
    }
    Some(p.clone())
}

/// HTTPS termination: a secret name (a DNS subdomain) and a server TLS mode.
fn tls(cx: &mut Checker<'_>, raw: &RawIngressTls, origin: &Origin) -> Option<IngressTls> {
    let before = cx.errors();
    let at = if raw.short { origin.clone() } else { origin.child("credentialName") };
    if let Err(e) = names::dns_subdomain(&raw.credential_name) {
        cx.error(
            "invalid-value",
            at,
            format!("credentialName `{}` {e}", shown(&raw.credential_name)),
            Some("credentialName is the name of a Kubernetes secret, e.g. `shop-example-com`".into()),
        );
    }
    let mode = match raw.mode.as_deref() {
        None | Some("SIMPLE") => "SIMPLE",
        Some("MUTUAL") => "MUTUAL",
        Some("OPTIONAL_MUTUAL") => "OPTIONAL_MUTUAL",
        Some(other) => {
            cx.one_of("server TLS mode", other, &["SIMPLE", "MUTUAL", "OPTIONAL_MUTUAL"], &origin.child("mode"));
            "SIMPLE"
        }
    };
    (cx.errors() == before).then(|| IngressTls { mode, credential_name: raw.credential_name.clone() })
}

/// The paths: absolute, printable, each once, sorted.
fn paths(cx: &mut Checker<'_>, raw: Option<&[String]>, origin: &Origin) -> Vec<String> {
    let Some(raw) = raw else { return Vec::new() };
    if raw.is_empty() {
        cx.error(
            "invalid-value",
            origin.clone(),
            "`paths` is empty, which would expose nothing",
            Some("list the path prefixes to expose, or remove `paths` to expose every path".into()),
        );
    }
    let mut out: Vec<String> = Vec::new();
    for (i, p) in raw.iter().enumerate() {
        let printable = p.chars().all(|c| c.is_ascii_graphic()) && !p.contains(['?', '#']);
        if !p.starts_with('/') || !printable {
            cx.error(
                "invalid-value",
                origin.index(i),
                format!("path `{}` is not a URL path prefix", shown(p)),
                Some("write a prefix that starts with `/`, without spaces, `?` or `#`, e.g. `/api`".into()),
            );
        } else if out.contains(p) {
            cx.error("invalid-value", origin.index(i), format!("path `{p}` is listed twice"), None);
        } else {
            out.push(p.clone());
        }
    }
    out.sort();
    out
}

/// What of the service's routes cannot be copied to the gateway: a rule that sends
/// traffic (or copies of it) to another host would make the gateway call that host too,
/// which its exportTo and allow-list know nothing of. With `paths`, the copy of a rule is
/// kept to the requests under them (`render::ingress`): a `uri` regex cannot be told to lie
/// under them or not, and a rule that rewrites the URI prefix it matched would rewrite
/// another prefix once narrowed to a path.
fn routes(cx: &mut Checker<'_>, routes: &[Route], paths: &[String]) {
    for r in routes {
        if r.leaves_the_host() {
            cx.error(
                "invalid-value",
                r.origin.clone(),
                "the ingress copies this route to the gateway, but it sends traffic to another host",
                Some("the gateway would call that host without its exportTo or AuthorizationPolicy knowing: expose that entity with an `ingress` of its own, or keep this route on the service's own host".into()),
            );
        }
        if paths.is_empty() {
            continue;
        }
        let rewrites = r.rewrite.as_ref().is_some_and(|w| w.uri.is_some());
        // A prefix the paths narrow (or a match without `uri`, which gets them). A prefix
        // `/v1` under the path `/v1` or `/v1/` becomes `/v1/`, and its rewrite gains a `/`.
        let narrowed = |q: Option<&str>| {
            q.is_none_or(|q| paths.iter().any(|p| p.strip_prefix(q).is_some_and(|r| !r.is_empty() && r != "/")))
        };
        if rewrites && r.matches.is_empty() {
            cx.error(
                "invalid-value",
                r.origin.child("rewrite").child("uri"),
                "with `ingress.paths`, the gateway's copy of this route would rewrite the path prefix instead of the whole path",
                Some("match the `uri` prefix the rewrite replaces, under one of the paths".into()),
            );
        }
        for (j, m) in r.matches.iter().enumerate() {
            let at = r.origin.child("match").index(j);
            let uri = m.uri.as_ref();
            if uri.is_some_and(|u| u.regex.is_some()) {
                cx.error(
                    "invalid-value",
                    at.child("uri").child("regex"),
                    "with `ingress.paths`, a route copied to the gateway cannot match the URI by regex",
                    Some("match with `prefix` or `exact` (meshgen keeps the rule under the paths it falls in), or remove `ingress.paths`".into()),
                );
            } else if rewrites
                && uri.is_none_or(|u| u.exact.is_none())
                && narrowed(uri.and_then(|u| u.prefix.as_deref()))
            {
                cx.error(
                    "invalid-value",
                    if uri.is_some() { at.child("uri") } else { at },
                    "with `ingress.paths`, the gateway's copy of this route would rewrite a narrower prefix than it matches",
                    Some("match the `uri` prefix the rewrite replaces, under one of the paths".into()),
                );
            }
        }
    }
}

/// The exportTo of an exposed service's objects: the gateway's namespace must see them (the
/// ServiceEntry and DestinationRule it routes with, the VirtualService it serves). Added to
/// a restricted list, as for APIs routed through the egress gateway; `consumers` gets it
/// from the graph, which counts the gateway as a caller.
pub(super) fn export_to(e: Option<ExportTo>, ingress: bool, gateway_ns: &str, ns: &str) -> Option<ExportTo> {
    match e {
        Some(ExportTo::Namespaces(mut list)) if ingress && !list.iter().any(|n| n == "*") => {
            // `~` (no one) cannot be combined with a namespace: the gateway alone sees it.
            list.retain(|n| n != "~");
            let own = gateway_ns == ns;
            if !list.iter().any(|n| n == gateway_ns || (own && n == ".")) {
                list.push(if own { ".".to_string() } else { gateway_ns.to_string() });
            }
            Some(ExportTo::Namespaces(list))
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(v: &[&str]) -> Option<ExportTo> {
        Some(ExportTo::Namespaces(v.iter().map(|s| s.to_string()).collect()))
    }

    #[test]
    fn a_restricted_export_gains_the_gateway_namespace() {
        assert_eq!(export_to(list(&["."]), true, "istio-system", "shop"), list(&[".", "istio-system"]));
        assert_eq!(export_to(list(&["~"]), true, "istio-system", "shop"), list(&["istio-system"]));
        assert_eq!(export_to(list(&["~"]), true, "shop", "shop"), list(&["."]));
        assert_eq!(export_to(list(&["*"]), true, "istio-system", "shop"), list(&["*"]));
        assert_eq!(export_to(list(&["istio-system"]), true, "istio-system", "shop"), list(&["istio-system"]));
        assert_eq!(export_to(list(&["."]), false, "istio-system", "shop"), list(&["."]));
        assert_eq!(export_to(None, true, "istio-system", "shop"), None);
        assert_eq!(export_to(Some(ExportTo::Consumers), true, "x", "shop"), Some(ExportTo::Consumers));
    }

    #[test]
    fn the_principal_names_the_gateway_account() {
        let gw = IngressGateway {
            selector: Labels::from([("istio", "ingressgateway")]),
            namespace: "istio-system".into(),
            service_account: "istio-ingressgateway-service-account".into(),
        };
        assert_eq!(
            gw.principal("corp.example"),
            "corp.example/ns/istio-system/sa/istio-ingressgateway-service-account"
        );
    }
}
