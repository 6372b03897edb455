//! Benchmark of what decodes JSON-schema constraints: llama.cpp's grammar sampler (on the GBNF its converter
//! makes of the schema) against llguidance, on the executor's tool-call schema and the plan schema, each against
//! free decoding of the same prompt: tokens per second, and the time to the first token of the first
//! constrained request (the grammar built cold) and of later ones.
//!
//! Run: `cargo build --release --features llguidance --example bench_grammar --bin tandem` then
//! `target/release/examples/bench_grammar [--model PATH] [--threads N] [--runs N]`. Without the feature only
//! llama.cpp's sampler is measured. Results are recorded in docs/BENCHMARKS.md.

// Developer tools print their own reports; the user-facing printing path is src/text.rs.
#![allow(clippy::disallowed_macros)]

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use tandem::config::DEMO_MODEL_FILE;
use tandem::model::ChatMessage;
use tandem::model::local::{
    Constraint, EngineConfig, EngineHost, GenEvent, GenRequest, GrammarEngine, LocalEngine,
    SamplingParams, physical_cores,
};
use tandem::paths::Dirs;

#[derive(Parser)]
struct Args {
    /// GGUF file [default: the demo model in the cache dir].
    #[arg(long)]
    model: Option<PathBuf>,
    /// Threads [default: physical cores].
    #[arg(long)]
    threads: Option<u32>,
    /// Repetitions of each measurement; the median is reported.
    #[arg(long, default_value_t = 4)]
    runs: usize,
    /// Most tokens per reply.
    #[arg(long, default_value_t = 128)]
    max_tokens: u32,
}

/// One generation's time to its first text, decode rate and length.
struct Run {
    first_ms: f64,
    tps: f64,
    tokens: u32,
    valid: bool,
}

fn run(
    engine: &LocalEngine,
    prompt: &str,
    schema: Option<&serde_json::Value>,
    seed: u32,
    max: u32,
) -> anyhow::Result<Run> {
    engine.clear_cache()?;
    let mut request = GenRequest::chat(vec![ChatMessage::user(prompt)], max);
    request.sampling = SamplingParams {
        temperature: 0.8,
        seed: Some(seed),
        ..SamplingParams::greedy()
    };
    request.constraint = schema.map(|s| Constraint::JsonSchema(s.clone()));
    let started = Instant::now();
    let mut generation = engine.generate(request);
    let (mut first, mut text, mut stats) = (None, String::new(), None);
    while let Some(event) = generation.blocking_next() {
        match event {
            GenEvent::Text(t) => {
                first.get_or_insert_with(|| started.elapsed());
                text.push_str(&t);
            }
            GenEvent::Done { stats: s, .. } => stats = Some(s),
            GenEvent::Failed(e) => return Err(e.into()),
        }
    }
    let stats = stats.ok_or_else(|| anyhow::anyhow!("no Done event"))?;
    let valid = schema.is_none()
        || serde_json::from_str::<serde_json::Value>(&text).is_ok()
        || stats.generated_tokens >= max;
    Ok(Run {
        first_ms: first.unwrap_or_else(|| started.elapsed()).as_secs_f64() * 1000.0,
        tps: stats.decode_tps(),
        tokens: stats.generated_tokens,
        valid,
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let model = args
        .model
        .unwrap_or_else(|| Dirs::from_env().models().join(DEMO_MODEL_FILE));
    let threads = args
        .threads
        .unwrap_or_else(|| u32::try_from(physical_cores()).unwrap_or(1));
    let tool_request = tandem::model::ChatRequest {
        tools: tandem::tools::specs(tandem::tools::ToolSet::Executor),
        tool_choice: tandem::model::ToolChoice::Required,
        ..Default::default()
    };
    let cases = [
        (
            "tool call",
            "Call write_file to create story.txt holding a long story about a lighthouse keeper.",
            tandem::model::local_provider::tool_reply_schema(&tool_request),
        ),
        (
            "plan",
            "Plan, as JSON, how to add a --verbose flag to a small Python command-line tool with tests.",
            tandem::protocol::Plan::json_schema(),
        ),
    ];
    let engines: &[GrammarEngine] = if cfg!(feature = "llguidance") {
        &[GrammarEngine::LlamaCpp, GrammarEngine::Llguidance]
    } else {
        &[GrammarEngine::LlamaCpp]
    };
    println!(
        "model: {} · threads {threads} · runs {} · up to {} tokens",
        model.display(),
        args.runs,
        args.max_tokens
    );
    println!(
        "\n| schema | decoded by | first token, cold grammar | first token, later | tok/s constrained | tok/s free | constrained / free | tokens | valid JSON |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for &grammar_engine in engines {
        let mut config = EngineConfig::for_model(&model);
        config.threads = threads;
        config.context_size = 4096;
        config.grammar_engine = grammar_engine;
        let beside = std::env::current_exe()?
            .parent()
            .and_then(|examples| examples.parent())
            .map(|profile| profile.join("tandem"));
        config.host = EngineHost::Process(beside);
        let engine = LocalEngine::load(config)?;
        for (name, prompt, schema) in &cases {
            let cold = run(&engine, prompt, Some(schema), 0, args.max_tokens)?;
            let (mut first, mut tps, mut free, mut tokens, mut valid) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new(), cold.valid);
            for r in 0..args.runs {
                let seed = r as u32 + 1;
                let c = run(&engine, prompt, Some(schema), seed, args.max_tokens)?;
                let f = run(&engine, prompt, None, seed, args.max_tokens)?;
                first.push(c.first_ms);
                tps.push(c.tps);
                free.push(f.tps);
                tokens.push(c.tokens);
                valid &= c.valid;
            }
            let (tps, free) = (median(tps), median(free));
            println!(
                "| {name} | {grammar_engine:?} | {:.0} ms | {:.0} ms | {tps:.1} | {free:.1} | {:.2} | {tokens:?} | {} |",
                cold.first_ms,
                median(first),
                tps / free,
                if valid { "all" } else { "NOT ALL" }
            );
        }
    }
    Ok(())
}
