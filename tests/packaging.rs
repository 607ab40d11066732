//! Packaging: the Dockerfile's two images and its `.dockerignore`, checked statically (the
//! tests build no image: that takes a Docker daemon and a registry), the crate's `include`
//! list, and the pre-commit hooks. Each checks what would break a user's build or install.

use std::collections::BTreeMap;
use std::fs;
use std::process::Command;

use crate::common;

use common::root;

/// One stage of the Dockerfile: its name and its instructions, continuation lines joined.
struct Stage {
    name: String,
    from: String,
    instructions: Vec<(String, String)>,
}

impl Stage {
    /// The arguments of every instruction `keyword` in this stage.
    fn all(&self, keyword: &str) -> Vec<&str> {
        self.instructions.iter().filter(|(k, _)| k == keyword).map(|(_, a)| a.as_str()).collect()
    }

    /// The arguments of the last instruction `keyword`, which is the one that applies.
    fn last(&self, keyword: &str) -> Option<&str> {
        self.all(keyword).last().copied()
    }
}

/// The Dockerfile's stages, in order. Comments are dropped and `\`-continued lines joined,
/// as Docker reads them.
fn stages() -> Vec<Stage> {
    let text = fs::read_to_string(root().join("Dockerfile")).expect("a Dockerfile at the repository root");
    let mut logical = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(rest) => current.push_str(rest),
            None => {
                current.push_str(trimmed);
                logical.push(std::mem::take(&mut current));
            }
        }
    }
    let mut stages: Vec<Stage> = Vec::new();
    for line in logical {
        let (keyword, args) = line.split_once(char::is_whitespace).unwrap_or((&line, ""));
        let keyword = keyword.to_ascii_uppercase();
        let args = args.trim().to_string();
        if keyword == "FROM" {
            let words: Vec<&str> = args.split_whitespace().collect();
            let name = match words.as_slice() {
                [_, as_, name] if as_.eq_ignore_ascii_case("as") => name.to_string(),
                _ => panic!("every stage is named (`FROM image AS name`): {line}"),
            };
            stages.push(Stage { name, from: words[0].to_string(), instructions: Vec::new() });
        } else if let Some(stage) = stages.last_mut() {
            stage.instructions.push((keyword, args));
        }
    }
    stages
}

fn stage<'s>(stages: &'s [Stage], name: &str) -> &'s Stage {
    stages.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("the Dockerfile has no stage `{name}`"))
}

/// The stage a final image copies its binary from (`COPY --from=STAGE …/meshgen …`).
fn builder<'s>(stages: &'s [Stage], image: &Stage) -> &'s Stage {
    let copy = image
        .all("COPY")
        .into_iter()
        .find(|a| a.starts_with("--from=") && a.contains("meshgen "))
        .unwrap_or_else(|| panic!("target `{}` copies meshgen from a build stage", image.name));
    let from = copy.trim_start_matches("--from=").split_whitespace().next().unwrap();
    stage(stages, from)
}

/// The `cargo build` commands of a stage and the stages it is built on.
fn cargo_builds<'s>(stages: &'s [Stage], mut stage_: &'s Stage) -> Vec<&'s str> {
    let mut out = Vec::new();
    loop {
        out.extend(stage_.all("RUN").into_iter().filter(|r| r.contains("cargo build")));
        match stages.iter().find(|s| s.name == stage_.from) {
            Some(parent) => stage_ = parent,
            None => return out,
        }
    }
}

