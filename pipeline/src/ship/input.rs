//! One input's line handling, pure: include/exclude filters and the Filebeat event for a line (or a
//! multiline group). The reader feeds it; nothing here touches files or the network.

use jiff::Timestamp;
use regex::Regex;

use crate::config::InputConfig;
use crate::event::{filebeat_event, Event, ShippedLine};
use crate::multiline::Multiline;

#[derive(Debug, thiserror::Error)]
#[error("failed to compile regex `{pattern}` of input `{input}`: {source}")]
pub struct InputError {
    pub input: String,
    pub pattern: String,
    pub source: regex::Error,
}

/// An input, compiled.
#[derive(Debug)]
pub struct Input {
    pub config: InputConfig,
    include: Vec<Regex>,
    exclude: Vec<Regex>,
    pub host_name: String,
}

impl Input {
    pub fn new(config: InputConfig, host_name: String) -> Result<Self, InputError> {
        let compile = |patterns: &[String]| {
            patterns
                .iter()
                .map(|p| {
                    Regex::new(p).map_err(|source| InputError { input: config.id.clone(), pattern: p.clone(), source })
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let include = compile(&config.include_lines)?;
        let exclude = compile(&config.exclude_lines)?;
        if let Some(m) = &config.multiline {
            Multiline::new(m).map_err(|source| InputError { input: config.id.clone(), pattern: m.pattern.clone(), source })?;
        }
        Ok(Input { config, include, exclude, host_name })
    }

    /// A fresh multiline joiner for one file, when the input joins lines.
    pub fn multiline(&self) -> Option<Multiline> {
        // Compiled once in `new`, so this cannot fail here.
        self.config.multiline.as_ref().and_then(|m| Multiline::new(m).ok())
    }

    /// Filebeat's order: a message is kept when it matches an include pattern (or there are none) and
    /// no exclude pattern.
    pub fn keeps(&self, message: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|r| r.is_match(message)))
            && !self.exclude.iter().any(|r| r.is_match(message))
    }

    /// The event for a message read from `path` at `offset`.
    pub fn event(&self, message: &str, path: &str, offset: u64, multiline: bool, read_at: Timestamp) -> Event {
        filebeat_event(&ShippedLine {
            message,
            path,
            offset,
            input_type: self.config.input_type,
            host_name: &self.host_name,
            tags: &self.config.tags,
            fields: &self.config.fields,
            fields_under_root: self.config.fields_under_root,
            multiline,
            read_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(yaml: &str) -> Input {
        let config: InputConfig = serde_yaml::from_str(yaml).unwrap();
        Input::new(config, "web-1".into()).unwrap()
    }

    #[test]
    fn include_then_exclude() {
        let i = input("{id: a, paths: [x], include_lines: ['^ERR', '^WARN'], exclude_lines: ['debug']}");
        assert!(i.keeps("ERR boom"));
        assert!(!i.keeps("INFO fine"));
        assert!(!i.keeps("WARN debug noise"));
        let all = input("{id: a, paths: [x]}");
        assert!(all.keeps("anything"));
    }

    #[test]
    fn events_carry_filebeat_fields() {
        let i = input("{id: a, paths: [x], tags: [access], fields: {log_topic: nginx}}");
        let at: Timestamp = "2024-05-06T07:08:09.123Z".parse().unwrap();
        let e = i.event("GET /", "/var/log/a.log", 42, false, at);
        assert_eq!(e.get_dotted("log.file.path").unwrap(), "/var/log/a.log");
        assert_eq!(e.get_dotted("log.offset").unwrap(), 42);
        assert_eq!(e.get_dotted("input.type").unwrap(), "filestream");
        assert_eq!(e.get_dotted("host.name").unwrap(), "web-1");
        assert_eq!(e.get_dotted("fields.log_topic").unwrap(), "nginx");
        assert_eq!(e.get_dotted("@timestamp").unwrap(), "2024-05-06T07:08:09.123Z");
        assert!(e.has_tag("access"));
    }

    #[test]
    fn a_bad_regex_is_an_error_naming_the_input() {
        let config: InputConfig = serde_yaml::from_str("{id: a, paths: [x], exclude_lines: ['(']}").unwrap();
        let err = Input::new(config, "h".into()).unwrap_err();
        assert!(err.to_string().contains("input `a`"), "{err}");
    }
}
