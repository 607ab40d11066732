//! Findings about services' `ingress` across the inventory: two services claiming one
//! public host (or hosts one covers with a wildcard), a public host routed for the mesh
//! that an entity already declares, and one certificate on several Gateways. Each works
//! through an index of hosts (and each host's few parent domains), never by comparing every
//! pair of services.

use std::collections::BTreeSet;

use foldhash::{HashMap, HashMapExt};

use crate::diag::{Diagnostic, Diagnostics, Origin};
use crate::model::ingress::{Ingress, PublicHost};
use crate::model::{Inventory, Service};

/// One service's claim on a public host.
struct Claim<'a> {
    service: &'a Service,
    ingress: &'a Ingress,
    host: &'a PublicHost,
}

impl Claim<'_> {
    fn origin(&self) -> Origin {
        self.ingress.host_origin(&self.service.origin.child("ingress"), self.host)
    }
}

/// `ingress-host-conflict` and `ingress-shared-certificate`.
pub(super) fn run(inv: &Inventory, diags: &mut Diagnostics) {
    let exposed: Vec<(&Service, &Ingress)> =
        inv.services.iter().filter_map(|s| s.ingress.as_deref().map(|i| (&**s, i))).collect();
    if exposed.is_empty() {
        return;
    }
    host_conflicts(&exposed, diags);
    mesh_conflicts(inv, &exposed, diags);
    shared_certificates(&exposed, diags);
}

/// Two services whose public hosts are equal, or one under the other's wildcard: every
/// ingress Gateway selects the same gateway pods, which serve one of them, and Istio does
/// not say which (IST0145 for the Gateways, undefined merging for the VirtualServices).
/// Reported at both claims, since neither is more right.
fn host_conflicts(exposed: &[(&Service, &Ingress)], diags: &mut Diagnostics) {
    let claims: Vec<Claim<'_>> = exposed
        .iter()
        .flat_map(|(service, ingress)| ingress.hosts.iter().map(move |host| Claim { service, ingress, host }))
        .collect();
    // Hosts as written, and wildcards by the suffix they cover (`*.example.com` → `.example.com`).
    let mut exact: HashMap<&str, Vec<usize>> = HashMap::with_capacity(claims.len());
    let mut wild: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, c) in claims.iter().enumerate() {
        exact.entry(c.host.name.as_str()).or_default().push(i);
        if let Some(suffix) = c.host.name.strip_prefix('*') {
            wild.entry(suffix).or_default().push(i);
        }
    }
    let mut reported = BTreeSet::new();
    for (i, c) in claims.iter().enumerate() {
        let mut others: Vec<usize> = exact.get(c.host.name.as_str()).cloned().unwrap_or_default();
        // Every wildcard above this host (or above this wildcard's domain).
        let mut rest = c.host.name.strip_prefix("*.").unwrap_or(&c.host.name);
        while let Some(dot) = rest.find('.') {
            others.extend(wild.get(&rest[dot..]).into_iter().flatten());
            rest = &rest[dot + 1..];
        }
        for j in others {
            let o = &claims[j];
            if o.service.name == c.service.name || !reported.insert((i.min(j), i.max(j))) {
                continue;
            }
            for (at, other) in [(c, o), (o, c)] {
                let (mine, theirs, by) = (&at.host.name, &other.host.name, &other.service.name);
                let covers = mine.strip_prefix('*').is_some_and(|suffix| theirs.ends_with(suffix) && mine != theirs);
                let message = if mine == theirs {
                    format!("public host `{mine}` is also exposed by `{by}`")
                } else if covers {
                    format!("public host `{mine}` covers `{theirs}`, which `{by}` exposes")
                } else {
                    format!("public host `{mine}` is also exposed by `{by}`, under `{theirs}`")
                };
                diags.push(
                    Diagnostic::error("ingress-host-conflict", at.origin(), message)
                    .related(other.origin(), format!("`{}` exposes it here", other.service.name))
                    .help("the ingress gateway serves one service per host: expose the host from one service (route to the other from there), or give each its own host"),
                );
            }
        }
    }
}

/// A public host routed for the mesh (`mesh: true`) that an entity declares as its own
/// host: two VirtualServices for one host in the mesh, which Istio does not merge
/// (IST0109); its clients already reach that entity by the host.
fn mesh_conflicts(inv: &Inventory, exposed: &[(&Service, &Ingress)], diags: &mut Diagnostics) {
    if !exposed.iter().any(|(_, i)| i.mesh) {
        return;
    }
    let mut hosts: HashMap<&str, (&str, Origin)> = HashMap::with_capacity(inv.services.len());
    for s in &inv.services {
        hosts.entry(s.host.as_str()).or_insert_with(|| (&s.name, s.origin.child("host")));
    }
    for e in &inv.externals {
        for (i, h) in e.hosts.iter().enumerate() {
            hosts.entry(h.as_str()).or_insert_with(|| (&e.name, e.host_origin(i)));
        }
    }
    for (service, ingress) in exposed.iter().filter(|(_, i)| i.mesh) {
        for host in &ingress.hosts {
            let Some((owner, at)) = hosts.get(host.name.as_str()) else { continue };
            let claim = Claim { service, ingress, host };
            diags.push(
                Diagnostic::error(
                    "ingress-host-conflict",
                    claim.origin(),
                    format!("`mesh: true` routes `{}` in the mesh, where it is already `{owner}`'s host", host.name),
                )
                .related(at.clone(), format!("`{owner}` declares it here"))
                .help(format!("remove `mesh: true`: clients in the mesh reach `{owner}` by this host already")),
            );
        }
    }
}

/// One `credentialName` on the Gateways of several services: browsers reuse an HTTP/2
/// connection for every host the certificate covers, and a request that lands on another
/// Gateway's server gets a 404 (`istioctl analyze` IST0138).
fn shared_certificates(exposed: &[(&Service, &Ingress)], diags: &mut Diagnostics) {
    let mut first: HashMap<&str, &Service> = HashMap::new();
    for (service, ingress) in exposed {
        let Some(tls) = &ingress.tls else { continue };
        let Some(other) = first.get(tls.credential_name.as_str()) else {
            first.insert(&tls.credential_name, service);
            continue;
        };
        let at = |s: &Service| s.origin.child("ingress").child("tls");
        diags.push(
            Diagnostic::warning(
                "ingress-shared-certificate",
                at(service),
                format!("certificate `{}` is also on the Gateway of `{}`", tls.credential_name, other.name),
            )
            .related(at(other), format!("`{}` uses it here", other.name))
            .help("HTTP/2 clients reuse one connection for every host a certificate covers, and the other Gateway answers 404: give each service a certificate of its own hosts, or expose the hosts from one service"),
        );
    }
}
