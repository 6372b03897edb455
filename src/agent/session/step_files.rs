//! The session's services for a step whose files are shown and written in one reply: which files, whether a
//! reply writing them fits, what a failing check's output points at, and writing a reply's edits (each shown,
//! approved and applied as any edit) or putting files back.

use super::Session;
use crate::agent::names;
use crate::edit::format::{FileEdit, Scope, fenced};
use crate::model::ToolCall;
use crate::protocol::{RouteRole, Step};
use crate::tools::Action;

impl Session {
    /// The files `step` names as (workspace-relative path, content; `None` for a file the step creates), when a
    /// whole-file reply can carry them all: the executor is the local model (a cloud model does well with the
    /// tools, and pays per output token), each file is text the format can hold, and together they fit
    /// the profile's `whole_file_chars` and one reply of the executor. Files that may not be read, and missing files
    /// the step only mentions, are left out; `None` when none is left.
    pub(crate) fn whole_file_targets(
        &self,
        step: &Step,
        escalated: bool,
    ) -> Option<Vec<(String, Option<String>)>> {
        let budget = self.cfg.profile.whole_file_chars as usize;
        if budget == 0 || step.files.is_empty() || escalated || !self.router.executes_locally() {
            return None;
        }
        let mut out: Vec<(String, Option<String>)> = Vec::new();
        // The files the step names, then those its goal or the task mentions by path (a small planner often
        // names the test and leaves out the file the task is about).
        let mut names = step.files.clone();
        for text in [step.goal.as_str(), self.cfg.task.as_str()] {
            for name in names::mentioned_paths(text) {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        for raw in &names {
            let (path, text) = match crate::tools::read_text(&self.ws, raw) {
                Ok((abs, text)) if fenced::representable(&text) => {
                    (self.ws.relative(&abs), Some(text))
                }
                Ok(_) => return None,
                // A file the step names that does not exist yet, where the path policy lets it be written.
                Err(_)
                    if step.files.contains(raw)
                        && matches!(self.ws.read_for_write(raw), Ok(None)) =>
                {
                    let Ok(abs) = self.ws.resolve_write(raw) else {
                        continue;
                    };
                    (self.ws.relative(&abs), None)
                }
                Err(_) => continue,
            };
            // A name the plan used twice, or through a link, is one file.
            if !out.iter().any(|(p, _)| *p == path) {
                out.push((path, text));
            }
        }
        let chars = text_chars(&out);
        (!out.is_empty() && chars <= budget && self.reply_fits(&out)).then_some(out)
    }

    /// Whether a reply that writes every file of `files` the model may write fits the executor's reply budget:
    /// tests shown for reference cost prompt tokens (within the profile's `whole_file_chars`), not reply tokens.
    pub(crate) fn reply_fits(&self, files: &[(String, Option<String>)]) -> bool {
        let (written, _): (Vec<_>, Vec<_>) =
            files.iter().cloned().partition(|(p, _)| self.may_write(p));
        let p = &self.cfg.profile;
        let tokens = text_chars(&written) / p.chars_per_token.max(1) as usize
            + p.reply_margin_tokens as usize * written.len();
        tokens <= self.router.max_tokens(RouteRole::Executor) as usize
    }

    /// Characters of files a whole-file step may still show beside `shown` (the profile's `whole_file_chars`).
    pub(crate) fn room_left(&self, shown: &[(String, Option<String>)]) -> usize {
        (self.cfg.profile.whole_file_chars as usize).saturating_sub(text_chars(shown))
    }

    /// The text of each of `paths` as it is now (`None`: no such file yet).
    pub(crate) fn current_texts(&self, paths: &[String]) -> Vec<(String, Option<String>)> {
        paths
            .iter()
            .map(|p| {
                let text = crate::tools::read_text(&self.ws, p).ok().map(|(_, t)| t);
                (p.clone(), text)
            })
            .collect()
    }

    /// Whether a whole-file reply may write `path`: tests are shown, and written only in a step whose plan
    /// says it changes tests.
    pub(crate) fn may_write(&self, path: &str) -> bool {
        self.tests_open || !self.is_test_file(path)
    }

    /// Text files a failing check's `report` names that `shown` does not hold, through the read path policy,
    /// together within `room` characters; dependencies and build output (`node_modules/`, `target/`, dot
    /// folders) are left out.
    pub(crate) fn report_files(
        &self,
        report: &str,
        shown: &[(String, Option<String>)],
        mut room: usize,
    ) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for raw in names::report_paths(&self.ws.root().to_string_lossy(), report) {
            let Ok((abs, text)) = crate::tools::read_text(&self.ws, &raw) else {
                continue;
            };
            let path = self.ws.relative(&abs);
            let known =
                shown.iter().any(|(p, _)| *p == path) || out.iter().any(|(p, _)| *p == path);
            if known || names::vendored(&path) || !fenced::representable(&text) || text.len() > room
            {
                continue;
            }
            room -= text.len();
            out.push((path, text));
            if out.len() == names::REPORT_FILES_MAX {
                break;
            }
        }
        out
    }

    /// Adds the workspace files a request showing `raw` carries to `sources` (the router keeps the request
    /// local when one is sensitive).
    pub(crate) fn add_sources(&self, raw: &str, sources: &mut Vec<String>) {
        let call = ToolCall {
            id: "whole".into(),
            name: "read_file".into(),
            arguments: serde_json::json!({ "path": raw }).to_string(),
        };
        for source in super::sources::sources_of(&self.ws, &call, "") {
            if !sources.contains(&source) {
                sources.push(source);
            }
        }
    }

    /// Writes a reply's `files` as the step's `write_file` calls (each shown, approved and applied as
    /// any edit): the paths changed, how many were refused, and what each call said.
    /// A file that would gain a definition one of `tests` has (a test class pasted into the code) is refused.
    pub(crate) async fn write_whole(
        &mut self,
        step: u32,
        files: Vec<FileEdit>,
        tests: &[(String, Option<String>)],
    ) -> (Vec<String>, usize, Vec<String>) {
        let (mut changed, mut refused, mut results) = (Vec::new(), 0, Vec::new());
        for file in files {
            let call = ToolCall {
                id: format!("whole-{}", self.fresh_id()),
                name: "write_file".into(),
                arguments: serde_json::json!({ "path": file.path, "content": file.content })
                    .to_string(),
            };
            self.tool_call_started(Some(step), &call);
            let copied = (file.scope != Scope::Exact && !tests.is_empty())
                .then(|| {
                    let old = crate::tools::read_text(&self.ws, &file.path)
                        .ok()
                        .map(|(_, t)| t);
                    crate::edit::guards::copied_test(&file, old.as_deref(), tests)
                })
                .flatten();
            let action = match copied {
                Some((name, test)) => Action::Failed(format!(
                    "{} not written: it would define {name}, which is the test {test}'s; leave the tests \
                     where they are and change the code they test",
                    file.path
                )),
                None => crate::tools::whole_file(&self.ws, &file),
            };
            let (ok, text) = match action {
                Action::Propose { path, old, new } => {
                    let (ok, text) = self.propose(path, old, new).await;
                    if ok {
                        changed.push(file.path.clone());
                    } else {
                        refused += 1;
                    }
                    (ok, text)
                }
                Action::Output(text) => (true, text),
                Action::Failed(text) => {
                    refused += 1;
                    (false, text)
                }
                _ => (false, format!("{} was not written", file.path)),
            };
            self.tool_call_finished(Some(step), call, ok, &text, &mut Vec::new());
            results.push(text);
            if self.interrupted {
                break;
            }
        }
        (changed, refused, results)
    }

    /// Puts `files` back as they were when the check gave `report` and `tally` on them; false when that could
    /// not be done (a write refused, or a file that did not exist then).
    pub(crate) async fn restore(
        &mut self,
        step: u32,
        files_then: &[(String, Option<String>)],
        report: &str,
        tally: Option<crate::agent::verify::Tally>,
    ) -> bool {
        let now = self.current_texts(
            &files_then
                .iter()
                .map(|(p, _)| p.clone())
                .collect::<Vec<_>>(),
        );
        let mut files = Vec::new();
        for ((path, then), (_, now)) in files_then.iter().zip(&now) {
            match (then, now) {
                (Some(then), Some(now)) if then == now => {}
                (Some(then), _) => files.push(FileEdit {
                    path: path.clone(),
                    content: then.clone(),
                    scope: Scope::Exact,
                }),
                (None, None) => {}
                (None, Some(_)) => return false,
            }
        }
        let wanted = files.len();
        let (changed, _, _) = self.write_whole(step, files, &[]).await;
        if changed.len() != wanted {
            return false;
        }
        // The files are as they were when the check gave this verdict.
        self.checked = Some((self.changes, Some(report.to_string())));
        self.check_tally = tally;
        true
    }

    /// The tests `report` names that `shown` lacks, as the model is shown them (added to `shown` and `sources`).
    pub(crate) fn new_tests(
        &self,
        report: &str,
        shown: &mut Vec<(String, Option<String>)>,
        sources: &mut Vec<String>,
    ) -> String {
        let mut more = String::new();
        let room = self.room_left(shown);
        for (path, text) in self.report_files(report, shown, room) {
            if names::is_test_path(&path) {
                more.push_str(&format!(
                    "\nThe test it runs, {path} (leave it as it is):\n```{}\n{text}```\n",
                    names::fence_tag(&path)
                ));
                self.add_sources(&path, sources);
                shown.push((path, Some(text)));
            }
        }
        more
    }
}

/// Characters of the files' texts (a file still to be created has none).
pub(crate) fn text_chars(files: &[(String, Option<String>)]) -> usize {
    files
        .iter()
        .map(|(_, t)| t.as_ref().map_or(0, String::len))
        .sum()
}
