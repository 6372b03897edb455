//! What a command line really runs, for the command policy: each simple command is followed through the
//! wrappers that run another program (`env`, `command`, `builtin`, `exec`, `nice`, `nohup`, `timeout`,
//! `time`, `stdbuf`, `ionice`, `setsid`, `sudo`, `doas`, `xargs`) to the program at the end, `bash -c`,
//! `eval`, `$(…)` and `find -exec` bodies are looked into, and a program given by path is matched by its name.
//! A command word that cannot be known without running the shell (a variable, a glob, a substitution,
//! `eval`, `source`) makes the whole line opaque.

use super::lexer::{basename, is_assignment, split};

/// Where a program word points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Location {
    /// A bare name, looked up in `PATH`.
    Bare,
    /// A path into a system directory (`/usr/bin/touch`).
    System,
    /// Any other path (`./ls`, `bin/cargo`): a program that may have been written in the workspace.
    Other,
}

/// One program in a chain of wrappers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Form {
    /// Its words, the program by its name (a path reduced to the last part).
    pub words: Vec<String>,
    /// Where the program word pointed.
    pub location: Location,
    /// It gets more arguments than written (`xargs`, `find -exec … {}`).
    pub open_ended: bool,
    /// As a wrapper, it only changes how the next program runs (not who runs it, nor its arguments).
    pub harmless_wrapper: bool,
}

/// A simple command and the wrappers it goes through: the first form as written, the last what finally runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Chain {
    /// Outermost first.
    pub forms: Vec<Form>,
}

/// A whole command line, analysed.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Analysis {
    /// Every simple command, including those inside `bash -c`, `eval`, substitutions and `find -exec`.
    pub chains: Vec<Chain>,
    /// Redirection to files, substitution, assignments, syntax the lexer does not follow.
    pub complex: bool,
    /// Why what runs cannot be known without running the shell, if it cannot.
    pub opaque: Option<String>,
}

const SYSTEM_DIRS: &[&str] = &[
    "/usr/bin/",
    "/bin/",
    "/usr/sbin/",
    "/sbin/",
    "/usr/local/bin/",
];
const SHELLS: &[&str] = &["bash", "sh", "zsh", "dash", "ksh", "ash", "mksh", "su"];

/// Analyses `command`.
pub(super) fn analyse(command: &str) -> Analysis {
    let mut a = Analysis::default();
    a.add_line(command, 0);
    a
}

/// How a wrapper is followed.
enum Wrap {
    /// The wrapped command starts after this many arguments.
    Skip {
        args: usize,
        open_ended: bool,
        harmless: bool,
    },
    /// Not wrapping anything here (`env` alone prints, `command -v` looks up).
    No,
    /// What it runs cannot be read off the words.
    Opaque(&'static str),
}

impl Analysis {
    fn add_line(&mut self, command: &str, depth: usize) {
        if depth > 8 {
            self.opaque = Some("commands nested too deeply to follow".into());
            return;
        }
        let parsed = split(command);
        self.complex |= parsed.complex;
        if let Some(why) = parsed.unreadable {
            self.opaque = Some(why);
        }
        for words in parsed.commands {
            self.add_words(words, false, depth);
        }
    }

