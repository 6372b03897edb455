//! Which model-requested commands run, which ask a person first, and which are refused: the approval policy,
//! the user's allow and deny rules (deny first), and a list of read-only and test commands that `untrusted`
//! and `never` run without asking. Commands are split on `;`, `&&`, `||`, `|`, `&` and newlines, and `bash -c`
//! and `$(…)` bodies are looked into, so a deny rule is not bypassed by wrapping the command.

use serde::{Deserialize, Serialize};

/// How commands are approved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum CommandApproval {
    /// Every command runs (in the sandbox) unless a deny rule matches.
    Auto,
    /// Read-only and test commands and allow rules run; anything else asks.
    #[default]
    Untrusted,
    /// Every command asks unless an allow rule matches.
    #[serde(alias = "ask")]
    OnRequest,
    /// Nothing asks: read-only and test commands and allow rules run; anything else is refused.
    Never,
}

/// What happens to a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Run it.
    Run,
    /// Ask a person.
    Ask,
    /// Do not run it.
    Refuse,
}

/// A verdict and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// What happens.
    pub verdict: Verdict,
    /// Why, for the person and the model.
    pub reason: String,
}

/// One allow or deny rule: words, where `*` in a word matches any characters and a final lone `*` matches
/// any remaining words. A rule matches a command that starts with its words (`npm test` matches
/// `npm test -- --watch`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    text: String,
    words: Vec<String>,
}

impl Rule {
    /// Parses a rule (quotes are honoured).
    pub fn parse(text: &str) -> Result<Rule, String> {
        let parsed = split(text);
        match parsed.commands.as_slice() {
            [one] if !one.is_empty() && !parsed.complex => Ok(Rule {
                text: text.trim().to_string(),
                words: one.clone(),
            }),
            _ => Err(format!(
                "`{text}` is not a single command (rules are words such as \"npm test\" or \"rm -rf *\")"
            )),
        }
    }

    /// The rule as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    fn matches(&self, words: &[String]) -> bool {
        let mut i = 0;
        for (k, pat) in self.words.iter().enumerate() {
            if pat == "*" && k + 1 == self.words.len() {
                return i < words.len();
            }
            match words.get(i) {
                Some(w) if glob(pat, w) => i += 1,
                _ => return false,
            }
        }
        true
    }
}

/// The user's command rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandRules {
    /// Rules that let a command run without asking.
    pub allow: Vec<Rule>,
    /// Rules that refuse a command, checked first.
    pub deny: Vec<Rule>,
}

impl CommandRules {
    /// Rules from their text; the error names the bad rule.
    pub fn new(allow: &[String], deny: &[String]) -> Result<Self, String> {
        Ok(CommandRules {
            allow: allow
                .iter()
                .map(|r| Rule::parse(r))
                .collect::<Result<_, _>>()?,
            deny: deny
                .iter()
                .map(|r| Rule::parse(r))
                .collect::<Result<_, _>>()?,
        })
    }
}

/// Decides what happens to `command` under `policy` and `rules`.
pub fn decide(policy: CommandApproval, rules: &CommandRules, command: &str) -> Decision {
    let parsed = split_deep(command);
    if parsed.commands.is_empty() {
        return Decision {
            verdict: Verdict::Refuse,
            reason: "an empty command".into(),
        };
    }
    for words in &parsed.commands {
        if let Some(rule) = rules.deny.iter().find(|r| r.matches(words)) {
            return Decision {
                verdict: Verdict::Refuse,
                reason: format!("denied by rule `{}`", rule.text),
            };
        }
    }
    if policy == CommandApproval::Auto {
        return Decision {
            verdict: Verdict::Run,
            reason: "commands = auto".into(),
        };
    }
    let mut why = Vec::new();
    let all_allowed = !parsed.complex
        && parsed.commands.iter().all(|words| {
            if let Some(rule) = rules.allow.iter().find(|r| r.matches(words)) {
                why.push(format!("allowed by rule `{}`", rule.text));
                true
            } else if policy != CommandApproval::OnRequest && is_safe(words) {
                why.push(format!("`{}` is read-only or a test command", words[0]));
                true
            } else {
                false
            }
        });
    if all_allowed {
        why.dedup();
        return Decision {
            verdict: Verdict::Run,
            reason: why.join("; "),
        };
    }
    let what = if parsed.complex {
        "it redirects output to a file, substitutes commands or uses syntax tandem does not check"
    } else {
        "it is not on the allow list"
    };
    match policy {
        CommandApproval::Never => Decision {
            verdict: Verdict::Refuse,
            reason: format!("{what}, and commands = never refuses anything that needs approval"),
        },
        _ => Decision {
            verdict: Verdict::Ask,
            reason: what.to_string(),
        },
    }
}

