//! The gateway pass of the draft: Gateways and the VirtualServices bound to them become an
//! external API's `egress` (the egress pattern: the API's ServiceEntry, a Gateway on the
//! egress gateway, one VirtualService bound to `mesh` and that Gateway, the DestinationRule
//! of mutual TLS to the gateway) or a service's `ingress` (a Gateway and a VirtualService
//! bound to it alone, routing public hosts to the service), with the project's
//! `istio.egressGateway` and `istio.ingressGateway` settings they imply.
//!
//! It runs after the other objects have made their entities, since both fields extend an
//! entity. What does not fit the pattern stays "not imported", with the reason; what fits
//! but is built otherwise is `verify`'s to patch or report, as for every other object.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::{Entity, Object, for_host, pin_name, qualified, set_ports};
use crate::import::{NoteKind, Report};

/// The egress gateway's host and Gateway selector when the project says nothing.
const EGRESS_HOST: &str = "istio-egressgateway.istio-system.svc.cluster.local";
const EGRESS_SELECTOR: &str = "egressgateway";
/// The ingress gateway's selector and namespace when the project says nothing.
const INGRESS_SELECTOR: &str = "ingressgateway";
const INGRESS_NAMESPACE: &str = "istio-system";

/// Whether a VirtualService is bound to a gateway (beside `mesh` or alone).
pub(super) fn bound(o: &Object) -> bool {
    o.kind == "VirtualService" && !gateway_refs(o).is_empty()
}

/// The gateways a VirtualService is bound to, other than `mesh`, as written.
fn gateway_refs(o: &Object) -> Vec<String> {
    o.spec()
        .get("gateways")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|g| *g != "mesh")
        .map(str::to_string)
        .collect()
}

/// Whether a VirtualService is bound to `mesh` too.
fn binds_mesh(o: &Object) -> bool {
    o.spec().get("gateways").and_then(Value::as_array).is_some_and(|g| g.iter().any(|g| g == "mesh"))
}

/// The hosts sidecars send egress traffic to: the destinations of the `mesh` rules of
/// VirtualServices bound to `mesh` and a gateway. Their DestinationRule is the gateway
/// pass's (mutual TLS to the gateway), not a service's.
pub(super) fn egress_hosts(objects: &[Object]) -> BTreeSet<String> {
    objects
        .iter()
        .filter(|o| bound(o) && binds_mesh(o))
        .flat_map(|o| {
            rules(o).filter(|r| leg(r, "mesh")).flat_map(|r| destinations(r, &o.namespace)).collect::<Vec<_>>()
        })
        .collect()
}

/// Every rule of a VirtualService: HTTP, TLS and TCP.
fn rules(o: &Object) -> impl Iterator<Item = &Value> {
    ["http", "tls", "tcp"].into_iter().flat_map(|k| o.spec().get(k).and_then(Value::as_array).into_iter().flatten())
}

/// Whether every match of a rule names the gateway `g` (and a rule has matches).
fn leg(rule: &Value, g: &str) -> bool {
    let matches: Vec<&Value> = rule.get("match").and_then(Value::as_array).into_iter().flatten().collect();
    !matches.is_empty()
        && matches.iter().all(|m| {
            m.get("gateways").and_then(Value::as_array).is_some_and(|gs| gs.len() == 1 && gs[0].as_str() == Some(g))
        })
}

/// The destination hosts of a rule, fully qualified.
fn destinations<'a>(rule: &'a Value, ns: &'a str) -> impl Iterator<Item = String> + 'a {
    rule.get("route")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(move |d| d.pointer("/destination/host").and_then(Value::as_str).map(|h| qualified(h, ns)))
}

/// `namespace/name` of a gateway as a VirtualService in `ns` names it.
fn reference(g: &str, ns: &str) -> String {
    if g.contains('/') { g.to_string() } else { format!("{ns}/{g}") }
}

/// What one gateway-bound VirtualService becomes.
enum Plan {
    /// The egress of the external API at `entity`, through the Gateway at `gateway`.
    Egress { vs: usize, gateway: usize, entity: usize, own: bool },
    /// The ingress of the service for `host`, through the Gateway at `gateway`.
    Ingress { vs: usize, gateway: usize, host: String },
}

