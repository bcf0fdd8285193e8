//! Wording shared by the phases: did-you-mean, plurals, short lists.

/// The candidate closest to `name`: a case-insensitive exact match first, then the smallest
/// edit distance within a third of the name's length (at least 1, at most 3).
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let candidates: Vec<&str> = candidates.into_iter().collect();
    if let Some(c) = candidates.iter().find(|c| c.eq_ignore_ascii_case(name)) {
        return Some((*c).to_string());
    }
    let limit = (name.chars().count() / 3).clamp(1, 3);
    candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(name, c), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, c)| (*d, *c))
        .map(|(_, c)| c.to_string())
}

/// `` did you mean `x`?`` or an empty string.
pub fn did_you_mean(s: &Option<String>) -> String {
    match s {
        Some(s) => format!("did you mean `{s}`?"),
        None => String::new(),
    }
}

/// `1 head`, `3 heads`.
pub fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// At most four names in backticks, then how many more.
pub fn first_few(keys: &[String]) -> String {
    let shown: Vec<String> = keys.iter().take(4).map(|k| format!("`{k}`")).collect();
    match keys.len().saturating_sub(4) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let c = ["embed", "depth", "heads", "drop_path"];
        assert_eq!(suggest("embd", c).as_deref(), Some("embed"));
        assert_eq!(suggest("HEADS", c).as_deref(), Some("heads"));
        assert_eq!(suggest("droppath", c).as_deref(), Some("drop_path"));
        assert_eq!(suggest("xyz", c), None);
    }

    #[test]
    fn plurals_and_short_lists() {
        assert_eq!(plural(1, "head"), "1 head");
        assert_eq!(plural(3, "head"), "3 heads");
        let keys: Vec<String> = (0..6).map(|i| format!("k{i}")).collect();
        assert_eq!(first_few(&keys[..2]), "`k0`, `k1`");
        assert_eq!(first_few(&keys), "`k0`, `k1`, `k2`, `k3` and 2 more");
    }
}
