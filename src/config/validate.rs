//! Checks on values that types alone cannot express; each failure names its key.

use super::schema::{ConfigFile, ProviderKind};

/// Fills in `kind` for providers named after a known protocol.
pub(super) fn infer_provider_kinds(cfg: &mut ConfigFile) {
    for (name, p) in cfg.providers.iter_mut() {
        if p.kind.is_none() {
            p.kind = match name.as_str() {
                "openai" => Some(ProviderKind::Openai),
                "anthropic" => Some(ProviderKind::Anthropic),
                _ => None,
            };
        }
    }
}

/// Returns the first invalid key and why.
pub(super) fn check(cfg: &ConfigFile) -> Result<(), (String, String)> {
    super::mcp::check(&cfg.mcp)?;
    let fail = |key: &str, msg: String| Err((key.to_string(), msg));
    let s = &cfg.local.sampling;
    if !(s.temperature.is_finite() && s.temperature >= 0.0) {
        return fail(
            "local.sampling.temperature",
            format!("must be 0 or more, got {}", s.temperature),
        );
    }
    if !(s.top_p > 0.0 && s.top_p <= 1.0) {
        return fail(
            "local.sampling.top_p",
            format!("must be in (0, 1], got {}", s.top_p),
        );
    }
    if !(0.0..=1.0).contains(&s.min_p) {
        return fail(
            "local.sampling.min_p",
            format!("must be in [0, 1], got {}", s.min_p),
        );
    }
    if s.top_k < 0 {
        return fail(
            "local.sampling.top_k",
            format!("must be 0 (off) or more, got {}", s.top_k),
        );
    }
    if !(s.repeat_penalty.is_finite() && s.repeat_penalty > 0.0) {
        return fail(
            "local.sampling.repeat_penalty",
            format!("must be above 0 (1 is off), got {}", s.repeat_penalty),
        );
    }
    if s.repeat_last_n < 0 {
        return fail(
            "local.sampling.repeat_last_n",
            format!("must be 0 or more, got {}", s.repeat_last_n),
        );
    }
    let l = &cfg.local;
    if l.context_size != 0 && l.context_size < 256 {
        return fail(
            "local.context_size",
            format!(
                "must be 0 (the model's own) or at least 256, got {}",
                l.context_size
            ),
        );
    }
    if l.batch_size == 0 {
        return fail("local.batch_size", "must be at least 1".into());
    }
    if l.max_tokens == 0 {
        return fail("local.max_tokens", "must be at least 1".into());
    }
    if l.chat_template.trim().is_empty() {
        return fail(
            "local.chat_template",
            "must be `auto`, `chatml` or a path to a Jinja template".into(),
        );
    }
    for role in ["planner", "executor"] {
        let provider = if role == "planner" {
            &cfg.planner.provider
        } else {
            &cfg.executor.provider
        };
        let known = matches!(provider.as_str(), "auto" | "local" | "cloud")
            || cfg.providers.contains_key(provider);
        if !known {
            let names: Vec<&str> = cfg.providers.keys().map(String::as_str).collect();
            return fail(
                &format!("{role}.provider"),
                format!(
                    "unknown provider `{provider}`; use auto, local, cloud or one of: {}",
                    names.join(", ")
                ),
            );
        }
    }
    for (role, r) in [("planner", &cfg.planner), ("executor", &cfg.executor)] {
        let key = format!("{role}.fallback");
        for (i, name) in r.fallback.iter().enumerate() {
            let last = i + 1 == r.fallback.len();
            if name == "local" {
                if !last {
                    return fail(
                        &key,
                        "`local` can only be the last entry (it is always the last resort)".into(),
                    );
                }
                continue;
            }
            if !cfg.providers.contains_key(name) {
                let names: Vec<&str> = cfg.providers.keys().map(String::as_str).collect();
                return fail(
                    &key,
                    format!(
                        "unknown provider `{name}`; use one of: {} (or `local` last)",
                        names.join(", ")
                    ),
                );
            }
            if *name == r.provider || r.fallback[..i].contains(name) {
                return fail(
                    &key,
                    format!("`{name}` is listed twice in the {role}'s chain"),
                );
            }
        }
    }
    for (name, p) in &cfg.providers {
        for (i, url) in p.replicas.iter().enumerate() {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return fail(
                    &format!("providers.{name}.replicas"),
                    format!("replica {} must be an http(s) URL, got `{url}`", i + 1),
                );
            }
            if url.trim_end_matches('/') == p.base_url.trim_end_matches('/')
                || p.replicas[..i].contains(url)
            {
                return fail(
                    &format!("providers.{name}.replicas"),
                    format!("`{url}` is listed twice (base_url is the first replica)"),
                );
            }
        }
        if p.kind.is_none() {
            return fail(
                &format!("providers.{name}.kind"),
                "missing: set kind = \"openai\" or \"anthropic\"".into(),
            );
        }
        if !(p.base_url.starts_with("http://") || p.base_url.starts_with("https://")) {
            return fail(
                &format!("providers.{name}.base_url"),
                format!("must be an http(s) URL, got `{}`", p.base_url),
            );
        }
        if p.model.trim().is_empty() {
            return fail(
                &format!("providers.{name}.model"),
                "must name the model to request".into(),
            );
        }
    }
    let a = &cfg.agent;
    for (key, value) in [
        ("agent.max_rounds", a.max_rounds),
        ("agent.max_step_attempts", a.max_step_attempts),
        ("agent.max_step_turns", a.max_step_turns),
        ("agent.max_planner_turns", a.max_planner_turns),
    ] {
        if value == 0 {
            return fail(key, "must be at least 1".into());
        }
    }
    let most = crate::model::local::MAX_ALTERNATIVES;
    for (name, p) in &cfg.profiles {
        let key = |field: &str| format!("profiles.{name}.{field}");
        if p.alternatives as usize > most {
            return fail(
                &key("alternatives"),
                format!(
                    "must be at most {most} (replies decoded beside the first), got {}",
                    p.alternatives
                ),
            );
        }
        for (field, value) in [
            ("rounds", p.rounds),
            ("chars_per_token", p.chars_per_token),
            ("repeats_before_stuck", p.repeats_before_stuck),
        ] {
            if value == 0 {
                return fail(&key(field), "must be at least 1".into());
            }
        }
        if p.strategies.is_empty() {
            return fail(&key("strategies"), "must name at least one strategy".into());
        }
        for (field, t) in [
            ("retry_temperature", p.retry_temperature),
            ("repeat_temperature", p.repeat_temperature),
        ] {
            if !(0.0..=2.0).contains(&t) {
                return fail(&key(field), format!("must be between 0 and 2, got {t}"));
            }
        }
    }
    if !a.profile.is_empty() && !cfg.profiles.contains_key(&a.profile) {
        let known: Vec<&str> = cfg.profiles.keys().map(String::as_str).collect();
        return fail(
            "agent.profile",
            format!(
                "names no profile; known: {} (add one under [profiles.NAME])",
                known.join(", ")
            ),
        );
    }
    if a.command_timeout_secs == 0 || a.verify_timeout_secs == 0 {
        return fail(
            "agent.command_timeout_secs",
            "timeouts must be at least 1 second".into(),
        );
    }
    for (i, pattern) in cfg.privacy.patterns.iter().enumerate() {
        if let Err(e) = regex::Regex::new(pattern) {
            return fail(
                "privacy.patterns",
                format!("pattern {} `{pattern}` is not a valid regex: {e}", i + 1),
            );
        }
    }
    for path in &cfg.privacy.paths {
        if let Err(e) = globset::Glob::new(path) {
            return fail(
                "privacy.paths",
                format!("`{path}` is not a valid glob: {e}"),
            );
        }
    }
    for (key, value) in [
        ("budget.session_usd", cfg.budget.session_usd),
        ("budget.daily_usd", cfg.budget.daily_usd),
    ] {
        if !(value.is_finite() && value >= 0.0) {
            return fail(key, format!("must be 0 (no cap) or more, got {value}"));
        }
    }
    let reference = cfg.spend.reference_model.trim();
    if !reference.is_empty()
        && crate::spend::PriceTable::new(&cfg.prices)
            .lookup(reference)
            .is_none()
    {
        return fail(
            "spend.reference_model",
            format!(
                "`{reference}` has no price, so savings could not be counted; add [prices.\"{reference}\"] input = …, output = … (USD per million tokens) or name a priced model"
            ),
        );
    }
    for (model, p) in &cfg.prices {
        let all = [Some(p.input), p.cached_input, p.cache_write, Some(p.output)];
        if all.iter().flatten().any(|v| !(v.is_finite() && *v >= 0.0)) {
            return fail(
                &format!("prices.{model}"),
                "prices must be 0 or more (USD per million tokens)".into(),
            );
        }
    }
    let sb = &cfg.sandbox;
    for (key, rules) in [("sandbox.allow", &sb.allow), ("sandbox.deny", &sb.deny)] {
        for rule in rules {
            if let Err(e) = crate::sandbox::commands::Rule::parse(rule) {
                return fail(key, e);
            }
        }
    }
    for dir in &sb.writable {
        if !(dir.starts_with('/') || dir.starts_with("~/")) {
            return fail(
                "sandbox.writable",
                format!("`{dir}` must be an absolute path or start with ~/"),
            );
        }
    }
    for path in &sb.readable {
        if path.starts_with('/') || path.split('/').any(|c| c == "..") {
            return fail(
                "sandbox.readable",
                format!("`{path}` must be a path inside the home directory, relative to it"),
            );
        }
    }
    Ok(())
}
