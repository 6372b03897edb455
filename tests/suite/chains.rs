//! Fallback chains, refused keys, providers inside the trust boundary and their replicas, and served-model
//! discovery, against loopback servers speaking the real wire protocols.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pretty_assertions::assert_eq;
use tandem::model::anthropic::AnthropicProvider;
use tandem::model::openai::OpenAiProvider;
use tandem::model::{ChatMessage, ChatModel, ChatRequest};
use tandem::router::sensitive::{Scanner, ScannerConfig};
use tandem::router::{
    RouteReason, RouteRole, Routed, Router, RouterConfig, RouterError, RouterEvent, Target,
    replica_order,
};
use tandem::secret::Secret;
use tandem::spend::{Ledger, PriceTable};

use super::mock::{MockServer, Reply, sse};

const OPENAI_KEY: &str = "sk-test-openai-key-123456";
const ANTHROPIC_KEY: &str = "sk-ant-test-key-abcdef";

fn openai_at(name: &str, server: &MockServer, model: &str) -> Arc<dyn ChatModel> {
    Arc::new(
        OpenAiProvider::new(
            name,
            format!("{}/v1", server.url),
            model,
            Some(Secret::new(OPENAI_KEY)),
            Duration::from_secs(1),
        )
        .unwrap(),
    )
}

fn anthropic(server: &MockServer) -> Arc<dyn ChatModel> {
    Arc::new(
        AnthropicProvider::new(
            "anthropic",
            &server.url,
            "claude-sonnet-4-5",
            Some(Secret::new(ANTHROPIC_KEY)),
            Duration::from_secs(1),
        )
        .unwrap(),
    )
}

fn chain(names: &[&str], session: &str) -> RouterConfig {
    RouterConfig::new(
        Target::Cloud(names.iter().map(|n| n.to_string()).collect()),
        Target::Local(RouteReason::Configured),
        session,
    )
}

fn router(
    cloud: Vec<Arc<dyn ChatModel>>,
    config: RouterConfig,
    ledger: Option<Arc<Ledger>>,
) -> Router {
    Router::new(
        config,
        None,
        cloud,
        Scanner::new(&ScannerConfig::default()).unwrap(),
        PriceTable::new(&Default::default()),
        ledger,
    )
}

fn ask(text: &str) -> ChatRequest {
    ChatRequest {
        messages: vec![
            ChatMessage::system("Answer briefly."),
            ChatMessage::user(text),
        ],
        max_tokens: 16,
        ..ChatRequest::default()
    }
}

async fn chat(
    router: &Router,
    role: RouteRole,
    text: &str,
) -> (Result<Routed, RouterError>, Vec<RouterEvent>) {
    let mut events = Vec::new();
    let result = router.chat(role, &ask(text), &mut |e| events.push(e)).await;
    (result, events)
}

fn decisions(events: &[RouterEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            RouterEvent::Decision(d) => Some(d.provider.clone()),
            _ => None,
        })
        .collect()
}

fn always(server: &MockServer, text: &'static str, anthropic: bool) {
    server.respond_with(move |_, _| {
        Reply::Sse(if anthropic {
            sse::anthropic::reply(text, 30, 0, 0, 4)
        } else {
            sse::openai::reply(text, 30, 0, 4)
        })
    });
}

#[tokio::test]
async fn a_429_on_the_first_link_moves_to_the_second_and_the_first_returns_after_its_reset() {
    let claude = MockServer::start();
    claude.push([
        Reply::error(429, &[("retry-after", "2")], "rate limited"),
        Reply::Sse(sse::anthropic::reply("back on claude", 40, 0, 0, 3)),
    ]);
    let gpt = MockServer::start();
    always(&gpt, "from gpt", false);
    let r = router(
        vec![anthropic(&claude), openai_at("openai", &gpt, "gpt-5.1")],
        chain(&["anthropic", "openai", "local"], "s"),
        None,
    );
    let limited_at = Instant::now();
    let (first, events) = chat(&r, RouteRole::Planner, "one").await;
    let first = first.unwrap();
    assert_eq!(
        decisions(&events),
        vec!["anthropic", "openai"],
        "one decision per link tried"
    );
    assert_eq!(first.response.text, "from gpt");
    assert!(
        matches!(&first.decision.reason, RouteReason::FellBack { provider, error, .. } if provider == "anthropic" && error.contains("rate limited")),
        "{}",
        first.decision
    );

    let shown = first.decision.to_string();
    assert!(
        shown.starts_with("planner → openai/gpt-5.1 (anthropic failed (rate limited")
            && shown.contains("back to it after"),
        "{shown}"
    );

    // While anthropic's breaker is open, the session stays on openai without asking anthropic again.
    let (second, events) = chat(&r, RouteRole::Planner, "two").await;
    let second = second.unwrap();
    assert_eq!(decisions(&events), vec!["openai"]);
    assert!(
        matches!(&second.decision.reason, RouteReason::CircuitOpen { provider, .. } if provider == "anthropic"),
        "{}",
        second.decision
    );
    assert_eq!(claude.requests().len(), 1);

    tokio::time::sleep(Duration::from_millis(2100).saturating_sub(limited_at.elapsed())).await;
    let third = chat(&r, RouteRole::Planner, "three").await.0.unwrap();
    assert_eq!(
        (third.decision.provider.as_str(), &third.decision.reason),
        ("anthropic", &RouteReason::Probe),
        "the preferred provider is back once its reset passed"
    );
    assert_eq!(third.response.text, "back on claude");
    assert_eq!(gpt.requests().len(), 2);
}

