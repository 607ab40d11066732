//! A fake Kubernetes API server for the `meshgen diff --cluster` tests: HTTPS on 127.0.0.1
//! with a CA and server certificate made at start, bearer-token auth, discovery (`/api`,
//! `/apis`, both legacy and aggregated, and `/apis/<group>/<version>`), list with
//! `labelSelector` and `limit`/`continue`, get, server-side apply dry runs, and `Status`
//! errors (401, 403, 404, 405, 409) as the real server words them. It serves the Istio kinds
//! meshgen emits (networking and security groups) in the versions it is told to, converts stored objects to the version
//! asked for (Istio's CRD versions share one schema), and records every request so tests can
//! assert that nothing was written.
//!
//! `kubectl` itself is run against it (tests/diff_cluster.rs) to keep it faithful.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

/// The Istio kinds: group, kind, plural, singular, short names.
pub const RESOURCES: &[(&str, &str, &str, &str, &[&str])] = &[
    (GROUP, "DestinationRule", "destinationrules", "destinationrule", &["dr"]),
    (GROUP, "Gateway", "gateways", "gateway", &["gw"]),
    (GROUP, "ServiceEntry", "serviceentries", "serviceentry", &["se"]),
    (GROUP, "Sidecar", "sidecars", "sidecar", &[]),
    (GROUP, "VirtualService", "virtualservices", "virtualservice", &["vs"]),
    (GROUP, "WorkloadEntry", "workloadentries", "workloadentry", &["we"]),
    (GROUP, "WorkloadGroup", "workloadgroups", "workloadgroup", &["wg"]),
    (SECURITY, "AuthorizationPolicy", "authorizationpolicies", "authorizationpolicy", &["ap"]),
];
/// Istio's networking group.
pub const GROUP: &str = "networking.istio.io";
/// Istio's security group (AuthorizationPolicy).
pub const SECURITY: &str = "security.istio.io";
/// The groups served, both in the versions of [`State::versions`].
pub const GROUPS: [&str; 2] = [GROUP, SECURITY];
const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// `GET`, `PATCH`, …
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query parameters.
    pub query: BTreeMap<String, String>,
    /// The `Content-Type` header.
    pub content_type: String,
    /// The `Accept` header.
    pub accept: String,
    /// The `Authorization` header.
    pub authorization: String,
    /// The `User-Agent` header.
    pub user_agent: String,
}

impl Recorded {
    /// Whether the request could change anything (a dry run cannot).
    pub fn writes(&self) -> bool {
        self.method != "GET" && !(self.method == "PATCH" && self.query.get("dryRun").is_some_and(|v| v == "All"))
    }
}

/// What the server holds and how it behaves; tests change it between runs.
#[derive(Debug)]
pub struct State {
    /// Stored objects (each with its own `apiVersion`).
    pub objects: Vec<Value>,
    /// Every request, in order.
    pub requests: Vec<Recorded>,
    /// The versions of Istio's groups served (none: the CRDs are not installed).
    pub versions: Vec<&'static str>,
    /// The largest page a list returns, whatever `limit` asks (the API allows fewer).
    pub max_page: usize,
    /// `(verb, plural)` pairs the token may not do (403).
    pub forbidden: Vec<(String, String)>,
    /// A delay before every answer (for timeouts).
    pub delay: Option<Duration>,
    /// Answer apply patches that do not force with 409 Conflict.
    pub conflict: bool,
    /// Answer lists with 429 Too Many Requests (API Priority and Fairness).
    pub throttle: bool,
}

