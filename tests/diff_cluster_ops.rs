//! `meshgen diff --cluster` in the situations operators meet: removals only the real applier
//! makes, namespaces that do not exist yet or were mistyped, objects being deleted, credential
//! plugins, untrusted servers, throttling, and how many requests a diff costs.

#![cfg(feature = "cluster")]

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::common::Run;
use crate::diff_cluster::kube_api::ApiServer;
use crate::diff_cluster::{Cluster, applied, assert_fails, desired, named};

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The live objects with a connection pool on `shop/catalog`'s DestinationRule that the
/// inventory no longer has; `how` records who applied it.
fn with_dropped_pool(how: impl Fn(&mut Value)) -> Cluster {
    let mut objects = applied(|_| {});
    let dr = named(&mut objects, "DestinationRule", "shop", "catalog");
    dr["spec"]["trafficPolicy"]["connectionPool"] = json!({"tcp": {"maxConnections": 7}});
    how(dr);
    Cluster::with(objects)
}

/// As `kubectl apply` (client-side) leaves it: the pool in the last-applied annotation.
fn client_side(dr: &mut Value) {
    let note = &mut dr["metadata"]["annotations"][LAST_APPLIED];
    let mut last: Value = serde_json::from_str(note.as_str().unwrap()).unwrap();
    last["spec"]["trafficPolicy"]["connectionPool"] = json!({"tcp": {"maxConnections": 7}});
    *note = json!(last.to_string());
}

/// As Argo CD's server-side apply leaves it: no annotation, the pool owned by its manager.
fn server_side_by_argo_cd(dr: &mut Value) {
    dr["metadata"]["annotations"].as_object_mut().unwrap().remove(LAST_APPLIED);
    dr["metadata"]["managedFields"] = json!([{
        "apiVersion": "networking.istio.io/v1", "fieldsType": "FieldsV1", "manager": "argocd-controller",
        "operation": "Apply", "time": "2025-03-01T10:00:00Z",
        "fieldsV1": {"f:spec": {"f:host": {}, "f:trafficPolicy": {"f:connectionPool": {"f:tcp": {"f:maxConnections": {}}}}}}
    }]);
}

