//! Resolving the layers (defaults < user file < project file < environment < flags) into one `Config`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Table;
use toml::Value;

use super::error::ConfigError;
use super::schema::ConfigFile;
use super::source::{Source, line_col};

/// A value set by a command-line flag.
#[derive(Debug, Clone)]
pub struct FlagOverride {
    /// Dotted config key, e.g. `local.model`.
    pub key: &'static str,
    /// The flag as the user typed it, e.g. `--model`.
    pub flag: &'static str,
    /// The value.
    pub value: Value,
}

/// Environment variables that set one config key directly.
pub const ENV_ALIASES: &[(&str, &str)] = &[
    ("TANDEM_MODEL", "local.model"),
    ("TANDEM_PLANNER", "planner.provider"),
    ("TANDEM_EXECUTOR", "executor.provider"),
    ("OPENAI_BASE_URL", "providers.openai.base_url"),
    ("ANTHROPIC_BASE_URL", "providers.anthropic.base_url"),
];

/// A config file that was looked for, and whether it was there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFileStatus {
    /// `user` or `project`.
    pub layer: &'static str,
    /// The path looked at.
    pub path: PathBuf,
    /// Whether it existed and was read.
    pub loaded: bool,
}

/// The merged layers, before they are typed.
pub(super) struct Merged {
    pub table: Table,
    pub origins: BTreeMap<String, Source>,
    pub files: Vec<ConfigFileStatus>,
    /// Keys of an untrusted layer that were not applied.
    pub ignored: Vec<super::narrow::IgnoredKey>,
}

/// One config file's content, read by the caller.
pub(super) struct LayerFile {
    /// `user` or `project`.
    pub layer: &'static str,
    /// Where it is.
    pub path: PathBuf,
    /// Its text, or `None` when there is no such file.
    pub text: Option<String>,
    /// Whether only narrowing values are applied (an untrusted project file).
    pub narrow: bool,
}

/// Merges all layers; every error names its file and line, variable or flag, and key.
pub(super) fn merge_layers(
    files: &[LayerFile],
    env: &BTreeMap<String, String>,
    flags: &[FlagOverride],
) -> Result<Merged, ConfigError> {
    // Invariant: ConfigFile holds only TOML-representable fields (checked by the defaults_round_trip test).
    let mut table = Table::try_from(ConfigFile::default()).expect("defaults serialize to TOML");
    let mut origins = BTreeMap::new();
    record_leaves(&table, "", &mut |key| {
        origins.insert(key, Source::Default);
    });

    let mut statuses = Vec::new();
    let mut ignored = Vec::new();
    for file in files {
        let Some(text) = &file.text else {
            statuses.push(ConfigFileStatus {
                layer: file.layer,
                path: file.path.clone(),
                loaded: false,
            });
            continue;
        };
        let path = &file.path;
        let (mut layer_table, lines) = parse_file(path, text)?;
        if file.narrow {
            let (kept, dropped) = super::narrow::narrow(&table, &layer_table, &lines);
            layer_table = kept;
            ignored.extend(dropped);
        }
        merge_into(&mut table, &layer_table, "", &mut |key| {
            let line = lines.get(&key).copied().unwrap_or(1);
            origins.insert(
                key,
                Source::File {
                    path: path.clone(),
                    line,
                },
            );
        });
        statuses.push(ConfigFileStatus {
            layer: file.layer,
            path: path.clone(),
            loaded: true,
        });
    }

    for (var, raw) in env {
        let Some(key) = env_key(var) else { continue };
        let value = env_value(&key, raw).map_err(|message| ConfigError::Invalid {
            origin: format!("env {var}"),
            key: key.clone(),
            message,
        })?;
        let overlay = single(&key, value);
        merge_into(&mut table, &overlay, "", &mut |k| {
            origins.insert(k, Source::Env(var.clone()));
        });
    }

    for flag in flags {
        let overlay = single(flag.key, flag.value.clone());
        check_layer(&overlay).map_err(|(key, message)| ConfigError::Invalid {
            origin: format!("flag {}", flag.flag),
            key,
            message,
        })?;
        merge_into(&mut table, &overlay, "", &mut |k| {
            origins.insert(k, Source::Flag(flag.flag.to_string()));
        });
    }
    Ok(Merged {
        table,
        origins,
        files: statuses,
        ignored,
    })
}

/// The config key an environment variable sets, if it is one of ours.
///
/// `TANDEM_LOCAL__THREADS` sets `local.threads` (double underscore between levels); the aliases in
/// [`ENV_ALIASES`] set one key each. Other variables, including tandem's own `TANDEM_*_DIR`, are not config.
pub fn env_key(var: &str) -> Option<String> {
    if let Some((_, key)) = ENV_ALIASES.iter().find(|(v, _)| *v == var) {
        return Some((*key).to_string());
    }
    let rest = var.strip_prefix("TANDEM_")?;
    rest.contains("__").then(|| {
        rest.split("__")
            .map(str::to_ascii_lowercase)
            .collect::<Vec<_>>()
            .join(".")
    })
}

