//! Validation of Kubernetes objects against CustomResourceDefinitions, offline.
//!
//! [`CrdSet`] loads CRDs (for instance those of the cluster's Istio release, `build --crds`:
//! a directory of files, Istio's single `crd-all.gen.yaml`, or what `kubectl get crd -o yaml`
//! prints) and checks objects the way the API server would on create, with strict field validation:
//!
//! * `apiVersion`/`kind` must name a served version of a loaded CRD;
//! * `metadata` gets the API server's basic checks (name, namespace, labels, annotations);
//! * everything else is checked against the version's OpenAPI v3 structural schema: undeclared
//!   fields, types (`integer` accepts `3.0` but not `1.5`), `x-kubernetes-int-or-string`,
//!   formats, enums, patterns (RE2 semantics), lengths, ranges, `required`, `nullable`,
//!   list-type uniqueness and `allOf`/`anyOf`/`oneOf`/`not`;
//! * then the CEL rules of `x-kubernetes-validations`.
//!
//! Anything in a CRD that the validator cannot enforce exactly (an unknown keyword or format,
//! `default`, a rule using a CEL feature outside the implemented subset, `messageExpression`,
//! …) makes loading fail; nothing is silently ignored. The one deliberate omission is
//! `status` when the CRD enables the status subresource: the API server discards it on
//! create, so it is not validated either.

mod cel;
mod meta;
mod schema;
mod validate;

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

use schema::Schema;

/// One problem found in an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Where the problem is, as a Kubernetes field path (`spec.hosts[0]`,
    /// `spec.workloadSelector.labels[app]`); empty for the object as a whole.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() { f.write_str(&self.message) } else { write!(f, "{}: {}", self.path, self.message) }
    }
}

/// A served (or unserved) version of a CRD.
#[derive(Debug)]
struct CrdVersion {
    name: String,
    served: bool,
    /// With the status subresource, the API server ignores `status` on create.
    status_subresource: bool,
    schema: Schema,
}

/// One loaded CRD.
#[derive(Debug)]
struct Crd {
    group: String,
    kind: String,
    versions: Vec<CrdVersion>,
}

/// A set of CustomResourceDefinitions to validate objects against.
#[derive(Debug, Default)]
pub struct CrdSet {
    crds: Vec<Crd>,
}

impl CrdSet {
    /// Loads CRDs from `path`: a directory ([`CrdSet::load_dir`]) or one file of one or more
    /// documents, such as Istio's `crd-all.gen.yaml` or the `List` that `kubectl get crd -o
    /// yaml` prints.
    pub fn load(path: &Path) -> Result<CrdSet> {
        if path.is_dir() {
            return CrdSet::load_dir(path);
        }
        let text = std::fs::read_to_string(path).with_context(|| format!("reading CRD file {}", path.display()))?;
        CrdSet::from_yaml_docs(&text)
    }

