//! What a routed request cost and saved: pricing by the served model, the ledger row, the budget checks.

use std::time::Instant;

use super::links::same_model;
use super::{RouteDecision, RouteReason, Routed, Router, RouterEvent};
use crate::model::ChatResponse;
use crate::spend::{SpendRow, now_ms, start_of_day_ms};

impl Router {
    /// Prices the reply, writes the ledger row, and counts it against the budget.
    pub(super) fn finish(
        &self,
        decision: RouteDecision,
        response: ChatResponse,
        started: Instant,
        on: &mut (dyn FnMut(RouterEvent) + Send),
    ) -> Routed {
        let latency = started.elapsed();
        let mut decision = decision;
        if let Some(served) = response.model.as_deref().map(str::trim)
            && !served.is_empty()
            && served != decision.model
        {
            if !same_model(&decision.model, served) {
                let first = self
                    .noticed
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(decision.provider.clone());
                if first {
                    let message = format!(
                        "{} serves `{served}`, not the configured `{}`: spend is recorded for `{served}`",
                        decision.provider, decision.model
                    );
                    tracing::warn!("{message}");
                    on(RouterEvent::Notice(message));
                }
            }
            decision.model = served.to_string();
        }
        // Inside the trust boundary (this machine, or the team's own servers), tokens cost nothing here and are
        // what "saved" counts.
        let local = decision.is_local() || self.config.inside.contains(&decision.provider);
        let (usd, saved_usd) = if local {
            (
                Some(0.0),
                self.prices
                    .cost(&self.config.reference_model, &response.usage),
            )
        } else {
            (self.prices.cost(&decision.model, &response.usage), None)
        };
        if let Some(spent) = usd {
            *self
                .spent
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) += spent;
        }
        let mut ledger_row = None;
        if let Some(ledger) = &self.ledger {
            let row = SpendRow {
                ts_ms: now_ms(),
                session: self.config.session.clone(),
                role: decision.role.as_str().into(),
                provider: decision.provider.clone(),
                model: decision.model.clone(),
                local,
                usage: response.usage,
                usd,
                saved_usd,
                latency_ms: u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
                reason: decision.reason.to_string(),
            };
            match ledger.record(&row) {
                Ok(id) => ledger_row = Some(id),
                Err(e) => {
                    tracing::error!(error = %e, "ledger write failed");
                    on(RouterEvent::LedgerError(e.to_string()));
                }
            }
        }
        Routed {
            response,
            decision,
            usd,
            saved_usd,
            latency,
            ledger_row,
        }
    }

    /// The budget reason to stay local, if a cap is reached.
    pub(super) fn budget_spent(&self) -> Option<RouteReason> {
        let session = self.session_spent();
        if let Some(cap) = self.config.session_cap_usd.filter(|&c| session >= c) {
            return Some(RouteReason::BudgetSpent {
                scope: "session".into(),
                spent_usd: session,
                cap_usd: cap,
            });
        }
        let cap = self.config.daily_cap_usd?;
        let today = match &self.ledger {
            Some(l) => l
                .spent_since(start_of_day_ms(now_ms()), None)
                .unwrap_or(session),
            None => session,
        };
        (today >= cap).then(|| RouteReason::BudgetSpent {
            scope: "daily".into(),
            spent_usd: today,
            cap_usd: cap,
        })
    }
}
