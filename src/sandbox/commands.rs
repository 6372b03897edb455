//! Which model-requested commands run, which ask a person first, and which are refused: the approval policy,
//! the user's allow and deny rules (deny first), and a list of read-only and test commands
//! ([`super::readonly`]) that `untrusted` and `never` run without asking. The line is lexed
//! ([`super::lexer`]) and every simple command followed through its wrappers ([`super::unwrap`]), so a deny
//! rule is matched against what really runs (`env touch`, `timeout 5 touch`, `xargs touch`,
//! `find -exec touch`, `/usr/bin/touch`); a line whose program cannot be known without running the shell
//! (`$t`, `tou[c]h`, `eval`, `source`) is never approved without a person. The policy fails closed: what it
//! does not understand asks.

use serde::{Deserialize, Serialize};

use super::lexer::{basename, split};
use super::unwrap::{Analysis, Location, analyse};
use crate::protocol::CommandVerdict;

/// How commands are approved.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum CommandPolicy {
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

/// A verdict and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// What happens.
    pub verdict: CommandVerdict,
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
            [one] if !one.is_empty() && !parsed.complex && parsed.unreadable.is_none() => {
                let mut words = one.clone();
                // `/usr/bin/curl` in a rule means the program `curl`, as in a command.
                words[0] = basename(&words[0]).to_string();
                Ok(Rule {
                    text: text.trim().to_string(),
                    words,
                })
            }
            _ => Err(format!(
                "`{text}` is not a single command (rules are words such as \"npm test\" or \"rm -rf *\")"
            )),
        }
    }

    /// The rule as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether the rule matches `words`; an `open_ended` command gets more words than written (`xargs`),
    /// so running out of words matches.
    fn matches(&self, words: &[String], open_ended: bool) -> bool {
        let mut i = 0;
        for (k, pat) in self.words.iter().enumerate() {
            if pat == "*" && k + 1 == self.words.len() {
                return i < words.len() || open_ended;
            }
            match words.get(i) {
                Some(w) if glob(pat, w) => i += 1,
                None if open_ended => return true,
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

/// Whether `command` only reads (or only runs tests), as the `untrusted` policy classifies it without rules:
/// running it again with nothing else changed gives the same answer.
pub fn only_looks(command: &str) -> bool {
    decide(CommandPolicy::Untrusted, &CommandRules::default(), command).verdict
        == CommandVerdict::Run
}

/// Decides what happens to `command` under `policy` and `rules`.
pub fn decide(policy: CommandPolicy, rules: &CommandRules, command: &str) -> Decision {
    let analysis = analyse(command);
    let decision = |verdict, reason: String| Decision { verdict, reason };
    if analysis.chains.is_empty() && analysis.opaque.is_none() {
        return decision(CommandVerdict::Refuse, "an empty command".into());
    }
    for form in analysis.chains.iter().flat_map(|c| &c.forms) {
        if let Some(rule) = rules
            .deny
            .iter()
            .find(|r| r.matches(&form.words, form.open_ended))
        {
            return decision(
                CommandVerdict::Refuse,
                format!("denied by rule `{}`", rule.text),
            );
        }
    }
    let unknowable = analysis
        .opaque
        .clone()
        .or_else(|| named_in_arguments(rules, &analysis));
    if let Some(why) = &unknowable {
        // Deny rules cannot be checked against a program the shell has yet to make up.
        let what = format!("{why}, so tandem cannot tell what it runs");
        return match policy {
            CommandPolicy::Auto if rules.deny.is_empty() => {
                decision(CommandVerdict::Run, "commands = auto".into())
            }
            CommandPolicy::Never => decision(
                CommandVerdict::Refuse,
                format!("{what}, and commands = never refuses anything that needs approval"),
            ),
            _ => decision(CommandVerdict::Ask, what),
        };
    }
    if policy == CommandPolicy::Auto {
        return decision(CommandVerdict::Run, "commands = auto".into());
    }
    let mut why = Vec::new();
    let all_allowed = !analysis.complex
        && analysis.chains.iter().all(|chain| {
            let Some((last, wrappers)) = chain.forms.split_last() else {
                return false;
            };
            if !wrappers.iter().all(|w| w.harmless_wrapper)
                || last.location == Location::Other
                || last.open_ended
            {
                return false;
            }
            if let Some(rule) = rules.allow.iter().find(|r| r.matches(&last.words, false)) {
                why.push(format!("allowed by rule `{}`", rule.text));
                true
            } else if policy != CommandPolicy::OnRequest && super::readonly::is_safe(&last.words) {
                why.push(format!(
                    "`{}` is read-only or a test command",
                    last.words[0]
                ));
                true
            } else {
                false
            }
        });
    if all_allowed {
        why.dedup();
        return decision(CommandVerdict::Run, why.join("; "));
    }
    let what = if analysis.complex {
        "it redirects output to a file, substitutes commands or uses syntax tandem does not check"
    } else {
        "it is not on the allow list"
    };
    match policy {
        CommandPolicy::Never => decision(
            CommandVerdict::Refuse,
            format!("{what}, and commands = never refuses anything that needs approval"),
        ),
        _ => decision(CommandVerdict::Ask, what.to_string()),
    }
}

/// A deny rule's program named among the arguments of a program that is not known to leave its arguments
/// alone (`flock f touch x`, `script -qc 'touch x'`, `busybox touch x`): such a program may run it, and no
/// list of wrappers is ever complete, so the rule could apply.
fn named_in_arguments(rules: &CommandRules, analysis: &Analysis) -> Option<String> {
    let denied: Vec<&str> = rules.deny.iter().map(|r| r.words[0].as_str()).collect();
    for chain in &analysis.chains {
        let Some(last) = chain.forms.last() else {
            continue;
        };
        if super::readonly::is_safe(&last.words) {
            continue;
        }
        let tokens = last.words[1..].iter().flat_map(|w| {
            w.split(|c: char| !(c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '+')))
                .filter(|t| !t.is_empty())
        });
        for token in tokens {
            if let Some(program) = denied.iter().find(|p| glob(p, token)) {
                return Some(format!(
                    "`{}` is given `{token}` among its arguments and may run it (a deny rule names `{program}`)",
                    last.words[0]
                ));
            }
        }
    }
    None
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(allow: &[&str], deny: &[&str]) -> CommandRules {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        CommandRules::new(&s(allow), &s(deny)).unwrap()
    }

    fn verdict(policy: CommandPolicy, r: &CommandRules, cmd: &str) -> CommandVerdict {
        decide(policy, r, cmd).verdict
    }

    #[test]
    fn the_lexer_splits_commands_and_flags_what_it_cannot_check() {
        use super::super::lexer::split;
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
            let d = decide(CommandPolicy::Auto, &r, cmd);
            assert_eq!(d.verdict, CommandVerdict::Refuse, "{cmd}: {d:?}");
            assert!(d.reason.starts_with("denied by rule"), "{d:?}");
        }
        assert_eq!(
            verdict(CommandPolicy::Never, &r, "rm -r build"),
            CommandVerdict::Run
        );
    }

    #[test]
    fn policies_differ_in_what_they_ask_about() {
        let r = rules(&["npm test"], &[]);
        let u = CommandPolicy::Untrusted;
        assert_eq!(verdict(u, &r, "cargo test --lib"), CommandVerdict::Run);
        assert_eq!(
            verdict(u, &r, "git status && git diff HEAD"),
            CommandVerdict::Run
        );
        assert_eq!(
            verdict(u, &r, "npm test -- --watch=false"),
            CommandVerdict::Run
        );
        assert_eq!(verdict(u, &r, "rm -rf target"), CommandVerdict::Ask);
        assert_eq!(verdict(u, &r, "ls > listing.txt"), CommandVerdict::Ask);
        assert_eq!(verdict(u, &r, "find . -delete"), CommandVerdict::Ask);
        assert_eq!(
            verdict(u, &r, "git -c core.pager=sh log"),
            CommandVerdict::Ask
        );
        assert_eq!(verdict(u, &r, "git commit -m x"), CommandVerdict::Ask);
        assert_eq!(verdict(u, &r, "cargo fmt"), CommandVerdict::Ask);
        assert_eq!(verdict(u, &r, "cargo fmt --check"), CommandVerdict::Run);
        let o = CommandPolicy::OnRequest;
        assert_eq!(verdict(o, &r, "ls"), CommandVerdict::Ask);
        assert_eq!(verdict(o, &r, "npm test"), CommandVerdict::Run);
        let n = CommandPolicy::Never;
        assert_eq!(verdict(n, &r, "cargo check"), CommandVerdict::Run);
        assert_eq!(verdict(n, &r, "rm -rf target"), CommandVerdict::Refuse);
        assert_eq!(
            verdict(CommandPolicy::Auto, &r, "rm -rf target"),
            CommandVerdict::Run
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
        assert!(r.matches(&w("rm -rf /"), false));
        assert!(r.matches(&w("rm -rf a b"), false));
        assert!(!r.matches(&w("rm -rf"), false));
        assert!(r.matches(&w("rm -rf"), true), "xargs adds the operands");
        assert!(!r.matches(&w("rm -r x"), false));
        let r = Rule::parse("git push*").unwrap();
        assert!(r.matches(&w("git push --force"), false));
        assert!(r.matches(&w("git push-all"), false));
        assert!(Rule::parse("a; b").is_err());
        assert!(Rule::parse("").is_err());
    }

    #[test]
    fn a_deny_rule_holds_against_wrappers_paths_and_unknowable_words() {
        let r = rules(&[], &["touch *"]);
        for cmd in [
            "env touch x",
            "env -i FOO=1 touch x",
            "command touch x",
            "builtin touch x",
            "exec touch x",
            "nice -n 5 touch x",
            "nohup touch x",
            "timeout 5 touch x",
            "time touch x",
            "stdbuf -o0 touch x",
            "ionice -c3 touch x",
            "sudo touch x",
            "doas -u root touch x",
            "ls | xargs touch",
            "ls | xargs -I{} touch {}",
            "find . -exec touch {} ;",
            "find . -execdir touch {} +",
            "/usr/bin/touch x",
            "../../usr/bin/touch x",
            "eval touch x",
            "eval 'touch x'",
            "bash -lc 'touch x'",
            "echo $(env touch x)",
        ] {
            let d = decide(CommandPolicy::Auto, &r, cmd);
            assert_eq!(d.verdict, CommandVerdict::Refuse, "{cmd}: {d:?}");
            assert!(d.reason.contains("touch *"), "{cmd}: {d:?}");
        }
        for cmd in [
            "t=touch; $t x",
            "tou[c]h x",
            "tou*h x",
            "`echo touch` x",
            "source ./t.sh",
            ". ./t.sh",
            "eval \"$c\"",
        ] {
            let d = decide(CommandPolicy::Auto, &r, cmd);
            assert_eq!(d.verdict, CommandVerdict::Ask, "{cmd}: {d:?}");
            assert!(
                d.reason.contains("cannot tell what it runs"),
                "{cmd}: {d:?}"
            );
            let d = decide(CommandPolicy::Never, &r, cmd);
            assert_eq!(d.verdict, CommandVerdict::Refuse, "{cmd}: {d:?}");
            assert_eq!(
                verdict(CommandPolicy::Untrusted, &r, cmd),
                CommandVerdict::Ask,
                "{cmd}"
            );
        }
        // Without deny rules, auto runs everything (in the sandbox).
        assert_eq!(
            verdict(CommandPolicy::Auto, &CommandRules::default(), "$t x"),
            CommandVerdict::Run
        );
    }

    #[test]
    fn a_deny_rule_holds_against_the_shells_grammar_interpreters_and_unknown_wrappers() {
        let r = rules(&[], &["touch *"]);
        let refused = [
            "if true; then touch x; fi",
            "! touch x",
            "for f in a; do touch x; done",
            "while false; do :; done; touch x",
            "case a in a) touch x;; esac",
            "f() { touch x; }; f",
            "(touch x)",
            "{ touch x; }",
            "tou\\ch x",
            "\"tou\"ch x",
            "coproc touch x",
            "env - touch x",
            "env - - touch x",
            "flock /tmp/l touch x",
            "taskset -c 0 touch x",
            "setarch x86_64 touch x",
            "busybox touch x",
            "trap 'touch x' EXIT",
            "diff <(touch x) y",
        ];
        for cmd in refused {
            let d = decide(CommandPolicy::Auto, &r, cmd);
            assert_eq!(d.verdict, CommandVerdict::Refuse, "{cmd}: {d:?}");
            assert!(d.reason.contains("touch *"), "{cmd}: {d:?}");
        }
        let asked = [
            ("echo touch x | sh", "from a file or from its input"),
            ("sh <<< 'touch x'", "from a file or from its input"),
            ("bash <<EOF\ntouch x\nEOF", "from a file or from its input"),
            ("bash ./make.sh", "from a file or from its input"),
            (
                "alias t=touch; t x",
                "changes what a later command name runs",
            ),
            (
                "hash -p /usr/bin/touch ls; ls",
                "changes what a later command name runs",
            ),
            (
                "python3 -c 'import os; os.system(\"to\"+\"uch x\")'",
                "code given in its arguments",
            ),
            ("echo 'import os' | python3", "code from its input"),
            (
                "perl -e 'system q(tou).q(ch)'",
                "code given in its arguments",
            ),
            (
                "node -e 'require(`child_process`)'",
                "code given in its arguments",
            ),
            ("ruby -e 'x'", "code given in its arguments"),
            ("awk 'BEGIN{system(\"x\")}'", "awk program"),
            ("sed -n '1e date' f", "pattern space"),
            ("sed 's/.*/date/e' f", "pattern space"),
            (
                "git -c alias.x='!touch y' x",
                "configuration from its arguments",
            ),
            ("git st", "may be an alias"),
            ("script -qc 'touch x' /dev/null", "runs the command"),
            ("watch touch x", "runs a command line"),
            ("strace -f touch x", "may run it"),
            ("mytool --exec touch", "may run it"),
            ("cp /usr/bin/touch t", "may run it"),
            ("tou[c]h x", "cannot parse"),
            ("echo 'unterminated", "cannot parse"),
        ];
        for (cmd, why) in asked {
            let d = decide(CommandPolicy::Auto, &r, cmd);
            assert_eq!(d.verdict, CommandVerdict::Ask, "{cmd}: {d:?}");
            assert!(d.reason.contains(why), "{cmd}: {d:?}");
            assert!(
                d.reason.contains("cannot tell what it runs"),
                "{cmd}: {d:?}"
            );
            assert_eq!(
                verdict(CommandPolicy::Never, &r, cmd),
                CommandVerdict::Refuse,
                "{cmd}"
            );
        }
        // What only reads is not slowed by the rule, nor is anything without rules.
        for cmd in [
            "grep -rn touch src",
            "git status",
            "cargo test",
            "sed -n 1,5p f",
            "python3 test_x.py",
            "git log --oneline",
        ] {
            assert_eq!(
                verdict(CommandPolicy::Auto, &r, cmd),
                CommandVerdict::Run,
                "{cmd}"
            );
        }
        assert_eq!(
            verdict(
                CommandPolicy::Auto,
                &CommandRules::default(),
                "echo touch x | sh"
            ),
            CommandVerdict::Run
        );
    }

    #[test]
    fn read_only_is_decided_on_what_runs_and_how() {
        let r = CommandRules::default();
        let n = CommandPolicy::Never;
        for cmd in [
            "sort -S 1K --compress-program=sh notes.txt",
            "uniq /dev/null src/lib.rs",
            "./ls",
            "bin/cat x",
            "sudo cat /etc/shadow",
            "ls | xargs cat",
            "env LD_PRELOAD=x.so ls",
            "time -o out ls",
            "nice find . -delete",
        ] {
            assert_eq!(verdict(n, &r, cmd), CommandVerdict::Refuse, "{cmd}");
        }
        for cmd in [
            "nice -n 5 cargo test",
            "timeout 60 cargo test",
            "/usr/bin/ls -la",
            "command -v cargo",
            "env",
        ] {
            assert_eq!(verdict(n, &r, cmd), CommandVerdict::Run, "{cmd}");
        }
        let allow = rules(&["npm test"], &[]);
        assert_eq!(verdict(n, &allow, "nohup npm test"), CommandVerdict::Run);
        assert_eq!(verdict(n, &allow, "./npm test"), CommandVerdict::Refuse);
    }
}
