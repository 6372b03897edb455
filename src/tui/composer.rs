//! The composer: where the person writes a message. Editing is `ratatui-textarea`'s (cursor moves, word and
//! line deletes, yank, undo, soft wrap by display width); this component adds Emacs and readline keys on top,
//! history (Up/Down at the edges, Ctrl-R search, kept per workspace), collapsed big pastes and `@path`
//! mentions with Tab completion. Enter hands back a [`Message`] for the app to act on.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui_textarea::{CursorMove, TextArea, WrapMode};

use super::fit;
use super::history::History;
use super::mention::{self, Message};
use super::theme::Theme;
use crate::sandbox::Workspace;

/// A paste longer than this many lines (or [`PASTE_CHARS`] characters) is shown as one placeholder.
const PASTE_LINES: usize = 10;
/// See [`PASTE_LINES`].
const PASTE_CHARS: usize = 2000;
/// The most rows the composer grows to before it scrolls.
const MAX_ROWS: usize = 8;
/// How many completions are offered.
const COMPLETIONS: usize = 8;

/// What a key did in the composer.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Enter: send this.
    Submit(Message),
    /// Enter, but the message cannot be sent as it is (a mention the path policy refuses); the text stays.
    Refused(String),
    /// The key was used.
    Handled,
    /// Not a composer key.
    Ignored,
}

#[derive(Debug, Clone)]
struct Search {
    query: String,
    hit: Option<usize>,
    draft: String,
}

#[derive(Debug, Clone)]
struct Completion {
    row: usize,
    start: usize,
    items: Vec<String>,
    selected: usize,
}

/// The composer's state.
#[derive(Debug, Clone)]
pub struct Composer {
    area: TextArea<'static>,
    history: History,
    browsing: Option<usize>,
    draft: String,
    search: Option<Search>,
    pastes: Vec<(String, String)>,
    completion: Option<Completion>,
    files: Option<Vec<String>>,
    ws: Option<Workspace>,
    notice: Option<String>,
}

fn textarea(text: &str) -> TextArea<'static> {
    let mut t = TextArea::new(text.split('\n').map(str::to_string).collect());
    t.set_wrap_mode(WrapMode::WordOrGlyph);
    t.set_cursor_line_style(Style::default());
    // The terminal's own cursor marks the place (see `draw`), where input methods also put their preedit.
    t.set_cursor_style(Style::default());
    t.move_cursor(CursorMove::Bottom);
    t.move_cursor(CursorMove::End);
    t
}

fn word_end(t: &mut TextArea) {
    t.move_cursor(CursorMove::WordEnd);
    t.move_cursor(CursorMove::Forward);
}

impl Default for Composer {
    fn default() -> Self {
        Composer::new(None)
    }
}

impl Composer {
    /// An empty composer; with a workspace, history is kept in its `.tandem/` and `@` completes its files.
    pub fn new(ws: Option<Workspace>) -> Composer {
        let file = ws.as_ref().map(|w| {
            w.root()
                .join(crate::sandbox::state::STATE_DIR)
                .join("history.jsonl")
        });
        let (history, notice) = History::open(file);
        Composer {
            area: textarea(""),
            history,
            browsing: None,
            draft: String::new(),
            search: None,
            pastes: Vec::new(),
            completion: None,
            files: None,
            ws,
            notice,
        }
    }

    /// The text as shown (pastes collapsed).
    pub fn text(&self) -> String {
        self.area.lines().join("\n")
    }

    /// Whether nothing is typed.
    pub fn is_empty(&self) -> bool {
        self.area.is_empty()
    }

    /// A notice for the transcript (history not saved, …), once.
    pub fn take_notice(&mut self) -> Option<String> {
        self.notice.take()
    }

    /// Whether the key would be used by an open popup (completion or search) rather than by the app.
    pub fn captures(&self, key: &KeyEvent) -> bool {
        self.search.is_some()
            || (self.completion.is_some()
                && matches!(
                    key.code,
                    KeyCode::Esc
                        | KeyCode::Enter
                        | KeyCode::Tab
                        | KeyCode::BackTab
                        | KeyCode::Up
                        | KeyCode::Down
                ))
    }

    fn set_text(&mut self, text: &str) {
        self.area = textarea(text);
    }