/// A command split into simple commands.
#[derive(Debug, Default, PartialEq)]
struct Parsed {
    /// Each simple command's words, quotes removed, leading `VAR=value` assignments kept as words.
    commands: Vec<Vec<String>>,
    /// Output redirected to a file, command substitution, here-documents, unbalanced quotes…
    complex: bool,
}

/// Splits and also looks into `bash -c '…'` bodies and `$(…)` / backquote substitutions.
fn split_deep(command: &str) -> Parsed {
    let mut out = split(command);
    let mut extra = Vec::new();
    for words in &out.commands {
        let start = words.iter().position(|w| !is_assignment(w)).unwrap_or(0);
        let program = words.get(start).map(|w| basename(w)).unwrap_or_default();
        if matches!(program, "bash" | "sh" | "zsh" | "dash" | "ksh")
            && let Some(i) = words.iter().position(|w| w == "-c" || w == "-lc")
            && let Some(body) = words.get(i + 1)
        {
            extra.push(body.clone());
        }
    }
    extra.extend(substitutions(command));
    for body in extra {
        let inner = split_deep(&body);
        out.complex = true;
        out.commands.extend(inner.commands);
    }
    out
}

/// The bodies of `$(…)` and backquote substitutions (outside single quotes).
fn substitutions(command: &str) -> Vec<String> {
    let chars: Vec<char> = command.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut single = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            single = !single;
        } else if !single && c == '$' && chars.get(i + 1) == Some(&'(') {
            let mut depth = 0;
            let start = i + 2;
            let mut j = i + 1;
            while j < chars.len() {
                match chars[j] {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            out.push(chars[start..j.min(chars.len())].iter().collect());
            i = j;
        } else if !single && c == '`' {
            let start = i + 1;
            let end = chars[start..]
                .iter()
                .position(|&c| c == '`')
                .map_or(chars.len(), |p| start + p);
            out.push(chars[start..end].iter().collect());
            i = end;
        }
        i += 1;
    }
    out
}

/// A small shell lexer: words with quotes removed, simple commands split on control operators.
fn split(command: &str) -> Parsed {
    let mut parsed = Parsed::default();
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = command.chars().peekable();
    let finish_word = |word: &mut String, in_word: &mut bool, words: &mut Vec<String>| {
        if *in_word {
            words.push(std::mem::take(word));
            *in_word = false;
        }
    };
    let finish_command = |words: &mut Vec<String>, parsed: &mut Parsed| {
        if !words.is_empty() {
            parsed.commands.push(std::mem::take(words));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                let mut closed = false;
                for c in chars.by_ref() {
                    if c == '\'' {
                        closed = true;
                        break;
                    }
                    word.push(c);
                }
                parsed.complex |= !closed;
            }
            '"' => {
                in_word = true;
                let mut closed = false;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => {
                            closed = true;
                            break;
                        }
                        '\\' => {
                            if let Some(n) = chars.next() {
                                word.push(n);
                            }
                        }
                        '$' | '`' => {
                            parsed.complex |= c == '`' || chars.peek() == Some(&'(');
                            word.push(c);
                        }
                        c => word.push(c),
                    }
                }
                parsed.complex |= !closed;
            }
            '\\' => {
                in_word = true;
                if let Some(n) = chars.next()
                    && n != '\n'
                {
                    word.push(n);
                }
            }
            ' ' | '\t' => finish_word(&mut word, &mut in_word, &mut words),
            '\n' | ';' | '|' | '&' | '(' | ')' | '{' | '}'
                if !in_word || !matches!(c, '{' | '}') =>
            {
                finish_word(&mut word, &mut in_word, &mut words);
                if c == '&' && chars.peek() == Some(&'>') {
                    // `&>file`: stdout and stderr to a file.
                    chars.next();
                    redirect(&mut chars, &mut parsed);
                    continue;
                }
                if matches!(c, '(' | ')' | '{' | '}') {
                    parsed.complex = true;
                }
                finish_command(&mut words, &mut parsed);
            }
            '>' | '<' => {
                // A number right before (`2>`) belongs to the redirection, not to the words.
                if in_word && word.chars().all(|d| d.is_ascii_digit()) {
                    word.clear();
                    in_word = false;
                } else {
                    finish_word(&mut word, &mut in_word, &mut words);
                }
                if c == '<' {
                    match chars.peek() {
                        Some('<') | Some('(') => parsed.complex = true,
                        _ => {}
                    }
                    // Input redirection reads a file: the target word is dropped from the command's words.
                    skip_target(&mut chars);
                } else {
                    redirect(&mut chars, &mut parsed);
                }
            }
            '`' => {
                parsed.complex = true;
                in_word = true;
                word.push(c);
            }
            '$' => {
                in_word = true;
                parsed.complex |= chars.peek() == Some(&'(');
                word.push(c);
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    finish_word(&mut word, &mut in_word, &mut words);
    finish_command(&mut words, &mut parsed);
    // Leading `VAR=value` words can change what runs (`LD_PRELOAD=…`); such commands are never "safe".
    if parsed
        .commands
        .iter()
        .any(|w| w.first().is_some_and(|w| is_assignment(w)))
    {
        parsed.complex = true;
    }
    parsed
}

