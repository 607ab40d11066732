//! Istio objects to inventory entities, grouped by host: a ServiceEntry that selects
//! workloads (or whose WorkloadEntries exist) becomes a service with its VMs and
//! WorkloadGroup, any other ServiceEntry an external API, and the DestinationRules and
//! VirtualServices of a host join the entity that declares it (or a service for a host
//! registered elsewhere, such as a Kubernetes Service). Every entity keeps its objects'
//! names (`names`, `vms[].name`), and what every entity shares goes to the project's
//! `defaults`. Gateways and the VirtualServices bound to them become an external API's
//! `egress` or a service's `ingress` (`gateway`). Nothing here has to be exact: `verify`
//! compares what the draft builds with the input and keeps the rest as patches.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::read::Object;
use super::{NoteKind, Project, Report};

mod gateway;

/// An entity being drafted.
#[derive(Debug)]
struct Entity {
    name: String,
    namespace: String,
    external: bool,
    /// Hosts it answers for, fully qualified.
    hosts: Vec<String>,
    /// Port name and number, as declared.
    ports: Vec<(String, u64)>,
    body: Map<String, Value>,
    /// Kinds of the objects it took, so that a second one of a kind is refused.
    kinds: BTreeSet<String>,
}

/// The draft of the objects: entities by namespace and the project file.
pub(crate) fn draft(objects: &[Object], report: &mut Report) -> Project {
    let mut entities: Vec<Entity> = Vec::new();
    let mut taken = BTreeSet::new();
    let mut used = vec![false; objects.len()];
    let egress_hosts = gateway::egress_hosts(objects);
    for (i, se) in objects.iter().enumerate().filter(|(_, o)| o.kind == "ServiceEntry") {
        used[i] = true;
        let e = service_entry(se, objects, &mut used, &mut taken);
        entities.push(e);
    }
    // WorkloadEntries no ServiceEntry selects join a host registered elsewhere.
    for (i, we) in objects.iter().enumerate() {
        if used[i] || we.kind != "WorkloadEntry" {
            continue;
        }
        let labels = we.spec().get("labels").and_then(Value::as_object).cloned().unwrap_or_default();
        let app = labels.get("app").and_then(Value::as_str).unwrap_or(&we.name).to_string();
        let mut e = new_entity(&app, &we.namespace, false, &mut taken);
        e.hosts.push(format!("{}.{}.svc.cluster.local", e.name, e.namespace));
        e.body.insert("serviceEntry".into(), false.into());
        if app != e.name {
            e.body.insert("labels".into(), json!({"app": app}));
        }
        let selector: Map<String, Value> = [("app".to_string(), Value::from(app.clone()))].into_iter().collect();
        let members: Vec<usize> = (i..objects.len())
            .filter(|&j| !used[j] && objects[j].kind == "WorkloadEntry" && objects[j].namespace == we.namespace)
            .filter(|&j| selects(&selector, objects[j].spec().get("labels")))
            .collect();
        let members = if members.is_empty() { vec![i] } else { members };
        for &j in &members {
            used[j] = true;
        }
        vms(&mut e, &selector, &members.iter().map(|&j| &objects[j]).collect::<Vec<_>>());
        guess_ports(&mut e, report, &we.key());
        entities.push(e);
    }
    for (i, o) in objects.iter().enumerate() {
        if used[i] {
            continue;
        }
        match o.kind.as_str() {
            "DestinationRule" | "VirtualService" => {
                let hosts: Vec<String> = o.spec().get("hosts").and_then(Value::as_array).map_or_else(
                    || o.spec().get("host").and_then(Value::as_str).map(|h| vec![h.to_string()]).unwrap_or_default(),
                    |a| a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
                );
                let Some(host) = hosts.first().map(|h| qualified(h, &o.namespace)) else {
                    report.note(NoteKind::Refused, o.key(), "it names no host: not imported");
                    continue;
                };
                // Gateway-bound VirtualServices, and the DestinationRule of mutual TLS to the
                // egress gateway, are the gateway pass's (`gateway`).
                if gateway::bound(o) || (o.kind == "DestinationRule" && egress_hosts.contains(&host)) {
                    continue;
                }
                let at = match entities.iter().position(|e| e.hosts.contains(&host)) {
                    Some(at) => at,
                    None => {
                        entities.push(for_host(&host, o, &mut taken, report));
                        entities.len() - 1
                    }
                };
                let e = &mut entities[at];
                // An external API has a DestinationRule and a VirtualService per host.
                let slot = if e.external { format!("{} {host}", o.kind) } else { o.kind.clone() };
                if !e.kinds.insert(slot) {
                    report.note(
                        NoteKind::Refused,
                        o.key(),
                        format!("`{}` has a {} already: meshgen writes one per entity", e.name, o.kind),
                    );
                    continue;
                }
                pin_name(e, o);
                if o.kind == "DestinationRule" {
                    destination_rule(e, o);
                } else {
                    virtual_service(e, o);
                }
            }
            "WorkloadGroup" => report.note(
                NoteKind::Refused,
                o.key(),
                "no ServiceEntry selects its workloads: write it as the `workloadGroup` of the service they belong to",
            ),
            _ => {}
        }
    }
    let istio = gateway::gateways(objects, &mut used, &mut entities, &mut taken, report);
    let mut p = project(entities, objects);
    if !istio.is_empty() {
        let settings = p.settings.entry("istio").or_insert_with(|| json!({}));
        if let Some(m) = settings.as_object_mut() {
            m.extend(istio);
        }
    }
    p
}

