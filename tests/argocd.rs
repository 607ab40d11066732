//! The Argo CD plugin (`meshgen argocd generate|parameters`) run the way argocd-cmp-server
//! runs it: in the application's directory of an extracted repository whose file modes were
//! reset, with only Argo CD's variables, a read-only `$HOME`, as user 999 when the tests run
//! as root. Its stdout goes through a real Kubernetes YAML parser (`kubectl kustomize`) and
//! the Istio CRDs; the files of `deploy/argocd/` are checked against the binary.

use crate::common;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Run, build_stdout, copy_dir, documents, reset_modes, root};
use meshgen::yaml::Value;

/// An extracted repository tarball with the bundled project at `apps/mesh`, modes reset to
/// read-only, plus the sidecar's `$HOME` (read-only, empty) and `$TMPDIR`.
struct Sidecar {
    tmp: tempfile::TempDir,
}

/// The user argocd-cmp-server runs plugins as.
const ARGOCD_UID: u32 = 999;

impl Sidecar {
    fn new() -> Sidecar {
        Sidecar::with(|_| {})
    }

    /// A repository whose project `edit` changed before the modes were reset.
    fn with(edit: impl FnOnce(&Path)) -> Sidecar {
        let tmp = tempfile::tempdir().unwrap();
        let app = tmp.path().join("repo/apps/mesh");
        fs::create_dir_all(&app).unwrap();
        fs::copy(root().join("meshgen.yaml"), app.join("meshgen.yaml")).unwrap();
        for dir in ["inventory", "environments", "clusters"] {
            copy_dir(&root().join(dir), &app.join(dir));
        }
        edit(&app);
        // Argo CD resets modes; odd, read-only ones also prove nothing is written there.
        reset_modes(&tmp.path().join("repo"), 0o444, 0o555);
        for dir in ["home", "tmp"] {
            fs::create_dir(tmp.path().join(dir)).unwrap();
        }
        reset_modes(&tmp.path().join("home"), 0o444, 0o555);
        // The tempdir itself is private to its creator; the plugin's user must get in.
        reset_modes_dir_only(tmp.path(), 0o755);
        if as_root() {
            std::os::unix::fs::chown(tmp.path().join("tmp"), Some(ARGOCD_UID), Some(ARGOCD_UID)).unwrap();
        }
        Sidecar { tmp }
    }

    fn app(&self) -> PathBuf {
        self.tmp.path().join("repo/apps/mesh")
    }

    /// Runs `meshgen argocd <command>` with Argo CD's variables for app `argocd/mesh-prod`
    /// plus `vars`, and nothing else from the test's environment.
    fn run(&self, command: &str, vars: &[(&str, &str)]) -> Run {
        let vars: Vec<(&OsStr, &OsStr)> = vars.iter().map(|(k, v)| (OsStr::new(k), OsStr::new(v))).collect();
        self.run_os(command, &vars)
    }

    /// [`Sidecar::run`] with variables that need not be UTF-8.
    fn run_os(&self, command: &str, vars: &[(&OsStr, &OsStr)]) -> Run {
        let bin = env!("CARGO_BIN_EXE_meshgen");
        let mut cmd = if as_root() && Path::new("/usr/bin/setpriv").exists() {
            let mut c = Command::new("/usr/bin/setpriv");
            c.args(["--reuid", "999", "--regid", "999", "--clear-groups", "--", bin]);
            c
        } else {
            Command::new(bin)
        };
        cmd.args(["argocd", command])
            .current_dir(self.app())
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("TMPDIR", self.tmp.path().join("tmp"))
            .env("HOME", self.tmp.path().join("home"))
            .env("ARGOCD_APP_NAME", "mesh-prod")
            .env("ARGOCD_APP_NAMESPACE", "argocd")
            .env("ARGOCD_APP_REVISION", "4f2a9c1e")
            .env("ARGOCD_APP_SOURCE_PATH", "apps/mesh")
            .env("ARGOCD_APP_SOURCE_REPO_URL", "https://git.example.com/platform/mesh.git")
            .env("ARGOCD_APP_SOURCE_TARGET_REVISION", "main")
            .env("KUBE_VERSION", "1.30")
            .env("KUBE_API_VERSIONS", "v1,apps/v1,networking.istio.io/v1,security.istio.io/v1");
        for (k, v) in vars {
            cmd.env(k, v);
        }
        cmd.output().expect("the plugin runs").into()
    }

