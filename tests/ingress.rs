//! Services exposed through the ingress gateway (`ingress`, docs/inventory.md "Ingress"):
//! the policy and visibility that follow from the gateway being a caller, the graph, and
//! every diagnostic of the feature at its exact place in the inventory.

use crate::common;

use common::{build_stdout, by_id, meshgen, project, root, strings};
use meshgen::yaml::Value;

const PROJECT: &str = "inventory: [inventory]\ndefaults: {namespace: apps}\n";
const FIXTURE: &str = "tests/fixtures/ingress";

/// Every exposed service's AuthorizationPolicy allows the gateway's principal (from the
/// project's `istio.ingressGateway` and trust domain) on the workload port it exposes, and
/// on that port only.
#[test]
fn the_authorization_policy_allows_the_gateway_on_the_exposed_port() {
    let objects = by_id(&build_stdout(&root().join(FIXTURE)));
    let principal = "corp.example/ns/gateways/sa/public-gateway";
    for (service, port) in [("storefront", "8080"), ("api", "8080"), ("vault", "8443"), ("status", "8080")] {
        let ap = &objects[&format!("AuthorizationPolicy/web/{service}")];
        let rules = ap["spec"]["rules"].as_array().unwrap();
        let gateway: Vec<&Value> = rules
            .iter()
            .filter(|r| strings(&r["from"][0]["source"]["principals"]).contains(&principal.to_string()))
            .collect();
        assert_eq!(gateway.len(), 1, "{service}: {rules:?}");
        assert_eq!(strings(&gateway[0]["to"][0]["operation"]["ports"]), [port], "{service}");
    }
    // A service nobody in the inventory calls is still called by the gateway: no warning.
    let r = meshgen(&root().join(FIXTURE), &["check"]);
    assert_eq!((r.code, r.stdout.as_str()), (0, ""), "{}", r.stderr);
}

/// The gateway's namespace sees what it routes with: the exposed services' ServiceEntries,
/// DestinationRules and VirtualServices, whether exportTo is `consumers` or a written list.
#[test]
fn the_gateway_namespace_sees_the_exposed_services() {
    let objects = by_id(&build_stdout(&root().join(FIXTURE)));
    let mut checked = 0;
    for (id, doc) in &objects {
        let name = doc["metadata"]["name"].as_str().unwrap();
        let service = name.strip_suffix("-ingress").unwrap_or(name);
        if doc["kind"] == "Sidecar" || doc["kind"] == "AuthorizationPolicy" || doc["kind"] == "WorkloadEntry" {
            continue;
        }
        if ["storefront", "api", "vault", "status"].contains(&service) && doc["kind"] != "Gateway" {
            assert!(strings(&doc["spec"]["exportTo"]).contains(&"gateways".to_string()), "{id}: {doc:?}");
            checked += 1;
        }
    }
    assert_eq!(checked, 9, "the SE, DR and VirtualServices of the exposed services");
}

