//! The rules of a VirtualService: a service's or an external API's routes laid out per port
//! and protocol.
//!
//! Istio cannot pick the destination port of a multi-port host on its own, so on an entity
//! with several ports each HTTP rule is repeated per HTTP-family port with a port match and
//! the port in its destinations. TCP and TLS traffic is matched by connection only: routes
//! without a request match that send traffic somewhere particular, and routes matching
//! `sniHosts` or `destinationSubnets`, become `tcp` and `tls` rules (a TLS rule must name
//! the SNI hosts it matches; the entity's host unless the route says others).

use std::borrow::Cow;

use serde_json::{Map, Value, json};

use super::api::{self, HttpRoute, Percent, RouteDestination, StreamRoute};
use super::context::destination;
use super::present::{borrowed, present};
use crate::graph::{MeshGraph, NodeKind};
use crate::model::raw::HttpMatch;
use crate::model::traffic::{Retries, Traffic};
use crate::model::{Destination, Inventory, Port, Route, Target, covers};

/// The routing of one host of an entity.
pub(super) struct Routing<'a> {
    /// The host the rules are for (a destination without a host goes here).
    pub host: &'a str,
    /// The hosts of the VirtualService: a TLS rule matches them as SNI unless it names its
    /// own `sniHosts`, and names only those of its own that they cover (Istio refuses others).
    pub vs_hosts: &'a [&'a str],
    /// The entity's ports.
    pub ports: &'a [Port],
    /// Its routes.
    pub routes: &'a [Route],
    /// Its traffic policy (timeouts, retries and faults of every HTTP rule).
    pub traffic: &'a Traffic,
    /// Whether destinations on the own host always name the port, even when it is the only
    /// one (external APIs, whose rules always have).
    pub name_port: bool,
    /// The inventory and graph, to find the hosts and ports of other entities.
    pub inv: &'a Inventory,
    /// See `inv`.
    pub graph: &'a MeshGraph,
}

/// The rules of a VirtualService, by protocol.
#[derive(Default)]
pub(super) struct Rules<'a> {
    /// `http`.
    pub http: Vec<HttpRoute<'a>>,
    /// `tcp`.
    pub tcp: Vec<StreamRoute<'a>>,
    /// `tls`.
    pub tls: Vec<StreamRoute<'a>>,
}

/// The destination of a rule without routes: the entity's own host.
static OWN: [Destination; 1] =
    [Destination { target: Target::Own, subset: None, port: None, weight: None, headers: None }];

impl Rules<'_> {
    /// True when there is no rule at all.
    pub(super) fn is_empty(&self) -> bool {
        self.http.is_empty() && self.tcp.is_empty() && self.tls.is_empty()
    }
}

/// The host and ports of the entity named `name`: a service's host, an external API's
/// only host (the check stage refuses targets with several).
pub(crate) fn entity_host<'a>(inv: &'a Inventory, graph: &MeshGraph, name: &str) -> Option<(&'a str, &'a [Port])> {
    let node = graph.node(name)?;
    Some(match node.kind {
        NodeKind::Service => {
            let s = &inv.services[node.entity];
            (s.host.as_str(), &s.ports[..])
        }
        NodeKind::External => {
            let e = &inv.externals[node.entity];
            (e.hosts.first().map_or("", String::as_str), &e.ports[..])
        }
    })
}

impl<'a> Routing<'a> {
    /// Whether the host gets HTTP rules: it has routes, or an HTTP policy of its own.
    fn wants_http(&self) -> bool {
        let t = self.traffic;
        !self.routes.is_empty() || t.timeout.is_some() || t.retries.is_some() || t.fault.is_some()
    }

