//! Drawing the UI from [`App`]: banner, transcript, plan, diff preview, composer and status bar. Pure: the
//! same state always draws the same frame (the snapshot tests rely on it).

use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::app::{App, Entry, ModelState, Overlay};
use super::theme::Theme;
use crate::protocol::{RouteRole, StepStatus};

const SPINNER: [&str; 4] = ["⠋", "⠙", "⠸", "⠴"];

/// Draws the whole screen.
pub fn draw(f: &mut Frame, app: &App, theme: &Theme) {
    let area = f.area();
    let banner = app.fallback().or_else(|| app.warnings.back().cloned());
    let composer_h = (app.input.lines().count().max(1) as u16 + 2).min(6);
    let rows = Layout::default()
        .direction(Direction::Vertical)
        .constraints([
            Constraint::Length(u16::from(banner.is_some())),
            Constraint::Min(3),
            Constraint::Length(composer_h),
            Constraint::Length(1),
        ])
        .split(area);
    if let Some(text) = banner {
        let style = Style::default()
            .bg(theme.banner_bg)
            .fg(theme.warning)
            .add_modifier(Modifier::BOLD);
        f.render_widget(Paragraph::new(format!(" ⚠ {text}")).style(style), rows[0]);
    }
    if app.pending_edit.as_ref().is_some_and(|p| p.request != 0) {
        draw_diff(f, app, theme, rows[1]);
    } else {
        let plan_w = if area.width >= 100 { 40 } else { 28 };
        let cols = Layout::default()
            .direction(Direction::Horizontal)
            .constraints([Constraint::Min(20), Constraint::Length(plan_w)])
            .split(rows[1]);
        draw_transcript(f, app, theme, cols[0]);
        draw_plan(f, app, theme, cols[1]);
    }
    draw_composer(f, app, theme, rows[2]);
    draw_status(f, app, theme, rows[3]);
    match &app.overlay {
        Some(Overlay::Help) => draw_popup(
            f,
            theme,
            "Keys and commands (Esc closes)",
            &help_text(),
            area,
        ),
        Some(Overlay::Cost(text)) => draw_popup(f, theme, "Spend (Esc closes)", text, area),
        Some(Overlay::Sessions(text)) => draw_popup(
            f,
            theme,
            "Sessions: /resume N continues one (Esc closes)",
            text,
            area,
        ),
        Some(Overlay::Trust(text)) => draw_popup(
            f,
            theme,
            "Trust this workspace's config? y trusts · n keeps it narrowed",
            text,
            area,
        ),
        None => {}
    }
    scrub(f.buffer_mut());
}

/// Replaces any cell holding a control character (ESC, BEL, CR, C1, a bidi override), whichever widget drew
/// it, with a visible mark: the one place every UI text passes before it reaches the terminal.
fn scrub(buf: &mut ratatui::buffer::Buffer) {
    for cell in buf.content.iter_mut() {
        if cell.symbol().chars().any(crate::text::is_unsafe) {
            let shown: String = cell
                .symbol()
                .chars()
                .map(|c| {
                    if crate::text::is_unsafe(c) {
                        '\u{fffd}'
                    } else {
                        c
                    }
                })
                .collect();
            cell.set_symbol(&shown);
        }
    }
}

fn block<'a>(title: impl Into<Line<'a>>, theme: &Theme, focused: bool) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(Style::default().fg(if focused { theme.accent } else { theme.dim }))
        .title(title)
}

