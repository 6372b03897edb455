//! Search/replace edits: an exact match first, then one that tolerates whitespace differences, then one where the
//! search text left lines out (a docstring, a comment, `...`) and those lines are kept; when nothing matches, the
//! error shows the closest lines so the model can correct itself.

/// How the search text was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchKind {
    /// Byte for byte.
    Exact,
    /// Line by line, ignoring leading and trailing whitespace (the replacement is re-indented).
    WhitespaceTolerant,
    /// Line by line, with `skipped` file lines that the search text left out kept in place.
    Elided {
        /// How many file lines inside the match were not in the search text.
        skipped: usize,
    },
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
        0 => elided(&lines, &wanted, replace).unwrap_or_else(|| {
            Err(MatchError::NotFound {
                closest: closest(&lines, &wanted),
            })
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

/// Most file lines a search text may leave out and still match.
const MAX_SKIPPED: usize = 200;

/// Whether a search line stands for lines left out (`...`, `# ...`, `// ... existing code ...`).
pub(crate) fn is_elision(line: &str) -> bool {
    let t = line.trim();
    let t = t
        .strip_prefix("//")
        .or_else(|| t.strip_prefix('#'))
        .or_else(|| t.strip_prefix("/*"))
        .or_else(|| t.strip_prefix("<!--"))
        .unwrap_or(t)
        .trim_end_matches("*/")
        .trim_end_matches("-->")
        .trim();
    t.starts_with("...") || t.starts_with('\u{2026}')
}

/// Whether a line is a comment or a docstring line, in the languages tandem maps.
fn is_comment(line: &str) -> bool {
    let t = line.trim_start();
    ["#", "//", "/*", "*", "--", "\"\"\"", "\'\'\'", "<!--"]
        .iter()
        .any(|p| t.starts_with(p))
}

/// The search lines found in order inside one window of the file, with lines between them that the search text
/// left out: those are kept where they are and the change from `search` to `replace` is applied around them,
/// like a patch. `None` when the search text does not match that way; the match must begin and end on lines
/// that are not blank, may skip at most [`MAX_SKIPPED`] lines, and may skip only blank lines, comments and lines
/// indented deeper than its first line (so it never reaches into the next block at the same level).
fn elided(
    lines: &[&str],
    wanted: &[&str],
    replace: &str,
) -> Option<Result<(String, MatchKind), MatchError>> {
    // The search lines to find (elision markers stand for gaps, and are found nowhere).
    let anchors: Vec<usize> = (0..wanted.len())
        .filter(|&j| !is_elision(wanted[j]))
        .collect();
    let (&first, &last) = (anchors.first()?, anchors.last()?);
    if anchors.len() < 2 || wanted[first].trim().is_empty() || wanted[last].trim().is_empty() {
        return None;
    }
    let skippable = |line: &str, base: usize| {
        line.trim().is_empty() || is_comment(line) || indent_of(line).len() > base
    };
    // Leftmost, shortest placement from each line that matches the first anchor.
    let mut windows: Vec<Vec<usize>> = Vec::new();
    'starts: for start in 0..lines.len() {
        if lines[start].trim() != wanted[first].trim() {
            continue;
        }
        let base = indent_of(lines[start]).len();
        let limit = (start + anchors.len() + MAX_SKIPPED).min(lines.len());
        let mut at = vec![start];
        let mut next = start + 1;
        for &j in &anchors[1..] {
            let mut i = next;
            loop {
                if i >= limit {
                    continue 'starts;
                }
                if lines[i].trim() == wanted[j].trim() {
                    break;
                }
                if !skippable(lines[i], base) {
                    continue 'starts;
                }
                i += 1;
            }
            at.push(i);
            next = i + 1;
        }
        if windows.last().is_some_and(|w| w.last() == at.last()) {
            // A later start that ends on the same line: the earlier one already covers it.
            continue;
        }
        windows.push(at);
    }
    let at = match windows.len() {
        0 => return None,
        1 => windows.pop()?,
        n => {
            return Some(Err(MatchError::Ambiguous {
                count: n,
                lines: windows.iter().map(|w| w[0] + 1).collect(),
                overlapping: windows.windows(2).any(|p| p[1][0] <= p[0][p[0].len() - 1]),
            }));
        }
    };
    let (lo, hi) = (at[0], at[at.len() - 1]);
    let skipped = hi + 1 - lo - at.len();
    if skipped == 0 {
        return None;
    }
    // Where each search line (from the first anchor on) sits in the file; markers sit nowhere.
    let mut place: Vec<Option<usize>> = vec![None; last + 1 - first];
    for (k, &j) in anchors.iter().enumerate() {
        place[j - first] = Some(at[k]);
    }
    let new: Vec<&str> = trim_blank_ends(replace.lines().collect())
        .into_iter()
        .map(str::trim_end)
        .collect();
    let skipped_lines: Vec<&str> = (lo..=hi)
        .filter(|i| !at.contains(i))
        .map(|i| lines[i].trim())
        .filter(|l| l.len() >= 4)
        .collect();
    if skipped_lines
        .iter()
        .any(|s| new.iter().any(|n| n.trim() == *s))
    {
        // The replacement restates a line the search left out: keeping it would write it twice.
        return None;
    }
    // Search and replacement are compared as the model wrote them (same indentation).
    let old: Vec<&str> = wanted[first..=last].iter().map(|l| l.trim_end()).collect();
    let ops = similar::capture_diff_slices(similar::Algorithm::Myers, &old, &new);
    // New lines take the file's indentation of the search line they stand beside: (search's, file's).
    let shift = |near: usize| -> (&str, &str) {
        let j = (0..=near.min(place.len() - 1))
            .rev()
            .chain(near..place.len())
            .find(|&j| place[j].is_some())
            .unwrap_or(0);
        match place[j] {
            Some(p) => (indent_of(wanted[first + j]), indent_of(lines[p])),
            None => (indent_of(wanted[first]), indent_of(lines[lo])),
        }
    };
    let shifted = |range: std::ops::Range<usize>, near: usize| -> Vec<String> {
        let (from, to) = shift(near);
        new[range].iter().map(|l| reindent(l, from, to)).collect()
    };

    let strip = |line: &str| line.trim_end_matches(['\n', '\r']).to_string();
    let mut body: Vec<String> = Vec::new();
    let mut last_placed = lo;
    // Emits the file lines left out before search line `j` (once), then moves past them.
    let mut gap = |j: usize, body: &mut Vec<String>| {
        if let Some(p) = place.get(j).copied().flatten()
            && p > last_placed
        {
            body.extend(lines[last_placed + 1..p].iter().map(|l| strip(l)));
            last_placed = p;
        }
    };
    for op in ops {
        let (old_range, new_range) = (op.old_range(), op.new_range());
        if !matches!(op, similar::DiffOp::Equal { .. })
            && new[new_range.clone()].iter().any(|l| is_elision(l))
        {
            // A marker that is new in the replacement would be written into the file literally.
            return None;
        }
        if !matches!(op, similar::DiffOp::Equal { .. })
            && old_range.clone().any(|j| place[j].is_none())
        {
            // A marker removed or changed: what it stood for would be dropped unseen.
            return None;
        }
        match op {
            similar::DiffOp::Equal { .. } => {
                for j in old_range {
                    gap(j, &mut body);
                    if let Some(p) = place[j] {
                        body.push(strip(lines[p]));
                    }
                }
            }
            similar::DiffOp::Insert { old_index, .. } => {
                // New lines go after what was left out before the next search line.
                if old_index < place.len() {
                    gap(old_index, &mut body);
                }
                body.extend(shifted(new_range, old_index));
            }
            similar::DiffOp::Delete { .. } | similar::DiffOp::Replace { .. } => {
                let near = old_range.start;
                for j in old_range {
                    gap(j, &mut body);
                }
                body.extend(shifted(new_range, near));
            }
        }
    }
    let eol = if lines[lo].ends_with("\r\n") {
        "\r\n"
    } else {
        "\n"
    };
    let mut out: String = lines[..lo].concat();
    for line in &body {
        out.push_str(line);
        out.push_str(eol);
    }
    let after = &lines[hi + 1..];
    if after.is_empty() && !lines[hi].ends_with('\n') && out.ends_with(eol) {
        out.truncate(out.len() - eol.len());
    }
    out.push_str(&after.concat());
    Some(Ok((out, MatchKind::Elided { skipped })))
}

/// How `write_file` content for an existing file was placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rewrite {
    /// The content is the whole file: it replaces it.
    Whole,
    /// The content is one whole definition (it starts with the definition's first line): it replaces the
    /// definition, lines `first..=last` (1-based).
    Block {
        /// First line replaced.
        first: usize,
        /// Last line replaced.
        last: usize,
    },
}