    /// Every rule of the host's VirtualService.
    pub(super) fn rules(&self) -> Rules<'a> {
        let mut out = Rules::default();
        let multi = self.ports.len() > 1;
        let wants_http = self.wants_http();
        let http_routes: Vec<&'a Route> = self.routes.iter().filter(|r| !r.is_stream()).collect();
        if wants_http {
            for p in self.ports.iter().filter(|p| p.protocol.is_http()) {
                let port = multi.then_some(p.number);
                // Once a rule catches everything on this port (no match, or only this port),
                // later rules would be unreachable there (and Istio warns): stop.
                let mut caught = false;
                for r in &http_routes {
                    if let Some(rule) = self.http_rule(Some(r), p, port, multi) {
                        caught = r.matches.is_empty()
                            || r.matches.iter().any(|m| {
                                (!multi || m.port.is_none() || m.port == port)
                                    && *m == HttpMatch { port: m.port, ..Default::default() }
                            });
                        out.http.push(rule);
                        if caught {
                            break;
                        }
                    }
                }
                if !caught {
                    out.http.extend(self.http_rule(None, p, port, multi));
                }
            }
        }
        // TCP and TLS traffic can only be matched by connection: the routes without request
        // matches that send it somewhere particular, and the routes written for it.
        let stream: Vec<&'a Route> = self
            .routes
            .iter()
            .filter(|r| {
                r.is_stream()
                    || (r.matches.is_empty()
                        && (r.leaves_the_host() || r.destinations.iter().any(|d| d.subset.is_some())))
            })
            .collect();
        for p in self.ports.iter().filter(|p| !p.protocol.is_http()) {
            let tls = p.protocol.is_tls();
            for r in &stream {
                if let Some(rule) = self.stream_rule(p, r, tls, multi) {
                    if tls { out.tls.push(rule) } else { out.tcp.push(rule) }
                }
            }
        }
        out
    }

    /// Whether [`Routing::rules`] makes any rule, mostly without making them: with HTTP
    /// wanted, every HTTP port gets at least its catch-all rule; without, there are no routes
    /// and so no TCP or TLS rule either.
    pub(super) fn any(&self) -> bool {
        if !self.wants_http() {
            return false;
        }
        self.ports.iter().any(|p| p.protocol.is_http()) || !self.rules().is_empty()
    }

    /// A destination's `{host, subset, port}` on entity port `p` (`port`: whether to name it).
    fn destination(
        &self,
        target: &'a Target,
        subset: Option<&'a str>,
        written: Option<u32>,
        p: &Port,
        port: Option<u32>,
    ) -> api::Destination<'a> {
        let (host, number) = match target {
            Target::Own => (self.host, written.or(port).or(self.name_port.then_some(p.number))),
            Target::Host(h) => (h.as_str(), written),
            Target::Entity(name) => match entity_host(self.inv, self.graph, name) {
                // One port: Istio picks it. Several: the one written, else the same number
                // (the check stage refuses a target where neither exists).
                Some((h, ports)) => (h, written.or_else(|| (ports.len() > 1).then_some(p.number))),
                None => ("", written),
            },
        };
        destination(host, subset, number)
    }

    fn route(&self, dests: &'a [Destination], p: &Port, port: Option<u32>) -> Vec<RouteDestination<'a>> {
        dests
            .iter()
            .map(|d| RouteDestination {
                destination: self.destination(&d.target, d.subset.as_deref(), d.port, p, port),
                weight: d.weight,
                headers: d.headers.as_deref().map(Cow::Borrowed),
            })
            .collect()
    }

    /// One HTTP rule, for port `p` (named in matches and destinations when `multi`); `None`
    /// when the route's matches all name other ports.
    fn http_rule(&self, route: Option<&'a Route>, p: &Port, port: Option<u32>, multi: bool) -> Option<HttpRoute<'a>> {
        let t = self.traffic;
        let written = route.map(|r| &r.matches[..]).unwrap_or_default();
        // A match that names a port applies on that port only.
        let here: Vec<&HttpMatch> = written.iter().filter(|m| !multi || m.port.is_none() || m.port == port).collect();
        if !written.is_empty() && here.is_empty() {
            return None;
        }
        let mut matches: Vec<Map<String, Value>> = here.iter().map(|m| match_map(m)).collect();
        if multi {
            if matches.is_empty() {
                matches.push(Map::new());
            }
            for m in &mut matches {
                m.insert("port".into(), json!(p.number));
            }
        }
        let dests = route.map_or(&OWN[..], |r| &r.destinations[..]);
        let extras = route.and_then(|r| r.http.as_deref());
        // A redirect or a direct response never reaches an upstream: no timeout, retries or
        // fault of the entity's apply to it.
        let answers = extras.is_some_and(|x| x.redirect.is_some() || x.direct_response.is_some());
        let retries: Option<Cow<'a, Retries>> = match (route.and_then(|r| r.retries.as_deref()), t.retries.as_ref()) {
            _ if answers => None,
            (Some(r), Some(base)) => Some(Cow::Owned(r.over(base).normalized())),
            (r, base) => r.or(base).map(Cow::Borrowed),
        };
        let name = route.and_then(|r| r.name.clone()).map(|n| if multi { format!("{n}-{}", p.number) } else { n });
        let mirror = route.and_then(|r| r.mirror.as_deref());
        let timeout = route.and_then(|r| r.timeout.clone()).or_else(|| t.timeout.clone()).filter(|_| !answers);
        let fault = route.and_then(|r| r.fault.as_deref()).or(t.fault.as_deref()).filter(|_| !answers);
        Some(HttpRoute {
            name,
            matches: (!matches.is_empty()).then_some(matches),
            route: (!dests.is_empty()).then(|| self.route(dests, p, port)),
            redirect: borrowed(extras.and_then(|x| x.redirect.as_ref())),
            direct_response: borrowed(extras.and_then(|x| x.direct_response.as_ref())),
            timeout,
            retries: present(retries),
            fault: borrowed(fault),
            mirror: mirror.map(|m| self.destination(&m.target, m.subset.as_deref(), m.port, p, port)),
            mirror_percentage: mirror.and_then(|m| m.percentage).map(|value| Percent { value }),
            rewrite: borrowed(route.and_then(|r| r.rewrite.as_deref())),
            cors_policy: borrowed(extras.and_then(|x| x.cors_policy.as_ref())),
            headers: borrowed(extras.and_then(|x| x.headers.as_ref())),
        })
    }

    /// One TCP or TLS rule of `r` on port `p`; `None` where the route does not apply there
    /// (its matches name another port, or SNI on a TCP port).
    fn stream_rule(&self, p: &Port, r: &'a Route, tls: bool, multi: bool) -> Option<StreamRoute<'a>> {
        let port = multi.then_some(p.number);
        let mut matches: Vec<Map<String, Value>> = Vec::new();
        let written: Vec<&HttpMatch> = r.matches.iter().filter(|m| m.port.is_none_or(|n| n == p.number)).collect();
        if !r.matches.is_empty() && written.is_empty() {
            return None;
        }
        let fallback = HttpMatch::default();
        let list = if written.is_empty() { vec![&fallback] } else { written };
        for m in list {
            if m.sni_hosts.is_some() && !tls {
                continue;
            }
            // On a VirtualService of some of the entity's hosts, the SNI names of the others
            // belong to their own VirtualServices.
            let sni: Option<Vec<&String>> = m
                .sni_hosts
                .as_ref()
                .map(|list| list.iter().filter(|h| self.vs_hosts.iter().any(|v| covers(v, h))).collect());
            if sni.as_ref().is_some_and(Vec::is_empty) {
                continue;
            }
            let mut v = Map::new();
            if let Some(s) = &m.destination_subnets {
                v.insert("destinationSubnets".into(), json!(s));
            }
            if multi || m.port.is_some() {
                v.insert("port".into(), json!(p.number));
            }
            if let Some(l) = &m.source_labels {
                v.insert("sourceLabels".into(), json!(l));
            }
            if let Some(ns) = &m.source_namespace {
                v.insert("sourceNamespace".into(), json!(ns));
            }
            if tls {
                let sni = sni.map_or_else(|| json!(self.vs_hosts), |s| json!(s));
                v.insert("sniHosts".into(), sni);
            }
            if !v.is_empty() {
                matches.push(v);
            }
        }
        if r.is_stream() && matches.is_empty() {
            return None;
        }
        // Header changes are for HTTP only.
        let route = self.route(&r.destinations, p, port).into_iter().map(|d| RouteDestination { headers: None, ..d });
        Some(StreamRoute { matches: (!matches.is_empty()).then_some(matches), route: route.collect() })
    }
}

/// A written request match as Istio's HTTPMatchRequest.
fn match_map(m: &HttpMatch) -> Map<String, Value> {
    match serde_json::to_value(m) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}
