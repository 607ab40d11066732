//! The plugin's settings, read from the environment Argo CD gives a Config Management
//! Plugin: the application's identity (`ARGOCD_APP_*`, `KUBE_VERSION`), the parameters set
//! in the Application (`ARGOCD_APP_PARAMETERS`, or the `PARAM_*` variables derived from it)
//! and its plugin env (`ARGOCD_ENV_*`). Argo CD never sends the defaults the plugin
//! announces, so every default lives here, in [`PARAMETERS`], used by both commands.
//!
//! Precedence, per setting: parameter, then `ARGOCD_ENV_` variable, then the default.
//!
//! The plugin fails closed: a setting it cannot read (not UTF-8, blank, naming nothing, an
//! unknown `ARGOCD_ENV_MESHGEN_` variable) is an error naming the variable, never a silent
//! default, since the default is a different render that Argo CD would apply (and prune by).
//! Messages name variables and quote meshgen's own setting values, never other values.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt as _;

use anyhow::{Result, bail};
use serde::Deserialize;

use crate::diag::suggest::hint;
use crate::model::ApiVersion;

/// The shape of one parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    /// `string:`
    String,
    /// `array:`
    Array,
    /// `map:`
    Map,
}

/// One parameter the plugin announces and reads.
#[derive(Debug, Clone, Copy)]
pub(super) struct Parameter {
    /// Its name in `spec.source.plugin.parameters`.
    pub name: &'static str,
    /// Its shape.
    pub shape: Shape,
    /// The `ARGOCD_ENV_` variable (without the prefix) that sets it when the parameter is not.
    pub env: &'static str,
    /// The UI title.
    pub title: &'static str,
    /// The UI tooltip: what it does.
    pub tooltip: &'static str,
    /// The default of a string parameter (arrays and maps default to empty).
    pub default: &'static str,
}

/// Every parameter, in the order the UI shows them.
pub(super) const PARAMETERS: &[Parameter] = &[
    Parameter {
        name: "environment",
        shape: Shape::String,
        env: "MESHGEN_ENV",
        title: "Environment",
        tooltip: "An entry of `environments` in meshgen.yaml; empty for the base inventory",
        default: "",
    },
    Parameter {
        name: "cluster",
        shape: Shape::String,
        env: "MESHGEN_CLUSTER",
        title: "Cluster",
        tooltip: "An entry of `clusters` in meshgen.yaml, layered over the environment; empty for none",
        default: "",
    },
    Parameter {
        name: "api-version",
        shape: Shape::String,
        env: "MESHGEN_API_VERSION",
        title: "Istio API version",
        tooltip: "`v1`, `v1beta1`, or `auto`: meshgen.yaml's, but v1beta1 for Kubernetes before 1.27 (no Istio release with the v1 API supports it)",
        default: "auto",
    },
    Parameter {
        name: "namespaces",
        shape: Shape::Array,
        env: "MESHGEN_NAMESPACES",
        title: "Namespaces",
        tooltip: "Render only the objects in these namespaces (one application per team from one inventory); empty for all. Env: comma-separated",
        default: "",
    },
    Parameter {
        name: "labels",
        shape: Shape::Map,
        env: "MESHGEN_LABELS",
        title: "Extra labels",
        tooltip: "Labels added to every object (not `app.kubernetes.io/instance`, which Argo CD tracks by). Env: comma-separated key=value",
        default: "",
    },
];

/// The Argo CD Application being rendered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct App {
    /// `ARGOCD_APP_NAME`.
    pub name: Option<String>,
    /// `ARGOCD_APP_NAMESPACE`.
    pub namespace: Option<String>,
    /// `ARGOCD_APP_REVISION`.
    pub revision: Option<String>,
    /// `KUBE_VERSION` as given.
    pub kube_version: Option<String>,
    /// `KUBE_API_VERSIONS`: the API versions the destination cluster serves, comma-separated
    /// (`group/version`, and `group/version/Kind` from some Argo CD releases).
    pub api_versions: Option<String>,
}

