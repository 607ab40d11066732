//! `meshgen diff --cluster` against a fake Kubernetes API server (tests/common/kube_api.rs)
//! that `kubectl` itself accepts: every action, every normalisation, ignore paths, each exit
//! code and error message, the JSON and Markdown reports, `--server-side`, and that a diff
//! never writes.

#![cfg(feature = "cluster")]

use crate::common;
#[path = "common/kube_api.rs"]
pub(crate) mod kube_api;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{Run, build_stdout, documents, meshgen, root, scratch_copy};
use kube_api::{ApiServer, live};
use serde_json::{Value, json};

/// The bundled inventory's objects, as `meshgen build` renders them.
pub(crate) fn desired() -> &'static [Value] {
    static DESIRED: OnceLock<Vec<Value>> = OnceLock::new();
    DESIRED.get_or_init(|| {
        let tmp = scratch_copy(&root());
        documents(&build_stdout(tmp.path())).iter().map(|d| serde_json::to_value(d).unwrap()).collect()
    })
}

/// A project (the bundled inventory) and a fake cluster holding `objects`.
pub(crate) struct Cluster {
    pub(crate) project: tempfile::TempDir,
    pub(crate) server: ApiServer,
    pub(crate) kubeconfig: PathBuf,
}

impl Cluster {
    pub(crate) fn with(objects: Vec<Value>) -> Cluster {
        let project = scratch_copy(&root());
        let server = ApiServer::start(objects);
        let kubeconfig = project.path().join("kubeconfig");
        std::fs::write(&kubeconfig, server.kubeconfig(&server.token)).unwrap();
        Cluster { project, server, kubeconfig }
    }

    /// A cluster where the inventory was applied (server fields and all).
    pub(crate) fn applied() -> Cluster {
        Cluster::with(applied(|_| {}))
    }

    pub(crate) fn diff(&self, extra: &[&str]) -> Run {
        let mut args = vec!["diff", "--cluster", "--kubeconfig", self.kubeconfig.to_str().unwrap()];
        args.extend(extra);
        meshgen(self.project.path(), &args)
    }

    pub(crate) fn assert_read_only(&self) {
        let requests = self.server.requests();
        assert!(!requests.is_empty());
        let writes: Vec<_> = requests.iter().filter(|r| r.writes()).collect();
        assert!(writes.is_empty(), "the diff wrote: {writes:#?}");
    }
}

/// The live objects of an applied inventory, each changed by `edit` first.
pub(crate) fn applied(edit: impl Fn(&mut Value)) -> Vec<Value> {
    desired()
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let mut o = live(d.clone(), i);
            edit(&mut o);
            o
        })
        .collect()
}

pub(crate) fn named<'a>(objects: &'a mut [Value], kind: &str, namespace: &str, name: &str) -> &'a mut Value {
    objects
        .iter_mut()
        .find(|o| o["kind"] == kind && o["metadata"]["namespace"] == namespace && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {namespace}/{name}"))
}

/// Objects as the cluster's other tenants leave them: stored in `v1beta1` (meshgen asks for
/// `v1` and gets them converted), with Argo CD's and kubectl's annotations and labels.
fn as_argo_cd_left_them(o: &mut Value) {
    let group = o["apiVersion"].as_str().and_then(|a| a.split_once('/')).map(|(g, _)| g.to_string()).unwrap();
    o["apiVersion"] = json!(format!("{group}/v1beta1"));
    let md = &mut o["metadata"];
    md["annotations"]["argocd.argoproj.io/tracking-id"] = json!("shop:networking.istio.io/Kind:ns/name");
    md["annotations"]["kubectl.kubernetes.io/restartedAt"] = json!("2025-03-01T10:00:00Z");
    md["labels"]["app.kubernetes.io/instance"] = json!("shop");
}

