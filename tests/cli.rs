//! The command line end to end: templates (list, eject, override, verification of overridden
//! output), `build --check`, stale-file removal, warnings, and exit codes.

use crate::common;

use std::fs;

use common::{meshgen, root, scratch_copy, tree};

fn fixture(name: &str) -> tempfile::TempDir {
    scratch_copy(&root().join("tests/fixtures").join(name))
}

#[test]
fn templates_list_and_eject() {
    let tmp = fixture("weighted-split");
    let r = meshgen(tmp.path(), &["templates", "list"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("istio/virtual-service.yaml\tbuilt-in"), "{}", r.stdout);

    let r = meshgen(tmp.path(), &["templates", "eject", "virtual-service"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let ejected = tmp.path().join("templates/istio/virtual-service.yaml");
    assert_eq!(
        fs::read_to_string(&ejected).unwrap(),
        fs::read_to_string(root().join("templates/istio/virtual-service.yaml")).unwrap()
    );
    // Ejecting again would overwrite a customised copy: refused without --force.
    let r = meshgen(tmp.path(), &["templates", "eject", "virtual-service"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--force"), "{}", r.stderr);
    let r = meshgen(tmp.path(), &["templates", "eject", "virtal-service.yaml"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("did you mean"), "{}", r.stderr);

    let r = meshgen(tmp.path(), &["templates", "list", "--templates", "templates"]);
    assert!(r.stdout.contains("istio/virtual-service.yaml\toverridden"), "{}", r.stdout);
}

#[test]
fn an_overriding_template_is_used_and_its_output_verified() {
    let tmp = fixture("weighted-split");
    let plain = meshgen(tmp.path(), &["build", "--stdout"]);
    assert_eq!(plain.code, 0);
    meshgen(tmp.path(), &["templates", "eject", "virtual-service"]);
    let path = tmp.path().join("templates/istio/virtual-service.yaml");
    let text = fs::read_to_string(&path).unwrap();
    fs::write(&path, text.replace("kind: VirtualService", "kind: VirtualService\n# reviewed by the platform team"))
        .unwrap();
    fs::write(
        tmp.path().join("meshgen.yaml"),
        "inventory: [inventory]\ntemplates: templates\ndefaults: {namespace: apps}\n",
    )
    .unwrap();
    let custom = meshgen(tmp.path(), &["build", "--stdout"]);
    assert_eq!(custom.code, 0, "{}", custom.stderr);
    assert!(custom.stdout.contains("# reviewed by the platform team"));
    assert_eq!(custom.stdout.replace("# reviewed by the platform team\n", ""), plain.stdout);

    // A template that emits something else than the object it is for is refused.
    for (bad, expected) in [
        (
            "apiVersion: v1\nkind: Secret\nmetadata: {name: reviews, namespace: apps}\n",
            "produced an invalid VirtualService `apps/reviews`",
        ),
        (&format!("{text}\n---\napiVersion: v1\nkind: Secret\n"), "produced an invalid VirtualService"),
        ("{{ nope }}", "failed to render template `istio/virtual-service.yaml`"),
        ("{% if %}", "failed to parse templates"),
    ] {
        fs::write(&path, bad).unwrap();
        let r = meshgen(tmp.path(), &["build"]);
        assert_eq!(r.code, 2, "{bad}: {}", r.stderr);
        assert!(r.stderr.contains(expected), "{bad}: {}", r.stderr);
        assert!(!tmp.path().join("out").exists());
    }
}

#[test]
fn build_check_reports_drift_with_a_diff() {
    let tmp = fixture("weighted-split");
    let r = meshgen(tmp.path(), &["build", "--check"]);
    assert_eq!(r.code, 1, "nothing built yet: {}", r.stderr);
    assert!(r.stderr.contains("missing: apps/virtualservice-reviews.yaml"), "{}", r.stderr);

    assert_eq!(meshgen(tmp.path(), &["build"]).code, 0);
    let r = meshgen(tmp.path(), &["build", "--check"]);
    assert_eq!(r.code, 0, "{}", r.stderr);

    let inv = tmp.path().join("inventory/services.yaml");
    fs::write(&inv, fs::read_to_string(&inv).unwrap().replace("v1: 50, v2: 50", "v1: 90, v2: 10")).unwrap();
    let r = meshgen(tmp.path(), &["build", "--check"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("changed: apps/virtualservice-reviews.yaml"), "{}", r.stderr);
    assert!(r.stderr.contains("-          weight: 50") && r.stderr.contains("+          weight: 90"), "{}", r.stderr);
}

#[test]
fn objects_no_longer_produced_are_removed() {
    let tmp = fixture("workload-group");
    assert_eq!(meshgen(tmp.path(), &["build"]).code, 0);
    assert!(tree(&tmp.path().join("out")).contains_key("apps/workloadgroup-indexer.yaml"));
    let inv = tmp.path().join("inventory/services.yaml");
    let text = fs::read_to_string(&inv).unwrap();
    let cut = text.find("  indexer:").unwrap();
    fs::write(&inv, &text[..cut]).unwrap();
    let r = meshgen(tmp.path(), &["build"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let files = tree(&tmp.path().join("out"));
    assert!(files.keys().all(|k| !k.contains("indexer")), "{:?}", files.keys());
    assert!(files.contains_key("apps/workloadgroup-batch.yaml"));
    let kustomization = String::from_utf8(files["kustomization.yaml"].clone()).unwrap();
    assert!(!kustomization.contains("indexer"));
}

#[test]
fn dependency_cycles_are_warnings() {
    let tmp = common::project(&[
        ("meshgen.yaml", "defaults: {namespace: apps}\n"),
        (
            "inventory/a.yaml",
            "services:\n  a:\n    ports: {http: 80}\n    pods: {app: a}\n    dependsOn: [b]\n  b:\n    ports: {http: 80}\n    pods: {app: b}\n    dependsOn: [a]\n",
        ),
    ]);
    let r = meshgen(tmp.path(), &["build", "--stdout"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("warning[dependency-cycle]"), "{}", r.stderr);
    assert!(r.stderr.contains("`a`") && r.stderr.contains("`b`"), "{}", r.stderr);
    // The inventory's text is released before rendering; the warning, printed after, still
    // quotes the file read again.
    assert!(r.stderr.contains("--> inventory/a.yaml:2:3 (services.a)"), "{}", r.stderr);
    assert!(r.stderr.contains(" 2 |   a:"), "{}", r.stderr);
    // `check` too: each file's text is released as soon as the model stage has read it.
    let r = meshgen(tmp.path(), &["check"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("--> inventory/a.yaml:2:3 (services.a)"), "{}", r.stdout);
    assert!(r.stdout.contains(" 2 |   a:"), "{}", r.stdout);
}

#[test]
fn errors_found_while_the_model_is_built_quote_the_file_read_again() {
    // Two files: the bad one is read (and its text released) on one worker while the other
    // is read on another; the error is printed once both are done.
    let tmp = common::project(&[
        (
            "meshgen.yaml",
            "defaults: {namespace: apps}
",
        ),
        ("inventory/a.yaml", "services:\n  a:\n    ports: {http: 80}\n    vms: [{address: 10.0.0.1, weight: 0}]\n"),
        ("inventory/b.yaml", "services:\n  b:\n    ports: {http: 80}\n    pods: {app: b}\n"),
    ]);
    let r = meshgen(tmp.path(), &["check"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.contains("error[invalid-value]: weight 0 is not allowed"), "{}", r.stdout);
    assert!(r.stdout.contains("--> inventory/a.yaml:4:"), "{}", r.stdout);
    assert!(r.stdout.contains(" 4 |     vms: [{address: 10.0.0.1, weight: 0}]"), "{}", r.stdout);
}

#[test]
fn usage_and_missing_project_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    // A repository root: the search for meshgen.yaml stops here, whatever is above.
    fs::create_dir(tmp.path().join(".git")).unwrap();
    let r = meshgen(tmp.path(), &["build"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("no `meshgen.yaml` in"), "{}", r.stderr);
    assert_eq!(meshgen(tmp.path(), &["build", "--no-such-flag"]).code, 2);
    let r = meshgen(tmp.path(), &["--version"]);
    assert_eq!(r.code, 0);
    // -C runs elsewhere.
    let r = meshgen(tmp.path(), &["check", "-C", root().join("tests/fixtures/vm-service").to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

const CYCLE: &str = "services:\n  a:\n    ports: {http: 80}\n    pods: {app: a}\n    dependsOn: [b]\n  b:\n    ports: {http: 80}\n    pods: {app: b}\n    dependsOn: [a, a]\n";

#[test]
fn findings_are_suppressed_per_entity_or_per_run_and_warnings_can_be_denied() {
    let tmp = common::project(&[("meshgen.yaml", "defaults: {namespace: apps}\n"), ("inventory/a.yaml", CYCLE)]);
    let r = meshgen(tmp.path(), &["check", "--format", "concise"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("warning[dependency-cycle]") && r.stdout.contains("warning[duplicate-dependency]"));

    // --deny warnings: the same findings fail the run, and build writes nothing.
    let r = meshgen(tmp.path(), &["build", "--deny", "warnings", "--format", "concise"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("error[dependency-cycle]"), "{}", r.stderr);
    assert!(!tmp.path().join("out").exists());

    // --allow silences one code for the run.
    let r =
        meshgen(tmp.path(), &["check", "--format", "concise", "--allow", "duplicate-dependency", "--deny", "warnings"]);
    assert_eq!(r.code, 1);
    assert!(!r.stdout.contains("duplicate-dependency") && r.stdout.contains("dependency-cycle"), "{}", r.stdout);

    // `ignore:` on the entity, with a reason, silences it there.
    let ignored = CYCLE.replacen(
        "    dependsOn: [b]\n",
        "    dependsOn: [b]\n    ignore: [{code: dependency-cycle, reason: \"a and b call back by design\"}]\n",
        1,
    );
    fs::write(tmp.path().join("inventory/a.yaml"), ignored).unwrap();
    let r =
        meshgen(tmp.path(), &["check", "--format", "concise", "--allow", "duplicate-dependency", "--deny", "warnings"]);
    assert_eq!(r.code, 0, "{}", r.stderr);

    // Errors cannot be suppressed; unknown codes get a suggestion; a stale ignore is reported.
    let r = meshgen(tmp.path(), &["check", "--allow", "duplicate-name"]);
    assert_eq!(r.code, 2);
    let r = meshgen(tmp.path(), &["check", "--allow", "dependncy-cycle"]);
    assert!(r.code == 2 && r.stderr.contains("did you mean `dependency-cycle`?"), "{}", r.stderr);
    fs::write(
        tmp.path().join("inventory/a.yaml"),
        "services:\n  a:\n    ports: {http: 80}\n    pods: {app: a}\n    ignore: [{code: self-dependency, reason: old}]\n",
    )
    .unwrap();
    let r = meshgen(tmp.path(), &["check", "--format", "concise"]);
    assert!(r.stdout.contains("inventory/a.yaml:5:14: warning[unused-ignore]"), "{}", r.stdout);
}

#[test]
fn diagnostics_in_sarif_and_github_formats() {
    let tmp = common::project(&[
        ("meshgen.yaml", "defaults: {namespace: apps}\n"),
        ("inventory/a.yaml", "services:\n  a:\n    hots: x\n"),
    ]);
    let r = meshgen(tmp.path(), &["check", "--format", "sarif"]);
    assert_eq!(r.code, 1);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("SARIF on stdout");
    let result = &v["runs"][0]["results"][0];
    assert_eq!(result["ruleId"], "unknown-field");
    assert_eq!(result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], "inventory/a.yaml");
    assert_eq!(result["locations"][0]["physicalLocation"]["region"]["startLine"], 3);

    // A clean run still gives a SARIF log, with no results.
    fs::write(tmp.path().join("inventory/a.yaml"), "services:\n  a:\n    ports: {http: 80}\n    pods: {app: a}\n")
        .unwrap();
    let r = meshgen(tmp.path(), &["check", "--format", "sarif"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("SARIF on stdout");
    assert_eq!(v["runs"][0]["results"].as_array().map(Vec::len), Some(0));
    fs::write(tmp.path().join("inventory/a.yaml"), "services:\n  a:\n    hots: x\n").unwrap();

    let r = meshgen(tmp.path(), &["check", "--format", "github"]);
    assert_eq!(
        r.stdout,
        "::error file=inventory/a.yaml,line=3,col=5,title=meshgen unknown-field::unknown field `hots` \
         (services.a.hots)%0Ahelp: did you mean `host`?\n"
    );
}

fn tcp_service(name: &str, vm: &str) -> String {
    format!(
        "  {name}:\n    host: {name}.apps.internal\n    ports: {{tcp-db: 5432}}\n    serviceAccount: db\n    vms: [{{address: {vm}}}]\n"
    )
}

#[test]
fn vips_are_allocated_stably_and_committed() {
    let inv = |names: &[(&str, &str)]| {
        let mut s = String::from("services:\n");
        for (n, vm) in names {
            s.push_str(&tcp_service(n, vm));
        }
        s
    };
    let tmp = common::project(&[
        ("meshgen.yaml", "vipRange: 240.240.0.0/29\ndefaults: {namespace: apps}\n"),
        ("inventory/db.yaml", &inv(&[("orders-db", "10.0.0.1"), ("users-db", "10.0.0.2")])),
    ]);
    // Without VIPs these two would clash on 5432; with vipRange they do not.
    let r = meshgen(tmp.path(), &["build"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("tcp-port-clash"), "{}", r.stderr);
    let table = fs::read_to_string(tmp.path().join("out/vip-allocations.yaml")).unwrap();
    let first = meshgen::model::vips::parse(&table);
    assert_eq!(first.len(), 2);
    for (key, ip) in &first {
        let name = key.split('/').nth(1).unwrap();
        let se = fs::read_to_string(tmp.path().join(format!("out/apps/serviceentry-{name}.yaml"))).unwrap();
        assert!(se.contains(&format!("- \"{ip}\"")), "{se}");
    }

    // A newcomer (sorting first) gets a free address; the others keep theirs.
    fs::write(
        tmp.path().join("inventory/db.yaml"),
        inv(&[("a-db", "10.0.0.3"), ("orders-db", "10.0.0.1"), ("users-db", "10.0.0.2")]),
    )
    .unwrap();
    assert_eq!(meshgen(tmp.path(), &["build"]).code, 0);
    let second = meshgen::model::vips::parse(&fs::read_to_string(tmp.path().join("out/vip-allocations.yaml")).unwrap());
    assert_eq!(second.len(), 3);
    for (k, v) in &first {
        assert_eq!(second.get(k), Some(v), "{k} moved");
    }
    let mut ips: Vec<_> = second.values().collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 3, "addresses are unique: {second:?}");

    // The range holds 6 usable addresses: a seventh service cannot get one.
    let many: Vec<(String, String)> = (0..7).map(|i| (format!("db{i}"), format!("10.0.1.{i}"))).collect();
    let names: Vec<(&str, &str)> = many.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    fs::write(tmp.path().join("inventory/db.yaml"), inv(&names)).unwrap();
    let r = meshgen(tmp.path(), &["check", "--format", "concise"]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("meshgen.yaml:1:11: error[vip-range-exhausted]"), "{}", r.stdout);
}

#[test]
fn crds_flag_catches_objects_the_api_server_would_reject() {
    let Some(crds) = common::istio_crds::istio_crds_or_skip() else { return };
    let crds = crds.to_str().unwrap().to_string();
    let tmp = fixture("connection-pool");
    let r = meshgen(tmp.path(), &["check", "--crds", &crds]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    // A template override that passes the identity check but breaks the schema.
    meshgen(tmp.path(), &["templates", "eject", "destination-rule"]);
    let path = tmp.path().join("templates/istio/destination-rule.yaml");
    let text = fs::read_to_string(&path).unwrap();
    fs::write(&path, text.replace("spec:\n", "spec:\n  trafficPolicyy: {}\n")).unwrap();
    let r = meshgen(tmp.path(), &["check", "--crds", &crds, "--templates", "templates", "--format", "concise"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("error[crd-violation] DestinationRule `apps/inventory`"), "{}", r.stdout);
    assert!(r.stdout.contains("trafficPolicyy"), "{}", r.stdout);
}

#[test]
fn the_bundled_inventory_checks_clean() {
    let r = meshgen(&root(), &["check", "--deny", "warnings", "--format", "concise"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stdout, "", "no findings at all");
}

/// A rule that catches everything on a port ends that port's rules: nothing after it is
/// emitted there (Istio would flag it unreachable, IST0130), while other ports still get it.
#[test]
fn nothing_follows_a_ports_catch_all_rule() {
    let tmp = common::project(&[
        ("meshgen.yaml", "defaults: {namespace: apps}\n"),
        (
            "inventory/a.yaml",
            "services:\n  web:\n    host: web.apps.internal\n    ports: {http: 8080, http-admin: 8081}\n    serviceAccount: web\n    vms: [{address: 10.0.0.1, labels: {version: v1}}, {address: 10.0.0.2, labels: {version: v2}}]\n    routes:\n      - {match: [{port: 8080}], subset: v1}\n      - {subset: v2}\n",
        ),
    ]);
    let r = meshgen(tmp.path(), &["build", "--stdout"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let docs = common::documents(&r.stdout);
    let vs = docs.iter().find(|d| d["kind"] == "VirtualService").expect("a VirtualService");
    let rules: Vec<(u64, String)> = vs["spec"]["http"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["match"][0]["port"].as_u64().unwrap(),
                r["route"][0]["destination"]["subset"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(rules, vec![(8080, "v1".to_string()), (8081, "v2".to_string())]);
}

#[test]
fn timings_go_to_stderr_and_leave_the_output_alone() {
    let tmp = fixture("weighted-split");
    let plain = meshgen(tmp.path(), &["build", "--stdout"]);
    let timed = meshgen(tmp.path(), &["build", "--stdout", "--timings"]);
    assert_eq!(timed.code, 0, "{}", timed.stderr);
    assert_eq!(timed.stdout, plain.stdout, "--timings must not touch the manifests");
    assert!(!plain.stderr.contains("timings:"), "{}", plain.stderr);
    let stages: Vec<&str> = timed
        .stderr
        .lines()
        .skip_while(|l| *l != "timings:")
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    // Streamed: the objects are checked first, then rendered as they are written.
    assert_eq!(stages, ["load", "model", "graph", "check", "analyse", "stream", "total"], "{}", timed.stderr);

    let r = meshgen(tmp.path(), &["build", "--timings"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("  layout ") && r.stderr.contains("  write "), "{}", r.stderr);
    let r = meshgen(tmp.path(), &["check", "--timings"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("  analyse ") && r.stderr.contains(" total "), "{}", r.stderr);
    assert!(!r.stdout.contains("timings"), "check's report on stdout stays as it was: {}", r.stdout);
    // Against another build, rendering and comparing are one stage, as for `build`.
    let r = meshgen(tmp.path(), &["diff", "--timings", "--against", "out"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("  stream ") && r.stderr.contains("  report "), "{}", r.stderr);
    let plain = meshgen(tmp.path(), &["graph"]);
    let r = meshgen(tmp.path(), &["graph", "--timings"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("  graph ") && r.stderr.contains(" total "), "{}", r.stderr);
    // Printed once the graph is written, so that writing it is accounted for.
    assert!(r.stderr.contains("  export ") && r.stderr.contains("  write "), "{}", r.stderr);
    assert_eq!(r.stdout, plain.stdout, "the graph on stdout stays as it was");
    // Creating the files of a first build is a stage of its own; an unchanged rebuild has none.
    let first = meshgen(tmp.path(), &["build", "--timings", "--layout", "object", "--out-dir", "objects"]);
    assert!(first.stderr.contains("  compare ") && first.stderr.contains("  files "), "{}", first.stderr);
    let again = meshgen(tmp.path(), &["build", "--timings", "--layout", "object", "--out-dir", "objects"]);
    assert!(again.stderr.contains("  compare ") && !again.stderr.contains("  files "), "{}", again.stderr);
}

/// An overriding DestinationRule template that puts TLS in a port-level entry beside a
/// destination-level policy (which the port would then lose) is refused, not written.
#[test]
fn an_override_that_makes_istio_drop_a_policy_is_refused() {
    let tmp = fixture("tls-origination");
    fs::write(
        tmp.path().join("meshgen.yaml"),
        "inventory: [inventory]\ntemplates: templates\ndefaults: {namespace: apps, traffic: {outlierDetection: {consecutive5xxErrors: 5}}}\n",
    )
    .unwrap();
    meshgen(tmp.path(), &["templates", "eject", "destination-rule"]);
    let path = tmp.path().join("templates/istio/destination-rule.yaml");
    let text = fs::read_to_string(&path).unwrap();
    // The layout meshgen used before 0.2: `tls` moved into an entry for port 80.
    let old = text.replace(
        "  trafficPolicy:{{ trafficPolicy | yaml(indent=4) }}",
        "  trafficPolicy:\n    outlierDetection: {consecutive5xxErrors: 5}\n    portLevelSettings:\n      - port: {number: 80}\n        tls: {mode: SIMPLE}",
    );
    assert_ne!(old, text, "the ejected template changed: update this test");
    fs::write(&path, old).unwrap();
    let r = meshgen(tmp.path(), &["build"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "(port 80) has no `outlierDetection`: Istio gives the port its default instead of the destination's"
        ),
        "{}",
        r.stderr
    );
    assert!(!tmp.path().join("out").exists());
}

/// `names` gives an entity's objects named after it the names of existing objects (adopting
/// them without delete and recreate), and a name that renames nothing is an error at it.
#[test]
fn names_rename_the_objects_named_after_the_entity_and_nothing_else() {
    let inv = "services:\n  reviews:\n    host: reviews.apps.internal\n    ports: {http: 9080}\n    serviceAccount: reviews\n    vms: [{address: 10.3.0.1}]\n    traffic: {timeout: 2s}\n    names: {DestinationRule: reviews-dr, VirtualService: reviews-vs}\n";
    let tmp = common::project(&[
        ("meshgen.yaml", "inventory: [inventory]\ndefaults: {namespace: apps}\n"),
        ("inventory/x.yaml", inv),
    ]);
    let r = meshgen(tmp.path(), &["build", "--stdout"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let names: Vec<(String, String)> = common::documents(&r.stdout)
        .iter()
        .map(|d| (d["kind"].as_str().unwrap().to_string(), d["metadata"]["name"].as_str().unwrap().to_string()))
        .collect();
    for want in [
        ("DestinationRule", "reviews-dr"),
        ("VirtualService", "reviews-vs"),
        ("ServiceEntry", "reviews"),
        ("WorkloadEntry", "reviews-10-3-0-1"),
    ] {
        assert!(names.contains(&(want.0.to_string(), want.1.to_string())), "{want:?} in {names:?}");
    }
    let unused = inv.replace("VirtualService: reviews-vs", "WorkloadGroup: reviews-wg");
    std::fs::write(tmp.path().join("inventory/x.yaml"), unused).unwrap();
    let r = meshgen(tmp.path(), &["check"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout.contains("`reviews` makes no WorkloadGroup named after it, so `names.WorkloadGroup` renames nothing"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("inventory/x.yaml:8:42 (services.reviews.names.WorkloadGroup)"), "{}", r.stdout);
    let r = meshgen(tmp.path(), &["build"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
}

/// Templates come with the repository, which may be hostile: one cannot print a variable of
/// the CI job or the Argo CD sidecar (a token) into the output with Tera's `get_env`.
#[test]
fn an_overriding_template_cannot_read_the_environment() {
    let tmp = fixture("weighted-split");
    meshgen(tmp.path(), &["templates", "eject", "virtual-service"]);
    let path = tmp.path().join("templates/istio/virtual-service.yaml");
    let text = fs::read_to_string(&path).unwrap();
    fs::write(
        &path,
        text.replace("kind: VirtualService", "kind: VirtualService\n# {{ get_env(name=\"MESHGEN_TEST_TOKEN\") }}"),
    )
    .unwrap();
    fs::write(
        tmp.path().join("meshgen.yaml"),
        "inventory: [inventory]\ntemplates: templates\ndefaults: {namespace: apps}\n",
    )
    .unwrap();
    let r: common::Run = common::command()
        .args(["build", "--stdout"])
        .current_dir(tmp.path())
        .env("MESHGEN_TEST_TOKEN", "s3cr3t-t0ken")
        .output()
        .unwrap()
        .into();
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(!r.stdout.contains("s3cr3t-t0ken") && !r.stderr.contains("s3cr3t-t0ken"));
    assert!(r.stderr.contains("`get_env` is disabled"), "{}", r.stderr);
}

/// `-C DIR` from another working directory: a copy of the bundled project in `proj/`, and an
/// empty `work/` beside it to run from, as `-C ../proj`.
struct Elsewhere {
    tmp: tempfile::TempDir,
}

impl Elsewhere {
    fn new() -> Elsewhere {
        let tmp = tempfile::tempdir().unwrap();
        common::copy_dir(scratch_copy(&root()).path(), &tmp.path().join("proj"));
        fs::create_dir(tmp.path().join("work")).unwrap();
        Elsewhere { tmp }
    }

    fn proj(&self) -> std::path::PathBuf {
        self.tmp.path().join("proj")
    }

    /// `meshgen COMMAND -C ../proj ARGS` in `work/`.
    fn run(&self, command: &[&str], args: &[&str]) -> common::Run {
        let all: Vec<&str> = command.iter().chain(&["-C", "../proj"]).chain(args).copied().collect();
        meshgen(&self.tmp.path().join("work"), &all)
    }

    /// `meshgen COMMAND ARGS` in `proj/`, the reference.
    fn here(&self, command: &[&str], args: &[&str]) -> common::Run {
        let all: Vec<&str> = command.iter().chain(args).copied().collect();
        meshgen(&self.proj(), &all)
    }

    /// Runs both ways; they must agree, byte for byte.
    fn same(&self, command: &[&str], args: &[&str]) -> common::Run {
        let (there, here) = (self.run(command, args), self.here(command, args));
        assert_eq!((there.code, &there.stdout, &there.stderr), (here.code, &here.stdout, &here.stderr), "{args:?}");
        there
    }

    /// Nothing was ever written where meshgen was run.
    fn assert_work_untouched(&self) {
        assert_eq!(fs::read_dir(self.tmp.path().join("work")).unwrap().count(), 0, "meshgen wrote into its cwd");
    }
}

#[test]
fn build_with_a_directory_writes_and_checks_there_from_anywhere() {
    let e = Elsewhere::new();
    let r = e.run(&["build"], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.starts_with("built 53 objects into `out`: "), "named as from the project: {}", r.stderr);
    assert_eq!(tree(&e.proj().join("out")), tree(&root().join("out")), "the committed output");
    let r = e.same(&["build"], &["--check"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("`out` is up to date"), "{}", r.stderr);
    e.same(&["build"], &["--stdout"]);
    // `--out` relative to `-C DIR`, and an environment's own default output.
    let r = e.run(&["build"], &["--out", "other", "-q"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(tree(&e.proj().join("other")), tree(&root().join("out")));
    let r = e.same(&["build"], &["--out", "other", "--check"]);
    assert!(r.stderr.contains("`other` is up to date"), "{}", r.stderr);
    let r = e.run(&["build"], &["--env", "prod", "-q"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(e.proj().join("out-prod/kustomization.yaml").is_file());
    // Drift is reported with the project's names.
    fs::remove_file(e.proj().join("other/kustomization.yaml")).unwrap();
    let r = e.same(&["build"], &["--out", "other", "--check"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("`other` is out of date (1 file):\n  missing: kustomization.yaml"), "{}", r.stderr);
    e.assert_work_untouched();
}

#[test]
fn templates_and_crds_given_relative_to_the_directory() {
    let e = Elsewhere::new();
    let r = e.here(&["templates", "eject"], &["--to", "tpl"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let path = e.proj().join("tpl/istio/service-entry.yaml");
    let text = fs::read_to_string(&path).unwrap();
    fs::write(&path, text.replace("kind: ServiceEntry\n", "kind: ServiceEntry\n# from tpl\n")).unwrap();
    let r = e.same(&["build"], &["--templates", "tpl", "--stdout"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("kind: ServiceEntry\n# from tpl\n"), "the overriding templates were used");
    let r = e.same(&["templates", "list"], &["--templates", "tpl"]);
    assert!(r.stdout.contains("istio/service-entry.yaml\toverridden"), "{}", r.stdout);
    assert_eq!(e.same(&["check"], &["--templates", "tpl"]).code, 0);
    // The project file's own `templates` starts at the project file.
    let project = fs::read_to_string(e.proj().join("meshgen.yaml")).unwrap();
    fs::write(e.proj().join("meshgen.yaml"), format!("templates: tpl\n{project}")).unwrap();
    let r = e.same(&["templates", "list"], &[]);
    assert!(r.stdout.contains("istio/service-entry.yaml\toverridden"), "{}", r.stdout);
    assert!(e.same(&["build"], &["--stdout"]).stdout.contains("# from tpl\n"));

    if let Some(crds) = crate::common::istio_crds::istio_crds_or_skip() {
        common::copy_dir(&crds, &e.proj().join("crds"));
        let r = e.same(&["check"], &["--crds", "crds"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    e.assert_work_untouched();
}

#[test]
fn check_graph_and_explain_with_a_directory_read_the_project_there() {
    let e = Elsewhere::new();
    let r = e.same(&["check"], &[]);
    assert!(r.stderr.starts_with("checked 12 entities"), "{}", r.stderr);
    e.same(&["check"], &["--env", "staging", "--format", "json"]);
    let r = e.same(&["graph"], &["--output", "dot"]);
    assert!(r.stdout.starts_with("digraph"), "{}", r.stdout);
    // Output files are named under the project's output directory, and found by that name.
    let r = e.same(&["explain"], &["catalog"]);
    assert!(r.stdout.contains(" out/shop/serviceentry-catalog.yaml "), "{}", r.stdout);
    let r = e.same(&["explain"], &["out/shop/serviceentry-catalog.yaml", "--output", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    e.same(&["explain"], &["payments", "--impact"]);
    // `--project` starts at `-C DIR` too.
    let r = meshgen(&e.tmp.path().join("work"), &["check", "-C", "..", "--project", "proj/meshgen.yaml"]);
    assert_eq!(r.stderr, e.here(&["check"], &[]).stderr);
    e.assert_work_untouched();
}

#[test]
fn diff_against_a_directory_relative_to_the_project() {
    let e = Elsewhere::new();
    assert_eq!(e.run(&["build"], &["-q"]).code, 0);
    let r = e.same(&["diff"], &["--against", "out"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("no changes"), "{}", r.stdout);
    // The prod build against the base one: changes, reported under the name given.
    let r = e.same(&["diff"], &["--env", "prod", "--against", "out", "--output", "markdown"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stdout.contains("`out`"), "{}", r.stdout);
    e.assert_work_untouched();
}

/// `meshgen completions SHELL` prints a script for every shell clap_complete knows, naming
/// the commands and their flags; the bash one, sourced into bash, completes.
#[test]
fn completions_for_every_shell_and_bash_completes() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let r = meshgen(dir.path(), &["completions", shell]);
        assert_eq!(r.code, 0, "{shell}: {}", r.stderr);
        for word in ["build", "diff", "stdout", "against", "completions"] {
            assert!(r.stdout.contains(word), "{shell}: `{word}` missing");
        }
    }
    let script = dir.path().join("meshgen.bash");
    fs::write(&script, meshgen(dir.path(), &["completions", "bash"]).stdout).unwrap();
    let complete = |words: &str| {
        let cmd = format!(
            "source {}; COMP_WORDS=({words}); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 )); \
             _meshgen meshgen \"${{COMP_WORDS[-1]}}\" \"${{COMP_WORDS[-2]}}\"; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display()
        );
        let out = std::process::Command::new("bash").args(["--norc", "-c", &cmd]).output().expect("bash runs");
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(complete("meshgen bu").trim(), "build");
    assert!(complete("meshgen build --st").lines().any(|l| l == "--stdout"));
    assert!(complete("meshgen diff --outp").lines().any(|l| l == "--output"));
}

/// `meshgen man` prints the roff page; `--out-dir` writes one per command.
#[test]
fn man_pages_for_meshgen_and_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let r = meshgen(dir.path(), &["man"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains(".TH meshgen 1") && r.stdout.contains(".SH NAME"), "{}", r.stdout);
    let pages = dir.path().join("man/man1");
    let r = meshgen(dir.path(), &["man", "--out-dir", "man/man1"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for cmd in ["build", "check", "diff", "graph", "explain", "templates-eject", "completions"] {
        let page = fs::read_to_string(pages.join(format!("meshgen-{cmd}.1"))).unwrap_or_default();
        assert!(page.contains(&format!(".TH meshgen-{cmd} 1")), "meshgen-{cmd}.1: {page}");
    }
    let build = fs::read_to_string(pages.join("meshgen-build.1")).unwrap();
    assert!(build.contains("stdout"), "{build}");
}
