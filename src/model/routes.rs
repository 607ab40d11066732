//! Routing rules of services and external APIs, validated the same way for both: where each
//! rule sends traffic (subsets, other entities, any host), what it matches, and what Istio
//! would refuse in an HTTP, TCP or TLS rule. Targets that name other entities are checked
//! by the check stage, which sees the whole inventory.

use super::http::{CorsPolicy, DirectResponse, Headers, Redirect};
use super::raw::{HttpMatch, RawDestination, RawMirror, RawRoute};
use super::validate::{Checker, shown};
use super::{Destination, HttpExtras, Mirror, Port, Route, Subset, Target};
use crate::diag::Origin;
use crate::diag::suggest::hint;

/// What the routes belong to.
pub(super) struct Scope<'a> {
    /// The entity's subsets (none for an external API).
    pub subsets: &'a [Subset],
    /// The entity's ports.
    pub ports: &'a [Port],
    /// The entity's kind, for messages: `service` or `API`.
    pub what: &'static str,
}

/// Validates the routes; a route with errors is left out (its errors are reported).
pub(super) fn routes(cx: &mut Checker<'_>, raw: &[RawRoute], scope: &Scope<'_>, origin: &Origin) -> Vec<Route> {
    // At most one route per rule written: a route is over 400 bytes, and pushing two into
    // an empty vector reserves four.
    let mut out = Vec::with_capacity(raw.len());
    for (i, r) in raw.iter().enumerate() {
        let ro = origin.index(i);
        let before = cx.errors();
        let Some(destinations) = destinations(cx, r, scope, &ro) else { continue };
        let matches = r.matches.clone().unwrap_or_default();
        let stream = matches.iter().any(|m| m.sni_hosts.is_some() || m.destination_subnets.is_some());
        http_features(cx, r, scope, stream, &ro);
        for (j, m) in matches.iter().enumerate() {
            match_request(cx, m, scope, stream, &ro.child("match").index(j));
        }
        let mirror = r.mirror.as_ref().map(|m| mirror(cx, m, scope, &ro.child("mirror")));
        if let Some(n) = &r.name
            && (n.is_empty() || n.chars().any(char::is_control))
        {
            cx.error("invalid-value", ro.child("name"), "route names are non-empty single-line strings", None);
        }
        if cx.errors() > before {
            continue;
        }
        let extras = HttpExtras {
            headers: r.headers.clone(),
            cors_policy: r.cors_policy.clone(),
            redirect: r.redirect.clone(),
            direct_response: r.direct_response.clone(),
        };
        out.push(Route {
            name: r.name.clone(),
            matches,
            destinations,
            weights_at: if r.to.is_some() { "to" } else { "split" },
            timeout: r.timeout.clone(),
            retries: r.retries.clone().map(Box::new),
            fault: r.fault.clone().map(Box::new),
            mirror: mirror.map(Box::new),
            rewrite: r.rewrite.clone().map(Box::new),
            http: (extras != HttpExtras::default()).then(|| Box::new(extras)),
            origin: ro,
        });
    }
    for (i, r) in out.iter().enumerate() {
        if r.matches.is_empty() && i + 1 < out.len() {
            cx.error(
                "unreachable-route",
                r.origin.clone(),
                "a route without `match` catches everything, so the routes after it never apply",
                Some("move the route without `match` to the end".into()),
            );
        }
    }
    out
}

fn check_subset(cx: &mut Checker<'_>, scope: &Scope<'_>, s: &str, at: Origin) {
    let names: Vec<&str> = scope.subsets.iter().map(|s| s.name.as_str()).collect();
    if !names.contains(&s) {
        let help = hint(s, "subsets", &names).or_else(|| {
            Some(if scope.subsets.is_empty() && scope.what == "API" {
                "an external API has no subsets; name another entity's subset with `to: [{service: …, subset: …}]`"
                    .into()
            } else {
                "subsets come from the VMs' `version` labels or from `subsets`".into()
            })
        });
        cx.error("unknown-subset", at, format!("route sends traffic to unknown subset `{}`", shown(s)), help);
    }
}

