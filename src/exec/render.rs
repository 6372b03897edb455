//! Headless output: progress lines on stderr (or every event as a JSON line on stdout) and a final summary.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use crate::protocol::{Event, EventMsg, Outcome, StepStatus, Summary};

/// Turns session events into what a headless user sees.
pub struct Renderer {
    json: bool,
    tty: bool,
    quiet: bool,
    edits: HashMap<u64, (usize, usize)>,
    routes: BTreeMap<String, u32>,
    /// Requests to models without a price (not in "spent").
    unpriced: BTreeMap<String, u32>,
    outcome: Option<(Outcome, Summary)>,
    verify: Option<(String, bool)>,
    no_local_model: bool,
    in_flight: Option<(String, std::time::Instant, bool)>,
    spinner_shown: bool,
    frame: usize,
    local: Option<std::sync::Arc<crate::model::local_provider::LocalProvider>>,
}

const SPINNER: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

fn first_line(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or_default();
    let mut out: String = line.chars().take(max).collect();
    if line.chars().count() > max || text.lines().count() > 1 {
        out.push('…');
    }
    out
}

impl Renderer {
    /// A renderer; `json` prints events as JSON lines on stdout, `tty` marks stderr as a terminal.
    pub fn new(json: bool, tty: bool) -> Self {
        Renderer {
            json,
            tty,
            quiet: false,
            edits: HashMap::new(),
            routes: BTreeMap::new(),
            unpriced: BTreeMap::new(),
            outcome: None,
            verify: None,
            no_local_model: false,
            in_flight: None,
            spinner_shown: false,
            frame: 0,
            local: None,
        }
    }

    /// Shows what the local model is doing (loading, reading the prompt, generating) on the progress line.
    pub fn with_local(
        mut self,
        local: std::sync::Arc<crate::model::local_provider::LocalProvider>,
    ) -> Self {
        self.local = Some(local);
        self
    }

    /// Redraws the progress line on a terminal while a model request is in flight.
    pub fn tick(&mut self) {
        if !self.tty || self.json || self.quiet {
            return;
        }
        if let Some((label, since, local)) = &self.in_flight {
            let frame = SPINNER[self.frame % SPINNER.len()];
            let doing = match (&self.local, local) {
                (Some(l), true) => match l.activity() {
                    crate::model::local_provider::Activity::Idle => String::new(),
                    a => format!(" · {a}"),
                },
                _ => String::new(),
            };
            let line = format!(
                "{frame} {label} · {:.0}s{doing}",
                since.elapsed().as_secs_f64()
            );
            // One line, never wider than the terminal (a wrapped line would not be cleared).
            let width = crossterm::terminal::size().map_or(80, |(w, _)| usize::from(w));
            let line: String = line.chars().take(width.saturating_sub(1)).collect();
            crate::text::progress(Some(&line));
            self.frame += 1;
            self.spinner_shown = true;
        }
    }

    /// Removes the progress line, if one is shown.
    pub fn clear_spinner(&mut self) {
        if self.spinner_shown {
            crate::text::progress(None);
            self.spinner_shown = false;
        }
    }

    /// A renderer that prints only JSON events (if asked) and problems: the loop prints a line per iteration.
    pub fn quiet(json: bool) -> Self {
        Renderer {
            quiet: true,
            ..Renderer::new(json, false)
        }
    }

    /// Whether the session failed because the local model was missing.
    pub fn no_local_model(&self) -> bool {
        self.no_local_model
    }

