//! What a model has already done in one planning round or step attempt, so that a small model that repeats
//! itself or reads without acting is moved on instead of spending its turns.

use std::collections::HashMap;

use crate::model::ToolSpec;

/// Tools that only look; withheld from a reply that must act.
const LOOKING: [&str; 4] = ["read_file", "list_dir", "grep", "outline"];

/// Tools that end the round; never answered from memory.
const ENDING: [&str; 3] = ["step_done", "step_failed", "submit_plan"];

/// The planner's answered repeats (since the workspace last changed) after which its round is stuck.
pub const REPEATS_BEFORE_STUCK: u32 = 2;

/// Characters of an earlier result quoted back to a model that repeats the call.
const QUOTED: usize = 400;

/// The calls a round has made and whether they moved anything.
#[derive(Debug)]
pub struct Progress {
    /// Each call made since the workspace last changed, by (tool, canonical arguments): the start of its result.
    seen: HashMap<(String, String), String>,
    idle_turns: u32,
    idle_limit: u32,
    stuck_after: u32,
    repeats: u32,
    last_repeat: Option<String>,
}

/// What to do with a call before it is dispatched.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Run it.
    Run,
    /// Do not run it: it was made before with nothing changed since; the text says what it gave and what to do
    /// instead.
    Repeat(String),
}

impl Progress {
    /// A fresh round that must act after `idle_limit` turns without acting (or at the first repeat), and is
    /// stuck after `stuck_after` answered repeats.
    pub fn new(idle_limit: u32, stuck_after: u32) -> Progress {
        Progress {
            seen: HashMap::new(),
            idle_turns: 0,
            idle_limit: idle_limit.max(1),
            stuck_after: stuck_after.max(1),
            repeats: 0,
            last_repeat: None,
        }
    }

    /// Checks a call about to be made: one made before with the same arguments, with nothing changed since, is
    /// answered with what it gave instead of being run again (whatever the tool: a command that failed fails
    /// the same way).
    pub fn check(&mut self, tool: &str, arguments: &str, next: &str) -> Verdict {
        if ENDING.contains(&tool) {
            return Verdict::Run;
        }
        let Some(before) = self.seen.get(&(tool.to_string(), canonical(arguments))) else {
            return Verdict::Run;
        };
        self.repeats += 1;
        self.last_repeat = Some(format!("{tool} {}", canonical(arguments)));
        Verdict::Repeat(format!(
            "You already called {tool} with these arguments and nothing has changed since. It gave:\n{before}\n\
             Calling it again gives the same answer. {next}"
        ))
    }

    /// Records what a call gave; a successful edit, write or command that may write (not a read-only or test
    /// command) may have changed the workspace, which makes every earlier call worth making again.
    pub fn record(&mut self, tool: &str, arguments: &str, ok: bool, output: &str) {
        let writes = match tool {
            "edit" | "write_file" => true,
            "run" => !run_only_looks(arguments),
            _ => false,
        };
        if ok && writes {
            self.seen.clear();
            self.repeats = 0;
        }
        if !ENDING.contains(&tool) {
            let quoted: String = output.chars().take(QUOTED).collect();
            self.seen
                .insert((tool.to_string(), canonical(arguments)), quoted);
        }
    }

    /// Marks a call as made already (the brief carries its result).
    pub fn already_seen(&mut self, tool: &str, arguments: &str) {
        self.seen.insert(
            (tool.to_string(), canonical(arguments)),
            "(its result is in your brief above)".into(),
        );
    }

    /// Ends a model turn: `acted` when it changed the workspace or ran a command.
    pub fn end_turn(&mut self, acted: bool) {
        if acted {
            self.idle_turns = 0;
        } else {
            self.idle_turns += 1;
        }
    }

    /// Whether the model repeated a call since the workspace last changed: its next reply may only change a
    /// file or end the round (commands are withheld too, since a repeated look is often a command).
    pub fn must_change(&self) -> bool {
        self.repeats > 0
    }

