//! The project's own eval: runs an agent on every task under `evals/tasks/` and decides pass or fail by running
//! the task's test command itself afterwards, never by the agent's word.
//!
//! Run tandem, local-only, on the small coding model (build the release binary first):
//! `cargo build --release && cargo run --release --example eval -- --model qwen2.5-coder-1.5b --json eval.json`
//!
//! Options: `--tasks DIR` (default `evals/tasks`), `--filter TEXT` (tasks whose name contains it), `--model NAME|PATH`
//! (a short name from the model catalog, looked up in the models cache, or a GGUF path), `--timeout-secs N` per
//! task, `--tandem PATH` (default: `tandem` in the same build dir as this example, so build both with one
//! profile), `--tandem-arg ARG` (repeatable; passed to tandem
//! before `exec`, e.g. `--tandem-arg=--threads=1`), `--logs DIR` (each task's events, stderr and test output),
//! `--keep` (keep each task's work dir), `--json FILE` (rewritten after each task; `complete`
//! says whether every task ran), `--pp-tps N --tg-tps N` (llama-bench's pp512 and tg128 on
//! this machine: adds each task's wall time over the time its uncached prompt and output tokens take at that speed).
//!
//! Before the test runs, every starting file that the task's reference solution leaves alone (the tests, the
//! manifest) is put back as it was if the agent changed it (listed in the JSON as `restored`).
//!
//! Each task runs in a fresh temp dir: the task's `repo/` copied in, `git init` and one commit (tandem works on a
//! repository), and fresh `TANDEM_CONFIG_DIR`/`TANDEM_CACHE_DIR`/`TANDEM_DATA_DIR`/`TANDEM_STATE_DIR`, with
//! `agent.verify` set to the task's test command (`TANDEM_AGENT__VERIFY`). tandem runs as
//! `tandem -C DIR --offline --model PATH exec --json --approve auto PROMPT`; its JSONL events (docs/EVENTS.md)
//! give the model calls (`usage` events), prompt/cached/output tokens, tool calls, failed tool calls
//! (`tool_result` with `ok: false`) and the longest run of one identical tool call.
//!
//! `--agent aider` runs aider on the same tasks instead, against an OpenAI-compatible server such as
//! llama-server serving the same GGUF (aider is not a dependency; install it yourself):
//! ```text
//! pip install aider-chat
//! llama-server -m ~/.cache/tandem/models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf -c 16384 --port 8080 &
//! cargo run --release --example eval -- --agent aider --aider-model qwen2.5-coder-1.5b \
//!     --api-base http://127.0.0.1:8080/v1 --json aider.json
//! ```
//! Each task then runs `aider --yes-always --no-git --no-check-update --no-show-model-warnings --no-analytics
//! --no-pretty --model openai/NAME --openai-api-base URL --test-cmd TEST --auto-test --message PROMPT FILES…` in the task's
//! dir (FILES: the task's `files`), with `OPENAI_API_KEY=sk-local` unless one is set. Its model calls and tokens
//! are read from aider's `Tokens: N sent, M received` lines (aider rounds large counts: `2.3k`); its failed
//! edits (`failed to match`) count as failed tool calls; it reports no cached tokens. `--aider-once` leaves out
//! `--test-cmd`/`--auto-test`: one completion in aider's edit format, the plain-model baseline.

