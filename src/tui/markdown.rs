//! Model text as terminal lines: CommonMark (with GitHub's tables, task lists and strikethrough) read by
//! pulldown-cmark, and fenced code highlighted with the tree-sitter grammars the repository map already links.
//!
//! Line breaks inside a paragraph are kept (models write plans and lists line by line); the pane wraps what is
//! longer than it. Text is never dropped: HTML, footnotes and anything unknown show as written.

use std::sync::OnceLock;

use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use tree_sitter_highlight::{HighlightConfiguration, HighlightEvent, Highlighter};
use unicode_width::UnicodeWidthStr;

use super::theme::Theme;

/// Renders `text` (markdown) in `base` style.
pub fn render(text: &str, base: Style, theme: &Theme) -> Vec<Line<'static>> {
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_GFM;
    let mut r = Renderer::new(base, theme);
    for event in Parser::new_ext(text, options) {
        r.event(event);
    }
    r.finish()
}

/// A list being rendered: the next number of an ordered one.
struct List {
    next: Option<u64>,
}

/// A table being collected: its rows of cells (each cell its spans), and whether the first row is the head.
#[derive(Default)]
struct Table {
    rows: Vec<Vec<Vec<Span<'static>>>>,
    head_rows: usize,
}

struct Renderer<'t> {
    theme: &'t Theme,
    base: Style,
    out: Vec<Line<'static>>,
    /// The line being built.
    spans: Vec<Span<'static>>,
    /// Inline styles in force (emphasis, strong, links, headings), innermost last.
    styles: Vec<Style>,
    lists: Vec<List>,
    quotes: usize,
    /// A code block being collected: its language and text.
    code: Option<(String, String)>,
    table: Option<Table>,
    /// The addresses of the links (and images) open, innermost last: shown after their text.
    links: Vec<String>,
    /// The prefix of the next line that starts (a list item's marker), once.
    marker: Option<String>,
    /// A blank line goes before the next block (one ended since the last text).
    gap: bool,
}

impl<'t> Renderer<'t> {
    fn new(base: Style, theme: &'t Theme) -> Self {
        Renderer {
            theme,
            base,
            out: Vec::new(),
            spans: Vec::new(),
            styles: Vec::new(),
            lists: Vec::new(),
            quotes: 0,
            code: None,
            table: None,
            links: Vec::new(),
            marker: None,
            gap: false,
        }
    }

    fn style(&self) -> Style {
        self.styles.last().copied().unwrap_or(self.base)
    }

    fn push_style(&mut self, f: impl FnOnce(Style) -> Style) {
        let next = f(self.style());
        self.styles.push(next);
    }

