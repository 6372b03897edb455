//! Benchmark of drawing the transcript while a reply streams in: a conversation of earlier model replies
//! (markdown with lists, inline code and fenced code blocks), then one reply streamed token by token with a full
//! frame drawn after each, as the UI draws while a model answers.
//!
//! Run: `cargo run --release --example bench_transcript -- [--replies 100] [--tokens 400]`. Results are recorded
//! in docs/BENCHMARKS.md.

// Developer tools print their own reports; the user-facing printing path is src/text.rs.
#![allow(clippy::disallowed_macros)]

use std::time::Instant;

use clap::Parser;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tandem::protocol::{EventMsg, RouteRole};
use tandem::tui::app::App;
use tandem::tui::theme::Theme;
use tandem::tui::view;

#[derive(Parser)]
struct Args {
    /// Earlier replies in the transcript.
    #[arg(long, default_value_t = 100)]
    replies: usize,
    /// Tokens of the reply streamed while frames are drawn.
    #[arg(long, default_value_t = 400)]
    tokens: usize,
}

const REPLY: &str = "## Step 2: fix the parser\n\nThe bug is in `parse_args`: it reads **one** flag too many.\n\n1. read `src/cli.rs`\n2. change the loop\n   - keep `--help` first\n3. run the tests\n\n```rust\nfn parse_args(argv: &[String]) -> Result<Args, Error> {\n    let mut args = Args::default();\n    for (i, a) in argv.iter().enumerate().skip(1) {\n        // flags first\n        if a == \"--verbose\" { args.verbose = true; }\n    }\n    Ok(args)\n}\n```\n\n| file | change |\n|---|---|\n| src/cli.rs | loop bound |\n";

fn main() {
    let args = Args::parse();
    let theme = Theme::default();
    let mut app = App::new("/home/dev/project", "dark", 32_768, None);
    for i in 0..args.replies {
        app.event(&EventMsg::Text {
            role: RouteRole::Executor,
            text: format!("{REPLY}\nReply {i}."),
        });
        app.user("next");
    }
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).expect("a test terminal");
    let pieces: Vec<String> = REPLY
        .split_inclusive([' ', '\n'])
        .map(str::to_string)
        .collect();
    let mut times = Vec::with_capacity(args.tokens);
    for i in 0..args.tokens {
        app.event(&EventMsg::Text {
            role: RouteRole::Executor,
            text: pieces[i % pieces.len()].clone(),
        });
        let t = Instant::now();
        terminal
            .draw(|f| view::draw(f, &app, &theme))
            .expect("a frame");
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
    println!(
        "{} earlier replies, {} frames at 120x40: median {:.2} ms, p90 {:.2} ms, max {:.2} ms per frame",
        args.replies,
        times.len(),
        at(0.5),
        at(0.9),
        at(1.0)
    );
}
