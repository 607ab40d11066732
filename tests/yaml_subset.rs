//! The fast YAML reader (`meshgen::yaml::parse_subset`) against the complete one
//! (`meshgen::yaml::parse_full`): wherever the fast reader answers, it must answer exactly what
//! the complete reader answers (same documents, same values, same types, same key order), and
//! it must answer for the YAML meshgen users actually write, or it would be no faster.

use std::collections::BTreeMap;
use std::fmt::{Debug, Write as _};
use std::path::Path;

use crate::common::synth;
use meshgen::model::raw::{RawDependency, RawDocument, RawExternal, RawService, ShortOr};
use meshgen::yaml::{Value, from_documents, parse_full, parse_subset};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use synth::Rng;

/// An inventory document with its entities, as the model's fast path reads it.
type Document = Option<RawDocument<RawService, RawExternal>>;

/// The complete reader's reading of every document of `text`, as comparable text (Debug keeps
/// types, key order and float spellings), or `None` when it refuses the text.
fn reference(text: &str) -> Option<String> {
    let mut out = String::new();
    for value in parse_full(text).ok()? {
        writeln!(out, "{value:?}").unwrap();
    }
    Some(out)
}

fn fast(text: &str) -> Option<String> {
    parse_subset(text).map(|docs| docs.iter().map(|d| format!("{d:?}\n")).collect())
}

/// Asserts agreement; returns whether the fast reader answered.
fn agrees(text: &str) -> bool {
    let Some(got) = fast(text) else { return false };
    match reference(text) {
        Some(want) => assert_eq!(got, want, "the fast reader disagrees with the complete reader on:\n{text}"),
        None => panic!("the fast reader accepted YAML that the complete reader refuses:\n{text}\nread as {got}"),
    }
    typed_agrees::<Value>(text);
    typed_agrees::<Document>(text);
    typed_agrees::<Option<BTreeMap<String, Option<Vec<String>>>>>(text);
    typed_agrees::<Vec<(String, u32)>>(text);
    typed_agrees::<Option<Mixed>>(text);
    typed_agrees::<Word>(text);
    true
}

/// A type that asks for many kinds of values, for the typed reading to answer.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // read through Debug
struct Mixed {
    k0: Option<Value>,
    k1: Option<ShortOr<RawDependency>>,
    k2: Option<Vec<Option<f64>>>,
    a: Option<Word>,
    x: Option<BTreeMap<String, i64>>,
    #[serde(rename = "true")]
    t: Option<bool>,
}

/// A unit enum, read from a string.
#[derive(Debug, Deserialize)]
#[allow(non_camel_case_types)]
enum Word {
    x,
    a,
    b,
}

/// Where the fast reader reads `text` straight into `T`s (`yaml::from_documents`), each
/// document must be what deserialising its value gives. Returns whether it answered.
fn typed_agrees<T: DeserializeOwned + Debug>(text: &str) -> bool {
    let Some(got) = from_documents::<T>(text) else { return false };
    let values =
        meshgen::yaml::parse_all(text).unwrap_or_else(|e| panic!("typed reading of YAML refused ({e}):\n{text}"));
    let want: Vec<T> = values
        .iter()
        .map(|v| {
            T::deserialize(v).unwrap_or_else(|e| panic!("typed reading of what does not deserialise ({e}):\n{text}"))
        })
        .collect();
    assert_eq!(format!("{got:?}"), format!("{want:?}"), "typed reading differs on:\n{text}");
    true
}

fn yaml_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