/// A running fake API server; stops accepting when dropped.
pub struct ApiServer {
    /// `https://127.0.0.1:PORT`.
    pub url: String,
    /// The CA certificate, PEM.
    pub ca_pem: String,
    /// The bearer token it accepts.
    pub token: String,
    /// Objects, behaviour and recorded requests.
    pub state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    port: u16,
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

impl ApiServer {
    /// Starts a server holding `objects`, serving `v1` and `v1beta1`.
    pub fn start(objects: Vec<Value>) -> ApiServer {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(rcgen::DnType::CommonName, "meshgen test CA");
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        let cert = params.signed_by(&key, &ca).unwrap();

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap();
        // HTTP/1.1 only: clients that offer h2 (kubectl) fall back to it.
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let tls = Arc::new(tls);

        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State {
            objects,
            requests: Vec::new(),
            versions: vec!["v1", "v1beta1"],
            max_page: 500,
            forbidden: Vec::new(),
            delay: None,
            conflict: false,
            throttle: false,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let token = format!("token-{port}");
        {
            let (state, stop, token) = (state.clone(), stop.clone(), token.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    // The head and the body go out as two writes: without this, Nagle's
                    // algorithm holds the body until the client's delayed ACK (40 ms a request).
                    let _ = conn.set_nodelay(true);
                    let (tls, state, token) = (tls.clone(), state.clone(), token.clone());
                    std::thread::spawn(move || serve_connection(conn, tls, &state, &token));
                }
            });
        }
        ApiServer { url: format!("https://127.0.0.1:{port}"), ca_pem: ca.pem(), token, state, stop, port }
    }

    /// A kubeconfig for this server (CA data and token inline), context `fake`.
    pub fn kubeconfig(&self, token: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\n    certificate-authority-data: {}\nusers:\n- name: meshgen\n  user:\n    token: {token}\ncontexts:\n- name: fake\n  context: {{cluster: fake, user: meshgen}}\ncurrent-context: fake\n",
            self.url,
            base64(self.ca_pem.as_bytes())
        )
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Forgets the requests so far.
    pub fn clear_requests(&self) {
        self.state.lock().unwrap().requests.clear();
    }
}

fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// What a live object looks like once the API server (and istiod, and `kubectl apply`)
/// had it: uid, resourceVersion, generation, creationTimestamp, managedFields, the
/// last-applied annotation and a status (ServiceEntries get istiod's `status.addresses`).
pub fn live(mut doc: Value, n: usize) -> Value {
    let applied = doc.to_string();
    let kind = doc["kind"].as_str().unwrap_or_default().to_string();
    let md = doc["metadata"].as_object_mut().expect("objects have metadata");
    md.insert("uid".into(), json!(format!("6f1c3a2e-0000-4000-8000-{n:012}")));
    md.insert("resourceVersion".into(), json!(format!("{}", 1000 + n)));
    md.insert("generation".into(), json!(2));
    md.insert("creationTimestamp".into(), json!("2025-03-01T10:00:00Z"));
    md.insert(
        "managedFields".into(),
        json!([{
            "apiVersion": doc_api(&applied),
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:metadata": {"f:annotations": {".": {}}}, "f:spec": {".": {}}},
            "manager": "kubectl-client-side-apply",
            "operation": "Update",
            "time": "2025-03-01T10:00:00Z"
        }]),
    );
    md.entry("annotations")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .unwrap()
        .insert("kubectl.kubernetes.io/last-applied-configuration".into(), json!(applied + "\n"));
    doc["status"] = if kind == "ServiceEntry" {
        json!({"addresses": [{"value": format!("240.240.0.{}", n % 250 + 1)}, {"value": "2001:2::1"}], "observedGeneration": 2})
    } else {
        json!({"observedGeneration": 2})
    };
    doc
}

fn doc_api(applied: &str) -> String {
    serde_json::from_str::<Value>(applied)
        .ok()
        .and_then(|v| v["apiVersion"].as_str().map(str::to_string))
        .unwrap_or_default()
}

fn status(code: u16, reason: &str, message: &str, details: Value) -> (u16, String, String) {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "details": details, "code": code,
    });
    (code, "application/json".into(), body.to_string())
}

