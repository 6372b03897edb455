//! The local engine's worker process (issue #36): a crash in llama.cpp fails a request, never the session; the
//! next request runs on a fresh worker; a model that makes llama.cpp abort while loading is a clear error.

use std::path::{Path, PathBuf};

use tandem::model::ChatMessage;
use tandem::model::local::{EngineError, GenEvent, GenRequest, LocalEngine};

use super::support::{Sandbox, engine, engine_config};
use crate::require_model;

/// The demo model with one u32 metadata value replaced in place (the file keeps its layout).
fn gguf_with_u32(bytes: &[u8], key: &str, value: u32) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let mut at = 8usize; // magic, version
    let u64_at = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
    let u32_at = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    at += 8; // tensor count
    let n_kv = u64_at(bytes, at);
    at += 8;
    // The size of one value of GGUF type `t` at `at`.
    fn size(b: &[u8], at: usize, t: u32) -> usize {
        let u64_at = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap()) as usize;
        match t {
            0 | 1 | 7 => 1,
            2 | 3 => 2,
            4..=6 => 4,
            10..=12 => 8,
            8 => 8 + u64_at(at),
            9 => {
                let item = u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
                let n = u64_at(at + 4);
                let mut len = 12;
                for _ in 0..n {
                    len += size(b, at + len, item);
                }
                len
            }
            other => panic!("GGUF type {other}"),
        }
    }
    for _ in 0..n_kv {
        let len = u64_at(bytes, at) as usize;
        let name = std::str::from_utf8(&bytes[at + 8..at + 8 + len]).unwrap();
        at += 8 + len;
        let t = u32_at(bytes, at);
        at += 4;
        if name == key {
            assert_eq!(t, 4, "{key} is a u32");
            out[at..at + 4].copy_from_slice(&value.to_le_bytes());
            return out;
        }
        at += size(bytes, at, t);
    }
    panic!("no {key} in the model");
}

fn ask(text: &str) -> Vec<ChatMessage> {
    vec![ChatMessage::user(text)]
}

/// Core files anywhere under `dir`.
fn core_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if e.path().is_dir() {
                stack.push(e.path());
            } else if name == "core" || name.starts_with("core.") {
                out.push(e.path());
            }
        }
    }
    out
}

/// Kills `pid` with SIGKILL.
fn kill(pid: u32) {
    // SAFETY: sending a signal to a process id this test started (the engine's worker).
    let rc = unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    assert_eq!(rc, 0, "kill {pid}");
}

#[test]
fn a_worker_killed_mid_generation_fails_that_request_and_the_next_runs_on_a_fresh_one() {
    let (model, _model_lock) = require_model!();
    let engine = engine(model);
    let first = engine
        .worker_pid()
        .expect("the engine runs in a worker process");
    assert_ne!(first, std::process::id());
    let mut generation = engine.generate(GenRequest::chat(
        ask("Write a long story about a lighthouse keeper."),
        400,
    ));
    match generation.blocking_next() {
        Some(GenEvent::Text(_)) => {}
        other => panic!("expected text first, got {other:?}"),
    }
    kill(first);
    let mut last = None;
    while let Some(event) = generation.blocking_next() {
        last = Some(event);
    }
    match last {
        Some(GenEvent::Failed(EngineError::WorkerDied { during, status, .. })) => {
            assert!(during.contains("generation"), "{during}");
            assert!(status.contains("SIGKILL"), "{status}");
        }
        other => panic!("expected the worker's death, got {other:?}"),
    }
    assert_eq!(engine.worker_pid(), None, "the dead worker is forgotten");

    let next = engine
        .complete(GenRequest::chat(ask("Name a colour."), 8))
        .expect("the next request runs on a fresh worker");
    assert!(next.stats.generated_tokens > 0, "{:?}", next.stats);
    let second = engine.worker_pid().expect("a fresh worker");
    assert_ne!(second, first);
    // Counting tokens and clearing the cache go to the fresh worker too.
    assert!(
        engine
            .count_tokens(tandem::model::local::Prompt::Chat(ask("hi")))
            .unwrap()
            > 0
    );
    engine.clear_cache().unwrap();
}

