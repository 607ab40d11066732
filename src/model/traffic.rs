//! Traffic policy: timeouts, retries, fault injection (VirtualService side) and connection
//! pools, outlier detection, load balancing, locality failover (DestinationRule side).
//!
//! The shapes are Istio's own, so they read the same in the inventory and in the output; the
//! only short forms are `loadBalancer: LEAST_REQUEST` and `percentage: 10` (Istio writes
//! `{value: 10}`). Defaults from the project file are merged under each entity's own policy
//! ([`Traffic::over`]): field by field, except `loadBalancer` and `fault`, which are replaced
//! whole because their parts exclude one another.

use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema, json_schema};
use serde::{Deserialize, Serialize, Serializer};

use super::raw::{ShortForm, ShortOr};

/// Traffic policy of an entity, or the inventory-wide default. The larger parts are boxed:
/// every service holds a policy and most set few of its parts, so the unset ones cost a
/// pointer each instead of their whole size (768 bytes per service unboxed).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Traffic {
    /// HTTP request timeout (Go duration, e.g. `10s`).
    #[schemars(extend("examples" = ["10s"]))]
    pub timeout: Option<String>,
    /// HTTP retry policy.
    pub retries: Option<Retries>,
    /// HTTP fault injection.
    pub fault: Option<Box<Fault>>,
    /// Connection pool limits.
    pub connection_pool: Option<Box<ConnectionPool>>,
    /// Outlier detection (circuit breaking).
    pub outlier_detection: Option<Box<OutlierDetection>>,
    /// Load balancing, including locality failover.
    pub load_balancer: Option<Box<ShortOr<LoadBalancer>>>,
}

/// Fills each unset field of `a` from `b`.
macro_rules! fieldwise_or {
    ($ty:ident { $($leaf:ident),* $(,)? } $(nested { $($n:ident),* })?) => {
        impl $ty {
            /// This policy with every unset field taken from `base`.
            pub fn over(&self, base: &$ty) -> $ty {
                $ty {
                    $($leaf: self.$leaf.clone().or_else(|| base.$leaf.clone()),)*
                    $($($n: merge_opt(&self.$n, &base.$n, $ty::nested_over),)*)?
                }
            }
        }
    };
}

fn merge_opt<T: Clone>(a: &Option<T>, b: &Option<T>, f: fn(&T, &T) -> T) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(f(a, b)),
        (a, b) => a.clone().or_else(|| b.clone()),
    }
}

impl Traffic {
    /// This policy merged over `base` (the project defaults).
    pub fn over(&self, base: &Traffic) -> Traffic {
        Traffic {
            timeout: self.timeout.clone().or_else(|| base.timeout.clone()),
            retries: merge_opt(&self.retries, &base.retries, Retries::over).map(Retries::normalized),
            fault: self.fault.clone().or_else(|| base.fault.clone()),
            connection_pool: merge_opt(&self.connection_pool, &base.connection_pool, |a, b| Box::new(a.over(b))),
            outlier_detection: merge_opt(&self.outlier_detection, &base.outlier_detection, |a, b| Box::new(a.over(b))),
            load_balancer: self.load_balancer.clone().or_else(|| base.load_balancer.clone()),
        }
    }

    /// True when some DestinationRule-side setting is present.
    pub fn has_destination_policy(&self) -> bool {
        self.connection_pool.is_some() || self.outlier_detection.is_some() || self.load_balancer.is_some()
    }
}

/// Which of the two durations `retries-outlast-timeout` compares an entity's own `traffic`
/// writes, rather than inherits from `defaults.traffic`: a finding points where the value is
/// written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    /// `timeout`.
    pub timeout: bool,
    /// `retries.perTryTimeout`.
    pub per_try_timeout: bool,
}

impl Written {
    /// What `own`, an entity's `traffic` as written, sets.
    pub fn of(own: &Traffic) -> Written {
        Written {
            timeout: own.timeout.is_some(),
            per_try_timeout: own.retries.as_ref().is_some_and(|r| r.per_try_timeout.is_some()),
        }
    }
}

