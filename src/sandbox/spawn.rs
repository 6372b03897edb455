//! The one place tandem makes child processes. Anything that runs in the workspace on the model's or the
//! repository's behalf (the model's commands, the verify command) goes through [`super::Sandbox`], which starts
//! it here; tandem's own git calls get [`git`], with everything the repository could use to run a program
//! (hooks, `core.fsmonitor`, pagers, external diffs, credential helpers, the system config) switched off and
//! an allow-listed environment without keys; the namespace probe runs bubblewrap itself. A unit test fails if
//! `Command::new` appears anywhere else under `src/`.

use std::ffi::OsString;
use std::path::Path;
use std::process::Stdio;

/// A command for the sandbox's shell runner: empty environment, stdin from `/dev/null`; the caller adds
/// the confinement.
pub(super) fn sandboxed(program: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(program);
    cmd.env_clear().stdin(Stdio::null());
    cmd
}

/// Starts a long-lived sandboxed program (an MCP server) with piped stdin, stdout and stderr, in `dir` with
/// only `env`, in a new session (its own process group), under `confinement`: through bubblewrap when
/// `namespaces` is given (`seccomp_fd`: the read end of its seccomp pipe), else with Landlock applied in the
/// child. The caller owns the cleanup of `confinement` once the child has ended.
pub(super) fn piped_server(
    namespaces: Option<&(std::path::PathBuf, Vec<OsString>)>,
    program: &str,
    args: &[String],
    dir: &Path,
    env: Vec<(OsString, OsString)>,
    confinement: Option<std::sync::Arc<super::confine::Prepared>>,
    seccomp_fd: Option<std::os::fd::RawFd>,
) -> std::io::Result<tokio::process::Child> {
    let mut cmd = match namespaces {
        Some((bwrap, bwrap_args)) => {
            let mut cmd = sandboxed(bwrap);
            cmd.args(bwrap_args).arg(program);
            cmd
        }
        None => sandboxed(Path::new(program)),
    };
    cmd.args(args)
        .current_dir(dir)
        .envs(env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // SAFETY: setsid and `apply_in_child` only make system calls on memory prepared before the fork.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            match &confinement {
                Some(c) => c.apply_in_child(seccomp_fd),
                None => Ok(()),
            }
        });
    }
    cmd.spawn()
}

/// Starts the local engine's worker process, `program arg`, with piped stdin, stdout and stderr and only `env`:
/// it leaves no core file when it crashes, it is killed when the thread that started it ends (so it is never
/// orphaned), and it runs under the seccomp program `filter` (none when empty; best effort where seccomp is
/// unavailable).
pub fn engine_worker(
    program: &Path,
    arg: &str,
    env: Vec<(OsString, OsString)>,
    filter: Vec<libc::sock_filter>,
) -> std::io::Result<std::process::Child> {
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new(program);
    cmd.arg(arg)
        .env_clear()
        .envs(env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: the closure runs in the child between fork and exec and makes only system calls (prctl,
    // setrlimit) on memory prepared before the fork.
    unsafe {
        cmd.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            let none = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::setrlimit(libc::RLIMIT_CORE, &none);
            if !filter.is_empty() {
                let program = libc::sock_fprog {
                    len: filter.len() as libc::c_ushort,
                    filter: filter.as_ptr().cast_mut(),
                };
                libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
                // SPEC_ALLOW: a filter that only refuses AMX state is no reason for the kernel to force
                // speculative-store-bypass mitigation on the process, which it does for seccomp on kernels
                // booted with spec_store_bypass_disable=seccomp (the default before Linux 5.16) and which
                // slows llama.cpp's kernels. Kernels older than 4.17 lack the flag: then the plain call.
                let flagged = libc::syscall(
                    libc::SYS_seccomp,
                    libc::SECCOMP_SET_MODE_FILTER,
                    libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
                    &program as *const libc::sock_fprog,
                );
                if flagged != 0 {
                    libc::prctl(
                        libc::PR_SET_SECCOMP,
                        libc::SECCOMP_MODE_FILTER,
                        &program as *const libc::sock_fprog,
                    );
                }
            }
            Ok(())
        });
    }
    cmd.spawn()
}