/// Wraps `line` to `width` columns (by characters), keeping its style per span.
fn wrap(line: Line<'static>, width: usize) -> Vec<Line<'static>> {
    if width == 0 {
        return vec![line];
    }
    let mut out = Vec::new();
    let mut cur: Vec<Span<'static>> = Vec::new();
    let mut used = 0;
    for span in line.spans {
        let mut text: &str = &span.content;
        while !text.is_empty() {
            let room = width - used;
            let take: String = text.chars().take(room).collect();
            let n = take.chars().count();
            cur.push(Span::styled(take.clone(), span.style));
            used += n;
            text = &text[take.len()..];
            if used == width {
                out.push(Line::from(std::mem::take(&mut cur)));
                used = 0;
            }
        }
    }
    if !cur.is_empty() || out.is_empty() {
        out.push(Line::from(cur));
    }
    out
}

const KEYWORDS: &[&str] = &[
    "fn",
    "let",
    "mut",
    "pub",
    "struct",
    "enum",
    "impl",
    "use",
    "mod",
    "def",
    "class",
    "return",
    "if",
    "else",
    "for",
    "while",
    "import",
    "from",
    "const",
    "function",
    "async",
    "await",
    "match",
    "func",
    "package",
    "type",
    "interface",
    "export",
];

/// Markdown-ish: headings bold, fenced code coloured with keywords bold, inline `code` coloured.
fn markdown(text: &str, base: Style, theme: &Theme) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    let mut in_code = false;
    for raw in text.lines() {
        if raw.trim_start().starts_with("```") {
            in_code = !in_code;
            out.push(Line::from(Span::styled(
                raw.to_string(),
                Style::default().fg(theme.dim),
            )));
            continue;
        }
        if in_code {
            let mut spans = Vec::new();
            for (i, word) in raw.split(' ').enumerate() {
                if i > 0 {
                    spans.push(Span::styled(" ", Style::default().fg(theme.code)));
                }
                let style = if KEYWORDS.contains(&word) {
                    Style::default().fg(theme.code).add_modifier(Modifier::BOLD)
                } else {
                    Style::default().fg(theme.code)
                };
                spans.push(Span::styled(word.to_string(), style));
            }
            out.push(Line::from(spans));
            continue;
        }
        if raw.starts_with('#') {
            out.push(Line::from(Span::styled(
                raw.to_string(),
                base.add_modifier(Modifier::BOLD),
            )));
            continue;
        }
        let mut spans = Vec::new();
        for (i, part) in raw.split('`').enumerate() {
            let style = if i % 2 == 1 {
                Style::default().fg(theme.code)
            } else {
                base
            };
            if !part.is_empty() {
                spans.push(Span::styled(part.to_string(), style));
            }
        }
        out.push(Line::from(spans));
    }
    out
}

fn transcript_lines(app: &App, theme: &Theme) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    for e in &app.entries {
        match e {
            Entry::User(text) => {
                for (i, l) in text.lines().enumerate() {
                    let prefix = if i == 0 { "› " } else { "  " };
                    lines.push(Line::from(Span::styled(
                        format!("{prefix}{l}"),
                        Style::default().fg(theme.user).add_modifier(Modifier::BOLD),
                    )));
                }
            }
            Entry::Model(role, text) => {
                let color = if *role == RouteRole::Planner {
                    theme.planner
                } else {
                    theme.executor
                };
                lines.push(Line::from(Span::styled(
                    format!("{}:", role.as_str()),
                    Style::default().fg(color).add_modifier(Modifier::BOLD),
                )));
                lines.extend(markdown(text, Style::default().fg(theme.fg), theme));
            }
            Entry::Tool { tool, args, result } => {
                let (mark, color, tail) = match result {
                    None => ("…", theme.dim, String::new()),
                    Some((true, first)) => ("✓", theme.ok, format!(" — {first}")),
                    Some((false, first)) => ("✗", theme.error, format!(" — {first}")),
                };
                lines.push(Line::from(vec![
                    Span::styled(format!("{mark} "), Style::default().fg(color)),
                    Span::styled(format!("{tool} {args}"), Style::default().fg(theme.tool)),
                    Span::styled(tail, Style::default().fg(theme.dim)),
                ]));
            }
            Entry::Info(text) => lines.push(Line::from(Span::styled(
                format!("• {text}"),
                Style::default().fg(theme.dim),
            ))),
            Entry::Error(text) => lines.push(Line::from(Span::styled(
                format!("✗ {text}"),
                Style::default()
                    .fg(theme.error)
                    .add_modifier(Modifier::BOLD),
            ))),
        }
    }
    lines
}

