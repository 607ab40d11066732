//! Built-in Tera templates, embedded in the binary, and the user's overrides.
//!
//! Each file of the top-level `templates/` directory is compiled in under `builtin/<name>`.
//! A project may name a templates directory in `meshgen.yaml`; a file there with the same
//! relative name replaces the built-in one (and may `{% extends "builtin/<name>" %}` or
//! include built-in partials). Because an override is arbitrary text, its output is parsed
//! back and checked before it is accepted (see [`super::verify`]).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use tera::Tera;

use super::compiled::Program;
use super::filters;
use super::tape::Tape;

/// The built-in templates: public name and text.
pub const BUILTINS: &[(&str, &str)] = &[
    ("_metadata.yaml", include_str!("../../templates/_metadata.yaml")),
    ("istio/authorization-policy.yaml", include_str!("../../templates/istio/authorization-policy.yaml")),
    ("istio/destination-rule.yaml", include_str!("../../templates/istio/destination-rule.yaml")),
    ("istio/gateway.yaml", include_str!("../../templates/istio/gateway.yaml")),
    ("istio/service-entry.yaml", include_str!("../../templates/istio/service-entry.yaml")),
    ("istio/sidecar.yaml", include_str!("../../templates/istio/sidecar.yaml")),
    ("istio/virtual-service.yaml", include_str!("../../templates/istio/virtual-service.yaml")),
    ("istio/workload-entry.yaml", include_str!("../../templates/istio/workload-entry.yaml")),
    ("istio/workload-group.yaml", include_str!("../../templates/istio/workload-group.yaml")),
];

const PREFIX: &str = "builtin/";

/// The templates in use: built-ins plus overrides, ready to render.
pub struct Templates {
    /// Tera with every template. With overrides, parsed on loading (their errors are the
    /// user's to see at once); with the built-ins alone, on first use: the compiled ones and
    /// the typed writers (`render::direct`) answer nearly always, and parsing the built-ins
    /// with Tera took longer than building 1,000 services.
    tera: std::sync::OnceLock<std::result::Result<Tera, String>>,
    /// The built-ins compiled (see `compiled`), when nothing is overridden.
    program: Option<Program>,
    overridden: BTreeSet<String>,
}

/// The templates of a directory that override built-ins, read: each one's name (as
/// `user_files` gives it) and text. Read once per build, so that what a build renders with is
/// what its fingerprint covers (`compile::Fingerprint`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overrides {
    /// (name, text), sorted by name.
    pub files: Vec<(String, String)>,
}

impl Overrides {
    /// Reads the templates of `dir`; fails on a missing directory, a file that overrides no
    /// built-in template, or a file that cannot be read.
    pub fn read(dir: &Path) -> Result<Overrides> {
        if !dir.is_dir() {
            bail!(
                "templates directory `{}` does not exist: fix `templates` in meshgen.yaml or `--templates`, or run `meshgen templates eject --to {}`",
                dir.display(),
                dir.display()
            );
        }
        let mut files = Vec::new();
        for (name, path) in user_files(dir)? {
            if !BUILTINS.iter().any(|(b, _)| *b == name) {
                let known: Vec<&str> = BUILTINS.iter().map(|(b, _)| *b).collect();
                let hint = crate::diag::suggest::hint(&name, "templates", &known).unwrap_or_default();
                bail!("template `{}` overrides no built-in template; {hint}", path.display());
            }
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("failed to read template `{}`", path.display()))?;
            files.push((name, text));
        }
        Ok(Overrides { files })
    }
}

impl Templates {
    /// Loads the built-ins and, when `dir` is given, the user's overrides from it.
    pub fn load(dir: Option<&Path>) -> Result<Templates> {
        Templates::with(dir.map(Overrides::read).transpose()?)
    }

    /// The built-ins with `overrides`, read before ([`Overrides::read`]).
    pub fn with(overrides: Option<Overrides>) -> Result<Templates> {
        let user: Vec<(String, String)> = overrides.map(|o| o.files).unwrap_or_default();
        let overridden: BTreeSet<String> = user.iter().map(|(name, _)| name.clone()).collect();
        let tera = std::sync::OnceLock::new();
        if !user.is_empty() {
            let _ = tera.set(Ok(parse(&user)?));
        }
        // Overrides run on Tera alone: they may use the whole language, and a compiled
        // built-in could include an overridden one.
        let program = overridden.is_empty().then(|| Program::new(BUILTINS.iter().copied()));
        Ok(Templates { tera, program, overridden })
    }

    /// True when every template in use is a built-in one, compiled: then the built-ins' typed
    /// fast path (`render::direct`) may write the objects instead.
    pub fn builtins_only(&self) -> bool {
        self.program.is_some()
    }

    /// True when the user overrides `name`.
    pub fn is_overridden(&self, name: &str) -> bool {
        self.overridden.contains(name)
    }

    /// Renders the template `name` with a context: through the compiled built-ins when
    /// they can, else with Tera on the context as JSON.
    pub fn render(&self, name: &str, context: &Tape) -> Result<String> {
        let mut out = String::with_capacity(1024);
        self.render_into(name, context, &mut out)?;
        Ok(out)
    }

    /// Renders template `name` as [`Templates::render`] does, at the end of `out`: a caller
    /// rendering object after object reuses one buffer instead of growing a new one each time.
    pub fn render_into(&self, name: &str, context: &Tape, out: &mut String) -> Result<()> {
        if let Some(program) = &self.program
            && program.render_into(name, context.root(), out).is_some()
        {
            return Ok(());
        }
        out.push_str(&self.render_with_tera(name, context.to_value())?);
        Ok(())
    }

