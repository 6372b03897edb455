//! A long-lived program in the command sandbox with its stdin and stdout piped to tandem (an MCP server over
//! stdio): the same confinement as a command (bubblewrap's view, or Landlock and seccomp), the allow-listed
//! environment, its own process group, killed with its cgroup when the handle is dropped.

use std::ffi::OsString;
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};

use tokio::io::AsyncReadExt;
use tokio::process::{Child, ChildStdin, ChildStdout};

use super::confine::{self, Prepared, Spec};
use super::shell::{SandboxMode, ShellError};

/// Bytes of a server's stderr kept (the end) to explain why it stopped.
const STDERR_KEEP: usize = 4096;

/// What to start.
#[derive(Debug, Clone)]
pub struct ServerCommand {
    /// The program (looked up on the sandbox's `PATH`).
    pub program: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Variables added to the allow-listed environment.
    pub env: Vec<(OsString, OsString)>,
    /// More variables of tandem's environment it gets (names, or prefixes ending in `*`).
    pub pass_env: Vec<String>,
    /// Variables it never gets from tandem's environment (the providers' API keys).
    pub scrub: Vec<String>,
    /// Whether it may use the network.
    pub network: bool,
}

/// A running sandboxed server; dropping it kills its process group and cleans up its cgroup.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    pgid: Option<i32>,
    prepared: Option<Arc<Prepared>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    /// What confined it, one line.
    pub confinement: String,
}

impl ServerProcess {
    /// Its stdin and stdout, for the protocol (once; `None` after).
    pub fn take_pipes(&mut self) -> Option<(ChildStdout, ChildStdin)> {
        Some((self.child.stdout.take()?, self.child.stdin.take()?))
    }

    /// The end of what it wrote to stderr.
    pub fn stderr_tail(&self) -> String {
        let bytes = self
            .stderr
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Its exit status, if it has ended.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        super::shell::kill_group(self.pgid);
        let _ = self.child.start_kill();
        // Reaped here rather than by the runtime, so its cgroup can go at once (a thread doing it later could
        // be cut short by tandem's own exit). SIGKILL takes effect within a few milliseconds.
        for _ in 0..400 {
            if !matches!(self.child.try_wait(), Ok(None)) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        if let Some(p) = self.prepared.take() {
            p.cleanup();
        }
    }
}

/// Starts `server` in `workspace` under `spec`'s confinement (its network setting replaced by the server's).
pub(super) fn start(
    spec: &Spec,
    mode: SandboxMode,
    base_env: Vec<(OsString, OsString)>,
    server: &ServerCommand,
) -> Result<ServerProcess, ShellError> {
    let spec = Spec {
        network: server.network,
        ..spec.clone()
    };
    let prepared = if mode == SandboxMode::Off {
        None
    } else {
        let p = confine::prepare(&spec);
        if mode == SandboxMode::Required {
            let e = &p.enforcement;
            let missing = if e.namespaces.is_empty() {
                Some("the namespace sandbox is unavailable".to_string())
            } else if !spec.network && e.network.is_empty() {
                Some("this platform cannot deny the network".to_string())
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
    let namespaces = prepared.as_ref().and_then(|p| p.namespaces.clone());
    let confinement = match (&prepared, &namespaces) {
        (None, _) => "none (sandbox mode \"off\")".to_string(),
        (Some(p), Some(_)) => format!("namespaces ({})", p.enforcement.namespaces),
        (Some(p), None) => format!("Landlock fallback ({})", p.enforcement.describe()),
    };
    let mut env = base_env;
    env.retain(|(k, _)| !matches!(k.to_str(), Some("TMPDIR" | "TMP" | "TEMP")));
    let tmp: OsString = if namespaces.is_some() {
        "/tmp".into()
    } else {
        spec.tmp.clone().into_os_string()
    };
    for k in ["TMPDIR", "TMP", "TEMP"] {
        env.push((k.into(), tmp.clone()));
    }
    env.extend(server.env.iter().cloned());
    let seccomp = match &prepared {
        Some(p) if namespaces.is_some() => Some(confine::seccomp_pipe(p)?),
        _ => None,
    };
    let spawned = super::spawn::piped_server(
        namespaces.as_ref(),
        &server.program,
        &server.args,
        &spec.workspace,
        env,
        prepared.clone(),
        seccomp.as_ref().map(AsRawFd::as_raw_fd),
    );
    drop(seccomp);
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            if let Some(p) = prepared {
                p.cleanup();
            }
            return Err(ShellError::Spawn(e));
        }
    };
    let pgid = child.id().map(|id| id as i32);
    let stderr = Arc::new(Mutex::new(Vec::new()));
    if let Some(mut pipe) = child.stderr.take() {
        let keep = stderr.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                let mut kept = keep
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                kept.extend_from_slice(&buf[..n]);
                let over = kept.len().saturating_sub(STDERR_KEEP);
                kept.drain(..over);
            }
        });
    }
    Ok(ServerProcess {
        child,
        pgid,
        prepared,
        stderr,
        confinement,
    })
}
