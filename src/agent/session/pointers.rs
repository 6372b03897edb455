//! From a failing check to the code it exercises: the lines the check's output says failed, and the functions
//! of the step's files that those lines call. A small model reads "render(...) returned X, the test expects Y"
//! in a traceback and still rewrites some other function; named, the function to change is found.

use super::Session;
use crate::agent::names::{is_test_path, looks_like_path, vendored};
use crate::repomap::tags::{Lang, tags};

/// Most failing lines a pointer message names.
const LINES_MAX: usize = 4;
/// Most locations read from one report.
const LOCATIONS_MAX: usize = 12;

impl Session {
    /// Where the failing lines of `report` lead in `files` (the step's files, with their texts): each failing
    /// test line with the functions of those files it calls, and the names it calls on a file's module that the
    /// file does not define. Empty when no failing line calls into them.
    pub(crate) fn failing_calls(&self, report: &str, files: &[(String, Option<String>)]) -> String {
        describe(&self.failing_targets(report, files))
    }

    /// Each failing test line of `report` (file and line) with what it calls among `files`' definitions and
    /// the names it calls on their modules that they lack; at most [`LINES_MAX`] lines, each once.
    pub(crate) fn failing_targets(
        &self,
        report: &str,
        files: &[(String, Option<String>)],
    ) -> Vec<Failing> {
        let defs = definitions(files);
        let mut out: Vec<Failing> = Vec::new();
        let mut seen_lines: Vec<String> = Vec::new();
        // Files the report names beside `files`, each read once (through the read path policy).
        let mut read: Vec<(String, Option<String>)> = Vec::new();
        for (path, line) in report_lines(&self.ws.root().to_string_lossy(), report) {
            if out.len() == LINES_MAX {
                break;
            }
            if vendored(&path) {
                continue;
            }
            if !files.iter().chain(&read).any(|(p, _)| *p == path) {
                let text = crate::tools::read_text(&self.ws, &path)
                    .ok()
                    .map(|(_, t)| t);
                read.push((path.clone(), text));
            }
            let Some(text) = files
                .iter()
                .chain(&read)
                .find(|(p, _)| *p == path)
                .and_then(|(_, t)| t.as_deref())
            else {
                continue;
            };
            let Some(source) = text.lines().nth(line.saturating_sub(1)) else {
                continue;
            };
            let source = source.trim();
            // A test's own line, or an assertion (Rust keeps its unit tests beside the code).
            if !(is_test_path(&path) || source.contains("assert"))
                || seen_lines.iter().any(|s| s == source)
            {
                continue;
            }
            let targets = pointer(source, &defs, files);
            if targets.is_empty() {
                continue;
            }
            seen_lines.push(source.to_string());
            out.push((path, line, targets));
        }
        out
    }
}

/// A failing test line (file, 1-based line) and what it calls in the step's files.
pub(crate) type Failing = (String, usize, Vec<Target>);

/// The brief's lines for `failing`: each failing test line and where it leads; empty when none.
pub(crate) fn describe(failing: &[Failing]) -> String {
    if failing.is_empty() {
        return String::new();
    }
    let out: Vec<String> = failing
        .iter()
        .map(|(path, line, targets)| format!("- {path} line {line} {}", said(targets)))
        .collect();
    format!(
        "\nWhere the failing lines lead:\n{}\nThe code to change is there.\n",
        out.join("\n")
    )
}

