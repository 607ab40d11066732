//! Entities' `patches` (docs/inventory.md, "Patches"): applied the same in every output, set
//! by overlays like any field, refused at the patch's own line when they would change what
//! meshgen decides, name nothing, fail, or leave an object meshgen, or the CRDs, refuse; and
//! listed by `meshgen explain`. The fixture `tests/fixtures/patches` is snapshotted with the
//! others (tests/fixtures.rs) and validated against the CRDs (tests/crds.rs).

use crate::common;

use std::fs;
use std::path::Path;

use common::istio_crds::{istio_crds_or_skip, write_crd_bundle};
use common::{Run, build_stdout, documents, meshgen, project, root, scratch_copy, tree};

const PROJECT: &str = "inventory: [inventory]\ndefaults: {namespace: apps}\n";

fn fixture() -> std::path::PathBuf {
    root().join("tests/fixtures/patches")
}

/// `meshgen check` of one inventory file under the default project.
fn check(inventory: &str) -> Run {
    let tmp = project(&[("meshgen.yaml", PROJECT), ("inventory/example.yaml", inventory)]);
    meshgen(tmp.path(), &["check"])
}

/// The findings of a report as `code at path`, with the position, in report order.
fn findings(report: &str) -> Vec<String> {
    let lines: Vec<&str> = report.lines().collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let Some(rest) = l.strip_prefix("error[") else { continue };
        let code = rest.split(']').next().unwrap_or_default();
        let at = lines.get(i + 1).and_then(|l| l.strip_prefix("  --> ")).unwrap_or_default();
        out.push(format!("{code} {at}"));
    }
    out
}

/// Asserts that `r` is a run with errors that gives exactly the findings `want` (see
/// [`findings`]) and says each of `texts`.
fn assert_findings(r: &Run, want: &[&str], texts: &[&str]) {
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert_eq!(findings(&r.stdout), want, "{}", r.stdout);
    for t in texts {
        assert!(r.stdout.contains(t), "no `{t}` in:\n{}", r.stdout);
    }
}

/// A service with VMs (ServiceEntry, two WorkloadEntries, DestinationRule, VirtualService)
/// and `patches` as given (indented for the list under `patches:`).
fn service_with(patches: &str) -> String {
    format!(
        "services:
  catalog:
    host: catalog.apps.internal
    ports: {{http: 8080}}
    serviceAccount: catalog
    vms:
      - {{address: 10.1.0.10, labels: {{version: v1}}}}
      - {{address: 10.1.0.20, labels: {{version: v2}}}}
    traffic: {{timeout: 5s}}
    patches:
{patches}"
    )
}

/// Every document of a stream, sorted, as text: the same objects whatever the order.
fn sorted_docs(stream: &str) -> Vec<String> {
    let mut v: Vec<String> = documents(stream).iter().map(meshgen::yaml::to_string).collect();
    v.sort();
    v
}

