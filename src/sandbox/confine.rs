//! Confining a command on Linux. Where bubblewrap can make namespaces, the command runs in the view of
//! [`super::bwrap`] under the seccomp filter of [`super::seccomp`]; elsewhere (the fallback) Landlock confines
//! the file system (writes only to the workspace, a private temp directory and configured roots; reads
//! everywhere except the home directory, where only toolchain directories are readable) and TCP where the
//! kernel's ABI has it, and the same seccomp filter is loaded directly. Either way the limits of
//! [`super::limits`] apply. Everything is prepared in the parent; between fork and exec the child only makes
//! system calls, which is all that is safe there.

use std::ffi::{CString, OsString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use super::bwrap::{self, Mount};
use super::limits::{self, Limits};

/// What a command may touch.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The workspace root (read and write).
    pub workspace: PathBuf,
    /// The private temp directory (read and write; `/tmp` in the namespace view).
    pub tmp: PathBuf,
    /// Other writable directories.
    pub writable: Vec<PathBuf>,
    /// The home directory, unreadable except for `home_readable`.
    pub home: Option<PathBuf>,
    /// Paths under the home directory that stay readable (toolchains, caches).
    pub home_readable: Vec<PathBuf>,
    /// More workspace-relative paths bound read-only (`sandbox.protect`).
    pub protect: Vec<PathBuf>,
    /// Whether the network is allowed.
    pub network: bool,
    /// Processes, memory and file size.
    pub limits: Limits,
}

/// Directories under `$HOME` that build tools need to read; others (`.ssh`, `.aws`, `.gnupg`, `.config`…)
/// stay unreadable.
pub const HOME_READABLE: &[&str] = &[
    ".cargo",
    ".rustup",
    ".pyenv",
    ".nvm",
    ".npm",
    ".local/bin",
    ".local/lib",
    ".cache",
    ".gitconfig",
    ".config/git",
    "go",
    ".gradle",
    ".m2",
    ".deno",
    ".bun",
    ".volta",
    ".asdf",
    ".rbenv",
    ".gem",
    ".yarn",
];

/// Which protections are in force, for events and `tandem doctor`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Enforcement {
    /// The namespace layer (`bubblewrap 0.8.0`), or empty in the Landlock fallback.
    pub namespaces: String,
    /// The kernel's Landlock ABI version, if it has Landlock.
    pub landlock_abi: Option<u32>,
    /// File-system writes (and home reads) are confined, by namespaces or Landlock.
    pub filesystem: bool,
    /// How the network is denied (`namespace+seccomp`, `landlock+seccomp`, `seccomp`), or empty when it is not.
    pub network: String,
    /// How the process count is limited: `cgroup`, `rlimit`, or empty.
    pub processes: String,
    /// How memory is limited: `cgroup`, `rlimit …`, or empty.
    pub memory: String,
    /// How file size is limited: `rlimit`, or empty.
    pub file_size: String,
    /// What is missing, in words.
    pub warnings: Vec<String>,
}

impl Enforcement {
    /// One line for people.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.namespaces.is_empty() {
            parts.push(format!("namespaces ({})", self.namespaces));
        } else {
            match (self.filesystem, self.landlock_abi) {
                (true, Some(abi)) => parts.push(format!("Landlock ABI {abi} (files, fallback)")),
                _ => parts.push("no file-system confinement".into()),
            }
        }
        if self.network.is_empty() {
            parts.push("network open".into());
        } else {
            parts.push(format!("network denied ({})", self.network));
        }
        for (what, how) in [
            ("process", &self.processes),
            ("memory", &self.memory),
            ("file-size", &self.file_size),
        ] {
            if how.is_empty() {
                parts.push(format!("no {what} limit"));
            } else {
                parts.push(format!("{what} limit ({how})"));
            }
        }
        parts.join(", ")
    }
}

/// A confinement ready to apply in a child process.
#[derive(Debug)]
pub struct Prepared {
    ruleset: Option<OwnedFd>,
    seccomp: Vec<libc::sock_filter>,
    limits: limits::Applied,
    /// The bubblewrap program and its arguments (ending with `--`), where the namespace layer is used.
    pub namespaces: Option<(PathBuf, Vec<OsString>)>,
    /// The namespace view (empty in the fallback).
    pub view: Vec<Mount>,
    /// What it enforces.
    pub enforcement: Enforcement,
}

