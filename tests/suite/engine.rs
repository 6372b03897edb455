//! The local engine on the real demo model: generation, grammars, prefix reuse, cancellation, errors.

use std::time::Duration;

use pretty_assertions::assert_eq;
use tandem::model::ChatMessage;
use tandem::model::local::{
    AlternativeRequest, Constraint, EngineError, FinishReason, GenEvent, GenRequest, LocalEngine,
    Prompt, SamplingParams, TemplateChoice,
};

use super::support::{engine, engine_config, engine_with};
use crate::require_model;

fn ask(question: &str) -> Vec<ChatMessage> {
    vec![
        ChatMessage::system("You are a helpful assistant. Answer briefly."),
        ChatMessage::user(question),
    ]
}

#[test]
fn generates_text_and_reports_its_cost() {
    let (model, _model_lock) = require_model!();
    let engine = engine(model);
    let done = engine
        .complete(GenRequest::chat(ask("What is the capital of France?"), 48))
        .unwrap();
    assert!(!done.text.trim().is_empty(), "no text");
    assert!(
        matches!(done.finish, FinishReason::Eos | FinishReason::MaxTokens),
        "{:?}",
        done.finish
    );
    let s = &done.stats;
    assert!(s.prompt_tokens > 10, "{s:?}");
    assert_eq!(s.reused_tokens, 0, "a fresh engine has nothing cached");
    assert_eq!(s.prefilled_tokens, s.prompt_tokens);
    assert!(s.generated_tokens > 0 && s.generated_tokens <= 48, "{s:?}");
    assert!(
        s.time_to_first_token > Duration::ZERO && s.time_to_first_token <= s.prefill + s.decode
    );
    assert!(s.prefill_tps() > 0.0 && s.decode_tps() > 0.0);
    assert!(
        engine.info().template.contains("llama.cpp"),
        "{}",
        engine.info().template
    );
}

#[test]
fn streams_text_in_pieces_then_done() {
    let (model, _model_lock) = require_model!();
    let engine = engine(model);
    let mut generation =
        engine.generate(GenRequest::chat(ask("Count from one to ten in words."), 40));
    let mut pieces = Vec::new();
    let mut done = None;
    while let Some(event) = generation.blocking_next() {
        match event {
            GenEvent::Text(t) => pieces.push(t),
            GenEvent::Done { finish, stats, .. } => done = Some((finish, stats)),
            GenEvent::Failed(e) => panic!("{e}"),
        }
    }
    let (_, stats) = done.expect("a Done event ends the stream");
    assert!(pieces.len() > 1, "streamed in pieces: {pieces:?}");
    assert!(pieces.len() as u32 <= stats.generated_tokens);
}

fn item_schema() -> serde_json::Value {
    serde_json::json!({
        "type": "object",
        "properties": {
            "name": { "type": "string", "minLength": 1, "maxLength": 40 },
            "quantity": { "type": "integer", "minimum": 0, "maximum": 1000 },
            "unit": { "enum": ["kg", "g", "l", "piece"] },
            "organic": { "type": "boolean" },
            "tags": { "type": "array", "items": { "type": "string", "maxLength": 20 }, "maxItems": 3 }
        },
        "required": ["name", "quantity", "unit", "organic", "tags"],
        "additionalProperties": false
    })
}

/// What decodes JSON schemas in this build: llama.cpp's grammar sampler, and llguidance where it is built in.
fn grammar_engines() -> Vec<tandem::model::local::GrammarEngine> {
    use tandem::model::local::GrammarEngine;
    if cfg!(feature = "llguidance") {
        vec![GrammarEngine::LlamaCpp, GrammarEngine::Llguidance]
    } else {
        vec![GrammarEngine::LlamaCpp]
    }
}

#[test]
fn constrained_output_parses_and_matches_its_schema_on_twenty_seeds() {
    let (model, _model_lock) = require_model!();
    let mut schema = item_schema();
    schema["properties"]["name"]["x-non-blank"] = true.into();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for grammar_engine in grammar_engines() {
        let mut config = super::support::engine_config(model.clone());
        config.context_size = 2048;
        config.threads = 2;
        config.grammar_engine = grammar_engine;
        let engine = LocalEngine::load(config).unwrap();
        twenty_seeds(&engine, &schema, &validator, grammar_engine);
    }
}

