//! Syntax of the values that end up in Istio objects: names, hosts, addresses, labels,
//! durations, localities. Each check mirrors what Istio or Kubernetes enforce (see
//! `istio-rules.md` §1), so that the API server and istiod never see a value they refuse.

use std::net::IpAddr;

/// A DNS-1123 label as Kubernetes requires for namespaces and as meshgen requires for entity
/// names (they become object names and file names): lowercase, ≤63 characters.
pub fn dns_label(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    if s.len() > 63 {
        return Err(format!("is {} characters long, the limit is 63", s.len()));
    }
    let ok_chars = s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let ok_ends = !s.starts_with('-') && !s.ends_with('-');
    if !ok_chars || !ok_ends {
        return Err(
            "must consist of lowercase letters, digits and `-`, and start and end with a letter or digit".into()
        );
    }
    Ok(())
}

/// A DNS-1123 subdomain (Kubernetes object names): dot-separated labels, ≤253 characters.
pub fn dns_subdomain(s: &str) -> Result<(), String> {
    // Every object name of a build is checked (77,000 at 10,000 services): one pass over the
    // bytes settles the valid ones; the rest are worded by the checks below.
    if dns_subdomain_ok(s.as_bytes()) {
        return Ok(());
    }
    if s.len() > 253 {
        return Err(format!("is {} characters long, the limit is 253", s.len()));
    }
    // Split by byte: a `char` pattern costs more than the check of each short label.
    for label in s.as_bytes().split(|&b| b == b'.') {
        if dns_label_ok(label) {
            continue;
        }
        // A part that is not a label is reported as `dns_label` words it; `.` is ASCII, so
        // the parts are whole characters.
        let label = String::from_utf8_lossy(label);
        dns_label(&label).map_err(|e| format!("has a part `{label}` that {e}"))?;
    }
    Ok(())
}

/// Whether `s` is a DNS-1123 subdomain ([`dns_subdomain`] without the message): at most 253
/// bytes of labels ([`dns_label_ok`]) joined by dots, in one pass.
fn dns_subdomain_ok(s: &[u8]) -> bool {
    // Nearly every object name is one label (`web-10-0-1-11`): letters, digits and `-`
    // throughout, tested without a branch per byte; only the ends are then left to look
    // at. Anything else takes the pass below.
    let label_byte = |b: u8| (b.wrapping_sub(b'a') < 26) | (b.wrapping_sub(b'0') < 10) | (b == b'-');
    if !s.is_empty() && s.len() <= 63 && s.iter().fold(true, |ok, &b| ok & label_byte(b)) {
        return s[0] != b'-' && s[s.len() - 1] != b'-';
    }
    if s.is_empty() || s.len() > 253 {
        return false;
    }
    // The byte before the current one, a dot before the first: a label starts after a dot.
    let mut previous = b'.';
    let mut label_start = 0;
    for (i, &b) in s.iter().enumerate() {
        match b {
            b'a'..=b'z' | b'0'..=b'9' => {}
            b'-' if previous != b'.' => {}
            b'.' if previous != b'.' && previous != b'-' && i - label_start <= 63 => label_start = i + 1,
            _ => return false,
        }
        previous = b;
    }
    previous != b'-' && previous != b'.' && s.len() - label_start <= 63
}

/// Whether `s` is a DNS-1123 label ([`dns_label`] without the message).
fn dns_label_ok(s: &[u8]) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && s[0] != b'-'
        && s[s.len() - 1] != b'-'
}

/// A port or subset name: a DNS-1123 label of at most 62 characters. Istio accepts upper
/// case, but the CRD's CEL rule for endpoint port maps needs `size < 63`, and lowercase keeps
/// names consistent with Kubernetes.
pub fn port_name(s: &str) -> Result<(), String> {
    dns_label(s)?;
    if s.len() > 62 {
        return Err("is 63 characters long, the limit is 62".into());
    }
    Ok(())
}

fn host_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