// Developer tools print their own reports; the user-facing printing path is src/text.rs.
#![allow(clippy::disallowed_macros)]

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Command-line options.
#[derive(Parser)]
struct Args {
    /// The directory holding one directory per task.
    #[arg(long, default_value = "evals/tasks")]
    tasks: PathBuf,
    /// Only the tasks whose name contains this text.
    #[arg(long)]
    filter: Option<String>,
    /// The agent to run: tandem or aider.
    #[arg(long, default_value = "tandem", value_parser = ["tandem", "aider"])]
    agent: String,
    /// The local model: a short name from tandem's catalog (in the models cache) or a GGUF path.
    #[arg(long, default_value = "qwen2.5-coder-1.5b")]
    model: String,
    /// Seconds each task's agent may run before it is killed (counted as a fail).
    #[arg(long, default_value_t = 600)]
    timeout_secs: u64,
    /// The tandem binary [default: `tandem` in the build dir this example was built into, e.g. target/release].
    #[arg(long)]
    tandem: Option<PathBuf>,
    /// An extra argument for tandem, placed before `exec` (repeatable).
    #[arg(long, allow_hyphen_values = true)]
    tandem_arg: Vec<String>,
    /// The aider binary (`--agent aider`).
    #[arg(long, default_value = "aider")]
    aider: PathBuf,
    /// The model name the server knows (`--agent aider`); aider is given `openai/NAME`.
    #[arg(long, default_value = "qwen2.5-coder-1.5b")]
    aider_model: String,
    /// The OpenAI-compatible endpoint (`--agent aider`), e.g. llama-server's.
    #[arg(long, default_value = "http://127.0.0.1:8080/v1")]
    api_base: String,
    /// Run aider without its test loop (`--agent aider`: no `--test-cmd`/`--auto-test`): one completion of the
    /// model in aider's edit format, applied once, the baseline an agent loop has to beat.
    #[arg(long)]
    aider_once: bool,
    /// Where each task's logs go [default: evals/runs/<unix time>].
    #[arg(long)]
    logs: Option<PathBuf>,
    /// Keep each task's work dir (its path is printed).
    #[arg(long)]
    keep: bool,
    /// Write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// llama-bench's prefill speed (pp512, tokens/s) on this machine and model, for the ideal-time ratio.
    #[arg(long)]
    pp_tps: Option<f64>,
    /// llama-bench's decode speed (tg128, tokens/s), for the ideal-time ratio.
    #[arg(long)]
    tg_tps: Option<f64>,
    /// Do not hand tandem the task's test as its check (`agent.verify`): it must find the check itself, from the
    /// task's text, AGENTS.md or the project's files, as it does for a user.
    #[arg(long)]
    check_from_task: bool,
    /// Run each task from its saved plan (`plan.json` beside `task.toml`, the kind a frontier planner writes)
    /// with `exec --plan`, so the local executor is measured apart from the local planner; tasks without one
    /// are left out.
    #[arg(long)]
    from_plan: bool,
}

/// A task's `task.toml`.
#[derive(Deserialize)]
struct TaskSpec {
    /// What a user would type.
    prompt: String,
    /// The shell command that decides pass or fail, run in the task's repo.
    test: String,
    /// python, javascript or rust.
    lang: String,
    /// implement, off-by-one, rename, cli-option, failing-test or other.
    kind: String,
    /// The files a user would hand to a chat-based agent (aider's file arguments).
    #[serde(default)]
    files: Vec<String>,
}

/// One task's result.
#[derive(Serialize, Default, Clone)]
struct TaskResult {
    /// The task's directory name.
    name: String,
    /// Its language.
    lang: String,
    /// Its kind.
    kind: String,
    /// Whether the task's test passed after the agent ran (run by the eval, not the agent).
    passed: bool,
    /// Seconds the agent ran.
    wall_secs: f64,
    /// Whether the agent was killed at the timeout.
    timed_out: bool,
    /// The agent's exit code (`None`: killed by a signal).
    exit_code: Option<i32>,
    /// What the agent claimed: `done` (tandem exited 0), `check failed` (5), `unverified` (6), `failed`, `killed`; `-` for aider,
    /// whose exit status does not say.
    claimed: String,
    /// tandem said done (exit 0) while the task's own test fails.
    false_success: bool,
    /// What the agent's output says it did: requests, tokens, tool calls, the session's outcome.
    #[serde(flatten)]
    counts: EventCounts,
    /// Starting files the solution leaves alone (tests, manifests) that the agent changed, put back before the test.
    restored: Vec<String>,
    /// Seconds the tokens would take at llama-bench speed: uncached prompt / pp + output / tg (with
    /// `--pp-tps` and `--tg-tps`).
    ideal_secs: Option<f64>,
    /// Where the task's logs are.
    logs: String,
}

/// Counts taken from a tandem event stream (or aider's output).
#[derive(Serialize, Default, Debug, Clone, PartialEq)]
struct EventCounts {
    /// `usage` events: one per model request.
    model_calls: u64,
    /// Sum of input, cached and cache-write tokens.
    prompt_tokens: u64,
    /// Sum of cached input tokens.
    cached_tokens: u64,
    /// Sum of output tokens.
    output_tokens: u64,
    /// `tool_call` events.
    tool_calls: u64,
    /// `tool_result` events with `ok: false`.
    failed_tool_calls: u64,
    /// The longest run of identical consecutive `tool_call`s.
    max_repeated_call: u64,
    /// `edit_applied` events.
    edits_applied: u64,
    /// `session_finished.outcome`.
    outcome: Option<String>,
}

