//! The escape suite for the namespace layer (issue #15): each attempt from the issue, run through the real
//! sandbox twice where the machine allows, as the user the tests run as (in process) and as an ordinary user
//! (the `tandem sandbox` binary under `setpriv`, with a user the suite creates when it runs as root), each
//! asserted refused by the layer docs/SANDBOX.md names, on the host's state and on the refusal itself. The
//! fixture lives under Cargo's target temp dir, not `/tmp`, so "outside the workspace" means files the view
//! binds read-only, not files hidden with the host's `/tmp`.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::escape_ns_attempts::attempts;
use tandem::protocol::CommandVerdict;
use tandem::sandbox::{
    CommandPolicy, CommandRules, Sandbox, SandboxMode, SandboxSettings, commands,
};

pub(super) const SECRET: &str = "NS-SECRET-CREDENTIAL-42";
pub(super) const KEY: &str = "sk-live-NS-ESCAPE-KEY-987654";
const USER: &str = "tandem-escape";

/// A workspace that is a git worktree, an outside directory with a victim file, a home with credentials,
/// and two Unix sockets outside the workspace.
pub(super) struct Fixture {
    _dir: tempfile::TempDir,
    pub(super) root: PathBuf,
    sockets: Vec<(PathBuf, UnixListener)>,
}

