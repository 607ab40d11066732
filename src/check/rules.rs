//! The cross-entity rules. Each takes the inventory (and the graph where visibility or
//! consumers matter) and reports through `diags`; none compares every pair of entities.

use std::collections::BTreeMap;

use foldhash::{HashMap, HashMapExt};

use super::{OverlapIndex, Visibilities, Visibility};
use crate::diag::{Diagnostic, Diagnostics, Origin};
use crate::graph::MeshGraph;
use crate::model::Inventory;

/// One entity's claim on a host.
struct Claim<'a> {
    host: &'a str,
    entity: &'a str,
    what: &'static str,
    ports: &'a [crate::model::Port],
    vis: &'a Visibility<'a>,
    /// Where the claim is: the entity, a field of it, and an index in that field. Built into
    /// an [`Origin`] only for a finding (allocating one per claim cost more than the rule).
    at: (&'a Origin, &'static str, Option<usize>),
}

impl Claim<'_> {
    fn origin(&self) -> Origin {
        let (entity, field, index) = self.at;
        let o = entity.child(field);
        match index {
            Some(i) => o.index(i),
            None => o,
        }
    }
}

/// Where a claim is, in 8 bytes: the entity (services, then external APIs, by position) and
/// which of its hosts (a service's one host is 0; an API's egress destination is 0 and its
/// `hosts[i]` is `1 + i`). A [`Claim`] is made from it only for a host claimed twice.
type ClaimAt = (u32, u32);

/// The host claimed at `at`.
fn claimed_host(inv: &Inventory, (entity, slot): ClaimAt) -> &str {
    match inv.services.get(entity as usize) {
        Some(s) => &s.host,
        None => {
            let e = &inv.externals[entity as usize - inv.services.len()];
            match slot {
                0 => e.egress.as_ref().and_then(|g| g.destination.as_deref()).unwrap_or_default(),
                i => &e.hosts[i as usize - 1],
            }
        }
    }
}

/// The claim at `at`.
fn claim<'a>(inv: &'a Inventory, vis: &'a Visibilities, (entity, slot): ClaimAt) -> Claim<'a> {
    if let Some(s) = inv.services.get(entity as usize) {
        return Claim {
            host: &s.host,
            entity: &s.name,
            what: if s.service_entry { "service" } else { "service (its Kubernetes Service)" },
            ports: &s.ports,
            vis: vis.service(entity as usize),
            at: (&s.origin, "host", None),
        };
    }
    let i = entity as usize - inv.services.len();
    let e = &inv.externals[i];
    let (host, what, at) = match slot {
        0 => (
            e.egress.as_ref().and_then(|g| g.destination.as_deref()).unwrap_or_default(),
            "external API (as its egress destination)",
            (&e.origin, "egress.destination", None),
        ),
        // The host's place as written: `hosts` is sorted.
        k => {
            let k = k as usize - 1;
            (&*e.hosts[k], "external API", (&e.origin, "hosts", Some(e.host_index.get(k).map_or(k, |&w| w as usize))))
        }
    };
    Claim { host, entity: &e.name, what, ports: &e.ports, vis: vis.external(i), at }
}

/// `host-conflict`: two entities declare one host, visible in a common namespace. Istio
/// keeps only one ServiceEntry per host and port for a namespace's proxies, and two mesh
/// VirtualServices for one host conflict (IST0109) even on different ports, so whatever the
/// ports, one entity's endpoints, routes or settings silently disappear. An API's egress
/// destination host counts as a claim too.
pub(super) fn host_claims(inv: &Inventory, vis: &Visibilities, diags: &mut Diagnostics) {
    let services = inv.services.len();
    let mut places: Vec<ClaimAt> = Vec::with_capacity(services + inv.externals.len());
    places.extend((0..services as u32).map(|i| (i, 0)));
    for (i, e) in inv.externals.iter().enumerate() {
        let entity = (services + i) as u32;
        if e.egress.as_ref().is_some_and(|g| g.destination.is_some()) {
            places.push((entity, 0));
        }
        places.extend((1..=e.hosts.len() as u32).map(|k| (entity, k)));
    }
    // Which claim came first is decided within a host, so hosts may come in any order.
    super::repeated_keys(
        places.len(),
        |i| claimed_host(inv, places[i]),
        |members| {
            let group: Vec<Claim<'_>> = members.iter().map(|&i| claim(inv, vis, places[i])).collect();
            let mut seen = OverlapIndex::default();
            for (j, later) in group.iter().enumerate() {
                let first = seen.first_overlapping(later.vis).map(|i| &group[i]);
                seen.insert(later.vis, j);
                let Some(first) = first else { continue };
                let shared = match first.ports.iter().find(|p| later.ports.iter().any(|q| q.number == p.number)) {
                    Some(p) => format!(" (both on port {})", p.number),
                    None => String::new(),
                };
                diags.push(
                    Diagnostic::error(
                        "host-conflict",
                        later.origin(),
                        format!("host `{}` is already claimed by {} `{}`{shared}", later.host, first.what, first.entity),
                    )
                    .related(first.origin(), "claimed here first")
                    .help("Istio keeps one of two ServiceEntries for a host and port, and merges no two VirtualServices for one host: declare the host once (one entity, several ports), or make their `exportTo` disjoint"),
                );
            }
        },
    );
}

