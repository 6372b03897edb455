//! Snapshots of the UI's states, drawn on ratatui's TestBackend at 80x24 (the smallest supported size).

use std::time::{Duration, SystemTime};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::app::{Action, App};
use super::mention::Message;
use super::popup::Overlay;
use super::status::ModelState;
use super::theme::Theme;
use super::view;
mod composer;
mod fitting;

use crate::protocol::{
    ApprovalDecision, ApprovalKind, EditProposal, EventMsg, HunkSummary, Op, Plan, RouteDecision,
    RouteReason, RouteRole, Step, StepStatus, Usage,
};

fn app() -> App {
    let mut app = App::new("/home/dev/todo-cli", "dark", 4096, Some(5.0));
    app.set_model(ModelState::Ready(1.4));
    app
}

fn draw(app: &App) -> String {
    draw_at(app, 80, 24)
}

fn draw_at(app: &App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| view::draw(f, app, &Theme::default())).unwrap();
    t.backend().to_string()
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn route(role: RouteRole, provider: &str, model: &str, reason: RouteReason) -> EventMsg {
    EventMsg::Route {
        decision: RouteDecision {
            role,
            provider: provider.into(),
            model: model.into(),
            reason,
            replica: None,
        },
    }
}

fn plan() -> Plan {
    let step = |id, goal: &str| Step {
        id,
        goal: goal.into(),
        files: vec!["todo.py".into()],
        done_when: "tests pass".into(),
        changes_tests: false,
    };
    Plan {
        summary: "Add a --done flag".into(),
        steps: vec![
            step(1, "Parse --done in main()"),
            step(2, "Mark the item done in the store"),
            Step {
                changes_tests: true,
                ..step(3, "Test it")
            },
        ],
    }
}

fn usage(role: RouteRole, input: u64, output: u64, spent: f64, saved: f64) -> EventMsg {
    EventMsg::Usage {
        role,
        provider: "x".into(),
        model: "x".into(),
        usage: Usage {
            input_tokens: input,
            output_tokens: output,
            ..Usage::default()
        },
        usd: Some(0.0),
        saved_usd: Some(0.0),
        session_usd: spent,
        session_saved_usd: saved,
    }
}

#[test]
fn empty() {
    insta::assert_snapshot!(draw(&app()));
}

#[test]
fn streaming() {
    let mut a = app();
    for k in "add a --done flag".chars() {
        a.key(key(KeyCode::Char(k)));
    }
    let actions = a.key(key(KeyCode::Enter));
    assert_eq!(
        actions,
        vec![Action::Submit(Message {
            text: "add a --done flag".into(),
            attachments: Vec::new()
        })]
    );
    a.event(&EventMsg::SessionStarted {
        session: "s".into(),
        workspace: "/w".into(),
        task: "add a --done flag".into(),
        resumed: false,
    });
    a.event(&route(
        RouteRole::Planner,
        "openai",
        "gpt-5.1",
        RouteReason::Configured,
    ));
    a.event(&EventMsg::Text {
        role: RouteRole::Planner,
        text: "Looking at `todo.py` first:\n```python\ndef main(".into(),
    });
    a.event(&EventMsg::Text {
        role: RouteRole::Planner,
        text: "argv):\n    return parse(argv)\n```\n".into(),
    });
    insta::assert_snapshot!(draw(&a));
}

#[test]
fn plan_in_progress() {
    let mut a = app();
    a.set_busy(true);
    a.event(&route(
        RouteRole::Planner,
        "openai",
        "gpt-5.1",
        RouteReason::Configured,
    ));
    a.event(&EventMsg::PlanReady {
        plan: plan(),
        round: 1,
    });
    a.event(&route(
        RouteRole::Executor,
        "local",
        "SmolLM2-135M",
        RouteReason::Configured,
    ));
    a.event(&EventMsg::StepStarted {
        step: 1,
        goal: "Parse".into(),
        attempt: 1,
    });
    a.event(&EventMsg::ToolCall {
        step: Some(1),
        call_id: "c1".into(),
        tool: "read_file".into(),
        arguments: serde_json::json!({"path": "todo.py"}),
    });
    a.event(&EventMsg::ToolResult {
        step: Some(1),
        call_id: "c1".into(),
        tool: "read_file".into(),
        ok: true,
        output: "todo.py (lines 1-40 of 40)".into(),
    });
    a.event(&EventMsg::StepFinished {
        step: 1,
        status: StepStatus::Done,
        summary: "ok".into(),
    });
    a.event(&EventMsg::StepStarted {
        step: 2,
        goal: "Mark".into(),
        attempt: 1,
    });
    a.event(&usage(RouteRole::Planner, 2_000, 300, 0.0123, 0.0));
    a.event(&usage(RouteRole::Executor, 1_800, 120, 0.0123, 0.0456));
    a.status_mut().set_tokens_per_sec(42.0);
    insta::assert_snapshot!(draw(&a));
}

