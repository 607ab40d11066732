//! `docs/checks.md` against the code registry and the binary. The page has one section per
//! code of `meshgen::diag::codes::CODES`, in registry order, with the registry's
//! suppressibility. Each section's **Fails** inventory must give its code (exit 1 for an
//! error, 0 for a warning) at a file:line:col with a caret, and its human report is kept as
//! the snapshot `checks__<code>`; each **Fixed** inventory must check clean. A section may
//! give its own project file (a yaml block after `With meshgen.yaml:`), used by both.

use crate::common;

use std::fs;

use common::{Run, each, meshgen, project};
use meshgen::diag::codes::{CODES, lookup};

/// The project file every example runs with (docs/checks.md shows it).
const PROJECT: &str = "inventory: [inventory]\ndefaults: {namespace: apps}\n";
/// Where each example is written.
const EXAMPLE: &str = "inventory/example.yaml";

/// Codes documented without an example. Kept short on purpose: only codes that cannot be
/// shown as one UTF-8 inventory file (or cannot be reached at all) belong here; the overlay
/// codes need an environment's files and are shown in docs/environments.md (tested by
/// tests/environments.rs).
/// The codes about live objects (`check --live`) need a cluster; tests/diff_projects.rs
/// shows each against the test API server.
const NOT_SHOWN: &[&str] = &[
    "crd-violation",
    "file-too-large",
    "foreign-destination-rule",
    "foreign-service-entry",
    "foreign-sidecar",
    "foreign-virtual-service",
    "foreign-workload-entry",
    "invalid-utf8",
    "overlay-conflict",
    "owned-by-another-project",
    "unknown-overlay-target",
    "vip-range-exhausted",
];

/// Codes whose finding points at the project file rather than at the inventory.
const IN_PROJECT_FILE: &[&str] = &["empty-inventory"];

#[derive(Debug)]
struct Section {
    code: String,
    error: bool,
    suppressible: bool,
    /// The project file of the examples, when not [`PROJECT`].
    project: Option<String>,
    body: Body,
}

#[derive(Debug)]
enum Body {
    Examples {
        fails: String,
        fixed: String,
    },
    /// A `Not shown as an example: <why>` line (the why is required).
    NotShown,
}

/// The code sections of docs/checks.md: each `## \`code\`` heading up to the next one. The
/// intro before the first of them is free-form; after it, every `##` heading must be a code.
fn sections() -> Vec<Section> {
    let text = fs::read_to_string(common::root().join("docs/checks.md")).expect("docs/checks.md exists");
    let mut raw: Vec<(String, Vec<&str>)> = Vec::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        }
        if !fenced && line.starts_with("## ") {
            let code = line.strip_prefix("## `").and_then(|r| r.strip_suffix('`'));
            match code {
                Some(c) if c.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') => {
                    raw.push((c.to_string(), Vec::new()));
                    continue;
                }
                _ => assert!(raw.is_empty(), "unexpected heading among the code sections: {line}"),
            }
        }
        if let Some((_, lines)) = raw.last_mut() {
            lines.push(line);
        }
    }
    assert!(!fenced, "docs/checks.md ends inside a code block");
    raw.into_iter().map(|(code, lines)| parse_section(code, &lines)).collect()
}

fn parse_section(code: String, lines: &[&str]) -> Section {
    let meta = lines
        .iter()
        .find(|l| l.starts_with("**Severity:**"))
        .unwrap_or_else(|| panic!("`{code}`: no **Severity:** line"));
    let (error, suppressible) = match *meta {
        "**Severity:** error. **Suppressible:** yes." => (true, true),
        "**Severity:** error. **Suppressible:** no." => (true, false),
        "**Severity:** warning. **Suppressible:** yes." => (false, true),
        "**Severity:** warning. **Suppressible:** no." => (false, false),
        other => panic!("`{code}`: malformed severity line: {other}"),
    };
    let not_shown: Vec<&str> =
        lines.iter().filter_map(|l| l.strip_prefix("Not shown as an example:")).map(str::trim).collect();
    let project = yaml_block(&code, lines, "With meshgen.yaml:");
    let fails = yaml_block(&code, lines, "Fails:");
    let fixed = yaml_block(&code, lines, "Fixed:");
    let body = match (not_shown.as_slice(), fails, fixed) {
        ([], Some(fails), Some(fixed)) => Body::Examples { fails, fixed },
        ([why], None, None) => {
            assert!(!why.is_empty(), "`{code}`: say why it is not shown");
            Body::NotShown
        }
        _ => panic!("`{code}`: needs either Fails: and Fixed: yaml blocks, or one `Not shown as an example:` line"),
    };
    Section { code, error, suppressible, project, body }
}