impl App {
    /// How messages name the application: `namespace/name`, or a note that Argo CD did not
    /// say (a local run).
    pub(super) fn display(&self) -> String {
        match (&self.namespace, &self.name) {
            (Some(ns), Some(n)) => format!("`{ns}/{n}`"),
            (None, Some(n)) => format!("`{n}`"),
            _ => "(ARGOCD_APP_NAME unset)".to_string(),
        }
    }

    /// Kubernetes major and minor version, from `KUBE_VERSION` (`1.29`, `v1.29.3`,
    /// `1.29+` from some providers).
    pub(super) fn kube_minor(&self) -> Option<(u32, u32)> {
        let v = self.kube_version.as_deref()?.trim().trim_start_matches('v');
        let mut parts = v.split('.');
        let major = parts.next()?.parse().ok()?;
        let minor: String = parts.next()?.chars().take_while(char::is_ascii_digit).collect();
        Some((major, minor.parse().ok()?))
    }
}

/// Everything `generate` needs to know.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Settings {
    /// The application.
    pub app: App,
    /// Environment to build, if any.
    pub environment: Option<String>,
    /// Cluster to build, if any.
    pub cluster: Option<String>,
    /// The API version to force, or `None` for meshgen.yaml's.
    pub api_version: Option<ApiVersion>,
    /// Namespaces to keep (empty: all).
    pub namespaces: Vec<String>,
    /// Extra labels.
    pub labels: BTreeMap<String, String>,
    /// Where each non-default setting came from, for the log.
    pub notes: Vec<String>,
}

/// The prefix of the plugin env meshgen reads (after Argo CD's `ARGOCD_ENV_`).
const ENV_PREFIX: &str = "ARGOCD_ENV_MESHGEN_";

/// The variables the plugin reads besides its own `ARGOCD_ENV_MESHGEN_*` and `PARAM_*`.
const ARGOCD_VARS: &[&str] = &[
    "ARGOCD_APP_NAME",
    "ARGOCD_APP_NAMESPACE",
    "ARGOCD_APP_REVISION",
    "ARGOCD_APP_PARAMETERS",
    "KUBE_VERSION",
    "KUBE_API_VERSIONS",
];

/// Whether the plugin reads the variable named `key` (compared as bytes: it may not be UTF-8).
/// `ARGOCD_ENV_MESHGEN_` is matched in any case, so a misspelt case is reported, not ignored.
fn read_by_meshgen(key: &[u8]) -> bool {
    ARGOCD_VARS.iter().any(|v| v.as_bytes() == key) || key.starts_with(b"PARAM_") || meshgen_env(key)
}

/// Whether `key` is in meshgen's part of the plugin env, `ARGOCD_ENV_MESHGEN_` in any case.
fn meshgen_env(key: &[u8]) -> bool {
    key.get(..ENV_PREFIX.len()).is_some_and(|p| p.eq_ignore_ascii_case(ENV_PREFIX.as_bytes()))
}

/// The process environment as text. Variables the plugin does not read are kept only when
/// they are UTF-8 and otherwise ignored; a variable it reads whose name or value is not
/// UTF-8 makes the second result an error naming it (by name and byte offset: the value
/// is never printed).
pub(super) fn read_env(vars: impl IntoIterator<Item = (OsString, OsString)>) -> (BTreeMap<String, String>, Result<()>) {
    let mut out = BTreeMap::new();
    let mut refused = Vec::new();
    for (key, value) in vars {
        let name = key.as_bytes().escape_ascii().to_string();
        match (key.into_string(), value.into_string()) {
            (Ok(k), Ok(v)) => {
                out.insert(k, v);
            }
            (Ok(k), Err(v)) if read_by_meshgen(k.as_bytes()) => {
                let at = std::str::from_utf8(v.as_bytes()).map_err(|e| e.valid_up_to()).err().unwrap_or_default();
                refused.push(format!("{name} is not UTF-8 (invalid byte at offset {at} of its value)"));
            }
            (Err(k), _) if read_by_meshgen(k.as_bytes()) => refused.push(format!("the name `{name}` is not UTF-8")),
            _ => {}
        }
    }
    let check = match refused.as_slice() {
        [] => Ok(()),
        _ => Err(anyhow::anyhow!(
            "{}: Argo CD passes text, so the Application's parameters or plugin env are broken",
            refused.join("; ")
        )),
    };
    (out, check)
}

