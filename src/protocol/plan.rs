//! The plan and its steps.

use serde::{Deserialize, Serialize};

/// A step-by-step plan for a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// One line: what the plan achieves.
    #[schemars(length(min = 1, max = 300), extend("x-non-blank" = true))]
    pub summary: String,
    /// The steps, in order.
    #[schemars(length(min = 1, max = 10))]
    pub steps: Vec<Step>,
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// 1-based position.
    #[schemars(range(min = 1, max = 99))]
    pub id: u32,
    /// What the step does.
    #[schemars(length(min = 1, max = 300), extend("x-non-blank" = true))]
    pub goal: String,
    /// Files the step reads or changes, relative to the workspace.
    #[schemars(length(max = 8), inner(length(min = 1, max = 200)))]
    pub files: Vec<String>,
    /// How to tell the step is done.
    #[schemars(length(min = 1, max = 300), extend("x-non-blank" = true))]
    pub done_when: String,
    /// Whether the step may change existing tests (the planner decides; a person may change it in the plan).
    #[serde(default)]
    pub changes_tests: bool,
}

/// Why a model reply is not a usable plan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// Not JSON of the plan's shape.
    #[error("the reply is not a plan: {0}")]
    Malformed(String),
    /// JSON of the right shape, but not a usable plan.
    #[error("the plan is not usable: {0}")]
    Invalid(String),
}

impl Plan {
    /// The JSON schema a plan reply must match (also the grammar local models plan under), derived from the
    /// types: each field's doc comment is its description, its limits are the `schemars` attributes above.
    pub fn json_schema() -> serde_json::Value {
        static SCHEMA: std::sync::LazyLock<serde_json::Value> =
            std::sync::LazyLock::new(super::schema::for_model::<Plan>);
        SCHEMA.clone()
    }

    /// Parses a model's reply leniently: the plan may be fenced or wrapped in prose, and what is missing but
    /// can be filled in is (a summary from the goals, no files, a generic done-when, ids by position; unknown
    /// fields are dropped). Only what cannot be repaired is an error, naming the broken part.
    pub fn parse(reply: &str) -> Result<Plan, PlanError> {
        let value = json_in(reply)
            .ok_or_else(|| PlanError::Malformed("no JSON object in the reply".into()))?;
        // A plan under one key ({"plan": {...}}), or a bare list of steps.
        let value = match value {
            serde_json::Value::Object(ref o) if !o.contains_key("steps") && o.len() == 1 => {
                o.values().next().cloned().unwrap_or_default()
            }
            v => v,
        };
        let (summary, raw_steps) = match &value {
            serde_json::Value::Array(steps) => (String::new(), steps.clone()),
            serde_json::Value::Object(o) => {
                let steps = match o.get("steps") {
                    Some(serde_json::Value::Array(a)) => a.clone(),
                    Some(_) => return Err(PlanError::Malformed("`steps` is not a list".into())),
                    None => return Err(PlanError::Malformed("it has no `steps`".into())),
                };
                (text_of(o.get("summary")), steps)
            }
            _ => return Err(PlanError::Malformed("the JSON is not an object".into())),
        };
        if raw_steps.is_empty() {
            return Err(PlanError::Invalid("it has no steps".into()));
        }
        let mut steps = Vec::new();
        for (i, raw) in raw_steps.iter().enumerate() {
            let n = i + 1;
            let step = match raw {
                serde_json::Value::String(goal) => Step {
                    id: 0,
                    goal: goal.clone(),
                    files: Vec::new(),
                    done_when: String::new(),
                    changes_tests: false,
                },
                serde_json::Value::Object(o) => {
                    let goal = ["goal", "title", "description", "task"]
                        .iter()
                        .map(|k| text_of(o.get(*k)))
                        .find(|g| !g.trim().is_empty())
                        .unwrap_or_default();
                    let files = match o.get("files") {
                        Some(serde_json::Value::Array(a)) => a
                            .iter()
                            .filter_map(|f| f.as_str())
                            .map(str::trim)
                            .filter(|f| !f.is_empty())
                            .map(str::to_string)
                            .collect(),
                        Some(serde_json::Value::String(f)) if !f.trim().is_empty() => {
                            vec![f.trim().to_string()]
                        }
                        _ => Vec::new(),
                    };
                    Step {
                        id: 0,
                        goal,
                        files,
                        done_when: text_of(o.get("done_when")),
                        changes_tests: flag(o.get("changes_tests")),
                    }
                }
                _ => return Err(PlanError::Invalid(format!("step {n} is not an object"))),
            };
            if step.goal.trim().is_empty() {
                return Err(PlanError::Invalid(format!("step {n} has no goal")));
            }
            steps.push(step);
        }
        let mut plan = Plan { summary, steps };
        // The summary is only a label: a missing one is not worth a planner round, so the goals stand in.
        if plan.summary.trim().is_empty() {
            let goals: Vec<&str> = plan.steps.iter().map(|s| s.goal.trim()).collect();
            plan.summary = goals.join("; ").chars().take(300).collect();
        }
        // Models number steps loosely; the order is what counts.
        for (i, step) in plan.steps.iter_mut().enumerate() {
            step.id = u32::try_from(i + 1).unwrap_or(u32::MAX);
            if step.done_when.trim().is_empty() {
                step.done_when = "the goal is met".into();
            }
        }
        Ok(plan)
    }

