//! What meshgen does not manage, seen against what it does: live Istio objects of another
//! owner (written by hand, by another tool, or by another meshgen project) that Istio would
//! merge with, or prefer over, the desired objects. Each is a [`Finding`] with a code and
//! what to do; an object that touches nothing meshgen declares is never mentioned.
//!
//! The rules follow how Istio reads its configuration: ServiceEntries for one host and port
//! are merged; for sidecars, one VirtualService per host is used (the oldest); one
//! DestinationRule per host applies (the oldest); two WorkloadEntries for one address
//! select the workload twice; two Sidecars selecting the same workloads leave which one
//! applies undefined. Visibility follows `exportTo` (absent: every namespace).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use super::{Key, Object};

/// One conflict: the other owner's object and why it matters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Finding {
    /// Its code (`foreign-service-entry`, …).
    pub code: &'static str,
    /// The other owner's object.
    pub object: Key,
    /// What happens.
    pub message: String,
    /// What to do.
    pub help: String,
}

/// What to do with an object meshgen should own instead.
const TAKE_OVER: &str =
    "delete it, or describe it in the inventory so that meshgen owns it (`meshgen import` drafts that from its YAML)";

/// The findings, sorted by object and code. `desired` are the objects this build wants,
/// `managed` the live objects that are this project's (for their creation times), `foreign`
/// every other live object, and `project` this project's name (for objects another project
/// labelled).
pub fn find(desired: &[Object], managed: &[Object], foreign: &[Object], project: Option<&str>) -> Vec<Finding> {
    let created: BTreeMap<&Key, &str> =
        managed.iter().filter_map(|o| Some((&o.key, o.value["metadata"]["creationTimestamp"].as_str()?))).collect();
    let ours = Ours::of(desired);
    let mut out = Vec::new();
    for other in foreign {
        let spec = &other.value["spec"];
        let key = &other.key;
        let mut found = |code, message: String, help: &str| {
            out.push(Finding { code, object: key.clone(), message, help: help.to_string() })
        };
        let visible_to = |ns: &str| exported_to(other, ns);
        match key.kind.as_str() {
            "ServiceEntry" => {
                for (host, port, mine) in ours.entries(spec) {
                    if visible_to(&mine.namespace) {
                        found(
                            "foreign-service-entry",
                            format!(
                                "{key} also declares host `{host}` port {port}, like {mine}: Istio merges them, so its endpoints, resolution and addresses mix with meshgen's"
                            ),
                            TAKE_OVER,
                        );
                    }
                }
            }
            // For sidecars, one VirtualService per host is used, and one DestinationRule per
            // host applies: the oldest, in both cases.
            "VirtualService" | "DestinationRule" => {
                let (code, does, rule, claims) = if key.kind == "VirtualService" {
                    let claims = if routes_sidecars(spec) { ours.by_host("VirtualService", spec) } else { Vec::new() };
                    ("foreign-virtual-service", "routes", "sidecars use one VirtualService per host", claims)
                } else {
                    let host = spec["host"].as_str().unwrap_or_default();
                    let claims = ours.hosts.get(&("DestinationRule", host.to_string())).map(|mine| (host, *mine));
                    (
                        "foreign-destination-rule",
                        "sets the traffic policy of",
                        "one DestinationRule per host applies",
                        claims.into_iter().collect(),
                    )
                };
                for (host, mine) in claims.into_iter().filter(|(_, mine)| visible_to(&mine.namespace)) {
                    let winner = if older(other, created.get(mine).copied()) {
                        key.to_string()
                    } else {
                        format!("{mine} (meshgen's)")
                    };
                    found(
                        code,
                        format!("{key} also {does} host `{host}`, like {mine}: {rule}, the oldest, which is {winner}"),
                        TAKE_OVER,
                    );
                }
            }
            "WorkloadEntry" => {
                if let Some(mine) = spec["address"].as_str().and_then(|a| ours.addresses.get(a)) {
                    found(
                        "foreign-workload-entry",
                        format!(
                            "{key} has address `{}`, like {mine}: the workload is registered twice, with whatever labels each gives it",
                            spec["address"].as_str().unwrap_or_default()
                        ),
                        TAKE_OVER,
                    );
                }
            }
            "Sidecar" => {
                let selector = spec["workloadSelector"]["labels"].clone();
                if let Some(mine) = ours.sidecars.get(&(key.namespace.clone(), selector.to_string())) {
                    found(
                        "foreign-sidecar",
                        format!(
                            "{key} selects the same workloads as {mine}: with two Sidecars for one workload, which one applies is undefined"
                        ),
                        "delete it, or turn off meshgen's Sidecars for this namespace (`policy` in meshgen.yaml)",
                    );
                }
            }
            _ => {}
        }
    }
    for o in managed {
        let theirs = o.value["metadata"]["labels"][crate::compile::PROJECT_LABEL].as_str();
        if let Some(theirs) = theirs.filter(|t| Some(*t) != project)
            && ours.keys.contains(&o.key)
        {
            out.push(Finding {
                code: "owned-by-another-project",
                object: o.key.clone(),
                message: format!("{} is labelled as project `{theirs}`'s: applying this build takes it over", o.key),
                help: "two projects must not generate the same object: rename the entity in one of them".to_string(),
            });
        }
    }
    out.sort();
    out.dedup();
    out
}

