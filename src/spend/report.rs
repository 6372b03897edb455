//! `tandem spend`: totals for today, this month, per session, and per model and role.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::ledger::SpendRow;
use crate::model::Usage;

/// Sums over a set of requests.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Totals {
    /// Requests counted.
    pub requests: u64,
    /// Tokens by kind.
    pub usage: Usage,
    /// USD spent on priced requests.
    pub usd: f64,
    /// USD saved by running locally (priced at the reference model).
    pub saved_usd: f64,
    /// Cloud requests to models without a price (not in `usd`).
    pub unpriced: u64,
    /// Local requests whose savings could not be priced (the reference model has no price).
    pub saved_unpriced: u64,
}

impl Totals {
    fn add(&mut self, row: &SpendRow) {
        self.requests += 1;
        self.usage.add(&row.usage);
        match row.usd {
            Some(usd) => self.usd += usd,
            None if !row.local => self.unpriced += 1,
            None => {}
        }
        match row.saved_usd {
            Some(saved) => self.saved_usd += saved,
            None if row.local => self.saved_unpriced += 1,
            None => {}
        }
    }
}

/// One session's totals.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionTotals {
    /// Session id.
    pub session: String,
    /// First request (Unix ms).
    pub started_ms: i64,
    /// Sums.
    pub totals: Totals,
}

/// One (role, provider, model)'s totals.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelTotals {
    /// `planner` or `executor`.
    pub role: String,
    /// Provider name.
    pub provider: String,
    /// Model name.
    pub model: String,
    /// Sums.
    pub totals: Totals,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpendReport {
    /// Since midnight UTC.
    pub today: Totals,
    /// Since the first of the month, UTC.
    pub month: Totals,
    /// Sessions of this month, newest first.
    pub sessions: Vec<SessionTotals>,
    /// This month by role, provider and model.
    pub by_model: Vec<ModelTotals>,
    /// Cloud models with no price this month: add `[prices."<model>"]` to config.
    pub unpriced_models: Vec<String>,
    /// Where the built-in prices come from and how current they are.
    pub prices: super::prices::PriceSource,
}

/// Midnight UTC on the first of this month, in Unix ms.
pub fn start_of_month_ms(now_ms: i64) -> i64 {
    let Ok(now) = time::OffsetDateTime::from_unix_timestamp(now_ms.div_euclid(1000)) else {
        return 0;
    };
    let first = now
        .replace_day(1)
        .map(|d| d.replace_time(time::Time::MIDNIGHT))
        .unwrap_or(now);
    first.unix_timestamp() * 1000
}

/// Builds the report from this month's rows.
pub fn build(rows: &[SpendRow], now_ms: i64) -> SpendReport {
    let day = super::ledger::start_of_day_ms(now_ms);
    let month = start_of_month_ms(now_ms);
    let mut today = Totals::default();
    let mut month_totals = Totals::default();
    let mut sessions: BTreeMap<String, SessionTotals> = BTreeMap::new();
    let mut by_model: BTreeMap<(String, String, String), Totals> = BTreeMap::new();
    let mut unpriced = Vec::new();
    for row in rows.iter().filter(|r| r.ts_ms >= month) {
        month_totals.add(row);
        if row.ts_ms >= day {
            today.add(row);
        }
        sessions
            .entry(row.session.clone())
            .or_insert_with(|| SessionTotals {
                session: row.session.clone(),
                started_ms: row.ts_ms,
                totals: Totals::default(),
            })
            .totals
            .add(row);
        by_model
            .entry((row.role.clone(), row.provider.clone(), row.model.clone()))
            .or_default()
            .add(row);
        if row.usd.is_none() && !row.local && !unpriced.contains(&row.model) {
            unpriced.push(row.model.clone());
        }
    }
    let mut sessions: Vec<SessionTotals> = sessions.into_values().collect();
    sessions.sort_by_key(|s| std::cmp::Reverse(s.started_ms));
    SpendReport {
        today,
        month: month_totals,
        sessions,
        by_model: by_model
            .into_iter()
            .map(|((role, provider, model), totals)| ModelTotals {
                role,
                provider,
                model,
                totals,
            })
            .collect(),
        unpriced_models: unpriced,
        prices: super::prices::source(),
    }
}

fn usd(v: f64) -> String {
    format!("${v:.4}")
}

fn tokens(u: &Usage) -> String {
    format!(
        "in {} (cached {}, cache-write {}) out {}",
        u.input_tokens + u.cached_input_tokens + u.cache_write_tokens,
        u.cached_input_tokens,
        u.cache_write_tokens,
        u.output_tokens
    )
}

fn stamp(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]"
            ))
            .ok()
        })
        .unwrap_or_default()
}