fn twenty_seeds(
    engine: &LocalEngine,
    schema: &serde_json::Value,
    validator: &jsonschema::Validator,
    grammar_engine: tandem::model::local::GrammarEngine,
) {
    for seed in 0..20u32 {
        let request = GenRequest {
            prompt: Prompt::Chat(ask("Describe one item on a shopping list as JSON.")),
            max_tokens: 256,
            sampling: SamplingParams {
                temperature: 1.0,
                seed: Some(seed),
                ..SamplingParams::greedy()
            },
            constraint: Some(Constraint::JsonSchema(schema.clone())),
            stop: Vec::new(),
            alternatives: Vec::new(),
        };
        let done = engine.complete(request).unwrap();
        assert_eq!(
            done.finish,
            FinishReason::Eos,
            "{grammar_engine:?}, seed {seed}: grammar completes: {}",
            done.text
        );
        // The grammar is parsed once; every later seed samples under a fresh copy of it.
        assert_eq!(done.stats.grammar_reused, seed > 0, "seed {seed}");
        let value: serde_json::Value = serde_json::from_str(&done.text).unwrap_or_else(|e| {
            panic!(
                "{grammar_engine:?}, seed {seed}: not JSON ({e}): {}",
                done.text
            )
        });
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| e.to_string())
            .collect();
        assert!(
            errors.is_empty(),
            "{grammar_engine:?}, seed {seed}: {value} breaks the schema: {errors:?}"
        );
        let name = value["name"].as_str().unwrap_or_default();
        assert!(
            name.chars()
                .next()
                .is_some_and(|c| !c.is_whitespace() && !c.is_control()),
            "{grammar_engine:?}, seed {seed}: a non-blank string starts blank: {name:?}"
        );
    }
}

#[test]
fn gbnf_grammar_and_stop_strings() {
    let (model, _model_lock) = require_model!();
    let engine = engine(model);
    let request = |stop: Vec<String>| GenRequest {
        prompt: Prompt::Chat(ask("Say something.")),
        max_tokens: 32,
        sampling: SamplingParams::greedy(),
        constraint: Some(Constraint::Gbnf(
            r#"root ::= "alpha beta gamma delta""#.into(),
        )),
        stop,
        alternatives: Vec::new(),
    };
    let full = engine.complete(request(vec![])).unwrap();
    assert_eq!(
        (full.text.as_str(), full.finish),
        ("alpha beta gamma delta", FinishReason::Eos)
    );
    let cut = engine.complete(request(vec!["gamma".into()])).unwrap();
    assert_eq!(
        (cut.text.as_str(), cut.finish),
        ("alpha beta ", FinishReason::Stop)
    );
}

/// The definitions grammar parses in llama.cpp and holds the demo model to a reply whose block starts with a
/// definition, even when the file it is shown starts with a docstring and imports it would copy.
#[test]
fn the_definitions_grammar_starts_each_block_with_a_definition() {
    use tandem::edit::format::fenced as whole;
    let (model, _model_lock) = require_model!();
    let engine = engine(model);
    let paths = vec!["calc.py".to_string()];
    let file = "\"\"\"Arithmetic.\"\"\"\n\nimport math\n\n\ndef add(a, b):\n    return a - b\n";
    let prompt = vec![
        ChatMessage::system("You write the functions you change: a path, then a fenced block."),
        ChatMessage::user(format!(
            "Fix add so it adds.\n\n{}",
            whole::render("calc.py", "py", file)
        )),
    ];
    for seed in 0..3 {
        let done = engine
            .complete(GenRequest {
                prompt: Prompt::Chat(prompt.clone()),
                max_tokens: 64,
                sampling: SamplingParams {
                    temperature: 0.8,
                    seed: Some(seed),
                    ..SamplingParams::greedy()
                },
                constraint: Some(Constraint::Gbnf(whole::definitions_grammar(&paths))),
                stop: vec![],
                alternatives: Vec::new(),
            })
            .unwrap();
        let text = &done.text;
        let first = text.lines().nth(2).unwrap_or("");
        assert!(
            text.starts_with("calc.py\n```")
                && ["def ", "async def ", "class ", "@"]
                    .iter()
                    .any(|w| first.starts_with(w)
                        || (done.finish != FinishReason::Eos && w.starts_with(first))),
            "seed {seed}: {text:?}"
        );
    }
}

