//! Sample-check: the step's files are shown as they are and one reply writes what changes (whole files, or the
//! definitions it changes in files too long for that), held to its edit format by a grammar on a local
//! engine. On the plan's last open step each reply is tried on the check; a failing one goes back to the model
//! with the report, replies sampled beside a retried request are tried in turn before it is asked again, and
//! every revision starts from the best files the check has seen. One reply can do a step that takes a small
//! model many tool turns; when the model does not answer in the format, the next strategy takes over.
//!
//! Its numbers (rounds, alternatives, temperatures, when a file is asked for by its definitions) are the model
//! profile's.

use super::{Attempt, StepContext, StepStrategy};
use crate::agent::names;
use crate::agent::session::{CallError, Session, pointers};
use crate::agent::verify::Tally;
use crate::edit::format::{EditFormat, FileEdit, Scope, fenced, fenced_for};
use crate::model::{ChatMessage, ChatRequest, Sequence};
use crate::protocol::RouteRole;
use crate::router::RouterError;

/// Replies in one edit format, tried on the check.
pub(crate) struct SampleCheck;

impl StepStrategy for SampleCheck {
    /// `Some` ends the attempt: done, or failed when the model answered in the format and the check still
    /// fails after every round (the next attempt starts afresh, sampling). `None` leaves the step to the next
    /// strategy: the step's files cannot be asked for in one reply, the model did not answer in the format, or
    /// every file it wrote was refused.
    async fn attempt(&mut self, cx: &mut StepContext<'_>) -> Option<Attempt> {
        let mut rounds = Rounds::open(cx).await?;
        rounds.run(cx).await
    }
}

