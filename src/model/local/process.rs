//! The session's side of the engine's worker process: it starts `tandem __engine-worker`, passes jobs to it
//! over its stdin and stdout, and turns its death into an [`EngineError::WorkerDied`] for the job in flight;
//! the next job starts a fresh worker. A crash in llama.cpp (a bad CPU path, an out-of-memory abort, an assert
//! on a malformed file) so never takes the session, its UI or its files down.

use std::collections::VecDeque;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ExitStatus};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::types::{CancelToken, EngineError, FinishReason, GenEvent, GenStats};
use super::wire::{FromWorker, ToWorker, WORKER_ARG};
use super::worker::Job;
use super::{EngineConfig, ModelInfo};

/// How long a cancelled generation may take to stop before its worker is killed (a prefill batch is checked
/// for cancellation only between batches).
const CANCEL_GRACE: Duration = Duration::from_secs(10);

/// Lines of the worker's stderr kept for the error that reports its death.
const STDERR_TAIL: usize = 8;

/// Environment variables a worker is given (by name or prefix); nothing else, so no provider key reaches it.
const PASSED_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "TMPDIR",
    "LANG",
    "LC_",
    "RUST_BACKTRACE",
    "RUST_LOG",
    "OMP_",
    "GOMP_",
    "KMP_",
    "GGML_",
    "LLAMA_",
    "CUDA_",
    "NVIDIA_",
    "LD_LIBRARY_PATH",
];

