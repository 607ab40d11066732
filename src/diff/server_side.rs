//! `--server-side`: which desired objects need the API server's opinion, and how its
//! dry-run answers become the desired side of the comparison.
//!
//! A dry-run server-side apply shows what the API server would store (defaults, admission),
//! but only as the field manager it is sent as: an apply removes the fields *its manager*
//! applied before and no longer applies. Sent as a manager that never applied the object
//! (meshgen, when Argo CD or kubectl does the real syncs), it removes nothing, and a field
//! dropped from the inventory would survive the dry run while the next real sync deletes it.
//! So each answer is checked against who applied the live object:
//! - the manager has an `Apply` entry in `managedFields`: the dry run is exact;
//! - the object carries kubectl's `last-applied-configuration` (client-side apply, Argo CD's
//!   default): the fields that annotation lists and the inventory no longer has are removed
//!   from the answer, as kubectl's three-way merge would remove them;
//! - other managers applied it (server-side): the fields their `managedFields` entries own
//!   and the inventory no longer has are removed from the answer, as their next apply would
//!   remove them, and the caller names those managers, since `--field-manager` with the
//!   right one gives the API server's own answer;
//! - nobody applied it (created or edited only): no apply removes what it never applied,
//!   and the dry run is exact again. Fields the API server defaults are never in
//!   `managedFields`, so none of this shows a default as a removal.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{Key, LAST_APPLIED, Normalizer, Object, Plan};

/// The API server's answer to one dry run.
#[derive(Debug, Clone, PartialEq)]
pub enum Evaluated {
    /// What it would store, and the fields another manager owns with another value (field,
    /// the server's message).
    Applied {
        /// The object.
        object: Value,
        /// The conflicts.
        conflicts: Vec<(String, String)>,
    },
    /// The namespace does not exist yet.
    NoNamespace,
}

/// The indices of the desired objects that are missing on the live side or differ from it:
/// the others would not change, and need no dry run.
pub fn to_evaluate(desired: &[Object], live: &[Object], normalizer: &Normalizer) -> Vec<usize> {
    let live: BTreeMap<&Key, &Object> = live.iter().map(|o| (&o.key, o)).collect();
    let normalized = |o: &Object| {
        let mut v = o.value.clone();
        normalizer.normalize(&mut v);
        v
    };
    (desired.iter().enumerate())
        .filter(|(_, want)| live.get(&want.key).is_none_or(|have| normalized(have) != normalized(want)))
        .map(|(i, _)| i)
        .collect()
}

/// The desired side after the dry runs, and what the report and the user must be told.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The desired objects, those evaluated replaced by the API server's answer.
    pub desired: Vec<Object>,
    /// Notes per object.
    pub notes: BTreeMap<Key, Vec<String>>,
    /// Conflicts per object, as printed.
    pub conflicts: BTreeMap<Key, Vec<String>>,
    /// Live objects other managers applied, whose removals were worked out from their
    /// `managedFields` (see the module comment).
    pub applied_by_others: Vec<Key>,
    /// Those managers (candidates for `--field-manager`).
    pub appliers: BTreeSet<String>,
}

/// Replaces each evaluated desired object by the API server's answer, corrected for the
/// removals the real applier would make.
pub fn merge(mut desired: Vec<Object>, live: &[Object], answers: Vec<(usize, Evaluated)>, manager: &str) -> Outcome {
    let live: BTreeMap<&Key, &Object> = live.iter().map(|o| (&o.key, o)).collect();
    let mut outcome = Outcome::default();
    for (i, answer) in answers {
        let want = &mut desired[i];
        match answer {
            Evaluated::NoNamespace => {
                outcome.notes.entry(want.key.clone()).or_default().push(format!(
                    "namespace `{}` does not exist yet, so the API server could not evaluate it: shown as rendered",
                    want.key.namespace
                ));
            }
            Evaluated::Applied { mut object, conflicts } => {
                if let Some(have) = live.get(&want.key) {
                    let md = &have.value["metadata"];
                    let entries = md["managedFields"].as_array().map(Vec::as_slice).unwrap_or_default();
                    let applied_by = |m: &Value| m["operation"] == "Apply" && m["manager"] == manager;
                    if !entries.iter().any(applied_by) {
                        let last = md["annotations"][LAST_APPLIED].as_str().and_then(|t| serde_json::from_str(t).ok());
                        let others: Vec<&Value> =
                            entries.iter().filter(|m| m["operation"] == "Apply").map(|m| &m["fieldsV1"]).collect();
                        if let Some(last) = last {
                            drop_removed(&last, &want.value, &mut object);
                        } else if !others.is_empty() {
                            drop_owned(&have.value, &want.value, &others, &mut object);
                            outcome.applied_by_others.push(want.key.clone());
                            outcome.appliers.extend(
                                (entries.iter())
                                    .filter(|m| m["operation"] == "Apply")
                                    .filter_map(|m| m["manager"].as_str().map(str::to_string)),
                            );
                        }
                    }
                }
                if !conflicts.is_empty() {
                    let printed = conflicts.into_iter().map(|(field, message)| format!("`{field}`: {message}"));
                    outcome.conflicts.entry(want.key.clone()).or_default().extend(printed);
                }
                want.value = object;
            }
        }
    }
    outcome.desired = desired;
    outcome
}