/// The ```yaml block right after the line `label` (blank lines between allowed).
fn yaml_block(code: &str, lines: &[&str], label: &str) -> Option<String> {
    let start = lines.iter().position(|l| *l == label)?;
    let mut rest = lines[start + 1..].iter().skip_while(|l| l.trim().is_empty());
    assert_eq!(rest.next(), Some(&"```yaml"), "`{code}`: `{label}` must be followed by a ```yaml block");
    let mut block = String::new();
    for line in rest {
        if *line == "```" {
            return Some(block);
        }
        block.push_str(line);
        block.push('\n');
    }
    panic!("`{code}`: the yaml block after `{label}` is not closed");
}

fn check(s: &Section, inventory: &str, extra: &[&str]) -> Run {
    let tmp = project(&[("meshgen.yaml", s.project.as_deref().unwrap_or(PROJECT)), (EXAMPLE, inventory)]);
    let mut args = vec!["check"];
    args.extend_from_slice(extra);
    let r = meshgen(tmp.path(), &args);
    if !r.stdout.is_empty() && extra.is_empty() {
        common::assert_in_user_words(tmp.path());
    }
    r
}

#[test]
fn there_is_one_section_per_registered_code_in_registry_order() {
    let sections = sections();
    let documented: Vec<&str> = sections.iter().map(|s| s.code.as_str()).collect();
    let registered: Vec<&str> = CODES.iter().map(|c| c.name).collect();
    assert_eq!(documented, registered, "docs/checks.md sections vs meshgen::diag::codes::CODES");
    for s in &sections {
        let c = lookup(&s.code).unwrap();
        assert_eq!(s.suppressible, c.suppressible, "`{}`: **Suppressible:** disagrees with the registry", s.code);
    }
    let mut not_shown: Vec<&str> =
        sections.iter().filter(|s| matches!(s.body, Body::NotShown)).map(|s| s.code.as_str()).collect();
    not_shown.sort_unstable();
    assert_eq!(not_shown, NOT_SHOWN, "codes without an example: give the others a Fails/Fixed pair");
}

/// The line of `report` right after `head` (e.g. `error[duplicate-port]: …`) must be
/// `  --> <file>:<line>:<col>…`, and the finding must quote the source with a caret.
fn assert_located(code: &str, report: &str, head: &str, file: &str) {
    let lines: Vec<&str> = report.lines().collect();
    let at = lines.iter().position(|l| l.starts_with(head)).unwrap();
    let arrow = lines.get(at + 1).and_then(|l| l.strip_prefix("  --> ")).unwrap_or_default();
    let place = arrow.split(' ').next().unwrap_or_default();
    let mut parts = place.rsplitn(3, ':');
    let (col, line, in_file) = (parts.next(), parts.next(), parts.next());
    assert_eq!(in_file, Some(file), "`{code}`: expected `--> {file}:LINE:COL` after `{head}`:\n{report}");
    for n in [line, col] {
        assert!(n.and_then(|n| n.parse::<usize>().ok()).is_some_and(|n| n > 0), "`{code}`: bad position:\n{report}");
    }
    let caret = lines[at + 2..]
        .iter()
        .take_while(|l| !l.is_empty())
        .any(|l| l.trim_start().starts_with("| ") && l.contains('^'));
    assert!(caret, "`{code}`: no source excerpt with a caret:\n{report}");
}