/// A parameter value as Argo CD sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    String(String),
    Array(Vec<String>),
    Map(BTreeMap<String, String>),
}

/// One entry of `ARGOCD_APP_PARAMETERS`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawParameter {
    name: String,
    string: Option<String>,
    array: Option<Vec<String>>,
    map: Option<BTreeMap<String, String>>,
}

/// The upper-case form Argo CD gives a parameter name in `PARAM_*` variables.
fn env_form(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect()
}

fn lookup(name: &str) -> Result<&'static Parameter> {
    if let Some(p) = PARAMETERS.iter().find(|p| p.name == name) {
        return Ok(p);
    }
    let names: Vec<&str> = PARAMETERS.iter().map(|p| p.name).collect();
    bail!("unknown parameter `{name}`: {}", hint(name, "parameters", &names).unwrap_or_default())
}

/// The parameters set in the Application: from `ARGOCD_APP_PARAMETERS` (exact), or else
/// from `PARAM_*` (whose map keys Argo CD upper-cases and flattens, so maps are refused).
fn parameters(vars: &BTreeMap<String, String>) -> Result<BTreeMap<&'static str, Value>> {
    let mut out = BTreeMap::new();
    if let Some(json) = vars.get("ARGOCD_APP_PARAMETERS").filter(|j| !j.trim().is_empty()) {
        let raw: Vec<RawParameter> = serde_json::from_str(json)
            .map_err(|e| anyhow::anyhow!("ARGOCD_APP_PARAMETERS is not the JSON Argo CD sends: {e}"))?;
        for r in raw {
            let p = lookup(&r.name)?;
            let v = match (p.shape, r.string, r.array, r.map) {
                (Shape::String, Some(s), None, None) => Value::String(s),
                (Shape::Array, None, Some(a), None) => Value::Array(a),
                (Shape::Map, None, None, Some(m)) => Value::Map(m),
                _ => bail!("parameter `{}` must be set as `{}:`", p.name, shape_word(p.shape)),
            };
            if out.insert(p.name, v).is_some() {
                bail!("parameter `{}` is set twice", p.name);
            }
        }
        return Ok(out);
    }
    // Array items by index: Argo CD numbers them from 0 without gaps.
    let mut arrays: BTreeMap<&'static str, BTreeMap<usize, String>> = BTreeMap::new();
    for (key, value) in vars {
        let Some(rest) = key.strip_prefix("PARAM_") else { continue };
        let p = PARAMETERS
            .iter()
            .find(|p| rest == env_form(p.name) || rest.starts_with(&format!("{}_", env_form(p.name))))
            .ok_or_else(|| anyhow::anyhow!("`{key}` names no parameter of meshgen"))?;
        match p.shape {
            Shape::String if rest == env_form(p.name) => {
                out.insert(p.name, Value::String(value.clone()));
            }
            Shape::Array => {
                let index: usize = rest[env_form(p.name).len()..]
                    .strip_prefix('_')
                    .filter(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|i| i.parse().ok())
                    .ok_or_else(|| anyhow::anyhow!("`{key}`: expected `PARAM_{}_<index>`", env_form(p.name)))?;
                if arrays.entry(p.name).or_default().insert(index, value.clone()).is_some() {
                    bail!("`{key}`: item {index} of parameter `{}` is set twice", p.name);
                }
            }
            Shape::Map => bail!(
                "`{key}`: map parameters are read from ARGOCD_APP_PARAMETERS (PARAM_ variables upper-case their keys); set it as Argo CD does"
            ),
            Shape::String => bail!("`{key}` names no parameter of meshgen"),
        }
    }
    for (name, items) in arrays {
        if let Some(missing) = (0..items.len()).find(|i| !items.contains_key(i)) {
            bail!(
                "`PARAM_{}_{missing}` is missing but later items of parameter `{name}` are set: Argo CD numbers them from 0",
                env_form(name)
            );
        }
        out.insert(name, Value::Array(items.into_values().collect()));
    }
    Ok(out)
}

fn shape_word(s: Shape) -> &'static str {
    match s {
        Shape::String => "string",
        Shape::Array => "array",
        Shape::Map => "map",
    }
}

