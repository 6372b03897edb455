//! Checks every edit format shares: a change that would import a file into itself, or paste a test into the
//! code it tests, is mended or refused whatever format it came in.

use crate::repomap::tags::Lang;

/// `new` without the top-level lines that import the file at `path` into itself and that `old` did not have:
/// a small model shown a test beside the code copies the test's `require('./text')` or `from todo import …`
/// into the code, which then declares every name twice or imports itself in a loop. Never right in the file
/// itself, so such a line is dropped rather than the reply refused.
pub fn without_self_imports(path: &str, old: &str, new: &str) -> String {
    let p = std::path::Path::new(path);
    let Some(stem) = p.file_stem().and_then(|s| s.to_str()) else {
        return new.to_string();
    };
    let matcher = match Lang::of(p) {
        Some(Lang::Python) => {
            // The module by its file name, or by its dotted path from the workspace root.
            let dotted = regex::escape(&path.trim_end_matches(".py").replace('/', "."));
            regex::Regex::new(&format!(
                r"^(?:import\s+(?:{stem}|{dotted})(?:\s+as\s+\w+)?\s*(?:#.*)?$|from\s+(?:{stem}|{dotted})\s+import\b)",
                stem = regex::escape(stem)
            ))
        }
        Some(Lang::JavaScript | Lang::TypeScript | Lang::Tsx) => regex::Regex::new(&format!(
            r#"(?:require\(\s*|\bfrom\s+|^import\s+)['"]\./{}(?:\.[cm]?[jt]sx?)?['"]"#,
            regex::escape(stem)
        )),
        _ => return new.to_string(),
    };
    let Ok(matcher) = matcher else {
        return new.to_string();
    };
    let old_lines: std::collections::HashSet<&str> = old.lines().map(str::trim_end).collect();
    let drop = |line: &str| {
        !line.starts_with([' ', '\t'])
            && matcher.is_match(line.trim_end())
            && !old_lines.contains(line.trim_end())
            // One statement on the line (a multi-line import is left alone).
            && !line.trim_end().ends_with(['{', '(', ','])
    };
    if !new.lines().any(drop) {
        return new.to_string();
    }
    let kept: String = new.split_inclusive('\n').filter(|l| !drop(l)).collect();
    // A blank line left at the very top by a dropped first line goes too.
    let trimmed = kept.trim_start_matches('\n');
    if old.starts_with('\n') {
        kept
    } else {
        trimmed.to_string()
    }
}

/// The first class or function that writing `file` over `old` would add and that one of `tests` (path, text)
/// defines, with that test's path: a small model shown a test often pastes it into the code.
pub fn copied_test(
    file: &crate::edit::format::FileEdit,
    old: Option<&str>,
    tests: &[(String, Option<String>)],
) -> Option<(String, String)> {
    use crate::repomap::tags::tags;
    let defined = |path: &str, text: &str| -> Vec<String> {
        Lang::of(std::path::Path::new(path))
            .and_then(|lang| tags(lang, text).ok())
            .unwrap_or_default()
            .into_iter()
            .filter(|t| t.is_definition && matches!(t.kind.as_str(), "class" | "function"))
            .map(|t| t.name)
            .collect()
    };
    let had = old.map(|o| defined(&file.path, o)).unwrap_or_default();
    let new: Vec<String> = defined(&file.path, &file.content)
        .into_iter()
        .filter(|n| !had.contains(n))
        .collect();
    tests.iter().find_map(|(test, text)| {
        let theirs = defined(test, text.as_deref()?);
        new.iter()
            .find(|n| theirs.contains(n))
            .map(|n| (n.clone(), test.clone()))
    })
}
