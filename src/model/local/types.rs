//! The local engine's requests, streamed events, statistics and errors.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::ChatMessage;

/// What to generate from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Prompt {
    /// A conversation, rendered with the model's chat template.
    Chat(Vec<ChatMessage>),
    /// Text already in the model's format.
    Raw(String),
}

/// A grammar the output must follow.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Constraint {
    /// Output is JSON matching this schema (converted by llama.cpp's json_schema_to_grammar).
    JsonSchema(serde_json::Value),
    /// Output follows this GBNF grammar (root rule `root`).
    Gbnf(String),
}

/// Sampler settings for one request; temperature 0 is greedy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplingParams {
    /// Softmax temperature; 0 picks the most likely token.
    pub temperature: f32,
    /// Keep the k most likely tokens; 0 disables.
    pub top_k: i32,
    /// Nucleus mass; 1 disables.
    pub top_p: f32,
    /// Minimum probability relative to the top token; 0 disables.
    pub min_p: f32,
    /// Repeat penalty; 1 disables.
    pub repeat_penalty: f32,
    /// Window of the repeat penalty.
    pub repeat_last_n: i32,
    /// Random seed; `None` draws one.
    pub seed: Option<u32>,
}

impl SamplingParams {
    /// Greedy decoding with no penalties: the same prompt always gives the same output.
    pub fn greedy() -> Self {
        SamplingParams {
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            repeat_penalty: 1.0,
            repeat_last_n: 0,
            seed: None,
        }
    }
}

impl From<&crate::config::SamplingConfig> for SamplingParams {
    fn from(c: &crate::config::SamplingConfig) -> Self {
        SamplingParams {
            // Narrowing on purpose: llama.cpp's samplers take f32.
            temperature: c.temperature as f32,
            top_k: c.top_k,
            top_p: c.top_p as f32,
            min_p: c.min_p as f32,
            repeat_penalty: c.repeat_penalty as f32,
            repeat_last_n: c.repeat_last_n,
            seed: c.seed,
        }
    }
}

/// One generation request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GenRequest {
    /// The input.
    pub prompt: Prompt,
    /// Most tokens to generate.
    pub max_tokens: u32,
    /// The sampler chain.
    pub sampling: SamplingParams,
    /// An optional grammar.
    pub constraint: Option<Constraint>,
    /// Strings that end generation (not included in the output).
    pub stop: Vec<String>,
    /// More replies, decoded beside the main one in the same batches (a KV sequence each); at most
    /// [`MAX_ALTERNATIVES`], and fewer where the context cannot hold them all.
    pub alternatives: Vec<AlternativeRequest>,
}

/// A reply sampled beside the main one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlternativeRequest {
    /// Its sampler.
    pub sampling: SamplingParams,
    /// Its own prompt (`None`: the main one's). It keeps what it shares with the main prompt's start and
    /// decodes the rest with the first batch of the reply; one whose own part is longer than
    /// [`ALTERNATIVE_PROMPT_MAX`] tokens is not decoded.
    pub prompt: Option<Prompt>,
}

impl AlternativeRequest {
    /// An alternative to the main prompt with `sampling`.
    pub fn same_prompt(sampling: SamplingParams) -> Self {
        AlternativeRequest {
            sampling,
            prompt: None,
        }
    }
}

/// Most tokens of its own an alternative's prompt may have beyond what it shares with the main prompt.
pub const ALTERNATIVE_PROMPT_MAX: usize = 64;

/// Most replies an engine samples beside the main one.
pub const MAX_ALTERNATIVES: usize = 3;

impl GenRequest {
    /// A chat request with greedy sampling and no grammar.
    pub fn chat(messages: Vec<ChatMessage>, max_tokens: u32) -> Self {
        GenRequest {
            prompt: Prompt::Chat(messages),
            max_tokens,
            sampling: SamplingParams::greedy(),
            constraint: None,
            stop: Vec::new(),
            alternatives: Vec::new(),
        }
    }
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// The model produced an end-of-generation token (or its grammar completed).
    Eos,
    /// `max_tokens` were generated.
    MaxTokens,
    /// A stop string appeared.
    Stop,
    /// The context window filled up; the output so far is returned.
    ContextFull,
    /// The request was cancelled.
    Cancelled,
}

