//! Confining a command on Linux: Landlock for the file system (writes only to the workspace, a private temp
//! directory and configured roots; reads everywhere except the home directory, where only toolchain
//! directories are readable) and for TCP where the kernel's ABI has it; a seccomp filter that refuses
//! non-Unix sockets (and io_uring, which could open them unseen); a process limit (a pids cgroup, or
//! RLIMIT_NPROC). Everything is prepared in the parent; between fork and exec the child only makes system
//! calls, which is all that is safe there.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// What a command may touch.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The workspace root (read and write).
    pub workspace: PathBuf,
    /// The private temp directory (read and write).
    pub tmp: PathBuf,
    /// Other writable directories.
    pub writable: Vec<PathBuf>,
    /// The home directory, unreadable except for `home_readable`.
    pub home: Option<PathBuf>,
    /// Paths under the home directory that stay readable (toolchains, caches).
    pub home_readable: Vec<PathBuf>,
    /// Whether the network is allowed.
    pub network: bool,
    /// Most processes (tasks) the command may have at once.
    pub max_processes: u32,
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
    /// The kernel's Landlock ABI version, if it has Landlock.
    pub landlock_abi: Option<u32>,
    /// File-system writes (and home reads) are confined.
    pub filesystem: bool,
    /// How the network is denied: `landlock+seccomp`, `seccomp`, or empty when it is not.
    pub network: String,
    /// How the process count is limited: `cgroup`, `rlimit`, or empty.
    pub processes: String,
    /// What is missing, in words.
    pub warnings: Vec<String>,
}

impl Enforcement {
    /// One line for people.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        match (self.filesystem, self.landlock_abi) {
            (true, Some(abi)) => parts.push(format!("Landlock ABI {abi} (files)")),
            _ => parts.push("no file-system confinement".into()),
        }
        if self.network.is_empty() {
            parts.push("network open".into());
        } else {
            parts.push(format!("network denied ({})", self.network));
        }
        if self.processes.is_empty() {
            parts.push("no process limit".into());
        } else {
            parts.push(format!("process limit ({})", self.processes));
        }
        parts.join(", ")
    }
}

/// A confinement ready to apply in a child process.
#[derive(Debug)]
pub struct Prepared {
    ruleset: Option<OwnedFd>,
    seccomp: Vec<libc::sock_filter>,
    nproc: Option<libc::rlimit>,
    cgroup: Option<Cgroup>,
    /// What it enforces.
    pub enforcement: Enforcement,
}

#[derive(Debug)]
struct Cgroup {
    dir: PathBuf,
    procs: CString,
}

// SAFETY: `sock_filter` is plain data; nothing in `Prepared` is tied to a thread.
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

/// Prepares the confinement `spec` asks for, as far as this kernel allows.
pub fn prepare(spec: &Spec) -> Prepared {
    let mut enforcement = Enforcement {
        landlock_abi: landlock_abi(),
        ..Enforcement::default()
    };
    let ruleset = match enforcement.landlock_abi {
        Some(abi) => match build_ruleset(spec, abi) {
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
        },
        None => {
            enforcement.warnings.push(
                "this kernel has no Landlock: commands can write outside the workspace".into(),
            );
            None
        }
    };
    let seccomp = if spec.network {
        Vec::new()
    } else {
        network_filter()
    };
    if !spec.network {
        let landlock_net = ruleset.is_some() && enforcement.landlock_abi.is_some_and(|a| a >= 4);
        enforcement.network = match (landlock_net, seccomp.is_empty()) {
            (true, false) => "landlock+seccomp".into(),
            (false, false) => "seccomp".into(),
            (true, true) => "landlock (TCP only)".into(),
            (false, true) => {
                enforcement
                    .warnings
                    .push("no way to deny the network on this platform".into());
                String::new()
            }
        };
    }
    let (cgroup, nproc) = process_limit(spec.max_processes, &mut enforcement);
    Prepared {
        ruleset,
        seccomp,
        nproc,
        cgroup,
        enforcement,
    }
}

