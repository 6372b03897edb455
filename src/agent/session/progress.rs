//! What a model has already done in one planning round or step attempt, so that a small model that repeats
//! itself or reads without acting is moved on instead of spending its turns.

use std::collections::HashMap;

use crate::model::ToolSpec;

/// Read-only turns in a row (or repeated calls) after which the next reply must act.
pub const IDLE_TURNS_BEFORE_FORCING: u32 = 3;

/// Tools that only look: calling one again with the same arguments, with nothing changed since, gives the same
/// answer.
const LOOKING: [&str; 4] = ["read_file", "list_dir", "grep", "outline"];

/// The calls a round has made and whether they moved anything.
#[derive(Debug)]
pub struct Progress {
    /// Each looking call made since the workspace last changed: (tool, canonical arguments) → times made.
    seen: HashMap<(String, String), u32>,
    idle_turns: u32,
    idle_limit: u32,
    repeats: u32,
}

/// What to do with a call before it is dispatched.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Run it.
    Run,
    /// Do not run it: it was made before with nothing changed since; the text says so and what to do instead.
    Repeat(String),
}

impl Progress {
    /// A fresh round that must act after `idle_limit` turns without acting (or at the first repeat).
    pub fn new(idle_limit: u32) -> Progress {
        Progress {
            seen: HashMap::new(),
            idle_turns: 0,
            idle_limit: idle_limit.max(1),
            repeats: 0,
        }
    }

    /// Records a call about to be made; a looking call repeated with nothing changed since is not run again.
    pub fn check(&mut self, tool: &str, arguments: &str, next: &str) -> Verdict {
        if !LOOKING.contains(&tool) {
            return Verdict::Run;
        }
        let key = (tool.to_string(), canonical(arguments));
        let times = self.seen.entry(key).or_insert(0);
        *times += 1;
        if *times == 1 {
            return Verdict::Run;
        }
        self.repeats += 1;
        Verdict::Repeat(format!(
            "You already called {tool} with these arguments and nothing has changed since: its result is \
             above in this conversation (or in the brief). Calling it again gives the same answer. {next}"
        ))
    }

    /// Marks a call as made already (the brief carries its result).
    pub fn already_seen(&mut self, tool: &str, arguments: &str) {
        self.seen
            .insert((tool.to_string(), canonical(arguments)), 1);
    }

    /// Ends a model turn: `acted` when it changed the workspace or ran a command, which also makes every
    /// earlier look worth repeating.
    pub fn end_turn(&mut self, acted: bool) {
        if acted {
            self.idle_turns = 0;
            self.repeats = 0;
            self.seen.clear();
        } else {
            self.idle_turns += 1;
        }
    }

    /// Whether the next reply must act (the looking tools are withheld from it).
    pub fn must_act(&self) -> bool {
        self.repeats > 0 || self.idle_turns >= self.idle_limit
    }
}

/// `tools` without the looking ones: what a model that must act may call.
pub fn acting_tools(tools: Vec<ToolSpec>) -> Vec<ToolSpec> {
    tools
        .into_iter()
        .filter(|t| !LOOKING.contains(&t.name.as_str()))
        .collect()
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

    #[test]
    fn a_repeated_look_is_answered_and_forces_action() {
        let mut p = Progress::new(IDLE_TURNS_BEFORE_FORCING);
        assert_eq!(
            p.check("read_file", r#"{"path":"a.py"}"#, "Edit."),
            Verdict::Run
        );
        p.end_turn(false);
        assert!(!p.must_act());
        let again = p.check("read_file", r#"{ "path": "./a.py" }"#, "Edit it now.");
        assert!(
            matches!(&again, Verdict::Repeat(t) if t.contains("Edit it now.")),
            "{again:?}"
        );
        assert!(p.must_act());
        // An edit changes the workspace: reading again is fine, and nothing is forced.
        assert_eq!(p.check("edit", "{}", ""), Verdict::Run);
        p.end_turn(true);
        assert!(!p.must_act());
        assert_eq!(p.check("read_file", r#"{"path":"a.py"}"#, ""), Verdict::Run);
    }

    #[test]
    fn reading_without_acting_forces_action_after_some_turns() {
        let mut p = Progress::new(IDLE_TURNS_BEFORE_FORCING);
        for i in 0..IDLE_TURNS_BEFORE_FORCING {
            assert!(!p.must_act());
            assert_eq!(
                p.check("grep", &format!(r#"{{"pattern":"x{i}"}}"#), ""),
                Verdict::Run
            );
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
}
