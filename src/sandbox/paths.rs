//! The workspace path policy every file tool goes through: a path resolves inside the workspace root, or it
//! is refused with a clear error. Symlinks (the file itself or any parent) are followed only to check where they
//! lead; the file is then opened by walking from the root one directory at a time without following any link,
//! so a link swapped in after the check is refused rather than followed. Writes never go through a link, never
//! into `.git/` or `.tandem/`, and are atomic. Files with more than one hard link, devices, FIFOs and sockets
//! are refused.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};

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
    /// Not a regular file (a device, FIFO, socket or directory).
    #[error("`{path}` is {what}; tools only read and write regular files")]
    Special {
        /// The path.
        path: String,
        /// What it is.
        what: &'static str,
    },
    /// A file with other hard links, which may be outside the workspace.
    #[error(
        "`{path}` has {links} hard links; tools do not touch files that may be linked from elsewhere"
    )]
    HardLinked {
        /// The path.
        path: String,
        /// Its link count.
        links: u64,
    },
    /// A symbolic link appeared on the path after it was checked.
    #[error("`{0}` changed while it was being opened (a symbolic link is on the path); refused")]
    Raced(String),
    /// Larger than the cap.
    #[error("`{path}` is {size} bytes; tools read files up to {cap} bytes")]
    TooLarge {
        /// The path.
        path: String,
        /// Its size.
        size: u64,
        /// The cap.
        cap: u64,
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

/// Directory names that tools may never write into, at any depth.
pub const PROTECTED_DIRS: &[&str] = &[".git", ".tandem"];

/// Project instruction files, read into the planner's prompt: the model changes them only with a person's
/// approval, never under an automatic policy.
pub const INSTRUCTION_FILES: &[&str] =
    &["AGENTS.md", "CLAUDE.md", "CONVENTIONS.md", ".cursorrules"];

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
        if let Ok(rel) = real.strip_prefix(&self.root) {
            for c in rel.components() {
                let name = c.as_os_str().to_string_lossy();
                // Both at any depth: a nested `.tandem/` is the project config of a later session run there.
                let hit = PROTECTED_DIRS.iter().find(|p| name.eq_ignore_ascii_case(p));
                if let Some(p) = hit {
                    return Err(PathError::Protected {
                        path: raw.into(),
                        why: format!("tools do not write into {p}/"),
                    });
                }
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

    /// Why writing `raw` needs a person's approval even under an automatic policy, if it does.
    /// An instruction file at any depth counts: a session started in that folder reads it as instructions.
    pub fn needs_approval(&self, raw: &str) -> Option<String> {
        let path = self.lexical(raw).ok()?;
        let rel = path.strip_prefix(&self.root).ok()?;
        let name = rel.file_name()?;
        super::guard::is_instruction_file(name).then(|| {
            format!(
                "{} holds the project's instructions to an agent",
                rel.display()
            )
        })
    }

    /// Reads a file for a tool: it must resolve inside, be a regular file with one link, and hold at most `cap`
    /// bytes. Returns the canonical path and the bytes.
    pub fn read(&self, raw: &str, cap: u64) -> Result<(PathBuf, Vec<u8>), PathError> {
        let real = self.resolve_read(raw)?;
        let rel = real
            .strip_prefix(&self.root)
            .map_err(|_| PathError::Outside(raw.into()))?;
        let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
            return Err(PathError::Special {
                path: raw.into(),
                what: "the workspace root",
            });
        };
        let dir = self
            .open_dir(parent, false)
            .map_err(|e| self.io_error(raw, e))?;
        let (fd, size) = self.open_file(&dir, name, raw)?;
        if size > cap {
            return Err(PathError::TooLarge {
                path: raw.into(),
                size,
                cap,
            });
        }
        let mut bytes = Vec::with_capacity(size as usize);
        std::fs::File::from(fd)
            .take(cap + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| self.io_error(raw, e))?;
        if bytes.len() as u64 > cap {
            return Err(PathError::TooLarge {
                path: raw.into(),
                size: bytes.len() as u64,
                cap,
            });
        }
        Ok((real, bytes))
    }

    /// The current bytes and mode of a path that is about to be written, or `None` when it does not exist.
    pub fn read_for_write(&self, raw: &str) -> Result<Option<(Vec<u8>, u32)>, PathError> {
        let real = self.resolve_write(raw)?;
        let (parent, name) = self.split(&real, raw)?;
        let dir = match self.open_dir(parent, false) {
            Ok(dir) => dir,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io_error(raw, e)),
        };
        match rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Err(rustix::io::Errno::NOENT) => return Ok(None),
            Err(e) => return Err(self.io_error(raw, e.into())),
            Ok(_) => {}
        }
        let (fd, _) = self.open_file(&dir, name, raw)?;
        let mode = rustix::fs::fstat(&fd)
            .map_err(|e| self.io_error(raw, e.into()))?
            .st_mode;
        let mut bytes = Vec::new();
        std::fs::File::from(fd)
            .read_to_end(&mut bytes)
            .map_err(|e| self.io_error(raw, e))?;
        Ok(Some((bytes, mode & 0o7777)))
    }

    /// Writes `bytes` to `raw` atomically (a temporary file in the same directory, then a rename), creating
    /// missing directories. An existing file keeps its permission bits unless `mode` is given (never a
    /// set-user-ID or set-group-ID bit). Returns the canonical path.
    pub fn write(&self, raw: &str, bytes: &[u8], mode: Option<u32>) -> Result<PathBuf, PathError> {
        let real = self.resolve_write(raw)?;
        let (parent, name) = self.split(&real, raw)?;
        let dir = self
            .open_dir(parent, true)
            .map_err(|e| self.io_error(raw, e))?;
        let existing = match rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Err(rustix::io::Errno::NOENT) => None,
            Err(e) => return Err(self.io_error(raw, e.into())),
            Ok(st) => {
                check_stat(&st, raw)?;
                Some(st.st_mode & 0o7777)
            }
        };
        let tmp_name = super::state::temp_name();
        let fd = rustix::fs::openat(
            &dir,
            tmp_name.as_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o666),
        )
        .map_err(|e| self.io_error(raw, e.into()))?;
        let result = (|| -> std::io::Result<()> {
            // Permission bits only: whatever a caller or the file had, tandem never writes a set-user-ID,
            // set-group-ID or sticky bit.
            if let Some(m) = mode.or(existing) {
                rustix::fs::fchmod(&fd, Mode::from_raw_mode(m & 0o777))?;
            }
            let mut file = std::fs::File::from(fd);
            file.write_all(bytes)?;
            file.sync_all()?;
            rustix::fs::renameat(&dir, tmp_name.as_str(), &dir, name)?;
            Ok(())
        })();
        if let Err(e) = result {
            let _ = rustix::fs::unlinkat(&dir, tmp_name.as_str(), AtFlags::empty());
            return Err(self.io_error(raw, e));
        }
        // Make the rename durable; the new content is in place either way.
        let _ = rustix::fs::fsync(&dir);
        Ok(real)
    }

    /// Removes a regular file the tools created (undo); a missing file is not an error.
    pub fn remove(&self, raw: &str) -> Result<(), PathError> {
        let real = self.resolve_write(raw)?;
        let (parent, name) = self.split(&real, raw)?;
        let dir = match self.open_dir(parent, false) {
            Ok(dir) => dir,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(self.io_error(raw, e)),
        };
        match rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Err(rustix::io::Errno::NOENT) => return Ok(()),
            Err(e) => return Err(self.io_error(raw, e.into())),
            Ok(st) => check_stat(&st, raw)?,
        }
        rustix::fs::unlinkat(&dir, name, AtFlags::empty()).map_err(|e| self.io_error(raw, e.into()))
    }

    fn split<'a>(
        &self,
        real: &'a Path,
        raw: &str,
    ) -> Result<(&'a Path, &'a std::ffi::OsStr), PathError> {
        let rel = real
            .strip_prefix(&self.root)
            .map_err(|_| PathError::Outside(raw.into()))?;
        match (rel.parent(), rel.file_name()) {
            (Some(parent), Some(name)) => Ok((parent, name)),
            _ => Err(PathError::Protected {
                path: raw.into(),
                why: "it is the workspace root".into(),
            }),
        }
    }

    /// Opens `rel` (relative to the root) one component at a time, refusing any symbolic link on the way;
    /// with `create`, missing directories are made.
    fn open_dir(&self, rel: &Path, create: bool) -> std::io::Result<OwnedFd> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let mut dir = rustix::fs::open(&self.root, flags, Mode::empty())?;
        for c in rel.components() {
            let Component::Normal(name) = c else {
                return Err(std::io::Error::other("unexpected path component"));
            };
            let next = match rustix::fs::openat(&dir, name, flags, Mode::empty()) {
                Err(rustix::io::Errno::NOENT) if create => {
                    match rustix::fs::mkdirat(&dir, name, Mode::from_raw_mode(0o777)) {
                        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                        Err(e) => return Err(e.into()),
                    }
                    rustix::fs::openat(&dir, name, flags, Mode::empty())?
                }
                other => other?,
            };
            dir = next;
        }
        Ok(dir)
    }

    /// Opens a regular file in `dir` for reading: checked before the open (so a FIFO or device is never
    /// opened), opened without following a link, and checked again after (it may have been swapped).
    fn open_file(
        &self,
        dir: &OwnedFd,
        name: &std::ffi::OsStr,
        raw: &str,
    ) -> Result<(OwnedFd, u64), PathError> {
        check_entry(dir, name, raw)?;
        let fd = rustix::fs::openat(
            dir,
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY,
            Mode::empty(),
        )
        .map_err(|e| self.io_error(raw, e.into()))?;
        let size = check_open(&fd, raw)?;
        Ok((fd, size))
    }

    fn io_error(&self, raw: &str, e: std::io::Error) -> PathError {
        // ELOOP: the last component is a link (O_NOFOLLOW); ENOTDIR: a directory became a link or a file.
        match e.raw_os_error() {
            Some(libc::ELOOP) | Some(libc::ENOTDIR) => PathError::Raced(raw.into()),
            _ if e.kind() == std::io::ErrorKind::NotFound => PathError::NotFound(raw.into()),
            _ => PathError::Io {
                path: raw.into(),
                message: e.to_string(),
            },
        }
    }
}

