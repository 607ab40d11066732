use serde_json::json;

use super::*;

/// The error of `text`, read by the complete reader, as (kind, line, column, document).
fn error(text: &str) -> (ErrorKind, usize, usize, usize) {
    let e = parse(text).error.unwrap_or_else(|| panic!("no error in {text:?}"));
    let at = e.at.expect("a position");
    (e.kind, at.line, at.column, e.doc)
}

#[test]
fn deep_flow_nesting_is_found_where_it_happens() {
    let at = |text: &str| too_deep_flow(text).map(|m| (m.line, m.column));
    assert_eq!(at(&format!("a: {}", "[".repeat(200))), Some((1, 4 + MAX_FLOW_DEPTH)));
    assert_eq!(at(&"[".repeat(MAX_FLOW_DEPTH)), None);
    // Brackets in quotes and comments do not count; closed ones do not add up.
    let quoted = format!("a: '{0}'\nb: \"{0}\\\"\"\nc: x # {0}\nd: don't{0}", "[".repeat(500));
    assert_eq!(at(&quoted).map(|p| p.0), Some(4));
    assert_eq!(at(&"[a] ".repeat(10_000)), None);
    assert_eq!(error(&format!("a: {}", "[".repeat(100_000))).0, ErrorKind::BracketsTooDeep(MAX_FLOW_DEPTH));
}

#[test]
fn deep_block_nesting_stops_at_the_limit() {
    let deep: String = (0..MAX_DEPTH + 5).map(|i| format!("{}k:\n", " ".repeat(i))).collect();
    let (kind, line, ..) = error(&deep);
    assert_eq!(kind, ErrorKind::TooDeep(MAX_DEPTH));
    assert_eq!(line, MAX_DEPTH + 1, "the first mapping too deep");
    let fine: String = (0..MAX_DEPTH - 1).map(|i| format!("{}k:\n", " ".repeat(i))).collect();
    assert_eq!(parse(&fine).error, None);
    // On one line, too: `- - - - …`.
    assert_eq!(error(&"- ".repeat(100_000)).0, ErrorKind::TooDeep(MAX_DEPTH));
}

#[test]
fn alias_bombs_stop_at_the_budget_quickly() {
    let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for (prev, name) in ["a", "b", "c", "d", "e", "f", "g", "h"].iter().zip(["b", "c", "d", "e", "f", "g", "h", "i"]) {
        let refs = vec![format!("*{prev}"); 10].join(", ");
        bomb.push_str(&format!("{name}: &{name} [{refs}]\n"));
    }
    let started = std::time::Instant::now();
    let (kind, line, ..) = error(&bomb);
    assert!(matches!(kind, ErrorKind::AliasesTooLarge(_)), "{kind:?}");
    assert_eq!(line, 5, "the first alias over the budget, in `e`");
    assert!(started.elapsed().as_secs() < 5);
    // Ordinary use of anchors is fine, and copies the value.
    let v = parse_all("a: &l {version: v1}\nb: *l\n").unwrap();
    assert_eq!(v, vec![json!({"a": {"version": "v1"}, "b": {"version": "v1"}})]);
}

