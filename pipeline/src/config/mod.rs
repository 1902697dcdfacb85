//! The declarative pipeline configuration: what the operator renders from a LogPipeline resource and
//! `stromctl up` writes. YAML with two sections, `ship` (files → Kafka, Filebeat's job) and `process`
//! (Kafka → Elasticsearch and friends, Logstash's job). Unknown keys are errors, so a typo never
//! silently drops a setting. Loading = parse (serde, with the key path and line of the first error) then
//! `validate` (pure checks serde cannot express, each naming its key path).

mod duration;
mod filter_step;
mod output_step;
pub mod process;
pub mod ship;
mod validate;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use duration::Duration;
pub use process::*;
pub use ship::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ship: Option<ShipConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<ProcessConfig>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("failed to read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("failed to parse config {file}{}: at `{key_path}`: {message}", location(*line, *column))]
    Parse { file: String, key_path: String, line: Option<usize>, column: Option<usize>, message: String },
    #[error("invalid config {file}: `{key_path}`: {reason}")]
    Invalid { file: String, key_path: String, reason: String },
}

fn location(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(line), Some(column)) => format!(" (line {line}, column {column})"),
        (Some(line), None) => format!(" (line {line})"),
        _ => String::new(),
    }
}

/// One validation failure before it is tied to a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub key_path: String,
    pub reason: String,
}

impl Invalid {
    pub fn new(key_path: impl Into<String>, reason: impl Into<String>) -> Self {
        Invalid { key_path: key_path.into(), reason: reason.into() }
    }
}

impl PipelineConfig {
    /// Parses and validates YAML text; `file` names it in errors.
    pub fn from_yaml(text: &str, file: &str) -> Result<Self, ConfigError> {
        let deserializer = serde_yaml::Deserializer::from_str(text);
        let config: PipelineConfig = serde_path_to_error::deserialize(deserializer).map_err(|err| {
            let key_path = err.path().to_string();
            let inner = err.into_inner();
            let (line, column) = match inner.location() {
                Some(at) => (Some(at.line()), Some(at.column())),
                None => (None, None),
            };
            let message = strip_prefix_path(&strip_location(&inner.to_string()), &key_path);
            ConfigError::Parse { file: file.to_string(), key_path, line, column, message }
        })?;
        config.validate().map_err(|Invalid { key_path, reason }| ConfigError::Invalid {
            file: file.to_string(),
            key_path,
            reason,
        })?;
        Ok(config)
    }

    /// Reads, parses and validates a YAML file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        Self::from_yaml(&text, &path.display().to_string())
    }

    /// The checks serde cannot express; the first failure, with its key path.
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.ship.is_none() && self.process.is_none() {
            return Err(Invalid::new("", "needs a `ship` or a `process` section"));
        }
        if let Some(ship) = &self.ship {
            validate::ship(ship)?;
        }
        if let Some(process) = &self.process {
            validate::process(process)?;
        }
        Ok(())
    }

    pub fn to_yaml(&self) -> Result<String, serde_yaml::Error> {
        serde_yaml::to_string(self)
    }

    /// A one-line description for `strom-pipeline check`.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let Some(ship) = &self.ship {
            let paths: usize = ship.inputs.iter().map(|i| i.paths.len()).sum();
            parts.push(format!(
                "ship: {} input(s), {} path(s) -> kafka topic {}",
                ship.inputs.len(),
                paths,
                ship.output.kafka.topic
            ));
        }
        if let Some(process) = &self.process {
            parts.push(format!(
                "process: kafka topic(s) {} -> {} filter(s), {} output(s)",
                process.input.kafka.topics.join(","),
                process.filters.len(),
                process.outputs.len()
            ));
        }
        parts.join("; ")
    }
}

/// serde_yaml starts nested errors with the path of the map it was in; we print the full path already.
fn strip_prefix_path(message: &str, key_path: &str) -> String {
    match message.split_once(": ") {
        Some((head, rest)) if key_path.starts_with(head) && !head.contains(' ') => rest.to_string(),
        _ => message.to_string(),
    }
}

/// serde_yaml appends " at line L column C"; we print the location ourselves.
fn strip_location(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_string(),
        None => message.to_string(),
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
