//! Value-level library functions whose exact behaviour comes from Go: `duration()` parses
//! like `time.ParseDuration` (in the leaf [`crate::formats::duration`], which the inventory
//! checks share), `url()` like the Kubernetes CEL URL library (which uses
//! `net/url.ParseRequestURI` to validate and `net/url.Parse` to decompose), and `int(string)`
//! like `strconv.ParseInt(s, 10, 64)`. These are reimplemented from the documented Go
//! behaviour so that a rule accepts and rejects exactly what the API server does.

/// Parses like Go's `strconv.ParseInt(s, 10, 64)`.
pub(crate) fn parse_int(s: &str) -> Result<i64, String> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.ParseInt: parsing {s:?}: invalid syntax"));
    }
    s.parse::<i64>().map_err(|_| format!("strconv.ParseInt: parsing {s:?}: value out of range"))
}

/// The parts of a parsed URL that the Kubernetes URL library exposes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Url {
    /// Lower-cased scheme (`""` for a path-only URL).
    pub(crate) scheme: String,
    /// Host with optional `:port` (IPv6 literals keep their brackets); unescaped.
    pub(crate) host: String,
    /// The original text, used for equality.
    pub(crate) raw: String,
}

impl Url {
    /// `getHostname()`: the host without port and without IPv6 brackets.
    pub(crate) fn hostname(&self) -> String {
        let h = &self.host;
        if let Some(rest) = h.strip_prefix('[') {
            return rest.split(']').next().unwrap_or("").to_string();
        }
        match h.rfind(':') {
            Some(i) if valid_optional_port(&h[i..]) => h[..i].to_string(),
            _ => h.clone(),
        }
    }

    /// `getPort()`: the port, or `""` if none.
    pub(crate) fn port(&self) -> String {
        let h = &self.host;
        let after = match h.rfind(']') {
            Some(i) => &h[i + 1..],
            None if h.starts_with('[') => "",
            None => h.rfind(':').map_or("", |i| &h[i..]),
        };
        after.strip_prefix(':').unwrap_or("").to_string()
    }
}

/// Kubernetes `url(s)`: `ParseRequestURI` must accept `s` (absolute URI or absolute path);
/// the result is what `url.Parse` makes of it.
pub(crate) fn parse_url(s: &str) -> Result<Url, String> {
    go_parse(s, true).map_err(|e| format!("URL parse error during conversion from string: {e}"))?;
    let (without_fragment, fragment) = match s.split_once('#') {
        Some((a, f)) => (a, Some(f)),
        None => (s, None),
    };
    let mut u =
        go_parse(without_fragment, false).map_err(|e| format!("URL parse error during conversion from string: {e}"))?;
    if let Some(f) = fragment {
        unescape(f, Mode::Fragment).map_err(|e| format!("URL parse error during conversion from string: {e}"))?;
    }
    u.raw = s.to_string();
    Ok(u)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Host,
    Path,
    UserPassword,
    Fragment,
}

fn valid_optional_port(p: &str) -> bool {
    p.is_empty() || (p.starts_with(':') && p[1..].bytes().all(|b| b.is_ascii_digit()))
}

/// Go's `shouldEscape` restricted to the host mode, which is the only one where an
/// unescaped character makes parsing fail.
fn host_char_ok(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-_.~!$&'()*+,;=:[]<>\"".contains(&c)
}

