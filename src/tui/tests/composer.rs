//! The composer: editing keys, soft wrap, history kept per workspace with Ctrl-R search, collapsed pastes
//! and `@path` mentions.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::{app, draw, draw_at, key};
use crate::sandbox::Workspace;
use crate::tui::app::{Action, App};
use crate::tui::mention::{Attachment, Message};

fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}

fn alt(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::ALT)
}

fn typed(a: &mut App, text: &str) {
    for c in text.chars() {
        a.key(key(KeyCode::Char(c)));
    }
}

fn workspace() -> (tempfile::TempDir, Workspace) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ws");
    std::fs::create_dir_all(root.join("src")).unwrap();
    std::fs::write(root.join("src/main.rs"), "fn main() {\n    run();\n}\n").unwrap();
    std::fs::write(root.join("src/mailer.rs"), "pub fn send() {}\n").unwrap();
    std::fs::write(root.join("README.md"), "# todo\n").unwrap();
    std::fs::write(dir.path().join("secret.txt"), "key").unwrap();
    let ws = Workspace::new(&root).unwrap();
    (dir, ws)
}

fn ws_app(ws: &Workspace) -> App {
    let mut a = App::new("/home/dev/todo-cli", "dark", 4096, Some(5.0)).with_workspace(ws.clone());
    a.set_model(crate::tui::status::ModelState::Ready(1.4));
    a
}

#[test]
fn emacs_and_readline_keys_edit_in_place() {
    let mut a = app();
    typed(&mut a, "fix the parser now");
    a.key(ctrl('a'));
    a.key(ctrl('f'));
    a.key(ctrl('f'));
    a.key(ctrl('f'));
    typed(&mut a, "!");
    assert_eq!(a.composer_text(), "fix! the parser now");
    a.key(alt(KeyCode::Char('f')));
    a.key(alt(KeyCode::Char('f')));
    a.key(ctrl('w'));
    assert_eq!(a.composer_text(), "fix! the  now");
    a.key(key(KeyCode::End));
    a.key(alt(KeyCode::Backspace));
    assert_eq!(a.composer_text(), "fix! the  ");
    a.key(key(KeyCode::Home));
    a.key(key(KeyCode::Right));
    a.key(key(KeyCode::Right));
    a.key(key(KeyCode::Right));
    a.key(ctrl('k'));
    assert_eq!(a.composer_text(), "fix");
    a.key(ctrl('y'));
    assert_eq!(
        a.composer_text(),
        "fix! the  ",
        "Ctrl-Y puts back what Ctrl-K cut"
    );
    a.key(ctrl('b'));
    a.key(ctrl('u'));
    assert_eq!(a.composer_text(), " ");
    a.key(ctrl('e'));
    a.key(key(KeyCode::Left));
    a.key(alt(KeyCode::Char('b')));
    typed(&mut a, "x");
    assert_eq!(a.composer_text(), "x ");
    // Newlines: Shift-Enter, Alt-Enter and Ctrl-J; Up/Down move between lines.
    let mut a = app();
    typed(&mut a, "one");
    a.key(KeyEvent::new(KeyCode::Enter, KeyModifiers::SHIFT));
    typed(&mut a, "two");
    a.key(alt(KeyCode::Enter));
    typed(&mut a, "three");
    a.key(ctrl('j'));
    a.key(key(KeyCode::Up));
    a.key(key(KeyCode::Up));
    typed(&mut a, "-");
    assert_eq!(a.composer_text(), "one\n-two\nthree\n");
    assert_eq!(
        a.key(key(KeyCode::Enter)),
        vec![Action::Submit(Message {
            text: "one\n-two\nthree".into(),
            attachments: Vec::new()
        })]
    );
    assert_eq!(a.composer_text(), "");
}

#[test]
fn a_long_task_wraps_at_words_in_the_composer() {
    let mut a = app();
    let task = "Refactor the storage layer so that every todo item keeps its creation time, its completion \
                time and an optional due date; migrate the existing JSON file on first load without losing \
                any item, and add tests for the migration, for items without dates and for a file written \
                by the previous version, then update the README's usage section to describe the new flags.";
    a.paste(task);
    let frame = draw(&a);
    assert!(
        frame.contains("previous version"),
        "nothing is cut:\n{frame}"
    );
    insta::assert_snapshot!(frame);
}

#[test]
fn history_survives_a_restart_and_ctrl_r_searches_it() {
    let (_d, ws) = workspace();
    let mut a = ws_app(&ws);
    for text in [
        "add a --done flag",
        "write the README",
        "fix the done flag test",
    ] {
        typed(&mut a, text);
        assert!(matches!(
            &a.key(key(KeyCode::Enter))[..],
            [Action::Submit(_)]
        ));
        a.set_busy(false);
    }
    assert!(ws.root().join(".tandem/history.jsonl").is_file());
    let mut a = ws_app(&ws);
    a.key(key(KeyCode::Up));
    assert_eq!(a.composer_text(), "fix the done flag test");
    a.key(key(KeyCode::Up));
    assert_eq!(a.composer_text(), "write the README");
    a.key(key(KeyCode::Down));
    a.key(key(KeyCode::Down));
    assert_eq!(a.composer_text(), "", "back to the (empty) draft");
    typed(&mut a, "draft");
    a.key(ctrl('r'));
    typed(&mut a, "done");
    assert_eq!(a.composer_text(), "fix the done flag test");
    a.key(ctrl('r'));
    assert_eq!(a.composer_text(), "add a --done flag");
    insta::assert_snapshot!(draw(&a));
    a.key(key(KeyCode::Esc));
    assert_eq!(a.composer_text(), "draft", "Esc gives the draft back");
    a.key(ctrl('u'));
    a.key(ctrl('r'));
    a.key(key(KeyCode::Char('?')));
    assert_eq!(a.overlay(), None, "the search takes every key");
    a.key(key(KeyCode::Esc));
    a.key(ctrl('r'));
    typed(&mut a, "readme");
    assert_eq!(
        a.key(key(KeyCode::Enter)),
        vec![Action::Submit(Message {
            text: "write the README".into(),
            attachments: Vec::new()
        })]
    );
}

