//! Client TLS and the policies of single ports and subsets, validated the same way for
//! services and external APIs: the DestinationRule-side settings that can be written at
//! more than one level (entity, port, subset). How the levels combine into what Istio is
//! given is the render stage's business (`render::context`), since Istio does not inherit
//! across levels the way the inventory does.

use super::names;
use super::raw::{RawPort, RawSubset, RawTls, ShortOr, SmallMap};
use super::traffic::Traffic;
use super::validate::{Checker, Place, shown};
use super::{ClientTls, Port, PortPolicy, SubsetPolicy};

/// Where a TLS setting is written, which decides the fields it may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Owner {
    /// A service (its VMs and pods, reached by sidecars).
    Service,
    /// An external API reached directly by the sidecars.
    External,
    /// An external API behind the egress gateway, which originates its TLS.
    ExternalViaGateway,
}

impl Owner {
    fn external(self) -> bool {
        self != Owner::Service
    }
}

/// The TLS modes of Istio's ClientTLSSettings.
const MODES: [&str; 4] = ["DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"];

/// Validates one client TLS setting; `None` when it has errors.
pub(super) fn client_tls(cx: &mut Checker<'_>, t: &RawTls, owner: Owner, o: &dyn Place) -> Option<ClientTls> {
    let mode = match t.mode.as_deref() {
        None => "SIMPLE",
        Some(m) => match MODES.iter().find(|x| **x == m) {
            Some(x) => *x,
            None => {
                cx.one_of("TLS mode", m, &MODES, &o.at("mode"));
                return None;
            }
        },
    };
    let before = cx.errors();
    if let Some(p) = t.port {
        if owner.external() {
            cx.port_number(p, &o.at("port"));
        } else {
            cx.error(
                "invalid-value",
                o.at("port").origin(),
                "`port` is the remote TLS port of an external API's origination",
                Some("a service's workloads serve TLS on their own ports: remove `port` (use the port's `targetPort` to send traffic elsewhere)".into()),
            );
        }
    }
    let fields = [
        ("caCertificates", &t.ca_certificates),
        ("caCrl", &t.ca_crl),
        ("clientCertificate", &t.client_certificate),
        ("privateKey", &t.private_key),
        ("credentialName", &t.credential_name),
    ];
    for (f, v) in fields {
        if v.as_ref().is_some_and(|s| s.is_empty() || s.chars().any(char::is_control)) {
            cx.error("invalid-value", o.at(f).origin(), format!("`{f}` must be a non-empty single-line string"), None);
        }
    }
    let sans = t.subject_alt_names.clone().unwrap_or_default();
    match mode {
        "DISABLE" | "ISTIO_MUTUAL" => {
            // Istio's own mutual TLS brings its certificates; `sni` and `subjectAltNames`
            // are what Istio's egress tasks set beside it, the rest must stay empty.
            let allowed = if mode == "DISABLE" { "no other field" } else { "only `sni` and `subjectAltNames`" };
            let mut extra: Vec<&str> = fields.iter().filter(|(_, v)| v.is_some()).map(|(f, _)| *f).collect();
            if t.insecure_skip_verify.is_some() {
                extra.push("insecureSkipVerify");
            }
            if mode == "DISABLE" {
                if t.sni.is_some() {
                    extra.push("sni");
                }
                if !sans.is_empty() {
                    extra.push("subjectAltNames");
                }
            }
            if t.port.is_some() {
                extra.push("port");
            }
            for f in extra {
                cx.error(
                    "invalid-value",
                    o.at(f).origin(),
                    format!("`{f}` does not go with TLS mode {mode}"),
                    Some(format!("mode {mode} takes {allowed}: remove `{f}`, or choose `SIMPLE` or `MUTUAL`")),
                );
            }
        }
        _ => {
            let has_paths = t.client_certificate.is_some()
                || t.private_key.is_some()
                || t.ca_certificates.is_some()
                || t.ca_crl.is_some();
            if t.credential_name.is_some() && has_paths {
                cx.error("invalid-value", o.at("credentialName").origin(), "credentialName excludes certificate paths", Some("use either `credentialName` (a Kubernetes secret) or `clientCertificate`/`privateKey`/`caCertificates`/`caCrl`".into()));
            }
            if mode == "MUTUAL" && t.credential_name.is_none() {
                for (f, v) in [("clientCertificate", &t.client_certificate), ("privateKey", &t.private_key)] {
                    if v.is_none() {
                        cx.error(
                            "missing-field",
                            o.at(f).origin(),
                            format!("mutual TLS needs `{f}`"),
                            Some("give the paths of the client certificate and key mounted in the proxy, or a `credentialName`".into()),
                        );
                    }
                }
            }
            if t.insecure_skip_verify == Some(true)
                && (t.ca_certificates.is_some()
                    || !sans.is_empty()
                    || (mode == "SIMPLE" && t.credential_name.is_some()))
            {
                cx.error(
                    "invalid-value",
                    o.at("insecureSkipVerify").origin(),
                    "insecureSkipVerify cannot be combined with CA certificates or subjectAltNames",
                    None,
                );
            }
            // A secret in the reader's own namespace (the gateway's, or each caller's):
            // Istio refuses `namespace/name` and `configmap://` references from another one.
            if let Some(c) = &t.credential_name
                && names::dns_subdomain(c).is_err()
            {
                let whose = match owner {
                    Owner::ExternalViaGateway => "the egress gateway's namespace",
                    _ => "each caller's namespace",
                };
                cx.error(
                    "invalid-value",
                    o.at("credentialName").origin(),
                    format!("`{}` is not a secret name", shown(c)),
                    Some(format!("name a Kubernetes secret in {whose}, e.g. `partner-client-cert`")),
                );
            }
        }
    }
    let sni = t.sni.as_ref().map(|s| cx.host(s, false, &o.at("sni")).unwrap_or_else(|| s.clone()));
    if cx.errors() > before {
        return None;
    }
    Some(ClientTls {
        mode,
        port: t.port,
        sni,
        ca_certificates: t.ca_certificates.clone(),
        ca_crl: t.ca_crl.clone(),
        client_certificate: t.client_certificate.clone(),
        private_key: t.private_key.clone(),
        credential_name: t.credential_name.clone(),
        subject_alt_names: sans,
        insecure_skip_verify: t.insecure_skip_verify,
    })
}