    /// The indent every line of the current block starts with: quote bars and list nesting.
    fn indent(&self) -> Vec<Span<'static>> {
        let mut out = Vec::new();
        if self.quotes > 0 {
            out.push(Span::styled(
                "│ ".repeat(self.quotes),
                Style::default().fg(self.theme.dim),
            ));
        }
        if self.lists.len() > 1 {
            out.push(Span::raw("  ".repeat(self.lists.len() - 1)));
        }
        out
    }

    /// Starts a line if none is open: the block's indent, then a list marker or the marker's width in spaces.
    fn open_line(&mut self) {
        if !self.spans.is_empty() {
            return;
        }
        if self.gap && !self.out.is_empty() {
            self.out.push(Line::default());
        }
        self.gap = false;
        self.spans = self.indent();
        match self.marker.take() {
            Some(m) => self
                .spans
                .push(Span::styled(m, Style::default().fg(self.theme.dim))),
            None if !self.lists.is_empty() => self.spans.push(Span::raw("  ")),
            None => {}
        }
    }

    fn text(&mut self, text: &str, style: Style) {
        for (i, piece) in text.split('\n').enumerate() {
            if i > 0 {
                self.break_line();
            }
            if piece.is_empty() {
                continue;
            }
            self.open_line();
            self.spans.push(Span::styled(piece.to_string(), style));
        }
    }

    fn break_line(&mut self) {
        self.open_line();
        let spans = std::mem::take(&mut self.spans);
        self.out.push(Line::from(spans));
    }

    /// Ends the open line, if any.
    fn end_line(&mut self) {
        if !self.spans.is_empty() {
            let spans = std::mem::take(&mut self.spans);
            self.out.push(Line::from(spans));
        }
    }

    fn end_block(&mut self) {
        self.end_line();
        self.gap = true;
    }

    fn event(&mut self, event: Event<'_>) {
        if let Some((_, code)) = self.code.as_mut() {
            match event {
                Event::Text(t) => code.push_str(&t),
                Event::End(TagEnd::CodeBlock) => self.code_block(),
                _ => {}
            }
            return;
        }
        if self.table.is_some() && self.table_event(&event) {
            return;
        }
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(t) => self.text(&t, self.style()),
            Event::Code(t) => self.text(&t, Style::default().fg(self.theme.code)),
            Event::InlineMath(t) | Event::DisplayMath(t) => {
                self.text(&t, Style::default().fg(self.theme.code))
            }
            Event::Html(t) => {
                self.text(t.trim_end_matches('\n'), self.style());
                self.end_line();
            }
            Event::InlineHtml(t) => self.text(&t, self.style()),
            Event::FootnoteReference(t) => self.text(&format!("[^{t}]"), self.style()),
            Event::SoftBreak | Event::HardBreak => self.break_line(),
            Event::Rule => {
                self.end_line();
                self.open_line();
                self.spans.push(Span::styled(
                    "─".repeat(24),
                    Style::default().fg(self.theme.dim),
                ));
                self.end_block();
            }
            Event::TaskListMarker(done) => {
                let mark = if done { "[x] " } else { "[ ] " };
                self.text(mark, Style::default().fg(self.theme.dim));
            }
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            Tag::Paragraph => {}
            Tag::Heading { level, .. } => {
                self.end_line();
                let underline = level == HeadingLevel::H1;
                self.push_style(|s| {
                    let s = s.add_modifier(Modifier::BOLD);
                    if underline {
                        s.add_modifier(Modifier::UNDERLINED)
                    } else {
                        s
                    }
                });
            }
            Tag::BlockQuote(_) => {
                self.end_line();
                self.quotes += 1;
            }
            Tag::CodeBlock(kind) => {
                self.end_line();
                let lang = match kind {
                    CodeBlockKind::Fenced(info) => info
                        .split([' ', ',', '{'])
                        .next()
                        .unwrap_or("")
                        .to_ascii_lowercase(),
                    CodeBlockKind::Indented => String::new(),
                };
                self.code = Some((lang, String::new()));
            }
            Tag::List(start) => {
                self.end_line();
                if !self.lists.is_empty() {
                    self.gap = false;
                }
                self.lists.push(List { next: start });
            }
            Tag::Item => {
                self.end_line();
                let marker = match self.lists.last_mut() {
                    Some(List { next: Some(n) }) => {
                        let m = format!("{n}. ");
                        *n += 1;
                        m
                    }
                    _ => "• ".to_string(),
                };
                self.marker = Some(marker);
            }
            Tag::Emphasis => self.push_style(|s| s.add_modifier(Modifier::ITALIC)),
            Tag::Strong => self.push_style(|s| s.add_modifier(Modifier::BOLD)),
            Tag::Strikethrough => self.push_style(|s| s.add_modifier(Modifier::CROSSED_OUT)),
            Tag::Link { dest_url, .. } => {
                let accent = self.theme.accent;
                self.push_style(|s| s.fg(accent).add_modifier(Modifier::UNDERLINED));
                self.links.push(dest_url.to_string());
            }
            Tag::Image { dest_url, .. } => {
                self.push_style(|s| s.add_modifier(Modifier::ITALIC));
                self.links.push(dest_url.to_string());
            }
            Tag::Table(_) => {
                self.end_line();
                self.table = Some(Table::default());
            }
            Tag::HtmlBlock => self.end_line(),
            _ => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Paragraph => self.end_block(),
            TagEnd::Heading(_) => {
                self.styles.pop();
                self.end_block();
            }
            TagEnd::BlockQuote(_) => {
                self.end_line();
                self.quotes = self.quotes.saturating_sub(1);
                self.gap = true;
            }
            TagEnd::List(_) => {
                self.end_line();
                self.lists.pop();
                self.gap = self.lists.is_empty();
            }
            TagEnd::Item => {
                // An item with no text still shows its marker.
                if self.marker.is_some() {
                    self.open_line();
                }
                self.end_line();
            }
            TagEnd::Emphasis | TagEnd::Strong | TagEnd::Strikethrough => {
                self.styles.pop();
            }
            TagEnd::Link | TagEnd::Image => {
                self.styles.pop();
                if let Some(url) = self.links.pop() {
                    let shown: String = self
                        .spans
                        .iter()
                        .rev()
                        .take(1)
                        .map(|s| s.content.to_string())
                        .collect();
                    if !url.is_empty() && shown != url {
                        self.text(&format!(" <{url}>"), Style::default().fg(self.theme.dim));
                    }
                }
            }
            TagEnd::HtmlBlock => self.end_block(),
            _ => {}
        }
    }

    /// Table events, while a table is open; `false` for an event that is not the table's own.
    fn table_event(&mut self, event: &Event<'_>) -> bool {
        let Some(table) = self.table.as_mut() else {
            return false;
        };
        match event {
            Event::Start(Tag::TableHead) => {
                table.rows.push(Vec::new());
                table.head_rows = 1;
            }
            Event::Start(Tag::TableRow) => table.rows.push(Vec::new()),
            Event::Start(Tag::TableCell) => {
                if let Some(row) = table.rows.last_mut() {
                    row.push(Vec::new());
                }
            }
            Event::End(TagEnd::Table) => {
                self.table_lines();
                return true;
            }
            Event::Text(t) | Event::Code(t) => {
                let style = if matches!(event, Event::Code(_)) {
                    Style::default().fg(self.theme.code)
                } else {
                    self.styles.last().copied().unwrap_or(self.base)
                };
                if let Some(cell) = table.rows.last_mut().and_then(|r| r.last_mut()) {
                    cell.push(Span::styled(t.replace('\n', " "), style));
                }
            }
            Event::Start(Tag::Emphasis | Tag::Strong | Tag::Strikethrough | Tag::Link { .. }) => {
                return false;
            }
            Event::End(TagEnd::Emphasis | TagEnd::Strong | TagEnd::Strikethrough) => {
                return false;
            }
            _ => {}
        }
        true
    }

    /// The collected table as aligned rows with a rule under the head.
    fn table_lines(&mut self) {
        let Some(table) = self.table.take() else {
            return;
        };
        let width =
            |cell: &Vec<Span<'static>>| -> usize { cell.iter().map(|s| s.content.width()).sum() };
        let columns = table.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                table
                    .rows
                    .iter()
                    .filter_map(|r| r.get(c))
                    .map(width)
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let dim = Style::default().fg(self.theme.dim);
        if self.gap && !self.out.is_empty() {
            self.out.push(Line::default());
        }
        for (i, row) in table.rows.into_iter().enumerate() {
            let mut spans = self.indent();
            for (c, w) in widths.iter().enumerate() {
                if c > 0 {
                    spans.push(Span::styled(" │ ", dim));
                }
                let cell = row.get(c).cloned().unwrap_or_default();
                let pad = w.saturating_sub(width(&cell));
                let bold = i < table.head_rows;
                spans.extend(cell.into_iter().map(|s| {
                    if bold {
                        let style = s.style.add_modifier(Modifier::BOLD);
                        s.style(style)
                    } else {
                        s
                    }
                }));
                spans.push(Span::raw(" ".repeat(pad)));
            }
            self.out.push(Line::from(spans));
            if i + 1 == table.head_rows {
                let rule: Vec<String> = widths.iter().map(|w| "─".repeat(*w)).collect();
                let mut spans = self.indent();
                spans.push(Span::styled(rule.join("─┼─"), dim));
                self.out.push(Line::from(spans));
            }
        }
        self.gap = true;
    }

    /// The collected code block, highlighted when its language is one tandem has a grammar for.
    fn code_block(&mut self) {
        let Some((lang, code)) = self.code.take() else {
            return;
        };
        if self.gap && !self.out.is_empty() {
            self.out.push(Line::default());
        }
        let plain = Style::default().fg(self.theme.code);
        let code = code.strip_suffix('\n').unwrap_or(&code);
        let lines = highlight(&lang, code, self.theme).unwrap_or_else(|| {
            code.split('\n')
                .map(|l| vec![Span::styled(l.to_string(), plain)])
                .collect()
        });
        for line in lines {
            let mut spans = self.indent();
            if !self.lists.is_empty() {
                spans.push(Span::raw("  "));
            }
            spans.extend(line);
            self.out.push(Line::from(spans));
        }
        self.gap = true;
    }

    fn finish(mut self) -> Vec<Line<'static>> {
        // A code block still streaming has no end event yet.
        if self.code.is_some() {
            self.code_block();
        }
        if self.table.is_some() {
            self.table_lines();
        }
        self.end_line();
        self.out
    }
}