/// A ServiceEntry and the workloads it selects: a service when it selects workloads, else an
/// external API.
fn service_entry(se: &Object, objects: &[Object], used: &mut [bool], taken: &mut BTreeSet<String>) -> Entity {
    let spec = se.spec();
    let selector = spec.get("workloadSelector").and_then(|w| w.get("labels")).and_then(Value::as_object).cloned();
    let hosts: Vec<String> = spec
        .get("hosts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    let service = selector.is_some() && hosts.len() == 1;
    let mut e = new_entity(&se.name, &se.namespace, !service, taken);
    pin_name(&mut e, se);
    e.kinds.insert("ServiceEntry".into());
    e.hosts = hosts.iter().map(|h| qualified(h, &se.namespace)).collect();
    let b = &mut e.body;
    if service {
        if hosts[0] != format!("{}.{}.svc.cluster.local", e.name, e.namespace) {
            b.insert("host".into(), hosts[0].clone().into());
        }
    } else {
        b.insert("hosts".into(), json!(hosts));
    }
    e.ports = spec
        .get("ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| Some((p.get("name")?.as_str()?.to_string(), p.get("number")?.as_u64()?)))
        .collect();
    let mut ports = Map::new();
    for p in spec.get("ports").and_then(Value::as_array).into_iter().flatten() {
        let (Some(name), Some(number)) = (p.get("name").and_then(Value::as_str), p.get("number")) else { continue };
        let protocol = p.get("protocol").and_then(Value::as_str);
        let derived = crate::model::Protocol::from_port_name(name).map(|p| p.as_str());
        let mut long = Map::new();
        long.insert("number".into(), number.clone());
        if protocol.is_some() && protocol != derived {
            long.insert("protocol".into(), protocol.into());
        }
        if let Some(t) = p.get("targetPort") {
            long.insert("targetPort".into(), t.clone());
        }
        ports.insert(name.to_string(), if long.len() == 1 { number.clone() } else { Value::Object(long) });
    }
    b.insert("ports".into(), Value::Object(ports));
    let location = spec.get("location").and_then(Value::as_str).unwrap_or("MESH_EXTERNAL");
    if location != if service { "MESH_INTERNAL" } else { "MESH_EXTERNAL" } {
        b.insert("location".into(), location.into());
    }
    for key in ["addresses", "subjectAltNames", "exportTo"] {
        if let Some(v) = spec.get(key) {
            b.insert(key.into(), v.clone());
        }
    }
    if service {
        let selector = selector.unwrap_or_default();
        let indices: Vec<usize> = (0..objects.len())
            .filter(|&j| !used[j] && objects[j].namespace == se.namespace && objects[j].kind == "WorkloadEntry")
            .filter(|&j| selects(&selector, objects[j].spec().get("labels")))
            .collect();
        let members: Vec<&Object> = indices.iter().map(|&j| &objects[j]).collect();
        for j in indices {
            used[j] = true;
        }
        let default = selector.len() == 1 && selector.get("app").and_then(Value::as_str) == Some(&e.name);
        let group = objects.iter().enumerate().find(|(j, o)| {
            !used[*j]
                && o.kind == "WorkloadGroup"
                && o.namespace == se.namespace
                && selects(&selector, o.spec().get("metadata").and_then(|m| m.get("labels")))
        });
        if members.is_empty() && group.is_none() {
            e.body.insert("pods".into(), Value::Object(selector.clone()));
        } else if !default {
            e.body.insert("labels".into(), Value::Object(selector.clone()));
        }
        vms(&mut e, &selector, &members);
        if let Some((j, wg)) = group {
            used[j] = true;
            pin_name(&mut e, wg);
            e.kinds.insert("WorkloadGroup".into());
            workload_group(&mut e, &selector, wg);
        }
    } else {
        if let Some(r) = spec.get("resolution").filter(|r| r.as_str() != Some(derived_resolution(spec))) {
            e.body.insert("resolution".into(), r.clone());
        }
        if let Some(eps) = spec.get("endpoints") {
            e.body.insert("endpoints".into(), eps.clone());
        }
    }
    e
}

/// The resolution meshgen derives for an external API written without one.
fn derived_resolution(spec: &Map<String, Value>) -> &'static str {
    let texts = |key: &str| -> Vec<String> {
        spec.get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    };
    let endpoints: Vec<&str> = spec
        .get("endpoints")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("address").and_then(Value::as_str))
        .collect();
    let ip = |a: &str| a.starts_with("unix://") || a.parse::<std::net::IpAddr>().is_ok();
    if !endpoints.is_empty() {
        return if endpoints.iter().all(|a| ip(a)) { "STATIC" } else { "DNS" };
    }
    if texts("hosts").iter().any(|h| h.starts_with('*')) || texts("addresses").iter().any(|a| a.contains('/')) {
        "NONE"
    } else {
        "DNS"
    }
}

