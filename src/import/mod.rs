//! Stage of its own, `import`: existing Istio YAML becomes a draft project (`meshgen import`).
//!
//! The pipeline runs the other way round from `compile`'s: `read` turns texts into Istio
//! objects (refusing, with file and document, what is not one), `draft` groups them by host
//! into services and external APIs in the inventory language, and `verify` compiles the
//! draft and compares what it builds with the objects it came from. Where the language has no
//! word for a field, verify keeps the object's value as a `patch` on the entity (the escape
//! hatch); what a patch cannot say either (an object meshgen does not generate, one it adds)
//! goes to the [`Report`]. Nothing is dropped without a line in the report.
//!
//! The stage is library code: no clap and no printing. It reads no files (the caller hands it
//! texts) and writes only a scratch copy of the draft under the system's temporary directory,
//! which `verify` compiles and removes.

mod draft;
mod read;
mod report;
mod verify;
pub mod write;

use std::collections::BTreeMap;

pub use read::Object;
pub use report::{Note, NoteKind, Report};
pub use verify::comparable;

/// One text to import: a file, or standard input (`-`).
#[derive(Debug, Clone)]
pub struct Input {
    /// How the report names it: the path as given, or `-`.
    pub name: String,
    /// Its content.
    pub text: String,
}

/// The draft project and what the import could not say.
#[derive(Debug, Default)]
pub struct Imported {
    /// The files of the project, relative to the project directory (`meshgen.yaml` first,
    /// then `inventory/<namespace>.yaml`), with their text.
    pub files: Vec<(String, String)>,
    /// Every input object that was read.
    pub objects: usize,
    /// What was refused, kept as a patch, or differs.
    pub report: Report,
}

/// Imports the inputs into a draft project, and verifies that the draft builds the objects
/// it came from (see the module documentation). `Err` only for an I/O failure of the scratch
/// copy.
pub fn import(inputs: &[Input]) -> anyhow::Result<Imported> {
    let mut report = Report::default();
    let objects = read::objects(inputs, &mut report);
    let count = objects.len();
    let mut project = draft::draft(&objects, &mut report);
    verify::verify(&mut project, &objects, &mut report)?;
    let files = project.files();
    Ok(Imported { files, objects: count, report })
}

/// The draft: the project file and the entities of each namespace, as inventory values.
#[derive(Debug, Default, Clone)]
pub(crate) struct Project {
    /// `meshgen.yaml`'s content.
    pub(crate) settings: serde_json::Map<String, serde_json::Value>,
    /// Per namespace: the `services` and `externals` maps of its file.
    pub(crate) namespaces: BTreeMap<String, Namespace>,
}

/// One namespace's inventory document.
#[derive(Debug, Default, Clone)]
pub(crate) struct Namespace {
    /// Services by name.
    pub(crate) services: serde_json::Map<String, serde_json::Value>,
    /// External APIs by name.
    pub(crate) externals: serde_json::Map<String, serde_json::Value>,
}

impl Project {
    /// The entity's body, wherever it is.
    pub(crate) fn entity_mut(&mut self, name: &str) -> Option<&mut serde_json::Map<String, serde_json::Value>> {
        self.namespaces.values_mut().find_map(|ns| {
            ns.services.get_mut(name).or_else(|| ns.externals.get_mut(name)).and_then(|v| v.as_object_mut())
        })
    }

    /// Removes an entity; whether it was there.
    pub(crate) fn remove_entity(&mut self, name: &str) -> bool {
        self.namespaces.values_mut().any(|ns| ns.services.remove(name).is_some() || ns.externals.remove(name).is_some())
    }

    /// The project's files, as written: `meshgen.yaml`, then one inventory file per
    /// namespace.
    pub(crate) fn files(&self) -> Vec<(String, String)> {
        let mut files = vec![(
            "meshgen.yaml".to_string(),
            format!(
                "# Written by `meshgen import`: review it, then `meshgen build` and `meshgen diff`.\n{}",
                if self.settings.is_empty() {
                    String::new()
                } else {
                    write::readable(&serde_json::Value::Object(self.settings.clone()))
                }
            ),
        )];
        for (ns, doc) in &self.namespaces {
            if doc.services.is_empty() && doc.externals.is_empty() {
                continue;
            }
            let mut m = serde_json::Map::new();
            m.insert("namespace".into(), ns.as_str().into());
            if !doc.services.is_empty() {
                m.insert("services".into(), serde_json::Value::Object(doc.services.clone()));
            }
            if !doc.externals.is_empty() {
                m.insert("externals".into(), serde_json::Value::Object(doc.externals.clone()));
            }
            files.push((format!("inventory/{ns}.yaml"), write::readable(&serde_json::Value::Object(m))));
        }
        if files.len() == 1 {
            // The project still builds, with nothing: the report says why.
            files.push((
                "inventory/imported.yaml".into(),
                "# Nothing could be imported: see the report of `meshgen import`.\n".into(),
            ));
        }
        files
    }
}
