//! Routing rules of services and external APIs, validated the same way for both: where each
//! rule sends traffic (subsets, other entities, any host), what it matches, and what Istio
//! would refuse in an HTTP, TCP or TLS rule. Targets that name other entities are checked
//! by the check stage, which sees the whole inventory.

use super::http::{CorsPolicy, DirectResponse, Headers, Redirect};
use super::names;
use super::raw::{HttpMatch, RawDestination, RawMirror, RawRoute};
use super::validate::{Checker, Place, shown};
use super::{Destination, HttpExtras, Mirror, Port, Route, Subset, Target};
use crate::diag::suggest::hint;
use crate::diag::{Diagnostic, Origin};

/// What the routes belong to.
pub(super) struct Scope<'a> {
    /// The entity's subsets (none for an external API).
    pub subsets: &'a [Subset],
    /// The entity's ports.
    pub ports: &'a [Port],
    /// The entity's kind, for messages: `service` or `API`.
    pub what: &'static str,
}

/// Validates the routes of the entity at `entity`; a route with errors is left out (its
/// errors are reported).
pub(super) fn routes(cx: &mut Checker<'_>, raw: Vec<RawRoute>, scope: &Scope<'_>, entity: &Origin) -> Vec<Route> {
    // Most entities write no routes: their `routes` origin is not made.
    if raw.is_empty() {
        return Vec::new();
    }
    let origin = entity.child("routes");
    // At most one route per rule written: a route is 200 bytes, and pushing two into an
    // empty vector reserves four.
    let mut out = Vec::with_capacity(raw.len());
    // Each rule is checked as written, then its parts move into the route.
    for (i, mut r) in raw.into_iter().enumerate() {
        let ro = origin.index(i);
        let before = cx.errors();
        let Some(destinations) = destinations(cx, &r, scope, &ro) else { continue };
        let stream = r.matches.iter().flatten().any(|m| m.sni_hosts.is_some() || m.destination_subnets.is_some());
        http_features(cx, &r, scope, stream, &ro);
        let mut matches = r.matches.take().unwrap_or_default();
        // Kept in the model: without the room the reader grew the list by (a copy, as the
        // rule's match used to be, was exactly its size).
        matches.shrink_to_fit();
        for (j, m) in matches.iter_mut().enumerate() {
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
        let weights_at = if r.to.is_some() { "to" } else { "split" };
        let extras = HttpExtras {
            headers: r.headers.map(|h| *h),
            cors_policy: r.cors_policy.map(|c| *c),
            redirect: r.redirect.map(|d| *d),
            direct_response: r.direct_response.map(|d| *d),
        };
        out.push(Route {
            name: r.name,
            matches,
            destinations,
            weights_at,
            timeout: r.timeout,
            retries: r.retries,
            fault: r.fault,
            mirror: mirror.map(Box::new),
            rewrite: r.rewrite,
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

fn check_subset(cx: &mut Checker<'_>, scope: &Scope<'_>, s: &str, at: &dyn Place) {
    if !scope.subsets.iter().any(|known| known.name == s) {
        let names: Vec<&str> = scope.subsets.iter().map(|s| s.name.as_str()).collect();
        let help = hint(s, "subsets", &names).or_else(|| {
            Some(if scope.subsets.is_empty() && scope.what == "API" {
                "an external API has no subsets; name another entity's subset with `to: [{service: …, subset: …}]`"
                    .into()
            } else {
                "subsets come from the VMs' `version` labels or from `subsets`".into()
            })
        });
        cx.error("unknown-subset", at.origin(), format!("route sends traffic to unknown subset `{}`", shown(s)), help);
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
                check_subset(cx, scope, s, &ro.at("split").at(s).as_key());
            }
            weights(cx, split.iter().map(|(s, w)| (ro.child("split").child(s), Some(*w))), &ro.child("split"));
            split.iter().map(|(s, w)| own(Some(s.clone()), Some(*w))).collect()
        }
        (None, Some(s), _) => {
            check_subset(cx, scope, s, &ro.at("subset"));
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
        (None, Some(h)) => Target::Host(cx.host(h, false, &at.child("host")).unwrap_or_else(|| h.clone())),
        (None, None) => Target::Own,
    }
}

fn destination(cx: &mut Checker<'_>, d: &RawDestination, scope: &Scope<'_>, at: &Origin) -> Destination {
    let target = target(cx, &d.service, &d.host, at);
    if let (Target::Own, Some(s)) = (&target, &d.subset) {
        check_subset(cx, scope, s, &at.at("subset"));
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
        check_subset(cx, scope, s, &at.at("subset"));
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
    let has_http = scope.ports.iter().any(|p| p.protocol.is_http());
    if let Some((f, _)) = features.iter().find(|(_, s)| *s) {
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
            if features.iter().any(|&(used, set)| set && used == f) {
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
    authority_once(cx, r, ro);
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

fn match_request(cx: &mut Checker<'_>, m: &mut HttpMatch, scope: &Scope<'_>, stream: bool, mo: &Origin) {
    let boxed = [("scheme", &m.scheme), ("method", &m.method), ("authority", &m.authority)];
    let optional = boxed.into_iter().map(|(f, sm)| (f, sm.as_deref()));
    for (f, sm) in [("uri", m.uri.as_ref())].into_iter().chain(optional) {
        if let Some(sm) = sm {
            cx.string_match(sm, &mo.child(f));
        }
    }
    let maps = [("headers", m.headers.as_ref()), ("withoutHeaders", m.without_headers.as_deref())];
    for (f, map) in maps.into_iter().chain([("queryParams", m.query_params.as_deref())]) {
        for (k, sm) in map.into_iter().flatten() {
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
    // VS-50: a TLS match names at least one SNI host; an empty `destinationSubnets`
    // would match every address (and `sniHosts: []` no connection at all).
    for (f, list) in [("sniHosts", &m.sni_hosts), ("destinationSubnets", &m.destination_subnets)] {
        if list.as_ref().is_some_and(|l| l.is_empty()) {
            let (why, what) = if f == "sniHosts" {
                ("Istio refuses a TLS match without an SNI name", "SNI names")
            } else {
                ("it would match every address", "IPs or CIDRs")
            };
            cx.error(
                "invalid-value",
                mo.child(f),
                format!("`{f}` is empty: {why}"),
                Some(format!("list the {what} to match, or remove `{f}`")),
            );
        }
    }
    for (i, h) in m.sni_hosts.iter_mut().flat_map(|l| l.iter_mut()).enumerate() {
        if let Some(lower) = cx.host(h, true, &mo.child("sniHosts").index(i)) {
            *h = lower;
        }
    }
    if m.sni_hosts.is_some() && !scope.ports.iter().any(|p| p.protocol.is_tls()) {
        cx.error(
            "invalid-value",
            mo.child("sniHosts"),
            format!("`sniHosts` match TLS traffic, and the {} has no HTTPS or TLS port", scope.what),
            None,
        );
    }
    for (i, s) in m.destination_subnets.iter().flat_map(|l| l.iter()).enumerate() {
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
    } else if let Err(e) = crate::formats::re2::compile(r) {
        cx.error(
            "invalid-value",
            o.clone(),
            format!("`{}` is not an RE2 regular expression: {e}", shown(r)),
            Some("Envoy uses RE2: no look-around, no backreferences, repetition counts up to 1000".into()),
        );
    }
}

/// Header changes Istio's webhook accepts (VS-25, VS-26, VS-27, VS-48): names that are
/// HTTP tokens and that Istio lets a route change, values Envoy's header formatter reads.
fn headers(cx: &mut Checker<'_>, h: &Headers, o: &Origin) {
    for (side, ops) in [("request", &h.request), ("response", &h.response)] {
        let Some(ops) = ops else { continue };
        let so = o.child(side);
        for (f, map) in [("set", &ops.set), ("add", &ops.add)] {
            for (k, v) in map.iter().flatten() {
                let at = so.child(f).child(k);
                header_op_name(cx, k, side, f, at.clone().key());
                if let Err((why, help)) = header_value(v) {
                    cx.error("invalid-value", at, format!("header value `{}` {why}", shown(v)), Some(help.into()));
                }
            }
        }
        for (i, k) in ops.remove.iter().flatten().enumerate() {
            header_op_name(cx, k, side, "remove", so.child("remove").index(i));
        }
    }
}

/// A header name a route may change (`op`: `set`, `add` or `remove`, on `side`: `request`
/// or `response`). Istio lets the request's `set` and `add` name `host` or `:authority`
/// (both rewrite the authority) but no other pseudo-header; the request's `remove` and
/// every response change name neither `host` nor a pseudo-header.
fn header_op_name(cx: &mut Checker<'_>, k: &str, side: &str, op: &str, at: Origin) {
    let verb = if op == "remove" { "remove" } else { "set" };
    let writes_request = side == "request" && op != "remove";
    if writes_request && authority_header(k) {
        return;
    }
    if k.starts_with(':') {
        let help = if writes_request {
            "of the pseudo-headers only `:authority` may be set; change the path with `rewrite.uri`, the authority with `rewrite.authority`"
        } else {
            "Envoy owns the pseudo-headers (`:authority`, `:path`, `:method`, `:scheme`, `:status`): remove the entry"
        };
        cx.error(
            "invalid-value",
            at,
            format!("a route cannot {verb} the pseudo-header `{}`: Istio refuses a `:` prefix here", shown(k)),
            Some(help.into()),
        );
    } else if k.eq_ignore_ascii_case("host") {
        let (msg, help) = if side == "request" {
            (
                format!("a route cannot remove `{}`: Istio refuses it, as every request has an authority", shown(k)),
                "remove the entry; to change the authority, use `rewrite.authority`",
            )
        } else {
            (
                format!("a route cannot {verb} `{}` in a response: Istio refuses it", shown(k)),
                "`host` is a request header: set it in `headers.request.set` (or use `rewrite.authority`), or remove the entry",
            )
        };
        cx.error("invalid-value", at, msg, Some(help.into()));
    } else if !header_name(k) {
        cx.error(
            "invalid-value",
            at,
            format!("`{}` is not a valid header name", shown(k)),
            Some("header names are HTTP tokens, e.g. `x-user`".into()),
        );
    }
}

/// `host` or `:authority` (any case, as Istio compares them): setting either rewrites the
/// request's authority.
fn authority_header(k: &str) -> bool {
    k.eq_ignore_ascii_case("host") || k.eq_ignore_ascii_case(":authority")
}

/// Why Istio refuses a header value (C-16, a port of its `validateHeaderValue`, itself
/// Envoy's header formatter parser): a control character other than tab, or a `%` that is
/// neither `%%` nor part of a well-formed `%VARIABLE%` or `%VARIABLE(arguments)%`. What is
/// inside the `%…%` is not checked, as Istio does not. The error is the reason and a fix.
fn header_value(v: &str) -> Result<(), (String, &'static str)> {
    const PERCENT: &str = "write `%%` for a literal `%` (e.g. `100%%`); a single `%` starts an Envoy variable such as `%HOSTNAME%` or `%REQ(x-user)%`";
    if v.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err((
            "holds a control character (a line break, NUL, …), which Istio refuses".into(),
            "write the value on one line, without control characters (a tab is allowed)",
        ));
    }
    #[derive(PartialEq)]
    enum State {
        Literal,
        Name,
        ExpectArray,
        ExpectString,
        InString,
        ExpectDelimiter,
        ExpectArgsEnd,
        ExpectEnd,
    }
    let malformed = |what: &str| {
        Err((
            format!("has a malformed `%VARIABLE(…)%`: {what}"),
            "arguments are one word, `%REQ(x-user)%`, or a JSON array of strings, `%UPSTREAM_METADATA([\"istio\", \"x\"])%`; write `%%` for a literal `%`",
        ))
    };
    let b = v.as_bytes();
    let mut state = State::Literal;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match state {
            State::Literal if c == b'%' => match b.get(i + 1) {
                None => return Err(("ends with an un-escaped `%`, which Istio refuses".into(), PERCENT)),
                Some(b'%') => i += 1,
                Some(_) => state = State::Name,
            },
            State::Literal => {}
            State::Name if c == b'%' => state = State::Literal,
            State::Name if c == b'(' => state = State::ExpectArray,
            State::Name => {}
            State::ExpectArray if c == b'[' => state = State::ExpectString,
            State::ExpectArray if c != b' ' => state = State::InString,
            State::ExpectArray => {}
            State::ExpectDelimiter if c == b',' => state = State::ExpectString,
            State::ExpectDelimiter if c == b']' => state = State::ExpectArgsEnd,
            State::ExpectDelimiter if c != b' ' => return malformed("expected `,` or `]`"),
            State::ExpectDelimiter => {}
            State::ExpectString if c == b'"' => state = State::InString,
            State::ExpectString if c != b' ' => return malformed("expected a `\"`"),
            State::ExpectString => {}
            State::InString if c == b'\\' => {
                if i + 1 == b.len() {
                    return malformed("a `\\` ends the value");
                }
                i += 1;
            }
            State::InString if c == b')' => state = State::ExpectEnd,
            State::InString if c == b'"' => state = State::ExpectDelimiter,
            State::InString => {}
            State::ExpectArgsEnd if c == b')' => state = State::ExpectEnd,
            State::ExpectArgsEnd if c != b' ' => return malformed("expected `)` after the arguments"),
            State::ExpectArgsEnd => {}
            State::ExpectEnd if c == b'%' => state = State::Literal,
            State::ExpectEnd if c != b' ' => return malformed("expected the closing `%`"),
            State::ExpectEnd => {}
        }
        i += 1;
    }
    if state != State::Literal {
        return Err((
            "has an un-escaped `%`: Envoy reads it as a variable that is never closed, and Istio refuses it".into(),
            PERCENT,
        ));
    }
    Ok(())
}

/// Istio sets the authority once (VS-28): `rewrite.authority`, and `host` or `:authority`
/// in the request's `set` and `add`, are one setting written in two places.
fn authority_once(cx: &mut Checker<'_>, r: &RawRoute, ro: &Origin) {
    let mut setters: Vec<(Origin, String)> = Vec::new();
    if r.rewrite.as_ref().is_some_and(|w| w.authority.is_some()) {
        setters.push((ro.child("rewrite").child("authority"), "`rewrite.authority`".into()));
    }
    let request = r.headers.as_ref().and_then(|h| h.request.as_ref());
    for (f, map) in request.iter().flat_map(|q| [("set", &q.set), ("add", &q.add)]) {
        for k in map.iter().flatten().map(|(k, _)| k).filter(|k| authority_header(k)) {
            let at = ro.child("headers").child("request").child(f).child(k).key();
            setters.push((at, format!("`headers.request.{f}.{k}`")));
        }
    }
    if let [(first_at, first), (at, second), ..] = setters.as_slice() {
        cx.push(
            Diagnostic::error(
                "invalid-value",
                at.clone(),
                format!("the authority is set twice, by {first} and by {second}, which Istio refuses"),
            )
            .related(first_at.clone(), "set here first")
            .help("keep one of them: `rewrite.authority`, or `host` in `headers.request.set`"),
        );
    }
}

fn cors(cx: &mut Checker<'_>, c: &CorsPolicy, o: &Origin) {
    for (i, m) in c.allow_origins.iter().flatten().enumerate() {
        cx.string_match(m, &o.child("allowOrigins").index(i));
    }
    // VS-30: the methods Istio knows, as Go spells them (upper case), or `*`.
    const METHODS: [&str; 10] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE", "*"];
    for (i, m) in c.allow_methods.iter().flatten().enumerate() {
        if !METHODS.contains(&m.as_str()) {
            let upper = m.to_ascii_uppercase();
            let help = if METHODS.contains(&upper.as_str()) {
                Some(format!("write it in upper case, `{upper}`: Istio compares methods case-sensitively"))
            } else {
                hint(m, "methods", &METHODS)
            };
            cx.error(
                "invalid-value",
                o.child("allowMethods").index(i),
                format!("`{}` is not an HTTP method Istio allows in `allowMethods`", shown(m)),
                help,
            );
        }
    }
    for (f, list) in [("allowHeaders", &c.allow_headers), ("exposeHeaders", &c.expose_headers)] {
        for (i, v) in list.iter().flatten().enumerate() {
            if !header_name(v) && v != "*" {
                cx.error(
                    "invalid-value",
                    o.child(f).index(i),
                    format!("`{}` is not a header name", shown(v)),
                    Some("header names are HTTP tokens, e.g. `x-user`, or `*` for any".into()),
                );
            }
        }
    }
    // VS-32: a duration as everywhere, and whole seconds (Envoy's max age counts seconds).
    if let Some(d) = &c.max_age
        && cx.duration(d, &o.child("maxAge"))
        && names::parse_duration(d).is_ok_and(|ns| ns % 1_000_000_000 != 0)
    {
        cx.error(
            "invalid-value",
            o.child("maxAge"),
            format!("`maxAge` `{}` is not a whole number of seconds, which Istio refuses", shown(d)),
            Some("write whole seconds, e.g. `2s`, `10m` or `24h`".into()),
        );
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
    // VS-41: Istio takes the scheme in lower case, and only these two.
    if let Some(s) = &r.scheme
        && s != "http"
        && s != "https"
    {
        let lower = s.to_ascii_lowercase();
        let help = if lower == "http" || lower == "https" {
            format!("write it in lower case: `{lower}`")
        } else {
            "use `http` or `https`, or leave `scheme` out to keep the request's".into()
        };
        cx.error(
            "invalid-value",
            o.child("scheme"),
            format!("redirect scheme `{}` is not `http` or `https`, which Istio refuses", shown(s)),
            Some(help),
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