/// The whole-file reply grammar parses in llama.cpp and holds the demo model to the format: whatever it samples
/// (several seeds and budgets, some too small for a whole reply), the text is the format's, every block that
/// is closed is an allowed file, and a reply cut off by its budget is not closed for it: a block without its
/// fence is no file, so a cut-off file is never written.
#[test]
fn the_whole_file_grammar_holds_a_model_to_the_format() {
    use tandem::edit::format::fenced as whole;
    let (model, _model_lock) = require_model!();
    let engine = engine(model);
    let paths = vec!["calc.py".to_string(), "tests/test_calc.py".to_string()];
    let file = "def add(a, b):\n    return a - b\n";
    let prompt = vec![
        ChatMessage::system("You write files whole: a path, then a fenced block with every line."),
        ChatMessage::user(format!(
            "Fix add so it adds.\n\n{}",
            whole::render("calc.py", "py", file)
        )),
    ];
    for (seed, max_tokens) in [(0, 12), (1, 48), (2, 96), (3, 160)] {
        let done = engine
            .complete(GenRequest {
                prompt: Prompt::Chat(prompt.clone()),
                max_tokens,
                sampling: SamplingParams {
                    temperature: 0.8,
                    seed: Some(seed),
                    ..SamplingParams::greedy()
                },
                constraint: Some(Constraint::Gbnf(whole::grammar(&paths))),
                stop: vec![],
                alternatives: Vec::new(),
            })
            .unwrap();
        let text = &done.text;
        assert!(
            paths
                .iter()
                .any(|p| text.starts_with(&format!("{p}\n```")) || p.starts_with(text.as_str())),
            "seed {seed}: {text:?}"
        );
        let files = whole::parse(text, &paths, tandem::edit::format::Scope::File);
        // No path twice, and in the order given.
        let named: Vec<&str> = text
            .lines()
            .filter(|l| paths.iter().any(|p| p == l))
            .collect();
        let mut sorted = named.clone();
        sorted.sort_by_key(|l| paths.iter().position(|p| p == l));
        sorted.dedup();
        assert_eq!(named, sorted, "seed {seed}: {text:?}");
        let fences = text.lines().filter(|l| l.starts_with("```")).count();
        // Each closed block is a file (a path written twice keeps its last block).
        assert!(
            files.len() <= fences / 2 && (fences < 2 || !files.is_empty()),
            "seed {seed}: {text:?}"
        );
        if done.finish == FinishReason::Eos {
            assert!(
                text.ends_with("```\n") && fences % 2 == 0,
                "seed {seed}: {text:?}"
            );
        } else {
            // Cut off: not closed for it with filler.
            assert_eq!(done.finish, FinishReason::MaxTokens, "seed {seed}");
            assert_eq!(done.stats.generated_tokens, max_tokens, "seed {seed}");
        }
    }
}

#[test]
fn a_bad_grammar_is_an_error_and_the_engine_carries_on() {
    let (model, _model_lock) = require_model!();
    let engine = engine(model);
    let mut request = GenRequest::chat(ask("hi"), 8);
    request.constraint = Some(Constraint::Gbnf("root ::= (".into()));
    let err = engine.complete(request).unwrap_err();
    assert!(
        matches!(&err, EngineError::Grammar(m) if m.contains("expecting ')'")),
        "names the reason: {err}"
    );
    let mut request = GenRequest::chat(ask("hi"), 8);
    request.constraint = Some(Constraint::JsonSchema(
        serde_json::json!({"type": "object", "properties": 7}),
    ));
    assert!(matches!(
        engine.complete(request),
        Err(EngineError::Grammar(_))
    ));
    assert!(engine.complete(GenRequest::chat(ask("hi"), 8)).is_ok());
}

/// A system prompt long enough (>1,500 tokens) that re-prefilling it would show.
fn long_system_prompt() -> String {
    let mut s = String::from("You are a careful coding assistant. Project notes follow.\n");
    for i in 0..60 {
        s.push_str(&format!(
            "Note {i}: module_{i} exposes fn handler_{i}(input: &str) -> Result<Output{i}, Error>; it validates, \
             logs and forwards the request to stage {}.\n",
            i + 1
        ));
    }
    s
}

#[test]
fn turn_two_decodes_only_its_new_tokens_and_matches_a_cold_run() {
    let (model, _model_lock) = require_model!();
    let engine = engine_with(model.clone(), 4096);
    let mut messages = vec![
        ChatMessage::system(long_system_prompt()),
        ChatMessage::user("Which note mentions stage 7?"),
    ];
    let turn1 = engine
        .complete(GenRequest::chat(messages.clone(), 24))
        .unwrap();
    assert!(turn1.stats.prompt_tokens > 1500, "{:?}", turn1.stats);
    messages.push(ChatMessage::assistant(turn1.text.clone()));
    messages.push(ChatMessage::user("And which one mentions stage 12?"));
    let turn2 = engine
        .complete(GenRequest::chat(messages.clone(), 24))
        .unwrap();
    let s = &turn2.stats;
    assert!(
        s.reused_tokens >= turn1.stats.prompt_tokens,
        "turn 1's prompt is reused: {s:?}"
    );
    assert_eq!(s.prefilled_tokens, s.prompt_tokens - s.reused_tokens);
    let new_text_tokens = engine
        .count_tokens(Prompt::Chat(messages.clone()))
        .unwrap()
        .saturating_sub(turn1.stats.prompt_tokens as usize + turn1.stats.generated_tokens as usize);
    assert!(
        (s.prefilled_tokens as usize) <= new_text_tokens + 4,
        "decoded {} tokens; only about {new_text_tokens} are new: {s:?}",
        s.prefilled_tokens
    );

    // The same turn on an engine with nothing cached prefills the whole prompt. Its greedy text is not compared:
    // llama.cpp's CPU kernels round differently for a 30-token batch than for 512-token ones, and on some CPUs
    // (AVX2 without AVX-512) that flips a near-tie among a 135M model's logits a few tokens in.
    let cold = engine_with(model, 4096);
    let cold2 = cold.complete(GenRequest::chat(messages, 24)).unwrap();
    assert_eq!(cold2.stats.reused_tokens, 0);
    assert_eq!(cold2.stats.prompt_tokens, s.prompt_tokens);
    assert_eq!(cold2.stats.prefilled_tokens, s.prompt_tokens);
    assert!(!cold2.text.trim().is_empty());
}