#[tokio::test]
async fn every_link_failing_without_a_local_model_is_a_clear_error() {
    let a = MockServer::start();
    a.respond_with(|_, _| Reply::error(503, &[("retry-after", "30")], "overloaded"));
    let b = MockServer::start();
    b.respond_with(|_, _| Reply::error(429, &[("retry-after", "30")], "limit"));
    let r = router(
        vec![
            openai_at("first", &a, "gpt-5.1"),
            openai_at("second", &b, "gpt-5.1"),
        ],
        chain(&["first", "second"], "s"),
        None,
    );
    let (result, events) = chat(&r, RouteRole::Planner, "hi").await;
    assert_eq!(decisions(&events), vec!["first", "second"]);
    let err = result.unwrap_err();
    assert!(
        matches!(&err, RouterError::NoLocalModel { reason, .. } if reason.contains("second") && reason.contains("rate limited")),
        "{err}"
    );
}

#[tokio::test]
async fn a_refused_key_stops_with_the_provider_and_its_variable_and_does_not_fall_back() {
    let claude = MockServer::start();
    // Some servers echo the key they were sent; it must not reach the error either way.
    claude.push([Reply::error(
        401,
        &[],
        &format!("invalid x-api-key {ANTHROPIC_KEY}"),
    )]);
    let gpt = MockServer::start();
    always(&gpt, "never", false);
    let mut config = chain(&["anthropic", "openai"], "s");
    config
        .key_env
        .insert("anthropic".into(), "ANTHROPIC_API_KEY".into());
    let r = router(
        vec![anthropic(&claude), openai_at("openai", &gpt, "gpt-5.1")],
        config,
        None,
    );
    let (result, events) = chat(&r, RouteRole::Planner, "hi").await;
    let err = result.unwrap_err();
    let RouterError::Auth {
        provider,
        key_env,
        message,
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(
        (provider.as_str(), key_env.as_str()),
        ("anthropic", "ANTHROPIC_API_KEY")
    );
    assert!(message.contains("HTTP 401"), "{message}");
    let text = err.to_string();
    assert!(
        text.contains("$ANTHROPIC_API_KEY") && text.contains("anthropic"),
        "{text}"
    );
    assert!(!text.contains(ANTHROPIC_KEY), "the key leaked: {text}");
    assert!(
        events
            .iter()
            .all(|e| !format!("{e:?}").contains(ANTHROPIC_KEY)),
        "the key leaked into an event"
    );
    assert_eq!(decisions(&events), vec!["anthropic"]);
    assert!(
        gpt.requests().is_empty(),
        "a refused key is not a fallback reason"
    );

    // The next request says the same again rather than quietly going elsewhere.
    claude.push([Reply::error(403, &[], "forbidden")]);
    let (again, _) = chat(&r, RouteRole::Planner, "hi again").await;
    assert!(matches!(again, Err(RouterError::Auth { .. })), "{again:?}");
    assert!(gpt.requests().is_empty());
}

#[tokio::test]
async fn a_session_sticks_to_one_replica_and_a_failing_replica_is_skipped() {
    let servers: Vec<MockServer> = (0..3).map(|_| MockServer::start()).collect();
    for s in &servers {
        always(s, "ok", false);
    }
    let team = |s: &MockServer| openai_at("team", s, "qwen2.5-coder-32b");
    let cloud: Vec<Arc<dyn ChatModel>> = servers.iter().map(team).collect();
    let mut homes = BTreeSet::new();
    for session in ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"] {
        let before: Vec<usize> = servers.iter().map(|s| s.requests().len()).collect();
        let r = router(cloud.clone(), chain(&["team"], session), None);
        for i in 0..3 {
            let routed = chat(&r, RouteRole::Planner, &format!("q{i}"))
                .await
                .0
                .unwrap();
            assert_eq!(routed.decision.reason, RouteReason::Configured);
            let home = replica_order(session, 3)[0];
            assert_eq!(
                routed.decision.replica.as_deref(),
                Some(format!("team@{}", home + 1).as_str()),
                "the decision names the replica"
            );
        }
        let grew: Vec<usize> = servers
            .iter()
            .zip(&before)
            .map(|(s, b)| s.requests().len() - b)
            .collect();
        let home = replica_order(session, 3)[0];
        let mut expected = vec![0, 0, 0];
        expected[home] = 3;
        assert_eq!(grew, expected, "session {session} stays on replica {home}");
        homes.insert(home);
    }
    assert!(
        homes.len() > 1,
        "sessions are spread over the replicas: {homes:?}"
    );

    // The session's own replica fails: the next one serves, and keeps serving while the breaker is open.
    let session = "golf";
    let order = replica_order(session, 3);
    let broken = MockServer::start();
    broken.respond_with(|_, _| Reply::error(500, &[], "boom"));
    let mut cloud: Vec<Arc<dyn ChatModel>> = servers.iter().map(team).collect();
    cloud[order[0]] = team(&broken);
    let r = router(cloud, chain(&["team"], session), None);
    let before = servers[order[1]].requests().len();
    let (first, events) = chat(&r, RouteRole::Planner, "one").await;
    let first = first.unwrap();
    let broken_label = format!("team@{}", order[0] + 1);
    assert!(
        matches!(&first.decision.reason, RouteReason::FellBack { provider, .. } if *provider == broken_label),
        "{}",
        first.decision
    );
    assert_eq!(decisions(&events), vec!["team", "team"]);
    let second = chat(&r, RouteRole::Planner, "two").await.0.unwrap();
    assert!(
        matches!(&second.decision.reason, RouteReason::CircuitOpen { provider, .. } if *provider == broken_label),
        "{}",
        second.decision
    );
    assert_eq!(
        broken.requests().len(),
        2,
        "a 500 is retried once in place, then skipped"
    );
    assert_eq!(servers[order[1]].requests().len() - before, 2);
}