/// `address-conflict`: virtual IPs or CIDRs of different entities overlap, so the proxy
/// cannot tell by destination address which one a connection is for. Sorted ranges are
/// swept once.
pub(super) fn address_overlaps(inv: &Inventory, diags: &mut Diagnostics) {
    let mut ranges = Vec::new();
    let entities = inv
        .services
        .iter()
        .map(|s| (&s.name, &s.addresses, &s.origin))
        .chain(inv.externals.iter().map(|e| (&e.name, &e.addresses, &e.origin)));
    for (name, addresses, origin) in entities {
        for (i, a) in addresses.iter().enumerate() {
            if let Some((v6, lo, hi)) = crate::model::names::ip_range(a) {
                // The origin is built for a finding only: two allocations per address.
                ranges.push((v6, lo, hi, name, a, (origin, i)));
            }
        }
    }
    ranges.sort_by_key(|r| (r.0, r.1, r.2));
    // The range reaching furthest so far: any later range starting inside it overlaps it.
    let mut reach: Option<usize> = None;
    for j in 0..ranges.len() {
        if let Some(r) = reach {
            let (cur, prev) = (&ranges[j], &ranges[r]);
            if cur.0 == prev.0 && cur.1 <= prev.2 && cur.3 != prev.3 {
                let at = |(origin, i): (&Origin, usize)| origin.child("addresses").index(i);
                diags.push(
                    Diagnostic::error(
                        "address-conflict",
                        at(cur.5),
                        format!("address `{}` overlaps `{}` of `{}`", cur.4, prev.4, prev.3),
                    )
                    .related(at(prev.5), "the other address")
                    .help("the proxy picks the entity by destination address; give each its own addresses"),
                );
            }
        }
        if reach.is_none_or(|r| ranges[r].0 != ranges[j].0 || ranges[j].2 > ranges[r].2) {
            reach = Some(j);
        }
    }
}

/// `duplicate-instance-address`: one VM address (on one network) appears in two services.
/// Each service then gets its own WorkloadEntry for the same machine, and istiod matches a
/// proxy to only one of them by address, so the other service's identity and labels do not
/// apply to it.
pub(super) fn shared_instance_addresses(inv: &Inventory, diags: &mut Diagnostics) {
    let vms = inv.services.iter().map(|s| s.vms.len()).sum();
    // Each VM as (service, VM) positions: 8 bytes, where a table of keys was 48 and more.
    let mut places: Vec<(u32, u32)> = Vec::with_capacity(vms);
    for (i, s) in inv.services.iter().enumerate() {
        places.extend((0..s.vms.len() as u32).map(|k| (i as u32, k)));
    }
    let at = |(s, k): (u32, u32)| {
        let s = &inv.services[s as usize];
        (s, &s.vms[k as usize])
    };
    // Hashed while the VMs were built (`Workload::address_hash`).
    let hashes = places.iter().enumerate().map(|(i, &p)| (u64::from(at(p).1.address_hash), i as u32)).collect();
    super::repeated_hashed(
        hashes,
        |i| {
            let (_, vm) = at(places[i]);
            (vm.network(), &*vm.address)
        },
        |members| {
            // Every later VM of another service is reported against the first.
            let (other, other_vm) = at(places[members[0]]);
            for &i in &members[1..] {
                let (s, vm) = at(places[i]);
                if s.name == other.name {
                    continue;
                }
                diags.push(
                    Diagnostic::warning(
                        "duplicate-instance-address",
                        s.vm_origin(vm).child("address"),
                        format!("VM `{}` is also an instance of service `{}`", vm.address, other.name),
                    )
                    .related(other.vm_origin(other_vm).child("address"), "declared here too")
                    .help("istiod matches a VM's proxy to one WorkloadEntry by address; run one service per VM, or put the VMs on different networks if they really are different machines"),
                );
            }
        },
    );
}