/// The VMs of a service from its WorkloadEntries: what they all share goes to the service.
fn vms(e: &mut Entity, selector: &Map<String, Value>, members: &[&Object]) {
    if members.is_empty() {
        return;
    }
    let shared = |key: &str| {
        let first = members[0].spec().get(key)?;
        members.iter().all(|m| m.spec().get(key) == Some(first)).then(|| first.clone())
    };
    let account = shared("serviceAccount");
    let network = shared("network");
    let no_sidecar = members.iter().all(|m| {
        m.spec().get("labels").and_then(|l| l.get("security.istio.io/tlsMode")).and_then(Value::as_str)
            == Some("disabled")
    });
    if no_sidecar {
        e.body.insert("sidecar".into(), false.into());
    }
    for (key, v) in [("serviceAccount", &account), ("network", &network)] {
        if let Some(v) = v {
            e.body.insert(key.into(), v.clone());
        }
    }
    let mut list = Vec::new();
    for m in members {
        let spec = m.spec();
        let mut vm = Map::new();
        let address = spec.get("address").and_then(Value::as_str).unwrap_or_default();
        if m.name != format!("{}-{}", e.name, slug(address)) {
            vm.insert("name".into(), m.name.clone().into());
        }
        vm.insert("address".into(), address.into());
        let mut labels = spec.get("labels").and_then(Value::as_object).cloned().unwrap_or_default();
        labels.retain(|k, _| !selector.contains_key(k) && (k != "security.istio.io/tlsMode" || !no_sidecar));
        if !labels.is_empty() {
            vm.insert("labels".into(), Value::Object(labels));
        }
        for key in ["locality", "weight", "ports"] {
            if let Some(v) = spec.get(key) {
                vm.insert(key.into(), v.clone());
            }
        }
        if network.is_none()
            && let Some(v) = spec.get("network")
        {
            vm.insert("network".into(), v.clone());
        }
        if account.is_none()
            && let Some(v) = spec.get("serviceAccount")
        {
            vm.insert("serviceAccount".into(), v.clone());
        }
        list.push(Value::Object(vm));
    }
    e.body.insert("vms".into(), Value::Array(list));
}