#[test]
fn users_yaml_takes_the_fast_path_and_reads_the_same() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // The bundled inventory and its committed output: every file must be read by the fast
    // reader (they are what a typical repository holds).
    let mut must = Vec::new();
    yaml_files(&root.join("inventory"), &mut must);
    yaml_files(&root.join("out"), &mut must);
    assert!(must.len() > 20, "expected the bundled inventory and out/, found {} files", must.len());
    for path in &must {
        let text = std::fs::read_to_string(path).unwrap();
        assert!(agrees(&text), "{} is not read by the fast reader", path.display());
        let inventory = path.starts_with(root.join("inventory"));
        assert!(!inventory || typed_agrees::<Document>(&text), "{} is not read straight into entities", path.display());
    }
    // A synthetic estate like the benchmarks': all of it on the fast path.
    let dir = tempfile::tempdir().unwrap();
    synth::generate(300, 7, dir.path()).unwrap();
    let mut synth = Vec::new();
    yaml_files(dir.path(), &mut synth);
    for path in &synth {
        let text = std::fs::read_to_string(path).unwrap();
        assert!(agrees(&text), "{} is not read by the fast reader", path.display());
        let inventory = path.extension().is_some_and(|e| e == "yaml") && !path.ends_with("meshgen.yaml");
        assert!(!inventory || typed_agrees::<Document>(&text), "{} is not read straight into entities", path.display());
    }
    // Fixtures and snapshots, including deliberately odd YAML: agreement wherever the fast
    // reader answers, and it answers for most of them.
    let mut other = Vec::new();
    yaml_files(&root.join("tests"), &mut other);
    yaml_files(&root.join("deploy"), &mut other);
    let answered = other.iter().filter(|p| agrees(&std::fs::read_to_string(p).unwrap())).count();
    assert!(answered * 10 >= other.len() * 8, "only {answered} of {} test files took the fast path", other.len());
}

#[test]
fn scalars_resolve_as_the_complete_reader_resolves_them() {
    let scalars = [
        "a",
        "a b",
        "null",
        "Null",
        "NULL",
        "nULL",
        "~",
        "true",
        "True",
        "TRUE",
        "tRUE",
        "false",
        "yes",
        "no",
        "on",
        "0",
        "00",
        "007",
        "08",
        "1",
        "+1",
        "++1",
        "+-1",
        "-1",
        "-0",
        "-01",
        "0x1F",
        "0X1F",
        "0x",
        "0x+1",
        "-0x1F",
        "0o17",
        "0o8",
        "-0o17",
        "0b101",
        "0b2",
        "-0b1",
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775808",
        "-9223372036854775809",
        "340282366920938463463374607431768211456",
        "1.5",
        "-1.5",
        "+1.5",
        "1.",
        ".5",
        "1e3",
        "1E3",
        "1e",
        "1e400",
        "-1e400",
        ".inf",
        ".Inf",
        ".INF",
        "+.inf",
        "-.inf",
        "-.INF",
        ".nan",
        ".NaN",
        ".NAN",
        "+.nan",
        "nan",
        "inf",
        "infinity",
        "-inf",
        "10.0.1.2",
        "1_000",
        "1:2",
        "a:b",
        "8080",
        "é",
        "x#y",
        "1,2",
        "a]",
        "a}",
        "<<",
        "=",
        "$x",
        "^x",
        "(a)",
        "1 2",
    ];
    let mut answered = 0;
    for s in scalars {
        for text in [format!("{s}\n"), format!("k: {s}\n"), format!("- {s}\n"), format!("{s}: v\n"), format!("[{s}]\n")]
        {
            answered += usize::from(agrees(&text));
        }
        for text in [format!("k: '{s}'\n"), format!("k: \"{s}\"\n"), format!("{{k: {s}}}\n")] {
            answered += usize::from(agrees(&text));
        }
    }
    assert!(answered > scalars.len() * 5, "the fast reader answered only {answered} cases");
}

