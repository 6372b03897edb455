//! Session transcripts: one JSONL file of events per session under `.tandem/sessions/`, and the state a
//! session resumes from.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::agent::conversation::Turn;
use crate::protocol::{Event, EventMsg, Outcome, Plan, StepStatus};

/// The folder of a workspace's sessions.
pub fn sessions_dir(workspace: &Path) -> PathBuf {
    workspace.join(".tandem").join("sessions")
}

/// A session's transcript file.
pub fn transcript_path(workspace: &Path, session: &str) -> PathBuf {
    sessions_dir(workspace).join(format!("{session}.jsonl"))
}

/// A new session id: UTC time and a random suffix, e.g. `20261121-184500-3fa9`; its transcript is
/// [`transcript_path`].
pub fn new_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let stamp = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year][month][day]-[hour][minute][second]"
        ))
        .unwrap_or_default();
    // RandomState is seeded per process from the OS; the clock and pid separate ids within one.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    h.write_u32(std::process::id());
    format!("{stamp}-{:04x}", h.finish() % 0x10000)
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

/// One of a workspace's sessions, for a picker.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionInfo {
    /// Its id.
    pub id: String,
    /// When its transcript last changed.
    pub modified: std::time::SystemTime,
    /// Its latest turn's task.
    pub task: String,
    /// Turns so far (the latest included).
    pub turns: usize,
    /// How the latest turn ended (`None`: unfinished).
    pub outcome: Option<Outcome>,
}

/// The workspace's `limit` most recent sessions, newest first (transcripts that cannot be read are left out).
pub fn list(workspace: &Path, limit: usize) -> Vec<SessionInfo> {
    let dir = sessions_dir(workspace);
    let Ok(Some(entries)) = crate::sandbox::state::list(&dir) else {
        return Vec::new();
    };
    let mut found: Vec<(String, std::time::SystemTime)> = entries
        .into_iter()
        .filter(|(_, kind)| *kind == rustix::fs::FileType::RegularFile)
        .filter_map(|(name, _)| {
            let id = name.strip_suffix(".jsonl")?.to_string();
            let modified = std::fs::symlink_metadata(dir.join(&name))
                .and_then(|m| m.modified())
                .ok()?;
            Some((id, modified))
        })
        .collect();
    found.sort_by_key(|f| std::cmp::Reverse(f.1));
    found
        .into_iter()
        .take(limit)
        .filter_map(|(id, modified)| {
            let events = load(workspace, &id).ok()?;
            let r = replay(&events);
            Some(SessionInfo {
                turns: r.history.len() + 1,
                task: r.task,
                outcome: r.outcome,
                id,
                modified,
            })
        })
        .collect()
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
    /// The conversation's finished turns before this one (since the last compaction).
    pub history: Vec<Turn>,
    /// The summary the last compaction left of the turns before `history`.
    pub summary: Option<String>,
    /// Files changed by the current turn.
    pub turn_changed: BTreeSet<String>,
    /// The current (finished) turn is already in `summary`, so a follow-up does not add it to the history.
    pub current_in_summary: bool,
}

impl Resumed {
    /// The state for a follow-up task: the finished turn goes into the history, the new task starts clean.
    pub fn follow_up(mut self, task: &str) -> Resumed {
        if !self.current_in_summary {
            let turn = Turn::new(
                &self.task,
                self.plan.as_ref(),
                &self.steps,
                self.outcome,
                &self.turn_changed,
            );
            self.history.push(turn);
        }
        Resumed {
            task: task.to_string(),
            plan: None,
            round: 0,
            steps: BTreeMap::new(),
            outcome: None,
            turn_changed: BTreeSet::new(),
            current_in_summary: false,
            ..self
        }
    }

    /// The state after a compaction: the summary replaces the oldest `turns` turns it was made of (one more
    /// than the history holds: the current, finished turn too).
    pub fn compacted(mut self, summary: &str, turns: usize) -> Resumed {
        self.summary = Some(summary.to_string());
        self.current_in_summary = turns > self.history.len() && self.outcome.is_some();
        self.history.drain(..turns.min(self.history.len()));
        self
    }

    /// What `/compact` would record now: every finished turn (the current one too, once it ended) in one
    /// summary, and how many turns it covers; `None` when there is nothing to compact.
    pub fn compaction(&self) -> Option<(String, u32)> {
        let mut turns = self.history.clone();
        if self.outcome.is_some() && !self.current_in_summary {
            turns.push(Turn::new(
                &self.task,
                self.plan.as_ref(),
                &self.steps,
                self.outcome,
                &self.turn_changed,
            ));
        }
        (!turns.is_empty()).then(|| {
            let summary = crate::agent::conversation::compact(
                self.summary.as_deref(),
                &turns,
                crate::agent::conversation::HISTORY_BUDGET / 2,
            );
            (summary, u32::try_from(turns.len()).unwrap_or(u32::MAX))
        })
    }
}