/// Removes from `applied` what `last` (the configuration last applied) set and `desired`
/// no longer does, map key by map key. kubectl's client-side apply patches custom
/// resources with a JSON merge patch (no strategic merge for them), which replaces a list
/// whole: a list the inventory still has is already the desired one.
fn drop_removed(last: &Value, desired: &Value, applied: &mut Value) {
    let (Value::Object(last), Some(applied)) = (last, applied.as_object_mut()) else { return };
    for (key, was) in last {
        match desired.get(key) {
            None => {
                applied.remove(key);
            }
            Some(now) => {
                if let Some(child) = applied.get_mut(key) {
                    drop_removed(was, now, child);
                }
            }
        }
    }
}

/// Removes from `applied` the fields of `live` that some manager's `fieldsV1` tree in
/// `owned` lists (`f:<key>`) and `desired` no longer has, map key by map key. Items of
/// keyed lists (`k:{…}`, e.g. a ServiceEntry's `ports`, a map keyed by `name` in Istio's
/// CRD) are not followed: an item the other manager would drop from a list the inventory
/// still has is not shown as removed, which is why the warning asks for `--field-manager`.
fn drop_owned(live: &Value, desired: &Value, owned: &[&Value], applied: &mut Value) {
    let (Value::Object(live), Some(applied)) = (live, applied.as_object_mut()) else { return };
    for (key, was) in live {
        let field = format!("f:{key}");
        let owned_below: Vec<&Value> = owned.iter().filter_map(|o| o.get(&field)).collect();
        if owned_below.is_empty() {
            continue;
        }
        match desired.get(key) {
            None => {
                applied.remove(key);
            }
            Some(now) => {
                if let Some(child) = applied.get_mut(key) {
                    drop_owned(was, now, &owned_below, child);
                }
            }
        }
    }
}