// SAFETY: `sock_filter` and `rlimit` are plain data; nothing in `Prepared` is tied to a thread.
unsafe impl Send for Prepared {}
// SAFETY: as above; the child only reads it.
unsafe impl Sync for Prepared {}

/// The kernel's Landlock ABI version, or `None` where Landlock is absent or disabled.
pub fn landlock_abi() -> Option<u32> {
    // SAFETY: LANDLOCK_CREATE_RULESET_VERSION with a null attribute only returns the ABI version.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            1u32,
        )
    };
    (v > 0).then_some(v as u32)
}

// Landlock access rights (linux/landlock.h).
const FS_EXECUTE: u64 = 1 << 0;
const FS_WRITE_FILE: u64 = 1 << 1;
const FS_READ_FILE: u64 = 1 << 2;
const FS_READ_DIR: u64 = 1 << 3;
const FS_V1_ALL: u64 = (1 << 13) - 1;
const FS_REFER: u64 = 1 << 13;
const FS_TRUNCATE: u64 = 1 << 14;
const NET_BIND_TCP: u64 = 1 << 0;
const NET_CONNECT_TCP: u64 = 1 << 1;
const SCOPE_ABSTRACT_UNIX: u64 = 1 << 0;
const SCOPE_SIGNAL: u64 = 1 << 1;
const RULE_PATH_BENEATH: libc::c_int = 1;

#[repr(C)]
struct RulesetAttr {
    handled_access_fs: u64,
    handled_access_net: u64,
    scoped: u64,
}

#[repr(C, packed)]
struct PathBeneathAttr {
    allowed_access: u64,
    parent_fd: i32,
}

/// Prepares the confinement `spec` asks for, as far as this machine allows.
pub fn prepare(spec: &Spec) -> Prepared {
    let mut enforcement = Enforcement {
        landlock_abi: landlock_abi(),
        ..Enforcement::default()
    };
    let seccomp = super::seccomp::filter(spec.network);
    let mut ruleset = None;
    let mut namespaces = None;
    let mut view = Vec::new();
    match bwrap::available() {
        Ok(bw) => {
            view = bwrap::view(spec);
            namespaces = Some((bw.program.clone(), bwrap::args(bw, spec, &view)));
            enforcement.namespaces = bw.version.clone();
            enforcement.filesystem = true;
        }
        Err(why) => {
            enforcement.warnings.push(why.to_string());
            ruleset = landlock(spec, &mut enforcement);
        }
    }
    if !spec.network {
        let by = if namespaces.is_some() {
            "namespace"
        } else if ruleset.is_some() && enforcement.landlock_abi.is_some_and(|a| a >= 4) {
            "landlock"
        } else {
            ""
        };
        enforcement.network = match (by, seccomp.is_empty()) {
            ("", false) => "seccomp".into(),
            (by, false) => format!("{by}+seccomp"),
            ("", true) => {
                enforcement
                    .warnings
                    .push("no way to deny the network on this platform".into());
                String::new()
            }
            (by, true) => by.into(),
        };
    }
    let limits = limits::prepare(&spec.limits, &mut enforcement);
    Prepared {
        ruleset,
        seccomp,
        limits,
        namespaces,
        view,
        enforcement,
    }
}

fn landlock(spec: &Spec, enforcement: &mut Enforcement) -> Option<OwnedFd> {
    let Some(abi) = enforcement.landlock_abi else {
        enforcement
            .warnings
            .push("this kernel has no Landlock: commands can write outside the workspace".into());
        return None;
    };
    match build_ruleset(spec, abi) {
        Ok(fd) => {
            enforcement.filesystem = true;
            Some(fd)
        }
        Err(e) => {
            enforcement
                .warnings
                .push(format!("Landlock is present but its rules failed: {e}"));
            None
        }
    }
}

