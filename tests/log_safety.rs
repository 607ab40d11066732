//! Logs cannot be forged, and long ones stay fast: inventory text (keys, values, paths) that
//! would put a GitHub Actions workflow command on a line of its own or an escape sequence on
//! a terminal is escaped in every human-readable output (issue 23, item 4), and 40,000
//! findings in one file print in linear time with the repeats summed up (item 5).

use crate::common;

use std::fs;
use std::time::{Duration, Instant};

use common::meshgen;
use meshgen::diag::escape::forges_log;

/// The keys and values of the attack: a workflow command on its own line, a colour change,
/// and a right-to-left override with a CSI (the C1 form of ESC `[`).
const HOSTILE: [(&str, &str); 3] = [
    ("a\n::error file=x::pwned", "a\\n::error file=x::pwned"),
    ("\u{1b}[31mred", "\\e[31mred"),
    ("\u{202e}x\u{9b}2J", "\\u202ex\\x9b2J"),
];

fn project(files: &[(&str, String)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("meshgen.yaml"), "inventory: [inventory]\ndefaults: {namespace: apps}\n").unwrap();
    fs::create_dir_all(dir.path().join("inventory")).unwrap();
    for (name, text) in files {
        fs::write(dir.path().join("inventory").join(name), text).unwrap();
    }
    dir
}

fn assert_safe(what: &str, text: &str) {
    assert_eq!(forges_log(text), None, "{what}:\n{text}");
    assert!(!text.contains('\u{1b}'), "{what} prints an ESC byte:\n{text}");
}

/// One file per attack: an unknown field named by it (message, path, excerpt), and a value
/// holding it (a host: a quoted value in the message).
fn hostile_inventory() -> tempfile::TempDir {
    let files: Vec<(&str, String)> = HOSTILE
        .iter()
        .zip(["a.yaml", "b.yaml", "c.yaml"])
        .enumerate()
        .map(|(i, ((_, yaml), file))| {
            let text = format!(
                "services:\n  s{i}:\n    host: \"h{i}{yaml}\"\n    ports: {{http: 80}}\n    vms: [{{address: 10.0.0.{i}}}]\n  t{i}:\n    host: t{i}.apps\n    ports: {{http: 80}}\n    vms: [{{address: 10.0.1.{i}}}]\n    \"{yaml}\": 1\n"
            );
            (file, text)
        })
        .collect();
    project(&files)
}

#[test]
fn hostile_keys_and_values_forge_no_line_in_human_or_concise_diagnostics() {
    let dir = hostile_inventory();
    let sgr = regex::Regex::new("\u{1b}\\[[0-9;]*m").unwrap();
    for format in ["human", "concise"] {
        for color in ["never", "always"] {
            let r = meshgen(dir.path(), &["--color", color, "check", "--format", format]);
            assert_eq!(r.code, 1, "{}", r.stderr);
            // `check` prints its findings to stdout, the other commands to stderr.
            let out = format!("{}{}", r.stdout, r.stderr);
            // Three unknown fields, each named in its message and path.
            assert_eq!(out.matches("unknown-field").count(), 3, "{out}");
            for (_, yaml) in HOSTILE {
                let shown = yaml.replace("\\e", "\\u{1b}").replace("\\u202e", "\\u{202e}").replace("\\x9b", "\\u{9b}");
                assert!(out.contains(&shown), "{format}: `{shown}` is shown escaped:\n{out}");
            }
            // meshgen's own colours are the only escape sequences.
            let plain = sgr.replace_all(&out, "").into_owned();
            assert_eq!(forges_log(&plain), None, "{format}, colour {color}:\n{out}");
            if color == "never" {
                assert_safe(&format!("check --format {format}"), &out);
            }
        }
    }
}

