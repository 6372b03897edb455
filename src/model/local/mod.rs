//! The local llama.cpp engine: one thread owns the model and context (in a worker process of its own unless
//! [`EngineHost::InProcess`]); requests stream tokens back.

mod gguf;
mod hardware;
mod lookup;
pub mod openmp;
mod prefix;
mod process;
mod sampler;
mod serve;
mod slots;

mod stderr;
mod template;
mod text;
mod types;
mod wire;
mod worker;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedReceiver;

pub use gguf::check_file;
pub use hardware::{compute_path, host_cpu, llama_system_info, physical_cores};
pub use prefix::{common_prefix, tokens_to_keep};
pub use sampler::grammar_text;
pub use serve::serve_stdio;
pub use template::{TemplateChoice, TemplateMode, chatml};
pub use types::{
    ALTERNATIVE_PROMPT_MAX, AlternativeReply, AlternativeRequest, CancelToken, Completion,
    Constraint, EngineError, FinishReason, GenEvent, GenRequest, GenStats, MAX_ALTERNATIVES,
    Prompt, SamplingParams,
};
pub use wire::WORKER_ARG;

use crate::config::Config;
use worker::Job;

/// How to load the engine.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EngineConfig {
    /// The GGUF file.
    pub model_path: PathBuf,
    /// Context window; 0 is the model's training context.
    pub context_size: u32,
    /// Threads; never 0 here (resolved from config's 0 = physical cores).
    pub threads: u32,
    /// Tokens per prefill batch.
    pub batch_size: u32,
    /// Layers offloaded to the GPU.
    pub gpu_layers: u32,
    /// Chat template choice.
    pub chat_template: TemplateChoice,
    /// Most tokens of a prompt-lookup draft decoded with each reply token; 0 decodes one token at a time.
    pub draft_tokens: u32,
    /// Where llama.cpp runs.
    pub host: EngineHost,
    /// What decodes JSON-schema constraints.
    #[serde(default)]
    pub grammar_engine: GrammarEngine,
}

/// What decodes JSON-schema constraints (GBNF grammars always go to llama.cpp's grammar sampler).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GrammarEngine {
    /// llama.cpp's grammar sampler, on the GBNF that llama.cpp's converter makes of the schema.
    LlamaCpp,
    /// llguidance (only in a build with the `llguidance` feature, the default; otherwise llama.cpp's).
    Llguidance,
}

impl Default for GrammarEngine {
    fn default() -> Self {
        if cfg!(feature = "llguidance") {
            GrammarEngine::Llguidance
        } else {
            GrammarEngine::LlamaCpp
        }
    }
}

impl GrammarEngine {
    /// The engine named by `TANDEM_GRAMMAR_ENGINE` (`llguidance` or `llama.cpp`), else the build's default;
    /// read by the parent, since a worker process is not given that variable.
    pub fn from_env() -> Self {
        match std::env::var("TANDEM_GRAMMAR_ENGINE").as_deref() {
            Ok("llguidance") => GrammarEngine::Llguidance,
            Ok("llama.cpp" | "llamacpp" | "gbnf") => GrammarEngine::LlamaCpp,
            _ => GrammarEngine::default(),
        }
    }

    /// Its name, as `TANDEM_GRAMMAR_ENGINE` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            GrammarEngine::LlamaCpp => "llama.cpp",
            GrammarEngine::Llguidance if cfg!(feature = "llguidance") => "llguidance",
            GrammarEngine::Llguidance => "llama.cpp (llguidance is not built in)",
        }
    }
}

/// Where llama.cpp runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EngineHost {
    /// In a worker process, `PROGRAM __engine-worker`, so that a crash in native code fails a request instead of
    /// ending the session. `None`: `$TANDEM_ENGINE_WORKER`, else this very program (`/proc/self/exe`).
    Process(Option<PathBuf>),
    /// On a thread of this process.
    InProcess,
}

impl Default for EngineHost {
    fn default() -> Self {
        EngineHost::Process(None)
    }
}

impl EngineHost {
    /// The worker program, or `None` for an in-process engine.
    fn program(&self) -> Result<Option<PathBuf>, EngineError> {
        match self {
            EngineHost::InProcess => Ok(None),
            EngineHost::Process(Some(program)) => Ok(Some(program.clone())),
            EngineHost::Process(None) => match std::env::var_os("TANDEM_ENGINE_WORKER") {
                Some(program) if !program.is_empty() => Ok(Some(program.into())),
                // The very binary this process runs, even if its file was replaced since (a rebuild): the
                // worker then always speaks the same protocol.
                _ if Path::new("/proc/self/exe").exists() => {
                    Ok(Some(PathBuf::from("/proc/self/exe")))
                }
                _ => std::env::current_exe().map(Some).map_err(|e| {
                    EngineError::WorkerStart(format!("cannot find this program's own file: {e}"))
                }),
            },
        }
    }
}

