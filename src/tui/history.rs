//! The composer's history of sent messages, per workspace: `.tandem/history.jsonl`, one JSON string a line,
//! opened without following links (see [`crate::sandbox::state`]). Searched newest first with Ctrl-R.

use std::io::Write as _;
use std::path::PathBuf;

use crate::sandbox::state;

/// How many entries are kept (older ones are dropped when the file is rewritten).
const KEEP: usize = 1000;
/// Entries longer than this (a huge paste) are not written to the file.
const MAX_ENTRY: usize = 64 * 1024;
/// The file is not read past this size.
const MAX_FILE: u64 = 8 * 1024 * 1024;

/// Sent messages, oldest first, and where they are kept.
#[derive(Debug, Clone, Default)]
pub struct History {
    entries: Vec<String>,
    file: Option<PathBuf>,
}

impl History {
    /// The history kept in `file` (`None`: in memory only); an unreadable file reads as empty, with the reason.
    pub fn open(file: Option<PathBuf>) -> (History, Option<String>) {
        let mut h = History {
            entries: Vec::new(),
            file,
        };
        let Some(path) = &h.file else {
            return (h, None);
        };
        match state::read(path, MAX_FILE) {
            Ok(Some(bytes)) => {
                h.entries = String::from_utf8_lossy(&bytes)
                    .lines()
                    .filter_map(|l| serde_json::from_str::<String>(l).ok())
                    .collect();
                let extra = h.entries.len().saturating_sub(KEEP);
                h.entries.drain(..extra);
                (h, None)
            }
            Ok(None) => (h, None),
            Err(e) => {
                h.file = None;
                (h, Some(format!("history not kept: {e}")))
            }
        }
    }

    /// The entries, oldest first.
    pub fn entries(&self) -> &[String] {
        &self.entries
    }

    /// Adds a sent message (not twice in a row) and appends it to the file; an error says why it was not kept.
    pub fn push(&mut self, text: &str) -> Result<(), String> {
        if text.is_empty() || self.entries.last().is_some_and(|l| l == text) {
            return Ok(());
        }
        self.entries.push(text.to_string());
        let Some(path) = &self.file else {
            return Ok(());
        };
        if text.len() > MAX_ENTRY {
            return Ok(());
        }
        let line = serde_json::to_string(text).map_err(|e| e.to_string())? + "\n";
        let result = if self.entries.len() > KEEP * 2 {
            let extra = self.entries.len() - KEEP;
            self.entries.drain(..extra);
            let all: String = self
                .entries
                .iter()
                .filter(|e| e.len() <= MAX_ENTRY)
                .filter_map(|e| serde_json::to_string(e).ok())
                .map(|l| l + "\n")
                .collect();
            state::write(path, all.as_bytes())
                .map_err(|e| e.to_string())
                .and_then(|()| private(path))
        } else {
            private(path).and_then(|()| {
                state::open_append(path)
                    .map_err(|e| e.to_string())
                    .and_then(|mut f| f.write_all(line.as_bytes()).map_err(|e| e.to_string()))
            })
        };
        result.map_err(|e| {
            // Said once: the rest of this run keeps the history in memory.
            self.file = None;
            format!("history not saved (kept in memory for this run): {e}")
        })
    }

    /// The newest entry before `before` (an index; `None`: from the newest) that contains `query`.
    pub fn search(&self, query: &str, before: Option<usize>) -> Option<usize> {
        let end = before.unwrap_or(self.entries.len()).min(self.entries.len());
        let q = query.to_lowercase();
        (0..end)
            .rev()
            .find(|&i| self.entries[i].to_lowercase().contains(&q))
    }
}

/// Makes the history file readable by its owner only (what a person typed may hold anything), through the
/// descriptor the link-refusing opener returns.
fn private(path: &std::path::Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt as _;
    let f = state::open_append(path).map_err(|e| e.to_string())?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_across_restarts_and_searched_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(".tandem/history.jsonl");
        let (mut h, err) = History::open(Some(file.clone()));
        assert_eq!(err, None);
        h.push("fix the parser").unwrap();
        h.push("add a test\nfor the parser").unwrap();
        h.push("add a test\nfor the parser").unwrap();
        h.push("write docs").unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "only its owner reads it");
        let (h, _) = History::open(Some(file.clone()));
        assert_eq!(
            h.entries(),
            ["fix the parser", "add a test\nfor the parser", "write docs"]
        );
        assert_eq!(h.search("PARSER", None), Some(1));
        assert_eq!(h.search("parser", Some(1)), Some(0));
        assert_eq!(h.search("parser", Some(0)), None);
    }

    #[test]
    fn a_link_in_place_of_the_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".tandem")).unwrap();
        std::fs::write(dir.path().join("secret"), "\"stolen\"\n").unwrap();
        let file = dir.path().join(".tandem/history.jsonl");
        std::os::unix::fs::symlink(dir.path().join("secret"), &file).unwrap();
        let (mut h, err) = History::open(Some(file));
        assert!(err.is_some_and(|e| e.contains("history not kept")));
        assert!(h.entries().is_empty());
        h.push("in memory only").unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("secret")).unwrap(),
            "\"stolen\"\n"
        );
    }
}
