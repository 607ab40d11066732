//! Which cluster, as whom: the kubeconfig read the way `kubectl` reads it, and what its
//! errors need to say.
//!
//! kube's own loader fails on a `KUBECONFIG` list naming a file that does not exist (kubectl
//! skips it), names an unknown `--context` without the ones there are, and reports a failing
//! credential plugin with the `Debug` text of its process (environment included, the CA
//! data among it). So meshgen reads and merges the files itself and hands kube the merged
//! [`Kubeconfig`]; it keeps the selected user's `exec` plugin to explain its failures.

use std::path::{Path, PathBuf};

use http::{HeaderName, HeaderValue};
use kube::config::{KubeConfigOptions, Kubeconfig};

use super::{Error, chain};

/// What meshgen sends as `User-Agent`, so that API server audit logs and API Priority and
/// Fairness name it (kube's default names the client library).
const USER_AGENT: &str = concat!("meshgen/", env!("CARGO_PKG_VERSION"));

/// The credential plugin (`users[].user.exec`) of the selected context, for errors.
#[derive(Debug, Clone, Default)]
pub(super) struct Plugin {
    /// The command (`aws`, `gke-gcloud-auth-plugin`, `kubelogin`).
    pub command: String,
    /// The kubeconfig's `installHint`.
    pub install_hint: Option<String>,
}

/// A client configuration and where it came from.
pub(super) struct Loaded {
    /// kube's configuration, timeouts and User-Agent set.
    pub config: kube::Config,
    /// The context used (none in-cluster).
    pub context: Option<String>,
    /// The credential plugin of the context's user, if it has one.
    pub plugin: Option<Plugin>,
}

/// The kubeconfig files to read: `--kubeconfig FILE`, else each file of `$KUBECONFIG` that
/// exists (relative entries from the current directory, as the shell gave them), else
/// `~/.kube/config` if it exists. None at all: in-cluster.
fn files(explicit: Option<&Path>) -> Result<Vec<PathBuf>, Error> {
    if let Some(file) = explicit {
        if !file.is_file() {
            return Err(Error::Config(format!("`{}` does not exist or is not a file", file.display())));
        }
        return Ok(vec![file.to_path_buf()]);
    }
    if let Some(list) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        // kubectl skips the entries of the list that do not exist; so does meshgen.
        return Ok(std::env::split_paths(&list).filter(|p| !p.as_os_str().is_empty() && p.is_file()).collect());
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    Ok(home.map(|h| h.join(".kube").join("config")).filter(|p| p.is_file()).into_iter().collect())
}

/// Reads the kubeconfig (or the in-cluster service account) and selects the context.
pub(super) async fn load(
    explicit: Option<&Path>,
    context: Option<&str>,
    timeout: std::time::Duration,
) -> Result<Loaded, Error> {
    let files = files(explicit)?;
    let mut loaded = if files.is_empty() {
        if context.is_some() {
            return Err(Error::Config("`--context` was given, but there is no kubeconfig file (KUBECONFIG names none that exists, and `~/.kube/config` does not exist)".into()));
        }
        let config = kube::Config::incluster().map_err(|e| {
            Error::Config(format!(
                "no kubeconfig file (KUBECONFIG names none that exists, and `~/.kube/config` does not exist), and not running in a pod ({})",
                chain(&e)
            ))
        })?;
        Loaded { config, context: None, plugin: None }
    } else {
        let mut merged = Kubeconfig::default();
        for file in &files {
            let one = Kubeconfig::read_from(file)
                .map_err(|e| Error::Config(format!("`{}`: {}", file.display(), chain(&e))))?;
            merged = merged.merge(one).map_err(|e| Error::Config(format!("`{}`: {}", file.display(), chain(&e))))?;
        }
        let name = match context.map(str::to_string).or_else(|| merged.current_context.clone()) {
            Some(name) => name,
            None => return Err(Error::UnknownContext { name: None, known: names(&merged) }),
        };
        if !merged.contexts.iter().any(|c| c.name == name) {
            return Err(Error::UnknownContext { name: Some(name), known: names(&merged) });
        }
        let plugin = plugin_of(&merged, &name);
        let options = KubeConfigOptions { context: Some(name.clone()), ..Default::default() };
        let config =
            kube::Config::from_custom_kubeconfig(merged, &options).await.map_err(|e| Error::Config(chain(&e)))?;
        Loaded { config, context: Some(name), plugin }
    };
    let c = &mut loaded.config;
    c.connect_timeout = Some(timeout);
    c.read_timeout = Some(timeout);
    c.write_timeout = Some(timeout);
    c.headers.push((HeaderName::from_static("user-agent"), HeaderValue::from_static(USER_AGENT)));
    // 429s are retried by `Cluster::send`, which then says the server is throttling; kube's
    // own retries would run into the timeout and be reported as one.
    c.default_retry = false;
    Ok(loaded)
}

/// The context names, as the error lists them.
fn names(k: &Kubeconfig) -> Vec<String> {
    k.contexts.iter().map(|c| c.name.clone()).collect()
}

/// The `exec` plugin of the user of context `name`.
fn plugin_of(k: &Kubeconfig, name: &str) -> Option<Plugin> {
    let user = k.contexts.iter().find(|c| c.name == name)?.context.as_ref()?.user.clone()?;
    let exec = k.auth_infos.iter().find(|a| a.name == user)?.auth_info.as_ref()?.exec.as_ref()?;
    Some(Plugin { command: exec.command.clone()?, install_hint: exec.install_hint.clone() })
}

/// Finds a credential plugin's failure in an error's chain and words it: the command, its
/// exit status and its own stderr, never the process's environment (kube's message for a
/// failed plugin prints its `Debug` form, which holds every variable passed to it).
pub(super) fn plugin_error(e: &(dyn std::error::Error + 'static), plugin: Option<&Plugin>) -> Option<Error> {
    use kube::client::AuthError;
    let mut next = Some(e);
    while let Some(err) = next {
        if let Some(auth) = err.downcast_ref::<AuthError>() {
            let command = plugin.map_or_else(|| "the credential plugin".to_string(), |p| p.command.clone());
            let install_hint = plugin.and_then(|p| p.install_hint.clone());
            return Some(match auth {
                AuthError::AuthExecStart(io) => Error::Credentials {
                    command,
                    install_hint,
                    problem: if io.kind() == std::io::ErrorKind::NotFound {
                        "was not found on the PATH".to_string()
                    } else {
                        format!("could not be started: {io}")
                    },
                },
                AuthError::AuthExecRun { status, out, .. } => {
                    let stderr = String::from_utf8_lossy(&out.stderr);
                    let stderr = stderr.trim();
                    Error::Credentials {
                        command,
                        install_hint: None,
                        problem: if stderr.is_empty() {
                            format!("failed ({status}) and printed nothing on stderr")
                        } else {
                            format!("failed ({status}):\n{}", indent(stderr))
                        },
                    }
                }
                AuthError::AuthExecParse(_) | AuthError::AuthExec(_) => Error::Credentials {
                    command,
                    install_hint: None,
                    problem: format!("did not give a usable credential ({})", first_line(&auth.to_string())),
                },
                _ => return None,
            });
        }
        next = err.source();
    }
    None
}

/// The first line of a message, without what follows (a `Debug` dump, say).
fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default()
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
}
