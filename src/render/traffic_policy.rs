//! Lays out a DestinationRule's `trafficPolicy` so that Istio applies what the inventory
//! means on every port and subset.
//!
//! The inventory inherits field by field: defaults, then the entity, then a port or a
//! subset. Istio does not. A `portLevelSettings` entry replaces the destination-level
//! `connectionPool`, `outlierDetection`, `loadBalancer` and `tls` as a whole, and fields it
//! omits get Istio's defaults, not the destination's (Istio's DestinationRule reference,
//! `portLevelSettings`); a subset's `trafficPolicy` replaces each of those four fields of
//! the destination's whole. So every level meshgen writes carries the *effective* policy of
//! what it covers: the four fields as the inventory's inheritance decides them.
//!
//! Layout: when every port has the same effective policy it is the top level alone;
//! otherwise the top level is the entity's own and each port that differs from it gets an
//! entry with its complete policy. A subset with a policy of its own is laid out the same
//! way in its `trafficPolicy`; one without inherits the top level, which Istio does right.

use std::borrow::Cow;

use super::api::{self, PolicySettings as Settings, PortPolicy as PortEntry, PortSelector, TrafficPolicy};
use super::present::present;
use crate::model::traffic::Traffic;
use crate::model::{ClientTls, Port, PortPolicy, SubsetPolicy};

/// What the entity says for DestinationRules, before it is laid out per port.
pub(super) struct EntityPolicy<'a> {
    /// The entity's ports.
    pub ports: &'a [Port],
    /// Its traffic policy, defaults merged in.
    pub traffic: &'a Traffic,
    /// Its client TLS.
    pub tls: Option<&'a ClientTls>,
    /// Ports with a policy of their own.
    pub own: &'a [PortPolicy],
    /// The host the rule is for, the default SNI of TLS origination (none for wildcards).
    pub host: &'a str,
    /// The entity's `subjectAltNames`, verified by TLS it originates unless the TLS names
    /// its own.
    pub subject_alt_names: &'a [String],
}

impl<'a> EntityPolicy<'a> {
    /// The TLS of a port: its own, else the entity's where that applies to it.
    fn port_tls(&self, p: &Port) -> Option<&ClientTls> {
        match self.own_policy(p).and_then(|o| o.tls.as_ref()) {
            Some(t) => Some(t),
            None => self.tls.filter(|t| t.applies_to(p, self.ports)),
        }
    }

    fn own_policy(&self, p: &Port) -> Option<&PortPolicy> {
        self.own.iter().find(|o| o.port == p.number)
    }