#[test]
fn dropping_the_engine_ends_its_worker() {
    let (model, _model_lock) = require_model!();
    let engine = engine(model);
    let pid = engine.worker_pid().unwrap();
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    assert!(proc_dir.exists());
    drop(engine);
    // The worker is reaped by the engine, so its /proc entry is gone once drop returns.
    assert!(!proc_dir.exists(), "worker {pid} outlived its engine");
}

#[test]
fn a_model_that_makes_llama_cpp_abort_while_loading_is_an_error_naming_the_file() {
    let (model, _model_lock) = require_model!();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-layers.gguf");
    // llama.cpp asserts (GGML_ASSERT, then abort()) that a model has at least one layer.
    std::fs::write(
        &path,
        gguf_with_u32(&std::fs::read(&model).unwrap(), "llama.block_count", 0),
    )
    .unwrap();
    let err = LocalEngine::load(engine_config(&path)).err().unwrap();
    match &err {
        EngineError::WorkerDied { during, status, .. } => {
            assert!(during.contains(&path.display().to_string()), "{during}");
            assert!(status.contains("SIGABRT"), "{status}");
        }
        other => panic!("expected the worker's death while loading, got {other:?}"),
    }
    assert!(err.to_string().contains("no-layers.gguf"), "{err}");
    assert_eq!(core_files(dir.path()), Vec::<PathBuf>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_whose_worker_dies_is_an_error_and_the_next_request_loads_again() {
    use std::os::unix::fs::PermissionsExt;
    let (model, _model_lock) = require_model!();
    let dir = tempfile::tempdir().unwrap();
    // A worker that is killed while it loads the first time, and is the real one after that.
    let mark = dir.path().join("started-once");
    let script = dir.path().join("worker.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nif [ ! -e {mark} ]; then : > {mark}; kill -9 $$; fi\nexec {bin} \"$@\"\n",
            mark = mark.display(),
            bin = env!("CARGO_BIN_EXE_tandem"),
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut config = engine_config(&model);
    config.host = tandem::model::local::EngineHost::Process(Some(script));
    let provider = tandem::model::local_provider::LocalProvider::lazy(
        config,
        tandem::model::local::SamplingParams::greedy(),
    );

    let err = provider.engine().await.err().expect("the first load fails");
    let text = err.to_string();
    assert!(
        text.contains("died while loading") && text.contains("SIGKILL"),
        "{text}"
    );
    assert_eq!(provider.loaded_in(), None);
    let engine = provider
        .engine()
        .await
        .expect("the next request loads again");
    assert!(engine.worker_pid().is_some());
    assert!(provider.loaded_in().is_some());
}

#[test]
fn exec_on_a_model_that_aborts_llama_cpp_exits_3_naming_the_file() {
    let (model, _model_lock) = require_model!();
    let b = Sandbox::new();
    std::fs::write(b.ws().join("notes.md"), "# Notes\n").unwrap();
    let path = b.root.join("no-layers.gguf");
    std::fs::write(
        &path,
        gguf_with_u32(&std::fs::read(&model).unwrap(), "llama.block_count", 0),
    )
    .unwrap();
    let out = b
        .tandem(&["--offline", "exec", "Add hello to notes.md"])
        .env("TANDEM_LOCAL__THREADS", "2")
        .env("TANDEM_MODEL", &path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("no-layers.gguf"), "{stderr}");
    assert!(stderr.contains("SIGABRT"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(b.ws().join("notes.md")).unwrap(),
        "# Notes\n"
    );
    assert_eq!(core_files(&b.root), Vec::<PathBuf>::new());
}

#[test]
fn the_worker_never_takes_the_amx_path_and_says_what_it_computes_with() {
    let (model, _model_lock) = require_model!();
    let engine = engine(model);
    let compute = &engine.info().compute;
    assert!(!compute.contains("AMX in use"), "{compute}");
    assert!(compute.contains("AMX"), "says where AMX stands: {compute}");
    // The default x86-64 build (no target-cpu) is the x86-64-v3 baseline whatever CPU builds or runs it: the
    // kernels an AVX2-only host can run, and no AMX or AVX-512 code that only some hosts have.
    if cfg!(all(target_arch = "x86_64", not(target_feature = "avx512f"))) {
        assert!(
            compute.contains("AVX2") && compute.contains("FMA"),
            "{compute}"
        );
        assert!(!compute.contains("AVX512"), "{compute}");
        assert!(compute.ends_with("no AMX path compiled in"), "{compute}");
    }
}

/// The descendants of `pid` (from /proc), deepest last.
fn descendants(pid: u32) -> Vec<u32> {
    let parent_of = |p: u32| -> Option<u32> {
        let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
        // pid (comm) state ppid …: comm may hold spaces, so read after its closing parenthesis.
        stat.rsplit_once(')')?
            .1
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    let all: Vec<u32> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() {
        let p = out[i];
        out.extend(all.iter().copied().filter(|c| parent_of(*c) == Some(p)));
        i += 1;
    }
    out.remove(0);
    out
}

/// The engine worker among the descendants of `pid`, waiting up to `secs` for one.
fn worker_under(pid: u32, secs: u64) -> u32 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        let found = descendants(pid).into_iter().find(|p| {
            std::fs::read(format!("/proc/{p}/cmdline"))
                .is_ok_and(|c| c.split(|b| *b == 0).any(|a| a == b"__engine-worker"))
        });
        if let Some(found) = found {
            return found;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no engine worker under {pid}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The settings that keep a demo-model session short: one round, edits applied, no check.
const SHORT: &[(&str, &str)] = &[
    ("TANDEM_LOCAL__THREADS", "2"),
    ("TANDEM_UI__APPROVAL", "auto"),
    ("TANDEM_AGENT__MAX_ROUNDS", "1"),
    ("TANDEM_AGENT__MAX_STEP_ATTEMPTS", "2"),
    ("TANDEM_AGENT__VERIFY", "none"),
    ("TANDEM_LOCAL__MAX_TOKENS", "200"),
];

#[test]
fn exec_json_survives_its_worker_killed_mid_generation_and_says_so() {
    use std::io::BufRead;
    let (model, _model_lock) = require_model!();
    let b = Sandbox::new();
    std::fs::write(b.ws().join("notes.md"), "# Notes\n").unwrap();
    let mut command = b.tandem(&[
        "--offline",
        "exec",
        "--json",
        "Add a line saying hello to notes.md",
    ]);
    command
        .env("TANDEM_MODEL", &model)
        .envs(SHORT.iter().copied())
        .stdout(std::process::Stdio::piped());
    let mut child = command.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufReader::new(stdout).lines();
    let mut seen = Vec::new();
    // Killed once the executor's reply streams.
    for line in lines.by_ref() {
        let line = line.unwrap();
        let event: serde_json::Value = serde_json::from_str(&line).unwrap();
        seen.push(event.clone());
        if event["type"] == "text" {
            kill(worker_under(child.id(), 10));
            break;
        }
    }
    for line in lines {
        seen.push(serde_json::from_str(&line.unwrap()).unwrap());
    }
    let status = child.wait().unwrap();
    let failed = seen
        .iter()
        .find(|e| e["type"] == "provider_failed")
        .unwrap_or_else(|| panic!("no provider_failed event: {seen:#?}"));
    assert_eq!(failed["provider"], "local");
    let error = failed["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("worker process died") && error.contains("SIGKILL"),
        "{error}"
    );
    // The session went on: a later request ran on a fresh worker, and the session finished.
    let after: Vec<&serde_json::Value> = seen
        .iter()
        .skip_while(|e| e["type"] != "provider_failed")
        .collect();
    assert!(
        after.iter().any(|e| e["type"] == "usage"),
        "a request after the crash: {after:#?}"
    );
    assert_eq!(
        seen.last().unwrap()["type"],
        "session_finished",
        "{seen:#?}"
    );
    assert!(
        status.code().is_some(),
        "tandem itself was not killed: {status}"
    );
}

#[test]
fn the_ui_survives_its_worker_killed_mid_generation_and_the_next_turn_works() {
    use super::tui::{Session, capture, new_session, send_keys, tmux, tmux_available, wait_for};
    if !tmux_available() {
        return;
    }
    let (model, _model_lock) = require_model!();
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::write(ws.join("notes.md"), "# Notes\n").unwrap();
    let name = format!("tandem-worker-{}", std::process::id());
    let _session = Session(name.clone());
    let env: Vec<String> = SHORT.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let command = format!(
        "env -i PATH=\"$PATH\" TERM=xterm-256color HOME={d}/home TANDEM_CONFIG_DIR={d}/config TANDEM_DATA_DIR={d}/data TANDEM_STATE_DIR={d}/state TANDEM_CACHE_DIR={d}/cache {env} {bin} -C {ws} --offline --model {model}; echo TANDEM-EXITED-$?; sleep 30",
        d = dir.path().display(),
        env = env.join(" "),
        bin = env!("CARGO_BIN_EXE_tandem"),
        ws = ws.display(),
        model = model.display(),
    );
    new_session(&name, 110, 32, &command);
    wait_for(&name, "Enter sends", 20);
    let pane = tmux(&name, &["display", "-p", "-t", &name, "#{pane_pid}"]);
    let pane: u32 = String::from_utf8_lossy(&pane.stdout)
        .trim()
        .parse()
        .unwrap();
    // Killed while the turn runs: the executor's request is in flight from the start (a repository this small
    // is planned without a model call), in its prefill or its reply.
    // The model loads in the background as the UI opens; the kill is meant for a generation, not that load
    // (a load whose worker dies is tested above).
    wait_for(&name, "model ready", 60);
    let first = worker_under(pane, 20);
    send_keys(&name, &["-l", "Add a line saying hello to notes.md"]);
    send_keys(&name, &["Enter"]);
    wait_for(&name, "working", 10);
    kill(first);
    // Said in the transcript (the toast above it is cut to one line), wherever the line wraps.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let screen = capture(&name);
        let text = flat(&screen);
        if text.contains("worker process died") && text.contains("killed by signal 9 (SIGKILL") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the worker's death is not on screen:\n{screen}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // The turn goes on to its end on a fresh worker (whether the demo model's edit makes it done is the
    // model's business, not this test's).
    turn_ended(&name);

    // The next turn runs on a fresh worker.
    send_keys(&name, &["-l", "Add a line saying bye to notes.md"]);
    send_keys(&name, &["Enter"]);
    let second = worker_under(pane, 20);
    assert_ne!(second, first);
    turn_ended(&name);
    let screen = capture(&name);
    assert!(!screen.contains("TANDEM-EXITED"), "{screen}");
}

/// Waits for the turn to end: the transcript shows the turn's outcome (Done or Failed) below its message, and the
/// composer is idle again. (The composer alone is not enough: between two requests of a turn it may read idle.)
fn turn_ended(name: &str) {
    use super::tui::capture;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let screen = capture(name);
        let lines: Vec<&str> = screen.lines().collect();
        // The outcome of this turn: after the turn's own message (`› …`), not an earlier turn's.
        let asked = lines.iter().rposition(|l| l.starts_with("│›"));
        let outcome = lines
            .iter()
            .rposition(|l| l.starts_with("│• Done") || l.starts_with("│• Failed"));
        if outcome > asked && screen.contains("Enter sends") && !screen.contains("working") {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the turn did not end:\n{screen}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// The transcript's text with the frame and the wrapping taken out, so a phrase split across lines is found.
fn flat(screen: &str) -> String {
    screen
        .split(|c: char| c.is_whitespace() || "│┌┐└┘─".contains(c))
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