/// The package's features as cargo reads Cargo.toml (implicit features of optional
/// dependencies included), each with what it turns on, and the paths of its declared targets.
fn cargo_metadata() -> (BTreeMap<String, Vec<String>>, Vec<String>) {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--no-deps", "--format-version", "1", "--offline"])
        .current_dir(root())
        .output()
        .expect("cargo runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let package = &meta["packages"][0];
    let features = serde_json::from_value(package["features"].clone()).unwrap();
    // The targets Cargo.toml declares (cargo refuses a manifest if one is missing); those it
    // discovers by themselves may be absent.
    let manifest = fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let base = format!("{}/", root().display());
    let targets = package["targets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| manifest.contains(&format!("name = {}", t["name"])))
        .map(|t| t["src_path"].as_str().unwrap().trim_start_matches(&base).to_string())
        .collect();
    (features, targets)
}

/// The features a `cargo build` command turns on: the defaults unless
/// `--no-default-features`, plus `--features`.
fn features_of(command: &str) -> (bool, Vec<String>) {
    let words: Vec<&str> = command.split_whitespace().collect();
    let defaults = !words.contains(&"--no-default-features");
    let named =
        words.windows(2).filter(|w| w[0] == "--features").flat_map(|w| w[1].split(',').map(str::to_string)).collect();
    (defaults, named)
}

/// Both targets exist, are built from the locked dependencies with the features they
/// promise (features Cargo.toml has), and run as a non-root user.
#[test]
fn the_dockerfile_has_both_images_built_as_promised() {
    let stages = stages();
    let (features, targets) = cargo_metadata();
    for (target, cluster_client) in [("meshgen", true), ("argocd-cmp", false)] {
        let image = stage(&stages, target);
        let user = image.last("USER").unwrap_or_else(|| panic!("`{target}` sets USER"));
        let uid = user.split(':').next().unwrap();
        assert!(uid.parse::<u32>().is_ok_and(|u| u != 0), "`{target}` runs as a numeric non-root user: {user}");
        let builds = cargo_builds(&stages, builder(&stages, image));
        assert!(builds.len() >= 2, "`{target}`: a dependency layer, then meshgen: {builds:?}");
        for build in &builds {
            assert!(build.contains("--release") && build.contains("--locked"), "{target}: {build}");
            let (defaults, named) = features_of(build);
            for f in &named {
                assert!(
                    features.contains_key(f),
                    "`{target}` names feature `{f}`, which Cargo.toml lacks: {features:?}"
                );
            }
            let on: Vec<&String> = named.iter().chain(features["default"].iter().filter(|_| defaults)).collect();
            assert_eq!(on.iter().any(|f| *f == "cluster"), cluster_client, "`{target}`: {build}");
            assert!(on.iter().any(|f| *f == "mimalloc"), "`{target}` keeps the allocator: {build}");
        }
        // The dependency layer and the final build compile the same features, or the
        // cached layer would be of no use.
        let first = features_of(builds[0]);
        assert!(builds.iter().all(|b| features_of(b) == first), "`{target}`: {builds:?}");
    }
    // cargo refuses a manifest whose declared targets are missing: the stage that builds the
    // dependencies without the sources creates each one.
    let text = fs::read_to_string(root().join("Dockerfile")).unwrap();
    for t in &targets {
        assert!(text.contains(t.as_str()), "the dependency layer needs a stand-in for {t}");
    }

    let cli = stage(&stages, "meshgen");
    let entrypoint = cli.last("ENTRYPOINT").expect("meshgen is the entrypoint");
    assert!(entrypoint.contains("/meshgen\""), "{entrypoint}");
    assert!(cli.all("RUN").iter().any(|r| r.contains("ca-certificates")), "CA certificates for diff --cluster");
}

/// The sidecar image fits Argo CD: user 999, plugin.yaml where argocd-cmp-server reads it
/// (the path docs/argocd.md and the repo-server patch use), and argocd-cmp-server started
/// from the volume the patch mounts.
#[test]
fn the_sidecar_image_fits_the_repo_server_patch() {
    let stages = stages();
    let image = stage(&stages, "argocd-cmp");
    assert_eq!(image.last("USER"), Some("999:999"));
    const CONFIG: &str = "/home/argocd/cmp-server/config/plugin.yaml";
    let copies = image.all("COPY");
    let plugin = copies.iter().find(|c| c.starts_with("deploy/argocd/plugin.yaml ")).expect("plugin.yaml baked in");
    assert_eq!(plugin.split_whitespace().nth(1), Some(CONFIG));
    let docs = fs::read_to_string(root().join("docs/argocd.md")).unwrap();
    assert!(docs.contains(CONFIG), "docs/argocd.md names {CONFIG}");
    assert!(docs.contains("--target argocd-cmp"), "docs/argocd.md shows how to build the image");
    let patch: serde_json::Value =
        meshgen::yaml::from_str(&fs::read_to_string(root().join("deploy/argocd/repo-server-patch.yaml")).unwrap())
            .unwrap();
    let sidecar = &patch["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(sidecar["securityContext"]["runAsUser"].as_u64(), Some(999));
    let mounts = common::volume_mounts(sidecar);
    assert!(mounts.contains_key(CONFIG), "{mounts:?}");
    let command = sidecar["command"][0].as_str().unwrap();
    assert!(mounts.keys().any(|m| command.starts_with(&format!("{m}/"))), "{command} comes from a mounted volume");
    assert_eq!(image.last("ENTRYPOINT"), Some(format!("[\"{command}\"]").as_str()));
}

/// Whether `.dockerignore` (patterns in order, the last match wins, `!` lets a path back in)
/// sends `path` to the build.
fn in_context(patterns: &[&str], path: &str) -> bool {
    let mut included = true;
    for p in patterns {
        let (keep, pattern) = match p.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, *p),
        };
        let pattern = pattern.trim_end_matches('/');
        if pattern == "*" || path == pattern || path.starts_with(&format!("{pattern}/")) {
            included = keep;
        }
    }
    included
}

/// The build context holds what the Dockerfile copies and nothing heavy or secret.
#[test]
fn the_dockerignore_lets_in_what_the_dockerfile_copies_only() {
    let ignore = fs::read_to_string(root().join(".dockerignore")).expect("a .dockerignore");
    let patterns: Vec<&str> = ignore.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    for path in ["target", "target/release/meshgen", ".git", ".git/config", "out/kustomization.yaml"] {
        assert!(!in_context(&patterns, path), "{path} is sent to the docker build");
    }
    let mut copied = 0;
    for stage in stages() {
        for copy in stage.all("COPY").into_iter().filter(|c| !c.starts_with("--from=")) {
            let words: Vec<&str> = copy.split_whitespace().collect();
            for source in &words[..words.len() - 1] {
                assert!(root().join(source).exists(), "{} copies {source}, which does not exist", stage.name);
                assert!(
                    in_context(&patterns, source),
                    ".dockerignore leaves out {source}, which {} copies",
                    stage.name
                );
                copied += 1;
            }
        }
    }
    assert!(copied >= 5, "{copied} sources copied");
}

/// `cargo install` and `cargo package` build from the files `include` names: every file the
/// sources embed (`include_str!`, `include_bytes!`) must be among them.
#[test]
fn the_crate_includes_every_file_the_sources_embed() {
    let manifest = fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let line = manifest.lines().find(|l| l.starts_with("include = ")).expect("Cargo.toml has `include`");
    let include: Vec<&str> = line.split('"').skip(1).step_by(2).collect();
    let covered = |path: &str| {
        include.iter().any(|p| match p.strip_suffix("/**/*") {
            Some(dir) => path.starts_with(&format!("{dir}/")),
            None => path == *p,
        })
    };
    let mut embedded = 0;
    for (file, text) in common::tree(&root().join("src")) {
        let text = String::from_utf8_lossy(&text);
        for macro_ in ["include_str!(\"", "include_bytes!(\""] {
            for (at, _) in text.match_indices(macro_) {
                let arg = &text[at + macro_.len()..];
                let arg = &arg[..arg.find('"').unwrap()];
                let dir = std::path::Path::new("src").join(&file).parent().unwrap().to_path_buf();
                let path = normalise(&dir.join(arg));
                // Unit tests (src/**/tests) are not part of an installed build.
                if !file.contains("tests/") {
                    assert!(root().join(&path).is_file(), "src/{file} embeds {path}, which does not exist");
                    assert!(covered(&path), "src/{file} embeds {path}: add it to `include` in Cargo.toml");
                    embedded += 1;
                }
            }
        }
    }
    assert!(embedded >= 9, "the templates are embedded: {embedded}");
}

/// `a/b/../c` as `a/c`, without touching the file system.
fn normalise(path: &std::path::Path) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in path.components() {
        match c {
            std::path::Component::ParentDir => {
                parts.pop();
            }
            std::path::Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            _ => {}
        }
    }
    parts.join("/")
}

