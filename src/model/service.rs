//! Builds a [`Service`] from its raw form: derives the host, selector, VM names and subsets,
//! merges the traffic defaults, and checks every field.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::build::Shared;
use super::names::{self, AddressKind};
use super::raw::{Labels, RawAuthorization, RawDependency, RawService, RawVm, RawWorkloadGroup, ShortOr};
use super::routes;
use super::tls::{self, Owner};
use super::validate::{Checker, Place, shown};
use super::{Caller, ClientTls, Dependency, Port, Project, Resolution, Service, Subset, Workload, WorkloadGroup};
use crate::diag::{Diagnostics, Origin};

/// Validates one service; `None` when it has errors (they are in `diags`).
pub(super) fn build(
    project: &Project,
    name: &str,
    doc_ns: &str,
    mut raw: RawService,
    origin: Origin,
    shared: &mut Shared,
    diags: &mut Diagnostics,
) -> Option<Service> {
    let before = diags.counts().0;
    let mut cx = Checker::new(diags);
    let namespace = cx.entity_namespace(raw.namespace.as_deref(), doc_ns, &origin);

    let host = match &raw.host {
        Some(h) => cx.mesh_host(h, false, &origin.at("host")).unwrap_or_else(|| h.clone()),
        None => format!("{name}.{namespace}.svc.cluster.local"),
    };
    let ports = cx.ports(raw.ports.as_ref(), &origin.at("ports"));
    if let Some(sa) = &raw.service_account {
        cx.service_account(sa, &origin.at("serviceAccount"));
    }
    // `MESH_EXTERNAL` says the workloads are outside the mesh: Istio never applies its auto
    // mutual TLS to such a host and enforces no policy at it (the ServiceEntry reference's
    // `Location`), so they run no sidecar and have no Istio identity.
    let outside = raw.location.as_deref() == Some("MESH_EXTERNAL");
    let sidecar = raw.sidecar.unwrap_or(project.defaults.sidecar && !outside);
    if outside && raw.sidecar == Some(true) {
        cx.error(
            "invalid-value",
            origin.child("sidecar"),
            "`location: MESH_EXTERNAL` says the workloads are outside the mesh, where they run no sidecar",
            Some("remove `sidecar: true` (the VMs then get `security.istio.io/tlsMode: disabled` and no identity), or remove `location` if they run Istio's sidecar".into()),
        );
    }

    if let Some(l) = &raw.labels {
        cx.labels(l, &origin.at("labels"));
    }
    if let Some(p) = &raw.pods {
        cx.selector(p, &origin.at("pods"));
    }
    // One selector spans the pods and the VMs' WorkloadEntries (the migration case).
    let selector: Labels = raw
        .pods
        .clone()
        .or_else(|| raw.labels.clone())
        .unwrap_or_else(|| Labels::from([("app".to_string(), name.to_string())]));
    if let Some(net) = &raw.network {
        cx.network(net, &origin.at("network"));
    }

    // Taken out of the raw service: each VM's strings move into its workload.
    let raw_vms = raw.vms.take();
    let declares_vms = raw_vms.is_some();
    let mut vms: Vec<Workload> = Vec::with_capacity(raw_vms.as_ref().map_or(0, Vec::len));
    // The first VM of each address and of each name, by hash: a scan of the VMs before each
    // new one would be quadratic in a service's VMs.
    let (mut by_address, mut by_name) = (FirstOf::default(), FirstOf::default());
    let vms_at = origin.at("vms");
    let mut label_sets = LabelSets::new();
    for (i, vm) in raw_vms.into_iter().flatten().enumerate() {
        let at = |w: &Workload| w.origin_in(&vms_at.origin());
        let common = (&selector, &mut label_sets, &mut *shared);
        if let Some(w) = vm_workload(&mut cx, name, vm, &raw, common, &ports, sidecar, &vms_at.nth(i), i) {
            if let Some(other) = by_address.find(&vms, &w.address, |o| &o.address) {
                let d = crate::diag::Diagnostic::error(
                    "duplicate-address",
                    at(&w).child("address"),
                    format!("address `{}` is listed twice", w.address),
                )
                .related(at(other).child("address"), "first listed here")
                .help("each VM has its own address; remove the duplicate");
                cx.push(d);
                continue;
            }
            if let Some(other) = by_name.find(&vms, &w.name, |o| &o.name) {
                let d =
                    crate::diag::Diagnostic::error("duplicate-name", at(&w), format!("two VMs are named `{}`", w.name))
                        .related(at(other), "the other one");
                cx.push(d.help("set distinct `name`s"));
                continue;
            }
            vms.push(w);
            by_address.add(&vms, |o| &o.address);
            by_name.add(&vms, |o| &o.name);
        }
    }
    vms.sort_by(|a, b| a.name.cmp(&b.name));

    let inherits_outlier = project.defaults.traffic.outlier_detection.is_some();
    let subsets = subsets(&mut cx, &raw, &vms, inherits_outlier, &origin);
    let mut addresses = Vec::new();
    let addresses_at = origin.at("addresses");
    for (i, a) in raw.addresses.iter().flatten().enumerate() {
        if cx.ip_or_cidr(a, &addresses_at.nth(i)) {
            addresses.push(a.clone());
        }
    }
    let resolution = if vms.iter().any(|v| v.kind == AddressKind::Dns) { Resolution::Dns } else { Resolution::Static };
    if resolution == Resolution::Dns && addresses.iter().any(|a| a.contains('/')) {
        cx.error("invalid-value", origin.child("addresses"), "CIDR addresses need IP VMs", Some("VMs known by DNS name make the ServiceEntry use DNS resolution, which Istio allows only with single IP addresses".into()));
    }

    let workload_group = raw.workload_group.as_deref().map(|ShortOr(wg)| {
        let wo = origin.at("workloadGroup");
        if let Some(p) = &wg.probe {
            probe(&mut cx, p, &wo.at("probe"));
        }
        Box::new(workload_group(&mut cx, wg, &raw, &selector, &vms, &ports, &wo))
    });
    if workload_group.is_some() && !declares_vms && raw.pods.is_some() {
        cx.error(
            "invalid-value",
            origin.child("workloadGroup"),
            "a WorkloadGroup describes VMs, but this service has only pods",
            Some("remove `workloadGroup`".into()),
        );
    }
    if workload_group.is_some() && !sidecar {
        let help = if outside {
            "remove `workloadGroup`: VMs outside the mesh (`MESH_EXTERNAL`) do not register with Istio"
        } else {
            "remove `workloadGroup`, or run the VMs with a sidecar"
        };
        cx.error(
            "invalid-value",
            origin.child("workloadGroup"),
            "a WorkloadGroup registers VMs through their sidecar, but this service runs without one",
            Some(help.into()),
        );
    }

    let own = raw.traffic.take().map(|t| *t).unwrap_or_default();
    cx.traffic(&own, &origin.at("traffic"), inherits_outlier);
    let traffic = shared.traffic(&own, &project.defaults.traffic);
    let traffic_written = super::traffic::Written::of(&own);
    let written_tls =
        raw.tls.as_deref().and_then(|ShortOr(t)| tls::client_tls(&mut cx, t, Owner::Service, &origin.at("tls")));
    let port_policies =
        tls::port_policies(&mut cx, raw.ports.as_ref(), &ports, Owner::Service, inherits_outlier, &origin.at("ports"));
    let tls = client_tls(&mut cx, written_tls, &raw, &vms, sidecar, (&ports, &port_policies), &subsets, &origin);

    let scope = routes::Scope { subsets: &subsets, ports: &ports, what: "service" };
    let routes = routes::routes(&mut cx, raw.routes.take().unwrap_or_default(), &scope, &origin);

    let mut subject_alt_names = raw.subject_alt_names.clone().unwrap_or_default();
    subject_alt_names.sort();
    subject_alt_names.dedup();
    let declares_dependencies = raw.depends_on.is_some();
    let depends_on = dependencies(raw.depends_on.take());
    let authorization = authorization(&mut cx, raw.authorization.as_ref(), &origin.at("authorization"));
    let export_to = match &raw.export_to {
        Some(e) => cx.export_to(&e.0, &origin.at("exportTo")),
        None => project.default_export_to(&namespace),
    };
    let ingress = raw.ingress.as_deref().and_then(|ShortOr(i)| {
        let exposed = super::ingress::Exposed { name, ports: &ports, routes: &routes };
        super::ingress::build(&mut cx, i, &exposed, &origin.child("ingress")).map(Box::new)
    });
    let gateway_ns = &project.ingress_gateway.namespace;
    let export_to = super::ingress::export_to(export_to, raw.ingress.is_some(), gateway_ns, &namespace);

    let service_entry =
        raw.service_entry != Some(false) && (!vms.is_empty() || raw.host.is_some() || workload_group.is_some());
    if raw.service_entry == Some(true) && !service_entry {
        cx.error(
            "invalid-value",
            origin.child("serviceEntry"),
            "`serviceEntry: true` needs `vms`, a `host` or a `workloadGroup`",
            Some("a pods-only service without `host` is registered by its Kubernetes Service; set `host` to give it a ServiceEntry".into()),
        );
    }
    let location = match raw.location.as_deref() {
        None | Some("MESH_INTERNAL") => "MESH_INTERNAL",
        Some("MESH_EXTERNAL") => "MESH_EXTERNAL",
        Some(other) => {
            cx.one_of("location", other, &["MESH_INTERNAL", "MESH_EXTERNAL"], &origin.child("location"));
            "MESH_INTERNAL"
        }
    };
    if raw.location.is_some() && !service_entry {
        cx.error(
            "invalid-value",
            origin.child("location"),
            "`location` is a ServiceEntry field, and this service has none",
            None,
        );
    }
    // Without a ServiceEntry these would be silently lost: the Kubernetes Service owns them.
    for (field, set) in [("addresses", raw.addresses.is_some()), ("subjectAltNames", raw.subject_alt_names.is_some())] {
        if !service_entry && set {
            let (why, help) = if raw.service_entry == Some(false) {
                ("and this service has `serviceEntry: false`", "remove the field: whatever registers the host owns it")
            } else {
                (
                    "which a pods-only service gets only with a `host`",
                    "set `host` to register the pods under their own host, or remove the field (the Kubernetes Service already provides it)",
                )
            };
            cx.error(
                "invalid-value",
                origin.child(field),
                format!("`{field}` needs a ServiceEntry, {why}"),
                Some(help.into()),
            );
        }
    }
    if !service_entry && raw.pods.is_none() && vms.is_empty() {
        cx.error(
            "missing-field",
            origin.clone(),
            format!("service `{name}` has no workloads"),
            Some("add `vms`, `pods` (a label selector), or both".into()),
        );
    }
    let names = cx.object_names(raw.names.as_ref(), &origin.at("names"));
    if diags.counts().0 > before {
        return None;
    }
    Some(Service {
        name: name.to_string(),
        namespace,
        origin,
        host,
        service_entry,
        location,
        ports,
        service_account: if sidecar { raw.service_account.take().map(String::into_boxed_str) } else { None },
        sidecar,
        selector,
        vms,
        pods: raw.pods.map(Box::new),
        subsets,
        addresses,
        subject_alt_names: subject_alt_names.into_boxed_slice(),
        resolution,
        workload_group,
        traffic_written,
        traffic,
        tls,
        port_policies,
        network: raw.network.take().map(String::into_boxed_str),
        routes,
        declares_dependencies,
        depends_on,
        authorization,
        ingress,
        export_to,
        names,
    })
}

