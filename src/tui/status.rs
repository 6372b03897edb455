//! The status bar: the planner's route, spend, the executor's speed, context use, budget left and the local
//! model's state. On a narrow terminal the least important segments are dropped first, then the rest is cut.

use std::collections::BTreeMap;
use std::time::Instant;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::widgets::Paragraph;

use super::fit;
use super::theme::Theme;
use crate::protocol::{EventMsg, RouteDecision, RouteReason, RouteRole};

/// The spinner's frames.
pub const SPINNER: [&str; 4] = ["⠋", "⠙", "⠸", "⠴"];

/// Whether the local model is ready.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelState {
    /// Not needed (no role uses it) or not started.
    Idle,
    /// Loading since this instant.
    Loading(Instant),
    /// Loaded, in this many seconds.
    Ready(f64),
    /// Failed to load.
    Failed(String),
}

/// What the status bar knows, fed by protocol events.
#[derive(Debug, Clone)]
pub struct Status {
    routes: BTreeMap<&'static str, RouteDecision>,
    tokens_per_sec: Option<f64>,
    context: (u64, u64),
    spent: f64,
    saved: f64,
    budget: Option<f64>,
    model: ModelState,
    stream_started: Option<Instant>,
}

fn short_tokens(n: u64) -> String {
    if n >= 10_000 {
        format!("{:.1}k", n as f64 / 1000.0)
    } else {
        n.to_string()
    }
}

impl Status {
    /// Nothing routed yet; `context_size` is the executor's window, `budget` the session cap.
    pub fn new(context_size: u64, budget: Option<f64>) -> Status {
        Status {
            routes: BTreeMap::new(),
            tokens_per_sec: None,
            context: (0, context_size),
            spent: 0.0,
            saved: 0.0,
            budget,
            model: ModelState::Idle,
            stream_started: None,
        }
    }

    /// Applies the events it shows.
    pub fn event(&mut self, msg: &EventMsg) {
        match msg {
            EventMsg::Route { decision } => {
                self.routes.insert(decision.role.as_str(), decision.clone());
                self.stream_started = Some(Instant::now());
            }
            EventMsg::Usage {
                role,
                usage,
                session_usd,
                session_saved_usd,
                ..
            } => {
                self.spent = *session_usd;
                self.saved = *session_saved_usd;
                if *role == RouteRole::Executor {
                    self.context.0 = usage.total_input();
                    if let Some(t) = self.stream_started.take() {
                        let secs = t.elapsed().as_secs_f64();
                        if secs > 0.0 && usage.output_tokens > 0 {
                            self.tokens_per_sec = Some(usage.output_tokens as f64 / secs);
                        }
                    }
                }
            }
            EventMsg::SessionFinished { summary, .. } => {
                self.spent = summary.usd;
                self.saved = summary.saved_usd;
            }
            _ => {}
        }
    }

    /// The last route of `role` (`"planner"`, `"executor"`).
    pub fn route(&self, role: &str) -> Option<&RouteDecision> {
        self.routes.get(role)
    }

    /// Session $ spent and saved.
    pub fn spend(&self) -> (f64, f64) {
        (self.spent, self.saved)
    }

    /// The local model's state.
    pub fn model(&self) -> &ModelState {
        &self.model
    }

    /// Sets the local model's state.
    pub fn set_model(&mut self, model: ModelState) {
        self.model = model;
    }

    /// Sets the executor's measured speed (tests: the real one depends on timing).
    #[cfg(test)]
    pub fn set_tokens_per_sec(&mut self, t: f64) {
        self.tokens_per_sec = Some(t);
    }

    /// The segments in display order, each with its priority (0 is kept longest).
    fn segments(&self, frame: usize) -> Vec<(u8, String)> {
        let mut parts = Vec::new();
        match self.routes.get("planner") {
            Some(d) => {
                let why = match &d.reason {
                    RouteReason::Configured if d.is_local() => "local".to_string(),
                    RouteReason::Configured | RouteReason::Probe => "cloud".to_string(),
                    RouteReason::Sensitive { .. } => "sensitive → local".into(),
                    RouteReason::FellBack { retry_at, .. }
                    | RouteReason::CircuitOpen { retry_at, .. } => {
                        format!("fallback until {}", &crate::protocol::clock(*retry_at)[..5])
                    }
                    RouteReason::BudgetSpent { .. } => "budget spent → local".into(),
                    RouteReason::NoCloudKey => "no cloud key".into(),
                    RouteReason::Offline => "offline".into(),
                    RouteReason::Redacted { .. } => "cloud, redacted".into(),
                };
                parts.push((0, format!("planner {} ({why})", d.provider)));
            }
            None => parts.push((0, "planner —".into())),
        }
        parts.push((
            1,
            format!("${:.4} spent ${:.4} saved", self.spent, self.saved),
        ));
        let exec = self
            .routes
            .get("executor")
            .map_or("—".to_string(), |d| d.provider.clone());
        match self.tokens_per_sec {
            Some(t) => parts.push((4, format!("exec {exec} {t:.0} tok/s"))),
            None => parts.push((4, format!("exec {exec}"))),
        }
        if self.context.1 > 0 {
            parts.push((
                5,
                format!(
                    "ctx {}/{}",
                    short_tokens(self.context.0),
                    short_tokens(self.context.1)
                ),
            ));
        }
        if let Some(b) = self.budget {
            parts.push((2, format!("${:.2} left", (b - self.spent).max(0.0))));
        }
        match &self.model {
            ModelState::Loading(t) => parts.push((
                3,
                format!(
                    "{} loading model {:.0}s",
                    SPINNER[frame % SPINNER.len()],
                    t.elapsed().as_secs_f64()
                ),
            )),
            ModelState::Ready(s) => parts.push((6, format!("model ready ({s:.1}s)"))),
            ModelState::Failed(_) => parts.push((3, "model unavailable".into())),
            ModelState::Idle => {}
        }
        parts
    }

    /// The bar's text for `width` columns: segments dropped least important first until it fits, then cut.
    pub fn text(&self, frame: usize, width: usize) -> String {
        let mut parts = self.segments(frame);
        let join = |p: &[(u8, String)]| {
            let texts: Vec<&str> = p.iter().map(|(_, t)| t.as_str()).collect();
            format!(" {}", texts.join(" │ "))
        };
        while parts.len() > 1 && fit::width(&join(&parts)) > width {
            let Some(worst) = parts
                .iter()
                .enumerate()
                .max_by_key(|(i, (p, _))| (*p, *i))
                .map(|(i, _)| i)
            else {
                break;
            };
            parts.remove(worst);
        }
        fit::truncate(&join(&parts), width)
    }

    /// Draws the bar.
    pub fn draw(&self, f: &mut Frame, theme: &Theme, area: Rect, frame: usize) {
        let style = Style::default().bg(theme.status_bg).fg(theme.status_fg);
        f.render_widget(
            Paragraph::new(self.text(frame, usize::from(area.width))).style(style),
            area,
        );
    }
}
