//! Stage 7, `cluster` (feature `cluster`): the live objects, read through the kube client.
//!
//! [`connect`] reads the kubeconfig (`config`) and asks discovery whether the API version
//! meshgen emits is served (so a cluster without Istio's CRDs gets a clear error, not a 404).
//! [`Session::read`] then returns the live objects, in that version, each held as its JSON
//! text ([`LiveObject`], trimmed as it is read), with two lists per kind (across all
//! namespaces, or per namespace asked for): the objects of the project's label selector,
//! and every object.
//! The second gives the desired objects the selector missed (applied by hand, label
//! stripped), which must show as updates, not creates, and every object of another owner,
//! which may conflict with meshgen's (`diff::conflicts`). So the number of lists grows with
//! kinds and namespaces, never with objects (a list of more than 500 objects comes in pages,
//! as kubectl reads it). The second lists run after the first, and drop every object the
//! first returned as each page is read: one copy of each object is held, not two. A page is
//! read into its items' text, and each item only as far as its identity before it is kept
//! or dropped (`diff::live`): no page is ever a tree.
//!
//! Read-only: discovery and `list` are all [`Session::read`] asks. [`Session::dry_run`]
//! (`--server-side`) sends objects as server-side applies with `dryRun=All`, which the API
//! server evaluates (defaults, admission, field ownership) and discards.
//!
//! The tokio runtime lives inside the [`Session`]: nothing else in meshgen is async.

mod config;
mod error;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::StreamExt as _;
use kube::core::Request;
use kube::core::params::{ListParams, Patch, PatchParams};
use serde_json::Value;

pub use error::{Error, Op, Refusal};

use crate::diff::live::{LiveObject, Page, Trim};
use crate::diff::server_side::Evaluated;

/// The label meshgen's objects carry (`app.kubernetes.io/managed-by=meshgen`).
pub const MANAGED: &str = "app.kubernetes.io/managed-by=meshgen";
/// Objects per list page.
const PAGE: u32 = 500;
/// How often a throttled (429) request is sent again, and the first pause (doubling).
const THROTTLED_RETRIES: u32 = 3;
const THROTTLED_PAUSE: Duration = Duration::from_millis(500);

/// How to reach the cluster.
#[derive(Debug, Clone)]
pub struct Options {
    /// The kubeconfig file (default: KUBECONFIG, `~/.kube/config`, in-cluster).
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context (default: the current one).
    pub context: Option<String>,
    /// Only these namespaces (empty: all).
    pub namespaces: Vec<String>,
    /// The limit for each request.
    pub timeout: Duration,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// The label selector of the objects that are this project's (its prune set).
    pub selector: String,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            kubeconfig: None,
            context: None,
            namespaces: Vec::new(),
            timeout: Duration::from_secs(30),
            concurrency: 8,
            selector: MANAGED.to_string(),
        }
    }
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

/// The live objects of the kinds meshgen emits, in the namespaces asked for.
#[derive(Debug, Default)]
pub struct Live {
    /// This project's objects (the selector's), and the desired objects found by name.
    pub managed: Vec<LiveObject>,
    /// Every other object: what meshgen does not manage, which may conflict with it
    /// (trimmed: `diff::conflicts` reads their spec and metadata only).
    pub foreign: Vec<LiveObject>,
}

/// A connection to one cluster: the runtime, the client and the resources discovered.
pub struct Session {
    runtime: tokio::runtime::Runtime,
    cluster: Cluster,
    resources: Vec<Resource>,
    namespaces: Vec<String>,
    concurrency: usize,
    selector: String,
    context: Option<String>,
}

/// Connects (reading the kubeconfig) and discovers `kinds`, each given as (`group/version`,
/// kind): Istio's kinds live in two groups (networking and security).
pub fn connect(opts: &Options, kinds: &[(&str, &str)]) -> Result<Session, Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| Error::Config(format!("cannot start the I/O runtime: {e}")))?;
    let (cluster, context, resources) = runtime.block_on(async {
        let loaded = config::load(opts.kubeconfig.as_deref(), opts.context.as_deref(), opts.timeout).await?;
        let server = loaded.config.cluster_url.to_string().trim_end_matches('/').to_string();
        let plugin = loaded.plugin;
        let client = kube::Client::try_from(loaded.config).map_err(|e| {
            config::plugin_error(&e, plugin.as_ref())
                .unwrap_or_else(|| Error::Unreachable { server: server.clone(), cause: chain(&e) })
        })?;
        let cluster = Cluster { client, server, timeout: opts.timeout, plugin, requests: AtomicUsize::new(0) };
        let resources = discover_all(&cluster, kinds).await?;
        Ok::<_, Error>((cluster, loaded.context, resources))
    })?;
    Ok(Session {
        runtime,
        cluster,
        resources,
        namespaces: opts.namespaces.clone(),
        concurrency: opts.concurrency.max(1),
        selector: opts.selector.clone(),
        context,
    })
}