/// Reads the settings from environment variables (all of them; unrelated ones are ignored).
pub(super) fn from_vars(vars: &BTreeMap<String, String>) -> Result<Settings> {
    let non_empty = |k: &str| vars.get(k).filter(|v| !v.is_empty()).cloned();
    let app = App {
        name: non_empty("ARGOCD_APP_NAME"),
        namespace: non_empty("ARGOCD_APP_NAMESPACE"),
        revision: non_empty("ARGOCD_APP_REVISION"),
        kube_version: non_empty("KUBE_VERSION"),
        api_versions: non_empty("KUBE_API_VERSIONS"),
    };
    unknown_env(vars)?;
    let params = parameters(vars)?;
    let mut s = Settings { app, ..Settings::default() };
    for p in PARAMETERS {
        let env_key = format!("ARGOCD_ENV_{}", p.env);
        // Empty is unset (the default); a value of only blanks is a mistake, not a default.
        let from_env = vars.get(&env_key).filter(|v| !v.is_empty());
        let (value, source) = match (params.get(p.name), from_env) {
            (Some(v), env) => {
                if env.is_some() {
                    s.notes.push(format!("parameter `{}` is set, so {env_key} is ignored", p.name));
                }
                s.notes.push(format!("{} from parameter `{}`", p.name, p.name));
                (v.clone(), format!("parameter `{}`", p.name))
            }
            (None, Some(text)) => {
                s.notes.push(format!("{} from {env_key}", p.name));
                if text.trim().is_empty() {
                    bail!("{env_key} is blank: set it to a value or leave it out for the default");
                }
                (from_env_text(p.shape, text.trim(), &env_key)?, env_key.clone())
            }
            // Argo CD never sends defaults: apply them here (`auto` for the API version).
            (None, None) if p.shape == Shape::String => {
                apply(&mut s, p, Value::String(p.default.to_string()))?;
                continue;
            }
            (None, None) => continue,
        };
        check_value(&value, &source)?;
        apply(&mut s, p, value).map_err(|e| anyhow::anyhow!("{source}: {e:#}"))?;
    }
    Ok(s)
}

/// `ARGOCD_ENV_MESHGEN_*` variables (in any case) that set nothing: a misspelt setting
/// would otherwise render the default. Names only: the value could be anything.
fn unknown_env(vars: &BTreeMap<String, String>) -> Result<()> {
    let known: Vec<String> = PARAMETERS.iter().map(|p| format!("ARGOCD_ENV_{}", p.env)).collect();
    let known: Vec<&str> = known.iter().map(String::as_str).collect();
    if let Some(key) = vars.keys().find(|k| meshgen_env(k.as_bytes()) && !known.contains(&k.as_str())) {
        let help = hint(&key.to_ascii_uppercase(), "variables", &known).unwrap_or_default();
        let name = key.as_bytes().escape_ascii();
        bail!("{name} is not a setting of meshgen, so it would be ignored: {help}");
    }
    Ok(())
}

/// Refuses values that read as nothing where something was written: a string of only
/// blanks, an array item that is blank, or an array or map with no entries written as
/// text (`,,,`). An empty string, array or map parameter is the default, as announced.
fn check_value(value: &Value, source: &str) -> Result<()> {
    match value {
        Value::String(t) if !t.is_empty() && t.trim().is_empty() => {
            bail!("{source} is blank: set it to a value or leave it out for the default")
        }
        Value::Array(items) => {
            if let Some(i) = items.iter().position(|i| i.trim().is_empty()) {
                bail!("{source}: item {i} is blank");
            }
        }
        _ => {}
    }
    Ok(())
}