/// How each of `files` whose definitions a `failing` line calls should start a reply of the definitions it
/// changes: the first line of one of those definitions (up to its name, so the signature may change), or of
/// the class or `impl` around it. Nothing when a failing line calls what a file does not define yet (the reply
/// then starts with a new definition) or calls none of them.
pub(crate) fn reply_leads(
    failing: &[Failing],
    files: &[(String, Option<String>)],
) -> Vec<(String, Vec<String>)> {
    let targets: Vec<&Target> = failing.iter().flat_map(|(_, _, t)| t).collect();
    if targets.is_empty() || targets.iter().any(|t| matches!(t, Target::Missing { .. })) {
        return Vec::new();
    }
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for target in targets {
        let Target::Defined { name, path, line } = target else {
            continue;
        };
        let Some(text) = files
            .iter()
            .find(|(p, _)| p == path)
            .and_then(|(_, t)| t.as_deref())
        else {
            continue;
        };
        let starts = definition_leads(text, *line, name);
        let at = match out.iter().position(|(p, _)| p == path) {
            Some(at) => at,
            None => {
                out.push((path.clone(), Vec::new()));
                out.len() - 1
            }
        };
        for start in starts {
            if !out[at].1.contains(&start) {
                out[at].1.push(start);
            }
        }
    }
    out.retain(|(_, starts)| !starts.is_empty());
    out
}

/// What a failing line calls in the step's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// A function, method or class one of the files defines (1-based line).
    Defined {
        name: String,
        path: String,
        line: usize,
    },
    /// `module.name(` on a file's module, which the file does not define.
    Missing {
        module: String,
        name: String,
        path: String,
    },
}

/// `targets` in words: `calls render (todo.py line 27), todo.done, which todo.py does not define yet`. The
/// failing line itself is not quoted: a small model pastes quoted test code into the file it writes.
fn said(targets: &[Target]) -> String {
    let items: Vec<String> = targets
        .iter()
        .map(|t| match t {
            Target::Defined { name, path, line } => format!("{name} ({path} line {line})"),
            Target::Missing { module, name, path } => {
                format!("{module}.{name}, which {path} does not define yet")
            }
        })
        .collect();
    format!("calls {}", items.join(", "))
}

/// How a reply that changes the definition `name` at 1-based `line` of `text` may start: that line up to and
/// including the name (`def render`, `function wrap`, `pub fn low_stock`), and, for a method, the line of each
/// class or `impl` around it up to its end (`class Inventory:`, `impl Inventory {`).
fn definition_leads(text: &str, line: usize, name: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let Some(own) = line.checked_sub(1).and_then(|i| lines.get(i)) else {
        return Vec::new();
    };
    let trimmed = own.trim_start();
    let Some(at) = trimmed.find(name) else {
        return Vec::new();
    };
    let mut out = vec![trimmed[..at + name.len()].to_string()];
    // The blocks around it: each earlier line indented less than the last one found, while it is indented.
    let mut indent = own.len() - trimmed.len();
    for l in lines[..line - 1].iter().rev() {
        if indent == 0 {
            break;
        }
        let t = l.trim_start();
        let i = l.len() - t.len();
        if t.is_empty() || i >= indent {
            continue;
        }
        indent = i;
        let opener = ["class ", "impl", "export class ", "pub struct "]
            .iter()
            .any(|k| t.starts_with(k));
        if opener {
            out.push(t.trim_end().to_string());
        }
    }
    out
}

/// Functions, methods and classes the texts of `files` define: name, file, 1-based line.
fn definitions(files: &[(String, Option<String>)]) -> Vec<(String, String, usize)> {
    let mut out = Vec::new();
    for (path, text) in files {
        let (Some(text), Some(lang)) = (text, Lang::of(std::path::Path::new(path))) else {
            continue;
        };
        if is_test_path(path) {
            continue;
        }
        let Ok(found) = tags(lang, text) else {
            continue;
        };
        for tag in found.into_iter().filter(|t| t.is_definition) {
            if matches!(
                tag.kind.as_str(),
                "function" | "method" | "class" | "constructor" | "macro"
            ) && !out.iter().any(|(n, _, _)| *n == tag.name)
            {
                out.push((tag.name, path.clone(), tag.line));
            }
        }
    }
    out
}