/// A host name, optionally with a leading wildcard label (`*.example.com`), as Istio's
/// `ValidateWildcardDomain` accepts it; `*` alone, IP addresses and partial wildcards are
/// refused.
pub fn host(s: &str, allow_wildcard: bool) -> Result<(), String> {
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    if s.len() > 255 {
        return Err(format!("is {} characters long, the limit is 255", s.len()));
    }
    if s == "*" {
        return Err("`*` alone would capture every host; name the hosts".into());
    }
    if s.parse::<IpAddr>().is_ok() {
        return Err("is an IP address; hosts are DNS names (put IPs in `addresses` or `endpoints`)".into());
    }
    let name = s.strip_suffix('.').unwrap_or(s);
    let mut labels = name.split('.');
    let first = labels.next().unwrap_or_default();
    let rest: Vec<&str> = labels.collect();
    if first == "*" {
        if !allow_wildcard {
            return Err("has a wildcard, which is not allowed here".into());
        }
        if rest.is_empty() {
            return Err("`*` alone would capture every host; name the hosts".into());
        }
    } else if first.contains('*') {
        return Err("has a partial wildcard; only a whole first label `*.` is allowed".into());
    } else if !host_label(first) {
        return Err(format!("has an invalid label `{first}`"));
    }
    for l in &rest {
        if !host_label(l) {
            return Err(format!("has an invalid label `{l}`"));
        }
    }
    if let Some(last) = rest.last().or(Some(&first))
        && last.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(format!("has an all-numeric top-level label `{last}`"));
    }
    Ok(())
}

/// An IP address or a CIDR block.
pub fn ip_or_cidr(s: &str) -> Result<(), String> {
    match s.split_once('/') {
        None => s.parse::<IpAddr>().map(|_| ()).map_err(|_| "is not a valid IP address".into()),
        Some((ip, bits)) => {
            let ip: IpAddr = ip.parse().map_err(|_| "is not a valid CIDR block".to_string())?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            match bits.parse::<u8>() {
                Ok(b) if b <= max => Ok(()),
                _ => Err(format!("is not a valid CIDR block (prefix length 0–{max})")),
            }
        }
    }
}

/// What an endpoint or VM address is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressKind {
    /// An IPv4 or IPv6 address.
    Ip,
    /// A DNS name, resolved by the proxy.
    Dns,
    /// A `unix://` socket path.
    Unix,
}

/// Classifies and checks an endpoint address: an IP, a DNS name (no wildcard), or
/// `unix:///absolute/path` / `unix://@abstract`.
pub fn address(s: &str) -> Result<AddressKind, String> {
    if let Some(rest) = s.strip_prefix("unix://") {
        if rest.starts_with('@') && rest.len() > 1 {
            return Ok(AddressKind::Unix);
        }
        if !rest.starts_with('/') || rest.ends_with('/') {
            return Err("is not `unix:///absolute/path` or `unix://@abstract`".into());
        }
        return Ok(AddressKind::Unix);
    }
    if s.parse::<IpAddr>().is_ok() {
        return Ok(AddressKind::Ip);
    }
    if s.contains('/') {
        return Err("is not an IP address or DNS name (CIDRs belong in `addresses`)".into());
    }
    host(s, false).map(|_| AddressKind::Dns).map_err(|e| format!("is not an IP address or DNS name: it {e}"))
}

fn label_name(s: &str) -> bool {
    label_name_bytes(s.as_bytes())
}

/// [`label_name`] of bytes (a part of a locality, split by byte).
fn label_name_bytes(s: &[u8]) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && s[0].is_ascii_alphanumeric()
        && s[s.len() - 1].is_ascii_alphanumeric()
}

/// A Kubernetes label key: `[prefix/]name`, prefix a DNS subdomain.
pub fn label_key(s: &str) -> Result<(), String> {
    let (prefix, name) = match s.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    if let Some(p) = prefix {
        dns_subdomain(p).map_err(|e| format!("has a prefix that {e}"))?;
    }
    if !label_name(name) {
        return Err("must be at most 63 letters, digits, `-`, `_` or `.`, starting and ending with a letter or digit (with an optional `prefix/`)".into());
    }
    Ok(())
}

/// A Kubernetes label value: empty, or ≤63 letters, digits, `-`, `_`, `.`, alphanumeric at both ends.
pub fn label_value(s: &str) -> Result<(), String> {
    if s.is_empty() || label_name(s) {
        Ok(())
    } else {
        Err("must be at most 63 letters, digits, `-`, `_` or `.`, starting and ending with a letter or digit".into())
    }
}