/// Types an environment value: a TOML literal (number, bool, array) if that fits the key, else a string.
fn env_value(key: &str, raw: &str) -> Result<Value, String> {
    let literal = format!("v = {raw}")
        .parse::<Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .filter(|v| !v.is_str());
    let as_string = Value::String(raw.to_string());
    match literal {
        Some(v) => match check_layer(&single(key, v.clone())) {
            Ok(()) => Ok(v),
            Err((_, first)) => check_layer(&single(key, as_string.clone()))
                .map(|()| as_string)
                .map_err(|_| first),
        },
        None => check_layer(&single(key, as_string.clone()))
            .map(|()| as_string)
            .map_err(|(_, m)| m),
    }
}

/// Parses and checks one config file; returns its table and the line of every leaf key.
fn parse_file(path: &Path, text: &str) -> Result<(Table, BTreeMap<String, usize>), ConfigError> {
    let syntax = |e: toml::de::Error| {
        let (line, col) = line_col(text, e.span().map_or(0, |s| s.start));
        ConfigError::Syntax {
            path: path.to_path_buf(),
            line,
            col,
            message: e.message().trim().to_string(),
        }
    };
    let spanned = toml::de::DeTable::parse(text).map_err(syntax)?;
    let mut lines = BTreeMap::new();
    key_lines(spanned.get_ref(), "", text, &mut lines);

    let de = toml::de::Deserializer::parse(text).map_err(syntax)?;
    if let Err(e) = serde_path_to_error::deserialize::<_, ConfigFile>(de) {
        let path_str = e.path().to_string();
        let inner = e.into_inner();
        let offset = inner.span().map_or(0, |s| s.start);
        let (line, _) = line_col(text, offset);
        let key = error_key(
            &path_str,
            inner.message(),
            &inner.span().and_then(|s| text.get(s)),
        );
        return Err(ConfigError::Invalid {
            origin: format!("{}:{line}", path.display()),
            key,
            message: friendly(inner.message()),
        });
    }
    let table = text.parse::<Table>().map_err(syntax)?;
    Ok((table, lines))
}

/// The dotted key an error is about; an unknown key's own name is added to its table's path.
fn error_key(path: &str, message: &str, span_text: &Option<&str>) -> String {
    let path = if path == "." { "" } else { path };
    if message.starts_with("unknown field") {
        let name = message.split('`').nth(1).or(*span_text).unwrap_or("?");
        let parent = path.rsplit_once('.').map_or("", |(p, _)| p);
        let parent = if path.ends_with(name) { parent } else { path };
        return join(parent, name);
    }
    path.to_string()
}

/// Rewords serde's messages for people who edit TOML.
fn friendly(message: &str) -> String {
    let message = message.trim();
    if let Some(rest) = message.strip_prefix("unknown field") {
        return format!("unknown key{rest}").replace("expected one of", "known keys here are");
    }
    message.to_string()
}

/// Checks a partial table against the schema (unknown keys, types); returns the offending key.
pub(super) fn check_layer(table: &Table) -> Result<(), (String, String)> {
    let value = Value::Table(table.clone());
    serde_path_to_error::deserialize::<_, ConfigFile>(value)
        .map(|_| ())
        .map_err(|e| {
            let path = e.path().to_string();
            let message = e.inner().to_string();
            (error_key(&path, &message, &None), friendly(&message))
        })
}

/// Records the line of each leaf key of a spanned table.
fn key_lines(
    table: &toml::de::DeTable<'_>,
    prefix: &str,
    text: &str,
    out: &mut BTreeMap<String, usize>,
) {
    for (key, value) in table {
        let path = join(prefix, key.get_ref());
        match value.get_ref() {
            toml::de::DeValue::Table(inner) => key_lines(inner, &path, text, out),
            _ => {
                out.insert(path, line_col(text, key.span().start).0);
            }
        }
    }
}

/// Overlays `overlay` on `base` key by key, calling `mark` for every leaf it sets.
fn merge_into(base: &mut Table, overlay: &Table, prefix: &str, mark: &mut impl FnMut(String)) {
    for (key, value) in overlay {
        let path = join(prefix, key);
        match (base.get_mut(key), value) {
            (Some(Value::Table(b)), Value::Table(o)) => merge_into(b, o, &path, mark),
            _ => {
                base.insert(key.clone(), value.clone());
                match value {
                    Value::Table(t) => record_leaves(t, &path, mark),
                    _ => mark(path),
                }
            }
        }
    }
}

/// Calls `mark` with the dotted path of every leaf below `table`.
pub(super) fn record_leaves(table: &Table, prefix: &str, mark: &mut impl FnMut(String)) {
    for (key, value) in table {
        let path = join(prefix, key);
        match value {
            Value::Table(t) => record_leaves(t, &path, mark),
            _ => mark(path),
        }
    }
}

/// A table holding one value at a dotted key.
fn single(key: &str, value: Value) -> Table {
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts.pop().unwrap_or(key);
    let mut table = Table::new();
    table.insert(last.to_string(), value);
    for part in parts.into_iter().rev() {
        let mut outer = Table::new();
        outer.insert(part.to_string(), Value::Table(table));
        table = outer;
    }
    table
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

/// Types the merged table.
pub(super) fn typed(table: &Table) -> Result<ConfigFile, ConfigError> {
    ConfigFile::deserialize(Value::Table(table.clone())).map_err(|e| ConfigError::Invalid {
        origin: "merged config".into(),
        key: String::new(),
        message: e.to_string(),
    })
}