/// What the desired objects claim: hosts and ports, addresses, Sidecar selectors.
#[derive(Default)]
struct Ours<'a> {
    /// (kind, host) → the object.
    hosts: BTreeMap<(&'a str, String), &'a Key>,
    /// ServiceEntry (host, port) → the object.
    entries: BTreeMap<(String, u64), &'a Key>,
    /// WorkloadEntry address → the object.
    addresses: BTreeMap<String, &'a Key>,
    /// (namespace, selector labels as JSON) → the Sidecar.
    sidecars: BTreeMap<(String, String), &'a Key>,
    /// Every desired object.
    keys: BTreeSet<Key>,
}

impl<'a> Ours<'a> {
    fn of(desired: &'a [Object]) -> Ours<'a> {
        let mut ours = Ours::default();
        for o in desired {
            let spec = &o.value["spec"];
            ours.keys.insert(o.key.clone());
            match o.key.kind.as_str() {
                "ServiceEntry" => {
                    for host in strings(&spec["hosts"]) {
                        for port in spec["ports"].as_array().into_iter().flatten().filter_map(|p| p["number"].as_u64())
                        {
                            ours.entries.insert((host.to_string(), port), &o.key);
                        }
                    }
                }
                "VirtualService" if routes_sidecars(spec) => {
                    for host in strings(&spec["hosts"]) {
                        ours.hosts.insert(("VirtualService", host.to_string()), &o.key);
                    }
                }
                "DestinationRule" => {
                    if let Some(host) = spec["host"].as_str() {
                        ours.hosts.insert(("DestinationRule", host.to_string()), &o.key);
                    }
                }
                "WorkloadEntry" => {
                    if let Some(a) = spec["address"].as_str() {
                        ours.addresses.insert(a.to_string(), &o.key);
                    }
                }
                "Sidecar" => {
                    let selector = spec["workloadSelector"]["labels"].to_string();
                    ours.sidecars.insert((o.key.namespace.clone(), selector), &o.key);
                }
                _ => {}
            }
        }
        ours
    }

    /// The (host, port, object) of ours that a ServiceEntry's hosts and ports also claim.
    fn entries<'s>(&self, spec: &'s Value) -> Vec<(&'s str, u64, &'a Key)> {
        let ports: Vec<u64> =
            spec["ports"].as_array().into_iter().flatten().filter_map(|p| p["number"].as_u64()).collect();
        strings(&spec["hosts"])
            .flat_map(|h| ports.iter().filter_map(move |p| Some((h, *p, *self.entries.get(&(h.to_string(), *p))?))))
            .collect()
    }

    /// The hosts of a spec's `hosts` that an object of ours of `kind` has, with that object.
    fn by_host<'s>(&self, kind: &'static str, spec: &'s Value) -> Vec<(&'s str, &'a Key)> {
        strings(&spec["hosts"]).filter_map(|h| Some((h, *self.hosts.get(&(kind, h.to_string()))?))).collect()
    }
}

fn strings(v: &Value) -> impl Iterator<Item = &str> {
    v.as_array().into_iter().flatten().filter_map(Value::as_str)
}

/// Whether a VirtualService applies to sidecars: no `gateways`, or `mesh` among them.
fn routes_sidecars(spec: &Value) -> bool {
    spec["gateways"].as_array().is_none_or(|g| g.is_empty() || g.iter().any(|g| g == "mesh"))
}

/// Whether `other` is visible in `namespace` (`exportTo` absent: everywhere).
fn exported_to(other: &Object, namespace: &str) -> bool {
    let Some(to) = other.value["spec"]["exportTo"].as_array() else { return true };
    to.iter()
        .filter_map(Value::as_str)
        .any(|e| e == "*" || e == namespace || (e == "." && other.key.namespace == namespace))
}

/// Whether `other` is older than meshgen's object (created at `ours`, or not yet created).
/// RFC 3339 times in UTC compare as strings.
fn older(other: &Object, ours: Option<&str>) -> bool {
    match (other.value["metadata"]["creationTimestamp"].as_str(), ours) {
        (Some(theirs), Some(ours)) => theirs < ours,
        _ => true,
    }
}