/// Istio's HTTPRetry.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Retries {
    /// Number of retries.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("examples" = [3]))]
    pub attempts: Option<u32>,
    /// Timeout per attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("examples" = ["2s"]))]
    pub per_try_timeout: Option<String>,
    /// Conditions, comma-separated (`5xx,connect-failure`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("examples" = ["5xx,connect-failure,reset"]))]
    pub retry_on: Option<String>,
    /// Retry on other localities.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_remote_localities: Option<bool>,
}
fieldwise_or!(Retries { attempts, per_try_timeout, retry_on, retry_remote_localities });

impl Retries {
    /// `attempts: 0` turns retries off, and Istio then rejects any other retry setting; so
    /// an entity that switches off inherited retries keeps only `attempts: 0`.
    pub fn normalized(self) -> Retries {
        if self.attempts == Some(0) { Retries { attempts: Some(0), ..Retries::default() } } else { self }
    }
}

fn percentage<S: Serializer>(p: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Percent {
        value: f64,
    }
    match p {
        Some(v) => Percent { value: *v }.serialize(s),
        None => s.serialize_none(),
    }
}

/// Istio's HTTPFaultInjection.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Fault {
    /// Delay injection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay: Option<Delay>,
    /// Abort injection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub abort: Option<Abort>,
}

/// A fixed delay for a share of requests.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Delay {
    /// The delay (Go duration).
    #[schemars(extend("examples" = ["2s"]))]
    pub fixed_delay: String,
    /// Share of requests delayed, 0–100.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "percentage")]
    #[schemars(extend("examples" = [10]))]
    pub percentage: Option<f64>,
}

/// An abort for a share of requests.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Abort {
    /// HTTP status to return (200–599).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("examples" = [503]))]
    pub http_status: Option<u32>,
    /// gRPC status name to return (e.g. `UNAVAILABLE`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grpc_status: Option<String>,
    /// Share of requests aborted, 0–100.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "percentage")]
    #[schemars(extend("examples" = [10]))]
    pub percentage: Option<f64>,
}

/// Istio's ConnectionPoolSettings.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConnectionPool {
    /// TCP limits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpPool>,
    /// HTTP limits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpPool>,
}

impl ConnectionPool {
    fn over(&self, base: &ConnectionPool) -> ConnectionPool {
        ConnectionPool {
            tcp: merge_opt(&self.tcp, &base.tcp, TcpPool::over),
            http: merge_opt(&self.http, &base.http, HttpPool::over),
        }
    }
}

/// TCP connection pool settings.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TcpPool {
    /// Maximum connections to a host.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("examples" = [100]))]
    pub max_connections: Option<u32>,
    /// TCP connect timeout.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("examples" = ["5s"]))]
    pub connect_timeout: Option<String>,
    /// Keepalive probes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_keepalive: Option<TcpKeepalive>,
    /// Maximum connection lifetime.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connection_duration: Option<String>,
    /// Idle timeout (`0s` disables it).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("examples" = ["1h"]))]
    pub idle_timeout: Option<String>,
}
fieldwise_or!(TcpPool { max_connections, connect_timeout, tcp_keepalive, max_connection_duration, idle_timeout });

/// TCP keepalive settings.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TcpKeepalive {
    /// Probes before the connection is dead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probes: Option<u32>,
    /// Idle time before probes start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// Time between probes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
}

/// HTTP connection pool settings.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpPool {
    /// Maximum queued requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("examples" = [100]))]
    pub http1_max_pending_requests: Option<u32>,
    /// Maximum active requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http2_max_requests: Option<u32>,
    /// Requests per connection (1 disables keep-alive).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("examples" = [10]))]
    pub max_requests_per_connection: Option<u32>,
    /// Maximum outstanding retries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
    /// Idle timeout of upstream connections.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<String>,
    /// DEFAULT, DO_NOT_UPGRADE or UPGRADE.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub h2_upgrade_policy: Option<String>,
    /// Use the client's HTTP version upstream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_client_protocol: Option<bool>,
    /// Maximum concurrent streams per HTTP/2 connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_concurrent_streams: Option<u32>,
}
fieldwise_or!(HttpPool {
    http1_max_pending_requests,
    http2_max_requests,
    max_requests_per_connection,
    max_retries,
    idle_timeout,
    h2_upgrade_policy,
    use_client_protocol,
    max_concurrent_streams,
});

