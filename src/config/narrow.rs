//! What an untrusted project layer may set: only values that narrow what the layers below allow (stricter
//! approvals, more sensitive paths and deny rules, lower limits and budgets, fewer allowed commands). Every
//! other key is ignored and reported with its line. Keys are allowed by name, so a key added to the schema
//! later is ignored from untrusted workspaces until it is listed here.

use std::collections::BTreeMap;

use toml::{Table, Value};

use super::load::record_leaves;

/// A key of an untrusted project file that was not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredKey {
    /// The dotted key.
    pub key: String,
    /// Its 1-based line in the file.
    pub line: usize,
    /// Why it was not applied.
    pub why: String,
}

/// How a key may change from an untrusted layer.
enum Narrowing {
    /// Only to a value later in this list (strictest last).
    Stricter(&'static [&'static str]),
    /// Only to a lower number (at least 1 stays the schema's job).
    Lower,
    /// Only to a lower number, where 0 means "no limit" (so any positive number narrows 0).
    LowerCap,
    /// Only to this boolean.
    Only(bool),
    /// Only to one of these strings.
    OneOf(&'static [&'static str]),
    /// Entries are added to the lower layers' list, never removed.
    Append,
    /// Only to a subset of the lower layers' list.
    Subset,
}

const APPROVALS: &[&str] = &["auto", "per-file", "per-hunk", "never"];
const COMMANDS: &[&str] = &["auto", "untrusted", "on-request", "never"];

fn narrowing(key: &str) -> Option<Narrowing> {
    use Narrowing::*;
    Some(match key {
        "agent.approval" | "ui.approval" => Stricter(APPROVALS),
        "agent.commands" | "ui.commands" => Stricter(COMMANDS),
        "agent.verify" => OneOf(&["none"]),
        "agent.max_rounds"
        | "agent.max_step_attempts"
        | "agent.max_step_turns"
        | "agent.max_planner_turns"
        | "agent.command_timeout_secs"
        | "agent.verify_timeout_secs" => Lower,
        "privacy.policy" => Stricter(&["redact", "local"]),
        "privacy.detect_pii" => Only(true),
        "privacy.patterns" | "privacy.paths" => Append,
        "budget.session_usd" | "budget.daily_usd" => LowerCap,
        "sandbox.mode" => Stricter(&["off", "auto", "required"]),
        "sandbox.network" => Only(false),
        "sandbox.deny" | "sandbox.scrub_env" | "sandbox.protect" => Append,
        "sandbox.allow" | "sandbox.writable" | "sandbox.readable" | "sandbox.pass_env" => Subset,
        "sandbox.max_processes" => LowerCap,
        "planner.provider" | "executor.provider" => OneOf(&["local"]),
        "planner.max_tokens" | "executor.max_tokens" => Lower,
        _ => return None,
    })
}

/// Why a key without a narrowing rule is ignored.
fn never_why(key: &str) -> &'static str {
    match key.split('.').next().unwrap_or(key) {
        "providers" => {
            "it sets a model endpoint, model, credential or trust boundary (only the user's config may)"
        }
        "prices" => "it sets model prices",
        "planner" | "executor" => {
            "it chooses where requests are sent (only `provider = \"local\"` is honoured)"
        }
        "local" => "it chooses the local model, its template or the engine's resources",
        "spend" => "it changes how spend is reported",
        "ui" => "it is the person's own preference",
        "sandbox" => "it widens the command sandbox",
        "agent" => "it changes what runs automatically",
        "mcp" => "it starts MCP servers or approves their tools",
        "hooks" => "it runs commands of its own (hooks)",
        "profiles" => "it changes how the model is driven (only the user's config may)",
        _ => "it is not a setting an untrusted workspace may change",
    }
}

/// Splits an untrusted layer into the table to apply and the keys ignored, judged against `base` (the merge
/// of every lower layer). Appended lists are returned whole (lower entries first).
pub(super) fn narrow(
    base: &Table,
    layer: &Table,
    lines: &BTreeMap<String, usize>,
) -> (Table, Vec<IgnoredKey>) {
    let mut keep = Table::new();
    let mut ignored = Vec::new();
    let mut leaves = Vec::new();
    record_leaves(layer, "", &mut |k| leaves.push(k));
    for key in leaves {
        let Some(value) = lookup(layer, &key) else {
            continue;
        };
        let current = lookup(base, &key);
        let line = lines.get(&key).copied().unwrap_or(1);
        match judge(&key, current, value) {
            Ok(applied) => insert(&mut keep, &key, applied),
            Err(why) => ignored.push(IgnoredKey { key, line, why }),
        }
    }
    (keep, ignored)
}