#[test]
fn structures_and_documents_read_the_same() {
    let cases = [
        "",
        "\n\n",
        "# only a comment\n",
        "---\n",
        "---\n---\n",
        "a: 1\n---\n",
        "---\na: 1\n---\nb: 2\n",
        "# c\n---\na: 1\n",
        "--- # c\na: 1\n",
        "---\n# c\n",
        "a: 1\n...\n",
        "--- a\n",
        "a:\n  b:\n    c: d\n  e: f\ng: h\n",
        "a:\n- 1\n- 2\nb: 3\n",
        "a:\n  - 1\n  -\n  - - x\n    - y\n",
        "- a: 1\n  b: 2\n- c: 3\n",
        "- - - deep\n",
        "-\n  a: 1\n",
        "- \n- x\n",
        "a:\n\n  b: 1\n\n\nc: 2\n",
        "a: 1 # c\nb: 2#x\n",
        "a:    spaced   \n",
        "a: b\n  c\n",
        "a: b\n  # comment\nc: d\n",
        "a:\n  b\n",
        "a:\n  b\n  c\n",
        "a: 1\n  b: 2\n",
        "a:\n    b: 1\n  c: 2\n",
        "a: 1\na: 2\n",
        "{a: 1, a: 2}\n",
        "a : 1\n",
        "'a' : 1\n",
        "'a': 1\n\"b\": 2\n",
        "a: b: c\n",
        "a: - b\n",
        "a: [1, 2\n  , 3]\n",
        "a: [1, 2,]\n",
        "a: [1, [2, [3]], {b: {c: [d]}}]\n",
        "a: {b: 1, c: [x, y], d: 'q', e: \"r\"}\n",
        "a: {b: }\n",
        "a: {b}\n",
        "a: [b: c]\n",
        "a: {b:c}\n",
        "a: [http://x]\n",
        "a: http://x\n",
        "a: [a b, c d]\n",
        "a: [a #b]\n",
        "a: []\nb: {}\n",
        "a: [] x\n",
        "[a]: b\n",
        "a: &x 1\nb: *x\n",
        "a: !t 1\n",
        "a: |\n  x\n",
        "a: >\n  x\n",
        "? a\n: b\n",
        "a:\tb\n",
        "a: b\r\n",
        "a: 'it''s'\n",
        "a: 'x\n  y'\n",
        "a: \"x\\ty\\\\z\\\"w\\/v\"\n",
        "a: \"\\u0041\"\n",
        "a: \"\\x41\"\n",
        "a: \"\\e\"\n",
        "\u{feff}a: 1\n",
        "a: \u{85}\n",
        "a: x\u{2028}y\n",
        "a: café ☕ 𝄞\n",
        "  a: 1\n  b: 2\n",
        "  a: 1\nb: 2\n",
        "a: 1\nb\n",
        "a:\n- 1\n b: 2\n",
        "- a\nb: 1\n",
        "a: 1\n- b\n",
        "%YAML 1.2\n---\na: 1\n",
        "a: 1\n--- \nb: 2\n",
        "---a: 1\n",
        "a: ---\n",
        "a: ...\n",
        "a: 1\n# trailing",
        "a: 1",
        "a:",
        "-",
        "key with spaces: value with spaces\n",
        "1: one\n2.5: x\ntrue: y\n~: z\n",
        "a: [\"x\", 'y', \"\"]\n",
        "a: ''\n",
        "'': 1\n",
        "a: '#'\n",
        "a: '  '\n",
        "x: [a,b]\n",
        "x: [ a , b ]\n",
        "x: {a: 1,b: 2}\n",
    ];
    let mut answered = 0;
    for text in cases {
        answered += usize::from(agrees(text));
    }
    assert!(answered >= 45, "the fast reader answered only {answered} of {} cases", cases.len());
    // Deep nesting is handed to the complete reader (and its limit) rather than read here.
    let deep = format!("{}x{}\n", "[".repeat(100), "]".repeat(100));
    assert!(parse_subset(&deep).is_none());
    let deep_block: String = (0..100).map(|i| format!("{}k{i}:\n", " ".repeat(i))).collect();
    assert!(parse_subset(&deep_block).is_none());
}