/// What a non-regular file type is, for errors.
fn describe(ft: FileType) -> &'static str {
    match ft {
        FileType::Directory => "a directory",
        FileType::Symlink => "a symbolic link",
        FileType::Fifo => "a FIFO",
        FileType::Socket => "a socket",
        FileType::CharacterDevice => "a character device",
        FileType::BlockDevice => "a block device",
        _ => "not a regular file",
    }
}

/// Refuses anything but a regular file with one link.
pub(super) fn check_stat(st: &rustix::fs::Stat, raw: &str) -> Result<(), PathError> {
    let ft = FileType::from_raw_mode(st.st_mode);
    if ft == FileType::Symlink {
        return Err(PathError::Raced(raw.into()));
    }
    if ft != FileType::RegularFile {
        return Err(PathError::Special {
            path: raw.into(),
            what: describe(ft),
        });
    }
    #[allow(clippy::useless_conversion)] // nlink is u32 on some targets
    let links = u64::from(st.st_nlink);
    if links > 1 {
        return Err(PathError::HardLinked {
            path: raw.into(),
            links,
        });
    }
    Ok(())
}

/// Checks the entry before opening it (so a FIFO or device is never opened).
fn check_entry(dir: &OwnedFd, name: &std::ffi::OsStr, raw: &str) -> Result<(), PathError> {
    let st = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).map_err(|e| match e {
        rustix::io::Errno::NOENT => PathError::NotFound(raw.into()),
        e => PathError::Io {
            path: raw.into(),
            message: std::io::Error::from(e).to_string(),
        },
    })?;
    check_stat(&st, raw)
}

