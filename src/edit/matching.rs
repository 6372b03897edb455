//! Search/replace edits: an exact match first, then one that tolerates whitespace differences; when nothing
//! matches, the error shows the closest lines so the model can correct itself.

/// How the search text was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchKind {
    /// Byte for byte.
    Exact,
    /// Line by line, ignoring leading and trailing whitespace (the replacement is re-indented).
    WhitespaceTolerant,
}

/// Why an edit could not be placed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatchError {
    /// The search text is empty.
    #[error("the search text is empty; to create a file use write_file")]
    EmptySearch,
    /// It appears more than once.
    #[error("the search text appears {count} times{} (lines {}); include more surrounding lines so it is unique", if *.overlapping { ", overlapping" } else { "" }, lines.iter().map(|l| l.to_string()).collect::<Vec<_>>().join(", "))]
    Ambiguous {
        /// How many times (occurrences that overlap each count).
        count: usize,
        /// Where (1-based first lines).
        lines: Vec<usize>,
        /// Whether some occurrences overlap (so replacing "the first" would be a guess).
        overlapping: bool,
    },
    /// It does not appear; the closest lines are shown.
    #[error("the search text was not found{}", closest_text(.closest))]
    NotFound {
        /// The most similar lines: (first line number, numbered text).
        closest: Option<(usize, String)>,
    },
}

fn closest_text(closest: &Option<(usize, String)>) -> String {
    match closest {
        Some((line, text)) => format!(". The closest lines (from line {line}) are:\n{text}"),
        None => String::new(),
    }
}

/// `content` with `search` replaced by `replace`.
pub fn search_replace(
    content: &str,
    search: &str,
    replace: &str,
) -> Result<(String, MatchKind), MatchError> {
    if search.trim().is_empty() {
        return Err(MatchError::EmptySearch);
    }
    let starts = occurrences(content, search);
    match starts.len() {
        1 => {
            let at = starts[0];
            let out = format!(
                "{}{}{}",
                &content[..at],
                replace,
                &content[at + search.len()..]
            );
            return Ok((out, MatchKind::Exact));
        }
        n if n > 1 => {
            let lines = starts
                .iter()
                .map(|&i| content[..i].matches('\n').count() + 1)
                .collect();
            let overlapping = starts.windows(2).any(|w| w[1] < w[0] + search.len());
            return Err(MatchError::Ambiguous {
                count: n,
                lines,
                overlapping,
            });
        }
        _ => {}
    }
    tolerant(content, search, replace)
}

/// Every byte offset where `search` starts, overlapping ones included (`match_indices` skips those).
fn occurrences(content: &str, search: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = content.get(from..).and_then(|rest| rest.find(search)) {
        let at = from + i;
        out.push(at);
        // The next start is the next character boundary after this one.
        from = at + content[at..].chars().next().map_or(1, char::len_utf8);
    }
    out
}

fn tolerant(content: &str, search: &str, replace: &str) -> Result<(String, MatchKind), MatchError> {
    let lines: Vec<&str> = content.split_inclusive('\n').collect();
    let wanted: Vec<&str> = trim_blank_ends(search.lines().collect());
    if wanted.is_empty() {
        return Err(MatchError::EmptySearch);
    }
    let matches: Vec<usize> = (0..lines.len().saturating_sub(wanted.len() - 1))
        .filter(|&i| {
            wanted
                .iter()
                .enumerate()
                .all(|(j, w)| lines[i + j].trim() == w.trim())
        })
        .collect();
    match matches.len() {
        0 => Err(MatchError::NotFound {
            closest: closest(&lines, &wanted),
        }),
        1 => {
            let at = matches[0];
            let found_indent = indent_of(lines[at]);
            let search_indent = indent_of(wanted[0]);
            let mut out: String = lines[..at].concat();
            let replaced = reindent(replace, search_indent, found_indent);
            out.push_str(&replaced);
            let after = &lines[at + wanted.len()..];
            let last_had_newline = lines[at + wanted.len() - 1].ends_with('\n');
            if !replaced.is_empty()
                && !replaced.ends_with('\n')
                && (last_had_newline || !after.is_empty())
            {
                out.push('\n');
            }
            out.push_str(&after.concat());
            Ok((out, MatchKind::WhitespaceTolerant))
        }
        n => Err(MatchError::Ambiguous {
            count: n,
            lines: matches.iter().map(|m| m + 1).collect(),
            overlapping: matches.windows(2).any(|w| w[1] < w[0] + wanted.len()),
        }),
    }
}

