//! Benchmark of the `grep` tool on a source tree: the median wall time of a pattern that matches often (the
//! output stops at the match cap), one that matches rarely and one that matches nothing (every file is read),
//! through the same dispatch the model's tool calls use.
//!
//! Run: `cargo run --release --example bench_grep -- --dir DIR [--runs 11]`. Results are in docs/BENCHMARKS.md.

// Developer tools print their own reports; the user-facing printing path is src/text.rs.
#![allow(clippy::disallowed_macros)]

use std::time::{Duration, Instant};

use clap::Parser;
use tandem::sandbox::Workspace;
use tandem::tools::{Action, ToolSet, dispatch};

#[derive(Parser)]
struct Args {
    /// The tree to search (it is the workspace).
    #[arg(long)]
    dir: std::path::PathBuf,
    /// Runs per pattern (the first is a warm-up and not counted).
    #[arg(long, default_value_t = 11)]
    runs: usize,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let ws = Workspace::new(&args.dir)?;
    println!("tree: {}", args.dir.display());
    for (name, pattern) in [
        ("frequent (`fn `)", r"fn "),
        ("rare (`fn main\\(`)", r"fn main\("),
        ("none", r"zq_no_such_identifier_qz"),
    ] {
        let call = serde_json::json!({ "pattern": pattern }).to_string();
        let mut times: Vec<Duration> = Vec::new();
        let mut lines = 0;
        for i in 0..args.runs.max(2) {
            let t = Instant::now();
            let out = match dispatch(&ws, ToolSet::Executor, "grep", &call) {
                Action::Output(text) => text,
                other => anyhow::bail!("grep failed: {other:?}"),
            };
            if i > 0 {
                times.push(t.elapsed());
            }
            lines = out.lines().count();
        }
        times.sort();
        println!(
            "{name:<24} median {:>9.1} ms   min {:>9.1} ms   ({lines} lines of output)",
            times[times.len() / 2].as_secs_f64() * 1000.0,
            times[0].as_secs_f64() * 1000.0
        );
    }
    Ok(())
}