/// An IP address or CIDR as an inclusive range of addresses, with its family (`true` for
/// IPv6); `None` when it is neither.
pub fn ip_range(a: &str) -> Option<(bool, u128, u128)> {
    let (ip, prefix) = match a.split_once('/') {
        Some((ip, p)) => (ip.parse::<IpAddr>().ok()?, Some(p.parse::<u32>().ok()?)),
        None => (a.parse::<IpAddr>().ok()?, None),
    };
    let (v6, value, bits) = match ip {
        IpAddr::V4(v) => (false, u128::from(u32::from(v)), 32),
        IpAddr::V6(v) => (true, u128::from(v), 128),
    };
    let prefix = prefix.unwrap_or(bits).min(bits);
    let host_bits = bits - prefix;
    let mask = if host_bits == 128 { u128::MAX } else { (1u128 << host_bits) - 1 };
    Some((v6, value & !mask, value | mask))
}

/// Parses a Go duration (`10s`, `1.5s`, `250ms`, `1h30m`) into nanoseconds. The value is
/// Go's own (`time.ParseDuration`, as Istio computes it, fractions included); when Go
/// refuses, `explain` says why in inventory terms. Signs are refused: no Istio duration
/// is negative.
pub fn parse_duration(s: &str) -> Result<u128, String> {
    if s.starts_with(['+', '-']) {
        return Err("must not have a sign".into());
    }
    match crate::formats::duration::parse(s) {
        Ok(ns) => Ok(u128::try_from(ns).unwrap_or_default()),
        Err(go) => Err(explain(s).unwrap_or(go)),
    }
}

/// Why Go refuses a duration, in words for the inventory's author.
fn explain(s: &str) -> Option<String> {
    if s.is_empty() {
        return Some("is empty".into());
    }
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if num_len == 0 {
            return Some("must be a number followed by a unit (`h`, `m`, `s`, `ms`, `us`, `ns`), e.g. `10s`".into());
        }
        let number = &rest[..num_len];
        if number.matches('.').count() > 1 || number == "." {
            return Some(format!("has an invalid number `{number}`"));
        }
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        match &rest[..unit_len] {
            "h" | "m" | "s" | "ms" | "us" | "µs" | "μs" | "ns" => {}
            "" => return Some("is missing a unit (`h`, `m`, `s`, `ms`), e.g. `10s`".into()),
            u => return Some(format!("has an unknown unit `{u}` (use `h`, `m`, `s`, `ms`)")),
        }
        rest = &rest[unit_len..];
    }
    // Well formed, yet refused: it overflows Go's int64 nanoseconds.
    Some("is too long (at most about 2562047h)".into())
}

/// A duration Istio accepts: at least 1ms and a whole number of milliseconds.
pub fn duration(s: &str) -> Result<(), String> {
    let ns = parse_duration(s)?;
    if ns < 1_000_000 {
        return Err("must be at least 1ms".into());
    }
    if ns % 1_000_000 != 0 {
        return Err("must be a whole number of milliseconds".into());
    }
    Ok(())
}

/// A locality `region[/zone[/subzone]]`: no empty parts, no wildcards, DNS-ish characters.
pub fn locality(s: &str) -> Result<(), String> {
    // Every VM has one, nearly always valid: a pass over the bytes says so (`str::split` by
    // a `char` was most of the cost); the message is made by the loop below.
    let bytes = s.as_bytes();
    if bytes.iter().filter(|&&b| b == b'/').count() < 3 && bytes.split(|&b| b == b'/').all(label_name_bytes) {
        return Ok(());
    }
    if s.split('/').nth(3).is_some() {
        return Err("must be `region`, `region/zone` or `region/zone/subzone`".into());
    }
    for p in s.split('/') {
        if p.is_empty() || !label_name(p) {
            return Err(format!("has an invalid part `{p}` (letters, digits, `-`, `_`, `.`)"));
        }
    }
    Ok(())
}

/// A network name (Istio's `topology.istio.io/network` label value).
pub fn network(s: &str) -> Result<(), String> {
    label_value(s).and_then(|_| if s.is_empty() { Err("must not be empty".into()) } else { Ok(()) })
}

/// Lowercases and replaces every run of characters outside `[a-z0-9]` with `-`, to derive an
/// object name from an address (`10.0.1.11` → `10-0-1-11`).
pub fn slug(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    slug_into(&mut out, s);
    out
}

