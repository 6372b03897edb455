//! Model profiles: a model family's tactics (which step strategies run, how many rounds and samples, at which
//! temperatures, when a file is asked for by its definitions) as data, chosen by the executor's local model and
//! overridable in config (`[profiles.NAME]`), as aider's model settings are.
//!
//! The built-in profiles are `profiles.toml`; docs/AGENT.md gives the measurement behind each default.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Profiles by name. Tables merge by name across config layers, field by field over the built-in ones; an
/// untrusted project's are ignored.
pub type ProfilesConfig = BTreeMap<String, Profile>;

/// The profile used when no other's `models` matches the model.
pub const DEFAULT_PROFILE: &str = "default";

/// The built-in profiles (compiled in; a test loads them).
const BUILTIN: &str = include_str!("../../profiles.toml");

/// A step strategy: one way of getting a step done, tried in the profile's order until one ends the attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum StrategyName {
    /// Ask for the step's files in one reply (whole, or the definitions it changes), try it and the replies
    /// sampled beside it on the check, keep the best, revise from it. Local executor only.
    SampleCheck,
    /// Tool turns (read, edit, run, step_done) until the model says the step is done or failed.
    ToolLoop,
}

/// One model family's tactics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Profile {
    /// Case-insensitive substrings of the local model's file name that choose this profile.
    pub models: Vec<String>,
    /// The step strategies, in the order they are tried.
    pub strategies: Vec<StrategyName>,
    /// Sample-check: a step whose files hold at most this many characters in all is asked for them in one reply
    /// (0: never).
    pub whole_file_chars: u32,
    /// Sample-check: a file longer than this many lines, in a language tandem parses, is asked for by the
    /// definitions the reply changes rather than whole.
    pub definitions_lines: u32,
    /// Sample-check: characters per token assumed when checking that a reply writing the files fits the
    /// executor's reply budget.
    pub chars_per_token: u32,
    /// Sample-check: tokens a reply needs per file beyond the file's own (its path, fences, a changed line).
    pub reply_margin_tokens: u32,
    /// Sample-check: replies one attempt asks for (the first, and more after a failing check).
    pub rounds: u32,
    /// Sample-check: replies sampled beside a retried request, decoded in the same batches, tried in turn on
    /// the check (0 to 3).
    pub alternatives: u32,
    /// The temperature of a retried request (greedy decoding would repeat the reply that failed).
    pub retry_temperature: f64,
    /// Sample-check: the temperature after a reply that wrote the files back unchanged (with the whole
    /// distribution: top-p 1).
    pub repeat_temperature: f64,
    /// Times one attempt at the plan's last open step runs the check and shows the model the result (after
    /// each applied edit and before step_done counts; 0: the session still checks at the end).
    pub step_checks: u32,
    /// Tool loop: turns of only looking before the model is told to act and offered no reading tools.
    pub idle_turns: u32,
    /// Tool loop: times a repeated call is answered from memory before the attempt counts as stuck.
    pub repeats_before_stuck: u32,
    /// Tool loop: characters of conversation a step keeps before older tool output is dropped.
    pub step_context_chars: u32,
    /// Tool loop: characters of the step's named files its first message carries.
    pub brief_files_chars: u32,
}

impl Default for Profile {
    fn default() -> Self {
        Profile {
            models: Vec::new(),
            strategies: vec![StrategyName::SampleCheck, StrategyName::ToolLoop],
            whole_file_chars: 6_000,
            definitions_lines: 40,
            chars_per_token: 3,
            reply_margin_tokens: 96,
            rounds: 3,
            alternatives: 2,
            retry_temperature: 0.6,
            repeat_temperature: 1.0,
            step_checks: 6,
            idle_turns: 3,
            repeats_before_stuck: 2,
            step_context_chars: 24_000,
            brief_files_chars: 12_000,
        }
    }
}

/// The built-in profiles, as `profiles.toml` has them.
pub fn builtin() -> ProfilesConfig {
    // Invariant: the compiled-in file parses (the `builtin_profiles_load` test); an empty set is the fallback.
    toml::from_str(BUILTIN).unwrap_or_default()
}

/// The profile for the local model file `model` (its name), as `(name, profile)`: `forced` when set, else the
/// first (by name) whose `models` match, else `default`, else the compiled-in defaults.
pub fn choose<'a>(
    profiles: &'a ProfilesConfig,
    model: &str,
    forced: &str,
) -> Option<(&'a str, &'a Profile)> {
    if !forced.is_empty() {
        return profiles.get_key_value(forced).map(|(k, v)| (k.as_str(), v));
    }
    let model = model.to_ascii_lowercase();
    profiles
        .iter()
        .find(|(_, p)| {
            p.models
                .iter()
                .any(|m| !m.is_empty() && model.contains(&m.to_ascii_lowercase()))
        })
        .or_else(|| profiles.get_key_value(DEFAULT_PROFILE))
        .map(|(k, v)| (k.as_str(), v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_profiles_load() {
        let parsed: ProfilesConfig = toml::from_str(BUILTIN).unwrap();
        assert!(parsed.contains_key(DEFAULT_PROFILE), "{parsed:?}");
        // The built-in default is the compiled-in default: the file documents it, the code does not differ.
        assert_eq!(parsed[DEFAULT_PROFILE], Profile::default());
    }

    #[test]
    fn a_profile_is_chosen_by_the_model_file_else_default_else_by_force() {
        let mut profiles = builtin();
        profiles.insert(
            "tiny".into(),
            Profile {
                models: vec!["SmolLM2".into()],
                rounds: 1,
                ..Profile::default()
            },
        );
        let (name, p) = choose(&profiles, "SmolLM2-135M-Instruct.Q4_1.gguf", "").unwrap();
        assert_eq!((name, p.rounds), ("tiny", 1));
        let (name, _) = choose(&profiles, "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", "").unwrap();
        assert_eq!(name, DEFAULT_PROFILE);
        let (name, _) = choose(&profiles, "SmolLM2.gguf", "default").unwrap();
        assert_eq!(name, "default");
        assert!(choose(&profiles, "x.gguf", "missing").is_none());
    }
}