impl EngineConfig {
    /// The engine settings of a loaded config; reads a Jinja template file if one is configured.
    pub fn from_config(config: &Config) -> Result<Self, EngineError> {
        let local = &config.values.local;
        let chat_template = match local.chat_template.trim() {
            "auto" => TemplateChoice::Auto,
            "chatml" => TemplateChoice::ChatMl,
            raw => {
                let path = config.resolve_path("local.chat_template", raw);
                let source = std::fs::read_to_string(&path)
                    .map_err(|e| EngineError::Template(format!("{}: {e}", path.display())))?;
                TemplateChoice::Jinja { source, path }
            }
        };
        Ok(EngineConfig {
            model_path: config.model_location().path().to_path_buf(),
            context_size: local.context_size,
            threads: resolve_threads(local.threads),
            batch_size: local.batch_size,
            gpu_layers: local.gpu_layers,
            chat_template,
            draft_tokens: local.draft_tokens,
            host: EngineHost::default(),
            grammar_engine: GrammarEngine::from_env(),
        })
    }

    /// Settings for `model_path` with tandem's defaults.
    pub fn for_model(model_path: impl Into<PathBuf>) -> Self {
        let d = crate::config::LocalConfig::default();
        EngineConfig {
            model_path: model_path.into(),
            context_size: d.context_size,
            threads: resolve_threads(d.threads),
            batch_size: d.batch_size,
            gpu_layers: d.gpu_layers,
            chat_template: TemplateChoice::Auto,
            draft_tokens: d.draft_tokens,
            host: EngineHost::default(),
            grammar_engine: GrammarEngine::from_env(),
        }
    }
}

/// Turns config's `threads = 0` into the number of physical cores.
pub fn resolve_threads(configured: u32) -> u32 {
    if configured == 0 {
        u32::try_from(physical_cores()).unwrap_or(1)
    } else {
        configured
    }
}

/// What was loaded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelInfo {
    /// The GGUF file.
    pub path: PathBuf,
    /// The model's name and architecture from its metadata.
    pub description: String,
    /// Parameter count.
    pub n_params: u64,
    /// Weights size in bytes.
    pub size_bytes: u64,
    /// The context the model was trained with.
    pub n_ctx_train: u32,
    /// The context in use.
    pub n_ctx: u32,
    /// Threads in use.
    pub threads: u32,
    /// Layers on the GPU.
    pub gpu_layers: u32,
    /// How chat prompts are rendered.
    pub template: String,
    /// How long loading took.
    pub load_time: Duration,
    /// What llama.cpp computes with in the process that loaded it ([`compute_path`]).
    pub compute: String,
}

/// A handle to the engine (a thread that owns the model, or one that serves it from a worker process);
/// dropping it stops both.
pub struct LocalEngine {
    jobs: Option<mpsc::Sender<Job>>,
    info: ModelInfo,
    /// The worker process's id; 0 while there is none (or the engine runs in this process).
    worker_pid: std::sync::Arc<std::sync::atomic::AtomicU32>,
    thread: Option<JoinHandle<()>>,
}

