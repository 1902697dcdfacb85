//! Reads a filebeat.yml (inputs of type `log` or `filestream`, `output.kafka`) into our `ship` config.
//!
//! libbeat treats a dot in a key as nesting, so keys are expanded first (`multiline.pattern: x` is
//! `multiline: {pattern: x}`). Keys we do not support are errors naming the key and its line (found
//! by searching the text, since the expanded YAML no longer carries positions).

mod model;
mod translate;

use serde_yaml::{Mapping, Value};

use crate::config::{Invalid, PipelineConfig, ShipConfig};

pub use translate::topic_format;

#[derive(Debug, thiserror::Error)]
pub enum FilebeatError {
    #[error("failed to read filebeat config {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("failed to parse filebeat config {file}: {message}")]
    Yaml { file: String, message: String },
    #[error("failed to translate filebeat config {file}{}: `{key_path}`: {reason}", line_text(*line))]
    Key { file: String, key_path: String, line: Option<usize>, reason: String },
    #[error("failed to translate filebeat config {file}: the result is invalid at `{}`: {}", .invalid.key_path, .invalid.reason)]
    Result { file: String, invalid: Invalid },
}

fn line_text(line: Option<usize>) -> String {
    line.map_or(String::new(), |l| format!(" (line {l})"))
}

pub fn to_ship(text: &str, file: &str) -> Result<ShipConfig, FilebeatError> {
    let raw: Value = serde_yaml::from_str(text)
        .map_err(|e| FilebeatError::Yaml { file: file.to_string(), message: e.to_string() })?;
    let expanded = expand(raw);
    let yml: model::FilebeatYml = serde_path_to_error::deserialize(expanded).map_err(|err| {
        let key_path = err.path().to_string();
        let message = err.into_inner().to_string();
        let (key_path, reason) = match message.strip_prefix("unknown field `") {
            Some(rest) => {
                let field = rest.split('`').next().unwrap_or_default();
                (key_path, format!("unsupported key `{field}`"))
            }
            None => (key_path, message),
        };
        FilebeatError::Key { file: file.to_string(), line: find_line(text, &key_path), key_path, reason }
    })?;
    let ship = translate::ship(&yml).map_err(|(key_path, reason)| FilebeatError::Key {
        file: file.to_string(),
        line: find_line(text, &key_path),
        key_path,
        reason,
    })?;
    let config = PipelineConfig { ship: Some(ship), process: None };
    config.validate().map_err(|invalid| FilebeatError::Result { file: file.to_string(), invalid })?;
    config.ship.ok_or_else(|| FilebeatError::Yaml { file: file.to_string(), message: "no ship section".into() })
}

pub fn load(path: &std::path::Path) -> Result<ShipConfig, FilebeatError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| FilebeatError::Read { path: path.display().to_string(), source })?;
    to_ship(&text, &path.display().to_string())
}

/// Expands dotted keys into nested maps, recursively, merging maps that meet.
pub fn expand(value: Value) -> Value {
    match value {
        Value::Mapping(map) => {
            let mut out = Mapping::new();
            for (key, value) in map {
                let value = expand(value);
                match key {
                    Value::String(key) if key.contains('.') => {
                        let mut keys: Vec<&str> = key.split('.').collect();
                        let last = keys.pop().unwrap_or_default();
                        let mut nested = Value::Mapping(Mapping::from_iter([(Value::from(last), value)]));
                        while let Some(k) = keys.pop() {
                            nested = Value::Mapping(Mapping::from_iter([(Value::from(k), nested)]));
                        }
                        if let Value::Mapping(nested) = nested {
                            merge(&mut out, nested);
                        }
                    }
                    key => merge(&mut out, Mapping::from_iter([(key, value)])),
                }
            }
            Value::Mapping(out)
        }
        Value::Sequence(items) => Value::Sequence(items.into_iter().map(expand).collect()),
        other => other,
    }
}

fn merge(into: &mut Mapping, from: Mapping) {
    for (key, value) in from {
        match (into.get_mut(&key), value) {
            (Some(Value::Mapping(existing)), Value::Mapping(more)) => merge(existing, more),
            (_, value) => {
                into.insert(key, value);
            }
        }
    }
}

/// The line of the last key in `key_path` (`filebeat.inputs[1].multiline.foo`), searched in the text:
/// after the line of the n-th list item when the path has an index, written plain or dotted.
fn find_line(text: &str, key_path: &str) -> Option<usize> {
    let keys: Vec<&str> = key_path.split('.').collect();
    let last = keys.last()?.split('[').next()?;
    let mut start = 0;
    if let Some(index) = key_path.split('[').nth(1).and_then(|s| s.split(']').next()?.parse::<usize>().ok()) {
        let list_key = key_path.split('[').next()?.rsplit('.').next()?;
        let list_line = text.lines().position(|l| l.contains(&format!("{list_key}:")))?;
        start = text
            .lines()
            .enumerate()
            .skip(list_line + 1)
            .filter(|(_, l)| l.trim_start().starts_with("- "))
            .nth(index)
            .map_or(list_line, |(n, _)| n);
    }
    let is_key = |line: &str| {
        let line = line.trim_start().trim_start_matches("- ");
        line.split(':').next().is_some_and(|k| k.trim() == last || k.trim().ends_with(&format!(".{last}")))
            && line.contains(':')
    };
    text.lines().enumerate().skip(start).find(|(_, l)| is_key(l)).map(|(n, _)| n + 1)
}

#[cfg(test)]
mod tests;