/// What one failing `source` line calls among `defs`, and the `module.name(` calls whose module is one of
/// `files` and whose name it does not define; empty when neither.
fn pointer(
    source: &str,
    defs: &[(String, String, usize)],
    files: &[(String, Option<String>)],
) -> Vec<Target> {
    let mut items: Vec<Target> = Vec::new();
    for (qualifier, name) in calls(source) {
        let target = if let Some((_, path, line)) = defs.iter().find(|(n, _, _)| *n == name) {
            Target::Defined {
                name,
                path: path.clone(),
                line: *line,
            }
        } else if let Some(q) = qualifier
            && let Some((path, _)) = files.iter().find(|(p, t)| {
                t.is_some() && !is_test_path(p) && module_name(p).is_some_and(|m| m == q)
            })
        {
            Target::Missing {
                module: q,
                name,
                path: path.clone(),
            }
        } else {
            continue;
        };
        if !items.contains(&target) {
            items.push(target);
        }
    }
    items
}

/// The name a file is imported by: its stem (`todo.py` → `todo`, `src/calc.js` → `calc`).
fn module_name(path: &str) -> Option<&str> {
    let name = path.rsplit('/').next()?;
    let (stem, _) = name.rsplit_once('.')?;
    (!stem.is_empty()).then_some(stem)
}