impl Prepared {
    /// Applies the confinement to the calling process. Runs in the child between fork and exec, so it only
    /// makes system calls: no allocation, no locks.
    pub fn apply_in_child(&self) -> std::io::Result<()> {
        let fail = || Err(std::io::Error::last_os_error());
        // SAFETY (whole block): plain system calls on memory prepared before the fork and owned by `self`.
        unsafe {
            if let Some(rl) = &self.nproc
                && libc::setrlimit(libc::RLIMIT_NPROC, rl) != 0
            {
                return fail();
            }
            if let Some(cg) = &self.cgroup {
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
            if (self.ruleset.is_some() || !self.seccomp.is_empty())
                && libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
            {
                return fail();
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

    /// Kills every process left in the command's cgroup and removes it.
    pub fn cleanup(&self) {
        let Some(cg) = &self.cgroup else { return };
        for _ in 0..200 {
            let pids = std::fs::read_to_string(cg.dir.join("cgroup.procs")).unwrap_or_default();
            let pids: Vec<i32> = pids.lines().filter_map(|l| l.trim().parse().ok()).collect();
            if pids.is_empty() {
                break;
            }
            for pid in pids {
                // SAFETY: kill(2) on a process in the cgroup made for this command.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        // The directory goes once its last process is reaped; retry briefly.
        for _ in 0..100 {
            if std::fs::remove_dir(&cg.dir).is_ok() || !cg.dir.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
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

// Classic BPF for seccomp (linux/filter.h, linux/seccomp.h).
/// BPF_LD | BPF_W | BPF_ABS (BPF_LD and BPF_W are 0).
const BPF_LD_W_ABS: u16 = 0x20;
/// BPF_JMP | BPF_JEQ | BPF_K.
const BPF_JEQ_K: u16 = 0x05 | 0x10;
/// BPF_JMP | BPF_JGE | BPF_K.
#[cfg(target_arch = "x86_64")]
const BPF_JGE_K: u16 = 0x05 | 0x30;
const BPF_RET_K: u16 = 0x06;
const RET_ALLOW: u32 = 0x7fff_0000;
const RET_ERRNO: u32 = 0x0005_0000;

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: Option<u32> = Some(0xC000_003E);
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: Option<u32> = Some(0xC000_00B7);
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const AUDIT_ARCH: Option<u32> = None;

fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// A filter that lets `socket()` make only Unix sockets and refuses io_uring; empty where the architecture
/// is not known.
fn network_filter() -> Vec<libc::sock_filter> {
    let Some(arch) = AUDIT_ARCH else {
        return Vec::new();
    };
    let eperm = RET_ERRNO | libc::EPERM as u32;
    let mut f = vec![
        stmt(BPF_LD_W_ABS, 4), // seccomp_data.arch
        jump(BPF_JEQ_K, arch, 1, 0),
        stmt(BPF_RET_K, eperm), // a foreign ABI (i386 on x86_64) could reach socketcall
        stmt(BPF_LD_W_ABS, 0),  // seccomp_data.nr
    ];
    #[cfg(target_arch = "x86_64")]
    {
        // x32 system calls have bit 30 set.
        f.push(jump(BPF_JGE_K, 0x4000_0000, 0, 1));
        f.push(stmt(BPF_RET_K, eperm));
    }
    f.extend([
        jump(BPF_JEQ_K, libc::SYS_socket as u32, 0, 4),
        stmt(BPF_LD_W_ABS, 16), // args[0] (low half): the address family
        jump(BPF_JEQ_K, libc::AF_UNIX as u32, 0, 1),
        stmt(BPF_RET_K, RET_ALLOW),
        stmt(BPF_RET_K, eperm),
        jump(BPF_JEQ_K, libc::SYS_io_uring_setup as u32, 0, 1),
        stmt(BPF_RET_K, eperm),
        stmt(BPF_RET_K, RET_ALLOW),
    ]);
    f
}

/// A pids cgroup where one can be made (v1 `pids` hierarchy or v2 with the controller), else RLIMIT_NPROC
/// for non-root users (root is exempt from it).
fn process_limit(
    max: u32,
    enforcement: &mut Enforcement,
) -> (Option<Cgroup>, Option<libc::rlimit>) {
    if max == 0 {
        return (None, None);
    }
    if let Some(cg) = make_cgroup(max) {
        enforcement.processes = "cgroup".into();
        return (Some(cg), None);
    }
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if root {
        enforcement.warnings.push(
            "running as root without a writable pids cgroup: a fork bomb is stopped only by the timeout"
                .into(),
        );
        return (None, None);
    }
    // RLIMIT_NPROC counts all of this user's tasks, so the limit is what exists now plus the allowance.
    let current = user_tasks();
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the struct.
    if unsafe { libc::getrlimit(libc::RLIMIT_NPROC, &mut rl) } != 0 {
        return (None, None);
    }
    let want = (current + u64::from(max)) as libc::rlim_t;
    let limit = libc::rlimit {
        rlim_cur: want.min(rl.rlim_max),
        rlim_max: want.min(rl.rlim_max),
    };
    enforcement.processes = "rlimit".into();
    (None, Some(limit))
}

fn make_cgroup(max: u32) -> Option<Cgroup> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = format!("tandem-{}-{n}", std::process::id());
    let mut bases = vec![PathBuf::from("/sys/fs/cgroup/pids")];
    // cgroup v2: a child of our own cgroup, if the pids controller is delegated to it.
    if let Ok(own) = std::fs::read_to_string("/proc/self/cgroup")
        && let Some(path) = own.lines().find_map(|l| l.strip_prefix("0::"))
    {
        let base = Path::new("/sys/fs/cgroup").join(path.trim_start_matches('/'));
        let ok = std::fs::read_to_string(base.join("cgroup.subtree_control"))
            .is_ok_and(|c| c.split_whitespace().any(|w| w == "pids"));
        if ok {
            bases.push(base);
        }
    }
    for base in bases {
        if !base.join("cgroup.procs").exists() {
            continue;
        }
        let dir = base.join(&name);
        if std::fs::create_dir(&dir).is_err() {
            continue;
        }
        let procs = dir.join("cgroup.procs");
        if std::fs::write(dir.join("pids.max"), max.to_string()).is_ok()
            && procs.exists()
            && let Ok(procs) = CString::new(procs.as_os_str().as_encoded_bytes())
        {
            return Some(Cgroup { dir, procs });
        }
        let _ = std::fs::remove_dir(&dir);
    }
    None
}

/// Tasks (threads) that belong to this real user, as RLIMIT_NPROC counts them.
fn user_tasks() -> u64 {
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    let mut total = 0u64;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    for e in entries.flatten() {
        if !e
            .file_name()
            .to_string_lossy()
            .bytes()
            .all(|b| b.is_ascii_digit())
        {
            continue;
        }
        let Ok(status) = std::fs::read_to_string(e.path().join("status")) else {
            continue;
        };
        let real_uid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<u32>().ok());
        if real_uid == Some(uid) {
            total += status
                .lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(1);
        }
    }
    total
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
            network: false,
            max_processes: 0,
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