fn draw_transcript(f: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let title = format!(" tandem · {} ", app.workspace);
    let b = block(title, theme, true);
    let inner = b.inner(area);
    f.render_widget(b, area);
    let mut lines: Vec<Line> = transcript_lines(app, theme)
        .into_iter()
        .flat_map(|l| wrap(l, inner.width as usize))
        .collect();
    if lines.is_empty() {
        lines.push(Line::from(Span::styled(
            "Type a task and press Enter. /plan <task> plans without changing anything; ? shows the keys.",
            Style::default().fg(theme.dim),
        )));
        lines = lines
            .into_iter()
            .flat_map(|l| wrap(l, inner.width as usize))
            .collect();
    }
    let h = inner.height as usize;
    let end = lines
        .len()
        .saturating_sub(app.scroll.min(lines.len().saturating_sub(h)));
    let start = end.saturating_sub(h);
    f.render_widget(Paragraph::new(lines[start..end].to_vec()), inner);
}

fn draw_plan(f: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let b = block(" Plan ", theme, false);
    let inner = b.inner(area);
    f.render_widget(b, area);
    let Some(plan) = &app.plan else {
        f.render_widget(
            Paragraph::new(Span::styled("no plan yet", Style::default().fg(theme.dim))),
            inner,
        );
        return;
    };
    let mut lines: Vec<Line> = wrap(
        Line::from(Span::styled(
            plan.summary.clone(),
            Style::default().fg(theme.fg).add_modifier(Modifier::BOLD),
        )),
        inner.width as usize,
    );
    for s in &plan.steps {
        let (mark, color, by) = match (app.current_step == Some(s.id), app.steps.get(&s.id)) {
            (true, _) => (
                SPINNER[app.frame % SPINNER.len()],
                theme.accent,
                String::new(),
            ),
            (false, Some((StepStatus::Done, by))) => ("✓", theme.ok, by.clone()),
            (false, Some((StepStatus::Failed, by))) => ("✗", theme.error, by.clone()),
            (false, None) => ("·", theme.dim, String::new()),
        };
        let head = Line::from(vec![
            Span::styled(format!("{mark} {}. ", s.id), Style::default().fg(color)),
            Span::styled(s.goal.clone(), Style::default().fg(theme.fg)),
        ]);
        lines.extend(wrap(head, inner.width as usize));
        if !by.is_empty() {
            lines.push(Line::from(Span::styled(
                format!("    by {by}"),
                Style::default().fg(theme.dim),
            )));
        }
    }
    f.render_widget(Paragraph::new(lines), inner);
}

fn draw_diff(f: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let Some(p) = &app.pending_edit else { return };
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
    let b = block(title, theme, true);
    let inner = b.inner(area);
    f.render_widget(b, area);
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
        lines.push(Line::from(Span::styled(format!("    {raw}"), style)));
    }
    let h = inner.height as usize;
    let start = selected_at
        .saturating_sub(2)
        .min(lines.len().saturating_sub(h));
    let end = (start + h).min(lines.len());
    f.render_widget(Paragraph::new(lines[start..end].to_vec()), inner);
}

fn draw_composer(f: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let title = if let Some(c) = &app.pending_command {
        format!(" Run `{}`? ({}) y/n ", c.command, c.reason)
    } else if app.busy {
        format!(
            " {} working — Esc cancels ",
            SPINNER[app.frame % SPINNER.len()]
        )
    } else {
        " Task — Enter sends · Alt+Enter newline · /help ".to_string()
    };
    let b = block(title, theme, app.pending_command.is_some() || !app.busy);
    let inner = b.inner(area);
    f.render_widget(b, area);
    let mut text = app.input.clone();
    text.push('▏');
    let lines: Vec<Line> = text
        .split('\n')
        .map(|l| Line::from(Span::styled(l.to_string(), Style::default().fg(theme.fg))))
        .collect();
    let h = inner.height as usize;
    let start = lines.len().saturating_sub(h);
    f.render_widget(Paragraph::new(lines[start..].to_vec()), inner);
}