/// Turns Gateways and gateway-bound VirtualServices into `egress` and `ingress`, refuses
/// (with the reason) those that do not fit, and returns the project's `istio` settings they
/// imply.
pub(super) fn gateways(
    objects: &[Object],
    used: &mut [bool],
    entities: &mut Vec<Entity>,
    taken: &mut BTreeSet<String>,
    report: &mut Report,
) -> Map<String, Value> {
    let find_gateway = |r: &str, vs: &Object| -> Option<usize> {
        let key = reference(r, &vs.namespace);
        let gw =
            |k: &str| objects.iter().position(|o| o.kind == "Gateway" && format!("{}/{}", o.namespace, o.name) == k);
        // A bare name is a Gateway in the VirtualService's namespace; Istio's own egress
        // example names one in `istio-system` so, and means it: the only one of that name.
        gw(&key).or_else(|| {
            let named: Vec<usize> = (0..objects.len())
                .filter(|&j| objects[j].kind == "Gateway" && objects[j].name == r && !r.contains('/'))
                .collect();
            (named.len() == 1).then(|| named[0])
        })
    };
    let mut plans = Vec::new();
    for (i, vs) in objects.iter().enumerate() {
        if !bound(vs) || used[i] {
            continue;
        }
        let refs = gateway_refs(vs);
        let why = if refs.len() > 1 {
            Err(format!("bound to {} gateways: meshgen binds one per `egress` or `ingress`", refs.len()))
        } else if let Some(g) = find_gateway(&refs[0], vs) {
            plan(objects, i, g, entities)
        } else {
            Err(format!("bound to the gateway `{}`, which is not in the input", refs[0]))
        };
        match why {
            Ok(p) => plans.push(p),
            Err(why) => report.note(
                NoteKind::Refused,
                vs.key(),
                format!("{why}; write the entity's `egress` or `ingress`, or keep the object beside meshgen's output"),
            ),
        }
    }
    // One Gateway every API shares (`istio.egressGateway.shared`): the first one that is not
    // an API's own; then every API is bound to it.
    let shared = plans.iter().find_map(|p| match p {
        Plan::Egress { gateway, own: false, .. } => Some(*gateway),
        _ => None,
    });
    let mut istio = Map::new();
    let (mut egress, mut ingress) = (Map::new(), Map::new());
    let mut mtls = false;
    for p in plans {
        match p {
            Plan::Egress { vs, gateway, entity, .. } => {
                if let Some(s) = shared.filter(|s| *s != gateway) {
                    report.note(
                        NoteKind::Refused,
                        objects[vs].key(),
                        format!(
                            "bound to `{}`, while other APIs share `{}`: with `istio.egressGateway.shared` every API \
                             is bound to the shared Gateway; keep the object beside meshgen's output",
                            objects[gateway].key(),
                            objects[s].key()
                        ),
                    );
                    continue;
                }
                mtls |= apply_egress(objects, vs, gateway, entity, entities, &mut egress);
                used[vs] = true;
                used[gateway] = true;
            }
            Plan::Ingress { vs, gateway, host } => {
                match apply_ingress(objects, vs, gateway, &host, entities, taken, report) {
                    Ok(()) => {
                        used[vs] = true;
                        used[gateway] = true;
                        let (o, gw) = (&objects[vs], &objects[gateway]);
                        if let Some(sel) =
                            gw.spec().get("selector").filter(|s| **s != json!({"istio": INGRESS_SELECTOR}))
                        {
                            ingress.entry("selector").or_insert_with(|| sel.clone());
                        }
                        if let Some(ns) = gateway_namespace(o).filter(|ns| ns != INGRESS_NAMESPACE) {
                            ingress.entry("namespace").or_insert_with(|| ns.into());
                        }
                    }
                    Err(why) => report.note(
                        NoteKind::Refused,
                        objects[vs].key(),
                        format!("{why}; write the service's `ingress`, or keep the object beside meshgen's output"),
                    ),
                }
            }
        }
    }
    entities.retain(|e| !e.kinds.contains(ABSORBED));
    if let Some(s) = shared.filter(|s| used[*s]) {
        let gw = &objects[s];
        let host = egress.get("host").and_then(Value::as_str).unwrap_or(EGRESS_HOST).to_string();
        let mut m = Map::new();
        if Some(gw.name.as_str()) != host.split('.').next() {
            m.insert("name".into(), gw.name.clone().into());
        }
        if Some(gw.namespace.as_str()) != host.split('.').nth(1) {
            m.insert("namespace".into(), gw.namespace.clone().into());
        }
        let hosts = gw.spec().get("servers").and_then(|s| s.get(0)).and_then(|s| s.get("hosts"));
        if let Some(h) = hosts.filter(|h| **h != json!(["*"])) {
            m.insert("hosts".into(), h.clone());
        }
        egress.insert("shared".into(), if m.is_empty() { true.into() } else { Value::Object(m) });
    }
    // The DestinationRule of mutual TLS to the egress gateway is meshgen's when an API asks
    // for mutual TLS; verify compares it.
    let hosts = egress_hosts(objects);
    for (i, o) in objects.iter().enumerate() {
        if used[i] {
            continue;
        }
        let host = o.spec().get("host").and_then(Value::as_str).map(|h| qualified(h, &o.namespace));
        if o.kind == "DestinationRule" && host.as_ref().is_some_and(|h| hosts.contains(h)) {
            if mtls {
                used[i] = true;
            } else {
                report.note(
                    NoteKind::Refused,
                    o.key(),
                    "a DestinationRule for the egress gateway's host: meshgen writes it only for APIs that reach \
                     the gateway with mutual TLS (`egress: {mtls: true}`), and import found none; keep it beside \
                     meshgen's output",
                );
            }
        } else if o.kind == "Gateway" {
            report.note(
                NoteKind::Refused,
                o.key(),
                "no VirtualService of the input that import recognises as an external API's `egress` or a \
                 service's `ingress` is bound to it; write that field, or keep the Gateway beside meshgen's output",
            );
        }
    }
    if !egress.is_empty() {
        istio.insert("egressGateway".into(), Value::Object(egress));
    }
    if !ingress.is_empty() {
        istio.insert("ingressGateway".into(), Value::Object(ingress));
    }
    istio
}

