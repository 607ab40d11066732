//! The objects that expose a service through the ingress gateway (`ingress` in the
//! inventory, see `model::ingress`): a Gateway `<name>-ingress` with the public hosts, and a
//! VirtualService `<name>-ingress` bound to it that routes them to the service.
//!
//! The VirtualService is a gateway-bound copy of the service's own HTTP rules for the
//! exposed port (subsets, splits, matches, timeouts, retries, faults, mirrors, rewrites:
//! public callers get the routing mesh callers get), so a canary split applies to both.
//! The copy differs where the gateway differs: requests reach it on 80/443, so port matches
//! are dropped (a rule whose matches all name another port is left out); with `paths`, every
//! rule is kept to the requests under them. A TLS port is passed through, routed by SNI on
//! the public hosts.

use serde_json::{Map, Value, json};

use super::routes::Rules;
use crate::model::ingress::Ingress;
use crate::model::{Project, Service};

/// The Gateway: port 80 (plain, or a redirect to HTTPS), 443 with the certificate, or 443
/// passed through for a TLS port.
pub(super) fn gateway(project: &Project, ing: &Ingress) -> Map<String, Value> {
    let hosts = ing.host_names();
    let mut servers = Vec::new();
    if ing.passthrough() {
        servers.push(json!({
            "port": {"number": 443, "name": "tls", "protocol": "TLS"},
            "hosts": hosts,
            "tls": {"mode": "PASSTHROUGH"},
        }));
    } else {
        let mut http = json!({"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": hosts});
        if ing.https_redirect {
            http["tls"] = json!({"httpsRedirect": true});
        }
        servers.push(http);
        if let Some(tls) = &ing.tls {
            servers.push(json!({
                "port": {"number": 443, "name": "https", "protocol": "HTTPS"},
                "hosts": hosts,
                "tls": {"mode": tls.mode, "credentialName": tls.credential_name},
            }));
        }
    }
    let mut f = Map::new();
    f.insert("selector".into(), json!(project.ingress_gateway.selector));
    f.insert("servers".into(), Value::Array(servers));
    f
}

/// The VirtualService of the public hosts, bound to the service's Gateway (and to `mesh`
/// when asked), from `rules`: the rules of the service's own VirtualService.
pub(super) fn virtual_service(svc: &Service, ing: &Ingress, rules: &Rules, export: Value) -> Map<String, Value> {
    let gateway = format!("{}/{}", svc.namespace, Ingress::object_name(&svc.name));
    let mut gateways = vec![json!(gateway)];
    if ing.mesh {
        gateways.push(json!("mesh"));
    }
    let mut f = Map::new();
    f.insert("hosts".into(), json!(ing.host_names()));
    f.insert("gateways".into(), Value::Array(gateways));
    if ing.passthrough() {
        f.insert("tls".into(), Value::Array(tls_rules(svc, ing, &rules.tls)));
    } else {
        f.insert("http".into(), Value::Array(http_rules(svc, ing, &rules.http)));
    }
    if !export.is_null() {
        f.insert("exportTo".into(), export);
    }
    f
}

/// The destination port: named when the service has several (as its own rules do).
fn default_route(svc: &Service, ing: &Ingress) -> Value {
    let mut d = json!({"host": svc.host});
    if svc.ports.len() > 1 {
        d["port"] = json!({"number": ing.port.number});
    }
    json!([{"destination": d}])
}

/// The matches of a rule that apply on the exposed port, without their port: `None` when
/// the rule has matches and they all name another port; `Some(empty)` when it catches
/// everything there.
fn on_port(rule: &Value, port: u32) -> Option<Vec<Map<String, Value>>> {
    let Some(written) = rule.get("match").and_then(Value::as_array) else { return Some(Vec::new()) };
    let mut out = Vec::new();
    for m in written.iter().filter_map(Value::as_object) {
        if m.get("port").and_then(Value::as_u64).is_some_and(|p| p != u64::from(port)) {
            continue;
        }
        let mut m = m.clone();
        m.remove("port");
        if m.is_empty() {
            // Nothing but the port: the rule catches everything on it.
            return Some(Vec::new());
        }
        out.push(m);
    }
    (!out.is_empty()).then_some(out)
}

/// The service's HTTP rules on the exposed port, kept under `paths`; a default route when
/// the service has none (no routes and no timeout, retries or fault).
fn http_rules(svc: &Service, ing: &Ingress, rules: &[Value]) -> Vec<Value> {
    let port = ing.port.number;
    let mut out = Vec::new();
    let mut caught = false;
    for rule in rules {
        let Some(matches) = on_port(rule, port) else { continue };
        let catch_all = matches.is_empty();
        let matches = under_paths(matches, &ing.paths);
        if !ing.paths.is_empty() && matches.is_empty() {
            // No request under the paths reaches this rule.
            continue;
        }
        let mut rule = rule.clone();
        if let Some(r) = rule.as_object_mut() {
            if matches.is_empty() {
                r.remove("match");
            } else {
                r.insert("match".into(), json!(matches));
            }
        }
        out.push(rule);
        if catch_all {
            caught = true;
            break;
        }
    }
    if !caught {
        let mut rule = Map::new();
        let matches = under_paths(Vec::new(), &ing.paths);
        if !matches.is_empty() {
            rule.insert("match".into(), json!(matches));
        }
        rule.insert("route".into(), default_route(svc, ing));
        out.push(Value::Object(rule));
    }
    out
}

