//! The proof of a draft: compile it, compare what it builds with the objects it came from,
//! and keep every difference the language cannot say as a `patch` on the entity, or in the
//! report when a patch cannot say it either.
//!
//! "Equal" is what `meshgen diff` and the seed examples compare ([`comparable`]): the `spec`
//! with set-like lists sorted, and the labels and annotations other tools and meshgen itself
//! do not own; the API version aside.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Map, Value, json};

use super::read::Object;
use super::{NoteKind, Project, Report};
use crate::compile::{Goal, Options, Rendered, compile};
use crate::diag::Severity;
use crate::fieldpath::FieldPath;

/// Rounds of fixing the draft before giving up: each drops what one compile refused.
const ROUNDS: usize = 8;

/// Lists whose order Istio ignores, sorted as text before comparing.
const SETS: &[&str] = &["hosts", "addresses", "exportTo", "subjectAltNames", "sniHosts", "gateways"];

/// Label and annotation keys that are meshgen's (those other tools write are
/// `diff::FOREIGN_KEYS`, which `meshgen diff` ignores too): neither is the object's own.
const MESHGEN_KEYS: &[&str] = &["app.kubernetes.io/managed-by", "meshgen.dev/", "applyset.kubernetes.io/"];

/// What of an object a round trip must keep: its `spec` with set-like lists sorted (and a
/// ServiceEntry's unset `location` read as Istio's default), and its own labels and
/// annotations.
pub fn comparable(doc: &Value) -> Value {
    let mut spec = doc.get("spec").cloned().unwrap_or_else(|| json!({}));
    if doc["kind"].as_str() == Some("ServiceEntry")
        && let Value::Object(m) = &mut spec
    {
        m.entry("location").or_insert_with(|| "MESH_EXTERNAL".into());
    }
    normalise(&mut spec);
    let mut out = Map::new();
    out.insert("spec".into(), spec);
    for key in ["labels", "annotations"] {
        out.insert(key.into(), Value::Object(own(doc, key)));
    }
    Value::Object(out)
}

/// The object's labels or annotations that are its own.
fn own(doc: &Value, key: &str) -> Map<String, Value> {
    let mut m = doc.get("metadata").and_then(|m| m.get(key)).and_then(Value::as_object).cloned().unwrap_or_default();
    m.retain(|k, _| !MESHGEN_KEYS.iter().chain(crate::diff::FOREIGN_KEYS).any(|p| k.starts_with(p)));
    m
}

fn normalise(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, v| !v.is_null());
            for (k, x) in m.iter_mut() {
                normalise(x);
                let (key, Value::Array(items)) = (k.as_str(), x) else { continue };
                match key {
                    k if SETS.contains(&k) => items.sort_by_key(crate::yaml::to_string),
                    "endpoints" => items.sort_by_key(|e| crate::yaml::to_string(&e["address"])),
                    "ports" => items.sort_by_key(|p| p["number"].as_u64()),
                    _ => {}
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalise),
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|f| n.is_f64() && f.fract() == 0.0 && f.abs() < 9.0e15) {
                *v = Value::from(f as i64);
            }
        }
        _ => {}
    }
}

/// One object the draft built: its document and the entity it belongs to.
struct Built {
    key: String,
    value: Value,
    entity: String,
}

/// Compiles the draft, drops what it refuses, patches what it builds otherwise, and reports
/// what remains.
pub(crate) fn verify(project: &mut Project, objects: &[Object], report: &mut Report) -> anyhow::Result<()> {
    let scratch = Scratch::new()?;
    let Some(mut built) = build_fixing(project, &scratch, report, false)? else { return Ok(()) };
    // Patches for every difference, per object.
    let mut patched: Vec<(String, Vec<String>)> = Vec::new();
    for o in objects {
        let Some(b) = built.iter().find(|b| b.key == o.key()) else { continue };
        let (want, have) = (comparable(&o.value), comparable(&b.value));
        if want == have {
            continue;
        }
        let mut paths = Vec::new();
        crate::diff::changed_paths(&have, &want, &mut FieldPath::new(), &mut paths);
        let mut merge = Map::new();
        if want["spec"] != have["spec"] {
            merge.insert("spec".into(), merge_patch(b.value.get("spec").unwrap_or(&json!({})), &o.value["spec"]));
        }
        let mut meta = Map::new();
        for key in ["labels", "annotations"] {
            let m: Map<String, Value> =
                own(&o.value, key).into_iter().filter(|(k, v)| b.value["metadata"][key].get(k) != Some(v)).collect();
            if !m.is_empty() {
                meta.insert(key.into(), Value::Object(m));
            }
        }
        if !meta.is_empty() {
            merge.insert("metadata".into(), Value::Object(meta));
        }
        let Some(entity) = project.entity_mut(&b.entity) else { continue };
        let patches = entity.entry("patches").or_insert_with(|| json!([]));
        if let Value::Array(list) = patches {
            list.push(json!({"target": {"kind": o.kind, "name": o.name}, "merge": Value::Object(merge)}));
        }
        patched.push((o.key(), paths));
    }
    if !patched.is_empty() {
        built = build_fixing(project, &scratch, report, true)?.unwrap_or_default();
    }
    for o in objects {
        let Some(b) = built.iter().find(|b| b.key == o.key()) else {
            if !report.notes.iter().any(|n| n.at == o.key() && n.kind == NoteKind::Refused) {
                report.note(NoteKind::Differs, o.key(), "the draft does not build it");
            }
            continue;
        };
        let (want, have) = (comparable(&o.value), comparable(&b.value));
        if want != have {
            let mut paths = Vec::new();
            crate::diff::changed_paths(&have, &want, &mut FieldPath::new(), &mut paths);
            report.note(NoteKind::Differs, o.key(), format!("built with other values at {}", paths.join(", ")));
        } else if let Some((_, paths)) = patched.iter().find(|(k, _)| *k == o.key()) {
            report.note(NoteKind::Patched, o.key(), format!("{} (patch of `{}`)", paths.join(", "), b.entity));
        }
    }
    for b in &built {
        if !objects.iter().any(|o| o.key() == b.key) {
            report.note(NoteKind::Added, &b.key, format!("built for `{}`; the input had no such object", b.entity));
        }
    }
    Ok(())
}

