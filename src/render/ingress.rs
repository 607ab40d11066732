//! The objects that expose a service through the ingress gateway (`ingress` in the
//! inventory, see `model::ingress`): a Gateway `<name>-ingress` with the public hosts, and a
//! VirtualService `<name>-ingress` bound to it that routes them to the service.
//!
//! The VirtualService is a gateway-bound copy of the service's own HTTP rules for the
//! exposed port (subsets, splits, matches, timeouts, retries, faults, mirrors, rewrites:
//! public callers get the routing mesh callers get), so a canary split applies to both.
//! The copy differs where the gateway differs: requests reach it on 80/443, so port matches
//! are dropped (a rule whose matches all name another port is left out); with `paths`, every
//! rule is kept to the requests at or under them (`/v1` and `/v1/…`, never `/v1-internal`).
//! A TLS port is passed through, routed by SNI on the public hosts.

use std::borrow::Cow;

use serde_json::{Map, Value, json};

use super::api::{self, HttpRoute, RouteDestination, Server, ServerPort, ServerTls, StreamRoute};
use super::context::destination;
use super::routes::Rules;
use crate::model::ingress::Ingress;
use crate::model::{Project, Service};

/// The Gateway: port 80 (plain, or a redirect to HTTPS), 443 with the certificate, or 443
/// passed through for a TLS port.
pub(super) fn gateway<'a>(project: &'a Project, ing: &'a Ingress) -> api::Gateway<'a> {
    let hosts = ing.host_names();
    let server = |number, name, protocol, tls| Server {
        port: ServerPort { number, name: String::from(name), protocol },
        hosts: hosts.clone(),
        tls,
    };
    let mut servers = Vec::new();
    if ing.passthrough() {
        let tls = ServerTls { https_redirect: None, mode: Some("PASSTHROUGH"), credential_name: None };
        servers.push(server(443, "tls", "TLS", Some(tls)));
    } else {
        let redirect = ServerTls { https_redirect: Some(true), mode: None, credential_name: None };
        servers.push(server(80, "http", "HTTP", ing.https_redirect.then_some(redirect)));
        if let Some(tls) = &ing.tls {
            let tls =
                ServerTls { https_redirect: None, mode: Some(tls.mode), credential_name: Some(&tls.credential_name) };
            servers.push(server(443, "https", "HTTPS", Some(tls)));
        }
    }
    api::Gateway { selector: &project.ingress_gateway.selector, servers }
}

/// The VirtualService of the public hosts, bound to the service's Gateway (and to `mesh`
/// when asked), from `rules`: the rules of the service's own VirtualService.
pub(super) fn virtual_service<'a>(
    svc: &'a Service,
    ing: &'a Ingress,
    rules: &Rules<'a>,
    export: Option<Vec<String>>,
) -> api::VirtualService<'a> {
    let mut gateways = vec![format!("{}/{}", svc.namespace, Ingress::object_name(&svc.name))];
    if ing.mesh {
        gateways.push("mesh".into());
    }
    let (http, tls) = if ing.passthrough() {
        (None, Some(Cow::Owned(tls_rules(svc, ing, &rules.tls))))
    } else {
        (Some(Cow::Owned(http_rules(svc, ing, &rules.http))), None)
    };
    api::VirtualService { hosts: ing.host_names(), gateways: Some(gateways), http, tls, tcp: None, export_to: export }
}

/// The destination port: named when the service has several (as its own rules do).
fn default_route<'a>(svc: &'a Service, ing: &Ingress) -> Vec<RouteDestination<'a>> {
    let port = (svc.ports.len() > 1).then_some(ing.port.number);
    vec![RouteDestination { destination: destination(&svc.host, None, port), weight: None, headers: None }]
}