    /// Whether the next reply must act (the looking tools are withheld from it).
    pub fn must_act(&self) -> bool {
        self.repeats > 0 || self.idle_turns >= self.idle_limit
    }

    /// The call the model keeps repeating, once it has been answered from memory as often as the round allows
    /// with nothing changed: the round should end rather than spend its turns.
    pub fn stuck(&self) -> Option<&str> {
        (self.repeats >= self.stuck_after)
            .then_some(self.last_repeat.as_deref())
            .flatten()
    }
}

/// `tools` without the looking ones: what a model that must act may call.
pub fn acting_tools(tools: Vec<ToolSpec>) -> Vec<ToolSpec> {
    tools
        .into_iter()
        .filter(|t| !LOOKING.contains(&t.name.as_str()))
        .collect()
}

/// `tools` without the looking ones and without `run`: what a model that repeated itself may call.
pub fn changing_tools(tools: Vec<ToolSpec>) -> Vec<ToolSpec> {
    acting_tools(tools)
        .into_iter()
        .filter(|t| t.name != "run")
        .collect()
}

/// Whether a `run` call's command only looks (reads, lists, searches, runs tests): a turn of such commands
/// is a turn of looking, not of acting.
pub fn run_only_looks(arguments: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(arguments)
        .ok()
        .and_then(|v| {
            v["command"]
                .as_str()
                .map(crate::sandbox::commands::only_looks)
        })
        .unwrap_or(false)
}

