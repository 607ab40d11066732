//! The flags every command shares, as kubectl, helm, cargo and just users expect them:
//! `-o/--output FORMAT` for reports, `--out-dir` for `build`'s directory, global options
//! before or after the command, the project file found from a subdirectory, `-q` and `-v`,
//! `MESHGEN_*` variables, and a `--help` with examples and exit codes offering only the
//! flags each command honours.

use crate::common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use clap::CommandFactory as _;
use common::{Run, meshgen, root, tree};

/// A copy of the bundled project in `proj/` of a scratch directory whose `proj/` is a
/// repository root (it holds `.git`), so that no `meshgen.yaml` above the scratch directory
/// is ever found.
struct Scratch {
    tmp: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        let tmp = tempfile::tempdir().unwrap();
        common::copy_dir(common::scratch_copy(&root()).path(), &tmp.path().join("proj"));
        fs::create_dir(tmp.path().join("proj/.git")).unwrap();
        Scratch { tmp }
    }

    fn top(&self) -> &Path {
        self.tmp.path()
    }

    fn proj(&self) -> PathBuf {
        self.tmp.path().join("proj")
    }
}

/// Runs `meshgen ARGS` in `dir` with the environment variables `vars`.
fn with_vars(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> Run {
    common::command()
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .envs(vars.iter().copied())
        .output()
        .unwrap()
        .into()
}

/// The JSON document of a run's stdout.
fn json(r: &Run) -> serde_json::Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}\n{}", r.stdout, r.stderr))
}