#[test]
fn every_example_gives_its_code_and_its_fix_checks_clean() {
    each(
        sections(),
        |s| s.code.clone(),
        |s| {
            let Body::Examples { fails, fixed } = &s.body else { return };
            let code = s.code.as_str();
            let severity = if s.error { "error" } else { "warning" };

            let r = check(&s, fails, &[]);
            assert!(!r.stderr.contains("panicked"), "`{code}`: meshgen panicked:\n{}", r.stderr);
            assert_eq!(r.code, if s.error { 1 } else { 0 }, "`{code}` Fails: exit code\n{}{}", r.stdout, r.stderr);
            let head = format!("{severity}[{code}]: ");
            assert!(r.stdout.contains(&head), "`{code}` Fails: no `{head}` in the report:\n{}", r.stdout);
            let file = if IN_PROJECT_FILE.contains(&code) { "meshgen.yaml" } else { EXAMPLE };
            assert_located(code, &r.stdout, &head, file);
            let shown = match &s.project {
                Some(p) => format!("meshgen.yaml:\n{p}\n{EXAMPLE}:\n{fails}"),
                None => format!("{EXAMPLE}:\n{fails}"),
            };
            insta::with_settings!({description => shown, omit_expression => true}, {
                insta::assert_snapshot!(code, r.stdout);
            });

            // No other finding is expected on the fixed file: warnings of other codes would have
            // to be unavoidable, and none is today.
            let r = check(&s, fixed, &[]);
            assert_eq!(r.code, 0, "`{code}` Fixed: exit code\n{}{}", r.stdout, r.stderr);
            assert!(!r.stdout.contains(&format!("[{code}]")), "`{code}` Fixed: still reported:\n{}", r.stdout);
            assert!(!r.stdout.contains("error["), "`{code}` Fixed: has errors:\n{}", r.stdout);
            assert!(r.stdout.is_empty(), "`{code}` Fixed: does not check clean:\n{}", r.stdout);
        },
    );
}

/// `--allow CODE` silences a suppressible finding, and is refused for the others.
#[test]
fn allow_silences_exactly_the_suppressible_codes() {
    for s in sections() {
        let Body::Examples { fails, .. } = &s.body else { continue };
        let code = s.code.as_str();
        let r = check(&s, fails, &["--allow", code]);
        if s.suppressible {
            assert_eq!(r.code, 0, "`{code}`: --allow\n{}{}", r.stdout, r.stderr);
            assert!(!r.stdout.contains(&format!("[{code}]")), "`{code}`: --allow did not silence it:\n{}", r.stdout);
        } else {
            assert_eq!(r.code, 2, "`{code}`: --allow of an unsuppressible code\n{}{}", r.stdout, r.stderr);
            assert!(r.stderr.contains("cannot be suppressed"), "`{code}`: {}", r.stderr);
        }
    }
}

/// The `retries-outlast-timeout` findings of a project, as `file:line:col (path)` with the
/// message's start, in the order reported (concise format).
fn retry_findings(project_file: &str, inventory: &str) -> Vec<String> {
    let tmp = project(&[("meshgen.yaml", project_file), (EXAMPLE, inventory)]);
    let r = meshgen(tmp.path(), &["check", "--format", "concise"]);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    r.stdout
        .lines()
        .filter(|l| l.contains("[retries-outlast-timeout]"))
        .map(|l| {
            let place = l.split(": warning").next().unwrap_or_default();
            let path = l.rsplit_once(" (").map_or("", |(_, p)| p.trim_end_matches(')'));
            format!("{place} ({path})")
        })
        .collect()
}

