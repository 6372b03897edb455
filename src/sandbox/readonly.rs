//! Which simple commands only read, or build and test the project, so that `untrusted` and `never` run them
//! without asking. Options and operands are checked, and a program or subcommand not listed here is not
//! read-only: the list fails closed.

/// Programs that only read whatever their arguments (the exceptions are checked in [`is_safe`]).
const READ_ONLY: &[&str] = &[
    "ls",
    "cat",
    "head",
    "tail",
    "wc",
    "pwd",
    "echo",
    "printf",
    "true",
    "false",
    "grep",
    "egrep",
    "fgrep",
    "stat",
    "du",
    "df",
    "which",
    "whereis",
    "diff",
    "cmp",
    "cut",
    "tr",
    "nl",
    "basename",
    "dirname",
    "realpath",
    "readlink",
    "uname",
    "whoami",
    "id",
    "jq",
    "sha256sum",
    "sha1sum",
    "md5sum",
    "test",
    "[",
    "type",
];

/// Git subcommands that only read.
const GIT_READ: &[&str] = &[
    "status",
    "diff",
    "log",
    "show",
    "rev-parse",
    "ls-files",
    "blame",
    "grep",
    "describe",
    "shortlog",
];

/// Short-option clusters (`-ro`) and long options of `args` before `--`.
fn has_option(args: &[&str], short: char, long: &[&str]) -> bool {
    args.iter().take_while(|a| **a != "--").any(|a| {
        if let Some(l) = a.strip_prefix("--") {
            long.iter()
                .any(|o| l == *o || l.starts_with(&format!("{o}=")))
        } else {
            a.strip_prefix('-').is_some_and(|s| s.contains(short))
        }
    })
}

/// Operands: the arguments that are not options.
fn operands<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut after = false;
    for a in args {
        if after || !a.starts_with('-') || *a == "-" {
            out.push(*a);
        } else if *a == "--" {
            after = true;
        }
    }
    out
}

/// Whether `words` (the program by name first) only reads, or builds and tests the project.
pub(super) fn is_safe(words: &[String]) -> bool {
    let Some(program) = words.first().map(String::as_str) else {
        return false;
    };
    let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
    let first = args.first().copied().unwrap_or("");
    if args.len() == 1 && (first == "--version" || first == "-V") {
        return true;
    }
    match program {
        "date" => !has_option(&args, 's', &["set"]),
        "file" => !has_option(&args, 'C', &["compile"]),
        "tree" => !has_option(&args, 'o', &[]) && !args.iter().any(|a| a.starts_with("-o")),
        "rg" => !args
            .iter()
            .any(|a| a.starts_with("--pre") || a.starts_with("--hostname-bin")),
        p if READ_ONLY.contains(&p) => true,
        // `sort -o FILE` writes; `--compress-program` runs a program; `-T` writes temporary files elsewhere.
        "sort" => {
            !has_option(
                &args,
                'o',
                &["output", "compress-program", "temporary-directory"],
            ) && !has_option(&args, 'T', &[])
        }
        // `uniq IN OUT` writes OUT.
        "uniq" => operands(&args).len() <= 1,
        "find" => !args.iter().any(|a| {
            matches!(
                *a,
                "-exec"
                    | "-execdir"
                    | "-ok"
                    | "-okdir"
                    | "-delete"
                    | "-fprint"
                    | "-fprint0"
                    | "-fprintf"
                    | "-fls"
            )
        }),
        "command" => args.first().is_some_and(|a| *a == "-v" || *a == "-V"),
        "env" => args
            .iter()
            .all(|a| a.starts_with('-') && !a.starts_with("-S") && !a.starts_with("--split")),
        "git" => git_read_only(&args),
        "cargo" => {
            matches!(
                first,
                "test" | "check" | "build" | "clippy" | "nextest" | "bench" | "tree" | "metadata"
            ) || (first == "fmt" && args.contains(&"--check"))
        }
        "go" => matches!(first, "test" | "vet" | "build"),
        "npm" | "pnpm" | "yarn" => {
            first == "test" || (first == "run" && args.get(1) == Some(&"test"))
        }
        "pytest" => true,
        "tsc" => args.contains(&"--noEmit"),
        "python" | "python3" => {
            first == "-m" && matches!(args.get(1).copied(), Some("pytest" | "unittest" | "mypy"))
        }
        "make" => matches!(first, "test" | "check"),
        _ => false,
    }
}

/// `git SUBCOMMAND …` with a read-only subcommand first (no `-c`, `--config-env`, `-C` or other global option
/// before it) and none of the options that write a file or run a program.
fn git_read_only(args: &[&str]) -> bool {
    let Some(sub) = args.first() else {
        return false;
    };
    let rest = &args[1..];
    let listing_branch = *sub == "branch"
        && rest
            .iter()
            .all(|a| matches!(*a, "-a" | "-r" | "-v" | "-vv" | "--list" | "--show-current"));
    (GIT_READ.contains(sub) || listing_branch)
        && !rest.iter().any(|a| {
            a.starts_with("--output")
                || *a == "--ext-diff"
                || a.starts_with("--open-files-in-pager")
                || (*sub == "grep" && a.starts_with("-O"))
                || a.starts_with("--exec")
                || a.starts_with("--upload-pack")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn safe(cmd: &str) -> bool {
        let words: Vec<String> = cmd.split_whitespace().map(String::from).collect();
        is_safe(&words)
    }

    #[test]
    fn options_and_operands_that_write_or_run_are_not_read_only() {
        for cmd in [
            "sort -S 1K --compress-program=sh notes.txt",
            "sort --compress-program sh notes.txt",
            "sort -o out.txt in.txt",
            "sort -ro out.txt in.txt",
            "sort --output=out in",
            "uniq /dev/null src/lib.rs",
            "find . -delete",
            "find . -exec rm {} ;",
            "git -c core.pager=sh log",
            "git --config-env=core.pager=X log",
            "git -C .. status",
            "git commit -m x",
            "git grep -Osh x",
            "git diff --output=x",
            "date -s 2020-01-01",
            "tree -o out",
            "rg --pre ./x.sh foo",
            "file -C -m magic",
            "sed -i s/a/b/ f",
            "awk 'BEGIN{system(\"id\")}'",
            "tee out",
            "command touch x",
            "env -S touch",
            "unknown-program",
        ] {
            assert!(!safe(cmd), "{cmd}");
        }
        for cmd in [
            "sort -u notes.txt",
            "uniq -c notes.txt",
            "git log -p",
            "git status --short",
            "find . -name x",
            "command -v cargo",
            "env",
            "ls -la",
            "cargo test",
            "date",
        ] {
            assert!(safe(cmd), "{cmd}");
        }
    }
}
