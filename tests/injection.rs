//! No value from the inventory can change the structure of the output. Hostile strings go
//! into every free-form field that reaches a template (header and query matches, URIs,
//! rewrites, TLS file paths, probe commands, query parameter names); the build either
//! rejects them with a diagnostic or emits YAML in which each reads back as exactly the same
//! string, in exactly the same place, with no object or field added.

use crate::common;

use common::{documents, meshgen, project};
use meshgen::render::tape::Tape;
use meshgen::yaml::Value;
use proptest::prelude::*;

/// Fragments that mean something to YAML, to Tera, or to a terminal.
const NASTY: &[&str] = &[
    "\n",
    "\r\n",
    ": ",
    " #",
    "#",
    "---",
    "...",
    "- ",
    "? ",
    "{",
    "}",
    "[",
    "]",
    ",",
    "&a",
    "*a",
    "!!str",
    "!x",
    "|",
    ">",
    "'",
    "\"",
    "''",
    "\\",
    "\\n",
    "%TAG",
    "@",
    "`",
    "{{",
    "}}",
    "{%",
    "%}",
    "{#",
    "#}",
    "\t",
    " ",
    "\u{85}",
    "\u{2028}",
    "\u{2029}",
    "\u{feff}",
    "\u{0}",
    "\u{1b}[31m",
    "null",
    "~",
    "true",
    "no",
    "0x1F",
    "1e3",
    "<<",
    "=",
    "spec:",
    "\nkind: Secret\n",
    "  evil: true",
    "é",
    "🦀",
];

fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(prop::sample::select(NASTY), 1..6).prop_map(|v| v.concat()),
        any::<String>(),
        (prop::sample::select(NASTY), "[a-z/]{0,8}", prop::sample::select(NASTY))
            .prop_map(|(a, b, c)| format!("{a}{b}{c}")),
    ]
}

fn map(pairs: &[(&str, Value)]) -> Value {
    Value::Object(pairs.iter().map(|(k, v)| ((*k).to_string(), v.clone())).collect())
}

fn s(v: &str) -> Value {
    Value::String(v.into())
}

/// An inventory (built as a value, so the input itself is correctly escaped) that carries
/// `x` in every free-form field.
fn inventory(x: &str) -> String {
    let string_match = |m: &str| map(&[(m, s(x))]);
    let route = map(&[
        ("name", s("hostile")),
        (
            "match",
            Value::Array(vec![map(&[
                ("uri", string_match("prefix")),
                ("headers", map(&[("x-test", string_match("exact"))])),
                ("queryParams", Value::Object([(x.to_string(), string_match("exact"))].into_iter().collect())),
                ("authority", string_match("exact")),
            ])]),
        ),
        ("rewrite", map(&[("uri", s(x))])),
        ("timeout", s("3s")),
    ]);
    let web = map(&[
        ("host", s("web.apps.internal")),
        ("ports", map(&[("http", Value::Number(8080.into()))])),
        ("serviceAccount", s("web")),
        ("vms", Value::Array(vec![map(&[("address", s("10.0.0.1"))])])),
        (
            "workloadGroup",
            map(&[("probe", map(&[("exec", map(&[("command", Value::Array(vec![s("check"), s(x)]))]))]))]),
        ),
        ("routes", Value::Array(vec![route])),
    ]);
    let bank = map(&[
        ("hosts", Value::Array(vec![s("api.bank.example")])),
        ("ports", map(&[("http", Value::Number(80.into()))])),
        (
            "tls",
            map(&[("mode", s("MUTUAL")), ("clientCertificate", s(x)), ("privateKey", s(x)), ("caCertificates", s(x))]),
        ),
    ]);
    meshgen::yaml::to_string(&map(&[("services", map(&[("web", web)])), ("externals", map(&[("bank", bank)]))]))
}

/// The shape of a document: every path to a leaf, without the leaf values; a key equal to
/// the hostile value `x` is written `<x>`.
fn shape(v: &Value, x: &str, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let key = if k == x { "<x>".to_string() } else { k.clone() };
                shape(v, x, format!("{at}.{key}"), out);
            }
        }
        Value::Array(s) => {
            for (i, v) in s.iter().enumerate() {
                shape(v, x, format!("{at}[{i}]"), out);
            }
        }
        _ => out.push(at),
    }
}

fn build(x: &str) -> (i32, String, String) {
    let tmp = project(&[
        ("meshgen.yaml", "inventory: [inventory]\ndefaults: {namespace: apps}\n"),
        ("inventory/hostile.yaml", &inventory(x)),
    ]);
    let r = meshgen(tmp.path(), &["build", "--stdout"]);
    (r.code, r.stdout, r.stderr)
}