impl LocalEngine {
    /// Loads the model where `config.host` says and waits until it is ready (blocking: call it from a
    /// blocking context in async code).
    pub fn load(config: EngineConfig) -> Result<Self, EngineError> {
        let (jobs_tx, jobs_rx) = mpsc::channel();
        let (ready_tx, ready_rx) = mpsc::channel();
        let worker_pid = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let pid = worker_pid.clone();
        let thread = match config.host.program()? {
            Some(program) => std::thread::Builder::new()
                .name("tandem-engine".into())
                .spawn(move || process::run(config, program, jobs_rx, ready_tx, &pid)),
            None => std::thread::Builder::new()
                .name("tandem-llama".into())
                .spawn(move || worker::run(config, jobs_rx, ready_tx)),
        }
        .map_err(|e| EngineError::WorkerStart(format!("cannot start the engine thread: {e}")))?;
        match ready_rx.recv() {
            Ok(Ok(info)) => {
                tracing::info!(model = %info.path.display(), n_ctx = info.n_ctx, threads = info.threads, template = %info.template, "local model loaded");
                Ok(LocalEngine {
                    jobs: Some(jobs_tx),
                    info,
                    worker_pid,
                    thread: Some(thread),
                })
            }
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(EngineError::Stopped)
            }
        }
    }

    /// What was loaded.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// The id of the worker process that runs llama.cpp now; `None` while there is none (after it died, until
    /// the next request starts one) or when the engine runs in this process.
    pub fn worker_pid(&self) -> Option<u32> {
        match self.worker_pid.load(std::sync::atomic::Ordering::SeqCst) {
            0 => None,
            pid => Some(pid),
        }
    }

    fn send(&self, job: Job) -> Result<(), EngineError> {
        self.jobs
            .as_ref()
            .ok_or(EngineError::Stopped)?
            .send(job)
            .map_err(|_| EngineError::Stopped)
    }

    /// Starts a generation; its events stream from the returned handle. Requests run one after another.
    pub fn generate(&self, request: GenRequest) -> Generation {
        self.generate_with(request, CancelToken::new())
    }

    /// Like [`generate`](Self::generate), cancelled by the caller's own token.
    pub fn generate_with(&self, request: GenRequest, cancel: CancelToken) -> Generation {
        let (events_tx, events) = tokio::sync::mpsc::unbounded_channel();
        let job = Job::Generate {
            request,
            events: events_tx.clone(),
            cancel: cancel.clone(),
        };
        if self.send(job).is_err() {
            let _ = events_tx.send(GenEvent::Failed(EngineError::Stopped));
        }
        Generation {
            events,
            cancel,
            finished: false,
        }
    }

    /// Counts the tokens of a prompt as the engine would see it (template applied).
    pub fn count_tokens(&self, prompt: Prompt) -> Result<usize, EngineError> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.send(Job::Tokenize { prompt, reply })?;
        rx.blocking_recv().map_err(|_| EngineError::Stopped)?
    }

    /// Forgets the KV cache, so the next request prefills from scratch.
    pub fn clear_cache(&self) -> Result<(), EngineError> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.send(Job::ClearCache { reply })?;
        rx.blocking_recv().map_err(|_| EngineError::Stopped)
    }

    /// Generates to the end and returns the whole output (blocking).
    pub fn complete(&self, request: GenRequest) -> Result<Completion, EngineError> {
        self.generate(request).collect_blocking()
    }
}

impl Drop for LocalEngine {
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A running generation: a stream of [`GenEvent`]s; dropping it cancels the request.
pub struct Generation {
    events: UnboundedReceiver<GenEvent>,
    cancel: CancelToken,
    finished: bool,
}

impl Generation {
    /// A token that cancels this generation from anywhere.
    pub fn cancel_token(&self) -> CancelToken {
        self.cancel.clone()
    }

    /// The next event, waiting for it; `None` after `Done` or `Failed`.
    pub async fn next(&mut self) -> Option<GenEvent> {
        if self.finished {
            return None;
        }
        let event = self.events.recv().await;
        self.note(event)
    }

    /// The next event, blocking the thread (not for async contexts).
    pub fn blocking_next(&mut self) -> Option<GenEvent> {
        if self.finished {
            return None;
        }
        let event = self.events.blocking_recv();
        self.note(event)
    }

    fn note(&mut self, event: Option<GenEvent>) -> Option<GenEvent> {
        // A closed channel without a final event means the engine thread died.
        let event = event.unwrap_or(GenEvent::Failed(EngineError::Stopped));
        if !matches!(event, GenEvent::Text(_)) {
            self.finished = true;
        }
        Some(event)
    }

    /// Waits for the end and returns the whole output (blocking).
    pub fn collect_blocking(mut self) -> Result<Completion, EngineError> {
        let mut text = String::new();
        while let Some(event) = self.blocking_next() {
            if let Some(done) = fold(&mut text, event)? {
                return Ok(done);
            }
        }
        Err(EngineError::Stopped)
    }

    /// Waits for the end and returns the whole output.
    pub async fn collect(mut self) -> Result<Completion, EngineError> {
        let mut text = String::new();
        while let Some(event) = self.next().await {
            if let Some(done) = fold(&mut text, event)? {
                return Ok(done);
            }
        }
        Err(EngineError::Stopped)
    }
}

fn fold(text: &mut String, event: GenEvent) -> Result<Option<Completion>, EngineError> {
    match event {
        GenEvent::Text(t) => {
            text.push_str(&t);
            Ok(None)
        }
        GenEvent::Done {
            finish,
            stats,
            alternatives,
        } => Ok(Some(Completion {
            text: std::mem::take(text),
            finish,
            stats,
            alternatives,
        })),
        GenEvent::Failed(e) => Err(e),
    }
}

impl Drop for Generation {
    fn drop(&mut self) {
        if !self.finished {
            self.cancel.cancel();
        }
    }
}