/// The weighted destinations of `subset`, `split` or `to` (at most one of them); none for a
/// redirect or direct response. `None` when they cannot be read at all.
fn destinations(cx: &mut Checker<'_>, r: &RawRoute, scope: &Scope<'_>, ro: &Origin) -> Option<Vec<Destination>> {
    let written = [("subset", r.subset.is_some()), ("split", r.split.is_some()), ("to", r.to.is_some())];
    let set: Vec<&str> = written.iter().filter(|(_, s)| *s).map(|(f, _)| *f).collect();
    if set.len() > 1 {
        cx.error(
            "invalid-value",
            ro.clone(),
            format!("a route sets both `{}` and `{}`", set[0], set[1]),
            Some(
                "use `subset: v2` for one subset, `split: {v1: 90, v2: 10}` for several, or `to` for other hosts"
                    .into(),
            ),
        );
        return None;
    }
    let answered = [("redirect", r.redirect.is_some()), ("directResponse", r.direct_response.is_some())];
    let answers: Vec<&str> = answered.iter().filter(|(_, s)| *s).map(|(f, _)| *f).collect();
    if let Some(a) = answers.first() {
        // Istio: a rule routes, redirects or answers, one of the three.
        let clash = set.first().map(|f| (*f, "routes")).or_else(|| answers.get(1).map(|b| (*b, "answers")));
        if let Some((other, _)) = clash {
            cx.error(
                "invalid-value",
                ro.child(a),
                format!("a route with `{a}` cannot also have `{other}`"),
                Some(
                    "a rule either routes, redirects or answers directly: split it into two routes with matches".into(),
                ),
            );
            return None;
        }
        return Some(Vec::new());
    }
    let own = |subset: Option<String>, weight: Option<u32>| Destination {
        target: Target::Own,
        subset,
        port: None,
        weight,
        headers: None,
    };
    let out = match (&r.split, &r.subset, &r.to) {
        (Some(split), _, _) => {
            for s in split.keys() {
                check_subset(cx, scope, s, ro.child("split").child(s).key());
            }
            weights(cx, split.iter().map(|(s, w)| (ro.child("split").child(s), Some(*w))), &ro.child("split"));
            split.iter().map(|(s, w)| own(Some(s.clone()), Some(*w))).collect()
        }
        (None, Some(s), _) => {
            check_subset(cx, scope, s, ro.child("subset"));
            vec![own(Some(s.clone()), None)]
        }
        (None, None, Some(to)) => {
            let to_at = ro.child("to");
            if to.is_empty() {
                cx.error("missing-field", to_at.clone(), "`to` names no destination", None);
            }
            let list: Vec<Destination> =
                to.iter().enumerate().map(|(i, d)| destination(cx, d, scope, &to_at.index(i))).collect();
            if list.len() > 1 {
                for (i, d) in list.iter().enumerate() {
                    if d.weight.is_none() {
                        cx.error(
                            "missing-field",
                            to_at.index(i).child("weight"),
                            "with several destinations, each needs a `weight`",
                            Some("weights are relative, e.g. 90 and 10".into()),
                        );
                    }
                }
                weights(cx, list.iter().enumerate().map(|(i, d)| (to_at.index(i).child("weight"), d.weight)), &to_at);
            }
            list
        }
        (None, None, None) => vec![own(None, None)],
    };
    Some(out)
}