    /// Loads every `*.yaml`/`*.yml` file in `dir` (not recursive), each holding one or more
    /// CRD documents. Fails if any CRD uses something the validator cannot enforce.
    pub fn load_dir(dir: &Path) -> Result<CrdSet> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("reading CRD directory {}", dir.display()))?
            .map(|e| e.map(|e| e.path()))
            .collect::<std::io::Result<_>>()
            .with_context(|| format!("reading CRD directory {}", dir.display()))?;
        files.retain(|p| p.is_file() && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")));
        // Sorted so that load errors and kinds() do not depend on directory order.
        files.sort();
        let mut set = CrdSet::default();
        for file in files {
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            set.add_docs(&text).with_context(|| format!("loading {}", file.display()))?;
        }
        Ok(set)
    }

    /// Loads CRDs from a YAML stream of one or more documents (`---`-separated). Empty
    /// documents are skipped; any other document must be a v1 CustomResourceDefinition, or a
    /// `List` of them (`kubectl get crd -o yaml`).
    pub fn from_yaml_docs(text: &str) -> Result<CrdSet> {
        let mut set = CrdSet::default();
        set.add_docs(text)?;
        Ok(set)
    }

    fn add_docs(&mut self, text: &str) -> Result<()> {
        let parsed = crate::yaml::parse(text);
        if let Some(e) = parsed.error {
            let doc = e.doc + 1;
            return Err(e).with_context(|| format!("parsing YAML document {doc}"));
        }
        for (i, value) in parsed.docs.into_iter().enumerate() {
            if value.is_null() {
                continue;
            }
            let document = format!("document {}", i + 1);
            match list_items(&value) {
                Some(items) => {
                    for (j, item) in items.iter().enumerate() {
                        self.add_crd(item, &format!("{document}, items[{j}]"))?;
                    }
                }
                None => self.add_crd(&value, &document)?,
            }
        }
        Ok(())
    }

    /// Adds one CRD; `place` says where it was read, for errors.
    fn add_crd(&mut self, value: &Value, place: &str) -> Result<()> {
        let crd = parse_crd(value).with_context(|| {
            let name = value.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("<unnamed>");
            format!("CRD {name} ({place})")
        })?;
        if self.crds.iter().any(|c| c.group == crd.group && c.kind == crd.kind) {
            bail!("kind {} in group {} is defined twice", crd.kind, crd.group);
        }
        self.crds.push(crd);
        Ok(())
    }

    /// The `(apiVersion, kind)` pairs this set validates: every served version of every CRD,
    /// sorted.
    pub fn kinds(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .crds
            .iter()
            .flat_map(|c| {
                c.versions.iter().filter(|v| v.served).map(|v| (format!("{}/{}", c.group, v.name), c.kind.clone()))
            })
            .collect();
        out.sort();
        out
    }

    /// Number of `x-kubernetes-validations` rules loaded (all versions).
    #[cfg(test)]
    fn rule_count(&self) -> usize {
        self.crds.iter().flat_map(|c| &c.versions).map(|v| v.schema.rule_count()).sum()
    }

    /// Validates one object (a parsed manifest). An empty result means the API server would
    /// accept it on create, as far as the CRD and ObjectMeta rules go.
    pub fn validate(&self, obj: &Value) -> Vec<Violation> {
        let mut out = Vec::new();
        let violation = |path: &str, message: String| Violation { path: path.to_string(), message };
        let Some(map) = obj.as_object() else {
            return vec![violation("", "object must be a mapping".into())];
        };
        let api_version = map.get("apiVersion").and_then(Value::as_str);
        let kind = map.get("kind").and_then(Value::as_str);
        let (Some(api_version), Some(kind)) = (api_version, kind) else {
            for field in ["apiVersion", "kind"] {
                if !map.get(field).is_some_and(Value::is_string) {
                    out.push(violation(field, "required string field is missing".into()));
                }
            }
            return out;
        };
        let version = match self.lookup(api_version, kind) {
            Ok(v) => v,
            Err((field, message)) => return vec![violation(field, message)],
        };
        meta::validate(map.get("metadata"), &mut out);

        // What the schema walk sees: apiVersion, kind and metadata are handled above (the
        // schema does not declare them), and a status the API server would discard is
        // dropped. Nulls are pruned first, as the API server does.
        let mut body = obj.clone();
        if let Some(m) = body.as_object_mut() {
            m.remove("apiVersion");
            m.remove("kind");
            m.remove("metadata");
            if version.status_subresource {
                m.remove("status");
            }
        }
        validate::prune_nulls(&mut body, Some(&version.schema));
        let mut path = crate::fieldpath::FieldPath::new();
        validate::Walker::new(&mut out).node(&body, &version.schema, &mut path);
        out
    }

    /// The served version for `apiVersion` + `kind`, or the field to blame and why.
    fn lookup(&self, api_version: &str, kind: &str) -> std::result::Result<&CrdVersion, (&'static str, String)> {
        let Some((group, version)) = api_version.split_once('/') else {
            return Err(("apiVersion", format!("{api_version:?} is a core API version; no CRD defines it")));
        };
        let Some(crd) = self.crds.iter().find(|c| c.group == group && c.kind == kind) else {
            return Err(("kind", format!("no CRD for kind {kind:?} in group {group:?} is loaded")));
        };
        let served: Vec<&CrdVersion> = crd.versions.iter().filter(|v| v.served).collect();
        served.iter().find(|v| v.name == version).copied().ok_or_else(|| {
            let names: Vec<&str> = served.iter().map(|v| v.name.as_str()).collect();
            (
                "apiVersion",
                format!("version {version:?} of {group}/{kind} is not served (served: {})", names.join(", ")),
            )
        })
    }
}

/// The items of a Kubernetes list (`kind: List` or `CustomResourceDefinitionList`, as
/// `kubectl get crd -o yaml` prints several CRDs), or `None` for any other document.
fn list_items(doc: &Value) -> Option<&Vec<Value>> {
    let kind = doc.get("kind")?.as_str()?;
    if kind == "List" || kind == "CustomResourceDefinitionList" { doc.get("items")?.as_array() } else { None }
}

fn str_at<'v>(v: &'v Value, pointer: &str) -> Result<&'v str> {
    v.pointer(pointer).and_then(Value::as_str).ok_or_else(|| anyhow!("missing string {pointer}"))
}

fn parse_crd(doc: &Value) -> Result<Crd> {
    let api_version = str_at(doc, "/apiVersion")?;
    let kind = str_at(doc, "/kind")?;
    if api_version != "apiextensions.k8s.io/v1" || kind != "CustomResourceDefinition" {
        bail!("expected an apiextensions.k8s.io/v1 CustomResourceDefinition, found {api_version} {kind}");
    }
    let group = str_at(doc, "/spec/group")?.to_string();
    let crd_kind = str_at(doc, "/spec/names/kind")?.to_string();
    let versions =
        doc.pointer("/spec/versions").and_then(Value::as_array).ok_or_else(|| anyhow!("missing /spec/versions"))?;
    let mut out = Vec::with_capacity(versions.len());
    for v in versions {
        let name = str_at(v, "/name")?.to_string();
        let served = v.get("served").and_then(Value::as_bool).unwrap_or(false);
        let status_subresource = v.pointer("/subresources/status").is_some();
        let schema_node =
            v.pointer("/schema/openAPIV3Schema").ok_or_else(|| anyhow!("version {name}: no schema.openAPIV3Schema"))?;
        let schema = schema::parse(schema_node).map_err(|e| anyhow!("version {name}: schema {e}"))?;
        out.push(CrdVersion { name, served, status_subresource, schema });
    }
    Ok(Crd { group, kind: crd_kind, versions: out })
}

/// The API server's checks of an object's `metadata` (name, namespace, label keys and
/// values, annotation keys and size), which every Kubernetes object gets, CRDs or not.
pub fn validate_metadata(meta: Option<&Value>) -> Vec<Violation> {
    let mut out = Vec::new();
    meta::validate(meta, &mut out);
    out
}

#[cfg(test)]
mod tests;
