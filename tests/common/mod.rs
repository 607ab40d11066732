//! Helpers shared by the integration tests: running the real binary on a project directory,
//! copying fixtures into scratch directories, and reading whole output trees.

#![allow(dead_code, unreachable_pub)] // each test crate uses a different subset

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub mod istio_crds;
pub mod synth;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every fixture directory under `tests/fixtures`, sorted by name.
pub fn fixtures() -> Vec<(String, PathBuf)> {
    let mut v: Vec<(String, PathBuf)> = fs::read_dir(root().join("tests/fixtures"))
        .expect("tests/fixtures exists")
        .map(|e| e.expect("readable fixture dir").path())
        .filter(|p| p.join("meshgen.yaml").is_file())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), p))
        .collect();
    v.sort();
    v
}

/// The result of one run of the binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8(o.stdout).expect("stdout is UTF-8"),
            stderr: String::from_utf8(o.stderr).expect("stderr is UTF-8"),
        }
    }
}

/// The meshgen binary, with none of the `MESHGEN_*` variables of the environment the tests
/// run in (a developer's `MESHGEN_PROJECT` or `MESHGEN_ENV` would change what every test
/// builds; those the tests read themselves, such as `MESHGEN_ISTIO_CRDS`, are not passed to
/// meshgen, which never reads them). A test sets the variables it is about itself.
pub fn command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_meshgen"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("MESHGEN_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// Runs `meshgen ARGS` in `dir`, without colour.
pub fn meshgen(dir: &Path, args: &[&str]) -> Run {
    command().args(args).current_dir(dir).env("NO_COLOR", "1").output().expect("the meshgen binary runs").into()
}

/// `meshgen build --stdout` in `dir`; panics with the diagnostics unless it succeeds.
pub fn build_stdout(dir: &Path) -> String {
    let r = meshgen(dir, &["build", "--stdout"]);
    assert_eq!(r.code, 0, "build failed in {}:\n{}", dir.display(), r.stderr);
    r.stdout
}

/// Copies a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            fs::copy(e.path(), target).unwrap();
        }
    }
}

/// A scratch copy of a project: its `meshgen.yaml`, `inventory/` and the overlays of its
/// environments and clusters only (for the repository root, not `.git`, the sources or
/// any output).
pub fn scratch_copy(from: &Path) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    fs::copy(from.join("meshgen.yaml"), tmp.path().join("meshgen.yaml")).unwrap();
    for dir in ["inventory", "environments", "clusters"] {
        if from.join(dir).is_dir() {
            copy_dir(&from.join(dir), &tmp.path().join(dir));
        }
    }
    tmp
}

/// A scratch project from files given as (relative path, content).
pub fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let p = tmp.path().join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }
    tmp
}