const AWS_KEY: &str = "AKIAZ7VQ3M2LX9KD4TRE";

#[tokio::test]
async fn sensitive_requests_go_to_the_team_server_inside_the_boundary_and_never_to_the_cloud() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Arc::new(Ledger::open(&Ledger::default_path(dir.path())).unwrap());
    let cloud = MockServer::start();
    always(&cloud, "cloud answer", false);
    let team = MockServer::start();
    team.respond_with(|_, _| Reply::Sse(sse::openai::reply("team answer", 1000, 0, 100)));
    let mut config = chain(&["openai", "team"], "s");
    config.inside.insert("team".into());
    config.executor = Target::Cloud(vec!["team".into()]);
    let r = router(
        vec![
            openai_at("openai", &cloud, "gpt-5.1"),
            openai_at("team", &team, "qwen2.5-coder-32b"),
        ],
        config,
        Some(ledger.clone()),
    );

    let plain = chat(&r, RouteRole::Planner, "What is 2+2?")
        .await
        .0
        .unwrap();
    assert_eq!(plain.decision.provider, "openai");

    let secret = format!("Deploy with {AWS_KEY}");
    let (planner, events) = chat(&r, RouteRole::Planner, &secret).await;
    let planner = planner.unwrap();
    assert_eq!(
        decisions(&events),
        vec!["team"],
        "the cloud link is not even tried"
    );
    assert!(
        matches!(planner.decision.reason, RouteReason::Sensitive { .. }),
        "{}",
        planner.decision
    );
    assert!(
        planner
            .decision
            .to_string()
            .contains("stays inside the trust boundary"),
        "{}",
        planner.decision
    );
    let executor = chat(&r, RouteRole::Executor, &secret).await.0.unwrap();
    assert_eq!(
        executor.decision.provider, "team",
        "the executor role can use a team server"
    );

    assert!(
        cloud.requests().iter().all(|q| !q.body.contains(AWS_KEY)),
        "a secret reached a cloud provider"
    );
    assert_eq!(cloud.requests().len(), 1);
    assert_eq!(team.requests().len(), 2);
    assert!(team.requests().iter().all(|q| q.body.contains(AWS_KEY)));

    // The team server's tokens cost nothing here and count as saved, priced at the reference model.
    let expected_saved = (1000.0 * 1.25 + 100.0 * 10.0) / 1e6;
    assert_eq!(planner.usd, Some(0.0));
    assert!((planner.saved_usd.unwrap() - expected_saved).abs() < 1e-12);
    let rows = ledger.rows_since(0).unwrap();
    let team_rows: Vec<_> = rows.iter().filter(|r| r.provider == "team").collect();
    assert_eq!(team_rows.len(), 2);
    assert!(team_rows.iter().all(|r| r.local && r.usd == Some(0.0)));
}