/// [`slug`] of `s`, appended to `out` (a VM's name is its service's, `-` and the slug of its
/// address, made in one string).
pub fn slug_into(out: &mut String, s: &str) {
    // By bytes: every byte of a multi-byte character is outside `[a-z0-9]`, so each such
    // character becomes one `-` as before; none is written first or kept last, so the result
    // needs no trimming (and no second string).
    let start = out.len();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() {
            out.push(char::from(b.to_ascii_lowercase()));
        } else if out.len() > start && !out.ends_with('-') {
            out.push('-');
        }
    }
    if out.len() > start && out.ends_with('-') {
        out.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A slug appended after a prefix is the slug alone, appended.
    #[test]
    fn slug_into_appends_the_slug() {
        for s in ["10.0.1.11", "-a--b-", "---", "", "Vm1.Corp.Example", "é-x", "a b"] {
            let mut out = String::from("svc-");
            slug_into(&mut out, s);
            assert_eq!(out, format!("svc-{}", slug(s)), "{s:?}");
        }
    }

    #[test]
    fn durations_follow_go_exactly() {
        assert_eq!(parse_duration("1.5s"), Ok(1_500_000_000));
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000_000_000));
        assert_eq!(parse_duration(".5ms"), Ok(500_000));
        // Go truncates fractions of a nanosecond; so must we.
        assert_eq!(parse_duration("1999999.5ns"), Ok(1_999_999));
        assert_eq!(duration("999999.6ns").unwrap_err(), "must be at least 1ms");
        assert_eq!(duration("1999999.5ns").unwrap_err(), "must be a whole number of milliseconds");
        assert_eq!(duration("9999999h").unwrap_err(), "is too long (at most about 2562047h)");
        assert!(duration("2562047h").is_ok());
        assert_eq!(duration("10").unwrap_err(), "is missing a unit (`h`, `m`, `s`, `ms`), e.g. `10s`");
        assert_eq!(
            duration("s").unwrap_err(),
            "must be a number followed by a unit (`h`, `m`, `s`, `ms`, `us`, `ns`), e.g. `10s`"
        );
        assert_eq!(duration("1x").unwrap_err(), "has an unknown unit `x` (use `h`, `m`, `s`, `ms`)");
        // Go computes fractions in floating point; Istio (Go) sees a whole number of ms here.
        assert!(duration("0.3333333333333333333h").is_ok());
        assert_eq!(parse_duration("1.2.3s"), Err("has an invalid number `1.2.3`".into()));
        assert_eq!(parse_duration("-1s").unwrap_err(), "must not have a sign");
    }

    #[test]
    fn hosts() {
        assert!(host("api.example.com", false).is_ok());
        assert!(host("*.example.com", true).is_ok());
        assert_eq!(host("*.example.com", false).unwrap_err(), "has a wildcard, which is not allowed here");
        assert_eq!(host("*", true).unwrap_err(), "`*` alone would capture every host; name the hosts");
        assert_eq!(
            host("*foo.com", true).unwrap_err(),
            "has a partial wildcard; only a whole first label `*.` is allowed"
        );
        assert_eq!(
            host("10.0.0.1", true).unwrap_err(),
            "is an IP address; hosts are DNS names (put IPs in `addresses` or `endpoints`)"
        );
        assert_eq!(host("foo..com", true).unwrap_err(), "has an invalid label ``");
        assert_eq!(host("a.123", true).unwrap_err(), "has an all-numeric top-level label `123`");
        assert!(host("foo", true).is_ok());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1h30m").unwrap(), 5_400_000_000_000);
        assert_eq!(parse_duration("1.5s").unwrap(), 1_500_000_000);
        assert!(duration("250ms").is_ok());
        assert_eq!(duration("0s").unwrap_err(), "must be at least 1ms");
        assert_eq!(duration("1500us").unwrap_err(), "must be a whole number of milliseconds");
        assert_eq!(duration("10").unwrap_err(), "is missing a unit (`h`, `m`, `s`, `ms`), e.g. `10s`");
        assert_eq!(duration("10d").unwrap_err(), "has an unknown unit `d` (use `h`, `m`, `s`, `ms`)");
    }

    #[test]
    fn addresses_and_labels() {
        assert_eq!(address("10.0.0.1"), Ok(AddressKind::Ip));
        assert_eq!(address("fd00::1"), Ok(AddressKind::Ip));
        assert_eq!(address("db.example.com"), Ok(AddressKind::Dns));
        assert_eq!(address("unix:///var/run/a.sock"), Ok(AddressKind::Unix));
        assert_eq!(address("unix://rel.sock").unwrap_err(), "is not `unix:///absolute/path` or `unix://@abstract`");
        assert_eq!(
            address("*.x.com").unwrap_err(),
            "is not an IP address or DNS name: it has a wildcard, which is not allowed here"
        );
        assert_eq!(ip_or_cidr("10.0.0.0/33").unwrap_err(), "is not a valid CIDR block (prefix length 0–32)");
        assert!(ip_or_cidr("10.0.0.0/8").is_ok());
        assert!(label_key("app.kubernetes.io/name").is_ok());
        assert_eq!(
            label_key("a/b/c").unwrap_err(),
            "must be at most 63 letters, digits, `-`, `_` or `.`, starting and ending with a letter or digit (with an optional `prefix/`)"
        );
        assert_eq!(
            label_value("-bad").unwrap_err(),
            "must be at most 63 letters, digits, `-`, `_` or `.`, starting and ending with a letter or digit"
        );
        assert_eq!(
            dns_label("Shop").unwrap_err(),
            "must consist of lowercase letters, digits and `-`, and start and end with a letter or digit"
        );
        assert_eq!(
            dns_label("../x").unwrap_err(),
            "must consist of lowercase letters, digits and `-`, and start and end with a letter or digit"
        );
        assert_eq!(slug("fd00::1"), "fd00-1");
        assert_eq!(slug("-A..b-"), "a-b");
        assert_eq!(slug("é1é2é"), "1-2");
        assert_eq!(slug("--"), "");
        assert!(locality("eu-west1/eu-west1-a").is_ok());
        assert_eq!(locality("eu//a").unwrap_err(), "has an invalid part `` (letters, digits, `-`, `_`, `.`)");
    }

    /// The byte-wise fast paths of `locality` and `dns_subdomain` accept exactly what their
    /// checks part by part accept, and leave the messages to them.
    #[test]
    fn fast_paths_agree_with_the_part_checks() {
        let by_parts = |s: &str| s.split('/').nth(3).is_none() && s.split('/').all(|p| !p.is_empty() && label_name(p));
        for s in ["a", "a/b", "a/b/c", "a/b/c/d", "", "/", "a/", "-a/b", "a_b.c/Z-9", "é/a", "a/b-"] {
            assert_eq!(locality(s).is_ok(), by_parts(s), "{s:?}");
        }
        assert_eq!(locality("a/b/c/d").unwrap_err(), "must be `region`, `region/zone` or `region/zone/subzone`");
        let by_labels = |s: &str| s.len() <= 253 && s.split('.').all(|l| dns_label(l).is_ok());
        for s in
            ["a", "a.b", "a..b", ".", "a.-b", "vm-1.corp.example", "A.b", "é.a", "", "a.", ".a", "a-.b", "-a", "a-"]
        {
            assert_eq!(dns_subdomain(s).is_ok(), by_labels(s), "{s:?}");
            assert_eq!(dns_subdomain_ok(s.as_bytes()), by_labels(s), "{s:?}");
        }
        // Every string of up to four bytes over an alphabet with each kind of byte, and
        // labels and names about their length limits.
        let alphabet = ["a", "0", "-", ".", "A", "_"];
        let mut strings = vec![String::new()];
        for _ in 0..4 {
            let longer: Vec<String> =
                strings.iter().flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}"))).collect();
            strings.extend(longer);
        }
        for n in [62, 63, 64] {
            for m in [188, 189, 190] {
                strings.push(format!("{}.{}", "a".repeat(n), "b".repeat(m)));
                strings.push(format!("{}.{}", "b".repeat(m), "a".repeat(n)));
            }
        }
        for s in &strings {
            assert_eq!(dns_subdomain_ok(s.as_bytes()), by_labels(s), "{s:?}");
            assert_eq!(dns_subdomain(s).is_ok(), by_labels(s), "{s:?}");
        }
        assert_eq!(
            dns_subdomain("ok.é").unwrap_err(),
            "has a part `é` that must consist of lowercase letters, digits and `-`, and start and end with a letter or digit"
        );
        assert_eq!(dns_subdomain("a..b").unwrap_err(), "has a part `` that must not be empty");
    }
}