impl Session {
    /// The API server's URL.
    pub fn server(&self) -> &str {
        &self.cluster.server
    }

    /// The kubeconfig context used (none in a pod).
    pub fn context(&self) -> Option<&str> {
        self.context.as_deref()
    }

    /// How many requests were sent so far (discovery included).
    pub fn requests(&self) -> usize {
        self.cluster.requests.load(Ordering::Relaxed)
    }

    /// The live objects: this project's (by the selector) and each of `wanted` (kind,
    /// namespace, name) found by name, and the others. `trim` says what of this project's
    /// objects the caller will never look at: it is left out as each page is read, instead
    /// of being held with every other object (a cluster's objects carry their status,
    /// `managedFields` and kubectl's last-applied copy of themselves).
    pub fn read<'w>(
        &self,
        wanted: impl IntoIterator<Item = (&'w str, &'w str, &'w str)>,
        trim: Trim,
    ) -> Result<Live, Error> {
        let wanted: HashSet<(&str, &str, &str)> = wanted.into_iter().collect();
        self.runtime.block_on(self.read_async(&wanted, trim))
    }

    /// Every live object of the kinds, in the namespaces of the session (all, or `-n`), of
    /// `selector` if one is given: what `meshgen import --cluster` reads. Server-written
    /// fields are left for the reader to ignore.
    pub fn everything(&self, selector: Option<&str>) -> Result<Vec<Value>, Error> {
        self.runtime.block_on(async {
            let scopes = self.scopes();
            let lists = self.resources.iter().flat_map(|r| scopes.iter().map(move |ns| (r, *ns, selector))).collect();
            // Trees, as `import` reads them: every object once, few of them.
            let tree = |r: &Resource, body: &str, out: &mut Vec<Value>, _: &mut String| {
                let mut page: Value = serde_json::from_str(body)?;
                if let Some(items) = page.get_mut("items").and_then(Value::as_array_mut) {
                    for mut item in items.drain(..) {
                        // Items of a list may leave out their type; the list's request says it.
                        if let Some(map) = item.as_object_mut() {
                            map.entry("apiVersion").or_insert_with(|| Value::from(r.api_version.clone()));
                            map.entry("kind").or_insert_with(|| Value::from(r.kind.clone()));
                        }
                        out.push(item);
                    }
                }
                Ok(page["metadata"]["continue"].as_str().filter(|t| !t.is_empty()).map(str::to_string))
            };
            Ok(self.lists(lists, &tree).await?.into_iter().flatten().collect())
        })
    }

    /// Dry-run applies each of `wanted` as `field_manager`; the results in `wanted`'s order.
    pub fn dry_run(&self, wanted: &[Wanted<'_>], field_manager: &str) -> Result<Vec<Evaluated>, Error> {
        self.runtime.block_on(self.dry_run_async(wanted, field_manager))
    }
}

/// A client with what its errors need to say.
struct Cluster {
    client: kube::Client,
    server: String,
    timeout: Duration,
    /// The kubeconfig user's credential plugin, to explain its failures.
    plugin: Option<config::Plugin>,
    /// Requests sent (`--timings` reports them: the cost of a cluster diff is its round trips).
    requests: AtomicUsize,
}

impl Cluster {
    /// Sends one request within the timeout and parses its JSON answer; classifies failures.
    async fn send(
        &self,
        op: &Op,
        request: impl Fn() -> Result<http::Request<Vec<u8>>, kube::core::request::Error>,
    ) -> Result<Value, Error> {
        let text = self.send_text(op, request).await?;
        serde_json::from_str(&text).map_err(|e| self.unreadable(op, e))
    }

    /// An answer that is not the JSON expected, classified as kube's client classifies it.
    fn unreadable(&self, op: &Op, e: serde_json::Error) -> Error {
        self.classify(op, kube::Error::SerdeError(e))
    }

