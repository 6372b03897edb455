//! The `openai` provider: OpenAI chat completions with SSE, for OpenAI and every server that speaks the same
//! protocol (OpenRouter, vLLM, llama-server, Ollama's /v1, LM Studio, LiteLLM).
//!
//! The same reqwest and SSE path as the `anthropic` provider: a non-success status is typed from its headers
//! (retry-after, x-ratelimit-*) and body by `http::status_error`. Chunks are read with lenient types, since
//! compatible servers differ in the fields they send.

use std::time::Duration;

use eventsource_stream::Eventsource;
use futures::StreamExt;
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::{Value, json};

use super::chat::ToolChoice;
use super::chat::{
    ChatEvent, ChatMessage, ChatModel, ChatRequest, ChatStream, FinishReason, Role, Sequence, Usage,
};
use super::error::ProviderError;
use super::http;
use crate::secret::Secret;

/// An OpenAI-compatible endpoint.
pub struct OpenAiProvider {
    endpoint: http::Endpoint,
}

impl OpenAiProvider {
    /// A provider for `model` at `base_url` (e.g. `https://api.openai.com/v1`).
    pub fn new(
        name: impl Into<String>,
        base_url: impl Into<String>,
        model: impl Into<String>,
        key: Option<Secret>,
        read_timeout: Duration,
    ) -> Result<Self, ProviderError> {
        Ok(OpenAiProvider {
            endpoint: http::Endpoint::new(name, base_url, model, key, read_timeout)?,
        })
    }

