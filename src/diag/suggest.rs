//! "Did you mean …?" suggestions for misspelt names and fields.

/// The candidate closest to `word`, when it is close enough to be a plausible typo.
///
/// Closeness is the Damerau-Levenshtein distance (a swapped pair of letters counts once),
/// accepted up to a third of the word's length (at least 1, at most 3), so `hostt` finds
/// `host` but `db` does not find `api`.
pub fn did_you_mean<'a, I>(word: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let limit = (word.chars().count() / 3).clamp(1, 3);
    let lower = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(&lower, &c.to_ascii_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        // Ties go to the alphabetically first candidate, so the hint is deterministic.
        .min_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(b.1)))
        .map(|(_, c)| c)
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
}