/// The first non-blank line of `t`, trimmed.
fn first_line(t: &str) -> Option<&str> {
    t.lines().find(|l| !l.trim().is_empty()).map(str::trim)
}

/// The last non-blank line of `t`, trimmed.
fn last_line(t: &str) -> Option<&str> {
    t.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(str::trim)
}

/// `content` with a brace block replaced whole, when `search` is only the block's first line (or the start of
/// it) and `replace` is a whole block: it begins with that line and ends with the closing brace. Replacing just
/// the searched text would leave the old body after the new one; small models send edits of this shape.
pub fn whole_block_edit(content: &str, search: &str, replace: &str) -> Option<String> {
    let wanted = search.trim();
    let head = first_line(replace)?;
    if wanted.is_empty()
        || search.trim().contains('\n')
        || !head.starts_with(wanted)
        || !head.ends_with('{')
        || !matches!(last_line(replace)?, "}" | "};" | "},")
        || replace.trim().lines().count() < 2
    {
        return None;
    }
    match rewrite(content, replace)? {
        (out, Rewrite::Block { .. }) => Some(out),
        (_, Rewrite::Whole) => None,
    }
}

/// `content` with `text` written over it: the whole file when `text` starts and ends like the file, else the
/// one block (a function, class or method: its first line, the lines indented deeper, and a closing line at
/// its own indentation such as `}`) whose first line `text` starts with. `None` when `text` is neither.
pub fn rewrite(content: &str, text: &str) -> Option<(String, Rewrite)> {
    let (head, tail) = (first_line(text)?, last_line(text)?);
    if first_line(content) == Some(head) && last_line(content) == Some(tail) {
        let mut whole = text.to_string();
        if content.ends_with('\n') && !whole.ends_with('\n') {
            whole.push('\n');
        }
        return Some((whole, Rewrite::Whole));
    }
    let lines: Vec<&str> = content.split_inclusive('\n').collect();
    let starts: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].trim() == head)
        .collect();
    let [start] = starts[..] else {
        return None;
    };
    let base = indent_of(lines[start]).len();
    // The body: the following lines indented deeper (blank lines inside it included).
    let mut end = start;
    let mut i = start + 1;
    while i < lines.len() {
        let line = lines[i];
        if line.trim().is_empty() {
            i += 1;
            continue;
        }
        if indent_of(line).len() <= base {
            // A closing line at the block's own indentation belongs to it when the new text closes the same way.
            if line.trim() == tail && !line.trim().chars().any(char::is_alphanumeric) {
                end = i;
            }
            break;
        }
        end = i;
        i += 1;
    }
    if end == start {
        // One line with no body is not a block to replace.
        return None;
    }
    let wanted_indent = indent_of(lines[start]);
    let given_indent = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .map(indent_of)
        .unwrap_or("");
    let mut block = reindent(text.trim_matches('\n'), given_indent, wanted_indent);
    block.push('\n');
    let mut out: String = lines[..start].concat();
    out.push_str(&block);
    let after = &lines[end + 1..];
    if after.is_empty() && !lines[end].ends_with('\n') {
        out.pop();
    }
    out.push_str(&after.concat());
    Some((
        out,
        Rewrite::Block {
            first: start + 1,
            last: end + 1,
        },
    ))
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

    const DOCUMENTED: &str = "def f(x):\n    \"\"\"Double x.\n\n    Any number.\n    \"\"\"\n    raise NotImplementedError\n\n\ndef g():\n    raise NotImplementedError\n";

    #[test]
    fn search_that_leaves_out_a_docstring_keeps_it() {
        let (out, kind) = search_replace(
            DOCUMENTED,
            "def f(x):\n    raise NotImplementedError",
            "def f(x):\n    return 2 * x",
        )
        .unwrap();
        assert_eq!(kind, MatchKind::Elided { skipped: 4 });
        assert_eq!(
            out,
            DOCUMENTED.replacen("    raise NotImplementedError", "    return 2 * x", 1)
        );
        // New lines after the signature go after the docstring, indented like the file.
        let (out, _) = search_replace(
            DOCUMENTED,
            "def f(x):\nraise NotImplementedError",
            "def f(x):\ny = x + x\nreturn y",
        )
        .unwrap();
        assert!(
            out.starts_with("def f(x):\n    \"\"\"Double x.\n\n    Any number.\n    \"\"\"\n    y = x + x\n    return y\n\n\ndef g():\n    raise"),
            "{out}"
        );
    }

    #[test]
    fn an_elided_match_never_reaches_into_the_next_block() {
        let code = "def f(x):\n    return 1\n\n\ndef g():\n    raise NotImplementedError\n";
        assert!(matches!(
            search_replace(code, "def f(x):\n    raise NotImplementedError", "x"),
            Err(MatchError::NotFound { .. })
        ));
        // Nor when the replacement restates the lines it left out (they would be written twice).
        assert!(matches!(
            search_replace(
                DOCUMENTED,
                "def f(x):\n    raise NotImplementedError",
                "def f(x):\n    \"\"\"Double x.\n\n    Any number.\n    \"\"\"\n    return 2 * x",
            ),
            Err(MatchError::NotFound { .. })
        ));
    }

    #[test]
    fn elision_markers_stand_for_the_lines_they_skip() {
        let code = "fn f() -> i32 {\n    let x = 1;\n    let y = 2;\n    x + y\n}\n";
        for marker in ["...", "// ...", "// ... existing code ..."] {
            let (out, kind) = search_replace(
                code,
                &format!("fn f() -> i32 {{\n    {marker}\n    x + y\n}}"),
                &format!("fn f() -> i32 {{\n    {marker}\n    x * y\n}}"),
            )
            .unwrap();
            assert_eq!(kind, MatchKind::Elided { skipped: 2 }, "{marker}");
            assert_eq!(out, code.replace("x + y", "x * y"), "{marker}");
        }
        // A marker in the replacement alone would be written literally: not an elided match.
        assert!(
            search_replace(
                code,
                "fn f() -> i32 {\n    x + y",
                "fn f() -> i32 {\n    // ...\n    x * y"
            )
            .is_err()
        );
    }

    #[test]
    fn elided_matches_in_two_places_are_ambiguous() {
        let code = "def f():\n    # one\n    pass\n\ndef f():\n    # two\n    pass\n";
        assert!(matches!(
            search_replace(code, "def f():\n    pass", "def f():\n    return 1"),
            Err(MatchError::Ambiguous { count: 2, .. })
        ));
    }

    #[test]
    fn elided_matches_never_panic_and_keep_what_they_skip() {
        // A fixed pseudo-random walk over files and searches made of a few lines, markers and indents.
        let pieces = [
            "def f():",
            "    # note",
            "    x = 1",
            "    ...",
            "    return x",
            "",
            "}",
            "def g():",
            "  // c",
            "\t\"\"\"doc\"\"\"",
            "x\r",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let mut elided = 0;
        for _ in 0..20_000 {
            let pick = |k: usize, next: &mut dyn FnMut(usize) -> usize| {
                (0..k)
                    .map(|_| pieces[next(pieces.len())])
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            let (a, b, c) = (next(9), next(4) + 1, next(4));
            let file = pick(a, &mut next);
            let search = pick(b, &mut next);
            let replace = pick(c, &mut next);
            // Writing a fragment over the file never panics either.
            let _ = rewrite(&file, &search);
            if let Ok((out, MatchKind::Elided { .. })) = search_replace(&file, &search, &replace) {
                elided += 1;
                for line in file.lines().filter(|l| l.trim().len() >= 4) {
                    let before = file.lines().filter(|l| l.trim() == line.trim()).count();
                    let kept = out.lines().filter(|l| l.trim() == line.trim()).count();
                    let in_search = search.lines().any(|l| l.trim() == line.trim());
                    assert!(
                        in_search || kept >= before,
                        "{file:?} {search:?} {replace:?} -> {out:?}"
                    );
                }
            }
        }
        assert!(elided > 20, "the walk reached only {elided} elided matches");
    }

    #[test]
    fn a_definition_written_over_an_existing_file_replaces_that_definition() {
        let js = "'use strict';\n\n/**\n * Doc.\n */\nfunction camelCase(text) {\n  throw new Error('not implemented');\n}\n\nmodule.exports = { camelCase };\n";
        let (out, how) = rewrite(
            js,
            "function camelCase(text) {\n  return text.toLowerCase();\n}",
        )
        .unwrap();
        assert_eq!(how, Rewrite::Block { first: 6, last: 8 });
        assert_eq!(
            out,
            js.replace(
                "  throw new Error('not implemented');",
                "  return text.toLowerCase();"
            )
        );
        // Python: the body ends where the indentation does; a method is re-indented into its class.
        let py = "class A:\n    def f(self):\n        \"\"\"Doc.\"\"\"\n        raise NotImplementedError\n\n    def g(self):\n        return 2\n";
        let (out, how) = rewrite(py, "def f(self):\n    return 1\n").unwrap();
        assert_eq!(how, Rewrite::Block { first: 2, last: 4 });
        assert_eq!(
            out,
            "class A:\n    def f(self):\n        return 1\n\n    def g(self):\n        return 2\n"
        );
        // The whole file, written again: it replaces the file.
        let (out, how) =
            rewrite(js, "'use strict';\n// new\nmodule.exports = { camelCase };").unwrap();
        assert_eq!(how, Rewrite::Whole);
        assert_eq!(
            out,
            "'use strict';\n// new\nmodule.exports = { camelCase };\n"
        );
        // Neither: a first line found nowhere, found twice, or with no body.
        assert_eq!(rewrite(js, "function other() {\n}"), None);
        assert_eq!(
            rewrite(
                "if a:\n    x = 1\nif a:\n    y = 2\nz\n",
                "if a:\n    w = 3\n"
            ),
            None
        );
        assert_eq!(rewrite("a = 1\nb = 2\n", "a = 1\nc = 3"), None);
    }

    #[test]
    fn an_edit_of_a_blocks_first_line_with_a_whole_block_replaces_the_block() {
        let js = "/** Doc. */\nfunction camelCase(text) {\n  throw new Error('not implemented');\n}\n\nmodule.exports = { camelCase };\n";
        let replace = "function camelCase(text) {\n  return text.toLowerCase();\n}";
        let out = whole_block_edit(js, "function camelCase(text)", replace).unwrap();
        assert_eq!(
            out,
            "/** Doc. */\nfunction camelCase(text) {\n  return text.toLowerCase();\n}\n\nmodule.exports = { camelCase };\n"
        );
        // Not that shape: a longer search, a replacement that does not close the block, or no brace block.
        assert_eq!(
            whole_block_edit(js, "function camelCase(text) {\n  throw", replace),
            None
        );
        assert_eq!(
            whole_block_edit(
                js,
                "function camelCase(text)",
                "function camelCase(text) {\n  // start"
            ),
            None
        );
        let py = "def f(x):\n    return 1\n";
        assert_eq!(
            whole_block_edit(py, "def f(x):", "def f(x):\n    \"\"\"Doc.\"\"\""),
            None
        );
    }
}
