//! Conversations: a session is a series of turns (a task, then follow-ups), each one planned with what the
//! earlier turns did in view, and compacted into a short summary before it would crowd the planner's context.

use std::collections::BTreeSet;

use crate::protocol::{Outcome, Plan, StepStatus};

/// Characters of earlier turns the planner gets in full before older turns are compacted.
pub const HISTORY_BUDGET: usize = 6_000;

/// Turns kept in full detail when older ones are compacted.
const KEEP_FULL: usize = 2;

/// One finished turn of a conversation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Turn {
    /// What was asked.
    pub task: String,
    /// How it ended (`None`: it was cut off, e.g. by a crash).
    pub outcome: Option<Outcome>,
    /// The plan's summary.
    pub plan_summary: String,
    /// Each planned step: goal, how it ended (`None`: not reached), what the executor said.
    pub steps: Vec<(String, Option<StepStatus>, String)>,
    /// Files this turn changed.
    pub changed: Vec<String>,
}

impl Turn {
    /// A turn from its task, its last plan, the steps that ended, its outcome and the files it changed.
    pub fn new(
        task: &str,
        plan: Option<&Plan>,
        steps: &std::collections::BTreeMap<u32, (StepStatus, String)>,
        outcome: Option<Outcome>,
        changed: &BTreeSet<String>,
    ) -> Turn {
        Turn {
            task: task.to_string(),
            outcome,
            plan_summary: plan.map(|p| p.summary.clone()).unwrap_or_default(),
            steps: plan
                .map(|p| {
                    p.steps
                        .iter()
                        .map(|s| {
                            let ended = steps.get(&s.id);
                            (
                                s.goal.clone(),
                                ended.map(|e| e.0),
                                ended.map(|e| e.1.clone()).unwrap_or_default(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
            changed: changed.iter().cloned().collect(),
        }
    }

    /// The turn in full: task, outcome, plan, each step and what it said, files changed.
    pub fn full(&self, n: usize) -> String {
        let mut out = format!("Turn {n}: {}\n", one_line(&self.task, 400));
        out.push_str(&format!("  Outcome: {}\n", outcome_word(self.outcome)));
        if !self.plan_summary.trim().is_empty() {
            out.push_str(&format!("  Plan: {}\n", one_line(&self.plan_summary, 300)));
        }
        for (i, (goal, status, said)) in self.steps.iter().enumerate() {
            let mark = match status {
                Some(StepStatus::Done) => "done",
                Some(StepStatus::Failed) => "failed",
                None => "not reached",
            };
            out.push_str(&format!("  {}. [{mark}] {}", i + 1, one_line(goal, 200)));
            if !said.trim().is_empty() {
                out.push_str(&format!(" — {}", one_line(said, 200)));
            }
            out.push('\n');
        }
        out.push_str(&format!("  Changed: {}\n", changed_list(&self.changed)));
        out
    }

    /// The turn in one line: task, outcome, files changed.
    pub fn brief(&self, n: usize) -> String {
        format!(
            "Turn {n}: {} → {}; changed {}",
            one_line(&self.task, 160),
            outcome_word(self.outcome),
            changed_list(&self.changed)
        )
    }
}

/// What the planner is told about the earlier turns, and whether that needed compacting.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    /// The text (empty when there were no earlier turns).
    pub text: String,
    /// The compacted summary and how many of the oldest turns it covers, when they had to be shortened.
    pub compacted: Option<(String, usize)>,
}

/// The earlier turns for the planner within `budget` characters: a summary made by an earlier compaction
/// first, then each turn in full; when that is too long, all but the last [`KEEP_FULL`] turns are shortened
/// to one line each (and that summary is returned, to be shown and recorded), then the oldest lines dropped.
pub fn render(summary: Option<&str>, turns: &[Turn], budget: usize) -> History {
    if summary.is_none() && turns.is_empty() {
        return History {
            text: String::new(),
            compacted: None,
        };
    }
    let head = "Earlier in this session (oldest first):\n";
    let mut full = String::from(head);
    if let Some(s) = summary {
        full.push_str(s.trim_end());
        full.push('\n');
    }
    for (i, t) in turns.iter().enumerate() {
        full.push_str(&t.full(i + 1));
    }
    if full.chars().count() <= budget {
        return History {
            text: full,
            compacted: None,
        };
    }
    let split = turns.len().saturating_sub(KEEP_FULL);
    let compacted = compact(summary, &turns[..split], budget / 2);
    let mut text = String::from(head);
    text.push_str(&compacted);
    text.push('\n');
    for (i, t) in turns.iter().enumerate().skip(split) {
        text.push_str(&t.full(i + 1));
    }
    // The turns kept in full may still be too long on their own: then every turn is one line.
    if text.chars().count() > budget {
        let all = compact(summary, turns, budget.saturating_sub(head.len() + 1));
        return History {
            text: format!("{head}{all}\n"),
            compacted: Some((all, turns.len())),
        };
    }
    History {
        text,
        compacted: Some((compacted, split)),
    }
}

/// A summary of `turns` (after an earlier `summary`) in about `budget` characters: one line per turn, the
/// oldest dropped first with a count of what was dropped.
pub fn compact(summary: Option<&str>, turns: &[Turn], budget: usize) -> String {
    let mut lines: Vec<String> = summary
        .into_iter()
        .flat_map(|s| s.lines().map(str::to_string).collect::<Vec<_>>())
        .filter(|l| !l.trim().is_empty())
        .collect();
    let first_new = count_turns(&lines) + 1;
    lines.extend(
        turns
            .iter()
            .enumerate()
            .map(|(i, t)| t.brief(first_new + i)),
    );
    let mut dropped = 0;
    while lines.len() > 1 && lines.iter().map(|l| l.chars().count() + 1).sum::<usize>() > budget {
        lines.remove(0);
        dropped += 1;
    }
    let mut out = String::new();
    if dropped > 0 {
        out.push_str(&format!("({dropped} earlier line(s) dropped)\n"));
    }
    out.push_str(&lines.join("\n"));
    out
}

/// How many turns a summary made by [`compact`] already numbers (its highest `Turn N:`).
fn count_turns(lines: &[String]) -> usize {
    lines
        .iter()
        .filter_map(|l| {
            l.strip_prefix("Turn ")?
                .split(':')
                .next()?
                .parse::<usize>()
                .ok()
        })
        .max()
        .unwrap_or(0)
}

fn outcome_word(outcome: Option<Outcome>) -> &'static str {
    match outcome {
        Some(Outcome::Done) => "done",
        Some(Outcome::VerifyFailed) => "verify failed",
        Some(Outcome::Failed) => "failed",
        Some(Outcome::Interrupted) => "interrupted",
        Some(Outcome::Planned) => "planned only",
        Some(Outcome::Unverified) => "unverified (nothing changed, no check)",
        None => "cut off",
    }
}

fn changed_list(files: &[String]) -> String {
    if files.is_empty() {
        return "nothing".into();
    }
    let shown: Vec<&str> = files.iter().take(12).map(String::as_str).collect();
    let more = files.len().saturating_sub(shown.len());
    if more > 0 {
        format!("{} (+{more} more)", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

/// `text` on one line, at most `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        let cut: String = flat.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(task: &str, changed: &[&str]) -> Turn {
        Turn {
            task: task.into(),
            outcome: Some(Outcome::Done),
            plan_summary: format!("plan for {task}"),
            steps: vec![(
                format!("do {task}"),
                Some(StepStatus::Done),
                "did it".into(),
            )],
            changed: changed.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn a_short_history_is_given_in_full() {
        let h = render(None, &[turn("add f", &["a.py"])], HISTORY_BUDGET);
        assert!(h.compacted.is_none());
        assert!(h.text.contains("Turn 1: add f"), "{}", h.text);
        assert!(h.text.contains("1. [done] do add f — did it"), "{}", h.text);
        assert!(h.text.contains("Changed: a.py"), "{}", h.text);
        assert_eq!(render(None, &[], 100).text, "");
    }

    #[test]
    fn a_long_history_keeps_the_last_turns_in_full_and_compacts_the_rest() {
        let turns: Vec<Turn> = (1..=30)
            .map(|i| turn(&format!("task number {i} {}", "x".repeat(200)), &["f.py"]))
            .collect();
        let h = render(None, &turns, 3_000);
        let (summary, covered) = h.compacted.expect("compacted");
        assert_eq!(covered, 28);
        assert!(h.text.chars().count() <= 3_000, "{}", h.text.len());
        assert!(h.text.contains("Turn 30: task number 30"), "{}", h.text);
        assert!(h.text.contains("  1. [done] do task number 30"));
        assert!(!summary.contains("Turn 30"), "{summary}");
        assert!(summary.contains("dropped"), "{summary}");
        assert!(summary.contains("Turn 28: task number 28"), "{summary}");
    }

    #[test]
    fn a_second_compaction_numbers_on_from_the_first() {
        let first = compact(None, &[turn("a", &[]), turn("b", &[])], 1_000);
        let second = compact(Some(&first), &[turn("c", &["c.rs"])], 1_000);
        assert_eq!(second.lines().count(), 3, "{second}");
        assert!(
            second.contains("Turn 3: c → done; changed c.rs"),
            "{second}"
        );
    }
}
