//! Running a shell command for a tool: in the workspace, with a timeout that kills its whole process group, an
//! output cap that keeps the head and the tail, an allow-listed environment ([`super::env`]), and (through
//! [`Sandbox`]) under the OS confinement of [`super::confine`]: bubblewrap's namespaces where it works, Landlock
//! and the guard otherwise.

use std::ffi::OsString;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;

use super::confine::{self, Enforcement, Prepared, Spec};
use super::guard::{Guard, Snapshot};
use super::limits::Limits;

/// How strictly commands are confined.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum SandboxMode {
    /// Confine as far as the kernel allows; warn about what is missing.
    #[default]
    Auto,
    /// Refuse to run commands unless files and network are confined.
    Required,
    /// No OS confinement (the timeout, output cap and scrubbed environment still apply).
    Off,
}

/// The settings of a [`Sandbox`].
#[derive(Debug, Clone, Default)]
pub struct SandboxSettings {
    /// How strictly.
    pub mode: SandboxMode,
    /// Whether commands may use the network.
    pub network: bool,
    /// More writable directories.
    pub writable: Vec<PathBuf>,
    /// Paths under the home directory that stay readable (added to [`confine::HOME_READABLE`]).
    pub readable: Vec<PathBuf>,
    /// Most processes a command may have at once (0: no limit).
    pub max_processes: u32,
    /// Most memory a command may use, in MiB (0: no limit).
    pub max_memory_mb: u64,
    /// Largest file a command may write, in MiB (0: no limit).
    pub max_file_size_mb: u64,
    /// Environment variables removed even where the allow-list or `pass_env` would pass them.
    pub scrub: Vec<String>,
    /// More environment variables passed to commands (names, or prefixes ending in `*`).
    pub pass_env: Vec<String>,
    /// The environment commands start from (default: this process's).
    pub env: Option<Vec<(OsString, OsString)>>,
    /// More workspace-relative paths commands may read but not change (`sandbox.protect`).
    pub protect: Vec<PathBuf>,
}

/// The command sandbox of one session: its settings and a private temp directory.
#[derive(Debug)]
pub struct Sandbox {
    mode: SandboxMode,
    spec: Spec,
    scrub: Vec<String>,
    pass_env: Vec<String>,
    env: Vec<(OsString, OsString)>,
    guard: Guard,
    _tmp: tempfile::TempDir,
}

/// Why a command did not run.
#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    /// `sandbox = "required"` and the kernel cannot confine it.
    #[error("not run: sandbox mode \"required\" but {0}")]
    Unconfined(String),
    /// It could not be started.
    #[error("could not be started: {0}")]
    Spawn(#[from] std::io::Error),
}

impl Sandbox {
    /// A sandbox for commands in `workspace`.
    pub fn new(workspace: &Path, settings: SandboxSettings) -> std::io::Result<Sandbox> {
        let tmp = tempfile::Builder::new().prefix("tandem-tmp-").tempdir()?;
        let env = settings
            .env
            .unwrap_or_else(|| std::env::vars_os().collect());
        let home = env
            .iter()
            .find(|(k, _)| k == "HOME")
            .map(|(_, v)| PathBuf::from(v));
        let mut home_readable: Vec<PathBuf> =
            confine::HOME_READABLE.iter().map(PathBuf::from).collect();
        home_readable.extend(settings.readable);
        Ok(Sandbox {
            mode: settings.mode,
            spec: Spec {
                workspace: std::fs::canonicalize(workspace)?,
                tmp: std::fs::canonicalize(tmp.path())?,
                writable: settings.writable,
                home,
                home_readable,
                protect: settings.protect.clone(),
                network: settings.network,
                limits: Limits {
                    max_processes: settings.max_processes,
                    max_memory_mb: settings.max_memory_mb,
                    max_file_size_mb: settings.max_file_size_mb,
                },
            },
            scrub: settings.scrub,
            pass_env: settings.pass_env,
            env,
            guard: Guard::new(&settings.protect),
            _tmp: tmp,
        })
    }

    /// What this kernel lets the sandbox enforce (nothing when the mode is `off`).
    pub fn enforcement(&self) -> Enforcement {
        if self.mode == SandboxMode::Off {
            return Enforcement {
                warnings: vec!["sandbox mode \"off\": commands run unconfined".into()],
                ..Enforcement::default()
            };
        }
        let prepared = confine::prepare(&self.spec);
        prepared.cleanup();
        prepared.enforcement.clone()
    }

    /// The private temp directory (`TMPDIR` for commands).
    pub fn tmp(&self) -> &Path {
        &self.spec.tmp
    }

