//! Popups over the screen: help, the spend breakdown, the trust question and command approval. Each wraps its
//! text to the terminal by display width and scrolls (↑↓ j/k, PgUp/PgDn, Home/End) with a position indicator.

use std::cell::Cell;

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::fit;
use super::theme::Theme;
use crate::protocol::ApprovalDecision;

/// What a popup shows.
#[derive(Debug, Clone, PartialEq)]
pub enum Overlay {
    /// Keys and commands.
    Help,
    /// The spend breakdown (text prepared by the runtime).
    Cost(String),
    /// The question whether to trust the workspace's project config, with the keys it would honour.
    Trust(String),
    /// This workspace's recent sessions to continue: ids and their lines; Enter picks the selected one.
    Sessions(Vec<(String, String)>),
    /// A command waiting for approval.
    Command {
        /// The request id to answer.
        request: u64,
        /// The command.
        command: String,
        /// Why it asks.
        reason: String,
    },
}

/// What a key in a popup asks of the app.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// Nothing more (a scroll, or an unused key).
    Keep,
    /// The popup is closed.
    Close,
    /// Trust the workspace's config (closed).
    Trust,
    /// Not trusted (closed).
    Distrust,
    /// The command's answer (closed).
    Decide(u64, ApprovalDecision),
    /// Continue this session (closed).
    Resume(String),
}

/// The text lines of a list's rows.
fn lines_of(rows: &[(String, String)]) -> Vec<&str> {
    rows.iter().map(|(_, line)| line.as_str()).collect()
}

/// A shown popup and its scroll position.
#[derive(Debug, Clone)]
pub struct Popup {
    overlay: Overlay,
    scroll: usize,
    /// The picked row of a list (sessions), among the rows the filter keeps.
    selected: usize,
    /// What was typed to filter a list (sessions).
    query: String,
    /// The text rows and the visible rows at the last draw, so keys scroll by what was seen.
    view: Cell<(usize, usize)>,
}

impl Popup {
    /// Shows `overlay` from its top.
    pub fn new(overlay: Overlay) -> Popup {
        Popup {
            overlay,
            scroll: 0,
            selected: 0,
            query: String::new(),
            view: Cell::new((0, 0)),
        }
    }

    /// What it shows.
    pub fn overlay(&self) -> &Overlay {
        &self.overlay
    }

    /// Handles a key.
    pub fn key(&mut self, key: KeyEvent) -> Reply {
        if let Overlay::Sessions(rows) = &self.overlay {
            let shown = super::fuzzy::rank(&lines_of(rows), &self.query, false);
            let last = shown.len().saturating_sub(1);
            let (_, h) = self.view.get();
            let page = h.saturating_sub(1).max(1);
            match key.code {
                KeyCode::Up => self.selected = self.selected.saturating_sub(1),
                KeyCode::Down => self.selected = (self.selected + 1).min(last),
                KeyCode::PageUp => self.selected = self.selected.saturating_sub(page),
                KeyCode::PageDown => self.selected = (self.selected + page).min(last),
                KeyCode::Home => self.selected = 0,
                KeyCode::End => self.selected = last,
                KeyCode::Enter => {
                    return shown
                        .get(self.selected)
                        .and_then(|&i| rows.get(i))
                        .map_or(Reply::Keep, |(id, _)| Reply::Resume(id.clone()));
                }
                KeyCode::Esc if !self.query.is_empty() => {
                    self.query.clear();
                    self.selected = 0;
                }
                KeyCode::Esc => return Reply::Close,
                KeyCode::Backspace => {
                    self.query.pop();
                    self.selected = 0;
                }
                KeyCode::Char(c)
                    if !key.modifiers.intersects(
                        crossterm::event::KeyModifiers::CONTROL
                            | crossterm::event::KeyModifiers::ALT,
                    ) =>
                {
                    self.query.push(c);
                    self.selected = 0;
                }
                _ => {}
            }
            // The picked row stays in view; the text's first line is the filter's.
            let line = if self.selected == 0 {
                0
            } else {
                self.selected + 1
            };
            let h = h.max(1);
            if line < self.scroll {
                self.scroll = line;
            } else if self.selected + 1 >= self.scroll + h {
                self.scroll = self.selected + 2 - h;
            }
            return Reply::Keep;
        }
        let (total, h) = self.view.get();
        let page = h.max(1);
        let max = total.saturating_sub(h);
        match key.code {
            KeyCode::Up | KeyCode::Char('k') => self.scroll = self.scroll.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => self.scroll = (self.scroll + 1).min(max),
            KeyCode::PageUp => self.scroll = self.scroll.saturating_sub(page),
            KeyCode::PageDown | KeyCode::Char(' ') => self.scroll = (self.scroll + page).min(max),
            KeyCode::Home | KeyCode::Char('g') => self.scroll = 0,
            KeyCode::End | KeyCode::Char('G') => self.scroll = max,
            code => {
                return match (&self.overlay, code) {
                    (Overlay::Trust(_), KeyCode::Char('y')) => Reply::Trust,
                    (Overlay::Trust(_), KeyCode::Char('n') | KeyCode::Esc) => Reply::Distrust,
                    (Overlay::Trust(_), _) => Reply::Keep,
                    (Overlay::Command { request, .. }, KeyCode::Char('y') | KeyCode::Enter) => {
                        Reply::Decide(*request, ApprovalDecision::Accept)
                    }
                    (Overlay::Command { request, .. }, KeyCode::Char('n') | KeyCode::Esc) => {
                        Reply::Decide(*request, ApprovalDecision::Reject { reason: None })
                    }
                    (Overlay::Command { .. }, _) => Reply::Keep,
                    (_, KeyCode::Esc | KeyCode::Char('q' | '?') | KeyCode::Enter) => Reply::Close,
                    _ => Reply::Keep,
                };
            }
        }
        Reply::Keep
    }

