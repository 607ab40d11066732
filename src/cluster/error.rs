//! Why reading the cluster failed, worded to say what to do about it.

use std::fmt;
use std::time::Duration;

/// One request, as the errors name it: `list` `serviceentries.networking.istio.io` in
/// namespace `shop`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    /// The Kubernetes verb (`get`, `list`, `patch`).
    pub verb: &'static str,
    /// `plural.group` (or a discovery path).
    pub resource: String,
    /// The namespace, when the request is namespaced.
    pub namespace: Option<String>,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` `{}`", self.verb, self.resource)?;
        match &self.namespace {
            Some(ns) => write!(f, " in namespace `{ns}`"),
            None => write!(f, " at cluster scope (all namespaces)"),
        }
    }
}

/// A failure to read the cluster. Each says what happened and what to do.
#[derive(Debug)]
pub enum Error {
    /// The kubeconfig could not be read or has no usable context.
    Config(String),
    /// No connection to the API server (refused, DNS, TLS).
    Unreachable {
        /// The server URL.
        server: String,
        /// The underlying cause.
        cause: String,
    },
    /// 401: the credentials were refused.
    Unauthorized {
        /// The server URL.
        server: String,
        /// The server's message.
        message: String,
    },
    /// 403: the user may not do this.
    Forbidden {
        /// What was refused.
        op: Op,
        /// The server's message.
        message: String,
    },
    /// The API group is not served at all: the CRDs are not installed.
    GroupMissing {
        /// The API group (`networking.istio.io`).
        group: String,
    },
    /// The group is served, but not in this version.
    VersionNotServed {
        /// `networking.istio.io`.
        group: String,
        /// `v1`.
        version: String,
        /// The versions the cluster serves.
        served: Vec<String>,
    },
    /// The group/version is served but lacks a kind (an old or partial CRD set).
    KindMissing {
        /// The kind.
        kind: String,
        /// `networking.istio.io/v1`.
        api_version: String,
    },
    /// A request took longer than `--timeout`.
    Timeout {
        /// What was asked.
        op: Op,
        /// The limit.
        after: Duration,
        /// The server URL.
        server: String,
    },
    /// Any other refusal by the API server.
    Api {
        /// What was refused.
        op: Op,
        /// HTTP status code.
        code: u16,
        /// The Status reason (`Conflict`, `NotFound`, …).
        reason: String,
        /// The server's message.
        message: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(m) => write!(
                f,
                "cannot load the kubeconfig: {m}\n  help: pass `--kubeconfig FILE` and `--context NAME`, or set KUBECONFIG"
            ),
            Error::Unreachable { server, cause } => write!(
                f,
                "cannot reach the Kubernetes API server at {server}: {cause}\n  help: check that the cluster is running and reachable from here, and that the kubeconfig context points at it (`kubectl cluster-info`)"
            ),
            Error::Unauthorized { server, message } => write!(
                f,
                "the API server at {server} rejected the credentials (401 Unauthorized: {message})\n  help: the token or client certificate of the kubeconfig user is missing, wrong or expired: log in again or choose another `--context`"
            ),
            Error::Forbidden { op, message } => {
                write!(f, "permission denied: the kubeconfig user may not {op} (403 Forbidden: {message})\n  help: ")?;
                if op.verb == "patch" {
                    write!(f, "`--server-side` needs the `patch` verb (for a dry run, nothing is changed); ")?;
                }
                write!(
                    f,
                    "grant it with a role ({} has the minimal ClusterRole); `kubectl auth can-i {} {}{}` checks it",
                    crate::diag::docs::DIFF_PERMISSIONS,
                    op.verb,
                    op.resource,
                    op.namespace.as_ref().map_or(" --all-namespaces".to_string(), |ns| format!(" -n {ns}"))
                )
            }
            Error::GroupMissing { group } => write!(
                f,
                "the cluster does not serve the API group `{group}`: the Istio CRDs are not installed\n  help: install Istio (its `base` chart holds the CRDs), or choose the `--context` of a cluster that runs Istio"
            ),
            Error::VersionNotServed { group, version, served } => write!(
                f,
                "the cluster does not serve `{group}/{version}` (it serves {})\n  help: Istio releases before 1.22 do not serve `v1`: compare with `--api-version v1beta1`, or upgrade Istio's CRDs",
                if served.is_empty() {
                    "no version of it".to_string()
                } else {
                    served.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ")
                }
            ),
            Error::KindMissing { kind, api_version } => write!(
                f,
                "the cluster serves `{api_version}` but has no `{kind}` resource: its Istio CRDs are incomplete or old\n  help: install the CRDs of the Istio release the cluster runs"
            ),
            Error::Timeout { op, after, server } => write!(
                f,
                "timed out after {} waiting for the API server at {server} to {op}\n  help: the cluster may be overloaded or unreachable; try again, or allow more time with `--timeout`",
                humantime(*after)
            ),
            Error::Api { op, code, reason, message } => write!(
                f,
                "the API server refused to {op}: {code} {reason}: {message}{}",
                if *code == 409 {
                    "\n  help: another field manager conflicts with meshgen's fields; `--server-side` applies with force, so retry, or compare without `--server-side`"
                } else if *code == 404 && op.verb == "patch" {
                    "\n  help: a server-side dry run needs the object's namespace to exist; create it or compare without `--server-side`"
                } else {
                    ""
                }
            ),
        }
    }
}

impl std::error::Error for Error {}

fn humantime(d: Duration) -> String {
    if d.subsec_millis() == 0 { format!("{}s", d.as_secs()) } else { format!("{}ms", d.as_millis()) }
}