#[test]
fn an_identical_request_reuses_all_but_one_token() {
    let (model, _model_lock) = require_model!();
    let engine = engine(model);
    let request = GenRequest::chat(ask("Name a colour."), 8);
    let first = engine.complete(request.clone()).unwrap();
    let again = engine.complete(request).unwrap();
    assert_eq!(again.stats.reused_tokens, first.stats.prompt_tokens - 1);
    assert_eq!(again.stats.prefilled_tokens, 1);
    assert_eq!(again.text, first.text);
    engine.clear_cache().unwrap();
    let cleared = engine
        .complete(GenRequest::chat(ask("Name a colour."), 8))
        .unwrap();
    assert_eq!(cleared.stats.reused_tokens, 0);
}

#[test]
fn cancellation_stops_generation_and_the_engine_stays_usable() {
    let (model, _model_lock) = require_model!();
    let engine = engine(model);
    let long = || GenRequest {
        prompt: Prompt::Chat(ask("Write a very long story about a lighthouse keeper.")),
        max_tokens: 2000,
        sampling: SamplingParams {
            temperature: 0.8,
            seed: Some(1),
            ..SamplingParams::greedy()
        },
        constraint: None,
        stop: Vec::new(),
        alternatives: Vec::new(),
    };
    let mut generation = engine.generate(long());
    let cancel = generation.cancel_token();
    let mut texts = 0;
    let (finish, stats) = loop {
        match generation.blocking_next().expect("stream ends with Done") {
            GenEvent::Text(_) => {
                texts += 1;
                if texts == 5 {
                    cancel.cancel();
                }
            }
            GenEvent::Done { finish, stats, .. } => break (finish, stats),
            GenEvent::Failed(e) => panic!("{e}"),
        }
    };
    assert_eq!(finish, FinishReason::Cancelled);
    assert!(
        stats.generated_tokens < 50,
        "stopped soon after the cancel: {stats:?}"
    );

    // Dropping a generation part-way cancels it too; the next request still works and reuses the cache.
    let mut dropped = engine.generate(long());
    assert!(matches!(dropped.blocking_next(), Some(GenEvent::Text(_))));
    drop(dropped);
    let next = engine
        .complete(GenRequest::chat(
            ask("Write a very long story about a lighthouse keeper."),
            4,
        ))
        .unwrap();
    assert!(next.stats.reused_tokens > 0, "{:?}", next.stats);
}

