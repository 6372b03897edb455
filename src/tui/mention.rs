//! `@path` mentions: completing a path from the workspace's files, and attaching the mentioned files' text
//! to a message through the workspace path policy (a path outside the workspace, or one it refuses, is
//! refused with its reason).

use crate::sandbox::{PathError, Workspace};

/// A file read for a message.
#[derive(Debug, Clone, PartialEq)]
pub struct Attachment {
    /// The path as mentioned (relative to the workspace).
    pub path: String,
    /// Its text.
    pub content: String,
}

/// What the person sends: their text and the files it mentions.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Message {
    /// The text as typed (pastes expanded).
    pub text: String,
    /// The files mentioned with `@path`.
    pub attachments: Vec<Attachment>,
}

impl Message {
    /// The text with each attached file after it, as the model reads it.
    pub fn task(&self) -> String {
        let mut out = self.text.clone();
        for a in &self.attachments {
            out.push_str(&attachment_text(&a.path, &a.content));
        }
        out
    }
}

/// A file as it follows a task's text (what the router's source tracking and the models read).
pub(crate) fn attachment_text(path: &str, content: &str) -> String {
    format!(
        "\n\n<file path=\"{path}\">\n{}\n</file>",
        content.trim_end_matches('\n')
    )
}

/// The largest file a mention attaches.
const MAX_ATTACH: u64 = 256 * 1024;
/// How many files the completion list holds at most.
const MAX_FILES: usize = 20_000;

/// The `@` mentions in `text`: words that start with `@` (at the start or after whitespace).
pub fn mentions(text: &str) -> Vec<&str> {
    text.split_whitespace()
        .filter_map(|w| w.strip_prefix('@'))
        .filter(|p| !p.is_empty())
        .collect()
}

/// Reads every mentioned file; a word that names no file stays plain text, any other refusal is an error.
pub fn attach(ws: &Workspace, text: &str) -> Result<Vec<Attachment>, String> {
    let mut out: Vec<Attachment> = Vec::new();
    for raw in mentions(text) {
        let path = raw.trim_end_matches([',', '.', ';', ':', '!', '?', ')', '"', '\'']);
        if path.is_empty() || out.iter().any(|a| a.path == path) {
            continue;
        }
        match ws.read(path, MAX_ATTACH) {
            Ok((_, bytes)) => match String::from_utf8(bytes) {
                Ok(content) => out.push(Attachment {
                    path: path.to_string(),
                    content,
                }),
                Err(_) => return Err(format!("@{path} is not text; not attached")),
            },
            Err(PathError::NotFound(_)) => {}
            Err(e) => return Err(format!("@{path} not attached: {e}")),
        }
    }
    Ok(out)
}

/// The workspace's files and folders (folders end in `/`), gitignore-aware, relative, sorted.
pub fn list_files(ws: &Workspace) -> Vec<String> {
    let mut out = Vec::new();
    let walk = ignore::WalkBuilder::new(ws.root())
        .hidden(true)
        .follow_links(false)
        .build();
    for entry in walk.flatten().take(MAX_FILES) {
        let rel = ws.relative(entry.path());
        if rel.is_empty() {
            continue;
        }
        let dir = entry.file_type().is_some_and(|t| t.is_dir());
        out.push(if dir { format!("{rel}/") } else { rel });
    }
    out.sort();
    out
}

/// The best candidates for what was typed after `@`, at most `n`: fuzzy-matched as helix and codex match
/// paths (nucleo: the characters in order, with bonuses for matches at the start of the path, of a file name
/// and after separators), best score first; ties go to the shallower, then the shorter, then the first path.
pub fn complete(files: &[String], typed: &str, n: usize) -> Vec<String> {
    let depth = |i: usize| {
        let f = &files[i];
        (f.matches('/').count(), f.len(), f.as_str())
    };
    if typed.is_empty() {
        let mut all: Vec<usize> = (0..files.len()).collect();
        all.sort_by_key(|&i| depth(i));
        return all.into_iter().take(n).map(|i| files[i].clone()).collect();
    }
    let mut hits = super::fuzzy::scores(files, typed, true);
    hits.sort_by_key(|&(i, score)| (std::cmp::Reverse(score), depth(i)));
    hits.into_iter()
        .take(n)
        .map(|(i, _)| files[i].clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws() -> (tempfile::TempDir, Workspace) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("ws/src")).unwrap();
        std::fs::write(dir.path().join("ws/src/main.rs"), "fn main() {}\n").unwrap();
        std::fs::write(dir.path().join("ws/README.md"), "# hi\n").unwrap();
        std::fs::write(dir.path().join("outside.txt"), "secret").unwrap();
        let ws = Workspace::new(&dir.path().join("ws")).unwrap();
        (dir, ws)
    }

    #[test]
    fn mentioned_files_are_attached_and_outside_ones_refused() {
        let (_d, ws) = ws();
        let got = attach(
            &ws,
            "look at @src/main.rs, and mail me@example.com @nothing",
        )
        .unwrap();
        assert_eq!(
            got,
            vec![Attachment {
                path: "src/main.rs".into(),
                content: "fn main() {}\n".into()
            }]
        );
        let m = Message {
            text: "see @src/main.rs".into(),
            attachments: got,
        };
        assert_eq!(
            m.task(),
            "see @src/main.rs\n\n<file path=\"src/main.rs\">\nfn main() {}\n</file>"
        );
        let err = attach(&ws, "read @../outside.txt").unwrap_err();
        assert!(err.contains("outside the workspace"), "{err}");
        std::os::unix::fs::symlink(ws.root().join("../outside.txt"), ws.root().join("link"))
            .unwrap();
        let err = attach(&ws, "read @link").unwrap_err();
        assert!(err.contains("outside the workspace"), "{err}");
    }

    #[test]
    fn completion_prefers_prefixes_then_names() {
        let (_d, ws) = ws();
        let files = list_files(&ws);
        assert_eq!(files, ["README.md", "src/", "src/main.rs"]);
        assert_eq!(complete(&files, "src", 5), ["src/", "src/main.rs"]);
        assert_eq!(complete(&files, "ma", 5), ["src/main.rs"]);
        assert_eq!(complete(&files, "read", 5), ["README.md"]);
    }

    #[test]
    fn completion_is_fuzzy_and_ranks_file_names_and_starts_first() {
        let files: Vec<String> = [
            "src/agent/session/mod.rs",
            "src/sandbox/shell.rs",
            "src/tui/mention.rs",
            "docs/SANDBOX.md",
            "tests/suite/escape.rs",
        ]
        .map(String::from)
        .to_vec();
        // Characters in order, not a substring: `mntn` finds mention.rs, `sbsh` the sandbox's shell.
        assert_eq!(complete(&files, "mntn", 3)[0], "src/tui/mention.rs");
        assert_eq!(complete(&files, "sbsh", 3)[0], "src/sandbox/shell.rs");
        // Case is ignored; a match at a file name's start beats one inside a word.
        assert_eq!(complete(&files, "sandbox", 2)[0], "docs/SANDBOX.md");
        assert!(complete(&files, "zzz", 3).is_empty());
        // The same query, the same order, every time.
        assert_eq!(complete(&files, "s", 5), complete(&files, "s", 5));
    }
}