#[test]
fn global_options_go_before_or_after_the_command() {
    let s = Scratch::new();
    assert_eq!(meshgen(&s.proj(), &["build", "-q"]).code, 0);
    for args in [
        &["build", "--stdout"][..],
        &["check", "-o", "json"],
        &["graph", "-o", "dot"],
        &["explain", "catalog"],
        &["diff", "--against", "out"],
        &["templates", "list"],
    ] {
        let (command, rest) = args.split_first().unwrap();
        let before: Vec<&str> = ["-C", "proj", "-v", command].iter().chain(rest).copied().collect();
        let after: Vec<&str> = [*command, "-C", "proj", "-v"].iter().chain(rest).copied().collect();
        let (b, a) = (meshgen(s.top(), &before), meshgen(s.top(), &after));
        assert_eq!(b.code, 0, "{before:?}: {}", b.stderr);
        assert_eq!((b.code, &b.stdout, &b.stderr), (a.code, &a.stdout, &a.stderr), "{args:?}");
        assert!(b.stderr.contains("project file `proj/meshgen.yaml`"), "{args:?}: {}", b.stderr);
    }
    // Written files too.
    let built = tree(&s.proj().join("out"));
    fs::remove_dir_all(s.proj().join("out")).unwrap();
    let r = meshgen(s.top(), &["-C", "proj", "--color", "never", "build"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(tree(&s.proj().join("out")), built);
    assert_eq!(tree(&s.proj().join("out")), tree(&root().join("out")));
}

#[test]
fn the_project_file_is_found_from_a_subdirectory() {
    let s = Scratch::new();
    let shop = s.proj().join("inventory/shop");
    let files = fs::read_dir(&shop).unwrap().count();
    let here = meshgen(&s.proj(), &["build", "--stdout"]);
    let r = meshgen(&shop, &["-v", "build", "--stdout"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, here.stdout, "the same project, the same manifests");
    assert!(
        r.stderr.contains("project file `../../meshgen.yaml` (project directory `../..`, found in a parent directory)"),
        "{}",
        r.stderr
    );
    // The project's paths start at the project file: out/ is the project's, named from here.
    let r = meshgen(&shop, &["build"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.starts_with("built 53 objects into `../../out`"), "{}", r.stderr);
    assert_eq!(tree(&s.proj().join("out")), tree(&root().join("out")));
    // Paths on the command line start where they were typed.
    let r = meshgen(&shop, &["diff", "--against", "../../out"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let r = meshgen(&shop, &["build", "-q", "--out-dir", "../../other"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(tree(&s.proj().join("other")), tree(&root().join("out")));
    let r = meshgen(&shop, &["explain", "catalog"]);
    assert!(r.stdout.contains(" ../../out/shop/serviceentry-catalog.yaml "), "{}", r.stdout);
    assert_eq!(fs::read_dir(&shop).unwrap().count(), files, "nothing written into the inventory");
}

#[test]
fn the_search_stops_at_the_repository_root() {
    let tmp = tempfile::tempdir().unwrap();
    let outer = tmp.path().join("outer");
    common::copy_dir(common::scratch_copy(&root()).path(), &outer);
    let sub = outer.join("repo/sub");
    fs::create_dir_all(&sub).unwrap();
    // A `.git` file, as in a worktree or a submodule, is a repository root too.
    fs::write(outer.join("repo/.git"), "gitdir: elsewhere\n").unwrap();
    let r = meshgen(&sub, &["check"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let repo = outer.join("repo").canonicalize().unwrap();
    assert!(
        r.stderr.contains(&format!("nor in a parent directory up to the repository root `{}`", repo.display())),
        "{}",
        r.stderr
    );
    fs::remove_file(outer.join("repo/.git")).unwrap();
    let r = meshgen(&sub, &["-v", "check"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("project file `../../meshgen.yaml`"), "{}", r.stderr);
    // `--project` is taken as given: no search.
    let r = meshgen(&sub, &["check", "--project", "meshgen.yaml"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("no project file at `meshgen.yaml`"), "{}", r.stderr);
}

#[test]
fn output_json_everywhere_is_a_document_on_stdout() {
    let s = Scratch::new();
    let p = s.proj();
    let r = meshgen(&p, &["check", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(json(&r), serde_json::json!([]));
    let r = meshgen(&p, &["build", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(json(&r), serde_json::json!([]));
    assert!(!p.join("json").exists(), "`-o` is the format, not the output directory");
    assert!(p.join("out/kustomization.yaml").is_file());
    let r = meshgen(&p, &["diff", "--against", "out", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(json(&r)["summary"]["unchanged"], 53);
    let r = meshgen(&p, &["graph", "-o", "json"]);
    assert!(json(&r)["nodes"].as_array().is_some_and(|n| n.iter().any(|n| n["name"] == "catalog")), "{}", r.stdout);
    let r = meshgen(&p, &["explain", "catalog", "-o", "json"]);
    assert_eq!(json(&r)["entity"], "catalog");
    // With the manifests on stdout, the diagnostics stay on stderr.
    let r = meshgen(&p, &["build", "--stdout", "--output", "json"]);
    assert!(r.stdout.starts_with("apiVersion") || r.stdout.starts_with("---"), "{}", r.stdout);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&r.stderr).ok(), Some(serde_json::json!([])));
}

#[test]
fn out_dir_and_the_old_spellings() {
    let s = Scratch::new();
    let p = s.proj();
    for (flag, dir) in [("--out-dir", "a"), ("--out", "b")] {
        let r = meshgen(&p, &["build", flag, dir]);
        assert_eq!(r.code, 0, "{flag}: {}", r.stderr);
        assert!(r.stderr.starts_with(&format!("built 53 objects into `{dir}`")), "{}", r.stderr);
        assert_eq!(tree(&p.join(dir)), tree(&root().join("out")), "{flag}");
    }
    // `--format` is `-o`'s old name on check and build.
    let tmp = common::project(&[("meshgen.yaml", "defaults: {namespace: apps}\n"), ("inventory/a.yaml", CYCLE)]);
    for command in [&["check"][..], &["build", "--stdout"]] {
        let old = meshgen(tmp.path(), &[command, &["--format", "concise"]].concat());
        let new = meshgen(tmp.path(), &[command, &["-o", "concise"]].concat());
        assert_eq!((old.code, &old.stdout, &old.stderr), (new.code, &new.stdout, &new.stderr), "{command:?}");
        let text = if command[0] == "check" { &new.stdout } else { &new.stderr };
        assert!(text.contains("inventory/a.yaml:2:3: warning[dependency-cycle]"), "{command:?}: {text}");
    }
}

/// Two services calling each other: warnings only.
const CYCLE: &str = "services:\n  a:\n    ports: {http: 80}\n    pods: {app: a}\n    dependsOn: [b]\n  b:\n    ports: {http: 80}\n    pods: {app: b}\n    dependsOn: [a]\n";

#[test]
fn quiet_prints_errors_only_and_verbose_says_what_it_did() {
    let tmp = common::project(&[("meshgen.yaml", "defaults: {namespace: apps}\n"), ("inventory/a.yaml", CYCLE)]);
    let dir = tmp.path();
    let loud = meshgen(dir, &["build"]);
    assert!(loud.stderr.contains("warning[dependency-cycle]") && loud.stderr.contains("built "), "{}", loud.stderr);
    for args in [
        &["build"][..],
        &["check"],
        &["graph"],
        &["explain", "a"],
        &["build", "--check"],
        &["diff", "--against", "out"],
    ] {
        let quiet: Vec<&str> = args.iter().chain(&["-q"]).copied().collect();
        let r = meshgen(dir, &quiet);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        assert_eq!(r.stderr, "", "{args:?}");
        assert!(!r.stdout.contains("warning"), "{args:?}: {}", r.stdout);
    }
    // Payloads are not chatter: the JSON report keeps the warnings, the manifests stay.
    let r = meshgen(dir, &["check", "-q", "-o", "json"]);
    assert!(json(&r).as_array().is_some_and(|d| d.iter().any(|d| d["code"] == "dependency-cycle")), "{}", r.stdout);
    assert_eq!(meshgen(dir, &["-q", "build", "--stdout"]).stdout, meshgen(dir, &["build", "--stdout"]).stdout);
    // Errors are still printed.
    fs::write(dir.join("inventory/a.yaml"), "services:\n  a:\n    hots: x\n").unwrap();
    let r = meshgen(dir, &["build", "-q"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("error[unknown-field]"), "{}", r.stderr);
    fs::write(dir.join("inventory/a.yaml"), CYCLE).unwrap();

    let r = meshgen(dir, &["build", "-v"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for line in [
        "project file `meshgen.yaml` (project directory `.`)",
        "read 1 inventory and overlay files: 2 services, 0 externals",
        "0 objects in 1 file, Object layout, for `out`",
        "built 0 objects into `out`: ",
    ] {
        assert!(r.stderr.contains(line), "`{line}` in:\n{}", r.stderr);
    }
    assert!(!r.stderr.contains("timings:"), "{}", r.stderr);
    let r = meshgen(dir, &["check", "-vv"]);
    assert!(r.stderr.contains("timings:") && r.stderr.contains(" total "), "-vv times the stages: {}", r.stderr);
    assert_eq!(meshgen(dir, &["build", "-q", "-v"]).code, 2, "-q and -v contradict each other");
}

#[test]
fn variables_set_the_common_options_and_flags_beat_them() {
    let s = Scratch::new();
    let top = s.top();
    let p = s.proj();
    let reference = |args: &[&str]| meshgen(&p, args);
    // MESHGEN_PROJECT: from anywhere, as `--project`; `--project` wins.
    let r = with_vars(top, &["check", "-o", "json"], &[("MESHGEN_PROJECT", "proj/meshgen.yaml")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = with_vars(top, &["check", "--project", "nope.yaml"], &[("MESHGEN_PROJECT", "proj/meshgen.yaml")]);
    assert_eq!(r.code, 2, "the flag wins: {}", r.stderr);
    // MESHGEN_ENV: as `--env`; `--env` wins; empty is unset.
    let prod = reference(&["build", "--stdout", "--env", "prod"]).stdout;
    let base = reference(&["build", "--stdout"]).stdout;
    assert_ne!(prod, base);
    assert_eq!(with_vars(&p, &["build", "--stdout"], &[("MESHGEN_ENV", "prod")]).stdout, prod);
    let staging = reference(&["build", "--stdout", "--env", "staging"]).stdout;
    assert_eq!(with_vars(&p, &["build", "--stdout", "--env", "staging"], &[("MESHGEN_ENV", "prod")]).stdout, staging);
    assert_eq!(with_vars(&p, &["build", "--stdout"], &[("MESHGEN_ENV", "")]).stdout, base);
    // MESHGEN_TEMPLATES: as `--templates`.
    assert_eq!(meshgen(&p, &["templates", "eject", "service-entry", "--to", "tpl", "-q"]).code, 0);
    let path = p.join("tpl/istio/service-entry.yaml");
    fs::write(&path, fs::read_to_string(&path).unwrap().replace("kind: ServiceEntry\n", "kind: ServiceEntry\n# tpl\n"))
        .unwrap();
    let r = with_vars(&p, &["build", "--stdout"], &[("MESHGEN_TEMPLATES", "tpl")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("# tpl\n"));
    let r = with_vars(&p, &["templates", "list"], &[("MESHGEN_TEMPLATES", "tpl")]);
    assert!(r.stdout.contains("istio/service-entry.yaml\toverridden"), "{}", r.stdout);
    // MESHGEN_CRDS: as `--crds` (a directory without CRDs is refused, so it was read).
    let r = with_vars(&p, &["check"], &[("MESHGEN_CRDS", "no-such-dir")]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("no-such-dir"), "{}", r.stderr);
    // MESHGEN_COLOR: as `--color`; NO_COLOR still turns `auto` off; `--color` wins.
    let warn = common::project(&[("meshgen.yaml", "defaults: {namespace: apps}\n"), ("inventory/a.yaml", CYCLE)]);
    let colored = |r: &Run| r.stdout.contains('\u{1b}');
    assert!(colored(&with_vars(warn.path(), &["check"], &[("MESHGEN_COLOR", "always")])));
    assert!(!colored(&with_vars(warn.path(), &["check", "--color", "never"], &[("MESHGEN_COLOR", "always")])));
    assert!(!colored(&with_vars(warn.path(), &["check"], &[("MESHGEN_COLOR", "auto")])));
    assert!(colored(&with_vars(warn.path(), &["check", "--color", "always"], &[("MESHGEN_COLOR", "never")])));
}

/// The Argo CD plugin is configured by Argo CD (`ARGOCD_ENV_*`, parameters): `MESHGEN_*`
/// variables the sidecar's environment may carry change nothing it renders.
#[test]
fn the_argocd_plugin_ignores_meshgen_variables() {
    let s = Scratch::new();
    let p = s.proj();
    let plain = meshgen(&p, &["argocd", "generate"]);
    assert_eq!(plain.code, 0, "{}", plain.stderr);
    let vars = [
        ("MESHGEN_PROJECT", "nope.yaml"),
        ("MESHGEN_ENV", "prod"),
        ("MESHGEN_TEMPLATES", "nope"),
        ("MESHGEN_CRDS", "nope"),
        ("MESHGEN_COLOR", "always"),
    ];
    let r = with_vars(&p, &["argocd", "generate"], &vars);
    assert_eq!((r.code, &r.stdout), (0, &plain.stdout), "{}", r.stderr);
    assert!(!r.stderr.contains('\u{1b}'), "the plugin never colours: {}", r.stderr);
    let r = with_vars(&p, &["argocd", "parameters"], &vars);
    assert_eq!(r.stdout, meshgen(&p, &["argocd", "parameters"]).stdout);
    // `-C DIR` is the application's directory.
    let there = meshgen(s.top(), &["-C", "proj", "argocd", "generate"]);
    assert_eq!((there.code, &there.stdout), (0, &plain.stdout), "{}", there.stderr);
}

/// `-C` on the commands that read no project: paths start there; `--project` is ignored.
#[test]
fn commands_without_a_project_take_the_global_options() {
    let tmp = tempfile::tempdir().unwrap();
    fs::create_dir(tmp.path().join("elsewhere")).unwrap();
    let r = meshgen(tmp.path(), &["-C", "elsewhere", "templates", "eject", "virtual-service", "-q"]);
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    assert!(tmp.path().join("elsewhere/templates/istio/virtual-service.yaml").is_file());
    let r = meshgen(tmp.path(), &["templates", "eject", "virtual-service", "-C", "elsewhere"]);
    assert_eq!(r.code, 2, "already there: {}", r.stderr);
    let r = meshgen(tmp.path(), &["man", "-C", "elsewhere", "--out-dir", "man"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(tmp.path().join("elsewhere/man/meshgen-build.1").is_file());
    let r = meshgen(tmp.path(), &["-q", "--project", "nope.yaml", "-C", "elsewhere", "completions", "bash"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("--out-dir"));
    let r = meshgen(tmp.path(), &["-C", "nope", "completions", "bash"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("cannot change to `nope`"), "{}", r.stderr);
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1, "nothing written where meshgen was started");
}

/// Each command by its path of names, e.g. `templates list`.
fn commands() -> Vec<(String, clap::Command)> {
    fn walk(prefix: &str, cmd: &clap::Command, out: &mut Vec<(String, clap::Command)>) {
        for sub in cmd.get_subcommands() {
            let name = format!("{prefix}{}{}", if prefix.is_empty() { "" } else { " " }, sub.get_name());
            out.push((name.clone(), sub.clone()));
            walk(&name, sub, out);
        }
    }
    // Built, so that the global options are propagated to every command.
    let mut root = meshgen::cli::args::Cli::command();
    root.build();
    let mut out = vec![(String::new(), root.clone())];
    walk("", &root, &mut out);
    out
}

/// Whether `name` is clap's `help` command (`meshgen help build`), not one of meshgen's.
fn is_help(name: &str) -> bool {
    name.split(' ').any(|w| w == "help")
}

/// The flags each command offers (besides the global ones, `--help` and `--version`):
/// only those it honours. `graph` and `explain` render nothing, so `--crds`, `--templates`,
/// `--deny` and `--label` would do nothing there.
#[test]
fn each_command_offers_the_flags_it_honours() {
    const COMPILE: &str = "env cluster allow timings";
    const RENDER: &str = "api-version templates crds deny label";
    let expected = [
        ("", ""),
        ("build", &format!("{COMPILE} {RENDER} output check stdout out-dir layout")[..]),
        ("check", &format!("{COMPILE} {RENDER} output live kubeconfig context namespace timeout selector")),
        ("graph", &format!("{COMPILE} format output namespace focus depth")),
        ("explain", &format!("{COMPILE} format impact output layout api-version")),
        (
            "diff",
            &format!(
                "{COMPILE} {RENDER} format against kubeconfig context namespace timeout server-side selector field-manager concurrency ignore output markdown-limit"
            ),
        ),
        ("templates", ""),
        ("templates list", "templates"),
        ("templates eject", "to force"),
        ("argocd", ""),
        ("argocd generate", ""),
        ("argocd parameters", ""),
        ("completions", ""),
        ("man", "out-dir"),
        ("init", "minimal"),
        ("import", "dry-run cluster kubeconfig context namespace selector"),
        ("schema", "out-dir"),
    ];
    let global: BTreeSet<&str> = ["directory", "project", "color", "quiet", "verbose", "help", "version"].into();
    let mut seen = Vec::new();
    for (name, cmd) in commands().into_iter().filter(|(n, _)| !is_help(n)) {
        let offered: BTreeSet<String> = cmd
            .get_arguments()
            .filter_map(|a| a.get_long())
            .filter(|l| !global.contains(l))
            .map(str::to_string)
            .collect();
        let want = expected.iter().find(|(n, _)| *n == name).unwrap_or_else(|| panic!("`{name}` is not listed here"));
        let want: BTreeSet<String> = want.1.split_whitespace().map(str::to_string).collect();
        assert_eq!(offered, want, "meshgen {name}");
        let globals: BTreeSet<&str> =
            cmd.get_arguments().filter_map(|a| a.get_long()).filter(|l| global.contains(l)).collect();
        assert!(
            ["directory", "project", "color", "quiet", "verbose"].iter().all(|g| globals.contains(g)),
            "{name}: {globals:?}"
        );
        seen.push(name);
    }
    assert_eq!(seen.len(), expected.len(), "{seen:?}");
}

/// Every `--help` ends with examples and the exit codes of the command (snapshots, one per
/// command, for review).
#[test]
fn every_help_has_examples_and_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    common::each(
        commands().into_iter().map(|(n, _)| n).filter(|n| !is_help(n)),
        |name| format!("meshgen {name}"),
        |name| {
            let mut args: Vec<&str> = name.split_whitespace().collect();
            args.push("--help");
            let r = meshgen(dir.path(), &args);
            assert_eq!(r.code, 0, "{}", r.stderr);
            let examples = r.stdout.split_once("\nExamples:\n  ").map(|(_, e)| e).unwrap_or_default();
            assert!(examples.contains("meshgen "), "meshgen {name}: no examples");
            assert!(r.stdout.contains("\nExit codes"), "meshgen {name}: no exit codes");
            assert!(r.stdout.contains("  0  "), "meshgen {name}: no exit code 0");
            let snapshot =
                if name.is_empty() { "help".to_string() } else { format!("help_{}", name.replace(' ', "_")) };
            insta::assert_snapshot!(snapshot, r.stdout);
        },
    );
}