    /// Shows one event.
    pub fn event(&mut self, event: &Event) {
        if self.json
            && let Ok(line) = serde_json::to_string(event)
        {
            crate::outln!("{}", crate::text::json_terminal_safe(&line));
        }
        let line = match &event.msg {
            EventMsg::Route { decision } => {
                self.in_flight = Some((
                    format!(
                        "{} on {}/{}",
                        decision.role.as_str(),
                        decision.provider,
                        decision.model
                    ),
                    std::time::Instant::now(),
                    decision.is_local(),
                ));
                *self
                    .routes
                    .entry(format!(
                        "{} → {}/{}",
                        decision.role.as_str(),
                        decision.provider,
                        decision.model
                    ))
                    .or_default() += 1;
                Some(format!("{decision}"))
            }
            EventMsg::Usage {
                usd: None, model, ..
            } => {
                *self.unpriced.entry(model.clone()).or_default() += 1;
                None
            }
            EventMsg::ProviderFailed { provider, error } => {
                Some(format!("  ! {provider}: {error}"))
            }
            EventMsg::PlanReady { plan, round } => {
                let mut s = format!("plan (round {round}): {}", plan.summary);
                for step in &plan.steps {
                    let _ = write!(s, "\n  {}. {}", step.id, step.goal);
                    if step.changes_tests {
                        s.push_str(" (may change existing tests)");
                    }
                }
                Some(s)
            }
            EventMsg::Replanning { round, reason } => Some(format!(
                "re-planning (round {round}): {}",
                first_line(reason, 120)
            )),
            EventMsg::StepStarted {
                step,
                goal,
                attempt,
            } => Some(if *attempt > 1 {
                format!("step {step}: {goal} (attempt {attempt})")
            } else {
                format!("step {step}: {goal}")
            }),
            EventMsg::Escalated { step, reason } => Some(format!(
                "  ↑ step {step} goes to the planner's provider: {}",
                first_line(reason, 100)
            )),
            EventMsg::ToolCall {
                tool, arguments, ..
            } => {
                let detail = ["path", "command", "pattern"]
                    .iter()
                    .find_map(|k| arguments.get(*k).and_then(|v| v.as_str()))
                    .unwrap_or("");
                (self.tty
                    || !matches!(tool.as_str(), "read_file" | "list_dir" | "grep" | "outline"))
                .then(|| format!("  · {tool} {}", first_line(detail, 80)))
            }
            EventMsg::ToolResult {
                ok: false,
                tool,
                output,
                ..
            } => Some(format!("    ✗ {tool}: {}", first_line(output, 120))),
            EventMsg::EditProposed { edit } => {
                let added = edit.hunks.iter().map(|h| h.added).sum();
                let removed = edit.hunks.iter().map(|h| h.removed).sum();
                self.edits.insert(edit.id, (added, removed));
                None
            }
            EventMsg::EditApplied { edit, path, .. } => {
                let (a, r) = self.edits.get(edit).copied().unwrap_or_default();
                Some(format!("  ✎ {path} (+{a} -{r})"))
            }
            EventMsg::EditRejected { path, reason, .. } => Some(format!(
                "  ✗ edit of {path} not applied: {}",
                first_line(reason, 100)
            )),
            EventMsg::Undone { checkpoint, files } => Some(format!(
                "  ↶ undid checkpoint {checkpoint}: {}",
                files.join(", ")
            )),
            EventMsg::StepFinished {
                status: StepStatus::Done,
                summary,
                ..
            } => Some(format!("  ✓ {}", first_line(summary, 120))),
            EventMsg::StepFinished {
                status: StepStatus::Failed,
                summary,
                ..
            } => Some(format!("  ✗ {}", first_line(summary, 120))),
            EventMsg::VerifyStarted { command } => Some(format!("verify: {command}")),
            EventMsg::VerifyFinished {
                command,
                passed,
                exit_code,
                output,
                verified,
                ..
            } => {
                self.verify = Some((command.clone(), *passed));
                if *passed {
                    Some(format!("  ✓ {verified}"))
                } else if !verified.is_empty() {
                    Some(format!("  ✗ {verified}"))
                } else {
                    let tail: Vec<&str> = output.lines().rev().take(8).collect();
                    let tail: Vec<&str> = tail.into_iter().rev().collect();
                    Some(format!(
                        "  ✗ failed (exit {exit_code:?})\n    {}",
                        tail.join("\n    ")
                    ))
                }
            }
            EventMsg::ApprovalDecided { by, decision, .. } if by != "policy: auto" => {
                Some(format!("  approval: {decision:?} ({by})"))
            }
            EventMsg::Compacted { summary, turns } => Some(format!(
                "compacted {turns} earlier turn(s) into a summary:\n{summary}"
            )),
            EventMsg::Warning { message } => Some(format!("warning: {message}")),
            EventMsg::Error { message } => {
                if message.contains("local model is unavailable") {
                    self.no_local_model = true;
                }
                Some(format!("error: {message}"))
            }
            EventMsg::SessionFinished { outcome, summary } => {
                self.outcome = Some((*outcome, summary.clone()));
                None
            }
            _ => None,
        };
        if matches!(
            event.msg,
            EventMsg::Usage { .. } | EventMsg::SessionFinished { .. } | EventMsg::Error { .. }
        ) {
            self.in_flight = None;
        }
        let important = matches!(event.msg, EventMsg::Error { .. } | EventMsg::Warning { .. });
        if let Some(line) = line
            && !self.json
            && (!self.quiet || important)
        {
            self.clear_spinner();
            crate::errln!("tandem: {}", crate::text::terminal_safe(&line));
        }
    }

    /// The final summary for stdout.
    pub fn summary(&self) -> String {
        let Some((outcome, s)) = &self.outcome else {
            return "The session ended without a result.\n".into();
        };
        let mut out = String::new();
        let headline = match outcome {
            Outcome::Done => "Done.",
            Outcome::VerifyFailed => "Finished, but verification still fails.",
            Outcome::Failed => "Failed.",
            Outcome::Interrupted => "Interrupted; every edit was written whole or not at all.",
            Outcome::Planned => "Planned.",
            Outcome::Unverified => {
                "Unverified: nothing was changed and no check shows the task was already done."
            }
        };
        let _ = writeln!(out, "{headline}");
        if s.changed_files.is_empty() {
            let _ = writeln!(out, "Changed: nothing");
        } else {
            let _ = writeln!(out, "Changed: {}", s.changed_files.join(", "));
        }
        match &self.verify {
            _ if !s.verified.is_empty() => {
                let _ = writeln!(out, "Verify: {}", s.verified);
            }
            Some((cmd, true)) => {
                let _ = writeln!(out, "Verify: `{cmd}` passed");
            }
            Some((cmd, false)) => {
                let _ = writeln!(out, "Verify: `{cmd}` failed");
            }
            None => {
                let _ = writeln!(out, "Verify: not run");
            }
        }
        for (route, n) in &self.routes {
            let _ = writeln!(out, "Route: {route} ×{n}");
        }
        let u = &s.usage;
        let unpriced = if self.unpriced.is_empty() {
            String::new()
        } else {
            let models: Vec<String> = self
                .unpriced
                .iter()
                .map(|(m, n)| format!("{m} ×{n}"))
                .collect();
            format!(" + unpriced: {}", models.join(", "))
        };
        let _ = writeln!(
            out,
            "Tokens: {} in ({} cached), {} out; spent ${:.4}{unpriced}, saved ${:.4}",
            u.total_input(),
            u.cached_input_tokens,
            u.output_tokens,
            s.usd,
            s.saved_usd
        );
        crate::text::terminal_safe(&out).into_owned()
    }
}