/// A service's `workloadGroup` from its WorkloadGroup.
fn workload_group(e: &mut Entity, selector: &Map<String, Value>, wg: &Object) {
    let spec = wg.spec();
    let mut group = Map::new();
    let mut labels =
        spec.get("metadata").and_then(|m| m.get("labels")).and_then(Value::as_object).cloned().unwrap_or_default();
    labels.retain(|k, _| !selector.contains_key(k));
    if !labels.is_empty() {
        group.insert("labels".into(), Value::Object(labels));
    }
    let template = spec.get("template").and_then(Value::as_object).cloned().unwrap_or_default();
    for (k, v) in template {
        if k == "labels" {
            continue;
        }
        if e.body.get(&k) != Some(&v) {
            group.insert(k, v);
        }
    }
    if let Some(p) = spec.get("probe") {
        group.insert("probe".into(), p.clone());
    }
    e.body.insert("workloadGroup".into(), if group.is_empty() { true.into() } else { Value::Object(group) });
}

/// A service for a host no ServiceEntry of the input declares: a Kubernetes Service's, or
/// one registered elsewhere (`serviceEntry: false`).
fn for_host(host: &str, o: &Object, taken: &mut BTreeSet<String>, report: &mut Report) -> Entity {
    let first = host.split('.').next().unwrap_or(host);
    let kube_ns = host.strip_suffix(".svc.cluster.local").and_then(|h| h.split_once('.')).map(|(_, ns)| ns.to_string());
    let namespace = kube_ns.clone().unwrap_or_else(|| o.namespace.clone());
    let mut e = new_entity(first, &namespace, false, taken);
    e.hosts.push(host.to_string());
    if host != format!("{}.{}.svc.cluster.local", e.name, e.namespace) {
        e.body.insert("host".into(), host.into());
        e.body.insert("serviceEntry".into(), false.into());
    }
    e.body.insert("pods".into(), json!({"app": e.name}));
    let what = if kube_ns.is_some() { "a Kubernetes Service" } else { "something else than the input" };
    report.note(
        NoteKind::Guessed,
        o.key(),
        format!("no ServiceEntry of the input declares `{host}`: service `{}` stands for the host {what} registers, its `pods` selector is a guess", e.name),
    );
    e
}

/// Ports for a service whose ServiceEntry is not in the input: a placeholder, reported.
fn guess_ports(e: &mut Entity, report: &mut Report, at: &str) {
    e.body.insert("ports".into(), json!({"http": 80}));
    e.ports = vec![("http".into(), 80)];
    report.note(
        NoteKind::Guessed,
        at,
        format!("service `{}`: its ports are not in the input; `ports: {{http: 80}}` is a placeholder", e.name),
    );
}

