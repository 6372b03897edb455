//! The namespace layer: the file-system view a command gets, built with bubblewrap. Everything read-only
//! (`/` bound read-only), the workspace, a private `/tmp` and `sandbox.writable` writable, then the guarded
//! paths inside the workspace (`.git` and the git dirs it points to, `.tandem`, instruction files) bound
//! read-only again on top; the home directory replaced by an empty tmpfs with only the toolchain directories
//! bound back read-only and their credential files masked; `/run` (system sockets) hidden; a fresh `/dev`
//! (no device nodes from the host) and `/proc` (this PID namespace only). New user, PID, IPC, UTS, cgroup
//! and (unless the network is allowed) network namespaces, no further user namespaces, a new session (no
//! controlling terminal), all capabilities dropped.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::confine::Spec;

/// The file descriptor the seccomp program is handed to bubblewrap on.
pub const SECCOMP_FD: i32 = 3;

/// Workspace-relative paths a command may read but not change: what runs or steers something outside the
/// sandbox later (the person's git, the next session's planner, tandem's own state).
pub const GUARDED: &[&str] = &[
    ".git",
    ".tandem",
    "AGENTS.md",
    "CLAUDE.md",
    "GEMINI.md",
    "CONVENTIONS.md",
    ".cursorrules",
    ".github/copilot-instructions.md",
];

/// Files under the toolchain directories that hold credentials; masked with an empty file.
pub const CREDENTIALS: &[&str] = &[
    ".cargo/credentials",
    ".cargo/credentials.toml",
    ".gem/credentials",
    ".m2/settings.xml",
    ".m2/settings-security.xml",
    ".gradle/gradle.properties",
    ".config/git/credentials",
    ".npm/_auth",
    ".yarn/berry/.yarnrc.yml",
    ".pyenv/.pypirc",
];

/// System files that only root can read and that a command running as root (mapped to root in its user
/// namespace, so the owner's read bit applies) could otherwise read: masked with an empty file.
const ROOT_SECRETS: &[&str] = &[
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/gshadow",
    "/etc/gshadow-",
    "/etc/sudoers",
    "/etc/security/opasswd",
];

/// A name inside a toolchain directory that looks like it holds a secret (masked wherever it is found at
/// the top of one).
fn secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "credential",
        "token",
        "secret",
        "netrc",
        "auth",
        "password",
        ".pem",
        ".key",
    ]
    .iter()
    .any(|w| n.contains(w))
}

/// The bubblewrap found on this machine.
#[derive(Debug, Clone)]
pub struct Bwrap {
    /// Its path.
    pub program: PathBuf,
    /// Its version line.
    pub version: String,
    /// Whether it has `--disable-userns` (0.8 and later) and the kernel lets it be used.
    pub disable_userns: bool,
}

/// bubblewrap if it is installed and can make namespaces here (probed once), or why not.
pub fn available() -> Result<&'static Bwrap, &'static str> {
    static FOUND: OnceLock<Result<Bwrap, String>> = OnceLock::new();
    FOUND.get_or_init(probe).as_ref().map_err(|e| e.as_str())
}

fn probe() -> Result<Bwrap, String> {
    let program = find_program().ok_or_else(|| {
        "bubblewrap (bwrap) is not installed: commands are confined by Landlock only".to_string()
    })?;
    let version = super::spawn::output(&program, &["--version"])
        .map(|o| o.trim().to_string())
        .unwrap_or_default();
    let base = [
        "--unshare-all",
        "--unshare-user",
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
    ];
    for disable_userns in [true, false] {
        let mut args: Vec<&str> = base.to_vec();
        if disable_userns {
            args.push("--disable-userns");
        }
        args.extend(["--", "/bin/sh", "-c", ":"]);
        if super::spawn::succeeds(&program, &args) {
            return Ok(Bwrap {
                program,
                version,
                disable_userns,
            });
        }
    }
    Err("bubblewrap cannot make namespaces here (unprivileged user namespaces are off?): commands are confined by Landlock only".into())
}

fn find_program() -> Option<PathBuf> {
    let fixed = ["/usr/bin/bwrap", "/usr/local/bin/bwrap", "/bin/bwrap"];
    fixed
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .or_else(|| {
            std::env::var_os("PATH").and_then(|path| {
                std::env::split_paths(&path)
                    .map(|d| d.join("bwrap"))
                    .find(|p| p.is_file())
            })
        })
}

/// One step of the view, in the order bubblewrap applies them (later ones cover earlier ones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mount {
    /// Bound read-only.
    ReadOnly(PathBuf),
    /// Bound writable.
    Writable(PathBuf),
    /// `source` bound writable at `dest`.
    WritableAt {
        /// The host directory.
        source: PathBuf,
        /// Where it appears.
        dest: PathBuf,
    },
    /// An empty tmpfs.
    Tmpfs(PathBuf),
    /// Replaced by an empty read-only file.
    Masked(PathBuf),
}