    /// The plan as Markdown for people.
    pub fn to_markdown(&self) -> String {
        let mut out = format!("# Plan: {}\n\n", self.summary.trim());
        for step in &self.steps {
            out.push_str(&format!("{}. **{}**\n", step.id, step.goal.trim()));
            if !step.files.is_empty() {
                let files: Vec<String> = step.files.iter().map(|f| format!("`{f}`")).collect();
                out.push_str(&format!("   - files: {}\n", files.join(", ")));
            }
            out.push_str(&format!("   - done when: {}\n", step.done_when.trim()));
            if step.changes_tests {
                out.push_str("   - may change existing tests\n");
            }
        }
        out
    }
}

/// A yes/no field: `true`, or the text "true"/"yes"; anything else (missing included) is no.
fn flag(v: Option<&serde_json::Value>) -> bool {
    match v {
        Some(serde_json::Value::Bool(b)) => *b,
        Some(serde_json::Value::String(s)) => {
            matches!(s.trim().to_ascii_lowercase().as_str(), "true" | "yes")
        }
        _ => false,
    }
}

/// A field as text: a string, or a number or list written out; missing is empty.
fn text_of(v: Option<&serde_json::Value>) -> String {
    match v {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
            .collect::<Vec<_>>()
            .join("; "),
        Some(other) => other.to_string(),
    }
}

/// The JSON value a reply holds: the whole reply (a ```json fence allowed), else the outermost `{…}` in it.
fn json_in(reply: &str) -> Option<serde_json::Value> {
    let body = strip_fence(reply.trim());
    if let Ok(v) = serde_json::from_str(body) {
        return Some(v);
    }
    let start = body.find('{')?;
    let end = body.rfind('}')?;
    (start < end)
        .then(|| serde_json::from_str(&body[start..=end]).ok())
        .flatten()
}

fn strip_fence(s: &str) -> &str {
    let Some(rest) = s.strip_prefix("```") else {
        return s;
    };
    let rest = rest.strip_prefix("json").unwrap_or(rest);
    rest.strip_suffix("```").unwrap_or(rest).trim()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn whether_a_step_changes_tests_is_read_kept_and_shown() {
        let plan = Plan::parse(
            r#"{"summary":"s","steps":[{"goal":"a","changes_tests":true},{"goal":"b","changes_tests":"no"},{"goal":"c"}]}"#,
        )
        .unwrap();
        let flags: Vec<bool> = plan.steps.iter().map(|s| s.changes_tests).collect();
        assert_eq!(flags, vec![true, false, false]);
        assert!(
            plan.to_markdown().contains(
                "1. **a**\n   - done when: the goal is met\n   - may change existing tests"
            )
        );
        // A plan saved before the field existed still loads, its steps leaving tests alone.
        let old: Plan = serde_json::from_str(
            r#"{"summary":"s","steps":[{"id":1,"goal":"g","files":[],"done_when":"d"}]}"#,
        )
        .unwrap();
        assert!(!old.steps[0].changes_tests);
        let schema = Plan::json_schema();
        assert_eq!(
            schema["properties"]["steps"]["items"]["properties"]["changes_tests"]["type"],
            "boolean"
        );
    }

    #[test]
    fn parses_and_renumbers() {
        let reply = r#"```json
{"summary":"Add a flag","steps":[{"id":7,"goal":"Edit","files":["a.py"],"done_when":"tests pass"},
{"id":7,"goal":"Test","files":[],"done_when":"green"}]}
```"#;
        let plan = Plan::parse(reply).unwrap();
        assert_eq!(
            plan.steps.iter().map(|s| s.id).collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert_eq!(
            plan.to_markdown(),
            "# Plan: Add a flag\n\n1. **Edit**\n   - files: `a.py`\n   - done when: tests pass\n\
             2. **Test**\n   - done when: green\n"
        );
    }

    #[test]
    fn refuses_what_is_not_a_plan() {
        assert!(matches!(
            Plan::parse("Sure! Here is a plan"),
            Err(PlanError::Malformed(_))
        ));
        assert!(matches!(
            Plan::parse(r#"{"summary":"x","steps":[]}"#),
            Err(PlanError::Invalid(_))
        ));
        assert_eq!(
            Plan::parse(
                r#"{"summary":"x","steps":[{"id":1,"goal":"g","files":[],"done_when":"d"},{"id":2,"goal":" ","files":[],"done_when":"d"}]}"#
            ),
            Err(PlanError::Invalid("step 2 has no goal".into())),
            "the broken part is named"
        );
        assert!(matches!(
            Plan::parse(r#"{"summary":"x"}"#),
            Err(PlanError::Malformed(_))
        ));
    }

    #[test]
    fn a_plan_missing_optional_fields_or_wrapped_in_prose_is_repaired() {
        let reply = "Here is the plan:\n{\"steps\":[{\"goal\":\"Add the flag\",\"files\":\"cli.rs\",\"why\":\"asked\"},{\"title\":\"Test it\",\"done_when\":\"cargo test passes\"}]}\nDone.";
        assert_eq!(
            Plan::parse(reply).unwrap(),
            Plan {
                summary: "Add the flag; Test it".into(),
                steps: vec![
                    Step {
                        id: 1,
                        goal: "Add the flag".into(),
                        files: vec!["cli.rs".into()],
                        done_when: "the goal is met".into(),
                        changes_tests: false,
                    },
                    Step {
                        id: 2,
                        goal: "Test it".into(),
                        files: vec![],
                        done_when: "cargo test passes".into(),
                        changes_tests: false,
                    },
                ],
            }
        );
        let wrapped = r#"{"plan":{"summary":"s","steps":["Edit a.py"]}}"#;
        assert_eq!(Plan::parse(wrapped).unwrap().steps[0].goal, "Edit a.py");
    }
}