/// `retries-outlast-timeout` is about HTTP rules only, and points at what is written: the
/// project file once for `defaults.traffic`, else the entity's or route's own field.
#[test]
fn retries_outlast_timeout_is_reported_where_the_rule_is_written() {
    let defaults = "inventory: [inventory]\ndefaults:\n  namespace: apps\n  traffic:\n    timeout: 2s\n    \
                    retries: {attempts: 3, perTryTimeout: 2s}\n";
    // No HTTP rule anywhere: a TCP-only service, an API with only an HTTPS port.
    let no_http = "services:\n  db:\n    ports: {tcp-db: {number: 5432, protocol: TCP}}\n    pods: {app: db}\n    \
                   host: db.apps.internal\n    addresses: [10.1.0.1]\nexternals:\n  stripe:\n    hosts: [api.stripe.com]\n    ports: {https: 443}\n";
    assert_eq!(retry_findings(defaults, no_http), Vec::<String>::new());
    let own = "services:\n  db:\n    ports: {tcp-db: {number: 5432, protocol: TCP}}\n    pods: {app: db}\n    \
               host: db.apps.internal\n    addresses: [10.1.0.1]\n    traffic: {timeout: 1s, retries: {attempts: 2, perTryTimeout: 1s}}\n";
    assert_eq!(retry_findings(PROJECT, own), Vec::<String>::new());

    // Both from the defaults: once, in the project file, however many entities inherit them.
    let two = "services:\n  a:\n    ports: {http: 8080}\n    pods: {app: a}\n  \
               b:\n    ports: {http: 8080}\n    pods: {app: b}\n";
    assert_eq!(retry_findings(defaults, two), ["meshgen.yaml:6:43 (defaults.traffic.retries.perTryTimeout)"]);
    // The entity writes one of the two: there.
    let timeout = "services:\n  a:\n    ports: {http: 8080}\n    pods: {app: a}\n    traffic: {timeout: 1s}\n";
    assert_eq!(retry_findings(defaults, timeout), ["inventory/example.yaml:5:24 (services.a.traffic.timeout)"]);
    let per_try = "services:\n  a:\n    ports: {http: 8080}\n    pods: {app: a}\n    \
                   traffic:\n      retries: {attempts: 2, perTryTimeout: 3s}\n";
    assert_eq!(
        retry_findings(defaults, per_try),
        ["inventory/example.yaml:6:45 (services.a.traffic.retries.perTryTimeout)"]
    );
    let attempts = "services:\n  a:\n    ports: {http: 8080}\n    pods: {app: a}\n    \
                    traffic:\n      retries: {attempts: 5}\n";
    // More attempts of the defaults' tries: still the defaults' two durations.
    assert_eq!(retry_findings(defaults, attempts), ["meshgen.yaml:6:43 (defaults.traffic.retries.perTryTimeout)"]);
    // A route that writes its own timeout is reported at it; one that writes neither is the
    // entity's rule, reported once.
    let routes = "services:\n  a:\n    ports: {http: 8080}\n    pods: {app: a}\n    routes:\n      \
                  - {match: [{uri: {prefix: /slow}}], timeout: 500ms}\n      - {match: [{uri: {prefix: /x}}]}\n";
    assert_eq!(
        retry_findings(defaults, routes),
        [
            "inventory/example.yaml:6:52 (services.a.routes[0].timeout)",
            "meshgen.yaml:6:43 (defaults.traffic.retries.perTryTimeout)"
        ]
    );
}

/// `duplicate-instance-address` groups VMs by network and address: one address on two
/// networks is two machines; a VM's network is its own, else its service's.
#[test]
fn duplicate_instance_address_is_per_network() {
    let findings = |inventory: &str| {
        let tmp = project(&[("meshgen.yaml", PROJECT), (EXAMPLE, inventory)]);
        let r = meshgen(tmp.path(), &["check", "--format", "concise"]);
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        let lines = r.stdout.lines().filter(|l| l.contains("[duplicate-instance-address]"));
        lines.map(|l| l.split(": warning").next().unwrap_or_default().to_string()).collect::<Vec<_>>()
    };
    let service = |name: &str, network: &str, vm: &str| {
        format!("  {name}:\n    host: {name}.apps.internal\n    ports: {{http: 8080}}\n{network}    vms: [{vm}]\n")
    };
    // Two networks: no finding.
    let apart = format!(
        "services:\n{}{}",
        service("invoices", "    network: east\n", "{address: 10.1.0.10}"),
        service("reports", "    network: west\n", "{address: 10.1.0.10}"),
    );
    assert_eq!(findings(&apart), Vec::<String>::new());
    // The same network, once the service's and once the VM's own: one machine.
    let together = format!(
        "services:\n{}{}",
        service("invoices", "    network: east\n", "{address: 10.1.0.10}"),
        service("reports", "", "{address: 10.1.0.10, network: east}"),
    );
    assert_eq!(findings(&together), ["inventory/example.yaml:10:21"]);
}
