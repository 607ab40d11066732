//! The egress gateway across APIs: the project's shared Gateway (`istio.egressGateway.shared`),
//! the VirtualService's own exportTo (`egress.exportTo`), mutual TLS between sidecars and the
//! gateway (`istio.egressGateway.mtls`, `egress.mtls`), and the findings when APIs ask one
//! gateway port for two things (`gateway-port-conflict`).

use crate::common;

use common::{Run, documents, meshgen, project};
use meshgen::yaml::Value;

const APPS: &str = "inventory: [inventory]\ndefaults: {namespace: apps}\n";

/// `meshgen build --stdout` of a project with `meshgen.yaml` and `inventory/apis.yaml`.
fn build(project_file: &str, inventory: &str) -> Run {
    let tmp = project(&[("meshgen.yaml", project_file), ("inventory/apis.yaml", inventory)]);
    meshgen(tmp.path(), &["build", "--stdout"])
}

/// The documents of a build that must succeed.
fn built(project_file: &str, inventory: &str) -> Vec<Value> {
    let r = build(project_file, inventory);
    assert_eq!(r.code, 0, "{}", r.stderr);
    documents(&r.stdout)
}

/// The stderr of a build that must fail, with each of `expected` in it.
fn refused(project_file: &str, inventory: &str, expected: &[&str]) -> String {
    let r = build(project_file, inventory);
    assert_eq!(r.code, 1, "expected exit 1, got {}:\n{}{}", r.code, r.stdout, r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    for e in expected {
        assert!(r.stderr.contains(e), "expected `{e}` in:\n{}", r.stderr);
    }
    r.stderr
}

fn find<'a>(docs: &'a [Value], kind: &str, namespace: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| {
            d["kind"].as_str() == Some(kind)
                && d["metadata"]["namespace"].as_str() == Some(namespace)
                && d["metadata"]["name"].as_str() == Some(name)
        })
        .unwrap_or_else(|| panic!("no {kind} {namespace}/{name} in {docs:#?}"))
}

fn count(docs: &[Value], kind: &str) -> usize {
    docs.iter().filter(|d| d["kind"].as_str() == Some(kind)).count()
}

fn yaml(s: &str) -> Value {
    meshgen::yaml::from_str(s).expect("test YAML")
}

const SHARED: &str =
    "inventory: [inventory]\ndefaults: {namespace: apps}\nistio:\n  egressGateway:\n    shared: true\n";

/// Two APIs in two namespaces: one Gateway, in the gateway's namespace where no entity is,
/// traced to the project file, with one server per port for every host; both
/// VirtualServices bind to it.
#[test]
fn the_shared_gateway_is_emitted_once_for_every_api() {
    let inv = "externals:\n  news:\n    hosts: [edition.news.example]\n    ports: {http: 80}\n    egress: gateway\n  \
               wiki:\n    namespace: docs\n    hosts: [\"*.wiki.example\"]\n    ports: {tls: 443}\n    egress: {destination: www.wiki.example}\n  \
               feed:\n    hosts: [feed.example]\n    ports: {http: 80}\n    egress: gateway\n";
    let docs = built(SHARED, inv);
    assert_eq!(count(&docs, "Gateway"), 1, "{docs:#?}");
    let gw = find(&docs, "Gateway", "istio-system", "istio-egressgateway");
    assert_eq!(
        gw["metadata"]["annotations"]["meshgen.dev/source"].as_str(),
        Some("meshgen.yaml#istio.egressGateway.shared")
    );
    assert_eq!(
        gw["spec"]["servers"],
        yaml(
            "- {port: {number: 80, name: http, protocol: HTTP}, hosts: ['*']}\n\
             - {port: {number: 443, name: tls, protocol: TLS}, hosts: ['*'], tls: {mode: PASSTHROUGH}}\n"
        )
    );
    for (ns, name) in [("apps", "news"), ("docs", "wiki"), ("apps", "feed")] {
        let vs = find(&docs, "VirtualService", ns, name);
        assert_eq!(vs["spec"]["gateways"], yaml("[mesh, istio-system/istio-egressgateway]"), "{name}");
    }
    // Output order is by namespace: docs, then istio-system, where only the Gateway is.
    let order: Vec<&str> = docs.iter().map(|d| d["metadata"]["namespace"].as_str().unwrap()).collect();
    let mut sorted = order.clone();
    sorted.sort_unstable();
    assert_eq!(order, sorted);
}