/// Serves `jobs` on worker processes of `program` until the channel closes; reports the first load on `ready`.
pub(super) fn run(
    config: EngineConfig,
    program: PathBuf,
    jobs: Receiver<Job>,
    ready: Sender<Result<ModelInfo, EngineError>>,
    pid: &Arc<AtomicU32>,
) {
    let mut live = match Worker::start(&config, &program) {
        Ok((mut worker, info)) => {
            worker.publish(pid);
            if ready.send(Ok(info)).is_err() {
                return;
            }
            Some(worker)
        }
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    while let Ok(job) = jobs.recv() {
        let mut worker = match live.take() {
            Some(worker) => worker,
            None => match Worker::start(&config, &program) {
                Ok((mut worker, info)) => {
                    worker.publish(pid);
                    tracing::info!(
                        pid = worker.child.id(),
                        load_ms = info.load_time.as_millis() as u64,
                        "a fresh engine worker loaded the model"
                    );
                    worker
                }
                Err(e) => {
                    fail(job, e);
                    continue;
                }
            },
        };
        if worker.serve(job) {
            live = Some(worker);
        }
    }
}

/// Answers a job that no worker can serve.
fn fail(job: Job, error: EngineError) {
    match job {
        Job::Generate { events, .. } => {
            let _ = events.send(GenEvent::Failed(error));
        }
        Job::Tokenize { reply, .. } => {
            let _ = reply.send(Err(error));
        }
        // There is no cache to clear: the next worker starts with none.
        Job::ClearCache { reply } => {
            let _ = reply.send(());
        }
    }
}

/// What the worker's stdout carried.
enum Incoming {
    Message(FromWorker),
    /// A line that is not a message: the worker broke the protocol.
    Garbled(String),
    /// Closed: the worker exited or died.
    Closed,
}

/// A running worker process.
struct Worker {
    child: Child,
    input: Option<BufWriter<ChildStdin>>,
    output: Receiver<Incoming>,
    stderr: Arc<Mutex<VecDeque<String>>>,
    stderr_reader: Option<JoinHandle<()>>,
    next_id: u64,
    /// Where the engine publishes this worker's id; cleared as soon as the worker is known dead, before the
    /// job in flight hears of it.
    published: Option<Arc<AtomicU32>>,
}

impl Worker {
    /// Starts a worker and has it load the model.
    fn start(config: &EngineConfig, program: &Path) -> Result<(Worker, ModelInfo), EngineError> {
        let env: Vec<_> = std::env::vars_os()
            .filter(|(name, _)| passed(name))
            .collect();
        let mut child =
            crate::sandbox::spawn::engine_worker(program, WORKER_ARG, env, amx_filter())
                .map_err(|e| EngineError::WorkerStart(format!("{}: {e}", program.display())))?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(EngineError::WorkerStart(
                "its pipes could not be opened".into(),
            ));
        };
        let pid = child.id();
        let (tx, output) = mpsc::channel();
        std::thread::Builder::new()
            .name("tandem-engine-out".into())
            .spawn(move || read_messages(stdout, tx))
            .map_err(|e| EngineError::WorkerStart(e.to_string()))?;
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let kept = tail.clone();
        let stderr_reader = std::thread::Builder::new()
            .name("tandem-engine-err".into())
            .spawn(move || read_stderr(stderr, pid, &kept))
            .map_err(|e| EngineError::WorkerStart(e.to_string()))?;
        let mut worker = Worker {
            child,
            input: Some(BufWriter::new(stdin)),
            output,
            stderr: tail,
            stderr_reader: Some(stderr_reader),
            next_id: 1,
            published: None,
        };
        let loading = format!("while loading {}", config.model_path.display());
        if worker
            .send(&ToWorker::Load(Box::new(config.clone())))
            .is_err()
        {
            return Err(worker.death(&loading));
        }
        match worker.output.recv() {
            Ok(Incoming::Message(FromWorker::Ready(Ok(info)))) => Ok((worker, info)),
            Ok(Incoming::Message(FromWorker::Ready(Err(e)))) => Err(e),
            Ok(Incoming::Message(other)) => {
                worker.kill();
                Err(EngineError::WorkerStart(format!(
                    "{} answered {other:?} before it was ready",
                    program.display()
                )))
            }
            Ok(Incoming::Garbled(line)) => {
                worker.kill();
                Err(EngineError::WorkerStart(format!(
                    "{} is not tandem's engine worker (it printed {:?})",
                    program.display(),
                    truncate(&line, 120)
                )))
            }
            Ok(Incoming::Closed) | Err(_) => Err(worker.death(&loading)),
        }
    }

    /// Publishes this worker's id in `pid` (until it dies).
    fn publish(&mut self, pid: &Arc<AtomicU32>) {
        pid.store(self.child.id(), Ordering::SeqCst);
        self.published = Some(pid.clone());
    }

    /// Takes back the published id: the worker is dead or being killed.
    fn unpublish(&mut self) {
        if let Some(pid) = self.published.take() {
            pid.store(0, Ordering::SeqCst);
        }
    }

    /// Writes one message; an error means the worker is gone.
    fn send(&mut self, message: &ToWorker) -> std::io::Result<()> {
        let input = self
            .input
            .as_mut()
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        serde_json::to_writer(&mut *input, message)?;
        input.write_all(b"\n")?;
        input.flush()
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Serves one job; false when the worker died (the job was answered with the reason).
    fn serve(&mut self, job: Job) -> bool {
        match job {
            Job::Generate {
                request,
                events,
                cancel,
            } => {
                let id = self.id();
                let sent = self.send(&ToWorker::Generate {
                    id,
                    request: Box::new(request),
                });
                if sent.is_err() {
                    let _ = events.send(GenEvent::Failed(self.death("as a generation began")));
                    return false;
                }
                self.stream(id, &events, &cancel)
            }
            Job::Tokenize { prompt, reply } => {
                let id = self.id();
                if self.send(&ToWorker::Tokenize { id, prompt }).is_err() {
                    let _ = reply.send(Err(self.death("while counting tokens")));
                    return false;
                }
                match self.answer(id) {
                    Ok(FromWorker::Tokens { result, .. }) => {
                        let _ = reply.send(result);
                        true
                    }
                    Ok(_) => true,
                    Err(e) => {
                        let _ = reply.send(Err(e));
                        false
                    }
                }
            }
            Job::ClearCache { reply } => {
                let id = self.id();
                let alive =
                    self.send(&ToWorker::ClearCache { id }).is_ok() && self.answer(id).is_ok();
                // A dead worker's cache is gone with it: cleared either way.
                let _ = reply.send(());
                alive
            }
        }
    }

    /// Waits for the answer to request `id`; the error when the worker died first.
    fn answer(&mut self, id: u64) -> Result<FromWorker, EngineError> {
        loop {
            match self.output.recv() {
                Ok(Incoming::Message(message)) => match message {
                    FromWorker::Tokens { id: i, .. } | FromWorker::Cleared { id: i } if i == id => {
                        return Ok(message);
                    }
                    other => tracing::debug!(?other, "a late answer from the engine worker"),
                },
                Ok(Incoming::Garbled(line)) => return Err(self.garbled(&line)),
                Ok(Incoming::Closed) | Err(_) => return Err(self.death("while answering")),
            }
        }
    }

    /// Passes generation `id`'s events on until it ends; false when the worker died or was killed.
    fn stream(
        &mut self,
        id: u64,
        events: &tokio::sync::mpsc::UnboundedSender<GenEvent>,
        cancel: &CancelToken,
    ) -> bool {
        let mut cancelled_at: Option<Instant> = None;
        loop {
            match self.output.recv_timeout(Duration::from_millis(20)) {
                Ok(Incoming::Message(message)) => match message {
                    FromWorker::Text { id: i, text } if i == id => {
                        let _ = events.send(GenEvent::Text(text));
                    }
                    FromWorker::Done {
                        id: i,
                        finish,
                        stats,
                        alternatives,
                    } if i == id => {
                        let _ = events.send(GenEvent::Done {
                            finish,
                            stats: *stats,
                            alternatives,
                        });
                        return true;
                    }
                    FromWorker::Failed { id: i, error } if i == id => {
                        let _ = events.send(GenEvent::Failed(error));
                        return true;
                    }
                    other => tracing::debug!(?other, "a late answer from the engine worker"),
                },
                Ok(Incoming::Garbled(line)) => {
                    let _ = events.send(GenEvent::Failed(self.garbled(&line)));
                    return false;
                }
                Ok(Incoming::Closed) | Err(RecvTimeoutError::Disconnected) => {
                    let _ = events.send(GenEvent::Failed(self.death("during a generation")));
                    return false;
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            // Checked after every message too: a fast stream never leaves the channel idle for a timeout.
            if !cancel.is_cancelled() {
                continue;
            }
            match cancelled_at {
                None => {
                    cancelled_at = Some(Instant::now());
                    if self.send(&ToWorker::Cancel { id }).is_err() {
                        let _ = events.send(GenEvent::Failed(self.death("as it was cancelled")));
                        return false;
                    }
                }
                Some(at) if at.elapsed() > CANCEL_GRACE => {
                    tracing::warn!(
                        pid = self.child.id(),
                        "the engine worker did not stop a cancelled generation in {} s; killed",
                        CANCEL_GRACE.as_secs()
                    );
                    self.kill();
                    let _ = events.send(GenEvent::Done {
                        finish: FinishReason::Cancelled,
                        stats: GenStats::default(),
                        alternatives: Vec::new(),
                    });
                    return false;
                }
                Some(_) => {}
            }
        }
    }

    /// The error for a worker that broke the protocol (it is killed).
    fn garbled(&mut self, line: &str) -> EngineError {
        self.kill();
        EngineError::WorkerDied {
            during: "after it printed something that is not a message".into(),
            status: format!("killed; it printed {:?}", truncate(line, 120)),
            stderr: self.stderr_tail(),
        }
    }

    /// The error for a worker whose output closed: how it ended and its last lines on stderr.
    fn death(&mut self, during: &str) -> EngineError {
        self.unpublish();
        self.input = None;
        let status = wait_at_most(&mut self.child, Duration::from_secs(2));
        if let Some(reader) = self.stderr_reader.take() {
            let _ = reader.join();
        }
        let error = EngineError::WorkerDied {
            during: during.to_string(),
            status: status.map_or_else(|| "killed after it stopped answering".into(), describe),
            stderr: self.stderr_tail(),
        };
        tracing::error!(pid = self.child.id(), error = %error, "the engine worker died");
        error
    }

    fn stderr_tail(&self) -> String {
        let tail = self
            .stderr
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        tail.iter().cloned().collect::<Vec<_>>().join(" | ")
    }

    fn kill(&mut self) {
        self.unpublish();
        self.input = None;
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Closing its stdin ends the worker; one that does not end soon is killed.
        self.input = None;
        if wait_at_most(&mut self.child, Duration::from_millis(500)).is_none() {
            tracing::debug!(
                pid = self.child.id(),
                "the engine worker was killed on close"
            );
        }
    }
}

/// Waits up to `limit` for the child to exit; kills it after that (and returns `None`).
fn wait_at_most(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

/// "killed by signal 11 (SIGSEGV)", "exit status 1".
fn describe(status: ExitStatus) -> String {
    match (status.signal(), status.code()) {
        (Some(signal), _) => format!("killed by signal {signal} ({})", signal_name(signal)),
        (None, Some(code)) => format!("exit status {code}"),
        (None, None) => status.to_string(),
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGSEGV => "SIGSEGV, a crash in native code",
        libc::SIGABRT => "SIGABRT, llama.cpp aborted",
        libc::SIGKILL => "SIGKILL, killed from outside, or by the out-of-memory killer",
        libc::SIGBUS => "SIGBUS, a memory-mapped file changed or shrank",
        libc::SIGILL => "SIGILL, an instruction this CPU does not have",
        libc::SIGFPE => "SIGFPE, an arithmetic fault",
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        _ => "a signal",
    }
}

/// The worker's seccomp filter: AMX refused (llama.cpp's AMX path crashes on some CPUs, llama.cpp#20824),
/// unless `TANDEM_ALLOW_AMX=1`. tandem's default build has no AMX path at all (.cargo/config.toml); this keeps
/// a native build (`RUSTFLAGS="-C target-cpu=native"`) off it too, on AVX-512 and the weight repacking instead.
fn amx_filter() -> Vec<libc::sock_filter> {
    if std::env::var_os("TANDEM_ALLOW_AMX").is_some_and(|v| v == "1") {
        Vec::new()
    } else {
        crate::sandbox::seccomp::without_amx()
    }
}

/// Whether an environment variable is passed to the worker.
fn passed(name: &OsStr) -> bool {
    let name = name.to_string_lossy();
    PASSED_ENV.iter().any(|p| {
        if p.ends_with('_') {
            name.starts_with(p)
        } else {
            name == *p
        }
    })
}

fn read_messages(stdout: std::process::ChildStdout, tx: Sender<Incoming>) {
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        let incoming = match serde_json::from_str::<FromWorker>(&line) {
            Ok(message) => Incoming::Message(message),
            Err(_) => Incoming::Garbled(line),
        };
        if tx.send(incoming).is_err() {
            return;
        }
    }
    let _ = tx.send(Incoming::Closed);
}

/// Logs the worker's stderr and keeps its last lines.
fn read_stderr(stderr: std::process::ChildStderr, pid: u32, tail: &Mutex<VecDeque<String>>) {
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        let line = crate::text::terminal_safe(line.trim_end());
        if line.is_empty() {
            continue;
        }
        tracing::debug!(worker = pid, "{line}");
        let mut kept = tail
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if kept.len() == STDERR_TAIL {
            kept.pop_front();
        }
        kept.push_back(truncate(&line, 300));
    }
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_engine_variables_reach_the_worker() {
        for name in [
            "PATH",
            "OMP_NUM_THREADS",
            "GGML_CPU_DISABLE_FUSION",
            "LC_ALL",
            "RUST_LOG",
        ] {
            assert!(passed(OsStr::new(name)), "{name}");
        }
        for name in [
            "OPENAI_API_KEY",
            "ANTHROPIC_API_KEY",
            "TANDEM_API_KEY",
            "AWS_SECRET_ACCESS_KEY",
            "PATHX",
        ] {
            assert!(!passed(OsStr::new(name)), "{name}");
        }
    }

    #[test]
    fn a_death_by_signal_is_named() {
        let status = ExitStatus::from_raw(libc::SIGSEGV);
        assert_eq!(
            describe(status),
            "killed by signal 11 (SIGSEGV, a crash in native code)"
        );
        assert_eq!(describe(ExitStatus::from_raw(3 << 8)), "exit status 3");
    }
}