/// Split weights as Istio counts them: not all zero, each and their sum 32-bit signed.
fn weights(cx: &mut Checker<'_>, ws: impl Iterator<Item = (Origin, Option<u32>)>, at: &Origin) {
    let ws: Vec<(Origin, u32)> = ws.map(|(o, w)| (o, w.unwrap_or(0))).collect();
    if ws.is_empty() || ws.iter().all(|(_, w)| *w == 0) {
        cx.error(
            "split-all-zero",
            at.clone(),
            "every weight of this split is 0",
            Some("Istio rejects a split whose weights add up to 0; give the destinations that should get traffic a weight".into()),
        );
    }
    if ws.iter().map(|(_, w)| u64::from(*w)).sum::<u64>() > i32::MAX as u64 {
        cx.error(
            "invalid-value",
            at.clone(),
            "the weights of this split add up to more than Istio can count",
            Some("weights are relative; write them as percentages".into()),
        );
    }
    for (o, w) in ws.iter().filter(|(_, w)| *w > i32::MAX as u32) {
        cx.error(
            "invalid-value",
            o.clone(),
            format!("weight {w} is above Istio's limit of {}", i32::MAX),
            Some("weights are relative; write them as percentages".into()),
        );
    }
}

/// The host a destination or mirror names: `service`, `host` or neither (the own host).
fn target(cx: &mut Checker<'_>, service: &Option<String>, host: &Option<String>, at: &Origin) -> Target {
    match (service, host) {
        (Some(_), Some(_)) => {
            cx.error(
                "invalid-value",
                at.clone(),
                "a destination names both `service` and `host`",
                Some("use `service` for an entity of the inventory, `host` for any other host".into()),
            );
            Target::Own
        }
        (Some(s), None) => Target::Entity(s.clone()),
        (None, Some(h)) => {
            cx.host(h, false, &at.child("host"));
            Target::Host(h.clone())
        }
        (None, None) => Target::Own,
    }
}

fn destination(cx: &mut Checker<'_>, d: &RawDestination, scope: &Scope<'_>, at: &Origin) -> Destination {
    let target = target(cx, &d.service, &d.host, at);
    if let (Target::Own, Some(s)) = (&target, &d.subset) {
        check_subset(cx, scope, s, at.child("subset"));
    }
    if let Some(p) = d.port {
        cx.port_number(p, &at.child("port"));
        if target == Target::Own && !scope.ports.iter().any(|q| q.number == p) {
            cx.error("unknown-port", at.child("port"), format!("the {} has no port {p}", scope.what), None);
        }
    }
    if let Some(w) = d.weight
        && w > i32::MAX as u32
    {
        cx.error(
            "invalid-value",
            at.child("weight"),
            format!("weight {w} is above Istio's limit of {}", i32::MAX),
            None,
        );
    }
    if let Some(h) = &d.headers {
        headers(cx, h, &at.child("headers"));
    }
    Destination {
        target,
        subset: d.subset.clone(),
        port: d.port,
        weight: d.weight,
        headers: d.headers.clone().map(Box::new),
    }
}

fn mirror(cx: &mut Checker<'_>, m: &RawMirror, scope: &Scope<'_>, at: &Origin) -> Mirror {
    let target = target(cx, &m.service, &m.host, at);
    if let (Target::Own, Some(s)) = (&target, &m.subset) {
        check_subset(cx, scope, s, at.child("subset"));
    }
    if let Some(p) = m.percentage {
        cx.percent(p, &at.child("percentage"));
    }
    if let Some(p) = m.port {
        cx.port_number(p, &at.child("port"));
    }
    Mirror { target, subset: m.subset.clone(), port: m.port, percentage: m.percentage }
}