/// The pre-commit hooks run real commands, pass the bundled project (whose `out/` is
/// committed), and are triggered by inventory and project files but not by others.
#[test]
fn the_pre_commit_hooks_run_meshgen() {
    let hooks: serde_json::Value =
        meshgen::yaml::from_str(&fs::read_to_string(root().join(".pre-commit-hooks.yaml")).unwrap()).unwrap();
    let hooks = hooks.as_array().expect("a list of hooks");
    let ids: Vec<&str> = hooks.iter().map(|h| h["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["meshgen-check", "meshgen-build-check"]);
    for hook in hooks {
        let id = hook["id"].as_str().unwrap();
        assert_eq!(hook["pass_filenames"].as_bool(), Some(false), "{id} runs on the whole project");
        assert!(["system", "rust"].contains(&hook["language"].as_str().unwrap()), "{id}");
        let files = regex::Regex::new(hook["files"].as_str().expect("a files pattern")).unwrap();
        for path in ["meshgen.yaml", "inventory/shop/catalog.yaml", "environments/prod.yml"] {
            assert!(files.is_match(path), "{id} runs when {path} changes");
        }
        assert!(!files.is_match("README.md") && !files.is_match("src/main.rs"), "{id} is not run for other files");
        let entry: Vec<&str> = hook["entry"].as_str().unwrap().split_whitespace().collect();
        assert_eq!(entry[0], "meshgen", "{id}");
        let r = common::meshgen(&root(), &entry[1..]);
        assert_eq!(r.code, 0, "{id}: {}{}", r.stdout, r.stderr);
    }
}
