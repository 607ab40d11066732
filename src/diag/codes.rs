//! The registry of diagnostic codes: every code meshgen can report, with a one-line summary.
//! Codes are stable (scripts, `ignore:` entries and `--allow` name them); `docs/checks.md`
//! has a section per code, and a test keeps the three in step.

/// One diagnostic code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code {
    /// The kebab-case code.
    pub name: &'static str,
    /// What it reports, in a few words.
    pub summary: &'static str,
    /// Whether it can be suppressed (`ignore:` on an entity, `--allow`). Errors that would
    /// make the output wrong or rejected by Istio cannot be.
    pub suppressible: bool,
}

const fn code(name: &'static str, summary: &'static str, suppressible: bool) -> Code {
    Code { name, summary, suppressible }
}

/// Every code, sorted by name.
pub const CODES: &[Code] = &[
    code("address-conflict", "virtual IPs or CIDRs of two entities overlap", false),
    code("address-with-several-hosts", "one address for several hosts on a TCP-family port", true),
    code("caller-without-identity", "a declared caller has no identity an AuthorizationPolicy can allow", false),
    code("crd-violation", "a generated object fails the CRD schema or CEL rules (`--crds`)", false),
    code("credential-name-without-callers", "a client certificate secret that no caller's sidecar would read", false),
    code("dependency-cycle", "services depend on each other in a cycle", true),
    code("dependency-not-visible", "a dependency is hidden from the consumer's namespace by exportTo", false),
    code("duplicate-address", "two workloads or endpoints of one entity share an address", false),
    code("duplicate-dependency", "the same dependency is listed twice", true),
    code("duplicate-instance-address", "one VM address is an instance of two services", true),
    code("duplicate-name", "two entities share a name", false),
    code("duplicate-port", "two ports share a number", false),
    code("egress-resolution-none", "an API routed through the egress gateway with resolution NONE", false),
    code("empty-inventory", "the inventory declares nothing", false),
    code("failover-without-outlier-detection", "locality failover without outlier detection never fails over", true),
    code("file-too-large", "an inventory file exceeds the size limit", false),
    code(
        "foreign-destination-rule",
        "a live DestinationRule of another owner for a host meshgen writes one for (`--live`)",
        true,
    ),
    code(
        "foreign-service-entry",
        "a live ServiceEntry of another owner declares a host meshgen declares (`--live`)",
        true,
    ),
    code(
        "foreign-sidecar",
        "a live Sidecar of another owner selects the workloads of a meshgen Sidecar (`--live`)",
        true,
    ),
    code(
        "foreign-virtual-service",
        "a live VirtualService of another owner routes a host meshgen routes (`--live`)",
        true,
    ),
    code(
        "foreign-workload-entry",
        "a live WorkloadEntry of another owner has an address meshgen uses (`--live`)",
        true,
    ),
    code("gateway-conflict", "two APIs put overlapping hosts on one egress gateway port", false),
    code("gateway-port-conflict", "two API ports need one egress gateway port served two ways", false),
    code("host-conflict", "two entities claim one host and port where both are visible", false),
    code("ingress-host-conflict", "two services expose one public host, or the mesh already has it", false),
    code("ingress-shared-certificate", "one certificate on the ingress Gateways of several services", true),
    code("invalid-type", "a value has the wrong YAML type", false),
    code("invalid-utf8", "a file is not UTF-8", false),
    code("invalid-value", "a value is not valid for its field", false),
    code("istio-mutual-without-sidecar", "ISTIO_MUTUAL towards VMs without a sidecar", false),
    code("kubernetes-manifest", "a Kubernetes manifest where an inventory document is expected", false),
    code("missing-field", "a required field is missing", false),
    code("missing-service-account", "VMs with a sidecar but no service account", true),
    code("name-collision", "two entities would produce objects with the same name", false),
    code("no-allowed-callers", "an AuthorizationPolicy that allows no one", true),
    code("overlay-conflict", "two patches of one overlay directory set the same value", false),
    code(
        "owned-by-another-project",
        "a live object this build writes is labelled as another project's (`--live`)",
        true,
    ),
    code("patch-invalid-result", "a patched object fails meshgen's checks or the CRDs", false),
    code("patch-op-failed", "a JSON patch operation fails on the object it patches", false),
    code("patch-protected-field", "a patch changes an object's identity or meshgen's own label or annotation", false),
    code("policy-selector-overlap", "two services with policy select the same workloads", false),
    code("policy-without-proxy", "policy is on for a service whose workloads run no proxy", true),
    code("port-name-mismatch", "a port's name says another protocol than its `protocol`", true),
    code(
        "retries-outlast-timeout",
        "a per-try timeout not below the request timeout: a slow try is never retried",
        true,
    ),
    code(
        "route-target-not-a-dependency",
        "a route moves callers' traffic to an entity their policy does not reach",
        false,
    ),
    code("route-target-routes-bypassed", "a route sends traffic to an entity whose own routes then do not apply", true),
    code("self-dependency", "an entity depends on itself", true),
    code("split-all-zero", "every weight of a split is 0", false),
    code("split-not-100", "the weights of a split do not add up to 100", true),
    code("subset-selects-nothing", "a subset selects none of the service's VMs", true),
    code("tcp-port-clash", "two TCP services share a port without addresses", true),
    code("tcp-without-address", "a TCP service without addresses, alone on its port for now", true),
    code("tls-without-ca", "TLS origination without a CA to verify the server", true),
    code("unknown-dependency", "a dependency names nothing in the inventory", false),
    code("unknown-field", "a field is not part of the inventory language", false),
    code("unknown-overlay-target", "an overlay patches an entity the inventory does not declare", false),
    code("unknown-patch-target", "a patch names an object its entity does not generate", false),
    code("unknown-port", "a route or override names a port the service does not have", false),
    code("unknown-route-target", "a route sends traffic to an entity the inventory does not declare", false),
    code("unknown-subset", "a route names a subset the service does not have", false),
    code("unreachable-route", "a route can never match because an earlier one catches everything", false),
    code("unscoped-workload", "a workload without `dependsOn` where Sidecars are generated", true),
    code("unused-external", "an external API nothing depends on", true),
    code("unused-ignore", "an `ignore` entry suppressed nothing", true),
    code("uppercase-host", "a host with upper-case letters, written in lower case", true),
    code("vip-range-exhausted", "no free address left in `vipRange`", false),
    code("workload-group-without-service-account", "a WorkloadGroup without a service account", true),
    code("yaml-syntax", "a file is not valid YAML", false),
];

