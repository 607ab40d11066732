//! What meshgen does not manage, seen against what it does: live Istio objects of another
//! owner (written by hand, by another tool, or by another meshgen project) that Istio would
//! merge with, or prefer over, the desired objects. Each is a [`Finding`] with a code and
//! what to do; an object that touches nothing meshgen declares is never mentioned.
//!
//! The rules follow how Istio reads its configuration (istio-rules and the upstream issues
//! cited there): a sidecar's scope holds one service per host, so two ServiceEntries for
//! one host, on any port, are a conflict Istio resolves by merging or by choosing one,
//! depending on namespaces and `exportTo`; two VirtualServices for one host in the mesh are
//! undefined (`istioctl analyze` IST0109), and in practice the oldest one's routes win;
//! DestinationRules for one host in one namespace are merged (subsets concatenated, only the
//! oldest one's top-level `trafficPolicy` kept), and across namespaces a client takes its own
//! namespace's first, then the service's; two WorkloadEntries for one address register the
//! workload twice; two Sidecars selecting the same workloads leave which one applies
//! undefined (IST0110). Visibility follows `exportTo` (absent: every namespace).

use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::Serialize;
use serde_json::Value;

use super::live::LiveObject;
use super::{Key, Object};

/// One conflict: the other owner's object and why it matters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Finding {
    /// Its code (`foreign-service-entry`, …).
    pub code: &'static str,
    /// The other owner's object.
    pub object: Key,
    /// The desired object it meets (for `owned-by-another-project`, the same object).
    pub ours: Key,
    /// What happens.
    pub message: String,
    /// What to do.
    pub help: String,
}

/// What to do with an object meshgen should own instead.
const TAKE_OVER: &str =
    "delete it, or describe it in the inventory so that meshgen owns it (`meshgen import` drafts that from its YAML)";