/// The highlight names tandem colours, most specific first where one is a prefix of another.
const NAMES: &[&str] = &[
    "comment",
    "string",
    "keyword",
    "function",
    "type",
    "constant",
    "number",
    "property",
    "attribute",
    "operator",
];

/// The style of a highlight name from [`NAMES`].
fn name_style(i: usize, theme: &Theme) -> Style {
    let code = Style::default().fg(theme.code);
    match NAMES.get(i).copied() {
        Some("comment") => Style::default()
            .fg(theme.dim)
            .add_modifier(Modifier::ITALIC),
        Some("string") => Style::default().fg(theme.ok),
        Some("keyword") => code.add_modifier(Modifier::BOLD),
        Some("function") => Style::default().fg(theme.accent),
        Some("type") => Style::default().fg(theme.executor),
        Some("constant" | "number") => Style::default().fg(theme.warning),
        _ => code,
    }
}

/// The grammar for a fence's language name, configured once per process.
fn config(lang: &str) -> Option<&'static HighlightConfiguration> {
    type Slot = OnceLock<Option<HighlightConfiguration>>;
    static RUST: Slot = OnceLock::new();
    static PYTHON: Slot = OnceLock::new();
    static JS: Slot = OnceLock::new();
    static TS: Slot = OnceLock::new();
    static GO: Slot = OnceLock::new();
    static BASH: Slot = OnceLock::new();
    let build = |language: tree_sitter::Language, name: &str, query: &str| {
        let mut c = HighlightConfiguration::new(language, name, query, "", "").ok()?;
        c.configure(NAMES);
        Some(c)
    };
    let slot = match lang {
        "rust" | "rs" => RUST.get_or_init(|| {
            build(
                tree_sitter_rust::LANGUAGE.into(),
                "rust",
                tree_sitter_rust::HIGHLIGHTS_QUERY,
            )
        }),
        "python" | "py" | "python3" => PYTHON.get_or_init(|| {
            build(
                tree_sitter_python::LANGUAGE.into(),
                "python",
                tree_sitter_python::HIGHLIGHTS_QUERY,
            )
        }),
        "javascript" | "js" | "jsx" | "mjs" | "cjs" | "node" => JS.get_or_init(|| {
            build(
                tree_sitter_javascript::LANGUAGE.into(),
                "javascript",
                tree_sitter_javascript::HIGHLIGHT_QUERY,
            )
        }),
        // TypeScript's query adds to JavaScript's, as the grammar's own configuration inherits it.
        "typescript" | "ts" | "tsx" => TS.get_or_init(|| {
            let query = format!(
                "{}\n{}",
                tree_sitter_typescript::HIGHLIGHTS_QUERY,
                tree_sitter_javascript::HIGHLIGHT_QUERY
            );
            build(
                tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(),
                "typescript",
                &query,
            )
        }),
        "go" | "golang" => GO.get_or_init(|| {
            build(
                tree_sitter_go::LANGUAGE.into(),
                "go",
                tree_sitter_go::HIGHLIGHTS_QUERY,
            )
        }),
        "bash" | "sh" | "shell" | "zsh" | "console" => BASH.get_or_init(|| {
            build(
                tree_sitter_bash::LANGUAGE.into(),
                "bash",
                tree_sitter_bash::HIGHLIGHT_QUERY,
            )
        }),
        _ => return None,
    };
    slot.as_ref()
}