fn diff_app() -> App {
    let mut a = app();
    a.set_busy(true);
    a.event(&EventMsg::EditProposed {
        edit: EditProposal {
            id: 7,
            path: "todo.py".into(),
            new_file: false,
            diff: "--- a/todo.py\n+++ b/todo.py\n@@ -1,3 +1,3 @@\n import sys\n-VERSION = 1\n+VERSION = 2\n \n@@ -20,3 +20,4 @@\n def main(argv):\n+    done = '--done' in argv\n     items = load()\n".into(),
            hunks: vec![
                HunkSummary { index: 0, header: "@@ -1,3 +1,3 @@".into(), added: 1, removed: 1 },
                HunkSummary { index: 1, header: "@@ -20,3 +20,4 @@".into(), added: 1, removed: 0 },
            ],
            texts: None,
        },
    });
    a.event(&EventMsg::ApprovalRequested {
        request: 8,
        kind: ApprovalKind::Edit {
            edit: 7,
            path: "todo.py".into(),
            per_hunk: true,
        },
    });
    a
}

#[test]
fn diff_with_approvals() {
    let mut a = diff_app();
    // Reject the first hunk; the selection moves to the second.
    assert!(a.key(key(KeyCode::Char('n'))).is_empty());
    insta::assert_snapshot!(draw(&a));
    // Accept the second and apply: exactly hunk 1 is sent.
    assert!(a.key(key(KeyCode::Char('y'))).is_empty());
    let sent = a.key(key(KeyCode::Enter));
    assert_eq!(
        sent,
        vec![Action::Op(Op::Approve {
            request: 8,
            decision: ApprovalDecision::AcceptHunks { hunks: vec![1] }
        })]
    );
    assert!(!a.reviewing());
}

#[test]
fn accept_all_and_reject_file_keys() {
    let mut a = diff_app();
    assert_eq!(
        a.key(key(KeyCode::Char('a'))),
        vec![Action::Op(Op::Approve {
            request: 8,
            decision: ApprovalDecision::Accept
        })]
    );
    let mut a = diff_app();
    assert_eq!(
        a.key(key(KeyCode::Char('r'))),
        vec![Action::Op(Op::Approve {
            request: 8,
            decision: ApprovalDecision::Reject { reason: None }
        })]
    );
}

#[test]
fn fallback_banner() {
    let mut a = app();
    let retry_at = SystemTime::UNIX_EPOCH + Duration::from_secs(13 * 3600 + 37 * 60);
    a.event(&EventMsg::ProviderFailed {
        provider: "openai".into(),
        error: "429 rate limited (retry after 60 s)".into(),
    });
    a.event(&route(
        RouteRole::Planner,
        "local",
        "SmolLM2-135M",
        RouteReason::FellBack {
            provider: "openai".into(),
            error: "429 rate limited".into(),
            retry_at,
        },
    ));
    insta::assert_snapshot!(draw(&a));
}

#[test]
fn cost_view() {
    let mut a = app();
    a.event(&usage(RouteRole::Planner, 2_000, 300, 0.0123, 0.0456));
    a.show(Overlay::Cost(
        "This session: $0.0123 spent, $0.0456 saved against an all-cloud run.\n\nToday: $0.0123 spent, $0.0456 saved\n  planner openai/gpt-5.1      2,300 tokens  $0.0123\n  executor local/SmolLM2      1,920 tokens  $0.0000 (saved $0.0456)".into(),
    ));
    insta::assert_snapshot!(draw(&a));
    a.key(key(KeyCode::Esc));
    assert!(a.overlay().is_none());
}

#[test]
fn error() {
    let mut a = app();
    a.set_model(ModelState::Failed("no model at /x.gguf".into()));
    a.event(&EventMsg::Error {
        message:
            "the local model is unavailable: no model at /x.gguf (run scripts/fetch-demo-model.sh)"
                .into(),
    });
    insta::assert_snapshot!(draw(&a));
}

#[test]
fn a_provider_failure_stays_in_the_transcript_after_its_toast() {
    let mut a = app();
    a.event(&EventMsg::ProviderFailed {
        provider: "local".into(),
        error: "local engine: the local engine's worker process died during a generation (killed by signal 9 (SIGKILL))".into(),
    });
    insta::assert_snapshot!(draw(&a));
}

#[test]
fn help_and_larger_terminals() {
    let mut a = app();
    a.key(key(KeyCode::Char('?')));
    assert_eq!(a.overlay(), Some(&Overlay::Help));
    insta::assert_snapshot!(draw_at(&a, 100, 30));
}