/// Without any API through the gateway, the shared Gateway would have no server (which Istio
/// refuses): it is not emitted.
#[test]
fn no_shared_gateway_without_an_api_through_it() {
    let docs = built(SHARED, "externals:\n  news:\n    hosts: [edition.news.example]\n    ports: {http: 80}\n");
    assert_eq!(count(&docs, "Gateway"), 0, "{docs:#?}");
}

/// The layouts put the project's objects in files of their own: `layout: service` under the
/// pseudo-entity `istio.egressgateway`, a name no entity can have.
#[test]
fn the_project_objects_have_files_of_their_own() {
    let pf = "inventory: [inventory]\nlayout: service\ndefaults: {namespace: apps}\nistio:\n  egressGateway:\n    shared: true\n    mtls: true\n";
    let tmp = project(&[
        ("meshgen.yaml", pf),
        (
            "inventory/apis.yaml",
            "externals:\n  news:\n    hosts: [edition.news.example]\n    ports: {http: 80}\n    egress: gateway\n",
        ),
    ]);
    let r = meshgen(tmp.path(), &["build"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let files = common::tree(&tmp.path().join("out"));
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(names, ["apps/news.yaml", "istio-system/istio.egressgateway.yaml", "kustomization.yaml"]);
    let text = String::from_utf8(files["istio-system/istio.egressgateway.yaml"].clone()).unwrap();
    let kinds: Vec<String> = documents(&text).iter().map(|d| d["kind"].as_str().unwrap().to_string()).collect();
    assert_eq!(kinds, ["DestinationRule", "Gateway"]);
}

/// The shared Gateway's name, namespace and hosts are the project's; an API host it does
/// not serve is refused (the gateway would ignore its routes).
#[test]
fn the_shared_gateway_takes_the_projects_name_namespace_and_hosts() {
    let pf = "inventory: [inventory]\ndefaults: {namespace: apps}\nistio:\n  egressGateway:\n    \
              shared: {name: egress, namespace: mesh-egress, hosts: ['*.example.com', api.partner.org]}\n";
    let ok = "externals:\n  a:\n    hosts: [a.example.com]\n    ports: {http: 80}\n    egress: gateway\n  \
              p:\n    hosts: [api.partner.org]\n    ports: {https: 443}\n    egress: gateway\n";
    let docs = built(pf, ok);
    let gw = find(&docs, "Gateway", "mesh-egress", "egress");
    assert_eq!(gw["spec"]["servers"][0]["hosts"], yaml("['*.example.com', api.partner.org]"));
    assert_eq!(find(&docs, "VirtualService", "apps", "a")["spec"]["gateways"][1].as_str(), Some("mesh-egress/egress"));
    // The gateway pods' namespace still sees the APIs (not the Gateway object's).
    let bad = "externals:\n  o:\n    hosts: [api.other.org]\n    ports: {http: 80}\n    egress: gateway\n";
    refused(
        pf,
        bad,
        &[
            "error[invalid-value]",
            "`api.other.org` is not among the hosts of the shared egress Gateway `mesh-egress/egress`",
            "inventory/apis.yaml:3:13 (externals.o.hosts[0])",
        ],
    );
}

/// A wrong `shared` is reported where the project file says it.
#[test]
fn a_wrong_shared_gateway_is_reported_in_the_project_file() {
    let inv = "externals:\n  a:\n    hosts: [a.example.com]\n    ports: {http: 80}\n    egress: gateway\n";
    let pf = |shared: &str| format!("inventory: [inventory]\nistio:\n  egressGateway:\n    shared: {shared}\n");
    refused(
        &pf("{name: egress.gw}"),
        inv,
        &["error[invalid-value]", "meshgen.yaml:4:20 (istio.egressGateway.shared.name)"],
    );
    refused(&pf("{hosts: [gateway]}"), inv, &["is a short name", "(istio.egressGateway.shared.hosts[0])"]);
    refused(&pf("{hosts: []}"), inv, &["the shared Gateway has no hosts"]);
    refused(&pf("{hots: ['*']}"), inv, &["error[unknown-field]", "(istio.egressGateway.shared.hots)"]);
    refused(&pf("sometimes"), inv, &["expected `true`, `false` or a mapping", "meshgen.yaml:4:13"]);
    // `false` keeps a Gateway per API (an environment can turn the project's off).
    let docs = built(&pf("false"), inv);
    find(&docs, "Gateway", "default", "a-egress");
}

/// Example 17/18's shape: the ServiceEntry visible in its own namespace (and the gateway's),
/// the VirtualService everywhere, so that every namespace's sidecars send the host to the
/// gateway; `~` and `consumers` work as for the API's own exportTo.
#[test]
fn the_virtual_service_has_an_export_to_of_its_own() {
    let inv = "externals:\n  httpbin:\n    namespace: egress\n    hosts: [httpbin.com]\n    ports: {http: 80}\n    \
               exportTo: ['.']\n    egress: {exportTo: ['*']}\n  \
               hidden:\n    hosts: [hidden.example]\n    ports: {http: 80}\n    egress: {exportTo: ['~']}\n  \
               partners:\n    hosts: [partners.example]\n    ports: {http: 80}\n    egress: {exportTo: [web]}\n";
    let docs = built(APPS, inv);
    assert_eq!(find(&docs, "ServiceEntry", "egress", "httpbin")["spec"]["exportTo"], yaml("['.', istio-system]"));
    assert_eq!(find(&docs, "VirtualService", "egress", "httpbin")["spec"]["exportTo"], yaml("['*']"));
    // A VirtualService cannot say `~`: its own namespace, and the gateway's.
    assert_eq!(find(&docs, "VirtualService", "apps", "hidden")["spec"]["exportTo"], yaml("['.', istio-system]"));
    assert!(find(&docs, "ServiceEntry", "apps", "hidden")["spec"]["exportTo"].is_null());
    assert_eq!(find(&docs, "VirtualService", "apps", "partners")["spec"]["exportTo"], yaml("[web, istio-system]"));
    refused(
        APPS,
        "externals:\n  a:\n    hosts: [a.example]\n    ports: {http: 80}\n    egress: {exportTo: ['*', '.']}\n",
        &["error[invalid-value]", "(externals.a.egress.exportTo"],
    );
}

const MTLS: &str = "inventory: [inventory]\ndefaults: {namespace: apps}\nistio:\n  egressGateway:\n    mtls: true\n";

/// Istio's egress task with mutual TLS: the Gateway server is HTTPS with ISTIO_MUTUAL on
/// 443, the sidecars route to that port and to the API's subset of the gateway's
/// DestinationRule, which presents the API's host as SNI; the gateway routes to the API's
/// own port. TLS origination at the gateway (`credentialName`) works beside it.
#[test]
fn mutual_tls_to_the_gateway_follows_istios_task() {
    let inv = "externals:\n  insurer:\n    hosts: [api.insurer.example]\n    ports: {http: 80}\n    \
               tls: {mode: MUTUAL, credentialName: insurer-cert}\n    egress: gateway\n    traffic: {timeout: 3s}\n";
    let docs = built(MTLS, inv);
    let gw = find(&docs, "Gateway", "apps", "insurer-egress");
    assert_eq!(
        gw["spec"]["servers"],
        yaml(
            "- {port: {number: 443, name: http, protocol: HTTPS}, hosts: [api.insurer.example], tls: {mode: ISTIO_MUTUAL}}"
        )
    );
    let vs = find(&docs, "VirtualService", "apps", "insurer");
    assert_eq!(
        vs["spec"]["http"],
        yaml(
            "- match: [{gateways: [mesh], port: 80}]\n  \
               route: [{destination: {host: istio-egressgateway.istio-system.svc.cluster.local, subset: insurer, port: {number: 443}}}]\n  \
               timeout: 3s\n\
             - match: [{gateways: [apps/insurer-egress], port: 443}]\n  \
               route: [{destination: {host: api.insurer.example, port: {number: 80}}}]\n"
        )
    );
    let dr = find(&docs, "DestinationRule", "istio-system", "istio-egressgateway");
    assert_eq!(
        dr["metadata"]["annotations"]["meshgen.dev/source"].as_str(),
        Some("meshgen.yaml#istio.egressGateway.mtls")
    );
    assert_eq!(
        dr["spec"],
        yaml(
            "host: istio-egressgateway.istio-system.svc.cluster.local\n\
             subsets: [{name: insurer, trafficPolicy: {tls: {mode: ISTIO_MUTUAL, sni: api.insurer.example}}}]\n"
        )
    );
    // The gateway still originates the API's TLS with the secret.
    let own = find(&docs, "DestinationRule", "apps", "insurer");
    assert_eq!(own["spec"]["trafficPolicy"]["tls"]["credentialName"].as_str(), Some("insurer-cert"));
    assert_eq!(find(&docs, "ServiceEntry", "apps", "insurer")["spec"]["ports"][0]["targetPort"].as_u64(), Some(443));
}

/// `mtls` per API: on without the project's, off against it; an API whose only ports are
/// TLS is passed through as before under the project's `mtls`.
#[test]
fn mutual_tls_is_chosen_per_api() {
    let inv = "externals:\n  on:\n    hosts: [on.example]\n    ports: {http: 80}\n    egress: {mtls: true}\n  \
               off:\n    hosts: [off.example]\n    ports: {http: 8080}\n    egress: gateway\n";
    let docs = built(APPS, inv);
    assert_eq!(
        find(&docs, "Gateway", "apps", "on-egress")["spec"]["servers"][0]["port"]["protocol"].as_str(),
        Some("HTTPS")
    );
    assert_eq!(
        find(&docs, "Gateway", "apps", "off-egress")["spec"]["servers"][0]["port"]["protocol"].as_str(),
        Some("HTTP")
    );
    let dr = find(&docs, "DestinationRule", "istio-system", "istio-egressgateway");
    assert_eq!(dr["metadata"]["annotations"]["meshgen.dev/source"].as_str(), Some("meshgen.yaml#istio.egressGateway"));
    assert_eq!(dr["spec"]["subsets"].as_array().map(Vec::len), Some(1), "{dr:?}");

    let inv = "externals:\n  off:\n    hosts: [off.example]\n    ports: {http: 80}\n    egress: {mtls: false}\n  \
               wiki:\n    hosts: [\"*.wiki.example\"]\n    ports: {tls: 443}\n    egress: {destination: www.wiki.example}\n";
    let docs = built(MTLS, inv);
    assert_eq!(count(&docs, "DestinationRule"), 0, "no API speaks mutual TLS: {docs:#?}");
    let tls = &find(&docs, "Gateway", "apps", "wiki-egress")["spec"]["servers"][0]["tls"];
    assert_eq!(tls["mode"].as_str(), Some("PASSTHROUGH"));
}

/// Every API port of one kind on the shared Gateway's port 443 next to mutual TLS there is
/// refused, and so is mutual TLS that has no single HTTP port to carry.
#[test]
fn mutual_tls_needs_one_http_port_and_port_443_to_itself() {
    refused(
        APPS,
        "externals:\n  a:\n    hosts: [a.example]\n    ports: {http: 80, http-alt: 8080}\n    egress: {mtls: true}\n",
        &["error[invalid-value]", "(externals.a.egress.mtls)", "it has several: `http`, `http-alt`"],
    );
    refused(
        MTLS,
        "externals:\n  a:\n    hosts: [a.example]\n    ports: {http: 80, http-alt: 8080}\n    egress: gateway\n",
        &["error[invalid-value]", "inventory/apis.yaml:5:13 (externals.a.egress)", "`mtls: false`"],
    );
    refused(
        APPS,
        "externals:\n  a:\n    hosts: [a.example]\n    ports: {https: 443}\n    egress: {mtls: true}\n",
        &["error[invalid-value]", "carries a plain HTTP port, and this API has none"],
    );
    let shared_mtls = format!("{SHARED}    mtls: true\n");
    refused(
        &shared_mtls,
        "externals:\n  a:\n    hosts: [a.example]\n    ports: {http: 80}\n    egress: gateway\n  \
         b:\n    hosts: [b.example]\n    ports: {https: 443}\n    egress: gateway\n",
        &[
            "error[gateway-port-conflict]",
            "port `https` needs port 443 of the egress gateway as TLS passed through, where `a` needs HTTPS with Istio's mutual TLS",
            "inventory/apis.yaml:8:20 (externals.b.ports.https)",
            "inventory/apis.yaml:4:19 (externals.a.ports.http)",
        ],
    );
}

/// One gateway port is plain HTTP or TLS for all Gateways of the gateway pods; TLS servers
/// share a port when their hosts differ by SNI, which Gateways of their own (not the shared
/// one, not one API's) have.
#[test]
fn gateway_port_conflicts() {
    let http_and_tls = "externals:\n  d:\n    hosts: [d.example]\n    ports: {http: 8443}\n    egress: gateway\n  \
                        e:\n    hosts: [e.example]\n    ports: {tls: 8443}\n    egress: gateway\n";
    for pf in [APPS, SHARED] {
        refused(
            pf,
            http_and_tls,
            &["error[gateway-port-conflict]", "where `d` needs plain HTTP", "(externals.e.ports.tls)"],
        );
    }
    let tls_and_mutual = "externals:\n  f:\n    hosts: [f.example]\n    ports: {http: 80}\n    egress: {mtls: true}\n  \
                          g:\n    hosts: [g.example]\n    ports: {https: 443}\n    egress: gateway\n";
    let docs = built(APPS, tls_and_mutual);
    assert_eq!(count(&docs, "Gateway"), 2);
    refused(SHARED, tls_and_mutual, &["error[gateway-port-conflict]"]);
    refused(
        APPS,
        "externals:\n  f:\n    hosts: [f.example]\n    ports: {http: 80, https: 443}\n    egress: {mtls: true}\n",
        &["error[gateway-port-conflict]", "where another port of this API needs HTTPS with Istio's mutual TLS"],
    );
    // The same kind on one port is one server.
    let docs = built(
        SHARED,
        "externals:\n  a:\n    hosts: [a.example]\n    ports: {grpc: 8080}\n    egress: gateway\n  \
         b:\n    hosts: [b.example]\n    ports: {http: 8080}\n    egress: gateway\n",
    );
    assert_eq!(
        find(&docs, "Gateway", "istio-system", "istio-egressgateway")["spec"]["servers"],
        yaml("- {port: {number: 8080, name: http-8080, protocol: HTTP}, hosts: ['*']}")
    );
}

/// Overlapping hosts on one port conflict between Gateways of their own; the shared Gateway
/// serves the project's hosts once and the gateway picks the most specific route host.
#[test]
fn overlapping_hosts_conflict_only_between_gateways_of_their_own() {
    let inv = "externals:\n  wiki:\n    hosts: [\"*.wiki.example\"]\n    ports: {tls: 443}\n    egress: {destination: www.wiki.example}\n  \
               wiki-api:\n    hosts: [api.wiki.example]\n    ports: {tls: 443}\n    egress: gateway\n";
    refused(APPS, inv, &["error[gateway-conflict]"]);
    built(SHARED, inv);
}

/// An entity whose object would take the name of a project object is reported, pointing at
/// the entity and at the project file.
#[test]
fn a_project_object_name_taken_by_an_entity_is_a_collision() {
    let inv = "externals:\n  a:\n    hosts: [a.example]\n    ports: {http: 80}\n    egress: {mtls: true}\n  \
               istio-egressgateway:\n    namespace: istio-system\n    hosts: [gw.example]\n    ports: {http: 80}\n    \
               tls: {mode: SIMPLE, caCertificates: /etc/ca.pem}\n";
    refused(
        APPS,
        inv,
        &["error[name-collision]", "DestinationRule `istio-system/istio-egressgateway` would be generated twice"],
    );
}

/// The VirtualService's exportTo counts where the API is seen: two APIs with one host are a
/// `host-conflict` where their VirtualServices meet, and a service in a namespace that sees
/// only the VirtualService reaches the API through the gateway.
#[test]
fn the_virtual_services_export_to_is_where_the_api_is_seen() {
    let twice = "externals:\n  a:\n    namespace: one\n    hosts: [api.example]\n    ports: {http: 80}\n    \
                 exportTo: ['.']\n    egress: {exportTo: ['*']}\n  \
                 b:\n    namespace: two\n    hosts: [api.example]\n    ports: {http: 80}\n    exportTo: ['.']\n";
    refused(APPS, twice, &["error[host-conflict]", "host `api.example` is already claimed"]);
    let called = "externals:\n  httpbin:\n    namespace: egress\n    hosts: [httpbin.com]\n    ports: {http: 80}\n    \
                  exportTo: ['.']\n    egress: {exportTo: ['*']}\n\
                  services:\n  web:\n    namespace: web\n    ports: {http: 8080}\n    pods: {app: web}\n    dependsOn: [httpbin]\n";
    built(APPS, called);
    let hidden = called.replace("egress: {exportTo: ['*']}", "egress: gateway");
    refused(APPS, &hidden, &["error[dependency-not-visible]"]);
}

/// An environment can turn the shared Gateway off, or change it and turn mutual TLS on; the
/// project's objects are then traced to the environment's settings.
#[test]
fn environments_choose_the_shared_gateway_and_mutual_tls() {
    let pf = "inventory: [inventory]\ndefaults: {namespace: apps}\nistio:\n  egressGateway:\n    shared: true\n\
              environments:\n  dev:\n    istio:\n      egressGateway:\n        shared: false\n  \
              prod:\n    istio:\n      egressGateway:\n        shared: {hosts: ['*.example']}\n        mtls: true\n";
    let tmp = project(&[
        ("meshgen.yaml", pf),
        (
            "inventory/apis.yaml",
            "externals:\n  a:\n    hosts: [a.example]\n    ports: {http: 80}\n    egress: gateway\n",
        ),
    ]);
    let run = |env: &[&str]| {
        let mut args = vec!["build", "--stdout"];
        args.extend_from_slice(env);
        let r = meshgen(tmp.path(), &args);
        assert_eq!(r.code, 0, "{env:?}: {}", r.stderr);
        documents(&r.stdout)
    };
    find(&run(&[]), "Gateway", "istio-system", "istio-egressgateway");
    find(&run(&["--env", "dev"]), "Gateway", "apps", "a-egress");
    let prod = run(&["--env", "prod"]);
    let gw = find(&prod, "Gateway", "istio-system", "istio-egressgateway");
    let source = |d: &Value| d["metadata"]["annotations"]["meshgen.dev/source"].as_str().unwrap().to_string();
    assert_eq!(source(gw), "meshgen.yaml#environments.prod.istio.egressGateway.shared");
    assert_eq!(
        gw["spec"]["servers"],
        yaml("- {port: {number: 443, name: https, protocol: HTTPS}, hosts: ['*.example'], tls: {mode: ISTIO_MUTUAL}}")
    );
    let dr = find(&prod, "DestinationRule", "istio-system", "istio-egressgateway");
    assert_eq!(source(dr), "meshgen.yaml#environments.prod.istio.egressGateway.mtls");
}

/// Hosts are sorted once read, but a finding about one points at the host as written: the
/// second host of `[z.example, a.example]` is `hosts[1]`, whatever its sorted place.
#[test]
fn findings_about_a_host_point_where_it_is_written() {
    let written = |name: &str, at: usize| format!("(externals.{name}.hosts[{at}])");
    // The shared Gateway does not serve the second host.
    let pf = "inventory: [inventory]\nistio:\n  egressGateway:\n    shared: {hosts: [z.example]}\n";
    let one = "externals:\n  b:\n    hosts: [z.example, a.example]\n    ports: {http: 80}\n    egress: gateway\n";
    refused(pf, one, &["`a.example` is not among the hosts", "inventory/apis.yaml:3:24 (externals.b.hosts[1])"]);
    // Two APIs claim `a.example`, through Gateways of their own: both findings at `b`'s.
    let two = one.replace(
        "externals:\n",
        "externals:\n  a:\n    hosts: [a.example]\n    ports: {http: 80}\n    egress: gateway\n",
    );
    let stderr = refused(APPS, &two, &["error[gateway-conflict]", "error[host-conflict]"]);
    for code in ["gateway-conflict", "host-conflict"] {
        let at = stderr.split(&format!("error[{code}]")).nth(1).and_then(|s| s.lines().nth(1)).unwrap_or_default();
        assert!(at.ends_with(&written("b", 1)), "{code}: {at}\n{stderr}");
    }
    // A host covered by a wildcard of the same API.
    let wiki = "externals:\n  w:\n    hosts: [a.wiki.example, \"*.wiki.example\"]\n    ports: {tls: 443}\n    \
                egress: {destination: www.wiki.example}\n";
    refused(APPS, wiki, &["`a.wiki.example` is already covered by `*.wiki.example`", &written("w", 0)]);
}

/// `egress-resolution-none` is about resolution NONE that is written or derived from CIDR
/// addresses, and points there; a wildcard without `destination` is that error alone.
#[test]
fn egress_resolution_none_points_at_what_makes_it_none() {
    let wildcard = "externals:\n  w:\n    hosts: [\"*.wiki.example\"]\n    ports: {tls: 443}\n    egress: gateway\n";
    let stderr = refused(APPS, wildcard, &["needs a concrete `destination`"]);
    assert!(!stderr.contains("egress-resolution-none"), "{stderr}");
    let cidr = "externals:\n  f:\n    hosts: [feed.example]\n    addresses: [10.1.0.0/24]\n    ports: {http: 80}\n    \
                egress: gateway\n";
    refused(
        APPS,
        cidr,
        &["error[egress-resolution-none]", "derived from the CIDR `addresses`", "(externals.f.addresses)"],
    );
    let written = "externals:\n  f:\n    hosts: [feed.example]\n    resolution: NONE\n    ports: {http: 80}\n    \
                   egress: gateway\n";
    let stderr = refused(APPS, written, &["error[egress-resolution-none]", "(externals.f.resolution)"]);
    assert!(!stderr.contains("derived"), "{stderr}");
}
