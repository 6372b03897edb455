//! The transcript: what the person sent, the models' streamed text (markdown), tool calls and notices,
//! wrapped to the pane by display width and scrolled from the bottom (PgUp/PgDn).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::fit;
use super::theme::Theme;
use crate::protocol::{EventMsg, RouteRole};

/// One transcript entry.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    /// What the user typed.
    User(String),
    /// A model's text (streamed into).
    Model(RouteRole, String),
    /// A tool call and its result.
    Tool {
        /// Tool name.
        tool: String,
        /// Short argument summary.
        args: String,
        /// `None` while running; then ok and the first line of output.
        result: Option<(bool, String)>,
    },
    /// A notice from tandem.
    Info(String),
    /// An error.
    Error(String),
    /// Something went wrong and the session went on (a provider failed and the request moved on).
    Warning(String),
}

/// The transcript's entries and scroll position.
#[derive(Debug, Clone, Default)]
pub struct Transcript {
    entries: Vec<Entry>,
    scroll: usize,
    /// How far it could scroll at the last draw (lines above the view), so PgUp stops at the top.
    max_scroll: std::cell::Cell<usize>,
    /// Model replies as rendered at the last draw, by a hash of their text and the theme: only the reply that is
    /// streaming is rendered again on each frame.
    rendered: std::cell::RefCell<std::collections::HashMap<u64, Vec<Line<'static>>>>,
}

impl Transcript {
    /// Adds an entry and scrolls to the bottom.
    pub fn push(&mut self, e: Entry) {
        self.entries.push(e);
        self.scroll = 0;
    }

