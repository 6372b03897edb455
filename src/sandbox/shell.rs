//! Running a shell command for a tool: in the workspace, with a timeout that kills its whole process group, an
//! output cap that keeps the head and the tail, an environment without API keys or tandem's own settings, and
//! (through [`Sandbox`]) under the OS confinement of [`super::confine`].

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;

use super::confine::{self, Enforcement, Prepared, Spec};

/// How strictly commands are confined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
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
    /// More environment variables to remove.
    pub scrub: Vec<String>,
    /// The environment commands start from (default: this process's).
    pub env: Option<Vec<(OsString, OsString)>>,
}

/// The command sandbox of one session: its settings and a private temp directory.
#[derive(Debug)]
pub struct Sandbox {
    mode: SandboxMode,
    spec: Spec,
    scrub: Vec<String>,
    env: Vec<(OsString, OsString)>,
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
                network: settings.network,
                max_processes: settings.max_processes,
            },
            scrub: settings.scrub,
            env,
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

    /// Runs `command` in the workspace under the sandbox.
    pub async fn run(&self, command: &str, timeout: Duration) -> Result<CommandOutput, ShellError> {
        let prepared = if self.mode == SandboxMode::Off {
            None
        } else {
            let p = confine::prepare(&self.spec);
            if self.mode == SandboxMode::Required {
                let e = &p.enforcement;
                let missing = if !e.filesystem {
                    Some("this kernel cannot confine file writes (no Landlock)")
                } else if !self.spec.network && e.network.is_empty() {
                    Some("this platform cannot deny the network")
                } else {
                    None
                };
                if let Some(why) = missing {
                    p.cleanup();
                    return Err(ShellError::Unconfined(why.into()));
                }
            }
            Some(Arc::new(p))
        };
        let mut env: Vec<(OsString, OsString)> = self
            .env
            .iter()
            .filter(|(k, _)| !is_scrubbed(&k.to_string_lossy(), &self.scrub))
            .filter(|(k, _)| !matches!(k.to_str(), Some("TMPDIR" | "TMP" | "TEMP")))
            .cloned()
            .collect();
        for k in ["TMPDIR", "TMP", "TEMP"] {
            env.push((k.into(), self.spec.tmp.clone().into_os_string()));
        }
        let limits = ShellLimits {
            timeout,
            ..ShellLimits::default()
        };
        let snapshot = super::guard::Snapshot::take(&self.spec.workspace);
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
        let restored = snapshot.restore(&self.spec.workspace);
        if !restored.is_empty() {
            out.restored = restored.clone();
            out.output.push_str(&format!(
                "\n[tandem put back {}: commands may not change git hooks, git config or tandem's config]",
                restored.join(", ")
            ));
        }
        Ok(out)
    }
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

/// Whether an environment variable must not reach a command (keys, tokens, passwords, tandem's own settings).
pub fn is_scrubbed(name: &str, extra: &[String]) -> bool {
    let upper = name.to_ascii_uppercase();
    upper.starts_with("TANDEM_")
        || upper.starts_with("OPENAI_")
        || upper.starts_with("ANTHROPIC_")
        || upper.starts_with("AWS_SECRET")
        || upper.starts_with("AWS_SESSION")
        || upper == "SSH_AUTH_SOCK"
        || upper == "GPG_AGENT_INFO"
        || [
            "API_KEY",
            "APIKEY",
            "TOKEN",
            "SECRET",
            "PASSWORD",
            "PASSWD",
            "CREDENTIAL",
            "PRIVATE_KEY",
        ]
        .iter()
        .any(|needle| upper.contains(needle))
        || extra.iter().any(|e| e.eq_ignore_ascii_case(name))
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
    let mut cmd = tokio::process::Command::new(shell);
    cmd.arg("-c")
        .arg(command)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_clear()
        .envs(env);
    cmd.process_group(0).kill_on_drop(true);
    if let Some(c) = confinement {
        // SAFETY: `apply_in_child` only makes system calls on memory prepared before the fork.
        unsafe {
            cmd.pre_exec(move || c.apply_in_child());
        }
    }
    let started = Instant::now();
    let mut child = cmd.spawn()?;
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

fn kill_group(pgid: Option<i32>) {
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

    #[test]
    fn secrets_are_scrubbed_from_the_environment() {
        for name in [
            "OPENAI_API_KEY",
            "ANTHROPIC_API_KEY",
            "GITHUB_TOKEN",
            "TANDEM_MODEL",
            "DB_PASSWORD",
            "AWS_SECRET_ACCESS_KEY",
            "MY_SECRET",
        ] {
            assert!(is_scrubbed(name, &[]), "{name}");
        }
        for name in ["PATH", "HOME", "LANG", "CARGO_HOME", "AWS_REGION"] {
            assert!(!is_scrubbed(name, &[]), "{name}");
        }
        assert!(is_scrubbed("CORP_VAR", &["corp_var".into()]));
    }
}