/// `tcp-port-clash`: two entities without addresses share an opaque TCP port. Their
/// proxies' listener is `0.0.0.0:<port>` for both, and one takes all the traffic. An entity
/// that shares its port with no one gets `tcp-without-address` instead: one TCP service
/// away from the same problem.
pub(super) fn tcp_port_clashes<'a>(inv: &'a Inventory, vis: &'a Visibilities, diags: &mut Diagnostics) {
    let opaque = |ports: &'a [crate::model::Port]| ports.iter().filter(|p| p.protocol.is_opaque());
    let mut by_port: BTreeMap<u32, Vec<(&str, &Visibility, Origin)>> = BTreeMap::new();
    for (i, s) in inv.services.iter().enumerate().filter(|(_, s)| s.service_entry && s.addresses.is_empty()) {
        for p in opaque(&s.ports) {
            by_port.entry(p.number).or_default().push((
                &s.name,
                vis.service(i),
                s.origin.child("ports").child(&p.name),
            ));
        }
    }
    for (i, e) in inv.externals.iter().enumerate().filter(|(_, e)| e.addresses.is_empty()) {
        if e.endpoints.iter().any(|w| w.kind == crate::model::names::AddressKind::Unix) {
            continue;
        }
        for p in opaque(&e.ports) {
            by_port.entry(p.number).or_default().push((
                &e.name,
                vis.external(i),
                e.origin.child("ports").child(&p.name),
            ));
        }
    }
    let mut clashing: std::collections::HashSet<&str> = std::collections::HashSet::new();
    let mut alone: Vec<(u32, &str, &Origin)> = Vec::new();
    for (port, users) in &by_port {
        // Who sees this port's users: entries seen by all namespaces, and per namespace.
        let (mut all, mut visible, mut per_ns) = (0usize, 0usize, HashMap::<&str, usize>::new());
        for (_, v, _) in users {
            match v {
                Visibility::All => all += 1,
                Visibility::Only(set) => set.iter().for_each(|n| *per_ns.entry(n).or_default() += 1),
            }
            visible += usize::from(v.overlaps(&Visibility::All));
        }
        let mut seen = OverlapIndex::default();
        for (j, (name, v, at)) in users.iter().enumerate() {
            // Shared with someone else: an All entry sees every namespace a user is seen in.
            let shared = match v {
                Visibility::All => visible > 1,
                Visibility::Only(set) => all > 0 || set.iter().any(|n| per_ns[n] > 1),
            };
            if !shared {
                alone.push((*port, name, at));
            }
            let first = seen.first_overlapping(v).map(|i| &users[i]);
            seen.insert(v, j);
            if let Some((first, _, first_at)) = first {
                clashing.insert(name);
                clashing.insert(first);
                diags.push(
                    Diagnostic::warning(
                        "tcp-port-clash",
                        at.clone(),
                        format!("TCP port {port} of `{name}` is also used by `{first}`, and neither has an address"),
                    )
                    .related(first_at.clone(), "the other TCP port")
                    .help("Istio tells opaque TCP services apart by destination address only: give each a virtual IP in `addresses` (or set `vipRange`), or make their `exportTo` disjoint"),
                );
            }
        }
    }
    alone.retain(|(_, name, _)| !clashing.contains(name));
    alone.sort_by_key(|(_, _, at)| (at.file.clone(), at.path.clone()));
    alone.dedup_by_key(|(_, name, _)| *name);
    for (port, name, at) in alone {
        diags.push(
            Diagnostic::warning(
                "tcp-without-address",
                at.clone(),
                format!("`{name}` has TCP port {port} but no `addresses`"),
            )
            .help("without a virtual IP the proxy listens on 0.0.0.0:<port> for it, which the next TCP service on that port takes over (`istioctl analyze` IST0134): add `addresses`, or set `vipRange` in meshgen.yaml"),
        );
    }
}

