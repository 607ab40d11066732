//! Tests against the real Istio CRDs (skipped, loudly, when they are not available) and
//! against small synthetic CRDs for schema features Istio's `spec`s do not use.

use std::sync::OnceLock;

use serde_json::{Value, json};

use super::{CrdSet, Violation, istio_crds_dir, istio_crds_or_skip};

/// The Istio CRDs, loaded once for all tests; `None` (after a loud message) if absent.
fn istio() -> Option<&'static CrdSet> {
    static SET: OnceLock<Option<CrdSet>> = OnceLock::new();
    SET.get_or_init(|| {
        let dir = istio_crds_or_skip()?;
        Some(CrdSet::load_dir(&dir).unwrap_or_else(|e| panic!("loading {}: {e:#}", dir.display())))
    })
    .as_ref()
}

fn yaml(text: &str) -> Value {
    crate::yaml::from_str(text).unwrap_or_else(|e| panic!("bad test YAML: {e}\n{text}"))
}

fn show(v: &[Violation]) -> String {
    v.iter().map(|v| format!("\n  {v}")).collect()
}

#[track_caller]
fn assert_valid(set: &CrdSet, obj: &Value) {
    let v = set.validate(obj);
    assert!(v.is_empty(), "expected no violations, got:{}\nobject: {obj:#}", show(&v));
}

#[track_caller]
fn assert_violation(set: &CrdSet, obj: &Value, path: &str, needle: &str) {
    let v = set.validate(obj);
    assert!(
        v.iter().any(|v| v.path == path && v.message.contains(needle)),
        "expected `{path}: …{needle}…`, got:{}\nobject: {obj:#}",
        show(&v)
    );
}

/// Sets (or, with `None`, removes) the value at a JSON pointer, creating objects on the way.
fn edit(obj: &mut Value, pointer: &str, value: Option<Value>) {
    let (parent_ptr, last) = pointer.rsplit_once('/').expect("pointer starts with /");
    let mut parent = obj;
    for part in parent_ptr.split('/').skip(1) {
        parent = match parent {
            Value::Array(a) => &mut a[part.parse::<usize>().expect("array index")],
            Value::Object(m) => m.entry(part).or_insert_with(|| json!({})),
            other => panic!("cannot descend into {other}"),
        };
    }
    match (parent, value) {
        (Value::Array(a), Some(v)) => {
            let i: usize = last.parse().expect("array index");
            if i == a.len() {
                a.push(v);
            } else {
                a[i] = v;
            }
        }
        (Value::Array(a), None) => {
            a.remove(last.parse().expect("array index"));
        }
        (Value::Object(m), Some(v)) => {
            m.insert(last.to_string(), v);
        }
        (Value::Object(m), None) => {
            m.remove(last);
        }
        (other, _) => panic!("cannot edit {other}"),
    }
}

fn edited(base: &Value, edits: &[(&str, Option<Value>)]) -> Value {
    let mut obj = base.clone();
    for (pointer, value) in edits {
        edit(&mut obj, pointer, value.clone());
    }
    obj
}

const SERVICE_ENTRY: &str = r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: external-api
  namespace: mesh
  labels: {app.kubernetes.io/managed-by: meshgen}
spec:
  hosts: [api.example.com]
  location: MESH_EXTERNAL
  resolution: DNS
  ports:
  - {number: 443, name: https, protocol: TLS}
  - {number: 80, name: http, protocol: HTTP, targetPort: 8080}
  endpoints:
  - address: api-1.example.com
    ports: {https: 8443}
    labels: {zone: a}
    weight: 10
  exportTo: ["."]
"#;

const WORKLOAD_ENTRY: &str = r#"
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: vm-1, namespace: mesh}
spec:
  address: 10.0.0.5
  ports: {http: 8080, grpc-api: 9090}
  labels: {app: ratings, version: v1}
  serviceAccount: ratings-sa
  network: vm-net
  locality: us-east1/zone-a
  weight: 1
"#;

const DESTINATION_RULE: &str = r#"
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: bookinfo}
spec:
  host: reviews.bookinfo.svc.cluster.local
  trafficPolicy:
    connectionPool:
      tcp:
        maxConnections: 100
        connectTimeout: 30ms
        tcpKeepalive: {time: 7200s, interval: 75s}
      http: {http2MaxRequests: 1000, maxRequestsPerConnection: 10, idleTimeout: 1h}
    loadBalancer:
      simple: LEAST_REQUEST
    outlierDetection: {consecutive5xxErrors: 7, interval: 5m, baseEjectionTime: 15m}
    tls: {mode: ISTIO_MUTUAL}
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy:
      loadBalancer:
        consistentHash: {httpHeaderName: x-user}
  - name: v2
    labels: {version: v2}
"#;

