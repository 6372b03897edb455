//! Benchmark of the interactive UI under tmux: time from process start to the first frame drawn (the UI logs
//! it), and CPU used while idle (no session running, no model loading: the model path points nowhere, so the
//! background load fails at once).
//!
//! Run: `cargo build --release && cargo run --release --example bench_tui -- [--bin target/release/tandem]
//! [--runs 5] [--idle-secs 10]`. Needs tmux. Results are recorded in docs/BENCHMARKS.md.

// Developer tools print their own reports; the user-facing printing path is src/text.rs.
#![allow(clippy::disallowed_macros)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use clap::Parser;

#[derive(Parser)]
struct Args {
    /// The tandem binary.
    #[arg(long, default_value = "target/release/tandem")]
    bin: PathBuf,
    /// Runs; the median first frame is reported.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Seconds of idle CPU measured per run.
    #[arg(long, default_value_t = 10)]
    idle_secs: u64,
}

fn tmux(args: &[&str]) -> String {
    let out = Command::new("tmux").args(args).output().expect("tmux runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn first_frame_ms(logs: &Path) -> Option<f64> {
    for e in std::fs::read_dir(logs).ok()?.flatten() {
        let text = std::fs::read_to_string(e.path()).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains("first frame drawn")) {
            let v = line.split("first_frame_ms=").nth(1)?;
            return v.split_whitespace().next()?.parse().ok();
        }
    }
    None
}

fn cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit(')').next()?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name.
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn main() {
    let args = Args::parse();
    let bin =
        std::fs::canonicalize(&args.bin).expect("the tandem binary exists (cargo build --release)");
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let mut frames = Vec::new();
    let mut idle = Vec::new();
    for run in 0..args.runs {
        let dir = tempfile::tempdir().expect("temp dir");
        let ws = dir.path().join("ws");
        std::fs::create_dir_all(&ws).unwrap();
        std::fs::write(ws.join("main.py"), "print('hi')\n").unwrap();
        let name = format!("tandem-bench-{}-{run}", std::process::id());
        let cmd = format!(
            "exec env TERM=xterm-256color TANDEM_STATE_DIR={d}/state TANDEM_CONFIG_DIR={d}/config TANDEM_DATA_DIR={d}/data TANDEM_CACHE_DIR={d}/cache {bin} -C {ws} --model {d}/none.gguf",
            d = dir.path().display(),
            bin = bin.display(),
            ws = ws.display()
        );
        tmux(&[
            "new-session",
            "-d",
            "-s",
            &name,
            "-x",
            "100",
            "-y",
            "30",
            &cmd,
        ]);
        let logs = dir.path().join("state/logs");
        let deadline = Instant::now() + Duration::from_secs(20);
        let frame = loop {
            if let Some(ms) = first_frame_ms(&logs) {
                break ms;
            }
            assert!(Instant::now() < deadline, "no first frame logged");
            std::thread::sleep(Duration::from_millis(20));
        };
        frames.push(frame);
        let pid = tmux(&["list-panes", "-t", &name, "-F", "#{pane_pid}"])
            .trim()
            .to_string();
        // Let the failed model load and its redraw settle, then measure a quiet period.
        std::thread::sleep(Duration::from_secs(1));
        let t0 = cpu_ticks(&pid).expect("the UI's process");
        let started = Instant::now();
        std::thread::sleep(Duration::from_secs(args.idle_secs));
        let t1 = cpu_ticks(&pid).expect("the UI's process");
        let pct = (t1 - t0) as f64 / hz / started.elapsed().as_secs_f64() * 100.0;
        idle.push(pct);
        tmux(&["kill-session", "-t", &name]);
        println!("run {run}: first frame {frame:.1} ms, idle CPU {pct:.2} %");
    }
    frames.sort_by(f64::total_cmp);
    idle.sort_by(f64::total_cmp);
    println!(
        "median: first frame {:.1} ms, idle CPU {:.2} % of one core (over {} s)",
        frames[frames.len() / 2],
        idle[idle.len() / 2],
        args.idle_secs
    );
}