/// Why a code cannot be suppressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotSuppressible {
    /// No such code; with a "did you mean" when one is close.
    Unknown(Option<String>),
    /// A real code that stays whatever is asked.
    Fixed(&'static str),
}

/// The code a user asks to suppress (`ignore:` or `--allow`), or why it cannot be.
pub fn suppressible(name: &str) -> Result<&'static Code, NotSuppressible> {
    match lookup(name) {
        Some(c) if c.suppressible => Ok(c),
        Some(c) => Err(NotSuppressible::Fixed(c.name)),
        None => {
            let names: Vec<&str> = CODES.iter().map(|c| c.name).collect();
            Err(NotSuppressible::Unknown(super::suggest::hint(name, "codes", &names)))
        }
    }
}

/// The codes of findings about live objects of other owners (`check --live`): only a run
/// that read the cluster can tell whether an entity's `ignore:` entry for one is used.
pub const LIVE: &[&str] = &[
    "foreign-destination-rule",
    "foreign-service-entry",
    "foreign-sidecar",
    "foreign-virtual-service",
    "foreign-workload-entry",
    "owned-by-another-project",
];

/// The registry entry of `name`.
pub fn lookup(name: &str) -> Option<&'static Code> {
    CODES.iter().find(|c| c.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_codes_are_registered_and_suppressible() {
        for name in LIVE {
            assert!(lookup(name).is_some_and(|c| c.suppressible), "{name}");
        }
    }

    #[test]
    fn codes_are_sorted_unique_and_kebab_case() {
        assert!(CODES.windows(2).all(|w| w[0].name < w[1].name));
        for c in CODES {
            assert!(c.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'), "{}", c.name);
        }
    }

    /// Every code reported anywhere in the source is registered.
    #[test]
    fn every_code_in_the_source_is_registered() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut stack = vec![src];
        let re = regex::Regex::new(r#"(?:error|warning)\(\s*"([a-z0-9-]+)""#).unwrap();
        let mut seen = 0;
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") && !p.ends_with("codes.rs") {
                    let text = std::fs::read_to_string(&p).unwrap();
                    for c in re.captures_iter(&text) {
                        seen += 1;
                        assert!(lookup(&c[1]).is_some(), "`{}` in {} is not in CODES", &c[1], p.display());
                    }
                }
            }
        }
        assert!(seen > 50, "found only {seen} reports");
    }
}
