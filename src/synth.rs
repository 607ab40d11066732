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
//!   `dependency-cycle` warning a random graph would raise thousands of times;
//! - one namespace per ~50 entities and one file per ~20 entities.
//!
//! The output depends only on `(n, seed)`: every entity draws from its own PRNG stream
//! (splitmix64 seeded with the seed and the entity's index), so the same arguments give the
//! same bytes on every machine, and the layout of files never changes what an entity says.

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
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    /// A stream for one entity: the seed and the index are mixed so that neighbouring indices
    /// do not give correlated streams.
    fn for_entity(seed: u64, index: u64) -> Rng {
        let mut r = Rng(seed ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03));
        r.next();
        r
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`), by multiply-shift: no modulo bias worth the name.
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
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
    "shop", "payments", "search", "identity", "billing", "media", "logistics", "ads", "data", "platform", "risk",
    "support", "catalog", "messaging", "analytics", "pricing",
];
/// File stems inside a namespace directory (one file per team).
const TEAMS: &[&str] =
    &["core", "edge", "backend", "storage", "integrations", "workers", "gateway", "ml", "ops", "frontend"];
/// Stems of service names.
const WORDS: &[&str] = &[
    "orders", "cart", "checkout", "inventory", "users", "sessions", "profile", "ledger", "invoices", "shipping",
    "tracking", "recommend", "ranking", "index", "images", "video", "notify", "mailer", "audit", "quota", "config",
    "flags", "reports", "metrics", "export", "import", "sync", "scheduler", "tokens", "keys",
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

/// One entity to write: its kind and name; everything else is drawn when it is written.
struct Entity {
    kind: Kind,
    name: String,
}

/// Writes a synthetic project of `n_services` mesh services (plus `n_services / 10` external
/// APIs) into `dir`, which must not exist or be empty. Returns what was written.
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
    let entities = plan(n_services, seed);
    let total = entities.len();
    let namespaces = total.div_ceil(PER_NAMESPACE).max(1);
    let mut stats = Stats { namespaces, ..Stats::default() };
    let mut ip = Addresses::default();

    let project = project_file(n_services, seed);
    fs::create_dir_all(dir)?;
    fs::write(dir.join("meshgen.yaml"), &project)?;
    stats.bytes += project.len() as u64;

    // Namespaces are contiguous runs of the global order, so that "same namespace" is a
    // range of indices (dependencies prefer their own namespace, as real ones do).
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
            let mut text = format!("# {ns_name}: the {team} team's services.\nnamespace: {ns_name}\n");
            let mut section = None;
            for i in lo..hi {
                let e = &entities[i];
                let want = if e.kind == Kind::External { "externals" } else { "services" };
                // Services first, then externals: the order [`plan`] gives within a file
                // is mixed, and a YAML mapping key may appear once.
                if section != Some(want) {
                    if section == Some("externals") {
                        continue;
                    }
                    section = Some(want);
                }
                let _ = e;
            }
            // Two passes over the file's entities: `services:` then `externals:`.
            for (key, is_ext) in [("services", false), ("externals", true)] {
                let members: Vec<usize> =
                    (lo..hi).filter(|&i| (entities[i].kind == Kind::External) == is_ext).collect();
                if members.is_empty() {
                    continue;
                }
                text.push_str(key);
                text.push_str(":\n");
                for i in members {
                    let mut rng = Rng::for_entity(seed, i as u64);
                    match entities[i].kind {
                        Kind::Vm => {
                            stats.vm_services += 1;
                            stats.vms += VMS_PER_SERVICE;
                            vm_service(&mut text, &entities[i].name, &mut rng, &mut ip);
                        }
                        Kind::Pod => {
                            stats.pod_services += 1;
                            pod_service(&mut text, &entities[i].name, &mut rng);
                        }
                        Kind::External => {
                            stats.externals += 1;
                            external(&mut text, &entities[i].name, &mut rng, &mut ip);
                        }
                    }
                    if entities[i].kind != Kind::External {
                        let deps = dependencies(&mut rng, i, start);
                        stats.dependencies += deps.len();
                        if !deps.is_empty() {
                            let names: Vec<&str> = deps.iter().map(|&d| entities[d].name.as_str()).collect();
                            let _ = writeln!(text, "    dependsOn: [{}]", names.join(", "));
                        }
                    }
                }
            }
            let path = ns_dir.join(format!("{team}-{}.yaml", f + 1));
            fs::write(&path, &text)?;
            stats.files += 1;
            stats.bytes += text.len() as u64;
        }
    }
    stats.services = stats.vm_services + stats.pod_services;
    Ok(stats)
}