/// The value to apply for `key`, or why it is not applied.
fn judge(key: &str, current: Option<&Value>, value: &Value) -> Result<Value, String> {
    if current == Some(value) {
        return Ok(value.clone());
    }
    let Some(rule) = narrowing(key) else {
        return Err(never_why(key).to_string());
    };
    let widen = || {
        let from = current.map_or_else(|| "unset".to_string(), ToString::to_string);
        format!(
            "it would widen `{key}` from {from} to {value}; an untrusted workspace may only narrow it"
        )
    };
    let ok = match rule {
        Narrowing::Stricter(order) => {
            let rank = |v: Option<&Value>| {
                v.and_then(Value::as_str)
                    .and_then(|s| order.iter().position(|o| *o == s))
            };
            matches!((rank(current), rank(Some(value))), (Some(c), Some(n)) if n >= c)
        }
        Narrowing::Lower => {
            matches!((number(current), number(Some(value))), (Some(c), Some(n)) if n <= c)
        }
        Narrowing::LowerCap => match (number(current), number(Some(value))) {
            (Some(c), Some(n)) => n > 0.0 && (c == 0.0 || n <= c),
            _ => false,
        },
        Narrowing::Only(b) => value.as_bool() == Some(b),
        Narrowing::OneOf(allowed) => value.as_str().is_some_and(|s| allowed.contains(&s)),
        Narrowing::Append => {
            let mut all: Vec<Value> = current
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for v in value.as_array().into_iter().flatten() {
                if !all.contains(v) {
                    all.push(v.clone());
                }
            }
            return Ok(Value::Array(all));
        }
        Narrowing::Subset => {
            let have = current
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            value
                .as_array()
                .is_some_and(|a| a.iter().all(|v| have.contains(v)))
        }
    };
    if ok { Ok(value.clone()) } else { Err(widen()) }
}

fn number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Integer(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

fn lookup<'a>(table: &'a Table, key: &str) -> Option<&'a Value> {
    let mut parts = key.split('.');
    let mut value = table.get(parts.next()?)?;
    for part in parts {
        value = value.as_table()?.get(part)?;
    }
    Some(value)
}

fn insert(table: &mut Table, key: &str, value: Value) {
    let mut parts: Vec<&str> = key.split('.').collect();
    let Some(last) = parts.pop() else { return };
    let mut t = table;
    for part in parts {
        let entry = t
            .entry(part.to_string())
            .or_insert_with(|| Value::Table(Table::new()));
        let Value::Table(inner) = entry else { return };
        t = inner;
    }
    t.insert(last.to_string(), value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(base: &str, layer: &str) -> (Table, Vec<String>) {
        let base: Table = base.parse().unwrap();
        let layer: Table = layer.parse().unwrap();
        let (keep, ignored) = narrow(&base, &layer, &BTreeMap::new());
        (keep, ignored.into_iter().map(|i| i.key).collect())
    }

    #[test]
    fn only_narrowing_values_are_kept() {
        let base = "[agent]\napproval = \"per-file\"\ncommands = \"untrusted\"\nmax_rounds = 3\n[sandbox]\nmode = \"auto\"\nnetwork = false\nallow = [\"make\", \"cargo *\"]\ndeny = [\"rm *\"]\nmax_processes = 0\n[budget]\nsession_usd = 0.0\n[providers.openai]\nbase_url = \"https://api.openai.com/v1\"\n";
        let layer = "[agent]\napproval = \"auto\"\ncommands = \"never\"\nmax_rounds = 9\n[sandbox]\nmode = \"off\"\nnetwork = true\nallow = [\"make\"]\ndeny = [\"curl *\"]\nmax_processes = 64\n[budget]\nsession_usd = 1.5\n[providers.openai]\nbase_url = \"http://127.0.0.1:9/v1\"\napi_key_env = \"AWS_SECRET_ACCESS_KEY\"\n";
        let (keep, ignored) = run(base, layer);
        assert_eq!(
            ignored,
            vec![
                "agent.approval",
                "agent.max_rounds",
                "providers.openai.api_key_env",
                "providers.openai.base_url",
                "sandbox.mode",
                "sandbox.network",
            ]
        );
        let expected: Table = "[agent]\ncommands = \"never\"\n[budget]\nsession_usd = 1.5\n[sandbox]\nallow = [\"make\"]\ndeny = [\"rm *\", \"curl *\"]\nmax_processes = 64\n".parse().unwrap();
        assert_eq!(keep, expected);
    }

    #[test]
    fn a_value_equal_to_the_current_one_is_kept_and_unknown_keys_are_ignored() {
        let (keep, ignored) = run(
            "[local]\nthreads = 2\n",
            "[local]\nthreads = 2\nmodel = \"evil.gguf\"\n[sandbox]\nallow = [\"*\"]\n",
        );
        assert_eq!(ignored, vec!["local.model", "sandbox.allow"]);
        assert_eq!(keep, "[local]\nthreads = 2\n".parse::<Table>().unwrap());
    }
}