/// A DestinationRule's policy and subsets, as the entity's `traffic`, `tls`, ports' and
/// subsets' own.
fn destination_rule(e: &mut Entity, dr: &Object) {
    let spec = dr.spec();
    if !e.body.contains_key("ports") {
        let numbers: Vec<u64> = spec
            .get("trafficPolicy")
            .and_then(|t| t.get("portLevelSettings"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| p.pointer("/port/number").and_then(Value::as_u64))
            .collect();
        set_ports(e, "http", &numbers);
    }
    let top = spec.get("trafficPolicy").and_then(Value::as_object).cloned().unwrap_or_default();
    let (traffic, tls) = policy(&top, &Map::new());
    if !traffic.is_empty() {
        e.body.insert("traffic".into(), Value::Object(traffic.clone()));
    }
    let default_tls =
        e.body.contains_key("vms") && !e.body.contains_key("pods") && e.body.get("sidecar") != Some(&false.into());
    match tls {
        Some(t) if !(default_tls && t == json!("ISTIO_MUTUAL")) => {
            e.body.insert("tls".into(), t);
        }
        _ => {}
    }
    for pl in top.get("portLevelSettings").and_then(Value::as_array).into_iter().flatten() {
        let Some(number) = pl.pointer("/port/number").and_then(Value::as_u64) else { continue };
        let Some(name) = e.ports.iter().find(|(_, n)| *n == number).map(|(n, _)| n.clone()) else { continue };
        let (t, tls) = policy(pl.as_object().unwrap_or(&Map::new()), &top);
        let Some(ports) = e.body.get_mut("ports").and_then(Value::as_object_mut) else { continue };
        let port = ports.entry(name).or_insert(number.into());
        if port.is_number() {
            *port = json!({"number": number});
        }
        if !t.is_empty() {
            port["traffic"] = Value::Object(t);
        }
        if let Some(tls) = tls {
            port["tls"] = tls;
        }
    }
    let mut subsets = Map::new();
    for s in spec.get("subsets").and_then(Value::as_array).into_iter().flatten() {
        let Some(name) = s.get("name").and_then(Value::as_str) else { continue };
        let labels = s.get("labels").cloned().unwrap_or_else(|| json!({}));
        let own = s.get("trafficPolicy").and_then(Value::as_object).cloned().unwrap_or_default();
        let (t, tls) = policy(&own, &top);
        let tls = tls.filter(|t| Some(t) != e.body.get("tls"));
        if t.is_empty() && tls.is_none() {
            subsets.insert(name.into(), labels);
        } else {
            let mut long = Map::new();
            long.insert("labels".into(), labels);
            if !t.is_empty() {
                long.insert("traffic".into(), Value::Object(t));
            }
            if let Some(tls) = tls {
                long.insert("tls".into(), tls);
            }
            subsets.insert(name.into(), Value::Object(long));
        }
    }
    if !subsets.is_empty() {
        e.body.insert("subsets".into(), Value::Object(subsets));
    }
}

/// A traffic policy as `traffic` and `tls`, without what equals `over` (the level it is
/// merged onto).
fn policy(tp: &Map<String, Value>, over: &Map<String, Value>) -> (Map<String, Value>, Option<Value>) {
    let mut traffic = Map::new();
    for key in ["connectionPool", "outlierDetection", "loadBalancer"] {
        let Some(v) = tp.get(key).filter(|v| over.get(key) != Some(*v)) else { continue };
        let short = v.get("simple").filter(|_| key == "loadBalancer" && v.as_object().is_some_and(|m| m.len() == 1));
        traffic.insert(key.into(), short.cloned().unwrap_or_else(|| v.clone()));
    }
    let tls = tp.get("tls").filter(|v| over.get("tls") != Some(*v)).map(|t| match t.as_object() {
        Some(m) if m.len() == 1 && m.contains_key("mode") => m["mode"].clone(),
        _ => t.clone(),
    });
    (traffic, tls)
}

/// A VirtualService's rules as the entity's `routes`, with a timeout or retries every rule
/// shares as its `traffic`.
fn virtual_service(e: &mut Entity, vs: &Object) {
    let spec = vs.spec();
    if !e.body.contains_key("ports") {
        // The rules' kind says the protocol: HTTP, else TLS (by SNI), else opaque TCP.
        let family = ["http", "tls", "tcp"].into_iter().find(|k| spec.get(*k).is_some()).unwrap_or("http");
        let mut numbers = Vec::new();
        for r in spec.get(family).and_then(Value::as_array).into_iter().flatten() {
            for m in r.get("match").and_then(Value::as_array).into_iter().flatten() {
                numbers.extend(m.get("port").and_then(Value::as_u64));
            }
            for d in r.get("route").and_then(Value::as_array).into_iter().flatten() {
                numbers.extend(d.pointer("/destination/port/number").and_then(Value::as_u64));
            }
        }
        if numbers.is_empty() && family == "tls" {
            numbers.push(443);
        }
        set_ports(e, family, &numbers);
    }
    let own = e.hosts.clone();
    let ns = vs.namespace.clone();
    let mine = |h: &str| own.contains(&qualified(h, &ns));
    let http: Vec<Map<String, Value>> = spec
        .get("http")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r.as_object().cloned())
        .collect();
    let mut routes: Vec<Value> = Vec::new();
    for r in &http {
        let mut route = Map::new();
        for key in
            ["name", "match", "timeout", "retries", "rewrite", "headers", "corsPolicy", "redirect", "directResponse"]
        {
            if let Some(v) = r.get(key) {
                route.insert(key.into(), v.clone());
            }
        }
        if let Some(f) = r.get("fault") {
            route.insert("fault".into(), short_percentages(f));
        }
        destinations(&mut route, r.get("route"), &mine);
        if let Some(m) = r.get("mirror") {
            let mut mirror = Map::new();
            match m.get("host").and_then(Value::as_str) {
                Some(h) if mine(h) => {}
                Some(h) => {
                    mirror.insert("host".into(), h.into());
                }
                None => {}
            }
            if let Some(s) = m.get("subset") {
                mirror.insert("subset".into(), s.clone());
            }
            if let Some(p) = m.pointer("/port/number") {
                mirror.insert("port".into(), p.clone());
            }
            if let Some(p) = r.get("mirrorPercentage").and_then(|p| p.get("value")) {
                mirror.insert("percentage".into(), p.clone());
            }
            route.insert("mirror".into(), Value::Object(mirror));
        }
        routes.push(Value::Object(route));
    }
    for key in ["tls", "tcp"] {
        for r in spec.get(key).and_then(Value::as_array).into_iter().flatten() {
            let mut route = Map::new();
            if let Some(m) = r.get("match") {
                route.insert("match".into(), m.clone());
            }
            destinations(&mut route, r.get("route"), &mine);
            routes.push(Value::Object(route));
        }
    }
    // A timeout or retries on every rule is the entity's.
    let mut traffic = e.body.get("traffic").and_then(Value::as_object).cloned().unwrap_or_default();
    for key in ["timeout", "retries"] {
        let first = http.first().and_then(|r| r.get(key));
        if first.is_some() && http.iter().all(|r| r.get(key) == first) && routes.len() == http.len() {
            traffic.insert(key.into(), first.cloned().unwrap_or_default());
            for r in &mut routes {
                r.as_object_mut().map(|m| m.remove(key));
            }
        }
    }
    if !traffic.is_empty() {
        e.body.insert("traffic".into(), Value::Object(traffic));
    }
    // One rule to the whole host says nothing beyond the traffic above.
    let says_nothing = routes.is_empty() || (routes.len() == 1 && routes[0].as_object().is_some_and(Map::is_empty));
    if !says_nothing {
        e.body.insert("routes".into(), Value::Array(routes));
    }
}