impl Outcome {
    /// Puts the notes and conflicts on the plan's changes. A conflict is a change even where
    /// the values would end up equal: the next apply fails on it unless forced.
    pub fn annotate(mut self, plan: &mut Plan) {
        for change in &mut plan.changes {
            if let Some(notes) = self.notes.remove(&change.key) {
                change.notes.extend(notes);
            }
            if let Some(conflicts) = self.conflicts.remove(&change.key) {
                change.conflicts.extend(conflicts);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(v: Value) -> Object {
        Object::from_value(v).unwrap()
    }

    fn se(spec: Value) -> Value {
        json!({"apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
               "metadata": {"name": "a", "namespace": "shop"}, "spec": spec})
    }

    #[test]
    fn only_differing_and_missing_objects_are_evaluated() {
        let mut live = se(json!({"hosts": ["a"]}));
        live["metadata"]["uid"] = json!("1234");
        let mut missing = se(json!({"hosts": ["a"]}));
        missing["metadata"]["name"] = json!("b");
        let desired = [se(json!({"hosts": ["a"]})), se(json!({"hosts": ["changed"]})), missing];
        let evaluate =
            |i: usize| to_evaluate(&[object(desired[i].clone())], &[object(live.clone())], &Normalizer::default());
        // Equal after normalising (the uid is the server's): no dry run.
        assert_eq!(evaluate(0), Vec::<usize>::new());
        assert_eq!(evaluate(1), [0]);
        assert_eq!(evaluate(2), [0]);
    }

    #[test]
    fn a_client_side_applied_object_loses_the_fields_the_inventory_dropped() {
        let last = se(json!({"hosts": ["a"], "location": "MESH_EXTERNAL", "ports": [{"number": 1}]}));
        let mut live =
            se(json!({"hosts": ["a"], "location": "MESH_EXTERNAL", "ports": [{"number": 1}], "resolution": "NONE"}));
        live["metadata"]["annotations"] = json!({LAST_APPLIED: last.to_string()});
        live["metadata"]["managedFields"] = json!([{"manager": "kubectl-client-side-apply", "operation": "Update"}]);
        let want = se(json!({"hosts": ["a"], "ports": [{"number": 1}]}));
        // The dry run as a manager that owns nothing keeps `location`; the default stays.
        let answer =
            se(json!({"hosts": ["a"], "location": "MESH_EXTERNAL", "ports": [{"number": 1}], "resolution": "NONE"}));
        let outcome = merge(
            vec![object(want)],
            &[object(live)],
            vec![(0, Evaluated::Applied { object: answer, conflicts: vec![] })],
            "meshgen",
        );
        assert_eq!(
            outcome.desired[0].value["spec"],
            json!({"hosts": ["a"], "ports": [{"number": 1}], "resolution": "NONE"})
        );
        assert!(outcome.applied_by_others.is_empty());
    }

    #[test]
    fn an_object_the_manager_applied_is_taken_as_answered() {
        let mut live = se(json!({"hosts": ["a"], "location": "MESH_EXTERNAL"}));
        live["metadata"]["managedFields"] = json!([{"manager": "argocd-controller", "operation": "Apply",
            "fieldsV1": {"f:spec": {"f:hosts": {}, "f:location": {}}}}]);
        let answer = se(json!({"hosts": ["a"], "location": "MESH_EXTERNAL", "resolution": "NONE"}));
        let run = |manager| {
            merge(
                vec![object(se(json!({"hosts": ["a"]})))],
                &[object(live.clone())],
                vec![(0, Evaluated::Applied { object: answer.clone(), conflicts: vec![] })],
                manager,
            )
        };
        let exact = run("argocd-controller");
        assert!(exact.applied_by_others.is_empty());
        assert_eq!(exact.desired[0].value, answer);
        // Sent as another manager: what argocd-controller applied and the inventory dropped
        // goes; the default (owned by nobody) stays.
        let other = run("meshgen");
        assert_eq!(other.applied_by_others.len(), 1);
        assert_eq!(other.appliers.iter().collect::<Vec<_>>(), ["argocd-controller"]);
        assert_eq!(other.desired[0].value["spec"], json!({"hosts": ["a"], "resolution": "NONE"}));
    }

    #[test]
    fn an_object_nobody_applied_is_taken_as_answered() {
        let mut live = se(json!({"hosts": ["a"], "location": "MESH_EXTERNAL"}));
        live["metadata"]["managedFields"] = json!([{"manager": "kubectl-create", "operation": "Update",
            "fieldsV1": {"f:spec": {"f:hosts": {}, "f:location": {}}}}]);
        let answer = se(json!({"hosts": ["a"], "location": "MESH_EXTERNAL"}));
        let outcome = merge(
            vec![object(se(json!({"hosts": ["a"]})))],
            &[object(live)],
            vec![(0, Evaluated::Applied { object: answer.clone(), conflicts: vec![] })],
            "meshgen",
        );
        assert!(outcome.applied_by_others.is_empty());
        assert_eq!(outcome.desired[0].value, answer);
    }

    #[test]
    fn conflicts_and_missing_namespaces_become_notes_on_the_changes() {
        let want = object(se(json!({"hosts": ["a"]})));
        let mut other = se(json!({"hosts": ["a"]}));
        other["metadata"]["namespace"] = json!("new");
        let outcome = merge(
            vec![want.clone(), object(other)],
            &[],
            vec![
                (
                    0,
                    Evaluated::Applied {
                        object: want.value.clone(),
                        conflicts: vec![(".spec.hosts".into(), "conflict with \"kubectl-edit\"".into())],
                    },
                ),
                (1, Evaluated::NoNamespace),
            ],
            "meshgen",
        );
        let mut plan = super::super::compare(outcome.desired.clone(), vec![], &Normalizer::default());
        outcome.annotate(&mut plan);
        let [created_in_new, conflicted] = &plan.changes[..] else { panic!("{:?}", plan.changes) };
        assert_eq!(conflicted.conflicts, ["`.spec.hosts`: conflict with \"kubectl-edit\""]);
        assert!(conflicted.notes.is_empty());
        assert!(created_in_new.notes[0].starts_with("namespace `new` does not exist yet"), "{created_in_new:?}");
    }
}