#[test]
fn an_applied_inventory_shows_no_change_and_the_diff_only_reads() {
    let c = Cluster::with(applied(as_argo_cd_left_them));
    // Every server-owned field is there to be ignored.
    for o in &c.server.state.lock().unwrap().objects {
        for f in ["uid", "resourceVersion", "generation", "creationTimestamp", "managedFields"] {
            assert!(o["metadata"].get(f).is_some(), "{f}");
        }
        assert!(o["metadata"]["annotations"].get("kubectl.kubernetes.io/last-applied-configuration").is_some());
        assert!(o.get("status").is_some());
    }
    let r = c.diff(&[]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stdout, format!("no changes: {} objects unchanged\n", desired().len()));
    c.assert_read_only();
    let lists: Vec<_> =
        c.server.requests().into_iter().filter(|r| r.path.ends_with('s') && r.query.contains_key("limit")).collect();
    let plurals: Vec<&str> = lists.iter().map(|r| r.path.rsplit('/').next().unwrap()).collect();
    for plural in kube_api::RESOURCES.iter().map(|r| r.2) {
        assert!(plurals.contains(&plural), "{plural} not listed: {plurals:?}");
    }
    for l in &lists {
        // Every namespace at once, in the version meshgen emits, by meshgen's label.
        let authz = l.path.ends_with("/authorizationpolicies");
        let group = if authz { "/apis/security.istio.io/v1/" } else { "/apis/networking.istio.io/v1/" };
        assert!(l.path.starts_with(group), "{}", l.path);
        assert!(!l.path.contains("/namespaces/"), "{}", l.path);
        // Unlabelled lists find what the label misses, and what conflicts with it.
        if let Some(selector) = l.query.get("labelSelector") {
            // The bundled project names no `project`: objects a named project labelled are
            // not its to prune.
            assert_eq!(selector, "app.kubernetes.io/managed-by=meshgen,!meshgen.dev/project");
        }
        assert_eq!(l.authorization, format!("Bearer {}", c.server.token));
    }
}

/// The cluster of the action tests: one object changed, one missing, one left over, one
/// that lost its label (found by name), and a foreign object meshgen must not touch.
fn drifted() -> Cluster {
    let mut objects = applied(|_| {});
    named(&mut objects, "DestinationRule", "shop", "catalog")["spec"]["trafficPolicy"]["outlierDetection"]["consecutive5xxErrors"] =
        json!(7);
    objects.retain(|o| !(o["kind"] == "ServiceEntry" && o["metadata"]["name"] == "search"));
    let unlabelled = named(&mut objects, "ServiceEntry", "data", "inventory-db");
    unlabelled["metadata"].as_object_mut().unwrap().remove("labels");
    let mut gone = named(&mut objects, "Gateway", "shop", "cdn-assets-egress").clone();
    gone["metadata"]["name"] = json!("old-egress");
    objects.push(gone);
    let mut foreign = named(&mut objects, "ServiceEntry", "shop", "catalog").clone();
    foreign["metadata"]["name"] = json!("hand-made");
    foreign["metadata"].as_object_mut().unwrap().remove("labels");
    // A host of its own: it conflicts with nothing meshgen declares.
    foreign["spec"]["hosts"] = json!(["legacy.shop.internal"]);
    objects.push(foreign);
    Cluster::with(objects)
}