#[tokio::test]
async fn the_served_model_is_recorded_and_an_unpriced_one_is_not_billed_as_the_configured_one() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Arc::new(Ledger::open(&Ledger::default_path(dir.path())).unwrap());
    // A llama-server behind OPENAI_BASE_URL: asked for gpt-5.1, it serves what it has loaded.
    let server = MockServer::start();
    server.respond_with(|_, _| {
        Reply::Sse(sse::served_as(
            "qwen2.5-coder-7b-instruct-q4_k_m.gguf",
            sse::openai::reply("hi", 500, 0, 20),
        ))
    });
    let r = router(
        vec![openai_at("openai", &server, "gpt-5.1")],
        chain(&["openai"], "s"),
        Some(ledger.clone()),
    );
    let (first, events) = chat(&r, RouteRole::Planner, "one").await;
    let first = first.unwrap();
    assert_eq!(
        first.decision.model,
        "qwen2.5-coder-7b-instruct-q4_k_m.gguf"
    );
    assert_eq!(first.usd, None, "unpriced, not $0 and not gpt-5.1's price");
    let notices: Vec<&RouterEvent> = events
        .iter()
        .filter(
            |e| matches!(e, RouterEvent::Notice(m) if m.contains("not the configured `gpt-5.1`")),
        )
        .collect();
    assert_eq!(notices.len(), 1, "{events:?}");
    let (_, events) = chat(&r, RouteRole::Planner, "two").await;
    assert!(
        !events.iter().any(|e| matches!(e, RouterEvent::Notice(_))),
        "said once per provider"
    );
    let rows = ledger.rows_since(0).unwrap();
    assert!(
        rows.iter()
            .all(|r| r.model == "qwen2.5-coder-7b-instruct-q4_k_m.gguf" && r.usd.is_none())
    );

    // A dated version of the configured model is the same model: no notice, priced as the family.
    let dated = MockServer::start();
    dated.respond_with(|_, _| {
        Reply::Sse(sse::served_as(
            "gpt-5.1-2025-11-13",
            sse::openai::reply("hi", 1000, 0, 0),
        ))
    });
    let r = router(
        vec![openai_at("openai", &dated, "gpt-5.1")],
        chain(&["openai"], "s"),
        None,
    );
    let (routed, events) = chat(&r, RouteRole::Planner, "one").await;
    let routed = routed.unwrap();
    assert!(!events.iter().any(|e| matches!(e, RouterEvent::Notice(_))));
    assert!((routed.usd.unwrap() - 1000.0 * 1.25 / 1e6).abs() < 1e-12);
}

#[tokio::test]
async fn a_planner_request_falling_back_to_local_is_capped_at_the_local_limit() {
    let (model, _lock) = crate::require_model!();
    let mut config = super::support::engine_config(model);
    config.context_size = 2048;
    config.threads = 2;
    let local: Arc<dyn ChatModel> = Arc::new(tandem::model::local_provider::LocalProvider::lazy(
        config,
        tandem::model::local::SamplingParams::greedy(),
    ));
    let mut rc = RouterConfig::new(
        Target::Local(RouteReason::Configured),
        Target::Local(RouteReason::Configured),
        "s",
    );
    rc.local_max_tokens = Some(4);
    let r = Router::new(
        rc,
        Some(local),
        vec![],
        Scanner::new(&ScannerConfig::default()).unwrap(),
        PriceTable::new(&Default::default()),
        None,
    );
    let mut request = ask("Count from one to one hundred in words.");
    request.max_tokens = 8192;
    let routed = r
        .chat(RouteRole::Planner, &request, &mut |_| {})
        .await
        .unwrap();
    assert!(
        routed.response.usage.output_tokens <= 4,
        "{:?}",
        routed.response.usage
    );
}