fn git(dir: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(ok.status.success(), "git {args:?}: {ok:?}");
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
        let main = root.join("main");
        std::fs::create_dir_all(&main).unwrap();
        git(&main, &["init", "-q"]);
        git(&main, &["commit", "-q", "--allow-empty", "-m", "init"]);
        git(&main, &["worktree", "add", "-q", "-b", "ws", "../ws"]);
        let ws = root.join("ws");
        std::fs::write(ws.join("AGENTS.md"), "Be careful.\n").unwrap();
        std::fs::write(ws.join("notes.txt"), "b\na\n").unwrap();
        std::fs::create_dir_all(root.join("outside")).unwrap();
        let victim = root.join("outside/victim.txt");
        std::fs::write(&victim, SECRET).unwrap();
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
        let home = root.join("home");
        for (rel, text) in [
            (".cargo/credentials.toml", SECRET),
            (".cargo/config.toml", "[build]\n"),
            (".gem/credentials", SECRET),
            (".m2/settings.xml", SECRET),
            (".config/git/credentials", SECRET),
            (".netrc", SECRET),
            (".npmrc", SECRET),
            (".pypirc", SECRET),
            (".docker/config.json", SECRET),
            (".ssh/id_rsa", SECRET),
        ] {
            let p = home.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        let mut sockets = Vec::new();
        let mut paths = vec![root.join("outside/agent.sock")];
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 && Path::new("/run").is_dir() {
            // One name per fixture: tests run in parallel in this process.
            static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            paths.push(PathBuf::from(format!(
                "/run/tandem-escape-{}-{n}.sock",
                std::process::id()
            )));
        }
        for p in paths {
            let _ = std::fs::remove_file(&p);
            let l = UnixListener::bind(&p).unwrap();
            l.set_nonblocking(true).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o777)).unwrap();
            sockets.push((p, l));
        }
        Fixture {
            _dir: dir,
            root,
            sockets,
        }
    }

    pub(super) fn ws(&self) -> PathBuf {
        self.root.join("ws")
    }

    pub(super) fn home(&self) -> PathBuf {
        self.root.join("home")
    }

    /// The environment tandem itself has: keys and the secrets of issue #14 included.
    fn env(&self) -> Vec<(OsString, OsString)> {
        let mut env: Vec<(OsString, OsString)> = vec![
            ("PATH".into(), std::env::var_os("PATH").unwrap_or_default()),
            ("HOME".into(), self.home().into()),
            ("LANG".into(), "C.UTF-8".into()),
        ];
        for k in [
            "OPENAI_API_KEY",
            "DATABASE_URL",
            "MYSQL_PWD",
            "GH_PAT",
            "CI_JOB_JWT",
            "DOCKER_AUTH_CONFIG",
            "SLACK_WEBHOOK_URL",
        ] {
            env.push((k.into(), KEY.into()));
        }
        env
    }

    pub(super) fn accepted(&self) -> bool {
        self.sockets.iter().any(|(_, l)| l.accept().is_ok())
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        for (p, _) in &self.sockets {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// What one attempt left: the command's output, and whether it ran at all.
pub(super) struct Ran {
    pub(super) output: String,
}

pub(super) type Check = fn(&Fixture, &Ran) -> Result<(), String>;

/// One attempt: a command (with `{ws}`, `{outside}`, `{sock}` filled in), what must hold after it, and the
/// layer that refuses it.
pub(super) struct Attempt {
    pub(super) name: &'static str,
    pub(super) layer: &'static str,
    pub(super) command: &'static str,
    pub(super) check: Check,
}

fn fill(f: &Fixture, command: &str) -> String {
    let sockets: Vec<String> = f
        .sockets
        .iter()
        .map(|(p, _)| format!("'{}'", p.display()))
        .collect();
    command
        .replace("{ws}", &f.ws().display().to_string())
        .replace("{outside}", &f.root.join("outside").display().to_string())
        .replace("{main}", &f.root.join("main").display().to_string())
        .replace("{socks}", &sockets.join(" "))
}

/// Attempts whose checks are proven by running them unconfined (the others would change the host: its clock,
/// its hostname, tandem's own limits, /usr).
const SAFE_UNCONFINED: &[&str] = &[
    "rewrite the worktree's .git file to a planted gitdir",
    "copy the gitdir, set core.fsmonitor, point .git at it",
    "rewrite commondir of the worktree's gitdir",
    "plant a hook and fsmonitor in the common git dir",
    "rewrite AGENTS.md by command",
    "chmod, chown, touch -d and setxattr on a file outside",
    "read credentials in the home directory (toolchain dirs included)",
    "connect to Unix sockets outside the workspace",
    "capabilities, bounding set, no_new_privs",
    "write a 20 MiB file with an 8 MiB limit",
];

/// Runs every attempt with `run`, each in a fresh fixture; returns the failures.
fn run_all(who: &str, run: impl FnMut(&Fixture, &str) -> Result<Ran, String>) -> Vec<String> {
    run_some(who, attempts(), run)
}

fn run_some(
    who: &str,
    attempts: Vec<Attempt>,
    mut run: impl FnMut(&Fixture, &str) -> Result<Ran, String>,
) -> Vec<String> {
    let mut failures = Vec::new();
    for a in attempts {
        let f = Fixture::new();
        let result = run(&f, &fill(&f, a.command)).and_then(|r| (a.check)(&f, &r));
        let status = if result.is_ok() { "refused" } else { "ESCAPED" };
        println!("{who:<9} {:<64} {:<56} {status}", a.name, a.layer);
        if let Err(why) = result {
            failures.push(format!("{who}: {}: {why}", a.name));
        }
    }
    failures
}

fn settings(env: Vec<(OsString, OsString)>) -> SandboxSettings {
    SandboxSettings {
        mode: SandboxMode::Required,
        max_processes: 256,
        max_memory_mb: 256,
        max_file_size_mb: 8,
        env: Some(env),
        ..SandboxSettings::default()
    }
}

/// Whether the namespace layer works here; prints why not (the fallback is tested in `escape.rs`).
fn namespaces_here() -> bool {
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::new(dir.path(), SandboxSettings::default()).unwrap();
    let e = sb.enforcement();
    if e.namespaces.is_empty() {
        super::support::skip(&format!("no namespace sandbox here: {:?}", e.warnings));
        return false;
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_escapes_are_refused_as_the_user_the_suite_runs_as() {
    if !namespaces_here() {
        return;
    }
    // SAFETY: geteuid has no preconditions.
    let who = if unsafe { libc::geteuid() } == 0 {
        "root"
    } else {
        "user"
    };
    let handle = tokio::runtime::Handle::current();
    let failures = tokio::task::spawn_blocking(move || {
        run_all(who, |f, cmd| {
            let sb = Sandbox::new(&f.ws(), settings(f.env())).map_err(|e| e.to_string())?;
            let out = handle
                .block_on(sb.run(cmd, Duration::from_secs(30)))
                .map_err(|e| e.to_string())?;
            Ok(Ran { output: out.output })
        })
    })
    .await
    .unwrap();
    assert!(failures.is_empty(), "escapes:\n{}", failures.join("\n"));
}

/// An ordinary user to run the binary as: made when the suite runs as root, `None` (with the reason printed)
/// when that is impossible or the suite already runs as one.
fn ordinary_user() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!(
            "skipped: the suite already runs as an ordinary user (the in-process run covers it)"
        );
        return None;
    }
    let id = |flag: &str| {
        Command::new("id")
            .args([flag, USER])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .trim()
                    .parse::<u32>()
                    .ok()
            })
    };
    if id("-u").is_none() {
        let made = Command::new("useradd")
            .args([
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                USER,
            ])
            .output();
        if !made.as_ref().is_ok_and(|o| o.status.success()) {
            super::support::skip(&format!("cannot create the user {USER}: {made:?}"));
            return None;
        }
    }
    if Command::new("setpriv").arg("--version").output().is_err() {
        super::support::skip("setpriv is not installed");
        return None;
    }
    Some((id("-u")?, id("-g")?))
}

