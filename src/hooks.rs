//! Hooks: the person's own commands, run at fixed points of a session with the event as JSON on stdin, in the
//! shape Claude Code and Codex users know. Exit code 2, or `{"decision": "block", "reason": …}` on stdout
//! (or Claude Code's `hookSpecificOutput.permissionDecision = "deny"`), blocks what a `PreToolUse` or
//! `UserPromptSubmit` hook ran before, with the reason the model (or the person) sees. A hook that fails
//! otherwise, or runs past its timeout, is reported and blocks nothing.

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::config::{Config, HookEvent, Source};

/// Most bytes of a hook's stdout and stderr kept (the rest is cut, and the cut says so).
const MAX_OUTPUT: usize = 16 * 1024;
/// A hook's timeout when its config gives none.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// One configured hook, ready to run.
#[derive(Debug, Clone)]
pub struct Hook {
    /// Its name (`[hooks.NAME]`).
    pub name: String,
    /// The event it runs on.
    pub event: HookEvent,
    /// What tool names it runs for (`None`: all).
    matcher: Option<regex::Regex>,
    /// The matcher as written.
    pub matcher_text: String,
    /// The shell command.
    pub command: String,
    /// Its timeout.
    pub timeout: Duration,
    /// Where it was configured.
    pub origin: Source,
}

/// What one hook run did.
#[derive(Debug, Clone, PartialEq)]
pub struct Ran {
    /// The hook's name.
    pub name: String,
    /// Its exit code (`None`: killed, by its timeout or a signal).
    pub exit: Option<i32>,
    /// Whether it ran past its timeout.
    pub timed_out: bool,
    /// Its stdout, cut to [`MAX_OUTPUT`].
    pub stdout: String,
    /// Its stderr, cut to [`MAX_OUTPUT`].
    pub stderr: String,
    /// Why it blocks what it ran before, if it does.
    pub blocked: Option<String>,
    /// Feedback for the model from a `PostToolUse` hook that exited 2 (its stderr).
    pub feedback: Option<String>,
    /// Context for the planner from a `SessionStart` or `UserPromptSubmit` hook that exited 0: its
    /// `hookSpecificOutput.additionalContext`, or its stdout when that is not JSON.
    pub context: Option<String>,
}

/// The hooks in force for a session, and what they need to run.
#[derive(Debug, Clone, Default)]
pub struct Hooks {
    hooks: Vec<Hook>,
    /// Variables a hook never gets: the providers' key variables.
    withheld: Vec<String>,
    /// The values of the configured keys (a variable holding one is withheld whatever its name).
    key_values: Vec<String>,
}

/// Claude Code's names for tandem's tools, so a matcher written for one matches the other.
fn alias(tool: &str) -> Option<&'static str> {
    Some(match tool {
        "edit" => "Edit",
        "write_file" => "Write",
        "run" => "Bash",
        "read_file" => "Read",
        "grep" => "Grep",
        "list_dir" => "LS",
        "outline" => "Read",
        _ => return None,
    })
}

impl Hooks {
    /// The enabled hooks of `config` (an untrusted project's were already left out by the config's loader).
    pub fn from_config(config: &Config) -> Result<Hooks, String> {
        let mut hooks = Vec::new();
        for (name, h) in &config.values.hooks {
            if !h.enabled {
                continue;
            }
            if h.command.trim().is_empty() {
                return Err(format!("hooks.{name}: `command` is empty"));
            }
            let matcher_text = h.matcher.trim().to_string();
            let matcher = match matcher_text.as_str() {
                "" | "*" => None,
                m => Some(
                    regex::Regex::new(&format!("^(?:{m})$"))
                        .map_err(|e| format!("hooks.{name}: `matcher` is not a regex: {e}"))?,
                ),
            };
            hooks.push(Hook {
                name: name.clone(),
                event: h.event,
                matcher,
                matcher_text,
                command: h.command.clone(),
                timeout: match h.timeout_secs {
                    0 => DEFAULT_TIMEOUT,
                    s => Duration::from_secs(s),
                },
                origin: config.origin(&format!("hooks.{name}.command")),
            });
        }
        let mut withheld = config.provider_key_vars();
        withheld.extend(["OPENAI_API_KEY".into(), "ANTHROPIC_API_KEY".into()]);
        let key_values = config
            .values
            .providers
            .keys()
            .filter_map(|p| config.api_key(p))
            .map(|k| k.secret.expose().to_string())
            .filter(|v| v.len() >= 8)
            .collect();
        Ok(Hooks {
            hooks,
            withheld,
            key_values,
        })
    }

    /// Every hook in force.
    pub fn all(&self) -> &[Hook] {
        &self.hooks
    }

    /// Whether any hook runs on `event` (for `tool`, on a tool event).
    pub fn any(&self, event: HookEvent, tool: Option<&str>) -> bool {
        self.hooks.iter().any(|h| h.applies(event, tool))
    }

