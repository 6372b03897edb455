//! Benchmark of the repo map on a large source tree: wall time and peak memory (max RSS) of a cold build
//! (no cache: walk, parse every file, write the cache), a warm build (nothing changed: walk and cache load
//! only), a build after one file changed, ranking + rendering a 1,024-token map, and the same map asked for again
//! (`cached`: answered from the render cache, what a warm `tandem map` costs).
//!
//! Run: `cargo run --release --example bench_repomap -- --root DIR [--phase cold|warm|touch|render|cached]`
//! `--phase comments` needs no tree: it writes Python files with long comment blocks (1k, 2k, 4k, 9k lines,
//! then six 9k-line files) to a temp dir and times a cold map of each, the shape that once parsed in n².
//! Each phase is best run in its own process so its peak memory is its own; without `--phase` all run in
//! order in this one. Results are recorded in docs/BENCHMARKS.md.

// Developer tools print their own reports; the user-facing printing path is src/text.rs.
#![allow(clippy::disallowed_macros)]

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use tandem::repomap::RepoMap;

#[derive(Parser)]
struct Args {
    /// The tree to map (not needed by `--phase comments`).
    #[arg(long, default_value = ".")]
    root: PathBuf,
    /// Where the tag cache goes [default: a file in the system temp dir named after the root].
    #[arg(long)]
    cache: Option<PathBuf>,
    /// One phase: cold, warm, touch or render.
    #[arg(long)]
    phase: Option<String>,
}

fn max_rss_mib() -> f64 {
    // SAFETY: getrusage fills the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    usage.ru_maxrss as f64 / 1024.0
}

fn report(phase: &str, map: &RepoMap, secs: f64) {
    let s = &map.stats;
    let source = map
        .files
        .iter()
        .filter(|f| !f.tags.defs.is_empty() || !f.tags.refs.is_empty())
        .count();
    println!(
        "{phase:<7} {secs:>8.3} s  peak {:>7.1} MiB  files {:>6} (with tags {source}), parsed {:>6}, cached {:>6}; walk {} ms, cache load {} ms, parse {} ms, store {} ms",
        max_rss_mib(),
        s.files,
        s.parsed,
        s.cached,
        s.walk_ms,
        s.load_ms,
        s.parse_ms,
        s.store_ms
    );
}

fn main() {
    let args = Args::parse();
    let cache = args.cache.clone().unwrap_or_else(|| {
        let name: String = args
            .root
            .display()
            .to_string()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        std::env::temp_dir().join(format!("tandem-bench-repomap-{name}.sqlite"))
    });
    let phases: Vec<&str> = match args.phase.as_deref() {
        Some(p) => vec![p],
        None => vec!["cold", "warm", "touch", "render", "cached"],
    };
    for phase in phases {
        match phase {
            "cold" => {
                for ext in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{ext}", cache.display()));
                }
                let t = Instant::now();
                let map = RepoMap::build(&args.root, Some(&cache));
                report("cold", &map, t.elapsed().as_secs_f64());
            }
            "warm" => {
                let t = Instant::now();
                let map = RepoMap::build(&args.root, Some(&cache));
                report("warm", &map, t.elapsed().as_secs_f64());
            }
            "touch" => {
                // Re-parse exactly one file: drop its row by giving the cache a stale key.
                let map = RepoMap::build(&args.root, Some(&cache));
                let Some(f) = map.files.iter().find(|f| !f.tags.defs.is_empty()) else {
                    eprintln!("no source file to touch");
                    return;
                };
                let path = args.root.join(&f.path);
                let text = std::fs::read(&path).unwrap_or_default();
                let mut changed = text.clone();
                changed.extend_from_slice(b"\n");
                if std::fs::write(&path, &changed).is_err() {
                    eprintln!("{} is not writable; skipping touch", path.display());
                    continue;
                }
                let t = Instant::now();
                let map = RepoMap::build(&args.root, Some(&cache));
                let secs = t.elapsed().as_secs_f64();
                let _ = std::fs::write(&path, &text);
                report("touch", &map, secs);
            }
            "render" => {
                let map = RepoMap::build(&args.root, Some(&cache));
                let t = Instant::now();
                let focus = map.focus("parse the config and report errors with line numbers");
                let text = map.render(&focus, 1024, &|_| true);
                println!(
                    "render  {:>8.3} s  peak {:>7.1} MiB  ({} chars of map over {} files)",
                    t.elapsed().as_secs_f64(),
                    max_rss_mib(),
                    text.len(),
                    map.files.len()
                );
            }
            "cached" => {
                // What a warm `tandem map` costs: the same question twice; the second is answered from the
                // render cache (a walk and one lookup).
                let question = "parse the config and report errors with line numbers";
                let _ = tandem::repomap::render_cached(
                    &args.root,
                    Some(&cache),
                    question,
                    1024,
                    &|_| true,
                );
                let t = Instant::now();
                let (text, s) = tandem::repomap::render_cached(
                    &args.root,
                    Some(&cache),
                    question,
                    1024,
                    &|_| true,
                );
                println!(
                    "cached  {:>8.3} s  peak {:>7.1} MiB  ({} chars, from the render cache: {}; walk {} ms)",
                    t.elapsed().as_secs_f64(),
                    max_rss_mib(),
                    text.len(),
                    s.rendered_from_cache,
                    s.walk_ms
                );
            }
            "comments" => comment_blocks(),
            other => eprintln!("unknown phase {other}"),
        }
    }
}

/// A Python module whose one function opens with `lines` comment lines.
fn commented_module(lines: usize) -> String {
    let mut src = String::from("import os\n\n\nclass Store:\n    def load(self, path):\n");
    for i in 0..lines {
        src.push_str(&format!(
            "        # step {i}: explain what the next lines do and why\n"
        ));
    }
    src.push_str("        return os.path.exists(path)\n");
    src
}

fn comment_blocks() {
    let cases: [(&str, &[usize]); 5] = [
        ("1k", &[1_000]),
        ("2k", &[2_000]),
        ("4k", &[4_000]),
        ("9k", &[9_000]),
        ("6x9k", &[9_000; 6]),
    ];
    for (name, files) in cases {
        let Ok(dir) = tempfile::tempdir() else {
            eprintln!("no temp dir");
            return;
        };
        for (i, lines) in files.iter().enumerate() {
            if std::fs::write(
                dir.path().join(format!("m{i}.py")),
                commented_module(*lines),
            )
            .is_err()
            {
                eprintln!("cannot write to {}", dir.path().display());
                return;
            }
        }
        let t = Instant::now();
        let map = RepoMap::build(dir.path(), None);
        report(&format!("comments {name}"), &map, t.elapsed().as_secs_f64());
        // The same sources handed to tree-sitter-python as they are: what parsing cost before comment lines
        // were blanked for the parser.
        let mut parser = tree_sitter::Parser::new();
        if parser
            .set_language(&tree_sitter_python::LANGUAGE.into())
            .is_err()
        {
            continue;
        }
        let t = Instant::now();
        for lines in files {
            let _ = parser.parse(commented_module(*lines), None);
        }
        println!(
            "  raw tree-sitter parse of the same files: {:.3} s",
            t.elapsed().as_secs_f64()
        );
    }
}
