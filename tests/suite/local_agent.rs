//! The agent on the real demo model: its executor replies always parse under the tool grammar, and a whole
//! offline session runs to its end.

use std::sync::Arc;

use tandem::agent::session::{Session, SessionConfig};
use tandem::config::AgentConfig;
use tandem::model::local::SamplingParams;
use tandem::model::local_provider::LocalProvider;
use tandem::model::{ChatMessage, ChatModel, ChatRequest, FinishReason, ToolChoice, collect};
use tandem::protocol::{Event, EventMsg, Outcome, RouteReason, RouteRole};
use tandem::router::sensitive::{Scanner, ScannerConfig};
use tandem::router::{Router, RouterConfig, Target};
use tandem::sandbox::Workspace;
use tandem::spend::PriceTable;
use tandem::tools::{ToolSet, specs};

use super::support::engine_with;
use crate::require_model;

#[tokio::test]
async fn the_demo_model_always_gives_a_parseable_tool_call_under_the_grammar() {
    let (model, _model_lock) = require_model!();
    let engine = Arc::new(engine_with(model, 4096));
    let tools = specs(ToolSet::Executor);
    let mut finishes = Vec::new();
    // The executor's configured sampler (tandem's defaults), with a different seed each time.
    for seed in 0..12u32 {
        let mut sampling = SamplingParams::from(&tandem::config::SamplingConfig::default());
        sampling.seed = Some(seed);
        let provider = LocalProvider::new(engine.clone(), sampling);
        let request = ChatRequest {
            messages: vec![
                ChatMessage::system(include_str!("../../prompts/executor.md")),
                ChatMessage::user("Your step: make add() in calc.py return a + b. Files: calc.py"),
            ],
            tools: tools.clone(),
            tool_choice: ToolChoice::Required,
            max_tokens: tandem::config::LocalConfig::default().max_tokens,
            ..ChatRequest::default()
        };
        let stream = provider.stream(&request).await.unwrap();
        let response = collect(stream, |_| {}).await.unwrap();
        finishes.push(response.finish);
        assert_eq!(response.tool_calls.len(), 1, "seed {seed}: {response:?}");
        let call = &response.tool_calls[0];
        let spec = tools
            .iter()
            .find(|t| t.name == call.name)
            .unwrap_or_else(|| panic!("seed {seed}: unknown tool {}", call.name));
        let args: serde_json::Value = serde_json::from_str(&call.arguments)
            .unwrap_or_else(|e| panic!("seed {seed}: {e}: {}", call.arguments));
        let validator = jsonschema::validator_for(&spec.parameters).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&args)
            .map(|e| e.to_string())
            .collect();
        assert!(
            errors.is_empty(),
            "seed {seed}: {} {args} breaks its schema: {errors:?}",
            call.name
        );
    }
    assert!(
        finishes.iter().all(|f| *f == Some(FinishReason::ToolCalls)),
        "{finishes:?}"
    );
}

/// Runs an offline session on the demo model over a one-bug repository; its outcome and events.
async fn offline_session(model: std::path::PathBuf, plan_only: bool) -> (Outcome, Vec<Event>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("calc.py"),
        "def add(a, b):\n    return a - b\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("test_calc.py"), "import unittest\nimport calc\n\nclass T(unittest.TestCase):\n    def test_add(self):\n        self.assertEqual(calc.add(2, 3), 5)\n").unwrap();
    let ws = Workspace::new(dir.path()).unwrap();
    let local: Arc<dyn ChatModel> = Arc::new(LocalProvider::new(
        Arc::new(engine_with(model, 4096)),
        SamplingParams::greedy(),
    ));
    let config = RouterConfig {
        offline: true,
        planner_max_tokens: 384,
        executor_max_tokens: 384,
        ..RouterConfig::new(
            Target::Cloud(vec!["openai".into()]),
            Target::Local(RouteReason::Configured),
            "local",
        )
    };
    let router = Arc::new(Router::new(
        config,
        Some(local),
        vec![],
        Scanner::new(&ScannerConfig::default()).unwrap(),
        PriceTable::new(&Default::default()),
        None,
    ));
    let agent = AgentConfig {
        verify: "python3 -m unittest -q".into(),
        max_rounds: 1,
        max_step_attempts: 1,
        max_step_turns: 3,
        max_planner_turns: 2,
        ..AgentConfig::default()
    };
    let cfg = SessionConfig {
        id: "demo".into(),
        task: "Fix add() in calc.py so the test passes".into(),
        agent,
        profile: Default::default(),
        sandbox: Default::default(),
        plan_only,
        planner_prompt: include_str!("../../prompts/planner.md").into(),
        executor_prompt: include_str!("../../prompts/executor.md").into(),
        writer_prompt: include_str!("../../prompts/writer.md").into(),
        definitions_prompt: include_str!("../../prompts/definitions.md").into(),
        instructions: None,
        resume: None,
        initial_plan: None,
        transcript: true,
        headless: false,
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let (session, _handle) = Session::new(cfg, ws.clone(), router, Some(tx)).unwrap();
    let outcome = tokio::spawn(session.run()).await.unwrap();
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    (outcome, events)
}

#[tokio::test]
async fn a_whole_offline_session_on_the_demo_model_runs_to_its_end() {
    let (model, _model_lock) = require_model!();
    let (outcome, events) = offline_session(model, false).await;
    assert!(
        matches!(
            outcome,
            Outcome::Done | Outcome::VerifyFailed | Outcome::Failed
        ),
        "{outcome:?}"
    );
    assert!(matches!(
        events.last().map(|e| &e.msg),
        Some(EventMsg::SessionFinished { .. })
    ));
    // Every request stays on the local model; the repository is small enough to be planned without one (no
    // planner request, so no request whose reason is --offline).
    let routes: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.msg {
            EventMsg::Route { decision } => Some(decision),
            _ => None,
        })
        .collect();
    assert!(
        !routes.is_empty() && routes.iter().all(|d| d.provider == "local"),
        "{routes:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e.msg, EventMsg::PlanReady { .. })),
        "a plan was made (without a model call: the repository is one small step): {:#?}",
        events.iter().map(|e| &e.msg).collect::<Vec<_>>()
    );
    assert!(
        events.iter().all(
            |e| !matches!(&e.msg, EventMsg::Error { message } if message.contains("panicked"))
        )
    );
}

