//! Builders for the SSE frames of both wire protocols, as the real APIs send them.

use serde_json::{Value, json};

/// The model name the builders put in frames; the mock server replaces it with the requested model.
pub const MOCK_MODEL: &str = "mock-model";

/// The frames as a server serving `model` sends them (whatever model was asked for).
pub fn served_as(model: &str, frames: Vec<String>) -> Vec<String> {
    let from = format!("\"model\":\"{MOCK_MODEL}\"");
    let to = format!("\"model\":{}", json!(model));
    frames.into_iter().map(|f| f.replace(&from, &to)).collect()
}

/// OpenAI chat-completions chunks.
pub mod openai {
    use super::*;

    fn chunk(delta: Value, finish: Option<&str>) -> String {
        let body = json!({
            "id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1_763_700_000, "model": "mock-model",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
        });
        format!("data: {body}\n\n")
    }

    /// A text delta.
    pub fn text(t: &str) -> String {
        chunk(json!({"role": "assistant", "content": t}), None)
    }

    /// The first chunk of a tool call.
    pub fn tool_call_start(index: usize, id: &str, name: &str) -> String {
        chunk(
            json!({"tool_calls": [{"index": index, "id": id, "type": "function", "function": {"name": name, "arguments": ""}}]}),
            None,
        )
    }

    /// More of a tool call's arguments.
    pub fn tool_call_args(index: usize, args: &str) -> String {
        chunk(
            json!({"tool_calls": [{"index": index, "function": {"arguments": args}}]}),
            None,
        )
    }

    /// The chunk with the finish reason.
    pub fn finish(reason: &str) -> String {
        chunk(json!({}), Some(reason))
    }

    /// The usage chunk (stream_options.include_usage).
    pub fn usage(prompt: u64, cached: u64, completion: u64) -> String {
        let body = json!({
            "id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1_763_700_000, "model": "mock-model",
            "choices": [],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
                      "prompt_tokens_details": {"cached_tokens": cached}}
        });
        format!("data: {body}\n\n")
    }

    /// The end marker.
    pub fn done() -> String {
        "data: [DONE]\n\n".into()
    }

    /// A whole tool-call reply: the call (its arguments in two pieces), tool_calls, usage, [DONE].
    pub fn tool_reply(id: &str, name: &str, arguments: serde_json::Value) -> Vec<String> {
        let args = arguments.to_string();
        let mid = args
            .char_indices()
            .nth(args.chars().count() / 2)
            .map_or(0, |(i, _)| i);
        vec![
            tool_call_start(0, id, name),
            tool_call_args(0, &args[..mid]),
            tool_call_args(0, &args[mid..]),
            finish("tool_calls"),
            usage(500, 0, 40),
            done(),
        ]
    }

    /// A reply to a request with `n` = `texts.len()`: the choices' deltas interleaved, each with its index,
    /// each choice's stop, usage, [DONE].
    pub fn choices(texts: &[&str]) -> Vec<String> {
        let ending: Vec<(&str, &str)> = texts.iter().map(|t| (*t, "stop")).collect();
        choices_ending(&ending)
    }

    /// As [`choices`], each choice with its own `finish_reason` (`"length"`: cut off by its token budget).
    pub fn choices_ending(replies: &[(&str, &str)]) -> Vec<String> {
        let texts: Vec<&str> = replies.iter().map(|(t, _)| *t).collect();
        let frame = |index: usize, delta: Value, finish: Option<&str>| {
            let body = json!({
                "id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1_763_700_000, "model": "mock-model",
                "choices": [{"index": index, "delta": delta, "finish_reason": finish}]
            });
            format!("data: {body}\n\n")
        };
        let pieces: Vec<Vec<&str>> = texts
            .iter()
            .map(|t| t.split_inclusive('\n').collect())
            .collect();
        let longest = pieces.iter().map(Vec::len).max().unwrap_or(0);
        let mut frames = Vec::new();
        for k in 0..longest {
            for (index, parts) in pieces.iter().enumerate() {
                if let Some(part) = parts.get(k) {
                    frames.push(frame(
                        index,
                        json!({"role": "assistant", "content": part}),
                        None,
                    ));
                }
            }
        }
        for (index, (_, finish)) in replies.iter().enumerate() {
            frames.push(frame(index, json!({}), Some(finish)));
        }
        frames.push(usage(500, 0, 40));
        frames.push(done());
        frames
    }

    /// A whole text reply: the text in pieces, stop, usage, [DONE].
    pub fn reply(text: &str, prompt: u64, cached: u64, completion: u64) -> Vec<String> {
        let mut frames: Vec<String> = text.split_inclusive(' ').map(self::text).collect();
        frames.push(finish("stop"));
        frames.push(usage(prompt, cached, completion));
        frames.push(done());
        frames
    }
}

/// Anthropic messages events.
pub mod anthropic {
    use super::*;

    fn event(name: &str, data: Value) -> String {
        format!("event: {name}\ndata: {data}\n\n")
    }

    /// `message_start` with input usage.
    pub fn message_start(input: u64, cache_read: u64, cache_write: u64) -> String {
        event(
            "message_start",
            json!({"type": "message_start", "message": {
            "id": "msg_mock", "type": "message", "role": "assistant", "model": "mock-model", "content": [],
            "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": input, "cache_read_input_tokens": cache_read,
                      "cache_creation_input_tokens": cache_write, "output_tokens": 1}}}),
        )
    }

    /// A text block at `index`, streamed in `parts`.
    pub fn text_block(index: usize, parts: &[&str]) -> Vec<String> {
        let mut out = vec![event(
            "content_block_start",
            json!({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}),
        )];
        for p in parts {
            out.push(event("content_block_delta", json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": p}})));
        }
        out.push(event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        ));
        out
    }

    /// A tool_use block at `index`, its input JSON streamed in `parts`.
    pub fn tool_use(index: usize, id: &str, name: &str, parts: &[&str]) -> Vec<String> {
        let mut out = vec![event(
            "content_block_start",
            json!({"type": "content_block_start", "index": index,
            "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}}),
        )];
        for p in parts {
            out.push(event("content_block_delta", json!({"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": p}})));
        }
        out.push(event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        ));
        out
    }

    /// `message_delta` with the stop reason and the output token count.
    pub fn message_delta(stop: &str, output: u64) -> String {
        event(
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": {"output_tokens": output}}),
        )
    }

    /// `message_stop`.
    pub fn message_stop() -> String {
        event("message_stop", json!({"type": "message_stop"}))
    }

    /// A keep-alive.
    pub fn ping() -> String {
        event("ping", json!({"type": "ping"}))
    }

    /// An error event mid-stream.
    pub fn error(kind: &str, message: &str) -> String {
        event(
            "error",
            json!({"type": "error", "error": {"type": kind, "message": message}}),
        )
    }

    /// A whole text reply.
    pub fn reply(
        text: &str,
        input: u64,
        cache_read: u64,
        cache_write: u64,
        output: u64,
    ) -> Vec<String> {
        let mut frames = vec![message_start(input, cache_read, cache_write), ping()];
        frames.extend(text_block(
            0,
            &text.split_inclusive(' ').collect::<Vec<_>>(),
        ));
        frames.push(message_delta("end_turn", output));
        frames.push(message_stop());
        frames
    }
}