    fn title_and_text(&self) -> (String, String) {
        match &self.overlay {
            Overlay::Help => ("Keys and commands (Esc closes)".into(), help_text()),
            Overlay::Cost(t) => ("Spend (Esc closes)".into(), t.clone()),
            Overlay::Trust(t) => (
                "Trust this workspace's config? y trusts · n keeps it narrowed".into(),
                t.clone(),
            ),
            Overlay::Sessions(rows) => {
                let shown = super::fuzzy::rank(&lines_of(rows), &self.query, false);
                let mut text = if self.query.is_empty() {
                    "Type to filter.".to_string()
                } else {
                    format!(
                        "Filter: {}  ({} of {}; Esc clears)",
                        self.query,
                        shown.len(),
                        rows.len()
                    )
                };
                if shown.is_empty() {
                    text.push_str("\nNo session matches.");
                }
                for (n, &i) in shown.iter().enumerate() {
                    let mark = if n == self.selected { "›" } else { " " };
                    text.push_str(&format!("\n{mark} {}", rows[i].1));
                }
                (
                    "Continue a session: type to filter · ↑/↓ pick · Enter continues · Esc closes"
                        .into(),
                    text,
                )
            }
            Overlay::Command {
                command, reason, ..
            } => (
                "Run this command? y runs · n refuses".into(),
                format!("$ {command}\n\n{reason}"),
            ),
        }
    }

    /// Draws the popup centred in `area`.
    pub fn draw(&self, f: &mut Frame, theme: &Theme, area: Rect) {
        let (title, text) = self.title_and_text();
        let w = area
            .width
            .saturating_sub(4)
            .min(100)
            .max(area.width.min(10));
        let inner_w = usize::from(w.saturating_sub(2)).max(1);
        let lines = fit::wrap_table(&text, Style::default().fg(theme.fg), inner_w);
        let h = (lines.len() as u16 + 2).min(area.height.saturating_sub(2).max(3));
        let rect = Rect {
            x: area.x + (area.width.saturating_sub(w)) / 2,
            y: area.y + (area.height.saturating_sub(h)) / 2,
            width: w,
            height: h.min(area.height),
        };
        let view_h = usize::from(rect.height.saturating_sub(2));
        self.view.set((lines.len(), view_h));
        let start = self.scroll.min(lines.len().saturating_sub(view_h));
        let end = (start + view_h).min(lines.len());
        f.render_widget(Clear, rect);
        let mut b = Block::default()
            .borders(Borders::ALL)
            .border_style(Style::default().fg(theme.accent))
            .title(fit::truncate(&format!(" {title} "), inner_w));
        if lines.len() > view_h {
            let pos = format!(" {}–{} of {} · ↑↓ PgUp/PgDn ", start + 1, end, lines.len());
            b = b.title_bottom(Line::from(fit::truncate(&pos, inner_w)).right_aligned());
        }
        f.render_widget(Paragraph::new(lines[start..end].to_vec()).block(b), rect);
    }
}

/// The help popup's text.
fn help_text() -> String {
    [
        "Enter          send the message: a turn of the conversation (queued while one runs)",
        "Shift/Alt+Enter, Ctrl-J   new line",
        "←/→ Ctrl-B/F   move by character; Alt-B/F or Ctrl-←/→ by word",
        "Home/End, Ctrl-A/E        start/end of the line",
        "Ctrl-W, Alt-Backspace     delete the word before the cursor; Alt-D the next",
        "Ctrl-U / Ctrl-K           delete to the start / end of the line; Ctrl-Y puts it back",
        "Ctrl-Z         undo an edit",
        "↑ / ↓          move between lines; at the first/last line, browse history",
        "Ctrl-R         search history (again: older match; Enter sends; Esc cancels)",
        "@path, Tab     mention a file (its text is attached); Tab completes",
        "paste          any size; a long paste shows as [pasted #N, …] and is sent in full",
        "PgUp / PgDn    scroll the transcript",
        "Esc            cancel the running generation",
        "Ctrl-C twice   quit",
        "?              this help (when the composer is empty)",
        "",
        "In a diff:     j/k or ↑/↓ move between hunks; y/n accept or reject one;",
        "               Space toggles it; Enter applies the choices; a accepts the",
        "               file, r rejects it; PgUp/PgDn scroll",
        "In a popup:    ↑/↓ j/k, PgUp/PgDn, Home/End scroll; Esc closes",
        "",
        "/plan <task>   plan only (no file changes); /run executes that plan",
        "/run [task]    run the last plan, or a new task",
        "/undo          undo the last applied edits",
        "/cost          spend breakdown",
        "/trust         trust .tandem/config.toml as it is (applies on restart)",
        "/route cloud|local|<provider>|auto   force the planner's provider",
        "/model [planner|executor <provider>] show or change models",
        "/theme dark|light|high-contrast",
        "/new           a new conversation (the next message starts a new session)",
        "/resume [ID]   pick one of this workspace's sessions to continue",
        "/compact       summarise the earlier turns (also done before they crowd the planner)",
        "/clear         clear the transcript",
        "/help, /quit",
    ]
    .join("\n")
}