    /// `generate`, which must succeed; returns stdout.
    fn generate(&self, vars: &[(&str, &str)]) -> String {
        let r = self.run("generate", vars);
        assert_eq!(r.code, 0, "{vars:?}:\n{}", r.stderr);
        assert!(r.stderr.contains("`argocd/mesh-prod`"), "the log names the app:\n{}", r.stderr);
        r.stdout
    }

    /// Every file of the repository and `$HOME`, with its modification time.
    fn snapshot(&self) -> BTreeMap<PathBuf, std::time::SystemTime> {
        fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, std::time::SystemTime>) {
            for e in fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                out.insert(p.clone(), fs::metadata(&p).unwrap().modified().unwrap());
                if p.is_dir() {
                    walk(&p, out);
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(&self.tmp.path().join("repo"), &mut out);
        walk(&self.tmp.path().join("home"), &mut out);
        out
    }
}

fn reset_modes_dir_only(dir: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    fs::set_permissions(dir, fs::Permissions::from_mode(mode)).unwrap();
}

fn as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The installed kubectl, or `None` (said loudly) where there is none; in CI it must exist.
fn kubectl() -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("kubectl"))
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(std::env::var_os("CI").is_none(), "kubectl is required in CI to parse the plugin's output");
        eprintln!("SKIPPED: kubectl is not installed; the plugin's output is not parsed by Kubernetes' own parser");
    }
    found
}

/// Parses `stream` the way Argo CD's Kubernetes libraries would, through `kubectl kustomize`
/// on a directory holding it; returns the objects it read.
fn kubernetes_parse(stream: &str) -> Option<Vec<Value>> {
    let kubectl = kubectl()?;
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("stream.yaml"), stream).unwrap();
    fs::write(dir.path().join("kustomization.yaml"), "resources: [stream.yaml]\n").unwrap();
    let out = Command::new(kubectl).arg("kustomize").arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "kubectl kustomize rejects the stream:\n{}", String::from_utf8_lossy(&out.stderr));
    Some(documents(&String::from_utf8(out.stdout).unwrap()))
}

fn crds() -> Option<meshgen::crd::CrdSet> {
    let dir = common::istio_crds::istio_crds_or_skip()?;
    Some(meshgen::crd::CrdSet::load_dir(&dir).unwrap())
}

/// The sidecar's render of the bundled project, for the base, an environment and a
/// cluster: Kubernetes parses every object, every object validates against the Istio CRDs,
/// none carries Argo CD's tracking label, and nothing was written outside `$TMPDIR` (which
/// stays empty too).
#[test]
fn the_plugin_renders_as_the_sidecar_runs_it() {
    let sidecar = Sidecar::new();
    let before = sidecar.snapshot();
    let crds = crds();
    for vars in [&[][..], &[("ARGOCD_ENV_MESHGEN_ENV", "prod")], &[("ARGOCD_ENV_MESHGEN_CLUSTER", "prod-eu-west2")]] {
        let stream = sidecar.generate(vars);
        let ours = documents(&stream);
        assert!(ours.len() > 40, "{vars:?}: {} objects", ours.len());
        for d in &ours {
            assert!(d["metadata"]["labels"].get("app.kubernetes.io/instance").is_none(), "{d:?}");
            if let Some(crds) = &crds {
                let json = serde_json::to_value(d).unwrap();
                let v = crds.validate(&json);
                assert!(v.is_empty(), "{vars:?}: {}/{}: {v:?}", json["kind"], json["metadata"]["name"]);
            }
        }
        if let Some(parsed) = kubernetes_parse(&stream) {
            assert_eq!(parsed.len(), ours.len(), "{vars:?}: kubectl read every object");
        }
    }
    // Without parameters the plugin renders exactly what `meshgen build --stdout` does.
    assert_eq!(sidecar.generate(&[]), build_stdout(&root()));
    assert_eq!(sidecar.snapshot(), before, "the plugin wrote into the repository or $HOME");
    assert_eq!(fs::read_dir(sidecar.tmp.path().join("tmp")).unwrap().count(), 0, "$TMPDIR is left empty");
}