    /// The traffic of a port: its own merged over the entity's.
    fn port_traffic(&self, p: &Port) -> Cow<'a, Traffic> {
        match self.own_policy(p) {
            Some(o) => Cow::Owned(o.traffic.over(self.traffic)),
            None => Cow::Borrowed(self.traffic),
        }
    }

    /// The number a plain HTTP port is sent to when the sidecar originates TLS on it
    /// (external APIs): the TLS's `port`, else the entity's, else 443.
    pub(super) fn origination_port(&self, p: &Port) -> Option<u32> {
        let t = self.port_tls(p).filter(|t| t.originates() && p.protocol.is_http())?;
        Some(t.port.or(self.tls.and_then(|e| e.port)).unwrap_or(443))
    }

    /// The top-level `trafficPolicy`, or `None` when there is nothing to say.
    pub(super) fn top(&self) -> Option<TrafficPolicy<'a>> {
        let all = self.tls.filter(|t| self.ports.iter().all(|p| t.applies_to(p, self.ports)));
        let top = self.settings(Cow::Borrowed(self.traffic), all, None);
        // Without policies of their own, every port has the entity's traffic; and the TLS of
        // each is the same as the top level's (none, or one for all that originates nothing,
        // so it names no host a port could change): the ports all agree with the top level,
        // which is the layout. Most services are this.
        if self.own.is_empty() && (self.tls.is_none() || all.is_some_and(|t| !t.originates())) {
            return lay_out(top, Vec::new());
        }
        let ports: Vec<(u32, Settings)> = self
            .ports
            .iter()
            .map(|p| (p.number, self.settings(self.port_traffic(p), self.port_tls(p), Some(p))))
            .collect();
        lay_out(top, ports)
    }

    /// A subset's `trafficPolicy`, when it has a policy of its own: its settings win over
    /// the port's, as Istio's subset level wins over the destination's port level.
    pub(super) fn subset(&self, s: &SubsetPolicy) -> Option<TrafficPolicy<'a>> {
        let tls_for = |p: Option<&Port>| match (&s.tls, p) {
            (Some(t), Some(p)) if t.applies_to(p, self.ports) => Some(t),
            (Some(t), None) if self.ports.iter().all(|p| t.applies_to(p, self.ports)) => Some(t),
            (_, Some(p)) => self.port_tls(p),
            (_, None) => self.tls.filter(|t| self.ports.iter().all(|p| t.applies_to(p, self.ports))),
        };
        let top = self.settings(Cow::Owned(s.traffic.over(self.traffic)), tls_for(None), None);
        let ports: Vec<(u32, Settings)> = self
            .ports
            .iter()
            .map(|p| {
                (p.number, self.settings(Cow::Owned(s.traffic.over(&self.port_traffic(p))), tls_for(Some(p)), Some(p)))
            })
            .collect();
        lay_out(top, ports)
    }

    /// One level: connection pool, outlier detection, load balancing, TLS; for one port, or
    /// for all of them (`None`). The policy fields are the traffic's own, borrowed from the
    /// model where the traffic is, moved out of it where it was merged for this level.
    fn settings(&self, t: Cow<'a, Traffic>, tls: Option<&ClientTls>, port: Option<&Port>) -> Settings<'a> {
        // The host is presented as SNI where it is an HTTP host; for opaque TCP (a database)
        // Istio sends none unless told, and the host may be a name nothing serves.
        let http = match port {
            Some(p) => p.protocol.is_http(),
            None => self.ports.iter().all(|p| p.protocol.is_http()),
        };
        let sni_host = if http { self.host } else { "" };
        let (connection_pool, outlier_detection, load_balancer) = match t {
            Cow::Borrowed(t) => (
                t.connection_pool.as_deref().map(Cow::Borrowed),
                t.outlier_detection.as_deref().map(Cow::Borrowed),
                t.load_balancer.as_deref().map(Cow::Borrowed),
            ),
            Cow::Owned(t) => (
                t.connection_pool.map(|v| Cow::Owned(*v)),
                t.outlier_detection.map(|v| Cow::Owned(*v)),
                t.load_balancer.map(|v| Cow::Owned(*v)),
            ),
        };
        Settings {
            connection_pool: present(connection_pool),
            outlier_detection: present(outlier_detection),
            load_balancer: present(load_balancer),
            tls: tls.map(|t| client_tls(t, sni_host, self.subject_alt_names)),
        }
    }
}