/// The findings, sorted by object and code. `ours` is what the objects this build wants
/// claim, `managed` the live objects that are this project's (for their creation times and
/// project labels), `foreign` every other live object, and `project` this project's name
/// (for objects another project labelled). Fails on a live object that cannot be read.
pub fn find(
    ours: &Claims,
    managed: &[LiveObject],
    foreign: &[LiveObject],
    project: Option<&str>,
) -> Result<Vec<Finding>, String> {
    // Read from the live objects' text only when a finding names the older of two objects.
    let created: OnceCell<HashMap<&Key, Cow<'_, str>>> = OnceCell::new();
    let created = || {
        created.get_or_init(|| {
            managed.iter().filter_map(|o| Some((&o.key, o.metadata_str(&["creationTimestamp"])?))).collect()
        })
    };
    let mut out = Vec::new();
    for other in foreign {
        let other = &other.object()?;
        let spec = &other.value["spec"];
        let key = &other.key;
        let mut found = |code, mine: &Key, message: String, help: &str| {
            out.push(Finding { code, object: key.clone(), ours: mine.clone(), message, help: help.to_string() })
        };
        // Both seen from some namespace (as `istioctl analyze` compares exportTo scopes).
        let shares_scope = |mine: &Key| ours.scopes.get(mine).is_some_and(|m| overlap(m, &scope(other)));
        let winner = |mine: &Key| winner(other, mine, created());
        match key.kind.as_str() {
            "ServiceEntry" => {
                for (host, ports, mine) in ours.entries(spec) {
                    if shares_scope(mine) {
                        let ports = match ports.as_slice() {
                            [] => String::new(),
                            [p] => format!(" port {p}"),
                            many => {
                                format!(" ports {}", many.iter().map(u64::to_string).collect::<Vec<_>>().join(", "))
                            }
                        };
                        found(
                            "foreign-service-entry",
                            mine,
                            format!(
                                "{key} also declares host `{host}`{ports}, like {mine}: a sidecar holds one service per host, so Istio merges the two or uses one of them (depending on their namespaces and exportTo), and the host's ports, resolution and endpoints may not be meshgen's"
                            ),
                            TAKE_OVER,
                        );
                    }
                }
            }
            "VirtualService" if routes_sidecars(spec) => {
                for (host, mine) in ours.by_host("VirtualService", spec) {
                    if shares_scope(mine) {
                        found(
                            "foreign-virtual-service",
                            mine,
                            format!(
                                "{key} also routes host `{host}` for sidecars, like {mine}: two mesh VirtualServices for one host are undefined in Istio (istioctl analyze IST0109), and sidecars keep one's routes, in practice the oldest's, which is {}",
                                winner(mine)
                            ),
                            TAKE_OVER,
                        );
                    }
                }
            }
            "DestinationRule" => {
                let host = spec["host"].as_str().unwrap_or_default();
                let mine = ours.hosts.get(&("DestinationRule", host.to_string()));
                // A client takes its own namespace's rule first, whatever its exportTo: a rule
                // in another namespace matters to that namespace's clients where they see the
                // host; one in meshgen's namespace is merged with meshgen's where their scopes
                // meet.
                let reaches = |mine: &Key| {
                    ours.scopes.get(mine).is_some_and(|m| m.as_ref().is_none_or(|s| s.contains(&key.namespace)))
                };
                if let Some(mine) =
                    mine.filter(|mine| if key.namespace == mine.namespace { shares_scope(mine) } else { reaches(mine) })
                {
                    let effect = if key.namespace == mine.namespace {
                        format!(
                            "Istio merges the DestinationRules of one host in one namespace: subsets are concatenated and only the oldest one's top-level `trafficPolicy` applies, which is {}'s",
                            winner(mine)
                        )
                    } else {
                        format!(
                            "a client takes the DestinationRule of its own namespace first, then the service's namespace's, so clients in namespace `{}` get this one instead of meshgen's",
                            key.namespace
                        )
                    };
                    found(
                        "foreign-destination-rule",
                        mine,
                        format!("{key} also sets the traffic policy of host `{host}`, like {mine}: {effect}"),
                        TAKE_OVER,
                    );
                }
            }
            "WorkloadEntry" => {
                if let Some(mine) = spec["address"].as_str().and_then(|a| ours.addresses.get(a)) {
                    found(
                        "foreign-workload-entry",
                        mine,
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
                        mine,
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
    for o in managed.iter().filter(|o| ours.keys.contains(&o.key)) {
        let theirs = o.metadata_str(&["labels", crate::compile::PROJECT_LABEL]);
        if let Some(theirs) = theirs.filter(|t| Some(&**t) != project) {
            out.push(Finding {
                code: "owned-by-another-project",
                object: o.key.clone(),
                ours: o.key.clone(),
                message: format!("{} is labelled as project `{theirs}`'s: applying this build takes it over", o.key),
                help: "two projects must not generate the same object: rename the entity in one of them".to_string(),
            });
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// What the desired objects claim: hosts and ports, addresses, Sidecar selectors. Built
/// one object at a time ([`Claims::add`]), so that the desired objects need not be held.
#[derive(Debug, Default)]
pub struct Claims {
    /// (kind, host) → the object.
    hosts: BTreeMap<(&'static str, String), Key>,
    /// ServiceEntry host → the object and its port numbers.
    entries: BTreeMap<String, (Key, Vec<u64>)>,
    /// WorkloadEntry address → the object.
    addresses: BTreeMap<String, Key>,
    /// (namespace, selector labels as JSON) → the Sidecar.
    sidecars: BTreeMap<(String, String), Key>,
    /// Every desired object.
    keys: HashSet<Key>,
    /// Where each desired object that may claim a host is seen from (its `exportTo`).
    scopes: HashMap<Key, Scope>,
}

impl Claims {
    /// The claims of `desired`.
    pub fn of<'a>(desired: impl IntoIterator<Item = &'a Object>) -> Claims {
        let mut claims = Claims::default();
        desired.into_iter().for_each(|o| claims.add(o));
        claims
    }

    /// Adds what one desired object claims.
    pub fn add(&mut self, o: &Object) {
        let spec = &o.value["spec"];
        self.keys.insert(o.key.clone());
        let kind = o.key.kind.as_str();
        // Only these kinds' objects are ever compared by scope (the hosts they claim).
        if matches!(kind, "ServiceEntry" | "VirtualService" | "DestinationRule") {
            self.scopes.insert(o.key.clone(), scope(o));
        }
        match kind {
            "ServiceEntry" => {
                for host in strings(&spec["hosts"]) {
                    self.entries.insert(host.to_string(), (o.key.clone(), port_numbers(spec)));
                }
            }
            "VirtualService" if routes_sidecars(spec) => {
                for host in strings(&spec["hosts"]) {
                    self.hosts.insert(("VirtualService", host.to_string()), o.key.clone());
                }
            }
            "DestinationRule" => {
                if let Some(host) = spec["host"].as_str() {
                    self.hosts.insert(("DestinationRule", host.to_string()), o.key.clone());
                }
            }
            "WorkloadEntry" => {
                if let Some(a) = spec["address"].as_str() {
                    self.addresses.insert(a.to_string(), o.key.clone());
                }
            }
            "Sidecar" => {
                let selector = spec["workloadSelector"]["labels"].to_string();
                self.sidecars.insert((o.key.namespace.clone(), selector), o.key.clone());
            }
            _ => {}
        }
    }

    /// The (host, shared port numbers, object) of ours that a ServiceEntry's hosts also claim.
    fn entries<'s>(&self, spec: &'s Value) -> Vec<(&'s str, Vec<u64>, &Key)> {
        let theirs = port_numbers(spec);
        strings(&spec["hosts"])
            .filter_map(|h| {
                let (mine, ports) = self.entries.get(h)?;
                Some((h, ports.iter().copied().filter(|p| theirs.contains(p)).collect(), mine))
            })
            .collect()
    }

    /// The hosts of a spec's `hosts` that an object of ours of `kind` has, with that object.
    fn by_host<'s>(&self, kind: &'static str, spec: &'s Value) -> Vec<(&'s str, &Key)> {
        strings(&spec["hosts"]).filter_map(|h| Some((h, self.hosts.get(&(kind, h.to_string()))?))).collect()
    }
}

fn strings(v: &Value) -> impl Iterator<Item = &str> {
    v.as_array().into_iter().flatten().filter_map(Value::as_str)
}

/// Whether a VirtualService applies to sidecars: no `gateways`, or `mesh` among them.
fn routes_sidecars(spec: &Value) -> bool {
    spec["gateways"].as_array().is_none_or(|g| g.is_empty() || g.iter().any(|g| g == "mesh"))
}

/// The namespaces an object is seen from: every one (`None`: no `exportTo`, or `*`), or
/// these (`.` read as its own namespace; `~`, exported nowhere, gives none).
type Scope = Option<BTreeSet<String>>;

fn scope(o: &Object) -> Scope {
    let to = o.value["spec"]["exportTo"].as_array()?;
    let mut out = BTreeSet::new();
    for e in to.iter().filter_map(Value::as_str) {
        match e {
            "*" => return None,
            "." => {
                out.insert(o.key.namespace.clone());
            }
            "~" => {}
            ns => {
                out.insert(ns.to_string());
            }
        }
    }
    Some(out)
}

/// Whether two scopes share a namespace.
fn overlap(a: &Scope, b: &Scope) -> bool {
    match (a, b) {
        (None, None) => true,
        (None, Some(s)) | (Some(s), None) => !s.is_empty(),
        (Some(x), Some(y)) => !x.is_disjoint(y),
    }
}

/// The older of `other` and meshgen's `mine` (not created yet: `other`), as named in a
/// finding. RFC 3339 times in UTC compare as strings.
fn winner(other: &Object, mine: &Key, created: &HashMap<&Key, Cow<'_, str>>) -> String {
    let older = match (other.value["metadata"]["creationTimestamp"].as_str(), created.get(mine)) {
        (Some(theirs), Some(ours)) => theirs < &**ours,
        _ => true,
    };
    if older { other.key.to_string() } else { format!("{mine} (meshgen's)") }
}

/// The port numbers of a ServiceEntry.
fn port_numbers(spec: &Value) -> Vec<u64> {
    spec["ports"].as_array().into_iter().flatten().filter_map(|p| p["number"].as_u64()).collect()
}