/// An `ARGOCD_ENV_` value: arrays are comma-separated, maps comma-separated `key=value`;
/// empty items (`a,,b`, a trailing comma) are skipped, but a value with no item at all is
/// an error: it would otherwise mean the default (every namespace, no labels).
fn from_env_text(shape: Shape, text: &str, key: &str) -> Result<Value> {
    let items = || text.split(',').map(str::trim).filter(|i| !i.is_empty());
    if shape != Shape::String && items().next().is_none() {
        bail!("{key} lists nothing (only commas and blanks): name at least one item, or leave it out for the default");
    }
    Ok(match shape {
        Shape::String => Value::String(text.to_string()),
        Shape::Array => Value::Array(items().map(str::to_string).collect()),
        Shape::Map => {
            let mut map = BTreeMap::new();
            for i in items() {
                let (k, v) = i.split_once('=').ok_or_else(|| anyhow::anyhow!("{key}: `{i}` is not `key=value`"))?;
                if map.insert(k.trim().to_string(), v.trim().to_string()).is_some() {
                    bail!("{key}: key `{}` is given twice", k.trim());
                }
            }
            Value::Map(map)
        }
    })
}

fn apply(s: &mut Settings, p: &Parameter, value: Value) -> Result<()> {
    let text = |v: Value| match v {
        Value::String(t) => Some(t.trim().to_string()).filter(|t| !t.is_empty()),
        _ => None,
    };
    match (p.name, value) {
        ("environment", v) => s.environment = text(v),
        ("cluster", v) => s.cluster = text(v),
        ("api-version", v) => {
            s.api_version = match text(v).as_deref() {
                None | Some("auto") => auto_api_version(&s.app, &mut s.notes),
                Some("v1" | "networking.istio.io/v1") => Some(ApiVersion::V1),
                Some("v1beta1" | "networking.istio.io/v1beta1") => Some(ApiVersion::V1beta1),
                Some(other) => bail!("`{other}` is not `auto`, `v1` or `v1beta1`"),
            }
        }
        ("namespaces", Value::Array(a)) => s.namespaces = a.into_iter().map(|n| n.trim().to_string()).collect(),
        ("labels", Value::Map(m)) => s.labels = m,
        (name, _) => unreachable!("parameter `{name}` has the shape PARAMETERS gives it"),
    }
    Ok(())
}

/// The oldest Kubernetes minor release an Istio release with the `v1` APIs (1.22) supports.
const V1_MIN_KUBE_MINOR: u32 = 27;

/// `auto`: what the destination cluster serves, from `KUBE_API_VERSIONS` (which Argo CD
/// sends for exactly this): meshgen.yaml's choice where the cluster serves `v1`, `v1beta1`
/// where it serves only that. Without the list, from `KUBE_VERSION`: meshgen.yaml's choice,
/// except on a cluster too old for any Istio release that serves the v1 APIs.
fn auto_api_version(app: &App, notes: &mut Vec<String>) -> Option<ApiVersion> {
    if let Some(list) = &app.api_versions {
        let served = |version: &str| {
            list.split(',').any(|entry| {
                let mut parts = entry.trim().split('/');
                parts.next() == Some("networking.istio.io") && parts.next() == Some(version)
            })
        };
        return if served("v1") {
            None
        } else if served("v1beta1") {
            notes.push("api-version auto: the cluster serves networking.istio.io/v1beta1 but not v1 (KUBE_API_VERSIONS), using v1beta1".to_string());
            Some(ApiVersion::V1beta1)
        } else {
            notes.push("api-version auto: the cluster serves no networking.istio.io version (KUBE_API_VERSIONS): are Istio's CRDs installed? Using meshgen.yaml's".to_string());
            None
        };
    }
    match app.kube_minor() {
        Some((1, minor)) if minor < V1_MIN_KUBE_MINOR => {
            notes.push(format!(
                "api-version auto: Kubernetes 1.{minor} (KUBE_VERSION) predates Istio's v1 APIs, using v1beta1"
            ));
            Some(ApiVersion::V1beta1)
        }
        Some(_) => None,
        None => {
            if app.kube_version.is_some() {
                notes.push(
                    "api-version auto: KUBE_VERSION is not a Kubernetes version (`1.<minor>`), using meshgen.yaml's"
                        .to_string(),
                );
            }
            None
        }
    }
}