/// The ingress gateway's namespace as an ingress VirtualService shows it: meshgen adds it to
/// a restricted exportTo, so it is the one namespace there that is neither the service's nor
/// a keyword.
fn gateway_namespace(o: &Object) -> Option<String> {
    let extra: Vec<&str> =
        export_to(o).into_iter().filter(|n| !matches!(*n, "." | "*" | "~") && *n != o.namespace).collect();
    match extra[..] {
        [ns] => Some(ns.to_string()),
        _ => None,
    }
}

/// An object's `exportTo`, as written.
fn export_to(o: &Object) -> Vec<&str> {
    o.spec().get("exportTo").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect()
}

/// The `paths` an ingress VirtualService exposes: meshgen matches a path `/v1` as
/// `exact: /v1` beside `prefix: /v1/` in one rule, which no hand-written rule needs.
fn paths(o: &Object) -> Vec<String> {
    let mut paths = Vec::new();
    for r in o.spec().get("http").and_then(Value::as_array).into_iter().flatten() {
        let uris: Vec<&Value> =
            r.get("match").and_then(Value::as_array).into_iter().flatten().filter_map(|m| m.get("uri")).collect();
        for u in &uris {
            let Some(exact) = u.get("exact").and_then(Value::as_str) else { continue };
            let prefix = json!({"prefix": format!("{exact}/")});
            if uris.iter().any(|v| **v == prefix) && !paths.iter().any(|p| p == exact) {
                paths.push(exact.to_string());
            }
        }
    }
    paths
}

