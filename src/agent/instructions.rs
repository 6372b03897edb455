//! Instructions to the agent: a user-level AGENTS.md, then the repository's, from its root down to the
//! workspace (the more specific file last, so it wins where they disagree), the way Codex reads them.

use std::path::{Path, PathBuf};

use crate::sandbox::Workspace;
use crate::sandbox::paths::INSTRUCTION_FILES;

/// Characters read from one instruction file.
const PER_FILE: usize = 8_000;
/// Characters of instructions in all.
const TOTAL: usize = 16_000;

/// The instructions for a session in `root`, with `user_dir` (tandem's config dir) holding the user's own
/// AGENTS.md; `None` when there are none. Each part is headed by where it came from.
pub fn load(root: &Path, user_dir: &Path, sensitive: &dyn Fn(&str) -> bool) -> Option<String> {
    let mut parts: Vec<(String, String)> = Vec::new();
    if let Some(text) = read_plain(&user_dir.join("AGENTS.md")) {
        parts.push(("your AGENTS.md".into(), text));
    }
    // Folders above the workspace, up to the repository's root: their AGENTS.md only, never a link.
    for dir in ancestors_to_repo_root(root) {
        if let Some((name, text)) = INSTRUCTION_FILES
            .iter()
            .find_map(|name| read_plain(&dir.join(name)).map(|t| (*name, t)))
        {
            parts.push((format!("{}/{name}", dir.display()), text));
        }
    }
    if let Some((name, text)) = in_workspace(root, sensitive) {
        parts.push((name, text));
    }
    if parts.is_empty() {
        return None;
    }
    let mut out = String::new();
    for (from, text) in parts {
        let room = TOTAL.saturating_sub(out.chars().count());
        if room < 200 {
            break;
        }
        let text: String = text.chars().take(PER_FILE.min(room)).collect();
        out.push_str(&format!("({from})\n{}\n\n", text.trim_end()));
    }
    Some(out.trim_end().to_string())
}

