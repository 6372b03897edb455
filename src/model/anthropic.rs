//! The `anthropic` provider: the native Messages API with SSE, over reqwest.
//!
//! The stable prompt prefix (system prompt and the first `stable_prefix` messages) carries `cache_control`, so
//! repeated planner turns read it from Anthropic's prompt cache. A JSON-schema reply is asked for as a forced
//! `reply` tool call, whose input is streamed back as the reply text.

use std::collections::HashMap;
use std::time::Duration;

use eventsource_stream::Eventsource;
use futures::StreamExt;
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::{Value, json};

use super::chat::ToolChoice;
use super::chat::{
    ChatEvent, ChatModel, ChatRequest, ChatStream, FinishReason, Role, Usage, receiver_stream,
};
use super::error::ProviderError;
use super::http;
use crate::secret::Secret;

/// The Messages API version tandem speaks.
pub const API_VERSION: &str = "2023-06-01";
const REPLY_TOOL: &str = "reply";

/// An Anthropic Messages endpoint.
pub struct AnthropicProvider {
    endpoint: http::Endpoint,
}

impl AnthropicProvider {
    /// A provider for `model` at `base_url` (e.g. `https://api.anthropic.com`).
    pub fn new(
        name: impl Into<String>,
        base_url: impl Into<String>,
        model: impl Into<String>,
        key: Option<Secret>,
        read_timeout: Duration,
    ) -> Result<Self, ProviderError> {
        Ok(AnthropicProvider {
            endpoint: http::Endpoint::new(name, base_url, model, key, read_timeout)?,
        })
    }

    /// The request body for `request`.
    pub fn body(&self, request: &ChatRequest) -> Value {
        let system_text: Vec<&str> = request
            .messages
            .iter()
            .filter(|m| m.role == Role::System)
            .map(|m| m.content.as_str())
            .collect();
        let mut body = json!({
            "model": self.endpoint.model,
            "max_tokens": request.max_tokens,
            "stream": true,
            "messages": messages_json(request),
        });
        if !system_text.is_empty() {
            body["system"] = json!([{
                "type": "text",
                "text": system_text.join("\n\n"),
                "cache_control": {"type": "ephemeral"},
            }]);
        }
        if let Some(t) = request.temperature {
            body["temperature"] = json!(t);
        }
        let mut tools: Vec<Value> = request
            .tools
            .iter()
            .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.parameters}))
            .collect();
        if let Some(schema) = &request.json_schema {
            tools.push(json!({
                "name": REPLY_TOOL,
                "description": "Give your reply as the input of this tool.",
                "input_schema": schema,
            }));
            body["tool_choice"] = json!({"type": "tool", "name": REPLY_TOOL});
        } else if request.tool_choice == ToolChoice::Required && !tools.is_empty() {
            body["tool_choice"] = json!({"type": "any"});
        }
        if !tools.is_empty() {
            body["tools"] = Value::Array(tools);
        }
        body
    }
}

/// User/assistant/tool messages in Anthropic's shape: alternating turns of content blocks, tool results as user
/// blocks, and `cache_control` on the last block of the stable prefix.
fn messages_json(request: &ChatRequest) -> Vec<Value> {
    let mut out: Vec<(String, Vec<Value>)> = Vec::new();
    let stable_end = request.stable_prefix.min(request.messages.len());
    let mut mark_after: Option<(usize, usize)> = None;
    for (i, m) in request.messages.iter().enumerate() {
        let (role, blocks) = match m.role {
            Role::System => continue,
            Role::User => ("user", vec![json!({"type": "text", "text": m.content})]),
            Role::Tool => (
                "user",
                vec![
                    json!({"type": "tool_result", "tool_use_id": m.tool_call_id, "content": m.content}),
                ],
            ),
            Role::Assistant => {
                let mut blocks = Vec::new();
                if !m.content.is_empty() {
                    blocks.push(json!({"type": "text", "text": m.content}));
                }
                for call in &m.tool_calls {
                    let input: Value =
                        serde_json::from_str(&call.arguments).unwrap_or_else(|_| json!({}));
                    blocks.push(json!({"type": "tool_use", "id": call.id, "name": call.name, "input": input}));
                }
                ("assistant", blocks)
            }
        };
        if blocks.is_empty() {
            continue;
        }
        match out.last_mut() {
            Some((last, existing)) if last == role => existing.extend(blocks),
            _ => out.push((role.to_string(), blocks)),
        }
        if i < stable_end {
            let last = out.len() - 1;
            mark_after = Some((last, out[last].1.len() - 1));
        }
    }
    if let Some((msg, block)) = mark_after
        && let Some(b) = out
            .get_mut(msg)
            .and_then(|(_, blocks)| blocks.get_mut(block))
    {
        b["cache_control"] = json!({"type": "ephemeral"});
    }
    out.into_iter()
        .map(|(role, content)| json!({"role": role, "content": content}))
        .collect()
}