/// What a gateway-bound VirtualService at `i`, bound to the Gateway at `g`, becomes, or why
/// it cannot be imported.
fn plan(objects: &[Object], i: usize, g: usize, entities: &[Entity]) -> Result<Plan, String> {
    let vs = &objects[i];
    let hosts: BTreeSet<String> = vs
        .spec()
        .get("hosts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|h| qualified(h, &vs.namespace))
        .collect();
    let gw = &objects[g];
    // The egress pattern: the hosts are an external API's, and sidecars are routed too.
    if let Some(entity) =
        entities.iter().position(|e| e.external && e.hosts.iter().cloned().collect::<BTreeSet<_>>() == hosts)
    {
        let e = &entities[entity];
        if !binds_mesh(vs) {
            return Err(format!(
                "routes the hosts of the external API `{}` at a gateway only: meshgen routes an API through the \
                 egress gateway with a VirtualService bound to `mesh` and its Gateway",
                e.name
            ));
        }
        if e.kinds.iter().any(|k| k.starts_with("VirtualService")) {
            return Err(format!("`{}` has a VirtualService already: meshgen writes one per entity", e.name));
        }
        let bound_to_it = objects
            .iter()
            .filter(|o| {
                bound(o)
                    && gateway_refs(o)
                        .iter()
                        .any(|r| reference(r, &o.namespace) == format!("{}/{}", gw.namespace, gw.name))
            })
            .count();
        let own = gw.name == format!("{}-egress", e.name) && gw.namespace == e.namespace && bound_to_it == 1;
        return Ok(Plan::Egress { vs: i, gateway: g, entity, own });
    }
    if binds_mesh(vs) && hosts.iter().any(|h| entities.iter().any(|e| e.hosts.contains(h))) {
        return Err("bound to `mesh` and a gateway for hosts an entity of the input declares, without being its \
                    egress pattern"
            .into());
    }
    let targets: BTreeSet<String> = rules(vs).flat_map(|r| destinations(r, &vs.namespace)).collect();
    let targets: Vec<String> = targets.into_iter().collect();
    let [host] = &targets[..] else {
        return Err("its rules route to several hosts (or none): a service's `ingress` routes to the service".into());
    };
    let host = host.clone();
    if entities.iter().any(|e| e.external && e.hosts.contains(&host)) {
        return Err(format!("routes public hosts to `{host}`, an external API's: `ingress` is a service's"));
    }
    Ok(Plan::Ingress { vs: i, gateway: g, host })
}

/// Writes the API's `egress` (and traffic of the sidecars' rules), pins the VirtualService's
/// name, marks the entity import made of its `<name>-destination` ServiceEntry to go, and records
/// the gateway's host and selector. Whether the API reaches the gateway with mutual TLS.
fn apply_egress(
    objects: &[Object],
    vs: usize,
    gateway: usize,
    at: usize,
    entities: &mut [Entity],
    settings: &mut Map<String, Value>,
) -> bool {
    let (o, gw) = (&objects[vs], &objects[gateway]);
    let gref = gateway_refs(o).remove(0);
    let mesh_rules: Vec<&Value> = rules(o).filter(|r| leg(r, "mesh")).collect();
    let gateway_rules: Vec<&Value> = rules(o).filter(|r| leg(r, &gref)).collect();
    if let Some(h) = mesh_rules.iter().flat_map(|r| destinations(r, &o.namespace)).next().filter(|h| h != EGRESS_HOST) {
        settings.entry("host").or_insert_with(|| h.into());
    }
    if let Some(sel) = gw.spec().get("selector").filter(|s| **s != json!({"istio": EGRESS_SELECTOR})) {
        settings.entry("selector").or_insert_with(|| sel.clone());
    }
    let e = &mut entities[at];
    let mut egress = Map::new();
    if e.hosts.iter().any(|h| h.starts_with('*'))
        && let Some(d) = gateway_rules.iter().flat_map(|r| destinations(r, &o.namespace)).next()
    {
        egress.insert("destination".into(), d.into());
    }
    // Mutual TLS: the sidecars' HTTP rule goes to the gateway's port 443, to a subset that
    // carries Istio's mutual TLS, and the Gateway terminates it.
    let istio_mutual = gw
        .spec()
        .get("servers")
        .and_then(Value::as_array)
        .is_some_and(|s| s.iter().any(|s| s.pointer("/tls/mode").and_then(Value::as_str) == Some("ISTIO_MUTUAL")));
    let mtls = istio_mutual
        && o.spec().get("http").and_then(Value::as_array).into_iter().flatten().filter(|r| leg(r, "mesh")).any(|r| {
            r.pointer("/route/0/destination/port/number").and_then(Value::as_u64) == Some(443)
                && r.pointer("/route/0/destination/subset").is_some()
        });
    if mtls {
        egress.insert("mtls".into(), true.into());
    }
    let export = o.spec().get("exportTo");
    if export != e.body.get("exportTo") {
        egress.insert("exportTo".into(), export.cloned().unwrap_or_else(|| json!(["*"])));
    }
    // The API's timeout and retries apply to the sidecars' HTTP rules.
    let http: Vec<&Value> =
        mesh_rules.iter().copied().filter(|r| r.get("route").is_some() && r.get("match").is_some()).collect();
    let mut traffic = e.body.get("traffic").and_then(Value::as_object).cloned().unwrap_or_default();
    for key in ["timeout", "retries"] {
        let first = http.first().and_then(|r| r.get(key));
        if first.is_some() && http.iter().all(|r| r.get(key) == first) {
            traffic.insert(key.into(), first.cloned().unwrap_or_default());
        }
    }
    if !traffic.is_empty() {
        e.body.insert("traffic".into(), Value::Object(traffic));
    }
    e.body.insert("egress".into(), if egress.is_empty() { "gateway".into() } else { Value::Object(egress.clone()) });
    for h in e.hosts.clone() {
        e.kinds.insert(format!("VirtualService {h}"));
    }
    pin_name(e, o);
    // meshgen makes the destination's ServiceEntry (and DestinationRule, from the API's
    // `tls`) itself: the entity import made of them goes, once every plan is applied (the
    // plans hold positions), its `tls` becoming the API's.
    if let Some(d) = egress.get("destination").and_then(Value::as_str) {
        let name = format!("{}-destination", e.name);
        if let Some(x) = entities.iter_mut().find(|x| x.external && x.hosts == [d.to_string()] && x.name == name) {
            x.kinds.insert(ABSORBED.into());
            let tls = x.body.remove("tls");
            if let Some(tls) = tls {
                entities[at].body.entry("tls").or_insert(tls);
            }
        }
    }
    mtls
}

/// The mark of an entity another one's `egress` makes (its `<name>-destination`).
pub(super) const ABSORBED: &str = "absorbed by an egress";

/// Writes the service's `ingress` from its Gateway and VirtualService, making the service
/// for a host no other object declared; refuses names meshgen would not give them.
fn apply_ingress(
    objects: &[Object],
    vs: usize,
    gateway: usize,
    host: &str,
    entities: &mut Vec<Entity>,
    taken: &mut BTreeSet<String>,
    report: &mut Report,
) -> Result<(), String> {
    let (o, gw) = (&objects[vs], &objects[gateway]);
    let existing = entities.iter().position(|e| e.hosts.iter().any(|h| h == host));
    // The Gateway and VirtualService are `<service>-ingress`, beside the service: only such
    // names survive the round trip, since `names` renames objects named after the entity.
    let wanted = match existing {
        Some(at) => entities[at].name.clone(),
        None => host.split('.').next().unwrap_or(host).to_string(),
    };
    let namespace = match existing {
        Some(at) => entities[at].namespace.clone(),
        None => host
            .strip_suffix(".svc.cluster.local")
            .and_then(|h| h.split_once('.'))
            .map_or_else(|| o.namespace.clone(), |(_, ns)| ns.to_string()),
    };
    let name = format!("{wanted}-ingress");
    if o.name != name || gw.name != name || o.namespace != namespace || gw.namespace != namespace {
        return Err(format!(
            "the ingress of service `{wanted}` would be the Gateway and VirtualService `{namespace}/{name}` \
             (meshgen derives these names), not `{}` and `{}/{}`",
            gw.key(),
            o.namespace,
            o.name
        ));
    }
    if existing.is_none() && taken.contains(&wanted) {
        return Err(format!("the name `{wanted}` is another entity's"));
    }
    let at = match existing {
        Some(at) => at,
        None => {
            let mut e = for_host(host, o, taken, report);
            let family = if o.spec().get("tls").is_some() { "tls" } else { "http" };
            let numbers: Vec<u64> = rules(o)
                .flat_map(|r| r.get("route").and_then(Value::as_array).into_iter().flatten())
                .filter_map(|d| d.pointer("/destination/port/number").and_then(Value::as_u64))
                .collect();
            if numbers.is_empty() {
                report.note(
                    NoteKind::Guessed,
                    o.key(),
                    format!(
                        "service `{}`: its ports are not in the input; `ports: {{{family}: 80}}` is a placeholder",
                        e.name
                    ),
                );
            }
            set_ports(&mut e, family, &numbers);
            entities.push(e);
            entities.len() - 1
        }
    };
    let e = &mut entities[at];
    if e.external {
        return Err(format!("`{}` is an external API: `ingress` is a service's", e.name));
    }
    if !e.kinds.insert("Ingress".into()) {
        return Err(format!("`{}` has an ingress already: meshgen writes one per service", e.name));
    }
    let servers: Vec<&Value> = gw.spec().get("servers").and_then(Value::as_array).into_iter().flatten().collect();
    let protocol =
        |s: &&Value| s.pointer("/port/protocol").and_then(Value::as_str).unwrap_or_default().to_ascii_uppercase();
    let mut ingress = Map::new();
    let hosts: Vec<Value> = o.spec().get("hosts").and_then(Value::as_array).cloned().unwrap_or_default();
    ingress.insert("hosts".into(), Value::Array(hosts.clone()));
    // Several ports: the one the gateway's routes name.
    let number = rules(o)
        .flat_map(|r| r.get("route").and_then(Value::as_array).into_iter().flatten())
        .find_map(|d| d.pointer("/destination/port/number").and_then(Value::as_u64));
    if e.ports.len() > 1
        && let Some(port) = number.and_then(|n| e.ports.iter().find(|(_, p)| *p == n))
    {
        ingress.insert("port".into(), port.0.clone().into());
    }
    if let Some(https) = servers.iter().find(|s| protocol(s) == "HTTPS") {
        let secret = https.pointer("/tls/credentialName").cloned().unwrap_or_default();
        let mode = https.pointer("/tls/mode").and_then(Value::as_str).unwrap_or("SIMPLE");
        ingress.insert(
            "tls".into(),
            if mode == "SIMPLE" { secret } else { json!({"credentialName": secret, "mode": mode}) },
        );
        let redirect = servers
            .iter()
            .filter(|s| protocol(s) == "HTTP")
            .any(|s| s.pointer("/tls/httpsRedirect") == Some(&json!(true)));
        if !redirect {
            ingress.insert("httpsRedirect".into(), false.into());
        }
    }
    if binds_mesh(o) {
        ingress.insert("mesh".into(), true.into());
    }
    let paths = paths(o);
    if !paths.is_empty() {
        ingress.insert("paths".into(), json!(paths));
    }
    // Who sees the service, as its ingress VirtualService says: meshgen adds the gateway's
    // namespace to it again.
    let export = export_to(o);
    if !e.body.contains_key("exportTo") && !export.is_empty() {
        let gw_ns = gateway_namespace(o);
        let own: Vec<&str> = export.into_iter().filter(|n| Some(*n) != gw_ns.as_deref()).collect();
        e.body.insert("exportTo".into(), json!(own));
    }
    let value = match (ingress.len(), &hosts[..]) {
        (1, [one]) => one.clone(),
        (1, _) => Value::Array(hosts),
        _ => Value::Object(ingress),
    };
    e.body.insert("ingress".into(), value);
    Ok(())
}
