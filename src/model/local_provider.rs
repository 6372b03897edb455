//! The `local` provider: the llama.cpp engine behind the same [`ChatModel`] trait as the cloud providers.
//!
//! A JSON-schema request is decoded under that schema's grammar. A request with tools is decoded under a grammar
//! that allows exactly one tool call (`{"tool": name, "arguments": {...}}`) or a plain answer
//! (`{"answer": "..."}`), so a small model's reply always parses.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::{Value, json};

use super::chat::ToolChoice;
use super::chat::{
    ChatEvent, ChatMessage, ChatModel, ChatRequest, ChatStream, FinishReason, Role, Usage,
    receiver_stream,
};
use super::error::ProviderError;
use super::local::{
    AlternativeRequest, CancelToken, Constraint, EngineConfig, EngineError,
    FinishReason as EngineFinish, GenEvent, GenRequest, LocalEngine, Prompt, SamplingParams,
};

/// The local engine as a chat model.
pub struct LocalProvider {
    engine: tokio::sync::OnceCell<Arc<LocalEngine>>,
    config: Option<EngineConfig>,
    model: String,
    sampling: SamplingParams,
    activity: Arc<ActivityState>,
    /// Seconds the load that succeeded took.
    load_secs: std::sync::OnceLock<f64>,
}

/// What the local model is doing now, for progress lines.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Activity {
    /// Nothing.
    Idle,
    /// Loading the model file, for this many seconds.
    Loading(f64),
    /// Reading the prompt (prefill), for this many seconds.
    Prefill(f64),
    /// Generating: tokens so far, seconds since the first.
    Generating(u64, f64),
}

impl std::fmt::Display for Activity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Activity::Idle => write!(f, "idle"),
            Activity::Loading(s) => write!(f, "loading the local model · {s:.0}s"),
            Activity::Prefill(s) => write!(f, "reading the prompt · {s:.0}s"),
            Activity::Generating(n, s) if s > 0.5 => {
                write!(f, "generating · {n} tokens · {:.1} tok/s", n as f64 / s)
            }
            Activity::Generating(n, _) => write!(f, "generating · {n} tokens"),
        }
    }
}

#[derive(Debug, Default)]
struct ActivityState {
    /// 0 idle, 1 loading, 2 prefill, 3 generating.
    phase: std::sync::atomic::AtomicU8,
    tokens: std::sync::atomic::AtomicU64,
    since: std::sync::Mutex<Option<std::time::Instant>>,
}

impl ActivityState {
    fn set(&self, phase: u8) {
        use std::sync::atomic::Ordering;
        self.phase.store(phase, Ordering::Relaxed);
        self.tokens.store(0, Ordering::Relaxed);
        if let Ok(mut since) = self.since.lock() {
            *since = Some(std::time::Instant::now());
        }
    }

    fn token(&self) {
        use std::sync::atomic::Ordering;
        if self.phase.load(Ordering::Relaxed) != 3 {
            self.set(3);
        }
        self.tokens.fetch_add(1, Ordering::Relaxed);
    }

    fn get(&self) -> Activity {
        use std::sync::atomic::Ordering;
        let secs = self
            .since
            .lock()
            .ok()
            .and_then(|s| *s)
            .map_or(0.0, |t| t.elapsed().as_secs_f64());
        match self.phase.load(Ordering::Relaxed) {
            1 => Activity::Loading(secs),
            2 => Activity::Prefill(secs),
            3 => Activity::Generating(self.tokens.load(Ordering::Relaxed), secs),
            _ => Activity::Idle,
        }
    }
}

impl LocalProvider {
    /// Wraps a loaded engine; `sampling` is used unless a request sets a temperature.
    pub fn new(engine: Arc<LocalEngine>, sampling: SamplingParams) -> Self {
        let model = model_name(&engine.info().path);
        LocalProvider {
            engine: tokio::sync::OnceCell::new_with(Some(engine)),
            config: None,
            model,
            sampling,
            activity: Arc::default(),
            load_secs: std::sync::OnceLock::new(),
        }
    }