/// Go's `unescape`: validates `%XX` escapes (and host characters) and decodes them.
fn unescape(s: &str, mode: Mode) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let esc = &s[i..s.len().min(i + 3)];
            if i + 2 >= b.len() || !b[i + 1].is_ascii_hexdigit() || !b[i + 2].is_ascii_hexdigit() {
                return Err(format!("invalid URL escape {esc:?}"));
            }
            let v = u8::from_str_radix(&s[i + 1..i + 3], 16).expect("hex digits");
            // In a host, Go allows %-escapes only for non-ASCII bytes (and %25).
            if mode == Mode::Host && v < 0x80 && esc != "%25" {
                return Err(format!("invalid URL escape {esc:?}"));
            }
            out.push(v);
            i += 3;
            continue;
        }
        if mode == Mode::Host && b[i] < 0x80 && !host_char_ok(b[i]) {
            return Err(format!("invalid character {:?} in host name", &s[i..i + 1]));
        }
        out.push(b[i]);
        i += 1;
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Go's `net/url.parse(rawURL, viaRequest)`, keeping only what `url()` exposes.
fn go_parse(raw: &str, via_request: bool) -> Result<Url, String> {
    if raw.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err("net/url: invalid control character in URL".into());
    }
    if raw.is_empty() && via_request {
        return Err("empty url".into());
    }
    let mut url = Url { scheme: String::new(), host: String::new(), raw: raw.to_string() };
    if raw == "*" {
        return Ok(url);
    }
    // Scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":".
    let mut rest = raw;
    for (i, c) in raw.bytes().enumerate() {
        if c.is_ascii_alphabetic() {
            continue;
        }
        if c.is_ascii_digit() || c == b'+' || c == b'-' || c == b'.' {
            if i == 0 {
                break;
            }
            continue;
        }
        if c == b':' {
            if i == 0 {
                return Err("missing protocol scheme".into());
            }
            url.scheme = raw[..i].to_ascii_lowercase();
            rest = &raw[i + 1..];
        }
        break;
    }
    if rest.ends_with('?') && rest.matches('?').count() == 1 {
        rest = &rest[..rest.len() - 1];
    } else if let Some((r, _query)) = rest.split_once('?') {
        rest = r;
    }
    if !rest.starts_with('/') {
        if !url.scheme.is_empty() {
            return Ok(url); // opaque URL such as mailto:x
        }
        if via_request {
            return Err("invalid URI for request".into());
        }
        // A first path segment containing ':' would be read as a scheme.
        let seg = rest.split('/').next().unwrap_or("");
        if seg.contains(':') {
            return Err("first path segment in URL cannot contain colon".into());
        }
    }
    if (!url.scheme.is_empty() || !via_request && !rest.starts_with("///")) && rest.starts_with("//") {
        let after = &rest[2..];
        let (authority, path) = match after.find('/') {
            Some(i) => (&after[..i], &after[i..]),
            None => (after, ""),
        };
        url.host = parse_authority(authority)?;
        rest = path;
    }
    unescape(rest, Mode::Path)?;
    Ok(url)
}

fn parse_authority(authority: &str) -> Result<String, String> {
    let host = match authority.rfind('@') {
        None => authority,
        Some(i) => {
            let userinfo = &authority[..i];
            let ok = userinfo.bytes().all(|c| c.is_ascii_alphanumeric() || b"-._:~!$&'()*+,;=%@".contains(&c));
            if !ok {
                return Err("net/url: invalid userinfo".into());
            }
            unescape(userinfo, Mode::UserPassword)?;
            &authority[i + 1..]
        }
    };
    if host.starts_with('[') {
        let Some(i) = host.rfind(']') else {
            return Err("missing ']' in host".into());
        };
        if !valid_optional_port(&host[i + 1..]) {
            return Err(format!("invalid port {:?} after host", &host[i + 1..]));
        }
    } else if let Some(i) = host.rfind(':')
        && !valid_optional_port(&host[i..])
    {
        return Err(format!("invalid port {:?} after host", &host[i..]));
    }
    unescape(host, Mode::Host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_ints() {
        assert_eq!(parse_int("8080"), Ok(8080));
        assert_eq!(parse_int("+7"), Ok(7));
        assert_eq!(parse_int("-7"), Ok(-7));
        for s in ["", "http", "1_000", " 1", "0x10", "99999999999999999999", "-"] {
            assert!(parse_int(s).is_err(), "{s:?}");
        }
    }

    #[test]
    fn urls() {
        let u = parse_url("HTTPS://user:pw@example.com:8443/a%20b?q=1#frag").unwrap();
        assert_eq!(u.scheme, "https");
        assert_eq!(u.host, "example.com:8443");
        assert_eq!(u.hostname(), "example.com");
        assert_eq!(u.port(), "8443");
        let u = parse_url("http://[::1]:80/x").unwrap();
        assert_eq!(u.hostname(), "::1");
        assert_eq!(u.port(), "80");
        assert_eq!(parse_url("/just/a/path").unwrap().scheme, "");
        assert_eq!(parse_url("mailto:someone").unwrap().scheme, "mailto");
        for bad in [
            "",
            "example.com/jwks",
            "://x",
            "http://exa mple.com/",
            "http://a:b/",
            "http://x/%zz",
            "http://[::1/",
            "http://x\n/",
        ] {
            assert!(parse_url(bad).is_err(), "{bad:?} should fail");
        }
    }
}