#[test]
fn an_overlong_prompt_is_a_clear_error_and_a_full_context_stops_cleanly() {
    let (model, _model_lock) = require_model!();
    let engine = engine_with(model, 256);
    let err = engine
        .complete(GenRequest::chat(
            vec![ChatMessage::user("word ".repeat(400))],
            8,
        ))
        .unwrap_err();
    match &err {
        EngineError::ContextOverflow {
            prompt_tokens,
            n_ctx,
        } => assert!(*prompt_tokens > 256 && *n_ctx == 256),
        other => panic!("expected ContextOverflow, got {other:?}"),
    }
    assert!(
        err.to_string().contains("local.context_size"),
        "says what to change: {err}"
    );
    let mut request = GenRequest::chat(vec![ChatMessage::user("word ".repeat(200))], 500);
    request.sampling = SamplingParams {
        temperature: 1.0,
        seed: Some(3),
        ..SamplingParams::greedy()
    };
    // A grammar that can never be complete: generation runs until the context is full.
    request.constraint = Some(Constraint::Gbnf(r#"root ::= "la " root"#.into()));
    let full = engine.complete(request).unwrap();
    assert_eq!(full.finish, FinishReason::ContextFull, "{:?}", full.stats);
    assert_eq!(full.stats.prompt_tokens + full.stats.generated_tokens, 256);
}

#[test]
fn a_constrained_reply_near_its_token_budget_still_closes_as_a_whole_document() {
    let (model, _model_lock) = require_model!();
    let engine = engine(model);
    let schema = serde_json::json!({
        "type": "object",
        "properties": {"story": {"type": "string"}, "moral": {"type": "string"}},
        "required": ["story", "moral"],
        "additionalProperties": false
    });
    let mut budgets = vec![];
    for max_tokens in [40u32, 64, 128] {
        let mut request = GenRequest::chat(
            ask("Tell a very long story about a lighthouse, as JSON."),
            max_tokens,
        );
        request.sampling = SamplingParams {
            temperature: 0.7,
            seed: Some(max_tokens),
            ..SamplingParams::greedy()
        };
        request.constraint = Some(Constraint::JsonSchema(schema.clone()));
        let done = engine.complete(request).unwrap();
        let value: serde_json::Value = serde_json::from_str(&done.text)
            .unwrap_or_else(|e| panic!("{max_tokens}: {e}: {}", done.text));
        assert!(
            value["story"].is_string() && value["moral"].is_string(),
            "{value}"
        );
        assert_eq!(done.finish, FinishReason::Eos);
        budgets.push(done.stats.generated_tokens <= max_tokens);
    }
    assert_eq!(budgets, vec![true, true, true]);
}

#[test]
fn missing_and_corrupt_models_name_the_path() {
    let (model, _model_lock) = require_model!();
    let dir = tempfile::tempdir().unwrap();

    let missing = dir.path().join("absent.gguf");
    let err = LocalEngine::load(engine_config(&missing)).err().unwrap();
    assert_eq!(err, EngineError::ModelNotFound(missing.clone()));
    assert!(err.to_string().contains(&missing.display().to_string()));

    let bytes = std::fs::read(&model).unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated.gguf", bytes[..bytes.len() / 2].to_vec()),
        ("header-only.gguf", bytes[..64].to_vec()),
        (
            "garbage-after-magic.gguf",
            [b"GGUF\x03\x00\x00\x00".as_slice(), &[0xAB; 4096]].concat(),
        ),
        ("not-gguf.gguf", b"<html>404 Not Found</html>".repeat(10)),
        ("empty.gguf", Vec::new()),
    ];
    for (name, content) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        let err = LocalEngine::load(engine_config(&path))
            .err()
            .unwrap_or_else(|| panic!("{name} loaded"));
        assert!(
            matches!(
                err,
                EngineError::LoadFailed { .. } | EngineError::NotGguf { .. }
            ),
            "{name}: {err:?}"
        );
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{name}: {err}"
        );
    }
}

#[test]
fn chat_template_choices() {
    let (model, _model_lock) = require_model!();
    let mut config = engine_config(&model);
    config.context_size = 1024;
    config.threads = 2;
    config.chat_template = TemplateChoice::ChatMl;
    let chatml = LocalEngine::load(config.clone()).unwrap();
    assert!(
        chatml.info().template.starts_with("ChatML"),
        "{}",
        chatml.info().template
    );
    assert!(
        !chatml
            .complete(GenRequest::chat(ask("hi"), 8))
            .unwrap()
            .text
            .is_empty()
    );
    drop(chatml);

    config.chat_template = TemplateChoice::Jinja {
        source: "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}\
                 {% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
            .into(),
        path: "custom.jinja".into(),
    };
    let jinja = LocalEngine::load(config.clone()).unwrap();
    assert_eq!(jinja.info().template, "Jinja template from custom.jinja");
    // The same conversation renders to the same tokens as llama.cpp's own ChatML.
    let auto = engine_with(model, 1024);
    let messages = ask("hi");
    assert_eq!(
        jinja.count_tokens(Prompt::Chat(messages.clone())).unwrap(),
        auto.count_tokens(Prompt::Chat(messages)).unwrap()
    );

    config.chat_template = TemplateChoice::Jinja {
        source: "{% for %}".into(),
        path: "broken.jinja".into(),
    };
    let err = LocalEngine::load(config).err().unwrap();
    assert!(
        matches!(&err, EngineError::Template(m) if m.contains("broken.jinja")),
        "{err:?}"
    );
}

