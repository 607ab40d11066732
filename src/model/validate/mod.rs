//! Field checks shared by every entity kind: names, hosts, labels, ports, exportTo and string
//! matches here, traffic policy in `traffic`. Each check reports a diagnostic at the
//! field's YAML path and says how to fix it; it returns whether the value was valid so
//! callers can skip dependent checks.

mod traffic;

use std::collections::BTreeMap;

use super::raw::{Labels, RawExportTo, RawPort, ShortOr, SmallMap, StringMatch};
use super::{ExportTo, Port, Protocol, names};
use crate::diag::{Diagnostic, Diagnostics, Origin};

/// A place in the inventory a check may report at, made into an [`Origin`] only when the
/// check finds something.
///
/// Nearly every field of a large inventory is valid, and an `Origin` allocates its path:
/// made up front, about 45 per service were built and dropped unused (a tenth of reading
/// the inventory, run AD-read in docs/performance.md). A place is either an `Origin` or an
/// [`At`] below one, a path of borrowed segments on the stack.
pub trait Place {
    /// The origin of this place: exactly what [`Origin::child`] and [`Origin::index`] would
    /// have made, so the diagnostics are the same whichever way the place was written.
    fn origin(&self) -> Origin;

    /// This place as a trait object, which an [`At`] below it refers to.
    fn place(&self) -> &dyn Place;

    /// The field `field` of the mapping here (lazily [`Origin::child`]).
    fn at<'a>(&'a self, field: &'a str) -> At<'a> {
        At::Field(self.place(), field)
    }

    /// Element `i` of the sequence here (lazily [`Origin::index`]).
    fn nth(&self, i: usize) -> At<'_> {
        At::Index(self.place(), i)
    }

    /// The key of the mapping entry here (lazily [`Origin::key`]).
    fn as_key(&self) -> At<'_> {
        At::Key(self.place())
    }
}

impl Place for Origin {
    fn origin(&self) -> Origin {
        self.clone()
    }

    fn place(&self) -> &dyn Place {
        self
    }
}

/// A place below another, its path not written until a finding needs it.
#[derive(Clone, Copy)]
pub enum At<'a> {
    /// A field of the mapping at the parent.
    Field(&'a dyn Place, &'a str),
    /// An element of the sequence at the parent.
    Index(&'a dyn Place, usize),
    /// The key of the mapping entry at the parent, rather than its value.
    Key(&'a dyn Place),
}

impl Place for At<'_> {
    fn origin(&self) -> Origin {
        match *self {
            At::Field(parent, field) => parent.origin().child(field),
            At::Index(parent, i) => parent.origin().index(i),
            At::Key(parent) => parent.origin().key(),
        }
    }

    fn place(&self) -> &dyn Place {
        self
    }
}

/// Collects diagnostics while an entity is validated.
pub struct Checker<'a> {
    diags: &'a mut Diagnostics,
}