    /// The compiled built-in alone: `None` where [`Templates::render`] would fall back to Tera
    /// (overrides in use, or a value the compiled form leaves to Tera). For the tests that
    /// hold both to the same bytes.
    pub fn render_compiled(&self, name: &str, context: &Tape) -> Option<String> {
        self.program.as_ref()?.render(name, context.root())
    }

    /// Renders with Tera, whatever the templates are (the reference for the compiled ones).
    pub fn render_with_tera(&self, name: &str, context: serde_json::Value) -> Result<String> {
        let tera = self.tera.get_or_init(|| parse(&[]).map_err(|e| format!("{e:#}")));
        let tera = tera.as_ref().map_err(|e| anyhow::anyhow!("{e}"))?;
        let ctx = tera::Context::from_value(context).map_err(|e| anyhow::anyhow!("{}", tera_chain(&e)))?;
        tera.render(name, &ctx).map_err(|e| anyhow::anyhow!("failed to render template `{name}`: {}", tera_chain(&e)))
    }
}

/// Tera with the built-ins and the user's overrides (`user`, by public name): every
/// built-in is reachable as `builtin/<name>` (for `extends`) and, unless overridden, under
/// its public name, which is what built-ins include and render.
fn parse(user: &[(String, String)]) -> Result<Tera> {
    let mut tera = Tera::default();
    tera.autoescape_on(vec![]);
    tera.register_filter("q", filters::q_filter);
    tera.register_filter("yaml", filters::yaml_filter);
    // Templates come with the repository, which may be hostile: they see the context and
    // nothing else. Tera's `get_env` would print any variable of the CI job or of Argo
    // CD's sidecar (tokens) into the output.
    tera.register_function("get_env", |_: &std::collections::HashMap<String, tera::Value>| {
        Err(tera::Error::msg("`get_env` is disabled: templates see the inventory, not the environment"))
    });
    let mut all: Vec<(String, &str)> = BUILTINS.iter().map(|(n, t)| (format!("{PREFIX}{n}"), *t)).collect();
    all.extend(BUILTINS.iter().filter(|(n, _)| !user.iter().any(|(u, _)| u == n)).map(|(n, t)| (n.to_string(), *t)));
    all.extend(user.iter().map(|(n, t)| (n.clone(), t.as_str())));
    tera.add_raw_templates(all)
        .map_err(|e| anyhow::anyhow!("{}", tera_chain(&e)))
        .context("failed to parse templates")?;
    Ok(tera)
}

/// Tera nests the useful message in its error's sources; print them all.
fn tera_chain(e: &tera::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        parts.push(s.to_string());
        src = s.source();
    }
    parts.join(": ")
}

/// The template files under `dir`, as (relative `/` name, path), sorted.
fn user_files(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("failed to read `{}`", d.display()))? {
            let entry = entry?;
            let path = entry.path();
            let ty = entry.file_type()?;
            if ty.is_dir() {
                stack.push(path);
            } else if ty.is_file() && !entry.file_name().to_string_lossy().starts_with('.') {
                out.push((crate::load::display_name(dir, &path), path));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The built-in template a user means by `name`: its full name (`istio/gateway.yaml`), or a
/// unique file name with or without `.yaml` (`gateway`).
fn resolve(name: &str) -> Result<&'static (&'static str, &'static str)> {
    let bare = |n: &str| n.rsplit('/').next().unwrap_or(n).trim_end_matches(".yaml").to_string();
    let matches: Vec<&(&str, &str)> =
        BUILTINS.iter().filter(|(n, _)| *n == name || bare(n) == bare(name) && !name.contains('/')).collect();
    match matches[..] {
        [one] => Ok(one),
        _ => {
            // Suggest by file name too: `virtal-service` is far from `istio/virtual-service.yaml`.
            let known: Vec<&str> = BUILTINS.iter().map(|(n, _)| *n).collect();
            let short: Vec<String> = known.iter().map(|n| bare(n)).collect();
            let hint = match crate::diag::suggest::did_you_mean(&bare(name), short.iter().map(String::as_str)) {
                Some(s) => format!("did you mean `{}`?", known[short.iter().position(|k| k == s).unwrap_or(0)]),
                None => crate::diag::suggest::hint(name, "templates", &known).unwrap_or_default(),
            };
            bail!("no built-in template `{name}`; {hint}")
        }
    }
}

/// Copies built-in templates into `dir` (all, or those named), refusing to overwrite
/// existing files unless `force`. Returns the paths written.
pub fn eject(dir: &Path, names: &[String], force: bool) -> Result<Vec<PathBuf>> {
    let chosen: Vec<&(&str, &str)> = if names.is_empty() {
        BUILTINS.iter().collect()
    } else {
        names.iter().map(|n| resolve(n)).collect::<Result<_>>()?
    };
    for (n, _) in &chosen {
        let path = dir.join(n);
        if path.exists() && !force {
            bail!("`{}` already exists; pass --force to overwrite it", path.display());
        }
    }
    let mut written = Vec::new();
    for (n, text) in chosen {
        let path = dir.join(n);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("failed to create `{}`", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("failed to write `{}`", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The embedded list and the `templates/` directory must not drift apart.
    #[test]
    fn templates_are_found_by_full_or_short_name() {
        for n in ["istio/gateway.yaml", "gateway.yaml", "gateway"] {
            assert_eq!(resolve(n).unwrap().0, "istio/gateway.yaml");
        }
        assert!(resolve("istio/gatewy.yaml").unwrap_err().to_string().contains("did you mean"));
        assert!(resolve("other/gateway.yaml").is_err());
    }

    #[test]
    fn builtins_match_templates_dir() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        let on_disk: Vec<String> = user_files(&dir).unwrap().into_iter().map(|(n, _)| n).collect();
        let listed: Vec<String> = BUILTINS.iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(on_disk, listed);
    }
}
