//! Sessions against servers that do not behave like OpenAI's and Anthropic's own: a planner that answers in
//! text, a forced tool that is ignored, a plan missing a field, a refused key, and savings only for work that
//! landed.

use std::sync::Arc;
use std::time::Duration;

use pretty_assertions::assert_eq;
use serde_json::json;
use tandem::agent::session::{Session, SessionConfig};
use tandem::config::AgentConfig;
use tandem::model::ChatModel;
use tandem::model::anthropic::AnthropicProvider;
use tandem::model::openai::OpenAiProvider;
use tandem::protocol::{Event, EventMsg, Outcome, Summary};
use tandem::router::sensitive::{Scanner, ScannerConfig};
use tandem::router::{RouteReason, Router, RouterConfig, Target};
use tandem::sandbox::Workspace;
use tandem::secret::Secret;
use tandem::spend::{Ledger, PriceTable};

use super::mock::{MockServer, Reply, sse};

fn openai(name: &str, server: &MockServer, model: &str) -> Arc<dyn ChatModel> {
    Arc::new(
        OpenAiProvider::new(
            name,
            format!("{}/v1", server.url),
            model,
            Some(Secret::new("sk-test-interop-0123456789")),
            Duration::from_secs(5),
        )
        .unwrap(),
    )
}

fn session_config(task: &str, plan_only: bool) -> SessionConfig {
    SessionConfig {
        id: "interop".into(),
        task: task.into(),
        agent: AgentConfig {
            verify: "none".into(),
            max_rounds: 1,
            ..AgentConfig::default()
        },
        profile: Default::default(),
        sandbox: Default::default(),
        plan_only,
        planner_prompt: "You plan.".into(),
        executor_prompt: "You execute.".into(),
        writer_prompt: "You write files whole.".into(),
        definitions_prompt: "You write the definitions you change.".into(),
        instructions: None,
        resume: None,
        initial_plan: None,
        transcript: false,
        headless: false,
    }
}

fn router(
    cloud: Vec<Arc<dyn ChatModel>>,
    config: RouterConfig,
    ledger: Option<Arc<Ledger>>,
) -> Arc<Router> {
    Arc::new(Router::new(
        config,
        None,
        cloud,
        Scanner::new(&ScannerConfig::default()).unwrap(),
        PriceTable::new(&Default::default()),
        ledger,
    ))
}

async fn run(cfg: SessionConfig, ws: &Workspace, router: Arc<Router>) -> (Outcome, Vec<Event>) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let (session, _handle) = Session::new(cfg, ws.clone(), router, Some(tx)).unwrap();
    let task = tokio::spawn(session.run());
    let mut events = Vec::new();
    while let Some(event) = rx.recv().await {
        events.push(event);
    }
    (task.await.unwrap(), events)
}

fn workspace() -> (tempfile::TempDir, Workspace) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("calc.py"),
        "def add(a, b):\n    return a - b\n",
    )
    .unwrap();
    let ws = Workspace::new(dir.path()).unwrap();
    (dir, ws)
}

fn plan_of(events: &[Event]) -> Option<tandem::protocol::Plan> {
    events.iter().find_map(|e| match &e.msg {
        EventMsg::PlanReady { plan, .. } => Some(plan.clone()),
        _ => None,
    })
}

fn summary_of(events: &[Event]) -> Summary {
    events
        .iter()
        .find_map(|e| match &e.msg {
            EventMsg::SessionFinished { summary, .. } => Some(summary.clone()),
            _ => None,
        })
        .unwrap()
}

/// A plan without its summary, as a model in a hurry writes it.
const PLAN_WITHOUT_SUMMARY: &str =
    r#"{"steps":[{"id":1,"goal":"Make add() add","files":["calc.py"],"done_when":"tests pass"}]}"#;

#[tokio::test]
async fn a_planner_answering_in_text_is_asked_for_json_at_once_and_a_missing_summary_is_filled_in()
{
    let (_dir, ws) = workspace();
    let server = MockServer::start();
    server.push([
        // A llama-server whose template does not do tools: prose instead of submit_plan.
        Reply::Sse(sse::openai::reply(
            "I would change calc.py so that add returns a + b.",
            300,
            0,
            20,
        )),
        Reply::Sse(sse::openai::reply(PLAN_WITHOUT_SUMMARY, 320, 0, 40)),
    ]);
    let config = RouterConfig::new(
        Target::Cloud(vec!["openai".into()]),
        Target::Local(RouteReason::Configured),
        "interop",
    );
    let r = router(vec![openai("openai", &server, "gpt-5.1")], config, None);
    let (outcome, events) = run(session_config("Fix add()", true), &ws, r).await;
    assert_eq!(outcome, Outcome::Planned);
    let plan = plan_of(&events).unwrap();
    assert_eq!(plan.summary, "Make add() add");
    let sent = server.requests();
    assert_eq!(
        sent.len(),
        2,
        "not max_planner_turns rounds of the same question"
    );
    let second = sent[1].json();
    assert_eq!(second["response_format"]["type"], "json_schema");
    assert!(second.get("tools").is_none());
    assert_eq!(
        second["max_tokens"], 8192,
        "the planner's own cap, not local.max_tokens"
    );
    let last = second["messages"].as_array().unwrap().last().unwrap();
    assert!(
        last["content"].as_str().unwrap().contains("`done_when`"),
        "the shape is spelled out for servers that ignore response_format: {last}"
    );
}