/// Pieces of YAML lines, ordinary and awkward, for random texts.
const SCALARS: &[&str] = &[
    "a",
    "b",
    "key",
    "x y",
    "1",
    "0",
    "007",
    "1.5",
    "-3",
    "+4",
    "0x1F",
    ".inf",
    ".nan",
    "1e3",
    "true",
    "False",
    "null",
    "~",
    "10.0.1.2",
    "'q'",
    "'it''s'",
    "\"d\"",
    "\"a\\nb\"",
    "\"\\u0041\"",
    "''",
    "x#y",
    "x #y",
    "k:v",
    "-x",
    "é",
    "[a, b]",
    "[a,b]",
    "{a: 1}",
    "{a: [1, {b: c}]}",
    "[]",
    "{}",
    "[a, ]",
    "{a}",
    "&x a",
    "*x",
    "!t a",
    "|",
    ">",
    "? a",
    "a: b",
    "- a",
    "",
    " ",
    "#c",
    "...",
    "---",
    "%",
    "@a",
    "`a",
    "a\tb",
];

fn random_text(rng: &mut Rng) -> String {
    let mut text = String::new();
    let pick = |rng: &mut Rng| SCALARS[rng.below(SCALARS.len())];
    for _ in 0..1 + rng.below(10) {
        let indent = " ".repeat([0, 0, 1, 2, 2, 3, 4, 4, 6][rng.below(9)]);
        let line = match rng.below(12) {
            0..=3 => format!("{indent}{}: {}", pick(rng), pick(rng)),
            4 | 5 => format!("{indent}- {}", pick(rng)),
            6 => format!("{indent}- {}: {}", pick(rng), pick(rng)),
            7 | 8 => format!("{indent}{}:", pick(rng)),
            9 => format!("{indent}-"),
            10 => ["---", "...", "# comment", "", "--- # c"][rng.below(5)].to_string(),
            _ => format!("{indent}{}", pick(rng)),
        };
        text.push_str(&line);
        if rng.below(20) > 0 {
            text.push('\n');
        }
    }
    text
}

/// A random value written in block style with flow leaves: always valid YAML, so the fast
/// reader must answer for most of them.
fn random_tree(rng: &mut Rng, indent: usize, depth: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    let leaf = |rng: &mut Rng| {
        ["x", "1", "true", "'q r'", "[a, 1]", "{k: v, n: [1, 2]}", "10.0.0.1", "\"s\"", "~"][rng.below(9)]
    };
    if depth == 0 || rng.below(3) == 0 {
        writeln!(out, "{pad}{}", leaf(rng)).unwrap();
        return;
    }
    let n = 1 + rng.below(3);
    let seq = rng.below(2) == 0;
    for i in 0..n {
        let head = if seq { format!("{pad}-") } else { format!("{pad}k{i}:") };
        match rng.below(3) {
            0 => writeln!(out, "{head} {}", leaf(rng)).unwrap(),
            1 => {
                writeln!(out, "{head}").unwrap();
                random_tree(rng, indent + 2, depth - 1, out);
            }
            _ => {
                // The value begins on the same line (`- k: v` compact mappings and nested
                // sequences), or a sequence sits at its key's column.
                if seq {
                    let mut inner = String::new();
                    random_tree(rng, indent + 2, depth - 1, &mut inner);
                    out.push_str(&head);
                    out.push(' ');
                    out.push_str(&inner[indent + 2..]);
                } else {
                    writeln!(out, "{head}").unwrap();
                    writeln!(out, "{pad}- {}", leaf(rng)).unwrap();
                }
            }
        }
    }
}

#[test]
fn random_texts_never_read_differently() {
    let mut rng = Rng(20261123);
    let (mut answered, mut valid) = (0, 0);
    for _ in 0..20_000 {
        let text = random_text(&mut rng);
        valid += usize::from(reference(&text).is_some());
        answered += usize::from(agrees(&text));
    }
    // The soup is mostly invalid or exotic (about 13% of it is YAML at all); the fast reader
    // must still read a good part of what is valid for the comparison to mean something.
    assert!(answered * 2 > valid, "the fast reader answered only {answered} of {valid} valid random texts");

    let mut trees = 0;
    for _ in 0..5_000 {
        let mut text = String::new();
        random_tree(&mut rng, 0, 4, &mut text);
        trees += usize::from(agrees(&text));
    }
    assert!(trees > 4_500, "the fast reader answered only {trees} of 5000 valid trees");
}