fn short_tokens(n: u64) -> String {
    if n >= 10_000 {
        format!("{:.1}k", n as f64 / 1000.0)
    } else {
        n.to_string()
    }
}

/// The status bar's text, most important first (it is cut at the terminal's width).
pub fn status_text(app: &App) -> String {
    use crate::protocol::RouteReason;
    let mut parts = Vec::new();
    match app.routes.get("planner") {
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
            parts.push(format!("planner {} ({why})", d.provider));
        }
        None => parts.push("planner —".into()),
    }
    parts.push(format!("${:.4} spent ${:.4} saved", app.spent, app.saved));
    let exec = app
        .routes
        .get("executor")
        .map_or("—".to_string(), |d| d.provider.clone());
    match app.tokens_per_sec {
        Some(t) => parts.push(format!("exec {exec} {t:.0} tok/s")),
        None => parts.push(format!("exec {exec}")),
    }
    if app.context.1 > 0 {
        parts.push(format!(
            "ctx {}/{}",
            short_tokens(app.context.0),
            short_tokens(app.context.1)
        ));
    }
    if let Some(b) = app.budget {
        parts.push(format!("${:.2} left", (b - app.spent).max(0.0)));
    }
    match &app.model {
        ModelState::Loading(t) => parts.push(format!(
            "{} loading model {:.0}s",
            SPINNER[app.frame % SPINNER.len()],
            t.elapsed().as_secs_f64()
        )),
        ModelState::Ready(s) => parts.push(format!("model ready ({s:.1}s)")),
        ModelState::Failed(_) => parts.push("model unavailable".into()),
        ModelState::Idle => {}
    }
    format!(" {}", parts.join(" │ "))
}

fn draw_status(f: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let style = Style::default().bg(theme.status_bg).fg(theme.status_fg);
    f.render_widget(Paragraph::new(status_text(app)).style(style), area);
}

fn help_text() -> String {
    [
        "Enter          send (a follow-up continues the conversation; queued while a task runs)",
        "Alt+Enter      new line (also Ctrl+J)",
        "↑ / ↓          history",
        "PgUp / PgDn    scroll the transcript",
        "Esc            cancel the running generation",
        "Ctrl-C twice   quit",
        "?              this help",
        "",
        "In a diff:     j/k or ↑/↓ move between hunks, y/n accept or reject the hunk,",
        "               Space toggles it, Enter applies the choices, a accepts the file,",
        "               r rejects it",
        "",
        "/plan <task>   plan only (no file changes); /run executes that plan",
        "/run [task]    run the last plan, or a new task",
        "/undo          undo the last applied edits",
        "/cost          spend breakdown; /trust trusts .tandem/config.toml (on restart)",
        "/route cloud|local|<provider>|auto   force the planner's provider",
        "/model [planner|executor <provider>] show or change models",
        "/theme dark|light|high-contrast",
        "/new           start a new conversation; /compact summarises the earlier turns",
        "/resume [N|ID] list this workspace's sessions, or continue one",
        "/clear         clear the transcript",
        "/help, /quit",
    ]
    .join("\n")
}

fn draw_popup(f: &mut Frame, theme: &Theme, title: &str, text: &str, area: Rect) {
    let w = area.width.saturating_sub(4).min(90);
    let h = (text.lines().count() as u16 + 2).min(area.height.saturating_sub(2));
    let rect = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height.saturating_sub(h)) / 2,
        width: w,
        height: h,
    };
    f.render_widget(Clear, rect);
    let b = block(format!(" {title} "), theme, true);
    let inner = b.inner(rect);
    f.render_widget(b, rect);
    let lines: Vec<Line> = text
        .lines()
        .map(|l| Line::from(Span::styled(l.to_string(), Style::default().fg(theme.fg))))
        .collect();
    f.render_widget(Paragraph::new(lines), inner);
}
