//! The cloud providers against the loopback server: streaming text, tool calls and usage in both wire
//! protocols, the requests they send, and each failure typed the way the router needs.

use std::time::{Duration, SystemTime};

use pretty_assertions::assert_eq;
use serde_json::json;
use tandem::model::anthropic::AnthropicProvider;
use tandem::model::openai::OpenAiProvider;
use tandem::model::{
    ChatMessage, ChatModel, ChatRequest, ChatResponse, FinishReason, ProviderError, ToolCall,
    ToolSpec, Usage, collect,
};
use tandem::secret::Secret;

use super::mock::{MockServer, Reply, sse};

const KEY: &str = "sk-test-0123456789abcdefghij";

fn openai(server: &MockServer) -> OpenAiProvider {
    OpenAiProvider::new(
        "openai",
        format!("{}/v1", server.url),
        "gpt-5.1",
        Some(Secret::new(KEY)),
        Duration::from_secs(2),
    )
    .unwrap()
}

fn anthropic(server: &MockServer) -> AnthropicProvider {
    AnthropicProvider::new(
        "anthropic",
        &server.url,
        "claude-sonnet-4-5",
        Some(Secret::new(KEY)),
        Duration::from_secs(2),
    )
    .unwrap()
}

fn request() -> ChatRequest {
    ChatRequest {
        messages: vec![
            ChatMessage::system("You plan."),
            ChatMessage::user("repo map"),
            ChatMessage::user("Fix the bug."),
        ],
        tools: vec![ToolSpec {
            name: "read_file".into(),
            description: "Read a file".into(),
            parameters: json!({"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}),
        }],
        max_tokens: 256,
        stable_prefix: 2,
        ..ChatRequest::default()
    }
}

async fn run(model: &dyn ChatModel, request: &ChatRequest) -> Result<ChatResponse, ProviderError> {
    let stream = model.stream(request).await?;
    collect(stream, |_| {}).await
}

#[tokio::test]
async fn openai_streams_text_tool_calls_and_usage() {
    let server = MockServer::start();
    server.push([Reply::Sse(vec![
        sse::openai::text("Let me "),
        sse::openai::text("look."),
        sse::openai::tool_call_start(0, "call_1", "read_file"),
        sse::openai::tool_call_args(0, "{\"path\":"),
        sse::openai::tool_call_args(0, "\"src/lib.rs\"}"),
        sse::openai::finish("tool_calls"),
        sse::openai::usage(1200, 1000, 35),
        sse::openai::done(),
    ])]);
    let response = run(&openai(&server), &request()).await.unwrap();
    assert_eq!(
        response,
        ChatResponse {
            text: "Let me look.".into(),
            tool_calls: vec![ToolCall {
                id: "call_1".into(),
                name: "read_file".into(),
                arguments: r#"{"path":"src/lib.rs"}"#.into()
            }],
            usage: Usage {
                input_tokens: 200,
                cached_input_tokens: 1000,
                cache_write_tokens: 0,
                output_tokens: 35
            },
            finish: Some(FinishReason::ToolCalls),
            verbatim: None,
            model: Some("gpt-5.1".into()),
            alternatives: Vec::new(),
        }
    );
    let sent = &server.requests()[0];
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(sent.headers["authorization"], format!("Bearer {KEY}"));
    let body = sent.json();
    assert_eq!(body["model"], "gpt-5.1");
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
    assert_eq!(body["max_tokens"], 256, "compatible servers get max_tokens");
    assert_eq!(
        body["messages"][2],
        json!({"role": "user", "content": "Fix the bug."})
    );
    assert_eq!(body["tools"][0]["function"]["name"], "read_file");
}

#[tokio::test]
async fn openai_sends_tool_results_and_a_json_schema() {
    let server = MockServer::start();
    server.push([Reply::Sse(sse::openai::reply("{\"ok\": true}", 10, 0, 5))]);
    let mut r = request();
    let mut call = ChatMessage::assistant("");
    call.tool_calls = vec![ToolCall {
        id: "call_1".into(),
        name: "read_file".into(),
        arguments: "{}".into(),
    }];
    r.messages.push(call);
    r.messages
        .push(ChatMessage::tool_result("call_1", "fn main() {}"));
    r.json_schema = Some(json!({"type": "object"}));
    let response = run(&openai(&server), &r).await.unwrap();
    assert_eq!(response.text, "{\"ok\": true}");
    let body = server.requests()[0].json();
    assert_eq!(body["messages"][3]["tool_calls"][0]["id"], "call_1");
    assert_eq!(body["messages"][3]["content"], serde_json::Value::Null);
    assert_eq!(
        body["messages"][4],
        json!({"role": "tool", "tool_call_id": "call_1", "content": "fn main() {}"})
    );
    assert_eq!(body["response_format"]["type"], "json_schema");
}

#[tokio::test]
async fn anthropic_streams_text_tool_use_and_cache_usage() {
    let server = MockServer::start();
    let mut frames = vec![
        sse::anthropic::message_start(40, 1800, 300),
        sse::anthropic::ping(),
    ];
    frames.extend(sse::anthropic::text_block(0, &["Reading ", "it."]));
    frames.extend(sse::anthropic::tool_use(
        1,
        "toolu_1",
        "read_file",
        &["{\"pa", "th\": \"a.rs\"}"],
    ));
    frames.push(sse::anthropic::message_delta("tool_use", 52));
    frames.push(sse::anthropic::message_stop());
    server.push([Reply::Sse(frames)]);
    let response = run(&anthropic(&server), &request()).await.unwrap();
    assert_eq!(
        response,
        ChatResponse {
            text: "Reading it.".into(),
            tool_calls: vec![ToolCall {
                id: "toolu_1".into(),
                name: "read_file".into(),
                arguments: "{\"path\": \"a.rs\"}".into()
            }],
            usage: Usage {
                input_tokens: 40,
                cached_input_tokens: 1800,
                cache_write_tokens: 300,
                output_tokens: 52
            },
            finish: Some(FinishReason::ToolCalls),
            verbatim: None,
            model: Some("claude-sonnet-4-5".into()),
            alternatives: Vec::new(),
        }
    );
    let sent = &server.requests()[0];
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.headers["x-api-key"], KEY);
    assert_eq!(sent.headers["anthropic-version"], "2023-06-01");
    assert!(!sent.headers.contains_key("authorization"));
    let body = sent.json();
    assert_eq!(body["system"][0]["text"], "You plan.");
    assert_eq!(
        body["system"][0]["cache_control"],
        json!({"type": "ephemeral"})
    );
    // The stable prefix (system + repo map) ends with a cache breakpoint; the task after it has none.
    assert_eq!(
        body["messages"][0]["content"][0]["cache_control"],
        json!({"type": "ephemeral"})
    );
    assert!(
        body["messages"][0]["content"][1]
            .get("cache_control")
            .is_none()
    );
    assert_eq!(
        body["tools"][0]["input_schema"]["required"],
        json!(["path"])
    );
}

#[tokio::test]
async fn anthropic_json_replies_come_from_a_forced_tool() {
    let server = MockServer::start();
    let mut frames = vec![sse::anthropic::message_start(10, 0, 0)];
    frames.extend(sse::anthropic::tool_use(
        0,
        "toolu_9",
        "reply",
        &["{\"summary\": ", "\"x\"}"],
    ));
    frames.push(sse::anthropic::message_delta("tool_use", 9));
    frames.push(sse::anthropic::message_stop());
    server.push([Reply::Sse(frames)]);
    let r = ChatRequest {
        json_schema: Some(json!({"type": "object"})),
        tools: vec![],
        ..request()
    };
    let response = run(&anthropic(&server), &r).await.unwrap();
    assert_eq!(response.text, "{\"summary\": \"x\"}");
    assert!(response.tool_calls.is_empty());
    assert_eq!(response.finish, Some(FinishReason::Stop));
    assert_eq!(
        server.requests()[0].json()["tool_choice"],
        json!({"type": "tool", "name": "reply"})
    );
}

#[tokio::test]
async fn rate_limits_carry_retry_after_and_reset_headers() {
    let server = MockServer::start();
    server.push([
        Reply::error(
            429,
            &[
                ("retry-after", "2"),
                ("x-ratelimit-remaining-requests", "0"),
                ("x-ratelimit-reset-requests", "20s"),
            ],
            "Rate limit reached",
        ),
        Reply::error(429, &[("retry-after-ms", "1500")], "slow down"),
    ]);
    let err = run(&openai(&server), &request()).await.unwrap_err();
    match err {
        ProviderError::RateLimited {
            retry_after,
            reset_at,
        } => {
            assert_eq!(retry_after, Some(Duration::from_secs(2)));
            let secs = reset_at
                .unwrap()
                .duration_since(SystemTime::now())
                .unwrap()
                .as_secs_f64();
            assert!((18.0..=20.0).contains(&secs), "{secs}");
        }
        other => panic!("{other:?}"),
    }
    let err = run(&openai(&server), &request()).await.unwrap_err();
    assert_eq!(
        err,
        ProviderError::RateLimited {
            retry_after: Some(Duration::from_millis(1500)),
            reset_at: None
        }
    );

    let reset = time::OffsetDateTime::now_utc() + time::Duration::seconds(30);
    let stamp = reset
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    server.push([Reply::error(
        429,
        &[
            ("anthropic-ratelimit-requests-remaining", "0"),
            ("anthropic-ratelimit-requests-reset", &stamp),
        ],
        "rate_limit_error",
    )]);
    match run(&anthropic(&server), &request()).await.unwrap_err() {
        ProviderError::RateLimited {
            retry_after: None,
            reset_at: Some(at),
        } => {
            let secs = at.duration_since(SystemTime::now()).unwrap().as_secs_f64();
            assert!((28.0..=30.0).contains(&secs), "{secs}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn server_errors_overload_and_a_wrong_key_are_typed() {
    let server = MockServer::start();
    server.push([
        Reply::error(503, &[], "upstream unavailable"),
        Reply::error(502, &[], "bad gateway"),
        Reply::error(401, &[], "Incorrect API key provided: sk-wrong"),
        Reply::error(
            400,
            &[],
            "This model's maximum context length is 128000 tokens",
        ),
    ]);
    let p = openai(&server);
    assert_eq!(
        run(&p, &request()).await.unwrap_err(),
        ProviderError::Overloaded { retry_after: None }
    );
    assert_eq!(
        run(&p, &request()).await.unwrap_err(),
        ProviderError::Server(502)
    );
    let auth = run(&p, &request()).await.unwrap_err();
    assert!(
        matches!(&auth, ProviderError::Auth(m) if m.contains("Incorrect API key")),
        "{auth:?}"
    );
    assert!(
        auth.to_string()
            .starts_with("authentication failed: HTTP 401"),
        "{auth}"
    );
    assert!(matches!(
        run(&p, &request()).await.unwrap_err(),
        ProviderError::ContextLengthExceeded(_)
    ));

    server.push([Reply::error(529, &[], "Overloaded")]);
    assert_eq!(
        run(&anthropic(&server), &request()).await.unwrap_err(),
        ProviderError::Overloaded { retry_after: None }
    );
    server.push([Reply::Sse(vec![
        sse::anthropic::message_start(1, 0, 0),
        sse::anthropic::error("overloaded_error", "Overloaded"),
    ])]);
    assert_eq!(
        run(&anthropic(&server), &request()).await.unwrap_err(),
        ProviderError::Overloaded { retry_after: None }
    );
}

#[tokio::test]
async fn error_bodies_with_numeric_codes_are_typed_as_llama_server_and_litellm_send_them() {
    // Seen against llama-server: a prompt over a slot's context comes back as 400 with `"code": 400` (a number,
    // where OpenAI sends a string) and its own wording; it must not read as a broken stream.
    let server = MockServer::start();
    let body = |code: u16, message: &str, kind: &str| Reply::Status {
        status: code,
        headers: vec![],
        body: json!({"error": {"code": code, "message": message, "type": kind}}).to_string(),
    };
    server.push([
        body(
            400,
            "request (4126 tokens) exceeds the available context size (4096 tokens), try increasing it",
            "exceed_context_size_error",
        ),
        body(401, "Authentication Error, Invalid proxy server token passed", "auth_error"),
        body(500, "internal error", "server_error"),
    ]);
    let p = openai(&server);
    let overflow = run(&p, &request()).await.unwrap_err();
    assert!(
        matches!(&overflow, ProviderError::ContextLengthExceeded(m) if m.contains("4096 tokens")),
        "{overflow:?}"
    );
    let auth = run(&p, &request()).await.unwrap_err();
    assert!(
        matches!(&auth, ProviderError::Auth(m) if m.contains("Invalid proxy server token")),
        "{auth:?}"
    );
    assert_eq!(
        run(&p, &request()).await.unwrap_err(),
        ProviderError::Server(500)
    );
}

#[tokio::test]
async fn a_stalled_server_times_out() {
    let server = MockServer::start();
    server.push([
        Reply::Stall(Duration::from_secs(5)),
        Reply::Stall(Duration::from_secs(5)),
    ]);
    assert_eq!(
        run(&openai(&server), &request()).await.unwrap_err(),
        ProviderError::Timeout
    );
    assert_eq!(
        run(&anthropic(&server), &request()).await.unwrap_err(),
        ProviderError::Timeout
    );
}

#[tokio::test]
async fn streams_cut_mid_way_are_bad_responses() {
    let server = MockServer::start();
    let partial = vec![sse::openai::text("Half a "), sse::openai::text("reply")];
    server.push([Reply::SseCut(partial.clone()), Reply::Sse(partial)]);
    for _ in 0..2 {
        let err = run(&openai(&server), &request()).await.unwrap_err();
        assert!(matches!(err, ProviderError::BadResponse(_)), "{err:?}");
    }
    let mut frames = vec![sse::anthropic::message_start(5, 0, 0)];
    frames.extend(sse::anthropic::text_block(0, &["cut here"]));
    server.push([Reply::SseCut(frames.clone()), Reply::Sse(frames)]);
    for _ in 0..2 {
        let err = run(&anthropic(&server), &request()).await.unwrap_err();
        assert!(matches!(err, ProviderError::BadResponse(_)), "{err:?}");
    }
}

#[tokio::test]
async fn a_stream_that_stalls_mid_way_times_out() {
    let server = MockServer::start();
    let pause = Duration::from_secs(5);
    server.push([Reply::SseStall(vec![sse::openai::text("Half a ")], pause)]);
    assert_eq!(
        run(&openai(&server), &request()).await.unwrap_err(),
        ProviderError::Timeout
    );
    let mut frames = vec![sse::anthropic::message_start(5, 0, 0)];
    frames.extend(sse::anthropic::text_block(0, &["stalls here"]));
    server.push([Reply::SseStall(frames, pause)]);
    assert_eq!(
        run(&anthropic(&server), &request()).await.unwrap_err(),
        ProviderError::Timeout
    );
}

#[tokio::test]
async fn an_error_in_the_stream_or_an_unreadable_chunk_is_a_bad_response() {
    let server = MockServer::start();
    server.push([
        Reply::Sse(vec![
            sse::openai::text("Half a "),
            "data: {\"error\": {\"message\": \"upstream overloaded\", \"code\": 502}}\n\n".into(),
        ]),
        Reply::Sse(vec![
            sse::openai::text("Half a "),
            "data: {not json\n\n".into(),
        ]),
    ]);
    let err = run(&openai(&server), &request()).await.unwrap_err();
    assert!(
        matches!(&err, ProviderError::BadResponse(m) if m == "upstream overloaded"),
        "{err:?}"
    );
    let err = run(&openai(&server), &request()).await.unwrap_err();
    assert!(
        matches!(&err, ProviderError::BadResponse(m) if m.starts_with("unreadable chunk")),
        "{err:?}"
    );
}

#[tokio::test]
async fn nothing_listening_is_a_connection_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let p = OpenAiProvider::new(
        "openai",
        format!("http://127.0.0.1:{port}/v1"),
        "m",
        None,
        Duration::from_secs(2),
    )
    .unwrap();
    assert!(matches!(
        run(&p, &request()).await.unwrap_err(),
        ProviderError::Connect(_)
    ));
}