    fn add_words(&mut self, words: Vec<String>, open_ended: bool, depth: usize) {
        let mut forms: Vec<Form> = Vec::new();
        let mut rest: &[String] = &words;
        let mut open = open_ended;
        loop {
            let start = rest
                .iter()
                .position(|w| !is_assignment(w))
                .unwrap_or(rest.len());
            if start > 0 {
                // `LD_PRELOAD=… ls` changes what runs: never read-only.
                self.complex = true;
            }
            rest = &rest[start..];
            let Some(word) = rest.first() else { break };
            if !literal(word) {
                self.opaque = Some(format!(
                    "the program `{word}` is only known once the shell expands it"
                ));
                break;
            }
            let name = basename(word).to_string();
            let location = if !word.contains('/') {
                Location::Bare
            } else if SYSTEM_DIRS.iter().any(|d| word.starts_with(d)) && !word.contains("/../") {
                Location::System
            } else {
                Location::Other
            };
            let mut form_words = rest.to_vec();
            form_words[0] = name.clone();
            forms.push(Form {
                words: form_words,
                location,
                open_ended: open,
                harmless_wrapper: false,
            });
            let args = &rest[1..];
            match name.as_str() {
                "eval" => {
                    self.opaque = Some("`eval` runs text the shell builds".into());
                    self.add_line(&args.join(" "), depth + 1);
                    break;
                }
                "source" | "." => {
                    self.opaque = Some(format!("`{name}` runs a file's commands in the shell"));
                    break;
                }
                "trap" => {
                    // `trap 'CMD' SIGNAL` runs CMD later, in this shell.
                    self.complex = true;
                    if let Some(body) = args.iter().find(|a| !a.starts_with('-')) {
                        self.add_line(body, depth + 1);
                    }
                    break;
                }
                "alias" | "hash" | "enable" if !args.is_empty() => {
                    self.opaque = Some(format!("`{name}` changes what a later command name runs"));
                    break;
                }
                s if SHELLS.contains(&s) => {
                    self.complex = true;
                    match shell_body(args) {
                        Some(body) => self.add_line(body, depth + 1),
                        None => {
                            self.opaque = Some(format!(
                                "`{name}` runs commands from a file or from its input"
                            ))
                        }
                    }
                    break;
                }
                _ if let Some(why) = inline_code(&name, args) => {
                    self.opaque = Some(why);
                    break;
                }
                "find" => {
                    for segment in find_exec(args) {
                        self.add_words(segment, true, depth + 1);
                    }
                    break;
                }
                _ => {}
            }
            match wrapper(&name, args) {
                Wrap::Skip {
                    args: n,
                    open_ended,
                    harmless,
                } => {
                    if let Some(f) = forms.last_mut() {
                        f.harmless_wrapper = harmless;
                    }
                    open |= open_ended;
                    let next = &args[n.min(args.len())..];
                    if next.is_empty() {
                        // `xargs` alone runs `echo`; `timeout 5` alone is an error.
                        if name == "xargs" {
                            forms.push(Form {
                                words: vec!["echo".into()],
                                location: Location::Bare,
                                open_ended: true,
                                harmless_wrapper: false,
                            });
                        }
                        break;
                    }
                    rest = next;
                }
                Wrap::No => break,
                Wrap::Opaque(why) => {
                    self.opaque = Some(why.into());
                    break;
                }
            }
        }
        if !forms.is_empty() {
            self.chains.push(Chain { forms });
        }
    }
}

/// A word the shell leaves as it is: no expansion, substitution or pattern.
fn literal(word: &str) -> bool {
    !word.is_empty()
        && !word.chars().any(|c| {
            matches!(
                c,
                '$' | '`' | '*' | '?' | '[' | ']' | '{' | '}' | '~' | '(' | ')'
            )
        })
}

const GIT_COMMANDS: &[&str] = &[
    "add",
    "am",
    "annotate",
    "apply",
    "archive",
    "bisect",
    "blame",
    "branch",
    "bundle",
    "cat-file",
    "check-ignore",
    "checkout",
    "cherry",
    "cherry-pick",
    "clean",
    "clone",
    "commit",
    "config",
    "count-objects",
    "describe",
    "diff",
    "diff-files",
    "diff-index",
    "diff-tree",
    "fetch",
    "for-each-ref",
    "format-patch",
    "fsck",
    "gc",
    "grep",
    "help",
    "init",
    "log",
    "ls-files",
    "ls-remote",
    "ls-tree",
    "merge",
    "merge-base",
    "mv",
    "name-rev",
    "notes",
    "pull",
    "push",
    "range-diff",
    "rebase",
    "reflog",
    "remote",
    "reset",
    "restore",
    "rev-list",
    "rev-parse",
    "revert",
    "rm",
    "shortlog",
    "show",
    "show-ref",
    "sparse-checkout",
    "stash",
    "status",
    "submodule",
    "switch",
    "symbolic-ref",
    "tag",
    "update-index",
    "version",
    "whatchanged",
    "worktree",
];

/// Why a program runs code given in its own arguments or on its input, if it does: such code can run any
/// program, so no rule about programs can be checked against it.
fn inline_code(name: &str, args: &[String]) -> Option<String> {
    let has = |opts: &[&str]| {
        args.iter().take_while(|a| *a != "--").any(|a| {
            opts.iter()
                .any(|o| a == o || (o.len() == 2 && a.starts_with(o) && !a.starts_with("--")))
        })
    };
    let from_input = args.iter().all(|a| a.starts_with('-')) || args.iter().any(|a| a == "-");
    let runs = |what: &str| Some(format!("`{name}` runs {what}"));
    let stem = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    match stem {
        "python" | "pypy" => {
            if has(&["-c"]) {
                runs("code given in its arguments")
            } else if from_input && !has(&["-m", "-V", "--version", "-h", "--help"]) {
                runs("code from its input")
            } else {
                None
            }
        }
        "perl" | "ruby" | "node" | "nodejs" | "lua" | "luajit" | "Rscript" | "php" | "bun"
        | "deno" | "tclsh" | "wish" | "julia" | "osascript" => {
            if has(&["-e", "-E", "-p", "-r", "--eval", "--print", "-x"])
                || args.first().is_some_and(|a| a == "eval" || a == "-")
            {
                runs("code given in its arguments")
            } else if from_input && !has(&["-v", "--version", "-h", "--help", "-c", "--check"]) {
                runs("code from its input")
            } else {
                None
            }
        }
        "awk" | "gawk" | "mawk" | "nawk" => runs("an awk program, which can start other programs"),
        "sed" | "gsed" => {
            let mut scripts: Vec<&String> = args
                .windows(2)
                .filter(|w| w[0] == "-e" || w[0] == "--expression")
                .map(|w| &w[1])
                .collect();
            if scripts.is_empty() {
                scripts.extend(args.iter().find(|a| !a.starts_with('-')));
            }
            (has(&["-f", "--file"]) || scripts.iter().any(|s| sed_executes(s)))
                .then(|| format!("`{name}` may run its pattern space as a command (`e`)"))
        }
        "git" => {
            if args
                .iter()
                .any(|a| a == "-c" || a.starts_with("--config-env") || a.starts_with("-c"))
            {
                return runs(
                    "with configuration from its arguments, which can name programs to start",
                );
            }
            let sub = args.iter().find(|a| !a.starts_with('-'))?;
            (!GIT_COMMANDS.contains(&sub.as_str()))
                .then(|| format!("`git {sub}` may be an alias that runs a shell command"))
        }
        _ => None,
    }
}

/// Whether a sed script uses GNU sed's `e` command or the `e` flag of `s`, which run text as a command.
fn sed_executes(script: &str) -> bool {
    script.split([';', '\n', '{', '}']).any(|command| {
        // Skip the address: line numbers, `$`, ranges, steps, negation and `/regex/`.
        let mut rest = command.trim_start();
        loop {
            let trimmed = rest.trim_start_matches(|c: char| {
                c.is_ascii_digit() || matches!(c, '$' | ',' | '~' | '!' | '+' | ' ')
            });
            if let Some(after) = trimmed.strip_prefix('/') {
                rest = after.split_once('/').map_or("", |(_, r)| r);
            } else {
                rest = trimmed;
                break;
            }
        }
        match rest.chars().next() {
            Some('e') => true,
            Some('s') => rest[1..]
                .chars()
                .next()
                .and_then(|delim| rest[1..].rsplit(delim).next())
                .is_some_and(|flags| flags.contains('e')),
            _ => false,
        }
    })
}

/// The script of `bash -c SCRIPT` (the option may be in a cluster: `-ec`, `-lc`).
fn shell_body(args: &[String]) -> Option<&str> {
    let i = args
        .iter()
        .position(|a| a.starts_with('-') && !a.starts_with("--") && a.contains('c'))?;
    args.get(i + 1).map(String::as_str)
}

/// The commands of `find … -exec CMD … ;` (and `-execdir`, `-ok`, `-okdir`, ended by `;` or `+`).
fn find_exec(args: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        if matches!(args[i].as_str(), "-exec" | "-execdir" | "-ok" | "-okdir") {
            let start = i + 1;
            let end = args[start..]
                .iter()
                .position(|a| a == ";" || a == "+")
                .map_or(args.len(), |p| start + p);
            if start < end {
                out.push(args[start..end].to_vec());
            }
            i = end;
        }
        i += 1;
    }
    out
}