/// The matches of a rule that apply on the exposed port, without their port: `None` when
/// the rule has matches and they all name another port; `Some(empty)` when it catches
/// everything there.
fn on_port(matches: Option<&[Map<String, Value>]>, port: u32) -> Option<Vec<Map<String, Value>>> {
    let Some(written) = matches else { return Some(Vec::new()) };
    let mut out = Vec::new();
    for m in written {
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
fn http_rules<'a>(svc: &'a Service, ing: &Ingress, rules: &[HttpRoute<'a>]) -> Vec<HttpRoute<'a>> {
    let port = ing.port.number;
    let mut out = Vec::new();
    let mut caught = false;
    for rule in rules {
        let Some(matches) = on_port(rule.matches.as_deref(), port) else { continue };
        let catch_all = matches.is_empty();
        let matches = under_paths(matches, &ing.paths);
        if !ing.paths.is_empty() && matches.is_empty() {
            // No request under the paths reaches this rule.
            continue;
        }
        out.extend(copies(rule, matches));
        if catch_all {
            caught = true;
            break;
        }
    }
    if !caught {
        let matches: Vec<Map<String, Value>> =
            under_paths(Vec::new(), &ing.paths).into_iter().map(|(m, _)| m).collect();
        out.push(HttpRoute {
            matches: (!matches.is_empty()).then_some(matches),
            route: Some(default_route(svc, ing)),
            ..HttpRoute::default()
        });
    }
    out
}

/// The copies of `rule` with `matches` (none: every request). One copy, unless the rule
/// rewrites the URI prefix and some matches moved from a path's prefix `/p` to `/p/`: the
/// rewrite replaces the matched prefix, so those get `rewrite.uri` with a `/` appended
/// (`/p/x` becomes what `/p` made of it), in copies of their own, in the order written.
fn copies<'a>(rule: &HttpRoute<'a>, matches: Vec<(Map<String, Value>, bool)>) -> Vec<HttpRoute<'a>> {
    let rewrite = rule.rewrite.as_ref().and_then(|r| r.uri.as_deref());
    let mut groups: Vec<(bool, Vec<Map<String, Value>>)> = Vec::new();
    for (m, moved) in matches {
        let moved = moved && rewrite.is_some();
        match groups.last_mut() {
            Some((g, list)) if *g == moved => list.push(m),
            _ => groups.push((moved, vec![m])),
        }
    }
    if groups.is_empty() {
        groups.push((false, Vec::new()));
    }
    groups
        .into_iter()
        .map(|(moved, matches)| {
            let mut rule = rule.clone();
            rule.matches = (!matches.is_empty()).then_some(matches);
            if let (true, Some(uri), Some(r)) = (moved, rewrite, &mut rule.rewrite) {
                r.to_mut().uri = Some(format!("{uri}/"));
            }
            rule
        })
        .collect()
}

/// The URI matches of "this path and what is below it": `/v1` is `exact: /v1` and
/// `prefix: /v1/` (a prefix `/v1` would also take `/v1-internal` and `/v10`); a path that
/// ends with `/` is its prefix alone.
fn path_uris(p: &str) -> Vec<Value> {
    if p.ends_with('/') {
        vec![json!({"prefix": p})]
    } else {
        vec![json!({"exact": p}), json!({"prefix": format!("{p}/")})]
    }
}

/// The matches (none: every request) kept to requests at or under the paths (none: every
/// path): a match without `uri` gets the URIs of each path; an exact `uri` at or under a
/// path stays; a prefix under one (`/v1/x` under `/v1`) stays, a prefix equal to a path or
/// above it is narrowed to the path's URIs; a `uri` under none is dropped. Each match comes
/// with whether its prefix moved from `/p` to `/p/` (see [`copies`]).
fn under_paths(matches: Vec<Map<String, Value>>, paths: &[String]) -> Vec<(Map<String, Value>, bool)> {
    if paths.is_empty() {
        return matches.into_iter().map(|m| (m, false)).collect();
    }
    let all = [Map::new()];
    let base: &[Map<String, Value>] = if matches.is_empty() { &all } else { &matches };
    let mut out: Vec<(Map<String, Value>, bool)> = Vec::new();
    for m in base {
        let fold = m.get("ignoreUriCase").and_then(Value::as_bool) == Some(true);
        let norm = |s: &str| if fold { s.to_ascii_lowercase() } else { s.to_string() };
        let uri = m.get("uri");
        let exact = uri.and_then(|u| u.get("exact")).and_then(Value::as_str).map(norm);
        let prefix = uri.and_then(|u| u.get("prefix")).and_then(Value::as_str).map(norm);
        for p in paths {
            let p_norm = norm(p);
            // What lies below the path: `/v1/…` (the path itself is `/v1`).
            let below = if p_norm.ends_with('/') { p_norm.clone() } else { format!("{p_norm}/") };
            let narrowed = |m: &Map<String, Value>, moved: bool| {
                path_uris(p).into_iter().map(|u| (with_uri(m, u.clone()), moved && u.get("prefix").is_some())).collect()
            };
            let copies: Vec<(Map<String, Value>, bool)> = match (&exact, &prefix, uri) {
                (Some(e), _, _) => {
                    if *e == p_norm || e.starts_with(&below) {
                        vec![(m.clone(), false)]
                    } else {
                        Vec::new()
                    }
                }
                (_, Some(q), _) if q.starts_with(&below) => vec![(m.clone(), false)],
                // The path itself (`/v1` for `/v1` or `/v1/`): the same requests, less the
                // paths beside it; the prefix moves from `/v1` to `/v1/`.
                (_, Some(q), _) if format!("{q}/") == below => narrowed(m, true),
                (_, Some(q), _) if p_norm.starts_with(q.as_str()) => narrowed(m, false),
                (_, Some(_), _) => Vec::new(),
                // A regex cannot be placed (the model refuses it with `paths`).
                (None, None, Some(_)) => Vec::new(),
                (None, None, None) => narrowed(m, false),
            };
            for c in copies {
                if !out.iter().any(|(o, _)| *o == c.0) {
                    out.push(c);
                }
            }
        }
    }
    out
}

fn with_uri(m: &Map<String, Value>, uri: Value) -> Map<String, Value> {
    let mut m = m.clone();
    m.insert("uri".into(), uri);
    m
}

/// The service's TLS rules on the exposed port, matching the public hosts by SNI; a default
/// route when none catches every connection.
fn tls_rules<'a>(svc: &'a Service, ing: &Ingress, rules: &[StreamRoute<'a>]) -> Vec<StreamRoute<'a>> {
    let sni = json!(ing.host_names());
    let mut out = Vec::new();
    for rule in rules {
        let Some(matches) = on_port(rule.matches.as_deref(), ing.port.number) else { continue };
        let mut catch_all = true;
        let matches = if matches.is_empty() { vec![Map::new()] } else { matches };
        let matches: Vec<Map<String, Value>> = matches
            .into_iter()
            .map(|mut m| {
                m.remove("sniHosts");
                catch_all &= m.is_empty();
                m.insert("sniHosts".into(), sni.clone());
                m
            })
            .collect();
        out.push(StreamRoute { matches: Some(matches), route: rule.route.clone() });
        if catch_all {
            return out;
        }
    }
    let all = Map::from_iter([("sniHosts".to_string(), sni)]);
    out.push(StreamRoute { matches: Some(vec![all]), route: default_route(svc, ing) });
    out
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::model::raw::Rewrite;
    use crate::model::traffic::Retries;

    fn maps(v: Value) -> Vec<Map<String, Value>> {
        v.as_array().unwrap().iter().map(|m| m.as_object().unwrap().clone()).collect()
    }

    /// The matches `under_paths` gives, without whether their prefix moved.
    fn kept(matches: Vec<Map<String, Value>>, paths: &[String]) -> Vec<Map<String, Value>> {
        under_paths(matches, paths).into_iter().map(|(m, _)| m).collect()
    }

    #[test]
    fn matches_are_kept_at_or_under_the_paths() {
        let paths = vec!["/api".to_string(), "/static/".to_string()];
        // Every request: each path and what is below it, never `/api-internal` or `/apix`.
        assert_eq!(
            kept(Vec::new(), &paths),
            maps(json!([{"uri": {"exact": "/api"}}, {"uri": {"prefix": "/api/"}}, {"uri": {"prefix": "/static/"}}]))
        );
        let written = maps(json!([
            {"uri": {"prefix": "/api/v2"}, "headers": {"x": {"exact": "1"}}},
            {"uri": {"prefix": "/"}},
            {"uri": {"exact": "/admin"}},
            {"uri": {"exact": "/api"}},
            {"uri": {"prefix": "/api-internal"}},
            {"uri": {"exact": "/static"}},
            {"method": {"exact": "GET"}},
        ]));
        assert_eq!(
            kept(written, &paths),
            maps(json!([
                {"uri": {"prefix": "/api/v2"}, "headers": {"x": {"exact": "1"}}},
                {"uri": {"exact": "/api"}},
                {"uri": {"prefix": "/api/"}},
                {"uri": {"prefix": "/static/"}},
                {"method": {"exact": "GET"}, "uri": {"exact": "/api"}},
                {"method": {"exact": "GET"}, "uri": {"prefix": "/api/"}},
                {"method": {"exact": "GET"}, "uri": {"prefix": "/static/"}},
            ]))
        );
        // Outside every path: nothing left.
        assert!(kept(maps(json!([{"uri": {"exact": "/admin"}}, {"uri": {"prefix": "/apix"}}])), &paths).is_empty());
        assert_eq!(kept(maps(json!([{"uri": {"exact": "/x"}}])), &[]), maps(json!([{"uri": {"exact": "/x"}}])));
        // A prefix equal to a path: only its prefix part moved (from `/api` to `/api/`).
        let moved: Vec<bool> =
            under_paths(maps(json!([{"uri": {"prefix": "/api"}}])), &paths).into_iter().map(|(_, m)| m).collect();
        assert_eq!(moved, [false, true]);
        let slash = under_paths(maps(json!([{"uri": {"prefix": "/api"}}])), &["/api/".to_string()]);
        assert_eq!(slash, [(maps(json!([{"uri": {"prefix": "/api/"}}])).remove(0), true)]);
    }

    #[test]
    fn a_rewrite_of_a_moved_prefix_follows_it() {
        let rule = HttpRoute {
            name: Some("r".into()),
            rewrite: Some(Cow::Owned(Rewrite { uri: Some("/v1".into()), authority: None, uri_regex_rewrite: None })),
            route: Some(vec![]),
            ..HttpRoute::default()
        };
        let m = |v: Value| v.as_object().unwrap().clone();
        let split = copies(
            &rule,
            vec![
                (m(json!({"uri": {"exact": "/api"}})), false),
                (m(json!({"uri": {"prefix": "/api/"}})), true),
                (m(json!({"uri": {"prefix": "/api/v2/"}})), false),
            ],
        );
        let summary: Vec<(Value, Value)> =
            split.iter().map(|c| (json!(c.matches), json!(c.rewrite.as_ref().unwrap().uri))).collect();
        assert_eq!(
            summary,
            [
                (json!([{"uri": {"exact": "/api"}}]), json!("/v1")),
                (json!([{"uri": {"prefix": "/api/"}}]), json!("/v1/")),
                (json!([{"uri": {"prefix": "/api/v2/"}}]), json!("/v1")),
            ]
        );
        // Without a URI rewrite, one copy.
        let bare = HttpRoute { route: Some(vec![]), ..HttpRoute::default() };
        let plain = copies(&bare, vec![(m(json!({"uri": {"prefix": "/api/"}})), true)]);
        assert_eq!(json!(plain), json!([{"route": [], "match": [{"uri": {"prefix": "/api/"}}]}]));
    }

    /// A copy keeps Istio's field order whether it gains matches or loses them (a JSON map
    /// once put a gained `match` last, and moved the last field into a lost one's place).
    #[test]
    fn copies_keep_istio_field_order() {
        let rule = HttpRoute {
            name: Some("r".into()),
            route: Some(vec![]),
            timeout: Some("5s".into()),
            retries: Some(Cow::Owned(Retries { attempts: Some(2), ..Retries::default() })),
            ..HttpRoute::default()
        };
        let gained = copies(&rule, vec![(maps(json!([{"uri": {"exact": "/v1"}}])).remove(0), false)]);
        let order =
            r#"[{"name":"r","match":[{"uri":{"exact":"/v1"}}],"route":[],"timeout":"5s","retries":{"attempts":2}}]"#;
        assert_eq!(serde_json::to_string(&gained).unwrap(), order);
        let lost = copies(&HttpRoute { matches: Some(maps(json!([{"port": 80}]))), ..rule }, Vec::new());
        let order = r#"[{"name":"r","route":[],"timeout":"5s","retries":{"attempts":2}}]"#;
        assert_eq!(serde_json::to_string(&lost).unwrap(), order);
    }

    #[test]
    fn port_matches_are_dropped_and_other_ports_rules_left_out() {
        assert_eq!(on_port(None, 8080), Some(Vec::new()));
        assert_eq!(on_port(Some(&maps(json!([{"port": 8080}]))), 8080), Some(Vec::new()));
        assert_eq!(on_port(Some(&maps(json!([{"port": 9090}]))), 8080), None);
        assert_eq!(
            on_port(
                Some(&maps(json!([{"port": 9090, "uri": {"prefix": "/a"}}, {"port": 8080, "uri": {"prefix": "/b"}}]))),
                8080
            ),
            Some(maps(json!([{"uri": {"prefix": "/b"}}])))
        );
    }
}