/// A state of the step's files that the check has judged: the best so far is what the next reply revises.
struct Best {
    /// The tests it passed and failed, where the check's output says.
    tally: Option<Tally>,
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

/// A reply to try: its text and the edits it makes.
type Candidate = (String, Vec<FileEdit>);

/// One attempt's rounds: the conversation, the candidates still to try, and the best the check has seen.
struct Rounds {
    /// The edit format the replies are asked in.
    format: &'static dyn EditFormat,
    /// The files a reply may write.
    paths: Vec<String>,
    /// The grammar a reply is held to.
    grammar: Option<String>,
    /// The conversation so far.
    messages: Vec<ChatMessage>,
    /// The files the conversation has shown (those a reply may write, and the tests for reference).
    shown: Vec<(String, Option<String>)>,
    /// The workspace files whose content the conversation carries (the router keeps it local when one is
    /// sensitive).
    sources: Vec<String>,
    /// The best files the check has seen in these rounds, to revise from.
    best: Option<Best>,
    /// How the tries since the best one left the check, for the model once the files are back: (in a few
    /// words, the report).
    setbacks: Vec<(String, String)>,
    /// Requests made, replies the check judged, and files written.
    asked: u32,
    answered: u32,
    written: usize,
    /// Whether the last reply asked for wrote every file back as it was.
    repeated: bool,
    /// Replies sampled beside the last one asked for and not tried yet, best first.
    pending: Vec<Candidate>,
    /// Where the conversation stood when the last request was made.
    asked_at: usize,
    /// The files as they were when it was made (each candidate is written over these, not over the one tried
    /// before it), and the files a candidate of it wrote.
    before: Vec<(String, Option<String>)>,
    touched: Vec<String>,
}

/// What the model is told after a reply whose files fail the check.
enum Judged {
    /// The attempt ends.
    End(Attempt),
    /// The next candidate, or the next request.
    Next,
}

impl Rounds {
    /// The step's files, what the check says of them, the brief and the format; `None` when the step's files
    /// cannot be asked for in one reply (not the local executor, too large, none the step may write).
    async fn open(cx: &mut StepContext<'_>) -> Option<Rounds> {
        let mut targets = cx.session.whole_file_targets(cx.step, cx.escalated)?;
        // On the last step the model first sees what the check says of the code as it is (a failing test's
        // output says more to a small model than the task does), unless that is known already.
        if cx.last_open && !cx.check_is_current() {
            cx.spend_check().await;
        }
        let s = &mut *cx.session;
        // The files a failing check names (the test that fails, the file the error is in) are what a person
        // would open next; a small model does not ask for them.
        if let Some((_, Some(report))) = &s.checked {
            for (path, text) in s.report_files(report, &targets, s.room_left(&targets)) {
                // A file the model may write comes in only if a reply writing all of them still fits.
                targets.push((path, Some(text)));
                if !s.reply_fits(&targets) {
                    targets.pop();
                }
            }
        }
        let (writable, reference): (Vec<_>, Vec<_>) =
            targets.iter().partition(|(p, _)| s.may_write(p));
        if writable.is_empty() {
            return None;
        }
        let paths: Vec<String> = writable.iter().map(|(p, _)| p.clone()).collect();
        let shown: Vec<(String, Option<String>)> = targets.clone();
        let mut sources: Vec<String> = Vec::new();
        for raw in cx.step.files.iter().chain(shown.iter().map(|(p, _)| p)) {
            s.add_sources(raw, &mut sources);
        }
        let mut brief = s.step_heading(cx.step, None);
        brief.push_str(&s.step_notes(cx.previous_failure));
        // The failing test lines and what they call in the files, for the brief and for where a definitions
        // reply starts.
        let writable_files: Vec<_> = writable.iter().map(|&f| f.clone()).collect();
        let failing = match &s.checked {
            Some((_, Some(report))) => s.failing_targets(report, &writable_files),
            None | Some((_, None)) => Vec::new(),
        };
        brief.push_str(&pointers::describe(&failing));
        for (path, text) in &reference {
            if let Some(text) = text {
                brief.push_str(&format!(
                    "\n\nFor reference, the test {path} (leave it as it is):\n```{}\n{text}```",
                    names::fence_tag(path)
                ));
            }
        }
        brief.push_str("\n\nThe files as they are now:\n");
        for (path, text) in &writable {
            brief.push('\n');
            match text {
                Some(text) => brief.push_str(&fenced::render(path, names::fence_tag(path), text)),
                None => brief.push_str(&format!(
                    "{path} does not exist yet: the step creates it.\n"
                )),
            }
        }
        // A long file is asked for by the definitions the reply changes; a short one whole.
        let format = fenced_for(&writable, s.cfg.profile.definitions_lines as usize);
        let example = example_definition(&writable, &brief);
        let example = example
            .as_ref()
            .map(|(p, n, sig)| (p.as_str(), n.as_str(), sig.as_str()));
        brief.push('\n');
        brief.push_str(&format.instructions(&paths, example));
        let messages = vec![
            ChatMessage::system(s.cfg.prompt(format.prompt()).trim()),
            ChatMessage::user(brief),
        ];
        // Where the failing tests call existing definitions, a definitions reply starts at one of them.
        let leads = pointers::reply_leads(&failing, &writable_files);
        let grammar = format.grammar(&paths, &leads);
        tracing::info!(
            step = cx.step.id,
            format = format.name(),
            ?leads,
            "sample-check"
        );
        // The best the check has seen of these files, to revise from: as they are now, when the check is known
        // to fail on them.
        let best = match &s.checked {
            Some((at, Some(report))) if *at == s.changes => Some(Best {
                tally: s.check_tally,
                report: report.clone(),
                files: s.current_texts(&paths),
                messages: messages.clone(),
                shown: shown.clone(),
                sources: sources.clone(),
            }),
            _ => None,
        };
        Some(Rounds {
            format,
            paths,
            grammar,
            asked_at: messages.len(),
            messages,
            shown,
            sources,
            best,
            setbacks: Vec::new(),
            asked: 0,
            answered: 0,
            written: 0,
            repeated: false,
            pending: Vec::new(),
            before: Vec::new(),
            touched: Vec::new(),
        })
    }