/// A rule's `route` as `subset`, `split` or `to`.
fn destinations(route: &mut Map<String, Value>, dests: Option<&Value>, mine: &dyn Fn(&str) -> bool) {
    let dests: Vec<&Value> = dests.and_then(Value::as_array).into_iter().flatten().collect();
    let plain = dests.iter().all(|d| {
        d.pointer("/destination/host").and_then(Value::as_str).is_some_and(mine)
            && d.pointer("/destination/port").is_none()
            && d.get("headers").is_none()
    });
    let subset = |d: &Value| d.pointer("/destination/subset").cloned();
    if plain && dests.len() == 1 {
        if let Some(s) = subset(dests[0]) {
            route.insert("subset".into(), s);
        }
        return;
    }
    if plain && dests.len() > 1 && dests.iter().all(|d| subset(d).is_some()) {
        let split: Map<String, Value> = dests
            .iter()
            .map(|d| {
                (
                    subset(d).and_then(|s| s.as_str().map(str::to_string)).unwrap_or_default(),
                    d.get("weight").cloned().unwrap_or(0.into()),
                )
            })
            .collect();
        if split.len() == dests.len() {
            route.insert("split".into(), Value::Object(split));
            return;
        }
    }
    if dests.is_empty() {
        return;
    }
    let to: Vec<Value> = dests
        .iter()
        .map(|d| {
            let mut t = Map::new();
            if let Some(h) = d.pointer("/destination/host").and_then(Value::as_str).filter(|h| !mine(h)) {
                t.insert("host".into(), h.into());
            }
            if let Some(s) = subset(d) {
                t.insert("subset".into(), s);
            }
            if let Some(p) = d.pointer("/destination/port/number") {
                t.insert("port".into(), p.clone());
            }
            for key in ["weight", "headers"] {
                if let Some(v) = d.get(key) {
                    t.insert(key.into(), v.clone());
                }
            }
            Value::Object(t)
        })
        .collect();
    route.insert("to".into(), Value::Array(to));
}