/// Everything the values should read back as, by (kind, path).
fn probes(docs: &[Value]) -> Vec<Value> {
    let find = |kind: &str| docs.iter().find(|d| d["kind"].as_str() == Some(kind)).expect(kind).clone();
    let vs = find("VirtualService");
    let m = &vs["spec"]["http"][0]["match"][0];
    let dr = find("DestinationRule");
    let tls = &dr["spec"]["trafficPolicy"]["tls"];
    let wg = find("WorkloadGroup");
    let query_key =
        m["queryParams"].as_object().and_then(|q| q.keys().next().cloned()).map_or(Value::Null, Value::String);
    vec![
        m["uri"]["prefix"].clone(),
        m["headers"]["x-test"]["exact"].clone(),
        m["authority"]["exact"].clone(),
        query_key,
        vs["spec"]["http"][0]["rewrite"]["uri"].clone(),
        tls["clientCertificate"].clone(),
        tls["privateKey"].clone(),
        tls["caCertificates"].clone(),
        wg["spec"]["probe"]["exec"]["command"][1].clone(),
    ]
}

fn shapes(docs: &[Value], x: &str) -> Vec<String> {
    let mut out = Vec::new();
    for d in docs {
        shape(d, x, String::new(), &mut out);
    }
    out
}

#[test]
fn a_benign_value_reads_back_everywhere() {
    let (code, out, err) = build("/plain");
    assert_eq!(code, 0, "{err}");
    let docs = documents(&out);
    assert!(probes(&docs).iter().all(|v| v.as_str() == Some("/plain")), "{:?}", probes(&docs));
}

/// The benign build every hostile one is compared with (built once, not per case).
static BASELINE: std::sync::LazyLock<Vec<Value>> = std::sync::LazyLock::new(|| {
    let (code, out, err) = build("/plain");
    assert_eq!(code, 0, "{err}");
    documents(&out)
});

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn hostile_values_never_change_the_structure(x in hostile()) {
        let baseline = &*BASELINE;
        let (code, out, err) = build(&x);
        prop_assert!(code == 0 || code == 1, "exit {code}: {err}");
        prop_assert!(!err.contains("panicked"), "{err}");
        if code == 1 {
            // Rejected: with a diagnostic, and nothing on stdout.
            prop_assert!(err.contains("error["), "{err}");
            prop_assert!(out.is_empty());
        } else {
            let docs = documents(&out);
            prop_assert_eq!(docs.len(), baseline.len());
            prop_assert_eq!(shapes(&docs, &x), shapes(baseline, "/plain"));
            for v in probes(&docs) {
                prop_assert_eq!(v.as_str(), Some(x.as_str()), "in:\n{}", out);
            }
        }
    }
}

/// Every object context the fixtures and the bundled inventory produce, through the library.
fn all_contexts() -> Vec<meshgen::render::context::Object> {
    let mut projects: Vec<std::path::PathBuf> = common::fixtures().into_iter().map(|(_, p)| p).collect();
    projects.push(common::root());
    let mut out = Vec::new();
    for dir in projects {
        let (inv, g) = common::compile_model(&dir);
        out.extend(meshgen::render::context::objects(&inv, &g));
    }
    out
}

/// The context with every string leaf replaced by `x` (keys and numbers kept).
fn poison(v: &serde_json::Value, x: &str) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        J::String(_) => J::String(x.into()),
        J::Array(a) => J::Array(a.iter().map(|v| poison(v, x)).collect()),
        J::Object(m) => J::Object(m.iter().map(|(k, v)| (k.clone(), poison(v, x))).collect()),
        other => other.clone(),
    }
}

/// Paths of the string leaves equal to `x`, and the shape of everything else.
fn leaves(v: &Value, x: &str, at: String, marked: &mut Vec<String>, other: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                leaves(v, x, format!("{at}.{}", k), marked, other);
            }
        }
        Value::Array(s) => {
            for (i, v) in s.iter().enumerate() {
                leaves(v, x, format!("{at}[{i}]"), marked, other);
            }
        }
        Value::String(s) if s == x => marked.push(at),
        leaf => other.push(format!("{at}={leaf:?}")),
    }
}

/// Every object of every fixture renders through the compiled built-ins, not Tera, to the
/// same bytes as Tera.
#[test]
fn compiled_builtins_render_every_fixture_object_like_tera() {
    let (templates, objects) = &*TEMPLATE_INPUTS;
    assert!(objects.len() > 100);
    for o in objects {
        let name = o.kind.template();
        let tera = templates.render_with_tera(name, o.context.to_value()).unwrap();
        assert_eq!(templates.render_compiled(name, &o.context).as_deref(), Some(tera.as_str()), "{name}: {}", o.name);
    }
}

