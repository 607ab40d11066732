//! Tests against the real Istio CRDs (skipped, loudly, when they are not available): loading
//! every rule, the example objects of each kind and their schema violations here; each CEL
//! rule broken and fixed in [`cel_rules`]; schema features Istio's `spec`s do not use, on
//! small synthetic CRDs, in [`synthetic`].

mod cel_rules;
mod synthetic;

use std::sync::OnceLock;

use serde_json::{Value, json};

use super::{CrdSet, Violation};

// Shared with the integration tests, which find the CRDs the same way.
#[path = "../../../tests/common/istio_crds.rs"]
mod istio_crds;
use istio_crds::{istio_crds_dir, istio_crds_or_skip};

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