/// `dependency-not-visible`: a consumer depends on an entity whose `exportTo` hides it from
/// the consumer's namespace; the calls would bypass its routing and policy (or fail).
pub(super) fn dependency_visibility(inv: &Inventory, graph: &MeshGraph, vis: &Visibilities, diags: &mut Diagnostics) {
    for (i, s) in inv.services.iter().enumerate() {
        // The targets the graph resolved, rather than each name looked up again.
        for (dep, node) in s.depends_on.iter().zip(graph.targets(i)) {
            let Some(node) = node else { continue };
            // Visible (the common case) decides without reading the target's entry. A
            // pods-only service without a ServiceEntry is reached through its Kubernetes
            // Service, which exportTo does not hide.
            if !vis.of_node(node).includes(&s.namespace) && node.service(inv).is_none_or(|t| t.service_entry) {
                diags.push(
                    Diagnostic::error(
                        "dependency-not-visible",
                        dep.origin(s),
                        format!(
                            "`{}` (namespace `{}`) cannot see `{}`: its exportTo leaves `{}` out",
                            s.name, s.namespace, dep.target, s.namespace
                        ),
                    )
                    .related(node.origin(inv).child("exportTo"), "exportTo is here")
                    .help(format!(
                        "add `{}` to the exportTo of `{}`, or write `exportTo: consumers`",
                        s.namespace, dep.target
                    )),
                );
            }
        }
    }
}

/// `unused-external`: an external API nothing depends on, in an inventory that declares its
/// dependencies (without any `dependsOn`, the graph says nothing about use).
pub(super) fn unused_externals(inv: &Inventory, graph: &MeshGraph, diags: &mut Diagnostics) {
    // A misspelt dependency already has its error; the API it meant is not unused.
    if inv.services.iter().all(|s| s.depends_on.is_empty()) || diags.has_errors() {
        return;
    }
    for e in &inv.externals {
        if graph.consumers(&e.name).is_empty() {
            diags.push(
                Diagnostic::warning(
                    "unused-external",
                    e.origin.clone().key(),
                    format!("nothing depends on external API `{}`", e.name),
                )
                .help("add it to the `dependsOn` of the services that call it, or remove it"),
            );
        }
    }
}

/// `subset-selects-nothing` and the weight rules of splits.
pub(super) fn subsets_and_splits(inv: &Inventory, diags: &mut Diagnostics) {
    for s in &inv.services {
        // With pods, a subset may select pods meshgen cannot see; only VM-only services are
        // known completely.
        if s.pods.is_none() {
            for sub in &s.subsets {
                if !sub.selects_a_vm {
                    diags.push(
                        Diagnostic::warning(
                            "subset-selects-nothing",
                            s.origin.child("subsets").child(&sub.name),
                            format!("subset `{}` selects none of the VMs of `{}`", sub.name, s.name),
                        )
                        .help("traffic routed to it fails with 503 (no healthy upstream); fix its labels or the VMs' labels"),
                    );
                }
            }
        }
        for r in &s.routes {
            if r.destinations.len() < 2 {
                continue;
            }
            // u64: each weight fits in 32 bits, their sum may not.
            let total: u64 = r.destinations.iter().map(|d| u64::from(d.weight.unwrap_or(0))).sum();
            // An all-zero split is refused while reading the route (`split-all-zero`).
            if total != 100 && total != 0 {
                diags.push(
                    Diagnostic::warning(
                        "split-not-100",
                        r.origin.child(r.weights_at),
                        format!("the weights of this split add up to {total}, not 100"),
                    )
                    .help("Istio shares traffic in proportion to the weights, but a split written in percent that misses 100 is usually a typo"),
                );
            }
        }
    }
}

