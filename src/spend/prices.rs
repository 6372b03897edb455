//! Model prices in USD per million tokens: a vendored snapshot of LiteLLM's maintained table
//! (`data/prices.json`, refreshed by `scripts/refresh-prices.py`; cached-input, cache-write and long-context
//! prices included), overridden and extended by `[prices."<model>"]` in config.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::config::PriceConfig;
use crate::model::Usage;

/// USD per million tokens, by kind of token, with the prices above a long-context threshold where a model has
/// them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Price {
    /// Uncached input.
    pub input: f64,
    /// Input read from the prompt cache.
    pub cached_input: f64,
    /// Input written to the prompt cache.
    pub cache_write: f64,
    /// Output.
    pub output: f64,
    /// The prices of a request whose prompt is longer than a threshold (Gemini's 200k tier, GPT's 272k).
    pub tier: Option<Tier>,
}

/// A long-context tier: the prices of a request whose prompt holds more than `above` tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Tier {
    /// Prompt tokens (uncached, cached and cache-write together) past which these prices apply.
    pub above: u64,
    /// Uncached input.
    pub input: f64,
    /// Input read from the prompt cache.
    pub cached_input: f64,
    /// Input written to the prompt cache.
    pub cache_write: f64,
    /// Output.
    pub output: f64,
}

impl Price {
    /// What `usage` (one request) costs at this price, in USD.
    pub fn cost(&self, usage: &Usage) -> f64 {
        let prompt = usage.input_tokens + usage.cached_input_tokens + usage.cache_write_tokens;
        let (input, cached, write, output) = match self.tier {
            Some(t) if prompt > t.above => (t.input, t.cached_input, t.cache_write, t.output),
            _ => (self.input, self.cached_input, self.cache_write, self.output),
        };
        (usage.input_tokens as f64 * input
            + usage.cached_input_tokens as f64 * cached
            + usage.cache_write_tokens as f64 * write
            + usage.output_tokens as f64 * output)
            / 1_000_000.0
    }
}

/// The vendored snapshot, as `scripts/refresh-prices.py` writes it.
const SNAPSHOT: &str = include_str!("../../data/prices.json");

#[derive(Deserialize)]
struct Snapshot {
    source: String,
    date: String,
    models: BTreeMap<String, Entry>,
}

#[derive(Deserialize)]
struct Entry {
    input: f64,
    output: f64,
    cached_input: Option<f64>,
    cache_write: Option<f64>,
    tier: Option<TierEntry>,
}

#[derive(Deserialize)]
struct TierEntry {
    above: u64,
    input: f64,
    output: f64,
    cached_input: Option<f64>,
    cache_write: Option<f64>,
}

/// Where the built-in prices come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PriceSource {
    /// The table and its version.
    pub source: String,
    /// The day the snapshot was taken.
    pub date: String,
    /// How many models it prices.
    pub models: usize,
}

fn snapshot() -> &'static (PriceSource, BTreeMap<String, Price>) {
    static PARSED: OnceLock<(PriceSource, BTreeMap<String, Price>)> = OnceLock::new();
    PARSED.get_or_init(|| {
        // The snapshot is part of the source tree; a unit test parses it, so this fails only on a bad edit.
        let snap: Snapshot = serde_json::from_str(SNAPSHOT).unwrap_or_else(|_| Snapshot {
            source: "none (data/prices.json did not parse)".into(),
            date: String::new(),
            models: BTreeMap::new(),
        });
        let prices = snap
            .models
            .into_iter()
            .map(|(name, e)| {
                let tier = e.tier.map(|t| Tier {
                    above: t.above,
                    input: t.input,
                    output: t.output,
                    cached_input: t.cached_input.or(e.cached_input).unwrap_or(t.input),
                    cache_write: t.cache_write.or(e.cache_write).unwrap_or(t.input),
                });
                let price = Price {
                    input: e.input,
                    cached_input: e.cached_input.unwrap_or(e.input),
                    cache_write: e.cache_write.unwrap_or(e.input),
                    output: e.output,
                    tier,
                };
                (name, price)
            })
            .collect::<BTreeMap<_, _>>();
        let source = PriceSource {
            source: snap.source,
            date: snap.date,
            models: prices.len(),
        };
        (source, prices)
    })
}

/// Where the built-in prices come from and how current they are.
pub fn source() -> PriceSource {
    snapshot().0.clone()
}

/// Prices by model name.
#[derive(Debug, Clone)]
pub struct PriceTable {
    prices: BTreeMap<String, Price>,
}

impl PriceTable {
    /// The snapshot with `overrides` from config applied (an override has no long-context tier).
    pub fn new(overrides: &BTreeMap<String, PriceConfig>) -> Self {
        let mut prices = snapshot().1.clone();
        for (model, p) in overrides {
            prices.insert(
                model.clone(),
                Price {
                    input: p.input,
                    cached_input: p.cached_input.unwrap_or(p.input),
                    cache_write: p.cache_write.unwrap_or(p.input),
                    output: p.output,
                    tier: None,
                },
            );
        }
        PriceTable { prices }
    }