fn serve_connection(conn: TcpStream, tls: Arc<rustls::ServerConfig>, state: &Mutex<State>, token: &str) {
    let Ok(server) = rustls::ServerConnection::new(tls) else { return };
    let stream = rustls::StreamOwned::new(server, conn);
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (Some(method), Some(target)) = (parts.next(), parts.next()) else { return };
        let (method, target) = (method.to_string(), target.to_string());
        let mut headers: BTreeMap<String, String> = BTreeMap::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let body = read_body(&mut reader, &headers);
        let (path, query) = split_target(&target);
        let recorded = Recorded {
            method: method.clone(),
            path: path.clone(),
            query,
            content_type: headers.get("content-type").cloned().unwrap_or_default(),
            accept: headers.get("accept").cloned().unwrap_or_default(),
            authorization: headers.get("authorization").cloned().unwrap_or_default(),
            user_agent: headers.get("user-agent").cloned().unwrap_or_default(),
        };
        let delay = {
            let mut s = state.lock().unwrap();
            s.requests.push(recorded.clone());
            s.delay
        };
        if let Some(d) = delay {
            std::thread::sleep(d);
        }
        let (code, content_type, text) = if recorded.authorization != format!("Bearer {token}") {
            status(401, "Unauthorized", "Unauthorized", json!({}))
        } else {
            handle(&recorded, &body, &mut state.lock().unwrap())
        };
        let reason = match code {
            200 => "OK",
            201 => "Created",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            409 => "Conflict",
            429 => "Too Many Requests",
            _ => "Error",
        };
        let head = format!(
            "HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-cache, private\r\n\r\n",
            text.len()
        );
        let stream = reader.get_mut();
        if stream
            .write_all(head.as_bytes())
            .and_then(|_| stream.write_all(text.as_bytes()))
            .and_then(|_| stream.flush())
            .is_err()
        {
            return;
        }
    }
}

fn read_body(reader: &mut impl std::io::BufRead, headers: &BTreeMap<String, String>) -> Vec<u8> {
    let mut body = Vec::new();
    if let Some(n) = headers.get("content-length").and_then(|n| n.parse::<usize>().ok()) {
        body.resize(n, 0);
        let _ = reader.read_exact(&mut body);
    } else if headers.get("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        loop {
            let mut size = String::new();
            if reader.read_line(&mut size).unwrap_or(0) == 0 {
                break;
            }
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            let mut chunk = vec![0; n + 2];
            let _ = reader.read_exact(&mut chunk);
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    }
    body
}

fn split_target(target: &str) -> (String, BTreeMap<String, String>) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let query = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect();
    (path.to_string(), query)
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn resource_by_plural(group: &str, plural: &str) -> Option<(&'static str, &'static str)> {
    RESOURCES.iter().find(|r| r.0 == group && r.2 == plural).map(|r| (r.1, r.2))
}

fn handle(req: &Recorded, body: &[u8], s: &mut State) -> (u16, String, String) {
    let json = |v: Value| (200, "application/json".to_string(), v.to_string());
    let aggregated = req.accept.contains("as=APIGroupDiscoveryList");
    let segs: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    match (req.method.as_str(), segs.as_slice()) {
        ("GET", ["version"]) => {
            json(json!({"major": "1", "minor": "32", "gitVersion": "v1.32.0", "platform": "linux/amd64"}))
        }
        ("GET", ["api"]) if aggregated => (200, AGGREGATED.into(), aggregated_core().to_string()),
        ("GET", ["api"]) => json(
            json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]}),
        ),
        ("GET", ["api", "v1"]) => json(json!({"kind": "APIResourceList", "groupVersion": "v1", "resources": [
            {"name": "namespaces", "singularName": "namespace", "namespaced": false, "kind": "Namespace", "verbs": ["get", "list"], "shortNames": ["ns"]}
        ]})),
        ("GET", ["api", "v1", "namespaces", ns]) => {
            if s.objects.iter().any(|o| o["metadata"]["namespace"] == *ns) {
                json(
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "uid": format!("ns-{ns}")}, "status": {"phase": "Active"}}),
                )
            } else {
                status(
                    404,
                    "NotFound",
                    &format!("namespaces \"{ns}\" not found"),
                    json!({"name": ns, "kind": "namespaces"}),
                )
            }
        }
        ("GET", ["apis"]) if aggregated => (200, AGGREGATED.into(), aggregated_groups(&s.versions).to_string()),
        ("GET", ["apis"]) => json(group_list(&s.versions)),
        ("GET", ["apis", g, v]) if GROUPS.contains(g) && s.versions.contains(v) => json(resource_list(g, v)),
        (_, ["apis", g, v, rest @ ..]) if GROUPS.contains(g) && s.versions.contains(v) => {
            objects(req, body, s, g, v, rest)
        }
        ("GET", _) => status(404, "NotFound", "the server could not find the requested resource", json!({})),
        _ => status(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
            json!({}),
        ),
    }
}