    /// A provider that loads the model on its first request (so a cloud-only run never pays for it).
    pub fn lazy(config: EngineConfig, sampling: SamplingParams) -> Self {
        let model = model_name(&config.model_path);
        LocalProvider {
            engine: tokio::sync::OnceCell::new(),
            config: Some(config),
            model,
            sampling,
            activity: Arc::default(),
            load_secs: std::sync::OnceLock::new(),
        }
    }

    /// How long the model's load took, once it is loaded (a failed load is retried by the next request).
    pub fn loaded_in(&self) -> Option<f64> {
        self.load_secs.get().copied()
    }

    /// What the local model is doing now.
    pub fn activity(&self) -> Activity {
        self.activity.get()
    }

    /// The engine, loading it if this is the first use.
    pub async fn engine(&self) -> Result<Arc<LocalEngine>, ProviderError> {
        let engine =
            self.engine
                .get_or_try_init(|| async {
                    self.activity.set(1);
                    let _idle = Reset(&self.activity);
                    let config = self.config.clone().ok_or_else(|| {
                        ProviderError::LocalModelUnavailable("not configured".into())
                    })?;
                    let started = std::time::Instant::now();
                    let loaded = tokio::task::spawn_blocking(move || LocalEngine::load(config))
                        .await
                        .map_err(|e| ProviderError::LocalModelUnavailable(e.to_string()))?;
                    let engine = loaded
                        .map(Arc::new)
                        .map_err(|e| ProviderError::LocalModelUnavailable(e.to_string()))?;
                    let _ = self.load_secs.set(started.elapsed().as_secs_f64());
                    Ok(engine)
                })
                .await?;
        Ok(engine.clone())
    }
}

/// Sets the activity back to idle when dropped (a load or a generation ended, however it ended).
struct Reset<'a>(&'a ActivityState);

impl Drop for Reset<'_> {
    fn drop(&mut self) {
        self.0.set(0);
    }
}

/// The model's name in routes and the ledger: its file name without `.gguf`.
fn model_name(path: &std::path::Path) -> String {
    let name = path
        .file_name()
        .map_or_else(|| "local".into(), |n| n.to_string_lossy().into_owned());
    name.strip_suffix(".gguf")
        .map(str::to_string)
        .unwrap_or(name)
}

/// The schema of a reply that calls one of `tools`, or (unless a tool call is required) answers in text.
pub fn tool_reply_schema(request: &ChatRequest) -> Value {
    let mut choices: Vec<Value> = request
        .tools
        .iter()
        .map(|t| {
            json!({
                "type": "object",
                "properties": {"tool": {"const": t.name}, "arguments": t.parameters},
                "required": ["tool", "arguments"],
                "additionalProperties": false,
            })
        })
        .collect();
    if request.tool_choice != ToolChoice::Required {
        choices.push(json!({
            "type": "object",
            "properties": {"answer": {"type": "string"}},
            "required": ["answer"],
            "additionalProperties": false,
        }));
    }
    json!({"oneOf": choices})
}

