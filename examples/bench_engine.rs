//! Benchmark of the local engine on a GGUF (the demo model by default): prefill and decode speed, decode under
//! the executor's tool grammar against free decoding of the same prompt, and time-to-first-token of turns 2 and
//! 3 against turn 1 in a conversation sharing a prefix of 1,500+ tokens, and a reply that writes a file back whole
//! with one change (what a whole-file step decodes), where prompt-lookup drafts apply.
//!
//! Run: `cargo run --release --example bench_engine -- [--model PATH] [--threads N] [--runs N] [--draft N] [--no-conversation] [--in-process]`
//! (build the tandem binary first: the engine runs in its worker process unless `--in-process`).
//! Results and the machine they came from are recorded in docs/BENCHMARKS.md.

// Developer tools print their own reports; the user-facing printing path is src/text.rs.
#![allow(clippy::disallowed_macros)]

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use tandem::config::DEMO_MODEL_FILE;
use tandem::model::ChatMessage;
use tandem::model::local::{
    AlternativeRequest, Completion, Constraint, EngineConfig, EngineHost, GenRequest, LocalEngine,
    Prompt, SamplingParams, llama_system_info, physical_cores,
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
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Leave out the conversation (time-to-first-token) measurement, the longest on a large model.
    #[arg(long)]
    no_conversation: bool,
    /// Most prompt-lookup draft tokens per step (`local.draft_tokens`; 0: none) [default: tandem's default].
    #[arg(long)]
    draft: Option<u32>,
    /// Run llama.cpp on a thread of this process instead of tandem's worker process (to measure what the
    /// process boundary costs).
    #[arg(long)]
    in_process: bool,
    /// The tandem binary whose worker process runs the engine [default: `tandem` beside this example's
    /// directory, i.e. target/<profile>/tandem].
    #[arg(long)]
    worker: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let model = args
        .model
        .unwrap_or_else(|| Dirs::from_env().models().join(DEMO_MODEL_FILE));
    let threads = args
        .threads
        .unwrap_or_else(|| u32::try_from(physical_cores()).unwrap_or(1));
    let mut config = EngineConfig::for_model(&model);
    config.threads = threads;
    config.context_size = 4096;
    if let Some(draft) = args.draft {
        config.draft_tokens = draft;
    }
    config.host = if args.in_process {
        EngineHost::InProcess
    } else {
        let beside = std::env::current_exe()?
            .parent()
            .and_then(|examples| examples.parent())
            .map(|profile| profile.join("tandem"));
        EngineHost::Process(args.worker.or(beside))
    };
    let host = config.host.clone();
    let draft = config.draft_tokens;
    let engine = LocalEngine::load(config)?;
    println!("engine:   {host:?}");
    println!("compute:  {}", engine.info().compute);
    println!(
        "model:    {} ({})",
        model.display(),
        engine.info().description
    );
    println!(
        "threads:  {threads}, context {}, batch 512, drafts of up to {draft} tokens",
        engine.info().n_ctx
    );
    println!("llama.cpp: {}", llama_system_info());
    println!("load:     {:.3} s", engine.info().load_time.as_secs_f64());

    // Prefill: a 512-token raw prompt from an empty cache (the shape of llama-bench's pp512).
    let pp_prompt = tokens_of(&engine, 512)?;
    let mut pp = Vec::new();
    for _ in 0..args.runs {
        engine.clear_cache()?;
        let done = engine.complete(raw(&pp_prompt, 1))?;
        assert_eq!(done.stats.prefilled_tokens, done.stats.prompt_tokens);
        pp.push(done.stats.prefilled_tokens as f64 / done.stats.prefill.as_secs_f64());
    }
    // Decode: 128 tokens after a short prompt (llama-bench's tg128 decodes from an empty context).
    let mut tg = Vec::new();
    let mut tg_tokens = Vec::new();
    // The same generations as the session receives them: first text event and the stream's rate after it.
    let (mut client_ttft, mut client_tg) = (Vec::new(), Vec::new());
    for run in 0..args.runs {
        engine.clear_cache()?;
        let mut request = GenRequest::chat(
            vec![ChatMessage::user("Write a long story about a lighthouse.")],
            128,
        );
        request.sampling = SamplingParams {
            temperature: 0.8,
            seed: Some(run as u32),
            ..SamplingParams::greedy()
        };
        let started = std::time::Instant::now();
        let mut generation = engine.generate(request);
        let mut first = None;
        let mut stats = None;
        while let Some(event) = generation.blocking_next() {
            match event {
                tandem::model::local::GenEvent::Text(_) => {
                    first.get_or_insert_with(|| started.elapsed());
                }
                tandem::model::local::GenEvent::Done { stats: s, .. } => stats = Some(s),
                tandem::model::local::GenEvent::Failed(e) => return Err(e.into()),
            }
        }
        let wall = started.elapsed();
        let stats = stats.ok_or_else(|| anyhow::anyhow!("no Done event"))?;
        let first = first.unwrap_or(wall);
        client_ttft.push(first.as_secs_f64() * 1000.0);
        client_tg.push(
            f64::from(stats.generated_tokens.saturating_sub(1)) / (wall - first).as_secs_f64(),
        );
        tg_tokens.push(stats.generated_tokens);
        tg.push(stats.decode_tps());
    }
    // Decode under the executor's tool-call grammar (every tool's arguments schema, one call) against the same
    // prompt decoded freely: what the grammar costs per token on this model's vocabulary.
    let tool_request = tandem::model::ChatRequest {
        tools: tandem::tools::specs(tandem::tools::ToolSet::Executor),
        tool_choice: tandem::model::ToolChoice::Required,
        ..Default::default()
    };
    let schema = tandem::model::local_provider::tool_reply_schema(&tool_request);
    let story =
        "Call write_file to create story.txt holding a long story about a lighthouse keeper.";
    let mut constrained = Vec::new();
    let mut free = Vec::new();
    let mut lengths = (Vec::new(), Vec::new());
    // The whole-file reply grammar (a path line, then a fenced block) on a prompt asking for one file whole:
    // what a local step's first reply decodes under.
    let whole_grammar = tandem::edit::format::fenced::grammar(&["story.txt".to_string()]);
    let whole_prompt = "Reply with the path story.txt on a line, then a fenced block holding a long story \
                        about a lighthouse keeper.";
    let mut whole = Vec::new();
    let mut whole_lengths = Vec::new();
    for run in 0..args.runs {
        engine.clear_cache()?;
        let mut request = GenRequest::chat(vec![ChatMessage::user(whole_prompt)], 128);
        request.sampling = SamplingParams {
            temperature: 0.8,
            seed: Some(run as u32),
            ..SamplingParams::greedy()
        };
        request.constraint = Some(Constraint::Gbnf(whole_grammar.clone()));
        let done = engine.complete(request)?;
        whole_lengths.push(done.stats.generated_tokens);
        whole.push(done.stats.decode_tps());
    }
    // The same, with two replies sampled beside the main one in the same batches (what a whole-file step asks
    // for): tokens of all three per second of decoding, and the main reply's own rate; even runs under the
    // grammar, odd runs without it.
    let (mut alt_total, mut alt_main, mut alt_lengths) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..args.runs {
        engine.clear_cache()?;
        let mut request = GenRequest::chat(vec![ChatMessage::user(whole_prompt)], 128);
        let hot = |seed: u32| SamplingParams {
            temperature: 0.8,
            seed: Some(seed),
            ..SamplingParams::greedy()
        };
        request.sampling = hot(run as u32);
        request.alternatives = vec![
            AlternativeRequest::same_prompt(hot(1000 + run as u32)),
            AlternativeRequest::same_prompt(hot(2000 + run as u32)),
        ];
        // Every other run without the grammar: what the three samplers cost against the batch itself.
        if run % 2 == 0 {
            request.constraint = Some(Constraint::Gbnf(whole_grammar.clone()));
        }
        let done = engine.complete(request)?;
        let all = done.stats.generated_tokens + done.stats.alternative_tokens;
        alt_lengths.push(all);
        alt_total.push(f64::from(all) / done.stats.decode.as_secs_f64().max(1e-9));
        alt_main.push(done.stats.decode_tps());
    }
    // A file written back whole with one change, greedy, under the whole-file grammar: the reply copies most of
    // its prompt, which is where prompt-lookup drafts pay.
    let todo = include_str!("todo-cli/todo.py");
    let copy_request = GenRequest {
        max_tokens: 700,
        constraint: Some(Constraint::Gbnf(tandem::edit::format::fenced::grammar(&[
            "todo.py".to_string(),
        ]))),
        ..GenRequest::chat(
            vec![
                ChatMessage::system(
                    "You write files whole: a path on a line, then a fenced block with every line of the file.",
                ),
                ChatMessage::user(format!(
                    "Rename the function `render` to `format_items` everywhere in todo.py.\n\n{}",
                    tandem::edit::format::fenced::render("todo.py", "python", todo)
                )),
            ],
            700,
        )
    };
    let (mut copy, mut copy_stats) = (Vec::new(), Vec::new());
    for _ in 0..args.runs {
        engine.clear_cache()?;
        let done = engine.complete(copy_request.clone())?;
        copy.push(done.stats.decode_tps());
        copy_stats.push((
            done.stats.generated_tokens,
            done.stats.draft_accepted,
            done.stats.draft_tokens,
        ));
    }
    for run in 0..args.runs {
        for grammar in [true, false] {
            engine.clear_cache()?;
            let mut request = GenRequest::chat(vec![ChatMessage::user(story)], 128);
            request.sampling = SamplingParams {
                temperature: 0.8,
                seed: Some(run as u32),
                ..SamplingParams::greedy()
            };
            if grammar {
                request.constraint = Some(Constraint::JsonSchema(schema.clone()));
            }
            let done = engine.complete(request)?;
            if grammar {
                lengths.0.push(done.stats.generated_tokens);
                constrained.push(done.stats.decode_tps());
            } else {
                lengths.1.push(done.stats.generated_tokens);
                free.push(done.stats.decode_tps());
            }
        }
    }

    println!("\n| measurement | median | runs |");
    println!("|---|---|---|");
    println!(
        "| prefill, 512-token prompt, cold cache | {:.1} tok/s | {} |",
        median(&mut pp),
        list(&pp)
    );
    println!(
        "| decode, up to 128 tokens (got {:?}) | {:.1} tok/s | {} |",
        tg_tokens,
        median(&mut tg),
        list(&tg)
    );
    println!(
        "| the same, as the session receives it: time to the first text | {:.1} ms | {} |",
        median(&mut client_ttft),
        list(&client_ttft)
    );
    println!(
        "| the same, as the session receives it: text events after the first | {:.1} tok/s | {} |",
        median(&mut client_tg),
        list(&client_tg)
    );
    println!(
        "| decode under the executor's tool grammar (got {:?}) | {:.1} tok/s | {} |",
        lengths.0,
        median(&mut constrained),
        list(&constrained)
    );
    println!(
        "| decode, same prompt, no grammar (got {:?}) | {:.1} tok/s | {} |",
        lengths.1,
        median(&mut free),
        list(&free)
    );
    println!(
        "| decode under the whole-file reply grammar (got {:?}) | {:.1} tok/s | {} |",
        whole_lengths,
        median(&mut whole),
        list(&whole)
    );
    println!(
        "| the same with 2 replies sampled beside it, all three's tokens (got {:?}; odd runs without the grammar) | {:.1} tok/s | {} |",
        alt_lengths,
        median(&mut alt_total),
        list(&alt_total)
    );
    println!(
        "| the same, the main reply's tokens per second of the batch | {:.1} tok/s | {} |",
        median(&mut alt_main),
        list(&alt_main)
    );
    println!(
        "| a file written back whole with one change, greedy (tokens, draft tokens taken / decoded: {:?}) | {:.1} tok/s | {} |",
        copy_stats,
        median(&mut copy),
        list(&copy)
    );

    if args.no_conversation {
        return Ok(());
    }
    // A conversation: turn 1 prefills the long shared prefix; turns 2 and 3 reuse it.
    let names = [
        "turn 1",
        "turn 2",
        "turn 3",
        "turn 2, cache cleared (no reuse)",
    ];
    let mut rows: Vec<(String, Vec<Completion>)> =
        names.iter().map(|n| (n.to_string(), Vec::new())).collect();
    for _ in 0..args.runs {
        engine.clear_cache()?;
        let mut messages = vec![ChatMessage::system(long_system_prompt())];
        let mut turn2 = Vec::new();
        for (i, question) in [
            "Which note mentions stage 7?",
            "And stage 12?",
            "And stage 30?",
        ]
        .iter()
        .enumerate()
        {
            messages.push(ChatMessage::user(*question));
            if i == 1 {
                turn2 = messages.clone();
            }
            let done = engine.complete(GenRequest::chat(messages.clone(), 16))?;
            messages.push(ChatMessage::assistant(done.text.clone()));
            rows[i].1.push(done);
        }
        engine.clear_cache()?;
        rows[3]
            .1
            .push(engine.complete(GenRequest::chat(turn2, 16))?);
    }
    println!(
        "\n| conversation | prompt tokens | reused | prefilled | time to first token (median) |"
    );
    println!("|---|---|---|---|---|");
    for (name, runs) in &rows {
        let s = &runs[0].stats;
        let mut ttft: Vec<f64> = runs
            .iter()
            .map(|c| ms(c.stats.time_to_first_token))
            .collect();
        println!(
            "| {name} | {} | {} | {} | {:.1} ms |",
            s.prompt_tokens,
            s.reused_tokens,
            s.prefilled_tokens,
            median(&mut ttft)
        );
    }
    Ok(())
}

fn raw(prompt: &str, max_tokens: u32) -> GenRequest {
    GenRequest {
        prompt: Prompt::Raw(prompt.into()),
        ..GenRequest::chat(Vec::new(), max_tokens)
    }
}

/// Text of about `n` tokens (checked with the engine's own tokenizer).
fn tokens_of(engine: &LocalEngine, n: usize) -> anyhow::Result<String> {
    let mut text = String::new();
    let mut i = 0;
    while engine.count_tokens(Prompt::Raw(text.clone()))? < n {
        text.push_str(&format!("item {i} of the list is a plain word. "));
        i += 1;
    }
    Ok(text)
}

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

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn list(v: &[f64]) -> String {
    v.iter()
        .map(|x| format!("{x:.0}"))
        .collect::<Vec<_>>()
        .join(", ")
}
