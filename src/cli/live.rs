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
use crate::diff::conflicts::Finding;
use crate::diff::{Key, Object};
use crate::model::project::Project;

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
    /// Whether to free, as each page arrives, what only `diff --server-side` reads of this
    /// project's live objects (status, `managedFields`, the last-applied copy).
    pub trim: bool,
}

/// What the cluster holds, seen from this build.
pub(super) struct Read {
    /// The connection, for further requests (dry runs) and its request count.
    pub session: cluster::Session,
    /// The live objects of this project (the prune set's candidates).
    pub managed: Vec<Object>,
    /// What the other owners' objects do to the desired ones.
    pub findings: Vec<Finding>,
}

/// Connects and reads the live objects of the kinds meshgen writes, for `desired`.
pub(super) fn read(conn: &Connection<'_>, options: &Options, project: &Project, desired: &[Object]) -> Result<Read> {
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
    let trim: &dyn Fn(&mut crate::yaml::Value) = if conn.trim { &crate::diff::trim_live } else { &|_| {} };
    let live = session.read_trimmed(&wanted(desired.iter()), trim)?;
    let parse = |objects: Vec<crate::yaml::Value>| -> Vec<Object> {
        objects.into_iter().filter_map(|v| Object::from_value(v).ok()).collect()
    };
    let (managed, foreign) = (parse(live.managed), parse(live.foreign));
    let findings = crate::diff::conflicts::find(desired, &managed, &foreign, project.name.as_deref());
    Ok(Read { session, managed, findings })
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

/// The objects to look up or dry-run.
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
    let desired = manifests
        .iter()
        .map(|m| Object::from_yaml(&m.text))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("meshgen rendered a document it cannot read back ({e}); please report it"))?;
    let conn = Connection {
        kubeconfig: args.kubeconfig.as_deref(),
        context: args.context.as_deref(),
        namespaces: &args.namespace,
        timeout: args.timeout,
        concurrency: usize::from(super::args::CONCURRENCY),
        selector: args.selector.as_deref(),
        trim: true,
    };
    let read = read(&conn, options, &c.project, &desired)?;
    c.timings.mark("cluster read");
    let entity: HashMap<&Key, &str> = desired.iter().zip(manifests).map(|(o, m)| (&o.key, &*m.entity)).collect();
    let origins = c.inventory.as_ref().map(crate::render::origins).unwrap_or_default();
    let fallback = Origin::new(&c.project.file, 0, "");
    let found = read
        .findings
        .into_iter()
        .map(|f| {
            let at = entity
                .get(&f.ours)
                .and_then(|e| origins.get(e))
                .map_or_else(|| fallback.clone(), |o| (*o).clone().key());
            Diagnostic::warning(f.code, at, f.message).help(f.help)
        })
        .collect();
    c.add_live(found, options);
    Ok(read.session.server().to_string())
}
