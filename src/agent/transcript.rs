//! Session transcripts: one JSONL file of events per session under `.tandem/sessions/`, and the state a
//! session resumes from.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::protocol::{Event, EventMsg, Outcome, Plan, StepStatus};

/// The folder of a workspace's sessions.
pub fn sessions_dir(workspace: &Path) -> PathBuf {
    workspace.join(".tandem").join("sessions")
}

/// A session's transcript file.
pub fn transcript_path(workspace: &Path, session: &str) -> PathBuf {
    sessions_dir(workspace).join(format!("{session}.jsonl"))
}

/// A session's checkpoint folder.
pub fn checkpoints_dir(workspace: &Path, session: &str) -> PathBuf {
    sessions_dir(workspace).join(session).join("checkpoints")
}

/// Why a transcript cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TranscriptError {
    /// No such session.
    #[error("no session `{0}` in this workspace (see .tandem/sessions/)")]
    NotFound(String),
    /// The file could not be read.
    #[error("{}: {message}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

/// Reads a transcript; a last line cut short by a crash is skipped, any other bad line is an error.
pub fn read(path: &Path) -> Result<Vec<Event>, TranscriptError> {
    let fail = |message: String| TranscriptError::Read {
        path: path.into(),
        message,
    };
    let bytes = crate::sandbox::state::read(path, 1 << 32)
        .map_err(|e| fail(e.to_string()))?
        .ok_or_else(|| fail("no such file".into()))?;
    let text = String::from_utf8(bytes).map_err(|e| fail(e.to_string()))?;
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut events = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        match serde_json::from_str::<Event>(line) {
            Ok(e) => events.push(e),
            Err(_) if i + 1 == lines.len() && !text.ends_with('\n') => break,
            Err(e) => {
                return Err(TranscriptError::Read {
                    path: path.into(),
                    message: format!("line {}: {e}", i + 1),
                });
            }
        }
    }
    Ok(events)
}

/// The newest session of a workspace (by file modification time).
pub fn latest(workspace: &Path) -> Option<String> {
    let dir = sessions_dir(workspace);
    let entries = crate::sandbox::state::list(&dir).ok()??;
    entries
        .into_iter()
        .filter(|(name, kind)| {
            *kind == rustix::fs::FileType::RegularFile && name.ends_with(".jsonl")
        })
        .max_by_key(|(name, _)| {
            std::fs::symlink_metadata(dir.join(name))
                .and_then(|m| m.modified())
                .ok()
        })
        .and_then(|(name, _)| name.strip_suffix(".jsonl").map(String::from))
}

/// What a session had done when its transcript ends.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resumed {
    /// The task.
    pub task: String,
    /// The latest plan.
    pub plan: Option<Plan>,
    /// Its round.
    pub round: u32,
    /// Steps of the latest plan that ended, by id.
    pub steps: BTreeMap<u32, (StepStatus, String)>,
    /// Files changed so far.
    pub changed: BTreeSet<String>,
    /// The last event number.
    pub last_seq: u64,
    /// How it ended, if it did.
    pub outcome: Option<Outcome>,
    /// Checkpoints applied and not undone.
    pub checkpoints: Vec<u64>,
}

/// Replays events into the state a session resumes from.
pub fn replay(events: &[Event]) -> Resumed {
    let mut r = Resumed::default();
    for e in events {
        r.last_seq = e.seq;
        match &e.msg {
            EventMsg::SessionStarted { task, .. } if r.task.is_empty() => r.task = task.clone(),
            EventMsg::PlanReady { plan, round } => {
                r.plan = Some(plan.clone());
                r.round = *round;
                r.steps.clear();
                r.outcome = None;
            }
            EventMsg::StepFinished {
                step,
                status,
                summary,
            } => {
                r.steps.insert(*step, (*status, summary.clone()));
            }
            EventMsg::EditApplied {
                path, checkpoint, ..
            } => {
                r.changed.insert(path.clone());
                r.checkpoints.push(*checkpoint);
            }
            EventMsg::Undone { checkpoint, .. } => r.checkpoints.retain(|c| c != checkpoint),
            EventMsg::SessionFinished { outcome, .. } => r.outcome = Some(*outcome),
            _ => {}
        }
    }
    r
}

/// Loads a session's events.
pub fn load(workspace: &Path, session: &str) -> Result<Vec<Event>, TranscriptError> {
    let path = transcript_path(workspace, session);
    if std::fs::symlink_metadata(&path).is_err() {
        return Err(TranscriptError::NotFound(session.into()));
    }
    read(&path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Step;

    fn ev(seq: u64, msg: EventMsg) -> Event {
        Event { seq, ts_ms: 0, msg }
    }

    #[test]
    fn replay_rebuilds_progress_and_a_torn_last_line_is_skipped() {
        let plan = Plan {
            summary: "s".into(),
            steps: vec![Step {
                id: 1,
                goal: "g".into(),
                files: vec![],
                done_when: "d".into(),
            }],
        };
        let events = vec![
            ev(
                1,
                EventMsg::SessionStarted {
                    session: "x".into(),
                    workspace: "/w".into(),
                    task: "t".into(),
                    resumed: false,
                },
            ),
            ev(
                2,
                EventMsg::PlanReady {
                    plan: plan.clone(),
                    round: 1,
                },
            ),
            ev(
                3,
                EventMsg::EditApplied {
                    edit: 1,
                    path: "a.py".into(),
                    hunks: vec![0],
                    checkpoint: 1,
                },
            ),
            ev(
                4,
                EventMsg::StepFinished {
                    step: 1,
                    status: StepStatus::Done,
                    summary: "ok".into(),
                },
            ),
        ];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.jsonl");
        let mut text: String = events
            .iter()
            .map(|e| serde_json::to_string(e).unwrap() + "\n")
            .collect();
        text.push_str("{\"seq\":5,\"ts_ms\":0,\"type\":\"step_sta");
        std::fs::write(&path, text).unwrap();
        let read_back = read(&path).unwrap();
        assert_eq!(read_back, events);
        let r = replay(&read_back);
        assert_eq!((r.task.as_str(), r.round, r.last_seq), ("t", 1, 4));
        assert_eq!(r.plan, Some(plan));
        assert_eq!(r.steps.get(&1).map(|s| s.0), Some(StepStatus::Done));
        assert!(r.changed.contains("a.py") && r.checkpoints == vec![1]);
    }
}
