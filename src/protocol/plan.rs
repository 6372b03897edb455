//! The plan and its steps.

use serde::{Deserialize, Serialize};

/// A step-by-step plan for a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// One line: what the plan achieves.
    pub summary: String,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// 1-based position.
    pub id: u32,
    /// What the step does.
    pub goal: String,
    /// Files the step reads or changes, relative to the workspace.
    pub files: Vec<String>,
    /// How to tell the step is done.
    pub done_when: String,
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
    /// The JSON schema a plan reply must match (also the grammar local models plan under).
    pub fn json_schema() -> serde_json::Value {
        serde_json::json!({
            "type": "object",
            "properties": {
                "summary": { "type": "string", "minLength": 1, "maxLength": 300, "x-non-blank": true },
                "steps": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 10,
                    "items": {
                        "type": "object",
                        "properties": {
                            "id": { "type": "integer", "minimum": 1, "maximum": 99 },
                            "goal": { "type": "string", "minLength": 1, "maxLength": 300, "x-non-blank": true },
                            "files": {
                                "type": "array",
                                "maxItems": 8,
                                "items": { "type": "string", "minLength": 1, "maxLength": 200 }
                            },
                            "done_when": { "type": "string", "minLength": 1, "maxLength": 300, "x-non-blank": true }
                        },
                        "required": ["id", "goal", "files", "done_when"],
                        "additionalProperties": false
                    }
                }
            },
            "required": ["summary", "steps"],
            "additionalProperties": false
        })
    }

    /// Parses a model's reply strictly: the whole reply must be one plan (a ```json fence is allowed).
    pub fn parse(reply: &str) -> Result<Plan, PlanError> {
        let body = strip_fence(reply.trim());
        let mut plan: Plan =
            serde_json::from_str(body).map_err(|e| PlanError::Malformed(e.to_string()))?;
        if plan.steps.is_empty() {
            return Err(PlanError::Invalid("it has no steps".into()));
        }
        if let Some(s) = plan.steps.iter().find(|s| s.goal.trim().is_empty()) {
            return Err(PlanError::Invalid(format!("step {} has no goal", s.id)));
        }
        // The summary is only a label: a blank one is not worth a planner round, so the goals stand in.
        if plan.summary.trim().is_empty() {
            let goals: Vec<&str> = plan.steps.iter().map(|s| s.goal.trim()).collect();
            plan.summary = goals.join("; ").chars().take(300).collect();
        }
        // Models number steps loosely; the order is what counts.
        for (i, step) in plan.steps.iter_mut().enumerate() {
            step.id = u32::try_from(i + 1).unwrap_or(u32::MAX);
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
        }
        out
    }
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
        assert!(matches!(
            Plan::parse(
                r#"{"summary":"x","steps":[{"id":1,"goal":"g","files":[],"done_when":"d","extra":1}]}"#
            ),
            Err(PlanError::Malformed(_))
        ));
        assert!(matches!(
            Plan::parse(
                r#"{"summary":"x","steps":[{"id":1,"goal":" ","files":[],"done_when":"d"}]}"#
            ),
            Err(PlanError::Invalid(_))
        ));
    }
}