/// `code` as lines of styled spans, or `None` when `lang` has no grammar here or the highlighter gives up.
fn highlight(lang: &str, code: &str, theme: &Theme) -> Option<Vec<Vec<Span<'static>>>> {
    let config = config(lang)?;
    let mut highlighter = Highlighter::new();
    let events = highlighter
        .highlight(config, code.as_bytes(), None, |_| None)
        .ok()?;
    let plain = Style::default().fg(theme.code);
    let mut lines: Vec<Vec<Span<'static>>> = vec![Vec::new()];
    let mut stack: Vec<Style> = Vec::new();
    for event in events {
        match event.ok()? {
            HighlightEvent::HighlightStart(h) => stack.push(name_style(h.0, theme)),
            HighlightEvent::HighlightEnd => {
                stack.pop();
            }
            HighlightEvent::Source { start, end } => {
                let style = stack.last().copied().unwrap_or(plain);
                let text = code.get(start..end)?;
                for (i, piece) in text.split('\n').enumerate() {
                    if i > 0 {
                        lines.push(Vec::new());
                    }
                    if !piece.is_empty()
                        && let Some(line) = lines.last_mut()
                    {
                        line.push(Span::styled(piece.to_string(), style));
                    }
                }
            }
        }
    }
    Some(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn theme() -> Theme {
        Theme::default()
    }

    fn plain(lines: &[Line<'_>]) -> Vec<String> {
        lines
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect()
    }

    fn shown(text: &str) -> Vec<String> {
        plain(&render(text, Style::default(), &theme()))
    }

    #[test]
    fn blocks_keep_their_shape_and_lines_their_breaks() {
        let text = "# Plan\n\nFirst read *the* file,\nthen **edit** it.\n\n1. read `src/lib.rs`\n2. edit\n   - nested one\n- [x] done\n\n> quoted\n> twice\n\n---\nend";
        assert_eq!(
            shown(text),
            [
                "Plan",
                "",
                "First read the file,",
                "then edit it.",
                "",
                "1. read src/lib.rs",
                "2. edit",
                "  • nested one",
                "",
                "• [x] done",
                "",
                "│ quoted",
                "│ twice",
                "",
                "────────────────────────",
                "",
                "end",
            ]
        );
    }

    #[test]
    fn inline_styles_are_styles_not_characters() {
        let lines = render("a *b* **c** `d` ~~e~~", Style::default(), &theme());
        let spans = &lines[0].spans;
        let find = |t: &str| spans.iter().find(|s| s.content == t).unwrap().style;
        assert!(find("b").add_modifier.contains(Modifier::ITALIC));
        assert!(find("c").add_modifier.contains(Modifier::BOLD));
        assert_eq!(find("d").fg, Some(theme().code));
        assert!(find("e").add_modifier.contains(Modifier::CROSSED_OUT));
    }

    #[test]
    fn fenced_code_is_highlighted_by_its_grammar_and_unknown_languages_stay_plain() {
        let lines = render(
            "```rust\nfn main() {\n    // hi\n    let s = \"x\";\n}\n```",
            Style::default(),
            &theme(),
        );
        assert_eq!(
            plain(&lines),
            ["fn main() {", "    // hi", "    let s = \"x\";", "}"]
        );
        let style = |line: usize, t: &str| {
            lines[line]
                .spans
                .iter()
                .find(|s| s.content.trim() == t)
                .unwrap_or_else(|| panic!("{t} in {:?}", lines[line]))
                .style
        };
        assert!(style(0, "fn").add_modifier.contains(Modifier::BOLD));
        assert_eq!(style(1, "// hi").fg, Some(theme().dim));
        assert_eq!(style(2, "\"x\"").fg, Some(theme().ok));
        for lang in ["python", "js", "ts", "go", "sh"] {
            assert!(config(lang).is_some(), "{lang}");
        }
        let other = render("```cobol\nMOVE A TO B\n```", Style::default(), &theme());
        assert_eq!(plain(&other), ["MOVE A TO B"]);
        assert_eq!(other[0].spans[0].style.fg, Some(theme().code));
    }

    #[test]
    fn a_code_block_still_streaming_shows_what_came() {
        assert_eq!(
            shown("Here:\n```python\ndef f():\n    return 1"),
            ["Here:", "", "def f():", "    return 1"]
        );
    }

    #[test]
    fn tables_are_aligned_by_display_width() {
        let text = "| file | status |\n|---|---|\n| src/lib.rs | edited |\n| 表.md | ok |";
        assert_eq!(
            shown(text),
            [
                "file       │ status",
                "───────────┼───────",
                "src/lib.rs │ edited",
                "表.md      │ ok    ",
            ]
        );
    }

    #[test]
    fn links_show_their_address_and_html_stays_text() {
        assert_eq!(
            shown("see [the docs](https://example.com/d) and <https://x.io>"),
            ["see the docs <https://example.com/d> and https://x.io"]
        );
        assert_eq!(shown("<div>\nraw\n</div>"), ["<div>", "raw", "</div>"]);
    }
}
