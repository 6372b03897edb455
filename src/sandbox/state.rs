//! tandem's own files (`.tandem/`: config, sessions, checkpoints, plans, progress, caches), opened without
//! following links. A path is split at its `.tandem` component (or, outside a workspace, at its parent): the
//! part above is the anchor the person chose (the workspace root), and everything below it is walked one
//! component at a time with `O_NOFOLLOW`, so a link anywhere inside, swapped in at any time, is refused
//! instead of followed. Files must be regular with one link.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};

use super::paths::{PathError, check_stat};

/// The name of tandem's state directory in a workspace.
pub const STATE_DIR: &str = ".tandem";

/// The anchor (opened normally) and the components below it (opened without following links).
fn split(path: &Path) -> Result<(PathBuf, Vec<&OsStr>), PathError> {
    let shown = || path.display().to_string();
    let comps: Vec<Component> = path.components().collect();
    let at = comps
        .iter()
        .position(|c| c.as_os_str() == STATE_DIR)
        .unwrap_or(comps.len().saturating_sub(1));
    let anchor: PathBuf = comps[..at].iter().collect();
    let rest = comps[at..]
        .iter()
        .map(|c| match c {
            Component::Normal(n) => Ok(*n),
            _ => Err(PathError::Outside(shown())),
        })
        .collect::<Result<Vec<_>, _>>()?;
    if rest.is_empty() {
        return Err(PathError::Empty);
    }
    Ok((anchor, rest))
}

fn io(path: &Path, e: std::io::Error) -> PathError {
    let shown = path.display().to_string();
    match e.raw_os_error() {
        Some(libc::ELOOP) | Some(libc::ENOTDIR) => PathError::Protected {
            path: shown,
            why:
                "a symbolic link (or a non-directory) is on the path of tandem's own files; refused"
                    .into(),
        },
        _ if e.kind() == std::io::ErrorKind::NotFound => PathError::NotFound(shown),
        _ => PathError::Io {
            path: shown,
            message: e.to_string(),
        },
    }
}

/// Opens the directory `names` below `anchor` without following links; `create` makes missing ones.
fn open_dir(anchor: &Path, names: &[&OsStr], create: bool) -> std::io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let anchor = if anchor.as_os_str().is_empty() {
        Path::new(".")
    } else {
        anchor
    };
    if create {
        std::fs::create_dir_all(anchor)?;
    }
    let mut dir = rustix::fs::open(
        anchor,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    for name in names {
        dir = match rustix::fs::openat(&dir, *name, flags, Mode::empty()) {
            Err(rustix::io::Errno::NOENT) if create => {
                match rustix::fs::mkdirat(&dir, *name, Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                    Err(e) => return Err(e.into()),
                }
                rustix::fs::openat(&dir, *name, flags, Mode::empty())?
            }
            other => other?,
        };
        if create && *name == STATE_DIR {
            keep_out_of_git(&dir);
        }
    }
    Ok(dir)
}

/// What `.tandem/.gitignore` holds: tandem's state stays out of `git status`, its project config does not.
pub const GITIGNORE: &str = "# Written by tandem: its sessions, checkpoints, plans and caches stay out of git.\n# The project config (config.toml) is not ignored. Delete this file to see everything.\n*\n!config.toml\n";

/// Gives the state folder its own `.gitignore` (never the user's), unless it has one already.
fn keep_out_of_git(dir: &OwnedFd) {
    let made = rustix::fs::openat(
        dir,
        ".gitignore",
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o644),
    );
    if let Ok(fd) = made {
        let _ = std::fs::File::from(fd).write_all(GITIGNORE.as_bytes());
    }
}

/// The directory holding `path` (opened safely) and the file's own name.
fn parent(path: &Path, create: bool) -> Result<(OwnedFd, &OsStr), PathError> {
    let (anchor, names) = split(path)?;
    let Some((name, dirs)) = names.split_last() else {
        return Err(PathError::Empty);
    };
    let dir = open_dir(&anchor, dirs, create).map_err(|e| io(path, e))?;
    Ok((dir, name))
}

