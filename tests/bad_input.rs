//! Hostile and broken inventories: each gives a clear diagnostic naming file:line:col and
//! the YAML path, exit code 1, no panic, and leaves a previously built `out/` untouched.

use crate::common;

use std::fs;

use common::{assert_in_user_words, meshgen, project, tree};

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
    assert_in_user_words(tmp.path());
    r.stderr
}

/// `build --stdout` of a project with `inventory` beside the good file; it must succeed.
fn builds(inventory: &str) -> common::Run {
    let tmp = project(&[("meshgen.yaml", PROJECT), ("inventory/good.yaml", GOOD), ("inventory/new.yaml", inventory)]);
    let r = meshgen(tmp.path(), &["build", "--stdout"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r
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
    let r = builds(inventory);
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

/// The report of a bad `inventory/bad.yaml`, for a snapshot: the human format, as a
/// newcomer reads it.
fn report(bad: &str, expected: &[&str]) -> String {
    rejects(bad.as_bytes(), expected)
}

/// Snapshots a report as `bad_input__<name>`.
fn snapshot(name: &str, report: String) {
    insta::with_settings!({omit_expression => true}, {
        insta::assert_snapshot!(name, report);
    });
}

/// A value of the wrong shape says what was expected in YAML's words, with the shape
/// written out; no Rust type is named.
#[test]
fn shape_errors_show_the_expected_shape_as_yaml() {
    let svc = |extra: &str| format!("services:\n  api:\n    ports: {{http: 80}}\n{extra}");
    snapshot("shape_vms_scalar", report(&svc("    vms: 10.0.0.1\n"), &["e.g. `vms: [{address: 10.0.0.1}]`"]));
    snapshot(
        "shape_vm_not_a_mapping",
        report(&svc("    vms: [10.0.0.1]\n"), &["expected a mapping, found the string `10.0.0.1`"]),
    );
    snapshot(
        "shape_number_out_of_range",
        report(
            &svc("    vms: [{address: 10.0.0.1, weight: -1}]\n"),
            &["expected a whole number from 0 to 4294967295, found the number `-1`"],
        ),
    );
    snapshot(
        "shape_missing_field",
        report(&svc("    vms: [{name: vm-a}]\n"), &["missing field `address`", "add `address`, e.g. `vms: [{address:"]),
    );
    // The common fields each show their own example.
    let pods = |extra: &str| svc(&format!("    pods: {{app: api}}\n{extra}"));
    for (field, bad, example) in [
        ("dependsOn", "dependsOn: payments", "`dependsOn: [payments, {name: search, ports: [http]}]`"),
        ("routes", "routes: {subset: v2}", "`routes: [{match: [{uri: {prefix: /v2}}], subset: v2}]`"),
        ("subsets", "subsets: [v2]", "`subsets: {v2: {version: v2}}`"),
        ("labels", "labels: [version]", "`labels: {version: v1}`"),
        ("traffic", "traffic: fast", "`traffic: {timeout: 10s, retries: {attempts: 3}}`"),
        ("tls", "tls: 5", "`tls: originate` or `tls: {mode: MUTUAL, credentialName: client-cert}`"),
        (
            "ports.http",
            "ports: {http: [80]}",
            "expected a port number or a mapping with `number`, e.g. `ports: {http: 8080}`",
        ),
    ] {
        let inventory = if field.starts_with("ports") {
            format!("services:\n  api:\n    {bad}\n    pods: {{app: api}}\n")
        } else {
            pods(&format!("    {bad}\n"))
        };
        rejects(inventory.as_bytes(), &[&format!("(services.api.{field})"), example]);
    }
    rejects(b"services:\n  api: 5\n", &["(services.api)", "expected a service: a mapping of its fields"]);
    rejects(
        b"externals:\n  x:\n    hosts: [a.example.com]\n    ports: {https: 443}\n    endpoints: 10.0.0.1\n",
        &["(externals.x.endpoints)", "e.g. `endpoints: [{address: 10.0.0.1}]`"],
    );
}

/// A bare number where a duration is expected, wherever durations are read, says which
/// unit it lacks.
#[test]
fn a_number_where_a_duration_is_expected_suggests_a_unit() {
    let svc = |extra: &str| format!("services:\n  api:\n    ports: {{http: 80}}\n    pods: {{app: api}}\n{extra}");
    snapshot("duration_without_unit", report(&svc("    traffic: {timeout: 10}\n"), &["write `timeout: 10s`"]));
    for (yaml, path, fix) in [
        ("    routes: [{timeout: 1.5}]\n", "routes[0].timeout", "`timeout: 1.5s`"),
        (
            "    traffic: {retries: {attempts: 2, perTryTimeout: 2}}\n",
            "traffic.retries.perTryTimeout",
            "`perTryTimeout: 2s`",
        ),
        (
            "    traffic: {connectionPool: {tcp: {connectTimeout: 3}}}\n",
            "traffic.connectionPool.tcp.connectTimeout",
            "`connectTimeout: 3s`",
        ),
        (
            "    traffic: {connectionPool: {tcp: {tcpKeepalive: {interval: 75}}}}\n",
            "traffic.connectionPool.tcp.tcpKeepalive.interval",
            "`interval: 75s`",
        ),
        ("    traffic: {outlierDetection: {interval: 10}}\n", "traffic.outlierDetection.interval", "`interval: 10s`"),
        ("    routes: [{corsPolicy: {maxAge: 60}}]\n", "routes[0].corsPolicy.maxAge", "`maxAge: 60s`"),
    ] {
        rejects(svc(yaml).as_bytes(), &[&format!("(services.api.{path})"), "expected a duration", fix]);
    }
}

/// An Istio object pasted into the inventory is recognised as one.
#[test]
fn a_kubernetes_manifest_gets_its_own_message() {
    snapshot(
        "kubernetes_manifest",
        report(
            "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata:\n  name: stripe\nspec:\n  hosts: [api.stripe.com]\n  ports: [{number: 443, name: https, protocol: HTTPS}]\n  resolution: DNS\n",
            &[
                "error[kubernetes-manifest]",
                "this is a Kubernetes manifest (ServiceEntry), not an inventory document",
                "meshgen import",
            ],
        ),
    );
    let err = rejects(
        b"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n",
        &["(Deployment)", "keep manifests meshgen does not generate beside its output"],
    );
    assert_eq!(err.matches("error[").count(), 1, "{err}");
}

/// A host where an entity name is expected names the entity; a part of a name or a prefix
/// finds the name meant.
#[test]
fn a_host_or_a_part_of_a_name_finds_the_entity_meant() {
    const OTHERS: &str = "externals:\n  stripe:\n    hosts: [api.stripe.com]\n    ports: {https: 443}\n  cdn:\n    hosts: [\"*.cdn.example\"]\n    ports: {https: 443}\nservices:\n  payments:\n    ports: {http: 80}\n    pods: {app: payments}\n";
    let caller = |deps: &str| {
        format!("{OTHERS}  checkout:\n    ports: {{http: 80}}\n    pods: {{app: checkout}}\n    dependsOn: [{deps}]\n")
    };
    snapshot(
        "host_as_dependency",
        report(
            &caller("payments.apps.svc.cluster.local, API.stripe.com, img.cdn.example"),
            &[
                "`payments.apps.svc.cluster.local` is a host of `payments`: name the entity, `payments`",
                "`API.stripe.com` is a host of `stripe`",
                "`img.cdn.example` is a host of `cdn`",
            ],
        ),
    );
    snapshot(
        "name_by_parts",
        report(&caller("stripe-api, pay"), &["did you mean `stripe`?", "did you mean `payments`?"]),
    );
    // A route's `service` is an entity name too.
    rejects(
        caller("payments")
            .replace("    dependsOn:", "    routes: [{to: [{service: api.stripe.com}]}]\n    dependsOn:")
            .as_bytes(),
        &["error[unknown-route-target]", "`api.stripe.com` is a host of `stripe`"],
    );
    // Fields and values too.
    rejects(
        b"services:\n  api:\n    ports: {http: 80}\n    pods: {app: api}\n    account: api\n",
        &["unknown field `account`", "did you mean `serviceAccount`?"],
    );
    rejects(
        b"services:\n  api:\n    ports: {http: 80}\n    pods: {app: api}\n    traffic: {loadBalancer: LEAST}\n",
        &["unknown load balancer `LEAST`", "did you mean `LEAST_REQUEST`?"],
    );
}

/// A bad `namespace:` of a document is one error, not one per entity of the document.
#[test]
fn a_bad_document_namespace_is_one_error() {
    let err = report(
        "namespace: Shop_Apps\nservices:\n  a:\n    ports: {http: 80}\n    pods: {app: a}\n  b:\n    ports: {http: 80}\n    pods: {app: b}\n    dependsOn: [a]\n",
        &["inventory/bad.yaml:1:12 (namespace)", "namespace `Shop_Apps`"],
    );
    assert_eq!(err.matches("error[").count(), 1, "{err}");
    snapshot("document_namespace", err);
}

/// A tab in the indentation says so, whatever the parser stumbled on.
#[test]
fn tabs_in_indentation_get_their_own_hint() {
    snapshot(
        "tab_indentation",
        report(
            "services:\n  api:\n    ports: {http: 80}\n\tpods: {app: api}\n",
            &[
                "invalid YAML: a tab in the indentation",
                "inventory/bad.yaml:4:1",
                "YAML does not allow tabs for indentation; use spaces",
            ],
        ),
    );
}

/// The carets stay under the value after wide characters and a combining accent.
#[test]
fn carets_stay_aligned_after_wide_and_combining_characters() {
    let err = report(
        "services:\n  api:\n    ports: {http: 80}\n    pods: {app: \"名前e\u{301}\", tier: 5}\n",
        &["(services.api.pods.tier)", "expected a string, found the number `5`"],
    );
    // `名前` takes two cells each, `e` + U+0301 one: the caret is under the `5`.
    let lines: Vec<&str> = err.lines().collect();
    let excerpt = lines.iter().position(|l| l.contains("tier: 5")).unwrap();
    let cells = |s: &str| {
        s.chars()
            .map(|c| {
                if ('\u{300}'..='\u{36f}').contains(&c) {
                    0
                } else if c > '\u{2e80}' {
                    2
                } else {
                    1
                }
            })
            .sum::<usize>()
    };
    let five = &lines[excerpt][..lines[excerpt].rfind('5').unwrap()];
    assert_eq!(lines[excerpt + 1].find('^').map(|i| cells(&lines[excerpt + 1][..i])), Some(cells(five)), "{err}");
    snapshot("carets_after_wide_characters", err);
}

/// Upper-case hosts built before: they still build, written in lower case everywhere, each
/// with a warning where it is written.
#[test]
fn upper_case_hosts_are_lower_cased_with_a_warning() {
    let inventory = "services:\n  shop:\n    host: Web.Apps.internal\n    ports: {http: 80}\n    pods: {app: shop}\n    ingress: Shop.Example.com\n  api:\n    ports: {http: 80}\n    pods: {app: api}\n    dependsOn: [cdn]\n    routes:\n      - to: [{host: Other.Example.com}]\nexternals:\n  cdn:\n    hosts: [\"*.CDN.example\"]\n    ports: {https: 443}\n    egress: {destination: Img.CDN.example}\n";
    let r = builds(inventory);
    for at in [
        "(services.shop.host)",
        "(services.shop.ingress)",
        "(services.api.routes[0].to[0].host)",
        "(externals.cdn.hosts[0])",
        "(externals.cdn.egress.destination)",
    ] {
        assert!(r.stderr.contains(at), "no warning at {at}:\n{}", r.stderr);
    }
    assert_eq!(r.stderr.matches("warning[uppercase-host]").count(), 5, "{}", r.stderr);
    for host in ["web.apps.internal", "shop.example.com", "other.example.com", "\"*.cdn.example\"", "img.cdn.example"] {
        assert!(r.stdout.contains(host), "`{host}` missing from:\n{}", r.stdout);
    }
    for host in ["Web.Apps", "Shop.Example", "Other.Example", "CDN.example"] {
        assert!(!r.stdout.contains(host), "`{host}` kept its case:\n{}", r.stdout);
    }
}

/// Errors in the project file are in the user's words too.
#[test]
fn project_file_errors_name_no_rust_types() {
    for (settings, expected) in [
        ("layout: files\n", "unknown value `files`"),
        ("policy: {namespaces: {a: b}}\n", "(policy.namespaces)"),
        ("limits: {maxFileSize: -5}\n", "expected a whole number from 0 to"),
        ("defaults: {namespace: apps, traffic: {timeout: 30}}\n", "`timeout: 30s`"),
    ] {
        let text = format!("inventory: [inventory]\n{settings}");
        let text = if text.contains("defaults:") { text } else { format!("{text}defaults: {{namespace: apps}}\n") };
        let tmp = project(&[("meshgen.yaml", &text), ("inventory/good.yaml", GOOD)]);
        let r = meshgen(tmp.path(), &["check"]);
        assert_eq!(r.code, 1, "{settings}: {}{}", r.stdout, r.stderr);
        assert!(r.stdout.contains(expected), "expected `{expected}` for {settings}:\n{}", r.stdout);
        assert_in_user_words(tmp.path());
    }
}

#[test]
fn every_vm_repeating_a_bad_label_or_locality_is_reported_at_its_own_line() {
    // VMs that write the same labels or locality are checked once when valid: what is
    // invalid is still reported for each VM that writes it, each at its own line (and a
    // valid value seen first does not vouch for another).
    let vm = |i: u32, labels: &str, locality: &str| {
        format!("      - {{address: 10.0.0.{i}, labels: {{version: {labels}}}, locality: \"{locality}\"}}\n")
    };
    let bad = format!(
        "services:\n  api:\n    ports: {{http: 8080}}\n    vms:\n{}{}  db:\n    ports: {{tcp: 5432}}\n    vms:\n{}{}{}",
        vm(1, "-v1", "eu/a"),
        vm(2, "-v1", "eu/a"),
        vm(3, "v1", "eu/a"),
        vm(4, "v1", "eu/ a"),
        vm(5, "v1", "eu/ a"),
    );
    let stderr = rejects(bad.as_bytes(), &[]);
    let at = |line: u32| format!("--> inventory/bad.yaml:{line}:");
    let findings: Vec<&str> = stderr.split("\n\n").collect();
    for (line, what) in
        [(5, "label value `-v1`"), (6, "label value `-v1`"), (11, "locality `eu/ a`"), (12, "locality `eu/ a`")]
    {
        assert!(
            findings.iter().any(|f| f.contains(&at(line)) && f.contains(what)),
            "no `{what}` at line {line}:\n{stderr}"
        );
    }
    assert_eq!(stderr.matches("label value `-v1`").count(), 2, "{stderr}");
    assert_eq!(stderr.matches("locality `eu/ a`").count(), 2, "{stderr}");
}

#[test]
fn every_endpoint_repeating_a_bad_locality_is_reported_at_its_own_line() {
    // An external API's endpoints go through the same once-per-file check as VMs.
    let bad = "externals:\n  pay:\n    hosts: [pay.example.com]\n    ports: {https: 443}\n    resolution: STATIC\n    endpoints:\n      - {address: 203.0.113.1, locality: eu/a}\n      - {address: 203.0.113.2, locality: \"eu/ a\"}\n      - {address: 203.0.113.3, locality: \"eu/ a\"}\n";
    let stderr = rejects(bad.as_bytes(), &["--> inventory/bad.yaml:8:", "--> inventory/bad.yaml:9:"]);
    assert_eq!(stderr.matches("locality `eu/ a`").count(), 2, "{stderr}");
}