/// The streamed build, the files of a build, `diff` and the Argo CD plugin all carry the
/// patched objects: patches apply in render, which every output goes through.
#[test]
fn patches_apply_in_every_output() {
    let dir = fixture();
    let streamed = build_stdout(&dir);
    assert!(streamed.contains("argocd.argoproj.io/sync-wave: \"5\""), "{streamed}");
    assert!(streamed.contains("corsPolicy:"), "{streamed}");

    let tmp = scratch_copy(&dir);
    let r = meshgen(tmp.path(), &["build", "-q", "--layout", "namespace"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let files = tree(&tmp.path().join("out"));
    let written: String = files
        .iter()
        .filter(|(p, _)| *p != "kustomization.yaml")
        .map(|(_, b)| String::from_utf8(b.clone()).unwrap())
        .collect();
    assert_eq!(sorted_docs(&written), sorted_docs(&streamed), "files and stream hold the same objects");

    // `diff` renders the same patched objects: no change against the build.
    let r = meshgen(tmp.path(), &["diff", "--against", "out"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    // Without its patches the build differs from the patched output.
    let inv = tmp.path().join("inventory/catalog.yaml");
    let mut doc: meshgen::yaml::Value = meshgen::yaml::from_str(&fs::read_to_string(&inv).unwrap()).unwrap();
    for kind in ["services", "externals"] {
        for (_, entity) in doc[kind].as_object_mut().unwrap().iter_mut() {
            entity.as_object_mut().unwrap().remove("patches");
        }
    }
    fs::write(&inv, meshgen::yaml::to_string(&doc)).unwrap();
    let r = meshgen(tmp.path(), &["diff", "--against", "out"]);
    assert_eq!(r.code, 1, "the patches made a difference:\n{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("corsPolicy"), "{}", r.stdout);

    // The Argo CD plugin's generate command.
    let r =
        meshgen_env(&dir, &["argocd", "generate"], &[("ARGOCD_APP_NAME", "mesh"), ("ARGOCD_APP_NAMESPACE", "argocd")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(sorted_docs(&r.stdout), sorted_docs(&streamed));

    // And `check` applies them too, finding nothing.
    let r = meshgen(&dir, &["check"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}

fn meshgen_env(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> Run {
    let mut cmd = common::command();
    cmd.args(args).current_dir(dir).env("NO_COLOR", "1");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.output().unwrap().into()
}

/// A patched value cannot change the structure of the output, whatever it holds: it comes
/// back as the same single scalar.
#[test]
fn patched_values_are_written_safely() {
    for hostile in
        ["a\nkind: Secret", "---\napiVersion: v1", "x: y", "'\"", "{a: b}", "- item", "#c", "*alias", "yes", "010"]
    {
        let escaped = hostile.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
        let inv = service_with(&format!(
            "      - target: {{kind: VirtualService}}\n        json: [{{op: add, path: /metadata/annotations/example.com~1x, value: \"{escaped}\"}}]\n"
        ));
        let tmp = project(&[("meshgen.yaml", PROJECT), ("inventory/example.yaml", &inv)]);
        let out = build_stdout(tmp.path());
        let docs = documents(&out);
        assert_eq!(docs.len(), 5, "{hostile:?}:\n{out}");
        let vs = docs.iter().find(|d| d["kind"] == "VirtualService").unwrap();
        assert_eq!(vs["metadata"]["annotations"]["example.com/x"].as_str(), Some(hostile), "{out}");
    }
}

/// Each way a patch can touch what meshgen decides is refused where it is written.
#[test]
fn protected_fields_are_refused_at_the_patch() {
    let r = check(&service_with(
        "      - target: {kind: ServiceEntry}
        merge: {apiVersion: v1, kind: Secret, metadata: {namespace: other, labels: {app.kubernetes.io/managed-by: me}}}
      - target: {kind: DestinationRule}
        merge: {metadata: null}
      - target: {kind: VirtualService}
        json:
          - {op: replace, path: /metadata/name, value: other}
          - {op: remove, path: /metadata/annotations/meshgen.dev~1source}
          - {op: add, path: /metadata/annotations, value: {}}
          - {op: move, from: /metadata/labels, path: /spec/labels}
",
    ));
    assert_findings(
        &r,
        &[
            "patch-protected-field inventory/example.yaml:12:17 (services.catalog.patches[0].merge.apiVersion)",
            "patch-protected-field inventory/example.yaml:12:33 (services.catalog.patches[0].merge.kind)",
            "patch-protected-field inventory/example.yaml:12:85 (services.catalog.patches[0].merge.metadata.labels.app.kubernetes.io/managed-by)",
            "patch-protected-field inventory/example.yaml:12:58 (services.catalog.patches[0].merge.metadata.namespace)",
            "patch-protected-field inventory/example.yaml:14:27 (services.catalog.patches[1].merge.metadata)",
            "patch-protected-field inventory/example.yaml:17:33 (services.catalog.patches[2].json[0].path)",
            "patch-protected-field inventory/example.yaml:18:32 (services.catalog.patches[2].json[1].path)",
            "patch-protected-field inventory/example.yaml:19:29 (services.catalog.patches[2].json[2].path)",
            "patch-protected-field inventory/example.yaml:20:30 (services.catalog.patches[2].json[3].from)",
        ],
        &["a patch cannot replace `metadata` whole: it holds `metadata.name`"],
    );
}

/// A target the entity does not generate is reported with what it does generate, or a
/// suggestion.
#[test]
fn unknown_targets_say_what_the_entity_generates() {
    let r = check(&service_with(
        "      - target: {kind: DestinatonRule}
        merge: {spec: {}}
      - target: {kind: Gateway}
        merge: {spec: {}}
      - target: {kind: DestinationRule, name: catalog-10-1-0-10}
        merge: {spec: {}}
      - target: {kind: WorkloadEntry}
        merge: {spec: {}}
",
    ));
    assert_findings(
        &r,
        &[
            "unknown-patch-target inventory/example.yaml:11:24 (services.catalog.patches[0].target.kind)",
            "unknown-patch-target inventory/example.yaml:13:24 (services.catalog.patches[1].target.kind)",
            "unknown-patch-target inventory/example.yaml:15:47 (services.catalog.patches[2].target.name)",
            "unknown-patch-target inventory/example.yaml:17:9 (services.catalog.patches[3].target)",
        ],
        &[
            "meshgen generates no kind `DestinatonRule`",
            "did you mean `DestinationRule`?",
            "`catalog` generates no Gateway",
            "`catalog` generates ServiceEntry `catalog`, WorkloadEntry `catalog-10-1-0-10`",
            "`catalog-10-1-0-10` is a WorkloadEntry: did you mean `kind: WorkloadEntry`?",
            "`catalog` generates more than one WorkloadEntry: say which with `name`",
            "one of `catalog-10-1-0-10`, `catalog-10-1-0-20`",
        ],
    );
}

/// A failing JSON patch operation is reported at that operation, and stops a streamed
/// build before it writes anything.
#[test]
fn failing_operations_are_reported_at_the_operation() {
    let inv = service_with(
        "      - target: {kind: DestinationRule}
        json:
          - {op: test, path: /spec/host, value: catalog.apps.internal}
          - {op: test, path: /spec/trafficPolicy/tls/mode, value: SIMPLE}
      - target: {kind: VirtualService}
        json:
          - {op: remove, path: /spec/http/0/retries}
      - target: {kind: ServiceEntry}
        json:
          - {op: replace, path: /spec/ports/1/number, value: 8081}
      - target: {kind: WorkloadEntry, name: catalog-10-1-0-20}
        json:
          - {op: copy, from: /spec/weight, path: /spec/x}
",
    );
    let tmp = project(&[("meshgen.yaml", PROJECT), ("inventory/example.yaml", &inv)]);
    let r = meshgen(tmp.path(), &["check"]);
    assert_findings(
        &r,
        &[
            "patch-op-failed inventory/example.yaml:14:30 (services.catalog.patches[0].json[1].path)",
            "patch-op-failed inventory/example.yaml:17:32 (services.catalog.patches[1].json[0].path)",
            "patch-op-failed inventory/example.yaml:20:33 (services.catalog.patches[2].json[0].path)",
            "patch-op-failed inventory/example.yaml:23:50 (services.catalog.patches[3].json[0].path)",
        ],
        &[
            "test failed: `/spec/trafficPolicy/tls/mode` is \"ISTIO_MUTUAL\", not \"SIMPLE\"",
            "`/spec/http/0/retries` does not exist",
            "`/spec/ports/1`: index 1 is out of range (the array has 1 element)",
            "`/spec/weight` does not exist",
        ],
    );
    let r = meshgen(tmp.path(), &["build", "--stdout"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stdout.is_empty(), "a streamed build writes nothing:\n{}", r.stdout);
}

/// meshgen's own checks of a patched object run without CRDs: top-level fields, `spec`,
/// metadata as the API server checks it, and what a DestinationRule means.
#[test]
fn results_meshgen_refuses_are_reported_at_the_patch() {
    let r = check(&service_with(
        "      - target: {kind: ServiceEntry}
        merge: {status: {}}
      - target: {kind: VirtualService}
        json: [{op: replace, path: /spec, value: []}]
      - target: {kind: WorkloadEntry, name: catalog-10-1-0-10}
        merge: {metadata: {annotations: {bad key!: x}}}
      - target: {kind: DestinationRule}
        json:
          - op: add
            path: /spec/trafficPolicy/portLevelSettings
            value: [{port: {number: 8080}, connectionPool: {tcp: {maxConnections: 10}}}]
",
    ));
    assert_findings(
        &r,
        &[
            "patch-invalid-result inventory/example.yaml:12:17 (services.catalog.patches[0].merge.status)",
            "patch-invalid-result inventory/example.yaml:14:36 (services.catalog.patches[1].json[0].path)",
            "patch-invalid-result inventory/example.yaml:16:42 (services.catalog.patches[2].merge.metadata.annotations.bad key!)",
            "patch-invalid-result inventory/example.yaml:20:19 (services.catalog.patches[3].json[0].path)",
        ],
        &[
            "unexpected top-level field `status`",
            "`spec` is not a mapping",
            "invalid annotation key",
            "has no `tls`: Istio gives the port its default instead of the destination's",
        ],
    );
}

/// With CRDs (`istio.crds` in the project, or `--crds`), a patched object the CRD's schema
/// or rules refuse is reported at the patch member that wrote the field at fault.
#[test]
fn crd_violations_of_patched_objects_point_at_the_patch() {
    let Some(crds) = istio_crds_or_skip() else { return };
    let inv = service_with(
        "      - target: {kind: DestinationRule}
        merge:
          spec:
            trafficPolicy:
              loadBalancer: {simple: FASTEST}
      - target: {kind: VirtualService}
        json:
          - {op: add, path: /spec/http/0/timeout, value: 0s}
",
    );
    let with_setting = format!("{PROJECT}istio: {{crds: {}}}\n", crds.display());
    let tmp = project(&[("meshgen.yaml", &with_setting), ("inventory/example.yaml", &inv)]);
    let expected = [
        "patch-invalid-result inventory/example.yaml:15:38 (services.catalog.patches[0].merge.spec.trafficPolicy.loadBalancer.simple)",
        "patch-invalid-result inventory/example.yaml:18:29 (services.catalog.patches[1].json[0].path)",
    ];
    for args in [&["check"][..], &["build", "--stdout"]] {
        let r = meshgen(tmp.path(), args);
        assert_eq!(r.code, 1, "{args:?}: {}{}", r.stdout, r.stderr);
        let report = if args[0] == "check" { &r.stdout } else { &r.stderr };
        assert_eq!(findings(report), expected, "{args:?}: {report}");
        assert!(report.contains("spec.trafficPolicy.loadBalancer.simple"), "{report}");
        assert!(r.stdout.is_empty() || args[0] == "check", "nothing streamed");
    }
    // `--crds` does the same for one run, without the setting.
    let tmp = project(&[("meshgen.yaml", PROJECT), ("inventory/example.yaml", &inv)]);
    let r = meshgen(tmp.path(), &["check", "--crds", crds.to_str().unwrap()]);
    assert_eq!(findings(&r.stdout), expected, "{}", r.stdout);
    // Without CRDs, meshgen's own checks let these through: the CRDs are what refuse them.
    let r = meshgen(tmp.path(), &["check"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    // The setting also names one file, such as Istio's crd-all.gen.yaml.
    write_crd_bundle(&crds, &tmp.path().join("crd-all.gen.yaml"));
    fs::write(tmp.path().join("meshgen.yaml"), format!("{PROJECT}istio: {{crds: crd-all.gen.yaml}}\n")).unwrap();
    let r = meshgen(tmp.path(), &["check"]);
    assert_eq!(findings(&r.stdout), expected, "{}", r.stdout);
}

/// `istio.crds` must name a directory or file that exists.
#[test]
fn a_missing_crd_directory_is_an_error_in_the_project_file() {
    let p = format!("{PROJECT}istio: {{crds: ../no-such-crds}}\n");
    let tmp = project(&[("meshgen.yaml", &p), ("inventory/example.yaml", &service_with("      []\n"))]);
    let r = meshgen(tmp.path(), &["check"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert_eq!(findings(&r.stdout), ["invalid-value meshgen.yaml:3:15 (istio.crds)"], "{}", r.stdout);
}

/// An overlay sets `patches` like any other field: its list replaces the entity's for the
/// environment, and a problem with a patch it set is reported in the overlay file.
#[test]
fn an_overlay_sets_patches() {
    let base = service_with(
        "      - target: {kind: DestinationRule}
        merge: {metadata: {labels: {env: base}}}
",
    );
    let prod = "services:
  catalog:
    patches:
      - target: {kind: DestinationRule}
        merge: {metadata: {labels: {env: prod}}}
      - target: {kind: VirtualService}
        json: [{op: add, path: /spec/http/0/retries, value: {attempts: 9}}]
";
    let broken = "services:
  catalog:
    patches:
      - target: {kind: VirtualService}
        json: [{op: remove, path: /spec/http/0/mirror}]
";
    let p = format!(
        "{PROJECT}environments:\n  prod: {{overlays: [environments/prod]}}\n  broken: {{overlays: [environments/broken]}}\n"
    );
    let tmp = project(&[
        ("meshgen.yaml", &p),
        ("inventory/example.yaml", &base),
        ("environments/prod/catalog.yaml", prod),
        ("environments/broken/catalog.yaml", broken),
    ]);
    let label = |stream: &str| {
        let docs = documents(stream);
        let dr = docs.iter().find(|d| d["kind"] == "DestinationRule").unwrap().clone();
        dr["metadata"]["labels"]["env"].as_str().map(str::to_string)
    };
    let r = meshgen(tmp.path(), &["build", "--stdout"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(label(&r.stdout).as_deref(), Some("base"));
    let r = meshgen(tmp.path(), &["build", "--stdout", "--env", "prod"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(label(&r.stdout).as_deref(), Some("prod"));
    assert!(r.stdout.contains("attempts: 9"), "{}", r.stdout);
    let r = meshgen(tmp.path(), &["check", "--env", "broken"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        findings(&r.stdout),
        ["patch-op-failed environments/broken/catalog.yaml:5:35 (services.catalog.patches[0].json[0].path)"],
        "{}",
        r.stdout
    );
    let r = meshgen(tmp.path(), &["explain", "--env", "prod", "catalog"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("environments/prod/catalog.yaml:4:9 (services.catalog.patches[0])"), "{}", r.stdout);
}

/// `meshgen explain` lists the patches applied to each object, in order, where they are
/// written and what they do.
#[test]
fn explain_lists_the_patches_of_each_object() {
    let dir = fixture();
    let mut shown = String::new();
    for args in [
        &["explain", "catalog"][..],
        &["explain", "DestinationRule/apps/catalog"],
        &["explain", "--output", "json", "payments"],
    ] {
        let r = meshgen(&dir, args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        shown.push_str(&format!("$ meshgen {}\n{}\n", args.join(" "), r.stdout));
    }
    insta::assert_snapshot!("explain-patches", shown);
}
