//! Models: the chat types every provider shares, the providers, and the local llama.cpp engine.

pub mod anthropic;
pub mod catalog;
mod chat;
mod error;
mod http;
pub mod local;
pub mod local_provider;
pub mod openai;

pub use chat::{
    ChatEvent, ChatMessage, ChatModel, ChatRequest, ChatResponse, ChatStream, FinishReason, Role,
    Sequence, ToolCall, ToolChoice, ToolSpec, Usage, collect,
};
pub use error::ProviderError;
