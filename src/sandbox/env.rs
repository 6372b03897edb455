//! The environment of every child tandem starts: an allow-list (the locale, the terminal, the user, the
//! search path and toolchain variables, plus `sandbox.pass_env`), not a deny-list, so a secret under a name
//! nobody thought of (`DATABASE_URL` with a password, `GH_PAT`, `CI_JOB_JWT`) does not reach a command.

use std::ffi::OsString;

/// Variables passed as they are.
const NAMES: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "TERM",
    "COLORTERM",
    "NO_COLOR",
    "TZ",
    "CI",
    "SOURCE_DATE_EPOCH",
    // Rust
    "CARGO_HOME",
    "RUSTUP_HOME",
    "RUSTUP_TOOLCHAIN",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_JOBS",
    "CARGO_INCREMENTAL",
    "CARGO_TERM_COLOR",
    "RUSTFLAGS",
    "RUSTDOCFLAGS",
    "RUST_BACKTRACE",
    "RUST_TEST_THREADS",
    // Go
    "GOPATH",
    "GOROOT",
    "GOCACHE",
    "GOMODCACHE",
    "GOFLAGS",
    "GOTOOLCHAIN",
    "GO111MODULE",
    "GOPROXY",
    // Python
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
    "CONDA_DEFAULT_ENV",
    "PYENV_ROOT",
    "PYENV_VERSION",
    "PYTHONPATH",
    "PYTHONDONTWRITEBYTECODE",
    // JavaScript
    "NODE_PATH",
    "NVM_DIR",
    "NVM_BIN",
    "VOLTA_HOME",
    "BUN_INSTALL",
    "DENO_DIR",
    // JVM, Ruby, others
    "JAVA_HOME",
    "GRADLE_USER_HOME",
    "MAVEN_HOME",
    "GEM_HOME",
    "GEM_PATH",
    "RBENV_ROOT",
    "ASDF_DIR",
    "ASDF_DATA_DIR",
    // C and C++ builds
    "CC",
    "CXX",
    "AR",
    "CFLAGS",
    "CXXFLAGS",
    "CPPFLAGS",
    "LDFLAGS",
    "PKG_CONFIG_PATH",
    "LD_LIBRARY_PATH",
    "LIBCLANG_PATH",
    "CMAKE_PREFIX_PATH",
    "XDG_CACHE_HOME",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
];

/// Whether `name` may reach a command: on the list, a locale variable (`LC_*`), or named (exactly, or by a
/// prefix ending in `*`) in `pass`; never tandem's own settings.
pub fn passes(name: &str, pass: &[String]) -> bool {
    if name.starts_with("TANDEM_") {
        return false;
    }
    NAMES.contains(&name)
        || name.starts_with("LC_")
        || pass.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => p == name,
        })
}

/// `env` without what may not pass, and without `removed` (`sandbox.scrub_env`).
pub fn filtered(
    env: &[(OsString, OsString)],
    pass: &[String],
    removed: &[String],
) -> Vec<(OsString, OsString)> {
    env.iter()
        .filter(|(k, _)| {
            k.to_str().is_some_and(|k| {
                passes(k, pass) && !removed.iter().any(|r| r.eq_ignore_ascii_case(k))
            })
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_variables_pass() {
        for name in [
            "OPENAI_API_KEY",
            "ANTHROPIC_API_KEY",
            "GITHUB_TOKEN",
            "TANDEM_MODEL",
            "DATABASE_URL",
            "MYSQL_PWD",
            "GH_PAT",
            "CI_JOB_JWT",
            "DOCKER_AUTH_CONFIG",
            "SLACK_WEBHOOK_URL",
            "AWS_SECRET_ACCESS_KEY",
            "SSH_AUTH_SOCK",
            "LD_PRELOAD",
        ] {
            assert!(!passes(name, &[]), "{name}");
        }
        for name in [
            "PATH",
            "HOME",
            "LANG",
            "LC_ALL",
            "CARGO_HOME",
            "VIRTUAL_ENV",
            "TERM",
        ] {
            assert!(passes(name, &[]), "{name}");
        }
        let pass = vec!["CORP_VAR".to_string(), "MYAPP_*".to_string()];
        assert!(passes("CORP_VAR", &pass) && passes("MYAPP_MODE", &pass));
        assert!(!passes("CORP_VAR2", &pass));
        let env = vec![
            (OsString::from("PATH"), OsString::from("/bin")),
            (OsString::from("GH_PAT"), OsString::from("x")),
            (OsString::from("CC"), OsString::from("gcc")),
        ];
        assert_eq!(
            filtered(&env, &[], &["cc".into()]),
            vec![(OsString::from("PATH"), OsString::from("/bin"))]
        );
    }
}
