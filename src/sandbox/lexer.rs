//! A small shell lexer for the command policy: words with quotes removed, simple commands split on control
//! operators (`;`, `&&`, `||`, `|`, `&`, newlines, parentheses and braces), output redirections to files and
//! syntax it does not follow (here-documents, process substitution, unbalanced quotes) flagged as complex,
//! and the bodies of `$(…)` and backquotes found. It does not expand anything: a word that would be expanded
//! is kept as written, and the policy treats such a command word as unknowable.

/// A command split into simple commands.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Parsed {
    /// Each simple command's words, quotes removed, leading `VAR=value` assignments kept as words.
    pub commands: Vec<Vec<String>>,
    /// Output redirected to a file, command substitution, here-documents, unbalanced quotes…
    pub complex: bool,
}

/// The bodies of `$(…)` and backquote substitutions (outside single quotes).
pub(super) fn substitutions(command: &str) -> Vec<String> {
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
pub(super) fn split(command: &str) -> Parsed {
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

pub(super) fn is_assignment(word: &str) -> bool {
    word.split_once('=').is_some_and(|(name, _)| {
        !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit())
    })
}

pub(super) fn basename(word: &str) -> &str {
    word.rsplit('/').next().unwrap_or(word)
}