#[test]
fn two_conversations_in_turn_each_keep_their_prefix() {
    let (model, _model_lock) = require_model!();
    let engine = engine_with(model, 4096);
    let planner = vec![
        ChatMessage::system(long_system_prompt()),
        ChatMessage::user("Plan: which note mentions stage 7?"),
    ];
    // An executor's prompt is its system prompt, tool specs and step brief: longer than a template header.
    let executor = vec![
        ChatMessage::system(
            "You execute one step of a plan in a repository. Tools: read_file(path), list_dir(path), \
             grep(pattern, path), outline(path), edit(path, search, replace), write_file(path, content), \
             run(command), step_done(summary), step_failed(reason). Reply with exactly one tool call as JSON. \
             Make the smallest change that completes the step; run the tests when you are done.",
        ),
        ChatMessage::user("Step 1: say which file to open."),
    ];
    let first = engine
        .complete(GenRequest::chat(planner.clone(), 8))
        .unwrap();
    let step = engine
        .complete(GenRequest::chat(executor.clone(), 8))
        .unwrap();
    // Only the chat template's opening is shared with the planner: the rest is the executor's own.
    assert!(step.stats.reused_tokens < 8, "{:?}", step.stats);
    // Back to the planner: its long prefix is still cached, in its own slot.
    let mut again = planner.clone();
    again.push(ChatMessage::assistant(first.text.clone()));
    again.push(ChatMessage::user("And stage 12?"));
    let second = engine.complete(GenRequest::chat(again, 8)).unwrap();
    assert!(
        second.stats.reused_tokens >= first.stats.prompt_tokens,
        "the planner's prompt is reused after the executor ran: {:?}",
        second.stats
    );
    // The planner's first prompt again: all of it but the last token comes from the restored cache.
    let third = engine
        .complete(GenRequest::chat(planner.clone(), 8))
        .unwrap();
    assert_eq!(
        third.stats.reused_tokens,
        first.stats.prompt_tokens - 1,
        "{:?}",
        third.stats
    );
    // And the executor's too.
    let mut step2 = executor.clone();
    step2.push(ChatMessage::assistant(step.text.clone()));
    step2.push(ChatMessage::user("Now step 2."));
    let next = engine.complete(GenRequest::chat(step2, 8)).unwrap();
    assert!(
        next.stats.reused_tokens >= step.stats.prompt_tokens,
        "{:?}",
        next.stats
    );
}

#[test]
fn a_new_conversation_prefills_only_what_it_does_not_share_with_an_earlier_one() {
    let (model, _model_lock) = require_model!();
    let engine = engine_with(model, 4096);
    // Each step shares the executor's system prompt and brings a longer brief of its own (its files), so a
    // step's prompt is not a continuation of the last step's conversation.
    let system: String = long_system_prompt()
        .lines()
        .take(8)
        .collect::<Vec<_>>()
        .join("\n");
    let step = |n: u32| {
        let file: String = (0..24)
            .map(|i| {
                format!("    let value_{n}_{i} = compute_{i}(input, {n} * {i}); // step {n}\n")
            })
            .collect();
        vec![
            ChatMessage::system(system.clone()),
            ChatMessage::user(format!("Step {n}: fix stage {n} in this file:\n{file}")),
        ]
    };
    let planner = vec![
        ChatMessage::system(
            "You plan work in a repository for an executor that edits one file at a time. Read the task and \
             the repository map, then reply with the steps, one per line: each names the files it changes, what \
             to change in them, and how to tell it is done. Keep steps small; never invent files; say which \
             test shows the change works. Plans are re-made after a step fails, with what it reported.",
        ),
        ChatMessage::user("Plan the work on the notes."),
    ];
    let first = engine.complete(GenRequest::chat(step(1), 8)).unwrap();
    // The next step is a new conversation with the same system prompt: that part comes from the cache.
    let second = engine.complete(GenRequest::chat(step(2), 8)).unwrap();
    // The system prompt is about 300 tokens; each step's own part is longer.
    let shared = 150;
    assert!(
        second.stats.reused_tokens >= shared
            && second.stats.reused_tokens * 2 < first.stats.prompt_tokens,
        "the shared system prompt is not prefilled again, and the rest is: {:?} after {:?}",
        second.stats,
        first.stats
    );
    // The planner in between, then a third step: the shared start is restored from a parked conversation.
    let planned = engine
        .complete(GenRequest::chat(planner.clone(), 8))
        .unwrap();
    let third = engine.complete(GenRequest::chat(step(3), 8)).unwrap();
    assert!(third.stats.reused_tokens >= shared, "{:?}", third.stats);
    // And the planner's conversation is still there to be continued whole.
    let mut replan = planner;
    replan.push(ChatMessage::assistant(planned.text.clone()));
    replan.push(ChatMessage::user("Step 3 failed. Plan again."));
    let again = engine.complete(GenRequest::chat(replan, 8)).unwrap();
    assert!(
        again.stats.reused_tokens >= planned.stats.prompt_tokens,
        "{:?}",
        again.stats
    );
}