#[test]
fn create_update_prune_and_unchanged_are_reported_in_order() {
    let c = drifted();
    let r = c.diff(&[]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let titles: Vec<&str> =
        r.stdout.lines().filter(|l| ["+ create ", "~ update ", "- prune "].iter().any(|p| l.starts_with(p))).collect();
    assert_eq!(
        titles,
        vec![
            "~ update DestinationRule shop/catalog",
            "- prune Gateway shop/old-egress",
            "~ update ServiceEntry data/inventory-db",
            "+ create ServiceEntry shop/search",
        ]
    );
    let unchanged = desired().len() - 3;
    assert!(
        r.stdout.ends_with(&format!("summary: 1 to create, 2 to update, 1 to prune, {unchanged} unchanged\n")),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("-      consecutive5xxErrors: 7\n+      consecutive5xxErrors: 5\n"), "{}", r.stdout);
    assert!(!r.stdout.contains("hand-made"), "an unlabelled object is not meshgen's to prune");
    c.assert_read_only();
    // The objects the label did not find were found in one unlabelled list per kind: never
    // one request per object.
    let requests = c.server.requests();
    assert!(requests.iter().all(|r| !r.path.contains("/namespaces/")), "a GET by name");
    let unlabelled =
        requests.iter().filter(|r| !r.query.contains_key("labelSelector") && r.query.contains_key("limit"));
    assert_eq!(unlabelled.count(), kube_api::RESOURCES.len());
}

#[test]
fn json_and_markdown_reports() {
    let c = drifted();
    let json = c.diff(&["--output", "json"]);
    assert_eq!(json.code, 1, "{}", json.stderr);
    let parsed: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(
        parsed["objects"][0]["changedPaths"],
        json!(["spec.trafficPolicy.outlierDetection.consecutive5xxErrors"])
    );
    assert_eq!(parsed["objects"][2]["changedPaths"], json!(["metadata.labels"]));
    assert_eq!(parsed["schemaVersion"], 2);
    assert_eq!(parsed["cluster"], json!({"server": c.server.url, "context": "fake"}));
    insta::with_settings!({filters => vec![(r"https://127\.0\.0\.1:\d+", "https://127.0.0.1:PORT")]}, {
        insta::assert_snapshot!("cluster_json", json.stdout);
    });
    let md = c.diff(&["--output", "markdown"]);
    assert_eq!(md.code, 1, "{}", md.stderr);
    insta::assert_snapshot!("cluster_markdown", md.stdout);
}

#[test]
fn ignored_differences_never_count() {
    let mut objects = applied(|_| {});
    named(&mut objects, "DestinationRule", "shop", "catalog")["spec"]["trafficPolicy"]["outlierDetection"]["interval"] =
        json!("5s");
    named(&mut objects, "ServiceEntry", "shop", "catalog")["metadata"]["annotations"]["example.com/owner"] = json!("x");
    let c = Cluster::with(objects);
    let r = c.diff(&[]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("2 to update"), "{}", r.stdout);
    let r = c.diff(&[
        "--ignore",
        "spec.trafficPolicy.outlierDetection.interval",
        "--ignore",
        "metadata.annotations.example.com/owner",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let r = c.diff(&["--ignore", "spec.hosts[x]"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("invalid ignore path `spec.hosts[x]`"), "{}", r.stderr);
}

#[test]
fn lists_are_paginated_and_namespaces_can_be_chosen() {
    let c = Cluster::applied();
    c.server.state.lock().unwrap().max_page = 2;
    let r = c.diff(&[]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let requests = c.server.requests();
    assert!(requests.iter().any(|r| r.query.contains_key("continue")), "no page after the first");
    assert!(requests.iter().all(|r| r.query.get("limit").is_none_or(|l| l == "500")));

    c.server.clear_requests();
    let r = c.diff(&["-n", "data"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let in_data = desired().iter().filter(|d| d["metadata"]["namespace"] == "data").count();
    assert_eq!(r.stdout, format!("no changes: {in_data} objects unchanged\n"));
    for l in c.server.requests().iter().filter(|r| r.query.contains_key("limit")) {
        assert!(l.path.contains("/namespaces/data/"), "{}", l.path);
    }
}

#[test]
fn server_side_compares_with_a_dry_run_apply_and_writes_nothing() {
    // Another field manager added a label: a plain diff would remove it, an apply keeps it.
    let mut objects = applied(|_| {});
    named(&mut objects, "DestinationRule", "shop", "catalog")["metadata"]["labels"]["team"] = json!("payments");
    objects.retain(|o| !(o["kind"] == "ServiceEntry" && o["metadata"]["name"] == "search"));
    let c = Cluster::with(objects);
    let plain = c.diff(&[]);
    assert_eq!(plain.code, 1);
    assert!(plain.stdout.contains("~ update DestinationRule shop/catalog"), "{}", plain.stdout);

    c.server.clear_requests();
    let r = c.diff(&["--server-side"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(!r.stdout.contains("~ update"), "{}", r.stdout);
    assert!(r.stdout.contains("+ create ServiceEntry shop/search"), "{}", r.stdout);
    // Only the objects the plain comparison found changed or missing are dry-run.
    let patches: Vec<_> = c.server.requests().into_iter().filter(|r| r.method == "PATCH").collect();
    let mut patched: Vec<&str> = patches.iter().map(|p| p.path.rsplit('/').next().unwrap()).collect();
    patched.sort();
    assert_eq!(patched, ["catalog", "search"]);
    for p in &patches {
        assert_eq!(p.query.get("dryRun").map(String::as_str), Some("All"));
        assert_eq!(p.query.get("fieldManager").map(String::as_str), Some("meshgen"));
        assert_eq!(p.query.get("force"), None, "a dry run that forces hides conflicts");
        assert_eq!(p.content_type, "application/apply-patch+yaml");
    }
    c.assert_read_only();

    // A conflict is reported (an apply without --force-conflicts would fail on it), and the
    // forced dry run still shows the rest.
    c.server.state.lock().unwrap().conflict = true;
    c.server.clear_requests();
    let r = c.diff(&["--server-side"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("conflict: `.spec.hosts`: conflict with \"kubectl-edit\""), "{}", r.stdout);
    let forced = c.server.requests().into_iter().filter(|r| r.query.get("force").is_some_and(|f| f == "true")).count();
    assert_eq!(forced, 2);
    c.assert_read_only();
}

pub(crate) fn assert_fails(r: &Run, expected: &[&str]) {
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    for e in expected {
        assert!(r.stderr.contains(e), "expected `{e}` in:\n{}", r.stderr);
    }
}

#[test]
fn refused_credentials_and_permissions_say_what_is_missing() {
    let c = Cluster::applied();
    std::fs::write(&c.kubeconfig, c.server.kubeconfig("expired")).unwrap();
    assert_fails(&c.diff(&[]), &["rejected the credentials (401 Unauthorized", "log in again"]);

    std::fs::write(&c.kubeconfig, c.server.kubeconfig(&c.server.token)).unwrap();
    c.server.state.lock().unwrap().forbidden = vec![("list".into(), "virtualservices".into())];
    assert_fails(
        &c.diff(&[]),
        &[
            "may not `list` `virtualservices.networking.istio.io` at cluster scope (all namespaces) (403 Forbidden: virtualservices.networking.istio.io is forbidden",
            "\"Permissions\" of \"meshgen diff\" in meshgen's documentation has the minimal ClusterRole",
            "kubectl auth can-i list virtualservices.networking.istio.io --all-namespaces",
        ],
    );
    assert_fails(
        &c.diff(&["-n", "shop"]),
        &["may not `list` `virtualservices.networking.istio.io` in namespace `shop`", "-n shop"],
    );

    // A dry run is sent only for an object that would change.
    c.server.state.lock().unwrap().objects.retain(|o| o["metadata"]["name"] != "search");
    c.server.state.lock().unwrap().forbidden = vec![("patch".into(), "serviceentries".into())];
    assert_fails(
        &c.diff(&["--server-side"]),
        &["may not `patch` `serviceentries.networking.istio.io`", "`--server-side` needs the `patch` verb"],
    );
}

#[test]
fn missing_crds_and_unserved_versions_are_explained() {
    let c = Cluster::applied();
    c.server.state.lock().unwrap().versions = vec![];
    assert_fails(
        &c.diff(&[]),
        &["does not serve the API group `networking.istio.io`: the Istio CRDs are not installed"],
    );
    c.server.state.lock().unwrap().versions = vec!["v1beta1", "v1alpha3"];
    assert_fails(
        &c.diff(&[]),
        &["does not serve `networking.istio.io/v1` (it serves `v1beta1`, `v1alpha3`)", "--api-version v1beta1"],
    );
    let r = c.diff(&["--api-version", "v1beta1"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}

#[test]
fn unreachable_and_slow_clusters_fail_with_exit_2() {
    let c = Cluster::applied();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = c.server.kubeconfig(&c.server.token).replace(&c.server.url, &format!("https://127.0.0.1:{closed}"));
    std::fs::write(&c.kubeconfig, config).unwrap();
    assert_fails(
        &c.diff(&[]),
        &[&format!("cannot reach the Kubernetes API server at https://127.0.0.1:{closed}"), "kubectl cluster-info"],
    );

    std::fs::write(&c.kubeconfig, c.server.kubeconfig(&c.server.token)).unwrap();
    c.server.state.lock().unwrap().delay = Some(Duration::from_secs(3));
    let start = Instant::now();
    assert_fails(&c.diff(&["--timeout", "300ms"]), &["timed out after 300ms waiting for the API server", "--timeout"]);
    assert!(start.elapsed() < Duration::from_millis(2500), "{:?}", start.elapsed());

    let r = c.diff(&["--kubeconfig", "/nonexistent/kubeconfig"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

/// The installed kubectl, or `None` (with a loud note) where there is none; under CI a
/// missing kubectl fails the test instead.
fn kubectl() -> Option<PathBuf> {
    let found = Command::new("kubectl").args(["version", "--client"]).output().is_ok_and(|o| o.status.success());
    if found {
        return Some(PathBuf::from("kubectl"));
    }
    assert!(std::env::var_os("CI").is_none(), "kubectl is not installed, and CI needs it to check the fake API server");
    eprintln!("SKIPPED: kubectl is not installed; the fake API server was not checked against it");
    None
}

fn run_kubectl(kubectl: &Path, c: &Cluster, cache: &Path, args: &[&str]) -> Run {
    Command::new(kubectl)
        .arg("--kubeconfig")
        .arg(&c.kubeconfig)
        .arg("--cache-dir")
        .arg(cache)
        .args(args)
        .output()
        .expect("kubectl runs")
        .into()
}

#[test]
fn kubectl_accepts_the_fake_api_server() {
    let Some(kubectl) = kubectl() else { return };
    let mut objects = applied(|_| {});
    let mut foreign = named(&mut objects, "ServiceEntry", "shop", "catalog").clone();
    foreign["metadata"]["name"] = json!("hand-made");
    foreign["metadata"].as_object_mut().unwrap().remove("labels");
    objects.push(foreign);
    let c = Cluster::with(objects);
    let cache = tempfile::tempdir().unwrap();
    let shop_entries =
        desired().iter().filter(|d| d["kind"] == "ServiceEntry" && d["metadata"]["namespace"] == "shop").count();

    let r = run_kubectl(&kubectl, &c, cache.path(), &["get", "serviceentries", "-n", "shop"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("NAME"), "{}", r.stdout);
    assert!(r.stdout.contains("catalog") && r.stdout.contains("hand-made"), "{}", r.stdout);
    // Discovery went the aggregated way.
    assert!(c.server.requests().iter().any(|r| r.path == "/apis" && r.accept.contains("as=APIGroupDiscoveryList")));

    let r = run_kubectl(
        &kubectl,
        &c,
        cache.path(),
        &["get", "se", "-n", "shop", "-l", "app.kubernetes.io/managed-by=meshgen", "-o", "name"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout.lines().count(), shop_entries, "{}", r.stdout);
    assert!(!r.stdout.contains("hand-made"));

    c.server.clear_requests();
    let r =
        run_kubectl(&kubectl, &c, cache.path(), &["get", "serviceentries", "-A", "--chunk-size", "2", "-o", "name"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let all_entries = desired().iter().filter(|d| d["kind"] == "ServiceEntry").count() + 1;
    assert_eq!(r.stdout.lines().count(), all_entries, "{}", r.stdout);
    let pages = c.server.requests().into_iter().filter(|r| r.path.ends_with("/serviceentries")).collect::<Vec<_>>();
    assert!(pages.len() >= all_entries / 2, "{pages:#?}");
    assert!(pages.iter().all(|p| p.query.get("limit").map(String::as_str) == Some("2")));

    let r = run_kubectl(&kubectl, &c, cache.path(), &["get", "serviceentry", "catalog", "-n", "shop", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let got: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(got["metadata"]["name"], "catalog");
    assert!(got["metadata"]["uid"].is_string() && got["status"]["addresses"].is_array());

    let r = run_kubectl(&kubectl, &c, cache.path(), &["get", "serviceentry", "nope", "-n", "shop"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("serviceentries.networking.istio.io \"nope\" not found"),
        "{}\n{:#?}",
        r.stderr,
        c.server.requests()
    );
    assert!(c.server.requests().iter().all(|r| !r.writes()));
}

/// Against the cluster of `$KUBECONFIG`: `cargo test --test diff_cluster -- --ignored`.
#[test]
#[ignore = "needs a real cluster in KUBECONFIG"]
fn a_real_cluster() {
    assert!(std::env::var_os("KUBECONFIG").is_some(), "set KUBECONFIG to a cluster with Istio");
    let tmp = scratch_copy(&root());
    let r = meshgen(tmp.path(), &["diff", "--cluster"]);
    assert!(r.code == 0 || r.code == 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.lines().last().is_some_and(|l| l.starts_with("summary:") || l.starts_with("no changes")),
        "{}",
        r.stdout
    );
}