impl Mount {
    fn args(&self, out: &mut Vec<OsString>) {
        let mut push = |a: &str, p: &Path| {
            out.push(a.into());
            out.push(p.as_os_str().to_owned());
        };
        match self {
            Mount::ReadOnly(p) => {
                push("--ro-bind", p);
                out.push(p.as_os_str().to_owned());
            }
            Mount::Writable(p) => {
                push("--bind", p);
                out.push(p.as_os_str().to_owned());
            }
            Mount::WritableAt { source, dest } => {
                push("--bind", source);
                out.push(dest.as_os_str().to_owned());
            }
            Mount::Tmpfs(p) => push("--tmpfs", p),
            Mount::Masked(p) => {
                out.push("--ro-bind".into());
                out.push("/dev/null".into());
                out.push(p.as_os_str().to_owned());
            }
        }
    }

    /// One line for `tandem sandbox`.
    pub fn describe(&self) -> String {
        match self {
            Mount::ReadOnly(p) => format!("read-only  {}", p.display()),
            Mount::Writable(p) => format!("writable   {}", p.display()),
            Mount::WritableAt { source, dest } => {
                format!("writable   {} (from {})", dest.display(), source.display())
            }
            Mount::Tmpfs(p) => format!("empty      {}", p.display()),
            Mount::Masked(p) => format!("masked     {}", p.display()),
        }
    }
}

/// The mounts of a command's view, in order.
pub fn view(spec: &Spec) -> Vec<Mount> {
    let mut v = vec![Mount::ReadOnly("/".into())];
    // System sockets (Docker, D-Bus, systemd, the user's session bus) live under /run.
    for run in ["/run", "/var/run"] {
        if std::fs::symlink_metadata(run).is_ok_and(|m| m.is_dir()) {
            v.push(Mount::Tmpfs(run.into()));
        }
    }
    if spec.network
        && let Ok(resolv) = std::fs::canonicalize("/etc/resolv.conf")
        && resolv.starts_with("/run")
    {
        v.push(Mount::ReadOnly(resolv));
    }
    let mut system: Vec<PathBuf> = ROOT_SECRETS.iter().map(PathBuf::from).collect();
    if let Ok(entries) = std::fs::read_dir("/etc/ssh") {
        system.extend(entries.flatten().map(|e| e.path()).filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().ends_with("_key"))
        }));
    }
    v.extend(
        system
            .into_iter()
            .filter(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file()))
            .map(Mount::Masked),
    );
    v.push(Mount::WritableAt {
        source: spec.tmp.clone(),
        dest: "/tmp".into(),
    });
    if Path::new("/var/tmp").is_dir() {
        v.push(Mount::Tmpfs("/var/tmp".into()));
    }
    if let Some(home) = spec
        .home
        .as_ref()
        .and_then(|h| std::fs::canonicalize(h).ok())
        .filter(|h| h.parent().is_some())
    {
        v.push(Mount::Tmpfs(home.clone()));
        let mut masked = Vec::new();
        for rel in &spec.home_readable {
            let p = home.join(rel);
            if std::fs::symlink_metadata(&p).is_err() {
                continue;
            }
            // A toolchain entry that is a link out of the home directory is bound as what it points to.
            let Ok(real) = std::fs::canonicalize(&p) else {
                continue;
            };
            if real.starts_with(&home) && real != p {
                continue;
            }
            v.push(Mount::ReadOnly(p.clone()));
            if let Ok(entries) = std::fs::read_dir(&p) {
                for e in entries.flatten() {
                    if secret_name(&e.file_name().to_string_lossy())
                        && e.file_type().is_ok_and(|t| t.is_file())
                    {
                        masked.push(e.path());
                    }
                }
            }
        }
        for rel in CREDENTIALS {
            let p = home.join(rel);
            if std::fs::metadata(&p).is_ok_and(|m| m.is_file()) && !masked.contains(&p) {
                masked.push(p);
            }
        }
        v.extend(masked.into_iter().map(Mount::Masked));
    }
    for w in &spec.writable {
        if let Ok(w) = std::fs::canonicalize(w) {
            v.push(Mount::Writable(w));
        }
    }
    v.push(Mount::Writable(spec.workspace.clone()));
    v.extend(guarded(&spec.workspace).into_iter().map(Mount::ReadOnly));
    for rel in &spec.protect {
        // Only what resolves inside the workspace: a protected link to elsewhere is already read-only there.
        if let Ok(real) = std::fs::canonicalize(spec.workspace.join(rel))
            && real.starts_with(&spec.workspace)
            && !v.contains(&Mount::ReadOnly(real.clone()))
        {
            v.push(Mount::ReadOnly(real));
        }
    }
    v
}