    /// What a command gets here, one line each: the layer, the view (in mount order), the limits.
    pub fn describe_view(&self) -> Vec<String> {
        if self.mode == SandboxMode::Off {
            return vec!["layer:   none (sandbox mode \"off\")".into()];
        }
        let prepared = confine::prepare(&self.spec);
        prepared.cleanup();
        let e = &prepared.enforcement;
        let mut out = Vec::new();
        if prepared.namespaces.is_some() {
            out.push(format!(
                "layer:   namespaces ({}): new user, PID, IPC, UTS, cgroup{} namespaces, new session, no capabilities, seccomp",
                e.namespaces,
                if self.spec.network { "" } else { ", network" }
            ));
            out.push("view:    fresh /dev and /proc".into());
            out.extend(
                prepared
                    .view
                    .iter()
                    .map(|m| format!("view:    {}", m.describe())),
            );
        } else {
            out.push(format!(
                "layer:   Landlock fallback ({}), seccomp, guard",
                e.landlock_abi
                    .map_or_else(|| "no Landlock".to_string(), |a| format!("ABI {a}"))
            ));
        }
        let l = &self.spec.limits;
        let limit = |v: u64, unit: &str, how: &str| {
            if v == 0 || how.is_empty() {
                "none".to_string()
            } else {
                format!("{v}{unit} ({how})")
            }
        };
        out.push(format!(
            "limits:  processes {}, memory {}, file size {}",
            limit(u64::from(l.max_processes), "", &e.processes),
            limit(l.max_memory_mb, " MiB", &e.memory),
            limit(l.max_file_size_mb, " MiB", &e.file_size)
        ));
        out.push(format!(
            "network: {}",
            if self.spec.network {
                "allowed".to_string()
            } else {
                format!("denied ({})", e.network)
            }
        ));
        out
    }

    /// Starts a long-lived program (an MCP server) in the workspace under the sandbox, its stdio piped.
    pub fn start_server(
        &self,
        server: &super::server::ServerCommand,
    ) -> Result<super::server::ServerProcess, ShellError> {
        let pass: Vec<String> = self
            .pass_env
            .iter()
            .chain(&server.pass_env)
            .cloned()
            .collect();
        let scrub: Vec<String> = self.scrub.iter().chain(&server.scrub).cloned().collect();
        let env = super::env::filtered(&self.env, &pass, &scrub);
        super::server::start(&self.spec, self.mode, env, server)
    }

    /// Runs `command` in the workspace under the sandbox.
    pub async fn run(&self, command: &str, timeout: Duration) -> Result<CommandOutput, ShellError> {
        let prepared = if self.mode == SandboxMode::Off {
            None
        } else {
            let p = confine::prepare(&self.spec);
            if self.mode == SandboxMode::Required {
                let e = &p.enforcement;
                let missing = if e.namespaces.is_empty() {
                    Some(format!(
                        "the namespace sandbox is unavailable ({})",
                        e.warnings
                            .first()
                            .map_or("bubblewrap missing", |w| w.as_str())
                    ))
                } else if !self.spec.network && e.network.is_empty() {
                    Some("this platform cannot deny the network".into())
                } else {
                    None
                };
                if let Some(why) = missing {
                    p.cleanup();
                    return Err(ShellError::Unconfined(why));
                }
            }
            Some(Arc::new(p))
        };
        let namespaced = prepared.as_ref().is_some_and(|p| p.namespaces.is_some());
        let mut env = super::env::filtered(&self.env, &self.pass_env, &self.scrub);
        env.retain(|(k, _)| !matches!(k.to_str(), Some("TMPDIR" | "TMP" | "TEMP")));
        let tmp: OsString = if namespaced {
            "/tmp".into()
        } else {
            self.spec.tmp.clone().into_os_string()
        };
        for k in ["TMPDIR", "TMP", "TEMP"] {
            env.push((k.into(), tmp.clone()));
        }
        let limits = ShellLimits {
            timeout,
            ..ShellLimits::default()
        };
        // The namespace view binds the guarded paths read-only; the guard also sees what a view cannot hold
        // (a guarded link replaced, a guarded path created, an instruction file in any folder).
        let snapshot = self.snapshot();
        let result = spawn_and_wait(
            &self.spec.workspace,
            command,
            &limits,
            env,
            prepared.clone(),
        )
        .await;
        if let Some(p) = prepared {
            // Killing what is left in its cgroup may take a few rounds; keep it off the async threads.
            let _ = tokio::task::spawn_blocking(move || p.cleanup()).await;
        }
        let mut out = result?;
        let restored = snapshot.restore();
        if let Some(note) = put_back_note(&restored) {
            out.restored = restored;
            out.output.push_str(&note);
        }
        Ok(out)
    }

