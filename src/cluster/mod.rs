//! Stage 7, `cluster` (feature `cluster`): the live objects, read through the kube client.
//!
//! Takes the kubeconfig options, the kinds meshgen emits and the desired objects; returns
//! the live objects as the API server sends them (JSON documents), in the `apiVersion`
//! meshgen emits: every object of those kinds carrying meshgen's label (paginated, the kinds
//! in parallel), plus, by name, each desired object the label did not find (someone may
//! have applied it by hand, or stripped the label). It first asks discovery whether the
//! version is served, so a cluster without Istio's CRDs gets a clear error, not a 404.
//!
//! Read-only: discovery, `list` and `get` are all it asks, except with `--server-side`,
//! where each desired object is also sent as a server-side apply with `dryRun=All`, which
//! the API server evaluates (defaults, admission) and discards.
//!
//! The tokio runtime lives only inside [`read`]: nothing else in meshgen is async.

mod error;

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use futures_util::StreamExt as _;
use kube::core::Request;
use kube::core::params::{GetParams, ListParams, Patch, PatchParams};
use serde_json::Value;

pub use error::{Error, Op};

/// The label meshgen's objects carry (`app.kubernetes.io/managed-by=meshgen`).
const SELECTOR: &str = "app.kubernetes.io/managed-by=meshgen";
/// Objects per list page.
const PAGE: u32 = 500;
/// Requests in flight at once for gets and dry-run applies.
const CONCURRENCY: usize = 8;
/// The field manager of dry-run applies (the one `kubectl apply --server-side` of
/// meshgen's output should use too).
const FIELD_MANAGER: &str = "meshgen";

/// How to reach the cluster.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The kubeconfig file (default: KUBECONFIG, `~/.kube/config`, in-cluster).
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context (default: the current one).
    pub context: Option<String>,
    /// Only this namespace (default: all).
    pub namespace: Option<String>,
    /// The limit for each request.
    pub timeout: Duration,
    /// Also dry-run apply each desired object.
    pub server_side: bool,
}

/// A desired object to look up (and, with `--server-side`, dry-run apply).
#[derive(Debug, Clone, Copy)]
pub struct Wanted<'a> {
    /// Kind.
    pub kind: &'a str,
    /// Namespace.
    pub namespace: &'a str,
    /// Name.
    pub name: &'a str,
    /// The whole document.
    pub body: &'a Value,
}

/// What the cluster holds.
#[derive(Debug, Default)]
pub struct Live {
    /// The API server's URL.
    pub server: String,
    /// The live objects found (by label, or by name).
    pub objects: Vec<Value>,
    /// With `--server-side`: what the API server would store for each wanted object, in
    /// the order they were given.
    pub applied: Vec<Value>,
}

/// Reads the live objects of `kinds`, each given as (`group/version`, kind): Istio's kinds
/// live in two groups (networking and security).
pub fn read(opts: &Options, kinds: &[(&str, &str)], wanted: &[Wanted<'_>]) -> Result<Live, Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| Error::Config(format!("cannot start the I/O runtime: {e}")))?;
    runtime.block_on(read_async(opts, kinds, wanted))
}

/// A client with what its errors need to say.
struct Cluster {
    client: kube::Client,
    server: String,
    timeout: Duration,
}

impl Cluster {
    /// Sends one request within the timeout; classifies failures.
    async fn send(
        &self,
        op: &Op,
        request: Result<http::Request<Vec<u8>>, kube::core::request::Error>,
    ) -> Result<Value, Error> {
        let request = request.map_err(|e| Error::Config(format!("cannot build the request to {op}: {e}")))?;
        match tokio::time::timeout(self.timeout, self.client.request::<Value>(request)).await {
            Err(_) => Err(Error::Timeout { op: op.clone(), after: self.timeout, server: self.server.clone() }),
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.classify(op, e)),
        }
    }

    fn classify(&self, op: &Op, e: kube::Error) -> Error {
        match e {
            kube::Error::Api(status) => match status.code {
                401 => Error::Unauthorized { server: self.server.clone(), message: status.message },
                403 => Error::Forbidden { op: op.clone(), message: status.message },
                code => Error::Api { op: op.clone(), code, reason: status.reason, message: status.message },
            },
            other => {
                let cause = chain(&other);
                if cause.contains("timed out") || cause.contains("deadline has elapsed") {
                    Error::Timeout { op: op.clone(), after: self.timeout, server: self.server.clone() }
                } else {
                    Error::Unreachable { server: self.server.clone(), cause }
                }
            }
        }
    }
}