#[test]
fn each_error_has_its_kind_and_position() {
    assert_eq!(error("a: 1\nb: 2\na: 3\n"), (ErrorKind::DuplicateKey("a".into()), 3, 1, 0));
    assert_eq!(error("x: {p: 1, p: 2}\n").0, ErrorKind::DuplicateKey("p".into()));
    assert_eq!(error("ports:\n  80: http\n"), (ErrorKind::KeyNotString("80".into()), 2, 3, 0));
    assert_eq!(error("true: x\n").0, ErrorKind::KeyNotString("true".into()));
    assert_eq!(error("~: x\n").0, ErrorKind::KeyNotString("~".into()));
    assert_eq!(error("? [a]\n: b\n").0, ErrorKind::KeyNotString("[…]".into()));
    assert_eq!(error("a: &n 1\n*n : x\n").0, ErrorKind::KeyNotString("1".into()));
    assert_eq!(error("a: !secret x\n"), (ErrorKind::Tag("!secret".into()), 1, 12, 0));
    assert_eq!(error("a: !!binary aGk=\n").0, ErrorKind::Tag("!!binary".into()));
    assert_eq!(error("a: !t [x]\n").0, ErrorKind::Tag("!t".into()));
    assert_eq!(error("n: 18446744073709551616\n"), (ErrorKind::IntegerTooBig("18446744073709551616".into()), 1, 4, 0));
    assert_eq!(error("x: [.inf]\n"), (ErrorKind::NotFinite(".inf".into()), 1, 5, 0));
    assert!(matches!(error("a: *nothing\n").0, ErrorKind::Syntax(m) if m.contains("unknown anchor")));
    // A tab in the indentation, wherever the parser stumbles over it on that line.
    assert_eq!(error("a:\n  b: 1\n\tc: 2\n"), (ErrorKind::TabIndent, 3, 1, 0));
    assert_eq!(error("a:\n  b:\n  \t- 1\n").0, ErrorKind::TabIndent);
    let (kind, line, _, doc) = error("a: 1\n---\nb: [\n");
    assert!(matches!(kind, ErrorKind::Syntax(_)), "{kind:?}");
    assert_eq!((line, doc), (3, 1));
    // Messages say what is wrong in the user's terms.
    assert_eq!(ErrorKind::KeyNotString("80".into()).to_string(), "the key `80` is not a string");
    assert!(ErrorKind::KeyNotString("80".into()).unsupported());
    assert_eq!(ErrorKind::DuplicateKey("a".into()).to_string(), "duplicate key `a`");
    assert!(!ErrorKind::DuplicateKey("a".into()).unsupported());
}

#[test]
fn documents_before_an_error_are_kept_and_counted() {
    let p = parse("a: 1\n---\nb: 2\n---\nc: [\n");
    assert_eq!(p.docs, vec![json!({"a": 1}), json!({"b": 2})]);
    assert_eq!(p.error.map(|e| e.doc), Some(2));
    assert_eq!(parse_all("").unwrap(), vec![Value::Null]);
    assert_eq!(parse_all("# nothing\n").unwrap(), vec![Value::Null]);
    assert_eq!(parse_all("---\n---\n").unwrap(), vec![Value::Null, Value::Null]);
    assert_eq!(parse_full("a: 1\n---\n").unwrap(), vec![json!({"a": 1}), Value::Null]);
}

#[test]
fn core_schema_tags_are_understood() {
    let v = parse_all("a: !!str 80\nb: !!int \"8\"\nc: !!map {x: 1}\nd: !!null ''\n").unwrap();
    assert_eq!(v, vec![json!({"a": "80", "b": 8, "c": {"x": 1}, "d": null})]);
    assert!(matches!(error("a: !!int x\n").0, ErrorKind::Syntax(m) if m.contains("`!!int`")));
    // Quoted and block scalars are strings, whatever they look like.
    let v = parse_all("a: '1'\nb: \"true\"\nc: |\n  x\n  y\nd: >-\n  8080\n").unwrap();
    assert_eq!(v, vec![json!({"a": "1", "b": "true", "c": "x\ny\n", "d": "8080"})]);
}

#[test]
fn from_str_reads_one_document_into_a_type() {
    let ports: std::collections::BTreeMap<String, u16> = from_str("http: 80\n").unwrap();
    assert_eq!(ports["http"], 80);
    let e = from_str::<Value>("a: [\n").unwrap_err();
    assert_eq!(e.to_string(), "unclosed bracket '[' at line 1 column 4");
    let e = from_str::<Value>("a: 1\n---\nb: 2\n").unwrap_err();
    assert_eq!(e.kind, ErrorKind::SeveralDocuments);
    let e = from_str::<std::collections::BTreeMap<String, u16>>("http: x\n").unwrap_err();
    assert!(matches!(&e.kind, ErrorKind::Shape(m) if m.starts_with("invalid type: string \"x\"")), "{e}");
    assert_eq!(from_str::<Value>("").unwrap(), Value::Null);
}

#[test]
fn written_values_read_back_the_same() {
    let v = json!({"a": "80", "b": ["x y", {"c": null}], "d": {}, "e": [], "f": "a\nkind: Secret", "g": -1.5});
    assert_eq!(from_str::<Value>(&to_string(&v)).unwrap(), v);
}