const VIRTUAL_SERVICE: &str = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: bookinfo}
spec:
  hosts: [reviews]
  gateways: [mesh]
  http:
  - name: v2-route
    match:
    - headers: {end-user: {exact: jason}}
      uri: {prefix: /api}
    route:
    - destination: {host: reviews, subset: v2, port: {number: 9080}}
      weight: 75
    - destination: {host: reviews, subset: v1}
      weight: 25
    timeout: 10s
    retries: {attempts: 3, perTryTimeout: 2s, retryOn: 5xx}
    fault:
      delay: {fixedDelay: 5s, percentage: {value: 0.1}}
    corsPolicy:
      allowOrigins: [{exact: "https://example.com"}, {regex: "https://.*\\.example\\.org"}]
  tcp:
  - match: [{port: 27017}]
    route: [{destination: {host: mongo.backup.svc.cluster.local, port: {number: 5555}}}]
"#;

const GATEWAY: &str = r#"
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: bookinfo-gateway, namespace: bookinfo}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["bookinfo/*.example.com"]
    tls: {mode: SIMPLE, credentialName: bookinfo-cert}
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
    tls: {httpsRedirect: true}
"#;

const SIDECAR: &str = r#"
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: ratings, namespace: bookinfo}
spec:
  workloadSelector: {labels: {app: ratings}}
  ingress:
  - port: {number: 9080, protocol: HTTP, name: somename}
    defaultEndpoint: 127.0.0.1:8080
  egress:
  - hosts: ["./*", "istio-system/*"]
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
"#;

const AUTHORIZATION_POLICY: &str = r#"
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: httpbin, namespace: foo}
spec:
  selector: {matchLabels: {app: httpbin, version: v1}}
  action: ALLOW
  rules:
  - from:
    - source: {principals: ["cluster.local/ns/default/sa/sleep"]}
    - source: {namespaces: [test]}
    to:
    - operation: {methods: [GET], paths: ["/info*"]}
    when:
    - key: request.auth.claims[iss]
      values: ["https://accounts.google.com"]
"#;

const PEER_AUTHENTICATION: &str = r#"
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: foo}
spec:
  selector: {matchLabels: {app: reviews}}
  mtls: {mode: STRICT}
  portLevelMtls:
    "8080": {mode: DISABLE}
"#;

const REQUEST_AUTHENTICATION: &str = r#"
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: foo}
spec:
  selector: {matchLabels: {app: httpbin}}
  jwtRules:
  - issuer: "issuer-foo"
    jwksUri: https://example.com/.well-known/jwks.json
"#;

const TELEMETRY: &str = r#"
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  metrics:
  - providers: [{name: prometheus}]
    overrides:
    - match: {metric: REQUEST_COUNT}
      tagOverrides:
        request_host: {operation: UPSERT, value: request.host}
        grpc_response_status: {operation: REMOVE}
"#;

const WORKLOAD_GROUP: &str = r#"
apiVersion: networking.istio.io/v1
kind: WorkloadGroup
metadata: {name: reviews, namespace: bookinfo}
spec:
  metadata: {labels: {app: reviews}}
  template: {ports: {grpc: 3550}, serviceAccount: default}
  probe:
    initialDelaySeconds: 5
    httpGet: {path: /healthz, port: 3550, scheme: HTTPS}
"#;

const ENVOY_FILTER: &str = r#"
apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: custom, namespace: istio-system}
spec:
  workloadSelector: {labels: {app: gateway}}
  configPatches:
  - applyTo: HTTP_FILTER
    match:
      context: GATEWAY
      listener:
        filterChain:
          filter:
            name: envoy.filters.network.http_connection_manager
    patch:
      operation: INSERT_BEFORE
      value:
        name: envoy.lua
        typed_config: {"@type": "type.googleapis.com/x", inlineCode: "function f() end"}
"#;

#[test]
fn every_rule_in_the_crd_files_compiles() {
    let Some(set) = istio() else { return };
    let dir = istio_crds_dir().expect("found before");
    // Count `rule:` keys textually, independently of the loader's walk.
    let mut in_files = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&path).unwrap();
            in_files += text
                .lines()
                .map(|l| l.trim_start().trim_start_matches("- "))
                .filter(|l| l.starts_with("rule:"))
                .count();
        }
    }
    assert_eq!(set.rule_count(), in_files, "every rule in the files is loaded");
    assert_eq!(in_files, 382, "the Istio CRDs this was written against have 382 rules");
}

#[test]
fn kinds_lists_served_versions() {
    let Some(set) = istio() else { return };
    let kinds = set.kinds();
    for (v, k) in [
        ("networking.istio.io/v1", "ServiceEntry"),
        ("networking.istio.io/v1alpha3", "VirtualService"),
        ("networking.istio.io/v1beta1", "DestinationRule"),
        ("security.istio.io/v1", "AuthorizationPolicy"),
        ("telemetry.istio.io/v1alpha1", "Telemetry"),
    ] {
        assert!(kinds.contains(&(v.to_string(), k.to_string())), "{v} {k}");
    }
    assert_eq!(kinds.len(), 31);
}

