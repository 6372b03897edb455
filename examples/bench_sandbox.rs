//! Benchmark of starting a command: the median wall time of `true` run by the shell runner with the sandbox
//! off, and in the sandbox this machine gives (bubblewrap namespaces, or the Landlock fallback), next to a
//! bare `sh -c true` spawn. Each run includes everything tandem does per command (preparing the view, the
//! cgroups, the seccomp pipe, waiting, the guard's look before and after), and the guard alone (recording the
//! guarded paths and instruction files, then comparing them), in an empty folder or in `--workspace`.
//!
//! Run: `cargo run --release --example bench_sandbox -- [--runs 50] [--workspace DIR]`. Results are in
//! docs/BENCHMARKS.md.

// Developer tools print their own reports; the user-facing printing path is src/text.rs.
#![allow(clippy::disallowed_macros)]

use std::time::{Duration, Instant};

use clap::Parser;
use tandem::sandbox::{Sandbox, SandboxMode, SandboxSettings};

#[derive(Parser)]
struct Args {
    /// Runs per case (the first is a warm-up and not counted).
    #[arg(long, default_value_t = 50)]
    runs: usize,
    /// Run the commands in this folder (default: a new empty one).
    #[arg(long)]
    workspace: Option<std::path::PathBuf>,
}

fn summary(name: &str, mut times: Vec<Duration>) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let median = times[times.len() / 2];
    let p10 = times[times.len() / 10];
    let p90 = times[times.len() * 9 / 10];
    println!(
        "{name:<34} median {:>7.2} ms   p10 {:>7.2} ms   p90 {:>7.2} ms   (n = {})",
        ms(median),
        ms(p10),
        ms(p90),
        times.len()
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runs = args.runs.max(2);
    let empty = tempfile::tempdir()?;
    let dir_path = args
        .workspace
        .clone()
        .unwrap_or_else(|| empty.path().to_path_buf());
    let dir = &dir_path;
    println!("workspace: {}", dir.display());
    let mut bare = Vec::new();
    for i in 0..runs {
        let t = Instant::now();
        let ok = std::process::Command::new("/bin/sh")
            .args(["-c", "true"])
            .current_dir(dir)
            .status()?
            .success();
        anyhow::ensure!(ok, "sh -c true failed");
        if i > 0 {
            bare.push(t.elapsed());
        }
    }
    summary("bare spawn (sh -c true)", bare);
    for (name, mode) in [
        ("runner, sandbox off", SandboxMode::Off),
        ("runner, sandbox on", SandboxMode::Auto),
    ] {
        let sandbox = Sandbox::new(
            dir,
            SandboxSettings {
                mode,
                max_processes: 1024,
                max_memory_mb: 8192,
                max_file_size_mb: 4096,
                ..SandboxSettings::default()
            },
        )?;
        if mode != SandboxMode::Off {
            println!("sandbox here: {}", sandbox.enforcement().describe());
        }
        let mut times = Vec::new();
        for i in 0..runs {
            let t = Instant::now();
            let out = sandbox.run("true", Duration::from_secs(30)).await?;
            anyhow::ensure!(out.success(), "{name}: {}", out.output);
            if i > 0 {
                times.push(t.elapsed());
            }
        }
        summary(name, times);
    }
    let sandbox = Sandbox::new(dir, SandboxSettings::default())?;
    let mut times = Vec::new();
    for i in 0..runs {
        let t = Instant::now();
        let restored = sandbox.snapshot().restore();
        anyhow::ensure!(restored.is_empty(), "the guard put back {restored:?}");
        if i > 0 {
            times.push(t.elapsed());
        }
    }
    summary("guard alone (before + after)", times);
    Ok(())
}