/// Checks what was opened (it may have been swapped since `check_entry`); returns its size.
fn check_open(fd: &OwnedFd, raw: &str) -> Result<u64, PathError> {
    let st = rustix::fs::fstat(fd).map_err(|e| PathError::Io {
        path: raw.into(),
        message: std::io::Error::from(e).to_string(),
    })?;
    check_stat(&st, raw)?;
    Ok(u64::try_from(st.st_size).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instruction_files_need_approval_at_any_depth() {
        let dir = tempfile::tempdir().unwrap();
        let w = Workspace::new(dir.path()).unwrap();
        assert!(w.needs_approval("AGENTS.md").is_some());
        let nested = w.needs_approval("pkg/sub/agents.md").unwrap();
        assert!(nested.starts_with("pkg/sub/agents.md"), "{nested}");
        assert!(w.needs_approval("GEMINI.md").is_some());
        assert!(w.needs_approval("./pkg/../CLAUDE.md").is_some());
        assert!(w.needs_approval("pkg/.cursorrules").is_some());
        assert_eq!(w.needs_approval("docs/AGENTS.md.bak"), None);
        assert_eq!(w.needs_approval("src/main.rs"), None);
    }

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
        for nested in [
            "pkg/.tandem/config.toml",
            "a/b/.TANDEM/x",
            "pkg/.git/hooks/pre-commit",
        ] {
            assert!(
                matches!(w.resolve_write(nested), Err(PathError::Protected { .. })),
                "{nested}"
            );
        }
        assert!(matches!(w.resolve_write(""), Err(PathError::Empty)));
    }
}