    /// The request body for `request`.
    pub fn body(&self, request: &ChatRequest) -> Value {
        let mut body = json!({
            "model": self.endpoint.model,
            "messages": request.messages.iter().map(message_json).collect::<Vec<_>>(),
            "stream": true,
            "stream_options": { "include_usage": true },
        });
        // OpenAI's own API wants max_completion_tokens (its reasoning models refuse max_tokens); compatible
        // servers know max_tokens.
        let field = if self.endpoint.base_url.contains("api.openai.com") {
            "max_completion_tokens"
        } else {
            "max_tokens"
        };
        body[field] = json!(request.max_tokens);
        if let Some(t) = request.temperature {
            body["temperature"] = json!(t);
        }
        if let Some(p) = request.top_p {
            body["top_p"] = json!(p);
        }
        // `n` samples every choice from the same messages: alternatives meant to see fewer are left out.
        let same_prompt = request
            .alternative_messages
            .is_none_or(|n| n >= request.messages.len());
        if request.alternatives > 0 && same_prompt {
            body["n"] = json!(1 + request.alternatives);
        }
        if !request.tools.is_empty() {
            body["tools"] = request
                .tools
                .iter()
                .map(|t| json!({"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}))
                .collect();
            if request.tool_choice == ToolChoice::Required {
                body["tool_choice"] = json!("required");
            }
        }
        if let Some(schema) = &request.json_schema {
            body["response_format"] = json!({"type": "json_schema", "json_schema": {"name": "reply", "schema": schema, "strict": false}});
        }
        body
    }
}

fn message_json(m: &ChatMessage) -> Value {
    match m.role {
        Role::Assistant if !m.tool_calls.is_empty() => json!({
            "role": "assistant",
            "content": if m.content.is_empty() { Value::Null } else { json!(m.content) },
            "tool_calls": m.tool_calls.iter().map(|c| json!({
                "id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}
            })).collect::<Vec<_>>(),
        }),
        Role::Tool => json!({"role": "tool", "tool_call_id": m.tool_call_id, "content": m.content}),
        role => json!({"role": role.as_str(), "content": m.content}),
    }
}

impl ChatModel for OpenAiProvider {
    fn provider(&self) -> &str {
        &self.endpoint.name
    }

    fn model(&self) -> &str {
        &self.endpoint.model
    }

    fn is_local(&self) -> bool {
        false
    }

    fn stream<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatStream, ProviderError>> {
        Box::pin(async move {
            let mut builder = self
                .endpoint
                .client
                .post(format!("{}/chat/completions", self.endpoint.base_url))
                .json(&self.body(request));
            if let Some(key) = &self.endpoint.key {
                builder = builder.bearer_auth(key.expose());
            }
            let response = self.endpoint.open(builder).await?;
            let (tx, rx) = tokio::sync::mpsc::channel(64);
            tokio::spawn(pump(response, tx));
            Ok(super::chat::receiver_stream(rx))
        })
    }
}

/// Translates chunks into events until the stream ends; a stream without a finish reason is an error.
async fn pump(
    response: reqwest::Response,
    tx: tokio::sync::mpsc::Sender<Result<ChatEvent, ProviderError>>,
) {
    let mut events = response.bytes_stream().eventsource();
    let mut started: Vec<bool> = Vec::new();
    // The choices after the first (a request with `n`), by index - 1.
    let mut others: Vec<Sequence> = Vec::new();
    let mut served = false;
    let mut finish: Option<FinishReason> = None;
    let mut usage: Option<Usage> = None;
    while let Some(item) = events.next().await {
        let sse = match item {
            Ok(sse) => sse,
            Err(e) => {
                let _ = tx.send(Err(http::stream_error(e))).await;
                return;
            }
        };
        let data = sse.data.trim();
        if data == "[DONE]" {
            break;
        }
        if data.is_empty() {
            continue;
        }
        let chunk: Chunk = match serde_json::from_str(data) {
            Ok(chunk) => chunk,
            Err(e) => {
                let message = format!("unreadable chunk: {e}");
                let _ = tx.send(Err(ProviderError::BadResponse(message))).await;
                return;
            }
        };
        if let Some(error) = chunk.error {
            let message = error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("error in stream")
                .to_string();
            let _ = tx.send(Err(ProviderError::BadResponse(message))).await;
            return;
        }
        let mut events = Vec::new();
        if !served && let Some(model) = chunk.model.filter(|m| !m.trim().is_empty()) {
            served = true;
            events.push(ChatEvent::Served { model });
        }
        for choice in chunk.choices.iter().filter(|c| c.index > 0) {
            let i = (choice.index - 1) as usize;
            if i >= crate::model::local::MAX_ALTERNATIVES {
                continue;
            }
            if others.len() <= i {
                others.resize_with(i + 1, || Sequence {
                    text: String::new(),
                    finish: None,
                });
            }
            if let Some(text) = choice.delta.content.as_deref() {
                others[i].text.push_str(text);
            }
            if let Some(reason) = choice.finish_reason.as_deref() {
                others[i].finish = Some(finish_reason(reason));
            }
        }
        for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
            if let Some(text) = choice.delta.content.filter(|t| !t.is_empty()) {
                events.push(ChatEvent::Text { text });
            }
            for call in choice.delta.tool_calls {
                if started.len() <= call.index {
                    started.resize(call.index + 1, false);
                }
                let function = call.function.unwrap_or_default();
                if !started[call.index] && (call.id.is_some() || function.name.is_some()) {
                    started[call.index] = true;
                    events.push(ChatEvent::ToolCallStart {
                        index: call.index,
                        id: call.id.unwrap_or_else(|| format!("call_{}", call.index)),
                        name: function.name.unwrap_or_default(),
                    });
                }
                if let Some(delta) = function.arguments.filter(|a| !a.is_empty()) {
                    events.push(ChatEvent::ToolCallArguments {
                        index: call.index,
                        delta,
                    });
                }
            }
            if let Some(reason) = choice.finish_reason {
                finish = Some(finish_reason(&reason));
            }
        }
        if let Some(u) = chunk.usage {
            let cached = u
                .prompt_tokens_details
                .and_then(|d| d.cached_tokens)
                .unwrap_or(0);
            usage = Some(Usage {
                input_tokens: u.prompt_tokens.saturating_sub(cached),
                cached_input_tokens: cached,
                cache_write_tokens: 0,
                output_tokens: u.completion_tokens,
            });
        }
        for event in events {
            if tx.send(Ok(event)).await.is_err() {
                return;
            }
        }
    }
    let end = match finish {
        Some(reason) => {
            for Sequence { text, finish } in others.into_iter().filter(|s| !s.text.is_empty()) {
                let _ = tx.send(Ok(ChatEvent::Alternative { text, finish })).await;
            }
            if let Some(usage) = usage {
                let _ = tx.send(Ok(ChatEvent::Usage { usage })).await;
            }
            Ok(ChatEvent::Finish { reason })
        }
        None => Err(ProviderError::BadResponse(
            "the stream ended before the reply was complete".into(),
        )),
    };
    let _ = tx.send(end).await;
}

/// A choice's `finish_reason` as a [`FinishReason`] (an unknown one is an ordinary stop).
fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "length" => FinishReason::Length,
        "tool_calls" | "function_call" => FinishReason::ToolCalls,
        "content_filter" => FinishReason::ContentFilter,
        _ => FinishReason::Stop,
    }
}

#[derive(Debug, Deserialize)]
struct Chunk {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<ChunkUsage>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct Choice {
    #[serde(default)]
    index: u32,
    #[serde(default)]
    delta: Delta,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Vec<ToolCallChunk>,
}

#[derive(Debug, Deserialize)]
struct ToolCallChunk {
    #[serde(default)]
    index: usize,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<FunctionChunk>,
}

#[derive(Debug, Default, Deserialize)]
struct FunctionChunk {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ChunkUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    #[serde(default)]
    prompt_tokens_details: Option<PromptDetails>,
}

#[derive(Debug, Deserialize)]
struct PromptDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
}