#[test]
fn valid_examples_pass() {
    let Some(set) = istio() else { return };
    for text in [
        SERVICE_ENTRY,
        WORKLOAD_ENTRY,
        DESTINATION_RULE,
        VIRTUAL_SERVICE,
        GATEWAY,
        SIDECAR,
        AUTHORIZATION_POLICY,
        PEER_AUTHENTICATION,
        REQUEST_AUTHENTICATION,
        TELEMETRY,
        WORKLOAD_GROUP,
        ENVOY_FILTER,
    ] {
        let obj = yaml(text);
        assert_valid(set, &obj);
        // Older served versions share the schema for these objects.
        if obj["apiVersion"] == "networking.istio.io/v1" {
            assert_valid(set, &edited(&obj, &[("/apiVersion", Some(json!("networking.istio.io/v1beta1")))]));
        }
    }
}

#[test]
fn object_level_problems() {
    let Some(set) = istio() else { return };
    let se = yaml(SERVICE_ENTRY);
    let unknown_kind = edited(&se, &[("/kind", Some(json!("ServiceEntryy")))]);
    assert_violation(set, &unknown_kind, "kind", "no CRD for kind \"ServiceEntryy\"");
    let bad_version = edited(&se, &[("/apiVersion", Some(json!("networking.istio.io/v2")))]);
    assert_violation(set, &bad_version, "apiVersion", "not served (served: v1, v1alpha3, v1beta1)");
    let core = edited(&se, &[("/apiVersion", Some(json!("v1")))]);
    assert_violation(set, &core, "apiVersion", "core API version");
    assert_violation(set, &edited(&se, &[("/kind", None)]), "kind", "missing");
    assert_violation(set, &json!([1]), "", "must be a mapping");
    // metadata
    assert_violation(set, &edited(&se, &[("/metadata/name", None)]), "metadata.name", "required");
    assert_violation(
        set,
        &edited(&se, &[("/metadata/name", Some(json!("Bad_Name")))]),
        "metadata.name",
        "RFC 1123 subdomain",
    );
    assert_violation(
        set,
        &edited(&se, &[("/metadata/namespace", Some(json!("a.b")))]),
        "metadata.namespace",
        "RFC 1123 label",
    );
    assert_violation(set, &edited(&se, &[("/metadata/labels/x", Some(json!(1)))]), "metadata.labels", "map of strings");
    assert_violation(set, &edited(&se, &[("/metadata/labelz", Some(json!({})))]), "metadata.labelz", "unknown field");
    // Unknown top-level field; status is discarded on create (status subresource).
    assert_violation(set, &edited(&se, &[("/extra", Some(json!(1)))]), "extra", "unknown field");
    assert_valid(set, &edited(&se, &[("/status", Some(json!({"anything": [1, 2]})))]));
    // spec is required for ServiceEntry.
    assert_violation(set, &edited(&se, &[("/spec", None)]), "spec", "required field is missing");
}

#[test]
fn schema_violations() {
    let Some(set) = istio() else { return };
    let se = yaml(SERVICE_ENTRY);
    let cases: Vec<(&str, Option<Value>, &str, &str)> = vec![
        ("/spec/hostz", Some(json!(["x"])), "spec.hostz", "unknown field"),
        ("/spec/ports/0/nam", Some(json!("x")), "spec.ports[0].nam", "unknown field"),
        ("/spec/hosts", Some(json!("api.example.com")), "spec.hosts", "must be of type array, got string"),
        ("/spec/ports/0/number", Some(json!("443")), "spec.ports[0].number", "must be of type integer, got string"),
        ("/spec/ports/0/number", Some(json!(443.5)), "spec.ports[0].number", "must be of type integer, got number"),
        ("/spec/ports/0/number", Some(json!(-1)), "spec.ports[0].number", "must be greater than or equal to 0"),
        (
            "/spec/ports/0/number",
            Some(json!(4294967296u64)),
            "spec.ports[0].number",
            "less than or equal to 4294967295",
        ),
        ("/spec/resolution", Some(json!("DNSS")), "spec.resolution", "unsupported value \"DNSS\""),
        ("/spec/hosts/1", Some(json!(null)), "spec.hosts[1]", "must be of type string, got null"),
        ("/spec/endpoints/0/labels/zone", Some(json!(1)), "spec.endpoints[0].labels[zone]", "must be of type string"),
        ("/spec/ports/0/protocol", Some(json!("x".repeat(300))), "spec.ports[0].protocol", "longer than 256"),
        ("/spec/hosts", None, "spec.hosts", "required field is missing"),
        ("/spec/ports/0/name", None, "spec.ports[0].name", "required field is missing"),
        ("/spec/ports/1/name", Some(json!("https")), "spec.ports[1]", "duplicate value [\"https\"] (key name)"),
        ("/spec/endpoints/0/address", Some(json!("a".repeat(257))), "spec.endpoints[0].address", "longer than 256"),
    ];
    for (pointer, value, path, needle) in cases {
        assert_violation(set, &edited(&se, &[(pointer, value)]), path, needle);
    }
    // A whole float is an integer, as for the API server.
    assert_valid(set, &edited(&se, &[("/spec/ports/0/number", Some(json!(443.0)))]));
    // A null in a non-nullable field is pruned, not an error.
    assert_valid(set, &edited(&se, &[("/spec/location", Some(Value::Null))]));
    // int32: VirtualService weight.
    let vs = yaml(VIRTUAL_SERVICE);
    let big = edited(&vs, &[("/spec/http/0/route/0/weight", Some(json!(3_000_000_000u64)))]);
    assert_violation(set, &big, "spec.http[0].route[0].weight", "out of range for format int32");
    // format: byte.
    let body =
        |b: Value| edited(&vs, &[("/spec/http/0/directResponse", Some(json!({"status": 200, "body": {"bytes": b}})))]);
    assert_valid(set, &body(json!("aGVsbG8=")));
    assert_violation(set, &body(json!("hello!")), "spec.http[0].directResponse.body.bytes", "base64");
    // A CEL rule does not run on a subtree with schema errors (it would see a wrong shape).
    let both = edited(&se, &[("/spec/hosts/0", Some(json!("*"))), ("/spec/hosts/1", Some(json!(7)))]);
    let v = set.validate(&both);
    assert!(v.iter().any(|v| v.path == "spec.hosts[1]"), "{}", show(&v));
}