#[test]
fn replies_sampled_beside_the_main_one_follow_its_grammar_and_leave_it_and_the_cache_as_they_were()
{
    use tandem::edit::format::fenced as whole;
    let (model, _model_lock) = require_model!();
    let engine = engine(model);
    let paths = vec!["calc.py".to_string()];
    let prompt = vec![
        ChatMessage::system("You write files whole: a path, then a fenced block with every line."),
        ChatMessage::user(format!(
            "Fix add so it adds.\n\n{}",
            whole::render("calc.py", "py", "def add(a, b):\n    return a - b\n")
        )),
    ];
    let request = |alternatives: Vec<AlternativeRequest>| GenRequest {
        prompt: Prompt::Chat(prompt.clone()),
        max_tokens: 400,
        sampling: SamplingParams::greedy(),
        constraint: Some(Constraint::Gbnf(whole::grammar(&paths))),
        stop: vec![],
        alternatives,
    };
    let alone = engine.complete(request(Vec::new())).unwrap();
    assert!(alone.alternatives.is_empty());
    let hot = |seed| SamplingParams {
        temperature: 1.5,
        seed: Some(seed),
        ..SamplingParams::greedy()
    };
    let together = engine
        .complete(request(vec![
            AlternativeRequest::same_prompt(hot(1)),
            AlternativeRequest::same_prompt(hot(2)),
        ]))
        .unwrap();
    // The main reply is the greedy one whatever is decoded beside it.
    assert_eq!(together.text, alone.text);
    assert_eq!(together.alternatives.len(), 2);
    for alt in &together.alternatives {
        let text = &alt.text;
        assert!(
            text.starts_with("calc.py\n```") || "calc.py\n```".starts_with(text.as_str()),
            "{text:?}"
        );
        // Each says why it ended, as the main reply does: under the grammar, its end or its budget.
        assert!(
            matches!(
                alt.finish,
                FinishReason::Eos | FinishReason::Stop | FinishReason::MaxTokens
            ),
            "{alt:?}"
        );
    }
    assert!(
        together.stats.alternative_tokens > 0,
        "{:?}",
        together.stats
    );
    let n = together.stats.generated_tokens;
    // Once the main reply has ended, an alternative runs at most half as long again and 32 tokens more
    // (the main reply waits for them), however hot it samples.
    assert!(n < 200, "the greedy reply is short: {n}");
    assert!(
        together.stats.alternative_tokens <= 2 * (n + n / 2 + 32),
        "{:?}",
        together.stats
    );
    assert_eq!(
        together.stats.generated_tokens,
        alone.stats.generated_tokens
    );
    // The alternatives' sequences are gone: the same request again reuses the main one's cache and gives the
    // same reply.
    let again = engine.complete(request(Vec::new())).unwrap();
    assert_eq!(again.text, alone.text);
    assert!(
        again.stats.reused_tokens + 1 >= again.stats.prompt_tokens,
        "{:?}",
        again.stats
    );
    // Where the context cannot hold more replies at full length, fewer are decoded.
    let long = GenRequest {
        max_tokens: 3000,
        ..request(vec![
            AlternativeRequest::same_prompt(hot(3)),
            AlternativeRequest::same_prompt(hot(4)),
        ])
    };
    let short_of_room = engine.complete(long).unwrap();
    assert!(
        short_of_room.alternatives.is_empty(),
        "{:?}",
        short_of_room.alternatives
    );
}

#[test]
fn an_alternative_with_a_prompt_of_its_own_decodes_only_its_own_part_and_answers_that_prompt() {
    use tandem::edit::format::fenced as whole;
    let (model, _model_lock) = require_model!();
    let engine = engine(model);
    let paths = vec!["calc.py".to_string()];
    let brief = vec![
        ChatMessage::system("You write files whole: a path, then a fenced block with every line."),
        ChatMessage::user(format!(
            "Fix add so it adds.\n\n{}",
            whole::render("calc.py", "py", "def add(a, b):\n    return a - b\n")
        )),
    ];
    // A later round: the first reply and what the check said of it.
    let mut conversation = brief.clone();
    conversation.push(ChatMessage::assistant(
        "calc.py\n```py\ndef add(a, b):\n    return a * b\n```\n",
    ));
    conversation.push(ChatMessage::user(
        "The check still fails: add(2, 3) gave 6.",
    ));
    let greedy = |prompt: &Vec<ChatMessage>, alternatives| GenRequest {
        prompt: Prompt::Chat(prompt.clone()),
        max_tokens: 96,
        sampling: SamplingParams::greedy(),
        constraint: Some(Constraint::Gbnf(whole::grammar(&paths))),
        stop: vec![],
        alternatives,
    };
    let fresh = engine.complete(greedy(&brief, Vec::new())).unwrap();
    let revision = engine.complete(greedy(&conversation, Vec::new())).unwrap();
    engine.clear_cache().unwrap();
    let together = engine
        .complete(greedy(
            &conversation,
            vec![AlternativeRequest {
                sampling: SamplingParams::greedy(),
                prompt: Some(Prompt::Chat(brief.clone())),
            }],
        ))
        .unwrap();
    // Each reply is the one its own prompt gives alone.
    assert_eq!(together.text, revision.text);
    // ... and ends as it does alone, for the same reason.
    assert_eq!(
        together
            .alternatives
            .iter()
            .map(|a| (a.text.clone(), a.finish))
            .collect::<Vec<_>>(),
        vec![(fresh.text.clone(), fresh.finish)]
    );
    assert_eq!(
        together.stats.alternative_tokens,
        fresh.stats.generated_tokens
    );
}

