//! The checks of traffic policy (`traffic` of the defaults, an entity, a port or a subset,
//! and a route's retries and fault): durations, enums, ranges, Istio's 32-bit counters, and
//! the combinations Istio refuses or ignores (load balancing, locality failover without
//! outlier detection).

use super::{Checker, Place, shown};
use crate::diag::Diagnostic;
use crate::model::raw::ShortOr;
use crate::model::traffic::{Fault, LoadBalancer, Retries, Traffic};

impl Checker<'_> {
    /// Traffic policy values: durations, enums, ranges. `inherits_outlier` says whether the
    /// policy this one is merged over (the project defaults) sets outlier detection, which
    /// locality failover relies on.
    pub fn traffic(&mut self, t: &Traffic, origin: &dyn Place, inherits_outlier: bool) {
        // Istio's pool and detection counters are 32-bit signed integers (some unsigned, for
        // which this bound is stricter than needed but still far beyond any real limit).
        for (f, v) in [
            ("connectionPool", serde_json::to_value(&t.connection_pool).ok()),
            ("outlierDetection", serde_json::to_value(&t.outlier_detection).ok()),
        ] {
            if let Some(v) = v {
                self.int32_numbers(&v, &origin.at(f));
            }
        }
        if let Some(d) = &t.timeout {
            self.duration(d, &origin.at("timeout"));
        }
        if let Some(r) = &t.retries {
            self.retries(r, &origin.at("retries"));
        }
        if let Some(f) = &t.fault {
            self.fault(f, &origin.at("fault"));
        }
        if let Some(cp) = &t.connection_pool {
            let o = origin.at("connectionPool");
            if cp.tcp.is_none() && cp.http.is_none() {
                self.error(
                    "invalid-value",
                    o.origin(),
                    "connectionPool is empty",
                    Some("set `tcp` and/or `http` limits, or leave it out".into()),
                );
            }
            if let Some(tcp) = &cp.tcp {
                let o = o.at("tcp");
                for (f, v) in
                    [("connectTimeout", &tcp.connect_timeout), ("maxConnectionDuration", &tcp.max_connection_duration)]
                {
                    if let Some(v) = v {
                        self.duration(v, &o.at(f));
                    }
                }
                if let Some(v) = &tcp.idle_timeout {
                    // `0s` turns the idle timeout off; Istio accepts it here only.
                    if v != "0s" {
                        self.duration(v, &o.at("idleTimeout"));
                    }
                }
                if let Some(k) = &tcp.tcp_keepalive {
                    for (f, v) in [("time", &k.time), ("interval", &k.interval)] {
                        if let Some(v) = v {
                            self.duration(v, &o.at("tcpKeepalive").at(f));
                        }
                    }
                }
            }
            if let Some(http) = &cp.http {
                let o = o.at("http");
                if let Some(v) = &http.idle_timeout {
                    self.duration(v, &o.at("idleTimeout"));
                }
                if let Some(p) = &http.h2_upgrade_policy {
                    self.one_of(
                        "h2UpgradePolicy",
                        p,
                        &["DEFAULT", "DO_NOT_UPGRADE", "UPGRADE"],
                        &o.at("h2UpgradePolicy"),
                    );
                    if p == "UPGRADE" && http.use_client_protocol == Some(true) {
                        self.error(
                            "invalid-value",
                            o.at("useClientProtocol").origin(),
                            "useClientProtocol cannot be true when h2UpgradePolicy is UPGRADE",
                            Some("drop one of the two".into()),
                        );
                    }
                }
            }
        }
        if let Some(od) = &t.outlier_detection {
            let o = origin.at("outlierDetection");
            for (f, v) in [("interval", &od.interval), ("baseEjectionTime", &od.base_ejection_time)] {
                if let Some(v) = v {
                    self.duration(v, &o.at(f));
                }
            }
            for (f, v) in [("maxEjectionPercent", od.max_ejection_percent), ("minHealthPercent", od.min_health_percent)]
            {
                if let Some(v) = v {
                    self.percent(f64::from(v), &o.at(f));
                }
            }
            if od.consecutive_local_origin_failures.is_some_and(|n| n > 0)
                && od.split_external_local_origin_errors != Some(true)
            {
                self.error(
                    "invalid-value",
                    o.at("consecutiveLocalOriginFailures").origin(),
                    "consecutiveLocalOriginFailures needs splitExternalLocalOriginErrors",
                    Some("add `splitExternalLocalOriginErrors: true`".into()),
                );
            }
        }
        if let Some(ShortOr(lb)) = t.load_balancer.as_deref() {
            self.load_balancer(
                lb,
                &origin.at("loadBalancer"),
                t.outlier_detection.as_deref().is_some_and(|o| *o != Default::default()) || inherits_outlier,
            );
        }
    }

    /// Retry policy: durations, retryOn words, and attempts whenever anything else is set.
    pub fn retries(&mut self, r: &Retries, o: &dyn Place) {
        if let Some(v) = &r.per_try_timeout {
            self.duration(v, &o.at("perTryTimeout"));
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
                        o.at("retryOn").origin(),
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
                o.at("attempts").origin(),
                "retry settings need `attempts` of at least 1",
                Some("Istio refuses perTryTimeout/retryOn with attempts 0; add e.g. `attempts: 3`".into()),
            );
        }
    }

    /// Fault injection: a delay and/or an abort, valid statuses and percentages.
    pub fn fault(&mut self, f: &Fault, o: &dyn Place) {
        if f.delay.is_none() && f.abort.is_none() {
            self.error(
                "invalid-value",
                o.origin(),
                "fault injection has neither `delay` nor `abort`",
                Some(
                    "add `delay: {fixedDelay: 5s, percentage: 10}` or `abort: {httpStatus: 503, percentage: 1}`".into(),
                ),
            );
        }
        if let Some(d) = &f.delay {
            self.duration(&d.fixed_delay, &o.at("delay").at("fixedDelay"));
            if let Some(p) = d.percentage {
                self.percent(p, &o.at("delay").at("percentage"));
            }
        }
        if let Some(a) = &f.abort {
            let ao = o.at("abort");
            match (a.http_status, &a.grpc_status) {
                (Some(s), None) if !(200..=599).contains(&s) => self.error(
                    "invalid-value",
                    ao.at("httpStatus").origin(),
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
                        &ao.at("grpcStatus"),
                    );
                }
                _ => self.error(
                    "invalid-value",
                    ao.origin(),
                    "abort needs exactly one of `httpStatus` and `grpcStatus`",
                    None,
                ),
            }
            if let Some(p) = a.percentage {
                self.percent(p, &ao.at("percentage"));
            }
        }
    }

    fn load_balancer(&mut self, lb: &LoadBalancer, o: &dyn Place, has_outlier: bool) {
        if lb.simple.is_some() && lb.consistent_hash.is_some() {
            self.error(
                "invalid-value",
                o.origin(),
                "loadBalancer sets both `simple` and `consistentHash`",
                Some("pick one".into()),
            );
        }
        if lb.simple.is_none() && lb.consistent_hash.is_none() && lb.locality_lb_setting.is_none() {
            self.error(
                "invalid-value",
                o.origin(),
                "loadBalancer is empty",
                Some("write e.g. `loadBalancer: LEAST_REQUEST`".into()),
            );
        }
        if let Some(s) = &lb.simple {
            self.one_of(
                "load balancer",
                s,
                &["ROUND_ROBIN", "LEAST_REQUEST", "RANDOM", "PASSTHROUGH"],
                &o.at("simple"),
            );
        }
        if let Some(ch) = &lb.consistent_hash {
            let co = o.at("consistentHash");
            let keys = [
                ch.http_header_name.is_some(),
                ch.http_cookie.is_some(),
                ch.use_source_ip == Some(true),
                ch.http_query_parameter_name.is_some(),
            ];
            if keys.iter().filter(|k| **k).count() != 1 {
                self.error("invalid-value", co.origin(), "consistentHash needs exactly one of httpHeaderName, httpCookie, useSourceIp, httpQueryParameterName", None);
            }
            if ch.use_source_ip == Some(false) {
                self.error(
                    "invalid-value",
                    co.at("useSourceIp").origin(),
                    "`useSourceIp: false` hashes on nothing",
                    Some("write `useSourceIp: true`, or leave it out".into()),
                );
            }
            if ch.http_cookie.as_ref().is_some_and(|c| c.name.is_empty()) {
                self.error("invalid-value", co.at("httpCookie").at("name").origin(), "the cookie needs a name", None);
            }
            if ch.maglev.as_ref().is_some_and(|m| m.table_size.is_none()) {
                self.error(
                    "missing-field",
                    co.at("maglev").at("tableSize").origin(),
                    "maglev needs `tableSize`",
                    Some("a prime, e.g. 65537".into()),
                );
            }
            if let Some(ttl) = ch.http_cookie.as_ref().and_then(|c| c.ttl.as_ref()) {
                self.duration(ttl, &co.at("httpCookie").at("ttl"));
            }
            if ch.ring_hash.is_some() && ch.maglev.is_some() {
                self.error(
                    "invalid-value",
                    co.origin(),
                    "consistentHash sets both ringHash and maglev",
                    Some("pick one".into()),
                );
            }
            if let Some(t) = ch.maglev.as_ref().and_then(|m| m.table_size) {
                let prime = t >= 2 && (2..).take_while(|d| d * d <= t).all(|d| t % d != 0);
                if !prime || t >= 5_000_011 {
                    self.error(
                        "invalid-value",
                        co.at("maglev").at("tableSize").origin(),
                        format!("maglev tableSize {t} must be a prime below 5000011"),
                        Some("e.g. 65537".into()),
                    );
                }
            }
        }
        if let Some(l) = &lb.locality_lb_setting {
            // Rare enough to make its origin up front: the loops below hold places of it.
            let lo = o.at("localityLbSetting").origin();
            if l.distribute.is_some() && l.failover.is_some() {
                self.error(
                    "invalid-value",
                    lo.origin(),
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
                    lo.at("failoverPriority").origin(),
                    format!("`failover` cannot be combined with the topology label `{t}` in failoverPriority"),
                    Some(
                        "drop `failover` (failoverPriority covers region and zone), or drop the topology labels".into(),
                    ),
                );
            }
            let fails_over = l.failover.is_some() || l.failover_priority.is_some();
            if fails_over && !has_outlier {
                // Istio only warns (DR-25), but without ejection Envoy never fails over.
                self.push(Diagnostic::warning("failover-without-outlier-detection", lo.origin(), "locality failover needs outlier detection").help("add `outlierDetection` (e.g. `{consecutive5xxErrors: 5, interval: 10s, baseEjectionTime: 30s}`) to the same traffic policy; Envoy fails over only when it ejects unhealthy endpoints"));
            }
        }
    }

    /// Reports every number in `v` above the 32-bit signed range.
    fn int32_numbers(&mut self, v: &serde_json::Value, at: &dyn Place) {
        match v {
            serde_json::Value::Number(n) if n.as_u64().is_some_and(|n| n > i32::MAX as u64) => {
                self.error("invalid-value", at.origin(), format!("{n} is above Istio's limit of {}", i32::MAX), None);
            }
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    self.int32_numbers(v, &at.at(k));
                }
            }
            _ => {}
        }
    }
}
