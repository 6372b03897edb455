//! The provider-neutral chat protocol: messages, tools, streamed events, usage, and the `ChatModel` trait.

use std::pin::Pin;

use futures::future::BoxFuture;
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};

use super::error::ProviderError;

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions that frame the conversation.
    System,
    /// The person (or the agent speaking for them).
    User,
    /// The model.
    Assistant,
    /// A tool's result, answering an assistant's tool call.
    Tool,
}

impl Role {
    /// The role's name as chat templates and APIs spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }
}

/// A tool call made by the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The provider's id for the call (tool results refer to it).
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments as JSON text.
    pub arguments: String,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// The speaker.
    pub role: Role,
    /// The text.
    pub content: String,
    /// Tool calls (assistant messages only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// The call this message answers (tool messages only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// The reply exactly as a local model generated it (assistant messages only): rendered back as it was, so the
    /// next prompt's tokens match what that model's KV cache already holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verbatim: Option<String>,
}

impl ChatMessage {
    fn new(role: Role, content: impl Into<String>) -> Self {
        ChatMessage {
            role,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
            verbatim: None,
        }
    }

    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self::new(Role::System, content)
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::new(Role::User, content)
    }

    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new(Role::Assistant, content)
    }

    /// A tool result answering call `id`.
    pub fn tool_result(id: impl Into<String>, content: impl Into<String>) -> Self {
        ChatMessage {
            tool_call_id: Some(id.into()),
            ..Self::new(Role::Tool, content)
        }
    }
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// Its name.
    pub name: String,
    /// What it does, for the model.
    pub description: String,
    /// JSON schema of its arguments.
    pub parameters: serde_json::Value,
}

/// Whether the model must call a tool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolChoice {
    /// It may answer in text instead.
    #[default]
    Auto,
    /// Every reply is a tool call.
    Required,
}

/// One request to a chat model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The conversation, stable parts first.
    pub messages: Vec<ChatMessage>,
    /// Tools the model may call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolSpec>,
    /// Whether it must call one.
    #[serde(default)]
    pub tool_choice: ToolChoice,
    /// Most tokens to generate.
    pub max_tokens: u32,
    /// Sampling temperature; `None` is the provider's default.
    pub temperature: Option<f32>,
    /// Nucleus mass to sample from; `None` is the provider's default. A local engine takes it in place of its
    /// configured top-p and min-p cut; OpenAI-compatible servers get it as `top_p`; Anthropic's API does not
    /// (its newer models refuse it beside a temperature).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    /// The reply must be JSON matching this schema.
    pub json_schema: Option<serde_json::Value>,
    /// The reply must follow this GBNF grammar (root rule `root`); a local engine enforces it, a remote
    /// provider ignores it, so the caller parses the reply leniently either way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grammar: Option<String>,
    /// How many leading messages stay the same across turns (providers cache that prefix).
    pub stable_prefix: usize,
    /// Workspace files whose content is in the messages (the router checks them against sensitive paths).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    /// More replies to sample beside the first, hotter, for the caller to choose among: a local engine decodes
    /// them in the same batches (one pass over the weights serves all), an OpenAI-compatible server is asked
    /// for them with `n`, Anthropic's API ignores it; the router drops it on the way to a cloud link.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub alternatives: u32,
    /// How many leading messages the alternatives are sampled from (`None`: all): fewer makes them fresh
    /// answers to an earlier turn instead of revisions anchored to the replies after it. A provider that
    /// cannot give each reply its own prompt leaves such alternatives out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alternative_messages: Option<usize>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

pub use crate::protocol::Usage;

/// Why a reply ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// The model finished.
    Stop,
    /// The token limit was reached.
    Length,
    /// The model called tools.
    ToolCalls,
    /// The provider filtered the output.
    ContentFilter,
    /// Cancelled by the caller.
    Cancelled,
}

/// A streamed piece of a reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ChatEvent {
    /// More reply text.
    Text {
        /// The new text.
        text: String,
    },
    /// A tool call begins.
    ToolCallStart {
        /// Its position among this reply's calls.
        index: usize,
        /// The provider's id.
        id: String,
        /// The tool.
        name: String,
    },
    /// More of a tool call's JSON arguments.
    ToolCallArguments {
        /// The call's position.
        index: usize,
        /// The new argument text.
        delta: String,
    },
    /// Another whole reply to the same request, sampled beside this one (see [`ChatRequest::alternatives`];
    /// sent before `Finish`).
    Alternative {
        /// Its text.
        text: String,
        /// Why it ended (`None`: the provider did not say).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        finish: Option<FinishReason>,
    },
    /// The whole reply as the model generated it (local models only; sent once, before `Finish`).
    Verbatim {
        /// The generated text.
        text: String,
    },
    /// The model that actually served the reply, as the server named it.
    Served {
        /// The model's name.
        model: String,
    },
    /// Token usage (sent once, near the end).
    Usage {
        /// The counts.
        usage: Usage,
    },
    /// The reply is complete.
    Finish {
        /// Why it ended.
        reason: FinishReason,
    },
}

/// A stream of reply events; it ends after `Finish`, or with an error.
pub type ChatStream = Pin<Box<dyn Stream<Item = Result<ChatEvent, ProviderError>> + Send>>;

