//! Unified diffs of proposed edits, their hunks, and applying exactly the hunks a user accepted.

use similar::{DiffOp, DiffTag, TextDiff};

use crate::protocol::HunkSummary;

/// Lines of context around each hunk.
pub const CONTEXT: usize = 3;

/// A hunk of a diff: a cluster of changes with its context.
#[derive(Debug, Clone, PartialEq)]
pub struct Hunk {
    /// The `@@ -a,b +c,d @@` line.
    pub header: String,
    /// The hunk's change ops (no `Equal` ops).
    changes: Vec<DiffOp>,
    /// Lines added and removed.
    pub added: usize,
    /// Lines removed.
    pub removed: usize,
}

/// The hunks of the change from `old` to `new`.
pub fn hunks(old: &str, new: &str) -> Vec<Hunk> {
    let diff = TextDiff::from_lines(old, new);
    diff.grouped_ops(CONTEXT)
        .into_iter()
        .filter(|group| group.iter().any(|op| op.tag() != DiffTag::Equal))
        .map(|group| {
            let first = &group[0];
            let last = &group[group.len() - 1];
            let (o0, o1) = (first.old_range().start, last.old_range().end);
            let (n0, n1) = (first.new_range().start, last.new_range().end);
            let changes: Vec<DiffOp> = group
                .iter()
                .filter(|op| op.tag() != DiffTag::Equal)
                .cloned()
                .collect();
            let removed = changes.iter().map(|op| op.old_range().len()).sum();
            let added = changes.iter().map(|op| op.new_range().len()).sum();
            Hunk {
                header: format!("@@ -{} +{} @@", range(o0, o1), range(n0, n1)),
                changes,
                added,
                removed,
            }
        })
        .collect()
}

/// `start,len` in unified-diff form (1-based; an empty range names the line before it).
fn range(start: usize, end: usize) -> String {
    let len = end - start;
    match len {
        0 => format!("{start},0"),
        1 => format!("{}", start + 1),
        _ => format!("{},{len}", start + 1),
    }
}

/// Summaries of the hunks, for the protocol.
pub fn summaries(hunks: &[Hunk]) -> Vec<HunkSummary> {
    hunks
        .iter()
        .enumerate()
        .map(|(index, h)| HunkSummary {
            index,
            header: h.header.clone(),
            added: h.added,
            removed: h.removed,
        })
        .collect()
}

/// The unified diff of `path` from `old` (`None` for a new file) to `new`.
pub fn unified(path: &str, old: Option<&str>, new: &str) -> String {
    let before = old.unwrap_or("");
    let diff = TextDiff::from_lines(before, new);
    let from = if old.is_some() {
        format!("a/{path}")
    } else {
        "/dev/null".to_string()
    };
    diff.unified_diff()
        .context_radius(CONTEXT)
        .header(&from, &format!("b/{path}"))
        .to_string()
}

/// The lines of `new` that differ from `old`, with `context` lines around them, numbered like `read_file`
/// (at most `max_lines`; `None` when nothing changed).
pub fn changed_excerpt(old: &str, new: &str, context: usize, max_lines: usize) -> Option<String> {
    let (a, b): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let changed_end = b.len() - suffix;
    if prefix == a.len() && prefix == b.len() {
        return None;
    }
    let from = prefix.saturating_sub(context);
    let to = (changed_end + context).min(b.len());
    let shown = (to - from).min(max_lines);
    let mut out: Vec<String> = (from..from + shown)
        .map(|i| format!("{:>5}| {}", i + 1, b[i]))
        .collect();
    if shown < to - from {
        out.push(format!("      ({} more lines)", to - from - shown));
    }
    Some(out.join("\n"))
}

/// `old` with only the `accepted` hunks (by index) of the change to `new` applied.
pub fn apply_hunks(old: &str, new: &str, accepted: &[usize]) -> String {
    let hunks = hunks(old, new);
    let old_lines: Vec<&str> = old.split_inclusive('\n').collect();
    let new_lines: Vec<&str> = new.split_inclusive('\n').collect();
    let diff = TextDiff::from_lines(old, new);
    let mut out = String::with_capacity(new.len().max(old.len()));
    for op in diff.ops() {
        let take_new = op.tag() != DiffTag::Equal
            && hunks
                .iter()
                .enumerate()
                .any(|(i, h)| accepted.contains(&i) && h.changes.contains(op));
        if take_new {
            new_lines[op.new_range()]
                .iter()
                .for_each(|l| out.push_str(l));
        } else {
            old_lines[op.old_range()]
                .iter()
                .for_each(|l| out.push_str(l));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn numbered(n: usize) -> String {
        (1..=n).map(|i| format!("line {i}\n")).collect()
    }

    #[test]
    fn accepting_some_hunks_applies_exactly_those() {
        let old = numbered(30);
        let new = old
            .replace("line 2\n", "line two\n")
            .replace("line 15\n", "")
            .replace("line 28\n", "line 28\nextra\n");
        let hs = hunks(&old, &new);
        assert_eq!(hs.len(), 3);
        assert_eq!(
            hs.iter().map(|h| (h.added, h.removed)).collect::<Vec<_>>(),
            vec![(1, 1), (0, 1), (1, 0)]
        );
        assert_eq!(apply_hunks(&old, &new, &[0, 1, 2]), new);
        assert_eq!(apply_hunks(&old, &new, &[]), old);
        assert_eq!(apply_hunks(&old, &new, &[1]), old.replace("line 15\n", ""));
        assert_eq!(
            apply_hunks(&old, &new, &[0, 2]),
            old.replace("line 2\n", "line two\n")
                .replace("line 28\n", "line 28\nextra\n")
        );
    }

    #[test]
    fn headers_and_unified_text() {
        let hs = hunks("a\nb\nc\n", "a\nB\nc\n");
        assert_eq!(hs[0].header, "@@ -1,3 +1,3 @@");
        let text = unified("src/x.txt", Some("a\nb\nc\n"), "a\nB\nc\n");
        assert!(
            text.starts_with("--- a/src/x.txt\n+++ b/src/x.txt\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"),
            "{text}"
        );
        let created = unified("new.txt", None, "hello\n");
        assert!(
            created.starts_with("--- /dev/null\n+++ b/new.txt\n@@ -0,0 +1 @@\n+hello\n"),
            "{created}"
        );
    }

    #[test]
    fn no_trailing_newline_survives() {
        let old = "a\nb";
        let new = "a\nc";
        assert_eq!(apply_hunks(old, new, &[0]), "a\nc");
        assert_eq!(apply_hunks(old, new, &[]), "a\nb");
    }

    #[test]
    fn the_changed_lines_are_shown_numbered_with_context() {
        let old = "a\nb\nc\nd\ne\nf\n";
        let new = "a\nb\nC1\nC2\nd\ne\nf\n";
        assert_eq!(
            changed_excerpt(old, new, 1, 40).unwrap(),
            "    2| b\n    3| C1\n    4| C2\n    5| d"
        );
        assert_eq!(
            changed_excerpt(old, new, 1, 2).unwrap(),
            "    2| b\n    3| C1\n      (2 more lines)"
        );
        // A deletion shows the lines around where it was.
        assert_eq!(
            changed_excerpt(old, "a\nb\nd\ne\nf\n", 1, 40).unwrap(),
            "    2| b\n    3| d"
        );
        assert_eq!(changed_excerpt(old, old, 2, 40), None);
    }
}