/// Counts the events of a `tandem exec --json` stream; lines that are not JSON objects are skipped.
fn count_events(jsonl: &str) -> EventCounts {
    let mut c = EventCounts::default();
    let mut last_call: Option<String> = None;
    let mut run = 0u64;
    for line in jsonl.lines() {
        let Ok(ev) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let n = |v: &Value, k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
        match ev.get("type").and_then(Value::as_str).unwrap_or("") {
            "usage" => {
                let u = ev.get("usage").cloned().unwrap_or(Value::Null);
                c.model_calls += 1;
                c.prompt_tokens += n(&u, "input_tokens")
                    + n(&u, "cached_input_tokens")
                    + n(&u, "cache_write_tokens");
                c.cached_tokens += n(&u, "cached_input_tokens");
                c.output_tokens += n(&u, "output_tokens");
            }
            "tool_call" => {
                c.tool_calls += 1;
                let key = format!(
                    "{}:{}",
                    ev.get("tool").and_then(Value::as_str).unwrap_or(""),
                    ev.get("arguments").unwrap_or(&Value::Null)
                );
                run = if last_call.as_deref() == Some(key.as_str()) {
                    run + 1
                } else {
                    1
                };
                last_call = Some(key);
                c.max_repeated_call = c.max_repeated_call.max(run);
            }
            "tool_result" if ev.get("ok").and_then(Value::as_bool) == Some(false) => {
                c.failed_tool_calls += 1;
            }
            "edit_applied" => c.edits_applied += 1,
            "session_finished" => {
                c.outcome = ev
                    .get("outcome")
                    .and_then(Value::as_str)
                    .map(str::to_string);
            }
            _ => {}
        }
    }
    c
}

/// A token count as aider prints it: `950`, `2.3k`, `1.1M`.
fn aider_count(s: &str) -> u64 {
    let s = s.trim().trim_end_matches(',');
    let (num, mult) = match s.chars().last() {
        Some('k') => (&s[..s.len() - 1], 1e3),
        Some('M') => (&s[..s.len() - 1], 1e6),
        _ => (s, 1.0),
    };
    num.replace(',', "")
        .parse::<f64>()
        .map_or(0, |v| (v * mult).round() as u64)
}

/// Counts aider's output: `Tokens: N sent, [C cache hit,] M received.` per model call, `failed to match` per
/// failed edit.
fn count_aider(out: &str) -> EventCounts {
    let mut c = EventCounts::default();
    for line in out.lines() {
        if let Some(rest) = line.trim().strip_prefix("Tokens: ") {
            let words: Vec<&str> = rest.split_whitespace().collect();
            for w in words.windows(2) {
                if w[1].starts_with("sent") {
                    c.prompt_tokens += aider_count(w[0]);
                } else if w[1].starts_with("received") {
                    c.output_tokens += aider_count(w[0]);
                }
            }
            for w in words.windows(3) {
                if w[1] == "cache" && w[2].starts_with("hit") {
                    c.cached_tokens += aider_count(w[0]);
                }
            }
            c.model_calls += 1;
        }
        if line.contains("failed to match") {
            c.failed_tool_calls += 1;
        }
    }
    c
}

/// Seconds `prefill` uncached prompt tokens and `decode` output tokens take at the given speeds.
fn ideal_secs(prefill: u64, decode: u64, pp_tps: Option<f64>, tg_tps: Option<f64>) -> Option<f64> {
    let (pp, tg) = (pp_tps.filter(|v| *v > 0.0)?, tg_tps.filter(|v| *v > 0.0)?);
    Some(prefill as f64 / pp + decode as f64 / tg)
}