/// The arguments as canonical JSON (keys sorted, `./` dropped from paths), so `{"path":"./a.py"}` and
/// `{ "path": "a.py" }` are one call; text that is not JSON stays as it is.
fn canonical(arguments: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(arguments) {
        Ok(serde_json::Value::Object(map)) => {
            let sorted: std::collections::BTreeMap<String, serde_json::Value> = map
                .into_iter()
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("path", serde_json::Value::String(p)) => {
                            let trimmed = p.trim().trim_start_matches("./").trim_end_matches('/');
                            serde_json::Value::String(if trimmed.is_empty() {
                                ".".into()
                            } else {
                                trimmed.to_string()
                            })
                        }
                        (_, v) => v,
                    };
                    (k, v)
                })
                .collect();
            serde_json::to_string(&sorted).unwrap_or_else(|_| arguments.to_string())
        }
        _ => arguments.trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default profile's `idle_turns`.
    const IDLE_TURNS_BEFORE_FORCING: u32 = 3;

    #[test]
    fn a_repeated_call_is_answered_with_what_it_gave_and_forces_action() {
        let mut p = Progress::new(IDLE_TURNS_BEFORE_FORCING, REPEATS_BEFORE_STUCK);
        let args = r#"{"path":"a.py"}"#;
        assert_eq!(p.check("read_file", args, "Edit."), Verdict::Run);
        p.record("read_file", args, true, "a.py\n    1| x = 1");
        p.end_turn(false);
        assert!(!p.must_act());
        let again = p.check("read_file", r#"{ "path": "./a.py" }"#, "Edit it now.");
        assert!(
            matches!(&again, Verdict::Repeat(t) if t.contains("1| x = 1") && t.contains("Edit it now.")),
            "{again:?}"
        );
        assert!(p.must_act() && p.stuck().is_none());
        // An edit changes the workspace: reading again is fine, and nothing is forced.
        assert_eq!(p.check("edit", "{}", ""), Verdict::Run);
        p.record("edit", "{}", true, "applied");
        p.end_turn(true);
        assert!(!p.must_act());
        assert_eq!(p.check("read_file", args, ""), Verdict::Run);
    }

    #[test]
    fn a_failing_command_repeated_is_not_run_again_and_then_the_round_is_stuck() {
        let mut p = Progress::new(IDLE_TURNS_BEFORE_FORCING, REPEATS_BEFORE_STUCK);
        let cmd = r#"{"command":"test_convert.py"}"#;
        assert_eq!(p.check("run", cmd, ""), Verdict::Run);
        p.record("run", cmd, false, "exit code 127\ncommand not found");
        p.end_turn(true);
        assert!(
            matches!(p.check("run", cmd, ""), Verdict::Repeat(t) if t.contains("exit code 127"))
        );
        assert!(p.stuck().is_none());
        assert!(matches!(p.check("run", cmd, ""), Verdict::Repeat(_)));
        assert_eq!(p.stuck(), Some(r#"run {"command":"test_convert.py"}"#));
        // The endings are never answered from memory.
        p.record("step_failed", "{}", true, "");
        assert_eq!(p.check("step_failed", "{}", ""), Verdict::Run);
    }

    #[test]
    fn alternating_read_only_commands_do_not_reset_what_was_seen() {
        let mut p = Progress::new(IDLE_TURNS_BEFORE_FORCING, REPEATS_BEFORE_STUCK);
        let a = r#"{"command":"grep 'to_fahrenheit' convert.py"}"#;
        let b = r#"{"command":"grep 'to_celsius' convert.py"}"#;
        for args in [a, b] {
            assert_eq!(p.check("run", args, ""), Verdict::Run);
            p.record("run", args, true, "def ...");
        }
        assert!(matches!(p.check("run", a, ""), Verdict::Repeat(_)));
        assert!(matches!(p.check("run", b, ""), Verdict::Repeat(_)));
        assert!(p.stuck().is_some());
        // A command that may write does reset it.
        let touch = r#"{"command":"sed -i s/a/b/ convert.py"}"#;
        p.record("run", touch, true, "");
        assert_eq!(p.check("run", a, ""), Verdict::Run);
    }

    #[test]
    fn reading_without_acting_forces_action_after_some_turns() {
        let mut p = Progress::new(IDLE_TURNS_BEFORE_FORCING, REPEATS_BEFORE_STUCK);
        for i in 0..IDLE_TURNS_BEFORE_FORCING {
            assert!(!p.must_act());
            let args = format!(r#"{{"pattern":"x{i}"}}"#);
            assert_eq!(p.check("grep", &args, ""), Verdict::Run);
            p.record("grep", &args, true, "");
            p.end_turn(false);
        }
        assert!(p.must_act());
    }

    #[test]
    fn the_acting_tools_keep_edits_and_endings() {
        let names: Vec<String> = acting_tools(crate::tools::specs(crate::tools::ToolSet::Executor))
            .into_iter()
            .map(|t| t.name)
            .collect();
        assert_eq!(
            names,
            ["edit", "write_file", "run", "step_done", "step_failed"]
        );
        let planner: Vec<String> =
            acting_tools(crate::tools::specs(crate::tools::ToolSet::Planner))
                .into_iter()
                .map(|t| t.name)
                .collect();
        assert_eq!(planner, ["submit_plan"]);
    }

    #[test]
    fn a_repeat_withholds_commands_too_and_looking_commands_are_looking() {
        let mut p = Progress::new(IDLE_TURNS_BEFORE_FORCING, REPEATS_BEFORE_STUCK);
        let grep = r#"{"command":"grep -n camelCase strings.js"}"#;
        p.record("run", grep, true, "4: camelCase");
        assert!(!p.must_change());
        assert!(matches!(p.check("run", grep, ""), Verdict::Repeat(_)));
        assert!(p.must_change());
        let names: Vec<String> =
            changing_tools(crate::tools::specs(crate::tools::ToolSet::Executor))
                .into_iter()
                .map(|t| t.name)
                .collect();
        assert_eq!(names, ["edit", "write_file", "step_done", "step_failed"]);
        assert!(run_only_looks(grep));
        assert!(run_only_looks(r#"{"command":"python3 -m unittest"}"#));
        assert!(!run_only_looks(r#"{"command":"sed -i s/a/b/ x.py"}"#));
        assert!(!run_only_looks("not json"));
    }
}