/// A pipe whose read end holds the seccomp program for `bwrap --seccomp` (one per command: bubblewrap reads it
/// to the end).
pub fn seccomp_pipe(prepared: &Prepared) -> std::io::Result<OwnedFd> {
    let bytes = super::seccomp::to_bytes(&prepared.seccomp);
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2 fills two descriptors that nothing else owns.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both are new descriptors from pipe2.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let mut file = std::fs::File::from(write);
    // The program is a few hundred bytes, well under a pipe's buffer, so this does not block.
    std::io::Write::write_all(&mut file, &bytes)?;
    Ok(read)
}

impl Prepared {
    /// Applies the confinement to the calling process (`seccomp_fd`: the read end of [`seccomp_pipe`] in the
    /// namespace layer). Runs in the child between fork and exec, so it only makes system calls: no
    /// allocation, no locks.
    pub fn apply_in_child(&self, seccomp_fd: Option<RawFd>) -> std::io::Result<()> {
        let fail = || Err(std::io::Error::last_os_error());
        // SAFETY (whole block): plain system calls on memory prepared before the fork and owned by `self`.
        unsafe {
            for (resource, rl) in &self.limits.rlimits {
                if libc::setrlimit(*resource, rl) != 0 {
                    return fail();
                }
            }
            for cg in &self.limits.cgroups {
                let fd = libc::open(cg.procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 {
                    return fail();
                }
                let mut buf = [0u8; 24];
                let digits = write_decimal(libc::getpid() as u64, &mut buf);
                let n = libc::write(fd, digits.as_ptr().cast(), digits.len());
                libc::close(fd);
                if n < 0 {
                    return fail();
                }
            }
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                return fail();
            }
            if self.namespaces.is_some() {
                // bubblewrap loads the filter itself, after its setup; Landlock would forbid that setup.
                let Some(fd) = seccomp_fd else {
                    *libc::__errno_location() = libc::EBADF;
                    return fail();
                };
                let target = bwrap::SECCOMP_FD;
                if fd == target {
                    if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                        return fail();
                    }
                } else if libc::dup2(fd, target) < 0 {
                    return fail();
                }
                return Ok(());
            }
            if let Some(fd) = &self.ruleset
                && libc::syscall(libc::SYS_landlock_restrict_self, fd.as_raw_fd(), 0u32) != 0
            {
                return fail();
            }
            if !self.seccomp.is_empty() {
                let prog = libc::sock_fprog {
                    len: self.seccomp.len() as libc::c_ushort,
                    filter: self.seccomp.as_ptr().cast_mut(),
                };
                if libc::prctl(
                    libc::PR_SET_SECCOMP,
                    libc::SECCOMP_MODE_FILTER,
                    &prog as *const libc::sock_fprog,
                ) != 0
                {
                    return fail();
                }
            }
        }
        Ok(())
    }

    /// Kills every process left in the command's cgroups and removes them.
    pub fn cleanup(&self) {
        for cg in &self.limits.cgroups {
            limits::cleanup(cg);
        }
    }
}

