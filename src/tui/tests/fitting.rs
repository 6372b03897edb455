//! Text that fits: display-width wrapping in the transcript, popups that scroll, and a status bar that
//! drops its least important segments on a narrow terminal.

use crossterm::event::KeyCode;

use super::{app, draw, draw_at, key, route, usage};
use crate::protocol::{ApprovalDecision, ApprovalKind, EventMsg, Op, RouteReason, RouteRole};
use crate::tui::app::Action;
use crate::tui::popup::Overlay;

#[test]
fn cjk_text_wraps_by_display_width_and_nothing_is_lost() {
    let mut a = app();
    let cjk = "这是一个很长的中文句子，用来检查换行是否按照显示宽度计算，而不是按照字符数量计算，所以没有任何字符会消失。";
    a.event(&EventMsg::Text {
        role: RouteRole::Planner,
        text: format!("{cjk}\nmixed: the word 文字 and a_very_long_identifier_that_does_not_fit_anywhere_at_all_in_one_line"),
    });
    let frame = draw(&a);
    let shown: String = frame
        .lines()
        .filter_map(|l| l.split('│').nth(1))
        .collect::<Vec<_>>()
        .concat()
        .replace(' ', "");
    assert!(
        shown.contains(cjk),
        "every CJK character is on screen:\n{frame}"
    );
    insta::assert_snapshot!(frame);
}

#[test]
fn the_help_popup_scrolls_with_a_position_indicator() {
    let mut a = app();
    a.key(key(KeyCode::Char('?')));
    let top = draw(&a);
    assert!(top.contains(" 1–20 of "), "{top}");
    a.key(key(KeyCode::PageDown));
    a.key(key(KeyCode::Down));
    let scrolled = draw(&a);
    assert!(
        scrolled.contains("/help, /quit"),
        "the end is reachable:\n{scrolled}"
    );
    insta::assert_snapshot!(scrolled);
    a.key(key(KeyCode::Home));
    assert_eq!(draw(&a), top);
    a.key(key(KeyCode::Esc));
    assert_eq!(a.overlay(), None);
}

#[test]
fn a_long_command_to_approve_is_wrapped_in_a_popup_and_answered() {
    let mut a = app();
    a.set_busy(true);
    let command = "cargo test --workspace --all-features -- --nocapture --test-threads=1 parser::tests::a_very_long_test_name_that_goes_on && rm -rf target/debug/incremental";
    a.event(&EventMsg::ApprovalRequested {
        request: 4,
        kind: ApprovalKind::Command {
            command: command.into(),
            reason: "`rm` is not on the allow list".into(),
        },
    });
    let frame = draw(&a);
    assert!(
        frame.contains("incremental"),
        "the whole command is shown:\n{frame}"
    );
    insta::assert_snapshot!(frame);
    assert!(a.key(key(KeyCode::Char('x'))).is_empty());
    assert_eq!(
        a.key(key(KeyCode::Char('n'))),
        vec![Action::Op(Op::Approve {
            request: 4,
            decision: ApprovalDecision::Reject { reason: None }
        })]
    );
    assert_eq!(a.overlay(), None);
}

#[test]
fn the_cost_popup_fits_a_narrow_terminal() {
    let mut a = app();
    a.show(Overlay::Cost(
        "This session: $0.0123 spent, $0.0456 saved against an all-cloud run.\n\nToday: $0.0123 spent\n  planner openai/gpt-5.1      2,300 tokens  $0.0123".into(),
    ));
    let frame = draw_at(&a, 50, 16);
    assert!(frame.contains("all-cloud"), "{frame}");
    insta::assert_snapshot!(frame);
}

#[test]
fn the_status_bar_drops_least_important_segments_first() {
    let mut a = app();
    a.event(&route(
        RouteRole::Planner,
        "openai",
        "gpt-5.1",
        RouteReason::Configured,
    ));
    a.event(&route(
        RouteRole::Executor,
        "local",
        "SmolLM2-135M",
        RouteReason::Configured,
    ));
    a.event(&usage(RouteRole::Executor, 1_800, 120, 0.0123, 0.0456));
    a.status_mut().set_tokens_per_sec(42.0);
    let bar = |w: u16| {
        draw_at(&a, w, 12)
            .lines()
            .last()
            .unwrap_or_default()
            .trim_matches('"')
            .trim_end()
            .to_string()
    };
    assert_eq!(
        bar(140),
        " planner openai (cloud) │ $0.0123 spent $0.0456 saved │ exec local 42 tok/s │ ctx 1800/4096 │ $4.99 left │ model ready (1.4s)"
    );
    assert_eq!(
        bar(100),
        " planner openai (cloud) │ $0.0123 spent $0.0456 saved │ exec local 42 tok/s │ $4.99 left"
    );
    assert_eq!(
        bar(60),
        " planner openai (cloud) │ $0.0123 spent $0.0456 saved"
    );
    assert_eq!(bar(20), " planner openai (cl…");
    insta::assert_snapshot!(draw_at(&a, 60, 12));
}

#[test]
fn the_transcript_scrolls_no_further_than_its_top() {
    let mut a = app();
    for i in 1..=60 {
        a.info(format!("notice {i}"));
    }
    let bottom = draw(&a);
    assert!(bottom.contains("notice 60") && !bottom.contains("notice 1 "));
    assert!(!bottom.contains("more line"), "{bottom}");
    for _ in 0..50 {
        a.key(key(KeyCode::PageUp));
    }
    let top = draw(&a);
    assert!(top.contains("• notice 1 "), "{top}");
    assert!(
        top.contains("↓ 42 more lines · PgDn"),
        "how far the bottom is: {top}"
    );
    // One PgDn moves at once: the extra PgUps did not pile up past the top.
    a.key(key(KeyCode::PageDown));
    let next = draw(&a);
    assert!(!next.contains("• notice 1 "), "{next}");
}

#[test]
fn a_long_diff_scrolls_by_hand_with_its_position_shown() {
    use crate::protocol::{EditProposal, HunkSummary};
    let mut a = app();
    a.set_busy(true);
    let body: String = (1..=60).map(|i| format!("+line {i}\n")).collect();
    a.event(&EventMsg::EditProposed {
        edit: EditProposal {
            id: 1,
            path: "big.txt".into(),
            new_file: true,
            diff: format!("--- /dev/null\n+++ b/big.txt\n@@ -0,0 +1,60 @@\n{body}"),
            hunks: vec![HunkSummary {
                index: 0,
                header: "@@ -0,0 +1,60 @@".into(),
                added: 60,
                removed: 0,
            }],
            texts: None,
        },
    });
    a.event(&EventMsg::ApprovalRequested {
        request: 2,
        kind: ApprovalKind::Edit {
            edit: 1,
            path: "big.txt".into(),
            per_hunk: false,
        },
    });
    let top = draw(&a);
    assert!(top.contains("lines 1–18 of 63"), "{top}");
    a.key(key(KeyCode::PageDown));
    a.key(key(KeyCode::PageDown));
    a.key(key(KeyCode::PageDown));
    a.key(key(KeyCode::PageDown));
    a.key(key(KeyCode::PageDown));
    let end = draw(&a);
    assert!(
        end.contains("+line 60") && end.contains("46–63 of 63"),
        "{end}"
    );
    insta::assert_snapshot!(end);
    assert_eq!(
        a.key(key(KeyCode::Char('a'))),
        vec![Action::Op(Op::Approve {
            request: 2,
            decision: ApprovalDecision::Accept
        })]
    );
}