/// An error and its causes on one line, each cause once (kube's messages often repeat
/// their source).
fn chain(e: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(e);
    while let Some(err) = next {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = err.source();
    }
    parts.join(": ")
}

async fn connect(opts: &Options) -> Result<Cluster, Error> {
    let options = kube::config::KubeConfigOptions { context: opts.context.clone(), ..Default::default() };
    let mut config = match &opts.kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .map_err(|e| Error::Config(format!("`{}`: {}", path.display(), chain(&e))))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &options).await.map_err(|e| Error::Config(chain(&e)))?
        }
        None if opts.context.is_some() => {
            kube::Config::from_kubeconfig(&options).await.map_err(|e| Error::Config(chain(&e)))?
        }
        None => kube::Config::infer().await.map_err(|e| Error::Config(chain(&e)))?,
    };
    config.connect_timeout = Some(opts.timeout);
    config.read_timeout = Some(opts.timeout);
    config.write_timeout = Some(opts.timeout);
    let server = config.cluster_url.to_string().trim_end_matches('/').to_string();
    let client =
        kube::Client::try_from(config).map_err(|e| Error::Unreachable { server: server.clone(), cause: chain(&e) })?;
    Ok(Cluster { client, server, timeout: opts.timeout })
}

/// A resource: its group/version, plural and whether it is namespaced.
#[derive(Debug, Clone)]
struct Resource {
    group: String,
    version: String,
    kind: String,
    plural: String,
    namespaced: bool,
}

/// Asks discovery for the resources of `group/version`; a 404 is explained from `/apis`.
async fn discover(cluster: &Cluster, group: &str, version: &str, kinds: &[&str]) -> Result<Vec<Resource>, Error> {
    let path = format!("/apis/{group}/{version}");
    let op = Op { verb: "get", resource: path.clone(), namespace: None };
    let list = match cluster.send(&op, http_get(&path)).await {
        Ok(list) => list,
        Err(Error::Api { code: 404, .. }) => {
            let op = Op { verb: "get", resource: "/apis".into(), namespace: None };
            let groups = cluster.send(&op, http_get("/apis")).await?;
            let served: Option<Vec<String>> = groups["groups"].as_array().and_then(|gs| {
                gs.iter().find(|g| g["name"] == group).map(|g| {
                    g["versions"]
                        .as_array()
                        .map(|vs| vs.iter().filter_map(|v| v["version"].as_str().map(str::to_string)).collect())
                        .unwrap_or_default()
                })
            });
            return Err(match served {
                None => Error::GroupMissing { group: group.into() },
                Some(served) => Error::VersionNotServed { group: group.into(), version: version.into(), served },
            });
        }
        Err(e) => return Err(e),
    };
    let mut found = Vec::new();
    for kind in kinds {
        // Subresources (`serviceentries/status`) share the kind; the plain name is the one.
        let resource = list["resources"].as_array().and_then(|rs| {
            rs.iter().find(|r| r["kind"] == *kind && r["name"].as_str().is_some_and(|n| !n.contains('/')))
        });
        let Some(r) = resource else {
            return Err(Error::KindMissing { kind: kind.to_string(), api_version: format!("{group}/{version}") });
        };
        found.push(Resource {
            group: group.to_string(),
            version: version.to_string(),
            kind: kind.to_string(),
            plural: r["name"].as_str().unwrap_or_default().to_string(),
            namespaced: r["namespaced"].as_bool().unwrap_or(true),
        });
    }
    Ok(found)
}

fn http_get(path: &str) -> Result<http::Request<Vec<u8>>, kube::core::request::Error> {
    http::Request::get(path).body(Vec::new()).map_err(kube::core::request::Error::BuildRequest)
}

/// The collection path of a resource, in a namespace or across all.
fn collection(r: &Resource, namespace: Option<&str>) -> String {
    let (group, version) = (&r.group, &r.version);
    match namespace.filter(|_| r.namespaced) {
        Some(ns) => format!("/apis/{group}/{version}/namespaces/{ns}/{}", r.plural),
        None => format!("/apis/{group}/{version}/{}", r.plural),
    }
}

impl Resource {
    /// How errors name it: `serviceentries.networking.istio.io`.
    fn name(&self) -> String {
        format!("{}.{}", self.plural, self.group)
    }
}