/// A DestinationRule-side policy written below the entity (a port's or a subset's):
/// timeouts, retries and faults belong to routes, which say where they apply.
fn level_traffic(cx: &mut Checker<'_>, t: &Traffic, o: &dyn Place, inherits_outlier: bool, hint: &str) {
    for (f, set) in [("timeout", t.timeout.is_some()), ("retries", t.retries.is_some()), ("fault", t.fault.is_some())] {
        if set {
            cx.error(
                "invalid-value",
                o.at(f).origin(),
                format!("`{f}` is a route setting, not a DestinationRule one"),
                Some(hint.to_string()),
            );
        }
    }
    cx.traffic(t, o, inherits_outlier);
}

/// The policies of the ports that have one of their own (`ports.<name>.traffic`, `.tls`).
pub(super) fn port_policies(
    cx: &mut Checker<'_>,
    raw: Option<&SmallMap<ShortOr<RawPort>>>,
    ports: &[Port],
    owner: Owner,
    inherits_outlier: bool,
    o: &dyn Place,
) -> Vec<PortPolicy> {
    let mut out = Vec::new();
    for (name, ShortOr(p)) in raw.into_iter().flatten() {
        if p.traffic.is_none() && p.tls.is_none() {
            continue;
        }
        // A port with errors of its own was already reported and left out.
        let Some(port) = ports.iter().find(|x| x.name == *name) else { continue };
        let at = o.at(name);
        let traffic = p.traffic.as_deref().cloned().unwrap_or_default();
        let hint = format!("write a route with `match: [{{port: {}}}]` for this port", port.number);
        level_traffic(cx, &traffic, &at.at("traffic"), inherits_outlier, &hint);
        let tls = p.tls.as_deref().and_then(|ShortOr(t)| client_tls(cx, t, owner, &at.at("tls")));
        if let Some(t) = &tls
            && t.port.is_some()
            && !port.protocol.is_http()
        {
            cx.error(
                "invalid-value",
                at.at("tls").at("port").origin(),
                format!("only HTTP ports are sent to a remote TLS port, `{name}` is {}", port.protocol.as_str()),
                Some("remove `port`, or set this port's `targetPort`".into()),
            );
        }
        out.push(PortPolicy { port: port.number, traffic, tls });
    }
    out.sort_by_key(|p| p.port);
    out
}

/// A subset's policy of its own, when it has one.
pub(super) fn subset_policy(
    cx: &mut Checker<'_>,
    raw: &RawSubset,
    inherits_outlier: bool,
    o: &dyn Place,
) -> Option<Box<SubsetPolicy>> {
    if raw.traffic.is_none() && raw.tls.is_none() {
        return None;
    }
    let traffic = raw.traffic.clone().unwrap_or_default();
    let hint = "write a route to this subset with the setting (`routes: [{subset: …, timeout: …}]`)";
    level_traffic(cx, &traffic, &o.at("traffic"), inherits_outlier, hint);
    let tls = raw.tls.as_ref().and_then(|ShortOr(t)| client_tls(cx, t, Owner::Service, &o.at("tls")));
    Some(Box::new(SubsetPolicy { traffic, tls }))
}