/// What only HTTP rules have: on an entity without HTTP ports, or in a TCP/TLS rule, it is
/// an error; and Istio's own exclusions between them.
fn http_features(cx: &mut Checker<'_>, r: &RawRoute, scope: &Scope<'_>, stream: bool, ro: &Origin) {
    let features = [
        ("timeout", r.timeout.is_some()),
        ("retries", r.retries.is_some()),
        ("fault", r.fault.is_some()),
        ("mirror", r.mirror.is_some()),
        ("rewrite", r.rewrite.is_some()),
        ("headers", r.headers.is_some()),
        ("corsPolicy", r.cors_policy.is_some()),
        ("redirect", r.redirect.is_some()),
        ("directResponse", r.direct_response.is_some()),
    ];
    let used: Vec<&str> = features.iter().filter(|(_, s)| *s).map(|(f, _)| *f).collect();
    let has_http = scope.ports.iter().any(|p| p.protocol.is_http());
    if let Some(f) = used.first() {
        if stream {
            cx.error(
                "invalid-value",
                ro.child(f),
                format!(
                    "`{f}` is for HTTP rules, and this route matches `sniHosts` or `destinationSubnets` (TCP and TLS)"
                ),
                Some("split the route: one for the TCP/TLS match, one for HTTP".into()),
            );
        } else if !has_http {
            cx.error("invalid-value", ro.clone(), format!("this route uses HTTP features but the {} has no HTTP port", scope.what), Some("matches, timeouts, retries, faults, mirrors, rewrites, headers, CORS, redirects and direct responses need an HTTP, HTTP2, GRPC or GRPC-WEB port".into()));
        }
    }
    if r.matches.is_some() && !stream && !has_http {
        cx.error("invalid-value", ro.child("match"), format!("request matches need an HTTP port, and the {} has none", scope.what), Some("on TCP and TLS ports, match `sniHosts`, `destinationSubnets`, `port`, `sourceLabels` or `sourceNamespace` with one of the first two".into()));
    }
    if let Some(t) = &r.timeout {
        cx.duration(t, &ro.child("timeout"));
    }
    if let Some(rt) = &r.retries {
        cx.retries(rt, &ro.child("retries"));
    }
    if let Some(f) = &r.fault {
        cx.fault(f, &ro.child("fault"));
    }
    if let Some(rw) = &r.rewrite {
        let rwo = ro.child("rewrite");
        if rw.uri.is_none() && rw.authority.is_none() && rw.uri_regex_rewrite.is_none() {
            cx.error("invalid-value", rwo.clone(), "rewrite sets none of `uri`, `uriRegexRewrite`, `authority`", None);
        }
        if rw.uri.is_some() && rw.uri_regex_rewrite.is_some() {
            cx.error(
                "invalid-value",
                rwo.child("uriRegexRewrite"),
                "`uri` and `uriRegexRewrite` exclude each other",
                None,
            );
        }
        for (f, v) in [("uri", &rw.uri), ("authority", &rw.authority)] {
            if v.as_deref() == Some("") {
                cx.error(
                    "invalid-value",
                    rwo.child(f),
                    format!("an empty `{f}` rewrite"),
                    Some("write the replacement, or leave the field out".into()),
                );
            }
        }
        if let Some(re) = &rw.uri_regex_rewrite {
            regex(cx, &re.pattern, &rwo.child("uriRegexRewrite").child("match"));
        }
        if r.redirect.is_some() {
            cx.error(
                "invalid-value",
                rwo,
                "a redirect cannot be combined with `rewrite`",
                Some("put the new path in `redirect.uri`".into()),
            );
        }
    }
    // A redirect or a direct response never reaches an upstream: these would do nothing.
    if let Some(answer) =
        [("redirect", r.redirect.is_some()), ("directResponse", r.direct_response.is_some())].iter().find(|(_, s)| *s)
    {
        for f in ["timeout", "retries", "fault", "mirror"] {
            if used.contains(&f) {
                cx.error(
                    "invalid-value",
                    ro.child(f),
                    format!("`{f}` does nothing on a route with `{}`, which never reaches an upstream", answer.0),
                    Some(format!("remove `{f}`")),
                );
            }
        }
    }
    if let Some(h) = &r.headers {
        headers(cx, h, &ro.child("headers"));
    }
    if let Some(c) = &r.cors_policy {
        cors(cx, c, &ro.child("corsPolicy"));
    }
    if let Some(rd) = &r.redirect {
        redirect(cx, rd, &ro.child("redirect"));
    }
    if let Some(d) = &r.direct_response {
        direct_response(cx, d, &ro.child("directResponse"));
    }
}

