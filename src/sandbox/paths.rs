//! The workspace path policy every file tool goes through: a path resolves inside the workspace root, or it
//! is refused with a clear error. Symlinks (the file itself or any parent) are followed only to check where they
//! lead, and writes never go through one.

use std::path::{Component, Path, PathBuf};

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// Empty path.
    #[error("an empty path")]
    Empty,
    /// It resolves outside the workspace.
    #[error("`{0}` is outside the workspace")]
    Outside(String),
    /// It does not exist.
    #[error("`{0}` does not exist")]
    NotFound(String),
    /// Writing there is not allowed.
    #[error("`{path}` is protected: {why}")]
    Protected {
        /// The path.
        path: String,
        /// Why.
        why: String,
    },
    /// The file system said no.
    #[error("`{path}`: {message}")]
    Io {
        /// The path.
        path: String,
        /// What happened.
        message: String,
    },
}

/// Top-level names in the workspace that tools may never write.
pub const PROTECTED_DIRS: &[&str] = &[".git", ".tandem"];

/// The workspace root and the rules for paths under it.
#[derive(Debug, Clone)]
pub struct Workspace {
    root: PathBuf,
}

impl Workspace {
    /// A workspace rooted at `root` (which must exist).
    pub fn new(root: &Path) -> std::io::Result<Self> {
        Ok(Workspace {
            root: std::fs::canonicalize(root)?,
        })
    }

    /// The canonical root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A path relative to the root, for display (`/` separators).
    pub fn relative(&self, abs: &Path) -> String {
        abs.strip_prefix(&self.root)
            .unwrap_or(abs)
            .to_string_lossy()
            .replace('\\', "/")
    }

    /// The joined, lexically normalised path; `..` may not climb above the root.
    fn lexical(&self, raw: &str) -> Result<PathBuf, PathError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(PathError::Empty);
        }
        let joined = if Path::new(raw).is_absolute() {
            PathBuf::from(raw)
        } else {
            self.root.join(raw)
        };
        let mut out = PathBuf::new();
        for c in joined.components() {
            match c {
                Component::ParentDir => {
                    if !out.pop() {
                        return Err(PathError::Outside(raw.into()));
                    }
                }
                Component::CurDir => {}
                other => out.push(other),
            }
        }
        if !out.starts_with(&self.root) {
            return Err(PathError::Outside(raw.into()));
        }
        Ok(out)
    }

    /// An existing path to read: symlinks resolved, and the result must be inside the workspace.
    pub fn resolve_read(&self, raw: &str) -> Result<PathBuf, PathError> {
        let path = self.lexical(raw)?;
        let real = std::fs::canonicalize(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => PathError::NotFound(raw.into()),
            _ => PathError::Io {
                path: raw.into(),
                message: e.to_string(),
            },
        })?;
        if !real.starts_with(&self.root) {
            return Err(PathError::Outside(raw.into()));
        }
        Ok(real)
    }

    /// A path to write (it may not exist yet): its deepest existing ancestor must resolve inside the
    /// workspace, the file itself must not be a symlink, and it must not be under a protected directory.
    pub fn resolve_write(&self, raw: &str) -> Result<PathBuf, PathError> {
        let path = self.lexical(raw)?;
        let mut existing = path.as_path();
        let mut missing = Vec::new();
        while std::fs::symlink_metadata(existing).is_err() {
            missing.push(
                existing
                    .file_name()
                    .map(|n| n.to_os_string())
                    .unwrap_or_default(),
            );
            existing = existing
                .parent()
                .ok_or_else(|| PathError::Outside(raw.into()))?;
        }
        let meta = std::fs::symlink_metadata(existing).map_err(|e| PathError::Io {
            path: raw.into(),
            message: e.to_string(),
        })?;
        if missing.is_empty() && meta.file_type().is_symlink() {
            return Err(PathError::Protected {
                path: raw.into(),
                why: "it is a symbolic link".into(),
            });
        }
        let real_parent = std::fs::canonicalize(existing).map_err(|e| PathError::Io {
            path: raw.into(),
            message: e.to_string(),
        })?;
        if !real_parent.starts_with(&self.root) {
            return Err(PathError::Outside(raw.into()));
        }
        let mut real = real_parent;
        for name in missing.into_iter().rev() {
            real.push(name);
        }
        if !real.starts_with(&self.root) {
            return Err(PathError::Outside(raw.into()));
        }
        if let Some(first) = real
            .strip_prefix(&self.root)
            .ok()
            .and_then(|r| r.components().next())
        {
            let first = first.as_os_str().to_string_lossy();
            if PROTECTED_DIRS.contains(&first.as_ref()) {
                return Err(PathError::Protected {
                    path: raw.into(),
                    why: format!("tools do not write into {first}/"),
                });
            }
        }
        if real == self.root {
            return Err(PathError::Protected {
                path: raw.into(),
                why: "it is the workspace root".into(),
            });
        }
        Ok(real)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws() -> (tempfile::TempDir, Workspace) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("ws/src")).unwrap();
        std::fs::write(dir.path().join("ws/src/a.rs"), "fn a() {}").unwrap();
        std::fs::write(dir.path().join("outside.txt"), "secret").unwrap();
        let w = Workspace::new(&dir.path().join("ws")).unwrap();
        (dir, w)
    }

    #[test]
    fn reads_inside_only() {
        let (dir, w) = ws();
        assert_eq!(
            w.resolve_read("src/a.rs").unwrap(),
            w.root().join("src/a.rs")
        );
        assert_eq!(
            w.resolve_read("./src/../src/a.rs").unwrap(),
            w.root().join("src/a.rs")
        );
        assert_eq!(
            w.resolve_read("../outside.txt"),
            Err(PathError::Outside("../outside.txt".into()))
        );
        let abs = dir.path().join("outside.txt").display().to_string();
        assert_eq!(w.resolve_read(&abs), Err(PathError::Outside(abs.clone())));
        assert_eq!(
            w.resolve_read("src/none.rs"),
            Err(PathError::NotFound("src/none.rs".into()))
        );
        std::os::unix::fs::symlink(dir.path().join("outside.txt"), w.root().join("link.txt"))
            .unwrap();
        assert_eq!(
            w.resolve_read("link.txt"),
            Err(PathError::Outside("link.txt".into()))
        );
    }

    #[test]
    fn writes_inside_never_through_links_or_into_protected_dirs() {
        let (dir, w) = ws();
        assert_eq!(
            w.resolve_write("src/new/b.rs").unwrap(),
            w.root().join("src/new/b.rs")
        );
        assert!(matches!(
            w.resolve_write("../x"),
            Err(PathError::Outside(_))
        ));
        std::os::unix::fs::symlink(dir.path(), w.root().join("up")).unwrap();
        assert!(
            matches!(w.resolve_write("up/evil.txt"), Err(PathError::Outside(_))),
            "symlinked parent"
        );
        std::os::unix::fs::symlink(w.root().join("src/a.rs"), w.root().join("alias.rs")).unwrap();
        assert!(
            matches!(
                w.resolve_write("alias.rs"),
                Err(PathError::Protected { .. })
            ),
            "the file is a link"
        );
        assert!(matches!(
            w.resolve_write(".git/hooks/pre-commit"),
            Err(PathError::Protected { .. })
        ));
        assert!(matches!(
            w.resolve_write(".tandem/config.toml"),
            Err(PathError::Protected { .. })
        ));
        assert!(matches!(w.resolve_write(""), Err(PathError::Empty)));
    }
}
