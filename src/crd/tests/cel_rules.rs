//! Each CEL rule (`x-kubernetes-validations`) of the Istio kinds meshgen emits, broken by an
//! edit of a valid example object and fixed by another: the validator must report the rule
//! at the right path, and accept the fix.

use serde_json::{Value, json};

use super::*;

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