#[test]
fn diff_reads_rendered_objects_as_the_complete_reader_does() {
    // `diff` reads every document of the other build through the fast reader; the result must
    // be the complete reader's.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut texts = Vec::new();
    let mut files = Vec::new();
    yaml_files(&root.join("out"), &mut files);
    for path in files {
        texts.push((path.display().to_string(), std::fs::read_to_string(&path).unwrap()));
    }
    // And a synthetic estate's whole output.
    let dir = tempfile::tempdir().unwrap();
    synth::generate(100, 3, dir.path()).unwrap();
    let built = crate::common::command().args(["build", "--stdout", "-C"]).arg(dir.path()).output().unwrap();
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    texts.push(("build --stdout".into(), String::from_utf8(built.stdout).unwrap()));
    let mut objects = 0;
    for (path, text) in &texts {
        for doc in meshgen::diff::rendered::split_documents(text) {
            let Ok(object) = meshgen::diff::Object::from_yaml(doc) else { continue };
            let want = parse_full(doc).unwrap().pop().unwrap();
            assert_eq!(object.value, want, "{path}:\n{doc}");
            objects += 1;
        }
    }
    assert!(objects > 500, "only {objects} objects compared");
    // Values JSON cannot hold are refused, by the complete reader.
    for (doc, why) in [
        ("apiVersion: v1\nkind: A\nmetadata: {name: a}\nx: .nan\n", "`.nan` is not a finite number"),
        ("apiVersion: v1\nkind: A\nmetadata: {name: a}\n1: x\n", "the key `1` is not a string"),
    ] {
        let got = meshgen::diff::Object::from_yaml(doc).map(|o| o.value).unwrap_err();
        assert!(got.contains(why), "{doc}: {got}");
    }
}

/// A struct that ignores keys it does not know (serde's default), beside one that refuses
/// them: the fast reader does not record a struct's keys, so it must give up wherever a key
/// is ignored or given twice, and read the rest as deserialising the value does.
#[derive(Debug, Deserialize)]
#[allow(dead_code)] // read through Debug
struct Lenient {
    a: Option<u32>,
    m: Option<BTreeMap<String, u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // read through Debug
struct Strict {
    a: Option<u32>,
    inner: Option<Lenient>,
}

#[test]
fn a_struct_given_a_key_twice_or_one_it_ignores_is_left_to_the_complete_reader() {
    for text in ["a: 1\n", "{a: 1, m: {x: 2}}\n", "inner: {a: 1}\n", "m: {x: 1, y: 2}\na: 3\n"] {
        assert!(typed_agrees::<Lenient>(text) || typed_agrees::<Strict>(text), "fast path refused:\n{text}");
    }
    // Each with whether the complete reader refuses it (a key given twice).
    let given_up = [
        // A field twice.
        ("a: 1\na: 2\n", true),
        ("{a: 1, a: 2}\n", true),
        ("inner: {a: 1, a: 1}\n", true),
        // A key the struct ignores, once or twice: only the complete reader can tell.
        ("a: 1\nz: 2\n", false),
        ("a: 1\nz: 2\nz: 3\n", true),
        ("{z: 1, a: 2, z: 1}\n", true),
        ("inner: {z: [1, 2]}\n", false),
        // A map's keys are still recorded inside a struct.
        ("m: {x: 1, x: 2}\n", true),
    ];
    for (text, repeated) in given_up {
        assert!(from_documents::<Lenient>(text).is_none(), "fast path answered:\n{text}");
        assert!(from_documents::<Strict>(text).is_none(), "fast path answered:\n{text}");
        assert_eq!(parse_full(text).is_err(), repeated, "complete reader on:\n{text}");
    }
    // Ignored once, the complete path reads it.
    let lenient: Lenient = meshgen::yaml::from_str("a: 1\nz: 2\n").unwrap();
    assert_eq!(lenient.a, Some(1));
}