/// After `>`: `>>`, `>|`, `>&2` and `> /dev/null` are harmless; any other target is a file write.
fn redirect(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, parsed: &mut Parsed) {
    if matches!(chars.peek(), Some('>') | Some('|')) {
        chars.next();
    }
    if chars.peek() == Some(&'&') {
        chars.next();
        let target = take_target(chars);
        if !target.chars().all(|c| c.is_ascii_digit() || c == '-') {
            parsed.complex = true;
        }
        return;
    }
    if chars.peek() == Some(&'(') {
        parsed.complex = true;
    }
    let target = take_target(chars);
    if target != "/dev/null" {
        parsed.complex = true;
    }
}

fn skip_target(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    if matches!(chars.peek(), Some('<') | Some('&')) {
        chars.next();
    }
    take_target(chars);
}

fn take_target(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> String {
    while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
        chars.next();
    }
    let mut target = String::new();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() || matches!(c, ';' | '|' | '&' | '<' | '>' | '(' | ')') {
            break;
        }
        if c != '\'' && c != '"' {
            target.push(c);
        }
        chars.next();
    }
    target
}

fn is_assignment(word: &str) -> bool {
    word.split_once('=').is_some_and(|(name, _)| {
        !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit())
    })
}

fn basename(word: &str) -> &str {
    word.rsplit('/').next().unwrap_or(word)
}

/// `*` matches any run of characters.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(p) => rest = &rest[p + part.len()..],
                None => return false,
            }
        }
    }
    true
}

/// Programs that only read (with the flags that would write or run other programs excluded).
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
    "rg",
    "tree",
    "file",
    "stat",
    "du",
    "df",
    "which",
    "whereis",
    "diff",
    "cmp",
    "uniq",
    "cut",
    "tr",
    "nl",
    "basename",
    "dirname",
    "realpath",
    "readlink",
    "date",
    "uname",
    "whoami",
    "id",
    "jq",
    "sha256sum",
    "md5sum",
    "test",
    "[",
];