/// Reads a regular file of tandem's; `None` when it (or its directory) does not exist.
pub fn read(path: &Path, cap: u64) -> Result<Option<Vec<u8>>, PathError> {
    let shown = path.display().to_string();
    let (dir, name) = match parent(path, false) {
        Ok(p) => p,
        Err(PathError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    match rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Err(rustix::io::Errno::NOENT) => return Ok(None),
        Err(e) => return Err(io(path, e.into())),
        Ok(st) => check_stat(&st, &shown)?,
    }
    let fd = rustix::fs::openat(
        &dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
    )
    .map_err(|e| io(path, e.into()))?;
    let st = rustix::fs::fstat(&fd).map_err(|e| io(path, e.into()))?;
    check_stat(&st, &shown)?;
    let mut bytes = Vec::new();
    std::fs::File::from(fd)
        .take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io(path, e))?;
    if bytes.len() as u64 > cap {
        return Err(PathError::TooLarge {
            path: shown,
            size: bytes.len() as u64,
            cap,
        });
    }
    Ok(Some(bytes))
}

/// Writes a file of tandem's whole or not at all (a temp file, then a rename), creating its directories.
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), PathError> {
    let shown = path.display().to_string();
    let (dir, name) = parent(path, true)?;
    match rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Err(rustix::io::Errno::NOENT) => {}
        Err(e) => return Err(io(path, e.into())),
        Ok(st) => check_stat(&st, &shown)?,
    }
    let tmp = temp_name();
    let fd = rustix::fs::openat(
        &dir,
        tmp.as_str(),
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o644),
    )
    .map_err(|e| io(path, e.into()))?;
    let result = (|| -> std::io::Result<()> {
        let mut file = std::fs::File::from(fd);
        file.write_all(bytes)?;
        file.sync_all()?;
        rustix::fs::renameat(&dir, tmp.as_str(), &dir, name)?;
        Ok(())
    })();
    if let Err(e) = result {
        let _ = rustix::fs::unlinkat(&dir, tmp.as_str(), AtFlags::empty());
        return Err(io(path, e));
    }
    let _ = rustix::fs::fsync(&dir);
    Ok(())
}

/// Opens a file of tandem's for appending (created if missing), without following links.
pub fn open_append(path: &Path) -> Result<std::fs::File, PathError> {
    let shown = path.display().to_string();
    let (dir, name) = parent(path, true)?;
    let fd = rustix::fs::openat(
        &dir,
        name,
        OFlags::WRONLY
            | OFlags::APPEND
            | OFlags::CREATE
            | OFlags::NOFOLLOW
            | OFlags::NONBLOCK
            | OFlags::CLOEXEC
            | OFlags::NOCTTY,
        Mode::from_raw_mode(0o644),
    )
    .map_err(|e| io(path, e.into()))?;
    let st = rustix::fs::fstat(&fd).map_err(|e| io(path, e.into()))?;
    check_stat(&st, &shown)?;
    Ok(std::fs::File::from(fd))
}

/// Makes a directory of tandem's (and its parents) without following links.
pub fn create_dir_all(path: &Path) -> Result<(), PathError> {
    let (anchor, names) = split(path)?;
    open_dir(&anchor, &names, true)
        .map(|_| ())
        .map_err(|e| io(path, e))
}

/// The names in a directory of tandem's with their types; `None` when it does not exist.
pub fn list(path: &Path) -> Result<Option<Vec<(String, FileType)>>, PathError> {
    let (anchor, names) = split(path)?;
    let dir = match open_dir(&anchor, &names, false) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(path, e)),
    };
    let mut out = Vec::new();
    let entries = rustix::fs::Dir::read_from(&dir).map_err(|e| io(path, e.into()))?;
    for entry in entries {
        let entry = entry.map_err(|e| io(path, e.into()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "." || name == ".." {
            continue;
        }
        let kind = match rustix::fs::statat(&dir, entry.file_name(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => FileType::from_raw_mode(st.st_mode),
            Err(_) => continue,
        };
        out.push((name, kind));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Some(out))
}

/// Renames `from` to `to` within one directory of tandem's (both plain names in the same folder).
pub fn rename(dir: &Path, from: &str, to: &str) -> Result<(), PathError> {
    let (anchor, names) = split(dir)?;
    let fd = open_dir(&anchor, &names, false).map_err(|e| io(dir, e))?;
    rustix::fs::renameat(&fd, from, &fd, to).map_err(|e| io(&dir.join(from), e.into()))?;
    let _ = rustix::fs::fsync(&fd);
    Ok(())
}

/// Removes a directory of tandem's and everything in it; links inside are removed, never followed.
pub fn remove_dir_all(path: &Path) -> Result<(), PathError> {
    let (dir, name) = match parent(path, false) {
        Ok(p) => p,
        Err(PathError::NotFound(_)) => return Ok(()),
        Err(e) => return Err(e),
    };
    remove_tree(&dir, name).map_err(|e| io(path, e))
}

/// Removes `name` in `dir` whatever it is, a folder with everything in it included, never following a link.
pub(super) fn remove_tree(dir: &OwnedFd, name: &OsStr) -> std::io::Result<()> {
    let st = match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Err(rustix::io::Errno::NOENT) => return Ok(()),
        other => other?,
    };
    if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
        return Ok(rustix::fs::unlinkat(dir, name, AtFlags::empty())?);
    }
    let sub = rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut names = Vec::new();
    for entry in rustix::fs::Dir::read_from(&sub)? {
        let entry = entry?;
        let n = entry.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push(OsStr::from_bytes(n).to_os_string());
        }
    }
    for n in names {
        remove_tree(&sub, &n)?;
    }
    Ok(rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR)?)
}