impl ChatModel for AnthropicProvider {
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
                .post(format!("{}/v1/messages", self.endpoint.base_url))
                .header("anthropic-version", API_VERSION)
                .json(&self.body(request));
            if let Some(key) = &self.endpoint.key {
                builder = builder.header("x-api-key", key.expose());
            }
            let response = self.endpoint.open(builder).await?;
            let (tx, rx) = tokio::sync::mpsc::channel(64);
            let json_reply = request.json_schema.is_some();
            tokio::spawn(pump(response, tx, json_reply));
            Ok(receiver_stream(rx))
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Event {
    MessageStart {
        message: MessageStart,
    },
    ContentBlockStart {
        index: usize,
        content_block: Block,
    },
    ContentBlockDelta {
        index: usize,
        delta: Delta,
    },
    ContentBlockStop {},
    MessageDelta {
        delta: MessageDeltaBody,
        #[serde(default)]
        usage: Option<WireUsage>,
    },
    MessageStop {},
    Ping {},
    Error {
        error: ErrorBody,
    },
}

#[derive(Debug, Deserialize)]
struct MessageStart {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block {
    Text {},
    ToolUse {
        id: String,
        name: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Delta {
    #[serde(rename = "text_delta")]
    Text { text: String },
    #[serde(rename = "input_json_delta")]
    InputJson { partial_json: String },
    #[serde(other)]
    Other,
}

#[derive(Debug, Deserialize)]
struct MessageDeltaBody {
    #[serde(default)]
    stop_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct WireUsage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    message: String,
}

/// Reads the SSE stream into events; a stream without `message_stop` is an error.
async fn pump(
    response: reqwest::Response,
    tx: tokio::sync::mpsc::Sender<Result<ChatEvent, ProviderError>>,
    json_reply: bool,
) {
    let mut events = response.bytes_stream().eventsource();
    let mut usage = Usage::default();
    let mut stop: Option<FinishReason> = None;
    // Content-block index → tool-call index, and whether the block is the forced JSON reply.
    let mut tools: HashMap<usize, (usize, bool)> = HashMap::new();
    let mut next_tool = 0;
    while let Some(item) = events.next().await {
        let sse = match item {
            Ok(sse) => sse,
            Err(e) => {
                let _ = tx.send(Err(http::stream_error(e))).await;
                return;
            }
        };
        let event: Event = match serde_json::from_str(&sse.data) {
            Ok(e) => e,
            Err(e) if sse.event == "ping" || sse.data.trim().is_empty() => {
                let _ = e;
                continue;
            }
            Err(e) => {
                tracing::debug!(event = %sse.event, error = %e, "skipping an unknown SSE event");
                continue;
            }
        };
        let out: Vec<ChatEvent> = match event {
            Event::MessageStart { message } => {
                if let Some(u) = message.usage {
                    merge_usage(&mut usage, &u);
                }
                message
                    .model
                    .filter(|m| !m.trim().is_empty())
                    .map(|model| ChatEvent::Served { model })
                    .into_iter()
                    .collect()
            }
            Event::ContentBlockStart {
                index,
                content_block: Block::ToolUse { id, name },
            } => {
                if json_reply && name == REPLY_TOOL {
                    tools.insert(index, (usize::MAX, true));
                    Vec::new()
                } else {
                    tools.insert(index, (next_tool, false));
                    next_tool += 1;
                    vec![ChatEvent::ToolCallStart {
                        index: next_tool - 1,
                        id,
                        name,
                    }]
                }
            }
            Event::ContentBlockStart { .. } | Event::ContentBlockStop {} | Event::Ping {} => {
                Vec::new()
            }
            Event::ContentBlockDelta {
                delta: Delta::Text { text },
                ..
            } => vec![ChatEvent::Text { text }],
            Event::ContentBlockDelta {
                index,
                delta: Delta::InputJson { partial_json },
            } => match tools.get(&index) {
                Some((_, true)) => vec![ChatEvent::Text { text: partial_json }],
                Some((tool, false)) => vec![ChatEvent::ToolCallArguments {
                    index: *tool,
                    delta: partial_json,
                }],
                None => Vec::new(),
            },
            Event::ContentBlockDelta { .. } => Vec::new(),
            Event::MessageDelta { delta, usage: u } => {
                if let Some(u) = u {
                    merge_usage(&mut usage, &u);
                }
                stop = delta.stop_reason.map(|r| match r.as_str() {
                    "max_tokens" => FinishReason::Length,
                    "tool_use" if !json_reply => FinishReason::ToolCalls,
                    "refusal" => FinishReason::ContentFilter,
                    _ => FinishReason::Stop,
                });
                Vec::new()
            }
            Event::MessageStop {} => {
                let _ = tx.send(Ok(ChatEvent::Usage { usage })).await;
                let _ = tx
                    .send(Ok(ChatEvent::Finish {
                        reason: stop.unwrap_or(FinishReason::Stop),
                    }))
                    .await;
                return;
            }
            Event::Error { error } => {
                let e = match error.kind.as_str() {
                    "overloaded_error" => ProviderError::Overloaded { retry_after: None },
                    "rate_limit_error" => ProviderError::RateLimited {
                        retry_after: None,
                        reset_at: None,
                    },
                    "api_error" => ProviderError::Server(500),
                    "authentication_error" | "permission_error" => {
                        ProviderError::Auth(format!("{}: {}", error.kind, error.message))
                    }
                    _ => ProviderError::BadResponse(format!("{}: {}", error.kind, error.message)),
                };
                let _ = tx.send(Err(e)).await;
                return;
            }
        };
        for e in out {
            if tx.send(Ok(e)).await.is_err() {
                return;
            }
        }
    }
    let _ = tx
        .send(Err(ProviderError::BadResponse(
            "the stream ended before the reply was complete".into(),
        )))
        .await;
}

fn merge_usage(usage: &mut Usage, u: &WireUsage) {
    if let Some(n) = u.input_tokens {
        usage.input_tokens = n;
    }
    if let Some(n) = u.cache_read_input_tokens {
        usage.cached_input_tokens = n;
    }
    if let Some(n) = u.cache_creation_input_tokens {
        usage.cache_write_tokens = n;
    }
    if let Some(n) = u.output_tokens {
        usage.output_tokens = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ChatMessage, ToolCall};
    use pretty_assertions::assert_eq;

    #[test]
    fn messages_alternate_and_the_stable_prefix_is_marked() {
        let mut assistant = ChatMessage::assistant("let me look");
        assistant.tool_calls = vec![ToolCall {
            id: "t1".into(),
            name: "read_file".into(),
            arguments: r#"{"path":"a.rs"}"#.into(),
        }];
        let request = ChatRequest {
            messages: vec![
                ChatMessage::system("sys"),
                ChatMessage::user("repo map"),
                ChatMessage::user("task"),
                assistant,
                ChatMessage::tool_result("t1", "fn main() {}"),
            ],
            stable_prefix: 2,
            ..ChatRequest::default()
        };
        assert_eq!(
            Value::Array(messages_json(&request)),
            json!([
                {"role": "user", "content": [
                    {"type": "text", "text": "repo map", "cache_control": {"type": "ephemeral"}},
                    {"type": "text", "text": "task"}]},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "let me look"},
                    {"type": "tool_use", "id": "t1", "name": "read_file", "input": {"path": "a.rs"}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "fn main() {}"}]}
            ])
        );
    }
}