fn shows_the_pool_removed(r: &Run) {
    assert_eq!(r.code, 1, "a drift check must fail when the next sync removes a field:\n{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("~ update DestinationRule shop/catalog"), "{}", r.stdout);
    assert!(r.stdout.contains("-    connectionPool:"), "{}", r.stdout);
}

#[test]
fn server_side_shows_the_fields_a_client_side_applier_would_remove() {
    let c = with_dropped_pool(client_side);
    shows_the_pool_removed(&c.diff(&[]));
    // The dry run as `meshgen` keeps the pool (meshgen never applied it); kubectl's
    // three-way merge would drop it, so the diff does.
    let r = c.diff(&["--server-side"]);
    shows_the_pool_removed(&r);
    assert!(!r.stderr.contains("warning"), "{}", r.stderr);
    c.assert_read_only();
}

#[test]
fn server_side_as_another_manager_names_the_one_that_applied_and_its_removals_show() {
    let c = with_dropped_pool(server_side_by_argo_cd);
    let r = c.diff(&["--server-side"]);
    shows_the_pool_removed(&r);
    assert!(
        r.stderr.contains("1 live object was applied by `argocd-controller`, not by field manager `meshgen`"),
        "{}",
        r.stderr
    );
    let r = c.diff(&["--server-side", "--field-manager", "argocd-controller"]);
    shows_the_pool_removed(&r);
    assert!(!r.stderr.contains("warning"), "{}", r.stderr);
    let managers: Vec<String> =
        c.server.requests().iter().filter_map(|r| r.query.get("fieldManager").cloned()).collect();
    assert!(managers.contains(&"argocd-controller".to_string()), "{managers:?}");
    c.assert_read_only();
}

#[test]
fn a_namespace_that_does_not_exist_yet_is_a_create_with_a_note() {
    let mut objects = applied(|_| {});
    objects.retain(|o| o["metadata"]["namespace"] != "platform");
    let c = Cluster::with(objects);
    let in_platform = desired().iter().filter(|d| d["metadata"]["namespace"] == "platform").count();
    assert!(in_platform > 0);
    let r = c.diff(&["--server-side"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stdout.matches("+ create ").count(), in_platform, "{}", r.stdout);
    assert_eq!(r.stdout.matches("note: namespace `platform` does not exist yet").count(), in_platform, "{}", r.stdout);
    c.assert_read_only();
}

#[test]
fn objects_being_deleted_are_reported_as_such_and_controller_fields_are_ignored() {
    let mut objects = applied(|_| {});
    let se = named(&mut objects, "ServiceEntry", "shop", "catalog");
    se["metadata"]["deletionTimestamp"] = json!("2025-03-02T10:00:00Z");
    se["metadata"]["finalizers"] = json!(["example.com/cleanup"]);
    let mut gone = named(&mut objects, "Gateway", "shop", "cdn-assets-egress").clone();
    gone["metadata"]["name"] = json!("old-egress");
    gone["metadata"]["deletionTimestamp"] = json!("2025-03-02T10:00:00Z");
    objects.push(gone);
    let dr = named(&mut objects, "DestinationRule", "shop", "catalog");
    dr["metadata"]["ownerReferences"] =
        json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": "1234", "controller": true}]);
    dr["metadata"]["finalizers"] = json!(["example.com/keep"]);
    let c = Cluster::with(objects);
    let r = c.diff(&[]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let titles: Vec<&str> = r.stdout.lines().filter(|l| l.starts_with(['+', '~', '-', '!'])).collect();
    assert!(titles.contains(&"! terminating ServiceEntry shop/catalog"), "{}", r.stdout);
    assert!(r.stdout.contains("note: being deleted (its finalizers are pending)"), "{}", r.stdout);
    assert!(!r.stdout.contains("old-egress"), "an object already being deleted is no prune: {}", r.stdout);
    assert!(!r.stdout.contains("DestinationRule shop/catalog"), "controller fields count: {}", r.stdout);
    assert!(r.stdout.contains(", 1 being deleted and wanted back, 1 already being deleted\n"), "{}", r.stdout);
    let json: Value = serde_json::from_str(&c.diff(&["--output", "json"]).stdout).unwrap();
    assert_eq!(json["summary"]["terminating"], 1);
    assert_eq!(json["summary"]["alreadyDeleting"], 1);
}

#[test]
fn namespaces_are_validated_listed_and_a_typo_fails() {
    let c = Cluster::applied();
    let r = c.diff(&["-n", "shpo"]);
    assert_fails(
        &r,
        &[
            "namespace `shpo` of `-n` holds no object of this inventory and none on the other side",
            "did you mean `shop`?",
        ],
    );
    assert_fails(&c.diff(&["-n", "Shop"]), &["`-n Shop` is not a namespace name"]);

    c.server.clear_requests();
    let r = c.diff(&["-n", "shop,data"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let in_both =
        desired().iter().filter(|d| ["shop", "data"].contains(&d["metadata"]["namespace"].as_str().unwrap())).count();
    assert_eq!(r.stdout, format!("no changes: {in_both} objects unchanged\n"));
    let lists: Vec<String> =
        c.server.requests().into_iter().filter(|r| r.query.contains_key("limit")).map(|r| r.path).collect();
    assert!(lists.iter().all(|p| p.contains("/namespaces/shop/") || p.contains("/namespaces/data/")), "{lists:?}");
    assert_eq!(c.diff(&["-n", "shop", "-n", "data"]).stdout, r.stdout);
}

#[test]
fn an_ignore_path_that_matches_nothing_warns() {
    let c = Cluster::applied();
    let r = c.diff(&["--ignore", "spec.trafficPolicy.outlierDetection.interval", "--ignore", "spec.hostz"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("warning: ignore path `spec.hostz` matched no field of any object compared"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("outlierDetection"), "{}", r.stderr);
}

/// A first deploy into an empty cluster: two lists per kind, never one request per object.
#[test]
fn a_diff_costs_requests_per_kind_and_namespace_not_per_object() {
    let c = Cluster::with(Vec::new());
    let r = c.diff(&["--timings"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.stdout.matches("+ create ").count(), desired().len());
    let requests = c.server.requests();
    assert!(requests.iter().all(|r| r.path.split('/').count() <= 7), "a GET by name: {requests:#?}");
    // Discovery of the two groups, then per kind one list by the project's selector and one
    // of everything: whatever the number of objects or namespaces.
    let kinds = crate::diff_cluster::kube_api::RESOURCES.len();
    let discovery = 2;
    assert_eq!(requests.len(), discovery + 2 * kinds, "{} requests for {} objects", requests.len(), desired().len());
    assert!(r.stderr.contains(&format!("cluster: {} requests to https://127.0.0.1:", requests.len())), "{}", r.stderr);
    for r in &requests {
        assert!(r.user_agent.starts_with("meshgen/"), "User-Agent `{}`", r.user_agent);
    }
}

/// `meshgen diff --cluster` with only the given environment (no `--kubeconfig`).
fn diff_with_env(project: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_meshgen"));
    cmd.args(["diff", "--cluster"]).args(args).current_dir(project).env("NO_COLOR", "1").env_remove("KUBECONFIG");
    cmd.env("HOME", project);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the meshgen binary runs").into()
}

#[test]
fn kubeconfig_lists_skip_missing_files_and_unknown_contexts_list_the_known_ones() {
    let c = Cluster::applied();
    let dir = c.project.path();
    let list = format!("{}:does-not-exist.yaml", c.kubeconfig.display());
    let r = diff_with_env(dir, &[], &[("KUBECONFIG", &list)]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    // Relative entries start at the shell's directory, not at `-C`.
    let sub = dir.join("sub");
    std::fs::create_dir(&sub).unwrap();
    let r = diff_with_env(&sub, &["-C", ".."], &[("KUBECONFIG", "../kubeconfig")]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);

    let r = diff_with_env(dir, &["--context", "prod"], &[("KUBECONFIG", c.kubeconfig.to_str().unwrap())]);
    assert_fails(
        &r,
        &["the kubeconfig has no context `prod`", "its contexts are `fake`: pass one with `--context NAME`"],
    );
}

/// A kubeconfig whose user gets its token from `command` (`interactiveMode: Never`, so its
/// stderr is captured, as in CI).
fn with_plugin(c: &Cluster, command: &str, install_hint: &str) {
    let config = c.server.kubeconfig(&c.server.token).replace(
        &format!("  user:\n    token: {}\n", c.server.token),
        &format!(
            "  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: {command}\n      interactiveMode: Never\n      env: [{{name: PLUGIN_SECRET, value: hunter2}}]\n      installHint: {install_hint:?}\n"
        ),
    );
    assert!(config.contains("exec:"), "{config}");
    std::fs::write(&c.kubeconfig, config).unwrap();
}

#[test]
fn credential_plugins_are_named_with_their_hint_and_stderr_never_their_environment() {
    let c = Cluster::applied();
    with_plugin(&c, "meshgen-test-missing-plugin", "Install it with `brew install example-login`");
    let r = c.diff(&[]);
    assert_fails(
        &r,
        &[
            "the kubeconfig user's credential plugin `meshgen-test-missing-plugin` was not found on the PATH",
            "help (from the kubeconfig): Install it with `brew install example-login`",
        ],
    );
    assert!(!r.stderr.contains("reach the Kubernetes API server"), "{}", r.stderr);

    let script = c.project.path().join("failing-login");
    std::fs::write(&script, "#!/bin/sh\necho 'error: the session expired, run `example-login`' >&2\nexit 3\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    with_plugin(&c, script.to_str().unwrap(), "unused");
    let r = c.diff(&[]);
    assert_fails(&r, &["failing-login` failed (exit status: 3):", "error: the session expired, run `example-login`"]);
    for secret in ["hunter2", "PLUGIN_SECRET", "Output {", "KUBERNETES_EXEC_INFO"] {
        assert!(!r.stderr.contains(secret), "`{secret}` printed:\n{}", r.stderr);
    }
}

#[test]
fn an_untrusted_certificate_and_throttling_are_told_apart_from_timeouts() {
    let c = Cluster::applied();
    let other = ApiServer::start(Vec::new());
    // The right server, another cluster's certificate authority.
    let config = other.kubeconfig(&c.server.token).replace(&other.url, &c.server.url);
    std::fs::write(&c.kubeconfig, config).unwrap();
    assert_fails(
        &c.diff(&[]),
        &["presented a certificate not signed by the kubeconfig's certificate-authority", "fetch a fresh kubeconfig"],
    );

    std::fs::write(&c.kubeconfig, c.server.kubeconfig(&c.server.token)).unwrap();
    c.server.state.lock().unwrap().throttle = true;
    let r = c.diff(&[]);
    assert_fails(&r, &["the API server is throttling requests (429 Too Many Requests)", "API Priority and Fairness"]);
    assert!(!r.stderr.contains("timed out"), "{}", r.stderr);
    // Sent again a few times first, as client-go does.
    let lists = c
        .server
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/serviceentries") && r.query.contains_key("labelSelector"))
        .count();
    assert_eq!(lists, 4, "one request and three retries");
}
