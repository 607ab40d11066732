//! Routing that Istio would accept and then apply differently from the inventory: one
//! VirtualService for several hosts of an API, SNI names of other hosts, route targets a
//! sidecar cannot reach or see.

use crate::common;

use common::{documents, meshgen, project};

const PROJECT: &str = "inventory: [inventory]\ndefaults: {namespace: apps}\n";

fn build(inventory: &str) -> common::Run {
    let tmp = project(&[("meshgen.yaml", PROJECT), ("inventory/x.yaml", inventory)]);
    meshgen(tmp.path(), &["build", "--stdout"])
}

fn virtual_services(stdout: &str) -> Vec<meshgen::yaml::Value> {
    documents(stdout).into_iter().filter(|d| d["kind"].as_str() == Some("VirtualService")).collect()
}

/// A catch-all is appended for requests no rule matches, and goes to the host called: with
/// a rule that matches some paths only, each host keeps a VirtualService of its own (one
/// for both would send the second host's other requests to the first).
#[test]
fn an_api_whose_rules_leave_requests_to_their_host_keeps_a_virtual_service_per_host() {
    let r = build(
        "externals:\n  partners:\n    hosts: [a.partner.example, b.partner.example]\n    ports: {http: 80}\n    routes:\n      - match: [{uri: {prefix: /legacy}}]\n        to: [{host: legacy-proxy.ns1.svc.cluster.local}]\n",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let vs = virtual_services(&r.stdout);
    assert_eq!(vs.len(), 2, "{}", r.stdout);
    for v in &vs {
        let host = v["spec"]["hosts"][0].as_str().unwrap();
        assert_eq!(v["spec"]["hosts"].as_array().unwrap().len(), 1);
        let last = v["spec"]["http"].as_array().unwrap().last().unwrap();
        assert_eq!(last["route"][0]["destination"]["host"].as_str(), Some(host), "{v:?}");
    }
}

/// Every rule sending elsewhere, with a catch-all: one VirtualService, whose TLS rules match
/// every host of the API as SNI.
#[test]
fn an_api_sent_elsewhere_whole_gets_one_virtual_service_matching_all_its_hosts() {
    let r = build(
        "externals:\n  partners:\n    hosts: [a.partner.example, b.partner.example]\n    ports: {tls: 443}\n    routes:\n      - to: [{host: fw.ns1.svc.cluster.local}]\n",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let vs = virtual_services(&r.stdout);
    assert_eq!(vs.len(), 1, "{}", r.stdout);
    let sni: Vec<&str> = vs[0]["spec"]["tls"][0]["match"][0]["sniHosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    assert_eq!(sni, ["a.partner.example", "b.partner.example"]);
}

/// On the VirtualService of one host, a TLS rule keeps the SNI names of that host only
/// (Istio refuses an SNI name outside the VirtualService's hosts).
#[test]
fn per_host_virtual_services_keep_their_own_sni_names() {
    let r = build(
        "externals:\n  wiki:\n    hosts: [wikipedia.org, \"*.wikipedia.org\"]\n    ports: {tls: 443}\n    resolution: NONE\n    routes:\n      - match: [{sniHosts: [wikipedia.org, \"*.wikipedia.org\"]}]\n        to: [{host: fw.ns1.svc.cluster.local}]\n      - {}\n",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let vs = virtual_services(&r.stdout);
    assert_eq!(vs.len(), 2, "{}", r.stdout);
    for v in &vs {
        let host = v["spec"]["hosts"][0].as_str().unwrap();
        for rule in v["spec"]["tls"].as_array().unwrap() {
            for m in rule["match"].as_array().unwrap() {
                let sni: Vec<&str> = m["sniHosts"].as_array().unwrap().iter().map(|h| h.as_str().unwrap()).collect();
                assert_eq!(sni, [host], "{v:?}");
            }
        }
    }
}

fn check(inventory: &str) -> common::Run {
    let tmp = project(&[("meshgen.yaml", PROJECT), ("inventory/x.yaml", inventory)]);
    meshgen(tmp.path(), &["check", "--format", "concise"])
}

#[test]
fn sni_names_of_other_hosts_are_refused_where_written() {
    let r = check(
        "services:\n  vault:\n    host: vault.apps.internal\n    ports: {tls: 8443}\n    pods: {app: vault}\n    subsets: {v1: {version: v1}}\n    routes:\n      - match: [{sniHosts: [secrets.example.com]}]\n        subset: v1\n",
    );
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.contains("inventory/x.yaml:8:29: error[invalid-value] SNI `secrets.example.com` is not one of the hosts this route is for (services.vault.routes[0].match[0].sniHosts[0])"), "{}", r.stdout);
}

/// A sidecar sends a route's traffic straight to the target's host: an API behind the egress
/// gateway would be reached past the gateway, one without an address of its own not at all.
#[test]
fn route_targets_a_sidecar_cannot_reach_are_refused() {
    for (api, why) in [
        (
            "  news:\n    hosts: [edition.news.example]\n    ports: {http: 80}\n    egress: gateway\n",
            "goes through the egress gateway",
        ),
        ("  news:\n    hosts: [\"*.news.example\"]\n    ports: {http: 80}\n", "wildcard host or resolution NONE"),
    ] {
        let inv = format!(
            "services:\n  orders:\n    ports: {{http: 8080}}\n    pods: {{app: orders}}\n    routes:\n      - match: [{{uri: {{prefix: /news}}}}]\n        to: [{{service: news}}]\nexternals:\n{api}"
        );
        let r = check(&inv);
        assert_eq!(r.code, 1, "{}", r.stdout);
        assert!(r.stdout.contains("a route cannot send traffic to `news`") && r.stdout.contains(why), "{}", r.stdout);
        assert!(r.stdout.contains("(services.orders.routes[0].to[0].service)"), "{}", r.stdout);
    }
}

/// The callers' sidecars apply the route, so the target must be visible in their namespace.
#[test]
fn a_route_target_hidden_from_the_callers_is_refused() {
    let r = check(
        "services:\n  web:\n    namespace: web\n    ports: {http: 8080}\n    pods: {app: web}\n    dependsOn: [orders]\n  orders:\n    namespace: shop\n    host: orders.shop.internal\n    ports: {http: 8080}\n    pods: {app: orders}\n    routes:\n      - to: [{weight: 90}, {service: ledger, weight: 10}]\n  ledger:\n    namespace: finance\n    host: ledger.finance.internal\n    ports: {http: 8080}\n    pods: {app: ledger}\n    exportTo: consumers\n",
    );
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout.contains("error[dependency-not-visible] `web` (namespace `web`) calls `orders`, whose route sends the call to `ledger`, which it cannot see"),
        "{}",
        r.stdout
    );
}