/// The built-ins' typed fast path (`render::direct`) writes every object of every fixture, of
/// the bundled project and of a synthetic estate, of every built-in kind, to the same bytes
/// as the general path (the compiled templates over the serialised context, and Tera).
#[test]
fn typed_builtins_write_what_the_templates_render() {
    use meshgen::render::context::{objects_in, texts_in};
    let templates = meshgen::render::Templates::load(None).unwrap();
    assert!(templates.builtins_only());
    let tmp = tempfile::tempdir().unwrap();
    common::synth::generate(300, 5, tmp.path()).unwrap();
    let mut projects: Vec<std::path::PathBuf> = common::fixtures().into_iter().map(|(_, p)| p).collect();
    projects.push(common::root());
    projects.push(tmp.path().to_path_buf());
    let mut kinds = std::collections::BTreeSet::new();
    for dir in projects {
        let (inv, g) = common::compile_model(&dir);
        let head = meshgen::render::direct::Head::new(&inv).unwrap();
        let all = 0..inv.services.len() + inv.externals.len() + 1;
        let general = objects_in(&inv, &g, all.clone());
        let fast = texts_in(&inv, &g, all, &head);
        assert_eq!(general.len(), fast.len(), "{}", dir.display());
        for (o, f) in general.iter().zip(&fast) {
            assert_eq!((o.kind, &o.namespace, &o.name, &o.entity), (f.kind, &f.namespace, &f.name, &f.entity));
            let name = o.kind.template();
            let compiled = templates.render(name, &o.context).unwrap();
            let tera = templates.render_with_tera(name, o.context.to_value()).unwrap();
            assert_eq!(compiled, tera, "{name}: {}", o.name);
            // What `render` makes of a template's text: no blank line before, one newline after.
            let want = format!("{}\n", compiled.trim_matches('\n'));
            let text = f.text.as_deref();
            assert_eq!(text, Some(want.as_str()), "{}: {name}: {}", dir.display(), o.name);
            kinds.insert(o.kind);
        }
    }
    assert_eq!(kinds.len(), meshgen::render::Kind::ALL.len(), "every built-in kind is written: {kinds:?}");
}

/// The built-in templates and every object context of the fixtures (loaded once).
static TEMPLATE_INPUTS: std::sync::LazyLock<(meshgen::render::Templates, Vec<meshgen::render::context::Object>)> =
    std::sync::LazyLock::new(|| (meshgen::render::Templates::load(None).unwrap(), all_contexts()));

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    /// Below validation: every string that reaches any built-in template, whatever it holds,
    /// comes back as the same scalar in the same place (`marked`), and nothing else moves.
    #[test]
    fn every_string_field_of_every_builtin_template_round_trips(x in hostile()) {
        let benign = "benign-value";
        // Templates omit empty optional fields (`{% if serviceAccount %}`); validation never lets
        // an empty string through, so only non-empty values matter here.
        prop_assume!(x != benign && !x.is_empty());
        let (templates, objects) = &*TEMPLATE_INPUTS;
        let kinds: std::collections::BTreeSet<&str> = objects.iter().map(|o| o.kind.as_str()).collect();
        let templates_of_kinds = meshgen::render::templates::BUILTINS.len() - 1; // all but _metadata.yaml
        prop_assert_eq!(kinds.len(), templates_of_kinds, "every template is exercised: {:?}", kinds);
        for o in objects {
            let name = o.kind.template();
            let poisoned = |s: &str| Tape::new(&poison(&o.context.to_value(), s));
            let render = |s: &str| templates.render(name, &poisoned(s)).unwrap();
            let (good, bad) = (render(benign), render(&x));
            // The compiled built-ins write exactly what Tera writes, hostile values included.
            let tera = templates.render_with_tera(name, poison(&o.context.to_value(), &x)).unwrap();
            prop_assert_eq!(templates.render_compiled(name, &poisoned(&x)), Some(tera), "{}", name);
            let (good, bad) = (documents(&good), documents(&bad));
            prop_assert_eq!(bad.len(), 1, "{} became {} documents", name, bad.len());
            let (mut m1, mut o1, mut m2, mut o2) = (vec![], vec![], vec![], vec![]);
            leaves(&good[0], benign, String::new(), &mut m1, &mut o1);
            leaves(&bad[0], &x, String::new(), &mut m2, &mut o2);
            prop_assert!(!m1.is_empty());
            prop_assert_eq!(m1, m2, "{}: a value moved or changed", name);
            prop_assert_eq!(o1, o2, "{}: the structure changed", name);
        }
    }
}