    /// Runs every hook for `event` (and `tool`) in config order, each with `payload` on stdin; stops at the
    /// first that blocks.
    pub async fn run(
        &self,
        event: HookEvent,
        tool: Option<&str>,
        payload: &Value,
        dir: &Path,
    ) -> Vec<Ran> {
        let mut out = Vec::new();
        for hook in self.hooks.iter().filter(|h| h.applies(event, tool)) {
            let ran = hook.run(payload, dir, self.env()).await;
            let blocked = ran.blocked.is_some();
            out.push(ran);
            if blocked {
                break;
            }
        }
        out
    }

    /// The environment hooks run with: tandem's own, without the providers' keys.
    fn env(&self) -> Vec<(OsString, OsString)> {
        std::env::vars_os()
            .filter(|(k, v)| {
                let name = k.to_string_lossy();
                let value = v.to_string_lossy();
                !self.withheld.iter().any(|w| *w == name)
                    && !self
                        .key_values
                        .iter()
                        .any(|key| value.contains(key.as_str()))
            })
            .collect()
    }
}

impl Hook {
    fn applies(&self, event: HookEvent, tool: Option<&str>) -> bool {
        if self.event != event {
            return false;
        }
        match (&self.matcher, tool) {
            (None, _) | (_, None) => true,
            (Some(m), Some(t)) => m.is_match(t) || alias(t).is_some_and(|a| m.is_match(a)),
        }
    }

    async fn run(&self, payload: &Value, dir: &Path, env: Vec<(OsString, OsString)>) -> Ran {
        let mut ran = Ran {
            name: self.name.clone(),
            exit: None,
            timed_out: false,
            stdout: String::new(),
            stderr: String::new(),
            blocked: None,
            feedback: None,
            context: None,
        };
        let mut child = match crate::sandbox::spawn::hook(&self.command, dir, env).spawn() {
            Ok(c) => c,
            Err(e) => {
                ran.stderr = format!("could not start: {e}");
                return ran;
            }
        };
        if let Some(mut stdin) = child.stdin.take() {
            let bytes = payload.to_string().into_bytes();
            // A hook that does not read its stdin closes the pipe early: not an error.
            let _ = stdin.write_all(&bytes).await;
        }
        let pid = child.id();
        match tokio::time::timeout(self.timeout, child.wait_with_output()).await {
            Ok(Ok(output)) => {
                ran.exit = output.status.code();
                ran.stdout = cut(&output.stdout);
                ran.stderr = cut(&output.stderr);
            }
            Ok(Err(e)) => ran.stderr = format!("could not wait for it: {e}"),
            Err(_) => {
                ran.timed_out = true;
                if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
                    // The hook runs in its own process group: end it and what it started.
                    // SAFETY: kill has no memory preconditions.
                    unsafe {
                        libc::kill(-pid, libc::SIGKILL);
                    }
                }
            }
        }
        let decision = decision(&ran.stdout);
        match (self.event, ran.exit) {
            (HookEvent::PreToolUse | HookEvent::UserPromptSubmit, Some(2)) => {
                ran.blocked = Some(reason_or(&ran.stderr, &self.name));
            }
            (HookEvent::PostToolUse, Some(2)) => {
                ran.feedback = Some(reason_or(&ran.stderr, &self.name));
            }
            (HookEvent::PreToolUse | HookEvent::UserPromptSubmit, Some(0)) => {
                ran.blocked = decision.map(|r| reason_or(&r, &self.name));
            }
            (HookEvent::PostToolUse, Some(0)) => {
                ran.feedback = decision.map(|r| reason_or(&r, &self.name));
            }
            _ => {}
        }
        if matches!(
            self.event,
            HookEvent::SessionStart | HookEvent::UserPromptSubmit
        ) && ran.exit == Some(0)
            && ran.blocked.is_none()
        {
            ran.context = context(&ran.stdout);
        }
        ran
    }
}

/// A blocking decision in a hook's JSON stdout, with its reason: `{"decision": "block", "reason": …}`, or
/// Claude Code's `{"hookSpecificOutput": {"permissionDecision": "deny", "permissionDecisionReason": …}}`.
fn decision(stdout: &str) -> Option<String> {
    let value: Value = serde_json::from_str(stdout.trim()).ok()?;
    if value["decision"] == "block" {
        return Some(value["reason"].as_str().unwrap_or_default().to_string());
    }
    let specific = &value["hookSpecificOutput"];
    if specific["permissionDecision"] == "deny" {
        return Some(
            specific["permissionDecisionReason"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
    }
    None
}

/// The context a hook's stdout adds: Claude Code's `hookSpecificOutput.additionalContext` in JSON, or the text
/// itself when it is not JSON; nothing when it is empty.
fn context(stdout: &str) -> Option<String> {
    let text = stdout.trim();
    if text.is_empty() {
        return None;
    }
    match serde_json::from_str::<Value>(text) {
        Ok(value) => value["hookSpecificOutput"]["additionalContext"]
            .as_str()
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_string),
        Err(_) => Some(text.to_string()),
    }
}

fn reason_or(reason: &str, name: &str) -> String {
    let reason = reason.trim();
    if reason.is_empty() {
        format!("the hook `{name}` gave no reason")
    } else {
        reason.to_string()
    }
}

fn cut(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    if text.len() <= MAX_OUTPUT {
        return text.into_owned();
    }
    let mut end = MAX_OUTPUT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}\n[cut at {MAX_OUTPUT} bytes]", &text[..end])
}