#[test]
fn namespace_escapes_are_refused_as_an_ordinary_user() {
    if !namespaces_here() {
        return;
    }
    let Some((uid, gid)) = ordinary_user() else {
        return;
    };
    let failures = run_all("ordinary", |f, cmd| {
        let chown = Command::new("chown")
            .args(["-R", &format!("{uid}:{gid}"), &f.root.display().to_string()])
            .status()
            .map_err(|e| e.to_string())?;
        if !chown.success() {
            return Err("chown failed".into());
        }
        let config = f.root.join("config");
        std::fs::create_dir_all(&config).map_err(|e| e.to_string())?;
        std::fs::write(
            config.join("config.toml"),
            "[sandbox]\nmode = \"required\"\nmax_processes = 256\nmax_memory_mb = 256\nmax_file_size_mb = 8\n",
        )
        .map_err(|e| e.to_string())?;
        let out = Command::new("setpriv")
            .args([
                &format!("--reuid={uid}"),
                &format!("--regid={gid}"),
                "--clear-groups",
                "--",
                env!("CARGO_BIN_EXE_tandem"),
                "sandbox",
                "--timeout",
                "30",
                cmd,
            ])
            .current_dir(f.ws())
            .env_clear()
            .envs(f.env())
            .env("TANDEM_CONFIG_DIR", &config)
            .env("TANDEM_CACHE_DIR", f.root.join("cache"))
            .env("TANDEM_DATA_DIR", f.root.join("data"))
            .env("TANDEM_STATE_DIR", f.root.join("state"))
            .output()
            .map_err(|e| e.to_string())?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !stderr.contains("namespaces (") {
            return Err(format!("not run in the namespace layer: {stderr}"));
        }
        // What the command printed, without tandem's own lines about the view (they name the paths).
        let output = String::from_utf8_lossy(&out.stdout).into_owned()
            + &stderr
                .lines()
                .filter(|l| {
                    !l.starts_with("  ") && !l.starts_with("sandbox:") && !l.starts_with("policy:")
                })
                .collect::<Vec<_>>()
                .join("\n");
        Ok(Ran { output })
    });
    assert!(failures.is_empty(), "escapes:\n{}", failures.join("\n"));
}