/// The folders from the repository's root (the nearest folder above `root` holding `.git`) down to the one
/// just above `root`, outermost first; empty when `root` is the repository's root or in none. The user's
/// home folder and `/` are never a repository root for this.
fn ancestors_to_repo_root(root: &Path) -> Vec<PathBuf> {
    if root.join(".git").exists() {
        return Vec::new();
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let mut chain = Vec::new();
    for dir in root.ancestors().skip(1) {
        if dir.parent().is_none() || home.as_deref() == Some(dir) {
            return Vec::new();
        }
        chain.push(dir.to_path_buf());
        if std::fs::symlink_metadata(dir.join(".git")).is_ok() {
            chain.reverse();
            return chain;
        }
    }
    Vec::new()
}

/// The workspace's own instruction file, read through the path policy: a link may lead to another
/// instruction or Markdown file in the workspace (CLAUDE.md -> AGENTS.md), never to `.env`, a sensitive path
/// (`secrets/notes.md`) or outside.
fn in_workspace(root: &Path, sensitive: &dyn Fn(&str) -> bool) -> Option<(String, String)> {
    let ws = Workspace::new(root).ok()?;
    INSTRUCTION_FILES.iter().find_map(|name| {
        let bytes = match ws.read(name, 1 << 20) {
            Ok((real, _)) if sensitive(&ws.relative(&real)) => {
                tracing::warn!(
                    "{name} leads to {}, a sensitive path; not read as instructions",
                    ws.relative(&real)
                );
                return None;
            }
            Ok((real, bytes)) if instruction_like(&ws.relative(&real)) => bytes,
            Ok((real, _)) => {
                tracing::warn!(
                    "{name} leads to {}, which is not an instruction file; not read",
                    ws.relative(&real)
                );
                return None;
            }
            Err(crate::sandbox::PathError::NotFound(_)) => return None,
            Err(e) => {
                tracing::warn!("project instructions not read: {e}");
                return None;
            }
        };
        let text = String::from_utf8_lossy(&bytes).into_owned();
        (!text.trim().is_empty()).then(|| (name.to_string(), text))
    })
}

/// A regular file's text, not through a link; `None` when missing, empty or not readable.
fn read_plain(path: &Path) -> Option<String> {
    match crate::sandbox::state::read(path, 1 << 20) {
        Ok(Some(bytes)) => {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            (!text.trim().is_empty()).then_some(text)
        }
        Ok(None) => None,
        Err(e) => {
            tracing::warn!("instructions not read: {e}");
            None
        }
    }
}

/// Whether a workspace-relative path is an instruction file or Markdown.
fn instruction_like(rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    INSTRUCTION_FILES
        .iter()
        .any(|f| f.eq_ignore_ascii_case(name))
        || (name.to_ascii_lowercase().ends_with(".md") && !name.starts_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_then_repository_root_then_workspace_and_links_above_are_refused() {
        let home = tempfile::tempdir().unwrap();
        let user = home.path().join("config");
        std::fs::create_dir_all(&user).unwrap();
        std::fs::write(user.join("AGENTS.md"), "Prefer tabs.").unwrap();
        let repo = home.path().join("repo");
        let ws = repo.join("crates").join("core");
        std::fs::create_dir_all(&ws).unwrap();
        std::fs::create_dir_all(repo.join(".git")).unwrap();
        std::fs::write(repo.join("AGENTS.md"), "Run make test.").unwrap();
        std::fs::write(repo.join("crates").join("secret.txt"), "KEY=1").unwrap();
        // A link above the workspace is never followed.
        std::os::unix::fs::symlink(
            repo.join("crates").join("secret.txt"),
            repo.join("crates").join("AGENTS.md"),
        )
        .unwrap();
        std::fs::write(ws.join("AGENTS.md"), "This crate has no I/O.").unwrap();
        let text = load(&ws, &user, &|_| false).unwrap();
        let user_at = text.find("Prefer tabs.").unwrap();
        let root_at = text.find("Run make test.").unwrap();
        let ws_at = text.find("This crate has no I/O.").unwrap();
        assert!(user_at < root_at && root_at < ws_at, "{text}");
        assert!(!text.contains("KEY=1"), "{text}");
        assert!(text.contains("(your AGENTS.md)"), "{text}");
    }

    #[test]
    fn outside_a_repository_only_the_workspace_and_the_user_file_count() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().join("a").join("b");
        std::fs::create_dir_all(&ws).unwrap();
        std::fs::write(dir.path().join("a").join("AGENTS.md"), "not mine").unwrap();
        std::fs::write(ws.join("CLAUDE.md"), "mine").unwrap();
        let text = load(&ws, &dir.path().join("none"), &|_| false).unwrap();
        assert!(
            text.contains("mine") && !text.contains("not mine"),
            "{text}"
        );
    }

    #[test]
    fn an_instruction_file_that_leads_to_a_sensitive_path_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path();
        std::fs::create_dir_all(ws.join("secrets")).unwrap();
        std::fs::write(ws.join("secrets/notes.md"), "prod db password: hunter2").unwrap();
        std::os::unix::fs::symlink("secrets/notes.md", ws.join("AGENTS.md")).unwrap();
        let sensitive = |p: &str| p.starts_with("secrets/");
        assert_eq!(load(ws, &ws.join("none"), &sensitive), None);
        // The same link to an ordinary document is read.
        std::fs::write(ws.join("docs.md"), "Use tabs.").unwrap();
        std::fs::remove_file(ws.join("AGENTS.md")).unwrap();
        std::os::unix::fs::symlink("docs.md", ws.join("AGENTS.md")).unwrap();
        assert!(
            load(ws, &ws.join("none"), &sensitive)
                .unwrap()
                .contains("Use tabs.")
        );
    }
}