/// The settings as the parameters of a dynamic announcement: each parameter with its
/// effective default (an `ARGOCD_ENV_` value counts, since it applies when the parameter is
/// unset), and the declared environments and clusters in the tooltips.
pub(super) fn announcement(
    vars: &BTreeMap<String, String>,
    environments: &[String],
    clusters: &[String],
) -> serde_json::Value {
    let list = PARAMETERS
        .iter()
        .map(|p| {
            let from_env = vars.get(&format!("ARGOCD_ENV_{}", p.env)).map(|v| v.trim()).filter(|v| !v.is_empty());
            let declared = match p.name {
                "environment" => Some(environments),
                "cluster" => Some(clusters),
                _ => None,
            };
            let tooltip = match declared {
                Some(names) if !names.is_empty() => format!("{} (declared: {})", p.tooltip, names.join(", ")),
                _ => p.tooltip.to_string(),
            };
            let mut o = serde_json::json!({
                "name": p.name,
                "title": p.title,
                "tooltip": tooltip,
                "required": false,
                "itemType": "string",
                "collectionType": shape_word(p.shape),
            });
            let default = match (p.shape, from_env) {
                (Shape::String, e) => serde_json::json!(e.unwrap_or(p.default)),
                (shape, Some(e)) => match from_env_text(shape, e, p.env) {
                    Ok(Value::Array(a)) => serde_json::json!(a),
                    Ok(Value::Map(m)) => serde_json::json!(m),
                    _ => serde_json::Value::Null,
                },
                (Shape::Array, None) => serde_json::json!([]),
                (Shape::Map, None) => serde_json::json!({}),
            };
            if !default.is_null() {
                o[shape_word(p.shape)] = default;
            }
            o
        })
        .collect();
    serde_json::Value::Array(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn nothing_set_gives_the_defaults() {
        let s = from_vars(&vars(&[])).unwrap();
        assert_eq!(s.environment, None);
        assert_eq!(s.api_version, None);
        assert!(s.namespaces.is_empty() && s.labels.is_empty());
    }

    #[test]
    fn parameters_come_from_the_json_and_win_over_env() {
        let s = from_vars(&vars(&[
            (
                "ARGOCD_APP_PARAMETERS",
                r#"[{"name":"environment","string":"prod"},{"name":"namespaces","array":["shop","data"]},{"name":"labels","map":{"team.example.com/owner":"shop"}}]"#,
            ),
            ("ARGOCD_ENV_MESHGEN_ENV", "staging"),
            ("ARGOCD_ENV_MESHGEN_CLUSTER", "eu-1"),
            ("PARAM_ENVIRONMENT", "ignored-when-json-is-there"),
        ]))
        .unwrap();
        assert_eq!(s.environment.as_deref(), Some("prod"));
        assert_eq!(s.cluster.as_deref(), Some("eu-1"));
        assert_eq!(s.namespaces, ["shop", "data"]);
        assert_eq!(s.labels["team.example.com/owner"], "shop");
        assert!(s.notes.iter().any(|n| n.contains("ARGOCD_ENV_MESHGEN_ENV is ignored")), "{:?}", s.notes);
    }

    #[test]
    fn param_variables_are_read_without_the_json() {
        let s = from_vars(&vars(&[
            ("PARAM_ENVIRONMENT", "prod"),
            ("PARAM_API_VERSION", "v1beta1"),
            ("PARAM_NAMESPACES_1", "b"),
            ("PARAM_NAMESPACES_0", "a"),
        ]))
        .unwrap();
        assert_eq!(s.environment.as_deref(), Some("prod"));
        assert_eq!(s.api_version, Some(ApiVersion::V1beta1));
        assert_eq!(s.namespaces, ["a", "b"]);
        assert!(from_vars(&vars(&[("PARAM_LABELS_TEAM", "x")])).is_err());
        assert!(from_vars(&vars(&[("PARAM_ENVIRONEMNT", "x")])).is_err());
    }

    #[test]
    fn mistakes_are_errors_with_hints() {
        let e = from_vars(&vars(&[("ARGOCD_APP_PARAMETERS", r#"[{"name":"enviroment","string":"x"}]"#)])).unwrap_err();
        assert!(e.to_string().contains("did you mean `environment`?"), "{e}");
        let e = from_vars(&vars(&[("ARGOCD_APP_PARAMETERS", r#"[{"name":"namespaces","string":"x"}]"#)])).unwrap_err();
        assert!(e.to_string().contains("`array:`"), "{e}");
        assert!(from_vars(&vars(&[("ARGOCD_ENV_MESHGEN_API_VERSION", "v2")])).is_err());
        assert!(from_vars(&vars(&[("ARGOCD_ENV_MESHGEN_LABELS", "a=b,c")])).is_err());
    }

    /// Bad input is an error naming the variable, never the default (which renders, and
    /// with pruning applies, something else).
    #[test]
    fn settings_that_read_as_nothing_are_errors_not_defaults() {
        let err = |pairs: &[(&str, &str)]| from_vars(&vars(pairs)).unwrap_err().to_string();
        for blank in [",,,", " , ,", "  ", "\t"] {
            let e = err(&[("ARGOCD_ENV_MESHGEN_NAMESPACES", blank)]);
            assert!(e.starts_with("ARGOCD_ENV_MESHGEN_NAMESPACES "), "{blank:?}: {e}");
            let e = err(&[("ARGOCD_ENV_MESHGEN_LABELS", blank)]);
            assert!(e.starts_with("ARGOCD_ENV_MESHGEN_LABELS "), "{blank:?}: {e}");
        }
        for key in ["ARGOCD_ENV_MESHGEN_ENV", "ARGOCD_ENV_MESHGEN_CLUSTER", "ARGOCD_ENV_MESHGEN_API_VERSION"] {
            assert!(err(&[(key, "  ")]).starts_with(&format!("{key} is blank")));
        }
        let e = err(&[("ARGOCD_APP_PARAMETERS", r#"[{"name":"namespaces","array":[" "]}]"#)]);
        assert_eq!(e, "parameter `namespaces`: item 0 is blank");
        let e = err(&[("ARGOCD_APP_PARAMETERS", r#"[{"name":"environment","string":" "}]"#)]);
        assert!(e.starts_with("parameter `environment` is blank"), "{e}");
        assert!(err(&[("PARAM_NAMESPACES_0", "")]).contains("item 0 is blank"));
        assert!(err(&[("PARAM_NAMESPACES_1", "shop")]).contains("`PARAM_NAMESPACES_0` is missing"));
        assert!(
            err(&[("PARAM_NAMESPACES_99999999999999999999", "shop")]).contains("expected `PARAM_NAMESPACES_<index>`")
        );
        assert!(err(&[("PARAM_NAMESPACES_0", "a"), ("PARAM_NAMESPACES_00", "b")]).contains("set twice"));
        assert!(err(&[("ARGOCD_ENV_MESHGEN_LABELS", "a=1,a=2")]).contains("key `a` is given twice"));
        // A misspelt or mis-cased variable would be ignored: it is named, with a hint.
        let e = err(&[("ARGOCD_ENV_MESHGEN_NAMESPACE", "shop")]);
        assert!(
            e.contains("ARGOCD_ENV_MESHGEN_NAMESPACE is not a setting")
                && e.contains("`ARGOCD_ENV_MESHGEN_NAMESPACES`")
        );
        assert!(err(&[("ARGOCD_ENV_meshgen_env", "prod")]).contains("did you mean `ARGOCD_ENV_MESHGEN_ENV`?"));
        // Empty is the default, as announced; empty items between commas are skipped.
        let s = from_vars(&vars(&[
            ("ARGOCD_ENV_MESHGEN_NAMESPACES", "shop,, data,"),
            ("ARGOCD_ENV_MESHGEN_ENV", ""),
            ("ARGOCD_ENV_OTHER_PLUGIN", "x"),
            ("ARGOCD_APP_PARAMETERS", r#"[{"name":"labels","map":{}},{"name":"cluster","string":""}]"#),
        ]))
        .unwrap();
        assert_eq!(s.namespaces, ["shop", "data"]);
        assert_eq!((s.environment, s.cluster), (None, None));
        assert!(s.labels.is_empty());
    }

    #[test]
    fn variables_meshgen_reads_must_be_utf8() {
        use std::os::unix::ffi::OsStringExt as _;
        let os = |k: &[u8], v: &[u8]| (OsString::from_vec(k.to_vec()), OsString::from_vec(v.to_vec()));
        let (vars, readable) = read_env([
            os(b"ARGOCD_ENV_MESHGEN_NAMESPACES", b"shop,\xffdata"),
            os(b"PARAM_\xfe", b"x"),
            os(b"ARGOCD_ENV_OTHER", b"\xff"),
            os(b"LANG", b"\xff"),
            os(b"ARGOCD_APP_NAME", b"mesh"),
        ]);
        let e = readable.unwrap_err().to_string();
        assert!(e.contains("ARGOCD_ENV_MESHGEN_NAMESPACES is not UTF-8 (invalid byte at offset 5"), "{e}");
        assert!(e.contains("`PARAM_\\xfe` is not UTF-8"), "{e}");
        assert!(
            !e.contains("shop") && !e.contains("OTHER") && !e.contains("LANG"),
            "values and unread names stay out: {e}"
        );
        assert_eq!(vars.keys().collect::<Vec<_>>(), ["ARGOCD_APP_NAME"]);
        let (_, readable) = read_env([os(b"ARGOCD_ENV_OTHER", b"\xff"), os(b"HOME", b"/h\xff")]);
        assert!(readable.is_ok(), "variables meshgen does not read are not its business");
    }

    #[test]
    fn auto_follows_the_api_versions_the_cluster_serves_before_its_version() {
        let at = |pairs: &[(&str, &str)]| from_vars(&vars(pairs)).unwrap();
        let served = "apps/v1,networking.istio.io/v1beta1,networking.istio.io/v1alpha3,security.istio.io/v1beta1";
        // The list wins over KUBE_VERSION, whichever way they point.
        let old_istio = at(&[("KUBE_API_VERSIONS", served), ("KUBE_VERSION", "1.30")]);
        assert_eq!(old_istio.api_version, Some(ApiVersion::V1beta1));
        assert!(
            old_istio.notes.iter().any(|n| n.contains("serves networking.istio.io/v1beta1 but not v1")),
            "{:?}",
            old_istio.notes
        );
        let with_v1 = format!("{served},networking.istio.io/v1,networking.istio.io/v1/ServiceEntry");
        assert_eq!(at(&[("KUBE_API_VERSIONS", &with_v1), ("KUBE_VERSION", "1.20")]).api_version, None);
        // `group/version/Kind` entries alone (some Argo CD releases) are read too.
        let kinds_only = "networking.istio.io/v1beta1/ServiceEntry,apps/v1/Deployment";
        assert_eq!(at(&[("KUBE_API_VERSIONS", kinds_only)]).api_version, Some(ApiVersion::V1beta1));
        let no_istio = at(&[("KUBE_API_VERSIONS", "apps/v1,v1")]);
        assert_eq!(no_istio.api_version, None);
        assert!(no_istio.notes.iter().any(|n| n.contains("are Istio's CRDs installed?")), "{:?}", no_istio.notes);
        // An explicit choice is kept.
        let explicit = at(&[("KUBE_API_VERSIONS", served), ("ARGOCD_ENV_MESHGEN_API_VERSION", "v1")]);
        assert_eq!(explicit.api_version, Some(ApiVersion::V1));
    }

    #[test]
    fn auto_picks_v1beta1_for_clusters_too_old_for_the_v1_apis() {
        let at = |kube: &str| from_vars(&vars(&[("KUBE_VERSION", kube)])).unwrap().api_version;
        assert_eq!(at("1.26"), Some(ApiVersion::V1beta1));
        assert_eq!(at("v1.25.3"), Some(ApiVersion::V1beta1));
        assert_eq!(at("1.29+"), None);
        assert_eq!(at("garbage"), None);
        // Not silent: the log says `auto` could not read it.
        let notes = from_vars(&vars(&[("KUBE_VERSION", "garbage")])).unwrap().notes;
        assert!(notes.iter().any(|n| n.contains("KUBE_VERSION is not a Kubernetes version")), "{notes:?}");
        let explicit = from_vars(&vars(&[("KUBE_VERSION", "1.20"), ("ARGOCD_ENV_MESHGEN_API_VERSION", "v1")])).unwrap();
        assert_eq!(explicit.api_version, Some(ApiVersion::V1));
    }
}