/// The report for people.
pub fn render(report: &SpendReport, max_sessions: usize) -> String {
    let mut out = String::new();
    let line = |t: &Totals| {
        let unpriced = if t.unpriced > 0 {
            format!(" + {} unpriced", t.unpriced)
        } else {
            String::new()
        };
        let saved_unpriced = if t.saved_unpriced > 0 {
            format!(" + {} unpriced", t.saved_unpriced)
        } else {
            String::new()
        };
        format!(
            "{:>4} requests  spent {}{unpriced}  saved {}{saved_unpriced}  {}",
            t.requests,
            usd(t.usd),
            usd(t.saved_usd),
            tokens(&t.usage)
        )
    };
    let _ = writeln!(out, "Today (UTC)   {}", line(&report.today));
    let _ = writeln!(out, "This month    {}", line(&report.month));
    if !report.by_model.is_empty() {
        let _ = writeln!(out, "\nBy role and model (this month)");
        for m in &report.by_model {
            let name = format!("{:<8} {}/{}", m.role, m.provider, m.model);
            let _ = writeln!(out, "  {name:<48} {}", line(&m.totals));
        }
    }
    if !report.sessions.is_empty() {
        let _ = writeln!(out, "\nSessions (newest first)");
        for s in report.sessions.iter().take(max_sessions) {
            let _ = writeln!(
                out,
                "  {} {:<26} {}",
                stamp(s.started_ms),
                s.session,
                line(&s.totals)
            );
        }
        if report.sessions.len() > max_sessions {
            let _ = writeln!(
                out,
                "  … {} more (--json lists all)",
                report.sessions.len() - max_sessions
            );
        }
    }
    if !report.unpriced_models.is_empty() {
        let _ = writeln!(
            out,
            "\nUnpriced (not in the totals): {}. Add [prices.\"<model>\"] input = …, output = … (USD per million tokens) to the config.",
            report.unpriced_models.join(", ")
        );
    }
    let prices = &report.prices;
    let _ = writeln!(
        out,
        "\nPrices: {} models from {}, snapshot of {} (scripts/refresh-prices.py refreshes it; [prices] in config overrides it).",
        prices.models, prices.source, prices.date
    );
    out
}

/// `tandem spend`: prints this month's report from the ledger in `data_dir`.
pub fn run(data_dir: &std::path::Path, json: bool) -> Result<String, super::LedgerError> {
    let path = super::Ledger::default_path(data_dir);
    let now = super::now_ms();
    let rows = if path.exists() {
        super::Ledger::open(&path)?.rows_since(start_of_month_ms(now))?
    } else {
        Vec::new()
    };
    let report = build(&rows, now);
    Ok(if json {
        serde_json::to_string_pretty(&report).unwrap_or_default()
    } else if rows.is_empty() {
        format!("No requests this month (ledger: {}).\n", path.display())
    } else {
        render(&report, 10)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    const DAY: i64 = 86_400_000;

    fn row(
        session: &str,
        ts_ms: i64,
        model: &str,
        local: bool,
        usd: Option<f64>,
        saved: Option<f64>,
    ) -> SpendRow {
        SpendRow {
            ts_ms,
            session: session.into(),
            role: if local { "executor" } else { "planner" }.into(),
            provider: if local { "local" } else { "openai" }.into(),
            model: model.into(),
            local,
            usage: Usage {
                input_tokens: 10,
                cached_input_tokens: 0,
                cache_write_tokens: 0,
                output_tokens: 5,
            },
            usd,
            saved_usd: saved,
            latency_ms: 1,
            reason: "configured".into(),
        }
    }

    #[test]
    fn today_month_sessions_models_and_unpriced() {
        // 2026-11-21 12:00 UTC.
        let now = 1_795_262_400_000;
        let month = start_of_month_ms(now);
        assert_eq!(month, 1_793_491_200_000, "2026-11-01 00:00 UTC");
        let rows = vec![
            row("old", month - 1, "gpt-5.1", false, Some(9.0), None),
            row("s1", month + DAY, "gpt-5.1", false, Some(0.5), None),
            row("s2", now - 1000, "gpt-5.1", false, Some(0.25), None),
            row("s2", now - 500, "smol", true, Some(0.0), Some(0.1)),
            row("s2", now - 100, "mystery-model", false, None, None),
            row("s2", now - 50, "smol", true, Some(0.0), None),
        ];
        let r = build(&rows, now);
        assert_eq!(r.month.requests, 5);
        assert_eq!(
            r.month.saved_unpriced, 1,
            "a local row whose savings had no price"
        );
        assert_eq!(r.month.usd, 0.75);
        assert_eq!(r.month.unpriced, 1);
        assert_eq!(r.today.requests, 4);
        assert_eq!(r.today.usd, 0.25);
        assert_eq!(r.today.saved_usd, 0.1);
        assert_eq!(
            r.sessions
                .iter()
                .map(|s| s.session.as_str())
                .collect::<Vec<_>>(),
            vec!["s2", "s1"]
        );
        assert_eq!(r.unpriced_models, vec!["mystery-model".to_string()]);
        assert_eq!(r.by_model.len(), 3);
        let text = render(&r, 10);
        assert!(text.contains("spent $0.2500 + 1 unpriced"), "{text}");
        assert!(text.contains("saved $0.1000 + 1 unpriced"), "{text}");
        assert!(
            text.contains("Unpriced (not in the totals): mystery-model"),
            "{text}"
        );
        assert!(
            !text.contains("$9.0000"),
            "last month is not in this month: {text}"
        );
    }
}