#[test]
fn oneof_anyof_not() {
    let Some(set) = istio() else { return };
    let dr = yaml(DESTINATION_RULE);
    let lb = "/spec/trafficPolicy/loadBalancer";
    let both = edited(&dr, &[(&format!("{lb}/consistentHash"), Some(json!({"useSourceIp": true})))]);
    assert_violation(set, &both, "spec.trafficPolicy.loadBalancer", "simple and consistentHash are mutually exclusive");
    // consistentHash has an allOf of two oneOfs.
    let hash = "/spec/subsets/0/trafficPolicy/loadBalancer/consistentHash";
    let two_keys = edited(&dr, &[(&format!("{hash}/useSourceIp"), Some(json!(true)))]);
    assert_violation(
        set,
        &two_keys,
        "spec.subsets[0].trafficPolicy.loadBalancer.consistentHash",
        "httpHeaderName and useSourceIp are mutually exclusive",
    );
    let two_algos = edited(
        &dr,
        &[
            (&format!("{hash}/ringHash"), Some(json!({"minimumRingSize": 1024}))),
            (&format!("{hash}/maglev"), Some(json!({"tableSize": 65537}))),
        ],
    );
    assert_violation(
        set,
        &two_algos,
        "spec.subsets[0].trafficPolicy.loadBalancer.consistentHash",
        "mutually exclusive",
    );
    assert_valid(set, &edited(&dr, &[(&format!("{hash}/maglev"), Some(json!({"tableSize": 65537})))]));

    let vs = yaml(VIRTUAL_SERVICE);
    let delay = edited(&vs, &[("/spec/http/0/fault/delay/exponentialDelay", Some(json!("1s")))]);
    assert_violation(set, &delay, "spec.http[0].fault.delay", "fixedDelay and exponentialDelay are mutually exclusive");
    let origin = edited(&vs, &[("/spec/http/0/corsPolicy/allowOrigins/0/prefix", Some(json!("https://")))]);
    assert_violation(
        set,
        &origin,
        "spec.http[0].corsPolicy.allowOrigins[0]",
        "exact and prefix are mutually exclusive",
    );

    let wg = yaml(WORKLOAD_GROUP);
    let probes = edited(&wg, &[("/spec/probe/tcpSocket", Some(json!({"port": 3550})))]);
    assert_violation(set, &probes, "spec.probe", "httpGet and tcpSocket are mutually exclusive");
}