/// Istio's OutlierDetection.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OutlierDetection {
    /// 5xx errors before ejection.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("examples" = [5]))]
    pub consecutive_5xx_errors: Option<u32>,
    /// 502/503/504 errors before ejection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consecutive_gateway_errors: Option<u32>,
    /// Local-origin failures before ejection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consecutive_local_origin_failures: Option<u32>,
    /// Count local-origin failures separately.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub split_external_local_origin_errors: Option<bool>,
    /// Time between analysis sweeps.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("examples" = ["30s"]))]
    pub interval: Option<String>,
    /// Minimum ejection duration.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("examples" = ["60s"]))]
    pub base_ejection_time: Option<String>,
    /// Maximum share of hosts ejected, 0–100.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("examples" = [50]))]
    pub max_ejection_percent: Option<u32>,
    /// Outlier detection stops below this share of healthy hosts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_health_percent: Option<u32>,
}
fieldwise_or!(OutlierDetection {
    consecutive_5xx_errors,
    consecutive_gateway_errors,
    consecutive_local_origin_failures,
    split_external_local_origin_errors,
    interval,
    base_ejection_time,
    max_ejection_percent,
    min_health_percent,
});

/// Istio's LoadBalancerSettings.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LoadBalancer {
    /// ROUND_ROBIN, LEAST_REQUEST, RANDOM or PASSTHROUGH.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("examples" = ["LEAST_REQUEST", "ROUND_ROBIN", "RANDOM", "PASSTHROUGH"]))]
    pub simple: Option<String>,
    /// Session affinity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consistent_hash: Option<ConsistentHash>,
    /// Locality-weighted load balancing and failover.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locality_lb_setting: Option<LocalityLb>,
}

impl ShortForm for LoadBalancer {
    const EXPECTING: &'static str = "a load balancer name (e.g. `LEAST_REQUEST`) or a mapping";
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(LoadBalancer { simple: Some(s.to_string()), ..LoadBalancer::default() })
    }
    fn short_schema() -> Schema {
        json_schema!({ "type": "string", "examples": ["LEAST_REQUEST", "ROUND_ROBIN", "RANDOM", "PASSTHROUGH"] })
    }
}

impl Serialize for ShortOr<LoadBalancer> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl PartialEq for ShortOr<LoadBalancer> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

/// Istio's ConsistentHashLB.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConsistentHash {
    /// Hash on a header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_header_name: Option<String>,
    /// Hash on a cookie.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_cookie: Option<HttpCookie>,
    /// Hash on the source IP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_source_ip: Option<bool>,
    /// Hash on a query parameter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_query_parameter_name: Option<String>,
    /// Ring hash settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ring_hash: Option<RingHash>,
    /// Maglev settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maglev: Option<Maglev>,
}

/// A cookie to hash on.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpCookie {
    /// Cookie name.
    pub name: String,
    /// Cookie path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Cookie lifetime.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
}

/// Ring hash settings.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RingHash {
    /// Minimum ring size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum_ring_size: Option<u64>,
}

/// Maglev settings.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Maglev {
    /// Table size (a prime).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table_size: Option<u64>,
}

/// Istio's LocalityLoadBalancerSetting.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LocalityLb {
    /// Turn locality load balancing on or off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Weighted distribution per source locality.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distribute: Option<Vec<Distribute>>,
    /// Region failover order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failover: Option<Vec<Failover>>,
    /// Label keys to prioritise endpoints by.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failover_priority: Option<Vec<String>>,
}

/// Traffic from one locality, spread over others.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Distribute {
    /// Source locality (`region/zone/*`).
    pub from: String,
    /// Destination locality to weight (sums to 100).
    pub to: BTreeMap<String, u32>,
}

/// Failover from one region to another.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Failover {
    /// Region that fails.
    pub from: String,
    /// Region that takes over.
    pub to: String,
}