/// Messages the engine's chat template can render: tool traffic becomes plain text, and a reply this engine
/// generated is rendered as it was generated.
pub fn plain_messages(messages: &[ChatMessage]) -> Vec<ChatMessage> {
    messages
        .iter()
        .map(|m| match m.role {
            Role::Tool => ChatMessage::user(format!(
                "Tool result ({}):\n{}",
                m.tool_call_id.as_deref().unwrap_or("?"),
                m.content
            )),
            // The model's own reply as it generated it: re-serialising its call would reorder keys and change
            // spacing, so the next prompt would miss the cache from the first token of the reply on.
            Role::Assistant if m.verbatim.is_some() => {
                let verbatim = m.verbatim.clone().unwrap_or_default();
                if m.content.is_empty() || verbatim.contains(m.content.as_str()) {
                    ChatMessage::assistant(verbatim)
                } else {
                    ChatMessage::assistant(format!("{}\n{verbatim}", m.content))
                }
            }
            Role::Assistant if !m.tool_calls.is_empty() => {
                let calls: Vec<Value> = m
                    .tool_calls
                    .iter()
                    .map(|c| {
                        let args: Value = serde_json::from_str(&c.arguments)
                            .unwrap_or(Value::String(c.arguments.clone()));
                        json!({"tool": c.name, "arguments": args})
                    })
                    .collect();
                let mut text = m.content.clone();
                for call in calls {
                    if !text.is_empty() {
                        text.push('\n');
                    }
                    text.push_str(&call.to_string());
                }
                ChatMessage::assistant(text)
            }
            _ => m.clone(),
        })
        .collect()
}

impl ChatModel for LocalProvider {
    fn provider(&self) -> &str {
        "local"
    }

    fn model(&self) -> &str {
        &self.model
    }

    fn is_local(&self) -> bool {
        true
    }

    fn stream<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatStream, ProviderError>> {
        Box::pin(async move {
            let tools = !request.tools.is_empty()
                && request.json_schema.is_none()
                && request.grammar.is_none();
            let constraint = match (&request.json_schema, &request.grammar, tools) {
                (Some(schema), _, _) => Some(Constraint::JsonSchema(schema.clone())),
                (None, Some(gbnf), _) => Some(Constraint::Gbnf(gbnf.clone())),
                (None, None, true) => Some(Constraint::JsonSchema(tool_reply_schema(request))),
                (None, None, false) => None,
            };
            let mut sampling = self.sampling.clone();
            if let Some(t) = request.temperature {
                sampling.temperature = t;
            }
            if let Some(p) = request.top_p {
                sampling.top_p = p;
                sampling.min_p = 0.0;
            }
            // Alternatives that see only the first messages get a prompt of their own (it shares the main
            // prompt's start, so the engine decodes only its last few tokens).
            let own_prompt = request
                .alternative_messages
                .filter(|n| *n > 0 && *n < request.messages.len())
                .map(|n| Prompt::Chat(plain_messages(&request.messages[..n])));
            let alternatives = alternative_sampling(&sampling, request.alternatives)
                .into_iter()
                .map(|sampling| AlternativeRequest {
                    sampling,
                    prompt: own_prompt.clone(),
                })
                .collect();
            let gen_request = GenRequest {
                prompt: Prompt::Chat(plain_messages(&request.messages)),
                max_tokens: request.max_tokens,
                sampling,
                constraint,
                stop: Vec::new(),
                alternatives,
            };
            let engine = self.engine().await?;
            let mut generation = engine.generate_with(gen_request, CancelToken::new());
            let (tx, rx) = tokio::sync::mpsc::channel(64);
            let activity = self.activity.clone();
            activity.set(2);
            tokio::spawn(async move {
                let _idle = Reset(&activity);
                let mut text = String::new();
                while let Some(event) = generation.next().await {
                    if matches!(event, GenEvent::Text(_)) {
                        activity.token();
                    }
                    let out = match event {
                        GenEvent::Text(t) if tools => {
                            text.push_str(&t);
                            continue;
                        }
                        GenEvent::Text(t) => vec![Ok(ChatEvent::Text { text: t })],
                        GenEvent::Failed(e) => vec![Err(engine_error(e))],
                        GenEvent::Done {
                            finish,
                            stats,
                            alternatives,
                        } => {
                            tracing::info!(
                                prompt = stats.prompt_tokens,
                                reused = stats.reused_tokens,
                                generated = stats.generated_tokens,
                                alternatives = stats.alternative_tokens,
                                drafted = stats.draft_tokens,
                                draft_taken = stats.draft_accepted,
                                prefill_ms = stats.prefill.as_millis() as u64,
                                decode_ms = stats.decode.as_millis() as u64,
                                "local reply"
                            );
                            let usage = Usage {
                                input_tokens: u64::from(stats.prefilled_tokens),
                                cached_input_tokens: u64::from(stats.reused_tokens),
                                cache_write_tokens: 0,
                                output_tokens: u64::from(stats.generated_tokens)
                                    + u64::from(stats.alternative_tokens),
                            };
                            let mut out = if tools {
                                tool_events(&text)
                            } else {
                                Vec::new()
                            };
                            if tools && !text.is_empty() {
                                out.push(Ok(ChatEvent::Verbatim { text: text.clone() }));
                            }
                            let called = out
                                .iter()
                                .any(|e| matches!(e, Ok(ChatEvent::ToolCallStart { .. })));
                            let reason = match chat_finish(finish) {
                                FinishReason::Stop if called => FinishReason::ToolCalls,
                                reason => reason,
                            };
                            // Alternatives of a tool reply are not offered: only the main call is parsed.
                            if !tools {
                                out.extend(alternatives.into_iter().map(|a| {
                                    Ok(ChatEvent::Alternative {
                                        text: a.text,
                                        finish: Some(chat_finish(a.finish)),
                                    })
                                }));
                            }
                            out.push(Ok(ChatEvent::Usage { usage }));
                            out.push(Ok(ChatEvent::Finish { reason }));
                            out
                        }
                    };
                    for item in out {
                        if tx.send(item).await.is_err() {
                            return;
                        }
                    }
                }
            });
            Ok(receiver_stream(rx))
        })
    }
}