/// `missing-service-account`, `workload-group-without-service-account` and
/// `tls-without-ca`.
pub(super) fn identities_and_tls(inv: &Inventory, diags: &mut Diagnostics) {
    for s in inv.services.iter() {
        // Counted, not collected: a vector per service for a rare finding.
        let mut without = s.vms.iter().filter(|vm| vm.service_account().is_none()).map(|vm| &*vm.address);
        if s.sidecar
            && let Some(first) = without.next()
        {
            let count = 1 + without.count();
            diags.push(
                Diagnostic::warning(
                    "missing-service-account",
                    s.origin.clone().key(),
                    format!("{count} VM(s) of `{}` have no service account (first: `{first}`)", s.name),
                )
                .help("set `serviceAccount`: the VM's sidecar identity, used by mTLS and authorization; without it the proxy runs as `default`"),
            );
        }
        // `istioctl x workload entry configure` cannot bootstrap a VM from such a group.
        if s.workload_group.as_ref().is_some_and(|wg| wg.service_account.is_none()) {
            diags.push(
                Diagnostic::warning(
                    "workload-group-without-service-account",
                    s.origin.child("workloadGroup"),
                    format!("the WorkloadGroup of `{}` has no service account", s.name),
                )
                .help("set `serviceAccount` on the service (or `workloadGroup.serviceAccount`): `istioctl x workload entry configure` needs it to give registering VMs their identity"),
            );
        }
        // Each setting's path is formatted only for a finding.
        tls_without_ca(s.tls.as_deref(), &s.origin, || "tls".to_string(), &s.name, diags);
        for p in &s.port_policies {
            let at = || format!("ports.{}.tls", port_name(&s.ports, p.port));
            tls_without_ca(p.tls.as_ref(), &s.origin, at, &s.name, diags);
        }
        for x in &s.subsets {
            let Some(policy) = &x.policy else { continue };
            tls_without_ca(policy.tls.as_ref(), &s.origin, || format!("subsets.{}.tls", x.name), &s.name, diags);
        }
    }
    for e in &inv.externals {
        // SE-31: the address cannot tell the hosts apart on a TCP-family port.
        let tcp_family = e.ports.iter().any(|p| !p.protocol.is_http());
        let dns = matches!(e.resolution, crate::model::Resolution::Dns | crate::model::Resolution::DnsRoundRobin);
        if dns && tcp_family && e.hosts.len() > 1 && !e.addresses.is_empty() {
            diags.push(
                Diagnostic::warning(
                    "address-with-several-hosts",
                    e.origin.child("addresses"),
                    format!("`{}` gives {} hosts one address on a TCP or TLS port", e.name, e.hosts.len()),
                )
                .help("Istio warns that the address cannot tell these hosts apart: split the hosts into APIs of their own, or drop `addresses`"),
            );
        }
        tls_without_ca(e.tls.as_deref(), &e.origin, || "tls".to_string(), &e.name, diags);
        for p in &e.port_policies {
            let at = || format!("ports.{}.tls", port_name(&e.ports, p.port));
            tls_without_ca(p.tls.as_ref(), &e.origin, at, &e.name, diags);
        }
    }
}

fn port_name(ports: &[crate::model::Port], number: u32) -> &str {
    ports.iter().find(|p| p.number == number).map_or("", |p| p.name.as_str())
}

/// TLS the proxy originates without a CA: IST0128/IST0129. A `credentialName` secret
/// carries its own CA (`ca.crt`), and Istio forbids `caCertificates` beside it, so there is
/// nothing to fix there; `insecureSkipVerify` is the very thing this warns about.
fn tls_without_ca(
    t: Option<&crate::model::ClientTls>,
    origin: &crate::diag::Origin,
    at: impl FnOnce() -> String,
    name: &str,
    diags: &mut Diagnostics,
) {
    let Some(t) = t.filter(|t| t.originates()) else { return };
    if t.ca_certificates.is_none() && t.credential_name.is_none() {
        diags.push(
            Diagnostic::warning(
                "tls-without-ca",
                origin.child(&at()),
                format!("the proxy originates TLS to `{name}` without a CA to verify the server"),
            )
            .help("add `caCertificates` (e.g. `/etc/ssl/certs/ca-certificates.crt`); `istioctl analyze` reports this as IST0128/IST0129"),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::model::names::ip_range as range;

    #[test]
    fn ranges() {
        assert_eq!(range("10.0.0.0/24"), Some((false, 0x0a00_0000, 0x0a00_00ff)));
        assert_eq!(range("10.0.0.7"), Some((false, 0x0a00_0007, 0x0a00_0007)));
        assert_eq!(range("0.0.0.0/0").map(|r| r.2), Some(0xffff_ffff));
        assert_eq!(range("::/0").map(|r| r.2), Some(u128::MAX));
        assert_eq!(range("nope"), None);
    }
}