    /// Pasted text: inserted as it is, or as a `[pasted #N, L lines]` placeholder when it is big (the text is
    /// sent in full).
    pub fn paste(&mut self, text: &str) {
        // A paste during a history search edits the match.
        self.search = None;
        let text = text.replace("\r\n", "\n").replace('\r', "\n");
        let lines = text.lines().count();
        if lines > PASTE_LINES || text.chars().count() > PASTE_CHARS {
            let tag = format!(
                "[pasted #{}, {lines} lines, {} chars]",
                self.pastes.len() + 1,
                text.chars().count()
            );
            self.area.insert_str(&tag);
            self.pastes.push((tag, text));
        } else {
            self.area.insert_str(&text);
        }
        self.edited();
    }

    /// Handles a key.
    pub fn key(&mut self, key: KeyEvent) -> Outcome {
        if self.search.is_some() {
            return self.search_key(key);
        }
        if self.completion.is_some() {
            match self.completion_key(key) {
                Outcome::Ignored => {}
                done => return done,
            }
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        let shift = key.modifiers.contains(KeyModifiers::SHIFT);
        let t = &mut self.area;
        match key.code {
            KeyCode::Enter if alt || shift => t.insert_newline(),
            KeyCode::Char('j') if ctrl => t.insert_newline(),
            KeyCode::Enter => return self.submit(),
            KeyCode::Char('r') if ctrl => {
                self.search = Some(Search {
                    query: String::new(),
                    hit: None,
                    draft: self.text(),
                });
                return Outcome::Handled;
            }
            KeyCode::Up => return self.vertical(true),
            KeyCode::Down => return self.vertical(false),
            KeyCode::Char('p') if ctrl => return self.vertical(true),
            KeyCode::Char('n') if ctrl => return self.vertical(false),
            KeyCode::Tab => return self.open_completion(),
            KeyCode::Char('a') if ctrl => t.move_cursor(CursorMove::Head),
            KeyCode::Home => t.move_cursor(CursorMove::Head),
            KeyCode::Char('e') if ctrl => t.move_cursor(CursorMove::End),
            KeyCode::End => t.move_cursor(CursorMove::End),
            KeyCode::Char('b') if ctrl => t.move_cursor(CursorMove::Back),
            KeyCode::Char('f') if ctrl => t.move_cursor(CursorMove::Forward),
            KeyCode::Char('b') if alt => t.move_cursor(CursorMove::WordBack),
            // Emacs puts the cursor after the word, not on the next one's start.
            KeyCode::Char('f') if alt => word_end(t),
            KeyCode::Left if ctrl || alt => t.move_cursor(CursorMove::WordBack),
            KeyCode::Right if ctrl || alt => word_end(t),
            KeyCode::Left => t.move_cursor(CursorMove::Back),
            KeyCode::Right => t.move_cursor(CursorMove::Forward),
            KeyCode::Char('w') if ctrl => {
                t.delete_word();
            }
            KeyCode::Backspace if alt || ctrl => {
                t.delete_word();
            }
            KeyCode::Char('d') if alt => {
                t.delete_next_word();
            }
            KeyCode::Char('u') if ctrl => {
                t.delete_line_by_head();
            }
            KeyCode::Char('k') if ctrl => {
                t.delete_line_by_end();
            }
            KeyCode::Char('y') if ctrl => {
                t.paste();
            }
            KeyCode::Char('z' | '_') if ctrl => {
                t.undo();
            }
            KeyCode::Char('h') if ctrl => self.backspace(),
            KeyCode::Backspace => self.backspace(),
            KeyCode::Char('d') if ctrl => {
                t.delete_next_char();
            }
            KeyCode::Delete => {
                t.delete_next_char();
            }
            KeyCode::Char(c) if !ctrl && !alt => t.insert_char(c),
            _ => return Outcome::Ignored,
        }
        self.edited();
        Outcome::Handled
    }

    /// Backspace; right after a paste placeholder it removes the whole placeholder (and its text).
    fn backspace(&mut self) {
        let (row, col) = (self.area.cursor().0, self.area.cursor().1);
        let before: String = self.area.lines()[row].chars().take(col).collect();
        if let Some(i) = self
            .pastes
            .iter()
            .position(|(tag, _)| before.ends_with(tag.as_str()))
        {
            let n = self.pastes[i].0.chars().count();
            self.area
                .move_cursor(CursorMove::Jump(row as u16, (col - n) as u16));
            self.area.delete_str(n);
            self.pastes.remove(i);
            return;
        }
        self.area.delete_char();
    }

    /// After an edit: the text is a draft again, and the completion follows the word at the cursor.
    fn edited(&mut self) {
        self.browsing = None;
        self.refresh_completion();
    }

    fn vertical(&mut self, up: bool) -> Outcome {
        let before = self.area.cursor();
        self.area
            .move_cursor(if up { CursorMove::Up } else { CursorMove::Down });
        if self.area.cursor() != before {
            return Outcome::Handled;
        }
        let n = self.history.entries().len();
        let next = match (self.browsing, up) {
            (None, true) if n > 0 => Some(n - 1),
            (None, _) => return Outcome::Handled,
            (Some(i), true) => Some(i.saturating_sub(1)),
            (Some(i), false) if i + 1 < n => Some(i + 1),
            (Some(_), false) => None,
        };
        if self.browsing.is_none() {
            self.draft = self.text();
        }
        self.browsing = next;
        let text = match next {
            Some(i) => self.history.entries()[i].clone(),
            None => self.draft.clone(),
        };
        self.set_text(&text);
        self.completion = None;
        Outcome::Handled
    }

    fn search_key(&mut self, key: KeyEvent) -> Outcome {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let Some(s) = &mut self.search else {
            return Outcome::Ignored;
        };
        match key.code {
            KeyCode::Esc => {
                let draft = s.draft.clone();
                self.search = None;
                self.set_text(&draft);
                return Outcome::Handled;
            }
            KeyCode::Char('g') if ctrl => {
                let draft = s.draft.clone();
                self.search = None;
                self.set_text(&draft);
                return Outcome::Handled;
            }
            KeyCode::Char('r') if ctrl => {
                if let Some(i) = self.history.search(&s.query, s.hit) {
                    s.hit = Some(i);
                }
            }
            KeyCode::Backspace => {
                s.query.pop();
                s.hit = self.history.search(&s.query, None);
            }
            KeyCode::Char(c) if !ctrl => {
                s.query.push(c);
                s.hit = self.history.search(&s.query, s.hit.map(|h| h + 1));
            }
            _ => {
                // Any other key takes the match and is then handled as usual (Enter sends it).
                self.search = None;
                return if key.code == KeyCode::Enter {
                    self.submit()
                } else {
                    self.key(key)
                };
            }
        }
        let text = match s.hit {
            Some(i) if !s.query.is_empty() => self.history.entries()[i].clone(),
            _ => s.draft.clone(),
        };
        self.set_text(&text);
        Outcome::Handled
    }

    fn open_completion(&mut self) -> Outcome {
        self.refresh_completion();
        if self.completion.is_some() {
            Outcome::Handled
        } else {
            Outcome::Ignored
        }
    }

    fn refresh_completion(&mut self) {
        let (row, col) = (self.area.cursor().0, self.area.cursor().1);
        let before: Vec<char> = self.area.lines()[row].chars().take(col).collect();
        let start = before
            .iter()
            .rposition(|c| c.is_whitespace())
            .map_or(0, |i| i + 1);
        if before.get(start) != Some(&'@') {
            self.completion = None;
            return;
        }
        let Some(ws) = &self.ws else {
            self.completion = None;
            return;
        };
        let prefix: String = before[start + 1..].iter().collect();
        let files = self.files.get_or_insert_with(|| mention::list_files(ws));
        let items = mention::complete(files, &prefix, COMPLETIONS);
        let selected = self
            .completion
            .as_ref()
            .map_or(0, |c| c.selected.min(items.len().saturating_sub(1)));
        self.completion = (!items.is_empty()).then_some(Completion {
            row,
            start,
            items,
            selected,
        });
    }

    fn completion_key(&mut self, key: KeyEvent) -> Outcome {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let col = self.area.cursor().1;
        let Some(c) = &mut self.completion else {
            return Outcome::Ignored;
        };
        let typed: String = self.area.lines()[c.row]
            .chars()
            .skip(c.start + 1)
            .take(col.saturating_sub(c.start + 1))
            .collect();
        let whole = typed == c.items[c.selected];
        match key.code {
            KeyCode::Esc => self.completion = None,
            KeyCode::Down => c.selected = (c.selected + 1) % c.items.len(),
            KeyCode::Char('n') if ctrl => c.selected = (c.selected + 1) % c.items.len(),
            KeyCode::Up | KeyCode::BackTab => {
                c.selected = (c.selected + c.items.len() - 1) % c.items.len()
            }
            KeyCode::Char('p') if ctrl => {
                c.selected = (c.selected + c.items.len() - 1) % c.items.len()
            }
            KeyCode::Enter if whole => {
                // The mention is already whole: Enter sends.
                self.completion = None;
                return Outcome::Ignored;
            }
            KeyCode::Tab | KeyCode::Enter => {
                let item = c.items[c.selected].clone();
                let (row, start) = (c.row, c.start);
                let col = self.area.cursor().1;
                self.area
                    .move_cursor(CursorMove::Jump(row as u16, (start + 1) as u16));
                self.area.delete_str(col.saturating_sub(start + 1));
                self.area.insert_str(&item);
                self.completion = None;
                if item.ends_with('/') {
                    self.refresh_completion();
                } else {
                    self.area.insert_char(' ');
                }
            }
            _ => return Outcome::Ignored,
        }
        Outcome::Handled
    }

    fn submit(&mut self) -> Outcome {
        let typed = self.text();
        let mut text = typed.clone();
        for (tag, content) in &self.pastes {
            text = text.replacen(tag.as_str(), content, 1);
        }
        let text = text.trim().to_string();
        if text.is_empty() {
            return Outcome::Handled;
        }
        // Mentions count where the person typed them, not inside pasted text.
        let attachments = match &self.ws {
            Some(ws) => match mention::attach(ws, &typed) {
                Ok(a) => a,
                Err(e) => return Outcome::Refused(e),
            },
            None => Vec::new(),
        };
        if let Err(e) = self.history.push(&text) {
            self.notice = Some(e);
        }
        self.set_text("");
        self.pastes.clear();
        self.browsing = None;
        self.completion = None;
        self.files = None;
        Outcome::Submit(Message { text, attachments })
    }

    /// The rows the composer needs at `width` columns, borders included.
    pub fn height(&self, width: u16) -> u16 {
        let inner = usize::from(width.saturating_sub(2)).max(1);
        let rows: usize = self
            .area
            .lines()
            .iter()
            .map(|l| fit::wrap(Line::from(l.as_str()), inner.saturating_sub(1)).len())
            .sum();
        (rows.clamp(1, MAX_ROWS) + 2) as u16
    }

    /// Draws the composer in `area` (and the completion list above it); `title` is the app's (the search's
    /// when searching); with `cursor`, the terminal's cursor is put where typing goes.
    pub fn draw(
        &self,
        f: &mut Frame,
        area: Rect,
        theme: &Theme,
        title: String,
        focused: bool,
        cursor: bool,
    ) {
        let title = match &self.search {
            Some(s) => {
                let state = match s.hit {
                    _ if s.query.is_empty() => "type to search",
                    Some(_) => "C-r older · Enter sends · → edits · Esc cancels",
                    None => "no match",
                };
                format!(" history search: “{}” — {state} ", s.query)
            }
            None => title,
        };
        let b = Block::default()
            .borders(Borders::ALL)
            .border_style(Style::default().fg(if focused { theme.accent } else { theme.dim }))
            .title(fit::truncate(
                &title,
                usize::from(area.width.saturating_sub(2)),
            ));
        let inner = b.inner(area);
        f.render_widget(b, area);
        f.buffer_mut()
            .set_style(inner, Style::default().fg(theme.fg));
        f.render_widget(&self.area, inner);
        if cursor && inner.width > 0 && inner.height > 0 {
            let at = self.area.screen_cursor();
            let (top, left) = self.area.scroll_offset();
            if let (Some(y), Some(x)) = (
                at.row.checked_sub(usize::from(top)),
                at.col.checked_sub(usize::from(left)),
            ) && y < usize::from(inner.height)
            {
                let x = x.min(usize::from(inner.width) - 1) as u16;
                f.set_cursor_position((inner.x + x, inner.y + y as u16));
            }
        }
        if let Some(c) = &self.completion {
            let w = c
                .items
                .iter()
                .map(|i| fit::width(i) + 4)
                .max()
                .unwrap_or(10)
                .max(36)
                .min(usize::from(area.width.saturating_sub(2)).max(1)) as u16;
            let h = (c.items.len() as u16 + 2).min(area.y);
            let rect = Rect {
                x: area.x + 1,
                y: area.y - h,
                width: w.min(area.width),
                height: h,
            };
            f.render_widget(Clear, rect);
            let lines: Vec<Line> = c
                .items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let style = if i == c.selected {
                        Style::default().fg(theme.fg).bg(theme.selected_bg)
                    } else {
                        Style::default().fg(theme.dim)
                    };
                    Line::from(Span::styled(format!(" @{item}"), style))
                })
                .collect();
            let b = Block::default()
                .borders(Borders::ALL)
                .border_style(Style::default().fg(theme.accent))
                .title(fit::truncate(
                    " Tab completes · ↑↓ choose · Esc ",
                    usize::from(w.saturating_sub(2)),
                ));
            f.render_widget(Paragraph::new(lines).block(b), rect);
        }
    }
}