    /// The price of `model`: an exact match, else without a `vendor/` prefix (OpenRouter style), else the
    /// longest listed name the model starts with followed by `-` (dated versions such as
    /// `claude-sonnet-4-5-20250929`). `None` means unpriced.
    pub fn lookup(&self, model: &str) -> Option<Price> {
        let name = model.trim();
        if let Some(p) = self.prices.get(name) {
            return Some(*p);
        }
        let bare = name.rsplit('/').next().unwrap_or(name);
        let dotted = bare.replace('.', "-");
        for candidate in [bare, dotted.as_str()] {
            if let Some(p) = self.prices.get(candidate) {
                return Some(*p);
            }
        }
        self.prices
            .iter()
            .filter(|(listed, _)| {
                [bare, dotted.as_str()].iter().any(|c| {
                    c.strip_prefix(listed.as_str())
                        .is_some_and(|rest| rest.starts_with('-'))
                })
            })
            .max_by_key(|(listed, _)| listed.len())
            .map(|(_, p)| *p)
    }

    /// What `usage` of `model` costs; `None` if the model is unpriced.
    pub fn cost(&self, model: &str, usage: &Usage) -> Option<f64> {
        self.lookup(model).map(|p| p.cost(usage))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_by_exact_vendor_prefixed_and_dated_names() {
        let t = PriceTable::new(&BTreeMap::new());
        assert_eq!(t.lookup("gpt-4o-mini").unwrap().input, 0.15);
        assert_eq!(
            t.lookup("gpt-4o-2024-08-06").unwrap().input,
            2.50,
            "dated version of gpt-4o"
        );
        assert_eq!(
            t.lookup("gpt-4o-mini-2024-07-18").unwrap().input,
            0.15,
            "longest prefix wins"
        );
        assert_eq!(t.lookup("claude-sonnet-4-5-20250929").unwrap().output, 15.0);
        assert_eq!(
            t.lookup("anthropic/claude-sonnet-4.5").unwrap().output,
            15.0
        );
        assert_eq!(t.lookup("openai/gpt-5.1").unwrap().output, 10.0);
        assert_eq!(t.lookup("qwen2.5-coder-32b"), None);
        assert_eq!(t.lookup("gpt-4o2"), None, "a prefix must end at a dash");
    }

    #[test]
    fn the_snapshot_parses_and_says_where_it_comes_from() {
        let src = source();
        assert!(src.source.contains("LiteLLM"), "{src:?}");
        assert!(src.models > 100, "{src:?}");
        assert_eq!(src.date.len(), 10, "{src:?}");
    }

    #[test]
    fn a_long_prompt_is_billed_at_the_long_context_tier() {
        let t = PriceTable::new(&BTreeMap::new());
        let p = t.lookup("gemini-2.5-pro").unwrap();
        let tier = p.tier.expect("gemini-2.5-pro has a 200k tier");
        assert_eq!(tier.above, 200_000);
        let short = Usage {
            input_tokens: 100_000,
            output_tokens: 1_000,
            ..Usage::default()
        };
        let long = Usage {
            input_tokens: 250_000,
            output_tokens: 1_000,
            ..Usage::default()
        };
        assert!((p.cost(&short) - (0.1 * p.input + 0.001 * p.output)).abs() < 1e-9);
        assert!((p.cost(&long) - (0.25 * tier.input + 0.001 * tier.output)).abs() < 1e-9);
        assert!(tier.input > p.input);
    }

    #[test]
    fn costs_and_overrides() {
        let mut overrides = BTreeMap::new();
        overrides.insert(
            "my-model".to_string(),
            PriceConfig {
                input: 1.0,
                cached_input: Some(0.1),
                cache_write: None,
                output: 2.0,
            },
        );
        overrides.insert(
            "gpt-4o".to_string(),
            PriceConfig {
                input: 0.0,
                output: 0.0,
                ..PriceConfig::default()
            },
        );
        let t = PriceTable::new(&overrides);
        let usage = Usage {
            input_tokens: 1_000_000,
            cached_input_tokens: 1_000_000,
            cache_write_tokens: 1_000_000,
            output_tokens: 500_000,
        };
        assert_eq!(t.cost("my-model", &usage), Some(1.0 + 0.1 + 1.0 + 1.0));
        assert_eq!(t.cost("gpt-4o", &usage), Some(0.0));
        let sonnet = t.cost("claude-sonnet-4-5", &usage).unwrap();
        assert!(
            (sonnet - (3.0 + 0.30 + 3.75 + 7.5)).abs() < 1e-9,
            "{sonnet}"
        );
        assert_eq!(t.cost("unknown", &usage), None);
    }
}