/// The top level, and an entry for each port whose policy differs from it; when all ports
/// agree, their policy is the top level.
fn lay_out<'a>(top: Settings<'a>, ports: Vec<(u32, Settings<'a>)>) -> Option<TrafficPolicy<'a>> {
    let same = ports.first().map(|(_, first)| ports.iter().all(|(_, p)| p == first)).unwrap_or(true);
    let policy = if same {
        TrafficPolicy { settings: ports.into_iter().next().map_or(top, |(_, p)| p), port_level_settings: None }
    } else {
        lay_out_ports(top, ports)
    };
    (policy != TrafficPolicy { settings: Settings::default(), port_level_settings: None }).then_some(policy)
}

fn lay_out_ports<'a>(top: Settings<'a>, ports: Vec<(u32, Settings<'a>)>) -> TrafficPolicy<'a> {
    let entries: Vec<PortEntry> = ports
        .into_iter()
        .filter(|(_, p)| *p != top)
        .map(|(number, settings)| PortEntry { port: PortSelector { number }, settings })
        .collect();
    TrafficPolicy { settings: top, port_level_settings: (!entries.is_empty()).then_some(entries) }
}

/// Istio's ClientTLSSettings, presenting `host` as SNI by default (none when empty).
fn client_tls(t: &ClientTls, host: &str, entity_sans: &[String]) -> api::ClientTls {
    // Origination presents the host and verifies the entity's names unless told otherwise;
    // Istio's own mutual TLS finds both itself. Istio refuses SANs next to insecureSkipVerify.
    let originates = t.originates();
    let sans: &[String] = match (t.insecure_skip_verify, t.subject_alt_names.is_empty()) {
        (Some(true), _) => &[],
        (_, true) if originates => entity_sans,
        _ => &t.subject_alt_names,
    };
    let sni =
        t.sni.clone().or_else(|| (originates && !host.is_empty() && !host.starts_with('*')).then(|| host.to_string()));
    api::ClientTls {
        mode: t.mode,
        sni,
        ca_certificates: t.ca_certificates.clone(),
        ca_crl: t.ca_crl.clone(),
        client_certificate: t.client_certificate.clone(),
        private_key: t.private_key.clone(),
        credential_name: t.credential_name.clone(),
        subject_alt_names: (!sans.is_empty()).then(|| sans.to_vec()),
        insecure_skip_verify: t.insecure_skip_verify,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::Protocol;
    use crate::model::traffic::OutlierDetection;

    fn port(name: &str, number: u32, protocol: Protocol) -> Port {
        Port { name: name.into(), number, protocol, target_port: None }
    }

    fn entity<'a>(ports: &'a [Port], traffic: &'a Traffic, tls: &'a ClientTls, host: &'a str) -> EntityPolicy<'a> {
        EntityPolicy { ports, traffic, tls: Some(tls), own: &[], host, subject_alt_names: &[] }
    }

    fn ejecting() -> Traffic {
        Traffic {
            outlier_detection: Some(Box::new(OutlierDetection {
                consecutive_5xx_errors: Some(5),
                ..Default::default()
            })),
            ..Traffic::default()
        }
    }

    /// The bug this module exists for: TLS on the only port used to go to a port-level
    /// entry beside a destination-level outlier detection the port then lost.
    #[test]
    fn tls_on_every_port_goes_to_the_top_level_beside_the_rest() {
        let ports = [port("http", 80, Protocol::Http)];
        let traffic = ejecting();
        let tls = ClientTls::mode("SIMPLE");
        let e = entity(&ports, &traffic, &tls, "api.example");
        let top = serde_json::to_value(e.top().unwrap()).unwrap();
        assert_eq!(top["tls"], json!({"mode": "SIMPLE", "sni": "api.example"}));
        assert_eq!(top["outlierDetection"], json!({"consecutive5xxErrors": 5}));
        assert!(top.get("portLevelSettings").is_none(), "{top}");
    }

    /// A port entry carries every field of its port's policy, not only the one that differs.
    #[test]
    fn a_port_entry_carries_the_whole_effective_policy() {
        let ports = [port("http", 80, Protocol::Http), port("https", 443, Protocol::Https)];
        let traffic = ejecting();
        let tls = ClientTls::mode("SIMPLE");
        let e = entity(&ports, &traffic, &tls, "api.example");
        let top = serde_json::to_value(e.top().unwrap()).unwrap();
        assert!(top.get("tls").is_none(), "origination must not wrap the HTTPS port: {top}");
        let entries = top["portLevelSettings"].as_array().unwrap();
        assert_eq!(entries.len(), 1, "{top}");
        assert_eq!(entries[0]["port"], json!({"number": 80}));
        assert_eq!(entries[0]["outlierDetection"], top["outlierDetection"]);
        assert_eq!(entries[0]["tls"]["mode"], json!("SIMPLE"));
    }

    /// A subset's policy is complete too: it replaces the destination's fields whole.
    #[test]
    fn a_subset_policy_is_merged_over_the_entity() {
        let ports = [port("http", 8080, Protocol::Http)];
        let traffic = ejecting();
        let tls = ClientTls::mode("ISTIO_MUTUAL");
        let interval = OutlierDetection { interval: Some("10s".into()), ..Default::default() };
        let own = Traffic { outlier_detection: Some(Box::new(interval)), ..Traffic::default() };
        let s = SubsetPolicy { traffic: own, tls: None };
        let e = entity(&ports, &traffic, &tls, "svc");
        let sub = serde_json::to_value(e.subset(&s).unwrap()).unwrap();
        assert_eq!(sub["outlierDetection"], json!({"consecutive5xxErrors": 5, "interval": "10s"}));
        assert_eq!(sub["tls"], json!({"mode": "ISTIO_MUTUAL"}));
    }
}