#[tokio::test]
async fn a_plan_only_offline_session_plans_on_the_demo_model_under_the_grammar() {
    let (model, _model_lock) = require_model!();
    let (outcome, events) = offline_session(model, true).await;
    // A plan was asked for: the local model makes it (no plan without a model call), and it parses.
    let planner: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.msg {
            EventMsg::Route { decision } if decision.role == RouteRole::Planner => Some(decision),
            _ => None,
        })
        .collect();
    assert!(
        !planner.is_empty() && planner.iter().all(|d| d.reason == RouteReason::Offline),
        "{planner:?}"
    );
    assert_eq!(outcome, Outcome::Planned);
    assert!(
        events
            .iter()
            .any(|e| matches!(e.msg, EventMsg::PlanReady { .. }))
    );
}

#[tokio::test]
async fn the_next_turn_reuses_the_cache_through_the_models_own_reply() {
    let (model, _model_lock) = require_model!();
    let engine = Arc::new(engine_with(model, 4096));
    let mut sampling = SamplingParams::from(&tandem::config::SamplingConfig::default());
    sampling.seed = Some(7);
    let provider = LocalProvider::new(engine, sampling);
    let mut messages = vec![
        ChatMessage::system(include_str!("../../prompts/executor.md")),
        ChatMessage::user("Your step: make add() in calc.py return a + b. Files: calc.py"),
    ];
    let request = |messages: &Vec<ChatMessage>| ChatRequest {
        messages: messages.clone(),
        tools: specs(ToolSet::Executor),
        tool_choice: ToolChoice::Required,
        max_tokens: 200,
        ..ChatRequest::default()
    };
    let first = collect(provider.stream(&request(&messages)).await.unwrap(), |_| {})
        .await
        .unwrap();
    assert_eq!(first.tool_calls.len(), 1, "{first:?}");
    let verbatim = first
        .verbatim
        .clone()
        .expect("the generated reply comes back");
    assert!(verbatim.contains(&first.tool_calls[0].name), "{verbatim}");
    let mut assistant = ChatMessage::assistant(first.text.clone());
    assistant.tool_calls = first.tool_calls.clone();
    assistant.verbatim = first.verbatim.clone();
    messages.push(assistant);
    messages.push(ChatMessage::tool_result(
        first.tool_calls[0].id.clone(),
        "calc.py (lines 1-2 of 2)\n    1| def add(a, b):\n    2|     return a - b\n",
    ));
    let second = collect(provider.stream(&request(&messages)).await.unwrap(), |_| {})
        .await
        .unwrap();
    let prompt = first.usage.input_tokens + first.usage.cached_input_tokens;
    // The reply is rendered as it was generated and kept as the tokens it was sampled as, so the cache holds
    // through all of it, not just the prompt.
    assert!(
        second.usage.cached_input_tokens + 1 >= prompt + first.usage.output_tokens,
        "first {:?}, second {:?}",
        first.usage,
        second.usage
    );
    // A rendering of the same call from its parsed form is what the cache would otherwise have to match.
    let mut reparsed = messages.clone();
    reparsed[2].verbatim = None;
    let plain = tandem::model::local_provider::plain_messages(&reparsed);
    assert_ne!(
        plain[2].content, verbatim,
        "re-serialising changes the text"
    );
}
