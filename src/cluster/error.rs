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
    /// The kubeconfig names no such context (or no current one).
    UnknownContext {
        /// The name asked for (none: no `--context` and no `current-context`).
        name: Option<String>,
        /// The contexts the kubeconfig has.
        known: Vec<String>,
    },
    /// The credential plugin of the kubeconfig user failed.
    Credentials {
        /// Its command.
        command: String,
        /// The kubeconfig's `installHint` (when the command is missing).
        install_hint: Option<String>,
        /// What went wrong, with the plugin's own stderr.
        problem: String,
    },
    /// The server's certificate is not signed by the kubeconfig's certificate authority.
    Untrusted {
        /// The server URL.
        server: String,
        /// The TLS library's reason.
        cause: String,
    },
    /// 429: API Priority and Fairness turned the request away.
    Throttled {
        /// What was asked.
        op: Op,
        /// The server's message.
        message: String,
    },
    /// Any other refusal by the API server (boxed: it is the largest, and the rarest).
    Api(Box<Refusal>),
}

/// A refusal by the API server, as its `Status` says it.
#[derive(Debug)]
pub struct Refusal {
    /// What was refused.
    pub op: Op,
    /// HTTP status code.
    pub code: u16,
    /// The Status reason (`Conflict`, `NotFound`, …).
    pub reason: String,
    /// The server's message.
    pub message: String,
    /// The Status details' `kind` (`namespaces` when a namespace is missing).
    pub details_kind: String,
    /// The Status causes: field and message (a 409's conflicting fields and managers).
    pub causes: Vec<(String, String)>,
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
            Error::UnknownContext { name, known } => {
                match name {
                    Some(name) => write!(f, "the kubeconfig has no context `{name}`")?,
                    None => write!(f, "the kubeconfig sets no current context and `--context` was not given")?,
                }
                if known.is_empty() {
                    write!(f, "; it has no contexts at all\n  help: check KUBECONFIG, or pass `--kubeconfig FILE`")
                } else {
                    let mut known = known.clone();
                    known.sort();
                    let listed = known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ");
                    write!(f, "\n  help: its contexts are {listed}: pass one with `--context NAME`")
                }
            }
            Error::Credentials { command, install_hint, problem } => {
                write!(f, "the kubeconfig user's credential plugin `{command}` {problem}")?;
                match install_hint {
                    Some(hint) => write!(f, "\n  help (from the kubeconfig): {}", hint.trim()),
                    None => write!(
                        f,
                        "\n  help: run `{command}` by hand to see why (log in again if its session expired), or choose another `--context`"
                    ),
                }
            }
            Error::Untrusted { server, cause } => {
                let what = if cause.contains("UnknownIssuer") || cause.contains("BadSignature") {
                    "a certificate not signed by the kubeconfig's certificate-authority"
                } else if cause.contains("NotValidForName") {
                    "a certificate that is not valid for the server's name in the kubeconfig"
                } else if cause.contains("Expired") {
                    "an expired certificate"
                } else {
                    "a certificate the kubeconfig does not trust"
                };
                write!(
                    f,
                    "the API server at {server} presented {what} ({cause})\n  help: the kubeconfig's `certificate-authority-data` is for another cluster, or the server's certificate changed: fetch a fresh kubeconfig for this cluster"
                )
            }
            Error::Throttled { op, message } => write!(
                f,
                "the API server is throttling requests (429 Too Many Requests) and refused to {op}: {message}\n  help: API Priority and Fairness limits this client's flow; try again later, or lower `--concurrency`"
            ),
            Error::Api(r) => write!(
                f,
                "the API server refused to {}: {} {}: {}{}",
                r.op,
                r.code,
                r.reason,
                r.message,
                if r.code == 409 { "\n  help: the object changed while it was read; try again" } else { "" }
            ),
        }
    }
}

impl std::error::Error for Error {}

fn humantime(d: Duration) -> String {
    if d.subsec_millis() == 0 { format!("{}s", d.as_secs()) } else { format!("{}ms", d.as_millis()) }
}
