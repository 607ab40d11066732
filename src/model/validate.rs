//! Field checks shared by every entity kind: names, hosts, labels, ports, exportTo and
//! traffic policy. Each check reports a diagnostic at the field's YAML path and says how to
//! fix it; it returns whether the value was valid so callers can skip dependent checks.

use std::collections::BTreeMap;

use super::raw::{Labels, RawExportTo, RawPort, ShortOr, StringMatch};
use super::traffic::{Fault, LoadBalancer, Retries, Traffic};
use super::{ExportTo, Port, Protocol, names};
use crate::diag::{Diagnostic, Diagnostics, Origin};

/// Collects diagnostics while an entity is validated.
pub struct Checker<'a> {
    diags: &'a mut Diagnostics,
}

impl<'a> Checker<'a> {
    /// A checker that reports into `diags`.
    pub fn new(diags: &'a mut Diagnostics) -> Checker<'a> {
        Checker { diags }
    }

    /// Reports an error.
    pub fn error(&mut self, code: &'static str, origin: Origin, msg: impl Into<String>, help: Option<String>) {
        self.diags.push(Diagnostic::error(code, origin, msg).maybe_help(help));
    }

    /// Reports a prepared diagnostic.
    pub fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// `names`: kinds an entity makes an object of named after it, each with a valid name.
    pub fn object_names(
        &mut self,
        raw: Option<&BTreeMap<String, String>>,
        origin: &Origin,
    ) -> BTreeMap<String, String> {
        const KINDS: [&str; 6] =
            ["ServiceEntry", "WorkloadGroup", "DestinationRule", "VirtualService", "Sidecar", "AuthorizationPolicy"];
        let mut out = BTreeMap::new();
        for (kind, name) in raw.into_iter().flatten() {
            let at = origin.child(kind);
            if !KINDS.contains(&kind.as_str()) {
                let help = crate::diag::suggest::hint(kind, "kinds", &KINDS)
                    .unwrap_or_else(|| format!("name one of {}", KINDS.join(", ")));
                self.error(
                    "invalid-value",
                    at.key(),
                    format!("`{}` is not a kind meshgen names after an entity", shown(kind)),
                    Some(help),
                );
            } else if self.object_name(name, &at) {
                out.insert(kind.clone(), name.clone());
            }
        }
        out
    }

    /// The errors reported so far (to tell whether a part added any).
    pub fn errors(&self) -> usize {
        self.diags.counts().0
    }

    /// Runs `f` on the value; on failure reports `invalid-value` with "`<what>` `<value>` <reason>".
    fn check(
        &mut self,
        what: &str,
        value: &str,
        origin: &Origin,
        help: &str,
        f: impl Fn(&str) -> Result<(), String>,
    ) -> bool {
        match f(value) {
            Ok(()) => true,
            Err(e) => {
                let help = if help.is_empty() { None } else { Some(help.to_string()) };
                self.error("invalid-value", origin.clone(), format!("{what} `{}` {e}", shown(value)), help);
                false
            }
        }
    }

    /// A Kubernetes namespace.
    pub fn namespace(&mut self, ns: &str, origin: &Origin) -> bool {
        self.check("namespace", ns, origin, "namespaces are lowercase DNS labels, e.g. `shop`", names::dns_label)
    }

    /// An entity name (becomes object and file names).
    pub fn entity_name(&mut self, kind: &str, name: &str, origin: &Origin) -> bool {
        self.check(
            &format!("{kind} name"),
            name,
            &origin.clone().key(),
            "entity names become Kubernetes object and file names: use lowercase letters, digits and `-`, e.g. `orders-db`",
            names::dns_label,
        )
    }

    /// An object name given explicitly (e.g. a VM's WorkloadEntry name).
    pub fn object_name(&mut self, name: &str, origin: &Origin) -> bool {
        self.check("name", name, origin, "use lowercase letters, digits, `-` and `.`", names::dns_subdomain)
    }

    /// A host, with or without a leading wildcard label.
    pub fn host(&mut self, host: &str, wildcard: bool, origin: &Origin) -> bool {
        let help = if wildcard {
            "write a DNS name such as `api.example.com` or `*.example.com`"
        } else {
            "write a DNS name such as `api.example.com`"
        };
        self.check("host", host, origin, help, |h| names::host(h, wildcard))
    }

    /// A service account name.
    pub fn service_account(&mut self, sa: &str, origin: &Origin) -> bool {
        self.check(
            "service account",
            sa,
            origin,
            "service accounts are Kubernetes names, e.g. `catalog`",
            names::dns_subdomain,
        )
    }

    /// A SPIFFE principal as AuthorizationPolicy matches it: `<trust-domain>/ns/<ns>/sa/<sa>`,
    /// with `*` allowed only as a prefix or suffix match.
    pub fn principal(&mut self, p: &str, origin: &Origin) -> bool {
        self.check(
            "principal",
            p,
            origin,
            "principals are written `<trust-domain>/ns/<namespace>/sa/<service-account>`, without `spiffe://`",
            |p: &str| {
                let inner = p.strip_prefix('*').unwrap_or(p);
                let inner = inner.strip_suffix('*').unwrap_or(inner);
                if p.starts_with("spiffe://") {
                    Err("starts with `spiffe://`, which Istio strips before matching".into())
                } else if p != "*" && (inner.is_empty() || !inner.chars().all(|c| c.is_ascii_graphic() && c != '*')) {
                    Err("is not a principal (`*` only at the start or end, no spaces)".into())
                } else {
                    Ok(())
                }
            },
        )
    }

    /// A duration Istio accepts.
    pub fn duration(&mut self, d: &str, origin: &Origin) -> bool {
        self.check(
            "duration",
            d,
            origin,
            "write a Go duration of at least 1ms in whole milliseconds, e.g. `250ms`, `10s`, `1m30s`",
            names::duration,
        )
    }

    /// A host entities are registered under: a valid host with at least one dot. A short
    /// name is taken literally in a ServiceEntry but expanded with the namespace in a
    /// DestinationRule or VirtualService (and refused in a Gateway), so they would never meet.
    pub fn mesh_host(&mut self, host: &str, wildcard: bool, origin: &Origin) -> bool {
        if !self.host(host, wildcard, origin) {
            return false;
        }
        if !host.trim_end_matches('.').contains('.') {
            self.error(
                "invalid-value",
                origin.clone(),
                format!("host `{}` is a short name", shown(host)),
                Some(format!("write the fully qualified name, e.g. `{host}.example.internal`: Istio expands short names differently in each kind")),
            );
            return false;
        }
        true
    }

    /// Reports every number in `v` above the 32-bit signed range.
    fn int32_numbers(&mut self, v: &serde_json::Value, at: &Origin) {
        match v {
            serde_json::Value::Number(n) if n.as_u64().is_some_and(|n| n > i32::MAX as u64) => {
                self.error("invalid-value", at.clone(), format!("{n} is above Istio's limit of {}", i32::MAX), None);
            }
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    self.int32_numbers(v, &at.child(k));
                }
            }
            _ => {}
        }
    }

    /// A locality.
    pub fn locality(&mut self, l: &str, origin: &Origin) -> bool {
        self.check("locality", l, origin, "write `region/zone/subzone`, e.g. `eu-west1/eu-west1-a`", names::locality)
    }

    /// A network name.
    pub fn network(&mut self, n: &str, origin: &Origin) -> bool {
        self.check("network", n, origin, "network names are label values, e.g. `vm-net`", names::network)
    }

    /// An IP address or CIDR block.
    pub fn ip_or_cidr(&mut self, a: &str, origin: &Origin) -> bool {
        self.check(
            "address",
            a,
            origin,
            "write an IP address (`10.0.0.1`) or a CIDR block (`10.0.0.0/24`)",
            names::ip_or_cidr,
        )
    }

    /// A port number (1–65535).
    pub fn port_number(&mut self, n: u32, origin: &Origin) -> bool {
        if (1..=65535).contains(&n) {
            return true;
        }
        self.error(
            "invalid-value",
            origin.clone(),
            format!("port number {n} is out of range"),
            Some("port numbers are 1–65535".into()),
        );
        false
    }

    /// A percentage in 0–100.
    pub fn percent(&mut self, p: f64, origin: &Origin) -> bool {
        // Istio's resolution is 0.0001%: anything above 0 and below it is refused.
        if p == 0.0 || (0.0001..=100.0).contains(&p) {
            return true;
        }
        self.error(
            "invalid-value",
            origin.clone(),
            format!("percentage {p} is out of range"),
            Some("percentages are 0, or 0.0001–100".into()),
        );
        false
    }

    /// One of a fixed set of words (Istio enums are upper case and case-sensitive).
    pub fn one_of(&mut self, what: &str, value: &str, allowed: &[&str], origin: &Origin) -> bool {
        if allowed.contains(&value) {
            return true;
        }
        let help = crate::diag::suggest::hint(value, "values", allowed);
        self.error("invalid-value", origin.clone(), format!("unknown {what} `{}`", shown(value)), help);
        false
    }

    /// Label keys and values.
    pub fn labels(&mut self, labels: &Labels, origin: &Origin) -> bool {
        let mut ok = true;
        for (k, v) in labels {
            let at = origin.child(k);
            ok &= self.check(
                "label key",
                k,
                &at.clone().key(),
                "label keys are `[prefix/]name`, e.g. `app` or `app.kubernetes.io/name`",
                names::label_key,
            );
            ok &= self.check(
                "label value",
                v,
                &at,
                "label values are at most 63 letters, digits, `-`, `_` or `.`; quote numbers such as `\"1.0\"`",
                names::label_value,
            );
        }
        ok
    }

    /// A workload selector: labels without wildcards, not empty.
    pub fn selector(&mut self, labels: &Labels, origin: &Origin) -> bool {
        if labels.is_empty() {
            self.error("invalid-value", origin.clone(), "selector has no labels", Some("an empty selector selects every workload in the namespace; name at least one label, e.g. `app: catalog`".into()));
            return false;
        }
        self.labels(labels, origin)
    }

    /// exportTo: `consumers`, or `.`/`*`/`~`/namespace names following Istio's rules.
    pub fn export_to(&mut self, raw: &RawExportTo, origin: &Origin) -> Option<ExportTo> {
        let list = &raw.namespaces;
        if list.len() == 1 && list[0] == "consumers" {
            return Some(ExportTo::Consumers);
        }
        let mut ok = true;
        if list.is_empty() {
            self.error(
                "invalid-value",
                origin.clone(),
                "exportTo is empty",
                Some("leave it out to export everywhere, or write `[\".\"]` for this namespace only".into()),
            );
            return None;
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, e) in list.iter().enumerate() {
            let at = origin.index(i);
            if e == "consumers" {
                self.error(
                    "invalid-value",
                    at,
                    "`consumers` must stand alone",
                    Some("write `exportTo: consumers`".into()),
                );
                ok = false;
            } else if !matches!(e.as_str(), "." | "*" | "~")
                && !self.check("exportTo entry", e, &at, "use `.`, `*`, `~` or a namespace name", names::dns_label)
            {
                ok = false;
            } else if !seen.insert(e.as_str()) {
                self.error("invalid-value", at, format!("duplicate exportTo entry `{e}`"), None);
                ok = false;
            }
        }
        for special in ["*", "~"] {
            if list.len() > 1 && list.iter().any(|e| e == special) {
                self.error(
                    "invalid-value",
                    origin.clone(),
                    format!("`{special}` must be the only exportTo entry"),
                    Some(format!("write `exportTo: [\"{special}\"]` alone")),
                );
                ok = false;
            }
        }
        ok.then(|| ExportTo::Namespaces(list.clone()))
    }

    /// Ports by name: names, numbers, protocols (inferred from the name when absent), unique numbers.
    pub fn ports(&mut self, raw: Option<&BTreeMap<String, ShortOr<RawPort>>>, origin: &Origin) -> Vec<Port> {
        let Some(raw) = raw.filter(|r| !r.is_empty()) else {
            self.error(
                "missing-field",
                origin.clone(),
                "no ports declared",
                Some("add ports by name, e.g. `ports: {http: 8080}`".into()),
            );
            return Vec::new();
        };
        let mut ports: Vec<Port> = Vec::new();
        for (name, ShortOr(p)) in raw {
            let at = origin.child(name);
            let name_ok = self.check(
                "port name",
                name,
                &at.clone().key(),
                "port names are lowercase DNS labels of at most 62 characters, e.g. `http` or `grpc-api`",
                names::port_name,
            );
            let number_ok = self.port_number(p.number, &at);
            if let Some(t) = p.target_port {
                self.port_number(t, &at.child("targetPort"));
            }
            let protocol = match &p.protocol {
                Some(explicit) => match Protocol::parse(explicit) {
                    Some(given) => {
                        // Istio goes by `protocol`, but tools (and people) read the name:
                        // `http-api` declared as TCP says two different things.
                        if let Some(named) = Protocol::from_port_name(name).filter(|n| *n != given) {
                            self.push(
                                Diagnostic::warning(
                                    "port-name-mismatch",
                                    at.child("protocol"),
                                    format!("port `{name}` is named for {} but declared {}", named.as_str(), given.as_str()),
                                )
                                .help(format!("rename the port after its protocol (e.g. `{}`), or fix `protocol`", given.as_str().to_ascii_lowercase())),
                            );
                        }
                        Some(given)
                    }
                    None => {
                        let help = crate::diag::suggest::hint(explicit, "protocols", Protocol::NAMES);
                        self.error("invalid-value", at.child("protocol"), format!("unknown protocol `{}`", shown(explicit)), help);
                        None
                    }
                },
                None => Protocol::from_port_name(name).or_else(|| {
                    if name_ok {
                        self.error("invalid-value", at.clone().key(), format!("cannot tell the protocol of port `{name}` from its name"), Some(format!("name the port after its protocol (`http`, `grpc`, `tcp`, `tls`, `https`, `mongo`…, optionally with a suffix such as `http-api`) or write `{name}: {{number: {}, protocol: TCP}}`", p.number)));
                    }
                    None
                }),
            };
            if let (true, Some(protocol)) = (name_ok && number_ok, protocol) {
                if let Some(other) = ports.iter().find(|q| q.number == p.number) {
                    self.error(
                        "duplicate-port",
                        at.clone(),
                        format!("port number {} is declared twice (`{}` and `{name}`)", p.number, other.name),
                        Some("each port number may appear once per service".into()),
                    );
                    continue;
                }
                ports.push(Port { name: name.clone(), number: p.number, protocol, target_port: p.target_port });
            }
        }
        ports.sort_by_key(|p| p.number);
        ports
    }

    /// Per-port overrides (`ports: {http: 9080}` on a VM or endpoint): declared names, valid numbers.
    pub fn port_overrides(&mut self, raw: &BTreeMap<String, u32>, declared: &[Port], origin: &Origin) {
        let names: Vec<&str> = declared.iter().map(|p| p.name.as_str()).collect();
        for (name, n) in raw {
            let at = origin.child(name);
            if !names.contains(&name.as_str()) {
                let help = crate::diag::suggest::hint(name, "ports", &names);
                self.error("unknown-port", at.clone().key(), format!("port `{}` is not declared", shown(name)), help);
            }
            self.port_number(*n, &at);
        }
    }

    /// Traffic policy values: durations, enums, ranges. `inherits_outlier` says whether the
    /// policy this one is merged over (the project defaults) sets outlier detection, which
    /// locality failover relies on.
    pub fn traffic(&mut self, t: &Traffic, origin: &Origin, inherits_outlier: bool) {
        // Istio's pool and detection counters are 32-bit signed integers (some unsigned, for
        // which this bound is stricter than needed but still far beyond any real limit).
        for (f, v) in [
            ("connectionPool", serde_json::to_value(&t.connection_pool).ok()),
            ("outlierDetection", serde_json::to_value(&t.outlier_detection).ok()),
        ] {
            if let Some(v) = v {
                self.int32_numbers(&v, &origin.child(f));
            }
        }
        if let Some(d) = &t.timeout {
            self.duration(d, &origin.child("timeout"));
        }
        if let Some(r) = &t.retries {
            self.retries(r, &origin.child("retries"));
        }
        if let Some(f) = &t.fault {
            self.fault(f, &origin.child("fault"));
        }
        if let Some(cp) = &t.connection_pool {
            let o = origin.child("connectionPool");
            if cp.tcp.is_none() && cp.http.is_none() {
                self.error(
                    "invalid-value",
                    o.clone(),
                    "connectionPool is empty",
                    Some("set `tcp` and/or `http` limits, or leave it out".into()),
                );
            }
            if let Some(tcp) = &cp.tcp {
                let o = o.child("tcp");
                for (f, v) in
                    [("connectTimeout", &tcp.connect_timeout), ("maxConnectionDuration", &tcp.max_connection_duration)]
                {
                    if let Some(v) = v {
                        self.duration(v, &o.child(f));
                    }
                }
                if let Some(v) = &tcp.idle_timeout {
                    // `0s` turns the idle timeout off; Istio accepts it here only.
                    if v != "0s" {
                        self.duration(v, &o.child("idleTimeout"));
                    }
                }
                if let Some(k) = &tcp.tcp_keepalive {
                    for (f, v) in [("time", &k.time), ("interval", &k.interval)] {
                        if let Some(v) = v {
                            self.duration(v, &o.child("tcpKeepalive").child(f));
                        }
                    }
                }
            }
            if let Some(http) = &cp.http {
                let o = o.child("http");
                if let Some(v) = &http.idle_timeout {
                    self.duration(v, &o.child("idleTimeout"));
                }
                if let Some(p) = &http.h2_upgrade_policy {
                    self.one_of(
                        "h2UpgradePolicy",
                        p,
                        &["DEFAULT", "DO_NOT_UPGRADE", "UPGRADE"],
                        &o.child("h2UpgradePolicy"),
                    );
                    if p == "UPGRADE" && http.use_client_protocol == Some(true) {
                        self.error(
                            "invalid-value",
                            o.child("useClientProtocol"),
                            "useClientProtocol cannot be true when h2UpgradePolicy is UPGRADE",
                            Some("drop one of the two".into()),
                        );
                    }
                }
            }
        }
        if let Some(od) = &t.outlier_detection {
            let o = origin.child("outlierDetection");
            for (f, v) in [("interval", &od.interval), ("baseEjectionTime", &od.base_ejection_time)] {
                if let Some(v) = v {
                    self.duration(v, &o.child(f));
                }
            }
            for (f, v) in [("maxEjectionPercent", od.max_ejection_percent), ("minHealthPercent", od.min_health_percent)]
            {
                if let Some(v) = v {
                    self.percent(f64::from(v), &o.child(f));
                }
            }
            if od.consecutive_local_origin_failures.is_some_and(|n| n > 0)
                && od.split_external_local_origin_errors != Some(true)
            {
                self.error(
                    "invalid-value",
                    o.child("consecutiveLocalOriginFailures"),
                    "consecutiveLocalOriginFailures needs splitExternalLocalOriginErrors",
                    Some("add `splitExternalLocalOriginErrors: true`".into()),
                );
            }
        }
        if let Some(ShortOr(lb)) = t.load_balancer.as_deref() {
            self.load_balancer(
                lb,
                &origin.child("loadBalancer"),
                t.outlier_detection.as_deref().is_some_and(|o| *o != Default::default()) || inherits_outlier,
            );
        }
    }

    /// Retry policy: durations, retryOn words, and attempts whenever anything else is set.
    pub fn retries(&mut self, r: &Retries, o: &Origin) {
        if let Some(v) = &r.per_try_timeout {
            self.duration(v, &o.child("perTryTimeout"));
        }
        if let Some(on) = &r.retry_on {
            const KNOWN: &[&str] = &[
                "5xx",
                "gateway-error",
                "reset",
                "reset-before-request",
                "connect-failure",
                "retriable-4xx",
                "refused-stream",
                "retriable-status-codes",
                "retriable-headers",
                "envoy-ratelimited",
                "http3-post-connect-failure",
                "cancelled",
                "deadline-exceeded",
                "internal",
                "resource-exhausted",
                "unavailable",
            ];
            // Istio splits on `,` without trimming, and takes numbers only as HTTP statuses.
            for item in on.split(',') {
                let status = item.parse::<u16>().is_ok_and(|n| (100..=599).contains(&n)) && !item.starts_with('0');
                if !KNOWN.contains(&item) && !status {
                    let help = crate::diag::suggest::hint(item, "retryOn conditions", KNOWN);
                    self.error(
                        "invalid-value",
                        o.child("retryOn"),
                        format!("unknown retryOn condition `{}`", shown(item)),
                        help.or_else(|| {
                            Some("conditions are comma-separated without spaces, e.g. `5xx,reset,503`".into())
                        }),
                    );
                }
            }
        }
        let extras = r.per_try_timeout.is_some() || r.retry_on.is_some() || r.retry_remote_localities.is_some();
        if extras && r.attempts.unwrap_or(0) == 0 {
            self.error(
                "invalid-value",
                o.child("attempts"),
                "retry settings need `attempts` of at least 1",
                Some("Istio refuses perTryTimeout/retryOn with attempts 0; add e.g. `attempts: 3`".into()),
            );
        }
    }

    /// Fault injection: a delay and/or an abort, valid statuses and percentages.
    pub fn fault(&mut self, f: &Fault, o: &Origin) {
        if f.delay.is_none() && f.abort.is_none() {
            self.error(
                "invalid-value",
                o.clone(),
                "fault injection has neither `delay` nor `abort`",
                Some(
                    "add `delay: {fixedDelay: 5s, percentage: 10}` or `abort: {httpStatus: 503, percentage: 1}`".into(),
                ),
            );
        }
        if let Some(d) = &f.delay {
            self.duration(&d.fixed_delay, &o.child("delay").child("fixedDelay"));
            if let Some(p) = d.percentage {
                self.percent(p, &o.child("delay").child("percentage"));
            }
        }
        if let Some(a) = &f.abort {
            let ao = o.child("abort");
            match (a.http_status, &a.grpc_status) {
                (Some(s), None) if !(200..=599).contains(&s) => self.error(
                    "invalid-value",
                    ao.child("httpStatus"),
                    format!("HTTP status {s} is out of range"),
                    Some("use a status in 200–599".into()),
                ),
                (Some(_), None) => {}
                (None, Some(g)) => {
                    self.one_of(
                        "gRPC status",
                        g,
                        &[
                            "OK",
                            "CANCELLED",
                            "UNKNOWN",
                            "INVALID_ARGUMENT",
                            "DEADLINE_EXCEEDED",
                            "NOT_FOUND",
                            "ALREADY_EXISTS",
                            "PERMISSION_DENIED",
                            "RESOURCE_EXHAUSTED",
                            "FAILED_PRECONDITION",
                            "ABORTED",
                            "OUT_OF_RANGE",
                            "UNIMPLEMENTED",
                            "INTERNAL",
                            "UNAVAILABLE",
                            "DATA_LOSS",
                            "UNAUTHENTICATED",
                        ],
                        &ao.child("grpcStatus"),
                    );
                }
                _ => self.error(
                    "invalid-value",
                    ao.clone(),
                    "abort needs exactly one of `httpStatus` and `grpcStatus`",
                    None,
                ),
            }
            if let Some(p) = a.percentage {
                self.percent(p, &ao.child("percentage"));
            }
        }
    }

    fn load_balancer(&mut self, lb: &LoadBalancer, o: &Origin, has_outlier: bool) {
        if lb.simple.is_some() && lb.consistent_hash.is_some() {
            self.error(
                "invalid-value",
                o.clone(),
                "loadBalancer sets both `simple` and `consistentHash`",
                Some("pick one".into()),
            );
        }
        if lb.simple.is_none() && lb.consistent_hash.is_none() && lb.locality_lb_setting.is_none() {
            self.error(
                "invalid-value",
                o.clone(),
                "loadBalancer is empty",
                Some("write e.g. `loadBalancer: LEAST_REQUEST`".into()),
            );
        }
        if let Some(s) = &lb.simple {
            self.one_of(
                "load balancer",
                s,
                &["ROUND_ROBIN", "LEAST_REQUEST", "RANDOM", "PASSTHROUGH"],
                &o.child("simple"),
            );
        }
        if let Some(ch) = &lb.consistent_hash {
            let co = o.child("consistentHash");
            let keys = [
                ch.http_header_name.is_some(),
                ch.http_cookie.is_some(),
                ch.use_source_ip == Some(true),
                ch.http_query_parameter_name.is_some(),
            ];
            if keys.iter().filter(|k| **k).count() != 1 {
                self.error("invalid-value", co.clone(), "consistentHash needs exactly one of httpHeaderName, httpCookie, useSourceIp, httpQueryParameterName", None);
            }
            if ch.use_source_ip == Some(false) {
                self.error(
                    "invalid-value",
                    co.child("useSourceIp"),
                    "`useSourceIp: false` hashes on nothing",
                    Some("write `useSourceIp: true`, or leave it out".into()),
                );
            }
            if ch.http_cookie.as_ref().is_some_and(|c| c.name.is_empty()) {
                self.error("invalid-value", co.child("httpCookie").child("name"), "the cookie needs a name", None);
            }
            if ch.maglev.as_ref().is_some_and(|m| m.table_size.is_none()) {
                self.error(
                    "missing-field",
                    co.child("maglev").child("tableSize"),
                    "maglev needs `tableSize`",
                    Some("a prime, e.g. 65537".into()),
                );
            }
            if let Some(ttl) = ch.http_cookie.as_ref().and_then(|c| c.ttl.as_ref()) {
                self.duration(ttl, &co.child("httpCookie").child("ttl"));
            }
            if ch.ring_hash.is_some() && ch.maglev.is_some() {
                self.error(
                    "invalid-value",
                    co.clone(),
                    "consistentHash sets both ringHash and maglev",
                    Some("pick one".into()),
                );
            }
            if let Some(t) = ch.maglev.as_ref().and_then(|m| m.table_size) {
                let prime = t >= 2 && (2..).take_while(|d| d * d <= t).all(|d| t % d != 0);
                if !prime || t >= 5_000_011 {
                    self.error(
                        "invalid-value",
                        co.child("maglev").child("tableSize"),
                        format!("maglev tableSize {t} must be a prime below 5000011"),
                        Some("e.g. 65537".into()),
                    );
                }
            }
        }
        if let Some(l) = &lb.locality_lb_setting {
            let lo = o.child("localityLbSetting");
            if l.distribute.is_some() && l.failover.is_some() {
                self.error(
                    "invalid-value",
                    lo.clone(),
                    "localityLbSetting sets both distribute and failover",
                    Some("pick one".into()),
                );
            }
            let mut froms = std::collections::BTreeSet::new();
            for (i, d) in l.distribute.iter().flatten().enumerate() {
                let di = lo.child("distribute").index(i);
                // `region/zone/subzone` with `*` only as a whole last part; one entry per `from`.
                for (what, loc, at) in std::iter::once(("from", &d.from, di.child("from")))
                    .chain(d.to.keys().map(|k| ("to", k, di.child("to").child(k))))
                {
                    let parts: Vec<&str> = loc.split('/').collect();
                    let bad = parts.len() > 3
                        || parts.iter().any(|p| p.is_empty())
                        || parts
                            .iter()
                            .enumerate()
                            .any(|(j, p)| p.contains('*') && (*p != "*" || j + 1 != parts.len()));
                    if bad {
                        self.error("invalid-value", at, format!("locality `{}` in `{what}` is not `region[/zone[/subzone]]` with `*` only as its last part", shown(loc)), None);
                    }
                }
                if !froms.insert(d.from.as_str()) {
                    self.error(
                        "invalid-value",
                        di.child("from"),
                        format!("`{}` is distributed twice", shown(&d.from)),
                        None,
                    );
                }
                let total: u64 = d.to.values().map(|w| u64::from(*w)).sum();
                if total != 100 || d.to.values().any(|w| *w == 0 || *w > 100) {
                    self.error(
                        "invalid-value",
                        lo.child("distribute").index(i).child("to"),
                        format!("locality weights add up to {total}, not 100"),
                        Some("each weight is 1–100 and they sum to exactly 100".into()),
                    );
                }
            }
            for (i, f) in l.failover.iter().flatten().enumerate() {
                let fo = lo.child("failover").index(i);
                if f.from == f.to
                    || f.from.contains('/')
                    || f.to.contains('/')
                    || f.from.contains('*')
                    || f.to.contains('*')
                {
                    self.error(
                        "invalid-value",
                        fo,
                        "failover goes from one region to a different region",
                        Some("write regions only, e.g. `{from: eu-west1, to: eu-west2}`".into()),
                    );
                }
            }
            const TOPOLOGY: &[&str] =
                &["topology.kubernetes.io/region", "topology.kubernetes.io/zone", "topology.istio.io/subzone"];
            if l.failover.is_some()
                && let Some(t) = l.failover_priority.iter().flatten().find(|p| TOPOLOGY.contains(&p.as_str()))
            {
                self.error(
                    "invalid-value",
                    lo.child("failoverPriority"),
                    format!("`failover` cannot be combined with the topology label `{t}` in failoverPriority"),
                    Some(
                        "drop `failover` (failoverPriority covers region and zone), or drop the topology labels".into(),
                    ),
                );
            }
            let fails_over = l.failover.is_some() || l.failover_priority.is_some();
            if fails_over && !has_outlier {
                // Istio only warns (DR-25), but without ejection Envoy never fails over.
                self.push(Diagnostic::warning("failover-without-outlier-detection", lo.clone(), "locality failover needs outlier detection").help("add `outlierDetection` (e.g. `{consecutive5xxErrors: 5, interval: 10s, baseEjectionTime: 30s}`) to the same traffic policy; Envoy fails over only when it ejects unhealthy endpoints"));
            }
        }
    }

    /// A StringMatch: exactly one of exact, prefix, regex; regex bounded.
    pub fn string_match(&mut self, m: &StringMatch, o: &Origin) {
        let n = [m.exact.is_some(), m.prefix.is_some(), m.regex.is_some()].iter().filter(|x| **x).count();
        if n != 1 {
            self.error("invalid-value", o.clone(), "a match needs exactly one of `exact`, `prefix`, `regex`", None);
        }
        if m.prefix.as_deref() == Some("") {
            self.error(
                "invalid-value",
                o.child("prefix"),
                "an empty prefix matches everything",
                Some("remove the match, or write the prefix".into()),
            );
        }
        if let Some(r) = &m.regex {
            if r.is_empty() || r.len() > 1024 {
                self.error("invalid-value", o.child("regex"), "regex must be 1–1024 characters", None);
            } else if let Err(e) = crate::crd::re2_compile(r) {
                self.error(
                    "invalid-value",
                    o.child("regex"),
                    format!("`{}` is not an RE2 regular expression: {e}", shown(r)),
                    Some("Envoy uses RE2: no look-around, no backreferences, repetition counts up to 1000".into()),
                );
            }
        }
    }
}

/// A value as shown in a message: control characters escaped, at most 80 characters (the
/// one escaping of inventory text for people lives in [`crate::diag::escape`]).
pub use crate::diag::escape::shown;