/// A fault's `percentage: {value: N}` in the short form `percentage: N`.
fn short_percentages(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| match (k.as_str(), v.get("value")) {
                    ("percentage", Some(n)) if v.as_object().is_some_and(|p| p.len() == 1) => (k.clone(), n.clone()),
                    _ => (k.clone(), short_percentages(v)),
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Ports for a service known only from its rules: the numbers its objects name, else a
/// placeholder.
fn set_ports(e: &mut Entity, family: &str, numbers: &[u64]) {
    let mut numbers: Vec<u64> = numbers.to_vec();
    numbers.sort_unstable();
    numbers.dedup();
    if numbers.is_empty() {
        numbers.push(80);
    }
    let one = numbers.len() == 1;
    e.ports = numbers.iter().map(|n| (if one { family.to_string() } else { format!("{family}-{n}") }, *n)).collect();
    e.body.insert("ports".into(), Value::Object(e.ports.iter().map(|(k, n)| (k.clone(), (*n).into())).collect()));
}

/// A new entity named after `wanted`, made a DNS label and unique in the inventory.
fn new_entity(wanted: &str, namespace: &str, external: bool, taken: &mut BTreeSet<String>) -> Entity {
    let base = slug(wanted).chars().take(55).collect::<String>().trim_matches('-').to_string();
    let base = if base.is_empty() { "imported".to_string() } else { base };
    let mut name = base.clone();
    let mut n = 1;
    while taken.contains(&name) {
        n += 1;
        name = if n == 2 { format!("{base}-{namespace}") } else { format!("{base}-{n}") };
        name = name.chars().take(63).collect::<String>().trim_end_matches('-').to_string();
    }
    taken.insert(name.clone());
    Entity {
        name,
        namespace: namespace.into(),
        external,
        hosts: Vec::new(),
        ports: Vec::new(),
        body: Map::new(),
        kinds: BTreeSet::new(),
    }
}

/// Keeps an object's name where the entity's would differ (`names`).
fn pin_name(e: &mut Entity, o: &Object) {
    if o.name == e.name || (e.external && e.hosts.len() > 1 && o.kind == "DestinationRule") {
        return;
    }
    let names = e.body.entry("names").or_insert_with(|| json!({}));
    names[o.kind.as_str()] = o.name.clone().into();
}

/// Whether `labels` carry every label of `selector`.
fn selects(selector: &Map<String, Value>, labels: Option<&Value>) -> bool {
    let Some(labels) = labels.and_then(Value::as_object) else { return selector.is_empty() };
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// A host as Istio reads it in a namespace: a short name is the Kubernetes Service's.
fn qualified(host: &str, namespace: &str) -> String {
    let host = host.to_ascii_lowercase();
    if host.contains('.') || host == "*" { host } else { format!("{host}.{namespace}.svc.cluster.local") }
}

/// meshgen's slug (`model::names`): lower case, every run of other characters one `-`.
fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.to_ascii_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

/// The project: entities in the order of their namespaces, what they all share as
/// `defaults`, and the input's API version when it is an older one meshgen writes.
fn project(entities: Vec<Entity>, objects: &[Object]) -> Project {
    let mut p = Project::default();
    let export: Option<Value> = entities.first().and_then(|e| e.body.get("exportTo").cloned());
    let shared_export = export.is_some() && entities.iter().all(|e| e.body.get("exportTo") == export.as_ref());
    let mut defaults = Map::new();
    if shared_export && let Some(x) = export {
        defaults.insert("exportTo".into(), x);
    }
    if objects.iter().all(|o| o.api_version == "networking.istio.io/v1beta1") && !objects.is_empty() {
        p.settings.insert("istio".into(), json!({"apiVersion": "networking.istio.io/v1beta1"}));
    }
    if !defaults.is_empty() {
        p.settings.insert("defaults".into(), Value::Object(defaults));
    }
    if entities.is_empty() {
        // Nothing was imported: the draft still builds, and says why it is empty.
        p.settings.insert("allowEmpty".into(), true.into());
    }
    for mut e in entities {
        if shared_export {
            e.body.remove("exportTo");
        }
        let ns = p.namespaces.entry(e.namespace.clone()).or_default();
        let map = if e.external { &mut ns.externals } else { &mut ns.services };
        map.insert(e.name, Value::Object(order(e.body)));
    }
    p
}

/// An entity's fields in the order a person reads them: identity, workloads, traffic.
fn order(mut body: Map<String, Value>) -> Map<String, Value> {
    const ORDER: &[&str] = &[
        "host",
        "hosts",
        "ports",
        "location",
        "resolution",
        "addresses",
        "endpoints",
        "labels",
        "pods",
        "serviceAccount",
        "network",
        "sidecar",
        "serviceEntry",
        "vms",
        "workloadGroup",
        "subjectAltNames",
        "exportTo",
        "tls",
        "traffic",
        "subsets",
        "routes",
        "ingress",
        "egress",
        "names",
        "patches",
    ];
    let mut out = Map::new();
    for k in ORDER {
        if let Some(v) = body.remove(*k) {
            out.insert((*k).into(), v);
        }
    }
    out.extend(body);
    out
}
