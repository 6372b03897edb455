//! Gitleaks' maintained rule set as data (`data/secret-rules.json`: provider keys and tokens, each a regex with
//! the keywords that must appear for it to be worth running and the entropy its secret must have). A keyword
//! prefilter picks the rules a text can match before any regex runs, and a rule's regex is compiled the first
//! time one of its keywords is seen, so a session pays only for the rules its text calls for.

use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, MatchKind};
use regex::Regex;
use serde::Deserialize;

use super::entropy;

const DATA: &str = include_str!("../../../data/secret-rules.json");

#[derive(Deserialize)]
struct File {
    source: String,
    rules: Vec<RuleData>,
}

#[derive(Deserialize)]
struct RuleData {
    id: String,
    pattern: String,
    #[serde(default)]
    keywords: Vec<String>,
    min_entropy: Option<f64>,
    group: Option<usize>,
}

struct Rule {
    #[cfg_attr(not(test), allow(dead_code))]
    id: String,
    pattern: String,
    /// Compiled the first time a text holds one of its keywords (`None`: it does not compile here).
    regex: OnceLock<Option<Regex>>,
    min_entropy: Option<f64>,
    group: Option<usize>,
}

/// The compiled rule set.
pub(super) struct RuleSet {
    rules: Vec<Rule>,
    /// Rules with no keyword: always run.
    always: Vec<usize>,
    /// Every keyword, and for each the rules it stands for.
    keywords: Option<AhoCorasick>,
    keyword_rules: Vec<Vec<usize>>,
    /// Where the rules come from.
    pub source: String,
}

/// A rule's regex; some of gitleaks' are larger than the regex crate's default size limit allows.
fn compile(pattern: &str) -> Option<Regex> {
    regex::RegexBuilder::new(pattern)
        .size_limit(64 << 20)
        .build()
        .ok()
}

/// The rule set, compiled on first use.
pub(super) fn rules() -> &'static RuleSet {
    static SET: OnceLock<RuleSet> = OnceLock::new();
    SET.get_or_init(|| {
        // The data is part of the source tree and parsed by a unit test: an empty set only on a bad edit.
        let file: File = serde_json::from_str(DATA).unwrap_or(File {
            source: "none (data/secret-rules.json did not parse)".into(),
            rules: Vec::new(),
        });
        let mut set = RuleSet {
            rules: Vec::new(),
            always: Vec::new(),
            keywords: None,
            keyword_rules: Vec::new(),
            source: file.source,
        };
        let mut words: Vec<String> = Vec::new();
        for r in file.rules {
            let index = set.rules.len();
            set.rules.push(Rule {
                id: r.id,
                pattern: r.pattern,
                regex: OnceLock::new(),
                min_entropy: r.min_entropy,
                group: r.group,
            });
            if r.keywords.is_empty() {
                set.always.push(index);
            }
            for k in r.keywords {
                match words.iter().position(|w| *w == k) {
                    Some(at) => set.keyword_rules[at].push(index),
                    None => {
                        words.push(k);
                        set.keyword_rules.push(vec![index]);
                    }
                }
            }
        }
        set.keywords = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(&words)
            .ok();
        set
    })
}

impl RuleSet {
    /// The byte ranges of the secrets the rules find in `text`.
    pub(super) fn find(&self, text: &str) -> Vec<std::ops::Range<usize>> {
        let mut candidates: Vec<usize> = self.always.clone();
        if let Some(ac) = &self.keywords {
            for m in ac.find_overlapping_iter(text) {
                candidates.extend(&self.keyword_rules[m.pattern().as_usize()]);
            }
        }
        candidates.sort_unstable();
        candidates.dedup();
        let mut out = Vec::new();
        for i in candidates {
            let rule = &self.rules[i];
            let Some(regex) = rule.regex.get_or_init(|| compile(&rule.pattern)) else {
                continue;
            };
            for caps in regex.captures_iter(text) {
                let Some(m) = rule.group.and_then(|g| caps.get(g)).or_else(|| caps.get(0)) else {
                    continue;
                };
                if rule
                    .min_entropy
                    .is_some_and(|min| entropy(m.as_str()) < min)
                {
                    continue;
                }
                out.push(m.range());
            }
        }
        out
    }

    /// How many rules there are.
    pub(super) fn len(&self) -> usize {
        self.rules.len()
    }

    /// The ids of the rules whose regex does not compile with Rust's regex crate (each compiled here).
    #[cfg(test)]
    fn not_compiling(&self) -> Vec<String> {
        self.rules
            .iter()
            .filter(|r| compile(&r.pattern).is_none())
            .map(|r| r.id.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_maintained_rules_compile_and_find_provider_keys_only_where_they_are() {
        let set = rules();
        assert!(set.len() > 150, "{} rules", set.len());
        let broken = set.not_compiling();
        assert!(broken.is_empty(), "{broken:?}");
        assert!(set.source.contains("Gitleaks"));
        // Keys no built-in detector of tandem's knew: a Shopify token and a SendGrid key.
        for key in [
            "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",
            "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",
        ] {
            assert!(!set.find(&format!("token = \"{key}\"")).is_empty(), "{key}");
        }
        assert!(set.find("fn main() { println!(\"hello\"); }").is_empty());
    }
}