/// A whole reply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    /// The reply text.
    pub text: String,
    /// Tool calls, complete.
    pub tool_calls: Vec<ToolCall>,
    /// Tokens used.
    pub usage: Usage,
    /// Why it ended (`None` only for a stream that broke off).
    pub finish: Option<FinishReason>,
    /// The reply as a local model generated it, where it differs from what `text` and `tool_calls` render to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verbatim: Option<String>,
    /// The model the server says served the reply (`None`: it did not say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Other replies sampled beside this one, where the request asked for them and the provider could: the
    /// reply's sequences 1 and on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alternatives: Vec<Sequence>,
}

/// One of the replies a request was answered with: the main reply is sequence 0, those sampled beside it follow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sequence {
    /// Its text.
    pub text: String,
    /// Why it ended (`None`: the provider did not say, or a stream broke off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish: Option<FinishReason>,
}

impl Sequence {
    /// Whether it ended on its own, rather than being cut off (by its token budget, a cancel, a filter) or ending
    /// without saying why.
    pub fn complete(&self) -> bool {
        matches!(
            self.finish,
            Some(FinishReason::Stop | FinishReason::ToolCalls)
        )
    }
}

impl ChatResponse {
    /// Every reply to the request, in order: the main one (sequence 0), then the alternatives.
    pub fn sequences(&self) -> Vec<Sequence> {
        std::iter::once(Sequence {
            text: self.text.clone(),
            finish: self.finish,
        })
        .chain(self.alternatives.iter().cloned())
        .collect()
    }

    /// Applies one streamed event.
    pub fn apply(&mut self, event: &ChatEvent) {
        match event {
            ChatEvent::Text { text } => self.text.push_str(text),
            ChatEvent::ToolCallStart { index, id, name } => {
                if self.tool_calls.len() <= *index {
                    self.tool_calls.resize_with(index + 1, || ToolCall {
                        id: String::new(),
                        name: String::new(),
                        arguments: String::new(),
                    });
                }
                self.tool_calls[*index].id.clone_from(id);
                self.tool_calls[*index].name.clone_from(name);
            }
            ChatEvent::ToolCallArguments { index, delta } => {
                if let Some(call) = self.tool_calls.get_mut(*index) {
                    call.arguments.push_str(delta);
                }
            }
            ChatEvent::Verbatim { text } => self.verbatim = Some(text.clone()),
            ChatEvent::Alternative { text, finish } => self.alternatives.push(Sequence {
                text: text.clone(),
                finish: *finish,
            }),
            ChatEvent::Served { model } => self.model = Some(model.clone()),
            ChatEvent::Usage { usage } => self.usage = *usage,
            ChatEvent::Finish { reason } => self.finish = Some(*reason),
        }
    }
}

/// A chat model: a cloud API or the local engine.
pub trait ChatModel: Send + Sync {
    /// The provider's name in config (`openai`, `anthropic`, `local`, …).
    fn provider(&self) -> &str;
    /// The model's name.
    fn model(&self) -> &str;
    /// Whether requests stay on this machine.
    fn is_local(&self) -> bool;
    /// Starts a request; errors before the first event (HTTP status, connection) come back here.
    fn stream<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatStream, ProviderError>>;
}

/// Reads a stream to its end; a stream that stops before `Finish` is a `BadResponse`.
pub async fn collect(
    mut stream: ChatStream,
    mut on_event: impl FnMut(&ChatEvent),
) -> Result<ChatResponse, ProviderError> {
    let mut response = ChatResponse::default();
    while let Some(event) = stream.next().await {
        let event = event?;
        on_event(&event);
        response.apply(&event);
    }
    if response.finish.is_none() {
        return Err(ProviderError::BadResponse(
            "the stream ended before the reply was complete".into(),
        ));
    }
    Ok(response)
}

/// A [`ChatStream`] over a channel that a provider's reader task fills; dropping it stops the task.
pub fn receiver_stream(
    rx: tokio::sync::mpsc::Receiver<Result<ChatEvent, ProviderError>>,
) -> ChatStream {
    Box::pin(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn events_assemble_into_a_response() {
        let mut r = ChatResponse::default();
        for e in [
            ChatEvent::Text { text: "Hel".into() },
            ChatEvent::Text { text: "lo".into() },
            ChatEvent::ToolCallStart {
                index: 0,
                id: "c1".into(),
                name: "read_file".into(),
            },
            ChatEvent::ToolCallArguments {
                index: 0,
                delta: "{\"path\":".into(),
            },
            ChatEvent::ToolCallArguments {
                index: 0,
                delta: "\"a.rs\"}".into(),
            },
            ChatEvent::Usage {
                usage: Usage {
                    input_tokens: 5,
                    output_tokens: 2,
                    ..Usage::default()
                },
            },
            ChatEvent::Finish {
                reason: FinishReason::ToolCalls,
            },
        ] {
            r.apply(&e);
        }
        assert_eq!(
            r,
            ChatResponse {
                text: "Hello".into(),
                tool_calls: vec![ToolCall {
                    id: "c1".into(),
                    name: "read_file".into(),
                    arguments: "{\"path\":\"a.rs\"}".into()
                }],
                usage: Usage {
                    input_tokens: 5,
                    output_tokens: 2,
                    ..Usage::default()
                },
                finish: Some(FinishReason::ToolCalls),
                verbatim: None,
                model: None,
                alternatives: Vec::new(),
            }
        );
    }
}
