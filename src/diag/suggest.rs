//! "Did you mean …?" suggestions for misspelt names, fields and values.

/// The candidate `word` most plausibly meant, if one is.
///
/// First by spelling: the Damerau-Levenshtein distance (a swapped pair of letters counts
/// once), accepted up to a third of the word's length (at least 1, at most 3), so `hostt`
/// finds `host` but `db` does not find `api`. Then by parts: the word begins a candidate
/// (`pay` → `payments`), or the words of one (split at `-`, `.`, `_`, `/` and camelCase) are
/// a run of the other's (`stripe-api` → `stripe`, `LEAST` → `LEAST_REQUEST`). A part match
/// needs at least [`MIN_PART`] characters, and is offered only when exactly one candidate
/// matches that way (the longest shared words first): `api` among `orders-api` and
/// `billing-api` suggests neither.
pub fn did_you_mean<'a, I>(word: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let candidates: Vec<&'a str> = candidates.into_iter().collect();
    by_spelling(word, &candidates).or_else(|| by_parts(word, &candidates))
}

/// The fewest characters a prefix or a shared part must have to count: shorter ones are part
/// of too many names to mean anything.
pub const MIN_PART: usize = 3;

fn by_spelling<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).clamp(1, 3);
    let lower = word.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(&lower, &c.to_ascii_lowercase()), *c))
        .filter(|(d, _)| *d <= limit)
        // Ties go to the alphabetically first candidate, so the hint is deterministic.
        .min_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(b.1)))
        .map(|(_, c)| c)
}

fn by_parts<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    let parts = words(word);
    // Rank 0: the word begins the candidate; rank 1: one's words are a run of the other's,
    // the longer the shared words the better.
    let rank = |c: &str| -> Option<(u8, std::cmp::Reverse<usize>)> {
        let cl = c.to_ascii_lowercase();
        if cl == lower {
            return None;
        }
        if lower.chars().count() >= MIN_PART && cl.starts_with(&lower) {
            return Some((0, std::cmp::Reverse(0)));
        }
        let theirs = words(c);
        let (short, long) = if parts.len() <= theirs.len() { (&parts, &theirs) } else { (&theirs, &parts) };
        let shared = short.iter().map(String::len).sum::<usize>();
        let run = shared >= MIN_PART && long.windows(short.len().max(1)).any(|w| w == short.as_slice());
        run.then_some((1, std::cmp::Reverse(shared)))
    };
    let ranked: Vec<(_, &'a str)> = candidates.iter().filter_map(|c| rank(c).map(|r| (r, *c))).collect();
    let best = ranked.iter().map(|(r, _)| *r).min()?;
    let mut at_best = ranked.iter().filter(|(r, _)| *r == best).map(|(_, c)| *c);
    let first = at_best.next()?;
    // Several equally good: guessing one would be a coin toss.
    if at_best.any(|c| c != first) { None } else { Some(first) }
}

/// The words of a name, lower case: split at `-`, `.`, `_`, `/`, spaces and camelCase humps.
fn words(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if matches!(c, '-' | '.' | '_' | '/' | ' ') {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower && !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        current.extend(c.to_lowercase());
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// A help line for an unknown name: "did you mean `x`?" or the list of known names.
pub fn hint(word: &str, what: &str, candidates: &[&str]) -> Option<String> {
    if let Some(s) = did_you_mean(word, candidates.iter().copied()) {
        return Some(format!("did you mean `{s}`?"));
    }
    if candidates.is_empty() {
        return None;
    }
    let mut known: Vec<&str> = candidates.to_vec();
    known.sort_unstable();
    known.dedup();
    let shown: Vec<String> = known.iter().take(12).map(|c| format!("`{c}`")).collect();
    let more = if known.len() > 12 { format!(" and {} more", known.len() - 12) } else { String::new() };
    Some(format!("known {what}: {}{more}", shown.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let c = ["host", "hosts", "ports", "vms"];
        assert_eq!(did_you_mean("hostt", c), Some("host"));
        assert_eq!(did_you_mean("prots", c), Some("ports"));
        assert_eq!(did_you_mean("zzzzzz", c), None);
        assert_eq!(did_you_mean("catalgo", ["catalog", "orders"]), Some("catalog"));
    }

    #[test]
    fn prefixes_and_parts_find_the_name_meant() {
        let entities = ["payments", "stripe", "orders-api", "billing-api", "web"];
        assert_eq!(did_you_mean("stripe-api", entities), Some("stripe"));
        // The longer shared part wins.
        assert_eq!(did_you_mean("stripe-api", ["api", "stripe"]), Some("stripe"));
        assert_eq!(did_you_mean("pay", entities), Some("payments"));
        assert_eq!(did_you_mean("payments-v2", entities), Some("payments"));
        assert_eq!(did_you_mean("orders", entities), Some("orders-api"));
        // Too short, or equally good for several: no guess.
        assert_eq!(did_you_mean("pa", entities), None);
        assert_eq!(did_you_mean("api", entities), None);
        assert_eq!(did_you_mean("pay", ["payments", "paypal"]), None);
        // Letters inside a word are not a part of it.
        assert_eq!(did_you_mean("cat", ["location"]), None);
        // Fields (camelCase) and values (UPPER_SNAKE) split into words too.
        assert_eq!(did_you_mean("perTry", ["perTryTimeout", "attempts", "retryOn"]), Some("perTryTimeout"));
        assert_eq!(did_you_mean("LEAST", ["LEAST_REQUEST", "ROUND_ROBIN", "RANDOM"]), Some("LEAST_REQUEST"));
        assert_eq!(did_you_mean("account", ["serviceAccount", "sidecar"]), Some("serviceAccount"));
    }

    #[test]
    fn names_split_into_words() {
        assert_eq!(words("serviceAccount"), ["service", "account"]);
        assert_eq!(words("LEAST_REQUEST"), ["least", "request"]);
        assert_eq!(words("api.stripe.com"), ["api", "stripe", "com"]);
        assert_eq!(words("h2UpgradePolicy"), ["h2", "upgrade", "policy"]);
    }
}
