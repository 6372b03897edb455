//! Per-command resource limits: processes, memory and file size. A cgroup per command where one can be made
//! (a `pids` and a `memory` controller, cgroup v1 or a delegated v2), rlimits otherwise (RLIMIT_NPROC for
//! non-root users, RLIMIT_AS); RLIMIT_FSIZE always (cgroups have no file-size limit). Prepared in the parent;
//! the child only joins the cgroups and sets the rlimits.

use std::ffi::CString;
use std::path::{Path, PathBuf};

use super::confine::Enforcement;

/// How much one command may use; 0 means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    /// Most processes (tasks) at once.
    pub max_processes: u32,
    /// Most memory, in MiB.
    pub max_memory_mb: u64,
    /// Largest file a command may write, in MiB.
    pub max_file_size_mb: u64,
}

/// A cgroup made for one command.
#[derive(Debug)]
pub struct Cgroup {
    /// Its directory.
    pub dir: PathBuf,
    /// Its `cgroup.procs`, ready for the child.
    pub procs: CString,
}

/// What the child applies.
#[derive(Debug, Default)]
pub struct Applied {
    /// Cgroups to join.
    pub cgroups: Vec<Cgroup>,
    /// Rlimits to set (resource, value).
    pub rlimits: Vec<(libc::__rlimit_resource_t, libc::rlimit)>,
}

const MIB: u64 = 1024 * 1024;

/// Prepares `limits`, recording in `enforcement` how each is enforced (or that it is not).
pub fn prepare(limits: &Limits, enforcement: &mut Enforcement) -> Applied {
    let mut out = Applied::default();
    let pids = (limits.max_processes > 0).then(|| limits.max_processes.to_string());
    let memory = (limits.max_memory_mb > 0).then(|| (limits.max_memory_mb * MIB).to_string());
    let mut have_pids = false;
    let mut have_memory = false;
    // cgroup v2: one child of our own cgroup with both controllers where they are delegated.
    if let Some(base) = own_cgroup_v2() {
        let enabled =
            std::fs::read_to_string(base.join("cgroup.subtree_control")).unwrap_or_default();
        let on = |c: &str| enabled.split_whitespace().any(|w| w == c);
        let mut files = Vec::new();
        if let Some(p) = pids.as_ref().filter(|_| on("pids")) {
            files.push(("pids.max", p.clone()));
        }
        if let Some(m) = memory.as_ref().filter(|_| on("memory")) {
            files.push(("memory.max", m.clone()));
            files.push(("memory.swap.max", "0".into()));
        }
        if !files.is_empty()
            && let Some(cg) = make(&base, &files)
        {
            have_pids = files.iter().any(|(f, _)| *f == "pids.max");
            have_memory = files.iter().any(|(f, _)| *f == "memory.max");
            out.cgroups.push(cg);
        }
    }
    // cgroup v1: a hierarchy per controller, under our own cgroup in it (or its root).
    if let Some(p) = pids.as_ref().filter(|_| !have_pids)
        && let Some(cg) = v1_bases("pids")
            .iter()
            .find_map(|b| make(b, &[("pids.max", p.clone())]))
    {
        have_pids = true;
        out.cgroups.push(cg);
    }
    if let Some(m) = memory.as_ref().filter(|_| !have_memory)
        && let Some(cg) = v1_bases("memory").iter().find_map(|b| {
            make(
                b,
                &[
                    ("memory.limit_in_bytes", m.clone()),
                    ("memory.memsw.limit_in_bytes?", m.clone()),
                ],
            )
        })
    {
        have_memory = true;
        out.cgroups.push(cg);
    }
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if limits.max_processes > 0 {
        if have_pids {
            enforcement.processes = "cgroup".into();
        } else if root {
            enforcement.warnings.push(
                "running as root without a writable pids cgroup: a fork bomb is stopped only by the timeout"
                    .into(),
            );
        } else if let Some(rl) = nproc_limit(limits.max_processes) {
            enforcement.processes = "rlimit".into();
            out.rlimits.push((libc::RLIMIT_NPROC, rl));
        }
    }
    if limits.max_memory_mb > 0 {
        if have_memory {
            enforcement.memory = "cgroup".into();
        } else {
            // Address space, not memory: generous, since runtimes reserve far more than they touch.
            let bytes = limits.max_memory_mb.saturating_mul(MIB).saturating_mul(4);
            enforcement.memory = "rlimit (address space, 4x)".into();
            out.rlimits.push((libc::RLIMIT_AS, both(bytes)));
        }
    }
    if limits.max_file_size_mb > 0 {
        enforcement.file_size = "rlimit".into();
        out.rlimits.push((
            libc::RLIMIT_FSIZE,
            both(limits.max_file_size_mb.saturating_mul(MIB)),
        ));
    }
    out
}