/// Runs one of tandem's own tools (not in the workspace) with only `PATH`; its stdout on success.
pub(super) fn output(program: &Path, args: &[&str]) -> Option<String> {
    let out = own_tool(program, args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether one of tandem's own tools exits 0.
pub(super) fn succeeds(program: &Path, args: &[&str]) -> bool {
    own_tool(program, args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn own_tool(program: &Path, args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(program);
    cmd.args(args)
        .env_clear()
        .envs(std::env::var_os("PATH").map(|p| ("PATH", p)))
        .current_dir("/")
        .stdin(Stdio::null());
    cmd
}

/// `-c` settings that keep a repository's own files from making tandem's git run anything.
const GIT_HARDENING: &[&str] = &[
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "core.untrackedCache=false",
    "core.pager=cat",
    "core.editor=false",
    "core.sshCommand=false",
    "core.askPass=",
    "core.attributesFile=/dev/null",
    "credential.helper=",
    "diff.external=",
    "protocol.allow=never",
    "commit.gpgSign=false",
    "tag.gpgSign=false",
    "gc.auto=0",
    "maintenance.auto=false",
];

/// git for tandem's own purposes (the loop's commits), in `root`: hooks, fsmonitor and the other
/// program-running settings off, no system config, no prompts, and the allow-listed environment (no API key).
pub fn git(root: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new("git");
    for setting in GIT_HARDENING {
        cmd.arg("-c").arg(setting);
    }
    let env: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    cmd.current_dir(root)
        .env_clear()
        .envs(super::env::filtered(&env, &[], &[]))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_ATTR_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null());
    cmd
}

/// Replaces this process with a fresh start of the same binary, with the same arguments and `name=value` added
/// to its environment (for settings a library reads before `main`); returns only if that fails.
#[cfg(target_os = "linux")]
pub fn restart_self(name: &str, value: &str) -> std::io::Error {
    use std::os::unix::process::CommandExt;
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_else(|| OsString::from("tandem"));
    // /proc/self/exe is this very binary even if its path was replaced since it started.
    std::process::Command::new("/proc/self/exe")
        .arg0(&argv0)
        .args(args)
        .env(name, value)
        .exec()
}

/// A hook: the person's own command, `sh -c COMMAND` in `dir`, run as the person (outside the sandbox, as
/// Claude Code and Codex run theirs) with `env` only (the caller leaves out provider keys), stdin, stdout and
/// stderr piped, in its own process group so that a timeout ends everything it started.
pub fn hook(command: &str, dir: &Path, env: Vec<(OsString, OsString)>) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .current_dir(dir)
        .env_clear()
        .envs(env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                sources(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }

    #[test]
    fn no_child_process_is_made_outside_this_module() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        sources(&src, &mut files);
        assert!(files.len() > 20, "{} files", files.len());
        let this = src.join("sandbox/spawn.rs");
        let offenders: Vec<String> = files
            .iter()
            .filter(|p| **p != this)
            .filter_map(|p| {
                let text = std::fs::read_to_string(p).unwrap();
                let hit = [
                    "Command::new",
                    "process::Command",
                    "Command::spawn",
                    "libc::fork",
                    "execve",
                    "posix_spawn",
                ]
                .iter()
                .find(|needle| text.contains(*needle))?;
                Some(format!("{} uses {hit}", p.display()))
            })
            .collect();
        assert!(
            offenders.is_empty(),
            "spawn child processes through src/sandbox/spawn.rs:\n{}",
            offenders.join("\n")
        );
    }

    #[test]
    fn tandems_git_runs_no_repository_hook_or_fsmonitor() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let init = git(root).args(["init", "-q"]).status();
        if !init.is_ok_and(|s| s.success()) {
            crate::errln!("skipped: git is not installed");
            return;
        }
        let marker = root.join("ran");
        let hook = format!("#!/bin/sh\ntouch {}\n", marker.display());
        std::fs::write(root.join(".git/hooks/pre-commit"), &hook).unwrap();
        std::fs::write(root.join("fsmon.sh"), &hook).unwrap();
        use std::os::unix::fs::PermissionsExt;
        for f in [root.join(".git/hooks/pre-commit"), root.join("fsmon.sh")] {
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let set = |k: &str, v: &str| git(root).args(["config", k, v]).status().unwrap();
        set(
            "core.fsmonitor",
            &root.join("fsmon.sh").display().to_string(),
        );
        set("user.email", "t@example.com");
        set("user.name", "t");
        std::fs::write(root.join("a.txt"), "a").unwrap();
        let add = git(root).args(["add", "a.txt"]).status().unwrap();
        let commit = git(root)
            .args(["commit", "-q", "-m", "x"])
            .status()
            .unwrap();
        let status = git(root).args(["status", "--short"]).output().unwrap();
        assert!(add.success() && commit.success() && status.status.success());
        assert!(!marker.exists(), "a hook or the fsmonitor ran");
    }
}