    /// The guarded paths as they are now; [`Snapshot::restore`] puts them back after anything that ran in the
    /// workspace (a command, the verify command, an MCP server's call).
    pub fn snapshot(&self) -> Snapshot {
        self.guard.take(&self.spec.workspace)
    }
}

/// The line that tells the model what was put back, if anything was.
pub fn put_back_note(restored: &[String]) -> Option<String> {
    (!restored.is_empty()).then(|| {
        format!(
            "\n[tandem put back {}: commands and tools may not change git metadata, instruction files, tandem's files or protected paths]",
            restored.join(", ")
        )
    })
}

/// Limits for one command.
#[derive(Debug, Clone)]
pub struct ShellLimits {
    /// Wall time before the process group is killed.
    pub timeout: Duration,
    /// Bytes of output kept from the start and, again, from the end.
    pub keep_bytes: usize,
}

impl Default for ShellLimits {
    fn default() -> Self {
        ShellLimits {
            timeout: Duration::from_secs(120),
            keep_bytes: 16 * 1024,
        }
    }
}

/// What a command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutput {
    /// Exit code (`None` if killed by a signal or the timeout).
    pub exit_code: Option<i32>,
    /// Whether the timeout killed it.
    pub timed_out: bool,
    /// stdout and stderr interleaved, capped.
    pub output: String,
    /// Bytes of output in all (more than shown when capped).
    pub total_bytes: usize,
    /// Wall time.
    pub duration: Duration,
    /// Guarded files the command changed, which were put back.
    pub restored: Vec<String>,
}

impl CommandOutput {
    /// A one-line status: the exit code, or how it ended.
    pub fn status_line(&self) -> String {
        if self.timed_out {
            "timed out".into()
        } else {
            format!(
                "exit code {}",
                self.exit_code
                    .map_or_else(|| "none (killed)".into(), |c| c.to_string())
            )
        }
    }

    /// Whether it exited 0.
    pub fn success(&self) -> bool {
        self.exit_code == Some(0)
    }
}

/// Keeps the first and last `keep` bytes of a stream.
#[derive(Debug, Default)]
struct Capped {
    head: Vec<u8>,
    tail: Vec<u8>,
    total: usize,
    keep: usize,
}

impl Capped {
    fn push(&mut self, bytes: &[u8]) {
        self.total += bytes.len();
        let room = self.keep.saturating_sub(self.head.len());
        let (head, rest) = bytes.split_at(room.min(bytes.len()));
        self.head.extend_from_slice(head);
        self.tail.extend_from_slice(rest);
        // Trim in bulk so each byte is copied a bounded number of times.
        if self.tail.len() > 2 * self.keep.max(4096) {
            let cut = self.tail.len() - self.keep;
            self.tail.drain(..cut);
        }
    }

    fn text(&self) -> String {
        let tail = &self.tail[self.tail.len().saturating_sub(self.keep)..];
        let mut out = String::from_utf8_lossy(&self.head).into_owned();
        let shown = self.head.len() + tail.len();
        if self.total > shown {
            out.push_str(&format!("\n… [{} bytes omitted] …\n", self.total - shown));
        }
        out.push_str(&String::from_utf8_lossy(tail));
        out
    }
}