fn trim_blank_ends(mut lines: Vec<&str>) -> Vec<&str> {
    while lines.first().is_some_and(|l| l.trim().is_empty()) {
        lines.remove(0);
    }
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    lines
}

fn indent_of(line: &str) -> &str {
    &line[..line.len() - line.trim_start().len()]
}

/// Moves `text`'s lines from indentation `from` to `to`.
fn reindent(text: &str, from: &str, to: &str) -> String {
    if from == to {
        return text.to_string();
    }
    text.split_inclusive('\n')
        .map(|line| match line.strip_prefix(from) {
            Some(rest) if !line.trim().is_empty() => format!("{to}{rest}"),
            _ => line.to_string(),
        })
        .collect()
}

/// The window of `lines` most like `wanted`, numbered, if any is at least somewhat alike.
fn closest(lines: &[&str], wanted: &[&str]) -> Option<(usize, String)> {
    let target = wanted
        .iter()
        .map(|l| l.trim())
        .collect::<Vec<_>>()
        .join("\n");
    let n = wanted.len().min(lines.len());
    let mut best: Option<(f32, usize)> = None;
    for start in 0..=lines.len().saturating_sub(n) {
        let window = lines[start..start + n]
            .iter()
            .map(|l| l.trim())
            .collect::<Vec<_>>()
            .join("\n");
        let score = similar::TextDiff::from_chars(window.as_str(), target.as_str()).ratio();
        if best.is_none_or(|(s, _)| score > s) {
            best = Some((score, start));
        }
    }
    let (score, start) = best?;
    if score < 0.3 {
        return None;
    }
    let text = lines[start..start + n]
        .iter()
        .enumerate()
        .map(|(i, l)| format!("{:>5}| {}", start + i + 1, l.trim_end_matches('\n')))
        .collect::<Vec<_>>()
        .join("\n");
    Some((start + 1, text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    const CODE: &str = "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n";

    #[test]
    fn exact_match() {
        let (out, kind) = search_replace(CODE, "return a + b", "return b + a").unwrap();
        assert_eq!(kind, MatchKind::Exact);
        assert!(out.contains("return b + a"));
    }

    #[test]
    fn whitespace_tolerant_match_reindents() {
        let (out, kind) = search_replace(
            CODE,
            "def sub(a, b):\nreturn a - b",
            "def sub(a, b):\n    \"\"\"Subtract.\"\"\"\n    return a - b",
        )
        .unwrap();
        assert_eq!(kind, MatchKind::WhitespaceTolerant);
        assert_eq!(
            out,
            CODE.replace(
                "def sub(a, b):\n",
                "def sub(a, b):\n    \"\"\"Subtract.\"\"\"\n"
            )
        );

        let code = "class A:\n    def f(self):\n        return 1\n";
        let (out, _) = search_replace(
            code,
            "def f(self):\n    return 1",
            "def f(self):\n    return 2",
        )
        .unwrap();
        assert_eq!(out, "class A:\n    def f(self):\n        return 2\n");
    }

    #[test]
    fn ambiguous_and_missing_matches_explain_themselves() {
        let err = search_replace(CODE, "(a, b):", "(x, y):").unwrap_err();
        assert_eq!(
            err,
            MatchError::Ambiguous {
                count: 2,
                lines: vec![1, 5],
                overlapping: false,
            }
        );
        let err = search_replace(CODE, "def mul(a, b):\n    return a * b", "x").unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("the search text was not found. The closest lines"),
            "{text}"
        );
        assert!(
            text.contains("    1| def add(a, b):") || text.contains("    5| def sub(a, b):"),
            "{text}"
        );
        assert_eq!(
            search_replace(CODE, "  \n", "x").unwrap_err(),
            MatchError::EmptySearch
        );
        assert_eq!(
            search_replace(CODE, "zzzz qqqq", "x").unwrap_err(),
            MatchError::NotFound { closest: None }
        );
    }

    #[test]
    fn overlapping_occurrences_are_ambiguous() {
        let err = search_replace("}\n}\n}\n", "}\n}\n", "}\n").unwrap_err();
        assert_eq!(
            err,
            MatchError::Ambiguous {
                count: 2,
                lines: vec![1, 2],
                overlapping: true,
            }
        );
        assert!(
            err.to_string()
                .starts_with("the search text appears 2 times, overlapping (lines 1, 2)"),
            "{err}"
        );
        assert!(matches!(
            search_replace("aaa", "aa", "b"),
            Err(MatchError::Ambiguous {
                count: 2,
                overlapping: true,
                ..
            })
        ));
        assert_eq!(search_replace("éaé", "aé", "x").unwrap().0, "éx");
    }
}
