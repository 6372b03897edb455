//! A step asked for its files whole: the files it names are shown as they are, and the reply is each changed file
//! written out complete (aider's "whole" format, held to it by a grammar on a local engine). One reply can do a
//! step that takes a small model many tool turns; when it does not, the tool loop takes over.

use super::stepping::Attempt;
use super::{CallError, Session};
use crate::edit::whole;
use crate::model::{ChatMessage, ChatRequest, ToolCall};
use crate::protocol::{RouteRole, Step};
use crate::router::RouterError;
use crate::tools::Action;

/// Whole-file replies one attempt asks for: the first, and more after a failing check or a refused file.
const ROUNDS: usize = 3;

/// Characters per token assumed when checking that the files fit in one reply (code runs 3–4).
const CHARS_PER_TOKEN: usize = 3;

/// Tokens a reply needs beyond the files' own (paths, fences, a changed line or two).
const REPLY_MARGIN: usize = 96;

/// Lines beyond which a file in a language tandem parses is asked for by the definitions a reply changes, not
/// whole: a small model rewriting a long file whole spends most of the reply on lines it leaves as they are,
/// and often breaks some of them on the way (BENCHMARKS, the demo task).
const DEFINITIONS_LINES: usize = 40;

/// Whether a step writing `files` asks for the definitions it changes rather than whole files: some file it
/// may write is longer than [`DEFINITIONS_LINES`] and in a language whose definitions can be merged by name.
fn by_definitions(files: &[&(String, Option<String>)]) -> bool {
    files.iter().any(|(path, text)| {
        text.as_ref()
            .is_some_and(|t| t.lines().count() > DEFINITIONS_LINES)
            && crate::repomap::tags::Lang::of(std::path::Path::new(path)).is_some()
    })
}