fn write_decimal(mut n: u64, buf: &mut [u8; 24]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

fn build_ruleset(spec: &Spec, abi: u32) -> std::io::Result<OwnedFd> {
    let mut handled = FS_V1_ALL;
    if abi >= 2 {
        handled |= FS_REFER;
    }
    if abi >= 3 {
        handled |= FS_TRUNCATE;
    }
    let attr = RulesetAttr {
        handled_access_fs: handled,
        handled_access_net: if !spec.network && abi >= 4 {
            NET_BIND_TCP | NET_CONNECT_TCP
        } else {
            0
        },
        scoped: if abi >= 6 {
            SCOPE_SIGNAL | if spec.network { 0 } else { SCOPE_ABSTRACT_UNIX }
        } else {
            0
        },
    };
    // SAFETY: `attr` is a valid landlock_ruleset_attr; the kernel copies it.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            &attr as *const RulesetAttr,
            std::mem::size_of::<RulesetAttr>(),
            0u32,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the syscall returned a new file descriptor that nothing else owns.
    let ruleset = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let read = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR;
    for path in read_roots(spec) {
        add_rule(&ruleset, &path, read, handled)?;
    }
    for path in [&spec.workspace, &spec.tmp]
        .into_iter()
        .chain(&spec.writable)
    {
        add_rule(&ruleset, path, handled, handled)?;
    }
    let dev = FS_READ_FILE | FS_WRITE_FILE | if abi >= 3 { FS_TRUNCATE } else { 0 };
    for path in [
        "/dev/null",
        "/dev/zero",
        "/dev/full",
        "/dev/tty",
        "/dev/pts",
        "/dev/ptmx",
    ] {
        add_rule(&ruleset, Path::new(path), dev | FS_READ_DIR, handled)?;
    }
    Ok(ruleset)
}

/// Adds a rule for `path` if it exists (a missing path is skipped); file rules keep only file rights.
fn add_rule(ruleset: &OwnedFd, path: &Path, access: u64, handled: u64) -> std::io::Result<()> {
    let Ok(cpath) = CString::new(path.as_os_str().as_encoded_bytes()) else {
        return Ok(());
    };
    // SAFETY: open(2) with O_PATH on a NUL-terminated path; the result is owned below.
    let fd = unsafe { libc::open(cpath.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
    if fd < 0 {
        return Ok(());
    }
    // SAFETY: a new descriptor from open(2).
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let is_dir = std::fs::metadata(path).is_ok_and(|m| m.is_dir());
    let mut allowed = access & handled;
    if !is_dir {
        allowed &= FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE;
    }
    let attr = PathBeneathAttr {
        allowed_access: allowed,
        parent_fd: fd.as_raw_fd(),
    };
    // SAFETY: `attr` is a valid landlock_path_beneath_attr for the ruleset descriptor we own.
    let r = unsafe {
        libc::syscall(
            libc::SYS_landlock_add_rule,
            ruleset.as_raw_fd(),
            RULE_PATH_BENEATH,
            &attr as *const PathBeneathAttr,
            0u32,
        )
    };
    if r != 0 {
        let e = std::io::Error::last_os_error();
        return Err(std::io::Error::new(
            e.kind(),
            format!("{}: {e}", path.display()),
        ));
    }
    Ok(())
}

/// The readable roots: everything except the home directory (every sibling along the way from `/` to it is
/// granted), plus the readable paths inside it.
fn read_roots(spec: &Spec) -> Vec<PathBuf> {
    let home = spec
        .home
        .as_ref()
        .and_then(|h| std::fs::canonicalize(h).ok());
    let Some(home) = home.filter(|h| h.parent().is_some()) else {
        return vec![PathBuf::from("/")];
    };
    let mut out = Vec::new();
    let mut cur = PathBuf::from("/");
    for part in home.components().skip(1) {
        if let Ok(entries) = std::fs::read_dir(&cur) {
            for e in entries.flatten() {
                if e.file_name() != part.as_os_str() {
                    out.push(e.path());
                }
            }
        }
        cur.push(part);
    }
    out.extend(spec.home_readable.iter().map(|p| home.join(p)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_without_allocation() {
        let mut buf = [0u8; 24];
        assert_eq!(write_decimal(0, &mut buf), b"0");
        assert_eq!(write_decimal(4_194_304, &mut buf), b"4194304");
    }

    #[test]
    fn home_is_carved_out_of_the_readable_roots() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir_all(home.join(".cargo")).unwrap();
        std::fs::create_dir_all(home.join(".ssh")).unwrap();
        std::fs::create_dir_all(dir.path().join("sibling")).unwrap();
        let spec = Spec {
            workspace: dir.path().join("ws"),
            tmp: dir.path().join("tmp"),
            writable: vec![],
            home: Some(home.clone()),
            home_readable: vec![".cargo".into()],
            protect: vec![],
            network: false,
            limits: Limits::default(),
        };
        let roots = read_roots(&spec);
        let home = home.canonicalize().unwrap();
        assert!(roots.contains(&home.join(".cargo")));
        assert!(roots.contains(&dir.path().canonicalize().unwrap().join("sibling")));
        assert!(
            !roots
                .iter()
                .any(|r| r == &home || r.starts_with(home.join(".ssh")))
        );
        assert!(
            !roots.iter().any(|r| home.starts_with(r)),
            "no ancestor of home is granted whole"
        );
    }
}