    /// Empties it.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.scroll = 0;
    }

    /// Scrolls up (`lines` > 0) or down.
    pub fn scroll(&mut self, lines: isize) {
        self.scroll = self
            .scroll
            .saturating_add_signed(lines)
            .min(self.max_scroll.get());
    }

    /// Applies the events it shows: streamed text and tool calls.
    pub fn event(&mut self, msg: &EventMsg) {
        match msg {
            EventMsg::Text { role, text } => {
                if let Some(Entry::Model(r, buf)) = self.entries.last_mut()
                    && r == role
                {
                    buf.push_str(text);
                } else {
                    self.entries.push(Entry::Model(*role, text.clone()));
                }
                self.scroll = 0;
            }
            EventMsg::TextRestart { role } => {
                if let Some(Entry::Model(r, _)) = self.entries.last()
                    && r == role
                {
                    self.entries.pop();
                }
            }
            EventMsg::HookRan {
                hook,
                event,
                tool,
                exit_code,
                timed_out,
                blocked,
                output,
            } => {
                let on = match tool {
                    Some(t) => format!("{event} {t}"),
                    None => event.clone(),
                };
                let first = fit::truncate(output.lines().next().unwrap_or(""), 200);
                let text = match (blocked, timed_out, exit_code) {
                    (Some(reason), _, _) => format!("hook {hook} ({on}) blocked it: {reason}"),
                    (None, true, _) => format!("hook {hook} ({on}) ran past its timeout"),
                    (None, false, Some(0)) if first.is_empty() => format!("hook {hook} ({on}) ran"),
                    (None, false, Some(0)) => format!("hook {hook} ({on}): {first}"),
                    (None, false, code) => format!(
                        "hook {hook} ({on}) exited {}: {first}",
                        code.map_or("by a signal".into(), |c| c.to_string())
                    ),
                };
                if blocked.is_some() || *timed_out {
                    self.push(Entry::Warning(text));
                } else {
                    self.push(Entry::Info(text));
                }
            }
            EventMsg::ToolCall {
                tool, arguments, ..
            } => {
                let args = arguments
                    .get("path")
                    .or_else(|| arguments.get("command"))
                    .or_else(|| arguments.get("pattern"))
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_string();
                self.push(Entry::Tool {
                    tool: tool.clone(),
                    args,
                    result: None,
                });
            }
            EventMsg::ToolResult {
                tool, ok, output, ..
            } => {
                let first = fit::truncate(output.lines().next().unwrap_or(""), 200);
                if let Some(Entry::Tool {
                    result, tool: t, ..
                }) = self
                    .entries
                    .iter_mut()
                    .rev()
                    .find(|e| matches!(e, Entry::Tool { result: None, .. }))
                    && t == tool
                {
                    *result = Some((*ok, first));
                }
            }
            _ => {}
        }
    }

    /// The lines to show, each with the indent its wrapped continuation gets (under the text, past the mark).
    fn lines(&self, theme: &Theme) -> Vec<(Line<'static>, usize)> {
        let mut lines = Vec::new();
        let mut before = self.rendered.take();
        let mut kept: std::collections::HashMap<u64, Vec<Line<'static>>> =
            std::collections::HashMap::new();
        for e in &self.entries {
            match e {
                Entry::User(text) => {
                    for (i, l) in text.lines().enumerate() {
                        let prefix = if i == 0 { "› " } else { "  " };
                        lines.push((
                            Line::from(Span::styled(
                                format!("{prefix}{l}"),
                                Style::default().fg(theme.user).add_modifier(Modifier::BOLD),
                            )),
                            2,
                        ));
                    }
                }
                Entry::Model(role, text) => {
                    let color = if *role == RouteRole::Planner {
                        theme.planner
                    } else {
                        theme.executor
                    };
                    lines.push((
                        Line::from(Span::styled(
                            format!("{}:", role.as_str()),
                            Style::default().fg(color).add_modifier(Modifier::BOLD),
                        )),
                        0,
                    ));
                    let key = {
                        use std::hash::{Hash, Hasher};
                        let mut h = std::collections::hash_map::DefaultHasher::new();
                        (text, theme).hash(&mut h);
                        h.finish()
                    };
                    let shown = match kept.get(&key) {
                        Some(shown) => shown,
                        None => {
                            let shown = before.remove(&key).unwrap_or_else(|| {
                                super::markdown::render(text, Style::default().fg(theme.fg), theme)
                            });
                            kept.entry(key).or_insert(shown)
                        }
                    };
                    lines.extend(shown.iter().cloned().map(|l| (l, 0)));
                }
                Entry::Tool { tool, args, result } => {
                    let (mark, color, tail) = match result {
                        None => ("…", theme.dim, String::new()),
                        Some((true, first)) => ("✓", theme.ok, format!(" — {first}")),
                        Some((false, first)) => ("✗", theme.error, format!(" — {first}")),
                    };
                    lines.push((
                        Line::from(vec![
                            Span::styled(format!("{mark} "), Style::default().fg(color)),
                            Span::styled(format!("{tool} {args}"), Style::default().fg(theme.tool)),
                            Span::styled(tail, Style::default().fg(theme.dim)),
                        ]),
                        2,
                    ));
                }
                Entry::Info(text) => {
                    for (i, l) in text.lines().enumerate() {
                        let prefix = if i == 0 { "• " } else { "  " };
                        lines.push((
                            Line::from(Span::styled(
                                format!("{prefix}{l}"),
                                Style::default().fg(theme.dim),
                            )),
                            2,
                        ));
                    }
                }
                Entry::Warning(text) => lines.push((
                    Line::from(Span::styled(
                        format!("⚠ {text}"),
                        Style::default().fg(theme.warning),
                    )),
                    2,
                )),
                Entry::Error(text) => lines.push((
                    Line::from(Span::styled(
                        format!("✗ {text}"),
                        Style::default()
                            .fg(theme.error)
                            .add_modifier(Modifier::BOLD),
                    )),
                    2,
                )),
            }
        }
        self.rendered.replace(kept);
        lines
    }

    /// Draws the transcript in a bordered pane titled `title`.
    pub fn draw(&self, f: &mut Frame, theme: &Theme, area: Rect, title: String) {
        let inner_w = usize::from(area.width.saturating_sub(2));
        let mut b = Block::default()
            .borders(Borders::ALL)
            .border_style(Style::default().fg(theme.accent))
            .title(fit::truncate(&title, inner_w));
        let inner = b.inner(area);
        let width = usize::from(inner.width);
        let mut lines: Vec<Line> = self
            .lines(theme)
            .into_iter()
            .flat_map(|(l, indent)| fit::wrap_hanging(l, width, indent))
            .collect();
        if lines.is_empty() {
            lines = fit::wrap_text(
                "Type a task and press Enter. /plan <task> plans without changing anything; @path attaches a file; ? shows the keys.",
                Style::default().fg(theme.dim),
                width,
            );
        }
        let h = usize::from(inner.height);
        self.max_scroll.set(lines.len().saturating_sub(h));
        let end = lines
            .len()
            .saturating_sub(self.scroll.min(lines.len().saturating_sub(h)));
        let start = end.saturating_sub(h);
        let below = lines.len() - end;
        if below > 0 {
            let more = format!(
                " ↓ {below} more line{} · PgDn ",
                if below == 1 { "" } else { "s" }
            );
            b = b.title_bottom(Line::from(fit::truncate(&more, inner_w)).right_aligned());
        }
        f.render_widget(b, area);
        f.render_widget(Paragraph::new(lines[start..end].to_vec()), inner);
    }
}
