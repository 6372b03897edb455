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
            out.push_str(&format!(
                "\n\n<file path=\"{}\">\n{}\n</file>",
                a.path,
                a.content.trim_end_matches('\n')
            ));
        }
        out
    }
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

/// The best candidates for `prefix`: paths that start with it first, then those whose file name does, then
/// those that contain it; at most `n`.
pub fn complete(files: &[String], prefix: &str, n: usize) -> Vec<String> {
    let p = prefix.to_lowercase();
    let rank = |f: &String| {
        let l = f.to_lowercase();
        let name = l.trim_end_matches('/').rsplit('/').next().unwrap_or("");
        if l.starts_with(&p) {
            Some(0)
        } else if name.starts_with(&p) {
            Some(1)
        } else if l.contains(&p) {
            Some(2)
        } else {
            None
        }
    };
    let mut hits: Vec<(u8, &String)> = files
        .iter()
        .filter_map(|f| rank(f).map(|r| (r, f)))
        .collect();
    hits.sort_by_key(|(r, f)| (*r, f.matches('/').count(), f.len()));
    hits.into_iter().take(n).map(|(_, f)| f.clone()).collect()
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
}