    /// Asks, writes and checks until the attempt ends or the profile's rounds are spent.
    async fn run(&mut self, cx: &mut StepContext<'_>) -> Option<Attempt> {
        loop {
            cx.session.drain_ops();
            if cx.session.interrupted {
                return Some(Attempt::Interrupted);
            }
            let (files, repeated_again) = if self.pending.is_empty() {
                if self.asked == cx.session.cfg.profile.rounds {
                    break;
                }
                match self.ask(cx).await {
                    Ok(next) => next,
                    Err(end) => return end,
                }
            } else {
                (self.next_pending(), false)
            };
            let tests: Vec<(String, Option<String>)> = self
                .shown
                .iter()
                .filter(|(p, _)| names::is_test_path(p) && !self.paths.contains(p))
                .cloned()
                .collect();
            let (changed, refused, results) =
                cx.session.write_whole(cx.step.id, files, &tests).await;
            if cx.session.interrupted {
                return Some(Attempt::Interrupted);
            }
            for path in &changed {
                if !self.touched.contains(path) {
                    self.touched.push(path.clone());
                }
            }
            let results = results.join("\n");
            self.written += changed.len();
            if refused > 0 && changed.is_empty() {
                if self.pending.is_empty() {
                    self.messages.push(ChatMessage::user(format!(
                        "{results}\n{}",
                        self.format.again()
                    )));
                }
                continue;
            }
            let checked = cx.last_open && cx.checks_left > 0;
            let failing = cx
                .session
                .checked
                .as_ref()
                .is_some_and(|(_, f)| f.is_some());
            if changed.is_empty() && !(checked && failing) {
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
            let verdict = if changed.is_empty() {
                cx.session.check().await
            } else {
                cx.spend_check().await.flatten()
            };
            let s = &*cx.session;
            match verdict {
                None => {
                    let why = s.verified.clone().unwrap_or_else(|| "no check".into());
                    return Some(Attempt::Done(format!("{summary}; not verified ({why})")));
                }
                Some(Ok(())) => {
                    let what = s.verified.clone().unwrap_or_else(|| "the check".into());
                    return Some(Attempt::Done(format!("{summary}; verified: {what}")));
                }
                Some(Err(report)) => {
                    let unchanged = changed.is_empty();
                    if let Judged::End(end) = self
                        .judge(cx, &report, &results, unchanged, repeated_again)
                        .await
                    {
                        return Some(end);
                    }
                }
            }
        }
        // The model answers in the format but the check still fails: a fresh attempt does better than tool
        // turns on what it has already tried (the brief shows the failing check).
        (self.answered > 0).then(|| {
            let kept = self
                .best
                .as_ref()
                .and_then(|b| b.tally)
                .map(|t| format!("; the files are left as the best of them had them ({t})"))
                .unwrap_or_default();
            Attempt::Failed(format!(
                "{} {} replies ({} of them changing a file) left the project's check failing{kept}",
                self.answered,
                self.format.name(),
                self.written
            ))
        })
    }

    /// Makes the next request: the candidate to try first (its edits, and whether it and the reply before it
    /// both wrote the files back unchanged), with the rest pending; `Err` ends the attempt (`None` inside: the
    /// model did not answer in the format, and the next strategy takes the step).
    async fn ask(
        &mut self,
        cx: &mut StepContext<'_>,
    ) -> Result<(Vec<FileEdit>, bool), Option<Attempt>> {
        let round = self.asked;
        self.asked += 1;
        let s = &mut *cx.session;
        self.before = s.current_texts(&self.paths);
        self.touched.clear();
        self.asked_at = self.messages.len();
        // Not the step's first request: a reply has failed (this round, an earlier attempt, an earlier pass over
        // the plan), or the check fails on files an earlier step already wrote (the model's greedy answer to
        // these files is what they hold: asked the same, it writes them back).
        let failing = s.checked.as_ref().is_some_and(|(_, f)| f.is_some());
        let retry = round > 0
            || cx.previous_failure.is_some()
            || s.round > 1
            || (failing && self.paths.iter().any(|p| s.changed.contains(p)));
        let profile = &s.cfg.profile;
        let request = ChatRequest {
            messages: self.messages.clone(),
            max_tokens: s.router.max_tokens(RouteRole::Executor),
            grammar: self.grammar.clone(),
            stable_prefix: 2,
            sources: self.sources.clone(),
            // A retry samples: a greedy model asked again writes the same files again; after a reply that did
            // just that, hotter, over the whole distribution (the usual top-p/min-p cut leaves a confident
            // small model one candidate per token).
            temperature: retry.then_some(if self.repeated {
                profile.repeat_temperature as f32
            } else {
                profile.retry_temperature as f32
            }),
            top_p: self.repeated.then_some(1.0),
            // Replies sampled beside a retry's, from the brief alone: fresh answers to it, where a later round's
            // revision anchors on its last reply.
            alternatives: if retry { profile.alternatives } else { 0 },
            alternative_messages: Some(2),
            ..ChatRequest::default()
        };
        let response = match s.call(RouteRole::Executor, cx.escalated, &request).await {
            Ok(routed) => routed.response,
            Err(CallError::Interrupted) => return Err(Some(Attempt::Interrupted)),
            Err(CallError::Router(e @ RouterError::Auth { .. })) => {
                return Err(Some(Attempt::Stopped(e.to_string())));
            }
            Err(CallError::Router(e)) => {
                return Err(Some(Attempt::Failed(format!(
                    "the model could not be reached: {e}"
                ))));
            }
        };
        // A reply cut off by its token budget writes nothing, not even the files it finished.
        let sequences = response.sequences();
        if !sequences[0].complete() {
            tracing::info!(
                step = cx.step.id,
                round,
                finish = ?response.finish,
                "the reply did not end on its own (cut off by its token budget?); nothing of it is written"
            );
        }
        let mut order = candidates(&sequences, &self.paths, &self.before, failing, self.format);
        if order.is_empty() {
            tracing::info!(step = cx.step.id, round, "a reply named no file");
            return Err(None);
        }
        let (text, files) = order.remove(0);
        let mut reply = ChatMessage::assistant(text.clone());
        if text == response.text {
            reply.verbatim = response.verbatim.clone();
        } else {
            tracing::info!(
                step = cx.step.id,
                round,
                "the first reply left the files as they are; a reply sampled beside it is tried"
            );
        }
        self.messages.push(reply);
        let repeated_now = !files.iter().any(|f| changes(f, &self.before));
        self.pending = order;
        let repeated_again = self.repeated && repeated_now;
        self.repeated = repeated_now;
        Ok((files, repeated_again))
    }

    /// The next candidate of the last request, in place of the one that failed: a file that one wrote and
    /// this one leaves out goes back to how it was.
    fn next_pending(&mut self) -> Vec<FileEdit> {
        self.messages.truncate(self.asked_at);
        let (text, mut files) = self.pending.remove(0);
        self.messages.push(ChatMessage::assistant(text));
        for path in &self.touched {
            if !files.iter().any(|f| f.path == *path)
                && let Some((_, Some(old))) = self.before.iter().find(|(p, _)| p == path)
            {
                files.push(FileEdit {
                    path: path.clone(),
                    content: old.clone(),
                    scope: Scope::Exact,
                });
            }
        }
        files
    }

    /// Weighs a reply the check failed with `report`: it becomes the best so far, or the files go back to the
    /// best and the model revises those; what the model is told is added to the conversation.
    async fn judge(
        &mut self,
        cx: &mut StepContext<'_>,
        report: &str,
        results: &str,
        unchanged: bool,
        repeated_again: bool,
    ) -> Judged {
        self.answered += 1;
        let s = &mut *cx.session;
        let tally = s.check_tally;
        // Whether these files are the best the check has seen in these rounds (as good counts: the model's
        // latest line of thought goes on).
        let best_now = self
            .best
            .as_ref()
            .is_none_or(|b| !crate::agent::verify::worse(tally, b.tally));
        let said = self.report_message(s, report, results, unchanged);
        if best_now {
            let mut conversation = self.messages.clone();
            conversation.push(ChatMessage::user(said.clone()));
            self.best = Some(Best {
                tally,
                report: report.to_string(),
                files: s.current_texts(&self.paths),
                messages: conversation,
                shown: self.shown.clone(),
                sources: self.sources.clone(),
            });
            self.setbacks.clear();
        } else {
            self.setbacks
                .push((setback(tally, report), report.to_string()));
        }
        if !self.pending.is_empty() {
            // A reply sampled beside this one is tried before the model is asked again.
            return Judged::Next;
        }
        // Revised from the best files so far, not from a later, worse, try: a small model's revision of a broken
        // file tends to break it further.
        let mut back = false;
        if !best_now && let Some(b) = self.best.take() {
            back = s.restore(cx.step.id, &b.files, &b.report, b.tally).await;
            if s.interrupted {
                return Judged::End(Attempt::Interrupted);
            }
            if back {
                tracing::info!(step = cx.step.id, tally = ?b.tally, "the files are back to the best try so far");
                self.messages = b.messages.clone();
                self.shown = b.shown.clone();
                self.sources = b.sources.clone();
                let tried: Vec<&str> = self
                    .setbacks
                    .iter()
                    .rev()
                    .take(3)
                    .rev()
                    .map(|(s, _)| s.as_str())
                    .collect();
                // Tests those tries made fail that this conversation has not shown.
                let mut more = String::new();
                for (_, report) in &self.setbacks {
                    more.push_str(&s.new_tests(report, &mut self.shown, &mut self.sources));
                }
                if let Some(last) = self.messages.last_mut() {
                    last.content.push_str(&format!(
                        "\n\nTried since then, and worse: {}. The files are back to this version, the best so \
                         far: change it.{more}",
                        tried.join("; ")
                    ));
                }
            }
            self.best = Some(b);
        }
        if repeated_again {
            // Asked again, the same files: more rounds of this conversation spend minutes on the same reply. A
            // fresh attempt starts from the failing check instead.
            return Judged::End(Attempt::Failed(format!(
                "the model wrote the files back unchanged twice while the project's check failed: {}",
                first_line(report)
            )));
        }
        if !back {
            self.messages.push(ChatMessage::user(said));
        }
        Judged::Next
    }

    /// What the model is told after a reply whose files fail the check with `report`: what the writes said,
    /// the report, where the failing tests point, and the tests it names that the conversation has not shown
    /// (added to it).
    fn report_message(
        &mut self,
        s: &Session,
        report: &str,
        results: &str,
        unchanged: bool,
    ) -> String {
        let more = s.new_tests(report, &mut self.shown, &mut self.sources);
        let lead = s.failing_calls(report, &s.current_texts(&self.paths));
        let said = if unchanged {
            self.format.unchanged()
        } else {
            "The project's check fails now."
        };
        format!(
            "{results}\n{said} {report}{lead}{more}\nFix what it reports: reply again with {} (change the code, \
             not the tests, unless the task asks for that).",
            self.format.revision()
        )
    }
}

/// How a try that left the check worse than the best one did, in a few words: its tally and the first error
/// its report names.
fn setback(tally: Option<crate::agent::verify::Tally>, report: &str) -> String {
    let count = tally.map_or_else(|| "the tests did not run".to_string(), |t| t.to_string());
    match crate::agent::check::first_error(report) {
        Some(error) => format!("{count} ({error})"),
        None => count,
    }
}

/// The replies to try, in order, each with its files: the main reply (sequence 0), then those sampled beside it
/// that change a file (relative to `before`) in a way no earlier one does. Replies that name no file, and
/// replies that did not end on their own (cut off by their token budget, or ending without saying why), are left
/// out: none of their files is written. When the check is known to fail (`failing`), a reply that leaves every
/// file as it is goes only where no reply changes one, and then alone; otherwise the main reply stays first
/// whatever it does (its "nothing to change" is an answer).
fn candidates(
    sequences: &[Sequence],
    paths: &[String],
    before: &[(String, Option<String>)],
    failing: bool,
    format: &dyn EditFormat,
) -> Vec<Candidate> {
    let mut out: Vec<(String, Vec<FileEdit>, bool)> = Vec::new();
    for (i, sequence) in sequences.iter().enumerate() {
        if !sequence.complete() {
            continue;
        }
        let text = sequence.text.as_str();
        let files = format.parse(text, paths);
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
fn changes(file: &FileEdit, before: &[(String, Option<String>)]) -> bool {
    match before.iter().find(|(p, _)| *p == file.path) {
        Some((_, Some(old))) => crate::edit::format::apply(old, file).is_ok_and(|new| new != *old),
        _ => true,
    }
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

/// The first non-empty line of `text`, for a one-line summary.
fn first_line(text: &str) -> &str {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_setback_names_its_tally_and_the_error_that_caused_it() {
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
        assert_eq!(
            setback(None, "AssertionError [ERR_ASSERTION]: 1 == 2\n  at x"),
            "the tests did not run (AssertionError [ERR_ASSERTION]: 1 == 2)"
        );
    }

    #[test]
    fn candidates_put_a_change_before_a_copy_when_the_check_fails_and_drop_what_adds_nothing() {
        let paths = vec!["a.py".to_string()];
        let before = vec![("a.py".to_string(), Some("x = 1\n".to_string()))];
        let reply = |body: &str| format!("a.py\n```py\n{body}```\n");
        let copy = reply("x = 1\n");
        let (two, three) = (reply("x = 2\n"), reply("x = 3\n"));
        let ended = |text: &str| Sequence {
            text: text.to_string(),
            finish: Some(crate::model::FinishReason::Stop),
        };
        // Sequence 0 is the main reply, the rest were sampled beside it.
        let order = |replies: &[&str], failing: bool| -> Vec<String> {
            let sequences: Vec<Sequence> = replies.iter().map(|t| ended(t)).collect();
            candidates(
                &sequences,
                &paths,
                &before,
                failing,
                &crate::edit::format::whole_file::WholeFile,
            )
            .into_iter()
            .map(|(t, _)| t)
            .collect()
        };
        // A failing check: the copy goes, the changes stay in order, a duplicate and a non-reply go.
        assert_eq!(
            order(&[&copy, &two, "no file here", &two, &three], true),
            vec![two.clone(), three.clone()]
        );
        // No failing check: the main reply's "nothing to change" is its answer and stays first; an alternative
        // that also copies adds nothing.
        assert_eq!(
            order(&[&copy, &copy, &two], false),
            vec![copy.clone(), two.clone()]
        );
        // Only copies under a failing check: the main one alone (the repeat rule takes it from there).
        assert_eq!(order(&[&copy, &copy], true), vec![copy.clone()]);
        // A main reply that names no file gives way to one that does.
        assert_eq!(order(&["prose", &three], true), vec![three.clone()]);
        assert!(order(&["prose"], true).is_empty());
        // Replies that did not end on their own write nothing, even where a file before the cut is whole: a
        // main reply stopped by its token budget, an alternative cut off with it, one whose provider did not
        // say why it ended.
        let cut = format!("{two}b.py\n```\nunfinished =");
        let sequences = [
            Sequence {
                text: cut.clone(),
                finish: Some(crate::model::FinishReason::Length),
            },
            Sequence {
                text: cut.clone(),
                finish: Some(crate::model::FinishReason::Cancelled),
            },
            Sequence {
                text: two.clone(),
                finish: None,
            },
            ended(&three),
        ];
        let kept: Vec<String> = candidates(
            &sequences,
            &["a.py".to_string(), "b.py".to_string()],
            &before,
            true,
            &crate::edit::format::whole_file::WholeFile,
        )
        .into_iter()
        .map(|(t, _)| t)
        .collect();
        assert_eq!(kept, vec![three]);
    }
}
