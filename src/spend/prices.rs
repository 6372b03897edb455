//! Model prices in USD per million tokens: a built-in table for current OpenAI, Anthropic and Google models,
//! overridden and extended by `[prices."<model>"]` in config.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::PriceConfig;
use crate::model::Usage;

/// USD per million tokens, by kind of token.
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
}

impl Price {
    /// What `usage` costs at this price, in USD.
    pub fn cost(&self, usage: &Usage) -> f64 {
        (usage.input_tokens as f64 * self.input
            + usage.cached_input_tokens as f64 * self.cached_input
            + usage.cache_write_tokens as f64 * self.cache_write
            + usage.output_tokens as f64 * self.output)
            / 1_000_000.0
    }
}

/// The date the built-in prices were checked against the vendors' price pages.
pub const BUILTIN_AS_OF: &str = "2025-11";

/// (model, input, cached input, cache write, output), USD per million tokens.
const BUILTIN: &[(&str, f64, f64, f64, f64)] = &[
    ("gpt-5.1", 1.25, 0.125, 1.25, 10.0),
    ("gpt-5", 1.25, 0.125, 1.25, 10.0),
    ("gpt-5-mini", 0.25, 0.025, 0.25, 2.0),
    ("gpt-5-nano", 0.05, 0.005, 0.05, 0.40),
    ("gpt-5-pro", 15.0, 15.0, 15.0, 120.0),
    ("gpt-4.1", 2.0, 0.50, 2.0, 8.0),
    ("gpt-4.1-mini", 0.40, 0.10, 0.40, 1.60),
    ("gpt-4.1-nano", 0.10, 0.025, 0.10, 0.40),
    ("gpt-4o", 2.50, 1.25, 2.50, 10.0),
    ("gpt-4o-mini", 0.15, 0.075, 0.15, 0.60),
    ("o3", 2.0, 0.50, 2.0, 8.0),
    ("o3-mini", 1.10, 0.55, 1.10, 4.40),
    ("o4-mini", 1.10, 0.275, 1.10, 4.40),
    ("claude-opus-4-5", 5.0, 0.50, 6.25, 25.0),
    ("claude-opus-4-1", 15.0, 1.50, 18.75, 75.0),
    ("claude-opus-4", 15.0, 1.50, 18.75, 75.0),
    ("claude-sonnet-4-5", 3.0, 0.30, 3.75, 15.0),
    ("claude-sonnet-4", 3.0, 0.30, 3.75, 15.0),
    ("claude-3-7-sonnet", 3.0, 0.30, 3.75, 15.0),
    ("claude-haiku-4-5", 1.0, 0.10, 1.25, 5.0),
    ("claude-3-5-haiku", 0.80, 0.08, 1.0, 4.0),
    ("gemini-3-pro-preview", 2.0, 0.20, 2.0, 12.0),
    ("gemini-2.5-pro", 1.25, 0.125, 1.25, 10.0),
    ("gemini-2.5-flash", 0.30, 0.03, 0.30, 2.50),
    ("gemini-2.5-flash-lite", 0.10, 0.01, 0.10, 0.40),
];

/// Prices by model name.
#[derive(Debug, Clone)]
pub struct PriceTable {
    prices: BTreeMap<String, Price>,
}

impl PriceTable {
    /// The built-in table with `overrides` from config applied.
    pub fn new(overrides: &BTreeMap<String, PriceConfig>) -> Self {
        let mut prices: BTreeMap<String, Price> = BUILTIN
            .iter()
            .map(|&(m, input, cached_input, cache_write, output)| {
                (
                    m.to_string(),
                    Price {
                        input,
                        cached_input,
                        cache_write,
                        output,
                    },
                )
            })
            .collect();
        for (model, p) in overrides {
            prices.insert(
                model.clone(),
                Price {
                    input: p.input,
                    cached_input: p.cached_input.unwrap_or(p.input),
                    cache_write: p.cache_write.unwrap_or(p.input),
                    output: p.output,
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
