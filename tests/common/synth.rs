//! Synthetic inventories for benchmarks: a seeded generator of realistic estates of any size,
//! written in the inventory language users write and spread over files the way a real repo is.
//!
//! [`generate`] writes `meshgen.yaml` and `inventory/<domain>/<namespace>/<team>.yaml` under a
//! directory. For `n` services it declares:
//!
//! - `n` mesh services, about 90% on VMs (5 instances each, labelled `version: v1`/`v2`, so
//!   every VM service has two subsets; about a third route with a canary match and a weighted
//!   split, some carry a WorkloadGroup, a VIP or a multi-port spec) and 10% on pods;
//! - `n / 10` external APIs: DNS-resolved HTTPS, TLS origination (simple and mutual), egress
//!   gateway routing (plain and wildcard), static endpoints;
//! - about 5 dependencies per service, towards entities declared *earlier* in a global order:
//!   the graph is a DAG (a layered architecture), so a generated inventory builds without the
//!   `dependency-cycle` warning a random graph would raise thousands of times; every external
//!   API has at least one consumer;
//! - one namespace per ~50 entities and one file per ~20 entities.
//!
//! A generated inventory compiles without any finding, `check`'s included (unique hosts and
//! addresses, a VIP for every opaque TCP service, a CA for every TLS origination); the
//! `synth` integration test keeps it so as rules are added.
//!
//! The output depends only on `(n, seed)`: every entity draws from its own PRNG stream
//! (splitmix64 seeded with the seed and the entity's index), so the same arguments give the
//! same bytes on every machine, and the layout of files never changes what an entity says.
//!
//! Not part of the shipped library: the tests (`common::synth`, or `#[path]` where a test
//! does not use `common`), `benches/pipeline.rs` and `examples/gen_inventory.rs` include
//! this file, which needs nothing but `std`.

#![allow(dead_code, unreachable_pub)] // each includer uses a different subset

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::Path;

/// What [`generate`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Mesh services (VM and pod services).
    pub services: usize,
    /// Services whose workloads are VMs.
    pub vm_services: usize,
    /// Services whose workloads are pods.
    pub pod_services: usize,
    /// VM instances (WorkloadEntries) over all VM services.
    pub vms: usize,
    /// External APIs.
    pub externals: usize,
    /// Namespaces.
    pub namespaces: usize,
    /// Inventory files (the project file not included).
    pub files: usize,
    /// `dependsOn` entries.
    pub dependencies: usize,
    /// Bytes written, the project file included.
    pub bytes: u64,
}

