//! Fuzzy matching for pickers, as helix and codex match (nucleo): the typed characters in order, case ignored,
//! with bonuses for matches at word starts; for paths, also at the start of a file name and after separators.

use nucleo_matcher::pattern::{CaseMatching, Normalization, Pattern};
use nucleo_matcher::{Config, Matcher, Utf32Str};

/// The indices of `items` that match `typed`, best first (ties keep the items' order); all of them, in order,
/// when nothing is typed.
pub fn rank<S: AsRef<str>>(items: &[S], typed: &str, paths: bool) -> Vec<usize> {
    if typed.trim().is_empty() {
        return (0..items.len()).collect();
    }
    let mut hits = scores(items, typed, paths);
    hits.sort_by_key(|&(i, score)| (std::cmp::Reverse(score), i));
    hits.into_iter().map(|(i, _)| i).collect()
}

/// Each item that matches `typed` (not empty), with its score (higher is better), in the items' order.
pub fn scores<S: AsRef<str>>(items: &[S], typed: &str, paths: bool) -> Vec<(usize, u32)> {
    let config = if paths {
        Config::DEFAULT.match_paths()
    } else {
        Config::DEFAULT
    };
    let mut matcher = Matcher::new(config);
    let pattern = Pattern::parse(typed, CaseMatching::Ignore, Normalization::Smart);
    let mut buf = Vec::new();
    items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| {
            let score = pattern.score(Utf32Str::new(item.as_ref(), &mut buf), &mut matcher)?;
            Some((i, score))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters_in_order_case_ignored_best_first() {
        let items = [
            "fix the parser",
            "add a flag",
            "Fix the PARSER tests",
            "nothing",
        ];
        assert_eq!(rank(&items, "", false), [0, 1, 2, 3]);
        let got = rank(&items, "fxprs", false);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got.contains(&0) && got.contains(&2));
        assert!(rank(&items, "zzz", false).is_empty());
    }
}
