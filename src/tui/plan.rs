//! The plan pane: the plan's summary and steps, each marked running, done (and by whom) or failed.

use std::collections::BTreeMap;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::fit;
use super::status::SPINNER;
use super::theme::Theme;
use crate::protocol::{EventMsg, Plan, StepStatus};

/// The plan and each step's progress.
#[derive(Debug, Clone, Default)]
pub struct PlanView {
    plan: Option<Plan>,
    steps: BTreeMap<u32, (StepStatus, String)>,
    current: Option<u32>,
}

impl PlanView {
    /// Applies the events it shows; `executor` names who ran a finished step.
    pub fn event(&mut self, msg: &EventMsg, executor: Option<String>) {
        match msg {
            EventMsg::SessionStarted { .. } => {
                self.steps.clear();
                self.current = None;
            }
            EventMsg::PlanReady { plan, .. } => {
                self.plan = Some(plan.clone());
                self.steps.clear();
            }
            EventMsg::StepStarted { step, .. } => self.current = Some(*step),
            EventMsg::StepFinished { step, status, .. } => {
                self.steps
                    .insert(*step, (*status, executor.unwrap_or_default()));
                if self.current == Some(*step) {
                    self.current = None;
                }
            }
            _ => {}
        }
    }

    /// Draws the pane.
    pub fn draw(&self, f: &mut Frame, theme: &Theme, area: Rect, frame: usize) {
        let b = Block::default()
            .borders(Borders::ALL)
            .border_style(Style::default().fg(theme.dim))
            .title(" Plan ");
        let inner = b.inner(area);
        f.render_widget(b, area);
        let width = usize::from(inner.width);
        let Some(plan) = &self.plan else {
            f.render_widget(
                Paragraph::new(Span::styled("no plan yet", Style::default().fg(theme.dim))),
                inner,
            );
            return;
        };
        let mut lines: Vec<Line> = fit::wrap(
            Line::from(Span::styled(
                plan.summary.clone(),
                Style::default().fg(theme.fg).add_modifier(Modifier::BOLD),
            )),
            width,
        );
        for s in &plan.steps {
            let (mark, color, by) = match (self.current == Some(s.id), self.steps.get(&s.id)) {
                (true, _) => (SPINNER[frame % SPINNER.len()], theme.accent, String::new()),
                (false, Some((StepStatus::Done, by))) => ("✓", theme.ok, by.clone()),
                (false, Some((StepStatus::Failed, by))) => ("✗", theme.error, by.clone()),
                (false, None) => ("·", theme.dim, String::new()),
            };
            let number = format!("{mark} {}. ", s.id);
            let indent = fit::width(&number);
            let head = Line::from(vec![
                Span::styled(number, Style::default().fg(color)),
                Span::styled(s.goal.clone(), Style::default().fg(theme.fg)),
            ]);
            lines.extend(fit::wrap_hanging(head, width, indent));
            if s.changes_tests {
                lines.push(Line::from(Span::styled(
                    fit::truncate("    may change existing tests", width),
                    Style::default().fg(theme.warning),
                )));
            }
            if !by.is_empty() {
                lines.push(Line::from(Span::styled(
                    fit::truncate(&format!("    by {by}"), width),
                    Style::default().fg(theme.dim),
                )));
            }
        }
        f.render_widget(Paragraph::new(lines), inner);
    }
}