/// A tiny deterministic PRNG (splitmix64): enough statistical quality for picking shapes and
/// names, no dependency, and the same stream on every platform.
/// Public so that tests which shuffle inputs reuse it.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// A stream for one entity: the seed and the index are mixed so that neighbouring indices
    /// do not give correlated streams.
    fn for_entity(seed: u64, index: u64) -> Rng {
        let mut r = Rng(seed ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03));
        r.next_u64();
        r
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`), by multiply-shift: no modulo bias worth the name.
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// Shuffles `v` in place (Fisher–Yates).
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i + 1));
        }
    }

    /// True with probability `percent`/100.
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Business domains: the top-level directories, and the stem of namespace names.
const DOMAINS: &[&str] = &[
    "shop",
    "payments",
    "search",
    "identity",
    "billing",
    "media",
    "logistics",
    "ads",
    "data",
    "platform",
    "risk",
    "support",
    "catalog",
    "messaging",
    "analytics",
    "pricing",
];
/// File stems inside a namespace directory (one file per team).
const TEAMS: &[&str] =
    &["core", "edge", "backend", "storage", "integrations", "workers", "gateway", "ml", "ops", "frontend"];
/// Stems of service names.
const WORDS: &[&str] = &[
    "orders",
    "cart",
    "checkout",
    "inventory",
    "users",
    "sessions",
    "profile",
    "ledger",
    "invoices",
    "shipping",
    "tracking",
    "recommend",
    "ranking",
    "index",
    "images",
    "video",
    "notify",
    "mailer",
    "audit",
    "quota",
    "config",
    "flags",
    "reports",
    "metrics",
    "export",
    "import",
    "sync",
    "scheduler",
    "tokens",
    "keys",
];
/// Stems of external API names.
const VENDORS: &[&str] =
    &["stripe", "adyen", "twilio", "sendgrid", "maps", "geoip", "fx-rates", "tax", "kyc", "sms", "cdn", "crm"];
const REGIONS: &[&str] = &["eu-west1", "eu-west2", "us-east1"];

/// Entities per namespace and per file, on average.
const PER_NAMESPACE: usize = 50;
const PER_FILE: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Vm,
    Pod,
    External,
}

/// Writes a synthetic project of `n_services` mesh services (plus `n_services / 10` external
/// APIs) into `dir`, which must not exist or must be empty. Returns what was written.
///
/// The result builds without errors or warnings; the same `(n_services, seed)` always gives
/// the same files.
pub fn generate(n_services: usize, seed: u64, dir: &Path) -> io::Result<Stats> {
    if dir.exists() && fs::read_dir(dir)?.next().is_some() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("`{}` is not empty; generate into a new directory", dir.display()),
        ));
    }
    let total = n_services + n_services / 10;
    let namespaces = total.div_ceil(PER_NAMESPACE).max(1);
    let entities = plan(n_services, seed, namespaces);
    let mut stats = Stats { namespaces, ..Stats::default() };

    let project = project_file(n_services, seed);
    fs::create_dir_all(dir)?;
    fs::write(dir.join("meshgen.yaml"), &project)?;
    stats.bytes += project.len() as u64;

    // Namespaces are contiguous runs of the global order, so that "in my namespace" is a
    // range of indices: dependencies prefer their own namespace, as real ones do.
    for ns in 0..namespaces {
        let start = ns * total / namespaces;
        let end = (ns + 1) * total / namespaces;
        let domain = DOMAINS[ns % DOMAINS.len()];
        let ns_name = format!("{domain}-{}", ns / DOMAINS.len() + 1);
        let ns_dir = dir.join("inventory").join(domain).join(&ns_name);
        fs::create_dir_all(&ns_dir)?;
        let files = (end - start).div_ceil(PER_FILE).max(1);
        for f in 0..files {
            let lo = start + f * (end - start) / files;
            let hi = start + (f + 1) * (end - start) / files;
            let team = TEAMS[(ns + f) % TEAMS.len()];
            let mut text = format!("# Namespace {ns_name}, the {team} team's part.\nnamespace: {ns_name}\n");
            // A file has one `services:` and one `externals:` mapping; its entities come
            // mixed in the global order, so they are written in two passes.
            for (key, externals) in [("services", false), ("externals", true)] {
                let members: Vec<usize> =
                    (lo..hi).filter(|&i| (entities[i].kind == Kind::External) == externals).collect();
                if members.is_empty() {
                    continue;
                }
                let _ = writeln!(text, "{key}:");
                for i in members {
                    let e = &entities[i];
                    let mut rng = Rng::for_entity(seed, i as u64);
                    let at = Entity { index: i, name: &e.name, namespace: &ns_name };
                    match e.kind {
                        Kind::Vm => {
                            stats.vm_services += 1;
                            stats.vms += VMS_PER_SERVICE;
                            vm_service(&mut text, &at, &mut rng);
                        }
                        Kind::Pod => {
                            stats.pod_services += 1;
                            pod_service(&mut text, &at, &mut rng);
                        }
                        Kind::External => {
                            stats.externals += 1;
                            external(&mut text, &at, &mut rng);
                            continue;
                        }
                    }
                    stats.dependencies += e.deps.len();
                    if !e.deps.is_empty() {
                        let names: Vec<&str> = e.deps.iter().map(|&d| entities[d].name.as_str()).collect();
                        let _ = writeln!(text, "    dependsOn: [{}]", names.join(", "));
                    }
                    if rng.chance(20) {
                        text.push_str("    exportTo: consumers\n");
                    }
                }
            }
            fs::write(ns_dir.join(format!("{team}-{}.yaml", f + 1)), &text)?;
            stats.files += 1;
            stats.bytes += text.len() as u64;
        }
    }
    stats.services = stats.vm_services + stats.pod_services;
    Ok(stats)
}

/// VMs per VM service.
const VMS_PER_SERVICE: usize = 5;

/// An entity of the plan: its kind, unique name and dependencies (indices).
struct Planned {
    kind: Kind,
    name: String,
    deps: Vec<usize>,
}

/// What a writer needs to know about the entity it writes.
struct Entity<'a> {
    /// Position in the global order (unique: addresses are derived from it).
    index: usize,
    name: &'a str,
    namespace: &'a str,
}

/// The global order of entities: `n` services (90% VMs) and `n / 10` externals, shuffled so
/// that every namespace gets a mix, with their dependencies. Names carry the position, which
/// makes them unique.
fn plan(n: usize, seed: u64, namespaces: usize) -> Vec<Planned> {
    let mut rng = Rng::for_entity(seed, u64::MAX);
    let mut kinds: Vec<Kind> = (0..n).map(|_| if rng.chance(90) { Kind::Vm } else { Kind::Pod }).collect();
    kinds.extend(std::iter::repeat_n(Kind::External, n / 10));
    // Fisher–Yates.
    for i in (1..kinds.len()).rev() {
        let j = rng.below(i + 1);
        kinds.swap(i, j);
    }
    let mut planned: Vec<Planned> = kinds
        .into_iter()
        .enumerate()
        .map(|(i, kind)| {
            let stem = if kind == Kind::External { rng.pick(VENDORS) } else { rng.pick(WORDS) };
            Planned { kind, name: format!("{stem}-{i}"), deps: Vec::new() }
        })
        .collect();
    // Dependencies draw from streams of their own, so that they do not shift what the
    // writers draw for the rest of an entity.
    let total = planned.len();
    let mut used = vec![false; total];
    for ns in 0..namespaces {
        let (start, end) = (ns * total / namespaces, (ns + 1) * total / namespaces);
        for (i, p) in planned.iter_mut().enumerate().take(end).skip(start) {
            if p.kind != Kind::External {
                p.deps = dependencies(&mut Rng::for_entity(seed ^ DEPENDENCY_STREAM, i as u64), i, start);
                p.deps.iter().for_each(|&d| used[d] = true);
            }
        }
    }
    // An external API nobody calls is dead configuration (and a `check` warning): give each
    // unused one a consumer. Externals have no dependencies, so any consumer keeps the graph
    // acyclic.
    let services: Vec<usize> = (0..total).filter(|&i| planned[i].kind != Kind::External).collect();
    if !services.is_empty() {
        for i in 0..total {
            if planned[i].kind == Kind::External && !used[i] {
                let mut r = Rng::for_entity(seed ^ DEPENDENCY_STREAM, i as u64);
                let consumer = services[r.below(services.len())];
                planned[consumer].deps.push(i);
            }
        }
    }
    planned
}

/// Salt of the dependency streams (any constant that differs from the writers' zero).
const DEPENDENCY_STREAM: u64 = 0xDE9E_ADE5;

/// About five dependencies (3–7) of the entity at `index`, on entities before it: 60% in its
/// own namespace (which starts at `ns_start`), the rest anywhere. No duplicates, no self.
fn dependencies(rng: &mut Rng, index: usize, ns_start: usize) -> Vec<usize> {
    let want = (3 + rng.below(5)).min(index);
    let mut deps: Vec<usize> = Vec::with_capacity(want);
    // Bounded retries: early entities have few candidates and may end with fewer deps.
    for _ in 0..want * 4 {
        if deps.len() == want {
            break;
        }
        let d =
            if index > ns_start && rng.chance(60) { ns_start + rng.below(index - ns_start) } else { rng.below(index) };
        if !deps.contains(&d) {
            deps.push(d);
        }
    }
    deps
}

/// An IPv4 address from a counter: `base` is the first octets' value (e.g. `10 << 24`), the
/// host part avoids `.0` and `.255`. 10.0.0.0/8 so numbered holds 16.5 million addresses.
fn ipv4(base: u32, k: usize) -> String {
    let k = k as u32;
    let host = k % 254 + 1;
    let net = base + ((k / 254) << 8);
    format!("{}.{}.{}.{host}", net >> 24, (net >> 16) & 255, (net >> 8) & 255)
}

/// The virtual IP of the entity at `index`, in 172.16.0.0/12: opaque TCP services on one
/// port need one each, since Istio tells them apart by destination address only.
fn vip(index: usize) -> String {
    ipv4(172 << 24 | 16 << 16, index)
}

fn vm_service(t: &mut String, e: &Entity<'_>, rng: &mut Rng) {
    let name = e.name;
    let _ = writeln!(t, "  {name}:");
    if rng.chance(40) {
        let _ = writeln!(t, "    host: {name}.{}.internal", e.namespace);
    }
    // Mostly HTTP, some gRPC or both, and databases on TCP behind their own VIP.
    let shape = rng.below(100);
    let tcp = shape >= 90;
    let (ports, probe) = match shape {
        0..65 => ("{http: 8080}".to_string(), "httpGet: {path: /healthz, port: 8080}".to_string()),
        65..80 => ("{http: 8080, grpc: 9090}".to_string(), "httpGet: {path: /healthz, port: 8080}".to_string()),
        80..90 => ("{grpc: 9090}".to_string(), "tcpSocket: {port: 9090}".to_string()),
        _ => {
            let (port, number) =
                [("tcp-postgres", 5432), ("mongo", 27017), ("redis", 6379), ("mysql", 3306)][rng.below(4)];
            (format!("{{{port}: {number}}}"), format!("tcpSocket: {{port: {number}}}"))
        }
    };
    let _ = writeln!(t, "    ports: {ports}");
    if tcp {
        let _ = writeln!(t, "    addresses: [{}]", vip(e.index));
    }
    // A few legacy VMs run without a sidecar (and so without an identity).
    let sidecar = !rng.chance(5);
    if !sidecar {
        t.push_str("    sidecar: false\n");
    } else {
        let _ = writeln!(t, "    serviceAccount: {name}");
    }
    let region = rng.below(REGIONS.len());
    t.push_str("    vms:\n");
    for j in 0..VMS_PER_SERVICE {
        let version = if j < 3 { "v1" } else { "v2" };
        let zone = ["a", "b", "c"][j % 3];
        let _ = writeln!(
            t,
            "      - {{address: {}, labels: {{version: {version}}}, locality: {r}/{r}-{zone}}}",
            ipv4(10 << 24, e.index * VMS_PER_SERVICE + j),
            r = REGIONS[region],
        );
    }
    // A WorkloadGroup registers VMs through their sidecar: only where there is one. The
    // draw happens either way, so the rest of the entity does not depend on the sidecar.
    if rng.chance(10) && sidecar {
        let _ = writeln!(t, "    workloadGroup:\n      probe: {{periodSeconds: 5, {probe}}}");
    }
    if tcp {
        if rng.chance(30) {
            t.push_str("    routes: [{split: {v1: 80, v2: 20}}]\n");
        }
    } else if rng.chance(35) {
        t.push_str(concat!(
            "    routes:\n",
            "      - name: canary\n",
            "        match: [{headers: {x-canary: {exact: \"true\"}}}]\n",
            "        subset: v2\n",
            "      - name: default\n",
        ));
        let canary = (rng.below(5) + 1) * 10;
        let _ = writeln!(t, "        split: {{v1: {}, v2: {canary}}}", 100 - canary);
        if rng.chance(30) {
            t.push_str("        timeout: 5s\n        retries: {attempts: 2, perTryTimeout: 2s}\n");
        }
    }
    traffic(t, rng, tcp, region);
}

fn pod_service(t: &mut String, e: &Entity<'_>, rng: &mut Rng) {
    let name = e.name;
    let ports = if rng.chance(80) { "{http: 8080}" } else { "{grpc: 9090}" };
    let _ = writeln!(t, "  {name}:\n    ports: {ports}\n    serviceAccount: {name}\n    pods: {{app: {name}}}");
    if rng.chance(30) {
        // A canary Deployment labels its pods `version: v2`.
        t.push_str("    subsets: {v1: {version: v1}, v2: {version: v2}}\n");
        t.push_str("    routes: [{name: default, split: {v1: 95, v2: 5}}]\n");
    }
    let region = rng.below(REGIONS.len());
    traffic(t, rng, false, region);
}

/// An entity's own traffic policy, for 40% of them (the rest inherit the project defaults).
fn traffic(t: &mut String, rng: &mut Rng, tcp: bool, region: usize) {
    if !rng.chance(40) {
        return;
    }
    let line = match (tcp, rng.below(4)) {
        (true, 0 | 1) => "{connectionPool: {tcp: {maxConnections: 500, connectTimeout: 2s}}}".to_string(),
        (true, _) => "{loadBalancer: LEAST_REQUEST}".to_string(),
        (false, 0) => "{timeout: 3s}".to_string(),
        (false, 1) => "{connectionPool: {http: {http1MaxPendingRequests: 100, maxRequestsPerConnection: 10}}}".into(),
        (false, 2) => "{loadBalancer: LEAST_REQUEST}".to_string(),
        // Locality failover to the next region (outlier detection comes from the defaults).
        (false, _) => format!(
            "{{loadBalancer: {{simple: LEAST_REQUEST, localityLbSetting: {{enabled: true, failover: [{{from: {}, to: {}}}]}}}}}}",
            REGIONS[region],
            REGIONS[(region + 1) % REGIONS.len()]
        ),
    };
    let _ = writeln!(t, "    traffic: {line}");
}

fn external(t: &mut String, e: &Entity<'_>, rng: &mut Rng) {
    let name = e.name;
    let _ = writeln!(t, "  {name}:");
    match rng.below(100) {
        // An HTTPS API, resolved by the proxy.
        0..30 => {
            let _ = writeln!(t, "    hosts: [api.{name}.example]\n    ports: {{https: 443}}");
        }
        // Plain HTTP from the app, TLS originated by the sidecar.
        30..50 => {
            let _ = writeln!(t, "    hosts: [api.{name}.example]\n    ports: {{http: 80}}");
            t.push_str("    tls: {caCertificates: /etc/ssl/certs/ca-certificates.crt}\n");
            t.push_str("    traffic: {timeout: 15s, retries: {attempts: 1}}\n");
        }
        50..60 => {
            let _ = writeln!(
                t,
                "    hosts: [ledger.{name}.example]\n    ports: {{http: 80}}\n    tls:\n      mode: MUTUAL\n      clientCertificate: /etc/certs/{name}/cert.pem\n      privateKey: /etc/certs/{name}/key.pem\n      caCertificates: /etc/certs/{name}/ca.pem\n    subjectAltNames: [ledger.{name}.example]"
            );
        }
        // Through the egress gateway: one host, or a wildcard forwarded to one server.
        60..72 => {
            let _ = writeln!(t, "    hosts: [www.{name}.example]\n    ports: {{http: 80}}\n    egress: gateway");
        }
        72..80 => {
            let _ = writeln!(
                t,
                "    hosts: [\"*.{name}.example\"]\n    ports: {{tls: 443}}\n    egress: {{destination: edge.{name}.example}}"
            );
        }
        // A legacy directory reached by static IPs (100.64.0.0/10, two per API).
        80..90 => {
            let _ = writeln!(
                t,
                "    hosts: [{name}.corp.internal]\n    addresses: [{}]\n    ports: {{tcp-ldap: 389}}\n    resolution: STATIC\n    location: MESH_INTERNAL\n    endpoints:\n      - {{address: {}}}\n      - {{address: {}}}",
                vip(e.index),
                ipv4(100 << 24 | 64 << 16, e.index * 2),
                ipv4(100 << 24 | 64 << 16, e.index * 2 + 1),
            );
        }
        // A partner API with named endpoints in two zones.
        _ => {
            let _ = writeln!(
                t,
                "    hosts: [{name}.partner.example]\n    ports: {{https: 443}}\n    resolution: DNS\n    endpoints:\n      - {{address: a.{name}.partner.example, locality: eu-west1/eu-west1-a}}\n      - {{address: b.{name}.partner.example, locality: eu-west1/eu-west1-b, ports: {{https: 8443}}}}"
            );
        }
    }
    if rng.chance(20) {
        t.push_str("    exportTo: consumers\n");
    }
}

fn project_file(n: usize, seed: u64) -> String {
    format!(
        "# A synthetic estate of {n} services (seed {seed}), written by meshgen's tests/common/synth.rs for benchmarks.\n\
         inventory: [inventory]\n\
         output: out\n\
         istio:\n  apiVersion: networking.istio.io/v1\n  trustDomain: cluster.local\n\
         defaults:\n  namespace: default\n  traffic:\n    timeout: 10s\n    \
         retries: {{attempts: 3, perTryTimeout: 2s, retryOn: \"5xx,connect-failure,reset\"}}\n    \
         outlierDetection: {{consecutive5xxErrors: 5, interval: 30s, baseEjectionTime: 60s}}\n"
    )
}