#[tokio::test]
async fn through_an_anthropic_proxy_that_ignores_the_forced_tool_a_plan_in_prose_still_parses() {
    let (_dir, ws) = workspace();
    let server = MockServer::start();
    let prose_plan = format!("Here is the plan:\n```json\n{PLAN_WITHOUT_SUMMARY}\n```");
    server.push([
        Reply::Sse(sse::anthropic::reply(
            "Let me think about calc.py.",
            200,
            0,
            0,
            10,
        )),
        // Asked for the `reply` tool, the proxy's model answers in text anyway.
        Reply::Sse(sse::anthropic::reply(&prose_plan, 220, 0, 0, 40)),
    ]);
    let claude: Arc<dyn ChatModel> = Arc::new(
        AnthropicProvider::new(
            "anthropic",
            &server.url,
            "claude-sonnet-4-5",
            Some(Secret::new("sk-ant-test-0123456789")),
            Duration::from_secs(5),
        )
        .unwrap(),
    );
    let config = RouterConfig::new(
        Target::Cloud(vec!["anthropic".into()]),
        Target::Local(RouteReason::Configured),
        "interop",
    );
    let (outcome, events) = run(
        session_config("Fix add()", true),
        &ws,
        router(vec![claude], config, None),
    )
    .await;
    assert_eq!(outcome, Outcome::Planned, "{events:?}");
    assert_eq!(plan_of(&events).unwrap().steps[0].files, vec!["calc.py"]);
    let sent = server.requests();
    assert_eq!(sent.len(), 2);
    assert_eq!(
        sent[1].json()["tool_choice"],
        json!({"type": "tool", "name": "reply"})
    );
}

#[tokio::test]
async fn a_refused_key_ends_the_session_naming_the_provider_and_its_variable() {
    let (_dir, ws) = workspace();
    let planner = MockServer::start();
    planner.push([Reply::Sse(sse::openai::tool_reply(
        "call_plan",
        "submit_plan",
        serde_json::from_str(PLAN_WITHOUT_SUMMARY).unwrap(),
    ))]);
    let executor = MockServer::start();
    executor.respond_with(|_, _| Reply::error(401, &[], "invalid api key"));
    let mut config = RouterConfig::new(
        Target::Cloud(vec!["openai".into()]),
        Target::Cloud(vec!["workers".into()]),
        "interop",
    );
    config
        .key_env
        .insert("workers".into(), "WORKERS_API_KEY".into());
    let r = router(
        vec![
            openai("openai", &planner, "gpt-5.1"),
            openai("workers", &executor, "gpt-5-mini"),
        ],
        config,
        None,
    );
    let (outcome, events) = run(session_config("Fix add()", false), &ws, r).await;
    assert_eq!(outcome, Outcome::Failed);
    let errors: Vec<&String> = events
        .iter()
        .filter_map(|e| match &e.msg {
            EventMsg::Error { message } => Some(message),
            _ => None,
        })
        .collect();
    assert!(
        errors
            .iter()
            .any(|m| m.contains("workers refused the API key") && m.contains("$WORKERS_API_KEY")),
        "{errors:?}"
    );
    assert_eq!(
        executor.requests().len(),
        1,
        "no retry, no second attempt, no escalation"
    );
    assert_eq!(
        planner.requests().len(),
        1,
        "the step is not escalated to the planner"
    );
}

#[tokio::test]
async fn saved_counts_only_steps_that_landed_a_change() {
    let (_dir, ws) = workspace();
    let dir = tempfile::tempdir().unwrap();
    let ledger = Arc::new(Ledger::open(&Ledger::default_path(dir.path())).unwrap());
    let planner = MockServer::start();
    let plan = json!({"summary": "Fix add", "steps": [
        {"id": 1, "goal": "Make add() add", "files": ["calc.py"], "done_when": "it adds"},
        {"id": 2, "goal": "Check the docs", "files": [], "done_when": "checked"}]});
    planner.push([Reply::Sse(sse::openai::tool_reply(
        "call_plan",
        "submit_plan",
        plan,
    ))]);
    // The team's server executes: its tokens count as saved, but only for the step that changed a file.
    let team = MockServer::start();
    team.push([
        Reply::Sse(sse::openai::tool_reply(
            "call_edit",
            "edit",
            json!({"path": "calc.py", "search": "return a - b", "replace": "return a + b"}),
        )),
        Reply::Sse(sse::openai::tool_reply(
            "call_done",
            "step_done",
            json!({"summary": "add() adds"}),
        )),
        Reply::Sse(sse::openai::tool_reply(
            "call_done2",
            "step_done",
            json!({"summary": "nothing to do"}),
        )),
    ]);
    let mut config = RouterConfig::new(
        Target::Cloud(vec!["openai".into()]),
        Target::Cloud(vec!["team".into()]),
        "interop",
    );
    config.inside.insert("team".into());
    let r = router(
        vec![
            openai("openai", &planner, "gpt-5.1"),
            openai("team", &team, "qwen2.5-coder-32b"),
        ],
        config,
        Some(ledger.clone()),
    );
    let (outcome, events) = run(session_config("Fix add()", false), &ws, r).await;
    assert_eq!(outcome, Outcome::Done, "{events:?}");
    // tool_reply reports 500 input and 40 output tokens; priced at gpt-5.1.
    let per_request = (500.0 * 1.25 + 40.0 * 10.0) / 1e6;
    let summary = summary_of(&events);
    assert!(
        (summary.saved_usd - 2.0 * per_request).abs() < 1e-12,
        "the two requests of step 1 only: {}",
        summary.saved_usd
    );
    let rows = ledger.rows_since(0).unwrap();
    let team_saved: Vec<Option<f64>> = rows
        .iter()
        .filter(|r| r.provider == "team")
        .map(|r| r.saved_usd)
        .collect();
    assert_eq!(
        team_saved,
        vec![Some(per_request), Some(per_request), Some(0.0)]
    );
    let ledger_saved: f64 = rows.iter().filter_map(|r| r.saved_usd).sum();
    assert!((ledger_saved - summary.saved_usd).abs() < 1e-12);
}
