//! The workspace files a tool result carries, by the names the model used and by where they really are, so
//! the router's path check sees `.env` when the model read it through a link or found it with grep.

use crate::model::ToolCall;
use crate::sandbox::Workspace;

/// The workspace-relative paths whose content `output` (the result of `call`) may hold.
pub(crate) fn sources_of(ws: &Workspace, call: &ToolCall, output: &str) -> Vec<String> {
    let mut out = Vec::new();
    let args: serde_json::Value = serde_json::from_str(&call.arguments).unwrap_or_default();
    if let Some(raw) = args.get("path").and_then(|p| p.as_str()) {
        add(ws, raw, &mut out);
    }
    if call.name == "grep" {
        for line in output.lines() {
            if let Some(path) = grep_path(line) {
                add(ws, path, &mut out);
            }
        }
    }
    out
}

/// The files a task carries attached (`<file path="…">` blocks, as an `@path` mention attaches them), by
/// the name given and by where they really are.
pub(crate) fn sources_in_task(ws: &Workspace, task: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in task.lines() {
        if let Some(path) = line
            .strip_prefix("<file path=\"")
            .and_then(|rest| rest.strip_suffix("\">"))
        {
            add(ws, path, &mut out);
        }
    }
    out
}

/// The raw path and, when it resolves inside the workspace, the real one.
fn add(ws: &Workspace, raw: &str, out: &mut Vec<String>) {
    let mut push = |p: String| {
        if !out.contains(&p) {
            out.push(p);
        }
    };
    push(raw.trim().trim_start_matches("./").to_string());
    if let Ok(real) = ws.resolve_read(raw) {
        push(ws.relative(&real));
    }
}

/// The file of a grep match line, `path:line: text`.
fn grep_path(line: &str) -> Option<&str> {
    let mut search = 0;
    while let Some(i) = line[search..].find(':') {
        let at = search + i;
        let rest = &line[at + 1..];
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if digits > 0 && rest[digits..].starts_with(':') {
            return Some(&line[..at]);
        }
        search = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_and_grep_matches_name_the_real_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".env"), "PASSWORD=x").unwrap();
        std::os::unix::fs::symlink(".env", dir.path().join("notes.txt")).unwrap();
        let ws = Workspace::new(dir.path()).unwrap();
        let call = |name: &str, args: &str| ToolCall {
            id: "1".into(),
            name: name.into(),
            arguments: args.into(),
        };
        assert_eq!(
            sources_of(&ws, &call("read_file", r#"{"path":"notes.txt"}"#), ""),
            vec!["notes.txt", ".env"]
        );
        assert_eq!(
            sources_of(
                &ws,
                &call("grep", r#"{"pattern":"PASSWORD"}"#),
                ".env:1: PASSWORD=x\nsrc/a:b.rs:12: y"
            ),
            vec![".env", "src/a:b.rs"]
        );
    }

    #[test]
    fn files_a_mention_attached_to_the_task_are_sources() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".env"), "MODE=x").unwrap();
        std::os::unix::fs::symlink(".env", dir.path().join("settings")).unwrap();
        let ws = Workspace::new(dir.path()).unwrap();
        let task = "Explain\n\n<file path=\"settings\">\nMODE=x\n</file>";
        assert_eq!(sources_in_task(&ws, task), ["settings", ".env"]);
        assert!(sources_in_task(&ws, "no files").is_empty());
    }
}