    /// Sends one request within the timeout; its body as text, or the failure classified. A
    /// request the API server turns away with 429 (API Priority and Fairness) is sent again
    /// after a pause, a few times, as client-go does, before it is reported as throttled.
    async fn send_text(
        &self,
        op: &Op,
        request: impl Fn() -> Result<http::Request<Vec<u8>>, kube::core::request::Error>,
    ) -> Result<String, Error> {
        let mut pause = THROTTLED_PAUSE;
        for attempt in 0.. {
            let request = request().map_err(|e| Error::Config(format!("cannot build the request to {op}: {e}")))?;
            self.requests.fetch_add(1, Ordering::Relaxed);
            let result = match tokio::time::timeout(self.timeout, self.client.request_text(request)).await {
                Err(_) => Err(Error::Timeout { op: op.clone(), after: self.timeout, server: self.server.clone() }),
                Ok(Ok(v)) => Ok(v),
                Ok(Err(e)) => Err(self.classify(op, e)),
            };
            match result {
                Err(Error::Throttled { .. }) if attempt < THROTTLED_RETRIES => {
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
                other => return other,
            }
        }
        unreachable!("the loop returns")
    }

    fn classify(&self, op: &Op, e: kube::Error) -> Error {
        if let Some(credentials) = config::plugin_error(&e, self.plugin.as_ref()) {
            return credentials;
        }
        match e {
            kube::Error::Api(status) => match status.code {
                401 => Error::Unauthorized { server: self.server.clone(), message: status.message },
                403 => Error::Forbidden { op: op.clone(), message: status.message },
                429 => Error::Throttled { op: op.clone(), message: status.message },
                code => {
                    let (details_kind, causes) = match status.details {
                        Some(d) => (d.kind, d.causes.into_iter().map(|c| (c.field, c.message)).collect()),
                        None => (String::new(), Vec::new()),
                    };
                    Error::Api(Box::new(Refusal {
                        op: op.clone(),
                        code,
                        reason: status.reason,
                        message: status.message,
                        details_kind,
                        causes,
                    }))
                }
            },
            other => {
                let cause = chain(&other);
                if cause.contains("timed out") || cause.contains("deadline has elapsed") {
                    Error::Timeout { op: op.clone(), after: self.timeout, server: self.server.clone() }
                } else if cause.contains("invalid peer certificate") || cause.contains("certificate verify failed") {
                    Error::Untrusted { server: self.server.clone(), cause }
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

/// A resource: its group/version, plural and whether it is namespaced.
#[derive(Debug, Clone)]
struct Resource {
    group: String,
    version: String,
    /// `group/version`, as a list's items carry it.
    api_version: String,
    kind: String,
    plural: String,
    namespaced: bool,
}

/// Asks discovery for the resources of `group/version`; a 404 is explained from `/apis`.
async fn discover(cluster: &Cluster, group: &str, version: &str, kinds: &[&str]) -> Result<Vec<Resource>, Error> {
    let path = format!("/apis/{group}/{version}");
    let op = Op { verb: "get", resource: path.clone(), namespace: None };
    let list = match cluster.send(&op, || http_get(&path)).await {
        Ok(list) => list,
        Err(Error::Api(r)) if r.code == 404 => {
            let op = Op { verb: "get", resource: "/apis".into(), namespace: None };
            let groups = cluster.send(&op, || http_get("/apis")).await?;
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
            api_version: format!("{group}/{version}"),
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

/// What a list makes of each of its pages: from the page's text, the objects to keep (and
/// a buffer to reuse), and the token of the next page.
type Decode<'a, T> =
    dyn Fn(&Resource, &str, &mut Vec<T>, &mut String) -> Result<Option<String>, serde_json::Error> + 'a;

/// Every object of a resource (in a namespace, or all), those matching `selector` if one
/// is given, page by page; `decode` reads each page and keeps what it wants of it. Each
/// page is freed before the next is asked for.
async fn list<T>(
    cluster: &Cluster,
    r: &Resource,
    namespace: Option<&str>,
    selector: Option<&str>,
    decode: &Decode<'_, T>,
) -> Result<Vec<T>, Error> {
    let request = Request::new(collection(r, namespace));
    let op = Op { verb: "list", resource: r.name(), namespace: namespace.map(str::to_string) };
    let mut objects = Vec::new();
    let mut token: Option<String> = None;
    let mut scratch = String::new();
    loop {
        let mut params = ListParams::default().limit(PAGE);
        if let Some(selector) = selector {
            params = params.labels(selector);
        }
        if let Some(t) = &token {
            params = params.continue_token(t);
        }
        let body = cluster.send_text(&op, || request.list(&params)).await?;
        token = decode(r, &body, &mut objects, &mut scratch).map_err(|e| cluster.unreadable(&op, e))?;
        if token.is_none() {
            return Ok(objects);
        }
    }
}

/// Discovers the resources of every group/version named, one request per group/version.
async fn discover_all(cluster: &Cluster, kinds: &[(&str, &str)]) -> Result<Vec<Resource>, Error> {
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
        resources.extend(discover(cluster, group, version, kinds).await?);
    }
    Ok(resources)
}

impl Session {
    /// Where lists go: across all namespaces, or in each `-n` namespace.
    fn scopes(&self) -> Vec<Option<&str>> {
        if self.namespaces.is_empty() {
            vec![None]
        } else {
            self.namespaces.iter().map(|ns| Some(ns.as_str())).collect()
        }
    }

    async fn read_async(&self, wanted: &HashSet<(&str, &str, &str)>, trim: Trim) -> Result<Live, Error> {
        // Every kind (and namespace asked for) at once, twice: the objects of the selector
        // (meshgen's label, and the project's), then every object, unlabelled. The lists of
        // each round are independent and mostly waiting on the network.
        let scopes = self.scopes();
        let selector = Some(self.selector.as_str());
        let labelled = self.resources.iter().flat_map(|r| scopes.iter().map(move |ns| (r, *ns, selector))).collect();
        let all = self.resources.iter().flat_map(|r| scopes.iter().map(move |ns| (r, *ns, None))).collect();
        let ours = |r: &Resource, body: &str, out: &mut Vec<LiveObject>, scratch: &mut String| {
            let page = Page::parse(body, &r.api_version, &r.kind)?;
            out.extend(page.items.iter().filter_map(|item| item.keep(trim, scratch)));
            Ok(page.next)
        };
        let mut managed: Vec<LiveObject> = self.lists(labelled, &ours).await?.into_iter().flatten().collect();

        // Desired objects the selector did not find may still exist (applied by hand, label
        // removed, another project's) and must show as updates, not creates; the rest is
        // what meshgen does not manage, which may conflict with what it does. The objects
        // of the selector come again in the second round: each is dropped as its page is
        // read, having been read only as far as its identity, so a cluster's worth of
        // duplicates is never held (nor decoded). Another owner's objects are only ever
        // looked at for their spec and metadata (`diff::conflicts`): they are trimmed too.
        let everything = {
            let seen: HashSet<(&str, &str, &str)> =
                managed.iter().map(|o| (&*o.key.kind, &*o.key.namespace, &*o.key.name)).collect();
            let new = |r: &Resource, body: &str, out: &mut Vec<(bool, LiveObject)>, scratch: &mut String| {
                let page = Page::parse(body, &r.api_version, &r.kind)?;
                for item in &page.items {
                    let (kind, namespace, name) = item.identity();
                    let id = (&*kind, &*namespace, &*name);
                    if seen.contains(&id) {
                        continue;
                    }
                    let desired = wanted.contains(&id);
                    let trim = if desired { trim } else { Trim::ServerState };
                    out.extend(item.keep(trim, scratch).map(|o| (desired, o)));
                }
                Ok(page.next)
            };
            self.lists(all, &new).await?
        };
        let mut foreign = Vec::new();
        for (desired, o) in everything.into_iter().flatten() {
            if desired { managed.push(o) } else { foreign.push(o) }
        }
        Ok(Live { managed, foreign })
    }

    /// Runs the lists, `concurrency` at a time, each item through `decode` (see [`list`]);
    /// the objects of each, in the order of `lists`.
    async fn lists<T>(
        &self,
        lists: Vec<(&Resource, Option<&str>, Option<&str>)>,
        decode: &Decode<'_, T>,
    ) -> Result<Vec<Vec<T>>, Error> {
        let cluster = &self.cluster;
        let pages = futures_util::stream::iter(
            lists.into_iter().map(|(r, ns, selector)| list(cluster, r, ns, selector, decode)),
        )
        .buffered(self.concurrency)
        .collect::<Vec<_>>()
        .await;
        pages.into_iter().collect()
    }

    async fn dry_run_async(&self, wanted: &[Wanted<'_>], field_manager: &str) -> Result<Vec<Evaluated>, Error> {
        let (cluster, resources) = (&self.cluster, &self.resources);
        let results = futures_util::stream::iter(wanted.iter().map(|w| async move {
            let r = resources.iter().find(|r| r.kind == w.kind).ok_or_else(|| Error::KindMissing {
                kind: w.kind.to_string(),
                api_version: w.body["apiVersion"].as_str().unwrap_or_default().to_string(),
            })?;
            let request = Request::new(collection(r, Some(w.namespace)));
            let op = Op { verb: "patch", resource: r.name(), namespace: Some(w.namespace.into()) };
            // Without force first, as `kubectl diff --server-side` does: a conflict is
            // something the next sync meets, so it is reported, then forced to see the rest.
            let params = PatchParams::apply(field_manager).dry_run();
            match cluster.send(&op, || request.patch(w.name, &params, &Patch::Apply(w.body))).await {
                Ok(object) => Ok(Evaluated::Applied { object, conflicts: Vec::new() }),
                Err(Error::Api(r)) if r.code == 409 => {
                    let forced = params.force();
                    let object = cluster.send(&op, || request.patch(w.name, &forced, &Patch::Apply(w.body))).await?;
                    Ok(Evaluated::Applied { object, conflicts: r.causes })
                }
                Err(Error::Api(r)) if r.code == 404 && r.details_kind == "namespaces" => Ok(Evaluated::NoNamespace),
                Err(e) => Err(e),
            }
        }))
        // `buffered`, not `buffer_unordered`: the results must keep the wanted order.
        .buffered(self.concurrency)
        .collect::<Vec<_>>()
        .await;
        results.into_iter().collect()
    }
}