/// Every object of a resource that carries meshgen's label, page by page.
async fn list_labelled(cluster: &Cluster, r: &Resource, namespace: Option<&str>) -> Result<Vec<Value>, Error> {
    let request = Request::new(collection(r, namespace));
    let op = Op { verb: "list", resource: r.name(), namespace: namespace.map(str::to_string) };
    let mut objects = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut params = ListParams::default().labels(SELECTOR).limit(PAGE);
        if let Some(t) = &token {
            params = params.continue_token(t);
        }
        let mut page = cluster.send(&op, request.list(&params)).await?;
        if let Some(items) = page.get_mut("items").and_then(Value::as_array_mut) {
            for mut item in items.drain(..) {
                // Items of a list may leave out their type; the list's request says it.
                if let Some(map) = item.as_object_mut() {
                    map.entry("apiVersion").or_insert_with(|| Value::from(format!("{}/{}", r.group, r.version)));
                    map.entry("kind").or_insert_with(|| Value::from(r.kind.clone()));
                }
                objects.push(item);
            }
        }
        token = page["metadata"]["continue"].as_str().filter(|t| !t.is_empty()).map(str::to_string);
        if token.is_none() {
            return Ok(objects);
        }
    }
}

async fn read_async(opts: &Options, kinds: &[(&str, &str)], wanted: &[Wanted<'_>]) -> Result<Live, Error> {
    let cluster = connect(opts).await?;
    // One discovery per group/version, in the order first named.
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for (api_version, kind) in kinds {
        match groups.iter_mut().find(|(g, _)| g == api_version) {
            Some((_, list)) => list.push(kind),
            None => groups.push((api_version, vec![kind])),
        }
    }
    let mut resources = Vec::new();
    for (api_version, kinds) in &groups {
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        resources.extend(discover(&cluster, group, version, kinds).await?);
    }
    let by_kind: BTreeMap<&str, &Resource> = resources.iter().map(|r| (r.kind.as_str(), r)).collect();
    let namespace = opts.namespace.as_deref();
    let (cluster, by_kind) = (&cluster, &by_kind);

    // Every kind at once: the lists are independent and mostly waiting on the network.
    let lists = futures_util::future::join_all(resources.iter().map(|r| list_labelled(cluster, r, namespace))).await;
    let mut objects = Vec::new();
    for list in lists {
        objects.extend(list?);
    }

    // Desired objects the label did not find may still exist (applied by hand, label
    // removed): each is asked for by name, so it shows as an update, not a create.
    let seen: HashSet<(String, String, String)> = objects.iter().map(identity).collect();
    let missing: Vec<&Wanted<'_>> = wanted
        .iter()
        .filter(|w| !seen.contains(&(w.kind.to_string(), w.namespace.to_string(), w.name.to_string())))
        .collect();
    let gets = futures_util::stream::iter(missing.into_iter().filter_map(|w| {
        let r = by_kind.get(w.kind)?;
        Some(async move {
            let request = Request::new(collection(r, Some(w.namespace)));
            let op = Op { verb: "get", resource: r.name(), namespace: Some(w.namespace.into()) };
            match cluster.send(&op, request.get(w.name, &GetParams::default())).await {
                Ok(v) => Ok(Some(v)),
                Err(Error::Api { code: 404, .. }) => Ok(None),
                Err(e) => Err(e),
            }
        })
    }))
    .buffer_unordered(CONCURRENCY)
    .collect::<Vec<_>>()
    .await;
    for got in gets {
        objects.extend(got?);
    }

    let mut applied = Vec::new();
    if opts.server_side {
        let params = PatchParams::apply(FIELD_MANAGER).force().dry_run();
        let results = futures_util::stream::iter(wanted.iter().map(|w| {
            let params = &params;
            async move {
                let r = by_kind.get(w.kind).ok_or_else(|| Error::KindMissing {
                    kind: w.kind.to_string(),
                    api_version: w.body["apiVersion"].as_str().unwrap_or_default().to_string(),
                })?;
                let request = Request::new(collection(r, Some(w.namespace)));
                let op = Op { verb: "patch", resource: r.name(), namespace: Some(w.namespace.into()) };
                cluster.send(&op, request.patch(w.name, params, &Patch::Apply(w.body))).await
            }
        }))
        // `buffered`, not `buffer_unordered`: the results must keep the wanted order.
        .buffered(CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
        for r in results {
            applied.push(r?);
        }
    }
    Ok(Live { server: cluster.server.clone(), objects, applied })
}

fn identity(v: &Value) -> (String, String, String) {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    (s(&v["kind"]), s(&v["metadata"]["namespace"]), s(&v["metadata"]["name"]))
}
