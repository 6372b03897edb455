//! The composer in the real binary under tmux: editing in place, a bracketed paste collapsed to a
//! placeholder, and the history kept in the workspace across a restart.

use super::tui::{Session, capture, new_session, send_keys, tmux, tmux_available, wait_for};

fn start(name: &str, dir: &std::path::Path, ws: &std::path::Path) {
    let command = format!(
        "env -i PATH=\"$PATH\" TERM=xterm-256color HOME={d}/home TANDEM_CONFIG_DIR={d}/config TANDEM_DATA_DIR={d}/data TANDEM_STATE_DIR={d}/state TANDEM_CACHE_DIR={d}/cache {bin} -C {ws} --offline --model {d}/none.gguf; echo TANDEM-EXITED-$?; sleep 30",
        d = dir.display(),
        ws = ws.display(),
        bin = env!("CARGO_BIN_EXE_tandem"),
    );
    new_session(name, 100, 30, &command);
    wait_for(name, "Task — Enter sends", 20);
}

fn quit(name: &str) {
    send_keys(name, &["C-c"]);
    send_keys(name, &["C-c"]);
    wait_for(name, "TANDEM-EXITED-0", 10);
    let _ = tmux(name, &["kill-session", "-t", name]);
}

#[test]
fn the_composer_edits_in_place_collapses_a_paste_and_keeps_history_across_a_restart() {
    if !tmux_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    let name = format!("tandem-composer-{}", std::process::id());
    let _session = Session(name.clone());
    start(&name, dir.path(), &ws);

    // Ctrl-A goes to the start of the line; what is typed there goes in front.
    send_keys(&name, &["-l", "world"]);
    send_keys(&name, &["C-a"]);
    send_keys(&name, &["-l", "hello "]);
    wait_for(&name, "hello world", 10);
    // A 50-line bracketed paste shows as one placeholder.
    let text: String = (1..=50).map(|i| format!("pasted line {i}\n")).collect();
    tmux(&name, &["set-buffer", "-b", "tandem-paste", &text]);
    tmux(
        &name,
        &[
            "paste-buffer",
            "-p",
            "-d",
            "-b",
            "tandem-paste",
            "-t",
            &name,
        ],
    );
    let screen = wait_for(&name, "[pasted #1, 50 lines", 10);
    assert!(!screen.contains("pasted line 50"), "{screen}");
    // Ctrl-A Ctrl-K empties the line; a command goes into the history.
    send_keys(&name, &["C-a"]);
    send_keys(&name, &["C-k"]);
    send_keys(&name, &["-l", "/nope"]);
    send_keys(&name, &["Enter"]);
    wait_for(&name, "unknown command /nope", 10);
    quit(&name);
    assert!(ws.join(".tandem/history.jsonl").is_file());

    // After a restart, Up brings it back. The restart gets a session (and so a tmux server) of its own: the
    // first one's server may still be on its way out.
    let name = format!("tandem-composer2-{}", std::process::id());
    let _session = Session(name.clone());
    start(&name, dir.path(), &ws);
    send_keys(&name, &["Up"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let screen = capture(&name);
        if screen.lines().any(|l| l.starts_with("│/nope")) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "history not recalled:\n{screen}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    quit(&name);
}
