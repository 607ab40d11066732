//! Hostile and broken inventories: each gives a clear diagnostic naming file:line:col and
//! the YAML path, exit code 1, no panic, and leaves a previously built `out/` untouched.

use crate::common;

use std::fs;

use common::{meshgen, project, tree};

const PROJECT: &str = "inventory: [inventory]\ndefaults: {namespace: apps}\n";
const GOOD: &str = "services:\n  web:\n    ports: {http: 8080}\n    pods: {app: web}\n    traffic: {timeout: 5s}\n";

/// Builds a good project, adds `inventory/bad.yaml` with `bad`, rebuilds, and checks that
/// the build fails with every `expected` fragment on stderr and `out/` is unchanged.
fn rejects(bad: &[u8], expected: &[&str]) -> String {
    rejects_file(|path| fs::write(path, bad).unwrap(), expected)
}

/// [`rejects`], with `inventory/bad.yaml` written by `write`.
fn rejects_file(write: impl FnOnce(&std::path::Path), expected: &[&str]) -> String {
    let tmp = project(&[("meshgen.yaml", PROJECT), ("inventory/good.yaml", GOOD)]);
    let first = meshgen(tmp.path(), &["build"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let before = tree(&tmp.path().join("out"));
    assert!(before.len() >= 2, "the good build wrote its files");
    write(&tmp.path().join("inventory/bad.yaml"));
    let r = meshgen(tmp.path(), &["build"]);
    assert_eq!(r.code, 1, "expected exit 1, got {}:\n{}", r.code, r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    for e in expected {
        assert!(r.stderr.contains(e), "expected `{e}` in:\n{}", r.stderr);
    }
    assert!(r.stderr.contains("nothing was written"), "{}", r.stderr);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    assert_eq!(tree(&tmp.path().join("out")), before, "out/ changed after a failed build");
    // No staging directory is left behind.
    let leftovers: Vec<_> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("staging"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    r.stderr
}

#[test]
fn malformed_yaml() {
    rejects(b"services:\n  api: {ports: [}\n", &["error[yaml-syntax]", "inventory/bad.yaml:2:"]);
}

#[test]
fn unknown_field_suggests_the_right_one() {
    rejects(
        b"services:\n  api:\n    hots: api.apps.internal\n    pods: {app: api}\n",
        &[
            "error[unknown-field]",
            "unknown field `hots`",
            "inventory/bad.yaml:3:5 (services.api.hots)",
            "did you mean `host`?",
        ],
    );
}

#[test]
fn wrong_type() {
    rejects(
        b"services:\n  api:\n    ports: {http: eighty}\n    pods: {app: api}\n",
        &["inventory/bad.yaml:3:19 (services.api.ports.http)", "expected a port number"],
    );
    rejects(
        b"services:\n  api:\n    ports: {http: 80}\n    pods: [app, api]\n",
        &["error[invalid-type]", "inventory/bad.yaml:4:11 (services.api.pods)"],
    );
}

#[test]
fn duplicate_service_points_at_both_declarations() {
    let err = rejects(
        b"externals:\n  web:\n    hosts: [web.example.com]\n    ports: {https: 443}\n",
        &["error[duplicate-name]", "`web` is declared twice", "inventory/bad.yaml:2:3"],
    );
    assert!(err.contains("inventory/good.yaml:2:3"), "the first declaration is shown:\n{err}");
}

#[test]
fn duplicate_vm_addresses_and_names_point_at_both() {
    let stderr = rejects(
        b"services:\n  api:\n    ports: {http: 80}\n    vms:\n      - {address: 10.0.0.1}\n      - {address: 10.0.0.2, name: api-a}\n      - {address: 10.0.0.1}\n      - {address: 10.0.0.3, name: api-a}\n",
        &[
            "error[duplicate-address]",
            "address `10.0.0.1` is listed twice",
            "inventory/bad.yaml:7:19 (services.api.vms[2].address)",
            "inventory/bad.yaml:5:19 (services.api.vms[0].address): first listed here",
            "error[duplicate-name]",
            "two VMs are named `api-a`",
            "inventory/bad.yaml:8:9 (services.api.vms[3])",
            "inventory/bad.yaml:6:9 (services.api.vms[1]): the other one",
        ],
    );
    assert_eq!(stderr.matches("error[").count(), 2, "{stderr}");
}

#[test]
fn dangling_dependency_suggests_a_known_name() {
    rejects(
        b"services:\n  api:\n    ports: {http: 80}\n    pods: {app: api}\n    dependsOn: [wbe]\n",
        &["error[unknown-dependency]", "inventory/bad.yaml:5:17 (services.api.dependsOn[0])", "did you mean `web`?"],
    );
}

#[test]
fn invalid_addresses_hosts_and_ports() {
    rejects(
        b"services:\n  db:\n    host: \"bad host\"\n    addresses: [10.0.0.0/33]\n    ports: {tcp: 70000, tcp-b: 0}\n    vms: [{address: 10.0.0.300}]\n",
        &[
            "inventory/bad.yaml:3:11 (services.db.host)",
            "inventory/bad.yaml:4:17 (services.db.addresses[0])",
            "port number 70000 is out of range",
            "port number 0 is out of range",
            "inventory/bad.yaml:6:21 (services.db.vms[0].address)",
        ],
    );
    rejects(
        b"externals:\n  x:\n    hosts: [\"*\"]\n    ports: {https: 443}\n",
        &["inventory/bad.yaml:3:13 (externals.x.hosts[0])"],
    );
}

#[test]
fn names_that_would_escape_out_or_break_kubernetes() {
    rejects(
        b"services:\n  ../../etc:\n    pods: {app: x}\n    ports: {http: 80}\n",
        &["error[invalid-value]", "inventory/bad.yaml:2:3", "`../../etc`"],
    );
    rejects(
        b"services:\n  Billing:\n    pods: {app: x}\n    ports: {http: 80}\n",
        &["inventory/bad.yaml:2:3", "`Billing`"],
    );
    rejects(
        b"services:\n  a:\n    namespace: ../kube-system\n    pods: {app: x}\n    ports: {http: 80}\n",
        &["inventory/bad.yaml:3:16 (services.a.namespace)"],
    );
    rejects(
        b"services:\n  a:\n    pods: {app: x}\n    ports: {http: 80}\n    vms: [{address: 10.0.0.1, name: ../x}]\n",
        &["(services.a.vms[0].name)"],
    );
}

#[test]
fn alias_bomb_is_refused_quickly() {
    let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for (prev, name) in ["a", "b", "c", "d", "e", "f", "g", "h"].iter().zip(["b", "c", "d", "e", "f", "g", "h", "i"]) {
        bomb.push_str(&format!("{name}: &{name} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
    }
    bomb.push_str("services: *i\n");
    rejects(bomb.as_bytes(), &["error[yaml-syntax]", "inventory/bad.yaml"]);
}

#[test]
fn deep_nesting_is_refused() {
    let deep = format!("services: {}", "[".repeat(100_000));
    rejects(deep.as_bytes(), &["error[yaml-syntax]", "inventory/bad.yaml:1:"]);
}

#[test]
fn deep_block_nesting_is_refused() {
    // Indentation, not brackets: the pre-scan lets it through and the reader's depth limit
    // stops it, at the first collection too deep.
    let deep = format!("services:\n  api:\n    {}x\n", "- ".repeat(100_000));
    rejects(
        deep.as_bytes(),
        &["error[yaml-syntax]", "collections nest deeper than 128 levels", "inventory/bad.yaml:3:"],
    );
}

#[test]
fn yaml_no_manifest_can_hold_is_refused_where_it_is_written() {
    rejects(
        b"services:\n  api:\n    ports: {80: http}\n    pods: {app: api}\n",
        &[
            "error[yaml-syntax]: unsupported YAML: the key `80` is not a string",
            "inventory/bad.yaml:3:13",
            "quote the key to make it a string: `\"80\"`",
        ],
    );
    rejects(
        b"services:\n  api:\n    host: !secret api\n",
        &["unsupported YAML: tag `!secret`", "inventory/bad.yaml:3:"],
    );
    rejects(
        b"services:\n  api:\n    ports: {http: 80}\n    pods: {app: api}\n    traffic: {timeout: .inf}\n",
        &["unsupported YAML: `.inf` is not a finite number", "inventory/bad.yaml:5:24"],
    );
    rejects(
        b"services:\n  api:\n    ports: {http: 80}\n    pods: {app: api}\n    pods: {app: b}\n",
        &["invalid YAML: duplicate key `pods`", "inventory/bad.yaml:5:5", "each key may appear once per mapping"],
    );
}

#[test]
fn huge_file_is_refused_before_parsing() {
    // 50 MiB, sparse: the size is checked before a byte is read, so nothing is written.
    rejects_file(
        |path| fs::File::create(path).and_then(|f| f.set_len(50 * 1024 * 1024)).unwrap(),
        &["error[file-too-large]", "inventory/bad.yaml"],
    );
}

#[test]
fn a_file_size_limit_of_4_gib_or_more_is_refused() {
    // Positions within a file are kept in 32 bits, so no limit may let a file reach 4 GiB;
    // the highest accepted limit itself is fine.
    for (limit, code) in [(5_000_000_000_u64, 1), (4_294_967_295, 0)] {
        let settings =
            format!("inventory: [inventory]\ndefaults: {{namespace: apps}}\nlimits: {{maxFileSize: {limit}}}\n");
        let tmp = project(&[("meshgen.yaml", &settings), ("inventory/good.yaml", GOOD)]);
        let r = meshgen(tmp.path(), &["build", "--stdout"]);
        assert_eq!(r.code, code, "{}", r.stderr);
        if code == 1 {
            assert!(r.stdout.is_empty(), "{}", r.stdout);
            for e in ["error[invalid-value]", "meshgen.yaml:3:23 (limits.maxFileSize)", "help: split the inventory"] {
                assert!(r.stderr.contains(e), "expected `{e}` in:\n{}", r.stderr);
            }
        }
    }
}

#[test]
fn non_utf8_file() {
    rejects(b"services:\n  web\xff: {}\n", &["error[invalid-utf8]", "inventory/bad.yaml:2:"]);
}

#[test]
fn empty_inventory_is_an_error_unless_allowed() {
    let tmp = project(&[("meshgen.yaml", PROJECT), ("inventory/empty.yaml", "# nothing yet\n")]);
    let r = meshgen(tmp.path(), &["build"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("error[empty-inventory]"), "{}", r.stderr);
    assert!(!tmp.path().join("out").exists(), "nothing is written");

    fs::write(tmp.path().join("meshgen.yaml"), format!("{PROJECT}allowEmpty: true\n")).unwrap();
    let r = meshgen(tmp.path(), &["build", "--stdout"]);
    assert_eq!((r.code, r.stdout.as_str()), (0, ""), "{}", r.stderr);
}

#[test]
fn errors_are_all_reported_in_one_run_and_as_json() {
    let tmp = project(&[
        ("meshgen.yaml", PROJECT),
        ("inventory/a.yaml", "services:\n  a:\n    hots: x\n"),
        ("inventory/b.yaml", "services:\n  b:\n    ports: {http: 80}\n    pods: {app: b}\n    dependsOn: [nope]\n"),
    ]);
    let r = meshgen(tmp.path(), &["build", "-o", "json"]);
    assert_eq!(r.code, 1);
    let v: serde_json::Value =
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", r.stdout));
    let text = v.to_string();
    for e in ["unknown-field", "unknown-dependency", "inventory/a.yaml", "inventory/b.yaml"] {
        assert!(text.contains(e), "`{e}` missing from {text}");
    }
}

#[test]
fn a_foreign_file_in_out_is_never_overwritten_or_deleted() {
    let tmp = project(&[("meshgen.yaml", PROJECT), ("inventory/good.yaml", GOOD)]);
    let mine = tmp.path().join("out/apps/virtualservice-web.yaml");
    fs::create_dir_all(mine.parent().unwrap()).unwrap();
    fs::write(&mine, "hand written\n").unwrap();
    fs::write(tmp.path().join("out/README.md"), "keep me\n").unwrap();
    let r = meshgen(tmp.path(), &["build"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("virtualservice-web.yaml"), "{}", r.stderr);
    assert_eq!(fs::read_to_string(&mine).unwrap(), "hand written\n");
    fs::remove_file(&mine).unwrap();
    let r = meshgen(tmp.path(), &["build"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(fs::read_to_string(tmp.path().join("out/README.md")).unwrap(), "keep me\n");
}

#[test]
fn settings_istio_would_drop_or_misroute_are_refused() {
    rejects(
        b"services:\n  api:\n    ports: {http: 80}\n    pods: {app: api}\n    addresses: [10.9.0.1]\n",
        &["inventory/bad.yaml:5:16 (services.api.addresses)", "needs a ServiceEntry"],
    );
    rejects(
        b"externals:\n  x:\n    hosts: [a.example.com]\n    ports: {http: 80}\n    tls: {mode: MUTUAL, credentialName: cert}\n",
        &["(externals.x.tls.credentialName)", "no caller of `x` would read its `credentialName`"],
    );
    rejects(
        b"externals:\n  x:\n    hosts: [\"*.example.com\"]\n    ports: {http: 80}\n    tls: originate\n",
        &["(externals.x.tls)", "needs the egress gateway"],
    );
    // The same origination written on the port: Envoy still connects to the original port.
    rejects(
        b"externals:\n  x:\n    hosts: [\"*.example.com\"]\n    ports:\n      http: {number: 80, tls: originate}\n",
        &["inventory/bad.yaml:5:31 (externals.x.ports.http.tls)", "needs the egress gateway"],
    );
    rejects(
        b"externals:\n  x:\n    hosts: [a.example.net]\n    resolution: NONE\n    ports:\n      \
          http: {number: 80, tls: {mode: SIMPLE, port: 443}}\n",
        &["(externals.x.ports.http.tls)", "needs the egress gateway"],
    );
    rejects(
        b"externals:\n  x:\n    hosts: [a.example.com]\n    ports: {http: 80}\n    egress: {destination: a.example.com}\n",
        &["(externals.x.egress.destination)", "`destination` is for wildcard hosts"],
    );
}

/// Values Istio's admission webhook refuses (rules from istio-rules.md §2), which the CRD
/// schema alone would let through: meshgen must refuse them first.
#[test]
fn values_the_istio_webhook_would_refuse() {
    let svc = |extra: &str| {
        format!(
            "services:\n  api:\n    host: api.apps.internal\n    ports: {{http: 80}}\n    serviceAccount: api\n    vms: [{{address: 10.0.0.9, labels: {{version: v1}}}}]\n{extra}"
        )
    };
    let cases: Vec<(String, &str)> = vec![
        (svc("    routes: [{match: [{uri: {regex: \"(?=x)\"}}]}]\n"), "is not an RE2 regular expression"), // VS-20
        (svc("    routes: [{match: [{uri: {regex: \"a{1001}\"}}]}]\n"), "repetition count above 1000"),
        (svc("    routes: [{match: [{headers: {x-a: {prefix: \"\"}}}]}]\n"), "an empty prefix"), // VS-19
        (svc("    routes: [{rewrite: {uri: \"\"}}]\n"), "an empty `uri` rewrite"), // VS-44
        (svc("    traffic: {fault: {abort: {httpStatus: 503, percentage: 0.00001}}}\n"), "percentage 0.00001 is out of range"), // VS-34
        (svc("    traffic: {retries: {attempts: 2, retryOn: \"5xx, reset\"}}\n"), "unknown retryOn condition ` reset`"), // VS-43
        (svc("    traffic: {retries: {attempts: 2, retryOn: \"999\"}}\n"), "unknown retryOn condition `999`"),
        (svc("    traffic: {timeout: 9999999h}\n"), "is too long"), // C-08
        (svc("    traffic: {timeout: 1999999.5ns}\n"), "whole number of milliseconds"),
        (svc("    traffic: {loadBalancer: {consistentHash: {httpHeaderName: x, maglev: {}}}}\n"), "maglev needs `tableSize`"), // DR-19
        (svc("    traffic: {loadBalancer: {consistentHash: {httpCookie: {name: \"\", ttl: 10s}}}}\n"), "the cookie needs a name"), // DR-15
        (svc("    traffic: {loadBalancer: {consistentHash: {useSourceIp: false, httpHeaderName: x}}}\n"), "`useSourceIp: false`"),
        (
            svc("    traffic:\n      outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 1s}\n      loadBalancer: {localityLbSetting: {failover: [{from: us, to: eu}], failoverPriority: [topology.kubernetes.io/zone]}}\n"),
            "cannot be combined with the topology label",
        ), // DR-22
        (svc("    traffic: {connectionPool: {tcp: {maxConnections: 3000000000}}}\n"), "above Istio's limit"), // int32
        (svc("    routes: [{split: {v1: 2147483647, v2: 2147483647}}]\n    subsets: {v2: {version: v2}}\n"), "more than Istio can count"), // VS-46
        (svc("    workloadGroup: {probe: {exec: {command: [\"\"]}}}\n"), "an empty command word"), // WG-08
        ("services:\n  legacy:\n    host: legacy\n    ports: {http: 80}\n    pods: {app: legacy}\n".into(), "is a short name"), // §6.7, GW-04
        (
            "externals:\n  x:\n    hosts: [api.x.example]\n    ports: {http: 80}\n    egress: gateway\n    tls: {mode: SIMPLE, credentialName: \"configmap://other/ca\"}\n".into(),
            "is not a secret name",
        ), // DR-29
        (
            format!("externals:\n  {}:\n    hosts: [api.x.example]\n    ports: {{http: 80}}\n    egress: gateway\n", "a".repeat(57)),
            "is too long for its Gateway",
        ), // GW-01
        (
            "externals:\n  x:\n    hosts: [\"*.x.example\", api.x.example]\n    ports: {https: 443}\n    egress: gateway\n".into(),
            "is already covered by",
        ), // VS-09
        (
            "externals:\n  x:\n    hosts: [api.x.example]\n    ports: {http: 80}\n    resolution: NONE\n    tls: originate\n".into(),
            "needs the egress gateway",
        ),
    ];
    for (inventory, expected) in &cases {
        rejects(inventory.as_bytes(), &[expected, "inventory/bad.yaml:"]);
    }
}

/// exportTo that Istio would refuse as written is normalised: the own namespace is `.`
/// (never both), and `~` never sits beside the egress gateway's namespace.
#[test]
fn export_to_is_written_the_way_istio_accepts_it() {
    let tmp = project(&[
        ("meshgen.yaml", PROJECT),
        (
            "inventory/x.yaml",
            "externals:\n  x:\n    hosts: [api.x.example]\n    ports: {http: 80}\n    exportTo: [\".\", apps, web]\n  y:\n    hosts: [api.y.example]\n    ports: {http: 80}\n    exportTo: [\"~\"]\n    egress: gateway\n",
        ),
    ]);
    let r = meshgen(tmp.path(), &["build", "--stdout"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("  exportTo:\n    - \".\"\n    - web\n"), "{}", r.stdout);
    assert!(!r.stdout.contains("- \"~\""), "{}", r.stdout);
    assert!(r.stdout.contains("  exportTo:\n    - istio-system\n"), "{}", r.stdout);
}

#[test]
fn missing_directories_named_in_the_project_file_point_at_it() {
    let tmp = project(&[("meshgen.yaml", "inventory: [inventry]\ntemplates: tpl\n"), ("inventory/good.yaml", GOOD)]);
    let r = meshgen(tmp.path(), &["build"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("meshgen.yaml:1:13 (inventory[0])"), "{}", r.stderr);
    assert!(r.stderr.contains("meshgen.yaml:2:12 (templates)") && r.stderr.contains("templates eject"), "{}", r.stderr);
    assert!(!tmp.path().join("out").exists());
}

/// Route settings Istio's webhook refuses (istio-rules.md VS-26, VS-27, VS-28, VS-30, VS-32,
/// VS-41, VS-50, VS-52 and C-16): each is an error at its own YAML path, with a fix.
#[test]
fn route_settings_the_istio_webhook_would_refuse() {
    let route = |route: &str| {
        format!(
            "services:\n  api:\n    host: api.apps.internal\n    ports: {{http: 80, https: 443}}\n    serviceAccount: api\n    vms: [{{address: 10.0.0.9, labels: {{version: v1}}}}]\n    routes:\n      - {route}\n"
        )
    };
    let at = |path: &str| format!("(services.api.routes[0].{path})");
    let cases: Vec<(String, String, &str)> = vec![
        // C-16 / VS-27: Envoy's header formatter reads `%` as the start of a variable.
        (route("{headers: {request: {set: {x-pct: \"100%\"}}}}"), at("headers.request.set.x-pct"), "un-escaped `%`"),
        (route("{headers: {response: {add: {x-a: \"50% off\"}}}}"), at("headers.response.add.x-a"), "un-escaped `%`"),
        (route("{headers: {request: {add: {x-a: \"%REQ(x-b\"}}}}"), at("headers.request.add.x-a"), "write `%%`"),
        (route("{headers: {request: {set: {x-a: \"%FOO([a])%\"}}}}"), at("headers.request.set.x-a"), "malformed"),
        (route("{headers: {request: {set: {x-a: \"a\\x7fb\"}}}}"), at("headers.request.set.x-a"), "control character"),
        (
            route("{to: [{subset: v1, headers: {response: {set: {x-pct: \"5%\"}}}}]}"),
            at("to[0].headers.response.set.x-pct"),
            "un-escaped `%`",
        ),
        // VS-25 / VS-26: `host` and pseudo-headers.
        (route("{headers: {response: {set: {host: x}}}}"), at("headers.response.set.host"), "`host`"),
        (route("{headers: {response: {remove: [\":status\"]}}}"), at("headers.response.remove[0]"), "pseudo-header"),
        (route("{headers: {request: {remove: [Host]}}}"), at("headers.request.remove[0]"), "cannot remove `Host`"),
        (route("{headers: {request: {set: {\":path\": /x}}}}"), at("headers.request.set.:path"), "rewrite.uri"),
        (
            route("{to: [{subset: v1, headers: {request: {remove: [host]}}}]}"),
            at("to[0].headers.request.remove[0]"),
            "cannot remove `host`",
        ),
        // VS-28: one authority.
        (
            route("{rewrite: {authority: a.example.com}, headers: {request: {set: {host: b.example.com}}}}"),
            at("headers.request.set.host"),
            "the authority is set twice",
        ),
        (
            route("{headers: {request: {set: {host: a.example.com}, add: {\":authority\": b.example.com}}}}"),
            at("headers.request.add.:authority"),
            "by `headers.request.set.host`",
        ),
        // VS-30, VS-32: CORS.
        (
            route("{corsPolicy: {allowMethods: [get]}}"),
            at("corsPolicy.allowMethods[0]"),
            "write it in upper case, `GET`",
        ),
        (
            route("{corsPolicy: {allowMethods: [PURGE]}}"),
            at("corsPolicy.allowMethods[0]"),
            "not an HTTP method Istio allows",
        ),
        (route("{corsPolicy: {maxAge: 1500ms}}"), at("corsPolicy.maxAge"), "whole number of seconds"),
        (route("{corsPolicy: {maxAge: 0s}}"), at("corsPolicy.maxAge"), "at least 1ms"),
        // VS-41: redirect scheme.
        (route("{redirect: {scheme: HTTPS}}"), at("redirect.scheme"), "`http` or `https`"),
        (route("{redirect: {scheme: ftp, uri: /x}}"), at("redirect.scheme"), "`http` or `https`"),
        // VS-50, VS-52: empty match lists.
        (route("{match: [{sniHosts: []}]}"), at("match[0].sniHosts"), "`sniHosts` is empty"),
        (
            route("{match: [{destinationSubnets: []}]}"),
            at("match[0].destinationSubnets"),
            "`destinationSubnets` is empty",
        ),
    ];
    for (inventory, path, expected) in &cases {
        let err = rejects(inventory.as_bytes(), &[path, expected, "error[invalid-value]", "= help:"]);
        assert_eq!(err.matches("error[").count(), 1, "one error for\n{inventory}\n{err}");
    }
}

/// What Istio's webhook accepts in the same places stays accepted: `%%`, Envoy variables,
/// the authority set once (also as `:authority`), upper-case methods and `*`, whole seconds.
#[test]
fn route_settings_the_istio_webhook_accepts_build() {
    let inventory = "services:\n  api:\n    host: api.apps.internal\n    ports: {http: 80}\n    pods: {app: api}\n    routes:\n      - match: [{uri: {prefix: /a}}]\n        headers:\n          request: {set: {x-pct: \"100%%\", x-host: \"%HOSTNAME%\", \":authority\": a.example.com}, add: {x-ua: \"%REQ(user-agent)%\", x-md: \"%UPSTREAM_METADATA([\\\"istio\\\", \\\"x\\\"])%\"}, remove: [x-debug]}\n          response: {set: {x-tab: \"a\\tb\"}, remove: [x-internal]}\n        corsPolicy: {allowMethods: [GET, OPTIONS, \"*\"], maxAge: 24h}\n      - match: [{uri: {prefix: /b}}]\n        rewrite: {authority: b.example.com}\n      - match: [{uri: {prefix: /c}}]\n        redirect: {scheme: https}\n";
    let tmp = project(&[("meshgen.yaml", PROJECT), ("inventory/api.yaml", inventory)]);
    let r = meshgen(tmp.path(), &["build", "--stdout"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for e in ["x-pct: \"100%%\"", "\":authority\": a.example.com", "maxAge: \"24h\"", "scheme: https"] {
        assert!(r.stdout.contains(e), "expected `{e}` in:\n{}", r.stdout);
    }
}

/// A short-form subset (`{version: v2, …}`: labels) whose `tls` holds a TLS mode or
/// `originate` was meant as the long form, like `traffic` there; a label named `tls` with
/// another value stays a label.
#[test]
fn a_short_form_subset_with_a_tls_mode_needs_labels() {
    let subset = |s: &str| {
        format!("services:\n  api:\n    ports: {{http: 80}}\n    pods: {{app: api}}\n    subsets: {{v2: {s}}}\n")
    };
    for mode in ["DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL", "originate"] {
        rejects(
            subset(&format!("{{version: v2, tls: {mode}}}")).as_bytes(),
            &["(services.api.subsets.v2)", "`tls` needs `labels` beside it"],
        );
    }
    let tmp = project(&[("meshgen.yaml", PROJECT), ("inventory/api.yaml", &subset("{version: v2, tls: enabled}"))]);
    let r = meshgen(tmp.path(), &["build", "--stdout"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("tls: enabled"), "the label is kept:\n{}", r.stdout);
}
