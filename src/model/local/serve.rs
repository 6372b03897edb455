//! The worker process's side (`tandem __engine-worker`): loads the model on its engine thread as the in-process
//! engine does, reads [`ToWorker`] lines on stdin and writes [`FromWorker`] lines on a private copy of stdout.
//! Whatever else writes to stdout (llama.cpp's own prints) goes to stderr, which the session logs.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::os::fd::FromRawFd;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, mpsc};

use super::types::{CancelToken, EngineError, GenEvent};
use super::wire::{FromWorker, ToWorker};
use super::worker::{self, Job};

type Out = Arc<Mutex<std::io::BufWriter<std::fs::File>>>;

/// Runs the worker until its stdin closes.
pub fn serve_stdio() -> ExitCode {
    // SAFETY: plain descriptor calls: the protocol gets its own copy of fd 1, then fd 1 points at fd 2.
    let proto = unsafe { libc::dup(libc::STDOUT_FILENO) };
    if proto < 0 || unsafe { libc::dup2(libc::STDERR_FILENO, libc::STDOUT_FILENO) } < 0 {
        crate::errln!("tandem engine worker: cannot set up its output");
        return ExitCode::from(1);
    }
    // SAFETY: `proto` is a fresh descriptor from dup(2), owned by this File from here on.
    let out: Out = Arc::new(Mutex::new(std::io::BufWriter::new(unsafe {
        std::fs::File::from_raw_fd(proto)
    })));
    // Warnings and errors only unless RUST_LOG says otherwise: the tail of stderr that a death report quotes
    // should be what went wrong (and llama.cpp's own prints, such as a GGML_ASSERT), not the load's chatter.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .with_env_filter(filter)
        .try_init();

    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let config = match lines
        .next()
        .map(|l| l.map(|l| serde_json::from_str::<ToWorker>(&l)))
    {
        Some(Ok(Ok(ToWorker::Load(config)))) => *config,
        _ => {
            crate::errln!("tandem engine worker: the first message must be Load");
            return ExitCode::from(2);
        }
    };
    let (jobs, jobs_rx) = mpsc::channel();
    let (ready_tx, ready) = mpsc::channel();
    let engine = match std::thread::Builder::new()
        .name("tandem-llama".into())
        .spawn(move || worker::run(config, jobs_rx, ready_tx))
    {
        Ok(engine) => engine,
        Err(e) => {
            let error = EngineError::WorkerStart(format!("cannot start the engine thread: {e}"));
            write(&out, &FromWorker::Ready(Err(error)));
            return ExitCode::from(1);
        }
    };
    let loaded = ready.recv().unwrap_or(Err(EngineError::Stopped));
    let ok = loaded.is_ok();
    write(&out, &FromWorker::Ready(loaded));
    if !ok {
        let _ = engine.join();
        return ExitCode::from(1);
    }

    let cancels: Arc<Mutex<HashMap<u64, CancelToken>>> = Arc::default();
    for line in lines {
        let Ok(line) = line else { break };
        let message = match serde_json::from_str::<ToWorker>(&line) {
            Ok(message) => message,
            Err(e) => {
                tracing::error!("not a message: {e}");
                continue;
            }
        };
        match message {
            ToWorker::Load(_) => tracing::error!("Load sent twice; ignored"),
            ToWorker::Generate { id, request } => {
                let cancel = CancelToken::new();
                lock(&cancels).insert(id, cancel.clone());
                let (events, mut rx) = tokio::sync::mpsc::unbounded_channel();
                let job = Job::Generate {
                    request: *request,
                    events,
                    cancel,
                };
                if jobs.send(job).is_err() {
                    write(
                        &out,
                        &FromWorker::event(id, GenEvent::Failed(EngineError::Stopped)),
                    );
                    continue;
                }
                let (out, cancels) = (out.clone(), cancels.clone());
                std::thread::spawn(move || {
                    // Text that arrived together (a draft's tokens, taken in one batch) goes as one message:
                    // on a machine whose cores all run llama.cpp's threads, each message is a wake-up here and
                    // two in the session, taken from the computation.
                    let mut held: Option<GenEvent> = None;
                    while let Some(first) = held.take().or_else(|| rx.blocking_recv()) {
                        let event = match first {
                            GenEvent::Text(mut text) => {
                                while let Ok(next) = rx.try_recv() {
                                    match next {
                                        GenEvent::Text(more) => text.push_str(&more),
                                        other => {
                                            held = Some(other);
                                            break;
                                        }
                                    }
                                }
                                GenEvent::Text(text)
                            }
                            other => other,
                        };
                        let last = !matches!(event, GenEvent::Text(_));
                        write(&out, &FromWorker::event(id, event));
                        if last {
                            break;
                        }
                    }
                    lock(&cancels).remove(&id);
                });
            }
            ToWorker::Cancel { id } => {
                if let Some(cancel) = lock(&cancels).get(&id) {
                    cancel.cancel();
                }
            }
            ToWorker::Tokenize { id, prompt } => {
                let (reply, rx) = tokio::sync::oneshot::channel();
                let _ = jobs.send(Job::Tokenize { prompt, reply });
                let out = out.clone();
                std::thread::spawn(move || {
                    let result = rx.blocking_recv().unwrap_or(Err(EngineError::Stopped));
                    write(&out, &FromWorker::Tokens { id, result });
                });
            }
            ToWorker::ClearCache { id } => {
                let (reply, rx) = tokio::sync::oneshot::channel();
                let _ = jobs.send(Job::ClearCache { reply });
                let out = out.clone();
                std::thread::spawn(move || {
                    let _ = rx.blocking_recv();
                    write(&out, &FromWorker::Cleared { id });
                });
            }
        }
    }
    drop(jobs);
    let _ = engine.join();
    ExitCode::SUCCESS
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Writes one message line; a closed pipe means the session is gone, and the worker ends at stdin's close.
fn write(out: &Out, message: &FromWorker) {
    let mut out = lock(out);
    let written = serde_json::to_writer(&mut *out, message)
        .map_err(std::io::Error::from)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
    if let Err(e) = written {
        tracing::debug!("cannot write to the session: {e}");
    }
}