/// Whether a simple command only reads, or builds and tests the project.
fn is_safe(words: &[String]) -> bool {
    let Some(program) = words.first().map(|w| basename(w)) else {
        return false;
    };
    let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
    let first = args.first().copied().unwrap_or("");
    if args.iter().any(|a| *a == "--version" || *a == "-V") && args.len() == 1 {
        return true;
    }
    match program {
        p if READ_ONLY.contains(&p) => true,
        "sort" => !args
            .iter()
            .any(|a| a.starts_with("-o") || a.starts_with("--output")),
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
        "git" => {
            let listing_branch = first == "branch"
                && args[1..].iter().all(|a| {
                    matches!(*a, "-a" | "-r" | "-v" | "-vv" | "--list" | "--show-current")
                });
            (matches!(
                first,
                "status"
                    | "diff"
                    | "log"
                    | "show"
                    | "rev-parse"
                    | "ls-files"
                    | "blame"
                    | "grep"
                    | "describe"
                    | "shortlog"
            ) || listing_branch)
                && !args
                    .iter()
                    .any(|a| a.starts_with("--output") || *a == "--ext-diff")
        }
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
        "pytest" | "tsc" => program != "tsc" || args.contains(&"--noEmit"),
        "python" | "python3" => {
            first == "-m" && matches!(args.get(1).copied(), Some("pytest" | "unittest" | "mypy"))
        }
        "make" => matches!(first, "test" | "check"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(allow: &[&str], deny: &[&str]) -> CommandRules {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        CommandRules::new(&s(allow), &s(deny)).unwrap()
    }

    fn verdict(policy: CommandApproval, r: &CommandRules, cmd: &str) -> Verdict {
        decide(policy, r, cmd).verdict
    }

    #[test]
    fn the_lexer_splits_commands_and_flags_what_it_cannot_check() {
        let p = split("cargo test -p a && echo 'a b' | grep \"x y\"; ls");
        assert_eq!(
            p.commands,
            vec![
                vec!["cargo", "test", "-p", "a"],
                vec!["echo", "a b"],
                vec!["grep", "x y"],
                vec!["ls"]
            ]
        );
        assert!(!p.complex);
        assert!(!split("cargo test 2>&1 > /dev/null").complex);
        for cmd in [
            "echo x > out.txt",
            "echo x >> ../out",
            "cat $(which ls)",
            "echo `id`",
            "cat <<EOF\nx\nEOF",
            "echo 'unterminated",
            "LD_PRELOAD=x.so ls",
            "ls &> log",
            "(cd .. && ls)",
        ] {
            assert!(split(cmd).complex, "{cmd}");
        }
    }

    #[test]
    fn deny_comes_first_and_is_not_bypassed_by_wrapping() {
        let r = rules(&["rm *"], &["rm -rf *", "curl"]);
        for cmd in [
            "rm -rf /",
            "ls && rm -rf .",
            "bash -c 'rm -rf ~'",
            "echo $(curl example.com)",
            "sh -c \"ls; curl x\"",
            "/usr/bin/curl x",
        ] {
            let d = decide(CommandApproval::Auto, &r, cmd);
            if cmd.starts_with("/usr/bin") {
                // Rules match words as written; a path is a different word.
                assert_eq!(d.verdict, Verdict::Run, "{cmd}");
            } else {
                assert_eq!(d.verdict, Verdict::Refuse, "{cmd}: {d:?}");
                assert!(d.reason.starts_with("denied by rule"), "{d:?}");
            }
        }
        assert_eq!(
            verdict(CommandApproval::Never, &r, "rm -r build"),
            Verdict::Run
        );
    }

    #[test]
    fn policies_differ_in_what_they_ask_about() {
        let r = rules(&["npm test"], &[]);
        let u = CommandApproval::Untrusted;
        assert_eq!(verdict(u, &r, "cargo test --lib"), Verdict::Run);
        assert_eq!(verdict(u, &r, "git status && git diff HEAD"), Verdict::Run);
        assert_eq!(verdict(u, &r, "npm test -- --watch=false"), Verdict::Run);
        assert_eq!(verdict(u, &r, "rm -rf target"), Verdict::Ask);
        assert_eq!(verdict(u, &r, "ls > listing.txt"), Verdict::Ask);
        assert_eq!(verdict(u, &r, "find . -delete"), Verdict::Ask);
        assert_eq!(verdict(u, &r, "git -c core.pager=sh log"), Verdict::Ask);
        assert_eq!(verdict(u, &r, "git commit -m x"), Verdict::Ask);
        assert_eq!(verdict(u, &r, "cargo fmt"), Verdict::Ask);
        assert_eq!(verdict(u, &r, "cargo fmt --check"), Verdict::Run);
        let o = CommandApproval::OnRequest;
        assert_eq!(verdict(o, &r, "ls"), Verdict::Ask);
        assert_eq!(verdict(o, &r, "npm test"), Verdict::Run);
        let n = CommandApproval::Never;
        assert_eq!(verdict(n, &r, "cargo check"), Verdict::Run);
        assert_eq!(verdict(n, &r, "rm -rf target"), Verdict::Refuse);
        assert_eq!(
            verdict(CommandApproval::Auto, &r, "rm -rf target"),
            Verdict::Run
        );
        let d = decide(u, &r, "cargo test");
        assert!(d.reason.contains("read-only or a test command"), "{d:?}");
        let d = decide(u, &r, "npm test");
        assert_eq!(d.reason, "allowed by rule `npm test`");
    }

    #[test]
    fn rules_match_words_with_globs() {
        let r = Rule::parse("rm -rf *").unwrap();
        let w = |s: &str| split(s).commands.remove(0);
        assert!(r.matches(&w("rm -rf /")));
        assert!(r.matches(&w("rm -rf a b")));
        assert!(!r.matches(&w("rm -rf")));
        assert!(!r.matches(&w("rm -r x")));
        let r = Rule::parse("git push*").unwrap();
        assert!(r.matches(&w("git push --force")));
        assert!(r.matches(&w("git push-all")));
        assert!(Rule::parse("a; b").is_err());
        assert!(Rule::parse("").is_err());
    }
}