#[test]
fn a_big_paste_is_collapsed_and_sent_whole() {
    let mut a = app();
    typed(&mut a, "explain this log: ");
    let log: String = (1..=120).map(|i| format!("line {i}: ok\n")).collect();
    a.paste(&log);
    typed(&mut a, " thanks");
    let frame = draw(&a);
    assert!(frame.contains("[pasted #1, 120 lines"), "{frame}");
    insta::assert_snapshot!(frame);
    let sent = a.key(key(KeyCode::Enter));
    let [Action::Submit(msg)] = &sent[..] else {
        panic!("{sent:?}")
    };
    assert!(msg.text.starts_with("explain this log: line 1: ok\n"));
    assert!(msg.text.contains("line 120: ok\n thanks"));
    // Backspace right after the placeholder removes it whole.
    let mut a = app();
    a.paste(&log);
    a.key(key(KeyCode::Backspace));
    assert_eq!(a.composer_text(), "");
    // A small paste is typed in as it is.
    a.paste("a\r\nb");
    assert_eq!(a.composer_text(), "a\nb");
}

#[test]
fn at_mentions_complete_with_tab_and_attach_the_file() {
    let (_d, ws) = workspace();
    let mut a = ws_app(&ws);
    typed(&mut a, "explain @ma");
    insta::assert_snapshot!(draw(&a));
    a.key(key(KeyCode::Down));
    a.key(key(KeyCode::Up));
    a.key(key(KeyCode::Tab));
    assert_eq!(a.composer_text(), "explain @src/main.rs ");
    typed(&mut a, "please");
    let sent = a.key(key(KeyCode::Enter));
    assert_eq!(
        sent,
        vec![Action::Submit(Message {
            text: "explain @src/main.rs please".into(),
            attachments: vec![Attachment {
                path: "src/main.rs".into(),
                content: "fn main() {\n    run();\n}\n".into()
            }]
        })]
    );
    let frame = draw(&a);
    assert!(frame.contains("attached src/main.rs (3 lines)"), "{frame}");
    // Enter on a mention that is already whole sends the message.
    a.set_busy(false);
    typed(&mut a, "and @README.md");
    let sent = a.key(key(KeyCode::Enter));
    assert!(
        matches!(&sent[..], [Action::Submit(m)] if m.attachments.len() == 1 && m.attachments[0].path == "README.md"),
        "{sent:?}"
    );
    // A folder completes and the list stays open for what is in it.
    a.set_busy(false);
    typed(&mut a, "@sr");
    a.key(key(KeyCode::Tab));
    assert_eq!(a.composer_text(), "@src/");
    a.key(key(KeyCode::Esc));
    a.key(ctrl('u'));
    // A path outside the workspace is refused, and the text stays for the person to fix.
    typed(&mut a, "read @../secret.txt");
    assert!(a.key(key(KeyCode::Enter)).is_empty());
    assert_eq!(a.composer_text(), "read @../secret.txt");
    let frame = draw(&a);
    assert!(frame.contains("outside the workspace"), "{frame}");
    // A mention inside pasted text is the paste's, not the person's: not attached, not refused.
    a.key(ctrl('a'));
    a.key(ctrl('k'));
    typed(&mut a, "why does this fail? ");
    a.paste(&"error: cannot read @../secret.txt\n".repeat(20));
    let sent = a.key(key(KeyCode::Enter));
    assert!(
        matches!(&sent[..], [Action::Submit(m)] if m.attachments.is_empty() && m.text.contains("@../secret.txt")),
        "{sent:?}"
    );
}

#[test]
fn narrow_terminal_composer_and_status_still_fit() {
    let mut a = app();
    a.paste("日本語のテキストを入力すると、幅の広い文字は決して分割されません。");
    insta::assert_snapshot!(draw_at(&a, 40, 16));
}

#[test]
fn the_terminal_cursor_sits_where_typing_goes() {
    use ratatui::Terminal;
    use ratatui::backend::{Backend as _, TestBackend};
    let cursor_at = |a: &App| {
        let mut t = Terminal::new(TestBackend::new(80, 24)).unwrap();
        t.draw(|f| crate::tui::view::draw(f, a, &crate::tui::theme::Theme::default()))
            .unwrap();
        t.backend_mut().get_cursor_position().unwrap()
    };
    let mut a = app();
    typed(&mut a, "hi 日本");
    // On the composer's one text row (21 of 0..24), after 3 narrow and 2 wide characters.
    assert_eq!(cursor_at(&a), ratatui::layout::Position::new(1 + 3 + 4, 21));
    a.key(key(KeyCode::Left));
    assert_eq!(cursor_at(&a), ratatui::layout::Position::new(1 + 3 + 2, 21));
}