/// Replays events into the state a session resumes from.
pub fn replay(events: &[Event]) -> Resumed {
    let mut r = Resumed::default();
    for e in events {
        r.last_seq = e.seq;
        match &e.msg {
            EventMsg::SessionStarted { task, .. } if r.task.is_empty() => r.task = task.clone(),
            // A start after the session finished is a follow-up: the next turn of the conversation.
            EventMsg::SessionStarted { task, .. } if r.outcome.is_some() => {
                let last_seq = r.last_seq;
                r = r.follow_up(task);
                r.last_seq = last_seq;
            }
            EventMsg::Compacted { summary, turns } => {
                let summary = summary.clone();
                r = r.compacted(&summary, *turns as usize);
            }
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
                r.turn_changed.insert(path.clone());
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
    // An id names a file in the sessions folder and nothing else: it may come from a person, or from an editor
    // over ACP that must not reach another folder through it.
    let plain = !session.is_empty()
        && session
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !plain {
        return Err(TranscriptError::NotFound(session.into()));
    }
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
                changes_tests: false,
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

    fn started(seq: u64, task: &str) -> Event {
        ev(
            seq,
            EventMsg::SessionStarted {
                session: "x".into(),
                workspace: "/w".into(),
                task: task.into(),
                resumed: seq > 1,
            },
        )
    }

    fn finished(seq: u64, outcome: Outcome) -> Event {
        ev(
            seq,
            EventMsg::SessionFinished {
                outcome,
                summary: crate::protocol::Summary::default(),
            },
        )
    }

    #[test]
    fn a_start_after_the_end_is_a_follow_up_and_the_finished_turn_becomes_history() {
        let plan = Plan {
            summary: "fix".into(),
            steps: vec![Step {
                id: 1,
                goal: "fix add".into(),
                files: vec!["a.py".into()],
                done_when: "d".into(),
                changes_tests: false,
            }],
        };
        let events = vec![
            started(1, "fix add"),
            ev(2, EventMsg::PlanReady { plan, round: 1 }),
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
                    summary: "fixed".into(),
                },
            ),
            finished(5, Outcome::Done),
            started(6, "now add a test"),
        ];
        let r = replay(&events);
        assert_eq!(r.task, "now add a test");
        assert_eq!((r.plan.as_ref(), r.round, r.outcome), (None, 0, None));
        assert_eq!(r.history.len(), 1);
        let t = &r.history[0];
        assert_eq!(
            (t.task.as_str(), t.outcome),
            ("fix add", Some(Outcome::Done))
        );
        assert_eq!(t.changed, vec!["a.py".to_string()]);
        assert_eq!(t.steps[0].2, "fixed");
        assert!(r.turn_changed.is_empty() && r.changed.contains("a.py"));
        // A resume of an unfinished turn is not a new turn.
        let r = replay(&[started(1, "t"), started(2, "t")]);
        assert!(r.history.is_empty());
    }

    #[test]
    fn a_compaction_replaces_the_turns_it_covers_and_is_not_counted_twice() {
        let mut events = Vec::new();
        for (i, task) in ["one", "two", "three"].iter().enumerate() {
            let seq = i as u64 * 2 + 1;
            events.push(started(seq, task));
            events.push(finished(seq + 1, Outcome::Done));
        }
        let r = replay(&events);
        assert_eq!(r.history.len(), 2);
        let (summary, turns) = r.compaction().unwrap();
        assert_eq!(turns, 3, "the current finished turn is covered too");
        assert!(summary.contains("Turn 3: three"), "{summary}");
        events.push(ev(
            7,
            EventMsg::Compacted {
                summary: summary.clone(),
                turns,
            },
        ));
        events.push(started(8, "four"));
        let r = replay(&events);
        assert_eq!(r.summary.as_deref(), Some(summary.as_str()));
        assert!(r.history.is_empty(), "{:?}", r.history);
        assert_eq!(r.task, "four");
        // An automatic compaction mid-turn covers only the history before it.
        let r = replay(&[
            started(1, "a"),
            finished(2, Outcome::Done),
            started(3, "b"),
            ev(
                4,
                EventMsg::Compacted {
                    summary: "Turn 1: a".into(),
                    turns: 1,
                },
            ),
            finished(5, Outcome::Failed),
            started(6, "c"),
        ]);
        assert_eq!(r.history.len(), 1);
        assert_eq!(r.history[0].task, "b");
    }
}