impl Session {
    /// The files `step` names as (workspace-relative path, content; `None` for a file the step creates), when a
    /// whole-file reply can carry them all: the executor is the local model (a cloud model does well with the
    /// tools, and pays per output token), each file is text the format can hold, and together they fit
    /// `agent.whole_file_chars` and one reply of the executor. Files that may not be read, and missing files
    /// the step only mentions, are left out; `None` when none is left.
    pub(super) fn whole_file_targets(
        &self,
        step: &Step,
        escalated: bool,
    ) -> Option<Vec<(String, Option<String>)>> {
        let budget = self.cfg.agent.whole_file_chars as usize;
        if budget == 0 || step.files.is_empty() || escalated || !self.router.executes_locally() {
            return None;
        }
        let mut out: Vec<(String, Option<String>)> = Vec::new();
        // The files the step names, then those its goal or the task mentions by path (a small planner often
        // names the test and leaves out the file the task is about).
        let mut names = step.files.clone();
        for text in [step.goal.as_str(), self.cfg.task.as_str()] {
            for name in mentioned_paths(text) {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        for raw in &names {
            let (path, text) = match crate::tools::read_text(&self.ws, raw) {
                Ok((abs, text)) if whole::representable(&text) => {
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
    /// tests shown for reference cost prompt tokens (within `agent.whole_file_chars`), not reply tokens.
    fn reply_fits(&self, files: &[(String, Option<String>)]) -> bool {
        let (written, _): (Vec<_>, Vec<_>) =
            files.iter().cloned().partition(|(p, _)| self.may_write(p));
        let tokens = text_chars(&written) / CHARS_PER_TOKEN + REPLY_MARGIN * written.len();
        tokens <= self.router.max_tokens(RouteRole::Executor) as usize
    }

    /// Characters of files a whole-file step may still show beside `shown` (`agent.whole_file_chars`).
    fn room_left(&self, shown: &[(String, Option<String>)]) -> usize {
        (self.cfg.agent.whole_file_chars as usize).saturating_sub(text_chars(shown))
    }

    /// The text of each of `paths` as it is now (`None`: no such file yet).
    fn current_texts(&self, paths: &[String]) -> Vec<(String, Option<String>)> {
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
    fn may_write(&self, path: &str) -> bool {
        self.tests_open || !self.is_test_file(path)
    }

    /// Text files a failing check's `report` names that `shown` does not hold, through the read path policy,
    /// together within `room` characters; dependencies and build output (`node_modules/`, `target/`, dot
    /// folders) are left out.
    fn report_files(
        &self,
        report: &str,
        shown: &[(String, Option<String>)],
        mut room: usize,
    ) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for raw in report_paths(&self.ws.root().to_string_lossy(), report) {
            let Ok((abs, text)) = crate::tools::read_text(&self.ws, &raw) else {
                continue;
            };
            let path = self.ws.relative(&abs);
            let known =
                shown.iter().any(|(p, _)| *p == path) || out.iter().any(|(p, _)| *p == path);
            if known || vendored(&path) || !whole::representable(&text) || text.len() > room {
                continue;
            }
            room -= text.len();
            out.push((path, text));
            if out.len() == REPORT_FILES_MAX {
                break;
            }
        }
        out
    }

    /// Adds the workspace files a request showing `raw` carries to `sources` (the router keeps the request
    /// local when one is sensitive).
    fn add_sources(&self, raw: &str, sources: &mut Vec<String>) {
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

    /// Writes whole-file replies' `files` as the step's `write_file` calls (each shown, approved and applied as
    /// any edit): the paths changed, how many were refused, and what each call said.
    /// A file that would gain a definition one of `tests` has (a test class pasted into the code) is refused.
    async fn write_whole(
        &mut self,
        step: u32,
        files: Vec<whole::WholeFile>,
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
            let copied = (file.scope != whole::Scope::Exact && !tests.is_empty())
                .then(|| {
                    let old = crate::tools::read_text(&self.ws, &file.path)
                        .ok()
                        .map(|(_, t)| t);
                    copied_test(&file, old.as_deref(), tests)
                })
                .flatten();
            let action = match copied {
                Some((name, test)) => Action::Failed(format!(
                    "{} not written: it would define {name}, which is the test {test}'s; leave the tests \
                     where they are and change the code they test",
                    file.path
                )),
                None => crate::tools::whole_file(&self.ws, &file.path, &file.content, file.scope),
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

    /// Puts the files back as `best` had them, with the check's verdict on them then; false when that could
    /// not be done (a write refused, or a file that did not exist then).
    async fn restore(&mut self, step: u32, best: &Best) -> bool {
        let now = self.current_texts(
            &best
                .files
                .iter()
                .map(|(p, _)| p.clone())
                .collect::<Vec<_>>(),
        );
        let mut files = Vec::new();
        for ((path, then), (_, now)) in best.files.iter().zip(&now) {
            match (then, now) {
                (Some(then), Some(now)) if then == now => {}
                (Some(then), _) => files.push(whole::WholeFile {
                    path: path.clone(),
                    content: then.clone(),
                    scope: whole::Scope::Exact,
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
        self.checked = Some((self.changes, Some(best.report.clone())));
        self.check_tally = best.tally;
        true
    }

    /// The tests `report` names that `shown` lacks, as the model is shown them (added to `shown` and `sources`).
    fn new_tests(
        &self,
        report: &str,
        shown: &mut Vec<(String, Option<String>)>,
        sources: &mut Vec<String>,
    ) -> String {
        let mut more = String::new();
        let room = self.room_left(shown);
        for (path, text) in self.report_files(report, shown, room) {
            if is_test_path(&path) {
                more.push_str(&format!(
                    "\nThe test it runs, {path} (leave it as it is):\n```{}\n{text}```\n",
                    fence_tag(&path)
                ));
                self.add_sources(&path, sources);
                shown.push((path, Some(text)));
            }
        }
        more
    }

    /// What the model is told after a reply whose files fail the check with `report`: what the writes said,
    /// the report, and the tests it names that `shown` lacks (added to `shown` and `sources`).
    fn report_message(
        &self,
        report: &str,
        results: &str,
        reply: Reply,
        paths: &[String],
        shown: &mut Vec<(String, Option<String>)>,
        sources: &mut Vec<String>,
    ) -> String {
        let Reply {
            unchanged,
            definitions,
        } = reply;
        let more = self.new_tests(report, shown, sources);
        let lead = self.failing_calls(report, &self.current_texts(paths));
        let said = match (unchanged, definitions) {
            (true, false) => {
                "That is each file as it already is, and the project's check still fails: write it differently."
            }
            (true, true) => {
                "That leaves each file as it already is, and the project's check still fails: write it differently."
            }
            (false, _) => "The project's check fails now.",
        };
        let ask = if definitions {
            "each function, method or class you change, whole, under its file's path"
        } else {
            "the complete new content of each file you change"
        };
        format!(
            "{results}\n{said} {report}{lead}{more}\nFix what it reports: reply again with {ask} (change the code, \
             not the tests, unless the task asks for that)."
        )
    }

    /// Asks for the step's files whole, applies what comes back, and checks it on the plan's last open step.
    /// `Some` ends the attempt: done, or failed when the model answered in the format and the check still fails
    /// after every round (the next attempt starts afresh, sampling). `None` leaves the step to the tool loop: the
    /// model did not answer in the format, or every file it wrote was refused.
    pub(super) async fn whole_file_rounds(
        &mut self,
        step: &Step,
        escalated: bool,
        previous_failure: Option<&str>,
        last_open: bool,
        checks_left: &mut u32,
    ) -> Option<Attempt> {
        let mut targets = self.whole_file_targets(step, escalated)?;
        // On the last step the model first sees what the check says of the code as it is (a failing test's
        // output says more to a small model than the task does), unless that is known already.
        if last_open
            && *checks_left > 0
            && self.checked.as_ref().map(|(at, _)| *at) != Some(self.changes)
        {
            *checks_left -= 1;
            self.check().await;
        }
        // The files a failing check names (the test that fails, the file the error is in) are what a person
        // would open next; a small model does not ask for them.
        if let Some((_, Some(report))) = &self.checked {
            for (path, text) in self.report_files(report, &targets, self.room_left(&targets)) {
                // A file the model may write comes in only if a reply writing all of them still fits.
                targets.push((path, Some(text)));
                if !self.reply_fits(&targets) {
                    targets.pop();
                }
            }
        }
        let (writable, reference): (Vec<_>, Vec<_>) =
            targets.iter().partition(|(p, _)| self.may_write(p));
        if writable.is_empty() {
            return None;
        }
        let paths: Vec<String> = writable.iter().map(|(p, _)| p.clone()).collect();
        let mut shown: Vec<(String, Option<String>)> = targets.clone();
        // The files whose content the request carries, by the names the plan used and where they really are:
        // the router keeps the request local when one is sensitive.
        let mut sources: Vec<String> = Vec::new();
        for raw in step.files.iter().chain(shown.iter().map(|(p, _)| p)) {
            self.add_sources(raw, &mut sources);
        }
        let mut brief = self.step_heading(step, None);
        brief.push_str(&self.step_notes(previous_failure));
        // The failing test lines and what they call in the files, for the brief and for where a definitions
        // reply starts.
        let writable_files: Vec<_> = writable.iter().map(|&f| f.clone()).collect();
        let failing = match &self.checked {
            Some((_, Some(report))) => self.failing_targets(report, &writable_files),
            None | Some((_, None)) => Vec::new(),
        };
        brief.push_str(&super::pointers::describe(&failing));
        for (path, text) in &reference {
            if let Some(text) = text {
                brief.push_str(&format!(
                    "\n\nFor reference, the test {path} (leave it as it is):\n```{}\n{text}```",
                    fence_tag(path)
                ));
            }
        }
        brief.push_str("\n\nThe files as they are now:\n");
        for (path, text) in &writable {
            brief.push('\n');
            match text {
                Some(text) => brief.push_str(&whole::render(path, fence_tag(path), text)),
                None => brief.push_str(&format!(
                    "{path} does not exist yet: the step creates it.\n"
                )),
            }
        }
        // A long file is asked for by the definitions the reply changes; a short one whole.
        let definitions = by_definitions(&writable);
        let scope = if definitions {
            whole::Scope::Definitions
        } else {
            whole::Scope::File
        };
        if definitions {
            brief.push_str(&format!(
                "\nReply with what you change in each file ({}): its path on a line of its own, then a fenced block \
                 with each function, method or class you change or add, written whole, and any import it needs. \
                 What you leave out stays as it is.",
                paths.join(", ")
            ));
            // A small model copies a file it is shown; one of the file's own definitions, named, shows it the
            // shape of a shorter reply.
            if let Some((path, name, signature)) = example_definition(&writable, &brief) {
                brief.push_str(&format!(
                    " For example, a reply that changes only `{name}` is {path} on a line, then a fenced block \
                     holding `{signature}` and the rest of that definition, and nothing else."
                ));
            }
        } else {
            brief.push_str(&format!(
                "\nReply with the complete new content of each file you change ({}): its path on a line of its own, \
                 then a fenced block with every line of the file.",
                paths.join(", ")
            ));
        }
        let system = if definitions {
            &self.cfg.definitions_prompt
        } else {
            &self.cfg.writer_prompt
        };
        let mut messages = vec![ChatMessage::system(system.trim()), ChatMessage::user(brief)];
        let grammar = if definitions {
            // Where the failing tests call existing definitions, the reply starts at one of them.
            let leads = super::pointers::reply_leads(&failing, &writable_files);
            if !leads.is_empty() {
                tracing::info!(
                    step = step.id,
                    ?leads,
                    "a definitions reply starts where the failing tests lead"
                );
            }
            whole::definitions_grammar_led(&paths, &leads)
        } else {
            whole::grammar(&paths)
        };
        // The best the check has seen of these files, to revise from: as they are now, when the check is known
        // to fail on them.
        let mut best: Option<Best> = match &self.checked {
            Some((at, Some(report))) if *at == self.changes => Some(Best {
                tally: self.check_tally,
                report: report.clone(),
                files: self.current_texts(&paths),
                messages: messages.clone(),
                shown: shown.clone(),
                sources: sources.clone(),
            }),
            _ => None,
        };
        // How the tries since the best one left the check, for the model once the files are back.
        let mut setbacks: Vec<(String, String)> = Vec::new();
        let (mut written, mut answered, mut calls) = (0, 0, 0);
        // Whether the last reply wrote every file back as it was.
        let mut repeated = false;
        // Replies sampled beside the last one asked for and not tried yet, best first; where the conversation
        // stood when it was asked; the files as they were then (each candidate is written over those, not over
        // the one tried before it), and the files a candidate of it wrote.
        let mut pending: Vec<(String, Vec<whole::WholeFile>)> = Vec::new();
        let mut asked_at = messages.len();
        let mut before: Vec<(String, Option<String>)> = Vec::new();
        let mut touched: Vec<String> = Vec::new();
        loop {
            self.drain_ops();
            if self.interrupted {
                return Some(Attempt::Interrupted);
            }
            let (files, repeated_again) = if pending.is_empty() {
                if calls == ROUNDS {
                    break;
                }
                let round = calls;
                calls += 1;
                before = self.current_texts(&paths);
                touched.clear();
                asked_at = messages.len();
                // Not the step's first request: a reply has failed (this round, an earlier attempt, an earlier
                // pass over the plan), or the check fails on files an earlier step already wrote (the model's
                // greedy answer to these files is what they hold: asked the same, it writes them back).
                let retry = round > 0
                    || previous_failure.is_some()
                    || self.round > 1
                    || (self.checked.as_ref().is_some_and(|(_, f)| f.is_some())
                        && paths.iter().any(|p| self.changed.contains(p)));
                let request = ChatRequest {
                    messages: messages.clone(),
                    max_tokens: self.router.max_tokens(RouteRole::Executor),
                    grammar: Some(grammar.clone()),
                    stable_prefix: 2,
                    sources: sources.clone(),
                    // A later round samples: a greedy model asked again writes the same file again; after a
                    // reply that did just that, hotter.
                    temperature: retry.then_some(if repeated { 1.0 } else { 0.6 }),
                    // After a repeated reply, the whole distribution: the usual top-p/min-p cut leaves a
                    // confident small model one candidate per token, so a higher temperature alone changes
                    // nothing.
                    top_p: repeated.then_some(1.0),
                    // Bought once the model's best guess has been shown wrong: beside the first greedy reply
                    // they cost 2.2-2.5x a request on a CPU, and most passes are that reply's (BENCHMARKS, run 5).
                    alternatives: if retry {
                        self.cfg.agent.whole_file_alternatives
                    } else {
                        0
                    },
                    // Sampled from the brief alone: fresh answers to it. Beside a later round's revision, which
                    // a small model anchors on its last reply, they are what differs.
                    alternative_messages: Some(2),
                    ..ChatRequest::default()
                };
                let response = match self.call(RouteRole::Executor, escalated, &request).await {
                    Ok(routed) => routed.response,
                    Err(CallError::Interrupted) => return Some(Attempt::Interrupted),
                    Err(CallError::Router(e @ RouterError::Auth { .. })) => {
                        return Some(Attempt::Stopped(e.to_string()));
                    }
                    Err(CallError::Router(e)) => {
                        return Some(Attempt::Failed(format!(
                            "the model could not be reached: {e}"
                        )));
                    }
                };
                let failing = self.checked.as_ref().is_some_and(|(_, f)| f.is_some());
                // A reply cut off by its token budget writes nothing, not even the files it finished.
                let main_ended = response.finish != Some(crate::model::FinishReason::Length);
                if !main_ended {
                    tracing::info!(
                        step = step.id,
                        round,
                        "a whole-file reply was cut off by its token budget; nothing of it is written"
                    );
                }
                let mut order = candidates(
                    (&response.text, main_ended),
                    &response.alternatives,
                    &paths,
                    &before,
                    failing,
                    scope,
                );
                if order.is_empty() {
                    tracing::info!(step = step.id, round, "a whole-file reply named no file");
                    return None;
                }
                let (text, files) = order.remove(0);
                let mut reply = ChatMessage::assistant(text.clone());
                if text == response.text {
                    reply.verbatim = response.verbatim.clone();
                } else {
                    tracing::info!(
                        step = step.id,
                        round,
                        "the first reply left the files as they are; a reply sampled beside it is tried"
                    );
                }
                messages.push(reply);
                let repeated_now = !files.iter().any(|f| changes(f, &before));
                pending = order;
                let repeated_before = repeated;
                repeated = repeated_now;
                (files, repeated_before && repeated_now)
            } else {
                // The next candidate of the same request, in place of the one that failed.
                messages.truncate(asked_at);
                let (text, mut files) = pending.remove(0);
                messages.push(ChatMessage::assistant(text));
                // A file the last candidate wrote and this one leaves out goes back to how it was.
                for path in &touched {
                    if !files.iter().any(|f| f.path == *path)
                        && let Some((_, Some(old))) = before.iter().find(|(p, _)| p == path)
                    {
                        files.push(whole::WholeFile {
                            path: path.clone(),
                            content: old.clone(),
                            scope: whole::Scope::Exact,
                        });
                    }
                }
                (files, false)
            };
            let tests: Vec<(String, Option<String>)> = shown
                .iter()
                .filter(|(p, _)| is_test_path(p) && !paths.contains(p))
                .cloned()
                .collect();
            let (changed, refused, results) = self.write_whole(step.id, files, &tests).await;
            if self.interrupted {
                return Some(Attempt::Interrupted);
            }
            for path in &changed {
                if !touched.contains(path) {
                    touched.push(path.clone());
                }
            }
            let results = results.join("\n");
            written += changed.len();
            if refused > 0 && changed.is_empty() {
                if pending.is_empty() {
                    let again = if definitions {
                        "Write each function, method or class you change again, whole: its file's path, then a \
                         fenced block with the definitions."
                    } else {
                        "Write each file you change again, whole: its path, then a fenced block with every line."
                    };
                    messages.push(ChatMessage::user(format!("{results}\n{again}")));
                }
                continue;
            }
            let checked = last_open && *checks_left > 0;
            if changed.is_empty()
                && !(checked && self.checked.as_ref().is_some_and(|(_, f)| f.is_some()))
            {
                // Every file came back as it was, and no check says otherwise: in this format that is the
                // model's word that the step needs no change (an earlier step often did it already). The
                // session's check at the end still decides.
                return Some(Attempt::Done(
                    "the reply left the files as they are: nothing to change".into(),
                ));
            }
            let summary = format!("wrote {}", changed.join(", "));
            if !checked {
                return Some(Attempt::Done(summary));
            }
            if !changed.is_empty() {
                *checks_left -= 1;
            }
            match self.check().await {
                None => {
                    let why = self.verified.clone().unwrap_or_else(|| "no check".into());
                    return Some(Attempt::Done(format!("{summary}; not verified ({why})")));
                }
                Some(Ok(())) => {
                    let what = self.verified.clone().unwrap_or_else(|| "the check".into());
                    return Some(Attempt::Done(format!("{summary}; verified: {what}")));
                }
                Some(Err(report)) => {
                    answered += 1;
                    let tally = self.check_tally;
                    // Whether these files are the best the check has seen in these rounds (as good counts: the
                    // model's latest line of thought goes on).
                    let best_now = best
                        .as_ref()
                        .is_none_or(|b| !crate::agent::verify::worse(tally, b.tally));
                    // What the model is told of this try, unless the files go back to the best ones.
                    let said = self.report_message(
                        &report,
                        &results,
                        Reply {
                            unchanged: changed.is_empty(),
                            definitions,
                        },
                        &paths,
                        &mut shown,
                        &mut sources,
                    );
                    if best_now {
                        let mut conversation = messages.clone();
                        conversation.push(ChatMessage::user(said.clone()));
                        best = Some(Best {
                            tally,
                            report: report.clone(),
                            files: self.current_texts(&paths),
                            messages: conversation,
                            shown: shown.clone(),
                            sources: sources.clone(),
                        });
                        setbacks.clear();
                    } else {
                        setbacks.push((setback(tally, &report), report.clone()));
                    }
                    if !pending.is_empty() {
                        // A reply sampled beside this one is tried before the model is asked again.
                        continue;
                    }
                    // Revised from the best files so far, not from a later, worse, try: a small model's
                    // revision of a broken file tends to break it further.
                    let mut back = false;
                    if !best_now && let Some(b) = best.take() {
                        back = self.restore(step.id, &b).await;
                        if self.interrupted {
                            return Some(Attempt::Interrupted);
                        }
                        if back {
                            tracing::info!(step = step.id, tally = ?b.tally, "the files are back to the best whole-file try so far");
                            messages = b.messages.clone();
                            shown = b.shown.clone();
                            sources = b.sources.clone();
                            let tried: Vec<&str> = setbacks
                                .iter()
                                .rev()
                                .take(3)
                                .rev()
                                .map(|(s, _)| s.as_str())
                                .collect();
                            // Tests those tries made fail that this conversation has not shown.
                            let mut more = String::new();
                            for (_, report) in &setbacks {
                                more.push_str(&self.new_tests(report, &mut shown, &mut sources));
                            }
                            if let Some(last) = messages.last_mut() {
                                last.content.push_str(&format!(
                                    "\n\nTried since then, and worse: {}. The files are back to this version, \
                                     the best so far: change it.{more}",
                                    tried.join("; ")
                                ));
                            }
                        }
                        best = Some(b);
                    }
                    if repeated_again {
                        // Asked again, the same files: more rounds of this conversation spend minutes on the
                        // same reply. A fresh attempt starts from the failing check instead.
                        return Some(Attempt::Failed(format!(
                            "the model wrote the files back unchanged twice while the project's check failed: {}",
                            first_line(&report)
                        )));
                    }
                    if !back {
                        messages.push(ChatMessage::user(said));
                    }
                }
            }
        }
        // The model answers in the format but the check still fails: a fresh attempt does better than tool
        // turns on what it has already tried (the brief shows the failing check).
        (answered > 0).then(|| {
            let kept = best
                .as_ref()
                .and_then(|b| b.tally)
                .map(|t| format!("; the files are left as the best of them had them ({t})"))
                .unwrap_or_default();
            Attempt::Failed(format!(
                "{answered} whole-file replies ({written} of them changing a file) left the project's check failing{kept}"
            ))
        })
    }
}

/// What a reply that the check failed did, and what it was asked for.
#[derive(Debug, Clone, Copy)]
struct Reply {
    /// It left every file as it was.
    unchanged: bool,
    /// It was asked for the definitions it changes, not whole files.
    definitions: bool,
}

/// A state of a whole-file step's files that the check has judged: the best so far is what the next reply
/// revises.
struct Best {
    /// The tests it passed and failed, where the check's output says.
    tally: Option<crate::agent::verify::Tally>,
    /// The check's report on it.
    report: String,
    /// The step's writable files as they were.
    files: Vec<(String, Option<String>)>,
    /// The conversation that led to it, ending with the report on it.
    messages: Vec<ChatMessage>,
    /// The files that conversation has shown, and the sources it carries.
    shown: Vec<(String, Option<String>)>,
    sources: Vec<String>,
}

/// How a try that left the check worse than the best one did, in a few words: its tally and the first error
/// its report names (for a Python traceback, the exception that closes it: the cause, not the loader's wrapper).
fn setback(tally: Option<crate::agent::verify::Tally>, report: &str) -> String {
    let count = tally.map_or_else(|| "the tests did not run".to_string(), |t| t.to_string());
    let lines: Vec<&str> = report.lines().map(str::trim_end).collect();
    let first = lines
        .iter()
        .position(|l| {
            l.contains("Error") || l.trim_start().starts_with("error") || l.contains("panicked")
        })
        .or_else(|| lines.iter().position(|l| l.starts_with("FAIL")));
    let error = first.map(|i| {
        // A traceback's exceptions run to the end of its block (unittest and pytest rule one off with `---` or
        // `===`): the last is the one raised.
        let block = lines[i..].iter().take_while(|l| {
            !(l.starts_with("---") || l.starts_with("===") || l.starts_with("___"))
        });
        let line = if is_exception_line(lines[i]) {
            block
                .filter(|l| is_exception_line(l))
                .last()
                .copied()
                .unwrap_or(lines[i])
        } else {
            lines[i]
        };
        format!(" ({})", line.trim().chars().take(160).collect::<String>())
    });
    format!("{count}{}", error.unwrap_or_default())
}

/// Whether `line` is an exception as a traceback prints it: `SyntaxError: …`, `pkg.CustomError: …`,
/// `AssertionError [ERR_ASSERTION]: …`, from the first column.
fn is_exception_line(line: &str) -> bool {
    let name_len = line
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
        .unwrap_or(line.len());
    let (name, rest) = line.split_at(name_len);
    let rest = rest.trim_start();
    (name.ends_with("Error") || name.ends_with("Exception"))
        && (rest.starts_with(':') || rest.starts_with('['))
}

/// The whole-file replies to try, in order, each with its files: the main reply (with whether it ended, rather
/// than being cut off by its token budget), then those sampled beside it that change a file (relative to
/// `before`) in a way no earlier one does. Replies that name no file, and replies cut off before their end (an
/// alternative is complete when its last line closes a block), are left out: none of their files is written. When the check is known to fail (`failing`), a reply that leaves every file as it is goes only where no
/// reply changes one, and then alone; otherwise the main reply stays first whatever it does (its "nothing to
/// change" is an answer).
fn candidates(
    (main, main_ended): (&str, bool),
    alternatives: &[String],
    paths: &[String],
    before: &[(String, Option<String>)],
    failing: bool,
    scope: whole::Scope,
) -> Vec<(String, Vec<whole::WholeFile>)> {
    let mut out: Vec<(String, Vec<whole::WholeFile>, bool)> = Vec::new();
    for (i, text) in std::iter::once(main)
        .chain(alternatives.iter().map(String::as_str))
        .enumerate()
    {
        let ended = if i == 0 {
            main_ended
        } else {
            whole::closed(text)
        };
        if !ended {
            continue;
        }
        let mut files = whole::parse(text, paths);
        for file in &mut files {
            file.scope = scope;
        }
        if files.is_empty() || out.iter().any(|(_, f, _)| *f == files) {
            continue;
        }
        let changing = files.iter().any(|f| changes(f, before));
        // An alternative is there to be different: one that changes nothing adds nothing.
        if i > 0 && !changing {
            continue;
        }
        out.push((text.to_string(), files, changing));
    }
    if failing && out.iter().any(|(_, _, changing)| *changing) {
        out.retain(|(_, _, changing)| *changing);
    }
    out.into_iter().map(|(t, f, _)| (t, f)).collect()
}

/// Whether writing `file` would change it from its text in `before` (a file not there is created).
fn changes(file: &whole::WholeFile, before: &[(String, Option<String>)]) -> bool {
    match before.iter().find(|(p, _)| *p == file.path) {
        Some((_, Some(old))) => {
            whole::apply(&file.path, old, &file.content, file.scope).is_ok_and(|new| new != *old)
        }
        _ => true,
    }
}

/// The first class or function that writing `file` over `old` would add and that one of `tests` (path, text)
/// defines, with that test's path: a small model shown a test often pastes it into the code.
fn copied_test(
    file: &whole::WholeFile,
    old: Option<&str>,
    tests: &[(String, Option<String>)],
) -> Option<(String, String)> {
    use crate::repomap::tags::{Lang, tags};
    let defined = |path: &str, text: &str| -> Vec<String> {
        Lang::of(std::path::Path::new(path))
            .and_then(|lang| tags(lang, text).ok())
            .unwrap_or_default()
            .into_iter()
            .filter(|t| t.is_definition && matches!(t.kind.as_str(), "class" | "function"))
            .map(|t| t.name)
            .collect()
    };
    let had = old.map(|o| defined(&file.path, o)).unwrap_or_default();
    let new: Vec<String> = defined(&file.path, &file.content)
        .into_iter()
        .filter(|n| !had.contains(n))
        .collect();
    tests.iter().find_map(|(test, text)| {
        let theirs = defined(test, text.as_deref()?);
        new.iter()
            .find(|n| theirs.contains(n))
            .map(|n| (n.clone(), test.clone()))
    })
}

/// A function or method of `files` to show a definitions-only reply with, as (path, name, first line): the
/// first that `hint` (the brief, with its failing-line pointers) names, else the first of the longest file.
fn example_definition(
    files: &[&(String, Option<String>)],
    hint: &str,
) -> Option<(String, String, String)> {
    let mut found: Vec<(String, String, String)> = Vec::new();
    for (path, text) in files {
        let (Some(text), Some(lang)) = (
            text,
            crate::repomap::tags::Lang::of(std::path::Path::new(path)),
        ) else {
            continue;
        };
        let Ok(tags) = crate::repomap::tags::tags(lang, text) else {
            continue;
        };
        for tag in tags {
            if tag.is_definition && matches!(tag.kind.as_str(), "function" | "method") {
                found.push((path.clone(), tag.name, tag.signature));
            }
        }
    }
    let named = found
        .iter()
        .find(|(_, name, _)| hint.contains(&format!("calls {name} (")))
        .cloned();
    named.or_else(|| found.into_iter().next())
}

/// Whether `path` is a test by the usual conventions: a `test`/`tests`/`spec`/`__tests__` folder, or a file
/// named `test_*`, `*_test.*`, `*.test.*`, `*.spec.*`, `test.*` or `tests.*`.
pub(super) fn is_test_path(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let mut parts: Vec<&str> = lower.split('/').collect();
    let name = parts.pop().unwrap_or_default();
    let stem = name.split('.').next().unwrap_or_default();
    parts
        .iter()
        .any(|d| matches!(*d, "test" | "tests" | "spec" | "__tests__"))
        || name.starts_with("test_")
        || stem.ends_with("_test")
        || name.contains(".test.")
        || name.contains(".spec.")
        || matches!(stem, "test" | "tests")
}

/// Whether `path` lies in a dependency, build-output or hidden folder, whose files a check's output may name
/// but a step does not change.
pub(super) fn vendored(path: &str) -> bool {
    let mut dirs: Vec<&str> = path.split('/').collect();
    dirs.pop();
    dirs.iter().any(|d| {
        d.starts_with('.')
            || matches!(
                *d,
                "node_modules"
                    | "site-packages"
                    | "target"
                    | "vendor"
                    | "dist"
                    | "build"
                    | "__pycache__"
            )
    })
}

/// The first non-empty line of `text`, for a one-line summary.
fn first_line(text: &str) -> &str {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
}

/// Characters of the files' texts (a file still to be created has none).
fn text_chars(files: &[(String, Option<String>)]) -> usize {
    files
        .iter()
        .map(|(_, t)| t.as_ref().map_or(0, String::len))
        .sum()
}

/// Most paths taken from one text by [`mentioned_paths`].
const MENTIONED_MAX: usize = 8;

/// Most files a failing check's output adds to a whole-file step.
const REPORT_FILES_MAX: usize = 3;

/// Words of `text` that look like file paths (`cli.js`, `src/lib.rs`, `` `a.py` ``): a dot or slash, no spaces,
/// quotes and trailing punctuation stripped. Whether each is a file is for the caller's path policy to say.
fn mentioned_paths(text: &str) -> Vec<String> {
    paths_among(
        text.split(|c: char| {
            c.is_whitespace() || matches!(c, '`' | '"' | '\'' | '(' | ')' | ',' | ';')
        }),
        MENTIONED_MAX,
    )
}

/// Paths a check's output names, relative to the workspace `root`: a traceback's `File "/ws/test_x.py", line 3`,
/// a compiler's `--> src/lib.rs:3:5`, a stack frame's `(/ws/test.js:5:8)`. Paths outside `root` are dropped
/// here or by the caller's path policy.
fn report_paths(root: &str, report: &str) -> Vec<String> {
    let root = format!("{}/", root.trim_end_matches('/'));
    let text = report.replace(&root, "");
    paths_among(
        text.split(|c: char| !(c.is_alphanumeric() || matches!(c, '.' | '/' | '_' | '-'))),
        REPORT_FILES_MAX * 3,
    )
}

/// The first `max` distinct words that look like relative file paths.
fn paths_among<'a>(words: impl Iterator<Item = &'a str>, max: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in words {
        let word = word
            .trim_end_matches(['.', ':', '!', '?'])
            .trim_start_matches("./");
        if looks_like_path(word) && !out.iter().any(|w| w == word) {
            out.push(word.to_string());
            if out.len() == max {
                break;
            }
        }
    }
    out
}

/// Whether `word` reads as a relative file path with an extension (`a.py`, `src/lib.rs`), not a flag, an
/// absolute path, a parent-relative path, a URL or a number.
pub(super) fn looks_like_path(word: &str) -> bool {
    word.len() > 2
        && word.contains(['.', '/'])
        && !word.starts_with(['-', '/', '.'])
        && !word.contains("..")
        && !word.contains("://")
        && word
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '/' | '_' | '-'))
        && word
            .rsplit('/')
            .next()
            .and_then(|name| name.rsplit_once('.'))
            .is_some_and(|(stem, ext)| {
                !stem.is_empty() && ext.starts_with(|c: char| c.is_ascii_alphabetic())
            })
}

/// The fence's language tag for `path`: its extension (`py`, `rs`, `js`), which models read as the language.
fn fence_tag(path: &str) -> &str {
    std::path::Path::new(path)
        .extension()
        .and_then(|e| e.to_str())
        .filter(|e| e.chars().all(|c| c.is_ascii_alphanumeric()))
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_setback_names_its_tally_and_the_error_that_caused_it() {
        use crate::agent::verify::Tally;
        let syntax = "ERROR: test_calc (unittest.loader._FailedTest.test_calc)\n---\nImportError: Failed to import \
                      test module: test_calc\nTraceback (most recent call last):\n  File \"calc.py\", line 1\n    \
                      def add(a, b)\n                 ^\nSyntaxError: expected ':'\n\n---\nRan 1 test\n\nFAILED (errors=1)";
        let one = Some(Tally {
            passed: 0,
            failed: 1,
        });
        assert_eq!(
            setback(one, syntax),
            "0 passed, 1 failed (SyntaxError: expected ':')"
        );
        let assertion = "FAIL: test_add (test_calc.CalcTest.test_add)\n---\nTraceback (most recent call last):\n  \
                         File \"test_calc.py\", line 8, in test_add\nAssertionError: 6 != 5\n---\nRan 2 tests";
        let two = Some(Tally {
            passed: 0,
            failed: 2,
        });
        assert_eq!(
            setback(two, assertion),
            "0 passed, 2 failed (AssertionError: 6 != 5)"
        );
        let rust = "error[E0308]: mismatched types\n --> src/lib.rs:2:5";
        assert_eq!(
            setback(None, rust),
            "the tests did not run (error[E0308]: mismatched types)"
        );
        assert_eq!(setback(None, "exit status 1"), "the tests did not run");
        assert!(is_exception_line("AssertionError [ERR_ASSERTION]: 1 == 2"));
        assert!(is_exception_line("pkg.errors.ParseError: bad"));
        assert!(!is_exception_line("  Error in the middle"));
    }

    #[test]
    fn candidates_put_a_change_before_a_copy_when_the_check_fails_and_drop_what_adds_nothing() {
        let paths = vec!["a.py".to_string()];
        let before = vec![("a.py".to_string(), Some("x = 1\n".to_string()))];
        let reply = |body: &str| format!("a.py\n```py\n{body}```\n");
        let copy = reply("x = 1\n");
        let (two, three) = (reply("x = 2\n"), reply("x = 3\n"));
        let texts = |c: Vec<(String, Vec<whole::WholeFile>)>| -> Vec<String> {
            c.into_iter().map(|(t, _)| t).collect()
        };
        // A failing check: the copy goes, the changes stay in order, a duplicate and a non-reply go.
        let alts = vec![
            two.clone(),
            "no file here".to_string(),
            two.clone(),
            three.clone(),
        ];
        assert_eq!(
            texts(candidates(
                (&copy, true),
                &alts,
                &paths,
                &before,
                true,
                whole::Scope::File
            )),
            vec![two.clone(), three.clone()]
        );
        // No failing check: the main reply's "nothing to change" is its answer and stays first; an alternative
        // that also copies adds nothing.
        assert_eq!(
            texts(candidates(
                (&copy, true),
                &[copy.clone(), two.clone()],
                &paths,
                &before,
                false,
                whole::Scope::File
            )),
            vec![copy.clone(), two.clone()]
        );
        // Only copies under a failing check: the main one alone (the repeat rule takes it from there).
        assert_eq!(
            texts(candidates(
                (&copy, true),
                std::slice::from_ref(&copy),
                &paths,
                &before,
                true,
                whole::Scope::File
            )),
            vec![copy.clone()]
        );
        // A main reply that names no file gives way to one that does.
        assert_eq!(
            texts(candidates(
                ("prose", true),
                std::slice::from_ref(&three),
                &paths,
                &before,
                true,
                whole::Scope::File
            )),
            vec![three.clone()]
        );
        assert!(
            candidates(
                ("prose", true),
                &[],
                &paths,
                &before,
                true,
                whole::Scope::File
            )
            .is_empty()
        );
        // Replies cut off before their end write nothing: a main reply stopped by its token budget, and an
        // alternative whose last block is not closed, even where a file before the cut is whole.
        let cut = format!("{two}b.py\n```\nunfinished =");
        assert_eq!(
            texts(candidates(
                (&cut, false),
                &[cut.clone(), three.clone()],
                &["a.py".to_string(), "b.py".to_string()],
                &before,
                true,
                whole::Scope::File
            )),
            vec![three]
        );
    }

    #[test]
    fn tests_are_known_by_their_names_and_folders() {
        for p in [
            "test_calc.py",
            "tests/test_x.py",
            "calc_test.go",
            "cart.test.js",
            "ui.spec.ts",
            "test.js",
            "tests.rs",
            "src/__tests__/a.js",
            "tests/cli.rs",
        ] {
            assert!(is_test_path(p), "{p}");
        }
        for p in [
            "calc.py",
            "src/testing.rs",
            "latest.js",
            "contest/a.py",
            "attest.py",
        ] {
            assert!(!is_test_path(p), "{p}");
        }
    }

    #[test]
    fn a_check_report_names_workspace_files_in_each_tool_s_own_shape() {
        let report = "FAIL: test_lines (test_wc.WcTest.test_lines)\n\
            Traceback (most recent call last):\n  File \"/tmp/x/ws/test_wc.py\", line 29, in test_lines\n\
            error[E0425]: cannot find value `y`\n  --> src/lib.rs:3:5\n\
            at Object.<anonymous> (/tmp/x/ws/test.js:5:8)\n\
            at Module._compile (node:internal/modules/cjs/loader.js:1105:14)\n\
            File \"/usr/lib/python3.11/unittest/case.py\", line 57\n";
        let paths = report_paths("/tmp/x/ws", report);
        for p in ["test_wc.py", "src/lib.rs", "test.js"] {
            assert!(paths.iter().any(|x| x == p), "{p} in {paths:?}");
        }
        // Absolute paths outside the workspace stay absolute, so they are not paths in it.
        assert!(
            !paths.iter().any(|x| x.contains("unittest/case.py")),
            "{paths:?}"
        );
        assert!(vendored("node_modules/a/index.js") && vendored(".venv/lib/x.py"));
        assert!(!vendored("src/lib.rs") && !vendored("test_wc.py"));
    }

    #[test]
    fn paths_mentioned_in_a_task_are_found_and_words_are_not() {
        let task = "Add an `--upper` flag to cli.js: `node cli.js --upper NAME` prints it. See src/lib.rs, \
                    e.g. the README.md; not ../etc/passwd, /etc/hosts, https://x.io/a.js or 3.5.";
        // `e.g` looks like a file name; the caller's read finds it is not one.
        assert_eq!(
            mentioned_paths(task),
            ["cli.js", "src/lib.rs", "e.g", "README.md"]
        );
    }
}