/// Counts a wrapper's own options: `with_value` take the next word (or are joined to it as `-n5` or
/// `--opt=v`); any other word starting with `-` is a flag; the first other word starts the command.
fn options(args: &[String], with_value: &[&str], positional: usize) -> usize {
    let mut i = 0;
    while let Some(a) = args.get(i) {
        if a == "--" {
            i += 1;
            break;
        }
        if !a.starts_with('-') || a == "-" {
            break;
        }
        let takes_value = with_value.iter().any(|o| a == o);
        i += if takes_value { 2 } else { 1 };
    }
    i + positional
}

fn wrapper(name: &str, args: &[String]) -> Wrap {
    let skip = |args: usize, harmless: bool| Wrap::Skip {
        args,
        open_ended: false,
        harmless,
    };
    match name {
        "env" => {
            if args
                .iter()
                .any(|a| a == "-S" || a.starts_with("--split-string") || a.starts_with("-S"))
            {
                return Wrap::Opaque("`env -S` splits a string into a command");
            }
            // `env -` is `env -i`.
            let lone_dash = args.iter().take_while(|a| *a == "-").count();
            let mut n =
                lone_dash + options(&args[lone_dash..], &["-u", "--unset", "-C", "--chdir"], 0);
            let assignments = args[n.min(args.len())..]
                .iter()
                .take_while(|a| is_assignment(a))
                .count();
            n += assignments;
            if n >= args.len() {
                Wrap::No
            } else {
                skip(n, assignments == 0)
            }
        }
        "command" | "builtin" => {
            if args
                .iter()
                .take_while(|a| a.starts_with('-'))
                .any(|a| a.contains('v') || a.contains('V'))
            {
                Wrap::No
            } else {
                skip(options(args, &[], 0), true)
            }
        }
        "exec" => skip(options(args, &["-a"], 0), true),
        "nohup" | "setsid" | "coproc" => skip(options(args, &[], 0), true),
        "flock" => skip(
            options(args, &["-w", "--timeout", "-E", "--conflict-exit-code"], 1),
            true,
        ),
        "taskset" => skip(options(args, &[], 1), true),
        "chrt" => skip(options(args, &[], 1), true),
        "setarch" => skip(options(args, &[], 1), true),
        "numactl" => skip(
            options(
                args,
                &[
                    "-N",
                    "-m",
                    "-C",
                    "-i",
                    "-p",
                    "--cpunodebind",
                    "--membind",
                    "--physcpubind",
                ],
                0,
            ),
            true,
        ),
        "prlimit" => skip(options(args, &["-p", "--pid"], 0), true),
        "busybox" | "toybox" => skip(0, true),
        "unshare" | "nsenter" | "chroot" | "runuser" | "fakeroot" => skip(
            options(
                args,
                &["-u", "--user", "-g", "--group", "-t", "--target"],
                usize::from(name == "chroot"),
            ),
            false,
        ),
        "script" => Wrap::Opaque("`script` runs the command given in its arguments"),
        "watch" | "parallel" | "ssh" | "su" => {
            Wrap::Opaque("it runs a command line from its arguments")
        }
        "time" => {
            let writes = args.iter().take_while(|a| a.starts_with('-')).any(|a| {
                a.starts_with("-o") || a.starts_with("--output") || a == "-a" || a == "--append"
            });
            skip(
                options(args, &["-o", "--output", "-f", "--format"], 0),
                !writes,
            )
        }
        "nice" => skip(options(args, &["-n", "--adjustment"], 0), true),
        "ionice" => skip(
            options(args, &["-c", "--class", "-n", "--classdata"], 0),
            true,
        ),
        "stdbuf" => skip(options(args, &["-i", "-o", "-e"], 0), true),
        "timeout" => skip(
            options(args, &["-s", "--signal", "-k", "--kill-after"], 1),
            true,
        ),
        "sudo" => skip(
            options(
                args,
                &[
                    "-u", "--user", "-g", "--group", "-h", "--host", "-p", "--prompt", "-C", "-D",
                    "--chdir", "-r", "-t", "-T", "-U",
                ],
                0,
            ),
            false,
        ),
        "doas" => skip(options(args, &["-u", "-C"], 0), false),
        "xargs" => Wrap::Skip {
            args: options(
                args,
                &[
                    "-a",
                    "--arg-file",
                    "-d",
                    "--delimiter",
                    "-E",
                    "-I",
                    "-L",
                    "-n",
                    "--max-args",
                    "-P",
                    "--max-procs",
                    "-s",
                    "--max-chars",
                ],
                0,
            ),
            open_ended: true,
            harmless: false,
        },
        _ => Wrap::No,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inner(cmd: &str) -> Vec<Vec<String>> {
        analyse(cmd)
            .chains
            .iter()
            .filter_map(|c| c.forms.last().map(|f| f.words.clone()))
            .collect()
    }

    #[test]
    fn wrappers_are_followed_to_the_program_they_run() {
        let touch = [vec!["touch".to_string(), "x".to_string()]];
        for cmd in [
            "env touch x",
            "env -i -u HOME -- touch x",
            "command touch x",
            "builtin touch x",
            "exec -a name touch x",
            "nice -n 5 touch x",
            "nice -5 touch x",
            "nohup touch x",
            "timeout 5 touch x",
            "timeout -s KILL -k 1 5s touch x",
            "time -p touch x",
            "stdbuf -oL touch x",
            "ionice -c 3 touch x",
            "sudo -u root touch x",
            "doas touch x",
            "/usr/bin/touch x",
            "nice timeout 3 env touch x",
            "bash -ec 'touch x'",
            "eval touch x",
        ] {
            assert!(inner(cmd).contains(&touch[0]), "{cmd}: {:?}", inner(cmd));
        }
        let a = analyse("ls | xargs -0 touch");
        let last = a.chains[1].forms.last().unwrap();
        assert_eq!(last.words, vec!["touch"]);
        assert!(last.open_ended);
        let a = analyse("find . -name '*.rs' -exec touch '{}' +");
        let exec = a
            .chains
            .iter()
            .find(|c| c.forms[0].words[0] == "touch")
            .unwrap();
        assert_eq!(exec.forms[0].words, vec!["touch", "{}"]);
        assert!(exec.forms[0].open_ended);
        assert_eq!(
            analyse("./touch x").chains[0].forms[0].location,
            Location::Other
        );
        assert_eq!(
            analyse("/bin/ls").chains[0].forms[0].location,
            Location::System
        );
    }

    #[test]
    fn unknowable_command_words_make_the_line_opaque() {
        for cmd in [
            "$t x",
            "tou[c]h x",
            "tou*h x",
            "`echo touch` x",
            "eval \"$x\"",
            "source ./a.sh",
            ". ./a.sh",
            "env -S 'touch x'",
            "\"$(echo touch)\" x",
            "~/bin/x",
        ] {
            assert!(analyse(cmd).opaque.is_some(), "{cmd}");
        }
        for cmd in ["touch x", "ls -la", "command -v touch", "env", "echo $HOME"] {
            assert!(analyse(cmd).opaque.is_none(), "{cmd}");
        }
    }
}
