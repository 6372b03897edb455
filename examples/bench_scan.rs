//! Benchmark of the sensitivity scan on a growing conversation: a session of 100 requests, each carrying every
//! earlier message plus one new one (source excerpts of this repository, as tool results carry them), timed as
//! the router scans each request before it may leave the machine. Prints the time of the 100th request and the
//! total of all 100.
//!
//! Run: `cargo run --release --example bench_scan -- [--messages 100] [--runs 5]`. Results are in
//! docs/BENCHMARKS.md.

// Developer tools print their own reports; the user-facing printing path is src/text.rs.
#![allow(clippy::disallowed_macros)]

use std::time::{Duration, Instant};

use clap::Parser;
use tandem::model::{ChatMessage, ChatRequest};
use tandem::router::sensitive::{Scanner, ScannerConfig};

#[derive(Parser)]
struct Args {
    /// Messages in the conversation (one request per message).
    #[arg(long, default_value_t = 100)]
    messages: usize,
    /// Sessions to time (the median is shown).
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Tool results as a session carries them: 4,000-character excerpts of the repository's own sources.
    let mut texts = Vec::new();
    for entry in ignore::Walk::new("src").flatten() {
        if entry.path().extension().is_some_and(|e| e == "rs")
            && let Ok(t) = std::fs::read_to_string(entry.path())
        {
            texts.push(t.chars().take(4_000).collect::<String>());
        }
    }
    anyhow::ensure!(!texts.is_empty(), "run it from the repository's root");
    let mut last = Vec::new();
    let mut total = Vec::new();
    for _ in 0..args.runs.max(1) {
        let scanner = Scanner::new(&ScannerConfig::default())?;
        let mut request = ChatRequest {
            messages: vec![
                ChatMessage::system("You plan."),
                ChatMessage::user("Fix it."),
            ],
            ..ChatRequest::default()
        };
        let mut sum = Duration::ZERO;
        let mut end = Duration::ZERO;
        for i in 0..args.messages {
            request.messages.push(ChatMessage::tool_result(
                format!("call_{i}"),
                texts[i % texts.len()].clone(),
            ));
            let t = Instant::now();
            let kinds = scanner.scan_request(&request);
            end = t.elapsed();
            sum += end;
            std::hint::black_box(kinds);
        }
        last.push(end);
        total.push(sum);
    }
    last.sort();
    total.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{} messages: request {} scanned in {:.2} ms (median of {}), the whole session {:.1} ms",
        args.messages,
        args.messages,
        ms(last[last.len() / 2]),
        last.len(),
        ms(total[total.len() / 2])
    );
    Ok(())
}