/// The calls on a line of code, in order: each callee's name (`render` in `todo.render(x)`, `add` in
/// `assert_eq!(add(1, 2), 3)`) and the name before a `.` qualifying it. String literals are skipped.
fn calls(source: &str) -> Vec<(Option<String>, String)> {
    let chars: Vec<char> = source.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut previous: Option<(String, usize)> = None;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' || c == '`' {
            // Skip the literal, escapes included.
            i += 1;
            while i < chars.len() && chars[i] != c {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            previous = None;
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let name: String = chars[start..i].iter().collect();
            let qualifier = previous
                .take()
                .filter(|(_, end)| start > 0 && *end + 1 == start && chars[start - 1] == '.')
                .map(|(q, _)| q);
            let mut j = i;
            while j < chars.len() && chars[j] == ' ' {
                j += 1;
            }
            if j < chars.len() && chars[j] == '(' {
                out.push((qualifier, name.clone()));
            }
            previous = Some((name, i));
            continue;
        }
        if c != '.' {
            previous = None;
        }
        i += 1;
    }
    out
}

/// Workspace files and 1-based lines that a check's `report` points at, in order and without repeats:
/// `File "/ws/test_x.py", line 3` (Python), `test_x.py:3: AssertionError` (pytest), `src/lib.rs:3:5` (Rust),
/// `(/ws/x.test.js:5:8)` (Node), `x_test.go:3:` (Go). Paths under `root` are made relative to it; absolute
/// paths elsewhere are dropped.
pub(crate) fn report_lines(root: &str, report: &str) -> Vec<(String, usize)> {
    let root = format!("{}/", root.trim_end_matches('/'));
    let mut out: Vec<(String, usize)> = Vec::new();
    let mut push = |path: &str, line: &str| {
        let path = path.trim_start_matches("./");
        if let Ok(n) = line.parse::<usize>()
            && n > 0
            && looks_like_path(path)
            && !out.iter().any(|(p, l)| p == path && *l == n)
            && out.len() < LOCATIONS_MAX
        {
            out.push((path.to_string(), n));
        }
    };
    for raw in report.lines() {
        let text = raw.replace(&root, "");
        let t = text.trim_start();
        if let Some(rest) = t.strip_prefix("File \"")
            && let Some((path, rest)) = rest.split_once('"')
            && let Some(rest) = rest.strip_prefix(", line ")
        {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            push(path, &digits);
            continue;
        }
        for word in
            text.split(|c: char| !(c.is_alphanumeric() || matches!(c, '.' | '/' | '_' | '-' | ':')))
        {
            let mut parts = word.split(':');
            if let (Some(path), Some(line)) = (parts.next(), parts.next()) {
                push(path, line);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failing_lines_are_found_in_each_runner_s_own_shape() {
        let unittest = "Traceback (most recent call last):\n  File \"/ws/test_todo.py\", line 24, in test_done\n    self.assertEqual(todo.render(x), \"1. [x] a\")\nAssertionError: '1. a' != '1. [x] a'\n";
        assert_eq!(
            report_lines("/ws", unittest),
            vec![("test_todo.py".to_string(), 24)]
        );
        let pytest = "    def test_add():\n>       assert add(1, 2) == 3\nE       assert -1 == 3\n\ntest_calc.py:5: AssertionError\n";
        assert_eq!(
            report_lines("/ws", pytest),
            vec![("test_calc.py".to_string(), 5)]
        );
        let cargo = "thread 'tests::adds' panicked at src/lib.rs:12:9:\nassertion `left == right` failed\n  left: -1\n right: 3\n";
        assert_eq!(
            report_lines("/ws", cargo),
            vec![("src/lib.rs".to_string(), 12)]
        );
        let node = "AssertionError [ERR_ASSERTION]: 2 == 3\n    at Object.<anonymous> (/ws/test/cli.test.js:7:8)\n    at node:internal/main:1:1\n";
        assert_eq!(
            report_lines("/ws", node),
            vec![("test/cli.test.js".to_string(), 7)]
        );
        let elsewhere = "  File \"/usr/lib/python3.12/unittest/case.py\", line 58, in run\n--> /home/u/x.rs:3:1\n";
        assert!(report_lines("/ws", elsewhere).is_empty());
    }

    #[test]
    fn the_calls_on_a_line_are_its_callees_with_their_qualifiers_and_strings_are_skipped() {
        assert_eq!(
            calls("self.assertEqual(todo.render(todo.load(store)), \"a(b) x.y(z)\")"),
            vec![
                (Some("self".into()), "assertEqual".into()),
                (Some("todo".into()), "render".into()),
                (Some("todo".into()), "load".into()),
            ]
        );
        assert_eq!(
            calls("assert_eq!(add (1, 2), 3);"),
            vec![(None, "add".into())]
        );
        assert!(calls("x = 'unterminated(").is_empty());
    }

    #[test]
    fn a_failing_line_points_at_the_functions_it_calls_and_at_what_the_module_lacks() {
        let files = vec![(
            "todo.py".to_string(),
            Some(
                "def load(store):\n    return []\n\n\ndef render(items):\n    return ''\n"
                    .to_string(),
            ),
        )];
        let defs = definitions(&files);
        let said_of = |line: &str| {
            let targets = pointer(line, &defs, &files);
            if targets.is_empty() {
                String::new()
            } else {
                said(&targets)
            }
        };
        assert_eq!(
            said_of("self.assertEqual(todo.render(todo.load(s)), '1. [x] a')"),
            "calls render (todo.py line 5), load (todo.py line 1)"
        );
        assert_eq!(
            said_of("todo.done(1, store)"),
            "calls todo.done, which todo.py does not define yet"
        );
        assert_eq!(said_of("os.chdir(d)"), "");
    }

    #[test]
    fn a_reply_may_start_at_the_called_definition_or_the_blocks_around_it() {
        let py = "class Inventory:\n    def __init__(self):\n        self.items = {}\n\n    def remove(self, name, qty):\n        pass\n\n\ndef total(xs):\n    return 0\n";
        assert_eq!(definition_leads(py, 9, "total"), ["def total"]);
        assert_eq!(
            definition_leads(py, 5, "remove"),
            ["def remove", "class Inventory:"]
        );
        let rs = "pub struct S;\n\nimpl S {\n    /// Doc.\n    pub fn low_stock(&self) -> u32 {\n        todo!()\n    }\n}\n";
        assert_eq!(
            definition_leads(rs, 5, "low_stock"),
            ["pub fn low_stock", "impl S {"]
        );
        let js = "class Ledger {\n  total() {\n    return 0;\n  }\n}\n";
        assert_eq!(
            definition_leads(js, 2, "total"),
            ["total", "class Ledger {"]
        );
        // A line that is not there, or does not name it: nothing.
        assert!(definition_leads(py, 40, "total").is_empty());
        assert!(definition_leads(py, 1, "total").is_empty());
    }
}
