//! "Valid, but not what you meant" in rendered objects: shapes that Istio accepts and then
//! applies differently from how they read. The built-in templates cannot produce them (the
//! layout of `traffic_policy` rules them out, and the tests run this over every fixture);
//! output of user-overridden templates is checked with it before anything is written.

use serde_json::Value;

/// The DestinationRule fields a `portLevelSettings` entry replaces without inheriting.
const PORT_LEVEL: [&str; 4] = ["connectionPool", "outlierDetection", "loadBalancer", "tls"];

/// Fields a subset replaces whole, which meshgen merges field by field before writing; the
/// other two (`loadBalancer`, `tls`) are replaced whole in the inventory too.
const MERGED_IN_SUBSETS: [&str; 2] = ["connectionPool", "outlierDetection"];

/// What a DestinationRule `spec` makes Istio do that its top level does not say: a port
/// entry that drops a destination-level field (the port gets Istio's default for it), or a
/// subset policy that replaces part of one (it loses the rest). Empty when there is none.
pub fn destination_rule(spec: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let top = &spec["trafficPolicy"];
    check_policy(top, "trafficPolicy", &mut out);
    for (i, s) in spec["subsets"].as_array().into_iter().flatten().enumerate() {
        let own = &s["trafficPolicy"];
        if own.is_null() {
            continue;
        }
        let at = format!("subsets[{i}].trafficPolicy");
        for f in MERGED_IN_SUBSETS {
            for missing in missing_leaves(&top[f], &own[f]) {
                out.push(format!("`{at}.{f}` replaces the destination's whole, dropping `{f}.{missing}`"));
            }
        }
        check_policy(own, &at, &mut out);
    }
    out
}

/// Port entries of one policy that drop a field of its own level.
fn check_policy(policy: &Value, at: &str, out: &mut Vec<String>) {
    for (i, entry) in policy["portLevelSettings"].as_array().into_iter().flatten().enumerate() {
        let port = entry["port"]["number"].as_u64().unwrap_or_default();
        for f in PORT_LEVEL {
            if !policy[f].is_null() && entry[f].is_null() {
                out.push(format!(
                    "`{at}.portLevelSettings[{i}]` (port {port}) has no `{f}`: Istio gives the port its default instead of the destination's"
                ));
            }
        }
    }
}

/// The leaf paths of `base` that `over` (a mapping that replaces it whole) lacks; none when
/// `over` does not set the field at all (then it is inherited).
fn missing_leaves(base: &Value, over: &Value) -> Vec<String> {
    let (Value::Object(b), Value::Object(o)) = (base, over) else { return Vec::new() };
    let mut out = Vec::new();
    for (key, v) in b {
        match o.get(key) {
            None => out.push(key.to_string()),
            Some(ov) => out.extend(missing_leaves(v, ov).into_iter().map(|m| format!("{key}.{m}"))),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> Value {
        crate::yaml::from_str(yaml).expect("test YAML")
    }

    #[test]
    fn a_port_entry_without_the_destinations_ejection_is_reported() {
        let s = spec(
            "trafficPolicy:\n  outlierDetection: {consecutive5xxErrors: 5}\n  portLevelSettings:\n  - port: {number: 80}\n    tls: {mode: SIMPLE}\n",
        );
        assert_eq!(
            destination_rule(&s),
            [
                "`trafficPolicy.portLevelSettings[0]` (port 80) has no `outlierDetection`: Istio gives the port its default instead of the destination's"
            ]
        );
    }

    #[test]
    fn a_subset_replacing_part_of_the_pool_is_reported_and_a_complete_one_is_not() {
        let partial = spec(
            "trafficPolicy:\n  connectionPool: {tcp: {maxConnections: 100}}\nsubsets:\n- name: v2\n  trafficPolicy:\n    connectionPool: {http: {http1MaxPendingRequests: 1}}\n",
        );
        assert_eq!(
            destination_rule(&partial),
            [
                "`subsets[0].trafficPolicy.connectionPool` replaces the destination's whole, dropping `connectionPool.tcp`"
            ]
        );
        let complete = spec(
            "trafficPolicy:\n  connectionPool: {tcp: {maxConnections: 100}}\nsubsets:\n- name: v2\n  trafficPolicy:\n    connectionPool: {tcp: {maxConnections: 100}, http: {http1MaxPendingRequests: 1}}\n",
        );
        assert!(destination_rule(&complete).is_empty());
    }
}
