//! Stage 4, `render`: the model becomes Istio manifests.
//!
//! Takes the [`Inventory`] and its [`MeshGraph`], returns [`Manifest`]s: the YAML text of each
//! object, in a stable order (namespace, kind, name). [`context`] decides the objects and
//! their values; [`templates`] lays them out; [`filters`] is the only way a value reaches the
//! text. Output of user-overridden templates is parsed back and checked, since an override
//! could emit anything; the built-ins are proven safe by test instead, because re-parsing
//! every document would cost more than the rest of a large build.

pub mod context;
pub mod filters;
pub mod templates;

use std::collections::HashMap;

use anyhow::{Result, bail};

use crate::diag::{Diagnostic, Diagnostics};
use crate::graph::MeshGraph;
use crate::model::Inventory;
pub use context::Kind;
use context::Object;
pub use templates::Templates;

/// One rendered object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// Kind.
    pub kind: Kind,
    /// apiVersion.
    pub api_version: String,
    /// metadata.namespace.
    pub namespace: String,
    /// metadata.name.
    pub name: String,
    /// The inventory entity it comes from.
    pub entity: String,
    /// The YAML document, ending in one newline, without `---`.
    pub text: String,
}

/// Renders every object of the inventory. Two entities whose derived object names collide
/// are reported as diagnostics; template failures are errors.
pub fn render(
    inv: &Inventory,
    graph: &MeshGraph,
    templates: &Templates,
    diags: &mut Diagnostics,
) -> Result<Vec<Manifest>> {
    let objects = context::objects(inv, graph);
    check_collisions(inv, &objects, diags);
    let api = inv.project.api_version.networking().to_string();
    // Rendering is independent per object: split it over the cores, keep the order.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    let chunk = objects.len().div_ceil(threads).max(64);
    let results: Vec<Result<Vec<Manifest>>> = std::thread::scope(|s| {
        let handles: Vec<_> = objects
            .chunks(chunk)
            .map(|part| s.spawn(|| part.iter().map(|o| render_one(o, templates, &api)).collect()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| bail!("a render thread panicked"))).collect()
    });
    let mut out = Vec::with_capacity(objects.len());
    for r in results {
        out.extend(r?);
    }
    Ok(out)
}

fn render_one(o: &Object, templates: &Templates, api: &str) -> Result<Manifest> {
    let name = o.kind.template();
    let rendered = templates.render(name, &o.context)?;
    // Templates start and end with blank lines or not depending on taste (and on how their
    // leading comment is closed); the output has none before and exactly one newline after.
    let mut text = rendered.trim_start_matches('\n').trim_end_matches('\n').to_string();
    text.push('\n');
    if templates.is_overridden(name) || templates.is_overridden("_metadata.yaml") {
        verify(&text, o, api).map_err(|e| {
            anyhow::anyhow!(
                "template `{name}` produced an invalid {} `{}/{}`: {e}",
                o.kind.as_str(),
                o.namespace,
                o.name
            )
        })?;
    }
    Ok(Manifest {
        kind: o.kind,
        api_version: api.to_string(),
        namespace: o.namespace.clone(),
        name: o.name.clone(),
        entity: o.entity.clone(),
        text,
    })
}

/// Checks that a rendered document is exactly one mapping with the expected identity.
pub fn verify(text: &str, o: &Object, api: &str) -> std::result::Result<(), String> {
    let docs: Vec<serde_yaml::Value> = {
        let mut v = Vec::new();
        for d in serde_yaml::Deserializer::from_str(text) {
            v.push(serde::Deserialize::deserialize(d).map_err(|e| format!("not valid YAML: {e}"))?);
        }
        v
    };
    if docs.len() != 1 {
        return Err(format!("expected one YAML document, found {}", docs.len()));
    }
    let doc = &docs[0];
    if !doc.is_mapping() {
        return Err("the document is not a mapping".into());
    }
    let get = |path: &[&str]| path.iter().try_fold(doc, |v, k| v.get(k)).and_then(|v| v.as_str()).map(str::to_string);
    let expect = [
        (&["apiVersion"][..], api),
        (&["kind"][..], o.kind.as_str()),
        (&["metadata", "name"][..], o.name.as_str()),
        (&["metadata", "namespace"][..], o.namespace.as_str()),
    ];
    for (path, want) in expect {
        let got = get(path);
        if got.as_deref() != Some(want) {
            return Err(format!(
                "`{}` is {}, expected `{want}`",
                path.join("."),
                got.map_or("missing".to_string(), |g| format!("`{g}`"))
            ));
        }
    }
    if let Some(k) = doc
        .as_mapping()
        .and_then(|m| m.keys().find(|k| !matches!(k.as_str(), Some("apiVersion" | "kind" | "metadata" | "spec"))))
    {
        return Err(format!("unexpected top-level field {}", serde_yaml::to_string(k).unwrap_or_default().trim()));
    }
    Ok(())
}

fn check_collisions(inv: &Inventory, objects: &[Object], diags: &mut Diagnostics) {
    let origins: HashMap<&str, &crate::diag::Origin> = inv
        .services
        .iter()
        .map(|s| (s.name.as_str(), &s.origin))
        .chain(inv.externals.iter().map(|e| (e.name.as_str(), &e.origin)))
        .collect();
    let mut seen: HashMap<(Kind, &str, &str), &str> = HashMap::new();
    for o in objects {
        // Derived names (`<api>-<host>`) can outgrow what Kubernetes accepts.
        if crate::model::names::dns_subdomain(&o.name).is_err()
            && let Some(at) = origins.get(o.entity.as_str())
        {
            diags.push(
                Diagnostic::error(
                    "invalid-value",
                    (*at).clone().key(),
                    format!(
                        "the {} name derived from `{}` is not a valid object name ({} characters)",
                        o.kind.as_str(),
                        o.entity,
                        o.name.len()
                    ),
                )
                .help("object names are DNS names of at most 253 characters: shorten the entity name or its hosts"),
            );
        }
        if let Some(first) = seen.insert((o.kind, &o.namespace, &o.name), &o.entity)
            && let (Some(a), Some(b)) = (origins.get(o.entity.as_str()), origins.get(first))
        {
            diags.push(
                Diagnostic::error(
                    "name-collision",
                    (*a).clone().key(),
                    format!("{} `{}/{}` would be generated twice", o.kind.as_str(), o.namespace, o.name),
                )
                .related((*b).clone().key(), format!("`{first}` generates it too"))
                .help("rename one of the entities (or set an explicit VM `name`)"),
            );
        }
    }
}