/// Every file under `dir` with its bytes, keyed by relative path (`/`-separated).
pub fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                let rel = p.strip_prefix(base).unwrap().to_string_lossy().replace('\\', "/");
                out.insert(rel, fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Splits a `---`-separated stream into parsed documents.
pub fn documents(stream: &str) -> Vec<meshgen::yaml::Value> {
    meshgen::yaml::parse_all(stream)
        .expect("meshgen output is valid YAML")
        .into_iter()
        .filter(|v| !v.is_null())
        .collect()
}

/// The objects of a stream by `Kind/namespace/name`.
pub fn by_id(stream: &str) -> BTreeMap<String, meshgen::yaml::Value> {
    documents(stream)
        .into_iter()
        .map(|d| {
            let id = format!(
                "{}/{}/{}",
                d["kind"].as_str().unwrap(),
                d["metadata"]["namespace"].as_str().unwrap(),
                d["metadata"]["name"].as_str().unwrap()
            );
            (id, d)
        })
        .collect()
}

/// The strings of a YAML list (none for anything else).
pub fn strings(v: &meshgen::yaml::Value) -> Vec<String> {
    v.as_array().map(|s| s.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

/// Sets every file under `dir` to `file_mode` and every directory (`dir` too) to `dir_mode`,
/// as Argo CD does to the repository it hands a plugin (directories last, deepest first, so
/// a read-only mode does not lock the walk out).
pub fn reset_modes(dir: &Path, file_mode: u32, dir_mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            reset_modes(&p, file_mode, dir_mode);
        } else {
            fs::set_permissions(&p, fs::Permissions::from_mode(file_mode)).unwrap();
        }
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(dir_mode)).unwrap();
}

/// The inventory and graph of the project in `dir`, through the library's pipeline
/// (`meshgen::compile`, as `meshgen check` runs it); panics on findings that are errors.
#[allow(dead_code)] // not every test binary compiles through the library
pub fn compile_model(dir: &Path) -> (meshgen::model::Inventory, meshgen::graph::MeshGraph) {
    let options = meshgen::Options { goal: meshgen::Goal::Analyse, ..meshgen::Options::new(dir) };
    let c = meshgen::compile(&options).unwrap();
    assert!(!c.diags.has_errors(), "{}: {:?}", dir.display(), c.diags);
    (c.inventory.expect("an inventory"), c.graph.expect("a graph"))
}

/// Runs `check` on every item and fails once at the end, naming every item that failed, so
/// one run shows every mismatching snapshot (what `insta::glob!` does for files) instead of
/// stopping at the first. Each item's own panic message is printed as it happens.
pub fn each<T>(items: impl IntoIterator<Item = T>, name: impl Fn(&T) -> String, check: impl Fn(T)) {
    let mut failed = Vec::new();
    for item in items {
        let n = name(&item);
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(item))).is_err() {
            failed.push(n);
        }
    }
    assert!(failed.is_empty(), "{} of the cases failed (messages above): {}", failed.len(), failed.join(", "));
}

/// A container's volume mounts, by mount path: the name of the volume mounted there.
pub fn volume_mounts(container: &meshgen::yaml::Value) -> BTreeMap<&str, &str> {
    container["volumeMounts"]
        .as_array()
        .expect("the container mounts volumes")
        .iter()
        .map(|m| (m["mountPath"].as_str().unwrap(), m["name"].as_str().unwrap()))
        .collect()
}

/// What a newcomer must never read in a diagnostic: Rust's names for types and modules,
/// serde's wording, and paths of the repository, which someone with only the binary lacks.
static INTERNALS: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(concat!(
        r"Raw[A-Z]|\b(u8|u16|u32|u64|u128|i8|i16|i32|i64|usize|isize|f32|f64)\b|\bstruct |\benum |",
        r"Option<|\bOption\b|Vec<|BTreeMap|HashMap|::|serde|\bvariant\b|\bidentifier\b|",
        r"docs/|\.md\b|tests/|src/",
    ))
    .unwrap()
});

/// Checks the project in `dir` in every diagnostic format and asserts that no message, help
/// or note holds [`INTERNALS`].
pub fn assert_in_user_words(dir: &Path) {
    for format in ["human", "concise", "json", "sarif", "github"] {
        let r = meshgen(dir, &["check", "--format", format]);
        assert!(!r.stdout.is_empty(), "`check --format {format}` reported nothing:\n{}", r.stderr);
        let texts: Vec<String> = match format {
            // Every string of the document but the schema's address.
            "json" | "sarif" => {
                let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
                let mut out = Vec::new();
                all_strings(&v, &mut out);
                out
            }
            // The workflow command's own `::level props::` is GitHub's syntax, not a message.
            "github" => r.stdout.lines().map(|l| l.splitn(3, "::").last().unwrap_or_default().to_string()).collect(),
            // `  ::: file:line` marks a related place.
            _ => r.stdout.lines().map(|l| l.replacen("  ::: ", "  at ", 1)).collect(),
        };
        for t in texts {
            if let Some(m) = INTERNALS.find(&t) {
                panic!("`{}` in the {format} output: {t}\n{}", m.as_str(), r.stdout);
            }
        }
    }
}

/// The string values of a JSON document, except `$schema`.
fn all_strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|v| all_strings(v, out)),
        serde_json::Value::Object(m) => {
            m.iter().filter(|(k, _)| *k != "$schema").for_each(|(_, v)| all_strings(v, out))
        }
        _ => {}
    }
}