/// One CEL rule broken, then fixed: `(object, pointer edits that break it, path, message,
/// edits that fix the broken object)`.
type RuleCase =
    (&'static str, Vec<(&'static str, Option<Value>)>, &'static str, &'static str, Vec<(&'static str, Option<Value>)>);

#[test]
fn cel_rules_fail_and_fixes_pass() {
    let Some(set) = istio() else { return };
    let cases: Vec<RuleCase> = vec![
        // ServiceEntry
        (
            SERVICE_ENTRY,
            vec![("/spec/workloadSelector", Some(json!({"labels": {"app": "x"}})))],
            "spec",
            "only one of WorkloadSelector or Endpoints can be set",
            vec![("/spec/endpoints", None)],
        ),
        (
            SERVICE_ENTRY,
            vec![("/spec/hosts/0", Some(json!("*")))],
            "spec.hosts[0]",
            "hostname cannot be wildcard",
            vec![("/spec/hosts/0", Some(json!("*.example.com")))],
        ),
        (
            SERVICE_ENTRY,
            vec![("/spec/addresses", Some(json!(["10.0.0.0/16"])))],
            "spec",
            "CIDR addresses are allowed only for NONE/STATIC",
            vec![("/spec/resolution", Some(json!("STATIC")))],
        ),
        (
            SERVICE_ENTRY,
            vec![("/spec/resolution", Some(json!("NONE")))],
            "spec",
            "NONE mode cannot set endpoints",
            vec![("/spec/endpoints", None)],
        ),
        (
            SERVICE_ENTRY,
            vec![
                ("/spec/resolution", Some(json!("DNS_ROUND_ROBIN"))),
                ("/spec/endpoints/1", Some(json!({"address": "api-2.example.com"}))),
            ],
            "spec",
            "DNS_ROUND_ROBIN mode cannot have multiple endpoints",
            vec![("/spec/endpoints/1", None)],
        ),
        (
            SERVICE_ENTRY,
            vec![("/spec/ports/1/number", Some(json!(443)))],
            "spec.ports",
            "port number cannot be duplicated",
            vec![("/spec/ports/1/number", Some(json!(8443)))],
        ),
        (
            SERVICE_ENTRY,
            vec![("/spec/ports/0/number", Some(json!(0)))],
            "spec.ports[0].number",
            "port must be between 1-65535",
            vec![("/spec/ports/0/number", Some(json!(1)))],
        ),
        (
            SERVICE_ENTRY,
            vec![("/spec/ports/0/number", Some(json!(70000)))],
            "spec.ports[0].number",
            "port must be between 1-65535",
            vec![("/spec/ports/0/number", Some(json!(65535)))],
        ),
        (
            SERVICE_ENTRY,
            vec![("/spec/endpoints/0/ports/bad_name", Some(json!(80)))],
            "spec.endpoints[0].ports",
            "port name must be valid",
            vec![("/spec/endpoints/0/ports/bad_name", None)],
        ),
        (
            SERVICE_ENTRY,
            vec![("/spec/endpoints/0/address", None)],
            "spec.endpoints[0]",
            "Address is required",
            vec![("/spec/endpoints/0/network", Some(json!("remote")))],
        ),
        // WorkloadEntry: address and Unix domain sockets.
        (
            WORKLOAD_ENTRY,
            vec![("/spec/address", None), ("/spec/network", None)],
            "spec",
            "Address is required",
            vec![("/spec/address", Some(json!("10.0.0.6")))],
        ),
        (
            WORKLOAD_ENTRY,
            vec![("/spec/address", Some(json!("unix://var/run/app.sock"))), ("/spec/ports", None)],
            "spec.address",
            "UDS must be an absolute path or abstract socket",
            vec![("/spec/address", Some(json!("unix:///var/run/app.sock")))],
        ),
        // substring(7, 8) of "unix://" is out of range: an evaluation error, as in the API server.
        (
            WORKLOAD_ENTRY,
            vec![("/spec/address", Some(json!("unix://"))), ("/spec/ports", None)],
            "spec.address",
            "error evaluating rule",
            vec![("/spec/address", Some(json!("unix://@abstract")))],
        ),
        (
            WORKLOAD_ENTRY,
            vec![("/spec/address", Some(json!("unix:///var/run/"))), ("/spec/ports", None)],
            "spec.address",
            "UDS may not be a dir",
            vec![("/spec/address", Some(json!("unix:///var/run/app.sock")))],
        ),
        (
            WORKLOAD_ENTRY,
            vec![("/spec/address", Some(json!("unix:///var/run/app.sock")))],
            "spec",
            "UDS may not include ports",
            vec![("/spec/ports", None)],
        ),
        // DestinationRule durations.
        (
            DESTINATION_RULE,
            vec![("/spec/trafficPolicy/connectionPool/tcp/connectTimeout", Some(json!("1x")))],
            "spec.trafficPolicy.connectionPool.tcp.connectTimeout",
            "unknown unit \"x\"",
            vec![("/spec/trafficPolicy/connectionPool/tcp/connectTimeout", Some(json!("1s")))],
        ),
        (
            DESTINATION_RULE,
            vec![("/spec/trafficPolicy/connectionPool/tcp/connectTimeout", Some(json!("0.5ms")))],
            "spec.trafficPolicy.connectionPool.tcp.connectTimeout",
            "must be a valid duration greater than 1ms",
            vec![("/spec/trafficPolicy/connectionPool/tcp/connectTimeout", Some(json!("1ms")))],
        ),
        (
            DESTINATION_RULE,
            vec![("/spec/workloadSelector", Some(json!({"matchLabels": {"app*": "x"}})))],
            "spec.workloadSelector.matchLabels",
            "wildcard not allowed in label key match",
            vec![("/spec/workloadSelector/matchLabels", Some(json!({"app": "x"})))],
        ),
        (
            DESTINATION_RULE,
            vec![("/spec/workloadSelector", Some(json!({"matchLabels": {"app": "x*"}})))],
            "spec.workloadSelector.matchLabels[app]",
            "wildcard not allowed in label value match",
            vec![("/spec/workloadSelector/matchLabels/app", Some(json!("x")))],
        ),
        (
            DESTINATION_RULE,
            vec![("/spec/workloadSelector", Some(json!({"matchLabels": {"": "x"}})))],
            "spec.workloadSelector.matchLabels",
            "key must not be empty",
            vec![("/spec/workloadSelector/matchLabels", Some(json!({})))],
        ),
        // VirtualService durations.
        (
            VIRTUAL_SERVICE,
            vec![("/spec/http/0/timeout", Some(json!("1x")))],
            "spec.http[0].timeout",
            "error evaluating rule",
            vec![("/spec/http/0/timeout", Some(json!("1.5s")))],
        ),
        // Gateway / Sidecar TLS credentials.
        (
            GATEWAY,
            vec![("/spec/servers/0/tls/credentialNames", Some(json!(["a", "b"])))],
            "spec.servers[0].tls",
            "only one of credentialName or credentialNames can be set",
            vec![("/spec/servers/0/tls/credentialName", None)],
        ),
        (
            SIDECAR,
            vec![(
                "/spec/ingress/0/tls",
                Some(json!({"mode": "SIMPLE", "credentialNames": ["a"],
                "tlsCertificates": [{"serverCertificate": "/c.pem", "privateKey": "/k.pem"}]})),
            )],
            "spec.ingress[0].tls",
            "only one of credentialNames or tlsCertificates can be set",
            vec![("/spec/ingress/0/tls/tlsCertificates", None)],
        ),
        // AuthorizationPolicy.
        (
            AUTHORIZATION_POLICY,
            vec![(
                "/spec/targetRef",
                Some(json!({"kind": "Gateway", "group": "gateway.networking.k8s.io", "name": "gw"})),
            )],
            "spec",
            "only one of targetRefs or selector can be set",
            vec![("/spec/selector", None)],
        ),
        (
            AUTHORIZATION_POLICY,
            vec![("/spec/rules/0/from/0/source/serviceAccounts", Some(json!(["default/sleep"])))],
            "spec.rules[0].from[0].source",
            "Cannot set serviceAccounts with namespaces or principals",
            vec![("/spec/rules/0/from/0/source/principals", None)],
        ),
        (
            AUTHORIZATION_POLICY,
            vec![
                ("/spec/selector", None),
                ("/spec/targetRefs", Some(json!([{"kind": "Service", "name": "a", "namespace": "other"}]))),
            ],
            "spec.targetRefs[0].namespace",
            "cross namespace referencing is not currently supported",
            vec![("/spec/targetRefs/0/namespace", Some(json!("")))],
        ),
        // PeerAuthentication.
        (
            PEER_AUTHENTICATION,
            vec![("/spec/selector", None)],
            "spec",
            "portLevelMtls requires selector",
            vec![("/spec/selector", Some(json!({"matchLabels": {"app": "x"}})))],
        ),
        (
            PEER_AUTHENTICATION,
            vec![("/spec/portLevelMtls/0", Some(json!({"mode": "STRICT"})))],
            "spec.portLevelMtls",
            "port must be between 1-65535",
            vec![("/spec/portLevelMtls/0", None)],
        ),
        (
            PEER_AUTHENTICATION,
            vec![("/spec/portLevelMtls/http", Some(json!({"mode": "STRICT"})))],
            "spec.portLevelMtls",
            "error evaluating rule",
            vec![("/spec/portLevelMtls/http", None)],
        ),
        // RequestAuthentication.
        (
            REQUEST_AUTHENTICATION,
            vec![("/spec/jwtRules/0/jwksUri", Some(json!("ftp://example.com/jwks")))],
            "spec.jwtRules[0].jwksUri",
            "url must have scheme http:// or https://",
            vec![("/spec/jwtRules/0/jwksUri", Some(json!("http://example.com/jwks")))],
        ),
        (
            REQUEST_AUTHENTICATION,
            vec![("/spec/jwtRules/0/jwks", Some(json!("{\"keys\":[]}")))],
            "spec.jwtRules[0]",
            "only one of jwks or jwksUri can be set",
            vec![("/spec/jwtRules/0/jwksUri", None)],
        ),
        // Telemetry.
        (
            TELEMETRY,
            vec![("/spec/metrics/0/overrides/0/tagOverrides/request_host/value", Some(json!("")))],
            "spec.metrics[0].overrides[0].tagOverrides[request_host]",
            "value must be set when operation is UPSERT",
            vec![("/spec/metrics/0/overrides/0/tagOverrides/request_host/value", Some(json!("x")))],
        ),
        (
            TELEMETRY,
            vec![("/spec/metrics/0/overrides/0/tagOverrides/grpc_response_status/value", Some(json!("x")))],
            "spec.metrics[0].overrides[0].tagOverrides[grpc_response_status]",
            "value must not be set when operation is REMOVE",
            vec![("/spec/metrics/0/overrides/0/tagOverrides/grpc_response_status/value", None)],
        ),
        // WorkloadGroup.
        (
            WORKLOAD_GROUP,
            vec![("/spec/probe/httpGet/scheme", Some(json!("FTP")))],
            "spec.probe.httpGet.scheme",
            "scheme must be one of [HTTP, HTTPS]",
            vec![("/spec/probe/httpGet/scheme", Some(json!("")))],
        ),
        // EnvoyFilter.
        (
            ENVOY_FILTER,
            vec![(
                "/spec/targetRefs",
                Some(json!([{"kind": "Gateway", "group": "gateway.networking.k8s.io", "name": "gw"}])),
            )],
            "spec",
            "only one of targetRefs or workloadSelector can be set",
            vec![("/spec/workloadSelector", None)],
        ),
        (
            ENVOY_FILTER,
            vec![
                ("/spec/configPatches/0/match/listener", None),
                ("/spec/configPatches/0/match/waypoint", Some(json!({"portNumber": 8080}))),
            ],
            "spec.configPatches[0].match",
            "only support waypointMatch when context is WAYPOINT",
            vec![("/spec/configPatches/0/match/context", Some(json!("WAYPOINT")))],
        ),
    ];
    let mut distinct = std::collections::BTreeSet::new();
    for (base, bad_edits, path, needle, fix_edits) in cases {
        let base = yaml(base);
        assert_valid(set, &base);
        let bad = edited(&base, &bad_edits);
        assert_violation(set, &bad, path, needle);
        let fixed = edited(&bad, &fix_edits);
        assert_valid(set, &fixed);
        distinct.insert(needle);
    }
    assert!(distinct.len() >= 15, "{} distinct rules exercised", distinct.len());
}

#[test]
fn what_the_crds_do_not_check() {
    let Some(set) = istio() else { return };
    // Route weights summing to 100 is checked by istiod's validating webhook, not the CRD.
    let vs = yaml(VIRTUAL_SERVICE);
    assert_valid(set, &edited(&vs, &[("/spec/http/0/route/0/weight", Some(json!(125)))]));
    // An empty address passes the CRD (has() is true for ""); istiod rejects it.
    let we = yaml(WORKLOAD_ENTRY);
    assert_valid(set, &edited(&we, &[("/spec/address", Some(json!("")))]));
}

/// A small CRD exercising schema features that the Istio `spec`s do not use.
const SYNTHETIC_CRD: &str = r#"
# comment before the first document
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {x-kubernetes-int-or-string: true, anyOf: [{type: integer}, {type: string}]}
              ratio: {type: number, format: float, minimum: 0, exclusiveMinimum: true, maximum: 1}
              step: {type: integer, multipleOf: 5}
              when: {type: string, format: date-time}
              note: {type: string, nullable: true}
              tags: {type: array, items: {type: string}, x-kubernetes-list-type: set, maxItems: 3}
              code: {type: string, pattern: '^\d+$', minLength: 2}
              extra: {type: object, x-kubernetes-preserve-unknown-fields: true, properties: {known: {type: boolean}}}
              limits:
                type: object
                minProperties: 1
                additionalProperties: {type: integer}
                x-kubernetes-validations:
                - rule: self.all(k, self[k] >= 0)
              mode: {type: string, not: {enum: [legacy]}}
            x-kubernetes-validations:
            - rule: "!has(self.step) || self.step < 100"
            - rule: "oldSelf.size == self.size"
              message: transition rule, skipped on create
  - name: v0
    served: false
    storage: false
    schema:
      openAPIV3Schema: {type: object}
...
---
"#;

#[test]
fn synthetic_schema_features() {
    let set = CrdSet::from_yaml_docs(SYNTHETIC_CRD).unwrap();
    assert_eq!(set.kinds(), [("example.com/v1".to_string(), "Widget".to_string())]);
    let base = json!({
        "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
        "spec": {"size": 3, "ratio": 0.5, "step": 10, "when": "2024-05-01T12:00:00Z",
                 "note": null, "tags": ["a", "b"], "code": "42",
                 "extra": {"known": true, "anything": {"goes": [1]}},
                 "limits": {"cpu": 2}, "mode": "fast"}
    });
    assert_valid(&set, &base);
    assert_valid(&set, &edited(&base, &[("/spec/size", Some(json!("50%")))]));
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        ("/spec/size", json!(1.5), "spec.size", "must be of type integer or string"),
        ("/spec/size", json!(true), "spec.size", "must be of type integer or string"),
        ("/spec/ratio", json!(0), "spec.ratio", "must be greater than 0"),
        ("/spec/ratio", json!(1.01), "spec.ratio", "less than or equal to 1"),
        ("/spec/ratio", json!(1e39), "spec.ratio", "out of range for format float"),
        ("/spec/step", json!(7), "spec.step", "multiple of 5"),
        ("/spec/step", json!(200), "spec", "failed rule: !has(self.step) || self.step < 100"),
        ("/spec/when", json!("2024-02-30T00:00:00Z"), "spec.when", "RFC 3339"),
        ("/spec/tags", json!(["a", "a"]), "spec.tags[1]", "duplicate value \"a\""),
        ("/spec/tags", json!(["a", "b", "c", "d"]), "spec.tags", "at most 3 items"),
        ("/spec/code", json!("\u{663}\u{663}"), "spec.code", "does not match pattern"),
        ("/spec/code", json!("1"), "spec.code", "at least 2 characters"),
        ("/spec/extra/known", json!("yes"), "spec.extra.known", "must be of type boolean"),
        ("/spec/limits", json!({}), "spec.limits", "at least 1 entries"),
        ("/spec/limits/cpu", json!(-1), "spec.limits", "failed rule"),
        ("/spec/mode", json!("legacy"), "spec.mode", "must not match"),
    ];
    for (pointer, value, path, needle) in cases {
        assert_violation(&set, &edited(&base, &[(pointer, Some(value))]), path, needle);
    }
    // Required after null pruning.
    assert_violation(
        &set,
        &edited(&base, &[("/spec/size", Some(Value::Null))]),
        "spec.size",
        "required field is missing",
    );
    // The unserved version is not accepted.
    assert_violation(
        &set,
        &edited(&base, &[("/apiVersion", Some(json!("example.com/v0")))]),
        "apiVersion",
        "not served",
    );
}