#[test]
fn policy_bypasses_of_a_deny_rule_are_refused_by_the_command_policy() {
    let rules = CommandRules::new(&[], &["touch *".to_string()]).unwrap();
    for cmd in [
        "env touch x",
        "command touch x",
        "timeout 5 touch x",
        "nice touch x",
        "echo x | xargs touch",
        "find . -exec touch {} ;",
        "/usr/bin/touch x",
        "eval touch x",
    ] {
        let d = commands::decide(CommandPolicy::Auto, &rules, cmd);
        assert_eq!(d.verdict, CommandVerdict::Refuse, "{cmd}: {d:?}");
        assert!(
            d.reason.contains("denied by rule `touch *`"),
            "{cmd}: {d:?}"
        );
    }
    for cmd in ["$t x", "tou[c]h x"] {
        let d = commands::decide(CommandPolicy::Auto, &rules, cmd);
        assert_eq!(d.verdict, CommandVerdict::Ask, "{cmd}: {d:?}");
        assert!(
            d.reason.contains("cannot tell what it runs"),
            "{cmd}: {d:?}"
        );
    }
    let none = CommandRules::default();
    for cmd in [
        "sort -S 1K --compress-program=sh notes.txt",
        "uniq /dev/null src/lib.rs",
    ] {
        let d = commands::decide(CommandPolicy::Never, &none, cmd);
        assert_eq!(d.verdict, CommandVerdict::Refuse, "{cmd}: {d:?}");
        assert!(d.reason.contains("not on the allow list"), "{cmd}: {d:?}");
    }
}

/// The control: the same checks on the same commands run with the sandbox off must see every escape, so a
/// "refused" above is the sandbox's doing, not a check that cannot fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checks_see_each_escape_when_the_sandbox_is_off() {
    let handle = tokio::runtime::Handle::current();
    let chosen: Vec<Attempt> = attempts()
        .into_iter()
        .filter(|a| SAFE_UNCONFINED.contains(&a.name))
        .collect();
    assert_eq!(chosen.len(), SAFE_UNCONFINED.len());
    let escaped = tokio::task::spawn_blocking(move || {
        run_some("off", chosen, |f, cmd| {
            let mut s = settings(f.env());
            s.mode = SandboxMode::Off;
            let sb = Sandbox::new(&f.ws(), s).map_err(|e| e.to_string())?;
            let out = handle
                .block_on(sb.run(cmd, Duration::from_secs(30)))
                .map_err(|e| e.to_string())?;
            Ok(Ran { output: out.output })
        })
    })
    .await
    .unwrap();
    assert_eq!(
        escaped.len(),
        SAFE_UNCONFINED.len(),
        "unconfined, every one of these must get out:\n{}",
        escaped.join("\n")
    );
}

#[test]
fn tandem_sandbox_shows_the_view_a_command_gets() {
    if !namespaces_here() {
        return;
    }
    let f = Fixture::new();
    let sb = Sandbox::new(&f.ws(), settings(f.env())).unwrap();
    let view = sb.describe_view().join("\n");
    let ws = f.ws();
    let home = f.home();
    for line in [
        "layer:   namespaces (bubblewrap".to_string(),
        "read-only  /\n".to_string(),
        "empty      /run".to_string(),
        format!("empty      {}", home.display()),
        format!("read-only  {}", home.join(".cargo").display()),
        format!(
            "masked     {}",
            home.join(".cargo/credentials.toml").display()
        ),
        format!("writable   {}", ws.display()),
        format!("read-only  {}", ws.join(".git").display()),
        format!(
            "read-only  {}",
            f.root.join("main/.git/worktrees/ws").display()
        ),
        format!("read-only  {}", f.root.join("main/.git").display()),
        format!("read-only  {}", ws.join("AGENTS.md").display()),
        "limits:  processes 256 (".to_string(),
        "memory 256 MiB (".to_string(),
        "file size 8 MiB (rlimit)".to_string(),
        "network: denied (namespace+seccomp)".to_string(),
    ] {
        assert!(view.contains(&line), "{line:?} missing from:\n{view}");
    }
    assert!(!view.contains(".ssh"), "{view}");
}