/// The prefix of every temporary file tandem writes; [`sweep_temp_files`] removes stale ones.
pub const TEMP_PREFIX: &str = ".tandem-tmp-";

/// A fresh temporary name carrying this process's id (so a sweep can tell whether its writer is alive).
pub fn temp_name() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{TEMP_PREFIX}{}-{n}", std::process::id())
}

/// A temporary file or folder younger than this is never swept (its writer may still be at work).
const SWEEP_MIN_AGE: std::time::Duration = std::time::Duration::from_secs(60);
/// One older than this is swept even when its writer's pid is alive (a write takes far less; pids are reused).
const SWEEP_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Removes temporary files and folders a crashed tandem left in `root` (see [`TEMP_PREFIX`]): those whose
/// writer's process is gone and that are over a minute old, and any over fifteen minutes old. Links are
/// never followed. Returns the workspace-relative paths removed.
pub fn sweep_temp_files(root: &Path) -> Vec<String> {
    let mut removed = Vec::new();
    // The workspace as git sees it (ignored build folders are not walked), and all of `.tandem/`, which is
    // often ignored but is where checkpoints are written.
    let workspace = ignore::WalkBuilder::new(root)
        .hidden(false)
        .require_git(false)
        .follow_links(false)
        .filter_entry(|e| e.file_name() != ".git" && e.file_name() != STATE_DIR)
        .build();
    let state = ignore::WalkBuilder::new(root.join(STATE_DIR))
        .standard_filters(false)
        .follow_links(false)
        .build();
    let now = std::time::SystemTime::now();
    for entry in workspace.chain(state).flatten() {
        let name = entry.file_name().to_string_lossy();
        if !name.starts_with(TEMP_PREFIX) {
            continue;
        }
        let Ok(meta) = std::fs::symlink_metadata(entry.path()) else {
            continue;
        };
        let age = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .unwrap_or_default();
        if !stale(&name, age) {
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(root)
            .unwrap_or(entry.path())
            .to_string_lossy()
            .into_owned();
        let gone = if meta.file_type().is_dir() {
            remove_dir_all(entry.path()).is_ok()
        } else if meta.file_type().is_file() || meta.file_type().is_symlink() {
            std::fs::remove_file(entry.path()).is_ok()
        } else {
            false
        };
        if gone {
            removed.push(rel);
        }
    }
    removed
}

/// Whether a temporary entry of this name and age is left over from a writer that is gone.
fn stale(name: &str, age: std::time::Duration) -> bool {
    if age >= SWEEP_MAX_AGE {
        return true;
    }
    if age < SWEEP_MIN_AGE {
        return false;
    }
    let pid = name
        .strip_prefix(TEMP_PREFIX)
        .and_then(|rest| rest.split('-').next())
        .and_then(|p| p.parse::<i32>().ok())
        .and_then(rustix::process::Pid::from_raw);
    match pid {
        // ESRCH: no such process. EPERM means it exists (another user's), so it is kept.
        Some(pid) => matches!(
            rustix::process::test_kill_process(pid),
            Err(rustix::io::Errno::SRCH)
        ),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn links_inside_tandem_state_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().join("ws");
        std::fs::create_dir_all(ws.join(".tandem")).unwrap();
        std::fs::write(dir.path().join("secret"), "s").unwrap();
        write(&ws.join(".tandem/plans/p.md"), b"plan").unwrap();
        assert_eq!(
            read(&ws.join(".tandem/plans/p.md"), 100).unwrap().unwrap(),
            b"plan"
        );
        assert_eq!(read(&ws.join(".tandem/none.md"), 100).unwrap(), None);
        std::os::unix::fs::symlink(dir.path().join("secret"), ws.join(".tandem/progress.md"))
            .unwrap();
        let e = read(&ws.join(".tandem/progress.md"), 100).unwrap_err();
        assert!(matches!(e, PathError::Raced(_)), "{e:?}");
        assert!(write(&ws.join(".tandem/progress.md"), b"x").is_err());
        assert!(open_append(&ws.join(".tandem/progress.md")).is_err());
        assert_eq!(std::fs::read(dir.path().join("secret")).unwrap(), b"s");
        std::os::unix::fs::symlink(dir.path(), ws.join(".tandem/cache")).unwrap();
        let e = write(&ws.join(".tandem/cache/repomap.sqlite"), b"x").unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert!(!dir.path().join("repomap.sqlite").exists());
    }

    #[test]
    fn the_state_folder_gets_its_own_gitignore_and_a_planted_one_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().join("ws");
        std::fs::create_dir_all(&ws).unwrap();
        write(&ws.join(".tandem/plans/p.md"), b"plan").unwrap();
        assert_eq!(
            std::fs::read_to_string(ws.join(".tandem/.gitignore")).unwrap(),
            GITIGNORE
        );
        // A .gitignore that is there already (even a link) is neither overwritten nor followed.
        let other = dir.path().join("other");
        std::fs::create_dir_all(other.join(".tandem")).unwrap();
        std::fs::write(dir.path().join("target"), "mine").unwrap();
        std::os::unix::fs::symlink(dir.path().join("target"), other.join(".tandem/.gitignore"))
            .unwrap();
        write(&other.join(".tandem/progress.md"), b"x").unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("target")).unwrap(),
            "mine"
        );
    }

    #[test]
    fn only_stale_temp_files_are_swept() {
        assert!(
            !stale(".tandem-tmp-1-0", Duration::from_secs(5)),
            "too young"
        );
        let me = format!("{TEMP_PREFIX}{}-0", std::process::id());
        assert!(!stale(&me, Duration::from_secs(120)), "its writer is alive");
        assert!(stale(&me, SWEEP_MAX_AGE), "old enough whoever wrote it");
        // Pid 0x7ffffff0 is above every pid_max, so no process has it.
        assert!(stale(".tandem-tmp-2147483632-0", Duration::from_secs(120)));
        assert!(
            !stale(".tandem-tmp-abcdef", Duration::from_secs(120)),
            "no pid: wait for the max age"
        );

        let dir = tempfile::tempdir().unwrap();
        let fresh = dir.path().join(format!("{TEMP_PREFIX}2147483632-1"));
        std::fs::write(&fresh, "x").unwrap();
        assert!(
            sweep_temp_files(dir.path()).is_empty(),
            "a fresh file is kept"
        );
        assert!(fresh.exists());
        let ago = |secs| std::time::SystemTime::now() - Duration::from_secs(secs);
        let dead = dir.path().join(format!(
            ".tandem/sessions/s/checkpoints/{TEMP_PREFIX}2147483632-2"
        ));
        std::fs::create_dir_all(&dead).unwrap();
        std::fs::write(dead.join("0.bin"), "x").unwrap();
        std::fs::File::open(&dead)
            .unwrap()
            .set_modified(ago(120))
            .unwrap();
        let old = dir
            .path()
            .join(format!("src/{TEMP_PREFIX}{}-9", std::process::id()));
        std::fs::create_dir_all(dir.path().join("src")).unwrap();
        std::fs::write(&old, "x").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(ago(20 * 60))
            .unwrap();
        let mut swept = sweep_temp_files(dir.path());
        swept.sort();
        assert_eq!(
            swept,
            vec![
                format!(".tandem/sessions/s/checkpoints/{TEMP_PREFIX}2147483632-2"),
                format!("src/{TEMP_PREFIX}{}-9", std::process::id()),
            ]
        );
        assert!(fresh.exists() && !dead.exists() && !old.exists());
    }
}