/// The JSON a hook reads on stdin: the session, the workspace, the event's name and its own fields.
pub fn payload(
    session: &str,
    transcript: &Path,
    cwd: &Path,
    event: HookEvent,
    fields: Value,
) -> Value {
    let mut out = json!({
        "session_id": session,
        "transcript_path": transcript,
        "cwd": cwd,
        "hook_event_name": event.as_str(),
    });
    if let (Value::Object(o), Value::Object(f)) = (&mut out, fields) {
        o.extend(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(event: HookEvent, matcher: &str, command: &str, timeout: Duration) -> Hook {
        Hook {
            name: "h".into(),
            event,
            matcher: (!matcher.is_empty())
                .then(|| regex::Regex::new(&format!("^(?:{matcher})$")).unwrap()),
            matcher_text: matcher.into(),
            command: command.into(),
            timeout,
            origin: Source::Default,
        }
    }

    #[test]
    fn matchers_take_tandems_names_and_claude_codes() {
        let h = hook(HookEvent::PreToolUse, "Bash|Edit", "true", DEFAULT_TIMEOUT);
        assert!(h.applies(HookEvent::PreToolUse, Some("run")));
        assert!(h.applies(HookEvent::PreToolUse, Some("edit")));
        assert!(!h.applies(HookEvent::PreToolUse, Some("write_file")));
        assert!(!h.applies(HookEvent::PostToolUse, Some("run")));
        let all = hook(HookEvent::PreToolUse, "", "true", DEFAULT_TIMEOUT);
        assert!(all.applies(HookEvent::PreToolUse, Some("mcp__git__log")));
        // Matched whole: `run` does not match `running`.
        let run = hook(HookEvent::PreToolUse, "run", "true", DEFAULT_TIMEOUT);
        assert!(!run.applies(HookEvent::PreToolUse, Some("running")));
    }

    #[test]
    fn decisions_in_json_block_with_their_reason() {
        assert_eq!(
            decision(r#"{"decision": "block", "reason": "no"}"#),
            Some("no".into())
        );
        assert_eq!(
            decision(
                r#"{"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "deny", "permissionDecisionReason": "not here"}}"#
            ),
            Some("not here".into())
        );
        assert_eq!(decision(r#"{"decision": "approve"}"#), None);
        assert_eq!(decision("plain words"), None);
        // Context: Claude Code's field in JSON, else the text itself.
        assert_eq!(context("  branch: main\n"), Some("branch: main".into()));
        assert_eq!(
            context(r#"{"hookSpecificOutput": {"additionalContext": "ticket 7"}}"#),
            Some("ticket 7".into())
        );
        assert_eq!(context(r#"{"decision": "approve"}"#), None);
        assert_eq!(context(""), None);
    }

    #[tokio::test]
    async fn exit_two_blocks_other_failures_do_not_and_a_timeout_ends_the_hook_and_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let payload = json!({"tool_name": "run"});
        let env: Vec<(OsString, OsString)> = std::env::vars_os().collect();
        let blocks = hook(
            HookEvent::PreToolUse,
            "",
            "cat >/dev/null; echo nope >&2; exit 2",
            DEFAULT_TIMEOUT,
        );
        let ran = blocks.run(&payload, dir.path(), env.clone()).await;
        assert_eq!((ran.exit, ran.blocked.as_deref()), (Some(2), Some("nope")));
        let fails = hook(HookEvent::PreToolUse, "", "exit 1", DEFAULT_TIMEOUT);
        let ran = fails.run(&payload, dir.path(), env.clone()).await;
        assert_eq!((ran.exit, ran.blocked), (Some(1), None));
        let marker = dir.path().join("late");
        let slow = hook(
            HookEvent::PreToolUse,
            "",
            &format!("(sleep 3; touch {}) & sleep 5", marker.display()),
            Duration::from_millis(300),
        );
        let started = std::time::Instant::now();
        let ran = slow.run(&payload, dir.path(), env).await;
        assert!(ran.timed_out && ran.blocked.is_none(), "{ran:?}");
        assert!(started.elapsed() < Duration::from_secs(2));
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert!(!marker.exists(), "a child of the timed-out hook lived on");
    }
}
