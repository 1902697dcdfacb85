//! Filebeat's multiline joining as a pure state machine: lines in, joined events out. The caller
//! feeds lines with their byte offsets and calls `flush` on timeout or end of file.
//!
//! A line "continues" when `pattern` matches it, or does not when `negate` is set.
//! - `match: after`: a continuing line is appended to the event before it; any other line starts a new
//!   event (and completes the pending one). E.g. `pattern: '^\d{4}/'`, `negate: true`: every line not
//!   starting with a date belongs to the dated line before it (nginx error logs, stack traces).
//! - `match: before`: a continuing line is joined with the lines after it; the first line that does not
//!   continue ends the event.
//!
//! Lines past `max_lines` are consumed but dropped from the message, as Filebeat does.

use regex::Regex;

use crate::config::{MultilineConfig, MultilineMatch};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    /// The lines, joined with `\n`.
    pub message: String,
    /// Byte offset of the first line.
    pub offset: u64,
    /// Byte offset just past the last line consumed: where reading resumes.
    pub end: u64,
    /// Lines consumed, including dropped ones.
    pub lines: usize,
    /// Some lines were dropped for `max_lines`.
    pub truncated: bool,
}

impl Joined {
    /// Filebeat marks joined events with `log.flags: ["multiline"]`.
    pub fn is_multiline(&self) -> bool {
        self.lines > 1
    }
}

#[derive(Debug)]
pub struct Multiline {
    pattern: Regex,
    negate: bool,
    mode: MultilineMatch,
    max_lines: usize,
    pending: Option<Joined>,
}

impl Multiline {
    pub fn new(config: &MultilineConfig) -> Result<Self, regex::Error> {
        Ok(Multiline {
            pattern: Regex::new(&config.pattern)?,
            negate: config.negate,
            mode: config.match_,
            max_lines: config.max_lines.max(1),
            pending: None,
        })
    }

    pub fn has_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Feeds one line (without its newline) spanning bytes `offset..end`; returns an event it completed.
    pub fn push(&mut self, line: &str, offset: u64, end: u64) -> Option<Joined> {
        let continues = self.pattern.is_match(line) != self.negate;
        match self.mode {
            MultilineMatch::After => {
                if continues && self.pending.is_some() {
                    self.append(line, end);
                    None
                } else {
                    let done = self.pending.take();
                    self.pending = Some(start(line, offset, end));
                    done
                }
            }
            MultilineMatch::Before => {
                if self.pending.is_some() {
                    self.append(line, end);
                } else {
                    self.pending = Some(start(line, offset, end));
                }
                if continues {
                    None
                } else {
                    self.pending.take()
                }
            }
        }
    }

    /// Ends the pending event (timeout, end of file, shutdown).
    pub fn flush(&mut self) -> Option<Joined> {
        self.pending.take()
    }

    fn append(&mut self, line: &str, end: u64) {
        let max_lines = self.max_lines;
        if let Some(pending) = self.pending.as_mut() {
            if pending.lines < max_lines {
                pending.message.push('\n');
                pending.message.push_str(line);
            } else {
                pending.truncated = true;
            }
            pending.lines += 1;
            pending.end = end;
        }
    }
}

fn start(line: &str, offset: u64, end: u64) -> Joined {
    Joined { message: line.to_string(), offset, end, lines: 1, truncated: false }
}

#[cfg(test)]
#[path = "multiline_tests.rs"]
mod tests;