/// The guarded paths under `ws` that exist, plus the git dirs a `.git` file or a `commondir` points to.
pub fn guarded(ws: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for rel in GUARDED {
        let p = ws.join(rel);
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        // A link is bound as what it points to (bubblewrap follows it); a dangling one cannot be bound.
        let Ok(real) = std::fs::canonicalize(&p) else {
            continue;
        };
        out.push(real.clone());
        if *rel != ".git" {
            continue;
        }
        let gitdir = if meta.is_file() || std::fs::metadata(&real).is_ok_and(|m| m.is_file()) {
            std::fs::read_to_string(&real).ok().and_then(|text| {
                let target = text.lines().find_map(|l| l.strip_prefix("gitdir:"))?.trim();
                std::fs::canonicalize(ws.join(target)).ok()
            })
        } else {
            Some(real.clone())
        };
        if let Some(gitdir) = gitdir {
            if !out.contains(&gitdir) {
                out.push(gitdir.clone());
            }
            if let Some(common) = std::fs::read_to_string(gitdir.join("commondir"))
                .ok()
                .and_then(|t| std::fs::canonicalize(gitdir.join(t.trim())).ok())
                && !out.contains(&common)
            {
                out.push(common);
            }
        }
    }
    out
}

/// bubblewrap's arguments for `view`, ending with `--` (the command follows).
pub fn args(bwrap: &Bwrap, spec: &Spec, view: &[Mount]) -> Vec<OsString> {
    let mut out: Vec<OsString> = [
        "--unshare-all",
        "--unshare-user",
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    if bwrap.disable_userns {
        out.push("--disable-userns".into());
    }
    if spec.network {
        out.push("--share-net".into());
    }
    for m in view {
        m.args(&mut out);
        if m == &Mount::ReadOnly("/".into()) {
            for (a, p) in [("--dev", "/dev"), ("--proc", "/proc")] {
                out.push(a.into());
                out.push(p.into());
            }
        }
    }
    out.push("--chdir".into());
    out.push(spec.workspace.as_os_str().to_owned());
    out.push("--seccomp".into());
    out.push(SECCOMP_FD.to_string().into());
    out.push("--".into());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_view_guards_git_indirection_and_masks_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let ws = root.join("ws");
        let real_git = root.join("main.git");
        std::fs::create_dir_all(real_git.join("worktrees/ws")).unwrap();
        std::fs::create_dir_all(&ws).unwrap();
        std::fs::write(
            ws.join(".git"),
            format!("gitdir: {}\n", real_git.join("worktrees/ws").display()),
        )
        .unwrap();
        std::fs::write(real_git.join("worktrees/ws/commondir"), "../..\n").unwrap();
        std::fs::write(ws.join("AGENTS.md"), "be nice").unwrap();
        let home = root.join("home");
        std::fs::create_dir_all(home.join(".cargo")).unwrap();
        std::fs::create_dir_all(home.join(".ssh")).unwrap();
        std::fs::write(home.join(".cargo/credentials.toml"), "token").unwrap();
        std::fs::write(home.join(".cargo/config.toml"), "").unwrap();
        let spec = Spec {
            workspace: ws.clone(),
            tmp: root.join("tmp"),
            writable: vec![],
            home: Some(home.clone()),
            home_readable: vec![".cargo".into(), ".ssh-not-listed".into()],
            protect: vec![],
            network: false,
            limits: Default::default(),
        };
        let v = view(&spec);
        let pos = |m: &Mount| v.iter().position(|x| x == m);
        let ws_at = pos(&Mount::Writable(ws.clone())).unwrap();
        for p in [
            ws.join(".git"),
            real_git.join("worktrees/ws"),
            real_git.clone(),
            ws.join("AGENTS.md"),
        ] {
            let at = pos(&Mount::ReadOnly(p.clone()))
                .unwrap_or_else(|| panic!("{p:?} not guarded: {v:?}"));
            assert!(at > ws_at, "{p:?} must be bound after the workspace");
        }
        let home_at = pos(&Mount::Tmpfs(home.clone())).unwrap();
        assert!(pos(&Mount::ReadOnly(home.join(".cargo"))).unwrap() > home_at);
        assert!(pos(&Mount::Masked(home.join(".cargo/credentials.toml"))).is_some());
        assert!(pos(&Mount::Masked(home.join(".cargo/config.toml"))).is_none());
        assert!(!v.iter().any(|m| m.describe().contains(".ssh")));
    }
}