/// Lowest temperature an alternative reply samples at: it is there to differ from the main one.
const ALTERNATIVE_TEMPERATURE: f32 = 0.8;

/// Samplers for `n` alternative replies beside one sampled with `main`: hotter, over the whole distribution
/// What the engine's reason for ending a reply is called on the chat API.
fn chat_finish(finish: EngineFinish) -> FinishReason {
    match finish {
        EngineFinish::MaxTokens | EngineFinish::ContextFull => FinishReason::Length,
        EngineFinish::Cancelled => FinishReason::Cancelled,
        EngineFinish::Eos | EngineFinish::Stop => FinishReason::Stop,
    }
}

/// (a top-p/min-p cut leaves a confident small model one candidate per token), each with its own seed.
fn alternative_sampling(main: &SamplingParams, n: u32) -> Vec<SamplingParams> {
    (0..n)
        .map(|i| SamplingParams {
            temperature: main.temperature.max(ALTERNATIVE_TEMPERATURE),
            top_p: 1.0,
            min_p: 0.0,
            seed: main.seed.map(|s| s.wrapping_add(i + 1)),
            ..main.clone()
        })
        .collect()
}

/// The events of a grammar-constrained tool reply.
fn tool_events(text: &str) -> Vec<Result<ChatEvent, ProviderError>> {
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        // Only a reply cut short by max_tokens gets here; the caller sees Length and the raw text.
        return vec![Ok(ChatEvent::Text {
            text: text.to_string(),
        })];
    };
    match (
        value.get("tool").and_then(Value::as_str),
        value.get("arguments"),
        value.get("answer"),
    ) {
        (Some(name), Some(args), _) => vec![
            Ok(ChatEvent::ToolCallStart {
                index: 0,
                id: "local_0".into(),
                name: name.to_string(),
            }),
            Ok(ChatEvent::ToolCallArguments {
                index: 0,
                delta: args.to_string(),
            }),
        ],
        (_, _, Some(answer)) => vec![Ok(ChatEvent::Text {
            text: answer.as_str().unwrap_or_default().to_string(),
        })],
        _ => vec![Ok(ChatEvent::Text {
            text: text.to_string(),
        })],
    }
}

fn engine_error(e: EngineError) -> ProviderError {
    match e {
        EngineError::ContextOverflow { .. } => ProviderError::ContextLengthExceeded(e.to_string()),
        other => ProviderError::Local(other.to_string()),
    }
}
