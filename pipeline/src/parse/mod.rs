//! Parsing of log lines and dates: what Logstash's grok and date filters do for nginx logs.

pub mod date;
pub mod nginx;