/// What one request cost, measured by the engine itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GenStats {
    /// Tokens in the prompt.
    pub prompt_tokens: u32,
    /// Prompt tokens whose KV entries were already cached and were not decoded again.
    pub reused_tokens: u32,
    /// Prompt tokens decoded for this request (`prompt_tokens - reused_tokens`).
    pub prefilled_tokens: u32,
    /// Tokens generated.
    pub generated_tokens: u32,
    /// Time to tokenize and prefill the prompt.
    pub prefill: Duration,
    /// Time spent generating after prefill.
    pub decode: Duration,
    /// From the request's start to the first generated token.
    pub time_to_first_token: Duration,
    /// The request's grammar was parsed for an earlier request and reused (a fresh copy).
    pub grammar_reused: bool,
    /// Tokens generated for the alternative replies, all together.
    pub alternative_tokens: u32,
    /// Prompt-lookup draft tokens decoded beside the reply's own.
    pub draft_tokens: u32,
    /// Of those, the tokens the sampler picked as the draft had them (the rest were cut off again).
    pub draft_accepted: u32,
}

impl GenStats {
    /// Prefill speed in tokens per second (of the tokens actually decoded).
    pub fn prefill_tps(&self) -> f64 {
        per_second(self.prefilled_tokens, self.prefill)
    }

    /// Generation speed in tokens per second.
    pub fn decode_tps(&self) -> f64 {
        per_second(self.generated_tokens, self.decode)
    }
}

fn per_second(n: u32, d: Duration) -> f64 {
    if d.is_zero() {
        0.0
    } else {
        f64::from(n) / d.as_secs_f64()
    }
}

/// A streamed piece of a generation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum GenEvent {
    /// More output text (whole UTF-8 characters).
    Text(String),
    /// Generation ended.
    Done {
        /// Why it ended.
        finish: FinishReason,
        /// What it cost.
        stats: GenStats,
        /// The alternative replies, in the order their samplers were given.
        alternatives: Vec<AlternativeReply>,
    },
    /// Generation failed; no `Done` follows.
    Failed(EngineError),
}

/// A finished generation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Completion {
    /// All output text.
    pub text: String,
    /// Why it ended.
    pub finish: FinishReason,
    /// What it cost.
    pub stats: GenStats,
    /// The alternative replies.
    pub alternatives: Vec<AlternativeReply>,
}

/// A reply sampled beside the main one, and why it ended (as the main reply's `finish` says for it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlternativeReply {
    /// Its text.
    pub text: String,
    /// Why it ended.
    pub finish: FinishReason,
}

/// Cancels a request; cloning shares the flag.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token not yet cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the request to stop at the next token.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether cancel was asked for.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Errors of the local engine.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
pub enum EngineError {
    /// No file at the model path.
    #[error("model file not found: {}", .0.display())]
    ModelNotFound(PathBuf),
    /// The file is not a GGUF model.
    #[error("{}: not a GGUF model file ({reason})", path.display())]
    NotGguf {
        /// The file.
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
    /// llama.cpp refused the file.
    #[error("{}: llama.cpp could not load this model: corrupt, truncated or an unsupported architecture (details in the log)", path.display())]
    LoadFailed {
        /// The file.
        path: PathBuf,
    },
    /// The context could not be created (often: too little memory for the context size).
    #[error("could not create a llama.cpp context of {n_ctx} tokens (lower local.context_size?)")]
    Context {
        /// The requested size.
        n_ctx: u32,
    },
    /// The prompt does not fit the context window.
    #[error(
        "the prompt is {prompt_tokens} tokens but the context window is {n_ctx}; shorten it or raise local.context_size"
    )]
    ContextOverflow {
        /// Prompt length.
        prompt_tokens: u32,
        /// Context size.
        n_ctx: u32,
    },
    /// The prompt is empty after tokenization.
    #[error("the prompt is empty")]
    EmptyPrompt,
    /// The chat template could not be applied.
    #[error("chat template: {0}")]
    Template(String),
    /// The grammar or JSON schema could not be used.
    #[error("grammar: {0}")]
    Grammar(String),
    /// llama.cpp failed to decode a batch.
    #[error("llama.cpp decode failed: {0}")]
    Decode(String),
    /// The engine thread is gone.
    #[error("the local engine has stopped")]
    Stopped,
    /// The engine's worker process could not be started or did not answer as one.
    #[error("could not start the local engine's worker process: {0}")]
    WorkerStart(String),
    /// The engine's worker process died (a crash in llama.cpp, the out-of-memory killer, a signal); the next
    /// request starts a fresh one.
    #[error("the local engine's worker process died {during} ({status}){}", stderr_tail(.stderr))]
    WorkerDied {
        /// What it was doing: "while loading <file>", "during a generation", ...
        during: String,
        /// How it ended: "killed by signal 11 (SIGSEGV)", "exit status 1".
        status: String,
        /// Its last lines on stderr.
        stderr: String,
    },
}

fn stderr_tail(stderr: &str) -> String {
    if stderr.trim().is_empty() {
        String::new()
    } else {
        format!("; its last words: {}", stderr.trim())
    }
}