#[test]
fn load_errors_are_explicit() {
    let crd = |schema: &str| {
        format!(
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n\
             metadata: {{name: a.b}}\nspec:\n  group: b\n  names: {{kind: A, plural: as}}\n  \
             versions:\n  - name: v1\n    served: true\n    schema:\n      openAPIV3Schema: {schema}\n"
        )
    };
    for (schema, want) in [
        (
            "{type: object, properties: {spec: {type: string, x-kubernetes-validations: [{rule: 'self.lowerAscii() == self'}]}}}",
            "unsupported function",
        ),
        (
            "{type: object, properties: {spec: {type: string, x-kubernetes-validations: [{rule: 'true', messageExpression: \"'x'\"}]}}}",
            "messageExpression",
        ),
        (
            "{type: object, properties: {spec: {type: object, properties: {a: {type: string}}, x-kubernetes-validations: [{rule: has(self.b)}]}}}",
            "undefined field",
        ),
        ("{type: object, properties: {spec: {type: string, format: email}}}", "format \"email\""),
        ("{type: object, properties: {spec: {type: string, default: x}}}", "unsupported schema keyword \"default\""),
        (
            "{type: object, properties: {spec: {type: string, x-kubernetes-validations: [{rule: 'self.matches(\"(?=a)\")'}]}}}",
            "invalid regular expression",
        ),
    ] {
        let err = CrdSet::from_yaml_docs(&crd(schema)).expect_err(schema);
        let text = format!("{err:#}");
        assert!(text.contains(want), "{want:?} not in {text}");
        assert!(text.contains(".spec"), "error names the schema node: {text}");
    }
    let not_crd = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n";
    assert!(CrdSet::from_yaml_docs(not_crd).is_err());
}

