//! Fitting text to a width in display columns: wrapping at word boundaries (CJK and other wide characters
//! break between any two of them, and are never split) and truncation with an ellipsis.

use ratatui::style::Style;
use ratatui::text::{Line, Span};
use unicode_segmentation::UnicodeSegmentation;
use unicode_width::UnicodeWidthStr;

/// The display width of `s` in terminal columns.
pub fn width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// `s` cut to at most `max` columns, ending in `…` when it was cut.
pub fn truncate(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for g in s.graphemes(true) {
        let w = width(g);
        if used + w + 1 > max {
            break;
        }
        out.push_str(g);
        used += w;
    }
    if max > 0 {
        out.push('…');
    }
    out
}

/// One grapheme with its style and width.
#[derive(Clone, Copy)]
struct Cell<'a> {
    text: &'a str,
    style: Style,
    width: usize,
    space: bool,
}

/// Splits graphemes into break units: a run of spaces, a run of narrow non-space graphemes (a word), or a
/// single wide grapheme (CJK text breaks anywhere between characters).
fn units<'a>(cells: &[Cell<'a>]) -> Vec<Vec<Cell<'a>>> {
    let mut out: Vec<Vec<Cell<'a>>> = Vec::new();
    for c in cells {
        let joins = out.last().is_some_and(|u: &Vec<Cell>| {
            let last = u[u.len() - 1];
            last.space == c.space && (c.space || (last.width < 2 && c.width < 2))
        });
        match out.last_mut() {
            Some(u) if joins => u.push(*c),
            _ => out.push(vec![*c]),
        }
    }
    out
}

fn to_line(cells: &[Cell], style: Style) -> Line<'static> {
    let mut spans: Vec<Span<'static>> = Vec::new();
    let mut text = String::new();
    let mut cur: Option<Style> = None;
    for c in cells {
        if cur.is_some_and(|s| s != c.style) {
            spans.push(Span::styled(
                std::mem::take(&mut text),
                cur.unwrap_or_default(),
            ));
        }
        cur = Some(c.style);
        text.push_str(c.text);
    }
    if let Some(s) = cur {
        spans.push(Span::styled(text, s));
    }
    Line::from(spans).style(style)
}

/// Wraps `line` to `width` columns, keeping each span's style: breaks fall at spaces (which are dropped at
/// the break), between wide characters, or inside a word only when the word alone is wider than a line.
pub fn wrap(line: Line<'_>, width: usize) -> Vec<Line<'static>> {
    wrap_hanging(line, width, 0)
}

/// The column a table-like line's second field starts at (after the first run of two or more spaces that
/// follows text): `Ctrl-R         search …` continues under `search`; else its own indentation.
pub fn hanging_indent(line: &str) -> usize {
    let lead = line.len() - line.trim_start().len();
    let Some(gap) = line[lead..].find("  ") else {
        return width(&line[..lead]);
    };
    let rest = &line[lead + gap..];
    let field = lead + gap + (rest.len() - rest.trim_start().len());
    if field >= line.len() {
        return 0;
    }
    width(&line[..field])
}

/// Like [`wrap`], with every line after the first indented by `indent` columns (dropped when the width
/// leaves too little room for it).
pub fn wrap_hanging(line: Line<'_>, width: usize, indent: usize) -> Vec<Line<'static>> {
    let width = width.max(1);
    let indent = if indent + 12 <= width { indent } else { 0 };
    let pad = " ".repeat(indent);
    let owned: Vec<(String, Style)> = line
        .spans
        .iter()
        .map(|s| (s.content.replace('\t', "    "), line.style.patch(s.style)))
        .collect();
    let cells: Vec<Cell> = owned
        .iter()
        .flat_map(|(text, style)| {
            text.graphemes(true).map(|g| Cell {
                text: g,
                style: *style,
                width: self::width(g),
                space: g == " ",
            })
        })
        .collect();
    let mut out = Vec::new();
    let mut cur: Vec<Cell> = Vec::new();
    let mut used = 0;
    fn flush<'a>(
        cur: &mut Vec<Cell<'a>>,
        used: &mut usize,
        out: &mut Vec<Line<'static>>,
        pad: &'a str,
    ) {
        let indent = pad.len();
        while cur.last().is_some_and(|c| c.space) {
            cur.pop();
        }
        out.push(to_line(cur, Style::default()));
        cur.clear();
        *used = indent;
        if indent > 0 {
            cur.push(Cell {
                text: pad,
                style: Style::default(),
                width: indent,
                space: false,
            });
        }
    }
    for unit in units(&cells) {
        let w: usize = unit.iter().map(|c| c.width).sum();
        if used + w <= width {
            cur.extend_from_slice(&unit);
            used += w;
        } else if unit[0].space {
            if used == 0 {
                // Indentation wider than the line: keep what fits.
                for c in unit.iter().take(width) {
                    cur.push(*c);
                }
                used = cur.len();
            } else {
                flush(&mut cur, &mut used, &mut out, &pad);
            }
        } else if w <= width {
            if used > 0 {
                flush(&mut cur, &mut used, &mut out, &pad);
            }
            cur.extend_from_slice(&unit);
            used += w;
        } else {
            for c in unit {
                if used + c.width > width && used > 0 {
                    flush(&mut cur, &mut used, &mut out, &pad);
                }
                cur.push(c);
                used += c.width;
            }
        }
    }
    if !cur.is_empty() || out.is_empty() {
        out.push(to_line(&cur, Style::default()));
    }
    out
}

/// Wraps each line of `text` (split at `\n`) in one style.
pub fn wrap_text(text: &str, style: Style, width: usize) -> Vec<Line<'static>> {
    text.split('\n')
        .flat_map(|l| wrap(Line::from(Span::styled(l, style)), width))
        .collect()
}

