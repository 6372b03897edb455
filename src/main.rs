//! The `tandem` binary: parse the command line, set up logging and config, dispatch.

use std::process::ExitCode;

use clap::Parser;

use tandem::cli::{Cli, Command, TrustArgs, exit};
use tandem::config::{Config, LoadOptions};
use tandem::paths::Dirs;

fn main() -> ExitCode {
    tandem::model::local::openmp::settle_wait_policy();
    // The local engine's worker process (src/model/local/process.rs): the same binary, not a command for people.
    if std::env::args_os().nth(1).as_deref()
        == Some(std::ffi::OsStr::new(tandem::model::local::WORKER_ARG))
    {
        return tandem::model::local::serve_stdio();
    }
    tandem::logging::process_start();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tandem::errln!("tandem: cannot start the async runtime: {e}");
            return ExitCode::from(exit::FAILED);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            tandem::errln!("tandem: {}", tandem::text::terminal_safe(&format!("{e:#}")));
            ExitCode::from(exit::FAILED)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<u8> {
    let dirs = Dirs::from_env();
    let log_dir = dirs.logs();
    // Logging is best-effort: a read-only state dir must not stop the tool.
    let _log = match tandem::logging::init(&log_dir) {
        Ok(guard) => Some(guard),
        Err(e) => {
            tandem::errln!("tandem: warning: no log file ({}: {e})", log_dir.display());
            None
        }
    };
    match &cli.command {
        Some(Command::Completions(args)) => {
            tandem::cli::completions(args.shell, &mut std::io::stdout());
            return Ok(exit::OK);
        }
        Some(Command::Config(_)) => {
            tandem::outln!("{}", tandem::cli::config_schema());
            return Ok(exit::OK);
        }
        Some(Command::Man) => match tandem::cli::man_page(&mut std::io::stdout()) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
            _ => return Ok(exit::OK),
        },
        _ => {}
    }
    let workspace = match (&cli.command, &cli.global.workspace) {
        (Some(Command::Trust(TrustArgs { dir: Some(dir), .. })), _) | (_, Some(dir)) => {
            match std::fs::canonicalize(dir) {
                Ok(dir) if dir.is_dir() => dir,
                Ok(_) => {
                    tandem::errln!(
                        "tandem: workspace {}: not a directory",
                        tandem::text::terminal_safe(&dir.display().to_string())
                    );
                    return Ok(exit::USAGE);
                }
                Err(e) => {
                    tandem::errln!(
                        "tandem: workspace {}: {e}",
                        tandem::text::terminal_safe(&dir.display().to_string())
                    );
                    return Ok(exit::USAGE);
                }
            }
        }
        _ => std::env::current_dir()?,
    };
    let load = || {
        Config::load(LoadOptions::from_process(
            workspace.clone(),
            cli.global.overrides(),
        ))
    };
    let mut config = match load() {
        Ok(config) => config,
        Err(e) => {
            tandem::errln!("tandem: {}", tandem::text::terminal_safe(&e.to_string()));
            return Ok(exit::USAGE);
        }
    };
    if let Some(Command::Trust(args)) = &cli.command {
        return tandem::trust_cmd::run(&config, args);
    }
    if cli.global.trust && !config.trust.state.is_trusted() {
        if let Err(e) = tandem::trust_cmd::grant(&config) {
            tandem::errln!("tandem: {}", tandem::text::terminal_safe(&e.to_string()));
            return Ok(exit::USAGE);
        }
        config = match load() {
            Ok(config) => config,
            Err(e) => {
                tandem::errln!("tandem: {}", tandem::text::terminal_safe(&e.to_string()));
                return Ok(exit::USAGE);
            }
        };
    }
    if !matches!(cli.command, None | Some(Command::Doctor(_))) {
        for line in config.trust.notices() {
            tandem::errln!("tandem: {}", tandem::text::terminal_safe(&line));
        }
    }
    tracing::info!(version = env!("CARGO_PKG_VERSION"), workspace = %config.workspace.display(), "start");
    match &cli.command {
        Some(Command::Exec(args)) => tandem::exec::run(config, &cli.global, args).await,
        Some(Command::Acp) => {
            let launcher = tandem::launch::Launcher::new(
                config,
                tandem::launch::Mode::Ui,
                cli.global.offline,
            )?;
            tandem::acp::serve(launcher).await?;
            Ok(exit::OK)
        }
        Some(Command::Doctor(args)) => {
            tandem::doctor::run(&config, &cli.global, args, &log_dir).await
        }
        Some(Command::Undo(args)) => tandem::exec::undo(&config, args),
        Some(Command::Sandbox(args)) => tandem::exec::sandbox(&config, args).await,
        Some(Command::Map(args)) => {
            let root = config.workspace.clone();
            let cache = (!args.no_cache).then(|| tandem::repomap::cache_path(&root));
            let (text, s) = tandem::repomap::render_cached(
                &root,
                cache.as_deref(),
                &args.focus,
                args.budget,
                &|_| true,
            );
            tandem::out!("{}", tandem::text::terminal_safe(&text));
            if s.rendered_from_cache {
                tandem::errln!(
                    "tandem map: {} files, nothing changed since this map was rendered: walk {} ms, the rest from the cache",
                    s.files,
                    s.walk_ms
                );
            } else {
                tandem::errln!(
                    "tandem map: {} files, {} parsed, {} from the cache; walk {} ms, cache {} ms, parse {} ms, store {} ms, rank and render {} ms",
                    s.files,
                    s.parsed,
                    s.cached,
                    s.walk_ms,
                    s.load_ms,
                    s.parse_ms,
                    s.store_ms,
                    s.render_ms
                );
            }
            Ok(tandem::cli::exit::OK)
        }
        Some(Command::Loop(args)) => tandem::exec::ralph::run(config, &cli.global, args).await,
        Some(Command::Spend(args)) => {
            let report = tandem::spend::report::run(&config.dirs.data, args.json)?;
            if args.json {
                tandem::out!("{}", tandem::text::json_terminal_safe(&report));
            } else {
                tandem::out!("{}", tandem::text::terminal_safe(&report));
            }
            Ok(exit::OK)
        }
        Some(Command::Trust(_) | Command::Completions(_) | Command::Man | Command::Config(_)) => {
            Ok(exit::OK)
        }
        Some(Command::Mcp(args)) => tandem::mcp_cmd::run(&config, args).await,
        None => {
            let start = tandem::tui::UiStart {
                task: cli.task.clone(),
                resume: cli.resume.clone(),
                continue_last: cli.continue_last,
            };
            tandem::tui::run(config, &cli.global, start).await
        }
    }
}