#[test]
fn a_stream_of_several_crds_loads_every_one() {
    let Some(dir) = istio_crds_or_skip() else { return };
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    let stream = format!(
        "# preamble\n---\n{}\n...\n---\n# between\n{}",
        read("gateways.networking.istio.io.yaml"),
        read("sidecars.networking.istio.io.yaml")
    );
    let kinds: Vec<String> = CrdSet::from_yaml_docs(&stream).unwrap().kinds().into_iter().map(|(_, k)| k).collect();
    assert!(kinds.contains(&"Gateway".to_string()) && kinds.contains(&"Sidecar".to_string()), "{kinds:?}");
}

/// Release-mode timing of loading all CRDs and validating one object:
/// `cargo test --release -- --ignored --nocapture timing`.
#[test]
#[ignore]
fn timing() {
    let Some(dir) = istio_crds_dir() else {
        eprintln!("SKIPPED: Istio CRDs not found");
        return;
    };
    let obj = yaml(DESTINATION_RULE);
    let start = std::time::Instant::now();
    let set = CrdSet::load_dir(&dir).unwrap();
    let loaded = start.elapsed();
    let v = set.validate(&obj);
    let total = start.elapsed();
    assert!(v.is_empty());
    let n = 1000;
    let t = std::time::Instant::now();
    for _ in 0..n {
        assert!(set.validate(&obj).is_empty());
    }
    eprintln!("load: {loaded:?}, load + first validate: {total:?}, validate avg: {:?}", t.elapsed() / n);
}