/// `meshgen graph` draws the gateway as the caller of every exposed service, on its port,
/// in the gateway's namespace.
#[test]
fn the_graph_shows_the_gateway_as_a_caller() {
    let r = meshgen(&root().join(FIXTURE), &["graph", "--output", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let view: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let node = view["nodes"].as_array().unwrap().iter().find(|n| n["kind"] == "ingress").expect("an ingress node");
    assert_eq!(node["namespace"], "gateways");
    let from: Vec<(String, String)> = view["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["from"] == node["name"])
        .map(|e| (e["to"].as_str().unwrap().to_string(), e["ports"][0].as_str().unwrap().to_string()))
        .collect();
    let expected = [("api", "http"), ("status", "http"), ("storefront", "http"), ("vault", "https")];
    assert_eq!(from, expected.map(|(a, b)| (a.to_string(), b.to_string())));
    // With `-n web`, the gateway's namespace is outside the selection: it is shown faded.
    let r = meshgen(&root().join(FIXTURE), &["graph", "-n", "web"]);
    assert!(r.stdout.contains("class gw_ingress outside"), "{}", r.stdout);
}

/// Runs `check` on one inventory file (and an optional project file); returns the report.
fn check(project_file: Option<&str>, inventory: &str) -> common::Run {
    let tmp = project(&[("meshgen.yaml", project_file.unwrap_or(PROJECT)), ("inventory/x.yaml", inventory)]);
    meshgen(tmp.path(), &["check"])
}

/// Asserts that `check` fails with every fragment in the report.
fn rejects(inventory: &str, expected: &[&str]) {
    let r = check(None, inventory);
    assert_eq!(r.code, 1, "expected errors for:\n{inventory}\n{}{}", r.stdout, r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    for e in expected {
        assert!(r.stdout.contains(e), "expected `{e}` in:\n{}", r.stdout);
    }
}

/// A pods service with two ports, exposed by `ingress`, for the bad-input cases.
fn exposed(ingress: &str) -> String {
    format!(
        "services:\n  web:\n    ports: {{http: 8080, tls-admin: 8443, tcp-db: 5432}}\n    pods: {{app: web}}\n    ingress: {ingress}\n"
    )
}

#[test]
fn hosts_are_dns_names_a_gateway_accepts() {
    for (host, why) in [
        ("shop", "is a short name"),
        ("\"*\"", "`*` alone"),
        ("10.0.0.1", "is an IP address"),
        ("sh*p.example.com", "partial wildcard"),
        ("shop.example.com.", "ends with a dot"),
        ("shop_1.example.com", "invalid label"),
    ] {
        rejects(
            &exposed(&format!("{{hosts: [{host}]}}")),
            &["error[invalid-value]", "(services.web.ingress.hosts[0])", why],
        );
    }
    // The short forms point at the host where it is written.
    rejects(&exposed("shop"), &["inventory/x.yaml:5:14 (services.web.ingress)", "is a short name"]);
    rejects(&exposed("[a.example.com, shop]"), &["inventory/x.yaml:5:30 (services.web.ingress[1])"]);
    rejects(
        &exposed("{hosts: [a.example.com, a.example.com]}"),
        &["(services.web.ingress.hosts[1])", "listed twice", "first listed here"],
    );
    rejects(
        &exposed("{hosts: [\"*.example.com\", a.example.com]}"),
        &["(services.web.ingress.hosts[1])", "already covered by `*.example.com`"],
    );
    rejects(&exposed("{hosts: []}"), &["error[missing-field]", "(services.web.ingress.hosts)"]);
    rejects(&exposed("{port: http}"), &["error[missing-field]", "missing field `hosts`"]);
    rejects(&exposed("{hosts: [a.example.com], hots: []}"), &["error[unknown-field]", "did you mean `hosts`?"]);
}

#[test]
fn the_port_is_one_the_gateway_can_route() {
    rejects(
        &exposed("{hosts: [a.example.com], port: htp}"),
        &["error[unknown-port]", "(services.web.ingress.port)", "did you mean `http`?"],
    );
    rejects(
        &exposed("{hosts: [a.example.com], port: tcp-db}"),
        &["error[invalid-value]", "(services.web.ingress.port)", "is TCP"],
    );
    let two_http =
        "services:\n  web:\n    ports: {http: 8080, grpc: 9090}\n    pods: {app: web}\n    ingress: a.example.com\n";
    rejects(
        two_http,
        &["error[missing-field]", "(services.web.ingress.port)", "several HTTP-family ports (`http`, `grpc`)"],
    );
    let none = "services:\n  web:\n    ports: {tcp: 5432}\n    pods: {app: web}\n    ingress: a.example.com\n";
    rejects(none, &["error[missing-field]", "no HTTP-family or TLS port"]);
}

#[test]
fn tls_redirects_mesh_and_paths_are_for_http_ports() {
    let ok = check(None, &exposed("{hosts: [a.example.com], tls: a-cert, httpsRedirect: false}"));
    assert_eq!((ok.code, ok.stdout.as_str()), (0, ""));
    let passthrough = |extra: &str| exposed(&format!("{{hosts: [a.example.com], port: tls-admin, {extra}}}"));
    for (extra, field) in [
        ("tls: a-cert", "tls"),
        ("httpsRedirect: true", "httpsRedirect"),
        ("mesh: true", "mesh"),
        ("paths: [/a]", "paths"),
    ] {
        rejects(
            &passthrough(extra),
            &["error[invalid-value]", &format!("(services.web.ingress.{field})"), "passes through"],
        );
    }
    rejects(
        &exposed("{hosts: [a.example.com], httpsRedirect: true}"),
        &["(services.web.ingress.httpsRedirect)", "`httpsRedirect` needs `tls`"],
    );
}

#[test]
fn credentials_and_modes_are_checked() {
    rejects(
        &exposed("{hosts: [a.example.com], tls: Shop_Cert}"),
        &["error[invalid-value]", "(services.web.ingress.tls)", "credentialName `Shop_Cert`"],
    );
    rejects(
        &exposed("{hosts: [a.example.com], tls: {credentialName: a..b}}"),
        &["(services.web.ingress.tls.credentialName)"],
    );
    rejects(
        &exposed("{hosts: [a.example.com], tls: {credentialName: a, mode: MUTAL}}"),
        &["(services.web.ingress.tls.mode)", "did you mean `MUTUAL`?"],
    );
    rejects(&exposed("{hosts: [a.example.com], tls: {mode: MUTUAL}}"), &["missing field `credentialName`"]);
}

#[test]
fn paths_are_prefixes_the_routes_can_be_kept_under() {
    for (paths, at) in [("[api]", "paths[0]"), ("[\"/a b\"]", "paths[0]"), ("[/a, /a]", "paths[1]"), ("[]", "paths")] {
        rejects(
            &exposed(&format!("{{hosts: [a.example.com], paths: {paths}}}")),
            &[&format!("(services.web.ingress.{at})")],
        );
    }
    let with_route = |route: &str| {
        format!(
            "services:\n  web:\n    ports: {{http: 8080}}\n    pods: {{app: web}}\n    routes:\n      - {route}\n    ingress: {{hosts: [a.example.com], paths: [/api]}}\n"
        )
    };
    rejects(
        &with_route("{match: [{uri: {regex: \"/a.*\"}}], timeout: 1s}"),
        &["(services.web.routes[0].match[0].uri.regex)", "cannot match the URI by regex"],
    );
    rejects(
        &with_route("{match: [{uri: {prefix: /}}], rewrite: {uri: /x}}"),
        &["(services.web.routes[0].match[0].uri)", "narrower prefix"],
    );
    rejects(&with_route("{rewrite: {uri: /x}}"), &["(services.web.routes[0].rewrite.uri)"]);
    // A rewrite of a prefix under the paths is copied as it is.
    let ok = check(None, &with_route("{match: [{uri: {prefix: /api/v1}}], rewrite: {uri: /v1}}"));
    assert_eq!(ok.code, 0, "{}", ok.stdout);
}

#[test]
fn the_gateway_name_must_fit_a_dns_label() {
    let name = "a".repeat(56);
    rejects(
        &format!(
            "services:\n  {name}:\n    ports: {{http: 8080}}\n    pods: {{app: web}}\n    ingress: a.example.com\n"
        ),
        &["error[invalid-value]", "too long for its Gateway", "at most 55 characters"],
    );
}

/// `ingress-host-conflict` is reported at both services (equal hosts, or a wildcard covering
/// another's host), and where `mesh: true` routes a host an entity declares.
#[test]
fn two_services_cannot_expose_one_host() {
    let two = "services:\n  a:\n    ports: {http: 8080}\n    pods: {app: a}\n    ingress: shop.example.com\n  b:\n    ports: {http: 8080}\n    pods: {app: b}\n    ingress: [\"*.example.com\"]\n";
    let r = check(None, two);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert_eq!(r.stdout.matches("error[ingress-host-conflict]").count(), 2, "{}", r.stdout);
    assert!(r.stdout.contains("inventory/x.yaml:5:14 (services.a.ingress)"), "{}", r.stdout);
    assert!(r.stdout.contains("inventory/x.yaml:9:15 (services.b.ingress[0])"), "{}", r.stdout);
    assert!(
        r.stdout.contains("public host `shop.example.com` is also exposed by `b`, under `*.example.com`"),
        "{}",
        r.stdout
    );

    let mesh = "services:\n  a:\n    ports: {http: 8080}\n    pods: {app: a}\n    ingress: {hosts: [api.example.com], mesh: true}\nexternals:\n  partner:\n    hosts: [api.example.com]\n    ports: {https: 443}\n";
    let r = check(None, mesh);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.contains("error[ingress-host-conflict]"), "{}", r.stdout);
    assert!(r.stdout.contains("(services.a.ingress.hosts[0])"), "{}", r.stdout);
    assert!(r.stdout.contains("(externals.partner.hosts[0])"), "{}", r.stdout);
}

#[test]
fn one_certificate_on_two_gateways_is_a_warning() {
    let shared = "services:\n  a:\n    ports: {http: 8080}\n    pods: {app: a}\n    ingress: {hosts: [a.example.com], tls: wildcard-example-com}\n  b:\n    ports: {http: 8080}\n    pods: {app: b}\n    ingress: {hosts: [b.example.com], tls: wildcard-example-com}\n";
    let r = check(None, shared);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.contains("warning[ingress-shared-certificate]"), "{}", r.stdout);
    assert!(r.stdout.contains("(services.b.ingress.tls)"), "{}", r.stdout);
}

#[test]
fn the_project_file_ingress_gateway_is_validated() {
    let ok = "services:\n  a:\n    ports: {http: 8080}\n    pods: {app: a}\n";
    for (istio, at) in [
        ("{ingressGateway: {namespace: Istio_System}}", "istio.ingressGateway.namespace"),
        ("{ingressGateway: {selector: {}}}", "istio.ingressGateway.selector"),
        ("{ingressGateway: {serviceAccount: \"a b\"}}", "istio.ingressGateway.serviceAccount"),
        ("{ingressGateway: {namespaces: x}}", "istio.ingressGateway.namespaces"),
    ] {
        let r = check(Some(&format!("{PROJECT}istio: {istio}\n")), ok);
        assert_eq!(r.code, 1, "{istio}: {}{}", r.stdout, r.stderr);
        assert!(
            r.stdout.contains("meshgen.yaml:3:") && r.stdout.contains(&format!("({at})")),
            "{istio}:\n{}",
            r.stdout
        );
    }
}

/// A failed build leaves the output directory alone, as for any error.
#[test]
fn a_build_with_an_ingress_error_writes_nothing() {
    let tmp =
        project(&[("meshgen.yaml", PROJECT), ("inventory/x.yaml", &exposed("{hosts: [a.example.com], port: tcp-db}"))]);
    let r = meshgen(tmp.path(), &["build"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("nothing was written"), "{}", r.stderr);
    assert!(!tmp.path().join("out").exists());
}

/// `paths: [/v1]` exposes `/v1` and what is under `/v1/`, not the paths that merely start
/// with the same letters (`/v1-internal`, `/v10/admin`): every copied rule and the default
/// route match `exact: /v1` and `prefix: /v1/`. A path ending with `/` is a prefix already.
/// A rule that rewrites the prefix `/v1` itself is copied in two, so that the requests
/// under `/v1/` are rewritten as before (`/v1/x` to `/api/x`); under the path `/static/`,
/// the prefix `/static` becomes `/static/` and its rewrite follows.
#[test]
fn paths_expose_the_path_and_below_only() {
    let inventory = "services:\n  web:\n    ports: {http: 8080}\n    pods: {app: web}\n    routes:\n      - name: old\n        match: [{uri: {prefix: /v1}, headers: {x-old: {exact: \"1\"}}}]\n        rewrite: {uri: /api}\n      - name: files\n        match: [{uri: {prefix: /static}}]\n        rewrite: {uri: /assets}\n      - name: any\n        match: [{method: {exact: GET}}]\n    ingress: {hosts: [a.example.com], paths: [/v1, /static/]}\n";
    let tmp = project(&[("meshgen.yaml", PROJECT), ("inventory/x.yaml", inventory)]);
    let objects = by_id(&build_stdout(tmp.path()));
    let http = objects["VirtualService/apps/web-ingress"]["spec"]["http"].as_array().unwrap().clone();
    let uris = |rule: &Value| -> Vec<String> {
        rule["match"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                let uri = m["uri"].as_object().unwrap();
                uri.iter().map(|(k, v)| format!("{k}: {}", v.as_str().unwrap())).collect::<Vec<_>>().join(", ")
            })
            .collect()
    };
    let rewrite = |rule: &Value| rule["rewrite"]["uri"].as_str().map(str::to_string);
    let names: Vec<&str> = http.iter().map(|r| r["name"].as_str().unwrap_or("")).collect();
    assert_eq!(names, ["old", "old", "files", "any", ""], "{http:?}");
    assert_eq!(uris(&http[0]), ["exact: /v1"]);
    assert_eq!(rewrite(&http[0]).as_deref(), Some("/api"));
    assert_eq!(uris(&http[1]), ["prefix: /v1/"]);
    assert_eq!(rewrite(&http[1]).as_deref(), Some("/api/"));
    assert_eq!(http[1]["match"][0]["headers"]["x-old"]["exact"], "1");
    // `/static` under the path `/static/`: the prefix moves to `/static/`, and the rewrite.
    assert_eq!(uris(&http[2]), ["prefix: /static/"]);
    assert_eq!(rewrite(&http[2]).as_deref(), Some("/assets/"));
    for rule in &http[3..] {
        assert_eq!(uris(rule), ["prefix: /static/", "exact: /v1", "prefix: /v1/"], "{rule:?}");
    }
    assert!(http[3]["match"].as_array().unwrap().iter().all(|m| m["method"]["exact"] == "GET"));
}