fn both(v: u64) -> libc::rlimit {
    libc::rlimit {
        rlim_cur: v as libc::rlim_t,
        rlim_max: v as libc::rlim_t,
    }
}

/// RLIMIT_NPROC counts all of this user's tasks, so the limit is what exists now plus the allowance.
fn nproc_limit(max: u32) -> Option<libc::rlimit> {
    let current = user_tasks();
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the struct.
    if unsafe { libc::getrlimit(libc::RLIMIT_NPROC, &mut rl) } != 0 {
        return None;
    }
    let want = (current + u64::from(max)) as libc::rlim_t;
    Some(libc::rlimit {
        rlim_cur: want.min(rl.rlim_max),
        rlim_max: want.min(rl.rlim_max),
    })
}

/// Our own cgroup in the unified (v2) hierarchy, where that is mounted at `/sys/fs/cgroup`.
fn own_cgroup_v2() -> Option<PathBuf> {
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = own.lines().find_map(|l| l.strip_prefix("0::"))?;
    let base = Path::new("/sys/fs/cgroup").join(path.trim_start_matches('/'));
    base.join("cgroup.subtree_control").exists().then_some(base)
}

/// Where a v1 controller's child cgroup can go: under our own cgroup in that hierarchy, then its root.
fn v1_bases(controller: &str) -> Vec<PathBuf> {
    let root = Path::new("/sys/fs/cgroup").join(controller);
    let mut out = Vec::new();
    if let Ok(own) = std::fs::read_to_string("/proc/self/cgroup") {
        for line in own.lines() {
            let mut parts = line.splitn(3, ':');
            let (_, controllers, path) = (parts.next(), parts.next(), parts.next());
            if controllers.is_some_and(|c| c.split(',').any(|c| c == controller))
                && let Some(path) = path.map(|p| p.trim_start_matches('/'))
                && !path.is_empty()
            {
                out.push(root.join(path));
            }
        }
    }
    out.push(root);
    out
}

/// Makes a child cgroup of `base` and writes `files` (a name ending in `?` is optional); `None` if any
/// required write fails.
fn make(base: &Path, files: &[(&str, String)]) -> Option<Cgroup> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    if !base.join("cgroup.procs").exists() {
        return None;
    }
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = base.join(format!("tandem-{}-{n}", std::process::id()));
    std::fs::create_dir(&dir).ok()?;
    let written = files
        .iter()
        .all(|(name, value)| match name.strip_suffix('?') {
            Some(optional) => {
                let p = dir.join(optional);
                !p.exists() || std::fs::write(p, value).is_ok()
            }
            None => std::fs::write(dir.join(name), value).is_ok(),
        });
    let procs = dir.join("cgroup.procs");
    if written
        && procs.exists()
        && let Ok(procs) = CString::new(procs.as_os_str().as_encoded_bytes())
    {
        return Some(Cgroup { dir, procs });
    }
    let _ = std::fs::remove_dir(&dir);
    None
}

/// Kills every process left in `cg` and removes it.
pub fn cleanup(cg: &Cgroup) {
    for _ in 0..2000 {
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
        std::thread::sleep(std::time::Duration::from_micros(500));
    }
    // The directory goes once its last process is reaped, which takes the kernel a moment after the exit;
    // retry often (a command's start-up cost is mostly this wait otherwise), for up to a second.
    for _ in 0..2000 {
        if std::fs::remove_dir(&cg.dir).is_ok() || !cg.dir.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_micros(500));
    }
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