fn match_request(cx: &mut Checker<'_>, m: &HttpMatch, scope: &Scope<'_>, stream: bool, mo: &Origin) {
    for (f, sm) in [("uri", &m.uri), ("scheme", &m.scheme), ("method", &m.method), ("authority", &m.authority)] {
        if let Some(sm) = sm {
            cx.string_match(sm, &mo.child(f));
        }
    }
    for (f, map) in [("headers", &m.headers), ("withoutHeaders", &m.without_headers), ("queryParams", &m.query_params)]
    {
        for (k, sm) in map.iter().flatten() {
            cx.string_match(sm, &mo.child(f).child(k));
            if f != "queryParams" && !header_name(k) {
                cx.error(
                    "invalid-value",
                    mo.child(f).child(k).key(),
                    format!("`{}` is not a valid header name", shown(k)),
                    Some("header names are HTTP tokens, e.g. `x-user`".into()),
                );
            }
        }
    }
    if let Some(p) = m.port
        && !scope.ports.iter().any(|q| q.number == p)
    {
        cx.error("unknown-port", mo.child("port"), format!("the {} has no port {p}", scope.what), None);
    }
    if let Some(l) = &m.source_labels {
        cx.labels(l, &mo.child("sourceLabels"));
    }
    if let Some(ns) = &m.source_namespace {
        cx.namespace(ns, &mo.child("sourceNamespace"));
    }
    if !stream {
        return;
    }
    // A TCP/TLS rule matches on what the connection carries: none of the request's fields.
    let request = [
        ("name", m.name.is_some()),
        ("uri", m.uri.is_some()),
        ("scheme", m.scheme.is_some()),
        ("method", m.method.is_some()),
        ("authority", m.authority.is_some()),
        ("headers", m.headers.is_some()),
        ("withoutHeaders", m.without_headers.is_some()),
        ("queryParams", m.query_params.is_some()),
        ("ignoreUriCase", m.ignore_uri_case.is_some()),
    ];
    for (f, _) in request.iter().filter(|(_, s)| *s) {
        cx.error(
            "invalid-value",
            mo.child(f),
            format!(
                "`{f}` is an HTTP request match, and this route is a TCP/TLS one (`sniHosts`, `destinationSubnets`)"
            ),
            None,
        );
    }
    for (i, h) in m.sni_hosts.iter().flatten().enumerate() {
        cx.host(h, true, &mo.child("sniHosts").index(i));
    }
    if m.sni_hosts.is_some() && !scope.ports.iter().any(|p| p.protocol.is_tls()) {
        cx.error(
            "invalid-value",
            mo.child("sniHosts"),
            format!("`sniHosts` match TLS traffic, and the {} has no HTTPS or TLS port", scope.what),
            None,
        );
    }
    for (i, s) in m.destination_subnets.iter().flatten().enumerate() {
        cx.ip_or_cidr(s, &mo.child("destinationSubnets").index(i));
    }
}