/// The plugin's project is the application's directory it runs in, and nothing it reads is
/// relative to anything else: it renders what `meshgen build --stdout -C <app>` renders with
/// the same settings, run from another directory (the sidecar's read-only `$HOME`).
#[test]
fn the_plugin_renders_what_build_renders_with_the_directory_option() {
    let sidecar = Sidecar::new();
    let stream = sidecar
        .generate(&[("ARGOCD_ENV_MESHGEN_CLUSTER", "prod-eu-west2"), ("ARGOCD_ENV_MESHGEN_LABELS", "tier=mesh")]);
    let r: Run = common::command()
        .args(["build", "--stdout", "--cluster", "prod-eu-west2", "--label", "tier=mesh", "-C"])
        .arg(sidecar.app())
        .current_dir(sidecar.tmp.path().join("home"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
        .into();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(stream.contains("tier: mesh") && stream.contains("10.2.1.11"), "the settings were applied");
    assert!(stream == r.stdout, "the plugin and `build -C` differ");
}

/// A broken inventory: exit 1, nothing at all on stdout, and stderr naming the app, the
/// file and the line, also when the fault is in an environment's overlay.
#[test]
fn a_broken_inventory_renders_nothing_and_says_where() {
    let sidecar = Sidecar::with(|app| {
        fs::write(
            app.join("inventory/shop/broken.yaml"),
            "namespace: shop\nservices:\n  cart:\n    ports: {http: 8080}\n    vms: [{address: 10.0.9.300}]\n",
        )
        .unwrap();
    });
    let r = sidecar.run("generate", &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stdout.is_empty(), "stdout must stay empty: {}", r.stdout);
    for e in [
        "inventory/shop/broken.yaml:5:21",
        "app `argocd/mesh-prod`",
        "in `inventory/shop/broken.yaml`",
        "nothing rendered",
    ] {
        assert!(r.stderr.contains(e), "expected `{e}` in:\n{}", r.stderr);
    }

    let sidecar = Sidecar::with(|app| {
        fs::write(app.join("environments/prod/overlays/typo.yaml"), "services:\n  chekout:\n    network: x\n").unwrap();
    });
    let r = sidecar.run("generate", &[("ARGOCD_ENV_MESHGEN_ENV", "prod")]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.is_empty());
    for e in ["environments/prod/overlays/typo.yaml:2:3", "did you mean `checkout`?", "app `argocd/mesh-prod`"] {
        assert!(r.stderr.contains(e), "expected `{e}` in:\n{}", r.stderr);
    }
    // Settings Argo CD passes wrongly are errors too, not a silent base render.
    for vars in [
        &[("ARGOCD_ENV_MESHGEN_ENV", "prdo")][..],
        &[("ARGOCD_APP_PARAMETERS", r#"[{"name":"enviroment","string":"prod"}]"#)],
        &[("ARGOCD_APP_PARAMETERS", r#"[{"name":"labels","map":{"app.kubernetes.io/instance":"x"}}]"#)],
        &[("ARGOCD_APP_PARAMETERS", r#"[{"name":"namespaces","array":["shpo"]}]"#)],
    ] {
        let r = Sidecar::new().run("generate", vars);
        assert_eq!(r.code, 2, "{vars:?}: {}", r.stderr);
        assert!(r.stdout.is_empty() && r.stderr.contains("app `argocd/mesh-prod`"), "{vars:?}: {}", r.stderr);
    }
}

/// The plugin fails closed: a setting it cannot read is an error naming the variable (exit
/// 2, nothing on stdout), never the default render, which Argo CD would apply and prune by.
/// Values are not echoed for variables meshgen cannot read.
#[test]
fn unreadable_settings_fail_the_render_instead_of_defaulting() {
    let s = Sidecar::new();
    let refused = |r: &Run, what: &str, vars: &dyn std::fmt::Debug| {
        assert_eq!(r.code, 2, "{vars:?}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{vars:?}: nothing may be rendered:\n{}", r.stdout);
        assert!(
            r.stderr.contains("app `argocd/mesh-prod`") && r.stderr.contains(what),
            "{vars:?}: `{what}` in\n{}",
            r.stderr
        );
    };
    // Not UTF-8: before, such a variable was dropped and the base inventory rendered (exit 0).
    let bad = |text: &str| -> Vec<u8> { [text.as_bytes(), b"\xff\xfe"].concat() };
    for (key, value) in [
        ("ARGOCD_ENV_MESHGEN_ENV", bad("prod")),
        ("ARGOCD_ENV_MESHGEN_NAMESPACES", bad("data,")),
        ("ARGOCD_ENV_MESHGEN_CLUSTER", bad("prod-eu-west2")),
        ("ARGOCD_APP_PARAMETERS", bad(r#"[{"name":"environment","string":"prod"}]"#)),
        ("PARAM_ENVIRONMENT", bad("prod")),
        ("KUBE_VERSION", bad("1.2")),
    ] {
        let vars = [(OsStr::new(key), OsStr::from_bytes(&value))];
        let r = s.run_os("generate", &vars);
        refused(&r, &format!("{key} is not UTF-8"), &key);
        assert!(!r.stderr.contains('\u{fffd}'), "the value is not echoed: {}", r.stderr);
        let r = s.run_os("parameters", &vars);
        assert_eq!(r.code, 2, "{key}: the announcement would show a default that does not apply:\n{}", r.stdout);
    }
    let name = OsStr::from_bytes(b"ARGOCD_ENV_MESHGEN_\xffENV");
    refused(&s.run_os("generate", &[(name, OsStr::new("prod"))]), "ARGOCD_ENV_MESHGEN_\\xffENV` is not UTF-8", &name);
    // Variables meshgen does not read are not its business.
    let other = [
        (OsStr::new("ARGOCD_ENV_OTHER_PLUGIN"), OsStr::from_bytes(b"\xff")),
        (OsStr::new("LANG"), OsStr::from_bytes(b"\xff")),
    ];
    assert_eq!(s.run_os("generate", &other).code, 0);

    // Settings that parse to nothing: before, `,,,` rendered every namespace.
    for (vars, what) in [
        (&[("ARGOCD_ENV_MESHGEN_NAMESPACES", ",,,")][..], "ARGOCD_ENV_MESHGEN_NAMESPACES lists nothing"),
        (&[("ARGOCD_ENV_MESHGEN_NAMESPACES", " ,\t, ")], "ARGOCD_ENV_MESHGEN_NAMESPACES lists nothing"),
        (&[("ARGOCD_ENV_MESHGEN_NAMESPACES", "  ")], "ARGOCD_ENV_MESHGEN_NAMESPACES is blank"),
        (&[("ARGOCD_ENV_MESHGEN_LABELS", ",")], "ARGOCD_ENV_MESHGEN_LABELS lists nothing"),
        (&[("ARGOCD_ENV_MESHGEN_ENV", " ")], "ARGOCD_ENV_MESHGEN_ENV is blank"),
        (&[("ARGOCD_ENV_MESHGEN_API_VERSION", " ")], "ARGOCD_ENV_MESHGEN_API_VERSION is blank"),
        (
            &[("ARGOCD_APP_PARAMETERS", r#"[{"name":"namespaces","array":[""]}]"#)],
            "parameter `namespaces`: item 0 is blank",
        ),
        (&[("ARGOCD_APP_PARAMETERS", r#"[{"name":"environment","string":"  "}]"#)], "parameter `environment` is blank"),
        (&[("PARAM_NAMESPACES_0", " ")], "parameter `namespaces`: item 0 is blank"),
        (&[("PARAM_NAMESPACES_1", "data")], "`PARAM_NAMESPACES_0` is missing"),
        // A misspelt or mis-cased variable of meshgen's would be ignored.
        (&[("ARGOCD_ENV_MESHGEN_NAMESPACE", "data")], "did you mean `ARGOCD_ENV_MESHGEN_NAMESPACES`?"),
        (&[("ARGOCD_ENV_meshgen_env", "prod")], "did you mean `ARGOCD_ENV_MESHGEN_ENV`?"),
        (&[("ARGOCD_ENV_MESHGEN_LABELS", "tier=mesh,tier=edge")], "key `tier` is given twice"),
    ] {
        refused(&s.run("generate", vars), what, &vars);
    }
    // Empty stays the announced default, and stray commas around real items are harmless.
    let base = s.generate(&[]);
    assert_eq!(s.generate(&[("ARGOCD_ENV_MESHGEN_NAMESPACES", ""), ("ARGOCD_ENV_MESHGEN_ENV", "")]), base);
    assert_eq!(
        s.generate(&[("ARGOCD_ENV_MESHGEN_NAMESPACES", "data,,platform,")]),
        s.generate(&[("ARGOCD_ENV_MESHGEN_NAMESPACES", "data,platform")])
    );
}

/// An empty render is refused (with pruning it would delete everything) unless the project
/// says `allowEmpty: true`.
#[test]
fn an_empty_render_fails_unless_the_project_allows_it() {
    let empty = |allow: bool| {
        Sidecar::with(|app| {
            let text = fs::read_to_string(app.join("meshgen.yaml")).unwrap();
            fs::write(app.join("meshgen.yaml"), format!("{text}\nallowEmpty: {allow}\n")).unwrap();
            fs::remove_dir_all(app.join("inventory")).unwrap();
            fs::create_dir(app.join("inventory")).unwrap();
        })
    };
    let r = empty(false).run("generate", &[]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.is_empty() && r.stderr.contains("empty-inventory"), "{}", r.stderr);
    let r = empty(true).run("generate", &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.is_empty());
}

fn objects(stream: &str) -> Vec<Value> {
    documents(stream)
}

fn api_versions(stream: &str) -> Vec<String> {
    let mut v: Vec<String> = objects(stream).iter().map(|d| d["apiVersion"].as_str().unwrap().to_string()).collect();
    v.sort();
    v.dedup();
    v
}

/// Each parameter, as a parameter and as an `ARGOCD_ENV_` variable, changes the output as
/// docs/argocd.md says; a parameter wins over the variable.
#[test]
fn parameters_and_env_change_the_output_as_documented() {
    let s = Sidecar::new();
    let base = s.generate(&[]);
    let prod_only = "events.oncall.example";
    assert!(!base.contains(prod_only));

    // environment (string), three ways.
    let prod = s.generate(&[("ARGOCD_APP_PARAMETERS", r#"[{"name":"environment","string":"prod"}]"#)]);
    assert!(prod.contains(prod_only));
    assert_eq!(s.generate(&[("ARGOCD_ENV_MESHGEN_ENV", "prod")]), prod);
    assert_eq!(s.generate(&[("PARAM_ENVIRONMENT", "prod")]), prod, "PARAM_ variables without the JSON");
    let staging = s.generate(&[
        ("ARGOCD_APP_PARAMETERS", r#"[{"name":"environment","string":"staging"}]"#),
        ("ARGOCD_ENV_MESHGEN_ENV", "prod"),
    ]);
    assert!(staging.contains("api.sandbox.payments.example") && !staging.contains(prod_only), "the parameter wins");

    // cluster (string): implies its environment.
    let dr = s.generate(&[("ARGOCD_ENV_MESHGEN_CLUSTER", "prod-eu-west2")]);
    assert!(dr.contains("10.2.1.11") && dr.contains(prod_only));

    // api-version (string), and auto from KUBE_API_VERSIONS, else KUBE_VERSION.
    let beta = s.generate(&[("ARGOCD_APP_PARAMETERS", r#"[{"name":"api-version","string":"v1beta1"}]"#)]);
    assert_eq!(api_versions(&beta), ["networking.istio.io/v1beta1", "security.istio.io/v1beta1"]);
    let old_istio = "v1,apps/v1,networking.istio.io/v1beta1,security.istio.io/v1beta1";
    assert_eq!(s.generate(&[("KUBE_API_VERSIONS", old_istio)]), beta, "auto follows what the cluster serves");
    assert_eq!(s.generate(&[("KUBE_VERSION", "1.26")]), base, "KUBE_API_VERSIONS (with v1) wins over KUBE_VERSION");
    let without_list = |kube: &str| s.generate(&[("KUBE_VERSION", kube), ("KUBE_API_VERSIONS", "")]);
    assert_eq!(without_list("1.26"), beta, "auto picks v1beta1 for Kubernetes 1.26");
    assert_eq!(without_list("v1.31.2"), base);

    // namespaces (array): one team's objects.
    let data = s.generate(&[("ARGOCD_APP_PARAMETERS", r#"[{"name":"namespaces","array":["data","platform"]}]"#)]);
    let namespaces: std::collections::BTreeSet<String> =
        objects(&data).iter().map(|d| d["metadata"]["namespace"].as_str().unwrap().to_string()).collect();
    assert_eq!(namespaces.into_iter().collect::<Vec<_>>(), ["data", "platform"]);
    assert_eq!(s.generate(&[("ARGOCD_ENV_MESHGEN_NAMESPACES", "data, platform")]), data);
    assert_eq!(s.generate(&[("PARAM_NAMESPACES_0", "data"), ("PARAM_NAMESPACES_1", "platform")]), data);

    // labels (map): on every object, next to meshgen's own.
    let labelled = s.generate(&[(
        "ARGOCD_APP_PARAMETERS",
        r#"[{"name":"labels","map":{"team.example.com/owner":"platform","tier":"mesh"}}]"#,
    )]);
    for d in objects(&labelled) {
        let labels = &d["metadata"]["labels"];
        assert_eq!(labels["team.example.com/owner"].as_str(), Some("platform"));
        assert_eq!(labels["tier"].as_str(), Some("mesh"));
        assert_eq!(labels["app.kubernetes.io/managed-by"].as_str(), Some("meshgen"));
    }
    assert_eq!(s.generate(&[("ARGOCD_ENV_MESHGEN_LABELS", "tier=mesh,team.example.com/owner=platform")]), labelled);
}

/// The announcement (what the UI shows) is kept as a snapshot, and a parameter left unset
/// behaves exactly as its announced default.
#[test]
fn announced_defaults_are_the_defaults_applied() {
    let s = Sidecar::new();
    let r = s.run("parameters", &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    insta::assert_snapshot!("announced-parameters", r.stdout);
    let announced: Vec<serde_json::Value> = serde_json::from_str(&r.stdout).unwrap();
    let names: Vec<&str> = announced.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["environment", "cluster", "api-version", "namespaces", "labels"]);
    // The announcement with each default as its value.
    let explicit: Vec<serde_json::Value> = announced
        .iter()
        .map(|p| {
            let shape = p["collectionType"].as_str().unwrap();
            serde_json::json!({"name": p["name"], shape: p[shape]})
        })
        .collect();
    let explicit = serde_json::to_string(&explicit).unwrap();
    assert_eq!(s.generate(&[("ARGOCD_APP_PARAMETERS", &explicit)]), s.generate(&[]));
    // An ARGOCD_ENV_ setting is what applies when the parameter is unset: it is announced.
    let r = s.run("parameters", &[("ARGOCD_ENV_MESHGEN_ENV", "staging")]);
    assert!(r.stdout.contains("\"string\": \"staging\""), "{}", r.stdout);
}

fn yaml_file(path: &str) -> Value {
    meshgen::yaml::from_str(&fs::read_to_string(root().join(path)).unwrap()).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// plugin.yaml runs real commands and discovers the bundled project.
#[test]
fn plugin_yaml_names_real_commands() {
    let plugin = yaml_file("deploy/argocd/plugin.yaml");
    assert_eq!(plugin["apiVersion"].as_str(), Some("argoproj.io/v1alpha1"));
    assert_eq!(plugin["kind"].as_str(), Some("ConfigManagementPlugin"));
    assert_eq!(plugin["metadata"]["name"].as_str(), Some("meshgen"));
    let discover = plugin["spec"]["discover"]["fileName"].as_str().unwrap();
    assert!(root().join(discover).is_file(), "discovery finds the bundled project");
    let s = Sidecar::new();
    let spec = &plugin["spec"];
    for (command, expect_json) in
        [(&spec["generate"]["command"], false), (&spec["parameters"]["dynamic"]["command"], true)]
    {
        let cmd: Vec<&str> = command.as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        let what = cmd.get(2).copied().unwrap_or_default();
        assert_eq!(cmd[..2], ["meshgen", "argocd"], "{what}: {cmd:?}");
        let r = s.run(cmd[2], &[]);
        assert_eq!(r.code, 0, "{cmd:?}: {}", r.stderr);
        if expect_json {
            serde_json::from_str::<serde_json::Value>(&r.stdout).expect("the announcement is JSON");
        } else {
            assert!(!documents(&r.stdout).is_empty());
        }
    }
}

/// The component adds the sidecar as Argo CD requires it, verified on a stand-in of the
/// stock argocd-repo-server by the installed kustomize.
#[test]
fn the_component_adds_the_sidecar() {
    let Some(kubectl) = kubectl() else { return };
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("repo-server.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: argocd-repo-server}\nspec:\n  selector: {matchLabels: {app: rs}}\n  template:\n    metadata: {labels: {app: rs}}\n    spec:\n      containers: [{name: argocd-repo-server, image: quay.io/argoproj/argocd}]\n      volumes: [{name: var-files, emptyDir: {}}, {name: plugins, emptyDir: {}}, {name: tmp, emptyDir: {}}]\n",
    )
    .unwrap();
    fs::write(
        dir.path().join("kustomization.yaml"),
        // kustomize wants a relative path to a component.
        format!(
            "namespace: argocd\nresources: [repo-server.yaml]\ncomponents: [{}]\n",
            relative(dir.path(), &root().join("deploy/argocd"))
        ),
    )
    .unwrap();
    let out = Command::new(kubectl).arg("kustomize").arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let docs = documents(&String::from_utf8(out.stdout).unwrap());
    let cm = docs.iter().find(|d| d["kind"] == "ConfigMap").expect("the plugin.yaml ConfigMap");
    assert_eq!(
        cm["data"]["plugin.yaml"].as_str().unwrap(),
        fs::read_to_string(root().join("deploy/argocd/plugin.yaml")).unwrap()
    );
    let deploy = docs.iter().find(|d| d["kind"] == "Deployment").unwrap();
    let pod = &deploy["spec"]["template"]["spec"];
    let sidecar = pod["containers"].as_array().unwrap().iter().find(|c| c["name"] == "meshgen").expect("the sidecar");
    assert_eq!(sidecar["command"][0].as_str(), Some("/var/run/argocd/argocd-cmp-server"));
    assert_eq!(sidecar["securityContext"]["runAsUser"].as_u64(), Some(999));
    assert_eq!(sidecar["securityContext"]["runAsNonRoot"].as_bool(), Some(true));
    let mounts = common::volume_mounts(sidecar);
    assert_eq!(mounts["/var/run/argocd"], "var-files");
    assert_eq!(mounts["/home/argocd/cmp-server/plugins"], "plugins");
    assert_eq!(mounts["/home/argocd/cmp-server/config/plugin.yaml"], "meshgen-cmp-plugin");
    assert_ne!(mounts["/tmp"], "tmp", "its own /tmp, not the repo-server's");
    let volumes = pod["volumes"].as_array().unwrap();
    let config = volumes.iter().find(|v| v["name"] == "meshgen-cmp-plugin").unwrap();
    assert_eq!(config["configMap"]["name"], cm["metadata"]["name"], "the volume follows the ConfigMap's hashed name");
    assert!(volumes.iter().any(|v| v["name"] == mounts["/tmp"] && v.get("emptyDir").is_some()));
}

/// `to` relative to `from`, both absolute.
fn relative(from: &Path, to: &Path) -> String {
    let up = "../".repeat(from.components().count() - 1);
    format!("{up}{}", to.strip_prefix("/").unwrap().display())
}

/// The example Application and every Application of the ApplicationSet name parameters
/// and variables the plugin reads, and environments and clusters the bundled project
/// declares: each renders.
#[test]
fn the_example_applications_render() {
    let s = Sidecar::new();
    let app = yaml_file("deploy/argocd/application.yaml");
    assert_eq!(app["kind"].as_str(), Some("Application"));
    let plugin = &app["spec"]["source"]["plugin"];
    let params = serde_json::to_string(&serde_json::to_value(&plugin["parameters"]).unwrap()).unwrap();
    let out = s.generate(&[("ARGOCD_APP_PARAMETERS", &params)]);
    assert!(out.contains("team.example.com/owner: platform"));

    let set = yaml_file("deploy/argocd/applicationset.yaml");
    assert_eq!(set["kind"].as_str(), Some("ApplicationSet"));
    let env: Vec<(String, String)> = set["spec"]["template"]["spec"]["source"]["plugin"]["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap().to_string(), e["value"].as_str().unwrap().to_string()))
        .collect();
    let elements = set["spec"]["generators"][0]["list"]["elements"].as_array().unwrap();
    assert!(elements.len() >= 3);
    for el in elements {
        // Go templates `{{.key}}` filled from the element, as the ApplicationSet controller does.
        let vars: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| {
                let key = v.trim_start_matches("{{.").trim_end_matches("}}");
                (format!("ARGOCD_ENV_{k}"), el[key].as_str().unwrap().to_string())
            })
            .collect();
        let refs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert!(!documents(&s.generate(&refs)).is_empty(), "{refs:?}");
    }
}

/// The bundled project with `vipRange`, built or not before Argo CD fetches it.
fn with_vip_range(build: impl FnOnce(&Path)) -> Sidecar {
    Sidecar::with(|app| {
        let text = fs::read_to_string(app.join("meshgen.yaml")).unwrap();
        fs::write(app.join("meshgen.yaml"), format!("{text}\nvipRange: 240.240.0.0/16\n")).unwrap();
        // Two TCP services without addresses: each needs a virtual IP.
        let db = |name: &str, vm: &str| {
            format!("  {name}:\n    ports: {{tcp-db: 5432}}\n    serviceAccount: db\n    vms: [{{address: {vm}}}]\n")
        };
        let inventory =
            format!("namespace: data\nservices:\n{}{}", db("orders-db", "10.9.0.1"), db("users-db", "10.9.0.2"));
        fs::write(app.join("inventory/databases.yaml"), inventory).unwrap();
        build(app);
    })
}

#[test]
fn with_vip_range_the_committed_allocations_are_an_input_of_every_render() {
    // Nothing committed: the render would invent addresses that `meshgen build` of the same
    // revision may not give; it is refused.
    let r = with_vip_range(|_| {}).run("generate", &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stdout.is_empty());
    assert!(
        r.stderr.contains("`vipRange` is set, but `out/vip-allocations.yaml` is not in this revision"),
        "{}",
        r.stderr
    );

    let built = with_vip_range(|app| {
        let b = common::meshgen(app, &["build", "-q"]);
        assert_eq!(b.code, 0, "{}", b.stderr);
    });
    let r = built.run("generate", &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let addresses = |stream: &str| -> Vec<String> {
        objects(stream)
            .iter()
            .filter(|o| o["kind"] == "ServiceEntry")
            .map(|o| o["spec"]["addresses"].to_string())
            .collect()
    };
    assert!(addresses(&r.stdout).iter().any(|a| a.contains("240.240.")), "no VIP rendered");
    assert_eq!(addresses(&r.stdout), addresses(&build_stdout(&built.app())), "the render's VIPs are the build's");

    // A file that lacks an allocation (committed before a service was added) is refused too.
    let partial = with_vip_range(|app| {
        assert_eq!(common::meshgen(app, &["build", "-q"]).code, 0);
        let file = app.join("out/vip-allocations.yaml");
        let text = fs::read_to_string(&file).unwrap();
        let first = text.lines().find(|l| !l.starts_with('#')).unwrap().to_string();
        fs::write(&file, text.replace(&format!("{first}\n"), "")).unwrap();
    });
    let r = partial.run("generate", &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("`out/vip-allocations.yaml` of this revision has no address for `"), "{}", r.stderr);
}

#[test]
fn an_application_pointing_at_another_directory_is_told_to_fix_its_path() {
    let s = Sidecar::with(|app| fs::remove_file(app.join("meshgen.yaml")).unwrap());
    let r = s.run("generate", &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stdout.is_empty());
    assert!(r.stderr.contains("point the Application's `spec.source.path` at the directory"), "{}", r.stderr);
}

/// `kubectl logs` and `kubectl exec` without `-c` reach the repo server, not the sidecar.
#[test]
fn the_sidecar_patch_keeps_the_repo_server_the_default_container() {
    let patch = yaml_file("deploy/argocd/repo-server-patch.yaml");
    assert_eq!(
        patch["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/default-container"],
        "argocd-repo-server"
    );
}