/// Runs `command` with `bash -c` (or `sh -c`) in `dir` with `env`, under `confinement` when given.
async fn spawn_and_wait(
    dir: &Path,
    command: &str,
    limits: &ShellLimits,
    env: Vec<(OsString, OsString)>,
    confinement: Option<Arc<Prepared>>,
) -> std::io::Result<CommandOutput> {
    let shell = if Path::new("/bin/bash").exists() {
        "/bin/bash"
    } else {
        "/bin/sh"
    };
    let namespaces = confinement.as_ref().and_then(|c| c.namespaces.clone());
    let mut cmd = match &namespaces {
        Some((bwrap, args)) => {
            let mut cmd = super::spawn::sandboxed(bwrap);
            cmd.args(args).arg(shell);
            cmd
        }
        None => super::spawn::sandboxed(Path::new(shell)),
    };
    cmd.arg("-c")
        .arg(command)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .envs(env)
        .kill_on_drop(true);
    // bubblewrap reads the seccomp program from this pipe; it stays open in the parent until the spawn.
    let seccomp = match &confinement {
        Some(c) if namespaces.is_some() => Some(confine::seccomp_pipe(c)?),
        _ => None,
    };
    let seccomp_fd = seccomp.as_ref().map(|fd| fd.as_raw_fd());
    // SAFETY: setsid and `apply_in_child` only make system calls on memory prepared before the fork.
    unsafe {
        cmd.pre_exec(move || {
            // A new session: its own process group (the timeout kills it whole) and no controlling terminal.
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            match &confinement {
                Some(c) => c.apply_in_child(seccomp_fd),
                None => Ok(()),
            }
        });
    }
    let started = Instant::now();
    let mut child = cmd.spawn()?;
    drop(seccomp);
    let pgid = child.id().map(|id| id as i32);
    let mut stdout = child
        .stdout
        .take()
        .ok_or_else(|| std::io::Error::other("no stdout"))?;
    let mut stderr = child
        .stderr
        .take()
        .ok_or_else(|| std::io::Error::other("no stderr"))?;
    let mut capped = Capped {
        keep: limits.keep_bytes,
        ..Capped::default()
    };
    let (mut out_open, mut err_open) = (true, true);
    let mut out_buf = vec![0u8; 8192];
    let mut err_buf = vec![0u8; 8192];
    let deadline = tokio::time::sleep(limits.timeout);
    tokio::pin!(deadline);
    let mut timed_out = false;
    while out_open || err_open {
        tokio::select! {
            n = stdout.read(&mut out_buf), if out_open => match n {
                Ok(0) | Err(_) => out_open = false,
                Ok(n) => capped.push(&out_buf[..n]),
            },
            n = stderr.read(&mut err_buf), if err_open => match n {
                Ok(0) | Err(_) => err_open = false,
                Ok(n) => capped.push(&err_buf[..n]),
            },
            _ = &mut deadline => {
                timed_out = true;
                break;
            }
        }
    }
    if timed_out {
        kill_group(pgid);
    }
    let status = tokio::select! {
        s = child.wait() => s?,
        _ = tokio::time::sleep(Duration::from_secs(5)) => {
            // Output closed but the process lingers (it detached its pipes): end the group.
            kill_group(pgid);
            child.wait().await?
        }
    };
    // Children that outlived the shell (background jobs) go with it.
    kill_group(pgid);
    let mut output = capped.text();
    if timed_out {
        output.push_str(&format!(
            "\n[killed after {} s: the command timed out]",
            limits.timeout.as_secs()
        ));
    }
    Ok(CommandOutput {
        exit_code: if timed_out { None } else { status.code() },
        timed_out,
        output,
        total_bytes: capped.total,
        duration: started.elapsed(),
        restored: Vec::new(),
    })
}

/// Kills the process group `pgid` (a command's or a server's, made with `setsid`).
pub(super) fn kill_group(pgid: Option<i32>) {
    if let Some(pgid) = pgid.filter(|p| *p > 0) {
        // SAFETY: kill(2) with a negative pid signals the process group we created for this command.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unconfined, with this process's environment: the runner's own behaviour.
    async fn run(
        dir: &Path,
        command: &str,
        limits: &ShellLimits,
    ) -> std::io::Result<CommandOutput> {
        spawn_and_wait(dir, command, limits, std::env::vars_os().collect(), None).await
    }

    #[tokio::test]
    async fn runs_in_the_directory_and_reports_the_exit_code() {
        let dir = tempfile::tempdir().unwrap();
        let out = run(
            dir.path(),
            "pwd; echo err >&2; exit 3",
            &ShellLimits::default(),
        )
        .await
        .unwrap();
        assert_eq!(out.exit_code, Some(3));
        assert!(
            out.output
                .contains(&dir.path().canonicalize().unwrap().display().to_string()),
            "{}",
            out.output
        );
        assert!(out.output.contains("err"));
    }

    #[tokio::test]
    async fn a_timeout_kills_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let limits = ShellLimits {
            timeout: Duration::from_millis(500),
            ..ShellLimits::default()
        };
        let started = Instant::now();
        let out = run(dir.path(), "sleep 30 & sleep 30; echo never", &limits)
            .await
            .unwrap();
        assert!(out.timed_out && out.exit_code.is_none());
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        assert!(!out.output.contains("never"));
    }

    #[tokio::test]
    async fn big_output_keeps_head_and_tail() {
        let dir = tempfile::tempdir().unwrap();
        let limits = ShellLimits {
            keep_bytes: 100,
            ..ShellLimits::default()
        };
        let out = run(
            dir.path(),
            "echo START; head -c 100000 /dev/zero | tr '\\0' x; echo; echo END",
            &limits,
        )
        .await
        .unwrap();
        assert!(out.output.starts_with("START"), "{}", &out.output[..50]);
        assert!(out.output.trim_end().ends_with("END"));
        assert!(out.output.contains("bytes omitted"));
        assert!(out.total_bytes > 100_000);
        assert!(out.output.len() < 400);
    }
}