/// The matches (none: every request) kept to requests under the path prefixes (none: every
/// path): a match without `uri` gets each prefix; a `uri` under a prefix stays; a prefix
/// above one is narrowed to it; a `uri` under none is dropped.
fn under_paths(matches: Vec<Map<String, Value>>, paths: &[String]) -> Vec<Map<String, Value>> {
    if paths.is_empty() {
        return matches;
    }
    let all = [Map::new()];
    let base: &[Map<String, Value>] = if matches.is_empty() { &all } else { &matches };
    let mut out: Vec<Map<String, Value>> = Vec::new();
    for m in base {
        let fold = m.get("ignoreUriCase").and_then(Value::as_bool) == Some(true);
        let norm = |s: &str| if fold { s.to_ascii_lowercase() } else { s.to_string() };
        let uri = m.get("uri");
        let exact = uri.and_then(|u| u.get("exact")).and_then(Value::as_str).map(norm);
        let prefix = uri.and_then(|u| u.get("prefix")).and_then(Value::as_str).map(norm);
        for p in paths {
            let p_norm = norm(p);
            let narrowed = match (&exact, &prefix, uri) {
                (Some(e), _, _) => e.starts_with(&p_norm).then(|| m.clone()),
                (_, Some(q), _) if q.starts_with(&p_norm) => Some(m.clone()),
                (_, Some(q), _) if p_norm.starts_with(q.as_str()) => Some(with_prefix(m, p)),
                (_, Some(_), _) => None,
                // A regex cannot be placed (the model refuses it with `paths`).
                (None, None, Some(_)) => None,
                (None, None, None) => Some(with_prefix(m, p)),
            };
            if let Some(n) = narrowed
                && !out.contains(&n)
            {
                out.push(n);
            }
        }
    }
    out
}

fn with_prefix(m: &Map<String, Value>, prefix: &str) -> Map<String, Value> {
    let mut m = m.clone();
    m.insert("uri".into(), json!({"prefix": prefix}));
    m
}

/// The service's TLS rules on the exposed port, matching the public hosts by SNI; a default
/// route when none catches every connection.
fn tls_rules(svc: &Service, ing: &Ingress, rules: &[Value]) -> Vec<Value> {
    let sni = json!(ing.host_names());
    let mut out = Vec::new();
    for rule in rules {
        let Some(matches) = on_port(rule, ing.port.number) else { continue };
        let mut catch_all = true;
        let matches = if matches.is_empty() { vec![Map::new()] } else { matches };
        let matches: Vec<Value> = matches
            .into_iter()
            .map(|mut m| {
                m.remove("sniHosts");
                catch_all &= m.is_empty();
                m.insert("sniHosts".into(), sni.clone());
                Value::Object(m)
            })
            .collect();
        let mut rule = rule.clone();
        rule["match"] = Value::Array(matches);
        out.push(rule);
        if catch_all {
            return out;
        }
    }
    out.push(json!({"match": [{"sniHosts": sni}], "route": default_route(svc, ing)}));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn maps(v: Value) -> Vec<Map<String, Value>> {
        v.as_array().unwrap().iter().map(|m| m.as_object().unwrap().clone()).collect()
    }

    #[test]
    fn matches_are_kept_under_the_paths() {
        let paths = vec!["/api".to_string(), "/static".to_string()];
        // Every request: one match per path.
        assert_eq!(
            under_paths(Vec::new(), &paths),
            maps(json!([{"uri": {"prefix": "/api"}}, {"uri": {"prefix": "/static"}}]))
        );
        let written = maps(json!([
            {"uri": {"prefix": "/api/v2"}, "headers": {"x": {"exact": "1"}}},
            {"uri": {"prefix": "/"}},
            {"uri": {"exact": "/admin"}},
            {"method": {"exact": "GET"}},
        ]));
        assert_eq!(
            under_paths(written, &paths),
            maps(json!([
                {"uri": {"prefix": "/api/v2"}, "headers": {"x": {"exact": "1"}}},
                {"uri": {"prefix": "/api"}},
                {"uri": {"prefix": "/static"}},
                {"method": {"exact": "GET"}, "uri": {"prefix": "/api"}},
                {"method": {"exact": "GET"}, "uri": {"prefix": "/static"}},
            ]))
        );
        // Outside every path: nothing left.
        assert!(under_paths(maps(json!([{"uri": {"exact": "/admin"}}])), &paths).is_empty());
        assert_eq!(under_paths(maps(json!([{"uri": {"exact": "/x"}}])), &[]), maps(json!([{"uri": {"exact": "/x"}}])));
    }

    #[test]
    fn port_matches_are_dropped_and_other_ports_rules_left_out() {
        assert_eq!(on_port(&json!({"route": []}), 8080), Some(Vec::new()));
        assert_eq!(on_port(&json!({"match": [{"port": 8080}]}), 8080), Some(Vec::new()));
        assert_eq!(on_port(&json!({"match": [{"port": 9090}]}), 8080), None);
        assert_eq!(
            on_port(
                &json!({"match": [{"port": 9090, "uri": {"prefix": "/a"}}, {"port": 8080, "uri": {"prefix": "/b"}}]}),
                8080
            ),
            Some(maps(json!([{"uri": {"prefix": "/b"}}])))
        );
    }
}
