//! Running a shell command for a tool: in the workspace, with a timeout that kills its whole process group, an
//! output cap that keeps the head and the tail, and an environment without API keys or tandem's own settings.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;

/// Limits for one command.
#[derive(Debug, Clone)]
pub struct ShellLimits {
    /// Wall time before the process group is killed.
    pub timeout: Duration,
    /// Bytes of output kept from the start and, again, from the end.
    pub keep_bytes: usize,
    /// Extra environment variable names to remove.
    pub scrub: Vec<String>,
}

impl Default for ShellLimits {
    fn default() -> Self {
        ShellLimits {
            timeout: Duration::from_secs(120),
            keep_bytes: 16 * 1024,
            scrub: Vec::new(),
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
}

impl CommandOutput {
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
    tail: std::collections::VecDeque<u8>,
    total: usize,
    keep: usize,
}

impl Capped {
    fn push(&mut self, bytes: &[u8]) {
        self.total += bytes.len();
        let room = self.keep.saturating_sub(self.head.len());
        let (head, rest) = bytes.split_at(room.min(bytes.len()));
        self.head.extend_from_slice(head);
        for &b in rest {
            if self.tail.len() == self.keep {
                self.tail.pop_front();
            }
            self.tail.push_back(b);
        }
    }

    fn text(&self) -> String {
        let mut out = String::from_utf8_lossy(&self.head).into_owned();
        let shown = self.head.len() + self.tail.len();
        if self.total > shown {
            out.push_str(&format!("\n… [{} bytes omitted] …\n", self.total - shown));
        }
        let tail: Vec<u8> = self.tail.iter().copied().collect();
        out.push_str(&String::from_utf8_lossy(&tail));
        out
    }
}

/// Runs `command` with `bash -c` (or `sh -c`) in `dir`.
pub async fn run(
    dir: &Path,
    command: &str,
    limits: &ShellLimits,
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
        .stderr(Stdio::piped());
    for (name, _) in std::env::vars_os() {
        if is_scrubbed(&name.to_string_lossy(), &limits.scrub) {
            cmd.env_remove(&name);
        }
    }
    cmd.process_group(0).kill_on_drop(true);
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