impl<'a> Checker<'a> {
    /// A checker that reports into `diags`.
    pub fn new(diags: &'a mut Diagnostics) -> Checker<'a> {
        Checker { diags }
    }

    /// Reports an error.
    pub fn error(&mut self, code: &'static str, origin: Origin, msg: impl Into<String>, help: Option<String>) {
        self.diags.push(Diagnostic::error(code, origin, msg).maybe_help(help));
    }

    /// Reports a prepared diagnostic.
    pub fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// `names`: kinds an entity makes an object of named after it, each with a valid name.
    pub fn object_names(
        &mut self,
        raw: Option<&BTreeMap<String, String>>,
        origin: &dyn Place,
    ) -> BTreeMap<String, String> {
        const KINDS: [&str; 6] =
            ["ServiceEntry", "WorkloadGroup", "DestinationRule", "VirtualService", "Sidecar", "AuthorizationPolicy"];
        let mut out = BTreeMap::new();
        for (kind, name) in raw.into_iter().flatten() {
            let at = origin.at(kind);
            if !KINDS.contains(&kind.as_str()) {
                let help = crate::diag::suggest::hint(kind, "kinds", &KINDS)
                    .unwrap_or_else(|| format!("name one of {}", KINDS.join(", ")));
                self.error(
                    "invalid-value",
                    at.as_key().origin(),
                    format!("`{}` is not a kind meshgen names after an entity", shown(kind)),
                    Some(help),
                );
            } else if self.object_name(name, &at) {
                out.insert(kind.clone(), name.clone());
            }
        }
        out
    }

    /// The errors reported so far (to tell whether a part added any).
    pub fn errors(&self) -> usize {
        self.diags.counts().0
    }

    /// Runs `f` on the value; on failure reports `invalid-value` with "`<what>` `<value>` <reason>".
    fn check(
        &mut self,
        what: &str,
        value: &str,
        origin: &dyn Place,
        help: &str,
        f: impl Fn(&str) -> Result<(), String>,
    ) -> bool {
        match f(value) {
            Ok(()) => true,
            Err(e) => {
                let help = if help.is_empty() { None } else { Some(help.to_string()) };
                self.error("invalid-value", origin.origin(), format!("{what} `{}` {e}", shown(value)), help);
                false
            }
        }
    }

    /// A Kubernetes namespace.
    pub fn namespace(&mut self, ns: &str, origin: &dyn Place) -> bool {
        self.check("namespace", ns, origin, "namespaces are lowercase DNS labels, e.g. `shop`", names::dns_label)
    }

    /// An entity's namespace: its own `namespace`, checked here, or the one it inherits from
    /// its document or the project, checked once where that is written (one error for a
    /// document, not one per entity).
    pub fn entity_namespace(&mut self, own: Option<&str>, inherited: &str, entity: &dyn Place) -> String {
        match own {
            Some(ns) => {
                self.namespace(ns, &entity.at("namespace"));
                ns.to_string()
            }
            None => inherited.to_string(),
        }
    }

    /// An entity name (becomes object and file names).
    pub fn entity_name(&mut self, kind: &str, name: &str, origin: &dyn Place) -> bool {
        self.check(
            &format!("{kind} name"),
            name,
            &origin.as_key(),
            "entity names become Kubernetes object and file names: use lowercase letters, digits and `-`, e.g. `orders-db`",
            names::dns_label,
        )
    }

    /// An object name given explicitly (e.g. a VM's WorkloadEntry name).
    pub fn object_name(&mut self, name: &str, origin: &dyn Place) -> bool {
        self.check("name", name, origin, "use lowercase letters, digits, `-` and `.`", names::dns_subdomain)
    }

    /// A host, with or without a leading wildcard label: the host as meshgen writes it
    /// (lower case), or `None` when it is not one.
    pub fn host(&mut self, host: &str, wildcard: bool, origin: &dyn Place) -> Option<String> {
        let help = if wildcard {
            "write a DNS name such as `api.example.com` or `*.example.com`"
        } else {
            "write a DNS name such as `api.example.com`"
        };
        if !self.check("host", host, origin, help, |h| names::host(h, wildcard)) {
            return None;
        }
        Some(self.lower_case_host(host, origin))
    }

    /// Hosts are written in lower case, wherever they are read. DNS ignores case, and Istio
    /// accepts upper case, but it compares hosts as written: `API.example.com` in a
    /// ServiceEntry and `api.example.com` in a DestinationRule never meet. Upper case built
    /// before, so it is lower-cased with a warning rather than refused.
    fn lower_case_host(&mut self, host: &str, origin: &dyn Place) -> String {
        if !host.bytes().any(|b| b.is_ascii_uppercase()) {
            return host.to_string();
        }
        let lower = host.to_ascii_lowercase();
        self.push(
            Diagnostic::warning(
                "uppercase-host",
                origin.origin(),
                format!("host `{}` has upper-case letters; it is written as `{}`", shown(host), shown(&lower)),
            )
            .help("write hosts in lower case: DNS ignores case, but Istio compares hosts as written, so one object's `API.example.com` would not meet another's `api.example.com`"),
        );
        lower
    }

    /// A service account name.
    pub fn service_account(&mut self, sa: &str, origin: &dyn Place) -> bool {
        self.check(
            "service account",
            sa,
            origin,
            "service accounts are Kubernetes names, e.g. `catalog`",
            names::dns_subdomain,
        )
    }

    /// A SPIFFE principal as AuthorizationPolicy matches it: `<trust-domain>/ns/<ns>/sa/<sa>`,
    /// with `*` allowed only as a prefix or suffix match.
    pub fn principal(&mut self, p: &str, origin: &dyn Place) -> bool {
        self.check(
            "principal",
            p,
            origin,
            "principals are written `<trust-domain>/ns/<namespace>/sa/<service-account>`, without `spiffe://`",
            |p: &str| {
                let inner = p.strip_prefix('*').unwrap_or(p);
                let inner = inner.strip_suffix('*').unwrap_or(inner);
                if p.starts_with("spiffe://") {
                    Err("starts with `spiffe://`, which Istio strips before matching".into())
                } else if p != "*" && (inner.is_empty() || !inner.chars().all(|c| c.is_ascii_graphic() && c != '*')) {
                    Err("is not a principal (`*` only at the start or end, no spaces)".into())
                } else {
                    Ok(())
                }
            },
        )
    }

    /// A duration Istio accepts.
    pub fn duration(&mut self, d: &str, origin: &dyn Place) -> bool {
        self.check(
            "duration",
            d,
            origin,
            "write a Go duration of at least 1ms in whole milliseconds, e.g. `250ms`, `10s`, `1m30s`",
            names::duration,
        )
    }

    /// A host entities are registered under: a valid host with at least one dot. A short
    /// name is taken literally in a ServiceEntry but expanded with the namespace in a
    /// DestinationRule or VirtualService (and refused in a Gateway), so they would never meet.
    pub fn mesh_host(&mut self, host: &str, wildcard: bool, origin: &dyn Place) -> Option<String> {
        let host = self.host(host, wildcard, origin)?;
        if !host.trim_end_matches('.').contains('.') {
            self.error(
                "invalid-value",
                origin.origin(),
                format!("host `{}` is a short name", shown(&host)),
                Some(format!("write the fully qualified name, e.g. `{host}.example.internal`: Istio expands short names differently in each kind")),
            );
            return None;
        }
        Some(host)
    }

    /// A locality.
    pub fn locality(&mut self, l: &str, origin: &dyn Place) -> bool {
        self.check("locality", l, origin, "write `region/zone/subzone`, e.g. `eu-west1/eu-west1-a`", names::locality)
    }

    /// A network name.
    pub fn network(&mut self, n: &str, origin: &dyn Place) -> bool {
        self.check("network", n, origin, "network names are label values, e.g. `vm-net`", names::network)
    }

    /// An IP address or CIDR block.
    pub fn ip_or_cidr(&mut self, a: &str, origin: &dyn Place) -> bool {
        self.check(
            "address",
            a,
            origin,
            "write an IP address (`10.0.0.1`) or a CIDR block (`10.0.0.0/24`)",
            names::ip_or_cidr,
        )
    }

    /// A port number (1–65535).
    pub fn port_number(&mut self, n: u32, origin: &dyn Place) -> bool {
        if (1..=65535).contains(&n) {
            return true;
        }
        self.error(
            "invalid-value",
            origin.origin(),
            format!("port number {n} is out of range"),
            Some("port numbers are 1–65535".into()),
        );
        false
    }

    /// A percentage in 0–100.
    pub fn percent(&mut self, p: f64, origin: &dyn Place) -> bool {
        // Istio's resolution is 0.0001%: anything above 0 and below it is refused.
        if p == 0.0 || (0.0001..=100.0).contains(&p) {
            return true;
        }
        self.error(
            "invalid-value",
            origin.origin(),
            format!("percentage {p} is out of range"),
            Some("percentages are 0, or 0.0001–100".into()),
        );
        false
    }

    /// One of a fixed set of words (Istio enums are upper case and case-sensitive).
    pub fn one_of(&mut self, what: &str, value: &str, allowed: &[&str], origin: &dyn Place) -> bool {
        if allowed.contains(&value) {
            return true;
        }
        let help = crate::diag::suggest::hint(value, "values", allowed);
        self.error("invalid-value", origin.origin(), format!("unknown {what} `{}`", shown(value)), help);
        false
    }

    /// Label keys and values.
    pub fn labels(&mut self, labels: &Labels, origin: &dyn Place) -> bool {
        let mut ok = true;
        for (k, v) in labels {
            let at = origin.at(k);
            ok &= self.check(
                "label key",
                k,
                &at.as_key(),
                "label keys are `[prefix/]name`, e.g. `app` or `app.kubernetes.io/name`",
                names::label_key,
            );
            ok &= self.check(
                "label value",
                v,
                &at,
                "label values are at most 63 letters, digits, `-`, `_` or `.`; quote numbers such as `\"1.0\"`",
                names::label_value,
            );
        }
        ok
    }

    /// A workload selector: labels without wildcards, not empty.
    pub fn selector(&mut self, labels: &Labels, origin: &dyn Place) -> bool {
        if labels.is_empty() {
            self.error("invalid-value", origin.origin(), "selector has no labels", Some("an empty selector selects every workload in the namespace; name at least one label, e.g. `app: catalog`".into()));
            return false;
        }
        self.labels(labels, origin)
    }

    /// exportTo: `consumers`, or `.`/`*`/`~`/namespace names following Istio's rules.
    pub fn export_to(&mut self, raw: &RawExportTo, origin: &dyn Place) -> Option<ExportTo> {
        let list = &raw.namespaces;
        if list.len() == 1 && list[0] == "consumers" {
            return Some(ExportTo::Consumers);
        }
        let mut ok = true;
        if list.is_empty() {
            self.error(
                "invalid-value",
                origin.origin(),
                "exportTo is empty",
                Some("leave it out to export everywhere, or write `[\".\"]` for this namespace only".into()),
            );
            return None;
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, e) in list.iter().enumerate() {
            let at = origin.nth(i);
            if e == "consumers" {
                self.error(
                    "invalid-value",
                    at.origin(),
                    "`consumers` must stand alone",
                    Some("write `exportTo: consumers`".into()),
                );
                ok = false;
            } else if !matches!(e.as_str(), "." | "*" | "~")
                && !self.check("exportTo entry", e, &at, "use `.`, `*`, `~` or a namespace name", names::dns_label)
            {
                ok = false;
            } else if !seen.insert(e.as_str()) {
                self.error("invalid-value", at.origin(), format!("duplicate exportTo entry `{e}`"), None);
                ok = false;
            }
        }
        for special in ["*", "~"] {
            if list.len() > 1 && list.iter().any(|e| e == special) {
                self.error(
                    "invalid-value",
                    origin.origin(),
                    format!("`{special}` must be the only exportTo entry"),
                    Some(format!("write `exportTo: [\"{special}\"]` alone")),
                );
                ok = false;
            }
        }
        ok.then(|| ExportTo::Namespaces(list.clone()))
    }

    /// Ports by name: names, numbers, protocols (inferred from the name when absent), unique numbers.
    pub fn ports(&mut self, raw: Option<&SmallMap<ShortOr<RawPort>>>, origin: &dyn Place) -> Vec<Port> {
        let Some(raw) = raw.filter(|r| !r.is_empty()) else {
            self.error(
                "missing-field",
                origin.origin(),
                "no ports declared",
                Some("add ports by name, e.g. `ports: {http: 8080}`".into()),
            );
            return Vec::new();
        };
        // Sized: a service declares one or two ports, and a vector grown from empty holds four.
        let mut ports: Vec<Port> = Vec::with_capacity(raw.len());
        for (name, ShortOr(p)) in raw {
            let at = origin.at(name);
            let name_ok = self.check(
                "port name",
                name,
                &at.as_key(),
                "port names are lowercase DNS labels of at most 62 characters, e.g. `http` or `grpc-api`",
                names::port_name,
            );
            let number_ok = self.port_number(p.number, &at);
            if let Some(t) = p.target_port {
                self.port_number(t, &at.at("targetPort"));
            }
            let protocol = match &p.protocol {
                Some(explicit) => match Protocol::parse(explicit) {
                    Some(given) => {
                        // Istio goes by `protocol`, but tools (and people) read the name:
                        // `http-api` declared as TCP says two different things.
                        if let Some(named) = Protocol::from_port_name(name).filter(|n| *n != given) {
                            self.push(
                                Diagnostic::warning(
                                    "port-name-mismatch",
                                    at.at("protocol").origin(),
                                    format!("port `{name}` is named for {} but declared {}", named.as_str(), given.as_str()),
                                )
                                .help(format!("rename the port after its protocol (e.g. `{}`), or fix `protocol`", given.as_str().to_ascii_lowercase())),
                            );
                        }
                        Some(given)
                    }
                    None => {
                        let help = crate::diag::suggest::hint(explicit, "protocols", Protocol::NAMES);
                        self.error("invalid-value", at.at("protocol").origin(), format!("unknown protocol `{}`", shown(explicit)), help);
                        None
                    }
                },
                None => Protocol::from_port_name(name).or_else(|| {
                    if name_ok {
                        self.error("invalid-value", at.as_key().origin(), format!("cannot tell the protocol of port `{name}` from its name"), Some(format!("name the port after its protocol (`http`, `grpc`, `tcp`, `tls`, `https`, `mongo`…, optionally with a suffix such as `http-api`) or write `{name}: {{number: {}, protocol: TCP}}`", p.number)));
                    }
                    None
                }),
            };
            if let (true, Some(protocol)) = (name_ok && number_ok, protocol) {
                if let Some(other) = ports.iter().find(|q| q.number == p.number) {
                    self.error(
                        "duplicate-port",
                        at.origin(),
                        format!("port number {} is declared twice (`{}` and `{name}`)", p.number, other.name),
                        Some("each port number may appear once per service".into()),
                    );
                    continue;
                }
                ports.push(Port { name: name.clone(), number: p.number, protocol, target_port: p.target_port });
            }
        }
        ports.sort_by_key(|p| p.number);
        ports
    }

    /// Per-port overrides (`ports: {http: 9080}` on a VM or endpoint): declared names, valid numbers.
    pub fn port_overrides(&mut self, raw: &BTreeMap<String, u32>, declared: &[Port], origin: &dyn Place) {
        let names: Vec<&str> = declared.iter().map(|p| p.name.as_str()).collect();
        for (name, n) in raw {
            let at = origin.at(name);
            if !names.contains(&name.as_str()) {
                let help = crate::diag::suggest::hint(name, "ports", &names);
                self.error(
                    "unknown-port",
                    at.as_key().origin(),
                    format!("port `{}` is not declared", shown(name)),
                    help,
                );
            }
            self.port_number(*n, &at);
        }
    }

    /// A StringMatch: exactly one of exact, prefix, regex; regex bounded.
    pub fn string_match(&mut self, m: &StringMatch, o: &dyn Place) {
        let n = [m.exact.is_some(), m.prefix.is_some(), m.regex.is_some()].iter().filter(|x| **x).count();
        if n != 1 {
            self.error("invalid-value", o.origin(), "a match needs exactly one of `exact`, `prefix`, `regex`", None);
        }
        if m.prefix.as_deref() == Some("") {
            self.error(
                "invalid-value",
                o.at("prefix").origin(),
                "an empty prefix matches everything",
                Some("remove the match, or write the prefix".into()),
            );
        }
        if let Some(r) = &m.regex {
            if r.is_empty() || r.len() > 1024 {
                self.error("invalid-value", o.at("regex").origin(), "regex must be 1–1024 characters", None);
            } else if let Err(e) = crate::formats::re2::compile(r) {
                self.error(
                    "invalid-value",
                    o.at("regex").origin(),
                    format!("`{}` is not an RE2 regular expression: {e}", shown(r)),
                    Some("Envoy uses RE2: no look-around, no backreferences, repetition counts up to 1000".into()),
                );
            }
        }
    }
}

/// A value as shown in a message: control characters escaped, at most 80 characters (the
/// one escaping of inventory text for people lives in [`crate::diag::escape`]).
pub use crate::diag::escape::shown;