/// An HTTP header name: a token of RFC 9110.
fn header_name(k: &str) -> bool {
    !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn regex(cx: &mut Checker<'_>, r: &str, o: &Origin) {
    if r.is_empty() || r.len() > 1024 {
        cx.error("invalid-value", o.clone(), "regex must be 1–1024 characters", None);
    } else if let Err(e) = crate::crd::re2_compile(r) {
        cx.error(
            "invalid-value",
            o.clone(),
            format!("`{}` is not an RE2 regular expression: {e}", shown(r)),
            Some("Envoy uses RE2: no look-around, no backreferences, repetition counts up to 1000".into()),
        );
    }
}

/// Header names and values Envoy accepts: tokens, and values without line breaks.
fn headers(cx: &mut Checker<'_>, h: &Headers, o: &Origin) {
    for (side, ops) in [("request", &h.request), ("response", &h.response)] {
        let Some(ops) = ops else { continue };
        let so = o.child(side);
        for (f, map) in [("set", &ops.set), ("add", &ops.add)] {
            for (k, v) in map.iter().flatten() {
                if !header_name(k) {
                    cx.error(
                        "invalid-value",
                        so.child(f).child(k).key(),
                        format!("`{}` is not a valid header name", shown(k)),
                        Some("header names are HTTP tokens, e.g. `x-user`".into()),
                    );
                }
                if v.chars().any(|c| c == '\r' || c == '\n' || c == '\0') {
                    cx.error(
                        "invalid-value",
                        so.child(f).child(k),
                        "a header value cannot hold line breaks or NUL",
                        None,
                    );
                }
            }
        }
        for (i, k) in ops.remove.iter().flatten().enumerate() {
            if !header_name(k) {
                cx.error(
                    "invalid-value",
                    so.child("remove").index(i),
                    format!("`{}` is not a valid header name", shown(k)),
                    None,
                );
            }
        }
    }
}

fn cors(cx: &mut Checker<'_>, c: &CorsPolicy, o: &Origin) {
    for (i, m) in c.allow_origins.iter().flatten().enumerate() {
        cx.string_match(m, &o.child("allowOrigins").index(i));
    }
    for (f, list) in
        [("allowMethods", &c.allow_methods), ("allowHeaders", &c.allow_headers), ("exposeHeaders", &c.expose_headers)]
    {
        for (i, v) in list.iter().flatten().enumerate() {
            if !header_name(v) && v != "*" {
                cx.error(
                    "invalid-value",
                    o.child(f).index(i),
                    format!("`{}` is not a method or header name", shown(v)),
                    None,
                );
            }
        }
    }
    if let Some(d) = &c.max_age {
        cx.duration(d, &o.child("maxAge"));
    }
    if let Some(u) = &c.unmatched_preflights {
        cx.one_of("unmatchedPreflights", u, &["FORWARD", "IGNORE"], &o.child("unmatchedPreflights"));
    }
}

fn redirect(cx: &mut Checker<'_>, r: &Redirect, o: &Origin) {
    if r.port.is_some() && r.derive_port.is_some() {
        cx.error("invalid-value", o.child("derivePort"), "`port` and `derivePort` exclude each other", None);
    }
    if let Some(p) = r.port {
        cx.port_number(p, &o.child("port"));
    }
    if let Some(d) = &r.derive_port {
        cx.one_of("derivePort", d, &["FROM_PROTOCOL_DEFAULT", "FROM_REQUEST_PORT"], &o.child("derivePort"));
    }
    // Envoy's redirect codes.
    if let Some(c) = r.redirect_code
        && ![301, 302, 303, 307, 308].contains(&c)
    {
        cx.error(
            "invalid-value",
            o.child("redirectCode"),
            format!("{c} is not a redirect code"),
            Some("use 301, 302, 303, 307 or 308".into()),
        );
    }
    if [&r.uri, &r.authority, &r.scheme].iter().all(|v| v.is_none()) && r.port.is_none() && r.derive_port.is_none() {
        cx.error(
            "invalid-value",
            o.clone(),
            "a redirect changes nothing",
            Some("set `uri`, `authority`, `scheme` or `port`".into()),
        );
    }
}

fn direct_response(cx: &mut Checker<'_>, d: &DirectResponse, o: &Origin) {
    if !(200..=599).contains(&d.status) {
        cx.error("invalid-value", o.child("status"), format!("status {} is outside 200–599", d.status), None);
    }
    if let Some(b) = &d.body
        && b.string.is_some() == b.bytes.is_some()
    {
        cx.error("invalid-value", o.child("body"), "a body is exactly one of `string` or `bytes`", None);
    }
}
