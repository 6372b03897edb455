//! The diff review: a proposed edit waiting for approval, with per-hunk choices when the policy allows them.
//! It follows the selected hunk and scrolls by hand (PgUp/PgDn), with a position indicator.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::fit;
use super::theme::Theme;
use crate::protocol::{ApprovalDecision, EditProposal, EventMsg};

/// An edit the session asked about, with the person's per-hunk choices.
#[derive(Debug, Clone, PartialEq)]
struct Review {
    request: u64,
    edit: EditProposal,
    per_hunk: bool,
    selected: usize,
    choices: Vec<Option<bool>>,
    scroll: isize,
}

/// The proposed edit (until its approval is asked) and the review in progress.
#[derive(Debug, Clone, Default)]
pub struct DiffReview {
    proposed: Option<EditProposal>,
    review: Option<Review>,
}

impl DiffReview {
    /// Whether an edit waits for the person.
    pub fn active(&self) -> bool {
        self.review.is_some()
    }

    /// Forgets any edit (the session ended).
    pub fn clear(&mut self) {
        self.proposed = None;
        self.review = None;
    }

    /// Applies the events it shows.
    pub fn event(&mut self, msg: &EventMsg) {
        match msg {
            EventMsg::EditProposed { edit } => self.proposed = Some(edit.clone()),
            EventMsg::ApprovalRequested {
                request,
                kind: crate::protocol::ApprovalKind::Edit { per_hunk, .. },
            } => {
                if let Some(edit) = self.proposed.take() {
                    self.review = Some(Review {
                        request: *request,
                        choices: vec![None; edit.hunks.len().max(1)],
                        edit,
                        per_hunk: *per_hunk,
                        selected: 0,
                        scroll: 0,
                    });
                }
            }
            EventMsg::ApprovalDecided { request, .. } => {
                self.proposed = None;
                if self.review.as_ref().is_some_and(|r| r.request == *request) {
                    self.review = None;
                }
            }
            _ => {}
        }
    }

    /// Handles a key while a review is shown: `Some` is the answer to send (the review is closed).
    pub fn key(&mut self, key: KeyEvent) -> Option<(u64, ApprovalDecision)> {
        let p = self.review.as_mut()?;
        let n = p.choices.len();
        let decide = |accept: bool, p: &mut Review| {
            p.choices[p.selected] = Some(accept);
            if p.selected + 1 < n {
                p.selected += 1;
            }
            p.scroll = 0;
        };
        let decision = match key.code {
            KeyCode::Down | KeyCode::Char('j') | KeyCode::Tab => {
                p.selected = (p.selected + 1).min(n - 1);
                p.scroll = 0;
                None
            }
            KeyCode::Up | KeyCode::Char('k') | KeyCode::BackTab => {
                p.selected = p.selected.saturating_sub(1);
                p.scroll = 0;
                None
            }
            KeyCode::PageDown | KeyCode::PageUp => {
                let len = p.edit.diff.lines().count() as isize;
                let step = if key.code == KeyCode::PageDown {
                    10
                } else {
                    -10
                };
                p.scroll = (p.scroll + step).clamp(-len, len);
                None
            }
            KeyCode::Char('y') if p.per_hunk => {
                decide(true, p);
                None
            }
            KeyCode::Char('n') if p.per_hunk => {
                decide(false, p);
                None
            }
            KeyCode::Char(' ') if p.per_hunk => {
                let c = &mut p.choices[p.selected];
                *c = Some(!c.unwrap_or(false));
                None
            }
            KeyCode::Char('a') | KeyCode::Char('y') => Some(ApprovalDecision::Accept),
            KeyCode::Char('r') | KeyCode::Char('n') | KeyCode::Esc => {
                Some(ApprovalDecision::Reject { reason: None })
            }
            KeyCode::Enter => {
                let accepted: Vec<usize> = p
                    .choices
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| **c == Some(true))
                    .map(|(i, _)| i)
                    .collect();
                Some(if !p.per_hunk || accepted.len() == n {
                    ApprovalDecision::Accept
                } else if accepted.is_empty() {
                    ApprovalDecision::Reject {
                        reason: Some("the user rejected every hunk".into()),
                    }
                } else {
                    ApprovalDecision::AcceptHunks { hunks: accepted }
                })
            }
            _ => None,
        };
        let d = decision?;
        let r = self.review.take()?;
        Some((r.request, d))
    }

    /// Draws the review in `area`.
    pub fn draw(&self, f: &mut Frame, theme: &Theme, area: Rect) {
        let Some(p) = &self.review else { return };
        let n = p.choices.len();
        let keys = if p.per_hunk {
            "j/k move · y/n accept/reject hunk · Enter apply choices · a accept all · r reject file"
        } else {
            "a/y accept · r/n reject"
        };
        let title = format!(
            " {} {} — hunk {}/{} — {keys} ",
            if p.edit.new_file { "New file" } else { "Edit" },
            p.edit.path,
            p.selected + 1,
            n
        );
        let inner_w = usize::from(area.width.saturating_sub(2));
        let mut b = Block::default()
            .borders(Borders::ALL)
            .border_style(Style::default().fg(theme.accent))
            .title(fit::truncate(&title, inner_w));
        let inner = b.inner(area);
        let mut lines: Vec<Line> = Vec::new();
        let mut hunk: Option<usize> = None;
        let mut selected_at = 0;
        for raw in p.edit.diff.lines() {
            if raw.starts_with("@@") {
                let i = hunk.map_or(0, |h| h + 1);
                hunk = Some(i);
                if i == p.selected {
                    selected_at = lines.len();
                }
                let mark = match p.choices.get(i).copied().flatten() {
                    Some(true) => "[✓]",
                    Some(false) => "[✗]",
                    None => "[ ]",
                };
                let mut style = Style::default().fg(theme.hunk).add_modifier(Modifier::BOLD);
                if i == p.selected {
                    style = style.bg(theme.selected_bg);
                }
                lines.push(Line::from(Span::styled(format!("{mark} {raw}"), style)));
                continue;
            }
            let color = if raw.starts_with('+') && !raw.starts_with("+++") {
                theme.added
            } else if raw.starts_with('-') && !raw.starts_with("---") {
                theme.removed
            } else {
                theme.dim
            };
            let mut style = Style::default().fg(color);
            if hunk == Some(p.selected) {
                style = style.bg(theme.selected_bg);
            }
            // Code keeps its columns: a long line is cut, not wrapped.
            lines.push(Line::from(Span::styled(
                fit::truncate(&format!("    {raw}"), inner_w),
                style,
            )));
        }
        let h = usize::from(inner.height);
        let max = lines.len().saturating_sub(h);
        let start =
            (selected_at.saturating_sub(2) as isize + p.scroll).clamp(0, max as isize) as usize;
        let end = (start + h).min(lines.len());
        if lines.len() > h {
            let pos = format!(
                " lines {}–{} of {} · PgUp/PgDn ",
                start + 1,
                end,
                lines.len()
            );
            b = b.title_bottom(Line::from(fit::truncate(&pos, inner_w)).right_aligned());
        }
        f.render_widget(b, area);
        f.render_widget(Paragraph::new(lines[start..end].to_vec()), inner);
    }
}
