//! Reading the live cluster, for `meshgen diff --cluster` and `meshgen check --live`: the
//! connection from the command line, the live objects that are this project's and those of
//! other owners, and the findings about the latter (`diff::conflicts`).
//!
//! Read-only: discovery, then LISTs per kind (the project's selector, then everything the
//! desired objects did not find); the dry runs of `diff --server-side` go through the
//! returned session.

use std::collections::HashMap;

use anyhow::Result;

use super::args::LiveArgs;
use crate::cluster;
use crate::compile::{Compiled, Options, Rendered};
use crate::diag::{Diagnostic, Origin};
use crate::diff::conflicts::{Claims, Finding};
use crate::diff::live::Trim;
use crate::diff::{Key, Object};
use crate::model::project::Project;
use crate::render::Manifest;

/// How to reach the cluster, from either command's flags.
pub(super) struct Connection<'a> {
    /// `--kubeconfig`, relative to `-C DIR`.
    pub kubeconfig: Option<&'a std::path::Path>,
    /// `--context`.
    pub context: Option<&'a str>,
    /// `-n`: only these namespaces (none: all).
    pub namespaces: &'a [String],
    /// `--timeout` of each request.
    pub timeout: std::time::Duration,
    /// How many requests at once.
    pub concurrency: usize,
    /// `--selector`: this project's objects (default: from the project's name).
    pub selector: Option<&'a str>,
    /// What of this project's live objects to leave out as each page arrives: only
    /// `diff --server-side` reads their `managedFields` and last-applied copies.
    pub trim: Trim,
}

/// What the cluster holds, seen from this build.
pub(super) struct Read {
    /// The connection, for further requests (dry runs) and its request count.
    pub session: cluster::Session,
    /// The live objects: this project's (the prune set's candidates) and the others.
    pub live: cluster::Live,
}

/// Connects and reads the live objects of the kinds meshgen writes, for `desired` (the
/// rendered manifests: their identities, no text read).
pub(super) fn read(conn: &Connection<'_>, options: &Options, project: &Project, desired: &[&Manifest]) -> Result<Read> {
    let kinds: Vec<(&str, &str)> =
        crate::render::Kind::ALL.iter().map(|k| (k.api_version(project.api_version), k.as_str())).collect();
    let opts = cluster::Options {
        // `--kubeconfig FILE` starts at `-C DIR`; `$KUBECONFIG` at the current directory.
        kubeconfig: conn.kubeconfig.map(|f| options.resolve(f)),
        context: conn.context.map(str::to_string),
        namespaces: conn.namespaces.to_vec(),
        timeout: conn.timeout,
        concurrency: conn.concurrency,
        selector: conn.selector.map_or_else(|| selector(project.name.as_deref()), str::to_string),
    };
    let session = cluster::connect(&opts, &kinds)?;
    let live = session.read(desired.iter().map(|m| (m.kind.as_str(), &*m.namespace, &*m.name)), conn.trim)?;
    Ok(Read { session, live })
}

/// What the other owners' objects of `live` do to the desired ones, which `claims` holds.
pub(super) fn findings(claims: &Claims, live: &cluster::Live, project: &Project) -> Result<Vec<Finding>> {
    crate::diff::conflicts::find(claims, &live.managed, &live.foreign, project.name.as_deref())
        .map_err(anyhow::Error::msg)
}

/// The default prune set: meshgen's objects of this project, or, for a project without a
/// name, those no named project claims.
fn selector(project: Option<&str>) -> String {
    let label = crate::compile::PROJECT_LABEL;
    match project {
        Some(name) => format!("{},{label}={name}", cluster::MANAGED),
        None => format!("{},!{label}", cluster::MANAGED),
    }
}

/// The objects to dry-run.
pub(super) fn wanted<'a>(objects: impl Iterator<Item = &'a Object>) -> Vec<cluster::Wanted<'a>> {
    objects
        .map(|o| cluster::Wanted { kind: &o.key.kind, namespace: &o.key.namespace, name: &o.key.name, body: &o.value })
        .collect()
}

/// `meshgen check --live`: reads the cluster for the objects this build renders and adds
/// each finding about another owner's object to the diagnostics, at the entity whose object
/// it meets. Returns the API server read.
pub(super) fn check(args: &LiveArgs, options: &Options, c: &mut Compiled) -> Result<String> {
    let Some(Rendered::Manifests(manifests)) = &c.rendered else {
        anyhow::bail!("meshgen rendered no objects to compare with the cluster; please report it")
    };
    let manifests: Vec<&Manifest> = manifests.iter().collect();
    let conn = Connection {
        kubeconfig: args.kubeconfig.as_deref(),
        context: args.context.as_deref(),
        namespaces: &args.namespace,
        timeout: args.timeout,
        concurrency: usize::from(super::args::CONCURRENCY),
        selector: args.selector.as_deref(),
        trim: Trim::ServerState,
    };
    let read = read(&conn, options, &c.project, &manifests)?;
    c.timings.mark("cluster read");
    // Each desired object is parsed, its claims taken and dropped: none is held as a tree.
    let mut claims = Claims::default();
    for m in &manifests {
        claims.add(&super::diff::read_back(m).map_err(anyhow::Error::msg)?);
    }
    let found = findings(&claims, &read.live, &c.project)?;
    let entity: HashMap<(&str, &str, &str), &str> =
        manifests.iter().map(|m| ((m.kind.as_str(), &*m.namespace, &*m.name), &*m.entity)).collect();
    let of = |k: &Key| entity.get(&(k.kind.as_str(), k.namespace.as_str(), k.name.as_str())).copied();
    let origins = c.inventory.as_ref().map(crate::render::origins).unwrap_or_default();
    let fallback = Origin::new(&c.project.file, 0, "");
    let found = found
        .into_iter()
        .map(|f| {
            let at = of(&f.ours).and_then(|e| origins.get(e)).map_or_else(|| fallback.clone(), |o| (*o).clone().key());
            Diagnostic::warning(f.code, at, f.message).help(f.help)
        })
        .collect();
    c.add_live(found, options);
    Ok(read.session.server().to_string())
}