#[test]
fn commands_map_to_actions() {
    let mut a = app();
    let mut run = |text: &str| {
        for c in text.chars() {
            a.key(key(KeyCode::Char(c)));
        }
        a.key(key(KeyCode::Enter))
    };
    assert_eq!(
        run("/plan add tests"),
        vec![Action::Start {
            task: "add tests".into(),
            plan_only: true,
            plan: None
        }]
    );
    assert_eq!(
        run("/route local"),
        vec![Action::Route(Some("local".into()))]
    );
    assert_eq!(run("/route auto"), vec![Action::Route(None)]);
    assert_eq!(
        run("/model executor openai"),
        vec![Action::Model(RouteRole::Executor, "openai".into())]
    );
    assert_eq!(run("/theme light"), vec![Action::Theme("light".into())]);
    assert_eq!(run("/cost"), vec![Action::Cost]);
    assert_eq!(run("/trust"), vec![Action::Trust]);
    assert_eq!(run("/undo"), vec![Action::UndoLast]);
    assert_eq!(run("/new"), vec![Action::NewConversation]);
    assert_eq!(run("/resume"), vec![Action::Resume(None)]);
    assert_eq!(
        run("/resume 20261201-101500-0a1b"),
        vec![Action::Resume(Some("20261201-101500-0a1b".into()))]
    );
    assert_eq!(run("/compact"), vec![Action::Compact]);
    assert_eq!(run("/quit"), vec![Action::Quit]);
    assert!(run("/bogus").is_empty());
    // History: Up brings back the last input.
    a.key(key(KeyCode::Up));
    assert_eq!(a.composer_text(), "/bogus");
    // Ctrl-C twice quits.
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert!(a.key(ctrl_c).is_empty());
    assert_eq!(a.key(ctrl_c), vec![Action::Quit]);
    // A paste keeps its newlines in the composer.
    let mut b = app();
    b.paste("line 1\r\nline 2");
    assert_eq!(b.composer_text(), "line 1\nline 2");
}

#[test]
fn control_sequences_from_the_model_never_reach_the_terminal() {
    let mut a = app();
    a.info("plan: \x1b]52;c;ZXZpbA==\x07 and \x1b]0;pwned\x1b\\ and \u{9b}2J and a\u{202e}b\rX");
    let mut t = Terminal::new(TestBackend::new(80, 24)).unwrap();
    t.draw(|f| view::draw(f, &a, &Theme::default())).unwrap();
    let cells: String = t
        .backend()
        .buffer()
        .content
        .iter()
        .map(|c| c.symbol().to_string())
        .collect();
    assert!(cells.contains("52;c;ZXZpbA=="), "the text is still shown");
    assert!(
        !cells.chars().any(crate::text::is_unsafe),
        "no control character is in the frame"
    );
}

#[test]
fn the_trust_question_is_answered_with_y_or_n() {
    let mut a = app();
    a.show(Overlay::Trust("line 3: providers.openai.base_url".into()));
    let frame = draw(&a);
    assert!(frame.contains("providers.openai.base_url"), "{frame}");
    assert!(
        a.key(key(KeyCode::Char('x'))).is_empty(),
        "other keys do nothing"
    );
    assert!(a.overlay().is_some());
    assert_eq!(a.key(key(KeyCode::Char('y'))), vec![Action::Trust]);
    assert_eq!(a.overlay(), None);
    a.show(Overlay::Trust(String::new()));
    assert!(a.key(key(KeyCode::Char('n'))).is_empty());
    assert_eq!(a.overlay(), None);
}

#[test]
fn a_message_typed_while_a_turn_runs_is_sent_for_the_queue() {
    let mut a = app();
    a.set_busy(true);
    for c in "now add a test".chars() {
        a.key(key(KeyCode::Char(c)));
    }
    let actions = a.key(key(KeyCode::Enter));
    assert!(
        matches!(&actions[..], [Action::Submit(m)] if m.text == "now add a test"),
        "{actions:?}"
    );
}

#[test]
fn sessions_picker() {
    let mut a = app();
    let rows: Vec<(String, String)> = (1..=3)
        .map(|i| {
            let id = format!("20261201-10{i}500-0a1{i}");
            let line = format!("{i:>2}. {id}     {i}m ago  {i} turn(s), done  task number {i}");
            (id, line)
        })
        .collect();
    a.show(Overlay::Sessions(rows.clone()));
    a.key(key(KeyCode::Down));
    insta::assert_snapshot!(draw_at(&a, 100, 20));
    assert_eq!(
        a.key(key(KeyCode::Enter)),
        vec![Action::Resume(Some("20261201-102500-0a12".into()))]
    );
    assert!(a.overlay().is_none());

    // Typing filters (fuzzy, as @-mentions complete); Esc first clears the filter, then closes.
    a.show(Overlay::Sessions(rows));
    for c in "nmbr3".chars() {
        a.key(key(KeyCode::Char(c)));
    }
    insta::assert_snapshot!("sessions_picker_filtered", draw_at(&a, 100, 20));
    assert_eq!(
        a.key(key(KeyCode::Enter)),
        vec![Action::Resume(Some("20261201-103500-0a13".into()))]
    );
    a.show(Overlay::Sessions(vec![("a".into(), "1. a  fix it".into())]));
    for c in "zz".chars() {
        a.key(key(KeyCode::Char(c)));
    }
    assert!(
        a.key(key(KeyCode::Enter)).is_empty(),
        "nothing matches, nothing resumes"
    );
    a.key(key(KeyCode::Backspace));
    a.key(key(KeyCode::Esc));
    assert!(a.overlay().is_some(), "the first Esc clears the filter");
    a.key(key(KeyCode::Esc));
    assert!(a.overlay().is_none());
}