/// Wraps each line of a table-like `text` (help, reports) in one style, continuing a wrapped line under its
/// second field (see [`hanging_indent`]).
pub fn wrap_table(text: &str, style: Style, width: usize) -> Vec<Line<'static>> {
    text.split('\n')
        .flat_map(|l| wrap_hanging(Line::from(Span::styled(l, style)), width, hanging_indent(l)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(lines: &[Line]) -> Vec<String> {
        lines.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn words_stay_whole_and_long_words_split() {
        let l = wrap(Line::from("the quick brown fox jumps"), 10);
        assert_eq!(plain(&l), ["the quick", "brown fox", "jumps"]);
        let l = wrap(Line::from("abcdefghijklmnop xy"), 6);
        assert_eq!(plain(&l), ["abcdef", "ghijkl", "mnop", "xy"]);
    }

    #[test]
    fn wide_characters_break_per_character_and_are_never_split() {
        let l = wrap(Line::from("日本語のテキストです"), 7);
        assert_eq!(plain(&l), ["日本語", "のテキ", "ストで", "す"]);
        assert!(l.iter().all(|l| l.width() <= 7));
        let all: String = plain(&l).concat();
        assert_eq!(all, "日本語のテキストです", "nothing is lost");
        let l = wrap(Line::from("ab 日本"), 4);
        assert_eq!(plain(&l), ["ab", "日本"]);
    }

    #[test]
    fn styles_survive_a_wrap() {
        let bold = Style::default().add_modifier(ratatui::style::Modifier::BOLD);
        let l = wrap(
            Line::from(vec![Span::raw("aa "), Span::styled("bb cc", bold)]),
            5,
        );
        assert_eq!(plain(&l), ["aa bb", "cc"]);
        assert_eq!(l[1].spans[0].style, bold);
    }

    #[test]
    fn table_lines_continue_under_their_second_field() {
        assert_eq!(hanging_indent("Ctrl-R         search history"), 15);
        assert_eq!(hanging_indent("  planner openai  $1"), 18);
        assert_eq!(hanging_indent("no table here"), 0);
        let l = wrap_table(
            "Ctrl-R         search the history of sent messages",
            Style::default(),
            32,
        );
        assert_eq!(
            plain(&l),
            [
                "Ctrl-R         search the",
                "               history of sent",
                "               messages"
            ]
        );
    }

    #[test]
    fn any_text_at_any_width_fits_and_keeps_every_character() {
        // Deterministic mix of ASCII words, CJK, emoji, combining marks, tabs and runs of spaces.
        let pieces = [
            "word",
            " ",
            "  ",
            "日本",
            "語",
            "😀",
            "e\u{301}",
            "\t",
            "longidentifier_with_parts",
            "。",
            "x",
        ];
        let mut seed: u64 = 7;
        for round in 0..300 {
            let mut text = String::new();
            for _ in 0..(round % 40) {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                text.push_str(pieces[(seed >> 33) as usize % pieces.len()]);
            }
            for w in [1, 2, 3, 5, 8, 13, 40] {
                assert!(width(&truncate(&text, w)) <= w, "{text:?} cut to {w}");
                let lines = wrap(Line::from(text.as_str()), w);
                for l in &lines {
                    let lw = l.width();
                    assert!(
                        lw <= w.max(2),
                        "{text:?} at {w}: {:?} is {lw} wide",
                        l.to_string()
                    );
                }
                let kept: String = lines.iter().map(|l| l.to_string()).collect::<String>();
                let squash = |s: &str| s.replace(['\t', ' '], "");
                assert_eq!(squash(&kept), squash(&text), "{text:?} at {w}");
            }
        }
    }

    #[test]
    fn truncation_counts_columns() {
        assert_eq!(truncate("hello world", 8), "hello w…");
        assert_eq!(truncate("日本語です", 5), "日本…");
        assert_eq!(truncate("short", 8), "short");
        assert_eq!(width("日本"), 4);
    }
}