fn group_list(versions: &[&str]) -> Value {
    let mut groups = Vec::new();
    for group in GROUPS.iter().filter(|_| !versions.is_empty()) {
        let vs: Vec<Value> =
            versions.iter().map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v})).collect();
        groups.push(json!({"name": group, "versions": vs, "preferredVersion": vs[0]}));
    }
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// The CRD category of a group (`networking-istio-io`).
fn category(group: &str) -> String {
    group.replace('.', "-")
}

fn resource_list(group: &str, version: &str) -> Value {
    let resources: Vec<Value> = RESOURCES
        .iter()
        .filter(|r| r.0 == group)
        .flat_map(|(_, kind, plural, singular, short)| {
            [
                json!({"name": plural, "singularName": singular, "namespaced": true, "kind": kind,
                       "verbs": ["delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"],
                       "shortNames": short, "categories": ["istio-io", category(group)]}),
                json!({"name": format!("{plural}/status"), "singularName": "", "namespaced": true, "kind": kind, "verbs": ["get", "patch", "update"]}),
            ]
        })
        .collect();
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": format!("{group}/{version}"), "resources": resources})
}

fn aggregated_core() -> Value {
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": [{
        "metadata": {"creationTimestamp": null},
        "versions": [{"version": "v1", "freshness": "Current", "resources": [{
            "resource": "namespaces", "responseKind": {"group": "", "version": "v1", "kind": "Namespace"},
            "scope": "Cluster", "singularResource": "namespace", "verbs": ["get", "list"], "shortNames": ["ns"]
        }]}]
    }]})
}

fn aggregated_groups(versions: &[&str]) -> Value {
    let mut items = Vec::new();
    for group in GROUPS.iter().filter(|_| !versions.is_empty()) {
        let vs: Vec<Value> = versions
            .iter()
            .map(|v| {
                let resources: Vec<Value> = RESOURCES
                    .iter()
                    .filter(|r| r.0 == *group)
                    .map(|(_, kind, plural, singular, short)| {
                        json!({
                            "resource": plural, "responseKind": {"group": group, "version": v, "kind": kind},
                            "scope": "Namespaced", "singularResource": singular, "shortNames": short,
                            "verbs": ["delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"],
                            "categories": ["istio-io", category(group)],
                            "subresources": [{"subresource": "status", "responseKind": {"group": group, "version": v, "kind": kind}, "verbs": ["get", "patch", "update"]}]
                        })
                    })
                    .collect();
                json!({"version": v, "resources": resources, "freshness": "Current"})
            })
            .collect();
        items.push(json!({"metadata": {"name": group, "creationTimestamp": null}, "versions": vs}));
    }
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items})
}

