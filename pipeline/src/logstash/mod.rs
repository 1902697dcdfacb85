//! Reads the Logstash pipeline files of the Filebeat → Kafka → Elasticsearch setups we replace and
//! turns them into our `process` config.
//!
//! The subset: input `kafka`; filters `json`, `grok` with `%{COMBINEDAPACHELOG}` or
//! `%{HTTPD_COMBINEDLOG}` (our nginx_combined parser, ECS field names as grok's ECS mode gives),
//! `date`, `mutate` (rename and the common add_tag/remove_tag/add_field/remove_field); outputs
//! `elasticsearch`, `kafka`, `stdout`, `file`; `if / else if / else` with the conditions of
//! `crate::condition`. Anything else is an error naming its line and column, never ignored.

pub mod ast;
mod attrs;
mod translate;

use crate::config::{Invalid, PipelineConfig, ProcessConfig};
use crate::scan::{Pos, SyntaxError};

/// What went wrong while translating, before it is tied to a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub unsupported: bool,
    pub text: String,
    pub pos: Pos,
}

impl Problem {
    pub fn unsupported(text: impl Into<String>, pos: Pos) -> Self {
        Problem { unsupported: true, text: text.into(), pos }
    }

    pub fn invalid(text: impl Into<String>, pos: Pos) -> Self {
        Problem { unsupported: false, text: text.into(), pos }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LogstashError {
    #[error("failed to read Logstash pipeline {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("failed to parse Logstash pipeline {file}: {source}")]
    Syntax { file: String, source: SyntaxError },
    #[error("failed to translate Logstash pipeline {file}: unsupported {what} at {pos}")]
    Unsupported { file: String, what: String, pos: Pos },
    #[error("failed to translate Logstash pipeline {file}: {message} at {pos}")]
    Invalid { file: String, message: String, pos: Pos },
    #[error("failed to translate Logstash pipeline {file}: the result is invalid at `{}`: {}", .invalid.key_path, .invalid.reason)]
    Result { file: String, invalid: Invalid },
}

/// Parses and translates pipeline text; `file` names it in errors.
pub fn to_process(text: &str, file: &str) -> Result<ProcessConfig, LogstashError> {
    let pipeline =
        ast::parse(text).map_err(|source| LogstashError::Syntax { file: file.to_string(), source })?;
    let process = translate::process(&pipeline).map_err(|p| {
        if p.unsupported {
            LogstashError::Unsupported { file: file.to_string(), what: p.text, pos: p.pos }
        } else {
            LogstashError::Invalid { file: file.to_string(), message: p.text, pos: p.pos }
        }
    })?;
    let config = PipelineConfig { ship: None, process: Some(process) };
    config.validate().map_err(|invalid| LogstashError::Result { file: file.to_string(), invalid })?;
    config.process.ok_or_else(|| LogstashError::Invalid {
        file: file.to_string(),
        message: "no process section".into(),
        pos: Pos { line: 1, column: 1 },
    })
}

/// Reads a pipeline file.
pub fn load(path: &std::path::Path) -> Result<ProcessConfig, LogstashError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| LogstashError::Read { path: path.display().to_string(), source })?;
    to_process(&text, &path.display().to_string())
}

#[cfg(test)]
mod tests;