#[test]
fn hostile_keys_forge_no_line_in_explain() {
    // A merge patch removing keys that are not there is valid: the inventory is clean, and
    // the patch's summary names the keys.
    let mut text = String::from(
        "services:\n  web:\n    host: web.apps\n    ports: {http: 80}\n    serviceAccount: web\n    vms: [{address: 10.0.0.1}]\n    patches:\n      - target: {kind: DestinationRule}\n        merge:\n          metadata:\n            annotations:\n",
    );
    for (_, yaml) in HOSTILE {
        text.push_str(&format!("              \"{yaml}\": null\n"));
    }
    let dir = project(&[("a.yaml", text)]);
    for target in ["web", "DestinationRule/apps/web"] {
        let r = meshgen(dir.path(), &["explain", target]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(r.stdout.contains("/metadata/annotations/a\\n::error file=x::pwned"), "{}", r.stdout);
        assert_safe(&format!("explain {target}"), &r.stdout);
    }
}

#[test]
fn hostile_app_settings_forge_no_line_in_the_argo_cd_plugin_log() {
    let dir = hostile_inventory();
    for (raw, _) in HOSTILE {
        let r: common::Run = common::command()
            .args(["argocd", "generate"])
            .current_dir(dir.path())
            .env("NO_COLOR", "1")
            .env("ARGOCD_APP_NAME", format!("app{raw}"))
            .env("ARGOCD_APP_REVISION", format!("rev{raw}"))
            .output()
            .unwrap()
            .into();
        assert_ne!(r.code, 0);
        assert!(r.stderr.contains("nothing rendered"), "{}", r.stderr);
        assert_safe("argocd generate", &r.stderr);
    }
}

/// `services.s<i>`: 40,000 services with sidecars and VMs without a service account, one
/// `missing-service-account` warning each, in one 4 MB file.
fn many_warnings(n: usize) -> tempfile::TempDir {
    let mut text = String::from("services:\n");
    for i in 0..n {
        text.push_str(&format!(
            "  s{i}: {{host: s{i}.apps.internal, ports: {{http: 80}}, sidecar: true, vms: [{{address: 10.0.{}.{}}}]}}\n",
            i / 256,
            i % 256
        ));
    }
    project(&[("many.yaml", text)])
}

#[test]
fn forty_thousand_warnings_in_one_file_print_fast_and_summed_up() {
    let n = 40_000;
    let dir = many_warnings(n);
    let started = Instant::now();
    let r = meshgen(dir.path(), &["check"]);
    let took = started.elapsed();
    let out = format!("{}{}", r.stdout, r.stderr);
    assert_eq!(r.code, 0, "{}", &out[..out.len().min(2000)]);
    // The whole check, in a debug build: 40 s before in release, for the printing alone.
    assert!(took < Duration::from_secs(60), "`check` with {n} warnings took {took:?}");
    assert_eq!(out.matches("warning[missing-service-account]").count(), 100);
    assert!(out.contains("and 39,900 more `missing-service-account`"), "{}", &out[out.len().saturating_sub(500)..]);
    assert!(out.contains("found 40000 warnings"));
    eprintln!("human check of {n} warnings: {took:?}");

    let r = meshgen(dir.path(), &["check", "--format", "concise"]);
    let out = format!("{}{}", r.stdout, r.stderr);
    assert_eq!(out.lines().filter(|l| l.contains("warning[missing-service-account]")).count(), 100);
    assert!(out.contains("and 39,900 more `missing-service-account`"));

    // The machine formats keep every finding.
    let r = meshgen(dir.path(), &["check", "--format", "json"]);
    let json: serde_json::Value =
        serde_json::from_str(if r.stdout.is_empty() { &r.stderr } else { &r.stdout }).expect("JSON diagnostics");
    assert_eq!(json.as_array().map(Vec::len), Some(n));
}

#[test]
fn forty_thousand_warnings_on_one_line_print_fast() {
    // One flow mapping on one 4 MB line: finding a position walked the line from its start.
    let n = 40_000;
    let items: Vec<String> = (0..n)
        .map(|i| {
            format!(
                "s{i}: {{host: s{i}.apps.internal, ports: {{http: 80}}, sidecar: true, vms: [{{address: 10.0.{}.{}}}]}}",
                i / 256,
                i % 256
            )
        })
        .collect();
    let dir = project(&[("line.yaml", format!("services: {{{}}}\n", items.join(", ")))]);
    let started = Instant::now();
    let r = meshgen(dir.path(), &["check", "--format", "concise"]);
    let took = started.elapsed();
    let out = format!("{}{}", r.stdout, r.stderr);
    assert_eq!(r.code, 0, "{}", &out[..out.len().min(2000)]);
    assert!(took < Duration::from_secs(60), "`check` with {n} warnings on one line took {took:?}");
    assert!(out.contains("inventory/line.yaml:1:"), "{}", &out[..out.len().min(2000)]);
    assert!(out.contains("and 39,900 more `missing-service-account`"));
    eprintln!("concise check of {n} warnings on one line: {took:?}");
}

/// The rendering alone, for the record of the measured time (`cargo test --release --test
/// log_safety -- --ignored --nocapture`).
#[test]
#[ignore = "a measurement: run it by hand"]
fn measure_forty_thousand_warnings() {
    let dir = many_warnings(40_000);
    for format in ["human", "concise", "json"] {
        let started = Instant::now();
        let r = meshgen(dir.path(), &["check", "--format", format]);
        eprintln!("--format {format}: {:?} (exit {})", started.elapsed(), r.code);
    }
}