/// Copies a directory tree (files and directories; symlinks are copied as the files they point at).
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let dest = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &dest)?;
        } else {
            std::fs::copy(entry.path(), &dest)
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// Every file under `dir`, as paths relative to it.
fn files_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for entry in std::fs::read_dir(dir.join(&rel))? {
            let entry = entry?;
            let rel = rel.join(entry.file_name());
            if entry.path().is_dir() {
                stack.push(rel);
            } else {
                out.push(rel);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Puts back every starting file the reference solution leaves alone (the tests among them) where the agent
/// changed or removed it, so no agent passes by editing a test; returns the files put back.
fn restore_untouched(task: &Path, ws: &Path) -> Result<Vec<String>> {
    let (repo, solution) = (task.join("repo"), task.join("solution"));
    if !solution.is_dir() {
        return Ok(Vec::new());
    }
    let mut restored = Vec::new();
    for rel in files_under(&repo)? {
        if solution.join(&rel).exists() {
            continue;
        }
        let original = std::fs::read(repo.join(&rel))?;
        let dest = ws.join(&rel);
        if std::fs::read(&dest).ok().as_deref() != Some(original.as_slice()) {
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&dest, original)?;
            restored.push(rel.display().to_string());
        }
    }
    Ok(restored)
}

/// Runs a git command in `dir`, failing with its stderr.
fn git(dir: &Path, args: &[&str]) -> Result<()> {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=tandem-eval",
            "-c",
            "user.email=eval@localhost",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .context("running git (is it installed?)")?;
    if !out.status.success() {
        bail!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// Runs `cmd` in its own process group with stdout and stderr to files; kills the group at the timeout.
/// Returns the exit status (`None`: timed out) and the seconds it ran.
fn run_with_timeout(
    mut cmd: Command,
    stdout: &Path,
    stderr: &Path,
    timeout: Duration,
) -> Result<(Option<ExitStatus>, f64)> {
    use std::os::unix::process::CommandExt;
    cmd.stdin(Stdio::null())
        .stdout(File::create(stdout)?)
        .stderr(File::create(stderr)?)
        .process_group(0);
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {:?}", cmd.get_program()))?;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok((Some(status), start.elapsed().as_secs_f64()));
        }
        if start.elapsed() >= timeout {
            // The child leads its own group (process_group(0)), so -pid reaches it and everything it started.
            if let Ok(pid) = i32::try_from(child.id()) {
                // SAFETY: kill takes plain integers; a stale group id at worst fails with ESRCH.
                unsafe { libc::kill(-pid, libc::SIGKILL) };
            }
            let _ = child.kill();
            let _ = child.wait();
            return Ok((None, start.elapsed().as_secs_f64()));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A command with the parent's environment minus anything that would steer tandem or cargo elsewhere.
fn clean_command(program: &Path) -> Command {
    let mut cmd = Command::new(program);
    for (key, _) in std::env::vars_os() {
        let key_str = key.to_string_lossy();
        if key_str.starts_with("TANDEM_") || key_str == "CARGO_TARGET_DIR" {
            cmd.env_remove(&key);
        }
    }
    cmd
}

/// The model file to give tandem: an existing path, or a catalog short name in the models cache.
fn resolve_model(model: &str) -> Result<PathBuf> {
    let path = PathBuf::from(model);
    if path.is_file() {
        return std::path::absolute(&path).context("making the model path absolute");
    }
    let Some(known) = tandem::model::catalog::by_name(model) else {
        bail!("--model {model}: no such file, and not a model tandem knows by name");
    };
    let path = tandem::paths::Dirs::from_env().models().join(known.file);
    if !path.is_file() {
        bail!(
            "--model {model}: {} is missing; fetch it with {}",
            path.display(),
            known.fetch
        );
    }
    Ok(path)
}

/// The tandem binary beside this example's build dir (`<target>/<profile>/examples/eval` → `<target>/<profile>/tandem`).
fn default_tandem() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("finding this program's path")?;
    let profile_dir = exe.parent().and_then(Path::parent);
    Ok(profile_dir.map_or_else(
        || PathBuf::from("target/release/tandem"),
        |d| d.join("tandem"),
    ))
}

/// What the eval runs each task with.
struct Runner {
    /// The options.
    args: Args,
    /// The model file (`--agent tandem`).
    model: PathBuf,
    /// The tandem binary, absolute (`--agent tandem`).
    tandem: PathBuf,
    /// The run's log directory.
    logs: PathBuf,
}

impl Runner {
    /// Runs one task and decides pass or fail with its test command.
    fn run_task(&self, dir: &Path) -> Result<TaskResult> {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let spec_path = dir.join("task.toml");
        let spec: TaskSpec = toml::from_str(
            &std::fs::read_to_string(&spec_path)
                .with_context(|| format!("reading {}", spec_path.display()))?,
        )
        .with_context(|| format!("parsing {}", spec_path.display()))?;
        let logs = self.logs.join(&name);
        std::fs::create_dir_all(&logs)?;

        let tmp = tempfile::Builder::new()
            .prefix(&format!("tandem-eval-{name}-"))
            .tempdir()?;
        let ws = tmp.path().join("ws");
        copy_tree(&dir.join("repo"), &ws)?;
        git(&ws, &["init", "-q"])?;
        git(&ws, &["add", "-A"])?;
        git(&ws, &["commit", "-q", "-m", "task start"])?;

        let timeout = Duration::from_secs(self.args.timeout_secs);
        let (status, wall, counts) = if self.args.agent == "aider" {
            let mut cmd = clean_command(&self.args.aider);
            cmd.current_dir(&ws).args(self.aider_args(&spec));
            if std::env::var_os("OPENAI_API_KEY").is_none() {
                cmd.env("OPENAI_API_KEY", "sk-local");
            }
            let (out, err) = (logs.join("aider.out"), logs.join("aider.err"));
            let (status, wall) = run_with_timeout(cmd, &out, &err, timeout)?;
            let text = std::fs::read_to_string(&out).unwrap_or_default();
            (status, wall, count_aider(&text))
        } else {
            let mut cmd = clean_command(&self.tandem);
            for d in ["config", "cache", "data", "state"] {
                let p = tmp.path().join(d);
                std::fs::create_dir_all(&p)?;
                cmd.env(format!("TANDEM_{}_DIR", d.to_ascii_uppercase()), p);
            }
            if !self.args.check_from_task {
                cmd.env("TANDEM_AGENT__VERIFY", &spec.test);
            }
            cmd.current_dir(&ws)
                .arg("-C")
                .arg(&ws)
                .arg("--offline")
                .arg("--model")
                .arg(&self.model)
                .args(&self.args.tandem_arg)
                .args(["exec", "--json", "--approve", "auto"]);
            if self.args.from_plan {
                // Outside the workspace: the plan is the person's, not the repository's.
                cmd.arg("--plan")
                    .arg(std::path::absolute(dir.join("plan.json"))?);
            }
            cmd.arg(&spec.prompt);
            let (out, err) = (logs.join("events.jsonl"), logs.join("stderr.log"));
            let (status, wall) = run_with_timeout(cmd, &out, &err, timeout)?;
            let text = std::fs::read_to_string(&out).unwrap_or_default();
            (status, wall, count_events(&text))
        };

        // Pass is decided here, by the task's own test, never by the agent's report.
        let restored = restore_untouched(dir, &ws)?;
        let mut test = clean_command(Path::new("bash"));
        test.current_dir(&ws).args(["-c", &spec.test]);
        let (test_status, _) = run_with_timeout(
            test,
            &logs.join("test.out"),
            &logs.join("test.err"),
            Duration::from_secs(600),
        )?;
        let passed = test_status.is_some_and(|s| s.success());
        let exit_code = status.and_then(|s| s.code());
        let tandem = self.args.agent == "tandem";
        let claimed = match (tandem, status.is_none(), exit_code) {
            (false, _, _) => "-",
            (true, true, _) => "killed",
            (true, false, Some(0)) => "done",
            (true, false, Some(5)) => "check failed",
            (true, false, Some(6)) => "unverified",
            (true, false, _) => "failed",
        }
        .to_string();
        let false_success = tandem && exit_code == Some(0) && !passed;

        if self.args.keep {
            let kept = tmp.keep();
            eprintln!("  kept {}", kept.display());
        }
        Ok(TaskResult {
            name,
            lang: spec.lang,
            kind: spec.kind,
            passed,
            wall_secs: wall,
            timed_out: status.is_none(),
            exit_code,
            claimed,
            false_success,
            restored,
            ideal_secs: ideal_secs(
                counts.prompt_tokens - counts.cached_tokens.min(counts.prompt_tokens),
                counts.output_tokens,
                self.args.pp_tps,
                self.args.tg_tps,
            ),
            counts,
            logs: logs.display().to_string(),
        })
    }

    /// aider's arguments for a task (see the module docs).
    fn aider_args(&self, spec: &TaskSpec) -> Vec<String> {
        let mut a: Vec<String> = [
            "--yes-always",
            "--no-git",
            "--no-check-update",
            "--no-show-model-warnings",
            "--no-analytics",
            "--no-pretty",
        ]
        .map(String::from)
        .to_vec();
        a.extend([
            "--model".to_string(),
            format!("openai/{}", self.args.aider_model),
            "--openai-api-base".to_string(),
            self.args.api_base.clone(),
        ]);
        if !self.args.aider_once {
            a.extend([
                "--test-cmd".to_string(),
                spec.test.clone(),
                "--auto-test".to_string(),
            ]);
        }
        a.extend(["--message".to_string(), spec.prompt.clone()]);
        a.extend(spec.files.iter().cloned());
        a
    }
}

/// The table's header.
const HEADER: &str = "task                 lang        kind          pass  claimed          wall_s  calls   prompt   cached   output  tools  failed  repeat  x_ideal";

/// One table row.
fn row(r: &TaskResult) -> String {
    let pass = if r.passed {
        "PASS"
    } else if r.timed_out {
        "TIME"
    } else {
        "fail"
    };
    let claimed = if r.false_success {
        format!("{} (FALSE)", r.claimed)
    } else {
        r.claimed.clone()
    };
    format!(
        "{:<20} {:<11} {:<13} {:<4}  {:<14} {:>9.1} {:>6} {:>8} {:>8} {:>8} {:>6} {:>7} {:>7} {:>8}",
        r.name,
        r.lang,
        r.kind,
        pass,
        claimed,
        r.wall_secs,
        r.counts.model_calls,
        r.counts.prompt_tokens,
        r.counts.cached_tokens,
        r.counts.output_tokens,
        r.counts.tool_calls,
        r.counts.failed_tool_calls,
        r.counts.max_repeated_call,
        r.ideal_secs
            .filter(|i| *i > 0.0)
            .map_or("-".to_string(), |i| format!("{:.1}", r.wall_secs / i))
    )
}

/// Sums of the per-task numbers.
#[derive(Serialize, Default)]
struct Totals {
    /// Tasks run.
    tasks: usize,
    /// Tasks whose test passed.
    passed: usize,
    /// Tasks killed at the timeout.
    timed_out: usize,
    /// Tasks tandem said were done (exit 0) whose own test fails.
    false_successes: usize,
    /// Seconds of agent time.
    wall_secs: f64,
    /// Model requests.
    model_calls: u64,
    /// Prompt tokens.
    prompt_tokens: u64,
    /// Cached prompt tokens.
    cached_tokens: u64,
    /// Output tokens.
    output_tokens: u64,
    /// Tool calls.
    tool_calls: u64,
    /// Failed tool calls.
    failed_tool_calls: u64,
    /// Seconds the tokens would take at llama-bench speed (when given).
    ideal_secs: Option<f64>,
    /// Tasks (of those that ran) whose longest run of one identical tool call was 3 or more.
    repeating_sessions: usize,
    /// Pass counts by language.
    by_lang: HashMap<String, (usize, usize)>,
}

/// Adds up the results.
fn totals(results: &[TaskResult]) -> Totals {
    let mut t = Totals {
        tasks: results.len(),
        ..Totals::default()
    };
    for r in results {
        t.passed += usize::from(r.passed);
        t.timed_out += usize::from(r.timed_out);
        t.false_successes += usize::from(r.false_success);
        t.wall_secs += r.wall_secs;
        t.model_calls += r.counts.model_calls;
        t.prompt_tokens += r.counts.prompt_tokens;
        t.cached_tokens += r.counts.cached_tokens;
        t.output_tokens += r.counts.output_tokens;
        t.tool_calls += r.counts.tool_calls;
        t.failed_tool_calls += r.counts.failed_tool_calls;
        t.repeating_sessions += usize::from(r.counts.max_repeated_call >= 3);
        if let Some(i) = r.ideal_secs {
            t.ideal_secs = Some(t.ideal_secs.unwrap_or(0.0) + i);
        }
        let e = t.by_lang.entry(r.lang.clone()).or_default();
        e.0 += usize::from(r.passed);
        e.1 += 1;
    }
    t
}

fn main() -> Result<()> {
    let args = Args::parse();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&args.tasks)
        .with_context(|| format!("reading the tasks dir {}", args.tasks.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("task.toml").is_file())
        .filter(|p| !args.from_plan || p.join("plan.json").is_file())
        .filter(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            args.filter
                .as_deref()
                .is_none_or(|f| name.is_some_and(|n| n.contains(f)))
        })
        .collect();
    dirs.sort();
    if dirs.is_empty() {
        bail!("no tasks in {} match", args.tasks.display());
    }
    let (model, tandem) = if args.agent == "tandem" {
        let tandem = match &args.tandem {
            Some(p) => std::path::absolute(p)?,
            None => default_tandem()?,
        };
        if !tandem.is_file() {
            bail!(
                "{} is not built (cargo build with the profile of this runner, or pass --tandem PATH)",
                tandem.display()
            );
        }
        (resolve_model(&args.model)?, tandem)
    } else {
        (PathBuf::new(), PathBuf::new())
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let logs = std::path::absolute(
        args.logs
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("evals/runs/{now}"))),
    )?;
    std::fs::create_dir_all(&logs)?;
    let agent = args.agent.clone();
    let model_name = if agent == "aider" {
        format!("openai/{} at {}", args.aider_model, args.api_base)
    } else {
        model.display().to_string()
    };
    eprintln!(
        "{} tasks, agent {agent}, model {model_name}, logs in {}",
        dirs.len(),
        logs.display()
    );
    let runner = Runner {
        args,
        model,
        tandem,
        logs,
    };

    // The report as it stands: written after every task, so a run cut short keeps what it measured.
    let write_report = |results: &[TaskResult], t: &Totals, complete: bool| -> Result<()> {
        let Some(path) = &runner.args.json else {
            return Ok(());
        };
        let report = serde_json::json!({
            "agent": agent,
            "model": model_name,
            "started_unix": now,
            "timeout_secs": runner.args.timeout_secs,
            "complete": complete,
            "tasks": results,
            "totals": t,
        });
        let tmp = path.with_extension("json.partial");
        std::fs::write(&tmp, serde_json::to_string_pretty(&report)? + "\n")
            .and_then(|()| std::fs::rename(&tmp, path))
            .with_context(|| format!("writing {}", path.display()))
    };
    println!("{HEADER}");
    let mut results = Vec::new();
    for dir in &dirs {
        let r = runner
            .run_task(dir)
            .with_context(|| format!("task {}", dir.display()))?;
        println!("{}", row(&r));
        results.push(r);
        write_report(&results, &totals(&results), results.len() == dirs.len())?;
    }
    let t = totals(&results);
    println!(
        "total: {}/{} passed ({} timed out, {} false successes), {:.1} s, {} model calls, {} prompt / {} cached / {} output tokens, {} tool calls ({} failed), {} sessions repeating one call 3+ times in a row",
        t.passed,
        t.tasks,
        t.timed_out,
        t.false_successes,
        t.wall_secs,
        t.model_calls,
        t.prompt_tokens,
        t.cached_tokens,
        t.output_tokens,
        t.tool_calls,
        t.failed_tool_calls,
        t.repeating_sessions
    );
    if let Some(ideal) = t.ideal_secs.filter(|i| *i > 0.0) {
        println!(
            "  {:.1} s at llama-bench speed: wall time is {:.1}x that",
            ideal,
            t.wall_secs / ideal
        );
    }
    let mut langs: Vec<_> = t.by_lang.iter().collect();
    langs.sort();
    for (lang, (passed, n)) in langs {
        println!("  {lang}: {passed}/{n}");
    }
    if let Some(path) = &runner.args.json {
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_tandem_events() {
        let jsonl = r#"{"seq":1,"type":"session_started"}
{"seq":2,"type":"usage","usage":{"input_tokens":100,"cached_input_tokens":50,"cache_write_tokens":0,"output_tokens":20}}
{"seq":3,"type":"tool_call","tool":"read_file","arguments":{"path":"a"}}
{"seq":4,"type":"tool_result","ok":false}
{"seq":5,"type":"tool_call","tool":"read_file","arguments":{"path":"a"}}
{"seq":6,"type":"tool_result","ok":true}
{"seq":7,"type":"usage","usage":{"input_tokens":10,"cached_input_tokens":140,"cache_write_tokens":0,"output_tokens":5}}
not json
{"seq":8,"type":"session_finished","outcome":"done"}"#;
        let c = count_events(jsonl);
        assert_eq!(c.model_calls, 2);
        assert_eq!(c.prompt_tokens, 300);
        assert_eq!(c.cached_tokens, 190);
        assert_eq!(c.output_tokens, 25);
        assert_eq!(c.tool_calls, 2);
        assert_eq!(c.failed_tool_calls, 1);
        assert_eq!(c.max_repeated_call, 2);
        assert_eq!(c.outcome.as_deref(), Some("done"));
    }

    #[test]
    fn every_task_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("evals/tasks");
        let mut langs: HashMap<String, usize> = HashMap::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let task = entry.unwrap().path();
            let text = std::fs::read_to_string(task.join("task.toml")).unwrap();
            let spec: TaskSpec = toml::from_str(&text).unwrap();
            assert!(
                task.join("repo").is_dir() && task.join("solution").is_dir(),
                "{}",
                task.display()
            );
            assert!(
                !spec.prompt.is_empty() && !spec.test.is_empty(),
                "{}",
                task.display()
            );
            assert!(
                [
                    "implement",
                    "off-by-one",
                    "rename",
                    "cli-option",
                    "failing-test",
                    "other"
                ]
                .contains(&spec.kind.as_str()),
                "{}: kind {}",
                task.display(),
                spec.kind
            );
            for f in &spec.files {
                assert!(
                    task.join("repo").join(f).is_file(),
                    "{}: {f}",
                    task.display()
                );
            }
            // A saved plan (`--from-plan`) is one tandem executes: it parses, and each file it names is in the
            // repository or in the solution (a file the task creates).
            if task.join("plan.json").is_file() {
                let (_, plan) = tandem::exec::load_saved_plan(&task.join("plan.json"))
                    .unwrap_or_else(|e| panic!("{}: {e:#}", task.display()));
                for f in plan.steps.iter().flat_map(|s| &s.files) {
                    assert!(
                        task.join("repo").join(f).is_file()
                            || task.join("solution").join(f).is_file(),
                        "{}: the plan names {f}",
                        task.display()
                    );
                }
            }
            *langs.entry(spec.lang).or_default() += 1;
        }
        for lang in ["python", "javascript", "rust"] {
            assert!(
                langs.get(lang).copied().unwrap_or(0) >= 7,
                "{lang}: {langs:?}"
            );
        }
    }

    #[test]
    fn restores_what_the_solution_leaves_alone() {
        let t = tempfile::tempdir().unwrap();
        let (task, ws) = (t.path().join("task"), t.path().join("ws"));
        std::fs::create_dir_all(task.join("repo/tests")).unwrap();
        std::fs::create_dir_all(task.join("solution")).unwrap();
        std::fs::write(task.join("repo/lib.py"), "old").unwrap();
        std::fs::write(task.join("repo/tests/t.py"), "assert f()").unwrap();
        std::fs::write(task.join("solution/lib.py"), "new").unwrap();
        copy_tree(&task.join("repo"), &ws).unwrap();
        std::fs::write(ws.join("lib.py"), "agent's").unwrap();
        std::fs::write(ws.join("tests/t.py"), "pass").unwrap();
        assert_eq!(restore_untouched(&task, &ws).unwrap(), ["tests/t.py"]);
        assert_eq!(
            std::fs::read_to_string(ws.join("tests/t.py")).unwrap(),
            "assert f()"
        );
        assert_eq!(
            std::fs::read_to_string(ws.join("lib.py")).unwrap(),
            "agent's"
        );
        assert!(restore_untouched(&task, &ws).unwrap().is_empty());
    }

    #[test]
    fn a_done_whose_test_fails_is_counted_as_a_false_success() {
        let result = |name: &str, passed: bool, claimed: &str, false_success: bool| TaskResult {
            name: name.into(),
            lang: "python".into(),
            passed,
            claimed: claimed.into(),
            false_success,
            ..TaskResult::default()
        };
        let results = [
            result("a", true, "done", false),
            result("b", false, "done", true),
            result("c", false, "check failed", false),
        ];
        let t = totals(&results);
        assert_eq!((t.passed, t.false_successes), (1, 1));
        assert!(
            row(&results[1]).contains("done (FALSE)"),
            "{}",
            row(&results[1])
        );
        assert!(row(&results[2]).contains("check failed"));
    }

    #[test]
    fn ideal_time() {
        assert_eq!(ideal_secs(100, 10, Some(50.0), Some(2.0)), Some(7.0));
        assert_eq!(ideal_secs(100, 10, None, Some(2.0)), None);
    }

    #[test]
    fn counts_aider_output() {
        let out = "Tokens: 2.3k sent, 120 received.\nfoo failed to match\nTokens: 950 sent, 400 cache hit, 1.1k received. Cost: $0.00\n";
        let c = count_aider(out);
        assert_eq!(c.model_calls, 2);
        assert_eq!(c.prompt_tokens, 3250);
        assert_eq!(c.output_tokens, 1220);
        assert_eq!(c.cached_tokens, 400);
        assert_eq!(c.failed_tool_calls, 1);
    }
}