/// An RFC 7386 merge patch that turns `from` into `to`.
fn merge_patch(from: &Value, to: &Value) -> Value {
    match (from, to) {
        (Value::Object(a), Value::Object(b)) => {
            let mut out = Map::new();
            for (k, v) in b {
                match a.get(k) {
                    Some(old) if old == v => {}
                    Some(old) => {
                        out.insert(k.clone(), merge_patch(old, v));
                    }
                    None => {
                        out.insert(k.clone(), v.clone());
                    }
                }
            }
            for k in a.keys().filter(|k| !b.contains_key(*k)) {
                out.insert(k.clone(), Value::Null);
            }
            Value::Object(out)
        }
        _ => to.clone(),
    }
}

/// Compiles the draft, dropping what each compile refuses (a field, a patch, an entity), up
/// to [`ROUNDS`] times; the objects built, or `None` (reported) when it still fails.
fn build_fixing(
    project: &mut Project,
    scratch: &Scratch,
    report: &mut Report,
    patches: bool,
) -> anyhow::Result<Option<Vec<Built>>> {
    for _ in 0..ROUNDS {
        scratch.write(project)?;
        let compiled = compile(&Options { goal: Goal::Manifests, ..Options::new(&scratch.dir) })?;
        if !compiled.diags.has_errors() {
            let mut out = Vec::new();
            if let Some(Rendered::Manifests(ms)) = &compiled.rendered {
                for m in ms {
                    let value: Value = crate::yaml::from_str(&m.text).unwrap_or_default();
                    let key = format!("{} {}/{}", m.kind.as_str(), m.namespace, m.name);
                    out.push(Built { key, value, entity: m.entity.to_string() });
                }
            }
            return Ok(Some(out));
        }
        let errors: Vec<_> = compiled.diags.sorted().into_iter().filter(|d| d.severity == Severity::Error).collect();
        let mut fixed = false;
        for d in &errors {
            let parts: Vec<&str> = d.origin.path.split('.').collect();
            let (Some(_), Some(entity)) =
                (parts.first().filter(|p| matches!(**p, "services" | "externals")), parts.get(1))
            else {
                continue;
            };
            let entity = entity.split('[').next().unwrap_or(entity).to_string();
            let field = parts.get(2).map(|f| f.split('[').next().unwrap_or(f).to_string());
            let message = format!("{} ({})", d.message, d.code);
            let Some(body) = project.entity_mut(&entity) else { continue };
            match field.as_deref() {
                Some("patches") if patches => {
                    let index =
                        parts[2].split_once('[').and_then(|(_, i)| i.trim_end_matches(']').parse::<usize>().ok());
                    if let (Some(i), Some(Value::Array(list))) = (index, body.get_mut("patches"))
                        && i < list.len()
                    {
                        let p = list.remove(i);
                        report.note(
                            NoteKind::Differs,
                            format!(
                                "{} {}",
                                p["target"]["kind"].as_str().unwrap_or(""),
                                p["target"]["name"].as_str().unwrap_or("")
                            ),
                            format!("meshgen refuses the patch that would keep its values: {message}"),
                        );
                        if list.is_empty() {
                            body.remove("patches");
                        }
                        fixed = true;
                    }
                }
                Some(f) if f != "ports" && body.remove(f).is_some() => {
                    report.note(
                        NoteKind::Differs,
                        format!("{entity}.{f}"),
                        format!("left out of the draft: {message}"),
                    );
                    fixed = true;
                }
                _ => {
                    if project.remove_entity(&entity) {
                        report.note(NoteKind::Differs, entity, format!("left out of the draft: {message}"));
                        fixed = true;
                    }
                }
            }
            if fixed {
                break;
            }
        }
        if !fixed {
            let first = errors.first().map(|d| format!("{}: {}", d.origin.path, d.message));
            report.note(NoteKind::Differs, "the draft", format!("does not build: {}", first.unwrap_or_default()));
            return Ok(None);
        }
    }
    report.note(NoteKind::Differs, "the draft", "does not build after leaving out what meshgen refused");
    Ok(None)
}

/// A scratch project directory under the system's temporary directory, removed on drop.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn new() -> anyhow::Result<Scratch> {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("meshgen-import-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(Scratch { dir })
    }

    fn write(&self, project: &Project) -> anyhow::Result<()> {
        let inventory = self.dir.join("inventory");
        let _ = std::fs::remove_dir_all(&inventory);
        std::fs::create_dir_all(&inventory)?;
        for (path, text) in project.files() {
            write_file(&self.dir.join(path), &text)?;
        }
        Ok(())
    }
}

fn write_file(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).map_err(|e| anyhow::anyhow!("cannot write the scratch copy `{}`: {e}", path.display()))
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