/// Whether `labels` satisfy a selector of `k=v`, `k==v`, `k!=v`, `k` and `!k` terms.
fn selects(selector: &str, labels: &Value) -> bool {
    selector.split(',').filter(|t| !t.is_empty()).all(|term| {
        if let Some(k) = term.trim().strip_prefix('!') {
            labels.get(k.trim()).is_none()
        } else if let Some((k, v)) = term.split_once("!=") {
            labels[k.trim()].as_str() != Some(v.trim())
        } else if let Some((k, v)) = term.split_once('=') {
            labels[k.trim()].as_str() == Some(v.trim_start_matches('=').trim())
        } else {
            labels.get(term.trim()).is_some()
        }
    })
}

fn objects(
    req: &Recorded,
    body: &[u8],
    s: &mut State,
    group: &str,
    version: &str,
    rest: &[&str],
) -> (u16, String, String) {
    let (namespace, plural, name) = match rest {
        [plural] => (None, *plural, None),
        ["namespaces", ns, plural] => (Some(*ns), *plural, None),
        ["namespaces", ns, plural, name] => (Some(*ns), *plural, Some(*name)),
        _ => return status(404, "NotFound", "the server could not find the requested resource", json!({})),
    };
    let Some((kind, plural)) = resource_by_plural(group, plural) else {
        return status(404, "NotFound", "the server could not find the requested resource", json!({}));
    };
    let verb = match (req.method.as_str(), name) {
        ("GET", None) => "list",
        ("GET", Some(_)) => "get",
        ("PATCH", _) => "patch",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("DELETE", _) => "delete",
        _ => "unknown",
    };
    if s.forbidden.iter().any(|(v, p)| v == verb && p == plural) {
        let scope = namespace.map_or("at the cluster scope".to_string(), |ns| format!("in the namespace \"{ns}\""));
        let what = name.map_or(String::new(), |n| format!(" \"{n}\""));
        return status(
            403,
            "Forbidden",
            &format!(
                "{plural}.{group}{what} is forbidden: User \"system:serviceaccount:ci:meshgen\" cannot {verb} resource \"{plural}\" in API group \"{group}\" {scope}"
            ),
            json!({"group": group, "kind": plural}),
        );
    }
    let in_version = |o: &Value| {
        let mut o = o.clone();
        o["apiVersion"] = json!(format!("{group}/{version}"));
        o
    };
    let matches = |o: &Value| o["kind"] == kind && namespace.is_none_or(|ns| o["metadata"]["namespace"] == ns);
    match verb {
        "list" if s.throttle => status(
            429,
            "TooManyRequests",
            "The API server is shedding load: too many requests, please try again later.",
            json!({"retryAfterSeconds": 1}),
        ),
        "list" => {
            let selector = req.query.get("labelSelector").cloned().unwrap_or_default();
            // Sorted by reference (once, if the objects already are) and only the page
            // copied: `scripts/bench.sh --cluster` lists tens of thousands of objects, 500 a
            // page, from this server.
            fn key<'a>(o: &&'a Value) -> (&'a str, &'a str) {
                (o["metadata"]["namespace"].as_str().unwrap_or(""), o["metadata"]["name"].as_str().unwrap_or(""))
            }
            let mut items: Vec<&Value> =
                s.objects.iter().filter(|o| matches(o) && selects(&selector, &o["metadata"]["labels"])).collect();
            if !items.is_sorted_by_key(key) {
                items.sort_by_key(key);
            }
            let start: usize = req
                .query
                .get("continue")
                .and_then(|c| c.strip_prefix("page-"))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let limit = req
                .query
                .get("limit")
                .and_then(|l| l.parse::<usize>().ok())
                .filter(|l| *l > 0)
                .unwrap_or(usize::MAX)
                .min(s.max_page);
            let end = (start + limit).min(items.len());
            let page: Vec<Value> = items[start.min(end)..end].iter().map(|&o| in_version(o)).collect();
            let mut metadata = json!({"resourceVersion": "9000"});
            if end < items.len() {
                metadata["continue"] = json!(format!("page-{end}"));
                metadata["remainingItemCount"] = json!(items.len() - end);
            }
            let list = json!({"apiVersion": format!("{group}/{version}"), "kind": format!("{kind}List"), "metadata": metadata, "items": page});
            (200, "application/json".into(), list.to_string())
        }
        "get" => {
            let name = name.unwrap_or_default();
            match s.objects.iter().find(|o| matches(o) && o["metadata"]["name"] == name) {
                Some(o) => (200, "application/json".into(), in_version(o).to_string()),
                None => not_found(group, plural, name),
            }
        }
        "patch" => {
            let name = name.unwrap_or_default();
            if req.content_type != "application/apply-patch+yaml" || req.query.get("dryRun").is_none_or(|d| d != "All")
            {
                return status(
                    405,
                    "MethodNotAllowed",
                    "this fake server accepts only dry-run server-side applies",
                    json!({}),
                );
            }
            let manager = req.query.get("fieldManager").cloned().unwrap_or_default();
            let forced = req.query.get("force").is_some_and(|f| f == "true");
            if s.conflict && !forced {
                return status(
                    409,
                    "Conflict",
                    &format!(
                        "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using {group}/v1: .spec.hosts"
                    ),
                    json!({"name": name, "group": group, "kind": plural, "causes": [{"reason": "FieldManagerConflict", "message": format!("conflict with \"kubectl-edit\" using {group}/v1"), "field": ".spec.hosts"}]}),
                );
            }
            let Ok(applied) = serde_json::from_slice::<Value>(body) else {
                return status(400, "BadRequest", "the body of the request was in an unknown format", json!({}));
            };
            let ns = namespace.unwrap_or_default();
            if !s.objects.iter().any(|o| o["metadata"]["namespace"] == ns) {
                return status(
                    404,
                    "NotFound",
                    &format!("namespaces \"{ns}\" not found"),
                    json!({"name": ns, "kind": "namespaces"}),
                );
            }
            // What an apply would store: the live object (or a new one) with the applied
            // labels and annotations; its spec replaced when this manager applied it before
            // (it owns the fields, and drops those it no longer applies), else merged over
            // the live one (fields it never applied stay); nothing is kept.
            let live_one = s.objects.iter().find(|o| matches(o) && o["metadata"]["name"] == name);
            let owns = live_one.is_some_and(|o| {
                o["metadata"]["managedFields"]
                    .as_array()
                    .is_some_and(|m| m.iter().any(|e| e["manager"] == manager && e["operation"] == "Apply"))
            });
            let mut result = match live_one {
                Some(o) => in_version(o),
                None => live(
                    json!({"apiVersion": format!("{group}/{version}"), "kind": kind, "metadata": {"name": name, "namespace": namespace}}),
                    999,
                ),
            };
            for field in ["labels", "annotations"] {
                if let Some(map) = applied["metadata"][field].as_object() {
                    let target = result["metadata"].as_object_mut().unwrap().entry(field).or_insert_with(|| json!({}));
                    for (k, v) in map {
                        target[k] = v.clone();
                    }
                }
            }
            if owns || live_one.is_none() {
                result["spec"] = applied["spec"].clone();
            } else {
                merge_into(&mut result["spec"], &applied["spec"]);
            }
            (200, "application/json".into(), result.to_string())
        }
        _ => status(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
            json!({}),
        ),
    }
}

/// Merges `applied` over `target`: maps key by key, anything else replaced.
fn merge_into(target: &mut Value, applied: &Value) {
    match (target.as_object_mut(), applied.as_object()) {
        (Some(t), Some(a)) => {
            for (k, v) in a {
                merge_into(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        _ => *target = applied.clone(),
    }
}

fn not_found(group: &str, plural: &str, name: &str) -> (u16, String, String) {
    status(
        404,
        "NotFound",
        &format!("{plural}.{group} \"{name}\" not found"),
        json!({"name": name, "group": group, "kind": plural}),
    )
}