#[test]
fn a_reply_that_copies_its_prompt_is_the_same_with_drafts_and_most_of_it_comes_from_them() {
    use tandem::edit::format::fenced as whole;
    let (model, _model_lock) = require_model!();
    let file = "def load(path):\n    with open(path) as f:\n        return f.read().splitlines()\n\n\ndef count(lines):\n    return len([l for l in lines if l.strip()])\n\n\ndef main(argv):\n    lines = load(argv[0])\n    print(count(lines))\n    return 0\n";
    let paths = vec!["wc.py".to_string()];
    let prompt = vec![
        ChatMessage::system("You write files whole: a path, then a fenced block with every line."),
        ChatMessage::user(format!(
            "Write this file back exactly as it is.\n\n{}",
            whole::render("wc.py", "python", file)
        )),
    ];
    let request = |sampling: SamplingParams| GenRequest {
        prompt: Prompt::Chat(prompt.clone()),
        max_tokens: 200,
        sampling,
        constraint: Some(Constraint::Gbnf(whole::grammar(&paths))),
        stop: vec![],
        alternatives: Vec::new(),
    };
    let load = |draft_tokens| {
        let mut config = engine_config(&model);
        config.context_size = 4096;
        config.threads = 2;
        config.draft_tokens = draft_tokens;
        LocalEngine::load(config).expect("the demo model loads")
    };
    let plain = load(0).complete(request(SamplingParams::greedy())).unwrap();
    assert_eq!(plain.stats.draft_tokens, 0, "{:?}", plain.stats);
    let drafting = load(8);
    let drafted = drafting
        .complete(request(SamplingParams::greedy()))
        .unwrap();
    // The same reply token for token: a draft only decides how many tokens one batch decodes.
    assert_eq!(drafted.text, plain.text);
    assert_eq!(drafted.finish, plain.finish);
    assert_eq!(drafted.stats.generated_tokens, plain.stats.generated_tokens);
    let s = &drafted.stats;
    assert!(
        plain.text.contains("def count(lines):"),
        "the model copies: {:?}",
        plain.text
    );
    assert!(
        s.draft_accepted * 2 > s.generated_tokens && s.draft_accepted <= s.draft_tokens,
        "{s:?}"
    );
    // The refused drafts left the cache: the same request again reuses all of its prompt but the last token,
    // and answers the same.
    let again = drafting
        .complete(request(SamplingParams::greedy()))
        .unwrap();
    assert_eq!(again.text, plain.text);
    assert!(
        again.stats.reused_tokens + 1 >= again.stats.prompt_tokens,
        "{:?}",
        again.stats
    );
    // Replies sampled beside it draft too, in the same batches, and the main reply is still the greedy one. (A
    // sampled reply draws the same numbers with or without drafts, one per token, but a batch of another shape
    // rounds the logits a little differently, and at temperature 0.7 that can change a close pick.)
    let hot = |seed| SamplingParams {
        temperature: 0.7,
        seed: Some(seed),
        ..SamplingParams::greedy()
    };
    let with_alternatives = |engine: &LocalEngine| {
        let mut r = request(SamplingParams::greedy());
        r.alternatives = vec![
            AlternativeRequest::same_prompt(hot(11)),
            AlternativeRequest::same_prompt(hot(12)),
        ];
        engine.complete(r).unwrap()
    };
    let plain_alts = with_alternatives(&load(0));
    let drafted_alts = with_alternatives(&drafting);
    assert_eq!(drafted_alts.text, plain.text);
    assert_eq!(
        drafted_alts.alternatives.len(),
        plain_alts.alternatives.len()
    );
    for alt in &drafted_alts.alternatives {
        assert!(alt.text.starts_with("wc.py\n```"), "{alt:?}");
    }
    assert!(
        drafted_alts.stats.draft_accepted > drafted.stats.draft_accepted,
        "the alternatives' drafts count too: {:?}",
        drafted_alts.stats
    );
    // Sampled replies follow the grammar with drafts too.
    for seed in 0..3 {
        let hot = drafting
            .complete(request(SamplingParams {
                temperature: 0.8,
                seed: Some(seed),
                ..SamplingParams::greedy()
            }))
            .unwrap();
        assert!(
            hot.text.starts_with("wc.py\n```"),
            "seed {seed}: {:?}",
            hot.text
        );
        assert!(hot.stats.draft_accepted <= hot.stats.draft_tokens);
    }
}