/// The dependency list, each entry with its position. Port names are checked against the
/// target by the graph stage, which knows the targets.
pub(super) fn dependencies(raw: Option<Vec<ShortOr<RawDependency>>>) -> Vec<Dependency> {
    // Moved out of the raw form, which is dropped next: five names per service to copy.
    // Into a vector of their own, sized: collected from the raw one, the list would keep
    // its allocation, grown by doubling for entries half again as large (a tenth of a
    // 100,000-service model's memory went there).
    let raw = raw.unwrap_or_default();
    let mut out = Vec::with_capacity(raw.len());
    out.extend(raw.into_iter().enumerate().map(|(i, ShortOr(d))| Dependency {
        target: d.name.into(),
        ports: d.ports.map(Box::new),
        index: super::position(i),
    }));
    out
}

/// The extra callers of `authorization.from`: each names exactly one principal or namespace.
fn authorization(cx: &mut Checker<'_>, raw: Option<&RawAuthorization>, origin: &dyn Place) -> Vec<Caller> {
    let mut out = Vec::new();
    let from = origin.at("from");
    for (i, src) in raw.map(|a| &a.from[..]).unwrap_or_default().iter().enumerate() {
        let at = from.nth(i);
        match (&src.principal, &src.namespace) {
            (Some(p), None) => {
                if cx.principal(p, &at.at("principal")) {
                    out.push(Caller::Principal(p.clone()));
                }
            }
            (None, Some(ns)) => {
                if cx.namespace(ns, &at.at("namespace")) {
                    out.push(Caller::Namespace(ns.clone()));
                }
            }
            _ => cx.error(
                "invalid-value",
                at.origin(),
                "a source names exactly one of `principal` or `namespace`",
                Some(
                    "write `- principal: cluster.local/ns/<namespace>/sa/<account>` or `- namespace: <namespace>`"
                        .into(),
                ),
            ),
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The first of a list's items with each value of one of their fields. A short list is
/// scanned: nearly every service has a few VMs, and hashing each VM's address and name into
/// two tables cost more than comparing them with a few others. Past [`FirstOf::SCAN`] items
/// the values are indexed by hash (the list owns the values, so they cannot be the keys): a
/// scan before each new item would be quadratic in a service's VMs.
#[derive(Default)]
struct FirstOf(Option<foldhash::HashMap<u64, usize>>);

impl FirstOf {
    /// The most items scanned.
    const SCAN: usize = 16;

    fn hash(value: &str) -> u64 {
        use std::hash::BuildHasher as _;
        foldhash::fast::FixedState::with_seed(0).hash_one(value)
    }

    /// Records that the last of `items` has its `field`'s value (unless an earlier item has
    /// its hash).
    fn add<T>(&mut self, items: &[T], field: impl Fn(&T) -> &str) {
        match &mut self.0 {
            Some(index) => {
                index.entry(FirstOf::hash(field(&items[items.len() - 1]))).or_insert(items.len() - 1);
            }
            None if items.len() > FirstOf::SCAN => {
                let mut index = foldhash::HashMap::default();
                for (at, item) in items.iter().enumerate() {
                    index.entry(FirstOf::hash(field(item))).or_insert(at);
                }
                self.0 = Some(index);
            }
            None => {}
        }
    }

    /// The first item whose `field` is `value`.
    fn find<'a, T>(&self, items: &'a [T], value: &str, field: impl Fn(&T) -> &str) -> Option<&'a T> {
        let Some(index) = &self.0 else { return items.iter().find(|i| field(i) == value) };
        let &at = index.get(&FirstOf::hash(value))?;
        if field(&items[at]) == value {
            return Some(&items[at]);
        }
        // Two values with one hash: rare enough to look the slow way.
        items.iter().find(|i| field(i) == value)
    }
}

#[allow(clippy::too_many_arguments)]
fn vm_workload(
    cx: &mut Checker<'_>,
    service: &str,
    mut vm: RawVm,
    raw: &RawService,
    (selector, label_sets, shared): (&Labels, &mut LabelSets, &mut Shared),
    ports: &[Port],
    sidecar: bool,
    vo: &dyn Place,
    index: usize,
) -> Option<Workload> {
    let kind = match names::address(&vm.address) {
        Ok(AddressKind::Unix) => {
            cx.error(
                "invalid-value",
                vo.at("address").origin(),
                format!("VM address `{}` is a unix socket", shown(&vm.address)),
                Some("VMs are reached over the network: give an IP address or DNS name".into()),
            );
            return None;
        }
        Ok(k) => k,
        Err(e) => {
            cx.error(
                "invalid-value",
                vo.at("address").origin(),
                format!("VM address `{}` {e}", shown(&vm.address)),
                Some("give an IP address (`10.0.1.11`) or a DNS name (`vm1.corp.example`)".into()),
            );
            return None;
        }
    };
    let name = match vm.name {
        Some(n) => {
            if !cx.object_name(&n, &vo.at("name")) {
                return None;
            }
            n
        }
        None => {
            // Sized for the slug of an address, which is never longer than the address.
            let mut derived = String::with_capacity(service.len() + 1 + vm.address.len());
            derived.push_str(service);
            derived.push('-');
            names::slug_into(&mut derived, &vm.address);
            if derived.len() > 253 {
                cx.error(
                    "invalid-value",
                    vo.at("address").origin(),
                    "the WorkloadEntry name derived from this address is too long",
                    Some("set `name`".into()),
                );
                return None;
            }
            derived
        }
    };
    let labels = match label_sets.iter().rev().take(8).find(|(own, _)| *own == vm.labels) {
        // Checked and packed for an earlier VM of the service.
        Some((_, all)) => Arc::clone(all),
        None => {
            if let Some(own) = &vm.labels
                && !workload_labels(cx, own, selector, &vo.at("labels"))
            {
                return None;
            }
            // Packed once, from every source in order of precedence (a later pair wins).
            let tls_mode = (!sidecar).then_some(
                // Without this label, a WorkloadEntry with a service account is assumed to have a sidecar.
                ("security.istio.io/tlsMode", "disabled"),
            );
            let all: Labels = selector
                .iter()
                .chain(raw.labels.iter().flatten())
                .chain(vm.labels.iter().flatten())
                .chain(tls_mode)
                .collect();
            let all = share(label_sets, all);
            label_sets.push((vm.labels.take(), Arc::clone(&all)));
            all
        }
    };
    let locality = vm.locality.as_deref().map(|l| shared.locality(cx, l, &vo.at("locality")));
    let network = vm.network.as_deref().or(raw.network.as_deref());
    if let Some(n) = &vm.network {
        cx.network(n, &vo.at("network"));
    }
    if vm.weight == Some(0) {
        cx.error(
            "invalid-value",
            vo.at("weight").origin(),
            "weight 0 is not allowed",
            Some("weights start at 1; remove the VM to take it out of rotation".into()),
        );
    }
    let port_overrides = vm.ports.filter(|p| !p.is_empty());
    cx.port_overrides(port_overrides.as_ref().unwrap_or(&BTreeMap::new()), ports, &vo.at("ports"));
    if let Some(sa) = &vm.service_account {
        cx.service_account(sa, &vo.at("serviceAccount"));
        if !sidecar {
            let help = if raw.location.as_deref() == Some("MESH_EXTERNAL") {
                "remove `serviceAccount`: workloads outside the mesh (`MESH_EXTERNAL`) have no Istio identity"
            } else {
                "remove `serviceAccount`, or set `sidecar: true`"
            };
            cx.error(
                "invalid-value",
                vo.at("serviceAccount").origin(),
                "a VM without a sidecar has no service account identity",
                Some(help.into()),
            );
        }
    }
    let service_account = if sidecar { vm.service_account.as_deref().or(raw.service_account.as_deref()) } else { None };
    let identity = shared.identity(network, service_account);
    Some(Workload {
        name: name.into(),
        address_hash: super::address_hash(network, &vm.address),
        address: vm.address.into(),
        kind,
        labels,
        locality,
        identity,
        weight: vm.weight.and_then(std::num::NonZeroU32::new),
        ports: port_overrides.map(Box::new),
        index: super::position(index),
    })
}

fn subsets(
    cx: &mut Checker<'_>,
    raw: &RawService,
    vms: &[Workload],
    inherits_outlier: bool,
    origin: &Origin,
) -> Vec<Subset> {
    let mut out: BTreeMap<String, Subset> = BTreeMap::new();
    // One subset per `version` label value of the VMs, named after the version. A value
    // seen before makes the same subset again: skipped (most VMs share a few versions). Only
    // the first few values are remembered, so that a service of many versions stays linear.
    let mut seen: Vec<&str> = Vec::new();
    for vm in vms {
        if let Some(v) = vm.labels.get("version") {
            if seen.contains(&v) {
                continue;
            }
            if seen.len() < 8 {
                seen.push(v);
            }
            let name = names::slug(v);
            if names::port_name(&name).is_ok() {
                // Made from a VM's own label: it selects that VM.
                let labels = Labels::from([("version", v)]);
                out.insert(name.clone(), Subset { name, labels, policy: None, selects_a_vm: true });
            }
        }
    }
    let subsets_at = origin.at("subsets");
    for (name, written) in raw.subsets.iter().flatten() {
        let so = subsets_at.at(name);
        if let Err(e) = names::port_name(name) {
            cx.error(
                "invalid-value",
                so.as_key().origin(),
                format!("subset name `{}` {e}", shown(name)),
                Some("subset names are lowercase DNS labels, e.g. `v2`".into()),
            );
            continue;
        }
        let policy = tls::subset_policy(cx, written, inherits_outlier, &so);
        let labels_at = so.at("labels");
        let at: &dyn Place = if written.traffic.is_some() || written.tls.is_some() { &labels_at } else { &so };
        if cx.selector(&written.labels, at) {
            // VMs written alike share one label set (`Workload::labels`): each set is
            // compared once where they are next to each other.
            let selects_a_vm = vms.iter().enumerate().any(|(k, vm)| {
                let same_as_before = k > 0 && Arc::ptr_eq(&vm.labels, &vms[k - 1].labels);
                !same_as_before && written.labels.is_subset_of(&vm.labels)
            });
            let labels = written.labels.clone();
            out.insert(name.clone(), Subset { name: name.clone(), labels, policy, selects_a_vm });
        }
    }
    out.into_values().collect()
}

/// The service's client TLS: as written, else Istio's mutual TLS where every workload is a
/// VM with a sidecar. Where pods are involved it is left to Istio's auto mutual TLS, which
/// chooses per endpoint (a pod without a sidecar gets plain text); a host-wide
/// `ISTIO_MUTUAL` would break those pods.
#[allow(clippy::too_many_arguments)]
fn client_tls(
    cx: &mut Checker<'_>,
    written: Option<ClientTls>,
    raw: &RawService,
    vms: &[Workload],
    sidecar: bool,
    (declared, ports): (&[Port], &[super::PortPolicy]),
    subsets: &[Subset],
    origin: &Origin,
) -> Option<Arc<ClientTls>> {
    // Plain VMs cannot terminate Istio's mutual TLS: valid for Istio, broken at runtime.
    if !sidecar && !vms.is_empty() {
        let name = |n: u32| declared.iter().find(|d| d.number == n).map_or("", |d| d.name.as_str());
        let ports = ports.iter().filter_map(|p| p.tls.as_ref().map(|t| (t, format!("ports.{}.tls", name(p.port)))));
        let subsets = subsets
            .iter()
            .filter_map(|s| s.policy.as_ref()?.tls.as_ref().map(|t| (t, format!("subsets.{}.tls", s.name))));
        let written_at = written.as_ref().map(|t| (t, "tls".to_string()));
        for (t, at) in written_at.into_iter().chain(ports).chain(subsets) {
            if t.mode == "ISTIO_MUTUAL" {
                cx.error(
                    "istio-mutual-without-sidecar",
                    origin.child(&at),
                    "ISTIO_MUTUAL towards VMs that run without a sidecar: nothing terminates Istio's mutual TLS",
                    Some("remove the setting (clients then send plain text), or run the VMs with a sidecar (`sidecar: true`)".into()),
                );
            }
        }
    }
    if let Some(t) = written {
        return Some(Arc::new(t));
    }
    // MESH_EXTERNAL says the workloads are outside the mesh: no Istio identity to expect.
    let internal = raw.location.as_deref() != Some("MESH_EXTERNAL");
    (sidecar && internal && !vms.is_empty() && raw.pods.is_none()).then(ClientTls::istio_mutual)
}

/// The label sets of a service's VMs so far: each VM's own `labels` as written (valid) with
/// the whole set it makes. The VMs of a service nearly always write one set per version:
/// each is checked and packed once, and held once (a set is two allocations). Only the last
/// few are looked at, so that a service of many differently labelled VMs stays linear.
type LabelSets = Vec<(Option<Labels>, Arc<Labels>)>;

/// `labels`, or an equal whole set a VM of the service already holds (two VMs may write
/// different labels that make the same set).
fn share(sets: &LabelSets, labels: Labels) -> Arc<Labels> {
    match sets.iter().rev().take(8).find(|(_, all)| **all == labels) {
        Some((_, same)) => Arc::clone(same),
        None => Arc::new(labels),
    }
}

/// Labels a VM (or a registering one) adds to the selector: valid, and none contradicting the
/// selector, by which the service's ServiceEntry finds the VMs.
fn workload_labels(cx: &mut Checker<'_>, own: &Labels, selector: &Labels, at: &dyn Place) -> bool {
    if !cx.labels(own, at) {
        return false;
    }
    for (k, v) in own {
        if selector.get(k).is_some_and(|s| s != v) {
            cx.error(
                "invalid-value",
                at.at(k).origin(),
                format!("label `{k}: {}` contradicts the service selector `{k}: {}`", shown(v), &selector[k]),
                Some("the service's ServiceEntry selects its VMs by these labels; drop the override".into()),
            );
            return false;
        }
    }
    true
}

/// The WorkloadGroup's template: the group's own fields over the service's.
fn workload_group(
    cx: &mut Checker<'_>,
    wg: &RawWorkloadGroup,
    raw: &RawService,
    selector: &Labels,
    vms: &[Workload],
    ports: &[Port],
    wo: &dyn Place,
) -> WorkloadGroup {
    if let Some(l) = &wg.labels {
        workload_labels(cx, l, selector, &wo.at("labels"));
    }
    if let Some(l) = &wg.locality {
        cx.locality(l, &wo.at("locality"));
    }
    if let Some(n) = &wg.network {
        cx.network(n, &wo.at("network"));
    }
    if let Some(sa) = &wg.service_account {
        cx.service_account(sa, &wo.at("serviceAccount"));
    }
    if wg.weight == Some(0) {
        cx.error(
            "invalid-value",
            wo.at("weight").origin(),
            "weight 0 is not allowed",
            Some("weights start at 1".into()),
        );
    }
    let port_overrides = wg.ports.clone().unwrap_or_default();
    cx.port_overrides(&port_overrides, ports, &wo.at("ports"));
    WorkloadGroup {
        probe: wg.probe.clone(),
        labels: selector.iter().chain(raw.labels.iter().flatten()).chain(wg.labels.iter().flatten()).collect(),
        ports: port_overrides,
        locality: wg.locality.clone(),
        weight: wg.weight,
        // The service's network is what registering VMs join; the first static VM's is the
        // older fallback for services that set it per VM only.
        network: wg
            .network
            .clone()
            .or_else(|| raw.network.clone())
            .or_else(|| vms.iter().find_map(|v| v.network().map(String::from))),
        service_account: wg.service_account.clone().or_else(|| raw.service_account.clone()),
    }
}

fn probe(cx: &mut Checker<'_>, p: &super::raw::Probe, o: &dyn Place) {
    let methods = [p.http_get.is_some(), p.tcp_socket.is_some(), p.exec.is_some()].iter().filter(|m| **m).count();
    if methods != 1 {
        cx.error("invalid-value", o.origin(), "a probe needs exactly one of `httpGet`, `tcpSocket`, `exec`", None);
    }
    if let Some(h) = &p.http_get {
        cx.port_number(h.port, &o.at("httpGet").at("port"));
        if let Some(s) = &h.scheme {
            cx.one_of("scheme", s, &["HTTP", "HTTPS"], &o.at("httpGet").at("scheme"));
        }
    }
    if let Some(t) = &p.tcp_socket {
        cx.port_number(t.port, &o.at("tcpSocket").at("port"));
    }
    if let Some(e) = &p.exec {
        if e.command.is_empty() {
            cx.error("invalid-value", o.at("exec").at("command").origin(), "exec probe has no command", None);
        }
        for (i, _) in e.command.iter().enumerate().filter(|(_, c)| c.is_empty()) {
            cx.error("invalid-value", o.at("exec").at("command").nth(i).origin(), "an empty command word", None);
        }
    }
    // Istio's probe fields are 32-bit signed integers.
    for (f, v) in [
        ("initialDelaySeconds", p.initial_delay_seconds),
        ("timeoutSeconds", p.timeout_seconds),
        ("periodSeconds", p.period_seconds),
        ("successThreshold", p.success_threshold),
        ("failureThreshold", p.failure_threshold),
    ] {
        if v.is_some_and(|v| v > i32::MAX as u32) {
            cx.error("invalid-value", o.at(f).origin(), format!("`{f}` is above {}", i32::MAX), None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Caller, FirstOf};

    #[test]
    fn callers_sort_principals_first_then_by_name() {
        let (p, n) = (|s: &str| Caller::Principal(s.into()), |s: &str| Caller::Namespace(s.into()));
        let mut callers = vec![n("web"), p("td/ns/b/sa/x"), n("shop"), p("td/ns/a/sa/y"), n("web")];
        callers.sort();
        callers.dedup();
        assert_eq!(callers, [p("td/ns/a/sa/y"), p("td/ns/b/sa/x"), n("shop"), n("web")]);
    }

    #[test]
    fn first_of_finds_the_first_item_with_a_value_scanned_indexed_or_when_hashes_collide() {
        // Equal values are different items here; which one is found tells by address.
        let few = ["a", "b", "a", "c"];
        let many: Vec<String> = (0..40).map(|i| format!("v{}", i % 30)).collect();
        let is = |found: Option<&String>, i: usize| found.is_some_and(|f| std::ptr::eq(f, &many[i]));
        let mut first = FirstOf::default();
        let mut grown = Vec::new();
        for v in &many {
            grown.push(v.clone());
            first.add(&grown, |s| s);
            // Scanned while short, indexed once long: the same answers either way.
            assert_eq!(first.0.is_some(), grown.len() > FirstOf::SCAN);
        }
        assert!(is(first.find(&many, "v3", |s| s), 3));
        assert!(is(first.find(&many, "v29", |s| s), 29));
        assert_eq!(first.find(&many, "v30", |s| s), None);
        let mut short = FirstOf::default();
        for n in 1..=few.len() {
            short.add(&few[..n], |s| s);
        }
        assert!(short.find(&few, "a", |s| s).is_some_and(|f| std::ptr::eq(f, &few[0])));
        assert_eq!(short.find(&few, "d", |s| s), None);
        // A value whose hash leads to an item with another value (a collision) is still found.
        let collided = FirstOf(Some([(FirstOf::hash("v1"), 0)].into_iter().collect()));
        assert!(is(collided.find(&many, "v1", |s| s), 1));
    }
}

#[cfg(test)]
mod sizes {
    /// A service's five VMs fit a 448-byte allocation (mimalloc's size class; 96 bytes a VM
    /// would take 512): the workload's small fields share its last eight-byte word.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_workload_is_88_bytes() {
        assert_eq!(std::mem::size_of::<crate::model::Workload>(), 88);
    }
}
